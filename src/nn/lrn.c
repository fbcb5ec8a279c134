/* lrn: TensorFlow's local response normalisation across channels (tf.nn.lrn), per pixel of NHWC:
 * sqr_sum[c] = sum_{c' in [c-r, c+r] clipped to [0, C)} in[c']^2, scale = bias + alpha*sqr_sum,
 * out = in * scale^-beta. The window sums run as a sliding sum in double (C adds per pixel, not C*(2r+1)),
 * and scale^-beta avoids powf for the common betas (0.75 in the seed model) because powf per element
 * would cost more than the convolution next to it. */
#include "cnn/nn/layers.h"

#include <math.h>
#include <xmmintrin.h>

/* x * scale^-beta for scale > 0. */
static inline float mul_pow_neg(float x, float scale, float beta)
{
    if (beta == 0.75f) {
        float r = sqrtf(scale);
        return x / (r * sqrtf(r));
    }
    if (beta == 0.5f) return x / sqrtf(scale);
    if (beta == 1.0f) return x / scale;
    return x * powf(scale, -beta);
}

/* dst[k] = x[k] * scale[k]^-beta for k < c; the seed's beta = 0.75 four lanes at a time (sqrtf with
 * errno semantics does not vectorise by itself, and scale >= bias > 0 never needs errno). */
static void mul_pow_neg_row(float *dst, const float *x, const float *scale, int c, float beta)
{
    int k = 0;
    if (beta == 0.75f)
        for (; k + 4 <= c; k += 4) {
            __m128 r = _mm_sqrt_ps(_mm_loadu_ps(scale + k));
            _mm_storeu_ps(dst + k, _mm_div_ps(_mm_loadu_ps(x + k), _mm_mul_ps(r, _mm_sqrt_ps(r))));
        }
    for (; k < c; k++) dst[k] = mul_pow_neg(x[k], scale[k], beta);
}

void cnn_lrn_forward(float *out, float *scale, const float *in, size_t pixels, int c, int radius,
                     float bias, float alpha, float beta)
{
    for (size_t p = 0; p < pixels; p++, in += c, out += c, scale += c) {
        /* sum holds sum_{c' in [k-r, k+r]} in[c']^2 as k advances. */
        double sum = 0;
        for (int k = 0; k < c && k <= radius; k++) sum += (double)in[k] * (double)in[k];
        for (int k = 0; k < c; k++) {
            scale[k] = bias + alpha * (float)sum;
            int add = k + radius + 1, drop = k - radius;
            if (add < c) sum += (double)in[add] * (double)in[add];
            if (drop >= 0) sum -= (double)in[drop] * (double)in[drop];
        }
        mul_pow_neg_row(out, in, scale, c, beta);
    }
}

/* d out_j / d in_i = [i == j] scale_j^-beta - 2 alpha beta in_i in_j scale_j^(-beta-1) [|i-j| <= r],
 * and in_j scale_j^(-beta-1) = out_j / scale_j, so
 * din_i = dout_i scale_i^-beta - 2 alpha beta in_i sum_{|j-i| <= r} dout_j out_j / scale_j. */
void cnn_lrn_backward(float *din, const float *dout, const float *in, const float *out,
                      const float *scale, size_t pixels, int c, int radius, float alpha, float beta)
{
    const float k2ab = 2.0f * alpha * beta;
    for (size_t p = 0; p < pixels; p++, in += c, out += c, scale += c, dout += c, din += c) {
        double sum = 0;
        for (int k = 0; k < c && k <= radius; k++) sum += (double)dout[k] * (double)out[k] / (double)scale[k];
        mul_pow_neg_row(din, dout, scale, c, beta);
        for (int k = 0; k < c; k++) {
            din[k] -= k2ab * in[k] * (float)sum;
            int add = k + radius + 1, drop = k - radius;
            if (add < c) sum += (double)dout[add] * (double)out[add] / (double)scale[add];
            if (drop >= 0) sum -= (double)dout[drop] * (double)out[drop] / (double)scale[drop];
        }
    }
}
