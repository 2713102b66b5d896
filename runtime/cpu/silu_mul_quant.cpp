// CPU kernels of the vLLM SiLU-and-mul (-> FP8 quant) family: num::silu_mul_quant_ref behind the mutating _C ops
// (run for auto_functionalized nodes) and the functional AITER op, with their argument checks.
#include "runtime/cpu/silu_mul_quant.h"

#include <string>

#include "runtime/cpu/kernels.h"
#include "runtime/numerics.h"

namespace fxopt::rt::cpu {
namespace {

// A SiLU-and-mul input x (..., 2D): M rows of a gate half then an up half, D outputs per row.
struct ActShape {
  int64_t m = 0, d = 0;
  Shape out;  // x's shape with the last dimension halved
};

ActShape act_shape(const Tensor& x, const char* name) {
  if (x.dtype() != DType::BF16)
    throw InputError(std::string("argument '") + name + "' must be bfloat16, got " + dtype_name(x.dtype()));
  if (x.dim() < 1) throw InputError(std::string("argument '") + name + "' must have at least one dimension");
  const int64_t n = x.shape().back();
  if (n <= 0 || n % 2 != 0)
    throw InputError(std::string("the last dimension of '") + name + "' " + shape_str(x.shape()) +
                     " must be even and positive (the gate half, then the up half)");
  ActShape s;
  s.d = n / 2;
  s.m = x.numel() / n;
  s.out = x.shape();
  s.out.back() = s.d;
  return s;
}

int64_t checked_group(int64_t g, int64_t d) {
  if (g <= 0 || d % g != 0)
    throw InputError("group_size " + std::to_string(g) + " does not divide the output's last dimension " + std::to_string(d) +
                     " (half the input's)");
  return g;
}

// A mutated buffer argument, which must hold `want` values (its new value is a fresh tensor of its shape).
const Tensor& buffer_arg(const KernelArgs& in, size_t i, const char* name, int64_t want) {
  const Tensor& b = tensor_arg(in, i, name);
  if (b.numel() != want)
    throw InputError(std::string("the buffer '") + name + "' " + shape_str(b.shape()) + " holds " +
                     std::to_string(b.numel()) + " values, the op writes " + std::to_string(want));
  return b;
}

void run_ref(const Tensor& x, const ActShape& s, const num::QuantArgs& qa, Tensor* y, Tensor* q, Tensor* scale) {
  num::silu_mul_quant_ref(x.data<uint16_t>(), s.m, s.d, qa, y ? y->data<uint16_t>() : nullptr,
                          q ? q->data<uint8_t>() : nullptr, scale ? scale->data<float>() : nullptr);
}

num::QuantArgs group_args(int64_t g, DType qd) {
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::Group;
  qa.fmt = fp8_format(qd);
  qa.group = g;
  qa.divide = true;
  return qa;
}

// _C.silu_and_mul(Tensor! result, Tensor input)
std::vector<Value> c_silu_and_mul(const Node&, const KernelArgs& in, const RowsBackend&) {
  const Tensor x = bf16_tensor(in, 1, "input", cpu_rows());
  const ActShape s = act_shape(x, "input");
  const Tensor& result = buffer_arg(in, 0, "result", s.m * s.d);
  if (result.dtype() != x.dtype())
    throw InputError(std::string("the buffer 'result' must have the input's dtype bfloat16, got ") + dtype_name(result.dtype()));
  Tensor y = Tensor::empty(DType::BF16, result.shape());
  run_ref(x, s, {}, &y, nullptr, nullptr);
  return {Value::of(std::move(y))};
}

// _C.silu_and_mul_quant(Tensor! result, Tensor input, Tensor scale): static per-tensor, q = y * (1/scale).
std::vector<Value> c_silu_and_mul_quant(const Node&, const KernelArgs& in, const RowsBackend&) {
  const Tensor x = bf16_tensor(in, 1, "input", cpu_rows());
  const ActShape s = act_shape(x, "input");
  const Tensor& result = buffer_arg(in, 0, "result", s.m * s.d);
  const DType qd = fp8_dtype(result.dtype(), "the buffer 'result'");
  const Value& sv = need_arg(in, 2, "scale");
  if (!sv.is_tensor() || sv.tensor.dtype() != DType::F32 || sv.tensor.numel() != 1)
    throw InputError("argument 'scale' must be a float32 tensor with one value, got " + describe(sv));
  const Tensor scale = sv.tensor.contiguous();
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::Static;
  qa.fmt = fp8_format(qd);
  qa.static_scale = scale.data<float>();
  Tensor q = Tensor::empty(qd, result.shape());
  run_ref(x, s, qa, nullptr, &q, nullptr);
  return {Value::of(std::move(q))};
}

// _C.silu_and_mul_per_block_quant(Tensor! out, Tensor input, Tensor! scales, int group_size, Tensor? scale_ub=None,
// bool is_scale_transposed=False): group quant (q = y / scale). The scales come back shaped like their buffer, values
// in (row, group) order: in either layout (the buffer's strides say which) the logical values are the same.
std::vector<Value> c_silu_and_mul_per_block_quant(const Node&, const KernelArgs& in, const RowsBackend&) {
  const Tensor x = bf16_tensor(in, 1, "input", cpu_rows());
  const ActShape s = act_shape(x, "input");
  if (const Value* ub = optional_arg(in, 4, "scale_ub"))
    throw InputError("scale_ub is not supported with group quantisation, got " + describe(*ub));
  (void)bool_arg(in, 5, "is_scale_transposed", false);
  const Tensor& out = buffer_arg(in, 0, "out", s.m * s.d);
  const DType qd = fp8_dtype(out.dtype(), "the buffer 'out'");
  const int64_t g = checked_group(int_arg(in, 3, "group_size"), s.d);
  const Tensor& scales = buffer_arg(in, 2, "scales", s.m * (s.d / g));
  if (scales.dtype() != DType::F32)
    throw InputError(std::string("the buffer 'scales' must be float32, got ") + dtype_name(scales.dtype()));
  Tensor q = Tensor::empty(qd, out.shape());
  Tensor sc = Tensor::empty(DType::F32, scales.shape());
  run_ref(x, s, group_args(g, qd), nullptr, &q, &sc);
  return {Value::of(std::move(q)), Value::of(std::move(sc))};
}

const MutatingOp kMutatingOps[] = {
    {"_C.silu_and_mul.default", {"result", "input"}, {"result"}, c_silu_and_mul, false},
    {"_C.silu_and_mul_quant.default", {"result", "input", "scale"}, {"result"}, c_silu_and_mul_quant, false},
    {"_C.silu_and_mul_per_block_quant.default",
     {"out", "input", "scales", "group_size", "scale_ub", "is_scale_transposed"}, {"out", "scales"},
     c_silu_and_mul_per_block_quant, false},
};

}  // namespace

std::span<const MutatingOp> silu_mul_mutating_ops() { return kMutatingOps; }

Value aiter_act_mul_fp8_group_quant_meta(const Node& node, const Tensor& x, int64_t group_size) {
  const ActShape s = act_shape(x, "x");
  const int64_t g = checked_group(group_size, s.d);
  Shape scale_shape = s.out;
  scale_shape.back() = s.d / g;
  return Value::list({Value::of(Tensor::meta(out_fp8(node, std::nullopt), s.out)),
                      Value::of(Tensor::meta(DType::F32, scale_shape))});
}

Value aiter_act_mul_fp8_group_quant(const Node& node, const Tensor& x, int64_t group_size) {
  const Value m = aiter_act_mul_fp8_group_quant_meta(node, x, group_size);
  const Tensor& qm = m.items[0].tensor;
  const Tensor xc = x.contiguous();
  Tensor q = Tensor::empty(qm.dtype(), qm.shape());
  Tensor sc = Tensor::empty(DType::F32, m.items[1].tensor.shape());
  run_ref(xc, act_shape(xc, "x"), group_args(group_size, qm.dtype()), nullptr, &q, &sc);
  return Value::list({Value::of(std::move(q)), Value::of(std::move(sc))});
}

}  // namespace fxopt::rt::cpu
