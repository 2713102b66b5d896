// Device-side helpers shared by the runtime/hip/*.hip kernels: dtype loads/stores, broadcasting,
// launch checks, device properties. Included only from .hip files.
#pragma once

#include <cstdint>

#include "runtime/hip/hip_shim.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/numerics.h"

// Checks the launch just made (bad configuration, missing kernel image) and names the kernel; counts
// it for gpu::kernel_launches() (every launch in runtime/hip goes through this macro).
#define FXOPT_HIP_CHECK_LAUNCH(name)                                                   \
  do {                                                                                 \
    ::fxopt::gpu::detail::note_launch();                                               \
    hipError_t fxopt_launch_err_ = hipGetLastError();                                  \
    if (fxopt_launch_err_ != hipSuccess)                                               \
      ::fxopt::gpu::detail::throw_hip_error(fxopt_launch_err_, "launch of " name, __FILE__, __LINE__); \
  } while (0)

// Launches a kernel (hipLaunchKernelGGL's arguments after the name), timed on its own under
// gpu::timing_enabled() (an event pair on `strm` right around the launch), then counted and checked.
// Every kernel launch in runtime/hip goes through this macro.
#define FXOPT_LAUNCH(name, kernel, grid, block, shmem, strm, ...)              \
  do {                                                                         \
    const hipStream_t fxopt_launch_stream_ = (strm);                           \
    ::fxopt::gpu::detail::launch_begin(fxopt_launch_stream_);                  \
    hipLaunchKernelGGL(kernel, grid, block, shmem, fxopt_launch_stream_, __VA_ARGS__); \
    ::fxopt::gpu::detail::launch_end(fxopt_launch_stream_);                    \
    FXOPT_HIP_CHECK_LAUNCH(name);                                              \
  } while (0)

namespace fxopt::gpu::detail {

// Event pair of one launch under timing (FXOPT_LAUNCH); no-ops when timing is off.
void launch_begin(hipStream_t s);
void launch_end(hipStream_t s);

// The stream of all launches (gpu::set_stream).
inline hipStream_t stream() { return static_cast<hipStream_t>(current_stream()); }

// One more kernel launched (FXOPT_HIP_CHECK_LAUNCH).
void note_launch();

// Multiprocessor count of the current device (cached).
int sm_count();
// Compute capability * 10 + minor on NVIDIA (e.g. 90); 0 on AMD.
int nvidia_arch();

// Strides of `in` when broadcast to `out_shape` (numpy rules, right-aligned); throws if the shapes
// are incompatible.
void broadcast_strides(const TensorRef& in, const TensorRef& out, int64_t* strides);

// ---- element access by runtime dtype ----

__device__ inline float load_f32(const void* base, DType t, int64_t off) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(base)[off];
    case DType::bf16: return num::bf16_to_f32(static_cast<const uint16_t*>(base)[off]);
    case DType::f16: return num::f16_to_f32(static_cast<const uint16_t*>(base)[off]);
    case DType::f8e4m3fn: return num::fp8e4m3fn_to_f32(static_cast<const uint8_t*>(base)[off]);
    case DType::f8e4m3fnuz: return num::fp8e4m3fnuz_to_f32(static_cast<const uint8_t*>(base)[off]);
    case DType::f8e5m2: return num::fp8e5m2_to_f32(static_cast<const uint8_t*>(base)[off]);
    case DType::i64: return static_cast<float>(static_cast<const int64_t*>(base)[off]);
    case DType::i32: return static_cast<float>(static_cast<const int32_t*>(base)[off]);
    case DType::i16: return static_cast<float>(static_cast<const int16_t*>(base)[off]);
    case DType::i8: return static_cast<float>(static_cast<const int8_t*>(base)[off]);
    case DType::u8: return static_cast<float>(static_cast<const uint8_t*>(base)[off]);
    case DType::b8: return static_cast<const uint8_t*>(base)[off] != 0 ? 1.0f : 0.0f;
  }
  return 0.0f;
}

__device__ inline int64_t load_i64(const void* base, DType t, int64_t off) {
  switch (t) {
    case DType::i64: return static_cast<const int64_t*>(base)[off];
    case DType::i32: return static_cast<const int32_t*>(base)[off];
    case DType::i16: return static_cast<const int16_t*>(base)[off];
    case DType::i8: return static_cast<const int8_t*>(base)[off];
    case DType::u8: return static_cast<const uint8_t*>(base)[off];
    case DType::b8: return static_cast<const uint8_t*>(base)[off] != 0 ? 1 : 0;
    default: return static_cast<int64_t>(load_f32(base, t, off));
  }
}

// float -> integer as a C cast (truncation), saturated at the type's range; NaN -> 0.
__device__ inline int64_t f32_to_i64_trunc(float v) {
  if (num::is_nan(v)) return 0;
  if (v >= 9.2233720368547758e18f) return INT64_MAX;
  if (v <= -9.2233720368547758e18f) return INT64_MIN;
  return static_cast<int64_t>(v);
}

__device__ inline void store_i64(void* base, DType t, int64_t off, int64_t v) {
  switch (t) {
    case DType::i64: static_cast<int64_t*>(base)[off] = v; return;
    case DType::i32: static_cast<int32_t*>(base)[off] = static_cast<int32_t>(v); return;
    case DType::i16: static_cast<int16_t*>(base)[off] = static_cast<int16_t>(v); return;
    case DType::i8: static_cast<int8_t*>(base)[off] = static_cast<int8_t>(v); return;
    case DType::u8: static_cast<uint8_t*>(base)[off] = static_cast<uint8_t>(v); return;
    case DType::b8: static_cast<uint8_t*>(base)[off] = v != 0 ? 1 : 0; return;
    case DType::f32: static_cast<float*>(base)[off] = static_cast<float>(v); return;
    case DType::bf16: static_cast<uint16_t*>(base)[off] = num::f32_to_bf16(static_cast<float>(v)); return;
    case DType::f16: static_cast<uint16_t*>(base)[off] = num::f32_to_f16(static_cast<float>(v)); return;
    case DType::f8e4m3fn: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e4m3fn(static_cast<float>(v)); return;
    case DType::f8e4m3fnuz: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e4m3fnuz(static_cast<float>(v)); return;
    case DType::f8e5m2: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e5m2(static_cast<float>(v)); return;
  }
}

__device__ inline void store_f32(void* base, DType t, int64_t off, float v) {
  switch (t) {
    case DType::f32: static_cast<float*>(base)[off] = v; return;
    case DType::bf16: static_cast<uint16_t*>(base)[off] = num::f32_to_bf16(v); return;
    case DType::f16: static_cast<uint16_t*>(base)[off] = num::f32_to_f16(v); return;
    case DType::f8e4m3fn: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e4m3fn(v); return;
    case DType::f8e4m3fnuz: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e4m3fnuz(v); return;
    case DType::f8e5m2: static_cast<uint8_t*>(base)[off] = num::f32_to_fp8e5m2(v); return;
    case DType::b8: static_cast<uint8_t*>(base)[off] = v != 0.0f ? 1 : 0; return;
    default: store_i64(base, t, off, f32_to_i64_trunc(v)); return;
  }
}

// Offset of linear index i (row-major over shape) in a view with `strides`.
__device__ inline int64_t strided_offset(int64_t i, int ndim, const int64_t* shape, const int64_t* strides) {
  int64_t off = 0;
  for (int d = ndim - 1; d >= 0; --d) {
    const int64_t s = shape[d];
    const int64_t idx = i % s;
    i /= s;
    off += idx * strides[d];
  }
  return off;
}

// Grid size for a grid-stride loop over n items with `threads` threads per block.
inline unsigned grid_for(int64_t n, int threads, int max_blocks_per_sm = 8) {
  const int64_t blocks = (n + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sm_count()) * max_blocks_per_sm;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}

}  // namespace fxopt::gpu::detail
