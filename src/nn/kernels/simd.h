/* simd: the vector type of the instruction set this source is being compiled for.
 *
 * Every file in src/nn/kernels/ includes this and is compiled once per instruction set (Makefile:
 * KERNEL_ISAS) with CNN_KERNEL_ISA = 0 (generic, -march=x86-64-v2), 1 (avx2, x86-64-v3) or
 * 2 (avx512, x86-64-v4). KFN(name) gives each compile's functions their own names (name_generic,
 * name_avx2, name_avx512); table.c collects them into that set's CnnKernels. vf is the widest float
 * vector of the set (VL lanes: 4, 8, 16), with its arithmetic written as plain operators; whatever the
 * width, each lane runs the same IEEE operations as scalar code would (no reassociation, and no
 * contraction into FMA under -std=c11; sqrt and division are correctly rounded), so code written on vf
 * gives the same bits on every set. Only the register tiles (HAS_TILES) use FMA (vfma). */
#ifndef CNN_KERNELS_SIMD_H
#define CNN_KERNELS_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "cnn/nn/kernels.h"

#ifndef CNN_KERNEL_ISA
#error "src/nn/kernels/ files are compiled once per instruction set with -DCNN_KERNEL_ISA=0|1|2 (see Makefile)"
#endif

#if CNN_KERNEL_ISA == 2
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || !defined(__AVX512VL__) ||            \
    !defined(__FMA__)
#error "the avx512 kernels need -march=x86-64-v4"
#endif
#define KFN(f) f##_avx512
#define KISA CNN_ISA_AVX512
#define VL 16
#define HAS_TILES 1
typedef __m512 vf;
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vbcast(const float *p) { return _mm512_set1_ps(*p); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
/* the first n < VL lanes (the rest zero on load, untouched on store) */
static inline vf vload_n(const float *p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
static inline void vstore_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v); }

#elif CNN_KERNEL_ISA == 1
#if !defined(__AVX2__) || !defined(__FMA__)
#error "the avx2 kernels need -march=x86-64-v3"
#endif
#define KFN(f) f##_avx2
#define KISA CNN_ISA_AVX2
#define VL 8
#define HAS_TILES 1
typedef __m256 vf;
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vbcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline __m256i lanes_below(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vload_n(const float *p, int n) { return _mm256_maskload_ps(p, lanes_below(n)); }
static inline void vstore_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, lanes_below(n), v); }

#elif CNN_KERNEL_ISA == 0
#define KFN(f) f##_generic
#define KISA CNN_ISA_GENERIC
#define VL 4
#define HAS_TILES 0 /* no FMA at this level: the tiles' sums would round differently (see kernels.h) */
typedef __m128 vf;
static inline vf vload(const float *p) { return _mm_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm_set1_ps(x); }
static inline vf vzero(void) { return _mm_setzero_ps(); }
static inline vf vsqrt(vf a) { return _mm_sqrt_ps(a); }

#else
#error "CNN_KERNEL_ISA must be 0, 1 or 2"
#endif

/* Lanes of int32 as wide as vf (channel offsets, and compare masks: all bits set where true). */
typedef int32_t vi32 __attribute__((vector_size(sizeof(vf))));
typedef int32_t vi32_unaligned __attribute__((vector_size(sizeof(vf)), aligned(4)));

static inline vi32 lane_index(void)
{
    vi32 r;
    for (int l = 0; l < VL; l++) r[l] = l;
    return r;
}

/* Max pooling's rule, one candidate at a time: v and its offsets at take over the running maximum and
 * its argmax where v is strictly greater (a NaN never takes over; one already there stays). Selected
 * with masks: a branch or a masked store per element is slower. */
static inline void max_take(vf *best, vi32 *arg, vf v, vi32 at)
{
    const vi32 gt = v > *best;
    *best = (vf)(((vi32)*best & ~gt) | ((vi32)v & gt));
    *arg = (*arg & ~gt) | (at & gt);
}

/* Every entry point of this folder, under this compile's names (table.c collects them). */
#define DECLARE(ret, name, args) ret KFN(name) args;
DECLARE(void, lrn_forward, (float *, float *, const float *, size_t, int, int, float, float, float))
DECLARE(void, lrn_backward, (float *, const float *, const float *, const float *, size_t, int, int, float, float))
DECLARE(void, maxpool_forward, (float *, int32_t *, const float *, const CnnPoolShape *))
DECLARE(void, maxpool_backward, (float *, const float *, const int32_t *, const CnnPoolShape *))
DECLARE(void, avgpool_forward, (float *, const float *, const CnnPoolShape *))
DECLARE(void, avgpool_backward, (float *, const float *, const CnnPoolShape *))
DECLARE(void, act_forward, (float *, const float *, size_t, CnnActivation))
DECLARE(void, act_backward, (float *, const float *, const float *, size_t, CnnActivation))
DECLARE(void, bn_stats, (float *, float *, const float *, size_t, int))
DECLARE(void, bn_forward, (float *, const float *, const float *, const float *, const float *, const float *, size_t,
                           int))
DECLARE(void, bn_backward, (float *, float *, float *, const float *, const float *, const float *, const float *,
                            const float *, size_t, int, int))
DECLARE(void, bn_forward_act, (float *, const float *, const float *, const float *, const float *, const float *,
                               size_t, int, CnnActivation))
DECLARE(void, bn_backward_act, (float *, float *, float *, float *, const float *, const float *, const float *,
                                const float *, const float *, size_t, int, int, CnnActivation))
DECLARE(void, bn_backward_fixed, (float *, const float *, const float *, const float *, size_t, int))
DECLARE(void, gelu_backward, (float *, const float *, const float *, size_t))
DECLARE(void, add, (float *, const float *, const float *, size_t))
DECLARE(void, scale, (float *, const float *, float, size_t))
DECLARE(void, global_avgpool_forward, (float *, const float *, int, int, int))
DECLARE(void, global_avgpool_backward, (float *, const float *, int, int, int))
DECLARE(void, global_maxpool_forward, (float *, int32_t *, const float *, int, int, int))
DECLARE(void, global_maxpool_backward, (float *, const float *, const int32_t *, int, int, int))
DECLARE(void, adam_update, (float *, float *, float *, const float *, size_t, float, float, float, float))
DECLARE(void, momentum_update, (float *, float *, const float *, size_t, float, float))
DECLARE(void, nesterov_update, (float *, float *, const float *, size_t, float, float))
DECLARE(void, fixed_accumulate, (int64_t *, const float *, size_t, double))
DECLARE(uint32_t, fixed_accumulate_max, (int64_t *, const float *, size_t, double, int))
DECLARE(void, fixed_to_float, (float *, const int64_t *, size_t, double))
#if HAS_TILES
DECLARE(void, direct_forward, (float *, const float *, const float *, const float *, const CnnConvdGeom *, int))
DECLARE(void, direct_weight_grad, (float *, const float *, const float *, const CnnConvdGeom *, int, int))
DECLARE(void, winograd_weights, (float *, const float *, int, int, int, int, int))
DECLARE(void, winograd_forward, (float *, const float *, const float *, const float *, const CnnConvdGeom *, float *,
                                 int, int))
DECLARE(void, winograd_forward_pool, (float *, int32_t *, const float *, const float *, const float *,
                                      const CnnConvdGeom *, float *, int, int))
DECLARE(void, winograd_weight_grad, (float *, const float *, const float *, const CnnConvdGeom *, float *, float *,
                                     int, int, int))
DECLARE(void, dense_forward, (float *, const float *, const float *, size_t, const float *, int, int, int))
DECLARE(void, dense_weight_grad, (float *, const float *, const float *, size_t, int, int, int, int))
DECLARE(void, dense_data_grad_t, (float *, const float *, const float *, int, int, int))
DECLARE(float, fma_probe, (long, float))
DECLARE(int, fma_probe_flops, (void))
#endif

#endif
