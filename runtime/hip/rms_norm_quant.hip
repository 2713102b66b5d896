// The vLLM RMSNorm (+ residual) -> FP8 quant family (patterns/rms_norm_quant.json's fused ops, the vllm_ir / _C /
// AITER opaque ops): one pass per row, bit-identical to num::rms_norm_quant_ref (vLLM's order: s = x [+ residual],
// residual_out = bf16(s), y = bf16(bf16(s*rstd) * w), then static / per-token / group FP8 quant).
//
// Vector kernel: a warp per row, lane t owns the 16-byte chunks t, t+32, ... (CPL of them, held in registers);
// the sum of squares is rms_quant_common.h's lanes_canonical_sum (numerics.h's order), amax an integer max over
// bf16 magnitude bits, and the fast paths are rms_quant_rows.h's (hardware bf16/e4m3 conversions, division by a
// scale from a bf16 amax by the checked reciprocal path). Fallback kernel: a warp per row, scalar loads,
// numerics.h's code as written (any D, e5m2, _C.per_token_group_fp8_quant's eps/min/max scale, unaligned
// buffers, FusedOptions::fast_paths = false).
#include <stdexcept>

#include "runtime/hip/rms_quant_common.h"

namespace fxopt::gpu {
namespace detail {
namespace {

struct FamilyArgs {
  const uint16_t* x;    // (M, D) bf16
  const uint16_t* res;  // (M, D) bf16 or null
  const uint16_t* w;    // (D) bf16 or null (no norm: y = x)
  uint16_t* y;          // (M, D) bf16 when not quantised
  uint16_t* res_out;    // (M, D) bf16 when res
  uint8_t* q;           // (M, D) fp8 when quantised
  float* scale;         // (M, D/G) or (M) float32 for dynamic quant
  num::QuantArgs qa;    // static_scale / scale_ub: device pointers
  int64_t M;
  int D;
  int G;                // group size (D for per-token)
  float eps;
  float inv_d;          // 1/D when D is a power of two (then ss*inv_d == ss/D exactly), else 0
  int gc;               // chunks per group (vector kernel: a power of two <= 32)
};

// s = x [+ residual] of element k of chunk c.
template <int CPL>
__device__ __forceinline__ float s_at(const uint4 (&xv)[CPL], const uint4 (&rv)[CPL], bool has_res, int c, int k) {
  const float xf = chunk_bf16(xv[c], k);
  return has_res ? xf + chunk_bf16(rv[c], k) : xf;
}

// fp8 codes of the 8 values of one chunk, divided by s (reciprocal r = 1/s, `fast`: s comes from a bf16 amax and is
// finite) or multiplied by r, stored (8 bytes) at q.
template <num::Fp8Format F>
__device__ __forceinline__ void quant_chunk(const uint32_t (&yc)[4], bool divide, bool fast, float s, float r, uint8_t* q,
                                            bool store) {
  float v[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const float yf = k % 2 == 0 ? bf16_lo(yc[k / 2]) : bf16_hi(yc[k / 2]);
    v[k] = !divide ? yf * r : fast ? div_by_scale<true>(yf, s, r) : yf / s;
  }
  const uint32_t q0 = quant_pair<F, true>(v[0], v[1]) | (quant_pair<F, true>(v[2], v[3]) << 16);
  const uint32_t q1 = quant_pair<F, true>(v[4], v[5]) | (quant_pair<F, true>(v[6], v[7]) << 16);
  if (store) store_streaming(q, q0, q1);
}

// Max of the 8 bf16 magnitudes of a chunk (as bits: exact, NaN largest).
__device__ __forceinline__ uint32_t chunk_amax_bits(const uint32_t (&yc)[4]) {
  uint32_t m = 0;
#pragma unroll
  for (int e = 0; e < 4; ++e) m = umax_pair(m, yc[e] & 0x7FFF7FFFu);
  return umax(m & 0xFFFFu, m >> 16);
}

// 0, computed from v so that loads addressed with it wait for v (nvcc would otherwise hoist a later pass's loads
// above this pass and spill at D = 4096).
__device__ __forceinline__ int64_t zero_after(uint32_t v) {
#if defined(__CUDA_ARCH__)
  uint32_t z;
  asm("and.b32 %0, %1, 0;" : "=r"(z) : "r"(v));
  return z;
#else
  (void)v;
  return 0;
#endif
}

// y is computed chunk by chunk from x, the residual and w and consumed at once (per-token quant computes it twice:
// amax, then the codes), so no lane holds a row of y. x and the residual stay in registers (CPL*8 of each per
// lane) for CPL <= 8; from CPL = 16 (D > 2048) holding them would spill, and each pass reads them again (L2 hits).
template <int CPL, num::Fp8Format F>
__global__ void __launch_bounds__(128) family_rows_kernel(FamilyArgs a) {
  constexpr bool kReload = CPL >= 16;
  constexpr int kPassUnroll = kReload ? 2 : CPL;  // the y passes: a few chunks in flight when re-reading
  const int lane = threadIdx.x % 32;
  const int64_t warp0 = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int D = a.D;
  const int nchunks = D / 8;
  const bool has_res = a.res != nullptr, norm = a.w != nullptr;
  const num::QuantScheme scheme = a.qa.scheme;
  for (int64_t r = warp0; r < a.M; r += nwarps) {
    uint4 xv[CPL], rv[CPL];
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * 32;
      xv[c] = rv[c] = make_uint4(0, 0, 0, 0);
      if (chunk < nchunks) {
        xv[c] = *reinterpret_cast<const uint4*>(a.x + r * D + chunk * 8);
        if (has_res) rv[c] = *reinterpret_cast<const uint4*>(a.res + r * D + chunk * 8);
      }
    }
    float rstd = 0.0f;
    if (norm) {
      const float ss = lanes_canonical_sum<32, CPL>([&](int c, int k) {
        const float s = s_at(xv, rv, has_res, c, k);
        return s * s;
      });
      const float mean = a.inv_d != 0.0f ? ss * a.inv_d : ss / static_cast<float>(D);
      rstd = num::fx_rsqrtf(mean + a.eps);
      if (has_res) {  // residual_out = bf16(s), after the sum (before it, nvcc keeps s and x and spills)
#pragma unroll
        for (int c = 0; c < CPL; ++c) {
          const int chunk = lane + c * 32;
          uint32_t o[4];
#pragma unroll
          for (int e = 0; e < 4; ++e)
            o[e] = pack_bf16x2<true>(s_at(xv, rv, true, c, 2 * e), s_at(xv, rv, true, c, 2 * e + 1));
          if (chunk < nchunks) *reinterpret_cast<uint4*>(a.res_out + r * D + chunk * 8) = make_uint4(o[0], o[1], o[2], o[3]);
        }
      }
    }
    // y of the lane's chunk c: bf16(bf16(s*rstd) * w) (vLLM's order), or x without a norm.
    int64_t row = r * D + zero_after(__float_as_uint(rstd));
    auto y_chunk = [&](int c, uint32_t (&yc)[4]) {
      const int chunk = lane + c * 32;
      uint4 xc[1], rc[1];
      if constexpr (kReload) {
        xc[0] = rc[0] = make_uint4(0, 0, 0, 0);
        if (chunk < nchunks) {
          xc[0] = *reinterpret_cast<const uint4*>(a.x + row + chunk * 8);
          if (has_res) rc[0] = *reinterpret_cast<const uint4*>(a.res + row + chunk * 8);
        }
      } else {
        xc[0] = xv[c];
        rc[0] = rv[c];
      }
      if (!norm) {
#pragma unroll
        for (int e = 0; e < 4; ++e) yc[e] = chunk_word(xc[0], e);
        return;
      }
      const uint4 wv = chunk < nchunks ? *reinterpret_cast<const uint4*>(a.w + (row - r * D) + chunk * 8) : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const uint32_t n = pack_bf16x2<true>(s_at(xc, rc, has_res, 0, 2 * e) * rstd, s_at(xc, rc, has_res, 0, 2 * e + 1) * rstd);
        const uint32_t ww = chunk_word(wv, e);
        yc[e] = pack_bf16x2<true>(bf16_lo(n) * bf16_lo(ww), bf16_hi(n) * bf16_hi(ww));
      }
    };

    // The row's scale (per-token) or the static scale's reciprocal; group scales are per chunk below.
    float s = 0.0f, inv = 0.0f;
    bool divide = a.qa.divide, fast = true;
    if (scheme == num::QuantScheme::Static) {
      inv = 1.0f / a.qa.static_scale[0];
      divide = false;
    } else if (scheme == num::QuantScheme::PerToken) {
      uint32_t m = 0;
#pragma unroll kPassUnroll
      for (int c = 0; c < CPL; ++c) {
        uint32_t yc[4];
        y_chunk(c, yc);
        m = umax(m, chunk_amax_bits(yc));
      }
#pragma unroll
      for (int off = 16; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
      float amax = __uint_as_float(m << 16);
      if (a.qa.scale_ub) {
        amax = num::nan_min(amax, a.qa.scale_ub[0]);
        fast = false;  // the reciprocal division path is checked for scales of bf16 amaxes only
      }
      s = num::quant_scale(amax, F);
      inv = 1.0f / s;
      fast = fast && __float_as_uint(s) < 0x7F800000u;
      if (lane == 0) a.scale[r] = s;
      row += zero_after(m);
    }
#pragma unroll kPassUnroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * 32;
      const bool live = chunk < nchunks;
      uint32_t yc[4];
      y_chunk(c, yc);
      if (scheme == num::QuantScheme::None) {
        if (live) *reinterpret_cast<uint4*>(a.y + r * D + chunk * 8) = make_uint4(yc[0], yc[1], yc[2], yc[3]);
        continue;
      }
      if (scheme == num::QuantScheme::Group) {  // a group is gc consecutive lanes of one chunk round
        uint32_t m = chunk_amax_bits(yc);
        for (int off = a.gc / 2; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
        s = num::quant_scale(__uint_as_float(m << 16), F);
        inv = 1.0f / s;
        fast = __float_as_uint(s) < 0x7F800000u;
        if (live && (chunk & (a.gc - 1)) == 0) a.scale[r * (D / a.G) + chunk / a.gc] = s;
      }
      quant_chunk<F>(yc, divide, fast, s, inv, a.q + r * D + chunk * 8, live);
    }
  }
}

// A warp per row, scalar loads, numerics.h's code as written (num::rms_norm_quant_ref / num::quant_row).
__global__ void __launch_bounds__(256) family_fallback_kernel(FamilyArgs a) {
  const int lane = threadIdx.x % 32;
  const int64_t warp0 = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int64_t nwarps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  const int D = a.D;
  const num::QuantArgs& qa = a.qa;
  for (int64_t r = warp0; r < a.M; r += nwarps) {
    const uint16_t* xr = a.x + r * D;
    const uint16_t* rr = a.res ? a.res + r * D : nullptr;
    auto s_of = [&](int j) { return rr ? num::bf16_to_f32(xr[j]) + num::bf16_to_f32(rr[j]) : num::bf16_to_f32(xr[j]); };
    float rstd = 0.0f;
    if (a.w) {
      if (rr)
        for (int j = lane; j < D; j += 32) a.res_out[r * D + j] = num::f32_to_bf16(s_of(j));
      const float ss = warp_canonical_sum(lane, D, [&](int j) {
        const float s = s_of(j);
        return s * s;
      });
      rstd = num::rms_rstd(ss, D, a.eps);
    }
    auto y_at = [&](int j) -> uint16_t { return a.w ? num::vllm_rms_bf16(s_of(j), rstd, a.w[j]) : xr[j]; };
    if (qa.scheme == num::QuantScheme::None) {
      for (int j = lane; j < D; j += 32) a.y[r * D + j] = y_at(j);
      continue;
    }
    if (qa.scheme == num::QuantScheme::Static) {
      const float inv = 1.0f / qa.static_scale[0];
      for (int j = lane; j < D; j += 32) a.q[r * D + j] = num::quant_fp8_recip(num::bf16_to_f32(y_at(j)), inv, qa.fmt);
      continue;
    }
    const int groups = D / a.G;
    for (int g = 0; g < groups; ++g) {
      uint32_t m = 0;
      for (int j = g * a.G + lane; j < (g + 1) * a.G; j += 32) m = umax(m, y_at(j) & 0x7FFFu);
      for (int off = 16; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
      float amax = num::bf16_to_f32(static_cast<uint16_t>(m));
      if (qa.scale_ub) amax = num::nan_min(amax, qa.scale_ub[0]);
      const int64_t base = r * D;
      if (qa.group_eps > 0.0f) {
        const float s = num::nan_max(amax, qa.group_eps) / qa.qmax;
        if (lane == 0) a.scale[r * groups + g] = s;
        for (int j = g * a.G + lane; j < (g + 1) * a.G; j += 32)
          a.q[base + j] = num::f32_to_fp8(num::nan_clamp(num::bf16_to_f32(y_at(j)) / s, qa.qmin, qa.qmax), qa.fmt);
        continue;
      }
      const float s = num::quant_scale(amax, qa.fmt);
      if (lane == 0) a.scale[r * groups + g] = s;
      const float inv = 1.0f / s;
      for (int j = g * a.G + lane; j < (g + 1) * a.G; j += 32) {
        const float yf = num::bf16_to_f32(y_at(j));
        a.q[base + j] = qa.divide ? num::quant_fp8(yf, s, qa.fmt) : num::quant_fp8_recip(yf, inv, qa.fmt);
      }
    }
  }
}

bool aligned(const void* p, size_t n) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % n == 0; }

template <int CPL, num::Fp8Format F>
void launch_vector(const FamilyArgs& a) {
  constexpr int kThreads = 128;
  const int64_t rows_per_block = kThreads / 32;
  int64_t blocks = (a.M + rows_per_block - 1) / rows_per_block;
  const int64_t cap = static_cast<int64_t>(sm_count()) * 64;
  if (blocks > cap) blocks = cap;
  FXOPT_LAUNCH("family_rows_kernel", (family_rows_kernel<CPL, F>), dim3(static_cast<unsigned>(blocks)), dim3(kThreads), 0,
               stream(), a);
}

template <num::Fp8Format F>
void launch_vector_fmt(const FamilyArgs& a, int cpl) {
  switch (cpl) {
    case 1: return launch_vector<1, F>(a);
    case 2: return launch_vector<2, F>(a);
    case 4: return launch_vector<4, F>(a);
    case 8: return launch_vector<8, F>(a);
    case 16: return launch_vector<16, F>(a);
  }
  throw std::logic_error("rms_norm_quant: no vector kernel for this row length");
}

}  // namespace
}  // namespace detail

void rms_norm_quant(const uint16_t* x, const uint16_t* res, const uint16_t* w, int64_t M, int64_t D, double eps,
                    const num::QuantArgs& qa, uint16_t* y, uint16_t* res_out, uint8_t* q, float* scale,
                    const FusedOptions& opts) {
  using detail::aligned;
  if (M <= 0 || D <= 0) return;
  const bool quant = qa.scheme != num::QuantScheme::None;
  if (D > (int64_t{1} << 30)) throw std::invalid_argument("rms_norm_quant: row too long");
  if ((quant ? q == nullptr : y == nullptr) || (res && w && res_out == nullptr) ||
      (qa.scheme == num::QuantScheme::Static && qa.static_scale == nullptr) ||
      ((qa.scheme == num::QuantScheme::PerToken || qa.scheme == num::QuantScheme::Group) && scale == nullptr))
    throw std::invalid_argument("rms_norm_quant: a needed buffer is missing");
  const int64_t G = qa.scheme == num::QuantScheme::Group ? qa.group : D;
  if (G <= 0 || D % G != 0) throw std::invalid_argument("rms_norm_quant: the group size must divide the row length");
  detail::FamilyArgs a{x, res, w, y, res_out, q, scale, qa, M, static_cast<int>(D), static_cast<int>(G),
                       static_cast<float>(eps), (D & (D - 1)) == 0 ? 1.0f / static_cast<float>(D) : 0.0f,
                       static_cast<int>(G / 8)};
  const int64_t nchunks = D / 8;
  int cpl = 1;
  while (cpl * 32 < nchunks) cpl *= 2;
  const bool group_ok = qa.scheme != num::QuantScheme::Group ||
                        (G % 8 == 0 && a.gc <= 32 && (a.gc & (a.gc - 1)) == 0 && qa.scale_ub == nullptr);
  const bool vector_ok = opts.fast_paths && D % 8 == 0 && cpl <= 16 && group_ok && qa.group_eps == 0.0f &&
                         (!quant || qa.fmt != num::Fp8Format::e5m2) && aligned(x, 16) && aligned(res, 16) &&
                         aligned(w, 16) && aligned(y, 16) && aligned(res_out, 16) && aligned(q, 8);
  if (!vector_ok) {
    FXOPT_LAUNCH("family_fallback_kernel", detail::family_fallback_kernel, dim3(detail::grid_for(M * 32, 256)), dim3(256), 0,
                 detail::stream(), a);
    return;
  }
  if (quant && qa.fmt == num::Fp8Format::e4m3fnuz)
    detail::launch_vector_fmt<num::Fp8Format::e4m3fnuz>(a, cpl);
  else
    detail::launch_vector_fmt<num::Fp8Format::e4m3fn>(a, cpl);
}

}  // namespace fxopt::gpu
