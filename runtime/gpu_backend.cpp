// The GPU backend of the executor (built with FXOPT_GPU=nvidia|amd): tensors in device memory, kernels
// from runtime/hip through its host API (gpu_api.h); views and SymInt ops reuse the CPU kernels, which
// only touch shapes. Every kernel computes what runtime/numerics.h specifies, so results equal the CPU's.
#include "runtime/backend.h"

#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU

#include <cmath>
#include <limits>

#include "runtime/cpu/kernels.h"
#include "runtime/hip/gpu_api.h"

namespace fxopt::rt {
namespace {

using cpu::need_arg;
using cpu::tensor_arg;

gpu::DType gdt(DType d) {
  switch (d) {
    case DType::F32: return gpu::DType::f32;
    case DType::F16: return gpu::DType::f16;
    case DType::BF16: return gpu::DType::bf16;
    case DType::F8E4M3FN: return gpu::DType::f8e4m3fn;
    case DType::F8E4M3FNUZ: return gpu::DType::f8e4m3fnuz;
    case DType::F8E5M2: return gpu::DType::f8e5m2;
    case DType::I64: return gpu::DType::i64;
    case DType::I32: return gpu::DType::i32;
    case DType::I16: return gpu::DType::i16;
    case DType::I8: return gpu::DType::i8;
    case DType::U8: return gpu::DType::u8;
    case DType::Bool: return gpu::DType::b8;
    case DType::F64: break;
  }
  throw InputError("float64 is not supported on the GPU");
}

gpu::TensorRef ref(const Tensor& t) {
  if (t.dim() > gpu::kMaxDims) throw InputError("more than 6 dimensions are not supported on the GPU");
  gpu::TensorRef r;
  r.data = t.raw();
  r.dtype = gdt(t.dtype());
  r.ndim = static_cast<int>(t.dim());
  for (int i = 0; i < r.ndim; ++i) {
    r.shape[i] = t.shape()[i];
    r.strides[i] = t.strides()[i];
  }
  return r;
}

Tensor device_empty(DType d, Shape shape) {
  auto s = std::make_shared<Storage>();
  int64_t n = 1;
  for (int64_t x : shape) n *= x;
  s->bytes = static_cast<size_t>(n) * dtype_size(d);
  s->data = static_cast<std::byte*>(gpu::alloc(s->bytes > 0 ? s->bytes : 1));
  s->device = "gpu";
  s->release = [](std::byte* p) { gpu::free(p); };
  return Tensor::from_storage(std::move(s), d, std::move(shape));
}

// A contiguous device copy (converted to `d`).
Tensor copy_as(const Tensor& x, DType d) {
  Tensor out = device_empty(d, x.shape());
  if (x.numel() > 0) gpu::unary(ref(out), ref(x), num::UnaryOp::copy);
  return out;
}
Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : copy_as(x, x.dtype()); }

void float_only(DType d) {
  if (!is_floating(d) || d == DType::F64)
    throw InputError(std::string("this op on ") + dtype_name(d) + " is not supported on the GPU");
}

gpu::Operand operand(const Value& v) {
  if (v.is_tensor()) return gpu::Operand::of(ref(v.tensor));
  if (v.is_number()) return gpu::Operand::of_scalar(v.as_double());
  throw InputError("expected a tensor or a number, got " + describe(v));
}

Shape out_shape(const Value& a, const Value& b) {
  std::vector<Shape> shapes;
  for (const Value* v : {&a, &b})
    if (v->is_tensor()) shapes.push_back(v->tensor.shape());
  return cpu::broadcast_shapes(shapes);
}

template <num::BinaryOp kOp>
Value binary(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = need_arg(in, 0, "self");
  const Value& b = need_arg(in, 1, "other");
  const Value* alpha = in.get(2, "alpha");
  if ((kOp == num::BinaryOp::add || kOp == num::BinaryOp::sub) && alpha && alpha->is_number() && alpha->as_double() != 1.0)
    throw InputError("alpha != 1 is not supported on the GPU");
  if (kOp == num::BinaryOp::div) {
    const Value* mode = in.get(2, "rounding_mode");
    if (mode && mode->kind != Value::Kind::None) throw InputError("rounding_mode is not supported on the GPU");
  }
  const DType rt = cpu::result_type({&a, &b});
  float_only(rt);
  Tensor out = device_empty(rt, out_shape(a, b));
  if (out.numel() > 0) gpu::binary(ref(out), operand(a), operand(b), kOp);
  return Value::of(out);
}

Value unary_op(const KernelArgs& in, num::UnaryOp op, double lo = 0, double hi = 0, const Value* b1 = nullptr,
               const Value* b2 = nullptr) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const Value xv = Value::of(x);
  const DType rt = cpu::result_type({&xv, b1, b2});
  float_only(rt);
  Tensor out = device_empty(rt, x.shape());
  if (out.numel() > 0) gpu::unary(ref(out), ref(x), op, lo, hi);
  return Value::of(out);
}

template <num::UnaryOp kOp>
Value unary(const Node&, const KernelArgs& in, ExecContext&) { return unary_op(in, kOp); }

Value pow_op(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& e = need_arg(in, 1, "exponent");
  if (!e.is_number() || e.as_double() != 2.0) throw InputError("only pow(x, 2) is supported on the GPU");
  return unary_op(in, num::UnaryOp::square, 0, 0, &e);
}

Value clamp_impl(const KernelArgs& in, const Value* lo, const Value* hi) {
  const bool has_lo = lo && lo->kind != Value::Kind::None, has_hi = hi && hi->kind != Value::Kind::None;
  if ((has_lo && !lo->is_number()) || (has_hi && !hi->is_number()))
    throw InputError("clamp bounds must be numbers");
  const double inf = std::numeric_limits<double>::infinity();
  return unary_op(in, num::UnaryOp::clamp, has_lo ? lo->as_double() : -inf, has_hi ? hi->as_double() : inf,
                  has_lo ? lo : nullptr, has_hi ? hi : nullptr);
}
Value clamp(const Node&, const KernelArgs& in, ExecContext&) { return clamp_impl(in, in.get(1, "min"), in.get(2, "max")); }
Value clamp_min(const Node&, const KernelArgs& in, ExecContext&) { return clamp_impl(in, &need_arg(in, 1, "min"), nullptr); }
Value clamp_max(const Node&, const KernelArgs& in, ExecContext&) { return clamp_impl(in, nullptr, &need_arg(in, 1, "max")); }

Value convert(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "a");
  auto d = cpu::dtype_arg(in, 1, "dtype");
  if (!d) throw InputError("convert_element_type needs a dtype");
  return Value::of(copy_as(x, *d));
}
Value to_copy(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto d = cpu::dtype_arg(in, 99, "dtype");
  return Value::of(copy_as(x, d ? *d : x.dtype()));
}
Value clone(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  return Value::of(copy_as(x, x.dtype()));
}

Value reshape(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto sizes = cpu::int_list_arg(in, 1, "shape");
  if (!sizes) throw InputError("reshape needs a shape");
  const Shape shape = cpu::infer_size(*sizes, x.numel());
  if (auto st = cpu::view_strides(x, shape)) return Value::of(x.as_strided(shape, *st, x.offset()));
  Tensor c = contiguous(x);
  return Value::of(c.as_strided(shape, Tensor::contiguous_strides(shape), c.offset()));
}

// Reductions: the kept dims first, the reduced dims last and contiguous, then one last-dim reduction.
Value reduce(const KernelArgs& in, gpu::ReduceOp op, std::optional<std::vector<int64_t>> dims, bool keepdim,
             std::optional<DType> dt, bool with_indices) {
  Tensor x = tensor_arg(in, 0, "self");
  if (dt && *dt != x.dtype()) x = copy_as(x, *dt);
  float_only(x.dtype());
  const int64_t nd = x.dim();
  std::vector<bool> red(static_cast<size_t>(nd), !dims || dims->empty());
  if (dims)
    for (int64_t d : *dims)
      if (nd > 0) red[cpu::wrap_dim(d, nd)] = true;
  Shape keep_shape, out_shape, perm_shape, perm_strides;
  int64_t inner = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[d]) {
      keep_shape.push_back(x.shape()[d]);
      perm_shape.push_back(x.shape()[d]);
      perm_strides.push_back(x.strides()[d]);
    }
    if (!red[d] || keepdim) out_shape.push_back(red[d] ? 1 : x.shape()[d]);
  }
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) {
      perm_shape.push_back(x.shape()[d]);
      perm_strides.push_back(x.strides()[d]);
      inner *= x.shape()[d];
    }
  if (inner == 0 && with_indices) throw InputError("max/min of an empty dimension");
  const Tensor perm = contiguous(x.as_strided(perm_shape, perm_strides, x.offset()));
  Shape rows_shape = keep_shape;
  rows_shape.push_back(inner);
  const Tensor rows = perm.as_strided(rows_shape, Tensor::contiguous_strides(rows_shape), perm.offset());
  Tensor values = device_empty(x.dtype(), keep_shape);
  Tensor indices;
  gpu::TensorRef iref;
  if (with_indices) {
    indices = device_empty(DType::I64, keep_shape);
    iref = ref(indices);
  }
  if (values.numel() > 0) gpu::reduce_last_dim(ref(values), with_indices ? &iref : nullptr, ref(rows), op);
  auto shaped = [&](const Tensor& t) { return t.as_strided(out_shape, Tensor::contiguous_strides(out_shape), t.offset()); };
  if (with_indices) return Value::list({Value::of(shaped(values)), Value::of(shaped(indices))});
  return Value::of(shaped(values));
}

Value sum_dim(const Node&, const KernelArgs& in, ExecContext&) {
  return reduce(in, gpu::ReduceOp::sum, cpu::int_list_arg(in, 1, "dim"), cpu::bool_arg(in, 2, "keepdim", false),
                cpu::dtype_arg(in, 3, "dtype"), false);
}
Value mean_dim(const Node&, const KernelArgs& in, ExecContext&) {
  return reduce(in, gpu::ReduceOp::mean, cpu::int_list_arg(in, 1, "dim"), cpu::bool_arg(in, 2, "keepdim", false),
                cpu::dtype_arg(in, 3, "dtype"), false);
}
template <gpu::ReduceOp kOp>
Value amax(const Node&, const KernelArgs& in, ExecContext&) {
  return reduce(in, kOp, cpu::int_list_arg(in, 1, "dim"), cpu::bool_arg(in, 2, "keepdim", false), std::nullopt, false);
}
template <gpu::ReduceOp kOp>
Value max_dim(const Node&, const KernelArgs& in, ExecContext&) {
  return reduce(in, kOp, std::vector<int64_t>{cpu::int_arg(in, 1, "dim")}, cpu::bool_arg(in, 2, "keepdim", false),
                std::nullopt, true);
}

Value mm(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& a = tensor_arg(in, 0, "self");
  const Tensor& b = tensor_arg(in, 1, "mat2");
  if (a.dim() != 2 || b.dim() != 2 || a.shape()[1] != b.shape()[0] || a.dtype() != b.dtype())
    throw InputError("mm: incompatible operands " + describe(Value::of(a)) + " and " + describe(Value::of(b)));
  float_only(a.dtype());
  Tensor out = device_empty(a.dtype(), {a.shape()[0], b.shape()[1]});
  gpu::matmul(ref(out), ref(a), ref(b));
  return Value::of(out);
}
Value addmm(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& bias = tensor_arg(in, 0, "self");
  const Tensor& a = tensor_arg(in, 1, "mat1");
  const Tensor& b = tensor_arg(in, 2, "mat2");
  if (a.dim() != 2 || b.dim() != 2 || a.shape()[1] != b.shape()[0] || a.dtype() != b.dtype())
    throw InputError("addmm: incompatible operands " + describe(Value::of(a)) + " and " + describe(Value::of(b)));
  float_only(a.dtype());
  const Value* bv = in.get(3, "beta");
  const Value* av = in.get(4, "alpha");
  Tensor out = device_empty(a.dtype(), {a.shape()[0], b.shape()[1]});
  const gpu::TensorRef br = ref(bias);
  gpu::matmul(ref(out), ref(a), ref(b), &br, av && av->is_number() ? static_cast<float>(av->as_double()) : 1.0f,
              bv && bv->is_number() ? static_cast<float>(bv->as_double()) : 1.0f);
  return Value::of(out);
}

// The fused ops: the CPU kernels' argument checks, then the GPU kernels on contiguous buffers.
Tensor bf16c(const KernelArgs& in, size_t i, const char* name) {
  const Tensor& t = tensor_arg(in, i, name);
  if (t.dtype() != DType::BF16) throw InputError(std::string("argument '") + name + "' must be bfloat16");
  return contiguous(t);
}
DType fp8_of(const Node& n, std::optional<DType> given) {
  const DType d = given ? *given : cpu::meta_dtype(n, 0).value_or(DType::F8E4M3FN);
  if (d != DType::F8E4M3FN && d != DType::F8E4M3FNUZ) throw InputError("the quantised output must be e4m3fn or e4m3fnuz");
  return d;
}
Shape with_last(Shape s, int64_t v) {
  s.back() = v;
  return s;
}

Value fused_rms_gated(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16c(in, 0, "x"), w = bf16c(in, 1, "weight"), z = bf16c(in, 3, "z");
  const Value* bias = in.get(2, "bias");
  if (bias && bias->kind != Value::Kind::None) throw InputError("a bias is not supported (must be None)");
  if (!cpu::bool_arg(in, 5, "norm_before_gate", true)) throw InputError("norm_before_gate=False is not supported");
  const Value* act = in.get(6, "activation");
  if (act && !(act->kind == Value::Kind::Str && act->s == "silu")) throw InputError("activation must be \"silu\"");
  const int64_t d = x.shape().back(), g = cpu::int_arg(in, 7, "group_size");
  if (g <= 0 || d % g != 0) throw InputError("group_size " + std::to_string(g) + " does not divide " + std::to_string(d));
  if (z.shape() != x.shape() || w.numel() != d) throw InputError("x, z and weight shapes do not agree");
  const DType qd = fp8_of(node, std::nullopt);
  Tensor q = device_empty(qd, x.shape()), s = device_empty(DType::F32, with_last(x.shape(), d / g));
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  if (m > 0)
    gpu::fused_rms_gated_fp8_group_quant(q.data<uint8_t>(), s.data<float>(), x.data<uint16_t>(), w.data<uint16_t>(),
                                         z.data<uint16_t>(), m, d, cpu::number_arg(in, 4, "eps"), g, fp8_format(qd));
  return Value::list({Value::of(q), Value::of(s)});
}

Value group_quant(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16c(in, 0, "x");
  const int64_t k = x.shape().back(), g = cpu::int_arg(in, 1, "group_size");
  if (g <= 0 || k % g != 0) throw InputError("group_size " + std::to_string(g) + " does not divide " + std::to_string(k));
  const DType qd = fp8_of(node, std::nullopt);
  Tensor q = device_empty(qd, x.shape()), s = device_empty(DType::F32, with_last(x.shape(), k / g));
  const int64_t m = x.numel() / std::max<int64_t>(k, 1);
  if (m > 0) gpu::group_fp8_quant(q.data<uint8_t>(), s.data<float>(), x.data<uint16_t>(), m, k, g, fp8_format(qd));
  return Value::list({Value::of(q), Value::of(s)});
}

Value rmsnorm_quant(const Node& node, const KernelArgs& in, ExecContext&) {
  const Tensor x = bf16c(in, 0, "x"), w = bf16c(in, 1, "weight");
  const int64_t d = x.shape().back();
  if (w.numel() != d) throw InputError("weight does not match the last dimension");
  const DType qd = fp8_of(node, cpu::dtype_arg(in, 3, "quant_dtype"));
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  Tensor q = device_empty(qd, x.shape()), s = device_empty(DType::F32, {m, 1});
  if (m > 0)
    gpu::rmsnorm_dynamic_quant(q.data<uint8_t>(), s.data<float>(), x.data<uint16_t>(), w.data<uint16_t>(), m, d,
                               cpu::number_arg(in, 2, "epsilon"), fp8_format(qd));
  return Value::list({Value::of(q), Value::of(s)});
}

class GpuBackend;
const GpuBackend* g_instance = nullptr;

// Under gpu::timing_enabled() (fxopt run --timing) each node is one interval of gpu::timing_begin/end:
// its kernels' own event pairs (recorded around each launch in runtime/hip) are summed into it, so the
// host code of the node (argument checks, output allocation) is not timed. Intervals that launched no
// kernel (views, SymInt ops) are dropped. Output buffers come from gpu::alloc's caching allocator and
// go back to it when the executor drops a value after its last use.
Value timed(const Node& node, const KernelArgs& in, ExecContext& ctx);

class GpuBackend final : public Backend {
 public:
  GpuBackend() {
    // Views and SymInt ops only read shapes: the CPU kernels serve.
    for (const char* k : {"aten.squeeze.default", "aten.squeeze.dim", "aten.squeeze.dims", "aten.unsqueeze.default",
                          "aten.permute.default", "aten.transpose.int", "aten.t.default", "aten.expand.default",
                          "aten.alias.default", "_operator.getitem", "aten.sym_size.int", "aten.sym_stride.int",
                          "aten.sym_numel.default", "_operator.add", "_operator.sub", "_operator.mul",
                          "_operator.truediv", "_operator.floordiv", "_operator.mod", "_operator.pow", "_operator.neg",
                          "torch.sym_float"})
      t_[k] = cpu_backend().find_kernel(k);
    for (const char* k : {"aten.reshape.default", "aten.view.default", "aten._unsafe_view.default"}) t_[k] = reshape;
    for (const char* k : {"aten.add.Tensor", "aten.add.Scalar"}) t_[k] = binary<num::BinaryOp::add>;
    for (const char* k : {"aten.sub.Tensor", "aten.sub.Scalar"}) t_[k] = binary<num::BinaryOp::sub>;
    for (const char* k : {"aten.mul.Tensor", "aten.mul.Scalar"}) t_[k] = binary<num::BinaryOp::mul>;
    for (const char* k : {"aten.div.Tensor", "aten.div.Scalar"}) t_[k] = binary<num::BinaryOp::div>;
    t_["aten.maximum.default"] = binary<num::BinaryOp::maximum>;
    t_["aten.minimum.default"] = binary<num::BinaryOp::minimum>;
    t_["aten.neg.default"] = unary<num::UnaryOp::neg>;
    t_["aten.abs.default"] = unary<num::UnaryOp::abs>;
    t_["aten.exp.default"] = unary<num::UnaryOp::exp>;
    t_["aten.rsqrt.default"] = unary<num::UnaryOp::rsqrt>;
    t_["aten.sqrt.default"] = unary<num::UnaryOp::sqrt>;
    t_["aten.reciprocal.default"] = unary<num::UnaryOp::reciprocal>;
    t_["aten.relu.default"] = unary<num::UnaryOp::relu>;
    t_["aten.sigmoid.default"] = unary<num::UnaryOp::sigmoid>;
    t_["aten.silu.default"] = unary<num::UnaryOp::silu>;
    t_["aten.pow.Tensor_Scalar"] = pow_op;
    t_["aten.clamp.default"] = clamp;
    t_["aten.clamp_min.default"] = clamp_min;
    t_["aten.clamp_max.default"] = clamp_max;
    t_["prims.convert_element_type.default"] = convert;
    t_["aten._to_copy.default"] = to_copy;
    t_["aten.clone.default"] = clone;
    t_["aten.sum.dim_IntList"] = sum_dim;
    t_["aten.mean.dim"] = mean_dim;
    t_["aten.amax.default"] = amax<gpu::ReduceOp::amax>;
    t_["aten.amin.default"] = amax<gpu::ReduceOp::amin>;
    t_["aten.max.dim"] = max_dim<gpu::ReduceOp::max>;
    t_["aten.min.dim"] = max_dim<gpu::ReduceOp::min>;
    t_["aten.mm.default"] = mm;
    t_["aten.addmm.default"] = addmm;
    t_["vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"] = fused_rms_gated;
    t_["vllm.rocm_aiter_group_fp8_quant.default"] = group_quant;
    t_["vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default"] = rmsnorm_quant;
    g_instance = this;
  }
  std::string_view device_name() const override { return "gpu"; }
  Kernel find_kernel(std::string_view target) const override {
    const Kernel k = raw_kernel(target);
    return k && gpu::timing_enabled() ? timed : k;
  }
  Kernel raw_kernel(std::string_view target) const {
    auto it = t_.find(std::string(target));
    return it == t_.end() ? nullptr : it->second;
  }
  Tensor upload(const Tensor& host) const override {
    const Tensor c = host.contiguous();
    Tensor d = device_empty(c.dtype(), c.shape());
    if (d.storage()->bytes) gpu::copy_to_device(d.raw(), c.raw(), d.storage()->bytes);
    return d;
  }
  Tensor download(const Tensor& t) const override {
    const uint64_t l0 = gpu::kernel_launches();
    const int ticket = gpu::timing_begin();
    const Tensor c = contiguous(t);
    const uint64_t launched = gpu::kernel_launches() - l0;
    gpu::timing_end(ticket, "(output copy)", launched, launched > 0);
    Tensor h = Tensor::empty(c.dtype(), c.shape());
    const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    if (bytes) gpu::copy_to_host(h.raw(), c.raw(), bytes);
    return h;
  }

 private:
  KernelTable t_;
};

Value timed(const Node& node, const KernelArgs& in, ExecContext& ctx) {
  const Kernel k = g_instance->raw_kernel(node.target);
  const uint64_t l0 = gpu::kernel_launches();
  const int ticket = gpu::timing_begin();
  Value v = k(node, in, ctx);
  const uint64_t launched = gpu::kernel_launches() - l0;
  gpu::timing_end(ticket, node.name, launched, launched > 0);
  return v;
}

}  // namespace

const Backend& gpu_backend() {
  if (!gpu::device_available()) throw InputError("--device gpu: no GPU device is available");
  static const GpuBackend b;
  return b;
}

}  // namespace fxopt::rt

#endif  // FXOPT_HAVE_GPU
