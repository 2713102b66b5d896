// CPU kernels of the fused ops the rewrite patterns emit (vLLM's ROCm/AITER names). Each calls the
// reference implementation in runtime/numerics.h, which computes what the decomposed region computes
// in the same order (y rounded to bf16 before quantising), so a rewritten graph is bit-identical.
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

const Tensor& bf16_arg(const KernelArgs& in, size_t i, const char* name) {
  const Tensor& t = tensor_arg(in, i, name);
  if (t.dtype() != DType::BF16)
    throw InputError(std::string("argument '") + name + "' must be bfloat16, got " + dtype_name(t.dtype()));
  if (t.dim() < 1) throw InputError(std::string("argument '") + name + "' must have at least one dimension");
  return t;
}

// The fp8 output dtype: from meta.val[0] when present, else float8_e4m3fn.
DType fp8_out(const Node& node, std::optional<DType> given) {
  DType d = given ? *given : meta_dtype(node, 0).value_or(DType::F8E4M3FN);
  if (!is_fp8(d) || d == DType::F8E5M2)
    throw InputError(std::string("the quantised output must be float8_e4m3fn or float8_e4m3fnuz, got ") + dtype_name(d));
  return d;
}

int64_t group_arg(const KernelArgs& in, size_t i, int64_t d) {
  const int64_t g = int_arg(in, i, "group_size");
  if (g <= 0 || d % g != 0)
    throw InputError("group_size " + std::to_string(g) + " does not divide the last dimension " + std::to_string(d));
  return g;
}

Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}

// rocm_aiter_fused_rms_gated_fp8_group_quant(x, weight, bias, z, eps, norm_before_gate, activation,
// group_size) -> (q (M, D) fp8, scale (M, D/G) float32).
Value fused_rms_gated(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16_arg(in, 0, "x").contiguous();
  const Tensor w = bf16_arg(in, 1, "weight").contiguous();
  const Value* bias = in.get(2, "bias");
  if (bias && bias->kind != Value::Kind::None) throw InputError("a bias is not supported (must be None)");
  const Tensor z = bf16_arg(in, 3, "z").contiguous();
  const double eps = number_arg(in, 4, "eps");
  if (!bool_arg(in, 5, "norm_before_gate", true)) throw InputError("norm_before_gate=False is not supported");
  const Value* act = in.get(6, "activation");
  if (act && !(act->kind == Value::Kind::Str && act->s == "silu"))
    throw InputError("activation must be \"silu\", got " + describe(*act));
  const int64_t d = x.shape().back();
  const int64_t g = group_arg(in, 7, d);
  if (z.shape() != x.shape()) throw InputError("z " + shape_str(z.shape()) + " differs from x " + shape_str(x.shape()));
  if (w.numel() != d) throw InputError("weight " + shape_str(w.shape()) + " does not match the last dimension " + std::to_string(d));
  const DType qd = fp8_out(node, std::nullopt);
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  Tensor q = Tensor::empty(qd, x.shape());
  Tensor scale = Tensor::empty(DType::F32, with_last(x.shape(), d / g));
  num::fused_rms_gated_fp8_group_quant(x.data<uint16_t>(), w.data<uint16_t>(), z.data<uint16_t>(), m, d, eps, g,
                                       fp8_format(qd), q.data<uint8_t>(), scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

// rocm_aiter_group_fp8_quant(x, group_size) -> (q like x fp8, scale (..., K/G) float32).
Value group_quant(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16_arg(in, 0, "x").contiguous();
  const int64_t k = x.shape().back();
  const int64_t g = group_arg(in, 1, k);
  const DType qd = fp8_out(node, std::nullopt);
  Tensor q = Tensor::empty(qd, x.shape());
  Tensor scale = Tensor::empty(DType::F32, with_last(x.shape(), k / g));
  num::group_fp8_quant(x.data<uint16_t>(), x.numel() / std::max<int64_t>(k, 1), k, g, fp8_format(qd),
                       q.data<uint8_t>(), scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

// rocm_aiter_rmsnorm_fused_dynamic_quant(x, weight, eps, quant_dtype) -> (q like x fp8, scale (M, 1) f32).
Value rmsnorm_dynamic_quant(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16_arg(in, 0, "x").contiguous();
  const Tensor w = bf16_arg(in, 1, "weight").contiguous();
  const double eps = number_arg(in, 2, "epsilon");
  const DType qd = fp8_out(node, dtype_arg(in, 3, "quant_dtype"));
  const int64_t d = x.shape().back();
  if (w.numel() != d) throw InputError("weight " + shape_str(w.shape()) + " does not match the last dimension " + std::to_string(d));
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  Tensor q = Tensor::empty(qd, x.shape());
  Tensor scale = Tensor::empty(DType::F32, {m, 1});
  num::rmsnorm_dynamic_quant(x.data<uint16_t>(), w.data<uint16_t>(), m, d, eps, fp8_format(qd), q.data<uint8_t>(),
                             scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

}  // namespace

void register_fused(KernelTable& t) {
  t["vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"] = fused_rms_gated;
  t["vllm.rocm_aiter_group_fp8_quant.default"] = group_quant;
  t["vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default"] = rmsnorm_dynamic_quant;
}

}  // namespace fxopt::rt::cpu
