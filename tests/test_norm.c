/* norm: the kernels of the newer layer types on every instruction set. BatchNorm: statistics and
 * normalisation against hand-computed values, statistics equal to the two-pass double sums they promise,
 * the training-mode backward against central differences of a double-precision forward that recomputes the
 * mean and variance from x (w.r.t. x, gamma, beta), overwrite/accumulate, in place, NULL gamma/beta/dx, the
 * fixed (evaluation-mode) backward. Global average/max pooling against naive loops, ties, NaN, gradients.
 * add and scale by formula, in place. Every kernel gives the same bits on generic, AVX2 and AVX-512. */
#include "testutil.h"

/* ---- BatchNorm ------------------------------------------------------------------------------------ */

static void test_bn_hand(void **state)
{
    (void)state;
    /* 4 pixels x 2 channels, x[p][c]:
     *   channel 0: 1, 2, 3, 6 -> mean 3, deviations -2 -1 0 3, var (4+1+0+9)/4 = 3.5
     *   channel 1: 0, 1, 2, 1 -> mean 1, deviations -1 0 1 0, var 2/4 = 0.5
     * with eps = 0.5: rstd = 1/sqrt(4) = 0.5 and 1/sqrt(1) = 1, so xhat = -1 -0.5 0 1.5 and -1 0 1 0.
     * gamma = (2, -1), beta = (0.5, 3): y0 = 2 xhat + 0.5 = -1.5 -0.5 0.5 3.5, y1 = 3 - xhat = 4 3 2 3. */
    const float x[8] = {1, 0, 2, 1, 3, 2, 6, 1};
    const float gamma[2] = {2, -1}, beta[2] = {0.5f, 3};
    const float want_y[8] = {-1.5f, 4, -0.5f, 3, 0.5f, 2, 3.5f, 3};
    const float want_xhat[8] = {-1, -1, -0.5f, 0, 0, 1, 1.5f, 0};
    /* backward with dy0 = 1 everywhere (a shift of y0: dx0 = 0, dbeta0 = 4, dgamma0 = sum xhat0 = 0) and
     * dy1 = 1 0 0 0 (sdy = 1, sdyx = -1): dx1 = -1 * 1 * (dy - 1/4 + xhat/4) = -0.5 0.25 0 0.25,
     * dbeta1 = 1, dgamma1 = -1. */
    const float dy[8] = {1, 1, 1, 0, 1, 0, 1, 0};
    const float want_dx[8] = {0, -0.5f, 0, 0.25f, 0, 0, 0, 0.25f};
    TU_FOR_EACH_ISA(isa, k) {
        float mean[2], var[2], rstd[2], y[8], dx[8], dg[2], db[2];
        tu_poison(mean, 2), tu_poison(var, 2);
        k->bn_stats(mean, var, x, 4, 2);
        assert_true(mean[0] == 3.0f && mean[1] == 1.0f);
        assert_true(var[0] == 3.5f && var[1] == 0.5f);
        for (int c = 0; c < 2; c++) rstd[c] = 1.0f / sqrtf(var[c] + 0.5f);
        assert_true(rstd[0] == 0.5f && rstd[1] == 1.0f);
        tu_poison(y, 8);
        k->bn_forward(y, x, mean, rstd, gamma, beta, 4, 2);
        for (int i = 0; i < 8; i++) assert_true(y[i] == want_y[i]);
        tu_poison(y, 8);
        k->bn_forward(y, x, mean, rstd, NULL, NULL, 4, 2);
        for (int i = 0; i < 8; i++) assert_true(y[i] == want_xhat[i]);
        tu_poison(dx, 8), tu_poison(dg, 2), tu_poison(db, 2);
        k->bn_backward(dx, dg, db, dy, x, mean, rstd, gamma, 4, 2, 1);
        for (int i = 0; i < 8; i++) assert_true(dx[i] == want_dx[i]);
        assert_true(db[0] == 4.0f && db[1] == 1.0f && dg[0] == 0.0f && dg[1] == -1.0f);
        /* the fixed backward: dy * gamma * rstd = 1 -1 1 0 ... */
        tu_poison(dx, 8);
        k->bn_backward_fixed(dx, dy, rstd, gamma, 4, 2);
        const float want_fixed[8] = {1, -1, 1, 0, 1, 0, 1, 0};
        for (int i = 0; i < 8; i++) assert_true(dx[i] == want_fixed[i]);
    }
}

/* The statistics kernels.h promises: per channel, a double sum of the pixels in order, then a double sum of
 * squared deviations from the double mean, each divided by pixels and rounded to float at the end. Data
 * far from zero (mean 100, spread 1) would lose the variance to E[x^2] - mean^2 in float. Channel counts
 * cross the kernel's 128-channel blocks (200) and leave vector tails (3, 17). */
static void test_bn_stats_two_pass(void **state)
{
    (void)state;
    static const int shapes[][2] = {{25, 3}, {48, 17}, {48, 64}, {7, 200}, {1, 5}}; /* pixels, c */
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const size_t pixels = (size_t)shapes[t][0];
        const int c = shapes[t][1];
        float *x = malloc(pixels * (size_t)c * 4), *mean = malloc((size_t)c * 4), *var = malloc((size_t)c * 4);
        tu_fill_uniform(x, pixels * (size_t)c, 99, 101, 300 + t);
        TU_FOR_EACH_ISA(isa, k) {
            tu_poison(mean, (size_t)c), tu_poison(var, (size_t)c);
            k->bn_stats(mean, var, x, pixels, c);
            for (int ch = 0; ch < c; ch++) {
                double s = 0, q = 0;
                for (size_t p = 0; p < pixels; p++) s += (double)x[p * (size_t)c + (size_t)ch];
                const double m = s / (double)pixels;
                for (size_t p = 0; p < pixels; p++) {
                    const double d = (double)x[p * (size_t)c + (size_t)ch] - m;
                    q += d * d;
                }
                assert_true(mean[ch] == (float)m);
                assert_true(var[ch] == (float)(q / (double)pixels));
                if (pixels == 1) assert_true(var[ch] == 0.0f);
            }
        }
        free(x), free(mean), free(var);
    }
}

typedef struct {
    const float *x, *gamma, *beta, *r;
    size_t pixels;
    int c;
    double eps;
} BnCtx;

/* loss = sum r * y, y the training-mode normalisation of x computed in double from scratch (the mean and
 * variance of the perturbed x, then rstd), so the check runs through the whole normalisation. */
static double bn_loss(void *p)
{
    const BnCtx *g = p;
    const size_t c = (size_t)g->c;
    double loss = 0;
    for (size_t k = 0; k < c; k++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < g->pixels; i++) m += (double)g->x[i * c + k];
        m /= (double)g->pixels;
        for (size_t i = 0; i < g->pixels; i++) v += ((double)g->x[i * c + k] - m) * ((double)g->x[i * c + k] - m);
        const double rstd = 1.0 / sqrt(v / (double)g->pixels + g->eps);
        for (size_t i = 0; i < g->pixels; i++)
            loss += (double)g->r[i * c + k] *
                    (((double)g->x[i * c + k] - m) * rstd * (double)g->gamma[k] + (double)g->beta[k]);
    }
    return loss;
}

/* The kernels' training-mode step as a layer would run it: stats, rstd in float, backward. */
static void bn_grads(const CnnKernels *k, float *dx, float *dg, float *db, const float *dy, const float *x,
                     const float *gamma, size_t pixels, int c, float eps, int overwrite)
{
    float *mean = malloc((size_t)c * 4), *var = malloc((size_t)c * 4), *rstd = malloc((size_t)c * 4);
    k->bn_stats(mean, var, x, pixels, c);
    for (int i = 0; i < c; i++) rstd[i] = 1.0f / sqrtf(var[i] + eps);
    k->bn_backward(dx, dg, db, dy, x, mean, rstd, gamma, pixels, c, overwrite);
    free(mean), free(var), free(rstd);
}

static void test_bn_gradcheck(void **state)
{
    (void)state;
    static const int pixel_counts[2] = {25, 48}; /* 1x5x5, 3x4x4 */
    static const int channels[3] = {3, 17, 64};
    TU_FOR_EACH_ISA(isa, k) {
        for (int pi = 0; pi < 2; pi++)
            for (int ci = 0; ci < 3; ci++) {
                const size_t pixels = (size_t)pixel_counts[pi];
                const int c = channels[ci];
                const size_t n = pixels * (size_t)c;
                const uint64_t seed = 400 + 10 * (uint64_t)pi + (uint64_t)ci;
                float *x = malloc(n * 4), *r = malloc(n * 4), *gamma = malloc((size_t)c * 4);
                float *beta = malloc((size_t)c * 4), *dx = malloc(n * 4), *dg = malloc((size_t)c * 4);
                float *db = malloc((size_t)c * 4);
                tu_fill_uniform(x, n, -2, 2, seed);
                tu_fill_uniform(r, n, -1, 1, seed + 1);
                tu_fill_uniform(gamma, (size_t)c, 0.5f, 1.5f, seed + 2);
                tu_fill_uniform(beta, (size_t)c, -0.5f, 0.5f, seed + 3);
                tu_poison(dx, n), tu_poison(dg, (size_t)c), tu_poison(db, (size_t)c);
                bn_grads(k, dx, dg, db, r, x, gamma, pixels, c, 1e-3f, 1);
                tu_assert_finite(dx, n, "bn dx");
                tu_assert_finite(dg, (size_t)c, "bn dgamma");
                tu_assert_finite(db, (size_t)c, "bn dbeta");
                BnCtx g = {x, gamma, beta, r, pixels, c, 1e-3};
                tu_gradcheck(bn_loss, &g, x, dx, n, 300, 1e-3f, 2e-5, 2e-4, "bn dx");
                tu_gradcheck(bn_loss, &g, gamma, dg, (size_t)c, 64, 1e-3f, 2e-5, 2e-4, "bn dgamma");
                tu_gradcheck(bn_loss, &g, beta, db, (size_t)c, 64, 1e-3f, 2e-5, 2e-4, "bn dbeta");
                free(x), free(r), free(gamma), free(beta), free(dx), free(dg), free(db);
            }
    }
}

/* Overwrite against accumulate, dx in place over dy, NULL gamma (= ones), NULL dgamma/dbeta/dx, and the
 * fixed backward, on 3x4x4 pixels of 17 channels (a vector tail on every set). */
static void test_bn_modes(void **state)
{
    (void)state;
    const size_t pixels = 48;
    const int c = 17;
    const size_t n = pixels * (size_t)c;
    float *x = malloc(n * 4), *dy = malloc(n * 4), *gamma = malloc(c * 4), *ones = malloc(c * 4);
    float *dx = malloc(n * 4), *dx2 = malloc(n * 4), *dg = malloc(c * 4), *db = malloc(c * 4), *dg2 = malloc(c * 4),
          *db2 = malloc(c * 4), *prior = malloc(c * 4), *mean = malloc(c * 4), *var = malloc(c * 4),
          *rstd = malloc(c * 4);
    tu_fill_uniform(x, n, -3, 1, 501);
    tu_fill_uniform(dy, n, -1, 1, 502);
    tu_fill_uniform(gamma, c, 0.5f, 2, 503);
    tu_fill_uniform(prior, c, -1, 1, 504);
    for (int i = 0; i < c; i++) ones[i] = 1.0f;
    TU_FOR_EACH_ISA(isa, k) {
        k->bn_stats(mean, var, x, pixels, c);
        for (int i = 0; i < c; i++) rstd[i] = 1.0f / sqrtf(var[i] + 1e-3f);
        tu_poison(dx, n), tu_poison(dg, c), tu_poison(db, c);
        k->bn_backward(dx, dg, db, dy, x, mean, rstd, gamma, pixels, c, 1);
        tu_assert_finite(dx, n, "dx");
        /* accumulating onto zeros gives the bits of overwriting; onto other values, their sum */
        memset(dg2, 0, c * 4), memset(db2, 0, c * 4);
        k->bn_backward(dx2, dg2, db2, dy, x, mean, rstd, gamma, pixels, c, 0);
        assert_memory_equal(dg, dg2, c * 4);
        assert_memory_equal(db, db2, c * 4);
        assert_memory_equal(dx, dx2, n * 4);
        memcpy(dg2, prior, c * 4), memcpy(db2, prior, c * 4);
        k->bn_backward(dx2, dg2, db2, dy, x, mean, rstd, gamma, pixels, c, 0);
        for (int i = 0; i < c; i++) {
            tu_assert_close(dg2[i], (double)prior[i] + (double)dg[i], 1e-6, 1e-6, "dgamma accumulated", (size_t)i);
            tu_assert_close(db2[i], (double)prior[i] + (double)db[i], 1e-6, 1e-6, "dbeta accumulated", (size_t)i);
        }
        /* dx in place over dy */
        memcpy(dx2, dy, n * 4);
        tu_poison(dg2, c), tu_poison(db2, c);
        k->bn_backward(dx2, dg2, db2, dx2, x, mean, rstd, gamma, pixels, c, 1);
        assert_memory_equal(dx, dx2, n * 4);
        assert_memory_equal(dg, dg2, c * 4);
        assert_memory_equal(db, db2, c * 4);
        /* NULL gamma is a gamma of ones; NULL parameter gradients leave dx as it was; NULL dx leaves the
         * parameter gradients */
        float *dx_ones = malloc(n * 4);
        k->bn_backward(dx_ones, NULL, NULL, dy, x, mean, rstd, ones, pixels, c, 1);
        tu_poison(dx2, n);
        k->bn_backward(dx2, NULL, NULL, dy, x, mean, rstd, NULL, pixels, c, 1);
        assert_memory_equal(dx_ones, dx2, n * 4);
        tu_poison(dg2, c), tu_poison(db2, c);
        k->bn_backward(NULL, dg2, db2, dy, x, mean, rstd, gamma, pixels, c, 1);
        assert_memory_equal(dg, dg2, c * 4);
        assert_memory_equal(db, db2, c * 4);
        tu_poison(db2, c);
        k->bn_backward(NULL, NULL, db2, dy, x, mean, rstd, gamma, pixels, c, 1);
        assert_memory_equal(db, db2, c * 4);
        /* forward: NULL gamma = ones, in place; NULL beta against beta = 0 (values, -0 == 0) */
        float *y = malloc(n * 4), *y2 = malloc(n * 4);
        tu_poison(y, n);
        k->bn_forward(y, x, mean, rstd, ones, gamma, pixels, c);
        tu_assert_finite(y, n, "bn y");
        tu_poison(y2, n);
        k->bn_forward(y2, x, mean, rstd, NULL, gamma, pixels, c);
        assert_memory_equal(y, y2, n * 4);
        memcpy(y2, x, n * 4);
        k->bn_forward(y2, y2, mean, rstd, ones, gamma, pixels, c);
        assert_memory_equal(y, y2, n * 4);
        float *zeros = calloc(c, 4);
        k->bn_forward(y, x, mean, rstd, gamma, zeros, pixels, c);
        tu_poison(y2, n);
        k->bn_forward(y2, x, mean, rstd, gamma, NULL, pixels, c);
        for (size_t i = 0; i < n; i++) assert_true(y[i] == y2[i]);
        for (size_t i = 0; i < n; i++) {
            const size_t ch = i % (size_t)c;
            assert_true(y2[i] == (x[i] - mean[ch]) * rstd[ch] * gamma[ch]);
        }
        /* fixed backward: the formula in float, with and without gamma, and in place */
        tu_poison(dx2, n);
        k->bn_backward_fixed(dx2, dy, rstd, gamma, pixels, c);
        for (size_t i = 0; i < n; i++) assert_true(dx2[i] == dy[i] * gamma[i % (size_t)c] * rstd[i % (size_t)c]);
        tu_poison(dx2, n);
        k->bn_backward_fixed(dx2, dy, rstd, NULL, pixels, c);
        for (size_t i = 0; i < n; i++) assert_true(dx2[i] == dy[i] * rstd[i % (size_t)c]);
        memcpy(dx2, dy, n * 4);
        k->bn_backward_fixed(dx2, dx2, rstd, NULL, pixels, c);
        for (size_t i = 0; i < n; i++) assert_true(dx2[i] == dy[i] * rstd[i % (size_t)c]);
        free(dx_ones), free(y), free(y2), free(zeros);
    }
    free(x), free(dy), free(gamma), free(ones), free(dx), free(dx2), free(dg), free(db), free(dg2), free(db2);
    free(prior), free(mean), free(var), free(rstd);
}

/* BatchNorm with its relu or gelu fused (bn_forward_act, bn_backward_act) against the two kernels apart
 * (bn_forward then act_forward; act_backward or gelu_backward then bn_backward): bitwise the same outputs,
 * input gradients and parameter gradients, with and without gamma and beta, in training (the group's
 * statistics) and with other statistics (evaluation's), dx apart from dy and over it, on 3x4x4 pixels of
 * 17 and of 150 channels (a vector tail, and two channel blocks), inputs spanning GELU's cut at 12 and
 * exact zeros. */
static void test_bn_act_fused(void **state)
{
    (void)state;
    const size_t pixels = 48;
    const int cs[2] = {17, 150};
    const CnnActivation acts[2] = {CNN_ACT_RELU, CNN_ACT_GELU};
    for (int ci = 0; ci < 2; ci++) {
        const int c = cs[ci];
        const size_t n = pixels * (size_t)c;
        float *x = malloc(n * 4), *dy = malloc(n * 4), *gamma = malloc(c * 4), *beta = malloc(c * 4);
        float *mean = malloc(c * 4), *var = malloc(c * 4), *rstd = malloc(c * 4), *z = malloc(n * 4);
        float *y = malloc(n * 4), *y2 = malloc(n * 4), *dz = malloc(n * 4), *dx = malloc(n * 4), *dx2 = malloc(n * 4);
        float *g = malloc(n * 4), *dg = malloc(c * 4), *db = malloc(c * 4), *dg2 = malloc(c * 4), *db2 = malloc(c * 4);
        tu_fill_uniform(x, n, -4, 3, 601);
        for (size_t i = 0; i < n; i += 7) x[i] = 0.0f;
        tu_fill_uniform(dy, n, -1, 1, 602);
        tu_fill_uniform(gamma, c, -3, 5, 603);
        tu_fill_uniform(beta, c, -1, 1, 604);
        TU_FOR_EACH_ISA(isa, k) {
            for (int stats = 0; stats < 2; stats++) {
                k->bn_stats(mean, var, x, pixels, c);
                for (int i = 0; i < c; i++) rstd[i] = 1.0f / sqrtf(var[i] + 1e-5f);
                if (stats) /* other statistics: some outputs reach GELU's cut */
                    for (int i = 0; i < c; i++) mean[i] += 0.25f, rstd[i] *= 4.0f;
                for (int a = 0; a < 2; a++)
                    for (int pm = 0; pm < 4; pm++) {
                        const float *ga = pm & 1 ? gamma : NULL, *be = pm & 2 ? beta : NULL;
                        k->bn_forward(z, x, mean, rstd, ga, be, pixels, c);
                        k->act_forward(y, z, n, acts[a]);
                        tu_poison(y2, n);
                        k->bn_forward_act(y2, x, mean, rstd, ga, be, pixels, c, acts[a]);
                        assert_memory_equal(y, y2, n * 4);
                        if (acts[a] == CNN_ACT_GELU) k->gelu_backward(dz, dy, z, n);
                        else k->act_backward(dz, dy, y, n, acts[a]);
                        k->bn_backward(dx, dg, db, dz, x, mean, rstd, ga, pixels, c, 1);
                        memcpy(g, dy, n * 4);
                        tu_poison(dx2, n), tu_poison(dg2, c), tu_poison(db2, c);
                        k->bn_backward_act(dx2, dg2, db2, g, x, mean, rstd, ga, be, pixels, c, 1, acts[a]);
                        assert_memory_equal(dx, dx2, n * 4);
                        assert_memory_equal(dg, dg2, c * 4);
                        assert_memory_equal(db, db2, c * 4);
                        if (acts[a] == CNN_ACT_GELU) /* dy rewritten with gelu's input gradient */
                            assert_memory_equal(g, dz, n * 4);
                        else /* relu's is recomputed in the dx pass: dy as given */
                            assert_memory_equal(g, dy, n * 4);
                        /* dx over dy (in place) */
                        memcpy(g, dy, n * 4);
                        tu_poison(dg2, c), tu_poison(db2, c);
                        k->bn_backward_act(g, dg2, db2, g, x, mean, rstd, ga, be, pixels, c, 1, acts[a]);
                        assert_memory_equal(dx, g, n * 4);
                        assert_memory_equal(dg, dg2, c * 4);
                        assert_memory_equal(db, db2, c * 4);
                    }
            }
        }
        free(x), free(dy), free(gamma), free(beta), free(mean), free(var), free(rstd), free(z), free(y), free(y2);
        free(dz), free(dx), free(dx2), free(g), free(dg), free(db), free(dg2), free(db2);
    }
}

typedef struct {
    const CnnKernels *k;
    float *x, *y, *r;
    const float *mean, *rstd, *gamma, *beta;
    size_t pixels;
    int c;
} FixedCtx;

static double fixed_loss(void *p)
{
    FixedCtx *g = p;
    g->k->bn_forward(g->y, g->x, g->mean, g->rstd, g->gamma, g->beta, g->pixels, g->c);
    return tu_dot(g->y, g->r, g->pixels * (size_t)g->c);
}

/* Evaluation mode (mean and rstd fixed): the fixed backward against central differences of bn_forward. */
static void test_bn_fixed_gradcheck(void **state)
{
    (void)state;
    const size_t pixels = 25;
    const int c = 17;
    const size_t n = pixels * (size_t)c;
    float *x = malloc(n * 4), *y = malloc(n * 4), *r = malloc(n * 4), *dx = malloc(n * 4);
    float *mean = malloc(c * 4), *rstd = malloc(c * 4), *gamma = malloc(c * 4), *beta = malloc(c * 4);
    tu_fill_uniform(x, n, -2, 2, 601);
    tu_fill_uniform(r, n, -1, 1, 602);
    tu_fill_uniform(mean, c, -0.5f, 0.5f, 603);
    tu_fill_uniform(rstd, c, 0.5f, 2, 604);
    tu_fill_uniform(gamma, c, -1.5f, 1.5f, 605);
    tu_fill_uniform(beta, c, -1, 1, 606);
    TU_FOR_EACH_ISA(isa, k) {
        FixedCtx g = {k, x, y, r, mean, rstd, gamma, beta, pixels, c};
        tu_poison(dx, n);
        k->bn_backward_fixed(dx, r, rstd, gamma, pixels, c);
        tu_assert_finite(dx, n, "fixed dx");
        tu_gradcheck(fixed_loss, &g, x, dx, n, 200, 1e-2f, 1e-3, 1e-3, "fixed dx");
    }
    free(x), free(y), free(r), free(dx), free(mean), free(rstd), free(gamma), free(beta);
}

/* ---- global pooling --------------------------------------------------------------------------------- */

static const int pool_hw[3] = {1, 49, 64}; /* 1x1, 7x7, 8x8 */
static const int pool_c[3] = {3, 16, 64};

/* Distinct values 0.01 apart in a shuffled order: no max ties within a gradient check's steps. */
static void fill_distinct(float *x, size_t n, uint64_t seed)
{
    CnnRng rng;
    cnn_rng_init(&rng, seed, CNN_RNG_TEST, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = -1.0f + 0.01f * (float)i;
    for (size_t i = n - 1; i > 0; i--) {
        const size_t o = cnn_rng_below(&rng, (uint32_t)(i + 1));
        const float t = x[i];
        x[i] = x[o];
        x[o] = t;
    }
}

static void test_global_pool_vs_naive(void **state)
{
    (void)state;
    const int n = 3;
    TU_FOR_EACH_ISA(isa, k) {
        for (int hi = 0; hi < 3; hi++)
            for (int ci = 0; ci < 3; ci++) {
                const int hw = pool_hw[hi], c = pool_c[ci];
                const size_t nin = (size_t)n * hw * c, nout = (size_t)n * c;
                float *in = malloc(nin * 4), *avg = malloc(nout * 4), *mx = malloc(nout * 4);
                float *dout = malloc(nout * 4), *din = malloc(nin * 4);
                int32_t *am = malloc(nout * 4);
                tu_fill_uniform(in, nin, -2, 2, 700 + (uint64_t)(hi * 3 + ci));
                tu_fill_uniform(dout, nout, -1, 1, 710 + (uint64_t)(hi * 3 + ci));
                tu_poison(avg, nout), tu_poison(mx, nout);
                for (size_t i = 0; i < nout; i++) am[i] = -1;
                k->global_avgpool_forward(avg, in, n, hw, c);
                k->global_maxpool_forward(mx, am, in, n, hw, c);
                for (int j = 0; j < n; j++)
                    for (int ch = 0; ch < c; ch++) {
                        const size_t o = (size_t)j * c + ch;
                        float fsum = 0.0f, m = -INFINITY;
                        double dsum = 0;
                        int32_t w = -1;
                        for (int p = 0; p < hw; p++) {
                            const float v = in[((size_t)j * hw + p) * c + ch];
                            fsum += v;
                            dsum += (double)v;
                            if (v > m) m = v, w = p;
                        }
                        assert_true(avg[o] == fsum * (1.0f / (float)hw)); /* float, pixels in order */
                        tu_assert_close(avg[o], dsum / hw, 1e-6, 1e-6, "global avg", o);
                        assert_true(mx[o] == m);
                        assert_int_equal(am[o], w);
                    }
                /* backward overwrites every element of din */
                tu_poison(din, nin);
                k->global_avgpool_backward(din, dout, n, hw, c);
                for (size_t i = 0; i < nin; i++) {
                    const size_t j = i / ((size_t)hw * c), ch = i % (size_t)c;
                    assert_true(din[i] == dout[j * c + ch] * (1.0f / (float)hw));
                }
                tu_poison(din, nin);
                k->global_maxpool_backward(din, dout, am, n, hw, c);
                for (size_t i = 0; i < nin; i++) {
                    const size_t j = i / ((size_t)hw * c), p = i / c % (size_t)hw, ch = i % (size_t)c;
                    assert_true(din[i] == ((size_t)am[j * c + ch] == p ? dout[j * c + ch] : 0.0f));
                }
                free(in), free(avg), free(mx), free(dout), free(din), free(am);
            }
    }
}

/* Ties go to the first pixel; a NaN wins wherever it is (the first NaN); infinities compare as numbers. */
static void test_global_maxpool_ties_nan(void **state)
{
    (void)state;
    enum { HW = 5, C = 19 }; /* 19 channels: full vectors and a tail on every set */
    float in[HW * C], out[C];
    int32_t am[C];
    for (int p = 0; p < HW; p++)
        for (int ch = 0; ch < C; ch++) in[p * C + ch] = 1.0f;
    in[3 * C + 0] = 2.0f;      /* channel 0: pixel 3 wins */
    in[1 * C + 1] = NAN;       /* channel 1: NaN at pixel 1 wins */
    in[4 * C + 1] = 5.0f;
    in[0 * C + 2] = NAN;       /* channel 2: NaN first, a later NaN does not take over */
    in[2 * C + 2] = NAN;
    in[4 * C + 3] = NAN;       /* channel 3: NaN last */
    in[2 * C + 17] = INFINITY; /* channel 17 (tail lane): +inf wins */
    for (int p = 0; p < HW; p++) in[p * C + 18] = -INFINITY; /* channel 18: all -inf, the first */
    TU_FOR_EACH_ISA(isa, k) {
        tu_poison(out, C);
        for (int i = 0; i < C; i++) am[i] = -1;
        k->global_maxpool_forward(out, am, in, 1, HW, C);
        assert_true(out[0] == 2.0f && am[0] == 3);
        assert_true(isnan(out[1]) && am[1] == 1);
        assert_true(isnan(out[2]) && am[2] == 0);
        assert_true(isnan(out[3]) && am[3] == 4);
        for (int ch = 4; ch < 17; ch++) assert_true(out[ch] == 1.0f && am[ch] == 0);
        assert_true(out[17] == INFINITY && am[17] == 2);
        assert_true(out[18] == -INFINITY && am[18] == 0);
    }
}

typedef struct {
    const CnnKernels *k;
    float *in, *out, *r;
    int32_t *am;
    int n, hw, c, max;
} GpCtx;

static double gp_loss(void *p)
{
    GpCtx *g = p;
    if (g->max)
        g->k->global_maxpool_forward(g->out, g->am, g->in, g->n, g->hw, g->c);
    else
        g->k->global_avgpool_forward(g->out, g->in, g->n, g->hw, g->c);
    return tu_dot(g->out, g->r, (size_t)g->n * g->c);
}

static void test_global_pool_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        for (int max = 0; max < 2; max++)
            for (int hi = 0; hi < 3; hi++)
                for (int ci = 0; ci < 3; ci++) {
                    GpCtx g = {.k = k, .n = 3, .hw = pool_hw[hi], .c = pool_c[ci], .max = max};
                    const size_t nin = (size_t)g.n * g.hw * g.c, nout = (size_t)g.n * g.c;
                    g.in = malloc(nin * 4), g.out = malloc(nout * 4), g.r = malloc(nout * 4);
                    g.am = malloc(nout * 4);
                    float *din = malloc(nin * 4);
                    /* max: distinct values (no winner changes within a step); avg: any values, small
                     * enough that the float sums' rounding stays far below the step */
                    if (max)
                        fill_distinct(g.in, nin, 800 + (uint64_t)(hi * 3 + ci));
                    else
                        tu_fill_uniform(g.in, nin, -1, 1, 800 + (uint64_t)(hi * 3 + ci));
                    tu_fill_uniform(g.r, nout, -1, 1, 820 + (uint64_t)(hi * 3 + ci));
                    gp_loss(&g);
                    tu_poison(din, nin);
                    if (max)
                        k->global_maxpool_backward(din, g.r, g.am, g.n, g.hw, g.c);
                    else
                        k->global_avgpool_backward(din, g.r, g.n, g.hw, g.c);
                    tu_assert_finite(din, nin, "global pool din");
                    tu_gradcheck(gp_loss, &g, g.in, din, nin, 400, 2e-3f, 1e-3, 1e-3,
                                 max ? "global maxpool din" : "global avgpool din");
                    free(g.in), free(g.out), free(g.r), free(g.am), free(din);
                }
    }
}

/* ---- add, scale ----------------------------------------------------------------------------------- */

static void test_add_scale(void **state)
{
    (void)state;
    static const size_t counts[5] = {1, 7, 33, 1000, 4099};
    for (int t = 0; t < 5; t++) {
        const size_t n = counts[t];
        float *a = malloc(n * 4), *b = malloc(n * 4), *y = malloc(n * 4), *z = malloc(n * 4);
        tu_fill_uniform(a, n, -3, 3, 900 + (uint64_t)t);
        tu_fill_uniform(b, n, -3, 3, 910 + (uint64_t)t);
        TU_FOR_EACH_ISA(isa, k) {
            tu_poison(y, n);
            k->add(y, a, b, n);
            for (size_t i = 0; i < n; i++) assert_true(y[i] == a[i] + b[i]);
            memcpy(z, a, n * 4); /* y = a */
            k->add(z, z, b, n);
            assert_memory_equal(y, z, n * 4);
            memcpy(z, b, n * 4); /* y = b */
            k->add(z, a, z, n);
            assert_memory_equal(y, z, n * 4);
            tu_poison(y, n);
            k->scale(y, a, -0.3f, n);
            for (size_t i = 0; i < n; i++) assert_true(y[i] == -0.3f * a[i]);
            memcpy(z, a, n * 4);
            k->scale(z, z, -0.3f, n);
            assert_memory_equal(y, z, n * 4);
        }
        free(a), free(b), free(y), free(z);
    }
}

/* ---- the same bits on every instruction set --------------------------------------------------------- */

/* Every output of every kernel here, one after another in one buffer, from one instruction set. */
static size_t run_all(const CnnKernels *k, float *o, int32_t *am, const float *x, const float *dy,
                      const float *gamma, const float *beta, size_t pixels, int c, int n, int hw)
{
    const size_t nx = pixels * (size_t)c;
    float *mean = o, *var = mean + c, *rstd = var + c, *y = rstd + c, *dx = y + nx, *dg = dx + nx, *db = dg + c;
    float *fx = db + c, *gavg = fx + nx, *gmax = gavg + (size_t)n * c, *gdavg = gmax + (size_t)n * c;
    float *gdmax = gdavg + nx, *add = gdmax + nx, *end = add + nx;
    k->bn_stats(mean, var, x, pixels, c);
    for (int i = 0; i < c; i++) rstd[i] = 1.0f / sqrtf(var[i] + 1e-5f);
    k->bn_forward(y, x, mean, rstd, gamma, beta, pixels, c);
    k->bn_backward(dx, dg, db, dy, x, mean, rstd, gamma, pixels, c, 1);
    k->bn_backward_fixed(fx, dy, rstd, gamma, pixels, c);
    assert_true((size_t)n * hw == pixels);
    k->global_avgpool_forward(gavg, x, n, hw, c);
    k->global_maxpool_forward(gmax, am, x, n, hw, c);
    k->global_avgpool_backward(gdavg, dy, n, hw, c);
    k->global_maxpool_backward(gdmax, dy, am, n, hw, c);
    k->add(add, x, dy, nx);
    k->scale(add, add, 0.7f, nx);
    return (size_t)(end - o);
}

static void test_bitwise_across_instruction_sets(void **state)
{
    (void)state;
    static const int shapes[][3] = {{3, 49, 17}, {2, 64, 64}, {3, 16, 200}}; /* n, hw, c */
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int n = shapes[t][0], hw = shapes[t][1], c = shapes[t][2];
        const size_t pixels = (size_t)n * hw, nx = pixels * (size_t)c, len = 6 * nx + 7 * (size_t)c * n;
        float *x = malloc(nx * 4), *dy = malloc(nx * 4), *gamma = malloc(c * 4), *beta = malloc(c * 4);
        float *o[CNN_ISA_COUNT];
        int32_t *am[CNN_ISA_COUNT];
        tu_fill_uniform(x, nx, -2, 3, 950 + t);
        for (size_t i = 0; i < nx; i += 5) x[i] = x[i / 3]; /* some ties for the max */
        tu_fill_uniform(dy, nx, -1, 1, 960 + t);
        tu_fill_uniform(gamma, c, 0.5f, 1.5f, 970 + t);
        tu_fill_uniform(beta, c, -1, 1, 980 + t);
        size_t used = 0;
        TU_FOR_EACH_ISA(isa, k) {
            o[isa] = malloc(len * 4), am[isa] = malloc((size_t)n * c * 4);
            tu_poison(o[isa], len);
            used = run_all(k, o[isa], am[isa], x, dy, gamma, beta, pixels, c, n, hw);
            assert_true(used <= len);
            tu_assert_finite(o[isa], used, "outputs");
            if (isa != CNN_ISA_GENERIC) {
                assert_memory_equal(o[CNN_ISA_GENERIC], o[isa], used * 4);
                assert_memory_equal(am[CNN_ISA_GENERIC], am[isa], (size_t)n * c * 4);
            }
        }
        for (CnnIsa isa = CNN_ISA_GENERIC; isa <= tu_isa_max(); isa = (CnnIsa)(isa + 1)) free(o[isa]), free(am[isa]);
        free(x), free(dy), free(gamma), free(beta);
    }
    if (tu_isa_max() < CNN_ISA_AVX512) {
        print_message("AVX-512 not available here (CPU or CNN_ISA): compared the lower sets only\n");
        skip();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_hand),
        cmocka_unit_test(test_bn_stats_two_pass),
        cmocka_unit_test(test_bn_gradcheck),
        cmocka_unit_test(test_bn_modes),
        cmocka_unit_test(test_bn_act_fused),
        cmocka_unit_test(test_bn_fixed_gradcheck),
        cmocka_unit_test(test_global_pool_vs_naive),
        cmocka_unit_test(test_global_maxpool_ties_nan),
        cmocka_unit_test(test_global_pool_gradcheck),
        cmocka_unit_test(test_add_scale),
        cmocka_unit_test(test_bitwise_across_instruction_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
