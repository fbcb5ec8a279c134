/* cpu: CPUID levels and the CNN_ISA cap (see the header). */
#include "cnn/cpu.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[CNN_ISA_COUNT] = {"generic", "avx2", "avx512"};
static const char *const descriptions[CNN_ISA_COUNT] = {"SSE4.2 (x86-64-v2)", "AVX2 + FMA", "AVX-512 F/BW/DQ/VL"};

const char *cnn_isa_name(CnnIsa isa) { return (unsigned)isa < CNN_ISA_COUNT ? names[isa] : "?"; }

const char *cnn_isa_describe(CnnIsa isa) { return (unsigned)isa < CNN_ISA_COUNT ? descriptions[isa] : "?"; }

int cnn_isa_parse(const char *s, CnnIsa *isa)
{
    for (int i = 0; i < CNN_ISA_COUNT; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *isa = (CnnIsa)i;
            return 0;
        }
    return -1;
}

CnnIsa cnn_cpu_isa_supported(void)
{
    __builtin_cpu_init();
    /* the sets the kernels are compiled with: -march=x86-64-v4 and -march=x86-64-v3 */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2"))
        return CNN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
        return CNN_ISA_AVX2;
    return CNN_ISA_GENERIC;
}

int cnn_cpu_isa(CnnIsa *isa, int *capped, CnnErr *err)
{
    CnnIsa have = cnn_cpu_isa_supported(), cap = have;
    const char *env = getenv("CNN_ISA");
    if (capped) *capped = 0;
    if (env && *env) {
        if (cnn_isa_parse(env, &cap))
            return cnn_err(err, "CNN_ISA=%s: expected generic, avx2 or avx512 (the highest instruction set the "
                                "kernels may use)", env);
        if (cap < have && capped) *capped = 1;
    }
    *isa = cap < have ? cap : have;
    return 0;
}
