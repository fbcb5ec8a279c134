/* kernels: the speed this machine reaches on the CIFAR-10 network's own products, one thread, per kernel
 * family and instruction set: OpenBLAS sgemm (im2col for the convolutions), and cnn-dist's direct and
 * Winograd convolutions and dense tiles on every instruction set the CPU runs (AVX2, AVX-512). Each op
 * goes through the same plan and layer calls as training (padding, packing, cached weight transforms
 * included), per micro-shard of 16 samples (the deterministic mode's unit; the dense layers too).
 * GFLOP/s count the FLOPs of the direct computation, so Winograd's are "equivalent" GFLOP/s.
 * `make bench` divides the training throughput by the "kernel peak" line, the FLOP-weighted speed of
 * what run.conv = auto runs on the best instruction set here, to get the fraction of the kernel-bound
 * limit: what is left is everything that is not one of these products. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cpu.h"
#include "cnn/nn/gemm.h"
#include "cnn/nn/layers.h"
#include "cnn/nn/plan.h"
#include "cnn/util.h"
#include "timing.h"

enum { N = 16 };

typedef enum { OP_FWD, OP_DW, OP_DX } Op;

/* Seconds of one op of a 5x5 SAME conv (hw x hw x cin -> cout) on N samples, or 0 if the kernel does not
 * apply (Winograd of conv1). dX = backward with din minus backward without. */
static double time_conv(int hw, int cin, int cout, Op op, CnnConvKernel kernel, CnnIsa isa, CnnAlgo want)
{
    CnnConvShape s;
    cnn_conv_shape(&s, N, hw, hw, cin, cout, 5, 1, 1);
    s.needs_din = op == OP_DX;
    CnnConvPlan p;
    CnnErr err;
    if (cnn_conv_plan(&p, &s, kernel, isa, 1, &err)) CNN_DIE("%s", err.msg);
    if ((op == OP_DX ? p.dgrad : op == OP_DW ? p.wgrad : p.fwd) != want) return 0;
    const size_t nin = (size_t)N * hw * hw * cin, nout = (size_t)N * hw * hw * cout, nw = (size_t)25 * cin * cout;
    float *in = cnn_aligned(nin * 4), *out = cnn_aligned(nout * 4), *w = cnn_aligned(nw * 4), *dw = cnn_aligned(nw * 4);
    float *din = cnn_aligned(nin * 4), *b = cnn_aligned((size_t)cout * 4), *db = cnn_aligned((size_t)cout * 4);
    float *ws = cnn_aligned((p.ws_floats ? p.ws_floats : 1) * 4);
    for (size_t j = 0; j < nin; j++) in[j] = (float)(j % 13) * 0.01f;
    for (size_t j = 0; j < nout; j++) out[j] = (float)(j % 7) * 0.01f;
    for (size_t j = 0; j < nw; j++) w[j] = (float)(j % 5) * 0.01f;
    double secs = 0, base = 0;
    cnn_conv_forward(out, ws, in, w, b, &p, N); /* the cached Winograd weights are made once per step */
    switch (op) {
    case OP_FWD: TIME_IT(secs, 0.25, cnn_conv_forward(out, ws, in, w, b, &p, N)); break;
    case OP_DW: TIME_IT(secs, 0.25, cnn_conv_backward(NULL, dw, db, ws, out, in, w, &p, N, 1, CNN_GRAD_OVERWRITE)); break;
    case OP_DX:
        TIME_IT(secs, 0.25, cnn_conv_backward(din, dw, db, ws, out, in, w, &p, N, 1, CNN_GRAD_OVERWRITE));
        TIME_IT(base, 0.25, cnn_conv_backward(NULL, dw, db, ws, out, in, w, &p, N, 1, CNN_GRAD_OVERWRITE));
        secs = secs > base ? secs - base : secs;
        break;
    }
    free(in), free(out), free(w), free(dw), free(din), free(b), free(db), free(ws);
    return secs;
}

/* Seconds of one op of a dense layer nin -> nout on N samples (dX: backward with din minus without). */
static double time_dense(int nin, int nout, Op op, CnnIsa isa)
{
    CnnDensePlan p;
    cnn_dense_plan(&p, nin, nout, N, isa);
    float *in = cnn_aligned((size_t)N * nin * 4), *out = cnn_aligned((size_t)N * nout * 4);
    float *w = cnn_aligned((size_t)nin * nout * 4), *dw = cnn_aligned((size_t)nin * nout * 4);
    float *din = cnn_aligned((size_t)N * nin * 4), *b = cnn_aligned((size_t)nout * 4), *db = cnn_aligned((size_t)nout * 4);
    float *ws = cnn_aligned((p.ws_floats ? p.ws_floats : 1) * 4);
    for (size_t j = 0; j < (size_t)N * nin; j++) in[j] = (float)(j % 13) * 0.01f;
    for (size_t j = 0; j < (size_t)nin * nout; j++) w[j] = (float)(j % 5) * 0.01f;
    for (size_t j = 0; j < (size_t)N * nout; j++) out[j] = (float)(j % 7) * 0.01f;
    double secs = 0, base = 0;
    switch (op) {
    case OP_FWD: TIME_IT(secs, 0.25, cnn_dense_forward(out, ws, in, w, b, &p, N)); break;
    case OP_DW: TIME_IT(secs, 0.25, cnn_dense_backward(NULL, dw, db, ws, out, in, w, &p, N, CNN_GRAD_OVERWRITE)); break;
    case OP_DX:
        TIME_IT(secs, 0.25, cnn_dense_backward(din, dw, db, ws, out, in, w, &p, N, CNN_GRAD_OVERWRITE));
        TIME_IT(base, 0.25, cnn_dense_backward(NULL, dw, db, ws, out, in, w, &p, N, CNN_GRAD_OVERWRITE));
        secs = secs > base ? secs - base : secs;
        break;
    }
    free(in), free(out), free(w), free(dw), free(din), free(b), free(db), free(ws);
    return secs;
}

typedef struct {
    const char *what;
    int dense;        /* 0: 5x5 SAME conv hw x hw x cin -> cout; 1: dense cin -> cout */
    int hw, cin, cout;
    Op op;
} Shape;

static double flops(const Shape *s)
{
    return s->dense ? 2.0 * N * s->cin * s->cout : 2.0 * N * s->hw * s->hw * 25.0 * s->cin * s->cout;
}

static void cell(char *buf, size_t n, double flop, double secs)
{
    if (secs > 0)
        snprintf(buf, n, "%.1f", flop / secs / 1e9);
    else
        snprintf(buf, n, "-");
}

int main(void)
{
    cnn_gemm_init(1);
    CnnIsa best;
    CnnErr err;
    if (cnn_cpu_isa(&best, NULL, &err)) CNN_DIE("%s", err.msg);
    const Shape shapes[] = {
        {"conv1 fwd", 0, 24, 3, 64, OP_FWD},   {"conv1 dW", 0, 24, 3, 64, OP_DW},    {"conv2 fwd", 0, 12, 64, 64, OP_FWD},
        {"conv2 dW", 0, 12, 64, 64, OP_DW},    {"conv2 dX", 0, 12, 64, 64, OP_DX},   {"local3 fwd", 1, 0, 2304, 384, OP_FWD},
        {"local3 dW", 1, 0, 2304, 384, OP_DW}, {"local3 dX", 1, 0, 2304, 384, OP_DX},
    };
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    printf("  %-11s %7s", "op", "sgemm");
    for (CnnIsa isa = CNN_ISA_AVX2; isa <= best; isa = (CnnIsa)(isa + 1))
        printf("  %8s-%-6s %6s-%-6s %6s-%-6s", "direct", cnn_isa_name(isa), "wino2", cnn_isa_name(isa), "wino4",
               cnn_isa_name(isa));
    printf("   (GFLOP/s, %d samples; Winograd F(2x2), F(4x4) and dense tiles in the direct columns count the\n"
           "   FLOPs of a direct computation)\n", N);
    double flop_all = 0, s_gemm = 0, s_used = 0;
    for (int i = 0; i < ns; i++) {
        const Shape *s = &shapes[i];
        const double f = flops(s);
        const double tg = s->dense ? time_dense(s->cin, s->cout, s->op, CNN_ISA_GENERIC)
                                   : time_conv(s->hw, s->cin, s->cout, s->op, CNN_CONV_GEMM, CNN_ISA_GENERIC, CNN_ALGO_SGEMM);
        char c[32];
        cell(c, sizeof c, f, tg);
        printf("  %-11s %7s", s->what, c);
        double used = tg; /* what run.conv = auto runs on the best set */
        for (CnnIsa isa = CNN_ISA_AVX2; isa <= best; isa = (CnnIsa)(isa + 1)) {
            double td, tw = 0, t4 = 0;
            if (s->dense) {
                td = time_dense(s->cin, s->cout, s->op, isa);
            } else {
                td = time_conv(s->hw, s->cin, s->cout, s->op, CNN_CONV_DIRECT, isa, CNN_ALGO_DIRECT);
                tw = time_conv(s->hw, s->cin, s->cout, s->op, CNN_CONV_WINOGRAD2, isa, CNN_ALGO_WINOGRAD);
                t4 = time_conv(s->hw, s->cin, s->cout, s->op, CNN_CONV_WINOGRAD, isa, CNN_ALGO_WINOGRAD4);
            }
            char d[32], w[32], w4[32];
            cell(d, sizeof d, f, td);
            cell(w, sizeof w, f, tw);
            cell(w4, sizeof w4, f, t4);
            printf("  %15s %13s %13s", d, w, w4);
            if (isa == best) used = t4 > 0 ? t4 : tw > 0 ? tw : td;
        }
        printf("\n");
        flop_all += f;
        s_gemm += tg;
        s_used += used;
    }
    printf("sgemm only (FLOP-weighted, 1 thread, OpenBLAS %s): %.1f GFLOP/s\n", cnn_gemm_corename(),
           flop_all / s_gemm / 1e9);
    printf("kernel peak (FLOP-weighted, 1 thread, what run.conv = auto runs on %s): %.1f GFLOP/s\n",
           cnn_isa_name(best), flop_all / s_used / 1e9);
    return 0;
}
