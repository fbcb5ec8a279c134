/* checkpoint: HDF5 files any HDF5 tool can read (layout in README.md, "Checkpoints and metrics"):
 *   /                       attrs format="cnn-dist checkpoint", version=1, step, epoch, world_size,
 *                           seed, config (INI text after overrides), model_hash, optimizer, and what
 *                           trained it: isa, kernels, openblas_core (absent in files of older versions)
 *   /params/<layer>/<tensor>  every tensor of the model (model.h): weights, biases, gamma, beta, and the
 *                           buffers (moving_mean, moving_variance)
 *   /optimizer/<opt>/<slot>/<layer>/<tensor>   the trainable tensors'; attr t on /optimizer/<opt>
 *   /ema/<layer>/<tensor>   train.ema's average (when on)
 *   /lookahead/<layer>/<tensor>  train.lookahead's copy (once it has started)
 *   /state                  attrs sampler_step, samples_seen, lr (what exact continuation needs)
 * Datasets are chunked with the Fletcher32 checksum filter, so a corrupted byte is an error on read.
 * A write goes to <dir>/ckpt-<step>.h5.tmp, is fsync'd, renamed to ckpt-<step>.h5, and the directory
 * fsync'd; only then are checkpoints beyond the newest `keep` removed. A kill at any instant leaves the
 * old set, or the old set plus one complete new file. */
#ifndef CNN_CHECKPOINT_H
#define CNN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/nn/model.h"
#include "cnn/util.h"

typedef struct {
    long step;              /* updates done */
    long epoch;             /* epoch the next batch starts in */
    int world_size;
    uint64_t seed;
    uint64_t model_hash;
    char *config;           /* INI text; on read, malloc'd (free with cnn_ckpt_meta_free) */
    char optimizer[16];     /* "adam" | "sgd" */
    long optim_t;           /* optimizer's update count */
    double lr;              /* learning rate of the last update (informational) */
    long samples_seen;      /* global samples consumed so far (/state attr samples_seen) */
    /* Deterministic mode: per-tensor exponents that scale the next step's exact gradient sum
     * (/state attr grad_exponents, int32[n]); n = 0 when there are none. */
    int n_grad_exps;
    int grad_exps[2 * CNN_MAX_LAYERS];
    /* The kernels that trained it (plan.h), so a resume elsewhere can say whether it continues bit for
     * bit: the instruction set ("avx512"), each conv and dense layer's kernels ("conv1 direct, conv2
     * winograd, ..."), OpenBLAS's core ("Haswell"). "" when the file does not say (older versions). */
    char isa[16];
    char kernels[512];
    char openblas_core[32];
    char producer[512];     /* version.h's line: cnn-dist's version and the libraries' ("" in older files) */
    int has_ema;            /* the file holds /ema (train.ema's averaged parameters) */
    int has_lookahead;      /* the file holds /lookahead (train.lookahead's copy) */
} CnnCkptMeta;

/* The parameters and optimizer slots, each a flat array carved by the same tensor list. */
typedef struct {
    const CnnTensorInfo *tensors;
    int n_tensors;
    int n_slot_tensors;     /* tensors[0 .. n_slot_tensors) have optimizer slots (the trainable ones, which
                               come first; the buffers after them have none); 0 = every tensor */
    float *params;
    int n_slots;
    const char *slot_names[4];
    float *slots[4];
    float *ema;             /* train.ema's average, carved like params: written to /ema/<layer>/...; read
                               when the file has it (meta->has_ema), else left as it is. NULL: none */
    float *lookahead;       /* train.lookahead's copy, the same way under /lookahead (meta->has_lookahead) */
} CnnCkptData;

/* "<dir>/ckpt-<step>.h5" into buf. */
void cnn_ckpt_path(char *buf, size_t n, const char *dir, long step);
/* Writes atomically (see above), then prunes to the newest `keep` (keep <= 0: keep all). Creates dir
 * if needed. path_out (may be NULL) gets the final name. */
int cnn_ckpt_write(const char *dir, const CnnCkptMeta *meta, const CnnCkptData *d, int keep,
                   char *path_out, size_t path_n, CnnErr *err);
/* Reads path: meta (config malloc'd), then every tensor, checking names and shapes against d's list;
 * a missing tensor, a shape that differs, a checksum error or a wrong format attribute is an error
 * naming the file and the object. */
int cnn_ckpt_read(const char *path, CnnCkptMeta *meta, const CnnCkptData *d, CnnErr *err);
/* Reads only the root attributes. */
int cnn_ckpt_read_meta(const char *path, CnnCkptMeta *meta, CnnErr *err);
void cnn_ckpt_meta_free(CnnCkptMeta *meta);
/* Steps of the ckpt-<step>.h5 files in dir, newest first (at most max); returns the count. */
int cnn_ckpt_list(const char *dir, long *steps, int max);

#endif
