// Elementwise CPU kernels: arithmetic with broadcasting and PyTorch type promotion (Tensor and Scalar
// overloads), comparisons, logical and bitwise ops, where, unary math, clamps. bf16/fp16 compute in
// float32 and round once per op, as PyTorch's CPU kernels do; a Python number operand enters as float32
// (its opmath value), never rounded to bf16 first. The result dtype and shape come from the op's meta
// rule (runtime/ops/elementwise.cpp).
#include <cmath>

#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {
namespace {

template <class C>
C number_as(const Value& v) {
  if constexpr (std::is_same_v<C, int64_t>) {
    if (v.kind == Value::Kind::Float) return float_to_int<int64_t>(v.f);
    return v.kind == Value::Kind::Int ? v.i : static_cast<int64_t>(v.b);
  } else {
    return static_cast<C>(v.as_double());
  }
}

// out = f(x...) over the broadcast operands (tensors or numbers; N = 1, 2 or 3), computing in C.
template <class C, size_t N, class F>
Value apply_values(DType out, const Value* const (&ops)[N], F f) {
  static_assert(N >= 1 && N <= 3);
  if constexpr (N == 1) {
    return Value::of(map_n<C, 1>(out, std::array<const Tensor*, 1>{&ops[0]->tensor}, f));
  } else if constexpr (N == 2) {
    const Value& p = *ops[0];
    const Value& q = *ops[1];
    if (p.is_tensor() && q.is_tensor())
      return Value::of(map_n<C, 2>(out, std::array<const Tensor*, 2>{&p.tensor, &q.tensor}, f));
    if (q.is_tensor()) {
      const C s = number_as<C>(p);
      return Value::of(map_n<C, 1>(out, std::array<const Tensor*, 1>{&q.tensor}, [&](C y) { return f(s, y); }));
    }
    if (!p.is_tensor()) throw InputError("expected at least one tensor operand");
    const C s = number_as<C>(q);
    return Value::of(map_n<C, 1>(out, std::array<const Tensor*, 1>{&p.tensor}, [&](C x) { return f(x, s); }));
  } else {
    // Numbers become 0-d tensors of the compute type.
    const DType cd = std::is_same_v<C, float> ? DType::F32 : std::is_same_v<C, double> ? DType::F64 : DType::I64;
    Tensor holders[3];
    std::array<const Tensor*, 3> t3{};
    for (size_t k = 0; k < 3; ++k) {
      if (ops[k]->is_tensor()) {
        t3[k] = &ops[k]->tensor;
      } else {
        holders[k] = Tensor::empty(cd, {});
        store_elem<C>(cd, holders[k].raw(), number_as<C>(*ops[k]));
        t3[k] = &holders[k];
      }
    }
    return Value::of(map_n<C, 3>(out, t3, f));
  }
}

// Runs f (a generic lambda over float, double and int64_t) in the domain of `compute`.
template <size_t N, class F>
Value apply_in(DType out, DType compute, const Value* const (&ops)[N], F f) {
  switch (domain_of(compute)) {
    case Domain::F32: return apply_values<float>(out, ops, f);
    case Domain::F64: return apply_values<double>(out, ops, f);
    default: return apply_values<int64_t>(out, ops, f);
  }
}

DType out_dtype(const OpArgs& a) { return a.out_meta().dtype(); }

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

}  // namespace

Domain domain_of(DType d) { return d == DType::F64 ? Domain::F64 : is_floating(d) ? Domain::F32 : Domain::I64; }

// add/sub: a + alpha*b, a - alpha*b (bool: logical or / not defined).
template <int kSign>
Value add_sub(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  const double al = a.f64(2);
  if (al != 1.0) {
    return apply_in(rt, rt, {&a[0], &a[1]}, [al](auto x, auto y) {
      using C = decltype(x);
      return kSign > 0 ? x + static_cast<C>(al) * y : x - static_cast<C>(al) * y;
    });
  }
  if (rt == DType::Bool) return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return (x != 0 || y != 0) ? 1 : 0; });
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return kSign > 0 ? x + y : x - y; });
}
template Value add_sub<1>(const OpArgs&, ExecContext&);
template Value add_sub<-1>(const OpArgs&, ExecContext&);

// rsub(self, other, alpha=1) = other - alpha*self.
Value rsub(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  const double al = a.f64(2);
  return apply_in(rt, rt, {&a[0], &a[1]}, [al](auto x, auto y) {
    using C = decltype(x);
    return al == 1.0 ? y - x : y - static_cast<C>(al) * x;
  });
}

Value mul(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  if (rt == DType::Bool) return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return (x != 0 && y != 0) ? 1 : 0; });
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return x * y; });
}

// div: true division (integers promote to float32 in the meta rule), or rounding_mode trunc/floor.
Value div(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  const bool has_mode = a.size() > 2 && !a.is_none(2);
  if (!has_mode)
    return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return x / y; });
  const std::string& mode = a.str(2);
  if (mode != "trunc" && mode != "floor")
    throw InputError("rounding_mode must be None, 'trunc' or 'floor', got \"" + mode + "\"");
  if (is_integral(rt)) {
    // Integer division by zero raises in PyTorch ("ZeroDivisionError"); an error here too.
    const bool floor = mode == "floor";
    return apply_in(rt, rt, {&a[0], &a[1]}, [floor](auto x, auto y) {
      using C = decltype(x);
      if constexpr (std::is_integral_v<C>) {
        if (y == 0) throw InputError("integer division by zero");
        return floor ? floor_div(x, y) : x / y;
      } else {
        return floor ? std::floor(x / y) : std::trunc(x / y);
      }
    });
  }
  if (mode == "trunc") return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return std::trunc(x / y); });
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) {
    using C = decltype(x);
    // PyTorch's div_floor_floating: fmod-based, so floor(x/y) is exact near integers.
    if constexpr (std::is_integral_v<C>) {
      return x;
    } else {
      if (y == 0) return x / y;
      C mod = std::fmod(x, y);
      C d = (x - mod) / y;
      if (mod != 0 && ((y < 0) != (mod < 0))) d -= 1;
      C fl;
      if (d != 0) {
        fl = std::floor(d);
        if (d - fl > C(0.5)) fl += 1;
      } else {
        fl = std::copysign(C(0), x / y);
      }
      return fl;
    }
  });
}

// remainder: Python modulo (sign of the divisor); fmod: C fmod (sign of the dividend).
Value remainder(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      if (y == 0) throw InputError("integer remainder by zero");
      C r = x % y;
      return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    } else {
      C r = std::fmod(x, y);
      return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
    }
  });
}
Value fmod(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      if (y == 0) throw InputError("integer fmod by zero");
      return x % y;
    } else {
      return std::fmod(x, y);
    }
  });
}

Value maximum(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return (x != x) ? x : (y != y) ? y : (x > y ? x : y); });
}
Value minimum(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto x, auto y) { return (x != x) ? x : (y != y) ? y : (x < y ? x : y); });
}

// pow with PyTorch's special cases for a scalar exponent (x*x for 2, sqrt for 0.5, ...).
Value pow_op(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  const Value& b = a[1];
  if (a[0].is_tensor() && b.is_number() && domain_of(rt) != Domain::I64) {
    const double e = b.as_double();
    return apply_in(rt, rt, {&a[0]}, [e](auto x) {
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
  return apply_in(rt, rt, {&a[0], &b}, [](auto x, auto y) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) {
      if (y < 0 && x != 1 && x != -1) throw InputError("integers to negative integer powers are not allowed");
      return int_pow(x, y);
    } else {
      return static_cast<C>(std::pow(x, y));
    }
  });
}

// Comparisons: computed in the promoted dtype of the operands, result bool.
template <int kOp>
Value compare(const OpArgs& a, ExecContext&) {
  const DType ct = result_type({&a[0], &a[1]});
  return apply_in(DType::Bool, ct, {&a[0], &a[1]}, [](auto x, auto y) {
    using C = decltype(x);
    bool r = false;
    switch (kOp) {
      case 0: r = x == y; break;
      case 1: r = x != y; break;
      case 2: r = x < y; break;
      case 3: r = x <= y; break;
      case 4: r = x > y; break;
      default: r = x >= y; break;
    }
    return static_cast<C>(r);
  });
}
template Value compare<0>(const OpArgs&, ExecContext&);
template Value compare<1>(const OpArgs&, ExecContext&);
template Value compare<2>(const OpArgs&, ExecContext&);
template Value compare<3>(const OpArgs&, ExecContext&);
template Value compare<4>(const OpArgs&, ExecContext&);
template Value compare<5>(const OpArgs&, ExecContext&);

// logical_and/or/xor: truthiness of each operand (NaN is true), result bool.
template <int kOp>
Value logical(const OpArgs& a, ExecContext&) {
  const DType ct = result_type({&a[0], &a[1]});
  return apply_in(DType::Bool, ct, {&a[0], &a[1]}, [](auto x, auto y) {
    using C = decltype(x);
    const bool p = x != C{0}, q = y != C{0};
    return static_cast<C>(kOp == 0 ? (p && q) : kOp == 1 ? (p || q) : (p != q));
  });
}
template Value logical<0>(const OpArgs&, ExecContext&);
template Value logical<1>(const OpArgs&, ExecContext&);
template Value logical<2>(const OpArgs&, ExecContext&);

Value logical_not(const OpArgs& a, ExecContext&) {
  const DType ct = a.tensor(0).dtype();
  return apply_in(DType::Bool, ct, {&a[0]}, [](auto x) {
    using C = decltype(x);
    return static_cast<C>(x == C{0});
  });
}

// bitwise_and/or/xor on integers and bool (the meta rule rejects floats).
template <int kOp>
Value bitwise(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_values<int64_t>(rt, {&a[0], &a[1]}, [](int64_t x, int64_t y) {
    return kOp == 0 ? (x & y) : kOp == 1 ? (x | y) : (x ^ y);
  });
}
template Value bitwise<0>(const OpArgs&, ExecContext&);
template Value bitwise<1>(const OpArgs&, ExecContext&);
template Value bitwise<2>(const OpArgs&, ExecContext&);

Value bitwise_not(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  if (rt == DType::Bool) return apply_values<int64_t>(rt, {&a[0]}, [](int64_t x) -> int64_t { return x == 0; });
  return apply_values<int64_t>(rt, {&a[0]}, [](int64_t x) { return ~x; });
}

// where(cond, self, other): the meta rule gives the promoted dtype of self and other.
Value where(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1], &a[2]}, [](auto c, auto x, auto y) { return c != decltype(c){0} ? x : y; });
}

// masked_fill(self, mask, value) = where(mask, value, self) in self's dtype.
Value masked_fill(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[1], &a[2], &a[0]}, [](auto m, auto v, auto x) { return m != decltype(m){0} ? v : x; });
}

// ---- unary ----

namespace {
// Unary float ops: integer inputs give float32 (the meta rule's dtype); f computes in float32, g in float64.
template <class F, class G>
Value unary_float(const OpArgs& a, F f, G g) {
  const DType d = out_dtype(a);
  const Tensor& x = a.tensor(0);
  if (d == DType::F64) return Value::of(map_n<double, 1>(d, std::array<const Tensor*, 1>{&x}, g));
  return Value::of(map_n<float, 1>(d, std::array<const Tensor*, 1>{&x}, f));
}
}  // namespace

#define FXOPT_UNARY_FLOAT(name, expr)                                                     \
  Value name(const OpArgs& a, ExecContext&) {                                             \
    return unary_float(a, [](float x) -> float { return expr; }, [](double x) -> double { return expr; }); \
  }
FXOPT_UNARY_FLOAT(log_op, std::log(x))
FXOPT_UNARY_FLOAT(log1p_op, std::log1p(x))
FXOPT_UNARY_FLOAT(log2_op, std::log2(x))
FXOPT_UNARY_FLOAT(expm1_op, std::expm1(x))
FXOPT_UNARY_FLOAT(exp2_op, std::exp2(x))
FXOPT_UNARY_FLOAT(erf_op, std::erf(x))
FXOPT_UNARY_FLOAT(erfc_op, std::erfc(x))
FXOPT_UNARY_FLOAT(sin_op, std::sin(x))
FXOPT_UNARY_FLOAT(cos_op, std::cos(x))
FXOPT_UNARY_FLOAT(tan_op, std::tan(x))
FXOPT_UNARY_FLOAT(tanh_op, std::tanh(x))
FXOPT_UNARY_FLOAT(atan_op, std::atan(x))
FXOPT_UNARY_FLOAT(sqrt_op, std::sqrt(x))
FXOPT_UNARY_FLOAT(reciprocal, 1 / x)
#undef FXOPT_UNARY_FLOAT

// exp, rsqrt, sigmoid and silu in float32 follow runtime/numerics.h bit for bit (the GPU kernels' contract).
Value exp_op(const OpArgs& a, ExecContext&) {
  return unary_float(a, [](float x) { return num::fx_expf(x); }, [](double x) { return std::exp(x); });
}
Value rsqrt(const OpArgs& a, ExecContext&) {
  return unary_float(a, [](float x) { return num::fx_rsqrtf(x); }, [](double x) { return 1.0 / std::sqrt(x); });
}
Value sigmoid(const OpArgs& a, ExecContext&) {
  return unary_float(a, [](float x) { return 1.0f / (1.0f + num::fx_expf(-x)); },
                     [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
}
Value silu(const OpArgs& a, ExecContext&) {
  return unary_float(a, [](float x) { return num::fx_silu(x); }, [](double x) { return x / (std::exp(-x) + 1.0); });
}
// gelu(x, approximate='none'|'tanh') as PyTorch's CPU kernel.
Value gelu(const OpArgs& a, ExecContext&) {
  const std::string& mode = a.str(1);
  if (mode == "tanh")
    return unary_float(
        a,
        [](float x) {
          const float k = 0.7978845608028654f, c = 0.044715f;
          return 0.5f * x * (1.0f + std::tanh(k * (x + c * x * x * x)));
        },
        [](double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); });
  if (mode != "none") throw InputError("gelu: approximate must be 'none' or 'tanh', got \"" + mode + "\"");
  return unary_float(a, [](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); },
                     [](double x) { return 0.5 * x * (1.0 + std::erf(x * 0.7071067811865476)); });
}
// softplus(x, beta=1, threshold=20): x where x*beta > threshold, else log1p(exp(x*beta))/beta.
Value softplus(const OpArgs& a, ExecContext&) {
  const double beta = a.f64(1), th = a.f64(2);
  const float bf = static_cast<float>(beta), tf = static_cast<float>(th);
  return unary_float(a, [=](float x) { return x * bf > tf ? x : std::log1p(std::exp(x * bf)) / bf; },
                     [=](double x) { return x * beta > th ? x : std::log1p(std::exp(x * beta)) / beta; });
}

namespace {
// Unary ops that keep the dtype (ints stay ints): f must accept float, double and int64_t.
template <class F>
Value unary_same(const OpArgs& a, F f) {
  const Tensor& x = a.tensor(0);
  return apply_in(out_dtype(a), x.dtype(), {&a[0]}, f);
}
}  // namespace

Value neg(const OpArgs& a, ExecContext&) { return unary_same(a, [](auto x) { return -x; }); }
// Floats follow num::apply_unary bit for bit (the GPU kernels' contract): abs clears the sign bit,
// relu keeps NaN and -0 (PyTorch's clamp_min(x, 0)).
Value abs_op(const OpArgs& a, ExecContext&) {
  return unary_same(a, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_same_v<C, float>) return num::apply_unary(num::UnaryOp::abs, x);
    else if constexpr (std::is_same_v<C, double>) return std::fabs(x);
    else return x < 0 ? -x : x;
  });
}
Value relu(const OpArgs& a, ExecContext&) {
  return unary_same(a, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_same_v<C, float>) return num::apply_unary(num::UnaryOp::relu, x);
    else return x < C{0} ? C{0} : x;
  });
}
// sign as PyTorch's CPU kernel: (0 < x) - (x < 0), so sign(NaN) = 0 and sign(-0) = +0.
Value sign(const OpArgs& a, ExecContext&) {
  return unary_same(a, [](auto x) {
    using C = decltype(x);
    return static_cast<C>((C{0} < x) - (x < C{0}));
  });
}
template <int kOp>
Value rounding(const OpArgs& a, ExecContext&) {
  return unary_same(a, [](auto x) {
    using C = decltype(x);
    if constexpr (std::is_integral_v<C>) return x;
    else return kOp == 0 ? std::floor(x) : kOp == 1 ? std::ceil(x) : kOp == 2 ? std::nearbyint(x) : std::trunc(x);
  });
}
template Value rounding<0>(const OpArgs&, ExecContext&);
template Value rounding<1>(const OpArgs&, ExecContext&);
template Value rounding<2>(const OpArgs&, ExecContext&);
template Value rounding<3>(const OpArgs&, ExecContext&);

// isnan / isinf / isfinite: bool results.
template <int kOp>
Value classify(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  return apply_in(DType::Bool, x.dtype(), {&a[0]}, [](auto v) {
    using C = decltype(v);
    if constexpr (std::is_integral_v<C>) return static_cast<C>(kOp == 2);
    else return static_cast<C>(kOp == 0 ? std::isnan(v) : kOp == 1 ? std::isinf(v) : std::isfinite(v));
  });
}
template Value classify<0>(const OpArgs&, ExecContext&);
template Value classify<1>(const OpArgs&, ExecContext&);
template Value classify<2>(const OpArgs&, ExecContext&);

// clamp(x, min, max) as PyTorch: min(max(x, lo), hi), NaN propagating; None means unbounded. Bounds may be
// numbers (clamp, clamp_min, clamp_max) or tensors (clamp.Tensor); the meta rule gives the dtype.
Value clamp(const OpArgs& a, ExecContext&) {
  const bool has_lo = a.size() > 1 && !a.is_none(1), has_hi = a.size() > 2 && !a.is_none(2);
  const DType rt = out_dtype(a);
  const Value lo = has_lo ? a[1] : Value::real(0), hi = has_hi ? a[2] : Value::real(0);
  return apply_in(rt, rt, {&a[0], &lo, &hi}, [=](auto v, auto l, auto h) {
    if (has_lo) v = v < l ? l : v;
    if (has_hi) v = v > h ? h : v;
    return v;
  });
}
Value clamp_min(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto v, auto l) { return v < l ? l : v; });
}
Value clamp_max(const OpArgs& a, ExecContext&) {
  const DType rt = out_dtype(a);
  return apply_in(rt, rt, {&a[0], &a[1]}, [](auto v, auto h) { return v > h ? h : v; });
}

}  // namespace fxopt::rt::cpu
