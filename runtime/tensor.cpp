// Tensor storage, views, copies and the dtype table of the executor.
#include "runtime/tensor.h"

#include <cstring>
#include <new>

#include "core/ir/error.h"

namespace fxopt::rt {

namespace {
struct DTypeInfo {
  DType d;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "bool", 1},          {DType::U8, "uint8", 1},          {DType::I8, "int8", 1},
    {DType::I16, "int16", 2},          {DType::I32, "int32", 4},         {DType::I64, "int64", 8},
    {DType::F16, "float16", 2},        {DType::BF16, "bfloat16", 2},     {DType::F32, "float32", 4},
    {DType::F64, "float64", 8},        {DType::F8E4M3FN, "float8_e4m3fn", 1},
    {DType::F8E4M3FNUZ, "float8_e4m3fnuz", 1},                           {DType::F8E5M2, "float8_e5m2", 1},
    {DType::U64, "uint64", 8},
};
}  // namespace

const char* dtype_name(DType d) { return kDTypes[static_cast<int>(d)].name; }
size_t dtype_size(DType d) { return kDTypes[static_cast<int>(d)].size; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kDTypes)
    if (name == i.name) return i.d;
  if (name == "float" ) return DType::F32;
  if (name == "half") return DType::F16;
  if (name == "double") return DType::F64;
  if (name == "long") return DType::I64;
  if (name == "int") return DType::I32;
  return std::nullopt;
}

bool is_fp8(DType d) { return d == DType::F8E4M3FN || d == DType::F8E4M3FNUZ || d == DType::F8E5M2; }
bool is_floating(DType d) {
  return d == DType::F16 || d == DType::BF16 || d == DType::F32 || d == DType::F64 || is_fp8(d);
}
bool is_integral(DType d) { return !is_floating(d); }

num::Fp8Format fp8_format(DType d) {
  FXOPT_CHECK(is_fp8(d), "fp8_format of a non-fp8 dtype");
  return d == DType::F8E4M3FN ? num::Fp8Format::e4m3fn
         : d == DType::F8E4M3FNUZ ? num::Fp8Format::e4m3fnuz : num::Fp8Format::e5m2;
}

Storage::~Storage() {
  if (release) release(data);
  else delete[] data;
}

std::string size_problem(size_t elem_size, const Shape& shape) {
  int64_t n = 1;
  bool zero = false;
  for (int64_t s : shape) {
    if (s < 0) return "size " + std::to_string(s) + " is negative";
    if (s == 0) zero = true;
    else if (__builtin_mul_overflow(n, s, &n)) return "the element count overflows int64";
  }
  if (zero) return "";
  int64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem_size), &bytes))
    return std::to_string(n) + " elements of " + std::to_string(elem_size) + " bytes overflow int64";
  return "";
}

std::optional<int64_t> checked_numel(const Shape& shape) {
  if (!size_problem(1, shape).empty()) return std::nullopt;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::optional<int64_t> checked_nbytes(size_t elem_size, const Shape& shape) {
  if (!size_problem(elem_size, shape).empty()) return std::nullopt;
  return *checked_numel(shape) * static_cast<int64_t>(elem_size);
}

Shape Tensor::contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    // Saturates instead of wrapping: only shapes checked_numel refuses get here with such a product.
    if (__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s)) s = std::numeric_limits<int64_t>::max();
  }
  return st;
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  const std::optional<int64_t> bytes = checked_nbytes(dtype_size(dtype), shape);
  if (!bytes)
    throw InputError(std::string("impossible tensor size ") + dtype_name(dtype) + " " + shape_str(shape) + ": " +
                     size_problem(dtype_size(dtype), shape));
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = new (std::nothrow) std::byte[*bytes > 0 ? static_cast<size_t>(*bytes) : 1];
  if (!t.storage_->data)
    throw InputError("out of memory allocating " + std::to_string(*bytes) + " bytes for a " + dtype_name(dtype) + " " +
                     shape_str(t.shape_) + " tensor");
  t.storage_->bytes = static_cast<size_t>(*bytes);
  return t;
}

Tensor Tensor::meta(DType dtype, Shape shape, std::optional<Shape> strides, int64_t offset) {
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = strides ? std::move(*strides) : contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, DType dtype, Shape shape) {
  if (!checked_nbytes(dtype_size(dtype), shape))
    throw InputError(std::string("impossible tensor size ") + dtype_name(dtype) + " " + shape_str(shape) + ": " +
                     size_problem(dtype_size(dtype), shape));
  Tensor t;
  t.dtype_ = dtype;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  t.storage_ = std::move(storage);
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape_)
    if (__builtin_mul_overflow(n, s, &n))
      throw InputError(std::string("impossible tensor size ") + dtype_name(dtype_) + " " + shape_str(shape_) +
                       ": the element count overflows int64");
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (shape_[i] == 0) return true;  // no elements: any strides describe it
    if (strides_[i] != expect) return false;
    if (__builtin_mul_overflow(expect, shape_[i], &expect)) return false;
  }
  return true;
}

Tensor Tensor::as_strided(Shape shape, Shape strides, int64_t offset) const {
  if (!checked_numel(shape))
    throw InputError(std::string("impossible tensor size ") + dtype_name(dtype_) + " " + shape_str(shape) + ": " +
                     size_problem(1, shape));
  Tensor t;
  t.storage_ = storage_;
  t.dtype_ = dtype_;
  t.shape_ = std::move(shape);
  t.strides_ = std::move(strides);
  t.offset_ = offset;
  return t;
}

namespace {
// Calls f(src_elem_offset, dst_linear, n) for each innermost run of `t` in row-major order.
template <class F>
void for_each_row(const Tensor& t, F f) {
  const int64_t nd = t.dim();
  if (t.numel() == 0) return;
  if (nd == 0) { f(0, 0, 1, 1); return; }
  const int64_t inner = t.shape()[nd - 1];
  const int64_t inner_stride = t.strides()[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0, lin = 0;
  const int64_t total = t.numel();
  while (lin < total) {
    f(off, lin, inner, inner_stride);
    lin += inner;
    for (int64_t d = nd - 2; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) { off += t.strides()[d]; break; }
      off -= t.strides()[d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
}
}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(dtype_, shape_);
  const size_t es = dtype_size(dtype_);
  const std::byte* src = raw();
  std::byte* dst = out.raw();
  for_each_row(*this, [&](int64_t off, int64_t lin, int64_t n, int64_t stride) {
    if (stride == 1) {
      std::memcpy(dst + lin * es, src + off * es, n * es);
    } else {
      for (int64_t j = 0; j < n; ++j) std::memcpy(dst + (lin + j) * es, src + (off + j * stride) * es, es);
    }
  });
  return out;
}

Tensor Tensor::to(DType dtype) const {
  Tensor out = empty(dtype, shape_);
  const bool via_int = is_integral(dtype_) && is_integral(dtype);
  const bool via_f64 = dtype_ == DType::F64 || dtype == DType::F64;
  constexpr int64_t kChunk = 1024;
  for_each_row(*this, [&](int64_t off, int64_t lin, int64_t n, int64_t stride) {
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      const int64_t m = std::min(kChunk, n - j0);
      if (via_int) {
        int64_t buf[kChunk];
        gather<int64_t>(*this, off + j0 * stride, stride, m, buf);
        scatter<int64_t>(out, lin + j0, m, buf);
      } else if (via_f64 || is_integral(dtype_)) {
        double buf[kChunk];
        gather<double>(*this, off + j0 * stride, stride, m, buf);
        scatter<double>(out, lin + j0, m, buf);
      } else {
        float buf[kChunk];
        gather<float>(*this, off + j0 * stride, stride, m, buf);
        scatter<float>(out, lin + j0, m, buf);
      }
    }
  });
  return out;
}

double Tensor::value_at(int64_t linear) const {
  int64_t off = 0;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    off += (linear % shape_[d]) * strides_[d];
    linear /= shape_[d];
  }
  return load_elem<double>(dtype_, raw() + off * static_cast<int64_t>(dtype_size(dtype_)));
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

template <class C>
void gather(const Tensor& t, int64_t elem, int64_t stride, int64_t n, C* dst) {
  const DType d = t.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(d));
  const std::byte* p = t.raw() + elem * es;
  // Specialised loops for the hot dtypes; the rest go through load_elem.
  if (d == DType::F32) {
    const float* s = reinterpret_cast<const float*>(p);
    if (stride == 1) for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(s[j]);
    else for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(s[j * stride]);
  } else if (d == DType::BF16) {
    const uint16_t* s = reinterpret_cast<const uint16_t*>(p);
    if (stride == 1) for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(num::bf16_to_f32(s[j]));
    else for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<C>(num::bf16_to_f32(s[j * stride]));
  } else {
    for (int64_t j = 0; j < n; ++j) dst[j] = load_elem<C>(d, p + j * stride * es);
  }
}

template <class C>
void scatter(const Tensor& t, int64_t elem, int64_t n, const C* src) {
  const DType d = t.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(d));
  std::byte* p = t.raw() + elem * es;
  if constexpr (std::is_same_v<C, float>) {
    if (d == DType::F32) {
      if (n > 0) std::memcpy(p, src, n * sizeof(float));  // src may be null when n == 0
      return;
    }
    if (d == DType::BF16) {
      uint16_t* o = reinterpret_cast<uint16_t*>(p);
      for (int64_t j = 0; j < n; ++j) o[j] = num::f32_to_bf16(src[j]);
      return;
    }
    if (d == DType::F8E4M3FN) {
      uint8_t* o = reinterpret_cast<uint8_t*>(p);
      for (int64_t j = 0; j < n; ++j) o[j] = num::f32_to_fp8e4m3fn(src[j]);
      return;
    }
  }
  for (int64_t j = 0; j < n; ++j) store_elem<C>(d, p + j * es, src[j]);
}

template void gather<float>(const Tensor&, int64_t, int64_t, int64_t, float*);
template void gather<double>(const Tensor&, int64_t, int64_t, int64_t, double*);
template void gather<int64_t>(const Tensor&, int64_t, int64_t, int64_t, int64_t*);
template void scatter<float>(const Tensor&, int64_t, int64_t, const float*);
template void scatter<double>(const Tensor&, int64_t, int64_t, const double*);
template void scatter<int64_t>(const Tensor&, int64_t, int64_t, const int64_t*);

}  // namespace fxopt::rt
