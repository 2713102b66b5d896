// Indexing CPU kernels: embedding, index_select, gather, scatter/scatter_add/scatter_reduce, index.Tensor and
// index_put. Elements move as bytes (exact for every dtype); an index out of range is an InputError naming
// the index, where it was found and the size it had to fit.
#include <cstring>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

std::string position(const Shape& shape, int64_t linear) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] > 0 ? linear % shape[d] : 0;
    linear = shape[d] > 0 ? linear / shape[d] : 0;
  }
  return shape_str(idx);
}

// The element offset (relative to t.raw()) of row-major position `linear` of t.
int64_t elem_offset(const Shape& shape, const Shape& strides, int64_t linear) {
  int64_t off = 0;
  for (size_t d = shape.size(); d-- > 0;) {
    off += (linear % shape[d]) * strides[d];
    linear /= shape[d];
  }
  return off;
}

// An integer index tensor as contiguous int64 values.
std::vector<int64_t> index_values(const Tensor& idx, const char* what, bool allow_int32 = true) {
  if (idx.dtype() != DType::I64 && !(allow_int32 && idx.dtype() == DType::I32))
    throw InputError(std::string(what) + " must be int64" + (allow_int32 ? " or int32" : "") + ", got " +
                     dtype_name(idx.dtype()));
  const Tensor c = idx.to(DType::I64);
  const int64_t* p = c.data<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

// Checks v in [-size, size) (negatives wrap) or [0, size) and returns the wrapped index.
int64_t checked_index(int64_t v, int64_t size, bool allow_negative, const char* what, const Shape& where_shape,
                      int64_t where, int64_t dim) {
  if (v >= size || v < (allow_negative ? -size : 0)) throw InputError(index_out_of_range(what, v, where_shape, where, dim, size));
  return v < 0 ? v + size : v;
}

void copy_elem(std::byte* dst, const std::byte* src, size_t es) { std::memcpy(dst, src, es); }

}  // namespace

std::string index_out_of_range(const char* what, int64_t value, const Shape& index_shape, int64_t linear, int64_t dim,
                               int64_t size) {
  return std::string(what) + " value " + std::to_string(value) + " at position " + position(index_shape, linear) +
         " is out of range for dimension " + std::to_string(dim) + " of size " + std::to_string(size);
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  if (weight.dim() != 2) throw InputError("embedding weight must be 2-d, got " + shape_str(weight.shape()));
  const std::vector<int64_t> idx = index_values(indices, "embedding indices");
  const int64_t rows = weight.shape()[0], d = weight.shape()[1];
  Shape shape = indices.shape();
  shape.push_back(d);
  Tensor out = Tensor::empty(weight.dtype(), shape);
  const Tensor w = weight.contiguous();
  const size_t row_bytes = static_cast<size_t>(d) * dtype_size(weight.dtype());
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t r = checked_index(idx[i], rows, false, "embedding index", indices.shape(), static_cast<int64_t>(i), 0);
    if (row_bytes) std::memcpy(out.raw() + i * row_bytes, w.raw() + r * row_bytes, row_bytes);
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  if (index.dim() > 1) throw InputError("index_select index must be 0-d or 1-d, got " + shape_str(index.shape()));
  const int64_t nd = x.dim();
  dim = wrap_dim(dim, nd);
  const std::vector<int64_t> idx = index_values(index, "index_select index");
  const Tensor xc = x.contiguous();
  const int64_t size = nd == 0 ? 1 : x.shape()[dim];
  Shape shape = x.shape();
  if (nd > 0) shape[dim] = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::empty(x.dtype(), shape);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (int64_t d = dim + 1; d < nd; ++d) inner *= x.shape()[d];
  const size_t chunk = static_cast<size_t>(inner) * dtype_size(x.dtype());
  std::vector<int64_t> rows(idx.size());
  for (size_t j = 0; j < idx.size(); ++j)
    rows[j] = checked_index(idx[j], size, false, "index_select index", index.shape(), static_cast<int64_t>(j), dim);
  const int64_t n = static_cast<int64_t>(idx.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      if (chunk) std::memcpy(out.raw() + (o * n + j) * chunk, xc.raw() + (o * size + rows[j]) * chunk, chunk);
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const int64_t nd = x.dim();
  dim = wrap_dim(dim, nd);
  if (index.dim() != nd && !(nd == 0 && index.dim() <= 1))
    throw InputError("gather index must have as many dims as the input (" + std::to_string(nd) + "), got " +
                     shape_str(index.shape()));
  for (int64_t d = 0; d < index.dim() && nd > 0; ++d)
    if (d != dim && index.shape()[d] > x.shape()[d])
      throw InputError("gather index shape " + shape_str(index.shape()) + " exceeds the input shape " +
                       shape_str(x.shape()) + " in dimension " + std::to_string(d));
  if (index.dtype() != DType::I64) throw InputError(std::string("gather index must be int64, got ") + dtype_name(index.dtype()));
  const std::vector<int64_t> idx = index_values(index, "gather index", false);
  Tensor out = Tensor::empty(x.dtype(), index.shape());
  const size_t es = dtype_size(x.dtype());
  const int64_t size = nd == 0 ? 1 : x.shape()[dim];
  const Shape& ishape = index.shape();
  std::vector<int64_t> pos(ishape.size(), 0);
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t t = checked_index(idx[i], size, false, "gather index", ishape, static_cast<int64_t>(i), dim);
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += (d == dim ? t : pos[d]) * x.strides()[d];
    copy_elem(out.raw() + i * es, x.raw() + off * static_cast<int64_t>(es), es);
    for (size_t d = ishape.size(); d-- > 0;) {
      if (++pos[d] < ishape[d]) break;
      pos[d] = 0;
    }
  }
  return out;
}

namespace {

enum class Reduce { None, Sum, Prod, Mean, Amax, Amin };

Reduce parse_reduce(const std::string& r) {
  if (r.empty()) return Reduce::None;
  if (r == "sum" || r == "add") return Reduce::Sum;
  if (r == "prod" || r == "multiply") return Reduce::Prod;
  if (r == "mean") return Reduce::Mean;
  if (r == "amax") return Reduce::Amax;
  if (r == "amin") return Reduce::Amin;
  throw InputError("unknown scatter reduction '" + r + "' (expected sum, prod, mean, amax or amin)");
}

// The combining step of a reduction in compute type C.
template <class C>
C combine(Reduce r, C a, C b) {
  switch (r) {
    case Reduce::Sum:
    case Reduce::Mean: return a + b;
    case Reduce::Prod: return a * b;
    case Reduce::Amax:
      if constexpr (std::is_floating_point_v<C>) { if (a != a || b != b) return a != a ? a : b; }
      return a > b ? a : b;
    case Reduce::Amin:
      if constexpr (std::is_floating_point_v<C>) { if (a != a || b != b) return a != a ? a : b; }
      return a < b ? a : b;
    default: return b;
  }
}

// out (a contiguous copy) updated at dst offsets from values in order; mean divides by the counts after.
template <class C>
void apply_updates(Tensor& out, const std::vector<int64_t>& dst, const std::vector<C>& vals, Reduce r, bool include_self) {
  const DType dt = out.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  std::vector<int64_t> count(include_self && r != Reduce::Mean ? 0 : static_cast<size_t>(out.numel()), 0);
  for (size_t i = 0; i < dst.size(); ++i) {
    std::byte* p = out.raw() + dst[i] * es;
    C cur = load_elem<C>(dt, p);
    bool first = false;
    if (!count.empty()) first = count[dst[i]]++ == 0 && !include_self;
    store_elem<C>(dt, p, first ? vals[i] : combine<C>(r, cur, vals[i]));
  }
  if (r == Reduce::Mean) {
    for (int64_t j = 0; j < out.numel(); ++j) {
      const int64_t n = count[j] + (include_self ? 1 : 0);
      if (count[j] == 0 || n <= 1) continue;
      std::byte* p = out.raw() + j * es;
      C v = load_elem<C>(dt, p);
      if constexpr (std::is_floating_point_v<C>) {
        v = v / static_cast<C>(n);
      } else {
        const C q = v / n;
        v = (v % n != 0 && (v < 0) != (n < 0)) ? q - 1 : q;  // floor division, as PyTorch for integers
      }
      store_elem<C>(dt, p, v);
    }
  }
}

}  // namespace

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor* src, double value, const std::string& reduce,
               bool include_self) {
  const Reduce r = parse_reduce(reduce);
  const int64_t nd = x.dim();
  dim = wrap_dim(dim, nd);
  if (index.dtype() != DType::I64) throw InputError(std::string("scatter index must be int64, got ") + dtype_name(index.dtype()));
  if (index.dim() != nd && !(nd == 0 && index.dim() <= 1))
    throw InputError("scatter index must have as many dims as the input (" + std::to_string(nd) + "), got " +
                     shape_str(index.shape()));
  const Shape& ishape = index.shape();
  for (int64_t d = 0; d < index.dim() && nd > 0; ++d) {
    if (d != dim && ishape[d] > x.shape()[d])
      throw InputError("scatter index shape " + shape_str(ishape) + " exceeds the input shape " + shape_str(x.shape()) +
                       " in dimension " + std::to_string(d));
    if (src && (src->dim() != index.dim() || ishape[d] > src->shape()[d]))
      throw InputError("scatter index shape " + shape_str(ishape) + " exceeds the source shape " + shape_str(src->shape()));
  }
  if (src && src->dtype() != x.dtype())
    throw InputError(std::string("scatter source dtype ") + dtype_name(src->dtype()) + " differs from the input's " +
                     dtype_name(x.dtype()));
  const std::vector<int64_t> idx = index_values(index, "scatter index", false);
  Tensor out = x.to(x.dtype());
  const Shape ostrides = out.strides();
  const int64_t size = nd == 0 ? 1 : x.shape()[dim];
  std::vector<int64_t> dst(idx.size()), srcoff(idx.size());
  std::vector<int64_t> pos(ishape.size(), 0);
  for (size_t i = 0; i < idx.size(); ++i) {
    const int64_t t = checked_index(idx[i], size, false, "scatter index", ishape, static_cast<int64_t>(i), dim);
    int64_t o = 0, s = 0;
    for (int64_t d = 0; d < nd; ++d) {
      o += (d == dim ? t : pos[d]) * ostrides[d];
      if (src) s += pos[d] * src->strides()[d];
    }
    dst[i] = o;
    srcoff[i] = s;
    for (size_t d = ishape.size(); d-- > 0;) {
      if (++pos[d] < ishape[d]) break;
      pos[d] = 0;
    }
  }
  const DType dt = x.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  if (r == Reduce::None) {
    Tensor v = src ? Tensor() : scalar_tensor(value, dt);
    for (size_t i = 0; i < dst.size(); ++i)
      copy_elem(out.raw() + dst[i] * es, src ? src->raw() + srcoff[i] * es : v.raw(), static_cast<size_t>(es));
    return out;
  }
  auto run = [&](auto zero) {
    using C = decltype(zero);
    std::vector<C> vals(dst.size());
    for (size_t i = 0; i < dst.size(); ++i)
      vals[i] = src ? load_elem<C>(dt, src->raw() + srcoff[i] * es) : static_cast<C>(value);
    apply_updates<C>(out, dst, vals, r, include_self);
  };
  if (is_floating(dt)) run(0.0);
  else run(int64_t{0});
  return out;
}

namespace {

// Where x[indices] reads: the result shape and, for each result element in row-major order, its element
// offset in x (relative to x.raw()).
struct IndexPlan {
  Shape shape;
  std::vector<int64_t> offsets;
};

IndexPlan plan_index(const Tensor& x, const std::vector<std::optional<Tensor>>& indices) {
  // Masks become their nonzero() coordinates, one int64 tensor per masked dim.
  std::vector<std::optional<Tensor>> idx;
  for (const auto& t : indices) {
    if (t && (t->dtype() == DType::Bool || t->dtype() == DType::U8)) {
      const size_t first = idx.size();
      if (first + t->dim() > static_cast<size_t>(x.dim()))
        throw InputError("index mask " + shape_str(t->shape()) + " has more dims than the indexed tensor " +
                         shape_str(x.shape()));
      for (int64_t d = 0; d < t->dim(); ++d)
        if (t->shape()[d] != x.shape()[first + d])
          throw InputError("index mask shape " + shape_str(t->shape()) + " does not match the indexed shape " +
                           shape_str(x.shape()) + " at dimension " + std::to_string(first + d));
      std::vector<std::vector<int64_t>> coords(static_cast<size_t>(t->dim()));
      for (int64_t i = 0; i < t->numel(); ++i) {
        if (t->value_at(i) == 0) continue;
        int64_t lin = i;
        for (int64_t d = t->dim(); d-- > 0;) {
          coords[d].push_back(lin % t->shape()[d]);
          lin /= t->shape()[d];
        }
      }
      for (auto& c : coords) {
        Tensor ct = Tensor::empty(DType::I64, {static_cast<int64_t>(c.size())});
        if (!c.empty()) std::memcpy(ct.raw(), c.data(), c.size() * sizeof(int64_t));
        idx.emplace_back(ct);
      }
    } else {
      idx.push_back(t);
    }
  }
  if (idx.size() > static_cast<size_t>(x.dim()))
    throw InputError("too many indices (" + std::to_string(idx.size()) + ") for a " + std::to_string(x.dim()) + "-d tensor");
  // The indexed dims, their broadcast shape, and whether they are adjacent.
  std::vector<int64_t> idims;
  std::vector<Shape> ishapes;
  std::vector<std::vector<int64_t>> ivals;
  for (size_t d = 0; d < idx.size(); ++d) {
    if (!idx[d]) continue;
    idims.push_back(static_cast<int64_t>(d));
    ishapes.push_back(idx[d]->shape());
    ivals.push_back(index_values(*idx[d], "index"));
  }
  if (idims.empty()) {
    IndexPlan p{x.shape(), {}};
    for (int64_t i = 0; i < x.numel(); ++i) p.offsets.push_back(elem_offset(x.shape(), x.strides(), i));
    return p;
  }
  const Shape bshape = broadcast_shapes(ishapes);
  // Check every index value first, so a bad one is reported with its own position.
  for (size_t k = 0; k < idims.size(); ++k)
    for (size_t i = 0; i < ivals[k].size(); ++i)
      ivals[k][i] = checked_index(ivals[k][i], x.shape()[idims[k]], true, "index", ishapes[k], static_cast<int64_t>(i),
                                  idims[k]);
  bool adjacent = true;
  for (size_t k = 1; k < idims.size(); ++k) adjacent = adjacent && idims[k] == idims[k - 1] + 1;
  // Result dims: (kind, which): kind 0 = a kept dim of x, 1 = a broadcast-index dim.
  std::vector<std::pair<int, int64_t>> rdims;
  auto kept = [&](int64_t d) { return std::find(idims.begin(), idims.end(), d) == idims.end(); };
  const int64_t insert_at = adjacent ? idims.front() : 0;
  for (int64_t d = 0; d < insert_at; ++d)
    if (kept(d)) rdims.emplace_back(0, d);
  for (size_t b = 0; b < bshape.size(); ++b) rdims.emplace_back(1, static_cast<int64_t>(b));
  for (int64_t d = insert_at; d < x.dim(); ++d)
    if (kept(d)) rdims.emplace_back(0, d);
  IndexPlan p;
  for (const auto& [kind, which] : rdims) p.shape.push_back(kind == 0 ? x.shape()[which] : bshape[which]);
  // Broadcast strides of each index tensor over bshape (contiguous values).
  std::vector<Shape> bstrides;
  for (size_t k = 0; k < idims.size(); ++k) {
    const Shape cs = Tensor::contiguous_strides(ishapes[k]);
    Shape st(bshape.size(), 0);
    const size_t lead = bshape.size() - ishapes[k].size();
    for (size_t i = 0; i < ishapes[k].size(); ++i) st[lead + i] = ishapes[k][i] == 1 ? 0 : cs[i];
    bstrides.push_back(st);
  }
  int64_t total = 1;
  for (int64_t s : p.shape) total *= s;
  p.offsets.resize(static_cast<size_t>(total));
  std::vector<int64_t> pos(p.shape.size(), 0);
  std::vector<int64_t> bpos(bshape.size());
  for (int64_t i = 0; i < total; ++i) {
    int64_t off = 0;
    for (size_t r = 0; r < rdims.size(); ++r) {
      if (rdims[r].first == 0) off += pos[r] * x.strides()[rdims[r].second];
      else bpos[rdims[r].second] = pos[r];
    }
    for (size_t k = 0; k < idims.size(); ++k) {
      int64_t li = 0;
      for (size_t b = 0; b < bshape.size(); ++b) li += bpos[b] * bstrides[k][b];
      off += ivals[k][li] * x.strides()[idims[k]];
    }
    p.offsets[i] = off;
    for (size_t d = pos.size(); d-- > 0;) {
      if (++pos[d] < p.shape[d]) break;
      pos[d] = 0;
    }
  }
  return p;
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<std::optional<Tensor>>& indices) {
  const IndexPlan p = plan_index(x, indices);
  Tensor out = Tensor::empty(x.dtype(), p.shape);
  const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
  for (size_t i = 0; i < p.offsets.size(); ++i)
    copy_elem(out.raw() + static_cast<int64_t>(i) * es, x.raw() + p.offsets[i] * es, static_cast<size_t>(es));
  return out;
}

Tensor index_put(const Tensor& x, const std::vector<std::optional<Tensor>>& indices, const Tensor& values, bool accumulate) {
  if (values.dtype() != x.dtype())
    throw InputError(std::string("index_put values dtype ") + dtype_name(values.dtype()) + " differs from the input's " +
                     dtype_name(x.dtype()));
  Tensor out = x.to(x.dtype());
  const IndexPlan p = plan_index(out, indices);
  // values broadcast to the indexed shape.
  const Shape b = broadcast_shapes({p.shape, values.shape()});
  if (b != p.shape)
    throw InputError("index_put values of shape " + shape_str(values.shape()) + " cannot be broadcast to the indexed shape " +
                     shape_str(p.shape));
  const Shape vst = broadcast_strides(values, p.shape);
  const DType dt = x.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  std::vector<int64_t> voff(p.offsets.size());
  for (size_t i = 0; i < p.offsets.size(); ++i) voff[i] = elem_offset(p.shape, vst, static_cast<int64_t>(i));
  if (!accumulate) {
    for (size_t i = 0; i < p.offsets.size(); ++i)
      copy_elem(out.raw() + p.offsets[i] * es, values.raw() + voff[i] * es, static_cast<size_t>(es));
    return out;
  }
  auto run = [&](auto zero) {
    using C = decltype(zero);
    std::vector<C> vals(voff.size());
    for (size_t i = 0; i < voff.size(); ++i) vals[i] = load_elem<C>(dt, values.raw() + voff[i] * es);
    apply_updates<C>(out, p.offsets, vals, Reduce::Sum, true);
  };
  if (dt == DType::Bool) {
    for (size_t i = 0; i < p.offsets.size(); ++i)  // bool accumulate is logical or
      if (load_elem<int64_t>(dt, values.raw() + voff[i] * es)) store_elem<int64_t>(dt, out.raw() + p.offsets[i] * es, 1);
  } else if (is_floating(dt)) {
    run(0.0);
  } else {
    run(int64_t{0});
  }
  return out;
}

}  // namespace fxopt::rt::cpu
