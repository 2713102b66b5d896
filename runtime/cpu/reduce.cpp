// Reduction CPU kernels: sum, mean, prod, amax/amin, max/min (all and .dim), argmax/argmin, any/all,
// var/std/var_mean, softmax/log_softmax, logsumexp and the online-softmax statistics. A float32 sum over a
// row adds in the canonical order of runtime/numerics.h (row_sum_f32), the order every GPU kernel also
// uses; variances accumulate in float64. Output dtype and shape come from the meta rules
// (runtime/ops/reduce.cpp); reduce_plan is shared with them.
#include <cmath>
#include <limits>

#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {

ReducePlan reduce_plan(const Tensor& x, const std::optional<std::vector<int64_t>>& dims, bool keepdim) {
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
  ReducePlan p;
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

namespace {

// Row r's values in compute type C, contiguous: a pointer into x when possible, else into a converted copy.
template <class C>
struct Rows {
  Tensor holder;
  const C* base = nullptr;
  explicit Rows(const ReducePlan& p) {
    holder = is_native<C>(p.rows.dtype()) ? p.rows.contiguous()
                                          : p.rows.to(std::is_same_v<C, float>    ? DType::F32
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

// Runs f(tag) with tag a float, double or int64_t for the compute domain of d.
template <class F>
void in_domain(DType d, F f) {
  switch (domain_of(d)) {
    case Domain::F32: f(0.0f); break;
    case Domain::F64: f(0.0); break;
    default: f(int64_t{0}); break;
  }
}

// sum/mean/prod over rows; `src` is the dtype the values are read in (the dtype= argument, else x's).
template <int kOp>  // 0 sum, 1 mean, 2 prod
Value sum_like(const OpArgs& a, const Tensor& x, const std::optional<std::vector<int64_t>>& dims, bool keepdim,
               std::optional<DType> dt) {
  const Tensor xin = dt && *dt != x.dtype() ? x.to(*dt) : x;
  const ReducePlan p = reduce_plan(xin, dims, keepdim);
  Tensor o = a.empty_out();
  in_domain(o.dtype(), [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<C> res(static_cast<size_t>(p.outer));
    for (int64_t r = 0; r < p.outer; ++r) {
      const C* v = rows.row(r, p.inner);
      C s;
      if constexpr (kOp == 2) {
        s = 1;
        for (int64_t j = 0; j < p.inner; ++j) s *= v[j];
      } else {
        s = row_sum<C>(v, p.inner);
        if (kOp == 1) s = s / static_cast<C>(p.inner);
      }
      res[r] = s;
    }
    scatter<C>(o, 0, p.outer, res.data());
  });
  return Value::of(o);
}

}  // namespace

Value sum_dim(const OpArgs& a, ExecContext&) { return sum_like<0>(a, a.tensor(0), a.opt_ints(1), a.flag(2), a.opt_dtype(3)); }
Value mean_dim(const OpArgs& a, ExecContext&) { return sum_like<1>(a, a.tensor(0), a.opt_ints(1), a.flag(2), a.opt_dtype(3)); }
Value sum_all(const OpArgs& a, ExecContext&) { return sum_like<0>(a, a.tensor(0), std::nullopt, false, a.opt_dtype(1)); }
Value mean_all(const OpArgs& a, ExecContext&) { return sum_like<1>(a, a.tensor(0), std::nullopt, false, a.opt_dtype(1)); }
Value prod_all(const OpArgs& a, ExecContext&) { return sum_like<2>(a, a.tensor(0), std::nullopt, false, a.opt_dtype(1)); }
Value prod_dim(const OpArgs& a, ExecContext&) {
  return sum_like<2>(a, a.tensor(0), std::vector<int64_t>{a.i64(1)}, a.flag(2), a.opt_dtype(3));
}

namespace {

// max/min over rows, NaN propagating; with indices: the first index of the extreme (or of the first NaN).
template <bool kMax>
void extreme(const ReducePlan& p, const Tensor* values, const Tensor* indices) {
  if (p.inner == 0) throw InputError("max/min/argmax of an empty dimension");
  in_domain(p.rows.dtype(), [&](auto tag) {
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
    if (values) scatter<C>(*values, 0, p.outer, res.data());
    if (indices) scatter<int64_t>(*indices, 0, p.outer, idx.data());
  });
}

}  // namespace

template <bool kMax>
Value amax(const OpArgs& a, ExecContext&) {
  const ReducePlan p = reduce_plan(a.tensor(0), a.ints(1), a.flag(2));
  Tensor o = a.empty_out();
  if (o.numel() > 0) extreme<kMax>(p, &o, nullptr);
  return Value::of(o);
}
template Value amax<true>(const OpArgs&, ExecContext&);
template Value amax<false>(const OpArgs&, ExecContext&);

template <bool kMax>
Value max_all(const OpArgs& a, ExecContext&) {
  const ReducePlan p = reduce_plan(a.tensor(0), std::nullopt, false);
  Tensor o = a.empty_out();
  extreme<kMax>(p, &o, nullptr);
  return Value::of(o);
}
template Value max_all<true>(const OpArgs&, ExecContext&);
template Value max_all<false>(const OpArgs&, ExecContext&);

// max.dim(x, dim, keepdim=False) -> (values, indices int64).
template <bool kMax>
Value max_dim(const OpArgs& a, ExecContext&) {
  const ReducePlan p = reduce_plan(a.tensor(0), std::vector<int64_t>{a.i64(1)}, a.flag(2));
  Tensor values = a.empty_out(0), indices = a.empty_out(1);
  if (values.numel() > 0) extreme<kMax>(p, &values, &indices);
  return Value::list({Value::of(values), Value::of(indices)});
}
template Value max_dim<true>(const OpArgs&, ExecContext&);
template Value max_dim<false>(const OpArgs&, ExecContext&);

// argmax(x, dim=None, keepdim=False): over the flattened tensor when dim is None.
template <bool kMax>
Value argmax(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  auto d = a.opt_i64(1);
  const ReducePlan p = reduce_plan(x, d ? std::optional<std::vector<int64_t>>(std::vector<int64_t>{*d}) : std::nullopt,
                                   d ? a.flag(2) : false);
  Tensor o = a.empty_out();
  if (o.numel() > 0) extreme<kMax>(p, nullptr, &o);
  return Value::of(o);
}
template Value argmax<true>(const OpArgs&, ExecContext&);
template Value argmax<false>(const OpArgs&, ExecContext&);

// any/all: bool results (uint8 for uint8 input, as PyTorch).
template <bool kAny>
Value any_all(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  std::optional<std::vector<int64_t>> dims;
  bool keepdim = false;
  if (a.size() > 1) {
    const Value& dv = a[1];
    if (dv.kind == Value::Kind::Int) dims = std::vector<int64_t>{dv.i};
    else if (dv.kind == Value::Kind::List) dims = a.ints(1);
    keepdim = a.flag(2);
  }
  const ReducePlan p = reduce_plan(x, dims, keepdim);
  Tensor o = a.empty_out();
  in_domain(x.dtype(), [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<int64_t> res(static_cast<size_t>(p.outer));
    for (int64_t r = 0; r < p.outer; ++r) {
      const C* v = rows.row(r, p.inner);
      bool acc = !kAny;
      for (int64_t j = 0; j < p.inner; ++j) {
        const bool t = v[j] != C{0};
        if (kAny && t) { acc = true; break; }
        if (!kAny && !t) { acc = false; break; }
      }
      res[r] = acc;
    }
    scatter<int64_t>(o, 0, p.outer, res.data());
  });
  return Value::of(o);
}
template Value any_all<true>(const OpArgs&, ExecContext&);
template Value any_all<false>(const OpArgs&, ExecContext&);

// var/std/var_mean.correction(x, dim=None, *, correction=None (1), keepdim=False), in float64.
template <int kOp>  // 0 var, 1 std, 2 var_mean
Value var_like(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const double corr = a.opt_f64(2).value_or(1.0);
  const ReducePlan p = reduce_plan(x, a.opt_ints(1), a.flag(3));
  Tensor v = a.empty_out(0);
  Tensor m = kOp == 2 ? a.empty_out(1) : Tensor();
  Rows<double> rows(p);
  std::vector<double> vr(static_cast<size_t>(p.outer)), mr(static_cast<size_t>(p.outer));
  for (int64_t r = 0; r < p.outer; ++r) {
    const double* row = rows.row(r, p.inner);
    double s = 0;
    for (int64_t j = 0; j < p.inner; ++j) s += row[j];
    const double mean = s / static_cast<double>(p.inner);
    double ss = 0;
    for (int64_t j = 0; j < p.inner; ++j) ss += (row[j] - mean) * (row[j] - mean);
    const double denom = std::max(0.0, static_cast<double>(p.inner) - corr);
    const double var = ss / denom;
    vr[r] = kOp == 1 ? std::sqrt(var) : var;
    mr[r] = mean;
  }
  scatter<double>(v, 0, p.outer, vr.data());
  if (kOp != 2) return Value::of(v);
  scatter<double>(m, 0, p.outer, mr.data());
  return Value::list({Value::of(v), Value::of(m)});
}
template Value var_like<0>(const OpArgs&, ExecContext&);
template Value var_like<1>(const OpArgs&, ExecContext&);
template Value var_like<2>(const OpArgs&, ExecContext&);

namespace {
// Softmax-family statistics over `dim` of x in the F32 (or F64) domain: calls f(row values, n, out row) per row
// with rows laid out as reduce_plan gives them, then writes the result back into the dim's positions.
template <class C, class F>
void softmax_rows(const Tensor& x, int64_t dim, const Tensor& out, F f) {
  const int64_t d = wrap_dim(dim, x.dim());
  const ReducePlan p = reduce_plan(x, std::vector<int64_t>{d}, true);
  Rows<C> rows(p);
  std::vector<C> buf(static_cast<size_t>(p.inner));
  // The output viewed with the same permutation (dim last).
  Shape os, ost;
  for (int64_t k = 0; k < out.dim(); ++k)
    if (k != d || x.dim() == 0) { os.push_back(out.shape()[k]); ost.push_back(out.strides()[k]); }
  if (x.dim() > 0) { os.push_back(out.shape()[d]); ost.push_back(out.strides()[d]); }
  const Tensor ov = out.as_strided(os, ost, out.offset());
  const Tensor oc = Tensor::empty(out.dtype(), os);
  for (int64_t r = 0; r < p.outer; ++r) {
    f(rows.row(r, p.inner), p.inner, buf.data());
    scatter<C>(oc, r * p.inner, p.inner, buf.data());
  }
  // Copy oc (contiguous in permuted order) into ov.
  const int64_t es = static_cast<int64_t>(dtype_size(out.dtype()));
  std::vector<int64_t> idx(os.size(), 0);
  for (int64_t lin = 0; lin < oc.numel(); ++lin) {
    int64_t off = 0, rem = lin;
    for (size_t k = os.size(); k-- > 0;) {
      off += (rem % os[k]) * ost[k];
      rem /= os[k];
    }
    std::memcpy(ov.raw() + off * es, oc.raw() + lin * es, static_cast<size_t>(es));
  }
}

template <class C>
C exp_c(C v) {
  if constexpr (std::is_same_v<C, float>) return num::fx_expf(v);
  else return std::exp(v);
}
}  // namespace

// _softmax(x, dim, half_to_float) / _log_softmax: max-subtracted, exp summed in the canonical order.
template <bool kLog>
Value softmax(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  Tensor o = a.empty_out();
  if (o.numel() == 0) return Value::of(o);
  auto run = [&](auto tag) {
    using C = decltype(tag);
    softmax_rows<C>(x, a.i64(1), o, [](const C* v, int64_t n, C* out) {
      C mx = v[0];
      for (int64_t j = 1; j < n; ++j) mx = (v[j] != v[j] || v[j] > mx) ? v[j] : mx;
      for (int64_t j = 0; j < n; ++j) out[j] = exp_c<C>(v[j] - mx);
      const C s = row_sum<C>(out, n);
      if (kLog) {
        const C ls = std::log(s);
        for (int64_t j = 0; j < n; ++j) out[j] = v[j] - mx - ls;
      } else {
        for (int64_t j = 0; j < n; ++j) out[j] = out[j] / s;
      }
    });
  };
  if (o.dtype() == DType::F64) run(0.0);
  else run(0.0f);
  return Value::of(o);
}
template Value softmax<false>(const OpArgs&, ExecContext&);
template Value softmax<true>(const OpArgs&, ExecContext&);

// _safe_softmax(x, dim, dtype=None): softmax of x converted to dtype, with zeros for a row whose every
// element is -inf (PyTorch: where(all(x == -inf, dim), 0, softmax(x))); other rows as _softmax.
Value safe_softmax(const OpArgs& a, ExecContext&) {
  const Tensor x = a.opt_dtype(2) ? a.tensor(0).to(*a.opt_dtype(2)) : a.tensor(0);
  Tensor o = a.empty_out();
  if (o.numel() == 0) return Value::of(o);
  auto run = [&](auto tag) {
    using C = decltype(tag);
    softmax_rows<C>(x, a.i64(1), o, [](const C* v, int64_t n, C* out) {
      bool masked = true;
      for (int64_t j = 0; j < n && masked; ++j) masked = v[j] == -std::numeric_limits<C>::infinity();
      if (masked) {
        std::fill(out, out + n, C{0});
        return;
      }
      C mx = v[0];
      for (int64_t j = 1; j < n; ++j) mx = (v[j] != v[j] || v[j] > mx) ? v[j] : mx;
      for (int64_t j = 0; j < n; ++j) out[j] = exp_c<C>(v[j] - mx);
      const C s = row_sum<C>(out, n);
      for (int64_t j = 0; j < n; ++j) out[j] = out[j] / s;
    });
  };
  if (o.dtype() == DType::F64) run(0.0);
  else run(0.0f);
  return Value::of(o);
}

// prims.prepare_softmax_online(x, dim) -> (amax keepdim, sum(exp(x - amax)) keepdim), in x's dtype.
Value prepare_softmax_online(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const ReducePlan p = reduce_plan(x, std::vector<int64_t>{a.i64(1)}, true);
  Tensor mx = a.empty_out(0), sm = a.empty_out(1);
  auto run = [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<C> m(static_cast<size_t>(p.outer)), s(static_cast<size_t>(p.outer)), e(static_cast<size_t>(p.inner));
    for (int64_t r = 0; r < p.outer; ++r) {
      const C* v = rows.row(r, p.inner);
      C best = p.inner ? v[0] : -std::numeric_limits<C>::infinity();
      for (int64_t j = 1; j < p.inner; ++j) best = (v[j] != v[j] || v[j] > best) ? v[j] : best;
      for (int64_t j = 0; j < p.inner; ++j) e[j] = exp_c<C>(v[j] - best);
      m[r] = best;
      s[r] = row_sum<C>(e.data(), p.inner);
    }
    scatter<C>(mx, 0, p.outer, m.data());
    scatter<C>(sm, 0, p.outer, s.data());
  };
  if (x.dtype() == DType::F64) run(0.0);
  else run(0.0f);
  return Value::list({Value::of(mx), Value::of(sm)});
}

// logsumexp(x, dim, keepdim=False): max + log(sum(exp(x - max))); an all -inf row gives -inf.
Value logsumexp(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const ReducePlan p = reduce_plan(x, a.ints(1), a.flag(2));
  Tensor o = a.empty_out();
  auto run = [&](auto tag) {
    using C = decltype(tag);
    Rows<C> rows(p);
    std::vector<C> res(static_cast<size_t>(p.outer)), e(static_cast<size_t>(p.inner));
    for (int64_t r = 0; r < p.outer; ++r) {
      const C* v = rows.row(r, p.inner);
      C best = -std::numeric_limits<C>::infinity();
      for (int64_t j = 0; j < p.inner; ++j) best = (v[j] != v[j] || v[j] > best) ? v[j] : best;
      if (std::isinf(best)) { res[r] = best; continue; }
      for (int64_t j = 0; j < p.inner; ++j) e[j] = exp_c<C>(v[j] - best);
      res[r] = best + std::log(row_sum<C>(e.data(), p.inner));
    }
    scatter<C>(o, 0, p.outer, res.data());
  };
  if (o.dtype() == DType::F64) run(0.0);
  else run(0.0f);
  return Value::of(o);
}

}  // namespace fxopt::rt::cpu
