/* model: layers from a CnnConfig, one flat parameter block and one flat gradient block carved into
 * per-layer tensors, activations and workspaces allocated once for max_batch samples, and the
 * forward/backward passes that call the layer kernels in order. */
#include "cnn/nn/model.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/rng.h"
#include "cnn/util.h"

static int has_params(CnnLayerType t) { return t == CNN_LAYER_CONV || t == CNN_LAYER_DENSE; }

static int layer_err(CnnErr *err, const CnnConfig *cfg, const CnnLayerSpec *s, const char *what)
{
    return cnn_err(err, "%s:%d: [%s]: %s", cfg->path[0] ? cfg->path : "config", s->line, s->name, what);
}

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

int cnn_model_build(CnnModel *m, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    memset(m, 0, sizeof *m);
    const int max_batch = o->max_batch;
    CNN_ASSERT(max_batch > 0);
    m->max_batch = max_batch;
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

    int h = m->in_h, w = m->in_w, c = m->in_c;
    size_t np = 0, max_act = (size_t)h * w * c;
    int seen_params = 0;
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        const CnnLayerSpec *s = &cfg->layers[i];
        L->spec = *s;
        L->ih = h;
        L->iw = w;
        L->ic = c;
        L->needs_din = seen_params;
        switch (s->type) {
        case CNN_LAYER_CONV: {
            CnnConvShape cs;
            if (h < 1 || w < 1) return layer_err(err, cfg, s, "input is empty");
            if (!s->same && (s->size > h || s->size > w))
                return layer_err(err, cfg, s, "VALID kernel is larger than its input");
            if ((double)s->size * s->size * c * s->filters > 0x1p40)
                return layer_err(err, cfg, s, "has more than 2^40 weights (filters or the layer before too large)");
            cnn_conv_shape(&cs, max_batch, h, w, c, s->filters, s->size, s->stride, s->same);
            cs.needs_din = L->needs_din;
            CnnErr perr;
            if (cnn_conv_plan(&L->conv, &cs, cfg->conv, o->isa, o->threads, &perr))
                return cnn_err(err, "%s: %s", cfg->conv_where[0] ? cfg->conv_where : cfg->path, perr.msg);
            L->oh = cs.oh;
            L->ow = cs.ow;
            L->oc = s->filters;
            L->w_count = (size_t)s->size * s->size * c * s->filters;
            L->b_count = (size_t)s->filters;
            double macs = (double)cs.oh * cs.ow * s->filters * s->size * s->size * c;
            L->flops_fwd = 2.0 * macs;
            L->flops_bwd = 2.0 * macs * (L->needs_din ? 2.0 : 1.0);
            L->ws_floats = L->conv.ws_floats;
            break;
        }
        case CNN_LAYER_MAXPOOL:
        case CNN_LAYER_AVGPOOL: {
            CnnPoolShape ps;
            if (!s->same && (s->size > h || s->size > w))
                return layer_err(err, cfg, s, "VALID pool window is larger than its input");
            cnn_pool_shape(&ps, max_batch, h, w, c, s->size, s->stride, s->same);
            L->oh = ps.oh;
            L->ow = ps.ow;
            L->oc = c;
            break;
        }
        case CNN_LAYER_LRN:
        case CNN_LAYER_DROPOUT:
            L->oh = h;
            L->ow = w;
            L->oc = c;
            break;
        case CNN_LAYER_DENSE: {
            size_t nin = (size_t)h * w * c;
            if (nin > (size_t)INT_MAX / 2) return layer_err(err, cfg, s, "has more than 2^30 inputs (the layers before it are too large)");
            if ((double)nin * s->units > 0x1p40)
                return layer_err(err, cfg, s, "has more than 2^40 weights (units or its inputs too large)");
            L->ih = 1;
            L->iw = 1;
            L->ic = (int)nin;
            L->oh = 1;
            L->ow = 1;
            L->oc = s->units;
            L->w_count = nin * (size_t)s->units;
            L->b_count = (size_t)s->units;
            L->flops_fwd = 2.0 * (double)nin * s->units;
            L->flops_bwd = L->flops_fwd * (L->needs_din ? 2.0 : 1.0);
            cnn_dense_plan(&L->dense, (int)nin, s->units, max_batch, o->isa);
            L->ws_floats = L->dense.ws_floats;
            break;
        }
        }
        if (L->oh < 1 || L->ow < 1) return layer_err(err, cfg, s, "output is empty: the image is too small");
        if ((double)L->oh * L->ow * L->oc > (double)INT_MAX / 2) {
            char msg[160];
            snprintf(msg, sizeof msg, "its output, %dx%dx%d per sample, is more than 2^30 values (filters or units too large)",
                     L->oh, L->ow, L->oc);
            return layer_err(err, cfg, s, msg);
        }
        L->in_size = (size_t)L->ih * L->iw * L->ic;
        L->out_size = (size_t)L->oh * L->ow * L->oc;
        if (L->out_size > max_act) max_act = L->out_size;
        if (has_params(s->type)) {
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
    const CnnLayer *last = &m->layers[m->n_layers - 1];
    if (last->spec.type != CNN_LAYER_DENSE || last->oc != cfg->num_classes) {
        char msg[160];
        snprintf(msg, sizeof msg, "the last layer must be a dense layer of %d units (one per class)",
                 cfg->num_classes);
        return layer_err(err, cfg, &last->spec, msg);
    }
    if (last->spec.act != CNN_ACT_LINEAR)
        return layer_err(err, cfg, &last->spec, "the last layer must be linear (the loss applies softmax)");

    m->n_params = np;
    /* What it all takes, in double so that an absurd config is measured, not overflowed: the caller
     * compares it with the memory at hand before anything is allocated (train.c). */
    CnnModelMemory *mem = &m->mem;
    mem->params = 2.0 * 4.0 * (double)np;
    mem->widest = mem->heaviest = -1;
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        const double per = (double)max_batch * (double)L->out_size;
        mem->activations += 4.0 * per * (L->spec.type == CNN_LAYER_LRN ? 3 : L->spec.type == CNN_LAYER_MAXPOOL ? 2 : 1) +
                            (L->spec.type == CNN_LAYER_DROPOUT ? per : 0);
        mem->workspaces += 4.0 * (double)L->ws_floats;
        if (mem->widest < 0 || L->out_size > m->layers[mem->widest].out_size) mem->widest = i;
        if (has_params(L->spec.type) && (mem->heaviest < 0 || L->w_count > m->layers[mem->heaviest].w_count))
            mem->heaviest = i;
    }
    mem->activations += 2.0 * 4.0 * (double)max_batch * (double)max_act;
    if (o->dry_run) return 0;

    char what[2 * CNN_NAME_LEN + 64];
    m->params = cnn_aligned_for(cnn_mul_size(np, sizeof(float)), "the parameters");
    m->grads = cnn_aligned_for(cnn_mul_size(np, sizeof(float)), "the gradients");
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        size_t n_out = cnn_mul_size((size_t)max_batch, L->out_size);
        snprintf(what, sizeof what, "[%s]'s output (%d samples at once)", L->spec.name, max_batch);
        L->out = cnn_aligned_for(cnn_mul_size(n_out, sizeof(float)), what);
        if (L->spec.type == CNN_LAYER_MAXPOOL) L->argmax = cnn_aligned_for(cnn_mul_size(n_out, sizeof(int32_t)), what);
        if (L->spec.type == CNN_LAYER_LRN) L->scale = cnn_aligned_for(cnn_mul_size(2 * n_out, sizeof(float)), what);
        if (L->spec.type == CNN_LAYER_DROPOUT) L->mask = cnn_aligned_for(n_out, what);
        /* each layer keeps its own workspace, so what a conv's forward keeps survives until its backward */
        snprintf(what, sizeof what, "[%s]'s workspace", L->spec.name);
        if (has_params(L->spec.type))
            L->ws = cnn_aligned_for(cnn_mul_size(L->ws_floats ? L->ws_floats : 1, sizeof(float)), what);
        if (has_params(L->spec.type)) {
            int dims[4];
            if (L->spec.type == CNN_LAYER_CONV) {
                dims[0] = dims[1] = L->spec.size;
                dims[2] = L->ic;
                dims[3] = L->oc;
                add_tensor(m, L->spec.name, "weights", 4, dims, L->w_off, L->w_count);
            } else {
                dims[0] = L->ic;
                dims[1] = L->oc;
                add_tensor(m, L->spec.name, "weights", 2, dims, L->w_off, L->w_count);
            }
            dims[0] = L->oc;
            add_tensor(m, L->spec.name, "biases", 1, dims, L->b_off, L->b_count);
        }
    }
    size_t dsz = cnn_mul_size((size_t)max_batch, max_act);
    m->dbuf[0] = cnn_aligned_for(cnn_mul_size(dsz, sizeof(float)), "the data gradients");
    m->dbuf[1] = cnn_aligned_for(cnn_mul_size(dsz, sizeof(float)), "the data gradients");
    return 0;
}

void cnn_model_free(CnnModel *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        free(m->layers[i].out);
        free(m->layers[i].argmax);
        free(m->layers[i].scale);
        free(m->layers[i].mask);
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
        if (!has_params(L->spec.type)) continue;
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
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        const float *in = layer_input(m, x, i);
        double t0 = m->timing ? cnn_now() : 0.0;
        const float *w = m->params + L->w_off, *b = m->params + L->b_off;
        size_t count = (size_t)n * L->out_size;
        switch (L->spec.type) {
        case CNN_LAYER_CONV:
            cnn_conv_forward(L->out, L->ws, in, w, b, &L->conv, n);
            L->input_ready = cnn_conv_keeps_input(&L->conv, n);
            m->k->act_forward(L->out, L->out, count, L->spec.act);
            break;
        case CNN_LAYER_DENSE:
            cnn_dense_forward(L->out, L->ws, in, w, b, &L->dense, n);
            m->k->act_forward(L->out, L->out, count, L->spec.act);
            break;
        case CNN_LAYER_MAXPOOL: {
            CnnPoolShape ps;
            cnn_pool_shape(&ps, n, L->ih, L->iw, L->ic, L->spec.size, L->spec.stride, L->spec.same);
            m->k->maxpool_forward(L->out, L->argmax, in, &ps);
            break;
        }
        case CNN_LAYER_AVGPOOL: {
            CnnPoolShape ps;
            cnn_pool_shape(&ps, n, L->ih, L->iw, L->ic, L->spec.size, L->spec.stride, L->spec.same);
            m->k->avgpool_forward(L->out, in, &ps);
            break;
        }
        case CNN_LAYER_LRN:
            m->k->lrn_forward(L->out, L->scale, in, (size_t)n * L->ih * L->iw, L->ic, L->spec.radius,
                              L->spec.lrn_bias, L->spec.alpha, L->spec.beta);
            break;
        case CNN_LAYER_DROPOUT:
            if (train && L->spec.keep < 1.0f) {
                CNN_ASSERT(positions != NULL);
                cnn_dropout_forward(L->out, L->mask, in, n, L->out_size, L->spec.keep, m->seed, (uint32_t)i,
                                    step, positions);
            } else {
                memcpy(L->out, in, count * sizeof(float));
                memset(L->mask, 1, count);
            }
            break;
        }
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
    for (int i = m->n_layers - 1; i >= 0; i--) {
        CnnLayer *L = &m->layers[i];
        const float *in = layer_input(m, m->input, i);
        float *din = L->needs_din ? other : NULL;
        double t0 = m->timing ? cnn_now() : 0.0;
        size_t count = (size_t)n * L->out_size;
        switch (L->spec.type) {
        case CNN_LAYER_CONV:
            m->k->act_backward(cur, cur, L->out, count, L->spec.act);
            cnn_conv_backward(din, grad + L->w_off, grad + L->b_off, L->ws, cur, in, m->params + L->w_off, &L->conv,
                              n, L->input_ready, mode);
            L->input_ready = 0;
            break;
        case CNN_LAYER_DENSE:
            m->k->act_backward(cur, cur, L->out, count, L->spec.act);
            cnn_dense_backward(din, grad + L->w_off, grad + L->b_off, L->ws, cur, in, m->params + L->w_off,
                               &L->dense, n, mode);
            break;
        case CNN_LAYER_MAXPOOL:
            if (din) {
                CnnPoolShape ps;
                cnn_pool_shape(&ps, n, L->ih, L->iw, L->ic, L->spec.size, L->spec.stride, L->spec.same);
                m->k->maxpool_backward(din, cur, L->argmax, &ps);
            }
            break;
        case CNN_LAYER_AVGPOOL:
            if (din) {
                CnnPoolShape ps;
                cnn_pool_shape(&ps, n, L->ih, L->iw, L->ic, L->spec.size, L->spec.stride, L->spec.same);
                m->k->avgpool_backward(din, cur, &ps);
            }
            break;
        case CNN_LAYER_LRN:
            if (din)
                m->k->lrn_backward(din, cur, in, L->scale, (size_t)n * L->ih * L->iw, L->ic, L->spec.radius,
                                   L->spec.alpha, L->spec.beta);
            break;
        case CNN_LAYER_DROPOUT:
            if (din) cnn_dropout_backward(din, cur, L->mask, count, L->spec.keep);
            break;
        }
        if (m->timing) m->layer_time[i][1] += cnn_now() - t0;
        if (hook && has_params(L->spec.type)) hook->ready(hook->ctx, L->w_off, L->w_count + L->b_count);
        if (!din) break; /* nothing below needs a gradient */
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
        if (!has_params(L->spec.type) || L->spec.wl == 0.0f) continue;
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
        if (!has_params(L->spec.type) || L->spec.wl == 0.0f) continue;
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
    if (L->spec.type == CNN_LAYER_DENSE)
        snprintf(buf, n, "%d", L->oc);
    else
        snprintf(buf, n, "%dx%dx%d", L->oh, L->ow, L->oc);
}

/* The kernels of a conv or dense layer ("" for the others). */
static void layer_kernel_name(const CnnLayer *L, char *buf, size_t n)
{
    buf[0] = 0;
    if (L->spec.type == CNN_LAYER_CONV) cnn_conv_plan_name(&L->conv, buf, n);
    if (L->spec.type == CNN_LAYER_DENSE) snprintf(buf, n, "%s", cnn_algo_name(L->dense.algo));
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
        if (L->spec.type == CNN_LAYER_CONV && (L->conv.fwd == CNN_ALGO_SGEMM || L->conv.wgrad == CNN_ALGO_SGEMM))
            return 1;
        if (L->spec.type == CNN_LAYER_DENSE && L->dense.algo == CNN_ALGO_SGEMM) return 1;
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
