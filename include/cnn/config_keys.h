/* config_keys: how a key is described, for the key tables of the config module (src/config.c: [run],
 * [data], [train]) and of each layer type (its descriptor, in its own file under src/nn/layers/). The
 * parser, the canonical text, the hashes and the resume check all read keys through these tables.
 *
 * A layer type is one descriptor (CnnLayerTypeDesc): its name, its keys with their defaults and the
 * number of inputs it takes, and its ops (what the model calls). The table of descriptors, indexed by
 * CnnLayerType, is src/nn/layers/table.c: the one place where the config module reads from src/nn, and
 * only data. */
#ifndef CNN_CONFIG_KEYS_H
#define CNN_CONFIG_KEYS_H

#include <math.h>
#include <stddef.h>

#include "cnn/config.h"

/* K_LONGS, K_FLOATS: a comma-separated list of up to cap numbers, each in the key's range, into an
 * array of long or float at off with its int count at n_off (0 = not given). */
typedef enum { K_INT, K_LONG, K_U64, K_FLOAT, K_DOUBLE, K_BOOL, K_STR, K_ENUM, K_CONTRAST, K_LONGS, K_FLOATS } KeyKind;

/* One key: where it lives (offset into CnnConfig or CnnLayerSpec), what values it takes, and its
 * class (config.h: what may change on resume and between ranks; the hashes and the resume check are
 * derived from it). Numbers must lie in [lo, hi], with the bound excluded when lo_open / hi_open. */
typedef struct {
    const char *key;
    CnnKeyClass cls;
    KeyKind kind;
    size_t off;
    double lo, hi;
    unsigned char lo_open, hi_open;
    const char *const *names; /* K_ENUM */
    size_t cap;               /* K_STR: buffer size; K_LONGS, K_FLOATS: the most values */
    size_t n_off;             /* K_LONGS, K_FLOATS: offset of the int count */
} KeySpec;

/* A layer type's keys (the last ones, from `input` on, came with the graph: the model hash takes them
 * only where they differ from the type's defaults, so every earlier network keeps its hash), its
 * defaults beyond zero, and how many inputs it takes. */
typedef struct {
    const KeySpec *keys;
    int n;
    const char *required[2]; /* keys without a default */
    int n_v1;                /* keys[0 .. n_v1) existed before the graph */
    void (*defaults)(CnnLayerSpec *l);
    int min_in, max_in;
} LayerKeys;

/* A layer type: its name in `type = ...`, its keys, and what the model calls (src/nn/layers/layer_ops.h). */
typedef struct CnnLayerTypeDesc {
    const char *name;
    LayerKeys keys;
    const struct CnnLayerOps *ops;
} CnnLayerTypeDesc;

/* The descriptor of layer type t (src/nn/layers/table.c). */
const CnnLayerTypeDesc *cnn_layer_type_desc(CnnLayerType t);

/* Names of the enums that layer keys take (src/config.c), NULL-terminated. */
extern const char *const cnn_config_act_names[], *const cnn_config_init_names[], *const cnn_config_padding_names[],
    *const cnn_config_trainable_names[];

/* Writing key tables. Layer keys are all NETWORK: they define the model. */
#define CNN_K_INF HUGE_VAL
#define CNN_K_LAY(f) offsetof(CnnLayerSpec, f)
#define CNN_K_NUM(c, k, kind, off, lo, hi, lo_open, hi_open) {k, c, kind, off, lo, hi, lo_open, hi_open, NULL, 0, 0}
#define CNN_K_ENUM(c, k, off, names) {k, c, K_ENUM, off, 0, 0, 0, 0, names, 0, 0}
/* Every type takes `input`; in a table the keys before it existed before the graph, it and those after it
 * came with it (LayerKeys.n_v1). */
#define CNN_K_INPUT {"input", CNN_KEY_NETWORK, K_STR, CNN_K_LAY(input), 0, 0, 0, 0, NULL, CNN_INPUT_LEN, 0}
#define CNN_K_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* conv and dense: their activation, initialiser, initial bias and weight loss; use_bias came with the graph */
#define CNN_K_WEIGHT_KEYS                                                                                        \
    CNN_K_ENUM(CNN_KEY_NETWORK, "activation", CNN_K_LAY(act), cnn_config_act_names),                            \
        CNN_K_ENUM(CNN_KEY_NETWORK, "init", CNN_K_LAY(init), cnn_config_init_names),                            \
        CNN_K_NUM(CNN_KEY_NETWORK, "stddev", K_FLOAT, CNN_K_LAY(stddev), 0, CNN_K_INF, 0, 0),                   \
        CNN_K_NUM(CNN_KEY_NETWORK, "value", K_FLOAT, CNN_K_LAY(value), -CNN_K_INF, CNN_K_INF, 0, 0),            \
        CNN_K_NUM(CNN_KEY_NETWORK, "bias", K_FLOAT, CNN_K_LAY(bias_init), -CNN_K_INF, CNN_K_INF, 0, 0),         \
        CNN_K_NUM(CNN_KEY_NETWORK, "wl", K_FLOAT, CNN_K_LAY(wl), 0, CNN_K_INF, 0, 0)
#define CNN_K_USE_BIAS CNN_K_NUM(CNN_KEY_NETWORK, "use_bias", K_BOOL, CNN_K_LAY(use_bias), 0, 1, 0, 0)
/* what of a layer's tensors the optimizer trains, until which epoch, and at which learning-rate scale */
#define CNN_K_TRAINING_KEYS                                                                                      \
    CNN_K_ENUM(CNN_KEY_NETWORK, "trainable", CNN_K_LAY(trainable), cnn_config_trainable_names),                 \
        CNN_K_NUM(CNN_KEY_NETWORK, "train_until_epoch", K_FLOAT, CNN_K_LAY(train_until_epoch), 0, CNN_K_INF, 0, 0), \
        CNN_K_NUM(CNN_KEY_NETWORK, "lr_scale", K_FLOAT, CNN_K_LAY(lr_scale), 0, CNN_K_INF, 1, 0)

#endif
