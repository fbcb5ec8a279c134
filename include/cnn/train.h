/* train (src/train/): the run that joins data, model, optimizer, gradsync, checkpoints and metrics; the
 * training loop, --bench and --eval; signals (SIGTERM, SIGINT, SIGUSR1) turned into a checkpoint at the
 * next step boundary, agreed on by all ranks with a collective. src/train/run.h says which file holds
 * what. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include "cnn/config.h"

/* Exit statuses (documented in the README). */
enum {
    CNN_EXIT_OK = 0,
    CNN_EXIT_ERROR = 1,         /* a user error: config, data, checkpoint */
    CNN_EXIT_USAGE = 2,
    CNN_EXIT_NAN = 3,           /* NaN or Inf in loss or gradients */
    CNN_EXIT_STALLED = 4,       /* no progress for run.stall_timeout seconds (a lost node): src/watchdog.c */
    CNN_EXIT_PREEMPTED = 75     /* stopped by a signal after writing a checkpoint (EX_TEMPFAIL) */
};

typedef struct {
    const char *resume;         /* NULL, "latest" or a checkpoint path */
    int bench;                  /* >0: time this many steps (src/train/bench.c), print the table, write nothing */
} CnnTrainOpts;

int cnn_train_run(const CnnConfig *cfg, const CnnTrainOpts *opts);

/* What one rank of a run with `ranks` ranks will hold, in bytes, computed before anything is allocated
 * (the model is planned, not built). data: the data set's bytes, 0 if not known yet. */
typedef struct {
    double params, optimizer, sums, activations, workspaces, prefetch, eval, data, base, total;
    int samples;        /* samples a layer holds at once (the largest of a micro-shard, a slice, eval_batch) */
    int slice;          /* this rank's samples of each global batch (the prefetch ring holds that many) */
    int widest, heaviest; /* the layers with the largest output per sample and the most weights */
} CnnMemoryEstimate;
int cnn_train_memory(const CnnConfig *cfg, int ranks, int threads, double data, CnnMemoryEstimate *e, CnnErr *err);
/* One line for --summary and the refusal message: "about 262 MB: ..." */
void cnn_memory_line(const CnnMemoryEstimate *e, char *buf, size_t n);
/* Evaluates checkpoint ckpt on cfg's test set; prints loss and accuracy. Its averaged parameters
 * (train.ema) when it holds them, unless raw. */
int cnn_eval_run(const CnnConfig *cfg, const char *ckpt, int raw);

#endif
