/* augment: identity with randomness off, hand-computed brightness/contrast/standardization and
 * mean/std normalisation, zero and reflect padding by hand and against a reference on the padded
 * image, the standardization floor on a constant image, flip = mirror, central crop window, a naive
 * step-by-step double reference of the whole training chain, determinism per (seed, epoch, index),
 * draw ranges, the existing options' draws and outputs pinned. */
#include <string.h>

#include "testutil.h"

#include "cnn/config.h"
#include "cnn/data/augment.h"
#include "cnn/util.h"

static CnnDataset fake_ds(int h, int w, int c, CnnPixelLayout layout)
{
    CnnDataset ds;
    memset(&ds, 0, sizeof ds);
    ds.h = h;
    ds.w = w;
    ds.c = c;
    ds.layout = layout;
    return ds;
}

static CnnConfig plain_cfg(void)
{
    CnnConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.seed = 17;
    return cfg;
}

/* The CIFAR-10 tutorial's training distortions, with a crop of `crop` (0 = none). */
static CnnConfig tutorial_cfg(int crop)
{
    CnnConfig cfg = plain_cfg();
    cfg.crop = crop;
    cfg.flip = 1;
    cfg.brightness = 63.0f;
    cfg.contrast_lo = 0.2f;
    cfg.contrast_hi = 1.8f;
    cfg.standardize = 1;
    return cfg;
}

static void random_image(uint8_t *img, size_t n, uint64_t seed)
{
    CnnRng r;
    cnn_rng_init(&r, seed, CNN_RNG_TEST, 1, 0);
    for (size_t i = 0; i < n; i++) img[i] = (uint8_t)cnn_rng_u32(&r);
}

/* Source value at (y, x, c) in either layout. */
static double src_at(const uint8_t *img, int H, int W, int C, CnnPixelLayout l, int y, int x, int c)
{
    return l == CNN_LAYOUT_CHW ? img[(c * H + y) * W + x] : img[(y * W + x) * C + c];
}

/* The pipeline step by step in double, as TensorFlow's ops describe it. out: [oh][ow][C]. */
static void reference(double *out, const uint8_t *img, int H, int W, int C, CnnPixelLayout l, int oh,
                      int ow, const CnnAugmentParams *p, int standardize)
{
    int N = oh * ow * C;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int c = 0; c < C; c++) {
                int sx = p->flip ? p->ox + ow - 1 - x : p->ox + x;
                out[(y * ow + x) * C + c] = src_at(img, H, W, C, l, p->oy + y, sx, c) + (double)p->delta;
            }
    for (int c = 0; c < C; c++) {
        double mean = 0;
        for (int i = c; i < N; i += C) mean += (double)out[i];
        mean /= oh * ow;
        for (int i = c; i < N; i += C) out[i] = (out[i] - mean) * (double)p->factor + mean;
    }
    if (standardize) {
        double mean = 0, var = 0;
        for (int i = 0; i < N; i++) mean += (double)out[i];
        mean /= N;
        for (int i = 0; i < N; i++) var += ((double)out[i] - mean) * ((double)out[i] - mean);
        double sd = fmax(sqrt(var / N), 1.0 / sqrt((double)N));
        for (int i = 0; i < N; i++) out[i] = (out[i] - mean) / sd;
    } else {
        for (int i = 0; i < N; i++) out[i] /= 255.0;
    }
}

static void test_identity_when_off(void **state)
{
    (void)state;
    for (int l = 0; l < 2; l++) {
        CnnPixelLayout layout = l ? CNN_LAYOUT_CHW : CNN_LAYOUT_HWC;
        CnnDataset ds = fake_ds(5, 7, 3, layout);
        CnnConfig cfg = plain_cfg();
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        assert_int_equal(a.out_h, 5);
        assert_int_equal(a.out_w, 7);
        uint8_t img[105];
        random_image(img, sizeof img, 3);
        float out[105];
        tu_poison(out, 105);
        cnn_augment_train(&a, out, img, 4, 99);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++)
                for (int c = 0; c < 3; c++)
                    tu_assert_close(out[(y * 7 + x) * 3 + c], src_at(img, 5, 7, 3, layout, y, x, c) / 255.0,
                                    1e-6, 0, "x/255", (size_t)((y * 7 + x) * 3 + c));
        /* standardized: equals the reference, mean 0, population stddev 1 */
        cfg.standardize = 1;
        cnn_augment_init(&a, &cfg, &ds);
        tu_poison(out, 105);
        cnn_augment_train(&a, out, img, 4, 99);
        double ref[105], mean = 0, var = 0;
        CnnAugmentParams id = {0, 0, 0, 0.0f, 1.0f};
        reference(ref, img, 5, 7, 3, layout, 5, 7, &id, 1);
        for (int i = 0; i < 105; i++) {
            tu_assert_close(out[i], ref[i], 1e-5, 0, "standardized", (size_t)i);
            mean += (double)out[i];
        }
        mean /= 105;
        for (int i = 0; i < 105; i++) var += ((double)out[i] - mean) * ((double)out[i] - mean);
        assert_true(fabs(mean) < 1e-5);
        assert_true(fabs(sqrt(var / 105) - 1.0) < 1e-5);
    }
}

static void test_constant_image_gives_zero(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(4, 4, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = tutorial_cfg(0);
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[48];
    memset(img, 200, sizeof img);
    float out[48];
    tu_poison(out, 48);
    cnn_augment_train(&a, out, img, 0, 5);
    for (int i = 0; i < 48; i++) assert_true(out[i] == 0.0f);
}

/* One channel, 1x2 image: values 10, 30. */
static void test_brightness_contrast_by_hand(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(1, 2, 1, CNN_LAYOUT_HWC);
    CnnConfig cfg = plain_cfg();
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    const uint8_t img[2] = {10, 30};
    float out[2];
    /* brightness +5: 15, 35 */
    CnnAugmentParams p = {0, 0, 0, 5.0f, 1.0f};
    cnn_augment_apply(&a, out, img, &p);
    tu_assert_close(out[0], 15.0 / 255, 1e-7, 0, "bright", 0);
    tu_assert_close(out[1], 35.0 / 255, 1e-7, 0, "bright", 1);
    /* then contrast 2 about the mean 25: (15-25)*2+25 = 5, (35-25)*2+25 = 45 */
    p.factor = 2.0f;
    cnn_augment_apply(&a, out, img, &p);
    tu_assert_close(out[0], 5.0 / 255, 1e-7, 0, "contrast", 0);
    tu_assert_close(out[1], 45.0 / 255, 1e-7, 0, "contrast", 1);
    /* contrast 0.5, brightness -10: 0, 20 -> mean 10 -> 5, 15 */
    CnnAugmentParams q = {0, 0, 0, -10.0f, 0.5f};
    cnn_augment_apply(&a, out, img, &q);
    tu_assert_close(out[0], 5.0 / 255, 1e-7, 0, "contrast", 0);
    tu_assert_close(out[1], 15.0 / 255, 1e-7, 0, "contrast", 1);
    /* standardized 5, 45: mean 25, population stddev 20 -> -1, 1 */
    cfg.standardize = 1;
    cnn_augment_init(&a, &cfg, &ds);
    cnn_augment_apply(&a, out, img, &p);
    tu_assert_close(out[0], -1.0, 1e-6, 0, "std", 0);
    tu_assert_close(out[1], 1.0, 1e-6, 0, "std", 1);

    /* Two channels, per-channel means: c0 {10, 30} mean 20, c1 {100, 100} mean 100; factor 3,
     * delta 0: c0 -> -10, 50; c1 -> 100, 100. No clipping (TensorFlow does not clip). */
    CnnDataset ds2 = fake_ds(1, 2, 2, CNN_LAYOUT_HWC);
    cfg.standardize = 0;
    cnn_augment_init(&a, &cfg, &ds2);
    const uint8_t img2[4] = {10, 100, 30, 100};
    float out2[4];
    CnnAugmentParams r = {0, 0, 0, 0.0f, 3.0f};
    cnn_augment_apply(&a, out2, img2, &r);
    const double want[4] = {-10.0 / 255, 100.0 / 255, 50.0 / 255, 100.0 / 255};
    for (int i = 0; i < 4; i++) tu_assert_close(out2[i], want[i], 1e-7, 0, "2ch", (size_t)i);
}

/* data.mean and data.std: out = (y/255 - mean[c]) / std[c] after brightness and contrast, in training
 * and evaluation. A 1x2 image with two channels, mean (0.2, 0.5), std (0.5, 0.25):
 *   c0 = {51, 204} -> {0.2, 0.8} -> {0, 1.2};   c1 = {102, 0} -> {0.4, 0} -> {-0.4, -2}. */
static void test_mean_std_by_hand(void **state)
{
    (void)state;
    for (int l = 0; l < 2; l++) {
        const CnnPixelLayout layout = l ? CNN_LAYOUT_CHW : CNN_LAYOUT_HWC;
        CnnDataset ds = fake_ds(1, 2, 2, layout);
        CnnConfig cfg = plain_cfg();
        cfg.n_mean = cfg.n_std = 2;
        cfg.mean[0] = 0.2f, cfg.mean[1] = 0.5f;
        cfg.std[0] = 0.5f, cfg.std[1] = 0.25f;
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        const uint8_t hwc[4] = {51, 102, 204, 0}, chw[4] = {51, 204, 102, 0};
        const uint8_t *img = l ? chw : hwc;
        float out[4];
        tu_poison(out, 4);
        cnn_augment_eval(&a, out, img);
        const double want[4] = {0.0, -0.4, 1.2, -2.0}; /* [x][c] */
        for (int i = 0; i < 4; i++) tu_assert_close(out[i], want[i], 1e-6, 0, "mean/std eval", (size_t)i);
        /* random ops off: training gives the same */
        tu_poison(out, 4);
        cnn_augment_train(&a, out, img, 0, 3);
        for (int i = 0; i < 4; i++) tu_assert_close(out[i], want[i], 1e-6, 0, "mean/std train", (size_t)i);

        /* brightness +51, contrast 2, then the normalisation:
         *   c0: {51, 204} + 51 = {102, 255}, about 178.5 x2 = {25.5, 331.5} -> {0.1, 1.3} -> {-0.2, 2.2}
         *   c1: {102, 0} + 51 = {153, 51}, about 102 x2 = {204, 0} -> {0.8, 0} -> {1.2, -2} */
        CnnAugmentParams p = {0, 0, 0, 51.0f, 2.0f};
        tu_poison(out, 4);
        cnn_augment_apply(&a, out, img, &p);
        const double bc[4] = {-0.2, 1.2, 2.2, -2.0};
        for (int i = 0; i < 4; i++) tu_assert_close(out[i], bc[i], 1e-6, 0, "mean/std after contrast", (size_t)i);
        /* flipped: the two pixels swap */
        p.flip = 1;
        cnn_augment_apply(&a, out, img, &p);
        const double fl[4] = {2.2, -2.0, -0.2, 1.2};
        for (int i = 0; i < 4; i++) tu_assert_close(out[i], fl[i], 1e-6, 0, "mean/std flipped", (size_t)i);
    }

    /* CIFAR-10's usual statistics on a random image: every value against the formula in double */
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = plain_cfg();
    cfg.n_mean = cfg.n_std = 3;
    const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, sd[3] = {0.2470f, 0.2435f, 0.2616f};
    memcpy(cfg.mean, mean, sizeof mean);
    memcpy(cfg.std, sd, sizeof sd);
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[3072];
    random_image(img, sizeof img, 41);
    float out[3072];
    tu_poison(out, 3072);
    cnn_augment_eval(&a, out, img);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            for (int c = 0; c < 3; c++) {
                const size_t i = (size_t)((y * 32 + x) * 3 + c);
                const double v = img[c * 1024 + y * 32 + x] / 255.0;
                tu_assert_close(out[i], (v - (double)mean[c]) / (double)sd[c], 1e-6, 1e-6, "cifar mean/std", i);
            }
}

/* data.pad by hand: a 3x4 one-channel image padded by 2 (7x8), the window at (oy, ox) in the padded
 * image, pixels x/255:
 *      10  20  30  40
 *      50  60  70  80
 *      90 100 110 120
 * Reflection mirrors about the edge pixel without repeating it: row -1 is row 1, column 4 is column 2
 * (numpy's pad(..., 'reflect'): 30 20 | 10 20 30 40 | 30 20). */
static void test_pad_by_hand(void **state)
{
    (void)state;
    static const uint8_t img[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    static const struct {
        int reflect, oy, ox, flip;
        uint8_t want[12];
    } cases[] = {
        /* rows -1..1, columns 1..4 */
        {0, 1, 3, 0, {0, 0, 0, 0, 20, 30, 40, 0, 60, 70, 80, 0}},
        {1, 1, 3, 0, {60, 70, 80, 70, 20, 30, 40, 30, 60, 70, 80, 70}},
        /* rows 2..4, columns -2..1 */
        {0, 4, 0, 0, {0, 0, 90, 100, 0, 0, 0, 0, 0, 0, 0, 0}},
        {1, 4, 0, 0, {110, 100, 90, 100, 70, 60, 50, 60, 30, 20, 10, 20}},
        /* the same window flipped: each row read backwards */
        {1, 4, 0, 1, {100, 90, 100, 110, 60, 50, 60, 70, 20, 10, 20, 30}},
        /* the corner: rows -2..0, columns -2..1 */
        {0, 0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 20}},
        {1, 0, 0, 0, {110, 100, 90, 100, 70, 60, 50, 60, 30, 20, 10, 20}},
        /* the centre: the image itself */
        {0, 2, 2, 0, {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}},
    };
    CnnDataset ds = fake_ds(3, 4, 1, CNN_LAYOUT_HWC);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        CnnConfig cfg = plain_cfg();
        cfg.pad = 2;
        cfg.pad_mode = cases[t].reflect ? CNN_PAD_REFLECT : CNN_PAD_ZERO;
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        assert_int_equal(a.out_h, 3);
        assert_int_equal(a.out_w, 4);
        CnnAugmentParams p = {cases[t].oy, cases[t].ox, cases[t].flip, 0.0f, 1.0f};
        float out[12];
        tu_poison(out, 12);
        cnn_augment_apply(&a, out, img, &p);
        for (int i = 0; i < 12; i++)
            tu_assert_close(out[i], cases[t].want[i] / 255.0, 1e-7, 0, cases[t].reflect ? "reflect" : "zero",
                            t * 100 + (size_t)i);
    }
    /* evaluation: the unpadded image, in both modes */
    for (int reflect = 0; reflect < 2; reflect++) {
        CnnConfig cfg = plain_cfg();
        cfg.pad = 2;
        cfg.pad_mode = reflect ? CNN_PAD_REFLECT : CNN_PAD_ZERO;
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        float out[12];
        tu_poison(out, 12);
        cnn_augment_eval(&a, out, img);
        for (int i = 0; i < 12; i++) tu_assert_close(out[i], img[i] / 255.0, 1e-7, 0, "pad eval", (size_t)i);
    }
}

/* The source image padded by P (zeros or reflected), [(H+2P)][(W+2P)] in the same layout: what
 * torchvision pads before its crop, for the reference. */
static void pad_image(uint8_t *dst, const uint8_t *img, int H, int W, int C, CnnPixelLayout l, int P, int reflect)
{
    const int PH = H + 2 * P, PW = W + 2 * P;
    for (int y = 0; y < PH; y++)
        for (int x = 0; x < PW; x++)
            for (int c = 0; c < C; c++) {
                int sy = y - P, sx = x - P, inside = 1;
                if (reflect) {
                    sy = sy < 0 ? -sy : sy >= H ? 2 * (H - 1) - sy : sy;
                    sx = sx < 0 ? -sx : sx >= W ? 2 * (W - 1) - sx : sx;
                } else {
                    inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
                }
                uint8_t v = inside ? (uint8_t)src_at(img, H, W, C, l, sy, sx, c) : 0;
                if (l == CNN_LAYOUT_CHW) dst[(c * PH + y) * PW + x] = v;
                else dst[(y * PW + x) * C + c] = v;
            }
}

/* pad with the tutorial's distortions: training equals the step-by-step reference on the padded
 * image, in both layouts and modes; the offsets cover exactly 0..2P; the other draws are those of the
 * same config without pad (and so the values pinned below). */
static void test_pad_train_and_draws(void **state)
{
    (void)state;
    enum { H = 32, W = 32, C = 3, P = 4, PH = H + 2 * P, PW = W + 2 * P };
    uint8_t img[H * W * C], padded[PH * PW * C];
    random_image(img, sizeof img, 31);
    float out[H * W * C];
    double ref[H * W * C];
    for (int l = 0; l < 2; l++) {
        const CnnPixelLayout layout = l ? CNN_LAYOUT_CHW : CNN_LAYOUT_HWC;
        CnnDataset ds = fake_ds(H, W, C, layout);
        for (int reflect = 0; reflect < 2; reflect++) {
            CnnConfig cfg = tutorial_cfg(0);
            cfg.pad = P;
            cfg.pad_mode = reflect ? CNN_PAD_REFLECT : CNN_PAD_ZERO;
            CnnAugment a;
            cnn_augment_init(&a, &cfg, &ds);
            pad_image(padded, img, H, W, C, layout, P, reflect);
            for (long idx = 0; idx < 12; idx++) {
                CnnAugmentParams p;
                cnn_augment_draw(&a, 5, idx, &p);
                tu_poison(out, H * W * C);
                cnn_augment_train(&a, out, img, 5, idx);
                reference(ref, padded, PH, PW, C, layout, H, W, &p, 1);
                for (int i = 0; i < H * W * C; i++) tu_assert_close(out[i], ref[i], 2e-5, 0, "pad train", (size_t)i);
            }
        }
    }

    CnnDataset ds = fake_ds(H, W, C, CNN_LAYOUT_CHW);
    CnnConfig cfg = tutorial_cfg(0), nopad = tutorial_cfg(0);
    cfg.pad = P;
    CnnAugment a, b;
    cnn_augment_init(&a, &cfg, &ds);
    cnn_augment_init(&b, &nopad, &ds);
    int oy_seen[2 * P + 1] = {0}, ox_seen[2 * P + 1] = {0};
    for (long i = 0; i < 4000; i++) {
        CnnAugmentParams p, q;
        cnn_augment_draw(&a, 0, i, &p);
        cnn_augment_draw(&b, 0, i, &q);
        assert_in_range(p.oy, 0, 2 * P);
        assert_in_range(p.ox, 0, 2 * P);
        oy_seen[p.oy]++;
        ox_seen[p.ox]++;
        assert_int_equal(q.oy, 0);
        assert_int_equal(q.ox, 0);
        assert_int_equal(p.flip, q.flip);
        assert_true(p.delta == q.delta && p.factor == q.factor);
    }
    for (int k = 0; k <= 2 * P; k++) assert_true(oy_seen[k] > 300 && ox_seen[k] > 300); /* ~444 each */
    /* the pinned draws of test_existing_draws_pinned (epoch 3, samples 0..3): flips, deltas, factors */
    static const int flips[4] = {0, 1, 1, 1};
    static const float deltas[4] = {29.9604797f, -4.20404434f, -25.5415306f, 13.6569977f};
    static const float factors[4] = {0.50639838f, 0.729947984f, 0.481478691f, 0.82518208f};
    for (long i = 0; i < 4; i++) {
        CnnAugmentParams p;
        cnn_augment_draw(&a, 3, i, &p);
        assert_int_equal(p.flip, flips[i]);
        assert_true(p.delta == deltas[i] && p.factor == factors[i]);
    }
    /* evaluation with a pad is evaluation without one, bit for bit */
    float e1[H * W * C], e2[H * W * C];
    cnn_augment_eval(&a, e1, img);
    cnn_augment_eval(&b, e2, img);
    assert_memory_equal(e1, e2, sizeof e1);
}

static void test_flip_is_mirror(void **state)
{
    (void)state;
    for (int l = 0; l < 2; l++) {
        CnnPixelLayout layout = l ? CNN_LAYOUT_CHW : CNN_LAYOUT_HWC;
        CnnDataset ds = fake_ds(8, 8, 3, layout);
        CnnConfig cfg = plain_cfg();
        cfg.crop = 6;
        cfg.standardize = 1;
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        uint8_t img[192];
        random_image(img, sizeof img, 11);
        float plain[108], flipped[108];
        CnnAugmentParams p = {1, 2, 0, 7.0f, 1.3f};
        cnn_augment_apply(&a, plain, img, &p);
        p.flip = 1;
        cnn_augment_apply(&a, flipped, img, &p);
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
                for (int c = 0; c < 3; c++)
                    assert_true(flipped[(y * 6 + x) * 3 + c] == plain[(y * 6 + (5 - x)) * 3 + c]);
        /* and the window really is rows 1..6, cols 2..7, mirrored */
        double ref[108];
        reference(ref, img, 8, 8, 3, layout, 6, 6, &p, 1);
        for (int i = 0; i < 108; i++) tu_assert_close(flipped[i], ref[i], 1e-5, 0, "flip", (size_t)i);
    }
}

static void test_central_crop(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = plain_cfg();
    cfg.crop = 24;
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[3072];
    random_image(img, sizeof img, 12);
    float out[24 * 24 * 3];
    tu_poison(out, 24 * 24 * 3);
    cnn_augment_eval(&a, out, img);
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 24; x++)
            for (int c = 0; c < 3; c++)
                tu_assert_close(out[(y * 24 + x) * 3 + c], img[c * 1024 + (y + 4) * 32 + (x + 4)] / 255.0,
                                1e-6, 0, "crop", (size_t)((y * 24 + x) * 3 + c));
    /* odd margin: 7 -> 4 takes offset 1 (rounded down), eval standardizes when asked */
    CnnDataset ds7 = fake_ds(7, 7, 1, CNN_LAYOUT_HWC);
    cfg.crop = 4;
    cfg.standardize = 1;
    cfg.brightness = 50.0f; /* eval ignores the random ops */
    cnn_augment_init(&a, &cfg, &ds7);
    uint8_t img7[49];
    random_image(img7, 49, 13);
    float out7[16];
    cnn_augment_eval(&a, out7, img7);
    double ref[16];
    CnnAugmentParams p = {1, 1, 0, 0.0f, 1.0f};
    reference(ref, img7, 7, 7, 1, CNN_LAYOUT_HWC, 4, 4, &p, 1);
    for (int i = 0; i < 16; i++) tu_assert_close(out7[i], ref[i], 1e-5, 0, "crop7", (size_t)i);
}

/* The CIFAR-10 tutorial settings: train output equals the double reference under its own draws. */
static void test_train_matches_reference(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = tutorial_cfg(24);
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[3072];
    random_image(img, sizeof img, 21);
    float out[1728];
    double ref[1728];
    for (long idx = 0; idx < 20; idx++) {
        CnnAugmentParams p;
        cnn_augment_draw(&a, 3, idx, &p);
        tu_poison(out, 1728);
        cnn_augment_train(&a, out, img, 3, idx);
        reference(ref, img, 32, 32, 3, CNN_LAYOUT_CHW, 24, 24, &p, 1);
        for (int i = 0; i < 1728; i++) tu_assert_close(out[i], ref[i], 2e-5, 0, "train", (size_t)i);
    }
}

static void test_deterministic_and_draws(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = tutorial_cfg(24);
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    uint8_t img[3072];
    random_image(img, sizeof img, 22);
    float x1[1728], x2[1728], x3[1728], x4[1728];
    cnn_augment_train(&a, x1, img, 2, 100);
    cnn_augment_train(&a, x2, img, 2, 100);
    cnn_augment_train(&a, x3, img, 2, 101);
    cnn_augment_train(&a, x4, img, 3, 100);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_not_equal(x1, x3, sizeof x1);
    assert_memory_not_equal(x1, x4, sizeof x1);

    /* Ranges and rough frequencies over 4000 samples. */
    int flips = 0, oy_seen[9] = {0}, ox_seen[9] = {0};
    double dmin = 1e9, dmax = -1e9, fmn = 1e9, fmx = -1e9;
    for (long i = 0; i < 4000; i++) {
        CnnAugmentParams p;
        cnn_augment_draw(&a, 0, i, &p);
        assert_in_range(p.oy, 0, 8);
        assert_in_range(p.ox, 0, 8);
        oy_seen[p.oy]++;
        ox_seen[p.ox]++;
        flips += p.flip;
        dmin = fmin(dmin, (double)p.delta);
        dmax = fmax(dmax, (double)p.delta);
        fmn = fmin(fmn, (double)p.factor);
        fmx = fmax(fmx, (double)p.factor);
    }
    for (int k = 0; k < 9; k++) assert_true(oy_seen[k] > 300 && ox_seen[k] > 300); /* ~444 each */
    assert_true(flips > 1800 && flips < 2200);
    assert_true(dmin >= -63.0 && dmin < -60.0 && dmax < 63.0 && dmax > 60.0);
    assert_true(fmn >= 0.2 && fmn < 0.25 && fmx < 1.8 && fmx > 1.75);

    /* flip off: never flips, the other draws unchanged */
    cfg.flip = 0;
    CnnAugment b;
    cnn_augment_init(&b, &cfg, &ds);
    for (long i = 0; i < 100; i++) {
        CnnAugmentParams p, q;
        cnn_augment_draw(&a, 0, i, &p);
        cnn_augment_draw(&b, 0, i, &q);
        assert_int_equal(q.flip, 0);
        assert_int_equal(p.oy, q.oy);
        assert_true(p.delta == q.delta && p.factor == q.factor);
    }
    /* a different seed changes the draws */
    cfg.seed = 18;
    CnnAugment c;
    cnn_augment_init(&c, &cfg, &ds);
    cnn_augment_train(&c, x3, img, 2, 100);
    assert_memory_not_equal(x1, x3, sizeof x1);
}

/* The draws and outputs of the existing options, pinned: options added later take their draws after
 * these (or not at all), so a config that does not use them trains on the same bits as before. The
 * values were taken from the code before data.pad and data.mean/std existed. */
static void test_existing_draws_pinned(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = tutorial_cfg(24);
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    static const CnnAugmentParams want[4] = {{7, 5, 0, 29.9604797f, 0.50639838f},
                                             {0, 0, 1, -4.20404434f, 0.729947984f},
                                             {7, 3, 1, -25.5415306f, 0.481478691f},
                                             {3, 8, 1, 13.6569977f, 0.82518208f}};
    for (long i = 0; i < 4; i++) {
        CnnAugmentParams p;
        cnn_augment_draw(&a, 3, i, &p);
        assert_int_equal(p.oy, want[i].oy);
        assert_int_equal(p.ox, want[i].ox);
        assert_int_equal(p.flip, want[i].flip);
        assert_true(p.delta == want[i].delta && p.factor == want[i].factor);
    }

    /* Whole outputs, train (8 samples) and eval, with and without crop and standardization. */
    uint8_t img[3072];
    random_image(img, sizeof img, 23);
    static const uint64_t want_hash[2][2] = {{0xd08ccf63271858e0ULL, 0x0048d24e89e5280dULL},
                                             {0x403c95ec51b08ab3ULL, 0x2357b8e4fade94eaULL}};
    static float out[3072];
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 2; k++) {
            cfg = tutorial_cfg(k ? 24 : 0);
            cfg.standardize = s;
            cnn_augment_init(&a, &cfg, &ds);
            const size_t n = (size_t)a.out_h * (size_t)a.out_w * 3;
            uint64_t h = CNN_HASH_INIT;
            for (long i = 0; i < 8; i++) {
                cnn_augment_train(&a, out, img, 3, i);
                h = cnn_hash_bytes(h, out, n * sizeof(float));
            }
            cnn_augment_eval(&a, out, img);
            h = cnn_hash_bytes(h, out, n * sizeof(float));
            if (h != want_hash[s][k])
                fail_msg("standardize %d crop %d: outputs hash %016llx, before %016llx", s, k ? 24 : 0,
                         (unsigned long long)h, (unsigned long long)want_hash[s][k]);
        }
    }
}


/* cnn_augment_view (test-time augmentation): the evaluation window moved by one pixel, pixels beyond
 * the edge reflected, mirrored on request, by hand on a 3x4 image; with zero padding in the config
 * too (the views always reflect), without any padding, and in a central crop. */
static void test_tta_views_by_hand(void **state)
{
    (void)state;
    static const uint8_t img[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    static const struct {
        int dy, dx, flip;
        uint8_t want[12];
    } cases[] = {
        {0, 0, 0, {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}},
        {0, 0, 1, {40, 30, 20, 10, 80, 70, 60, 50, 120, 110, 100, 90}},
        /* up-left: row -1 is row 1, column -1 is column 1 */
        {-1, -1, 0, {60, 50, 60, 70, 20, 10, 20, 30, 60, 50, 60, 70}},
        {-1, -1, 1, {70, 60, 50, 60, 30, 20, 10, 20, 70, 60, 50, 60}},
        /* down-right: row 3 is row 1, column 4 is column 2 */
        {1, 1, 0, {60, 70, 80, 70, 100, 110, 120, 110, 60, 70, 80, 70}},
    };
    CnnDataset ds = fake_ds(3, 4, 1, CNN_LAYOUT_HWC);
    for (int mode = 0; mode < 3; mode++) { /* no pad, pad 2 zero, pad 2 reflect */
        CnnConfig cfg = plain_cfg();
        cfg.pad = mode ? 2 : 0;
        cfg.pad_mode = mode == 2 ? CNN_PAD_REFLECT : CNN_PAD_ZERO;
        CnnAugment a;
        cnn_augment_init(&a, &cfg, &ds);
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            float out[12];
            tu_poison(out, 12);
            cnn_augment_view(&a, out, img, cases[t].dy, cases[t].dx, cases[t].flip);
            for (int i = 0; i < 12; i++)
                tu_assert_close(out[i], cases[t].want[i] / 255.0, 1e-7, 0, "view", (size_t)mode * 1000 + t * 100 + (size_t)i);
        }
    }
    /* a 2x2 central crop of the 4x4 image 0..15: the window at (1, 1) moves inside the image */
    uint8_t sq[16];
    for (int i = 0; i < 16; i++) sq[i] = (uint8_t)i;
    CnnDataset ds4 = fake_ds(4, 4, 1, CNN_LAYOUT_HWC);
    CnnConfig cfg = plain_cfg();
    cfg.crop = 2;
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds4);
    float out[4];
    cnn_augment_view(&a, out, sq, -1, -1, 0);
    static const uint8_t ul[4] = {0, 1, 4, 5};
    for (int i = 0; i < 4; i++) tu_assert_close(out[i], ul[i] / 255.0, 1e-7, 0, "crop view", (size_t)i);
    cnn_augment_view(&a, out, sq, 1, 1, 1);
    static const uint8_t dr[4] = {11, 10, 15, 14};
    for (int i = 0; i < 4; i++) tu_assert_close(out[i], dr[i] / 255.0, 1e-7, 0, "crop view flipped", (size_t)i);
}

/* data.flip_mode = alternate: a sample's flip in epoch e is its epoch-0 draw, reversed when e is odd;
 * about half the samples flip in epoch 0; the other draws (the offsets) stay per epoch. */
static void test_alternate_flips(void **state)
{
    (void)state;
    CnnDataset ds = fake_ds(32, 32, 3, CNN_LAYOUT_CHW);
    CnnConfig cfg = plain_cfg();
    cfg.flip = 1;
    cfg.pad = 2;
    CnnAugment rnd, alt;
    cnn_augment_init(&rnd, &cfg, &ds);
    cfg.flip_mode = CNN_FLIP_ALTERNATE;
    cnn_augment_init(&alt, &cfg, &ds);
    int flipped0 = 0, offsets_differ = 0;
    for (long i = 0; i < 1000; i++) {
        CnnAugmentParams p0, r0;
        cnn_augment_draw(&alt, 0, i, &p0);
        cnn_augment_draw(&rnd, 0, i, &r0);
        assert_int_equal(p0.flip, r0.flip); /* epoch 0 is the random draw itself */
        flipped0 += p0.flip;
        for (long e = 1; e < 6; e++) {
            CnnAugmentParams pe, re;
            cnn_augment_draw(&alt, e, i, &pe);
            cnn_augment_draw(&rnd, e, i, &re);
            assert_int_equal(pe.flip, p0.flip ^ (int)(e & 1));
            assert_int_equal(pe.oy, re.oy);
            assert_int_equal(pe.ox, re.ox);
            offsets_differ += pe.oy != p0.oy || pe.ox != p0.ox;
        }
    }
    assert_in_range(flipped0, 450, 550);
    assert_true(offsets_differ > 4500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_when_off),
        cmocka_unit_test(test_constant_image_gives_zero),
        cmocka_unit_test(test_brightness_contrast_by_hand),
        cmocka_unit_test(test_mean_std_by_hand),
        cmocka_unit_test(test_pad_by_hand),
        cmocka_unit_test(test_pad_train_and_draws),
        cmocka_unit_test(test_flip_is_mirror),
        cmocka_unit_test(test_central_crop),
        cmocka_unit_test(test_train_matches_reference),
        cmocka_unit_test(test_deterministic_and_draws),
        cmocka_unit_test(test_existing_draws_pinned),
        cmocka_unit_test(test_tta_views_by_hand),
        cmocka_unit_test(test_alternate_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
