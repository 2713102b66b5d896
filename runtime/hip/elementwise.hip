// Elementwise unary, binary and where kernels over up to 6-dim strided views with broadcasting,
// every dtype of gpu_api.h (conversions included); per-element semantics are numerics.h's.
#include <stdexcept>

#include "runtime/hip/kernel_common.h"

namespace fxopt::gpu {

namespace {

enum class EwKind : uint8_t { unary, binary, where };

struct EwInput {
  const void* data = nullptr;
  DType dtype = DType::f32;
  bool is_scalar = false;
  float scalar_f = 0.0f;
  int64_t scalar_i = 0;
  int64_t strides[kMaxDims] = {};
};

struct EwArgs {
  EwKind kind;
  bool int_compute;  // all tensor inputs integral and the op has an integer meaning
  uint8_t op;        // num::UnaryOp or num::BinaryOp
  int ndim;
  int64_t n;
  int64_t shape[kMaxDims];
  void* out;
  DType out_dtype;
  int64_t out_strides[kMaxDims];
  EwInput in[3];  // unary: in[0]; binary: in[0], in[1]; where: cond, a, b
  float lo_f, hi_f;
  int64_t lo_i, hi_i;
};

__device__ inline float in_f32(const EwInput& x, int64_t off) {
  return x.is_scalar ? x.scalar_f : detail::load_f32(x.data, x.dtype, off);
}
__device__ inline int64_t in_i64(const EwInput& x, int64_t off) {
  return x.is_scalar ? x.scalar_i : detail::load_i64(x.data, x.dtype, off);
}

__global__ void __launch_bounds__(256) elementwise_kernel(EwArgs a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += stride) {
    int64_t rest = i, o = 0, off0 = 0, off1 = 0, off2 = 0;
    for (int d = a.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % a.shape[d];
      rest /= a.shape[d];
      o += idx * a.out_strides[d];
      off0 += idx * a.in[0].strides[d];
      off1 += idx * a.in[1].strides[d];
      off2 += idx * a.in[2].strides[d];
    }
    if (a.kind == EwKind::unary) {
      const auto op = static_cast<num::UnaryOp>(a.op);
      if (a.int_compute)
        detail::store_i64(a.out, a.out_dtype, o, num::apply_unary_i64(op, in_i64(a.in[0], off0), a.lo_i, a.hi_i));
      else
        detail::store_f32(a.out, a.out_dtype, o, num::apply_unary(op, in_f32(a.in[0], off0), a.lo_f, a.hi_f));
    } else if (a.kind == EwKind::binary) {
      const auto op = static_cast<num::BinaryOp>(a.op);
      if (a.int_compute)
        detail::store_i64(a.out, a.out_dtype, o, num::apply_binary_i64(op, in_i64(a.in[0], off0), in_i64(a.in[1], off1)));
      else
        detail::store_f32(a.out, a.out_dtype, o, num::apply_binary(op, in_f32(a.in[0], off0), in_f32(a.in[1], off1)));
    } else {
      const bool c = in_i64(a.in[0], off0) != 0;
      if (a.int_compute)
        detail::store_i64(a.out, a.out_dtype, o, c ? in_i64(a.in[1], off1) : in_i64(a.in[2], off2));
      else
        detail::store_f32(a.out, a.out_dtype, o, c ? in_f32(a.in[1], off1) : in_f32(a.in[2], off2));
    }
  }
}

EwArgs make_args(EwKind kind, const TensorRef& out) {
  if (out.ndim > kMaxDims) throw std::invalid_argument("elementwise: more than 6 dims");
  EwArgs a{};
  a.kind = kind;
  a.ndim = out.ndim;
  a.n = out.numel();
  for (int d = 0; d < out.ndim; ++d) {
    a.shape[d] = out.shape[d];
    a.out_strides[d] = out.strides[d];
  }
  a.out = out.data;
  a.out_dtype = out.dtype;
  return a;
}

void set_input(EwInput& in, const Operand& x, const TensorRef& out) {
  if (x.is_scalar) {
    in.is_scalar = true;
    in.scalar_f = static_cast<float>(x.scalar);
    in.scalar_i = static_cast<int64_t>(x.scalar);
    return;
  }
  in.data = x.tensor.data;
  in.dtype = x.tensor.dtype;
  detail::broadcast_strides(x.tensor, out, in.strides);
}

bool integral_operand(const Operand& x) {
  if (x.is_scalar) return static_cast<double>(static_cast<int64_t>(x.scalar)) == x.scalar;
  return !dtype_is_float(x.tensor.dtype);
}

void launch(const EwArgs& a) {
  if (a.n == 0) return;
  const unsigned blocks = detail::grid_for(a.n, 256);
  FXOPT_LAUNCH("elementwise_kernel", elementwise_kernel, dim3(blocks), dim3(256), 0, detail::stream(), a);
}

}  // namespace

void unary(const TensorRef& out, const TensorRef& in, num::UnaryOp op, double lo, double hi) {
  EwArgs a = make_args(EwKind::unary, out);
  a.op = static_cast<uint8_t>(op);
  set_input(a.in[0], Operand::of(in), out);
  a.int_compute = !dtype_is_float(in.dtype) && num::has_int_unary(op) &&
                  (op != num::UnaryOp::copy || !dtype_is_float(out.dtype));
  a.lo_f = static_cast<float>(lo);
  a.hi_f = static_cast<float>(hi);
  a.lo_i = lo <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(lo);
  a.hi_i = hi >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(hi);
  launch(a);
}

void binary(const TensorRef& out, const Operand& x, const Operand& y, num::BinaryOp op) {
  EwArgs a = make_args(EwKind::binary, out);
  a.op = static_cast<uint8_t>(op);
  set_input(a.in[0], x, out);
  set_input(a.in[1], y, out);
  a.int_compute = integral_operand(x) && integral_operand(y) && num::has_int_binary(op);
  launch(a);
}

void where(const TensorRef& out, const TensorRef& cond, const Operand& x, const Operand& y) {
  EwArgs a = make_args(EwKind::where, out);
  set_input(a.in[0], Operand::of(cond), out);
  set_input(a.in[1], x, out);
  set_input(a.in[2], y, out);
  a.int_compute = integral_operand(x) && integral_operand(y) && !dtype_is_float(out.dtype);
  launch(a);
}

}  // namespace fxopt::gpu
