/* interpret: pass 2 of the config parser, a Doc (document.c) → a validated CnnConfig. The fixed
 * sections go through their key tables, then the defaults that depend on other keys (the run name on
 * the file name, image size and file names on the data format), then the checks across keys, then
 * every other section as a layer, in file order, through its type's table. The first problem ends it,
 * named by its entry ("FILE:LINE" or "--set TEXT") or, for a missing key, by its section. Also here:
 * cnn_config_parse and cnn_config_load, which run both passes. */
#include <errno.h>
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

static void layer_defaults(CnnLayerSpec *l)
{
    l->stride = 1;
    l->same = 0;
    l->act = CNN_ACT_LINEAR;
    l->init = CNN_INIT_TRUNCATED_NORMAL;
    l->stddev = 0.05f; /* Keras' TruncatedNormal default; the shipped configs set their own */
    if (l->type == CNN_LAYER_LRN) { /* TensorFlow's local_response_normalization defaults */
        l->radius = 5;
        l->lrn_bias = 1.0f;
        l->alpha = 1.0f;
        l->beta = 0.5f;
    }
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
        elsewhere |= table_index(cnn_config_layer_keys[t].keys, cnn_config_layer_keys[t].n, e->key) >= 0;
    return cnn_config_fail(d->err, cnn_config_entry_where(d, e, where, sizeof where),
                           "%s '%s' %s %s (its keys: type, %s)", elsewhere ? "key" : "unknown key", e->key,
                           elsewhere ? "does not belong to" : "in", what, keys);
}

static int apply_layer(const Doc *d, const Section *s, CnnLayerSpec *l)
{
    char where[CNN_PATH_LEN + 64], what[CNN_NAME_LEN + 32];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", s->name);
    l->line = s->line;
    const Entry *te = cnn_config_find_entry(s, "type");
    if (!te)
        return cnn_config_fail(d->err, cnn_config_section_where(d, s, where, sizeof where),
                               "layer [%s] needs 'type'", s->name);
    int type = -1;
    for (int i = 0; i < N_LAYER_TYPES; i++)
        if (!strcmp(te->value, cnn_config_layer_types[i])) type = i;
    if (type < 0) {
        char expect[128];
        cnn_config_names_text(cnn_config_layer_types, expect, sizeof expect);
        return cnn_config_fail(d->err, cnn_config_entry_where(d, te, where, sizeof where),
                               "unknown layer type '%s' in [%s]: expected %s", te->value, s->name, expect);
    }
    l->type = (CnnLayerType)type;
    layer_defaults(l);
    const LayerKeys *lk = &cnn_config_layer_keys[type];
    unsigned char seen[MAX_TABLE] = {0};
    snprintf(what, sizeof what, "%s layer [%s]", cnn_config_layer_types[type], s->name);
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

/* Every section other than the fixed ones is a layer, in file order. */
static int apply_layers(const Doc *d, CnnConfig *cfg)
{
    cfg->n_layers = 0;
    for (int i = 0; i < d->n_sec; i++) {
        const Section *s = &d->sec[i];
        if (cnn_config_is_fixed(s->name)) continue;
        CNN_ASSERT(cfg->n_layers < CNN_MAX_LAYERS);
        if (apply_layer(d, s, &cfg->layers[cfg->n_layers])) return -1;
        cfg->n_layers++;
    }
    if (cfg->n_layers == 0)
        return cnn_err(d->err, "%s: no layers (every section other than [run], [data], [train] is a layer)",
                       d->file);
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
        check_optimizer(d, fx.s[FIXED_TRAIN], cfg))
        return -1;
    return apply_layers(d, cfg);
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
