/* config: the shipped configs parse to the numbers of their specs, the canonical text parses back to
 * the same config, overrides act as if written in the file, every error class returns -1 with a
 * message naming file:line (or the override), and the hashes move with what they cover. */
#include "testutil.h"

#include "cnn/config.h"

static void load_ok(CnnConfig *cfg, const char *path, const char *const *ovr, int n_ovr)
{
    CnnErr err = {{0}};
    int rc = cnn_config_load(cfg, path, ovr, n_ovr, &err);
    if (rc != 0) fail_msg("%s: %s", path, err.msg);
}

static void parse_ok(CnnConfig *cfg, const char *text, const char *const *ovr, int n_ovr)
{
    CnnErr err = {{0}};
    int rc = cnn_config_parse(cfg, text, "ok.ini", ovr, n_ovr, &err);
    if (rc != 0) fail_msg("unexpected error: %s", err.msg);
}

/* path read as text, its "steps = " line taken out (to give train.epochs instead), parsed under its own
 * name. */
static void load_without_steps(CnnConfig *cfg, const char *path, const char *const *ovr, int n_ovr)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[64 * 1024];
    size_t n = 0;
    char line[1024];
    int dropped = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "steps = ", 8)) {
            dropped++;
            continue;
        }
        size_t len = strlen(line);
        assert_true(n + len < sizeof text);
        memcpy(text + n, line, len);
        n += len;
    }
    fclose(f);
    text[n] = 0;
    assert_int_equal(dropped, 1);
    CnnErr err = {{0}};
    if (cnn_config_parse(cfg, text, path, ovr, n_ovr, &err) != 0) fail_msg("%s without steps: %s", path, err.msg);
}

/* Parses text as "bad.ini" and expects -1 with want (e.g. "bad.ini:7:") and what in the message. */
static void expect_error(const char *text, const char *const *ovr, int n_ovr, const char *want,
                         const char *what)
{
    CnnConfig cfg;
    CnnErr err = {{0}};
    int rc = cnn_config_parse(&cfg, text, "bad.ini", ovr, n_ovr, &err);
    if (rc != -1) fail_msg("expected an error containing '%s', got rc %d", want, rc);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("message '%s' does not start with '%s'", err.msg, want);
    if (what && !strstr(err.msg, what)) fail_msg("message '%s' does not mention '%s'", err.msg, what);
}

static void assert_layer(const CnnLayerSpec *l, const char *name, CnnLayerType type)
{
    assert_string_equal(l->name, name);
    assert_int_equal(l->type, type);
}

static void assert_weights(const CnnLayerSpec *l, CnnActivation act, float stddev, float bias, float wl)
{
    assert_int_equal(l->act, act);
    assert_int_equal(l->init, CNN_INIT_TRUNCATED_NORMAL);
    assert_true(l->stddev == stddev);
    assert_true(l->bias_init == bias);
    assert_true(l->wl == wl);
}

static void assert_lrn_seed(const CnnLayerSpec *l)
{
    assert_int_equal(l->radius, 4);
    assert_true(l->lrn_bias == 1.0f);
    assert_true(l->alpha == 0.000111111111f);
    assert_true(l->alpha == (float)(0.001 / 9.0));
    assert_true(l->beta == 0.75f);
}

static void test_cifar10_table(void **state)
{
    (void)state;
    CnnConfig c;
    load_ok(&c, "configs/cifar10.ini", NULL, 0);
    assert_string_equal(c.name, "cifar10");
    assert_string_equal(c.out_dir, "runs/cifar10");
    assert_string_equal(c.path, "configs/cifar10.ini");
    assert_true(c.seed == 1);
    assert_int_equal(c.format, CNN_DATA_CIFAR10);
    assert_string_equal(c.dir, "data/cifar-10-batches-bin");
    assert_string_equal(c.train, "data_batch_1.bin,data_batch_2.bin,data_batch_3.bin,data_batch_4.bin,"
                                 "data_batch_5.bin");
    assert_string_equal(c.test, "test_batch.bin");
    assert_int_equal(c.height, 32);
    assert_int_equal(c.width, 32);
    assert_int_equal(c.channels, 3);
    assert_int_equal(c.num_classes, 10);
    assert_int_equal(c.crop, 24);
    assert_int_equal(c.flip, 1);
    assert_true(c.brightness == 63.0f);
    assert_true(c.contrast_lo == 0.2f && c.contrast_hi == 1.8f);
    assert_int_equal(c.standardize, 1);
    assert_int_equal(c.prefetch, 3);
    assert_int_equal(c.batch, 128);
    assert_int_equal(c.steps, 3000);
    assert_int_equal(c.optimizer, CNN_OPT_ADAM);
    assert_true(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.epsilon == 1e-8);
    assert_int_equal(c.lr_schedule, CNN_LR_CONSTANT);
    assert_int_equal(c.warmup_steps, 0);
    assert_int_equal(c.log_every, 100);
    assert_int_equal(c.eval_every, 1000);
    assert_int_equal(c.checkpoint_every, 1000);
    assert_int_equal(c.keep, 3);

    assert_int_equal(c.n_layers, 9);
    const CnnLayerSpec *l = c.layers;
    assert_layer(&l[0], "conv1", CNN_LAYER_CONV);
    assert_int_equal(l[0].filters, 64);
    assert_int_equal(l[0].size, 5);
    assert_int_equal(l[0].stride, 1);
    assert_int_equal(l[0].same, 1);
    assert_weights(&l[0], CNN_ACT_RELU, 0.05f, 0.0f, 0.0f);

    assert_layer(&l[1], "pool1", CNN_LAYER_MAXPOOL);
    assert_int_equal(l[1].size, 3);
    assert_int_equal(l[1].stride, 2);
    assert_int_equal(l[1].same, 1);

    assert_layer(&l[2], "norm1", CNN_LAYER_LRN);
    assert_lrn_seed(&l[2]);

    assert_layer(&l[3], "conv2", CNN_LAYER_CONV);
    assert_int_equal(l[3].filters, 64);
    assert_int_equal(l[3].size, 5);
    assert_int_equal(l[3].stride, 1);
    assert_int_equal(l[3].same, 1);
    assert_weights(&l[3], CNN_ACT_RELU, 0.05f, 0.1f, 0.0f);

    assert_layer(&l[4], "norm2", CNN_LAYER_LRN);
    assert_lrn_seed(&l[4]);

    assert_layer(&l[5], "pool2", CNN_LAYER_MAXPOOL);
    assert_int_equal(l[5].size, 3);
    assert_int_equal(l[5].stride, 2);
    assert_int_equal(l[5].same, 1);

    assert_layer(&l[6], "local3", CNN_LAYER_DENSE);
    assert_int_equal(l[6].units, 384);
    assert_weights(&l[6], CNN_ACT_RELU, 0.04f, 0.1f, 0.004f);
    assert_layer(&l[7], "local4", CNN_LAYER_DENSE);
    assert_int_equal(l[7].units, 192);
    assert_weights(&l[7], CNN_ACT_RELU, 0.04f, 0.1f, 0.004f);
    assert_layer(&l[8], "logits", CNN_LAYER_DENSE);
    assert_int_equal(l[8].units, 10);
    assert_weights(&l[8], CNN_ACT_LINEAR, 0.00520833333f, 0.0f, 0.0f);
    assert_true(l[8].stddev == (float)(1.0 / 192.0));
    for (int i = 0; i < 9; i++) assert_int_equal(l[i].line > 0, 1);
}

static void test_other_shipped_configs(void **state)
{
    (void)state;
    CnnConfig a, b;
    load_ok(&a, "configs/cifar10.ini", NULL, 0);
    load_ok(&b, "configs/cifar10-long.ini", NULL, 0);
    assert_string_equal(b.name, "cifar10-long");
    assert_int_equal(b.steps, 100000);
    /* the recipe measured best (README, Results): SGD momentum 0.9 at 0.01, cosine to 0, average 0.9999 */
    assert_int_equal(b.optimizer, CNN_OPT_SGD);
    assert_true(b.momentum == 0.9 && b.lr == 0.01);
    assert_int_equal(b.lr_schedule, CNN_LR_COSINE);
    assert_true(b.decay_rate == 0.0);
    assert_int_equal(b.decay_steps, 100000);
    assert_true(b.ema == 0.9999);
    assert_int_equal(b.eval_every, 5000);
    assert_int_equal(b.checkpoint_every, 2000);
    /* same network */
    assert_true(cnn_config_model_hash(&a) == cnn_config_model_hash(&b));

    CnnConfig m;
    load_ok(&m, "configs/mnist.ini", NULL, 0);
    assert_int_equal(m.format, CNN_DATA_IDX);
    assert_string_equal(m.dir, "/usr/share/datasets/fashion-mnist");
    assert_string_equal(m.train, "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz");
    assert_string_equal(m.test, "t10k-images-idx3-ubyte.gz,t10k-labels-idx1-ubyte.gz");
    assert_int_equal(m.height, 28);
    assert_int_equal(m.width, 28);
    assert_int_equal(m.channels, 1);
    assert_int_equal(m.num_classes, 10);
    assert_int_equal(m.crop, 0);
    assert_int_equal(m.flip, 0);
    assert_true(m.brightness == 0.0f && m.contrast_lo == 0.0f && m.contrast_hi == 0.0f);
    assert_int_equal(m.standardize, 0);
    assert_int_equal(m.batch, 50);
    assert_int_equal(m.steps, 20000);
    assert_true(m.lr == 1e-4);
    assert_int_equal(m.checkpoint_every, 2000);
    assert_int_equal(m.n_layers, 7);
    static const CnnLayerType types[] = {CNN_LAYER_CONV,  CNN_LAYER_MAXPOOL, CNN_LAYER_CONV,
                                         CNN_LAYER_MAXPOOL, CNN_LAYER_DENSE, CNN_LAYER_DROPOUT,
                                         CNN_LAYER_DENSE};
    for (int i = 0; i < 7; i++) assert_int_equal(m.layers[i].type, types[i]);
    assert_int_equal(m.layers[0].filters, 32);
    assert_int_equal(m.layers[2].filters, 64);
    assert_int_equal(m.layers[1].size, 2);
    assert_int_equal(m.layers[1].stride, 2);
    assert_int_equal(m.layers[4].units, 1024);
    assert_true(m.layers[5].keep == 0.5f);
    assert_int_equal(m.layers[6].units, 10);
    assert_int_equal(m.layers[6].act, CNN_ACT_LINEAR);
    for (int i = 0; i < 7; i++) {
        if (m.layers[i].type != CNN_LAYER_CONV && m.layers[i].type != CNN_LAYER_DENSE) continue;
        assert_true(m.layers[i].stddev == 0.1f);
        assert_true(m.layers[i].bias_init == 0.1f);
    }

    CnnConfig t;
    const char *ovr[] = {"data.dir=/tmp/x"};
    load_ok(&t, "configs/tiny.ini", ovr, 1);
    assert_string_equal(t.dir, "/tmp/x");
    assert_int_equal(t.crop, 24);
    assert_int_equal(t.batch, 32);
    assert_int_equal(t.steps, 20);
    assert_int_equal(t.log_every, 5);
    assert_int_equal(t.eval_every, 10);
    assert_int_equal(t.checkpoint_every, 10);
    assert_int_equal(t.n_layers, 7);
    assert_int_equal(t.layers[0].stride, 2);
    assert_int_equal(t.layers[2].radius, 2);
    assert_int_equal(t.layers[3].filters, 16);
    assert_int_equal(t.layers[3].stride, 1);
    assert_true(t.layers[5].keep == 0.9f);
    assert_int_equal(t.conv, CNN_CONV_AUTO);
}

/* Field-by-field equality (path excluded). */
static void assert_cfg_equal(const CnnConfig *a, const CnnConfig *b)
{
    assert_string_equal(a->name, b->name);
    assert_true(a->seed == b->seed);
    assert_string_equal(a->out_dir, b->out_dir);
    assert_int_equal(a->threads, b->threads);
    assert_int_equal(a->conv, b->conv);
    assert_int_equal(a->format, b->format);
    assert_string_equal(a->dir, b->dir);
    assert_string_equal(a->train, b->train);
    assert_string_equal(a->test, b->test);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->num_classes, b->num_classes);
    assert_int_equal(a->crop, b->crop);
    assert_int_equal(a->pad, b->pad);
    assert_int_equal(a->pad_mode, b->pad_mode);
    assert_int_equal(a->flip, b->flip);
    assert_true(a->brightness == b->brightness);
    assert_true(a->contrast_lo == b->contrast_lo && a->contrast_hi == b->contrast_hi);
    assert_int_equal(a->standardize, b->standardize);
    assert_int_equal(a->n_mean, b->n_mean);
    assert_int_equal(a->n_std, b->n_std);
    for (int i = 0; i < a->n_mean; i++) assert_true(a->mean[i] == b->mean[i]);
    for (int i = 0; i < a->n_std; i++) assert_true(a->std[i] == b->std[i]);
    assert_int_equal(a->prefetch, b->prefetch);
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->steps, b->steps);
    assert_true(a->epochs == b->epochs);
    assert_int_equal(a->optimizer, b->optimizer);
    assert_true(a->lr == b->lr && a->momentum == b->momentum);
    assert_int_equal(a->nesterov, b->nesterov);
    assert_true(a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->epsilon == b->epsilon);
    assert_true(a->weight_decay == b->weight_decay);
    assert_true(a->label_smoothing == b->label_smoothing);
    assert_int_equal(a->lr_schedule, b->lr_schedule);
    assert_true(a->decay_rate == b->decay_rate);
    assert_int_equal(a->decay_steps, b->decay_steps);
    assert_int_equal(a->n_boundaries, b->n_boundaries);
    for (int i = 0; i < a->n_boundaries; i++) assert_int_equal(a->boundaries[i], b->boundaries[i]);
    assert_int_equal(a->staircase, b->staircase);
    assert_int_equal(a->warmup_steps, b->warmup_steps);
    assert_int_equal(a->log_every, b->log_every);
    assert_int_equal(a->eval_every, b->eval_every);
    assert_int_equal(a->checkpoint_every, b->checkpoint_every);
    assert_int_equal(a->keep, b->keep);
    assert_int_equal(a->deterministic, b->deterministic);
    assert_int_equal(a->micro_batch, b->micro_batch);
    assert_int_equal(a->eval_batch, b->eval_batch);
    assert_int_equal(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const CnnLayerSpec *x = &a->layers[i], *y = &b->layers[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->filters, y->filters);
        assert_int_equal(x->units, y->units);
        assert_int_equal(x->size, y->size);
        assert_int_equal(x->stride, y->stride);
        assert_int_equal(x->same, y->same);
        assert_int_equal(x->act, y->act);
        assert_int_equal(x->init, y->init);
        assert_true(x->stddev == y->stddev && x->value == y->value);
        assert_true(x->bias_init == y->bias_init && x->wl == y->wl);
        assert_int_equal(x->radius, y->radius);
        assert_true(x->lrn_bias == y->lrn_bias && x->alpha == y->alpha && x->beta == y->beta);
        assert_true(x->keep == y->keep);
    }
    assert_true(cnn_config_model_hash(a) == cnn_config_model_hash(b));
    assert_true(cnn_config_train_hash(a) == cnn_config_train_hash(b));
}

static void round_trip(const CnnConfig *a)
{
    char *text = cnn_config_to_ini(a);
    CnnConfig b;
    CnnErr err = {{0}};
    /* A different file name: name and out_dir must come from the text, not the default. */
    if (cnn_config_parse(&b, text, "elsewhere/other.ini", NULL, 0, &err) != 0)
        fail_msg("canonical text does not parse: %s\n%s", err.msg, text);
    assert_cfg_equal(a, &b);
    /* Canonical means a fixed point. */
    char *again = cnn_config_to_ini(&b);
    assert_string_equal(text, again);
    free(again);
    free(text);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const files[] = {"configs/cifar10.ini", "configs/cifar10-long.ini", "configs/mnist.ini",
                                        "configs/tiny.ini"};
    for (int i = 0; i < 4; i++) {
        CnnConfig c;
        load_ok(&c, files[i], NULL, 0);
        round_trip(&c);
    }
    /* Values that do not print short: every float and double must survive exactly. */
    const char *ovr[] = {"train.optimizer=sgd",      "train.momentum=0.123456789012345678",
                         "train.lr=0.1",             "train.lr_schedule=cosine",
                         "train.decay_rate=0.01",    "train.decay_steps=777",
                         "train.warmup_steps=13",    "conv1.stddev=0.0123456789",
                         "conv1.init=constant",      "conv1.value=-0.3",
                         "run.seed=18446744073709551615", "run.threads=4",
                         "data.contrast=0.3333333333, 1.7",  "norm1.alpha=1e-7",
                         "train.deterministic=no",   "train.micro_batch=8",
                         "train.eval_batch=100",     "conv1.activation=tanh",
                         "local4.activation=sigmoid", "local3.init=normal", "run.conv=gemm",
                         "train.nesterov=true",      "train.weight_decay=0.00051234567890123",
                         "train.label_smoothing=0.2"};
    CnnConfig c;
    load_ok(&c, "configs/cifar10.ini", ovr, (int)(sizeof ovr / sizeof ovr[0]));
    assert_true(c.seed == UINT64_MAX);
    assert_int_equal(c.nesterov, 1);
    assert_true(c.weight_decay == 0.00051234567890123);
    assert_true(c.label_smoothing == 0.2);
    char *text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\npad = 0\npad_mode = zero\n")); /* the defaults: off */
    free(text);
    assert_int_equal(c.deterministic, 0);
    round_trip(&c);

    /* piecewise: the list of boundaries in canonical form ("1, 2, 3") and back */
    const char *pw[] = {"train.lr_schedule=piecewise", "train.boundaries= 32000 ,48000,  60000",
                        "train.decay_rate=0.2", "train.warmup_steps=5"};
    load_ok(&c, "configs/cifar10.ini", pw, 4);
    assert_int_equal(c.lr_schedule, CNN_LR_PIECEWISE);
    assert_int_equal(c.n_boundaries, 3);
    assert_int_equal(c.boundaries[0], 32000);
    assert_int_equal(c.boundaries[1], 48000);
    assert_int_equal(c.boundaries[2], 60000);
    assert_true(c.decay_rate == 0.2);
    text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\nlr_schedule = piecewise\n"));
    assert_non_null(strstr(text, "\nboundaries = 32000, 48000, 60000\n"));
    free(text);
    round_trip(&c);
    /* train.epochs instead of train.steps: the canonical text holds the one given */
    const char *ep[] = {"train.epochs=9.9"};
    load_without_steps(&c, "configs/cifar10.ini", ep, 1);
    assert_true(c.epochs == 9.9);
    assert_int_equal(c.steps, 0);
    text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\nepochs = 9.9000000000000004\n"));
    assert_null(strstr(text, "\nsteps ="));
    free(text);
    round_trip(&c);
    load_ok(&c, "configs/cifar10.ini", NULL, 0);
    text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\nsteps = 3000\n"));
    assert_null(strstr(text, "epochs"));
    free(text);
    /* data.pad and data.pad_mode (no crop beside them) */
    const char *pad[] = {"data.crop=0", "data.pad=4", "data.pad_mode=reflect"};
    load_ok(&c, "configs/cifar10.ini", pad, 3);
    assert_int_equal(c.pad, 4);
    assert_int_equal(c.pad_mode, CNN_PAD_REFLECT);
    text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\npad = 4\npad_mode = reflect\n"));
    free(text);
    round_trip(&c);
    /* data.mean and data.std: floats that do not print short survive exactly */
    const char *norm[] = {"data.standardize=false", "data.mean=0.4914, 0.4822, 0.4465",
                          "data.std=0.2470,0.2435 , 0.2616"};
    load_ok(&c, "configs/cifar10.ini", norm, 3);
    assert_int_equal(c.n_mean, 3);
    assert_int_equal(c.n_std, 3);
    assert_true(c.mean[0] == 0.4914f && c.mean[1] == 0.4822f && c.mean[2] == 0.4465f);
    assert_true(c.std[0] == 0.2470f && c.std[1] == 0.2435f && c.std[2] == 0.2616f);
    text = cnn_config_to_ini(&c);
    assert_non_null(strstr(text, "\nmean = 0.491400003, 0.482199997, 0.446500003\n"));
    assert_non_null(strstr(text, "\nstd = 0.246999994, 0.243499994, 0.261599988\n"));
    free(text);
    round_trip(&c);
    const char *grey[] = {"data.mean=-1.5", "data.std=1e-3"}; /* one channel; any mean, any std > 0 */
    load_ok(&c, "configs/mnist.ini", grey, 2);
    assert_true(c.n_mean == 1 && c.mean[0] == -1.5f && c.n_std == 1 && c.std[0] == 1e-3f);
    round_trip(&c);
    /* 16 boundaries is the most */
    const char *many[] = {"train.lr_schedule=piecewise", "train.decay_rate=0.5",
                          "train.boundaries=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"};
    load_ok(&c, "configs/cifar10.ini", many, 3);
    assert_int_equal(c.n_boundaries, CNN_MAX_BOUNDARIES);
    assert_int_equal(c.boundaries[15], 16);
    round_trip(&c);
    /* the longest canonical line (16 of the largest) still reads back */
    const char *longest[] = {"train.lr_schedule=piecewise", "train.decay_rate=0.5",
                             "train.boundaries=99999985,99999986,99999987,99999988,99999989,99999990,99999991,99999992,"
                             "99999993,99999994,99999995,99999996,99999997,99999998,99999999,100000000"};
    load_ok(&c, "configs/cifar10.ini", longest, 3);
    assert_int_equal(c.boundaries[15], 100000000);
    round_trip(&c);
    /* without the key, no boundaries and no line for them */
    load_ok(&c, "configs/cifar10.ini", NULL, 0);
    assert_int_equal(c.n_boundaries, 0);
    assert_int_equal(c.n_mean, 0);
    assert_int_equal(c.n_std, 0);
    text = cnn_config_to_ini(&c);
    assert_null(strstr(text, "boundaries"));
    assert_null(strstr(text, "mean"));
    assert_null(strstr(text, "std ="));
    free(text);
}

static const char *const base_text =
    "[data]\n"         /* 1 */
    "format = idx\n"   /* 2 */
    "dir = d\n"        /* 3 */
    "[train]\n"        /* 4 */
    "batch = 8\n"      /* 5 */
    "steps = 10\n"     /* 6 */
    "[c1]\n"           /* 7 */
    "type = conv\n"    /* 8 */
    "filters = 4\n"    /* 9 */
    "size = 3\n"       /* 10 */
    "[p1]\n"           /* 11 */
    "type = avgpool\n" /* 12 */
    "size = 2\n"       /* 13 */
    "[n1]\n"           /* 14 */
    "type = lrn\n"     /* 15 */
    "[fc]\n"           /* 16 */
    "type = dense\n"   /* 17 */
    "units = 10\n";    /* 18 */

static void test_defaults(void **state)
{
    (void)state;
    CnnConfig c;
    CnnErr err = {{0}};
    assert_int_equal(cnn_config_parse(&c, base_text, "some/dir/my-run.v2.ini", NULL, 0, &err), 0);
    assert_string_equal(c.name, "my-run.v2");
    assert_string_equal(c.out_dir, "runs/my-run.v2");
    assert_true(c.seed == 1);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.height, 28);
    assert_int_equal(c.channels, 1);
    assert_int_equal(c.num_classes, 10);
    assert_int_equal(c.crop, 0);
    assert_int_equal(c.optimizer, CNN_OPT_ADAM);
    assert_true(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.epsilon == 1e-8);
    assert_true(c.momentum == 0.9);
    assert_int_equal(c.nesterov, 0);
    assert_true(c.weight_decay == 0.0);
    assert_int_equal(c.lr_schedule, CNN_LR_CONSTANT);
    assert_int_equal(c.keep, 3);
    assert_int_equal(c.deterministic, 1);
    assert_int_equal(c.micro_batch, 16);
    assert_int_equal(c.eval_batch, 32);
    assert_int_equal(c.eval_every, 0);
    assert_int_equal(c.checkpoint_every, 0);
    assert_int_equal(c.n_layers, 4);
    const CnnLayerSpec *conv = &c.layers[0], *pool = &c.layers[1], *lrn = &c.layers[2];
    assert_int_equal(conv->line, 7);
    assert_int_equal(conv->stride, 1);
    assert_int_equal(conv->same, 0);
    assert_int_equal(conv->act, CNN_ACT_LINEAR);
    assert_int_equal(conv->init, CNN_INIT_TRUNCATED_NORMAL);
    assert_true(conv->bias_init == 0.0f && conv->wl == 0.0f);
    assert_int_equal(pool->type, CNN_LAYER_AVGPOOL);
    assert_int_equal(pool->stride, 2); /* = size */
    assert_int_equal(pool->same, 0);
    assert_int_equal(lrn->radius, 5);
    assert_true(lrn->lrn_bias == 1.0f && lrn->alpha == 1.0f && lrn->beta == 0.5f);
    assert_string_equal(cnn_layer_type_name(CNN_LAYER_AVGPOOL), "avgpool");
    assert_string_equal(cnn_activation_name(CNN_ACT_SIGMOID), "sigmoid");

    /* Comments, blank lines, indentation, CRLF, booleans in every spelling. */
    const char *text = "; top comment\n"
                       "# another\n"
                       "[data]\r\n"
                       "  format = cifar10   ; inline comment\n"
                       "\tdir = x # inline too\n"
                       "flip = YES\n"
                       "standardize = 0\n"
                       "contrast = 0\n"
                       "height = 8\nwidth = 8\nchannels = 2\nnum_classes = 3\n"
                       "\n[train]\nbatch = 4\nsteps = 1\nstaircase = On\n";
    assert_int_equal(cnn_config_parse(&c, text, "x.ini", NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "x.ini:17:"));
    const char *text2 = "; top comment\n"
                        "# another\n"
                        "[data]\r\n"
                        "  format = cifar10   ; inline comment\n"
                        "\tdir = x # inline too\n"
                        "flip = YES\n"
                        "standardize = 0\n"
                        "contrast = 0\n"
                        "height = 8\nwidth = 8\nchannels = 2\nnum_classes = 3\n"
                        "\n[train]\nbatch = 4\nsteps = 1\nstaircase = true\n[d]\ntype=dropout\nkeep=1\n";
    if (cnn_config_parse(&c, text2, "x.ini", NULL, 0, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(c.format, CNN_DATA_CIFAR10);
    assert_string_equal(c.dir, "x");
    assert_int_equal(c.flip, 1);
    assert_int_equal(c.standardize, 0);
    assert_int_equal(c.height, 8);
    assert_int_equal(c.width, 8);
    assert_int_equal(c.channels, 2);
    assert_int_equal(c.num_classes, 3);
    assert_string_equal(c.test, "test_batch.bin");
    assert_int_equal(c.staircase, 1);
    assert_true(c.layers[0].keep == 1.0f);
}

static void test_overrides(void **state)
{
    (void)state;
    CnnConfig c;
    const char *ovr[] = {"train.steps=5", "c1.filters=32", "train.warmup_steps=3", "run.seed=7",
                         "p1.stride=1", "train.steps=6", "data.crop=20"};
    parse_ok(&c, base_text, ovr, 7);
    assert_int_equal(c.steps, 6); /* in order: the last one wins */
    assert_int_equal(c.layers[0].filters, 32);
    assert_int_equal(c.warmup_steps, 3);
    assert_true(c.seed == 7); /* [run] was absent from the file */
    assert_int_equal(c.layers[1].stride, 1);
    assert_int_equal(c.crop, 20);

    const char *o1[] = {"train.foo=1"};
    expect_error(base_text, o1, 1, "--set train.foo=1: unknown key 'foo' in [train]", NULL);
    const char *o2[] = {"nosuch.units=3"};
    expect_error(base_text, o2, 1, "--set nosuch.units=3:", "unknown section");
    const char *o3[] = {"trainsteps=3"};
    expect_error(base_text, o3, 1, "--set trainsteps=3:", "SECTION.KEY=VALUE");
    const char *o4[] = {"train.steps"};
    expect_error(base_text, o4, 1, "--set train.steps:", "SECTION.KEY=VALUE");
    const char *o5[] = {"c1.filters=many"};
    expect_error(base_text, o5, 1, "--set c1.filters=many:", "filters");
    const char *o6[] = {"fc.filters=3"};
    expect_error(base_text, o6, 1, "--set fc.filters=3:", "filters");
    const char *o8[] = {"train.label_smoothing=1"}; /* every target would be uniform */
    expect_error(base_text, o8, 1, "--set train.label_smoothing=1:", "label_smoothing");
    const char *o7[] = {"c1.type=dense"}; /* now c1 lacks units and has conv keys */
    expect_error(base_text, o7, 1, "bad.ini:9:", "filters");
    /* A file error is reported before overrides are looked at. */
    expect_error("[data]\nformat = nope\n", o1, 1, "bad.ini:2:", "cifar10|idx");
}

/* Replaces line `line` (1-based) of base_text with repl (which may hold several lines or none). */
static char *edit(int line, const char *repl)
{
    static char buf[4096];
    const char *p = base_text;
    size_t n = 0;
    for (int l = 1; *p; l++) {
        const char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p) + 1;
        if (l == line) {
            memcpy(buf + n, repl, strlen(repl));
            n += strlen(repl);
        } else {
            memcpy(buf + n, p, len);
            n += len;
        }
        p += len;
    }
    buf[n] = 0;
    return buf;
}

static void test_errors(void **state)
{
    (void)state;
    /* unknown key in a fixed section */
    expect_error(edit(5, "batch = 8\nbatchsize = 3\n"), NULL, 0, "bad.ini:6:", "unknown key 'batchsize'");
    expect_error(edit(3, "dir = d\nformats = idx\n"), NULL, 0, "bad.ini:4:", "formats");
    /* a layer key of another type */
    expect_error(edit(10, "size = 3\nunits = 5\n"), NULL, 0, "bad.ini:11:", "'units'");
    expect_error(edit(13, "size = 2\nkeep = 0.5\n"), NULL, 0, "bad.ini:14:", "'keep'");
    expect_error(edit(18, "units = 10\nnonsense = 1\n"), NULL, 0, "bad.ini:19:", "'nonsense'");
    /* unknown type */
    expect_error(edit(8, "type = convolution\n"), NULL, 0, "bad.ini:8:", "convolution");
    /* bad values */
    expect_error(edit(9, "filters = four\n"), NULL, 0, "bad.ini:9:", "filters");
    expect_error(edit(9, "filters = 4.5\n"), NULL, 0, "bad.ini:9:", "integer");
    expect_error(edit(9, "filters = 0\n"), NULL, 0, "bad.ini:9:", ">= 1");
    expect_error(edit(9, "filters = 99999999999\n"), NULL, 0, "bad.ini:9:", "filters");
    expect_error(edit(9, "filters =\n"), NULL, 0, "bad.ini:9:", "empty");
    expect_error(edit(6, "steps = -5\n"), NULL, 0, "bad.ini:6:", "steps");
    expect_error(edit(6, "steps = 10x\n"), NULL, 0, "bad.ini:6:", "steps");
    expect_error(edit(5, "batch = 8\nlr = 0\n"), NULL, 0, "bad.ini:6:", "lr");
    expect_error(edit(5, "batch = 8\nlr = nan\n"), NULL, 0, "bad.ini:6:", "lr");
    expect_error(edit(5, "batch = 8\nbeta1 = 1\n"), NULL, 0, "bad.ini:6:", "beta1");
    expect_error(edit(10, "size = 3\nactivation = softmax\n"), NULL, 0, "bad.ini:11:", "relu|tanh|sigmoid");
    expect_error(edit(10, "size = 3\npadding = full\n"), NULL, 0, "bad.ini:11:", "valid|same");
    expect_error(edit(10, "size = 3\ninit = xavier\n"), NULL, 0, "bad.ini:11:", "truncated_normal");
    expect_error(edit(10, "size = 3\nstddev = -1\n"), NULL, 0, "bad.ini:11:", "stddev");
    expect_error(edit(2, "format = png\n"), NULL, 0, "bad.ini:2:", "cifar10|idx");
    expect_error(edit(5, "batch = 8\noptimizer = rmsprop\n"), NULL, 0, "bad.ini:6:", "adam|sgd");
    expect_error(edit(5, "batch = 8\nnesterov = maybe\n"), NULL, 0, "bad.ini:6:", "true|false");
    expect_error(edit(5, "batch = 8\nweight_decay = -1e-4\n"), NULL, 0, "bad.ini:6:",
                 "bad value '-1e-4' for 'weight_decay' in [train]: expected a number >= 0");
    expect_error(edit(5, "batch = 8\nweight_decay = inf\n"), NULL, 0, "bad.ini:6:", "weight_decay");
    /* Nesterov momentum is SGD's: refused with adam (the default) at its line, or its --set */
    expect_error(edit(5, "batch = 8\nnesterov = true\n"), NULL, 0, "bad.ini:6:", "needs optimizer = sgd");
    expect_error(edit(5, "batch = 8\noptimizer = adam\nnesterov = yes\n"), NULL, 0, "bad.ini:7:", "optimizer = sgd");
    const char *nes[] = {"train.nesterov=true"};
    expect_error(base_text, nes, 1, "--set train.nesterov=true:", "needs optimizer = sgd");
    CnnConfig sgd;
    parse_ok(&sgd, edit(5, "batch = 8\noptimizer = sgd\nnesterov = true\n"), NULL, 0);
    assert_int_equal(sgd.nesterov, 1);
    assert_int_equal(sgd.optimizer, CNN_OPT_SGD);
    expect_error(edit(5, "batch = 8\nlr_schedule = step\n"), NULL, 0, "bad.ini:6:",
                 "constant|exponential|cosine|piecewise");
    expect_error(edit(3, "dir = d\nflip = maybe\n"), NULL, 0, "bad.ini:4:", "true|false");
    expect_error(edit(3, "dir = d\ncontrast = 0.5\n"), NULL, 0, "bad.ini:4:", "contrast");
    expect_error(edit(3, "dir = d\ncontrast = 1.5, 0.5\n"), NULL, 0, "bad.ini:4:", "contrast");
    expect_error(edit(3, "dir = d\ncontrast = 0.5, x\n"), NULL, 0, "bad.ini:4:", "contrast");
    expect_error(edit(3, "dir = d\ncrop = 29\n"), NULL, 0, "bad.ini:4:", "crop");
    expect_error(edit(3, "dir = d\nbrightness = -1\n"), NULL, 0, "bad.ini:4:", "brightness");
    /* data.pad: not with crop, at most the image's size (reflect: less); base_text is 28x28 */
    CnnConfig pd;
    parse_ok(&pd, edit(3, "dir = d\npad = 28\n"), NULL, 0);
    assert_int_equal(pd.pad, 28);
    assert_int_equal(pd.pad_mode, CNN_PAD_ZERO);
    parse_ok(&pd, edit(3, "dir = d\npad_mode = reflect\npad = 27\n"), NULL, 0);
    assert_int_equal(pd.pad, 27);
    assert_int_equal(pd.pad_mode, CNN_PAD_REFLECT);
    expect_error(edit(3, "dir = d\ncrop = 20\npad = 4\n"), NULL, 0, "bad.ini:5:",
                 "pad and crop together are not supported");
    expect_error(edit(3, "dir = d\npad = 4\ncrop = 20\n"), NULL, 0, "bad.ini:4:", "crop = 20 crops without padding");
    expect_error(edit(3, "dir = d\npad = -1\n"), NULL, 0, "bad.ini:4:", "an integer >= 0");
    expect_error(edit(3, "dir = d\npad = 29\n"), NULL, 0, "bad.ini:4:", "pad 29 is larger than the 28x28 image");
    expect_error(edit(3, "dir = d\npad = 28\npad_mode = reflect\n"), NULL, 0, "bad.ini:4:",
                 "pad_mode reflect needs pad < the image's height and width");
    expect_error(edit(3, "dir = d\npad_mode = edge\n"), NULL, 0, "bad.ini:4:", "zero|reflect");
    const char *padcrop[] = {"data.crop=24", "data.pad=2"};
    expect_error(base_text, padcrop, 2, "--set data.pad=2:", "pad and crop together");
    /* data.mean, data.std: both, one value per channel (idx: 1), std > 0, not with standardize */
    CnnConfig nc;
    parse_ok(&nc, edit(3, "dir = d\nmean = 0.1307\nstd = 0.3081\n"), NULL, 0);
    assert_true(nc.n_mean == 1 && nc.mean[0] == 0.1307f && nc.n_std == 1 && nc.std[0] == 0.3081f);
    expect_error(edit(3, "dir = d\nmean = 0.5\n"), NULL, 0, "bad.ini:4:", "mean needs std too");
    expect_error(edit(3, "dir = d\nstd = 0.5\n"), NULL, 0, "bad.ini:4:", "std needs mean too");
    expect_error(edit(3, "dir = d\nmean = 0.5, 0.5\nstd = 0.5\n"), NULL, 0, "bad.ini:4:",
                 "mean has 2 values for 1 channel: one per channel");
    expect_error(edit(3, "dir = d\nmean = 0.5\nstd = 0.5, 0.5, 0.5\n"), NULL, 0, "bad.ini:5:",
                 "std has 3 values for 1 channel");
    expect_error(edit(3, "dir = d\nchannels = 2\nmean = 0.5\nstd = 0.5\n"), NULL, 0, "bad.ini:5:",
                 "mean has 1 value for 2 channels");
    expect_error(edit(3, "dir = d\nmean = 0.5, 0.5, 0.5, 0.5, 0.5\n"), NULL, 0, "bad.ini:4:",
                 "expected 1 to 4 comma-separated values, each a number");
    expect_error(edit(3, "dir = d\nchannels = 5\nmean = 0.5, 0.5, 0.5, 0.5\nstd = 1, 1, 1, 1\n"), NULL, 0,
                 "bad.ini:5:", "mean has 4 values for 5 channels");
    expect_error(edit(3, "dir = d\nmean = 0.5\nstd = 0\n"), NULL, 0, "bad.ini:5:", "each a number > 0");
    expect_error(edit(3, "dir = d\nmean = 0.5\nstd = -0.2\n"), NULL, 0, "bad.ini:5:", "'std'");
    expect_error(edit(3, "dir = d\nmean = half\nstd = 0.2\n"), NULL, 0, "bad.ini:4:", "'mean'");
    expect_error(edit(3, "dir = d\nmean = 0.5\nstd = 0.2\nstandardize = true\n"), NULL, 0, "bad.ini:4:",
                 "mean and std with standardize = true");
    const char *std_ovr[] = {"data.mean=0.5", "data.std=0.25, 0.25"};
    expect_error(base_text, std_ovr, 2, "--set data.std=0.25, 0.25:", "std has 2 values for 1 channel");
    expect_error(edit(15, "type = lrn\nbias = 0\n"), NULL, 0, "bad.ini:16:", "bias");
    expect_error(edit(16, "[d]\ntype = dropout\nkeep = 0\n[fc]\n"), NULL, 0, "bad.ini:18:", "keep");
    expect_error(edit(16, "[d]\ntype = dropout\nkeep = 1.5\n[fc]\n"), NULL, 0, "bad.ini:18:", "keep");
    expect_error(edit(1, "[run]\nseed = -1\n[data]\n"), NULL, 0, "bad.ini:2:", "seed");
    /* schedules need their keys */
    expect_error(edit(5, "batch = 8\nlr_schedule = exponential\ndecay_rate = 0.5\n"), NULL, 0, "bad.ini:4:",
                 "decay_steps");
    expect_error(edit(5, "batch = 8\nlr_schedule = exponential\ndecay_steps = 5\n"), NULL, 0, "bad.ini:4:",
                 "decay_rate");
    /* piecewise: boundaries and decay_rate, no decay_steps; boundaries strictly increasing steps >= 1 */
    CnnConfig pc;
    parse_ok(&pc, edit(5, "batch = 8\nlr_schedule = piecewise\nboundaries = 3, 7\ndecay_rate = 0.1\n"), NULL, 0);
    assert_int_equal(pc.n_boundaries, 2);
    assert_int_equal(pc.decay_steps, 0);
    expect_error(edit(5, "batch = 8\nlr_schedule = piecewise\ndecay_rate = 0.1\n"), NULL, 0, "bad.ini:4:",
                 "piecewise needs boundaries");
    expect_error(edit(5, "batch = 8\nlr_schedule = piecewise\nboundaries = 3, 7\n"), NULL, 0, "bad.ini:4:",
                 "piecewise needs decay_rate > 0");
    expect_error(edit(5, "batch = 8\nlr_schedule = piecewise\nboundaries = 3, 7\ndecay_rate = 0\n"), NULL, 0,
                 "bad.ini:8:", "piecewise needs decay_rate > 0");
    expect_error(edit(5, "batch = 8\nlr_schedule = piecewise\nboundaries = 7, 3\ndecay_rate = 0.1\n"), NULL, 0,
                 "bad.ini:7:", "strictly increasing steps: 3 follows 7");
    expect_error(edit(5, "batch = 8\nboundaries = 3, 3\n"), NULL, 0, "bad.ini:6:", "3 follows 3");
    expect_error(edit(5, "batch = 8\nboundaries =\n"), NULL, 0, "bad.ini:6:", "empty value for 'boundaries'");
    expect_error(edit(5, "batch = 8\nboundaries = 3,\n"), NULL, 0, "bad.ini:6:",
                 "expected 1 to 16 comma-separated values, each an integer in [1, 1e+08]");
    expect_error(edit(5, "batch = 8\nboundaries = 3,,5\n"), NULL, 0, "bad.ini:6:", "boundaries");
    expect_error(edit(5, "batch = 8\nboundaries = 0, 5\n"), NULL, 0, "bad.ini:6:", "an integer in [1, 1e+08]");
    expect_error(edit(5, "batch = 8\nboundaries = 5, 100000001\n"), NULL, 0, "bad.ini:6:", "an integer in [1, 1e+08]");
    expect_error(edit(5, "batch = 8\nboundaries = 2.5\n"), NULL, 0, "bad.ini:6:", "boundaries");
    expect_error(edit(5, "batch = 8\nboundaries = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n"), NULL, 0,
                 "bad.ini:6:", "1 to 16");
    const char *unsorted[] = {"train.lr_schedule=piecewise", "train.decay_rate=0.5", "train.boundaries=9,8"};
    expect_error(base_text, unsorted, 3, "--set train.boundaries=9,8:", "8 follows 9");
    /* train.epochs: instead of steps, not beside it; in (0, 1e6] */
    CnnConfig ec;
    parse_ok(&ec, edit(6, "epochs = 0.5\n"), NULL, 0);
    assert_true(ec.epochs == 0.5);
    assert_int_equal(ec.steps, 0);
    expect_error(edit(6, "steps = 10\nepochs = 2\n"), NULL, 0, "bad.ini:7:",
                 "steps and epochs are both given: give one");
    expect_error(edit(6, "epochs = 2\nsteps = 10\n"), NULL, 0, "bad.ini:6:", "steps and epochs are both given");
    const char *both[] = {"train.epochs=1"};
    expect_error(base_text, both, 1, "--set train.epochs=1: steps and epochs are both given", NULL);
    expect_error(edit(6, "epochs = 0\n"), NULL, 0, "bad.ini:6:",
                 "'epochs' in [train]: expected a number in (0, 1e+06]");
    expect_error(edit(6, "epochs = 2e6\n"), NULL, 0, "bad.ini:6:", "epochs");
    expect_error(edit(6, "epochs = -1\n"), NULL, 0, "bad.ini:6:", "epochs");
    expect_error("[data]\nformat=idx\ndir=d\n[x]\ntype=lrn\n", NULL, 0,
                 "bad.ini: missing section [train] (it needs 'batch', and 'steps' or 'epochs')", NULL);
    /* duplicates */
    expect_error(edit(9, "filters = 4\nfilters = 5\n"), NULL, 0, "bad.ini:10:", "duplicated key 'filters'");
    expect_error(edit(16, "[c1]\n"), NULL, 0, "bad.ini:16:", "duplicated section [c1]");
    expect_error(edit(4, "[data]\n"), NULL, 0, "bad.ini:4:", "duplicated section [data]");
    /* missing required keys: named at the section's header line */
    expect_error(edit(2, ""), NULL, 0, "bad.ini:1:", "'format'");
    expect_error(edit(3, ""), NULL, 0, "bad.ini:1:", "'dir'");
    expect_error(edit(5, ""), NULL, 0, "bad.ini:4:", "'batch'");
    expect_error(edit(6, ""), NULL, 0, "bad.ini:4:", "[train] needs 'steps' or 'epochs'");
    expect_error(edit(8, ""), NULL, 0, "bad.ini:7:", "'type'");
    expect_error(edit(9, ""), NULL, 0, "bad.ini:7:", "'filters'");
    expect_error(edit(10, ""), NULL, 0, "bad.ini:7:", "'size'");
    expect_error(edit(13, ""), NULL, 0, "bad.ini:11:", "'size'");
    expect_error(edit(18, ""), NULL, 0, "bad.ini:16:", "'units'");
    expect_error(edit(16, "[d]\ntype = dropout\n[fc]\n"), NULL, 0, "bad.ini:16:", "'keep'");
    expect_error(edit(16, "[empty]\n[fc]\n"), NULL, 0, "bad.ini:16:", "'type'");
    expect_error("[train]\nbatch=1\nsteps=1\n[x]\ntype=lrn\n", NULL, 0, "bad.ini:", "[data]");
    /* syntax */
    expect_error(edit(9, "filters 4\n"), NULL, 0, "bad.ini:9:", NULL);
    expect_error(edit(7, "[c1\n"), NULL, 0, "bad.ini:7:", "]");
    expect_error(edit(7, "[c1.a]\n"), NULL, 0, "bad.ini:7:", "'.'");
    expect_error(edit(7, "[]\n"), NULL, 0, "bad.ini:7:", "empty");
    expect_error("format = idx\n[data]\n", NULL, 0, "bad.ini:1:", "before any");
    expect_error(edit(9, "= 4\n"), NULL, 0, "bad.ini:9:", NULL);
    char long_line[400];
    snprintf(long_line, sizeof long_line, "dir = %0300d\n", 7);
    expect_error(edit(3, long_line), NULL, 0, "bad.ini:3:", "longer than");
    /* text values that would not read back from the stored config (fuzz_config found the first) */
    expect_error(edit(3, "dir =;d\n"), NULL, 0, "bad.ini:3:", "begins a comment");
    expect_error(edit(3, "dir =#d\n"), NULL, 0, "bad.ini:3:", "begins a comment");
    const char *semi[] = {"data.dir=a ;b"}, *lead[] = {"data.dir= a"}, *ctl[] = {"data.dir=a\tb"};
    const char *hash[] = {"data.dir=a #b"};
    expect_error(base_text, hash, 1, "--set data.dir=a #b:", "would not read back");
    expect_error(base_text, semi, 1, "--set data.dir=a ;b:", "would not read back");
    expect_error(base_text, lead, 1, "--set data.dir= a:", "would not read back");
    expect_error(base_text, ctl, 1, "--set data.dir=a\tb:", "would not read back");
    const char *fine[] = {"data.dir=a;b c#d"};
    CnnConfig ok;
    parse_ok(&ok, base_text, fine, 1);
    assert_string_equal(ok.dir, "a;b c#d");
    round_trip(&ok);
    /* no layers */
    expect_error("[data]\nformat=idx\ndir=d\n[train]\nbatch=1\nsteps=1\n", NULL, 0, "bad.ini:", "no layers");
}

static void test_too_many_layers_and_load(void **state)
{
    (void)state;
    size_t cap = 64 * 1024;
    char *text = malloc(cap);
    assert_non_null(text);
    int n = snprintf(text, cap, "[data]\nformat=idx\ndir=d\n[train]\nbatch=1\nsteps=1\n");
    for (int i = 0; i < CNN_MAX_LAYERS; i++)
        n += snprintf(text + n, cap - (size_t)n, "[l%d]\ntype = dropout\nkeep = 0.5\n", i);
    CnnConfig c;
    parse_ok(&c, text, NULL, 0);
    assert_int_equal(c.n_layers, CNN_MAX_LAYERS);
    snprintf(text + n, cap - (size_t)n, "[extra]\ntype = lrn\n");
    char want_line[32], want_what[32];
    snprintf(want_line, sizeof want_line, "bad.ini:%d:", 6 + 3 * CNN_MAX_LAYERS + 1);
    snprintf(want_what, sizeof want_what, "more than %d layers", CNN_MAX_LAYERS);
    expect_error(text, NULL, 0, want_line, want_what);

    /* Through a file: the message names the path. */
    char dir[512], path[600];
    tu_mkdtemp(dir, sizeof dir, "config");
    snprintf(path, sizeof path, "%s/broken.ini", dir);
    const char *bad = edit(9, "filters = -4\n");
    tu_write_file(path, bad, strlen(bad));
    CnnErr err = {{0}};
    assert_int_equal(cnn_config_load(&c, path, NULL, 0, &err), -1);
    char want[700];
    snprintf(want, sizeof want, "%s:9:", path);
    assert_non_null(strstr(err.msg, want));
    /* A good file: the run name comes from its base name. */
    tu_write_file(path, base_text, strlen(base_text));
    assert_int_equal(cnn_config_load(&c, path, NULL, 0, &err), 0);
    assert_string_equal(c.name, "broken");
    assert_string_equal(c.path, path);
    snprintf(path, sizeof path, "%s/missing.ini", dir);
    assert_int_equal(cnn_config_load(&c, path, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "missing.ini"));
    tu_rmrf(dir);
    free(text);
}

/* The steps a run makes: train.steps, or ceil(epochs * training images / batch). */
static void test_steps_from_epochs(void **state)
{
    (void)state;
    CnnConfig c;
    parse_ok(&c, base_text, NULL, 0); /* steps = 10, batch 8 */
    assert_int_equal(cnn_config_steps(&c, 640), 10);
    assert_int_equal(cnn_config_steps(&c, 1), 10);
    parse_ok(&c, edit(6, "epochs = 0.5\n"), NULL, 0);
    c.batch = 32;
    assert_int_equal(cnn_config_steps(&c, 640), 10);  /* 0.5 * 640 / 32 = 10 */
    assert_int_equal(cnn_config_steps(&c, 650), 11);  /* 10.16 rounds up */
    assert_int_equal(cnn_config_steps(&c, 1), 1);     /* a part of one batch is a step */
    c.epochs = 0.51;
    assert_int_equal(cnn_config_steps(&c, 640), 11);  /* 10.2 */
    c.epochs = 9.9;
    c.batch = 128;
    assert_int_equal(cnn_config_steps(&c, 50000), 3868); /* 3867.1875 */
    c.epochs = 200;
    assert_int_equal(cnn_config_steps(&c, 50000), 78125); /* exactly 78125 */
    /* 0.56 * 25 / 7 = 2 exactly, but 2.0000000000000004 in doubles: counts as 2, not 3 */
    c.epochs = 0.56;
    c.batch = 7;
    assert_true(c.epochs * 25.0 / 7.0 > 2.0);
    assert_int_equal(cnn_config_steps(&c, 25), 2);
    c.epochs = 1e6; /* the most: still a long */
    c.batch = 1;
    assert_int_equal(cnn_config_steps(&c, 2147483647L), 2147483647000000L);
}

static void test_hashes(void **state)
{
    (void)state;
    CnnConfig a, b;
    load_ok(&a, "configs/cifar10.ini", NULL, 0);
    uint64_t mh = cnn_config_model_hash(&a), th = cnn_config_train_hash(&a);
    assert_true(mh != th);
    char diff[64];

    /* The network (NETWORK keys): both hashes. The resume check leaves them to the model hash. */
    const char *model[] = {"conv1.filters=32", "conv1.size=3",  "pool1.stride=3", "local3.units=100",
                           "norm1.radius=5",  "conv2.padding=valid", "data.crop=28", "local4.activation=tanh",
                           "conv1.stddev=0.01", "data.height=36", "data.num_classes=11", "logits.wl=0.5"};
    for (int i = 0; i < 12; i++) {
        load_ok(&b, "configs/cifar10.ini", &model[i], 1);
        if (cnn_config_model_hash(&b) == mh) fail_msg("model hash ignores %s", model[i]);
        assert_true(cnn_config_train_hash(&b) != th);
        assert_null(cnn_config_recipe_change(&a, &b, diff, sizeof diff));
    }
}

/* The classes of the fixed sections' keys, as config.h defines them. */
static const struct {
    const char *key;
    CnnKeyClass cls;
} fixed_classes[] = {
    {"data.height", CNN_KEY_NETWORK},       {"data.width", CNN_KEY_NETWORK},
    {"data.channels", CNN_KEY_NETWORK},     {"data.num_classes", CNN_KEY_NETWORK},
    {"data.crop", CNN_KEY_NETWORK},

    {"run.seed", CNN_KEY_RECIPE},           {"data.format", CNN_KEY_RECIPE},
    {"data.train", CNN_KEY_RECIPE},         {"data.flip", CNN_KEY_RECIPE},
    {"data.pad", CNN_KEY_RECIPE},           {"data.pad_mode", CNN_KEY_RECIPE},
    {"data.brightness", CNN_KEY_RECIPE},    {"data.contrast", CNN_KEY_RECIPE},
    {"data.standardize", CNN_KEY_RECIPE},   {"train.batch", CNN_KEY_RECIPE},
    {"data.mean", CNN_KEY_RECIPE},          {"data.std", CNN_KEY_RECIPE},
    {"train.optimizer", CNN_KEY_RECIPE},    {"train.momentum", CNN_KEY_RECIPE},
    {"train.nesterov", CNN_KEY_RECIPE},     {"train.weight_decay", CNN_KEY_RECIPE},
    {"train.label_smoothing", CNN_KEY_RECIPE},
    {"train.beta1", CNN_KEY_RECIPE},        {"train.beta2", CNN_KEY_RECIPE},
    {"train.epsilon", CNN_KEY_RECIPE},      {"train.deterministic", CNN_KEY_RECIPE},
    {"train.micro_batch", CNN_KEY_RECIPE},
    {"data.flip_mode", CNN_KEY_RECIPE},     {"train.weight_decay_on", CNN_KEY_RECIPE},
    {"train.drop_last", CNN_KEY_RECIPE},    {"train.lookahead", CNN_KEY_RECIPE},
    {"train.lookahead_every", CNN_KEY_RECIPE}, {"train.lookahead_power", CNN_KEY_RECIPE},
    {"train.lookahead_start", CNN_KEY_RECIPE},

    {"data.test", CNN_KEY_TUNABLE},         {"train.steps", CNN_KEY_TUNABLE},
    {"train.epochs", CNN_KEY_TUNABLE},      {"train.boundaries", CNN_KEY_TUNABLE},
    {"train.lr", CNN_KEY_TUNABLE},          {"train.lr_schedule", CNN_KEY_TUNABLE},
    {"train.decay_rate", CNN_KEY_TUNABLE},  {"train.decay_steps", CNN_KEY_TUNABLE},
    {"train.staircase", CNN_KEY_TUNABLE},   {"train.warmup_steps", CNN_KEY_TUNABLE},
    {"train.log_every", CNN_KEY_TUNABLE},   {"train.eval_every", CNN_KEY_TUNABLE},
    {"train.checkpoint_every", CNN_KEY_TUNABLE}, {"train.keep", CNN_KEY_TUNABLE},
    {"train.eval_batch", CNN_KEY_TUNABLE},  {"train.bucket_kb", CNN_KEY_TUNABLE},
    {"train.ema", CNN_KEY_TUNABLE},
    {"run.conv", CNN_KEY_TUNABLE},
    {"data.tta", CNN_KEY_TUNABLE},          {"train.knots", CNN_KEY_TUNABLE},
    {"train.knot_values", CNN_KEY_TUNABLE},

    {"run.name", CNN_KEY_LOCAL},            {"run.out_dir", CNN_KEY_LOCAL},
    {"run.threads", CNN_KEY_LOCAL},         {"run.stall_timeout", CNN_KEY_LOCAL},
    {"data.dir", CNN_KEY_LOCAL},            {"data.prefetch", CNN_KEY_LOCAL},
    {"data.class_names", CNN_KEY_LOCAL},
};
#define N_FIXED_CLASSES ((int)(sizeof fixed_classes / sizeof fixed_classes[0]))

static void test_key_classes(void **state)
{
    (void)state;
    char name[128];
    CnnKeyClass cls;
    int n = cnn_config_key_count(), n_fixed = 0, n_layer = 0, found[N_FIXED_CLASSES] = {0};
    assert_int_equal(N_FIXED_CLASSES, 6 + 29 + 22 + 5);
    for (int i = 0; i < n; i++) {
        cls = CNN_KEY_UNSET;
        if (!cnn_config_key_at(i, name, sizeof name, &cls)) fail_msg("no key %d of %d", i, n);
        if (cls == CNN_KEY_UNSET) fail_msg("key %s has no class", name);
        int fixed = !strncmp(name, "run.", 4) || !strncmp(name, "data.", 5) || !strncmp(name, "train.", 6);
        if (!fixed) { /* every layer key defines the network */
            if (cls != CNN_KEY_NETWORK) fail_msg("layer key %s is not NETWORK", name);
            n_layer++;
            continue;
        }
        int j = 0;
        while (j < N_FIXED_CLASSES && strcmp(fixed_classes[j].key, name)) j++;
        if (j == N_FIXED_CLASSES) fail_msg("key %s is not in this test's list", name);
        if (cls != fixed_classes[j].cls) fail_msg("key %s has class %d, want %d", name, cls, fixed_classes[j].cls);
        found[j]++;
        n_fixed++;
    }
    assert_int_equal(n_fixed, N_FIXED_CLASSES);
    for (int j = 0; j < N_FIXED_CLASSES; j++) assert_int_equal(found[j], 1);
    /* conv 17 (with trainable, train_until_epoch, lr_scale, whiten_images, whiten_epsilon), maxpool 4, avgpool 4,
     * lrn 5, dense 12 (with the three training keys), dropout 2, add 1, act 2, batchnorm 8 (the same three),
     * global_avgpool 1, global_maxpool 1, scale 2, pad_channels 2 */
    assert_int_equal(n_layer, 61);
    assert_null(cnn_config_key_at(n, name, sizeof name, &cls));
    assert_null(cnn_config_key_at(-1, name, sizeof name, &cls));
    assert_string_equal(cnn_config_key_at(0, name, sizeof name, NULL), "run.name");
    assert_non_null(cnn_config_key_at(n - 1, name, sizeof name, &cls));
    assert_string_equal(name, "pad_channels.channels");
    /* the layer tables follow the fixed ones */
    assert_non_null(cnn_config_key_at(N_FIXED_CLASSES, name, sizeof name, &cls));
    assert_string_equal(name, "conv.filters");
    assert_int_equal(cls, CNN_KEY_NETWORK);

    /* The lists for messages, in table order. */
    char buf[1024];
    cnn_config_keys_of_class(CNN_KEY_LOCAL, buf, sizeof buf);
    assert_string_equal(buf, "run.name, run.out_dir, run.threads, run.stall_timeout, data.dir, data.prefetch, data.class_names");
    cnn_config_keys_of_class(CNN_KEY_RECIPE, buf, sizeof buf);
    assert_string_equal(buf, "run.seed, data.format, data.train, data.pad, data.pad_mode, data.flip, data.flip_mode, "
                             "data.brightness, data.contrast, data.standardize, data.mean, data.std, train.batch, "
                             "train.optimizer, train.momentum, train.nesterov, train.beta1, train.beta2, train.epsilon, "
                             "train.weight_decay, train.label_smoothing, train.deterministic, train.micro_batch, "
                             "train.weight_decay_on, train.drop_last, train.lookahead, train.lookahead_every, "
                             "train.lookahead_power, train.lookahead_start");
    cnn_config_keys_of_class(CNN_KEY_TUNABLE, buf, sizeof buf);
    assert_string_equal(buf, "run.conv, data.test, data.tta, train.steps, train.epochs, train.lr, train.lr_schedule, "
                             "train.decay_rate, train.decay_steps, train.boundaries, train.staircase, train.warmup_steps, train.log_every, "
                             "train.eval_every, train.checkpoint_every, train.keep, train.eval_batch, "
                             "train.bucket_kb, train.ema, train.knots, train.knot_values");
    cnn_config_keys_of_class(CNN_KEY_NETWORK, buf, sizeof buf);
    const char *net = "data.height, data.width, data.channels, data.num_classes, data.crop, conv.filters, ";
    assert_int_equal(strncmp(buf, net, strlen(net)), 0);
    assert_non_null(strstr(buf, ", dropout.keep"));
    cnn_config_keys_of_class(CNN_KEY_UNSET, buf, sizeof buf);
    assert_string_equal(buf, "");
    char small[12];
    cnn_config_keys_of_class(CNN_KEY_LOCAL, small, sizeof small); /* truncated, still a string */
    assert_string_equal(small, "run.name, r");
}

/* The model hashes of the shipped configs. Checkpoints store this hash ("model v1") and a resume or
 * --eval refuses a checkpoint whose hash differs from the config's: if one of these values changes,
 * every existing checkpoint of that network stops resuming. Do not update the numbers; fix the hash. */
static void test_model_hash_pinned(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        uint64_t hash;
    } pinned[] = {
        {"configs/cifar10.ini", 0x33c2f1e041817cb6ULL},
        {"configs/cifar10-long.ini", 0x33c2f1e041817cb6ULL}, /* the same network */
        {"configs/mnist.ini", 0x8c9bf2d83f503839ULL},
        {"configs/tiny.ini", 0xde802d6197f689fcULL},
    };
    CnnConfig c;
    for (int i = 0; i < 4; i++) {
        load_ok(&c, pinned[i].path, NULL, 0);
        uint64_t h = cnn_config_model_hash(&c);
        if (h != pinned[i].hash)
            fail_msg("%s: model hash %016llx, checkpoints hold %016llx", pinned[i].path, (unsigned long long)h,
                     (unsigned long long)pinned[i].hash);
    }
    /* Every NETWORK field of the fixed sections and of a weight layer away from its default. */
    const char *ovr[] = {"data.height=40",      "data.width=36",    "data.channels=2",
                         "data.num_classes=7",  "data.crop=20",     "conv1.init=constant",
                         "conv1.value=0.25",    "conv1.wl=0.5",     "conv1.bias=-1"};
    load_ok(&c, "configs/cifar10.ini", ovr, 9);
    assert_true(cnn_config_model_hash(&c) == 0x8402679af31edaceULL);
    load_ok(&c, "configs/mnist.ini", ovr, 9);
    assert_true(cnn_config_model_hash(&c) == 0x30aa31e9cfe7390dULL);
}

/* One override (a few where one key needs others to parse, or to keep the network) per key of the
 * RECIPE, TUNABLE and LOCAL classes, away from configs/cifar10.ini's value. */
static const struct {
    const char *key;
    const char *ovr[4];
} class_cases[] = {
    {"run.seed", {"run.seed=2"}},
    {"data.format", {"data.format=idx", "data.height=32", "data.width=32", "data.channels=3"}},
    {"data.train", {"data.train=data_batch_1.bin"}},
    {"data.flip", {"data.flip=false"}},
    {"data.pad", {"data.crop=0", "data.pad=4"}},
    {"data.pad_mode", {"data.crop=0", "data.pad=4", "data.pad_mode=reflect"}},
    {"data.brightness", {"data.brightness=10"}},
    {"data.contrast", {"data.contrast=0.2, 1.5"}},
    {"data.standardize", {"data.standardize=false"}},
    {"data.mean", {"data.standardize=false", "data.mean=0.4, 0.5, 0.5", "data.std=0.25, 0.25, 0.25"}},
    {"data.std", {"data.standardize=false", "data.mean=0.5, 0.5, 0.5", "data.std=0.25, 0.2, 0.25"}},
    {"train.batch", {"train.batch=64"}},
    {"train.optimizer", {"train.optimizer=sgd"}},
    {"train.momentum", {"train.momentum=0.5"}},
    {"train.nesterov", {"train.optimizer=sgd", "train.nesterov=true"}},
    {"train.beta1", {"train.beta1=0.8"}},
    {"train.beta2", {"train.beta2=0.99"}},
    {"train.epsilon", {"train.epsilon=1e-7"}},
    {"train.weight_decay", {"train.weight_decay=5e-4"}},
    {"train.label_smoothing", {"train.label_smoothing=0.2"}},
    {"train.deterministic", {"train.deterministic=false"}},
    {"train.micro_batch", {"train.micro_batch=8"}},
    {"data.flip_mode", {"data.flip_mode=alternate"}},
    {"train.weight_decay_on", {"train.weight_decay_on=all"}},
    {"train.drop_last", {"train.drop_last=true"}},
    {"train.lookahead", {"train.lookahead=0.95"}},
    {"train.lookahead_every", {"train.lookahead_every=7"}},
    {"train.lookahead_power", {"train.lookahead_power=2"}},
    {"train.lookahead_start", {"train.lookahead_start=3"}},

    {"data.test", {"data.test=data_batch_5.bin"}},
    {"train.steps", {"train.steps=5"}},
    {"train.epochs", {"train.epochs=2.5"}}, /* with the file's steps line taken out */
    {"train.lr", {"train.lr=2e-3"}},
    {"train.lr_schedule", {"train.lr_schedule=cosine", "train.decay_steps=100"}},
    {"train.decay_rate", {"train.decay_rate=0.5"}},
    {"train.decay_steps", {"train.decay_steps=100"}},
    {"train.boundaries", {"train.boundaries=100, 200"}},
    {"train.staircase", {"train.staircase=true"}},
    {"train.warmup_steps", {"train.warmup_steps=10"}},
    {"train.log_every", {"train.log_every=1"}},
    {"train.eval_every", {"train.eval_every=7"}},
    {"train.checkpoint_every", {"train.checkpoint_every=9"}},
    {"train.keep", {"train.keep=9"}},
    {"train.eval_batch", {"train.eval_batch=100"}},
    {"train.bucket_kb", {"train.bucket_kb=0"}},
    {"run.conv", {"run.conv=gemm"}},
    {"data.tta", {"data.tta=2"}},
    {"train.knots", {"train.lr_schedule=linear", "train.knots=0, 0.5", "train.knot_values=1, 0.1"}},
    {"train.knot_values", {"train.lr_schedule=linear", "train.knots=0, 1", "train.knot_values=1, 0.1"}},

    {"run.name", {"run.name=other"}},
    {"run.out_dir", {"run.out_dir=/tmp/elsewhere"}},
    {"run.threads", {"run.threads=3"}},
    {"run.stall_timeout", {"run.stall_timeout=30"}},
    {"data.dir", {"data.dir=/tmp/x"}},
    {"data.prefetch", {"data.prefetch=0"}},
    {"train.ema", {"train.ema=0.999"}},
    {"data.class_names", {"data.class_names=a,b"}},
};
#define N_CLASS_CASES ((int)(sizeof class_cases / sizeof class_cases[0]))

/* A key that only parses beside others (train.nesterov needs sgd, data.mean needs data.std, data.pad no
 * data.crop) is compared against cifar10.ini with those others set too, so that it alone differs.
 * Returns the overrides' count. */
static int class_case_base(const char *key, const char *const **ovr)
{
    static const char *const sgd[] = {"train.optimizer=sgd"};
    static const char *const norm[] = {"data.standardize=false", "data.mean=0.5, 0.5, 0.5",
                                       "data.std=0.25, 0.25, 0.25"};
    static const char *const nocrop[] = {"data.crop=0"}, *const pad[] = {"data.crop=0", "data.pad=4"};
    static const struct {
        const char *key;
        const char *const *ovr;
        int n;
    } bases[] = {
        {"train.nesterov", sgd, 1},
        {"data.mean", norm, 3},
        {"data.std", norm, 3},
        {"data.pad", nocrop, 1},
        {"data.pad_mode", pad, 2},
    };
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        if (strcmp(bases[i].key, key)) continue;
        *ovr = bases[i].ovr;
        return bases[i].n;
    }
    return 0;
}

/* Each case changes only its key's class's business: a RECIPE key is named by the resume check and
 * moves the train hash; a TUNABLE key passes the resume check and moves the train hash (ranks must
 * agree); a LOCAL key moves nothing. None moves the model hash. */
static void test_classes_drive_hashes_and_resume(void **state)
{
    (void)state;
    CnnConfig a, b;
    load_ok(&a, "configs/cifar10.ini", NULL, 0);
    char diff[64], name[128];
    assert_null(cnn_config_recipe_change(&a, &a, diff, sizeof diff));

    /* Every key of these classes has a case. */
    int n_covered = 0;
    CnnKeyClass cls;
    for (int i = 0; cnn_config_key_at(i, name, sizeof name, &cls); i++) {
        if (cls == CNN_KEY_NETWORK) continue;
        int j = 0;
        while (j < N_CLASS_CASES && strcmp(class_cases[j].key, name)) j++;
        if (j == N_CLASS_CASES) fail_msg("no case for key %s", name);
        n_covered++;
    }
    assert_int_equal(n_covered, N_CLASS_CASES);

    for (int i = 0; i < N_CLASS_CASES; i++) {
        const char *key = class_cases[i].key;
        int n_ovr = 0;
        while (n_ovr < 4 && class_cases[i].ovr[n_ovr]) n_ovr++;
        if (!strcmp(key, "train.epochs")) load_without_steps(&b, "configs/cifar10.ini", class_cases[i].ovr, n_ovr);
        else load_ok(&b, "configs/cifar10.ini", class_cases[i].ovr, n_ovr);
        CnnConfig a1 = a;
        const char *const *base = NULL;
        const int n_base = class_case_base(key, &base);
        if (n_base) load_ok(&a1, "configs/cifar10.ini", base, n_base);
        const uint64_t th1 = cnn_config_train_hash(&a1);
        cls = CNN_KEY_UNSET;
        for (int k = 0; cnn_config_key_at(k, name, sizeof name, &cls) && strcmp(name, key); k++) {}
        assert_true(cls == CNN_KEY_RECIPE || cls == CNN_KEY_TUNABLE || cls == CNN_KEY_LOCAL);

        if (cnn_config_model_hash(&b) != cnn_config_model_hash(&a1)) fail_msg("model hash moves with %s", key);
        const char *got = cnn_config_recipe_change(&a1, &b, diff, sizeof diff);
        const char *back = cnn_config_recipe_change(&b, &a1, diff, sizeof diff);
        const int moves = cnn_config_train_hash(&b) != th1;
        if (cls == CNN_KEY_RECIPE) {
            if (!got || strcmp(got, key)) fail_msg("recipe_change says %s for %s", got ? got : "NULL", key);
            assert_ptr_equal(back, diff);
            assert_string_equal(back, key);
        } else if (got || back) {
            fail_msg("recipe_change says %s for %s", got ? got : back, key);
        }
        if (moves != (cls != CNN_KEY_LOCAL))
            fail_msg("train hash %s with %s", moves ? "moves" : "does not move", key);
    }

    /* The first RECIPE key in table order is named; a short buffer still gets a string. */
    const char *two[] = {"train.batch=64", "run.seed=9"};
    load_ok(&b, "configs/cifar10.ini", two, 2);
    assert_string_equal(cnn_config_recipe_change(&a, &b, diff, sizeof diff), "run.seed");
    char tiny[6];
    assert_string_equal(cnn_config_recipe_change(&a, &b, tiny, sizeof tiny), "run.s");
    /* Values, not bytes: a brightness of -0 is the same as 0. */
    const char *neg[] = {"data.brightness=-0"};
    const char *zero[] = {"data.brightness=0"};
    CnnConfig c;
    load_ok(&b, "configs/cifar10.ini", neg, 1);
    load_ok(&c, "configs/cifar10.ini", zero, 1);
    assert_null(cnn_config_recipe_change(&b, &c, diff, sizeof diff));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10_table),
        cmocka_unit_test(test_other_shipped_configs),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_too_many_layers_and_load),
        cmocka_unit_test(test_steps_from_epochs),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_key_classes),
        cmocka_unit_test(test_model_hash_pinned),
        cmocka_unit_test(test_classes_drive_hashes_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
