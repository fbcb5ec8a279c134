/* sampler: which samples make up global batch number `step`, as a pure function of (seed, step).
 *
 * The training stream is the concatenation of epoch permutations: epoch e is a Fisher-Yates shuffle
 * of [0, n) drawn from the stream (CNN_RNG_EPOCH, e). Global batch s is positions
 * [s*B, (s+1)*B) of that stream, so a batch may straddle an epoch boundary (the end of epoch e and the
 * start of e+1), every sample is seen once per epoch, none is dropped, and the sampler's whole state
 * is the step number: resuming at any step needs nothing else. Which part of a batch a rank takes is
 * the caller's business (cnn_sampler_slice).
 * With drop_last (train.drop_last, PyTorch's DataLoader(drop_last=True)), epoch e is floor(n / B) whole
 * batches of its permutation and the n mod B samples at its end are not used: batch s is positions
 * [(s mod S)*B, ...) of epoch s / S, S = floor(n / B). */
#ifndef CNN_SAMPLER_H
#define CNN_SAMPLER_H

#include <stdint.h>

typedef struct {
    uint64_t seed;
    int n;                  /* samples per epoch */
    int batch;              /* global batch B */
    int per_epoch;          /* drop_last: the batches of an epoch, floor(n / B); 0 = the stream as it is */
    long cached_epoch[2];   /* two epochs' permutations kept (a batch spans at most two if B <= n) */
    uint32_t *perm[2];
} CnnSampler;

void cnn_sampler_init(CnnSampler *s, uint64_t seed, int n, int batch);
void cnn_sampler_free(CnnSampler *s);
/* drop_last on (1) or off (0; as init leaves it). On with B > n would leave no batch: stays off. */
void cnn_sampler_drop_last(CnnSampler *s, int on);
/* Positions [lo, hi) of global batch `step` (0 <= lo <= hi <= B): sample indices and their epochs. */
void cnn_sampler_get(CnnSampler *s, long step, int lo, int hi, int *indices, long *epochs);
/* Epoch that global batch `step` starts in. */
long cnn_sampler_epoch(const CnnSampler *s, long step);
/* Contiguous slice [*lo, *hi) of `count` items for part `part` of `parts`: sizes differ by at most one,
 * the larger ones first. */
void cnn_sampler_slice(int count, int part, int parts, int *lo, int *hi);

#endif
