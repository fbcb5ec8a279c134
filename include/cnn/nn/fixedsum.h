/* fixedsum: an exact, order-independent sum of float arrays, for gradients that must come out
 * bitwise the same however the global batch was split over ranks.
 *
 * Floating-point addition is not associative, so the sum of micro-shard gradients depends on who adds
 * what in which order. Integers are: each tensor t gets a power-of-two scale 2^s_t chosen from the
 * largest magnitude in it over ALL micro-shards (a max, which is exact and order-free), every value is
 * rounded once to the integer nearest v * 2^s_t, and the integers are summed (locally, then with
 * MPI_SUM over int64), then scaled back. With s_t = 50 - headroom - e_t (|v| < 2^e_t, headroom =
 * ceil(log2(number of micro-shards))), every term and every partial sum stays below 2^51, so the
 * conversions can use the exact double "magic number" trick that vectorises, and the largest values keep
 * 50 - headroom bits (float has 24). The loops run on the instruction set's kernels (k), which give the
 * same integers on every set. */
#ifndef CNN_FIXEDSUM_H
#define CNN_FIXEDSUM_H

#include <stddef.h>
#include <stdint.h>

#include "cnn/nn/kernels.h"
#include "cnn/nn/model.h"

/* Exponent sentinel for an all-zero tensor, and the flag value for a NaN/Inf. */
#define CNN_FIXED_EXP_ZERO (-1000)
#define CNN_FIXED_EXP_NONFINITE 100000

/* exps[t] = max(exps[t], e) where |g| < 2^e over tensor t of g; a NaN or Inf sets
 * CNN_FIXED_EXP_NONFINITE. Initialise exps to CNN_FIXED_EXP_ZERO. */
void cnn_fixed_update_exponents(int *exps, const float *g, const CnnTensorInfo *t, int nt);
/* Bits that n_terms terms need above the largest one. */
int cnn_fixed_headroom(long n_terms);
/* acc += round(g * 2^s_t) per tensor. */
void cnn_fixed_accumulate(const CnnKernels *k, int64_t *acc, const float *g, const CnnTensorInfo *t, int nt,
                          const int *exps, int headroom);
/* One fused pass over tensors [t0, t1) for when the exponents are bounds known in advance (the last
 * step's, plus a margin): acc += round(g * 2^s_t) with s_t from bound[t], seen[t] = max(seen[t], the
 * exponent of g) as cnn_fixed_update_exponents; first = 1: acc = round(...) instead (the first term, so
 * acc need not be zeroed). Returns 1 if some |g| >= 2^bound[t] (then acc for that tensor is unusable and
 * the caller must redo the sum with exact exponents), else 0. */
int cnn_fixed_accumulate_bounded(const CnnKernels *k, int64_t *acc, int *seen, const float *g, const CnnTensorInfo *t,
                                 int t0, int t1, const int *bound, int headroom, int first);
/* g = acc * 2^-s_t (rounded to float). */
void cnn_fixed_to_float(const CnnKernels *k, float *g, const int64_t *acc, const CnnTensorInfo *t, int nt,
                        const int *exps, int headroom);

#endif
