// The row kernels behind the RMSNorm/gate/FP8-quant family (fused_rms_gated_quant.hip,
// rmsnorm_quant.hip, group_quant.hip): one pass over each row, results bit-identical to
// runtime/numerics.h's reference functions. Included only from .hip files.
//
// Vector path (RowsKernel): L lanes per row (8, 16 or 32), lane t owns the 16-byte chunks t, t+L, ...
// (CPL chunks per lane, CPL > 1 only with L = 32), which is the canonical row-sum order of
// numerics.h. The group amax is an integer max over bf16 magnitude bits (exact and order-free, NaN
// largest) through xor shuffles. Fast options, each proven to give identical outputs:
//  * silu table: silu(z) depends only on z's 16 bits; for |z| in [2^-15, 256) it is read from a
//    shared-memory table filled from fx_silu values computed once (same code, same bits), other z
//    compute fx_silu directly;
//  * hw_convert (NVIDIA sm_89+): cvt.rn.bf16x2.f32 for y (differs from f32_to_bf16 only in the NaN
//    payload, which cannot reach q or scale) and cvt.rn.satfinite.e4m3x2.f32 for q, equal to
//    clamp(+-448) + c10's RNE conversion for every non-negative-NaN float (tests/gpu checks all);
//  * fast_divide: y/scale as q0 = y*r, e = fma(-s, q0, y), q = fma(e, r, q0) with r = 1/s (Markstein),
//    plus y's sign for zeros; gives the same fp8 code as the IEEE division for every bf16 y and every
//    finite scale the op can produce (checked exhaustively, tests/gpu). Infinite/NaN scales divide.
// Fallback path (RowsFallbackKernel): a warp per row with scalar loads for every other shape.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu::detail {

enum class RowMode : uint8_t {
  gated_norm,  // y = bf16(((x*rstd)*w) * silu(z)), then group quant
  norm,        // y = bf16((x*rstd)*w), then group quant
  quant,       // y = x (already bf16), group quant only
};

// bf16 magnitudes [kSiluLo, kSiluHi) of both signs have table entries.
inline constexpr uint32_t kSiluLo = 0x3800u;  // 2^-15
inline constexpr uint32_t kSiluHi = 0x4380u;  // 2^8
inline constexpr uint32_t kSiluSpan = kSiluHi - kSiluLo;
inline constexpr uint32_t kSiluEntries = 2 * kSiluSpan;
inline constexpr size_t kSiluTableBytes = kSiluEntries * sizeof(float);

// Device copy of the silu table (filled on first use, from fx_silu on the host).
const float* silu_table_device();

struct RowArgs {
  const uint16_t* x;  // (M, D) bf16 (y for RowMode::quant)
  const uint16_t* w;  // (D) bf16
  const uint16_t* z;  // (M, D) bf16
  uint8_t* q;         // (M, D) fp8
  float* scale;       // (M, D/G) float32
  const float* silu_table;
  int64_t M;
  int D;
  int G;
  float eps;
};

__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xFFFF0000u); }

template <bool kHw>
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (kHw) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
  }
#endif
  return static_cast<uint32_t>(num::f32_to_bf16(lo)) | (static_cast<uint32_t>(num::f32_to_bf16(hi)) << 16);
}

// fp8 codes of two already-divided values (lo in the low byte).
template <num::Fp8Format F, bool kHw>
__device__ __forceinline__ uint32_t quant_pair(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  if constexpr (kHw && F == num::Fp8Format::e4m3fn) {
    unsigned short r;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
    return r;
  }
#endif
  const float fmax = num::quant_fmax(F);
  return static_cast<uint32_t>(num::f32_to_fp8(num::nan_clamp(lo, -fmax, fmax), F)) |
         (static_cast<uint32_t>(num::f32_to_fp8(num::nan_clamp(hi, -fmax, fmax), F)) << 8);
}

// y / s, exactly as the fp8 code needs it (see the file comment).
template <bool kFast>
__device__ __forceinline__ float div_by_scale(float y, float s, float r) {
  if constexpr (kFast) {
    const float q0 = y * r;
    const float e = fmaf(-s, q0, y);
    const float q1 = fmaf(e, r, q0);
    return __uint_as_float(__float_as_uint(q1) | (__float_as_uint(y) & 0x80000000u));
  } else {
    return y / s;
  }
}

template <bool kTable>
__device__ __forceinline__ float silu_of(uint32_t zbits, const float* tab) {
  const float zf = __uint_as_float(zbits << 16);
  if constexpr (kTable) {
    const uint32_t mag = zbits & 0x7FFFu;
    const uint32_t rel = mag - kSiluLo;
    if (rel < kSiluSpan) return tab[rel + ((zbits >> 15) & 1u) * kSiluSpan];
  }
  return num::fx_silu(zf);
}

__device__ __forceinline__ uint32_t umax(uint32_t a, uint32_t b) { return a > b ? a : b; }

template <RowMode kMode, int L, int CPL, num::Fp8Format F, bool kTable, bool kFast>
__global__ void __launch_bounds__(256) rows_kernel(RowArgs a) {
  extern __shared__ float smem_silu[];
  const float* tab = nullptr;
  if constexpr (kTable) {
    const float4* src = reinterpret_cast<const float4*>(a.silu_table);
    float4* dst = reinterpret_cast<float4*>(smem_silu);
    for (uint32_t i = threadIdx.x; i < kSiluEntries / 4; i += blockDim.x) dst[i] = src[i];
    __syncthreads();
    tab = smem_silu;
  }
  const int D = a.D;
  const int nchunks = D / 8;
  const int gc = a.G / 8;  // chunks per quant group (power of two)
  const int lane = threadIdx.x % L;
  const int rows_per_warp = FXOPT_WARP_SIZE / L;
  const int rows_per_block = blockDim.x / L;
  const int64_t warp_row0 =
      static_cast<int64_t>(blockIdx.x) * rows_per_block + (threadIdx.x / FXOPT_WARP_SIZE) * rows_per_warp;
  const int sub = (threadIdx.x % FXOPT_WARP_SIZE) / L;
  const int64_t row_stride = static_cast<int64_t>(gridDim.x) * rows_per_block;

  // w for this lane's chunks, upcast once.
  float wf[CPL][8];
  if constexpr (kMode != RowMode::quant) {
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * L;
      uint4 wv = make_uint4(0, 0, 0, 0);
      if (chunk < nchunks) wv = *reinterpret_cast<const uint4*>(a.w + chunk * 8);
      const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        wf[c][2 * e] = bf16_lo(ww[e]);
        wf[c][2 * e + 1] = bf16_hi(ww[e]);
      }
    }
  }

  uint4 xv[CPL], zv[CPL], xn[CPL], zn[CPL];
  auto load = [&](int64_t base, uint4* xo, uint4* zo) {
    const int64_t r = base + sub;
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * L;
      xo[c] = make_uint4(0, 0, 0, 0);
      zo[c] = make_uint4(0, 0, 0, 0);
      if (r < a.M && chunk < nchunks) {
        xo[c] = *reinterpret_cast<const uint4*>(a.x + r * D + chunk * 8);
        if constexpr (kMode == RowMode::gated_norm) zo[c] = *reinterpret_cast<const uint4*>(a.z + r * D + chunk * 8);
      }
    }
  };

  int64_t base = warp_row0;
  if (base >= a.M) return;  // warp-uniform
  load(base, xv, zv);
  for (;;) {
    const int64_t next = base + row_stride;
    const bool has_next = next < a.M;  // warp-uniform
    if (has_next) load(next, xn, zn);
    const int64_t r = base + sub;

    // y for this lane's chunks, as packed bf16 pairs.
    uint32_t y[CPL][4];
    if constexpr (kMode == RowMode::quant) {
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        y[c][0] = xv[c].x; y[c][1] = xv[c].y; y[c][2] = xv[c].z; y[c][3] = xv[c].w;
      }
    } else {
      float ss = 0.0f;
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        const uint32_t xw[4] = {xv[c].x, xv[c].y, xv[c].z, xv[c].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float lo = bf16_lo(xw[e]), hi = bf16_hi(xw[e]);
          ss = ss + lo * lo;
          ss = ss + hi * hi;
        }
      }
      // Canonical butterfly: offsets >= L meet partials that are +0.
#pragma unroll
      for (int off = 16; off >= L; off /= 2) ss = ss + 0.0f;
#pragma unroll
      for (int off = L / 2; off >= 1; off /= 2) ss = ss + __shfl_xor(ss, off, FXOPT_WARP_SIZE);
      const float rstd = num::rms_rstd(ss, D, a.eps);
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        const uint32_t xw[4] = {xv[c].x, xv[c].y, xv[c].z, xv[c].w};
        const uint32_t zw[4] = {zv[c].x, zv[c].y, zv[c].z, zv[c].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float n0 = (bf16_lo(xw[e]) * rstd) * wf[c][2 * e];
          float n1 = (bf16_hi(xw[e]) * rstd) * wf[c][2 * e + 1];
          if constexpr (kMode == RowMode::gated_norm) {
            n0 = n0 * silu_of<kTable>(zw[e] & 0xFFFFu, tab);
            n1 = n1 * silu_of<kTable>(zw[e] >> 16, tab);
          }
          y[c][e] = pack_bf16x2<kFast>(n0, n1);
        }
      }
    }

    // Group amax over bf16 magnitudes, then scale and quantise.
    uint32_t gmax[CPL];
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      uint32_t m = 0;
#pragma unroll
      for (int e = 0; e < 4; ++e) m = umax(m, umax(y[c][e] & 0x7FFFu, (y[c][e] >> 16) & 0x7FFFu));
      const int width = gc < L ? gc : L;
      for (int off = width / 2; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
      gmax[c] = m;
    }
    if (gc > L) {  // groups span gc/32 consecutive chunk rounds (L == 32)
      const int span = gc / L;
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        uint32_t m = 0;
        const int first = (c / span) * span;
        for (int k = 0; k < CPL; ++k)
          if (k >= first && k < first + span) m = umax(m, gmax[k]);
        gmax[c] = m;
      }
    }
    const int groups_per_row = D / a.G;
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * L;
      const float amax = num::bf16_to_f32(static_cast<uint16_t>(gmax[c]));
      const float s = num::quant_scale(amax, F);
      const bool finite = __float_as_uint(s) < 0x7F800000u;
      const float rcp = 1.0f / s;
      uint32_t qw[2];
#pragma unroll
      for (int e = 0; e < 4; e += 2) {
        float v[4];
        const float y0 = bf16_lo(y[c][e]), y1 = bf16_hi(y[c][e]);
        const float y2 = bf16_lo(y[c][e + 1]), y3 = bf16_hi(y[c][e + 1]);
        if (finite) {
          v[0] = div_by_scale<kFast>(y0, s, rcp);
          v[1] = div_by_scale<kFast>(y1, s, rcp);
          v[2] = div_by_scale<kFast>(y2, s, rcp);
          v[3] = div_by_scale<kFast>(y3, s, rcp);
        } else {
          v[0] = y0 / s; v[1] = y1 / s; v[2] = y2 / s; v[3] = y3 / s;
        }
        qw[e / 2] = quant_pair<F, kFast>(v[0], v[1]) | (quant_pair<F, kFast>(v[2], v[3]) << 16);
      }
      if (r < a.M && chunk < nchunks) {
        *reinterpret_cast<uint2*>(a.q + r * D + chunk * 8) = make_uint2(qw[0], qw[1]);
        if ((chunk % gc) == 0) a.scale[r * groups_per_row + (chunk * 8) / a.G] = s;
      }
    }

    if (!has_next) break;
    base = next;
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      xv[c] = xn[c];
      zv[c] = zn[c];
    }
  }
}

// A warp per row, scalar loads: any D, G with D % G == 0 (y recomputed in the second pass, which
// gives the same bits).
template <RowMode kMode>
__global__ void __launch_bounds__(256) rows_fallback_kernel(RowArgs a, num::Fp8Format fmt) {
  const int lane = threadIdx.x % FXOPT_WARP_SIZE;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / FXOPT_WARP_SIZE;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * blockDim.x / FXOPT_WARP_SIZE;
  const int D = a.D;
  for (int64_t r = warp; r < a.M; r += nwarps) {
    const uint16_t* xr = a.x + r * D;
    float rstd = 0.0f;
    if constexpr (kMode != RowMode::quant) {
      float ss = 0.0f;
      for (int chunk = lane; chunk * 8 < D; chunk += FXOPT_WARP_SIZE)
        for (int j = chunk * 8; j < chunk * 8 + 8 && j < D; ++j) {
          const float f = num::bf16_to_f32(xr[j]);
          ss = ss + f * f;
        }
      for (int off = 16; off >= 1; off /= 2) ss = ss + __shfl_xor(ss, off, FXOPT_WARP_SIZE);
      rstd = num::rms_rstd(ss, D, a.eps);
    }
    auto y_at = [&](int j) -> uint16_t {
      if constexpr (kMode == RowMode::quant) {
        return xr[j];
      } else if constexpr (kMode == RowMode::norm) {
        return num::rms_bf16(num::bf16_to_f32(xr[j]), rstd, num::bf16_to_f32(a.w[j]));
      } else {
        return num::gated_rms_bf16(num::bf16_to_f32(xr[j]), rstd, num::bf16_to_f32(a.w[j]),
                                   num::bf16_to_f32(a.z[r * D + j]));
      }
    };
    const int groups = D / a.G;
    for (int g = 0; g < groups; ++g) {
      uint32_t m = 0;
      for (int j = g * a.G + lane; j < (g + 1) * a.G; j += FXOPT_WARP_SIZE) m = umax(m, y_at(j) & 0x7FFFu);
      for (int off = 16; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
      const float s = num::quant_scale(num::bf16_to_f32(static_cast<uint16_t>(m)), fmt);
      if (lane == 0) a.scale[r * groups + g] = s;
      for (int j = g * a.G + lane; j < (g + 1) * a.G; j += FXOPT_WARP_SIZE)
        a.q[r * D + j] = num::quant_fp8(num::bf16_to_f32(y_at(j)), s, fmt);
    }
  }
}

// Sizes from which the silu table pays for filling it in every block (elements M*D).
inline constexpr int64_t kSiluTableMinElements = int64_t{1} << 21;

template <RowMode kMode, int L, int CPL, num::Fp8Format F, bool kTable, bool kFast>
void launch_rows_variant(const RowArgs& a, int threads, int64_t row_blocks, int blocks_per_sm) {
  auto kernel = rows_kernel<kMode, L, CPL, F, kTable, kFast>;
  const size_t smem = kTable ? kSiluTableBytes : 0;
  int occ = blocks_per_sm;
  if (occ <= 0) FXOPT_HIP_CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, threads, smem));
  if (occ <= 0) occ = 1;
  const int64_t cap = static_cast<int64_t>(sm_count()) * occ;
  const unsigned blocks = static_cast<unsigned>(row_blocks < cap ? row_blocks : cap);
  hipLaunchKernelGGL(kernel, dim3(blocks), dim3(threads), smem, stream(), a);
  FXOPT_HIP_CHECK_LAUNCH("rows_kernel");
}

template <RowMode kMode, int L, int CPL, num::Fp8Format F>
void launch_rows_shape(const RowArgs& a, bool table, bool fast, int blocks_per_sm) {
  const int64_t rows_per_256 = 256 / L;
  const int threads = (a.M + rows_per_256 - 1) / rows_per_256 < 2 * sm_count() ? 128 : 256;
  const int64_t rows_per_block = threads / L;
  const int64_t row_blocks = (a.M + rows_per_block - 1) / rows_per_block;
  if constexpr (kMode == RowMode::gated_norm && CPL == 1 && L >= 16) {
    if (table) return launch_rows_variant<kMode, L, CPL, F, true, true>(a, threads, row_blocks, blocks_per_sm);
  }
  if (fast) return launch_rows_variant<kMode, L, CPL, F, false, true>(a, threads, row_blocks, blocks_per_sm);
  launch_rows_variant<kMode, L, CPL, F, false, false>(a, threads, row_blocks, blocks_per_sm);
}

template <RowMode kMode, num::Fp8Format F>
void launch_rows_fmt(const RowArgs& a, int L, int CPL, bool table, bool fast, int blocks_per_sm) {
  if (L == 8) return launch_rows_shape<kMode, 8, 1, F>(a, table, fast, blocks_per_sm);
  if (L == 16) return launch_rows_shape<kMode, 16, 1, F>(a, table, fast, blocks_per_sm);
  if (CPL == 1) return launch_rows_shape<kMode, 32, 1, F>(a, table, fast, blocks_per_sm);
  if (CPL == 2) return launch_rows_shape<kMode, 32, 2, F>(a, table, fast, blocks_per_sm);
  launch_rows_shape<kMode, 32, 4, F>(a, table, fast, blocks_per_sm);
}

inline bool aligned(const void* p, size_t n) { return (reinterpret_cast<uintptr_t>(p) % n) == 0; }

// Picks the vector or the fallback kernel for (D, G) and launches it over a.M rows.
template <RowMode kMode>
void launch_rows(const RowArgs& a, num::Fp8Format fmt, const FusedOptions& opts) {
  if (a.M <= 0) return;
  if (a.G <= 0 || a.D <= 0 || a.D % a.G != 0)
    throw std::invalid_argument("fp8 group quant: the row length must be a positive multiple of the group size");
  const int nchunks = a.D / 8;
  const int gc = a.G / 8;
  const bool vector_ok =
      a.D % 8 == 0 && a.G % 8 == 0 && (gc & (gc - 1)) == 0 && nchunks <= 128 &&
      fmt != num::Fp8Format::e5m2 && aligned(a.x, 16) && aligned(a.q, 8) &&
      (kMode == RowMode::quant || aligned(a.w, 16)) && (kMode != RowMode::gated_norm || aligned(a.z, 16));
  if (!vector_ok) {
    const unsigned blocks = grid_for(a.M * FXOPT_WARP_SIZE, 256);
    hipLaunchKernelGGL(rows_fallback_kernel<kMode>, dim3(blocks), dim3(256), 0, stream(), a, fmt);
    FXOPT_HIP_CHECK_LAUNCH("rows_fallback_kernel");
    return;
  }
  const int L = nchunks <= 8 ? 8 : (nchunks <= 16 ? 16 : 32);
  const int CPL = nchunks <= 32 ? 1 : (nchunks <= 64 ? 2 : 4);
  bool table = false;
  if constexpr (kMode == RowMode::gated_norm) {
    using S = FusedOptions::Silu;
    table = opts.fast_paths && CPL == 1 && L >= 16 &&
            (opts.silu == S::table || (opts.silu == S::automatic && a.M * a.D >= kSiluTableMinElements));
  }
  if (fmt == num::Fp8Format::e4m3fn)
    launch_rows_fmt<kMode, num::Fp8Format::e4m3fn>(a, L, CPL, table, opts.fast_paths, opts.blocks_per_sm);
  else
    launch_rows_fmt<kMode, num::Fp8Format::e4m3fnuz>(a, L, CPL, table, opts.fast_paths, opts.blocks_per_sm);
}

}  // namespace fxopt::gpu::detail
