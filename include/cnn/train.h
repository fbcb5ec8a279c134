/* train: the loop that joins data, model, optimizer, comm, checkpoints and metrics; evaluation;
 * signals (SIGTERM, SIGINT, SIGUSR1) turned into a checkpoint at the next step boundary, agreed on by
 * all ranks with a collective. */
#ifndef CNN_TRAIN_H
#define CNN_TRAIN_H

#include "cnn/config.h"

/* Exit statuses (documented in the README). */
enum {
    CNN_EXIT_OK = 0,
    CNN_EXIT_ERROR = 1,         /* a user error: config, data, checkpoint */
    CNN_EXIT_USAGE = 2,
    CNN_EXIT_NAN = 3,           /* NaN or Inf in loss or gradients */
    CNN_EXIT_PREEMPTED = 75     /* stopped by a signal after writing a checkpoint (EX_TEMPFAIL) */
};

typedef struct {
    const char *resume;         /* NULL, "latest" or a checkpoint path */
    int bench;                  /* >0: time this many steps, print the table, write nothing */
} CnnTrainOpts;

int cnn_train_run(const CnnConfig *cfg, const CnnTrainOpts *opts);
/* Evaluates checkpoint ckpt (its parameters) on cfg's test set; prints loss and accuracy. */
int cnn_eval_run(const CnnConfig *cfg, const char *ckpt);

#endif
