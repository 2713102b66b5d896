// The gated RMSNorm + FP8 group quant (vLLM's rocm_aiter_fused_rms_gated_fp8_group_quant): one
// pass over each head row, bit-identical to num::fused_rms_gated_fp8_group_quant.
#include <mutex>
#include <vector>

#include "runtime/hip/rms_quant_rows.h"

namespace fxopt::gpu {

namespace detail {

const float* silu_table_device() {
  static float* table = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<float> host(kSiluEntries);
    for (uint32_t rel = 0; rel < kSiluSpan; ++rel)
      for (uint32_t sign = 0; sign < 2; ++sign) {
        const uint16_t bits = static_cast<uint16_t>((sign << 15) | (kSiluLo + rel));
        host[2 * rel + sign] = num::fx_silu(num::bf16_to_f32(bits));
      }
    void* p = nullptr;
    FXOPT_HIP_CHECK(hipMalloc(&p, kSiluTableBytes));
    FXOPT_HIP_CHECK(hipMemcpy(p, host.data(), kSiluTableBytes, hipMemcpyHostToDevice));
    table = static_cast<float*>(p);
  });
  return table;
}

}  // namespace detail

void fused_rms_gated_fp8_group_quant(uint8_t* q, float* scale, const uint16_t* x, const uint16_t* w,
                                     const uint16_t* z, int64_t M, int64_t D, double eps, int64_t G,
                                     num::Fp8Format fmt, const FusedOptions& opts) {
  detail::RowArgs a{x, w, z, q, scale, nullptr, M, static_cast<int>(D), static_cast<int>(G), static_cast<float>(eps)};
  if (opts.silu != FusedOptions::Silu::direct) a.silu_table = detail::silu_table_device();
  detail::launch_rows<detail::RowMode::gated_norm>(a, fmt, opts);
}

}  // namespace fxopt::gpu
