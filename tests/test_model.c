/* model: shapes, parameter counts and FLOPs of the shipped networks; a whole-network gradient check and
 * the mean of shard gradients equals the whole-batch gradient, on every instruction set; build errors
 * name the config line; the direct and sgemm convolutions agree inside a network; the same network on
 * AVX2 and AVX-512 gives bitwise the same loss and gradients. */
#include "testutil.h"

#include "cnn/config.h"
#include "cnn/nn/model.h"
#include "cnn/rng.h"
#include "cnn/tta.h"

static void load(CnnConfig *cfg, const char *path)
{
    CnnErr err;
    if (cnn_config_load(cfg, path, NULL, 0, &err)) fail_msg("%s", err.msg);
}

static void test_cifar10_shapes_params_flops(void **state)
{
    (void)state;
    static CnnConfig cfg;
    load(&cfg, "configs/cifar10.ini");
    CnnModel m;
    CnnErr err;
    const CnnModelOpts o2 = cnn_model_opts_local(2);
    assert_int_equal(cnn_model_build(&m, &cfg, &o2, &err), 0);
    assert_int_equal(m.n_params, 1068298);
    const int want[9][3] = {{24, 24, 64}, {12, 12, 64}, {12, 12, 64}, {12, 12, 64}, {12, 12, 64},
                            {6, 6, 64},   {1, 1, 384},  {1, 1, 192},  {1, 1, 10}};
    for (int i = 0; i < 9; i++) {
        assert_int_equal(m.layers[i].oh, want[i][0]);
        assert_int_equal(m.layers[i].ow, want[i][1]);
        assert_int_equal(m.layers[i].oc, want[i][2]);
    }
    assert_int_equal(m.layers[6].ic, 2304);
    /* forward: 2 * MACs of conv1 (24*24*64*75), conv2 (12*12*64*1600), the dense layers */
    double fwd = 2.0 * (24 * 24 * 64 * 75.0 + 12 * 12 * 64 * 1600.0 + 2304 * 384.0 + 384 * 192.0 + 192 * 10.0);
    assert_true(fabs(cnn_model_forward_flops(&m) - fwd) < 1.0);
    /* training: forward + weight gradients + data gradients of all but conv1 */
    double train = 3.0 * fwd - 2.0 * (24 * 24 * 64 * 75.0);
    assert_true(fabs(cnn_model_train_flops(&m) - train) < 1.0);
    assert_int_equal(m.n_tensors, 10);
    assert_string_equal(m.tensors[0].name, "conv1/weights");
    assert_int_equal(m.tensors[0].dims[3], 64);
    cnn_model_free(&m);
}

static void test_mnist_params(void **state)
{
    (void)state;
    static CnnConfig cfg;
    load(&cfg, "configs/mnist.ini");
    CnnModel m;
    CnnErr err;
    const CnnModelOpts o1 = cnn_model_opts_local(1);
    assert_int_equal(cnn_model_build(&m, &cfg, &o1, &err), 0);
    /* 5*5*1*32+32 + 5*5*32*64+64 + 7*7*64*1024+1024 + 1024*10+10 */
    assert_int_equal(m.n_params, 832 + 51264 + 3212288 + 10250);
    cnn_model_free(&m);
}

static void test_build_errors_name_the_line(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnErr err;
    const char *ov[] = {"logits.units=7"};
    assert_int_equal(cnn_config_load(&cfg, "configs/tiny.ini", ov, 1, &err), 0);
    CnnModel m;
    const CnnModelOpts o1 = cnn_model_opts_local(1);
    assert_int_equal(cnn_model_build(&m, &cfg, &o1, &err), -1);
    assert_non_null(strstr(err.msg, "tiny.ini:"));
    assert_non_null(strstr(err.msg, "logits"));
}

/* loss of the tiny network on a fixed batch, in double, for the numerical gradient */


static double batch_loss(CnnModel *m, const float *x, const int *y, int n)
{
    int pos[8];
    for (int i = 0; i < n; i++) pos[i] = i;
    const float *logits = cnn_model_forward(m, x, n, 1, 5, pos);
    double l = cnn_softmax_xent(NULL, logits, y, n, m->num_classes, 1.0f, NULL);
    return l / n + cnn_model_weight_loss(m);
}

/* The tiny network without dropout, with weight decay on fc1, smooth activations and average pooling:
 * central differences across the whole network must not straddle ReLU kinks or max-pool switches
 * (each layer's own test checks those). */
static void tiny_model(CnnModel *m, CnnConfig *cfg, int cap, CnnIsa isa)
{
    CnnErr err;
    const char *ov[] = {"drop1.keep=1", "fc1.wl=0.01", "conv1.activation=tanh", "conv2.activation=tanh",
                        "fc1.activation=tanh", "pool1.type=avgpool"};
    assert_int_equal(cnn_config_load(cfg, "configs/tiny.ini", ov, 6, &err), 0);
    const CnnModelOpts o = {cap, isa, 1, 0, 0};
    assert_int_equal(cnn_model_build(m, cfg, &o, &err), 0);
    cnn_model_init_params(m, 3);
}

/* n inputs of m's shape, uniform in [-1, 1) (malloc'd). */
static float *random_inputs(const CnnModel *m, int n, uint64_t seed)
{
    size_t count = (size_t)n * m->in_h * m->in_w * m->in_c;
    float *x = malloc(count * sizeof(float));
    tu_fill_uniform(x, count, -1.0f, 1.0f, seed);
    return x;
}

static void test_whole_network_gradient(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, kern) {
        static CnnConfig cfg;
        CnnModel m;
        tiny_model(&m, &cfg, 4, isa);
        const int n = 4;
        size_t per = (size_t)m.in_h * m.in_w * m.in_c;
        float *x = malloc(n * per * sizeof(float));
        tu_fill_uniform(x, n * per, -1.0f, 1.0f, 11);
        int y[4] = {1, 7, 3, 9};
        float *g = calloc(m.n_params, sizeof(float));
        int pos[4] = {0, 1, 2, 3};
        cnn_model_forward(&m, x, n, 1, 5, pos);
        cnn_model_backward(&m, g, CNN_GRAD_ACCUMULATE, y, n, 1.0f / n, NULL, NULL);
        /* overwriting writes every parameter's gradient: a poisoned block gets the same values */
        float *g2 = malloc(m.n_params * sizeof(float));
        tu_poison(g2, m.n_params);
        cnn_model_forward(&m, x, n, 1, 5, pos);
        cnn_model_backward(&m, g2, CNN_GRAD_OVERWRITE, y, n, 1.0f / n, NULL, NULL);
        for (size_t i = 0; i < m.n_params; i++)
            if (!(g2[i] == g[i])) fail_msg("overwrite grad[%zu] = %g, accumulated %g", i, (double)g2[i], (double)g[i]);
        free(g2);
        cnn_model_add_weight_decay(&m, g, 0.0);
        /* a sample of parameters from every tensor */
        for (int t = 0; t < m.n_tensors; t++) {
            const CnnTensorInfo *ti = &m.tensors[t];
            for (size_t k = 0; k < 6; k++) {
                size_t i = ti->offset + (k * 7919) % ti->count;
                const float save = m.params[i], h = 3e-3f, xp = save + h, xm = save - h;
                m.params[i] = xp;
                double lp = batch_loss(&m, x, y, n);
                m.params[i] = xm;
                double lm = batch_loss(&m, x, y, n);
                m.params[i] = save;
                /* the step float really took, not 2h */
                double num = (lp - lm) / ((double)xp - (double)xm);
                tu_assert_close((double)g[i], num, 2e-4, 5e-3, ti->name, k);
            }
        }
        free(x);
        free(g);
        cnn_model_free(&m);
        (void)kern;
    }
}

static void test_shard_gradients_sum_to_batch_gradient(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, kern) {
        static CnnConfig cfg;
        CnnModel m;
        tiny_model(&m, &cfg, 8, isa);
        const int n = 8;
        size_t per = (size_t)m.in_h * m.in_w * m.in_c;
        float *x = random_inputs(&m, n, 12);
        int y[8] = {0, 1, 2, 3, 4, 5, 6, 7}, pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        float *whole = calloc(m.n_params, sizeof(float)), *parts = calloc(m.n_params, sizeof(float));
        cnn_model_forward(&m, x, n, 1, 0, pos);
        double lw = cnn_model_backward(&m, whole, CNN_GRAD_ACCUMULATE, y, n, 1.0f / n, NULL, NULL);
        double lp = 0;
        /* three uneven shards (3, 3, 2), each scaled by 1/global batch, accumulated */
        int cut[4] = {0, 3, 6, 8};
        for (int s = 0; s < 3; s++) {
            cnn_model_forward(&m, x + cut[s] * per, cut[s + 1] - cut[s], 1, 0, pos + cut[s]);
            lp += cnn_model_backward(&m, parts, CNN_GRAD_ACCUMULATE, y + cut[s], cut[s + 1] - cut[s], 1.0f / n, NULL, NULL);
        }
        assert_true(fabs(lw - lp) < 1e-5 * fabs(lw));
        /* agreement to float rounding: the sums are regrouped (by shard, and by Winograd's tiles in conv2's
         * weight gradient), and small entries carry the rounding of the larger terms they sum */
        for (size_t i = 0; i < m.n_params; i++) tu_assert_close((double)parts[i], (double)whole[i], 1e-6, 1e-4, "grad", i);
        free(x);
        free(whole);
        free(parts);
        cnn_model_free(&m);
        (void)kern;
    }
}

/* run.conv = direct and run.conv = gemm: the same loss and gradients to float rounding (the tiny
 * network's conv2 is one the direct kernels apply to; conv1, stride 2, always takes sgemm). */
static void test_direct_and_gemm_convs_agree(void **state)
{
    (void)state;
    if (!cnn_kernels(tu_isa_max())->tiles) skip(); /* CNN_ISA=generic or no AVX2 */
    static CnnConfig cd, cg;
    CnnModel md, mg;
    CnnErr err;
    const char *ovd[] = {"drop1.keep=1", "run.conv=direct"}, *ovg[] = {"drop1.keep=1", "run.conv=gemm"};
    assert_int_equal(cnn_config_load(&cd, "configs/tiny.ini", ovd, 2, &err), 0);
    assert_int_equal(cnn_config_load(&cg, "configs/tiny.ini", ovg, 2, &err), 0);
    const CnnModelOpts o = {8, tu_isa_max(), 1, 0, 0};
    assert_int_equal(cnn_model_build(&md, &cd, &o, &err), 0);
    assert_int_equal(cnn_model_build(&mg, &cg, &o, &err), 0);
    assert_int_equal(md.layers[0].conv.fwd, CNN_ALGO_SGEMM); /* stride 2 */
    assert_int_equal(md.layers[3].conv.fwd, CNN_ALGO_DIRECT);
    assert_int_equal(mg.layers[3].conv.fwd, CNN_ALGO_SGEMM);
    assert_true(cnn_config_train_hash(&cd) != cnn_config_train_hash(&cg)); /* ranks must agree on it */
    cnn_model_init_params(&md, 3);
    cnn_model_init_params(&mg, 3);
    const int n = 8;
    float *x = random_inputs(&md, n, 13);
    int y[8] = {0, 1, 2, 3, 4, 5, 6, 7}, pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    float *gd = calloc(md.n_params, sizeof(float)), *gg = calloc(mg.n_params, sizeof(float));
    cnn_model_forward(&md, x, n, 1, 0, pos);
    double ld = cnn_model_backward(&md, gd, CNN_GRAD_ACCUMULATE, y, n, 1.0f / n, NULL, NULL);
    cnn_model_forward(&mg, x, n, 1, 0, pos);
    double lg = cnn_model_backward(&mg, gg, CNN_GRAD_ACCUMULATE, y, n, 1.0f / n, NULL, NULL);
    assert_true(fabs(ld - lg) < 1e-6 * fabs(lg));
    for (size_t i = 0; i < md.n_params; i++) tu_assert_close((double)gd[i], (double)gg[i], 1e-6, 1e-4, "grad", i);
    free(x), free(gd), free(gg);
    cnn_model_free(&md);
    cnn_model_free(&mg);
}

/* One forward and backward of the tiny network (Winograd conv2, tiled dense layers) on an instruction set:
 * the loss and the gradient block. */
static double tiny_gradient(CnnIsa isa, float *grad)
{
    static CnnConfig cfg;
    CnnModel m;
    tiny_model(&m, &cfg, 8, isa);
    const int n = 8;
    float *x = random_inputs(&m, n, 14);
    int y[8] = {0, 1, 2, 3, 4, 5, 6, 7}, pos[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    memset(grad, 0, m.n_params * sizeof(float));
    cnn_model_forward(&m, x, n, 1, 0, pos);
    double l = cnn_model_backward(&m, grad, CNN_GRAD_ACCUMULATE, y, n, 1.0f / n, NULL, NULL);
    free(x);
    cnn_model_free(&m);
    return l;
}

/* The guarantee behind CNN_ISA: AVX2 and AVX-512 give the same bits; the generic set (OpenBLAS) agrees
 * to rounding only. */
static void test_instruction_sets_agree(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnModel m;
    tiny_model(&m, &cfg, 8, CNN_ISA_GENERIC);
    const size_t np = m.n_params;
    cnn_model_free(&m);
    float *g0 = malloc(np * 4), *g1 = malloc(np * 4), *g2 = malloc(np * 4);
    double l0 = tiny_gradient(CNN_ISA_GENERIC, g0);
    if (tu_isa_max() < CNN_ISA_AVX2) {
        free(g0), free(g1), free(g2);
        skip();
    }
    double l1 = tiny_gradient(CNN_ISA_AVX2, g1);
    assert_true(fabs(l0 - l1) < 1e-6 * fabs(l0));
    for (size_t i = 0; i < np; i++) tu_assert_close((double)g1[i], (double)g0[i], 1e-6, 1e-4, "avx2 vs generic", i);
    int differs = memcmp(g0, g1, np * 4) != 0; /* OpenBLAS sums in another order */
    assert_true(differs);
    if (tu_isa_max() >= CNN_ISA_AVX512) {
        double l2 = tiny_gradient(CNN_ISA_AVX512, g2);
        assert_true(l1 == l2);
        assert_memory_equal(g1, g2, np * 4);
    }
    free(g0), free(g1), free(g2);
    if (tu_isa_max() < CNN_ISA_AVX512) {
        print_message("AVX-512 not available here (CPU or CNN_ISA): AVX2 checked against generic only\n");
        skip();
    }
}


/* A small airbench-like network from text: a whitening-shaped conv on the image with trainable = biases
 * until epoch 2, a dirac conv, batchnorm with lr_scale 4, a uniform dense head. */
static const char *training_keys_ini =
    "[data]\nformat = cifar10\ndir = .\n[train]\nbatch = 8\nsteps = 1\noptimizer = sgd\n"
    "weight_decay = 0.01\nweight_decay_on = all\n"
    "[w]\ntype = conv\nfilters = 24\nsize = 2\npadding = valid\ninit = whiten\ntrainable = biases\n"
    "train_until_epoch = 2\n"
    "[c]\ntype = conv\nfilters = 32\nsize = 3\npadding = same\nuse_bias = false\ninit = dirac\n"
    "[bn]\ntype = batchnorm\nscale = false\nlr_scale = 4\n"
    "[g]\ntype = global_avgpool\n[d]\ntype = dense\nunits = 10\ninit = uniform\nuse_bias = false\n";

/* trainable, train_until_epoch, lr_scale and weight_decay_on = all reach the tensors; the trained ranges
 * leave the frozen weights out and the bias out from epoch 2; dirac and uniform initialisers by hand. */
static void test_training_keys(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnErr err;
    if (cnn_config_parse(&cfg, training_keys_ini, "t.ini", NULL, 0, &err)) fail_msg("%s", err.msg);
    CnnModel m;
    const CnnModelOpts o = cnn_model_opts_local(2);
    assert_int_equal(cnn_model_build(&m, &cfg, &o, &err), 0);
    cnn_model_init_params(&m, 3);
    /* tensors: w/weights, w/biases, c/weights, bn/beta, d/weights, then the buffers */
    assert_string_equal(m.tensors[0].name, "w/weights");
    assert_true(m.tensors[0].frozen && !m.tensors[1].frozen && !m.tensors[2].frozen);
    assert_true(m.tensors[1].until_epoch == 2.0f && m.tensors[2].until_epoch == 0.0f);
    assert_string_equal(m.tensors[3].name, "bn/beta");
    assert_true(m.tensors[3].lr_scale == 4.0f && m.tensors[2].lr_scale == 1.0f);
    for (int i = 0; i < m.n_trainable_tensors; i++) assert_true(m.tensors[i].decay); /* weight_decay_on = all */
    size_t r[2 * CNN_MAX_TENSORS];
    const size_t w_n = 2 * 2 * 3 * 24, b_off = w_n;
    assert_int_equal(cnn_model_trained_ranges(&m, 1.0, r), 1); /* the bias and all after it */
    assert_true(r[0] == b_off && r[1] == m.n_trainable - b_off);
    assert_int_equal(cnn_model_trained_ranges(&m, 2.0, r), 1); /* epoch 2: the bias is out too */
    assert_true(r[0] == b_off + 24 && r[1] == m.n_trainable - b_off - 24);
    /* lr_scale multiplies bn's gradient only */
    float *g = calloc(m.n_params, sizeof *g);
    for (size_t i = 0; i < m.n_params; i++) g[i] = 1.0f;
    cnn_model_scale_grads(&m, g);
    for (int t = 0; t < m.n_tensors; t++)
        for (size_t j = 0; j < m.tensors[t].count; j++)
            assert_true(g[m.tensors[t].offset + j] == (t == 3 ? 4.0f : 1.0f));
    free(g);
    /* dirac: filter o < 24 of c passes channel o (centre tap 1, the rest 0); filters 24..31 uniform in
     * +-1/sqrt(3 * 3 * 24) */
    const float *cw = m.params + m.tensors[2].offset, bound = 1.0f / sqrtf(216.0f);
    int nonzero = 0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            for (int i = 0; i < 24; i++)
                for (int f = 0; f < 32; f++) {
                    const float v = cw[((y * 3 + x) * 24 + i) * 32 + f];
                    if (f < 24) assert_true(v == (y == 1 && x == 1 && i == f ? 1.0f : 0.0f));
                    else {
                        assert_true(fabsf(v) <= bound);
                        nonzero += v != 0.0f;
                    }
                }
    assert_true(nonzero > 9 * 24 * 8 - 4);
    const float *dw = m.params + m.tensors[4].offset, db = 1.0f / sqrtf(32.0f);
    float mx = 0;
    for (int i = 0; i < 320; i++) mx = fmaxf(mx, fabsf(dw[i]));
    assert_true(mx <= db && mx > 0.8f * db);
    cnn_model_free(&m);
    /* the keys' errors name the line */
    static CnnConfig bad;
    const char *dense_dirac = "[data]\nformat = cifar10\ndir = .\n[train]\nbatch = 8\nsteps = 1\n"
                              "[d]\ntype = dense\nunits = 10\ninit = dirac\n";
    if (cnn_config_parse(&bad, dense_dirac, "b.ini", NULL, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(cnn_model_build(&m, &bad, &o, &err), -1);
    assert_non_null(strstr(err.msg, "b.ini:7"));
    const char *whiten_same = "[data]\nformat = cifar10\ndir = .\n[train]\nbatch = 8\nsteps = 1\n"
                              "[w]\ntype = conv\nfilters = 24\nsize = 2\npadding = same\ninit = whiten\n"
                              "[d]\ntype = dense\nunits = 10\n";
    if (cnn_config_parse(&bad, whiten_same, "b.ini", NULL, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(cnn_model_build(&m, &bad, &o, &err), -1);
    assert_non_null(strstr(err.msg, "init = whiten needs"));
    const char *adam_scale = "[data]\nformat = cifar10\ndir = .\n[train]\nbatch = 8\nsteps = 1\n"
                             "[d]\ntype = dense\nunits = 10\nlr_scale = 2\n";
    assert_int_equal(cnn_config_parse(&bad, adam_scale, "b.ini", NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "lr_scale"));
}

/* test-time augmentation: level 2's logits are 1/4 f(x) + 1/4 f(mirror x) + 1/8 of f at the image moved
 * up-left and down-right by one pixel (edges reflected) and at their mirrors, each view built here by
 * hand from the raw pixels; level 1 the first two at 1/2; level 0 the plain logits; bitwise. */
static void test_tta_logits(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnErr err;
    if (cnn_config_parse(&cfg, training_keys_ini, "t.ini", NULL, 0, &err)) fail_msg("%s", err.msg);
    cfg.n_mean = cfg.n_std = 3;
    for (int c = 0; c < 3; c++) {
        cfg.mean[c] = 0.5f;
        cfg.std[c] = 0.25f;
    }
    CnnModel m;
    const CnnModelOpts o = cnn_model_opts_local(2);
    assert_int_equal(cnn_model_build(&m, &cfg, &o, &err), 0);
    cnn_model_init_params(&m, 9);
    enum { H = 32, W = 32, C = 3, P = H * W * C, K = 10 };
    CnnDataset ds = {.h = H, .w = W, .c = C, .layout = CNN_LAYOUT_HWC};
    CnnAugment a;
    cnn_augment_init(&a, &cfg, &ds);
    static uint8_t img[2][P], view[P];
    CnnRng r;
    cnn_rng_init(&r, 4, CNN_RNG_TEST, 3, 0);
    for (int i = 0; i < 2 * P; i++) img[i / P][i % P] = (uint8_t)cnn_rng_u32(&r);
    const uint8_t *imgs[2] = {img[0], img[1]};
    static float x[2 * P], got[3][2 * K], plain[2 * K], want[2 * K], f[6][2 * K];
    for (int level = 0; level <= 2; level++) cnn_tta_logits(&m, &a, imgs, 2, level, x, got[level], level == 2 ? plain : NULL);
    static const int views[6][3] = {{0, 0, 0}, {0, 0, 1}, {-1, -1, 0}, {-1, -1, 1}, {1, 1, 0}, {1, 1, 1}};
    for (int v = 0; v < 6; v++) {
        for (int j = 0; j < 2; j++) {
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    int sy = y + views[v][0], sx = (views[v][2] ? W - 1 - xx : xx) + views[v][1];
                    sy = sy < 0 ? -sy : sy >= H ? 2 * (H - 1) - sy : sy;
                    sx = sx < 0 ? -sx : sx >= W ? 2 * (W - 1) - sx : sx;
                    for (int c = 0; c < C; c++) view[(y * W + xx) * C + c] = img[j][(sy * W + sx) * C + c];
                }
            cnn_augment_eval(&a, x + (size_t)j * P, view);
        }
        memcpy(f[v], cnn_model_forward(&m, x, 2, 0, 0, NULL), sizeof f[v]);
    }
    for (int i = 0; i < 2 * K; i++) {
        assert_true(got[0][i] == f[0][i] && plain[i] == f[0][i]);
        assert_true(got[1][i] == f[0][i] * 0.5f + f[1][i] * 0.5f);
        want[i] = f[0][i] * 0.25f;
        want[i] += f[1][i] * 0.25f;
        for (int v = 2; v < 6; v++) want[i] += f[v][i] * 0.125f;
        assert_true(got[2][i] == want[i]);
        assert_true(got[2][i] != got[0][i]); /* the views differ */
    }
    cnn_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10_shapes_params_flops),
        cmocka_unit_test(test_mnist_params),
        cmocka_unit_test(test_build_errors_name_the_line),
        cmocka_unit_test(test_whole_network_gradient),
        cmocka_unit_test(test_shard_gradients_sum_to_batch_gradient),
        cmocka_unit_test(test_direct_and_gemm_convs_agree),
        cmocka_unit_test(test_instruction_sets_agree),
        cmocka_unit_test(test_training_keys),
        cmocka_unit_test(test_tta_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
