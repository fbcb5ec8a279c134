/* config internals: what the parts of the config module share (private to it).
 *
 *   src/config.c           the fixed sections' key tables (each layer type's is in its descriptor,
 *                          config_keys.h) and what is derived from them alone: the hashes, the resume check,
 *                          the key listings
 *   src/config/document.c  pass 1: the text (libinih) and the overrides become a Doc
 *   src/config/values.c    one value's text → its field, by its KeySpec
 *   src/config/interpret.c pass 2: a Doc → a validated CnnConfig (sections, layers, defaults, the checks
 *                          across keys); cnn_config_parse and cnn_config_load
 *   src/config/to_ini.c    the canonical text, written from the same tables */
#ifndef CNN_CONFIG_INTERNAL_H
#define CNN_CONFIG_INTERNAL_H

#include <stddef.h>

#include "cnn/config.h"
#include "cnn/config_keys.h"

/* ---- key tables (config.c) ------------------------------------------------------------------ */

#define N_LAYER_TYPES CNN_LAYER_TYPES
#define N_FIXED 3
#define MAX_TABLE 64 /* more than any table has keys (config.c asserts it for the fixed ones) */
#define MAX_LIST 16  /* the most values a list key (K_LONGS, K_FLOATS) takes */

/* A fixed section's table. */
typedef struct {
    const char *section;
    const KeySpec *keys;
    int n;
    const char *required[2]; /* keys without a default */
} FixedKeys;

/* Indices into cnn_config_fixed, which is in the order of the canonical text and of the hashes. */
enum { FIXED_RUN, FIXED_DATA, FIXED_TRAIN };

extern const FixedKeys cnn_config_fixed[N_FIXED];
/* A layer of type t with nothing given: the defaults every type shares, then the type's (interpret.c). */
void cnn_config_layer_defaults(CnnLayerSpec *l, CnnLayerType t);
/* The keys of layer type t: its descriptor's (config_keys.h). */
#define LAYER_KEYS(t) (&cnn_layer_type_desc(t)->keys)
extern const char *const cnn_config_schedules[];            /* by CnnLrSchedule, NULL-terminated */

/* ---- pass 1: the document (document.c) ------------------------------------------------------- */

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

/* Reads text (NULL = empty) into d (zeroed), naming it file in messages. Returns 0, or -1 with err
 * set; either way d must then be freed with cnn_config_doc_free. */
int cnn_config_doc_read(Doc *d, const char *text, const char *file, CnnErr *err);
/* Applies one "SECTION.KEY=VALUE" as if it were in the file (ovr must outlive d). Returns 0 or -1. */
int cnn_config_doc_override(Doc *d, const char *ovr, CnnErr *err);
void cnn_config_doc_free(Doc *d);

int cnn_config_is_fixed(const char *name); /* run, data, train */
int cnn_config_find_section(const Doc *d, const char *name); /* its index, or -1 */
Entry *cnn_config_find_entry(const Section *s, const char *key);
/* "FILE:LINE" or "--set TEXT" for an entry; "FILE:LINE" or "FILE" for a section. Return buf. */
const char *cnn_config_entry_where(const Doc *d, const Entry *e, char *buf, size_t n);
const char *cnn_config_section_where(const Doc *d, const Section *s, char *buf, size_t n);
/* "WHERE: message" into err; returns -1. */
int cnn_config_fail(CnnErr *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- one value (values.c) --------------------------------------------------------------------- */

/* Stores e's value into base according to k; what names the place ("[train]", "layer [conv1]").
 * Returns 0, or -1 with d->err naming the entry. */
int cnn_config_set_value(const Doc *d, const Entry *e, const KeySpec *k, void *base, const char *what);
/* names (NULL-terminated) as "a|b|c" into buf. */
void cnn_config_names_text(const char *const *names, char *buf, size_t n);

#endif
