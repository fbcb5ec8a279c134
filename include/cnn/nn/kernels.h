/* kernels: the arithmetic that is compiled once per instruction set, behind one table per set.
 *
 * Every source in src/nn/kernels/ is compiled three times (Makefile): for the baseline x86-64-v2
 * ("generic", SSE4.2), for x86-64-v3 ("avx2": AVX2 + FMA) and for x86-64-v4 ("avx512": AVX-512
 * F/BW/DQ/VL, 512-bit vectors). Each compile fills its own CnnKernels table; cnn_kernels(isa) hands one
 * out, and the model and the plans (plan.h) call through the table of the instruction set the ranks
 * agreed on (cpu.h). Nothing else in the program is built for more than the baseline.
 *
 * The same bits on every instruction set. Every output of a kernel is one vector lane's own chain of
 * operations, and the chain is the same on every vector width: products sum over the reduction axis in
 * one fixed order with fused multiply-adds (AVX2 and AVX-512 both have them), element-wise code runs
 * the same operations per element (plain C is never contracted into FMAs: -std=c11 implies
 * -ffp-contract=off), and nothing sums across lanes. So an AVX2 rank and an AVX-512 rank compute a
 * micro-shard's gradient bit for bit alike, and CNN_ISA only changes the speed. The register-tiled
 * products need FMA: the generic table has none (tiles == 0), and the plans take OpenBLAS there,
 * which sums in another order (a different kernel family, see plan.h). */
#ifndef CNN_NN_KERNELS_H
#define CNN_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/cpu.h"
#include "cnn/nn/layers.h"

/* A convolution: in[n][h][w][cin] seen at (top, left) of a zero-padded frame [ph][pw] -> out[n][oh][ow][cout]
 * with a kh x kw kernel and a stride, ph >= (oh - 1) * stride + kh, pw >= (ow - 1) * stride + kw. The direct
 * kernels (any stride) read a padded copy in_pad[n][ph][pw][cin] and ignore h, w, top, left; Winograd
 * (stride 1) reads the unpadded input through them, so nothing copies the padding. */
typedef struct {
    int n, ph, pw, cin, oh, ow, cout, kh, kw, stride;
    int h, w, top, left;
} CnnConvdGeom;

/* Winograd F(m x m, r x r) processes tiles in blocks of this many; a block's transformed inputs and
 * products ((m+r-1)^2 x CNN_WINO_TB(m, r) x (cin + cout) floats per thread) stay in L2: 24 for 6 x 6
 * transform tiles, 12 for 8 x 8, 48 for 4 x 4. Blocks whose position stride is a power of two (16 tiles
 * x 64 channels = 4 KB) make the transforms' stores fight over the same cache sets: 16 ran 30-40% slower
 * than 12 on Zen 5. The block size does not change any result: the weight gradient's sums P go on from
 * one block to the next as one chain of FMAs per element, over the tiles in order (checked: blocks of 96
 * for every 3x3 layer gave the same airbench94 and ResNet-20 parameter hashes). */
#define CNN_WINO_ALPHA(m, r) ((m) + (r) - 1)
#define CNN_WINO_TB(m, r) (CNN_WINO_ALPHA(m, r) <= 4 ? 48 : CNN_WINO_ALPHA(m, r) <= 6 ? 24 : 12)
/* The weight gradient's blocks: each block adds its tiles' products into all alpha^2 x cin x cout sums
 * P, so wide 3x3 layers take longer blocks to pass over P fewer times: 48 tiles from cin x cout >= 128 x
 * 128 (2.4 MB of P at 64 x 256, far past L2), 96 from 256 x 256 (9.4 MB). Measured with bench/conv3x3 on
 * airbench's layers, a Zen 4 core, rounds alternated: 24 -> 48 took its 256-channel weight gradients from
 * 126-199 to 171-203 GFLOP/s; 48 -> 96 took b2_conv2's from 155-189 to 188-208 and b3_conv1's from 164-187 to
 * 185-246 (b2_conv1's, 64 x 256, was no faster: 161-214 either way). 5x5 keeps CNN_WINO_TB, and its bits. */
#ifndef CNN_WINO_TB_WIDE
#define CNN_WINO_TB_WIDE 96
#endif
#define CNN_WINO_TBW(m, r, cin, cout)                                                                           \
    ((r) == 3 && (size_t)(cin) * (size_t)(cout) >= 65536   ? CNN_WINO_TB_WIDE                                  \
     : (r) == 3 && (size_t)(cin) * (size_t)(cout) >= 16384 ? 48                                                \
                                                            : CNN_WINO_TB(m, r))

typedef struct CnnKernels {
    CnnIsa isa;
    int lanes;   /* floats per vector register: 4 (generic), 8 (avx2), 16 (avx512) */
    int tiles;   /* 1 if the register-tiled products below exist (avx2, avx512) */

    /* ---- element-wise and windowed layers; semantics in layers.h ---- */
    /* keep: 2 * pixels * c floats that forward fills for backward (s^-beta, then s^(-beta-1)) */
    void (*lrn_forward)(float *out, float *keep, const float *in, size_t pixels, int c, int radius, float bias,
                        float alpha, float beta);
    void (*lrn_backward)(float *din, const float *dout, const float *in, const float *keep, size_t pixels, int c,
                         int radius, float alpha, float beta);
    void (*maxpool_forward)(float *out, int32_t *argmax, const float *in, const CnnPoolShape *s);
    void (*maxpool_backward)(float *din, const float *dout, const int32_t *argmax, const CnnPoolShape *s);
    void (*avgpool_forward)(float *out, const float *in, const CnnPoolShape *s);
    void (*avgpool_backward)(float *din, const float *dout, const CnnPoolShape *s);
    void (*act_forward)(float *y, const float *x, size_t count, CnnActivation act);
    void (*act_backward)(float *dx, const float *dy, const float *y, size_t count, CnnActivation act);

    /* ---- BatchNorm over one group of `pixels` rows of c channels (x[pixels][c], NHWC: pixels = n*h*w) ----
     * bn_stats: per channel, the mean and the biased variance (divided by pixels) of the group, accumulated in
     * double, pixel by pixel in order (two passes: mean, then the sum of squared deviations), rounded to float
     * at the end. */
    void (*bn_stats)(float *mean, float *var, const float *x, size_t pixels, int c);
    /* y = (x - mean[c]) * rstd[c] * gamma[c] + beta[c]; gamma NULL = 1, beta NULL = 0. rstd is computed by the
     * caller (1 / sqrt(var + eps)). y may equal x. */
    void (*bn_forward)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                       const float *beta, size_t pixels, int c);
    /* The training-mode backward of one group whose forward used the group's own mean and rstd:
     * xhat = (x - mean) * rstd; sdy[c] = sum dy, sdyx[c] = sum dy * xhat (in double, pixels in order);
     * dbeta (+)= sdy, dgamma (+)= sdyx (overwrite = 1: = instead of +=; either may be NULL);
     * dx = gamma * rstd * (dy - sdy / pixels - xhat * sdyx / pixels) (gamma NULL = 1; dx NULL: skip). dx may
     * equal dy. */
    void (*bn_backward)(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                        const float *rstd, const float *gamma, size_t pixels, int c, int overwrite);
    /* BatchNorm and the relu or gelu after it in one pass (the model fuses them where the activation is the
     * normalisation's only reader): y = act(bn_forward's value), the same bits as the two layers apart.
     * bn_backward_act: dy is the activation's output gradient, dead afterwards; bn_backward of act's backward
     * at z = bn_forward's value (recomputed from x; beta may be NULL = 0). gelu's gradient is written over dy
     * on the way, relu's recomputed (dy left as it was). dx may equal dy. */
    void (*bn_forward_act)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                           const float *beta, size_t pixels, int c, CnnActivation act);
    void (*bn_backward_act)(float *dx, float *dgamma, float *dbeta, float *dy, const float *x, const float *mean,
                            const float *rstd, const float *gamma, const float *beta, size_t pixels, int c,
                            int overwrite, CnnActivation act);
    /* The backward of evaluation-mode normalisation (fixed mean, rstd): dx = dy * gamma * rstd (used only for
     * gradient checks of a frozen BN; dx may equal dy). */
    void (*bn_backward_fixed)(float *dx, const float *dy, const float *rstd, const float *gamma, size_t pixels,
                              int c);
    /* GELU, PyTorch's exact form y = 0.5 x (1 + erf(x / sqrt 2)), is also CNN_ACT_GELU in act_forward;
     * its backward needs the INPUT x: dx = dy * (Phi(x) + x * phi(x)). dx may equal dy. */
    void (*gelu_backward)(float *dx, const float *dy, const float *x, size_t count);
    /* y = a + b (count floats; y may equal a or b), and y = s * x (y may equal x) */
    void (*add)(float *y, const float *a, const float *b, size_t count);
    void (*scale)(float *y, const float *x, float s, size_t count);
    /* Global pooling over the h*w pixels of each of n samples: in[n][hw][c] -> out[n][c]. avg: the mean
     * (sum in float in pixel order, times 1/hw); max: argmax[n][c] keeps the winning pixel (the first on
     * ties; a NaN wins). backward OVERWRITES din[n][hw][c]. */
    void (*global_avgpool_forward)(float *out, const float *in, int n, int hw, int c);
    void (*global_avgpool_backward)(float *din, const float *dout, int n, int hw, int c);
    void (*global_maxpool_forward)(float *out, int32_t *argmax, const float *in, int n, int hw, int c);
    void (*global_maxpool_backward)(float *din, const float *dout, const int32_t *argmax, int n, int hw, int c);

    /* ---- optimizer updates over n parameters (optim.h) ---- */
    void (*adam_update)(float *p, float *m, float *v, const float *g, size_t n, float b1, float b2, float lr_t,
                        float eps);
    void (*momentum_update)(float *p, float *a, const float *g, size_t n, float mom, float lr);
    void (*nesterov_update)(float *p, float *a, const float *g, size_t n, float mom, float lr);

    /* ---- fixed-point sums of one tensor (fixedsum.h): acc += round(g * scale); the _max form also
     * returns the largest |g| as its float bit pattern (0x7f800000 and above: Inf or NaN seen), and
     * with first = 1 overwrites acc instead of adding (no zeroing pass) ---- */
    void (*fixed_accumulate)(int64_t *acc, const float *g, size_t n, double scale);
    uint32_t (*fixed_accumulate_max)(int64_t *acc, const float *g, size_t n, double scale, int first);
    void (*fixed_to_float)(float *g, const int64_t *acc, size_t n, double inv_scale);

    /* ---- register-tiled products (tiles == 1 only; NULL in the generic table) ----
     * Weights for the forward-shaped products are packed in panels of panel_width(cols) columns,
     * wp[panel][k][width], zero beyond the last column; the plan packs them (conv.c). */
    int (*panel_width)(int cols);
    /* out = bias (or 0 when NULL) + the convolution of in_pad with packed weights wp ([kh*kw*cin][cout]
     * in panels); threads > 1 split the samples. */
    void (*direct_forward)(float *out, const float *in_pad, const float *wp, const float *bias,
                           const CnnConvdGeom *g, int threads);
    /* dw[kh][kw][cin][cout] += the weight gradient from in_pad and dout[n][oh][ow][cout] (overwrite: =);
     * cout % 8 == 0 (the last panel may be partial); threads > 1 split the tiles of dw, each summed over the
     * samples in order. */
    void (*direct_weight_grad)(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g,
                               int threads, int overwrite);
    /* Winograd F(m x m, r x r): r = 5 with m = 2 or 4, r = 3 with m = 2, 4 or 6 (plan.h: output sizes
     * multiples of m, cin % 8 == 0, cout % 16 == 0; the forward and weight gradient take r from g->kh).
     * u = the transformed HWIO weights w[r][r][cin][cout] in panels; flipped: those of the data
     * gradient's kernel (input channels cout, output channels cin, flipped in space). */
    void (*winograd_weights)(float *u, const float *w, int cin, int cout, int flipped, int m, int r);
    /* out = bias (or 0) + the convolution of the unpadded input in (g->h, g->w, g->top, g->left) with the
     * transformed weights u, on up to `parts` threads with their scratch. */
    void (*winograd_forward)(float *out, const float *in, const float *u, const float *bias,
                             const CnnConvdGeom *g, float *scratch, int parts, int m);
    /* The same convolution followed by a 2x2 stride-2 VALID max-pool, in the output pass: each tile's
     * outputs are pooled in registers and only pool[n][oh/2][ow/2][cout] and its argmax (each winner's
     * offset in its sample's unpooled output, as maxpool_forward keeps it) are written. The same values,
     * winners and ties as the convolution and maxpool_forward apart (m even: windows never straddle
     * tiles). */
    void (*winograd_forward_pool)(float *pool, int32_t *argmax, const float *in, const float *u, const float *bias,
                                  const CnnConvdGeom *g, float *scratch, int parts, int m);
    /* dw += the weight gradient by Winograd for the same shapes (overwrite: =); p: room for the
     * alpha^2 products (alpha^2 * cin * cout floats, alpha = m + r - 1). */
    void (*winograd_weight_grad)(float *dw, const float *in, const float *dout, const CnnConvdGeom *g, float *p,
                                 float *scratch, int parts, int overwrite, int m);
    /* Dense layers, n samples: out[n][nout] = b + in[n][nin] x w[nin][nout], w read in place with its
     * row stride ldw >= nout rounded up to the panel (ldw > nout: a padded copy). */
    void (*dense_forward)(float *out, const float *in, const float *w, size_t ldw, const float *b, int n, int nin,
                          int nout);
    /* dw[nin][nout] += in^T x dout (overwrite: =; dout rows ldd >= nout apart, zero-padded past nout when
     * ldd > nout). */
    void (*dense_weight_grad)(float *dw, const float *in, const float *dout, size_t ldd, int n, int nin, int nout,
                              int overwrite);
    /* din^T[nin][npad] = w[nin][nout] x dout^T[nout][npad]: lanes are samples (npad a multiple of 16),
     * each din element summed over nout in order. */
    void (*dense_data_grad_t)(float *dint, const float *w, const float *doutt, int npad, int nin, int nout);

    /* ---- the FMA peak probe (peak.c; tiles == 1 only): iters rounds of fma_probe_flops() floating-point
     * operations in independent chains, nothing loaded; returns a value that depends on all of them ---- */
    float (*fma_probe)(long iters, float x);
    int (*fma_probe_flops)(void);
} CnnKernels;

/* The table of an instruction set (never NULL). */
const CnnKernels *cnn_kernels(CnnIsa isa);

#endif
