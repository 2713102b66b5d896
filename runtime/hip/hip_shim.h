// The one shim between the HIP C++ the kernels are written in and the platform: <hip/hip_runtime.h>
// for AMD (hipcc), the CUDA runtime under the HIP names for NVIDIA (nvcc, FXOPT_GPU_NVIDIA).
// Only the names fxopt's kernels use are mapped; add a name here before using it in a .hip file.
#pragma once

#include <stdexcept>
#include <string>

#if defined(FXOPT_GPU_NVIDIA) || (defined(__CUDACC__) && !defined(__HIPCC__))

#include <cuda_runtime.h>

#define hipSuccess cudaSuccess
#define hipError_t cudaError_t
#define hipStream_t cudaStream_t
#define hipEvent_t cudaEvent_t
#define hipDeviceProp_t cudaDeviceProp
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemset cudaMemset
#define hipMemsetAsync cudaMemsetAsync
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDevice cudaGetDevice
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipStreamSynchronize cudaStreamSynchronize
#define hipGetLastError cudaGetLastError
#define hipGetErrorString cudaGetErrorString
#define hipEventCreate cudaEventCreate
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime
#define hipFuncSetAttribute cudaFuncSetAttribute
#define hipFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize
#define hipOccupancyMaxActiveBlocksPerMultiprocessor cudaOccupancyMaxActiveBlocksPerMultiprocessor
#define hipLaunchKernelGGL(kernel, grid, block, shmem, stream, ...) \
  kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)

// HIP's warp shuffles take no mask; every fxopt kernel shuffles with the whole warp converged.
#define FXOPT_WARP_SIZE 32
template <class T>
__device__ __forceinline__ T __shfl_xor(T v, int lane_mask, int width = 32) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}
template <class T>
__device__ __forceinline__ T __shfl(T v, int src_lane, int width = 32) {
  return __shfl_sync(0xffffffffu, v, src_lane, width);
}

#else  // AMD

#include <hip/hip_runtime.h>

// fxopt's kernels assume 32-lane groups for the canonical row-sum order (lane t owns chunks t, t+32,
// ...). On wave64 hardware (gfx90a, gfx94x) a "warp" below is half a wavefront: shuffles pass
// width 32 so the two halves never mix.
#define FXOPT_WARP_SIZE 32

#endif

namespace fxopt::gpu::detail {

[[noreturn]] inline void throw_hip_error(hipError_t err, const char* stmt, const char* file, int line) {
  throw std::runtime_error(std::string("GPU error: ") + hipGetErrorString(err) + " in `" + stmt + "` at " +
                           file + ":" + std::to_string(line));
}

}  // namespace fxopt::gpu::detail

// Evaluates a HIP runtime call; on failure throws std::runtime_error naming the statement, file, line.
#define FXOPT_HIP_CHECK(stmt)                                                         \
  do {                                                                                \
    hipError_t fxopt_hip_err_ = (stmt);                                               \
    if (fxopt_hip_err_ != hipSuccess)                                                 \
      ::fxopt::gpu::detail::throw_hip_error(fxopt_hip_err_, #stmt, __FILE__, __LINE__); \
  } while (0)

