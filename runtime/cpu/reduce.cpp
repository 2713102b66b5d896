// Reduction CPU kernels: sum, mean, amax/amin, max.dim/min.dim. A float32 reduction over a row adds in
// the canonical order of runtime/numerics.h (row_sum_f32), the order every GPU kernel also uses.
#include <cmath>

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// x viewed as (outer, inner) rows: the kept dims first (in order), the reduced dims last.
struct Plan {
  Shape out_shape;  // with or without the kept size-1 dims
  int64_t outer = 1, inner = 1;
  Tensor rows;      // the permuted view
};

Plan plan(const Tensor& x, std::optional<std::vector<int64_t>> dims, bool keepdim) {
  const int64_t nd = x.dim();
  std::vector<bool> red(static_cast<size_t>(nd), false);
  if (!dims || dims->empty()) {
    std::fill(red.begin(), red.end(), true);
  } else {
    for (int64_t d : *dims) {
      const int64_t w = wrap_dim(d, nd);
      if (nd > 0) {
        if (red[w]) throw InputError("dimension " + std::to_string(d) + " appears twice in the reduction");
        red[w] = true;
      }
    }
  }
  Plan p;
  Shape shape, strides;
  for (int64_t d = 0; d < nd; ++d)
    if (!red[d]) {
      shape.push_back(x.shape()[d]);
      strides.push_back(x.strides()[d]);
      p.outer *= x.shape()[d];
      p.out_shape.push_back(x.shape()[d]);
    } else if (keepdim) {
      p.out_shape.push_back(1);
    }
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) {
      shape.push_back(x.shape()[d]);
      strides.push_back(x.strides()[d]);
      p.inner *= x.shape()[d];
    }
  p.rows = x.as_strided(shape, strides, x.offset());
  return p;
}

// Row r's values in compute type C, contiguous: a pointer into x when possible, else into a converted copy.
template <class C>
struct Rows {
  Tensor holder;
  const C* base = nullptr;
  explicit Rows(const Plan& p) {
    holder = is_native<C>(p.rows.dtype()) ? p.rows.contiguous() : p.rows.to(std::is_same_v<C, float> ? DType::F32
                                                                              : std::is_same_v<C, double> ? DType::F64
                                                                                                          : DType::I64);
    base = holder.template data<C>();
  }
  const C* row(int64_t r, int64_t inner) const { return base + r * inner; }
};

template <class C>
C row_sum(const C* v, int64_t n) {
  if constexpr (std::is_same_v<C, float>) {
    return num::row_sum_f32(v, n);
  } else {
    C s = 0;
    for (int64_t j = 0; j < n; ++j) s += v[j];
    return s;
  }
}

Value sum_mean(const KernelArgs& in, bool mean, bool has_dims) {
  const Tensor& x = tensor_arg(in, 0, "self");
  std::optional<std::vector<int64_t>> dims;
  bool keepdim = false;
  std::optional<DType> dt;
  if (has_dims) {
    dims = int_list_arg(in, 1, "dim");
    keepdim = bool_arg(in, 2, "keepdim", false);
    dt = dtype_arg(in, 3, "dtype");
  } else {
    dt = dtype_arg(in, 1, "dtype");
  }
  const DType src = dt ? *dt : x.dtype();
  DType out = src;
  if (!dt && is_integral(x.dtype())) {
    if (mean) throw InputError(std::string("mean of a ") + dtype_name(x.dtype()) + " tensor needs a floating dtype");
    out = DType::I64;
  }
  const Tensor xin = dt && *dt != x.dtype() ? x.to(*dt) : x;
  const Plan p = plan(xin, dims, keepdim);
  Tensor o = Tensor::empty(out, p.out_shape);
  auto run = [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<C> res(static_cast<size_t>(p.outer));
    for (int64_t r = 0; r < p.outer; ++r) {
      C s = row_sum<C>(rows.row(r, p.inner), p.inner);
      if (mean) s = s / static_cast<C>(p.inner);
      res[r] = s;
    }
    scatter<C>(o, 0, p.outer, res.data());
  };
  if (out == DType::F64) run(0.0);
  else if (is_floating(out)) run(0.0f);
  else run(int64_t{0});
  return Value::of(o);
}

Value sum_dim(const Node&, const KernelArgs& in, ExecContext&) { return sum_mean(in, false, true); }
Value mean_dim(const Node&, const KernelArgs& in, ExecContext&) { return sum_mean(in, true, true); }
Value sum_all(const Node&, const KernelArgs& in, ExecContext&) { return sum_mean(in, false, false); }
Value mean_all(const Node&, const KernelArgs& in, ExecContext&) { return sum_mean(in, true, false); }

// max/min over rows, NaN propagating; with indices: the first index of the extreme (or of the first NaN).
template <bool kMax>
void extreme(const Plan& p, const Tensor& values, const Tensor* indices) {
  if (p.inner == 0) throw InputError("max/min of an empty dimension");
  auto run = [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<C> res(static_cast<size_t>(p.outer));
    std::vector<int64_t> idx(static_cast<size_t>(p.outer));
    for (int64_t r = 0; r < p.outer; ++r) {
      const C* v = rows.row(r, p.inner);
      C best = v[0];
      int64_t bi = 0;
      for (int64_t j = 1; j < p.inner && best == best; ++j) {
        const C x = v[j];
        if (x != x || (kMax ? x > best : x < best)) {
          best = x;
          bi = j;
        }
      }
      res[r] = best;
      idx[r] = bi;
    }
    scatter<C>(values, 0, p.outer, res.data());
    if (indices) scatter<int64_t>(*indices, 0, p.outer, idx.data());
  };
  const DType d = values.dtype();
  if (d == DType::F64) run(0.0);
  else if (is_floating(d)) run(0.0f);
  else run(int64_t{0});
}

template <bool kMax>
Value amax(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const Plan p = plan(x, int_list_arg(in, 1, "dim"), bool_arg(in, 2, "keepdim", false));
  Tensor o = Tensor::empty(x.dtype(), p.out_shape);
  extreme<kMax>(p, o, nullptr);
  return Value::of(o);
}

template <bool kMax>
Value max_all(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const Plan p = plan(x, std::nullopt, false);
  Tensor o = Tensor::empty(x.dtype(), p.out_shape);
  extreme<kMax>(p, o, nullptr);
  return Value::of(o);
}

// max.dim(x, dim, keepdim=False) -> (values, indices int64).
template <bool kMax>
Value max_dim(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  const int64_t d = int_arg(in, 1, "dim");
  const Plan p = plan(x, std::vector<int64_t>{d}, bool_arg(in, 2, "keepdim", false));
  Tensor values = Tensor::empty(x.dtype(), p.out_shape);
  Tensor indices = Tensor::empty(DType::I64, p.out_shape);
  extreme<kMax>(p, values, &indices);
  return Value::list({Value::of(values), Value::of(indices)});
}

}  // namespace

void register_reduce(KernelTable& t) {
  t["aten.sum.dim_IntList"] = sum_dim;
  t["aten.sum.default"] = sum_all;
  t["aten.mean.dim"] = mean_dim;
  t["aten.mean.default"] = mean_all;
  t["aten.amax.default"] = amax<true>;
  t["aten.amin.default"] = amax<false>;
  t["aten.max.default"] = max_all<true>;
  t["aten.min.default"] = max_all<false>;
  t["aten.max.dim"] = max_dim<true>;
  t["aten.min.dim"] = max_dim<false>;
}

}  // namespace fxopt::rt::cpu
