// Op rows of the vLLM RMSNorm (+ residual) -> FP8 quant family: the opaque spellings (vllm_ir, AITER) and the
// fused ops of patterns/rms_norm_quant.json, and higher_order.auto_functionalized(_v2) of the known mutating _C
// ops (compute: runtime/cpu/rms_norm_quant.cpp, runtime/cpu/auto_functionalized.cpp, on the GPU the same code with
// runtime/gpu_rms_norm_quant.cpp's device buffers and kernel; shapes depend only on the
// inputs, but the rows leave them to the compute: no meta rule).
#include <array>
#include <string>

#include "runtime/cpu/rms_norm_quant.h"
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

// The compute gives the shapes (they follow the inputs; a meta rule per op is still to write): the executor
// treats the result like a data-dependent one and checks it against meta.val after the run.
std::optional<Value> meta_by_compute(const OpArgs&) { return std::nullopt; }

// The family kernels take their arguments positionally, in schema order; `rb` says where they compute.
Value by_target(const OpArgs& a, const cpu::RowsBackend& rb) {
  const cpu::FamilyKernel k = cpu::family_kernel(a.node().target);
  if (!k) throw InputError("no kernel for " + a.node().target);
  KernelArgs ka;
  for (size_t i = 0; i < a.size(); ++i) ka.args.push_back(a[i]);
  return k(a.node(), ka, rb);
}
Value run_by_target(const OpArgs& a, ExecContext&) { return by_target(a, cpu::cpu_rows()); }

// auto_functionalized(op, **kwargs): the schema lists every argument name of the known mutating ops (and v2's
// base indices) as optional keywords; the ones given (not None) go to the op by name.
Value run_af(const OpArgs& a, bool v2, const cpu::RowsBackend& rb) {
  KernelArgs ka;
  ka.args.push_back(a[0]);
  for (size_t i = 1; i < a.size(); ++i)
    if (!a.is_none(i)) ka.kwargs.emplace_back(a.schema().args[i].name, a[i]);
  return cpu::auto_functionalized(a.node(), ka, v2, rb);
}
Value run_af1(const OpArgs& a, ExecContext&) { return run_af(a, false, cpu::cpu_rows()); }
Value run_af2(const OpArgs& a, ExecContext&) { return run_af(a, true, cpu::cpu_rows()); }

// The same kernels on the GPU backend (device tensors, runtime/hip/rms_norm_quant.hip): the argument checks are
// shared, only allocation and the row computation differ.
#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU
Value gpu_by_target(const OpArgs& a, ExecContext&) { return by_target(a, gpu_ops::rms_norm_quant_rows()); }
Value gpu_af1(const OpArgs& a, ExecContext&) { return run_af(a, false, gpu_ops::rms_norm_quant_rows()); }
Value gpu_af2(const OpArgs& a, ExecContext&) { return run_af(a, true, gpu_ops::rms_norm_quant_rows()); }
constexpr ComputeFn kGpuByTarget = gpu_by_target, kGpuAf1 = gpu_af1, kGpuAf2 = gpu_af2;
#else
constexpr ComputeFn kGpuByTarget = nullptr, kGpuAf1 = nullptr, kGpuAf2 = nullptr;
#endif
// An auto_functionalized node runs on the GPU only when its op's kernel has a GPU form (MutatingOp::gpu; the
// SiLU-and-mul ops are CPU-only); otherwise on the CPU, unknown ops included (their error comes from there).
bool af_op_on_gpu(const OpArgs& a) {
  if (a[0].kind != Value::Kind::Opaque) return false;
  const cpu::MutatingOp* op = cpu::find_mutating_op(a[0].s);
  return op && op->gpu;
}
// Every tensor of a family call: bf16 activations and weights, fp8 results, float32 scales.
constexpr DTypeSet kFamilyGpu{DType::BF16, DType::F32, DType::F8E4M3FN, DType::F8E4M3FNUZ};

const std::string& af_schema(bool v2) {
  static const std::array<std::string, 2> s = [] {
    std::vector<std::string> names;
    auto add = [&](const std::string& n) {
      for (const auto& m : names)
        if (m == n) return;
      names.push_back(n);
    };
    std::vector<std::string> bases;
    for (const cpu::MutatingOp* op : cpu::all_mutating_ops()) {
      for (const char* n : op->args) add(n);
      for (const char* m : op->mutated) bases.push_back(std::string("_") + m + "_base_index");
    }
    std::string common;
    for (const auto& n : names) common += ", Any? " + n + "=None";
    std::string v2s = common;
    for (const auto& b : bases)
      if (v2s.find(" " + b + "=") == std::string::npos) v2s += ", Any? " + b + "=None";
    v2s += ", Any? _all_bases=None";
    return std::array<std::string, 2>{"auto_functionalized(Any _mutable_op, *" + common + ") -> Any",
                                      "auto_functionalized_v2(Any _mutable_op, *" + v2s + ") -> Any"};
  }();
  return s[v2 ? 1 : 0];
}

const OpRow* rows() {
  static const std::string af1 = af_schema(false), af2 = af_schema(true);
  static const OpRow kRows[] = {
      {.target = "vllm_ir.rms_norm.default",
       .schema = "rms_norm(Tensor x, Tensor? weight, float epsilon, int? variance_size=None) -> Tensor",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_rms_norm.default",
       .schema = "rocm_aiter_rms_norm(Tensor x, Tensor weight, float variance_epsilon) -> Tensor",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm_ir.fused_add_rms_norm.default",
       .schema = "fused_add_rms_norm(Tensor x, Tensor x_residual, Tensor? weight, float epsilon, int? variance_size=None) "
                 "-> (Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default",
       .schema = "rocm_aiter_rmsnorm2d_fwd_with_add(Tensor x, Tensor residual, Tensor weight, float variance_epsilon) "
                 "-> (Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_per_token_quant.default",
       .schema = "rocm_aiter_per_token_quant(Tensor x, ScalarType quant_dtype, Tensor? scale=None) -> (Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default",
       .schema = "rocm_aiter_rmsnorm_fused_add_dynamic_quant(Tensor x, Tensor residual, Tensor weight, float epsilon, "
                 "ScalarType quant_dtype) -> (Tensor, Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_rmsnorm_fp8_group_quant.default",
       .schema = "rocm_aiter_rmsnorm_fp8_group_quant(Tensor x, Tensor weight, float variance_epsilon, int group_size) "
                 "-> (Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default",
       .schema = "rocm_aiter_rmsnorm_with_add_fp8_group_quant(Tensor x, Tensor residual, Tensor weight, "
                 "float variance_epsilon, int group_size) -> (Tensor, Tensor, Tensor)",
       .meta = meta_by_compute, .cpu = run_by_target, .gpu = kGpuByTarget, .gpu_dtypes = kFamilyGpu},
      {.target = "higher_order.auto_functionalized", .schema = af1.c_str(), .meta = meta_by_compute, .cpu = run_af1,
       .gpu = kGpuAf1, .gpu_dtypes = kFamilyGpu, .gpu_when = af_op_on_gpu},
      {.target = "higher_order.auto_functionalized_v2", .schema = af2.c_str(), .meta = meta_by_compute, .cpu = run_af2,
       .gpu = kGpuAf2, .gpu_dtypes = kFamilyGpu, .gpu_when = af_op_on_gpu},
  };
  return kRows;
}

}  // namespace

std::span<const OpRow> op_rows_rms_norm_quant() { return {rows(), 10}; }

}  // namespace fxopt::rt::ops
