/* sampler: the training stream as concatenated epoch permutations, and which of its positions form
 * global batch `step`. Position p of the stream is sample perm_e[p mod n] of epoch e = p / n, where
 * perm_e is a Fisher-Yates shuffle of [0, n) drawn from (CNN_RNG_EPOCH, e, 0): i from n-1 down to 1
 * swaps i with cnn_rng_below(i + 1). Two epochs' permutations are cached (a batch of B <= n spans at
 * most two), so a step costs O(hi - lo) and a new permutation is computed once per epoch. Not
 * thread-safe: one sampler per thread that calls cnn_sampler_get. */
#include "cnn/data/sampler.h"

#include <stdlib.h>

#include "cnn/rng.h"
#include "cnn/util.h"

void cnn_sampler_init(CnnSampler *s, uint64_t seed, int n, int batch)
{
    CNN_ASSERT(n > 0 && batch > 0);
    s->seed = seed;
    s->n = n;
    s->batch = batch;
    s->per_epoch = 0;
    for (int k = 0; k < 2; k++) {
        s->cached_epoch[k] = -1;
        s->perm[k] = cnn_malloc(cnn_mul_size((size_t)n, sizeof *s->perm[k]));
    }
}

void cnn_sampler_drop_last(CnnSampler *s, int on) { s->per_epoch = on ? s->n / s->batch : 0; }

void cnn_sampler_free(CnnSampler *s)
{
    for (int k = 0; k < 2; k++) {
        free(s->perm[k]);
        s->perm[k] = NULL;
        s->cached_epoch[k] = -1;
    }
}

static void shuffle(uint32_t *perm, int n, uint64_t seed, long epoch)
{
    CnnRng r;
    cnn_rng_init(&r, seed, CNN_RNG_EPOCH, (uint64_t)epoch, 0);
    for (int i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t j = cnn_rng_below(&r, (uint32_t)i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* The permutation of `epoch`, computing it into the slot holding the older epoch if not cached. In a
 * forward pass over epochs e, e+1 this keeps the batch's two epochs; going back (a resume at an
 * earlier step) just recomputes. */
static const uint32_t *perm_of(CnnSampler *s, long epoch)
{
    for (int k = 0; k < 2; k++)
        if (s->cached_epoch[k] == epoch) return s->perm[k];
    int k = s->cached_epoch[0] <= s->cached_epoch[1] ? 0 : 1;
    shuffle(s->perm[k], s->n, s->seed, epoch);
    s->cached_epoch[k] = epoch;
    return s->perm[k];
}

void cnn_sampler_get(CnnSampler *s, long step, int lo, int hi, int *indices, long *epochs)
{
    CNN_ASSERT(step >= 0 && 0 <= lo && lo <= hi && hi <= s->batch);
    /* 64-bit positions: step * B stays far below 2^63 for any real run. */
    int64_t pos = (int64_t)step * s->batch + lo;
    if (s->per_epoch > 0) pos = (int64_t)(step / s->per_epoch) * s->n + (int64_t)(step % s->per_epoch) * s->batch + lo;
    long epoch = (long)(pos / s->n);
    int off = (int)(pos % s->n);
    int i = 0, count = hi - lo;
    while (i < count) {
        const uint32_t *perm = perm_of(s, epoch);
        int take = s->n - off < count - i ? s->n - off : count - i;
        for (int k = 0; k < take; k++) {
            indices[i + k] = (int)perm[off + k];
            if (epochs) epochs[i + k] = epoch;
        }
        i += take;
        off = 0;
        epoch++;
    }
}

long cnn_sampler_epoch(const CnnSampler *s, long step)
{
    if (s->per_epoch > 0) return step / s->per_epoch;
    return (long)((int64_t)step * s->batch / s->n);
}

void cnn_sampler_slice(int count, int part, int parts, int *lo, int *hi)
{
    CNN_ASSERT(count >= 0 && parts > 0 && 0 <= part && part < parts);
    int base = count / parts, rem = count % parts;
    *lo = part * base + (part < rem ? part : rem);
    *hi = *lo + base + (part < rem ? 1 : 0);
}
