// cumsum / cumprod on the GPU: one thread per line along the scanned dim, accumulating in order in the CPU
// reference's accumulate type (runtime/cpu/scan.cpp: double for float32, float for float16/bfloat16, int64
// wrapping for integers), each prefix rounded once to the output dtype, so the bits equal the CPU's.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

struct ScanArgs {
  const void* in; DType it;
  void* out; DType ot;
  int64_t n, inner, in_stride_outer, in_stride_n, in_stride_inner;  // in: (outer, n, inner) strides
  int64_t lines;
  bool prod;
};

__global__ void __launch_bounds__(256) scan_kernel(ScanArgs a) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < a.lines; l += step) {
    const int64_t o = l / a.inner, j = l % a.inner;
    const int64_t ib = o * a.in_stride_outer + j * a.in_stride_inner, ob = o * a.n * a.inner + j;
    if (a.ot == DType::f32) {
      double acc = a.prod ? 1.0 : 0.0;
      for (int64_t i = 0; i < a.n; ++i) {
        const double v = static_cast<double>(detail::load_f32(a.in, a.it, ib + i * a.in_stride_n));
        acc = a.prod ? acc * v : acc + v;
        static_cast<float*>(a.out)[ob + i * a.inner] = static_cast<float>(acc);
      }
    } else if (dtype_is_float(a.ot)) {
      float acc = a.prod ? 1.0f : 0.0f;
      for (int64_t i = 0; i < a.n; ++i) {
        const float v = detail::load_f32(a.in, a.it, ib + i * a.in_stride_n);
        acc = a.prod ? acc * v : acc + v;
        detail::store_f32(a.out, a.ot, ob + i * a.inner, acc);
      }
    } else {
      uint64_t acc = a.prod ? 1 : 0;
      for (int64_t i = 0; i < a.n; ++i) {
        const uint64_t v = static_cast<uint64_t>(detail::load_i64(a.in, a.it, ib + i * a.in_stride_n));
        acc = a.prod ? acc * v : acc + v;
        detail::store_i64(a.out, a.ot, ob + i * a.inner, static_cast<int64_t>(acc));
      }
    }
  }
}

}  // namespace

void scan(const TensorRef& out, const TensorRef& in, int dim, bool prod) {
  if (in.ndim != out.ndim || (in.ndim > 0 && (dim < 0 || dim >= in.ndim))) throw std::invalid_argument("scan: bad dims");
  if (!out.is_contiguous()) throw std::invalid_argument("scan: the output must be contiguous");
  if (dtype_is_float(out.dtype) && (out.dtype != DType::f32 && out.dtype != DType::bf16 && out.dtype != DType::f16))
    throw std::invalid_argument("scan: fp8 outputs are not supported");
  ScanArgs a{};
  a.in = in.data; a.it = in.dtype;
  a.out = out.data; a.ot = out.dtype;
  a.prod = prod;
  a.n = in.ndim == 0 ? 1 : in.shape[dim];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= in.shape[d];
  for (int d = dim + 1; d < in.ndim; ++d) inner *= in.shape[d];
  // The input's strides as (outer, n, inner): the outer and inner dims must each be one stride apart in a
  // row-major walk, which holds for the contiguous inputs the backend passes.
  a.inner = inner;
  a.in_stride_n = in.ndim == 0 ? 0 : in.strides[dim];
  a.in_stride_inner = 1;
  a.in_stride_outer = a.n * inner;
  if (!in.is_contiguous()) throw std::invalid_argument("scan: the input must be contiguous");
  a.lines = outer * inner;
  if (a.lines == 0 || a.n == 0) return;
  FXOPT_LAUNCH("scan_kernel", scan_kernel, dim3(detail::grid_for(a.lines, 256)), dim3(256), 0, detail::stream(), a);
}

}  // namespace fxopt::gpu
