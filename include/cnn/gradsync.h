/* gradsync: one training step's gradient, the global batch's mean, the same on every rank.
 *
 * Deterministic mode (train.deterministic): the global batch is cut into micro-shards of micro_batch
 * samples that do not depend on the rank count; a rank computes the gradient of each of its micro-shards
 * on its own and adds it, rounded once, to an int64 fixed-point sum (fixedsum.h) that MPI sums exactly,
 * so the result is bitwise the same on any number of ranks. The scales come from the last step's largest
 * gradients plus a margin (one pass); the first step, and any step where a value outgrew its bound on
 * some rank, is summed again with this step's exact scales (two passes). The int64 sums of the last
 * micro-shard travel in buckets while its earlier layers still compute.
 * Fast mode: one forward/backward over the rank's contiguous slice, float MPI_Iallreduce buckets
 * overlapped with backward the same way.
 *
 * Beneath it: model (forward, backward with a hook per finished layer), fixedsum, comm. Above it: the
 * training loop (train/), which only calls cnn_gradsync_step and keeps the exponents in checkpoints. */
#ifndef CNN_GRADSYNC_H
#define CNN_GRADSYNC_H

#include <stdint.h>

#include "cnn/config.h"
#include "cnn/nn/model.h"

#define CNN_LOSS_SCALE 4294967296.0 /* 2^32: losses are summed exactly as fixed point */

/* Who computes what of every global batch: a pure function of the config, the rank and the rank count. */
typedef struct {
    int n_micro;            /* deterministic: micro-shards per batch; fast: 0 */
    int micro_lo, micro_hi; /* deterministic: this rank's micro-shards [micro_lo, micro_hi) */
    int lo, hi;             /* this rank's samples [lo, hi) of every global batch (may be empty) */
    int max_samples;        /* the most samples one forward gets here: micro_batch, or the largest slice */
} CnnGradPartition;

void cnn_gradsync_partition(const CnnConfig *cfg, int rank, int size, CnnGradPartition *p);

/* Seconds per phase, summed over steps (for --bench), and the steps that took two passes. */
typedef struct {
    double fwd, bwd, sum, reduce, wait;
    long exact_steps;
} CnnGradSyncTimes;

/* What a step's batch gave, summed over every rank: cross entropy (fixed point, CNN_LOSS_SCALE) and
 * right answers. */
typedef struct {
    int64_t loss_fixed, correct;
} CnnStepStats;

typedef struct CnnGradSync CnnGradSync;

/* For model m (built for at least the partition's max_samples), on rank `rank` of `size`. */
CnnGradSync *cnn_gradsync_create(const CnnConfig *cfg, CnnModel *m, int rank, int size);
void cnn_gradsync_free(CnnGradSync *g);
const CnnGradPartition *cnn_gradsync_partition_of(const CnnGradSync *g);
/* The global mean gradient of batch `step` into m->grads, identical on all ranks; x, y: this rank's
 * samples [lo, hi). Returns 0, or -1 on every rank if a gradient or the loss is not finite anywhere
 * (*where names the tensor, or "loss"). A collective: every rank calls it for every step. */
int cnn_gradsync_step(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st, const char **where);
/* Deterministic mode: the per-tensor exponents the next step's scales come from (a checkpoint keeps
 * them so that a resumed run continues bit for bit). Returns how many were written into exps (the
 * model's tensor count), or 0 when there are none (fast mode, or before the first step). */
int cnn_gradsync_exponents(const CnnGradSync *g, int *exps);
/* Takes them back from a checkpoint; n other than the tensor count (an old or fast-mode checkpoint)
 * forgets them, so the next step is summed in two passes. */
void cnn_gradsync_set_exponents(CnnGradSync *g, const int *exps, int n);
const CnnGradSyncTimes *cnn_gradsync_times(const CnnGradSync *g);
void cnn_gradsync_reset_times(CnnGradSync *g);

#endif
