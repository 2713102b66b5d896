// Op rows of the heavy compute kernels (runtime/cpu/heavy_ops.h): convolution, pooling, every
// scaled-dot-product attention variant PyTorch emits (with all of its outputs), sort/topk/histc,
// cumsum/cumprod, embedding/index/index_put/gather/scatter, _grouped_mm. Meta rules give the output
// shapes; the computes are thin adapters from decoded arguments to the kernels.
#include <cmath>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/gpu_ops.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

// ---- convolution ----

int64_t pick(const std::vector<int64_t>& v, size_t i, int64_t fallback) {
  return v.empty() ? fallback : v.size() == 1 ? v[0] : v.at(i);
}

std::optional<Value> meta_conv(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const Tensor& w = a.tensor(1);
  const cpu::ConvParams p = conv_params(a);
  if (p.transposed) throw InputError("transposed convolution is not supported");
  const int64_t sd = w.dim() - 2;
  if (sd != 1 && sd != 2) throw InputError("only 1-d and 2-d convolutions are supported, weight is " + shape_str(w.shape()));
  const bool batched = x.dim() == sd + 2;
  if (!batched && x.dim() != sd + 1)
    throw InputError("convolution input " + shape_str(x.shape()) + " does not fit weight " + shape_str(w.shape()));
  if (p.groups <= 0) throw InputError("convolution groups must be positive, got " + std::to_string(p.groups));
  const int64_t c = x.shape()[batched ? 1 : 0];
  if (c != w.shape()[1] * p.groups)
    throw InputError("convolution input has " + std::to_string(c) + " channels but weight " + shape_str(w.shape()) +
                     " with groups " + std::to_string(p.groups) + " expects " + std::to_string(w.shape()[1] * p.groups));
  Shape out;
  if (batched) out.push_back(x.shape()[0]);
  out.push_back(w.shape()[0]);
  for (int64_t i = 0; i < sd; ++i) {
    const int64_t in = x.shape()[x.dim() - sd + i], k = w.shape()[2 + i];
    const int64_t s = pick(p.stride, static_cast<size_t>(i), 1), pad = pick(p.padding, static_cast<size_t>(i), 0),
                  d = pick(p.dilation, static_cast<size_t>(i), 1);
    const int64_t o = (in + 2 * pad - d * (k - 1) - 1) / std::max<int64_t>(s, 1) + 1;
    if (s <= 0 || d <= 0 || pad < 0 || in + 2 * pad - d * (k - 1) - 1 < 0)
      throw InputError("convolution: input " + shape_str(x.shape()) + " is too small for weight " + shape_str(w.shape()) +
                       " (or a stride/dilation is not positive)");
    out.push_back(o);
  }
  return meta_tensor(x.dtype(), out);
}
Value conv(const OpArgs& a, ExecContext& ctx) {
  return Value::of(cpu::convolution(a.tensor(0), a.tensor(1), a.opt_tensor(2), conv_params(a), ctx.threads));
}

// ---- pooling ----

int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t o = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (o - 1) * stride >= in + pad) --o;
  return o;
}
Shape pool_shape(const Tensor& x, const cpu::PoolParams& p) {
  if (x.dim() != 3 && x.dim() != 4) throw InputError("2-d pooling takes a 3-d or 4-d input, got " + shape_str(x.shape()));
  Shape s = x.shape();
  for (size_t i = 0; i < 2; ++i) {
    const int64_t k = pick(p.kernel, i, 1), st = p.stride.empty() ? k : pick(p.stride, i, k);
    const int64_t pad = pick(p.padding, i, 0), d = pick(p.dilation, i, 1);
    if (k <= 0 || st <= 0 || d <= 0 || pad < 0) throw InputError("pooling: kernel, stride and dilation must be positive");
    const int64_t o = pool_out(x.shape()[x.dim() - 2 + static_cast<int64_t>(i)], k, pad, st, d, p.ceil_mode);
    if (o <= 0) throw InputError("pooling: input " + shape_str(x.shape()) + " is too small for the kernel");
    s[x.dim() - 2 + static_cast<int64_t>(i)] = o;
  }
  return s;
}
// (self, kernel_size, stride, padding, dilation, ceil_mode)
cpu::PoolParams max_pool_params(const OpArgs& a) {
  cpu::PoolParams p;
  p.kernel = a.ints(1);
  p.stride = a.ints(2);
  p.padding = a.ints(3);
  p.dilation = a.ints(4);
  p.ceil_mode = a.flag(5);
  return p;
}
std::optional<Value> meta_max_pool(const OpArgs& a, DType index_dtype) {
  const Tensor& x = a.tensor(0);
  const Shape s = pool_shape(x, max_pool_params(a));
  return Value::list({meta_tensor(x.dtype(), s), meta_tensor(index_dtype, s)});
}
std::optional<Value> meta_max_pool_offsets(const OpArgs& a) { return meta_max_pool(a, DType::I8); }
std::optional<Value> meta_max_pool_indices(const OpArgs& a) { return meta_max_pool(a, DType::I64); }
Value max_pool_offsets(const OpArgs& a, ExecContext&) {
  cpu::MaxPoolResult r = cpu::max_pool2d(a.tensor(0), max_pool_params(a), true);
  return Value::list({Value::of(r.values), Value::of(r.indices)});
}
Value max_pool_indices(const OpArgs& a, ExecContext&) {
  cpu::MaxPoolResult r = cpu::max_pool2d(a.tensor(0), max_pool_params(a), false);
  return Value::list({Value::of(r.values), Value::of(r.indices)});
}
std::optional<Value> meta_offsets_to_indices(const OpArgs& a) { return meta_tensor(DType::I64, a.tensor(0).shape()); }
Value offsets_to_indices(const OpArgs& a, ExecContext&) {
  return Value::of(cpu::max_pool_offsets_to_indices(a.tensor(0), a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.ints(5)));
}
// avg_pool2d(self, kernel_size, stride=[], padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None)
cpu::PoolParams avg_params(const OpArgs& a) {
  cpu::PoolParams p;
  p.kernel = a.ints(1);
  p.stride = a.ints(2);
  p.padding = a.ints(3);
  p.ceil_mode = a.flag(4);
  return p;
}
std::optional<Value> meta_avg_pool(const OpArgs& a) {
  return meta_tensor(a.tensor(0).dtype(), pool_shape(a.tensor(0), avg_params(a)));
}
Value avg_pool(const OpArgs& a, ExecContext&) {
  return Value::of(cpu::avg_pool2d(a.tensor(0), avg_params(a), a.flag(5), a.opt_i64(6)));
}
std::optional<Value> meta_adaptive(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> o = a.ints(1);
  if (x.dim() < 2 || o.size() != 2) throw InputError("adaptive_avg_pool2d needs a 3-d or 4-d input and 2 output sizes");
  Shape s = x.shape();
  s[s.size() - 2] = o[0];
  s[s.size() - 1] = o[1];
  return meta_tensor(x.dtype(), s);
}
Value adaptive(const OpArgs& a, ExecContext&) { return Value::of(cpu::adaptive_avg_pool2d(a.tensor(0), a.ints(1))); }

// ---- attention ----

// (B, Hq, L, Ev) and the lse shape for q (B, Hq, L, E) / k (B, Hk, S, E) / v (B, Hk, S, Ev); 3-d inputs drop B.
struct AttnShapes {
  Shape out;
  int64_t b = 1, h = 1, l = 0, s = 0;
  bool batched = true;
};
AttnShapes attn_shapes(const OpArgs& a) {
  const Tensor &q = a.tensor(0), &k = a.tensor(1), &v = a.tensor(2);
  if ((q.dim() != 3 && q.dim() != 4) || k.dim() != q.dim() || v.dim() != q.dim())
    throw InputError("attention: query, key and value must all be 3-d or 4-d, got " + shape_str(q.shape()) + ", " +
                     shape_str(k.shape()) + ", " + shape_str(v.shape()));
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype())
    throw InputError("attention: query, key and value must have one dtype");
  if (!is_floating(q.dtype()) || is_fp8(q.dtype()))
    throw InputError(std::string("attention of ") + dtype_name(q.dtype()) + " is not supported");
  const int64_t nd = q.dim();
  if (q.shape()[nd - 1] != k.shape()[nd - 1] || k.shape()[nd - 2] != v.shape()[nd - 2])
    throw InputError("attention: shapes do not fit: q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " +
                     shape_str(v.shape()));
  AttnShapes r;
  r.batched = nd == 4;
  r.out = q.shape();
  r.out[nd - 1] = v.shape()[nd - 1];
  r.l = q.shape()[nd - 2];
  r.s = k.shape()[nd - 2];
  r.h = q.shape()[nd - 3];
  if (r.batched) r.b = q.shape()[0];
  return r;
}
Shape lse_shape(const AttnShapes& s, int64_t l) {
  return s.batched ? Shape{s.b, s.h, l} : Shape{s.h, l};
}
Value run_attention(const OpArgs& a, ExecContext& ctx, const Tensor* mask, double dropout, bool causal,
                    std::optional<double> scale, bool gqa, bool weights, cpu::AttentionResult* res,
                    bool bool_mask_adds = false) {
  if (dropout != 0.0) throw InputError("attention dropout_p must be 0 (inference), got " + std::to_string(dropout));
  cpu::AttentionParams p;
  p.mask = mask;
  p.bool_mask_adds = bool_mask_adds;
  p.causal = causal;
  p.scale = scale;
  p.enable_gqa = gqa;
  p.want_weights = weights;
  *res = cpu::attention(a.tensor(0), a.tensor(1), a.tensor(2), p, ctx.threads);
  return Value::of(res->out);
}
// An auxiliary output (seeds, offsets, debug masks) as meta.val describes it when its shape is constant,
// else an int64 scalar; None where meta.val has null.
Value aux_meta(const Node& n, size_t item) {
  if (n.val && n.val->kind == ValMeta::Kind::Tuple && item < n.val->items.size()) {
    const ValMeta& m = n.val->items[item];
    if (m.kind == ValMeta::Kind::Null) return Value::none();
    if (m.is_tensor()) {
      Shape s;
      for (const auto& d : m.tensor.shape) {
        auto c = d.expr.as_constant();
        if (!c) return meta_tensor(DType::I64, {});
        s.push_back(*c);
      }
      if (auto dt = dtype_from_name(m.tensor.dtype)) return meta_tensor(*dt, s);
    }
  }
  return meta_tensor(DType::I64, {});
}
// Zero-filled host tensors for the meta's auxiliary outputs; the given values for the rest.
Value fill_aux(const Value& meta, std::vector<std::pair<size_t, Value>> given) {
  std::vector<Value> items;
  for (size_t i = 0; i < meta.items.size(); ++i) {
    const Value& m = meta.items[i];
    auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == i; });
    if (it != given.end()) {
      items.push_back(it->second);
    } else if (m.is_tensor()) {
      Tensor t = Tensor::empty(m.tensor.dtype(), m.tensor.shape());
      cpu::fill_value(t, Value::integer(0));
      items.push_back(Value::of(t));
    } else {
      items.push_back(m);
    }
  }
  return Value::list(std::move(items));
}
// lse with a trailing 1 (cudnn) or padded to a multiple of 32 (efficient, filled with +inf).
Tensor reshape_lse(const Tensor& lse, const Shape& want) {
  if (lse.shape() == want) return lse;
  Tensor out = Tensor::empty(DType::F32, want);
  if (out.numel() == lse.numel()) {
    std::memcpy(out.raw(), lse.contiguous().raw(), static_cast<size_t>(lse.numel()) * 4);
    return out;
  }
  cpu::fill_value(out, Value::real(INFINITY));
  const int64_t l = lse.shape().back(), lp = want.back(), rows = l ? lse.numel() / l : 0;
  const Tensor c = lse.contiguous();
  const int64_t n = std::min(l, lp);  // lp is 0 when compute_log_sumexp is false
  for (int64_t r = 0; r < rows && n > 0; ++r) std::memcpy(out.data<float>() + r * lp, c.data<float>() + r * l, static_cast<size_t>(n) * 4);
  return out;
}

// The CUDA variants' auxiliary outputs may be uint64 (flash's rng_state: uint64 [2]), zero-filled here.
constexpr DTypeSet kAttnDTypes = kAllDTypes | DTypeSet{DType::U64};
// The GPU kernel: float16/bfloat16/float32 inputs, a bool or float mask, float32 lse, int64/uint64 auxiliaries;
// a query row and its scores fit in shared memory (longer rows run on the CPU).
constexpr DTypeSet kGpuAttnDTypes = kGpuFloat | DTypeSet{DType::Bool, DType::I64, DType::U64};
bool gpu_attn_when(const OpArgs& a) {
  const Tensor &q = a.tensor(0), &k = a.tensor(1);
  return q.shape().back() + k.shape()[k.dim() - 2] <= gpu::kAttentionMaxSharedFloats;
}

// scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0, is_causal=False, *, scale=None, enable_gqa=False)
std::optional<Value> meta_sdpa(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  return meta_tensor(a.tensor(0).dtype(), s.out);
}
Value sdpa(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  return run_attention(a, ctx, a.opt_tensor(3), a.f64(4), a.flag(5), a.opt_f64(6), a.flag(7), false, &r);
}
// _scaled_dot_product_attention_math(q, k, v, attn_mask, dropout_p, is_causal, dropout_mask, *, scale, enable_gqa)
// -> (out, attn weights). It adds its mask as it is: a bool mask counts 0 / 1 (F.scaled_dot_product_attention
// turns a bool mask into 0 / -inf before it calls this op).
std::optional<Value> meta_sdpa_math(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  Shape w = s.batched ? Shape{s.b, s.h, s.l, s.s} : Shape{s.h, s.l, s.s};
  return Value::list({meta_tensor(a.tensor(0).dtype(), s.out), meta_tensor(a.tensor(0).dtype(), w)});
}
Value sdpa_math(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  run_attention(a, ctx, a.opt_tensor(3), a.f64(4), a.flag(5), a.opt_f64(7), a.flag(8), true, &r, true);
  return Value::list({Value::of(r.out), Value::of(r.weights)});
}
// _scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal, return_debug_mask, *, scale)
// -> (out, lse (B, H, L), cum_seq_q, cum_seq_k, max_q, max_k, rng_state, unused, debug_attn_mask)
std::optional<Value> meta_flash(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  const Node& n = a.node();
  return Value::list({meta_tensor(a.tensor(0).dtype(), s.out), meta_tensor(DType::F32, lse_shape(s, s.l)), aux_meta(n, 2),
                      aux_meta(n, 3), Value::integer(s.l), Value::integer(s.s), aux_meta(n, 6), aux_meta(n, 7),
                      aux_meta(n, 8)});
}
Value flash(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  run_attention(a, ctx, nullptr, a.f64(3), a.flag(4), a.opt_f64(6), false, false, &r);
  return fill_aux(*a.meta(), {{0, Value::of(r.out)}, {1, Value::of(r.lse)}});
}
// _scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal, *, attn_mask, scale) -> (out, lse)
std::optional<Value> meta_flash_cpu(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  return Value::list({meta_tensor(a.tensor(0).dtype(), s.out), meta_tensor(DType::F32, lse_shape(s, s.l))});
}
Value flash_cpu(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  run_attention(a, ctx, a.opt_tensor(5), a.f64(3), a.flag(4), a.opt_f64(6), false, false, &r);
  return Value::list({Value::of(r.out), Value::of(r.lse)});
}
// _scaled_dot_product_efficient_attention(q, k, v, attn_bias, compute_log_sumexp, dropout_p, is_causal, *, scale)
// -> (out, lse (B, H, ceil(L/32)*32 or 0), philox_seed, philox_offset)
std::optional<Value> meta_efficient(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  const int64_t lp = a.flag(4) ? (s.l + 31) / 32 * 32 : 0;
  return Value::list({meta_tensor(a.tensor(0).dtype(), s.out), meta_tensor(DType::F32, lse_shape(s, lp)),
                      aux_meta(a.node(), 2), aux_meta(a.node(), 3)});
}
Value efficient(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  run_attention(a, ctx, a.opt_tensor(3), a.f64(5), a.flag(6), a.opt_f64(7), false, false, &r);
  return fill_aux(*a.meta(), {{0, Value::of(r.out)}, {1, Value::of(reshape_lse(r.lse, a.out_meta(1).shape()))}});
}
// _scaled_dot_product_cudnn_attention(q, k, v, attn_bias, compute_log_sumexp, dropout_p, is_causal,
// return_debug_mask, *, scale) -> (out, lse (B, H, L, 1), cum_seq_q, cum_seq_k, max_q, max_k, philox_seed,
// philox_offset, debug_attn_mask)
std::optional<Value> meta_cudnn(const OpArgs& a) {
  const AttnShapes s = attn_shapes(a);
  Shape lse = lse_shape(s, s.l);
  lse.push_back(1);
  const Node& n = a.node();
  return Value::list({meta_tensor(a.tensor(0).dtype(), s.out), meta_tensor(DType::F32, lse), aux_meta(n, 2),
                      aux_meta(n, 3), Value::integer(s.l), Value::integer(s.s), aux_meta(n, 6), aux_meta(n, 7),
                      aux_meta(n, 8)});
}
Value cudnn(const OpArgs& a, ExecContext& ctx) {
  cpu::AttentionResult r;
  run_attention(a, ctx, a.opt_tensor(3), a.f64(5), a.flag(6), a.opt_f64(8), false, false, &r);
  return fill_aux(*a.meta(), {{0, Value::of(r.out)}, {1, Value::of(reshape_lse(r.lse, a.out_meta(1).shape()))}});
}

// ---- sort, topk, histc, scans ----

std::optional<Value> meta_sort(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.dim() > 0) wrap_dim(a.i64(a.schema().overload == "stable" ? 2 : 1), x.dim());
  return Value::list({meta_tensor(x.dtype(), x.shape()), meta_tensor(DType::I64, x.shape())});
}
Value sort_default(const OpArgs& a, ExecContext&) {
  cpu::SortResult r = cpu::sort(a.tensor(0), a.i64(1), a.flag(2));
  return Value::list({Value::of(r.values), Value::of(r.indices)});
}
Value sort_stable(const OpArgs& a, ExecContext&) {
  cpu::SortResult r = cpu::sort(a.tensor(0), a.i64(2), a.flag(3));
  return Value::list({Value::of(r.values), Value::of(r.indices)});
}
std::optional<Value> meta_argsort(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.dim() > 0) wrap_dim(a.i64(a.schema().overload == "stable" ? 2 : 1), x.dim());
  return meta_tensor(DType::I64, x.shape());
}
Value argsort_default(const OpArgs& a, ExecContext&) { return Value::of(cpu::sort(a.tensor(0), a.i64(1), a.flag(2)).indices); }
Value argsort_stable(const OpArgs& a, ExecContext&) { return Value::of(cpu::sort(a.tensor(0), a.i64(2), a.flag(3)).indices); }
std::optional<Value> meta_topk(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  Shape s = x.shape();
  const int64_t k = a.i64(1);
  if (x.dim() > 0) {
    const int64_t d = wrap_dim(a.i64(2), x.dim());
    if (k < 0 || k > s[d]) throw InputError("topk: k " + std::to_string(k) + " is out of range for dimension " +
                                            std::to_string(d) + " of size " + std::to_string(s[d]));
    s[d] = k;
  }
  return Value::list({meta_tensor(x.dtype(), s), meta_tensor(DType::I64, s)});
}
Value topk(const OpArgs& a, ExecContext&) {
  cpu::SortResult r = cpu::topk(a.tensor(0), a.i64(1), a.i64(2), a.flag(3), a.flag(4));
  return Value::list({Value::of(r.values), Value::of(r.indices)});
}
std::optional<Value> meta_histc(const OpArgs& a) {
  const int64_t bins = a.i64(1);
  if (bins <= 0) throw InputError("histc: bins must be positive, got " + std::to_string(bins));
  return meta_tensor(a.tensor(0).dtype(), {bins});
}
Value histc(const OpArgs& a, ExecContext&) { return Value::of(cpu::histc(a.tensor(0), a.i64(1), a.f64(2), a.f64(3))); }
std::optional<Value> meta_scan(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.dim() > 0) wrap_dim(a.i64(1), x.dim());
  const DType d = a.opt_dtype(2).value_or(is_integral(x.dtype()) ? DType::I64 : x.dtype());
  return meta_tensor(d, x.shape());
}
Value cumsum(const OpArgs& a, ExecContext&) { return Value::of(cpu::cumsum(a.tensor(0), a.i64(1), a.opt_dtype(2))); }
Value cumprod(const OpArgs& a, ExecContext&) { return Value::of(cpu::cumprod(a.tensor(0), a.i64(1), a.opt_dtype(2))); }

// ---- indexing ----

void need_int_index(const Tensor& t, const char* what) {
  if (t.dtype() != DType::I64 && t.dtype() != DType::I32)
    throw InputError(std::string(what) + " must be int64 or int32, got " + dtype_name(t.dtype()));
}
std::optional<Value> meta_embedding(const OpArgs& a) {
  const Tensor &w = a.tensor(0), &idx = a.tensor(1);
  if (w.dim() != 2) throw InputError("embedding weight must be 2-d, got " + shape_str(w.shape()));
  need_int_index(idx, "embedding indices");
  Shape s = idx.shape();
  s.push_back(w.shape()[1]);
  return meta_tensor(w.dtype(), s);
}
Value embedding(const OpArgs& a, ExecContext&) { return Value::of(cpu::embedding(a.tensor(0), a.tensor(1))); }
std::optional<Value> meta_index_select(const OpArgs& a) {
  const Tensor &x = a.tensor(0), &idx = a.tensor(2);
  need_int_index(idx, "index_select index");
  Shape s = x.shape();
  if (x.dim() > 0) s[wrap_dim(a.i64(1), x.dim())] = idx.numel();
  return meta_tensor(x.dtype(), s);
}
Value index_select(const OpArgs& a, ExecContext&) {
  return Value::of(cpu::index_select(a.tensor(0), a.i64(1), a.tensor(2)));
}
std::optional<Value> meta_gather(const OpArgs& a) {
  wrap_dim(a.i64(1), a.tensor(0).dim());
  return meta_tensor(a.tensor(0).dtype(), a.tensor(2).shape());
}
Value gather_op(const OpArgs& a, ExecContext&) { return Value::of(cpu::gather(a.tensor(0), a.i64(1), a.tensor(2))); }
std::optional<Value> meta_like_self(const OpArgs& a) { return meta_tensor(a.tensor(0).dtype(), a.tensor(0).shape()); }
// scatter.src / .value / .reduce / .value_reduce, scatter_add, scatter_reduce.two: by the overload.
Value scatter_op(const OpArgs& a, ExecContext&) {
  const std::string& ov = a.schema().overload;
  const std::string name = a.schema().name;
  const Tensor* src = a[3].is_tensor() ? &a[3].tensor : nullptr;
  const double value = src ? 0.0 : a.f64(3);
  std::string reduce;
  bool include_self = true;
  if (name == "scatter_add") reduce = "sum";
  else if (name == "scatter_reduce") {
    reduce = a.str(4);
    include_self = a.flag(5);
  } else if (ov == "reduce" || ov == "value_reduce") {
    reduce = a.str(4);
  }
  return Value::of(cpu::scatter(a.tensor(0), a.i64(1), a.tensor(2), src, value, reduce, include_self));
}

std::vector<std::optional<Tensor>> index_list(const OpArgs& a, size_t i) {
  std::vector<std::optional<Tensor>> out;
  for (const Tensor* t : a.tensors(i)) out.push_back(t ? std::optional<Tensor>(*t) : std::nullopt);
  return out;
}
// x[indices] with integer index tensors (a bool mask's shape depends on the data: no meta).
std::optional<Value> meta_index(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const std::vector<const Tensor*> idx = a.tensors(1);
  if (static_cast<int64_t>(idx.size()) > x.dim())
    throw InputError("too many indices (" + std::to_string(idx.size()) + ") for a " + std::to_string(x.dim()) + "-d tensor");
  std::vector<Shape> shapes;
  std::vector<size_t> dims;
  for (size_t d = 0; d < idx.size(); ++d) {
    if (!idx[d]) continue;
    if (idx[d]->dtype() == DType::Bool || idx[d]->dtype() == DType::U8) return std::nullopt;
    need_int_index(*idx[d], "index");
    shapes.push_back(idx[d]->shape());
    dims.push_back(d);
  }
  if (dims.empty()) return meta_tensor(x.dtype(), x.shape());
  const Shape b = cpu::broadcast_shapes(shapes);
  bool adjacent = true;
  for (size_t k = 1; k < dims.size(); ++k) adjacent = adjacent && dims[k] == dims[k - 1] + 1;
  Shape out;
  if (adjacent) {
    for (size_t d = 0; d < dims[0]; ++d) out.push_back(x.shape()[d]);
    out.insert(out.end(), b.begin(), b.end());
    for (size_t d = dims.back() + 1; d < static_cast<size_t>(x.dim()); ++d) out.push_back(x.shape()[d]);
  } else {
    out = b;
    for (size_t d = 0; d < static_cast<size_t>(x.dim()); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) out.push_back(x.shape()[d]);
  }
  return meta_tensor(x.dtype(), out);
}
Value index_op(const OpArgs& a, ExecContext&) { return Value::of(cpu::index(a.tensor(0), index_list(a, 1))); }
Value index_put(const OpArgs& a, ExecContext&) {
  return Value::of(cpu::index_put(a.tensor(0), index_list(a, 1), a.tensor(2), a.flag(3)));
}
// index_put_: writes into self's storage and returns self.
Value index_put_inplace(const OpArgs& a, ExecContext&) {
  const Tensor& self = a.tensor(0);
  cpu::copy_into(self, cpu::index_put(self, index_list(a, 1), a.tensor(2), a.flag(3)));
  return Value::of(self);
}

constexpr int64_t gpu_max_dims = 6;  // gpu::kMaxDims
// The GPU sort counts ranks (O(n) per element): rows of at most 8192 elements, at most 6 dims.
bool gpu_sort_when(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.dim() > gpu_max_dims) return false;
  int64_t n = 1;
  for (int64_t s : x.shape()) n = std::max(n, s);
  return n <= 8192;
}
// The GPU scan: at most 6 dims, no fp8 result (the CPU refuses it too).
bool gpu_scan_when(const OpArgs& a) {
  const std::optional<DType> d = a.opt_dtype(2);
  return a.tensor(0).dim() <= gpu_max_dims && !(d && is_fp8(*d)) && !is_fp8(a.tensor(0).dtype());
}

// ---- _grouped_mm ----

std::optional<Value> meta_grouped_mm(const OpArgs& a) {
  const Tensor &x = a.tensor(0), &w = a.tensor(1);
  const Tensor* offs = a.opt_tensor(2);
  const DType d = a.opt_dtype(4).value_or(x.dtype());
  const int64_t k1 = x.shape().back(), k2 = w.dim() >= 2 ? w.shape()[w.dim() - 2] : -1;
  if (x.dim() < 2 || x.dim() > 3 || w.dim() < 2 || w.dim() > 3)
    throw InputError("_grouped_mm takes 2-d or 3-d operands, got " + shape_str(x.shape()) + " and " + shape_str(w.shape()));
  if (k1 != k2) throw InputError("_grouped_mm: shapes cannot be multiplied: " + shape_str(x.shape()) + " and " + shape_str(w.shape()));
  const int64_t n = w.shape().back();
  if (x.dim() == 2 && w.dim() == 3) return meta_tensor(d, {x.shape()[0], n});
  if (x.dim() == 3 && w.dim() == 2) return meta_tensor(d, {x.shape()[1], n});
  if (x.dim() == 3) return meta_tensor(d, {x.shape()[0], x.shape()[1], n});
  if (!offs) throw InputError("_grouped_mm of two 2-d operands needs offs");
  return meta_tensor(d, {offs->numel(), x.shape()[0], n});
}
Value grouped_mm(const OpArgs& a, ExecContext& ctx) {
  return Value::of(cpu::grouped_mm(a.tensor(0), a.tensor(1), a.opt_tensor(2), a.opt_tensor(3), a.opt_dtype(4), ctx.threads));
}

// What the GPU gather kernels take: at most 6 dims in and out, integer (not mask) index tensors.
bool gpu_embedding_when(const OpArgs& a) { return a.tensor(1).dim() < gpu_max_dims; }
bool gpu_select_when(const OpArgs& a) { return a.tensor(0).dim() > 0 && a.tensor(0).dim() <= gpu_max_dims; }
bool gpu_index_when(const OpArgs& a);
// index_put without accumulation (accumulating in index order is left to the CPU), values of self's dtype.
bool gpu_index_put_when(const OpArgs& a) {
  return !a.flag(3) && a.tensor(2).dtype() == a.tensor(0).dtype() && a.tensor(2).dim() <= gpu_max_dims && gpu_index_when(a);
}
bool gpu_index_when(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.dim() > gpu_max_dims) return false;
  std::vector<Shape> shapes;
  int64_t n = 0;
  for (const Tensor* t : a.tensors(1)) {
    if (!t) continue;
    if (t->dtype() != DType::I64 && t->dtype() != DType::I32) return false;
    shapes.push_back(t->shape());
    ++n;
  }
  if (n == 0) return true;
  try {
    return x.dim() - n + static_cast<int64_t>(cpu::broadcast_shapes(shapes).size()) <= gpu_max_dims;
  } catch (const InputError&) {
    return false;  // the CPU kernel reports the shapes
  }
}

#define SCATTER_ROW(tgt, sch) {.target = tgt, .schema = sch, .meta = meta_like_self, .cpu = scatter_op}

const OpRow kRows[] = {
    {.target = "aten.convolution.default",
     .schema = "convolution(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, "
               "bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor",
     .meta = meta_conv, .cpu = conv, .gpu = FXOPT_GPU(convolution), .gpu_dtypes = kGpuFloat},
    {.target = "prims._low_memory_max_pool_with_offsets.default",
     .schema = "_low_memory_max_pool_with_offsets(Tensor self, SymInt[2] kernel_size, SymInt[2] stride, SymInt[2] padding, "
               "SymInt[2] dilation, bool ceil_mode) -> (Tensor, Tensor)",
     .meta = meta_max_pool_offsets, .cpu = max_pool_offsets},
    {.target = "prims._low_memory_max_pool_offsets_to_indices.default",
     .schema = "_low_memory_max_pool_offsets_to_indices(Tensor offsets, SymInt[2] kernel_size, SymInt[2] input_size, "
               "SymInt[2] stride, SymInt[2] padding, SymInt[2] dilation) -> Tensor",
     .meta = meta_offsets_to_indices, .cpu = offsets_to_indices},
    {.target = "aten.max_pool2d_with_indices.default",
     .schema = "max_pool2d_with_indices(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, "
               "int[2] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)",
     .meta = meta_max_pool_indices, .cpu = max_pool_indices},
    {.target = "aten.avg_pool2d.default",
     .schema = "avg_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, bool ceil_mode=False, "
               "bool count_include_pad=True, int? divisor_override=None) -> Tensor",
     .meta = meta_avg_pool, .cpu = avg_pool},
    {.target = "aten._adaptive_avg_pool2d.default", .schema = "_adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor",
     .meta = meta_adaptive, .cpu = adaptive},
    {.target = "aten.adaptive_avg_pool2d.default", .schema = "adaptive_avg_pool2d(Tensor self, SymInt[2] output_size) -> Tensor",
     .meta = meta_adaptive, .cpu = adaptive},
    {.target = "aten.scaled_dot_product_attention.default",
     .schema = "scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, float dropout_p=0.0, "
               "bool is_causal=False, *, float? scale=None, bool enable_gqa=False) -> Tensor",
     .meta = meta_sdpa, .cpu = sdpa,
     .gpu = FXOPT_GPU(sdpa), .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten._scaled_dot_product_attention_math.default",
     .schema = "_scaled_dot_product_attention_math(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, "
               "float dropout_p=0.0, bool is_causal=False, Tensor? dropout_mask=None, *, float? scale=None, "
               "bool enable_gqa=False) -> (Tensor, Tensor)",
     .meta = meta_sdpa_math, .cpu = sdpa_math,
     .gpu = FXOPT_GPU(sdpa_math), .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten._scaled_dot_product_flash_attention.default",
     .schema = "_scaled_dot_product_flash_attention(Tensor query, Tensor key, Tensor value, float dropout_p=0.0, "
               "bool is_causal=False, bool return_debug_mask=False, *, float? scale=None) -> (Tensor output, "
               "Tensor logsumexp, Tensor cum_seq_q, Tensor cum_seq_k, SymInt max_q, SymInt max_k, Tensor rng_state, "
               "Tensor unused, Tensor debug_attn_mask)",
     .meta = meta_flash, .cpu = flash,
     .gpu = FXOPT_GPU(sdpa_flash), .cpu_dtypes = kAttnDTypes, .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten._scaled_dot_product_flash_attention_for_cpu.default",
     .schema = "_scaled_dot_product_flash_attention_for_cpu(Tensor query, Tensor key, Tensor value, float dropout_p=0.0, "
               "bool is_causal=False, *, Tensor? attn_mask=None, float? scale=None) -> (Tensor output, Tensor logsumexp)",
     .meta = meta_flash_cpu, .cpu = flash_cpu,
     .gpu = FXOPT_GPU(sdpa_flash_cpu), .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten._scaled_dot_product_efficient_attention.default",
     .schema = "_scaled_dot_product_efficient_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_bias, "
               "bool compute_log_sumexp, float dropout_p=0.0, bool is_causal=False, *, float? scale=None) -> "
               "(Tensor output, Tensor log_sumexp, Tensor philox_seed, Tensor philox_offset)",
     .meta = meta_efficient, .cpu = efficient,
     .gpu = FXOPT_GPU(sdpa_efficient), .cpu_dtypes = kAttnDTypes, .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten._scaled_dot_product_cudnn_attention.default",
     .schema = "_scaled_dot_product_cudnn_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_bias, "
               "bool compute_log_sumexp, float dropout_p=0.0, bool is_causal=False, bool return_debug_mask=False, *, "
               "float? scale=None) -> (Tensor output, Tensor logsumexp, Tensor cum_seq_q, Tensor cum_seq_k, "
               "SymInt max_q, SymInt max_k, Tensor philox_seed, Tensor philox_offset, Tensor debug_attn_mask)",
     .meta = meta_cudnn, .cpu = cudnn,
     .gpu = FXOPT_GPU(sdpa_cudnn), .cpu_dtypes = kAttnDTypes, .gpu_dtypes = kGpuAttnDTypes, .gpu_when = gpu_attn_when},
    {.target = "aten.sort.default",
     .schema = "sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
     .meta = meta_sort, .cpu = sort_default,
     .gpu = FXOPT_GPU(sort), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_sort_when},
    {.target = "aten.sort.stable",
     .schema = "sort.stable(Tensor self, *, bool? stable, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)",
     .meta = meta_sort, .cpu = sort_stable,
     .gpu = FXOPT_GPU(sort), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_sort_when},
    {.target = "aten.argsort.default", .schema = "argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor",
     .meta = meta_argsort, .cpu = argsort_default,
     .gpu = FXOPT_GPU(argsort), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_sort_when},
    {.target = "aten.argsort.stable",
     .schema = "argsort.stable(Tensor self, *, bool stable, int dim=-1, bool descending=False) -> Tensor",
     .meta = meta_argsort, .cpu = argsort_stable,
     .gpu = FXOPT_GPU(argsort), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_sort_when},
    {.target = "aten.topk.default",
     .schema = "topk(Tensor self, SymInt k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor values, Tensor indices)",
     .meta = meta_topk, .cpu = topk,
     .gpu = FXOPT_GPU(topk), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_sort_when},
    {.target = "aten.histc.default", .schema = "histc(Tensor self, int bins=100, Scalar min=0, Scalar max=0) -> Tensor",
     .meta = meta_histc, .cpu = histc},
    {.target = "aten.cumsum.default", .schema = "cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_scan, .cpu = cumsum, .gpu = FXOPT_GPU(cumsum), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_scan_when},
    {.target = "aten.cumprod.default", .schema = "cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_scan, .cpu = cumprod, .gpu = FXOPT_GPU(cumprod), .gpu_dtypes = kIntDTypes | kGpuFloat, .gpu_when = gpu_scan_when},
    {.target = "aten.embedding.default",
     .schema = "embedding(Tensor weight, Tensor indices, SymInt padding_idx=-1, bool scale_grad_by_freq=False, "
               "bool sparse=False) -> Tensor",
     .meta = meta_embedding, .cpu = embedding, .gpu = FXOPT_GPU(embedding), .gpu_dtypes = kGpuAllDTypes,
     .gpu_when = gpu_embedding_when},
    {.target = "aten.index_select.default", .schema = "index_select(Tensor self, int dim, Tensor index) -> Tensor",
     .meta = meta_index_select, .cpu = index_select, .gpu = FXOPT_GPU(index_select), .gpu_dtypes = kGpuAllDTypes,
     .gpu_when = gpu_select_when},
    {.target = "aten.gather.default",
     .schema = "gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor", .meta = meta_gather,
     .cpu = gather_op, .gpu = FXOPT_GPU(gather), .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_select_when},
    SCATTER_ROW("aten.scatter.src", "scatter.src(Tensor self, int dim, Tensor index, Tensor src) -> Tensor"),
    SCATTER_ROW("aten.scatter.value", "scatter.value(Tensor self, int dim, Tensor index, Scalar value) -> Tensor"),
    SCATTER_ROW("aten.scatter.reduce", "scatter.reduce(Tensor self, int dim, Tensor index, Tensor src, *, str reduce) -> Tensor"),
    SCATTER_ROW("aten.scatter.value_reduce",
                "scatter.value_reduce(Tensor self, int dim, Tensor index, Scalar value, *, str reduce) -> Tensor"),
    SCATTER_ROW("aten.scatter_add.default", "scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor"),
    SCATTER_ROW("aten.scatter_reduce.two",
                "scatter_reduce.two(Tensor self, int dim, Tensor index, Tensor src, str reduce, *, bool include_self=True) -> Tensor"),
    {.target = "aten.index.Tensor", .schema = "index.Tensor(Tensor self, Tensor?[] indices) -> Tensor",
     .meta = meta_index, .cpu = index_op, .gpu = FXOPT_GPU(index), .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_index_when},
    {.target = "aten._unsafe_index.Tensor", .schema = "_unsafe_index.Tensor(Tensor self, Tensor?[] indices) -> Tensor",
     .meta = meta_index, .cpu = index_op, .gpu = FXOPT_GPU(index), .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_index_when},
    {.target = "aten._unsafe_index_put.default",
     .schema = "_unsafe_index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor",
     .meta = meta_like_self, .cpu = index_put, .gpu = FXOPT_GPU(index_put), .gpu_dtypes = kGpuAllDTypes,
     .gpu_when = gpu_index_put_when},
    {.target = "aten.index_put.default",
     .schema = "index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor",
     .meta = meta_like_self, .cpu = index_put, .gpu = FXOPT_GPU(index_put), .gpu_dtypes = kGpuAllDTypes,
     .gpu_when = gpu_index_put_when},
    {.target = "aten.index_put_.default",
     .schema = "index_put_(Tensor(a!) self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor(a!)",
     .meta = meta_like_self, .cpu = index_put_inplace},
    {.target = "aten._grouped_mm.default",
     .schema = "_grouped_mm(Tensor self, Tensor mat2, Tensor? offs=None, Tensor? bias=None, ScalarType? out_dtype=None) -> Tensor",
     .meta = meta_grouped_mm, .cpu = grouped_mm, .gpu = FXOPT_GPU(grouped_mm),
     .gpu_dtypes = kGpuFloat | DTypeSet{DType::I32}},
};
#undef SCATTER_ROW

}  // namespace

std::span<const OpRow> op_rows_heavy() { return kRows; }

}  // namespace fxopt::rt::ops
