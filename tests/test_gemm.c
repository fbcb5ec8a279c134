/* gemm: cnn_sgemm against a naive triple loop (all transposes, non-square, padded leading dimensions),
 * the core-type decision, the loud warning for an explicitly generic OPENBLAS_CORETYPE, and that
 * cnn_gemm_init really puts OpenBLAS's worker threads into flush-to-zero (a child process, so the
 * thread pool starts fresh: without init the denormal products survive, after it every one is 0). */
#include "testutil.h"

#include <sys/wait.h>

#include "cnn/nn/gemm.h"
#include "cnn/util.h"

/* C = alpha * op(A) op(B) + beta * C in double, the reference. */
static void naive_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = (float)((double)alpha * s + (double)beta * (double)c[i * ldc + j]);
        }
}

static void check_gemm(int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    /* Stored shapes: A is [m][k] or, transposed, [k][m]; leading dimensions padded by 3..5. */
    int arows = ta ? k : m, acols = ta ? m : k;
    int brows = tb ? n : k, bcols = tb ? k : n;
    int lda = acols + 3, ldb = bcols + 4, ldc = n + 5;
    size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)m * ldc;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c = malloc(nc * sizeof *c), *want = malloc(nc * sizeof *c);
    tu_fill_uniform(a, na, -1, 1, 11);
    tu_fill_uniform(b, nb, -1, 1, 12);
    tu_fill_uniform(c, nc, -1, 1, 13);
    memcpy(want, c, nc * sizeof *c);
    cnn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
    /* The padding columns of C must be untouched: compare them exactly. */
    for (size_t i = 0; i < nc; i++) {
        if ((int)(i % (size_t)ldc) >= n)
            assert_true(c[i] == want[i]);
        else
            tu_assert_close(c[i], want[i], 1e-5, 1e-5, "gemm", i);
    }
    free(a);
    free(b);
    free(c);
    free(want);
}

static void test_sgemm_vs_naive(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(ta, tb, 37, 29, 23, 1.0f, 0.0f);
            check_gemm(ta, tb, 5, 64, 130, 0.7f, 0.3f);
            check_gemm(ta, tb, 1, 1, 1, 2.0f, 1.0f);
            check_gemm(ta, tb, 70, 3, 1, -1.5f, 1.0f);
        }
}

static void test_sgemm_hand(void **state)
{
    (void)state;
    /* [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]; then beta=1 adds it again. */
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {NAN, NAN, NAN, NAN};
    cnn_sgemm(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    assert_true(c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50);
    /* A^T B: [1 3; 2 4] x [5 6; 7 8] = [26 30; 38 44], plus the previous C */
    cnn_sgemm(1, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 1.0f, c, 2);
    assert_true(c[0] == 45 && c[1] == 52 && c[2] == 81 && c[3] == 94);
}

static void test_better_coretype(void **state)
{
    (void)state;
    assert_string_equal(cnn_gemm_better_coretype("Prescott", 1, 1), "SkylakeX");
    assert_string_equal(cnn_gemm_better_coretype("Prescott", 1, 0), "Haswell");
    assert_string_equal(cnn_gemm_better_coretype("prescott", 1, 0), "Haswell");
    assert_string_equal(cnn_gemm_better_coretype("Core2", 1, 1), "SkylakeX");
    assert_string_equal(cnn_gemm_better_coretype("Nehalem", 1, 0), "Haswell");
    assert_string_equal(cnn_gemm_better_coretype("Barcelona", 1, 0), "Haswell");
    assert_null(cnn_gemm_better_coretype("Prescott", 0, 0));  /* old CPU: Prescott is right */
    assert_null(cnn_gemm_better_coretype("Haswell", 1, 1));
    assert_null(cnn_gemm_better_coretype("Zen", 1, 0));
    assert_null(cnn_gemm_better_coretype("SkylakeX", 1, 1));
    assert_null(cnn_gemm_better_coretype("Cooperlake", 1, 1));
    assert_null(cnn_gemm_better_coretype(NULL, 1, 1));
}

/* Runs this executable with args and extra environment, capturing stdout+stderr into out. */
static int run_child(char *const args[], const char *env_set[][2], const char *env_unset[], char *out,
                     size_t n)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        for (int i = 0; env_set && env_set[i][0]; i++) setenv(env_set[i][0], env_set[i][1], 1);
        for (int i = 0; env_unset && env_unset[i]; i++) unsetenv(env_unset[i]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < n && (r = read(fd[0], out + got, n - 1 - got)) > 0) got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

enum { DN = 512 };

/* Elements of a DN^3 sgemm with A = B = 1e-20 (each product 1e-40 is subnormal) that are nonzero. */
static long denormal_nonzeros(float *a, float *c)
{
    for (size_t i = 0; i < (size_t)DN * DN; i++) c[i] = NAN;
    cnn_sgemm(0, 0, DN, DN, DN, 1.0f, a, DN, a, DN, 0.0f, c, DN);
    long nz = 0;
    for (size_t i = 0; i < (size_t)DN * DN; i++) nz += c[i] != 0.0f;
    return nz;
}

/* Child: the pool made at load time; FTZ on the main thread only; then cnn_gemm_init(2). */
static int ftz_child(void)
{
    float *a = malloc((size_t)DN * DN * sizeof *a), *c = malloc((size_t)DN * DN * sizeof *c);
    for (size_t i = 0; i < (size_t)DN * DN; i++) a[i] = 1e-20f;
    long plain = denormal_nonzeros(a, c);
    cnn_set_ftz_daz();
    long main_only = denormal_nonzeros(a, c);
    cnn_gemm_init(2);
    int threads = cnn_gemm_threads();
    long after = denormal_nonzeros(a, c);
    printf("plain=%ld main_only=%ld after=%ld threads=%d ftz=%d\n", plain, main_only, after, threads,
           cnn_ftz_daz_enabled());
    free(a);
    free(c);
    return 0;
}

static void test_init_ftz_in_workers(void **state)
{
    (void)state;
    char out[4096];
    char *args[] = {"test_gemm", "--ftz-child", NULL};
    /* Two workers from the start, so the load-time pool also splits the product. */
    const char *env[][2] = {{"OPENBLAS_NUM_THREADS", "2"}, {NULL, NULL}};
    assert_int_equal(run_child(args, env, NULL, out, sizeof out), 0);
    long plain = -1, main_only = -1, after = -1;
    int threads = -1, ftz = -1;
    assert_int_equal(sscanf(out, "plain=%ld main_only=%ld after=%ld threads=%d ftz=%d", &plain, &main_only,
                            &after, &threads, &ftz), 5);
    print_message("child: %s", out);
    const long all = (long)DN * DN;
    assert_int_equal(plain, all);        /* control: without FTZ nothing flushes */
    assert_true(main_only > 0);          /* the workers made at load time do not flush */
    assert_int_equal(after, 0);          /* after init: every element, every thread */
    assert_int_equal(threads, 2);
    assert_int_equal(ftz, 1);
}

/* Child: calls cnn_gemm_fix_coretype and reports the core it continues with. */
static int corefix_child(int argc, char **argv)
{
    cnn_gemm_fix_coretype(argc, argv);
    printf("continued core=%s\n", cnn_gemm_corename());
    return 0;
}

static void test_explicit_generic_core_warns(void **state)
{
    (void)state;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) skip();
    char out[4096];
    char *args[] = {"test_gemm", "--corefix-child", NULL};
    const char *env[][2] = {{"OPENBLAS_CORETYPE", "Prescott"}, {NULL, NULL}};
    const char *unset[] = {"CNN_COREFIX_DONE", "CNN_NO_COREFIX", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                           "PMI_RANK", "SLURM_PROCID", NULL};
    assert_int_equal(run_child(args, env, unset, out, sizeof out), 0);
    print_message("child: %s", out);
    assert_non_null(strstr(out, "WARNING"));
    assert_non_null(strstr(out, "Prescott"));
    assert_non_null(strstr(out, "explicitly"));
    assert_non_null(strstr(out, "continued core=Prescott"));

    /* A non-zero rank stays quiet but still continues. */
    const char *env2[][2] = {{"OPENBLAS_CORETYPE", "Prescott"}, {"OMPI_COMM_WORLD_RANK", "3"}, {NULL, NULL}};
    const char *unset2[] = {"CNN_COREFIX_DONE", NULL};
    assert_int_equal(run_child(args, env2, unset2, out, sizeof out), 0);
    assert_null(strstr(out, "WARNING"));
    assert_non_null(strstr(out, "continued core=Prescott"));

    /* The core this machine gets by itself is not generic: nothing printed, no re-exec. */
    const char *unset3[] = {"OPENBLAS_CORETYPE", "CNN_COREFIX_DONE", NULL};
    assert_int_equal(run_child(args, NULL, unset3, out, sizeof out), 0);
    assert_null(strstr(out, "cnn-dist"));
    char msg[256];
    assert_int_equal(cnn_gemm_core_is_generic(msg, sizeof msg),
                     cnn_gemm_better_coretype(cnn_gemm_corename(), 1, 0) != NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--ftz-child") == 0) return ftz_child();
    if (argc > 1 && strcmp(argv[1], "--corefix-child") == 0) return corefix_child(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_hand),
        cmocka_unit_test(test_sgemm_vs_naive),
        cmocka_unit_test(test_better_coretype),
        cmocka_unit_test(test_init_ftz_in_workers),
        cmocka_unit_test(test_explicit_generic_core_warns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
