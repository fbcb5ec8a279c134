/* norm (compiled per instruction set, see simd.h): BatchNorm over one group x[pixels][c] (NHWC, pixels =
 * n*h*w, so a channel is the innermost index). The per-channel sums vectorise across channels: each channel
 * sums its pixels in order, in double, in its own lane, so every vector width gives the same bits. Channels
 * go in blocks of BN_BLOCK whose double sums live on the stack (kernels never allocate); a block reads its
 * slice of every pixel row. Element-wise steps are float, in the order the formulas in kernels.h are
 * written. */
#include "simd.h"

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

/* y = (x - mean) * rstd [* gamma] [+ beta]; the flags are constants at each call, so each combination is
 * its own loop without a load of ones or zeros (a NULL gamma gives the bits of a gamma of ones; a NULL beta
 * those of zeros, but for the sign of a zero y). */
static inline void bn_forward_loop(float *y, const float *x, const float *mean, const float *rstd,
                                   const float *gamma, const float *beta, size_t pixels, int c, const int has_gamma,
                                   const int has_beta)
{
    for (size_t p = 0; p < pixels; p++) {
        const float *xr = x + p * (size_t)c;
        float *yr = y + p * (size_t)c;
        for (int k = 0; k < c; k++) {
            float v = (xr[k] - mean[k]) * rstd[k];
            if (has_gamma) v = v * gamma[k];
            if (has_beta) v = v + beta[k];
            yr[k] = v;
        }
    }
}

void KFN(bn_forward)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                     const float *beta, size_t pixels, int c)
{
    if (gamma && beta)
        bn_forward_loop(y, x, mean, rstd, gamma, beta, pixels, c, 1, 1);
    else if (gamma)
        bn_forward_loop(y, x, mean, rstd, gamma, NULL, pixels, c, 1, 0);
    else if (beta)
        bn_forward_loop(y, x, mean, rstd, NULL, beta, pixels, c, 0, 1);
    else
        bn_forward_loop(y, x, mean, rstd, NULL, NULL, pixels, c, 0, 0);
}

/* A parameter gradient from its double sum: = (overwrite) or += with one rounding. Accumulating onto 0
 * gives the same bits as overwriting (the sums start at +0, so they are never -0). */
static void store_param_grad(float *d, const double *s, int nb, int overwrite)
{
    if (!d) return;
    for (int k = 0; k < nb; k++) d[k] = overwrite ? (float)s[k] : (float)((double)d[k] + s[k]);
}

void KFN(bn_backward)(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                      const float *rstd, const float *gamma, size_t pixels, int c, int overwrite)
{
    CNN_ASSERT(pixels > 0 && c > 0);
    for (int k0 = 0; k0 < c; k0 += BN_BLOCK) {
        const int nb = c - k0 < BN_BLOCK ? c - k0 : BN_BLOCK;
        const float *mb = mean + k0, *rb = rstd + k0;
        double sdy[BN_BLOCK], sdyx[BN_BLOCK];
        for (int k = 0; k < nb; k++) sdy[k] = 0.0, sdyx[k] = 0.0;
        for (size_t p = 0; p < pixels; p++) {
            const float *xr = x + p * (size_t)c + k0, *gr = dy + p * (size_t)c + k0;
            for (int k = 0; k < nb; k++) {
                const float xhat = (xr[k] - mb[k]) * rb[k];
                sdy[k] += (double)gr[k];
                sdyx[k] += (double)gr[k] * (double)xhat; /* exact: two floats' product fits a double */
            }
        }
        store_param_grad(dbeta ? dbeta + k0 : NULL, sdy, nb, overwrite);
        store_param_grad(dgamma ? dgamma + k0 : NULL, sdyx, nb, overwrite);
        if (!dx) continue;
        /* per channel: mdy = sdy / pixels, mdyx = sdyx / pixels and s = gamma * rstd, each rounded to float
         * once; then dx = s * ((dy - mdy) - xhat * mdyx) per element. This block's dy is read in full above
         * before any dx is written, so dx may be dy. */
        float mdy[BN_BLOCK], mdyx[BN_BLOCK], s[BN_BLOCK];
        for (int k = 0; k < nb; k++) {
            mdy[k] = (float)(sdy[k] / (double)pixels);
            mdyx[k] = (float)(sdyx[k] / (double)pixels);
            s[k] = gamma ? gamma[k0 + k] * rb[k] : rb[k];
        }
        for (size_t p = 0; p < pixels; p++) {
            const float *xr = x + p * (size_t)c + k0, *gr = dy + p * (size_t)c + k0;
            float *dr = dx + p * (size_t)c + k0;
            for (int k = 0; k < nb; k++) {
                const float xhat = (xr[k] - mb[k]) * rb[k];
                dr[k] = s[k] * ((gr[k] - mdy[k]) - xhat * mdyx[k]);
            }
        }
    }
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
