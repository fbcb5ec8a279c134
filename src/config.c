/* config: INI text (libinih) and "--set section.key=value" overrides → a validated CnnConfig.
 *
 * Parsing runs in two passes. Pass 1 turns the text into a document: sections in file order, each
 * with its (key, value, line) entries; overrides then replace or add entries as if they were in the
 * file, remembering their own text for messages. Pass 2 interprets the document through key tables
 * (one per fixed section and per layer type) that also drive cnn_config_to_ini, so the canonical
 * text always holds every key the parser knows. Every user error returns -1 with a message that
 * starts "FILE:LINE: " or "--set TEXT: ".
 *
 * This file holds the fixed sections' key tables (each layer type's are in its descriptor, in its own
 * file under src/nn/layers/), where each key's kind, range and class is written once, and what is
 * derived from them alone: the model and train hashes, the resume check and the key listings. The
 * passes and the canonical text are in src/config/ (internal.h says which file holds what). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"

/* ---- names ---------------------------------------------------------------------------------- */

const char *const cnn_config_act_names[] = {"linear", "relu", "tanh", "sigmoid", "gelu", NULL};
const char *const cnn_config_init_names[] = {"truncated_normal", "normal", "constant", "he_normal",
                                              "uniform",          "dirac",  "whiten",   NULL};
const char *const cnn_config_trainable_names[] = {"true", "false", "biases", NULL}; /* by CnnTrainable */
const char *const cnn_config_padding_names[] = {"valid", "same", NULL}; /* index = CnnLayerSpec.same */
static const char *const format_names[] = {"cifar10", "idx", NULL};
static const char *const optimizer_names[] = {"adam", "sgd", NULL};
static const char *const conv_names[] = {"auto", "direct", "gemm", "winograd", "winograd2", "winograd4", "winograd6", NULL};

const char *cnn_conv_kernel_name(CnnConvKernel k)
{
    return (unsigned)k < sizeof conv_names / sizeof *conv_names - 1 ? conv_names[k] : "?";
}
const char *const cnn_config_schedules[] = {"constant", "exponential", "cosine", "piecewise", "linear", NULL};
static const char *const flip_mode_names[] = {"random", "alternate", NULL}; /* by CnnFlipMode */
static const char *const decay_on_names[] = {"weights", "all", NULL};       /* by CnnDecayOn */
static const char *const pad_mode_names[] = {"zero", "reflect", NULL}; /* by CnnPadMode */

const char *cnn_layer_type_name(CnnLayerType t)
{
    return (unsigned)t < N_LAYER_TYPES ? cnn_layer_type_desc(t)->name : "?";
}

const char *cnn_activation_name(CnnActivation a)
{
    return (unsigned)a <= CNN_ACT_GELU ? cnn_config_act_names[a] : "?";
}

/* ---- key tables ------------------------------------------------------------------------------ */

#define INF HUGE_VAL
#define CFG(f) offsetof(CnnConfig, f)
#define NUM(c, k, kind, off, lo, hi, lo_open, hi_open) {k, c, kind, off, lo, hi, lo_open, hi_open, NULL, 0, 0}
#define ENUMK(c, k, off, names) {k, c, K_ENUM, off, 0, 0, 0, 0, names, 0, 0}
#define STRK(c, k, off) {k, c, K_STR, off, 0, 0, 0, 0, NULL, CNN_PATH_LEN, 0}
/* a list of up to `most` values at off (an array), their count at n_off */
#define LIST(c, k, kind, off, n_off, most, lo, hi, lo_open, hi_open)                                         \
    {k, c, kind, off, lo, hi, lo_open, hi_open, NULL, most, n_off}
#define NETWORK CNN_KEY_NETWORK
#define RECIPE CNN_KEY_RECIPE
#define TUNABLE CNN_KEY_TUNABLE
#define LOCAL CNN_KEY_LOCAL

static const KeySpec run_keys[] = {
    {"name", LOCAL, K_STR, CFG(name), 0, 0, 0, 0, NULL, CNN_NAME_LEN, 0},
    NUM(RECIPE, "seed", K_U64, CFG(seed), 0, INF, 0, 0),
    STRK(LOCAL, "out_dir", CFG(out_dir)),
    NUM(LOCAL, "threads", K_INT, CFG(threads), 0, INF, 0, 0),
    NUM(LOCAL, "stall_timeout", K_DOUBLE, CFG(stall_timeout), 0, INF, 0, 0),
    ENUMK(TUNABLE, "conv", CFG(conv), conv_names), /* the families sum in different orders: ranks agree */
};

/* The NETWORK keys' order here is the model hash's order (height, width, channels, num_classes,
 * crop): checkpoints store that hash, so they keep this order. */
static const KeySpec data_keys[] = {
    ENUMK(RECIPE, "format", CFG(format), format_names),
    STRK(LOCAL, "dir", CFG(dir)), /* ranks may see the same files at different paths */
    STRK(RECIPE, "train", CFG(train)),
    STRK(TUNABLE, "test", CFG(test)),
    NUM(NETWORK, "height", K_INT, CFG(height), 1, INF, 0, 0),
    NUM(NETWORK, "width", K_INT, CFG(width), 1, INF, 0, 0),
    NUM(NETWORK, "channels", K_INT, CFG(channels), 1, INF, 0, 0),
    NUM(NETWORK, "num_classes", K_INT, CFG(num_classes), 2, INF, 0, 0),
    NUM(NETWORK, "crop", K_INT, CFG(crop), 0, INF, 0, 0), /* the network sees crop x crop */
    NUM(RECIPE, "pad", K_INT, CFG(pad), 0, INF, 0, 0),   /* training only: the network sees the full size */
    ENUMK(RECIPE, "pad_mode", CFG(pad_mode), pad_mode_names),
    NUM(RECIPE, "flip", K_BOOL, CFG(flip), 0, 1, 0, 0),
    ENUMK(RECIPE, "flip_mode", CFG(flip_mode), flip_mode_names),
    NUM(RECIPE, "brightness", K_FLOAT, CFG(brightness), 0, INF, 0, 0),
    {"contrast", RECIPE, K_CONTRAST, CFG(contrast_lo), 0, INF, 0, 0, NULL, 0, 0},
    NUM(RECIPE, "standardize", K_BOOL, CFG(standardize), 0, 1, 0, 0),
    LIST(RECIPE, "mean", K_FLOATS, CFG(mean), CFG(n_mean), CNN_MAX_NORM_CHANNELS, -INF, INF, 0, 0),
    LIST(RECIPE, "std", K_FLOATS, CFG(std), CFG(n_std), CNN_MAX_NORM_CHANNELS, 0, INF, 1, 0),
    NUM(LOCAL, "prefetch", K_INT, CFG(prefetch), 0, INF, 0, 0),
    STRK(LOCAL, "class_names", CFG(class_names)), /* for --predict; "" = batches.meta.txt or numbers */
    NUM(TUNABLE, "tta", K_INT, CFG(tta), 0, 2, 0, 0), /* evaluation only */
};

static const KeySpec train_keys[] = {
    NUM(RECIPE, "batch", K_INT, CFG(batch), 1, INF, 0, 0),
    NUM(TUNABLE, "steps", K_LONG, CFG(steps), 1, INF, 0, 0),
    NUM(TUNABLE, "epochs", K_DOUBLE, CFG(epochs), 0, 1e6, 1, 0), /* instead of steps; at most 1e6 keeps steps a long */
    ENUMK(RECIPE, "optimizer", CFG(optimizer), optimizer_names),
    NUM(TUNABLE, "lr", K_DOUBLE, CFG(lr), 0, INF, 1, 0),
    NUM(RECIPE, "momentum", K_DOUBLE, CFG(momentum), 0, INF, 0, 0),
    NUM(RECIPE, "nesterov", K_BOOL, CFG(nesterov), 0, 1, 0, 0),
    NUM(RECIPE, "beta1", K_DOUBLE, CFG(beta1), 0, 1, 0, 1),
    NUM(RECIPE, "beta2", K_DOUBLE, CFG(beta2), 0, 1, 0, 1),
    NUM(RECIPE, "epsilon", K_DOUBLE, CFG(epsilon), 0, INF, 1, 0),
    NUM(RECIPE, "weight_decay", K_DOUBLE, CFG(weight_decay), 0, INF, 0, 0),
    NUM(RECIPE, "label_smoothing", K_DOUBLE, CFG(label_smoothing), 0, 1, 0, 1),
    ENUMK(TUNABLE, "lr_schedule", CFG(lr_schedule), cnn_config_schedules),
    NUM(TUNABLE, "decay_rate", K_DOUBLE, CFG(decay_rate), 0, INF, 0, 0),
    NUM(TUNABLE, "decay_steps", K_LONG, CFG(decay_steps), 0, INF, 0, 0),
    /* at most 1e8: 16 of them still fit the 198 characters of a line the reader takes */
    LIST(TUNABLE, "boundaries", K_LONGS, CFG(boundaries), CFG(n_boundaries), CNN_MAX_BOUNDARIES, 1, 1e8, 0, 0),
    NUM(TUNABLE, "staircase", K_BOOL, CFG(staircase), 0, 1, 0, 0),
    NUM(TUNABLE, "warmup_steps", K_LONG, CFG(warmup_steps), 0, INF, 0, 0),
    NUM(TUNABLE, "log_every", K_LONG, CFG(log_every), 0, INF, 0, 0),
    NUM(TUNABLE, "eval_every", K_LONG, CFG(eval_every), 0, INF, 0, 0),
    NUM(TUNABLE, "checkpoint_every", K_LONG, CFG(checkpoint_every), 0, INF, 0, 0),
    NUM(TUNABLE, "keep", K_INT, CFG(keep), 1, INF, 0, 0),
    NUM(RECIPE, "deterministic", K_BOOL, CFG(deterministic), 0, 1, 0, 0),
    NUM(RECIPE, "micro_batch", K_INT, CFG(micro_batch), 1, INF, 0, 0),
    NUM(TUNABLE, "eval_batch", K_INT, CFG(eval_batch), 1, INF, 0, 0),
    NUM(TUNABLE, "bucket_kb", K_DOUBLE, CFG(bucket_kb), 0, INF, 0, 0),
    NUM(TUNABLE, "ema", K_DOUBLE, CFG(ema), 0, 1, 0, 1), /* evaluation only: training is the same either way */
    ENUMK(RECIPE, "weight_decay_on", CFG(weight_decay_on), decay_on_names),
    NUM(RECIPE, "drop_last", K_BOOL, CFG(drop_last), 0, 1, 0, 0),
    NUM(RECIPE, "lookahead", K_DOUBLE, CFG(lookahead), 0, 1, 0, 1),
    NUM(RECIPE, "lookahead_every", K_LONG, CFG(lookahead_every), 1, INF, 0, 0),
    NUM(RECIPE, "lookahead_power", K_DOUBLE, CFG(lookahead_power), 0, INF, 0, 0),
    NUM(RECIPE, "lookahead_start", K_DOUBLE, CFG(lookahead_start), 0, INF, 0, 0),
    LIST(TUNABLE, "knots", K_FLOATS, CFG(knots), CFG(n_knots), CNN_MAX_BOUNDARIES, 0, 1, 0, 0),
    LIST(TUNABLE, "knot_values", K_FLOATS, CFG(knot_values), CFG(n_knot_values), CNN_MAX_BOUNDARIES, 0, INF, 0, 0),
};

void cnn_layer_type_inputs(CnnLayerType t, int *lo, int *hi)
{
    CNN_ASSERT((unsigned)t < N_LAYER_TYPES);
    *lo = LAYER_KEYS(t)->min_in;
    *hi = LAYER_KEYS(t)->max_in;
}

/* The fixed sections' tables, in the order of the canonical text and of the hashes (and of FIXED_RUN,
 * FIXED_DATA, FIXED_TRAIN). */
#define COUNT(a) CNN_K_COUNT(a)

_Static_assert(COUNT(run_keys) <= MAX_TABLE && COUNT(data_keys) <= MAX_TABLE && COUNT(train_keys) <= MAX_TABLE,
               "a fixed section has more keys than MAX_TABLE (config/internal.h)");

/* the fixed sections' tables */
const FixedKeys cnn_config_fixed[N_FIXED] = {
    {"run", run_keys, COUNT(run_keys), {NULL, NULL}},
    {"data", data_keys, COUNT(data_keys), {"format", "dir"}},
    {"train", train_keys, COUNT(train_keys), {"batch", NULL}}, /* and steps or epochs: interpret.c */
};

long cnn_config_steps(const CnnConfig *cfg, long n_train)
{
    if (cfg->steps > 0) return cfg->steps;
    CNN_ASSERT(cfg->epochs > 0 && n_train > 0 && cfg->batch > 0);
    const double per_epoch = cfg->drop_last ? (double)(n_train / cfg->batch) : (double)n_train / (double)cfg->batch;
    const double x = cfg->epochs * per_epoch, whole = floor(x);
    return (long)(x - whole <= 1e-9 * x ? whole : ceil(x));
}

/* ---- hashes ------------------------------------------------------------------------------------- */

/* Fields go in one at a time, widened to fixed sizes, so struct padding never enters. */
static uint64_t h_i64(uint64_t h, int64_t v) { return cnn_hash_bytes(h, &v, sizeof v); }
static uint64_t h_f32(uint64_t h, float v) { return cnn_hash_bytes(h, &v, sizeof v); }
static uint64_t h_f64(uint64_t h, double v) { return cnn_hash_bytes(h, &v, sizeof v); }
static uint64_t h_str(uint64_t h, const char *s)
{
    h = h_i64(h, (int64_t)strlen(s));
    return cnn_hash_bytes(h, s, strlen(s));
}

/* One key's value by its kind: int-like kinds widened to int64, floats as float, doubles as double,
 * strings as length + bytes, contrast as its two floats, lists as their count and values. The model
 * hash's v1 values depend on this (no list is a NETWORK key). */
static uint64_t h_key(uint64_t h, const KeySpec *k, const void *base)
{
    const void *p = (const char *)base + k->off;
    const int n = k->kind == K_LONGS || k->kind == K_FLOATS ? *(const int *)((const char *)base + k->n_off) : 0;
    switch (k->kind) {
    case K_INT:
    case K_BOOL:
    case K_ENUM: return h_i64(h, *(const int *)p);
    case K_LONG: return h_i64(h, *(const long *)p);
    case K_U64: return h_i64(h, (int64_t)*(const uint64_t *)p);
    case K_FLOAT: return h_f32(h, *(const float *)p);
    case K_DOUBLE: return h_f64(h, *(const double *)p);
    case K_STR: return h_str(h, p);
    case K_CONTRAST: return h_f32(h_f32(h, ((const float *)p)[0]), ((const float *)p)[1]);
    case K_LONGS:
        h = h_i64(h, n);
        for (int i = 0; i < n; i++) h = h_i64(h, ((const long *)p)[i]);
        return h;
    case K_FLOATS:
        h = h_i64(h, n);
        for (int i = 0; i < n; i++) h = h_f32(h, ((const float *)p)[i]);
        return h;
    }
    CNN_ASSERT(0);
    return h;
}

/* The fixed sections' keys whose class is in mask (bit 1 << class), in table order. */
static uint64_t h_fixed(uint64_t h, const CnnConfig *cfg, unsigned mask)
{
    for (int t = 0; t < N_FIXED; t++)
        for (int i = 0; i < cnn_config_fixed[t].n; i++)
            if (mask & 1u << cnn_config_fixed[t].keys[i].cls) h = h_key(h, &cnn_config_fixed[t].keys[i], cfg);
    return h;
}

static int key_equal(const KeySpec *k, const void *a, const void *b);

/* 1 if layer i takes the section before it (or the image, for the first): the chain a config without
 * `input` keys describes. */
static int default_inputs(const CnnLayerSpec *l, int i) { return l->n_in == 1 && l->in[0] == i - 1; }

/* What the graph added to a layer: its keys from `input` on where they differ from the type's defaults
 * (by name and value), and its inputs where they are not the chain's. Nothing for a network that could
 * be written before the graph, so its hash, which checkpoints store, stays what it was. */
static uint64_t h_layer_graph(uint64_t h, const CnnLayerSpec *l, int i)
{
    const LayerKeys *lk = LAYER_KEYS(l->type);
    CnnLayerSpec d;
    cnn_config_layer_defaults(&d, l->type);
    for (int k = lk->n_v1; k < lk->n; k++) {
        const KeySpec *key = &lk->keys[k];
        if (key->off == offsetof(CnnLayerSpec, input) || key_equal(key, l, &d)) continue;
        h = h_key(h_str(h, key->key), key, l);
    }
    if (!default_inputs(l, i)) {
        h = h_i64(h_str(h, "input"), l->n_in);
        for (int j = 0; j < l->n_in; j++) h = h_i64(h, l->in[j]);
    }
    return h;
}

uint64_t cnn_config_model_hash(const CnnConfig *cfg)
{
    uint64_t h = CNN_HASH_INIT;
    h = h_str(h, "cnn-dist model v1");
    h = h_fixed(h, cfg, 1u << CNN_KEY_NETWORK); /* height, width, channels, num_classes, crop */
    h = h_i64(h, cfg->n_layers);
    /* Layers: every field a layer had before the graph (all of them are NETWORK by definition, as are
     * the names and types), in this fixed order rather than through the per-type tables, which would
     * hash other fields in another order and so change every v1 checkpoint's hash; then what the graph
     * added (h_layer_graph), which a new key joins through its type's table alone. */
    for (int i = 0; i < cfg->n_layers; i++) {
        const CnnLayerSpec *l = &cfg->layers[i];
        h = h_str(h, l->name);
        h = h_i64(h, l->type);
        h = h_i64(h, l->filters);
        h = h_i64(h, l->units);
        h = h_i64(h, l->size);
        h = h_i64(h, l->stride);
        h = h_i64(h, l->same);
        h = h_i64(h, l->act);
        h = h_i64(h, l->init);
        h = h_f32(h, l->stddev);
        h = h_f32(h, l->value);
        h = h_f32(h, l->bias_init);
        h = h_f32(h, l->wl);
        h = h_i64(h, l->radius);
        h = h_f32(h, l->lrn_bias);
        h = h_f32(h, l->alpha);
        h = h_f32(h, l->beta);
        h = h_f32(h, l->keep);
        h = h_layer_graph(h, l, i);
    }
    return h;
}

uint64_t cnn_config_train_hash(const CnnConfig *cfg)
{
    uint64_t h = cnn_config_model_hash(cfg);
    h = h_str(h, "cnn-dist train v2");
    /* LOCAL keys stay out: data.dir because ranks may see the same files at different paths, and
     * name, out_dir, threads, prefetch because they do not change the numbers. */
    return h_fixed(h, cfg, 1u << CNN_KEY_RECIPE | 1u << CNN_KEY_TUNABLE);
}

/* ---- key classes -------------------------------------------------------------------------------- */

/* Whether the value of key k is the same in a and b (base pointers of CnnConfig or CnnLayerSpec). */
static int key_equal(const KeySpec *k, const void *a, const void *b)
{
    const void *p = (const char *)a + k->off, *q = (const char *)b + k->off;
    switch (k->kind) {
    case K_INT:
    case K_BOOL:
    case K_ENUM: return *(const int *)p == *(const int *)q;
    case K_LONG: return *(const long *)p == *(const long *)q;
    case K_U64: return *(const uint64_t *)p == *(const uint64_t *)q;
    case K_FLOAT: return *(const float *)p == *(const float *)q;
    case K_DOUBLE: return *(const double *)p == *(const double *)q;
    case K_STR: return strcmp(p, q) == 0;
    case K_CONTRAST: {
        const float *x = p, *y = q;
        return x[0] == y[0] && x[1] == y[1];
    }
    case K_LONGS:
    case K_FLOATS: {
        const int n = *(const int *)((const char *)a + k->n_off);
        if (n != *(const int *)((const char *)b + k->n_off)) return 0;
        for (int i = 0; i < n; i++)
            if (k->kind == K_LONGS ? ((const long *)p)[i] != ((const long *)q)[i]
                                   : ((const float *)p)[i] != ((const float *)q)[i])
                return 0;
        return 1;
    }
    }
    CNN_ASSERT(0);
    return 0;
}

const char *cnn_config_recipe_change(const CnnConfig *old, const CnnConfig *now, char *buf, size_t n)
{
    for (int t = 0; t < N_FIXED; t++) {
        for (int i = 0; i < cnn_config_fixed[t].n; i++) {
            const KeySpec *k = &cnn_config_fixed[t].keys[i];
            if (k->cls != CNN_KEY_RECIPE || key_equal(k, old, now)) continue;
            snprintf(buf, n, "%s.%s", cnn_config_fixed[t].section, k->key);
            return buf;
        }
    }
    return NULL;
}

int cnn_config_key_count(void)
{
    int n = 0;
    for (int t = 0; t < N_FIXED; t++) n += cnn_config_fixed[t].n;
    for (int t = 0; t < N_LAYER_TYPES; t++) n += LAYER_KEYS(t)->n;
    return n;
}

const char *cnn_config_key_at(int i, char *buf, size_t n, CnnKeyClass *cls)
{
    if (i < 0) return NULL;
    const char *section = NULL;
    const KeySpec *k = NULL;
    for (int t = 0; t < N_FIXED + N_LAYER_TYPES && !k; t++) {
        const int fixed = t < N_FIXED;
        const int len = fixed ? cnn_config_fixed[t].n : LAYER_KEYS(t - N_FIXED)->n;
        if (i < len) {
            section = fixed ? cnn_config_fixed[t].section : cnn_layer_type_name((CnnLayerType)(t - N_FIXED));
            k = fixed ? &cnn_config_fixed[t].keys[i] : &LAYER_KEYS(t - N_FIXED)->keys[i];
        }
        i -= len;
    }
    if (!k) return NULL;
    snprintf(buf, n, "%s.%s", section, k->key);
    if (cls) *cls = k->cls;
    return buf;
}

void cnn_config_keys_of_class(CnnKeyClass c, char *buf, size_t n)
{
    if (n == 0) return;
    buf[0] = 0;
    char name[2 * CNN_NAME_LEN];
    CnnKeyClass kc;
    for (int i = 0; cnn_config_key_at(i, name, sizeof name, &kc); i++) {
        if (kc != c) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", name);
    }
}
