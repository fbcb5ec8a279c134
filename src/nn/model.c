/* model: layers from a CnnConfig, one flat parameter block and one flat gradient block carved into
 * per-layer tensors, activations and workspaces allocated once for max_batch samples, and the
 * forward/backward passes that call each layer's ops in order. What a layer type computes is in its own
 * file under src/nn/layers/ (layer_ops.h); nothing here switches on the type but the rule that the last
 * layer is a dense one. */
#include "cnn/nn/model.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/rng.h"
#include "cnn/util.h"
#include "layers/layer_ops.h"

static int has_params(const CnnLayer *L) { return L->ops->has_params; }

static void add_tensor(CnnModel *m, const char *layer, const char *what, int rank, const int *dims,
                       size_t offset, size_t count)
{
    CnnTensorInfo *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s/%s", layer, what);
    t->rank = rank;
    for (int i = 0; i < 4; i++) t->dims[i] = i < rank ? dims[i] : 0;
    t->offset = offset;
    t->count = count;
}

CnnModelOpts cnn_model_opts_local(int max_batch)
{
    CnnModelOpts o = {max_batch, CNN_ISA_GENERIC, 1, 0};
    CnnErr err;
    if (cnn_cpu_isa(&o.isa, NULL, &err)) CNN_DIE("%s", err.msg);
    return o;
}

/* What every type's output must satisfy once its build has set it. */
static int check_output(const CnnLayer *L, const CnnConfig *cfg, CnnErr *err)
{
    if (L->oh < 1 || L->ow < 1) return cnn_layer_err(err, cfg, &L->spec, "output is empty: the image is too small");
    if ((double)L->oh * L->ow * L->oc > (double)INT_MAX / 2) {
        char msg[160];
        snprintf(msg, sizeof msg, "its output, %dx%dx%d per sample, is more than 2^30 values (filters or units too large)",
                 L->oh, L->ow, L->oc);
        return cnn_layer_err(err, cfg, &L->spec, msg);
    }
    return 0;
}

/* Each layer's type, input shape and build (its shapes, counts and plan at max_batch samples), and its
 * place in the parameter block. *max_act: the largest activation per sample, the input's included. */
static int build_layers(CnnModel *m, const CnnConfig *cfg, const CnnModelOpts *o, size_t *max_act, CnnErr *err)
{
    int h = m->in_h, w = m->in_w, c = m->in_c;
    size_t np = 0;
    int seen_params = 0;
    *max_act = (size_t)h * w * c;
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        L->spec = cfg->layers[i];
        L->ops = cnn_layer_ops(L->spec.type);
        L->ih = h;
        L->iw = w;
        L->ic = c;
        L->needs_din = seen_params;
        if (L->ops->build(L, cfg, o, err) || check_output(L, cfg, err)) return -1;
        L->in_size = (size_t)L->ih * L->iw * L->ic;
        L->out_size = (size_t)L->oh * L->ow * L->oc;
        if (L->out_size > *max_act) *max_act = L->out_size;
        if (has_params(L)) {
            L->w_off = np;
            np += L->w_count;
            L->b_off = np;
            np += L->b_count;
            seen_params = 1;
        }
        h = L->oh;
        w = L->ow;
        c = L->oc;
    }
    m->n_params = np;
    return 0;
}

/* What it all takes, in double so that an absurd config is measured, not overflowed: the caller
 * compares it with the memory at hand before anything is allocated (src/train/memory.c). */
static void estimate_memory(CnnModel *m, size_t max_act)
{
    CnnModelMemory *mem = &m->mem;
    mem->params = 2.0 * 4.0 * (double)m->n_params;
    mem->widest = mem->heaviest = -1;
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        const double per = (double)m->max_batch * (double)L->out_size;
        mem->activations += 4.0 * per + per * (double)L->kept_bytes;
        mem->workspaces += 4.0 * (double)L->ws_floats;
        if (mem->widest < 0 || L->out_size > m->layers[mem->widest].out_size) mem->widest = i;
        if (has_params(L) && (mem->heaviest < 0 || L->w_count > m->layers[mem->heaviest].w_count))
            mem->heaviest = i;
    }
    mem->activations += 2.0 * 4.0 * (double)m->max_batch * (double)max_act;
}

/* The parameter and gradient blocks and their tensors, each layer's output, what it keeps for backward
 * and its workspace, and the two data-gradient buffers. */
static void allocate(CnnModel *m, size_t max_act)
{
    char what[2 * CNN_NAME_LEN + 64];
    m->params = cnn_aligned_for(cnn_mul_size(m->n_params, sizeof(float)), "the parameters");
    m->grads = cnn_aligned_for(cnn_mul_size(m->n_params, sizeof(float)), "the gradients");
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        size_t n_out = cnn_mul_size((size_t)m->max_batch, L->out_size);
        snprintf(what, sizeof what, "[%s]'s output (%d samples at once)", L->spec.name, m->max_batch);
        L->out = cnn_aligned_for(cnn_mul_size(n_out, sizeof(float)), what);
        if (L->kept_bytes) L->kept = cnn_aligned_for(cnn_mul_size(n_out, L->kept_bytes), what);
        /* each layer keeps its own workspace, so what a conv's forward keeps survives until its backward;
         * a parameter layer gets one even when its plan needs none */
        snprintf(what, sizeof what, "[%s]'s workspace", L->spec.name);
        if (has_params(L) || L->ws_floats)
            L->ws = cnn_aligned_for(cnn_mul_size(L->ws_floats ? L->ws_floats : 1, sizeof(float)), what);
        if (has_params(L)) {
            int dims[4];
            const int rank = L->ops->weight_dims(L, dims);
            add_tensor(m, L->spec.name, "weights", rank, dims, L->w_off, L->w_count);
            dims[0] = L->oc;
            add_tensor(m, L->spec.name, "biases", 1, dims, L->b_off, L->b_count);
        }
    }
    size_t dsz = cnn_mul_size((size_t)m->max_batch, max_act);
    m->dbuf[0] = cnn_aligned_for(cnn_mul_size(dsz, sizeof(float)), "the data gradients");
    m->dbuf[1] = cnn_aligned_for(cnn_mul_size(dsz, sizeof(float)), "the data gradients");
}

int cnn_model_build(CnnModel *m, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    memset(m, 0, sizeof *m);
    CNN_ASSERT(o->max_batch > 0);
    m->max_batch = o->max_batch;
    m->isa = o->isa;
    m->k = cnn_kernels(o->isa);
    m->in_h = cfg->crop > 0 ? cfg->crop : cfg->height;
    m->in_w = cfg->crop > 0 ? cfg->crop : cfg->width;
    m->in_c = cfg->channels;
    m->num_classes = cfg->num_classes;
    if (cfg->crop > 0 && (cfg->crop > cfg->height || cfg->crop > cfg->width))
        return cnn_err(err, "%s: [data] crop %d is larger than the %dx%d images", cfg->path, cfg->crop,
                       cfg->height, cfg->width);
    if (cfg->n_layers <= 0) return cnn_err(err, "%s: the network has no layers", cfg->path);
    m->n_layers = cfg->n_layers;

    size_t max_act;
    if (build_layers(m, cfg, o, &max_act, err)) return -1;
    const CnnLayer *last = &m->layers[m->n_layers - 1];
    if (last->spec.type != CNN_LAYER_DENSE || last->oc != cfg->num_classes) {
        char msg[160];
        snprintf(msg, sizeof msg, "the last layer must be a dense layer of %d units (one per class)",
                 cfg->num_classes);
        return cnn_layer_err(err, cfg, &last->spec, msg);
    }
    if (last->spec.act != CNN_ACT_LINEAR)
        return cnn_layer_err(err, cfg, &last->spec, "the last layer must be linear (the loss applies softmax)");

    estimate_memory(m, max_act);
    if (o->dry_run) return 0;
    allocate(m, max_act);
    return 0;
}

void cnn_model_free(CnnModel *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        free(m->layers[i].out);
        free(m->layers[i].kept);
        free(m->layers[i].ws);
    }
    free(m->params);
    free(m->grads);
    free(m->dbuf[0]);
    free(m->dbuf[1]);
    memset(m, 0, sizeof *m);
}

void cnn_model_init_params(CnnModel *m, uint64_t seed)
{
    m->seed = seed;
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        if (!has_params(L)) continue;
        CnnRng r;
        cnn_rng_init(&r, seed, CNN_RNG_INIT, (uint64_t)i, 0);
        float *w = m->params + L->w_off;
        for (size_t j = 0; j < L->w_count; j++) {
            switch (L->spec.init) {
            case CNN_INIT_TRUNCATED_NORMAL: w[j] = cnn_rng_truncated_normal(&r, L->spec.stddev); break;
            case CNN_INIT_NORMAL: w[j] = cnn_rng_normal(&r) * L->spec.stddev; break;
            case CNN_INIT_CONSTANT: w[j] = L->spec.value; break;
            }
        }
        float *b = m->params + L->b_off;
        for (size_t j = 0; j < L->b_count; j++) b[j] = L->spec.bias_init;
    }
}

static const float *layer_input(const CnnModel *m, const float *x, int i)
{
    return i == 0 ? x : m->layers[i - 1].out;
}

const float *cnn_model_forward(CnnModel *m, const float *x, int n, int train, long step,
                               const int *positions)
{
    CNN_ASSERT(n > 0 && n <= m->max_batch);
    m->input = x;
    m->batch = n;
    CnnLayerFwd f = {.k = m->k, .n = n, .train = train, .step = step, .positions = positions, .seed = m->seed};
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        f.in = layer_input(m, x, i);
        f.w = has_params(L) ? m->params + L->w_off : NULL;
        f.b = has_params(L) ? m->params + L->b_off : NULL;
        f.index = (uint32_t)i;
        double t0 = m->timing ? cnn_now() : 0.0;
        L->ops->forward(L, &f);
        if (m->timing) m->layer_time[i][0] += cnn_now() - t0;
    }
    return m->layers[m->n_layers - 1].out;
}

double cnn_model_backward(CnnModel *m, float *grad, CnnGradMode mode, const int *labels, int n, float grad_scale,
                          int *correct, const CnnGradHook *hook)
{
    CNN_ASSERT(n == m->batch);
    const CnnLayer *last = &m->layers[m->n_layers - 1];
    float *cur = m->dbuf[0], *other = m->dbuf[1];
    double loss = cnn_softmax_xent(cur, last->out, labels, n, last->oc, grad_scale, correct);
    CnnLayerBwd b = {.k = m->k, .n = n, .mode = mode};
    for (int i = m->n_layers - 1; i >= 0; i--) {
        CnnLayer *L = &m->layers[i];
        const int params = has_params(L);
        b.din = L->needs_din ? other : NULL;
        b.dout = cur;
        b.in = layer_input(m, m->input, i);
        b.w = params ? m->params + L->w_off : NULL;
        b.dw = params ? grad + L->w_off : NULL;
        b.db = params ? grad + L->b_off : NULL;
        double t0 = m->timing ? cnn_now() : 0.0;
        L->ops->backward(L, &b);
        if (m->timing) m->layer_time[i][1] += cnn_now() - t0;
        if (hook && params) hook->ready(hook->ctx, L->w_off, L->w_count + L->b_count);
        if (!b.din) break; /* nothing below needs a gradient */
        float *t = cur;
        cur = other;
        other = t;
    }
    return loss;
}

double cnn_model_weight_loss(const CnnModel *m)
{
    double total = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        if (!has_params(L) || L->spec.wl == 0.0f) continue;
        double s = 0.0;
        const float *w = m->params + L->w_off;
        for (size_t j = 0; j < L->w_count; j++) s += (double)w[j] * (double)w[j];
        total += (double)L->spec.wl * s * 0.5;
    }
    return total;
}

void cnn_model_add_weight_decay(const CnnModel *m, float *grad)
{
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        if (!has_params(L) || L->spec.wl == 0.0f) continue;
        const float wl = L->spec.wl;
        const float *w = m->params + L->w_off;
        float *g = grad + L->w_off;
        for (size_t j = 0; j < L->w_count; j++) g[j] += wl * w[j];
    }
}

uint64_t cnn_model_params_hash(const CnnModel *m)
{
    return cnn_hash_bytes(CNN_HASH_INIT, m->params, m->n_params * sizeof(float));
}

double cnn_model_forward_flops(const CnnModel *m)
{
    double f = 0.0;
    for (int i = 0; i < m->n_layers; i++) f += m->layers[i].flops_fwd;
    return f;
}

double cnn_model_train_flops(const CnnModel *m)
{
    double f = 0.0;
    for (int i = 0; i < m->n_layers; i++) f += m->layers[i].flops_fwd + m->layers[i].flops_bwd;
    return f;
}

const char *cnn_model_param_owner(const CnnModel *m, size_t idx)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const CnnTensorInfo *t = &m->tensors[i];
        if (idx >= t->offset && idx < t->offset + t->count) return t->name;
    }
    return "?";
}

static void shape_str(char *buf, size_t n, const CnnLayer *L)
{
    if (L->ops->flat_output)
        snprintf(buf, n, "%d", L->oc);
    else
        snprintf(buf, n, "%dx%dx%d", L->oh, L->ow, L->oc);
}

/* The kernels of a planned layer, conv or dense ("" for the others). */
static void layer_kernel_name(const CnnLayer *L, char *buf, size_t n)
{
    buf[0] = 0;
    if (L->ops->kernel_name) L->ops->kernel_name(L, buf, n);
}

void cnn_model_kernels_line(const CnnModel *m, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < m->n_layers && used < n; i++) {
        char k[64];
        layer_kernel_name(&m->layers[i], k, sizeof k);
        if (k[0]) used += (size_t)snprintf(buf + used, n - used, "%s%s %s", used ? ", " : "", m->layers[i].spec.name, k);
    }
}

int cnn_model_uses_sgemm(const CnnModel *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        if (L->ops->uses_sgemm && L->ops->uses_sgemm(L)) return 1;
    }
    return 0;
}

void cnn_model_summary(const CnnModel *m, FILE *f)
{
    fprintf(f, "kernels: %s (%s)%s\n", cnn_isa_name(m->isa), cnn_isa_describe(m->isa),
            m->k->tiles ? "" : "; OpenBLAS for every product");
    fprintf(f, "%-12s %-8s %-12s %12s %14s  %s\n", "layer", "type", "output", "params", "MFLOP fwd", "kernel");
    fprintf(f, "%-12s %-8s %dx%dx%-8d %12s %14s\n", "input", "", m->in_h, m->in_w, m->in_c, "", "");
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        char shape[48];
        shape_str(shape, sizeof shape, L);
        /* which code computes the layer (plan.h) */
        char kernel[64] = "";
        layer_kernel_name(L, kernel, sizeof kernel);
        fprintf(f, "%-12s %-8s %-12s %12zu %14.3f%s%s\n", L->spec.name, cnn_layer_type_name(L->spec.type), shape,
                L->w_count + L->b_count, L->flops_fwd / 1e6, *kernel ? "  " : "", kernel);
    }
    fprintf(f, "total: %zu parameters (%.2f MB float32)\n", m->n_params, (double)m->n_params * 4.0 / 1e6);
    fprintf(f, "per image: %.2f MFLOP forward, %.2f MFLOP training (forward + backward)\n",
            cnn_model_forward_flops(m) / 1e6, cnn_model_train_flops(m) / 1e6);
}
