// Convolution on the CPU (aten.convolution, 1-d and 2-d, stride/padding/dilation/groups, optional bias):
// im2col (patches x weights^T) plus the blocked matmul for large groups, a direct loop for small ones (depthwise). Both sum each
// output over (input channel, kernel row, kernel column) in that order in float32, padding included as
// zeros, then add the bias, so the two paths and every thread count give the same bits.
#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

std::vector<int64_t> per_dim(const std::vector<int64_t>& v, size_t n, int64_t fallback, const char* name) {
  if (v.empty()) return std::vector<int64_t>(n, fallback);
  if (v.size() == 1) return std::vector<int64_t>(n, v[0]);
  if (v.size() != n)
    throw InputError(std::string("convolution ") + name + " has " + std::to_string(v.size()) + " values for " +
                     std::to_string(n) + " spatial dims");
  return v;
}

using Geometry = ConvGeometry;

inline float at(const float* x, const Geometry& g, int64_t n, int64_t ch, int64_t row, int64_t col) {
  if (row < 0 || row >= g.h || col < 0 || col >= g.w) return 0.0f;
  return x[((n * g.c + ch) * g.h + row) * g.w + col];
}

// One group's (OH*OW, K) patch matrix for image n: row = output position, columns (channel, row, column).
void im2col(const float* x, const Geometry& g, int64_t n, int64_t grp, float* col) {
  const int64_t K = g.k();
  for (int64_t y = 0; y < g.oh; ++y)
    for (int64_t z = 0; z < g.ow; ++z) {
      float* dst = col + (y * g.ow + z) * K;
      for (int64_t ci = 0; ci < g.cg(); ++ci)
        for (int64_t a = 0; a < g.kh; ++a)
          for (int64_t b = 0; b < g.kw; ++b)
            *dst++ = at(x, g, n, grp * g.cg() + ci, y * g.sh - g.ph + a * g.dh, z * g.sw - g.pw + b * g.dw);
    }
}

}  // namespace

ConvGeometry conv_geometry(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p) {
  if (p.transposed) throw InputError("transposed convolution is not supported");
  const int64_t sd = weight.dim() - 2;  // spatial dims
  if (sd != 1 && sd != 2)
    throw InputError("convolution: only 1-d and 2-d convolutions are supported, weight is " + shape_str(weight.shape()));
  const bool batched = input.dim() == sd + 2;
  if (!batched && input.dim() != sd + 1)
    throw InputError("convolution input " + shape_str(input.shape()) + " does not fit weight " + shape_str(weight.shape()));
  if (!is_floating(input.dtype()) || is_fp8(input.dtype()))
    throw InputError(std::string("convolution of ") + dtype_name(input.dtype()) + " is not supported");
  if (weight.dtype() != input.dtype() || (bias && bias->dtype() != input.dtype()))
    throw InputError(std::string("convolution input, weight and bias dtypes differ: ") + dtype_name(input.dtype()) + ", " +
                     dtype_name(weight.dtype()) + (bias ? std::string(", ") + dtype_name(bias->dtype()) : ""));
  const size_t nsd = static_cast<size_t>(sd);
  const auto stride = per_dim(p.stride, nsd, 1, "stride"), pad = per_dim(p.padding, nsd, 0, "padding"),
             dil = per_dim(p.dilation, nsd, 1, "dilation");
  ConvGeometry g{};
  const Shape& is = input.shape();
  const int64_t lead = batched ? 1 : 0;
  g.n = batched ? is[0] : 1;
  g.c = is[lead];
  g.h = sd == 2 ? is[lead + 1] : 1;
  g.w = is[lead + sd];
  g.o = weight.shape()[0];
  g.kh = sd == 2 ? weight.shape()[2] : 1;
  g.kw = weight.shape()[1 + sd];
  g.sh = sd == 2 ? stride[0] : 1;
  g.ph = sd == 2 ? pad[0] : 0;
  g.dh = sd == 2 ? dil[0] : 1;
  g.sw = stride[sd - 1];
  g.pw = pad[sd - 1];
  g.dw = dil[sd - 1];
  g.groups = p.groups;
  if (g.groups <= 0 || g.c % g.groups != 0 || g.o % g.groups != 0 || weight.shape()[1] * g.groups != g.c)
    throw InputError("convolution: input " + shape_str(is) + " and weight " + shape_str(weight.shape()) +
                     " do not fit groups=" + std::to_string(g.groups));
  if (g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.ph < 0 || g.pw < 0)
    throw InputError("convolution: stride and dilation must be positive and padding non-negative");
  if (bias && (bias->dim() != 1 || bias->shape()[0] != g.o))
    throw InputError("convolution bias " + shape_str(bias->shape()) + " does not fit " + std::to_string(g.o) + " output channels");
  g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  if (g.oh <= 0 || g.ow <= 0 || g.h + 2 * g.ph < g.dh * (g.kh - 1) + 1 || g.w + 2 * g.pw < g.dw * (g.kw - 1) + 1)
    throw InputError("convolution: input " + shape_str(is) + " (padded) is smaller than the kernel " +
                     shape_str(weight.shape()));
  g.sd = sd;
  g.batched = batched;
  return g;
}

Tensor convolution(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p, int threads) {
  const ConvGeometry g = conv_geometry(input, weight, bias, p);
  const int64_t sd = g.sd;
  const bool batched = g.batched;
  Shape oshape;
  if (batched) oshape.push_back(g.n);
  oshape.push_back(g.o);
  if (sd == 2) oshape.push_back(g.oh);
  oshape.push_back(g.ow);
  Tensor out = Tensor::empty(input.dtype(), oshape);
  if (out.numel() == 0) return out;
  const Tensor xf = input.to(DType::F32), wf = weight.to(DType::F32);
  const Tensor bf = bias ? bias->to(DType::F32) : Tensor();
  const float* x = xf.data<float>();
  const float* w = wf.data<float>();
  const float* bv = bias ? bf.data<float>() : nullptr;
  const int64_t cols = g.oh * g.ow, K = g.k();
  Tensor res = Tensor::empty(DType::F32, {g.n, g.o, cols});
  float* rd = res.data<float>();
  if (K == 0) {
    std::fill(rd, rd + res.numel(), 0.0f);
  } else if (g.og() * K * cols >= (int64_t{1} << 16) && g.og() >= 4) {
    // Patches (images * OH*OW, K) @ weights^T (K, O/groups) per group, several images per matmul (up to
    // 2^22 patch values) so the weights are packed once per chunk; the matmul spreads the output channels
    // over the threads.
    const int64_t per = std::max<int64_t>(1, std::min<int64_t>(g.n, (int64_t{1} << 22) / std::max<int64_t>(1, cols * K)));
    Tensor col = Tensor::empty(DType::F32, {per * cols, K});
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const Tensor wt = wf.as_strided({K, g.og()}, {1, K}, grp * g.og() * K);
      for (int64_t n0 = 0; n0 < g.n; n0 += per) {
        const int64_t cnt = std::min(per, g.n - n0);
        for (int64_t i = 0; i < cnt; ++i) im2col(x, g, n0 + i, grp, col.data<float>() + i * cols * K);
        const Tensor c = matmul_f32(col.as_strided({cnt * cols, K}, {K, 1}, 0), wt, threads);  // (cnt*cols, og)
        const float* src = c.data<float>();
        for (int64_t i = 0; i < cnt; ++i) {
          float* dst = rd + ((n0 + i) * g.o + grp * g.og()) * cols;
          for (int64_t j = 0; j < cols; ++j)
            for (int64_t oc = 0; oc < g.og(); ++oc) dst[oc * cols + j] = src[(i * cols + j) * g.og() + oc];
        }
      }
    }
  } else {
    // Direct: one (image, output channel) plane per task.
    if (g.n * g.o * K * cols < (int64_t{1} << 18)) threads = 1;  // small: not worth starting threads
    parallel_for(g.n * g.o, threads, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / g.o, oc = t % g.o, grp = oc / g.og();
        const float* wk = w + oc * K;
        for (int64_t y = 0; y < g.oh; ++y)
          for (int64_t z = 0; z < g.ow; ++z) {
            float acc = 0.0f;
            for (int64_t ci = 0; ci < g.cg(); ++ci)
              for (int64_t a = 0; a < g.kh; ++a)
                for (int64_t b = 0; b < g.kw; ++b)
                  acc = acc + at(x, g, n, grp * g.cg() + ci, y * g.sh - g.ph + a * g.dh, z * g.sw - g.pw + b * g.dw) *
                                  wk[(ci * g.kh + a) * g.kw + b];
            rd[t * cols + y * g.ow + z] = acc;
          }
      }
    });
  }
  if (bv)
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t oc = 0; oc < g.o; ++oc)
        for (int64_t j = 0; j < cols; ++j) rd[(n * g.o + oc) * cols + j] = rd[(n * g.o + oc) * cols + j] + bv[oc];
  scatter<float>(out, 0, out.numel(), rd);
  return out;
}

}  // namespace fxopt::rt::cpu
