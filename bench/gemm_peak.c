/* gemm_peak: the speed this machine reaches on the CIFAR-10 network's own kernels, one thread: OpenBLAS
 * sgemm on every GEMM shape of the im2col lowering and of the dense layers, and the direct and Winograd
 * convolution kernels (conv_direct.c) on the conv layers' shapes, per micro-shard of 16 samples (the deterministic
 * mode's unit; dense shapes at 64 samples, one rank's half of the batch). `make bench` divides the
 * training throughput by the "kernel peak" line, the FLOP-weighted speed of the kernels the network
 * actually runs (Winograd or direct convolutions where run.conv = auto takes them, sgemm elsewhere;
 * Winograd counted by the FLOPs of the direct convolution it replaces), to get the
 * fraction of the kernel-bound limit: what is left is everything that is not a kernel. */
#include <stdio.h>
#include <stdlib.h>

#include "cnn/nn/conv_direct.h"
#include "cnn/nn/gemm.h"
#include "cnn/util.h"

typedef struct {
    const char *what;
    int ta, tb, m, n, k;
    int conv;  /* 0: dense; 1: a conv op, which the direct kernels can do instead */
    int wgrad; /* conv: 0 = a forward-shaped op (forward or data gradient), 1 = weight gradient */
    int hw, cin, cout; /* conv: output height = width, channels in and out (5x5 kernel, SAME) */
} Shape;

/* Seconds per call of fn, timed over at least 0.3 s after one warm-up call. */
#define TIME_IT(secs, call)                                                                            \
    do {                                                                                               \
        call;                                                                                          \
        int reps_ = 0;                                                                                 \
        double t0_ = cnn_now(), t_;                                                                    \
        do {                                                                                           \
            call;                                                                                      \
            reps_++;                                                                                   \
        } while ((t_ = cnn_now() - t0_) < 0.3);                                                        \
        (secs) = t_ / reps_;                                                                           \
    } while (0)

static double time_sgemm(const Shape *s)
{
    size_t as = (size_t)s->m * s->k, bs = (size_t)s->k * s->n, cs = (size_t)s->m * s->n;
    float *a = cnn_aligned(as * 4), *b = cnn_aligned(bs * 4), *c = cnn_aligned(cs * 4);
    for (size_t j = 0; j < as; j++) a[j] = (float)(j % 13) * 0.01f;
    for (size_t j = 0; j < bs; j++) b[j] = (float)(j % 7) * 0.01f;
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double secs;
    TIME_IT(secs, cnn_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n));
    free(a), free(b), free(c);
    return secs;
}

/* Seconds per call of the direct kernel (wino = 0) or of Winograd (wino = 1; 0 if it does not apply). */
static double time_direct(const Shape *s, int wino)
{
    const CnnConvdGeom g = {16, s->hw + 4, s->hw + 4, s->cin, s->hw, s->hw, s->cout, 5, 5};
    if (wino && !cnn_convd_winograd_applies(&g)) return 0;
    size_t nin = (size_t)g.n * g.ph * g.pw * g.cin, nout = (size_t)g.n * g.oh * g.ow * g.cout;
    size_t nw = (size_t)25 * g.cin * g.cout;
    float *in = cnn_aligned(nin * 4), *out = cnn_aligned(nout * 4), *dw = cnn_aligned(nw * 4);
    float *wp = cnn_aligned(cnn_convd_packed_floats(25 * g.cin, g.cout) * 4);
    for (size_t j = 0; j < nin; j++) in[j] = (float)(j % 13) * 0.01f;
    for (size_t j = 0; j < nout; j++) out[j] = (float)(j % 7) * 0.01f;
    for (size_t j = 0; j < nw; j++) dw[j] = (float)(j % 5) * 0.01f;
    cnn_convd_pack(wp, dw, 25 * g.cin, g.cout);
    double secs;
    if (wino) {
        float *u = cnn_aligned(cnn_convd_winograd_weights_floats(g.cin, g.cout) * 4);
        float *scratch = cnn_aligned(cnn_convd_winograd_scratch_floats(g.cin, g.cout, 1) * 4);
        float *p = cnn_aligned(cnn_convd_winograd_weights_floats(g.cin, g.cout) * 4);
        cnn_convd_winograd_weights(u, dw, g.cin, g.cout, 0); /* once per step in training */
        if (s->wgrad)
            TIME_IT(secs, cnn_convd_winograd_weight_grad(dw, in, out, &g, p, scratch, 1));
        else
            TIME_IT(secs, cnn_convd_winograd_forward(out, in, u, NULL, &g, scratch, 1));
        free(u), free(scratch), free(p);
    } else if (s->wgrad) {
        TIME_IT(secs, cnn_convd_weight_grad(dw, in, out, &g, 1));
    } else {
        TIME_IT(secs, cnn_convd_forward(out, in, wp, NULL, &g, 1));
    }
    free(in), free(out), free(dw), free(wp);
    return secs;
}

int main(void)
{
    cnn_gemm_init(1);
    /* conv rows: 16 samples x output pixels; conv2's data gradient has conv2's shape (64 -> 64) */
    const Shape shapes[] = {
        {"conv1 fwd", 0, 0, 9216, 64, 75, 1, 0, 24, 3, 64},
        {"conv1 dW", 1, 0, 75, 64, 9216, 1, 1, 24, 3, 64},
        {"conv2 fwd", 0, 0, 2304, 64, 1600, 1, 0, 12, 64, 64},
        {"conv2 dW", 1, 0, 1600, 64, 2304, 1, 1, 12, 64, 64},
        {"conv2 dX", 0, 0, 2304, 64, 1600, 1, 0, 12, 64, 64},
        {"local3 fwd", 0, 0, 64, 384, 2304, 0, 0, 0, 0, 0},
        {"local3 dW", 1, 0, 2304, 384, 64, 0, 0, 0, 0, 0},
        {"local3 dX", 0, 1, 64, 2304, 384, 0, 0, 0, 0, 0},
    };
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    const int direct = cnn_convd_preferred();
    double flop_all = 0, s_gemm = 0, s_used = 0;
    printf("  %-11s %5s %5s %5s   sgemm   direct   winograd   (GFLOP/s; Winograd: of the direct FLOPs)\n", "op",
           "M", "N", "K");
    for (int i = 0; i < ns; i++) {
        const Shape *s = &shapes[i];
        const double flop = 2.0 * s->m * s->n * (double)s->k;
        const double tg = time_sgemm(s);
        double td = 0, tw = 0;
        if (s->conv && cnn_convd_built()) {
            td = time_direct(s, 0);
            tw = time_direct(s, 1);
        }
        char d[16] = "-", w[16] = "-";
        if (td > 0) snprintf(d, sizeof d, "%.1f", flop / td / 1e9);
        if (tw > 0) snprintf(w, sizeof w, "%.1f", flop / tw / 1e9);
        printf("  %-11s %5d %5d %5d   %5.1f   %6s   %8s\n", s->what, s->m, s->n, s->k, flop / tg / 1e9, d, w);
        flop_all += flop;
        s_gemm += tg;
        s_used += !(s->conv && direct && td > 0) ? tg : tw > 0 ? tw : td; /* what run.conv = auto runs */
    }
    printf("sgemm only (FLOP-weighted, 1 thread, OpenBLAS %s): %.1f GFLOP/s\n", cnn_gemm_corename(),
           flop_all / s_gemm / 1e9);
    printf("kernel peak (FLOP-weighted, 1 thread, the kernels run.conv = auto takes: %s): %.1f GFLOP/s\n",
           direct ? "Winograd, else direct, for convolutions" : "sgemm", flop_all / s_used / 1e9);
    return 0;
}
