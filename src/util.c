/* util: error tiers, logging, checked allocation and the memory a process may use, clock, hash, FTZ/DAZ. */
#include "cnn/util.h"

#include <errno.h>
#include <pmmintrin.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
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

void cnn_human_bytes(char *buf, size_t n, double bytes)
{
    static const char *const units[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 6) bytes /= 1000.0, u++;
    if (u == 0)
        snprintf(buf, n, "%.0f bytes", bytes);
    else
        snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

/* The smallest memory.max (cgroup v2) from this process's cgroup up to the root, or the v1 limit;
 * 0 when none is set. */
static double cgroup_limit(void)
{
    double best = 0;
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0) continue;
        char path[4200];
        line[strcspn(line, "\n")] = 0;
        for (char *p = line + 3;;) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", strcmp(p, "/") ? p : "");
            FILE *m = fopen(path, "r");
            double v = 0;
            char buf[64];
            if (m && fgets(buf, sizeof buf, m) && strncmp(buf, "max", 3) != 0) v = strtod(buf, NULL);
            if (m) fclose(m);
            if (v > 0 && (best == 0 || v < best)) best = v;
            char *slash = strrchr(p, '/');
            if (!slash || slash == p) {
                if (strcmp(p, "/") == 0 || !slash) break;
                p = "/";
                continue;
            }
            *slash = 0;
        }
    }
    if (f) fclose(f);
    FILE *v1 = fopen("/sys/fs/cgroup/memory/memory.limit_in_bytes", "r");
    char buf[64];
    if (v1 && fgets(buf, sizeof buf, v1)) {
        double v = strtod(buf, NULL);
        if (v > 0 && v < 0x1p62 && (best == 0 || v < best)) best = v; /* "unlimited" is ~2^63 */
    }
    if (v1) fclose(v1);
    return best;
}

double cnn_memory_limit(int sharers, char *why, size_t n)
{
    char h[32];
    if (sharers < 1) sharers = 1;
    const double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    double limit = phys / sharers;
    cnn_human_bytes(h, sizeof h, phys);
    snprintf(why, n, "%s of physical memory / %d rank%s on this node", h, sharers, sharers > 1 ? "s" : "");
    const double cg = cgroup_limit();
    if (cg > 0 && cg / sharers < limit) {
        limit = cg / sharers;
        cnn_human_bytes(h, sizeof h, cg);
        snprintf(why, n, "the memory cgroup's limit of %s / %d rank%s on this node", h, sharers, sharers > 1 ? "s" : "");
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < limit) {
        limit = (double)rl.rlim_cur;
        cnn_human_bytes(h, sizeof h, limit);
        snprintf(why, n, "this process's address-space limit (ulimit -v) of %s", h);
    }
    return limit;
}

static _Noreturn void out_of_memory(size_t n, const char *what)
{
    char h[32];
    cnn_human_bytes(h, sizeof h, (double)n);
    fprintf(stderr, "cnn-dist: out of memory: cannot allocate %s for %s\n", h, what);
    fflush(stderr);
    cnn_exit(1);
}

void *cnn_aligned_for(size_t n, const char *what)
{
    size_t rounded = (n + 63) / 64 * 64;
    if (rounded < n) out_of_memory(n, what);
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) out_of_memory(n, what);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

void *cnn_malloc_for(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n, what);
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
