/* augment: the seed's input pipeline on one image, as TensorFlow does it, into float NHWC.
 *
 * Training: random crop (crop x crop), or with data.pad = P the image padded by P pixels on every side
 * (zeros, or reflected about the edge pixel) and cropped back to its full size at a random place
 * (torchvision's RandomCrop(size, padding=P)); random horizontal flip (p = 1/2), random brightness
 * (x += delta, delta ~ U[-brightness, brightness] on 0..255 values), random contrast (per channel:
 * (x - mean_c) * f + mean_c, f ~ U[lo, hi]), then per-image standardization
 * ((x - mean) / max(stddev, 1/sqrt(N)), N = h*w*c), or with data.mean and data.std the fixed
 * per-channel normalisation (x/255 - mean[c]) / std[c] (torchvision's ToTensor + Normalize).
 * With neither, pixels are x/255. Evaluation: central crop, then the same standardization or
 * normalisation (the unpadded image when data.pad is set). No clipping anywhere (TensorFlow's ops do not
 * clip).
 * The random draws come from stream (CNN_RNG_AUGMENT, epoch, sample index) in a fixed order, so a
 * sample's augmentation depends on nothing else. */
#ifndef CNN_AUGMENT_H
#define CNN_AUGMENT_H

#include <stdint.h>

#include "cnn/config.h"
#include "cnn/data/dataset.h"

typedef struct {
    int in_h, in_w, c;          /* source image */
    CnnPixelLayout layout;      /* source layout */
    int out_h, out_w;           /* after crop (= in_h, in_w when crop is 0) */
    int crop, flip;
    int flip_alternate;         /* data.flip_mode = alternate: epoch 0's draw, reversed in odd epochs */
    int pad, pad_reflect;       /* data.pad (0 = off; crop is 0 then) and data.pad_mode = reflect */
    float brightness, contrast_lo, contrast_hi;
    int standardize;
    int normalize;              /* data.mean, data.std given */
    float mean[CNN_MAX_NORM_CHANNELS], std[CNN_MAX_NORM_CHANNELS];
    uint64_t seed;
} CnnAugment;

void cnn_augment_init(CnnAugment *a, const CnnConfig *cfg, const CnnDataset *ds);
/* out: [out_h][out_w][c]. */
void cnn_augment_train(const CnnAugment *a, float *out, const uint8_t *img, long epoch, long index);
void cnn_augment_eval(const CnnAugment *a, float *out, const uint8_t *img);
/* Evaluation's window moved by (dy, dx) pixels (|dy|, |dx| <= 1) and mirrored if flip, the pixels beyond
 * the image reflected about its edge: the views of test-time augmentation (data.tta, airbench94's). A crop
 * must leave a pixel on every side (data.crop <= size - 2). */
void cnn_augment_view(const CnnAugment *a, float *out, const uint8_t *img, int dy, int dx, int flip);

/* The two halves of cnn_augment_train, exposed for tests: the draws of one sample, and the
 * deterministic transform they parameterise (eval is apply with the central crop, no flip, delta 0,
 * factor 1). Draw order from (CNN_RNG_AUGMENT, epoch, index), always all five so one option does not
 * shift another's values: oy = below(in_h - out_h + 1), ox = below(in_w - out_w + 1),
 * flip = uniform < 0.5 (0 if flips are off; with data.flip_mode = alternate, epoch 0's value of this draw
 * for the sample, negated in odd epochs), delta = range(-brightness, brightness),
 * factor = range(contrast_lo, contrast_hi) (1 if contrast is off); then, only with data.pad = P,
 * oy = below(2P + 1), ox = below(2P + 1) in place of the first two (which are 0: no crop beside pad),
 * so the five keep their values. (oy, ox) is the window's top-left corner in the padded image
 * ((in_h + 2P) x (in_w + 2P), P = 0 without data.pad): eval's central window with a pad is at (P, P),
 * the image itself. */
typedef struct {
    int oy, ox, flip;
    float delta, factor;
} CnnAugmentParams;
void cnn_augment_draw(const CnnAugment *a, long epoch, long index, CnnAugmentParams *p);
void cnn_augment_apply(const CnnAugment *a, float *out, const uint8_t *img, const CnnAugmentParams *p);

#endif
