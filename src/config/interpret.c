/* interpret: pass 2 of the config parser, a Doc (document.c) → a validated CnnConfig. The fixed
 * sections go through their key tables, then the defaults that depend on other keys (the run name on
 * the file name, image size and file names on the data format), then the checks across keys, then
 * every other section as a layer, in file order, through its type's table. The first problem ends it,
 * named by its entry ("FILE:LINE" or "--set TEXT") or, for a missing key, by its section. Also here:
 * cnn_config_parse and cnn_config_load, which run both passes. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int table_index(const KeySpec *t, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].key, key)) return i;
    return -1;
}

/* Applies a fixed section's entries; seen[i] marks table keys that were given. */
static int apply_fixed(const Doc *d, const Section *s, const FixedKeys *fk, CnnConfig *cfg,
                       unsigned char *seen)
{
    char what[CNN_NAME_LEN + 8], where[CNN_PATH_LEN + 64];
    snprintf(what, sizeof what, "[%s]", s->name);
    for (int j = 0; j < s->n; j++) {
        const Entry *e = &s->e[j];
        int i = table_index(fk->keys, fk->n, e->key);
        if (i < 0)
            return cnn_config_fail(d->err, cnn_config_entry_where(d, e, where, sizeof where),
                                   "unknown key '%s' in [%s]", e->key, s->name);
        if (cnn_config_set_value(d, e, &fk->keys[i], cfg, what)) return -1;
        if (!strcmp(s->name, "run") && !strcmp(e->key, "conv")) /* the model names it if the CPU cannot */
            cnn_config_entry_where(d, e, cfg->conv_where, sizeof cfg->conv_where);
        seen[i] = 1;
    }
    return 0;
}

static int require(const Doc *d, const Section *s, const FixedKeys *fk, const unsigned char *seen,
                   const char *key)
{
    char where[CNN_PATH_LEN + 64];
    int i = table_index(fk->keys, fk->n, key);
    CNN_ASSERT(i >= 0);
    if (seen[i]) return 0;
    return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where), "[%s] needs '%s'",
                           s->name, key);
}

void cnn_config_layer_defaults(CnnLayerSpec *l, CnnLayerType t)
{
    memset(l, 0, sizeof *l);
    l->type = t;
    l->stride = 1;
    l->same = 0;
    l->act = CNN_ACT_LINEAR;
    l->init = CNN_INIT_TRUNCATED_NORMAL;
    l->stddev = 0.05f; /* Keras' TruncatedNormal default; the shipped configs set their own */
    l->use_bias = 1;
    l->lr_scale = 1.0f;
    l->whiten_images = 5000;    /* airbench94's */
    l->whiten_epsilon = 5e-4f;
    if (LAYER_KEYS(t)->defaults) LAYER_KEYS(t)->defaults(l);
}

/* A key that the layer's type does not have: says whether another type has it, and lists the keys. */
static int layer_key_error(const Doc *d, const Entry *e, const LayerKeys *lk, const char *what)
{
    char where[CNN_PATH_LEN + 64], keys[512] = "";
    for (int k = 0; k < lk->n; k++) {
        size_t len = strlen(keys);
        snprintf(keys + len, sizeof keys - len, "%s%s", k ? ", " : "", lk->keys[k].key);
    }
    int elsewhere = 0;
    for (int t = 0; t < N_LAYER_TYPES; t++)
        elsewhere |= table_index(LAYER_KEYS(t)->keys, LAYER_KEYS(t)->n, e->key) >= 0;
    return cnn_config_fail(d->err, cnn_config_entry_where(d, e, where, sizeof where),
                           "%s '%s' %s %s (its keys: type, %s)", elsewhere ? "key" : "unknown key", e->key,
                           elsewhere ? "does not belong to" : "in", what, keys);
}

static int apply_layer(const Doc *d, const Section *s, CnnLayerSpec *l)
{
    char where[CNN_PATH_LEN + 64], what[CNN_NAME_LEN + 32];
    memset(l, 0, sizeof *l);
    const Entry *te = cnn_config_find_entry(s, "type");
    if (!te)
        return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                               "layer [%s] needs 'type'", s->name);
    int type = -1;
    for (int i = 0; i < N_LAYER_TYPES; i++)
        if (!strcmp(te->value, cnn_layer_type_name((CnnLayerType)i))) type = i;
    if (type < 0) {
        char expect[128];
        const char *names[N_LAYER_TYPES + 2];
        for (int i = 0; i < N_LAYER_TYPES; i++) names[i] = cnn_layer_type_name((CnnLayerType)i);
        names[N_LAYER_TYPES] = "resblock";
        names[N_LAYER_TYPES + 1] = NULL;
        cnn_config_names_text(names, expect, sizeof expect);
        return cnn_config_fail(d->err, cnn_config_entry_where(d, te, where, sizeof where),
                               "unknown layer type '%s' in [%s]: expected %s", te->value, s->name, expect);
    }
    cnn_config_layer_defaults(l, (CnnLayerType)type);
    snprintf(l->name, sizeof l->name, "%s", s->name);
    l->line = s->line;
    const LayerKeys *lk = LAYER_KEYS(type);
    unsigned char seen[MAX_TABLE] = {0};
    CNN_ASSERT(lk->n <= MAX_TABLE);
    snprintf(what, sizeof what, "%s layer [%s]", cnn_layer_type_name((CnnLayerType)type), s->name);
    for (int j = 0; j < s->n; j++) {
        const Entry *e = &s->e[j];
        if (e == te) continue;
        int i = table_index(lk->keys, lk->n, e->key);
        if (i < 0) return layer_key_error(d, e, lk, what);
        if (cnn_config_set_value(d, e, &lk->keys[i], l, what)) return -1;
        seen[i] = 1;
    }
    for (int r = 0; r < 2; r++) {
        const char *key = lk->required[r];
        if (key && !seen[table_index(lk->keys, lk->n, key)])
            return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                                   "%s needs '%s'", what, key);
    }
    if ((l->type == CNN_LAYER_MAXPOOL || l->type == CNN_LAYER_AVGPOOL) &&
        !seen[table_index(lk->keys, lk->n, "stride")])
        l->stride = l->size;
    return 0;
}

static void config_defaults(CnnConfig *cfg)
{
    cfg->seed = 1;
    cfg->threads = 0;
    cfg->stall_timeout = 300;
    cfg->prefetch = 2;
    cfg->optimizer = CNN_OPT_ADAM;
    cfg->lr = 1e-3;
    cfg->momentum = 0.9;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->epsilon = 1e-8;
    cfg->lr_schedule = CNN_LR_CONSTANT;
    cfg->log_every = 100;
    cfg->keep = 3;
    cfg->deterministic = 1;
    cfg->micro_batch = 16;
    cfg->eval_batch = 32;
    cfg->bucket_kb = 1024;
    cfg->lookahead_every = 5;
    cfg->lookahead_power = 3;
}

/* The config file's base name without its extension. */
static void base_name(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    const char *dot = strrchr(b, '.');
    if (dot && dot != b) len = (size_t)(dot - b);
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = 0;
}

/* The fixed sections (NULL when absent, indexed by FIXED_*) and which of their table's keys were
 * given. */
typedef struct {
    const Section *s[N_FIXED];
    unsigned char seen[N_FIXED][MAX_TABLE];
} Fixed;

static int given(const Fixed *fx, int t, const char *key)
{
    int i = table_index(cnn_config_fixed[t].keys, cnn_config_fixed[t].n, key);
    CNN_ASSERT(i >= 0);
    return fx->seen[t][i];
}

/* "FILE:LINE" or "--set TEXT" of key in s when it was given, else where s is. */
static const char *key_where(const Doc *d, const Section *s, const char *key, char *buf, size_t n)
{
    const Entry *e = cnn_config_find_entry(s, key);
    return e ? cnn_config_entry_where(d, e, buf, n) : cnn_config_section_where(d, s, buf, n);
}

/* [run], [data], [train] in that order, each through its table; [run] may be absent, the others
 * may not, and their required keys must be given. */
static int apply_fixed_sections(const Doc *d, Fixed *fx, CnnConfig *cfg)
{
    for (int t = 0; t < N_FIXED; t++) {
        const FixedKeys *fk = &cnn_config_fixed[t];
        const Section *s = fx->s[t];
        if (!s && !fk->required[0]) continue;
        if (!s && t == FIXED_TRAIN)
            return cnn_err(d->err, "%s: missing section [train] (it needs 'batch', and 'steps' or 'epochs')", d->file);
        if (!s)
            return cnn_err(d->err, "%s: missing section [%s] (it needs '%s' and '%s')", d->file, fk->section,
                           fk->required[0], fk->required[1]);
        if (apply_fixed(d, s, fk, cfg, fx->seen[t])) return -1;
        for (int r = 0; r < 2; r++)
            if (fk->required[r] && require(d, s, fk, fx->seen[t], fk->required[r])) return -1;
    }
    return 0;
}

/* [run] defaults that depend on the file name. */
static int run_defaults(const Doc *d, const Fixed *fx, CnnConfig *cfg)
{
    if (!given(fx, FIXED_RUN, "name")) base_name(d->file, cfg->name, sizeof cfg->name);
    if (!cfg->name[0]) return cnn_err(d->err, "%s: empty run name", d->file);
    if (!given(fx, FIXED_RUN, "out_dir")) snprintf(cfg->out_dir, sizeof cfg->out_dir, "runs/%s", cfg->name);
    return 0;
}

/* data.pad: not beside data.crop (pad-then-crop-to-full-size and a smaller random crop would need an
 * order and an evaluation window of their own), and no wider than the image (reflect: narrower, as
 * PyTorch's and numpy's reflection take each pixel once). */
static int check_pad(const Doc *d, const Section *data, const CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    if (cfg->pad == 0) return 0;
    key_where(d, data, "pad", where, sizeof where);
    if (cfg->crop > 0)
        return cnn_config_fail(d->err, where,
                               "pad and crop together are not supported: pad = %d pads the image and crops it back "
                               "to its full %dx%d at a random place; crop = %d crops without padding; set one of them",
                               cfg->pad, cfg->height, cfg->width, cfg->crop);
    const int side = cfg->height < cfg->width ? cfg->height : cfg->width;
    if (cfg->pad_mode == CNN_PAD_REFLECT && cfg->pad >= side)
        return cnn_config_fail(d->err, where,
                               "pad_mode reflect needs pad < the image's height and width (pad %d, %dx%d)", cfg->pad,
                               cfg->height, cfg->width);
    if (cfg->pad > side)
        return cnn_config_fail(d->err, where, "pad %d is larger than the %dx%d image", cfg->pad, cfg->height,
                               cfg->width);
    return 0;
}

/* data.mean and data.std: both or neither, one value per channel, not beside standardize. */
static int check_normalize(const Doc *d, const Section *data, const CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    if (!cfg->n_mean && !cfg->n_std) return 0;
    if (!cfg->n_mean || !cfg->n_std) {
        const char *has = cfg->n_mean ? "mean" : "std", *lacks = cfg->n_mean ? "std" : "mean";
        return cnn_config_fail(d->err, key_where(d, data, has, where, sizeof where),
                               "%s needs %s too: pixels become (x/255 - mean[c]) / std[c]", has, lacks);
    }
    const char *keys[2] = {"mean", "std"};
    const int n[2] = {cfg->n_mean, cfg->n_std};
    for (int i = 0; i < 2; i++)
        if (n[i] != cfg->channels)
            return cnn_config_fail(d->err, key_where(d, data, keys[i], where, sizeof where),
                                   "%s has %d value%s for %d channel%s: one per channel", keys[i], n[i],
                                   n[i] == 1 ? "" : "s", cfg->channels, cfg->channels == 1 ? "" : "s");
    if (cfg->standardize)
        return cnn_config_fail(d->err, key_where(d, data, "mean", where, sizeof where),
                               "mean and std with standardize = true: both normalise the pixels, choose one");
    return 0;
}

/* [data] defaults that depend on the format, then the crop against the image, then the normalisation. */
static int data_defaults(const Doc *d, const Fixed *fx, CnnConfig *cfg)
{
    const int cifar = cfg->format == CNN_DATA_CIFAR10;
    if (!given(fx, FIXED_DATA, "height")) cfg->height = cifar ? 32 : 28;
    if (!given(fx, FIXED_DATA, "width")) cfg->width = cifar ? 32 : 28;
    if (!given(fx, FIXED_DATA, "channels")) cfg->channels = cifar ? 3 : 1;
    if (!given(fx, FIXED_DATA, "num_classes")) cfg->num_classes = 10;
    if (!given(fx, FIXED_DATA, "train"))
        snprintf(cfg->train, sizeof cfg->train, "%s",
                 cifar ? "data_batch_1.bin,data_batch_2.bin,data_batch_3.bin,"
                         "data_batch_4.bin,data_batch_5.bin"
                       : "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz");
    if (!given(fx, FIXED_DATA, "test"))
        snprintf(cfg->test, sizeof cfg->test, "%s",
                 cifar ? "test_batch.bin" : "t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz");
    if (cfg->crop > cfg->height || cfg->crop > cfg->width) {
        char where[CNN_PATH_LEN + 64];
        key_where(d, fx->s[FIXED_DATA], "crop", where, sizeof where);
        return cnn_config_fail(d->err, where, "crop %d is larger than the %dx%d image", cfg->crop,
                               cfg->height, cfg->width);
    }
    return check_pad(d, fx->s[FIXED_DATA], cfg) || check_normalize(d, fx->s[FIXED_DATA], cfg) ? -1 : 0;
}

/* [train]'s learning rate schedule against the keys it needs. */
static int check_schedule(const Doc *d, const Section *train, const CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    for (int i = 1; i < cfg->n_boundaries; i++)
        if (cfg->boundaries[i] <= cfg->boundaries[i - 1])
            return cnn_config_fail(d->err, key_where(d, train, "boundaries", where, sizeof where),
                                   "boundaries must be strictly increasing steps: %ld follows %ld", cfg->boundaries[i],
                                   cfg->boundaries[i - 1]);
    if (cfg->lr_schedule == CNN_LR_PIECEWISE) {
        if (cfg->n_boundaries == 0)
            return cnn_config_fail(d->err, key_where(d, train, "boundaries", where, sizeof where),
                                   "lr_schedule piecewise needs boundaries (the steps where the rate drops, e.g. "
                                   "'boundaries = 32000, 48000')");
        if (!(cfg->decay_rate > 0.0))
            return cnn_config_fail(d->err, key_where(d, train, "decay_rate", where, sizeof where),
                                   "lr_schedule piecewise needs decay_rate > 0 (the factor at each boundary)");
        return 0;
    }
    if (cfg->lr_schedule == CNN_LR_LINEAR || cfg->n_knots || cfg->n_knot_values) {
        if (cfg->n_knots < 2 || cfg->n_knots != cfg->n_knot_values)
            return cnn_config_fail(d->err, key_where(d, train, "knots", where, sizeof where),
                                   "lr_schedule linear needs knots (fractions of the run's steps) and knot_values (the "
                                   "multipliers of lr there), two or more of each and as many of one as of the other, "
                                   "e.g. 'knots = 0, 0.23, 1' and 'knot_values = 0.2, 1, 0.07'");
        for (int i = 1; i < cfg->n_knots; i++)
            if (cfg->knots[i] <= cfg->knots[i - 1])
                return cnn_config_fail(d->err, key_where(d, train, "knots", where, sizeof where),
                                       "knots must be strictly increasing fractions: %g follows %g",
                                       (double)cfg->knots[i], (double)cfg->knots[i - 1]);
        if (cfg->lr_schedule != CNN_LR_LINEAR)
            return cnn_config_fail(d->err, key_where(d, train, "knots", where, sizeof where),
                                   "knots and knot_values belong to lr_schedule = linear");
        return 0;
    }
    if (cfg->lr_schedule != CNN_LR_CONSTANT && cfg->decay_steps <= 0)
        return cnn_config_fail(d->err, key_where(d, train, "decay_steps", where, sizeof where),
                               "lr_schedule %s needs decay_steps > 0",
                               cnn_config_schedules[cfg->lr_schedule]);
    if (cfg->lr_schedule == CNN_LR_EXPONENTIAL && !(cfg->decay_rate > 0.0))
        return cnn_config_fail(d->err, key_where(d, train, "decay_rate", where, sizeof where),
                               "lr_schedule exponential needs decay_rate > 0");
    if (cfg->lr_schedule == CNN_LR_COSINE && cfg->decay_rate > 1.0)
        return cnn_config_fail(d->err, key_where(d, train, "decay_rate", where, sizeof where),
                               "lr_schedule cosine takes decay_rate (the final fraction of lr) in [0, 1]");
    return 0;
}

/* Levenshtein distance of two short names, for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    int prev[CNN_NAME_LEN + 1], cur[CNN_NAME_LEN + 1];
    const int la = (int)strlen(a), lb = (int)strlen(b);
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int v = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < v) v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

/* The layer called name (or -1 for "input", the image); -2 if there is none. */
static int layer_index(const CnnConfig *cfg, const char *name)
{
    if (!strcmp(name, "input")) return -1;
    for (int i = 0; i < cfg->n_layers; i++)
        if (!strcmp(cfg->layers[i].name, name)) return i;
    return -2;
}

/* Layer i's `input` into l->in: names separated by commas, each a layer or "input"; without the key, the
 * section before it. The count must suit the type; a layer may not read itself or one name twice. */
static int resolve_inputs(const Doc *d, const Section *s, CnnConfig *cfg, int i)
{
    CnnLayerSpec *l = &cfg->layers[i];
    char where[CNN_PATH_LEN + 64];
    /* a layer a resblock section made takes its inputs from the expansion, named at the section */
    const Entry *e = l->input[0] ? cnn_config_find_entry(s, "input") : NULL;
    if (l->input[0] && (!e || strcmp(e->value, l->input) != 0)) e = NULL;
    const int given = l->input[0] != 0;
    const char *type = cnn_layer_type_name(l->type);
    int lo, hi;
    cnn_layer_type_inputs(l->type, &lo, &hi);
    l->n_in = 0;
    if (!given) {
        l->in[l->n_in++] = i - 1;
    } else {
        if (e) cnn_config_entry_where(d, e, where, sizeof where);
        else cnn_config_section_where(d, s, where, sizeof where);
        const char *p = l->input;
        while (*p) {
            while (*p == ' ' || *p == '\t') p++;
            const char *q = p;
            while (*q && *q != ',') q++;
            const char *end = q;
            while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
            char name[CNN_NAME_LEN];
            if (end == p || end - p >= CNN_NAME_LEN)
                return cnn_config_fail(d->err, where, "[%s]: bad input list '%s': expected layer names separated by commas",
                                       l->name, l->input);
            memcpy(name, p, (size_t)(end - p));
            name[end - p] = 0;
            int j = layer_index(cfg, name);
            if (j == i) return cnn_config_fail(d->err, where, "[%s]: a layer cannot take its own output", l->name);
            if (j == -2) {
                const char *best = NULL;
                int bd = 3;
                for (int k = 0; k < cfg->n_layers; k++) {
                    int dist = edit_distance(name, cfg->layers[k].name);
                    if (k != i && dist < bd) bd = dist, best = cfg->layers[k].name;
                }
                if (best)
                    return cnn_config_fail(d->err, where, "[%s]: input '%s' is not a layer of this config (did you mean '%s'?)",
                                           l->name, name, best);
                return cnn_config_fail(d->err, where, "[%s]: input '%s' is not a layer of this config ('input' is the image)",
                                       l->name, name);
            }
            for (int k = 0; k < l->n_in; k++)
                if (l->in[k] == j) return cnn_config_fail(d->err, where, "[%s]: input '%s' named twice", l->name, name);
            if (l->n_in == hi)
                return cnn_config_fail(d->err, where, "[%s]: %s layers take at most %d input%s", l->name, type, hi,
                                       hi > 1 ? "s" : "");
            l->in[l->n_in++] = j;
            p = *q ? q + 1 : q;
        }
    }
    if (l->n_in < lo) {
        if (!given) cnn_config_section_where(d, s, where, sizeof where);
        return cnn_config_fail(d->err, where, "[%s]: %s layers take at least %d inputs (input = a, b)", l->name, type,
                               lo);
    }
    return 0;
}

/* The order forward runs the layers in: each after its inputs, ties by file order (so a config in
 * file order runs in file order). A cycle is an error naming a layer on it. */
static int topological_order(const Doc *d, CnnConfig *cfg)
{
    const int n = cfg->n_layers;
    int pending[CNN_MAX_LAYERS], done[CNN_MAX_LAYERS] = {0};
    for (int i = 0; i < n; i++) {
        pending[i] = 0;
        for (int k = 0; k < cfg->layers[i].n_in; k++) pending[i] += cfg->layers[i].in[k] >= 0;
    }
    for (int pos = 0; pos < n; pos++) {
        int next = -1;
        for (int i = 0; i < n && next < 0; i++)
            if (!done[i] && pending[i] == 0) next = i;
        if (next < 0) {
            int i = 0;
            while (done[i]) i++;
            const CnnLayerSpec *l = &cfg->layers[i];
            return cnn_err(d->err, "%s:%d: [%s]: the inputs form a cycle: this layer depends on its own output",
                           d->file, l->line, l->name);
        }
        done[next] = 1;
        cfg->order[pos] = next;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < cfg->layers[i].n_in; k++) pending[i] -= cfg->layers[i].in[k] == next;
    }
    return 0;
}

/* A layer other than the last whose output no layer takes: computed for nothing, worth a word. */
static void unused_warning(const Doc *d, CnnConfig *cfg)
{
    cfg->warning[0] = 0;
    for (int i = 0; i + 1 < cfg->n_layers; i++) {
        int used = 0;
        for (int j = 0; j < cfg->n_layers && !used; j++)
            for (int k = 0; k < cfg->layers[j].n_in; k++) used |= cfg->layers[j].in[k] == i;
        if (!used) {
            snprintf(cfg->warning, sizeof cfg->warning, "%s:%d: [%s]: warning: no layer takes this layer's output",
                     d->file, cfg->layers[i].line, cfg->layers[i].name);
            return;
        }
    }
}

/* ---- resblock: a residual stage written as one section, expanded into the primitive layers ---- */

/* A [section] with type = resblock: `repeat` basic blocks of He et al. (2016), each conv3x3 -> batchnorm
 * -> act -> conv3x3 -> batchnorm, plus the shortcut, -> add -> act. The first block has `stride`; where
 * it is not 1 the shortcut changes shape: option A (`shortcut = A`, He et al.'s choice for CIFAR-10)
 * subsamples (a 1x1 max-pool of that stride) and pads the channels with zeros, option B projects (a 1x1
 * convolution of that stride and a batchnorm); elsewhere it is the identity. Block j of [stage] is made
 * of layers stage_j_conv1, stage_j_bn1, ..., its output is stage_j, the last block's is [stage] itself,
 * so `input = stage` and the chain go on from the whole stage. */
typedef struct {
    int filters, stride, repeat, shortcut_b;
    CnnActivation act;
    CnnInitKind init;
    float stddev, wl, momentum, epsilon;
    char input[CNN_INPUT_LEN];
} ResBlock;

#define RB(f) offsetof(ResBlock, f)
static const char *const shortcut_names[] = {"A", "B", NULL};
static const KeySpec resblock_keys[] = {
    {"filters", CNN_KEY_NETWORK, K_INT, RB(filters), 1, HUGE_VAL, 0, 0, NULL, 0, 0},
    {"stride", CNN_KEY_NETWORK, K_INT, RB(stride), 1, HUGE_VAL, 0, 0, NULL, 0, 0},
    {"repeat", CNN_KEY_NETWORK, K_INT, RB(repeat), 1, CNN_MAX_LAYERS, 0, 0, NULL, 0, 0},
    {"shortcut", CNN_KEY_NETWORK, K_ENUM, RB(shortcut_b), 0, 0, 0, 0, shortcut_names, 0, 0},
    {"activation", CNN_KEY_NETWORK, K_ENUM, RB(act), 0, 0, 0, 0, cnn_config_act_names, 0, 0},
    {"init", CNN_KEY_NETWORK, K_ENUM, RB(init), 0, 0, 0, 0, cnn_config_init_names, 0, 0},
    {"stddev", CNN_KEY_NETWORK, K_FLOAT, RB(stddev), 0, HUGE_VAL, 0, 0, NULL, 0, 0},
    {"wl", CNN_KEY_NETWORK, K_FLOAT, RB(wl), 0, HUGE_VAL, 0, 0, NULL, 0, 0},
    {"momentum", CNN_KEY_NETWORK, K_FLOAT, RB(momentum), 0, 1, 0, 0, NULL, 0, 0},
    {"epsilon", CNN_KEY_NETWORK, K_FLOAT, RB(epsilon), 0, HUGE_VAL, 1, 0, NULL, 0, 0},
    {"input", CNN_KEY_NETWORK, K_STR, RB(input), 0, 0, 0, 0, NULL, CNN_INPUT_LEN, 0},
};
#define N_RESBLOCK_KEYS ((int)(sizeof resblock_keys / sizeof resblock_keys[0]))

/* The next layer of an expansion: type t called name, at the section's line, taking `input`. */
static CnnLayerSpec *expand_one(const Doc *d, const Section *s, CnnConfig *cfg, CnnLayerType t, const char *name,
                                const char *input)
{
    if (cfg->n_layers == CNN_MAX_LAYERS) {
        char where[CNN_PATH_LEN + 64];
        cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                        "[%s] makes the network more than %d layers", s->name, CNN_MAX_LAYERS);
        return NULL;
    }
    CnnLayerSpec *l = &cfg->layers[cfg->n_layers++];
    cnn_config_layer_defaults(l, t);
    if (strlen(name) >= sizeof l->name || strlen(input) >= sizeof l->input) {
        char where[CNN_PATH_LEN + 64];
        cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                        "[%s]: the section name is too long for the names of its layers", s->name);
        return NULL;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->input, sizeof l->input, "%s", input);
    l->line = s->line;
    return l;
}

static CnnLayerSpec *expand_conv(const Doc *d, const Section *s, CnnConfig *cfg, const ResBlock *rb, const char *name,
                                 const char *input, int size, int stride)
{
    CnnLayerSpec *l = expand_one(d, s, cfg, CNN_LAYER_CONV, name, input);
    if (!l) return NULL;
    l->filters = rb->filters;
    l->size = size;
    l->stride = stride;
    l->same = 1;
    l->use_bias = 0;
    l->init = rb->init;
    l->stddev = rb->stddev;
    l->wl = rb->wl;
    return l;
}

static CnnLayerSpec *expand_bn(const Doc *d, const Section *s, CnnConfig *cfg, const ResBlock *rb, const char *name,
                               const char *input)
{
    CnnLayerSpec *l = expand_one(d, s, cfg, CNN_LAYER_BATCHNORM, name, input);
    if (!l) return NULL;
    l->momentum = rb->momentum;
    l->epsilon = rb->epsilon;
    return l;
}

static int expand_resblock(const Doc *d, const Section *s, CnnConfig *cfg, const Section **secs)
{
    char where[CNN_PATH_LEN + 64], what[CNN_NAME_LEN + 32];
    ResBlock rb = {.stride = 1, .repeat = 1, .act = CNN_ACT_RELU, .init = CNN_INIT_HE_NORMAL, .stddev = 0.05f,
                   .momentum = 0.1f, .epsilon = 1e-5f};
    unsigned char seen[N_RESBLOCK_KEYS] = {0};
    snprintf(what, sizeof what, "resblock [%s]", s->name);
    for (int j = 0; j < s->n; j++) {
        const Entry *e = &s->e[j];
        if (!strcmp(e->key, "type")) continue;
        int i = table_index(resblock_keys, N_RESBLOCK_KEYS, e->key);
        if (i < 0) {
            char keys[512] = "";
            for (int k = 0; k < N_RESBLOCK_KEYS; k++) {
                size_t len = strlen(keys);
                snprintf(keys + len, sizeof keys - len, "%s%s", k ? ", " : "", resblock_keys[k].key);
            }
            return cnn_config_fail(d->err, cnn_config_entry_where(d, e, where, sizeof where),
                                   "unknown key '%s' in %s (its keys: type, %s)", e->key, what, keys);
        }
        if (cnn_config_set_value(d, e, &resblock_keys[i], &rb, what)) return -1;
        seen[i] = 1;
    }
    if (!seen[0])
        return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where), "%s needs 'filters'", what);
    const int first = cfg->n_layers;
    char in[CNN_INPUT_LEN], name[4 * CNN_NAME_LEN], out[4 * CNN_NAME_LEN];
    if (rb.input[0]) snprintf(in, sizeof in, "%s", rb.input);
    else if (first == 0) snprintf(in, sizeof in, "input");
    else snprintf(in, sizeof in, "%s", cfg->layers[first - 1].name);
    for (int b = 1; b <= rb.repeat; b++) {
        const int stride = b == 1 ? rb.stride : 1;
        char pre[2 * CNN_NAME_LEN], c1[3 * CNN_NAME_LEN], b2[3 * CNN_NAME_LEN], sc[CNN_INPUT_LEN];
        snprintf(pre, sizeof pre, "%s_%d", s->name, b);
        snprintf(c1, sizeof c1, "%s_conv1", pre);
        if (!expand_conv(d, s, cfg, &rb, c1, in, 3, stride)) return -1;
        snprintf(name, sizeof name, "%s_bn1", pre);
        if (!expand_bn(d, s, cfg, &rb, name, c1)) return -1;
        snprintf(out, sizeof out, "%s_act1", pre);
        CnnLayerSpec *a = expand_one(d, s, cfg, CNN_LAYER_ACT, out, name);
        if (!a) return -1;
        a->act = rb.act;
        snprintf(name, sizeof name, "%s_conv2", pre);
        if (!expand_conv(d, s, cfg, &rb, name, out, 3, 1)) return -1;
        snprintf(b2, sizeof b2, "%s_bn2", pre);
        if (!expand_bn(d, s, cfg, &rb, b2, name)) return -1;
        snprintf(sc, sizeof sc, "%s", in);
        if (stride != 1 && !rb.shortcut_b) {
            snprintf(name, sizeof name, "%s_down", pre);
            CnnLayerSpec *p = expand_one(d, s, cfg, CNN_LAYER_MAXPOOL, name, in);
            if (!p) return -1;
            p->size = 1;
            p->stride = stride;
            snprintf(sc, sizeof sc, "%s_pad", pre);
            CnnLayerSpec *pc = expand_one(d, s, cfg, CNN_LAYER_PAD_CHANNELS, sc, name);
            if (!pc) return -1;
            pc->channels = rb.filters;
        } else if (stride != 1) {
            snprintf(name, sizeof name, "%s_proj", pre);
            if (!expand_conv(d, s, cfg, &rb, name, in, 1, stride)) return -1;
            snprintf(sc, sizeof sc, "%s_projbn", pre);
            if (!expand_bn(d, s, cfg, &rb, sc, name)) return -1;
        }
        snprintf(name, sizeof name, "%s_add", pre);
        char both[3 * CNN_NAME_LEN + CNN_INPUT_LEN + 4];
        snprintf(both, sizeof both, "%s, %s", b2, sc);
        if (!expand_one(d, s, cfg, CNN_LAYER_ADD, name, both)) return -1;
        snprintf(out, sizeof out, "%s", b == rb.repeat ? s->name : pre);
        a = expand_one(d, s, cfg, CNN_LAYER_ACT, out, name);
        if (!a) return -1;
        a->act = rb.act;
        snprintf(in, sizeof in, "%s", out);
    }
    for (int i = first; i < cfg->n_layers; i++) secs[i] = s;
    return 0;
}

/* [train]'s length: steps or epochs, exactly one of them. */
static int check_length(const Doc *d, const Fixed *fx)
{
    char where[CNN_PATH_LEN + 64];
    const Section *train = fx->s[FIXED_TRAIN];
    const int steps = given(fx, FIXED_TRAIN, "steps"), epochs = given(fx, FIXED_TRAIN, "epochs");
    if (steps && epochs)
        return cnn_config_fail(d->err, key_where(d, train, "epochs", where, sizeof where),
                               "steps and epochs are both given: give one (epochs = E trains "
                               "ceil(E * training images / batch) steps)");
    if (!steps && !epochs)
        return cnn_config_fail(d->err, cnn_config_section_where(d, train, where, sizeof where),
                               "[train] needs 'steps' or 'epochs'");
    return 0;
}

/* [train]'s optimizer against the keys that only one optimizer takes. */
static int check_optimizer(const Doc *d, const Section *train, const CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    if (cfg->nesterov && cfg->optimizer != CNN_OPT_SGD)
        return cnn_config_fail(d->err, key_where(d, train, "nesterov", where, sizeof where),
                               "nesterov = true needs optimizer = sgd (Nesterov momentum is an SGD method)");

    return 0;
}

/* Every section other than the fixed ones is a layer (or, resblock, several), in file order; then the
 * graph their inputs make. */
static int apply_layers(const Doc *d, CnnConfig *cfg)
{
    cfg->n_layers = 0;
    const Section *secs[CNN_MAX_LAYERS];
    for (int i = 0; i < d->n_sec; i++) {
        const Section *s = &d->sec[i];
        if (cnn_config_is_fixed(s->name)) continue;
        if (!strcmp(s->name, "input")) {
            char where[CNN_PATH_LEN + 64];
            return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                                   "[input] is the image's name in `input` keys: give the layer another name");
        }
        const Entry *te = cnn_config_find_entry(s, "type");
        if (te && !strcmp(te->value, "resblock")) {
            if (expand_resblock(d, s, cfg, secs)) return -1;
            continue;
        }
        if (cfg->n_layers == CNN_MAX_LAYERS) {
            char where[CNN_PATH_LEN + 64];
            return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where), "more than %d layers",
                                   CNN_MAX_LAYERS);
        }
        secs[cfg->n_layers] = s;
        if (apply_layer(d, s, &cfg->layers[cfg->n_layers])) return -1;
        cfg->n_layers++;
    }
    if (cfg->n_layers == 0)
        return cnn_err(d->err, "%s: no layers (every section other than [run], [data], [train] is a layer)",
                       d->file);
    for (int i = 0; i < cfg->n_layers; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(cfg->layers[i].name, cfg->layers[j].name)) {
                char where[CNN_PATH_LEN + 64];
                return cnn_config_fail(d->err, cnn_config_section_where(d, secs[i], where, sizeof where),
                                       "two layers are called '%s' (a resblock names its layers SECTION_N_...)",
                                       cfg->layers[i].name);
            }
    for (int i = 0; i < cfg->n_layers; i++)
        if (resolve_inputs(d, secs[i], cfg, i)) return -1;
    if (topological_order(d, cfg)) return -1;
    unused_warning(d, cfg);
    return 0;
}

/* The keys that say how a layer trains, against the recipe: lr_scale needs SGD; data.flip_mode alternate
 * needs flips. */
static int check_layer_training(const Doc *d, const Fixed *fx, const CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    for (int i = 0; i < cfg->n_layers; i++)
        if (cfg->layers[i].lr_scale != 1.0f && cfg->optimizer != CNN_OPT_SGD)
            return cnn_config_fail(d->err, key_where(d, fx->s[FIXED_TRAIN], "optimizer", where, sizeof where),
                                   "layer [%s] has lr_scale = %g, which needs optimizer = sgd (Adam's steps do not "
                                   "scale with its gradients)",
                                   cfg->layers[i].name, (double)cfg->layers[i].lr_scale);
    if (cfg->tta > 0 && cfg->crop > 0 && cfg->crop > cfg->height - 2)
        return cnn_config_fail(d->err, key_where(d, fx->s[FIXED_DATA], "tta", where, sizeof where),
                               "tta's views move the central crop by one pixel: crop must be at most the image's "
                               "size less 2 (crop %d of %dx%d)",
                               cfg->crop, cfg->height, cfg->width);
    if (cfg->flip_mode == CNN_FLIP_ALTERNATE && !cfg->flip)
        return cnn_config_fail(d->err, key_where(d, fx->s[FIXED_DATA], "flip_mode", where, sizeof where),
                               "flip_mode = alternate needs flip = true");
    return 0;
}

static int interpret(const Doc *d, CnnConfig *cfg)
{
    Fixed fx;
    memset(&fx, 0, sizeof fx);
    for (int t = 0; t < N_FIXED; t++) {
        int i = cnn_config_find_section(d, cnn_config_fixed[t].section);
        fx.s[t] = i < 0 ? NULL : &d->sec[i];
    }
    config_defaults(cfg);
    if (apply_fixed_sections(d, &fx, cfg) || check_length(d, &fx) || run_defaults(d, &fx, cfg) ||
        data_defaults(d, &fx, cfg) || check_schedule(d, fx.s[FIXED_TRAIN], cfg) ||
        check_optimizer(d, fx.s[FIXED_TRAIN], cfg) || apply_layers(d, cfg))
        return -1;
    return check_layer_training(d, &fx, cfg);
}

int cnn_config_parse(CnnConfig *cfg, const char *text, const char *name, const char *const *overrides,
                     int n_overrides, CnnErr *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!name) name = "<config>";
    if (strlen(name) >= sizeof cfg->path) return cnn_err(err, "%s: path too long", name);
    snprintf(cfg->path, sizeof cfg->path, "%s", name);

    Doc *d = cnn_calloc(1, sizeof *d);
    int rc = cnn_config_doc_read(d, text, name, err);
    for (int i = 0; rc == 0 && i < n_overrides; i++) rc = cnn_config_doc_override(d, overrides[i], err);
    if (rc == 0) rc = interpret(d, cfg);
    cnn_config_doc_free(d);
    free(d);
    return rc;
}

int cnn_config_load(CnnConfig *cfg, const char *path, const char *const *overrides, int n_overrides,
                    CnnErr *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_err(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = cnn_malloc(cap);
    for (;;) {
        if (n + 1 == cap) {
            cap = cnn_mul_size(cap, 2);
            char *nb = realloc(buf, cap);
            if (!nb) CNN_DIE("out of memory reading %s", path);
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cnn_err(err, "%s: read error", path);
    }
    buf[n] = 0;
    const char *nul = memchr(buf, 0, n);
    if (nul) { /* the line it is on, and its byte offset */
        int line = 1;
        for (const char *p = buf; p < nul; p++) line += *p == '\n';
        const long off = (long)(nul - buf);
        free(buf);
        return cnn_err(err, "%s:%d: NUL byte (offset %ld) in a text file", path, line, off);
    }
    int rc = cnn_config_parse(cfg, buf, path, overrides, n_overrides, err);
    free(buf);
    return rc;
}
