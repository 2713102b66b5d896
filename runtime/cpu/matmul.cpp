// Matrix-multiply CPU kernels (mm, addmm, bmm): float32 accumulation, each output element summed over k
// in increasing order with separate multiply and add (no fma), so every ISA variant and thread count
// gives the same bits. A 6-row register-blocked micro-kernel over packed column panels of B, compiled
// for AVX-512, AVX2 and baseline x86-64 and chosen at run time.
#include <cstring>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {
namespace {

typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

constexpr int kMR = 6;

struct Gemm {
  const float* a;  // M x K, row-major contiguous
  int64_t m, k, n;
  const Tensor* b;  // K x N, any strides and float dtype
  float* c;         // M x N, row-major contiguous
  const float* zeros;  // K zeros (rows past M)
};

// Packs columns [j0, j0+NR) of B into bp (K x NR, zero beyond N).
template <int NR>
void pack_panel(const Gemm& g, int64_t j0, float* bp) {
  const int64_t cols = std::min<int64_t>(NR, g.n - j0);
  const int64_t rs = g.b->strides()[0], cs = g.b->strides()[1];
  float tmp[NR];
  for (int64_t kk = 0; kk < g.k; ++kk) {
    gather<float>(*g.b, kk * rs + j0 * cs, cs, cols, tmp);
    for (int64_t j = cols; j < NR; ++j) tmp[j] = 0.0f;
    std::memcpy(bp + kk * NR, tmp, sizeof tmp);
  }
}

template <class V, int NR>
[[gnu::always_inline]] inline void micro_kernel(const Gemm& g, int64_t i0, int64_t j0, const float* bp) {
  constexpr int kL = sizeof(V) / sizeof(float);
  constexpr int kNV = NR / kL;
  const float* ar[kMR];
  for (int i = 0; i < kMR; ++i) ar[i] = i0 + i < g.m ? g.a + (i0 + i) * g.k : g.zeros;
  V acc[kMR][kNV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kNV; ++v) acc[i][v] = V{};
  for (int64_t kk = 0; kk < g.k; ++kk) {
    V b[kNV];
    for (int v = 0; v < kNV; ++v) std::memcpy(&b[v], bp + kk * NR + v * kL, sizeof(V));
    for (int i = 0; i < kMR; ++i) {
      const float a = ar[i][kk];
      for (int v = 0; v < kNV; ++v) acc[i][v] = acc[i][v] + b[v] * a;
    }
  }
  const int64_t rows = std::min<int64_t>(kMR, g.m - i0), cols = std::min<int64_t>(NR, g.n - j0);
  for (int64_t i = 0; i < rows; ++i) {
    float out[NR];
    std::memcpy(out, acc[i], sizeof out);
    std::memcpy(g.c + (i0 + i) * g.n + j0, out, static_cast<size_t>(cols) * sizeof(float));
  }
}

// Column panels [p0, p1) of width NR.
template <class V, int NR>
[[gnu::always_inline]] inline void gemm_panels(const Gemm& g, int64_t p0, int64_t p1) {
  std::vector<float> bp(static_cast<size_t>(g.k * NR));
  for (int64_t p = p0; p < p1; ++p) {
    pack_panel<NR>(g, p * NR, bp.data());
    for (int64_t i0 = 0; i0 < g.m; i0 += kMR) micro_kernel<V, NR>(g, i0, p * NR, bp.data());
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) void gemm_avx512(const Gemm& g, int64_t p0, int64_t p1) {
  gemm_panels<v16f, 32>(g, p0, p1);
}
__attribute__((target("avx2"))) void gemm_avx2(const Gemm& g, int64_t p0, int64_t p1) {
  gemm_panels<v8f, 16>(g, p0, p1);
}
#endif
void gemm_base(const Gemm& g, int64_t p0, int64_t p1) { gemm_panels<v4f, 8>(g, p0, p1); }

// C = A @ B in float32.
void gemm(const Gemm& g, int threads) {
  int nr = 8;
  void (*fn)(const Gemm&, int64_t, int64_t) = gemm_base;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    nr = 32;
    fn = gemm_avx512;
  } else if (__builtin_cpu_supports("avx2")) {
    nr = 16;
    fn = gemm_avx2;
  }
#endif
  const int64_t panels = (g.n + nr - 1) / nr;
  // Small products run on one thread: starting threads costs more than they save (the bits are the same).
  if (g.m * g.n * g.k < (int64_t{1} << 20)) threads = 1;
  parallel_for(panels, threads, [&](int64_t b, int64_t e) { fn(g, b, e); });
}

void check_operands(const Tensor& a, const Tensor& b, int64_t adim) {
  if (a.dim() != adim || b.dim() != adim)
    throw InputError("expected " + std::to_string(adim) + "-d operands, got " + shape_str(a.shape()) + " and " +
                     shape_str(b.shape()));
  if (a.dtype() != b.dtype())
    throw InputError(std::string("operands have different dtypes: ") + dtype_name(a.dtype()) + " and " +
                     dtype_name(b.dtype()));
  if (!is_floating(a.dtype()) || is_fp8(a.dtype()))
    throw InputError(std::string("matrix multiply of ") + dtype_name(a.dtype()) + " is not supported");
  if (a.shape()[adim - 1] != b.shape()[adim - 2])
    throw InputError("matrix shapes cannot be multiplied: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
}

}  // namespace

namespace {
// C = A @ B with B's columns in 8-32 wide packed panels.
Tensor gemm_f32(const Tensor& a, const Tensor& b, int threads) {
  const Tensor af = a.dtype() == DType::F32 ? a.contiguous() : a.to(DType::F32);
  Tensor c = Tensor::empty(DType::F32, {a.shape()[0], b.shape()[1]});
  std::vector<float> zeros(static_cast<size_t>(a.shape()[1]), 0.0f);
  Gemm g{af.data<float>(), a.shape()[0], a.shape()[1], b.shape()[1], &b, c.data<float>(), zeros.data()};
  if (g.m > 0 && g.n > 0) {
    if (g.k == 0) std::fill(g.c, g.c + g.m * g.n, 0.0f);
    else gemm(g, threads);
  }
  return c;
}
}  // namespace

Tensor matmul_f32(const Tensor& a, const Tensor& b, int threads) {
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  if (n >= 16 || m <= n) return gemm_f32(a, b, threads);
  // Few columns (a matrix-vector product, a 1x1 output convolution, a router): C^T = B^T A^T fills the
  // panels with A's rows instead of padding. Each element is the same k-ordered sum, so the same bits.
  const Tensor bt = b.as_strided({n, k}, {b.strides()[1], b.strides()[0]}, b.offset());
  const Tensor at = a.as_strided({k, m}, {a.strides()[1], a.strides()[0]}, a.offset());
  const Tensor ct = gemm_f32(bt, at, threads);
  Tensor c = Tensor::empty(DType::F32, {m, n});
  const float* src = ct.data<float>();
  float* dst = c.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) dst[i * n + j] = src[j * m + i];
  return c;
}

Value mm(const OpArgs& in, ExecContext& ctx) {
  const Tensor& a = in.tensor(0);
  const Tensor& b = in.tensor(1);
  check_operands(a, b, 2);
  Tensor c = matmul_f32(a, b, ctx.threads);
  return Value::of(a.dtype() == DType::F32 ? c : c.to(a.dtype()));
}

// addmm(bias, a, b, *, beta=1, alpha=1) = beta*bias + alpha*(a@b), rounded once to the dtype.
Value addmm(const OpArgs& in, ExecContext& ctx) {
  const Tensor& bias = in.tensor(0);
  const Tensor& a = in.tensor(1);
  const Tensor& b = in.tensor(2);
  check_operands(a, b, 2);
  const float beta = static_cast<float>(in.f64(3));
  const float alpha = static_cast<float>(in.f64(4));
  Tensor c = matmul_f32(a, b, ctx.threads);
  const std::array<const Tensor*, 2> ops{&c, &bias};
  if (beta == 1.0f && alpha == 1.0f)
    return Value::of(map_n<float, 2>(a.dtype(), ops, [](float x, float y) { return x + y; }));
  if (beta == 0.0f)
    return Value::of(map_n<float, 2>(a.dtype(), ops, [alpha](float x, float) { return alpha * x; }));
  return Value::of(map_n<float, 2>(a.dtype(), ops, [=](float x, float y) { return alpha * x + beta * y; }));
}

Value bmm(const OpArgs& in, ExecContext& ctx) {
  const Tensor& a = in.tensor(0);
  const Tensor& b = in.tensor(1);
  check_operands(a, b, 3);
  if (a.shape()[0] != b.shape()[0]) throw InputError("bmm: batch sizes differ");
  const int64_t batch = a.shape()[0], m = a.shape()[1], n = b.shape()[2];
  Tensor out = Tensor::empty(a.dtype(), {batch, m, n});
  // Many small matrices: one thread per matrix; few large ones: the threads inside each. Every element is
  // summed in the same order either way.
  const bool per_matrix = batch >= ctx.threads;
  parallel_for(batch, per_matrix ? ctx.threads : 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      Tensor ai = a.as_strided({m, a.shape()[2]}, {a.strides()[1], a.strides()[2]}, a.offset() + i * a.strides()[0]);
      Tensor bi = b.as_strided({b.shape()[1], n}, {b.strides()[1], b.strides()[2]}, b.offset() + i * b.strides()[0]);
      Tensor c = matmul_f32(ai, bi, per_matrix ? 1 : ctx.threads);
      scatter<float>(out, i * m * n, m * n, c.data<float>());
    }
  });
  return Value::of(out);
}

}  // namespace fxopt::rt::cpu
