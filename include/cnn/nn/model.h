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

/* A named slice of the flat parameter block ("conv1/weights"), for checkpoints, the optimizer and the
 * gradient sums. Trainable tensors come first, in the order forward runs their layers, then the buffers
 * (state that is not trained but kept, such as BatchNorm's running statistics). */
typedef struct {
    char name[2 * CNN_NAME_LEN + 16];
    int rank;
    int dims[4];
    size_t offset, count;
    int layer;      /* index into CnnModel.layers */
    int buffer;     /* 1: not trained; its gradient slot carries what the step adds to it (a layer's buffer
                     * ops say what), summed exactly like gradients, so it stays the same on every rank */
    int decay;      /* 1: train.weight_decay applies (conv and dense weights; every trained tensor with
                     * train.weight_decay_on = all) */
    float wl;       /* weight loss wl * sum(w^2) / 2 of the layer's `wl` key (0: none) */
    int frozen;     /* 1: trainable in the layout (its gradient is computed and summed) but never updated: the
                     * layer's `trainable` leaves it out */
    float until_epoch; /* > 0: updated only in epochs before this (the layer's train_until_epoch) */
    float lr_scale; /* its gradient times this before decay and the optimizer (the layer's lr_scale) */
} CnnTensorInfo;

/* What a layer type's build declares of one tensor: its name under the layer, shape, whether it is a
 * buffer, decay and weight loss, and its initial values. */
typedef struct {
    const char *what;   /* "weights", "biases", "gamma", ... */
    int rank, dims[4];
    int buffer, decay;
    int bias;           /* a bias (conv's and dense's biases, batchnorm's beta): trained with trainable = biases */
    float wl;
    CnnInitKind init;   /* truncated_normal, normal (stddev), constant (value), he_normal (fan_in) */
    float stddev, value;
    int fan_in;
} CnnTensorDecl;

#define CNN_LAYER_TENSORS 4

/* One layer: what every type has (shapes, its tensors, its output), and in a union what only its type
 * keeps. What a type computes is in its ops (src/nn/layers/, one file per type). */
typedef struct CnnLayer {
    CnnLayerSpec spec;
    const struct CnnLayerOps *ops; /* the type's build, forward and backward */
    int ih, iw, ic;             /* input per sample (input 0; dense: ih = iw = 1, ic = features) */
    int in_shape[CNN_MAX_INPUTS][3]; /* every input's h, w, c (add checks they agree) */
    int oh, ow, oc;             /* output per sample */
    size_t in_size, out_size;   /* floats per sample */
    int n_decl;                 /* its tensors, as build declared them */
    CnnTensorDecl decl[CNN_LAYER_TENSORS];
    int tensor[CNN_LAYER_TENSORS]; /* their indices in CnnModel.tensors */
    size_t p_off, p_count;      /* its trainable tensors, contiguous in the parameter block (p_count 0: none) */
    double flops_fwd;           /* per sample */
    double flops_bwd;           /* per sample: data (if needed) and weight gradients */
    int needs_din;              /* input 0 needs a gradient (some layer before it has trainable tensors) */
    int needs_grad;             /* the gradient of this layer's output is needed */
    int grad_live;              /* ... in this step: needs_grad, less where nothing at or before the layer
                                 * trains now (cnn_model_set_epoch) */
    int pos;                    /* its place in the forward order */
    int keep_input, keep_output;/* backward reads its inputs / its output: the arena keeps them until then
                                 * (from the ops' bwd_needs_*; a build may clear them, e.g. conv with a
                                 * linear activation needs no output) */
    /* Fusion (the model decides at build, cnn_model_build): a batchnorm whose only reader is a relu or gelu
     * act right after it computes both, writing the act's output (fused_out) and, backward, reading the
     * act's gradient (fused_grad); the act layer itself is then skipped (fused_away) and its time shows
     * under the batchnorm. */
    int fused_next;             /* index of the layer this one also computes, -1: none */
    int fused_away;             /* 1: its producer computes it */
    /* A conv (Winograd, even tile, linear activation) whose only reader is a 2x2 stride-2 VALID max-pool
     * right after it pools in its output pass: it writes the pool's output and argmax, never its own
     * output; the pool's forward is skipped (fwd_fused), its backward runs as ever. */
    int pool_into;              /* conv: index of the pool it computes, -1: none */
    int fwd_fused;              /* maxpool: its forward is its producer's */
    float *fused_out, *fused_grad;
    /* per-layer buffers (max_batch samples) */
    float *out;                 /* activation output, in the model's arena (shared with what is dead by then) */
    float *grad;                /* backward: the gradient of out, in the arena; NULL if not needed */
    size_t out_at, grad_at;     /* their offsets in the arena (floats) */
    void *kept;                 /* what forward keeps for backward, kept_bytes per output value: maxpool's
                                 * argmax (int32), lrn's two floats, dropout's mask (uint8); NULL if none */
    size_t kept_bytes;
    float *ws;                  /* conv, dense: the plan's workspace; batchnorm: its statistics (ws_floats) */
    size_t ws_floats;
    union {                     /* by type; plans and shapes are set once at build, for max_batch samples */
        struct {
            CnnConvPlan conv;   /* conv: shape and kernels */
            int input_ready;    /* conv: ws holds what the last forward kept of its input for backward */
        };
        CnnDensePlan dense;     /* dense: the same */
        CnnPoolShape pool;      /* maxpool, avgpool: a batch of n samples only changes pool.n */
        struct {
            int gamma, beta;    /* batchnorm: indices of its tensors among the layer's (-1: none) */
            int mean, var;
            int last_n;         /* samples of the last training forward */
            CnnActivation act;  /* the fused act layer's activation (fused_next >= 0) */
        } bn;
    };
} CnnLayer;

/* What a model is built for: the largest batch a forward may get, the instruction set of the kernels
 * (the ranks' agreed level, cpu.h) and the threads each tiled kernel may use. */
typedef struct {
    int max_batch;
    CnnIsa isa;
    int threads;
    int dry_run; /* 1: shapes, plans and the memory they need (CnnModel.mem), nothing allocated */
    int no_fusion; /* 1: every layer runs on its own (tests compare the bits of both) */
} CnnModelOpts;

/* Bytes a built model holds (or would, dry run), and which layers weigh most, for the memory check. */
typedef struct {
    double params;       /* parameters and their gradient block */
    double activations;  /* the arena (layer outputs and their gradients, each alive only while needed) and
                          * what backward keeps */
    double arena;        /* of which the arena: the peak of outputs and gradients alive at once */
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
    float label_smoothing;   /* train.label_smoothing: the training loss's and the evaluation loss's */
    size_t n_params;            /* trainable and buffers */
    size_t n_trainable;         /* params[0 .. n_trainable): what the optimizer updates */
    float *params, *grads;      /* one block each, n_params floats */
    int n_tensors, n_trainable_tensors; /* tensors[0 .. n_trainable_tensors) are the trainable ones */
    CnnTensorInfo tensors[CNN_MAX_TENSORS];
    int order[CNN_MAX_LAYERS];  /* the forward order (CnnConfig.order) */
    int max_batch;
    const float *input;         /* the batch of the last forward (caller-owned) */
    int batch;                  /* its size */
    float *arena;               /* every layer's output and gradient, placed by their lifetimes */
    size_t arena_floats;
    float *scratch;             /* backward: a second gradient of a layer with several consumers */
    double layer_time[CNN_MAX_LAYERS][2]; /* accumulated seconds forward/backward, for the bench */
    int timing;                 /* 1: fill layer_time */
    uint64_t seed;
} CnnModel;

/* Called by backward as soon as a range of the gradient block is final: first the buffers' range (at the
 * end of the block, filled from what forward saw), then each layer's trainable tensors as its backward
 * finishes (layers finish last to first, so ranges arrive from the end of the block down): lets the
 * caller start reducing them while earlier layers still compute (gradsync.h). */
typedef struct {
    void (*ready)(void *ctx, size_t offset, size_t count);
    void *ctx;
} CnnGradHook;

/* Builds layers and shapes from cfg for input h x w x c (after crop) in the config's forward order,
 * plans every conv and dense layer (plan.h), places the outputs and gradients in one arena by their
 * lifetimes, allocates everything. Errors (a layer that shrinks the image to nothing, inputs of `add`
 * that differ in shape, a network whose last layer is not a linear dense layer of one unit per class,
 * run.conv = direct where the instruction set has no tiles, ...) name the config file and the layer's
 * line. */
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
/* Every range backward would announce, in its order, without computing (a rank with no samples joins
 * the same collectives). */
void cnn_model_announce_grads(const CnnModel *m, const CnnGradHook *hook);
/* After a step's gradient block is summed: each buffer takes the step's contribution (BatchNorm's
 * running statistics move towards the batch's), the same on every rank. */
void cnn_model_update_buffers(CnnModel *m, const float *grad);
/* sum over tensors of wl * sum(w^2) / 2 */
double cnn_model_weight_loss(const CnnModel *m);
/* grad += (wl + weight_decay) * w for every tensor with wl > 0, or decay set and weight_decay > 0 */
void cnn_model_add_weight_decay(const CnnModel *m, float *grad, double weight_decay);
/* grad *= lr_scale for every tensor whose layer sets one (before weight decay) */
void cnn_model_scale_grads(const CnnModel *m, float *grad);
/* The ranges (offset, count) of the parameter block the optimizer updates in a step of `epoch`: the
 * trainable tensors that are not frozen, nor past their until_epoch, adjacent ones merged. Writes at most
 * CNN_MAX_TENSORS pairs into ranges; returns how many. One range [0, n_trainable) when all train. */
int cnn_model_trained_ranges(const CnnModel *m, double epoch, size_t *ranges);
/* The backward of the steps of `epoch` computes only the gradients that reach a tensor trained then (as
 * cnn_model_trained_ranges says): a layer before which nothing trains (airbench94's whitening conv after
 * its bias freezes) takes no output gradient, and the layer after it computes no data gradient. The
 * gradients of tensors not trained then are zero. Same parameters bit for bit: what is skipped never
 * reaches an update. Until the first call every gradient is computed. */
void cnn_model_set_epoch(CnnModel *m, double epoch);
/* Hash of the parameter bytes. */
uint64_t cnn_model_params_hash(const CnnModel *m);
/* The --summary table; peak > 0 (GFLOP/s of one core, cnn_fma_peak) adds the time model's ms for a step
 * of `batch` samples to each planned layer. */
void cnn_model_summary(const CnnModel *m, FILE *f, int batch, double peak);
/* Training FLOPs per image (forward + backward) and forward FLOPs per image. */
double cnn_model_train_flops(const CnnModel *m);
double cnn_model_forward_flops(const CnnModel *m);
/* Which layer (name) holds parameter index i; for NaN reports. */
const char *cnn_model_param_owner(const CnnModel *m, size_t i);

#endif
