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

#endif
