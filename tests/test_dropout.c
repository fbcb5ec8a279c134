/* dropout: a sample's mask depends on (seed, step, tag, global position) only, not on the batch it is
 * computed in; different steps, tags and seeds give different masks; the kept fraction is about keep;
 * kept values are x / keep; backward matches central differences with the mask fixed. */
#include "testutil.h"

#include "cnn/nn/layers.h"

enum { PER = 1000 };

static void test_mask_independent_of_batch(void **state)
{
    (void)state;
    float x[4 * PER], y[4 * PER], y1[PER];
    uint8_t m[4 * PER], m1[PER];
    tu_fill_uniform(x, 4 * PER, -1, 1, 1);
    const int pos[4] = {5, 9, 2, 100};
    tu_poison(y, 4 * PER);
    cnn_dropout_forward(y, m, x, 4, PER, 0.5f, 42, 3, 17, pos);
    tu_assert_finite(y, 4 * PER, "dropout y");
    /* sample at global position 9, computed alone (as another rank would) */
    const int p9[1] = {9};
    cnn_dropout_forward(y1, m1, x + PER, 1, PER, 0.5f, 42, 3, 17, p9);
    assert_memory_equal(m1, m + PER, PER);
    assert_memory_equal(y1, y + PER, PER * sizeof(float));
    /* positions NULL means 0..n-1 */
    const int p01[2] = {0, 1};
    uint8_t ma[2 * PER], mb[2 * PER];
    cnn_dropout_forward(y, ma, x, 2, PER, 0.5f, 42, 3, 17, p01);
    cnn_dropout_forward(y, mb, x, 2, PER, 0.5f, 42, 3, 17, NULL);
    assert_memory_equal(ma, mb, 2 * PER);
    /* other step, tag, seed or position: other masks */
    const int alt[][4] = {{18, 3, 42, 9}, {17, 4, 42, 9}, {17, 3, 43, 9}, {17, 3, 42, 10}};
    for (int a = 0; a < 4; a++) {
        const int p[1] = {alt[a][3]};
        cnn_dropout_forward(y1, m1, x + PER, 1, PER, 0.5f, (uint64_t)alt[a][2], (uint32_t)alt[a][1], alt[a][0], p);
        assert_memory_not_equal(m1, m + PER, PER);
    }
}

static void test_fraction_and_scale(void **state)
{
    (void)state;
    const size_t n = 200000;
    const float keeps[3] = {0.5f, 0.7f, 0.9f};
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint8_t *m = malloc(n);
    tu_fill_uniform(x, n, 0.5f, 1.5f, 2);
    for (int k = 0; k < 3; k++) {
        const int pos[2] = {3, 8};
        tu_poison(y, n);
        cnn_dropout_forward(y, m, x, 2, n / 2, keeps[k], 7, 1, 100, pos);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(m[i] == 0 || m[i] == 1);
            if (m[i]) {
                kept++;
                tu_assert_close(y[i], (double)x[i] / (double)keeps[k], 0, 1e-6, "kept value", i);
            } else {
                assert_true(y[i] == 0.0f);
            }
        }
        /* binomial sd is sqrt(keep(1-keep)/n) < 0.0012; allow 5 sd */
        assert_true(fabs((double)kept / (double)n - (double)keeps[k]) < 0.006);
    }
    /* keep = 1 keeps everything unchanged */
    cnn_dropout_forward(y, m, x, 1, n, 1.0f, 7, 1, 100, NULL);
    assert_memory_equal(y, x, n * 4);
    free(x), free(y), free(m);
}

typedef struct {
    float *x, *y, *r;
    uint8_t *m;
    int n;
    size_t per;
    float keep;
} Ctx;

static double dropout_loss(void *p)
{
    Ctx *g = p;
    const int pos[3] = {4, 0, 11};
    cnn_dropout_forward(g->y, g->m, g->x, g->n, g->per, g->keep, 99, 2, 5, pos);
    return tu_dot(g->y, g->r, (size_t)g->n * g->per);
}

static void test_gradcheck(void **state)
{
    (void)state;
    Ctx g = {.n = 3, .per = 50, .keep = 0.6f};
    size_t n = (size_t)g.n * g.per;
    g.x = malloc(n * 4), g.y = malloc(n * 4), g.r = malloc(n * 4), g.m = malloc(n);
    float *dx = malloc(n * 4);
    tu_fill_uniform(g.x, n, -1, 1, 3);
    tu_fill_uniform(g.r, n, -1, 1, 4);
    dropout_loss(&g);
    tu_poison(dx, n);
    cnn_dropout_backward(dx, g.r, g.m, n, g.keep);
    tu_assert_finite(dx, n, "dropout dx");
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += dx[i] == 0.0f;
    assert_true(zeros > 10 && zeros < n - 10);  /* the mask really drops some and keeps some */
    tu_gradcheck(dropout_loss, &g, g.x, dx, n, n, 1e-2f, 1e-4, 1e-3, "dropout dx");
    free(g.x), free(g.y), free(g.r), free(g.m), free(dx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_independent_of_batch),
        cmocka_unit_test(test_fraction_and_scale),
        cmocka_unit_test(test_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
