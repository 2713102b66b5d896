// RMSNorm + per-token dynamic FP8 quant (vLLM's rocm_aiter_rmsnorm_fused_dynamic_quant), one pass
// per row, bit-identical to num::rmsnorm_dynamic_quant.
#include "runtime/hip/rms_quant_rows.h"

namespace fxopt::gpu {

void rmsnorm_dynamic_quant(uint8_t* q, float* scale, const uint16_t* x, const uint16_t* w, int64_t M,
                           int64_t D, double eps, num::Fp8Format fmt, const FusedOptions& opts) {
  // Per-token quant is a group quant whose group is the whole row.
  detail::RowArgs a{x, w, nullptr, q, scale, nullptr, M, static_cast<int>(D), static_cast<int>(D),
                    static_cast<float>(eps)};
  detail::launch_rows<detail::RowMode::norm>(a, fmt, opts);
}

}  // namespace fxopt::gpu
