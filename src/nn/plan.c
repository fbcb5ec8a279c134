/* plan: the kernel decision and the workspace layout of every conv and dense layer (see the header). */
#include "cnn/nn/plan.h"

#include <stdio.h>
#include <string.h>

#include "cnn/util.h"

static const char *const algo_names[] = {"sgemm", "direct", "winograd", "winograd4", "tiles", "winograd6"};

const char *cnn_algo_name(CnnAlgo a) { return (unsigned)a < 6 ? algo_names[a] : "?"; }

int cnn_algo_winograd_m(CnnAlgo a)
{
    return a == CNN_ALGO_WINOGRAD ? 2 : a == CNN_ALGO_WINOGRAD4 ? 4 : a == CNN_ALGO_WINOGRAD6 ? 6 : 0;
}

int cnn_conv_direct_applies(const CnnConvShape *s)
{
    /* filters a multiple of 8 (AVX2's vector; AVX-512 masks the last panel's lanes: airbench's 24-filter
     * whitening conv), any kernel size, 1x1 included (ResNet's projection shortcuts): cnn-dist's own tiles,
     * whose sums are in one order on every CPU, where OpenBLAS's sgemm rounds as its kernel for the CPU
     * does */
    if (s->cout % 8 != 0) return 0;
    /* strided: from 8 input channels (ResNet's downsampling layers). The strided layers of configs that
     * existed before (configs/tiny.ini's 3-channel conv1) keep im2col + OpenBLAS and so their bits, and
     * the checkpoints they wrote resume bit for bit. */
    return s->stride == 1 || s->cin % 8 == 0;
}

/* cout_mult: 16 for a layer's forward and weight gradient, 8 for a data gradient (whose products the
 * Winograd forward computes in padded panels; the weight gradient has no such padding) */
static int winograd_fits(const CnnConvdGeom *g, int m, int cout_mult)
{
    if (g->stride != 1 || g->kh != g->kw || g->cin % 8 != 0 || g->cout % cout_mult != 0) return 0;
    if (g->kh == 5) return (m == 2 || m == 4) && g->oh % m == 0 && g->ow % m == 0;
    return g->kh == 3 && (m == 2 || m == 4 || m == 6);
}

int cnn_conv_winograd_applies(const CnnConvdGeom *g, int m) { return winograd_fits(g, m, 16); }

/* ---- the im2col + sgemm lowering's layout (conv.c runs it from these plan fields) ---- */

/* Floats of im2col workspace to aim for (16 MB): big enough for efficient sgemm, small enough to stay
 * out of the way of the activations. */
#define WS_TARGET ((size_t)4 << 20)

/* The input is the column matrix: [n*h*w][cin] == [n*oh*ow][1*1*cin]. */
static int conv_is_direct(const CnnConvShape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad_top == 0 && s->pad_left == 0;
}

/* Floats of one sample's column matrix [oh*ow][kh*kw*cin]. */
static size_t cols_per_sample(const CnnConvShape *s)
{
    return cnn_mul_size(cnn_mul_size((size_t)s->oh * (size_t)s->ow, (size_t)s->kh * (size_t)s->kw),
                        (size_t)s->cin);
}

/* The data gradient of a stride-1 conv is itself a stride-1 conv: of dout (oh x ow x cout, padded by
 * k-1-pad on each side) with the kernel flipped in space and cin/cout swapped. Lowering it like the
 * forward (im2col + one sgemm) replaces the sgemm into a [rows][kh*kw*cin] matrix plus a scatter-add
 * col2im, which reads and writes every input pixel kh*kw times, by a gather and the same FLOPs. */
static int conv_transposable(const CnnConvShape *s) { return s->stride == 1 && !conv_is_direct(s); }

/* Floats per sample that a chunk of the workspace must hold: forward columns, or the transposed
 * conv's columns (h*w rows of kh*kw*cout) when backward uses it. */
static size_t ws_per_sample(const CnnConvShape *s)
{
    size_t per = cols_per_sample(s);
    if (conv_transposable(s)) {
        size_t t = cnn_mul_size(cnn_mul_size((size_t)s->h * (size_t)s->w, (size_t)s->kh * (size_t)s->kw),
                                (size_t)s->cout);
        if (t > per) per = t;
    }
    return per;
}

/* Samples per chunk. */
static int conv_chunk(const CnnConvShape *s)
{
    size_t per = ws_per_sample(s);
    size_t c = per ? WS_TARGET / per : (size_t)s->n;
    if (c < 1) c = 1;
    if (c > (size_t)s->n) c = (size_t)s->n;
    return (int)c;
}

static void gemm_layout(CnnConvPlan *p)
{
    const CnnConvShape *s = &p->s;
    p->gemm_in_place = conv_is_direct(s);
    p->gemm_transposed = conv_transposable(s);
    p->gemm_per_sample = ws_per_sample(s);
    p->gemm_chunk = conv_chunk(s);
    if (s->n <= 0 || p->gemm_in_place) return;
    const size_t flipped = p->gemm_transposed ? (size_t)s->kh * s->kw * s->cin * s->cout : 0;
    p->ws_floats = cnn_mul_size((size_t)p->gemm_chunk, p->gemm_per_sample) + flipped;
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* Floats of the weights as a tiled kernel for geometry g wants them: Winograd-transformed, or packed in
 * panels of the instruction set's width (zero past the last column). */
static size_t kernel_floats(const CnnKernels *k, const CnnConvdGeom *g, CnnAlgo a)
{
    const size_t m = (size_t)cnn_algo_winograd_m(a), alpha = m + (size_t)g->kh - 1;
    const size_t nr = (size_t)k->panel_width(g->cout), cols = (g->cout + nr - 1) / nr * nr;
    if (m) return cnn_mul_size(alpha * alpha * (size_t)g->cin, cols);
    return cnn_mul_size((size_t)g->kh * g->kw * g->cin, cols);
}

/* The Winograd scratch of `parts` threads for geometry g: a block's transformed inputs and products, these
 * in whole panels (0 if a is not Winograd); wgrad: the weight gradient's blocks (CNN_WINO_TBW). */
static size_t winograd_scratch_floats(const CnnKernels *k, CnnAlgo a, const CnnConvdGeom *g, int parts, int wgrad)
{
    const size_t m = (size_t)cnn_algo_winograd_m(a), r = (size_t)g->kh, alpha = m + r - 1;
    if (!m) return 0;
    const size_t nr = (size_t)k->panel_width(g->cout), cols = (g->cout + nr - 1) / nr * nr;
    const size_t tb = wgrad ? CNN_WINO_TBW(m, r, g->cin, g->cout) : CNN_WINO_TB(m, r);
    return cnn_mul_size((size_t)parts, alpha * alpha * tb * ((size_t)g->cin + cols));
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void tiled_layout(CnnConvPlan *p)
{
    const CnnConvShape *s = &p->s;
    const size_t n = (size_t)s->n, nw = round16((size_t)s->kh * s->kw * s->cin * s->cout);
    const int wino = cnn_algo_winograd_m(p->fwd) > 0, wino_t = s->needs_din && cnn_algo_winograd_m(p->dgrad) > 0;
    /* padded copies only for the direct kernels and the dilated dout of a strided data gradient: Winograd
     * reads the unpadded tensors (the forward and the weight gradient always share their family) */
    const int copy_in = !wino, copy_dout = s->needs_din && (!wino_t || s->stride > 1);
    p->in_pad = 0;
    p->dout_pad = p->in_pad + (copy_in ? round16(cnn_mul_size(n, (size_t)p->g.ph * p->g.pw * s->cin)) : 0);
    p->wp = p->dout_pad + (copy_dout ? round16(cnn_mul_size(n, (size_t)p->gt.ph * p->gt.pw * s->cout)) : 0);
    p->wtp = p->wp + round16(kernel_floats(p->k, &p->g, p->fwd));
    p->scratch = p->wtp + (s->needs_din ? round16(kernel_floats(p->k, &p->gt, p->dgrad)) : 0);
    const size_t scratch =
        max_size(max_size(winograd_scratch_floats(p->k, p->fwd, &p->g, p->threads, 0),
                          wino_t ? winograd_scratch_floats(p->k, p->dgrad, &p->gt, p->threads, 0) : 0),
                 winograd_scratch_floats(p->k, p->wgrad, &p->g, p->threads, 1));
    p->wcopy = p->scratch + round16(scratch);
    p->wcopy_t = p->wcopy + (wino ? nw : 0);
    p->wgp = p->wcopy_t + (wino_t ? nw : 0);
    const size_t mw = (size_t)cnn_algo_winograd_m(p->wgrad), aw = mw + (size_t)s->kh - 1;
    p->ws_floats = p->wgp + (mw ? round16(cnn_mul_size(aw * aw * s->cin, (size_t)s->cout)) : 0);
}

/* The tiled algorithm for one product's geometry: the largest Winograd tile that applies up to the one
 * asked for (F(6x6) only when asked, F(4x4) for auto and winograd), else direct. dgrad: the data
 * gradient, whose output channels may be a multiple of 8 only, for 3x3 (airbench's 24 whitening channels;
 * 5x5 keeps the rule it always had, and so its bits). */
static CnnAlgo pick(CnnConvKernel requested, const CnnConvdGeom *g, int dgrad)
{
    const int mult = dgrad && g->kh == 3 ? 8 : 16;
    if (requested == CNN_CONV_DIRECT) return CNN_ALGO_DIRECT;
    if (requested == CNN_CONV_WINOGRAD6 && winograd_fits(g, 6, mult)) return CNN_ALGO_WINOGRAD6;
    if (requested != CNN_CONV_WINOGRAD2 && winograd_fits(g, 4, mult)) return CNN_ALGO_WINOGRAD4;
    if (winograd_fits(g, 2, mult)) return CNN_ALGO_WINOGRAD;
    return CNN_ALGO_DIRECT;
}

int cnn_conv_plan(CnnConvPlan *p, const CnnConvShape *s, CnnConvKernel requested, CnnIsa isa, int threads,
                  CnnErr *err)
{
    memset(p, 0, sizeof *p);
    p->s = *s;
    p->k = cnn_kernels(isa);
    p->threads = threads > 0 ? threads : 1;
    if (requested != CNN_CONV_AUTO && requested != CNN_CONV_GEMM && !p->k->tiles)
        return cnn_err(err, "run.conv = %s needs AVX2 and FMA, and the kernels may use only %s here (%s)",
                       cnn_conv_kernel_name(requested), cnn_isa_name(isa), cnn_isa_describe(isa));
    const int tiled = p->k->tiles && requested != CNN_CONV_GEMM && cnn_conv_direct_applies(s);
    if (!tiled) {
        p->fwd = p->dgrad = p->wgrad = CNN_ALGO_SGEMM; /* the m fields stay 0 */
        gemm_layout(p);
        return 0;
    }
    /* the padded input holds every row a window reads, and every input row (a VALID stride may leave the
     * last ones unread); the data gradient is a stride-1 conv of dout dilated by the stride */
    const int st = s->stride, rows = (s->oh - 1) * st + s->kh, cols = (s->ow - 1) * st + s->kw;
    const int ph = rows > s->pad_top + s->h ? rows : s->pad_top + s->h;
    const int pw = cols > s->pad_left + s->w ? cols : s->pad_left + s->w;
    p->g = (CnnConvdGeom){s->n, ph, pw, s->cin, s->oh, s->ow, s->cout, s->kh, s->kw, st,
                          s->h, s->w, s->pad_top, s->pad_left};
    /* stride 1: dout itself at (kh-1-top, kw-1-left); strided: the dilated copy fills the frame */
    const int tph = s->h + s->kh - 1, tpw = s->w + s->kw - 1;
    p->gt = st == 1 ? (CnnConvdGeom){s->n, tph, tpw, s->cout, s->h, s->w, s->cin, s->kh, s->kw, 1,
                                     s->oh, s->ow, s->kh - 1 - s->pad_top, s->kw - 1 - s->pad_left}
                    : (CnnConvdGeom){s->n, tph, tpw, s->cout, s->h, s->w, s->cin, s->kh, s->kw, 1, tph, tpw, 0, 0};
    p->fwd = p->wgrad = pick(requested, &p->g, 0);
    p->dgrad = s->needs_din ? pick(requested, &p->gt, 1) : CNN_ALGO_DIRECT;
    p->fwd_m = cnn_algo_winograd_m(p->fwd);
    p->dgrad_m = cnn_algo_winograd_m(p->dgrad);
    p->wgrad_m = cnn_algo_winograd_m(p->wgrad);
    tiled_layout(p);
    return 0;
}

void cnn_conv_plan_name(const CnnConvPlan *p, char *buf, size_t n)
{
    const CnnAlgo f = p->fwd, d = p->s.needs_din ? p->dgrad : p->fwd, w = p->wgrad;
    if (f == d && d == w)
        snprintf(buf, n, "%s", cnn_algo_name(f));
    else if (f == w)
        snprintf(buf, n, "%s fwd+dW, %s dX", cnn_algo_name(f), cnn_algo_name(d));
    else
        snprintf(buf, n, "%s fwd, %s dX, %s dW", cnn_algo_name(f), cnn_algo_name(d), cnn_algo_name(w));
}

void cnn_dense_plan(CnnDensePlan *p, int nin, int nout, int max_n, CnnIsa isa)
{
    memset(p, 0, sizeof *p);
    p->nin = nin;
    p->nout = nout;
    p->max_n = max_n;
    p->k = cnn_kernels(isa);
    if (!p->k->tiles) {
        p->algo = CNN_ALGO_SGEMM;
        return;
    }
    p->algo = CNN_ALGO_TILES;
    const size_t nr = (size_t)p->k->panel_width(nout);
    p->ldw = ((size_t)nout + nr - 1) / nr * nr;
    p->npad = (max_n + 15) / 16 * 16;
    /* [padded w][padded dout][dout^T][din^T] */
    const size_t padded = p->ldw > (size_t)nout;
    p->wpad = 0;
    p->dpad = p->wpad + (padded ? round16(cnn_mul_size((size_t)nin, p->ldw)) : 0);
    p->doutt = p->dpad + (padded ? round16(cnn_mul_size((size_t)max_n, p->ldw)) : 0);
    p->dint = p->doutt + round16(cnn_mul_size((size_t)nout, (size_t)p->npad));
    p->ws_floats = p->dint + round16(cnn_mul_size((size_t)nin, (size_t)p->npad));
}

/* ---- the time model (plan.h) ---- */

static double ceil_div(int a, int b) { return (double)((a + b - 1) / b); }

/* ms of one product of geometry g (output channels g->cout) by algorithm a, n samples; wgrad: the weight
 * gradient's reduction (its own efficiency) */
static double product_ms(const CnnKernels *k, CnnAlgo a, const CnnConvdGeom *g, int n, int wgrad, double peak)
{
    const double gf = peak * 1e9 / 1e3; /* flops per ms */
    const double direct = 2.0 * n * g->oh * g->ow * g->cout * g->kh * g->kw * g->cin;
    const int m = cnn_algo_winograd_m(a);
    if (a == CNN_ALGO_SGEMM) return direct / (0.7 * gf);
    const double nr = k->panel_width ? k->panel_width(g->cout) : 16, cols = ceil_div(g->cout, (int)nr) * nr;
    if (!m) { /* short kernel rows (the whitening conv's 2 x 3) and strided windows reach less */
        const double row = (double)g->kw * g->cin, fill = row >= 10 ? 1.0 : row / 10;
        return direct * (cols / g->cout) / ((g->stride > 1 ? 0.6 : 0.85) * fill * gf);
    }
    const double alpha = m + g->kh - 1, tiles = n * ceil_div(g->oh, m) * ceil_div(g->ow, m);
    const double products = 2.0 * tiles * alpha * alpha * g->cin * (wgrad ? g->cout : cols);
    const double transforms = tiles * alpha * alpha * (g->cin + g->cout) * CNN_WINO_TF;
    return products / ((wgrad ? 0.66 : 0.85) * gf) + transforms / gf;
}

void cnn_conv_plan_time(const CnnConvPlan *p, int n, double peak, CnnPlanTime *t)
{
    memset(t, 0, sizeof *t);
    if (peak <= 0.0 || n <= 0) return;
    if (p->fwd == CNN_ALGO_SGEMM) { /* the plan keeps no tiled geometry: direct's counts at sgemm's share */
        const CnnConvShape *s = &p->s;
        const double direct = 2.0 * n * s->oh * s->ow * s->cout * s->kh * s->kw * s->cin, gf = peak * 1e6;
        t->fwd = t->wgrad = direct / (0.7 * gf);
        t->dgrad = s->needs_din ? t->fwd : 0.0;
        return;
    }
    t->fwd = product_ms(p->k, p->fwd, &p->g, n, 0, peak);
    t->wgrad = product_ms(p->k, p->wgrad, &p->g, n, 1, peak);
    t->dgrad = p->s.needs_din ? product_ms(p->k, p->dgrad, &p->gt, n, 0, peak) : 0.0;
}

void cnn_dense_plan_time(const CnnDensePlan *p, int n, int needs_din, double peak, CnnPlanTime *t)
{
    memset(t, 0, sizeof *t);
    if (peak <= 0.0 || n <= 0) return;
    const double ms = 2.0 * n * p->nin * p->nout / (0.7 * peak * 1e6);
    t->fwd = t->wgrad = ms;
    t->dgrad = needs_din ? ms : 0.0;
}

double cnn_fma_peak(const CnnKernels *k)
{
    if (!k->fma_probe) return 0.0;
    volatile float sink = k->fma_probe(1000, 0.5f); /* warm up: the clock, the vector units */
    long iters = 100000;
    double best = 0.0;
    for (int round = 0; round < 12; round++) {
        const double t0 = cnn_now();
        sink = k->fma_probe(iters, 0.5f);
        const double dt = cnn_now() - t0;
        if (dt > 0.0) {
            const double gflops = (double)iters * k->fma_probe_flops() / dt / 1e9;
            if (gflops > best) best = gflops;
        }
        if (dt < 1e-3) iters *= 4; /* a round of about 2 ms */
    }
    (void)sink;
    return best;
}
