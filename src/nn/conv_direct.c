/* conv_direct: stride-1 convolution computed straight from a zero-padded NHWC copy of the input, with
 * no im2col matrix and no GEMM packing (see conv_direct.h for why). Register tiles of 6 x 16 floats
 * (12 AVX2 accumulators), the shape of the classic Haswell sgemm micro-kernel:
 *  - forward / data gradient: 6 output pixels x 16 output channels; each step of the reduction
 *    broadcasts one input value per pixel and loads 16 weights, 12 FMAs. In NHWC the kw*cin inputs
 *    that one kernel row sees are contiguous, so the reduction runs kh loops of kw*cin steps.
 *  - weight gradient: 6 consecutive (kx, cin) rows of dW x 16 output channels, reduced over the
 *    pixels of one sample at a time (the accumulators go back to dW between samples).
 * Winograd F(2x2, 5x5) (further down) turns 5x5 convolutions into 36 small matrix products that run
 * on the same tiles. Every sum runs in one fixed order that depends only on the shape, never on
 * threads or chunking. */
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

/* Tiles per Winograd block (see below): their transformed inputs and products stay in L2. */
#define WINO_TB 24

size_t cnn_convd_winograd_weights_floats(int cin, int cout) { return cnn_mul_size((size_t)36 * cin, (size_t)cout); }

size_t cnn_convd_winograd_scratch_floats(int cin, int cout, int parts)
{
    return cnn_mul_size((size_t)parts, (size_t)36 * WINO_TB * ((size_t)cin + (size_t)cout));
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
 * px[r][ky*rowstride + j] * wk[ky*klen + j][0..NR): a block of kernel rows of the reduction. R is a
 * constant at every call site, so the accumulators live in registers. */
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

/* TILE (fwd_tile or wgrad_tile) for a run-time R <= MR, each R its own instance with registers for
 * its accumulators */
#define TILE_ANY(TILE, R, ...)                                                                         \
    do {                                                                                               \
        switch (R) {                                                                                   \
        case 6: TILE(MR >= 6 ? 6 : 1, __VA_ARGS__); break;                                             \
        case 5: TILE(MR >= 5 ? 5 : 1, __VA_ARGS__); break;                                             \
        case 4: TILE(MR >= 4 ? 4 : 1, __VA_ARGS__); break;                                             \
        case 3: TILE(MR >= 3 ? 3 : 1, __VA_ARGS__); break;                                             \
        case 2: TILE(MR >= 2 ? 2 : 1, __VA_ARGS__); break;                                             \
        default: TILE(1, __VA_ARGS__); break;                                                          \
        }                                                                                              \
    } while (0)
#define FWD_TILE_ANY(R, ...) TILE_ANY(fwd_tile, R, __VA_ARGS__)
#define WGRAD_TILE_ANY(R, ...) TILE_ANY(wgrad_tile, R, __VA_ARGS__)

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

/* ---- Winograd F(2x2, 5x5) ----
 * Each 2x2 block of outputs is computed from the 6x6 block of padded input under it as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A: 36 multiplications per 2x2 outputs and channel pair instead of
 * 100. Matrices from the points 0, 1, -1, 2, -2 and infinity, with B^T scaled to integers (the
 * fractions moved into G, which is applied once per call to the weights):
 *   B^T = [4 0 -5 0 1 0; 0 4 4 -1 -1 0; 0 -4 4 1 -1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0 0 0; 1/6 (1 1 1 1 1); 1/6 (1 -1 1 -1 1); 1/24 (1 2 4 8 16); 1/24 (1 -2 4 -8 16); 0 0 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
 * The 36 products are 36 small matrix products over the input channels, [tiles][cin] x [cin][cout],
 * run on fwd_tile. Tiles go in blocks of WINO_TB; every sum runs in an order fixed by the shape. */

typedef float v8sf __attribute__((vector_size(32)));

static inline v8sf ld8(const float *p)
{
    v8sf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st8(float *p, v8sf v) { memcpy(p, &v, sizeof v); }

/* y = B^T x for six vectors */
static inline void bt6(v8sf y[6], const v8sf x[6])
{
    y[0] = 4 * x[0] - 5 * x[2] + x[4];
    y[1] = 4 * (x[1] + x[2]) - (x[3] + x[4]);
    y[2] = 4 * (x[2] - x[1]) + (x[3] - x[4]);
    y[3] = 2 * (x[3] - x[1]) + (x[4] - x[2]);
    y[4] = 2 * (x[1] - x[3]) + (x[4] - x[2]);
    y[5] = 4 * x[1] - 5 * x[3] + x[5];
}

/* y = A^T x for six vectors */
static inline void at6(v8sf y[2], const v8sf x[6])
{
    y[0] = x[0] + x[1] + x[2] + x[3] + x[4];
    y[1] = (x[1] - x[2]) + 2 * (x[3] - x[4]) + x[5];
}

int cnn_convd_winograd_applies(const CnnConvdGeom *g)
{
    return HAVE_KERNELS && g->kh == 5 && g->kw == 5 && g->oh % 2 == 0 && g->ow % 2 == 0 && g->cin % 8 == 0 &&
           g->cout % NR == 0;
}

/* G of the weight transform (and of the weight gradient's inverse), with B^T's fractions in it */
static const float WG[6][5] = {
    {1.0f / 4, 0, 0, 0, 0},
    {1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6},
    {1.0f / 6, -1.0f / 6, 1.0f / 6, -1.0f / 6, 1.0f / 6},
    {1.0f / 24, 2.0f / 24, 4.0f / 24, 8.0f / 24, 16.0f / 24},
    {1.0f / 24, -2.0f / 24, 4.0f / 24, -8.0f / 24, 16.0f / 24},
    {0, 0, 0, 0, 1},
};

void cnn_convd_winograd_weights(float *u, const float *w, int cin, int cout, int flipped)
{
    /* the kernel's input channels a and output channels b: (cin, cout), or for the data gradient
     * (cout, cin) of the flipped kernel: k[ky][kx][a][b] = w[4-ky][4-kx][b][a]. 8 b at a time. */
    const int na = flipped ? cout : cin, nb = flipped ? cin : cout, panels = nb / NR;
    CNN_ASSERT(nb % NR == 0);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb; b += 8) {
            v8sf k[5][5], t[6][5];
            for (int ky = 0; ky < 5; ky++)
                for (int kx = 0; kx < 5; kx++) {
                    if (!flipped) {
                        k[ky][kx] = ld8(w + (((size_t)ky * 5 + (size_t)kx) * cin + (size_t)a) * cout + (size_t)b);
                    } else {
                        const size_t tap = (size_t)(4 - ky) * 5 + (size_t)(4 - kx);
                        const float *src = w + (tap * cin + (size_t)b) * cout + (size_t)a;
                        float g8[8];
                        for (int l = 0; l < 8; l++) g8[l] = src[(size_t)l * cout];
                        k[ky][kx] = ld8(g8);
                    }
                }
            for (int i = 0; i < 6; i++)
                for (int kx = 0; kx < 5; kx++) {
                    v8sf acc = k[0][kx] * WG[i][0];
                    for (int ky = 1; ky < 5; ky++) acc += k[ky][kx] * WG[i][ky];
                    t[i][kx] = acc; /* (G k)[i][kx] */
                }
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    v8sf acc = t[i][0] * WG[j][0];
                    for (int kx = 1; kx < 5; kx++) acc += t[i][kx] * WG[j][kx];
                    /* u[pos][panel][a][16]: each position's [na][nb] matrix in panels for fwd_tile */
                    const size_t panel = (size_t)(i * 6 + j) * panels + (size_t)(b / NR);
                    st8(u + (panel * na + (size_t)a) * NR + (size_t)(b % NR), acc);
                }
        }
}

/* Sample and top-left output pixel of tile tt (tiles run over samples, then rows, then columns). */
static void tile_origin(const CnnConvdGeom *g, long tt, int *img, int *y0, int *x0)
{
    const int tx_n = g->ow / 2, per = tx_n * (g->oh / 2), rem = (int)(tt % per);
    *img = (int)(tt / per);
    *y0 = 2 * (rem / tx_n);
    *x0 = 2 * (rem % tx_n);
}

/* v[pos][t][ci] = (B^T d B)[pos] for tile tt of in_pad (row t of the block), positions [pos0, pos1),
 * 8 channels at a time. */
static void input_transform(float *v, const float *in_pad, const CnnConvdGeom *g, long tt, int t, int pos0,
                            int pos1)
{
    const int cin = g->cin;
    int img, y0, x0;
    tile_origin(g, tt, &img, &y0, &x0);
    const float *base = in_pad + (((size_t)img * g->ph + (size_t)y0) * g->pw + (size_t)x0) * cin;
    for (int c = 0; c < cin; c += 8) {
        v8sf d[6], r[6][6], col[6], o[6];
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 6; j++) d[j] = ld8(base + ((size_t)i * g->pw + (size_t)j) * cin + c);
            bt6(r[i], d); /* r[i][j] = (d B)[i][j]: the row transform of input row i */
        }
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 6; i++) col[i] = r[i][j];
            bt6(o, col); /* (B^T d B)[i][j] */
            for (int i = 0; i < 6; i++) {
                const int pos = i * 6 + j;
                if (pos >= pos0 && pos < pos1) st8(v + ((size_t)pos * WINO_TB + (size_t)t) * cin + c, o[i]);
            }
        }
    }
}

typedef struct {
    float *out;
    const float *in_pad, *u, *bias;
    const CnnConvdGeom *g;
    float *scratch;
    int blocks;
} WinoJob;

static void wino_part(void *arg, int part, int parts)
{
    const WinoJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, panels = cout / NR;
    const long tiles = (long)g->n * (g->ow / 2) * (g->oh / 2);
    float *v = job->scratch + (size_t)part * 36 * WINO_TB * (size_t)(cin + cout); /* [36][TB][cin] */
    float *m = v + (size_t)36 * WINO_TB * cin;                                     /* [36][TB][cout] */
    const int b0 = (int)((long)job->blocks * part / parts), b1 = (int)((long)job->blocks * (part + 1) / parts);
    for (int blk = b0; blk < b1; blk++) {
        const long t0 = (long)blk * WINO_TB;
        const int nt = tiles - t0 < WINO_TB ? (int)(tiles - t0) : WINO_TB;
        for (int t = 0; t < nt; t++) input_transform(v, job->in_pad, g, t0 + t, t, 0, 36);
        /* the 36 products M[pos] = V[pos] x U[pos] */
        for (int pos = 0; pos < 36; pos++)
            for (int q = 0; q < panels; q++) {
                const float *wk = job->u + ((size_t)pos * panels + (size_t)q) * cin * NR;
                for (int i0 = 0; i0 < nt; i0 += MR) {
                    const int R = nt - i0 < MR ? nt - i0 : MR;
                    const float *px[MR];
                    float *po[MR];
                    for (int r = 0; r < R; r++) {
                        px[r] = v + ((size_t)pos * WINO_TB + (size_t)(i0 + r)) * cin;
                        po[r] = m + ((size_t)pos * WINO_TB + (size_t)(i0 + r)) * cout + (size_t)q * NR;
                    }
                    FWD_TILE_ANY(R, px, wk, 1, 0, cin, po, NR, 0, NULL);
                }
            }
        /* output transform: Y = A^T M A (+ bias) */
        for (int t = 0; t < nt; t++) {
            int img, y0, x0;
            tile_origin(g, t0 + t, &img, &y0, &x0);
            float *ob = job->out + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            for (int c = 0; c < cout; c += 8) {
                v8sf mm[6], r[6][2], col[6], y[2];
                for (int i = 0; i < 6; i++) {
                    for (int j = 0; j < 6; j++) mm[j] = ld8(m + ((size_t)(i * 6 + j) * WINO_TB + (size_t)t) * cout + c);
                    at6(r[i], mm);
                }
                const v8sf b = job->bias ? ld8(job->bias + c) : (v8sf){0};
                for (int j = 0; j < 2; j++) {
                    for (int i = 0; i < 6; i++) col[i] = r[i][j];
                    at6(y, col);
                    for (int i = 0; i < 2; i++) st8(ob + ((size_t)i * g->ow + (size_t)j) * cout + c, y[i] + b);
                }
            }
        }
    }
}

void cnn_convd_winograd_forward(float *out, const float *in_pad, const float *u, const float *bias,
                                const CnnConvdGeom *g, float *scratch, int parts)
{
    CNN_ASSERT(cnn_convd_winograd_applies(g));
    const long tiles = (long)g->n * (g->oh / 2) * (g->ow / 2);
    const int blocks = (int)((tiles + WINO_TB - 1) / WINO_TB);
    WinoJob job = {out, in_pad, u, bias, g, scratch, blocks};
    run_parts(wino_part, &job, parts < blocks ? parts : blocks);
}

/* Winograd for the weight gradient. The forward is linear in the kernel g: per tile and channel pair
 * y = A^T [ (G g G^T) (.) (B^T d B) ] A, so the gradient of sum(dy * y) with respect to g is
 * G^T [ (B^T d B) (.) (A dy A^T) ] G. Summed over tiles and samples: 36 products
 * P[pos] = V[pos]^T Z[pos] over the tiles (V: the transformed inputs, as in the forward; Z: the
 * transformed output gradients), then dw += G^T P G once per call. Each P element is summed over
 * the tiles in order, whatever the thread count (threads split the 36 positions). */

/* z[6] = A u for two vectors: A = (A^T)^T has rows (1,0) (1,1) (1,-1) (1,2) (1,-2) (0,1) */
static inline void a6(v8sf z[6], v8sf u0, v8sf u1)
{
    z[0] = u0;
    z[1] = u0 + u1;
    z[2] = u0 - u1;
    z[3] = u0 + 2 * u1;
    z[4] = u0 - 2 * u1;
    z[5] = u1;
}

typedef struct {
    const float *in_pad, *dout;
    const CnnConvdGeom *g;
    float *scratch, *p;
    int blocks;
} WinoWgJob;

static void wino_wg_part(void *arg, int part, int parts)
{
    const WinoWgJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout;
    const long tiles = (long)g->n * (g->ow / 2) * (g->oh / 2);
    const int pos0 = 36 * part / parts, pos1 = 36 * (part + 1) / parts;
    float *v = job->scratch + (size_t)part * 36 * WINO_TB * (size_t)(cin + cout); /* [36][TB][cin] */
    float *z = v + (size_t)36 * WINO_TB * cin;                                     /* [36][TB][cout] */
    memset(job->p + (size_t)pos0 * cin * cout, 0, (size_t)(pos1 - pos0) * cin * cout * sizeof(float));
    for (int blk = 0; blk < job->blocks; blk++) {
        const long t0 = (long)blk * WINO_TB;
        const int nt = tiles - t0 < WINO_TB ? (int)(tiles - t0) : WINO_TB;
        for (int t = 0; t < nt; t++) {
            int img, y0, x0;
            tile_origin(g, t0 + t, &img, &y0, &x0);
            input_transform(v, job->in_pad, g, t0 + t, t, pos0, pos1); /* V, as in the forward */
            const float *gb = job->dout + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            for (int c = 0; c < cout; c += 8) { /* Z = A dy A^T */
                v8sf r0[6], r1[6], col[6];
                a6(r0, ld8(gb + c), ld8(gb + cout + c));                                         /* row 0 of dy */
                a6(r1, ld8(gb + (size_t)g->ow * cout + c), ld8(gb + ((size_t)g->ow + 1) * cout + c)); /* row 1 */
                for (int j = 0; j < 6; j++) {
                    a6(col, r0[j], r1[j]);
                    for (int i = 0; i < 6; i++) {
                        const int pos = i * 6 + j;
                        if (pos >= pos0 && pos < pos1) st8(z + ((size_t)pos * WINO_TB + (size_t)t) * cout + c, col[i]);
                    }
                }
            }
        }
        /* P[pos] += V[pos]^T Z[pos]: rows of 6 input channels x 16 output channels, over the tiles */
        for (int pos = pos0; pos < pos1; pos++)
            for (int q = 0; q < cout; q += NR)
                for (int c0 = 0; c0 < cin; c0 += MR) {
                    const int R = cin - c0 < MR ? cin - c0 : MR;
                    float *d = job->p + ((size_t)pos * cin + (size_t)c0) * cout + (size_t)q;
                    WGRAD_TILE_ANY(R, d, cout, v + (size_t)pos * WINO_TB * cin + c0, 0, cin,
                                   z + (size_t)pos * WINO_TB * cout + q, cout, 1, nt);
                }
    }
}

void cnn_convd_winograd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g,
                                    float *p, float *scratch, int parts)
{
    CNN_ASSERT(cnn_convd_winograd_applies(g));
    const int cin = g->cin, cout = g->cout;
    const long tiles = (long)g->n * (g->oh / 2) * (g->ow / 2);
    WinoWgJob job = {in_pad, dout, g, scratch, p, (int)((tiles + WINO_TB - 1) / WINO_TB)};
    run_parts(wino_wg_part, &job, parts < 36 ? parts : 36);
    /* dw[ky][kx][ci][co] += (G^T P G)[ky][kx], 8 output channels at a time */
    for (int ci = 0; ci < cin; ci++)
        for (int c = 0; c < cout; c += 8) {
            v8sf t[6][5];
            for (int i = 0; i < 6; i++) {
                v8sf row[6];
                for (int j = 0; j < 6; j++) row[j] = ld8(p + ((size_t)(i * 6 + j) * cin + (size_t)ci) * cout + c);
                for (int kx = 0; kx < 5; kx++) {
                    v8sf acc = row[0] * WG[0][kx];
                    for (int j = 1; j < 6; j++) acc += row[j] * WG[j][kx];
                    t[i][kx] = acc; /* (P G)[i][kx] */
                }
            }
            for (int ky = 0; ky < 5; ky++)
                for (int kx = 0; kx < 5; kx++) {
                    v8sf acc = t[0][kx] * WG[0][ky];
                    for (int i = 1; i < 6; i++) acc += t[i][kx] * WG[i][ky];
                    float *d = dw + (((size_t)ky * 5 + (size_t)kx) * cin + (size_t)ci) * cout + c;
                    st8(d, ld8(d) + acc);
                }
        }
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

int cnn_convd_winograd_applies(const CnnConvdGeom *g)
{
    (void)g;
    return 0;
}

void cnn_convd_winograd_weights(float *u, const float *w, int cin, int cout, int flipped)
{
    (void)u, (void)w, (void)cin, (void)cout, (void)flipped;
    CNN_ASSERT(!"direct convolution kernels are not built");
}

void cnn_convd_winograd_forward(float *out, const float *in_pad, const float *u, const float *bias,
                                const CnnConvdGeom *g, float *scratch, int parts)
{
    (void)out, (void)in_pad, (void)u, (void)bias, (void)g, (void)scratch, (void)parts;
    CNN_ASSERT(!"direct convolution kernels are not built");
}

void cnn_convd_winograd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g,
                                    float *p, float *scratch, int parts)
{
    (void)dw, (void)in_pad, (void)dout, (void)g, (void)p, (void)scratch, (void)parts;
    CNN_ASSERT(!"direct convolution kernels are not built");
}
#endif
