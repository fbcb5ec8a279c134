/* config: INI text (libinih) and "--set section.key=value" overrides → a validated CnnConfig.
 *
 * Parsing runs in two passes. Pass 1 turns the text into a document: sections in file order, each
 * with its (key, value, line) entries; overrides then replace or add entries as if they were in the
 * file, remembering their own text for messages. Pass 2 interprets the document through key tables
 * (one per fixed section and per layer type) that also drive cnn_config_to_ini, so the canonical
 * text always holds every key the parser knows.
 *
 * Debian's libinih has no INI_HANDLER_LINENO, so a reader callback feeds it one line at a time and
 * counts lines; it also sees every [section] header (libinih reports a section only when a key
 * follows it), strips leading blanks (no multi-line continuation surprises) and strips inline
 * comments starting with whitespace then ';' or '#'. Every user error returns -1 with a message
 * that starts "FILE:LINE: " or "--set TEXT: ". */
#include "cnn/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const layer_type_names[] = {"conv", "maxpool", "avgpool", "lrn", "dense", "dropout", NULL};
static const char *const act_names[] = {"linear", "relu", "tanh", "sigmoid", NULL};
static const char *const init_names[] = {"truncated_normal", "normal", "constant", NULL};
static const char *const format_names[] = {"cifar10", "idx", NULL};
static const char *const optimizer_names[] = {"adam", "sgd", NULL};
static const char *const conv_names[] = {"auto", "direct", "gemm", "winograd", "winograd2", NULL};
static const char *const schedule_names[] = {"constant", "exponential", "cosine", NULL};
static const char *const padding_names[] = {"valid", "same", NULL}; /* index = CnnLayerSpec.same */

#define N_LAYER_TYPES 6

const char *cnn_layer_type_name(CnnLayerType t)
{
    return (unsigned)t < N_LAYER_TYPES ? layer_type_names[t] : "?";
}

const char *cnn_activation_name(CnnActivation a)
{
    return (unsigned)a < 4 ? act_names[a] : "?";
}

/* ---- key tables ------------------------------------------------------------------------------ */

typedef enum { K_INT, K_LONG, K_U64, K_FLOAT, K_DOUBLE, K_BOOL, K_STR, K_ENUM, K_CONTRAST } KeyKind;

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
    size_t cap;               /* K_STR: buffer size */
} KeySpec;

#define INF HUGE_VAL
#define CFG(f) offsetof(CnnConfig, f)
#define LAY(f) offsetof(CnnLayerSpec, f)
#define NUM(c, k, kind, off, lo, hi, lo_open, hi_open) {k, c, kind, off, lo, hi, lo_open, hi_open, NULL, 0}
#define ENUMK(c, k, off, names) {k, c, K_ENUM, off, 0, 0, 0, 0, names, 0}
#define STRK(c, k, off) {k, c, K_STR, off, 0, 0, 0, 0, NULL, CNN_PATH_LEN}
#define NETWORK CNN_KEY_NETWORK
#define RECIPE CNN_KEY_RECIPE
#define TUNABLE CNN_KEY_TUNABLE
#define LOCAL CNN_KEY_LOCAL

static const KeySpec run_keys[] = {
    {"name", LOCAL, K_STR, CFG(name), 0, 0, 0, 0, NULL, CNN_NAME_LEN},
    NUM(RECIPE, "seed", K_U64, CFG(seed), 0, INF, 0, 0),
    STRK(LOCAL, "out_dir", CFG(out_dir)),
    NUM(LOCAL, "threads", K_INT, CFG(threads), 0, INF, 0, 0),
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
    NUM(RECIPE, "flip", K_BOOL, CFG(flip), 0, 1, 0, 0),
    NUM(RECIPE, "brightness", K_FLOAT, CFG(brightness), 0, INF, 0, 0),
    {"contrast", RECIPE, K_CONTRAST, CFG(contrast_lo), 0, INF, 0, 0, NULL, 0},
    NUM(RECIPE, "standardize", K_BOOL, CFG(standardize), 0, 1, 0, 0),
    NUM(LOCAL, "prefetch", K_INT, CFG(prefetch), 0, INF, 0, 0),
};

static const KeySpec train_keys[] = {
    NUM(RECIPE, "batch", K_INT, CFG(batch), 1, INF, 0, 0),
    NUM(TUNABLE, "steps", K_LONG, CFG(steps), 1, INF, 0, 0),
    ENUMK(RECIPE, "optimizer", CFG(optimizer), optimizer_names),
    NUM(TUNABLE, "lr", K_DOUBLE, CFG(lr), 0, INF, 1, 0),
    NUM(RECIPE, "momentum", K_DOUBLE, CFG(momentum), 0, INF, 0, 0),
    NUM(RECIPE, "beta1", K_DOUBLE, CFG(beta1), 0, 1, 0, 1),
    NUM(RECIPE, "beta2", K_DOUBLE, CFG(beta2), 0, 1, 0, 1),
    NUM(RECIPE, "epsilon", K_DOUBLE, CFG(epsilon), 0, INF, 1, 0),
    ENUMK(TUNABLE, "lr_schedule", CFG(lr_schedule), schedule_names),
    NUM(TUNABLE, "decay_rate", K_DOUBLE, CFG(decay_rate), 0, INF, 0, 0),
    NUM(TUNABLE, "decay_steps", K_LONG, CFG(decay_steps), 0, INF, 0, 0),
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
};

/* Layer keys are all NETWORK: they define the model. */
#define WEIGHT_KEYS                                                                                \
    ENUMK(NETWORK, "activation", LAY(act), act_names), ENUMK(NETWORK, "init", LAY(init), init_names), \
        NUM(NETWORK, "stddev", K_FLOAT, LAY(stddev), 0, INF, 0, 0),                                \
        NUM(NETWORK, "value", K_FLOAT, LAY(value), -INF, INF, 0, 0),                               \
        NUM(NETWORK, "bias", K_FLOAT, LAY(bias_init), -INF, INF, 0, 0),                            \
        NUM(NETWORK, "wl", K_FLOAT, LAY(wl), 0, INF, 0, 0)

static const KeySpec conv_keys[] = {
    NUM(NETWORK, "filters", K_INT, LAY(filters), 1, INF, 0, 0),
    NUM(NETWORK, "size", K_INT, LAY(size), 1, INF, 0, 0),
    NUM(NETWORK, "stride", K_INT, LAY(stride), 1, INF, 0, 0),
    ENUMK(NETWORK, "padding", LAY(same), padding_names),
    WEIGHT_KEYS,
};
static const KeySpec dense_keys[] = {
    NUM(NETWORK, "units", K_INT, LAY(units), 1, INF, 0, 0),
    WEIGHT_KEYS,
};
static const KeySpec pool_keys[] = {
    NUM(NETWORK, "size", K_INT, LAY(size), 1, INF, 0, 0),
    NUM(NETWORK, "stride", K_INT, LAY(stride), 1, INF, 0, 0),
    ENUMK(NETWORK, "padding", LAY(same), padding_names),
};
static const KeySpec lrn_keys[] = {
    NUM(NETWORK, "radius", K_INT, LAY(radius), 0, INF, 0, 0),
    NUM(NETWORK, "bias", K_FLOAT, LAY(lrn_bias), 0, INF, 1, 0),
    NUM(NETWORK, "alpha", K_FLOAT, LAY(alpha), 0, INF, 0, 0),
    NUM(NETWORK, "beta", K_FLOAT, LAY(beta), 0, INF, 0, 0),
};
static const KeySpec dropout_keys[] = {
    NUM(NETWORK, "keep", K_FLOAT, LAY(keep), 0, 1, 1, 0),
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct {
    const KeySpec *keys;
    int n;
    const char *required[2]; /* keys without a default */
} LayerKeys;

/* Indexed by CnnLayerType. */
static const LayerKeys layer_keys[N_LAYER_TYPES] = {
    {conv_keys, COUNT(conv_keys), {"filters", "size"}},
    {pool_keys, COUNT(pool_keys), {"size", NULL}},
    {pool_keys, COUNT(pool_keys), {"size", NULL}},
    {lrn_keys, COUNT(lrn_keys), {NULL, NULL}},
    {dense_keys, COUNT(dense_keys), {"units", NULL}},
    {dropout_keys, COUNT(dropout_keys), {"keep", NULL}},
};

/* The fixed sections' tables, in the order of the canonical text and of the hashes. */
typedef struct {
    const char *section;
    const KeySpec *keys;
    int n;
} FixedKeys;

#define N_FIXED 3
static const FixedKeys fixed_keys[N_FIXED] = {
    {"run", run_keys, COUNT(run_keys)},
    {"data", data_keys, COUNT(data_keys)},
    {"train", train_keys, COUNT(train_keys)},
};

#define MAX_TABLE 32 /* more than any table above has keys */

/* ---- pass 1: the document -------------------------------------------------------------------- */

typedef struct {
    char key[CNN_NAME_LEN];
    char *value;       /* malloc'd */
    int line;          /* line in the file, or 0 for an override */
    const char *ovr;   /* the override text when line == 0 */
} Entry;

typedef struct {
    char name[CNN_NAME_LEN];
    int line; /* of the [header]; 0 when an override created it */
    Entry *e;
    int n, cap;
} Section;

#define MAX_SECTIONS (3 + CNN_MAX_LAYERS)

typedef struct {
    const char *file;    /* name used in messages */
    const char *text;    /* reader position */
    int line;            /* lines handed to libinih so far */
    Section sec[MAX_SECTIONS];
    int n_sec;
    int cur;             /* section of the last header read, -1 before any */
    int err_line;        /* first error found by the reader/handler, 0 = none */
    CnnErr *err;
} Doc;

static int is_fixed(const char *name)
{
    return !strcmp(name, "run") || !strcmp(name, "data") || !strcmp(name, "train");
}

static int find_section(const Doc *d, const char *name)
{
    for (int i = 0; i < d->n_sec; i++)
        if (!strcmp(d->sec[i].name, name)) return i;
    return -1;
}

static Entry *find_entry(const Section *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].key, key)) return &s->e[i];
    return NULL;
}

/* "FILE:LINE" or "--set TEXT" for an entry. */
static const char *entry_where(const Doc *d, const Entry *e, char *buf, size_t n)
{
    if (e->line) snprintf(buf, n, "%s:%d", d->file, e->line);
    else snprintf(buf, n, "--set %s", e->ovr);
    return buf;
}

static const char *section_where(const Doc *d, const Section *s, char *buf, size_t n)
{
    if (s->line) snprintf(buf, n, "%s:%d", d->file, s->line);
    else snprintf(buf, n, "%s", d->file);
    return buf;
}

static int failv(CnnErr *err, const char *where, const char *fmt, va_list ap)
{
    char msg[CNN_ERR_LEN];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return cnn_err(err, "%s: %s", where, msg);
}

static int fail(CnnErr *err, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(CnnErr *err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    failv(err, where, fmt, ap);
    va_end(ap);
    return -1;
}

/* An error at the line the reader is on; the first one wins. */
static void fail_line(Doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_line(Doc *d, const char *fmt, ...)
{
    if (d->err_line) return;
    char where[CNN_PATH_LEN + 32];
    snprintf(where, sizeof where, "%s:%d", d->file, d->line);
    va_list ap;
    va_start(ap, fmt);
    failv(d->err, where, fmt, ap);
    va_end(ap);
    d->err_line = d->line;
}

static Section *add_section(Doc *d, const char *name, int line)
{
    Section *s = &d->sec[d->n_sec++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->line = line;
    return s;
}

static void add_entry(Section *s, const char *key, const char *value, int line, const char *ovr)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        Entry *e = realloc(s->e, cnn_mul_size((size_t)s->cap, sizeof *e));
        if (!e) CNN_DIE("out of memory");
        s->e = e;
    }
    Entry *e = &s->e[s->n++];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->value = strdup(value);
    if (!e->value) CNN_DIE("out of memory");
    e->line = line;
    e->ovr = ovr;
}

static void free_doc(Doc *d)
{
    for (int i = 0; i < d->n_sec; i++) {
        for (int j = 0; j < d->sec[i].n; j++) free(d->sec[i].e[j].value);
        free(d->sec[i].e);
    }
    d->n_sec = 0;
}

/* A section name becomes an HDF5 group and the left part of --set SECTION.KEY: no '.', '/', blanks. */
static int check_section_name(Doc *d, const char *name)
{
    if (!*name) {
        fail_line(d, "empty section name");
        return -1;
    }
    if (strlen(name) >= CNN_NAME_LEN) {
        fail_line(d, "section name '%s' is longer than %d characters", name, CNN_NAME_LEN - 1);
        return -1;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '.' || *p == '/' || isspace((unsigned char)*p) || !isprint((unsigned char)*p)) {
            fail_line(d, "section name '%s' may not contain '%c' (names are used in --set and HDF5 paths)",
                      name, *p);
            return -1;
        }
    }
    return 0;
}

/* A [header] line: registers the section. Returns 0, or -1 after recording the error. */
static int reader_header(Doc *d, char *line)
{
    char *close = strchr(line, ']');
    if (!close) {
        fail_line(d, "section header without ']'");
        return -1;
    }
    for (char *p = close + 1; *p; p++) {
        if (!isspace((unsigned char)*p)) {
            fail_line(d, "text after the section header");
            return -1;
        }
    }
    char name[CNN_PATH_LEN];
    char *b = line + 1;
    while (isspace((unsigned char)*b)) b++;
    size_t len = (size_t)(close - b);
    while (len && isspace((unsigned char)b[len - 1])) len--;
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, b, len);
    name[len] = 0;
    if (check_section_name(d, name)) return -1;
    int prev = find_section(d, name);
    if (prev >= 0) {
        fail_line(d, "duplicated section [%s] (first at line %d)", name, d->sec[prev].line);
        return -1;
    }
    int n_layers = 0;
    for (int i = 0; i < d->n_sec; i++) n_layers += !is_fixed(d->sec[i].name);
    if (!is_fixed(name) && n_layers == CNN_MAX_LAYERS) {
        fail_line(d, "more than %d layers", CNN_MAX_LAYERS);
        return -1;
    }
    add_section(d, name, d->line);
    d->cur = d->n_sec - 1;
    return 0;
}

/* libinih's ini_reader: one line per call, the way we want libinih to see it. */
static char *doc_reader(char *str, int num, void *stream)
{
    Doc *d = stream;
    if (d->err_line || !*d->text) return NULL;
    d->line++;
    const char *s = d->text;
    size_t len = strcspn(s, "\n");
    d->text = s[len] ? s + len + 1 : s + len;
    if (len && s[len - 1] == '\r') len--;
    while (len && (*s == ' ' || *s == '\t')) s++, len--;

    /* Inline comments: ';' or '#' after whitespace, or at the start. */
    size_t keep = len;
    for (size_t i = 0; i < len; i++) {
        if ((s[i] == ';' || s[i] == '#') && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            keep = i;
            break;
        }
    }
    if (keep + 2 > (size_t)num) {
        fail_line(d, "line longer than %d characters", num - 2);
        return NULL;
    }
    memcpy(str, s, keep);
    str[keep] = 0;
    if (str[0] == '[' && reader_header(d, str)) return NULL;
    str[keep] = '\n';
    str[keep + 1] = 0;
    return str;
}

static int doc_handler(void *user, const char *section, const char *key, const char *value)
{
    (void)section; /* libinih truncates long names; our reader saw the full header */
    Doc *d = user;
    if (d->err_line) return 0;
    if (d->cur < 0) {
        fail_line(d, "key '%s' before any [section]", key);
        return 0;
    }
    Section *s = &d->sec[d->cur];
    Entry *prev = find_entry(s, key);
    if (prev) {
        fail_line(d, "duplicated key '%s' in [%s] (first at line %d)", key, s->name, prev->line);
        return 0;
    }
    if (strlen(key) >= CNN_NAME_LEN) {
        fail_line(d, "unknown key '%s' in [%s]", key, s->name);
        return 0;
    }
    add_entry(s, key, value, d->line, NULL);
    return 1;
}

static int apply_override(Doc *d, const char *ovr, CnnErr *err)
{
    const char *eq = strchr(ovr, '=');
    const char *dot = strchr(ovr, '.');
    char where[CNN_PATH_LEN + 32];
    snprintf(where, sizeof where, "--set %s", ovr);
    if (!eq || !dot || dot > eq) return fail(err, where, "expected SECTION.KEY=VALUE");
    char sec[CNN_NAME_LEN], key[CNN_NAME_LEN];
    size_t ls = (size_t)(dot - ovr), lk = (size_t)(eq - dot - 1);
    if (ls == 0 || lk == 0) return fail(err, where, "expected SECTION.KEY=VALUE");
    if (ls >= sizeof sec || lk >= sizeof key) return fail(err, where, "section or key name too long");
    memcpy(sec, ovr, ls);
    sec[ls] = 0;
    memcpy(key, dot + 1, lk);
    key[lk] = 0;
    const char *value = eq + 1;
    for (const char *p = value; *p; p++)
        if (*p == '\n' || *p == '\r') return fail(err, where, "value contains a line break");
    int i = find_section(d, sec);
    if (i < 0) {
        if (!is_fixed(sec)) return fail(err, where, "unknown section [%s]", sec);
        add_section(d, sec, 0);
        i = d->n_sec - 1;
    }
    Entry *e = find_entry(&d->sec[i], key);
    if (e) {
        char *v = strdup(value);
        if (!v) CNN_DIE("out of memory");
        free(e->value);
        e->value = v;
        e->line = 0;
        e->ovr = ovr;
    } else {
        add_entry(&d->sec[i], key, value, 0, ovr);
    }
    return 0;
}

/* ---- pass 2: values --------------------------------------------------------------------------- */

static void range_text(const KeySpec *k, char *buf, size_t n)
{
    int integer = k->kind == K_INT || k->kind == K_LONG || k->kind == K_U64;
    const char *what = integer ? "an integer" : "a number";
    if (k->lo == -INF && k->hi == INF) snprintf(buf, n, "%s", what);
    else if (k->hi == INF) snprintf(buf, n, "%s %s %g", what, k->lo_open ? ">" : ">=", k->lo);
    else
        snprintf(buf, n, "%s in %c%g, %g%c", what, k->lo_open ? '(' : '[', k->lo, k->hi,
                 k->hi_open ? ')' : ']');
}

static int in_range(const KeySpec *k, double v)
{
    if (k->lo_open ? !(v > k->lo) : !(v >= k->lo)) return 0;
    if (k->hi_open ? !(v < k->hi) : !(v <= k->hi)) return 0;
    return 1;
}

/* Strict number syntax: the whole value, no blanks, finite. */
static int parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *s, long long *out)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "1", "yes"}, *const f[] = {"false", "0", "no"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, t[i])) return *out = 1, 0;
        if (!strcasecmp(s, f[i])) return *out = 0, 0;
    }
    return -1;
}

static void names_text(const char *const *names, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", i ? "|" : "", names[i]);
    }
}

/* Stores e's value into base according to k; what names the place ("[train]", "layer [conv1]"). */
static int set_value(const Doc *d, const Entry *e, const KeySpec *k, void *base, const char *what)
{
    char where[CNN_PATH_LEN + 64], expect[256];
    entry_where(d, e, where, sizeof where);
    const char *v = e->value;
    char *p = (char *)base + k->off;
    if (!*v) return fail(d->err, where, "empty value for '%s' in %s", k->key, what);
    switch (k->kind) {
    case K_INT:
    case K_LONG: {
        long long x;
        long long max = k->kind == K_INT ? INT_MAX : LONG_MAX;
        if (parse_ll(v, &x) || x > max || !in_range(k, (double)x)) goto bad;
        if (k->kind == K_INT) *(int *)(void *)p = (int)x;
        else *(long *)(void *)p = (long)x;
        return 0;
    }
    case K_U64: {
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)v[0])) goto bad;
        unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno == ERANGE) goto bad;
        *(uint64_t *)(void *)p = (uint64_t)x;
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double x;
        if (parse_double(v, &x)) goto bad;
        if (k->kind == K_FLOAT) {
            if (fabs(x) > (double)FLT_MAX) goto bad;
            float f = (float)x;
            if (!in_range(k, (double)f)) goto bad;
            *(float *)(void *)p = f;
        } else {
            if (!in_range(k, x)) goto bad;
            *(double *)(void *)p = x;
        }
        return 0;
    }
    case K_BOOL: {
        int b;
        if (parse_bool(v, &b))
            return fail(d->err, where, "bad value '%s' for '%s' in %s: expected true|false|1|0|yes|no", v,
                        k->key, what);
        *(int *)(void *)p = b;
        return 0;
    }
    case K_STR:
        if (strlen(v) >= k->cap)
            return fail(d->err, where, "value of '%s' in %s is longer than %zu characters", k->key, what,
                        k->cap - 1);
        memcpy(p, v, strlen(v) + 1);
        return 0;
    case K_ENUM:
        for (int i = 0; k->names[i]; i++) {
            if (!strcmp(v, k->names[i])) {
                *(int *)(void *)p = i; /* enums here are int-sized, values 0..n-1 */
                return 0;
            }
        }
        names_text(k->names, expect, sizeof expect);
        return fail(d->err, where, "bad value '%s' for '%s' in %s: expected %s", v, k->key, what, expect);
    case K_CONTRAST: {
        /* "lo, hi" or a single 0 (off). */
        float *lohi = (float *)(void *)p;
        const char *comma = strchr(v, ',');
        double lo, hi;
        if (!comma) {
            if (parse_double(v, &lo) || lo != 0.0) goto bad_contrast;
            lohi[0] = lohi[1] = 0.0f;
            return 0;
        }
        char a[128];
        size_t la = (size_t)(comma - v);
        while (la && isspace((unsigned char)v[la - 1])) la--;
        if (la >= sizeof a) goto bad_contrast;
        memcpy(a, v, la);
        a[la] = 0;
        const char *b = comma + 1;
        while (isspace((unsigned char)*b)) b++;
        if (parse_double(a, &lo) || parse_double(b, &hi) || !(lo > 0.0) || !(hi >= lo) ||
            hi > (double)FLT_MAX)
            goto bad_contrast;
        lohi[0] = (float)lo;
        lohi[1] = (float)hi;
        return 0;
    bad_contrast:
        return fail(d->err, where,
                    "bad value '%s' for 'contrast' in %s: expected 'LO, HI' with 0 < LO <= HI, or 0 (off)",
                    v, what);
    }
    }
bad:
    range_text(k, expect, sizeof expect);
    return fail(d->err, where, "bad value '%s' for '%s' in %s: expected %s", v, k->key, what, expect);
}

static int table_index(const KeySpec *t, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].key, key)) return i;
    return -1;
}

/* Applies a fixed section's entries; seen[i] marks table keys that were given. */
static int apply_fixed(const Doc *d, const Section *s, const KeySpec *t, int n, CnnConfig *cfg,
                       unsigned char *seen)
{
    char what[CNN_NAME_LEN + 8], where[CNN_PATH_LEN + 64];
    snprintf(what, sizeof what, "[%s]", s->name);
    for (int j = 0; j < s->n; j++) {
        const Entry *e = &s->e[j];
        int i = table_index(t, n, e->key);
        if (i < 0) return fail(d->err, entry_where(d, e, where, sizeof where), "unknown key '%s' in [%s]", e->key, s->name);
        if (set_value(d, e, &t[i], cfg, what)) return -1;
        if (!strcmp(s->name, "run") && !strcmp(e->key, "conv")) /* the model names it if the CPU cannot */
            entry_where(d, e, cfg->conv_where, sizeof cfg->conv_where);
        seen[i] = 1;
    }
    return 0;
}

static int require(const Doc *d, const Section *s, const KeySpec *t, int n, const unsigned char *seen,
                   const char *key)
{
    char where[CNN_PATH_LEN + 64];
    int i = table_index(t, n, key);
    CNN_ASSERT(i >= 0);
    if (seen[i]) return 0;
    return fail(d->err, section_where(d, s, where, sizeof where), "[%s] needs '%s'", s->name, key);
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

static int apply_layer(const Doc *d, const Section *s, CnnLayerSpec *l)
{
    char where[CNN_PATH_LEN + 64], what[CNN_NAME_LEN + 32];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", s->name);
    l->line = s->line;
    const Entry *te = find_entry(s, "type");
    if (!te) return fail(d->err, section_where(d, s, where, sizeof where), "layer [%s] needs 'type'", s->name);
    int type = -1;
    for (int i = 0; i < N_LAYER_TYPES; i++)
        if (!strcmp(te->value, layer_type_names[i])) type = i;
    if (type < 0) {
        char expect[128];
        names_text(layer_type_names, expect, sizeof expect);
        return fail(d->err, entry_where(d, te, where, sizeof where),
                    "unknown layer type '%s' in [%s]: expected %s", te->value, s->name, expect);
    }
    l->type = (CnnLayerType)type;
    layer_defaults(l);
    const LayerKeys *lk = &layer_keys[type];
    unsigned char seen[MAX_TABLE] = {0};
    snprintf(what, sizeof what, "%s layer [%s]", layer_type_names[type], s->name);
    for (int j = 0; j < s->n; j++) {
        const Entry *e = &s->e[j];
        if (e == te) continue;
        int i = table_index(lk->keys, lk->n, e->key);
        if (i < 0) {
            char keys[512] = "";
            for (int k = 0; k < lk->n; k++) {
                size_t len = strlen(keys);
                snprintf(keys + len, sizeof keys - len, "%s%s", k ? ", " : "", lk->keys[k].key);
            }
            int elsewhere = 0;
            for (int t = 0; t < N_LAYER_TYPES; t++)
                elsewhere |= table_index(layer_keys[t].keys, layer_keys[t].n, e->key) >= 0;
            return fail(d->err, entry_where(d, e, where, sizeof where), "%s '%s' %s %s (its keys: type, %s)",
                        elsewhere ? "key" : "unknown key", e->key,
                        elsewhere ? "does not belong to" : "in", what, keys);
        }
        if (set_value(d, e, &lk->keys[i], l, what)) return -1;
        seen[i] = 1;
    }
    for (int r = 0; r < 2; r++) {
        const char *key = lk->required[r];
        if (key && !seen[table_index(lk->keys, lk->n, key)])
            return fail(d->err, section_where(d, s, where, sizeof where), "%s needs '%s'", what, key);
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

static const Entry *entry_of(const Section *s, const char *key)
{
    return s ? find_entry(s, key) : NULL;
}

static int interpret(Doc *d, CnnConfig *cfg)
{
    char where[CNN_PATH_LEN + 64];
    const Section *run = NULL, *data = NULL, *train = NULL;
    for (int i = 0; i < d->n_sec; i++) {
        const Section *s = &d->sec[i];
        if (!strcmp(s->name, "run")) run = s;
        else if (!strcmp(s->name, "data")) data = s;
        else if (!strcmp(s->name, "train")) train = s;
    }
    config_defaults(cfg);

    unsigned char seen_run[MAX_TABLE] = {0}, seen_data[MAX_TABLE] = {0}, seen_train[MAX_TABLE] = {0};
    if (run && apply_fixed(d, run, run_keys, COUNT(run_keys), cfg, seen_run)) return -1;
    if (!data) return cnn_err(d->err, "%s: missing section [data] (it needs 'format' and 'dir')", d->file);
    if (apply_fixed(d, data, data_keys, COUNT(data_keys), cfg, seen_data)) return -1;
    if (require(d, data, data_keys, COUNT(data_keys), seen_data, "format") ||
        require(d, data, data_keys, COUNT(data_keys), seen_data, "dir"))
        return -1;
    if (!train) return cnn_err(d->err, "%s: missing section [train] (it needs 'batch' and 'steps')", d->file);
    if (apply_fixed(d, train, train_keys, COUNT(train_keys), cfg, seen_train)) return -1;
    if (require(d, train, train_keys, COUNT(train_keys), seen_train, "batch") ||
        require(d, train, train_keys, COUNT(train_keys), seen_train, "steps"))
        return -1;

    /* [run] defaults that depend on the file name. */
    if (!seen_run[table_index(run_keys, COUNT(run_keys), "name")]) base_name(d->file, cfg->name, sizeof cfg->name);
    if (!cfg->name[0]) return cnn_err(d->err, "%s: empty run name", d->file);
    if (!seen_run[table_index(run_keys, COUNT(run_keys), "out_dir")])
        snprintf(cfg->out_dir, sizeof cfg->out_dir, "runs/%s", cfg->name);

    /* [data] defaults that depend on the format. */
    int cifar = cfg->format == CNN_DATA_CIFAR10;
#define DATA_DEFAULT(key, stmt)                                                                    \
    if (!seen_data[table_index(data_keys, COUNT(data_keys), key)]) stmt
    DATA_DEFAULT("height", cfg->height = cifar ? 32 : 28);
    DATA_DEFAULT("width", cfg->width = cifar ? 32 : 28);
    DATA_DEFAULT("channels", cfg->channels = cifar ? 3 : 1);
    DATA_DEFAULT("num_classes", cfg->num_classes = 10);
    DATA_DEFAULT("train", snprintf(cfg->train, sizeof cfg->train, "%s",
                                   cifar ? "data_batch_1.bin,data_batch_2.bin,data_batch_3.bin,"
                                           "data_batch_4.bin,data_batch_5.bin"
                                         : "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz"));
    DATA_DEFAULT("test", snprintf(cfg->test, sizeof cfg->test, "%s",
                                  cifar ? "test_batch.bin"
                                        : "t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz"));
#undef DATA_DEFAULT
    const Entry *e;
    if (cfg->crop > cfg->height || cfg->crop > cfg->width) {
        e = entry_of(data, "crop");
        return fail(d->err, entry_where(d, e, where, sizeof where), "crop %d is larger than the %dx%d image",
                    cfg->crop, cfg->height, cfg->width);
    }

    /* [train] cross-checks. */
    if (cfg->lr_schedule != CNN_LR_CONSTANT && cfg->decay_steps <= 0) {
        e = entry_of(train, "decay_steps");
        if (e) entry_where(d, e, where, sizeof where);
        else section_where(d, train, where, sizeof where);
        return fail(d->err, where, "lr_schedule %s needs decay_steps > 0", schedule_names[cfg->lr_schedule]);
    }
    if (cfg->lr_schedule == CNN_LR_EXPONENTIAL && !(cfg->decay_rate > 0.0)) {
        e = entry_of(train, "decay_rate");
        if (e) entry_where(d, e, where, sizeof where);
        else section_where(d, train, where, sizeof where);
        return fail(d->err, where, "lr_schedule exponential needs decay_rate > 0");
    }
    if (cfg->lr_schedule == CNN_LR_COSINE && cfg->decay_rate > 1.0) {
        e = entry_of(train, "decay_rate");
        return fail(d->err, entry_where(d, e, where, sizeof where),
                    "lr_schedule cosine takes decay_rate (the final fraction of lr) in [0, 1]");
    }

    /* Layers, in file order. */
    cfg->n_layers = 0;
    for (int i = 0; i < d->n_sec; i++) {
        const Section *s = &d->sec[i];
        if (is_fixed(s->name)) continue;
        CNN_ASSERT(cfg->n_layers < CNN_MAX_LAYERS);
        if (apply_layer(d, s, &cfg->layers[cfg->n_layers])) return -1;
        cfg->n_layers++;
    }
    if (cfg->n_layers == 0)
        return cnn_err(d->err, "%s: no layers (every section other than [run], [data], [train] is a layer)",
                       d->file);
    return 0;
}

int cnn_config_parse(CnnConfig *cfg, const char *text, const char *name, const char *const *overrides,
                     int n_overrides, CnnErr *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!name) name = "<config>";
    if (strlen(name) >= sizeof cfg->path) return cnn_err(err, "%s: path too long", name);
    snprintf(cfg->path, sizeof cfg->path, "%s", name);

    Doc *d = cnn_calloc(1, sizeof *d);
    d->file = name;
    d->text = text ? text : "";
    d->cur = -1;
    d->err = err;
    int rc = ini_parse_stream(doc_reader, d, doc_handler, d);
    if (rc != 0 && (!d->err_line || (rc > 0 && rc < d->err_line))) {
        if (rc > 0) cnn_err(err, "%s:%d: expected 'key = value', a [section] or a comment", name, rc);
        else cnn_err(err, "%s: cannot parse (libinih error %d)", name, rc);
        rc = -1;
    } else {
        rc = d->err_line ? -1 : 0;
    }
    for (int i = 0; rc == 0 && i < n_overrides; i++) rc = apply_override(d, overrides[i], err);
    if (rc == 0) rc = interpret(d, cfg);
    free_doc(d);
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

/* ---- canonical text ---------------------------------------------------------------------------- */

static void print_keys(FILE *f, const KeySpec *t, int n, const void *base)
{
    const char *p0 = base;
    for (int i = 0; i < n; i++) {
        const KeySpec *k = &t[i];
        const void *p = p0 + k->off;
        fprintf(f, "%s = ", k->key);
        switch (k->kind) {
        case K_INT: fprintf(f, "%d\n", *(const int *)p); break;
        case K_LONG: fprintf(f, "%ld\n", *(const long *)p); break;
        case K_U64: fprintf(f, "%" PRIu64 "\n", *(const uint64_t *)p); break;
        case K_FLOAT: fprintf(f, "%.9g\n", (double)*(const float *)p); break;
        case K_DOUBLE: fprintf(f, "%.17g\n", *(const double *)p); break;
        case K_BOOL: fprintf(f, "%s\n", *(const int *)p ? "true" : "false"); break;
        case K_STR: fprintf(f, "%s\n", (const char *)p); break;
        case K_ENUM: fprintf(f, "%s\n", k->names[*(const int *)p]); break;
        case K_CONTRAST: {
            const float *lohi = p;
            if (lohi[0] == 0.0f && lohi[1] == 0.0f) fprintf(f, "0\n");
            else fprintf(f, "%.9g, %.9g\n", (double)lohi[0], (double)lohi[1]);
            break;
        }
        }
    }
}

char *cnn_config_to_ini(const CnnConfig *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) CNN_DIE("open_memstream: %s", strerror(errno));
    fprintf(f, "[run]\n");
    print_keys(f, run_keys, COUNT(run_keys), cfg);
    fprintf(f, "\n[data]\n");
    print_keys(f, data_keys, COUNT(data_keys), cfg);
    fprintf(f, "\n[train]\n");
    print_keys(f, train_keys, COUNT(train_keys), cfg);
    for (int i = 0; i < cfg->n_layers; i++) {
        const CnnLayerSpec *l = &cfg->layers[i];
        CNN_ASSERT((unsigned)l->type < N_LAYER_TYPES);
        fprintf(f, "\n[%s]\ntype = %s\n", l->name, layer_type_names[l->type]);
        print_keys(f, layer_keys[l->type].keys, layer_keys[l->type].n, l);
    }
    if (fclose(f) != 0 || !text) CNN_DIE("open_memstream: out of memory");
    return text;
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
 * strings as length + bytes, contrast as its two floats. The model hash's v1 values depend on this. */
static uint64_t h_key(uint64_t h, const KeySpec *k, const void *base)
{
    const void *p = (const char *)base + k->off;
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
    }
    CNN_ASSERT(0);
    return h;
}

/* The fixed sections' keys whose class is in mask (bit 1 << class), in table order. */
static uint64_t h_fixed(uint64_t h, const CnnConfig *cfg, unsigned mask)
{
    for (int t = 0; t < N_FIXED; t++)
        for (int i = 0; i < fixed_keys[t].n; i++)
            if (mask & 1u << fixed_keys[t].keys[i].cls) h = h_key(h, &fixed_keys[t].keys[i], cfg);
    return h;
}

uint64_t cnn_config_model_hash(const CnnConfig *cfg)
{
    uint64_t h = CNN_HASH_INIT;
    h = h_str(h, "cnn-dist model v1");
    h = h_fixed(h, cfg, 1u << CNN_KEY_NETWORK); /* height, width, channels, num_classes, crop */
    h = h_i64(h, cfg->n_layers);
    /* Layers: every CnnLayerSpec field (all of them are NETWORK by definition, as are the names and
     * types), in this fixed order rather than through the per-type tables, which would hash other
     * fields in another order and so change every v1 checkpoint's hash. A new layer field goes in here
     * too (and makes this "model v2"). */
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
    }
    CNN_ASSERT(0);
    return 0;
}

const char *cnn_config_recipe_change(const CnnConfig *old, const CnnConfig *now, char *buf, size_t n)
{
    for (int t = 0; t < N_FIXED; t++) {
        for (int i = 0; i < fixed_keys[t].n; i++) {
            const KeySpec *k = &fixed_keys[t].keys[i];
            if (k->cls != CNN_KEY_RECIPE || key_equal(k, old, now)) continue;
            snprintf(buf, n, "%s.%s", fixed_keys[t].section, k->key);
            return buf;
        }
    }
    return NULL;
}

int cnn_config_key_count(void)
{
    int n = 0;
    for (int t = 0; t < N_FIXED; t++) n += fixed_keys[t].n;
    for (int t = 0; t < N_LAYER_TYPES; t++) n += layer_keys[t].n;
    return n;
}

const char *cnn_config_key_at(int i, char *buf, size_t n, CnnKeyClass *cls)
{
    if (i < 0) return NULL;
    const char *section = NULL;
    const KeySpec *k = NULL;
    for (int t = 0; t < N_FIXED + N_LAYER_TYPES && !k; t++) {
        const int fixed = t < N_FIXED;
        const int len = fixed ? fixed_keys[t].n : layer_keys[t - N_FIXED].n;
        if (i < len) {
            section = fixed ? fixed_keys[t].section : layer_type_names[t - N_FIXED];
            k = fixed ? &fixed_keys[t].keys[i] : &layer_keys[t - N_FIXED].keys[i];
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
