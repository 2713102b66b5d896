// CPU kernels of the vLLM SiLU-and-mul (-> FP8 quant) family (runtime/cpu/silu_mul_quant.cpp): the mutating _C ops
// that auto_functionalized nodes run and the functional AITER op of runtime/ops/silu_mul_quant.cpp.
#pragma once

#include <span>

#include "runtime/cpu/rms_norm_quant.h"

namespace fxopt::rt::cpu {

// _C.silu_and_mul, _C.silu_and_mul_quant and _C.silu_and_mul_per_block_quant (CPU only: MutatingOp::gpu is false);
// find_mutating_op and all_mutating_ops include them.
std::span<const MutatingOp> silu_mul_mutating_ops();

// vllm.rocm_aiter_act_mul_and_fp8_group_quant(Tensor x, int group_size) -> (q (..., D) fp8, scale (..., D/G)
// float32), D = x.shape[-1] / 2; the fp8 format is the node's meta's (the platform's), else float8_e4m3fn.
Value aiter_act_mul_fp8_group_quant(const Node& node, const Tensor& x, int64_t group_size);
// Its result as meta tensors (x may be one), with the kernel's argument checks.
Value aiter_act_mul_fp8_group_quant_meta(const Node& node, const Tensor& x, int64_t group_size);

}  // namespace fxopt::rt::cpu
