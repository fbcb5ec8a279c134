/* conv: TensorFlow's SAME/VALID shapes from a hand-written table; forward and backward against a
 * naive direct convolution in double (kernels 1, 3, 5; strides 1, 2, 3; odd sizes; batches that need
 * several workspace chunks) for every kernel family (im2col + sgemm, direct, Winograd) on every
 * instruction set the machine runs; central-difference gradient checks of din, dW and db; accumulation
 * into dW/db; every output element written; the plan's decisions and workspace; and the tiled kernels
 * bitwise the same on 1 and 3 threads and on AVX2 and AVX-512. */
#include "testutil.h"

#include "cnn/nn/layers.h"
#include "cnn/nn/plan.h"
#include "cnn/util.h"

static void test_same_valid_table(void **state)
{
    (void)state;
    /* in, k, stride, same -> out, pad_before (TensorFlow: SAME out = ceil(in/s),
     * pad_total = max((out-1)*s + k - in, 0), before = total/2; VALID out = ceil((in-k+1)/s)) */
    static const int cases[][6] = {
        {24, 3, 2, 1, 12, 0}, {12, 3, 2, 1, 6, 0}, {5, 2, 2, 1, 3, 0},  {32, 5, 1, 1, 32, 2},
        {24, 5, 1, 1, 24, 2}, {7, 3, 1, 1, 7, 1},  {7, 4, 1, 1, 7, 1},  {6, 3, 3, 1, 2, 0},
        {1, 3, 2, 1, 1, 1},   {10, 1, 3, 1, 4, 0}, {8, 5, 3, 1, 3, 1},  {6, 2, 2, 1, 3, 0},
        {24, 3, 2, 0, 11, 0}, {5, 2, 2, 0, 2, 0},  {7, 5, 1, 0, 3, 0},  {7, 3, 3, 0, 2, 0},
        {32, 5, 1, 0, 28, 0}, {3, 3, 1, 0, 1, 0},  {2, 3, 1, 0, 0, 0},  {6, 2, 2, 0, 3, 0},
        {9, 3, 3, 0, 3, 0},   {10, 3, 3, 0, 3, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int out = -1, pad = -1;
        cnn_same_valid(cases[i][0], cases[i][1], cases[i][2], cases[i][3], &out, &pad);
        if (out != cases[i][4] || pad != cases[i][5])
            fail_msg("in %d k %d s %d %s: got out %d pad %d, want %d %d", cases[i][0], cases[i][1],
                     cases[i][2], cases[i][3] ? "SAME" : "VALID", out, pad, cases[i][4], cases[i][5]);
    }
    CnnConvShape s;
    cnn_conv_shape(&s, 4, 24, 20, 3, 64, 5, 2, 1);
    assert_int_equal(s.oh, 12);
    assert_int_equal(s.ow, 10);
    assert_int_equal(s.pad_top, 1);  /* (11*2+5-24)=3 -> 1 before, 2 after */
    assert_int_equal(s.pad_left, 1); /* (9*2+5-20)=3 */
    assert_int_equal(s.kh, 5);
    assert_int_equal(s.kw, 5);
    assert_int_equal(s.cout, 64);
}

/* out[n][oh][ow][cout] = b + sum in * w, directly, in double. */
static void naive_forward(double *out, const float *in, const float *w, const float *b, const CnnConvShape *s)
{
    for (int j = 0; j < s->n; j++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int co = 0; co < s->cout; co++) {
                    double acc = b[co];
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = oy * s->stride - s->pad_top + ky, ix = ox * s->stride - s->pad_left + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                            for (int ci = 0; ci < s->cin; ci++)
                                acc += (double)in[((j * s->h + iy) * s->w + ix) * s->cin + ci] *
                                       (double)w[((ky * s->kw + kx) * s->cin + ci) * s->cout + co];
                        }
                    out[((j * s->oh + oy) * s->ow + ox) * s->cout + co] = acc;
                }
}

/* din = d/d in, dw, db of sum(out * dout), directly, in double (dw/db overwritten). */
static void naive_backward(double *din, double *dw, double *db, const float *dout, const float *in,
                           const float *w, const CnnConvShape *s)
{
    memset(din, 0, sizeof *din * (size_t)s->n * s->h * s->w * s->cin);
    memset(dw, 0, sizeof *dw * (size_t)s->kh * s->kw * s->cin * s->cout);
    memset(db, 0, sizeof *db * (size_t)s->cout);
    for (int j = 0; j < s->n; j++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int co = 0; co < s->cout; co++) {
                    double g = dout[((j * s->oh + oy) * s->ow + ox) * s->cout + co];
                    db[co] += g;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = oy * s->stride - s->pad_top + ky, ix = ox * s->stride - s->pad_left + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                            for (int ci = 0; ci < s->cin; ci++) {
                                size_t ii = (size_t)((j * s->h + iy) * s->w + ix) * s->cin + ci;
                                size_t wi = (size_t)((ky * s->kw + kx) * s->cin + ci) * s->cout + co;
                                din[ii] += g * (double)w[wi];
                                dw[wi] += g * (double)in[ii];
                            }
                        }
                }
}

typedef struct {
    int n, h, w, cin, cout, k, stride, same;
} Case;

static double rms(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

/* A planned conv layer and its workspace (poisoned: the kernels must not read what they did not write,
 * except the Winograd weight copies, which start zeroed as the model's do). */
typedef struct {
    CnnConvPlan p;
    float *ws;
} Conv;

static void conv_make(Conv *cv, const CnnConvShape *s, CnnConvKernel kernel, CnnIsa isa, int threads)
{
    CnnErr err;
    if (cnn_conv_plan(&cv->p, s, kernel, isa, threads, &err)) fail_msg("%s", err.msg);
    cv->ws = malloc((cv->p.ws_floats ? cv->p.ws_floats : 1) * 4);
    tu_poison(cv->ws, cv->p.ws_floats);
    if (cv->p.fwd != CNN_ALGO_SGEMM) {
        memset(cv->ws + cv->p.wcopy, 0, (cv->p.wgp - cv->p.wcopy) * 4);
        const size_t mf = (size_t)cnn_algo_winograd_m(cv->p.fwd), mt = (size_t)cnn_algo_winograd_m(cv->p.dgrad);
        const size_t af = mf + (size_t)s->kh - 1, at = mt + (size_t)s->kh - 1;
        if (mf) memset(cv->ws + cv->p.wp, 0, af * af * s->cin * s->cout * 4);
        if (mt && s->needs_din) memset(cv->ws + cv->p.wtp, 0, at * at * s->cin * s->cout * 4);
    }
}

/* The tiled workspace holds the padded input and dout, the two kernels' weights (packed in panels or
 * transformed), the Winograd scratch, the copies the transforms were made from and the 36 products. */
static void check_tiled_workspace(const CnnConvPlan *p)
{
    const CnnConvShape *s = &p->s;
    const CnnKernels *k = p->k;
    const size_t nw = (size_t)s->kh * s->kw * s->cin * s->cout;
    /* rows and columns the windows read, or the input's own with its top/left padding, the larger */
    const int rows = (s->oh - 1) * s->stride + s->kh, cols = (s->ow - 1) * s->stride + s->kw;
    const size_t ph = (size_t)(rows > s->pad_top + s->h ? rows : s->pad_top + s->h);
    const size_t pw = (size_t)(cols > s->pad_left + s->w ? cols : s->pad_left + s->w);
    const size_t mf = (size_t)cnn_algo_winograd_m(p->fwd), mt = s->needs_din ? (size_t)cnn_algo_winograd_m(p->dgrad) : 0;
    /* Winograd reads the tensors unpadded: copies for the direct kernels and a strided dX's dilated dout */
    const size_t pad_in = mf ? 0 : (size_t)s->n * ph * pw * s->cin;
    const size_t pad_g = s->needs_din && (!mt || s->stride > 1)
                             ? (size_t)s->n * (s->h + s->kh - 1) * (s->w + s->kw - 1) * s->cout
                             : 0;
    const size_t pf = (size_t)k->panel_width(s->cout), pt = (size_t)k->panel_width(s->cin);
    const size_t af = mf + (size_t)s->kh - 1, at = mt + (size_t)s->kh - 1;
    /* output channels in whole panels: the forward's cout, the data gradient's cin */
    const size_t cols_f = (s->cout + pf - 1) / pf * pf, cols_t = (s->cin + pt - 1) / pt * pt;
    const size_t kf = mf ? af * af * s->cin * cols_f : (size_t)s->kh * s->kw * s->cin * cols_f;
    const size_t kt = !s->needs_din ? 0 : mt ? at * at * s->cout * cols_t : (size_t)s->kh * s->kw * s->cout * cols_t;
    size_t scratch = 0; /* the largest of the three products' (the weight gradient's blocks may be larger) */
    for (int i = 0; i < 3; i++) {
        const size_t m = i == 1 ? mt : mf, a = i == 1 ? at : af, chans = i == 1 ? s->cout + cols_t : s->cin + cols_f;
        const size_t tb = i == 2 ? CNN_WINO_TBW(m, (size_t)s->kh, s->cin, s->cout) : CNN_WINO_TB(m, (size_t)s->kh);
        const size_t sc = m ? (size_t)p->threads * a * a * tb * chans : 0;
        if (sc > scratch) scratch = sc;
    }
    const size_t copies = (size_t)((mf > 0) + (mt > 0)) * nw, prods = mf ? af * af * s->cin * s->cout : 0;
    const size_t want = pad_in + pad_g + kf + kt + scratch + copies + prods;
    if (!(p->ws_floats >= want && p->ws_floats <= want + 112))
        fail_msg("workspace %zu floats, want %zu (+ alignment)", p->ws_floats, want);
}

/* kernel: the family asked for (gemm, direct or winograd; the case must be one it applies to). */
static void check_against_naive(const Case *c, int expect_chunks, CnnConvKernel kernel, CnnIsa isa)
{
    CnnConvShape s;
    cnn_conv_shape(&s, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
    Conv cv;
    conv_make(&cv, &s, kernel, isa, 1);
    const CnnConvPlan *p = &cv.p;
    if (kernel != CNN_CONV_GEMM) {
        assert_true(cnn_conv_direct_applies(&s));
        const CnnAlgo want = kernel == CNN_CONV_DIRECT                                          ? CNN_ALGO_DIRECT
                             : kernel == CNN_CONV_WINOGRAD6 && cnn_conv_winograd_applies(&p->g, 6) ? CNN_ALGO_WINOGRAD6
                             : kernel != CNN_CONV_WINOGRAD2 && cnn_conv_winograd_applies(&p->g, 4) ? CNN_ALGO_WINOGRAD4
                             : cnn_conv_winograd_applies(&p->g, 2)                                 ? CNN_ALGO_WINOGRAD
                                                                                                    : CNN_ALGO_DIRECT;
        assert_int_equal(p->fwd, want);
        check_tiled_workspace(p);
        CnnConvShape first = s;
        first.needs_din = 0; /* a first layer keeps no room for the data gradient */
        CnnConvPlan pf;
        CnnErr err;
        assert_int_equal(cnn_conv_plan(&pf, &first, kernel, isa, 1, &err), 0);
        check_tiled_workspace(&pf);
        assert_true(pf.ws_floats < p->ws_floats);
    } else {
        assert_int_equal(p->fwd, CNN_ALGO_SGEMM);
    }
    size_t nin = (size_t)s.n * s.h * s.w * s.cin, nout = (size_t)s.n * s.oh * s.ow * s.cout;
    size_t nw = (size_t)s.kh * s.kw * s.cin * s.cout;
    size_t nws = p->ws_floats;
    if (kernel == CNN_CONV_GEMM) {
        size_t per = (size_t)s.oh * s.ow * s.kh * s.kw * s.cin;
        /* stride 1: backward lowers the data gradient as a conv of dout, whose columns may be larger, and
         * keeps the flipped kernel after the columns */
        size_t tper = (size_t)s.h * s.w * s.kh * s.kw * s.cout, flipped = 0;
        if (s.stride == 1 && !(c->k == 1)) {
            if (tper > per) per = tper;
            flipped = nw;
        }
        if (c->k == 1 && c->stride == 1) {
            assert_int_equal(nws, 0);
        } else {
            assert_true(nws >= flipped + per);
            assert_true((nws - flipped) % per == 0 && nws - flipped <= (size_t)s.n * per);
            if (expect_chunks > 1)
                assert_int_equal((s.n + (nws - flipped) / per - 1) / ((nws - flipped) / per), expect_chunks);
        }
    }
    float *in = malloc(nin * 4), *w = malloc(nw * 4), *b = malloc((size_t)s.cout * 4);
    float *out = malloc(nout * 4), *dout = malloc(nout * 4), *din = malloc(nin * 4);
    float *dw = malloc(nw * 4), *db = malloc((size_t)s.cout * 4);
    double *want = malloc(nout * 8), *wdin = malloc(nin * 8), *wdw = malloc(nw * 8);
    double *wdb = malloc((size_t)s.cout * 8);
    tu_fill_uniform(in, nin, -1, 1, 1);
    tu_fill_uniform(w, nw, -0.5f, 0.5f, 2);
    tu_fill_uniform(b, (size_t)s.cout, -1, 1, 3);
    tu_fill_uniform(dout, nout, -1, 1, 4);
    tu_poison(out, nout);
    cnn_conv_forward(out, cv.ws, in, w, b, p, s.n);
    tu_assert_finite(out, nout, "conv out");
    naive_forward(want, in, w, b, &s);
    /* absolute tolerances grow with the outputs' scale: Winograd's rounding is relative to the sums'
     * magnitudes (RMS relative error ~2e-6 for F(2x2), ~3.5e-6 for F(4x4); ~7e-7 direct) */
    const double tol_out = 1e-4 + 4e-5 * rms(want, nout);
    for (size_t i = 0; i < nout; i++) tu_assert_close(out[i], want[i], tol_out, 1e-4, "conv out", i);

    /* backward accumulates into dw/db: start them at 0.25 / -0.5 and subtract that afterwards */
    for (size_t i = 0; i < nw; i++) dw[i] = 0.25f;
    for (int i = 0; i < s.cout; i++) db[i] = -0.5f;
    tu_poison(din, nin);
    cnn_conv_backward(din, dw, db, cv.ws, dout, in, w, p, s.n, 0, CNN_GRAD_ACCUMULATE);
    tu_assert_finite(din, nin, "conv din");
    naive_backward(wdin, wdw, wdb, dout, in, w, &s);
    const double tol_din = 1e-4 + 4e-5 * rms(wdin, nin), tol_dw = 2e-4 + 4e-5 * rms(wdw, nw);
    for (size_t i = 0; i < nin; i++) tu_assert_close(din[i], wdin[i], tol_din, 1e-4, "conv din", i);
    for (size_t i = 0; i < nw; i++) tu_assert_close((double)dw[i] - 0.25, wdw[i], tol_dw, 1e-4, "conv dw", i);
    for (int i = 0; i < s.cout; i++) tu_assert_close((double)db[i] + 0.5, wdb[i], 2e-4, 1e-4, "conv db", (size_t)i);

    /* overwriting: dw and db poisoned, every element written with the accumulated-from-zero value */
    {
        float *dw0 = malloc(nw * 4), *db0 = malloc((size_t)s.cout * 4);
        memset(dw0, 0, nw * 4);
        memset(db0, 0, (size_t)s.cout * 4);
        cnn_conv_backward(din, dw0, db0, cv.ws, dout, in, w, p, s.n, 0, CNN_GRAD_ACCUMULATE);
        tu_poison(dw, nw);
        tu_poison(db, (size_t)s.cout);
        cnn_conv_backward(din, dw, db, cv.ws, dout, in, w, p, s.n, 0, CNN_GRAD_OVERWRITE);
        for (size_t i = 0; i < nw; i++)
            if (!(dw[i] == dw0[i])) fail_msg("overwrite dw[%zu] = %g, accumulated %g", i, (double)dw[i], (double)dw0[i]);
        for (int i = 0; i < s.cout; i++) assert_true(db[i] == db0[i]);
        for (size_t i = 0; i < nw; i++) dw[i] = dw0[i] + 0.25f;
        for (int i = 0; i < s.cout; i++) db[i] = db0[i] - 0.5f;
        free(dw0), free(db0);
    }

    /* without din: same dw (accumulated a second time), din untouched */
    tu_poison(din, nin);
    cnn_conv_backward(NULL, dw, db, cv.ws, dout, in, w, p, s.n, 0, CNN_GRAD_ACCUMULATE);
    for (size_t i = 0; i < nin; i++) assert_true(isnan(din[i]));
    for (size_t i = 0; i < nw; i++) tu_assert_close((double)dw[i] - 0.25, 2 * wdw[i], 2 * tol_dw, 1e-4, "conv dw x2", i);

    /* what the forward keeps is reused by backward: bitwise the same gradients */
    if (cnn_conv_keeps_input(p, s.n)) {
        float *dw2 = calloc(nw, 4), *db2 = calloc((size_t)s.cout, 4), *din2 = malloc(nin * 4);
        memset(dw, 0, nw * 4);
        memset(db, 0, (size_t)s.cout * 4);
        cnn_conv_backward(din, dw, db, cv.ws, dout, in, w, p, s.n, 0, CNN_GRAD_ACCUMULATE);
        cnn_conv_forward(out, cv.ws, in, w, b, p, s.n);
        cnn_conv_backward(din2, dw2, db2, cv.ws, dout, in, w, p, s.n, 1, CNN_GRAD_ACCUMULATE);
        assert_memory_equal(dw, dw2, nw * 4);
        assert_memory_equal(din, din2, nin * 4);
        free(dw2), free(db2), free(din2);
    } else {
        assert_true(c->k == 1 || expect_chunks > 1);
    }

    free(in), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db), free(cv.ws);
    free(want), free(wdin), free(wdw), free(wdb);
}

static void test_forward_backward_vs_naive(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 5, 6, 3, 4, 3, 1, 1},  {2, 5, 6, 3, 4, 3, 1, 0},  {3, 7, 7, 2, 5, 5, 2, 1},
        {1, 9, 8, 4, 3, 5, 2, 0},  {2, 10, 11, 3, 2, 3, 3, 1}, {2, 10, 11, 3, 2, 3, 3, 0},
        {3, 6, 5, 7, 6, 1, 1, 1},  {2, 7, 6, 5, 4, 1, 2, 1},  {2, 7, 6, 5, 4, 1, 3, 0},
        {1, 1, 1, 3, 2, 3, 1, 1},  {2, 4, 4, 1, 1, 5, 1, 1},  {4, 24, 24, 3, 8, 5, 1, 1},
        {2, 13, 9, 6, 7, 3, 2, 1},
    };
    TU_FOR_EACH_ISA(isa, k) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_against_naive(&cases[i], 0, CNN_CONV_GEMM, isa);
        (void)k;
    }
}

/* The direct kernels: SAME and VALID, odd and even kernels (SAME pads 0 before, 1 after for k = 2),
 * pixel counts that leave partial pixel tiles, kw*cin rows that leave partial dW tiles, several
 * panels, input channels that are not a whole panel (a partial panel in the data gradient), 48 output
 * channels (3 vectors of 16), and the CIFAR-10 network's own two shapes. */
static const Case direct_cases[] = {
    {2, 5, 6, 3, 16, 3, 1, 1},   {2, 7, 6, 5, 32, 3, 1, 0},   {3, 4, 5, 20, 16, 2, 1, 1},
    {1, 9, 7, 17, 48, 5, 1, 1},  {2, 3, 3, 16, 16, 3, 1, 0},  {2, 12, 12, 64, 64, 5, 1, 1},
    {2, 24, 24, 3, 64, 5, 1, 1}, {1, 6, 7, 40, 80, 3, 1, 1},
    /* strided (from 8 input channels): SAME with even and odd sizes, VALID leaving the last input row and
     * column unread, 5x5, stride 3, and ResNet-20's two downsampling layers */
    {2, 16, 16, 16, 32, 3, 2, 1}, {2, 15, 13, 16, 16, 3, 2, 1}, {2, 10, 10, 8, 16, 3, 2, 0},
    {1, 12, 11, 32, 16, 5, 2, 1}, {2, 8, 8, 16, 16, 3, 3, 1},   {2, 32, 32, 16, 32, 3, 2, 1},
    {2, 16, 16, 32, 64, 3, 2, 1},
    /* output channels a multiple of 8 but not of 16 (a masked last panel on AVX-512): airbench's 2x2
     * whitening conv (3 -> 24, VALID), 40 filters over 5x5; and 1x1 kernels, stride 1 and 2 (ResNet's
     * projection shortcut, option B) */
    {2, 32, 32, 3, 24, 2, 1, 0}, {2, 9, 7, 16, 40, 5, 1, 1}, {2, 6, 7, 16, 24, 1, 1, 1},
    {2, 16, 16, 16, 32, 1, 2, 1}, {3, 9, 9, 8, 8, 1, 2, 0},
};

static void test_direct_vs_naive(void **state)
{
    (void)state;
    int ran = 0;
    TU_FOR_EACH_ISA(isa, k) {
        if (!k->tiles) continue; /* generic: only the sgemm family (no FMA) */
        for (size_t i = 0; i < sizeof direct_cases / sizeof direct_cases[0]; i++) {
            check_against_naive(&direct_cases[i], 0, CNN_CONV_DIRECT, isa);
            if (direct_cases[i].stride > 1) /* the data gradient by Winograd on the dilated dout */
                check_against_naive(&direct_cases[i], 0, CNN_CONV_WINOGRAD, isa);
        }
        ran++;
    }
    if (!ran) skip(); /* CNN_ISA=generic or a CPU without AVX2 */
}

/* Winograd F(4x4, r x r) (run.conv = winograd, where the output sizes are multiples of 4), F(2x2, r x r)
 * (winograd2, and winograd elsewhere) and F(6x6, 3x3) (winograd6, where the sizes are multiples of 6) for
 * all three products, 5x5 and 3x3: SAME and VALID, the CIFAR-10 network's conv2, ResNet-20's 3x3 shapes,
 * several blocks of tiles across samples; a case where only the forward takes it (8 input channels: the
 * data gradient's 8 outputs are not a multiple of 16), 24 input channels (a 16-lane vector and a half in
 * the transforms), sizes that are multiples of 2 but not 4, or of 6 but not 4, and one where none
 * applies (an odd output size). */
static void test_winograd_vs_naive(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 12, 12, 64, 64, 5, 1, 1}, {3, 6, 8, 16, 32, 5, 1, 1}, {2, 10, 12, 32, 16, 5, 1, 0},
        {2, 6, 6, 8, 16, 5, 1, 1},    {1, 7, 6, 16, 16, 5, 1, 1},  {1, 6, 4, 16, 16, 5, 1, 1},
        {2, 8, 6, 24, 48, 5, 1, 1},   {3, 16, 8, 16, 32, 5, 1, 1}, {2, 12, 16, 8, 16, 5, 1, 0},
        {2, 12, 12, 64, 64, 3, 1, 1}, {2, 8, 8, 16, 16, 3, 1, 1},  {3, 16, 16, 16, 32, 3, 1, 1},
        {2, 8, 8, 32, 16, 3, 1, 0},   {2, 6, 6, 8, 16, 3, 1, 1},   {2, 12, 18, 24, 48, 3, 1, 1},
        {1, 7, 6, 16, 16, 3, 1, 1},   {2, 14, 14, 16, 16, 3, 1, 0},
        {4, 16, 16, 128, 128, 3, 1, 1}, /* wide: the weight gradient's blocks of 48 tiles (64 tiles: 48 + 16) */
    };
    int ran = 0;
    TU_FOR_EACH_ISA(isa, k) {
        if (!k->tiles) continue;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            check_against_naive(&cases[i], 0, CNN_CONV_WINOGRAD, isa);
            check_against_naive(&cases[i], 0, CNN_CONV_WINOGRAD2, isa);
            check_against_naive(&cases[i], 0, CNN_CONV_WINOGRAD6, isa);
        }
        ran++;
    }
    if (!ran) skip();
    const CnnConvdGeom both = {1, 16, 16, 64, 12, 12, 64, 5, 5, 1, 16, 16, 0, 0};
    const CnnConvdGeom odd = {1, 11, 10, 16, 7, 6, 16, 5, 5, 1, 11, 10, 0, 0};
    const CnnConvdGeom cin8 = {1, 10, 10, 8, 6, 6, 16, 5, 5, 1, 10, 10, 0, 0};
    const CnnConvdGeom k3 = {1, 14, 14, 64, 12, 12, 64, 3, 3, 1, 14, 14, 0, 0};
    assert_true(cnn_conv_winograd_applies(&both, 2));
    assert_true(cnn_conv_winograd_applies(&both, 4));
    assert_false(cnn_conv_winograd_applies(&odd, 2));
    assert_true(cnn_conv_winograd_applies(&cin8, 2));
    assert_false(cnn_conv_winograd_applies(&cin8, 4)); /* 6x6 outputs */
    assert_true(cnn_conv_winograd_applies(&k3, 2));
    assert_true(cnn_conv_winograd_applies(&k3, 4));
    assert_true(cnn_conv_winograd_applies(&k3, 6));
    assert_false(cnn_conv_winograd_applies(&both, 6)); /* F(6x6) is for 3x3 only */
    const CnnConvdGeom k3x16 = {1, 18, 18, 16, 16, 16, 16, 3, 3, 1, 18, 18, 0, 0};
    const CnnConvdGeom k7 = {1, 18, 18, 16, 12, 12, 16, 7, 7, 1, 18, 18, 0, 0};
    assert_true(cnn_conv_winograd_applies(&k3x16, 6)); /* 3x3: edge tiles where 6 does not divide 16 */
    assert_true(cnn_conv_winograd_applies(&k3x16, 4));
    assert_false(cnn_conv_winograd_applies(&k7, 2));
}

/* Runs forward and backward of a planned conv on fixed inputs: out, din, dw (dw starts at 0.125). */
static void run_conv(const Case *c, CnnConvKernel kernel, CnnIsa isa, int threads, float *out, float *din, float *dw)
{
    CnnConvShape s;
    cnn_conv_shape(&s, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
    Conv cv;
    conv_make(&cv, &s, kernel, isa, threads);
    const size_t nin = (size_t)s.n * s.h * s.w * s.cin, nout = (size_t)s.n * s.oh * s.ow * s.cout;
    const size_t nw = (size_t)s.kh * s.kw * s.cin * s.cout;
    float *in = malloc(nin * 4), *w = malloc(nw * 4), *b = malloc((size_t)s.cout * 4), *dout = malloc(nout * 4);
    float db[256] = {0};
    tu_fill_uniform(in, nin, -1, 1, 5);
    tu_fill_uniform(w, nw, -1, 1, 6);
    tu_fill_uniform(b, (size_t)s.cout, -1, 1, 7);
    tu_fill_uniform(dout, nout, -1, 1, 8);
    tu_poison(out, nout);
    tu_poison(din, nin);
    for (size_t i = 0; i < nw; i++) dw[i] = 0.125f;
    cnn_conv_forward(out, cv.ws, in, w, b, &cv.p, s.n);
    cnn_conv_backward(din, dw, db, cv.ws, dout, in, w, &cv.p, s.n, 1, CNN_GRAD_ACCUMULATE);
    tu_assert_finite(out, nout, "conv out");
    tu_assert_finite(din, nin, "conv din");
    assert_true(dw[0] != 0.125f && dw[nw - 1] != 0.125f);
    free(in), free(w), free(b), free(dout), free(cv.ws);
}

/* The tiled kernels give bitwise the same forward, data and weight gradients on 1 and 3 threads, and on
 * AVX2 and AVX-512 (each output is one lane's own chain in a fixed order, kernels.h), for every family
 * (direct, F(2x2), F(4x4), F(6x6)): the CIFAR-10 network's conv1 and conv2, a 48-channel case (AVX-512:
 * 3-vector panels; AVX2: 16-column ones), a Winograd case with several blocks of tiles and 24 input
 * channels (a half vector on AVX-512), and the 3x3 cases listed. */
static void test_tiles_bitwise(void **state)
{
    (void)state;
    static const Case cases[] = {
        {3, 24, 24, 3, 64, 5, 1, 1}, {4, 12, 12, 64, 64, 5, 1, 1}, {5, 6, 5, 32, 48, 5, 1, 1},
        {6, 6, 6, 24, 48, 5, 1, 1},  {5, 8, 8, 24, 48, 5, 1, 1},
        /* 3x3: ResNet's shape, edge tiles with a 24-channel data gradient (panels of 24 on AVX2, one
         * padded panel of 32 on AVX-512), a wide layer whose weight gradient takes blocks of 48 */
        {4, 16, 16, 16, 32, 3, 1, 1}, {3, 15, 15, 24, 64, 3, 1, 1}, {2, 16, 16, 128, 128, 3, 1, 1},
        /* airbench's whitening conv (24 filters: AVX2 panels of 8, one masked panel of 32 on AVX-512), 40
         * filters, and ResNet's 1x1 projection of stride 2: the direct tiles under every family */
        {3, 32, 32, 3, 24, 2, 1, 0}, {2, 8, 8, 16, 40, 3, 1, 1}, {3, 16, 16, 16, 32, 1, 2, 1},
    };
    const CnnConvKernel kernels[4] = {CNN_CONV_DIRECT, CNN_CONV_WINOGRAD2, CNN_CONV_WINOGRAD, CNN_CONV_WINOGRAD6};
    if (!cnn_kernels(tu_isa_max())->tiles) skip();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int kk = 0; kk < 4; kk++) {
            const Case *c = &cases[ci];
            CnnConvShape sh;
            cnn_conv_shape(&sh, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
            const size_t nin = (size_t)c->n * c->h * c->w * c->cin, nout = (size_t)c->n * sh.oh * sh.ow * c->cout;
            const size_t nw = (size_t)c->k * c->k * c->cin * c->cout;
            float *o1 = malloc(nout * 4), *i1 = malloc(nin * 4), *w1 = malloc(nw * 4);
            float *o2 = malloc(nout * 4), *i2 = malloc(nin * 4), *w2 = malloc(nw * 4);
            run_conv(c, kernels[kk], CNN_ISA_AVX2, 1, o1, i1, w1);
            run_conv(c, kernels[kk], CNN_ISA_AVX2, 3, o2, i2, w2);
            assert_memory_equal(o1, o2, nout * 4);
            assert_memory_equal(i1, i2, nin * 4);
            assert_memory_equal(w1, w2, nw * 4);
            if (tu_isa_max() >= CNN_ISA_AVX512) {
                run_conv(c, kernels[kk], CNN_ISA_AVX512, 2, o2, i2, w2);
                assert_memory_equal(o1, o2, nout * 4);
                assert_memory_equal(i1, i2, nin * 4);
                assert_memory_equal(w1, w2, nw * 4);
            }
            free(o1), free(i1), free(w1), free(o2), free(i2), free(w2);
        }
    if (tu_isa_max() < CNN_ISA_AVX512) {
        print_message("AVX-512 not available here (CPU or CNN_ISA): compared AVX2 with itself only\n");
        skip();
    }
}

/* The rounding each family adds on the CIFAR-10 network's conv2 (12x12, 64 -> 64 channels), forward and
 * data gradient, as RMS error relative to the outputs' RMS against float64: the figures the README gives
 * (direct ~7e-7, F(2x2) ~2e-6, F(4x4) ~3.5e-6), with room for other random draws. */
static void test_rounding_by_family(void **state)
{
    (void)state;
    if (!cnn_kernels(tu_isa_max())->tiles) skip();
    const Case c = {2, 12, 12, 64, 64, 5, 1, 1};
    const CnnConvKernel kernels[3] = {CNN_CONV_DIRECT, CNN_CONV_WINOGRAD2, CNN_CONV_WINOGRAD};
    const double bound[3] = {1.5e-6, 4e-6, 7e-6};
    double err[3];
    CnnConvShape s;
    cnn_conv_shape(&s, c.n, c.h, c.w, c.cin, c.cout, c.k, c.stride, c.same);
    const size_t nin = (size_t)s.n * s.h * s.w * s.cin, nout = (size_t)s.n * s.oh * s.ow * s.cout;
    const size_t nw = (size_t)25 * s.cin * s.cout;
    float *in = malloc(nin * 4), *w = malloc(nw * 4), *b = calloc((size_t)s.cout, 4), *out = malloc(nout * 4);
    float *dout = malloc(nout * 4), *din = malloc(nin * 4), *dw = calloc(nw, 4), *db = calloc((size_t)s.cout, 4);
    double *want = malloc(nout * 8), *wdin = malloc(nin * 8), *wdw = malloc(nw * 8), *wdb = malloc((size_t)s.cout * 8);
    tu_fill_uniform(in, nin, -1, 1, 61);
    tu_fill_uniform(w, nw, -0.1f, 0.1f, 62);
    tu_fill_uniform(dout, nout, -1, 1, 63);
    naive_forward(want, in, w, b, &s);
    naive_backward(wdin, wdw, wdb, dout, in, w, &s);
    for (int kk = 0; kk < 3; kk++) {
        Conv cv;
        conv_make(&cv, &s, kernels[kk], tu_isa_max(), 1);
        cnn_conv_forward(out, cv.ws, in, w, b, &cv.p, s.n);
        cnn_conv_backward(din, dw, db, cv.ws, dout, in, w, &cv.p, s.n, 1, CNN_GRAD_OVERWRITE);
        double e = 0, ed = 0;
        for (size_t i = 0; i < nout; i++) e += ((double)out[i] - want[i]) * ((double)out[i] - want[i]);
        for (size_t i = 0; i < nin; i++) ed += ((double)din[i] - wdin[i]) * ((double)din[i] - wdin[i]);
        e = sqrt(e / (double)nout) / rms(want, nout);
        ed = sqrt(ed / (double)nin) / rms(wdin, nin);
        err[kk] = e > ed ? e : ed;
        print_message("conv2 %s: RMS relative error %.2e (forward), %.2e (data gradient)\n", cnn_algo_name(cv.p.fwd), e, ed);
        if (!(err[kk] < bound[kk])) fail_msg("%s rounds more than %g", cnn_algo_name(cv.p.fwd), bound[kk]);
        free(cv.ws);
    }
    assert_true(err[0] < err[1] && err[1] < err[2]);
    free(in), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db);
    free(want), free(wdin), free(wdw), free(wdb);
}

/* The plan: run.conv = auto takes Winograd F(4x4), else F(2x2), else direct, where they apply on a set
 * with tiles, and sgemm otherwise; winograd2 stops at F(2x2); direct or winograd asked for on the generic
 * set is an error; the decision does not depend on the instruction set among those with tiles. */
static void test_plan_decisions(void **state)
{
    (void)state;
    CnnConvShape s;
    CnnConvPlan p;
    CnnErr err;
    cnn_conv_shape(&s, 2, 12, 12, 64, 64, 5, 1, 1);
    assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_AUTO, CNN_ISA_GENERIC, 1, &err), 0);
    assert_int_equal(p.fwd, CNN_ALGO_SGEMM);
    assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_WINOGRAD, CNN_ISA_GENERIC, 1, &err), -1);
    assert_non_null(strstr(err.msg, "run.conv = winograd needs AVX2"));
    assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_DIRECT, CNN_ISA_GENERIC, 1, &err), -1);
    for (CnnIsa isa = CNN_ISA_AVX2; isa <= CNN_ISA_AVX512; isa = (CnnIsa)(isa + 1)) {
        assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_AUTO, isa, 2, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_WINOGRAD4);
        assert_int_equal(p.dgrad, CNN_ALGO_WINOGRAD4);
        assert_int_equal(p.wgrad, CNN_ALGO_WINOGRAD4);
        assert_int_equal(p.threads, 2);
        assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_WINOGRAD2, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_WINOGRAD);
        assert_int_equal(p.wgrad, CNN_ALGO_WINOGRAD);
        assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_DIRECT, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_DIRECT);
        assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_GEMM, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_SGEMM);
        CnnConvShape t;
        cnn_conv_shape(&t, 2, 24, 24, 3, 64, 5, 1, 1); /* conv1: 3 input channels, and no data gradient */
        t.needs_din = 0;
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_DIRECT);
        char name[64];
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct");
        cnn_conv_shape(&t, 2, 12, 12, 8, 16, 5, 1, 1); /* data gradient's 8 outputs: direct there */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "winograd4 fwd+dW, direct dX");
        cnn_conv_shape(&t, 2, 14, 14, 32, 64, 5, 1, 1); /* the MNIST network's conv2: 14 is even, not a multiple of 4 */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "winograd");
        cnn_conv_shape(&t, 2, 12, 12, 64, 64, 5, 2, 1); /* stride 2: direct, its data gradient on dilated dout */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct fwd+dW, winograd4 dX");
        cnn_conv_shape(&t, 2, 32, 32, 16, 32, 3, 2, 1); /* ResNet's downsampling 3x3 */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct fwd+dW, winograd4 dX");
        assert_int_equal(p.g.stride, 2);
        assert_int_equal(p.g.ph, 33); /* (16 - 1) * 2 + 3 rows read; SAME pads 0 above, 1 below */
        cnn_conv_shape(&t, 2, 31, 31, 24, 64, 3, 1, 1); /* airbench's first 3x3: a data gradient of 24 channels */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "winograd4");
        cnn_conv_shape(&t, 2, 32, 32, 3, 16, 3, 2, 1); /* strided with 3 input channels: as before */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_SGEMM);
        cnn_conv_shape(&t, 2, 12, 12, 64, 24, 5, 1, 1); /* 24 output channels: direct, not Winograd */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct fwd+dW, winograd4 dX");
        cnn_conv_shape(&t, 2, 32, 32, 3, 24, 2, 1, 0); /* airbench's whitening conv */
        t.needs_din = 0;
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct");
        cnn_conv_shape(&t, 2, 12, 12, 64, 20, 3, 1, 1); /* 20 output channels: OpenBLAS */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_DIRECT, isa, 1, &err), 0);
        assert_int_equal(p.fwd, CNN_ALGO_SGEMM);
        cnn_conv_shape(&t, 2, 12, 12, 64, 64, 1, 1, 1); /* 1x1, stride 1 and 2: direct */
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct");
        cnn_conv_shape(&t, 2, 32, 32, 16, 32, 1, 2, 1);
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_name(&p, name, sizeof name);
        assert_string_equal(name, "direct");
        assert_int_equal(cnn_conv_plan(&p, &t, CNN_CONV_GEMM, isa, 1, &err), 0); /* still to be asked for */
        assert_int_equal(p.fwd, CNN_ALGO_SGEMM);
    }
}

/* The time model (plan.h): linear in the samples, inverse in the peak; a layer without a data gradient
 * predicts none; on airbench94's b2_conv2 (7x7, 256 -> 256) it orders the families as bench/conv3x3
 * measured them on a Zen 4 core (F(4x4) < F(2x2) < direct, forward and weight gradient) and lands within
 * 25% of those measurements (64 samples at 116 GFLOP/s: F(4x4) 13-15 ms forward, 18-21 weight gradient;
 * direct 35-36 forward); the FMA probe measures a peak on a tiled instruction set, none on the generic. */
static void test_time_model(void **state)
{
    (void)state;
    CnnConvShape s;
    CnnErr err;
    cnn_conv_shape(&s, 1, 7, 7, 256, 256, 3, 1, 1);
    for (CnnIsa isa = CNN_ISA_AVX2; isa <= CNN_ISA_AVX512; isa = (CnnIsa)(isa + 1)) {
        const CnnConvKernel fam[3] = {CNN_CONV_WINOGRAD4, CNN_CONV_WINOGRAD2, CNN_CONV_DIRECT};
        CnnPlanTime t[3];
        for (int f = 0; f < 3; f++) {
            CnnConvPlan p;
            assert_int_equal(cnn_conv_plan(&p, &s, fam[f], isa, 1, &err), 0);
            cnn_conv_plan_time(&p, 64, 116.0, &t[f]);
            CnnPlanTime t2, half;
            cnn_conv_plan_time(&p, 128, 116.0, &t2);
            cnn_conv_plan_time(&p, 64, 232.0, &half);
            assert_true(fabs(t2.fwd - 2 * t[f].fwd) <= 1e-9 * t2.fwd);
            assert_true(fabs(half.wgrad - t[f].wgrad / 2) <= 1e-9 * half.wgrad);
            assert_true(t[f].dgrad > 0);
        }
        assert_true(t[0].fwd < t[1].fwd && t[1].fwd < t[2].fwd);
        assert_true(t[0].wgrad < t[1].wgrad && t[1].wgrad < t[2].wgrad);
        assert_true(t[0].fwd > 14.0 / 1.25 && t[0].fwd < 14.0 * 1.25);
        assert_true(t[0].wgrad > 19.5 / 1.25 && t[0].wgrad < 19.5 * 1.25);
        assert_true(t[2].fwd > 35.5 / 1.25 && t[2].fwd < 35.5 * 1.25);
        CnnConvShape first = s;
        first.needs_din = 0;
        CnnConvPlan p;
        assert_int_equal(cnn_conv_plan(&p, &first, CNN_CONV_AUTO, isa, 1, &err), 0);
        cnn_conv_plan_time(&p, 64, 116.0, &t[0]);
        assert_true(t[0].dgrad == 0.0 && t[0].fwd > 0);
    }
    if (cnn_kernels(tu_isa_max())->tiles) assert_true(cnn_fma_peak(cnn_kernels(tu_isa_max())) > 1.0);
    assert_true(cnn_fma_peak(cnn_kernels(CNN_ISA_GENERIC)) == 0.0);
}

/* A Winograd forward that pools in its output pass (cnn_conv_forward_pool, the model's conv -> 2x2 max-pool
 * fusion) gives bitwise the forward and maxpool_forward apart: pooled values and argmax, on every tiled
 * instruction set, F(2x2), F(4x4) and F(6x6), with and without bias, even and odd output sizes (the last
 * row and column of an odd size pooled by nobody; tiles cut by the edge), 32 and 48 filters (AVX-512: a
 * panel of 32 and one of 16), and ties: a block of zero input gives equal outputs, where the first cell
 * must win. */
static void test_forward_pool(void **state)
{
    (void)state;
    static const int cases[][5] = {{8, 8, 16, 32, 4}, {9, 9, 8, 48, 4}, {15, 15, 16, 32, 4},
                                   {7, 11, 8, 32, 2}, {13, 13, 16, 48, 6}, {3, 3, 16, 32, 4}}; /* h, w, cin, cout, m */
    TU_FOR_EACH_ISA(isa, k) {
        if (!k->tiles) continue;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            for (int bias = 0; bias < 2; bias++) {
                const int n = 3, h = cases[c][0], w = cases[c][1], cin = cases[c][2], cout = cases[c][3];
                const CnnConvKernel fam = cases[c][4] == 2 ? CNN_CONV_WINOGRAD2 : cases[c][4] == 4 ? CNN_CONV_WINOGRAD4
                                                                                                 : CNN_CONV_WINOGRAD6;
                CnnConvShape s;
                cnn_conv_shape(&s, n, h, w, cin, cout, 3, 1, 1);
                CnnConvPlan p;
                CnnErr err;
                assert_int_equal(cnn_conv_plan(&p, &s, fam, isa, 1, &err), 0);
                assert_int_equal(p.fwd_m, cases[c][4]);
                assert_true(cnn_conv_pools(&p));
                const size_t nin = (size_t)n * h * w * cin, nout = (size_t)n * h * w * cout, nw = (size_t)9 * cin * cout;
                CnnPoolShape ps;
                cnn_pool_shape(&ps, n, h, w, cout, 2, 2, 0);
                const size_t np = (size_t)n * ps.oh * ps.ow * cout;
                float *in = malloc(nin * 4), *wt = malloc(nw * 4), *b = malloc((size_t)cout * 4), *out = malloc(nout * 4);
                float *ws = cnn_aligned(p.ws_floats * 4), *ws2 = cnn_aligned(p.ws_floats * 4);
                float *pool[2] = {malloc(np * 4), malloc(np * 4)};
                int32_t *arg[2] = {malloc(np * 4), malloc(np * 4)};
                tu_fill_uniform(in, nin, -1, 1, 60 + c);
                for (int y = 0; y < h / 2; y++) /* a zero block in sample 0: equal outputs in its middle */
                    memset(in + (size_t)y * w * cin, 0, (size_t)(w / 2) * cin * 4);
                tu_fill_uniform(wt, nw, -0.3f, 0.3f, 70 + c);
                for (int o = 0; o < cout; o++) b[o] = bias ? 0.1f * (float)(o % 5) - 0.2f : 0.0f;
                memset(ws, 0, p.ws_floats * 4);
                memset(ws2, 0, p.ws_floats * 4);
                cnn_conv_forward(out, ws, in, wt, bias ? b : NULL, &p, n);
                k->maxpool_forward(pool[0], arg[0], out, &ps);
                tu_poison(pool[1], np);
                cnn_conv_forward_pool(pool[1], arg[1], ws2, in, wt, bias ? b : NULL, &p, n);
                assert_memory_equal(pool[0], pool[1], np * 4);
                assert_memory_equal(arg[0], arg[1], np * 4);
                free(in), free(wt), free(b), free(out), free(ws), free(ws2);
                for (int i = 0; i < 2; i++) free(pool[i]), free(arg[i]);
            }
    }
}

static void test_multi_chunk(void **state)
{
    (void)state;
    /* per sample: 32*32 pixels x 5*5*16 = 409600 floats; 4M-float target -> 10 samples per chunk,
     * so 23 samples take chunks of 10, 10, 3. */
    const Case c = {23, 32, 32, 16, 4, 5, 1, 1};
    CnnConvShape s;
    CnnConvPlan p;
    CnnErr err;
    cnn_conv_shape(&s, c.n, c.h, c.w, c.cin, c.cout, c.k, c.stride, c.same);
    assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_GEMM, CNN_ISA_GENERIC, 1, &err), 0);
    assert_int_equal(p.gemm_chunk, 10);
    assert_int_equal(p.ws_floats, 10 * 409600 + 5 * 5 * 16 * 4);
    check_against_naive(&c, 3, CNN_CONV_GEMM, CNN_ISA_GENERIC);
    /* a single huge sample still gets a workspace of one sample */
    cnn_conv_shape(&s, 3, 64, 64, 64, 8, 5, 1, 1);
    assert_int_equal(cnn_conv_plan(&p, &s, CNN_CONV_GEMM, CNN_ISA_GENERIC, 1, &err), 0);
    assert_int_equal(p.gemm_chunk, 1);
    assert_int_equal(p.ws_floats, (size_t)64 * 64 * 25 * 64 + 5 * 5 * 64 * 8);
}

/* ---- central differences ---- */
typedef struct {
    Conv cv;
    CnnConvShape s;
    float *in, *w, *b, *out, *r;
} GradCtx;

static double conv_loss(void *p)
{
    GradCtx *g = p;
    size_t nout = (size_t)g->s.n * g->s.oh * g->s.ow * g->s.cout;
    cnn_conv_forward(g->out, g->cv.ws, g->in, g->w, g->b, &g->cv.p, g->s.n);
    return tu_dot(g->out, g->r, nout);
}

static void test_gradcheck(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 5, 6, 3, 4, 3, 1, 1}, {2, 7, 7, 2, 3, 5, 2, 1}, {1, 8, 7, 3, 2, 3, 3, 0},
        {2, 4, 5, 3, 2, 1, 1, 1}, {2, 6, 6, 2, 3, 1, 2, 1}, {3, 6, 5, 2, 3, 2, 2, 1},
        /* the tiled kernels, where the instruction set has them; the last with Winograd throughout */
        {2, 5, 4, 3, 16, 3, 1, 1}, {1, 6, 5, 18, 32, 3, 1, 0}, {1, 6, 4, 16, 16, 5, 1, 1}, {1, 8, 4, 16, 16, 5, 1, 1},
        /* 3x3: F(4x4) whole tiles, F(4x4) with edge tiles, stride 2 (direct, its dX Winograd on dilated dout) */
        {1, 8, 8, 16, 16, 3, 1, 1}, {1, 7, 9, 8, 16, 3, 1, 1}, {1, 7, 7, 16, 16, 3, 2, 1},
    };
    const CnnAlgo want_fwd[] = {CNN_ALGO_DIRECT, CNN_ALGO_DIRECT,    CNN_ALGO_WINOGRAD, CNN_ALGO_WINOGRAD4,
                                CNN_ALGO_WINOGRAD4, CNN_ALGO_WINOGRAD4, CNN_ALGO_DIRECT};
    const size_t n_plain = 6, n_all = sizeof cases / sizeof cases[0];
    TU_FOR_EACH_ISA(isa, k) {
        const size_t n_cases = k->tiles ? n_all : n_plain;
        for (size_t t = 0; t < n_cases; t++) {
            const Case *c = &cases[t];
            GradCtx g;
            cnn_conv_shape(&g.s, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
            conv_make(&g.cv, &g.s, t < n_plain ? CNN_CONV_GEMM : CNN_CONV_AUTO, isa, 1);
            if (t >= n_plain) assert_int_equal(g.cv.p.fwd, want_fwd[t - n_plain]);
            if (t == n_all - 1) assert_int_equal(g.cv.p.dgrad, CNN_ALGO_WINOGRAD4);
            size_t nin = (size_t)g.s.n * g.s.h * g.s.w * g.s.cin, nout = (size_t)g.s.n * g.s.oh * g.s.ow * g.s.cout;
            size_t nw = (size_t)g.s.kh * g.s.kw * g.s.cin * g.s.cout;
            g.in = malloc(nin * 4), g.w = malloc(nw * 4), g.b = malloc((size_t)g.s.cout * 4);
            g.out = malloc(nout * 4), g.r = malloc(nout * 4);
            float *din = malloc(nin * 4), *dw = calloc(nw, 4), *db = calloc((size_t)g.s.cout, 4);
            tu_fill_uniform(g.in, nin, -1, 1, 10 + t);
            tu_fill_uniform(g.w, nw, -1, 1, 20 + t);
            tu_fill_uniform(g.b, (size_t)g.s.cout, -1, 1, 30 + t);
            tu_fill_uniform(g.r, nout, -1, 1, 40 + t);
            tu_poison(din, nin);
            cnn_conv_backward(din, dw, db, g.cv.ws, g.r, g.in, g.w, &g.cv.p, g.s.n, 0, CNN_GRAD_ACCUMULATE);
            /* the loss is linear in in, w and b, so a large step costs no truncation error and keeps
             * float rounding (sums of up to 400 products here) small against the difference */
            const float H = 0.25f;
            tu_gradcheck(conv_loss, &g, g.in, din, nin, 200, H, 2e-3, 2e-3, "conv din");
            tu_gradcheck(conv_loss, &g, g.w, dw, nw, 200, H, 2e-3, 2e-3, "conv dw");
            tu_gradcheck(conv_loss, &g, g.b, db, (size_t)g.s.cout, 200, H, 2e-3, 2e-3, "conv db");
            free(g.in), free(g.w), free(g.b), free(g.out), free(g.r), free(g.cv.ws), free(din), free(dw), free(db);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_valid_table),
        cmocka_unit_test(test_forward_backward_vs_naive),
        cmocka_unit_test(test_multi_chunk),
        cmocka_unit_test(test_direct_vs_naive),
        cmocka_unit_test(test_winograd_vs_naive),
        cmocka_unit_test(test_plan_decisions),
        cmocka_unit_test(test_time_model),
        cmocka_unit_test(test_forward_pool),
        cmocka_unit_test(test_tiles_bitwise),
        cmocka_unit_test(test_rounding_by_family),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
