// SymInt kernels: sizes of tensors (aten.sym_size/sym_numel/sym_stride) and the Python `_operator`
// arithmetic on ints and floats with Python semantics (floor division and modulo round toward -inf).
#include <cmath>

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

Value sym_size(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  return Value::integer(x.shape()[wrap_dim(int_arg(in, 1, "dim"), x.dim())]);
}
Value sym_stride(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  return Value::integer(Tensor::contiguous_strides(x.shape())[wrap_dim(int_arg(in, 1, "dim"), x.dim())]);
}
Value sym_numel(const Node&, const KernelArgs& in, ExecContext&) {
  return Value::integer(tensor_arg(in, 0, "self").numel());
}

const Value& number(const KernelArgs& in, size_t i) {
  const Value& v = need_arg(in, i, i == 0 ? "a" : "b");
  if (!v.is_number()) throw InputError("expected an int or float, got " + describe(v));
  return v;
}
bool both_int(const Value& a, const Value& b) { return a.kind != Value::Kind::Float && b.kind != Value::Kind::Float; }
int64_t as_int(const Value& v) { return v.kind == Value::Kind::Int ? v.i : static_cast<int64_t>(v.b); }

[[noreturn]] void overflow() { throw InputError("integer overflow in SymInt arithmetic"); }
int64_t add(int64_t x, int64_t y) { int64_t r; if (__builtin_add_overflow(x, y, &r)) overflow(); return r; }
int64_t sub(int64_t x, int64_t y) { int64_t r; if (__builtin_sub_overflow(x, y, &r)) overflow(); return r; }
int64_t mul(int64_t x, int64_t y) { int64_t r; if (__builtin_mul_overflow(x, y, &r)) overflow(); return r; }

template <char kOp>
Value arith(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = number(in, 0);
  const Value& b = number(in, 1);
  if (both_int(a, b) && kOp != '/') {
    const int64_t x = as_int(a), y = as_int(b);
    switch (kOp) {
      case '+': return Value::integer(add(x, y));
      case '-': return Value::integer(sub(x, y));
      case '*': return Value::integer(mul(x, y));
      case 'f':
      case '%': {
        if (y == 0) throw InputError("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value::integer(kOp == 'f' ? q : x - q * y);
      }
      case '^': {
        if (y < 0) return Value::real(std::pow(static_cast<double>(x), static_cast<double>(y)));
        int64_t r = 1;
        for (int64_t i = 0; i < y; ++i) r = mul(r, x);
        return Value::integer(r);
      }
    }
  }
  const double x = a.as_double(), y = b.as_double();
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
    default: return Value::real(std::pow(x, y));
  }
}

Value neg(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& a = number(in, 0);
  return a.kind == Value::Kind::Float ? Value::real(-a.f) : Value::integer(sub(0, as_int(a)));
}

Value sym_float(const Node&, const KernelArgs& in, ExecContext&) { return Value::real(number(in, 0).as_double()); }

}  // namespace

void register_symint(KernelTable& t) {
  t["aten.sym_size.int"] = sym_size;
  t["aten.sym_stride.int"] = sym_stride;
  t["aten.sym_numel.default"] = sym_numel;
  t["_operator.add"] = arith<'+'>;
  t["_operator.sub"] = arith<'-'>;
  t["_operator.mul"] = arith<'*'>;
  t["_operator.truediv"] = arith<'/'>;
  t["_operator.floordiv"] = arith<'f'>;
  t["_operator.mod"] = arith<'%'>;
  t["_operator.pow"] = arith<'^'>;
  t["_operator.neg"] = neg;
  t["torch.sym_float"] = sym_float;
}

}  // namespace fxopt::rt::cpu
