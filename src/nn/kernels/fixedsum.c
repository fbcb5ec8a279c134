/* fixedsum (compiled per instruction set, see simd.h): the loops of the exact sums over one tensor
 * (fixedsum.c in src/nn has the scales and the why). The conversions use the identity that for
 * |x| < 2^51, adding M = 1.5 * 2^52 rounds x to an integer (round-to-nearest-even, deterministic) held
 * in the low mantissa bits, so bits(x + M) - bits(M) is that integer; the reverse adds the integer to
 * bits(M). The additions wrap as unsigned integers: a value past its bound (the step is then summed
 * again) must not be undefined behaviour. */
#include "simd.h"

#define MAGIC 6755399441055744.0 /* 1.5 * 2^52 */

static int64_t magic_bits(void)
{
    double m = MAGIC;
    int64_t b;
    memcpy(&b, &m, sizeof b);
    return b;
}

void KFN(fixed_accumulate)(int64_t *restrict acc, const float *restrict g, size_t n, double scale)
{
    const int64_t mb = magic_bits();
    for (size_t j = 0; j < n; j++) {
        double x = (double)g[j] * scale + MAGIC;
        int64_t b;
        memcpy(&b, &x, sizeof b);
        acc[j] = (int64_t)((uint64_t)acc[j] + ((uint64_t)b - (uint64_t)mb));
    }
}

/* For v >= 0 the bit patterns order like the values (and NaN's above Inf's), so one unsigned max over
 * |v|'s bits tells the largest magnitude and Inf/NaN, and the loop vectorises (a float max with NaN
 * checks does not). */
static inline __attribute__((always_inline)) uint32_t accumulate_max(int64_t *restrict acc, const float *restrict g,
                                                                      size_t n, double scale, const int first)
{
    const int64_t mb = magic_bits();
    uint32_t mbits = 0;
    for (size_t j = 0; j < n; j++) {
        const float v = g[j];
        uint32_t vb;
        memcpy(&vb, &v, sizeof vb);
        vb &= 0x7fffffffu;
        mbits = vb > mbits ? vb : mbits;
        double x = (double)v * scale + MAGIC;
        int64_t b;
        memcpy(&b, &x, sizeof b);
        const uint64_t term = (uint64_t)b - (uint64_t)mb;
        acc[j] = (int64_t)(first ? term : (uint64_t)acc[j] + term);
    }
    return mbits;
}

/* first: acc is overwritten (the first term of a sum: no zeroing pass over it), else added to */
uint32_t KFN(fixed_accumulate_max)(int64_t *restrict acc, const float *restrict g, size_t n, double scale, int first)
{
    return first ? accumulate_max(acc, g, n, scale, 1) : accumulate_max(acc, g, n, scale, 0);
}

void KFN(fixed_to_float)(float *restrict g, const int64_t *restrict acc, size_t n, double inv_scale)
{
    const int64_t mb = magic_bits();
    for (size_t j = 0; j < n; j++) {
        int64_t b = (int64_t)((uint64_t)acc[j] + (uint64_t)mb);
        double x;
        memcpy(&x, &b, sizeof x);
        g[j] = (float)((x - MAGIC) * inv_scale);
    }
}
