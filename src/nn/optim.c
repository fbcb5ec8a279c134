/* optim: Adam (TensorFlow's, with epsilon-hat) and SGD with momentum (plain or Nesterov) over one flat
 * float array, and the learning-rate schedules with linear warm-up.
 *
 * The update runs once per step over every parameter (about 1M floats for the CIFAR-10 net), so the
 * per-step scalars (bias-corrected lr_t, float coefficients) are computed once in double here and the
 * element loop (src/nn/kernels/optim.c, per instruction set) is plain float arithmetic. The slot
 * arrays are 64-byte aligned and zero at start, as in TensorFlow. */
#include "cnn/nn/optim.h"

#include <math.h>
#include <stdlib.h>

void cnn_optim_init(CnnOptim *o, const CnnConfig *cfg, size_t n, const CnnKernels *k)
{
    o->k = k;
    o->kind = cfg->optimizer;
    o->beta1 = cfg->beta1;
    o->beta2 = cfg->beta2;
    o->epsilon = cfg->epsilon;
    o->momentum = cfg->momentum;
    o->nesterov = cfg->nesterov != 0;
    o->n = n;
    o->t = 0;
    o->m = cnn_aligned_for(cnn_mul_size(n, sizeof(float)), "the optimizer's state");
    o->v = o->kind == CNN_OPT_ADAM ? cnn_aligned_for(cnn_mul_size(n, sizeof(float)), "the optimizer's state") : NULL;
}

void cnn_optim_free(CnnOptim *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
    o->n = 0;
}

void cnn_optim_step(CnnOptim *o, float *params, const float *grad, double lr)
{
    const size_t all[2] = {0, o->n};
    cnn_optim_step_ranges(o, params, grad, lr, all, 1);
}

void cnn_optim_step_ranges(CnnOptim *o, float *params, const float *grad, double lr, const size_t *ranges, int n)
{
    o->t++;
    const double t = (double)o->t;
    const double lr_t = o->kind == CNN_OPT_ADAM ? lr * sqrt(1.0 - pow(o->beta2, t)) / (1.0 - pow(o->beta1, t)) : lr;
    for (int i = 0; i < n; i++) {
        const size_t a = ranges[2 * i], c = ranges[2 * i + 1];
        CNN_ASSERT(a + c <= o->n);
        if (o->kind == CNN_OPT_ADAM)
            o->k->adam_update(params + a, o->m + a, o->v + a, grad + a, c, (float)o->beta1, (float)o->beta2,
                              (float)lr_t, (float)o->epsilon);
        else if (o->nesterov)
            o->k->nesterov_update(params + a, o->m + a, grad + a, c, (float)o->momentum, (float)lr);
        else
            o->k->momentum_update(params + a, o->m + a, grad + a, c, (float)o->momentum, (float)lr);
    }
}

int cnn_optim_slots(const CnnOptim *o, const char **names, float **arrays)
{
    if (o->kind == CNN_OPT_ADAM) {
        names[0] = "m";
        arrays[0] = o->m;
        names[1] = "v";
        arrays[1] = o->v;
        return 2;
    }
    names[0] = "momentum";
    arrays[0] = o->m;
    return 1;
}

const char *cnn_optim_name(const CnnOptim *o)
{
    return o->kind == CNN_OPT_ADAM ? "adam" : "sgd";
}

/* The schedule without warm-up, at 0-based step s >= 0 of a run of `total` steps. */
static double schedule(const CnnConfig *cfg, long s, long total)
{
    switch (cfg->lr_schedule) {
    case CNN_LR_CONSTANT:
        return cfg->lr;
    case CNN_LR_EXPONENTIAL: {
        CNN_ASSERT(cfg->decay_steps > 0);
        double p = (double)s / (double)cfg->decay_steps;
        if (cfg->staircase) p = floor(p);
        return cfg->lr * pow(cfg->decay_rate, p);
    }
    case CNN_LR_COSINE: {
        CNN_ASSERT(cfg->decay_steps > 0);
        double alpha = cfg->decay_rate;
        double frac = (double)(s < cfg->decay_steps ? s : cfg->decay_steps) / (double)cfg->decay_steps;
        return cfg->lr * ((1.0 - alpha) * 0.5 * (1.0 + cos(M_PI * frac)) + alpha);
    }
    case CNN_LR_LINEAR: {
        /* knots at floor(k_i * total) steps (airbench's int(0.23 * total)), linear between them, flat
         * outside; where two knots fall on one step the later segment holds (as airbench's triangle) */
        const int n = cfg->n_knots;
        int i = -1; /* the last knot at or before s */
        while (i + 1 < n && floor((double)cfg->knots[i + 1] * (double)total) <= (double)s) i++;
        if (i < 0) return cfg->lr * (double)cfg->knot_values[0];
        if (i == n - 1) return cfg->lr * (double)cfg->knot_values[n - 1];
        const double x0 = floor((double)cfg->knots[i] * (double)total), x1 = floor((double)cfg->knots[i + 1] * (double)total);
        const double v0 = cfg->knot_values[i], v1 = cfg->knot_values[i + 1];
        return cfg->lr * (v0 + (v1 - v0) * ((double)s - x0) / (x1 - x0));
    }
    case CNN_LR_PIECEWISE: {
        int passed = 0;
        while (passed < cfg->n_boundaries && cfg->boundaries[passed] <= s) passed++;
        return cfg->lr * pow(cfg->decay_rate, passed);
    }
    }
    CNN_DIE("unknown lr_schedule %d", (int)cfg->lr_schedule);
}

double cnn_lr_at(const CnnConfig *cfg, long step) { return cnn_lr_at_run(cfg, step, cfg->steps); }

double cnn_lr_at_run(const CnnConfig *cfg, long step, long total)
{
    long w = cfg->warmup_steps;
    if (step < 0) step = 0;
    if (w > 0 && step < w) return schedule(cfg, 0, total - w) * (double)(step + 1) / (double)w;
    return schedule(cfg, w > 0 ? step - w : step, total - w);
}

void cnn_ema_update(float *ema, const float *params, size_t n, double decay, long t)
{
    const double ramp = (1.0 + (double)t) / (10.0 + (double)t);
    const float a = (float)(1.0 - (decay < ramp ? decay : ramp));
    for (size_t i = 0; i < n; i++) ema[i] -= a * (ema[i] - params[i]);
}
