/* predict: --predict (see the header). The model is built for this CPU's kernels and the checkpoint's
 * parameters; inputs become small CnnDatasets (one picture, or a whole batch file) so the evaluation
 * preprocessing (data/augment) and the loaders' checks are the ones training uses. */
#include "cnn/predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/cpu.h"
#include "cnn/data/augment.h"
#include "cnn/data/dataset.h"
#include "cnn/io/checkpoint.h"
#include "cnn/io/image.h"
#include "cnn/nn/model.h"
#include "cnn/train.h"
#include "cnn/tta.h"

#define PREDICT_BATCH 64
#define NAME_LEN 64

typedef struct {
    const CnnConfig *cfg;
    const CnnPredictOpts *o;
    CnnModel model;
    char (*names)[NAME_LEN]; /* [num_classes] */
    float *x;                /* [PREDICT_BATCH][crop h][crop w][c] */
    float *logits;           /* [PREDICT_BATCH][num_classes] */
} Predictor;

/* The network of cfg with the checkpoint's parameters (the network must be the checkpoint's). */
static int load_model(Predictor *p, CnnErr *err)
{
    CnnModelOpts mo = {PREDICT_BATCH, CNN_ISA_GENERIC, 1, 0, 0};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    mo.threads = cores > 0 ? (int)cores : 1;
    if (cnn_cpu_isa(&mo.isa, NULL, err) || cnn_model_build(&p->model, p->cfg, &mo, err)) return -1;
    CnnCkptMeta meta;
    if (cnn_ckpt_read_meta(p->o->ckpt, &meta, err)) return -1;
    const int same = meta.model_hash == cnn_config_model_hash(p->cfg);
    cnn_ckpt_meta_free(&meta);
    if (!same)
        return cnn_err(err, "%s: the network in %s differs from the checkpoint's (layers, shapes or input)",
                       p->o->ckpt, p->cfg->path);
    CnnCkptData d = {.tensors = p->model.tensors, .n_tensors = p->model.n_tensors, .params = p->model.params};
    float *ema = p->o->raw ? NULL : cnn_malloc(p->model.n_params * sizeof(float));
    d.ema = ema;
    if (cnn_ckpt_read(p->o->ckpt, &meta, &d, err)) {
        free(ema);
        return -1;
    }
    if (ema && meta.has_ema) {
        memcpy(p->model.params, ema, p->model.n_params * sizeof(float));
        fprintf(stderr, "cnn-dist: %s: its averaged parameters (train.ema; --raw for the trained ones)\n", p->o->ckpt);
    }
    free(ema);
    cnn_ckpt_meta_free(&meta);
    return 0;
}

/* Splits "a, b, c" (or lines) into names; returns how many, at most max. */
static int split_names(const char *text, const char *seps, char (*out)[NAME_LEN], int max)
{
    int n = 0;
    const char *s = text;
    while (*s && n < max) {
        size_t len = strcspn(s, seps);
        const char *a = s, *b = s + len;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (b > a) snprintf(out[n++], NAME_LEN, "%.*s", (int)(b - a), a);
        s += len;
        if (*s) s++;
    }
    return n;
}

/* data.class_names, else batches.meta.txt beside the data (CIFAR-10 ships one), else "0", "1", ... */
static void class_names(Predictor *p)
{
    const int k = p->cfg->num_classes;
    p->names = cnn_calloc((size_t)k, sizeof *p->names);
    if (p->cfg->class_names[0] && split_names(p->cfg->class_names, ",", p->names, k) == k) return;
    char path[CNN_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/batches.meta.txt", p->cfg->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char text[4096];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
        if (split_names(text, "\n", p->names, k) == k) return;
    }
    for (int i = 0; i < k; i++) snprintf(p->names[i], NAME_LEN, "%d", i);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* One image's line: top-k of the softmax of its logits. index < 0: a picture file (no index, no label). */
static void report(const Predictor *p, const char *file, long index, int label, const float *logits)
{
    const int k = p->cfg->num_classes, top = p->o->top < k ? p->o->top : k;
    double mx = logits[0], sum = 0.0;
    for (int j = 1; j < k; j++) mx = fmax(mx, logits[j]);
    double prob[k];
    int order[k];
    for (int j = 0; j < k; j++) sum += prob[j] = exp((double)logits[j] - mx);
    for (int j = 0; j < k; j++) {
        prob[j] /= sum;
        order[j] = j;
    }
    for (int a = 0; a < top; a++) /* partial selection sort: top is small; ties keep the lower class */
        for (int b = a + 1; b < k; b++)
            if (prob[order[b]] > prob[order[a]]) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    if (p->o->json) {
        printf("{\"file\": ");
        json_string(file);
        if (index < 0) printf(", \"index\": null, \"label\": null");
        else {
            printf(", \"index\": %ld, \"label\": ", index);
            json_string(p->names[label]);
        }
        printf(", \"top\": [");
        for (int a = 0; a < top; a++) {
            printf("%s{\"class\": ", a ? ", " : "");
            json_string(p->names[order[a]]);
            printf(", \"id\": %d, \"p\": %.6g}", order[a], prob[order[a]]);
        }
        printf("], \"logits\": [");
        for (int j = 0; j < k; j++) printf("%s%.9g", j ? ", " : "", (double)logits[j]);
        printf("]}\n");
        return;
    }
    if (index < 0) printf("%s:", file);
    else printf("%s#%ld (label %s):", file, index, p->names[label]);
    for (int a = 0; a < top; a++) printf("%s %s %.3f", a ? "," : "", p->names[order[a]], prob[order[a]]);
    putchar('\n');
}

/* Every sample of ds through the evaluation preprocessing and forward, in batches. */
static void classify(Predictor *p, const CnnDataset *ds, const char *file, int batch_file)
{
    CnnAugment aug;
    cnn_augment_init(&aug, p->cfg, ds);
    for (int i0 = 0; i0 < ds->n; i0 += PREDICT_BATCH) {
        const int n = ds->n - i0 < PREDICT_BATCH ? ds->n - i0 : PREDICT_BATCH;
        const uint8_t *imgs[PREDICT_BATCH];
        for (int j = 0; j < n; j++) imgs[j] = ds->images[i0 + j];
        const float *logits = p->logits;
        cnn_tta_logits(&p->model, &aug, imgs, n, p->cfg->tta, p->x, p->logits, NULL); /* data.tta's views */
        for (int j = 0; j < n; j++)
            report(p, file, batch_file ? i0 + j : -1, batch_file ? ds->labels[i0 + j] : 0,
                   logits + (size_t)j * p->cfg->num_classes);
    }
}

static int check_size(const Predictor *p, const char *file, int h, int w, int c, CnnErr *err)
{
    const CnnConfig *cfg = p->cfg;
    if (h == cfg->height && w == cfg->width && c == cfg->channels) return 0;
    return cnn_err(err, "%s: a %dx%d image with %d channel%s; the network takes %dx%d with %d (data.width, "
                        "data.height, data.channels); cnn-dist does not resize",
                   file, w, h, c, c == 1 ? "" : "s", cfg->width, cfg->height, cfg->channels);
}

/* One FILE argument: a CIFAR-10 batch (*.bin), an IDX pair "IMAGES,LABELS", or a picture. */
static int predict_file(Predictor *p, const char *file, CnnErr *err)
{
    CnnDataset ds;
    memset(&ds, 0, sizeof ds);
    const size_t len = strlen(file);
    int rc;
    if (strchr(file, ',')) {
        char images[CNN_PATH_LEN];
        snprintf(images, sizeof images, "%.*s", (int)(strchr(file, ',') - file), file);
        rc = cnn_dataset_load_idx(&ds, images, strchr(file, ',') + 1, p->cfg->num_classes, err);
    } else if (len > 4 && strcmp(file + len - 4, ".bin") == 0) {
        char dir[CNN_PATH_LEN];
        const char *slash = strrchr(file, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == file) snprintf(dir, sizeof dir, "/");
        else snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
        rc = cnn_dataset_load_cifar10(&ds, dir, slash ? slash + 1 : file, err);
    } else {
        uint8_t *pix;
        int h, w;
        if (cnn_image_load(file, p->cfg->channels, &pix, &h, &w, err)) return -1;
        if (check_size(p, file, h, w, p->cfg->channels, err)) {
            free(pix);
            return -1;
        }
        const uint8_t *images[1] = {pix};
        CnnDataset one = {.n = 1, .h = h, .w = w, .c = p->cfg->channels, .layout = CNN_LAYOUT_HWC, .images = images};
        classify(p, &one, file, 0);
        free(pix);
        return 0;
    }
    if (rc == 0 && (rc = check_size(p, file, ds.h, ds.w, ds.c, err)) == 0) classify(p, &ds, file, 1);
    cnn_dataset_free(&ds);
    return rc;
}

int cnn_predict_run(const CnnConfig *cfg, const CnnPredictOpts *o)
{
    if (cnn_comm_rank() != 0) return CNN_EXIT_OK; /* one process does it all */
    Predictor p = {.cfg = cfg, .o = o};
    CnnErr err;
    if (load_model(&p, &err)) {
        fprintf(stderr, "cnn-dist: %s\n", err.msg);
        if (p.model.n_layers) cnn_model_free(&p.model);
        return CNN_EXIT_ERROR;
    }
    class_names(&p);
    const int side_h = cfg->crop ? cfg->crop : cfg->height, side_w = cfg->crop ? cfg->crop : cfg->width;
    p.x = cnn_malloc((size_t)PREDICT_BATCH * side_h * side_w * cfg->channels * sizeof(float));
    p.logits = cnn_malloc((size_t)PREDICT_BATCH * cfg->num_classes * sizeof(float));
    int rc = CNN_EXIT_OK;
    for (int i = 0; i < o->n_files; i++) {
        if (predict_file(&p, o->files[i], &err) == 0) continue;
        fflush(stdout);
        fprintf(stderr, "cnn-dist: %s\n", err.msg);
        rc = CNN_EXIT_ERROR;
    }
    free(p.x);
    free(p.logits);
    free(p.names);
    cnn_model_free(&p.model);
    return rc;
}
