/* prefetch: steps arrive in order with their own content for several ring depths, the producer never
 * runs more than `depth` steps ahead nor past `last`, it runs with flush-to-zero, stop returns while
 * the producer is blocked on a full ring, and the wait time is measured. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

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
    atomic_int gate;            /* 0: the fill of step `first` waits until the test opens it */
    long first;
    int sleep_ms;
} Ctx;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void fill(void *vctx, long step, float *x, int *y)
{
    Ctx *c = vctx;
    if (c->sleep_ms) sleep_ms(c->sleep_ms);
    while (step == c->first && !atomic_load(&c->gate)) sleep_ms(1);
    for (int i = 0; i < XN; i++) x[i] = (float)(step * 100 + i);
    for (int i = 0; i < YN; i++) y[i] = (int)(step * 10 + i);
    if (!cnn_ftz_daz_enabled()) atomic_store(&c->ftz_ok, 0);
    long ahead = step - c->first - atomic_load(&c->released);
    if (ahead > atomic_load(&c->max_ahead)) atomic_store(&c->max_ahead, ahead);
    atomic_fetch_add(&c->fills, 1);
}

static void init_ctx(Ctx *c, long first, int ms)
{
    atomic_init(&c->fills, 0);
    atomic_init(&c->max_ahead, 0);
    atomic_init(&c->released, 0);
    atomic_init(&c->ftz_ok, 1);
    atomic_init(&c->gate, 1);
    c->first = first;
    c->sleep_ms = ms;
}

static void test_in_order(void **state)
{
    (void)state;
    const int depths[] = {1, 2, 4};
    for (int d = 0; d < 3; d++) {
        Ctx c;
        init_ctx(&c, 5, 0);
        CnnPrefetch *p = cnn_prefetch_start(depths[d], XN, YN, fill, &c, 5, 40);
        for (long step = 5; step < 40; step++) {
            const float *x;
            const int *y;
            double w = -1;
            cnn_prefetch_take(p, step, &x, &y, &w);
            assert_true(w >= 0.0);
            for (int i = 0; i < XN; i++) assert_true(x[i] == (float)(step * 100 + i));
            for (int i = 0; i < YN; i++) assert_int_equal(y[i], step * 10 + i);
            if (step % 7 == 0) sleep_ms(1); /* let the producer run ahead sometimes */
            atomic_fetch_add(&c.released, 1);
            cnn_prefetch_release(p);
        }
        cnn_prefetch_stop(p);
        assert_int_equal(atomic_load(&c.fills), 35);
        /* step k is filled only once k - first < released + depth */
        assert_true(atomic_load(&c.max_ahead) < depths[d]);
        assert_int_equal(atomic_load(&c.ftz_ok), 1);
    }
}

static void test_stop_while_blocked(void **state)
{
    (void)state;
    Ctx c;
    init_ctx(&c, 0, 0);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 0, 1000000);
    /* wait until the ring is full: the producer is now blocked on `space` */
    for (int i = 0; i < 2000 && atomic_load(&c.fills) < 2; i++) sleep_ms(1);
    sleep_ms(20);
    assert_int_equal(atomic_load(&c.fills), 2);
    cnn_prefetch_stop(p); /* returns although the producer was blocked (a hang fails the suite) */

    /* stop after taking some, with one slot still held (not released) */
    init_ctx(&c, 0, 0);
    p = cnn_prefetch_start(3, XN, YN, fill, &c, 0, 1000000);
    const float *x;
    const int *y;
    for (long s = 0; s < 10; s++) {
        cnn_prefetch_take(p, s, &x, &y, NULL);
        assert_int_equal(y[0], s * 10);
        if (s < 9) cnn_prefetch_release(p);
    }
    cnn_prefetch_stop(p);
    assert_true(atomic_load(&c.fills) <= 9 + 3);
}

static void *open_gate(void *vctx)
{
    Ctx *c = vctx;
    sleep_ms(5);
    atomic_store(&c->gate, 1);
    return NULL;
}

static void test_wait_time(void **state)
{
    (void)state;
    /* The first batch cannot be ready when take is called: its fill waits for a gate that a thread opens
     * only after that moment. So take must report a wait, no longer than the call took. */
    Ctx c;
    init_ctx(&c, 0, 0);
    atomic_store(&c.gate, 0);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 0, 3);
    const float *x;
    const int *y;
    double w = -1;
    const double t_call = cnn_now();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, open_gate, &c), 0);
    cnn_prefetch_take(p, 0, &x, &y, &w);
    const double took = cnn_now() - t_call;
    pthread_join(th, NULL);
    assert_true(w > 0.0 && w <= took);
    assert_true(x[1] == 1.0f);
    cnn_prefetch_release(p);
    /* once the ring holds the next batches, taking them does not wait at all */
    for (int i = 0; i < 20000 && atomic_load(&c.fills) < 3; i++) sleep_ms(1); /* a bound, not a timing */
    assert_true(atomic_load(&c.fills) >= 3);
    cnn_prefetch_take(p, 1, &x, &y, &w);
    assert_true(w == 0.0);
    assert_int_equal(y[4], 14);
    cnn_prefetch_release(p);
    cnn_prefetch_take(p, 2, &x, &y, &w);
    assert_true(w == 0.0);
    cnn_prefetch_release(p);
    cnn_prefetch_stop(p);
}

static void test_empty_range(void **state)
{
    (void)state;
    Ctx c;
    init_ctx(&c, 3, 0);
    CnnPrefetch *p = cnn_prefetch_start(2, XN, YN, fill, &c, 3, 3);
    cnn_prefetch_stop(p);
    assert_int_equal(atomic_load(&c.fills), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_stop_while_blocked),
        cmocka_unit_test(test_wait_time),
        cmocka_unit_test(test_empty_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
