/* eltwise (compiled per instruction set, see simd.h): plain element-wise arithmetic on flat arrays, for
 * residual additions and scalings. One IEEE operation per element: the same bits on every vector width. */
#include "simd.h"

void KFN(add)(float *y, const float *a, const float *b, size_t count)
{
    for (size_t i = 0; i < count; i++) y[i] = a[i] + b[i];
}

void KFN(scale)(float *y, const float *x, float s, size_t count)
{
    for (size_t i = 0; i < count; i++) y[i] = s * x[i];
}
