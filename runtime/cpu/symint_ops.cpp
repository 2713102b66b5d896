// SymInt kernels: sizes of tensors (aten.sym_size/sym_numel/sym_stride/sym_storage_offset) and the
// Python `_operator`, `math` and `torch.sym_*` arithmetic on ints, floats and bools with Python semantics
// (floor division and modulo round toward -inf; integer overflow is an error). They read only shapes,
// so they run on meta tensors (their own meta rules) and on any device.
#include <cmath>

#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {
namespace {

bool both_int(const Value& a, const Value& b) { return a.kind != Value::Kind::Float && b.kind != Value::Kind::Float; }
int64_t as_int(const Value& v) { return v.kind == Value::Kind::Int ? v.i : static_cast<int64_t>(v.b); }

const Value& number(const OpArgs& a, size_t i) {
  const Value& v = a[i];
  if (!v.is_number()) throw InputError("expected an int, float or bool, got " + describe(v));
  return v;
}

[[noreturn]] void overflow() { throw InputError("integer overflow in SymInt arithmetic"); }
int64_t add(int64_t x, int64_t y) { int64_t r; if (__builtin_add_overflow(x, y, &r)) overflow(); return r; }
int64_t sub(int64_t x, int64_t y) { int64_t r; if (__builtin_sub_overflow(x, y, &r)) overflow(); return r; }
int64_t mul(int64_t x, int64_t y) { int64_t r; if (__builtin_mul_overflow(x, y, &r)) overflow(); return r; }

}  // namespace

Value sym_size(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("sym_size of a 0-d tensor");
  return Value::integer(x.shape()[wrap_dim(a.i64(1), x.dim())]);
}
Value sym_stride(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("sym_stride of a 0-d tensor");
  // The stride of the contiguous layout PyTorch's own result would have (clone and the factories here
  // always produce contiguous tensors).
  return Value::integer(Tensor::contiguous_strides(x.shape())[wrap_dim(a.i64(1), x.dim())]);
}
Value sym_numel(const OpArgs& a, ExecContext&) { return Value::integer(a.tensor(0).numel()); }
Value sym_storage_offset(const OpArgs& a, ExecContext&) { return Value::integer(a.tensor(0).offset()); }

template <char kOp>
Value sym_arith(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  const Value& q = number(a, 1);
  if (both_int(p, q) && kOp != '/') {
    const int64_t x = as_int(p), y = as_int(q);
    switch (kOp) {
      case '+': return Value::integer(add(x, y));
      case '-': return Value::integer(sub(x, y));
      case '*': return Value::integer(mul(x, y));
      case 'f':
      case '%': {
        if (y == 0) throw InputError("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) overflow();
        int64_t d = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --d;
        return Value::integer(kOp == 'f' ? d : x - d * y);
      }
      case '^': {
        if (y < 0) return Value::real(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t r = 1;
        for (int64_t i = 0; i < y; ++i) r = mul(r, x);
        return Value::integer(r);
      }
      case 'M': return Value::integer(std::max(x, y));
      case 'm': return Value::integer(std::min(x, y));
    }
  }
  const double x = p.as_double(), y = q.as_double();
  switch (kOp) {
    case '+': return Value::real(x + y);
    case '-': return Value::real(x - y);
    case '*': return Value::real(x * y);
    case '/':
      if (y == 0) throw InputError("division by zero");
      return Value::real(x / y);
    case 'f':
      if (y == 0) throw InputError("float floor division by zero");
      return Value::real(std::floor(x / y));
    case '%': {
      if (y == 0) throw InputError("float modulo by zero");
      double r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value::real(r);
    }
    case 'M': return Value::real(std::max(x, y));
    case 'm': return Value::real(std::min(x, y));
    default: return Value::real(std::pow(x, y));
  }
}
template Value sym_arith<'+'>(const OpArgs&, ExecContext&);
template Value sym_arith<'-'>(const OpArgs&, ExecContext&);
template Value sym_arith<'*'>(const OpArgs&, ExecContext&);
template Value sym_arith<'/'>(const OpArgs&, ExecContext&);
template Value sym_arith<'f'>(const OpArgs&, ExecContext&);
template Value sym_arith<'%'>(const OpArgs&, ExecContext&);
template Value sym_arith<'^'>(const OpArgs&, ExecContext&);
template Value sym_arith<'M'>(const OpArgs&, ExecContext&);
template Value sym_arith<'m'>(const OpArgs&, ExecContext&);

// Comparisons (==, !=, <, <=, >, >=) of numbers: a bool.
template <int kOp>
Value sym_compare(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  const Value& q = number(a, 1);
  bool r;
  if (both_int(p, q)) {
    const int64_t x = as_int(p), y = as_int(q);
    r = kOp == 0 ? x == y : kOp == 1 ? x != y : kOp == 2 ? x < y : kOp == 3 ? x <= y : kOp == 4 ? x > y : x >= y;
  } else {
    const double x = p.as_double(), y = q.as_double();
    r = kOp == 0 ? x == y : kOp == 1 ? x != y : kOp == 2 ? x < y : kOp == 3 ? x <= y : kOp == 4 ? x > y : x >= y;
  }
  return Value::boolean(r);
}
template Value sym_compare<0>(const OpArgs&, ExecContext&);
template Value sym_compare<1>(const OpArgs&, ExecContext&);
template Value sym_compare<2>(const OpArgs&, ExecContext&);
template Value sym_compare<3>(const OpArgs&, ExecContext&);
template Value sym_compare<4>(const OpArgs&, ExecContext&);
template Value sym_compare<5>(const OpArgs&, ExecContext&);

// and_/or_ of bools (or ints: bitwise), not_.
template <int kOp>
Value sym_logic(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  const Value& q = number(a, 1);
  if (p.kind == Value::Kind::Bool && q.kind == Value::Kind::Bool) return Value::boolean(kOp == 0 ? (p.b && q.b) : (p.b || q.b));
  if (!both_int(p, q)) throw InputError("and_/or_ of a float");
  return Value::integer(kOp == 0 ? (as_int(p) & as_int(q)) : (as_int(p) | as_int(q)));
}
template Value sym_logic<0>(const OpArgs&, ExecContext&);
template Value sym_logic<1>(const OpArgs&, ExecContext&);

Value sym_not(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  return Value::boolean(p.as_double() == 0);
}

Value sym_neg(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  return p.kind == Value::Kind::Float ? Value::real(-p.f) : Value::integer(sub(0, as_int(p)));
}

Value sym_float(const OpArgs& a, ExecContext&) { return Value::real(number(a, 0).as_double()); }

// sym_int / math.floor / math.ceil / math.trunc: a float to an int (truncation for sym_int).
template <int kOp>  // 0 trunc, 1 floor, 2 ceil
Value sym_to_int(const OpArgs& a, ExecContext&) {
  const Value& p = number(a, 0);
  if (p.kind != Value::Kind::Float) return Value::integer(as_int(p));
  const double v = kOp == 0 ? std::trunc(p.f) : kOp == 1 ? std::floor(p.f) : std::ceil(p.f);
  if (!(v >= -9.2e18 && v <= 9.2e18)) throw InputError("cannot convert " + std::to_string(p.f) + " to an int");
  return Value::integer(static_cast<int64_t>(v));
}
template Value sym_to_int<0>(const OpArgs&, ExecContext&);
template Value sym_to_int<1>(const OpArgs&, ExecContext&);
template Value sym_to_int<2>(const OpArgs&, ExecContext&);

Value sym_sqrt(const OpArgs& a, ExecContext&) { return Value::real(std::sqrt(number(a, 0).as_double())); }

// sym_ite(cond, a, b).
Value sym_ite(const OpArgs& a, ExecContext&) { return number(a, 0).as_double() != 0 ? a[1] : a[2]; }

// aten._assert_scalar(x, msg): an error when x is false; returns None.
Value assert_scalar(const OpArgs& a, ExecContext&) {
  const Value& v = a[0];
  if (v.is_number() && v.as_double() == 0) throw InputError("assertion failed: " + a.str(1));
  return Value::none();
}
// Checks that do nothing at run time (the graph's shapes were checked against meta.val): None.
Value no_op(const OpArgs&, ExecContext&) { return Value::none(); }

}  // namespace fxopt::rt::cpu
