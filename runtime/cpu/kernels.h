// Shared machinery of the CPU reference kernels: PyTorch type promotion and broadcasting, the blocked
// elementwise loop, strided copies and fills, threading.
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <type_traits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/error.h"
#include "runtime/op_registry.h"

namespace fxopt::rt::cpu {

// ---- arguments ----
DType dtype_of_name(const std::string& name);  // throws InputError for dtypes the executor lacks
// Wraps a possibly negative dim into [0, ndim); a 0-d tensor accepts -1 and 0.
int64_t wrap_dim(int64_t d, int64_t ndim);
// The dtype of meta.val (or of item `index` of a tuple meta.val); nullopt when absent.
std::optional<DType> meta_dtype(const Node& n, size_t index);

// ---- shapes ----
// Resolves one -1 in `sizes` against numel and checks the element count.
Shape infer_size(const std::vector<int64_t>& sizes, int64_t numel);
// PyTorch's computeStride: strides for viewing `t` as `shape` without a copy, or nullopt.
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape);

// ---- type promotion (c10::promoteTypes and at::native::result_type) ----
DType promote_types(DType a, DType b);
// The result dtype of tensors and Python numbers, as torch.result_type: dimensioned tensors win over 0-d
// tensors, which win over numbers, unless the lower priority operand is of a higher category.
DType result_type(const std::vector<const Value*>& operands);

// ---- broadcasting and the elementwise loop ----
Shape broadcast_shapes(const std::vector<Shape>& shapes);
Shape broadcast_strides(const Tensor& t, const Shape& shape);

// Calls f(offsets, n, inner_strides) for each innermost run over `shape`, where operand k has element
// strides strides[k]; adjacent dims are coalesced first so contiguous operands give one long run.
template <class F>
void for_each_run(Shape shape, std::vector<Shape> strides, F&& f) {
  const size_t k = strides.size();
  for (int64_t s : shape)
    if (s == 0) return;
  // Drop size-1 dims and coalesce dims that are contiguous for every operand.
  Shape cs;
  std::vector<Shape> cst(k);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !cs.empty();
    for (size_t o = 0; o < k && merge; ++o) merge = cst[o].back() == strides[o][d] * shape[d];
    if (merge) {
      cs.back() *= shape[d];
      for (size_t o = 0; o < k; ++o) cst[o].back() = strides[o][d];
    } else {
      cs.push_back(shape[d]);
      for (size_t o = 0; o < k; ++o) cst[o].push_back(strides[o][d]);
    }
  }
  std::vector<int64_t> off(k, 0), inner(k, 0);
  if (cs.empty()) {
    f(off.data(), int64_t{1}, inner.data());
    return;
  }
  const size_t nd = cs.size();
  for (size_t o = 0; o < k; ++o) inner[o] = cst[o][nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t outer = 1;
  for (size_t d = 0; d + 1 < nd; ++d) outer *= cs[d];
  for (int64_t r = 0; r < outer; ++r) {
    f(off.data(), cs[nd - 1], inner.data());
    for (size_t d = nd - 1; d-- > 0;) {
      if (++idx[d] < cs[d]) {
        for (size_t o = 0; o < k; ++o) off[o] += cst[o][d];
        break;
      }
      for (size_t o = 0; o < k; ++o) off[o] -= cst[o][d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
}

template <class C>
inline bool is_native(DType d) {
  if constexpr (std::is_same_v<C, float>) return d == DType::F32;
  else if constexpr (std::is_same_v<C, double>) return d == DType::F64;
  else return d == DType::I64;
}

// out = f(a[i], b[i], ...) over the broadcast shape, computing in C (float, double or int64_t) and
// storing in out_dtype. Inputs are converted to C exactly as load_elem does.
template <class C, size_t N, class F>
Tensor map_n(DType out_dtype, const std::array<const Tensor*, N>& ins, F&& f) {
  std::vector<Shape> shapes;
  for (const Tensor* t : ins) shapes.push_back(t->shape());
  const Shape shape = broadcast_shapes(shapes);
  Tensor out = Tensor::empty(out_dtype, shape);
  std::vector<Shape> strides{out.strides()};
  for (const Tensor* t : ins) strides.push_back(broadcast_strides(*t, shape));
  const bool out_native = is_native<C>(out_dtype);
  for_each_run(shape, strides, [&](const int64_t* off, int64_t n, const int64_t* st) {
    constexpr int64_t kChunk = 512;
    C bufs[N == 0 ? 1 : N][kChunk];
    C obuf[kChunk];
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      const int64_t m = std::min(kChunk, n - j0);
      const C* src[N == 0 ? 1 : N];
      for (size_t k = 0; k < N; ++k) {
        const Tensor& t = *ins[k];
        if (st[k + 1] == 1 && is_native<C>(t.dtype())) {
          src[k] = t.data<C>() + off[k + 1] + j0;
        } else {
          gather<C>(t, off[k + 1] + j0 * st[k + 1], st[k + 1], m, bufs[k]);
          src[k] = bufs[k];
        }
      }
      C* dst = out_native ? out.data<C>() + off[0] + j0 : obuf;
      if constexpr (N == 1) {
        const C* a = src[0];
        for (int64_t j = 0; j < m; ++j) dst[j] = f(a[j]);
      } else if constexpr (N == 2) {
        const C* a = src[0];
        const C* b = src[1];
        for (int64_t j = 0; j < m; ++j) dst[j] = f(a[j], b[j]);
      } else {
        const C* a = src[0];
        const C* b = src[1];
        const C* c = src[2];
        for (int64_t j = 0; j < m; ++j) dst[j] = f(a[j], b[j], c[j]);
      }
      if (!out_native) scatter<C>(out, off[0] + j0, m, dst);
    }
  });
  return out;
}

// A 0-d tensor holding a number in dtype d (for scalar operands of tensor ops).
Tensor scalar_tensor(double v, DType d);

// dst[i] = src[broadcast i] converted to dst's dtype (dst may be any strided view; src broadcasts to it).
void copy_into(const Tensor& dst, const Tensor& src);
// Every element of t set to the number v (converted as store_elem does).
void fill_value(const Tensor& t, const Value& v);

// Runs f(begin, end) over [0, n) split across up to `threads` threads (deterministic partition).
void parallel_for(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& f);

}  // namespace fxopt::rt::cpu
