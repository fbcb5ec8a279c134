/* gelu (private to the kernels, included per instruction set): GELU's value and derivative as straight-line
 * float code that GCC vectorises, and relu's, shared by act.c and the BatchNorm + activation fusion in
 * norm.c, so both give the same bits. */
#ifndef CNN_KERNELS_GELU_H
#define CNN_KERNELS_GELU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- GELU: y = x Phi(x), dy/dx = Phi(x) + x phi(x) (Phi, phi: the standard normal cdf and density) ----
 * glibc's erff and expf are scalar calls, so Phi and phi are built here from straight-line float code that
 * GCC vectorises; every operation is a correctly rounded IEEE one, so each lane gives the same bits on every
 * vector width. With a = |x|: phi(a) = exp(-a^2 / 2) / sqrt(2 pi), and the upper tail
 * q = 1 - Phi(a) = phi(a) M(a), where M is Mills' ratio, a smooth function of t = 4 / (4 + a) in (0, 1]
 * that a degree-9 polynomial in t fits (Chebyshev fit on a in [0, 12], truncation error 3e-9 in M; fitted
 * for this file with mpmath). Phi(x) = q for x < 0, 1 - q otherwise. Measured against the double-precision
 * formula (erfc, exp) at 2,000,001 points evenly over [-10, 10]: max |error| / max(1, |x|) = 1.2e-7 for y
 * (at x = 1.05) and 2.5e-7 for dy/dx (near 0, where it is 0.5: 4 ulps); tests/test_act.c asserts 1e-6.
 * From |x| = GELU_CUT on, Phi's tail is below 2e-33 and x phi(x) below 3e-31: y = x or -0 and dy/dx = 1 or
 * 0 exactly, so +-inf give inf / -0, and a NaN stays a NaN. */
#define GELU_CUT 12.0f

/* keep ? a : b through the bits. Written as a ternary on floats, GCC turns such a choice into a branch and
 * moves the arithmetic of each side into it; it then vectorises the loop only where it can mask (AVX-512),
 * because floating-point arithmetic under a branch may trap. On bits both sides are computed, always. */
static inline float select_bits(int keep, float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const uint32_t m = 0u - (uint32_t)(keep != 0), r = (ua & m) | (ub & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* ---- relu, shared the same way: act.c's layer and norm.c's BatchNorm + relu give the same bits ----
 * y = x < 0 ? 0 : x (a NaN stays a NaN, as tf.nn.relu); its gradient passes g where the output is
 * positive (y > 0 exactly where x > 0) and +0 elsewhere, chosen through the bits: a ternary, with the
 * caller's arithmetic for x beside it, would become a branch and keep the loop scalar. */
static inline float relu_value(float x) { return x < 0.0f ? 0.0f : x; }
static inline float relu_grad(float g, float y) { return select_bits(y > 0.0f, g, 0.0f); }

/* exp(z) for z in [-72, 0]: z = n ln2 + r with n an integer and |r| <= ln2 / 2, exp(r) by its Taylor series
 * to r^7 (truncation below 6e-9 relative), times 2^n made in the exponent bits (n >= -104: always a normal
 * float). ln2 is split in two (ln2_hi has 16 significant bits) so n ln2_hi is exact. */
static inline float exp_nonpositive(float z)
{
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to the nearest integer */
    const float n = (z * 1.44269504089f + round_magic) - round_magic;
    const float r = (z - n * 0.693145751953125f) - n * 1.42860682031e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

/* Phi(x) and phi(x) for |x| < GELU_CUT (|x| is clamped there, so other inputs give finite nonsense that the
 * callers replace). The clamp is an integer minimum of the bits (their order is the order of non-negative
 * floats, a NaN's above all): a float one would become a branch, as in select_bits. */
static inline void normal_cdf_pdf(float x, float *cdf, float *pdf)
{
    const float a = fabsf(x), cut = GELU_CUT;
    int32_t ia, icut;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&icut, &cut, sizeof icut);
    ia = ia < icut ? ia : icut;
    float ac;
    memcpy(&ac, &ia, sizeof ac);
    const float t = 4.0f / (4.0f + ac);
    float m = 0.0974483884156f; /* M(a) = sum of m_i t^i, from t^9 down */
    m = m * t - 0.559353542644f;
    m = m * t + 1.15071073739f;
    m = m * t - 1.05289786256f;
    m = m * t + 0.946854860092f;
    m = m * t - 0.151842778989f;
    m = m * t + 0.340530556826f;
    m = m * t + 0.229738338763f;
    m = m * t + 0.252233514169f;
    m = m * t - 0.00010807345817f;
    const float pd = exp_nonpositive(-0.5f * ac * ac) * 0.398942280401f; /* 1 / sqrt(2 pi) */
    const float q = pd * m;
    *cdf = select_bits(x < 0.0f, q, 1.0f - q);
    *pdf = pd;
}

/* GELU's value: beyond the cut -0 or x; a NaN is not below it and stays. */
static inline float gelu_value(float v)
{
    float cdf, pdf;
    normal_cdf_pdf(v, &cdf, &pdf);
    return select_bits(fabsf(v) < GELU_CUT, v * cdf, select_bits(v < 0.0f, -0.0f, v));
}

/* GELU's derivative: beyond the cut 0 or 1; a NaN stays. */
static inline float gelu_slope(float v)
{
    float cdf, pdf;
    normal_cdf_pdf(v, &cdf, &pdf);
    const float limit = select_bits(v < 0.0f, 0.0f, select_bits(v > 0.0f, 1.0f, v));
    return select_bits(fabsf(v) < GELU_CUT, cdf + v * pdf, limit);
}

#endif
