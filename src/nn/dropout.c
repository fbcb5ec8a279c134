/* dropout: inverted dropout (kept values scaled by 1/keep, so evaluation needs no rescaling). Sample j's
 * mask comes from the rng stream (CNN_RNG_DROPOUT, a = step, b = tag << 32 | positions[j]): a pure
 * function of the seed, the step, the layer and the sample's place in the global batch, so any split of
 * the batch over ranks draws the same masks. One uniform per element, kept iff uniform < keep. */
#include "cnn/nn/layers.h"

#include "cnn/rng.h"
#include "cnn/util.h"

void cnn_dropout_forward(float *y, uint8_t *mask, const float *x, int n, size_t per_sample, float keep,
                         uint64_t seed, uint32_t tag, long step, const int *positions)
{
    CNN_ASSERT(keep > 0.0f && keep <= 1.0f && step >= 0);
    const float inv = 1.0f / keep;
    for (int j = 0; j < n; j++) {
        /* positions NULL: the samples are the global batch itself, in order. */
        const int pos = positions ? positions[j] : j;
        CNN_ASSERT(pos >= 0);
        CnnRng r;
        cnn_rng_init(&r, seed, CNN_RNG_DROPOUT, (uint64_t)step, ((uint64_t)tag << 32) | (uint32_t)pos);
        const size_t base = (size_t)j * per_sample;
        for (size_t i = base; i < base + per_sample; i++) {
            const int kept = cnn_rng_uniform(&r) < keep;
            mask[i] = (uint8_t)kept;
            y[i] = kept ? x[i] * inv : 0.0f;
        }
    }
}

void cnn_dropout_backward(float *dx, const float *dy, const uint8_t *mask, size_t count, float keep)
{
    const float inv = 1.0f / keep;
    for (size_t i = 0; i < count; i++) dx[i] = mask[i] ? dy[i] * inv : 0.0f;
}
