/* gradsync: a step's global mean gradient on every rank (see gradsync.h for the protocol). */
#include "cnn/gradsync.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/comm.h"
#include "cnn/data/sampler.h"
#include "cnn/nn/fixedsum.h"
#include "cnn/util.h"

#define EXP_MARGIN 3 /* a tensor's largest gradient may grow 8x from one step to the next before the
                      * step falls back to the exact two-pass sum */

struct CnnGradSync {
    CnnModel *m;
    CnnGradPartition p;
    int B, micro_batch, size;
    int *positions;             /* lo..hi-1: the samples' places in the global batch (dropout) */
    /* deterministic mode */
    int headroom;
    float *gscratch;            /* the gradient of one micro-shard */
    int64_t *acc;               /* fixed-point sum of this rank's micro-shards */
    int *exp_prev;              /* per tensor, the largest micro-shard gradient exponent of the last step
                                 * (global); with a margin it bounds this step's */
    int have_prev;              /* exp_prev is valid (not on a fresh run's first step) */
    int *bound;                 /* this step's exponent bounds */
    int *seen;                  /* this step's exponents, then [nt] loss not finite, [nt+1] overflow */
    int over;                   /* some value exceeded its bound on this rank */
    /* Buckets, both modes: parameter layers finish last to first, so the final gradients grow down from
     * the end of the block; a bucket of at least bucket_elems elements is sent with a non-blocking
     * allreduce as soon as it is complete. The cut points depend only on the layers, so every rank issues
     * the same collectives in the same order. */
    size_t bucket_elems;        /* 0: one blocking call after backward */
    size_t pend_lo, pend_hi;    /* final but not yet sent: [pend_lo, pend_hi) */
    CnnCommReq *reqs[2 * CNN_MAX_LAYERS];
    int n_reqs;
    CnnGradSyncTimes t;
};

void cnn_gradsync_partition(const CnnConfig *cfg, int rank, int size, CnnGradPartition *p)
{
    memset(p, 0, sizeof *p);
    const int B = cfg->batch;
    if (cfg->deterministic) {
        p->n_micro = (B + cfg->micro_batch - 1) / cfg->micro_batch;
        cnn_sampler_slice(p->n_micro, rank, size, &p->micro_lo, &p->micro_hi);
        p->lo = p->micro_lo * cfg->micro_batch < B ? p->micro_lo * cfg->micro_batch : B;
        p->hi = p->micro_hi * cfg->micro_batch < B ? p->micro_hi * cfg->micro_batch : B;
        p->max_samples = cfg->micro_batch;
    } else {
        cnn_sampler_slice(B, rank, size, &p->lo, &p->hi);
        p->max_samples = (B + size - 1) / size;
    }
}

CnnGradSync *cnn_gradsync_create(const CnnConfig *cfg, CnnModel *m, int rank, int size)
{
    CnnGradSync *g = cnn_calloc(1, sizeof *g);
    g->m = m;
    g->B = cfg->batch;
    g->micro_batch = cfg->micro_batch;
    g->size = size;
    cnn_gradsync_partition(cfg, rank, size, &g->p);
    CNN_ASSERT(g->p.max_samples <= m->max_batch);
    int n = g->p.hi - g->p.lo;
    g->positions = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int j = 0; j < n; j++) g->positions[j] = g->p.lo + j;
    /* bucket size in elements: int64 sums in deterministic mode, floats in fast mode */
    g->bucket_elems = (size_t)(cfg->bucket_kb * 1024.0 / (g->p.n_micro ? sizeof(int64_t) : sizeof(float)));
    if (g->p.n_micro) {
        size_t nt = (size_t)m->n_tensors;
        g->headroom = cnn_fixed_headroom(g->p.n_micro);
        g->gscratch = cnn_aligned_for(m->n_params * sizeof(float), "a micro-shard's gradient");
        g->acc = cnn_aligned_for(m->n_params * sizeof(int64_t), "the fixed-point gradient sums");
        g->exp_prev = cnn_calloc(nt, sizeof(int));
        g->bound = cnn_calloc(nt, sizeof(int));
        g->seen = cnn_calloc(nt + 2, sizeof(int));
    }
    return g;
}

void cnn_gradsync_free(CnnGradSync *g)
{
    if (!g) return;
    free(g->positions);
    free(g->gscratch);
    free(g->acc);
    free(g->exp_prev);
    free(g->bound);
    free(g->seen);
    free(g);
}

const CnnGradPartition *cnn_gradsync_partition_of(const CnnGradSync *g) { return &g->p; }
const CnnGradSyncTimes *cnn_gradsync_times(const CnnGradSync *g) { return &g->t; }
void cnn_gradsync_reset_times(CnnGradSync *g) { memset(&g->t, 0, sizeof g->t); }

int cnn_gradsync_exponents(const CnnGradSync *g, int *exps)
{
    if (!g->p.n_micro || !g->have_prev) return 0;
    memcpy(exps, g->exp_prev, (size_t)g->m->n_tensors * sizeof(int));
    return g->m->n_tensors;
}

void cnn_gradsync_set_exponents(CnnGradSync *g, const int *exps, int n)
{
    g->have_prev = 0;
    if (g->p.n_micro && n == g->m->n_tensors) {
        memcpy(g->exp_prev, exps, (size_t)n * sizeof(int));
        g->have_prev = 1;
    }
}

/* ---- buckets ---- */

static int use_buckets(const CnnGradSync *g) { return g->bucket_elems > 0 && g->size > 1; }

static void bucket_send(CnnGradSync *g)
{
    if (g->pend_hi > g->pend_lo) {
        CNN_ASSERT(g->n_reqs < 2 * CNN_MAX_LAYERS);
        size_t lo = g->pend_lo, n = g->pend_hi - g->pend_lo;
        g->reqs[g->n_reqs++] = g->p.n_micro ? cnn_comm_isum_i64(g->acc + lo, n) : cnn_comm_isum_float(g->m->grads + lo, n);
    }
    g->pend_lo = g->pend_hi = 0;
}

static void bucket_add(CnnGradSync *g, size_t offset, size_t count)
{
    if (g->pend_hi == g->pend_lo) g->pend_hi = offset + count;
    CNN_ASSERT(offset + count == g->pend_lo || g->pend_hi == offset + count);
    g->pend_lo = offset;
    /* Open MPI progresses a non-blocking collective only inside MPI calls: poke the ones in flight */
    for (int i = 0; i < g->n_reqs; i++) cnn_comm_progress(g->reqs[i]);
    if (g->pend_hi - g->pend_lo >= g->bucket_elems) bucket_send(g);
}

static double buckets_finish(CnnGradSync *g)
{
    bucket_send(g);
    double w = 0;
    for (int i = 0; i < g->n_reqs; i++) w += cnn_comm_wait(g->reqs[i]);
    g->n_reqs = 0;
    return w;
}

/* The backward hook, fast mode: the layer's float gradients are final. */
static void on_grad_ready_fast(void *ctx, size_t offset, size_t count) { bucket_add(ctx, offset, count); }

/* Tensors [*t0, *t1) of the parameter range [offset, offset + count). */
static void tensor_range(const CnnModel *m, size_t offset, size_t count, int *t0, int *t1)
{
    *t0 = 0;
    while (*t0 < m->n_tensors && m->tensors[*t0].offset < offset) (*t0)++;
    *t1 = *t0;
    while (*t1 < m->n_tensors && m->tensors[*t1].offset < offset + count) (*t1)++;
}

/* The backward hook, deterministic mode, during the last local micro-shard: this layer's sum is
 * complete on this rank once its part of the scratch gradient is added; then it can travel. */
static void on_grad_ready_det(void *ctx, size_t offset, size_t count)
{
    CnnGradSync *g = ctx;
    int t0, t1;
    tensor_range(g->m, offset, count, &t0, &t1);
    g->over |= cnn_fixed_accumulate_bounded(g->m->k, g->acc, g->seen, g->gscratch, g->m->tensors, t0, t1, g->bound,
                                            g->headroom, g->p.micro_hi - g->p.micro_lo == 1);
    bucket_add(g, offset, count);
}

/* ---- deterministic mode ---- */

/* Forward and backward of local micro-shard k into g->gscratch; adds its loss and right answers to st.
 * Returns 1 if its loss is not finite. */
static int micro_shard(CnnGradSync *g, const float *x, const int *y, long step, int k, CnnStepStats *st,
                       const CnnGradHook *hook)
{
    CnnModel *m = g->m;
    const int lo = g->p.lo;
    size_t per = (size_t)m->in_h * m->in_w * m->in_c;
    int a = k * g->micro_batch, b = a + g->micro_batch < g->B ? a + g->micro_batch : g->B;
    double tf = cnn_now();
    cnn_model_forward(m, x + (size_t)(a - lo) * per, b - a, 1, step, g->positions + (a - lo));
    double tb = cnn_now();
    int c = 0;
    double l = cnn_model_backward(m, g->gscratch, CNN_GRAD_OVERWRITE, y + (a - lo), b - a, 1.0f / (float)g->B, &c, hook);
    g->t.fwd += tb - tf;
    g->t.bwd += cnn_now() - tb;
    if (!isfinite(l)) return 1;
    st->loss_fixed += llrint(l * CNN_LOSS_SCALE);
    st->correct += c;
    return 0;
}

/* Names the first tensor (or the loss) flagged non-finite in seen; NULL if none. */
static const char *nonfinite_in(const CnnGradSync *g)
{
    int nt = g->m->n_tensors;
    for (int t = 0; t < nt; t++)
        if (g->seen[t] == CNN_FIXED_EXP_NONFINITE) return g->m->tensors[t].name;
    return g->seen[nt] ? "loss" : NULL;
}

/* The exact sum with exponents exps known for this step: recompute every local micro-shard (same
 * inputs, same dropout draws, so the same bits), accumulate, reduce, convert. */
static void exact_sum(CnnGradSync *g, const float *x, const int *y, long step, const int *exps)
{
    CnnModel *m = g->m;
    CnnStepStats ignored = {0, 0};
    memset(g->acc, 0, m->n_params * sizeof(int64_t));
    for (int k = g->p.micro_lo; k < g->p.micro_hi; k++) {
        micro_shard(g, x, y, step, k, &ignored, NULL);
        cnn_fixed_accumulate(m->k, g->acc, g->gscratch, m->tensors, m->n_tensors, exps, g->headroom);
    }
    double tr = cnn_now();
    cnn_comm_sum_i64(g->acc, m->n_params);
    cnn_fixed_to_float(m->k, m->grads, g->acc, m->tensors, m->n_tensors, exps, g->headroom);
    memcpy(g->exp_prev, exps, (size_t)m->n_tensors * sizeof(int));
    g->have_prev = 1;
    g->t.exact_steps++;
    g->t.reduce += cnn_now() - tr;
}

/* No exponents yet (a fresh run's first step): pass 1 finds them, pass 2 sums exactly. */
static int two_pass(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st, const char **where)
{
    CnnModel *m = g->m;
    const int nt = m->n_tensors;
    int loss_bad = 0;
    for (int k = g->p.micro_lo; k < g->p.micro_hi; k++) {
        loss_bad |= micro_shard(g, x, y, step, k, st, NULL);
        cnn_fixed_update_exponents(g->seen, g->gscratch, m->tensors, nt);
    }
    g->seen[nt] = loss_bad;
    cnn_comm_max_int(g->seen, (size_t)nt + 2);
    if ((*where = nonfinite_in(g)) != NULL) return -1;
    exact_sum(g, x, y, step, g->seen);
    return 0;
}

/* Every local micro-shard, added to acc with this step's bounds; the last one's layers go out in buckets
 * as backward finishes them. Returns 1 if some loss was not finite. */
static int one_pass_local(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st)
{
    CnnModel *m = g->m;
    const int nt = m->n_tensors, buckets = use_buckets(g);
    int loss_bad = 0;
    double ts = cnn_now();
    if (g->p.micro_hi == g->p.micro_lo) /* no micro-shard here: zeros join the sum (else the first one writes acc) */
        memset(g->acc, 0, m->n_params * sizeof(int64_t));
    g->t.sum += cnn_now() - ts;
    g->over = 0;
    const CnnGradHook hook = {on_grad_ready_det, g};
    for (int k = g->p.micro_lo; k < g->p.micro_hi; k++) {
        const int last = k == g->p.micro_hi - 1;
        loss_bad |= micro_shard(g, x, y, step, k, st, last && buckets ? &hook : NULL);
        if (!(last && buckets)) {
            ts = cnn_now();
            g->over |= cnn_fixed_accumulate_bounded(m->k, g->acc, g->seen, g->gscratch, m->tensors, 0, nt, g->bound,
                                                    g->headroom, k == g->p.micro_lo);
            g->t.sum += cnn_now() - ts;
        }
    }
    return loss_bad;
}

/* Deterministic mode: the global mean gradient into m->grads, bitwise the same on any number of ranks.
 * Returns -1 on NaN/Inf (*where names the tensor or the loss). */
static int det_step(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st, const char **where)
{
    CnnModel *m = g->m;
    const int nt = m->n_tensors;
    for (int t = 0; t < nt; t++) g->seen[t] = CNN_FIXED_EXP_ZERO;
    g->seen[nt] = g->seen[nt + 1] = 0;
    if (!g->have_prev) return two_pass(g, x, y, step, st, where);
    for (int t = 0; t < nt; t++)
        g->bound[t] = g->exp_prev[t] == CNN_FIXED_EXP_ZERO ? CNN_FIXED_EXP_ZERO : g->exp_prev[t] + EXP_MARGIN;
    const int loss_bad = one_pass_local(g, x, y, step, st);
    double tr = cnn_now();
    if (use_buckets(g)) {
        if (g->p.micro_hi == g->p.micro_lo) { /* no micro-shard here: join the same collectives with zeros */
            const CnnGradHook zeros = {on_grad_ready_fast, g};
            cnn_model_announce_grads(m, &zeros);
        }
        g->t.wait += buckets_finish(g);
    } else {
        cnn_comm_sum_i64(g->acc, m->n_params);
    }
    g->seen[nt] = loss_bad;
    g->seen[nt + 1] = g->over;
    cnn_comm_max_int(g->seen, (size_t)nt + 2);
    g->t.reduce += cnn_now() - tr;
    if ((*where = nonfinite_in(g)) != NULL) return -1;
    if (g->seen[nt + 1]) {
        /* a value outgrew its bound somewhere: the exponents just gathered are this step's exact ones */
        exact_sum(g, x, y, step, g->seen);
        return 0;
    }
    tr = cnn_now();
    cnn_fixed_to_float(m->k, m->grads, g->acc, m->tensors, nt, g->bound, g->headroom);
    memcpy(g->exp_prev, g->seen, (size_t)nt * sizeof(int));
    g->t.reduce += cnn_now() - tr;
    return 0;
}

/* ---- fast mode ---- */

/* Finds the first non-finite gradient and names its tensor. */
static const char *nonfinite_owner(const CnnModel *m, const float *grad)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(grad[i])) return cnn_model_param_owner(m, i);
    return NULL;
}

static int fast_step(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st, const char **where)
{
    CnnModel *m = g->m;
    const int n = g->p.hi - g->p.lo;
    double t0 = cnn_now();
    if (n <= 0) memset(m->grads, 0, m->n_params * sizeof(float)); /* no samples here: zeros join the sum */
    if (n > 0) {
        cnn_model_forward(m, x, n, 1, step, g->positions);
        double tb = cnn_now();
        g->t.fwd += tb - t0;
        int c = 0;
        const CnnGradHook hook = {on_grad_ready_fast, g};
        double l = cnn_model_backward(m, m->grads, CNN_GRAD_OVERWRITE, y, n, 1.0f / (float)g->B, &c,
                                      use_buckets(g) ? &hook : NULL);
        g->t.bwd += cnn_now() - tb;
        st->loss_fixed = isfinite(l) ? llrint(l * CNN_LOSS_SCALE) : INT64_MIN;
        st->correct = c;
    }
    double tr = cnn_now();
    if (use_buckets(g))
        g->t.wait += buckets_finish(g);
    else
        cnn_comm_sum_float(m->grads, m->n_params);
    g->t.reduce += cnn_now() - tr;
    if (cnn_comm_any(st->loss_fixed == INT64_MIN)) {
        *where = "loss";
        return -1;
    }
    if ((*where = nonfinite_owner(m, m->grads)) != NULL) return -1;
    return 0;
}

int cnn_gradsync_step(CnnGradSync *g, const float *x, const int *y, long step, CnnStepStats *st, const char **where)
{
    memset(st, 0, sizeof *st);
    *where = NULL;
    if (g->p.n_micro ? det_step(g, x, y, step, st, where) : fast_step(g, x, y, step, st, where)) return -1;
    int64_t sums[2] = {st->loss_fixed, st->correct};
    cnn_comm_sum_i64(sums, 2);
    st->loss_fixed = sums[0];
    st->correct = sums[1];
    return 0;
}
