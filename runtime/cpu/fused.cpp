// CPU kernels of the fused ops the rewrite patterns emit (vLLM's ROCm/AITER names), and their meta rules,
// which hold every argument check (shared by the GPU computes, so both report the same text). Each
// kernel calls the reference implementation in runtime/numerics.h, which computes what the decomposed
// region computes in the same order (y rounded to bf16 before quantising), so a rewritten graph is
// bit-identical.
#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {
namespace {

const Tensor& bf16_arg(const OpArgs& in, size_t i) {
  const Tensor& t = in.tensor(i);
  const std::string& name = in.schema().args[i].name;
  if (t.dtype() != DType::BF16)
    throw InputError("argument '" + name + "' must be bfloat16, got " + dtype_name(t.dtype()));
  if (t.dim() < 1) throw InputError("argument '" + name + "' must have at least one dimension");
  return t;
}

// The fp8 output dtype: the argument when given, else meta.val[0]'s, else float8_e4m3fn.
DType fp8_out(const Node& node, std::optional<DType> given) {
  DType d = given ? *given : meta_dtype(node, 0).value_or(DType::F8E4M3FN);
  if (!is_fp8(d) || d == DType::F8E5M2)
    throw InputError(std::string("the quantised output must be float8_e4m3fn or float8_e4m3fnuz, got ") + dtype_name(d));
  return d;
}

int64_t group_arg(const OpArgs& in, size_t i, int64_t d) {
  const int64_t g = in.i64(i);
  if (g <= 0 || d % g != 0)
    throw InputError("group_size " + std::to_string(g) + " does not divide the last dimension " + std::to_string(d));
  return g;
}

Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}

Value pair(DType qd, const Shape& q, const Shape& scale) { return Value::list({meta_tensor(qd, q), meta_tensor(DType::F32, scale)}); }

}  // namespace

// rocm_aiter_fused_rms_gated_fp8_group_quant(x, weight, bias, z, eps, norm_before_gate, activation,
// group_size) -> (q (M, D) fp8, scale (M, D/G) float32).
std::optional<Value> meta_fused_rms_gated(const OpArgs& in) {
  const Tensor& x = bf16_arg(in, 0);
  const Tensor& w = bf16_arg(in, 1);
  if (!in.is_none(2)) throw InputError("a bias is not supported (must be None)");
  const Tensor& z = bf16_arg(in, 3);
  if (!in.flag(5)) throw InputError("norm_before_gate=False is not supported");
  if (in.str(6) != "silu") throw InputError("activation must be \"silu\", got \"" + in.str(6) + "\"");
  const int64_t d = x.shape().back();
  const int64_t g = group_arg(in, 7, d);
  if (z.shape() != x.shape()) throw InputError("z " + shape_str(z.shape()) + " differs from x " + shape_str(x.shape()));
  if (w.numel() != d) throw InputError("weight " + shape_str(w.shape()) + " does not match the last dimension " + std::to_string(d));
  return pair(fp8_out(in.node(), std::nullopt), x.shape(), with_last(x.shape(), d / g));
}

Value fused_rms_gated(const OpArgs& in, ExecContext&) {
  const Tensor x = in.tensor(0).contiguous(), w = in.tensor(1).contiguous(), z = in.tensor(3).contiguous();
  const int64_t d = x.shape().back(), g = in.i64(7);
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  Tensor q = in.empty_out(0), scale = in.empty_out(1);
  num::fused_rms_gated_fp8_group_quant(x.data<uint16_t>(), w.data<uint16_t>(), z.data<uint16_t>(), m, d, in.f64(4), g,
                                       fp8_format(q.dtype()), q.data<uint8_t>(), scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

// rocm_aiter_group_fp8_quant(x, group_size) -> (q like x fp8, scale (..., K/G) float32).
std::optional<Value> meta_group_quant(const OpArgs& in) {
  const Tensor& x = bf16_arg(in, 0);
  const int64_t k = x.shape().back();
  const int64_t g = group_arg(in, 1, k);
  return pair(fp8_out(in.node(), std::nullopt), x.shape(), with_last(x.shape(), k / g));
}

Value group_quant(const OpArgs& in, ExecContext&) {
  const Tensor x = in.tensor(0).contiguous();
  const int64_t k = x.shape().back(), g = in.i64(1);
  Tensor q = in.empty_out(0), scale = in.empty_out(1);
  num::group_fp8_quant(x.data<uint16_t>(), x.numel() / std::max<int64_t>(k, 1), k, g, fp8_format(q.dtype()),
                       q.data<uint8_t>(), scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

// rocm_aiter_rmsnorm_fused_dynamic_quant(x, weight, eps, quant_dtype) -> (q like x fp8, scale (M, 1) f32).
// qa.fmt comes from q's dtype.
std::optional<Value> meta_rmsnorm_dynamic_quant(const OpArgs& in) {
  const Tensor& x = bf16_arg(in, 0);
  const Tensor& w = bf16_arg(in, 1);
  const DType qd = fp8_out(in.node(), in.opt_dtype(3));
  const int64_t d = x.shape().back();
  if (w.numel() != d) throw InputError("weight " + shape_str(w.shape()) + " does not match the last dimension " + std::to_string(d));
  return pair(qd, x.shape(), {x.numel() / std::max<int64_t>(d, 1), 1});
}

Value rmsnorm_dynamic_quant(const OpArgs& in, ExecContext&) {
  const Tensor x = in.tensor(0).contiguous(), w = in.tensor(1).contiguous();
  const int64_t d = x.shape().back();
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  Tensor q = in.empty_out(0), scale = in.empty_out(1);
  // vLLM's order (normed value rounded to bf16 before the weight multiply), per-token scale, multiply by the
  // reciprocal (QuantFP8's native chain): the region patterns/rms_norm_quant.json replaces with this op.
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::PerToken;
  qa.fmt = fp8_format(q.dtype());
  num::rms_norm_quant_ref(x.data<uint16_t>(), nullptr, w.data<uint16_t>(), m, d, in.f64(2), qa, nullptr, nullptr,
                          q.data<uint8_t>(), scale.data<float>());
  return Value::list({Value::of(q), Value::of(scale)});
}

}  // namespace fxopt::rt::cpu
