/* act (compiled per instruction set, see simd.h): element-wise activations (relu, tanh, sigmoid, linear,
 * gelu). Backward is written in terms of the forward output y, so the input need not be kept and forward can
 * run in place; GELU is the exception (its derivative is not a function of y): gelu_backward takes x. */
#include "simd.h"
#include "gelu.h"

#include <math.h>
#include <string.h>

#include "cnn/util.h"

void KFN(act_forward)(float *y, const float *x, size_t count, CnnActivation act)
{
    switch (act) {
    case CNN_ACT_LINEAR:
        if (y != x) memmove(y, x, count * sizeof *y);
        break;
    case CNN_ACT_RELU:
        for (size_t i = 0; i < count; i++) {
            const float v = x[i]; /* a temporary, so GCC blends and stores every element */
            y[i] = relu_value(v);
        }
        break;
    case CNN_ACT_TANH:
        for (size_t i = 0; i < count; i++) y[i] = tanhf(x[i]);
        break;
    case CNN_ACT_SIGMOID:
        for (size_t i = 0; i < count; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case CNN_ACT_GELU:
        for (size_t i = 0; i < count; i++) y[i] = gelu_value(x[i]);
        break;
    default:
        CNN_DIE("unknown activation %d", (int)act);
    }
}

void KFN(act_backward)(float *dx, const float *dy, const float *y, size_t count, CnnActivation act)
{
    switch (act) {
    case CNN_ACT_LINEAR:
        if (dx != dy) memmove(dx, dy, count * sizeof *dx);
        break;
    case CNN_ACT_RELU:
        for (size_t i = 0; i < count; i++) dx[i] = relu_grad(dy[i], y[i]);
        break;
    case CNN_ACT_TANH:
        for (size_t i = 0; i < count; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CNN_ACT_SIGMOID:
        for (size_t i = 0; i < count; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case CNN_ACT_GELU:
        CNN_DIE("act_backward cannot do gelu: its derivative needs the input x, not y; call gelu_backward");
    default:
        CNN_DIE("unknown activation %d", (int)act);
    }
}

void KFN(gelu_backward)(float *dx, const float *dy, const float *x, size_t count)
{
    for (size_t i = 0; i < count; i++) dx[i] = dy[i] * gelu_slope(x[i]);
}
