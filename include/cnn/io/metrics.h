/* metrics: rank 0's append-only HDF5 log, <out_dir>/metrics.h5:
 *   /train/{step, epoch, loss, accuracy, lr, images_per_sec, wall_s}   one row per log interval
 *   /eval/{step, loss, accuracy}                                        one row per evaluation
 *   root attrs: config, world_size, started
 * Each column is a 1-D chunked dataset of unlimited size (step, epoch: int64; the rest float64).
 * The file is written in HDF5's single-writer/multiple-reader mode (SWMR): it is readable while
 * training runs (h5py with swmr=True, h5dump) and after a kill -9 it opens with every row up to the last
 * flush. Opening for a resume cuts rows with step > resume_step, so no step is logged twice. */
#ifndef CNN_METRICS_H
#define CNN_METRICS_H

#include "cnn/util.h"

typedef struct CnnMetrics CnnMetrics;

typedef struct {
    long step, epoch;
    double loss, accuracy, lr, images_per_sec, wall_s;
} CnnTrainRow;

/* resume_step < 0: a new file (an existing one is replaced). Otherwise the existing file is opened
 * (created if missing) and cut to rows with step <= resume_step. */
CnnMetrics *cnn_metrics_open(const char *path, const char *config_text, int world_size,
                             long resume_step, CnnErr *err);
int cnn_metrics_train(CnnMetrics *m, const CnnTrainRow *row, CnnErr *err);
int cnn_metrics_eval(CnnMetrics *m, long step, double loss, double accuracy, CnnErr *err);
int cnn_metrics_flush(CnnMetrics *m, CnnErr *err);
void cnn_metrics_close(CnnMetrics *m);

#endif
