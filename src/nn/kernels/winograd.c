/* winograd: F(2x2, 5x5) and F(4x4, 5x5) for 5x5 stride-1 convolutions with cin % 8 == 0 and
 * cout % 16 == 0, and output sizes that are multiples of 2 (of 4). Each m x m block of outputs comes from
 * the (m+4) x (m+4) block of padded input under it as Y = A^T [ (G g G^T) (.) (B^T d B) ] A:
 * (m+4)^2 multiplications per block and channel pair instead of 25 m^2, 2.8x fewer for m = 2 and 6.25x
 * fewer for m = 4. The matrices are Toom-Cook's for the points 0, 1, -1, 2, -2 (and 1/2, -1/2 for
 * m = 4) and infinity, derived in exact fractions (B^T's entries are exact in float; G's fractions are
 * applied once per step, to the weights). The (m+4)^2 products are small matrix products over the input
 * channels, [tiles][cin] x [cin][cout], on the gemm tiles; tiles go in blocks of CNN_WINO_TB(m). The
 * transforms work on a vector of channels at a time with the same operations on every lane (and a
 * masked vector for the last 8 channels when a 16-lane vector does not fit), so their results do not
 * depend on the vector width either. Rounding (RMS relative error against float64 on a 64-channel
 * layer, a numpy model of the same transforms): 2.2e-6 for F(2x2), 3.7e-6 for F(4x4), against 1.7e-7
 * for a direct sum: far below what training notices. */
#include "tiles.h"

#if HAS_TILES

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

/* ---- F(2x2, 5x5): points 0, 1, -1, 2, -2, infinity ---- */
static const float BT_f2[6][6] = {
    {4.0f, 0.0f, -5.0f, 0.0f, 1.0f, 0.0f},  {0.0f, -4.0f, -4.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 4.0f, -4.0f, -1.0f, 1.0f, 0.0f}, {0.0f, -2.0f, -1.0f, 2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, -1.0f, -2.0f, 1.0f, 0.0f}, {0.0f, 4.0f, 0.0f, -5.0f, 0.0f, 1.0f},
};
static const float G_f2[6][5] = {
    {1.0f / 4, 0.0f, 0.0f, 0.0f, 0.0f},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6, 1.0f / 3, 2.0f / 3},
    {1.0f / 24, -1.0f / 12, 1.0f / 6, -1.0f / 3, 2.0f / 3},
    {0.0f, 0.0f, 0.0f, 0.0f, 1.0f},
};
static const float AT_f2[2][6] = {{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f}, {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 1.0f}};

/* ---- F(4x4, 5x5): points 0, 1, -1, 2, -2, 1/2, -1/2, infinity ---- */
static const float BT_f4[8][8] = {
    {-1.0f, 0.0f, 21.0f / 4, 0.0f, -21.0f / 4, 0.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, -17.0f / 4, -17.0f / 4, 1.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, 1.0f, 17.0f / 4, -17.0f / 4, -1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f / 2, 1.0f / 4, -5.0f / 2, -5.0f / 4, 2.0f, 1.0f, 0.0f},
    {0.0f, -1.0f / 2, 1.0f / 4, 5.0f / 2, -5.0f / 4, -2.0f, 1.0f, 0.0f},
    {0.0f, 2.0f, 4.0f, -5.0f / 2, -5.0f, 1.0f / 2, 1.0f, 0.0f},
    {0.0f, -2.0f, 4.0f, 5.0f / 2, -5.0f, -1.0f / 2, 1.0f, 0.0f},
    {0.0f, -1.0f, 0.0f, 21.0f / 4, 0.0f, -21.0f / 4, 0.0f, 1.0f},
};
static const float G_f4[8][5] = {
    {-1.0f, 0.0f, 0.0f, 0.0f, 0.0f},
    {-2.0f / 9, -2.0f / 9, -2.0f / 9, -2.0f / 9, -2.0f / 9},
    {-2.0f / 9, 2.0f / 9, -2.0f / 9, 2.0f / 9, -2.0f / 9},
    {1.0f / 90, 1.0f / 45, 2.0f / 45, 4.0f / 45, 8.0f / 45},
    {1.0f / 90, -1.0f / 45, 2.0f / 45, -4.0f / 45, 8.0f / 45},
    {32.0f / 45, 16.0f / 45, 8.0f / 45, 4.0f / 45, 2.0f / 45},
    {32.0f / 45, -16.0f / 45, 8.0f / 45, -4.0f / 45, 2.0f / 45},
    {0.0f, 0.0f, 0.0f, 0.0f, 1.0f},
};
static const float AT_f4[4][8] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 1.0f / 2, -1.0f / 2, 0.0f},
    {0.0f, 1.0f, 1.0f, 4.0f, 4.0f, 1.0f / 4, 1.0f / 4, 0.0f},
    {0.0f, 1.0f, -1.0f, 8.0f, -8.0f, 1.0f / 8, -1.0f / 8, 1.0f},
};

typedef struct {
    float *out;
    const float *in_pad, *u, *bias;
    const CnnConvdGeom *g;
    float *scratch;
    int blocks;
} WinoJob;

typedef struct {
    const float *in_pad, *dout;
    const CnnConvdGeom *g;
    float *scratch, *p;
    int blocks;
} WinoWgJob;

#define WM 2
#define WF(name) name##_f2
#include "winograd_f.h"
#undef WF
#undef WM

#define WM 4
#define WF(name) name##_f4
#include "winograd_f.h"
#undef WF
#undef WM

void KFN(winograd_weights)(float *u, const float *w, int cin, int cout, int flipped, int m)
{
    if (m == 4)
        weights_f4(u, w, cin, cout, flipped);
    else
        weights_f2(u, w, cin, cout, flipped);
}

void KFN(winograd_forward)(float *out, const float *in_pad, const float *u, const float *bias, const CnnConvdGeom *g,
                           float *scratch, int parts, int m)
{
    if (m == 4)
        forward_f4(out, in_pad, u, bias, g, scratch, parts);
    else
        forward_f2(out, in_pad, u, bias, g, scratch, parts);
}

void KFN(winograd_weight_grad)(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, float *p,
                               float *scratch, int parts, int overwrite, int m)
{
    if (m == 4)
        weight_grad_f4(dw, in_pad, dout, g, p, scratch, parts, overwrite);
    else
        weight_grad_f2(dw, in_pad, dout, g, p, scratch, parts, overwrite);
}

#endif
