/* global_pool_layer: global average and max pooling, h x w x c -> 1 x 1 x c (the kernels are per
 * instruction set, kernels.h). Max pooling keeps each channel's winning pixel (int32 per output). */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <stdint.h>
#include <stdio.h>

/* An input of one pixel has nothing to pool: most likely a dense layer's output by mistake. */
static int global_build(CnnLayer *L, const CnnConfig *cfg, size_t kept_bytes, CnnErr *err)
{
    if (L->ih * L->iw == 1) {
        char msg[200];
        snprintf(msg, sizeof msg, "global pooling needs an image (h x w x c) to pool; its input is 1x1x%d already",
                 L->ic);
        return cnn_layer_err(err, cfg, &L->spec, msg);
    }
    L->oh = L->ow = 1;
    L->oc = L->ic;
    L->kept_bytes = kept_bytes;
    L->flops_fwd = (double)L->ih * L->iw * L->ic;
    return 0;
}

static int global_avgpool_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)o;
    return global_build(L, cfg, 0, err);
}

static int global_maxpool_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)o;
    return global_build(L, cfg, sizeof(int32_t), err);
}

static void global_avgpool_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    f->k->global_avgpool_forward(L->out, f->in, f->n, L->ih * L->iw, L->ic);
}

static void global_avgpool_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (b->din) b->k->global_avgpool_backward(b->din, b->dout, b->n, L->ih * L->iw, L->ic);
}

static void global_maxpool_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    f->k->global_maxpool_forward(L->out, L->kept, f->in, f->n, L->ih * L->iw, L->ic);
}

static void global_maxpool_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (b->din) b->k->global_maxpool_backward(b->din, b->dout, L->kept, b->n, L->ih * L->iw, L->ic);
}

static const CnnLayerOps cnn_global_avgpool_layer_ops = {
    .build = global_avgpool_build,
    .forward = global_avgpool_forward,
    .backward = global_avgpool_backward,
};

static const CnnLayerOps cnn_global_maxpool_layer_ops = {
    .build = global_maxpool_build,
    .forward = global_maxpool_forward,
    .backward = global_maxpool_backward,
};

static const KeySpec global_pool_keys[] = {CNN_K_INPUT};

const CnnLayerTypeDesc cnn_global_avgpool_layer = {
    "global_avgpool", {global_pool_keys, CNN_K_COUNT(global_pool_keys), {NULL, NULL}, 0, NULL, 1, 1},
    &cnn_global_avgpool_layer_ops};
const CnnLayerTypeDesc cnn_global_maxpool_layer = {
    "global_maxpool", {global_pool_keys, CNN_K_COUNT(global_pool_keys), {NULL, NULL}, 0, NULL, 1, 1},
    &cnn_global_maxpool_layer_ops};
