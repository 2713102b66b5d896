// Type promotion, broadcasting, strided copies and fills, and threading shared by the CPU kernels.
#include <cstring>
#include <thread>

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {

DType dtype_of_name(const std::string& name) {
  auto d = dtype_from_name(name);
  if (!d) throw InputError("dtype '" + name + "' is not supported by the executor");
  return *d;
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

namespace {
template <class C>
void copy_in_domain(const Tensor& dst, const Tensor& src) {
  const Shape& shape = dst.shape();
  std::vector<Shape> strides{dst.strides(), broadcast_strides(src, shape)};
  const int64_t des = static_cast<int64_t>(dtype_size(dst.dtype()));
  for_each_run(shape, strides, [&](const int64_t* off, int64_t n, const int64_t* st) {
    constexpr int64_t kChunk = 512;
    C buf[kChunk];
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      const int64_t m = std::min(kChunk, n - j0);
      gather<C>(src, off[1] + j0 * st[1], st[1], m, buf);
      if (st[0] == 1) {
        scatter<C>(dst, off[0] + j0, m, buf);
      } else {
        for (int64_t j = 0; j < m; ++j) store_elem<C>(dst.dtype(), dst.raw() + (off[0] + (j0 + j) * st[0]) * des, buf[j]);
      }
    }
  });
}
}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  broadcast_shapes({dst.shape(), src.shape()});  // throws when src does not broadcast
  for (size_t i = 0; i < src.shape().size(); ++i) {
    const size_t j = dst.shape().size() - src.shape().size() + i;
    if (src.shape().size() > dst.shape().size() || (src.shape()[i] != dst.shape()[j] && src.shape()[i] != 1))
      throw InputError("cannot copy a tensor of shape " + shape_str(src.shape()) + " into one of shape " +
                       shape_str(dst.shape()));
  }
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype()) {
    // Same dtype: move bytes (exact for every dtype, NaN payloads included).
    const Shape& shape = dst.shape();
    std::vector<Shape> strides{dst.strides(), broadcast_strides(src, shape)};
    const int64_t es = static_cast<int64_t>(dtype_size(dst.dtype()));
    for_each_run(shape, strides, [&](const int64_t* off, int64_t n, const int64_t* st) {
      std::byte* d = dst.raw() + off[0] * es;
      const std::byte* s = src.raw() + off[1] * es;
      if (st[0] == 1 && st[1] == 1) {
        std::memmove(d, s, static_cast<size_t>(n * es));
      } else {
        for (int64_t j = 0; j < n; ++j) std::memmove(d + j * st[0] * es, s + j * st[1] * es, static_cast<size_t>(es));
      }
    });
    return;
  }
  const DType c = is_integral(src.dtype()) && is_integral(dst.dtype()) ? DType::I64
                  : (src.dtype() == DType::F64 || dst.dtype() == DType::F64 || is_integral(src.dtype())) ? DType::F64
                                                                                                         : DType::F32;
  if (c == DType::I64) copy_in_domain<int64_t>(dst, src);
  else if (c == DType::F64) copy_in_domain<double>(dst, src);
  else copy_in_domain<float>(dst, src);
}

void fill_value(const Tensor& t, const Value& v) {
  const Tensor s = scalar_tensor(0, t.dtype());
  if (v.kind == Value::Kind::Float) store_elem<double>(t.dtype(), s.raw(), v.f);
  else if (v.is_tensor()) copy_into(s, v.tensor);
  else store_elem<int64_t>(t.dtype(), s.raw(), v.kind == Value::Kind::Int ? v.i : static_cast<int64_t>(v.b));
  copy_into(t, s);
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
