// The small-M row kernel of the RMSNorm/gate/FP8-quant family: a warp per row and two lanes per
// 16-byte chunk (4 elements a lane, 8-byte loads), for rows of at most 16 chunks (D <= 128). Half the
// per-warp instructions of the 16-lane vector kernel, which is what a launch of a few rows waits on.
// Results bit-identical to runtime/numerics.h (same fast paths as rms_quant_rows.h).
//
// Canonical sum of squares with a chunk split over lanes 2c (elements 0-3) and 2c+1 (4-7): the even
// lane sums its four squares from +0, the odd lane continues from the even lane's sum (one shuffle),
// so the chunk's partial is the serial sum numerics.h defines; then the xor butterfly over chunk
// partials runs on lane offsets 2*off (partials 16..31 are +0: the off = 16 step adds nothing).
#pragma once

#include <cstdint>

#include "runtime/hip/rms_quant_common.h"

namespace fxopt::gpu::detail {

template <RowMode kMode, num::Fp8Format F, SiluPath kSilu>
__global__ void __launch_bounds__(256) rows_split_kernel(RowArgs a) {
  constexpr bool kTable = kMode == RowMode::gated_norm && kSilu == SiluPath::table;
  extern __shared__ float smem_silu[];
  const float* tab = nullptr;
  const int lane = threadIdx.x % FXOPT_WARP_SIZE;
  const int D = a.D;
  const bool on = 4 * lane < D;  // lane holds elements [4*lane, 4*lane + 4)
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * blockDim.x / FXOPT_WARP_SIZE;
  int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / FXOPT_WARP_SIZE;

  float wf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if constexpr (kMode != RowMode::quant) {
    if (on) {
      const uint2 wv = *reinterpret_cast<const uint2*>(a.w + 4 * lane);
      wf[0] = bf16_lo(wv.x), wf[1] = bf16_hi(wv.x), wf[2] = bf16_lo(wv.y), wf[3] = bf16_hi(wv.y);
    }
  }
  auto load = [&](int64_t row, uint2& xo, uint2& zo) {
    xo = make_uint2(0, 0);
    zo = make_uint2(0, 0);
    if (row < a.M && on) {
      xo = *reinterpret_cast<const uint2*>(a.x + row * D + 4 * lane);
      if constexpr (kMode == RowMode::gated_norm) zo = *reinterpret_cast<const uint2*>(a.z + row * D + 4 * lane);
    } else if constexpr (kMode == RowMode::gated_norm) {
      zo = make_uint2(0x3F803F80u, 0x3F803F80u);  // z = 1 beyond the row: in the silu table's range, times x = 0
    }
  };
  uint2 xv, zv, xn, zn;
  load(r, xv, zv);  // issued before the table fill: one memory latency for both
  if constexpr (kTable) {
    fill_silu_table<12>(a.silu_table, smem_silu);
    __syncthreads();
    tab = smem_silu;
  }
  if (r >= a.M) return;  // warp-uniform, after the block-wide barrier

  const int glanes = a.G / 4;  // lanes per quant group (a power of two, 2..32)
  for (;;) {
    const int64_t next = r + nwarps;
    const bool has_next = next < a.M;  // warp-uniform
    if (has_next) load(next, xn, zn);

    uint32_t y[2];
    if constexpr (kMode == RowMode::quant) {
      y[0] = xv.x, y[1] = xv.y;
    } else {
      float sl[4];
      if constexpr (kMode == RowMode::gated_norm) {
        const uint32_t zw[2] = {zv.x, zv.y};
        silu_words<kSilu, 2>(zw, tab, sl);
      }
      const float xf[4] = {bf16_lo(xv.x), bf16_hi(xv.x), bf16_lo(xv.y), bf16_hi(xv.y)};
      const float sq[4] = {xf[0] * xf[0], xf[1] * xf[1], xf[2] * xf[2], xf[3] * xf[3]};
      const float even = ((sq[0] + sq[1]) + sq[2]) + sq[3];  // 0 + sq[0] is sq[0]: never -0
      const float from_even = __shfl_xor(even, 1, FXOPT_WARP_SIZE);
      const float odd = (((from_even + sq[0]) + sq[1]) + sq[2]) + sq[3];
      const float from_odd = __shfl_xor(odd, 1, FXOPT_WARP_SIZE);
      float ss = (lane & 1) ? odd : from_odd;  // both lanes of a pair: the chunk's partial
#pragma unroll
      for (int off = 8; off >= 1; off /= 2) ss = ss + __shfl_xor(ss, 2 * off, FXOPT_WARP_SIZE);
      const float mean = a.inv_d != 0.0f ? ss * a.inv_d : ss / static_cast<float>(D);
      const float rstd = num::fx_rsqrtf(mean + a.eps);
      float n[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        n[j] = (xf[j] * rstd) * wf[j];
        if constexpr (kMode == RowMode::gated_norm) n[j] = n[j] * sl[j];
      }
      y[0] = pack_bf16x2<true>(n[0], n[1]);
      y[1] = pack_bf16x2<true>(n[2], n[3]);
    }

    // Group amax over bf16 magnitudes (lanes beyond D hold +0), scale, quantise.
    const uint32_t m2 = umax_pair(y[0] & 0x7FFF7FFFu, y[1] & 0x7FFF7FFFu);
    uint32_t m = umax(m2 & 0xFFFFu, m2 >> 16);
    if (glanes == 32) {
#pragma unroll
      for (int off = 16; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
    } else {
      for (int off = glanes / 2; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
    }
    const float s = quant_scale_fast<F>(m);
    const float rcp = 1.0f / s;
    float v[4] = {div_by_scale<true>(bf16_lo(y[0]), s, rcp), div_by_scale<true>(bf16_hi(y[0]), s, rcp),
                  div_by_scale<true>(bf16_lo(y[1]), s, rcp), div_by_scale<true>(bf16_hi(y[1]), s, rcp)};
    if (!(__float_as_uint(s) < 0x7F800000u)) {  // rare: an inf/NaN scale divides
      v[0] = bf16_lo(y[0]) / s, v[1] = bf16_hi(y[0]) / s, v[2] = bf16_lo(y[1]) / s, v[3] = bf16_hi(y[1]) / s;
    }
    if (on) {
      *reinterpret_cast<uint32_t*>(a.q + r * D + 4 * lane) = quant_pair<F, true>(v[0], v[1]) | (quant_pair<F, true>(v[2], v[3]) << 16);
      if ((lane & (glanes - 1)) == 0) a.scale[r * a.groups_per_row + lane / glanes] = s;
    }

    if (!has_next) break;
    r = next;
    xv = xn;
    zv = zn;
  }
}

}  // namespace fxopt::gpu::detail
