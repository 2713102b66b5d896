// The vLLM RMSNorm (+ residual) -> FP8 quant family's CPU kernels (runtime/cpu/rms_norm_quant.cpp), the mutating
// _C ops that auto_functionalized nodes run (runtime/cpu/auto_functionalized.cpp), for the rows in
// runtime/ops/rms_norm_quant.cpp.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "runtime/backend.h"
#include "runtime/numerics.h"

namespace fxopt::rt::cpu {

// Argument readers of the vLLM family kernels (positional index `i` or keyword `name`); bad values are InputErrors
// naming the argument.
const Value& need_arg(const KernelArgs& in, size_t i, const char* name);
const Tensor& tensor_arg(const KernelArgs& in, size_t i, const char* name);
int64_t int_arg(const KernelArgs& in, size_t i, const char* name);
double number_arg(const KernelArgs& in, size_t i, const char* name);
bool bool_arg(const KernelArgs& in, size_t i, const char* name, bool fallback);
std::optional<DType> dtype_arg(const KernelArgs& in, size_t i, const char* name);
const Value* optional_arg(const KernelArgs& in, size_t i, const char* name);  // nullptr for absent or None
// `d` when it is float8_e4m3fn or float8_e4m3fnuz, else an InputError naming `what`.
DType fp8_dtype(DType d, const char* what);
// The fp8 dtype of a functional op's quantised output: `given`, else the node's meta (the platform's), else e4m3fn.
DType out_fp8(const Node& node, std::optional<DType> given);

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
// A bfloat16 tensor argument with at least one dimension, made contiguous by `rb`.
Tensor bf16_tensor(const KernelArgs& in, size_t i, const char* name, const RowsBackend& rb);

// A family kernel on positional (schema order) or keyword arguments.
using FamilyKernel = Value (*)(const Node& node, const KernelArgs& in, const RowsBackend& rb);
// The kernel of a functional family op (vllm_ir.*, the AITER ops); nullptr for another target.
FamilyKernel family_kernel(std::string_view target);

// A mutating custom op (a `Tensor!` in its schema), run by its functional meaning for
// higher_order.auto_functionalized(_v2): its schema's argument names in order, the mutated ones in order,
// and a function giving the mutated arguments' new values (None for an absent optional one) from the
// arguments, given by name. `gpu`: whether `run` computes with the GPU backend's RowsBackend (false: the
// auto_functionalized node runs on the CPU on a GPU run).
struct MutatingOp {
  const char* target;
  std::vector<const char*> args;
  std::vector<const char*> mutated;
  std::vector<Value> (*run)(const Node& node, const KernelArgs& in, const RowsBackend& rb);
  bool gpu = true;
};
// nullptr for an op the executor does not know.
const MutatingOp* find_mutating_op(std::string_view target);
// Every known mutating op, this family's, runtime/cpu/silu_mul_quant.cpp's and runtime/cpu/qk_norm_rope.cpp's (the
// auto_functionalized row's schema lists their argument names).
std::vector<const MutatingOp*> all_mutating_ops();

// higher_order.auto_functionalized (v2: true) on its op value and keyword arguments.
Value auto_functionalized(const Node& node, const KernelArgs& in, bool v2, const RowsBackend& rb = cpu_rows());

}  // namespace fxopt::rt::cpu
