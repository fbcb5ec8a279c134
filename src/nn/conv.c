/* conv: 2-D convolution in NHWC with HWIO weights, TensorFlow's SAME/VALID rule (shape.h), run as its
 * plan says (plan.h).
 *
 * The tiled kernels (src/nn/kernels/: direct, any stride, and Winograd) keep an output tile in registers
 * for the whole reduction; the direct kernels read a zero-padded NHWC copy of the input in place,
 * Winograd the input itself (the padding implied by the geometry). Why not im2col +
 * OpenBLAS: on this network's shapes (64 output channels) OpenBLAS 0.3.21 reached 35-57 GFLOP/s per
 * core on a Zen 3 core whose FMA units peak at ~140, and spent a fifth of its cycles packing the im2col
 * matrix that had just been written (bench/RESULTS.md). Their workspace holds the padded copies of the
 * input and of dout, the packed or transformed weights (with the copies the transforms were made from)
 * and the Winograd scratch (layout: plan.c).
 *
 * Otherwise forward is im2col + one sgemm per chunk of samples: the column matrix has one row per
 * output pixel, [ky][kx][cin] along the row, which is exactly the row order of the HWIO weights seen as
 * a [kh*kw*cin][cout] matrix. Chunks (plan.c) keep the workspace near 16 MB whatever the batch. A 1x1
 * kernel with stride 1 needs no im2col: the input already is the column matrix. */
#include "cnn/nn/layers.h"

#include <string.h>

#include "cnn/nn/gemm.h"
#include "cnn/nn/plan.h"
#include "cnn/util.h"

/* ---- the tiled kernels ---- */

/* wp = w[k][n] (row-major) in panels of nr columns, wp[panel][k][nr], zero beyond the last column. */
static void pack_panels(float *wp, const float *w, int k, int n, int nr)
{
    const int panels = (n + nr - 1) / nr;
    for (int p = 0; p < panels; p++)
        for (int r = 0; r < k; r++) {
            float *dst = wp + ((size_t)p * k + r) * nr;
            for (int c = 0; c < nr; c++) {
                const int col = p * nr + c;
                dst[c] = col < n ? w[(size_t)r * n + col] : 0.0f;
            }
        }
}

/* wp = the data-gradient kernel in panels of nr: rows (ky, kx, co), columns ci, value
 * w[kh-1-ky][kw-1-kx][ci][co] of the HWIO weights w. */
static void pack_flipped(float *wp, const float *w, int kh, int kw, int cin, int cout, int nr)
{
    const int k = kh * kw * cout, panels = (cin + nr - 1) / nr;
    for (int p = 0; p < panels; p++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                const float *src = w + ((size_t)(kh - 1 - ky) * kw + (size_t)(kw - 1 - kx)) * cin * cout;
                for (int co = 0; co < cout; co++) {
                    float *dst = wp + ((size_t)p * k + ((size_t)ky * kw + kx) * cout + co) * nr;
                    for (int c = 0; c < nr; c++) {
                        const int ci = p * nr + c;
                        dst[c] = ci < cin ? src[(size_t)ci * cout + co] : 0.0f;
                    }
                }
            }
}

/* dst[n][ph][pw][c] = src[n][h][w][c] with its pixel (y, x) at (top + y * dil, left + x * dil), zeros
 * elsewhere: the padding, and for dil > 1 the dilation that makes a strided conv's data gradient a
 * stride-1 conv. */
static void pad_images(float *dst, const float *src, int n, int h, int w, int c, int ph, int pw, int top, int left,
                       int dil)
{
    CNN_ASSERT(top >= 0 && left >= 0 && top + (h - 1) * dil < ph && left + (w - 1) * dil < pw);
    if (dil > 1) {
        memset(dst, 0, (size_t)n * ph * pw * c * sizeof *dst);
        for (int j = 0; j < n; j++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    memcpy(dst + (((size_t)j * ph + (size_t)(top + y * dil)) * pw + (size_t)(left + x * dil)) * c,
                           src + (((size_t)j * h + y) * w + x) * c, (size_t)c * sizeof *dst);
        return;
    }
    /* only the border is zeroed: the interior is copied over anyway */
    const size_t row = (size_t)w * c, prow = (size_t)pw * c, lpad = (size_t)left * c;
    const size_t rpad = prow - lpad - row;
    for (int j = 0; j < n; j++) {
        float *img = dst + (size_t)j * ph * prow;
        memset(img, 0, (size_t)top * prow * sizeof *dst);
        for (int y = 0; y < h; y++) {
            float *d = img + (size_t)(top + y) * prow;
            memset(d, 0, lpad * sizeof *d);
            memcpy(d + lpad, src + ((size_t)j * h + (size_t)y) * row, row * sizeof *d);
            memset(d + lpad + row, 0, rpad * sizeof *d);
        }
        memset(img + (size_t)(top + h) * prow, 0, (size_t)(ph - top - h) * prow * sizeof *dst);
    }
}

/* The Winograd transform of the weights costs about a millisecond for conv2, and the weights do not
 * change between the micro-shards of a step: each transform keeps a copy of the weights it was made
 * from and is redone only when they differ (an exact comparison, about 30 us). The workspace starts
 * zeroed, and zero weights transform to zeros, so a fresh workspace is consistent too. */
static void winograd_weights_cached(const CnnConvPlan *p, float *u, float *copy, const float *w, int flipped, int m)
{
    const CnnConvShape *s = &p->s;
    const size_t bytes = (size_t)s->kh * s->kw * s->cin * s->cout * sizeof *w;
    if (memcmp(copy, w, bytes) == 0) return;
    p->k->winograd_weights(u, w, s->cin, s->cout, flipped, m, s->kh);
    memcpy(copy, w, bytes);
}

static void tiled_forward(float *out, float *ws, const float *in, const float *w, const float *b, const CnnConvPlan *p,
                          int n)
{
    const CnnConvShape *s = &p->s;
    CnnConvdGeom g = p->g;
    g.n = n;
    const int m = p->fwd_m;
    if (m) { /* reads in itself, the padding implied */
        winograd_weights_cached(p, ws + p->wp, ws + p->wcopy, w, 0, m);
        p->k->winograd_forward(out, in, ws + p->wp, b, &g, ws + p->scratch, p->threads, m);
    } else {
        pad_images(ws + p->in_pad, in, n, s->h, s->w, s->cin, g.ph, g.pw, s->pad_top, s->pad_left, 1);
        pack_panels(ws + p->wp, w, s->kh * s->kw * s->cin, s->cout, p->k->panel_width(s->cout));
        p->k->direct_forward(out, ws + p->in_pad, ws + p->wp, b, &g, p->threads);
    }
}

static void add_column_sums(float *db, const float *dout, size_t rows, int c, CnnGradMode mode);

static void tiled_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                           const float *w, const CnnConvPlan *p, int n, int pad_ready, CnnGradMode mode)
{
    const CnnConvShape *s = &p->s;
    CnnConvdGeom g = p->g, gt = p->gt;
    g.n = gt.n = n;
    const int overwrite = mode == CNN_GRAD_OVERWRITE;
    add_column_sums(db, dout, (size_t)n * s->oh * s->ow, s->cout, mode);
    if (p->wgrad_m) {
        p->k->winograd_weight_grad(dw, in, dout, &g, ws + p->wgp, ws + p->scratch, p->threads, overwrite, p->wgrad_m);
    } else {
        if (!pad_ready) pad_images(ws + p->in_pad, in, n, s->h, s->w, s->cin, g.ph, g.pw, s->pad_top, s->pad_left, 1);
        p->k->direct_weight_grad(dw, ws + p->in_pad, dout, &g, p->threads, overwrite);
    }
    if (!din) return;
    CNN_ASSERT(s->needs_din);
    /* din = the stride-1 conv of dout (dilated by the stride), padded by k-1-pad before, with the flipped,
     * transposed kernel */
    const int mt = p->dgrad_m;
    const float *src = dout; /* Winograd at stride 1 reads dout itself (plan.c: gt) */
    if (s->stride > 1 || !mt) {
        pad_images(ws + p->dout_pad, dout, n, s->oh, s->ow, s->cout, gt.ph, gt.pw, s->kh - 1 - s->pad_top,
                   s->kw - 1 - s->pad_left, s->stride);
        src = ws + p->dout_pad;
    }
    if (mt) {
        winograd_weights_cached(p, ws + p->wtp, ws + p->wcopy_t, w, 1, mt);
        p->k->winograd_forward(din, src, ws + p->wtp, NULL, &gt, ws + p->scratch, p->threads, mt);
    } else {
        pack_flipped(ws + p->wtp, w, s->kh, s->kw, s->cin, s->cout, p->k->panel_width(s->cin));
        p->k->direct_forward(din, src, ws + p->wtp, NULL, &gt, p->threads);
    }
}

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

/* p: the plan (its shape's n sized the workspace and the chunks); n <= p->s.n samples */
static void gemm_forward(float *out, float *ws, const float *in, const float *w, const float *b,
                         const CnnConvPlan *p, int n)
{
    const CnnConvShape *s = &p->s;
    const int K = s->kh * s->kw * s->cin, cout = s->cout;
    const int direct = p->gemm_in_place;
    const int chunk = direct ? n : p->gemm_chunk;
    const size_t pix = (size_t)s->oh * s->ow;
    for (int j0 = 0; j0 < n; j0 += chunk) {
        const int ns = n - j0 < chunk ? n - j0 : chunk;
        const size_t rows = (size_t)ns * pix;
        float *o = out + (size_t)j0 * pix * cout;
        const float *cols = in + (size_t)j0 * s->h * s->w * s->cin;
        if (!direct) {
            im2col(ws, cols, ns, s);
            cols = ws;
        }
        /* out rows start as the bias (or zero), then out[rows][cout] += cols[rows][K] x W[K][cout]. */
        for (size_t r = 0; r < rows; r++) {
            if (b) memcpy(o + r * cout, b, (size_t)cout * sizeof *o);
            else memset(o + r * cout, 0, (size_t)cout * sizeof *o);
        }
        CNN_ASSERT(rows <= (size_t)INT32_MAX);
        cnn_sgemm(0, 0, (int)rows, cout, K, 1.0f, cols, K, w, cout, 1.0f, o, cout);
    }
}

void cnn_conv_forward(float *out, float *ws, const float *in, const float *w, const float *b, const CnnConvPlan *p,
                      int n)
{
    CNN_ASSERT(n > 0 && n <= p->s.n); /* the workspace was sized for p->s.n */
    if (p->fwd == CNN_ALGO_SGEMM)
        gemm_forward(out, ws, in, w, b, p, n);
    else
        tiled_forward(out, ws, in, w, b, p, n);
}

int cnn_conv_pools(const CnnConvPlan *p) { return p->fwd_m > 0 && p->fwd_m % 2 == 0; }

void cnn_conv_forward_pool(float *pool, int32_t *argmax, float *ws, const float *in, const float *w, const float *b,
                           const CnnConvPlan *p, int n)
{
    CNN_ASSERT(n > 0 && n <= p->s.n && cnn_conv_pools(p));
    CnnConvdGeom g = p->g;
    g.n = n;
    winograd_weights_cached(p, ws + p->wp, ws + p->wcopy, w, 0, p->fwd_m);
    p->k->winograd_forward_pool(pool, argmax, in, ws + p->wp, b, &g, ws + p->scratch, p->threads, p->fwd_m);
}

/* db[c] += sum over rows of dout[rows][c] (overwrite: =), in double per block of channels (rows can be
 * ~1e5). */
static void add_column_sums(float *db, const float *dout, size_t rows, int c, CnnGradMode mode)
{
    enum { BLK = 64 };
    if (!db) return; /* a convolution without bias */
    for (int c0 = 0; c0 < c; c0 += BLK) {
        const int nc = c - c0 < BLK ? c - c0 : BLK;
        double acc[BLK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *row = dout + r * (size_t)c + c0;
            for (int k = 0; k < nc; k++) acc[k] += (double)row[k];
        }
        for (int k = 0; k < nc; k++) db[c0 + k] = (mode == CNN_GRAD_OVERWRITE ? 0.0f : db[c0 + k]) + (float)acc[k];
    }
}

int cnn_conv_keeps_input(const CnnConvPlan *p, int n)
{
    return p->fwd != CNN_ALGO_SGEMM || (!p->gemm_in_place && p->gemm_chunk >= n);
}

static void gemm_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                          const float *w, const CnnConvPlan *p, int n, int cols_ready, CnnGradMode mode)
{
    const CnnConvShape *s = &p->s;
    const int K = s->kh * s->kw * s->cin, cout = s->cout;
    const int direct = p->gemm_in_place;
    const int chunk = direct ? n : p->gemm_chunk;
    const size_t pix = (size_t)s->oh * s->ow, img_len = (size_t)s->h * s->w * s->cin;
    add_column_sums(db, dout, (size_t)n * pix, cout, mode);
    const int transposed = din && p->gemm_transposed;
    float *wt = transposed ? ws + (size_t)chunk * p->gemm_per_sample : NULL;
    if (transposed) flip_weights(wt, w, s);
    for (int j0 = 0; j0 < n; j0 += chunk) {
        const int ns = n - j0 < chunk ? n - j0 : chunk;
        const size_t rows = (size_t)ns * pix;
        CNN_ASSERT(rows <= (size_t)INT32_MAX);
        const float *g = dout + (size_t)j0 * pix * cout;
        const float *cols = in + (size_t)j0 * img_len;
        if (!direct) {
            if (!(cols_ready && chunk >= n)) im2col(ws, cols, ns, s);
            cols = ws;
        }
        /* dW[K][cout] += cols^T [K][rows] x dout[rows][cout] (overwrite: the first chunk writes it) */
        const float beta = mode == CNN_GRAD_OVERWRITE && j0 == 0 ? 0.0f : 1.0f;
        cnn_sgemm(1, 0, K, cout, (int)rows, 1.0f, cols, K, g, cout, beta, dw, cout);
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

void cnn_conv_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                       const float *w, const CnnConvPlan *p, int n, int input_ready, CnnGradMode mode)
{
    CNN_ASSERT(n > 0 && n <= p->s.n);
    if (p->fwd == CNN_ALGO_SGEMM)
        gemm_backward(din, dw, db, ws, dout, in, w, p, n, input_ready, mode);
    else
        tiled_backward(din, dw, db, ws, dout, in, w, p, n, input_ready, mode);
}
