/* winograd: F(2x2, 5x5) for 5x5 stride-1 convolutions with even output sizes, cin % 8 == 0 and
 * cout % 16 == 0. Each 2x2 block of outputs comes from the 6x6 block of padded input under it as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A: 36 multiplications per 2x2 outputs and channel pair instead of
 * 100. Matrices from the points 0, 1, -1, 2, -2 and infinity, with B^T scaled to integers (the
 * fractions moved into G, which is applied once per step to the weights):
 *   B^T = [4 0 -5 0 1 0; 0 4 4 -1 -1 0; 0 -4 4 1 -1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0 0 0; 1/6 (1 1 1 1 1); 1/6 (1 -1 1 -1 1); 1/24 (1 2 4 8 16); 1/24 (1 -2 4 -8 16); 0 0 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
 * The 36 products are 36 small matrix products over the input channels, [tiles][cin] x [cin][cout], on
 * the gemm tiles; tiles go in blocks of CNN_WINO_TB. The transforms work on a vector of channels at
 * a time with the same operations on every lane (and a masked vector for the last 8 channels when a
 * 16-lane vector does not fit), so their results do not depend on the vector width either. */
#include "tiles.h"

#if HAS_TILES

#include "cnn/nn/parallel.h"
#include "cnn/util.h"

#define TB CNN_WINO_TB

/* n == VL: whole vectors; else the first n lanes */
static inline __attribute__((always_inline)) vf ldn(const float *p, int n) { return n == VL ? vload(p) : vload_n(p, n); }
static inline __attribute__((always_inline)) void stn(float *p, vf v, int n)
{
    if (n == VL)
        vstore(p, v);
    else
        vstore_n(p, v, n);
}

/* y = B^T x for six vectors */
static inline void bt6(vf y[6], const vf x[6])
{
    y[0] = 4 * x[0] - 5 * x[2] + x[4];
    y[1] = 4 * (x[1] + x[2]) - (x[3] + x[4]);
    y[2] = 4 * (x[2] - x[1]) + (x[3] - x[4]);
    y[3] = 2 * (x[3] - x[1]) + (x[4] - x[2]);
    y[4] = 2 * (x[1] - x[3]) + (x[4] - x[2]);
    y[5] = 4 * x[1] - 5 * x[3] + x[5];
}

/* y = A^T x for six vectors */
static inline void at6(vf y[2], const vf x[6])
{
    y[0] = x[0] + x[1] + x[2] + x[3] + x[4];
    y[1] = (x[1] - x[2]) + 2 * (x[3] - x[4]) + x[5];
}

/* G of the weight transform (and of the weight gradient's inverse), with B^T's fractions in it */
static const float WG[6][5] = {
    {1.0f / 4, 0, 0, 0, 0},
    {1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6},
    {1.0f / 6, -1.0f / 6, 1.0f / 6, -1.0f / 6, 1.0f / 6},
    {1.0f / 24, 2.0f / 24, 4.0f / 24, 8.0f / 24, 16.0f / 24},
    {1.0f / 24, -2.0f / 24, 4.0f / 24, -8.0f / 24, 16.0f / 24},
    {0, 0, 0, 0, 1},
};

/* The kernel's input channels a and output channels b: (cin, cout), or for the data gradient (cout, cin)
 * of the flipped kernel, k[ky][kx][a][b] = w[4-ky][4-kx][b][a]. u[pos][panel][a][nr]: each position's
 * [na][nb] matrix in panels for the gemm tiles. */
static inline __attribute__((always_inline)) void weights_vec(float *u, const float *w, int cin, int cout, int flipped,
                                                              int a, int b, int n, int nr, int na, int panels)
{
    vf k[5][5], t[6][5];
    for (int ky = 0; ky < 5; ky++)
        for (int kx = 0; kx < 5; kx++) {
            if (!flipped) {
                k[ky][kx] = ldn(w + (((size_t)ky * 5 + (size_t)kx) * cin + (size_t)a) * cout + (size_t)b, n);
            } else {
                const size_t tap = (size_t)(4 - ky) * 5 + (size_t)(4 - kx);
                const float *src = w + (tap * cin + (size_t)b) * cout + (size_t)a;
                float gl[VL];
                for (int l = 0; l < n; l++) gl[l] = src[(size_t)l * cout];
                k[ky][kx] = ldn(gl, n);
            }
        }
    for (int i = 0; i < 6; i++)
        for (int kx = 0; kx < 5; kx++) {
            vf acc = k[0][kx] * WG[i][0];
            for (int ky = 1; ky < 5; ky++) acc += k[ky][kx] * WG[i][ky];
            t[i][kx] = acc; /* (G k)[i][kx] */
        }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            vf acc = t[i][0] * WG[j][0];
            for (int kx = 1; kx < 5; kx++) acc += t[i][kx] * WG[j][kx];
            const size_t panel = (size_t)(i * 6 + j) * panels + (size_t)(b / nr);
            stn(u + (panel * na + (size_t)a) * nr + (size_t)(b % nr), acc, n);
        }
}

void KFN(winograd_weights)(float *u, const float *w, int cin, int cout, int flipped)
{
    const int na = flipped ? cout : cin, nb = flipped ? cin : cout, nr = tile_panel(nb), panels = nb / nr;
    CNN_ASSERT(nb % 16 == 0 && nb % nr == 0);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb; b += VL) {
            if (nb - b >= VL)
                weights_vec(u, w, cin, cout, flipped, a, b, VL, nr, na, panels);
            else
                weights_vec(u, w, cin, cout, flipped, a, b, nb - b, nr, na, panels);
        }
}

/* Sample and top-left output pixel of tile tt (tiles run over samples, then rows, then columns). */
static void tile_origin(const CnnConvdGeom *g, long tt, int *img, int *y0, int *x0)
{
    const int tx_n = g->ow / 2, per = tx_n * (g->oh / 2), rem = (int)(tt % per);
    *img = (int)(tt / per);
    *y0 = 2 * (rem / tx_n);
    *x0 = 2 * (rem % tx_n);
}

/* v[pos][t][c..c+n) = (B^T d B)[pos] of the 6x6 block at base, positions [pos0, pos1). */
static inline __attribute__((always_inline)) void input_transform_vec(float *v, const float *base, size_t pw,
                                                                      int cin, int t, int c, int n, int pos0,
                                                                      int pos1)
{
    vf d[6], r[6][6], col[6], o[6];
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) d[j] = ldn(base + ((size_t)i * pw + (size_t)j) * cin + c, n);
        bt6(r[i], d); /* r[i][j] = (d B)[i][j]: the row transform of input row i */
    }
    for (int j = 0; j < 6; j++) {
        for (int i = 0; i < 6; i++) col[i] = r[i][j];
        bt6(o, col); /* (B^T d B)[i][j] */
        for (int i = 0; i < 6; i++) {
            const int pos = i * 6 + j;
            if (pos >= pos0 && pos < pos1) stn(v + ((size_t)pos * TB + (size_t)t) * cin + c, o[i], n);
        }
    }
}

/* v[pos][t][ci] for tile tt of in_pad (row t of the block), positions [pos0, pos1). */
static void input_transform(float *v, const float *in_pad, const CnnConvdGeom *g, long tt, int t, int pos0, int pos1)
{
    const int cin = g->cin;
    int img, y0, x0;
    tile_origin(g, tt, &img, &y0, &x0);
    const float *base = in_pad + (((size_t)img * g->ph + (size_t)y0) * g->pw + (size_t)x0) * cin;
    int c = 0;
    for (; c + VL <= cin; c += VL) input_transform_vec(v, base, (size_t)g->pw, cin, t, c, VL, pos0, pos1);
    if (c < cin) input_transform_vec(v, base, (size_t)g->pw, cin, t, c, cin - c, pos0, pos1);
}

/* out[2x2 block of tile t] = A^T M A (+ bias) for channels [c, c+n) */
static inline __attribute__((always_inline)) void output_transform_vec(float *ob, const float *m, const float *bias,
                                                                       int ow, int cout, int t, int c, int n)
{
    vf mm[6], r[6][2], col[6], y[2];
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) mm[j] = ldn(m + ((size_t)(i * 6 + j) * TB + (size_t)t) * cout + c, n);
        at6(r[i], mm);
    }
    const vf b = bias ? ldn(bias + c, n) : vzero();
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 6; i++) col[i] = r[i][j];
        at6(y, col);
        for (int i = 0; i < 2; i++) stn(ob + ((size_t)i * ow + (size_t)j) * cout + c, y[i] + b, n);
    }
}

typedef struct {
    float *out;
    const float *in_pad, *u, *bias;
    const CnnConvdGeom *g;
    float *scratch;
    int blocks;
} WinoJob;

static void wino_part(void *arg, int part, int parts)
{
    const WinoJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, nr = tile_panel(cout), nv = nr / VL, mr = tile_rows(nv);
    const int panels = cout / nr;
    const long tiles = (long)g->n * (g->ow / 2) * (g->oh / 2);
    float *v = job->scratch + (size_t)part * 36 * TB * (size_t)(cin + cout); /* [36][TB][cin] */
    float *m = v + (size_t)36 * TB * cin;                                     /* [36][TB][cout] */
    const int b0 = (int)((long)job->blocks * part / parts), b1 = (int)((long)job->blocks * (part + 1) / parts);
    for (int blk = b0; blk < b1; blk++) {
        const long t0 = (long)blk * TB;
        const int nt = tiles - t0 < TB ? (int)(tiles - t0) : TB;
        for (int t = 0; t < nt; t++) input_transform(v, job->in_pad, g, t0 + t, t, 0, 36);
        /* the 36 products M[pos] = V[pos] x U[pos] */
        for (int pos = 0; pos < 36; pos++)
            for (int q = 0; q < panels; q++) {
                GemmTile gt = {.astep = 0,
                               .rows = 1,
                               .klen = cin,
                               .b = job->u + ((size_t)pos * panels + (size_t)q) * cin * nr,
                               .ldb = (size_t)nr,
                               .nc = nr,
                               .acc = 0,
                               .bias = NULL};
                for (int i0 = 0; i0 < nt; i0 += mr) {
                    const int R = nt - i0 < mr ? nt - i0 : mr;
                    const float *px[TILE_R_MAX];
                    float *po[TILE_R_MAX];
                    for (int r = 0; r < R; r++) {
                        px[r] = v + ((size_t)pos * TB + (size_t)(i0 + r)) * cin;
                        po[r] = m + ((size_t)pos * TB + (size_t)(i0 + r)) * cout + (size_t)q * nr;
                    }
                    gt.a = px;
                    gt.c = po;
                    gemm_tile(R, nv, &gt);
                }
            }
        /* output transform: Y = A^T M A (+ bias) */
        for (int t = 0; t < nt; t++) {
            int img, y0, x0;
            tile_origin(g, t0 + t, &img, &y0, &x0);
            float *ob = job->out + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            int c = 0;
            for (; c + VL <= cout; c += VL) output_transform_vec(ob, m, job->bias, g->ow, cout, t, c, VL);
            if (c < cout) output_transform_vec(ob, m, job->bias, g->ow, cout, t, c, cout - c);
        }
    }
}

void KFN(winograd_forward)(float *out, const float *in_pad, const float *u, const float *bias, const CnnConvdGeom *g,
                           float *scratch, int parts)
{
    const long tiles = (long)g->n * (g->oh / 2) * (g->ow / 2);
    const int blocks = (int)((tiles + TB - 1) / TB);
    WinoJob job = {out, in_pad, u, bias, g, scratch, blocks};
    cnn_parallel_run(wino_part, &job, parts < blocks ? parts : blocks);
}

/* The weight gradient. The forward is linear in the kernel g: per tile and channel pair
 * y = A^T [ (G g G^T) (.) (B^T d B) ] A, so the gradient of sum(dy * y) with respect to g is
 * G^T [ (B^T d B) (.) (A dy A^T) ] G. Summed over tiles and samples: 36 products
 * P[pos] = V[pos]^T Z[pos] over the tiles (V: the transformed inputs, as in the forward; Z: the
 * transformed output gradients), then dw += G^T P G once per call. Each P element is summed over
 * the tiles in order, whatever the thread count (threads split the 36 positions). */

/* z[6] = A u for two vectors: A = (A^T)^T has rows (1,0) (1,1) (1,-1) (1,2) (1,-2) (0,1) */
static inline void a6(vf z[6], vf u0, vf u1)
{
    z[0] = u0;
    z[1] = u0 + u1;
    z[2] = u0 - u1;
    z[3] = u0 + 2 * u1;
    z[4] = u0 - 2 * u1;
    z[5] = u1;
}

typedef struct {
    const float *in_pad, *dout;
    const CnnConvdGeom *g;
    float *scratch, *p;
    int blocks;
} WinoWgJob;

static void wino_wg_part(void *arg, int part, int parts)
{
    const WinoWgJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, nr = tile_panel(cout), nv = nr / VL, mr = tile_rows(nv);
    const long tiles = (long)g->n * (g->ow / 2) * (g->oh / 2);
    const int pos0 = 36 * part / parts, pos1 = 36 * (part + 1) / parts;
    float *v = job->scratch + (size_t)part * 36 * TB * (size_t)(cin + cout); /* [36][TB][cin] */
    float *z = v + (size_t)36 * TB * cin;                                     /* [36][TB][cout] */
    for (int blk = 0; blk < job->blocks; blk++) {
        const long t0 = (long)blk * TB;
        const int nt = tiles - t0 < TB ? (int)(tiles - t0) : TB;
        for (int t = 0; t < nt; t++) {
            int img, y0, x0;
            tile_origin(g, t0 + t, &img, &y0, &x0);
            input_transform(v, job->in_pad, g, t0 + t, t, pos0, pos1); /* V, as in the forward */
            const float *gb = job->dout + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            for (int c = 0; c < cout; c += VL) { /* Z = A dy A^T; cout % 16 == 0 */
                vf r0[6], r1[6], col[6];
                a6(r0, vload(gb + c), vload(gb + cout + c));                                         /* row 0 of dy */
                a6(r1, vload(gb + (size_t)g->ow * cout + c), vload(gb + ((size_t)g->ow + 1) * cout + c)); /* row 1 */
                for (int j = 0; j < 6; j++) {
                    a6(col, r0[j], r1[j]);
                    for (int i = 0; i < 6; i++) {
                        const int pos = i * 6 + j;
                        if (pos >= pos0 && pos < pos1) vstore(z + ((size_t)pos * TB + (size_t)t) * cout + c, col[i]);
                    }
                }
            }
        }
        /* P[pos] += V[pos]^T Z[pos]: rows of input channels x a panel of output channels, over the tiles */
        for (int pos = pos0; pos < pos1; pos++)
            for (int q = 0; q < cout; q += nr)
                for (int c0 = 0; c0 < cin; c0 += mr) {
                    const int R = cin - c0 < mr ? cin - c0 : mr;
                    const ReduceTile rt = {.c = job->p + ((size_t)pos * cin + (size_t)c0) * cout + (size_t)q,
                                           .ldc = (size_t)cout,
                                           .nc = nr,
                                           .zero = blk == 0, /* P starts at the first block's sums */
                                           .a = v + (size_t)pos * TB * cin + c0,
                                           .arow = 0,
                                           .acol = (size_t)cin,
                                           .g = z + (size_t)pos * TB * cout + q,
                                           .grow = 0,
                                           .gcol = (size_t)cout,
                                           .oh = 1,
                                           .ow = nt};
                    reduce_tile(R, nv, &rt);
                }
    }
}

void KFN(winograd_weight_grad)(float *dw, const float *in_pad, const float *dout, const CnnConvdGeom *g, float *p,
                               float *scratch, int parts, int overwrite)
{
    const int cin = g->cin, cout = g->cout;
    const long tiles = (long)g->n * (g->oh / 2) * (g->ow / 2);
    WinoWgJob job = {in_pad, dout, g, scratch, p, (int)((tiles + TB - 1) / TB)};
    cnn_parallel_run(wino_wg_part, &job, parts < 36 ? parts : 36);
    /* dw[ky][kx][ci][co] += (G^T P G)[ky][kx], a vector of output channels at a time */
    for (int ci = 0; ci < cin; ci++)
        for (int c = 0; c < cout; c += VL) {
            vf t[6][5];
            for (int i = 0; i < 6; i++) {
                vf row[6];
                for (int j = 0; j < 6; j++) row[j] = vload(p + ((size_t)(i * 6 + j) * cin + (size_t)ci) * cout + c);
                for (int kx = 0; kx < 5; kx++) {
                    vf acc = row[0] * WG[0][kx];
                    for (int j = 1; j < 6; j++) acc += row[j] * WG[j][kx];
                    t[i][kx] = acc; /* (P G)[i][kx] */
                }
            }
            for (int ky = 0; ky < 5; ky++)
                for (int kx = 0; kx < 5; kx++) {
                    vf acc = t[0][kx] * WG[0][ky];
                    for (int i = 1; i < 6; i++) acc += t[i][kx] * WG[i][ky];
                    float *d = dw + (((size_t)ky * 5 + (size_t)kx) * cin + (size_t)ci) * cout + c;
                    vstore(d, (overwrite ? vzero() : vload(d)) + acc);
                }
        }
}

#endif
