/* batchnorm_layer: batch normalisation per channel (Ioffe and Szegedy 2015), PyTorch's BatchNorm2d
 * conventions: y = (x - mean) / sqrt(var + epsilon) * gamma + beta, running statistics updated as
 * running = (1 - momentum) * running + momentum * batch, the running variance from the unbiased batch
 * variance.
 *
 * Training normalises with the statistics of the samples of one forward: in deterministic mode that is
 * one micro-shard (train.micro_batch samples, groups that do not depend on the number of ranks: "ghost"
 * batch normalisation), in fast mode a rank's whole slice. Evaluation uses the running statistics.
 * The running statistics are buffers: each forward's mean and unbiased variance, weighted by its share
 * of the global batch, go into their gradient slots, are summed exactly with the gradients, and move
 * the buffers once per step (buffer_update), the same on every rank. So the running mean follows the
 * global batch's mean, and the running variance the mean of the groups' variances.
 *
 * ws: the last training forward's mean, biased variance and 1/sqrt(var + eps) per channel, then the
 * running statistics' 1/sqrt(var + eps) for evaluation. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <math.h>
#include <stdio.h>

static int batchnorm_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)o;
    const CnnLayerSpec *s = &L->spec;
    /* a group of one value per channel has no variance: every output would be beta */
    if (L->ih * L->iw == 1 && cfg->deterministic && cfg->micro_batch == 1)
        return cnn_layer_err(err, cfg, s,
                             "batchnorm of a 1x1 input in groups of train.micro_batch = 1 sample: one value per channel, "
                             "nothing to normalise (a larger micro_batch, or no batchnorm here)");
    const int c = L->ic;
    CnnTensorDecl gamma = {.what = "gamma", .rank = 1, .dims = {c}, .init = CNN_INIT_CONSTANT, .value = 1.0f};
    CnnTensorDecl beta = {.what = "beta", .rank = 1, .dims = {c}, .bias = 1, .init = CNN_INIT_CONSTANT, .value = 0.0f};
    CnnTensorDecl mean = {.what = "moving_mean", .rank = 1, .dims = {c}, .buffer = 1, .init = CNN_INIT_CONSTANT};
    CnnTensorDecl var = {.what = "moving_variance", .rank = 1, .dims = {c}, .buffer = 1, .init = CNN_INIT_CONSTANT,
                         .value = 1.0f};
    L->bn.gamma = s->bn_scale ? cnn_layer_declare(L, &gamma) : -1;
    L->bn.beta = s->bn_center ? cnn_layer_declare(L, &beta) : -1;
    L->bn.mean = cnn_layer_declare(L, &mean);
    L->bn.var = cnn_layer_declare(L, &var);
    L->ws_floats = 4 * (size_t)c;
    L->flops_fwd = 8.0 * L->ih * L->iw * c; /* the statistics' two passes and the normalisation */
    L->flops_bwd = 10.0 * L->ih * L->iw * c;
    return cnn_layer_build_same_shape(L, 0);
}

static const float *opt(float *const *t, int i) { return i >= 0 ? t[i] : NULL; }

/* y = bn(x), or act(bn(x)) into the fused act layer's output */
static void normalise(CnnLayer *L, const CnnLayerFwd *f, const float *mean, const float *rstd, size_t pixels)
{
    const float *gamma = opt(f->t, L->bn.gamma), *beta = opt(f->t, L->bn.beta);
    if (L->fused_out)
        f->k->bn_forward_act(L->fused_out, f->in, mean, rstd, gamma, beta, pixels, L->ic, L->bn.act);
    else
        f->k->bn_forward(L->out, f->in, mean, rstd, gamma, beta, pixels, L->ic);
}

static void batchnorm_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const int c = L->ic;
    const size_t pixels = (size_t)f->n * L->ih * L->iw;
    float *mean = L->ws, *var = mean + c, *rstd = var + c, *eval_rstd = rstd + c;
    const float eps = L->spec.epsilon;
    if (f->train) {
        f->k->bn_stats(mean, var, f->in, pixels, c);
        for (int j = 0; j < c; j++) rstd[j] = 1.0f / sqrtf(var[j] + eps);
        normalise(L, f, mean, rstd, pixels);
        L->bn.last_n = f->n;
    } else {
        const float *rvar = f->t[L->bn.var];
        for (int j = 0; j < c; j++) eval_rstd[j] = 1.0f / sqrtf(rvar[j] + eps);
        normalise(L, f, f->t[L->bn.mean], eval_rstd, pixels);
    }
}

static void batchnorm_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    const int c = L->ic;
    const size_t pixels = (size_t)b->n * L->ih * L->iw;
    const float *mean = L->ws, *rstd = mean + 2 * c;
    float *dgamma = L->bn.gamma >= 0 ? b->g[L->bn.gamma] : NULL, *dbeta = L->bn.beta >= 0 ? b->g[L->bn.beta] : NULL;
    const int overwrite = b->mode == CNN_GRAD_OVERWRITE;
    if (L->fused_out) /* b->dout is the act's gradient (the model passes fused_grad) */
        b->k->bn_backward_act(b->din, dgamma, dbeta, b->dout, b->in, mean, rstd, opt(b->t, L->bn.gamma),
                              opt(b->t, L->bn.beta), pixels, c, overwrite, L->bn.act);
    else
        b->k->bn_backward(b->din, dgamma, dbeta, b->dout, b->in, mean, rstd, opt(b->t, L->bn.gamma), pixels, c,
                          overwrite);
}

static void batchnorm_buffer_grads(CnnLayer *L, float *const *g, float scale, CnnGradMode mode)
{
    const int c = L->ic;
    const size_t pixels = (size_t)L->bn.last_n * L->ih * L->iw;
    const float *mean = L->ws, *var = mean + c;
    const float share = (float)L->bn.last_n * scale;
    /* Bessel's correction, as PyTorch's running variance (a one-pixel group has none to give) */
    const float unbias = pixels > 1 ? (float)((double)pixels / (double)(pixels - 1)) : 1.0f;
    float *gm = g[L->bn.mean], *gv = g[L->bn.var];
    const int add = mode == CNN_GRAD_ACCUMULATE;
    for (int j = 0; j < c; j++) {
        gm[j] = (add ? gm[j] : 0.0f) + mean[j] * share;
        gv[j] = (add ? gv[j] : 0.0f) + var[j] * unbias * share;
    }
}

static void batchnorm_buffer_update(CnnLayer *L, float *const *t, const float *const *g)
{
    const float mom = L->spec.momentum, keep = 1.0f - mom;
    for (int k = 0; k < 2; k++) {
        const int i = k ? L->bn.var : L->bn.mean;
        float *r = t[i];
        const float *batch = g[i];
        for (int j = 0; j < L->ic; j++) r[j] = keep * r[j] + mom * batch[j];
    }
}

static const CnnLayerOps cnn_batchnorm_layer_ops = {
    .bwd_needs_input = 1,
    .build = batchnorm_build,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .buffer_grads = batchnorm_buffer_grads,
    .buffer_update = batchnorm_buffer_update,
};

static const KeySpec batchnorm_keys[] = {
    CNN_K_INPUT,
    CNN_K_NUM(CNN_KEY_NETWORK, "momentum", K_FLOAT, CNN_K_LAY(momentum), 0, 1, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "epsilon", K_FLOAT, CNN_K_LAY(epsilon), 0, CNN_K_INF, 1, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "scale", K_BOOL, CNN_K_LAY(bn_scale), 0, 1, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "center", K_BOOL, CNN_K_LAY(bn_center), 0, 1, 0, 0),
    CNN_K_TRAINING_KEYS,
};

static void batchnorm_defaults(CnnLayerSpec *l) /* PyTorch's BatchNorm2d */
{
    l->momentum = 0.1f;
    l->epsilon = 1e-5f;
    l->bn_scale = 1;
    l->bn_center = 1;
}

const CnnLayerTypeDesc cnn_batchnorm_layer = {
    "batchnorm", {batchnorm_keys, CNN_K_COUNT(batchnorm_keys), {NULL, NULL}, 0, batchnorm_defaults, 1, 1},
    &cnn_batchnorm_layer_ops};
