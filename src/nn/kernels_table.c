/* kernels_table: cnn_kernels(isa), the tables that the compiles of src/nn/kernels/ define. */
#include "cnn/nn/kernels.h"

#include "cnn/util.h"

extern const CnnKernels cnn_kernels_generic, cnn_kernels_avx2, cnn_kernels_avx512;

const CnnKernels *cnn_kernels(CnnIsa isa)
{
    switch (isa) {
    case CNN_ISA_GENERIC: return &cnn_kernels_generic;
    case CNN_ISA_AVX2: return &cnn_kernels_avx2;
    case CNN_ISA_AVX512: return &cnn_kernels_avx512;
    }
    CNN_DIE("unknown instruction set %d", (int)isa);
}
