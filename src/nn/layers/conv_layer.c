/* conv_layer: the convolution layer in a model: its shape and plan at build (plan.h), then
 * conv(in, w) + b and its activation forward, and the activation's and the convolution's gradients
 * backward. The convolution itself is in src/nn/conv.c. */
#include "layer_ops.h"

#include "cnn/config_keys.h"

#include "cnn/nn/plan.h"
#include "cnn/nn/whiten.h"

static int conv_build(CnnLayer *L, const CnnConfig *cfg, const CnnModelOpts *o, CnnErr *err)
{
    const CnnLayerSpec *s = &L->spec;
    if (s->act == CNN_ACT_GELU) /* its backward needs the input, which this fused form does not keep */
        return cnn_layer_err(err, cfg, s, "activation = gelu needs a layer of its own: type = act, activation = gelu");
    L->keep_output = s->act != CNN_ACT_LINEAR;
    const int h = L->ih, w = L->iw, c = L->ic;
    if (s->init == CNN_INIT_WHITEN &&
        (s->n_in != 1 || s->in[0] != -1 || s->stride != 1 || s->same || s->filters != 2 * s->size * s->size * c ||
         s->size * s->size * c > CNN_WHITEN_MAX_DIM))
        return cnn_layer_err(err, cfg, s,
                             "init = whiten needs a conv on the image itself (input = input, or the first layer), "
                             "stride 1, padding = valid and filters = 2 x size x size x channels (each whitening "
                             "direction and its negative)");
    if (h < 1 || w < 1) return cnn_layer_err(err, cfg, s, "input is empty");
    if (!s->same && (s->size > h || s->size > w))
        return cnn_layer_err(err, cfg, s, "VALID kernel is larger than its input");
    if ((double)s->size * s->size * c * s->filters > 0x1p40)
        return cnn_layer_err(err, cfg, s, "has more than 2^40 weights (filters or the layer before too large)");
    CnnConvShape cs;
    cnn_conv_shape(&cs, o->max_batch, h, w, c, s->filters, s->size, s->stride, s->same);
    cs.needs_din = L->needs_din;
    CnnErr perr;
    if (cnn_conv_plan(&L->conv, &cs, cfg->conv, o->isa, o->threads, &perr))
        return cnn_err(err, "%s: %s", cfg->conv_where[0] ? cfg->conv_where : cfg->path, perr.msg);
    L->oh = cs.oh;
    L->ow = cs.ow;
    L->oc = s->filters;
    const int dims[4] = {s->size, s->size, c, s->filters}; /* HWIO */
    cnn_layer_declare_weights(L, 4, dims, s->size * s->size * c, s->filters);
    const double macs = (double)cs.oh * cs.ow * s->filters * s->size * s->size * c;
    L->flops_fwd = 2.0 * macs;
    L->flops_bwd = 2.0 * macs * (L->needs_din ? 2.0 : 1.0);
    L->ws_floats = L->conv.ws_floats;
    return 0;
}

static void conv_forward(CnnLayer *L, const CnnLayerFwd *f)
{
    if (f->pool_out) { /* the model fused the max-pool after it (linear activation, model.c) */
        cnn_conv_forward_pool(f->pool_out, f->pool_argmax, L->ws, f->in, f->t[0], L->spec.use_bias ? f->t[1] : NULL,
                              &L->conv, f->n);
        L->input_ready = 0;
        return;
    }
    cnn_conv_forward(L->out, L->ws, f->in, f->t[0], L->spec.use_bias ? f->t[1] : NULL, &L->conv, f->n);
    L->input_ready = cnn_conv_keeps_input(&L->conv, f->n);
    f->k->act_forward(L->out, L->out, (size_t)f->n * L->out_size, L->spec.act);
}

static void conv_backward(CnnLayer *L, const CnnLayerBwd *b)
{
    b->k->act_backward(b->dout, b->dout, L->out, (size_t)b->n * L->out_size, L->spec.act);
    cnn_conv_backward(b->din, b->g[0], L->spec.use_bias ? b->g[1] : NULL, L->ws, b->dout, b->in, b->t[0], &L->conv,
                      b->n, L->input_ready, b->mode);
    L->input_ready = 0;
}

static void conv_kernel_name(const CnnLayer *L, char *buf, size_t n) { cnn_conv_plan_name(&L->conv, buf, n); }

static void conv_plan_time(const CnnLayer *L, int n, double peak, CnnPlanTime *t)
{
    cnn_conv_plan_time(&L->conv, n, peak, t);
}

static int conv_uses_sgemm(const CnnLayer *L)
{
    return L->conv.fwd == CNN_ALGO_SGEMM || L->conv.wgrad == CNN_ALGO_SGEMM;
}

static const CnnLayerOps cnn_conv_layer_ops = {
    .bwd_needs_input = 1,
    .bwd_needs_output = 1, /* the activation's backward (not for linear: build says) */
    .build = conv_build,
    .forward = conv_forward,
    .backward = conv_backward,
    .kernel_name = conv_kernel_name,
    .uses_sgemm = conv_uses_sgemm,
    .plan_time = conv_plan_time,
};

static const KeySpec conv_keys[] = {
    CNN_K_NUM(CNN_KEY_NETWORK, "filters", K_INT, CNN_K_LAY(filters), 1, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "size", K_INT, CNN_K_LAY(size), 1, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "stride", K_INT, CNN_K_LAY(stride), 1, CNN_K_INF, 0, 0),
    CNN_K_ENUM(CNN_KEY_NETWORK, "padding", CNN_K_LAY(same), cnn_config_padding_names),
    CNN_K_WEIGHT_KEYS,
    CNN_K_INPUT,
    CNN_K_USE_BIAS,
    CNN_K_TRAINING_KEYS,
    CNN_K_NUM(CNN_KEY_NETWORK, "whiten_images", K_INT, CNN_K_LAY(whiten_images), 1, CNN_K_INF, 0, 0),
    CNN_K_NUM(CNN_KEY_NETWORK, "whiten_epsilon", K_FLOAT, CNN_K_LAY(whiten_epsilon), 0, CNN_K_INF, 0, 0),
};

const CnnLayerTypeDesc cnn_conv_layer = {
    "conv", {conv_keys, CNN_K_COUNT(conv_keys), {"filters", "size"}, CNN_K_COUNT(conv_keys) - 7 /* from input on */, NULL, 1, 1},
    &cnn_conv_layer_ops};
