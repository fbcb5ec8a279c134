/* act: forward values by formula, NaN through relu, in-place use, and central-difference gradients
 * of each activation (backward is computed from the output y; relu inputs stay away from the kink). */
#include "testutil.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_values),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
