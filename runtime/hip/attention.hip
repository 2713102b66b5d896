// Scaled dot-product attention on the GPU: one block per query row (batch, head, query), computing the
// contract of runtime/cpu/attention.cpp step by step in the same order, so its bits equal the CPU's.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

constexpr int kThreads = 128;

struct AttnArgs {
  // 4-d views (B, H, L|S, E|Ev); strides in elements.
  const void* q; DType qt; int64_t qs[4];
  const void* k; DType kt; int64_t ks[4];
  const void* v; DType vt; int64_t vs[4];
  const void* mask; DType mt; int64_t ms[4];  // broadcast to (B, Hq, L, S); null: none
  void* out; DType ot; int64_t os[4];
  float* lse; int64_t ls[3];                   // null: not wanted
  void* weights; DType wt; int64_t ws[4];      // null: not wanted
  int64_t B, Hq, Hk, L, S, E, Ev;
  bool causal;
  bool bool_mask_adds;  // a bool mask adds 0 / 1 (the math variant), else 0 / -inf
  float scale;
};

__global__ void __launch_bounds__(kThreads) attention_kernel(AttnArgs a) {
  extern __shared__ float smem[];
  float* qrow = smem;          // E
  float* x = smem + a.E;       // S: scores, then exponentials
  __shared__ float red[kThreads];
  __shared__ float stat[2];    // m, l
  const int tid = threadIdx.x;
  const int64_t row = blockIdx.x;
  const int64_t i = row % a.L, h = (row / a.L) % a.Hq, b = row / (a.L * a.Hq);
  const int64_t hk = h / (a.Hq / a.Hk);
  for (int64_t e = tid; e < a.E; e += kThreads)
    qrow[e] = detail::load_f32(a.q, a.qt, b * a.qs[0] + h * a.qs[1] + i * a.qs[2] + e * a.qs[3]);
  __syncthreads();
  // Scores, scaled and masked.
  float mx = -INFINITY;
  for (int64_t j = tid; j < a.S; j += kThreads) {
    float xj;
    if (a.causal && j > i) {
      xj = -INFINITY;
    } else {
      const int64_t kb = b * a.ks[0] + hk * a.ks[1] + j * a.ks[2];
      float s = 0.0f;
      for (int64_t e = 0; e < a.E; ++e) s = s + qrow[e] * detail::load_f32(a.k, a.kt, kb + e * a.ks[3]);
      xj = s * a.scale;
      if (a.mask) {
        const float mv = detail::load_f32(a.mask, a.mt, b * a.ms[0] + h * a.ms[1] + i * a.ms[2] + j * a.ms[3]);
        xj = xj + (a.mt != DType::b8 ? mv : a.bool_mask_adds ? (mv != 0.0f ? 1.0f : 0.0f) : (mv != 0.0f ? 0.0f : -INFINITY));
      }
    }
    x[j] = xj;
    mx = num::nan_max(mx, xj);
  }
  red[tid] = mx;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (tid < w) red[tid] = num::nan_max(red[tid], red[tid + w]);
    __syncthreads();
  }
  const float m = red[0];
  const bool empty = m == -INFINITY;
  if (!empty)
    for (int64_t j = tid; j < a.S; j += kThreads) x[j] = num::fx_expf(x[j] - m);
  __syncthreads();
  if (tid == 0) {
    float l = 0.0f;
    for (int64_t j = 0; j < a.S && !empty; ++j) l = l + x[j];
    stat[1] = l;
    if (a.lse) a.lse[b * a.ls[0] + h * a.ls[1] + i * a.ls[2]] = empty ? INFINITY : m + num::fx_logf(l);
  }
  __syncthreads();
  const float l = stat[1];
  const int64_t vb = b * a.vs[0] + hk * a.vs[1];
  for (int64_t c = tid; c < a.Ev; c += kThreads) {
    float acc = 0.0f;
    for (int64_t j = 0; j < a.S && !empty; ++j) {
      const float p = x[j];
      if (p == 0.0f) continue;
      acc = acc + p * detail::load_f32(a.v, a.vt, vb + j * a.vs[2] + c * a.vs[3]);
    }
    detail::store_f32(a.out, a.ot, b * a.os[0] + h * a.os[1] + i * a.os[2] + c * a.os[3], empty ? 0.0f : acc / l);
  }
  if (a.weights)
    for (int64_t j = tid; j < a.S; j += kThreads)
      detail::store_f32(a.weights, a.wt, b * a.ws[0] + h * a.ws[1] + i * a.ws[2] + j * a.ws[3], empty ? 0.0f : x[j] / l);
}

void copy4(int64_t* dst, const TensorRef& t, const char* what) {
  if (t.ndim != 4) throw std::invalid_argument(std::string("attention: ") + what + " must be a 4-d view");
  for (int d = 0; d < 4; ++d) dst[d] = t.strides[d];
}

}  // namespace

void attention(const TensorRef& out, const TensorRef* lse, const TensorRef* weights, const TensorRef& q, const TensorRef& k,
               const TensorRef& v, const TensorRef* mask, bool causal, float scale, bool bool_mask_adds) {
  AttnArgs a{};
  copy4(a.qs, q, "query");
  copy4(a.ks, k, "key");
  copy4(a.vs, v, "value");
  copy4(a.os, out, "output");
  a.q = q.data; a.qt = q.dtype;
  a.k = k.data; a.kt = k.dtype;
  a.v = v.data; a.vt = v.dtype;
  a.out = out.data; a.ot = out.dtype;
  a.B = q.shape[0]; a.Hq = q.shape[1]; a.L = q.shape[2]; a.E = q.shape[3];
  a.Hk = k.shape[1]; a.S = k.shape[2]; a.Ev = v.shape[3];
  if (a.Hk <= 0 || a.Hq % a.Hk != 0) throw std::invalid_argument("attention: query heads must be a multiple of key heads");
  if (a.E + a.S > kAttentionMaxSharedFloats) throw std::invalid_argument("attention: too many keys for the GPU kernel");
  if (mask) {
    copy4(a.ms, *mask, "mask");
    a.mask = mask->data;
    a.mt = mask->dtype;
  }
  if (lse) {
    if (lse->ndim != 3) throw std::invalid_argument("attention: lse must be a 3-d view");
    for (int d = 0; d < 3; ++d) a.ls[d] = lse->strides[d];
    a.lse = static_cast<float*>(lse->data);
  }
  if (weights) {
    copy4(a.ws, *weights, "weights");
    a.weights = weights->data;
    a.wt = weights->dtype;
  }
  a.causal = causal;
  a.bool_mask_adds = bool_mask_adds;
  a.scale = scale;
  const int64_t rows = a.B * a.Hq * a.L;
  if (rows == 0) return;
  const size_t shmem = static_cast<size_t>(a.E + a.S) * sizeof(float);
  FXOPT_LAUNCH("attention_kernel", attention_kernel, dim3(static_cast<unsigned>(rows)), dim3(kThreads), shmem, detail::stream(), a);
}

}  // namespace fxopt::gpu
