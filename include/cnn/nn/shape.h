/* shape: the geometry of the windowed layers (convolution, max and average pooling) in one place,
 * TensorFlow's SAME/VALID rule: SAME gives out = ceil(in / stride) with the padding split so the extra
 * pixel is at the bottom/right; VALID gives out = ceil((in - k + 1) / stride), no padding. Pure
 * arithmetic on sizes: no allocation, no buffers. */
#ifndef CNN_NN_SHAPE_H
#define CNN_NN_SHAPE_H

/* Output size and leading padding of one spatial dimension (in, k, stride > 0; same: 1 = SAME). */
void cnn_same_valid(int in, int k, int stride, int same, int *out, int *pad_before);

/* ---- convolution ---- */
typedef struct {
    int n, h, w, cin;       /* input  [n][h][w][cin] */
    int oh, ow, cout;       /* output [n][oh][ow][cout] */
    int kh, kw, stride;
    int pad_top, pad_left;
    int needs_din;          /* 0: backward is never asked for din (first layer), so no room is kept for it */
} CnnConvShape;

/* A square k x k kernel; needs_din starts at 1 (the caller clears it for the first layer). */
void cnn_conv_shape(CnnConvShape *s, int n, int h, int w, int cin, int cout, int k, int stride, int same);

/* ---- pooling: a size x size window per channel ---- */
typedef struct {
    int n, h, w, c, oh, ow, size, stride, pad_top, pad_left;
} CnnPoolShape;

void cnn_pool_shape(CnnPoolShape *s, int n, int h, int w, int c, int size, int stride, int same);

#endif
