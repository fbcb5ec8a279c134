/* conv_direct: stride-1 convolution computed straight from a zero-padded NHWC copy of the input, with
 * no im2col matrix and no GEMM packing (see conv_direct.h for why). Register tiles of 6 x 16 floats
 * (12 AVX2 accumulators), the shape of the classic Haswell sgemm micro-kernel:
 *  - forward / data gradient: 6 output pixels x 16 output channels; each step of the reduction
 *    broadcasts one input value per pixel and loads 16 weights, 12 FMAs. In NHWC the kw*cin inputs
 *    that one kernel row sees are contiguous, so the reduction runs kh loops of kw*cin steps.
 *  - weight gradient: 6 consecutive (kx, cin) rows of dW x 16 output channels, reduced over the
 *    pixels of one sample at a time (the accumulators go back to dW between samples).
 * Every sum runs in one fixed order that depends only on the shape, never on threads or chunking. */
#include "cnn/nn/conv_direct.h"

#include <pthread.h>
#include <string.h>

#include "cnn/util.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_KERNELS 1
#else
#define HAVE_KERNELS 0
#endif

enum { MR = 6, NV = 2, NR = 8 * NV };

int cnn_convd_built(void) { return HAVE_KERNELS; }

int cnn_convd_preferred(void)
{
#ifdef __AVX512F__
    return 0;
#else
    return HAVE_KERNELS;
#endif
}

size_t cnn_convd_packed_floats(int k, int n) { return cnn_mul_size((size_t)k, (size_t)((n + NR - 1) / NR) * NR); }

void cnn_convd_pack(float *wp, const float *w, int k, int n)
{
    const int panels = (n + NR - 1) / NR;
    for (int p = 0; p < panels; p++)
        for (int r = 0; r < k; r++) {
            float *dst = wp + ((size_t)p * k + r) * NR;
            for (int c = 0; c < NR; c++) {
                const int col = p * NR + c;
                dst[c] = col < n ? w[(size_t)r * n + col] : 0.0f;
            }
        }
}

void cnn_convd_pack_flipped(float *wp, const float *w, int kh, int kw, int cin, int cout)
{
    /* row (ky, kx, co), column ci of the data-gradient kernel = w[kh-1-ky][kw-1-kx][ci][co] */
    const int k = kh * kw * cout, panels = (cin + NR - 1) / NR;
    for (int p = 0; p < panels; p++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                const float *src = w + ((size_t)(kh - 1 - ky) * kw + (size_t)(kw - 1 - kx)) * cin * cout;
                for (int co = 0; co < cout; co++) {
                    float *dst = wp + ((size_t)p * k + ((size_t)ky * kw + kx) * cout + co) * NR;
                    for (int c = 0; c < NR; c++) {
                        const int ci = p * NR + c;
                        dst[c] = ci < cin ? src[(size_t)ci * cout + co] : 0.0f;
                    }
                }
            }
}

void cnn_convd_pad(float *dst, const float *src, int n, int h, int w, int c, int ph, int pw, int top, int left)
{
    CNN_ASSERT(top >= 0 && left >= 0 && top + h <= ph && left + w <= pw);
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

#if HAVE_KERNELS

/* Runs fn(arg, part, parts) for part = 0 .. parts-1: part 0 on the calling thread, the others on
 * threads started for this call (a few tens of microseconds against the milliseconds of a conv;
 * nothing waits or spins between calls, unlike a pool, so OpenBLAS's threads keep the cores between
 * convolutions). New threads inherit the caller's flush-to-zero mode. If a thread cannot be
 * started, its part runs here. */
typedef struct {
    void (*fn)(void *, int, int);
    void *arg;
    int part, parts;
} Part;

static void *part_main(void *p)
{
    const Part *pt = p;
    pt->fn(pt->arg, pt->part, pt->parts);
    return NULL;
}

static void run_parts(void (*fn)(void *, int, int), void *arg, int parts)
{
    enum { MAX_PARTS = 64 };
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    if (parts < 1) parts = 1;
    pthread_t th[MAX_PARTS];
    Part pt[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (int p = 1; p < parts; p++) {
        pt[p] = (Part){fn, arg, p, parts};
        started[p] = pthread_create(&th[p], NULL, part_main, &pt[p]) == 0;
    }
    fn(arg, 0, parts);
    for (int p = 1; p < parts; p++) {
        if (started[p])
            pthread_join(th[p], NULL);
        else
            fn(arg, p, parts);
    }
}

/* out[r][0..nc) = (acc ? out[r] : bias or 0) + sum over ky < rows, j < klen of
 * px[r][ky*rowstride + j] * wk[ky*klen + j][0..NR): a block of kernel rows of the reduction. R is a constant at every call site, so the accumulators live in
 * registers. */
static inline __attribute__((always_inline)) void fwd_tile(const int R, const float *const *px, const float *wk,
                                                           int rows, size_t rowstride, int klen, float *const *po,
                                                           int nc, int acc, const float *bias)
{
    __m256 c[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        const float *src = acc ? po[r] : bias;
        float tmp[NR];
        if (src && nc < NR) {
            memset(tmp, 0, sizeof tmp);
            memcpy(tmp, src, (size_t)nc * sizeof *tmp);
            src = tmp;
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) c[r][v] = src ? _mm256_loadu_ps(src + 8 * v) : _mm256_setzero_ps();
    }
    for (int ky = 0; ky < rows; ky++, wk += (size_t)klen * NR) {
        const size_t off = (size_t)ky * rowstride;
#pragma GCC unroll 2
        for (int j = 0; j < klen; j++) {
            __m256 w[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) w[v] = _mm256_loadu_ps(wk + (size_t)j * NR + 8 * v);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256 a = _mm256_broadcast_ss(px[r] + off + j);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(a, w[v], c[r][v]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        float tmp[NR];
        float *dst = nc == NR ? po[r] : tmp;
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(dst + 8 * v, c[r][v]);
        if (nc < NR) memcpy(po[r], tmp, (size_t)nc * sizeof *tmp);
    }
}

/* fwd_tile / wgrad_tile for a run-time R <= MR, each R its own instance with registers for accumulators */
#define FWD_TILE_ANY(R, ...)                                                                           \
    do {                                                                                               \
        switch (R) {                                                                                   \
        case 6: fwd_tile(MR >= 6 ? 6 : 1, __VA_ARGS__); break;                                         \
        case 5: fwd_tile(MR >= 5 ? 5 : 1, __VA_ARGS__); break;                                         \
        case 4: fwd_tile(MR >= 4 ? 4 : 1, __VA_ARGS__); break;                                         \
        case 3: fwd_tile(MR >= 3 ? 3 : 1, __VA_ARGS__); break;                                         \
        case 2: fwd_tile(MR >= 2 ? 2 : 1, __VA_ARGS__); break;                                         \
        default: fwd_tile(1, __VA_ARGS__); break;                                                      \
        }                                                                                              \
    } while (0)
#define WGRAD_TILE_ANY(R, ...)                                                                         \
    do {                                                                                               \
        switch (R) {                                                                                   \
        case 6: wgrad_tile(MR >= 6 ? 6 : 1, __VA_ARGS__); break;                                       \
        case 5: wgrad_tile(MR >= 5 ? 5 : 1, __VA_ARGS__); break;                                       \
        case 4: wgrad_tile(MR >= 4 ? 4 : 1, __VA_ARGS__); break;                                       \
        case 3: wgrad_tile(MR >= 3 ? 3 : 1, __VA_ARGS__); break;                                       \
        case 2: wgrad_tile(MR >= 2 ? 2 : 1, __VA_ARGS__); break;                                       \
        default: wgrad_tile(1, __VA_ARGS__); break;                                                    \
        }                                                                                              \
    } while (0)

/* Kernel rows per block: as many as keep the block's weights (rows x klen x NR floats) within
 * L1_FLOATS, at least one. */
#define L1_FLOATS 4096

/* One sample at a time (its padded input and output stay in L2), one panel of NR output columns and
 * one block of kernel rows at a time (its weights stay in L1) across all the sample's pixel tiles.
 * Each output is still summed in one fixed order: bias, then ky = 0, 1, ... */
typedef struct {
    float *out;
    const float *in_pad, *wp, *bias;
    const CnnConvdGeom *g;
} FwdJob;

/* Samples [n*part/parts, n*(part+1)/parts): each sample's outputs are computed the same way whoever
 * computes them. */
static void fwd_part(void *arg, int part, int parts)
{
    const FwdJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, ow = g->ow, pw = g->pw, kh = g->kh;
    const size_t npix = (size_t)g->oh * ow, rowstride = (size_t)pw * cin;
    const int klen = g->kw * cin, K = kh * klen, panels = (cout + NR - 1) / NR;
    int kb = L1_FLOATS / (klen * NR);
    if (kb < 1) kb = 1;
    const int i0 = (int)((long)g->n * part / parts), i1 = (int)((long)g->n * (part + 1) / parts);
    for (int img = i0; img < i1; img++) {
        const float *ii = job->in_pad + (size_t)img * g->ph * rowstride;
        float *oi = job->out + (size_t)img * npix * cout;
        for (int q = 0; q < panels; q++) {
            const int nc = cout - q * NR < NR ? cout - q * NR : NR;
            const float *bq = job->bias ? job->bias + q * NR : NULL;
            CNN_ASSERT(!bq || nc == NR);
            for (int ky = 0; ky < kh; ky += kb) {
                const int rows = kh - ky < kb ? kh - ky : kb, acc = ky > 0;
                const float *wk = job->wp + ((size_t)q * K + (size_t)ky * klen) * NR;
                size_t y = 0, x = 0; /* the next pixel's output row and column */
                for (size_t p0 = 0; p0 < npix; p0 += MR) {
                    const int R = npix - p0 < MR ? (int)(npix - p0) : MR;
                    const float *px[MR];
                    float *po[MR];
                    for (int r = 0; r < R; r++) {
                        px[r] = ii + ((y + (size_t)ky) * (size_t)pw + x) * (size_t)cin;
                        po[r] = oi + (p0 + (size_t)r) * (size_t)cout + (size_t)q * NR;
                        if (++x == (size_t)ow) x = 0, y++;
                    }
                    FWD_TILE_ANY(R, px, wk, rows, rowstride, klen, po, nc, acc, bq);
                }
            }
        }
    }
}

void cnn_convd_forward(float *out, const float *in_pad, const float *wp, const float *bias, const CnnConvdGeom *g,
                       int threads)
{
    FwdJob job = {out, in_pad, wp, bias, g};
    run_parts(fwd_part, &job, threads < g->n ? threads : g->n);
}

/* dw[r][0..NR) += sum over the oh x ow pixels of one sample of a[pixel][r] * g[pixel][0..NR), where
 * a points at the sample's padded input shifted to (ky, j0) and g at its dout (panel offset applied). */
static inline __attribute__((always_inline)) void wgrad_tile(const int R, float *dw, int ldw, const float *a,
                                                             size_t arow, int cin, const float *g, int cout,
                                                             int oh, int ow)
{
    __m256 c[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) c[r][v] = _mm256_loadu_ps(dw + (size_t)r * ldw + 8 * v);
    for (int oy = 0; oy < oh; oy++) {
        const float *ar = a + (size_t)oy * arow;
        const float *gr = g + (size_t)oy * ow * cout;
        for (int ox = 0; ox < ow; ox++, ar += cin, gr += cout) {
            __m256 gv[NV];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) gv[v] = _mm256_loadu_ps(gr + 8 * v);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256 b = _mm256_broadcast_ss(ar + r);
#pragma GCC unroll 8
                for (int v = 0; v < NV; v++) c[r][v] = _mm256_fmadd_ps(b, gv[v], c[r][v]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(dw + (size_t)r * ldw + 8 * v, c[r][v]);
}

typedef struct {
    float *dw;
    const float *in_pad, *dout;
    const CnnConvdGeom *g;
} WgradJob;

/* Tiles (panel, ky, j0) [tiles*part/parts, tiles*(part+1)/parts), each summed over all samples in
 * order, so a tile's sums are the same whoever computes it. */
static void wgrad_part(void *arg, int part, int parts)
{
    const WgradJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, klen = g->kw * cin;
    const int jt = (klen + MR - 1) / MR, panels = cout / NR;
    const long tiles = (long)g->kh * jt * panels;
    const long t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
    const size_t arow = (size_t)g->pw * cin;
    for (int img = 0; img < g->n; img++) {
        const float *ai = job->in_pad + (size_t)img * g->ph * arow;
        const float *gi = job->dout + (size_t)img * g->oh * g->ow * cout;
        for (long t = t0; t < t1; t++) {
            /* panel slowest: consecutive tiles share the sample's dout panel (144 lines for conv2) */
            const int j0 = (int)(t % jt) * MR, ky = (int)(t / jt % g->kh), q = (int)(t / jt / g->kh) * NR;
            const int R = klen - j0 < MR ? klen - j0 : MR;
            const float *a = ai + (size_t)ky * arow + (size_t)j0;
            float *d = job->dw + ((size_t)ky * klen + (size_t)j0) * cout + (size_t)q;
            const int oh = g->oh, ow = g->ow;
            WGRAD_TILE_ANY(R, d, cout, a, arow, cin, gi + q, cout, oh, ow);
        }
    }
}

void cnn_convd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, int threads)
{
    CNN_ASSERT(g->cout % NR == 0);
    WgradJob job = {dw, in_pad, dout, g};
    run_parts(wgrad_part, &job, threads);
}

#else /* no AVX2/FMA in this build: conv.c never calls these */

void cnn_convd_forward(float *out, const float *in_pad, const float *wp, const float *bias, const CnnConvdGeom *g,
                       int threads)
{
    (void)out, (void)in_pad, (void)wp, (void)bias, (void)g, (void)threads;
    CNN_ASSERT(!"direct convolution kernels are not built");
}

void cnn_convd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, int threads)
{
    (void)dw, (void)in_pad, (void)dout, (void)g, (void)threads;
    CNN_ASSERT(!"direct convolution kernels are not built");
}

#endif
