// The GPU backend of the executor (built with FXOPT_GPU=nvidia|amd): tensors in device memory, and the
// GPU computes the op rows name (runtime/gpu_ops.h), calling runtime/hip through its host API
// (gpu_api.h). Views and SymInt ops run their CPU compute (shapes only); ops without a GPU compute run
// on the CPU with copies (runtime/executor.cpp). Every kernel computes what runtime/numerics.h
// specifies, so results equal the CPU's.
#include "runtime/backend.h"

#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/ops.h"
#include "runtime/gpu_ops.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt {
namespace {

gpu::DType gdt(DType d) {
  switch (d) {
    case DType::F32: return gpu::DType::f32;
    case DType::F16: return gpu::DType::f16;
    case DType::BF16: return gpu::DType::bf16;
    case DType::F8E4M3FN: return gpu::DType::f8e4m3fn;
    case DType::F8E4M3FNUZ: return gpu::DType::f8e4m3fnuz;
    case DType::F8E5M2: return gpu::DType::f8e5m2;
    case DType::I64: return gpu::DType::i64;
    case DType::I32: return gpu::DType::i32;
    case DType::I16: return gpu::DType::i16;
    case DType::I8: return gpu::DType::i8;
    case DType::U8: return gpu::DType::u8;
    case DType::Bool: return gpu::DType::b8;
    case DType::F64:
    case DType::U64: break;
  }
  throw InputError(std::string(dtype_name(d)) + " is not supported on the GPU");
}

gpu::TensorRef ref(const Tensor& t) {
  if (t.dim() > gpu::kMaxDims) throw InputError("more than 6 dimensions are not supported on the GPU");
  gpu::TensorRef r;
  r.data = t.raw();
  r.dtype = gdt(t.dtype());
  r.ndim = static_cast<int>(t.dim());
  for (int i = 0; i < r.ndim; ++i) {
    r.shape[i] = t.shape()[i];
    r.strides[i] = t.strides()[i];
  }
  return r;
}

Tensor device_empty(DType d, Shape shape) {
  auto s = std::make_shared<Storage>();
  int64_t n = 1;
  for (int64_t x : shape) n *= x;
  s->bytes = static_cast<size_t>(n) * dtype_size(d);
  s->data = static_cast<std::byte*>(gpu::alloc(s->bytes > 0 ? s->bytes : 1));
  s->device = "gpu";
  s->release = [](std::byte* p) { gpu::free(p); };
  return Tensor::from_storage(std::move(s), d, std::move(shape));
}

// A contiguous device copy (converted to `d`).
Tensor copy_as(const Tensor& x, DType d) {
  Tensor out = device_empty(d, x.shape());
  if (x.numel() > 0) gpu::unary(ref(out), ref(x), num::UnaryOp::copy);
  return out;
}
Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : copy_as(x, x.dtype()); }


gpu::Operand operand(const Value& v) {
  if (v.is_tensor()) return gpu::Operand::of(ref(v.tensor));
  if (v.is_number()) return gpu::Operand::of_scalar(v.as_double());
  throw InputError("expected a tensor or a number, got " + describe(v));
}

// A device tensor shaped like the meta rule's result `item`.
Tensor device_out(const OpArgs& a, size_t item = 0) {
  const Tensor& m = a.out_meta(item);
  return device_empty(m.dtype(), m.shape());
}

Value binary(const OpArgs& a, num::BinaryOp op) {
  Tensor out = device_out(a);
  if (out.numel() > 0) gpu::binary(ref(out), operand(a[0]), operand(a[1]), op);
  return Value::of(out);
}

Value unary(const OpArgs& a, num::UnaryOp op, double lo = 0, double hi = 0) {
  Tensor out = device_out(a);
  if (out.numel() > 0) gpu::unary(ref(out), ref(a.tensor(0)), op, lo, hi);
  return Value::of(out);
}

// Reductions: the kept dims first, the reduced dims last and contiguous, then one last-dim reduction.
Value reduce(const OpArgs& a, gpu::ReduceOp op, std::optional<std::vector<int64_t>> dims, std::optional<DType> dt,
             bool with_indices) {
  Tensor x = a.tensor(0);
  if (dt && *dt != x.dtype()) x = copy_as(x, *dt);
  const int64_t nd = x.dim();
  std::vector<bool> red(static_cast<size_t>(nd), !dims || dims->empty());
  if (dims)
    for (int64_t d : *dims)
      if (nd > 0) red[cpu::wrap_dim(d, nd)] = true;
  Shape keep_shape, perm_shape, perm_strides;
  int64_t inner = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (!red[d]) {
      keep_shape.push_back(x.shape()[d]);
      perm_shape.push_back(x.shape()[d]);
      perm_strides.push_back(x.strides()[d]);
    }
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) {
      perm_shape.push_back(x.shape()[d]);
      perm_strides.push_back(x.strides()[d]);
      inner *= x.shape()[d];
    }
  const Tensor perm = contiguous(x.as_strided(perm_shape, perm_strides, x.offset()));
  Shape rows_shape = keep_shape;
  rows_shape.push_back(inner);
  const Tensor rows = perm.as_strided(rows_shape, Tensor::contiguous_strides(rows_shape), perm.offset());
  Tensor values = device_empty(x.dtype(), keep_shape);
  Tensor indices;
  gpu::TensorRef iref;
  if (with_indices) {
    indices = device_empty(DType::I64, keep_shape);
    iref = ref(indices);
  }
  if (values.numel() > 0) gpu::reduce_last_dim(ref(values), with_indices ? &iref : nullptr, ref(rows), op);
  const Shape& out_shape = a.out_meta(0).shape();
  auto shaped = [&](const Tensor& t) { return t.as_strided(out_shape, Tensor::contiguous_strides(out_shape), t.offset()); };
  if (with_indices) return Value::list({Value::of(shaped(values)), Value::of(shaped(indices))});
  return Value::of(shaped(values));
}


// Refuses an index tensor with a value outside its range, with the CPU kernels' error text.
void check_indices(const Tensor& idx, int64_t size, bool allow_negative, const char* what, int64_t dim) {
  int64_t v = 0;
  const int64_t pos = gpu::first_bad_index(ref(idx), size, allow_negative, &v);
  if (pos >= 0) throw InputError(cpu::index_out_of_range(what, v, idx.shape(), pos, dim, size));
}

// One index tensor of a gather plan: `idx` read with `strides` over the output dims, indexing x's dim `xd`.
void add_index(gpu::GatherPlan& p, const Tensor& idx, const std::vector<int64_t>& strides, const Tensor& x, int64_t xd) {
  const int k = p.nidx++;
  p.idx[k] = idx.raw();
  p.idx_dtype[k] = gdt(idx.dtype());
  for (size_t d = 0; d < strides.size(); ++d) p.idx_strides[k][d] = strides[d];
  p.idx_size[k] = x.shape()[xd];
  p.idx_x_stride[k] = x.strides()[xd];
}

// Runs a gather plan into a new contiguous device tensor shaped like the meta result.
Value run_gather(const OpArgs& a, const Tensor& x, gpu::GatherPlan& p) {
  Tensor out = device_out(a);
  const Shape& s = out.shape();
  if (s.size() > static_cast<size_t>(gpu::kMaxDims)) throw InputError("more than 6 dimensions are not supported on the GPU");
  p.ndim = static_cast<int>(s.size());
  for (size_t d = 0; d < s.size(); ++d) p.shape[d] = s[d];
  if (out.numel() > 0) gpu::gather(out.raw(), x.raw(), dtype_size(x.dtype()), p);
  return Value::of(out);
}

// ---- attention: the arguments checked as the CPU kernel checks them, then one kernel launch ----

// A 3-d (H, L, E) device tensor read as (1, H, L, E).
Tensor attn_4d(const Tensor& t) {
  if (t.dim() == 4) return t;
  return t.as_strided({1, t.shape()[0], t.shape()[1], t.shape()[2]}, {0, t.strides()[0], t.strides()[1], t.strides()[2]},
                      t.offset());
}

// A zero-filled device tensor shaped like a meta item (the CUDA variants' seeds, offsets, cumulative lengths).
Value device_zeros_like(const Value& m) {
  if (!m.is_tensor()) return m;
  Tensor t = device_empty(m.tensor.dtype(), m.tensor.shape());
  if (t.storage()->bytes) gpu::fill_bytes(t.raw(), 0, t.storage()->bytes);
  return Value::of(t);
}

struct GpuAttention {
  Tensor out;      // the meta's shape (3-d or 4-d), q's dtype
  Tensor lse;      // shaped like `lse_meta` when asked for
  Tensor weights;  // when asked for
};

// out/lse/weights of attention over device tensors; lse_meta: the lse item of the meta result (its shape
// may pad L to a multiple of 32, filled with +inf, or add a trailing 1), nullptr when not wanted.
GpuAttention run_gpu_attention(const OpArgs& a, const Tensor* mask, double dropout, bool causal, std::optional<double> scale,
                               bool gqa, bool want_weights, const Tensor* lse_meta, bool bool_mask_adds = false) {
  if (dropout != 0.0) throw InputError("attention dropout is not supported (inference graphs have dropout_p = 0)");
  const Tensor q = attn_4d(a.tensor(0)), k = attn_4d(a.tensor(1)), v = attn_4d(a.tensor(2));
  const int64_t B = q.shape()[0], Hq = q.shape()[1], L = q.shape()[2], E = q.shape()[3];
  const int64_t Hk = k.shape()[1], S = k.shape()[2], Ev = v.shape()[3];
  if (k.shape()[0] != B || v.shape()[0] != B || v.shape()[1] != Hk || v.shape()[2] != S || k.shape()[3] != E)
    throw InputError("attention shapes do not fit: query " + shape_str(q.shape()) + ", key " + shape_str(k.shape()) +
                     ", value " + shape_str(v.shape()));
  if (Hq != Hk && !(gqa && Hk > 0 && Hq % Hk == 0))
    throw InputError("attention: " + std::to_string(Hq) + " query heads and " + std::to_string(Hk) + " key/value heads" +
                     (gqa ? " (query heads must be a multiple)" : " need enable_gqa=True"));
  const float sc = scale ? static_cast<float>(*scale) : 1.0f / std::sqrt(static_cast<float>(E));
  const bool batched = a.tensor(0).dim() == 4;
  GpuAttention r;
  r.out = device_empty(q.dtype(), {B, Hq, L, Ev});
  gpu::TensorRef mref, lref, wref;
  if (mask) {
    const Shape full{B, Hq, L, S};
    if (cpu::broadcast_shapes({full, mask->shape()}) != full)
      throw InputError("attention mask of shape " + shape_str(mask->shape()) + " cannot be broadcast to " + shape_str(full));
    mref = ref(mask->as_strided(full, cpu::broadcast_strides(*mask, full), mask->offset()));
  }
  if (lse_meta) {
    const Shape& ls = lse_meta->shape();
    r.lse = device_empty(DType::F32, ls);
    const int64_t lx = ls[batched ? 2 : 1];  // L, or L padded to a multiple of 32
    if (lx != L && r.lse.numel() > 0) {       // the padding is +inf (PyTorch's efficient kernel leaves it so)
      Tensor h = Tensor::empty(DType::F32, ls);
      std::fill(h.data<float>(), h.data<float>() + h.numel(), std::numeric_limits<float>::infinity());
      gpu::copy_to_device(r.lse.raw(), h.raw(), static_cast<size_t>(h.numel()) * 4);
    }
    if (r.lse.numel() > 0) lref = ref(r.lse.as_strided({B, Hq, L}, {Hq * lx, lx, 1}, r.lse.offset()));
  }
  if (want_weights) {
    r.weights = device_empty(q.dtype(), {B, Hq, L, S});
    wref = ref(r.weights);
  }
  if (L > 0 && B * Hq > 0)
    gpu::attention(ref(r.out), lse_meta && lse_meta->numel() > 0 ? &lref : nullptr, want_weights ? &wref : nullptr, ref(q),
                   ref(k), ref(v), mask ? &mref : nullptr, causal, sc, bool_mask_adds);
  if (!batched) {
    r.out = r.out.as_strided({Hq, L, Ev}, {L * Ev, Ev, 1}, r.out.offset());
    if (want_weights) r.weights = r.weights.as_strided({Hq, L, S}, {L * S, S, 1}, r.weights.offset());
  }
  return r;
}

// dst = src (converted to dst's dtype, broadcast to dst's shape) on the device, after the CPU's shape check.
void copy_into_device(const Tensor& dst, const Tensor& src) {
  bool ok = src.dim() <= dst.dim();
  for (int64_t i = 0; ok && i < src.dim(); ++i) {
    const int64_t j = dst.dim() - src.dim() + i;
    ok = src.shape()[i] == dst.shape()[j] || src.shape()[i] == 1;
  }
  if (!ok)
    throw InputError("cannot copy a tensor of shape " + shape_str(src.shape()) + " into one of shape " + shape_str(dst.shape()));
  if (dst.numel() > 0) gpu::unary(ref(dst), ref(src), num::UnaryOp::copy);
}
}  // namespace

// ---- the computes the op rows name (runtime/gpu_ops.h); arguments were checked by the meta rules ----
namespace gpu_ops {

Value add(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::add); }
Value sub(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::sub); }
Value mul(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::mul); }
Value div(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::div); }
Value maximum(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::maximum); }
Value minimum(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::minimum); }
Value eq(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::eq); }
Value ne(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::ne); }
Value lt(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::lt); }
Value le(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::le); }
Value gt(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::gt); }
Value ge(const OpArgs& a, ExecContext&) { return binary(a, num::BinaryOp::ge); }
Value neg(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::neg); }
Value abs(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::abs); }
Value exp(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::exp); }
Value rsqrt(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::rsqrt); }
Value sqrt(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::sqrt); }
Value reciprocal(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::reciprocal); }
Value relu(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::relu); }
Value sigmoid(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::sigmoid); }
Value silu(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::silu); }
Value pow_square(const OpArgs& a, ExecContext&) { return unary(a, num::UnaryOp::square); }

Value clamp(const OpArgs& a, ExecContext&) {
  const double inf = std::numeric_limits<double>::infinity();
  return unary(a, num::UnaryOp::clamp, a.opt_f64(1).value_or(-inf), a.opt_f64(2).value_or(inf));
}
Value clamp_min(const OpArgs& a, ExecContext&) {
  return unary(a, num::UnaryOp::clamp, a.f64(1), std::numeric_limits<double>::infinity());
}
Value clamp_max(const OpArgs& a, ExecContext&) {
  return unary(a, num::UnaryOp::clamp, -std::numeric_limits<double>::infinity(), a.f64(1));
}

Value where(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  if (out.numel() > 0) gpu::where(ref(out), ref(a.tensor(0)), operand(a[1]), operand(a[2]));
  return Value::of(out);
}

// convert_element_type, _to_copy, to.dtype, clone, contiguous: a contiguous device copy in the meta dtype
// (to.dtype without a change returns its input, as its meta rule does).
Value convert(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (a.meta()->is_tensor() && a.meta()->tensor.dtype() == x.dtype() && a.schema().name == "to") return Value::of(x);
  return Value::of(copy_as(x, a.out_meta().dtype()));
}

Value reshape(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const Shape shape = cpu::infer_size(a.ints(1), x.numel());
  if (auto st = cpu::view_strides(x, shape)) return Value::of(x.as_strided(shape, *st, x.offset()));
  Tensor c = contiguous(x);
  return Value::of(c.as_strided(shape, Tensor::contiguous_strides(shape), c.offset()));
}

Value sum_dim(const OpArgs& a, ExecContext&) { return reduce(a, gpu::ReduceOp::sum, a.opt_ints(1), a.opt_dtype(3), false); }
Value mean_dim(const OpArgs& a, ExecContext&) { return reduce(a, gpu::ReduceOp::mean, a.opt_ints(1), a.opt_dtype(3), false); }
Value amax(const OpArgs& a, ExecContext&) { return reduce(a, gpu::ReduceOp::amax, a.ints(1), std::nullopt, false); }
Value amin(const OpArgs& a, ExecContext&) { return reduce(a, gpu::ReduceOp::amin, a.ints(1), std::nullopt, false); }
Value max_dim(const OpArgs& a, ExecContext&) {
  return reduce(a, gpu::ReduceOp::max, std::vector<int64_t>{a.i64(1)}, std::nullopt, true);
}
Value min_dim(const OpArgs& a, ExecContext&) {
  return reduce(a, gpu::ReduceOp::min, std::vector<int64_t>{a.i64(1)}, std::nullopt, true);
}

Value mm(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  gpu::matmul(ref(out), ref(a.tensor(0)), ref(a.tensor(1)));
  return Value::of(out);
}
Value addmm(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  const gpu::TensorRef br = ref(a.tensor(0));
  gpu::matmul(ref(out), ref(a.tensor(1)), ref(a.tensor(2)), &br, static_cast<float>(a.f64(4)), static_cast<float>(a.f64(3)));
  return Value::of(out);
}

// bmm: one matmul launch per batch entry on strided views (the same per-element order as mm).
Value bmm(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  const Tensor &x = a.tensor(0), &y = a.tensor(1);
  const int64_t m = x.shape()[1], k = x.shape()[2], n = y.shape()[2];
  for (int64_t i = 0; i < x.shape()[0] && out.numel() > 0; ++i) {
    const Tensor xi = x.as_strided({m, k}, {x.strides()[1], x.strides()[2]}, x.offset() + i * x.strides()[0]);
    const Tensor yi = y.as_strided({k, n}, {y.strides()[1], y.strides()[2]}, y.offset() + i * y.strides()[0]);
    const Tensor oi = out.as_strided({m, n}, {n, 1}, out.offset() + i * m * n);
    gpu::matmul(ref(oi), ref(xi), ref(yi));
  }
  return Value::of(out);
}

// ---- indexing: every index value checked first (an error naming the index, as the CPU), then one gather ----

// embedding(weight (V, D), indices): out[..., :] = weight[indices[...], :].
Value embedding(const OpArgs& a, ExecContext&) {
  const Tensor &w = a.tensor(0), &idx = a.tensor(1);
  check_indices(idx, w.shape()[0], false, "embedding index", 0);
  gpu::GatherPlan p;
  std::vector<int64_t> st(idx.strides().begin(), idx.strides().end());
  st.push_back(0);
  add_index(p, idx, st, w, 0);
  p.x_strides[idx.dim()] = w.strides()[1];
  return run_gather(a, w, p);
}

// index_select(x, dim, index (0-d or 1-d)).
Value index_select(const OpArgs& a, ExecContext&) {
  const Tensor &x = a.tensor(0), &idx = a.tensor(2);
  const int64_t nd = x.dim(), dim = cpu::wrap_dim(a.i64(1), nd);
  check_indices(idx, x.shape()[dim], false, "index_select index", dim);
  gpu::GatherPlan p;
  std::vector<int64_t> st(static_cast<size_t>(nd), 0);
  st[dim] = idx.dim() == 1 ? idx.strides()[0] : 0;
  add_index(p, idx, st, x, dim);
  for (int64_t d = 0; d < nd; ++d) p.x_strides[d] = d == dim ? 0 : x.strides()[d];
  return run_gather(a, x, p);
}

// gather(x, dim, index): out has index's shape; out[pos] = x[pos with pos[dim] = index[pos]].
Value gather(const OpArgs& a, ExecContext&) {
  const Tensor &x = a.tensor(0), &idx = a.tensor(2);
  const int64_t nd = x.dim(), dim = cpu::wrap_dim(a.i64(1), nd);
  if (idx.dim() != nd)
    throw InputError("gather index must have as many dims as the input (" + std::to_string(nd) + "), got " +
                     shape_str(idx.shape()));
  for (int64_t d = 0; d < nd; ++d)
    if (d != dim && idx.shape()[d] > x.shape()[d])
      throw InputError("gather index shape " + shape_str(idx.shape()) + " exceeds the input shape " + shape_str(x.shape()) +
                       " in dimension " + std::to_string(d));
  if (idx.dtype() != DType::I64) throw InputError(std::string("gather index must be int64, got ") + dtype_name(idx.dtype()));
  check_indices(idx, x.shape()[dim], false, "gather index", dim);
  gpu::GatherPlan p;
  add_index(p, idx, std::vector<int64_t>(idx.strides().begin(), idx.strides().end()), x, dim);
  for (int64_t d = 0; d < nd; ++d) p.x_strides[d] = d == dim ? 0 : x.strides()[d];
  return run_gather(a, x, p);
}

// x[indices] with integer index tensors (the rows' gpu_when excludes masks) as a gather plan over x, every index
// value checked first: the indexed dims are replaced by the indices' broadcast shape, in place when they are
// adjacent, else in front. Returns the result shape (p.ndim/p.shape set).
Shape index_plan(const Tensor& x, const std::vector<const Tensor*>& idx, gpu::GatherPlan& p) {
  std::vector<int64_t> idims;
  std::vector<Shape> ishapes;
  for (size_t d = 0; d < idx.size(); ++d)
    if (idx[d]) {
      idims.push_back(static_cast<int64_t>(d));
      ishapes.push_back(idx[d]->shape());
    }
  if (idx.size() > static_cast<size_t>(x.dim()))
    throw InputError("too many indices (" + std::to_string(idx.size()) + ") for a " + std::to_string(x.dim()) + "-d tensor");
  for (size_t k = 0; k < idims.size(); ++k) check_indices(*idx[idims[k]], x.shape()[idims[k]], true, "index", idims[k]);
  const Shape b = idims.empty() ? Shape{} : cpu::broadcast_shapes(ishapes);
  bool adjacent = true;
  for (size_t k = 1; k < idims.size(); ++k) adjacent = adjacent && idims[k] == idims[k - 1] + 1;
  auto kept = [&](int64_t d) { return std::find(idims.begin(), idims.end(), d) == idims.end(); };
  // The output dims in order: (false, x dim) or (true, broadcast dim).
  std::vector<std::pair<bool, int64_t>> rd;
  const int64_t insert_at = idims.empty() ? x.dim() : adjacent ? idims.front() : 0;
  for (int64_t d = 0; d < insert_at; ++d)
    if (kept(d)) rd.emplace_back(false, d);
  for (size_t j = 0; j < b.size() && !idims.empty(); ++j) rd.emplace_back(true, static_cast<int64_t>(j));
  for (int64_t d = insert_at; d < x.dim(); ++d)
    if (kept(d)) rd.emplace_back(false, d);
  if (rd.size() > static_cast<size_t>(gpu::kMaxDims)) throw InputError("more than 6 dimensions are not supported on the GPU");
  Shape shape;
  for (size_t r = 0; r < rd.size(); ++r) {
    p.x_strides[r] = rd[r].first ? 0 : x.strides()[rd[r].second];
    p.shape[r] = rd[r].first ? b[rd[r].second] : x.shape()[rd[r].second];
    shape.push_back(p.shape[r]);
  }
  p.ndim = static_cast<int>(rd.size());
  for (size_t k = 0; k < idims.size(); ++k) {
    const Tensor& t = *idx[idims[k]];
    std::vector<int64_t> st(rd.size(), 0);
    const size_t lead = b.size() - static_cast<size_t>(t.dim());
    for (size_t r = 0; r < rd.size(); ++r) {
      if (!rd[r].first || static_cast<size_t>(rd[r].second) < lead) continue;
      const size_t td = static_cast<size_t>(rd[r].second) - lead;
      st[r] = t.shape()[td] == 1 ? 0 : t.strides()[td];
    }
    add_index(p, t, st, x, idims[k]);
  }
  return shape;
}

Value index(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  gpu::GatherPlan p;
  index_plan(x, a.tensors(1), p);
  return run_gather(a, x, p);
}

// index_put / _unsafe_index_put without accumulation (the rows' gpu_when): a contiguous copy of self, then the
// values written at x[indices], the last of colliding writes winning as on the CPU.
Value index_put(const OpArgs& a, ExecContext&) {
  const Tensor &x = a.tensor(0), &vals = a.tensor(2);
  if (vals.dtype() != x.dtype())
    throw InputError(std::string("index_put values dtype ") + dtype_name(vals.dtype()) + " differs from the input's " +
                     dtype_name(x.dtype()));
  Tensor out = copy_as(x, x.dtype());
  gpu::GatherPlan p;
  const Shape ps = index_plan(out, a.tensors(1), p);
  if (cpu::broadcast_shapes({ps, vals.shape()}) != ps)
    throw InputError("index_put values of shape " + shape_str(vals.shape()) + " cannot be broadcast to the indexed shape " +
                     shape_str(ps));
  const Shape vst = cpu::broadcast_strides(vals, ps);
  gpu::index_put(out.raw(), out.numel(), vals.raw(), vst.data(), dtype_size(x.dtype()), p);
  return Value::of(out);
}

// ---- attention variants: the CPU rows' argument positions (runtime/ops/heavy.cpp), auxiliary outputs zeroed ----

// The meta result's items, with the computed tensors at their positions and zero-filled device tensors elsewhere.
Value attention_result(const OpArgs& a, std::vector<std::pair<size_t, Value>> given) {
  std::vector<Value> items;
  for (size_t i = 0; i < a.meta()->items.size(); ++i) {
    auto it = std::find_if(given.begin(), given.end(), [&](const auto& g) { return g.first == i; });
    items.push_back(it != given.end() ? it->second : device_zeros_like(a.meta()->items[i]));
  }
  return Value::list(std::move(items));
}

Value sdpa(const OpArgs& a, ExecContext&) {
  return Value::of(run_gpu_attention(a, a.opt_tensor(3), a.f64(4), a.flag(5), a.opt_f64(6), a.flag(7), false, nullptr).out);
}
Value sdpa_math(const OpArgs& a, ExecContext&) {
  GpuAttention r = run_gpu_attention(a, a.opt_tensor(3), a.f64(4), a.flag(5), a.opt_f64(7), a.flag(8), true, nullptr, true);
  return Value::list({Value::of(r.out), Value::of(r.weights)});
}
Value sdpa_flash(const OpArgs& a, ExecContext&) {
  GpuAttention r = run_gpu_attention(a, nullptr, a.f64(3), a.flag(4), a.opt_f64(6), false, false, &a.out_meta(1));
  return attention_result(a, {{0, Value::of(r.out)}, {1, Value::of(r.lse)}});
}
Value sdpa_flash_cpu(const OpArgs& a, ExecContext&) {
  GpuAttention r = run_gpu_attention(a, a.opt_tensor(5), a.f64(3), a.flag(4), a.opt_f64(6), false, false, &a.out_meta(1));
  return Value::list({Value::of(r.out), Value::of(r.lse)});
}
Value sdpa_efficient(const OpArgs& a, ExecContext&) {
  GpuAttention r = run_gpu_attention(a, a.opt_tensor(3), a.f64(5), a.flag(6), a.opt_f64(7), false, false, &a.out_meta(1));
  return attention_result(a, {{0, Value::of(r.out)}, {1, Value::of(r.lse)}});
}
Value sdpa_cudnn(const OpArgs& a, ExecContext&) {
  GpuAttention r = run_gpu_attention(a, a.opt_tensor(3), a.f64(5), a.flag(6), a.opt_f64(8), false, false, &a.out_meta(1));
  return attention_result(a, {{0, Value::of(r.out)}, {1, Value::of(r.lse)}});
}

// _grouped_mm: offs copied to the host (a few int32) and checked as the CPU checks it, then one matmul launch per
// group on slices, the CPU's groups; output rows/columns no group covers are zero, as on the CPU.
Value grouped_mm(const OpArgs& a, ExecContext&) {
  const Tensor &x = a.tensor(0), &w = a.tensor(1);
  const Tensor* offs = a.opt_tensor(2);
  Tensor hoffs;
  if (offs) {
    const Tensor c = contiguous(*offs);
    hoffs = Tensor::empty(c.dtype(), c.shape());
    if (c.numel() > 0) gpu::copy_to_host(hoffs.raw(), c.raw(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  }
  const std::vector<int64_t> ends = cpu::grouped_mm_ends(x, w, offs ? &hoffs : nullptr, a.opt_tensor(3), a.opt_dtype(4));
  Tensor out = device_out(a);
  if (out.numel() == 0) return Value::of(out);
  gpu::fill_bytes(out.raw(), 0, static_cast<size_t>(out.numel()) * dtype_size(out.dtype()));
  auto slice = [](const Tensor& t, int64_t d, int64_t lo, int64_t hi) {
    Shape shape = t.shape();
    shape[d] = hi - lo;
    return t.as_strided(shape, t.strides(), t.offset() + lo * t.strides()[d]);
  };
  auto pick = [](const Tensor& t, int64_t i) {
    return t.as_strided({t.shape()[1], t.shape()[2]}, {t.strides()[1], t.strides()[2]}, t.offset() + i * t.strides()[0]);
  };
  auto mm = [](const Tensor& o, const Tensor& p, const Tensor& q) {
    if (o.numel() > 0 && p.shape()[1] > 0) gpu::matmul(ref(o), ref(p), ref(q));
  };
  const bool a2 = x.dim() == 2, b2 = w.dim() == 2;
  int64_t start = 0;
  if (a2 && !b2) {  // (M, K) x (G, K, N): row groups of x
    for (size_t g = 0; g < ends.size(); start = ends[g], ++g)
      if (ends[g] > start) mm(slice(out, 0, start, ends[g]), slice(x, 0, start, ends[g]), pick(w, static_cast<int64_t>(g)));
  } else if (!a2 && b2) {  // (G, M, K) x (K, N): column groups of w
    for (size_t g = 0; g < ends.size(); start = ends[g], ++g)
      if (ends[g] > start) mm(slice(out, 1, start, ends[g]), pick(x, static_cast<int64_t>(g)), slice(w, 1, start, ends[g]));
  } else if (a2 && b2) {  // (M, K) x (K, N): k groups, one (M, N) result each
    for (size_t g = 0; g < ends.size(); start = ends[g], ++g)
      mm(pick(out, static_cast<int64_t>(g)), slice(x, 1, start, ends[g]), slice(w, 0, start, ends[g]));
  } else {  // batched
    for (int64_t g = 0; g < x.shape()[0]; ++g) mm(pick(out, g), pick(x, g), pick(w, g));
  }
  return Value::of(out);
}

// convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups): checked as the
// CPU checks it (cpu::conv_geometry), then one direct kernel over 4-d views (1-d and unbatched calls get
// size-1 dims with stride 0).
Value convolution(const OpArgs& a, ExecContext&) {
  const Tensor &x = a.tensor(0), &w = a.tensor(1);
  const Tensor* bias = a.opt_tensor(2);
  const cpu::ConvParams p = ops::conv_params(a);
  const cpu::ConvGeometry g = cpu::conv_geometry(x, w, bias, p);
  Tensor out = device_out(a);
  if (out.numel() == 0) return Value::of(out);
  const Shape& xs = x.strides();
  Tensor x4 = x;
  if (g.sd == 1) x4 = g.batched ? x.as_strided({g.n, g.c, 1, g.w}, {xs[0], xs[1], 0, xs[2]}, x.offset())
                                : x.as_strided({1, g.c, 1, g.w}, {0, xs[0], 0, xs[1]}, x.offset());
  else if (!g.batched) x4 = x.as_strided({1, g.c, g.h, g.w}, {0, xs[0], xs[1], xs[2]}, x.offset());
  const Tensor w4 = g.sd == 2 ? w
                              : w.as_strided({g.o, w.shape()[1], 1, g.kw}, {w.strides()[0], w.strides()[1], 0, w.strides()[2]},
                                             w.offset());
  const Tensor o4 = out.as_strided({g.n, g.o, g.oh, g.ow}, {g.o * g.oh * g.ow, g.oh * g.ow, g.ow, 1}, out.offset());
  gpu::ConvSpec spec;
  spec.stride[0] = g.sh;
  spec.stride[1] = g.sw;
  spec.padding[0] = g.ph;
  spec.padding[1] = g.pw;
  spec.dilation[0] = g.dh;
  spec.dilation[1] = g.dw;
  spec.groups = g.groups;
  const gpu::TensorRef bref = bias ? ref(*bias) : gpu::TensorRef{};
  gpu::convolution(ref(o4), ref(x4), ref(w4), bias ? &bref : nullptr, spec);
  return Value::of(out);
}

// cumsum / cumprod(self, dim, *, dtype): the input converted to the result dtype (as the CPU), then one thread
// per line accumulating in the CPU's accumulate type.
Value scan_op(const OpArgs& a, bool prod) {
  const Tensor& x = a.tensor(0);
  const DType rt = a.out_meta().dtype();
  if (is_fp8(rt)) throw InputError(std::string(prod ? "cumprod" : "cumsum") + " of " + dtype_name(rt) + " is not supported");
  const int64_t dim = x.dim() == 0 ? 0 : cpu::wrap_dim(a.i64(1), x.dim());
  const Tensor in = x.dtype() == rt ? contiguous(x) : copy_as(x, rt);
  Tensor out = device_out(a);
  if (out.numel() > 0) gpu::scan(ref(out), ref(in), static_cast<int>(dim), prod);
  return Value::of(out);
}
Value cumsum(const OpArgs& a, ExecContext&) { return scan_op(a, false); }
Value cumprod(const OpArgs& a, ExecContext&) { return scan_op(a, true); }

// sort / argsort / topk: the first k of a stable sort of each row (topk: descending when largest, ties to the
// lower index, always sorted, as the CPU).
std::pair<Tensor, Tensor> gpu_sort(const Tensor& x_in, int64_t dim_arg, bool descending, std::optional<int64_t> k_arg) {
  const Tensor x = contiguous(x_in);
  const int64_t nd = x.dim();
  const int64_t dim = nd == 0 ? 0 : cpu::wrap_dim(dim_arg, nd);
  const int64_t n = nd == 0 ? 1 : x.shape()[dim];
  const int64_t k = k_arg.value_or(n);
  if (k < 0 || k > n)
    throw InputError("topk: k = " + std::to_string(k) + " is out of range for dimension " + std::to_string(dim) + " of size " +
                     std::to_string(n));
  Shape shape = x.shape();
  if (nd > 0) shape[dim] = k;
  Tensor values = device_empty(x.dtype(), shape), indices = device_empty(DType::I64, shape);
  if (values.numel() > 0) gpu::sort_rows(values.raw(), indices.data<int64_t>(), ref(x), static_cast<int>(dim), k, descending);
  return {values, indices};
}
Value sort(const OpArgs& a, ExecContext&) {
  const bool stable = a.schema().overload == "stable";
  auto [v, i] = gpu_sort(a.tensor(0), a.i64(stable ? 2 : 1), a.flag(stable ? 3 : 2), std::nullopt);
  return Value::list({Value::of(v), Value::of(i)});
}
Value argsort(const OpArgs& a, ExecContext&) {
  const bool stable = a.schema().overload == "stable";
  return Value::of(gpu_sort(a.tensor(0), a.i64(stable ? 2 : 1), a.flag(stable ? 3 : 2), std::nullopt).second);
}
Value topk(const OpArgs& a, ExecContext&) {
  auto [v, i] = gpu_sort(a.tensor(0), a.i64(2), a.flag(3), a.i64(1));
  return Value::list({Value::of(v), Value::of(i)});
}

// ---- copies into new device tensors: cat, copy, slice_scatter, select_scatter (the CPU's views and checks) ----

Value cat(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  if (out.dim() == 0) return Value::of(out);
  const int64_t d = cpu::wrap_dim(a.i64(1), out.dim());
  int64_t start = 0;
  for (const Tensor* t : a.tensors(0)) {
    if (t->dim() == 1 && t->numel() == 0 && out.dim() != 1) continue;  // legacy empty tensors are skipped
    Shape s = out.shape();
    s[d] = t->shape()[d];
    copy_into_device(out.as_strided(s, out.strides(), out.offset() + start * out.strides()[d]), *t);
    start += t->shape()[d];
  }
  return Value::of(out);
}

Value copy(const OpArgs& a, ExecContext&) {
  Tensor out = device_out(a);
  copy_into_device(out, a.tensor(1));
  return Value::of(out);
}

Value slice_scatter(const OpArgs& a, ExecContext& ctx) {
  const Tensor& x = a.tensor(0);
  Tensor out = copy_as(x, x.dtype());
  static const Schema kSlice = parse_schema("slice.Tensor(Tensor self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor");
  const OpArgs sa(kSlice, a.node(), std::vector<Value>{Value::of(out), a[2], a[3], a[4], a[5]});
  const Tensor view = cpu::slice(sa, ctx).tensor;
  const Tensor& src = a.tensor(1);
  if (view.shape() != src.shape())
    throw InputError("slice_scatter: src has shape " + shape_str(src.shape()) + " but the slice is " + shape_str(view.shape()));
  copy_into_device(view, src);
  return Value::of(out);
}

Value select_scatter(const OpArgs& a, ExecContext& ctx) {
  const Tensor& x = a.tensor(0);
  Tensor out = copy_as(x, x.dtype());
  static const Schema kSelect = parse_schema("select.int(Tensor self, int dim, SymInt index) -> Tensor");
  const OpArgs sa(kSelect, a.node(), std::vector<Value>{Value::of(out), a[2], a[3]});
  const Tensor view = cpu::select(sa, ctx).tensor;
  const Tensor& src = a.tensor(1);
  if (view.shape() != src.shape())
    throw InputError("select_scatter: src has shape " + shape_str(src.shape()) + " but the selection is " + shape_str(view.shape()));
  copy_into_device(view, src);
  return Value::of(out);
}

// The fused ops on contiguous buffers (their meta rules checked the arguments).
Value fused_rms_gated(const OpArgs& a, ExecContext&) {
  const Tensor x = contiguous(a.tensor(0)), w = contiguous(a.tensor(1)), z = contiguous(a.tensor(3));
  Tensor q = device_out(a, 0), s = device_out(a, 1);
  const int64_t d = x.shape().back(), g = a.i64(7);
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  if (m > 0)
    gpu::fused_rms_gated_fp8_group_quant(q.data<uint8_t>(), s.data<float>(), x.data<uint16_t>(), w.data<uint16_t>(),
                                         z.data<uint16_t>(), m, d, a.f64(4), g, fp8_format(q.dtype()));
  return Value::list({Value::of(q), Value::of(s)});
}

Value group_quant(const OpArgs& a, ExecContext&) {
  const Tensor x = contiguous(a.tensor(0));
  Tensor q = device_out(a, 0), s = device_out(a, 1);
  const int64_t k = x.shape().back(), g = a.i64(1);
  const int64_t m = x.numel() / std::max<int64_t>(k, 1);
  if (m > 0) gpu::group_fp8_quant(q.data<uint8_t>(), s.data<float>(), x.data<uint16_t>(), m, k, g, fp8_format(q.dtype()));
  return Value::list({Value::of(q), Value::of(s)});
}

// vLLM's order and per-token quant by the reciprocal (cpu::rmsnorm_dynamic_quant): the family's kernel.
Value rmsnorm_quant(const OpArgs& a, ExecContext&) {
  const Tensor x = contiguous(a.tensor(0)), w = contiguous(a.tensor(1));
  Tensor q = device_out(a, 0), s = device_out(a, 1);
  const int64_t d = x.shape().back();
  const int64_t m = x.numel() / std::max<int64_t>(d, 1);
  num::QuantArgs qa;
  qa.scheme = num::QuantScheme::PerToken;
  qa.fmt = fp8_format(q.dtype());
  if (m > 0)
    gpu::rms_norm_quant(x.data<uint16_t>(), nullptr, w.data<uint16_t>(), m, d, a.f64(2), qa, nullptr, nullptr,
                        q.data<uint8_t>(), s.data<float>());
  return Value::list({Value::of(q), Value::of(s)});
}

Tensor device_tensor(DType d, const Shape& shape) { return device_empty(d, shape); }
Tensor device_contiguous(const Tensor& x) { return contiguous(x); }

}  // namespace gpu_ops

namespace {

// Under gpu::timing_enabled() (fxopt run --timing) each node is one interval of gpu::timing_begin/end
// (see runtime/executor.cpp): its kernels' own event pairs (recorded around each launch in runtime/hip)
// are summed into it. Output buffers come from gpu::alloc's caching allocator and go back to it when the
// executor drops a value after its last use.
class GpuBackend final : public Backend {
 public:
  std::string_view device_name() const override { return "gpu"; }
  bool is_gpu() const override { return true; }
  Tensor upload(const Tensor& host) const override {
    const Tensor c = host.contiguous();
    Tensor d = device_empty(c.dtype(), c.shape());
    if (d.storage()->bytes) gpu::copy_to_device(d.raw(), c.raw(), d.storage()->bytes);
    return d;
  }
  Tensor download(const Tensor& t) const override {
    const uint64_t l0 = gpu::kernel_launches();
    const int ticket = gpu::timing_begin();
    const Tensor c = contiguous(t);
    const uint64_t launched = gpu::kernel_launches() - l0;
    gpu::timing_end(ticket, "(output copy)", launched, launched > 0);
    Tensor h = Tensor::empty(c.dtype(), c.shape());
    const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    if (bytes) gpu::copy_to_host(h.raw(), c.raw(), bytes);
    return h;
  }
};

}  // namespace

const Backend& gpu_backend() {
  if (!gpu::device_available()) throw InputError("--device gpu: no GPU device is available");
  static const GpuBackend b;
  return b;
}

}  // namespace fxopt::rt

#endif  // FXOPT_HAVE_GPU
