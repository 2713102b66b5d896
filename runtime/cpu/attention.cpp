// Scaled dot-product attention on the CPU (every SDPA variant's compute): float32 scores, mask, causal
// mask, grouped-query heads, a softmax with num::fx_expf, and the log-sum-exp the fused variants return.
// Rows (batch, head, query) are independent and each is computed in one fixed order, so the result is the
// same for any thread count.
//
// The contract (runtime/hip/attention.hip computes the same bits; README "Attention"), per row (b, h, i),
// everything in float32 with separate IEEE multiplies and adds:
//   s_j   = ((0 + q_0 k_j0) + q_1 k_j1) + ... in increasing e             (inputs converted to float32)
//   x_j   = -inf if causal and j > i, else s_j * scale (+ mask_ij: a float mask converted to float32, a
//           bool mask as 0 / -inf, or as 0 / 1 for the math variant, which adds any mask as it is);
//           scale = the given scale, else 1 / sqrtf(E)
//   m     = max_j x_j (NaN-propagating); when m == -inf (every key masked): out = 0, lse = +inf, weights = 0
//   p_j   = num::fx_expf(x_j - m);  l = ((0 + p_0) + p_1) + ... in increasing j
//   acc_c = ((0 + p_j0 v_j0c) + ...) over increasing j, skipping p_j == 0;  out_c = acc_c / l
//   lse   = m + num::fx_logf(l);  weights_j = p_j / l
#include <cmath>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// A 3-d (H, L, E) input read as (1, H, L, E).
Tensor as_4d(const Tensor& t, const char* name) {
  if (t.dim() == 4) return t;
  if (t.dim() == 3) return t.as_strided({1, t.shape()[0], t.shape()[1], t.shape()[2]}, {0, t.strides()[0], t.strides()[1], t.strides()[2]}, t.offset());
  throw InputError(std::string("attention ") + name + " must be 3-d or 4-d, got " + shape_str(t.shape()));
}

}  // namespace

AttentionResult attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionParams& p, int threads) {
  const Tensor q4 = as_4d(q_in, "query"), k4 = as_4d(k_in, "key"), v4 = as_4d(v_in, "value");
  if (!is_floating(q4.dtype()) || is_fp8(q4.dtype()))
    throw InputError(std::string("attention of ") + dtype_name(q4.dtype()) + " is not supported");
  if (k4.dtype() != q4.dtype() || v4.dtype() != q4.dtype())
    throw InputError(std::string("attention query, key and value dtypes differ: ") + dtype_name(q4.dtype()) + ", " +
                     dtype_name(k4.dtype()) + ", " + dtype_name(v4.dtype()));
  const int64_t B = q4.shape()[0], Hq = q4.shape()[1], L = q4.shape()[2], E = q4.shape()[3];
  const int64_t Hk = k4.shape()[1], S = k4.shape()[2], Ev = v4.shape()[3];
  if (k4.shape()[0] != B || v4.shape()[0] != B || v4.shape()[1] != Hk || v4.shape()[2] != S || k4.shape()[3] != E)
    throw InputError("attention shapes do not fit: query " + shape_str(q4.shape()) + ", key " + shape_str(k4.shape()) +
                     ", value " + shape_str(v4.shape()));
  if (Hq != Hk && !(p.enable_gqa && Hk > 0 && Hq % Hk == 0))
    throw InputError("attention: " + std::to_string(Hq) + " query heads and " + std::to_string(Hk) + " key/value heads" +
                     (p.enable_gqa ? " (query heads must be a multiple)" : " need enable_gqa=True"));
  if (p.dropout_p != 0.0) throw InputError("attention dropout is not supported (inference graphs have dropout_p = 0)");
  const int64_t group = Hk > 0 ? Hq / Hk : 1;
  const float scale = p.scale ? static_cast<float>(*p.scale) : 1.0f / std::sqrt(static_cast<float>(E));
  const Tensor q = q4.to(DType::F32), k = k4.to(DType::F32), v = v4.to(DType::F32);
  // The additive mask as float32 with broadcast strides over (B, Hq, L, S).
  Tensor mask;
  Shape mst;
  if (p.mask) {
    const float off = p.bool_mask_adds ? 0.0f : -INFINITY, on = p.bool_mask_adds ? 1.0f : 0.0f;
    mask = p.mask->dtype() == DType::Bool ? map_n<float, 1>(DType::F32, std::array<const Tensor*, 1>{p.mask},
                                                            [=](float a) { return a != 0.0f ? on : off; })
                                          : p.mask->to(DType::F32);
    const Shape full{B, Hq, L, S};
    if (broadcast_shapes({full, mask.shape()}) != full)
      throw InputError("attention mask of shape " + shape_str(p.mask->shape()) + " cannot be broadcast to " + shape_str(full));
    mst = broadcast_strides(mask, full);
  }
  AttentionResult r;
  r.out = Tensor::empty(q4.dtype(), {B, Hq, L, Ev});
  r.lse = Tensor::empty(DType::F32, {B, Hq, L});
  if (p.want_weights) r.weights = Tensor::empty(q4.dtype(), {B, Hq, L, S});
  // Keys transposed to (B, Hk, E, S): the scores of all keys then accumulate over e with the keys in the
  // vector lanes, each score still summed in increasing e.
  Tensor kt = Tensor::empty(DType::F32, {B, Hk, E, S});
  for (int64_t bh = 0; bh < B * Hk; ++bh)
    for (int64_t j = 0; j < S; ++j)
      for (int64_t e = 0; e < E; ++e) kt.data<float>()[(bh * E + e) * S + j] = k.data<float>()[(bh * S + j) * E + e];
  const float* qd = q.data<float>();
  const float* kd = kt.data<float>();
  const float* vd = v.data<float>();
  const float* md = p.mask ? mask.data<float>() : nullptr;
  float* lse = r.lse.data<float>();
  if (B * Hq * L * S * (E + Ev) < (int64_t{1} << 18)) threads = 1;  // small: not worth starting threads
  parallel_for(B * Hq * L, threads, [&](int64_t r0, int64_t r1) {
    std::vector<float> s(static_cast<size_t>(S)), acc(static_cast<size_t>(Ev));
    for (int64_t row = r0; row < r1; ++row) {
      const int64_t i = row % L, h = (row / L) % Hq, b = row / (L * Hq);
      const int64_t hk = h / group;
      const float* qi = qd + ((b * Hq + h) * L + i) * E;
      const float* kb = kd + (b * Hk + hk) * E * S;
      const float* vb = vd + (b * Hk + hk) * S * Ev;
      float* sp = s.data();
      std::fill(s.begin(), s.end(), 0.0f);
      for (int64_t e = 0; e < E; ++e) {
        const float qe = qi[e];
        const float* kr = kb + e * S;
        for (int64_t j = 0; j < S; ++j) sp[j] = sp[j] + qe * kr[j];
      }
      float m = -INFINITY;
      for (int64_t j = 0; j < S; ++j) {
        float x;
        if (p.causal && j > i) {
          x = -INFINITY;
        } else {
          x = sp[j] * scale;
          if (md) x = x + md[b * mst[0] + h * mst[1] + i * mst[2] + j * mst[3]];
        }
        s[j] = x;
        m = num::nan_max(m, x);
      }
      float l = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      const bool empty = m == -INFINITY;  // every key masked (or no keys)
      for (int64_t j = 0; j < S && !empty; ++j) {
        const float e = num::fx_expf(s[j] - m);
        s[j] = e;
        l = l + e;
        if (e == 0.0f) continue;
        for (int64_t c = 0; c < Ev; ++c) acc[c] = acc[c] + e * vb[j * Ev + c];
      }
      const int64_t obase = ((b * Hq + h) * L + i) * Ev;
      for (int64_t c = 0; c < Ev; ++c)
        store_elem<float>(r.out.dtype(), r.out.raw() + (obase + c) * static_cast<int64_t>(dtype_size(r.out.dtype())),
                          empty ? 0.0f : acc[c] / l);
      lse[row] = empty ? INFINITY : m + num::fx_logf(l);
      if (p.want_weights) {
        const int64_t wbase = ((b * Hq + h) * L + i) * S;
        const int64_t es = static_cast<int64_t>(dtype_size(r.weights.dtype()));
        for (int64_t j = 0; j < S; ++j)
          store_elem<float>(r.weights.dtype(), r.weights.raw() + (wbase + j) * es, empty ? 0.0f : s[j] / l);
      }
    }
  });
  if (q_in.dim() == 3) {
    r.out = r.out.as_strided({Hq, L, Ev}, {L * Ev, Ev, 1}, 0);
    r.lse = r.lse.as_strided({Hq, L}, {L, 1}, 0);
    if (p.want_weights) r.weights = r.weights.as_strided({Hq, L, S}, {L * S, S, 1}, 0);
  }
  return r;
}

}  // namespace fxopt::rt::cpu
