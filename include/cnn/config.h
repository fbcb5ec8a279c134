/* config: an INI file (parsed by libinih) and --set overrides become a validated CnnConfig.
 *
 * Sections [run], [data], [train] hold the job; every other section is a layer, in file order
 * (Darknet's .cfg idea; a resblock section expands into several), each taking the one before it unless
 * its `input` key names others: the graph, checked here (names, counts, cycles) and ordered (order[]). Every problem a user can make — unknown section or key, bad value, missing
 * required key, a key that does not belong to the layer's type — is an error naming the file and the
 * line ("configs/x.ini:12: ..."); an override is named as "--set KEY=VALUE". Nothing is
 * warn-and-continue. The canonical text (cnn_config_to_ini) is what checkpoints store: parsing it again
 * gives an identical CnnConfig.
 *
 * Every key has one class (CnnKeyClass), set once in the key tables of config.c; the model hash, the
 * ranks' train hash and the resume check are all derived from it, so "what may change on resume" is
 * written in one place. */
#ifndef CNN_CONFIG_H
#define CNN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/util.h"

#define CNN_MAX_LAYERS 512
#define CNN_MAX_INPUTS 8   /* inputs of one layer (add) */
#define CNN_MAX_TENSORS (2 * CNN_MAX_LAYERS) /* parameter and buffer tensors of a model */
#define CNN_NAME_LEN 64
#define CNN_PATH_LEN 1024
#define CNN_INPUT_LEN 256
#define CNN_MAX_BOUNDARIES 16 /* train.boundaries, train.knots */
#define CNN_MAX_NORM_CHANNELS 4 /* data.mean, data.std */

typedef enum {
    CNN_LAYER_CONV,
    CNN_LAYER_MAXPOOL,
    CNN_LAYER_AVGPOOL,
    CNN_LAYER_LRN,
    CNN_LAYER_DENSE,
    CNN_LAYER_DROPOUT,
    CNN_LAYER_ADD,
    CNN_LAYER_ACT,
    CNN_LAYER_BATCHNORM,
    CNN_LAYER_GLOBAL_AVGPOOL,
    CNN_LAYER_GLOBAL_MAXPOOL,
    CNN_LAYER_SCALE,
    CNN_LAYER_PAD_CHANNELS,
    CNN_LAYER_TYPES /* how many */
} CnnLayerType;

/* new values go at the end: the config hashes and checkpoints hold these numbers */
typedef enum { CNN_ACT_LINEAR, CNN_ACT_RELU, CNN_ACT_TANH, CNN_ACT_SIGMOID, CNN_ACT_GELU } CnnActivation;
typedef enum {
    CNN_INIT_TRUNCATED_NORMAL,
    CNN_INIT_NORMAL,
    CNN_INIT_CONSTANT,
    CNN_INIT_HE_NORMAL,
    CNN_INIT_UNIFORM,   /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Conv2d and Linear */
    CNN_INIT_DIRAC,     /* conv: the first min(cin, cout) filters pass their channel through, the rest uniform */
    CNN_INIT_WHITEN,    /* conv: the whitening of the training images' patches (src/nn/whiten.c) */
} CnnInitKind;
/* a layer's `trainable`: which of its tensors the optimizer updates */
typedef enum { CNN_TRAIN_ALL, CNN_TRAIN_NONE, CNN_TRAIN_BIASES } CnnTrainable;
typedef enum { CNN_FLIP_RANDOM, CNN_FLIP_ALTERNATE } CnnFlipMode;
typedef enum { CNN_DECAY_WEIGHTS, CNN_DECAY_ALL } CnnDecayOn;
typedef enum { CNN_DATA_CIFAR10, CNN_DATA_IDX } CnnDataFormat;
typedef enum { CNN_OPT_ADAM, CNN_OPT_SGD } CnnOptimizerKind;
typedef enum { CNN_LR_CONSTANT, CNN_LR_EXPONENTIAL, CNN_LR_COSINE, CNN_LR_PIECEWISE, CNN_LR_LINEAR } CnnLrSchedule;
typedef enum {
    CNN_CONV_AUTO,
    CNN_CONV_DIRECT,
    CNN_CONV_GEMM,
    CNN_CONV_WINOGRAD,
    CNN_CONV_WINOGRAD2,
    CNN_CONV_WINOGRAD4,
    CNN_CONV_WINOGRAD6,
} CnnConvKernel;
/* "auto", "direct", "gemm", "winograd", "winograd2", "winograd4", "winograd6" */
const char *cnn_conv_kernel_name(CnnConvKernel k);
typedef enum { CNN_PAD_ZERO, CNN_PAD_REFLECT } CnnPadMode;

/* What a key may do between runs and ranks (Redis marks its immutable config keys the same way).
 *   NETWORK: defines the model: a checkpoint must match it, also for --eval (input shape, crop, every
 *            layer key, and the layer list itself: names and types).
 *   RECIPE:  changes the numbers of training: must match the checkpoint on resume, and every rank.
 *   TUNABLE: may change on resume (steps, schedule, intervals, kernels), but every rank must agree.
 *   LOCAL:   may differ per rank and on resume (name, paths, threads, prefetch).
 * 0 is "no class", so a key the tables forgot to classify is found by the tests. */
typedef enum {
    CNN_KEY_UNSET = 0,
    CNN_KEY_NETWORK,
    CNN_KEY_RECIPE,
    CNN_KEY_TUNABLE,
    CNN_KEY_LOCAL
} CnnKeyClass;

/* One [section] that is a layer. Keys by type (every type also takes `input`):
 *   conv:    filters, size, stride (1), padding (same|valid), activation (linear), init
 *            (truncated_normal), stddev, value (for init=constant), bias (0), wl (0), use_bias (true)
 *   dense:   units, activation, init, stddev, value, bias, wl, use_bias
 *   maxpool, avgpool: size, stride (= size), padding (valid)
 *   lrn:     radius (5), bias (1), alpha (1), beta (0.5)   -- TensorFlow's defaults
 *   dropout: keep (keep probability, in (0, 1])
 *   add:     (two or more inputs, same shape)
 *   act:     activation
 *   batchnorm: momentum (0.1), epsilon (1e-5), scale (true), center (true)
 *   global_avgpool, global_maxpool: (none)
 *   scale:   factor
 *   pad_channels: channels (the output's; the input sits in the middle, zeros on either side)
 * `input` names the sections whose outputs the layer takes ("conv3" or "block1, skip1"; "input" is the
 * image); without it a layer takes the section before it, the first one the image. */
typedef struct {
    char name[CNN_NAME_LEN];
    int line;               /* line of the [section] header, for messages */
    CnnLayerType type;
    int filters;            /* conv */
    int units;              /* dense */
    int size, stride;       /* conv, pools: square kernel */
    int same;               /* padding: 1 = same, 0 = valid */
    CnnActivation act;
    CnnInitKind init;
    float stddev;           /* init normal / truncated_normal */
    float value;            /* init constant */
    float bias_init;        /* initial bias value */
    float wl;               /* weight loss: loss += wl * sum(w^2) / 2 */
    int radius;             /* lrn depth_radius */
    float lrn_bias, alpha, beta;
    float keep;             /* dropout keep probability */
    /* keys added with the graph (model hash: only where they differ from their defaults) */
    int use_bias;           /* conv, dense: 1 = a bias tensor */
    float momentum, epsilon;/* batchnorm: running = (1 - momentum) * running + momentum * batch */
    int bn_scale, bn_center;/* batchnorm: gamma, beta */
    float factor;           /* scale */
    int channels;           /* pad_channels: output channels */
    CnnTrainable trainable; /* conv, dense, batchnorm: which tensors are trained (default all) */
    float train_until_epoch;/* > 0: its tensors train only in epochs before this one (whitening's bias) */
    float lr_scale;         /* its gradients times this before weight decay and the optimizer (default 1) */
    int whiten_images;      /* init = whiten: the training images whose patches it whitens (5000) */
    float whiten_epsilon;   /* init = whiten: added to each eigenvalue (5e-4) */
    char input[CNN_INPUT_LEN]; /* the `input` key as written; "" = the section before */
    int n_in;               /* resolved inputs: indices into CnnConfig.layers, -1 = the image */
    int in[CNN_MAX_INPUTS];
} CnnLayerSpec;

typedef struct {
    /* [run] */
    char name[CNN_NAME_LEN];    /* default: the config file's base name without .ini */
    uint64_t seed;              /* default 1 */
    char out_dir[CNN_PATH_LEN]; /* default runs/<name> */
    int threads;                /* OpenBLAS threads per rank; 0 = auto */
    double stall_timeout;       /* seconds without progress before a rank ends itself (watchdog.h); 0 = never */
    CnnConvKernel conv;         /* convolution kernels asked for (plan.h): auto, winograd, winograd2, direct,
                                   gemm */
    char conv_where[CNN_PATH_LEN + 64]; /* "FILE:LINE" or "--set ..." of run.conv; "" when not given */

    /* [data] */
    CnnDataFormat format;       /* required */
    char dir[CNN_PATH_LEN];     /* required; relative paths are taken from the working directory */
    char train[CNN_PATH_LEN];   /* comma-separated file names inside dir. cifar10: batch files;    */
    char test[CNN_PATH_LEN];    /* idx: "images,labels". Defaults are the official names.           */
    int height, width, channels;/* input image size; set from the format (32x32x3, 28x28x1) */
    int num_classes;            /* 10 */
    char class_names[CNN_PATH_LEN]; /* "airplane, automobile, ...": --predict's names; "" = from
                                       batches.meta.txt in dir when present, else the class numbers */
    int crop;                   /* random crop (train) / central crop (eval) to crop x crop; 0 = none */
    int pad;                    /* train: pad by pad pixels on every side, random crop back to height x width
                                   (torchvision's RandomCrop(size, padding)); eval: the image; 0 = off */
    CnnPadMode pad_mode;        /* zero (default) or reflect (numpy's 'reflect': the edge pixel once) */
    int flip;                   /* random horizontal flip */
    CnnFlipMode flip_mode;      /* random: p = 1/2 per sample and epoch; alternate: drawn once per sample (its
                                   epoch-0 draw), reversed in every odd epoch (airbench) */
    int tta;                    /* evaluation's test-time augmentation: 0 none, 1 mirror, 2 mirror + translations */
    float brightness;           /* max |delta| on 0..255 pixels; 0 = off */
    float contrast_lo, contrast_hi; /* "contrast = 0.2, 1.8"; both 0 = off */
    int standardize;            /* per-image standardization; if 0, pixels are scaled to [0, 1] */
    float mean[CNN_MAX_NORM_CHANNELS]; /* per channel, on the [0, 1] scale: (x/255 - mean[c]) / std[c] */
    float std[CNN_MAX_NORM_CHANNELS];  /* (torchvision's ToTensor + Normalize); both or neither */
    int n_mean, n_std;          /* values given: 0 (off) or data.channels */
    int prefetch;               /* batches in the ring; 0 = no background thread */

    /* [train] */
    int batch;                  /* global batch, required */
    long steps;                 /* optimizer updates; 0 when epochs is given (one of the two is) */
    double epochs;              /* passes over the training set instead of steps; 0 when steps is given.
                                   The run trains cnn_config_steps(cfg, training images) steps */
    CnnOptimizerKind optimizer;
    double lr;
    double momentum;            /* sgd (0.9) */
    int nesterov;               /* sgd: Nesterov momentum (optim.h); 0 = plain momentum */
    double beta1, beta2, epsilon; /* adam (0.9, 0.999, 1e-8) */
    double weight_decay;        /* 0 = off. Read here only: the model applies it per tensor, skipping biases
                                   and BatchNorm parameters */
    double label_smoothing;     /* 0 = off: the loss's targets are (1 - s) onehot + s / num_classes */
    CnnDecayOn weight_decay_on; /* weights (conv and dense weights) or all (every trained tensor) */
    int drop_last;              /* 1: each epoch is floor(n / batch) whole batches of its permutation */
    double lookahead;           /* > 0: lookahead's decay per step (airbench: 0.95); 0 = off */
    long lookahead_every;       /* steps between lookahead updates (5) */
    double lookahead_power;     /* the decay's ramp: decay^every * (step / steps)^power (3) */
    double lookahead_start;     /* the epoch lookahead starts in (0) */
    float knots[CNN_MAX_BOUNDARIES];      /* lr_schedule linear: fractions of the run's steps, increasing */
    int n_knots;
    float knot_values[CNN_MAX_BOUNDARIES]; /* lr_schedule linear: the multipliers of lr at the knots */
    int n_knot_values;
    CnnLrSchedule lr_schedule;
    double decay_rate;          /* exponential: lr * decay_rate^(step/decay_steps); cosine: final lr fraction (alpha);
                                   piecewise: the factor at each boundary */
    long decay_steps;
    long boundaries[CNN_MAX_BOUNDARIES]; /* piecewise: steps, strictly increasing */
    int n_boundaries;           /* 0 = none given */
    int staircase;
    long warmup_steps;
    long log_every, eval_every, checkpoint_every; /* 0 = never (eval and checkpoint still at the end) */
    int keep;                   /* checkpoints kept (default 3) */
    int deterministic;          /* 1: bitwise the same result on any rank count (default 1) */
    int micro_batch;            /* deterministic mode: samples per micro-shard (default 16) */
    double bucket_kb;           /* fast mode: gradient bucket size for the overlapped allreduce (0 = off) */
    double ema;                 /* moving average of the parameters for evaluation (optim.h); 0 = off */
    int eval_batch;             /* evaluation chunk (default 32): fixed, so results do not depend on ranks */

    int n_layers;
    CnnLayerSpec layers[CNN_MAX_LAYERS]; /* in file order */
    int order[CNN_MAX_LAYERS];  /* the order forward runs them: each after its inputs, ties by file order */
    char warning[CNN_NAME_LEN + CNN_PATH_LEN + 64]; /* "FILE:LINE: [x]: warning: ..." for a layer whose output
                                                      nothing takes; "" = none */

    char path[CNN_PATH_LEN];    /* the file it came from */
} CnnConfig;

/* Parses path, then applies overrides ("section.key=value", in order). Returns 0, or -1 with err
 * naming the file and line (or the override). */
int cnn_config_load(CnnConfig *cfg, const char *path, const char *const *overrides, int n_overrides,
                    CnnErr *err);
/* Same from text in memory; name is used in messages and for the default run name. */
int cnn_config_parse(CnnConfig *cfg, const char *text, const char *name,
                     const char *const *overrides, int n_overrides, CnnErr *err);
/* The optimizer updates a run makes: train.steps, or with train.epochs = E
 * ceil(E * n_train / batch), n_train the training set's images (a product within 1e-9 relative of a
 * whole number counts as that number, as decimal fractions such as 0.3 are not exact in binary). */
long cnn_config_steps(const CnnConfig *cfg, long n_train);
/* Canonical INI text of cfg, every key written (malloc'd). */
char *cnn_config_to_ini(const CnnConfig *cfg);
/* Hash of the NETWORK keys (input shape, crop, and every layer: name, type, all its keys): what a
 * checkpoint must match. Checkpoints store it, so its value for a given network never changes (the
 * tests pin it for the shipped configs). */
uint64_t cnn_config_model_hash(const CnnConfig *cfg);
/* Model hash plus every RECIPE and TUNABLE key: ranks compare it at start, so ranks that disagree on
 * anything but a LOCAL key get an error instead of diverging or hanging. Not stored anywhere. */
uint64_t cnn_config_train_hash(const CnnConfig *cfg);
/* The resume check: NULL when every RECIPE key of now equals old's (by value), else the first that
 * differs, as "section.key" (e.g. "train.batch"), written into buf (n bytes) and returned. NETWORK
 * keys are not looked at: the model hash covers them, and is checked first. */
const char *cnn_config_recipe_change(const CnnConfig *old, const CnnConfig *now, char *buf, size_t n);
/* The keys of class c, "run.seed, data.format, ..." in table order, into buf (truncated to n - 1
 * characters): for messages that say which keys may change, without a hand-written list. Layer keys
 * are named by layer type ("conv.filters"). */
void cnn_config_keys_of_class(CnnKeyClass c, char *buf, size_t n);
/* Every key of every table ([run], [data], [train], then each layer type's), for tests and messages:
 * key i (0 <= i < cnn_config_key_count()) as "section.key" in buf, its class in *cls (may be NULL).
 * Returns buf, or NULL when i is out of range. */
int cnn_config_key_count(void);
const char *cnn_config_key_at(int i, char *buf, size_t n, CnnKeyClass *cls);

const char *cnn_layer_type_name(CnnLayerType t);
const char *cnn_activation_name(CnnActivation a);
/* The number of inputs a layer type takes: [*lo, *hi]. */
void cnn_layer_type_inputs(CnnLayerType t, int *lo, int *hi);

#endif
