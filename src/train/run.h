/* run: what the training loop, bench mode and --eval share (internal to src/train/).
 *
 *   setup.c   the run's state: data sets, model, optimizer, gradsync; the checks every rank agrees on
 *             before anything is written (instruction set, memory, same config and parameters); the
 *             prefetch ring; one step (run_step) and evaluation
 *   memory.c  what a rank will hold, estimated before anything is allocated, and the refusal
 *   resume.c  choosing, reading and broadcasting a checkpoint; writing one
 *   loop.c    cnn_train_run: the loop over steps (log, evaluate, agree, checkpoint, stop); cnn_eval_run
 *   bench.c   --bench: the same run_step, timed, and the table */
#ifndef CNN_TRAIN_RUN_H
#define CNN_TRAIN_RUN_H

#include <stdint.h>

#include "cnn/config.h"
#include "cnn/cpu.h"
#include "cnn/data/augment.h"
#include "cnn/data/dataset.h"
#include "cnn/data/prefetch.h"
#include "cnn/data/sampler.h"
#include "cnn/gradsync.h"
#include "cnn/nn/model.h"
#include "cnn/nn/optim.h"
#include "cnn/train.h"

typedef struct {
    const CnnConfig *cfg;
    int rank, size;
    int threads;                /* OpenBLAS and kernel threads per rank */
    CnnDataset train, test;
    CnnAugment aug_train, aug_test;
    CnnSampler sampler;         /* used by the producer thread only */
    CnnModel model;
    CnnOptim optim;
    CnnGradSync *sync;
    int B;                      /* global batch */
    long steps;                 /* training: the steps to reach, train.steps or derived from train.epochs
                                   once the training set is loaded (cnn_config_steps); 0 without one */
    int lo, hi;                 /* this rank's positions [lo, hi) of every global batch */
    int *idx_buf;
    long *epoch_buf;
    CnnPrefetch *prefetch;
    float *sync_x;              /* prefetch off: batch filled in place */
    int *sync_y;
    double t_data, t_opt;       /* seconds, for --bench */
    int eval_only;              /* --eval: the recipe may differ from the checkpoint's */
    int eval_raw;               /* --eval --raw: the trained parameters even where an average exists */
    float *ema;                 /* train.ema's average (training), or a checkpoint's (--eval); NULL: none.
                                   Evaluation runs on it when it is there */
    float *ema_swap;            /* the trained parameters while evaluation runs on the average */
    float *lookahead;           /* train.lookahead's copy of every parameter and buffer, once it has started;
                                   NULL before (and without lookahead) */
    char *config_text;          /* canonical INI text after overrides, for checkpoints and metrics */
    CnnIsa isa;                 /* the kernels' instruction set, agreed by all ranks */
    char producer[512];         /* version.h's line, for checkpoints and metrics (set once by run_setup) */
} Run;

/* setup.c */
/* Data sets (the training set if need_train), the agreed checks, model, optimizer, gradsync; prints why
 * and returns -1 (on every rank) if anything fails. */
int run_setup(Run *r, const CnnConfig *cfg, int need_train, CnnErr *err);
void run_free(Run *r);
/* The parameters from the seed, then the init = whiten layers' from the training images (when loaded). */
int run_init_params(Run *r, CnnErr *err);
/* Starts feeding batches step0 .. steps-1 (the prefetch ring, or in place when data.prefetch = 0). */
void run_start_data(Run *r, long step0, long steps);
/* One training step: this rank's part of batch `step`, the global gradient, weight decay, the optimizer
 * at learning rate *lr. Returns 0, or -1 on every rank on NaN/Inf (*where names the tensor or "loss"). */
int run_step(Run *r, long step, double *lr, CnnStepStats *st, const char **where);
/* train.ema's average := the parameters (allocated on first use). */
void run_ema_reset(Run *r);
/* What an evaluation gives: the plain figures, and with test-time augmentation (tta > 0) those too. */
typedef struct {
    double loss, acc;
    int tta;
    double tta_loss, tta_acc;
} CnnEval;
/* The test set in fixed chunks of eval_batch, chunks spread over ranks, sums exact; on the average
 * (r->ema) when there is one; with data.tta's views at level tta (0: none). */
void run_evaluate(Run *r, int tta, CnnEval *ev);
/* Any rank's failure becomes every rank's (the failing ranks print why), so nobody is left in a
 * collective. */
int agree_fail(int failed, const CnnErr *err);

/* memory.c */
/* Refuses a run that cannot fit in what this rank may use (data: the data sets' bytes on this node). */
int memory_check(const CnnConfig *cfg, int ranks, int threads, double data, CnnErr *err);

/* resume.c */
/* Rank 0 reads `resume` ("latest" or a path), every rank receives it. Returns the step to continue
 * from (0 when "latest" finds nothing), or -1 on an error (printed, agreed on by all ranks). */
long resume_all(Run *r, const char *resume);
/* Rank 0 writes the checkpoint of step `step` (others return 0). */
int save_checkpoint(Run *r, long step, double lr, CnnErr *err);

/* bench.c */
int bench_run(const CnnConfig *cfg, const CnnTrainOpts *opts);

#endif
