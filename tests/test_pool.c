/* pool: shapes by TensorFlow's rule, hand-computed SAME cases where padding must neither win a max nor
 * count in an average, max/avg pooling against a naive loop over the unclipped window for many shapes,
 * argmax pointing at the winner, and central-difference gradients (max pool on distinct values). */
#include "testutil.h"

#include "cnn/nn/layers.h"

static void test_shapes(void **state)
{
    (void)state;
    /* n, h, w, c, size, stride, same -> oh, ow, pad_top, pad_left */
    static const int cases[][11] = {
        {2, 24, 24, 64, 3, 2, 1, 12, 12, 0, 0}, {2, 12, 12, 64, 3, 2, 1, 6, 6, 0, 0},
        {1, 5, 5, 1, 2, 2, 1, 3, 3, 0, 0},      {1, 5, 6, 1, 2, 2, 0, 2, 3, 0, 0},
        {1, 7, 8, 1, 3, 1, 1, 7, 8, 1, 1},      {1, 28, 28, 1, 2, 2, 0, 14, 14, 0, 0},
        {1, 9, 10, 1, 3, 3, 0, 3, 3, 0, 0},     {1, 4, 4, 1, 4, 1, 1, 4, 4, 1, 1},
        {1, 6, 7, 1, 3, 2, 1, 3, 4, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *c = cases[i];
        CnnPoolShape s;
        cnn_pool_shape(&s, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        if (s.oh != c[7] || s.ow != c[8] || s.pad_top != c[9] || s.pad_left != c[10])
            fail_msg("case %zu: got %dx%d pad %d,%d", i, s.oh, s.ow, s.pad_top, s.pad_left);
        assert_int_equal(s.n, c[0]);
        assert_int_equal(s.c, c[3]);
        assert_int_equal(s.size, c[4]);
        assert_int_equal(s.stride, c[5]);
    }
}

static void test_hand_same_padding(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        /* 3x3 input, one channel, in[y][x] = -(1 + 3y + x); 2x2 windows, stride 2, SAME -> 2x2 with the
         * extra padded row/column at the bottom/right. All values are negative, so a padded 0 would win
         * a max, and counting padded cells would shrink the averages. */
        float in[9];
        for (int i = 0; i < 9; i++) in[i] = -(float)(1 + i);
        CnnPoolShape s;
        cnn_pool_shape(&s, 1, 3, 3, 1, 2, 2, 1);
        assert_int_equal(s.oh, 2);
        assert_int_equal(s.pad_top, 0);
        float out[4];
        int32_t am[4] = {-1, -1, -1, -1};
        tu_poison(out, 4);
        k->maxpool_forward(out, am, in, &s);
        const float want_max[4] = {-1, -3, -7, -9};
        const int32_t want_am[4] = {0, 2, 6, 8};
        for (int i = 0; i < 4; i++) {
            assert_true(out[i] == want_max[i]);
            assert_int_equal(am[i], want_am[i]);
        }
        tu_poison(out, 4);
        k->avgpool_forward(out, in, &s);
        const float want_avg[4] = {-3.0f, -4.5f, -7.5f, -9.0f}; /* (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9 */
        for (int i = 0; i < 4; i++) assert_true(fabsf(out[i] - want_avg[i]) < 1e-6f);

        /* backward by hand: avg spreads dout/count, max routes to the winner */
        const float dout[4] = {4, 2, 6, 1};
        float din[9];
        tu_poison(din, 9);
        k->avgpool_backward(din, dout, &s);
        const float want_davg[9] = {1, 1, 1, 1, 1, 1, 3, 3, 1};
        for (int i = 0; i < 9; i++) assert_true(fabsf(din[i] - want_davg[i]) < 1e-6f);
        tu_poison(din, 9);
        k->maxpool_backward(din, dout, am, &s);
        const float want_dmax[9] = {4, 0, 2, 0, 0, 0, 6, 0, 1};
        for (int i = 0; i < 9; i++) assert_true(din[i] == want_dmax[i]);

        /* ties: every cell equal, the first cell of each window (row-major) wins */
        float flat[16];
        for (int i = 0; i < 16; i++) flat[i] = 1.0f;
        cnn_pool_shape(&s, 1, 4, 4, 1, 2, 2, 0);
        tu_poison(out, 4);
        k->maxpool_forward(out, am, flat, &s);
        const int32_t want_tie[4] = {0, 2, 8, 10};
        for (int i = 0; i < 4; i++) assert_int_equal(am[i], want_tie[i]);
    }
}

/* Naive pooling over the unclipped window with a bounds test per cell. */
static void naive_pool(double *mx, double *avg, const float *in, const CnnPoolShape *s)
{
    for (int j = 0; j < s->n; j++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int c = 0; c < s->c; c++) {
                    double m = -INFINITY, sum = 0;
                    int cnt = 0;
                    for (int ky = 0; ky < s->size; ky++)
                        for (int kx = 0; kx < s->size; kx++) {
                            int y = oy * s->stride - s->pad_top + ky, x = ox * s->stride - s->pad_left + kx;
                            if (y < 0 || y >= s->h || x < 0 || x >= s->w) continue;
                            double v = in[((j * s->h + y) * s->w + x) * s->c + c];
                            m = v > m ? v : m;
                            sum += v;
                            cnt++;
                        }
                    size_t o = (size_t)((j * s->oh + oy) * s->ow + ox) * s->c + c;
                    mx[o] = m;
                    avg[o] = sum / cnt;
                }
}

static void test_vs_naive(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        for (int same = 0; same < 2; same++)
            for (int size = 1; size <= 4; size++)
                for (int stride = 1; stride <= 3; stride++) {
                    CnnPoolShape s;
                    cnn_pool_shape(&s, 2, 7, 8, 3, size, stride, same);
                    size_t nin = (size_t)s.n * s.h * s.w * s.c, nout = (size_t)s.n * s.oh * s.ow * s.c;
                    float *in = malloc(nin * 4), *out = malloc(nout * 4), *out2 = malloc(nout * 4);
                    int32_t *am = malloc(nout * 4);
                    double *mx = malloc(nout * 8), *avg = malloc(nout * 8);
                    tu_fill_uniform(in, nin, -2, -1, (uint64_t)(size * 10 + stride));
                    tu_poison(out, nout);
                    tu_poison(out2, nout);
                    for (size_t i = 0; i < nout; i++) am[i] = -1;
                    k->maxpool_forward(out, am, in, &s);
                    k->avgpool_forward(out2, in, &s);
                    naive_pool(mx, avg, in, &s);
                    size_t per = (size_t)s.h * s.w * s.c;
                    for (size_t i = 0; i < nout; i++) {
                        assert_true((double)out[i] == mx[i]);
                        tu_assert_close(out2[i], avg[i], 1e-6, 1e-6, "avgpool", i);
                        size_t j = i / ((size_t)s.oh * s.ow * s.c);
                        assert_true(am[i] >= 0 && (size_t)am[i] < per);
                        assert_true(in[j * per + (size_t)am[i]] == out[i]);
                        assert_int_equal((size_t)am[i] % (size_t)s.c, i % (size_t)s.c);
                    }
                    free(in), free(out), free(out2), free(am), free(mx), free(avg);
                }
    }
}

typedef struct {
    const CnnKernels *k;
    CnnPoolShape s;
    float *in, *out, *r;
    int32_t *am;
    int max;
} Ctx;

static double pool_loss(void *p)
{
    Ctx *g = p;
    if (g->max)
        g->k->maxpool_forward(g->out, g->am, g->in, &g->s);
    else
        g->k->avgpool_forward(g->out, g->in, &g->s);
    return tu_dot(g->out, g->r, (size_t)g->s.n * g->s.oh * g->s.ow * g->s.c);
}

static void test_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        static const int cases[][5] = {{3, 2, 1, 7, 6}, {3, 2, 0, 7, 6}, {2, 2, 1, 5, 5}, {3, 1, 1, 4, 5}, {3, 3, 1, 8, 7}};
        for (int max = 0; max < 2; max++)
            for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
                Ctx g;
                g.k = k;
                g.max = max;
                cnn_pool_shape(&g.s, 2, cases[t][3], cases[t][4], 3, cases[t][0], cases[t][1], cases[t][2]);
                size_t nin = (size_t)g.s.n * g.s.h * g.s.w * g.s.c, nout = (size_t)g.s.n * g.s.oh * g.s.ow * g.s.c;
                g.in = malloc(nin * 4), g.out = malloc(nout * 4), g.r = malloc(nout * 4), g.am = malloc(nout * 4);
                float *din = malloc(nin * 4);
                /* distinct values 0.02 apart (a shuffled ramp): no max-pool ties within 2*eps */
                CnnRng rng;
                cnn_rng_init(&rng, 5, CNN_RNG_TEST, t, (uint64_t)max);
                for (size_t i = 0; i < nin; i++) g.in[i] = -1.0f + 0.02f * (float)i;
                for (size_t i = nin - 1; i > 0; i--) {
                    size_t o = cnn_rng_below(&rng, (uint32_t)(i + 1));
                    float tmp = g.in[i];
                    g.in[i] = g.in[o];
                    g.in[o] = tmp;
                }
                tu_fill_uniform(g.r, nout, -1, 1, 70 + t);
                pool_loss(&g);
                tu_poison(din, nin);
                if (max)
                    k->maxpool_backward(din, g.r, g.am, &g.s);
                else
                    k->avgpool_backward(din, g.r, &g.s);
                tu_assert_finite(din, nin, "pool din");
                tu_gradcheck(pool_loss, &g, g.in, din, nin, 400, 4e-3f, 1e-3, 1e-3, max ? "maxpool din" : "avgpool din");
                free(g.in), free(g.out), free(g.r), free(g.am), free(din);
            }
    }
}

/* Max pooling gives the same outputs, winners and gradients on every instruction set (vectors of 4, 8, 16
 * channels and a scalar tail), on the CIFAR-10 network's shape and odd channel counts. */
static void test_bitwise_across_instruction_sets(void **state)
{
    (void)state;
    static const int cases[][3] = {{24, 64, 1}, {7, 24, 1}, {9, 5, 0}}; /* size, channels, SAME */
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        CnnPoolShape s;
        cnn_pool_shape(&s, 2, cases[t][0], cases[t][0], cases[t][1], 3, 2, cases[t][2]);
        const size_t nin = (size_t)s.n * s.h * s.w * s.c, nout = (size_t)s.n * s.oh * s.ow * s.c;
        float *in = malloc(nin * 4), *dout = malloc(nout * 4), *out[2], *din[2];
        int32_t *am[2];
        for (int i = 0; i < 2; i++) out[i] = malloc(nout * 4), din[i] = malloc(nin * 4), am[i] = malloc(nout * 4);
        tu_fill_uniform(in, nin, -1, 1, 90 + t);
        for (size_t i = 0; i < nin; i += 7) in[i] = in[i / 2]; /* some ties */
        tu_fill_uniform(dout, nout, -1, 1, 95 + t);
        TU_FOR_EACH_ISA(isa, k) {
            const int i = isa == CNN_ISA_GENERIC ? 0 : 1;
            k->maxpool_forward(out[i], am[i], in, &s);
            k->maxpool_backward(din[i], dout, am[i], &s);
            if (i) {
                assert_memory_equal(out[0], out[1], nout * 4);
                assert_memory_equal(am[0], am[1], nout * 4);
                assert_memory_equal(din[0], din[1], nin * 4);
            }
        }
        free(in), free(dout);
        for (int i = 0; i < 2; i++) free(out[i]), free(din[i]), free(am[i]);
    }
}

/* Max pooling's backward where the windows tile the input (stride == size, nothing padded before:
 * airbench94's pools), which writes each input cell once instead of zeroing and scattering: bitwise the
 * scatter's result (0 + g: a -0 gradient gives +0), every cell written (din starts as NaNs), the cells
 * past the last window zero; ties, odd channel counts, SAME (a clipped last window) and VALID. */
static void test_backward_tiled_windows(void **state)
{
    (void)state;
    static const int cases[][5] = {{31, 31, 24, 2, 0}, {8, 7, 5, 2, 1}, {9, 10, 16, 3, 0}, {7, 8, 40, 3, 1},
                                   {3, 3, 20, 3, 0}}; /* h, w, channels, size = stride, SAME */
    TU_FOR_EACH_ISA(isa, k) {
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            CnnPoolShape s;
            cnn_pool_shape(&s, 2, cases[t][0], cases[t][1], cases[t][2], cases[t][3], cases[t][3], cases[t][4]);
            const size_t nin = (size_t)s.n * s.h * s.w * s.c, nout = (size_t)s.n * s.oh * s.ow * s.c;
            float *in = malloc(nin * 4), *out = malloc(nout * 4), *dout = malloc(nout * 4), *din = malloc(nin * 4),
                  *want = calloc(nin, 4);
            int32_t *am = malloc(nout * 4);
            tu_fill_uniform(in, nin, -1, 1, 40 + t);
            for (size_t i = 0; i < nin; i += 5) in[i] = in[i / 3]; /* some ties */
            tu_fill_uniform(dout, nout, -1, 1, 50 + t);
            for (size_t i = 0; i < nout; i += 9) dout[i] = -0.0f;
            k->maxpool_forward(out, am, in, &s);
            tu_poison(din, nin);
            k->maxpool_backward(din, dout, am, &s);
            const size_t per_in = (size_t)s.h * s.w * s.c, per_out = (size_t)s.oh * s.ow * s.c;
            for (size_t i = 0; i < nout; i++) want[i / per_out * per_in + (size_t)am[i]] += dout[i];
            assert_memory_equal(din, want, nin * 4);
            free(in), free(out), free(dout), free(din), free(want), free(am);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_hand_same_padding),
        cmocka_unit_test(test_vs_naive),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_bitwise_across_instruction_sets),
        cmocka_unit_test(test_backward_tiled_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
