/* shape: TensorFlow's SAME/VALID rule and the convolution and pooling shapes built on it (see the
 * header). */
#include "cnn/nn/shape.h"

#include <string.h>

#include "cnn/util.h"

void cnn_same_valid(int in, int k, int stride, int same, int *out, int *pad_before)
{
    CNN_ASSERT(in > 0 && k > 0 && stride > 0);
    if (same) {
        int o = (in + stride - 1) / stride;
        int total = (o - 1) * stride + k - in;
        if (total < 0) total = 0;
        *out = o;
        *pad_before = total / 2;
    } else {
        *out = in >= k ? (in - k) / stride + 1 : 0;
        *pad_before = 0;
    }
}

void cnn_conv_shape(CnnConvShape *s, int n, int h, int w, int cin, int cout, int k, int stride, int same)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->h = h;
    s->w = w;
    s->cin = cin;
    s->cout = cout;
    s->kh = s->kw = k;
    s->stride = stride;
    cnn_same_valid(h, k, stride, same, &s->oh, &s->pad_top);
    cnn_same_valid(w, k, stride, same, &s->ow, &s->pad_left);
    s->needs_din = 1;
}

void cnn_pool_shape(CnnPoolShape *s, int n, int h, int w, int c, int size, int stride, int same)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->h = h;
    s->w = w;
    s->c = c;
    s->size = size;
    s->stride = stride;
    cnn_same_valid(h, size, stride, same, &s->oh, &s->pad_top);
    cnn_same_valid(w, size, stride, same, &s->ow, &s->pad_left);
}
