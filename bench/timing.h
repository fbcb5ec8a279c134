/* timing: the one timing loop of the bench programs. */
#ifndef CNN_BENCH_TIMING_H
#define CNN_BENCH_TIMING_H

#include "cnn/util.h"

/* secs = seconds per call of `call`, timed over at least min_secs after one warm-up call. */
#define TIME_IT(secs, min_secs, call)                                                                  \
    do {                                                                                               \
        call;                                                                                          \
        int reps_ = 0;                                                                                 \
        double t0_ = cnn_now(), t_;                                                                    \
        do {                                                                                           \
            call;                                                                                      \
            reps_++;                                                                                   \
        } while ((t_ = cnn_now() - t0_) < (min_secs));                                                 \
        (secs) = t_ / reps_;                                                                           \
    } while (0)

#endif
