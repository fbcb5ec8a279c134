/* conv: TensorFlow's SAME/VALID shapes from a hand-written table; forward and backward against a
 * naive direct convolution in double (kernels 1, 3, 5; strides 1, 2, 3; odd sizes; batches that need
 * several workspace chunks); central-difference gradient checks of din, dW and db; accumulation into
 * dW/db; every output element written. */
#include "testutil.h"

#include "cnn/nn/conv_direct.h"
#include "cnn/nn/layers.h"
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

/* direct: 1 = the conv_direct kernels (the case must be one they apply to), 0 = im2col + sgemm;
 * wino: with direct, Winograd where it applies. */
static void check_against_naive(const Case *c, int expect_chunks, int direct, int wino)
{
    CnnConvShape s;
    cnn_conv_shape(&s, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
    assert_int_equal(s.direct, cnn_convd_preferred() && cnn_conv_direct_applies(&s));
    assert_int_equal(s.winograd, s.direct);
    if (direct) assert_true(cnn_conv_direct_applies(&s));
    s.direct = direct;
    s.winograd = wino;
    size_t nin = (size_t)s.n * s.h * s.w * s.cin, nout = (size_t)s.n * s.oh * s.ow * s.cout;
    size_t nw = (size_t)s.kh * s.kw * s.cin * s.cout;
    size_t per = (size_t)s.oh * s.ow * s.kh * s.kw * s.cin;
    /* stride 1: backward lowers the data gradient as a conv of dout, whose columns may be larger, and
     * keeps the flipped kernel after the columns */
    size_t tper = (size_t)s.h * s.w * s.kh * s.kw * s.cout, flipped = 0;
    if (s.stride == 1 && !(c->k == 1)) {
        if (tper > per) per = tper;
        flipped = nw;
    }
    size_t nws = cnn_conv_workspace(&s);
    if (direct && wino) {
        /* padded input and dout, the transformed kernels (36 x cin x cout each), a thread's scratch */
        const CnnConvdGeom gf = {s.n, s.oh + 4, s.ow + 4, s.cin, s.oh, s.ow, s.cout, 5, 5};
        const CnnConvdGeom gt = {s.n, s.h + 4, s.w + 4, s.cout, s.h, s.w, s.cin, 5, 5};
        const int wf = cnn_convd_winograd_applies(&gf), wt = cnn_convd_winograd_applies(&gt);
        size_t pad_in = (size_t)s.n * gf.ph * gf.pw * s.cin, pad_g = (size_t)s.n * gt.ph * gt.pw * s.cout;
        size_t kf = wf ? 36 * (size_t)s.cin * s.cout : cnn_convd_packed_floats(25 * s.cin, s.cout);
        size_t kt = wt ? 36 * (size_t)s.cin * s.cout : cnn_convd_packed_floats(25 * s.cout, s.cin);
        size_t scratch = wf || wt ? cnn_convd_winograd_scratch_floats(s.cin, s.cout, s.threads) : 0;
        size_t copies = (size_t)(wf + wt) * 25 * s.cin * s.cout; /* the weights each transform was made from */
        size_t prods = wf ? 36 * (size_t)s.cin * s.cout : 0;     /* the weight gradient's 36 products */
        assert_true(nws >= pad_in + pad_g + kf + kt + scratch + copies + prods &&
                    nws <= pad_in + pad_g + kf + kt + scratch + copies + prods + 112);
    } else if (direct) {
        /* padded input and dout, the kernel packed twice in panels of 16 */
        size_t pad_in = (size_t)s.n * (s.oh + s.kh - 1) * (s.ow + s.kw - 1) * s.cin;
        size_t pad_g = (size_t)s.n * (s.h + s.kh - 1) * (s.w + s.kw - 1) * s.cout;
        size_t wt = (size_t)s.kh * s.kw * s.cout * ((s.cin + 15) / 16 * 16);
        assert_true(nws >= pad_in + pad_g + nw + wt && nws <= pad_in + pad_g + nw + wt + 64);
        CnnConvShape first = s;
        first.needs_din = 0; /* a first layer keeps no room for the data gradient */
        assert_int_equal(cnn_conv_workspace(&first), (pad_in + 15) / 16 * 16 + nw);
    } else if (c->k == 1 && c->stride == 1)
        assert_int_equal(nws, 0);
    else {
        assert_true(nws >= flipped + per);
        assert_true((nws - flipped) % per == 0 && nws - flipped <= (size_t)s.n * per);
    }
    if (direct) flipped = per = 1; /* not used below */
    if (expect_chunks > 1) assert_int_equal((s.n + (nws - flipped) / per - 1) / ((nws - flipped) / per), expect_chunks);
    float *in = malloc(nin * 4), *w = malloc(nw * 4), *b = malloc((size_t)s.cout * 4);
    float *out = malloc(nout * 4), *dout = malloc(nout * 4), *din = malloc(nin * 4);
    float *dw = malloc(nw * 4), *db = malloc((size_t)s.cout * 4), *ws = malloc((nws ? nws : 1) * 4);
    double *want = malloc(nout * 8), *wdin = malloc(nin * 8), *wdw = malloc(nw * 8);
    double *wdb = malloc((size_t)s.cout * 8);
    tu_fill_uniform(in, nin, -1, 1, 1);
    tu_fill_uniform(w, nw, -0.5f, 0.5f, 2);
    tu_fill_uniform(b, (size_t)s.cout, -1, 1, 3);
    tu_fill_uniform(dout, nout, -1, 1, 4);
    tu_poison(out, nout);
    tu_poison(ws, nws);
    cnn_conv_forward(out, ws, in, w, b, &s);
    tu_assert_finite(out, nout, "conv out");
    naive_forward(want, in, w, b, &s);
    for (size_t i = 0; i < nout; i++) tu_assert_close(out[i], want[i], 1e-4, 1e-4, "conv out", i);

    /* backward accumulates into dw/db: start them at 0.25 / -0.5 and subtract that afterwards */
    for (size_t i = 0; i < nw; i++) dw[i] = 0.25f;
    for (int i = 0; i < s.cout; i++) db[i] = -0.5f;
    tu_poison(din, nin);
    tu_poison(ws, nws);
    cnn_conv_backward(din, dw, db, ws, dout, in, w, &s, 0);
    tu_assert_finite(din, nin, "conv din");
    naive_backward(wdin, wdw, wdb, dout, in, w, &s);
    for (size_t i = 0; i < nin; i++) tu_assert_close(din[i], wdin[i], 1e-4, 1e-4, "conv din", i);
    for (size_t i = 0; i < nw; i++) tu_assert_close((double)dw[i] - 0.25, wdw[i], 2e-4, 1e-4, "conv dw", i);
    for (int i = 0; i < s.cout; i++) tu_assert_close((double)db[i] + 0.5, wdb[i], 2e-4, 1e-4, "conv db", (size_t)i);

    /* without din: same dw (accumulated a second time), din untouched */
    tu_poison(din, nin);
    cnn_conv_backward(NULL, dw, db, ws, dout, in, w, &s, 0);
    for (size_t i = 0; i < nin; i++) assert_true(isnan(din[i]));
    for (size_t i = 0; i < nw; i++) tu_assert_close((double)dw[i] - 0.25, 2 * wdw[i], 4e-4, 1e-4, "conv dw x2", i);

    /* columns left by the forward are reused by backward: bitwise the same gradients */
    if (cnn_conv_single_chunk(&s)) {
        float *dw2 = calloc(nw, 4), *db2 = calloc((size_t)s.cout, 4), *din2 = malloc(nin * 4);
        memset(dw, 0, nw * 4);
        memset(db, 0, (size_t)s.cout * 4);
        cnn_conv_backward(din, dw, db, ws, dout, in, w, &s, 0);
        cnn_conv_forward(out, ws, in, w, b, &s);
        cnn_conv_backward(din2, dw2, db2, ws, dout, in, w, &s, 1);
        assert_memory_equal(dw, dw2, nw * 4);
        assert_memory_equal(din, din2, nin * 4);
        free(dw2), free(db2), free(din2);
    } else {
        assert_true(c->k == 1 || expect_chunks > 1);
    }

    free(in), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db), free(ws);
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
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_against_naive(&cases[i], 0, 0, 0);
}

/* The direct kernels: SAME and VALID, odd and even kernels (SAME pads 0 before, 1 after for k = 2),
 * pixel counts that leave partial 6-pixel tiles, kw*cin rows that leave partial 6-row dW tiles,
 * several 16-channel panels, input channels that are not a multiple of 16 (a partial panel in the
 * data gradient), and the CIFAR-10 network's own two shapes. */
static const Case direct_cases[] = {
    {2, 5, 6, 3, 16, 3, 1, 1},   {2, 7, 6, 5, 32, 3, 1, 0},   {3, 4, 5, 20, 16, 2, 1, 1},
    {1, 9, 7, 17, 48, 5, 1, 1},  {2, 3, 3, 16, 16, 3, 1, 0},  {2, 12, 12, 64, 64, 5, 1, 1},
    {2, 24, 24, 3, 64, 5, 1, 1},
};

static void test_direct_vs_naive(void **state)
{
    (void)state;
    if (!cnn_convd_built()) skip(); /* a build without AVX2/FMA has only the sgemm path */
    for (size_t i = 0; i < sizeof direct_cases / sizeof direct_cases[0]; i++)
        check_against_naive(&direct_cases[i], 0, 1, 0);
}

/* Winograd F(2x2, 5x5) for the forward and the data gradient (the weight gradient stays direct):
 * SAME and VALID, the CIFAR-10 network's conv2, several blocks of tiles across samples; a case
 * where only the forward takes it (8 input channels: the data gradient's 8 outputs are not a whole
 * panel of 16) and one where neither does (an odd output size). */
static void test_winograd_vs_naive(void **state)
{
    (void)state;
    if (!cnn_convd_built()) skip();
    static const Case cases[] = {
        {2, 12, 12, 64, 64, 5, 1, 1}, {3, 6, 8, 16, 32, 5, 1, 1}, {2, 10, 12, 32, 16, 5, 1, 0},
        {2, 6, 6, 8, 16, 5, 1, 1},    {1, 7, 6, 16, 16, 5, 1, 1},   {1, 6, 4, 16, 16, 5, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_against_naive(&cases[i], 0, 1, 1);
    const CnnConvdGeom both = {1, 16, 16, 64, 12, 12, 64, 5, 5}, odd = {1, 11, 10, 16, 7, 6, 16, 5, 5};
    const CnnConvdGeom cin8 = {1, 10, 10, 8, 6, 6, 16, 5, 5}, k3 = {1, 14, 14, 64, 12, 12, 64, 3, 3};
    assert_true(cnn_convd_winograd_applies(&both));
    assert_false(cnn_convd_winograd_applies(&odd));
    assert_true(cnn_convd_winograd_applies(&cin8));
    assert_false(cnn_convd_winograd_applies(&k3));
}

/* Split among threads, the direct kernels give bitwise the same sums as on one. */
static void test_direct_threads_bitwise(void **state)
{
    (void)state;
    if (!cnn_convd_built()) skip();
    const CnnConvdGeom g = {5, 10, 9, 32, 6, 5, 48, 5, 5}; /* 5 samples, 6x5 out, 5x5 kernel */
    const size_t nin = (size_t)g.n * g.ph * g.pw * g.cin, nout = (size_t)g.n * g.oh * g.ow * g.cout;
    const size_t nw = (size_t)g.kh * g.kw * g.cin * g.cout;
    float *in = malloc(nin * 4), *w = malloc(nw * 4);
    float *wp = malloc(cnn_convd_packed_floats(g.kh * g.kw * g.cin, g.cout) * 4);
    float *b = malloc((size_t)g.cout * 4), *o1 = malloc(nout * 4), *o3 = malloc(nout * 4);
    float *d1 = malloc(nw * 4), *d3 = malloc(nw * 4);
    tu_fill_uniform(in, nin, -1, 1, 5);
    tu_fill_uniform(w, nw, -1, 1, 6);
    tu_fill_uniform(b, (size_t)g.cout, -1, 1, 7);
    cnn_convd_pack(wp, w, g.kh * g.kw * g.cin, g.cout);
    tu_poison(o1, nout);
    tu_poison(o3, nout);
    cnn_convd_forward(o1, in, wp, b, &g, 1);
    cnn_convd_forward(o3, in, wp, b, &g, 3);
    tu_assert_finite(o1, nout, "direct out");
    assert_memory_equal(o1, o3, nout * 4);
    for (size_t i = 0; i < nw; i++) d1[i] = d3[i] = 0.125f;
    cnn_convd_weight_grad(d1, in, o1, &g, 1);
    cnn_convd_weight_grad(d3, in, o1, &g, 3);
    assert_memory_equal(d1, d3, nw * 4);
    assert_true(d1[0] != 0.125f && d1[nw - 1] != 0.125f);
    /* Winograd: blocks of tiles split among threads */
    const CnnConvdGeom ge = {6, 10, 10, 32, 6, 6, 48, 5, 5}; /* 6 samples x 9 tiles: 3 blocks of 24 */
    assert_true(cnn_convd_winograd_applies(&ge));
    const size_t nin_e = (size_t)ge.n * ge.ph * ge.pw * ge.cin, nout_e = (size_t)ge.n * ge.oh * ge.ow * ge.cout;
    float *ine = malloc(nin_e * 4), *e1 = malloc(nout_e * 4), *e3 = malloc(nout_e * 4);
    float *u = malloc(cnn_convd_winograd_weights_floats(ge.cin, ge.cout) * 4);
    float *scratch = malloc(cnn_convd_winograd_scratch_floats(ge.cin, ge.cout, 3) * 4);
    tu_fill_uniform(ine, nin_e, -1, 1, 9);
    cnn_convd_winograd_weights(u, w, ge.cin, ge.cout, 0); /* w has 25 x 32 x 48 weights, as ge needs */
    tu_poison(e1, nout_e);
    tu_poison(e3, nout_e);
    cnn_convd_winograd_forward(e1, ine, u, b, &ge, scratch, 1);
    cnn_convd_winograd_forward(e3, ine, u, b, &ge, scratch, 3);
    tu_assert_finite(e1, nout_e, "winograd out");
    assert_memory_equal(e1, e3, nout_e * 4);
    /* and the weight gradient (threads split the 36 products), with e1 as the output gradient */
    float *prods = malloc(cnn_convd_winograd_weights_floats(ge.cin, ge.cout) * 4);
    for (size_t i = 0; i < nw; i++) d1[i] = d3[i] = 0.125f;
    cnn_convd_winograd_weight_grad(d1, ine, e1, &ge, prods, scratch, 1);
    cnn_convd_winograd_weight_grad(d3, ine, e1, &ge, prods, scratch, 3);
    tu_assert_finite(d1, nw, "winograd dw");
    assert_memory_equal(d1, d3, nw * 4);
    assert_true(d1[0] != 0.125f && d1[nw - 1] != 0.125f);
    free(ine), free(e1), free(e3), free(u), free(scratch), free(prods);
    free(in), free(w), free(wp), free(b), free(o1), free(o3), free(d1), free(d3);
}

/* Where the direct kernels do not apply, cnn_conv_shape leaves them off. */
static void test_direct_applies(void **state)
{
    (void)state;
    CnnConvShape s;
    cnn_conv_shape(&s, 2, 12, 12, 64, 64, 5, 1, 1);
    assert_int_equal(s.direct, cnn_convd_preferred());
    assert_int_equal(cnn_conv_direct_applies(&s), cnn_convd_built());
    cnn_conv_shape(&s, 2, 12, 12, 64, 64, 5, 2, 1); /* stride 2 */
    assert_int_equal(s.direct, 0);
    cnn_conv_shape(&s, 2, 12, 12, 64, 24, 5, 1, 1); /* 24 output channels */
    assert_int_equal(s.direct, 0);
    cnn_conv_shape(&s, 2, 12, 12, 64, 64, 1, 1, 1); /* 1x1: the input is already the column matrix */
    assert_int_equal(s.direct, 0);
}

static void test_multi_chunk(void **state)
{
    (void)state;
    /* per sample: 32*32 pixels x 5*5*16 = 409600 floats; 4M-float target -> 10 samples per chunk,
     * so 23 samples take chunks of 10, 10, 3. */
    const Case c = {23, 32, 32, 16, 4, 5, 1, 1};
    CnnConvShape s;
    cnn_conv_shape(&s, c.n, c.h, c.w, c.cin, c.cout, c.k, c.stride, c.same);
    assert_int_equal(cnn_conv_workspace(&s), 10 * 409600 + 5 * 5 * 16 * 4);
    check_against_naive(&c, 3, 0, 0);
    /* a single huge sample still gets a workspace of one sample */
    cnn_conv_shape(&s, 3, 64, 64, 64, 8, 5, 1, 1);
    assert_int_equal(cnn_conv_workspace(&s), (size_t)64 * 64 * 25 * 64 + 5 * 5 * 64 * 8);
}

/* ---- central differences ---- */
typedef struct {
    CnnConvShape s;
    float *in, *w, *b, *out, *ws, *r;
} GradCtx;

static double conv_loss(void *p)
{
    GradCtx *g = p;
    size_t nout = (size_t)g->s.n * g->s.oh * g->s.ow * g->s.cout;
    cnn_conv_forward(g->out, g->ws, g->in, g->w, g->b, &g->s);
    return tu_dot(g->out, g->r, nout);
}

static void test_gradcheck(void **state)
{
    (void)state;
    static const Case cases[] = {
        {2, 5, 6, 3, 4, 3, 1, 1}, {2, 7, 7, 2, 3, 5, 2, 1}, {1, 8, 7, 3, 2, 3, 3, 0},
        {2, 4, 5, 3, 2, 1, 1, 1}, {2, 6, 6, 2, 3, 1, 2, 1}, {3, 6, 5, 2, 3, 2, 2, 1},
        /* the direct kernels, when built; the last with Winograd for forward and data gradient */
        {2, 5, 4, 3, 16, 3, 1, 1}, {1, 6, 5, 18, 32, 3, 1, 0}, {1, 6, 4, 16, 16, 5, 1, 1},
    };
    const size_t n_plain = 6, n_cases = cnn_convd_built() ? 9 : n_plain;
    for (size_t t = 0; t < n_cases; t++) {
        const Case *c = &cases[t];
        GradCtx g;
        cnn_conv_shape(&g.s, c->n, c->h, c->w, c->cin, c->cout, c->k, c->stride, c->same);
        if (t >= n_plain) {
            assert_true(cnn_conv_direct_applies(&g.s));
            g.s.direct = 1;
            g.s.winograd = c->k == 5;
        }
        size_t nin = (size_t)g.s.n * g.s.h * g.s.w * g.s.cin, nout = (size_t)g.s.n * g.s.oh * g.s.ow * g.s.cout;
        size_t nw = (size_t)g.s.kh * g.s.kw * g.s.cin * g.s.cout, nws = cnn_conv_workspace(&g.s);
        g.in = malloc(nin * 4), g.w = malloc(nw * 4), g.b = malloc((size_t)g.s.cout * 4);
        g.out = malloc(nout * 4), g.r = malloc(nout * 4), g.ws = malloc((nws ? nws : 1) * 4);
        float *din = malloc(nin * 4), *dw = calloc(nw, 4), *db = calloc((size_t)g.s.cout, 4);
        tu_fill_uniform(g.in, nin, -1, 1, 10 + t);
        tu_fill_uniform(g.w, nw, -1, 1, 20 + t);
        tu_fill_uniform(g.b, (size_t)g.s.cout, -1, 1, 30 + t);
        tu_fill_uniform(g.r, nout, -1, 1, 40 + t);
        tu_poison(din, nin);
        cnn_conv_backward(din, dw, db, g.ws, g.r, g.in, g.w, &g.s, 0);
        /* the loss is linear in in, w and b, so a large step costs no truncation error and keeps
         * float rounding (sums of up to 400 products here) small against the difference */
        const float H = 0.25f;
        tu_gradcheck(conv_loss, &g, g.in, din, nin, 200, H, 2e-3, 2e-3, "conv din");
        tu_gradcheck(conv_loss, &g, g.w, dw, nw, 200, H, 2e-3, 2e-3, "conv dw");
        tu_gradcheck(conv_loss, &g, g.b, db, (size_t)g.s.cout, 200, H, 2e-3, 2e-3, "conv db");
        free(g.in), free(g.w), free(g.b), free(g.out), free(g.r), free(g.ws), free(din), free(dw), free(db);
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
        cmocka_unit_test(test_direct_applies),
        cmocka_unit_test(test_direct_threads_bitwise),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
