/* train: the training loop that joins data, model, optimizer, comm, checkpoints and metrics.
 *
 * One step, on every rank:
 *   take this rank's part of global batch `step` from the prefetch ring
 *   deterministic mode: the batch is cut into micro-shards of micro_batch samples that do not depend on
 *     the rank count; this rank computes the gradient of each of its micro-shards separately and the
 *     sum goes through fixedsum (exact integers), so the result is bitwise the same on any rank count
 *     (one pass, with the int64 buckets of the last micro-shard overlapped with its backward)
 *   fast mode: one forward/backward over the rank's contiguous slice and float MPI_Iallreduce buckets
 *   weight decay, NaN/Inf check, learning rate, optimizer step (identical on every rank)
 *   every log_every: progress line and a metrics row (rank 0); every eval_every: sharded evaluation;
 *   every checkpoint_every: checkpoint (rank 0, atomic). A signal on any rank stops all of them at the
 *   next step boundary, after a checkpoint. */
#include "cnn/train.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/cpu.h"
#include "cnn/data/augment.h"
#include "cnn/data/dataset.h"
#include "cnn/data/prefetch.h"
#include "cnn/data/sampler.h"
#include "cnn/io/checkpoint.h"
#include "cnn/io/metrics.h"
#include "cnn/nn/fixedsum.h"
#include "cnn/nn/gemm.h"
#include "cnn/nn/model.h"
#include "cnn/nn/optim.h"
#include "cnn/util.h"

#define LOSS_SCALE 4294967296.0 /* 2^32: losses summed exactly as fixed point */

/* ---- signals: set a flag, act at the next step boundary ---- */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    if (sig == SIGINT && stop_signal == SIGINT) _exit(130); /* a second Ctrl-C: now */
    stop_signal = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* ---- the run's state ---- */
typedef struct {
    const CnnConfig *cfg;
    int rank, size;
    CnnDataset train, test;
    CnnAugment aug_train, aug_test;
    CnnSampler sampler;         /* used by the producer thread only */
    CnnModel model;
    CnnOptim optim;
    int B;                      /* global batch */
    int n_micro;                /* deterministic: micro-shards per batch; fast: 0 */
    int lo, hi;                 /* this rank's positions [lo, hi) of every global batch */
    int micro_lo, micro_hi;     /* deterministic: this rank's micro-shards */
    float *gscratch;            /* deterministic: the gradient of one micro-shard */
    int64_t *acc;               /* deterministic: fixed-point sum of this rank's micro-shards */
    int *exp_prev;              /* deterministic: per tensor, the largest micro-shard gradient exponent of
                                 * the last step (global); with a margin it bounds this step's */
    int have_prev;              /* exp_prev is valid (not on a fresh run's first step) */
    int *bound;                 /* this step's exponent bounds */
    int *seen;                  /* this step's exponents, then [nt] loss not finite, [nt+1] overflow */
    int over;                   /* some value exceeded its bound on this rank */
    long n_exact;               /* steps that took the two-pass exact sum (first step, overflows) */
    int headroom;
    int *positions;             /* lo..hi-1 */
    int *idx_buf;
    long *epoch_buf;
    CnnPrefetch *prefetch;
    float *sync_x;              /* prefetch off: batch filled in place */
    int *sync_y;
    double t_data, t_fwd, t_bwd, t_sum, t_reduce, t_opt; /* seconds, for --bench */
    int eval_only;              /* --eval: the recipe may differ from the checkpoint's */
    char *config_text;          /* canonical INI text after overrides, for checkpoints and metrics */
    /* gradient buckets reduced with MPI_Iallreduce while backward goes on (floats in fast mode, the
     * int64 sums of the last micro-shard in deterministic mode) */
    size_t bucket_elems;       /* start a bucket once it holds this many elements (0 = one blocking call) */
    size_t pend_lo, pend_hi;    /* gradients final but not yet sent: [pend_lo, pend_hi) */
    CnnCommReq *reqs[2 * CNN_MAX_LAYERS];
    int n_reqs;
    double t_wait;              /* seconds spent waiting for buckets after backward */
    CnnIsa isa;                 /* the kernels' instruction set, agreed by all ranks */
    CnnIsa isa_local;           /* what this rank's CPU (and CNN_ISA) allow */
} Run;

static void fill_batch(void *ctx, long step, float *x, int *y)
{
    Run *r = ctx;
    int n = r->hi - r->lo;
    if (n <= 0) return;
    cnn_sampler_get(&r->sampler, step, r->lo, r->hi, r->idx_buf, r->epoch_buf);
    size_t per = (size_t)r->model.in_h * r->model.in_w * r->model.in_c;
    for (int j = 0; j < n; j++) {
        int i = r->idx_buf[j];
        cnn_augment_train(&r->aug_train, x + (size_t)j * per, r->train.images[i], r->epoch_buf[j], i);
        y[j] = r->train.labels[i];
    }
}

/* run.threads if set, else OPENBLAS_NUM_THREADS if the user exported it, else the cores of this node
 * divided by the ranks on it, capped by the CPUs this process may run on. */
static int auto_threads(const CnnConfig *cfg)
{
    if (cfg->threads > 0) return cfg->threads;
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    cpu_set_t set;
    int allowed = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) allowed = CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int per_rank = (int)(online / cnn_comm_local_size());
    if (per_rank < 1) per_rank = 1;
    if (allowed > 0 && allowed < per_rank) per_rank = allowed;
    return per_rank;
}

/* The instruction set every rank uses: the lowest any of them supports (after CNN_ISA), so all ranks run
 * the same kernels. Said once when the ranks differ. */
static CnnIsa agree_isa(CnnIsa local, int rank)
{
    uint64_t lo = (uint64_t)local, hi = (uint64_t)local;
    cnn_comm_min_u64(&lo, 1);
    cnn_comm_max_u64(&hi, 1);
    if (lo != hi && rank == 0)
        cnn_info("the ranks' CPUs differ (%s to %s): every rank runs the %s kernels, which give the same bits on "
                 "each of them",
                 cnn_isa_name((CnnIsa)lo), cnn_isa_name((CnnIsa)hi), cnn_isa_name((CnnIsa)lo));
    return (CnnIsa)lo;
}

/* Any rank's failure becomes every rank's, so nobody is left in a collective. */
static int agree_fail(int failed, const CnnErr *err)
{
    if (failed) fprintf(stderr, "cnn-dist: %s\n", err->msg);
    return cnn_comm_any(failed);
}

/* A single updating progress line only on a real terminal: Open MPI hands ranks a pty even when
 * mpirun's own output goes to a file, so under a launcher the answer is plain lines, unless
 * CNN_PROGRESS=line|plain says otherwise. */
static int progress_on_terminal(void)
{
    const char *p = getenv("CNN_PROGRESS");
    if (p && strcmp(p, "line") == 0) return 1;
    if (p && strcmp(p, "plain") == 0) return 0;
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_JOB_ID")) return 0;
    return isatty(STDOUT_FILENO);
}

static void human_time(char *buf, size_t n, double s)
{
    if (s < 0 || !isfinite(s)) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* ---- evaluation: the test set in fixed chunks of eval_batch, chunks spread over ranks, sums exact ---- */
static void evaluate(Run *r, double *loss, double *acc)
{
    CnnModel *m = &r->model;
    int E = r->cfg->eval_batch;
    if (E > m->max_batch) E = m->max_batch;
    int n = r->test.n, chunks = (n + E - 1) / E, c0, c1;
    cnn_sampler_slice(chunks, r->rank, r->size, &c0, &c1);
    size_t per = (size_t)m->in_h * m->in_w * m->in_c;
    float *x = cnn_aligned(cnn_mul_size((size_t)E, per * sizeof(float)));
    int *y = cnn_malloc((size_t)E * sizeof(int));
    int64_t sums[2] = {0, 0};
    for (int c = c0; c < c1; c++) {
        int a = c * E, b = a + E < n ? a + E : n;
        for (int i = a; i < b; i++) {
            cnn_augment_eval(&r->aug_test, x + (size_t)(i - a) * per, r->test.images[i]);
            y[i - a] = r->test.labels[i];
        }
        const float *logits = cnn_model_forward(m, x, b - a, 0, 0, NULL);
        int correct = 0;
        double l = cnn_softmax_xent(NULL, logits, y, b - a, m->num_classes, 1.0f, &correct);
        sums[0] += llrint(l * LOSS_SCALE);
        sums[1] += correct;
    }
    free(x);
    free(y);
    cnn_comm_sum_i64(sums, 2);
    *loss = (double)sums[0] / LOSS_SCALE / n;
    *acc = (double)sums[1] / n;
}

/* Finds the first non-finite gradient and names its tensor. */
static const char *nonfinite_owner(const CnnModel *m, const float *g)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(g[i])) return cnn_model_param_owner(m, i);
    return NULL;
}

/* Gradient buckets (both modes): parameter layers finish last to first, so the final gradients grow
 * down from the end of the block; a bucket of at least bucket_elems elements is sent with a
 * non-blocking allreduce as soon as it is complete (float gradients in fast mode, the int64 fixed-point
 * sums in deterministic mode). The cut points depend only on the layers, so every rank issues the same
 * collectives in the same order. */
static void bucket_send(Run *r)
{
    if (r->pend_hi > r->pend_lo) {
        CNN_ASSERT(r->n_reqs < 2 * CNN_MAX_LAYERS);
        size_t lo = r->pend_lo, n = r->pend_hi - r->pend_lo;
        r->reqs[r->n_reqs++] = r->n_micro ? cnn_comm_isum_i64(r->acc + lo, n) : cnn_comm_isum_float(r->model.grads + lo, n);
    }
    r->pend_lo = r->pend_hi = 0;
}

static void bucket_add(Run *r, size_t offset, size_t count)
{
    if (r->pend_hi == r->pend_lo) r->pend_hi = offset + count;
    CNN_ASSERT(offset + count == r->pend_lo || r->pend_hi == offset + count);
    r->pend_lo = offset;
    /* Open MPI progresses a non-blocking collective only inside MPI calls: poke the ones in flight */
    for (int i = 0; i < r->n_reqs; i++) cnn_comm_progress(r->reqs[i]);
    if (r->pend_hi - r->pend_lo >= r->bucket_elems) bucket_send(r);
}

static double buckets_finish(Run *r)
{
    bucket_send(r);
    double w = 0;
    for (int i = 0; i < r->n_reqs; i++) w += cnn_comm_wait(r->reqs[i]);
    r->n_reqs = 0;
    return w;
}

/* model.grad_ready, fast mode */
static void on_grad_ready(void *ctx, size_t offset, size_t count) { bucket_add(ctx, offset, count); }

/* Tensors [*t0, *t1) of the parameter range [offset, offset + count). */
static void tensor_range(const CnnModel *m, size_t offset, size_t count, int *t0, int *t1)
{
    *t0 = 0;
    while (*t0 < m->n_tensors && m->tensors[*t0].offset < offset) (*t0)++;
    *t1 = *t0;
    while (*t1 < m->n_tensors && m->tensors[*t1].offset < offset + count) (*t1)++;
}

/* model.grad_ready, deterministic mode, during the last local micro-shard: this layer's sum is complete
 * on this rank once its part of the scratch gradient is added; then it can travel. */
static void on_grad_ready_det(void *ctx, size_t offset, size_t count)
{
    Run *r = ctx;
    int t0, t1;
    tensor_range(&r->model, offset, count, &t0, &t1);
    r->over |= cnn_fixed_accumulate_bounded(r->model.k, r->acc, r->seen, r->gscratch, r->model.tensors, t0, t1, r->bound,
                                            r->headroom, r->micro_hi - r->micro_lo == 1);
    bucket_add(r, offset, count);
}

#define EXP_MARGIN 3 /* a tensor's largest gradient may grow 8x from one step to the next before the
                      * step falls back to the exact two-pass sum */

/* Forward and backward of local micro-shard k into r->gscratch; adds its loss and right answers to
 * stats. Returns 1 if its loss is not finite. */
static int micro_shard(Run *r, const float *x, const int *y, long step, int k, int64_t *stats, const CnnGradHook *hook)
{
    CnnModel *m = &r->model;
    size_t per = (size_t)m->in_h * m->in_w * m->in_c;
    int a = k * r->cfg->micro_batch, b = a + r->cfg->micro_batch < r->B ? a + r->cfg->micro_batch : r->B;
    double tf = cnn_now();
    cnn_model_forward(m, x + (size_t)(a - r->lo) * per, b - a, 1, step, r->positions + (a - r->lo));
    double tb = cnn_now();
    int c = 0;
    double l = cnn_model_backward(m, r->gscratch, CNN_GRAD_OVERWRITE, y + (a - r->lo), b - a, 1.0f / (float)r->B, &c, hook);
    r->t_fwd += tb - tf;
    r->t_bwd += cnn_now() - tb;
    if (!isfinite(l)) return 1;
    stats[0] += llrint(l * LOSS_SCALE);
    stats[1] += c;
    return 0;
}

/* Names the first tensor (or the loss) flagged non-finite in seen; NULL if none. */
static const char *nonfinite_in(const Run *r)
{
    int nt = r->model.n_tensors;
    for (int t = 0; t < nt; t++)
        if (r->seen[t] == CNN_FIXED_EXP_NONFINITE) return r->model.tensors[t].name;
    return r->seen[nt] ? "loss" : NULL;
}

/* The exact sum with exponents exps known for this step: recompute every local micro-shard (same
 * inputs, same dropout draws, so the same bits), accumulate, reduce, convert. */
static void exact_sum(Run *r, const float *x, const int *y, long step, const int *exps)
{
    CnnModel *m = &r->model;
    int64_t dummy[2] = {0, 0};
    memset(r->acc, 0, m->n_params * sizeof(int64_t));
    for (int k = r->micro_lo; k < r->micro_hi; k++) {
        micro_shard(r, x, y, step, k, dummy, NULL);
        cnn_fixed_accumulate(m->k, r->acc, r->gscratch, m->tensors, m->n_tensors, exps, r->headroom);
    }
    double tr = cnn_now();
    cnn_comm_sum_i64(r->acc, m->n_params);
    cnn_fixed_to_float(m->k, m->grads, r->acc, m->tensors, m->n_tensors, exps, r->headroom);
    memcpy(r->exp_prev, exps, (size_t)m->n_tensors * sizeof(int));
    r->have_prev = 1;
    r->n_exact++;
    r->t_reduce += cnn_now() - tr;
}

/* Deterministic mode: the global mean gradient into model.grads, bitwise the same on any number of
 * ranks (see fixedsum.h). Usually one pass: this step's scales come from the last step's exponents
 * plus a margin, each micro-shard is added to the int64 sum right after its backward, and the last
 * micro-shard's layers travel in buckets while earlier layers still compute. When there are no
 * previous exponents, or a value outgrew its bound on any rank, the step is summed again exactly
 * (two passes). Returns -1 on NaN/Inf (*where names the tensor or the loss). */
static int det_gradient(Run *r, const float *x, const int *y, long step, int64_t *stats, const char **where)
{
    CnnModel *m = &r->model;
    const int nt = m->n_tensors, buckets = r->bucket_elems > 0 && r->size > 1;
    for (int t = 0; t < nt; t++) r->seen[t] = CNN_FIXED_EXP_ZERO;
    r->seen[nt] = r->seen[nt + 1] = 0;
    int loss_bad = 0;
    if (!r->have_prev) {
        /* pass 1: the exponents */
        for (int k = r->micro_lo; k < r->micro_hi; k++) {
            loss_bad |= micro_shard(r, x, y, step, k, stats, NULL);
            cnn_fixed_update_exponents(r->seen, r->gscratch, m->tensors, nt);
        }
        r->seen[nt] = loss_bad;
        cnn_comm_max_int(r->seen, (size_t)nt + 2);
        if ((*where = nonfinite_in(r)) != NULL) return -1;
        exact_sum(r, x, y, step, r->seen);
        return 0;
    }
    for (int t = 0; t < nt; t++)
        r->bound[t] = r->exp_prev[t] == CNN_FIXED_EXP_ZERO ? CNN_FIXED_EXP_ZERO : r->exp_prev[t] + EXP_MARGIN;
    double ts = cnn_now();
    if (r->micro_hi == r->micro_lo) /* no micro-shard here: zeros join the sum (else the first one writes acc) */
        memset(r->acc, 0, m->n_params * sizeof(int64_t));
    r->t_sum += cnn_now() - ts;
    r->over = 0;
    for (int k = r->micro_lo; k < r->micro_hi; k++) {
        const int last = k == r->micro_hi - 1;
        const CnnGradHook hook = {on_grad_ready_det, r};
        loss_bad |= micro_shard(r, x, y, step, k, stats, last && buckets ? &hook : NULL);
        if (!(last && buckets)) {
            ts = cnn_now();
            r->over |= cnn_fixed_accumulate_bounded(r->model.k, r->acc, r->seen, r->gscratch, m->tensors, 0, nt, r->bound,
                                                    r->headroom, k == r->micro_lo);
            r->t_sum += cnn_now() - ts;
        }
    }
    double tr = cnn_now();
    if (buckets) {
        if (r->micro_hi == r->micro_lo) /* no micro-shard here: join the same collectives with zeros */
            for (int i = m->n_layers - 1; i >= 0; i--)
                if (m->layers[i].w_count) bucket_add(r, m->layers[i].w_off, m->layers[i].w_count + m->layers[i].b_count);
        r->t_wait += buckets_finish(r);
    } else {
        cnn_comm_sum_i64(r->acc, m->n_params);
    }
    r->seen[nt] = loss_bad;
    r->seen[nt + 1] = r->over;
    cnn_comm_max_int(r->seen, (size_t)nt + 2);
    r->t_reduce += cnn_now() - tr;
    if ((*where = nonfinite_in(r)) != NULL) return -1;
    if (r->seen[nt + 1]) {
        /* a value outgrew its bound somewhere: the exponents just gathered are this step's exact ones */
        exact_sum(r, x, y, step, r->seen);
        return 0;
    }
    tr = cnn_now();
    cnn_fixed_to_float(m->k, m->grads, r->acc, m->tensors, nt, r->bound, r->headroom);
    memcpy(r->exp_prev, r->seen, (size_t)nt * sizeof(int));
    r->t_reduce += cnn_now() - tr;
    return 0;
}

/* One step's gradient into model.grads (the global mean gradient, identical on all ranks).
 * Returns the summed cross entropy and correct count of the global batch via *loss_fixed and *correct,
 * and 0, or -1 if a gradient or the loss is not finite (then *where names the tensor). */
static int compute_gradient(Run *r, const float *x, const int *y, long step, int64_t *loss_fixed,
                            int64_t *correct, const char **where)
{
    CnnModel *m = &r->model;
    float scale = 1.0f / (float)r->B;
    int64_t stats[2] = {0, 0};
    double t0 = cnn_now();
    *where = NULL;
    if (r->n_micro) {
        if (det_gradient(r, x, y, step, stats, where)) return -1;
    } else {
        int n = r->hi - r->lo;
        if (n <= 0) memset(m->grads, 0, m->n_params * sizeof(float)); /* no samples here: zeros join the sum */
        if (n > 0) {
            cnn_model_forward(m, x, n, 1, step, r->positions);
            double tb = cnn_now();
            r->t_fwd += tb - t0;
            int c = 0;
            const CnnGradHook hook = {on_grad_ready, r};
            double l = cnn_model_backward(m, m->grads, CNN_GRAD_OVERWRITE, y, n, scale, &c,
                                          r->bucket_elems > 0 && r->size > 1 ? &hook : NULL);
            r->t_bwd += cnn_now() - tb;
            stats[0] = isfinite(l) ? llrint(l * LOSS_SCALE) : INT64_MIN;
            stats[1] = c;
        }
        double tr = cnn_now();
        if (r->bucket_elems > 0 && r->size > 1) {
            r->t_wait += buckets_finish(r);
        } else {
            cnn_comm_sum_float(m->grads, m->n_params);
        }
        r->t_reduce += cnn_now() - tr;
        int bad = stats[0] == INT64_MIN;
        if (cnn_comm_any(bad)) {
            *where = "loss";
            return -1;
        }
        if ((*where = nonfinite_owner(m, m->grads)) != NULL) return -1;
    }
    cnn_comm_sum_i64(stats, 2);
    *loss_fixed = stats[0];
    *correct = stats[1];
    return 0;
}

/* Keys that may differ between a checkpoint and the config that resumes it. */
static int check_resume_config(const CnnConfig *cfg, const CnnCkptMeta *meta, const char *path, int recipe,
                               CnnErr *err)
{
    if (meta->model_hash != cnn_config_model_hash(cfg))
        return cnn_err(err, "%s: the network in %s differs from the checkpoint's (layers, shapes or input); "
                            "resume with the config it was trained with",
                       path, cfg->path);
    if (!recipe) return 0; /* --eval: only the network matters */
    CnnConfig *old = cnn_calloc(1, sizeof *old);
    CnnErr e2;
    int rc = 0;
    if (cnn_config_parse(old, meta->config, path, NULL, 0, &e2)) {
        rc = cnn_err(err, "%s: its stored config does not parse: %s", path, e2.msg);
    } else {
        const char *diff = NULL;
        if (old->seed != cfg->seed) diff = "run.seed";
        else if (old->batch != cfg->batch) diff = "train.batch";
        else if (old->optimizer != cfg->optimizer) diff = "train.optimizer";
        else if (old->deterministic != cfg->deterministic) diff = "train.deterministic";
        else if (old->deterministic && old->micro_batch != cfg->micro_batch) diff = "train.micro_batch";
        else if (old->crop != cfg->crop || old->flip != cfg->flip || old->brightness != cfg->brightness ||
                 old->contrast_lo != cfg->contrast_lo || old->contrast_hi != cfg->contrast_hi ||
                 old->standardize != cfg->standardize)
            diff = "the [data] augmentation";
        if (diff)
            rc = cnn_err(err, "%s: %s differs from the checkpoint's; only steps, the learning-rate schedule, "
                              "intervals, threads, out_dir and the number of ranks may change on resume",
                         path, diff);
    }
    free(old);
    return rc;
}

/* Rank 0 picks and reads the checkpoint: `resume` is a path, or "latest" = the newest in out_dir that
 * reads and validates (a corrupt one is named and skipped; a network or recipe that differs is an error,
 * not corruption). *have = 0 when "latest" finds no checkpoint at all. */
static int rank0_read_resume(Run *r, const char *resume, CnnCkptMeta *meta, char *path, size_t pn, int *have,
                             CnnErr *err)
{
    CnnModel *m = &r->model;
    CnnCkptData d = {.tensors = m->tensors, .n_tensors = m->n_tensors, .params = m->params};
    d.n_slots = cnn_optim_slots(&r->optim, d.slot_names, d.slots);
    *have = 0;
    if (strcmp(resume, "latest") != 0) {
        snprintf(path, pn, "%s", resume);
        if (cnn_ckpt_read_meta(path, meta, err) || check_resume_config(r->cfg, meta, path, !r->eval_only, err)) return -1;
        cnn_ckpt_meta_free(meta);
        if (cnn_ckpt_read(path, meta, &d, err)) return -1;
        *have = 1;
        return 0;
    }
    long found[256];
    int n = cnn_ckpt_list(r->cfg->out_dir, found, 256);
    for (int i = 0; i < n; i++) {
        CnnErr e;
        cnn_ckpt_path(path, pn, r->cfg->out_dir, found[i]);
        if (cnn_ckpt_read_meta(path, meta, &e)) {
            cnn_warn("skipping checkpoint %s: %s", path, e.msg);
            continue;
        }
        if (check_resume_config(r->cfg, meta, path, !r->eval_only, err)) return -1;
        cnn_ckpt_meta_free(meta);
        if (cnn_ckpt_read(path, meta, &d, &e)) {
            cnn_warn("skipping checkpoint %s: %s", path, e.msg);
            continue;
        }
        *have = 1;
        return 0;
    }
    if (n > 0) return cnn_err(err, "%s: none of the %d checkpoints is readable; not starting over", r->cfg->out_dir, n);
    cnn_info("no checkpoint in %s: starting from step 0", r->cfg->out_dir);
    return 0;
}

/* Whether a checkpoint continues bit for bit here: the same kernel families (plan.h) sum in the same
 * order on every instruction set, different families round differently; OpenBLAS's sums follow its
 * core. Says so plainly either way when something differs (rank 0). */
static void kernels_notice(const Run *r, const CnnCkptMeta *meta, const char *path)
{
    char now[512];
    cnn_model_kernels_line(&r->model, now, sizeof now);
    if (!meta->kernels[0]) {
        cnn_info("%s does not record its kernels (an older version wrote it): if they were not %s, training goes "
                 "on from it but not bit for bit",
                 path, now);
        return;
    }
    const int sgemm = cnn_model_uses_sgemm(&r->model), same = strcmp(meta->kernels, now) == 0;
    const int core_differs = sgemm && meta->openblas_core[0] && strcmp(meta->openblas_core, cnn_gemm_corename()) != 0;
    if (!same)
        cnn_warn("%s was trained with the kernels [%s] and this run uses [%s]: training continues from it, but not "
                 "bit for bit as it would have with the checkpoint's kernels (they round differently, about 1e-6 "
                 "relative per product; accuracy is unaffected). run.conv=... selects kernels",
                 path, meta->kernels, now);
    else if (core_differs)
        cnn_warn("%s was trained with OpenBLAS's %s kernels and this run's OpenBLAS uses %s for the layers on "
                 "sgemm: training continues, but not bit for bit (OPENBLAS_CORETYPE=%s would match)",
                 path, meta->openblas_core, cnn_gemm_corename(), meta->openblas_core);
    else if (strcmp(meta->isa, cnn_isa_name(r->isa)) != 0)
        cnn_info("%s was trained on %s and continues here on %s bit for bit (the same kernels give the same bits "
                 "on every instruction set)",
                 path, meta->isa, cnn_isa_name(r->isa));
}

/* Resumes every rank: rank 0 reads, everybody receives (no shared file system needed). Returns the
 * step to continue from, or -1 on an error (printed, agreed on by all ranks). */
static long resume_all(Run *r, const char *resume)
{
    CnnModel *m = &r->model;
    CnnCkptMeta meta;
    CnnErr err;
    char path[CNN_PATH_LEN + 64] = "";
    int have = 0, failed = 0;
    memset(&meta, 0, sizeof meta);
    if (r->rank == 0) failed = rank0_read_resume(r, resume, &meta, path, sizeof path, &have, &err) != 0;
    if (agree_fail(failed, &err)) {
        cnn_ckpt_meta_free(&meta);
        return -1;
    }
    cnn_comm_bcast(&have, sizeof have, 0);
    if (!have) {
        /* failed reads may have touched the buffers: start clean */
        cnn_model_init_params(m, r->cfg->seed);
        memset(r->optim.m, 0, m->n_params * sizeof(float));
        if (r->optim.v) memset(r->optim.v, 0, m->n_params * sizeof(float));
        return 0;
    }
    long hdr[3] = {meta.step, meta.optim_t, meta.n_grad_exps};
    cnn_comm_bcast(hdr, sizeof hdr, 0);
    cnn_comm_bcast(meta.grad_exps, sizeof meta.grad_exps, 0);
    r->have_prev = 0;
    if (r->n_micro && hdr[2] == m->n_tensors) {
        memcpy(r->exp_prev, meta.grad_exps, (size_t)m->n_tensors * sizeof(int));
        r->have_prev = 1;
    }
    cnn_comm_bcast(m->params, m->n_params * sizeof(float), 0);
    const char *names[4];
    float *slots[4];
    int ns = cnn_optim_slots(&r->optim, names, slots);
    for (int s = 0; s < ns; s++) cnn_comm_bcast(slots[s], m->n_params * sizeof(float), 0);
    r->optim.t = hdr[1];
    cnn_info("resumed from step %ld (%s, written by %d rank%s)", hdr[0], path, meta.world_size,
             meta.world_size == 1 ? "" : "s");
    if (r->rank == 0) kernels_notice(r, &meta, path);
    cnn_ckpt_meta_free(&meta);
    return hdr[0];
}

static int save_checkpoint(Run *r, long step, double lr, CnnErr *err)
{
    if (r->rank != 0) return 0;
    CnnModel *m = &r->model;
    CnnCkptMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.step = step;
    meta.epoch = cnn_sampler_epoch(&r->sampler, step);
    meta.world_size = r->size;
    meta.seed = r->cfg->seed;
    meta.model_hash = cnn_config_model_hash(r->cfg);
    meta.config = r->config_text;
    snprintf(meta.optimizer, sizeof meta.optimizer, "%s", cnn_optim_name(&r->optim));
    meta.optim_t = r->optim.t;
    meta.lr = lr;
    meta.samples_seen = step * r->B;
    snprintf(meta.isa, sizeof meta.isa, "%s", cnn_isa_name(r->isa));
    cnn_model_kernels_line(m, meta.kernels, sizeof meta.kernels);
    snprintf(meta.openblas_core, sizeof meta.openblas_core, "%s", cnn_gemm_corename());
    if (r->n_micro && r->have_prev) { /* the next step's scales: needed for a bitwise continuation */
        meta.n_grad_exps = m->n_tensors;
        memcpy(meta.grad_exps, r->exp_prev, (size_t)m->n_tensors * sizeof(int));
    }
    CnnCkptData d = {.tensors = m->tensors, .n_tensors = m->n_tensors, .params = m->params};
    d.n_slots = cnn_optim_slots(&r->optim, d.slot_names, d.slots);
    char path[CNN_PATH_LEN + 64];
    int rc = cnn_ckpt_write(r->cfg->out_dir, &meta, &d, r->cfg->keep, path, sizeof path, err);
    if (rc == 0) cnn_info("checkpoint %s", path);
    return rc;
}

static void run_free(Run *r)
{
    if (r->prefetch) cnn_prefetch_stop(r->prefetch);
    free(r->config_text);
    free(r->gscratch);
    free(r->acc);
    free(r->exp_prev);
    free(r->bound);
    free(r->seen);
    free(r->positions);
    free(r->idx_buf);
    free(r->epoch_buf);
    free(r->sync_x);
    free(r->sync_y);
    cnn_optim_free(&r->optim);
    cnn_model_free(&r->model);
    cnn_sampler_free(&r->sampler);
    cnn_dataset_free(&r->train);
    cnn_dataset_free(&r->test);
}

/* ---- memory: what a rank will hold, checked before anything is allocated or written ---- */

/* Code, libraries, MPI's and HDF5's buffers, thread stacks: a rank with a small synthetic data set
 * peaked at 126 MB RSS of which the model and batches were ~40 MB. */
#define BASE_BYTES 90e6

int cnn_train_memory(const CnnConfig *cfg, int ranks, int threads, double data, CnnMemoryEstimate *e, CnnErr *err)
{
    memset(e, 0, sizeof *e);
    const int B = cfg->batch;
    int cap, slice;
    if (cfg->deterministic) { /* a rank computes whole micro-shards; the first ranks get one more */
        const int n_micro = (B + cfg->micro_batch - 1) / cfg->micro_batch;
        const long most = ((long)n_micro + ranks - 1) / ranks * cfg->micro_batch;
        slice = most < B ? (int)most : B;
        cap = cfg->micro_batch;
    } else {
        slice = (int)(((long)B + ranks - 1) / ranks);
        cap = slice;
    }
    if (cfg->eval_batch > cap) cap = cfg->eval_batch;
    CnnModelOpts o = {cap, CNN_ISA_GENERIC, threads > 0 ? threads : 1, 1};
    if (cnn_cpu_isa(&o.isa, NULL, err)) return -1;
    CnnModel m;
    if (cnn_model_build(&m, cfg, &o, err)) return -1;
    const double np = (double)m.n_params, per = (double)m.in_h * m.in_w * m.in_c;
    e->params = m.mem.params;
    e->activations = m.mem.activations;
    e->workspaces = m.mem.workspaces;
    e->optimizer = (cfg->optimizer == CNN_OPT_ADAM ? 2.0 : 1.0) * 4.0 * np;
    e->sums = cfg->deterministic ? 12.0 * np : 0.0; /* a micro-shard's float gradient, the int64 sums */
    e->prefetch = (cfg->prefetch > 0 ? cfg->prefetch : 1) * (double)slice * (4.0 * per + 4.0);
    e->eval = (double)(cfg->eval_batch < cap ? cfg->eval_batch : cap) * (4.0 * per + 4.0);
    e->data = data;
    e->base = BASE_BYTES;
    e->total = e->params + e->optimizer + e->sums + e->activations + e->workspaces + e->prefetch + e->eval + e->data +
               e->base;
    e->samples = cap;
    e->slice = slice;
    e->widest = m.mem.widest;
    e->heaviest = m.mem.heaviest;
    cnn_model_free(&m);
    return 0;
}

void cnn_memory_line(const CnnMemoryEstimate *e, char *buf, size_t n)
{
    char t[32], p[32], a[32], w[32], f[32], d[32];
    cnn_human_bytes(t, sizeof t, e->total);
    cnn_human_bytes(p, sizeof p, e->params + e->optimizer + e->sums);
    cnn_human_bytes(a, sizeof a, e->activations);
    cnn_human_bytes(w, sizeof w, e->workspaces);
    cnn_human_bytes(f, sizeof f, e->prefetch + e->eval);
    cnn_human_bytes(d, sizeof d, e->data);
    snprintf(buf, n,
             "about %s: parameters, gradients and optimizer state %s, activations %s and workspaces %s for %d samples "
             "at once, batches %s, %s%s%scode and libraries ~%.0f MB",
             t, p, a, w, e->samples, f, e->data > 0 ? "data set " : "", e->data > 0 ? d : "", e->data > 0 ? ", " : "",
             e->base / 1e6);
}

/* Refuses a run that cannot fit in what this rank may use, before anything is allocated or written,
 * naming the biggest parts and the keys that size them. */
static int memory_check(const CnnConfig *cfg, const Run *r, int threads, double data, CnnErr *err)
{
    CnnMemoryEstimate e;
    const int local = cnn_comm_local_size();
    if (cnn_train_memory(cfg, r->size, threads, data / local, &e, err)) return -1;
    char why[256];
    const double limit = cnn_memory_limit(local, why, sizeof why);
    if (e.total <= limit) return 0;
    const CnnConfig *c = cfg;
    struct {
        double bytes;
        char text[400];
    } part[4];
    char h[32];
    const char *widest = e.widest >= 0 ? c->layers[e.widest].name : "?";
    const char *heaviest = e.heaviest >= 0 ? c->layers[e.heaviest].name : "?";
    part[0].bytes = e.activations + e.workspaces;
    cnn_human_bytes(h, sizeof h, part[0].bytes);
    snprintf(part[0].text, sizeof part[0].text,
             "%s for the layers' activations and workspaces, %d samples at once (%s, train.eval_batch = %d; the "
             "widest layer is [%s])",
             h, e.samples,
             c->deterministic ? "train.micro_batch" : "train.batch / ranks", c->eval_batch, widest);
    part[1].bytes = e.params + e.optimizer + e.sums;
    cnn_human_bytes(h, sizeof h, part[1].bytes);
    snprintf(part[1].text, sizeof part[1].text,
             "%s for the parameters, their gradients and the optimizer's state (the largest layer is [%s])", h, heaviest);
    part[2].bytes = e.prefetch;
    cnn_human_bytes(h, sizeof h, part[2].bytes);
    snprintf(part[2].text, sizeof part[2].text,
             "%s for the prefetched batches (data.prefetch = %d batches of %d samples: train.batch = %d over %d rank%s)", h,
             c->prefetch, e.slice, c->batch, r->size, r->size > 1 ? "s" : "");
    part[3].bytes = e.data;
    cnn_human_bytes(h, sizeof h, part[3].bytes);
    snprintf(part[3].text, sizeof part[3].text, "%s for this rank's share of the data set (data.dir)", h);
    for (int i = 0; i < 4; i++) /* largest first */
        for (int j = i + 1; j < 4; j++)
            if (part[j].bytes > part[i].bytes) {
                __typeof__(part[0]) t = part[i];
                part[i] = part[j];
                part[j] = t;
            }
    char total[32], lim[32];
    cnn_human_bytes(total, sizeof total, e.total);
    cnn_human_bytes(lim, sizeof lim, limit);
    return cnn_err(err, "%s: a rank would need about %s, more than the %s it may use here (%s): %s; and %s. Nothing "
                        "was started",
                   cfg->path, total, lim, why, part[0].text, part[1].bytes > 0.1 * e.total ? part[1].text : "little else");
}

/* Datasets, model, optimizer, the partition of the batch; shared by training and --eval. */
static int run_setup(Run *r, const CnnConfig *cfg, int need_train, CnnErr *err)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->config_text = cnn_config_to_ini(cfg);
    r->rank = cnn_comm_rank();
    r->size = cnn_comm_size();
    r->B = cfg->batch;
    int threads = auto_threads(cfg);
    cnn_gemm_init(threads);
    CnnIsa isa;
    if (agree_fail(cnn_cpu_isa(&isa, NULL, err) != 0, err)) return -1;
    r->isa_local = isa;
    r->isa = agree_isa(isa, r->rank);
    char gen[512];
    if (cnn_gemm_core_is_generic(gen, sizeof gen) && r->rank == 0) cnn_warn("%s", gen);

    int failed = 0;
    if (need_train) failed = cnn_dataset_load(&r->train, cfg, 0, err) != 0;
    if (!failed) failed = cnn_dataset_load(&r->test, cfg, 1, err) != 0;
    if (agree_fail(failed, err)) return -1;
    /* every rank checks (the same figures); the lowest that fails says why, once */
    failed = memory_check(cfg, r, threads, cnn_dataset_bytes(&r->train) + cnn_dataset_bytes(&r->test), err) != 0;
    uint64_t first = failed ? (uint64_t)r->rank : UINT64_MAX;
    cnn_comm_min_u64(&first, 1);
    if (first != UINT64_MAX) {
        if (first == (uint64_t)r->rank) fprintf(stderr, "cnn-dist: %s\n", err->msg);
        return -1;
    }

    int cap;
    if (cfg->deterministic) {
        r->n_micro = (r->B + cfg->micro_batch - 1) / cfg->micro_batch;
        cnn_sampler_slice(r->n_micro, r->rank, r->size, &r->micro_lo, &r->micro_hi);
        r->lo = r->micro_lo * cfg->micro_batch;
        r->hi = r->micro_hi * cfg->micro_batch < r->B ? r->micro_hi * cfg->micro_batch : r->B;
        if (r->hi < r->lo) r->hi = r->lo;
        cap = cfg->micro_batch;
        r->headroom = cnn_fixed_headroom(r->n_micro);
    } else {
        cnn_sampler_slice(r->B, r->rank, r->size, &r->lo, &r->hi);
        cap = (r->B + r->size - 1) / r->size;
    }
    /* bucket size in elements: floats in fast mode, int64 sums in deterministic mode */
    r->bucket_elems = (size_t)(cfg->bucket_kb * 1024.0 / (r->n_micro ? sizeof(int64_t) : sizeof(float)));
    if (cfg->eval_batch > cap) cap = cfg->eval_batch;
    const CnnModelOpts mo = {cap, r->isa, threads, 0};
    if (cnn_model_build(&r->model, cfg, &mo, err)) {
        if (r->rank == 0) fprintf(stderr, "cnn-dist: %s\n", err->msg);
        return -1;
    }
    cnn_model_init_params(&r->model, cfg->seed);
    cnn_optim_init(&r->optim, cfg, r->model.n_params, r->model.k);
    if (need_train) {
        cnn_augment_init(&r->aug_train, cfg, &r->train);
        cnn_sampler_init(&r->sampler, cfg->seed, r->train.n, r->B);
    }
    cnn_augment_init(&r->aug_test, cfg, &r->test);
    int n = r->hi - r->lo;
    r->positions = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int j = 0; j < n; j++) r->positions[j] = r->lo + j;
    r->idx_buf = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    r->epoch_buf = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    if (r->n_micro) {
        size_t nt = (size_t)r->model.n_tensors;
        r->gscratch = cnn_aligned_for(r->model.n_params * sizeof(float), "a micro-shard's gradient");
        r->acc = cnn_aligned_for(r->model.n_params * sizeof(int64_t), "the fixed-point gradient sums");
        r->exp_prev = cnn_calloc(nt, sizeof(int));
        r->bound = cnn_calloc(nt, sizeof(int));
        r->seen = cnn_calloc(nt + 2, sizeof(int));
    }

    /* Same parameters and same training config everywhere, or a clear error. */
    uint64_t h[2] = {cnn_model_params_hash(&r->model), cnn_config_train_hash(cfg)};
    uint64_t lo[2] = {h[0], h[1]}, hi[2] = {h[0], h[1]};
    cnn_comm_min_u64(lo, 2);
    cnn_comm_max_u64(hi, 2);
    if (lo[0] != hi[0] || lo[1] != hi[1]) {
        cnn_err(err, "ranks disagree on the %s (hash %016llx on rank %d); every rank must read the same "
                     "config and build the same model",
                lo[1] != hi[1] ? "training config" : "initial parameters", (unsigned long long)h[lo[1] != hi[1]],
                r->rank);
        if (r->rank == 0) fprintf(stderr, "cnn-dist: %s\n", err->msg);
        return -1;
    }
    /* OpenBLAS sums in the order of the core it picked: ranks that run sgemm with different cores would
     * compute a micro-shard differently depending on who computes it */
    if (cnn_model_uses_sgemm(&r->model)) {
        uint64_t core[2] = {cnn_hash_bytes(CNN_HASH_INIT, cnn_gemm_corename(), strlen(cnn_gemm_corename()))};
        core[1] = core[0];
        cnn_comm_min_u64(&core[0], 1);
        cnn_comm_max_u64(&core[1], 1);
        if (core[0] != core[1] && r->rank == 0)
            cnn_warn("the ranks run different OpenBLAS kernels (this one: %s) for the layers on sgemm: their sums "
                     "round differently, so this job's result depends on which rank computes which micro-shard; "
                     "set OPENBLAS_CORETYPE to one value on every node for bitwise reproducible results",
                     cnn_gemm_corename());
    }
    if (r->rank == 0) {
        char kl[512];
        cnn_model_kernels_line(&r->model, kl, sizeof kl);
        cnn_info("cnn-dist: %s, %d rank%s x %d OpenBLAS thread%s (%s), global batch %d, %s", cfg->name, r->size,
                 r->size > 1 ? "s" : "", threads, threads > 1 ? "s" : "", cnn_gemm_corename(), r->B,
                 cfg->deterministic ? "deterministic (same result on any rank count)" : "fast float allreduce");
        cnn_info("kernels %s: %s", cnn_isa_name(r->isa), kl);
    }
    if (r->size == 1 && threads > 1 && !getenv("OMPI_COMM_WORLD_SIZE"))
        cnn_info("note: one process with %d threads leaves cores idle outside the matrix products; one rank "
                 "per core is faster: mpirun -np %d (or scripts/cnn-run)",
                 threads, threads);
    return 0;
}

/* Proportional set size: like RSS, but a page shared by k processes (the mmap'ed data set, libraries)
 * counts 1/k in each; the fair "memory per rank" when ranks share the data. 0 if unknown. */
static uint64_t current_pss_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %llu kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void print_bench(Run *r, int steps, double wall)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t mem[2] = {(uint64_t)ru.ru_maxrss, current_pss_kb()};
    cnn_comm_max_u64(mem, 2);
    uint64_t rss_kb = mem[0], pss_kb = mem[1];
    /* what one blocking allreduce of the whole gradient costs here, to say how much of it was hidden */
    CnnModel *m = &r->model;
    double t_block = 0;
    if (r->size > 1) {
        float *tmp = cnn_aligned(m->n_params * sizeof(float));
        cnn_comm_sum_float(tmp, m->n_params);
        cnn_comm_barrier();
        double t0 = cnn_now();
        for (int i = 0; i < 5; i++) cnn_comm_sum_float(tmp, m->n_params);
        t_block = (cnn_now() - t0) / 5;
        free(tmp);
    }
    /* forward + backward time of the slowest and the fastest rank: waiting in the reduction is skew */
    uint64_t busy_us = (uint64_t)(1e6 * (r->t_fwd + r->t_bwd) / steps), busy_max = busy_us, busy_min = busy_us;
    cnn_comm_max_u64(&busy_max, 1);
    cnn_comm_min_u64(&busy_min, 1);
    if (r->rank != 0) return;
    double ips = (double)steps * r->B / wall;
    double flops = cnn_model_train_flops(m);
    printf("\n== cnn-dist bench: %s, %d rank(s) x %d thread(s), %s, batch %d, %d steps ==\n", r->cfg->name, r->size,
           cnn_gemm_threads(), cnn_gemm_corename(), r->B, steps);
    printf("OpenBLAS            %s\n", cnn_gemm_config());
    printf("images/s            %10.1f\n", ips);
    printf("effective GFLOP/s   %10.1f   (%.1f MFLOP per training image)\n", ips * flops / 1e9, flops / 1e6);
    printf("peak RSS per rank   %10.1f MB (largest rank; counts the mmap'ed data set it touched in full)\n",
           (double)rss_kb / 1024.0);
    printf("PSS per rank        %10.1f MB (at the end; shared pages split between the ranks)\n", (double)pss_kb / 1024.0);
    double total = r->t_data + r->t_fwd + r->t_bwd + r->t_sum + r->t_reduce + r->t_opt;
    printf("%-12s %10s %7s\n", "phase", "ms/step", "share");
    const char *names[] = {"data wait", "forward", "backward", "sum (fixed)", "allreduce", "optimizer"};
    double vals[] = {r->t_data, r->t_fwd, r->t_bwd, r->t_sum, r->t_reduce, r->t_opt};
    for (int i = 0; i < 6; i++)
        printf("%-12s %10.2f %6.1f%%\n", names[i], 1e3 * vals[i] / steps, 100.0 * vals[i] / total);
    if (r->size > 1) {
        printf("forward + backward per rank: fastest %.2f ms/step, slowest %.2f ms/step\n", busy_min / 1e3,
               busy_max / 1e3);
        printf("allreduce of the %.2f MB gradient, blocking, alone: %.2f ms\n", m->n_params * 4.0 / 1e6, 1e3 * t_block);
        if (r->n_micro)
            printf("deterministic mode, int64 sums (%.2f MB) in %.0f KB buckets overlapped with the last micro-shard's "
                   "backward: %.2f ms/step after backward (%.2f of it waiting); %ld of %d steps summed exactly in two "
                   "passes\n",
                   m->n_params * 8.0 / 1e6, r->cfg->bucket_kb, 1e3 * r->t_reduce / steps, 1e3 * r->t_wait / steps,
                   r->n_exact, steps);
        else if (r->bucket_elems)
            printf("fast mode, %.0f KB buckets overlapped with backward: %.2f ms/step left waiting after backward "
                   "(%.0f%% of a blocking allreduce hidden)\n",
                   r->cfg->bucket_kb, 1e3 * r->t_wait / steps,
                   t_block > 0 ? 100.0 * (1.0 - r->t_wait / steps / t_block) : 0.0);
    }
    printf("%-12s %10s %10s %7s\n", "layer", "fwd ms", "bwd ms", "share");
    double lt = 0;
    for (int i = 0; i < m->n_layers; i++) lt += m->layer_time[i][0] + m->layer_time[i][1];
    for (int i = 0; i < m->n_layers; i++)
        printf("%-12s %10.2f %10.2f %6.1f%%\n", m->layers[i].spec.name, 1e3 * m->layer_time[i][0] / steps,
               1e3 * m->layer_time[i][1] / steps, 100.0 * (m->layer_time[i][0] + m->layer_time[i][1]) / lt);
    printf("bench-summary ranks=%d threads=%d mode=%s batch=%d img_per_s=%.1f gflops=%.2f rss_mb=%.1f pss_mb=%.1f\n",
           r->size, cnn_gemm_threads(), r->cfg->deterministic ? "deterministic" : "fast", r->B, ips, ips * flops / 1e9,
           (double)rss_kb / 1024.0, (double)pss_kb / 1024.0);
    fflush(stdout);
}

int cnn_train_run(const CnnConfig *cfg, const CnnTrainOpts *opts)
{
    Run *r = cnn_calloc(1, sizeof *r);
    CnnErr err;
    int rc = CNN_EXIT_OK;
    if (run_setup(r, cfg, 1, &err)) { /* run_setup printed why */
        run_free(r);
        free(r);
        return CNN_EXIT_ERROR;
    }
    CnnModel *m = &r->model;
    long step0 = 0, steps = cfg->steps;
    int bench = opts->bench;
    if (bench) {
        /* from a checkpoint if asked: speed late in training (denormals, sparser activations) */
        if (opts->resume) {
            step0 = resume_all(r, opts->resume);
            if (step0 < 0) goto fail;
        }
        steps = step0 + bench + 2; /* two warm-up steps are not timed */
        m->timing = 0;
    }

    /* Resume, or refuse to overwrite a run that has checkpoints. */
    if (!bench) {
        if (opts->resume) {
            step0 = resume_all(r, opts->resume);
            if (step0 < 0) goto fail;
        } else {
            long newest = -1;
            if (r->rank == 0 && cnn_ckpt_list(cfg->out_dir, &newest, 1) < 1) newest = -1;
            if (r->rank == 0 && newest >= 0)
                cnn_err(&err, "%s already holds checkpoints (newest ckpt-%ld.h5): pass --resume latest to continue, "
                              "or set run.out_dir (or run.name) for a new run",
                        cfg->out_dir, newest);
            if (agree_fail(newest >= 0, &err)) goto fail;
        }
    }

    CnnMetrics *metrics = NULL;
    if (!bench && r->rank == 0) {
        char mpath[CNN_PATH_LEN + 32];
        snprintf(mpath, sizeof mpath, "%s/metrics.h5", cfg->out_dir);
        const int resuming = step0 > 0 || opts->resume;
        if (cnn_mkdir_p(cfg->out_dir, &err) == 0)
            metrics = cnn_metrics_open(mpath, r->config_text, r->size, resuming ? step0 : -1, &err);
        if (!metrics) fprintf(stderr, "cnn-dist: %s\n", err.msg);
        if (!metrics && resuming && access(mpath, F_OK) == 0)
            fprintf(stderr,
                    "cnn-dist: the checkpoints are not affected; to go on with a new metrics log from step %ld, move "
                    "the damaged one aside (mv %s %s.damaged) and resume again\n",
                    step0, mpath, mpath);
    }
    if (cnn_comm_any(r->rank == 0 && !bench && !metrics)) goto fail;

    install_signals();
    size_t per = (size_t)m->in_h * m->in_w * m->in_c;
    int nloc = r->hi - r->lo;
    size_t xf = cnn_mul_size((size_t)(nloc > 0 ? nloc : 1), per);
    if (step0 >= steps)
        cnn_info("the checkpoint is at step %ld and train.steps is %ld: nothing left to train "
                 "(raise train.steps to go on)", step0, steps);
    if (cfg->prefetch > 0) {
        r->prefetch = cnn_prefetch_start(cfg->prefetch, xf, (size_t)(nloc > 0 ? nloc : 1), fill_batch, r, step0,
                                         steps > step0 ? steps : step0);
    } else {
        r->sync_x = cnn_aligned(xf * sizeof(float));
        r->sync_y = cnn_malloc((size_t)(nloc > 0 ? nloc : 1) * sizeof(int));
    }

    int tty = progress_on_terminal();
    double t_start = cnn_now(), t_log = t_start, t_bench = 0;
    int64_t log_loss = 0, log_correct = 0;
    long log_steps = 0;
    int io_failed = 0; /* rank 0: writing metrics failed (said once) */
    double lr = cnn_lr_at(cfg, step0);
    long step;
    for (step = step0; step < steps; step++) {
        if (bench && step == step0 + 2) {
            t_bench = cnn_now();
            r->t_data = r->t_fwd = r->t_bwd = r->t_sum = r->t_reduce = r->t_opt = r->t_wait = 0;
            r->n_exact = 0;
            m->timing = 1;
        }
        const float *x;
        const int *y;
        double wait = 0;
        if (r->prefetch) {
            cnn_prefetch_take(r->prefetch, step, &x, &y, &wait);
        } else {
            double t0 = cnn_now();
            fill_batch(r, step, r->sync_x, r->sync_y);
            x = r->sync_x;
            y = r->sync_y;
            wait = cnn_now() - t0;
        }
        r->t_data += wait;
        int64_t lf = 0, corr = 0;
        const char *where = NULL;
        if (compute_gradient(r, x, y, step, &lf, &corr, &where)) {
            if (r->rank == 0)
                fprintf(stderr, "cnn-dist: NaN or Inf in the %s%s at step %ld; stopping (lower train.lr?)\n",
                        where ? where : "gradients", where && strcmp(where, "loss") ? " gradient" : "", step);
            rc = CNN_EXIT_NAN;
            break;
        }
        if (r->prefetch) cnn_prefetch_release(r->prefetch);
        double t_opt = cnn_now();
        cnn_model_add_weight_decay(m, m->grads);
        lr = cnn_lr_at(cfg, step);
        cnn_optim_step(&r->optim, m->params, m->grads, lr);
        r->t_opt += cnn_now() - t_opt;
        log_loss += lf;
        log_correct += corr;
        log_steps++;
        long done = step + 1;

        if (!bench && cfg->log_every > 0 && (done % cfg->log_every == 0 || done == steps)) {
            double now = cnn_now();
            double loss = (double)log_loss / LOSS_SCALE / ((double)log_steps * r->B) + cnn_model_weight_loss(m);
            double acc = (double)log_correct / ((double)log_steps * r->B);
            double ips = (double)log_steps * r->B / (now - t_log);
            double eta = (double)(steps - done) * (now - t_start) / (double)(done - step0);
            long epoch = (long)((double)done * r->B / r->train.n);
            char etas[32];
            human_time(etas, sizeof etas, eta);
            if (r->rank == 0) {
                printf("%sstep %ld/%ld  epoch %ld  loss %.4f  acc %.4f  lr %.3g  %.0f img/s  ETA %s%s", tty ? "\r" : "",
                       done, steps, epoch, loss, acc, lr, ips, etas, tty ? "   " : "\n");
                fflush(stdout);
                CnnTrainRow row = {done, epoch, loss, acc, lr, ips, now - t_start};
                if (!io_failed && (cnn_metrics_train(metrics, &row, &err) || cnn_metrics_flush(metrics, &err))) {
                    fprintf(stderr, "%scnn-dist: %s\n", tty ? "\n" : "", err.msg);
                    io_failed = 1;
                }
            }
            t_log = now;
            log_loss = log_correct = 0;
            log_steps = 0;
        }
        if (!bench && ((cfg->eval_every > 0 && done % cfg->eval_every == 0) || done == steps)) {
            double el, ea;
            evaluate(r, &el, &ea);
            if (r->rank == 0) {
                printf("%seval step %ld: test loss %.4f  test accuracy %.4f (%d images)\n", tty ? "\n" : "", done, el,
                       ea, r->test.n);
                fflush(stdout);
                if (!io_failed && (cnn_metrics_eval(metrics, done, el, ea, &err) || cnn_metrics_flush(metrics, &err))) {
                    fprintf(stderr, "cnn-dist: %s\n", err.msg);
                    io_failed = 1;
                }
            }
        }
        /* one agreement per step: a signal on any rank, or rank 0 failing to write the metrics */
        int flags[2] = {stop_signal != 0, io_failed};
        if (!bench) cnn_comm_max_int(flags, 2);
        int stop = flags[0];
        if (flags[1]) { /* rank 0 said why; every rank ends cleanly, the files on disk are intact */
            rc = CNN_EXIT_ERROR;
            break;
        }
        if (!bench && ((cfg->checkpoint_every > 0 && done % cfg->checkpoint_every == 0) || done == steps || stop)) {
            const int failed = save_checkpoint(r, done, lr, &err) != 0;
            if (failed) fprintf(stderr, "%scnn-dist: %s\n", tty ? "\n" : "", err.msg);
            /* Every rank waits for rank 0's checkpoint (an allreduce of its outcome): on a stop, a launcher
             * that kills the job when the first rank exits (srun --kill-on-bad-exit) must not cut the write
             * short; on a failure (a full disk), all of them end cleanly with it. */
            if (cnn_comm_any(failed)) {
                rc = CNN_EXIT_ERROR;
                break;
            }
        }
        if (stop) {
            if (r->rank == 0)
                printf("%sstopped by a signal after step %ld; checkpoint written; resume with --resume latest\n",
                       tty ? "\n" : "", done);
            rc = CNN_EXIT_PREEMPTED;
            step++;
            break;
        }
    }
    if (!bench && (rc == CNN_EXIT_OK || rc == CNN_EXIT_PREEMPTED))
        cnn_info("step %ld: parameter hash %016llx", step, (unsigned long long)cnn_model_params_hash(m));
    if (bench) print_bench(r, (int)(steps - step0 - 2), cnn_now() - t_bench);
    if (metrics) cnn_metrics_close(metrics);
    run_free(r);
    free(r);
    return rc;

fail:
    run_free(r);
    free(r);
    return CNN_EXIT_ERROR;
}

int cnn_eval_run(const CnnConfig *cfg, const char *ckpt)
{
    Run *r = cnn_calloc(1, sizeof *r);
    CnnErr err;
    int rc = CNN_EXIT_OK;
    if (run_setup(r, cfg, 0, &err)) {
        rc = CNN_EXIT_ERROR;
    } else {
        r->eval_only = 1;
        long step = resume_all(r, ckpt);
        if (step < 0) {
            rc = CNN_EXIT_ERROR;
        } else {
            double loss, acc;
            evaluate(r, &loss, &acc);
            cnn_info("%s (step %ld): test loss %.4f  test accuracy %.4f (%d images, %d rank%s)", ckpt, step, loss, acc,
                     r->test.n, r->size, r->size > 1 ? "s" : "");
        }
    }
    run_free(r);
    free(r);
    return rc;
}
