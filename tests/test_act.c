/* act: forward values by formula, NaN through relu, in-place use, and central-difference gradients
 * of each activation (backward is computed from the output y; relu inputs stay away from the kink). GELU
 * (own erf-free Phi, backward from x): a dense sweep against the double-precision formula and derivative,
 * its limits, infinities and NaN, central differences, in place, the same bits on every instruction set. */
#include "testutil.h"

#include <float.h>

#include "cnn/nn/layers.h"

static void test_forward_values(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        const float x[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};
        float y[5];
        tu_poison(y, 5);
        k->act_forward(y, x, 5, CNN_ACT_RELU);
        const float relu[5] = {0, 0, 0, 0.5f, 3.0f};
        for (int i = 0; i < 5; i++) assert_true(y[i] == relu[i]);
        tu_poison(y, 5);
        k->act_forward(y, x, 5, CNN_ACT_TANH);
        for (int i = 0; i < 5; i++) tu_assert_close(y[i], tanh((double)x[i]), 1e-7, 1e-6, "tanh", (size_t)i);
        tu_poison(y, 5);
        k->act_forward(y, x, 5, CNN_ACT_SIGMOID);
        for (int i = 0; i < 5; i++)
            tu_assert_close(y[i], 1.0 / (1.0 + exp(-(double)x[i])), 1e-7, 1e-6, "sigmoid", (size_t)i);
        tu_poison(y, 5);
        k->act_forward(y, x, 5, CNN_ACT_LINEAR);
        for (int i = 0; i < 5; i++) assert_true(y[i] == x[i]);
        /* in place, and a NaN stays a NaN through relu */
        float z[3] = {-1.0f, NAN, 2.0f};
        k->act_forward(z, z, 3, CNN_ACT_RELU);
        assert_true(z[0] == 0.0f && isnan(z[1]) && z[2] == 2.0f);
        /* large inputs saturate without overflow */
        const float big[2] = {-100.0f, 100.0f};
        k->act_forward(y, big, 2, CNN_ACT_SIGMOID);
        assert_true(y[0] >= 0.0f && y[0] < 1e-30f && y[1] == 1.0f);
    }
}

typedef struct {
    const CnnKernels *k;
    float *x, *y, *r;
    size_t n;
    CnnActivation act;
} Ctx;

static double act_loss(void *p)
{
    Ctx *g = p;
    g->k->act_forward(g->y, g->x, g->n, g->act);
    return tu_dot(g->y, g->r, g->n);
}

static void test_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        const CnnActivation acts[4] = {CNN_ACT_LINEAR, CNN_ACT_RELU, CNN_ACT_TANH, CNN_ACT_SIGMOID};
        const char *names[4] = {"linear dx", "relu dx", "tanh dx", "sigmoid dx"};
        for (int a = 0; a < 4; a++) {
            Ctx g = {.k = k, .n = 500, .act = acts[a]};
            g.x = malloc(g.n * 4), g.y = malloc(g.n * 4), g.r = malloc(g.n * 4);
            float *dx = malloc(g.n * 4);
            tu_fill_uniform(g.x, g.n, -3, 3, 10 + (uint64_t)a);
            /* keep relu inputs at least 0.05 from the kink (eps is 1e-3) */
            for (size_t i = 0; i < g.n; i++)
                if (fabsf(g.x[i]) < 0.05f) g.x[i] = g.x[i] < 0 ? -0.05f - g.x[i] : 0.05f + g.x[i];
            tu_fill_uniform(g.r, g.n, -1, 1, 20 + (uint64_t)a);
            act_loss(&g);
            tu_poison(dx, g.n);
            k->act_backward(dx, g.r, g.y, g.n, g.act);
            tu_assert_finite(dx, g.n, names[a]);
            tu_gradcheck(act_loss, &g, g.x, dx, g.n, 500, 1e-3f, 1e-3, 2e-3, names[a]);
            /* backward in place (dx aliases dy) gives the same; y again at the unperturbed x first */
            act_loss(&g);
            float *d2 = malloc(g.n * 4);
            memcpy(d2, g.r, g.n * 4);
            k->act_backward(d2, d2, g.y, g.n, g.act);
            assert_memory_equal(d2, dx, g.n * 4);
            free(g.x), free(g.y), free(g.r), free(dx), free(d2);
        }
    }
}

/* GELU and its derivative in double: x Phi(x) and Phi(x) + x phi(x), Phi by erfc (accurate in both tails). */
static double gelu_ref(double x) { return x * 0.5 * erfc(-x / sqrt(2.0)); }
static double gelu_deriv_ref(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
}

/* 2,000,001 points evenly over [-10, 10]: |error| <= 1e-6 max(1, |x|) for y and dy/dx (act.c states what
 * it measured: 1.2e-7 and 2.5e-7), and the same bits on every instruction set. */
static void test_gelu_dense(void **state)
{
    (void)state;
    const size_t n = 2000001;
    float *x = malloc(n * 4), *ones = malloc(n * 4), *y[CNN_ISA_COUNT], *d[CNN_ISA_COUNT];
    for (size_t i = 0; i < n; i++) x[i] = (float)(-10.0 + 20.0 * (double)i / (double)(n - 1)), ones[i] = 1.0f;
    TU_FOR_EACH_ISA(isa, k) {
        y[isa] = malloc(n * 4), d[isa] = malloc(n * 4);
        tu_poison(y[isa], n), tu_poison(d[isa], n);
        k->act_forward(y[isa], x, n, CNN_ACT_GELU);
        k->gelu_backward(d[isa], ones, x, n);
        double ey = 0, ed = 0;
        size_t iy = 0, id = 0;
        for (size_t i = 0; i < n; i++) {
            const double v = (double)x[i], s = fabs(v) > 1.0 ? fabs(v) : 1.0;
            const double e1 = fabs((double)y[isa][i] - gelu_ref(v)) / s;
            const double e2 = fabs((double)d[isa][i] - gelu_deriv_ref(v)) / s;
            if (!(e1 <= ey)) ey = e1, iy = i; /* a NaN is kept as the worst */
            if (!(e2 <= ed)) ed = e2, id = i;
        }
        if (!(ey <= 1e-6)) fail_msg("gelu(%.9g) = %.9g, want %.9g", (double)x[iy], (double)y[isa][iy], gelu_ref(x[iy]));
        if (!(ed <= 1e-6))
            fail_msg("gelu'(%.9g) = %.9g, want %.9g", (double)x[id], (double)d[isa][id], gelu_deriv_ref(x[id]));
        if (isa == tu_isa_max())
            print_message("gelu max error / max(1,|x|): y %.2g at x = %.4g, dy/dx %.2g at x = %.4g\n", ey,
                          (double)x[iy], ed, (double)x[id]);
        if (isa != CNN_ISA_GENERIC) {
            assert_memory_equal(y[CNN_ISA_GENERIC], y[isa], n * 4);
            assert_memory_equal(d[CNN_ISA_GENERIC], d[isa], n * 4);
        }
    }
    for (CnnIsa isa = CNN_ISA_GENERIC; isa <= tu_isa_max(); isa = (CnnIsa)(isa + 1)) free(y[isa]), free(d[isa]);
    free(x), free(ones);
}

/* The limits: y -> -0 below, y = x above, derivative 0 and 1; +-inf, NaN, zeros, the largest floats, a
 * subnormal, and both sides of the cut-off at |x| = 12 where the formula hands over to the limits. */
static void test_gelu_special(void **state)
{
    (void)state;
    enum { N = 17 };
    const float x[N] = {-INFINITY, INFINITY, NAN, -0.0f, 0.0f, -FLT_MAX, FLT_MAX, -1e30f, 1e30f,
                        -12.0f, 12.0f, -11.99f, 11.99f, -30.0f, 30.0f, 1e-40f, -6.0f};
    TU_FOR_EACH_ISA(isa, k) {
        float y[N], d[N], ones[N];
        for (int i = 0; i < N; i++) ones[i] = 1.0f;
        tu_poison(y, N), tu_poison(d, N);
        k->act_forward(y, x, N, CNN_ACT_GELU);
        k->gelu_backward(d, ones, x, N);
        for (int i = 0; i < N; i++) {
            const float v = x[i];
            if (isnan(v)) {
                assert_true(isnan(y[i]) && isnan(d[i]));
            } else if (v <= -12.0f) {
                assert_true(y[i] == 0.0f && signbit(y[i])); /* -0: the product of x < 0 and Phi = +0 */
                assert_true(d[i] == 0.0f);
            } else if (v >= 12.0f) {
                assert_true(y[i] == v && d[i] == 1.0f);
            } else {
                tu_assert_close(y[i], gelu_ref(v), 1e-30, 1e-6, "gelu", (size_t)i);
                tu_assert_close(d[i], gelu_deriv_ref(v), 1e-30, 1e-6, "gelu'", (size_t)i);
            }
        }
        assert_true(y[3] == 0.0f && signbit(y[3]) && y[4] == 0.0f && !signbit(y[4]));
        assert_true(d[3] == 0.5f && d[4] == 0.5f);
        assert_true(y[11] < 0.0f && y[11] > -1e-30f); /* x = -11.99: tiny, not yet flushed */
        assert_true(y[12] == 11.99f);
        /* a NaN dy propagates, and an infinite x with a zero dy gives a zero (no inf * 0) */
        const float dy2[2] = {NAN, 0.0f}, x2[2] = {1.0f, INFINITY};
        float d2[2];
        k->gelu_backward(d2, dy2, x2, 2);
        assert_true(isnan(d2[0]) && d2[1] == 0.0f);
    }
}

typedef struct {
    const CnnKernels *k;
    float *x, *y, *r;
    size_t n;
} GeluCtx;

static double gelu_loss(void *p)
{
    GeluCtx *g = p;
    g->k->act_forward(g->y, g->x, g->n, CNN_ACT_GELU);
    return tu_dot(g->y, g->r, g->n);
}

/* gelu_backward against central differences of the float forward, and in place (dx over dy, y over x). */
static void test_gelu_gradcheck(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, k) {
        GeluCtx g = {.k = k, .n = 501};
        g.x = malloc(g.n * 4), g.y = malloc(g.n * 4), g.r = malloc(g.n * 4);
        float *dx = malloc(g.n * 4), *d2 = malloc(g.n * 4);
        tu_fill_uniform(g.x, g.n, -5, 5, 31);
        tu_fill_uniform(g.r, g.n, -1, 1, 32);
        tu_poison(dx, g.n);
        k->gelu_backward(dx, g.r, g.x, g.n);
        tu_assert_finite(dx, g.n, "gelu dx");
        tu_gradcheck(gelu_loss, &g, g.x, dx, g.n, 501, 1e-3f, 3e-4, 1e-3, "gelu dx");
        memcpy(d2, g.r, g.n * 4);
        k->gelu_backward(d2, d2, g.x, g.n);
        assert_memory_equal(d2, dx, g.n * 4);
        k->act_forward(g.y, g.x, g.n, CNN_ACT_GELU);
        memcpy(d2, g.x, g.n * 4);
        k->act_forward(d2, d2, g.n, CNN_ACT_GELU);
        assert_memory_equal(d2, g.y, g.n * 4);
        free(g.x), free(g.y), free(g.r), free(dx), free(d2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_values),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gelu_dense),
        cmocka_unit_test(test_gelu_special),
        cmocka_unit_test(test_gelu_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
