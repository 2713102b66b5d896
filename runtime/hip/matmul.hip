// mm / addmm: a plain shared-memory tiled kernel (64x64 tile, 4x4 outputs per thread), f32/bf16/f16
// inputs with any strides, float32 accumulation in increasing k (no fma), numerics.h's epilogue.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

constexpr int kTile = 64;
constexpr int kTileK = 16;

struct MatmulArgs {
  const void* a;
  DType a_dtype;
  int64_t a_s0, a_s1;
  const void* b;
  DType b_dtype;
  int64_t b_s0, b_s1;
  const void* bias;  // null for mm
  DType bias_dtype;
  int64_t bias_s0, bias_s1;  // broadcast to (M, N)
  void* out;
  DType out_dtype;
  int64_t out_s0, out_s1;
  int64_t M, N, K;
  float alpha, beta;
};

__global__ void __launch_bounds__(256) matmul_kernel(MatmulArgs p) {
  __shared__ float as[kTileK][kTile + 1];
  __shared__ float bs[kTileK][kTile + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < p.K; k0 += kTileK) {
    for (int e = threadIdx.x; e < kTile * kTileK; e += blockDim.x) {
      const int m = e / kTileK, k = e % kTileK;  // A tile: 64 rows x 16 k
      const int64_t gm = row0 + m, gk = k0 + k;
      as[k][m] = (gm < p.M && gk < p.K) ? detail::load_f32(p.a, p.a_dtype, gm * p.a_s0 + gk * p.a_s1) : 0.0f;
      const int kk = e / kTile, n = e % kTile;   // B tile: 16 k x 64 cols
      const int64_t gk2 = k0 + kk, gn = col0 + n;
      bs[kk][n] = (gk2 < p.K && gn < p.N) ? detail::load_f32(p.b, p.b_dtype, gk2 * p.b_s0 + gn * p.b_s1) : 0.0f;
    }
    __syncthreads();
    const int kmax = p.K - k0 < kTileK ? static_cast<int>(p.K - k0) : kTileK;
    for (int k = 0; k < kmax; ++k) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = acc[i][j] + av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = row0 + ty + 16 * i;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = col0 + tx + 16 * j;
      if (n >= p.N) continue;
      const float bias = p.bias ? detail::load_f32(p.bias, p.bias_dtype, m * p.bias_s0 + n * p.bias_s1) : 0.0f;
      detail::store_f32(p.out, p.out_dtype, m * p.out_s0 + n * p.out_s1,
                        num::matmul_epilogue(acc[i][j], p.bias != nullptr, bias, p.alpha, p.beta));
    }
  }
}

}  // namespace

void matmul(const TensorRef& out, const TensorRef& a, const TensorRef& b, const TensorRef* bias, float alpha,
            float beta) {
  if (a.ndim != 2 || b.ndim != 2 || out.ndim != 2) throw std::invalid_argument("matmul: operands must be 2-D");
  if (a.shape[1] != b.shape[0] || out.shape[0] != a.shape[0] || out.shape[1] != b.shape[1])
    throw std::invalid_argument("matmul: shapes do not agree");
  for (const TensorRef* t : {&a, &b})
    if (t->dtype != DType::f32 && t->dtype != DType::bf16 && t->dtype != DType::f16)
      throw std::invalid_argument("matmul: inputs must be float32, bfloat16 or float16");
  MatmulArgs p{};
  p.a = a.data; p.a_dtype = a.dtype; p.a_s0 = a.strides[0]; p.a_s1 = a.strides[1];
  p.b = b.data; p.b_dtype = b.dtype; p.b_s0 = b.strides[0]; p.b_s1 = b.strides[1];
  p.out = out.data; p.out_dtype = out.dtype; p.out_s0 = out.strides[0]; p.out_s1 = out.strides[1];
  p.M = a.shape[0]; p.N = b.shape[1]; p.K = a.shape[1];
  p.alpha = alpha; p.beta = beta;
  if (bias) {
    int64_t st[kMaxDims];
    detail::broadcast_strides(*bias, out, st);
    p.bias = bias->data; p.bias_dtype = bias->dtype; p.bias_s0 = st[0]; p.bias_s1 = st[1];
  }
  if (p.M == 0 || p.N == 0) return;
  const dim3 grid(static_cast<unsigned>((p.N + kTile - 1) / kTile), static_cast<unsigned>((p.M + kTile - 1) / kTile));
  FXOPT_LAUNCH("matmul_kernel", matmul_kernel, grid, dim3(256), 0, detail::stream(), p);
}

}  // namespace fxopt::gpu
