/* model: layers from a CnnConfig as a small graph (each layer names its inputs; a chain by default), one
 * flat parameter block and one flat gradient block carved into the tensors each layer type declares,
 * one arena where every layer's output and output gradient live only as long as something needs them,
 * and the forward/backward passes that call each layer's ops in the config's forward order (and back).
 * What a layer type computes is in its own file under src/nn/layers/ (layer_ops.h); nothing here
 * switches on the type but the rule that a dense output layer is linear. */
#include "cnn/nn/model.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/rng.h"
#include "cnn/util.h"
#include "layers/layer_ops.h"

CnnModelOpts cnn_model_opts_local(int max_batch)
{
    CnnModelOpts o = {max_batch, CNN_ISA_GENERIC, 1, 0, 0};
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

/* Input k of layer L: the image (-1) or a layer's output. */
static const CnnLayer *producer(const CnnModel *m, const CnnLayer *L, int k)
{
    return L->spec.in[k] < 0 ? NULL : &m->layers[L->spec.in[k]];
}

/* Each layer's type, input shapes and build (its shapes, tensors and plan at max_batch samples), in
 * forward order. */
static int build_layers(CnnModel *m, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    for (int p = 0; p < m->n_layers; p++) {
        const int i = m->order[p];
        CnnLayer *L = &m->layers[i];
        L->spec = cfg->layers[i];
        L->ops = cnn_layer_ops(L->spec.type);
        L->pos = p;
        int any_grad = 0;
        for (int k = 0; k < L->spec.n_in; k++) {
            const CnnLayer *P = producer(m, L, k);
            L->in_shape[k][0] = P ? P->oh : m->in_h;
            L->in_shape[k][1] = P ? P->ow : m->in_w;
            L->in_shape[k][2] = P ? P->oc : m->in_c;
            any_grad |= P && P->needs_grad;
        }
        L->ih = L->in_shape[0][0];
        L->iw = L->in_shape[0][1];
        L->ic = L->in_shape[0][2];
        L->needs_din = producer(m, L, 0) && producer(m, L, 0)->needs_grad;
        L->keep_input = L->ops->bwd_needs_input;
        L->keep_output = L->ops->bwd_needs_output;
        L->fused_next = -1;
        L->fused_away = 0;
        L->pool_into = -1;
        L->fwd_fused = 0;
        if (L->ops->build(L, cfg, o, err) || check_output(L, cfg, err)) return -1;
        L->in_size = (size_t)L->ih * L->iw * L->ic;
        L->out_size = (size_t)L->oh * L->ow * L->oc;
        int trainable = 0;
        for (int t = 0; t < L->n_decl; t++) trainable |= !L->decl[t].buffer;
        L->needs_grad = trainable || any_grad;
        L->grad_live = L->needs_grad;
    }
    return 0;
}

static size_t decl_count(const CnnTensorDecl *d)
{
    size_t c = 1;
    for (int i = 0; i < d->rank; i++) c = cnn_mul_size(c, (size_t)d->dims[i]);
    return c;
}

/* The tensors in the parameter block: every trainable one in forward order, then every buffer. */
static int place_tensors(CnnModel *m, const CnnConfig *cfg, CnnErr *err)
{
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int p = 0; p < m->n_layers; p++) {
            const int i = m->order[p];
            CnnLayer *L = &m->layers[i];
            if (pass == 0) L->p_off = off;
            for (int t = 0; t < L->n_decl; t++) {
                const CnnTensorDecl *d = &L->decl[t];
                if (d->buffer != pass) continue;
                if (m->n_tensors == CNN_MAX_TENSORS)
                    return cnn_layer_err(err, cfg, &L->spec, "the network has too many tensors");
                CnnTensorInfo *ti = &m->tensors[m->n_tensors];
                char name[sizeof ti->name];
                snprintf(name, sizeof name, "%s/%s", L->spec.name, d->what);
                memcpy(ti->name, name, sizeof name);
                ti->rank = d->rank;
                for (int r = 0; r < 4; r++) ti->dims[r] = r < d->rank ? d->dims[r] : 0;
                ti->offset = off;
                ti->count = decl_count(d);
                ti->layer = i;
                ti->buffer = d->buffer;
                const CnnTrainable tr = L->spec.trainable;
                ti->frozen = !d->buffer && (tr == CNN_TRAIN_NONE || (tr == CNN_TRAIN_BIASES && !d->bias));
                ti->decay = d->decay || (!d->buffer && cfg->weight_decay_on == CNN_DECAY_ALL);
                ti->wl = d->wl;
                ti->until_epoch = L->spec.train_until_epoch;
                ti->lr_scale = L->spec.lr_scale > 0.0f ? L->spec.lr_scale : 1.0f;
                L->tensor[t] = m->n_tensors++;
                off += ti->count;
            }
            if (pass == 0) L->p_count = off - L->p_off;
        }
        if (pass == 0) {
            m->n_trainable = off;
            m->n_trainable_tensors = m->n_tensors;
        }
    }
    m->n_params = off;
    return 0;
}

/* ---- the arena: outputs and gradients placed by lifetime ---- */

/* A span of the arena, alive over steps [t0, t1] of forward (steps 0 .. n-1, by forward position) and
 * backward (steps n .. 2n-1, last layer first). */
typedef struct {
    double floats;
    int t0, t1;
    size_t *at;
} Span;

/* A batchnorm followed at once by a relu or gelu act that is its output's only reader computes both
 * (kernels.h, bn_forward_act): the normalised values are never written out nor read back, forward or
 * backward, and the bits are those of the two layers apart. The act keeps nothing for backward then: the
 * batchnorm recomputes the act's input from its own (which it keeps anyway). */
static void fuse_layers(CnnModel *m)
{
    int readers[CNN_MAX_LAYERS] = {0};
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].spec.n_in; k++)
            if (m->layers[i].spec.in[k] >= 0) readers[m->layers[i].spec.in[k]]++;
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *A = &m->layers[i];
        if (A->spec.type != CNN_LAYER_ACT || A->spec.n_in != 1 || A->spec.in[0] < 0) continue;
        if (A->spec.act != CNN_ACT_RELU && A->spec.act != CNN_ACT_GELU) continue;
        CnnLayer *B = &m->layers[A->spec.in[0]];
        if (B->spec.type != CNN_LAYER_BATCHNORM || readers[A->spec.in[0]] != 1 || B->pos + 1 != A->pos) continue;
        B->fused_next = i;
        B->bn.act = A->spec.act;
        A->fused_away = 1;
        A->keep_input = A->keep_output = 0;
    }
    for (int i = 0; i < m->n_layers; i++) { /* conv -> 2x2 max-pool: the pool in the conv's output pass */
        CnnLayer *P = &m->layers[i];
        if (P->spec.type != CNN_LAYER_MAXPOOL || P->spec.n_in != 1 || P->spec.in[0] < 0) continue;
        if (P->spec.size != 2 || P->spec.stride != 2 || P->spec.same) continue;
        CnnLayer *C = &m->layers[P->spec.in[0]];
        if (C->spec.type != CNN_LAYER_CONV || C->spec.act != CNN_ACT_LINEAR || readers[P->spec.in[0]] != 1 ||
            C->pos + 1 != P->pos || !cnn_conv_pools(&C->conv))
            continue;
        C->pool_into = i;
        P->fwd_fused = 1;
        P->keep_input = 0; /* the max-pool's backward reads its argmax only */
    }
}

static int bwd_step(const CnnModel *m, const CnnLayer *L) { return 2 * m->n_layers - 1 - L->pos; }

/* The output layer (the last section): its output is the logits. */
static CnnLayer *output_layer(CnnModel *m) { return &m->layers[m->n_layers - 1]; }

/* Each output lives from its forward to the last forward that reads it, and on to the backward of a
 * layer that reads it there (its own, or a consumer's); the logits to the end. Each gradient lives from
 * the first backward that writes it (its last consumer's) to its own layer's backward. */
static int lifetimes(CnnModel *m, Span *sp, int *need_scratch)
{
    const int n = m->n_layers;
    int ns = 0;
    *need_scratch = 0;
    for (int i = 0; i < n; i++) {
        CnnLayer *L = &m->layers[i];
        if (L->fused_next >= 0) { /* nothing is written to its output or its gradient */
            L->out_at = 0;
            L->grad_at = SIZE_MAX;
            continue;
        }
        const double size = (double)m->max_batch * (double)L->out_size;
        Span o = {size, L->pos, L->pos, &L->out_at};
        if (L->keep_output) o.t1 = bwd_step(m, L);
        Span g = {size, INT_MAX, bwd_step(m, L), &L->grad_at};
        L->grad_at = SIZE_MAX;
        int writers = 0;
        for (int j = 0; j < n; j++) {
            const CnnLayer *C = &m->layers[j];
            for (int k = 0; k < C->spec.n_in; k++) {
                if (C->spec.in[k] != i) continue;
                if (C->pos > o.t1) o.t1 = C->pos;
                if (C->keep_input && bwd_step(m, C) > o.t1) o.t1 = bwd_step(m, C);
                if (C->needs_grad && L->needs_grad) {
                    writers++;
                    if (bwd_step(m, C) < g.t0) g.t0 = bwd_step(m, C);
                }
            }
        }
        if (L == output_layer(m)) {
            o.t1 = 2 * n;
            g.t0 = n; /* the loss writes it */
        }
        if (L->fused_away) { /* its producer writes the output, and reads the gradient in its backward */
            const CnnLayer *P = producer(m, L, 0);
            o.t0 = P->pos;
            g.t1 = bwd_step(m, P);
        }
        sp[ns++] = o;
        if (L->needs_grad && g.t0 != INT_MAX) sp[ns++] = g;
        if (writers > 1) *need_scratch = 1;
    }
    return ns;
}

static int by_size(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->floats != y->floats) return x->floats < y->floats ? 1 : -1;
    return x->t0 - y->t0;
}

/* First fit, largest first: each span at the lowest offset free of the spans placed before it that are
 * alive at the same time. Returns the arena's size in floats (rounded to 64 bytes per span). */
static double pack(Span *sp, int ns)
{
    qsort(sp, (size_t)ns, sizeof *sp, by_size);
    double top = 0;
    double *lo = cnn_malloc((size_t)(ns ? ns : 1) * sizeof(double));
    for (int i = 0; i < ns; i++) {
        const double len = ceil(sp[i].floats / 16.0) * 16.0;
        double at = 0;
        for (int moved = 1; moved;) { /* slide past every overlapping placed span */
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (sp[j].t1 < sp[i].t0 || sp[i].t1 < sp[j].t0) continue;
                const double jl = ceil(sp[j].floats / 16.0) * 16.0;
                if (at < lo[j] + jl && lo[j] < at + len) {
                    at = lo[j] + jl;
                    moved = 1;
                }
            }
        }
        lo[i] = at;
        *sp[i].at = (size_t)at;
        if (at + len > top) top = at + len;
    }
    free(lo);
    return top;
}

/* What it all takes, in double so that an absurd config is measured, not overflowed: the caller
 * compares it with the memory at hand before anything is allocated (src/train/memory.c). */
static void estimate_memory(CnnModel *m, double arena, size_t max_act)
{
    CnnModelMemory *mem = &m->mem;
    mem->params = 2.0 * 4.0 * (double)m->n_params;
    mem->widest = mem->heaviest = -1;
    mem->arena = 4.0 * arena;
    mem->activations = mem->arena;
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        const double per = (double)m->max_batch * (double)L->out_size;
        mem->activations += per * (double)L->kept_bytes;
        mem->workspaces += 4.0 * (double)L->ws_floats;
        if (mem->widest < 0 || L->out_size > m->layers[mem->widest].out_size) mem->widest = i;
        if (L->p_count && (mem->heaviest < 0 || L->p_count > m->layers[mem->heaviest].p_count)) mem->heaviest = i;
    }
    mem->activations += 4.0 * (double)m->max_batch * (double)max_act; /* the scratch gradient */
}

/* The parameter and gradient blocks, the arena, and each layer's kept values and workspace. */
static void allocate(CnnModel *m, size_t max_act, int need_scratch)
{
    char what[2 * CNN_NAME_LEN + 64];
    m->params = cnn_aligned_for(cnn_mul_size(m->n_params ? m->n_params : 1, sizeof(float)), "the parameters");
    m->grads = cnn_aligned_for(cnn_mul_size(m->n_params ? m->n_params : 1, sizeof(float)), "the gradients");
    snprintf(what, sizeof what, "the activations (%d samples at once)", m->max_batch);
    m->arena = cnn_aligned_for(cnn_mul_size(m->arena_floats, sizeof(float)), what);
    if (need_scratch)
        m->scratch = cnn_aligned_for(cnn_mul_size(cnn_mul_size((size_t)m->max_batch, max_act), sizeof(float)),
                                     "the data gradients");
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        L->out = m->arena + L->out_at;
        L->grad = L->grad_at != SIZE_MAX ? m->arena + L->grad_at : NULL;
        size_t n_out = cnn_mul_size((size_t)m->max_batch, L->out_size);
        snprintf(what, sizeof what, "[%s]'s output (%d samples at once)", L->spec.name, m->max_batch);
        if (L->kept_bytes) L->kept = cnn_aligned_for(cnn_mul_size(n_out, L->kept_bytes), what);
        /* each layer keeps its own workspace, so what a conv's forward keeps survives until its backward;
         * a layer with tensors gets one even when its plan needs none */
        snprintf(what, sizeof what, "[%s]'s workspace", L->spec.name);
        if (L->n_decl || L->ws_floats)
            L->ws = cnn_aligned_for(cnn_mul_size(L->ws_floats ? L->ws_floats : 1, sizeof(float)), what);
    }
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        if (L->fused_next < 0) continue;
        L->out = L->grad = NULL; /* never used: a slip would crash, not corrupt another layer's values */
        L->fused_out = m->layers[L->fused_next].out;
        L->fused_grad = m->layers[L->fused_next].grad;
    }
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
    m->label_smoothing = (float)cfg->label_smoothing;
    if (cfg->crop > 0 && (cfg->crop > cfg->height || cfg->crop > cfg->width))
        return cnn_err(err, "%s: [data] crop %d is larger than the %dx%d images", cfg->path, cfg->crop,
                       cfg->height, cfg->width);
    if (cfg->n_layers <= 0) return cnn_err(err, "%s: the network has no layers", cfg->path);
    m->n_layers = cfg->n_layers;
    memcpy(m->order, cfg->order, sizeof(int) * (size_t)cfg->n_layers);

    if (build_layers(m, cfg, o, err) || place_tensors(m, cfg, err)) return -1;
    if (!o->no_fusion) fuse_layers(m);
    const CnnLayer *last = output_layer(m);
    if (last->oh != 1 || last->ow != 1 || last->oc != cfg->num_classes) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the last layer is the network's output: it must give %d values per sample (one per class), not %dx%dx%d",
                 cfg->num_classes, last->oh, last->ow, last->oc);
        return cnn_layer_err(err, cfg, &last->spec, msg);
    }
    if (last->spec.type == CNN_LAYER_DENSE && last->spec.act != CNN_ACT_LINEAR)
        return cnn_layer_err(err, cfg, &last->spec, "the last layer must be linear (the loss applies softmax)");

    size_t max_act = (size_t)m->in_h * m->in_w * m->in_c;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].out_size > max_act) max_act = m->layers[i].out_size;
    Span *sp = cnn_malloc(sizeof(Span) * 2 * (size_t)m->n_layers);
    int need_scratch;
    const int ns = lifetimes(m, sp, &need_scratch);
    const double arena = pack(sp, ns);
    free(sp);
    m->arena_floats = (size_t)arena;
    estimate_memory(m, arena, need_scratch ? max_act : 0);
    if (o->dry_run) return 0;
    allocate(m, max_act, need_scratch);
    return 0;
}

void cnn_model_free(CnnModel *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        free(m->layers[i].kept);
        free(m->layers[i].ws);
    }
    free(m->params);
    free(m->grads);
    free(m->arena);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

/* HWIO weights w[kh][kw][cin][cout]: filter o < cin passes channel o through its centre tap (PyTorch's
 * nn.init.dirac_ on the first cin filters; the centre of an even size is size / 2, as there). */
static void dirac(float *w, const int *dims)
{
    const int kh = dims[0], kw = dims[1], cin = dims[2], cout = dims[3];
    for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
            for (int i = 0; i < cin; i++)
                for (int o = 0; o < cout && o < cin; o++)
                    w[(((size_t)y * kw + x) * cin + i) * cout + o] = y == kh / 2 && x == kw / 2 && i == o ? 1.0f : 0.0f;
}

/* Layer i's tensors from (seed, CNN_RNG_INIT, i) (i: the layer's place in the config), in the order it
 * declared them; constants draw nothing, so conv and dense weights take the stream's first draws. */
void cnn_model_init_params(CnnModel *m, uint64_t seed)
{
    m->seed = seed;
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        if (!L->n_decl) continue;
        CnnRng r;
        cnn_rng_init(&r, seed, CNN_RNG_INIT, (uint64_t)i, 0);
        for (int t = 0; t < L->n_decl; t++) {
            const CnnTensorDecl *d = &L->decl[t];
            const CnnTensorInfo *ti = &m->tensors[L->tensor[t]];
            float *w = m->params + ti->offset;
            const float he = (float)sqrt(2.0 / (double)(d->fan_in > 0 ? d->fan_in : 1));
            const float bound = (float)(1.0 / sqrt((double)(d->fan_in > 0 ? d->fan_in : 1)));
            for (size_t j = 0; j < ti->count; j++) {
                switch (d->init) {
                case CNN_INIT_TRUNCATED_NORMAL: w[j] = cnn_rng_truncated_normal(&r, d->stddev); break;
                case CNN_INIT_NORMAL: w[j] = cnn_rng_normal(&r) * d->stddev; break;
                case CNN_INIT_CONSTANT: w[j] = d->value; break;
                case CNN_INIT_HE_NORMAL: w[j] = cnn_rng_normal(&r) * he; break;
                case CNN_INIT_UNIFORM:
                case CNN_INIT_DIRAC:   /* drawn like uniform, then the identity part overwritten below */
                case CNN_INIT_WHITEN:  /* until the training images set it (cnn_whiten_init) */
                    w[j] = (2.0f * cnn_rng_uniform(&r) - 1.0f) * bound;
                    break;
                }
            }
            if (d->init == CNN_INIT_DIRAC && d->rank == 4) dirac(w, d->dims);
        }
    }
}

/* Pointers to layer L's tensors in block base (parameters or gradients). */
static void tensor_ptrs(const CnnModel *m, const CnnLayer *L, float *base, float **out)
{
    for (int t = 0; t < L->n_decl; t++) out[t] = base + m->tensors[L->tensor[t]].offset;
}

static const float *layer_in(const CnnModel *m, const CnnLayer *L, int k, const float *x)
{
    const CnnLayer *P = producer(m, L, k);
    return P ? P->out : x;
}

const float *cnn_model_forward(CnnModel *m, const float *x, int n, int train, long step,
                               const int *positions)
{
    CNN_ASSERT(n > 0 && n <= m->max_batch);
    m->input = x;
    m->batch = n;
    CnnLayerFwd f = {.k = m->k, .n = n, .train = train, .step = step, .positions = positions, .seed = m->seed};
    for (int p = 0; p < m->n_layers; p++) {
        const int i = m->order[p];
        CnnLayer *L = &m->layers[i];
        if (L->fused_away || L->fwd_fused) continue; /* its producer computed it */
        const float *ins[CNN_MAX_INPUTS];
        float *t[CNN_LAYER_TENSORS];
        for (int k = 0; k < L->spec.n_in; k++) ins[k] = layer_in(m, L, k, x);
        tensor_ptrs(m, L, m->params, t);
        f.in = ins[0];
        f.ins = ins;
        f.n_in = L->spec.n_in;
        f.t = t;
        f.index = (uint32_t)i;
        f.pool_out = L->pool_into >= 0 ? m->layers[L->pool_into].out : NULL;
        f.pool_argmax = L->pool_into >= 0 ? m->layers[L->pool_into].kept : NULL;
        double t0 = m->timing ? cnn_now() : 0.0;
        L->ops->forward(L, &f);
        if (m->timing) m->layer_time[i][0] += cnn_now() - t0;
    }
    return output_layer(m)->out;
}

/* The buffers' range of the gradient block, filled from what the last training forward saw. */
static void buffer_grads(CnnModel *m, float *grad, float scale, CnnGradMode mode)
{
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        if (!L->ops->buffer_grads) continue;
        float *g[CNN_LAYER_TENSORS];
        tensor_ptrs(m, L, grad, g);
        L->ops->buffer_grads(L, g, scale, mode);
    }
}

/* P's gradient += the scratch buffer (a later consumer's part of it), n samples. */
static void add_scratch(CnnModel *m, CnnLayer *P, int n)
{
    m->k->add(P->grad, P->grad, m->scratch, (size_t)n * P->out_size);
}

double cnn_model_backward(CnnModel *m, float *grad, CnnGradMode mode, const int *labels, int n, float grad_scale,
                          int *correct, const CnnGradHook *hook)
{
    CNN_ASSERT(n == m->batch);
    CnnLayer *last = output_layer(m);
    float *dlogits = last->needs_grad ? last->grad : m->arena; /* no gradient wanted: only the loss */
    double loss = cnn_softmax_xent_smoothed(last->needs_grad ? dlogits : NULL, last->out, labels, n, last->oc,
                                            m->label_smoothing, grad_scale, correct);
    if (m->n_params > m->n_trainable) {
        buffer_grads(m, grad, grad_scale, mode);
        if (hook) hook->ready(hook->ctx, m->n_trainable, m->n_params - m->n_trainable);
    }
    /* started[i]: layer i's gradient holds a first consumer's part (a later one adds through scratch) */
    unsigned char started[CNN_MAX_LAYERS] = {0};
    started[m->n_layers - 1] = 1;
    CnnLayerBwd b = {.k = m->k, .n = n, .mode = mode};
    for (int p = m->n_layers - 1; p >= 0; p--) {
        const int i = m->order[p];
        CnnLayer *L = &m->layers[i];
        if (!L->needs_grad) continue;
        if (!started[i] || !L->grad_live) { /* nothing takes its output (config.h's warning), or nothing
                                              * at or before it trains now: its gradients are zero */
            if (mode == CNN_GRAD_OVERWRITE && L->p_count) memset(grad + L->p_off, 0, L->p_count * sizeof(float));
            if (hook && L->p_count) hook->ready(hook->ctx, L->p_off, L->p_count);
            continue;
        }
        if (L->fused_away) { /* its producer's backward takes its gradient */
            started[L->spec.in[0]] = 1;
            continue;
        }
        const float *ins[CNN_MAX_INPUTS];
        float *dins[CNN_MAX_INPUTS], *t[CNN_LAYER_TENSORS], *g[CNN_LAYER_TENSORS];
        int add_to[CNN_MAX_INPUTS];
        for (int k = 0; k < L->spec.n_in; k++) {
            CnnLayer *P = L->spec.in[k] < 0 ? NULL : &m->layers[L->spec.in[k]];
            ins[k] = layer_in(m, L, k, m->input);
            add_to[k] = -1;
            dins[k] = NULL;
            if (!P || !P->grad_live) continue;
            if (!started[L->spec.in[k]]) {
                dins[k] = P->grad;
                started[L->spec.in[k]] = 1;
            } else {
                CNN_ASSERT(m->scratch != NULL);
                dins[k] = m->scratch;
                add_to[k] = L->spec.in[k];
            }
        }
        /* scratch serves one input at a time: a layer whose two inputs both add through it runs once per
         * such input below (only `add` takes several inputs, and its backward is a copy) */
        tensor_ptrs(m, L, m->params, t);
        tensor_ptrs(m, L, grad, g);
        b.dout = L->fused_next >= 0 ? L->fused_grad : L->grad;
        b.ins = ins;
        b.in = ins[0];
        b.n_in = L->spec.n_in;
        b.t = t;
        b.g = g;
        double t0 = m->timing ? cnn_now() : 0.0;
        int scratch_users = 0;
        for (int k = 0; k < L->spec.n_in; k++) scratch_users += add_to[k] >= 0;
        if (scratch_users <= 1) {
            b.din = dins[0];
            b.dins = dins;
            L->ops->backward(L, &b);
            for (int k = 0; k < L->spec.n_in; k++)
                if (add_to[k] >= 0) add_scratch(m, &m->layers[add_to[k]], n);
        } else {
            CNN_ASSERT(L->spec.type == CNN_LAYER_ADD && L->n_decl == 0);
            for (int k = 0; k < L->spec.n_in; k++) {
                if (!dins[k]) continue;
                float *one[CNN_MAX_INPUTS] = {0};
                one[k] = dins[k];
                b.din = one[0];
                b.dins = one;
                L->ops->backward(L, &b);
                if (add_to[k] >= 0) add_scratch(m, &m->layers[add_to[k]], n);
            }
        }
        if (m->timing) m->layer_time[i][1] += cnn_now() - t0;
        if (hook && L->p_count) hook->ready(hook->ctx, L->p_off, L->p_count);
    }
    return loss;
}

void cnn_model_announce_grads(const CnnModel *m, const CnnGradHook *hook)
{
    if (m->n_params > m->n_trainable) hook->ready(hook->ctx, m->n_trainable, m->n_params - m->n_trainable);
    for (int p = m->n_layers - 1; p >= 0; p--) {
        const CnnLayer *L = &m->layers[m->order[p]];
        if (L->needs_grad && L->p_count) hook->ready(hook->ctx, L->p_off, L->p_count);
    }
}

void cnn_model_update_buffers(CnnModel *m, const float *grad)
{
    for (int i = 0; i < m->n_layers; i++) {
        CnnLayer *L = &m->layers[i];
        if (!L->ops->buffer_update) continue;
        float *t[CNN_LAYER_TENSORS], *g[CNN_LAYER_TENSORS];
        tensor_ptrs(m, L, m->params, t);
        tensor_ptrs(m, L, (float *)grad, g);
        L->ops->buffer_update(L, t, (const float *const *)g);
    }
}

double cnn_model_weight_loss(const CnnModel *m)
{
    double total = 0.0;
    for (int i = 0; i < m->n_tensors; i++) {
        const CnnTensorInfo *t = &m->tensors[i];
        if (t->wl == 0.0f) continue;
        double s = 0.0;
        const float *w = m->params + t->offset;
        for (size_t j = 0; j < t->count; j++) s += (double)w[j] * (double)w[j];
        total += (double)t->wl * s * 0.5;
    }
    return total;
}

void cnn_model_scale_grads(const CnnModel *m, float *grad)
{
    for (int i = 0; i < m->n_trainable_tensors; i++) {
        const CnnTensorInfo *t = &m->tensors[i];
        if (t->lr_scale == 1.0f) continue;
        float *g = grad + t->offset;
        for (size_t j = 0; j < t->count; j++) g[j] *= t->lr_scale;
    }
}

/* a trainable tensor that the optimizer updates in a step of `epoch` */
static int tensor_trains(const CnnTensorInfo *t, double epoch)
{
    return !t->buffer && !t->frozen && !(t->until_epoch > 0.0f && epoch >= (double)t->until_epoch) && t->count > 0;
}

int cnn_model_trained_ranges(const CnnModel *m, double epoch, size_t *ranges)
{
    int n = 0;
    for (int i = 0; i < m->n_trainable_tensors; i++) {
        const CnnTensorInfo *t = &m->tensors[i];
        if (!tensor_trains(t, epoch)) continue;
        if (n > 0 && ranges[2 * n - 2] + ranges[2 * n - 1] == t->offset) {
            ranges[2 * n - 1] += t->count;
        } else {
            ranges[2 * n] = t->offset;
            ranges[2 * n + 1] = t->count;
            n++;
        }
    }
    return n;
}

void cnn_model_set_epoch(CnnModel *m, double epoch)
{
    for (int p = 0; p < m->n_layers; p++) {
        CnnLayer *L = &m->layers[m->order[p]];
        int live = 0;
        for (int t = 0; t < L->n_decl; t++) live |= tensor_trains(&m->tensors[L->tensor[t]], epoch);
        for (int k = 0; k < L->spec.n_in; k++) live |= L->spec.in[k] >= 0 && m->layers[L->spec.in[k]].grad_live;
        L->grad_live = L->needs_grad && live;
    }
}

void cnn_model_add_weight_decay(const CnnModel *m, float *grad, double weight_decay)
{
    for (int i = 0; i < m->n_trainable_tensors; i++) {
        const CnnTensorInfo *t = &m->tensors[i];
        const float wl = t->wl + (t->decay ? (float)weight_decay : 0.0f);
        if (wl == 0.0f) continue;
        const float *w = m->params + t->offset;
        float *g = grad + t->offset;
        for (size_t j = 0; j < t->count; j++) g[j] += wl * w[j];
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

/* Values in a layer's tensors, trainable and buffers. */
static size_t layer_params(const CnnModel *m, const CnnLayer *L)
{
    size_t c = 0;
    for (int t = 0; t < L->n_decl; t++) c += m->tensors[L->tensor[t]].count;
    return c;
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

void cnn_model_summary(const CnnModel *m, FILE *f, int batch, double peak)
{
    fprintf(f, "kernels: %s (%s)%s\n", cnn_isa_name(m->isa), cnn_isa_describe(m->isa),
            m->k->tiles ? "" : "; OpenBLAS for every product");
    int tw = 8, nw = 12; /* the type and name columns: as wide as the longest */
    double predicted = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const int t = (int)strlen(cnn_layer_type_name(m->layers[i].spec.type)), l = (int)strlen(m->layers[i].spec.name);
        if (t > tw) tw = t;
        if (l > nw) nw = l;
    }
    fprintf(f, "%-*s %-*s %-12s %12s %14s %9s  %s\n", nw, "layer", tw, "type", "output", "params", "MFLOP fwd",
            peak > 0 ? "ms/step" : "", "kernel");
    fprintf(f, "%-*s %-*s %dx%dx%-8d %12s %14s\n", nw, "input", tw, "", m->in_h, m->in_w, m->in_c, "", "");
    for (int i = 0; i < m->n_layers; i++) {
        const CnnLayer *L = &m->layers[i];
        char shape[48];
        shape_str(shape, sizeof shape, L);
        /* which code computes the layer (plan.h), and its inputs where they are not the layer before */
        char kernel[64] = "", inputs[CNN_MAX_INPUTS * (CNN_NAME_LEN + 2) + 16] = "";
        layer_kernel_name(L, kernel, sizeof kernel);
        /* fusion (not part of the kernels line checkpoints record: the bits are the same either way) */
        if (L->fused_next >= 0) snprintf(kernel, sizeof kernel, "+ %s", m->layers[L->fused_next].spec.name);
        if (L->fused_away) snprintf(kernel, sizeof kernel, "in %s", m->layers[L->spec.in[0]].spec.name);
        if (L->pool_into >= 0) {
            const size_t u = strlen(kernel);
            snprintf(kernel + u, sizeof kernel - u, " + %s", m->layers[L->pool_into].spec.name);
        }
        if (L->fwd_fused) snprintf(kernel, sizeof kernel, "forward in %s", m->layers[L->spec.in[0]].spec.name);
        if (L->spec.n_in != 1 || L->spec.in[0] != i - 1) {
            size_t u = (size_t)snprintf(inputs, sizeof inputs, "%s<- ", *kernel ? "  " : "");
            for (int k = 0; k < L->spec.n_in && u < sizeof inputs; k++)
                u += (size_t)snprintf(inputs + u, sizeof inputs - u, "%s%s", k ? ", " : "",
                                      L->spec.in[k] < 0 ? "input" : m->layers[L->spec.in[k]].spec.name);
        }
        /* the time model's forward + backward for a step of `batch` samples (planned layers) */
        char ms[24] = "";
        if (peak > 0 && L->ops->plan_time) {
            CnnPlanTime t;
            L->ops->plan_time(L, batch, peak, &t);
            const double sum = t.fwd + (L->needs_grad ? t.wgrad + t.dgrad : 0.0);
            snprintf(ms, sizeof ms, "%.1f", sum);
            predicted += sum;
        }
        fprintf(f, "%-*s %-*s %-12s %12zu %14.3f %9s%s%s%s\n", nw, L->spec.name, tw,
                cnn_layer_type_name(L->spec.type), shape, layer_params(m, L), L->flops_fwd / 1e6, ms,
                *kernel || *inputs ? "  " : "", kernel, inputs);
    }
    fprintf(f, "total: %zu parameters (%.2f MB float32)", m->n_trainable, (double)m->n_trainable * 4.0 / 1e6);
    if (m->n_params > m->n_trainable) fprintf(f, ", %zu in buffers (not trained)", m->n_params - m->n_trainable);
    fprintf(f, "\n");
    char act[32];
    cnn_human_bytes(act, sizeof act, m->mem.arena / m->max_batch);
    fprintf(f, "activations: %s per sample at the peak (outputs and their gradients, each kept only while needed)\n",
            act);
    fprintf(f, "per image: %.2f MFLOP forward, %.2f MFLOP training (forward + backward)\n",
            cnn_model_forward_flops(m) / 1e6, cnn_model_train_flops(m) / 1e6);
    if (peak > 0)
        fprintf(f,
                "ms/step: the time model's forward + backward of the conv and dense layers for one step of %d "
                "images on one core of %.0f GFLOP/s (this core's FMA peak, measured): %.0f ms in all (on R ranks "
                "each does 1/R); the other layers are not modelled (--bench measures every layer)\n",
                batch, peak, predicted);
}
