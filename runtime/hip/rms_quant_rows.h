// The row kernels behind the RMSNorm/gate/FP8-quant family (fused_rms_gated_quant.hip,
// rmsnorm_quant.hip, group_quant.hip): one pass over each row, results bit-identical to
// runtime/numerics.h's reference functions. Included only from .hip files.
//
// Vector kernel (rows_kernel): L lanes per row (4..32), lane t owns the 16-byte chunks t, t+L, ...
// (CPL of them). The sum of squares follows numerics.h's canonical order exactly: with L < 32 a lane
// holds the partials of its chunks and does the butterfly steps with offsets >= L itself (partials
// of missing chunks are +0), the steps below L go through xor shuffles. The group amax is an integer
// max over bf16 magnitude bits (exact and order-free, NaN largest). Fewer lanes per row amortise the
// per-row and per-group scalar work (used for large M by the ops without a silu table); one chunk a
// lane cuts latency, and with the silu table lets 512-thread blocks share one table copy.
// Fast paths, each giving bits identical to the plain numerics.h code:
//  * silu, direct: fx_expf_core without branches, then z/d as CUDA's own division fast path
//    (MUFU.RCP, one Newton step, residual correction) on the domain where that is correctly
//    rounded (|z| in [2^-100, 2^100] or 0, d = exp(-z)+1 <= 2^20), other z recomputed with fx_silu;
//    tests/gpu checks all 65536 z;
//  * silu, table (large M): silu(z) depends only on z's 16 bits; for |z| in [2^-15, 256) it comes
//    from a shared-memory table filled with fx_silu values computed once; other z use fx_silu;
//  * conversions (NVIDIA sm_89+): cvt.rn.bf16x2.f32 for y (differs from f32_to_bf16 only in the NaN
//    payload, which cannot reach q or scale) and cvt.rn.satfinite.e4m3x2.f32 for q, equal to
//    clamp(+-448) + c10's conversion for every float but negative NaNs (tests/gpu checks all 2^32);
//  * y/scale as q0 = y*r, e = fma(-s, q0, y), q = fma(e, r, q0) with r = 1/s (Markstein), plus y's
//    sign for zeros: the same fp8 code as the IEEE division for every bf16 y and finite scale
//    (tests/gpu checks all 1.07e9 pairs); infinite/NaN scales divide.
// Fallback kernel (rows_fallback_kernel): a warp per row, scalar loads, numerics.h's code as written;
// used for other shapes, e5m2, and when FusedOptions::fast_paths is false.
#pragma once

#include <cstdint>
#include <stdexcept>

#include "runtime/hip/rms_quant_common.h"

namespace fxopt::gpu::detail {

// One row of the vector kernels: lane `lane` of the row's L lanes holds chunks lane, lane+L, ... of
// x and z (xv, zv) and the upcast w of those chunks (wf); computes y, the group scales and the fp8
// codes and stores them (rows >= M are computed but not stored). All L lanes take part (shuffles).
template <RowMode kMode, int L, int CPL, num::Fp8Format F, SiluPath kSilu>
__device__ __forceinline__ void process_row(const RowArgs& a, const uint4 (&xv)[CPL], const uint4 (&zv)[CPL],
                                            const float (&wf)[CPL][8], const float* tab, int64_t r, int lane) {
  const int D = a.D;
  const int nchunks = D / 8;
  const int gc = 1 << a.gc_shift;  // chunks per quant group (a power of two)
  // y for this lane's chunks, as packed bf16 pairs.
  uint32_t y[CPL][4];
  if constexpr (kMode == RowMode::quant) {
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      y[c][0] = xv[c].x; y[c][1] = xv[c].y; y[c][2] = xv[c].z; y[c][3] = xv[c].w;
    }
  } else {
    // silu(z) first: independent of the row's sum, so its latency overlaps the reduction.
    float sla[CPL][8];
    if constexpr (kMode == RowMode::gated_norm) {
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        const uint32_t zw[4] = {zv[c].x, zv[c].y, zv[c].z, zv[c].w};
        silu_words<kSilu, 4>(zw, tab, sla[c]);
      }
    }
    // Canonical sum of squares of x.
    const float ss = lanes_canonical_sum<L, CPL>([&](int c, int k) {
      const float v = chunk_bf16(xv[c], k);
      return v * v;
    });
    const float mean = a.inv_d != 0.0f ? ss * a.inv_d : ss / static_cast<float>(D);
    const float rstd = num::fx_rsqrtf(mean + a.eps);

    // y chunk by chunk: n = (x*rstd)*w, times silu(z) for the gated op, rounded to bf16.
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const uint32_t xw[4] = {xv[c].x, xv[c].y, xv[c].z, xv[c].w};
      float n[8];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        n[2 * e] = (bf16_lo(xw[e]) * rstd) * wf[c][2 * e];
        n[2 * e + 1] = (bf16_hi(xw[e]) * rstd) * wf[c][2 * e + 1];
      }
      if constexpr (kMode == RowMode::gated_norm) {
#pragma unroll
        for (int j = 0; j < 8; ++j) n[j] = n[j] * sla[c][j];
      }
#pragma unroll
      for (int e = 0; e < 4; ++e) y[c][e] = pack_bf16x2<true>(n[2 * e], n[2 * e + 1]);
    }
  }

  // Group amax over bf16 magnitudes, then scale and quantise.
  uint32_t gmax[CPL];
#pragma unroll
  for (int c = 0; c < CPL; ++c) {
    uint32_t m2 = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) m2 = umax_pair(m2, y[c][e] & 0x7FFF7FFFu);
    uint32_t m = umax(m2 & 0xFFFFu, m2 >> 16);
    if (gc >= L) {  // the usual case (G >= 8*L): all L lanes, unrolled
#pragma unroll
      for (int off = L / 2; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
    } else {
      for (int off = gc / 2; off >= 1; off /= 2) m = umax(m, __shfl_xor(m, off, FXOPT_WARP_SIZE));
    }
    gmax[c] = m;
  }
  const int span = gc > L ? gc / L : 1;  // chunk rounds per group (a power of two)
  if (span > 1) {  // a group spans `span` consecutive chunk rounds of all L lanes
    uint32_t merged[CPL];
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      uint32_t m = 0;
      const int first = c & ~(span - 1);
#pragma unroll
      for (int k = 0; k < CPL; ++k)
        if (k >= first && k < first + span) m = umax(m, gmax[k]);
      merged[c] = m;
    }
#pragma unroll
    for (int c = 0; c < CPL; ++c) gmax[c] = merged[c];
  }
  float s = 0.0f, rcp = 0.0f;
  bool finite = true;
#pragma unroll
  for (int c = 0; c < CPL; ++c) {
    const int chunk = lane + c * L;
    if ((c & (span - 1)) == 0) {  // first chunk round of a group: its scale and reciprocal
      s = quant_scale_fast<F>(gmax[c]);
      finite = __float_as_uint(s) < 0x7F800000u;
      rcp = 1.0f / s;
    }
    float v[8];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      v[2 * e] = div_by_scale<true>(bf16_lo(y[c][e]), s, rcp);
      v[2 * e + 1] = div_by_scale<true>(bf16_hi(y[c][e]), s, rcp);
    }
    if (!finite) {  // rare: an inf/NaN scale divides
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        v[2 * e] = bf16_lo(y[c][e]) / s;
        v[2 * e + 1] = bf16_hi(y[c][e]) / s;
      }
    }
    uint32_t qw[2];
#pragma unroll
    for (int e = 0; e < 4; e += 2)
      qw[e / 2] = quant_pair<F, true>(v[2 * e], v[2 * e + 1]) | (quant_pair<F, true>(v[2 * e + 2], v[2 * e + 3]) << 16);
    if (r < a.M && chunk < nchunks) {
      store_streaming(a.q + r * D + chunk * 8, qw[0], qw[1]);
      if ((chunk & (gc - 1)) == 0) a.scale[r * a.groups_per_row + (chunk >> a.gc_shift)] = s;
    }
  }
}

// w for this lane's chunks (lane, lane+L, ...), upcast once.
template <RowMode kMode, int L, int CPL>
__device__ __forceinline__ void load_w(const RowArgs& a, int lane, float (&wf)[CPL][8]) {
  if constexpr (kMode != RowMode::quant) {
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * L;
      const uint4 wv = chunk < a.D / 8 ? *reinterpret_cast<const uint4*>(a.w + chunk * 8) : make_uint4(0, 0, 0, 0);
      const uint32_t ww[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        wf[c][2 * e] = bf16_lo(ww[e]);
        wf[c][2 * e + 1] = bf16_hi(ww[e]);
      }
    }
  }
}

// kStages 1: each thread loads the next row into registers before computing the current one;
// kStages >= 2: a ring of kStages row slots per thread in shared memory filled by cp.async, so
// kStages-1 rows are in flight per thread without holding registers.
// Largest block: 768 threads (one silu table shared by up to 24 warps) where a lane holds one
// chunk; 256 with more chunks a lane (80 registers for 768 threads would spill).
template <int CPL>
inline constexpr int kMaxThreads = CPL == 1 ? 768 : 256;

template <RowMode kMode, int L, int CPL, num::Fp8Format F, SiluPath kSilu, int kStages>
__global__ void __launch_bounds__(kMaxThreads<CPL>, CPL >= 4 ? 2 : 1) rows_kernel(RowArgs a) {
  static_assert(L == 32 || L * CPL <= 32, "with L < 32 the lane's chunks must be partials < 32");
  constexpr bool kTable = kMode == RowMode::gated_norm && kSilu == SiluPath::table;
  extern __shared__ float smem_silu[];
  const float* tab = nullptr;
  const int D = a.D;
  const int nchunks = D / 8;
  const int lane = threadIdx.x % L;
  const int rows_per_warp = FXOPT_WARP_SIZE / L;
  const int rows_per_block = blockDim.x / L;
  const int64_t warp_row0 =
      static_cast<int64_t>(blockIdx.x) * rows_per_block + (threadIdx.x / FXOPT_WARP_SIZE) * rows_per_warp;
  const int sub = (threadIdx.x % FXOPT_WARP_SIZE) / L;
  const int64_t row_stride = static_cast<int64_t>(gridDim.x) * rows_per_block;

  float wf[CPL][8];
  load_w<kMode, L, CPL>(a, lane, wf);

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
  // The shared-memory ring (kStages >= 2): slot (stage, chunk, source) of thread t at
  // ((stage*CPL + chunk)*2 + source)*blockDim + t, 16 bytes each (conflict-free 16-byte accesses).
  uint4* ring = reinterpret_cast<uint4*>(reinterpret_cast<char*>(smem_silu) + (kTable ? kSiluTableBytes : 0));
  // x and z are read once: L2 evicts them first (measured 0.5 us faster at N = 8192, H100).
  const uint64_t policy = kStages >= 2 ? l2_evict_first_policy() : 0;
  auto slot = [&](int stage, int c, int src) { return ring + ((stage * CPL + c) * 2 + src) * blockDim.x + threadIdx.x; };
  auto issue = [&](int64_t base, int stage) {
    const int64_t r = base + sub;
#pragma unroll
    for (int c = 0; c < CPL; ++c) {
      const int chunk = lane + c * L;
      const bool ok = r < a.M && chunk < nchunks;
      const int64_t off = ok ? r * D + chunk * 8 : 0;
      cp_async16(slot(stage, c, 0), a.x + off, ok, policy);
      if constexpr (kMode == RowMode::gated_norm) cp_async16(slot(stage, c, 1), a.z + off, ok, policy);
    }
    cp_async_commit();
  };

  // Rows of a lane group: base, base + row_stride, ...; with few chunks per lane the next row's
  // loads are issued before this row is computed (more bytes in flight per thread).
  constexpr bool kPrefetch = kStages == 1 && CPL <= 2;
  int64_t base = warp_row0;
  const bool active = base < a.M;  // warp-uniform
  int stage = 0;
  if (active) {
    if constexpr (kStages >= 2) {
#pragma unroll
      for (int s = 0; s < kStages - 1; ++s) issue(base + s * row_stride, s);
    } else {
      load(base, xv, zv);
    }
  }
  // The silu table is filled while the first rows' loads are in flight (one memory latency, not two).
  if constexpr (kTable) {
    fill_silu_table<6>(a.silu_table, smem_silu);
    __syncthreads();
    tab = smem_silu;
  }
  if (!active) return;
  for (;;) {
    const int64_t next = base + row_stride;
    const bool has_next = next < a.M;  // warp-uniform
    if constexpr (kStages >= 2) {
      // Refill the slot consumed in the previous iteration, then wait for this row's.
      issue(base + (kStages - 1) * row_stride, stage == 0 ? kStages - 1 : stage - 1);
      cp_async_wait<kStages - 1>();
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        xv[c] = *slot(stage, c, 0);
        if constexpr (kMode == RowMode::gated_norm) zv[c] = *slot(stage, c, 1);
      }
    } else if (kPrefetch && has_next) {
      load(next, xn, zn);
    }
    process_row<kMode, L, CPL, F, kSilu>(a, xv, zv, wf, tab, base + sub, lane);

    if (!has_next) break;
    base = next;
    if constexpr (kStages >= 2) {
      stage = stage + 1 == kStages ? 0 : stage + 1;
    } else if constexpr (kPrefetch) {
#pragma unroll
      for (int c = 0; c < CPL; ++c) {
        xv[c] = xn[c];
        zv[c] = zn[c];
      }
    } else {
      load(base, xv, zv);
    }
  }
  if constexpr (kStages >= 2) cp_async_wait<0>();  // nothing in flight at exit
}

// A warp per row, scalar loads, numerics.h's code as written: any D, G with D % G == 0 (y is
// recomputed in the second pass, which gives the same bits).
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
      const float ss = warp_canonical_sum(lane, D, [&](int j) {
        const float f = num::bf16_to_f32(xr[j]);
        return f * f;
      });
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

// Sizes (elements M*D) from which the silu table (gated op) and few lanes per row (other ops) pay
// off, the table path's cp.async ring depth and block size; measured on an H100 for D = G = 128
// (bench/gpu/RESULTS.md): N <= 128 tokens: direct silu, 16 lanes; N >= 1024: table, 16 lanes,
// 2 stages, 512 threads (768 from 2^24 elements: 1024 measured better at N = 8192, worse at 1024).
inline constexpr int64_t kSiluTableMinElements = int64_t{1} << 22;
inline constexpr int64_t kFewLanesMinElements = int64_t{1} << 22;
inline constexpr int kAutoStagesTable = 2;
inline constexpr int kTableThreads = 512;
inline constexpr int64_t kTableBigBlockElements = int64_t{1} << 24;  // from here 768 threads (N >= 4096)

template <RowMode kMode, int L, int CPL, num::Fp8Format F, SiluPath kSilu, int kStages>
void launch_rows_variant(const RowArgs& a, const FusedOptions& opts) {
  auto kernel = rows_kernel<kMode, L, CPL, F, kSilu, kStages>;
  constexpr bool kTable = kMode == RowMode::gated_norm && kSilu == SiluPath::table;
  // Small grids: 128-thread blocks spread the rows over more multiprocessors; the silu table is
  // shared by 512 threads (fewer copies to fill).
  const int64_t rows_per_256 = 256 / L;
  int threads = !kTable && (a.M + rows_per_256 - 1) / rows_per_256 < 2 * sm_count() ? 128 : 256;
  if (kTable && CPL == 1) threads = a.M * a.D >= kTableBigBlockElements ? kMaxThreads<CPL> : kTableThreads;
  if (opts.threads_per_block > 0) threads = opts.threads_per_block;
  if (threads % FXOPT_WARP_SIZE != 0 || threads > kMaxThreads<CPL>)
    throw std::invalid_argument("fused rows: bad threads_per_block");
  const size_t smem = (kTable ? kSiluTableBytes : 0) +
                      (kStages >= 2 ? static_cast<size_t>(kStages) * CPL * 2 * 16 * threads : 0);
  if (smem > 48 * 1024)
    FXOPT_HIP_CHECK(hipFuncSetAttribute(reinterpret_cast<const void*>(kernel), hipFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)));
  const int64_t rows_per_block = threads / L;
  const int64_t row_blocks = (a.M + rows_per_block - 1) / rows_per_block;
  int occ = opts.blocks_per_sm;
  if (occ <= 0) FXOPT_HIP_CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, threads, smem));
  if (occ <= 0) occ = 1;
  // Persistent grid of every resident block (a grid balanced to equal rounds per block, i.e. fewer
  // blocks, measured slower: fewer loads in flight).
  const int64_t cap = static_cast<int64_t>(sm_count()) * occ;
  const unsigned blocks = static_cast<unsigned>(row_blocks < cap ? row_blocks : cap);
  FXOPT_LAUNCH("rows_kernel", kernel, dim3(blocks), dim3(threads), smem, stream(), a);
}

// Pipelined (cp.async ring) instances exist for the gated op's D = 128-like shapes only.
template <int L, int CPL>
inline constexpr bool kHasStages = (L == 16 && CPL == 1) || (L == 8 && CPL == 2) || (L == 4 && CPL == 4);

template <RowMode kMode, int L, int CPL, num::Fp8Format F, SiluPath kSilu>
void launch_rows_stages(const RowArgs& a, int stages, const FusedOptions& opts) {
  if constexpr (kMode == RowMode::gated_norm && kHasStages<L, CPL>) {
    if (stages == 2) return launch_rows_variant<kMode, L, CPL, F, kSilu, 2>(a, opts);
    if (stages >= 3) return launch_rows_variant<kMode, L, CPL, F, kSilu, 4>(a, opts);
  }
  launch_rows_variant<kMode, L, CPL, F, kSilu, 1>(a, opts);
}

template <RowMode kMode, int L, int CPL, num::Fp8Format F>
void launch_rows_shape(const RowArgs& a, bool table, int stages, const FusedOptions& opts) {
  if constexpr (kMode == RowMode::gated_norm) {
    if (table) return launch_rows_stages<kMode, L, CPL, F, SiluPath::table>(a, stages, opts);
  }
  launch_rows_stages<kMode, L, CPL, F, SiluPath::direct>(a, stages, opts);
}

// The instantiated (lanes, chunks per lane) shapes.
template <RowMode kMode, num::Fp8Format F>
void launch_rows_fmt(const RowArgs& a, int L, int CPL, bool table, int stages, const FusedOptions& o) {
  if (L == 4 && CPL == 1) return launch_rows_shape<kMode, 4, 1, F>(a, table, stages, o);
  if (L == 4 && CPL == 2) return launch_rows_shape<kMode, 4, 2, F>(a, table, stages, o);
  if (L == 4 && CPL == 4) return launch_rows_shape<kMode, 4, 4, F>(a, table, stages, o);
  if (L == 8 && CPL == 1) return launch_rows_shape<kMode, 8, 1, F>(a, table, stages, o);
  if (L == 8 && CPL == 2) return launch_rows_shape<kMode, 8, 2, F>(a, table, stages, o);
  if (L == 8 && CPL == 4) return launch_rows_shape<kMode, 8, 4, F>(a, table, stages, o);
  if (L == 16 && CPL == 1) return launch_rows_shape<kMode, 16, 1, F>(a, table, stages, o);
  if (L == 16 && CPL == 2) return launch_rows_shape<kMode, 16, 2, F>(a, table, stages, o);
  if (L == 32 && CPL == 1) return launch_rows_shape<kMode, 32, 1, F>(a, table, stages, o);
  if (L == 32 && CPL == 2) return launch_rows_shape<kMode, 32, 2, F>(a, table, stages, o);
  if (L == 32 && CPL == 4) return launch_rows_shape<kMode, 32, 4, F>(a, table, stages, o);
  throw std::logic_error("rows kernel: no instance for this lane shape");
}

inline bool aligned(const void* p, size_t n) { return (reinterpret_cast<uintptr_t>(p) % n) == 0; }

inline int pow2_ceil(int v) {
  int p = 1;
  while (p < v) p *= 2;
  return p;
}

// Picks the vector or the fallback kernel for (D, G) and launches it over a.M rows.
template <RowMode kMode>
void launch_rows(RowArgs a, num::Fp8Format fmt, const FusedOptions& opts) {
  if (a.M <= 0) return;
  if (a.G <= 0 || a.D <= 0 || a.D % a.G != 0)
    throw std::invalid_argument("fp8 group quant: the row length must be a positive multiple of the group size");
  a.inv_d = (a.D & (a.D - 1)) == 0 ? 1.0f / static_cast<float>(a.D) : 0.0f;
  a.groups_per_row = a.D / a.G;
  const int nchunks = a.D / 8;
  const int gc = a.G / 8;
  a.gc_shift = 0;
  while ((1 << a.gc_shift) < gc) ++a.gc_shift;
  const bool vector_ok =
      opts.fast_paths && a.D % 8 == 0 && a.G % 8 == 0 && (gc & (gc - 1)) == 0 && nchunks <= 128 &&
      fmt != num::Fp8Format::e5m2 && aligned(a.x, 16) && aligned(a.q, 8) &&
      (kMode == RowMode::quant || aligned(a.w, 16)) && (kMode != RowMode::gated_norm || aligned(a.z, 16));
  if (!vector_ok) {
    const unsigned blocks = grid_for(a.M * FXOPT_WARP_SIZE, 256);
    FXOPT_LAUNCH("rows_fallback_kernel", rows_fallback_kernel<kMode>, dim3(blocks), dim3(256), 0, stream(), a, fmt);
    return;
  }
  const int64_t elems = a.M * a.D;
  bool table = false;
  if constexpr (kMode == RowMode::gated_norm) {
    using S = FusedOptions::Silu;
    table = opts.silu == S::table || (opts.silu == S::automatic && elems >= kSiluTableMinElements);
  }
  // Lanes per row: many for latency (every chunk its own lane); few (2 chunks a lane) for the
  // throughput of the ops without the silu table.
  int L;
  if (nchunks > 32) {
    L = 32;
  } else if (opts.lanes_per_row > 0) {
    L = opts.lanes_per_row;
  } else if (elems >= kFewLanesMinElements && !table) {
    L = pow2_ceil((nchunks + 1) / 2);  // 2 chunks a lane (measured best on H100 for D = 128)
  } else {
    L = pow2_ceil(nchunks);
  }
  if (L < 4) L = 4;
  if (L > 32) L = 32;
  int CPL = (nchunks + L - 1) / L;
  if (CPL == 3) CPL = 4;
  if (L < 32 && L * CPL > 32) throw std::invalid_argument("fused rows: lanes_per_row too small for this row length");
  int stages = opts.stages;
  if (stages <= 0) stages = table && elems >= kSiluTableMinElements ? kAutoStagesTable : 1;
  if (fmt == num::Fp8Format::e4m3fn)
    launch_rows_fmt<kMode, num::Fp8Format::e4m3fn>(a, L, CPL, table, stages, opts);
  else
    launch_rows_fmt<kMode, num::Fp8Format::e4m3fnuz>(a, L, CPL, table, stages, opts);
}

}  // namespace fxopt::gpu::detail
