/* optim (compiled per instruction set, see simd.h): the element loops of the optimizers over the flat
 * parameter block (about 1M floats for the CIFAR-10 network), plain float arithmetic that the compiler
 * vectorises; optim.c in src/nn computes the per-step scalars. */
#include "simd.h"

#include <math.h>

/* m, v, p: [n]. */
void KFN(adam_update)(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, size_t n,
                      float b1, float b2, float lr_t, float eps)
{
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float mi = b1 * m[i] + c1 * g[i];
        float vi = b2 * v[i] + c2 * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t * mi / (sqrtf(vi) + eps);
    }
}

/* a, p: [n]. */
void KFN(momentum_update)(float *restrict p, float *restrict a, const float *restrict g, size_t n, float mom,
                          float lr)
{
    for (size_t i = 0; i < n; i++) {
        float ai = mom * a[i] + g[i];
        a[i] = ai;
        p[i] -= lr * ai;
    }
}

/* a, p: [n]. Nesterov momentum in the form PyTorch's SGD(nesterov=True) and TensorFlow's
 * MomentumOptimizer(use_nesterov=True) share: the step looks ahead along the new accumulator. */
void KFN(nesterov_update)(float *restrict p, float *restrict a, const float *restrict g, size_t n, float mom,
                          float lr)
{
    for (size_t i = 0; i < n; i++) {
        float ai = mom * a[i] + g[i];
        a[i] = ai;
        p[i] -= lr * (g[i] + mom * ai);
    }
}
