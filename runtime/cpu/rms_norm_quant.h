// The vLLM RMSNorm (+ residual) -> FP8 quant family's CPU kernels (runtime/cpu/rms_norm_quant.cpp), the mutating
// _C ops that auto_functionalized nodes run (runtime/cpu/auto_functionalized.cpp), for the rows in
// runtime/ops/rms_norm_quant.cpp.
#pragma once

#include <string_view>
#include <vector>

#include "runtime/backend.h"
#include "runtime/numerics.h"

namespace fxopt::rt::cpu {

// One call of the family's row computation on raw row-major buffers (num::rms_norm_quant_ref's arguments).
struct RowsJob {
  const uint16_t* x = nullptr;
  const uint16_t* res = nullptr;
  const uint16_t* w = nullptr;
  int64_t m = 0, d = 0;
  double eps = 0.0;
  num::QuantArgs qa;
  uint16_t* y = nullptr;
  uint16_t* res_out = nullptr;
  uint8_t* q = nullptr;
  float* scale = nullptr;
};
// Where the family's kernels put their tensors and compute: host memory and num::rms_norm_quant_ref
// (cpu_rows()), or device memory and the HIP kernel (the GPU backend's, runtime/gpu_rms_norm_quant.cpp). The
// argument checks are the same for both.
struct RowsBackend {
  Tensor (*empty)(DType dtype, const Shape& shape);
  Tensor (*contiguous)(const Tensor& t);
  void (*run)(const RowsJob& job);
};
const RowsBackend& cpu_rows();

// A family kernel on positional (schema order) or keyword arguments.
using FamilyKernel = Value (*)(const Node& node, const KernelArgs& in, const RowsBackend& rb);
// The kernel of a functional family op (vllm_ir.*, the AITER ops); nullptr for another target.
FamilyKernel family_kernel(std::string_view target);

// A mutating custom op (a `Tensor!` in its schema), run by its functional meaning for
// higher_order.auto_functionalized(_v2): its schema's argument names in order, the mutated ones in order,
// and a function giving the mutated arguments' new values (None for an absent optional one) from the
// arguments, given by name.
struct MutatingOp {
  const char* target;
  std::vector<const char*> args;
  std::vector<const char*> mutated;
  std::vector<Value> (*run)(const Node& node, const KernelArgs& in, const RowsBackend& rb);
};
// nullptr for an op the executor does not know.
const MutatingOp* find_mutating_op(std::string_view target);
// Every known mutating op (the auto_functionalized row's schema lists their argument names).
std::vector<const MutatingOp*> all_mutating_ops();

// higher_order.auto_functionalized (v2: true) on its op value and keyword arguments.
Value auto_functionalized(const Node& node, const KernelArgs& in, bool v2, const RowsBackend& rb = cpu_rows());

}  // namespace fxopt::rt::cpu
