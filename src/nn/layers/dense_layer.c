/* dense_layer: the fully connected layer in a model: it sees its input as one vector per sample
 * (ih = iw = 1, ic = features), is planned at build (plan.h), and runs in[n][nin] x w + b and its
 * activation forward, the activation's and the product's gradients backward. The products are in
 * src/nn/dense.c. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <limits.h>
#include <stdio.h>

#include "cnn/nn/plan.h"

static int dense_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    const CnnLayerSpec *s = &L->spec;
    if (s->act == CNN_ACT_GELU) /* its backward needs the input, which this fused form does not keep */
        return cnn_layer_err(err, cfg, s, "activation = gelu needs a layer of its own: type = act, activation = gelu");
    if (s->init == CNN_INIT_DIRAC || s->init == CNN_INIT_WHITEN)
        return cnn_layer_err(err, cfg, s, "init = dirac and init = whiten are for conv layers");
    L->keep_output = s->act != CNN_ACT_LINEAR;
    const size_t nin = (size_t)L->ih * L->iw * L->ic;
    if (nin > (size_t)INT_MAX / 2)
        return cnn_layer_err(err, cfg, s, "has more than 2^30 inputs (the layers before it are too large)");
    if ((double)nin * s->units > 0x1p40)
        return cnn_layer_err(err, cfg, s, "has more than 2^40 weights (units or its inputs too large)");
    L->ih = 1;
    L->iw = 1;
    L->ic = (int)nin;
    L->oh = 1;
    L->ow = 1;
    L->oc = s->units;
    const int dims[2] = {(int)nin, s->units};
    cnn_layer_declare_weights(L, 2, dims, (int)nin, s->units);
    L->flops_fwd = 2.0 * (double)nin * s->units;
    L->flops_bwd = L->flops_fwd * (L->needs_din ? 2.0 : 1.0);
    cnn_dense_plan(&L->dense, (int)nin, s->units, o->max_batch, o->isa);
    L->ws_floats = L->dense.ws_floats;
    return 0;
}

static void dense_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    cnn_dense_forward(L->out, L->ws, f->in, f->t[0], L->spec.use_bias ? f->t[1] : NULL, &L->dense, f->n);
    f->k->act_forward(L->out, L->out, (size_t)f->n * L->out_size, L->spec.act);
}

static void dense_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    b->k->act_backward(b->dout, b->dout, L->out, (size_t)b->n * L->out_size, L->spec.act);
    cnn_dense_backward(b->din, b->g[0], L->spec.use_bias ? b->g[1] : NULL, L->ws, b->dout, b->in, b->t[0], &L->dense,
                       b->n, b->mode);
}

static void dense_kernel_name(const CnnLayer *L, char *buf, size_t n)
{
    snprintf(buf, n, "%s", cnn_algo_name(L->dense.algo));
}

static int dense_uses_sgemm(const CnnLayer *L) { return L->dense.algo == CNN_ALGO_SGEMM; }

static void dense_plan_time(const CnnLayer *L, int n, double peak, CnnPlanTime *t)
{
    cnn_dense_plan_time(&L->dense, n, L->needs_din, peak, t);
}

static const CnnLayerOps cnn_dense_layer_ops = {
    .flat_output = 1,
    .bwd_needs_input = 1,
    .bwd_needs_output = 1, /* the activation's backward (not for linear: build says) */
    .build = dense_build,
    .forward = dense_forward,
    .backward = dense_backward,
    .kernel_name = dense_kernel_name,
    .uses_sgemm = dense_uses_sgemm,
    .plan_time = dense_plan_time,
};

static const KeySpec dense_keys[] = {
    CNN_K_NUM(CNN_KEY_NETWORK, "units", K_INT, CNN_K_LAY(units), 1, CNN_K_INF, 0, 0),
    CNN_K_WEIGHT_KEYS,
    CNN_K_INPUT,
    CNN_K_USE_BIAS,
    CNN_K_TRAINING_KEYS,
};

const CnnLayerTypeDesc cnn_dense_layer = {
    "dense", {dense_keys, CNN_K_COUNT(dense_keys), {"units", NULL}, CNN_K_COUNT(dense_keys) - 5 /* from input on */, NULL, 1, 1},
    &cnn_dense_layer_ops};
