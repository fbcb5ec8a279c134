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
    a->flip = cfg->flip != 0;
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
    p->delta = cnn_rng_range(&r, -a->brightness, a->brightness);
    p->factor = cnn_rng_range(&r, a->contrast_lo, a->contrast_hi);
}

void cnn_augment_apply(const CnnAugment *a, float *out, const uint8_t *img, const CnnAugmentParams *p)
{
    const int H = a->in_h, W = a->in_w, C = a->c, oh = a->out_h, ow = a->out_w;
    CNN_ASSERT(p->oy >= 0 && p->oy + oh <= H && p->ox >= 0 && p->ox + ow <= W);
    const int chw = a->layout == CNN_LAYOUT_CHW;

    /* Pass 1: exact integer sum and sum of squares per channel over the window (flip-invariant). */
    uint64_t sum[AUG_MAX_C] = {0}, sq[AUG_MAX_C] = {0};
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < oh; y++) {
            uint64_t s1 = 0, s2 = 0;
            for (int x = 0; x < ow; x++) {
                uint32_t v = chw ? img[((size_t)c * H + (size_t)(p->oy + y)) * W + (size_t)(p->ox + x)]
                                 : img[((size_t)(p->oy + y) * W + (size_t)(p->ox + x)) * C + (size_t)c];
                s1 += v;
                s2 += v * v;
            }
            sum[c] += s1;
            sq[c] += s2;
        }
    }

    /* Fold brightness, contrast and standardization into per-channel (m_c, a_c, b_c). */
    const double P = (double)oh * (double)ow, f = (double)p->factor, delta = (double)p->delta;
    double m[AUG_MAX_C], var[AUG_MAX_C], M = 0.0;
    for (int c = 0; c < C; c++) {
        m[c] = (double)sum[c] / P;
        var[c] = fmax((double)sq[c] / P - m[c] * m[c], 0.0);
        M += m[c] + delta;
    }
    M /= C;
    float mc[AUG_MAX_C], ac[AUG_MAX_C], bc[AUG_MAX_C];
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

    /* Pass 2: out[y][x][c] from source (oy + y, sx), sx mirrored inside the window when flipping. */
    for (int y = 0; y < oh; y++) {
        float *row = out + (size_t)y * ow * C;
        for (int c = 0; c < C; c++) {
            const uint8_t *src;
            ptrdiff_t step;
            if (chw) {
                src = img + ((size_t)c * H + (size_t)(p->oy + y)) * W + (size_t)p->ox;
                step = 1;
            } else {
                src = img + ((size_t)(p->oy + y) * W + (size_t)p->ox) * C + (size_t)c;
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

void cnn_augment_eval(const CnnAugment *a, float *out, const uint8_t *img)
{
    /* tf.image.resize_image_with_crop_or_pad: offset (in - out) / 2, rounded down */
    CnnAugmentParams p = {(a->in_h - a->out_h) / 2, (a->in_w - a->out_w) / 2, 0, 0.0f, 1.0f};
    cnn_augment_apply(a, out, img, &p);
}
