/* loop: cnn_train_run, the training loop, and cnn_eval_run.
 *
 * One step, on every rank (the phases below, in order):
 *   run_step       this rank's part of global batch `step` from the prefetch ring; the global gradient
 *                  (gradsync: micro-shards and exact sums, or float buckets); weight decay, learning
 *                  rate, optimizer step (identical on every rank)
 *   log_progress   every log_every: the progress line and a metrics row (rank 0)
 *   maybe_evaluate every eval_every and at the end: sharded evaluation, a metrics row
 *   end_of_step    one agreement between ranks (a signal anywhere, metrics that failed to write);
 *                  every checkpoint_every, at the end and on a stop: a checkpoint (rank 0, atomic) whose
 *                  outcome every rank waits for
 * A signal on any rank stops all of them at the next step boundary, after a checkpoint. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/io/checkpoint.h"
#include "cnn/io/metrics.h"
#include "cnn/util.h"
#include "cnn/watchdog.h"
#include "run.h"

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

/* What the loop carries from step to step besides the run. */
typedef struct {
    long step0, steps;
    int tty;
    CnnMetrics *metrics;        /* rank 0 */
    int io_failed;              /* rank 0: writing metrics failed (said once) */
    double t_start, t_log;
    double t_launch;            /* when cnn_train_run began: data, model, whitening and all */
    CnnEval last;               /* the final evaluation (last.tta < 0: none ran) */
    int64_t log_loss, log_correct; /* since the last progress line */
    long log_steps;
} Loop;

/* The step to start from: the checkpoint's with --resume; else 0, refusing a directory that already
 * holds checkpoints. -1 on an error (said, agreed on). */
static long start_or_resume(Run *r, const char *resume)
{
    if (resume) return resume_all(r, resume);
    CnnErr err;
    long newest = -1;
    if (r->rank == 0 && cnn_ckpt_list(r->cfg->out_dir, &newest, 1) < 1) newest = -1;
    if (r->rank == 0 && newest >= 0)
        cnn_err(&err, "%s already holds checkpoints (newest ckpt-%ld.h5): pass --resume latest to continue, "
                      "or set run.out_dir (or run.name) for a new run",
                r->cfg->out_dir, newest);
    return agree_fail(newest >= 0, &err) ? -1 : 0;
}

/* Rank 0: metrics.h5, appended to from step0 when resuming. NULL on an error (said). */
static CnnMetrics *open_metrics(const Run *r, long step0, int resuming)
{
    CnnErr err;
    char mpath[CNN_PATH_LEN + 32];
    snprintf(mpath, sizeof mpath, "%s/metrics.h5", r->cfg->out_dir);
    CnnMetrics *metrics = NULL;
    if (cnn_mkdir_p(r->cfg->out_dir, &err) == 0)
        metrics = cnn_metrics_open(mpath, r->config_text, r->size, resuming ? step0 : -1, &err);
    if (metrics) {
        cnn_metrics_set_producer(metrics, r->producer);
        return metrics;
    }
    fprintf(stderr, "cnn-dist: %s\n", err.msg);
    if (resuming && access(mpath, F_OK) == 0)
        fprintf(stderr,
                "cnn-dist: the checkpoints are not affected; to go on with a new metrics log from step %ld, move "
                "the damaged one aside (mv %s %s.damaged) and resume again\n",
                step0, mpath, mpath);
    return NULL;
}

/* Rank 0 writes a metrics row; a failure is said once and ends the run at the step boundary. */
static void metrics_failed(Loop *lp, const CnnErr *err)
{
    fprintf(stderr, "%scnn-dist: %s\n", lp->tty ? "\n" : "", err->msg);
    lp->io_failed = 1;
}

static void log_progress(Run *r, Loop *lp, long done, double lr, const CnnStepStats *st)
{
    const CnnConfig *cfg = r->cfg;
    lp->log_loss += st->loss_fixed;
    lp->log_correct += st->correct;
    lp->log_steps++;
    if (cfg->log_every <= 0 || (done % cfg->log_every != 0 && done != lp->steps)) return;
    double now = cnn_now();
    double loss = (double)lp->log_loss / CNN_LOSS_SCALE / ((double)lp->log_steps * r->B) + cnn_model_weight_loss(&r->model);
    double acc = (double)lp->log_correct / ((double)lp->log_steps * r->B);
    double ips = (double)lp->log_steps * r->B / (now - lp->t_log);
    double eta = (double)(lp->steps - done) * (now - lp->t_start) / (double)(done - lp->step0);
    long epoch = cnn_sampler_epoch(&r->sampler, done);
    char etas[32], took[32];
    human_time(etas, sizeof etas, eta);
    human_time(took, sizeof took, now - lp->t_launch);
    if (r->rank == 0) {
        printf("%sstep %ld/%ld  epoch %ld  loss %.4f  acc %.4f  lr %.3g  %.0f img/s  %s  ETA %s%s", lp->tty ? "\r" : "",
               done, lp->steps, epoch, loss, acc, lr, ips, took, etas, lp->tty ? "   " : "\n");
        fflush(stdout);
        CnnTrainRow row = {done, epoch, loss, acc, lr, ips, now - lp->t_start};
        CnnErr err;
        if (!lp->io_failed && (cnn_metrics_train(lp->metrics, &row, &err) || cnn_metrics_flush(lp->metrics, &err)))
            metrics_failed(lp, &err);
    }
    lp->t_log = now;
    lp->log_loss = lp->log_correct = 0;
    lp->log_steps = 0;
}

/* "; with TTA level L: test loss X  test accuracy Y" when the evaluation had TTA, else "". */
static const char *tta_text(const CnnEval *ev, char *buf, size_t n)
{
    buf[0] = 0;
    if (ev->tta > 0)
        snprintf(buf, n, "; with TTA level %d: test loss %.4f  test accuracy %.4f", ev->tta, ev->tta_loss, ev->tta_acc);
    return buf;
}

/* Every eval_every steps and at the end; data.tta's views at the end only (they cost 2 or 6 forwards). */
static void maybe_evaluate(Run *r, Loop *lp, long done)
{
    if (!((r->cfg->eval_every > 0 && done % r->cfg->eval_every == 0) || done == lp->steps)) return;
    CnnEval ev;
    run_evaluate(r, done == lp->steps ? r->cfg->tta : 0, &ev);
    if (done == lp->steps) lp->last = ev;
    if (r->rank != 0) return;
    char tta[96];
    printf("%seval step %ld: test loss %.4f  test accuracy %.4f%s (%d images%s)\n", lp->tty ? "\n" : "", done, ev.loss,
           ev.acc, tta_text(&ev, tta, sizeof tta), r->test.n, r->ema ? ", averaged parameters" : "");
    fflush(stdout);
    CnnErr err;
    if (!lp->io_failed && (cnn_metrics_eval(lp->metrics, done, ev.loss, ev.acc, &err) ||
                           (ev.tta && cnn_metrics_eval_tta(lp->metrics, done, ev.tta_loss, ev.tta_acc, &err)) ||
                           cnn_metrics_flush(lp->metrics, &err)))
        metrics_failed(lp, &err);
}

/* One agreement per step: a signal on any rank (*stop), or rank 0 failing to write the metrics; then
 * the checkpoint when one is due. Returns CNN_EXIT_OK to go on, else the exit status. */
static int end_of_step(Run *r, Loop *lp, long done, double lr, int *stop)
{
    const CnnConfig *cfg = r->cfg;
    int flags[2] = {stop_signal != 0, lp->io_failed};
    cnn_comm_max_int(flags, 2);
    *stop = flags[0];
    if (flags[1]) return CNN_EXIT_ERROR; /* rank 0 said why; every rank ends cleanly, the files are intact */
    if ((cfg->checkpoint_every > 0 && done % cfg->checkpoint_every == 0) || done == lp->steps || *stop) {
        CnnErr err;
        const int failed = save_checkpoint(r, done, lr, &err) != 0;
        if (failed) fprintf(stderr, "%scnn-dist: %s\n", lp->tty ? "\n" : "", err.msg);
        /* Every rank waits for rank 0's checkpoint (an allreduce of its outcome): on a stop, a launcher
         * that kills the job when the first rank exits (srun --kill-on-bad-exit) must not cut the write
         * short; on a failure (a full disk), all of them end cleanly with it. */
        if (cnn_comm_any(failed)) return CNN_EXIT_ERROR;
    }
    return CNN_EXIT_OK;
}

/* Steps step0 .. steps-1, or until NaN, a signal or a failed write. */
static int train_steps(Run *r, Loop *lp)
{
    double lr = cnn_lr_at_run(r->cfg, lp->step0, lp->steps);
    int rc = CNN_EXIT_OK;
    long step;
    for (step = lp->step0; step < lp->steps; step++) {
        CnnStepStats st;
        const char *where;
        if (run_step(r, step, &lr, &st, &where)) {
            if (r->rank == 0)
                fprintf(stderr, "cnn-dist: NaN or Inf in the %s%s at step %ld; stopping (lower train.lr?)\n",
                        where ? where : "gradients", where && strcmp(where, "loss") ? " gradient" : "", step);
            return CNN_EXIT_NAN;
        }
        const long done = step + 1;
        cnn_watchdog_kick();
        log_progress(r, lp, done, lr, &st);
        maybe_evaluate(r, lp, done);
        cnn_watchdog_kick();
        int stop = 0;
        if ((rc = end_of_step(r, lp, done, lr, &stop)) != CNN_EXIT_OK) return rc;
        cnn_watchdog_kick();
        if (stop) {
            if (r->rank == 0)
                printf("%sstopped by a signal after step %ld; checkpoint written; resume with --resume latest\n",
                       lp->tty ? "\n" : "", done);
            rc = CNN_EXIT_PREEMPTED;
            step++;
            break;
        }
    }
    if (r->ema)
        cnn_info("step %ld: parameter hash %016llx; averaged parameters hash %016llx", step,
                 (unsigned long long)cnn_model_params_hash(&r->model),
                 (unsigned long long)cnn_hash_bytes(CNN_HASH_INIT, r->ema, r->model.n_params * sizeof(float)));
    else
        cnn_info("step %ld: parameter hash %016llx", step, (unsigned long long)cnn_model_params_hash(&r->model));
    return rc;
}

int cnn_train_run(const CnnConfig *cfg, const CnnTrainOpts *opts)
{
    if (opts->bench) return bench_run(cfg, opts);
    Run *r = cnn_calloc(1, sizeof *r);
    CnnErr err;
    int rc = CNN_EXIT_ERROR;
    Loop lp = {.tty = progress_on_terminal(), .t_launch = cnn_now(), .last = {.tta = -1}};
    if (run_setup(r, cfg, 1, &err)) goto out; /* run_setup said why */
    lp.steps = r->steps; /* train.steps, or what train.epochs gives on this training set */
    if ((lp.step0 = start_or_resume(r, opts->resume)) < 0) goto out;
    if (r->rank == 0) lp.metrics = open_metrics(r, lp.step0, lp.step0 > 0 || opts->resume);
    if (cnn_comm_any(r->rank == 0 && !lp.metrics)) goto out;
    install_signals();
    if (lp.step0 >= lp.steps)
        cnn_info("the checkpoint is at step %ld and train.%s gives %ld steps: nothing left to train "
                 "(raise it to go on)", lp.step0, cfg->epochs > 0 ? "epochs" : "steps", lp.steps);
    run_start_data(r, lp.step0, lp.steps);
    lp.t_start = lp.t_log = cnn_now();
    if (r->size > 1) cnn_watchdog_start(cfg->stall_timeout); /* one process has no one to wait for */
    rc = train_steps(r, &lp);
    cnn_watchdog_stop();
    if (rc == CNN_EXIT_OK && lp.last.tta >= 0 && r->rank == 0) {
        const double wall = cnn_now() - lp.t_launch;
        char took[32], tta[64] = "";
        human_time(took, sizeof took, wall);
        if (lp.last.tta) snprintf(tta, sizeof tta, ", %.4f with TTA level %d", lp.last.tta_acc, lp.last.tta);
        cnn_info("done: %ld steps, test accuracy %.4f%s; %s from the start (%.1f s: data, initialisation, training, "
                 "evaluation)", lp.steps, lp.last.acc, tta, took, wall);
    }
out:
    if (lp.metrics) cnn_metrics_close(lp.metrics);
    run_free(r);
    free(r);
    return rc;
}

int cnn_eval_run(const CnnConfig *cfg, const char *ckpt, int raw)
{
    Run *r = cnn_calloc(1, sizeof *r);
    CnnErr err;
    int rc = CNN_EXIT_OK;
    if (run_setup(r, cfg, 0, &err)) {
        rc = CNN_EXIT_ERROR;
    } else {
        r->eval_only = 1;
        r->eval_raw = raw;
        long step = resume_all(r, ckpt);
        if (step < 0) {
            rc = CNN_EXIT_ERROR;
        } else {
            CnnEval ev;
            run_evaluate(r, cfg->tta, &ev);
            char tta[96];
            cnn_info("%s (step %ld): test loss %.4f  test accuracy %.4f%s (%d images, %d rank%s, %s)", ckpt, step,
                     ev.loss, ev.acc, tta_text(&ev, tta, sizeof tta), r->test.n, r->size, r->size > 1 ? "s" : "",
                     r->ema ? "averaged parameters; --raw for the trained ones" : "trained parameters");
        }
    }
    run_free(r);
    free(r);
    return rc;
}
