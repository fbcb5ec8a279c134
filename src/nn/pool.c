/* pool: the output shape of a pooling layer (TensorFlow's SAME/VALID rule, as cnn_same_valid); the
 * pooling itself is in src/nn/kernels/pool.c, compiled once per instruction set. */
#include "cnn/nn/layers.h"

#include <string.h>

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
