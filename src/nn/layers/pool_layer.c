/* pool_layer: max and average pooling in a model. The window's shape is computed once at build for
 * max_batch samples (shape.h); a batch of n samples runs that shape with n. Max pooling keeps the
 * argmax of each output (int32) for backward; average pooling keeps nothing. The pooling is per
 * instruction set (src/nn/kernels/pool.c). */
#include "layer_ops.h"

#include "cnn/config_keys.h"

static int pool_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    const CnnLayerSpec *s = &L->spec;
    if (!s->same && (s->size > L->ih || s->size > L->iw))
        return cnn_layer_err(err, cfg, s, "VALID pool window is larger than its input");
    cnn_pool_shape(&L->pool, o->max_batch, L->ih, L->iw, L->ic, s->size, s->stride, s->same);
    L->oh = L->pool.oh;
    L->ow = L->pool.ow;
    L->oc = L->ic;
    return 0;
}

static int maxpool_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    L->kept_bytes = sizeof(int32_t);
    return pool_build(L, cfg, o, err);
}

/* The build-time shape for n samples. */
static CnnPoolShape pool_shape_for(const CnnLayer *L, int n)
{
    CnnPoolShape s = L->pool;
    s.n = n;
    return s;
}

static void maxpool_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const CnnPoolShape s = pool_shape_for(L, f->n);
    f->k->maxpool_forward(L->out, L->kept, f->in, &s);
}

static void maxpool_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (!b->din) return;
    const CnnPoolShape s = pool_shape_for(L, b->n);
    b->k->maxpool_backward(b->din, b->dout, L->kept, &s);
}

static void avgpool_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const CnnPoolShape s = pool_shape_for(L, f->n);
    f->k->avgpool_forward(L->out, f->in, &s);
}

static void avgpool_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (!b->din) return;
    const CnnPoolShape s = pool_shape_for(L, b->n);
    b->k->avgpool_backward(b->din, b->dout, &s);
}

static const CnnLayerOps cnn_maxpool_layer_ops = {
    .build = maxpool_build,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
};

static const CnnLayerOps cnn_avgpool_layer_ops = {
    .build = pool_build,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
};

static const KeySpec pool_keys[] = {
    CNN_K_NUM(CNN_KEY_NETWORK, "size", K_INT, CNN_K_LAY(size), 1, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "stride", K_INT, CNN_K_LAY(stride), 1, CNN_K_INF, 0, 0), /* default: size */
    CNN_K_ENUM(CNN_KEY_NETWORK, "padding", CNN_K_LAY(same), cnn_config_padding_names),
    CNN_K_INPUT,
};

const CnnLayerTypeDesc cnn_maxpool_layer = {
    "maxpool", {pool_keys, CNN_K_COUNT(pool_keys), {"size", NULL}, CNN_K_COUNT(pool_keys) - 1, NULL, 1, 1},
    &cnn_maxpool_layer_ops};
const CnnLayerTypeDesc cnn_avgpool_layer = {
    "avgpool", {pool_keys, CNN_K_COUNT(pool_keys), {"size", NULL}, CNN_K_COUNT(pool_keys) - 1, NULL, 1, 1},
    &cnn_avgpool_layer_ops};
