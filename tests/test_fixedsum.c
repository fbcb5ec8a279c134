/* fixedsum: the exact sum is independent of how the terms are grouped and ordered (the property the
 * rank-count invariance rests on), and close to the true sum in double. */
#include "testutil.h"

#include "cnn/nn/fixedsum.h"

#define NT 3
static const CnnTensorInfo tensors[NT] = {
    {.name = "a/weights", .rank = 1, .dims = {50, 0, 0, 0}, .offset = 0, .count = 50},
    {.name = "a/biases", .rank = 1, .dims = {7, 0, 0, 0}, .offset = 50, .count = 7},
    {.name = "b/weights", .rank = 1, .dims = {30, 0, 0, 0}, .offset = 57, .count = 30},
};
#define N 87
#define TERMS 12

static void make_terms(float terms[TERMS][N])
{
    for (int k = 0; k < TERMS; k++) {
        tu_fill_uniform(terms[k], N, -1.0f, 1.0f, 100 + (uint64_t)k);
        /* wildly different magnitudes per tensor and per term */
        for (int j = 0; j < 50; j++) terms[k][j] *= 1e-3f * (float)(k + 1);
        for (int j = 50; j < 57; j++) terms[k][j] *= 1e4f;
        for (int j = 57; j < N; j++) terms[k][j] = k == 3 ? terms[k][j] * 1e-30f : 0.0f;
    }
}

/* Sum terms [order[0..n)] split into `groups` partial sums, as ranks would. */
static void fixed_sum(const CnnKernels *kern, float *out, float terms[TERMS][N], const int *order, int groups)
{
    int exps[NT];
    for (int t = 0; t < NT; t++) exps[t] = CNN_FIXED_EXP_ZERO;
    for (int k = 0; k < TERMS; k++) cnn_fixed_update_exponents(exps, terms[k], tensors, NT);
    int headroom = cnn_fixed_headroom(TERMS);
    int64_t total[N] = {0};
    for (int g = 0; g < groups; g++) {
        int64_t part[N] = {0};
        for (int k = g * TERMS / groups; k < (g + 1) * TERMS / groups; k++)
            cnn_fixed_accumulate(kern, part, terms[order[k]], tensors, NT, exps, headroom);
        for (int j = 0; j < N; j++) total[j] += part[j];
    }
    cnn_fixed_to_float(kern, out, total, tensors, NT, exps, headroom);
}

static void test_grouping_and_order_do_not_matter(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, kern) {
        static float terms[TERMS][N];
        make_terms(terms);
        int fwd[TERMS], rev[TERMS];
        for (int k = 0; k < TERMS; k++) {
            fwd[k] = k;
            rev[k] = TERMS - 1 - k;
        }
        float ref[N], got[N];
        fixed_sum(kern, ref, terms, fwd, 1);
        for (int groups = 2; groups <= TERMS; groups++) {
            fixed_sum(kern, got, terms, fwd, groups);
            assert_memory_equal(ref, got, sizeof ref);
            fixed_sum(kern, got, terms, rev, groups);
            assert_memory_equal(ref, got, sizeof ref);
        }
        /* accurate: within a float rounding of the double sum */
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < TERMS; k++) s += (double)terms[k][j];
            tu_assert_close((double)ref[j], s, 0.0, 1.2e-7, "sum", (size_t)j);
        }
        /* the float sum in two orders differs somewhere, which is why this module exists */
        int differs = 0;
        for (int j = 0; j < 57; j++) {
            float a = 0, b = 0;
            for (int k = 0; k < TERMS; k++) a += terms[k][j];
            for (int k = TERMS - 1; k >= 0; k--) b += terms[k][j];
            differs |= a != b;
        }
        assert_true(differs);
    }
}

static void test_nonfinite_and_zero(void **state)
{
    (void)state;
    float g[N] = {0};
    int exps[NT] = {CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO};
    cnn_fixed_update_exponents(exps, g, tensors, NT);
    for (int t = 0; t < NT; t++) assert_int_equal(exps[t], CNN_FIXED_EXP_ZERO);
    g[60] = NAN;
    g[3] = INFINITY;
    cnn_fixed_update_exponents(exps, g, tensors, NT);
    assert_int_equal(exps[0], CNN_FIXED_EXP_NONFINITE);
    assert_int_equal(exps[1], CNN_FIXED_EXP_ZERO);
    assert_int_equal(exps[2], CNN_FIXED_EXP_NONFINITE);
    assert_int_equal(cnn_fixed_headroom(1), 0);
    assert_int_equal(cnn_fixed_headroom(8), 3);
    assert_int_equal(cnn_fixed_headroom(9), 4);
}

/* The one-pass form with bounds known in advance: same exponents seen as the two-pass form, a sum that
 * is again independent of grouping and within float rounding of the truth, and an overflow flag when a
 * value reaches its bound. */
static void test_bounded_one_pass(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, kern) {
        static float terms[TERMS][N];
        make_terms(terms);
        int exact[NT], bound[NT];
        for (int t = 0; t < NT; t++) exact[t] = CNN_FIXED_EXP_ZERO;
        for (int k = 0; k < TERMS; k++) cnn_fixed_update_exponents(exact, terms[k], tensors, NT);
        for (int t = 0; t < NT; t++) bound[t] = exact[t] == CNN_FIXED_EXP_ZERO ? exact[t] : exact[t] + 3;
        int headroom = cnn_fixed_headroom(TERMS);
        float ref[N];
        for (int groups = 1; groups <= 4; groups++) {
            int seen[NT] = {CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO};
            int64_t total[N] = {0};
            for (int g = 0; g < groups; g++) {
                int64_t part[N]; /* odd groups start from garbage that their first term overwrites */
                for (int j = 0; j < N; j++) part[j] = g % 2 ? (int64_t)0x5a5a5a5a5a5a5a5aLL : 0;
                for (int k = g * TERMS / groups; k < (g + 1) * TERMS / groups; k++)
                    assert_int_equal(cnn_fixed_accumulate_bounded(kern, part, seen, terms[k], tensors, 0, NT, bound, headroom,
                                                                  k == g * TERMS / groups && g % 2), 0);
                for (int j = 0; j < N; j++) total[j] += part[j];
            }
            assert_memory_equal(seen, exact, sizeof exact);
            float got[N];
            cnn_fixed_to_float(kern, got, total, tensors, NT, bound, headroom);
            if (groups == 1) memcpy(ref, got, sizeof ref);
            assert_memory_equal(ref, got, sizeof ref);
        }
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < TERMS; k++) s += (double)terms[k][j];
            tu_assert_close((double)ref[j], s, 0.0, 1.2e-7, "bounded sum", (size_t)j);
        }
        /* a bound one below what the values need: flagged */
        int tight[NT], seen[NT] = {CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO};
        memcpy(tight, exact, sizeof tight);
        tight[1] -= 1;
        int64_t acc[N] = {0}, over = 0;
        for (int k = 0; k < TERMS; k++) over |= cnn_fixed_accumulate_bounded(kern, acc, seen, terms[k], tensors, 0, NT, tight, headroom, 0);
        assert_int_equal(over, 1);
        /* a tensor that was all zero admits only zeros; a NaN is flagged and seen as non-finite */
        int zb[NT] = {exact[0], exact[1], CNN_FIXED_EXP_ZERO};
        float g[N];
        memcpy(g, terms[3], sizeof g); /* term 3 has nonzero values in tensor 2 */
        int seen2[NT] = {CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO};
        assert_int_equal(cnn_fixed_accumulate_bounded(kern, acc, seen2, g, tensors, 2, 3, zb, headroom, 0), 1);
        g[60] = NAN;
        assert_int_equal(cnn_fixed_accumulate_bounded(kern, acc, seen2, g, tensors, 2, 3, exact, headroom, 0), 1);
        assert_int_equal(seen2[2], CNN_FIXED_EXP_NONFINITE);
        /* an exploding gradient far past its bound (lr = 1e30): flagged, and the integer sums wrap
         * instead of overflowing (undefined behaviour; make asan runs this under UBSan) */
        int64_t acc2[N];
        for (int j = 0; j < N; j++) acc2[j] = INT64_MAX - 5;
        for (int j = 0; j < N; j++) g[j] = j % 2 ? 3e38f : -3e38f;
        int seen3[NT] = {CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO, CNN_FIXED_EXP_ZERO};
        assert_int_equal(cnn_fixed_accumulate_bounded(kern, acc2, seen3, g, tensors, 0, NT, exact, headroom, 0), 1);
        assert_int_equal(seen3[0], 128);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouping_and_order_do_not_matter),
        cmocka_unit_test(test_nonfinite_and_zero),
        cmocka_unit_test(test_bounded_one_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
