// Tensors of the executor: dtype + shape + element strides + offset over shared storage, so reshape,
// squeeze, unsqueeze, permute and expand are views without copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/numerics.h"

namespace fxopt::rt {

// The dtypes the executor computes with (spec/fxgraph.md names; float8_e5m2fnuz is not supported).
// U64 only carries the uint64 outputs PyTorch declares (flash attention's rng_state); no kernel computes in it.
enum class DType : uint8_t { Bool, U8, I8, I16, I32, I64, F16, BF16, F32, F64, F8E4M3FN, F8E4M3FNUZ, F8E5M2, U64 };

const char* dtype_name(DType d);                              // torch's name: "bfloat16", "float8_e4m3fn"
std::optional<DType> dtype_from_name(std::string_view name);  // nullopt for names the executor lacks
size_t dtype_size(DType d);
bool is_floating(DType d);  // f16 bf16 f32 f64 and the fp8 formats
bool is_fp8(DType d);
bool is_integral(DType d);  // integers and bool
num::Fp8Format fp8_format(DType d);  // requires is_fp8(d)

// A block of memory. `device` is "cpu" for host memory; a GPU backend allocates its own with a deleter.
struct Storage {
  std::byte* data = nullptr;
  size_t bytes = 0;
  std::string device = "cpu";
  std::function<void(std::byte*)> release;  // frees data; empty = delete[]
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();
};

using Shape = std::vector<int64_t>;

// Checked sizes (every shape -> element count -> byte count goes through these). The element count of a
// shape, or nullopt when a size is negative or the product of its non-zero sizes overflows int64 (a
// zero size makes the count 0, but the other sizes must still give representable strides).
std::optional<int64_t> checked_numel(const Shape& shape);
// Bytes of a contiguous tensor of `shape`, or nullopt as checked_numel or when the bytes overflow int64.
std::optional<int64_t> checked_nbytes(size_t elem_size, const Shape& shape);
// Why checked_nbytes failed ("size -1 is negative", "the element count overflows int64", ...); "" if it did not.
std::string size_problem(size_t elem_size, const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  // A contiguous host tensor with uninitialised contents. Throws InputError naming the dtype, the shape
  // and the reason for an impossible size (negative, overflowing) or a failed allocation.
  static Tensor empty(DType dtype, Shape shape);
  // A contiguous tensor over existing storage (e.g. device memory a backend allocated).
  static Tensor from_storage(std::shared_ptr<Storage> storage, DType dtype, Shape shape);
  // Contiguous (row-major) strides of a shape.
  static Shape contiguous_strides(const Shape& shape);
  // A tensor with no storage (dtype, shape, strides and offset only): the values meta rules compute.
  static Tensor meta(DType dtype, Shape shape, std::optional<Shape> strides = std::nullopt, int64_t offset = 0);

  bool defined() const { return storage_ != nullptr; }
  bool is_meta() const { return storage_ == nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const;  // throws InputError when the count overflows int64 (a view's shape)
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Address of element 0 (storage + offset).
  std::byte* raw() const { return storage_->data + offset_ * static_cast<int64_t>(dtype_size(dtype_)); }
  template <class T>
  T* data() const { return reinterpret_cast<T*>(raw()); }

  // A view of the same storage (offset in elements, absolute). Throws InputError for an impossible shape.
  Tensor as_strided(Shape shape, Shape strides, int64_t offset) const;
  // This tensor when contiguous, otherwise a contiguous copy.
  Tensor contiguous() const;
  // A contiguous copy converted to `dtype` (a copy even when nothing changes).
  Tensor to(DType dtype) const;

  // Element by linear (row-major) index, as a double (fp8, bf16, f16 exactly; int64 may round).
  double value_at(int64_t linear) const;

 private:
  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
};

std::string shape_str(const Shape& s);  // "[16, 4096]"

// Element conversions: C is float, double or int64_t (the three compute domains of the CPU kernels).
template <class C>
inline C load_elem(DType d, const std::byte* p) {
  switch (d) {
    case DType::Bool: return static_cast<C>(*reinterpret_cast<const uint8_t*>(p) != 0);
    case DType::U8: return static_cast<C>(*reinterpret_cast<const uint8_t*>(p));
    case DType::I8: return static_cast<C>(*reinterpret_cast<const int8_t*>(p));
    case DType::I16: return static_cast<C>(*reinterpret_cast<const int16_t*>(p));
    case DType::I32: return static_cast<C>(*reinterpret_cast<const int32_t*>(p));
    case DType::I64: return static_cast<C>(*reinterpret_cast<const int64_t*>(p));
    case DType::F16: return static_cast<C>(num::f16_to_f32(*reinterpret_cast<const uint16_t*>(p)));
    case DType::BF16: return static_cast<C>(num::bf16_to_f32(*reinterpret_cast<const uint16_t*>(p)));
    case DType::F32: return static_cast<C>(*reinterpret_cast<const float*>(p));
    case DType::F64: return static_cast<C>(*reinterpret_cast<const double*>(p));
    case DType::F8E4M3FN: return static_cast<C>(num::fp8e4m3fn_to_f32(*reinterpret_cast<const uint8_t*>(p)));
    case DType::F8E4M3FNUZ: return static_cast<C>(num::fp8e4m3fnuz_to_f32(*reinterpret_cast<const uint8_t*>(p)));
    case DType::F8E5M2: return static_cast<C>(num::fp8e5m2_to_f32(*reinterpret_cast<const uint8_t*>(p)));
    case DType::U64: return static_cast<C>(*reinterpret_cast<const uint64_t*>(p));
  }
  return C{};
}

// Float to integer as a C cast would, but defined for NaN and out-of-range values (0 / saturated).
template <class I, class F>
inline I float_to_int(F v) {
  if (!(v == v)) return 0;
  if (v >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  if (v <= static_cast<F>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  return static_cast<I>(v);
}

template <class I, class C>
inline I to_int(C v) {
  if constexpr (std::is_floating_point_v<C>) return float_to_int<I>(v);
  else return static_cast<I>(v);
}

// Stores v converted to dtype d: round to nearest even for bf16/f16/fp8 (c10's algorithms), truncation
// toward zero for integers (doubles go to the reduced float formats through float, as c10 does).
template <class C>
inline void store_elem(DType d, std::byte* p, C v) {
  switch (d) {
    case DType::Bool: *reinterpret_cast<uint8_t*>(p) = v != C{0}; break;
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = static_cast<uint8_t>(to_int<int64_t>(v)); break;
    case DType::I8: *reinterpret_cast<int8_t*>(p) = static_cast<int8_t>(to_int<int64_t>(v)); break;
    case DType::I16: *reinterpret_cast<int16_t*>(p) = static_cast<int16_t>(to_int<int64_t>(v)); break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = static_cast<int32_t>(to_int<int64_t>(v)); break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = to_int<int64_t>(v); break;
    case DType::F16: *reinterpret_cast<uint16_t*>(p) = num::f32_to_f16(static_cast<float>(v)); break;
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = num::f32_to_bf16(static_cast<float>(v)); break;
    case DType::F32: *reinterpret_cast<float*>(p) = static_cast<float>(v); break;
    case DType::F64: *reinterpret_cast<double*>(p) = static_cast<double>(v); break;
    case DType::F8E4M3FN: *reinterpret_cast<uint8_t*>(p) = num::f32_to_fp8e4m3fn(static_cast<float>(v)); break;
    case DType::F8E4M3FNUZ: *reinterpret_cast<uint8_t*>(p) = num::f32_to_fp8e4m3fnuz(static_cast<float>(v)); break;
    case DType::F8E5M2: *reinterpret_cast<uint8_t*>(p) = num::f32_to_fp8e5m2(static_cast<float>(v)); break;
    case DType::U64: *reinterpret_cast<uint64_t*>(p) = static_cast<uint64_t>(to_int<int64_t>(v)); break;
  }
}

// n elements of `t` starting at element offset `elem` (relative to t.raw()), `stride` apart, into dst.
template <class C>
void gather(const Tensor& t, int64_t elem, int64_t stride, int64_t n, C* dst);
// n contiguous values into `t` at element offset `elem` (relative to t.raw()), converting to t's dtype.
template <class C>
void scatter(const Tensor& t, int64_t elem, int64_t n, const C* src);

}  // namespace fxopt::rt
