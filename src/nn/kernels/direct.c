/* direct: convolutions of any stride computed straight from a zero-padded NHWC copy of the input, with
 * no im2col matrix and no GEMM packing (conv.c says why). Both run on the tiles of tiles.h:
 *  - forward / data gradient: R output pixels x one panel of output channels; each step of the
 *    reduction broadcasts one input value per pixel and loads the panel's weights. In NHWC the kw*cin
 *    inputs under one kernel row are contiguous, so the reduction is kh runs of kw*cin steps.
 *  - weight gradient: R consecutive (kx, cin) rows of dW x one panel of output channels, reduced over
 *    the pixels of one sample at a time (dW goes back to memory between samples).
 * Every output is summed in one order fixed by the shape (bias, then ky = 0, 1, ...; samples in order
 * for dW), whatever the tile, the vector width or the thread count. */
#include "tiles.h"

#if HAS_TILES

#include "cnn/nn/parallel.h"
#include "cnn/util.h"

/* Kernel rows per block: as many as keep the block's weights (rows x klen x panel floats) in half of a
 * 32 KB L1 (the 48 KB of Zen 4/5 and Sapphire Rapids take the 64-column AVX-512 panels of conv1 whole). */
#define L1_FLOATS (VL == 16 ? 8192 : 4096)

typedef struct {
    float *out;
    const float *in_pad, *wp, *bias;
    const CnnConvdGeom *g;
} FwdJob;

/* Samples [n*part/parts, n*(part+1)/parts), one at a time (its padded input and output stay in L2), one
 * panel and one block of kernel rows at a time (its weights stay in L1) across all its pixel tiles. */
static void fwd_part(void *arg, int part, int parts)
{
    const FwdJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, ow = g->ow, pw = g->pw, kh = g->kh;
    const size_t st = (size_t)g->stride;
    const size_t npix = (size_t)g->oh * ow, rowstride = (size_t)pw * cin;
    const int klen = g->kw * cin, K = kh * klen, nr = tile_panel(cout), nv = nr / VL, mr = tile_rows(nv);
    const int panels = (cout + nr - 1) / nr;
    int kb = L1_FLOATS / (klen * nr);
    if (kb < 1) kb = 1;
    const int i0 = (int)((long)g->n * part / parts), i1 = (int)((long)g->n * (part + 1) / parts);
    for (int img = i0; img < i1; img++) {
        const float *ii = job->in_pad + (size_t)img * g->ph * rowstride;
        float *oi = job->out + (size_t)img * npix * cout;
        for (int q = 0; q < panels; q++) {
            const int nc = cout - q * nr < nr ? cout - q * nr : nr;
            for (int ky = 0; ky < kh; ky += kb) {
                GemmTile t = {.astep = rowstride,
                              .rows = kh - ky < kb ? kh - ky : kb,
                              .klen = klen,
                              .b = job->wp + ((size_t)q * K + (size_t)ky * klen) * nr,
                              .ldb = (size_t)nr,
                              .nc = nc,
                              .acc = ky > 0,
                              .bias = job->bias ? job->bias + q * nr : NULL};
                size_t y = 0, x = 0; /* the next pixel's output row and column */
                for (size_t p0 = 0; p0 < npix; p0 += (size_t)mr) {
                    const int R = npix - p0 < (size_t)mr ? (int)(npix - p0) : mr;
                    const float *px[TILE_R_MAX];
                    float *po[TILE_R_MAX];
                    for (int r = 0; r < R; r++) {
                        px[r] = ii + ((st * y + (size_t)ky) * (size_t)pw + st * x) * (size_t)cin;
                        po[r] = oi + (p0 + (size_t)r) * (size_t)cout + (size_t)q * nr;
                        if (++x == (size_t)ow) x = 0, y++;
                    }
                    t.a = px;
                    t.c = po;
                    gemm_tile(R, nv, &t);
                }
            }
        }
    }
}

void KFN(direct_forward)(float *out, const float *in_pad, const float *wp, const float *bias, const CnnConvdGeom *g,
                         int threads)
{
    FwdJob job = {out, in_pad, wp, bias, g};
    cnn_parallel_run(fwd_part, &job, threads < g->n ? threads : g->n);
}

typedef struct {
    float *dw;
    const float *in_pad, *dout;
    const CnnConvdGeom *g;
    int overwrite;
} WgradJob;

/* Tiles (panel, ky, j0) [tiles*part/parts, tiles*(part+1)/parts), each summed over all samples in
 * order, so a tile's sums are the same whoever computes it. */
static void wgrad_part(void *arg, int part, int parts)
{
    const WgradJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, klen = g->kw * cin;
    const int nr = tile_panel(cout), nv = nr / VL;
    /* rows per tile: the fewest tiles of at most tile_rows, evened out (conv1: 15 = 5 + 5 + 5, not 6 + 6 + 3) */
    const int jt = (klen + tile_rows(nv) - 1) / tile_rows(nv), mr = (klen + jt - 1) / jt;
    const int panels = (cout + nr - 1) / nr;
    const long tiles = (long)g->kh * jt * panels;
    const long t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
    const size_t arow = (size_t)g->pw * cin;
    for (int img = 0; img < g->n; img++) {
        const float *ai = job->in_pad + (size_t)img * g->ph * arow;
        const float *gi = job->dout + (size_t)img * g->oh * g->ow * cout;
        for (long t = t0; t < t1; t++) {
            /* panel slowest: consecutive tiles share the sample's dout panel */
            const int j0 = (int)(t % jt) * mr, ky = (int)(t / jt % g->kh), q = (int)(t / jt / g->kh) * nr;
            const int R = klen - j0 < mr ? klen - j0 : mr;
            const ReduceTile rt = {.c = job->dw + ((size_t)ky * klen + (size_t)j0) * cout + (size_t)q,
                                   .ldc = (size_t)cout,
                                   .nc = cout - q < nr ? cout - q : nr, /* the last panel may be partial */
                                   .zero = job->overwrite && img == 0,
                                   .a = ai + (size_t)ky * arow + (size_t)j0,
                                   .arow = arow * (size_t)g->stride,
                                   .acol = (size_t)cin * (size_t)g->stride,
                                   .g = gi + q,
                                   .grow = (size_t)g->ow * cout,
                                   .gcol = (size_t)cout,
                                   .oh = g->oh,
                                   .ow = g->ow};
            reduce_tile(R, nv, &rt);
        }
    }
}

void KFN(direct_weight_grad)(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, int threads,
                             int overwrite)
{
    CNN_ASSERT(g->cout % 8 == 0);
    WgradJob job = {dw, in_pad, dout, g, overwrite};
    cnn_parallel_run(wgrad_part, &job, threads);
}

#endif
