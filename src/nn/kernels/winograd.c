/* winograd: F(m x m, r x r) for stride-1 r x r convolutions, from one implementation (winograd_f.h,
 * included once per (m, r)): F(2x2, 5x5) and F(4x4, 5x5), F(2x2, 3x3), F(4x4, 3x3) and F(6x6, 3x3), for
 * cin % 8 == 0 and cout % 8 == 0 (the plan asks 16 for weight gradients and 5x5 output sizes that are
 * multiples of m; 3x3 tiles are cut by the edge). Each m x m block of outputs comes from the
 * alpha x alpha block of the padded input under it (alpha = m + r - 1; read from the unpadded input) as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A: alpha^2 multiplications per block and channel pair instead of
 * r^2 m^2 (5x5: 2.8x fewer for m = 2, 6.25x for m = 4; 3x3: 2.25x, 4x and 5.06x for m = 2, 4, 6). The
 * matrices are Toom-Cook's (winograd_tables.h: exact fractions, checked exactly by tests/test_winograd.c;
 * B^T's entries are exact in float, G's fractions are applied once per step, to the weights). The alpha^2
 * products are small matrix products over the input channels, [tiles][cin] x [cin][cout], on the gemm
 * tiles; tiles go in blocks of CNN_WINO_TB(m, r). The transforms work on a vector of channels at a time
 * with the same operations on every lane (and a masked vector for the last 8 channels when a 16-lane
 * vector does not fit), so their results do not depend on the vector width either. Rounding against
 * float64: bench/RESULTS.md (5x5, a numpy model: 2.2e-6 RMS for F(2x2), 3.7e-6 for F(4x4), 1.7e-7 for a
 * direct sum). */
#include "tiles.h"

#if HAS_TILES

#include <string.h>

#include "cnn/nn/parallel.h"
#include "cnn/util.h"


/* n == VL: whole vectors; else the first n lanes */
static inline __attribute__((always_inline)) vf ldn(const float *p, int n) { return n == VL ? vload(p) : vload_n(p, n); }
static inline __attribute__((always_inline)) void stn(float *p, vf v, int n)
{
    if (n == VL)
        vstore(p, v);
    else
        vstore_n(p, v, n);
}

#define WT_TYPE float
#define Q(num, den) ((float)(num) / (float)(den))
#include "winograd_tables.h"
#undef Q
#undef WT_TYPE

typedef struct {
    float *out;
    const float *in, *u, *bias;
    const CnnConvdGeom *g;
    float *scratch;
    int blocks;
    float *pool;     /* not NULL: out is not written; the 2x2 max-pool of it is, with its argmax */
    int32_t *argmax;
} WinoJob;

typedef struct {
    const float *in, *dout;
    const CnnConvdGeom *g;
    float *scratch, *p;
    int blocks, tb; /* tb: tiles per block (CNN_WINO_TBW) */
} WinoWgJob;

#define WM 2
#define WR 5
#define WF(name) name##_m2r5
#define BT_m2r5 BT_a6
#include "winograd_f.h"
#undef WF
#undef WR
#undef WM

#define WM 4
#define WR 5
#define WF(name) name##_m4r5
#define BT_m4r5 BT_a8
#include "winograd_f.h"
#undef WF
#undef WR
#undef WM

#define WM 2
#define WR 3
#define WF(name) name##_m2r3
#define BT_m2r3 BT_a4
#include "winograd_f.h"
#undef WF
#undef WR
#undef WM

#define WM 4
#define WR 3
#define WF(name) name##_m4r3
#define BT_m4r3 BT_a6
#include "winograd_f.h"
#undef WF
#undef WR
#undef WM

#define WM 6
#define WR 3
#define WF(name) name##_m6r3
#define BT_m6r3 BT_a8
#include "winograd_f.h"
#undef WF
#undef WR
#undef WM

/* The five F(m x m, r x r) the plan may choose (cnn_conv_winograd_applies); r comes from the geometry. */
#define WINO_CHECK(m, r) CNN_ASSERT(((r) == 5 && ((m) == 2 || (m) == 4)) || ((r) == 3 && ((m) == 2 || (m) == 4 || (m) == 6)))

void KFN(winograd_weights)(float *u, const float *w, int cin, int cout, int flipped, int m, int r)
{
    WINO_CHECK(m, r);
    if (r == 5)
        (m == 4 ? weights_m4r5 : weights_m2r5)(u, w, cin, cout, flipped);
    else
        (m == 6 ? weights_m6r3 : m == 4 ? weights_m4r3 : weights_m2r3)(u, w, cin, cout, flipped);
}

void KFN(winograd_forward)(float *out, const float *in, const float *u, const float *bias, const CnnConvdGeom *g,
                           float *scratch, int parts, int m)
{
    WINO_CHECK(m, g->kh);
    if (g->kh == 5)
        (m == 4 ? forward_m4r5 : forward_m2r5)(out, in, u, bias, g, scratch, parts);
    else
        (m == 6 ? forward_m6r3 : m == 4 ? forward_m4r3 : forward_m2r3)(out, in, u, bias, g, scratch, parts);
}

void KFN(winograd_forward_pool)(float *pool, int32_t *argmax, const float *in, const float *u, const float *bias,
                                const CnnConvdGeom *g, float *scratch, int parts, int m)
{
    WINO_CHECK(m, g->kh);
    CNN_ASSERT(m % 2 == 0);
    if (g->kh == 5)
        (m == 4 ? forward_pool_m4r5 : forward_pool_m2r5)(pool, argmax, in, u, bias, g, scratch, parts);
    else
        (m == 6 ? forward_pool_m6r3 : m == 4 ? forward_pool_m4r3 : forward_pool_m2r3)(pool, argmax, in, u, bias, g,
                                                                                   scratch, parts);
}

void KFN(winograd_weight_grad)(float *dw, const float *in, const float *dout, const CnnConvdGeom *g, float *p,
                               float *scratch, int parts, int overwrite, int m)
{
    WINO_CHECK(m, g->kh);
    if (g->kh == 5)
        (m == 4 ? weight_grad_m4r5 : weight_grad_m2r5)(dw, in, dout, g, p, scratch, parts, overwrite);
    else
        (m == 6 ? weight_grad_m6r3 : m == 4 ? weight_grad_m4r3 : weight_grad_m2r3)(dw, in, dout, g, p, scratch,
                                                                                 parts, overwrite);
}

#endif
