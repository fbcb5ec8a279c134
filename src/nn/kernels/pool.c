/* pool (compiled per instruction set, see simd.h): max and average pooling over square windows in NHWC,
 * TensorFlow's SAME/VALID rule. Windows are clipped to the real cells: a padded cell never wins a max and
 * is not counted in an average (that is what tf.nn.max_pool / avg_pool do). Max pooling records each
 * winner's offset within its sample so backward is a scatter (a gather over the covering windows measured
 * 20% slower); ties go to the first cell in (row, column) order. */
#include "simd.h"

#include "cnn/util.h"

/* The window of output (oy, ox) clipped to the input: rows [*y0, *y1), columns [*x0, *x1). */
static void window(const CnnPoolShape *s, int oy, int ox, int *y0, int *y1, int *x0, int *x1)
{
    int ys = oy * s->stride - s->pad_top, xs = ox * s->stride - s->pad_left;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + s->size > s->h ? s->h : ys + s->size;
    *x1 = xs + s->size > s->w ? s->w : xs + s->size;
    CNN_ASSERT(*y0 < *y1 && *x0 < *x1);
}

/* The winner of output (oy, ox) for channels [k, k + VL): out = in[y0][x0] to start, then each cell by
 * max_take (simd.h). */
static inline void max_window_vec(float *out, int32_t *argmax, const float *img, const CnnPoolShape *s, int y0,
                                  int y1, int x0, int x1, int k)
{
    const int c = s->c;
    const int32_t first = (int32_t)(((size_t)y0 * s->w + (size_t)x0) * c) + k;
    vf m = vload(img + first);
    vi32 am = first + lane_index();
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const int32_t off = (int32_t)(((size_t)y * s->w + (size_t)x) * c) + k;
            max_take(&m, &am, vload(img + off), off + lane_index());
        }
    vstore(out + k, m);
    *(vi32_unaligned *)(argmax + k) = am;
}

/* The same for one channel k. */
static inline void max_window_one(float *out, int32_t *argmax, const float *img, const CnnPoolShape *s, int y0,
                                  int y1, int x0, int x1, int k)
{
    const int c = s->c;
    const int32_t first = (int32_t)(((size_t)y0 * s->w + (size_t)x0) * c) + k;
    float m = img[first];
    int32_t am = first;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const int32_t off = (int32_t)(((size_t)y * s->w + (size_t)x) * c) + k;
            if (img[off] > m) m = img[off], am = off;
        }
    out[k] = m;
    argmax[k] = am;
}

void KFN(maxpool_forward)(float *out, int32_t *argmax, const float *in, const CnnPoolShape *s)
{
    const int c = s->c, nvec = c / VL * VL;
    const size_t in_len = (size_t)s->h * s->w * c;
    CNN_ASSERT(in_len <= (size_t)INT32_MAX);
    for (int j = 0; j < s->n; j++) {
        const float *img = in + (size_t)j * in_len;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++, out += c, argmax += c) {
                int y0, y1, x0, x1;
                window(s, oy, ox, &y0, &y1, &x0, &x1);
                for (int k = 0; k < nvec; k += VL) max_window_vec(out, argmax, img, s, y0, y1, x0, x1, k);
                for (int k = nvec; k < c; k++) max_window_one(out, argmax, img, s, y0, y1, x0, x1, k);
            }
    }
}

/* Windows that tile the input from its corner without overlap (stride == size, no padding before:
 * airbench94's 2x2 and 3x3 pools): every input cell gets its window's gradient where it won, else 0,
 * written once, a vector of channels at a time, with no zeroing pass and no scatter. g + 0 as the scatter's
 * 0 + g gives: the same bits (a -0 gradient becomes +0 in both). Cells past the last window are zeroed. */
static void maxpool_backward_tiled(float *din, const float *dout, const int32_t *argmax, const CnnPoolShape *s)
{
    const int c = s->c, nvec = c / VL * VL, w = s->w;
    const size_t in_len = (size_t)s->h * w * c, out_len = (size_t)s->oh * s->ow * c;
    const int rows = s->oh * s->size < s->h ? s->oh * s->size : s->h, cols = s->ow * s->size < w ? s->ow * s->size : w;
    for (int j = 0; j < s->n; j++) {
        float *img = din + (size_t)j * in_len;
        const float *g = dout + (size_t)j * out_len;
        const int32_t *am = argmax + (size_t)j * out_len;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++, g += c, am += c) {
                int y0, y1, x0, x1;
                window(s, oy, ox, &y0, &y1, &x0, &x1);
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        const int32_t off = (int32_t)(((size_t)y * w + (size_t)x) * c);
                        float *d = img + off;
                        int k = 0;
                        for (; k < nvec; k += VL) {
                            const vi32 hit = *(const vi32_unaligned *)(am + k) == (off + k + lane_index());
                            const vf gv = vload(g + k);
                            vstore(d + k, (vf)((vi32)gv & hit) + vzero());
                        }
                        for (; k < c; k++) d[k] = (am[k] == off + k ? g[k] : 0.0f) + 0.0f;
                    }
            }
        for (int y = 0; y < s->h; y++) /* past the last window: the bottom rows, the right columns */
            if (y >= rows)
                memset(img + (size_t)y * w * c, 0, (size_t)w * c * sizeof *img);
            else if (cols < w)
                memset(img + ((size_t)y * w + (size_t)cols) * c, 0, (size_t)(w - cols) * c * sizeof *img);
    }
}

void KFN(maxpool_backward)(float *din, const float *dout, const int32_t *argmax, const CnnPoolShape *s)
{
    if (s->stride == s->size && s->pad_top == 0 && s->pad_left == 0) {
        maxpool_backward_tiled(din, dout, argmax, s);
        return;
    }
    const size_t in_len = (size_t)s->h * s->w * s->c, out_len = (size_t)s->oh * s->ow * s->c;
    memset(din, 0, (size_t)s->n * in_len * sizeof *din);
    for (int j = 0; j < s->n; j++) {
        float *img = din + (size_t)j * in_len;
        const float *g = dout + (size_t)j * out_len;
        const int32_t *am = argmax + (size_t)j * out_len;
        for (size_t i = 0; i < out_len; i++) img[am[i]] += g[i];
    }
}

void KFN(avgpool_forward)(float *out, const float *in, const CnnPoolShape *s)
{
    const int c = s->c;
    const size_t in_len = (size_t)s->h * s->w * c;
    for (int j = 0; j < s->n; j++) {
        const float *img = in + (size_t)j * in_len;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++, out += c) {
                int y0, y1, x0, x1;
                window(s, oy, ox, &y0, &y1, &x0, &x1);
                memset(out, 0, (size_t)c * sizeof *out);
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        const float *p = img + ((size_t)y * s->w + (size_t)x) * c;
                        for (int k = 0; k < c; k++) out[k] += p[k];
                    }
                const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int k = 0; k < c; k++) out[k] *= inv;
            }
    }
}

void KFN(avgpool_backward)(float *din, const float *dout, const CnnPoolShape *s)
{
    const int c = s->c;
    const size_t in_len = (size_t)s->h * s->w * c;
    memset(din, 0, (size_t)s->n * in_len * sizeof *din);
    for (int j = 0; j < s->n; j++) {
        float *img = din + (size_t)j * in_len;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++, dout += c) {
                int y0, y1, x0, x1;
                window(s, oy, ox, &y0, &y1, &x0, &x1);
                const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        float *p = img + ((size_t)y * s->w + (size_t)x) * c;
                        for (int k = 0; k < c; k++) p[k] += dout[k] * inv;
                    }
            }
    }
}

/* ---- global pooling: in[n][hw][c] -> out[n][c], every pixel of a sample in one window. The loops run over
 * channels innermost, so each channel is one lane's chain over the pixels in order. ---- */

void KFN(global_avgpool_forward)(float *out, const float *in, int n, int hw, int c)
{
    CNN_ASSERT(hw > 0);
    const float inv = 1.0f / (float)hw;
    for (int j = 0; j < n; j++, out += c) {
        const float *img = in + (size_t)j * (size_t)hw * (size_t)c;
        for (int k = 0; k < c; k++) out[k] = img[k];
        for (int p = 1; p < hw; p++) {
            const float *row = img + (size_t)p * (size_t)c;
            for (int k = 0; k < c; k++) out[k] += row[k];
        }
        for (int k = 0; k < c; k++) out[k] *= inv;
    }
}

void KFN(global_avgpool_backward)(float *din, const float *dout, int n, int hw, int c)
{
    CNN_ASSERT(hw > 0);
    const float inv = 1.0f / (float)hw;
    for (int j = 0; j < n; j++, dout += c)
        for (int p = 0; p < hw; p++, din += c)
            for (int k = 0; k < c; k++) din[k] = dout[k] * inv;
}

/* argmax holds the pixel index in [0, hw). A later pixel takes over when it is strictly greater, or when it
 * is the first NaN (a NaN already there stays): the first winner on ties, and a NaN anywhere comes out. */
void KFN(global_maxpool_forward)(float *out, int32_t *argmax, const float *in, int n, int hw, int c)
{
    CNN_ASSERT(hw > 0);
    for (int j = 0; j < n; j++, out += c, argmax += c) {
        const float *img = in + (size_t)j * (size_t)hw * (size_t)c;
        for (int k = 0; k < c; k++) out[k] = img[k], argmax[k] = 0;
        for (int p = 1; p < hw; p++) {
            const float *row = img + (size_t)p * (size_t)c;
            for (int k = 0; k < c; k++) {
                const float v = row[k], m = out[k];
                const int take = (v > m) | ((v != v) & (m == m));
                out[k] = take ? v : m;
                argmax[k] = take ? p : argmax[k];
            }
        }
    }
}

/* Written as a select per element of din rather than zeroing and scattering: one pass, every element once. */
void KFN(global_maxpool_backward)(float *din, const float *dout, const int32_t *argmax, int n, int hw, int c)
{
    for (int j = 0; j < n; j++, dout += c, argmax += c)
        for (int p = 0; p < hw; p++, din += c)
            for (int k = 0; k < c; k++) {
                const float g = dout[k]; /* loaded always: a conditional load keeps SSE from vectorising */
                din[k] = argmax[k] == p ? g : 0.0f;
            }
}
