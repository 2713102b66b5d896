// Argument access, type promotion, broadcasting and threading shared by the CPU kernels.
#include <thread>

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {

const Value& need_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value* v = in.get(index, name);
  if (!v) throw InputError(std::string("missing argument '") + name + "' (position " + std::to_string(index) + ")");
  return *v;
}

const Tensor& tensor_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value& v = need_arg(in, index, name);
  if (!v.is_tensor()) throw InputError(std::string("argument '") + name + "' must be a tensor, got " + describe(v));
  return v.tensor;
}

int64_t int_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value& v = need_arg(in, index, name);
  if (v.kind == Value::Kind::Int) return v.i;
  if (v.kind == Value::Kind::Bool) return v.b;
  throw InputError(std::string("argument '") + name + "' must be an int, got " + describe(v));
}

double number_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value& v = need_arg(in, index, name);
  if (!v.is_number()) throw InputError(std::string("argument '") + name + "' must be a number, got " + describe(v));
  return v.as_double();
}

std::optional<std::vector<int64_t>> int_list_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value* v = in.get(index, name);
  if (!v || v->kind == Value::Kind::None) return std::nullopt;
  if (v->kind == Value::Kind::Int) return std::vector<int64_t>{v->i};
  if (v->kind != Value::Kind::List)
    throw InputError(std::string("argument '") + name + "' must be a list of ints, got " + describe(*v));
  std::vector<int64_t> out;
  for (const Value& x : v->items) {
    if (x.kind != Value::Kind::Int)
      throw InputError(std::string("argument '") + name + "' must be a list of ints, has " + describe(x));
    out.push_back(x.i);
  }
  return out;
}

bool bool_arg(const KernelArgs& in, size_t index, const char* name, bool fallback) {
  const Value* v = in.get(index, name);
  if (!v || v->kind == Value::Kind::None) return fallback;
  if (v->kind == Value::Kind::Bool) return v->b;
  if (v->kind == Value::Kind::Int) return v->i != 0;
  throw InputError(std::string("argument '") + name + "' must be a bool, got " + describe(*v));
}

DType dtype_of_name(const std::string& name) {
  auto d = dtype_from_name(name);
  if (!d) throw InputError("dtype '" + name + "' is not supported by the executor");
  return *d;
}

std::optional<DType> dtype_arg(const KernelArgs& in, size_t index, const char* name) {
  const Value* v = in.get(index, name);
  if (!v || v->kind == Value::Kind::None) return std::nullopt;
  if (v->kind != Value::Kind::Dtype)
    throw InputError(std::string("argument '") + name + "' must be a dtype, got " + describe(*v));
  return dtype_of_name(v->s);
}

int64_t wrap_dim(int64_t d, int64_t ndim) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (d < -n || d >= n)
    throw InputError("dimension " + std::to_string(d) + " out of range for a " + std::to_string(ndim) + "-d tensor");
  return d < 0 ? d + n : d;
}

std::optional<DType> meta_dtype(const Node& n, size_t index) {
  if (!n.val) return std::nullopt;
  const ValMeta* v = &*n.val;
  if (v->kind == ValMeta::Kind::Tuple) {
    if (index >= v->items.size()) return std::nullopt;
    v = &v->items[index];
  }
  if (!v->is_tensor()) return std::nullopt;
  return dtype_of_name(v->tensor.dtype);
}

namespace {
int int_rank(DType d) {
  switch (d) {
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I16: return 2;
    case DType::I32: return 3;
    case DType::I64: return 4;
    default: return 0;
  }
}
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (is_fp8(a) || is_fp8(b))
    throw InputError(std::string("type promotion of ") + dtype_name(a) + " and " + dtype_name(b) +
                     " is not defined (PyTorch does not promote float8 types)");
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  const bool fa = is_floating(a), fb = is_floating(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  if (fa && fb) {
    if (a == DType::F64 || b == DType::F64) return DType::F64;
    if (a == DType::F32 || b == DType::F32) return DType::F32;
    return DType::F32;  // bfloat16 with float16
  }
  // Two distinct integer types.
  if ((a == DType::U8 && b == DType::I8) || (a == DType::I8 && b == DType::U8)) return DType::I16;
  return int_rank(a) >= int_rank(b) ? a : b;
}

namespace {
struct Slot {
  bool set = false;
  DType d = DType::Bool;
  void add(DType x) {
    d = set ? promote_types(d, x) : x;
    set = true;
  }
};
// c10's combine_categories(higher, lower).
Slot combine(Slot higher, Slot lower) {
  if (!higher.set) return lower;
  if (!lower.set) return higher;
  if (is_floating(higher.d)) return higher;
  if (higher.d == DType::Bool || is_floating(lower.d)) {
    Slot s = higher;
    s.add(lower.d);
    return s;
  }
  return higher;
}
}  // namespace

DType result_type(const std::vector<const Value*>& operands) {
  Slot dim, zero, wrapped;
  for (const Value* v : operands) {
    if (!v) continue;
    if (v->is_tensor()) {
      (v->tensor.dim() > 0 ? dim : zero).add(v->tensor.dtype());
    } else if (v->kind == Value::Kind::Float) {
      wrapped.add(DType::F32);  // the default dtype
    } else if (v->kind == Value::Kind::Int) {
      wrapped.add(DType::I64);
    } else if (v->kind == Value::Kind::Bool) {
      wrapped.add(DType::Bool);
    }
  }
  Slot r = combine(dim, combine(zero, wrapped));
  if (!r.set) throw InputError("no tensor or number operands to promote");
  return r.d;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes) {
  size_t nd = 0;
  for (const auto& s : shapes) nd = std::max(nd, s.size());
  Shape out(nd, 1);
  for (const auto& s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[nd - s.size() + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o == 1) { o = s[i]; continue; }
      std::string msg = "shapes cannot be broadcast together:";
      for (const auto& x : shapes) msg += " " + shape_str(x);
      throw InputError(msg);
    }
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape st(shape.size(), 0);
  const size_t lead = shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 && shape[lead + i] != 1 ? 0 : t.strides()[i];
  return st;
}

Tensor scalar_tensor(double v, DType d) {
  Tensor t = Tensor::empty(d, {});
  if (is_integral(d)) store_elem<int64_t>(d, t.raw(), static_cast<int64_t>(v));
  else store_elem<double>(d, t.raw(), v);
  return t;
}

void parallel_for(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& f) {
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (t <= 1) {
    if (n > 0) f(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t per = (n + t - 1) / t;
  for (int64_t i = 1; i < t; ++i) {
    const int64_t b = i * per, e = std::min(n, b + per);
    if (b < e) pool.emplace_back([&f, b, e] { f(b, e); });
  }
  f(0, std::min(n, per));
  for (auto& th : pool) th.join();
}

}  // namespace fxopt::rt::cpu
