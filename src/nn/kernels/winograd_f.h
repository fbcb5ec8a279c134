/* winograd_f: the body of Winograd F(WM x WM, WR x WR), included by winograd.c once per output tile WM and
 * kernel size WR, with WF(name) naming the functions and tables of that pair. Each WM x WM block of
 * outputs comes from the WA x WA block of padded input under it (WA = WM + WR - 1) as
 * Y = A^T [ (G g G^T) (.) (B^T d B) ] A: WA^2 multiplications per block and channel pair instead of
 * WR^2 WM^2. The transforms are matrix-vector
 * products over the constant tables below, fully unrolled: zero entries drop out at compile time, +-1
 * entries add or subtract, the others are fused multiply-adds, each output summed in column order. */

#define WA (WM + WR - 1)
#define NPOS (WA * WA)
#define TB CNN_WINO_TB(WM, WR)

/* y[i] = sum_j T[i][j] x[j] (transposed: sum_j T[j][i] x[j]) for vectors x[NJ], the table a constant */
#define WF_MATVEC(y, T, x, NI, NJ, TR)                                                                       \
    do {                                                                                                  \
        _Pragma("GCC unroll 8") for (int i_ = 0; i_ < (NI); i_++)                                         \
        {                                                                                                 \
            vf acc_ = vzero();                                                                            \
            int any_ = 0;                                                                                 \
            _Pragma("GCC unroll 8") for (int j_ = 0; j_ < (NJ); j_++)                                     \
            {                                                                                             \
                const float t_ = TR ? T[j_][i_] : T[i_][j_];                                              \
                if (t_ == 0.0f) continue;                                                                 \
                if (!any_) {                                                                              \
                    if (t_ == 1.0f)                                                                       \
                        acc_ = (x)[j_];                                                                   \
                    else if (t_ == -1.0f)                                                                 \
                        acc_ = -(x)[j_];                                                                  \
                    else                                                                                  \
                        acc_ = vset1(t_) * (x)[j_];                                                       \
                } else if (t_ == 1.0f) {                                                                  \
                    acc_ += (x)[j_];                                                                      \
                } else if (t_ == -1.0f) {                                                                 \
                    acc_ -= (x)[j_];                                                                      \
                } else {                                                                                  \
                    acc_ = vfma(vset1(t_), (x)[j_], acc_);                                                \
                }                                                                                         \
                any_ = 1;                                                                                 \
            }                                                                                             \
            (y)[i_] = acc_;                                                                               \
        }                                                                                                 \
    } while (0)

/* The kernel's input channels a and output channels b: (cin, cout), or for the data gradient (cout, cin)
 * of the flipped kernel, k[ky][kx][a][b] = w[4-ky][4-kx][b][a]. u[pos][panel][a][nr]: each position's
 * [na][nb] matrix in panels for the gemm tiles. */
static inline __attribute__((always_inline)) void WF(weights_vec)(float *u, const float *w, int cin, int cout,
                                                                  int flipped, int a, int b, int n, int nr, int na,
                                                                  int panels)
{
    vf k[WR][WR], t[WA][WR];
    for (int ky = 0; ky < WR; ky++)
        for (int kx = 0; kx < WR; kx++) {
            if (!flipped) {
                k[ky][kx] = ldn(w + (((size_t)ky * WR + (size_t)kx) * cin + (size_t)a) * cout + (size_t)b, n);
            } else {
                const size_t tap = (size_t)(WR - 1 - ky) * WR + (size_t)(WR - 1 - kx);
                const float *src = w + (tap * cin + (size_t)b) * cout + (size_t)a;
                float gl[VL];
                for (int l = 0; l < n; l++) gl[l] = src[(size_t)l * cout];
                k[ky][kx] = ldn(gl, n);
            }
        }
    for (int kx = 0; kx < WR; kx++) { /* t[.][kx] = G k[.][kx] */
        vf col[WR], out[WA];
        for (int ky = 0; ky < WR; ky++) col[ky] = k[ky][kx];
        WF_MATVEC(out, WF(G), col, WA, WR, 0);
        for (int i = 0; i < WA; i++) t[i][kx] = out[i];
    }
    for (int i = 0; i < WA; i++) { /* u[i][.] = G t[i][.] */
        vf out[WA];
        WF_MATVEC(out, WF(G), t[i], WA, WR, 0);
        for (int j = 0; j < WA; j++) {
            const size_t panel = (size_t)(i * WA + j) * panels + (size_t)(b / nr);
            stn(u + (panel * na + (size_t)a) * nr + (size_t)(b % nr), out[j], n);
        }
    }
}

/* Output channels nb not a multiple of the panel (24 on AVX-512: one panel of 32) leave the panels' last
 * columns zero: the products there are computed and never read. */
static void WF(weights)(float *u, const float *w, int cin, int cout, int flipped)
{
    const int na = flipped ? cout : cin, nb = flipped ? cin : cout, nr = tile_panel(nb), panels = (nb + nr - 1) / nr;
    CNN_ASSERT(nb % 8 == 0);
    if (nb % nr)
        for (int pos = 0; pos < NPOS; pos++)
            for (int a = 0; a < na; a++)
                memset(u + (((size_t)pos * panels + (size_t)(panels - 1)) * na + (size_t)a) * nr + (size_t)(nb % nr), 0,
                       (size_t)(nr - nb % nr) * sizeof *u);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb; b += VL) {
            if (nb - b >= VL)
                WF(weights_vec)(u, w, cin, cout, flipped, a, b, VL, nr, na, panels);
            else
                WF(weights_vec)(u, w, cin, cout, flipped, a, b, nb - b, nr, na, panels);
        }
}

/* Tiles of a geometry: WM x WM blocks of outputs over every sample, the last row and column of blocks cut
 * by the edge where the output size is not a multiple of WM (edge tiles: their inputs past the padded
 * input are zeros, their outputs past the edge are not stored, their output gradients there are zeros). */
static long WF(tiles)(const CnnConvdGeom *g)
{
    return (long)g->n * ((g->oh + WM - 1) / WM) * ((g->ow + WM - 1) / WM);
}

/* Sample and top-left output pixel of tile tt (tiles run over samples, then rows, then columns). */
static void WF(tile_origin)(const CnnConvdGeom *g, long tt, int *img, int *y0, int *x0)
{
    const int tx_n = (g->ow + WM - 1) / WM, per = tx_n * ((g->oh + WM - 1) / WM), rem = (int)(tt % per);
    *img = (int)(tt / per);
    *y0 = WM * (rem / tx_n);
    *x0 = WM * (rem % tx_n);
}

static int WF(min)(int a, int b) { return a < b ? a : b; }

/* v[pos][t][c..c+n) = (B^T d B)[pos] of the WA x WA block whose row i, column j is
 * img[origin + (i * w + j) * cin] for i in [r0, r1), j in [c0, c1) and zero elsewhere (the padding, and
 * past the edge), positions [pos0, pos1). */
static inline __attribute__((always_inline)) void WF(input_vec)(float *v, int tb, const float *img, ptrdiff_t origin,
                                                                int w, int cin, int t, int c, int n, int pos0,
                                                                int pos1, int r0, int r1, int c0, int c1)
{
    vf d[WA], r[WA][WA], col[WA], o[WA];
    for (int i = 0; i < WA; i++) {
        for (int j = 0; j < WA; j++)
            d[j] = i >= r0 && i < r1 && j >= c0 && j < c1
                       ? ldn(img + origin + ((ptrdiff_t)i * w + j) * cin + c, n)
                       : vzero();
        WF_MATVEC(r[i], WF(BT), d, WA, WA, 0); /* r[i][j] = (d B)[i][j]: the transform of input row i */
    }
    for (int j = 0; j < WA; j++) {
        for (int i = 0; i < WA; i++) col[i] = r[i][j];
        WF_MATVEC(o, WF(BT), col, WA, WA, 0); /* (B^T d B)[i][j] */
        for (int i = 0; i < WA; i++) {
            const int pos = i * WA + j;
            if (pos >= pos0 && pos < pos1) stn(v + ((size_t)pos * (size_t)tb + (size_t)t) * cin + c, o[i], n);
        }
    }
}

static int WF(max)(int a, int b) { return a > b ? a : b; }

/* The transformed input block of tile tt, read from the unpadded input (g->h x g->w at (g->top, g->left)
 * of the padded frame): the padding is never written anywhere. */
static void WF(input)(float *v, int tb, const float *in, const CnnConvdGeom *g, long tt, int t, int pos0, int pos1)
{
    const int cin = g->cin, w = g->w;
    int img, y0, x0;
    WF(tile_origin)(g, tt, &img, &y0, &x0);
    const int y = y0 - g->top, x = x0 - g->left; /* the block's corner in the input, maybe outside */
    const int r0 = WF(max)(0, -y), r1 = WF(min)(WA, g->h - y), c0 = WF(max)(0, -x), c1 = WF(min)(WA, w - x);
    const float *base = in + (size_t)img * g->h * w * cin;
    const ptrdiff_t origin = ((ptrdiff_t)y * w + x) * cin;
    int c = 0;
    if (r0 == 0 && r1 == WA && c0 == 0 && c1 == WA) { /* inside the input: the bounds fold away */
        for (; c + VL <= cin; c += VL) WF(input_vec)(v, tb, base, origin, w, cin, t, c, VL, pos0, pos1, 0, WA, 0, WA);
        if (c < cin) WF(input_vec)(v, tb, base, origin, w, cin, t, c, cin - c, pos0, pos1, 0, WA, 0, WA);
    } else {
        for (; c + VL <= cin; c += VL) WF(input_vec)(v, tb, base, origin, w, cin, t, c, VL, pos0, pos1, r0, r1, c0, c1);
        if (c < cin) WF(input_vec)(v, tb, base, origin, w, cin, t, c, cin - c, pos0, pos1, r0, r1, c0, c1);
    }
}

/* y = A^T M A (+ bias): the WM x WM outputs of tile t for channels [c, c+n) */
static inline __attribute__((always_inline)) void WF(output_tile)(vf y[WM][WM], const float *m, const float *bias,
                                                                  int ldm, int t, int c, int n)
{
    vf mm[WA], r[WA][WM], col[WA], yc[WM];
    for (int i = 0; i < WA; i++) {
        for (int j = 0; j < WA; j++) mm[j] = ldn(m + ((size_t)(i * WA + j) * TB + (size_t)t) * ldm + c, n);
        WF_MATVEC(r[i], WF(AT), mm, WM, WA, 0);
    }
    const vf b = bias ? ldn(bias + c, n) : vzero();
    for (int j = 0; j < WM; j++) {
        for (int i = 0; i < WA; i++) col[i] = r[i][j];
        WF_MATVEC(yc, WF(AT), col, WM, WA, 0);
        for (int i = 0; i < WM; i++) y[i][j] = yc[i] + b;
    }
}

/* out[the tile's first rows x cols outputs] for channels [c, c+n) */
static inline __attribute__((always_inline)) void WF(output_vec)(float *ob, const float *m, const float *bias, int ow,
                                                                 int cout, int ldm, int t, int c, int n, int rows,
                                                                 int cols)
{
    vf y[WM][WM];
    WF(output_tile)(y, m, bias, ldm, t, c, n);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) stn(ob + ((size_t)i * ow + (size_t)j) * cout + c, y[i][j], n);
}

/* The same outputs, pooled: each 2x2 window of the tile that lies inside the pooled output (VALID: rows
 * and columns 2p, 2p + 1) gives its maximum to pool[(py, px)] and the winner's offset in the sample's
 * unpooled output to argmax, by maxpool_forward's rule (max_take, simd.h), cells in row order. */
static inline __attribute__((always_inline)) void WF(output_pool_vec)(float *pb, int32_t *ab, const float *m,
                                                                      const float *bias, int ow, int pw, int cout,
                                                                      int ldm, int t, int c, int n, int prows,
                                                                      int pcols, int32_t origin)
{
    vf y[WM][WM];
    WF(output_tile)(y, m, bias, ldm, t, c, n);
    for (int pi = 0; pi < prows; pi++)
        for (int pj = 0; pj < pcols; pj++) {
            vf best = y[2 * pi][2 * pj];
            vi32 arg = (origin + (int32_t)(((2 * pi) * ow + 2 * pj) * cout + c)) + lane_index();
            for (int cell = 1; cell < 4; cell++) {
                const int i = 2 * pi + cell / 2, j = 2 * pj + cell % 2;
                max_take(&best, &arg, y[i][j], (origin + (int32_t)((i * ow + j) * cout + c)) + lane_index());
            }
            const size_t at = ((size_t)pi * pw + (size_t)pj) * cout + c;
            stn(pb + at, best, n);
            int32_t lanes[VL];
            memcpy(lanes, &arg, sizeof lanes);
            memcpy(ab + at, lanes, (size_t)n * sizeof *ab);
        }
}

static void WF(fwd_part)(void *arg, int part, int parts)
{
    const WinoJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, nr = tile_panel(cout), nv = nr / VL, mr = tile_rows(nv);
    const int panels = (cout + nr - 1) / nr, ldm = panels * nr; /* ldm > cout: (data gradient) panel padding */
    const long tiles = WF(tiles)(g);
    float *v = job->scratch + (size_t)part * NPOS * TB * (size_t)(cin + ldm); /* [NPOS][TB][cin] */
    float *m = v + (size_t)NPOS * TB * cin;                                    /* [NPOS][TB][ldm] */
    const int b0 = (int)((long)job->blocks * part / parts), b1 = (int)((long)job->blocks * (part + 1) / parts);
    for (int blk = b0; blk < b1; blk++) {
        const long t0 = (long)blk * TB;
        const int nt = tiles - t0 < TB ? (int)(tiles - t0) : TB;
        for (int t = 0; t < nt; t++) WF(input)(v, TB, job->in, g, t0 + t, t, 0, NPOS);
        /* the products M[pos] = V[pos] x U[pos] */
        for (int pos = 0; pos < NPOS; pos++)
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
                        po[r] = m + ((size_t)pos * TB + (size_t)(i0 + r)) * ldm + (size_t)q * nr;
                    }
                    gt.a = px;
                    gt.c = po;
                    gemm_tile(R, nv, &gt);
                }
            }
        if (job->pool) { /* Y = A^T M A (+ bias), pooled 2x2 */
            const int ph = g->oh / 2, pw = g->ow / 2;
            for (int t = 0; t < nt; t++) {
                int img, y0, x0;
                WF(tile_origin)(g, t0 + t, &img, &y0, &x0);
                const size_t at = (((size_t)img * ph + (size_t)(y0 / 2)) * pw + (size_t)(x0 / 2)) * cout;
                const int prows = WF(min)(WM / 2, ph - y0 / 2), pcols = WF(min)(WM / 2, pw - x0 / 2);
                if (prows <= 0 || pcols <= 0) continue; /* a tile of the last odd row or column only */
                const int32_t origin = (int32_t)(((size_t)y0 * g->ow + (size_t)x0) * cout);
                int c = 0;
                for (; c + VL <= cout; c += VL)
                    WF(output_pool_vec)(job->pool + at, job->argmax + at, m, job->bias, g->ow, pw, cout, ldm, t, c,
                                        VL, prows, pcols, origin);
                if (c < cout)
                    WF(output_pool_vec)(job->pool + at, job->argmax + at, m, job->bias, g->ow, pw, cout, ldm, t, c,
                                        cout - c, prows, pcols, origin);
            }
            continue;
        }
        for (int t = 0; t < nt; t++) { /* Y = A^T M A (+ bias) */
            int img, y0, x0;
            WF(tile_origin)(g, t0 + t, &img, &y0, &x0);
            float *ob = job->out + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            const int rows = WF(min)(WM, g->oh - y0), cols = WF(min)(WM, g->ow - x0);
            int c = 0;
            if (rows == WM && cols == WM) {
                for (; c + VL <= cout; c += VL) WF(output_vec)(ob, m, job->bias, g->ow, cout, ldm, t, c, VL, WM, WM);
                if (c < cout) WF(output_vec)(ob, m, job->bias, g->ow, cout, ldm, t, c, cout - c, WM, WM);
            } else {
                for (; c + VL <= cout; c += VL)
                    WF(output_vec)(ob, m, job->bias, g->ow, cout, ldm, t, c, VL, rows, cols);
                if (c < cout) WF(output_vec)(ob, m, job->bias, g->ow, cout, ldm, t, c, cout - c, rows, cols);
            }
        }
    }
}

static void WF(forward)(float *out, const float *in, const float *u, const float *bias, const CnnConvdGeom *g,
                        float *scratch, int parts)
{
    const long tiles = WF(tiles)(g);
    const int blocks = (int)((tiles + TB - 1) / TB);
    WinoJob job = {out, in, u, bias, g, scratch, blocks, NULL, NULL};
    cnn_parallel_run(WF(fwd_part), &job, parts < blocks ? parts : blocks);
}

static void WF(forward_pool)(float *pool, int32_t *argmax, const float *in, const float *u, const float *bias,
                             const CnnConvdGeom *g, float *scratch, int parts)
{
    const long tiles = WF(tiles)(g);
    const int blocks = (int)((tiles + TB - 1) / TB);
    WinoJob job = {NULL, in, u, bias, g, scratch, blocks, pool, argmax};
    cnn_parallel_run(WF(fwd_part), &job, parts < blocks ? parts : blocks);
}

/* The weight gradient. The forward is linear in the kernel g: per tile and channel pair
 * y = A^T [ (G g G^T) (.) (B^T d B) ] A, so the gradient of sum(dy * y) with respect to g is
 * G^T [ (B^T d B) (.) (A dy A^T) ] G. Summed over tiles and samples: NPOS products
 * P[pos] = V[pos]^T Z[pos] over the tiles (V: the transformed inputs, as in the forward; Z: the
 * transformed output gradients), then dw += G^T P G once per call. Each P element is summed over the
 * tiles in order, whatever the thread count (threads split the positions). */
static void WF(wg_part)(void *arg, int part, int parts)
{
    const WinoWgJob *job = arg;
    const CnnConvdGeom *g = job->g;
    const int cin = g->cin, cout = g->cout, nr = tile_panel(cout), nv = nr / VL, mr = tile_rows(nv);
    const long tiles = WF(tiles)(g);
    const int pos0 = NPOS * part / parts, pos1 = NPOS * (part + 1) / parts, tb = job->tb;
    float *v = job->scratch + (size_t)part * NPOS * (size_t)tb * (size_t)(cin + cout); /* [NPOS][tb][cin] */
    float *z = v + (size_t)NPOS * (size_t)tb * cin;                                     /* [NPOS][tb][cout] */
    for (int blk = 0; blk < job->blocks; blk++) {
        const long t0 = (long)blk * tb;
        const int nt = tiles - t0 < tb ? (int)(tiles - t0) : tb;
        for (int t = 0; t < nt; t++) {
            int img, y0, x0;
            WF(tile_origin)(g, t0 + t, &img, &y0, &x0);
            WF(input)(v, tb, job->in, g, t0 + t, t, pos0, pos1); /* V, as in the forward */
            const float *gb = job->dout + (((size_t)img * g->oh + (size_t)y0) * g->ow + (size_t)x0) * cout;
            const int rows = WF(min)(WM, g->oh - y0), cols = WF(min)(WM, g->ow - x0); /* past the edge: 0 */
            for (int c = 0; c < cout; c += VL) { /* Z = A dy A^T; cout % 16 == 0 */
                vf dy[WM], r[WM][WA], col[WM], zc[WA];
                for (int i = 0; i < WM; i++) {
                    for (int j = 0; j < WM; j++)
                        dy[j] = i < rows && j < cols ? vload(gb + ((size_t)i * g->ow + (size_t)j) * cout + c) : vzero();
                    WF_MATVEC(r[i], WF(AT), dy, WA, WM, 1); /* (dy A^T)[i][.] */
                }
                for (int j = 0; j < WA; j++) {
                    for (int i = 0; i < WM; i++) col[i] = r[i][j];
                    WF_MATVEC(zc, WF(AT), col, WA, WM, 1); /* (A dy A^T)[.][j] */
                    for (int i = 0; i < WA; i++) {
                        const int pos = i * WA + j;
                        if (pos >= pos0 && pos < pos1) vstore(z + ((size_t)pos * (size_t)tb + (size_t)t) * cout + c, zc[i]);
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
                                           .a = v + (size_t)pos * (size_t)tb * cin + c0,
                                           .arow = 0,
                                           .acol = (size_t)cin,
                                           .g = z + (size_t)pos * (size_t)tb * cout + q,
                                           .grow = 0,
                                           .gcol = (size_t)cout,
                                           .oh = 1,
                                           .ow = nt};
                    reduce_tile(R, nv, &rt);
                }
    }
}

static void WF(weight_grad)(float *dw, const float *in, const float *dout, const CnnConvdGeom *g, float *p,
                            float *scratch, int parts, int overwrite)
{
    const int cin = g->cin, cout = g->cout;
    CNN_ASSERT(cout % 16 == 0);
    const long tiles = WF(tiles)(g);
    const int tb = CNN_WINO_TBW(WM, WR, cin, cout);
    WinoWgJob job = {in, dout, g, scratch, p, (int)((tiles + tb - 1) / tb), tb};
    cnn_parallel_run(WF(wg_part), &job, parts < NPOS ? parts : NPOS);
    /* dw[ky][kx][ci][co] (+)= (G^T P G)[ky][kx], a vector of output channels at a time */
    for (int ci = 0; ci < cin; ci++)
        for (int c = 0; c < cout; c += VL) {
            vf t[WA][WR];
            for (int i = 0; i < WA; i++) { /* t[i][.] = (P G)[i][.] */
                vf row[WA];
                for (int j = 0; j < WA; j++) row[j] = vload(p + ((size_t)(i * WA + j) * cin + (size_t)ci) * cout + c);
                WF_MATVEC(t[i], WF(G), row, WR, WA, 1);
            }
            for (int kx = 0; kx < WR; kx++) { /* (G^T (P G))[.][kx] */
                vf col[WA], o[WR];
                for (int i = 0; i < WA; i++) col[i] = t[i][kx];
                WF_MATVEC(o, WF(G), col, WR, WA, 1);
                for (int ky = 0; ky < WR; ky++) {
                    float *d = dw + (((size_t)ky * WR + (size_t)kx) * cin + (size_t)ci) * cout + c;
                    vstore(d, (overwrite ? vzero() : vload(d)) + o[ky]);
                }
            }
        }
}

#undef WA
#undef NPOS
#undef TB
#undef WF_MATVEC
