/* prefetch: one background pthread per rank that fills a ring of ready batches, so the compute
 * thread never waits on augmentation once the ring is primed. The producer calls fill(ctx, step, slot)
 * for steps first, first+1, ... in order; the consumer takes them in the same order. The producer
 * thread sets flush-to-zero like every computing thread. */
#ifndef CNN_PREFETCH_H
#define CNN_PREFETCH_H

#include <stddef.h>

typedef struct CnnPrefetch CnnPrefetch;

/* Fills slot for `step`: slot_x has x_floats floats, slot_y y_ints ints. */
typedef void (*CnnFillFn)(void *ctx, long step, float *slot_x, int *slot_y);

/* depth >= 1 slots; steps [first, last) are produced. */
CnnPrefetch *cnn_prefetch_start(int depth, size_t x_floats, size_t y_ints, CnnFillFn fill, void *ctx,
                                long first, long last);
/* Blocks until step's batch is ready (steps are taken in order); *wait_s gets the seconds waited. */
void cnn_prefetch_take(CnnPrefetch *p, long step, const float **x, const int **y, double *wait_s);
/* Returns the slot taken last to the producer. */
void cnn_prefetch_release(CnnPrefetch *p);
/* Stops and joins the thread, frees the ring. */
void cnn_prefetch_stop(CnnPrefetch *p);

/* Test hooks (tests/test_prefetch.c), so that a test waits for a state instead of sleeping and hoping:
 * the first returns once the producer has filled every slot it may and waits for one to be released
 * (no release since), or has ended; the second once a cnn_prefetch_take waits for a batch not yet
 * filled (call it from another thread, such as the fill callback). Training never calls them. */
void cnn_prefetch_wait_producer_parked(CnnPrefetch *p);
void cnn_prefetch_wait_consumer_blocked(CnnPrefetch *p);

#endif
