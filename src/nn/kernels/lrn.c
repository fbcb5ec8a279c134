/* lrn (compiled per instruction set, see simd.h): TensorFlow's local response normalisation across
 * channels (tf.nn.lrn), per pixel of NHWC: sqr_sum[c] = sum_{c' in [c-r, c+r] clipped to [0, C)} in[c']^2,
 * scale = bias + alpha*sqr_sum, out = in * scale^-beta. Per pixel, the squares go into a zero-padded row
 * and each window sum is 2r+1 adds in ascending channel order, written as loops over channels so that they
 * vectorise (a sliding sum would be C dependent adds in a row; the terms are all >= 0, so summing in float
 * loses nothing to cancellation). scale^-beta avoids powf for the common betas (0.75 in the seed model)
 * because powf per element would cost more than the convolution next to it. Channel counts or radii too
 * large for the stack rows fall back to summing each clipped window directly. */
#include "simd.h"

#include <math.h>

enum { ROW_MAX = 1024 }; /* floats of the padded row: c + 2*radius */

/* x * scale^-beta for scale > 0 (built with -fno-math-errno, the sqrtf loops vectorise). */
static void mul_pow_neg_row(float *dst, const float *x, const float *scale, int c, float beta)
{
    if (beta == 0.75f) {
        for (int k = 0; k < c; k++) {
            float r = sqrtf(scale[k]);
            dst[k] = x[k] / (r * sqrtf(r));
        }
    } else if (beta == 0.5f) {
        for (int k = 0; k < c; k++) dst[k] = x[k] / sqrtf(scale[k]);
    } else if (beta == 1.0f) {
        for (int k = 0; k < c; k++) dst[k] = x[k] / scale[k];
    } else {
        for (int k = 0; k < c; k++) dst[k] = x[k] * powf(scale[k], -beta);
    }
}

/* sum[k] = row[k] + row[k+1] + ... + row[k+2r] for k < c (row holds c + 2r values). */
static void window_sums(float *restrict sum, const float *restrict row, int c, int radius)
{
    for (int k = 0; k < c; k++) sum[k] = row[k];
    for (int d = 1; d <= 2 * radius; d++)
        for (int k = 0; k < c; k++) sum[k] += row[k + d];
}

/* The fallback for rows too long for the stack: channel k's window [lo, hi] clipped to [0, c). */
static void clipped_window(int k, int c, int radius, int *lo, int *hi)
{
    *lo = k - radius < 0 ? 0 : k - radius;
    *hi = k + radius >= c ? c - 1 : k + radius;
}

void KFN(lrn_forward)(float *out, float *scale, const float *in, size_t pixels, int c, int radius,
                     float bias, float alpha, float beta)
{
    const int padded = (long)c + 2L * radius <= ROW_MAX;
    float row[ROW_MAX] = {0}; /* [radius zeros][c values][radius zeros] */
    float *v = padded ? row + radius : row;
    for (size_t p = 0; p < pixels; p++, in += c, out += c, scale += c) {
        if (padded) {
            for (int k = 0; k < c; k++) v[k] = in[k] * in[k];
            window_sums(scale, row, c, radius);
        } else {
            for (int k = 0; k < c; k++) out[k] = in[k] * in[k]; /* out holds the squares for now */
            for (int k = 0; k < c; k++) {
                int lo, hi;
                clipped_window(k, c, radius, &lo, &hi);
                float w = 0;
                for (int j = lo; j <= hi; j++) w += out[j];
                scale[k] = w;
            }
        }
        for (int k = 0; k < c; k++) scale[k] = bias + alpha * scale[k];
        mul_pow_neg_row(out, in, scale, c, beta);
    }
}

/* d out_j / d in_i = [i == j] scale_j^-beta - 2 alpha beta in_i in_j scale_j^(-beta-1) [|i-j| <= r],
 * and in_j scale_j^(-beta-1) = out_j / scale_j, so
 * din_i = dout_i scale_i^-beta - 2 alpha beta in_i sum_{|j-i| <= r} dout_j out_j / scale_j. */
void KFN(lrn_backward)(float *din, const float *dout, const float *in, const float *out,
                      const float *scale, size_t pixels, int c, int radius, float alpha, float beta)
{
    const float k2ab = 2.0f * alpha * beta;
    const int padded = (long)c + 2L * radius <= ROW_MAX;
    float row[ROW_MAX] = {0}, sum[ROW_MAX];
    float *v = padded ? row + radius : row;
    for (size_t p = 0; p < pixels; p++, in += c, out += c, scale += c, dout += c, din += c) {
        if (padded) {
            for (int k = 0; k < c; k++) v[k] = dout[k] * out[k] / scale[k];
            window_sums(sum, row, c, radius);
            mul_pow_neg_row(din, dout, scale, c, beta);
            for (int k = 0; k < c; k++) din[k] -= k2ab * in[k] * sum[k];
        } else {
            for (int k = 0; k < c; k++) { /* no room for the row: each window from scratch */
                int lo, hi;
                clipped_window(k, c, radius, &lo, &hi);
                float w = 0;
                for (int j = lo; j <= hi; j++) w += dout[j] * out[j] / scale[j];
                mul_pow_neg_row(din + k, dout + k, scale + k, 1, beta);
                din[k] -= k2ab * in[k] * w;
            }
        }
    }
}
