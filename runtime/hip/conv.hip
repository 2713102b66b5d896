// Convolution on the GPU (1-d and 2-d, groups, stride, padding, dilation): one thread per output element
// summing over (input channel, kernel row, kernel column) in that order from 0, then the bias, as the CPU
// reference (runtime/cpu/conv.cpp) does, so the bits are equal. A direct kernel, not a fast one.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

struct ConvArgs {
  const void* x; DType xt; int64_t xs[4];  // (N, C, H, W)
  const void* w; DType wt; int64_t ws[4];  // (O, C / groups, KH, KW)
  const void* bias; DType bt; int64_t bs;  // (O) or null
  void* out; DType ot; int64_t os[4];      // (N, O, OH, OW)
  int64_t N, C, H, W, O, KH, KW, OH, OW;
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

__global__ void __launch_bounds__(256) conv_kernel(ConvArgs a, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t cg = a.C / a.groups, og = a.O / a.groups;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += step) {
    const int64_t z = t % a.OW, y = (t / a.OW) % a.OH, oc = (t / (a.OW * a.OH)) % a.O, n = t / (a.OW * a.OH * a.O);
    const int64_t grp = oc / og;
    float acc = 0.0f;
    for (int64_t ci = 0; ci < cg; ++ci) {
      const int64_t xc = n * a.xs[0] + (grp * cg + ci) * a.xs[1];
      for (int64_t r = 0; r < a.KH; ++r) {
        const int64_t row = y * a.sh - a.ph + r * a.dh;
        for (int64_t c = 0; c < a.KW; ++c) {
          const int64_t col = z * a.sw - a.pw + c * a.dw;
          const float xv = (row < 0 || row >= a.H || col < 0 || col >= a.W)
                               ? 0.0f
                               : detail::load_f32(a.x, a.xt, xc + row * a.xs[2] + col * a.xs[3]);
          acc = acc + xv * detail::load_f32(a.w, a.wt, oc * a.ws[0] + ci * a.ws[1] + r * a.ws[2] + c * a.ws[3]);
        }
      }
    }
    if (a.bias) acc = acc + detail::load_f32(a.bias, a.bt, oc * a.bs);
    detail::store_f32(a.out, a.ot, n * a.os[0] + oc * a.os[1] + y * a.os[2] + z * a.os[3], acc);
  }
}

}  // namespace

void convolution(const TensorRef& out, const TensorRef& x, const TensorRef& w, const TensorRef* bias, const ConvSpec& s) {
  if (x.ndim != 4 || w.ndim != 4 || out.ndim != 4) throw std::invalid_argument("convolution: 4-d views expected");
  ConvArgs a{};
  for (int d = 0; d < 4; ++d) {
    a.xs[d] = x.strides[d];
    a.ws[d] = w.strides[d];
    a.os[d] = out.strides[d];
  }
  a.x = x.data; a.xt = x.dtype;
  a.w = w.data; a.wt = w.dtype;
  a.out = out.data; a.ot = out.dtype;
  if (bias) {
    a.bias = bias->data;
    a.bt = bias->dtype;
    a.bs = bias->strides[0];
  }
  a.N = x.shape[0]; a.C = x.shape[1]; a.H = x.shape[2]; a.W = x.shape[3];
  a.O = w.shape[0]; a.KH = w.shape[2]; a.KW = w.shape[3];
  a.OH = out.shape[2]; a.OW = out.shape[3];
  a.sh = s.stride[0]; a.sw = s.stride[1];
  a.ph = s.padding[0]; a.pw = s.padding[1];
  a.dh = s.dilation[0]; a.dw = s.dilation[1];
  a.groups = s.groups;
  if (a.groups <= 0 || a.C % a.groups != 0 || a.O % a.groups != 0) throw std::invalid_argument("convolution: bad groups");
  const int64_t total = out.numel();
  if (total == 0) return;
  FXOPT_LAUNCH("conv_kernel", conv_kernel, dim3(detail::grid_for(total, 256)), dim3(256), 0, detail::stream(), a, total);
}

}  // namespace fxopt::gpu
