// Shape and data-movement CPU kernels. Views (reshape when the strides allow, squeeze, unsqueeze, permute,
// transpose, expand, slice, select, narrow, split, unbind, as_strided, diagonal) share storage and only
// compute shapes/strides/offsets, so they also serve as their own meta rules and run on any device.
// Copies: clone, contiguous, cat, stack, constant_pad_nd, *_scatter, copy, repeat, flip, tril/triu, and
// the factories (full, zeros/ones/empty, *_like, arange, iota, scalar_tensor).
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {

Shape infer_size(const std::vector<int64_t>& sizes, int64_t numel) {
  Shape out(sizes.begin(), sizes.end());
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer >= 0) throw InputError("only one dimension can be inferred (-1) in " + shape_str(out));
      infer = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      throw InputError("invalid size " + std::to_string(out[i]) + " in " + shape_str(out));
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw InputError("shape " + shape_str(sizes) + " is invalid for input of size " + std::to_string(numel));
    out[infer] = numel / known;
  } else if (known != numel) {
    throw InputError("shape " + shape_str(sizes) + " is invalid for input of size " + std::to_string(numel));
  }
  return out;
}

std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  const Shape& old = t.shape();
  const Shape& olds = t.strides();
  Shape st(shape.size(), 0);
  if (t.numel() == 0) return Tensor::contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = olds.empty() ? 1 : olds.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[d];
    if (d == 0 || (old[d - 1] != 1 && olds[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = olds[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}

// ---- views ----

// reshape: a view when the strides allow, else a contiguous copy (view/_unsafe_view graphs always allow).
Value reshape(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const Shape shape = infer_size(a.ints(1), x.numel());
  if (auto st = view_strides(x, shape)) return Value::of(x.as_strided(shape, *st, x.offset()));
  if (x.is_meta()) return Value::of(Tensor::meta(x.dtype(), shape));
  Tensor c = x.contiguous();
  return Value::of(c.as_strided(shape, Tensor::contiguous_strides(shape), c.offset()));
}

namespace {
Value squeeze_dims(const Tensor& x, const std::vector<int64_t>& dims) {
  std::vector<bool> drop(static_cast<size_t>(x.dim()), false);
  for (int64_t d : dims) {
    if (x.dim() == 0) continue;
    const int64_t w = wrap_dim(d, x.dim());
    if (x.shape()[w] == 1) drop[w] = true;
  }
  Shape s, st;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!drop[d]) {
      s.push_back(x.shape()[d]);
      st.push_back(x.strides()[d]);
    }
  return Value::of(x.as_strided(s, st, x.offset()));
}
}  // namespace

Value squeeze_all(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  std::vector<int64_t> all(static_cast<size_t>(x.dim()));
  std::iota(all.begin(), all.end(), 0);
  return squeeze_dims(x, all);
}
Value squeeze_dims(const OpArgs& a, ExecContext&) {
  const Value& d = a[1];
  if (d.kind == Value::Kind::Int) return squeeze_dims(a.tensor(0), {d.i});
  return squeeze_dims(a.tensor(0), a.ints(1));
}

Value unsqueeze(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const int64_t d = wrap_dim(a.i64(1), x.dim() + 1);
  Shape s = x.shape(), st = x.strides();
  const int64_t stride = d < x.dim() ? x.shape()[d] * x.strides()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value permute(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> dims = a.ints(1);
  if (static_cast<int64_t>(dims.size()) != x.dim())
    throw InputError("permute needs " + std::to_string(x.dim()) + " dims, got " + std::to_string(dims.size()));
  Shape s, st;
  std::vector<bool> seen(static_cast<size_t>(x.dim()), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, x.dim());
    if (seen[w]) throw InputError("permute: dimension " + std::to_string(d) + " repeats");
    seen[w] = true;
    s.push_back(x.shape()[w]);
    st.push_back(x.strides()[w]);
  }
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value transpose(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const int64_t p = wrap_dim(a.i64(1), x.dim()), q = wrap_dim(a.i64(2), x.dim());
  Shape s = x.shape(), st = x.strides();
  if (x.dim() > 0) {
    std::swap(s[p], s[q]);
    std::swap(st[p], st[q]);
  }
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value t_op(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() < 2) return Value::of(x);
  if (x.dim() != 2) throw InputError("t() expects a tensor with <= 2 dimensions, got " + shape_str(x.shape()));
  return Value::of(x.as_strided({x.shape()[1], x.shape()[0]}, {x.strides()[1], x.strides()[0]}, x.offset()));
}

Tensor expand_to(const Tensor& x, const std::vector<int64_t>& sizes) {
  if (static_cast<int64_t>(sizes.size()) < x.dim())
    throw InputError("expand: " + std::to_string(sizes.size()) + " sizes for a " + std::to_string(x.dim()) + "-d tensor");
  const size_t nd = sizes.size(), lead = nd - static_cast<size_t>(x.dim());
  Shape s(nd), st(nd, 0);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t want = sizes[i];
    if (i < lead) {
      if (want < 0) throw InputError("expand: -1 is not allowed in a new leading dimension");
      s[i] = want;
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    if (want == -1 || want == have) {
      s[i] = have;
      st[i] = x.strides()[i - lead];
    } else if (have == 1) {
      if (want < 0) throw InputError("expand: invalid size " + std::to_string(want));
      s[i] = want;
    } else {
      throw InputError("expand: size " + std::to_string(want) + " does not match " + std::to_string(have) +
                       " at dimension " + std::to_string(i));
    }
  }
  return x.as_strided(s, st, x.offset());
}

Value expand(const OpArgs& a, ExecContext&) { return Value::of(expand_to(a.tensor(0), a.ints(1))); }

Value alias(const OpArgs& a, ExecContext&) { return Value::of(a.tensor(0)); }

// slice.Tensor(x, dim=0, start=None, end=None, step=1): Python slicing (clamped), a view.
Value slice(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("slice of a 0-d tensor");
  const int64_t d = wrap_dim(a.i64(1), x.dim());
  const int64_t n = x.shape()[d];
  int64_t start = a.opt_i64(2).value_or(0), end = a.opt_i64(3).value_or(INT64_MAX);
  const int64_t step = a.i64(4);
  if (step <= 0) throw InputError("slice step must be positive, got " + std::to_string(step));
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = x.shape(), st = x.strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = x.strides()[d] * step;
  return Value::of(x.as_strided(s, st, x.offset() + start * x.strides()[d]));
}

// select.int(x, dim, index): a view without the dim; an index out of range is an error.
Value select(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("select of a 0-d tensor");
  const int64_t d = wrap_dim(a.i64(1), x.dim());
  const int64_t n = x.shape()[d];
  int64_t i = a.i64(2);
  if (i < -n || i >= n)
    throw InputError("select: index " + std::to_string(i) + " is out of range for dimension " + std::to_string(d) +
                     " of size " + std::to_string(n));
  if (i < 0) i += n;
  Shape s = x.shape(), st = x.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Value::of(x.as_strided(s, st, x.offset() + i * x.strides()[d]));
}

// narrow(x, dim, start, length): a view.
Value narrow(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const int64_t d = wrap_dim(a.i64(1), x.dim());
  const int64_t n = x.shape()[d];
  int64_t start = a.i64(2);
  const int64_t len = a.i64(3);
  if (start < 0) start += n;
  if (start < 0 || len < 0 || start + len > n)
    throw InputError("narrow: start " + std::to_string(a.i64(2)) + " and length " + std::to_string(len) +
                     " exceed dimension " + std::to_string(d) + " of size " + std::to_string(n));
  Shape s = x.shape();
  s[d] = len;
  return Value::of(x.as_strided(s, x.strides(), x.offset() + start * x.strides()[d]));
}

namespace {
Value split_at(const Tensor& x, int64_t dim, const std::vector<int64_t>& sizes) {
  const int64_t d = wrap_dim(dim, x.dim());
  std::vector<Value> out;
  int64_t start = 0;
  for (int64_t len : sizes) {
    Shape s = x.shape();
    s[d] = len;
    out.push_back(Value::of(x.as_strided(s, x.strides(), x.offset() + start * x.strides()[d])));
    start += len;
  }
  return Value::list(std::move(out));
}
}  // namespace

// split.Tensor(x, split_size, dim=0): chunks of split_size (the last one smaller), views.
Value split(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("split of a 0-d tensor");
  const int64_t d = wrap_dim(a.i64(2), x.dim());
  const int64_t n = x.shape()[d], k = a.i64(1);
  if (k < 0 || (k == 0 && n != 0)) throw InputError("split: split_size must be positive, got " + std::to_string(k));
  std::vector<int64_t> sizes;
  if (k == 0) sizes.push_back(0);
  for (int64_t s = 0; s < n; s += k) sizes.push_back(std::min(k, n - s));
  if (sizes.empty()) sizes.push_back(0);
  return split_at(x, d, sizes);
}

// split_with_sizes(x, split_sizes, dim=0): the sizes must sum to the dim.
Value split_with_sizes(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const int64_t d = wrap_dim(a.i64(2), x.dim());
  const std::vector<int64_t> sizes = a.ints(1);
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw InputError("split_with_sizes: negative size " + std::to_string(s));
    sum += s;
  }
  if (sum != x.shape()[d])
    throw InputError("split_with_sizes: sizes sum to " + std::to_string(sum) + " but dimension " + std::to_string(d) +
                     " has size " + std::to_string(x.shape()[d]));
  return split_at(x, d, sizes);
}

// unbind.int(x, dim=0): one view per index, without the dim.
Value unbind(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() == 0) throw InputError("unbind of a 0-d tensor");
  const int64_t d = wrap_dim(a.i64(1), x.dim());
  Shape s = x.shape(), st = x.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  std::vector<Value> out;
  for (int64_t i = 0; i < x.shape()[d]; ++i) out.push_back(Value::of(x.as_strided(s, st, x.offset() + i * x.strides()[d])));
  return Value::list(std::move(out));
}

// as_strided(x, size, stride, storage_offset=None): a view of x's storage; it must stay inside it.
Value as_strided(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const Shape size = a.ints(1), stride = a.ints(2);
  if (size.size() != stride.size())
    throw InputError("as_strided: " + std::to_string(size.size()) + " sizes but " + std::to_string(stride.size()) + " strides");
  const int64_t off = a.opt_i64(3).value_or(x.offset());
  int64_t hi = off;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] < 0 || stride[i] < 0) throw InputError("as_strided: negative size or stride");
    if (size[i] == 0) { hi = -1; break; }
    hi += (size[i] - 1) * stride[i];
  }
  if (off < 0) throw InputError("as_strided: negative storage offset");
  if (!x.is_meta() && hi >= 0 && static_cast<size_t>(hi + 1) * dtype_size(x.dtype()) > x.storage()->bytes)
    throw InputError("as_strided: the view reaches element " + std::to_string(hi) + ", beyond the storage of " +
                     std::to_string(x.storage()->bytes / dtype_size(x.dtype())) + " elements");
  return Value::of(x.as_strided(size, stride, off));
}

// diagonal(x, offset=0, dim1=0, dim2=1): a view; the diagonal becomes the last dim.
Value diagonal(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const int64_t off = a.i64(1), d1 = wrap_dim(a.i64(2), x.dim()), d2 = wrap_dim(a.i64(3), x.dim());
  if (d1 == d2) throw InputError("diagonal: dim1 and dim2 are the same");
  int64_t len = off >= 0 ? std::min(x.shape()[d1], x.shape()[d2] - off) : std::min(x.shape()[d1] + off, x.shape()[d2]);
  len = std::max<int64_t>(len, 0);
  int64_t start = x.offset();
  if (len > 0) start += off >= 0 ? off * x.strides()[d2] : -off * x.strides()[d1];
  Shape s, st;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != d1 && d != d2) { s.push_back(x.shape()[d]); st.push_back(x.strides()[d]); }
  s.push_back(len);
  st.push_back(x.strides()[d1] + x.strides()[d2]);
  return Value::of(x.as_strided(s, st, start));
}

// _operator.getitem(seq, i): an item of a tuple/list value (negative indices count from the end).
Value getitem(const OpArgs& a, ExecContext&) {
  const Value& seq = a[0];
  const int64_t i = a.i64(1);
  if (seq.kind != Value::Kind::List) throw InputError("getitem expects a tuple or list, got " + describe(seq));
  const int64_t n = static_cast<int64_t>(seq.items.size());
  if (i < -n || i >= n) throw InputError("getitem index " + std::to_string(i) + " out of range for " + std::to_string(n) + " items");
  return seq.items[static_cast<size_t>(i < 0 ? i + n : i)];
}

// ---- copies ----

Value clone(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  return Value::of(x.to(x.dtype()));
}

namespace {
// Writes src into the `dim` slab [start, start+len) of dst (a fresh contiguous tensor).
void put_slab(const Tensor& dst, int64_t dim, int64_t start, const Tensor& src) {
  Shape s = dst.shape();
  s[dim] = src.shape()[dim];
  copy_into(dst.as_strided(s, dst.strides(), dst.offset() + start * dst.strides()[dim]), src);
}
}  // namespace

// cat(tensors, dim=0): legacy 1-d empty tensors are skipped, as PyTorch does.
Value cat(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  const std::vector<const Tensor*> ts = a.tensors(0);
  if (out.dim() == 0) return Value::of(out);
  const int64_t d = wrap_dim(a.i64(1), out.dim());
  int64_t start = 0;
  for (const Tensor* t : ts) {
    if (t->dim() == 1 && t->numel() == 0 && out.dim() != 1) continue;
    put_slab(out, d, start, *t);
    start += t->shape()[d];
  }
  return Value::of(out);
}

// stack(tensors, dim=0): cat of unsqueezed tensors.
Value stack(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  const std::vector<const Tensor*> ts = a.tensors(0);
  const int64_t d = wrap_dim(a.i64(1), out.dim());
  for (size_t i = 0; i < ts.size(); ++i) {
    Shape s = out.shape(), st = out.strides();
    s.erase(s.begin() + d);
    st.erase(st.begin() + d);
    copy_into(out.as_strided(s, st, out.offset() + static_cast<int64_t>(i) * out.strides()[d]), *ts[i]);
  }
  return Value::of(out);
}

// constant_pad_nd(x, pad, value=0): pad pairs from the last dim backwards; negative pads crop.
Value constant_pad_nd(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> pad = a.ints(1);
  Tensor out = a.empty_out();
  fill_value(out, a[2]);
  // The region of x that lands in out: per dim, source [s0, s1) to destination offset.
  Shape src_shape = x.shape(), src_st = x.strides(), dst_shape = out.shape();
  int64_t src_off = x.offset(), dst_off = out.offset();
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    const int64_t d = x.dim() - 1 - static_cast<int64_t>(k);
    const int64_t lo = pad[2 * k], hi = pad[2 * k + 1];
    int64_t s0 = lo < 0 ? -lo : 0, s1 = x.shape()[d] - (hi < 0 ? -hi : 0);
    const int64_t len = std::max<int64_t>(0, s1 - s0);
    src_off += s0 * x.strides()[d];
    dst_off += (lo > 0 ? lo : 0) * out.strides()[d];
    src_shape[d] = len;
    dst_shape[d] = len;
  }
  if (x.numel() > 0 && out.numel() > 0)
    copy_into(out.as_strided(dst_shape, out.strides(), dst_off), x.as_strided(src_shape, src_st, src_off));
  return Value::of(out);
}

// slice_scatter(x, src, dim=0, start=None, end=None, step=1): a copy of x with the slice replaced by src.
Value slice_scatter(const OpArgs& a, ExecContext& ctx) {
  const Tensor& x = a.tensor(0);
  Tensor out = x.to(x.dtype());
  // The slice view of out, computed by the slice kernel on a decoded argument list.
  std::vector<Value> sv{Value::of(out), a[2], a[3], a[4], a[5]};
  static const Schema kSlice = parse_schema("slice.Tensor(Tensor self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor");
  const OpArgs sa(kSlice, a.node(), std::move(sv));
  const Tensor view = slice(sa, ctx).tensor;
  const Tensor& src = a.tensor(1);
  if (view.shape() != src.shape())
    throw InputError("slice_scatter: src has shape " + shape_str(src.shape()) + " but the slice is " + shape_str(view.shape()));
  copy_into(view, src);
  return Value::of(out);
}

// select_scatter(x, src, dim, index): a copy of x with x.select(dim, index) replaced by src.
Value select_scatter(const OpArgs& a, ExecContext& ctx) {
  const Tensor& x = a.tensor(0);
  Tensor out = x.to(x.dtype());
  static const Schema kSelect = parse_schema("select.int(Tensor self, int dim, SymInt index) -> Tensor");
  const OpArgs sa(kSelect, a.node(), std::vector<Value>{Value::of(out), a[2], a[3]});
  const Tensor view = select(sa, ctx).tensor;
  const Tensor& src = a.tensor(1);
  if (view.shape() != src.shape())
    throw InputError("select_scatter: src has shape " + shape_str(src.shape()) + " but the selection is " + shape_str(view.shape()));
  copy_into(view, src);
  return Value::of(out);
}

// copy(self, src, non_blocking=False): src broadcast to self's shape, in self's dtype (a new tensor).
Value copy(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  copy_into(out, a.tensor(1));
  return Value::of(out);
}

// copy_(self, src): writes into self's storage and returns self (an in-place op in the graph).
Value copy_inplace(const OpArgs& a, ExecContext&) {
  const Tensor& self = a.tensor(0);
  copy_into(self, a.tensor(1).contiguous());
  return Value::of(self);
}

// repeat(x, repeats): tiles x; len(repeats) >= x.dim().
Value repeat(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const std::vector<int64_t> reps = a.ints(1);
  Tensor out = a.empty_out();
  if (out.numel() == 0) return Value::of(out);
  // View out as (r0, s0, r1, s1, ...) and copy x broadcast over the r dims.
  const size_t nd = reps.size(), lead = nd - static_cast<size_t>(x.dim());
  Shape vs, vst, xs, xst;
  for (size_t i = 0; i < nd; ++i) {
    const int64_t s = i < lead ? 1 : x.shape()[i - lead];
    vs.push_back(reps[i]);
    vst.push_back(out.strides()[i] * s);
    vs.push_back(s);
    vst.push_back(out.strides()[i]);
    xs.push_back(1);
    xst.push_back(0);
    xs.push_back(s);
    xst.push_back(i < lead ? 0 : x.strides()[i - lead]);
  }
  copy_into(out.as_strided(vs, vst, out.offset()), x.as_strided(xs, xst, x.offset()));
  return Value::of(out);
}

// flip(x, dims): a copy with the dims reversed.
Value flip(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  Shape st = x.strides();
  int64_t off = x.offset();
  for (int64_t d : a.ints(1)) {
    const int64_t w = wrap_dim(d, x.dim());
    if (x.shape()[w] > 0) off += (x.shape()[w] - 1) * st[w];
    st[w] = -st[w];
  }
  Tensor out = a.empty_out();
  if (out.numel() > 0) copy_into(out, x.as_strided(x.shape(), st, off));
  return Value::of(out);
}

// tril/triu(x, diagonal=0) over the last two dims.
template <bool kUpper>
Value tri(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  if (x.dim() < 2) throw InputError("tril/triu need at least 2 dimensions, got " + shape_str(x.shape()));
  const int64_t k = a.i64(1);
  Tensor out = x.to(x.dtype());
  const int64_t r = x.shape()[x.dim() - 2], c = x.shape()[x.dim() - 1];
  const int64_t batch = (r != 0 && c != 0) ? out.numel() / (r * c) : 0;
  const size_t es = dtype_size(x.dtype());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) {
        const bool keep = kUpper ? j - i >= k : j - i <= k;
        if (!keep) std::memset(out.raw() + ((b * r + i) * c + j) * es, 0, es);
      }
  return Value::of(out);
}
template Value tri<true>(const OpArgs&, ExecContext&);
template Value tri<false>(const OpArgs&, ExecContext&);

// ---- factories: the meta rule gives dtype and shape ----

// full(size, fill_value, *, dtype, ...) / full_like(x, fill_value, ...): argument 1 is the value.
Value full(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  fill_value(out, a[1]);
  return Value::of(out);
}
Value zeros(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  fill_value(out, Value::integer(0));
  return Value::of(out);
}
Value ones(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  fill_value(out, Value::integer(1));
  return Value::of(out);
}
// empty/empty_like/empty_strided: zero-filled, so runs are deterministic.
Value empty(const OpArgs& a, ExecContext& ctx) { return zeros(a, ctx); }
Value scalar_tensor(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  fill_value(out, a[0]);
  return Value::of(out);
}

ArangeParams arange_params(const OpArgs& a) {
  ArangeParams p;
  bool all_int = true;
  size_t dtype_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string& n = a.schema().args[i].name;
    if (n == "start" || n == "end" || n == "step") {
      const Value& v = a.scalar(i);
      all_int = all_int && v.kind != Value::Kind::Float;
      (n == "start" ? p.start : n == "end" ? p.end : p.step) = v.as_double();
    } else if (n == "dtype") {
      dtype_at = i;
    }
  }
  p.dtype = a.opt_dtype(dtype_at).value_or(all_int ? DType::I64 : DType::F32);
  if (p.step == 0 || !std::isfinite(p.start) || !std::isfinite(p.end))
    throw InputError("arange: step must be nonzero and the bounds finite");
  const double len = std::ceil((p.end - p.start) / p.step);
  if (len > 1e15) throw InputError("arange: too many elements");
  p.length = len > 0 ? static_cast<int64_t>(len) : 0;
  return p;
}

// arange: values start + i*step computed in the output's domain.
Value arange(const OpArgs& a, ExecContext&) {
  const ArangeParams p = arange_params(a);
  Tensor out = a.empty_out();
  const int64_t n = out.numel();
  if (is_integral(out.dtype())) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    const int64_t s0 = static_cast<int64_t>(p.start), st = static_cast<int64_t>(p.step);
    for (int64_t i = 0; i < n; ++i) v[i] = s0 + i * st;
    scatter<int64_t>(out, 0, n, v.data());
  } else {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[i] = p.start + static_cast<double>(i) * p.step;
    scatter<double>(out, 0, n, v.data());
  }
  return Value::of(out);
}

// prims.iota(length, *, start, step, dtype, device, requires_grad).
Value iota(const OpArgs& a, ExecContext&) {
  Tensor out = a.empty_out();
  const int64_t n = out.numel(), start = a.i64(1), step = a.i64(2);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + i * step;
  scatter<int64_t>(out, 0, n, v.data());
  return Value::of(out);
}

}  // namespace fxopt::rt::cpu
