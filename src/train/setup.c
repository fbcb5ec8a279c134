/* setup: a run's state on every rank, the checks the ranks agree on before anything is written, and the
 * two things a step and an evaluation do with it. */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/nn/gemm.h"
#include "cnn/nn/whiten.h"
#include "cnn/tta.h"
#include "cnn/util.h"
#include "cnn/version.h"
#include "run.h"

int agree_fail(int failed, const CnnErr *err)
{
    if (failed) fprintf(stderr, "cnn-dist: %s\n", err->msg);
    return cnn_comm_any(failed);
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

/* Both data sets, then the memory check: every rank checks (the same figures); the lowest that fails
 * says why, once. */
static int load_data(Run *r, int need_train, CnnErr *err)
{
    int failed = 0;
    if (need_train) failed = cnn_dataset_load(&r->train, r->cfg, 0, err) != 0;
    if (!failed) failed = cnn_dataset_load(&r->test, r->cfg, 1, err) != 0;
    if (agree_fail(failed, err)) return -1;
    const double data = cnn_dataset_bytes(&r->train) + cnn_dataset_bytes(&r->test);
    failed = memory_check(r->cfg, r->size, r->threads, data, err) != 0;
    uint64_t first = failed ? (uint64_t)r->rank : UINT64_MAX;
    cnn_comm_min_u64(&first, 1);
    if (first == UINT64_MAX) return 0;
    if (first == (uint64_t)r->rank) fprintf(stderr, "cnn-dist: %s\n", err->msg);
    return -1;
}

/* init = whiten layers: their weights from the first whiten_images training images as evaluation
 * prepares them (normalised, not augmented), computed on rank 0 and sent to all (LAPACK's sums may differ
 * between CPUs; the broadcast makes every rank count give the same weights). */
static int whiten_layers(Run *r, CnnErr *err)
{
    CnnModel *m = &r->model;
    int failed = 0;
    for (int i = 0; i < m->n_layers && !failed; i++) {
        CnnLayer *L = &m->layers[i];
        if (L->spec.type != CNN_LAYER_CONV || L->spec.init != CNN_INIT_WHITEN) continue;
        const CnnTensorInfo *t = &m->tensors[L->tensor[0]];
        float *w = m->params + t->offset;
        if (r->rank == 0) {
            const int k = L->spec.size, D = k * k * L->ic;
            const int n = L->spec.whiten_images < r->train.n ? L->spec.whiten_images : r->train.n;
            const size_t per = (size_t)m->in_h * m->in_w * m->in_c;
            double *sum = cnn_calloc((size_t)D * D, sizeof *sum);
            float *img = cnn_malloc(per * sizeof *img);
            for (int j = 0; j < n; j++) {
                cnn_augment_eval(&r->aug_test, img, r->train.images[j]);
                cnn_whiten_add(sum, img, m->in_h, m->in_w, m->in_c, k);
            }
            const double count = (double)n * (m->in_h - k + 1) * (m->in_w - k + 1);
            failed = cnn_whiten_filters(sum, count, D, L->spec.whiten_epsilon, w, err) != 0;
            free(sum);
            free(img);
        }
        if (agree_fail(failed, err)) return -1;
        cnn_comm_bcast(w, t->count * sizeof(float), 0);
    }
    return 0;
}

int run_init_params(Run *r, CnnErr *err)
{
    cnn_model_init_params(&r->model, r->cfg->seed);
    return r->train.n > 0 ? whiten_layers(r, err) : 0;
}

/* Model (for the most samples a forward gets here), parameters, optimizer, gradsync, batch buffers. */
static int build_model(Run *r, int need_train, CnnErr *err)
{
    const CnnConfig *cfg = r->cfg;
    CnnGradPartition part;
    cnn_gradsync_partition(cfg, r->rank, r->size, &part);
    r->lo = part.lo;
    r->hi = part.hi;
    int cap = part.max_samples;
    if (cfg->eval_batch > cap) cap = cfg->eval_batch;
    const CnnModelOpts mo = {cap, r->isa, r->threads, 0, 0};
    if (cnn_model_build(&r->model, cfg, &mo, err)) {
        if (r->rank == 0) fprintf(stderr, "cnn-dist: %s\n", err->msg);
        return -1;
    }
    cnn_augment_init(&r->aug_test, cfg, &r->test);
    if (need_train) {
        cnn_augment_init(&r->aug_train, cfg, &r->train);
        cnn_sampler_init(&r->sampler, cfg->seed, r->train.n, r->B);
        cnn_sampler_drop_last(&r->sampler, cfg->drop_last);
    }
    if (run_init_params(r, err)) return -1;
    if (need_train && cfg->ema > 0) run_ema_reset(r);
    cnn_optim_init(&r->optim, cfg, r->model.n_trainable, r->model.k);
    r->sync = cnn_gradsync_create(cfg, &r->model, r->rank, r->size);
    int n = r->hi - r->lo;
    r->idx_buf = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    r->epoch_buf = cnn_malloc((size_t)(n > 0 ? n : 1) * sizeof(long));
    return 0;
}

/* Same parameters and same training config everywhere, or a clear error; a warning when OpenBLAS's
 * kernels differ between ranks on a network that uses sgemm (its sums follow its core). */
static int check_ranks_agree(Run *r, CnnErr *err)
{
    uint64_t h[2] = {cnn_model_params_hash(&r->model), cnn_config_train_hash(r->cfg)};
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
    return 0;
}

/* Where the ranks run, said once by rank 0: the nodes (the ranks sharing memory), each node's ranks and
 * the threads per rank decided there, and how each node holds the data set. */
typedef struct {
    char host[56];
    int local_size, local_rank, threads;
} NodeInfo;

static void announce_nodes(const Run *r)
{
    NodeInfo me = {{0}, cnn_comm_local_size(), cnn_comm_local_rank(), r->threads};
    if (gethostname(me.host, sizeof me.host - 1) != 0) snprintf(me.host, sizeof me.host, "?");
    NodeInfo *all = r->rank == 0 ? cnn_malloc((size_t)r->size * sizeof *all) : NULL;
    cnn_comm_gather(&me, sizeof me, all, 0);
    if (r->rank != 0) return;
    char text[1024];
    int len = 0, nodes = 0;
    for (int i = 0; i < r->size; i++) {
        if (all[i].local_rank != 0) continue;
        if (++nodes <= 8 && len < (int)sizeof text)
            len += snprintf(text + len, sizeof text - (size_t)len, "%s%s: %d rank%s x %d thread%s",
                            nodes > 1 ? ", " : "", all[i].host, all[i].local_size, all[i].local_size > 1 ? "s" : "",
                            all[i].threads, all[i].threads > 1 ? "s" : "");
    }
    if (nodes > 8 && len < (int)sizeof text) snprintf(text + len, sizeof text - (size_t)len, ", %d more", nodes - 8);
    const double mb = (cnn_dataset_bytes(&r->train) + cnn_dataset_bytes(&r->test)) / 1e6;
    const int mapped = r->test.n_maps > 0;
    cnn_info("%d node%s (%s); data set %.0f MB, %s", nodes, nodes > 1 ? "s" : "", text, mb,
             mapped ? "files mapped read-only: one copy per node, in its page cache" : "decoded into every rank's memory");
    free(all);
}

static void announce(const Run *r)
{
    const CnnConfig *cfg = r->cfg;
    if (r->rank == 0) {
        char kl[512], length[128] = "";
        cnn_model_kernels_line(&r->model, kl, sizeof kl);
        if (r->steps > 0 && cfg->epochs > 0)
            snprintf(length, sizeof length, ", %ld steps (train.epochs = %g of %d images)", r->steps, cfg->epochs,
                     r->train.n);
        else if (r->steps > 0)
            snprintf(length, sizeof length, ", %ld steps", r->steps);
        cnn_info("cnn-dist: %s (%s), %d rank%s x %d OpenBLAS thread%s (%s), global batch %d%s, %s", cfg->name,
                 cfg->path, r->size, r->size > 1 ? "s" : "", r->threads, r->threads > 1 ? "s" : "",
                 cnn_gemm_corename(), r->B, length,
                 cfg->deterministic ? "deterministic (same result on any rank count)" : "fast float allreduce");
        cnn_info("kernels %s: %s", cnn_isa_name(r->isa), kl);
    }
    if (r->size > 1) announce_nodes(r);
    if (r->size == 1 && r->threads > 1 && !getenv("OMPI_COMM_WORLD_SIZE"))
        cnn_info("note: one process with %d threads leaves cores idle outside the matrix products; one rank "
                 "per core is faster: mpirun -np %d (or scripts/cnn-run)",
                 r->threads, r->threads);
}

int run_setup(Run *r, const CnnConfig *cfg, int need_train, CnnErr *err)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    r->config_text = cnn_config_to_ini(cfg);
    r->rank = cnn_comm_rank();
    r->size = cnn_comm_size();
    r->B = cfg->batch;
    r->threads = auto_threads(cfg);
    cnn_gemm_init(r->threads);
    CnnIsa isa;
    if (agree_fail(cnn_cpu_isa(&isa, NULL, err) != 0, err)) return -1;
    r->isa = agree_isa(isa, r->rank);
    cnn_version_line(r->producer, sizeof r->producer, r->isa);
    char gen[512];
    if (cnn_gemm_core_is_generic(gen, sizeof gen) && r->rank == 0) cnn_warn("%s", gen);
    if (load_data(r, need_train, err)) return -1;
    if (need_train) r->steps = cnn_config_steps(cfg, r->train.n);
    if (build_model(r, need_train, err) || check_ranks_agree(r, err)) return -1;
    announce(r);
    return 0;
}

void run_free(Run *r)
{
    if (r->prefetch) cnn_prefetch_stop(r->prefetch);
    free(r->config_text);
    free(r->ema);
    free(r->ema_swap);
    free(r->lookahead);
    cnn_gradsync_free(r->sync);
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

/* This rank's samples of global batch `step`, augmented (the producer thread, or in place). */
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

void run_start_data(Run *r, long step0, long steps)
{
    const CnnModel *m = &r->model;
    const size_t per = (size_t)m->in_h * m->in_w * m->in_c, nloc = (size_t)(r->hi > r->lo ? r->hi - r->lo : 1);
    const size_t xf = cnn_mul_size(nloc, per);
    if (r->cfg->prefetch > 0) {
        r->prefetch = cnn_prefetch_start(r->cfg->prefetch, xf, nloc, fill_batch, r, step0, steps > step0 ? steps : step0);
    } else {
        r->sync_x = cnn_aligned(xf * sizeof(float));
        r->sync_y = cnn_malloc(nloc * sizeof(int));
    }
}

/* train.lookahead after step `step` (airbench94's): from epoch lookahead_start on, every lookahead_every
 * steps, the first time a copy of every parameter and buffer, later the copy moves towards them,
 * copy += (1 - rho) (params - copy) with rho = lookahead^every * (done / steps)^power, and the parameters
 * become the copy; at the end of each epoch (and of the run) the parameters become the copy again. */
static void lookahead_step(Run *r, long step)
{
    const CnnConfig *cfg = r->cfg;
    CnnModel *m = &r->model;
    if (!(cfg->lookahead > 0)) return;
    const long done = step + 1, epoch = cnn_sampler_epoch(&r->sampler, step);
    const size_t bytes = m->n_params * sizeof(float);
    if ((double)epoch >= cfg->lookahead_start && done % cfg->lookahead_every == 0) {
        if (!r->lookahead) {
            r->lookahead = cnn_malloc(bytes);
            memcpy(r->lookahead, m->params, bytes);
        } else {
            const double rho = pow(cfg->lookahead, (double)cfg->lookahead_every) *
                               pow((double)done / (double)r->steps, cfg->lookahead_power);
            const float a = (float)(1.0 - rho);
            float *la = r->lookahead;
            for (size_t i = 0; i < m->n_params; i++) la[i] += a * (m->params[i] - la[i]);
            memcpy(m->params, la, bytes);
        }
    }
    if (r->lookahead && (cnn_sampler_epoch(&r->sampler, done) > epoch || done == r->steps))
        memcpy(m->params, r->lookahead, bytes);
}

int run_step(Run *r, long step, double *lr, CnnStepStats *st, const char **where)
{
    CnnModel *m = &r->model;
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
    const double epoch = (double)cnn_sampler_epoch(&r->sampler, step);
    cnn_model_set_epoch(m, epoch);
    if (cnn_gradsync_step(r->sync, x, y, step, st, where)) return -1;
    if (r->prefetch) cnn_prefetch_release(r->prefetch);
    double t_opt = cnn_now();
    cnn_model_update_buffers(m, m->grads);
    cnn_model_scale_grads(m, m->grads);
    cnn_model_add_weight_decay(m, m->grads, r->cfg->weight_decay);
    *lr = cnn_lr_at_run(r->cfg, step, r->steps);
    size_t ranges[2 * CNN_MAX_TENSORS];
    const int nr = cnn_model_trained_ranges(m, epoch, ranges);
    cnn_optim_step_ranges(&r->optim, m->params, m->grads, *lr, ranges, nr);
    if (r->ema) { /* the average of what is trained; buffers (running statistics) as they are */
        cnn_ema_update(r->ema, m->params, m->n_trainable, r->cfg->ema, r->optim.t);
        memcpy(r->ema + m->n_trainable, m->params + m->n_trainable, (m->n_params - m->n_trainable) * sizeof(float));
    }
    lookahead_step(r, step);
    r->t_opt += cnn_now() - t_opt;
    return 0;
}

void run_ema_reset(Run *r)
{
    const size_t bytes = r->model.n_params * sizeof(float);
    if (!r->ema) r->ema = cnn_malloc(bytes);
    memcpy(r->ema, r->model.params, bytes);
}

/* On the average when there is one (the trained parameters are put back after). */
void run_evaluate(Run *r, int tta, CnnEval *ev)
{
    CnnModel *m = &r->model;
    if (r->ema) {
        if (!r->ema_swap) r->ema_swap = cnn_malloc(m->n_params * sizeof(float));
        memcpy(r->ema_swap, m->params, m->n_params * sizeof(float));
        memcpy(m->params, r->ema, m->n_params * sizeof(float));
    }
    int E = r->cfg->eval_batch;
    if (E > m->max_batch) E = m->max_batch;
    int n = r->test.n, chunks = (n + E - 1) / E, c0, c1;
    cnn_sampler_slice(chunks, r->rank, r->size, &c0, &c1);
    size_t per = (size_t)m->in_h * m->in_w * m->in_c, k = (size_t)m->num_classes;
    float *x = cnn_aligned(cnn_mul_size((size_t)E, per * sizeof(float)));
    float *plain = cnn_malloc((size_t)E * k * sizeof(float)), *avg = cnn_malloc((size_t)E * k * sizeof(float));
    const uint8_t **imgs = cnn_malloc((size_t)E * sizeof *imgs);
    int *y = cnn_malloc((size_t)E * sizeof(int));
    int64_t sums[4] = {0, 0, 0, 0}; /* loss and correct: plain, with TTA */
    for (int c = c0; c < c1; c++) {
        int a = c * E, b = a + E < n ? a + E : n;
        for (int i = a; i < b; i++) {
            imgs[i - a] = r->test.images[i];
            y[i - a] = r->test.labels[i];
        }
        cnn_tta_logits(m, &r->aug_test, imgs, b - a, tta, x, avg, plain);
        for (int v = 0; v < (tta > 0 ? 2 : 1); v++) {
            int correct = 0;
            double l = cnn_softmax_xent_smoothed(NULL, v ? avg : plain, y, b - a, m->num_classes, m->label_smoothing,
                                                 1.0f, &correct);
            sums[2 * v] += llrint(l * CNN_LOSS_SCALE);
            sums[2 * v + 1] += correct;
        }
    }
    free(x);
    free(plain);
    free(avg);
    free(imgs);
    free(y);
    cnn_comm_sum_i64(sums, 4);
    if (r->ema) memcpy(m->params, r->ema_swap, m->n_params * sizeof(float));
    ev->loss = (double)sums[0] / CNN_LOSS_SCALE / n;
    ev->acc = (double)sums[1] / n;
    ev->tta = tta > 0 ? tta : 0;
    ev->tta_loss = (double)sums[2] / CNN_LOSS_SCALE / n;
    ev->tta_acc = (double)sums[3] / n;
}
