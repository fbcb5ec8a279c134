/* metrics: rank 0's log of training and evaluation, <out_dir>/metrics.h5:
 *   /train/{step, epoch, loss, accuracy, lr, images_per_sec, wall_s}   one row per log interval
 *   /eval/{step, loss, accuracy}                                        one row per evaluation
 *   /eval_tta/{step, loss, accuracy}    the same with data.tta's test-time augmentation (only if any)
 *   root attrs: config, world_size, started
 * Each column is a 1-D chunked dataset of unlimited size (step, epoch: int64; the rest float64).
 *
 * The writer keeps every row in memory (they are tiny) and each flush writes the whole log as a new
 * plain HDF5 file (default, earliest-compatible format) <path>.tmp, fsyncs it and renames it over
 * <path>. So the file under the final name is always complete and closed: h5dump, h5ls and h5py
 * (no SWMR flag) read it while training runs, and after a kill -9 it opens with every row up to the
 * last flush. A reader sees new rows by opening the file again. A stale <path>.tmp is harmless. */
#ifndef CNN_METRICS_H
#define CNN_METRICS_H

#include "cnn/util.h"

typedef struct CnnMetrics CnnMetrics;

typedef struct {
    long step, epoch;
    double loss, accuracy, lr, images_per_sec, wall_s;
} CnnTrainRow;

/* resume_step < 0: an empty log, written at once (an existing file is replaced). Otherwise the
 * existing file's rows with step <= resume_step are read back (a missing file starts empty; one
 * that cannot be read is an error naming it) and written at once without the later rows, so no
 * step is logged twice. Keeps the old file's started attr; config and world_size are this run's. */
CnnMetrics *cnn_metrics_open(const char *path, const char *config_text, int world_size,
                             long resume_step, CnnErr *err);
/* Sets the root attribute "producer" (version.h's line), written from the next flush on. */
void cnn_metrics_set_producer(CnnMetrics *m, const char *producer);
/* Rows are kept in memory until a flush; a stream's steps must not go back (-1, naming the
 * file). */
int cnn_metrics_train(CnnMetrics *m, const CnnTrainRow *row, CnnErr *err);
int cnn_metrics_eval(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err);
int cnn_metrics_eval_tta(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err);
/* Writes the snapshot if anything changed since the last one; on failure the rows stay pending. */
int cnn_metrics_flush(CnnMetrics *m, CnnErr *err);
/* Flushes (a failure is a warning) and frees. */
void cnn_metrics_close(CnnMetrics *m);

#endif
