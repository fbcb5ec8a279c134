/* tiles: the instances of the two micro-kernels of tiles.h, one function per (rows, vectors) shape,
 * and the tables that pick them at run time. */
#include "tiles.h"

#if HAS_TILES

static inline __attribute__((always_inline)) void gemm_tile_body(const int R, const int NV, const GemmTile *t)
{
    vf c[TILE_R_MAX][TILE_NV_MAX];
    const int full = t->nc == NV * VL;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        const float *src = t->acc ? t->c[r] : t->bias;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const int n = t->nc - v * VL;
            c[r][v] = !src ? vzero() : full || n >= VL ? vload(src + v * VL) : n > 0 ? vload_n(src + v * VL, n) : vzero();
        }
    }
    const float *b = t->b;
    const size_t ldb = t->ldb;
    for (int ky = 0; ky < t->rows; ky++, b += (size_t)t->klen * ldb) {
        const size_t off = (size_t)ky * t->astep;
#pragma GCC unroll 2
        for (int j = 0; j < t->klen; j++) {
            vf w[TILE_NV_MAX];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) w[v] = vload(b + (size_t)j * ldb + v * VL);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                const vf x = vbcast(t->a[r] + off + j);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) c[r][v] = vfma(x, w[v], c[r][v]);
            }
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const int n = t->nc - v * VL;
            if (full || n >= VL)
                vstore(t->c[r] + v * VL, c[r][v]);
            else if (n > 0)
                vstore_n(t->c[r] + v * VL, c[r][v], n);
        }
}

/* The reduce tile's sum over the pixels. masked: G's rows end at nc (a layer whose channels are not a
 * multiple of the panel: the whitening conv's 24), so its last vectors are loaded under a mask, not read
 * past the tensor; the lanes past nc are never stored. */
static inline __attribute__((always_inline)) void reduce_pixels(const int R, const int NV, const ReduceTile *t,
                                                                vf c[TILE_R_MAX][TILE_NV_MAX], const int masked)
{
    for (int oy = 0; oy < t->oh; oy++) {
        const float *ar = t->a + (size_t)oy * t->arow;
        const float *gr = t->g + (size_t)oy * t->grow;
        for (int ox = 0; ox < t->ow; ox++, ar += t->acol, gr += t->gcol) {
            vf gv[TILE_NV_MAX];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const int n = t->nc - v * VL;
                gv[v] = !masked || n >= VL ? vload(gr + v * VL) : n > 0 ? vload_n(gr + v * VL, n) : vzero();
            }
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                const vf x = vbcast(ar + r);
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) c[r][v] = vfma(x, gv[v], c[r][v]);
            }
        }
    }
}

static inline __attribute__((always_inline)) void reduce_tile_body(const int R, const int NV, const ReduceTile *t)
{
    vf c[TILE_R_MAX][TILE_NV_MAX];
    const int full = t->nc == NV * VL;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const int n = t->nc - v * VL;
            const float *src = t->c + (size_t)r * t->ldc + v * VL;
            c[r][v] = t->zero ? vzero() : full || n >= VL ? vload(src) : n > 0 ? vload_n(src, n) : vzero();
        }
    if (full)
        reduce_pixels(R, NV, t, c, 0);
    else
        reduce_pixels(R, NV, t, c, 1);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const int n = t->nc - v * VL;
            float *dst = t->c + (size_t)r * t->ldc + v * VL;
            if (full || n >= VL)
                vstore(dst, c[r][v]);
            else if (n > 0)
                vstore_n(dst, c[r][v], n);
        }
}

/* The largest R per NV: R * NV accumulators plus NV loaded vectors and a broadcast fit the registers. */
#if VL == 16
static const int r_max[TILE_NV_MAX + 1] = {0, 12, 12, 8, 6};
#else
static const int r_max[TILE_NV_MAX + 1] = {0, 12, 6};
#endif

typedef void (*GemmFn)(const GemmTile *);
typedef void (*ReduceFn)(const ReduceTile *);

#define INSTANCE(R, NV)                                                                                        \
    static void gemm_##R##_##NV(const GemmTile *t) { gemm_tile_body(R, NV, t); }                               \
    static void reduce_##R##_##NV(const ReduceTile *t) { reduce_tile_body(R, NV, t); }
#define INSTANCES_UP_TO_6(NV) INSTANCE(1, NV) INSTANCE(2, NV) INSTANCE(3, NV) INSTANCE(4, NV) INSTANCE(5, NV) INSTANCE(6, NV)
#define INSTANCES_7_TO_8(NV) INSTANCE(7, NV) INSTANCE(8, NV)
#define INSTANCES_9_TO_12(NV) INSTANCE(9, NV) INSTANCE(10, NV) INSTANCE(11, NV) INSTANCE(12, NV)
#define ROW_6(F, NV) F##_1_##NV, F##_2_##NV, F##_3_##NV, F##_4_##NV, F##_5_##NV, F##_6_##NV
#define ROW_8(F, NV) ROW_6(F, NV), F##_7_##NV, F##_8_##NV
#define ROW_12(F, NV) ROW_8(F, NV), F##_9_##NV, F##_10_##NV, F##_11_##NV, F##_12_##NV

INSTANCES_UP_TO_6(1) INSTANCES_7_TO_8(1) INSTANCES_9_TO_12(1)
INSTANCES_UP_TO_6(2)
#if VL == 16
INSTANCES_7_TO_8(2) INSTANCES_9_TO_12(2)
INSTANCES_UP_TO_6(3) INSTANCES_7_TO_8(3)
INSTANCES_UP_TO_6(4)
static const GemmFn gemm_fns[TILE_NV_MAX + 1][TILE_R_MAX + 1] = {
    {NULL}, {NULL, ROW_12(gemm, 1)}, {NULL, ROW_12(gemm, 2)}, {NULL, ROW_8(gemm, 3)}, {NULL, ROW_6(gemm, 4)}};
static const ReduceFn reduce_fns[TILE_NV_MAX + 1][TILE_R_MAX + 1] = {
    {NULL}, {NULL, ROW_12(reduce, 1)}, {NULL, ROW_12(reduce, 2)}, {NULL, ROW_8(reduce, 3)}, {NULL, ROW_6(reduce, 4)}};
#else
static const GemmFn gemm_fns[TILE_NV_MAX + 1][TILE_R_MAX + 1] = {{NULL}, {NULL, ROW_12(gemm, 1)}, {NULL, ROW_6(gemm, 2)}};
static const ReduceFn reduce_fns[TILE_NV_MAX + 1][TILE_R_MAX + 1] = {
    {NULL}, {NULL, ROW_12(reduce, 1)}, {NULL, ROW_6(reduce, 2)}};
#endif

int tile_rows(int nv) { return r_max[nv]; }

void gemm_tile(int r, int nv, const GemmTile *t) { gemm_fns[nv][r](t); }

void reduce_tile(int r, int nv, const ReduceTile *t) { reduce_fns[nv][r](t); }

int KFN(panel_width)(int cols)
{
    for (int nv = TILE_NV_MAX; nv >= 1; nv--)
        if (cols % (nv * VL) == 0) return nv * VL;
    if (cols <= TILE_NV_MAX * VL) return (cols + VL - 1) / VL * VL;
    return VL;
}

#endif
