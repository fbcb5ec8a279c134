/* loss: softmax cross entropy by hand, against a naive double formula, stable for logits of +-1000,
 * argmax ties to the lowest index, and central differences of the returned sum; label smoothing by hand,
 * against -sum q log softmax, and by central differences. */
#include "testutil.h"

#include "cnn/nn/layers.h"

/* The two rows below with label smoothing s, grad_scale scale: loss, dlogits and hits against by-hand
 * values. */
static void check_hand(float smoothing, float scale, double want_loss, const double want[4])
{
    const float logits[4] = {0, 0, (float)log(3.0), 0};
    const int labels[2] = {0, 1};
    float d[4];
    int correct = -1;
    tu_poison(d, 4);
    double loss = cnn_softmax_xent_smoothed(d, logits, labels, 2, 2, smoothing, scale, &correct);
    tu_assert_close(loss, want_loss, 1e-6, 1e-6, "loss", 0);
    for (int i = 0; i < 4; i++) tu_assert_close(d[i], want[i], 1e-6, 1e-6, "dlogits", (size_t)i);
    /* row 0 is a tie (0, 0): argmax is index 0 = label -> correct; row 1's argmax 0 != 1; the targets
     * do not matter */
    assert_int_equal(correct, 1);
    /* NULL dlogits and correct are allowed */
    tu_assert_close(cnn_softmax_xent_smoothed(NULL, logits, labels, 2, 2, smoothing, 1.0f, NULL), loss, 1e-12, 0,
                    "loss", 1);
    if (smoothing == 0.0f) /* the plain entry point is the same function at s = 0 */
        tu_assert_close(cnn_softmax_xent(NULL, logits, labels, 2, 2, 1.0f, NULL), loss, 0, 0, "loss", 2);
}

static void test_hand(void **state)
{
    (void)state;
    /* row 0: [0 0], label 0 -> log 2, grad [-0.5 0.5]; row 1: [ln 3, 0], label 1 -> log 4,
     * softmax [0.75 0.25] -> grad [0.75 -0.75]; grad_scale 0.5 halves both. */
    const double plain[4] = {-0.25, 0.25, 0.375, -0.375};
    check_hand(0.0f, 0.5f, log(2.0) + log(4.0), plain);
    /* s = 0.5, k = 2: targets 0.75 / 0.25. Row 0: softmax [0.5 0.5], loss log 2 - 0, grad [-0.25 0.25].
     * Row 1: targets [0.25 0.75], softmax [0.75 0.25], loss log 4 - 0.25 ln 3, grad [0.5 -0.5];
     * grad_scale 2 doubles both. */
    const double smooth[4] = {-0.5, 0.5, 1.0, -1.0};
    check_hand(0.5f, 2.0f, log(2.0) + log(4.0) - 0.25 * log(3.0), smooth);
}

static void test_ties_lowest_index(void **state)
{
    (void)state;
    const float logits[6] = {1, 3, 3, 2, 2, 2};
    const int label_mid[2] = {1, 0}, label_hi[2] = {2, 1};
    int correct = -1;
    cnn_softmax_xent(NULL, logits, label_mid, 2, 3, 1.0f, &correct);
    assert_int_equal(correct, 2);
    cnn_softmax_xent(NULL, logits, label_hi, 2, 3, 1.0f, &correct);
    assert_int_equal(correct, 0);
}

static void test_large_logits(void **state)
{
    (void)state;
    const float logits[6] = {1000, -1000, 0, 1000, -1000, 0};
    const int labels[2] = {1, 0};
    float d[6];
    tu_poison(d, 6);
    int correct = -1;
    double loss = cnn_softmax_xent(d, logits, labels, 2, 3, 1.0f, &correct);
    assert_true(isfinite(loss));
    /* row 0: 1000 + log(1 + e^-1000 + e^-2000) - (-1000) = 2000; row 1: ~e^-1000 = 0 */
    tu_assert_close(loss, 2000.0, 1e-9, 1e-12, "loss", 0);
    const double want[6] = {1, -1, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) tu_assert_close(d[i], want[i], 1e-12, 0, "dlogits", (size_t)i);
    assert_int_equal(correct, 1);
}

static void test_vs_naive(void **state)
{
    (void)state;
    const int n = 9, k = 10;
    float logits[90], d[90];
    int labels[9];
    tu_fill_uniform(logits, 90, -5, 5, 1);
    for (int i = 0; i < n; i++) labels[i] = (i * 7) % k;
    tu_poison(d, 90);
    double loss = cnn_softmax_xent(d, logits, labels, n, k, 1.0f / 9.0f, NULL);
    double want = 0;
    for (int i = 0; i < n; i++) {
        double z = 0;
        for (int c = 0; c < k; c++) z += exp((double)logits[i * k + c]);
        want += log(z) - (double)logits[i * k + labels[i]];
        for (int c = 0; c < k; c++) {
            double p = exp((double)logits[i * k + c]) / z;
            tu_assert_close(d[i * k + c], (p - (c == labels[i])) / 9.0, 1e-7, 1e-5, "dlogits", (size_t)(i * k + c));
        }
    }
    tu_assert_close(loss, want, 1e-9, 1e-9, "loss", 0);
}

typedef struct {
    float *logits;
    int *labels;
    int n, k;
    float smoothing;
} Ctx;

static double xent_loss(void *p)
{
    Ctx *g = p;
    return cnn_softmax_xent_smoothed(NULL, g->logits, g->labels, g->n, g->k, g->smoothing, 1.0f, NULL);
}

static void test_gradcheck(void **state)
{
    (void)state;
    float logits[60], d[60];
    int labels[6] = {0, 3, 9, 4, 4, 7};
    tu_fill_uniform(logits, 60, -4, 4, 2);
    logits[13] = 60.0f; /* one confident row, in the range where float softmax would lose digits */
    Ctx g = {logits, labels, 6, 10, 0.0f};
    tu_poison(d, 60);
    cnn_softmax_xent(d, logits, labels, 6, 10, 1.0f, NULL);
    tu_gradcheck(xent_loss, &g, logits, d, 60, 60, 1e-3f, 1e-4, 1e-3, "xent dlogits");
    g.smoothing = 0.2f; /* airbench94's */
    tu_poison(d, 60);
    cnn_softmax_xent_smoothed(d, logits, labels, 6, 10, 0.2f, 1.0f, NULL);
    tu_gradcheck(xent_loss, &g, logits, d, 60, 60, 1e-3f, 1e-4, 1e-3, "smoothed xent dlogits");
}

static void test_label_smoothing(void **state)
{
    (void)state;
    /* against -sum_c q_c log softmax_c on random rows, s = 0.2 */
    enum { N = 7, K = 10 };
    float l[N * K], g[N * K];
    int y[N] = {0, 9, 3, 3, 5, 1, 8};
    tu_fill_uniform(l, N * K, -6, 6, 11);
    double got = cnn_softmax_xent_smoothed(g, l, y, N, K, 0.2f, 1.0f, NULL), want_sum = 0;
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int c = 0; c < K; c++) z += exp((double)l[i * K + c]);
        for (int c = 0; c < K; c++) {
            const double p = exp((double)l[i * K + c]) / z, q = (c == y[i] ? 0.8 : 0.0) + 0.2 / K;
            want_sum -= q * log(p);
            tu_assert_close(g[i * K + c], p - q, 1e-6, 1e-6, "smoothed dlogits", (size_t)(i * K + c));
        }
    }
    tu_assert_close(got, want_sum, 1e-9, 1e-9, "smoothed loss", 0);
    /* it is not the unsmoothed loss */
    assert_true(fabs(got - cnn_softmax_xent(NULL, l, y, N, K, 1.0f, NULL)) > 0.1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand),
        cmocka_unit_test(test_ties_lowest_index),
        cmocka_unit_test(test_large_logits),
        cmocka_unit_test(test_vs_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_label_smoothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
