/* scale_layer: multiplies its input by a constant `factor` (airbench's 1/9 on the logits). */
#include "layer_ops.h"

#include "cnn/config_keys.h"

static void scale_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    f->k->scale(L->out, f->in, L->spec.factor, (size_t)f->n * L->out_size);
}

static void scale_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (b->din) b->k->scale(b->din, b->dout, L->spec.factor, (size_t)b->n * L->out_size);
}

static const CnnLayerOps cnn_scale_layer_ops = {
    .build = cnn_layer_build_elementwise,
    .forward = scale_forward,
    .backward = scale_backward,
};

static const KeySpec scale_keys[] = {
    CNN_K_INPUT,
    CNN_K_NUM(CNN_KEY_NETWORK, "factor", K_FLOAT, CNN_K_LAY(factor), -CNN_K_INF, CNN_K_INF, 0, 0),
};

const CnnLayerTypeDesc cnn_scale_layer = {
    "scale", {scale_keys, CNN_K_COUNT(scale_keys), {"factor", NULL}, 0, NULL, 1, 1}, &cnn_scale_layer_ops};
