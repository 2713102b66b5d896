// Exhaustive device-side checks of the fast paths in runtime/hip/rms_quant_rows.h against the plain
// numerics.h code (see tests/gpu/exhaustive.h).
#include <vector>

#include "runtime/hip/rms_quant_rows.h"
#include "tests/gpu/exhaustive.h"

namespace fxopt::gpu::testing {

namespace {

using detail::pack_bf16x2;
using detail::quant_pair;
using num::Fp8Format;

__global__ void hw_flag_kernel(int* flag) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  *flag = 1;
#else
  *flag = 0;
#endif
}

__global__ void bf16_kernel(unsigned long long* bad) {
  unsigned long long local = 0;
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (1ull << 32); i += stride) {
    const float f = __uint_as_float(static_cast<uint32_t>(i));
    const uint32_t hw = pack_bf16x2<true>(f, 0.0f) & 0xFFFFu;
    const uint32_t sw = num::f32_to_bf16(f);
    if (num::is_nan(f)) local += ((hw & 0x7FFFu) <= 0x7F80u);  // must stay NaN
    else local += (hw != sw);
  }
  atomicAdd(bad, local);
}

__global__ void fp8_kernel(unsigned long long* bad) {
  unsigned long long local = 0;
  const uint64_t stride = static_cast<uint64_t>(gridDim.x) * blockDim.x;
  for (uint64_t i = static_cast<uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (1ull << 32); i += stride) {
    const float f = __uint_as_float(static_cast<uint32_t>(i));
    if (num::is_nan(f) && (i >> 31)) continue;
    const uint32_t hw = quant_pair<Fp8Format::e4m3fn, true>(f, 0.0f) & 0xFFu;
    const uint32_t sw = quant_pair<Fp8Format::e4m3fn, false>(f, 0.0f) & 0xFFu;
    local += (hw != sw);
  }
  atomicAdd(bad, local);
}

// Block b: amax = bf16 magnitude b (finite); threads sweep every y with |y| <= amax, both signs.
template <Fp8Format F>
__global__ void divide_kernel(unsigned long long* bad, unsigned long long* pairs) {
  const uint32_t a_bits = blockIdx.x;  // 0 .. 0x7F7F
  const float amax = num::bf16_to_f32(static_cast<uint16_t>(a_bits));
  const float s = detail::quant_scale_fast<F>(a_bits);  // the kernels' scale: must equal quant_scale's bits
  const float r = 1.0f / s;
  unsigned long long local = 0, n = 0;
  if (threadIdx.x == 0 && __float_as_uint(s) != __float_as_uint(num::quant_scale(amax, F))) local += 1;
  for (uint32_t yb = threadIdx.x; yb <= 2 * a_bits + 1; yb += blockDim.x) {
    const uint32_t mag = yb >> 1;
    const float y = num::bf16_to_f32(static_cast<uint16_t>(mag | ((yb & 1u) << 15)));
    const float fast = detail::div_by_scale<true>(y, s, r);
    const float slow = y / s;
    local += (quant_pair<F, false>(fast, 0.0f) != quant_pair<F, false>(slow, 0.0f));
    ++n;
  }
  atomicAdd(bad, local);
  atomicAdd(pairs, n);
}

__global__ void silu_direct_kernel(unsigned long long* bad, unsigned long long* slow_count) {
  const uint32_t zb = blockIdx.x * blockDim.x + threadIdx.x;
  if (zb >= 65536) return;
  bool slow = false;
  float s = detail::silu_direct(zb, slow);
  if (slow) {
    s = detail::silu_exact(zb);
    atomicAdd(slow_count, 1ull);
  }
  const float want = num::fx_silu(num::bf16_to_f32(static_cast<uint16_t>(zb)));
  const bool same = __float_as_uint(s) == __float_as_uint(want) || (num::is_nan(s) && num::is_nan(want));
  if (!same) atomicAdd(bad, 1ull);
}

__global__ void silu_kernel(float* out) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < 65536) out[i] = num::fx_silu(num::bf16_to_f32(static_cast<uint16_t>(i)));
}

__global__ void expf_kernel(const float* in, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = num::fx_expf(in[i]);
}

template <class F>
uint64_t count_with(F launch) {
  unsigned long long* d = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&d, 2 * sizeof(unsigned long long)));
  FXOPT_HIP_CHECK(hipMemset(d, 0, 2 * sizeof(unsigned long long)));
  launch(d);
  FXOPT_HIP_CHECK(hipGetLastError());
  unsigned long long h[2];
  FXOPT_HIP_CHECK(hipMemcpy(h, d, sizeof h, hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(d));
  return h[0];
}

}  // namespace

bool hw_paths_compiled() {
  int* d = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&d, sizeof(int)));
  hipLaunchKernelGGL(hw_flag_kernel, dim3(1), dim3(1), 0, 0, d);
  FXOPT_HIP_CHECK(hipGetLastError());
  int h = 0;
  FXOPT_HIP_CHECK(hipMemcpy(&h, d, sizeof h, hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(d));
  return h != 0;
}

uint64_t bf16_hw_mismatches() {
  return count_with([](unsigned long long* d) { hipLaunchKernelGGL(bf16_kernel, dim3(4096), dim3(256), 0, 0, d); });
}

uint64_t fp8_hw_mismatches() {
  return count_with([](unsigned long long* d) { hipLaunchKernelGGL(fp8_kernel, dim3(4096), dim3(256), 0, 0, d); });
}

uint64_t fast_divide_mismatches(num::Fp8Format fmt, uint64_t* pairs) {
  unsigned long long* d = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&d, 2 * sizeof(unsigned long long)));
  FXOPT_HIP_CHECK(hipMemset(d, 0, 2 * sizeof(unsigned long long)));
  if (fmt == Fp8Format::e4m3fn)
    hipLaunchKernelGGL(divide_kernel<Fp8Format::e4m3fn>, dim3(0x7F80), dim3(256), 0, 0, d, d + 1);
  else
    hipLaunchKernelGGL(divide_kernel<Fp8Format::e4m3fnuz>, dim3(0x7F80), dim3(256), 0, 0, d, d + 1);
  FXOPT_HIP_CHECK(hipGetLastError());
  unsigned long long h[2];
  FXOPT_HIP_CHECK(hipMemcpy(h, d, sizeof h, hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(d));
  if (pairs) *pairs = h[1];
  return h[0];
}

uint64_t silu_direct_mismatches(uint64_t* slow) {
  unsigned long long* d = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&d, 2 * sizeof(unsigned long long)));
  FXOPT_HIP_CHECK(hipMemset(d, 0, 2 * sizeof(unsigned long long)));
  hipLaunchKernelGGL(silu_direct_kernel, dim3(256), dim3(256), 0, 0, d, d + 1);
  FXOPT_HIP_CHECK(hipGetLastError());
  unsigned long long h[2];
  FXOPT_HIP_CHECK(hipMemcpy(h, d, sizeof h, hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(d));
  if (slow) *slow = h[1];
  return h[0];
}

void silu_all_bf16(float* host_out) {
  float* d = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&d, 65536 * sizeof(float)));
  hipLaunchKernelGGL(silu_kernel, dim3(256), dim3(256), 0, 0, d);
  FXOPT_HIP_CHECK(hipGetLastError());
  FXOPT_HIP_CHECK(hipMemcpy(host_out, d, 65536 * sizeof(float), hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(d));
}

void expf_on_device(const float* in, float* out, int64_t n) {
  float *din = nullptr, *dout = nullptr;
  FXOPT_HIP_CHECK(hipMalloc(&din, n * sizeof(float)));
  FXOPT_HIP_CHECK(hipMalloc(&dout, n * sizeof(float)));
  FXOPT_HIP_CHECK(hipMemcpy(din, in, n * sizeof(float), hipMemcpyHostToDevice));
  hipLaunchKernelGGL(expf_kernel, dim3(static_cast<unsigned>((n + 255) / 256)), dim3(256), 0, 0, din, dout, n);
  FXOPT_HIP_CHECK(hipGetLastError());
  FXOPT_HIP_CHECK(hipMemcpy(out, dout, n * sizeof(float), hipMemcpyDeviceToHost));
  FXOPT_HIP_CHECK(hipFree(din));
  FXOPT_HIP_CHECK(hipFree(dout));
}

}  // namespace fxopt::gpu::testing
