/* sampler: each epoch visits every sample exactly once across consecutive batches (also when B does
 * not divide n, when a batch straddles epochs, and when B > n); a batch is a pure function of
 * (seed, step); the permutation is the documented Fisher-Yates; slices tile [0, count). */
#include <string.h>

#include "testutil.h"

#include "cnn/data/sampler.h"
#include "cnn/util.h"

/* Walks steps from 0 until `epochs_to_check` epochs are complete and checks each epoch's positions are
 * a permutation of [0, n), and that the reported epoch of each position is p / n. */
static void check_stream(int n, int batch, int epochs_to_check, int parts)
{
    CnnSampler s;
    cnn_sampler_init(&s, 1234, n, batch);
    long total = (long)n * epochs_to_check;
    int *seen = calloc((size_t)epochs_to_check * (size_t)n, sizeof *seen);
    int *idx = malloc((size_t)batch * sizeof *idx);
    long *ep = malloc((size_t)batch * sizeof *ep);
    long pos = 0;
    for (long step = 0; pos < total; step++) {
        assert_int_equal(cnn_sampler_epoch(&s, step), (step * batch) / n);
        /* as `parts` ranks would: each takes its slice */
        for (int r = 0; r < parts; r++) {
            int lo, hi;
            cnn_sampler_slice(batch, r, parts, &lo, &hi);
            cnn_sampler_get(&s, step, lo, hi, idx + lo, ep + lo);
        }
        for (int j = 0; j < batch && pos < total; j++, pos++) {
            assert_int_equal(ep[j], pos / n);
            assert_in_range(idx[j], 0, n - 1);
            seen[ep[j] * n + idx[j]]++;
        }
    }
    for (long i = 0; i < total; i++) assert_int_equal(seen[i], 1);
    free(seen);
    free(idx);
    free(ep);
    cnn_sampler_free(&s);
}

static void test_each_sample_once_per_epoch(void **state)
{
    (void)state;
    check_stream(100, 7, 3, 1);    /* B does not divide n: batches straddle epochs */
    check_stream(100, 25, 2, 3);   /* divides; three uneven slices */
    check_stream(10, 23, 5, 2);    /* B > n: a batch spans three epochs */
    check_stream(1, 4, 6, 1);      /* degenerate n */
    check_stream(50000, 128, 2, 4);
}

static void test_pure_function_of_step(void **state)
{
    (void)state;
    CnnSampler a, b;
    cnn_sampler_init(&a, 99, 1000, 64);
    int x[64], y[64];
    long ex[64], ey[64];
    /* a walks forward to step 37, b jumps there fresh; then a goes back to step 3 */
    for (long st = 0; st <= 37; st++) cnn_sampler_get(&a, st, 0, 64, x, ex);
    cnn_sampler_init(&b, 99, 1000, 64);
    cnn_sampler_get(&b, 37, 0, 64, y, ey);
    assert_memory_equal(x, y, sizeof x);
    assert_memory_equal(ex, ey, sizeof ex);
    assert_int_equal(ex[0], 37 * 64 / 1000);
    cnn_sampler_get(&b, 3, 0, 64, y, ey);
    cnn_sampler_get(&a, 3, 0, 64, x, ex);
    assert_memory_equal(x, y, sizeof x);
    /* a sub-range equals the same positions of the whole batch */
    int part[10];
    cnn_sampler_get(&b, 3, 20, 30, part, NULL);
    assert_memory_equal(part, x + 20, sizeof part);
    /* another seed gives another order */
    CnnSampler c;
    cnn_sampler_init(&c, 100, 1000, 64);
    cnn_sampler_get(&c, 3, 0, 64, y, ey);
    assert_memory_not_equal(x, y, sizeof x);
    cnn_sampler_free(&a);
    cnn_sampler_free(&b);
    cnn_sampler_free(&c);
}

static void test_matches_fisher_yates(void **state)
{
    (void)state;
    const int n = 300;
    CnnSampler s;
    cnn_sampler_init(&s, 5, n, n); /* batch e = epoch e */
    int got[300], want[300];
    for (long e = 0; e < 3; e++) {
        CnnRng r;
        cnn_rng_init(&r, 5, CNN_RNG_EPOCH, (uint64_t)e, 0);
        for (int i = 0; i < n; i++) want[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)cnn_rng_below(&r, (uint32_t)i + 1);
            int t = want[i];
            want[i] = want[j];
            want[j] = t;
        }
        cnn_sampler_get(&s, e, 0, n, got, NULL);
        assert_memory_equal(got, want, sizeof got);
    }
    cnn_sampler_free(&s);
}

static void test_epochs_differ(void **state)
{
    (void)state;
    CnnSampler s;
    cnn_sampler_init(&s, 7, 200, 200);
    int a[200], b[200], id[200];
    cnn_sampler_get(&s, 0, 0, 200, a, NULL);
    cnn_sampler_get(&s, 1, 0, 200, b, NULL);
    assert_memory_not_equal(a, b, sizeof a);
    for (int i = 0; i < 200; i++) id[i] = i;
    assert_memory_not_equal(a, id, sizeof a); /* actually shuffled */
    /* about n - 1 fixed points would mean no shuffle; a random permutation has ~1 */
    int fixed = 0;
    for (int i = 0; i < 200; i++) fixed += a[i] == i;
    assert_true(fixed < 10);
    cnn_sampler_free(&s);
}

static void test_slice(void **state)
{
    (void)state;
    for (int count = 0; count <= 40; count++)
        for (int parts = 1; parts <= 9; parts++) {
            int expect_lo = 0, min = count, max = 0;
            for (int p = 0; p < parts; p++) {
                int lo, hi;
                cnn_sampler_slice(count, p, parts, &lo, &hi);
                assert_int_equal(lo, expect_lo);
                assert_true(hi >= lo);
                if (p > 0) assert_true(hi - lo <= max); /* larger slices first */
                if (hi - lo < min) min = hi - lo;
                if (hi - lo > max) max = hi - lo;
                expect_lo = hi;
            }
            assert_int_equal(expect_lo, count);
            assert_true(max - min <= 1);
        }
    int lo, hi;
    cnn_sampler_slice(10, 2, 4, &lo, &hi); /* sizes 3 3 2 2 */
    assert_int_equal(lo, 6);
    assert_int_equal(hi, 8);
}

static void test_fast(void **state)
{
    (void)state;
    /* 50,000 samples, batch 128: 4000 steps (~10 epochs) through the two-epoch cache; every epoch
     * is a permutation. (Its speed is a benchmark matter, not asserted here.) */
    CnnSampler s;
    cnn_sampler_init(&s, 1, 50000, 128);
    int idx[128];
    long ep[128];
    static unsigned char seen[11][50000];
    memset(seen, 0, sizeof seen);
    for (long st = 0; st < 4000; st++) {
        cnn_sampler_get(&s, st, 0, 128, idx, ep);
        for (int j = 0; j < 128; j++) {
            assert_true(ep[j] >= 0 && ep[j] < 11);
            assert_int_equal(seen[ep[j]][idx[j]], 0); /* never twice in one epoch */
            seen[ep[j]][idx[j]] = 1;
        }
    }
    /* 4000 * 128 = 512,000 = 10 full epochs and 12,000 of the 11th */
    for (int e = 0; e < 10; e++)
        for (int i = 0; i < 50000; i++) assert_int_equal(seen[e][i], 1);
    cnn_sampler_free(&s);
}


/* train.drop_last: epoch e is floor(n / B) whole batches, the first floor(n / B) * B positions of the
 * stream's permutation of e (the same permutation as without drop_last); the rest of it is never used;
 * batches never straddle; the epoch of step s is s / floor(n / B). n = 50, B = 16: 3 batches, 2 dropped. */
static void test_drop_last(void **state)
{
    (void)state;
    const int n = 50, B = 16, S = n / B;
    CnnSampler plain, dl;
    cnn_sampler_init(&plain, 77, n, B);
    cnn_sampler_init(&dl, 77, n, B);
    cnn_sampler_drop_last(&dl, 1);
    int perm[64], idx[16];
    long ep[16];
    for (int e = 0; e < 4; e++) {
        /* epoch e's permutation from the plain stream: positions e * n .. (e + 1) * n */
        for (int p = 0; p < n; p++) {
            long pos = (long)e * n + p;
            cnn_sampler_get(&plain, pos / B, (int)(pos % B), (int)(pos % B) + 1, &perm[p], NULL);
        }
        for (int b = 0; b < S; b++) {
            const long step = (long)e * S + b;
            assert_int_equal(cnn_sampler_epoch(&dl, step), e);
            cnn_sampler_get(&dl, step, 3, 16, idx, ep); /* a rank's slice [3, 16) */
            for (int j = 0; j < 13; j++) {
                assert_int_equal(idx[j], perm[b * B + 3 + j]);
                assert_int_equal(ep[j], e);
            }
        }
    }
    /* off again: the plain stream */
    cnn_sampler_drop_last(&dl, 0);
    assert_int_equal(cnn_sampler_epoch(&dl, 3), 3 * B / n);
    /* B > n: no whole batch, so it stays off */
    CnnSampler big;
    cnn_sampler_init(&big, 1, 10, 16);
    cnn_sampler_drop_last(&big, 1);
    assert_int_equal(big.per_epoch, 0);
    cnn_sampler_free(&big);
    cnn_sampler_free(&plain);
    cnn_sampler_free(&dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_sample_once_per_epoch),
        cmocka_unit_test(test_pure_function_of_step),
        cmocka_unit_test(test_matches_fisher_yates),
        cmocka_unit_test(test_epochs_differ),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_fast),
        cmocka_unit_test(test_drop_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
