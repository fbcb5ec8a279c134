/* fixedsum: see the header for why. The loops over a tensor's values run on the instruction set's
 * kernels (src/nn/kernels/fixedsum.c: the magic-number conversions); here are the scales and the
 * exponent bookkeeping. */
#include "cnn/nn/fixedsum.h"

#include <math.h>
#include <string.h>

void cnn_fixed_update_exponents(int *exps, const float *g, const CnnTensorInfo *t, int nt)
{
    for (int i = 0; i < nt; i++) {
        const float *p = g + t[i].offset;
        float mx = 0.0f;
        int bad = 0;
        for (size_t j = 0; j < t[i].count; j++) {
            float a = fabsf(p[j]);
            mx = a > mx ? a : mx;
            bad |= !(a <= 3.4028235e38f); /* NaN or Inf */
        }
        int e;
        if (bad)
            e = CNN_FIXED_EXP_NONFINITE;
        else if (mx == 0.0f)
            e = CNN_FIXED_EXP_ZERO;
        else
            (void)frexpf(mx, &e); /* mx = f * 2^e, f in [0.5, 1): |v| < 2^e */
        if (e > exps[i]) exps[i] = e;
    }
}

int cnn_fixed_headroom(long n_terms)
{
    int h = 0;
    while ((1L << h) < n_terms) h++;
    return h;
}

static int scale_of(int e, int headroom) { return e == CNN_FIXED_EXP_ZERO ? 0 : 50 - headroom - e; }

void cnn_fixed_accumulate(const CnnKernels *k, int64_t *acc, const float *g, const CnnTensorInfo *t, int nt,
                          const int *exps, int headroom)
{
    for (int i = 0; i < nt; i++)
        k->fixed_accumulate(acc + t[i].offset, g + t[i].offset, t[i].count, ldexp(1.0, scale_of(exps[i], headroom)));
}

void cnn_fixed_to_float(const CnnKernels *k, float *g, const int64_t *acc, const CnnTensorInfo *t, int nt,
                        const int *exps, int headroom)
{
    for (int i = 0; i < nt; i++)
        k->fixed_to_float(g + t[i].offset, acc + t[i].offset, t[i].count, ldexp(1.0, -scale_of(exps[i], headroom)));
}

int cnn_fixed_accumulate_bounded(const CnnKernels *k, int64_t *acc, int *seen, const float *g, const CnnTensorInfo *t,
                                 int t0, int t1, const int *bound, int headroom, int first)
{
    int over = 0;
    for (int i = t0; i < t1; i++) {
        /* |v| must stay below 2^bound; a ZERO bound admits only zeros */
        const float lim = bound[i] == CNN_FIXED_EXP_ZERO ? 0.0f
                          : bound[i] >= 128                ? INFINITY
                                                           : ldexpf(1.0f, bound[i]);
        const double scale = ldexp(1.0, scale_of(bound[i], headroom));
        const uint32_t mbits = k->fixed_accumulate_max(acc + t[i].offset, g + t[i].offset, t[i].count, scale, first);
        uint32_t lim_bits;
        memcpy(&lim_bits, &lim, sizeof lim_bits);
        const int bad = mbits >= (lim_bits ? lim_bits : 1u); /* |v| >= lim or NaN; lim 0: any v != 0 */
        int e;
        if (mbits >= 0x7f800000u) {
            e = CNN_FIXED_EXP_NONFINITE;
        } else if (mbits == 0) {
            e = CNN_FIXED_EXP_ZERO;
        } else {
            float mx;
            memcpy(&mx, &mbits, sizeof mx);
            (void)frexpf(mx, &e);
        }
        if (e > seen[i]) seen[i] = e;
        over |= bad;
    }
    return over;
}
