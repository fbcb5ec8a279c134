/* resume: which checkpoint a run continues from (a path, or the newest readable one in out_dir), whether
 * the config may continue it, rank 0 reading it and every rank receiving it; and writing one (rank 0,
 * atomic, cnn_ckpt_write). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/comm.h"
#include "cnn/io/checkpoint.h"
#include "cnn/nn/gemm.h"
#include "cnn/util.h"
#include "run.h"

/* Whether cfg may continue the checkpoint: the same network (model hash), and for training the same
 * recipe (the keys' classes, config.h, say which). */
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
        char key[96], tunable[512], local[256];
        if (cnn_config_recipe_change(old, cfg, key, sizeof key)) {
            cnn_config_keys_of_class(CNN_KEY_TUNABLE, tunable, sizeof tunable);
            cnn_config_keys_of_class(CNN_KEY_LOCAL, local, sizeof local);
            rc = cnn_err(err, "%s: %s differs from the checkpoint's; only these keys may change on resume: %s, %s "
                              "(and the number of ranks)",
                         path, key, tunable, local);
        }
    }
    free(old);
    return rc;
}

/* Where a checkpoint's average goes: training with train.ema keeps its own buffer; --eval takes the
 * checkpoint's unless --raw. NULL: not read. */
static float *ema_target(Run *r, int file_has_it)
{
    if (!file_has_it) return NULL;
    if (r->eval_only && !r->eval_raw && !r->ema) r->ema = cnn_malloc(r->model.n_params * sizeof(float));
    return r->ema;
}

/* Where a checkpoint's lookahead copy goes: training with train.lookahead reads it (--eval needs only the
 * parameters, which lookahead has already made the copy at every epoch's end). NULL: not read. */
static float *lookahead_target(Run *r, int file_has_it)
{
    if (!file_has_it || r->eval_only || !(r->cfg->lookahead > 0)) return NULL;
    if (!r->lookahead) r->lookahead = cnn_malloc(r->model.n_params * sizeof(float));
    return r->lookahead;
}

/* The optimizer slots a resume reads and sends to every rank: none for --eval and --predict, which need
 * the parameters only (so a checkpoint trained with another optimizer, a --set on the training command
 * line, evaluates under any config of the same network). */
static int resume_slots(Run *r, const char **names, float **slots)
{
    return r->eval_only ? 0 : cnn_optim_slots(&r->optim, names, slots);
}

/* Rank 0 picks and reads the checkpoint: `resume` is a path, or "latest" = the newest in out_dir that
 * reads and validates (a corrupt one is named and skipped; a network or recipe that differs is an error,
 * not corruption). *have = 0 when "latest" finds no checkpoint at all. */
static int rank0_read_resume(Run *r, const char *resume, CnnCkptMeta *meta, char *path, size_t pn, int *have,
                             CnnErr *err)
{
    CnnModel *m = &r->model;
    CnnCkptData d = {.tensors = m->tensors, .n_tensors = m->n_tensors, .n_slot_tensors = m->n_trainable_tensors,
                     .params = m->params};
    d.n_slots = resume_slots(r, d.slot_names, d.slots);
    *have = 0;
    if (strcmp(resume, "latest") != 0) {
        snprintf(path, pn, "%s", resume);
        if (cnn_ckpt_read_meta(path, meta, err) || check_resume_config(r->cfg, meta, path, !r->eval_only, err)) return -1;
        d.ema = ema_target(r, meta->has_ema);
        d.lookahead = lookahead_target(r, meta->has_lookahead);
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
        d.ema = ema_target(r, meta->has_ema);
        d.lookahead = lookahead_target(r, meta->has_lookahead);
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

/* Resumes every rank: rank 0 reads, everybody receives (no shared file system needed). */
long resume_all(Run *r, const char *resume)
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
        CnnErr ierr;
        if (run_init_params(r, &ierr)) return -1; /* said */
        memset(r->optim.m, 0, m->n_trainable * sizeof(float));
        if (r->optim.v) memset(r->optim.v, 0, m->n_trainable * sizeof(float));
        if (r->ema) run_ema_reset(r);
        return 0;
    }
    long hdr[3] = {meta.step, meta.optim_t, meta.n_grad_exps};
    cnn_comm_bcast(hdr, sizeof hdr, 0);
    cnn_comm_bcast(meta.grad_exps, sizeof meta.grad_exps, 0);
    cnn_gradsync_set_exponents(r->sync, meta.grad_exps, (int)hdr[2]);
    cnn_comm_bcast(m->params, m->n_params * sizeof(float), 0);
    const char *names[4];
    float *slots[4];
    int ns = resume_slots(r, names, slots);
    for (int s = 0; s < ns; s++) cnn_comm_bcast(slots[s], m->n_trainable * sizeof(float), 0);
    r->optim.t = hdr[1];
    int ema[2] = {meta.has_ema && r->ema, r->ema != NULL}; /* read, wanted */
    cnn_comm_bcast(ema, sizeof ema, 0);
    if (ema[0]) {
        if (!r->ema) r->ema = cnn_malloc(m->n_params * sizeof(float));
        cnn_comm_bcast(r->ema, m->n_params * sizeof(float), 0);
    } else if (ema[1] && !r->eval_only) {
        run_ema_reset(r);
        cnn_info("%s holds no averaged parameters: train.ema's average starts here from its parameters", path);
    }
    int la = meta.has_lookahead && r->lookahead; /* rank 0 read it */
    cnn_comm_bcast(&la, sizeof la, 0);
    if (la) {
        if (!r->lookahead) r->lookahead = cnn_malloc(m->n_params * sizeof(float));
        cnn_comm_bcast(r->lookahead, m->n_params * sizeof(float), 0);
    } else if (r->lookahead) { /* a failed read of a later file may have left one */
        free(r->lookahead);
        r->lookahead = NULL;
    }
    cnn_info("resumed from step %ld (%s, written by %d rank%s%s)", hdr[0], path, meta.world_size,
             meta.world_size == 1 ? "" : "s", ema[0] ? "; with its averaged parameters" : "");
    if (r->rank == 0) kernels_notice(r, &meta, path);
    cnn_ckpt_meta_free(&meta);
    return hdr[0];
}

int save_checkpoint(Run *r, long step, double lr, CnnErr *err)
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
    snprintf(meta.producer, sizeof meta.producer, "%s", r->producer);
    meta.n_grad_exps = cnn_gradsync_exponents(r->sync, meta.grad_exps); /* needed for a bitwise continuation */
    CnnCkptData d = {.tensors = m->tensors, .n_tensors = m->n_tensors, .n_slot_tensors = m->n_trainable_tensors,
                     .params = m->params};
    d.n_slots = cnn_optim_slots(&r->optim, d.slot_names, d.slots);
    d.ema = r->ema;
    d.lookahead = r->lookahead;
    char path[CNN_PATH_LEN + 64];
    int rc = cnn_ckpt_write(r->cfg->out_dir, &meta, &d, r->cfg->keep, path, sizeof path, err);
    if (rc == 0) cnn_info("checkpoint %s", path);
    return rc;
}

