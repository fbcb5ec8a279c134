/* graph: configs whose layers name their inputs. Bad graphs are one-line errors with file and line (an
 * unknown or misspelt input, a cycle, a layer reading itself, too many or too few inputs, `add` inputs of
 * different shapes, the reserved name); an unused output is a warning. A network with batchnorm, gelu,
 * scale, add, global pooling and a layer with two consumers passes a whole-network gradient check in
 * double on every instruction set, and the same on AVX2 and AVX-512 bit for bit. The resblock
 * expansion gives He et al.'s ResNet-20 (269,722 parameters with option A). The arena holds less than
 * every output and gradient at once, and a forward after a backward still gives the same logits. */
#include "testutil.h"

#include "cnn/config.h"
#include "cnn/nn/model.h"

#define HEAD "[data]\nformat = cifar10\ndir = d\ncrop = 8\n[train]\nbatch = 4\nsteps = 1\n"

static void parse(CnnConfig *cfg, const char *text)
{
    CnnErr err;
    if (cnn_config_parse(cfg, text, "g.ini", NULL, 0, &err)) fail_msg("%s", err.msg);
}

static void expect_config_error(const char *text, const char *want, const char *what)
{
    static CnnConfig cfg;
    CnnErr err = {{0}};
    if (cnn_config_parse(&cfg, text, "g.ini", NULL, 0, &err) != -1) fail_msg("expected an error with '%s'", what);
    if (strncmp(err.msg, want, strlen(want))) fail_msg("'%s' does not start with '%s'", err.msg, want);
    if (!strstr(err.msg, what)) fail_msg("'%s' does not say '%s'", err.msg, what);
    assert_null(strchr(err.msg, '\n'));
}

static void expect_build_error(const char *text, const char *want, const char *what)
{
    static CnnConfig cfg;
    parse(&cfg, text);
    CnnModel m;
    CnnErr err = {{0}};
    const CnnModelOpts o = cnn_model_opts_local(2);
    if (cnn_model_build(&m, &cfg, &o, &err) != -1) fail_msg("expected a build error with '%s'", what);
    if (strncmp(err.msg, want, strlen(want))) fail_msg("'%s' does not start with '%s'", err.msg, want);
    if (!strstr(err.msg, what)) fail_msg("'%s' does not say '%s'", err.msg, what);
}

static void test_bad_graphs(void **state)
{
    (void)state;
    /* line 8 is [a]'s header, 10 its input key, ... */
    expect_config_error(HEAD "[a]\ntype = conv\ninput = cnv1\nfilters = 2\nsize = 3\n[cnv2]\ntype = dense\nunits = 10\n",
                        "g.ini:10:", "input 'cnv1' is not a layer of this config (did you mean 'cnv2'?)");
    expect_config_error(HEAD "[a]\ntype = conv\ninput = nothing_like_it\nfilters = 2\nsize = 3\n[b]\ntype = dense\nunits = 10\n",
                        "g.ini:10:", "input 'nothing_like_it' is not a layer");
    expect_config_error(HEAD "[a]\ntype = act\ninput = a\nactivation = relu\n[b]\ntype = dense\nunits = 10\n", "g.ini:10:",
                        "cannot take its own output");
    expect_config_error(HEAD "[a]\ntype = act\ninput = b\nactivation = relu\n[b]\ntype = act\ninput = a\nactivation = relu\n"
                             "[c]\ntype = dense\nunits = 10\ninput = b\n",
                        "g.ini:8:", "cycle");
    expect_config_error(HEAD "[a]\ntype = act\nactivation = relu\n[b]\ntype = add\ninput = a\n[c]\ntype = dense\nunits = 10\n",
                        "g.ini:13:", "at least 2 inputs");
    expect_config_error(HEAD "[a]\ntype = act\nactivation = relu\n[b]\ntype = act\ninput = a, input\nactivation = relu\n"
                             "[c]\ntype = dense\nunits = 10\n",
                        "g.ini:13:", "at most 1 input");
    expect_config_error(HEAD "[a]\ntype = act\nactivation = relu\n[b]\ntype = add\ninput = a, a\n[c]\ntype = dense\nunits = 10\n",
                        "g.ini:13:", "named twice");
    expect_config_error(HEAD "[input]\ntype = act\nactivation = relu\n", "g.ini:8:", "[input] is the image's name");
    expect_config_error(HEAD "[a]\ntype = batchnorm\nepsilon = 0\n", "g.ini:10:", "epsilon");
    /* shapes are the model's to check */
    expect_build_error(HEAD "[a]\ntype = conv\nfilters = 4\nsize = 3\npadding = same\n[b]\ntype = add\ninput = a, input\n"
                            "[c]\ntype = dense\nunits = 10\n",
                       "g.ini:13: [b]:", "add needs inputs of one shape: 'a' gives 8x8x4, 'input' gives 8x8x3");
    expect_build_error(HEAD "[a]\ntype = global_avgpool\n[b]\ntype = dense\nunits = 10\nactivation = relu\n", "g.ini:10: [b]:",
                       "must be linear");
    expect_build_error(HEAD "[a]\ntype = global_avgpool\n[b]\ntype = scale\nfactor = 2\n", "g.ini:10: [b]:",
                       "must give 10 values per sample");
    expect_build_error(HEAD "[a]\ntype = conv\nfilters = 4\nsize = 3\nactivation = gelu\n[b]\ntype = dense\nunits = 10\n",
                       "g.ini:8: [a]:", "type = act, activation = gelu");
    /* shapes that do not fit: global pooling of a vector, batchnorm of one value per channel */
    expect_build_error(HEAD "[a]\ntype = dense\nunits = 12\n[b]\ntype = global_maxpool\n[c]\ntype = dense\nunits = 10\n",
                       "g.ini:11: [b]:", "its input is 1x1x12 already");
    expect_build_error("[data]\nformat = cifar10\ndir = d\ncrop = 8\n[train]\nbatch = 4\nsteps = 1\nmicro_batch = 1\n"
                       "[a]\ntype = global_avgpool\n[b]\ntype = batchnorm\n[c]\ntype = dense\nunits = 10\n",
                       "g.ini:11: [b]:", "nothing to normalise");

    /* a layer whose output nothing takes: a warning, not an error */
    static CnnConfig cfg;
    parse(&cfg, HEAD "[a]\ntype = global_avgpool\n[b]\ntype = global_maxpool\ninput = input\n[c]\ntype = dense\nunits = 10\n"
                     "input = a\n");
    assert_string_equal(cfg.warning, "g.ini:10: [b]: warning: no layer takes this layer's output");
    parse(&cfg, HEAD "[a]\ntype = global_avgpool\n[c]\ntype = dense\nunits = 10\n");
    assert_string_equal(cfg.warning, "");
}

/* Forward order: each layer after its inputs, file order otherwise; a forward reference is allowed. */
static void test_order_and_hash(void **state)
{
    (void)state;
    static CnnConfig a, b, c;
    parse(&a, HEAD "[x]\ntype = act\ninput = y\nactivation = relu\n[y]\ntype = global_avgpool\ninput = input\n"
                   "[z]\ntype = dense\nunits = 10\ninput = x\n");
    assert_int_equal(a.order[0], 1);
    assert_int_equal(a.order[1], 0);
    assert_int_equal(a.order[2], 2);
    /* `input` naming the section before is the chain: same network, same hash; another input is not */
    parse(&b, HEAD "[y]\ntype = global_avgpool\n[z]\ntype = dense\nunits = 10\n");
    parse(&c, HEAD "[y]\ntype = global_avgpool\ninput = input\n[z]\ntype = dense\nunits = 10\ninput = y\n");
    assert_true(cnn_config_model_hash(&b) == cnn_config_model_hash(&c));
    parse(&c, HEAD "[y]\ntype = global_avgpool\n[z]\ntype = dense\nunits = 10\nuse_bias = false\n");
    assert_true(cnn_config_model_hash(&b) != cnn_config_model_hash(&c));
    /* the canonical text reads back to the same graph */
    char *text = cnn_config_to_ini(&a);
    parse(&b, text);
    free(text);
    assert_true(cnn_config_model_hash(&a) == cnn_config_model_hash(&b));
    assert_memory_equal(a.order, b.order, 3 * sizeof(int));
}

/* A network with every new type, a tensor with two consumers (g1: c2 and s1), batchnorm in training mode,
 * smooth everywhere (tanh, gelu, average pooling) so central differences are meaningful. */
static const char *const GRAPH = HEAD
    "[c1]\ntype = conv\nfilters = 4\nsize = 3\npadding = same\nactivation = tanh\nuse_bias = false\ninit = he_normal\n"
    "[bn1]\ntype = batchnorm\n"
    "[g1]\ntype = act\nactivation = gelu\n"
    "[c2]\ntype = conv\nfilters = 4\nsize = 3\npadding = same\nstddev = 0.3\n"
    "[s1]\ntype = scale\nfactor = 0.5\ninput = g1\n"
    "[a1]\ntype = add\ninput = c2, s1\n"
    "[bn2]\ntype = batchnorm\nscale = false\nmomentum = 0.5\n"
    "[t2]\ntype = act\nactivation = tanh\n"
    "[gp]\ntype = global_avgpool\n"
    "[fc]\ntype = dense\nunits = 10\nstddev = 0.3\nwl = 0.01\n";

/* A second graph where both inputs of an `add` have a later consumer too (a2 reads g1 and c2 before a1
 * does in backward), so both of a1's input gradients are sums through the scratch buffer. */
static const char *const GRAPH2 = HEAD
    "[c1]\ntype = conv\nfilters = 4\nsize = 3\npadding = same\nactivation = tanh\nstddev = 0.3\n"
    "[g1]\ntype = act\nactivation = gelu\n"
    "[c2]\ntype = conv\nfilters = 4\nsize = 3\npadding = same\nactivation = tanh\nstddev = 0.3\n"
    "[a1]\ntype = add\ninput = g1, c2\n"
    "[a2]\ntype = add\ninput = a1, g1, c2\n"
    "[gp]\ntype = global_avgpool\n"
    "[fc]\ntype = dense\nunits = 10\nstddev = 0.3\n";

static void model_of(CnnModel *m, CnnConfig *cfg, const char *text, int cap, CnnIsa isa)
{
    parse(cfg, text);
    CnnErr err;
    const CnnModelOpts o = {cap, isa, 1, 0, 0};
    if (cnn_model_build(m, cfg, &o, &err)) fail_msg("%s", err.msg);
    cnn_model_init_params(m, 5);
    /* batchnorm's gamma and beta away from 1 and 0, so their gradients mix into everything */
    for (int t = 0; t < m->n_tensors; t++) {
        CnnTensorInfo *ti = &m->tensors[t];
        if (strstr(ti->name, "/gamma") || strstr(ti->name, "/beta"))
            tu_fill_uniform(m->params + ti->offset, ti->count, 0.5f, 1.5f, 40 + (uint64_t)t);
    }
}

static void graph_model(CnnModel *m, CnnConfig *cfg, int cap, CnnIsa isa) { model_of(m, cfg, GRAPH, cap, isa); }

static double graph_loss(CnnModel *m, const float *x, const int *y, int n)
{
    const float *logits = cnn_model_forward(m, x, n, 1, 0, NULL);
    return cnn_softmax_xent(NULL, logits, y, n, m->num_classes, 1.0f, NULL) / n + cnn_model_weight_loss(m);
}

/* Every trainable tensor's gradient (a sample of each) against central differences of the loss in double. */
static void check_gradient(const char *text, int n_tensors)
{
    TU_FOR_EACH_ISA(isa, kern) {
        static CnnConfig cfg;
        CnnModel m;
        model_of(&m, &cfg, text, 4, isa);
        assert_int_equal(m.n_tensors, n_tensors);
        const int n = 4;
        const size_t per = (size_t)m.in_h * m.in_w * m.in_c;
        float *x = malloc(n * per * sizeof(float));
        tu_fill_uniform(x, n * per, -1.0f, 1.0f, 11);
        const int y[4] = {1, 7, 3, 9};
        float *g = malloc(m.n_params * sizeof(float));
        tu_poison(g, m.n_params);
        cnn_model_forward(&m, x, n, 1, 0, NULL);
        cnn_model_backward(&m, g, CNN_GRAD_OVERWRITE, y, n, 1.0f / n, NULL, NULL);
        tu_assert_finite(g, m.n_params, "every gradient and buffer slot written");
        cnn_model_add_weight_decay(&m, g, 0.0);
        for (int t = 0; t < m.n_trainable_tensors; t++) {
            const CnnTensorInfo *ti = &m.tensors[t];
            for (size_t k = 0; k < 8 && k < ti->count; k++) {
                const size_t i = ti->offset + (k * 7919) % ti->count;
                const float save = m.params[i], h = 2e-3f, xp = save + h, xm = save - h;
                m.params[i] = xp;
                const double lp = graph_loss(&m, x, y, n);
                m.params[i] = xm;
                const double lm = graph_loss(&m, x, y, n);
                m.params[i] = save;
                tu_assert_close((double)g[i], (lp - lm) / ((double)xp - (double)xm), 3e-4, 5e-3, ti->name, k);
            }
        }
        free(x);
        free(g);
        cnn_model_free(&m);
        (void)kern;
    }
}

static void test_graph_gradient(void **state)
{
    (void)state;
    /* c1 w; bn1 gamma, beta, 2 buffers; c2 w, b; bn2 beta, 2 buffers; fc w, b */
    check_gradient(GRAPH, 12);
    check_gradient(GRAPH2, 6);
}

/* The buffers' slots hold each forward's batch statistics times its share of the global batch; the update
 * moves the running statistics by momentum towards them; evaluation then normalises with them. */
static void test_batchnorm_buffers(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnModel m;
    graph_model(&m, &cfg, 4, tu_isa_max());
    const int n = 4;
    const size_t per = (size_t)m.in_h * m.in_w * m.in_c;
    float *x = malloc(n * per * sizeof(float));
    tu_fill_uniform(x, n * per, -1.0f, 1.0f, 12);
    const int y[4] = {0, 1, 2, 3};
    float *g = calloc(m.n_params, sizeof(float));
    /* two groups of two samples, each scaled by 1/4: the slots add up to the batch's mean */
    cnn_model_forward(&m, x, 2, 1, 0, NULL);
    cnn_model_backward(&m, g, CNN_GRAD_ACCUMULATE, y, 2, 0.25f, NULL, NULL);
    cnn_model_forward(&m, x + 2 * per, 2, 1, 0, NULL);
    cnn_model_backward(&m, g, CNN_GRAD_ACCUMULATE, y + 2, 2, 0.25f, NULL, NULL);
    /* bn2 normalises a1: its moving mean's slot is the mean of a1 over both groups, its variance slot the
     * mean of the two groups' unbiased variances; recompute them from a1's outputs in double */
    const CnnLayer *a1 = &m.layers[5], *bn2 = &m.layers[6];
    assert_string_equal(bn2->spec.name, "bn2");
    double want_m[4] = {0}, want_v[4] = {0};
    for (int grp = 0; grp < 2; grp++) {
        cnn_model_forward(&m, x + 2 * grp * per, 2, 1, 0, NULL);
        const size_t pix = 2 * 64;
        for (int c = 0; c < 4; c++) {
            double s = 0, ss = 0;
            for (size_t p = 0; p < pix; p++) s += (double)a1->out[p * 4 + c];
            const double mu = s / (double)pix;
            for (size_t p = 0; p < pix; p++) ss += ((double)a1->out[p * 4 + c] - mu) * ((double)a1->out[p * 4 + c] - mu);
            want_m[c] += 0.5 * mu;
            want_v[c] += 0.5 * ss / (double)(pix - 1);
        }
    }
    const CnnTensorInfo *mt = &m.tensors[bn2->tensor[bn2->bn.mean]], *vt = &m.tensors[bn2->tensor[bn2->bn.var]];
    assert_true(mt->buffer && vt->buffer);
    assert_string_equal(mt->name, "bn2/moving_mean");
    for (int c = 0; c < 4; c++) {
        tu_assert_close((double)g[mt->offset + c], want_m[c], 1e-6, 1e-5, "mean slot", (size_t)c);
        tu_assert_close((double)g[vt->offset + c], want_v[c], 1e-6, 1e-5, "variance slot", (size_t)c);
    }
    /* momentum 0.5 from (0, 1): the average of the start and the batch's statistics */
    cnn_model_update_buffers(&m, g);
    for (int c = 0; c < 4; c++) {
        tu_assert_close((double)m.params[mt->offset + c], 0.5 * want_m[c], 1e-6, 1e-5, "running mean", (size_t)c);
        tu_assert_close((double)m.params[vt->offset + c], 0.5 + 0.5 * want_v[c], 1e-6, 1e-5, "running variance",
                        (size_t)c);
    }
    /* evaluation: bn2 = (a1 - running mean) / sqrt(running var + eps) + beta, by hand on one value */
    cnn_model_forward(&m, x, 1, 0, 0, NULL);
    const float *beta = m.params + m.tensors[bn2->tensor[bn2->bn.beta]].offset;
    for (int c = 0; c < 4; c++) {
        const double want = ((double)a1->out[c] - (double)m.params[mt->offset + c]) /
                                sqrt((double)m.params[vt->offset + c] + 1e-5) + (double)beta[c];
        tu_assert_close((double)bn2->out[c], want, 1e-5, 1e-5, "evaluation", (size_t)c);
    }
    free(x);
    free(g);
    cnn_model_free(&m);
}

/* AVX2 and AVX-512 give the same bits for the whole graph: logits, loss, gradients, buffer slots. */
static void test_graph_same_bits_on_avx2_and_avx512(void **state)
{
    (void)state;
    if (tu_isa_max() < CNN_ISA_AVX512) skip();
    static CnnConfig cfg;
    CnnModel a, b;
    graph_model(&a, &cfg, 4, CNN_ISA_AVX2);
    graph_model(&b, &cfg, 4, CNN_ISA_AVX512);
    const size_t per = (size_t)a.in_h * a.in_w * a.in_c;
    float *x = malloc(4 * per * sizeof(float));
    tu_fill_uniform(x, 4 * per, -1.0f, 1.0f, 13);
    const int y[4] = {4, 5, 6, 7};
    float *ga = malloc(a.n_params * sizeof(float)), *gb = malloc(b.n_params * sizeof(float));
    cnn_model_forward(&a, x, 4, 1, 0, NULL);
    cnn_model_forward(&b, x, 4, 1, 0, NULL);
    const double la = cnn_model_backward(&a, ga, CNN_GRAD_OVERWRITE, y, 4, 0.25f, NULL, NULL);
    const double lb = cnn_model_backward(&b, gb, CNN_GRAD_OVERWRITE, y, 4, 0.25f, NULL, NULL);
    assert_memory_equal(&la, &lb, sizeof la);
    assert_memory_equal(ga, gb, a.n_params * sizeof(float));
    free(x);
    free(ga);
    free(gb);
    cnn_model_free(&a);
    cnn_model_free(&b);
}

/* Fusion (model.c): a batchnorm whose only reader is the relu or gelu right after it computes both. Here
 * bn1 -> r1 (relu) and bn3 -> g3 (gelu, with no gamma) fuse; bn2 does not (two readers: its act and the
 * add), nor bn4 (its act is tanh), nor bn5 (its act comes after another layer). The fused model gives
 * bitwise the unfused one's logits (training and evaluation), loss, gradients and running statistics,
 * the act layers' inputs normalised, so of both signs; the arena is no larger. And c1b (Winograd where the
 * instruction set has the tiles) computes the 2x2 max-pool p1 after it in its output pass. */
static const char *const FUSE_GRAPH = HEAD
    "[c1]\ntype = conv\nfilters = 8\nsize = 3\npadding = same\nstddev = 0.5\n"
    "[bn1]\ntype = batchnorm\n"
    "[r1]\ntype = act\nactivation = relu\n"
    "[c1b]\ntype = conv\nfilters = 16\nsize = 3\npadding = same\nstddev = 0.3\n"
    "[p1]\ntype = maxpool\nsize = 2\nstride = 2\npadding = valid\n"
    "[c2]\ntype = conv\nfilters = 8\nsize = 3\npadding = same\nstddev = 0.3\n"
    "[bn2]\ntype = batchnorm\n"
    "[r2]\ntype = act\nactivation = relu\n"
    "[a2]\ntype = add\ninput = r2, bn2\n"
    "[bn3]\ntype = batchnorm\nscale = false\n"
    "[g3]\ntype = act\nactivation = gelu\n"
    "[bn4]\ntype = batchnorm\n"
    "[t4]\ntype = act\nactivation = tanh\n"
    "[bn5]\ntype = batchnorm\n"
    "[s5]\ntype = scale\nfactor = 2\ninput = t4\n"
    "[g5]\ntype = act\nactivation = gelu\ninput = bn5\n"
    "[a5]\ntype = add\ninput = g5, s5\n"
    "[gp]\ntype = global_avgpool\n"
    "[fc]\ntype = dense\nunits = 10\nstddev = 0.3\n";

static int layer_index(const CnnConfig *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_layers; i++)
        if (strcmp(cfg->layers[i].name, name) == 0) return i;
    fail_msg("no layer %s", name);
    return -1;
}

static void test_fusion(void **state)
{
    (void)state;
    TU_FOR_EACH_ISA(isa, kern) {
        static CnnConfig cfg;
        CnnModel m[2];
        for (int f = 0; f < 2; f++) {
            parse(&cfg, FUSE_GRAPH);
            CnnErr err;
            const CnnModelOpts o = {6, isa, 1, 0, f}; /* m[0] fused, m[1] not */
            if (cnn_model_build(&m[f], &cfg, &o, &err)) fail_msg("%s", err.msg);
            cnn_model_init_params(&m[f], 9);
            for (int t = 0; t < m[f].n_tensors; t++) {
                CnnTensorInfo *ti = &m[f].tensors[t];
                if (strstr(ti->name, "/gamma") || strstr(ti->name, "/beta"))
                    tu_fill_uniform(m[f].params + ti->offset, ti->count, -1.0f, 1.5f, 70 + (uint64_t)t);
            }
        }
        const char *fused[] = {"bn1", "bn3"}, *apart[] = {"bn2", "bn4", "bn5"};
        for (int i = 0; i < 2; i++) {
            const int b = layer_index(&cfg, fused[i]);
            assert_true(m[0].layers[b].fused_next == b + 1);
            assert_true(m[0].layers[b + 1].fused_away);
            assert_true(m[1].layers[b].fused_next == -1);
        }
        for (int i = 0; i < 3; i++) assert_true(m[0].layers[layer_index(&cfg, apart[i])].fused_next == -1);
        const int c1b = layer_index(&cfg, "c1b"), p1 = layer_index(&cfg, "p1");
        assert_int_equal(m[0].layers[c1b].pool_into, kern->tiles ? p1 : -1);
        assert_int_equal(m[0].layers[p1].fwd_fused, kern->tiles ? 1 : 0);
        assert_true(m[1].layers[c1b].pool_into == -1 && !m[1].layers[p1].fwd_fused);
        assert_true(m[0].arena_floats <= m[1].arena_floats);
        const int n = 6;
        const size_t per = (size_t)m[0].in_h * m[0].in_w * m[0].in_c;
        float *x = malloc(n * per * sizeof(float)), *g[2], logits[2][60], eval[2][60];
        tu_fill_uniform(x, n * per, -1.0f, 1.0f, 15);
        const int y[6] = {1, 2, 3, 4, 5, 6};
        double loss[2];
        for (int f = 0; f < 2; f++) {
            g[f] = malloc(m[f].n_params * sizeof(float));
            memcpy(logits[f], cnn_model_forward(&m[f], x, n, 1, 0, NULL), sizeof logits[f]);
            loss[f] = cnn_model_backward(&m[f], g[f], CNN_GRAD_OVERWRITE, y, n, 1.0f / n, NULL, NULL);
            cnn_model_update_buffers(&m[f], g[f]);
            memcpy(eval[f], cnn_model_forward(&m[f], x, n, 0, 0, NULL), sizeof eval[f]);
        }
        assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
        assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
        assert_memory_equal(g[0], g[1], m[0].n_params * sizeof(float));
        assert_memory_equal(m[0].params, m[1].params, m[0].n_params * sizeof(float));
        assert_memory_equal(eval[0], eval[1], sizeof eval[0]);
        for (int f = 0; f < 2; f++) free(g[f]), cnn_model_free(&m[f]);
        free(x);
    }
}

/* cnn_model_set_epoch: once c1 stops training (train_until_epoch = 2), nothing at or before c3 (frozen)
 * trains, so their backward is skipped and c2 computes no data gradient; c1's and c3's gradients are then
 * zero and every other gradient is bitwise what the full backward gives (before epoch 2, c3 passes
 * gradients on to c1). */
static void test_grads_only_where_trained(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnModel m;
    model_of(&m, &cfg,
             HEAD "[c1]\ntype = conv\nfilters = 8\nsize = 3\npadding = same\ntrain_until_epoch = 2\nstddev = 0.3\n"
                  "[g1]\ntype = act\nactivation = gelu\n"
                  "[c3]\ntype = conv\nfilters = 8\nsize = 3\npadding = same\ntrainable = false\nstddev = 0.3\n"
                  "[c2]\ntype = conv\nfilters = 8\nsize = 3\npadding = same\nstddev = 0.3\n"
                  "[bn2]\ntype = batchnorm\n"
                  "[gp]\ntype = global_avgpool\n"
                  "[fc]\ntype = dense\nunits = 10\nstddev = 0.3\n",
             4, tu_isa_max());
    const int c1 = layer_index(&cfg, "c1"), g1 = layer_index(&cfg, "g1"), c3 = layer_index(&cfg, "c3"),
              c2 = layer_index(&cfg, "c2");
    const size_t per = (size_t)m.in_h * m.in_w * m.in_c, np = m.n_params;
    float *x = malloc(4 * per * sizeof(float)), *g[3];
    tu_fill_uniform(x, 4 * per, -1.0f, 1.0f, 16);
    const int y[4] = {3, 1, 4, 1};
    const double epochs[3] = {-1, 1, 2}; /* -1: no cnn_model_set_epoch call */
    for (int e = 0; e < 3; e++) {
        g[e] = malloc(np * sizeof(float));
        memset(g[e], 0xff, np * sizeof(float)); /* NaNs: whatever is not written shows */
        if (epochs[e] >= 0) cnn_model_set_epoch(&m, epochs[e]);
        cnn_model_forward(&m, x, 4, 1, 0, NULL);
        cnn_model_backward(&m, g[e], CNN_GRAD_OVERWRITE, y, 4, 0.25f, NULL, NULL);
        assert_true(m.layers[c1].grad_live == (e < 2) && m.layers[g1].grad_live == (e < 2) &&
                    m.layers[c3].grad_live == (e < 2) && m.layers[c2].grad_live);
    }
    assert_memory_equal(g[0], g[1], np * sizeof(float));
    /* c1's and c3's (frozen) gradients: computed at epoch 1, zero at 2; all others the same bits */
    unsigned char skipped[4096] = {0};
    assert_true(np <= sizeof skipped);
    for (int i = 0; i < 2; i++) {
        const CnnLayer *L = &m.layers[i == 0 ? c1 : c3];
        double before = 0;
        for (size_t j = L->p_off; j < L->p_off + L->p_count; j++) {
            before += fabs(g[1][j]);
            assert_true(g[2][j] == 0.0f);
            skipped[j] = 1;
        }
        assert_true(L->p_count > 0 && before > 0);
    }
    for (size_t j = 0; j < np; j++)
        if (!skipped[j]) assert_memory_equal(&g[1][j], &g[2][j], sizeof(float));
    for (int e = 0; e < 3; e++) free(g[e]);
    free(x);
    cnn_model_free(&m);
}

/* The arena reuses what is dead: smaller than every output and gradient side by side; the logits of a
 * forward do not change when a backward ran in between (nothing the output needs was overwritten). */
static void test_arena(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnModel m;
    graph_model(&m, &cfg, 4, tu_isa_max());
    double all = 0;
    for (int i = 0; i < m.n_layers; i++) all += 2.0 * 4 * m.layers[i].out_size;
    assert_true((double)m.arena_floats < all);
    const size_t per = (size_t)m.in_h * m.in_w * m.in_c;
    float *x = malloc(4 * per * sizeof(float)), *g = malloc(m.n_params * sizeof(float)), l1[40], l2[40];
    tu_fill_uniform(x, 4 * per, -1.0f, 1.0f, 14);
    const int y[4] = {0, 0, 1, 1};
    memcpy(l1, cnn_model_forward(&m, x, 4, 1, 0, NULL), sizeof l1);
    cnn_model_backward(&m, g, CNN_GRAD_OVERWRITE, y, 4, 0.25f, NULL, NULL);
    memcpy(l2, cnn_model_forward(&m, x, 4, 1, 0, NULL), sizeof l2);
    assert_memory_equal(l1, l2, sizeof l1);
    free(x);
    free(g);
    cnn_model_free(&m);
}

/* train.weight_decay: grad += wd * w on conv and dense weights only (and on top of a layer's wl), never on
 * biases, BatchNorm's gamma and beta or its buffers. */
static void test_weight_decay_targets(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnModel m;
    graph_model(&m, &cfg, 4, tu_isa_max());
    float *g0 = calloc(m.n_params, sizeof(float)), *g1 = calloc(m.n_params, sizeof(float));
    cnn_model_add_weight_decay(&m, g0, 0.0);
    cnn_model_add_weight_decay(&m, g1, 0.125);
    int decayed = 0;
    for (int t = 0; t < m.n_tensors; t++) {
        const CnnTensorInfo *ti = &m.tensors[t];
        const int weights = strstr(ti->name, "/weights") != NULL;
        decayed += weights;
        for (size_t j = 0; j < ti->count; j++) {
            const size_t i = ti->offset + j;
            const float w = m.params[i];
            /* fc has wl = 0.01: with the decay its coefficient is 0.01 + 0.125, rounded to float once */
            const float want0 = ti->wl * w, want1 = weights ? (ti->wl + 0.125f) * w : want0;
            if (g0[i] != want0 || g1[i] != want1)
                fail_msg("%s[%zu]: %g and %g, want %g and %g", ti->name, j, (double)g0[i], (double)g1[i], (double)want0,
                         (double)want1);
        }
    }
    assert_int_equal(decayed, 3); /* c1, c2, fc */
    free(g0);
    free(g1);
    cnn_model_free(&m);
}

/* configs/resnet20.ini is He et al.'s ResNet-20: 20 layers with weights, 269,722 parameters (option A),
 * and the deeper variants by repeat alone. */
static void test_resnet20(void **state)
{
    (void)state;
    static CnnConfig cfg;
    CnnErr err;
    assert_int_equal(cnn_config_load(&cfg, "configs/resnet20.ini", NULL, 0, &err), 0);
    CnnModel m;
    CnnModelOpts o = cnn_model_opts_local(2);
    o.dry_run = 1;
    assert_int_equal(cnn_model_build(&m, &cfg, &o, &err), 0);
    assert_int_equal(m.n_trainable, 269722);
    int weighted = 0;
    for (int i = 0; i < m.n_layers; i++)
        weighted += m.layers[i].spec.type == CNN_LAYER_CONV || m.layers[i].spec.type == CNN_LAYER_DENSE;
    assert_int_equal(weighted, 20);
    assert_string_equal(cfg.warning, "");
    const char *deeper[] = {"stage1.repeat=9", "stage2.repeat=9", "stage3.repeat=9"};
    assert_int_equal(cnn_config_load(&cfg, "configs/resnet20.ini", deeper, 3, &err), 0);
    assert_int_equal(cnn_model_build(&m, &cfg, &o, &err), 0);
    weighted = 0;
    for (int i = 0; i < m.n_layers; i++)
        weighted += m.layers[i].spec.type == CNN_LAYER_CONV || m.layers[i].spec.type == CNN_LAYER_DENSE;
    assert_int_equal(weighted, 56);
    assert_int_equal(m.n_trainable, 853018); /* ResNet-56, option A */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_graphs),
        cmocka_unit_test(test_order_and_hash),
        cmocka_unit_test(test_graph_gradient),
        cmocka_unit_test(test_batchnorm_buffers),
        cmocka_unit_test(test_graph_same_bits_on_avx2_and_avx512),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_fusion),
        cmocka_unit_test(test_grads_only_where_trained),
        cmocka_unit_test(test_weight_decay_targets),
        cmocka_unit_test(test_resnet20),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
