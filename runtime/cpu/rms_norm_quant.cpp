// CPU kernels of the vLLM RMSNorm (+ residual) -> FP8 quant family: every opaque spelling (vllm_ir, _C, AITER)
// and every fused op of patterns/rms_norm_quant.json, by the reference in runtime/numerics.h
// (num::rms_norm_quant_ref), and the mutating _C ops that
// higher_order.auto_functionalized(_v2) nodes run (runtime/cpu/auto_functionalized.cpp).
#include <cstring>

#include "runtime/cpu/kernels.h"
#include "runtime/cpu/qk_norm_rope.h"
#include "runtime/cpu/rms_norm_quant.h"
#include "runtime/cpu/silu_mul_quant.h"
#include "runtime/numerics.h"

namespace fxopt::rt::cpu {

// ---- arguments (declared in rms_norm_quant.h: the vLLM family kernels share them) ----

const Value& need_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value* v = in.get(i, name);
  if (!v) throw InputError(std::string("missing argument '") + name + "'");
  return *v;
}
const Tensor& tensor_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value& v = need_arg(in, i, name);
  if (!v.is_tensor()) throw InputError(std::string("argument '") + name + "' must be a tensor, got " + describe(v));
  return v.tensor;
}
int64_t int_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value& v = need_arg(in, i, name);
  if (v.kind != Value::Kind::Int) throw InputError(std::string("argument '") + name + "' must be an int, got " + describe(v));
  return v.i;
}
double number_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value& v = need_arg(in, i, name);
  if (!v.is_number()) throw InputError(std::string("argument '") + name + "' must be a number, got " + describe(v));
  return v.as_double();
}
bool bool_arg(const KernelArgs& in, size_t i, const char* name, bool fallback) {
  const Value* v = in.get(i, name);
  if (!v || v->kind == Value::Kind::None) return fallback;
  if (v->kind == Value::Kind::Bool) return v->b;
  if (v->kind == Value::Kind::Int) return v->i != 0;
  throw InputError(std::string("argument '") + name + "' must be a bool, got " + describe(*v));
}
std::optional<DType> dtype_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value* v = in.get(i, name);
  if (!v || v->kind == Value::Kind::None) return std::nullopt;
  if (v->kind != Value::Kind::Dtype) throw InputError(std::string("argument '") + name + "' must be a dtype, got " + describe(*v));
  return dtype_of_name(v->s);
}

Tensor bf16_tensor(const KernelArgs& in, size_t i, const char* name, const RowsBackend& rb) {
  const Tensor& t = tensor_arg(in, i, name);
  if (t.dtype() != DType::BF16)
    throw InputError(std::string("argument '") + name + "' must be bfloat16, got " + dtype_name(t.dtype()));
  if (t.dim() < 1) throw InputError(std::string("argument '") + name + "' must have at least one dimension");
  return rb.contiguous(t);
}

const Value* optional_arg(const KernelArgs& in, size_t i, const char* name) {
  const Value* v = in.get(i, name);
  return v && v->kind != Value::Kind::None ? v : nullptr;
}

DType fp8_dtype(DType d, const char* what) {
  if (d != DType::F8E4M3FN && d != DType::F8E4M3FNUZ)
    throw InputError(std::string(what) + " must be float8_e4m3fn or float8_e4m3fnuz, got " + dtype_name(d));
  return d;
}

DType out_fp8(const Node& node, std::optional<DType> given) {
  return fp8_dtype(given ? *given : meta_dtype(node, 0).value_or(DType::F8E4M3FN), "the quantised output");
}

namespace {

// The input rows, checked against the weight (and the residual).
struct Rows {
  Tensor x, w, res;
  bool has_res = false;
  int64_t m = 0, d = 0;
};

Rows rows_of(const KernelArgs& in, size_t xi, const char* xn, size_t wi, const char* wn, int ri, const char* rn,
             const RowsBackend& rb) {
  Rows r;
  r.x = bf16_tensor(in, xi, xn, rb);
  r.d = r.x.shape().back();
  r.m = r.x.numel() / std::max<int64_t>(r.d, 1);
  if (wn) {
    const Tensor& w = tensor_arg(in, wi, wn);
    if (w.dtype() != r.x.dtype())
      throw InputError(std::string("weight dtype ") + dtype_name(w.dtype()) + " differs from the input's " +
                       dtype_name(r.x.dtype()) + " (the fused kernels need one model dtype)");
    r.w = rb.contiguous(w);
    if (r.w.numel() != r.d)
      throw InputError("weight " + shape_str(r.w.shape()) + " does not match the last dimension " + std::to_string(r.d));
  }
  if (ri >= 0) {
    if (const Value* v = optional_arg(in, static_cast<size_t>(ri), rn)) {
      if (!v->is_tensor()) throw InputError(std::string("argument '") + rn + "' must be a tensor, got " + describe(*v));
      r.res = bf16_tensor(in, static_cast<size_t>(ri), rn, rb);
      if (r.res.shape() != r.x.shape())
        throw InputError(std::string(rn) + " " + shape_str(r.res.shape()) + " differs from the input " + shape_str(r.x.shape()));
      r.has_res = true;
    }
  }
  return r;
}

int64_t group_of(const KernelArgs& in, size_t i, int64_t d) {
  const int64_t g = int_arg(in, i, "group_size");
  if (g <= 0 || d % g != 0)
    throw InputError("group_size " + std::to_string(g) + " does not divide the hidden size " + std::to_string(d));
  return g;
}

Shape with_last(Shape s, int64_t last) {
  s.back() = last;
  return s;
}

struct Outs {
  Tensor y, res, q, scale;
};

// Runs the reference; allocates y (no quant), residual_out (with a residual), q and scale (with quant).
Outs run_ref(const Rows& r, double eps, bool norm, num::QuantArgs qa, DType qd, const Shape& scale_shape,
             const RowsBackend& rb) {
  Outs o;
  const bool quant = qa.scheme != num::QuantScheme::None;
  const bool has_scale = quant && qa.scheme != num::QuantScheme::Static;
  if (qa.scheme == num::QuantScheme::None) o.y = rb.empty(DType::BF16, r.x.shape());
  if (r.has_res) o.res = rb.empty(DType::BF16, r.x.shape());
  if (qa.scheme != num::QuantScheme::None) {
    qa.fmt = fp8_format(qd);
    o.q = rb.empty(qd, r.x.shape());
    if (qa.scheme != num::QuantScheme::Static) {
      int64_t want = num::quant_scales_per_row(qa, r.d) * r.m, have = 1;
      for (int64_t s : scale_shape) have *= s;
      if (have != want) throw InputError("the scale " + shape_str(scale_shape) + " should hold " + std::to_string(want) + " values");
      o.scale = rb.empty(DType::F32, scale_shape);
    }
  }
  RowsJob job;
  job.x = r.x.data<uint16_t>();
  job.res = r.has_res ? r.res.data<uint16_t>() : nullptr;
  job.w = norm ? r.w.data<uint16_t>() : nullptr;
  job.m = r.m;
  job.d = r.d;
  job.eps = eps;
  job.qa = qa;
  job.y = quant ? nullptr : o.y.data<uint16_t>();
  job.res_out = r.has_res ? o.res.data<uint16_t>() : nullptr;
  job.q = quant ? o.q.data<uint8_t>() : nullptr;
  job.scale = has_scale ? o.scale.data<float>() : nullptr;
  rb.run(job);
  return o;
}

// A float32 scale tensor argument with `n` values (static scale, scale_ub).
Tensor f32_scalar_tensor(const Value& v, const char* name) {
  if (!v.is_tensor() || v.tensor.dtype() != DType::F32 || v.tensor.numel() != 1)
    throw InputError(std::string("argument '") + name + "' must be a float32 tensor with one value, got " + describe(v));
  return v.tensor.contiguous();
}

num::QuantArgs static_args(const KernelArgs& in, size_t i, Tensor& keep) {
  keep = f32_scalar_tensor(need_arg(in, i, "scale"), "scale");
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::Static;
  qa.static_scale = keep.data<float>();
  return qa;
}

num::QuantArgs per_token_args(const KernelArgs& in, int ub_index, bool divide, Tensor& keep) {
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::PerToken;
  qa.divide = divide;
  if (ub_index >= 0)
    if (const Value* ub = optional_arg(in, static_cast<size_t>(ub_index), "scale_ub")) {
      keep = f32_scalar_tensor(*ub, "scale_ub");
      qa.scale_ub = keep.data<float>();
    }
  return qa;
}

num::QuantArgs group_args(int64_t g) {
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::Group;
  qa.group = g;
  qa.divide = true;
  return qa;
}

Value pair(Tensor a, Tensor b) { return Value::list({Value::of(std::move(a)), Value::of(std::move(b))}); }
Value triple(Tensor a, Tensor b, Tensor c) {
  return Value::list({Value::of(std::move(a)), Value::of(std::move(b)), Value::of(std::move(c))});
}

// ---- functional ops ----

// vllm_ir.rms_norm(x, weight, epsilon, variance_size=None); vllm.rocm_aiter_rms_norm(x, weight, variance_epsilon).
Value rms_norm(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  if (const Value* vs = optional_arg(in, 3, "variance_size")) throw InputError("variance_size is not supported, got " + describe(*vs));
  Rows r = rows_of(in, 0, "x", 1, "weight", -1, nullptr, rb);
  return Value::of(run_ref(r, number_arg(in, 2, "epsilon"), true, {}, DType::BF16, {}, rb).y);
}

// vllm_ir.fused_add_rms_norm(x, x_residual, weight, epsilon, variance_size=None) -> (y, residual_out);
// vllm.rocm_aiter_rmsnorm2d_fwd_with_add(x, residual, weight, variance_epsilon) -> (y, residual_out).
Value fused_add_rms_norm(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  if (const Value* vs = optional_arg(in, 4, "variance_size")) throw InputError("variance_size is not supported, got " + describe(*vs));
  Rows r = rows_of(in, 0, "x", 2, "weight", 1, "residual", rb);
  if (!r.has_res) throw InputError("the residual must be a tensor");
  Outs o = run_ref(r, number_arg(in, 3, "epsilon"), true, {}, DType::BF16, {}, rb);
  return pair(o.y, o.res);
}

// vllm.rocm_aiter_per_token_quant(x, quant_dtype, scale=None) -> (q, scale (..., 1)): vLLM's native per-token
// quant (multiply by the reciprocal).
Value aiter_per_token_quant(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  if (const Value* s = optional_arg(in, 2, "scale")) throw InputError("a given scale is not supported, got " + describe(*s));
  Rows r = rows_of(in, 0, "x", 0, nullptr, -1, nullptr, rb);
  Tensor keep;
  Outs o = run_ref(r, 0.0, false, per_token_args(in, -1, false, keep), out_fp8(node, dtype_arg(in, 1, "quant_dtype")),
                   with_last(r.x.shape(), 1), rb);
  return pair(o.q, o.scale);
}

// vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(x, weight, epsilon, quant_dtype) -> (q, scale (M, 1)).
Value aiter_rms_per_token(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "x", 1, "weight", -1, nullptr, rb);
  Tensor keep;
  Outs o = run_ref(r, number_arg(in, 2, "epsilon"), true, per_token_args(in, -1, false, keep),
                   out_fp8(node, dtype_arg(in, 3, "quant_dtype")), {r.m, 1}, rb);
  return pair(o.q, o.scale);
}

// vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant(x, residual, weight, epsilon, quant_dtype) -> (q, residual_out, scale).
Value aiter_add_rms_per_token(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "x", 2, "weight", 1, "residual", rb);
  if (!r.has_res) throw InputError("the residual must be a tensor");
  Tensor keep;
  Outs o = run_ref(r, number_arg(in, 3, "epsilon"), true, per_token_args(in, -1, false, keep),
                   out_fp8(node, dtype_arg(in, 4, "quant_dtype")), {r.m, 1}, rb);
  return triple(o.q, o.res, o.scale);
}

// vllm.rocm_aiter_rmsnorm_fp8_group_quant(x, weight, variance_epsilon, group_size) -> (q, scale (M, D/G)).
Value aiter_rms_group(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "x", 1, "weight", -1, nullptr, rb);
  const int64_t g = group_of(in, 3, r.d);
  Outs o = run_ref(r, number_arg(in, 2, "variance_epsilon"), true, group_args(g), out_fp8(node, std::nullopt),
                   with_last(r.x.shape(), r.d / g), rb);
  return pair(o.q, o.scale);
}

// vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant(x, residual, weight, variance_epsilon, group_size)
// -> (q, residual_out, scale).
Value aiter_add_rms_group(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "x", 2, "weight", 1, "residual", rb);
  if (!r.has_res) throw InputError("the residual must be a tensor");
  const int64_t g = group_of(in, 4, r.d);
  Outs o = run_ref(r, number_arg(in, 3, "variance_epsilon"), true, group_args(g), out_fp8(node, std::nullopt),
                   with_last(r.x.shape(), r.d / g), rb);
  return triple(o.q, o.res, o.scale);
}

}  // namespace

// ---- mutating _C ops (their functional meaning; the new values of the mutated arguments) ----

namespace {

DType buffer_fp8(const KernelArgs& in, size_t i, const char* name) {
  return fp8_dtype(tensor_arg(in, i, name).dtype(), name);
}

// _C.rms_norm(Tensor! result, Tensor input, Tensor weight, float epsilon)
std::vector<Value> c_rms_norm(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 2, "weight", -1, nullptr, rb);
  return {Value::of(run_ref(r, number_arg(in, 3, "epsilon"), true, {}, DType::BF16, {}, rb).y)};
}

// _C.fused_add_rms_norm(Tensor! input, Tensor! residual, Tensor weight, float epsilon)
std::vector<Value> c_fused_add_rms_norm(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "input", 2, "weight", 1, "residual", rb);
  if (!r.has_res) throw InputError("the residual must be a tensor");
  Outs o = run_ref(r, number_arg(in, 3, "epsilon"), true, {}, DType::BF16, {}, rb);
  return {Value::of(o.y), Value::of(o.res)};
}

// _C.static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale, int[]? group_shape=None)
std::vector<Value> c_static_quant(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  if (const Value* gs = optional_arg(in, 3, "group_shape")) throw InputError("group_shape is not supported, got " + describe(*gs));
  Rows r = rows_of(in, 1, "input", 0, nullptr, -1, nullptr, rb);
  Tensor keep;
  return {Value::of(run_ref(r, 0.0, false, static_args(in, 2, keep), buffer_fp8(in, 0, "result"), {}, rb).q)};
}

// _C.dynamic_per_token_scaled_fp8_quant(Tensor! result, Tensor input, Tensor! scale, Tensor? scale_ub): the kernel
// divides by the scale.
std::vector<Value> c_per_token_quant(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 0, nullptr, -1, nullptr, rb);
  Tensor keep;
  Outs o = run_ref(r, 0.0, false, per_token_args(in, 3, true, keep), buffer_fp8(in, 0, "result"),
                   tensor_arg(in, 2, "scale").shape(), rb);
  return {Value::of(o.q), Value::of(o.scale)};
}

// _C.per_token_group_fp8_quant(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps,
// float fp8_min, float fp8_max, bool scale_ue8m0, bool dummy_is_scale_transposed, bool dummy_is_tma_aligned)
std::vector<Value> c_group_quant(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 0, "input", 0, nullptr, -1, nullptr, rb);
  if (bool_arg(in, 7, "scale_ue8m0", false)) throw InputError("scale_ue8m0=True is not supported");
  num::QuantArgs qa = group_args(group_of(in, 3, r.d));
  qa.group_eps = static_cast<float>(number_arg(in, 4, "eps"));
  qa.qmin = static_cast<float>(number_arg(in, 5, "fp8_min"));
  qa.qmax = static_cast<float>(number_arg(in, 6, "fp8_max"));
  if (!(qa.group_eps > 0.0f) || !(qa.qmax > 0.0f)) throw InputError("eps and fp8_max must be positive");
  Outs o = run_ref(r, 0.0, false, qa, buffer_fp8(in, 1, "output_q"), with_last(r.x.shape(), r.d / qa.group), rb);
  return {Value::of(o.q), Value::of(o.scale)};
}

// _C.rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor weight, Tensor scale, float epsilon)
std::vector<Value> c_rms_static(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 2, "weight", -1, nullptr, rb);
  Tensor keep;
  return {Value::of(run_ref(r, number_arg(in, 4, "epsilon"), true, static_args(in, 3, keep), buffer_fp8(in, 0, "result"), {}, rb).q)};
}

// _C.fused_add_rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor! residual, Tensor weight, Tensor scale,
// float epsilon)
std::vector<Value> c_add_rms_static(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 3, "weight", 2, "residual", rb);
  if (!r.has_res) throw InputError("the residual must be a tensor");
  Tensor keep;
  Outs o = run_ref(r, number_arg(in, 5, "epsilon"), true, static_args(in, 4, keep), buffer_fp8(in, 0, "result"), {}, rb);
  return {Value::of(o.q), Value::of(o.res)};
}

// _C.rms_norm_dynamic_per_token_quant(Tensor! result, Tensor input, Tensor weight, Tensor! scale, float epsilon,
// Tensor? scale_ub, Tensor!? residual): the kernel divides by the scale.
std::vector<Value> c_rms_per_token(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 2, "weight", 6, "residual", rb);
  Tensor keep;
  Outs o = run_ref(r, number_arg(in, 4, "epsilon"), true, per_token_args(in, 5, true, keep), buffer_fp8(in, 0, "result"),
                   tensor_arg(in, 3, "scale").shape(), rb);
  return {Value::of(o.q), Value::of(o.scale), r.has_res ? Value::of(o.res) : Value::none()};
}

// _C.rms_norm_per_block_quant(Tensor! result, Tensor input, Tensor weight, Tensor! scale, float epsilon,
// Tensor? scale_ub, Tensor!? residual, int group_size, bool is_scale_transposed): scales hold the same values in
// either layout (the buffer's strides say which).
std::vector<Value> c_rms_per_block(const Node&, const KernelArgs& in, const RowsBackend& rb) {
  Rows r = rows_of(in, 1, "input", 2, "weight", 6, "residual", rb);
  if (optional_arg(in, 5, "scale_ub")) throw InputError("scale_ub is not supported with group quantisation");
  Outs o = run_ref(r, number_arg(in, 4, "epsilon"), true, group_args(group_of(in, 7, r.d)), buffer_fp8(in, 0, "result"),
                   tensor_arg(in, 3, "scale").shape(), rb);
  return {Value::of(o.q), Value::of(o.scale), r.has_res ? Value::of(o.res) : Value::none()};
}

const MutatingOp kMutatingOps[] = {
    {"_C.rms_norm.default", {"result", "input", "weight", "epsilon"}, {"result"}, c_rms_norm},
    {"_C.fused_add_rms_norm.default", {"input", "residual", "weight", "epsilon"}, {"input", "residual"},
     c_fused_add_rms_norm},
    {"_C.static_scaled_fp8_quant.default", {"result", "input", "scale", "group_shape"}, {"result"}, c_static_quant},
    {"_C.dynamic_per_token_scaled_fp8_quant.default", {"result", "input", "scale", "scale_ub"}, {"result", "scale"},
     c_per_token_quant},
    {"_C.per_token_group_fp8_quant.default",
     {"input", "output_q", "output_s", "group_size", "eps", "fp8_min", "fp8_max", "scale_ue8m0",
      "dummy_is_scale_transposed", "dummy_is_tma_aligned"},
     {"output_q", "output_s"}, c_group_quant},
    {"_C.rms_norm_static_fp8_quant.default", {"result", "input", "weight", "scale", "epsilon"}, {"result"}, c_rms_static},
    {"_C.fused_add_rms_norm_static_fp8_quant.default", {"result", "input", "residual", "weight", "scale", "epsilon"},
     {"result", "residual"}, c_add_rms_static},
    {"_C.rms_norm_dynamic_per_token_quant.default",
     {"result", "input", "weight", "scale", "epsilon", "scale_ub", "residual"}, {"result", "scale", "residual"},
     c_rms_per_token},
    {"_C.rms_norm_per_block_quant.default",
     {"result", "input", "weight", "scale", "epsilon", "scale_ub", "residual", "group_size", "is_scale_transposed"},
     {"result", "scale", "residual"}, c_rms_per_block},
};

}  // namespace

const RowsBackend& cpu_rows() {
  static const RowsBackend b{
      [](DType d, const Shape& shape) { return Tensor::empty(d, shape); },
      [](const Tensor& t) { return t.contiguous(); },
      [](const RowsJob& j) {
        num::rms_norm_quant_ref(j.x, j.res, j.w, j.m, j.d, j.eps, j.qa, j.y, j.res_out, j.q, j.scale);
      }};
  return b;
}

std::vector<const MutatingOp*> all_mutating_ops() {
  std::vector<const MutatingOp*> out;
  for (const auto& op : kMutatingOps) out.push_back(&op);
  for (const auto& op : silu_mul_mutating_ops()) out.push_back(&op);
  for (const auto& op : qk_norm_rope_mutating_ops()) out.push_back(&op);
  return out;
}

const MutatingOp* find_mutating_op(std::string_view target) {
  for (const MutatingOp* op : all_mutating_ops())
    if (target == op->target) return op;
  return nullptr;
}

// The family's functional ops, for runtime/ops/rms_norm_quant.cpp.
FamilyKernel family_kernel(std::string_view target) {
  static const std::pair<const char*, FamilyKernel> kTable[] = {
      {"vllm_ir.rms_norm.default", rms_norm},
      {"vllm.rocm_aiter_rms_norm.default", rms_norm},
      {"vllm_ir.fused_add_rms_norm.default", fused_add_rms_norm},
      {"vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default", fused_add_rms_norm},
      {"vllm.rocm_aiter_per_token_quant.default", aiter_per_token_quant},
      {"vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", aiter_rms_per_token},
      {"vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default", aiter_add_rms_per_token},
      {"vllm.rocm_aiter_rmsnorm_fp8_group_quant.default", aiter_rms_group},
      {"vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default", aiter_add_rms_group},
  };
  for (const auto& [t, k] : kTable)
    if (target == t) return k;
  return nullptr;
}

}  // namespace fxopt::rt::cpu
