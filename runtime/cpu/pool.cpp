// 2-d pooling on the CPU: max pooling with indices (aten.max_pool2d_with_indices) or window offsets
// (prims._low_memory_max_pool_with_offsets, and the offsets-to-indices conversion), average pooling and
// adaptive average pooling, over (N, C, H, W) or (C, H, W) inputs.
#include <cmath>
#include <cstring>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

std::vector<int64_t> two(const std::vector<int64_t>& v, const std::vector<int64_t>& fallback, const char* name) {
  if (v.empty()) {
    if (fallback.empty()) throw InputError(std::string("pooling ") + name + " is empty");
    return two(fallback, {}, name);
  }
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() != 2) throw InputError(std::string("pooling ") + name + " must have 1 or 2 values, has " + std::to_string(v.size()));
  return v;
}

// PyTorch's pooling_output_shape.
int64_t out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t o = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (o - 1) * stride >= in + pad) --o;
  return o;
}

struct Pool2d {
  int64_t planes, h, w, oh, ow;
  std::vector<int64_t> k, s, pad, d;
  Shape out_shape;
};

Pool2d plan(const Tensor& x, const PoolParams& p) {
  if (x.dim() != 3 && x.dim() != 4) throw InputError("2-d pooling takes a 3-d or 4-d input, got " + shape_str(x.shape()));
  Pool2d g;
  g.k = two(p.kernel, {}, "kernel_size");
  g.s = two(p.stride, g.k, "stride");
  g.pad = two(p.padding, {0}, "padding");
  g.d = two(p.dilation, {1}, "dilation");
  for (int i = 0; i < 2; ++i) {
    if (g.k[i] <= 0 || g.s[i] <= 0 || g.d[i] <= 0 || g.pad[i] < 0)
      throw InputError("pooling: kernel, stride and dilation must be positive and padding non-negative");
    if (g.pad[i] > (g.d[i] * (g.k[i] - 1) + 1) / 2)
      throw InputError("pooling: padding " + std::to_string(g.pad[i]) + " is more than half the effective kernel size");
  }
  const int64_t nd = x.dim();
  g.h = x.shape()[nd - 2];
  g.w = x.shape()[nd - 1];
  g.planes = 1;
  for (int64_t i = 0; i < nd - 2; ++i) g.planes *= x.shape()[i];
  g.oh = out_size(g.h, g.k[0], g.pad[0], g.s[0], g.d[0], p.ceil_mode);
  g.ow = out_size(g.w, g.k[1], g.pad[1], g.s[1], g.d[1], p.ceil_mode);
  if (g.oh <= 0 || g.ow <= 0)
    throw InputError("pooling: input " + shape_str(x.shape()) + " is too small for the kernel (output " +
                     std::to_string(g.oh) + "x" + std::to_string(g.ow) + ")");
  g.out_shape = x.shape();
  g.out_shape[nd - 2] = g.oh;
  g.out_shape[nd - 1] = g.ow;
  return g;
}

template <class C>
MaxPoolResult max_pool_impl(const Tensor& x, const Pool2d& g, bool offsets) {
  MaxPoolResult r{Tensor::empty(x.dtype(), g.out_shape), Tensor::empty(offsets ? DType::I8 : DType::I64, g.out_shape)};
  const Tensor xc = x.contiguous();
  const DType dt = x.dtype();
  const int64_t es = static_cast<int64_t>(dtype_size(dt));
  for (int64_t pl = 0; pl < g.planes; ++pl)
    for (int64_t y = 0; y < g.oh; ++y)
      for (int64_t z = 0; z < g.ow; ++z) {
        int64_t h0 = y * g.s[0] - g.pad[0], w0 = z * g.s[1] - g.pad[1];
        const int64_t h1 = std::min(h0 + (g.k[0] - 1) * g.d[0] + 1, g.h), w1 = std::min(w0 + (g.k[1] - 1) * g.d[1] + 1, g.w);
        while (h0 < 0) h0 += g.d[0];
        while (w0 < 0) w0 += g.d[1];
        int64_t best = h0 * g.w + w0;
        C best_v = -INFINITY;
        bool found = false;
        for (int64_t a = h0; a < h1; a += g.d[0])
          for (int64_t b = w0; b < w1; b += g.d[1]) {
            const C v = load_elem<C>(dt, xc.raw() + (pl * g.h * g.w + a * g.w + b) * es);
            if (v > best_v || v != v) {
              best_v = v;
              best = a * g.w + b;
              found = true;
            }
          }
        const int64_t o = (pl * g.oh + y) * g.ow + z;
        if (found)
          std::memcpy(r.values.raw() + o * es, xc.raw() + (pl * g.h * g.w + best) * es, static_cast<size_t>(es));
        else
          store_elem<C>(dt, r.values.raw() + o * es, best_v);
        if (offsets) {
          const int64_t bh = best / g.w, bw = best % g.w;
          const int64_t off = ((bh - (y * g.s[0] - g.pad[0])) / g.d[0]) * g.k[1] + (bw - (z * g.s[1] - g.pad[1])) / g.d[1];
          r.indices.data<int8_t>()[o] = static_cast<int8_t>(off);
        } else {
          r.indices.data<int64_t>()[o] = best;
        }
      }
  return r;
}

}  // namespace

MaxPoolResult max_pool2d(const Tensor& x, const PoolParams& p, bool offsets) {
  const Pool2d g = plan(x, p);
  if (x.dtype() == DType::Bool || is_fp8(x.dtype()))
    throw InputError(std::string("max pooling of ") + dtype_name(x.dtype()) + " is not supported");
  if (offsets && g.k[0] * g.k[1] > 127)
    throw InputError("low-memory max pooling: a " + std::to_string(g.k[0]) + "x" + std::to_string(g.k[1]) +
                     " window does not fit int8 offsets");
  if (is_integral(x.dtype())) return max_pool_impl<double>(x, g, offsets);  // int64 beyond 2^53 would round
  if (x.dtype() == DType::F64) return max_pool_impl<double>(x, g, offsets);
  return max_pool_impl<float>(x, g, offsets);
}

Tensor max_pool_offsets_to_indices(const Tensor& offsets, const std::vector<int64_t>& kernel, const std::vector<int64_t>& input_size,
                                   const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                   const std::vector<int64_t>& dilation) {
  if (offsets.dim() < 2) throw InputError("max pool offsets must be at least 2-d, got " + shape_str(offsets.shape()));
  const auto k = two(kernel, {}, "kernel_size"), s = two(stride, k, "stride"), pad = two(padding, {0}, "padding"),
             d = two(dilation, {1}, "dilation"), in = two(input_size, {}, "input_size");
  const int64_t nd = offsets.dim(), oh = offsets.shape()[nd - 2], ow = offsets.shape()[nd - 1];
  Tensor out = Tensor::empty(DType::I64, offsets.shape());
  const Tensor oc = offsets.to(DType::I64);
  const int64_t* src = oc.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const int64_t z = i % ow, y = (i / ow) % oh;
    const int64_t off = src[i];
    if (off < 0 || off >= k[0] * k[1])
      throw InputError("max pool offset " + std::to_string(off) + " at element " + std::to_string(i) + " is outside the " +
                       std::to_string(k[0]) + "x" + std::to_string(k[1]) + " window");
    const int64_t row = y * s[0] - pad[0] + (off / k[1]) * d[0], col = z * s[1] - pad[1] + (off % k[1]) * d[1];
    dst[i] = row * in[1] + col;
  }
  return out;
}

Tensor avg_pool2d(const Tensor& x, const PoolParams& p, bool count_include_pad, std::optional<int64_t> divisor_override) {
  PoolParams q = p;
  q.dilation = {1};
  const Pool2d g = plan(x, q);
  if (!is_floating(x.dtype()) || is_fp8(x.dtype()))
    throw InputError(std::string("average pooling of ") + dtype_name(x.dtype()) + " is not supported");
  if (divisor_override && *divisor_override == 0) throw InputError("avg_pool2d: divisor_override must be non-zero");
  Tensor out = Tensor::empty(x.dtype(), g.out_shape);
  const Tensor xc = x.to(x.dtype() == DType::F64 ? DType::F64 : DType::F32);
  const bool f64 = x.dtype() == DType::F64;
  const int64_t es = static_cast<int64_t>(dtype_size(out.dtype()));
  for (int64_t pl = 0; pl < g.planes; ++pl)
    for (int64_t y = 0; y < g.oh; ++y)
      for (int64_t z = 0; z < g.ow; ++z) {
        int64_t h0 = y * g.s[0] - g.pad[0], w0 = z * g.s[1] - g.pad[1];
        int64_t h1 = std::min(h0 + g.k[0], g.h + g.pad[0]), w1 = std::min(w0 + g.k[1], g.w + g.pad[1]);
        const int64_t pool_size = (h1 - h0) * (w1 - w0);
        h0 = std::max<int64_t>(h0, 0);
        w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, g.h);
        w1 = std::min(w1, g.w);
        const int64_t div = divisor_override ? *divisor_override : count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
        const int64_t o = (pl * g.oh + y) * g.ow + z;
        if (f64) {
          double s = 0.0;
          for (int64_t a = h0; a < h1; ++a)
            for (int64_t b = w0; b < w1; ++b) s = s + xc.data<double>()[pl * g.h * g.w + a * g.w + b];
          store_elem<double>(out.dtype(), out.raw() + o * es, s / static_cast<double>(div));
        } else {
          float s = 0.0f;
          for (int64_t a = h0; a < h1; ++a)
            for (int64_t b = w0; b < w1; ++b) s = s + xc.data<float>()[pl * g.h * g.w + a * g.w + b];
          store_elem<float>(out.dtype(), out.raw() + o * es, s / static_cast<float>(div));
        }
      }
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, const std::vector<int64_t>& output_size) {
  if (x.dim() != 3 && x.dim() != 4) throw InputError("adaptive_avg_pool2d takes a 3-d or 4-d input, got " + shape_str(x.shape()));
  if (!is_floating(x.dtype()) || is_fp8(x.dtype()))
    throw InputError(std::string("adaptive average pooling of ") + dtype_name(x.dtype()) + " is not supported");
  const auto os = two(output_size, {}, "output_size");
  if (os[0] < 0 || os[1] < 0) throw InputError("adaptive_avg_pool2d: negative output size");
  const int64_t nd = x.dim(), h = x.shape()[nd - 2], w = x.shape()[nd - 1];
  int64_t planes = 1;
  for (int64_t i = 0; i < nd - 2; ++i) planes *= x.shape()[i];
  Shape shape = x.shape();
  shape[nd - 2] = os[0];
  shape[nd - 1] = os[1];
  Tensor out = Tensor::empty(x.dtype(), shape);
  const bool f64 = x.dtype() == DType::F64;
  const Tensor xc = x.to(f64 ? DType::F64 : DType::F32);
  const int64_t es = static_cast<int64_t>(dtype_size(out.dtype()));
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t y = 0; y < os[0]; ++y)
      for (int64_t z = 0; z < os[1]; ++z) {
        const int64_t h0 = y * h / os[0], h1 = ((y + 1) * h + os[0] - 1) / os[0];
        const int64_t w0 = z * w / os[1], w1 = ((z + 1) * w + os[1] - 1) / os[1];
        const int64_t n = (h1 - h0) * (w1 - w0);
        const int64_t o = (pl * os[0] + y) * os[1] + z;
        if (f64) {
          double s = 0.0;
          for (int64_t a = h0; a < h1; ++a)
            for (int64_t b = w0; b < w1; ++b) s = s + xc.data<double>()[pl * h * w + a * w + b];
          store_elem<double>(out.dtype(), out.raw() + o * es, s / static_cast<double>(n));
        } else {
          float s = 0.0f;
          for (int64_t a = h0; a < h1; ++a)
            for (int64_t b = w0; b < w1; ++b) s = s + xc.data<float>()[pl * h * w + a * w + b];
          store_elem<float>(out.dtype(), out.raw() + o * es, s / static_cast<float>(n));
        }
      }
  return out;
}

}  // namespace fxopt::rt::cpu
