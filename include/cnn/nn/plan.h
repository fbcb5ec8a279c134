/* plan: which code computes each product of a layer, decided once, in this one place, when the model is
 * built: from the layer's shape, the kernel asked for (run.conv), the instruction set the ranks agreed
 * on (cpu.h) and the threads per rank. The plan also lays out the layer's workspace.
 *
 * Kernel families. A family fixes the order of every sum, so results are bitwise the same wherever the
 * same family runs (any rank count, any thread count, AVX2 or AVX-512); different families agree to
 * rounding only.
 *   sgemm     im2col + OpenBLAS sgemm (convolutions), OpenBLAS sgemm (dense layers). OpenBLAS picks
 *             its own kernels per CPU (and OPENBLAS_CORETYPE), so its bits follow OpenBLAS's core.
 *   direct    cnn-dist's register-tiled stride-1 convolution (src/nn/kernels/direct.c).
 *   winograd  Winograd F(2x2, r x r) for 3x3 and 5x5 stride-1 convolutions (src/nn/kernels/winograd.c),
 *             all three products.
 *   winograd4 Winograd F(4x4, r x r): 4x (3x3) and 6.25x (5x5) fewer multiplications than direct.
 *   winograd6 Winograd F(6x6, 3x3): 5.06x fewer; rounding about twice F(4x4)'s.
 *             5x5 takes output sizes that are multiples of m only (so every 5x5 layer keeps the family,
 *             and the bits, it always had); 3x3 takes any size, with edge tiles cut by the border.
 *   tiles     cnn-dist's dense-layer products (src/nn/kernels/dense.c).
 * The tiled families need AVX2 + FMA (kernels.h). The rule, from the measurements in bench/RESULTS.md
 * (fastest first on every conv shape of the shipped networks; 3x3: bench/conv3x3.c on the AVX-512 Zen 4,
 * where F(4x4) beat direct, F(2x2) and F(6x6) on every 3x3 layer of ResNet-20 and airbench94 but two
 * within 5%): run.conv = auto (and winograd) takes winograd4 where it applies, else winograd, else
 * direct, else sgemm, for each of the three products; winograd2 stops at F(2x2), winograd4 at F(4x4),
 * winograd6 takes F(6x6) where it applies; dense layers take tiles; on the generic instruction set
 * everything is sgemm.
 * The rule depends on nothing measured at start-up, so a machine and a config always get the same
 * kernels (and bits). */
#ifndef CNN_NN_PLAN_H
#define CNN_NN_PLAN_H

#include <stddef.h>

#include "cnn/config.h"
#include "cnn/cpu.h"
#include "cnn/nn/kernels.h"
#include "cnn/nn/layers.h"

typedef enum {
    CNN_ALGO_SGEMM,
    CNN_ALGO_DIRECT,
    CNN_ALGO_WINOGRAD,  /* F(2x2, r x r) */
    CNN_ALGO_WINOGRAD4, /* F(4x4, r x r) */
    CNN_ALGO_TILES,
    CNN_ALGO_WINOGRAD6, /* F(6x6, 3x3) */
} CnnAlgo;

/* "sgemm", "direct", "winograd" (F(2x2)), "winograd4" (F(4x4)), "winograd6" (F(6x6)), "tiles" */
const char *cnn_algo_name(CnnAlgo a);

struct CnnConvPlan {
    CnnConvShape s;          /* the geometry, at the largest batch the workspace holds */
    const CnnKernels *k;     /* the instruction set's kernels */
    int threads;             /* threads the tiled kernels may use; the workspace is sized for them */
    CnnAlgo fwd, dgrad, wgrad; /* the three products (dgrad unused when !s.needs_din) */
    int fwd_m, dgrad_m, wgrad_m; /* their Winograd tile m (0: not Winograd), what conv.c runs */
    /* sgemm: the input is already the column matrix (1x1, stride 1, no padding); the data gradient is
     * lowered as a transposed stride-1 conv; floats per sample of a chunk's columns; samples per chunk */
    int gemm_in_place, gemm_transposed;
    size_t gemm_per_sample;
    int gemm_chunk;
    size_t ws_floats;        /* workspace the layer needs */
    /* the tiled kernels' workspace, [in_pad][dout_pad][wp][wtp][scratch][wcopy][wcopy_t][wgp] (offsets in
     * floats, 16-float aligned): padded copies of the input and of dout (for the direct kernels, and
     * the dilated dout of a strided data gradient; empty where Winograd reads the tensor itself), the
     * forward's and the data gradient's weights (packed in panels, or Winograd-transformed), the
     * Winograd scratch, the weights each transform was made from, and the weight gradient's alpha^2
     * products */
    CnnConvdGeom g;          /* forward: padded input -> output */
    CnnConvdGeom gt;         /* data gradient: padded dout -> din, flipped kernel */
    size_t in_pad, dout_pad, wp, wtp, scratch, wcopy, wcopy_t, wgp;
};

/* 1 if the direct kernels can compute the shape (cout % 8 == 0, any kernel size; stride 1 or cin % 8 == 0): the
 * same answer on every instruction set, so the family never depends on the CPU. */
int cnn_conv_direct_applies(const CnnConvShape *s);
/* 1 if Winograd F(m x m, r x r) can compute a padded geometry (r = 5 with m = 2 or 4, r = 3 with m = 2, 4
 * or 6; output sizes multiples of m, cin % 8 == 0, cout % 16 == 0). */
int cnn_conv_winograd_applies(const CnnConvdGeom *g, int m);
/* m of a Winograd algorithm (2, 4 or 6), 0 for the others. */
int cnn_algo_winograd_m(CnnAlgo a);
/* Plans a conv layer. requested: run.conv. An error (direct or winograd asked for on the generic
 * instruction set) is returned in err without the config's file and line, which the caller adds. */
int cnn_conv_plan(CnnConvPlan *p, const CnnConvShape *s, CnnConvKernel requested, CnnIsa isa, int threads,
                  CnnErr *err);
/* What computes the layer, for --summary and logs: "winograd", "direct", "sgemm", or a mix such as
 * "winograd fwd+dW, direct dX". */
void cnn_conv_plan_name(const CnnConvPlan *p, char *buf, size_t n);

/* ---- the time model: --summary's predicted time per layer ----
 * Milliseconds of a planned layer's products for n samples on one thread whose FMA peak is `peak`
 * GFLOP/s: each family's arithmetic at the share of the peak it reaches on the measurements of
 * bench/RESULTS.md (bench/conv3x3 and bench/layer_table.py on a Zen 4 core): direct 0.85, strided 0.6,
 * times row / 10 where a row of the kernel holds fewer than 10 products (the whitening conv's 2 x 3),
 * Winograd's alpha^2 products 0.85
 * forward and for the data gradient, 0.66 for the weight gradient, plus its transforms at CNN_WINO_TF
 * flops-equivalent per transformed value (input and output side, every tile); sgemm 0.7; the dense
 * tiles 0.7. The model predicts; it does not choose (the rule above does, the same on every CPU).
 * cnn_fma_peak measures `peak`: the FMA probe of the kernels (fma_probe) for about 20 ms on this thread;
 * 0 on the generic instruction set. */
#define CNN_WINO_TF 32.0
typedef struct {
    double fwd, dgrad, wgrad; /* ms; dgrad 0 when the layer computes no data gradient */
} CnnPlanTime;
void cnn_conv_plan_time(const CnnConvPlan *p, int n, double peak, CnnPlanTime *t);
void cnn_dense_plan_time(const struct CnnDensePlan *p, int n, int needs_din, double peak, CnnPlanTime *t);
double cnn_fma_peak(const CnnKernels *k);

struct CnnDensePlan {
    int nin, nout, max_n;
    const CnnKernels *k;
    CnnAlgo algo;            /* tiles or sgemm */
    size_t ldw;              /* tiles: the row stride the forward reads w with; > nout: a padded copy at ws + wpad */
    int npad;                /* tiles: the sample count rounded up to 16 lanes (data gradient) */
    size_t wpad, dpad, doutt, dint, ws_floats; /* workspace offsets (floats) and size */
};

void cnn_dense_plan(CnnDensePlan *p, int nin, int nout, int max_n, CnnIsa isa);

#endif
