/* conv: 2-D convolution in NHWC with HWIO weights, TensorFlow's SAME/VALID rule (cnn_same_valid, used
 * by the pools too). Stride-1 convolutions with a multiple of 16 output channels run on the direct
 * kernels of conv_direct.c when the build has AVX2 and FMA (faster than the lowering below, see
 * conv_direct.h), with Winograd F(2x2, 5x5) where it applies; the workspace then holds a zero-padded
 * copy of the input, one of dout, the packed or transformed weights (with the copies the transforms
 * were made from) and the Winograd scratch. Otherwise forward is im2col + one sgemm per chunk of
 * samples: the column matrix has one row per output pixel, [ky][kx][cin] along the row, which is
 * exactly the row order of the HWIO weights seen as a [kh*kw*cin][cout] matrix. Chunks keep the
 * workspace near WS_TARGET floats whatever the batch. A 1x1 kernel with stride 1 needs no im2col: the
 * input already is the column matrix. */
#include "cnn/nn/layers.h"

#include <string.h>

#include "cnn/nn/conv_direct.h"
#include "cnn/nn/gemm.h"
#include "cnn/util.h"

/* Floats of im2col workspace to aim for (16 MB): big enough for efficient sgemm, small enough to stay
 * out of the way of the activations. */
#define WS_TARGET ((size_t)4 << 20)

void cnn_same_valid(int in, int k, int stride, int same, int *out, int *pad_before)
{
    CNN_ASSERT(in > 0 && k > 0 && stride > 0);
    if (same) {
        int o = (in + stride - 1) / stride;
        int total = (o - 1) * stride + k - in;
        if (total < 0) total = 0;
        *out = o;
        *pad_before = total / 2;
    } else {
        *out = in >= k ? (in - k) / stride + 1 : 0;
        *pad_before = 0;
    }
}

void cnn_conv_shape(CnnConvShape *s, int n, int h, int w, int cin, int cout, int k, int stride, int same)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->h = h;
    s->w = w;
    s->cin = cin;
    s->cout = cout;
    s->kh = s->kw = k;
    s->stride = stride;
    cnn_same_valid(h, k, stride, same, &s->oh, &s->pad_top);
    cnn_same_valid(w, k, stride, same, &s->ow, &s->pad_left);
    s->needs_din = 1;
    s->direct = cnn_convd_preferred() && cnn_conv_direct_applies(s);
    s->winograd = s->direct;
    s->threads = cnn_gemm_threads() > 0 ? cnn_gemm_threads() : 1;
}

int cnn_conv_direct_applies(const CnnConvShape *s)
{
    return cnn_convd_built() && s->stride == 1 && s->cout % 16 == 0 && !(s->kh == 1 && s->kw == 1);
}

/* ---- direct kernels: the workspace is [in_pad][dout_pad][wp][wtp], each part 16-float aligned ---- */

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

typedef struct {
    CnnConvdGeom g;   /* forward: padded input (oh + kh - 1) x (ow + kw - 1) -> output */
    CnnConvdGeom gt;  /* data gradient: padded dout (h + kh - 1) x (w + kw - 1) -> din */
    int wino, wino_t; /* Winograd for the forward / the data gradient */
    size_t in_pad, dout_pad, wp, wtp, scratch, wcopy, wcopy_t, wgp, total; /* offsets in floats */
} DirectLayout;

/* Floats of the weights as the kernel for geometry g wants them: Winograd-transformed or packed. */
static size_t kernel_floats(const CnnConvdGeom *g, int wino)
{
    return wino ? cnn_convd_winograd_weights_floats(g->cin, g->cout)
                : cnn_convd_packed_floats(g->kh * g->kw * g->cin, g->cout);
}

static void direct_layout(DirectLayout *d, const CnnConvShape *s)
{
    const size_t n = (size_t)s->n;
    d->g = (CnnConvdGeom){s->n, s->oh + s->kh - 1, s->ow + s->kw - 1, s->cin, s->oh, s->ow, s->cout, s->kh, s->kw};
    d->gt = (CnnConvdGeom){s->n, s->h + s->kh - 1, s->w + s->kw - 1, s->cout, s->h, s->w, s->cin, s->kh, s->kw};
    d->wino = s->winograd && cnn_convd_winograd_applies(&d->g);
    d->wino_t = s->winograd && s->needs_din && cnn_convd_winograd_applies(&d->gt);
    d->in_pad = 0;
    d->dout_pad = d->in_pad + round16(cnn_mul_size(n, (size_t)d->g.ph * d->g.pw * s->cin));
    size_t g = s->needs_din ? round16(cnn_mul_size(n, (size_t)d->gt.ph * d->gt.pw * s->cout)) : 0;
    d->wp = d->dout_pad + g;
    d->wtp = d->wp + round16(kernel_floats(&d->g, d->wino));
    d->scratch = d->wtp + (s->needs_din ? round16(kernel_floats(&d->gt, d->wino_t)) : 0);
    d->wcopy = d->scratch + (d->wino || d->wino_t ? cnn_convd_winograd_scratch_floats(s->cin, s->cout, s->threads) : 0);
    const size_t nw = round16((size_t)s->kh * s->kw * s->cin * s->cout);
    d->wcopy_t = d->wcopy + (d->wino ? nw : 0);
    d->wgp = d->wcopy_t + (d->wino_t ? nw : 0);
    d->total = d->wgp + (d->wino ? round16(cnn_convd_winograd_weights_floats(s->cin, s->cout)) : 0);
}

const char *cnn_conv_kernel_name(const CnnConvShape *s)
{
    if (!s->direct) return "im2col+sgemm";
    DirectLayout d;
    direct_layout(&d, s);
    if (d.wino && (d.wino_t || !s->needs_din)) return "winograd"; /* all three products */
    if (d.wino) return "winograd fwd, direct";
    if (d.wino_t) return "direct, winograd dx";
    return "direct";
}

/* The Winograd transform of the weights costs about a millisecond for conv2, and the weights do not
 * change between the micro-shards of a step: each transform keeps a copy of the weights it was made
 * from and is redone only when they differ (an exact comparison, about 30 us). The workspace starts
 * zeroed, and zero weights transform to zeros, so a fresh workspace is consistent too. */
static void winograd_weights_cached(float *u, float *copy, const float *w, const CnnConvShape *s, int flipped)
{
    const size_t bytes = (size_t)s->kh * s->kw * s->cin * s->cout * sizeof *w;
    if (memcmp(copy, w, bytes) == 0) return;
    cnn_convd_winograd_weights(u, w, s->cin, s->cout, flipped);
    memcpy(copy, w, bytes);
}

static void direct_forward(float *out, float *ws, const float *in, const float *w, const float *b,
                           const CnnConvShape *s)
{
    DirectLayout d;
    direct_layout(&d, s);
    cnn_convd_pad(ws + d.in_pad, in, s->n, s->h, s->w, s->cin, d.g.ph, d.g.pw, s->pad_top, s->pad_left);
    if (d.wino) {
        winograd_weights_cached(ws + d.wp, ws + d.wcopy, w, s, 0);
        cnn_convd_winograd_forward(out, ws + d.in_pad, ws + d.wp, b, &d.g, ws + d.scratch, s->threads);
    } else {
        cnn_convd_pack(ws + d.wp, w, s->kh * s->kw * s->cin, s->cout);
        cnn_convd_forward(out, ws + d.in_pad, ws + d.wp, b, &d.g, s->threads);
    }
}

static void add_column_sums(float *db, const float *dout, size_t rows, int c);

static void direct_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                            const float *w, const CnnConvShape *s, int pad_ready)
{
    DirectLayout d;
    direct_layout(&d, s);
    add_column_sums(db, dout, (size_t)s->n * s->oh * s->ow, s->cout);
    if (!pad_ready)
        cnn_convd_pad(ws + d.in_pad, in, s->n, s->h, s->w, s->cin, d.g.ph, d.g.pw, s->pad_top, s->pad_left);
    if (d.wino)
        cnn_convd_winograd_weight_grad(dw, ws + d.in_pad, dout, &d.g, ws + d.wgp, ws + d.scratch, s->threads);
    else
        cnn_convd_weight_grad(dw, ws + d.in_pad, dout, &d.g, s->threads);
    if (!din) return;
    CNN_ASSERT(s->needs_din);
    /* din = the stride-1 conv of dout, padded by k-1-pad before, with the flipped, transposed kernel */
    cnn_convd_pad(ws + d.dout_pad, dout, s->n, s->oh, s->ow, s->cout, d.gt.ph, d.gt.pw, s->kh - 1 - s->pad_top,
                  s->kw - 1 - s->pad_left);
    if (d.wino_t) {
        winograd_weights_cached(ws + d.wtp, ws + d.wcopy_t, w, s, 1);
        cnn_convd_winograd_forward(din, ws + d.dout_pad, ws + d.wtp, NULL, &d.gt, ws + d.scratch, s->threads);
    } else {
        cnn_convd_pack_flipped(ws + d.wtp, w, s->kh, s->kw, s->cin, s->cout);
        cnn_convd_forward(din, ws + d.dout_pad, ws + d.wtp, NULL, &d.gt, s->threads);
    }
}

/* The input is the column matrix: [n*h*w][cin] == [n*oh*ow][1*1*cin]. */
static int conv_is_direct(const CnnConvShape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad_top == 0 && s->pad_left == 0;
}

/* Floats of one sample's column matrix [oh*ow][kh*kw*cin]. */
static size_t cols_per_sample(const CnnConvShape *s)
{
    return cnn_mul_size(cnn_mul_size((size_t)s->oh * (size_t)s->ow, (size_t)s->kh * (size_t)s->kw),
                        (size_t)s->cin);
}

/* The data gradient of a stride-1 conv is itself a stride-1 conv: of dout (oh x ow x cout, padded by
 * k-1-pad on each side) with the kernel flipped in space and cin/cout swapped. Lowering it like the
 * forward (im2col + one sgemm) replaces the sgemm into a [rows][kh*kw*cin] matrix plus a scatter-add
 * col2im, which reads and writes every input pixel kh*kw times, by a gather and the same FLOPs. */
static int conv_transposable(const CnnConvShape *s) { return s->stride == 1 && !conv_is_direct(s); }

static void transposed_shape(CnnConvShape *t, const CnnConvShape *s, int ns)
{
    memset(t, 0, sizeof *t);
    t->n = ns;
    t->h = s->oh;
    t->w = s->ow;
    t->cin = s->cout;
    t->oh = s->h;
    t->ow = s->w;
    t->cout = s->cin;
    t->kh = s->kh;
    t->kw = s->kw;
    t->stride = 1;
    t->pad_top = s->kh - 1 - s->pad_top;
    t->pad_left = s->kw - 1 - s->pad_left;
}

/* wt[ky][kx][cout][cin] = w[kh-1-ky][kw-1-kx][cin][cout] */
static void flip_weights(float *wt, const float *w, const CnnConvShape *s)
{
    const int cin = s->cin, cout = s->cout;
    for (int ky = 0; ky < s->kh; ky++)
        for (int kx = 0; kx < s->kw; kx++) {
            const float *src = w + ((size_t)(s->kh - 1 - ky) * s->kw + (size_t)(s->kw - 1 - kx)) * cin * cout;
            float *dst = wt + ((size_t)ky * s->kw + (size_t)kx) * cout * cin;
            for (int ci = 0; ci < cin; ci++)
                for (int co = 0; co < cout; co++) dst[(size_t)co * cin + ci] = src[(size_t)ci * cout + co];
        }
}

/* Floats per sample that a chunk of the workspace must hold: forward columns, or the transposed
 * conv's columns (h*w rows of kh*kw*cout) when backward uses it. */
static size_t ws_per_sample(const CnnConvShape *s)
{
    size_t per = cols_per_sample(s);
    if (conv_transposable(s)) {
        size_t t = cnn_mul_size(cnn_mul_size((size_t)s->h * (size_t)s->w, (size_t)s->kh * (size_t)s->kw),
                                (size_t)s->cout);
        if (t > per) per = t;
    }
    return per;
}

/* Samples per chunk. */
static int conv_chunk(const CnnConvShape *s)
{
    size_t per = ws_per_sample(s);
    size_t c = per ? WS_TARGET / per : (size_t)s->n;
    if (c < 1) c = 1;
    if (c > (size_t)s->n) c = (size_t)s->n;
    return (int)c;
}

size_t cnn_conv_workspace(const CnnConvShape *s)
{
    if (s->n <= 0) return 0;
    if (s->direct) {
        DirectLayout d;
        direct_layout(&d, s);
        return d.total;
    }
    if (conv_is_direct(s)) return 0;
    size_t flipped = conv_transposable(s) ? (size_t)s->kh * s->kw * s->cin * s->cout : 0;
    return cnn_mul_size((size_t)conv_chunk(s), ws_per_sample(s)) + flipped;
}

/* cols[ns*oh*ow][kh*kw*cin] from in[ns][h][w][cin], zeros where the window hangs over the padding.
 * A window row whose kw pixels are all inside is one contiguous copy of kw*cin floats. */
static void im2col(float *cols, const float *in, int ns, const CnnConvShape *s)
{
    const int cin = s->cin, kw = s->kw;
    const size_t rowlen = (size_t)kw * (size_t)cin;
    for (int j = 0; j < ns; j++) {
        const float *img = in + (size_t)j * s->h * s->w * cin;
        for (int oy = 0; oy < s->oh; oy++) {
            for (int ox = 0; ox < s->ow; ox++) {
                const int x0 = ox * s->stride - s->pad_left;
                for (int ky = 0; ky < s->kh; ky++, cols += rowlen) {
                    const int iy = oy * s->stride - s->pad_top + ky;
                    if (iy < 0 || iy >= s->h) {
                        memset(cols, 0, rowlen * sizeof *cols);
                        continue;
                    }
                    const float *src = img + ((size_t)iy * s->w) * cin;
                    if (x0 >= 0 && x0 + kw <= s->w) {
                        memcpy(cols, src + (size_t)x0 * cin, rowlen * sizeof *cols);
                        continue;
                    }
                    for (int kx = 0; kx < kw; kx++) {
                        const int ix = x0 + kx;
                        float *dst = cols + (size_t)kx * cin;
                        if (ix < 0 || ix >= s->w)
                            memset(dst, 0, (size_t)cin * sizeof *dst);
                        else
                            memcpy(dst, src + (size_t)ix * cin, (size_t)cin * sizeof *dst);
                    }
                }
            }
        }
    }
}

/* din[ns][h][w][cin] = sum over the windows of the rows of cols[ns*oh*ow][kh*kw*cin] (the adjoint of
 * im2col: padding entries are dropped). din is zeroed here. */
static void col2im(float *din, const float *cols, int ns, const CnnConvShape *s)
{
    const int cin = s->cin;
    const size_t img_len = (size_t)s->h * s->w * cin;
    memset(din, 0, (size_t)ns * img_len * sizeof *din);
    for (int j = 0; j < ns; j++) {
        float *img = din + (size_t)j * img_len;
        for (int oy = 0; oy < s->oh; oy++) {
            for (int ox = 0; ox < s->ow; ox++) {
                for (int ky = 0; ky < s->kh; ky++) {
                    const int iy = oy * s->stride - s->pad_top + ky;
                    if (iy < 0 || iy >= s->h) {
                        cols += (size_t)s->kw * cin;
                        continue;
                    }
                    for (int kx = 0; kx < s->kw; kx++, cols += cin) {
                        const int ix = ox * s->stride - s->pad_left + kx;
                        if (ix < 0 || ix >= s->w) continue;
                        float *dst = img + ((size_t)iy * s->w + (size_t)ix) * cin;
                        for (int c = 0; c < cin; c++) dst[c] += cols[c];
                    }
                }
            }
        }
    }
}

void cnn_conv_forward(float *out, float *ws, const float *in, const float *w, const float *b,
                      const CnnConvShape *s)
{
    if (s->direct) {
        direct_forward(out, ws, in, w, b, s);
        return;
    }
    const int K = s->kh * s->kw * s->cin, cout = s->cout;
    const int direct = conv_is_direct(s);
    const int chunk = direct ? s->n : conv_chunk(s);
    const size_t pix = (size_t)s->oh * s->ow;
    for (int j0 = 0; j0 < s->n; j0 += chunk) {
        const int ns = s->n - j0 < chunk ? s->n - j0 : chunk;
        const size_t rows = (size_t)ns * pix;
        float *o = out + (size_t)j0 * pix * cout;
        const float *cols = in + (size_t)j0 * s->h * s->w * s->cin;
        if (!direct) {
            im2col(ws, cols, ns, s);
            cols = ws;
        }
        /* out rows start as the bias, then out[rows][cout] += cols[rows][K] x W[K][cout]. */
        for (size_t r = 0; r < rows; r++) memcpy(o + r * cout, b, (size_t)cout * sizeof *o);
        CNN_ASSERT(rows <= (size_t)INT32_MAX);
        cnn_sgemm(0, 0, (int)rows, cout, K, 1.0f, cols, K, w, cout, 1.0f, o, cout);
    }
}

/* db[c] += sum over rows of dout[rows][c], in double per block of channels (rows can be ~1e5). */
static void add_column_sums(float *db, const float *dout, size_t rows, int c)
{
    enum { BLK = 64 };
    for (int c0 = 0; c0 < c; c0 += BLK) {
        const int nc = c - c0 < BLK ? c - c0 : BLK;
        double acc[BLK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *row = dout + r * (size_t)c + c0;
            for (int k = 0; k < nc; k++) acc[k] += (double)row[k];
        }
        for (int k = 0; k < nc; k++) db[c0 + k] += (float)acc[k];
    }
}

int cnn_conv_single_chunk(const CnnConvShape *s)
{
    return s->direct || (!conv_is_direct(s) && conv_chunk(s) >= s->n);
}

void cnn_conv_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                       const float *w, const CnnConvShape *s, int cols_ready)
{
    if (s->direct) {
        direct_backward(din, dw, db, ws, dout, in, w, s, cols_ready);
        return;
    }
    const int K = s->kh * s->kw * s->cin, cout = s->cout;
    const int direct = conv_is_direct(s);
    const int chunk = direct ? s->n : conv_chunk(s);
    const size_t pix = (size_t)s->oh * s->ow, img_len = (size_t)s->h * s->w * s->cin;
    add_column_sums(db, dout, (size_t)s->n * pix, cout);
    const int transposed = din && conv_transposable(s);
    float *wt = transposed ? ws + (size_t)chunk * ws_per_sample(s) : NULL;
    if (transposed) flip_weights(wt, w, s);
    for (int j0 = 0; j0 < s->n; j0 += chunk) {
        const int ns = s->n - j0 < chunk ? s->n - j0 : chunk;
        const size_t rows = (size_t)ns * pix;
        CNN_ASSERT(rows <= (size_t)INT32_MAX);
        const float *g = dout + (size_t)j0 * pix * cout;
        const float *cols = in + (size_t)j0 * img_len;
        if (!direct) {
            if (!(cols_ready && chunk >= s->n)) im2col(ws, cols, ns, s);
            cols = ws;
        }
        /* dW[K][cout] += cols^T [K][rows] x dout[rows][cout] */
        cnn_sgemm(1, 0, K, cout, (int)rows, 1.0f, cols, K, g, cout, 1.0f, dw, cout);
        if (!din) continue;
        float *di = din + (size_t)j0 * img_len;
        if (transposed) {
            /* din[ns*h*w][cin] = im2col(dout)[ns*h*w][kh*kw*cout] x wt[kh*kw*cout][cin] */
            CnnConvShape t;
            transposed_shape(&t, s, ns);
            const size_t trows = (size_t)ns * s->h * s->w;
            CNN_ASSERT(trows <= (size_t)INT32_MAX);
            im2col(ws, g, ns, &t);
            const int kt = s->kh * s->kw * cout;
            cnn_sgemm(0, 0, (int)trows, s->cin, kt, 1.0f, ws, kt, wt, s->cin, 0.0f, di, s->cin);
        } else if (direct) {
            /* din[rows][cin] = dout[rows][cout] x W^T[cout][cin] */
            cnn_sgemm(0, 1, (int)rows, K, cout, 1.0f, g, cout, w, cout, 0.0f, di, K);
        } else {
            /* dcols[rows][K] = dout x W^T into the workspace (the columns are spent), then scatter. */
            cnn_sgemm(0, 1, (int)rows, K, cout, 1.0f, g, cout, w, cout, 0.0f, ws, K);
            col2im(di, ws, ns, s);
        }
    }
}
