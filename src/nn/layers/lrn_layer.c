/* lrn_layer: local response normalisation across channels in a model (layers.h has the formula). The
 * output has the input's shape; forward keeps two floats per output value for backward. The
 * normalisation is per instruction set (src/nn/kernels/lrn.c). */
#include "layer_ops.h"

#include "cnn/config_keys.h"

static int lrn_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)cfg;
    (void)o;
    (void)err;
    return cnn_layer_build_same_shape(L, 2 * sizeof(float));
}

static void lrn_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const CnnLayerSpec *s = &L->spec;
    f->k->lrn_forward(L->out, L->kept, f->in, (size_t)f->n * L->ih * L->iw, L->ic, s->radius, s->lrn_bias, s->alpha,
                      s->beta);
}

static void lrn_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (!b->din) return;
    const CnnLayerSpec *s = &L->spec;
    b->k->lrn_backward(b->din, b->dout, b->in, L->kept, (size_t)b->n * L->ih * L->iw, L->ic, s->radius, s->alpha,
                       s->beta);
}

static const CnnLayerOps cnn_lrn_layer_ops = {
    .bwd_needs_input = 1,
    .build = lrn_build,
    .forward = lrn_forward,
    .backward = lrn_backward,
};

static const KeySpec lrn_keys[] = {
    CNN_K_NUM(CNN_KEY_NETWORK, "radius", K_INT, CNN_K_LAY(radius), 0, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "bias", K_FLOAT, CNN_K_LAY(lrn_bias), 0, CNN_K_INF, 1, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "alpha", K_FLOAT, CNN_K_LAY(alpha), 0, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "beta", K_FLOAT, CNN_K_LAY(beta), 0, CNN_K_INF, 0, 0),
    CNN_K_INPUT,
};

static void lrn_defaults(CnnLayerSpec *l) /* TensorFlow's local_response_normalization */
{
    l->radius = 5;
    l->lrn_bias = 1.0f;
    l->alpha = 1.0f;
    l->beta = 0.5f;
}

const CnnLayerTypeDesc cnn_lrn_layer = {
    "lrn", {lrn_keys, CNN_K_COUNT(lrn_keys), {NULL, NULL}, CNN_K_COUNT(lrn_keys) - 1, lrn_defaults, 1, 1},
    &cnn_lrn_layer_ops};
