/* rng: streams are pure functions of (seed, domain, a, b), distinct streams differ, the
 * distributions have the right moments, below() stays in range, truncated normal stays within 2 sd. */
#include "testutil.h"

static void test_same_stream_same_values(void **state)
{
    (void)state;
    CnnRng a, b;
    cnn_rng_init(&a, 42, CNN_RNG_AUGMENT, 3, 1234);
    cnn_rng_init(&b, 42, CNN_RNG_AUGMENT, 3, 1234);
    for (int i = 0; i < 1000; i++) assert_int_equal(cnn_rng_u32(&a), cnn_rng_u32(&b));
}

static void test_streams_differ(void **state)
{
    (void)state;
    uint64_t params[][4] = {{42, CNN_RNG_AUGMENT, 3, 1234}, {43, CNN_RNG_AUGMENT, 3, 1234},
                            {42, CNN_RNG_EPOCH, 3, 1234},   {42, CNN_RNG_AUGMENT, 4, 1234},
                            {42, CNN_RNG_AUGMENT, 3, 1235}, {42, CNN_RNG_AUGMENT, 3 + (1ULL << 32), 1234}};
    uint32_t first[6][4];
    for (int s = 0; s < 6; s++) {
        CnnRng r;
        cnn_rng_init(&r, params[s][0], (uint32_t)params[s][1], params[s][2], params[s][3]);
        for (int i = 0; i < 4; i++) first[s][i] = cnn_rng_u32(&r);
    }
    for (int s = 0; s < 6; s++)
        for (int t = s + 1; t < 6; t++) assert_memory_not_equal(first[s], first[t], sizeof first[s]);
}

static void test_moments(void **state)
{
    (void)state;
    CnnRng r;
    cnn_rng_init(&r, 7, CNN_RNG_TEST, 0, 0);
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        double u = cnn_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        su2 += u * u;
        double z = cnn_rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    assert_true(fabs(su / n - 0.5) < 0.005);
    assert_true(fabs(su2 / n - 1.0 / 3.0) < 0.005);
    assert_true(fabs(sn / n) < 0.01);
    assert_true(fabs(sn2 / n - 1.0) < 0.02);
}

static void test_below_and_truncated(void **state)
{
    (void)state;
    CnnRng r;
    cnn_rng_init(&r, 9, CNN_RNG_TEST, 1, 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = cnn_rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    for (int i = 0; i < 7; i++) assert_true(abs(counts[i] - 10000) < 500);
    double s2 = 0;
    for (int i = 0; i < 100000; i++) {
        float z = cnn_rng_truncated_normal(&r, 0.05f);
        assert_true(fabsf(z) <= 0.1f);
        s2 += (double)z * (double)z;
    }
    /* variance of a normal truncated at 2 sd is 0.7737 sd^2 */
    assert_true(fabs(sqrt(s2 / 100000) - 0.05 * sqrt(0.7737)) < 0.0005);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_stream_same_values),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_moments),
        cmocka_unit_test(test_below_and_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
