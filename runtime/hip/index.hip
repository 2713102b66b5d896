// Indexing kernels (embedding, index_select, gather, index.Tensor, index_put): a strided gather or scatter of
// whole elements (bytes copied, exact for every dtype) and the range check of index values that runs first.
#include <climits>
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

__device__ inline int64_t load_index(const void* p, DType t, int64_t off) {
  return t == DType::i32 ? static_cast<const int32_t*>(p)[off] : static_cast<const int64_t*>(p)[off];
}

template <class E>
__global__ void __launch_bounds__(256) gather_kernel(E* out, const E* x, GatherPlan p, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t rest = i, xoff = 0;
    int64_t ioff[kMaxDims] = {};
    for (int d = p.ndim - 1; d >= 0; --d) {
      const int64_t pos = rest % p.shape[d];
      rest /= p.shape[d];
      xoff += pos * p.x_strides[d];
      for (int k = 0; k < p.nidx; ++k) ioff[k] += pos * p.idx_strides[k][d];
    }
    for (int k = 0; k < p.nidx; ++k) {
      int64_t v = load_index(p.idx[k], p.idx_dtype[k], ioff[k]);
      if (v < 0) v += p.idx_size[k];
      xoff += v * p.idx_x_stride[k];
    }
    out[i] = x[xoff];
  }
}

// The element offset of position i of a gather plan in x (or out, for index_put) and of the values.
__device__ inline int64_t plan_offset(const GatherPlan& p, int64_t i, const int64_t* vstrides, int64_t* voff) {
  int64_t rest = i, xoff = 0, vo = 0;
  int64_t ioff[kMaxDims] = {};
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t pos = rest % p.shape[d];
    rest /= p.shape[d];
    xoff += pos * p.x_strides[d];
    if (vstrides) vo += pos * vstrides[d];
    for (int k = 0; k < p.nidx; ++k) ioff[k] += pos * p.idx_strides[k][d];
  }
  for (int k = 0; k < p.nidx; ++k) {
    int64_t v = load_index(p.idx[k], p.idx_dtype[k], ioff[k]);
    if (v < 0) v += p.idx_size[k];
    xoff += v * p.idx_x_stride[k];
  }
  if (voff) *voff = vo;
  return xoff;
}

struct ValueStrides {
  int64_t s[kMaxDims];
};

// Pass 1: each target element remembers the last position (row-major) writing it, as 1 + position.
__global__ void __launch_bounds__(256) put_claim_kernel(GatherPlan p, int64_t n, unsigned long long* winner) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    atomicMax(&winner[plan_offset(p, i, nullptr, nullptr)], static_cast<unsigned long long>(i + 1));
}

// Pass 2: that position alone writes its value.
template <class E>
__global__ void __launch_bounds__(256) put_write_kernel(E* out, const E* values, GatherPlan p, ValueStrides vs, int64_t n,
                                                        const unsigned long long* winner) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t vo = 0;
    const int64_t o = plan_offset(p, i, vs.s, &vo);
    if (winner[o] == static_cast<unsigned long long>(i + 1)) out[o] = values[vo];
  }
}

struct CheckArgs {
  const void* idx;
  DType dtype;
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];
  int64_t lo, hi;  // valid: lo <= v < hi
};

__global__ void __launch_bounds__(256) check_kernel(CheckArgs a, int64_t n, unsigned long long* first_bad) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t v = load_index(a.idx, a.dtype, detail::strided_offset(i, a.ndim, a.shape, a.strides));
    if (v < a.lo || v >= a.hi) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

}  // namespace

void gather(void* out, const void* x, size_t elem_size, const GatherPlan& plan) {
  int64_t n = 1;
  for (int d = 0; d < plan.ndim; ++d) n *= plan.shape[d];
  if (n == 0) return;
  if (plan.ndim > kMaxDims || plan.nidx > kMaxDims) throw std::invalid_argument("gather: more than 6 dims");
  const unsigned blocks = detail::grid_for(n, 256);
  switch (elem_size) {
    case 1:
      FXOPT_LAUNCH("gather_kernel", gather_kernel<uint8_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                   static_cast<uint8_t*>(out), static_cast<const uint8_t*>(x), plan, n);
      return;
    case 2:
      FXOPT_LAUNCH("gather_kernel", gather_kernel<uint16_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                   static_cast<uint16_t*>(out), static_cast<const uint16_t*>(x), plan, n);
      return;
    case 4:
      FXOPT_LAUNCH("gather_kernel", gather_kernel<uint32_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                   static_cast<uint32_t*>(out), static_cast<const uint32_t*>(x), plan, n);
      return;
    case 8:
      FXOPT_LAUNCH("gather_kernel", gather_kernel<uint64_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                   static_cast<uint64_t*>(out), static_cast<const uint64_t*>(x), plan, n);
      return;
    default: throw std::invalid_argument("gather: element size must be 1, 2, 4 or 8 bytes");
  }
}

void index_put(void* out, int64_t out_numel, const void* values, const int64_t* values_strides, size_t elem_size,
               const GatherPlan& plan) {
  int64_t n = 1;
  for (int d = 0; d < plan.ndim; ++d) n *= plan.shape[d];
  if (n == 0 || out_numel == 0) return;
  if (plan.ndim > kMaxDims || plan.nidx > kMaxDims) throw std::invalid_argument("index_put: more than 6 dims");
  ValueStrides vs{};
  for (int d = 0; d < plan.ndim; ++d) vs.s[d] = values_strides[d];
  const size_t wbytes = static_cast<size_t>(out_numel) * sizeof(unsigned long long);
  auto* winner = static_cast<unsigned long long*>(alloc(wbytes));
  try {
    fill_bytes(winner, 0, wbytes);
    const unsigned blocks = detail::grid_for(n, 256);
    FXOPT_LAUNCH("put_claim_kernel", put_claim_kernel, dim3(blocks), dim3(256), 0, detail::stream(), plan, n, winner);
    switch (elem_size) {
      case 1:
        FXOPT_LAUNCH("put_write_kernel", put_write_kernel<uint8_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                     static_cast<uint8_t*>(out), static_cast<const uint8_t*>(values), plan, vs, n, winner);
        break;
      case 2:
        FXOPT_LAUNCH("put_write_kernel", put_write_kernel<uint16_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                     static_cast<uint16_t*>(out), static_cast<const uint16_t*>(values), plan, vs, n, winner);
        break;
      case 4:
        FXOPT_LAUNCH("put_write_kernel", put_write_kernel<uint32_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                     static_cast<uint32_t*>(out), static_cast<const uint32_t*>(values), plan, vs, n, winner);
        break;
      case 8:
        FXOPT_LAUNCH("put_write_kernel", put_write_kernel<uint64_t>, dim3(blocks), dim3(256), 0, detail::stream(),
                     static_cast<uint64_t*>(out), static_cast<const uint64_t*>(values), plan, vs, n, winner);
        break;
      default: throw std::invalid_argument("index_put: element size must be 1, 2, 4 or 8 bytes");
    }
  } catch (...) {
    free(winner);
    throw;
  }
  free(winner);  // the caching allocator reuses it only for work issued later on the same stream
}

int64_t first_bad_index(const TensorRef& index, int64_t size, bool allow_negative, int64_t* value_out) {
  if (index.dtype != DType::i64 && index.dtype != DType::i32) throw std::invalid_argument("index tensors are int64 or int32");
  const int64_t n = index.numel();
  if (n == 0) return -1;
  CheckArgs a{};
  a.idx = index.data;
  a.dtype = index.dtype;
  a.ndim = index.ndim;
  for (int d = 0; d < index.ndim; ++d) {
    a.shape[d] = index.shape[d];
    a.strides[d] = index.strides[d];
  }
  a.lo = allow_negative ? -size : 0;
  a.hi = size;
  auto* flag = static_cast<unsigned long long*>(alloc(sizeof(unsigned long long)));
  unsigned long long first = ULLONG_MAX;
  try {
    fill_bytes(flag, 0xFF, sizeof(unsigned long long));
    FXOPT_LAUNCH("index_check_kernel", check_kernel, dim3(detail::grid_for(n, 256)), dim3(256), 0, detail::stream(), a, n, flag);
    FXOPT_HIP_CHECK(hipStreamSynchronize(detail::stream()));
    copy_to_host(&first, flag, sizeof first);
  } catch (...) {
    free(flag);
    throw;
  }
  free(flag);
  if (first == ULLONG_MAX) return -1;
  const int64_t pos = static_cast<int64_t>(first);
  int64_t off = 0, rest = pos;
  for (int d = index.ndim - 1; d >= 0; --d) {
    off += (rest % index.shape[d]) * index.strides[d];
    rest /= index.shape[d];
  }
  const size_t es = index.dtype == DType::i32 ? 4 : 8;
  if (es == 4) {
    int32_t v = 0;
    copy_to_host(&v, static_cast<const char*>(index.data) + off * 4, 4);
    *value_out = v;
  } else {
    copy_to_host(value_out, static_cast<const char*>(index.data) + off * 8, 8);
  }
  return pos;
}

}  // namespace fxopt::gpu
