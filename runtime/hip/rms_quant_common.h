// Device helpers of the RMSNorm/gate/FP8-quant row kernels (rms_quant_rows.h):
// row arguments, bf16/fp8 packing, the exact fast paths (division by the scale, the group scale,
// silu by table or branch-free), and the cp.async helpers. Included only from .hip files.
#pragma once

#include <cstdint>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu::detail {

enum class RowMode : uint8_t {
  gated_norm,  // y = bf16(((x*rstd)*w) * silu(z)), then group quant
  norm,        // y = bf16((x*rstd)*w), then group quant
  quant,       // y = x (already bf16), group quant only
};

enum class SiluPath : uint8_t { direct, table };

// bf16 magnitudes [kSiluLo, kSiluHi) of both signs have table entries; entry 2*(mag-kSiluLo)+sign.
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
  float inv_d;  // 1/D when D is a power of two (then ss*inv_d == ss/D exactly), else 0
  int gc_shift;        // log2(G/8) (vector kernel: G/8 is a power of two)
  int groups_per_row;  // D/G
};

__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xFFFF0000u); }

// Word e (0..3) of a 16-byte chunk, and its element k (0..7) as a float (8 packed bf16, low half first).
__device__ __forceinline__ uint32_t chunk_word(const uint4& v, int e) { return e == 0 ? v.x : e == 1 ? v.y : e == 2 ? v.z : v.w; }
__device__ __forceinline__ float chunk_bf16(const uint4& v, int k) {
  const uint32_t w = chunk_word(v, k / 2);
  return k % 2 == 0 ? bf16_lo(w) : bf16_hi(w);
}

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

// y / s for the fp8 code (see the file comment); r = 1/s.
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

// quant_scale(amax) for a bf16 amax given by its magnitude bits. Finite amax: amax/FMAX as Markstein's
// s0 = amax*r, e = fma(-FMAX, s0, amax), s = fma(e, r, s0) with r = RN(1/FMAX), then the floor: the
// same bits as the IEEE division for every finite bf16 amax (checked on the host for 448 and 224 over
// all 32640 values; tests/gpu re-checks on the device); inf/NaN amax divide.
template <num::Fp8Format F>
__device__ __forceinline__ float quant_scale_fast(uint32_t amax_bits) {
  const float amax = __uint_as_float(amax_bits << 16);
  if (amax_bits >= 0x7F80u) return num::quant_scale(amax, F);
  constexpr float fmax = F == num::Fp8Format::e4m3fn ? 448.0f : 224.0f;
  constexpr float r = 1.0f / fmax;
  const float s0 = amax * r;
  const float e = fmaf(-fmax, s0, amax);
  const float s1 = fmaf(e, r, s0);
  const float lo = num::quant_scale_floor(F);
  return s1 < lo ? lo : s1;
}

// silu of a bf16 z without branches; `slow` is set where the result must come from fx_silu.
__device__ __forceinline__ float silu_direct(uint32_t zb, bool& slow) {
  const float z = __uint_as_float(zb << 16);
  const float e = num::fx_expf_core(fminf(fmaxf(-z, -104.0f), 89.0f));
  const float d = e + 1.0f;
#if defined(__CUDA_ARCH__)
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(d));
  y = fmaf(fmaf(-d, y, 1.0f), y, y);
  float q = z * y;
  q = fmaf(fmaf(-d, q, z), y, q);
  q = __uint_as_float(__float_as_uint(q) | (zb << 16 & 0x80000000u));
#else
  const float q = z / d;
#endif
  const uint32_t mag = zb & 0x7FFFu;
  // |z| in [2^-100, 2^100] (bf16 exponent fields 27..226) or zero, and d <= 2^20.
  slow = slow || (mag != 0 && mag - 0x0D80u >= 0x7180u - 0x0D80u) || !(d <= 1048576.0f);
  return q;
}

// Byte offsets 8*(mag - kSiluLo) + 4*sign of the table entries of the two bf16 z packed in w (lo,
// hi): five integer operations for the pair (w >> 13 serves both). Out of the table's range when
// the unsigned offset is >= kSiluTableBytes.
__device__ __forceinline__ void silu_offsets(uint32_t w, uint32_t& lo, uint32_t& hi) {
  const uint32_t s13 = w >> 13;
  lo = (((w << 3) & 0x3FFF8u) | (s13 & 4u)) - 8 * kSiluLo;
  hi = ((s13 & 0x3FFF8u) | ((w >> 29) & 4u)) - 8 * kSiluLo;
}

static __device__ __noinline__ float silu_exact(uint32_t zb) { return num::fx_silu(__uint_as_float(zb << 16)); }

// silu of the 2*kWords bf16 z packed in zw (lo half first), bit-identical to num::fx_silu: table
// lookups (five integer operations per pair, one range check per element) or the branch-free direct
// path; when any z is outside the fast domain all are recomputed with fx_silu (rare).
template <SiluPath kSilu, int kWords>
__device__ __forceinline__ void silu_words(const uint32_t* zw, const float* tab, float* sl) {
  bool slow = false;
  if constexpr (kSilu == SiluPath::table) {
    uint32_t off[2 * kWords];
#pragma unroll
    for (int e = 0; e < kWords; ++e) silu_offsets(zw[e], off[2 * e], off[2 * e + 1]);
    bool in = true;
#pragma unroll
    for (int j = 0; j < 2 * kWords; ++j) in = in && off[j] < static_cast<uint32_t>(kSiluTableBytes);
    slow = !in;
    if (in) {
#pragma unroll
      for (int j = 0; j < 2 * kWords; ++j) sl[j] = *reinterpret_cast<const float*>(reinterpret_cast<const char*>(tab) + off[j]);
    }
  } else {
#pragma unroll
    for (int e = 0; e < kWords; ++e) {
      sl[2 * e] = silu_direct(zw[e] & 0xFFFFu, slow);
      sl[2 * e + 1] = silu_direct(zw[e] >> 16, slow);
    }
  }
  if (slow) {
#pragma unroll
    for (int e = 0; e < kWords; ++e) {
      sl[2 * e] = silu_exact(zw[e] & 0xFFFFu);
      sl[2 * e + 1] = silu_exact(zw[e] >> 16);
    }
  }
}

// Copies the silu table into shared memory (every thread of the block takes part; the caller
// synchronises), kPer 16-byte loads in flight per thread and round.
template <int kPer>
__device__ __forceinline__ void fill_silu_table(const float* table, float* smem) {
  constexpr int kVec = static_cast<int>(kSiluEntries / 4);
  const float4* src = reinterpret_cast<const float4*>(table);
  float4* dst = reinterpret_cast<float4*>(smem);
  for (int round = 0; round < kVec; round += kPer * static_cast<int>(blockDim.x)) {
    float4 t[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = round + static_cast<int>(threadIdx.x + i * blockDim.x);
      if (idx < kVec) t[i] = src[idx];
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int idx = round + static_cast<int>(threadIdx.x + i * blockDim.x);
      if (idx < kVec) dst[idx] = t[i];
    }
  }
}

// numerics.h's canonical row sum, L lanes per row (4..32), lane `lane` owning chunks lane, lane+L, ...
// (CPL of them, 8 addends each: term(c, k) is addend k of the lane's c-th chunk). With L < 32 a lane
// holds the partials of its chunks and does the butterfly steps with offsets >= L itself, the steps
// below L go through xor shuffles. Addends must never be -0 (squares): a partial then starts at its
// first addend instead of +0 + addend, and partials of missing chunks (+0) are skipped. All L lanes
// take part; every lane gets the sum.
template <int L, int CPL, class Term>
__device__ __forceinline__ float lanes_canonical_sum(Term term) {
  constexpr int kLocal = L < 32 ? 32 / L : 1;  // partial slots per lane for the local butterfly
  float part[kLocal];
#pragma unroll
  for (int k = 0; k < kLocal; ++k) part[k] = 0.0f;
#pragma unroll
  for (int c = 0; c < CPL; ++c) {
    // With L = 32 the lane's later chunks continue the same partial.
    const float t0 = term(c, 0);
    float acc = L == 32 && c > 0 ? part[0] + t0 : t0;
#pragma unroll
    for (int k = 1; k < 8; ++k) acc = acc + term(c, k);
    part[L < 32 ? c : 0] = acc;
  }
  // Local butterfly steps; slot k holds partial p[lane + k*L]. Slots >= CPL are +0, and p + (+0) is p
  // for the partials here, so those additions are skipped.
  constexpr int kLive = L < 32 ? CPL : 1;
#pragma unroll
  for (int off = 16; off >= L; off /= 2) {
    float nxt[kLocal];
#pragma unroll
    for (int k = 0; k < kLocal; ++k) {
      const int o = k ^ (off / L);
      nxt[k] = k < kLive && o < kLive ? part[k] + part[o] : (k < kLive ? part[k] : part[o]);
    }
#pragma unroll
    for (int k = 0; k < kLocal; ++k) part[k] = nxt[k];
  }
  float ss = part[0];
#pragma unroll
  for (int off = L / 2; off >= 1; off /= 2) ss = ss + __shfl_xor(ss, off, FXOPT_WARP_SIZE);
  return ss;
}

// The canonical row sum of term(j), j in [0, D), by the 32 lanes of a warp with scalar loads: lane t
// adds the elements of chunks t, t+32, ... in order, then the xor butterfly. Every lane gets the sum.
template <class Term>
__device__ __forceinline__ float warp_canonical_sum(int lane, int D, Term term) {
  float ss = 0.0f;
  for (int chunk = lane; chunk * 8 < D; chunk += 32)
    for (int j = chunk * 8; j < chunk * 8 + 8 && j < D; ++j) ss = ss + term(j);
  for (int off = 16; off >= 1; off /= 2) ss = ss + __shfl_xor(ss, off, FXOPT_WARP_SIZE);
  return ss;
}

__device__ __forceinline__ uint32_t umax(uint32_t a, uint32_t b) { return a > b ? a : b; }

// Max of the two 16-bit magnitudes packed in each of a and b, per half.
__device__ __forceinline__ uint32_t umax_pair(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __vmaxu2(a, b);
#else
  return umax(a & 0xFFFFu, b & 0xFFFFu) | (umax(a >> 16, b >> 16) << 16);
#endif
}

// 16-byte asynchronous global->shared copies (NVIDIA sm_80+) under an L2 cache policy
// (l2_evict_first_policy(): for data read once); src_size 0 fills zeros, reads nothing.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define FXOPT_HAVE_CP_ASYNC 1
#endif
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t p = 0;
#ifdef FXOPT_HAVE_CP_ASYNC
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
#endif
  return p;
}
__device__ __forceinline__ void cp_async16(void* smem_dst, const void* gmem_src, bool valid, uint64_t policy) {
#ifdef FXOPT_HAVE_CP_ASYNC
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(gmem_src),
               "r"(valid ? 16 : 0), "l"(policy));
#else
  (void)policy;
  *static_cast<uint4*>(smem_dst) = valid ? *static_cast<const uint4*>(gmem_src) : make_uint4(0, 0, 0, 0);
#endif
}
// 8-byte streaming store (evict first: written once, not read back by this kernel).
__device__ __forceinline__ void store_streaming(void* p, uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  asm volatile("st.global.cs.v2.u32 [%0], {%1, %2};" ::"l"(p), "r"(a), "r"(b) : "memory");
#else
  *static_cast<uint2*>(p) = make_uint2(a, b);
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#ifdef FXOPT_HAVE_CP_ASYNC
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#ifdef FXOPT_HAVE_CP_ASYNC
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

}  // namespace fxopt::gpu::detail
