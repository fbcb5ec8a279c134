/* table: this instruction set's CnnKernels (kernels.h), one per compile of this folder. */
#include "tiles.h"

#if HAS_TILES
#define TILED(name) KFN(name)
#else
#define TILED(name) NULL
#endif

const CnnKernels KFN(cnn_kernels) = {
    .isa = KISA,
    .lanes = VL,
    .tiles = HAS_TILES,
    .lrn_forward = KFN(lrn_forward),
    .lrn_backward = KFN(lrn_backward),
    .maxpool_forward = KFN(maxpool_forward),
    .maxpool_backward = KFN(maxpool_backward),
    .avgpool_forward = KFN(avgpool_forward),
    .avgpool_backward = KFN(avgpool_backward),
    .act_forward = KFN(act_forward),
    .act_backward = KFN(act_backward),
    .bn_stats = KFN(bn_stats),
    .bn_forward = KFN(bn_forward),
    .bn_backward = KFN(bn_backward),
    .bn_backward_fixed = KFN(bn_backward_fixed),
    .bn_forward_act = KFN(bn_forward_act),
    .bn_backward_act = KFN(bn_backward_act),
    .gelu_backward = KFN(gelu_backward),
    .add = KFN(add),
    .scale = KFN(scale),
    .global_avgpool_forward = KFN(global_avgpool_forward),
    .global_avgpool_backward = KFN(global_avgpool_backward),
    .global_maxpool_forward = KFN(global_maxpool_forward),
    .global_maxpool_backward = KFN(global_maxpool_backward),
    .adam_update = KFN(adam_update),
    .momentum_update = KFN(momentum_update),
    .nesterov_update = KFN(nesterov_update),
    .fixed_accumulate = KFN(fixed_accumulate),
    .fixed_accumulate_max = KFN(fixed_accumulate_max),
    .fixed_to_float = KFN(fixed_to_float),
    .panel_width = TILED(panel_width),
    .direct_forward = TILED(direct_forward),
    .direct_weight_grad = TILED(direct_weight_grad),
    .winograd_weights = TILED(winograd_weights),
    .winograd_forward = TILED(winograd_forward),
    .winograd_forward_pool = TILED(winograd_forward_pool),
    .winograd_weight_grad = TILED(winograd_weight_grad),
    .dense_forward = TILED(dense_forward),
    .dense_weight_grad = TILED(dense_weight_grad),
    .dense_data_grad_t = TILED(dense_data_grad_t),
    .fma_probe = TILED(fma_probe),
    .fma_probe_flops = TILED(fma_probe_flops),
};
