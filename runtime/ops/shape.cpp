// Op rows of the shape and data-movement family: views (shape-only: their compute is their meta rule and
// runs on any device), copies (clone, cat, stack, pads, *_scatter, copy, repeat, flip, tril/triu) and the
// factories (full, zeros, ones, empty, *_like, new_*, arange, iota, scalar_tensor). Compute: runtime/cpu/
// shape.cpp.
#include <cmath>

#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

// The GPU copies (cat, copy, *_scatter) take views of at most 6 dims (gpu::kMaxDims).
bool gpu_copy_when(const OpArgs& a) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].is_tensor() && a[i].tensor.dim() > 6) return false;
    if (a[i].kind == Value::Kind::List)
      for (const Value& v : a[i].items)
        if (v.is_tensor() && v.tensor.dim() > 6) return false;
  }
  return true;
}

std::optional<Value> meta_reshape(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const Shape shape = cpu::infer_size(a.ints(1), x.numel());
  if (auto st = cpu::view_strides(x, shape)) return Value::of(Tensor::meta(x.dtype(), shape, *st, x.offset()));
  return meta_tensor(x.dtype(), shape);
}
std::optional<Value> meta_same(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(x.dtype(), x.shape());
}
std::optional<Value> meta_cat(const OpArgs& a) {
  const std::vector<const Tensor*> ts = a.tensors(0);
  if (ts.empty()) throw InputError("cat of an empty list of tensors");
  std::vector<const Value*> vals;
  for (const Value& v : a[0].items) vals.push_back(&v);
  const DType d = cpu::result_type(vals);
  const Tensor* ref = nullptr;
  for (const Tensor* t : ts)
    if (!(t->dim() == 1 && t->numel() == 0)) { ref = t; break; }
  if (!ref) return meta_tensor(d, {0});
  const int64_t dim = wrap_dim(a.i64(1), ref->dim());
  Shape out = ref->shape();
  out[dim] = 0;
  for (const Tensor* t : ts) {
    if (t->dim() == 1 && t->numel() == 0) continue;
    if (t->dim() != ref->dim()) throw InputError("cat: tensors have different numbers of dimensions: " + shape_str(ref->shape()) + " and " + shape_str(t->shape()));
    for (int64_t k = 0; k < t->dim(); ++k)
      if (k != dim && t->shape()[k] != ref->shape()[k])
        throw InputError("cat: sizes must match except in dimension " + std::to_string(dim) + ": " +
                         shape_str(ref->shape()) + " and " + shape_str(t->shape()));
    out[dim] += t->shape()[dim];
  }
  return meta_tensor(d, out);
}
std::optional<Value> meta_stack(const OpArgs& a) {
  const std::vector<const Tensor*> ts = a.tensors(0);
  if (ts.empty()) throw InputError("stack of an empty list of tensors");
  std::vector<const Value*> vals;
  for (const Value& v : a[0].items) vals.push_back(&v);
  for (const Tensor* t : ts)
    if (t->shape() != ts[0]->shape())
      throw InputError("stack: tensors have different shapes: " + shape_str(ts[0]->shape()) + " and " + shape_str(t->shape()));
  const int64_t d = wrap_dim(a.i64(1), ts[0]->dim() + 1);
  Shape s = ts[0]->shape();
  s.insert(s.begin() + d, static_cast<int64_t>(ts.size()));
  return meta_tensor(cpu::result_type(vals), s);
}
std::optional<Value> meta_pad(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> pad = a.ints(1);
  if (pad.size() % 2 != 0 || static_cast<int64_t>(pad.size()) > 2 * x.dim())
    throw InputError("constant_pad_nd: " + std::to_string(pad.size()) + " pad values for a " + std::to_string(x.dim()) + "-d tensor");
  Shape s = x.shape();
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    const int64_t d = x.dim() - 1 - static_cast<int64_t>(k);
    s[d] += pad[2 * k] + pad[2 * k + 1];
    if (s[d] < 0) throw InputError("constant_pad_nd: dimension " + std::to_string(d) + " would have negative size " + std::to_string(s[d]));
  }
  return meta_tensor(x.dtype(), s);
}
std::optional<Value> meta_copy(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (broadcast_of({&a[0], &a[1]}) != x.shape())
    throw InputError("copy: src " + shape_str(a.tensor(1).shape()) + " does not broadcast to " + shape_str(x.shape()));
  return meta_tensor(x.dtype(), x.shape());
}
std::optional<Value> meta_repeat(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> reps = a.ints(1);
  if (static_cast<int64_t>(reps.size()) < x.dim())
    throw InputError("repeat: " + std::to_string(reps.size()) + " repeats for a " + std::to_string(x.dim()) + "-d tensor");
  Shape s(reps.size());
  const size_t lead = reps.size() - static_cast<size_t>(x.dim());
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) throw InputError("repeat: negative repeat " + std::to_string(reps[i]));
    s[i] = reps[i] * (i < lead ? 1 : x.shape()[i - lead]);
  }
  return meta_tensor(x.dtype(), s);
}

// Factories. full's dtype without dtype=: from the fill value (bool, int64, else float32).
DType value_dtype(const Value& v) {
  return v.kind == Value::Kind::Bool ? DType::Bool : v.kind == Value::Kind::Int ? DType::I64 : DType::F32;
}
std::optional<Value> meta_full(const OpArgs& a) {
  return meta_tensor(a.opt_dtype(2).value_or(value_dtype(a[1])), sizes_of(a, 0));
}
std::optional<Value> meta_full_like(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(a.opt_dtype(2).value_or(x.dtype()), x.shape());
}
std::optional<Value> meta_sized(const OpArgs& a) { return meta_tensor(factory_dtype(a, 1), sizes_of(a, 0)); }
std::optional<Value> meta_empty_strided(const OpArgs& a) { return meta_tensor(factory_dtype(a, 2), sizes_of(a, 0)); }
std::optional<Value> meta_like(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(a.opt_dtype(1).value_or(x.dtype()), x.shape());
}
std::optional<Value> meta_new(const OpArgs& a) {
  return meta_tensor(a.opt_dtype(2).value_or(a.tensor(0).dtype()), sizes_of(a, 1));
}
std::optional<Value> meta_new_full(const OpArgs& a) {
  return meta_tensor(a.opt_dtype(3).value_or(a.tensor(0).dtype()), sizes_of(a, 1));
}
std::optional<Value> meta_scalar_tensor(const OpArgs& a) { return meta_tensor(a.opt_dtype(1).value_or(DType::F32), {}); }
std::optional<Value> meta_arange(const OpArgs& a) {
  const cpu::ArangeParams p = cpu::arange_params(a);
  return meta_tensor(p.dtype, {p.length});
}
std::optional<Value> meta_iota(const OpArgs& a) {
  const int64_t n = a.i64(0);
  if (n < 0) throw InputError("iota: negative length " + std::to_string(n));
  return meta_tensor(a.dtype(3), {n});
}

// new_full(self, size, fill_value): the fill value is argument 2; full() reads argument 1.
Value new_full(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  cpu::fill_value(out, a[2]);
  return Value::of(out);
}

#define FACTORY_TAIL "*, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None"

const OpRow kRows[] = {
    // Views.
    {.target = "aten.view.default", .schema = "view(Tensor(a) self, SymInt[] size) -> Tensor(a)", .meta = meta_reshape,
     .cpu = cpu::reshape, .gpu = FXOPT_GPU(reshape), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.reshape.default", .schema = "reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)",
     .meta = meta_reshape, .cpu = cpu::reshape, .gpu = FXOPT_GPU(reshape), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten._unsafe_view.default", .schema = "_unsafe_view(Tensor self, SymInt[] size) -> Tensor",
     .meta = meta_reshape, .cpu = cpu::reshape, .gpu = FXOPT_GPU(reshape), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.squeeze.default", .schema = "squeeze(Tensor(a) self) -> Tensor(a)", .cpu = cpu::squeeze_all,
     .shape_only = true},
    {.target = "aten.squeeze.dim", .schema = "squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)",
     .cpu = cpu::squeeze_dims, .shape_only = true},
    {.target = "aten.squeeze.dims", .schema = "squeeze.dims(Tensor(a) self, int[] dim) -> Tensor(a)",
     .cpu = cpu::squeeze_dims, .shape_only = true},
    {.target = "aten.unsqueeze.default", .schema = "unsqueeze(Tensor(a) self, int dim) -> Tensor(a)",
     .cpu = cpu::unsqueeze, .shape_only = true},
    {.target = "aten.permute.default", .schema = "permute(Tensor(a) self, int[] dims) -> Tensor(a)",
     .cpu = cpu::permute, .shape_only = true},
    {.target = "aten.transpose.int", .schema = "transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
     .cpu = cpu::transpose, .shape_only = true},
    {.target = "aten.t.default", .schema = "t(Tensor(a) self) -> Tensor(a)", .cpu = cpu::t_op, .shape_only = true},
    {.target = "aten.expand.default",
     .schema = "expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)", .cpu = cpu::expand,
     .shape_only = true},
    {.target = "aten.alias.default", .schema = "alias(Tensor(a) self) -> Tensor(a)", .cpu = cpu::alias,
     .shape_only = true},
    {.target = "aten.detach.default", .schema = "detach(Tensor(a) self) -> Tensor(a)", .cpu = cpu::alias,
     .shape_only = true},
    {.target = "aten.slice.Tensor",
     .schema = "slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor(a)",
     .cpu = cpu::slice, .shape_only = true},
    {.target = "aten.select.int", .schema = "select.int(Tensor(a) self, int dim, SymInt index) -> Tensor(a)",
     .cpu = cpu::select, .shape_only = true},
    {.target = "aten.narrow.default", .schema = "narrow(Tensor(a) self, int dim, SymInt start, SymInt length) -> Tensor(a)",
     .cpu = cpu::narrow, .shape_only = true},
    {.target = "aten.split.Tensor", .schema = "split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]",
     .cpu = cpu::split, .shape_only = true},
    {.target = "aten.split_with_sizes.default",
     .schema = "split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int dim=0) -> Tensor(a)[]",
     .cpu = cpu::split_with_sizes, .shape_only = true},
    {.target = "aten.unbind.int", .schema = "unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]",
     .cpu = cpu::unbind, .shape_only = true},
    {.target = "aten.as_strided.default",
     .schema = "as_strided(Tensor(a) self, SymInt[] size, SymInt[] stride, SymInt? storage_offset=None) -> Tensor(a)",
     .cpu = cpu::as_strided, .shape_only = true},
    {.target = "aten.diagonal.default",
     .schema = "diagonal(Tensor(a) self, int offset=0, int dim1=0, int dim2=1) -> Tensor(a)", .cpu = cpu::diagonal,
     .shape_only = true},
    {.target = "_operator.getitem", .schema = "getitem(Any a, int b) -> Any", .cpu = cpu::getitem, .shape_only = true},
    // Copies.
    {.target = "aten.clone.default", .schema = "clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_same, .cpu = cpu::clone, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.contiguous.default",
     .schema = "contiguous(Tensor(a) self, *, MemoryFormat memory_format=contiguous_format) -> Tensor(a)",
     .meta = meta_same, .cpu = cpu::clone, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.lift_fresh_copy.default", .schema = "lift_fresh_copy(Tensor self) -> Tensor", .meta = meta_same,
     .cpu = cpu::clone, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.cat.default", .schema = "cat(Tensor[] tensors, int dim=0) -> Tensor", .meta = meta_cat,
     .cpu = cpu::cat, .gpu = FXOPT_GPU(cat),
     .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_copy_when},
    {.target = "aten.stack.default", .schema = "stack(Tensor[] tensors, int dim=0) -> Tensor", .meta = meta_stack,
     .cpu = cpu::stack},
    {.target = "aten.constant_pad_nd.default",
     .schema = "constant_pad_nd(Tensor self, SymInt[] pad, Scalar value=0) -> Tensor", .meta = meta_pad,
     .cpu = cpu::constant_pad_nd},
    {.target = "aten.slice_scatter.default",
     .schema = "slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor",
     .meta = meta_same, .cpu = cpu::slice_scatter, .gpu = FXOPT_GPU(slice_scatter),
     .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_copy_when},
    {.target = "aten.select_scatter.default",
     .schema = "select_scatter(Tensor self, Tensor src, int dim, SymInt index) -> Tensor", .meta = meta_same,
     .cpu = cpu::select_scatter, .gpu = FXOPT_GPU(select_scatter),
     .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_copy_when},
    {.target = "aten.copy.default", .schema = "copy(Tensor self, Tensor src, bool non_blocking=False) -> Tensor",
     .meta = meta_copy, .cpu = cpu::copy, .gpu = FXOPT_GPU(copy),
     .gpu_dtypes = kGpuAllDTypes, .gpu_when = gpu_copy_when},
    {.target = "aten.copy_.default", .schema = "copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)",
     .meta = meta_copy, .cpu = cpu::copy_inplace},
    {.target = "aten.repeat.default", .schema = "repeat(Tensor self, SymInt[] repeats) -> Tensor", .meta = meta_repeat,
     .cpu = cpu::repeat},
    {.target = "aten.flip.default", .schema = "flip(Tensor self, int[] dims) -> Tensor", .meta = meta_same,
     .cpu = cpu::flip},
    {.target = "aten.tril.default", .schema = "tril(Tensor self, int diagonal=0) -> Tensor", .meta = meta_same,
     .cpu = cpu::tri<false>},
    {.target = "aten.triu.default", .schema = "triu(Tensor self, int diagonal=0) -> Tensor", .meta = meta_same,
     .cpu = cpu::tri<true>},
    // Factories.
    {.target = "aten.full.default", .schema = "full(SymInt[] size, Scalar fill_value, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_full, .cpu = cpu::full},
    {.target = "aten.full_like.default",
     .schema = "full_like(Tensor self, Scalar fill_value, " FACTORY_TAIL ", MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_full_like, .cpu = cpu::full},
    {.target = "aten.zeros.default", .schema = "zeros(SymInt[] size, " FACTORY_TAIL ") -> Tensor", .meta = meta_sized,
     .cpu = cpu::zeros},
    {.target = "aten.ones.default", .schema = "ones(SymInt[] size, " FACTORY_TAIL ") -> Tensor", .meta = meta_sized,
     .cpu = cpu::ones},
    {.target = "aten.empty.memory_format",
     .schema = "empty.memory_format(SymInt[] size, " FACTORY_TAIL ", MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_sized, .cpu = cpu::empty},
    {.target = "aten.empty_strided.default",
     .schema = "empty_strided(SymInt[] size, SymInt[] stride, " FACTORY_TAIL ") -> Tensor", .meta = meta_empty_strided,
     .cpu = cpu::empty},
    {.target = "aten.zeros_like.default",
     .schema = "zeros_like(Tensor self, " FACTORY_TAIL ", MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_like, .cpu = cpu::zeros},
    {.target = "aten.ones_like.default",
     .schema = "ones_like(Tensor self, " FACTORY_TAIL ", MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_like, .cpu = cpu::ones},
    {.target = "aten.empty_like.default",
     .schema = "empty_like(Tensor self, " FACTORY_TAIL ", MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_like, .cpu = cpu::empty},
    {.target = "aten.new_zeros.default", .schema = "new_zeros(Tensor self, SymInt[] size, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_new, .cpu = cpu::zeros},
    {.target = "aten.new_ones.default", .schema = "new_ones(Tensor self, SymInt[] size, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_new, .cpu = cpu::ones},
    {.target = "aten.new_empty.default", .schema = "new_empty(Tensor self, SymInt[] size, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_new, .cpu = cpu::empty},
    {.target = "aten.new_full.default",
     .schema = "new_full(Tensor self, SymInt[] size, Scalar fill_value, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_new_full, .cpu = new_full},
    {.target = "aten.scalar_tensor.default", .schema = "scalar_tensor(Scalar s, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_scalar_tensor, .cpu = cpu::scalar_tensor},
    {.target = "aten.arange.default", .schema = "arange(Scalar end, " FACTORY_TAIL ") -> Tensor", .meta = meta_arange,
     .cpu = cpu::arange},
    {.target = "aten.arange.start", .schema = "arange.start(Scalar start, Scalar end, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_arange, .cpu = cpu::arange},
    {.target = "aten.arange.start_step",
     .schema = "arange.start_step(Scalar start, Scalar end, Scalar step=1, " FACTORY_TAIL ") -> Tensor",
     .meta = meta_arange, .cpu = cpu::arange},
    {.target = "prims.iota.default",
     .schema = "iota(SymInt length, *, SymInt start, SymInt step, ScalarType dtype, Device device, bool requires_grad) -> Tensor",
     .meta = meta_iota, .cpu = cpu::iota},
};
#undef FACTORY_TAIL

}  // namespace

std::span<const OpRow> op_rows_shape() { return kRows; }

}  // namespace fxopt::rt::ops
