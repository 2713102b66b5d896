// The vLLM RMSNorm + FP8 family on the GPU backend: device buffers and the HIP kernel (runtime/hip/rms_norm_quant.hip)
// behind the CPU kernels' argument checks (runtime/cpu/rms_norm_quant.cpp), for the rows in
// runtime/ops/rms_norm_quant.cpp (functional ops and auto_functionalized of the mutating _C ops).
#include "runtime/backend.h"

#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU

#include "runtime/cpu/rms_norm_quant.h"
#include "runtime/gpu_ops.h"
#include "runtime/hip/gpu_api.h"

namespace fxopt::rt::gpu_ops {

const cpu::RowsBackend& rms_norm_quant_rows() {
  static const cpu::RowsBackend b{
      [](DType d, const Shape& shape) { return device_tensor(d, shape); },
      [](const Tensor& t) { return device_contiguous(t); },
      [](const cpu::RowsJob& j) {
        gpu::rms_norm_quant(j.x, j.res, j.w, j.m, j.d, j.eps, j.qa, j.y, j.res_out, j.q, j.scale);
      }};
  return b;
}

}  // namespace fxopt::rt::gpu_ops

#endif  // FXOPT_HAVE_GPU
