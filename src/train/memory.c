/* memory: what one rank will hold, estimated from the config before anything is allocated or written
 * (the model is planned, not built), and the refusal that names the parts and the keys that size them. */
#include <stdio.h>
#include <string.h>

#include "cnn/comm.h"
#include "cnn/util.h"
#include "run.h"

/* Code, libraries, MPI's and HDF5's buffers, thread stacks: a rank with a small synthetic data set
 * peaked at 126 MB RSS of which the model and batches were ~40 MB. */
#define BASE_BYTES 90e6

int cnn_train_memory(const CnnConfig *cfg, int ranks, int threads, double data, CnnMemoryEstimate *e, CnnErr *err)
{
    memset(e, 0, sizeof *e);
    CnnGradPartition part; /* rank 0 computes the most samples: the first ranks get one more */
    cnn_gradsync_partition(cfg, 0, ranks, &part);
    int cap = part.max_samples, slice = part.hi - part.lo;
    if (cfg->eval_batch > cap) cap = cfg->eval_batch;
    CnnModelOpts o = {cap, CNN_ISA_GENERIC, threads > 0 ? threads : 1, 1, 0};
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
int memory_check(const CnnConfig *cfg, int ranks, int threads, double data, CnnErr *err)
{
    CnnMemoryEstimate e;
    const int local = cnn_comm_local_size();
    if (cnn_train_memory(cfg, ranks, threads, data / local, &e, err)) return -1;
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
             c->prefetch, e.slice, c->batch, ranks, ranks > 1 ? "s" : "");
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

