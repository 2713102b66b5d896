// Scan CPU kernels: cumsum and cumprod along a dim, accumulated in order in PyTorch's CPU accumulate type
// so the results match PyTorch's CPU kernel bit for bit.
#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// Acc is the accumulate type, C the type values are loaded as.
template <class Acc, bool kProd>
void scan_rows(const Tensor& in, Tensor& out, int64_t dim) {
  const int64_t nd = in.dim();
  const int64_t n = nd == 0 ? 1 : in.shape()[dim];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= in.shape()[d];
  for (int64_t d = dim + 1; d < nd; ++d) inner *= in.shape()[d];
  const DType dt = out.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  using Load = std::conditional_t<std::is_integral_v<Acc>, int64_t, double>;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      Acc acc = kProd ? Acc{1} : Acc{0};
      for (int64_t i = 0; i < n; ++i) {
        const int64_t off = (o * n + i) * inner + j;
        const Acc v = static_cast<Acc>(load_elem<Load>(dt, in.raw() + off * es));
        if constexpr (std::is_integral_v<Acc>)  // wrap-around, as PyTorch's integer scans
          acc = static_cast<Acc>(kProd ? static_cast<uint64_t>(acc) * static_cast<uint64_t>(v)
                                       : static_cast<uint64_t>(acc) + static_cast<uint64_t>(v));
        else if constexpr (kProd) acc = acc * v;
        else acc = acc + v;
        store_elem<Load>(dt, out.raw() + off * es, static_cast<Load>(acc));
      }
    }
}

template <bool kProd>
Tensor scan(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  dim = wrap_dim(dim, x.dim());
  const DType rt = dtype ? *dtype : is_integral(x.dtype()) ? DType::I64 : x.dtype();
  if (is_fp8(rt)) throw InputError(std::string(kProd ? "cumprod" : "cumsum") + " of " + dtype_name(rt) + " is not supported");
  const Tensor in = x.dtype() == rt ? x.contiguous() : x.to(rt);
  Tensor out = Tensor::empty(rt, x.shape());
  if (x.numel() == 0) return out;
  switch (rt) {
    case DType::F64:
    case DType::F32: scan_rows<double, kProd>(in, out, dim); break;
    case DType::F16:
    case DType::BF16: scan_rows<float, kProd>(in, out, dim); break;
    default: scan_rows<int64_t, kProd>(in, out, dim); break;
  }
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) { return scan<false>(x, dim, dtype); }
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype) { return scan<true>(x, dim, dtype); }

}  // namespace fxopt::rt::cpu
