/* cpu: which instruction sets the processor (and the operating system) support, and the CNN_ISA cap.
 *
 * The program is built once for a baseline x86-64 (x86-64-v2: SSE4.2), and its kernels once more for
 * AVX2 + FMA and once for AVX-512 (src/nn/kernels/, Makefile). At start the best level this CPU runs is
 * read with CPUID (GCC's __builtin_cpu_supports, which also checks that the OS saves the vector
 * registers); the environment variable CNN_ISA=generic|avx2|avx512 lowers it (tests, or a job that must
 * run what its slowest node runs). Under MPI the ranks then agree on the lowest level of them all
 * (src/train/setup.c), so every rank runs the same kernels. */
#ifndef CNN_CPU_H
#define CNN_CPU_H

#include "cnn/util.h"

/* Ordered: a higher level can run everything a lower one can. */
typedef enum { CNN_ISA_GENERIC = 0, CNN_ISA_AVX2 = 1, CNN_ISA_AVX512 = 2 } CnnIsa;
#define CNN_ISA_COUNT 3

/* "generic", "avx2", "avx512" */
const char *cnn_isa_name(CnnIsa isa);
/* What the level means, for messages: "SSE4.2 (x86-64-v2)", "AVX2 + FMA", "AVX-512 F/BW/DQ/VL". */
const char *cnn_isa_describe(CnnIsa isa);
/* Parses a name as above; returns 0, or -1 if s is none of them. */
int cnn_isa_parse(const char *s, CnnIsa *isa);
/* The best level this CPU supports (CPUID), ignoring CNN_ISA. */
CnnIsa cnn_cpu_isa_supported(void);
/* The level to use: the CPU's, lowered by CNN_ISA if that is set. A CNN_ISA that is not one of the
 * names is an error (message in err). *capped (may be NULL) is set to 1 when CNN_ISA lowered it. */
int cnn_cpu_isa(CnnIsa *isa, int *capped, CnnErr *err);

#endif
