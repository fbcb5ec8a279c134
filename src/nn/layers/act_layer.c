/* act_layer: an activation on its own (relu, gelu, tanh, sigmoid, linear), elementwise, same shape.
 * relu, tanh and sigmoid differentiate from their output; gelu needs its input (kernels.h). */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <string.h>

static int act_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    /* what backward reads: gelu its input, relu, tanh and sigmoid their output, linear nothing */
    L->keep_input = L->spec.act == CNN_ACT_GELU;
    L->keep_output = L->spec.act != CNN_ACT_GELU && L->spec.act != CNN_ACT_LINEAR;
    return cnn_layer_build_elementwise(L, cfg, o, err);
}

static void act_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    f->k->act_forward(L->out, f->in, (size_t)f->n * L->out_size, L->spec.act);
}

static void act_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (!b->din) return;
    const size_t count = (size_t)b->n * L->out_size;
    if (L->spec.act == CNN_ACT_GELU) b->k->gelu_backward(b->din, b->dout, b->in, count);
    else b->k->act_backward(b->din, b->dout, L->out, count, L->spec.act);
}

/* gelu reads its input backward, the others their output: build says which the arena keeps. */
static const CnnLayerOps cnn_act_layer_ops = {
    .bwd_needs_input = 1,
    .bwd_needs_output = 1,
    .build = act_build,
    .forward = act_forward,
    .backward = act_backward,
};

static const KeySpec act_keys[] = {
    CNN_K_INPUT,
    CNN_K_ENUM(CNN_KEY_NETWORK, "activation", CNN_K_LAY(act), cnn_config_act_names),
};

const CnnLayerTypeDesc cnn_act_layer = {
    "act", {act_keys, CNN_K_COUNT(act_keys), {"activation", NULL}, 0, NULL, 1, 1}, &cnn_act_layer_ops};
