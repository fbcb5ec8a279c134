/* add_layer: the elementwise sum of two or more inputs of one shape (a residual connection's join).
 * Backward hands its output gradient to every input unchanged; the model sums it into an input that
 * has other consumers too. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include <string.h>

static int add_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)o;
    for (int k = 1; k < L->spec.n_in; k++) {
        const int *a = L->in_shape[0], *b = L->in_shape[k];
        if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2]) {
            char msg[256];
            snprintf(msg, sizeof msg, "add needs inputs of one shape: '%s' gives %dx%dx%d, '%s' gives %dx%dx%d",
                     L->spec.in[0] < 0 ? "input" : cfg->layers[L->spec.in[0]].name, a[0], a[1], a[2],
                     L->spec.in[k] < 0 ? "input" : cfg->layers[L->spec.in[k]].name, b[0], b[1], b[2]);
            return cnn_layer_err(err, cfg, &L->spec, msg);
        }
    }
    L->flops_fwd = (double)(L->spec.n_in - 1) * L->ih * L->iw * L->ic;
    return cnn_layer_build_same_shape(L, 0);
}

static void add_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    const size_t count = (size_t)f->n * L->out_size;
    f->k->add(L->out, f->ins[0], f->ins[1], count);
    for (int k = 2; k < f->n_in; k++) f->k->add(L->out, L->out, f->ins[k], count);
}

static void add_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    const size_t bytes = (size_t)b->n * L->out_size * sizeof(float);
    for (int k = 0; k < b->n_in; k++)
        if (b->dins[k]) memcpy(b->dins[k], b->dout, bytes);
}

static const CnnLayerOps cnn_add_layer_ops = {
    .build = add_build,
    .forward = add_forward,
    .backward = add_backward,
};

static const KeySpec add_keys[] = {CNN_K_INPUT};

const CnnLayerTypeDesc cnn_add_layer = {
    "add", {add_keys, CNN_K_COUNT(add_keys), {"input", NULL}, 0, NULL, 2, CNN_MAX_INPUTS}, &cnn_add_layer_ops};
