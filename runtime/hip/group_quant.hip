// Dynamic FP8 group quant of a bf16 matrix (vLLM's rocm_aiter_group_fp8_quant), bit-identical to
// num::group_fp8_quant.
#include "runtime/hip/rms_quant_rows.h"

namespace fxopt::gpu {

void group_fp8_quant(uint8_t* q, float* scale, const uint16_t* y, int64_t M, int64_t K, int64_t G,
                     num::Fp8Format fmt, const FusedOptions& opts) {
  if (G <= 0 || K % G != 0) throw std::invalid_argument("group_fp8_quant: K must be a multiple of the group size");
  // Groups are contiguous runs of G elements: quantise M*K/G rows of one group each.
  detail::RowArgs a{y, nullptr, nullptr, q, scale, nullptr, M * (K / G), static_cast<int>(G), static_cast<int>(G), 0.0f};
  detail::launch_rows<detail::RowMode::quant>(a, fmt, opts);
}

}  // namespace fxopt::gpu
