/* conv3x3: the 3x3 layers of ResNet-20 and of the airbench94 network, one thread, the best instruction set
 * here (or CNN_ISA): milliseconds of the forward, the weight gradient and the data gradient per
 * micro-shard for each family that applies (direct, Winograd F(2x2), F(4x4), F(6x6) with edge tiles
 * where the size is not a multiple), GFLOP/s counted as a direct convolution, and each family's rounding:
 * the largest error of the forward and of the weight gradient against a float64 direct computation,
 * relative to the largest magnitude of the exact result, on random data (inputs uniform in [-1, 1],
 * He-scaled weights and output gradients). The plan's choice for run.conv = auto is marked with '*'.
 * Usage: conv3x3 [SECONDS per timing, default 0.2] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cpu.h"
#include "cnn/nn/gemm.h"
#include "cnn/nn/layers.h"
#include "cnn/nn/plan.h"
#include "cnn/rng.h"
#include "cnn/util.h"
#include "timing.h"

static double min_secs = 0.2;

typedef struct {
    const char *net, *name;
    int n, hw, cin, cout;
} Layer;

typedef struct {
    CnnConvKernel kernel;
    CnnAlgo algo;
    const char *label;
} Family;

static const Family families[] = {
    {CNN_CONV_DIRECT, CNN_ALGO_DIRECT, "direct"},
    {CNN_CONV_WINOGRAD2, CNN_ALGO_WINOGRAD, "F(2x2)"},
    {CNN_CONV_WINOGRAD4, CNN_ALGO_WINOGRAD4, "F(4x4)"},
    {CNN_CONV_WINOGRAD6, CNN_ALGO_WINOGRAD6, "F(6x6)"},
};


/* float64 SAME 3x3 conv and its weight gradient, NHWC / HWIO */
static void ref_forward(double *out, const float *in, const float *w, const Layer *l)
{
    const int h = l->hw, c = l->cin, k = l->cout;
    for (int i = 0; i < l->n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int o = 0; o < k; o++) {
                    double s = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            const int iy = y + ky - 1, ix = x + kx - 1;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
                            const float *pi = in + (((size_t)i * h + iy) * h + ix) * c;
                            const float *pw = w + ((size_t)(ky * 3 + kx) * c) * k + o;
                            for (int ci = 0; ci < c; ci++) s += (double)pi[ci] * (double)pw[(size_t)ci * k];
                        }
                    out[(((size_t)i * h + y) * h + x) * k + o] = s;
                }
}

static void ref_weight_grad(double *dw, const float *in, const float *dout, const Layer *l)
{
    const int h = l->hw, c = l->cin, k = l->cout;
    memset(dw, 0, sizeof(double) * 9 * c * k);
    for (int i = 0; i < l->n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const int iy = y + ky - 1, ix = x + kx - 1;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
                        const float *pi = in + (((size_t)i * h + iy) * h + ix) * c;
                        const float *pg = dout + (((size_t)i * h + y) * h + x) * k;
                        double *pd = dw + (size_t)(ky * 3 + kx) * c * k;
                        for (int ci = 0; ci < c; ci++)
                            for (int o = 0; o < k; o++) pd[(size_t)ci * k + o] += (double)pi[ci] * (double)pg[o];
                    }
}

/* largest |got - want| over the largest |want| */
static double rel_err(const float *got, const double *want, size_t n)
{
    double e = 0, m = 0;
    for (size_t j = 0; j < n; j++) {
        e = fmax(e, fabs((double)got[j] - want[j]));
        m = fmax(m, fabs(want[j]));
    }
    return e / m;
}

int main(int argc, char **argv)
{
    if (argc > 1) min_secs = atof(argv[1]);
    cnn_gemm_init(1);
    CnnIsa isa;
    CnnErr err;
    if (cnn_cpu_isa(&isa, NULL, &err)) CNN_DIE("%s", err.msg);
    if (!cnn_kernels(isa)->tiles) {
        printf("conv3x3: the tiled kernels need AVX2 + FMA; %s here\n", cnn_isa_name(isa));
        return 0;
    }
    const Layer layers[] = {
        {"resnet20", "stage1 conv", 32, 32, 16, 16},   {"resnet20", "stage2 conv", 32, 16, 32, 32},
        {"resnet20", "stage3 conv", 32, 8, 64, 64},    {"airbench94", "b1_conv1", 64, 31, 24, 64},
        {"airbench94", "b1_conv2", 64, 15, 64, 64},    {"airbench94", "b2_conv1", 64, 15, 64, 256},
        {"airbench94", "b2_conv2", 64, 7, 256, 256},   {"airbench94", "b3_conv1", 64, 7, 256, 256},
        {"airbench94", "b3_conv2", 64, 3, 256, 256},
    };
    printf("3x3 SAME convolutions, 1 thread, %s; ms per micro-shard (GFLOP/s counted as direct); rounding:\n"
           "largest error / largest exact value, forward and weight gradient, against float64; * = auto's choice\n",
           cnn_isa_name(isa));
    printf("%-10s %-12s %3s %5s %9s  %-7s %16s %16s %16s %9s %9s\n", "net", "layer", "n", "hw", "cin>cout",
           "family", "fwd ms (GF/s)", "dW ms (GF/s)", "dX ms (GF/s)", "err fwd", "err dW");
    CnnRng rng;
    cnn_rng_init(&rng, 12345, 0, 0, 0);
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; li++) {
        const Layer *l = &layers[li];
        CnnConvShape s;
        cnn_conv_shape(&s, l->n, l->hw, l->hw, l->cin, l->cout, 3, 1, 1);
        s.needs_din = 1;
        const size_t nin = (size_t)l->n * l->hw * l->hw * l->cin, nout = (size_t)l->n * l->hw * l->hw * l->cout;
        const size_t nw = (size_t)9 * l->cin * l->cout;
        float *in = cnn_aligned(nin * 4), *out = cnn_aligned(nout * 4), *dout = cnn_aligned(nout * 4);
        float *w = cnn_aligned(nw * 4), *dw = cnn_aligned(nw * 4), *din = cnn_aligned(nin * 4);
        float *db = cnn_aligned((size_t)l->cout * 4);
        double *ref = malloc(nout * sizeof *ref), *refw = malloc(nw * sizeof *refw);
        const float ws_scale = sqrtf(2.0f / (9.0f * l->cin)), gs = sqrtf(2.0f / (9.0f * l->cout));
        for (size_t j = 0; j < nin; j++) in[j] = cnn_rng_range(&rng, -1, 1);
        for (size_t j = 0; j < nw; j++) w[j] = cnn_rng_range(&rng, -1, 1) * ws_scale;
        for (size_t j = 0; j < nout; j++) dout[j] = cnn_rng_range(&rng, -1, 1) * gs;
        ref_forward(ref, in, w, l);
        ref_weight_grad(refw, in, dout, l);
        CnnConvPlan autop;
        if (cnn_conv_plan(&autop, &s, CNN_CONV_AUTO, isa, 1, &err)) CNN_DIE("%s", err.msg);
        const double flop = 2.0 * nout * 9.0 * l->cin;
        for (size_t fi = 0; fi < sizeof families / sizeof families[0]; fi++) {
            const Family *f = &families[fi];
            CnnConvPlan p;
            if (cnn_conv_plan(&p, &s, f->kernel, isa, 1, &err)) CNN_DIE("%s", err.msg);
            if (p.fwd != f->algo) continue; /* the family does not apply here */
            float *ws = cnn_aligned((p.ws_floats ? p.ws_floats : 1) * 4);
            memset(ws, 0, p.ws_floats * 4);
            double tf, tw, tb;
            TIME_IT(tf, min_secs, cnn_conv_forward(out, ws, in, w, NULL, &p, l->n));
            const double ef = rel_err(out, ref, nout);
            TIME_IT(tw, min_secs, cnn_conv_backward(NULL, dw, db, ws, dout, in, w, &p, l->n, 0, CNN_GRAD_OVERWRITE));
            const double ew = rel_err(dw, refw, nw);
            TIME_IT(tb, min_secs, cnn_conv_backward(din, dw, db, ws, dout, in, w, &p, l->n, 0, CNN_GRAD_OVERWRITE));
            tb = tb > tw ? tb - tw : tb;
            const int chosen = autop.fwd == p.fwd && autop.wgrad == p.wgrad && autop.dgrad == p.dgrad;
            char cf[32], cw[32], cb[32];
            snprintf(cf, sizeof cf, "%.2f (%.0f)", tf * 1e3, flop / tf / 1e9);
            snprintf(cw, sizeof cw, "%.2f (%.0f)", tw * 1e3, flop / tw / 1e9);
            snprintf(cb, sizeof cb, "%.2f (%.0f)", tb * 1e3, flop / tb / 1e9);
            char shape[24];
            snprintf(shape, sizeof shape, "%d>%d", l->cin, l->cout);
            printf("%-10s %-12s %3d %5d %9s %c%-7s %16s %16s %16s %9.1e %9.1e\n", l->net, l->name, l->n, l->hw, shape,
                   chosen ? '*' : ' ', f->label, cf, cw, cb, ef, ew);
            fflush(stdout);
            free(ws);
        }
        free(in), free(out), free(dout), free(w), free(dw), free(din), free(db), free(ref), free(refw);
    }
    return 0;
}
