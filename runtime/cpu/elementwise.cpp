// Elementwise CPU kernels: arithmetic with broadcasting and PyTorch type promotion (Tensor and Scalar
// overloads), unary math, clamps. bf16/fp16 compute in float32 and round once per op, as PyTorch's CPU
// kernels do; a Python number operand enters as float32 (its opmath value), never rounded to bf16 first.
#include <cmath>

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// The compute domain of a result dtype: double for float64, float for the other floats, int64 otherwise.
enum class Domain { F32, F64, I64 };
Domain domain_of(DType d) { return d == DType::F64 ? Domain::F64 : is_floating(d) ? Domain::F32 : Domain::I64; }

template <class C>
C number_as(const Value& v) {
  if constexpr (std::is_same_v<C, int64_t>) {
    if (v.kind == Value::Kind::Float) return float_to_int<int64_t>(v.f);
    return v.kind == Value::Kind::Int ? v.i : static_cast<int64_t>(v.b);
  } else {
    return static_cast<C>(v.as_double());
  }
}

template <class C, class F>
Value apply_binary(const Value& a, const Value& b, DType out, F f) {
  if (a.is_tensor() && b.is_tensor())
    return Value::of(map_n<C, 2>(out, std::array<const Tensor*, 2>{&a.tensor, &b.tensor}, f));
  if (a.is_tensor() && b.is_number()) {
    const C s = number_as<C>(b);
    return Value::of(map_n<C, 1>(out, std::array<const Tensor*, 1>{&a.tensor}, [&](C x) { return f(x, s); }));
  }
  if (b.is_tensor() && a.is_number()) {
    const C s = number_as<C>(a);
    return Value::of(map_n<C, 1>(out, std::array<const Tensor*, 1>{&b.tensor}, [&](C x) { return f(s, x); }));
  }
  throw InputError("expected a tensor and a tensor or number, got " + describe(a) + " and " + describe(b));
}

// Calls apply_binary in the domain of `compute`; f must accept float, double and int64_t.
template <class F>
Value binary_in(const Value& a, const Value& b, DType out, DType compute, F f) {
  switch (domain_of(compute)) {
    case Domain::F32: return apply_binary<float>(a, b, out, f);
    case Domain::F64: return apply_binary<double>(a, b, out, f);
    default: return apply_binary<int64_t>(a, b, out, f);
  }
}

const Value& self_of(const KernelArgs& in) { return need_arg(in, 0, "self"); }
const Value& other_of(const KernelArgs& in) { return need_arg(in, 1, "other"); }

// add/sub: a + alpha*b, a - alpha*b.
template <int kSign>
Value add_sub(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = other_of(in);
  const DType rt = result_type({&a, &b});
  const Value* alpha = in.get(2, "alpha");
  if (alpha && alpha->is_number() && alpha->as_double() != 1.0) {
    const double al = alpha->as_double();
    return binary_in(a, b, rt, rt, [al](auto x, auto y) {
      using C = decltype(x);
      return kSign > 0 ? x + static_cast<C>(al) * y : x - static_cast<C>(al) * y;
    });
  }
  return binary_in(a, b, rt, rt, [](auto x, auto y) { return kSign > 0 ? x + y : x - y; });
}

Value mul(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = other_of(in);
  const DType rt = result_type({&a, &b});
  if (rt == DType::Bool) return binary_in(a, b, rt, rt, [](auto x, auto y) { return (x != 0 && y != 0) ? 1 : 0; });
  return binary_in(a, b, rt, rt, [](auto x, auto y) { return x * y; });
}

template <class C>
C floor_div(C x, C y) {
  if constexpr (std::is_integral_v<C>) {
    if (y == 0) return 0;
    C q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
    return q;
  } else {
    return std::floor(x / y);
  }
}

// aten.div.Tensor / div.Scalar (true division; integers promote to float32), div.Tensor_mode (trunc, floor).
Value div(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = other_of(in);
  DType rt = result_type({&a, &b});
  const Value* mode = in.get(2, "rounding_mode");
  if (!mode || mode->kind == Value::Kind::None) {
    if (is_integral(rt)) rt = DType::F32;
    return binary_in(a, b, rt, rt, [](auto x, auto y) {
      using C = decltype(x);
      if constexpr (std::is_integral_v<C>) return y == 0 ? C{0} : x / y;
      else return x / y;
    });
  }
  if (mode->kind != Value::Kind::Str || (mode->s != "trunc" && mode->s != "floor"))
    throw InputError("rounding_mode must be None, 'trunc' or 'floor', got " + describe(*mode));
  if (mode->s == "trunc")
    return binary_in(a, b, rt, rt, [](auto x, auto y) {
      using C = decltype(x);
      if constexpr (std::is_integral_v<C>) return y == 0 ? C{0} : x / y;
      else return std::trunc(x / y);
    });
  return binary_in(a, b, rt, rt, [](auto x, auto y) { return floor_div(x, y); });
}

Value maximum(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = other_of(in);
  const DType rt = result_type({&a, &b});
  return binary_in(a, b, rt, rt, [](auto x, auto y) { return (x != x) ? x : (y != y) ? y : (x > y ? x : y); });
}

Value minimum(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = other_of(in);
  const DType rt = result_type({&a, &b});
  return binary_in(a, b, rt, rt, [](auto x, auto y) { return (x != x) ? x : (y != y) ? y : (x < y ? x : y); });
}

template <class C>
C int_pow(C base, C e) {
  if (e < 0) return base == 1 ? 1 : (base == -1 ? ((e & 1) ? -1 : 1) : 0);
  C r = 1;
  while (e) {
    if (e & 1) r *= base;
    base *= base;
    e >>= 1;
  }
  return r;
}

// pow.Tensor_Scalar with PyTorch's special cases (x*x for 2, sqrt for 0.5, ...), pow.Tensor_Tensor.
Value pow_op(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = self_of(in);
  const Value& b = need_arg(in, 1, "exponent");
  const DType rt = result_type({&a, &b});
  if (a.is_tensor() && b.is_number() && domain_of(rt) != Domain::I64) {
    const double e = b.as_double();
    return binary_in(a, b, rt, rt, [e](auto x, auto) {
      using C = decltype(x);
      if constexpr (std::is_integral_v<C>) {
        return x;  // unreachable: integer results take the integer branch below
      } else {
      if (e == 2.0) return x * x;
      if (e == 3.0) return x * x * x;
      if (e == 1.0) return x;
      if (e == 0.5) return std::sqrt(x);
      if (e == -0.5) return C{1} / std::sqrt(x);
      if (e == -1.0) return C{1} / x;
      if (e == -2.0) return C{1} / (x * x);
      return static_cast<C>(std::pow(x, static_cast<C>(e)));
      }
    });
  }
  return binary_in(a, b, rt, rt, [](auto x, auto y) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) return int_pow(x, y);
    else return static_cast<C>(std::pow(x, y));
  });
}

// Unary ops that keep the dtype (ints stay ints).
template <class F>
Value unary_same(const KernelArgs& in, F f) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const DType d = x.dtype();
  switch (domain_of(d)) {
    case Domain::F32: return Value::of(map_n<float, 1>(d, std::array<const Tensor*, 1>{&x}, f));
    case Domain::F64: return Value::of(map_n<double, 1>(d, std::array<const Tensor*, 1>{&x}, f));
    default: return Value::of(map_n<int64_t, 1>(d, std::array<const Tensor*, 1>{&x}, f));
  }
}

// Unary float ops: integer inputs give float32.
template <class F32, class F64>
Value unary_float(const KernelArgs& in, F32 f, F64 g) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const DType d = is_integral(x.dtype()) ? DType::F32 : x.dtype();
  if (d == DType::F64) return Value::of(map_n<double, 1>(d, std::array<const Tensor*, 1>{&x}, g));
  return Value::of(map_n<float, 1>(d, std::array<const Tensor*, 1>{&x}, f));
}

Value neg(const Node&, const KernelArgs& in, ExecContext&) { return unary_same(in, [](auto x) { return -x; }); }
// Floats follow num::apply_unary bit for bit (the GPU kernels' contract): abs clears the sign bit,
// relu maps -0 to +0 and keeps NaN.
Value abs_op(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_same(in, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_same_v<C, float>) return num::apply_unary(num::UnaryOp::abs, x);
    else if constexpr (std::is_same_v<C, double>) return std::fabs(x);
    else return x < 0 ? -x : x;
  });
}
Value relu(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_same(in, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_same_v<C, float>) return num::apply_unary(num::UnaryOp::relu, x);
    else return (x > 0 || x != x) ? x : C{0};
  });
}
Value exp_op(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return num::fx_expf(x); }, [](double x) { return std::exp(x); });
}
Value rsqrt(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return num::fx_rsqrtf(x); }, [](double x) { return 1.0 / std::sqrt(x); });
}
Value sqrt_op(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return std::sqrt(x); }, [](double x) { return std::sqrt(x); });
}
Value reciprocal(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return 1.0f / x; }, [](double x) { return 1.0 / x; });
}
Value sigmoid(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return 1.0f / (1.0f + num::fx_expf(-x)); },
                     [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
}
Value silu(const Node&, const KernelArgs& in, ExecContext&) {
  return unary_float(in, [](float x) { return num::fx_silu(x); }, [](double x) { return x / (std::exp(-x) + 1.0); });
}

// clamp(x, min, max) as PyTorch: min(max(x, lo), hi), NaN propagating; None means unbounded.
Value clamp_impl(const KernelArgs& in, const Value* lo, const Value* hi) {
  const Value& x = self_of(in);
  if (!x.is_tensor()) throw InputError("clamp expects a tensor, got " + describe(x));
  const bool has_lo = lo && lo->kind != Value::Kind::None;
  const bool has_hi = hi && hi->kind != Value::Kind::None;
  if ((has_lo && !lo->is_number()) || (has_hi && !hi->is_number()))
    throw InputError("clamp bounds must be numbers (tensor bounds are not supported)");
  if (!has_lo && !has_hi) throw InputError("clamp needs at least one of min and max");
  const DType rt = result_type({&x, has_lo ? lo : nullptr, has_hi ? hi : nullptr});
  auto run = [&](auto tag) {
    using C = decltype(tag);
    const C cl = number_as<C>(has_lo ? *lo : Value::real(0)), ch = number_as<C>(has_hi ? *hi : Value::real(0));
    return Value::of(map_n<C, 1>(rt, std::array<const Tensor*, 1>{&x.tensor}, [=](C v) {
      if (has_lo) v = v < cl ? cl : v;
      if (has_hi) v = v > ch ? ch : v;
      return v;
    }));
  };
  switch (domain_of(rt)) {
    case Domain::F32: return run(0.0f);
    case Domain::F64: return run(0.0);
    default: return run(int64_t{0});
  }
}

Value clamp(const Node&, const KernelArgs& in, ExecContext&) { return clamp_impl(in, in.get(1, "min"), in.get(2, "max")); }
Value clamp_min(const Node&, const KernelArgs& in, ExecContext&) {
  return clamp_impl(in, &need_arg(in, 1, "min"), nullptr);
}
Value clamp_max(const Node&, const KernelArgs& in, ExecContext&) {
  return clamp_impl(in, nullptr, &need_arg(in, 1, "max"));
}

}  // namespace

void register_elementwise(KernelTable& t) {
  for (const char* k : {"aten.add.Tensor", "aten.add.Scalar"}) t[k] = add_sub<1>;
  for (const char* k : {"aten.sub.Tensor", "aten.sub.Scalar"}) t[k] = add_sub<-1>;
  for (const char* k : {"aten.mul.Tensor", "aten.mul.Scalar"}) t[k] = mul;
  for (const char* k : {"aten.div.Tensor", "aten.div.Scalar", "aten.div.Tensor_mode", "aten.div.Scalar_mode"}) t[k] = div;
  t["aten.maximum.default"] = maximum;
  t["aten.minimum.default"] = minimum;
  for (const char* k : {"aten.pow.Tensor_Scalar", "aten.pow.Tensor_Tensor"}) t[k] = pow_op;
  t["aten.neg.default"] = neg;
  t["aten.abs.default"] = abs_op;
  t["aten.relu.default"] = relu;
  t["aten.exp.default"] = exp_op;
  t["aten.rsqrt.default"] = rsqrt;
  t["aten.sqrt.default"] = sqrt_op;
  t["aten.reciprocal.default"] = reciprocal;
  t["aten.sigmoid.default"] = sigmoid;
  t["aten.silu.default"] = silu;
  t["aten.clamp.default"] = clamp;
  t["aten.clamp_min.default"] = clamp_min;
  t["aten.clamp_max.default"] = clamp_max;
}

}  // namespace fxopt::rt::cpu
