// Shape CPU kernels: reshape/view (a view when the strides allow, else a copy), squeeze, unsqueeze,
// permute, transpose, expand (views), clone and contiguous copies, getitem on tuples and lists.
#include <numeric>

#include "runtime/cpu/kernels.h"

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

namespace {

Value reshape(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto sizes = int_list_arg(in, 1, "shape");
  if (!sizes) throw InputError("reshape needs a shape");
  const Shape shape = infer_size(*sizes, x.numel());
  if (auto st = view_strides(x, shape)) return Value::of(x.as_strided(shape, *st, x.offset()));
  Tensor c = x.contiguous();
  return Value::of(c.as_strided(shape, Tensor::contiguous_strides(shape), c.offset()));
}

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

Value squeeze_default(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  std::vector<int64_t> all(static_cast<size_t>(x.dim()));
  std::iota(all.begin(), all.end(), 0);
  return squeeze_dims(x, all);
}

Value squeeze_dim(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto dims = int_list_arg(in, 1, "dim");
  if (!dims) throw InputError("squeeze needs a dim");
  return squeeze_dims(x, *dims);
}

Value unsqueeze(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const int64_t d = wrap_dim(int_arg(in, 1, "dim"), x.dim() + 1);
  Shape s = x.shape(), st = x.strides();
  const int64_t stride = d < x.dim() ? x.shape()[d] * x.strides()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value permute(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto dims = int_list_arg(in, 1, "dims");
  if (!dims || static_cast<int64_t>(dims->size()) != x.dim())
    throw InputError("permute needs " + std::to_string(x.dim()) + " dims");
  Shape s, st;
  std::vector<bool> seen(static_cast<size_t>(x.dim()), false);
  for (int64_t d : *dims) {
    const int64_t w = wrap_dim(d, x.dim());
    if (seen[w]) throw InputError("permute: dimension " + std::to_string(d) + " repeats");
    seen[w] = true;
    s.push_back(x.shape()[w]);
    st.push_back(x.strides()[w]);
  }
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value transpose(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const int64_t a = wrap_dim(int_arg(in, 1, "dim0"), x.dim()), b = wrap_dim(int_arg(in, 2, "dim1"), x.dim());
  Shape s = x.shape(), st = x.strides();
  if (x.dim() > 0) {
    std::swap(s[a], s[b]);
    std::swap(st[a], st[b]);
  }
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value t_op(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  if (x.dim() < 2) return Value::of(x);
  if (x.dim() != 2) throw InputError("t() expects a tensor with <= 2 dimensions");
  return Value::of(x.as_strided({x.shape()[1], x.shape()[0]}, {x.strides()[1], x.strides()[0]}, x.offset()));
}

Value expand(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto sizes = int_list_arg(in, 1, "size");
  if (!sizes || static_cast<int64_t>(sizes->size()) < x.dim())
    throw InputError("expand: the number of sizes must be at least the tensor's dimension count");
  const size_t nd = sizes->size(), lead = nd - static_cast<size_t>(x.dim());
  Shape s(nd), st(nd, 0);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t want = (*sizes)[i];
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
      s[i] = want;
    } else {
      throw InputError("expand: size " + std::to_string(want) + " does not match " + std::to_string(have) +
                       " at dimension " + std::to_string(i));
    }
  }
  return Value::of(x.as_strided(s, st, x.offset()));
}

Value clone(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  return Value::of(x.to(x.dtype()));
}

Value alias(const Node&, const KernelArgs& in, ExecContext&) { return Value::of(tensor_arg(in, 0, "self")); }

// _operator.getitem(seq, i): an item of a tuple/list value (negative indices count from the end).
Value getitem(const Node&, const KernelArgs& in, ExecContext&) {
  const Value& seq = need_arg(in, 0, "a");
  const int64_t i = int_arg(in, 1, "b");
  if (seq.kind != Value::Kind::List) throw InputError("getitem expects a tuple or list, got " + describe(seq));
  const int64_t n = static_cast<int64_t>(seq.items.size());
  if (i < -n || i >= n) throw InputError("getitem index " + std::to_string(i) + " out of range for " + std::to_string(n) + " items");
  return seq.items[static_cast<size_t>(i < 0 ? i + n : i)];
}

}  // namespace

void register_shape(KernelTable& t) {
  for (const char* k : {"aten.reshape.default", "aten.view.default", "aten._unsafe_view.default"}) t[k] = reshape;
  t["aten.squeeze.default"] = squeeze_default;
  for (const char* k : {"aten.squeeze.dim", "aten.squeeze.dims"}) t[k] = squeeze_dim;
  t["aten.unsqueeze.default"] = unsqueeze;
  t["aten.permute.default"] = permute;
  t["aten.transpose.int"] = transpose;
  t["aten.t.default"] = t_op;
  t["aten.expand.default"] = expand;
  t["aten.clone.default"] = clone;
  t["aten.contiguous.default"] = clone;
  t["aten.alias.default"] = alias;
  t["_operator.getitem"] = getitem;
}

}  // namespace fxopt::rt::cpu
