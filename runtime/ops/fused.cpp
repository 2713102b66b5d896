// Op rows of the fused ops the rewrite patterns emit (vLLM's ROCm/AITER names; schemas as in
// python/fxopt/ops.py). Meta rules and CPU compute: runtime/cpu/fused.cpp; GPU: runtime/hip/rms*.
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

constexpr DTypeSet kFusedGpu{DType::BF16, DType::F32, DType::F8E4M3FN, DType::F8E4M3FNUZ};

const OpRow kRows[] = {
    {.target = "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default",
     .schema = "rocm_aiter_fused_rms_gated_fp8_group_quant(Tensor x, Tensor weight, Tensor? bias, Tensor z, float eps, "
               "bool norm_before_gate, str activation, int group_size) -> (Tensor, Tensor)",
     .meta = cpu::meta_fused_rms_gated, .cpu = cpu::fused_rms_gated, .gpu = FXOPT_GPU(fused_rms_gated),
     .gpu_dtypes = kFusedGpu},
    {.target = "vllm.rocm_aiter_group_fp8_quant.default",
     .schema = "rocm_aiter_group_fp8_quant(Tensor x, int group_size) -> (Tensor, Tensor)",
     .meta = cpu::meta_group_quant, .cpu = cpu::group_quant, .gpu = FXOPT_GPU(group_quant), .gpu_dtypes = kFusedGpu},
    {.target = "vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default",
     .schema = "rocm_aiter_rmsnorm_fused_dynamic_quant(Tensor x, Tensor weight, float epsilon, ScalarType quant_dtype) -> (Tensor, Tensor)",
     .meta = cpu::meta_rmsnorm_dynamic_quant, .cpu = cpu::rmsnorm_dynamic_quant, .gpu = FXOPT_GPU(rmsnorm_quant),
     .gpu_dtypes = kFusedGpu},
};

}  // namespace

std::span<const OpRow> op_rows_fused() { return kRows; }

}  // namespace fxopt::rt::ops
