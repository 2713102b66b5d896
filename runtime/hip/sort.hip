// Stable sort and topk on the GPU by rank counting: each element's place in its row is the number of keys
// ordered before it (NaN above everything, -0 == +0) plus the equal keys at lower indices, which is exactly
// where the CPU's std::stable_sort puts it (runtime/cpu/sort.cpp); the first k places are kept. O(n) work per
// element, so rows are kept short (the op rows' gpu_when).
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

struct SortArgs {
  const void* x; DType dt;  // contiguous (outer, n, inner)
  int64_t outer, n, inner, k;
  void* values;              // contiguous (outer, k, inner), x's dtype
  int64_t* indices;          // the same shape, int64
  bool descending;
};

template <class K>
__device__ inline bool key_less(K a, K b) {
  if constexpr (sizeof(K) == 4) {  // float keys: NaN above everything
    if (num::is_nan(b)) return !num::is_nan(a);
    if (num::is_nan(a)) return false;
  }
  return a < b;
}

template <class K>
__device__ inline K key_at(const SortArgs& a, int64_t off) {
  if constexpr (sizeof(K) == 4) return detail::load_f32(a.x, a.dt, off);
  else return detail::load_i64(a.x, a.dt, off);
}

template <class K, class E>
__global__ void __launch_bounds__(256) sort_rank_kernel(SortArgs a, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += step) {
    const int64_t i = t % a.n, line = t / a.n, o = line / a.inner, j = line % a.inner;
    const int64_t base = o * a.n * a.inner + j;
    const K ki = key_at<K>(a, base + i * a.inner);
    int64_t rank = 0;
    for (int64_t m = 0; m < a.n; ++m) {
      if (m == i) continue;
      const K km = key_at<K>(a, base + m * a.inner);
      const bool before = a.descending ? key_less(ki, km) : key_less(km, ki);
      const bool equal = !key_less(ki, km) && !key_less(km, ki);
      rank += (before || (equal && m < i)) ? 1 : 0;
    }
    if (rank >= a.k) continue;
    const int64_t dst = (o * a.k + rank) * a.inner + j;
    static_cast<E*>(a.values)[dst] = static_cast<const E*>(a.x)[base + i * a.inner];
    a.indices[dst] = i;
  }
}

template <class K>
void launch_sort(const SortArgs& a, int64_t total, size_t es) {
  const unsigned blocks = detail::grid_for(total, 256);
  switch (es) {
    case 1: FXOPT_LAUNCH("sort_rank_kernel", (sort_rank_kernel<K, uint8_t>), dim3(blocks), dim3(256), 0, detail::stream(), a, total); return;
    case 2: FXOPT_LAUNCH("sort_rank_kernel", (sort_rank_kernel<K, uint16_t>), dim3(blocks), dim3(256), 0, detail::stream(), a, total); return;
    case 4: FXOPT_LAUNCH("sort_rank_kernel", (sort_rank_kernel<K, uint32_t>), dim3(blocks), dim3(256), 0, detail::stream(), a, total); return;
    case 8: FXOPT_LAUNCH("sort_rank_kernel", (sort_rank_kernel<K, uint64_t>), dim3(blocks), dim3(256), 0, detail::stream(), a, total); return;
    default: throw std::invalid_argument("sort: element size must be 1, 2, 4 or 8 bytes");
  }
}

}  // namespace

void sort_rows(void* values, int64_t* indices, const TensorRef& x, int dim, int64_t k, bool descending) {
  if (!x.is_contiguous()) throw std::invalid_argument("sort: the input must be contiguous");
  if (x.dtype == DType::f8e4m3fn || x.dtype == DType::f8e4m3fnuz || x.dtype == DType::f8e5m2)
    throw std::invalid_argument("sort: fp8 is not supported");
  SortArgs a{};
  a.x = x.data;
  a.dt = x.dtype;
  a.n = x.ndim == 0 ? 1 : x.shape[dim];
  a.outer = 1;
  a.inner = 1;
  for (int d = 0; d < dim && d < x.ndim; ++d) a.outer *= x.shape[d];
  for (int d = dim + 1; d < x.ndim; ++d) a.inner *= x.shape[d];
  a.k = k;
  a.values = values;
  a.indices = indices;
  a.descending = descending;
  const int64_t total = a.outer * a.n * a.inner;
  if (total == 0 || k == 0) return;
  if (dtype_is_float(x.dtype)) launch_sort<float>(a, total, dtype_size(x.dtype));
  else launch_sort<int64_t>(a, total, dtype_size(x.dtype));
}

}  // namespace fxopt::gpu
