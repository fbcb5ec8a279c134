/* lrn (compiled per instruction set, see simd.h): TensorFlow's local response normalisation across
 * channels (tf.nn.lrn), per pixel of NHWC:
 *   s[c] = bias + alpha * sum_{c' in [c-r, c+r] clipped to [0, C)} in[c']^2,   out = in * p,   p = s^-beta.
 * Forward keeps p and q = s^(-beta-1) = p / s, so that backward needs no root and no division:
 *   din_i = dout_i p_i - 2 alpha beta in_i sum_{|j-i| <= r} dout_j in_j q_j.
 * The window sums run over a zero-padded row, 2r+1 terms each in four interleaved partial sums, a vector
 * of channels at a time; channels past the last whole vector (and rows too long for the stack, with the
 * zeros supplied) run the same operations one at a time, so every instruction set gets the same bits. beta = 0.75 (the seed model) and 0.5 take
 * square roots instead of powf, which per element would cost more than the convolution next to it. */
#include "simd.h"

#include <math.h>

enum { ROW_MAX = 8192 }; /* floats of the padded rows: BATCH x (c + 2*radius) */

/* p = s^-beta, one lane at a time or a vector at a time: the same operations either way. mode (a
 * constant in each instance of the forward): 0 for beta = 0.75, 1 for 0.5, 2 for 1, 3 for any other. */
static inline __attribute__((always_inline)) float pow_neg(float s, float beta, const int mode)
{
    if (mode == 0) {
        const float r = sqrtf(s);
        return 1.0f / (r * sqrtf(r));
    }
    if (mode == 1) return 1.0f / sqrtf(s);
    if (mode == 2) return 1.0f / s;
    return powf(s, -beta);
}

static inline __attribute__((always_inline)) vf vpow_neg(vf s, float beta, const int mode)
{
    if (mode == 0) {
        const vf r = vsqrt(s);
        return vset1(1.0f) / (r * vsqrt(r));
    }
    if (mode == 1) return vset1(1.0f) / vsqrt(s);
    if (mode == 2) return vset1(1.0f) / s;
    float t[VL];
    memcpy(t, &s, sizeof t);
    for (int l = 0; l < VL; l++) t[l] = powf(t[l], -beta);
    return vload(t);
}

/* The sum of the 2r+1 row values starting at row[k], in four interleaved partial sums (term d goes to sum
 * d mod 4, the missing ones of short windows are zeros), then (a0 + a1) + (a2 + a3): a quarter of the
 * dependent adds of one running sum, and the same order for a lane of a vector and for one float. */
#define WINDOW_SUM(T, LOAD, ZERO, out)                                                                           \
    do {                                                                                                      \
        const int n_ = 2 * radius + 1;                                                                        \
        T a0 = LOAD(0), a1 = n_ > 1 ? LOAD(1) : ZERO, a2 = n_ > 2 ? LOAD(2) : ZERO, a3 = n_ > 3 ? LOAD(3) : ZERO; \
        int d_ = 4;                                                                                           \
        for (; d_ + 3 < n_; d_ += 4) {                                                                        \
            a0 += LOAD(d_);                                                                                   \
            a1 += LOAD(d_ + 1);                                                                               \
            a2 += LOAD(d_ + 2);                                                                               \
            a3 += LOAD(d_ + 3);                                                                               \
        }                                                                                                     \
        if (d_ < n_) a0 += LOAD(d_);                                                                          \
        if (d_ + 1 < n_) a1 += LOAD(d_ + 1);                                                                  \
        if (d_ + 2 < n_) a2 += LOAD(d_ + 2);                                                                  \
        (out) = (a0 + a1) + (a2 + a3);                                                                        \
    } while (0)

static inline float window(const float *row, int k, int radius)
{
    float s;
#define SLOAD(d) row[k + (d)]
    WINDOW_SUM(float, SLOAD, 0.0f, s);
#undef SLOAD
    return s;
}

static inline vf vwindow(const float *row, int k, int radius)
{
    vf s;
#define VLOAD(d) vload(row + k + (d))
    WINDOW_SUM(vf, VLOAD, vzero(), s);
#undef VLOAD
    return s;
}

/* The window of channel k for rows too long for the stack: the same partial sums, with zeros for the
 * channels outside [0, c). */
static float clipped_window(const float *v, int k, int c, int radius)
{
    float s;
#define CLOAD(d) (k - radius + (d) >= 0 && k - radius + (d) < c ? v[k - radius + (d)] : 0.0f)
    WINDOW_SUM(float, CLOAD, 0.0f, s);
#undef CLOAD
    return s;
}

/* Pixels whose rows are written before any of their windows is read: a window load that overlaps stores
 * still in flight cannot be forwarded from them and waits (about 4x slower when done per pixel). */
enum { BATCH = 8 };

/* keep: [2][pixels * c], p then q. */
static inline __attribute__((always_inline)) void forward(float *out, float *keep, const float *in, size_t pixels,
                                                          int c, int radius, float bias, float alpha, float beta,
                                                          const int mode)
{
    const size_t count = pixels * (size_t)c;
    float *pk = keep, *qk = keep + count;
    const int padded = (long)c + 2L * radius <= ROW_MAX / BATCH, nvec = padded ? c / VL * VL : 0;
    const int stride = c + 2 * radius;
    float rows[ROW_MAX] = {0}; /* BATCH rows of [radius zeros][c squares][radius zeros] */
    const vf vb = vset1(bias), va = vset1(alpha);
    for (size_t p0 = 0; p0 < pixels; p0 += BATCH) {
        const int nb = pixels - p0 < BATCH ? (int)(pixels - p0) : BATCH;
        const float *inb = in + p0 * (size_t)c;
        if (padded)
            for (int b = 0; b < nb; b++) {
                float *v = rows + b * stride + radius;
                const float *x = inb + (size_t)b * c;
                for (int k = 0; k < nvec; k += VL) {
                    const vf xv = vload(x + k);
                    vstore(v + k, xv * xv);
                }
                for (int k = nvec; k < c; k++) v[k] = x[k] * x[k];
            }
        for (int b = 0; b < nb; b++) {
            const size_t o = (p0 + (size_t)b) * (size_t)c;
            const float *x = in + o, *row = rows + b * stride;
            float *y = out + o, *pv = pk + o, *qv = qk + o;
            if (!padded)
                for (int k = 0; k < c; k++) y[k] = x[k] * x[k]; /* out holds the squares for now */
            for (int k = 0; k < nvec; k += VL) {
                const vf sv = vb + va * vwindow(row, k, radius);
                const vf pw = vpow_neg(sv, beta, mode);
                vstore(y + k, vload(x + k) * pw);
                vstore(pv + k, pw);
                vstore(qv + k, pw / sv);
            }
            for (int k = nvec; k < c; k++) {
                const float sv = bias + alpha * (padded ? window(row, k, radius) : clipped_window(y, k, c, radius));
                const float pw = pow_neg(sv, beta, mode);
                qv[k] = pw / sv;
                pv[k] = pw;
            }
            for (int k = nvec; k < c; k++) y[k] = x[k] * pv[k];
        }
    }
}

void KFN(lrn_forward)(float *out, float *keep, const float *in, size_t pixels, int c, int radius, float bias,
                      float alpha, float beta)
{
    if (beta == 0.75f)
        forward(out, keep, in, pixels, c, radius, bias, alpha, beta, 0);
    else if (beta == 0.5f)
        forward(out, keep, in, pixels, c, radius, bias, alpha, beta, 1);
    else if (beta == 1.0f)
        forward(out, keep, in, pixels, c, radius, bias, alpha, beta, 2);
    else
        forward(out, keep, in, pixels, c, radius, bias, alpha, beta, 3);
}

void KFN(lrn_backward)(float *din, const float *dout, const float *in, const float *keep, size_t pixels, int c,
                       int radius, float alpha, float beta)
{
    const size_t count = pixels * (size_t)c;
    const float *pk = keep, *qk = keep + count;
    const float k2ab = 2.0f * alpha * beta;
    const int padded = (long)c + 2L * radius <= ROW_MAX / BATCH, nvec = padded ? c / VL * VL : 0;
    const int stride = c + 2 * radius;
    float rows[ROW_MAX] = {0};
    const vf vk = vset1(k2ab);
    for (size_t p0 = 0; p0 < pixels; p0 += BATCH) {
        const int nb = pixels - p0 < BATCH ? (int)(pixels - p0) : BATCH;
        if (padded)
            for (int b = 0; b < nb; b++) { /* the window terms dout_j in_j q_j */
                const size_t o = (p0 + (size_t)b) * (size_t)c;
                const float *g = dout + o, *x = in + o, *q = qk + o;
                float *v = rows + b * stride + radius;
                for (int k = 0; k < nvec; k += VL) vstore(v + k, vload(g + k) * vload(x + k) * vload(q + k));
                for (int k = nvec; k < c; k++) v[k] = g[k] * x[k] * q[k];
            }
        for (int b = 0; b < nb; b++) {
            const size_t o = (p0 + (size_t)b) * (size_t)c;
            const float *g = dout + o, *x = in + o, *pv = pk + o, *q = qk + o, *row = rows + b * stride;
            float *d = din + o;
            if (padded) {
                for (int k = 0; k < nvec; k += VL)
                    vstore(d + k, vload(g + k) * vload(pv + k) - vk * vload(x + k) * vwindow(row, k, radius));
                for (int k = nvec; k < c; k++) d[k] = g[k] * pv[k] - k2ab * x[k] * window(row, k, radius);
                continue;
            }
            /* no room for the rows: each clipped window summed from the terms directly (the same sums) */
            for (int k = 0; k < c; k++) {
                float w;
#define TLOAD(t) (k - radius + (t) >= 0 && k - radius + (t) < c ? g[k - radius + (t)] * x[k - radius + (t)] * q[k - radius + (t)] : 0.0f)
                WINDOW_SUM(float, TLOAD, 0.0f, w);
#undef TLOAD
                d[k] = g[k] * pv[k] - k2ab * x[k] * w;
            }
        }
    }
}
