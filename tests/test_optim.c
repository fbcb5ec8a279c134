/* optim: Adam, SGD-momentum and Nesterov steps against the formulas of optim.h evaluated in double, the
 * update loops bitwise the same on every instruction set, every schedule against its formula
 * (staircase, cosine past its end, piecewise, warm-up), slots for checkpoints. */
#include "testutil.h"

#include "cnn/nn/optim.h"

static void base_cfg(CnnConfig *c)
{
    memset(c, 0, sizeof *c);
    c->optimizer = CNN_OPT_ADAM;
    c->lr = 0.01;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->epsilon = 1e-8;
    c->momentum = 0.9;
    c->lr_schedule = CNN_LR_CONSTANT;
}

#define N 7

static void test_adam_three_steps(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        c.beta1 = 0.8; /* not the defaults, so a swapped beta shows */
        c.beta2 = 0.95;
        c.epsilon = 1e-3; /* large, so the epsilon term matters */
        float p[N] = {0.5f, -1.25f, 2.0f, 0.0f, 3.5f, -0.75f, 1e-3f};
        /* gradients per step; element 3 sees a zero gradient at step 2, element 6 flips sign */
        const float g[3][N] = {{0.1f, -0.2f, 1.5f, 0.3f, -2.0f, 0.05f, 1.0f},
                               {0.2f, -0.1f, 1.0f, 0.0f, -1.0f, 0.15f, -1.0f},
                               {-0.3f, 0.4f, 0.5f, 0.2f, 0.5f, 0.25f, 2.0f}};
        const double lrs[3] = {0.01, 0.02, 0.005}; /* the lr may change between steps */
        double rp[N], rm[N] = {0}, rv[N] = {0};
        for (int i = 0; i < N; i++) rp[i] = p[i];

        CnnOptim o;
        cnn_optim_init(&o, &c, N, k);
        assert_int_equal(o.t, 0);
        for (int i = 0; i < N; i++) assert_true(o.m[i] == 0.0f && o.v[i] == 0.0f);
        for (int s = 0; s < 3; s++) {
            cnn_optim_step(&o, p, g[s], lrs[s]);
            int t = s + 1;
            double lr_t = lrs[s] * sqrt(1.0 - pow(0.95, t)) / (1.0 - pow(0.8, t));
            for (int i = 0; i < N; i++) {
                double gi = (double)g[s][i];
                rm[i] = 0.8 * rm[i] + 0.2 * gi;
                rv[i] = 0.95 * rv[i] + 0.05 * gi * gi;
                rp[i] -= lr_t * rm[i] / (sqrt(rv[i]) + 1e-3);
            }
            assert_int_equal(o.t, t);
            /* Step 1 by hand for element 0: lr_1 = 0.01*sqrt(0.05)/0.2, m = 0.02, v = 0.0005,
             * p = 0.5 - lr_1*0.02/(sqrt(0.0005) + 1e-3) = 0.49042807 */
            if (t == 1) tu_assert_close(p[0], 0.4904280697, 1e-7, 0, "adam by hand", 0);
            for (int i = 0; i < N; i++) {
                tu_assert_close(o.m[i], rm[i], 1e-7, 1e-5, "adam m", (size_t)i);
                tu_assert_close(o.v[i], rv[i], 1e-9, 1e-5, "adam v", (size_t)i);
                tu_assert_close(p[i], rp[i], 1e-7, 1e-5, "adam p", (size_t)i);
            }
        }
        cnn_optim_free(&o);
        assert_null(o.m);
        assert_null(o.v);
    }
}

static void test_sgd_momentum_three_steps(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        c.optimizer = CNN_OPT_SGD;
        c.momentum = 0.5;
        float p[3] = {1.0f, -2.0f, 0.25f};
        const float g[3][3] = {{1.0f, 2.0f, -4.0f}, {1.0f, -2.0f, 0.0f}, {0.5f, 0.0f, 8.0f}};
        CnnOptim o;
        cnn_optim_init(&o, &c, 3, k);
        assert_null(o.v);
        /* By hand with lr 0.1, momentum 0.5:
         *   a1 = g1 = (1, 2, -4)                 p1 = (0.9, -2.2, 0.65)
         *   a2 = 0.5 a1 + g2 = (1.5, -1, -2)     p2 = (0.75, -2.1, 0.85)
         *   a3 = 0.5 a2 + g3 = (1.25, -0.5, 7)   p3 = (0.625, -2.05, 0.15) */
        const double want_a[3][3] = {{1, 2, -4}, {1.5, -1, -2}, {1.25, -0.5, 7}};
        const double want_p[3][3] = {{0.9, -2.2, 0.65}, {0.75, -2.1, 0.85}, {0.625, -2.05, 0.15}};
        for (int s = 0; s < 3; s++) {
            cnn_optim_step(&o, p, g[s], 0.1);
            for (int i = 0; i < 3; i++) {
                tu_assert_close(o.m[i], want_a[s][i], 1e-6, 1e-6, "sgd accum", (size_t)i);
                tu_assert_close(p[i], want_p[s][i], 1e-6, 1e-6, "sgd p", (size_t)i);
            }
        }
        assert_int_equal(o.t, 3);
        cnn_optim_free(&o);
    }
}

/* Many elements: the vector loop and its remainder agree with the scalar formula everywhere. */
static void test_adam_long_array(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        const size_t n = 1003;
        float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
        assert_non_null(p);
        assert_non_null(g);
        tu_fill_uniform(p, n, -1.0f, 1.0f, 5);
        tu_fill_uniform(g, n, -3.0f, 3.0f, 6);
        double *ref = malloc(n * sizeof *ref);
        assert_non_null(ref);
        for (size_t i = 0; i < n; i++) ref[i] = p[i];
        CnnOptim o;
        cnn_optim_init(&o, &c, n, k);
        cnn_optim_step(&o, p, g, 0.01);
        double lr_t = 0.01 * sqrt(1.0 - 0.999) / (1.0 - 0.9);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i], m = 0.1 * gi, v = 0.001 * gi * gi;
            tu_assert_close(p[i], ref[i] - lr_t * m / (sqrt(v) + 1e-8), 1e-6, 1e-5, "adam long", i);
        }
        cnn_optim_free(&o);
        free(ref);
        free(p);
        free(g);
    }
}

/* Nesterov (train.nesterov): a = m*a + g; p -= lr*(g + m*a), by hand with lr 0.1, momentum 0.5:
 *   a1 = g1 = (1, 2)                      step (1, 2) + 0.5 a1 = (1.5, 3)        p1 = (0.85, -2.3)
 *   a2 = 0.5 a1 + g2 = (1.5, -1)          step (1, -2) + 0.5 a2 = (1.75, -2.5)   p2 = (0.675, -2.05)
 *   a3 = 0.5 a2 + g3 = (1.25, -0.5)       step (0.5, 0) + 0.5 a3 = (1.125, -0.25) p3 = (0.5625, -2.025)
 * (plain momentum would give p1 = (0.9, -2.2): the look-ahead shows from the first step). */
static void test_sgd_nesterov_three_steps(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        c.optimizer = CNN_OPT_SGD;
        c.momentum = 0.5;
        c.nesterov = 1;
        float p[2] = {1.0f, -2.0f};
        const float g[3][2] = {{1.0f, 2.0f}, {1.0f, -2.0f}, {0.5f, 0.0f}};
        const double want_a[3][2] = {{1, 2}, {1.5, -1}, {1.25, -0.5}};
        const double want_p[3][2] = {{0.85, -2.3}, {0.675, -2.05}, {0.5625, -2.025}};
        CnnOptim o;
        cnn_optim_init(&o, &c, 2, k);
        assert_null(o.v);
        for (int s = 0; s < 3; s++) {
            cnn_optim_step(&o, p, g[s], 0.1);
            for (int i = 0; i < 2; i++) {
                tu_assert_close(o.m[i], want_a[s][i], 1e-6, 1e-6, "nesterov accum", (size_t)i);
                tu_assert_close(p[i], want_p[s][i], 1e-6, 1e-6, "nesterov p", (size_t)i);
            }
        }
        /* the same slot as plain momentum, so checkpoints hold it the same way */
        const char *names[2] = {0};
        float *arrays[2] = {0};
        assert_int_equal(cnn_optim_slots(&o, names, arrays), 1);
        assert_string_equal(names[0], "momentum");
        cnn_optim_free(&o);
    }
}

/* The optimizer updates give the same bits on every instruction set: vectors of 4, 8 or 16 lanes and
 * the tails run the same float operations per element. n = 1003 leaves a tail on every width. */
static void test_updates_bitwise_across_instruction_sets(void **state)
{
    (void)state;
    const size_t n = 1003;
    float *g = malloc(3 * n * sizeof *g), *p0 = malloc(n * sizeof *p0), *p[2], *a[2], *v[2];
    assert_non_null(g);
    assert_non_null(p0);
    for (int i = 0; i < 2; i++) {
        p[i] = malloc(n * sizeof(float)), a[i] = malloc(n * sizeof(float)), v[i] = malloc(n * sizeof(float));
        assert_non_null(p[i]);
        assert_non_null(a[i]);
        assert_non_null(v[i]);
    }
    tu_fill_uniform(p0, n, -1.0f, 1.0f, 31);
    tu_fill_uniform(g, 3 * n, -3.0f, 3.0f, 32);
    for (int kind = 0; kind < 3; kind++) { /* adam, momentum, nesterov */
        TU_FOR_EACH_ISA(isa, k) {
            const int i = isa == CNN_ISA_GENERIC ? 0 : 1;
            memcpy(p[i], p0, n * sizeof(float));
            memset(a[i], 0, n * sizeof(float));
            memset(v[i], 0, n * sizeof(float));
            for (int s = 0; s < 3; s++) {
                const float *gs = g + (size_t)s * n;
                if (kind == 0) k->adam_update(p[i], a[i], v[i], gs, n, 0.9f, 0.999f, 0.01f, 1e-8f);
                else if (kind == 1) k->momentum_update(p[i], a[i], gs, n, 0.9f, 0.05f);
                else k->nesterov_update(p[i], a[i], gs, n, 0.9f, 0.05f);
            }
            if (i) {
                assert_memory_equal(p[0], p[1], n * sizeof(float));
                assert_memory_equal(a[0], a[1], n * sizeof(float));
                assert_memory_equal(v[0], v[1], n * sizeof(float));
            }
        }
    }
    /* nesterov differs from plain momentum (the two table entries are not the same loop) */
    const CnnKernels *k = cnn_kernels(tu_isa_max());
    memcpy(p[0], p0, n * sizeof(float));
    memcpy(p[1], p0, n * sizeof(float));
    memset(a[0], 0, n * sizeof(float));
    memset(a[1], 0, n * sizeof(float));
    k->momentum_update(p[0], a[0], g, n, 0.9f, 0.05f);
    k->nesterov_update(p[1], a[1], g, n, 0.9f, 0.05f);
    assert_memory_equal(a[0], a[1], n * sizeof(float));
    assert_memory_not_equal(p[0], p[1], n * sizeof(float));
    for (int i = 0; i < 2; i++) free(p[i]), free(a[i]), free(v[i]);
    free(g);
    free(p0);
}

static void test_slots(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        const char *names[2] = {0};
        float *arrays[2] = {0};
        CnnOptim o;
        cnn_optim_init(&o, &c, 5, k);
        assert_string_equal(cnn_optim_name(&o), "adam");
        assert_int_equal(cnn_optim_slots(&o, names, arrays), 2);
        assert_string_equal(names[0], "m");
        assert_string_equal(names[1], "v");
        assert_ptr_equal(arrays[0], o.m);
        assert_ptr_equal(arrays[1], o.v);
        /* Restoring through the slot pointers is what a resumed run does; the next step uses it. */
        for (int i = 0; i < 5; i++) arrays[0][i] = 1.0f, arrays[1][i] = 4.0f;
        o.t = 1;
        float p[5] = {0}, g[5] = {0};
        cnn_optim_step(&o, p, g, 0.1);
        /* m = 0.9, v = 3.996, t = 2: p = -lr_t * 0.9 / (sqrt(3.996) + 1e-8) */
        double lr_t = 0.1 * sqrt(1.0 - 0.999 * 0.999) / (1.0 - 0.81);
        tu_assert_close(p[0], -lr_t * 0.9 / (sqrt(3.996) + 1e-8), 1e-7, 1e-5, "resumed adam", 0);
        cnn_optim_free(&o);

        c.optimizer = CNN_OPT_SGD;
        cnn_optim_init(&o, &c, 5, k);
        assert_string_equal(cnn_optim_name(&o), "sgd");
        assert_int_equal(cnn_optim_slots(&o, names, arrays), 1);
        assert_string_equal(names[0], "momentum");
        assert_ptr_equal(arrays[0], o.m);
        cnn_optim_free(&o);
    }
}

/* train.ema against the formula worked by hand: decay 0.9, so d = min(0.9, (1 + t) / (10 + t)) is
 * 2/11, 3/12, 4/13 for t = 1, 2, 3 (the ramp), and 0.9 from t = 80 on. */
static void test_ema(void **state)
{
    (void)state;
    float ema[2] = {1.0f, -2.0f};
    const float p1[2] = {3.0f, 0.0f}, p2[2] = {5.0f, 4.0f}, p3[2] = {5.0f, 4.0f};
    double e0 = 1.0, e1 = -2.0;
    const float *ps[3] = {p1, p2, p3};
    for (int t = 1; t <= 3; t++) {
        cnn_ema_update(ema, ps[t - 1], 2, 0.9, t);
        const double a = 1.0 - (1.0 + t) / (10.0 + t);
        e0 -= a * (e0 - (double)ps[t - 1][0]);
        e1 -= a * (e1 - (double)ps[t - 1][1]);
        assert_float_equal(ema[0], e0, 1e-6);
        assert_float_equal(ema[1], e1, 1e-6);
    }
    /* by hand: t=1: a = 9/11: 1 - 9/11*(1-3) = 2.636364; t=2: a = 9/12: 2.636364 - 0.75*(2.636364-5) = 4.409091 */
    float h[1] = {1.0f};
    const float q1[1] = {3.0f}, q2[1] = {5.0f};
    cnn_ema_update(h, q1, 1, 0.9, 1);
    assert_float_equal(h[0], 2.6363636f, 1e-6);
    cnn_ema_update(h, q2, 1, 0.9, 2);
    assert_float_equal(h[0], 4.4090909f, 1e-6);
    /* late in training the decay itself: 0.1 of the way */
    float late[1] = {0.0f};
    const float one[1] = {1.0f};
    cnn_ema_update(late, one, 1, 0.9, 1000);
    assert_float_equal(late[0], 0.1f, 1e-7);
    cnn_ema_update(late, one, 1, 0.9999, 100000);
    assert_float_equal(late[0], 0.1f + 0.9f * (1.0f - 0.9999f), 1e-7);
}

static void test_schedules(void **state)
{
    (void)state;
    CnnConfig c;
    base_cfg(&c);
    c.lr = 0.1;
    const long steps[] = {0, 1, 99, 100, 101, 250, 1000, 5000};
    for (int i = 0; i < 8; i++) assert_true(cnn_lr_at(&c, steps[i]) == 0.1);

    /* exponential, continuous: 0.1 * 0.5^(s/100) */
    c.lr_schedule = CNN_LR_EXPONENTIAL;
    c.decay_rate = 0.5;
    c.decay_steps = 100;
    tu_assert_close(cnn_lr_at(&c, 0), 0.1, 0, 1e-15, "exp", 0);
    tu_assert_close(cnn_lr_at(&c, 50), 0.1 / sqrt(2.0), 0, 1e-14, "exp", 50);
    tu_assert_close(cnn_lr_at(&c, 100), 0.05, 0, 1e-14, "exp", 100);
    tu_assert_close(cnn_lr_at(&c, 250), 0.1 * pow(0.5, 2.5), 0, 1e-14, "exp", 250);
    /* staircase: floor(s/100) */
    c.staircase = 1;
    tu_assert_close(cnn_lr_at(&c, 99), 0.1, 0, 1e-15, "stair", 99);
    tu_assert_close(cnn_lr_at(&c, 100), 0.05, 0, 1e-15, "stair", 100);
    tu_assert_close(cnn_lr_at(&c, 199), 0.05, 0, 1e-15, "stair", 199);
    tu_assert_close(cnn_lr_at(&c, 250), 0.025, 0, 1e-15, "stair", 250);
    /* the earlier cifar10-long recipe: 1e-3 * 0.1^floor(s/35000) */
    c.lr = 1e-3;
    c.decay_rate = 0.1;
    c.decay_steps = 35000;
    tu_assert_close(cnn_lr_at(&c, 34999), 1e-3, 0, 1e-15, "long", 34999);
    tu_assert_close(cnn_lr_at(&c, 35000), 1e-4, 0, 1e-14, "long", 35000);
    tu_assert_close(cnn_lr_at(&c, 70000), 1e-5, 0, 1e-14, "long", 70000);
    tu_assert_close(cnn_lr_at(&c, 99999), 1e-5, 0, 1e-14, "long", 99999);

    /* cosine with alpha 0.1 over 200 steps; constant at lr*alpha past the end */
    c.lr = 0.1;
    c.staircase = 0;
    c.lr_schedule = CNN_LR_COSINE;
    c.decay_rate = 0.1;
    c.decay_steps = 200;
    tu_assert_close(cnn_lr_at(&c, 0), 0.1, 0, 1e-15, "cos", 0);
    tu_assert_close(cnn_lr_at(&c, 100), 0.1 * (0.9 * 0.5 + 0.1), 0, 1e-14, "cos", 100); /* 0.055 */
    tu_assert_close(cnn_lr_at(&c, 50), 0.1 * (0.9 * 0.5 * (1 + sqrt(0.5)) + 0.1), 0, 1e-14, "cos", 50);
    tu_assert_close(cnn_lr_at(&c, 200), 0.01, 0, 1e-14, "cos", 200);
    tu_assert_close(cnn_lr_at(&c, 1000), 0.01, 0, 1e-14, "cos", 1000);
    /* the shipped cifar10-long: 0.01 on a cosine to 0 over 100k steps */
    CnnConfig longc = c;
    longc.lr = 0.01;
    longc.decay_rate = 0.0;
    longc.decay_steps = 100000;
    tu_assert_close(cnn_lr_at(&longc, 50000), 0.005, 0, 1e-14, "long cos", 50000);
    tu_assert_close(cnn_lr_at(&longc, 99000), 0.01 * 0.5 * (1 + cos(M_PI * 0.99)), 0, 1e-12, "long cos", 99000);
    tu_assert_close(cnn_lr_at(&longc, 100000), 0.0, 1e-20, 0, "long cos", 100000);

    /* warm-up of 10 steps in front of the cosine: linear to sched(0), then the schedule on s - 10 */
    c.warmup_steps = 10;
    tu_assert_close(cnn_lr_at(&c, 0), 0.01, 0, 1e-14, "warm", 0);
    tu_assert_close(cnn_lr_at(&c, 4), 0.05, 0, 1e-14, "warm", 4);
    tu_assert_close(cnn_lr_at(&c, 9), 0.1, 0, 1e-14, "warm", 9);
    tu_assert_close(cnn_lr_at(&c, 10), 0.1, 0, 1e-14, "warm", 10);
    tu_assert_close(cnn_lr_at(&c, 110), 0.055, 0, 1e-14, "warm", 110);
    tu_assert_close(cnn_lr_at(&c, 210), 0.01, 0, 1e-14, "warm", 210);
    /* warm-up on a constant rate */
    c.lr_schedule = CNN_LR_CONSTANT;
    c.warmup_steps = 4;
    tu_assert_close(cnn_lr_at(&c, 0), 0.025, 0, 1e-15, "warm const", 0);
    tu_assert_close(cnn_lr_at(&c, 2), 0.075, 0, 1e-15, "warm const", 2);
    tu_assert_close(cnn_lr_at(&c, 3), 0.1, 0, 1e-15, "warm const", 3);
    tu_assert_close(cnn_lr_at(&c, 500), 0.1, 0, 1e-15, "warm const", 500);

    /* piecewise (MultiStepLR): lr * decay_rate^(boundaries <= s): 0.1 before 100, 0.01 from 100,
     * 0.001 from 250 on */
    CnnConfig pw;
    base_cfg(&pw);
    pw.lr = 0.1;
    pw.lr_schedule = CNN_LR_PIECEWISE;
    pw.decay_rate = 0.1;
    pw.n_boundaries = 2;
    pw.boundaries[0] = 100;
    pw.boundaries[1] = 250;
    const long ps[] = {0, 1, 99, 100, 101, 249, 250, 251, 100000};
    const double pwant[] = {0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001};
    for (int i = 0; i < 9; i++) tu_assert_close(cnn_lr_at(&pw, ps[i]), pwant[i], 0, 1e-14, "piecewise", (size_t)ps[i]);
    /* the formula at every step of a longer stretch, with four boundaries and another factor */
    pw.decay_rate = 0.5;
    pw.n_boundaries = 4;
    pw.boundaries[2] = 251;
    pw.boundaries[3] = 400;
    for (long st = 0; st < 500; st++) {
        const int k = (st >= 100) + (st >= 250) + (st >= 251) + (st >= 400);
        tu_assert_close(cnn_lr_at(&pw, st), 0.1 * pow(0.5, k), 0, 1e-15, "piecewise formula", (size_t)st);
    }
    /* warm-up of 10 steps: linear to lr, then the boundaries count from the end of the warm-up (as the
     * other schedules' steps do) */
    pw.decay_rate = 0.1;
    pw.n_boundaries = 2;
    pw.warmup_steps = 10;
    const long ws[] = {0, 4, 9, 10, 109, 110, 259, 260, 5000};
    const double wwant[] = {0.01, 0.05, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001};
    for (int i = 0; i < 9; i++)
        tu_assert_close(cnn_lr_at(&pw, ws[i]), wwant[i], 0, 1e-14, "piecewise warm", (size_t)ws[i]);
}


/* lr_schedule = linear: airbench94's triangle over its 476 steps (knots 0, 0.23, 1 at steps 0, 109, 476;
 * values 0.2, 1, 0.07), by hand; flat outside the knots; warm-up shifts it as the others. */
static void test_linear_schedule(void **state)
{
    (void)state;
    CnnConfig c;
    base_cfg(&c);
    c.lr = 1.5;
    c.lr_schedule = CNN_LR_LINEAR;
    c.n_knots = c.n_knot_values = 3;
    const float knots[3] = {0.0f, 0.23f, 1.0f}, vals[3] = {0.2f, 1.0f, 0.07f};
    memcpy(c.knots, knots, sizeof knots);
    memcpy(c.knot_values, vals, sizeof vals);
    const long s[] = {0, 1, 54, 108, 109, 110, 300, 475, 476, 600};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        const double v0 = (double)vals[0], v1 = (double)vals[1], v2 = (double)vals[2];
        const double want = s[i] <= 109 ? v0 + (v1 - v0) * (double)s[i] / 109.0
                                        : s[i] >= 476 ? v2 : v1 + (v2 - v1) * (double)(s[i] - 109) / 367.0;
        tu_assert_close(cnn_lr_at_run(&c, s[i], 476), 1.5 * want, 0, 1e-14, "triangle", (size_t)s[i]);
    }
    /* knots that floor to one step: the later segment holds from there */
    tu_assert_close(cnn_lr_at_run(&c, 0, 4), 1.5 * 1.0, 0, 1e-14, "short run", 0); /* floor(0.23 * 4) = 0 */
    tu_assert_close(cnn_lr_at_run(&c, 2, 4), 1.5 * (1.0 + ((double)0.07f - 1.0) * 0.5), 0, 1e-7, "short run", 2);
}

/* cnn_optim_step_ranges: only the ranges move (parameters and slots); the others keep their bits; the
 * step count advances once. */
static void test_step_ranges(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        CnnConfig c;
        base_cfg(&c);
        c.optimizer = CNN_OPT_SGD;
        c.momentum = 0.5;
        c.nesterov = 1;
        float p[40], q[40], g[40];
        for (int i = 0; i < 40; i++) {
            p[i] = q[i] = 0.1f * (float)i;
            g[i] = 1.0f + 0.01f * (float)i;
        }
        CnnOptim a, b;
        cnn_optim_init(&a, &c, 40, k);
        cnn_optim_init(&b, &c, 40, k);
        const size_t ranges[4] = {3, 17, 25, 10}; /* [3, 20) and [25, 35) */
        cnn_optim_step_ranges(&a, p, g, 0.1, ranges, 2);
        cnn_optim_step(&b, q, g, 0.1);
        assert_int_equal(a.t, 1);
        for (int i = 0; i < 40; i++) {
            const int in = (i >= 3 && i < 20) || (i >= 25 && i < 35);
            if (in) {
                assert_true(p[i] == q[i] && a.m[i] == b.m[i]);
            } else {
                assert_true(p[i] == 0.1f * (float)i && a.m[i] == 0.0f);
            }
        }
        cnn_optim_free(&a);
        cnn_optim_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_three_steps),
        cmocka_unit_test(test_sgd_momentum_three_steps),
        cmocka_unit_test(test_sgd_nesterov_three_steps),
        cmocka_unit_test(test_updates_bitwise_across_instruction_sets),
        cmocka_unit_test(test_adam_long_array),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_ema),
        cmocka_unit_test(test_linear_schedule),
        cmocka_unit_test(test_step_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
