/* layers: forward/backward pairs over caller-owned buffers (no allocation, no MPI).
 *
 * Layout and semantics are TensorFlow's (DESIGN.md): activations NHWC, conv weights HWIO
 * [kh][kw][cin][cout], dense weights [in][out]; SAME padding gives out = ceil(in / stride) with the
 * padding split so the extra pixel is at the bottom/right; VALID gives out = ceil((in - k + 1) / stride).
 * Backward functions ACCUMULATE (+=) into weight and bias gradients and OVERWRITE the data gradient;
 * a NULL data-gradient pointer skips that work (the first layer needs none). */
#ifndef CNN_LAYERS_H
#define CNN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/config.h"

/* Output size and leading padding of one spatial dimension, TensorFlow's rule. */
void cnn_same_valid(int in, int k, int stride, int same, int *out, int *pad_before);

/* ---- convolution: direct kernels (stride 1, cout % 16 == 0, AVX2 builds) or im2col + sgemm ---- */
typedef struct {
    int n, h, w, cin;       /* input  [n][h][w][cin] */
    int oh, ow, cout;       /* output [n][oh][ow][cout] */
    int kh, kw, stride;
    int pad_top, pad_left;
    int direct;             /* 1: conv_direct kernels, 0: im2col + sgemm. cnn_conv_shape sets 1 where they
                               apply and are the default (cnn_convd_preferred) */
    int needs_din;          /* 0: backward is never asked for din (first layer), so no room is kept for it */
    int winograd;           /* with direct: Winograd F(2x2, 5x5) for the forward and the data gradient where
                               it applies (5x5 kernels, even output sizes; cnn_convd_winograd_applies) */
    int threads;            /* threads the direct kernels may use; the workspace is sized for them */
} CnnConvShape;

void cnn_conv_shape(CnnConvShape *s, int n, int h, int w, int cin, int cout, int k, int stride, int same);
/* Which kernels compute s: "im2col+sgemm", "direct", "winograd" (forward and data gradient; the
 * weight gradient is always direct), or a mix. */
const char *cnn_conv_kernel_name(const CnnConvShape *s);
/* 1 if the direct kernels can compute this shape in this build. */
int cnn_conv_direct_applies(const CnnConvShape *s);
/* Floats of workspace that forward and backward need (padded copies and packed weights for the direct
 * kernels; the im2col matrix, or a chunk of it, otherwise). */
size_t cnn_conv_workspace(const CnnConvShape *s);
/* out = conv(in, w) + b  (no activation). */
void cnn_conv_forward(float *out, float *ws, const float *in, const float *w, const float *b,
                      const CnnConvShape *s);
/* 1 if forward lowers the whole batch in one chunk, leaving its im2col columns in ws. */
int cnn_conv_single_chunk(const CnnConvShape *s);
/* din = conv_backprop_input(dout, w) (if din), dw += ..., db += sum(dout). cols_ready: ws still holds
 * the columns that the forward of this same `in` left there (cnn_conv_single_chunk), so backward
 * need not build them again. */
void cnn_conv_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                       const float *w, const CnnConvShape *s, int cols_ready);

/* ---- pooling (max: padded cells never win; avg: divides by the count of real cells) ---- */
typedef struct {
    int n, h, w, c, oh, ow, size, stride, pad_top, pad_left;
} CnnPoolShape;

void cnn_pool_shape(CnnPoolShape *s, int n, int h, int w, int c, int size, int stride, int same);
/* argmax[i] is the input offset (within the sample) of output i's winner, for backward. */
void cnn_maxpool_forward(float *out, int32_t *argmax, const float *in, const CnnPoolShape *s);
void cnn_maxpool_backward(float *din, const float *dout, const int32_t *argmax, const CnnPoolShape *s);
void cnn_avgpool_forward(float *out, const float *in, const CnnPoolShape *s);
void cnn_avgpool_backward(float *din, const float *dout, const CnnPoolShape *s);

/* ---- local response normalisation across channels (TensorFlow's tf.nn.lrn) ----
 * sqr_sum[c] = sum_{c' = c-r .. c+r} in[c']^2;  out = in / (bias + alpha * sqr_sum)^beta.
 * scale keeps (bias + alpha * sqr_sum) for backward. pixels = n*h*w. */
void cnn_lrn_forward(float *out, float *scale, const float *in, size_t pixels, int c, int radius,
                     float bias, float alpha, float beta);
void cnn_lrn_backward(float *din, const float *dout, const float *in, const float *out,
                      const float *scale, size_t pixels, int c, int radius, float alpha, float beta);

/* ---- dense: out[n][nout] = in[n][nin] * w[nin][nout] + b ---- */
void cnn_dense_forward(float *out, const float *in, const float *w, const float *b, int n, int nin,
                       int nout);
void cnn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int n, int nin, int nout);

/* ---- activations, in place allowed; backward uses the forward OUTPUT y ---- */
void cnn_act_forward(float *y, const float *x, size_t count, CnnActivation act);
void cnn_act_backward(float *dx, const float *dy, const float *y, size_t count, CnnActivation act);

/* ---- dropout (inverted: kept values are scaled by 1/keep). The mask of sample j is drawn from
 * (CNN_RNG_DROPOUT, step, positions[j]) with `tag` (the layer index) mixed into the stream, so it
 * depends on the sample's place in the global batch, not on the rank that computes it. ---- */
void cnn_dropout_forward(float *y, uint8_t *mask, const float *x, int n, size_t per_sample, float keep,
                         uint64_t seed, uint32_t tag, long step, const int *positions);
void cnn_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t count, float keep);

/* ---- softmax cross entropy, stable for large logits (log-sum-exp with the max subtracted) ----
 * Returns the SUM over the n rows of the per-sample loss (double). dlogits (may be NULL) gets
 * (softmax - onehot) * grad_scale. *correct (may be NULL) gets the number of rows whose argmax is the
 * label (ties: the lowest index). */
double cnn_softmax_xent(float *dlogits, const float *logits, const int *labels, int n, int k,
                        float grad_scale, int *correct);

#endif
