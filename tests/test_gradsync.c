/* gradsync on one rank (the serial comm): the partition covers every sample once on any rank count; the
 * deterministic gradient is the whole batch's mean gradient to float rounding, with the exact loss sum
 * and right answers; the exponents a checkpoint keeps continue a step bit for bit; a bound that is too
 * small falls back to the exact sum with the same bits as a fresh two-pass step; NaN is named; fast mode
 * is plain backward over the slice. Multi-rank sums are tested with mpirun (tests/mpi/). */
#include "testutil.h"

#include "cnn/config.h"
#include "cnn/gradsync.h"
#include "cnn/nn/model.h"

#define BATCH 24

typedef struct {
    CnnConfig cfg;
    CnnModel m;
    float *x;
    int y[BATCH];
} Fixture;

/* The tiny network (with its dropout) at batch 24 in micro-shards of 5 (the last one has 4 samples);
 * cap: the samples a forward may get. */
static Fixture *fixture(const char *mode, int cap)
{
    Fixture *f = calloc(1, sizeof *f);
    CnnErr err;
    const char *ov[] = {"train.batch=24", "train.micro_batch=5", mode};
    if (cnn_config_load(&f->cfg, "configs/tiny.ini", ov, 3, &err)) fail_msg("%s", err.msg);
    CnnModelOpts o = cnn_model_opts_local(cap);
    if (cnn_model_build(&f->m, &f->cfg, &o, &err)) fail_msg("%s", err.msg);
    cnn_model_init_params(&f->m, 7);
    size_t n = (size_t)BATCH * f->m.in_h * f->m.in_w * f->m.in_c;
    f->x = malloc(n * sizeof(float));
    tu_fill_uniform(f->x, n, -2.0f, 2.0f, 21);
    for (int i = 0; i < BATCH; i++) f->y[i] = (i * 7) % 10;
    return f;
}

static void fixture_free(Fixture *f)
{
    cnn_model_free(&f->m);
    free(f->x);
    free(f);
}

static void test_partition_covers_every_sample_once(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnErr err;
    for (int det = 1; det >= 0; det--) { /* fast mode last: the config the check below uses */
        const char *ov[] = {"train.batch=24", "train.micro_batch=5", det ? "train.deterministic=true" : "train.deterministic=false"};
        assert_int_equal(cnn_config_load(&cfg, "configs/tiny.ini", ov, 3, &err), 0);
        for (int size = 1; size <= 8; size++) {
            int next = 0;
            for (int rank = 0; rank < size; rank++) {
                CnnGradPartition p;
                cnn_gradsync_partition(&cfg, rank, size, &p);
                assert_int_equal(p.lo, next); /* contiguous, in rank order */
                assert_true(p.hi >= p.lo);
                next = p.hi;
                if (det) {
                    assert_int_equal(p.n_micro, 5);
                    assert_int_equal(p.max_samples, 5);
                    if (p.hi > p.lo) assert_int_equal(p.lo, p.micro_lo * 5);
                    assert_true(p.micro_hi - p.micro_lo <= (5 + size - 1) / size);
                } else {
                    assert_int_equal(p.n_micro, 0);
                    assert_true(p.hi - p.lo <= p.max_samples);
                }
            }
            assert_int_equal(next, BATCH);
        }
    }
    CnnGradPartition p;
    cnn_gradsync_partition(&cfg, 6, 7, &p); /* fast mode, 24 over 7: the last ranks get 3 */
    assert_int_equal(p.hi - p.lo, 3);
    assert_int_equal(p.max_samples, 4);
}

/* The whole batch at once through plain backward: the reference gradient, loss and right answers. */
static double reference(Fixture *f, float *grad, int *correct)
{
    int pos[BATCH];
    for (int i = 0; i < BATCH; i++) pos[i] = i;
    cnn_model_forward(&f->m, f->x, BATCH, 1, 3, pos);
    return cnn_model_backward(&f->m, grad, CNN_GRAD_OVERWRITE, f->y, BATCH, 1.0f / BATCH, correct, NULL);
}

static void test_deterministic_is_the_batch_mean_gradient(void **state)
{
    (void)state;
    Fixture *f = fixture("train.deterministic=true", BATCH);
    float *want = malloc(f->m.n_params * sizeof(float));
    int want_correct = 0;
    double want_loss = reference(f, want, &want_correct);
    CnnGradSync *g = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    int exps[2 * CNN_MAX_LAYERS];
    assert_int_equal(cnn_gradsync_exponents(g, exps), 0); /* none before the first step */
    CnnStepStats st;
    const char *where = "unset";
    assert_int_equal(cnn_gradsync_step(g, f->x, f->y, 3, &st, &where), 0);
    assert_null(where);
    assert_int_equal(cnn_gradsync_times(g)->exact_steps, 1); /* the first step takes two passes */
    assert_int_equal(cnn_gradsync_exponents(g, exps), f->m.n_tensors);
    assert_int_equal(st.correct, want_correct);
    tu_assert_close((double)st.loss_fixed / CNN_LOSS_SCALE, want_loss, 1e-6, 1e-6, "loss", 0);
    double gmax = 0;
    for (size_t i = 0; i < f->m.n_params; i++) gmax = fmax(gmax, fabs(want[i]));
    assert_true(gmax > 1e-3);
    for (size_t i = 0; i < f->m.n_params; i++) tu_assert_close(f->m.grads[i], want[i], 2e-6 * gmax, 1e-5, "grad", i);
    cnn_gradsync_free(g);
    free(want);
    fixture_free(f);
}

/* Step 4 after step 3 on one gradsync, and step 4 on a fresh one given the exponents step 3 left (what a
 * checkpoint carries): the same bits, and neither takes two passes. Without them a fresh one does. */
static void test_exponents_continue_bit_for_bit(void **state)
{
    (void)state;
    Fixture *f = fixture("train.deterministic=true", 5);
    CnnStepStats st;
    const char *where;
    CnnGradSync *a = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    assert_int_equal(cnn_gradsync_step(a, f->x, f->y, 3, &st, &where), 0);
    int exps[2 * CNN_MAX_LAYERS];
    const int n = cnn_gradsync_exponents(a, exps);
    assert_int_equal(n, f->m.n_tensors);
    cnn_gradsync_reset_times(a);
    assert_int_equal(cnn_gradsync_step(a, f->x, f->y, 4, &st, &where), 0);
    assert_int_equal(cnn_gradsync_times(a)->exact_steps, 0);
    float *want = malloc(f->m.n_params * sizeof(float));
    memcpy(want, f->m.grads, f->m.n_params * sizeof(float));
    const int64_t want_loss = st.loss_fixed;

    CnnGradSync *b = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    cnn_gradsync_set_exponents(b, exps, n);
    tu_poison(f->m.grads, f->m.n_params);
    assert_int_equal(cnn_gradsync_step(b, f->x, f->y, 4, &st, &where), 0);
    assert_int_equal(cnn_gradsync_times(b)->exact_steps, 0);
    assert_memory_equal(f->m.grads, want, f->m.n_params * sizeof(float));
    assert_true(st.loss_fixed == want_loss);

    CnnGradSync *c = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    cnn_gradsync_set_exponents(c, exps, n - 1); /* not this model's: forgotten */
    assert_int_equal(cnn_gradsync_exponents(c, exps), 0);
    assert_int_equal(cnn_gradsync_step(c, f->x, f->y, 4, &st, &where), 0);
    assert_int_equal(cnn_gradsync_times(c)->exact_steps, 1);
    cnn_gradsync_free(a);
    cnn_gradsync_free(b);
    cnn_gradsync_free(c);
    free(want);
    fixture_free(f);
}

/* Bounds far too small (as after a sudden jump of the gradients): every tensor overflows, the step is
 * summed again with its exact exponents, and gives the bits of a fresh two-pass step. */
static void test_overflow_falls_back_to_the_exact_sum(void **state)
{
    (void)state;
    Fixture *f = fixture("train.deterministic=true", 5);
    CnnStepStats st;
    const char *where;
    CnnGradSync *fresh = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    assert_int_equal(cnn_gradsync_step(fresh, f->x, f->y, 3, &st, &where), 0);
    float *want = malloc(f->m.n_params * sizeof(float));
    memcpy(want, f->m.grads, f->m.n_params * sizeof(float));

    CnnGradSync *g = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    int low[2 * CNN_MAX_LAYERS];
    for (int t = 0; t < f->m.n_tensors; t++) low[t] = -40;
    cnn_gradsync_set_exponents(g, low, f->m.n_tensors);
    tu_poison(f->m.grads, f->m.n_params);
    assert_int_equal(cnn_gradsync_step(g, f->x, f->y, 3, &st, &where), 0);
    assert_int_equal(cnn_gradsync_times(g)->exact_steps, 1);
    assert_memory_equal(f->m.grads, want, f->m.n_params * sizeof(float));
    int e1[2 * CNN_MAX_LAYERS], e2[2 * CNN_MAX_LAYERS];
    assert_int_equal(cnn_gradsync_exponents(g, e1), cnn_gradsync_exponents(fresh, e2));
    assert_memory_equal(e1, e2, (size_t)f->m.n_tensors * sizeof(int));
    assert_true(e1[0] > -40);
    cnn_gradsync_free(g);
    cnn_gradsync_free(fresh);
    free(want);
    fixture_free(f);
}

/* A NaN in one input: deterministic mode names the first tensor it reached, fast mode the loss. */
static void test_nan_is_named(void **state)
{
    (void)state;
    for (int det = 0; det <= 1; det++) {
        Fixture *f = fixture(det ? "train.deterministic=true" : "train.deterministic=false", BATCH);
        f->x[(size_t)7 * f->m.in_h * f->m.in_w * f->m.in_c + 5] = NAN;
        CnnGradSync *g = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
        CnnStepStats st;
        const char *where = NULL;
        assert_int_equal(cnn_gradsync_step(g, f->x, f->y, 3, &st, &where), -1);
        assert_non_null(where);
        assert_string_equal(where, det ? "conv1/weights" : "loss");
        cnn_gradsync_free(g);
        fixture_free(f);
    }
}

/* Fast mode on one rank is backward over the whole slice, bit for bit, and keeps no exponents. */
static void test_fast_mode_is_plain_backward(void **state)
{
    (void)state;
    Fixture *f = fixture("train.deterministic=false", BATCH);
    float *want = malloc(f->m.n_params * sizeof(float));
    int want_correct = 0;
    double want_loss = reference(f, want, &want_correct);
    CnnGradSync *g = cnn_gradsync_create(&f->cfg, &f->m, 0, 1);
    CnnStepStats st;
    const char *where;
    assert_int_equal(cnn_gradsync_step(g, f->x, f->y, 3, &st, &where), 0);
    assert_memory_equal(f->m.grads, want, f->m.n_params * sizeof(float));
    assert_int_equal(st.correct, want_correct);
    assert_true(st.loss_fixed == llrint(want_loss * CNN_LOSS_SCALE));
    int exps[2 * CNN_MAX_LAYERS];
    assert_int_equal(cnn_gradsync_exponents(g, exps), 0);
    cnn_gradsync_free(g);
    free(want);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_covers_every_sample_once),
        cmocka_unit_test(test_deterministic_is_the_batch_mean_gradient),
        cmocka_unit_test(test_exponents_continue_bit_for_bit),
        cmocka_unit_test(test_overflow_falls_back_to_the_exact_sum),
        cmocka_unit_test(test_nan_is_named),
        cmocka_unit_test(test_fast_mode_is_plain_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
