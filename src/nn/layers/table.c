/* table: the descriptor of each layer type (its name, keys and ops; config_keys.h), indexed by
 * CnnLayerType, and what the types' builds share: the form of a layer's errors, declaring tensors. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include "cnn/util.h"

/* One entry per type, indexed by CnnLayerType: adding a type is its file and its line here. */
static const CnnLayerTypeDesc *const types[CNN_LAYER_TYPES] = {
    [CNN_LAYER_CONV] = &cnn_conv_layer,
    [CNN_LAYER_MAXPOOL] = &cnn_maxpool_layer,
    [CNN_LAYER_AVGPOOL] = &cnn_avgpool_layer,
    [CNN_LAYER_LRN] = &cnn_lrn_layer,
    [CNN_LAYER_DENSE] = &cnn_dense_layer,
    [CNN_LAYER_DROPOUT] = &cnn_dropout_layer,
    [CNN_LAYER_ADD] = &cnn_add_layer,
    [CNN_LAYER_ACT] = &cnn_act_layer,
    [CNN_LAYER_BATCHNORM] = &cnn_batchnorm_layer,
    [CNN_LAYER_GLOBAL_AVGPOOL] = &cnn_global_avgpool_layer,
    [CNN_LAYER_GLOBAL_MAXPOOL] = &cnn_global_maxpool_layer,
    [CNN_LAYER_SCALE] = &cnn_scale_layer,
    [CNN_LAYER_PAD_CHANNELS] = &cnn_pad_channels_layer,
};

const CnnLayerTypeDesc *cnn_layer_type_desc(CnnLayerType t)
{
    CNN_ASSERT((size_t)t < CNN_LAYER_TYPES && types[t] != NULL);
    return types[t];
}

const CnnLayerOps *cnn_layer_ops(CnnLayerType t) { return cnn_layer_type_desc(t)->ops; }

int cnn_layer_err(CnnErr *err, const CnnConfig *cfg, const CnnLayerSpec *s, const char *what)
{
    return cnn_err(err, "%s:%d: [%s]: %s", cfg->path[0] ? cfg->path : "config", s->line, s->name, what);
}

int cnn_layer_build_same_shape(CnnLayer *L, size_t kept_bytes)
{
    L->oh = L->ih;
    L->ow = L->iw;
    L->oc = L->ic;
    L->kept_bytes = kept_bytes;
    return 0;
}

int cnn_layer_declare(CnnLayer *L, const CnnTensorDecl *d)
{
    CNN_ASSERT(L->n_decl < CNN_LAYER_TENSORS);
    L->decl[L->n_decl] = *d;
    return L->n_decl++;
}

void cnn_layer_declare_weights(CnnLayer *L, int rank, const int *dims, int fan_in, int cout)
{
    const CnnLayerSpec *s = &L->spec;
    CnnTensorDecl w = {.what = "weights", .rank = rank, .decay = 1, .wl = s->wl, .init = s->init,
                       .stddev = s->stddev, .value = s->value, .fan_in = fan_in};
    for (int i = 0; i < rank; i++) w.dims[i] = dims[i];
    cnn_layer_declare(L, &w);
    if (s->use_bias) {
        CnnTensorDecl b = {.what = "biases", .rank = 1, .dims = {cout}, .bias = 1, .init = CNN_INIT_CONSTANT,
                           .value = s->bias_init};
        cnn_layer_declare(L, &b);
    }
}

int cnn_layer_build_elementwise(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    (void)cfg;
    (void)o;
    (void)err;
    L->flops_fwd = (double)L->ih * L->iw * L->ic;
    return cnn_layer_build_same_shape(L, 0);
}
