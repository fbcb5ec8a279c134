/* whiten: the patch second moments by hand; the filters of a 2x2 moment matrix against its eigenvectors
 * in closed form; on a 12x12 matrix (2x2x3 patches, airbench's): C w_i = lambda_i w_i with lambda_i
 * from the filter's norm, largest first, orthogonal, whitened moments lambda / (lambda + eps), the
 * negatives, the sign convention. */
#include <math.h>
#include <string.h>

#include "testutil.h"

#include "cnn/nn/whiten.h"
#include "cnn/rng.h"

static void test_patch_sums_by_hand(void **state)
{
    (void)state;
    /* a 2x3 image of one channel, 2x2 patches: (1 2 4 5) and (2 3 5 6) in (dy, dx) order */
    const float img[6] = {1, 2, 3, 4, 5, 6};
    double sum[16] = {0};
    cnn_whiten_add(sum, img, 2, 3, 1, 2);
    const double p[2][4] = {{1, 2, 4, 5}, {2, 3, 5, 6}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const double want = j >= i ? p[0][i] * p[0][j] + p[1][i] * p[1][j] : 0.0;
            assert_true(sum[i * 4 + j] == want);
        }
    /* two channels, 1x1 patches: the channel products summed over the pixels */
    const float two[4] = {1, 10, 2, 20}; /* 1x2 image, HWC */
    double s2[4] = {0};
    cnn_whiten_add(s2, two, 1, 2, 2, 1);
    assert_true(s2[0] == 5.0 && s2[1] == 50.0 && s2[3] == 500.0 && s2[2] == 0.0);
}

/* C = [[3, 1], [1, 2]] (as sums over 10 patches): lambda = (5 +- sqrt 5) / 2, eigenvectors in closed
 * form; filter i = v_i / sqrt(lambda_i + eps), largest entry positive; filter 2 + i = -filter i. */
static void test_two_by_two(void **state)
{
    (void)state;
    const double sum[4] = {30, 10, 0, 20}, eps = 5e-4;
    float w[2 * 4];
    CnnErr err;
    assert_int_equal(cnn_whiten_filters(sum, 10, 2, eps, w, &err), 0);
    const double l[2] = {(5 + sqrt(5.0)) / 2, (5 - sqrt(5.0)) / 2};
    for (int i = 0; i < 2; i++) {
        /* (1, lambda - 3) is an eigenvector of [[3, 1], [1, 2]] */
        double v[2] = {1.0, l[i] - 3.0}, nrm = hypot(v[0], v[1]);
        double s = (fabs(v[1]) > fabs(v[0]) && v[1] < 0) ? -1.0 : 1.0;
        for (int j = 0; j < 2; j++) {
            const double want = s * v[j] / nrm / sqrt(l[i] + eps);
            tu_assert_close(w[j * 4 + i], want, 1e-6, 1e-6, "filter", (size_t)(i * 10 + j));
            assert_true(w[j * 4 + 2 + i] == -w[j * 4 + i]);
        }
    }
}

static void test_twelve_dims(void **state)
{
    (void)state;
    enum { D = 12, N = 400 };
    /* patches with correlated entries: x = A z, z ~ U(-1, 1), A fixed */
    CnnRng r;
    cnn_rng_init(&r, 5, CNN_RNG_TEST, 2, 0);
    double A[D][D], C[D][D] = {{0}}, sum[D * D] = {0};
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) A[i][j] = (i == j ? 2.0 : 0.0) + 0.3 * (2.0 * (double)cnn_rng_uniform(&r) - 1.0) / (1 + abs(i - j));
    for (int n = 0; n < N; n++) {
        double z[D], x[D];
        for (int j = 0; j < D; j++) z[j] = 2.0 * (double)cnn_rng_uniform(&r) - 1.0;
        for (int i = 0; i < D; i++) {
            x[i] = 0;
            for (int j = 0; j < D; j++) x[i] += A[i][j] * z[j];
        }
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                C[i][j] += x[i] * x[j] / N;
                if (j >= i) sum[i * D + j] += x[i] * x[j];
            }
    }
    const double eps = 5e-4;
    float w[D * 2 * D];
    CnnErr err;
    assert_int_equal(cnn_whiten_filters(sum, N, D, eps, w, &err), 0);
    double lam_prev = INFINITY;
    for (int a = 0; a < D; a++) {
        double nrm2 = 0, big = 0;
        for (int j = 0; j < D; j++) {
            const double v = w[j * 2 * D + a];
            nrm2 += v * v;
            if (fabs(v) > fabs(big)) big = v;
            assert_true(w[j * 2 * D + D + a] == -w[j * 2 * D + a]);
        }
        assert_true(big > 0);
        const double lam = 1.0 / nrm2 - eps;
        assert_true(lam <= lam_prev * (1 + 1e-6));
        lam_prev = lam;
        for (int b = 0; b < D; b++) { /* w_a^T C w_b = delta_ab lambda / (lambda + eps) */
            double q = 0;
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) q += (double)w[i * 2 * D + a] * C[i][j] * (double)w[j * 2 * D + b];
            tu_assert_close(q, a == b ? lam / (lam + eps) : 0.0, 1e-5, 1e-5, "whitened", (size_t)(a * D + b));
        }
        for (int i = 0; i < D; i++) { /* C w_a = lambda_a w_a */
            double cw = 0;
            for (int j = 0; j < D; j++) cw += C[i][j] * (double)w[j * 2 * D + a];
            tu_assert_close(cw, lam * (double)w[i * 2 * D + a], 1e-5, 1e-4, "eigen", (size_t)(a * D + i));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch_sums_by_hand),
        cmocka_unit_test(test_two_by_two),
        cmocka_unit_test(test_twelve_dims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
