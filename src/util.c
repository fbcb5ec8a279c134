/* util: error tiers, logging, checked allocation, clock, hash, FTZ/DAZ. */
#include "cnn/util.h"

#include <errno.h>
#include <sys/stat.h>
#include <pmmintrin.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xmmintrin.h>

static void (*die_hook)(int code);
static int log_rank;

int cnn_err(CnnErr *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void cnn_set_die_hook(void (*hook)(int code)) { die_hook = hook; }

_Noreturn void cnn_exit(int code)
{
    fflush(stdout);
    fflush(stderr);
    if (die_hook) die_hook(code);
    exit(code);
}

_Noreturn void cnn_die_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "cnn-dist: rank %d: %s:%d: ", log_rank, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cnn_exit(1);
}

void *cnn_malloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p) cnn_die_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *cnn_calloc_at(size_t count, size_t size, const char *file, int line)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) cnn_die_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *cnn_aligned_at(size_t n, const char *file, int line)
{
    size_t rounded = (n + 63) / 64 * 64;
    if (rounded < n) cnn_die_at(file, line, "allocation size overflow (%zu bytes)", n);
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) cnn_die_at(file, line, "out of memory allocating %zu bytes", n);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

size_t cnn_mul_size(size_t a, size_t b)
{
    if (a && b > SIZE_MAX / a) CNN_DIE("size overflow: %zu * %zu", a, b);
    return a * b;
}

void cnn_log_set_rank(int rank) { log_rank = rank; }

void cnn_info(const char *fmt, ...)
{
    if (log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void cnn_warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cnn-dist: warning: ");
    if (log_rank != 0) fprintf(stderr, "rank %d: ", log_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double cnn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t cnn_hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int cnn_set_ftz_daz(void)
{
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    return cnn_ftz_daz_enabled();
}

int cnn_ftz_daz_enabled(void)
{
    return _MM_GET_FLUSH_ZERO_MODE() == _MM_FLUSH_ZERO_ON &&
           _MM_GET_DENORMALS_ZERO_MODE() == _MM_DENORMALS_ZERO_ON;
}

int cnn_mkdir_p(const char *dir, CnnErr *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return cnn_err(err, "%s: path too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return cnn_err(err, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = c;
        if (c == '\0') break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return cnn_err(err, "%s: not a directory", dir);
    return 0;
}
