/* conv_direct: the stride-1 convolution kernels conv.c uses when the build has AVX2 and FMA: direct
 * register-tiled kernels, and Winograd F(2x2, 5x5) on the same tiles for 5x5 kernels.
 * Why not im2col + OpenBLAS sgemm: on this network's shapes (N = 64 output channels) OpenBLAS 0.3.21
 * reaches 38-52 GFLOP/s per core on a Zen 3 core whose FMA units peak at ~140, and it spends a fifth of
 * its cycles packing the im2col matrix that conv.c had just written. These kernels read the padded
 * input in place (in NHWC the kw*cin values under one kernel row are contiguous) and keep a 6 x 16
 * output tile in registers for the whole reduction; only the small weight matrix is repacked.
 * Layouts: in_pad[n][ph][pw][cin] with ph = oh + kh - 1, pw = ow + kw - 1 (stride 1); weights packed in
 * panels of 16 columns, wp[panel][k][16], zero beyond the last column. */
#ifndef CNN_NN_CONV_DIRECT_H
#define CNN_NN_CONV_DIRECT_H

#include <stddef.h>

/* 1 if this build has the kernels (compiled with AVX2 and FMA, as -march=native does on such CPUs). */
int cnn_convd_built(void);
/* 1 if they are the default: built, and the CPU has no AVX-512. On AVX-512 CPUs OpenBLAS runs 512-bit
 * sgemm kernels, twice the work per instruction of these 256-bit ones, so run.conv = auto keeps the
 * im2col + sgemm path there (not measured: no AVX-512 machine was at hand; run.conv = direct forces). */
int cnn_convd_preferred(void);

/* Floats of a [k][n] matrix packed in panels of 16 columns. */
size_t cnn_convd_packed_floats(int k, int n);
/* wp = w[k][n] (row-major) in panels. */
void cnn_convd_pack(float *wp, const float *w, int k, int n);
/* wp = the data-gradient kernel in panels: rows (ky, kx, co), columns ci, value
 * w[kh-1-ky][kw-1-kx][ci][co] of the HWIO weights w. */
void cnn_convd_pack_flipped(float *wp, const float *w, int kh, int kw, int cin, int cout);
/* dst[n][ph][pw][c] = src[n][h][w][c] placed at (top, left), zeros elsewhere. */
void cnn_convd_pad(float *dst, const float *src, int n, int h, int w, int c, int ph, int pw, int top, int left);

/* A stride-1 convolution: in_pad[n][ph][pw][cin] -> [n][oh][ow][cout] with a kh x kw kernel,
 * ph = oh + kh - 1, pw = ow + kw - 1. */
typedef struct {
    int n, ph, pw, cin, oh, ow, cout, kh, kw;
} CnnConvdGeom;

/* out = bias (or 0 when NULL) + the convolution of in_pad with the packed [kh*kw*cin][cout] weights.
 * With a bias, cout must be a multiple of 16. threads > 1 splits the samples among that many threads;
 * the result is bitwise the same for any count. */
void cnn_convd_forward(float *out, const float *in_pad, const float *wp, const float *bias, const CnnConvdGeom *g,
                       int threads);
/* dw[kh][kw][cin][cout] += the weight gradient from in_pad and dout[n][oh][ow][cout]; cout % 16 == 0.
 * threads > 1 splits the tiles of dw; each is summed over the samples in order whatever the count. */
void cnn_convd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, int threads);

/* Winograd F(2x2, 5x5) for the forward and the data gradient of 5x5 stride-1 convolutions with even
 * output sizes, cin % 8 == 0 and cout % 16 == 0: 36 products per 2x2 outputs instead of 100, so 2.8x
 * fewer multiplications in the part that costs; errors about twice the direct kernels' (both far
 * below float noise in training). */
int cnn_convd_winograd_applies(const CnnConvdGeom *g);
/* Floats of the transformed weights, and of the scratch for `parts` threads. */
size_t cnn_convd_winograd_weights_floats(int cin, int cout);
size_t cnn_convd_winograd_scratch_floats(int cin, int cout, int parts);
/* u = the transformed HWIO weights w[5][5][cin][cout]; flipped: those of the data gradient's kernel
 * (input channels cout, output channels cin, flipped in space). */
void cnn_convd_winograd_weights(float *u, const float *w, int cin, int cout, int flipped);
/* out = bias (or 0) + the convolution of in_pad (geometry g) with the weights transformed into u,
 * on up to `parts` threads, each with its share of scratch; the same bits for any count. */
void cnn_convd_winograd_forward(float *out, const float *in_pad, const float *u, const float *bias,
                                const CnnConvdGeom *g, float *scratch, int parts);

/* The weight gradient by Winograd, for the same shapes: dw[5][5][cin][cout] += the gradient from in_pad
 * and dout[n][oh][ow][cout]. p: workspace for the 36 products, as many floats as the transformed
 * weights (cnn_convd_winograd_weights_floats). */
void cnn_convd_winograd_weight_grad(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g,
                                    float *p, float *scratch, int parts);

#endif
