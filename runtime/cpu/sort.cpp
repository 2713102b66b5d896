// Sorting CPU kernels: stable sort (and argsort through it), topk and histc. Values move as bytes, so the
// sorted values are exactly the input's (including -0 and NaN).
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// Key order of PyTorch's sort: NaN above everything; -0 == +0.
template <class C>
bool key_less(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if (b != b) return a == a;
    if (a != a) return false;
  }
  return a < b;
}

// Sorts each row along dim by key (stably), keeping the first `k` of each row; fills values and indices.
template <class C>
SortResult sort_rows(const Tensor& x, int64_t dim, bool descending, int64_t k) {
  const int64_t nd = x.dim();
  const int64_t n = nd == 0 ? 1 : x.shape()[dim];
  Shape shape = x.shape();
  if (nd > 0) shape[dim] = k;
  SortResult r{Tensor::empty(x.dtype(), shape), Tensor::empty(DType::I64, shape)};
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (int64_t d = dim + 1; d < nd; ++d) inner *= x.shape()[d];
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  std::vector<C> keys(static_cast<size_t>(n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  int64_t* idx_out = r.indices.data<int64_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      for (int64_t i = 0; i < n; ++i) keys[i] = load_elem<C>(dt, xc.raw() + ((o * n + i) * inner + j) * es);
      std::iota(order.begin(), order.end(), int64_t{0});
      if (descending)
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key_less(keys[b], keys[a]); });
      else
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key_less(keys[a], keys[b]); });
      for (int64_t i = 0; i < k; ++i) {
        const int64_t dst = (o * k + i) * inner + j;
        std::memcpy(r.values.raw() + dst * es, xc.raw() + ((o * n + order[i]) * inner + j) * es, static_cast<size_t>(es));
        idx_out[dst] = order[i];
      }
    }
  return r;
}

SortResult sort_impl(const Tensor& x, int64_t dim, bool descending, int64_t k) {
  if (x.dtype() == DType::Bool || is_integral(x.dtype())) return sort_rows<int64_t>(x, dim, descending, k);
  return sort_rows<double>(x, dim, descending, k);
}

}  // namespace

SortResult sort(const Tensor& x, int64_t dim, bool descending) {
  dim = wrap_dim(dim, x.dim());
  return sort_impl(x, dim, descending, x.dim() == 0 ? 1 : x.shape()[dim]);
}

SortResult topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  dim = wrap_dim(dim, x.dim());
  const int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
  if (k < 0 || k > n)
    throw InputError("topk: k = " + std::to_string(k) + " is out of range for dimension " + std::to_string(dim) +
                     " of size " + std::to_string(n));
  (void)sorted;  // the k values always come sorted (PyTorch leaves the order unspecified when sorted=False)
  return sort_impl(x, dim, largest, k);
}

namespace {
__extension__ typedef __int128 I128;  // (v - min) * bins without overflow

// Bin edges as torch.linspace(min, max, bins + 1) computes them in T, and the histogram in T.
template <class T>
void histc_impl(const Tensor& x, int64_t bins, T lo, T hi, Tensor& out) {
  std::vector<T> edges(static_cast<size_t>(bins + 1));
  const T step = (hi - lo) / static_cast<T>(bins);
  const int64_t halfway = (bins + 1) / 2;
  for (int64_t i = 0; i <= bins; ++i)
    edges[i] = i < halfway ? lo + step * static_cast<T>(i) : hi - step * static_cast<T>(bins - i);
  std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
  const Tensor xc = x.contiguous();
  const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const T v = static_cast<T>(load_elem<double>(x.dtype(), xc.raw() + i * es));
    if (!(v >= lo && v <= hi)) continue;  // outside, or NaN
    int64_t b = static_cast<int64_t>((v - lo) * static_cast<T>(bins) / (hi - lo));
    b = std::min<int64_t>(std::max<int64_t>(b, 0), bins - 1);
    // Settle on the bin whose [edge, next edge) holds v (the last bin is closed).
    while (b > 0 && v < edges[b]) --b;
    while (b < bins - 1 && v >= edges[b + 1]) ++b;
    ++counts[b];
  }
  for (int64_t b = 0; b < bins; ++b) store_elem<double>(out.dtype(), out.raw() + b * es, static_cast<double>(counts[b]));
}
}  // namespace

Tensor histc(const Tensor& x, int64_t bins, double min, double max) {
  if (x.dtype() == DType::Bool || is_fp8(x.dtype()))
    throw InputError(std::string("histc of ") + dtype_name(x.dtype()) + " is not supported");
  if (bins <= 0) throw InputError("histc: bins must be > 0, got " + std::to_string(bins));
  if (min > max) throw InputError("histc: max must be larger than min");
  if (!std::isfinite(min) || !std::isfinite(max))
    throw InputError("histc: range [" + std::to_string(min) + ", " + std::to_string(max) + "] is not finite");
  const bool integral = is_integral(x.dtype());
  // The range in x's dtype (PyTorch converts min/max to it), or the data's range when min == max.
  auto round_to = [&](double v) { return scalar_tensor(v, x.dtype()).value_at(0); };
  double lo = round_to(min), hi = round_to(max);
  if (lo == hi && x.numel() > 0) {
    lo = INFINITY;
    hi = -INFINITY;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double v = x.value_at(i);
      if (v != v) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw InputError("histc: the data's range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] is not finite");
  }
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  Tensor out = Tensor::empty(x.dtype(), {bins});
  if (integral) {
    // Integer inputs (PyTorch's CUDA kernel takes them): bin = (v - min) * bins / (max - min) exactly,
    // the maximum in the last bin; the counts in x's dtype.
    const auto l = static_cast<int64_t>(lo), h = static_cast<int64_t>(hi);
    std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto v = static_cast<int64_t>(x.value_at(i));
      if (v < l || v > h) continue;
      const I128 b = static_cast<I128>(v - l) * bins / (h - l);
      ++counts[static_cast<size_t>(std::min<I128>(b, bins - 1))];
    }
    const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
    for (int64_t b = 0; b < bins; ++b) store_elem<int64_t>(out.dtype(), out.raw() + b * es, counts[b]);
  } else if (x.dtype() == DType::F64) {
    histc_impl<double>(x, bins, lo, hi, out);
  } else {
    histc_impl<float>(x, bins, static_cast<float>(lo), static_cast<float>(hi), out);
  }
  return out;
}

}  // namespace fxopt::rt::cpu
