/* layer_ops: what a layer type provides to the model (model.c), one file per type in src/nn/layers/
 * holding its descriptor (name, keys, defaults, inputs, ops: config_keys.h), and one entry per type in
 * the table (table.c). Adding a type is a new file, its entry there and its value in CnnLayerType.
 *
 * The model does what every type shares: it fills spec, the input shapes and needs_din before build,
 * then checks the output build gave, places the tensors build declared (cnn_layer_declare) in the
 * parameter block and initialises them, places outputs and gradients in its arena, allocates kept
 * (kept_bytes per output value) and ws (ws_floats), times each call, sums gradients into a layer
 * with several consumers, and tells the gradient hook when a range of gradients is final. A type's
 * functions never allocate. Private to src/nn/. */
#ifndef CNN_NN_LAYER_OPS_H
#define CNN_NN_LAYER_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/nn/model.h"
#include "cnn/nn/plan.h"

/* What forward gets: n <= max_batch samples. */
typedef struct {
    const CnnKernels *k;        /* the model's instruction set */
    const float *in;            /* input 0: [n][in_size] */
    const float *const *ins;    /* every input (add), ins[0] == in */
    int n_in;
    float *const *t;            /* the layer's tensors, in the order build declared them */
    int n;
    int train;                  /* 1: dropout active, batchnorm on the batch's statistics */
    long step;                  /* dropout: the training step */
    const int *positions;       /* dropout: each sample's place in the global batch */
    uint64_t seed;              /* dropout: the model's seed */
    uint32_t index;             /* dropout: the layer's index in the model, mixed into its stream */
    /* conv that pools in its output pass (the model's fusion, model.h: pool_into): the max-pool's
     * output and argmax to write instead of the conv's own output; NULL otherwise */
    float *pool_out;
    int32_t *pool_argmax;
} CnnLayerFwd;

/* What backward gets: the n samples of the last forward. */
typedef struct {
    const CnnKernels *k;
    float *din;                 /* input 0's gradient [n][in_size], overwritten; NULL: not wanted */
    float *const *dins;         /* every input's (add); dins[0] == din */
    float *dout;                /* [n][out_size]; an activation's backward rewrites it in place */
    const float *in;            /* the last forward's input 0 */
    const float *const *ins;
    int n_in;
    float *const *t;            /* the layer's tensors */
    float *const *g;            /* their gradients (trainable ones), added to or written as mode says */
    int n;
    CnnGradMode mode;
} CnnLayerBwd;

typedef struct CnnLayerOps {
    int flat_output;            /* 1: the summary shows the output as its length, not h x w x c */
    int bwd_needs_input;        /* 1: backward reads its inputs (they stay in the arena until then) */
    int bwd_needs_output;       /* 1: backward reads its own output */
    /* Shapes at o->max_batch, the tensors (cnn_layer_declare), FLOPs, the plan and its ws_floats,
     * kept_bytes, and the type's state in the union. Errors name the config file and the layer's line
     * (cnn_layer_err). */
    int (*build)(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err);
    void (*forward)(CnnLayer *L, const CnnLayerFwd *f);
    void (*backward)(CnnLayer *L, const CnnLayerBwd *b);
    /* Layers with buffers. buffer_grads: what the last training forward adds to each buffer, times
     * scale (1 / global batch) times its samples, into g[i] of each buffer tensor i (overwrite or add as
     * mode says): summed over the global batch, that is the step's contribution. buffer_update: the
     * buffers t take the summed contribution g, once per step. */
    void (*buffer_grads)(CnnLayer *L, float *const *g, float scale, CnnGradMode mode);
    void (*buffer_update)(CnnLayer *L, float *const *t, const float *const *g);
    /* planned layers (NULL for the others): which kernels compute it, and whether OpenBLAS does */
    void (*kernel_name)(const CnnLayer *L, char *buf, size_t n);
    int (*uses_sgemm)(const CnnLayer *L);
    /* planned layers: the time model's ms for n samples at `peak` GFLOP/s (plan.h) */
    void (*plan_time)(const CnnLayer *L, int n, double peak, CnnPlanTime *t);
} CnnLayerOps;

/* Each type's descriptor (config_keys.h), in its file; table.c lists them. */
extern const struct CnnLayerTypeDesc cnn_conv_layer, cnn_dense_layer, cnn_maxpool_layer, cnn_avgpool_layer,
    cnn_lrn_layer, cnn_dropout_layer, cnn_add_layer, cnn_act_layer, cnn_batchnorm_layer, cnn_global_avgpool_layer,
    cnn_global_maxpool_layer, cnn_scale_layer, cnn_pad_channels_layer;

/* The ops of a layer type (table.c). */
const CnnLayerOps *cnn_layer_ops(CnnLayerType t);

/* The build of a layer whose output has its input's shape, keeping kept_bytes per output value. */
int cnn_layer_build_same_shape(CnnLayer *L, size_t kept_bytes);
/* The build of an elementwise layer (act, scale): its input's shape, one FLOP per value, nothing kept. */
int cnn_layer_build_elementwise(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err);

/* Declares the layer's next tensor (build only); returns its index among the layer's tensors. */
int cnn_layer_declare(CnnLayer *L, const CnnTensorDecl *d);
/* The weights and (when spec.use_bias) biases of conv and dense, from the spec's init keys. */
void cnn_layer_declare_weights(CnnLayer *L, int rank, const int *dims, int fan_in, int cout);

/* "<config>:<line>: [<layer>]: <what>", the form of every error about one layer; returns -1. */
int cnn_layer_err(CnnErr *err, const CnnConfig *cfg, const CnnLayerSpec *s, const char *what);

#endif
