/* gemm: the only file that includes <cblas.h>. It owns the row-major sgemm wrapper, OpenBLAS's thread
 * count, flush-to-zero in OpenBLAS's worker threads, and the check that OpenBLAS picked kernels that
 * fit the CPU. Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not know some newer CPUs and falls back
 * to a generic "Prescott" core whose SSE3 kernels run sgemm at about a quarter of the speed; the fix
 * is OPENBLAS_CORETYPE, which OpenBLAS reads only when it loads, hence the re-exec. */
#include "cnn/nn/gemm.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cnn/util.h"

/* Exported by libopenblas (driver/others/blas_server.c) but not declared in cblas.h: stops and joins
 * the worker threads; blas_thread_init starts them again from the calling thread. */
extern int blas_thread_shutdown_(void);
extern int blas_thread_init(void);

/* Set in the environment before the re-exec so a second pass never execs again. */
#define COREFIX_GUARD "CNN_COREFIX_DONE"

/* Cores of OpenBLAS's DYNAMIC_ARCH table older than AVX: their kernels are SSE2/SSE3 at best. */
static const char *const generic_cores[] = {
    "Unknown", "Katmai",   "Coppermine",   "Northwood", "Prescott", "Banias", "Atom",  "Core2",
    "Penryn",  "Dunnington", "Nehalem",    "Athlon",    "Opteron",  "Opteron_SSE3", "Barcelona",
    "Nano",    "Bobcat",
};

const char *cnn_gemm_better_coretype(const char *corename, int has_avx2, int has_avx512)
{
    if (!corename) return NULL;
    int generic = 0;
    for (size_t i = 0; i < sizeof generic_cores / sizeof generic_cores[0]; i++)
        if (strcasecmp(corename, generic_cores[i]) == 0) generic = 1;
    if (!generic) return NULL;
    if (has_avx512) return "SkylakeX";
    if (has_avx2) return "Haswell";
    return NULL;
}

static int cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

int cnn_gemm_core_is_generic(char *buf, size_t n)
{
    const char *core = openblas_get_corename();
    int avx512 = cpu_has_avx512(), avx2 = cpu_has_avx2();
    const char *better = cnn_gemm_better_coretype(core, avx2, avx512);
    if (!better) return 0;
    if (buf && n)
        snprintf(buf, n,
                 "OpenBLAS runs its generic '%s' kernels on a CPU with %s (sgemm about 4x slower); "
                 "OPENBLAS_CORETYPE=%s selects the right ones",
                 core ? core : "?", avx512 ? "AVX-512" : "AVX2", better);
    return 1;
}

/* Under mpirun/srun every rank would print the same line; rank 0 speaks for all. MPI is not
 * initialised yet, so the launchers' environment variables are all there is. */
static int env_rank_is_zero(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && strcmp(v, "0") != 0) return 0;
    }
    return 1;
}

void cnn_gemm_fix_coretype(int argc, char **argv)
{
    char msg[512];
    if (!cnn_gemm_core_is_generic(msg, sizeof msg)) return;
    int speak = env_rank_is_zero();
    const char *better = cnn_gemm_better_coretype(openblas_get_corename(), cpu_has_avx2(), cpu_has_avx512());
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *no_fix = getenv("CNN_NO_COREFIX");
    if (user && *user && !getenv(COREFIX_GUARD)) {
        if (speak)
            fprintf(stderr,
                    "cnn-dist: WARNING: %s; OPENBLAS_CORETYPE=%s was set explicitly, so it is kept\n",
                    msg, user);
        return;
    }
    if (getenv(COREFIX_GUARD)) {
        if (speak)
            fprintf(stderr, "cnn-dist: WARNING: %s; setting OPENBLAS_CORETYPE=%s and restarting did not "
                            "help, continuing slowly\n", msg, user ? user : better);
        return;
    }
    if (no_fix && strcmp(no_fix, "1") == 0) {
        if (speak)
            fprintf(stderr, "cnn-dist: WARNING: %s; CNN_NO_COREFIX=1, so continuing slowly\n", msg);
        return;
    }
    if (argc < 1 || !argv || !argv[0]) return;
    if (speak) fprintf(stderr, "cnn-dist: %s; restarting with OPENBLAS_CORETYPE=%s\n", msg, better);
    fflush(stderr);
    if (setenv("OPENBLAS_CORETYPE", better, 1) != 0 || setenv(COREFIX_GUARD, "1", 1) != 0) {
        if (speak) fprintf(stderr, "cnn-dist: WARNING: setenv failed, continuing slowly\n");
        return;
    }
    execv("/proc/self/exe", argv);
    /* Only reached if exec failed: the program still works, just slowly. */
    if (speak) perror("cnn-dist: WARNING: re-exec with OPENBLAS_CORETYPE failed, continuing slowly");
}

void cnn_gemm_init(int threads)
{
    if (!cnn_set_ftz_daz()) CNN_DIE("cannot set flush-to-zero / denormals-are-zero");
    int n = threads > 0 ? threads : openblas_get_num_threads();
    /* pthread_create copies the creator's MXCSR, so workers started from here inherit FTZ/DAZ.
     * Shut the pool down (joins the workers made at load time), start it again from this thread,
     * then grow it if more threads are wanted (also created from this thread). */
    blas_thread_shutdown_();
    blas_thread_init();
    openblas_set_num_threads(n);
}

int cnn_gemm_threads(void)
{
    return openblas_get_num_threads();
}

const char *cnn_gemm_corename(void)
{
    return openblas_get_corename();
}

const char *cnn_gemm_config(void)
{
    return openblas_get_config();
}

void cnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cnn_gemm_version(char *buf, size_t n)
{
    const char *cfg = openblas_get_config(); /* "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell ..." */
    const char *sp = cfg ? strchr(cfg, ' ') : NULL;
    const size_t len = sp ? strcspn(sp + 1, " ") + (size_t)(sp - cfg) + 1 : (cfg ? strlen(cfg) : 0);
    snprintf(buf, n, "%.*s", (int)len, cfg ? cfg : "OpenBLAS");
}
