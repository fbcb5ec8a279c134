/* dense: the three products of a fully connected layer on the tiles of tiles.h, each output one chain
 * of fused multiply-adds in a fixed order (dense.c in src/nn prepares the operands):
 *  - forward: R samples x a panel of outputs, summed over the inputs from the bias;
 *  - weight gradient: R input features x a panel of outputs, summed over the samples;
 *  - data gradient: lanes are samples. din[i][k] = sum_j dout[i][j] w[k][j] sums along a row of w, so
 *    with the outputs as lanes it would need w transposed every step; with the samples as lanes it reads
 *    w rows as they are (one broadcast per step) against dout^T, which is small. */
#include "tiles.h"

#if HAS_TILES

void KFN(dense_forward)(float *out, const float *in, const float *w, size_t ldw, const float *b, int n, int nin,
                        int nout)
{
    const int nr = tile_panel(nout), nv = nr / VL, mr = tile_rows(nv);
    for (int q = 0; q * nr < nout; q++) {
        GemmTile t = {.astep = 0,
                      .rows = 1,
                      .klen = nin,
                      .b = w + (size_t)q * nr,
                      .ldb = ldw,
                      .nc = nout - q * nr < nr ? nout - q * nr : nr,
                      .acc = 0,
                      .bias = b ? b + (size_t)q * nr : NULL};
        for (int i0 = 0; i0 < n; i0 += mr) {
            const int R = n - i0 < mr ? n - i0 : mr;
            const float *pa[TILE_R_MAX];
            float *pc[TILE_R_MAX];
            for (int r = 0; r < R; r++) {
                pa[r] = in + (size_t)(i0 + r) * nin;
                pc[r] = out + (size_t)(i0 + r) * nout + (size_t)q * nr;
            }
            t.a = pa;
            t.c = pc;
            gemm_tile(R, nv, &t);
        }
    }
}

void KFN(dense_weight_grad)(float *dw, const float *in, const float *dout, size_t ldd, int n, int nin, int nout,
                            int overwrite)
{
    const int nr = tile_panel(nout), nv = nr / VL, mr = tile_rows(nv);
    for (int q = 0; q * nr < nout; q++)
        for (int k0 = 0; k0 < nin; k0 += mr) {
            const ReduceTile rt = {.c = dw + (size_t)k0 * nout + (size_t)q * nr,
                                   .ldc = (size_t)nout,
                                   .nc = nout - q * nr < nr ? nout - q * nr : nr,
                                   .zero = overwrite,
                                   .a = in + k0,
                                   .arow = 0,
                                   .acol = (size_t)nin,
                                   .g = dout + (size_t)q * nr,
                                   .grow = 0,
                                   .gcol = ldd,
                                   .oh = 1,
                                   .ow = n};
            reduce_tile(nin - k0 < mr ? nin - k0 : mr, nv, &rt);
        }
}

void KFN(dense_data_grad_t)(float *dint, const float *w, const float *doutt, int npad, int nin, int nout)
{
    const int nr = tile_panel(npad), nv = nr / VL, mr = tile_rows(nv);
    for (int q = 0; q * nr < npad; q++) {
        GemmTile t = {.astep = 0,
                      .rows = 1,
                      .klen = nout,
                      .b = doutt + (size_t)q * nr,
                      .ldb = (size_t)npad,
                      .nc = nr,
                      .acc = 0,
                      .bias = NULL};
        for (int k0 = 0; k0 < nin; k0 += mr) {
            const int R = nin - k0 < mr ? nin - k0 : mr;
            const float *pa[TILE_R_MAX];
            float *pc[TILE_R_MAX];
            for (int r = 0; r < R; r++) {
                pa[r] = w + (size_t)(k0 + r) * nout;
                pc[r] = dint + (size_t)(k0 + r) * npad + (size_t)q * nr;
            }
            t.a = pa;
            t.c = pc;
            gemm_tile(R, nv, &t);
        }
    }
}

#endif
