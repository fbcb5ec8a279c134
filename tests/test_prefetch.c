/* prefetch: steps arrive in order with their own content for several ring depths, the producer fills
 * exactly as far ahead as the ring allows (`depth` steps) and never past `last`, it runs with
 * flush-to-zero, stop returns while the producer is blocked on a full ring, and the wait time is
 * measured. Nothing here sleeps: the test waits for states through prefetch's test hooks
 * (cnn_prefetch_wait_producer_parked, cnn_prefetch_wait_consumer_blocked), so the outcome is the same
 * on a machine of any speed or load. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "cnn/data/prefetch.h"
#include "cnn/util.h"

#define XN 37
#define YN 5

typedef struct {
    atomic_long fills;          /* fill calls completed */
    atomic_long max_ahead;      /* largest (step filled) - (steps released) seen */
    atomic_long released;
    atomic_int ftz_ok;
    long first;
    /* hold_first: the fill of step `first` returns only once take waits for it; it learns the ring
     * (p) from the test through mu and cv, since it may start before cnn_prefetch_start returns */
    int hold_first;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CnnPrefetch *p;
} Ctx;

static void fill(void *vctx, long step, float *x, int *y)
{
    Ctx *c = vctx;
    if (step == c->first && c->hold_first) {
        pthread_mutex_lock(&c->mu);
        while (!c->p) pthread_cond_wait(&c->cv, &c->mu);
        pthread_mutex_unlock(&c->mu);
        cnn_prefetch_wait_consumer_blocked(c->p);
    }
    for (int i = 0; i < XN; i++) x[i] = (float)(step * 100 + i);
    for (int i = 0; i < YN; i++) y[i] = (int)(step * 10 + i);
    if (!cnn_ftz_daz_enabled()) atomic_store(&c->ftz_ok, 0);
    long ahead = step - c->first - atomic_load(&c->released);
    if (ahead > atomic_load(&c->max_ahead)) atomic_store(&c->max_ahead, ahead);
    atomic_fetch_add(&c->fills, 1);
}

static void init_ctx(Ctx *c, long first)
{
    atomic_init(&c->fills, 0);
    atomic_init(&c->max_ahead, 0);
    atomic_init(&c->released, 0);
    atomic_init(&c->ftz_ok, 1);
    c->first = first;
    c->hold_first = 0;
    c->p = NULL;
}

static void test_in_order(void **state)
{
    (void)state;
    const int depths[] = {1, 2, 4};
    for (int d = 0; d < 3; d++) {
        Ctx c;
        init_ctx(&c, 5);
        CnnPrefetch *p = cnn_prefetch_start(depths[d], XN, YN, fill, &c, 5, 40);
        for (long step = 5; step < 40; step++) {
            const float *x;
            const int *y;
            double w = -1;
            cnn_prefetch_take(p, step, &x, &y, &w);
            assert_true(w >= 0.0);
            for (int i = 0; i < XN; i++) assert_true(x[i] == (float)(step * 100 + i));
            for (int i = 0; i < YN; i++) assert_int_equal(y[i], step * 10 + i);
            if (step % 7 == 0) {
                /* let the producer run ahead as far as it may: `released` slots came back, so it
                 * fills steps up to first + released + depth - 1 (or all of them), then waits */
                cnn_prefetch_wait_producer_parked(p);
                const long released = step - 5, want = released + depths[d] < 35 ? released + depths[d] : 35;
                assert_int_equal(atomic_load(&c.fills), want);
            }
            atomic_fetch_add(&c.released, 1);
            cnn_prefetch_release(p);
        }
        cnn_prefetch_stop(p);
        assert_int_equal(atomic_load(&c.fills), 35);
        /* step k is filled only once k - first < released + depth, and it ran that far ahead (above) */
        assert_int_equal(atomic_load(&c.max_ahead), depths[d] - 1);
        assert_int_equal(atomic_load(&c.ftz_ok), 1);
    }
}

static void test_stop_while_blocked(void **state)
{
    (void)state;
    Ctx c;
    init_ctx(&c, 0);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 0, 1000000);
    /* the ring is full and the producer blocked on `space`, having filled exactly the two slots */
    cnn_prefetch_wait_producer_parked(p);
    assert_int_equal(atomic_load(&c.fills), 2);
    cnn_prefetch_stop(p); /* returns although the producer was blocked (a hang fails the suite) */
    assert_int_equal(atomic_load(&c.fills), 2);

    /* stop after taking some, with one slot still held (not released) */
    init_ctx(&c, 0);
    p = cnn_prefetch_start(3, XN, YN, fill, &c, 0, 1000000);
    const float *x;
    const int *y;
    for (long s = 0; s < 10; s++) {
        cnn_prefetch_take(p, s, &x, &y, NULL);
        assert_int_equal(y[0], s * 10);
        if (s < 9) cnn_prefetch_release(p);
    }
    /* 9 slots came back: steps 0 .. 9 + 3 - 1 are filled, and no more */
    cnn_prefetch_wait_producer_parked(p);
    assert_int_equal(atomic_load(&c.fills), 9 + 3);
    cnn_prefetch_stop(p);
    assert_int_equal(atomic_load(&c.fills), 9 + 3);
}

static void test_wait_time(void **state)
{
    (void)state;
    /* The first batch cannot be ready when take is called: its fill returns only once take waits for
     * it. So take must report a wait, no longer than the call took. */
    Ctx c;
    init_ctx(&c, 0);
    c.hold_first = 1;
    assert_int_equal(pthread_mutex_init(&c.mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&c.cv, NULL), 0);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 0, 3);
    pthread_mutex_lock(&c.mu);
    c.p = p;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    const float *x;
    const int *y;
    double w = -1;
    const double t_call = cnn_now();
    cnn_prefetch_take(p, 0, &x, &y, &w);
    const double took = cnn_now() - t_call;
    assert_true(w > 0.0 && w <= took);
    assert_true(x[1] == 1.0f);
    cnn_prefetch_release(p);
    /* once the ring holds the next batches (the producer has filled all three and ended), taking them
     * does not wait at all */
    cnn_prefetch_wait_producer_parked(p);
    assert_int_equal(atomic_load(&c.fills), 3);
    cnn_prefetch_take(p, 1, &x, &y, &w);
    assert_true(w == 0.0);
    assert_int_equal(y[4], 14);
    cnn_prefetch_release(p);
    cnn_prefetch_take(p, 2, &x, &y, &w);
    assert_true(w == 0.0);
    cnn_prefetch_release(p);
    cnn_prefetch_stop(p);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
}

static void test_empty_range(void **state)
{
    (void)state;
    Ctx c;
    init_ctx(&c, 3);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 3, 3);
    cnn_prefetch_stop(p);
    assert_int_equal(atomic_load(&c.fills), 0);
}

int main(void)
{
    /* the waits above have no time limit: should one never end (a bug), SIGALRM ends the test with a
     * failure instead of leaving CI hanging; a bound against hangs only (the test takes milliseconds) */
    alarm(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_stop_while_blocked),
        cmocka_unit_test(test_wait_time),
        cmocka_unit_test(test_empty_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
