/* testutil: small helpers shared by the cmocka tests (header-only, static). */
#ifndef CNN_TESTUTIL_H
#define CNN_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cnn/cpu.h"
#include "cnn/nn/kernels.h"
#include "cnn/rng.h"

/* A fresh directory under $TMPDIR (or /tmp); path is overwritten. */
static inline void tu_mkdtemp(char *path, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, n, "%s/cnn-test-%s-XXXXXX", base ? base : "/tmp", tag);
    assert_non_null(mkdtemp(path));
}

static inline void tu_rmrf(const char *path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static inline void tu_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Uniform values in [lo, hi) from a test stream. */
static inline void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    CnnRng r;
    cnn_rng_init(&r, seed, CNN_RNG_TEST, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = cnn_rng_range(&r, lo, hi);
}

/* Fills with NaN so a kernel that forgets an element is caught. */
static inline void tu_poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}

static inline void tu_assert_close(double got, double want, double atol, double rtol, const char *what,
                                   size_t i)
{
    if (!(fabs(got - want) <= atol + rtol * fabs(want))) {
        fail_msg("%s[%zu]: got %.9g, want %.9g (atol %g, rtol %g)", what, i, got, want, atol, rtol);
    }
}

/* Every element written (no NaN left from tu_poison, nothing infinite). */
static inline void tu_assert_finite(const float *x, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) fail_msg("%s[%zu] = %g: not written or not finite", what, i, (double)x[i]);
}

/* sum(a * b) in double: the scalar loss of a gradient check, loss = sum(out * R). */
static inline double tu_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* Recomputes the scalar loss from the current buffers (a forward pass). */
typedef double (*tu_loss_fn)(void *ctx);

/* Central-difference check of grad (the analytic d loss / d x) on x[n]: every element when n <= nmax,
 * else nmax elements picked at random. The step is the one float really took, (x+eps) - (x-eps). */
static inline void tu_gradcheck(tu_loss_fn loss, void *ctx, float *x, const float *grad, size_t n,
                                size_t nmax, float eps, double atol, double rtol, const char *what)
{
    CnnRng r;
    cnn_rng_init(&r, 12345, CNN_RNG_TEST, n, nmax);
    size_t count = n <= nmax ? n : nmax;
    for (size_t t = 0; t < count; t++) {
        size_t i = n <= nmax ? t : (size_t)cnn_rng_below(&r, (uint32_t)n);
        float orig = x[i];
        float xp = orig + eps, xm = orig - eps;
        x[i] = xp;
        double lp = loss(ctx);
        x[i] = xm;
        double lm = loss(ctx);
        x[i] = orig;
        double num = (lp - lm) / ((double)xp - (double)xm);
        tu_assert_close(grad[i], num, atol, rtol, what, i);
    }
}

/* The highest instruction set this machine runs, lowered by CNN_ISA: the tests of per-ISA code run on
 * every set from generic up to it (so CNN_ISA=generic tests only the baseline build). */
static inline CnnIsa tu_isa_max(void)
{
    CnnIsa isa;
    CnnErr err;
    if (cnn_cpu_isa(&isa, NULL, &err)) fail_msg("%s", err.msg);
    return isa;
}

/* for (each instruction set from generic to tu_isa_max) with k its kernel table */
#define TU_FOR_EACH_ISA(isa, k)                                                                                    \
    for (CnnIsa isa = CNN_ISA_GENERIC; isa <= tu_isa_max(); isa = (CnnIsa)(isa + 1))                                \
        for (const CnnKernels *k = cnn_kernels(isa), *k##_once_ = k; k##_once_; k##_once_ = NULL)

#endif
