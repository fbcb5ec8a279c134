/* fixedsum: see the header for why. The conversions use the identity that for |x| < 2^51, adding
 * M = 1.5 * 2^52 rounds x to an integer (round-to-nearest-even, deterministic) held in the low
 * mantissa bits, so bits(x + M) - bits(M) is that integer; the reverse adds the integer to bits(M). */
#include "cnn/nn/fixedsum.h"

#include <math.h>
#include <string.h>

#define MAGIC 6755399441055744.0 /* 1.5 * 2^52 */

static int64_t magic_bits(void)
{
    double m = MAGIC;
    int64_t b;
    memcpy(&b, &m, sizeof b);
    return b;
}

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

void cnn_fixed_accumulate(int64_t *acc, const float *g, const CnnTensorInfo *t, int nt, const int *exps,
                          int headroom)
{
    const int64_t mb = magic_bits();
    for (int i = 0; i < nt; i++) {
        const double scale = ldexp(1.0, scale_of(exps[i], headroom));
        const float *p = g + t[i].offset;
        int64_t *a = acc + t[i].offset;
        const size_t n = t[i].count; /* a local: stores through a[] could alias t[i].count */
        for (size_t j = 0; j < n; j++) {
            double x = (double)p[j] * scale + MAGIC;
            int64_t b;
            memcpy(&b, &x, sizeof b);
            a[j] += b - mb;
        }
    }
}

void cnn_fixed_to_float(float *g, const int64_t *acc, const CnnTensorInfo *t, int nt, const int *exps,
                        int headroom)
{
    const int64_t mb = magic_bits();
    for (int i = 0; i < nt; i++) {
        const double inv = ldexp(1.0, -scale_of(exps[i], headroom));
        const int64_t *a = acc + t[i].offset;
        float *p = g + t[i].offset;
        const size_t n = t[i].count;
        for (size_t j = 0; j < n; j++) {
            int64_t b = a[j] + mb;
            double x;
            memcpy(&x, &b, sizeof x);
            p[j] = (float)((x - MAGIC) * inv);
        }
    }
}

int cnn_fixed_accumulate_bounded(int64_t *acc, int *seen, const float *g, const CnnTensorInfo *t, int t0, int t1,
                                 const int *bound, int headroom)
{
    const int64_t mb = magic_bits();
    int over = 0;
    for (int i = t0; i < t1; i++) {
        const float *p = g + t[i].offset;
        int64_t *a = acc + t[i].offset;
        /* |v| must stay below 2^bound; a ZERO bound admits only zeros */
        const float lim = bound[i] == CNN_FIXED_EXP_ZERO ? 0.0f
                          : bound[i] >= 128                ? INFINITY
                                                           : ldexpf(1.0f, bound[i]);
        const double scale = ldexp(1.0, scale_of(bound[i], headroom));
        /* For v >= 0 the bit patterns order like the values (and NaN's above Inf's), so one unsigned
         * max over |v|'s bits tells the largest magnitude, Inf/NaN, and a breach of lim, and the loop
         * vectorises (a float max with NaN checks does not). */
        uint32_t mbits = 0;
        const size_t n = t[i].count; /* a local: stores through a[] could alias t[i].count */
        for (size_t j = 0; j < n; j++) {
            const float v = p[j];
            uint32_t vb;
            memcpy(&vb, &v, sizeof vb);
            vb &= 0x7fffffffu;
            mbits = vb > mbits ? vb : mbits;
            double x = (double)v * scale + MAGIC;
            int64_t b;
            memcpy(&b, &x, sizeof b);
            a[j] += b - mb;
        }
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
