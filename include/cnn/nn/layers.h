/* layers: forward/backward pairs over caller-owned buffers (no allocation, no MPI).
 *
 * Layout and semantics are TensorFlow's (README.md, "Configs"): activations NHWC, conv weights HWIO
 * [kh][kw][cin][cout], dense weights [in][out]; the shapes of convolution and pooling follow
 * TensorFlow's SAME/VALID rule (shape.h).
 * Backward functions add to (CNN_GRAD_ACCUMULATE) or overwrite (CNN_GRAD_OVERWRITE: no zeroing pass
 * first) the weight and bias gradients, and OVERWRITE the data gradient; a NULL data-gradient pointer
 * skips that work (the first layer needs none). Overwriting gives the values of adding to zeros. */
#ifndef CNN_LAYERS_H
#define CNN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/config.h"
#include "cnn/nn/shape.h"

typedef enum { CNN_GRAD_ACCUMULATE, CNN_GRAD_OVERWRITE } CnnGradMode;

/* ---- convolution (conv.c). Which code computes it is planned once per layer (plan.h): cnn-dist's
 * direct or Winograd kernels, or im2col + OpenBLAS sgemm. Its shape: CnnConvShape (shape.h). ---- */
typedef struct CnnConvPlan CnnConvPlan;
typedef struct CnnDensePlan CnnDensePlan;

/* out = conv(in, w) + b (no activation) for n <= p->s.n samples; ws: p->ws_floats floats. */
void cnn_conv_forward(float *out, float *ws, const float *in, const float *w, const float *b, const CnnConvPlan *p,
                      int n);
/* The same forward followed by a 2x2 stride-2 VALID max-pool, computed in the convolution's output pass
 * (kernels.h: winograd_forward_pool): writes only the pooled output pool[n][oh/2][ow/2][cout] and the
 * pool's argmax. Only for a forward on Winograd with an even tile (cnn_conv_pools). */
void cnn_conv_forward_pool(float *pool, int32_t *argmax, float *ws, const float *in, const float *w, const float *b,
                           const CnnConvPlan *p, int n);
/* 1 if the plan's forward can pool in its output pass (Winograd, m even) */
int cnn_conv_pools(const CnnConvPlan *p);
/* 1 if forward leaves in ws what backward of the same input can reuse (the padded copy, or the im2col
 * columns when the whole batch fits one chunk). */
int cnn_conv_keeps_input(const CnnConvPlan *p, int n);
/* din = conv_backprop_input(dout, w) (if din), dw += ..., db += sum(dout). input_ready: ws still holds
 * what the forward of this same `in` left there (cnn_conv_keeps_input). */
void cnn_conv_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                       const float *w, const CnnConvPlan *p, int n, int input_ready, CnnGradMode mode);

/* ---- pooling (max: padded cells never win; avg: divides by the count of real cells); the
 * computation is per instruction set (kernels.h), the shape is CnnPoolShape (shape.h) ---- */

/* ---- local response normalisation across channels (TensorFlow's tf.nn.lrn), per instruction set
 * (kernels.h: lrn_forward, lrn_backward) ----
 * sqr_sum[c] = sum_{c' = c-r .. c+r} in[c']^2;  out = in / (bias + alpha * sqr_sum)^beta.
 * Forward keeps two floats per element for backward. pixels = n*h*w. */

/* ---- dense: out[n][nout] = in[n][nin] * w[nin][nout] + b (dense.c), planned like conv; ws:
 * p->ws_floats floats ---- */
void cnn_dense_forward(float *out, float *ws, const float *in, const float *w, const float *b,
                       const CnnDensePlan *p, int n);
void cnn_dense_backward(float *din, float *dw, float *db, float *ws, const float *dout, const float *in,
                        const float *w, const CnnDensePlan *p, int n, CnnGradMode mode);

/* ---- activations (per instruction set, kernels.h: act_forward, act_backward), in place allowed;
 * backward uses the forward OUTPUT y ---- */

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
/* The same against label-smoothed targets q = (1 - s) onehot + s / k (Szegedy et al. 2016; PyTorch's
 * CrossEntropyLoss(label_smoothing = s)): per row log-sum-exp - sum_c q_c logit_c, dlogits (softmax - q) *
 * grad_scale. s = 0 is cnn_softmax_xent, bit for bit. */
double cnn_softmax_xent_smoothed(float *dlogits, const float *logits, const int *labels, int n, int k,
                                 float smoothing, float grad_scale, int *correct);

#endif
