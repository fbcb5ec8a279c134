/* gemm: the only file that calls OpenBLAS. Row-major sgemm, the thread count, and the CPU checks:
 * Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) takes some AVX-512 CPUs for a "Prescott" and runs SSE3
 * kernels at a quarter of the speed; cnn_gemm_fix_coretype() notices a generic kernel on a CPU that
 * has better, and re-executes the program with OPENBLAS_CORETYPE set (or says loudly what to do).
 * OpenBLAS's worker threads are created when the library loads, before main can set flush-to-zero;
 * cnn_gemm_init() restarts them from a thread that has FTZ/DAZ set, so they inherit it. */
#ifndef CNN_GEMM_H
#define CNN_GEMM_H

#include <stddef.h>

/* Call first thing in main, before MPI_Init: if OpenBLAS runs a generic core on a CPU with AVX2 or
 * AVX-512 and the user has not set OPENBLAS_CORETYPE, sets it and execv's /proc/self/exe with argv
 * (once; an environment marker stops loops). Prints what it did. Returns only if nothing was done. */
void cnn_gemm_fix_coretype(int argc, char **argv);
/* The decision, pure so tests can check it on any CPU: the OPENBLAS_CORETYPE to use when OpenBLAS
 * reports `corename` on a CPU with (has_avx2: AVX2 and FMA) / (has_avx512: AVX-512 F, BW, DQ, VL),
 * i.e. "SkylakeX" or "Haswell" when corename is a generic pre-AVX core, else NULL. */
const char *cnn_gemm_better_coretype(const char *corename, int has_avx2, int has_avx512);
/* Message (into buf) if the running kernel is generic while the CPU has better; returns 1 then. */
int cnn_gemm_core_is_generic(char *buf, size_t n);
/* Sets FTZ/DAZ on this thread and OpenBLAS's pool, and the thread count (0 = leave as is). */
void cnn_gemm_init(int threads);
int cnn_gemm_threads(void);
const char *cnn_gemm_corename(void);
const char *cnn_gemm_config(void);
/* "OpenBLAS 0.3.21": the library's own version, from its build configuration. */
void cnn_gemm_version(char *buf, size_t n);

/* C[M][N] = alpha * op(A)[M][K] * op(B)[K][N] + beta * C, row-major; lda/ldb/ldc are row strides. */
void cnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

#endif
