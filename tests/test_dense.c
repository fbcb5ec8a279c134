/* dense: forward and backward against naive loops in double, accumulation into dw/db, NULL din, and
 * central-difference gradients of din, dw and db; on every instruction set the machine runs (OpenBLAS
 * on generic, cnn-dist's tiles above it), with output counts that are whole panels, odd (padded
 * copies) and sample counts that leave partial tiles. */
#include "testutil.h"

#include "cnn/nn/layers.h"
#include "cnn/nn/plan.h"

typedef struct {
    CnnDensePlan p;
    float *ws;
} Dense;

static void dense_make(Dense *d, int nin, int nout, int max_n, CnnIsa isa)
{
    cnn_dense_plan(&d->p, nin, nout, max_n, isa);
    assert_int_equal(d->p.algo, cnn_kernels(isa)->tiles ? CNN_ALGO_TILES : CNN_ALGO_SGEMM);
    d->ws = malloc((d->p.ws_floats ? d->p.ws_floats : 1) * 4);
    tu_poison(d->ws, d->p.ws_floats);
}

static void test_hand(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        /* in [1 2], w [[1 0 -1], [2 1 0]], b [0.5 0 1] -> out [5.5 2 0] */
        const float in[2] = {1, 2}, w[6] = {1, 0, -1, 2, 1, 0}, b[3] = {0.5f, 0, 1};
        float out[3];
        Dense d;
        dense_make(&d, 2, 3, 1, isa);
        tu_poison(out, 3);
        cnn_dense_forward(out, d.ws, in, w, b, &d.p, 1);
        assert_true(out[0] == 5.5f && out[1] == 2.0f && out[2] == 0.0f);
        /* dout [1 -1 2]: din = dout w^T = [1*1 + 0 - 2, 2 - 1 + 0] = [-1, 1]; dw = in^T dout; db = dout */
        const float dout[3] = {1, -1, 2};
        float din[2], dw[6] = {0}, db[3] = {0};
        tu_poison(din, 2);
        cnn_dense_backward(din, dw, db, d.ws, dout, in, w, &d.p, 1, CNN_GRAD_ACCUMULATE);
        assert_true(din[0] == -1.0f && din[1] == 1.0f);
        const float wdw[6] = {1, -1, 2, 2, -2, 4};
        for (int i = 0; i < 6; i++) assert_true(dw[i] == wdw[i]);
        for (int i = 0; i < 3; i++) assert_true(db[i] == dout[i]);
        free(d.ws);
        (void)k;
    }
}

static void check_vs_naive(CnnIsa isa, int n, int nin, int nout, int max_n)
{
    Dense d;
    dense_make(&d, nin, nout, max_n, isa);
    float *in = malloc((size_t)n * nin * 4), *w = malloc((size_t)nin * nout * 4), *b = malloc((size_t)nout * 4);
    float *out = malloc((size_t)n * nout * 4), *dout = malloc((size_t)n * nout * 4);
    float *din = malloc((size_t)n * nin * 4), *dw = malloc((size_t)nin * nout * 4), *db = malloc((size_t)nout * 4);
    tu_fill_uniform(in, (size_t)n * nin, -1, 1, 1);
    tu_fill_uniform(w, (size_t)nin * nout, -1, 1, 2);
    tu_fill_uniform(b, (size_t)nout, -1, 1, 3);
    tu_fill_uniform(dout, (size_t)n * nout, -1, 1, 4);
    tu_poison(out, (size_t)n * nout);
    cnn_dense_forward(out, d.ws, in, w, b, &d.p, n);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < nout; o++) {
            double s = b[o];
            for (int k = 0; k < nin; k++) s += (double)in[i * nin + k] * (double)w[k * nout + o];
            tu_assert_close(out[i * nout + o], s, 1e-5, 1e-5, "dense out", (size_t)(i * nout + o));
        }
    for (int i = 0; i < nin * nout; i++) dw[i] = 1.0f;
    for (int i = 0; i < nout; i++) db[i] = 2.0f;
    tu_poison(din, (size_t)n * nin);
    cnn_dense_backward(din, dw, db, d.ws, dout, in, w, &d.p, n, CNN_GRAD_ACCUMULATE);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nin; k++) {
            double s = 0;
            for (int o = 0; o < nout; o++) s += (double)dout[i * nout + o] * (double)w[k * nout + o];
            tu_assert_close(din[i * nin + k], s, 1e-5, 1e-5, "dense din", (size_t)(i * nin + k));
        }
    for (int k = 0; k < nin; k++)
        for (int o = 0; o < nout; o++) {
            double s = 1;
            for (int i = 0; i < n; i++) s += (double)in[i * nin + k] * (double)dout[i * nout + o];
            tu_assert_close(dw[k * nout + o], s, 1e-5, 1e-5, "dense dw", (size_t)(k * nout + o));
        }
    for (int o = 0; o < nout; o++) {
        double s = 2;
        for (int i = 0; i < n; i++) s += (double)dout[i * nout + o];
        tu_assert_close(db[o], s, 1e-5, 1e-5, "dense db", (size_t)o);
    }
    /* overwriting: poisoned dw and db are written with the accumulated-from-zero values */
    {
        float *dw0 = calloc((size_t)nin * nout, 4), *db0 = calloc((size_t)nout, 4), *din0 = malloc((size_t)n * nin * 4);
        cnn_dense_backward(din0, dw0, db0, d.ws, dout, in, w, &d.p, n, CNN_GRAD_ACCUMULATE);
        float *dw1 = malloc((size_t)nin * nout * 4), *db1 = malloc((size_t)nout * 4);
        tu_poison(dw1, (size_t)nin * nout);
        tu_poison(db1, (size_t)nout);
        cnn_dense_backward(din0, dw1, db1, d.ws, dout, in, w, &d.p, n, CNN_GRAD_OVERWRITE);
        for (int i = 0; i < nin * nout; i++) assert_true(dw1[i] == dw0[i]);
        for (int i = 0; i < nout; i++) assert_true(db1[i] == db0[i]);
        free(dw0), free(db0), free(din0), free(dw1), free(db1);
    }
    /* NULL din: only the parameter gradients */
    tu_poison(din, (size_t)n * nin);
    cnn_dense_backward(NULL, dw, db, d.ws, dout, in, w, &d.p, n, CNN_GRAD_ACCUMULATE);
    for (int i = 0; i < n * nin; i++) assert_true(isnan(din[i]));
    free(in), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db), free(d.ws);
}

static void test_vs_naive(void **state)
{
    (void)state;
    /* n, nin, nout, max_n: odd outputs (padded copies), whole 64- and 48-column panels, partial row tiles,
     * a call with fewer samples than the plan's maximum, more samples than one 16-lane data-gradient panel */
    static const int cases[][4] = {{7, 33, 10, 7}, {16, 70, 128, 16}, {13, 21, 48, 16},
                                   {5, 40, 384, 16}, {37, 9, 20, 40}, {1, 3, 1, 1}};
    TU_FOR_EACH_ISA(isa, k) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            check_vs_naive(isa, cases[c][0], cases[c][1], cases[c][2], cases[c][3]);
        (void)k;
    }
}

typedef struct {
    Dense d;
    float *in, *w, *b, *out, *r;
    int n, nin, nout;
} Ctx;

static double dense_loss(void *p)
{
    Ctx *g = p;
    cnn_dense_forward(g->out, g->d.ws, g->in, g->w, g->b, &g->d.p, g->n);
    return tu_dot(g->out, g->r, (size_t)g->n * g->nout);
}

static void test_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        Ctx g = {.n = 5, .nin = 300, .nout = 9};
        dense_make(&g.d, g.nin, g.nout, g.n, isa);
        size_t nin = (size_t)g.n * g.nin, nw = (size_t)g.nin * g.nout, nout = (size_t)g.n * g.nout;
        g.in = malloc(nin * 4), g.w = malloc(nw * 4), g.b = malloc((size_t)g.nout * 4);
        g.out = malloc(nout * 4), g.r = malloc(nout * 4);
        float *din = malloc(nin * 4), *dw = calloc(nw, 4), *db = calloc((size_t)g.nout, 4);
        tu_fill_uniform(g.in, nin, -1, 1, 5);
        tu_fill_uniform(g.w, nw, -1, 1, 6);
        tu_fill_uniform(g.b, (size_t)g.nout, -1, 1, 7);
        tu_fill_uniform(g.r, nout, -1, 1, 8);
        cnn_dense_backward(din, dw, db, g.d.ws, g.r, g.in, g.w, &g.d.p, g.n, CNN_GRAD_ACCUMULATE);
        tu_gradcheck(dense_loss, &g, g.in, din, nin, 200, 1e-2f, 2e-3, 2e-3, "dense din");
        tu_gradcheck(dense_loss, &g, g.w, dw, nw, 200, 1e-2f, 2e-3, 2e-3, "dense dw");
        tu_gradcheck(dense_loss, &g, g.b, db, (size_t)g.nout, 200, 1e-2f, 2e-3, 2e-3, "dense db");
        free(g.in), free(g.w), free(g.b), free(g.out), free(g.r), free(din), free(dw), free(db), free(g.d.ws);
        (void)k;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand),
        cmocka_unit_test(test_vs_naive),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
