/* gemm_peak: the sgemm speed this machine's OpenBLAS reaches on the CIFAR-10 network's own GEMM shapes
 * (per image-batch of 64, as one rank of two computes), one thread per process. `make bench` divides
 * the training throughput by what these speeds allow to get "the fraction of the GEMM-bound limit".
 * Prints one line per shape and a FLOP-weighted mean in GFLOP/s. */
#include <stdio.h>
#include <stdlib.h>

#include "cnn/nn/gemm.h"
#include "cnn/util.h"

typedef struct {
    const char *what;
    int ta, tb, m, n, k;
} Shape;

int main(void)
{
    cnn_gemm_init(1);
    /* rows: conv1 per 16 samples 16*576, conv2 16*144 (micro-shards of 16); dense at 64 samples */
    const Shape shapes[] = {
        {"conv1 fwd  cols x W", 0, 0, 9216, 64, 75},     {"conv1 dW   cols^T x dY", 1, 0, 75, 64, 9216},
        {"conv2 fwd  cols x W", 0, 0, 2304, 64, 1600},   {"conv2 dW   cols^T x dY", 1, 0, 1600, 64, 2304},
        {"conv2 dX   cols(dY) x Wflip", 0, 0, 2304, 64, 1600}, {"local3 fwd", 0, 0, 64, 384, 2304},
        {"local3 dW", 1, 0, 2304, 384, 64},              {"local3 dX", 0, 1, 64, 2304, 384},
    };
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    double total_flop = 0, total_s = 0;
    for (int i = 0; i < ns; i++) {
        const Shape *s = &shapes[i];
        size_t as = (size_t)s->m * s->k, bs = (size_t)s->k * s->n, cs = (size_t)s->m * s->n;
        float *a = cnn_aligned(as * 4), *b = cnn_aligned(bs * 4), *c = cnn_aligned(cs * 4);
        for (size_t j = 0; j < as; j++) a[j] = (float)(j % 13) * 0.01f;
        for (size_t j = 0; j < bs; j++) b[j] = (float)(j % 7) * 0.01f;
        int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
        cnn_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
        int reps = 0;
        double t0 = cnn_now(), t;
        do {
            cnn_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
            reps++;
        } while ((t = cnn_now() - t0) < 0.3);
        double flop = 2.0 * s->m * s->n * (double)s->k * reps;
        printf("  %-24s M=%5d N=%5d K=%5d  %6.1f GFLOP/s\n", s->what, s->m, s->n, s->k, flop / t / 1e9);
        total_flop += flop / reps;
        total_s += t / reps;
        free(a);
        free(b);
        free(c);
    }
    printf("gemm peak (FLOP-weighted, 1 thread, %s): %.1f GFLOP/s\n", cnn_gemm_corename(), total_flop / total_s / 1e9);
    return 0;
}
