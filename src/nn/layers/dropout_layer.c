/* dropout_layer: inverted dropout in a model (src/nn/dropout.c). The output has the input's shape;
 * forward keeps a one-byte mask per output value for backward. Outside training, or with keep = 1, the
 * input passes through unchanged and the mask is all ones. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <string.h>

#include "cnn/util.h"

static int dropout_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)cfg;
    (void)o;
    (void)err;
    return cnn_layer_build_same_shape(L, sizeof(uint8_t));
}

static void dropout_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    if (f->train && L->spec.keep < 1.0f) {
        CNN_ASSERT(f->positions != NULL);
        cnn_dropout_forward(L->out, L->kept, f->in, f->n, L->out_size, L->spec.keep, f->seed, f->index, f->step,
                            f->positions);
    } else {
        const size_t count = (size_t)f->n * L->out_size;
        memcpy(L->out, f->in, count * sizeof(float));
        memset(L->kept, 1, count);
    }
}

static void dropout_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (b->din) cnn_dropout_backward(b->din, b->dout, L->kept, (size_t)b->n * L->out_size, L->spec.keep);
}

static const CnnLayerOps cnn_dropout_layer_ops = {
    .build = dropout_build,
    .forward = dropout_forward,
    .backward = dropout_backward,
};

static const KeySpec dropout_keys[] = {
    CNN_K_NUM(CNN_KEY_NETWORK, "keep", K_FLOAT, CNN_K_LAY(keep), 0, 1, 1, 0),
    CNN_K_INPUT,
};

const CnnLayerTypeDesc cnn_dropout_layer = {
    "dropout", {dropout_keys, CNN_K_COUNT(dropout_keys), {"keep", NULL}, CNN_K_COUNT(dropout_keys) - 1, NULL, 1, 1},
    &cnn_dropout_layer_ops};
