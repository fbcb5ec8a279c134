/* pad_channels_layer: widens the channels with zeros, the input in the middle ((out - in) / 2 zero
 * channels before it, the rest after): with a stride-2 subsampling before it, He et al.'s option A
 * shortcut of a residual block whose width doubles. Backward takes the middle channels' gradient. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <string.h>

static int pad_channels_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)o;
    if (L->spec.channels < L->ic) {
        char msg[160];
        snprintf(msg, sizeof msg, "channels = %d is fewer than its input's %d", L->spec.channels, L->ic);
        return cnn_layer_err(err, cfg, &L->spec, msg);
    }
    L->oh = L->ih;
    L->ow = L->iw;
    L->oc = L->spec.channels;
    return 0;
}

static void pad_channels_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const size_t pixels = (size_t)f->n * L->ih * L->iw;
    const int ci = L->ic, co = L->oc, before = (co - ci) / 2;
    for (size_t p = 0; p < pixels; p++) {
        float *o = L->out + p * co;
        memset(o, 0, (size_t)before * sizeof *o);
        memcpy(o + before, f->in + p * ci, (size_t)ci * sizeof *o);
        memset(o + before + ci, 0, (size_t)(co - before - ci) * sizeof *o);
    }
}

static void pad_channels_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    if (!b->din) return;
    const size_t pixels = (size_t)b->n * L->ih * L->iw;
    const int ci = L->ic, co = L->oc, before = (co - ci) / 2;
    for (size_t p = 0; p < pixels; p++) memcpy(b->din + p * ci, b->dout + p * co + before, (size_t)ci * sizeof(float));
}

static const CnnLayerOps cnn_pad_channels_layer_ops = {
    .build = pad_channels_build,
    .forward = pad_channels_forward,
    .backward = pad_channels_backward,
};

static const KeySpec pad_channels_keys[] = {
    CNN_K_INPUT,
    CNN_K_NUM(CNN_KEY_NETWORK, "channels", K_INT, CNN_K_LAY(channels), 1, CNN_K_INF, 0, 0),
};

const CnnLayerTypeDesc cnn_pad_channels_layer = {
    "pad_channels", {pad_channels_keys, CNN_K_COUNT(pad_channels_keys), {"channels", NULL}, 0, NULL, 1, 1},
    &cnn_pad_channels_layer_ops};
