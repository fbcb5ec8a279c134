/* peak: the FMA probe that --summary measures this core's peak with (plan.h's time model scales to it):
 * PEAK_CHAINS independent chains of fused multiply-adds on whole vectors, nothing loaded or stored, so
 * the loop runs at the FMA units' throughput. Tiled instruction sets only (the generic one has no FMA). */
#include "tiles.h"

#if HAS_TILES

/* enough chains to cover the FMA latency (4 cycles) on two units, with room */
#define PEAK_CHAINS 12

float KFN(fma_probe)(long iters, float x)
{
    vf acc[PEAK_CHAINS];
    const vf a = vset1(x), b = vset1(1.0f - x);
    for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = vset1((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < PEAK_CHAINS; c++) acc[c] = vfma(acc[c], a, b);
    vf s = acc[0];
    for (int c = 1; c < PEAK_CHAINS; c++) s = s + acc[c];
    float lanes[VL];
    vstore(lanes, s);
    return lanes[0];
}

int KFN(fma_probe_flops)(void) { return 2 * VL * PEAK_CHAINS; }

#endif
