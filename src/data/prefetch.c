/* prefetch: one producer pthread filling a ring of `depth` batch slots for steps [first, last) in
 * order; the consumer takes them in the same order. Step k lives in slot (k - first) % depth. The
 * producer may fill step k once k - first < released + depth (its slot came back); the consumer may
 * take step k once k - first < filled. One mutex guards the counters; `ready` wakes the consumer,
 * `space` wakes the producer; stop sets a flag and broadcasts both so a blocked producer exits. The
 * fill callback runs outside the lock, so taking a ready batch never waits on one being filled. Two
 * flags say when a thread is blocked, and `changed` is broadcast when one is set: the test hooks wait
 * on them, so tests order their events by state instead of by sleeping. */
#include "cnn/data/prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/util.h"

struct CnnPrefetch {
    int depth;
    size_t x_floats, y_ints;
    float **x;              /* [depth] slots of x_floats */
    int **y;                /* [depth] slots of y_ints */
    CnnFillFn fill;
    void *ctx;
    long first, last;

    pthread_mutex_t mu;
    pthread_cond_t ready, space;
    long filled;            /* steps [first, first + filled) are in the ring or were taken */
    long taken;             /* steps handed to the consumer */
    long released;          /* slots given back */
    int stop;
    pthread_t thread;

    /* for cnn_prefetch_wait_producer_parked and cnn_prefetch_wait_consumer_blocked (tests) */
    pthread_cond_t changed;
    int parked;             /* the producer waits for a slot, none released since */
    int ended;              /* the producer has left its loop */
    int blocked;            /* take waits for a batch not yet filled */
};

static void lock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_lock(m);
    if (rc != 0) CNN_DIE("pthread_mutex_lock: error %d", rc);
}

static void unlock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_unlock(m);
    if (rc != 0) CNN_DIE("pthread_mutex_unlock: error %d", rc);
}

static void *producer(void *arg)
{
    CnnPrefetch *p = arg;
    cnn_set_ftz_daz();
    for (long k = 0; k < p->last - p->first; k++) {
        lock(&p->mu);
        while (!p->stop && k >= p->released + p->depth) {
            p->parked = 1;
            pthread_cond_broadcast(&p->changed);
            pthread_cond_wait(&p->space, &p->mu);
        }
        p->parked = 0;
        int stop = p->stop;
        unlock(&p->mu);
        if (stop) break;
        int slot = (int)(k % p->depth);
        p->fill(p->ctx, p->first + k, p->x[slot], p->y[slot]);
        lock(&p->mu);
        p->filled = k + 1;
        pthread_cond_signal(&p->ready);
        unlock(&p->mu);
    }
    lock(&p->mu);
    p->ended = 1;
    pthread_cond_broadcast(&p->changed);
    unlock(&p->mu);
    return NULL;
}

CnnPrefetch *cnn_prefetch_start(int depth, size_t x_floats, size_t y_ints, CnnFillFn fill, void *ctx,
                                long first, long last)
{
    CNN_ASSERT(depth >= 1 && fill && first <= last);
    CnnPrefetch *p = cnn_calloc(1, sizeof *p);
    p->depth = depth;
    p->x_floats = x_floats;
    p->y_ints = y_ints;
    p->fill = fill;
    p->ctx = ctx;
    p->first = first;
    p->last = last;
    p->x = cnn_calloc((size_t)depth, sizeof *p->x);
    p->y = cnn_calloc((size_t)depth, sizeof *p->y);
    for (int i = 0; i < depth; i++) {
        p->x[i] = cnn_aligned_for(cnn_mul_size(x_floats ? x_floats : 1, sizeof(float)), "the prefetched batches");
        p->y[i] = cnn_aligned_for(cnn_mul_size(y_ints ? y_ints : 1, sizeof(int)), "the prefetched batches");
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_cond_init(&p->ready, NULL) != 0 ||
        pthread_cond_init(&p->space, NULL) != 0 || pthread_cond_init(&p->changed, NULL) != 0)
        CNN_DIE("pthread mutex/cond init failed");
    int rc = pthread_create(&p->thread, NULL, producer, p);
    if (rc != 0) CNN_DIE("pthread_create (prefetch): error %d", rc);
    return p;
}

void cnn_prefetch_take(CnnPrefetch *p, long step, const float **x, const int **y, double *wait_s)
{
    lock(&p->mu);
    long k = step - p->first;
    CNN_ASSERT(k == p->taken && step < p->last);
    double waited = 0.0;
    if (k >= p->filled) {
        double t0 = cnn_now();
        p->blocked = 1;
        pthread_cond_broadcast(&p->changed);
        while (k >= p->filled) pthread_cond_wait(&p->ready, &p->mu);
        p->blocked = 0;
        waited = cnn_now() - t0;
    }
    p->taken++;
    unlock(&p->mu);
    int slot = (int)(k % p->depth);
    *x = p->x[slot];
    *y = p->y[slot];
    if (wait_s) *wait_s = waited;
}

void cnn_prefetch_release(CnnPrefetch *p)
{
    lock(&p->mu);
    CNN_ASSERT(p->released < p->taken);
    p->released++;
    p->parked = 0; /* the slot it waited for */
    pthread_cond_signal(&p->space);
    unlock(&p->mu);
}

void cnn_prefetch_stop(CnnPrefetch *p)
{
    if (!p) return;
    lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->space);
    pthread_cond_broadcast(&p->ready);
    unlock(&p->mu);
    int rc = pthread_join(p->thread, NULL);
    if (rc != 0) CNN_DIE("pthread_join (prefetch): error %d", rc);
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->space);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->mu);
    for (int i = 0; i < p->depth; i++) {
        free(p->x[i]);
        free(p->y[i]);
    }
    free(p->x);
    free(p->y);
    free(p);
}

void cnn_prefetch_wait_producer_parked(CnnPrefetch *p)
{
    lock(&p->mu);
    while (!p->parked && !p->ended) pthread_cond_wait(&p->changed, &p->mu);
    unlock(&p->mu);
}

void cnn_prefetch_wait_consumer_blocked(CnnPrefetch *p)
{
    lock(&p->mu);
    while (!p->blocked) pthread_cond_wait(&p->changed, &p->mu);
    unlock(&p->mu);
}
