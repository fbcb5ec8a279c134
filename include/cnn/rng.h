/* rng: a counter-based generator (Philox4x32-10 from Debian's Random123). Every value is a pure
 * function of (seed, stream, counter): there is no hidden state to carry between steps, ranks or
 * restarts. A CnnRng is a cursor over one stream; two cursors with the same (seed, stream) yield the
 * same sequence.
 *
 * Streams in use (the domain tag keeps them apart):
 *   CNN_RNG_INIT     (layer index, 0)           parameter initialisation
 *   CNN_RNG_EPOCH    (epoch, 0)                 an epoch's permutation
 *   CNN_RNG_AUGMENT  (epoch, sample index)      a sample's augmentation
 *   CNN_RNG_DROPOUT  (step, global position)    a sample's dropout mask in one step, per layer tag */
#ifndef CNN_RNG_H
#define CNN_RNG_H

#include <stdint.h>

enum { CNN_RNG_INIT = 1, CNN_RNG_EPOCH = 2, CNN_RNG_AUGMENT = 3, CNN_RNG_DROPOUT = 4, CNN_RNG_TEST = 99 };

typedef struct {
    uint32_t key[2];     /* from seed */
    uint32_t ctr[4];     /* ctr[0] counts blocks; ctr[1] domain; ctr[2..3] the stream id */
    uint32_t out[4];     /* current block */
    int used;            /* words of out[] consumed; 4 = need a new block */
} CnnRng;

/* Cursor at the start of stream (domain, a, b) under seed. */
void cnn_rng_init(CnnRng *r, uint64_t seed, uint32_t domain, uint64_t a, uint64_t b);
uint32_t cnn_rng_u32(CnnRng *r);
/* Uniform in [0, 1), 24 random bits. */
float cnn_rng_uniform(CnnRng *r);
/* Uniform in [lo, hi). */
float cnn_rng_range(CnnRng *r, float lo, float hi);
/* Unbiased integer in [0, n), n > 0. */
uint32_t cnn_rng_below(CnnRng *r, uint32_t n);
/* Standard normal (Box-Muller in double, deterministic). */
float cnn_rng_normal(CnnRng *r);
/* Normal(0, stddev) re-drawn while |x| > 2 stddev (TensorFlow's truncated_normal). */
float cnn_rng_truncated_normal(CnnRng *r, float stddev);

#endif
