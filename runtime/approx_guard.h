// The exactness check behind the GPU kernels' approximate silu (SiluPath::approx): from the
// measured relative error of an approximate factor to a guard distance from bf16 rounding
// midpoints outside of which a product rounds to the same bf16 as with the exact factor.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/numerics.h"

namespace fxopt::num {

// Whether p' may round to another bf16 than p, where |p' - p| is below `guard` float ulps of p':
// p' lies within `guard` ulps of a bf16 rounding midpoint (low 16 bits 0x8000). Every midpoint
// sits at low16 == 0x8000 inside a binade, so the distance to the nearest one, in ulps of p', is
// |low16(p') - 0x8000| (wrapping to the next bf16's midpoint costs at least 0x8000 ulps).
FXOPT_HD inline bool near_bf16_midpoint(float p, uint32_t guard) {
  return ((f32_bits(p) - (0x8000u - guard)) & 0xFFFFu) <= 2u * guard;
}

// The guard for an approximate factor s' = s*(1+d), |d| <= eps, with p = RN(n*s), p' = RN(n*s'):
// |p' - p| <= |n*s|*(2u + eps + u*eps) with u = 2^-24, and ulp(p') > u*|p'| >= u*|n*s|*(1-eps)*(1-u),
// so |p' - p| < (2 + eps/u)*(1 + 2^-14) ulps of p' for eps <= 2^-16 (subnormal p' only lower it).
// Floor of that plus 2; 0 (do not use the approximation) when eps is larger or NaN.
inline uint32_t guard_from_error(double eps) {
  if (!(eps >= 0.0 && eps <= 0x1p-16)) return 0;
  return static_cast<uint32_t>(std::floor((2.0 + eps * 0x1p24) * (1.0 + 0x1p-14))) + 2u;
}

// Largest relative error of approx[b] against fx_silu(bf16 b) over the bf16 patterns b whose
// magnitude bits are below `mag_hi`; infinity where fx_silu is 0 and approx[b] is not the same
// zero, or approx[b] is NaN.
inline double silu_approx_max_error(const float* approx, uint32_t mag_hi) {
  double worst = 0.0;
  for (uint32_t b = 0; b < 65536u; ++b) {
    if ((b & 0x7FFFu) >= mag_hi) continue;
    const float s = fx_silu(bf16_to_f32(static_cast<uint16_t>(b)));
    const float a = approx[b];
    if (s == 0.0f || std::isnan(a)) {
      if (f32_bits(a) != f32_bits(s)) return INFINITY;
      continue;
    }
    const double rel = std::fabs((static_cast<double>(a) - s) / s);
    if (!(rel <= worst)) worst = rel;
  }
  return worst;
}

}  // namespace fxopt::num
