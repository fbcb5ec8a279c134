/* util: the error tiers, logging, checked allocation and size arithmetic, a clock.
 *
 * Three tiers: CNN_ASSERT for invariants, CNN_DIE / the *_check helpers for failed system
 * or library calls (file, line, reason, then the die hook), and CnnErr for problems a user can fix:
 * a function fills the message (naming the file and line or byte offset) and returns -1, and main
 * decides what to do. Under MPI the die hook is MPI_Abort, so one rank's death takes the job down. */
#ifndef CNN_UTIL_H
#define CNN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CNN_ERR_LEN 1024

/* A user-fixable error: the message names the file and the line or offset. */
typedef struct {
    char msg[CNN_ERR_LEN];
} CnnErr;

/* Formats the message into err (err may be NULL) and returns -1, so `return cnn_err(err, ...)`. */
int cnn_err(CnnErr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "cnn-dist: <where>: <message>" to stderr, calls the die hook (MPI_Abort under MPI), exits 1. */
_Noreturn void cnn_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define CNN_DIE(...) cnn_die_at(__FILE__, __LINE__, __VA_ARGS__)
#define CNN_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) CNN_DIE("assertion failed: %s", #cond);                                       \
    } while (0)

/* The die hook gets the exit code; comm sets it to MPI_Abort. NULL restores plain exit. */
void cnn_set_die_hook(void (*hook)(int code));
/* Exit through the hook with a message already printed (used by main for user errors under MPI). */
_Noreturn void cnn_exit(int code);

/* Allocation that cannot fail silently: dies with the size and the caller's place. */
void *cnn_malloc_at(size_t n, const char *file, int line);
void *cnn_calloc_at(size_t count, size_t size, const char *file, int line);
/* 64-byte aligned, zero-filled; free with free(). */
void *cnn_aligned_at(size_t n, const char *file, int line);
/* The same, naming what the memory is for when it cannot be had ("out of memory: 4.0 GB for the
 * prefetch ring (data.prefetch)"): for every allocation whose size a config or a data set sets. */
void *cnn_aligned_for(size_t n, const char *what);
void *cnn_malloc_for(size_t n, const char *what);
#define cnn_malloc(n) cnn_malloc_at((n), __FILE__, __LINE__)
#define cnn_calloc(c, s) cnn_calloc_at((c), (s), __FILE__, __LINE__)
#define cnn_aligned(n) cnn_aligned_at((n), __FILE__, __LINE__)
/* a*b, dying on overflow (Lua luaM_checksize). */
size_t cnn_mul_size(size_t a, size_t b);
/* "1.5 GB", "320.0 MB", "12.0 KB": a byte count for messages. */
void cnn_human_bytes(char *buf, size_t n, double bytes);
/* Bytes one of `sharers` processes on this node may use: the least of physical memory and the memory
 * cgroup's limit (v2 or v1), each divided among the sharers, and this process's RLIMIT_AS. why gets
 * which one and how ("24.0 GB of physical memory / 2 ranks on this node"). */
double cnn_memory_limit(int sharers, char *why, size_t n);

/* Logging: rank 0 prints info; everybody prints warnings. cnn_log_set_rank is called once by comm. */
void cnn_log_set_rank(int rank);
void cnn_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cnn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mkdir -p: creates dir and its parents; an error names the part that failed. */
int cnn_mkdir_p(const char *dir, CnnErr *err);

/* Monotonic seconds. */
double cnn_now(void);

/* 64-bit FNV-1a over bytes, chained through h (start with CNN_HASH_INIT). */
#define CNN_HASH_INIT 0xcbf29ce484222325ULL
uint64_t cnn_hash_bytes(uint64_t h, const void *data, size_t n);

/* Sets flush-to-zero and denormals-are-zero in this thread's MXCSR; returns 1 if both now hold. */
int cnn_set_ftz_daz(void);
int cnn_ftz_daz_enabled(void);

#endif
