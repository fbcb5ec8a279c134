/* tiles: the two register-tiled micro-kernels that every product in this folder runs on (direct and
 * Winograd convolutions, dense layers). A tile is R rows x NV vectors of outputs held in registers
 * (R * NV accumulators) for a whole reduction; R and NV are compile-time constants of each instance
 * (tiles.c), so the accumulators never leave the registers.
 *
 * Each output element is its own chain of fused multiply-adds over the reduction, in the order the
 * caller's loops give, whatever R, NV or the vector width: this is what makes AVX2 and AVX-512 (and
 * any thread split) give the same bits. */
#ifndef CNN_KERNELS_TILES_H
#define CNN_KERNELS_TILES_H

#include "simd.h"

#if HAS_TILES

#if VL == 16
#define TILE_NV_MAX 4 /* 32 zmm registers: up to 24 accumulators */
#else
#define TILE_NV_MAX 2 /* 16 ymm registers: up to 12 accumulators */
#endif
#define TILE_R_MAX 12

/* gemm tile: C[r][0..nc) = (acc ? C[r] : bias, or 0 when bias is NULL)
 *                          + sum over ky < rows, j < klen of A[r][ky*astep + j] * B[ky*klen + j][0..NV*VL)
 * with B rows ldb floats apart, each read as NV full vectors (pad B past nc). The sum runs ky, then j. */
typedef struct {
    const float *const *a; /* R row pointers */
    size_t astep;          /* floats between the kernel rows ky of one A row */
    int rows, klen;
    const float *b;
    size_t ldb;
    float *const *c; /* R row pointers */
    int nc;          /* valid columns of C, <= NV * VL */
    int acc;
    const float *bias; /* nc values (when !acc) */
} GemmTile;

/* reduce tile: C[r][0..nc) = (zero ? 0 : C[r]) + sum over pixels (oy < oh, ox < ow) of A[oy*arow + ox*acol + r]
 *                                                                         * G[oy*grow + ox*gcol + 0..NV*VL)
 * with C rows ldc floats apart; the sum runs oy, then ox (pad G past nc). */
typedef struct {
    float *c;
    size_t ldc;
    int nc;
    int zero; /* start from 0 instead of C (a first term: C need not be zeroed) */
    const float *a;
    size_t arow, acol;
    const float *g;
    size_t grow, gcol;
    int oh, ow;
} ReduceTile;

/* Rows a tile of nv vectors may have (1 <= nv <= TILE_NV_MAX). */
int KFN(tile_rows)(int nv);
/* Runs the (r, nv) instance, 1 <= r <= tile_rows(nv). */
void KFN(gemm_tile)(int r, int nv, const GemmTile *t);
void KFN(reduce_tile)(int r, int nv, const ReduceTile *t);
/* The panel width (a multiple of VL, at most TILE_NV_MAX * VL) for a product with `cols` outputs:
 * the widest that divides cols, else cols rounded up to a vector when it fits one panel. */
int KFN(panel_width)(int cols);

#define tile_rows KFN(tile_rows)
#define gemm_tile KFN(gemm_tile)
#define reduce_tile KFN(reduce_tile)
#define tile_panel KFN(panel_width)

#endif
#endif
