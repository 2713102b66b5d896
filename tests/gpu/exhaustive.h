// Exhaustive device-side checks behind the fast paths of the GPU kernels (tests/gpu/exhaustive.hip).
#pragma once

#include <cstdint>

#include "runtime/numerics.h"

namespace fxopt::gpu::testing {

// Whether the hardware conversion paths were compiled in (NVIDIA sm_89+).
bool hw_paths_compiled();
// Floats (all 2^32 bit patterns, NaNs only checked to stay NaN) whose hardware bf16 conversion
// differs from num::f32_to_bf16.
uint64_t bf16_hw_mismatches();
// Floats (all 2^32 bit patterns except negative NaNs, which the kernels never produce) whose
// hardware e4m3 satfinite code differs from clamp(+-448) + num::f32_to_fp8e4m3fn.
uint64_t fp8_hw_mismatches();
// Pairs (y bf16 finite, amax bf16 finite >= |y|) whose fast y/scale gives another fp8 code than the
// IEEE division; *pairs receives the number checked.
uint64_t fast_divide_mismatches(num::Fp8Format fmt, uint64_t* pairs);
// bf16 z (all 65536) whose branch-free device silu (with its fx_silu fallback) differs from fx_silu;
// *slow receives how many took the fallback.
uint64_t silu_direct_mismatches(uint64_t* slow);
// fx_silu of every bf16 bit pattern, computed on the device (65536 floats into host_out).
void silu_all_bf16(float* host_out);
// fx_expf on the device of n host floats.
void expf_on_device(const float* in, float* out, int64_t n);

}  // namespace fxopt::gpu::testing
