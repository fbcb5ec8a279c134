/* watchdog: a thread that ends this process when cnn_watchdog_kick has not been called for `timeout`
 * seconds (see include/cnn/watchdog.h). It must not call MPI (the ranks are MPI_THREAD_FUNNELED) and
 * cannot count on MPI_Abort reaching a lost node anyway: it exits, and the launcher, seeing a rank end
 * with a nonzero status, takes the job down. */
#include "cnn/watchdog.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnn/comm.h"
#include "cnn/train.h"
#include "cnn/util.h"

static _Atomic int64_t last_kick_ns;
static double limit_s;
static pthread_t thread;
static int running;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int quit;

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* the clock that kicks and looks read: CLOCK_MONOTONIC, or a test's (cnn_watchdog_set_clock) */
static int64_t (*now_ns)(void) = mono_ns;

/* One look: ends the process if no kick came for longer than the timeout. */
static void look(void)
{
    const double idle = (double)(now_ns() - atomic_load(&last_kick_ns)) * 1e-9;
    if (idle > limit_s) {
        fprintf(stderr,
                "cnn-dist: rank %d: no progress for %.0f s (run.stall_timeout): the ranks wait on one that "
                "does not answer (a lost node or network?); ending this rank so the job ends. Resume "
                "with --resume latest\n",
                cnn_comm_rank(), idle);
        fflush(NULL);
        _exit(CNN_EXIT_STALLED);
    }
}

static void *watch(void *arg)
{
    (void)arg;
    /* look ten times per timeout (at most once a second): the process ends within 1.1 x timeout */
    const double period = fmin(1.0, limit_s / 10.0);
    pthread_mutex_lock(&mu);
    while (!quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        const int64_t ns = until.tv_nsec + (int64_t)(period * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&wake, &mu, &until);
        if (quit) break;
        look();
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void cnn_watchdog_start(double timeout)
{
    if (!(timeout > 0) || running) return;
    limit_s = timeout;
    quit = 0;
    atomic_store(&last_kick_ns, now_ns());
    const int e = pthread_create(&thread, NULL, watch, NULL);
    if (e) CNN_DIE("cannot start the watchdog thread: %s", strerror(e));
    running = 1;
}

void cnn_watchdog_kick(void) { atomic_store_explicit(&last_kick_ns, now_ns(), memory_order_relaxed); }

void cnn_watchdog_stop(void)
{
    if (!running) return;
    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = 0;
}

void cnn_watchdog_set_clock(int64_t (*clock_ns)(void))
{
    CNN_ASSERT(!running);
    now_ns = clock_ns ? clock_ns : mono_ns;
}

void cnn_watchdog_check(void)
{
    if (running) look();
}
