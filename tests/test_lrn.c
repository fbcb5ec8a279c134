/* lrn: forward against tf.nn.lrn's formula written naively in double (radius larger and smaller than
 * the channel count, several betas so both the sqrt paths and powf run), a hand-computed case, and
 * central-difference gradients with an alpha large enough that the cross-channel terms matter; on every
 * instruction set the machine runs. */
#include "testutil.h"

#include "cnn/nn/layers.h"

/* out = in / (bias + alpha * sum_{c' = c-r..c+r, clipped} in[c']^2)^beta, per pixel, in double. */
static void naive_lrn(double *out, double *scale, const float *in, size_t pixels, int c, int r, double bias,
                      double alpha, double beta)
{
    for (size_t p = 0; p < pixels; p++)
        for (int k = 0; k < c; k++) {
            double ss = 0;
            for (int j = k - r; j <= k + r; j++)
                if (j >= 0 && j < c) ss += (double)in[p * c + j] * (double)in[p * c + j];
            scale[p * c + k] = bias + alpha * ss;
            out[p * c + k] = (double)in[p * c + k] / pow(bias + alpha * ss, beta);
        }
}

static void test_hand(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        /* channels (1, 2, 3), r = 1, bias 1, alpha 0.5, beta 1:
         * sqr sums 1+4=5, 1+4+9=14, 4+9=13 -> scales 3.5, 8, 7.5 -> out 1/3.5, 2/8, 3/7.5 */
        const float in[3] = {1, 2, 3};
        float out[3], keep[6];
        tu_poison(out, 3);
        tu_poison(keep, 6);
        k->lrn_forward(out, keep, in, 1, 3, 1, 1.0f, 0.5f, 1.0f);
        const double ws[3] = {3.5, 8, 7.5}, wo[3] = {1 / 3.5, 0.25, 0.4};
        for (int i = 0; i < 3; i++) {
            tu_assert_close(keep[i], 1 / ws[i], 1e-6, 1e-6, "p = s^-beta", (size_t)i);
            tu_assert_close(keep[3 + i], 1 / (ws[i] * ws[i]), 1e-6, 1e-6, "q = s^(-beta-1)", (size_t)i);
            tu_assert_close(out[i], wo[i], 1e-6, 1e-6, "out", (size_t)i);
        }
    }
}

static void test_vs_naive(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        /* c, radius, bias, alpha, beta */
        static const float cases[][5] = {
            {64, 4, 1.0f, 0.001f / 9.0f, 0.75f}, {10, 2, 2.0f, 0.1f, 0.75f}, {3, 4, 1.0f, 0.3f, 0.5f},
            {7, 0, 1.0f, 0.2f, 1.0f},            {16, 5, 1.5f, 0.05f, 0.6f}, {1, 2, 1.0f, 0.5f, 0.75f},
            /* the padded row holds c + 2r <= 1024 floats: just fits, and one past it (the fallback) */
            {1016, 4, 1.0f, 0.01f, 0.75f},       {1017, 4, 1.0f, 0.01f, 0.75f},
            /* whole vectors and a tail: 24 channels are 1.5 AVX-512 vectors, 3 AVX2 ones */
            {24, 4, 1.0f, 0.02f, 0.75f},         {37, 3, 1.0f, 0.02f, 0.5f},
        };
        const size_t pixels = 37;
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            int c = (int)cases[t][0], r = (int)cases[t][1];
            size_t n = pixels * (size_t)c;
            float *in = malloc(n * 4), *out = malloc(n * 4), *keep = malloc(2 * n * 4);
            double *wo = malloc(n * 8), *wsc = malloc(n * 8);
            tu_fill_uniform(in, n, -3, 3, 100 + t);
            tu_poison(out, n);
            tu_poison(keep, 2 * n);
            k->lrn_forward(out, keep, in, pixels, c, r, cases[t][2], cases[t][3], cases[t][4]);
            naive_lrn(wo, wsc, in, pixels, c, r, cases[t][2], cases[t][3], cases[t][4]);
            for (size_t i = 0; i < n; i++) {
                tu_assert_close(out[i], wo[i], 1e-6, 2e-6, "lrn out", i);
                const double beta = cases[t][4];
                tu_assert_close(keep[i], pow(wsc[i], -beta), 1e-6, 2e-6, "lrn p", i);
                tu_assert_close(keep[n + i], pow(wsc[i], -beta - 1), 1e-6, 2e-6, "lrn q", i);
            }
            free(in), free(out), free(keep), free(wo), free(wsc);
        }
    }
}

typedef struct {
    const CnnKernels *k;
    float *in, *out, *keep, *r;
    size_t pixels;
    int c, radius;
    float bias, alpha, beta;
} Ctx;

static double lrn_loss(void *p)
{
    Ctx *g = p;
    g->k->lrn_forward(g->out, g->keep, g->in, g->pixels, g->c, g->radius, g->bias, g->alpha, g->beta);
    return tu_dot(g->out, g->r, g->pixels * (size_t)g->c);
}

static void test_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        static const float cases[][5] = {
            {12, 2, 1.0f, 0.2f, 0.75f}, {5, 4, 1.0f, 0.3f, 0.6f}, {9, 1, 2.0f, 0.5f, 0.5f}, {64, 4, 1.0f, 0.001f / 9.0f, 0.75f},
            {1030, 3, 1.0f, 0.01f, 0.75f}, /* past the padded row: the fallback */
            {24, 2, 1.0f, 0.2f, 0.75f},    /* a vector and a tail on AVX-512 */
        };
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            Ctx g = {.k = k, .pixels = 6, .c = (int)cases[t][0], .radius = (int)cases[t][1], .bias = cases[t][2],
                     .alpha = cases[t][3], .beta = cases[t][4]};
            size_t n = g.pixels * (size_t)g.c;
            g.in = malloc(n * 4), g.out = malloc(n * 4), g.keep = malloc(2 * n * 4), g.r = malloc(n * 4);
            float *din = malloc(n * 4);
            tu_fill_uniform(g.in, n, -2, 2, 200 + t);
            tu_fill_uniform(g.r, n, -1, 1, 300 + t);
            lrn_loss(&g);
            tu_poison(din, n);
            k->lrn_backward(din, g.r, g.in, g.keep, g.pixels, g.c, g.radius, g.alpha, g.beta);
            tu_assert_finite(din, n, "lrn din");
            tu_gradcheck(lrn_loss, &g, g.in, din, n, 300, 1e-3f, 1e-3, 2e-3, "lrn din");
            free(g.in), free(g.out), free(g.keep), free(g.r), free(din);
        }
    }
}

/* Every instruction set gives the same bits, forward and backward: vectors of 4, 8 or 16 channels
 * and the tails run the same operations per element. */
static void test_bitwise_across_instruction_sets(void **state)
{
    (void)state;
    static const float cases[][5] = {{64, 4, 1.0f, 0.001f / 9.0f, 0.75f}, {24, 4, 1.0f, 0.05f, 0.75f},
                                     {37, 2, 2.0f, 0.1f, 0.5f},           {20, 3, 1.0f, 0.1f, 0.6f},
                                     {1030, 2, 1.0f, 0.01f, 0.75f}};
    const size_t pixels = 29;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int c = (int)cases[t][0], r = (int)cases[t][1];
        const size_t n = pixels * (size_t)c;
        float *in = malloc(n * 4), *dout = malloc(n * 4), *out[2], *keep[2], *din[2];
        for (int i = 0; i < 2; i++) out[i] = malloc(n * 4), keep[i] = malloc(2 * n * 4), din[i] = malloc(n * 4);
        tu_fill_uniform(in, n, -3, 3, 400 + t);
        tu_fill_uniform(dout, n, -1, 1, 500 + t);
        TU_FOR_EACH_ISA(isa, k) {
            const int i = isa == CNN_ISA_GENERIC ? 0 : 1;
            k->lrn_forward(out[i], keep[i], in, pixels, c, r, cases[t][2], cases[t][3], cases[t][4]);
            k->lrn_backward(din[i], dout, in, keep[i], pixels, c, r, cases[t][3], cases[t][4]);
            if (i) {
                assert_memory_equal(out[0], out[1], n * 4);
                assert_memory_equal(keep[0], keep[1], 2 * n * 4);
                assert_memory_equal(din[0], din[1], n * 4);
            }
        }
        free(in), free(dout);
        for (int i = 0; i < 2; i++) free(out[i]), free(keep[i]), free(din[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand),
        cmocka_unit_test(test_vs_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_bitwise_across_instruction_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
