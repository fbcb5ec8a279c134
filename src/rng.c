/* rng: cursors over Philox4x32-10 streams (Random123). The counter is (block, domain, a_lo^a_hi mix,
 * b) so every (seed, domain, a, b) names its own stream of 2^32 blocks of four 32-bit words. */
#include "cnn/rng.h"

#include <math.h>

#include <Random123/philox.h>

void cnn_rng_init(CnnRng *r, uint64_t seed, uint32_t domain, uint64_t a, uint64_t b)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    /* a and b are at most 2^32 in every use but the epoch; fold the high halves in so that larger
     * values still give distinct streams in practice. */
    r->ctr[0] = 0;
    r->ctr[1] = domain ^ ((uint32_t)(a >> 32) * 0x9E3779B9u);
    r->ctr[2] = (uint32_t)a;
    r->ctr[3] = (uint32_t)b ^ ((uint32_t)(b >> 32) * 0x85EBCA6Bu);
    r->used = 4;
}

static void next_block(CnnRng *r)
{
    philox4x32_ctr_t c = {{r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3]}};
    philox4x32_key_t k = {{r->key[0], r->key[1]}};
    philox4x32_ctr_t o = philox4x32(c, k);
    for (int i = 0; i < 4; i++) r->out[i] = o.v[i];
    r->ctr[0]++;
    r->used = 0;
}

uint32_t cnn_rng_u32(CnnRng *r)
{
    if (r->used == 4) next_block(r);
    return r->out[r->used++];
}

float cnn_rng_uniform(CnnRng *r) { return (float)(cnn_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float cnn_rng_range(CnnRng *r, float lo, float hi) { return lo + (hi - lo) * cnn_rng_uniform(r); }

uint32_t cnn_rng_below(CnnRng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)cnn_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)cnn_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float cnn_rng_normal(CnnRng *r)
{
    /* Box-Muller in double; u1 in (0, 1] so the log is finite. */
    double u1 = ((double)cnn_rng_u32(r) + 1.0) / 4294967296.0;
    double u2 = (double)cnn_rng_u32(r) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

float cnn_rng_truncated_normal(CnnRng *r, float stddev)
{
    for (;;) {
        float z = cnn_rng_normal(r);
        if (fabsf(z) <= 2.0f) return z * stddev;
    }
}
