// C entry points into fxopt's GPU kernels for bench/gpu/bench_fused.py and bench_rms_norm_quant.py (ctypes), so PyTorch and the
// fxopt kernels run in one process on the same device tensors.
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "runtime/hip/gpu_api.h"

namespace {
std::string g_error;
}

extern "C" {

// 0 on success, -1 on error (message from fxopt_gpu_last_error). fmt: 0 e4m3fn, 1 e4m3fnuz.
// silu_mode: 0 automatic, 1 direct, 2 table. fast_paths: 0/1. blocks_per_sm: 0 = occupancy.
// lanes_per_row: 0 = by size, else 4/8/16/32. stages: 0 = by size, 1, 2, 4. threads_per_block: 0 = by size.
int fxopt_gpu_fused_rms_gated(void* q, void* scale, const void* x, const void* w, const void* z, int64_t M,
                              int64_t D, double eps, int64_t G, int fmt, int silu_mode, int fast_paths,
                              int blocks_per_sm, int lanes_per_row, int stages, int threads_per_block) {
  try {
    fxopt::gpu::FusedOptions o;
    o.silu = static_cast<fxopt::gpu::FusedOptions::Silu>(silu_mode);
    o.fast_paths = fast_paths != 0;
    o.blocks_per_sm = blocks_per_sm;
    o.lanes_per_row = lanes_per_row;
    o.stages = stages;
    o.threads_per_block = threads_per_block;
    fxopt::gpu::fused_rms_gated_fp8_group_quant(
        static_cast<uint8_t*>(q), static_cast<float*>(scale), static_cast<const uint16_t*>(x),
        static_cast<const uint16_t*>(w), static_cast<const uint16_t*>(z), M, D, eps, G,
        fmt == 0 ? fxopt::num::Fp8Format::e4m3fn : fxopt::num::Fp8Format::e4m3fnuz, o);
    return 0;
  } catch (const std::exception& e) {
    g_error = e.what();
    return -1;
  }
}

// The vLLM RMSNorm (+ residual) -> FP8 family (gpu::rms_norm_quant; bench/gpu/bench_rms_norm_quant.py). scheme: 0 none
// (y written), 1 static (static_scale: a device float), 2 per-token, 3 group (group_size); divide: 0 multiply by
// the scale's reciprocal, 1 divide; res, res_out, scale_ub, y may be null where unused. fmt: 0 e4m3fn, 1 e4m3fnuz.
int fxopt_gpu_rms_norm_quant(const void* x, const void* res, const void* w, int64_t M, int64_t D, double eps, int scheme,
                             int divide, int64_t group_size, const void* static_scale, const void* scale_ub, int fmt,
                             void* y, void* res_out, void* q, void* scale, int fast_paths) {
  try {
    fxopt::num::QuantArgs qa;
    if (scheme < 0 || scheme > 3) throw std::invalid_argument("scheme must be 0..3");
    qa.scheme = static_cast<fxopt::num::QuantScheme>(scheme);
    qa.fmt = fmt == 0 ? fxopt::num::Fp8Format::e4m3fn : fxopt::num::Fp8Format::e4m3fnuz;
    qa.divide = divide != 0;
    qa.group = group_size;
    qa.static_scale = static_cast<const float*>(static_scale);
    qa.scale_ub = static_cast<const float*>(scale_ub);
    fxopt::gpu::FusedOptions o;
    o.fast_paths = fast_paths != 0;
    fxopt::gpu::rms_norm_quant(static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(res),
                               static_cast<const uint16_t*>(w), M, D, eps, qa, static_cast<uint16_t*>(y),
                               static_cast<uint16_t*>(res_out), static_cast<uint8_t*>(q), static_cast<float*>(scale), o);
    return 0;
  } catch (const std::exception& e) {
    g_error = e.what();
    return -1;
  }
}

void fxopt_gpu_set_stream(void* stream) { fxopt::gpu::set_stream(stream); }

const char* fxopt_gpu_last_error() { return g_error.c_str(); }

const char* fxopt_gpu_device_name() {
  static std::string name;
  try {
    name = fxopt::gpu::device_name();
  } catch (const std::exception& e) {
    name = e.what();
  }
  return name.c_str();
}

}  // extern "C"
