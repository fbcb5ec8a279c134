/* bench: --bench STEPS times STEPS training steps (after two warm-up steps, from a checkpoint if
 * --resume says so) through the same run_step as training, writes nothing, and prints the table: images/s,
 * memory, time per phase and per layer, how much of the allreduce backward hid. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "cnn/comm.h"
#include "cnn/nn/gemm.h"
#include "cnn/util.h"
#include "run.h"

#define WARMUP_STEPS 2

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

static void print_bench(const Run *r, int steps, double wall)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t mem[2] = {(uint64_t)ru.ru_maxrss, current_pss_kb()};
    cnn_comm_max_u64(mem, 2);
    uint64_t rss_kb = mem[0], pss_kb = mem[1];
    /* what one blocking allreduce of the whole gradient costs here, to say how much of it was hidden */
    const CnnModel *m = &r->model;
    const CnnGradSyncTimes *gt = cnn_gradsync_times(r->sync);
    const int det = cnn_gradsync_partition_of(r->sync)->n_micro > 0;
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
    uint64_t busy_us = (uint64_t)(1e6 * (gt->fwd + gt->bwd) / steps), busy_max = busy_us, busy_min = busy_us;
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
    double total = r->t_data + gt->fwd + gt->bwd + gt->sum + gt->reduce + r->t_opt;
    printf("%-12s %10s %7s\n", "phase", "ms/step", "share");
    const char *names[] = {"data wait", "forward", "backward", "sum (fixed)", "allreduce", "optimizer"};
    double vals[] = {r->t_data, gt->fwd, gt->bwd, gt->sum, gt->reduce, r->t_opt};
    for (int i = 0; i < 6; i++)
        printf("%-12s %10.2f %6.1f%%\n", names[i], 1e3 * vals[i] / steps, 100.0 * vals[i] / total);
    if (r->size > 1) {
        printf("forward + backward per rank: fastest %.2f ms/step, slowest %.2f ms/step\n", busy_min / 1e3,
               busy_max / 1e3);
        printf("allreduce of the %.2f MB gradient, blocking, alone: %.2f ms\n", m->n_params * 4.0 / 1e6, 1e3 * t_block);
        if (det)
            printf("deterministic mode, int64 sums (%.2f MB) in %.0f KB buckets overlapped with the last micro-shard's "
                   "backward: %.2f ms/step after backward (%.2f of it waiting); %ld of %d steps summed exactly in two "
                   "passes\n",
                   m->n_params * 8.0 / 1e6, r->cfg->bucket_kb, 1e3 * gt->reduce / steps, 1e3 * gt->wait / steps,
                   gt->exact_steps, steps);
        else if (r->cfg->bucket_kb > 0)
            printf("fast mode, %.0f KB buckets overlapped with backward: %.2f ms/step left waiting after backward "
                   "(%.0f%% of a blocking allreduce hidden)\n",
                   r->cfg->bucket_kb, 1e3 * gt->wait / steps,
                   t_block > 0 ? 100.0 * (1.0 - gt->wait / steps / t_block) : 0.0);
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

int bench_run(const CnnConfig *cfg, const CnnTrainOpts *opts)
{
    Run *r = cnn_calloc(1, sizeof *r);
    CnnErr err;
    int rc = CNN_EXIT_ERROR;
    long step0 = 0;
    if (run_setup(r, cfg, 1, &err)) goto out; /* run_setup said why */
    /* from a checkpoint if asked: speed late in training (denormals, sparser activations) */
    if (opts->resume && (step0 = resume_all(r, opts->resume)) < 0) goto out;
    const long steps = step0 + WARMUP_STEPS + opts->bench;
    run_start_data(r, step0, steps);
    r->model.timing = 0;
    double t_bench = cnn_now(), lr;
    for (long step = step0; step < steps; step++) {
        if (step == step0 + WARMUP_STEPS) {
            t_bench = cnn_now();
            r->t_data = r->t_opt = 0;
            cnn_gradsync_reset_times(r->sync);
            r->model.timing = 1;
        }
        CnnStepStats st;
        const char *where;
        if (run_step(r, step, &lr, &st, &where)) {
            if (r->rank == 0) fprintf(stderr, "cnn-dist: NaN or Inf in the %s at step %ld\n", where ? where : "gradients", step);
            rc = CNN_EXIT_NAN;
            goto out;
        }
    }
    print_bench(r, opts->bench, cnn_now() - t_bench);
    rc = CNN_EXIT_OK;
out:
    run_free(r);
    free(r);
    return rc;
}
