/* model: the layer list built from a CnnConfig, its shapes, one flat parameter block and one flat
 * gradient block carved into tensors (llm.c style), activations and workspaces allocated once for up
 * to max_batch samples, forward/backward over a batch, and the summary (shapes, params, FLOPs). */
#ifndef CNN_MODEL_H
#define CNN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn/config.h"
#include "cnn/cpu.h"
#include "cnn/nn/kernels.h"
#include "cnn/nn/layers.h"
#include "cnn/nn/plan.h"

/* A named slice of the flat parameter block ("conv1/weights"), for checkpoints. */
typedef struct {
    char name[2 * CNN_NAME_LEN + 16];
    int rank;
    int dims[4];
    size_t offset, count;
} CnnTensorInfo;

/* One layer: what every type has (shapes, its slice of the parameter block, its output), and in a union
 * what only its type keeps. What a type computes is in its ops (src/nn/layers/, one file per type). */
typedef struct CnnLayer {
    CnnLayerSpec spec;
    const struct CnnLayerOps *ops; /* the type's build, forward and backward */
    int ih, iw, ic;             /* input per sample (dense: ih = iw = 1, ic = features) */
    int oh, ow, oc;             /* output per sample */
    size_t in_size, out_size;   /* floats per sample */
    size_t w_off, w_count, b_off, b_count; /* into the parameter block */
    double flops_fwd;           /* per sample */
    double flops_bwd;           /* per sample: data (if needed) and weight gradients */
    int needs_din;              /* 0 for the first layer with parameters' input (conv1) */
    /* per-layer buffers (max_batch samples) */
    float *out;                 /* activation output */
    void *kept;                 /* what forward keeps for backward, kept_bytes per output value: maxpool's
                                 * argmax (int32), lrn's two floats, dropout's mask (uint8); NULL if none */
    size_t kept_bytes;
    float *ws;                  /* conv, dense: the plan's workspace of ws_floats */
    size_t ws_floats;
    union {                     /* by type; plans and shapes are set once at build, for max_batch samples */
        struct {
            CnnConvPlan conv;   /* conv: shape and kernels */
            int input_ready;    /* conv: ws holds what the last forward kept of its input for backward */
        };
        CnnDensePlan dense;     /* dense: the same */
        CnnPoolShape pool;      /* maxpool, avgpool: a batch of n samples only changes pool.n */
    };
} CnnLayer;

/* What a model is built for: the largest batch a forward may get, the instruction set of the kernels
 * (the ranks' agreed level, cpu.h) and the threads each tiled kernel may use. */
typedef struct {
    int max_batch;
    CnnIsa isa;
    int threads;
    int dry_run; /* 1: shapes, plans and the memory they need (CnnModel.mem), nothing allocated */
} CnnModelOpts;

/* Bytes a built model holds (or would, dry run), and which layers weigh most, for the memory check. */
typedef struct {
    double params;       /* parameters and their gradient block */
    double activations;  /* layer outputs, what backward keeps, the two data-gradient buffers */
    double workspaces;   /* the conv and dense layers' planned workspaces */
    int widest;          /* layer with the largest output per sample, -1 if none */
    int heaviest;        /* layer with the most parameters, -1 if none */
} CnnModelMemory;

typedef struct {
    int n_layers;
    CnnLayer layers[CNN_MAX_LAYERS];
    CnnIsa isa;
    const CnnKernels *k;        /* the kernels of isa */
    CnnModelMemory mem;
    int in_h, in_w, in_c, num_classes;
    size_t n_params;
    float *params, *grads;      /* one block each, n_params floats */
    int n_tensors;
    CnnTensorInfo tensors[2 * CNN_MAX_LAYERS];
    int max_batch;
    const float *input;         /* the batch of the last forward (caller-owned) */
    int batch;                  /* its size */
    float *dbuf[2];             /* ping-pong data gradients, max_batch * largest activation */
    double layer_time[CNN_MAX_LAYERS][2]; /* accumulated seconds forward/backward, for the bench */
    int timing;                 /* 1: fill layer_time */
    uint64_t seed;
} CnnModel;

/* Called by backward as soon as a layer's parameter gradients are final, with their range in the
 * gradient block (layers finish last to first, so ranges arrive from the end of the block down): lets
 * the caller start reducing them while earlier layers still compute (gradsync.h). */
typedef struct {
    void (*ready)(void *ctx, size_t offset, size_t count);
    void *ctx;
} CnnGradHook;

/* Builds layers and shapes from cfg for input h x w x c (after crop), plans every conv and dense layer
 * (plan.h), allocates everything. Errors (a layer that shrinks the image to nothing, a network without
 * a final 10-way dense, run.conv = direct where the instruction set has no tiles, ...) name the config
 * file and the layer's line. */
int cnn_model_build(CnnModel *m, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err);
/* Options for max_batch samples on this CPU's instruction set (CNN_ISA applied), one thread: what
 * tests and single-process tools want. */
CnnModelOpts cnn_model_opts_local(int max_batch);
/* Every conv and dense layer's kernels in one line (the instruction set is m->isa), e.g.
 * "conv1 direct, conv2 winograd, local3 tiles, local4 tiles, logits tiles". */
void cnn_model_kernels_line(const CnnModel *m, char *buf, size_t n);
/* 1 if some layer runs on OpenBLAS sgemm (whose sums follow OpenBLAS's core, plan.h). */
int cnn_model_uses_sgemm(const CnnModel *m);
void cnn_model_free(CnnModel *m);
/* Initialises parameters from (seed, CNN_RNG_INIT, layer index). */
void cnn_model_init_params(CnnModel *m, uint64_t seed);
/* Forward over n <= max_batch samples x[n][h][w][c]; returns the logits [n][num_classes].
 * train: dropout active; positions[j] is sample j's place in the global batch (dropout RNG). */
const float *cnn_model_forward(CnnModel *m, const float *x, int n, int train, long step,
                               const int *positions);
/* After forward: loss and backward. Adds the parameter gradients, scaled by grad_scale (1/global batch),
 * to grad (n_params floats), or with CNN_GRAD_OVERWRITE writes them there (every parameter's, so grad
 * need not be zeroed first). hook (may be NULL) hears of each layer's gradients as they are final.
 * Returns the summed cross entropy of the n samples; *correct gets the right predictions. */
double cnn_model_backward(CnnModel *m, float *grad, CnnGradMode mode, const int *labels, int n, float grad_scale,
                          int *correct, const CnnGradHook *hook);
/* sum over layers of wl * sum(w^2) / 2 */
double cnn_model_weight_loss(const CnnModel *m);
/* grad += wl * w for every layer with wl > 0 */
void cnn_model_add_weight_decay(const CnnModel *m, float *grad);
/* Hash of the parameter bytes. */
uint64_t cnn_model_params_hash(const CnnModel *m);
/* The --summary table. */
void cnn_model_summary(const CnnModel *m, FILE *f);
/* Training FLOPs per image (forward + backward) and forward FLOPs per image. */
double cnn_model_train_flops(const CnnModel *m);
double cnn_model_forward_flops(const CnnModel *m);
/* Which layer (name) holds parameter index i; for NaN reports. */
const char *cnn_model_param_owner(const CnnModel *m, size_t i);

#endif
