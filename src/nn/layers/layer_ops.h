/* layer_ops: what a layer type provides to the model (model.c), one file per type in src/nn/layers/
 * and one entry per type in the table (table.c). Adding a type is a new file, its entry there, and its
 * keys in the config tables.
 *
 * The model does what every type shares: it fills spec, ih, iw, ic and needs_din before build, then
 * checks the output build gave, places the parameters, allocates out, kept (kept_bytes per output value)
 * and ws (ws_floats), times each call, and tells the gradient hook when a parameter layer's backward is
 * done. A type's functions never allocate. Private to src/nn/. */
#ifndef CNN_NN_LAYER_OPS_H
#define CNN_NN_LAYER_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/nn/model.h"

/* What forward gets: n <= max_batch samples. */
typedef struct {
    const CnnKernels *k;        /* the model's instruction set */
    const float *in;            /* [n][in_size] */
    const float *w, *b;         /* parameter layers: weights and biases */
    int n;
    int train;                  /* 1: dropout active */
    long step;                  /* dropout: the training step */
    const int *positions;       /* dropout: each sample's place in the global batch */
    uint64_t seed;              /* dropout: the model's seed */
    uint32_t index;             /* dropout: the layer's index in the model, mixed into its stream */
} CnnLayerFwd;

/* What backward gets: the n samples of the last forward. */
typedef struct {
    const CnnKernels *k;
    float *din;                 /* [n][in_size], overwritten; NULL: no data gradient wanted */
    float *dout;                /* [n][out_size]; an activation's backward rewrites it in place */
    const float *in;            /* the last forward's input */
    const float *w;             /* parameter layers: the weights */
    float *dw, *db;             /* parameter layers: their gradients, added to or written as mode says */
    int n;
    CnnGradMode mode;
} CnnLayerBwd;

typedef struct CnnLayerOps {
    int has_params;             /* 1: weights and biases in the parameter block (w_count, b_count) */
    int flat_output;            /* 1: the summary shows the output as its length, not h x w x c */
    /* Shapes at o->max_batch, parameter counts, FLOPs, the plan and its ws_floats, kept_bytes, and the
     * type's state in the union. Errors name the config file and the layer's line (cnn_layer_err). */
    int (*build)(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err);
    void (*forward)(CnnLayer *L, const CnnLayerFwd *f);
    void (*backward)(CnnLayer *L, const CnnLayerBwd *b);
    /* parameter layers: the weight tensor's dims (for checkpoints); returns its rank */
    int (*weight_dims)(const CnnLayer *L, int dims[4]);
    /* planned layers (NULL for the others): which kernels compute it, and whether OpenBLAS does */
    void (*kernel_name)(const CnnLayer *L, char *buf, size_t n);
    int (*uses_sgemm)(const CnnLayer *L);
} CnnLayerOps;

extern const CnnLayerOps cnn_conv_layer_ops, cnn_dense_layer_ops, cnn_maxpool_layer_ops, cnn_avgpool_layer_ops,
    cnn_lrn_layer_ops, cnn_dropout_layer_ops;

/* The ops of a layer type (table.c). */
const CnnLayerOps *cnn_layer_ops(CnnLayerType t);

/* The build of a layer whose output has its input's shape, keeping kept_bytes per output value. */
int cnn_layer_build_same_shape(CnnLayer *L, size_t kept_bytes);

/* "<config>:<line>: [<layer>]: <what>", the form of every error about one layer; returns -1. */
int cnn_layer_err(CnnErr *err, const CnnConfig *cfg, const CnnLayerSpec *s, const char *what);

#endif
