/* norm (compiled per instruction set, see simd.h): BatchNorm over one group x[pixels][c] (NHWC, pixels =
 * n*h*w, so a channel is the innermost index). The per-channel sums vectorise across channels: each channel
 * sums its pixels in order, in double, in its own lane, so every vector width gives the same bits. Channels
 * go in blocks of BN_BLOCK whose double sums live on the stack (kernels never allocate); a block reads its
 * slice of every pixel row. Element-wise steps are float, in the order the formulas in kernels.h are
 * written. */
#include "simd.h"
#include "gelu.h"

#include "cnn/util.h"

#define BN_BLOCK 128

void KFN(bn_stats)(float *mean, float *var, const float *x, size_t pixels, int c)
{
    CNN_ASSERT(pixels > 0 && c > 0);
    for (int k0 = 0; k0 < c; k0 += BN_BLOCK) {
        const int nb = c - k0 < BN_BLOCK ? c - k0 : BN_BLOCK;
        double s[BN_BLOCK], m[BN_BLOCK];
        for (int k = 0; k < nb; k++) s[k] = 0.0;
        for (size_t p = 0; p < pixels; p++) {
            const float *row = x + p * (size_t)c + k0;
            for (int k = 0; k < nb; k++) s[k] += (double)row[k];
        }
        for (int k = 0; k < nb; k++) m[k] = s[k] / (double)pixels, s[k] = 0.0;
        /* the second pass sums squared deviations from the double mean: no cancellation of E[x^2] - mean^2 */
        for (size_t p = 0; p < pixels; p++) {
            const float *row = x + p * (size_t)c + k0;
            for (int k = 0; k < nb; k++) {
                const double d = (double)row[k] - m[k];
                s[k] += d * d;
            }
        }
        for (int k = 0; k < nb; k++) {
            mean[k0 + k] = (float)m[k];
            var[k0 + k] = (float)(s[k] / (double)pixels);
        }
    }
}

/* The activation a BatchNorm computes for the layer after it (the model fuses a relu or gelu that is its
 * output's only reader): act_forward's rules (gelu.h), so the same bits. */
static inline float apply_act(float v, const int act)
{
    if (act == CNN_ACT_RELU) return relu_value(v);
    if (act == CNN_ACT_GELU) return gelu_value(v);
    return v;
}

/* The normalised value (x - mean) * rstd [* gamma] [+ beta], in that order: the forward's output and the
 * activation's input the fused backward recomputes, so both have the same bits. */
static inline float bn_value(float x, float mean, float rstd, const float *gamma, const float *beta, int k,
                             const int has_gamma, const int has_beta)
{
    float v = (x - mean) * rstd;
    if (has_gamma) v = v * gamma[k];
    if (has_beta) v = v + beta[k];
    return v;
}

/* y = act((x - mean) * rstd [* gamma] [+ beta]); the flags and act are constants at each call, so each
 * combination is its own loop without a load of ones or zeros (a NULL gamma gives the bits of a gamma of
 * ones; a NULL beta those of zeros, but for the sign of a zero y). */
static inline __attribute__((always_inline)) void bn_forward_loop(float *y, const float *x, const float *mean,
                                                                  const float *rstd, const float *gamma,
                                                                  const float *beta, size_t pixels, int c,
                                                                  const int has_gamma, const int has_beta,
                                                                  const int act)
{
    for (size_t p = 0; p < pixels; p++) {
        const float *xr = x + p * (size_t)c;
        float *yr = y + p * (size_t)c;
        for (int k = 0; k < c; k++)
            yr[k] = apply_act(bn_value(xr[k], mean[k], rstd[k], gamma, beta, k, has_gamma, has_beta), act);
    }
}

static inline __attribute__((always_inline)) void bn_forward_with(float *y, const float *x, const float *mean,
                                                                  const float *rstd, const float *gamma,
                                                                  const float *beta, size_t pixels, int c,
                                                                  const int act)
{
    if (gamma && beta)
        bn_forward_loop(y, x, mean, rstd, gamma, beta, pixels, c, 1, 1, act);
    else if (gamma)
        bn_forward_loop(y, x, mean, rstd, gamma, NULL, pixels, c, 1, 0, act);
    else if (beta)
        bn_forward_loop(y, x, mean, rstd, NULL, beta, pixels, c, 0, 1, act);
    else
        bn_forward_loop(y, x, mean, rstd, NULL, NULL, pixels, c, 0, 0, act);
}

void KFN(bn_forward)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                     const float *beta, size_t pixels, int c)
{
    bn_forward_with(y, x, mean, rstd, gamma, beta, pixels, c, CNN_ACT_LINEAR);
}

void KFN(bn_forward_act)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                         const float *beta, size_t pixels, int c, CnnActivation act)
{
    if (act == CNN_ACT_RELU)
        bn_forward_with(y, x, mean, rstd, gamma, beta, pixels, c, CNN_ACT_RELU);
    else if (act == CNN_ACT_GELU)
        bn_forward_with(y, x, mean, rstd, gamma, beta, pixels, c, CNN_ACT_GELU);
    else
        CNN_DIE("bn_forward_act: activation %d is not fused (relu and gelu are)", (int)act);
}

/* A parameter gradient from its double sum: = (overwrite) or += with one rounding. Accumulating onto 0
 * gives the same bits as overwriting (the sums start at +0, so they are never -0). */
static void store_param_grad(float *d, const double *s, int nb, int overwrite)
{
    if (!d) return;
    for (int k = 0; k < nb; k++) d[k] = overwrite ? (float)s[k] : (float)((double)d[k] + s[k]);
}

/* The activation's gradient at z, the BatchNorm output the forward gave it (recomputed here bitwise from x,
 * mean, rstd, gamma and beta): act_backward's and gelu_backward's rules (gelu.h). */
static inline float act_grad(float g, float z, const int act)
{
    if (act == CNN_ACT_RELU) return relu_grad(g, z);
    return g * gelu_slope(z);
}

/* dx = s * ((g - mdy) - xhat * mdyx) for one block of channels over every pixel, g the activation's input
 * gradient: dy as given (linear, or gelu's already written by the summing pass), or relu's recomputed from
 * dy and z (cheaper than writing it there and reading it back). inplace: dx is dy, read through one pointer
 * (two names for one row would fail GCC's run-time overlap check and take its scalar fallback). */
static inline __attribute__((always_inline)) void bn_dx_block(float *dx, const float *dy, const float *x,
                                                              const float *mb, const float *rb, const float *gb,
                                                              const float *bb, const float *mdy, const float *mdyx,
                                                              const float *s, size_t pixels, int c, int nb,
                                                              const int has_gamma, const int has_beta,
                                                              const int relu, const int inplace)
{
    for (size_t p = 0; p < pixels; p++) {
        const float *xr = x + p * (size_t)c;
        float *dr = dx + p * (size_t)c;
        const float *gr = inplace ? dr : dy + p * (size_t)c;
        for (int k = 0; k < nb; k++) {
            float g = gr[k];
            if (relu) g = act_grad(g, bn_value(xr[k], mb[k], rb[k], gb, bb, k, has_gamma, has_beta), CNN_ACT_RELU);
            const float xhat = (xr[k] - mb[k]) * rb[k];
            dr[k] = s[k] * ((g - mdy[k]) - xhat * mdyx[k]);
        }
    }
}

/* bn_backward; with act (relu or gelu) the gradient is first taken through the activation, at z as the
 * forward computed it, in the pass that sums it. gelu's is written over dy there (the model passes the
 * activation's gradient, dead afterwards) for the dx pass; relu's is recomputed in the dx pass. has_gamma,
 * has_beta and act are constants at each call (bn_backward_with). */
static inline __attribute__((always_inline)) void bn_backward_body(float *dx, float *dgamma, float *dbeta, float *dy_rw,
                                                                   const float *dy, const float *x, const float *mean,
                                                                   const float *rstd, const float *gamma,
                                                                   const float *beta, size_t pixels, int c,
                                                                   int overwrite, const int has_gamma,
                                                                   const int has_beta, const int act)
{
    CNN_ASSERT(pixels > 0 && c > 0);
    const int relu = act == CNN_ACT_RELU, write = act == CNN_ACT_GELU;
    for (int k0 = 0; k0 < c; k0 += BN_BLOCK) {
        const int nb = c - k0 < BN_BLOCK ? c - k0 : BN_BLOCK;
        const float *mb = mean + k0, *rb = rstd + k0;
        const float *gb = has_gamma ? gamma + k0 : NULL, *bb = has_beta ? beta + k0 : NULL;
        double sdy[BN_BLOCK], sdyx[BN_BLOCK];
        for (int k = 0; k < nb; k++) sdy[k] = 0.0, sdyx[k] = 0.0;
        for (size_t p = 0; p < pixels; p++) {
            const float *xr = x + p * (size_t)c + k0;
            /* gelu reads dy through the pointer it writes (see bn_dx_block) */
            float *gw = write ? dy_rw + p * (size_t)c + k0 : NULL;
            const float *gr = write ? gw : dy + p * (size_t)c + k0;
            for (int k = 0; k < nb; k++) {
                float g = gr[k];
                if (act != CNN_ACT_LINEAR)
                    g = act_grad(g, bn_value(xr[k], mb[k], rb[k], gb, bb, k, has_gamma, has_beta), act);
                if (write) gw[k] = g;
                const float xhat = (xr[k] - mb[k]) * rb[k];
                sdy[k] += (double)g;
                sdyx[k] += (double)g * (double)xhat; /* exact: two floats' product fits a double */
            }
        }
        store_param_grad(dbeta ? dbeta + k0 : NULL, sdy, nb, overwrite);
        store_param_grad(dgamma ? dgamma + k0 : NULL, sdyx, nb, overwrite);
        if (!dx) continue;
        /* per channel: mdy = sdy / pixels, mdyx = sdyx / pixels and s = gamma * rstd, each rounded to float
         * once; then dx = s * ((g - mdy) - xhat * mdyx) per element. This block's dy is read in full above
         * before any dx is written, so dx may be dy. */
        float mdy[BN_BLOCK], mdyx[BN_BLOCK], s[BN_BLOCK];
        for (int k = 0; k < nb; k++) {
            mdy[k] = (float)(sdy[k] / (double)pixels);
            mdyx[k] = (float)(sdyx[k] / (double)pixels);
            s[k] = gamma ? gamma[k0 + k] * rb[k] : rb[k];
        }
        if (dx == dy)
            bn_dx_block(dx + k0, dx + k0, x + k0, mb, rb, gb, bb, mdy, mdyx, s, pixels, c, nb, has_gamma, has_beta,
                        relu, 1);
        else
            bn_dx_block(dx + k0, dy + k0, x + k0, mb, rb, gb, bb, mdy, mdyx, s, pixels, c, nb, has_gamma, has_beta,
                        relu, 0);
    }
}

/* one loop per combination of gamma, beta and the activation (a linear one needs neither) */
static inline __attribute__((always_inline)) void bn_backward_with(float *dx, float *dgamma, float *dbeta, float *dy,
                                                                   const float *x, const float *mean, const float *rstd,
                                                                   const float *gamma, const float *beta, size_t pixels,
                                                                   int c, int overwrite, const int act)
{
    if (gamma && beta)
        bn_backward_body(dx, dgamma, dbeta, dy, dy, x, mean, rstd, gamma, beta, pixels, c, overwrite, 1, 1, act);
    else if (gamma)
        bn_backward_body(dx, dgamma, dbeta, dy, dy, x, mean, rstd, gamma, NULL, pixels, c, overwrite, 1, 0, act);
    else if (beta)
        bn_backward_body(dx, dgamma, dbeta, dy, dy, x, mean, rstd, NULL, beta, pixels, c, overwrite, 0, 1, act);
    else
        bn_backward_body(dx, dgamma, dbeta, dy, dy, x, mean, rstd, NULL, NULL, pixels, c, overwrite, 0, 0, act);
}

void KFN(bn_backward)(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                      const float *rstd, const float *gamma, size_t pixels, int c, int overwrite)
{
    bn_backward_body(dx, dgamma, dbeta, NULL, dy, x, mean, rstd, gamma, NULL, pixels, c, overwrite, 0, 0,
                     CNN_ACT_LINEAR);
}

void KFN(bn_backward_act)(float *dx, float *dgamma, float *dbeta, float *dy, const float *x, const float *mean,
                          const float *rstd, const float *gamma, const float *beta, size_t pixels, int c,
                          int overwrite, CnnActivation act)
{
    if (act == CNN_ACT_RELU)
        bn_backward_with(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, beta, pixels, c, overwrite, CNN_ACT_RELU);
    else if (act == CNN_ACT_GELU)
        bn_backward_with(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, beta, pixels, c, overwrite, CNN_ACT_GELU);
    else
        CNN_DIE("bn_backward_act: activation %d is not fused (relu and gelu are)", (int)act);
}

void KFN(bn_backward_fixed)(float *dx, const float *dy, const float *rstd, const float *gamma, size_t pixels, int c)
{
    for (size_t p = 0; p < pixels; p++) {
        const float *gr = dy + p * (size_t)c;
        float *dr = dx + p * (size_t)c;
        if (gamma)
            for (int k = 0; k < c; k++) dr[k] = gr[k] * gamma[k] * rstd[k];
        else
            for (int k = 0; k < c; k++) dr[k] = gr[k] * rstd[k];
    }
}
