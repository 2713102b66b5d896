// Reductions over the last dim (sum, mean, amax, amin, max/min with indices): a warp per row;
// float sums in numerics.h's canonical row-sum order, so they equal num::row_sum_f32 bit for bit.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

struct ReduceArgs {
  ReduceOp op;
  int lead_ndim;                     // dims before the reduced one
  int64_t lead_shape[kMaxDims];
  int64_t in_strides[kMaxDims];      // leading dims of the input
  int64_t val_strides[kMaxDims];
  int64_t idx_strides[kMaxDims];
  const void* in;
  DType in_dtype;
  int64_t n;                         // reduced length
  int64_t n_stride;                  // stride of the reduced dim
  int64_t rows;
  void* values;
  DType val_dtype;
  int64_t* indices;                  // null unless max/min
};

// (value, index) pairs: the result is the first index of the extreme value, or of the first NaN.
template <bool kMax>
__device__ inline void pick(float& v, int64_t& i, float v2, int64_t i2) {
  const bool n1 = num::is_nan(v), n2 = num::is_nan(v2);
  bool take;
  if (n1 || n2) take = n2 && (!n1 || i2 < i);
  else if (v2 == v) take = i2 < i;
  else take = kMax ? v2 > v : v2 < v;
  if (take) {
    v = v2;
    i = i2;
  }
}

template <bool kMax>
__device__ inline void pick_i(int64_t& v, int64_t& i, int64_t v2, int64_t i2) {
  if (v2 == v ? i2 < i : (kMax ? v2 > v : v2 < v)) {
    v = v2;
    i = i2;
  }
}

__global__ void __launch_bounds__(256) reduce_last_kernel(ReduceArgs a) {
  const int lane = threadIdx.x % FXOPT_WARP_SIZE;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / FXOPT_WARP_SIZE;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * blockDim.x / FXOPT_WARP_SIZE;
  const bool is_float = dtype_is_float(a.in_dtype);
  for (int64_t r = warp; r < a.rows; r += nwarps) {
    int64_t rest = r, in_off = 0, val_off = 0, idx_off = 0;
    for (int d = a.lead_ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % a.lead_shape[d];
      rest /= a.lead_shape[d];
      in_off += idx * a.in_strides[d];
      val_off += idx * a.val_strides[d];
      idx_off += idx * a.idx_strides[d];
    }
    // Lane t visits chunks t, t+32, ... of 8 elements, in increasing element order.
    auto for_each = [&](auto&& f) {
      for (int64_t c = lane; c * 8 < a.n; c += FXOPT_WARP_SIZE)
        for (int64_t j = c * 8; j < c * 8 + 8 && j < a.n; ++j) f(j, in_off + j * a.n_stride);
    };
    if (a.op == ReduceOp::sum || a.op == ReduceOp::mean) {
      if (is_float || a.op == ReduceOp::mean) {
        float s = 0.0f;
        for_each([&](int64_t, int64_t off) { s = s + detail::load_f32(a.in, a.in_dtype, off); });
        for (int off = 16; off >= 1; off /= 2) s = s + __shfl_xor(s, off, FXOPT_WARP_SIZE);
        if (a.op == ReduceOp::mean) s = s / static_cast<float>(a.n);
        if (lane == 0) detail::store_f32(a.values, a.val_dtype, val_off, s);
      } else {
        int64_t s = 0;
        for_each([&](int64_t, int64_t off) {
          s = static_cast<int64_t>(static_cast<uint64_t>(s) + static_cast<uint64_t>(detail::load_i64(a.in, a.in_dtype, off)));
        });
        for (int off = 16; off >= 1; off /= 2)
          s = static_cast<int64_t>(static_cast<uint64_t>(s) + static_cast<uint64_t>(__shfl_xor(s, off, FXOPT_WARP_SIZE)));
        if (lane == 0) detail::store_i64(a.values, a.val_dtype, val_off, s);
      }
      continue;
    }
    const bool want_max = a.op == ReduceOp::amax || a.op == ReduceOp::max;
    if (is_float && !a.indices) {  // amax/amin: num::nan_max/nan_min, order-free
      float v = want_max ? -INFINITY : INFINITY;
      for_each([&](int64_t, int64_t off) {
        const float x = detail::load_f32(a.in, a.in_dtype, off);
        v = want_max ? num::nan_max(v, x) : num::nan_min(v, x);
      });
      for (int off = 16; off >= 1; off /= 2) {
        const float v2 = __shfl_xor(v, off, FXOPT_WARP_SIZE);
        v = want_max ? num::nan_max(v, v2) : num::nan_min(v, v2);
      }
      if (lane == 0) detail::store_f32(a.values, a.val_dtype, val_off, v);
    } else if (is_float) {
      float v = want_max ? -INFINITY : INFINITY;
      int64_t i = INT64_MAX;
      for_each([&](int64_t j, int64_t off) {
        const float x = detail::load_f32(a.in, a.in_dtype, off);
        if (want_max) pick<true>(v, i, x, j); else pick<false>(v, i, x, j);
      });
      for (int off = 16; off >= 1; off /= 2) {
        const float v2 = __shfl_xor(v, off, FXOPT_WARP_SIZE);
        const int64_t i2 = __shfl_xor(i, off, FXOPT_WARP_SIZE);
        if (want_max) pick<true>(v, i, v2, i2); else pick<false>(v, i, v2, i2);
      }
      if (lane == 0) {
        detail::store_f32(a.values, a.val_dtype, val_off, v);
        if (a.indices) a.indices[idx_off] = i;
      }
    } else {
      int64_t v = want_max ? INT64_MIN : INT64_MAX;
      int64_t i = INT64_MAX;
      for_each([&](int64_t j, int64_t off) {
        const int64_t x = detail::load_i64(a.in, a.in_dtype, off);
        if (want_max) pick_i<true>(v, i, x, j); else pick_i<false>(v, i, x, j);
      });
      for (int off = 16; off >= 1; off /= 2) {
        const int64_t v2 = __shfl_xor(v, off, FXOPT_WARP_SIZE);
        const int64_t i2 = __shfl_xor(i, off, FXOPT_WARP_SIZE);
        if (want_max) pick_i<true>(v, i, v2, i2); else pick_i<false>(v, i, v2, i2);
      }
      if (lane == 0) {
        detail::store_i64(a.values, a.val_dtype, val_off, v);
        if (a.indices) a.indices[idx_off] = i;
      }
    }
  }
}

}  // namespace

void reduce_last_dim(const TensorRef& values, const TensorRef* indices, const TensorRef& in, ReduceOp op) {
  if (in.ndim < 1) throw std::invalid_argument("reduce_last_dim: input must have at least one dim");
  const bool with_indices = op == ReduceOp::max || op == ReduceOp::min;
  if (with_indices && !indices) throw std::invalid_argument("reduce_last_dim: max/min need an indices tensor");
  if (indices && indices->dtype != DType::i64) throw std::invalid_argument("reduce_last_dim: indices must be int64");
  const int64_t n = in.shape[in.ndim - 1];
  if (n == 0 && op != ReduceOp::sum && op != ReduceOp::mean)
    throw std::invalid_argument("reduce_last_dim: max/min of an empty dim");
  ReduceArgs a{};
  a.op = op;
  a.lead_ndim = in.ndim - 1;
  a.rows = 1;
  if (values.numel() != in.numel() / (n == 0 ? 1 : n) && n != 0)
    throw std::invalid_argument("reduce_last_dim: values has the wrong number of elements");
  // values/indices may keep the reduced dim (size 1) or not: their leading strides are used.
  if (values.ndim < a.lead_ndim) throw std::invalid_argument("reduce_last_dim: values has too few dims");
  for (int d = 0; d < a.lead_ndim; ++d) {
    a.lead_shape[d] = in.shape[d];
    a.in_strides[d] = in.strides[d];
    a.val_strides[d] = values.strides[d];
    if (indices) a.idx_strides[d] = indices->strides[d];
    a.rows *= in.shape[d];
  }
  a.in = in.data;
  a.in_dtype = in.dtype;
  a.n = n;
  a.n_stride = in.strides[in.ndim - 1];
  a.values = values.data;
  a.val_dtype = values.dtype;
  a.indices = with_indices ? static_cast<int64_t*>(indices->data) : nullptr;
  if (a.rows == 0) return;
  const unsigned blocks = detail::grid_for(a.rows * FXOPT_WARP_SIZE, 256);
  FXOPT_LAUNCH("reduce_last_kernel", reduce_last_kernel, dim3(blocks), dim3(256), 0, detail::stream(), a);
}

}  // namespace fxopt::gpu
