/* to_ini: the canonical text of a CnnConfig, the one checkpoints store. It is written from the key
 * tables that the parser reads through, so it always holds every key the parser knows, each in the
 * form that parses back to the same value (floats with 9 significant digits, doubles with 17). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* train.steps and train.epochs: one is given, the other stays 0, which its range excludes. Such a number
 * is not written: absent, it reads back as 0. */
static int unset_number(const KeySpec *k, const void *p)
{
    const int zero_excluded = k->lo > 0 || (k->lo == 0 && k->lo_open);
    if (k->kind == K_LONG) return zero_excluded && *(const long *)p == 0;
    if (k->kind == K_DOUBLE) return zero_excluded && *(const double *)p == 0.0;
    return 0;
}

static void print_keys(FILE *f, const KeySpec *t, int n, const void *base)
{
    const char *p0 = base;
    for (int i = 0; i < n; i++) {
        const KeySpec *k = &t[i];
        const void *p = p0 + k->off;
        if (k->kind == K_STR && !*(const char *)p) continue; /* unset text: absent reads back as unset */
        if (unset_number(k, p)) continue;
        const int list = k->kind == K_LONGS || k->kind == K_FLOATS;
        const int count = list ? *(const int *)(p0 + k->n_off) : 0;
        if (list && count == 0) continue; /* an empty list: the same */
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
        case K_LONGS:
            for (int j = 0; j < count; j++) fprintf(f, "%ld%s", ((const long *)p)[j], j + 1 < count ? ", " : "\n");
            break;
        case K_FLOATS:
            for (int j = 0; j < count; j++)
                fprintf(f, "%.9g%s", (double)((const float *)p)[j], j + 1 < count ? ", " : "\n");
            break;
        }
    }
}

char *cnn_config_to_ini(const CnnConfig *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) CNN_DIE("open_memstream: %s", strerror(errno));
    for (int t = 0; t < N_FIXED; t++) {
        fprintf(f, "%s[%s]\n", t ? "\n" : "", cnn_config_fixed[t].section);
        print_keys(f, cnn_config_fixed[t].keys, cnn_config_fixed[t].n, cfg);
    }
    for (int i = 0; i < cfg->n_layers; i++) {
        const CnnLayerSpec *l = &cfg->layers[i];
        CNN_ASSERT((unsigned)l->type < N_LAYER_TYPES);
        fprintf(f, "\n[%s]\ntype = %s\n", l->name, cnn_layer_type_name(l->type));
        print_keys(f, LAYER_KEYS(l->type)->keys, LAYER_KEYS(l->type)->n, l);
    }
    if (fclose(f) != 0 || !text) CNN_DIE("open_memstream: out of memory");
    return text;
}
