/* augment: how long the tutorial's training distortions (24x24 crop, flip, brightness, contrast,
 * standardization) take per CIFAR-10 image on one thread, the work the prefetch thread does beside the
 * training. A benchmark (it prints a time), not a test. */
#include <stdio.h>
#include <string.h>

#include "cnn/config.h"
#include "cnn/data/augment.h"
#include "cnn/data/dataset.h"
#include "cnn/rng.h"
#include "cnn/util.h"

int main(void)
{
    CnnDataset ds;
    memset(&ds, 0, sizeof ds);
    ds.h = ds.w = 32;
    ds.c = 3;
    ds.layout = CNN_LAYOUT_CHW;
    static CnnConfig cfg;
    cfg.seed = 17;
    cfg.crop = 24;
    cfg.flip = 1;
    cfg.brightness = 63.0f;
    cfg.contrast_lo = 0.2f;
    cfg.contrast_hi = 1.8f;
    cfg.standardize = 1;
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[3072];
    CnnRng r;
    cnn_rng_init(&r, 23, CNN_RNG_TEST, 1, 0);
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)cnn_rng_u32(&r);
    static float out[1728];
    double acc = 0, t = cnn_now();
    const long n = 128000; /* 1,000 steps of 128 images */
    for (long i = 0; i < n; i++) {
        cnn_augment_train(&a, out, img, 0, i);
        acc += (double)out[i % 1728];
    }
    const double dt = cnn_now() - t;
    printf("augment: %.2f us per 24x24x3 image, %.0f images/s on one thread (checksum %g)\n", dt / (double)n * 1e6,
           (double)n / dt, acc);
    return 0;
}
