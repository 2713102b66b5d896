// CPU kernels of the vLLM QK-norm + RoPE family (runtime/cpu/qk_norm_rope.cpp): the mutating _C ops
// _C.rotary_embedding and _C.fused_qk_norm_rope that auto_functionalized nodes run.
#pragma once

#include <span>

#include "runtime/cpu/rms_norm_quant.h"

namespace fxopt::rt::cpu {

// _C.rotary_embedding and _C.fused_qk_norm_rope (CPU only: MutatingOp::gpu is false); find_mutating_op and
// all_mutating_ops include them.
std::span<const MutatingOp> qk_norm_rope_mutating_ops();

}  // namespace fxopt::rt::cpu
