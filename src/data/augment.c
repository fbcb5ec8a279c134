/* augment: TensorFlow's CIFAR-10 tutorial pipeline on one image — random crop, flip, brightness,
 * contrast, per-image standardization or a fixed per-channel normalisation — from uint8 CHW or HWC
 * into float HWC.
 *
 * Every step after the crop is affine per channel, so the whole chain folds into
 * out = (x - m_c) * a_c + b_c with the crop window's raw channel means m_c: brightness adds delta
 * (channel mean m_c + delta, variance unchanged), contrast scales about that mean (variance * f^2),
 * and standardization subtracts the overall mean M = mean_c(m_c + delta) and divides by
 * s = max(sqrt(V), 1/sqrt(N)), V = mean_c(f^2 var_c + (m_c + delta - M)^2) (channels have equal pixel
 * counts); data.mean/std's (y/255 - mean_c) / std_c is affine too. So one pass over the window gathers
 * exact integer sums, and one pass writes the output.
 * Centring on m_c (not folding it into b_c) keeps float cancellation small: a constant image gives
 * exactly 0. */
#include "cnn/data/augment.h"

#include <math.h>

#include "cnn/rng.h"
#include "cnn/util.h"

#define AUG_MAX_C 16

void cnn_augment_init(CnnAugment *a, const CnnConfig *cfg, const CnnDataset *ds)
{
    CNN_ASSERT(ds->c > 0 && ds->c <= AUG_MAX_C && ds->h > 0 && ds->w > 0);
    a->in_h = ds->h;
    a->in_w = ds->w;
    a->c = ds->c;
    a->layout = ds->layout;
    a->crop = cfg->crop;
    if (cfg->crop > 0) {
        /* config validates crop against the format's size; this guards a mismatched dataset */
        if (cfg->crop > ds->h || cfg->crop > ds->w)
            CNN_DIE("crop %d is larger than the %dx%d images", cfg->crop, ds->h, ds->w);
        a->out_h = a->out_w = cfg->crop;
    } else {
        a->out_h = ds->h;
        a->out_w = ds->w;
    }
    a->pad = cfg->pad;
    a->pad_reflect = cfg->pad_mode == CNN_PAD_REFLECT;
    /* config refuses pad beside crop and a pad the image cannot reflect; these guard a mismatched dataset */
    const int side = ds->h < ds->w ? ds->h : ds->w;
    if (a->pad > 0 && (cfg->crop > 0 || a->pad > side || (a->pad_reflect && a->pad >= side)))
        CNN_DIE("data.pad %d does not fit the %dx%d images (or comes with data.crop)", a->pad, ds->h, ds->w);
    a->flip = cfg->flip != 0;
    a->flip_alternate = a->flip && cfg->flip_mode == CNN_FLIP_ALTERNATE;
    a->brightness = cfg->brightness;
    if (cfg->contrast_lo == 0.0f && cfg->contrast_hi == 0.0f) {
        a->contrast_lo = a->contrast_hi = 1.0f; /* off: factor 1 */
    } else {
        a->contrast_lo = cfg->contrast_lo;
        a->contrast_hi = cfg->contrast_hi;
    }
    a->standardize = cfg->standardize != 0;
    a->normalize = cfg->n_mean > 0;
    if (a->normalize) {
        /* config checks both against data.channels; this guards a mismatched dataset */
        if (cfg->n_mean != ds->c || cfg->n_std != ds->c)
            CNN_DIE("data.mean and data.std have %d and %d values for %d channels", cfg->n_mean, cfg->n_std, ds->c);
        for (int c = 0; c < ds->c; c++) {
            a->mean[c] = cfg->mean[c];
            a->std[c] = cfg->std[c];
        }
    }
    a->seed = cfg->seed;
}

void cnn_augment_draw(const CnnAugment *a, long epoch, long index, CnnAugmentParams *p)
{
    CnnRng r;
    cnn_rng_init(&r, a->seed, CNN_RNG_AUGMENT, (uint64_t)epoch, (uint64_t)index);
    p->oy = (int)cnn_rng_below(&r, (uint32_t)(a->in_h - a->out_h + 1));
    p->ox = (int)cnn_rng_below(&r, (uint32_t)(a->in_w - a->out_w + 1));
    float u = cnn_rng_uniform(&r);
    p->flip = a->flip && u < 0.5f;
    if (a->flip_alternate) { /* the sample's epoch-0 draw, reversed in odd epochs */
        CnnAugmentParams first;
        if (epoch != 0) cnn_augment_draw(a, 0, index, &first);
        p->flip = (epoch == 0 ? p->flip : first.flip) ^ (int)(epoch & 1);
    }
    p->delta = cnn_rng_range(&r, -a->brightness, a->brightness);
    p->factor = cnn_rng_range(&r, a->contrast_lo, a->contrast_hi);
    if (a->pad > 0) { /* after the five (the two above are 0 then: no crop beside pad) */
        p->oy = (int)cnn_rng_below(&r, (uint32_t)(2 * a->pad + 1));
        p->ox = (int)cnn_rng_below(&r, (uint32_t)(2 * a->pad + 1));
    }
}

/* Row or column i (-pad <= i < n + pad) of the padded image: its source index, or -1 for a zero.
 * Reflection mirrors about the edge pixel without repeating it (pad < n: the config checks). */
static int pad_index(int i, int n, int reflect)
{
    if (i >= 0 && i < n) return i;
    if (!reflect) return -1;
    return i < 0 ? -i : 2 * (n - 1) - i;
}

/* The per-channel (m_c, a_c, b_c) of out = (x - m_c) * a_c + b_c from the window's exact sums over
 * P pixels per channel (see the top of this file). */
static void fold(const CnnAugment *a, const uint64_t *sum, const uint64_t *sq, double P, const CnnAugmentParams *p,
                 float *mc, float *ac, float *bc)
{
    const int C = a->c;
    const double f = (double)p->factor, delta = (double)p->delta;
    double m[AUG_MAX_C], var[AUG_MAX_C], M = 0.0;
    for (int c = 0; c < C; c++) {
        m[c] = (double)sum[c] / P;
        var[c] = fmax((double)sq[c] / P - m[c] * m[c], 0.0);
        M += m[c] + delta;
    }
    M /= C;
    if (a->standardize) {
        double V = 0.0;
        for (int c = 0; c < C; c++) {
            double d = m[c] + delta - M;
            V += f * f * var[c] + d * d;
        }
        V /= C;
        double s = fmax(sqrt(V), 1.0 / sqrt(P * C));
        for (int c = 0; c < C; c++) {
            mc[c] = (float)m[c];
            ac[c] = (float)(f / s);
            bc[c] = (float)((m[c] + delta - M) / s);
        }
    } else if (a->normalize) {
        for (int c = 0; c < C; c++) {
            const double sd = (double)a->std[c];
            mc[c] = (float)m[c];
            ac[c] = (float)(f / (255.0 * sd));
            bc[c] = (float)(((m[c] + delta) / 255.0 - (double)a->mean[c]) / sd);
        }
    } else {
        for (int c = 0; c < C; c++) {
            mc[c] = (float)m[c];
            ac[c] = (float)(f / 255.0);
            bc[c] = (float)((m[c] + delta) / 255.0);
        }
    }
}

/* A window that reaches into data.pad's border: the same two passes, each pixel looked up through
 * pad_index (zeros count in the sums and go through the same affine map). (y0, x0): the window's
 * top-left corner in source coordinates, negative inside the top or left border. */
static void apply_padded(const CnnAugment *a, float *out, const uint8_t *img, const CnnAugmentParams *p, int y0,
                         int x0)
{
    const int H = a->in_h, W = a->in_w, C = a->c, oh = a->out_h, ow = a->out_w, reflect = a->pad_reflect;
    const int chw = a->layout == CNN_LAYOUT_CHW;
    uint64_t sum[AUG_MAX_C] = {0}, sq[AUG_MAX_C] = {0};
    for (int y = 0; y < oh; y++) {
        const int sy = pad_index(y0 + y, H, reflect);
        if (sy < 0) continue;
        for (int x = 0; x < ow; x++) {
            const int sx = pad_index(x0 + x, W, reflect);
            if (sx < 0) continue;
            for (int c = 0; c < C; c++) {
                uint32_t v = chw ? img[((size_t)c * H + (size_t)sy) * W + (size_t)sx]
                                 : img[((size_t)sy * W + (size_t)sx) * C + (size_t)c];
                sum[c] += v;
                sq[c] += v * v;
            }
        }
    }
    float mc[AUG_MAX_C], ac[AUG_MAX_C], bc[AUG_MAX_C];
    fold(a, sum, sq, (double)oh * (double)ow, p, mc, ac, bc);
    for (int y = 0; y < oh; y++) {
        const int sy = pad_index(y0 + y, H, reflect);
        float *row = out + (size_t)y * ow * C;
        for (int x = 0; x < ow; x++) {
            const int sx = pad_index(x0 + (p->flip ? ow - 1 - x : x), W, reflect);
            for (int c = 0; c < C; c++) {
                uint32_t v = 0;
                if (sy >= 0 && sx >= 0)
                    v = chw ? img[((size_t)c * H + (size_t)sy) * W + (size_t)sx]
                            : img[((size_t)sy * W + (size_t)sx) * C + (size_t)c];
                row[(size_t)x * C + (size_t)c] = ((float)v - mc[c]) * ac[c] + bc[c];
            }
        }
    }
}

void cnn_augment_apply(const CnnAugment *a, float *out, const uint8_t *img, const CnnAugmentParams *p)
{
    const int H = a->in_h, W = a->in_w, C = a->c, oh = a->out_h, ow = a->out_w;
    /* (oy, ox) place the window in the image padded by a->pad on every side */
    CNN_ASSERT(p->oy >= 0 && p->oy + oh <= H + 2 * a->pad && p->ox >= 0 && p->ox + ow <= W + 2 * a->pad);
    const int y0 = p->oy - a->pad, x0 = p->ox - a->pad;
    if (y0 < 0 || y0 + oh > H || x0 < 0 || x0 + ow > W) {
        apply_padded(a, out, img, p, y0, x0);
        return;
    }
    const int chw = a->layout == CNN_LAYOUT_CHW;

    /* Pass 1: exact integer sum and sum of squares per channel over the window (flip-invariant). */
    uint64_t sum[AUG_MAX_C] = {0}, sq[AUG_MAX_C] = {0};
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < oh; y++) {
            uint64_t s1 = 0, s2 = 0;
            for (int x = 0; x < ow; x++) {
                uint32_t v = chw ? img[((size_t)c * H + (size_t)(y0 + y)) * W + (size_t)(x0 + x)]
                                 : img[((size_t)(y0 + y) * W + (size_t)(x0 + x)) * C + (size_t)c];
                s1 += v;
                s2 += v * v;
            }
            sum[c] += s1;
            sq[c] += s2;
        }
    }

    /* Fold brightness, contrast and standardization or normalisation into per-channel (m_c, a_c, b_c). */
    float mc[AUG_MAX_C], ac[AUG_MAX_C], bc[AUG_MAX_C];
    fold(a, sum, sq, (double)oh * (double)ow, p, mc, ac, bc);

    /* Pass 2: out[y][x][c] from source (y0 + y, sx), sx mirrored inside the window when flipping. */
    for (int y = 0; y < oh; y++) {
        float *row = out + (size_t)y * ow * C;
        for (int c = 0; c < C; c++) {
            const uint8_t *src;
            ptrdiff_t step;
            if (chw) {
                src = img + ((size_t)c * H + (size_t)(y0 + y)) * W + (size_t)x0;
                step = 1;
            } else {
                src = img + ((size_t)(y0 + y) * W + (size_t)x0) * C + (size_t)c;
                step = C;
            }
            if (p->flip) {
                src += (ptrdiff_t)(ow - 1) * step;
                step = -step;
            }
            const float m0 = mc[c], a0 = ac[c], b0 = bc[c];
            for (int x = 0; x < ow; x++) row[(size_t)x * C + (size_t)c] = ((float)src[x * step] - m0) * a0 + b0;
        }
    }
}

void cnn_augment_train(const CnnAugment *a, float *out, const uint8_t *img, long epoch, long index)
{
    CnnAugmentParams p;
    cnn_augment_draw(a, epoch, index, &p);
    cnn_augment_apply(a, out, img, &p);
}

void cnn_augment_view(const CnnAugment *a, float *out, const uint8_t *img, int dy, int dx, int flip)
{
    CnnAugment b = *a;
    if (b.pad < 1) { /* a frame one pixel wider, for the shifted windows */
        b.pad = 1;
        if (b.crop > 0) b.pad = 0; /* a central crop smaller than the image shifts inside it */
    }
    b.pad_reflect = 1;
    CnnAugmentParams p = {(b.in_h + 2 * b.pad - b.out_h) / 2 + dy, (b.in_w + 2 * b.pad - b.out_w) / 2 + dx, flip, 0.0f,
                          1.0f};
    cnn_augment_apply(&b, out, img, &p);
}

void cnn_augment_eval(const CnnAugment *a, float *out, const uint8_t *img)
{
    /* tf.image.resize_image_with_crop_or_pad: offset (in - out) / 2, rounded down; with data.pad the
     * offset pad, which is the image itself */
    CnnAugmentParams p = {(a->in_h + 2 * a->pad - a->out_h) / 2, (a->in_w + 2 * a->pad - a->out_w) / 2, 0, 0.0f,
                          1.0f};
    cnn_augment_apply(a, out, img, &p);
}
