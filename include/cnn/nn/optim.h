/* optim: Adam and SGD with momentum over one flat parameter array, and the learning-rate schedules.
 *
 * Adam is TensorFlow's (tf.train.AdamOptimizer): with t the step count after increment,
 *   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *   p -= lr_t * m / (sqrt(v) + epsilon).
 * SGD momentum is TensorFlow's MomentumOptimizer: a = momentum*a + g; p -= lr*a. With train.nesterov,
 * Nesterov momentum as PyTorch's SGD(nesterov=True) and TensorFlow's use_nesterov=True compute it:
 * a = momentum*a + g; p -= lr*(g + momentum*a) (the same accumulator, so the same checkpoint slot).
 * Schedules take the global step before the update (0-based), like tf.train.*_decay:
 *   constant:    lr
 *   exponential: lr * decay_rate^(s / decay_steps), s / decay_steps floored when staircase
 *   cosine:      lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(s, decay_steps) / decay_steps)) + alpha),
 *                alpha = decay_rate
 *   piecewise:   lr * decay_rate^k, k = the number of train.boundaries <= s (PyTorch's MultiStepLR with
 *                milestones = boundaries, gamma = decay_rate; tf.train.piecewise_constant with those values)
 *   linear:      lr * the piecewise-linear interpolation of knot_values at steps floor(knots[i] * total),
 *                flat before the first and after the last (airbench94's triangle: knots 0, 0.23, 1 and
 *                values 0.2, 1, 0.07)
 * With warmup_steps W > 0 the rate rises linearly, lr_at(s) = sched(0) * (s + 1) / W for s < W, and
 * the schedule then runs on s - W. */
#ifndef CNN_OPTIM_H
#define CNN_OPTIM_H

#include <stddef.h>

#include "cnn/config.h"
#include "cnn/nn/kernels.h"

typedef struct {
    CnnOptimizerKind kind;
    double beta1, beta2, epsilon, momentum;
    int nesterov;   /* sgd: Nesterov momentum */
    size_t n;
    float *m;       /* adam first moment, or sgd accumulator */
    float *v;       /* adam second moment (NULL for sgd) */
    long t;         /* updates done */
    const CnnKernels *k; /* the element loops (the same bits on every instruction set) */
} CnnOptim;

void cnn_optim_init(CnnOptim *o, const CnnConfig *cfg, size_t n, const CnnKernels *k);
void cnn_optim_free(CnnOptim *o);
/* One update of params[n] with grad[n] at learning rate lr. */
void cnn_optim_step(CnnOptim *o, float *params, const float *grad, double lr);
/* The same update of the n ranges (offset, count) pairs in ranges[2n] only (what is trained this step);
 * the others and their slots stay as they are, as PyTorch skips a parameter without a gradient. */
void cnn_optim_step_ranges(CnnOptim *o, float *params, const float *grad, double lr, const size_t *ranges, int n);
/* Slot names and arrays for checkpoints: adam has "m", "v"; sgd has "momentum". */
int cnn_optim_slots(const CnnOptim *o, const char **names, float **arrays);
const char *cnn_optim_name(const CnnOptim *o);
double cnn_lr_at(const CnnConfig *cfg, long step); /* a run of train.steps steps */
/* At step `step` of a run of `total` steps (lr_schedule linear places its knots by it). */
double cnn_lr_at_run(const CnnConfig *cfg, long step, long total);

/* train.ema: the moving average of the parameters that evaluation uses, TensorFlow's
 * ExponentialMovingAverage with num_updates: after the optimizer's update number t (1, 2, ...),
 *   d = min(decay, (1 + t) / (10 + t));  ema -= (1 - d) * (ema - params)   (in float, element by element)
 * so early averages follow the parameters closely. The same on every rank and instruction set. */
void cnn_ema_update(float *ema, const float *params, size_t n, double decay, long t);

#endif
