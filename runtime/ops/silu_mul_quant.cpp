// Op rows of the vLLM SiLU-and-mul (-> FP8 quant) family's functional op, the AITER act-mul group quant (compute:
// runtime/cpu/silu_mul_quant.cpp, CPU only); the mutating _C ops run through the auto_functionalized rows of
// runtime/ops/rms_norm_quant.cpp.
#include "runtime/cpu/silu_mul_quant.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

std::optional<Value> meta_act_mul_group(const OpArgs& a) {
  return cpu::aiter_act_mul_fp8_group_quant_meta(a.node(), a.tensor(0), a.i64(1));
}
Value act_mul_group(const OpArgs& a, ExecContext&) {
  return cpu::aiter_act_mul_fp8_group_quant(a.node(), a.tensor(0), a.i64(1));
}

const OpRow kRows[] = {
    {.target = "vllm.rocm_aiter_act_mul_and_fp8_group_quant.default",
     .schema = "rocm_aiter_act_mul_and_fp8_group_quant(Tensor x, int group_size) -> (Tensor, Tensor)",
     .meta = meta_act_mul_group, .cpu = act_mul_group, .gpu = nullptr},
};

}  // namespace

std::span<const OpRow> op_rows_silu_mul_quant() { return kRows; }

}  // namespace fxopt::rt::ops
