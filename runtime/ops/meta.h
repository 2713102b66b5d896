// Helpers shared by the meta rules of runtime/ops/*.cpp: broadcasting over tensor-or-number operands,
// promotion, the dtype sets the GPU rows declare, and argument decoders the GPU computes share.
#pragma once

#include <initializer_list>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/ops.h"
#include "runtime/op_registry.h"

namespace fxopt::rt::ops {

using cpu::wrap_dim;

// The dtypes the generic GPU float kernels take (float64 is not supported on the GPU).
inline constexpr DTypeSet kGpuFloat{DType::F16, DType::BF16, DType::F32};
// Every dtype the GPU data-movement kernels (convert, copy, reshape) take: all but float64.
inline constexpr DTypeSet kGpuAllDTypes = kIntDTypes | kGpuFloat | kFp8DTypes;

// convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups): arguments 3..8.
inline cpu::ConvParams conv_params(const OpArgs& a) {
  cpu::ConvParams p;
  p.stride = a.ints(3);
  p.padding = a.ints(4);
  p.dilation = a.ints(5);
  p.transposed = a.flag(6);
  p.output_padding = a.ints(7);
  p.groups = a.i64(8);
  return p;
}

// The broadcast shape of the tensor operands among `vals` (numbers are 0-d).
inline Shape broadcast_of(std::initializer_list<const Value*> vals) {
  std::vector<Shape> shapes;
  for (const Value* v : vals)
    if (v && v->is_tensor()) shapes.push_back(v->tensor.shape());
  return cpu::broadcast_shapes(shapes);
}

// torch.result_type of the operands (numbers and None allowed).
inline DType promote_of(std::initializer_list<const Value*> vals) {
  std::vector<const Value*> ops;
  for (const Value* v : vals)
    if (v && v->kind != Value::Kind::None) ops.push_back(v);
  return cpu::result_type(ops);
}

// The optional `dtype=` of a factory, else float32 (or the dtype of `like` when given).
inline DType factory_dtype(const OpArgs& a, size_t dtype_index, const Tensor* like = nullptr) {
  if (auto d = a.opt_dtype(dtype_index)) return *d;
  return like ? like->dtype() : DType::F32;
}

inline Shape sizes_of(const OpArgs& a, size_t i) {
  Shape s = a.ints(i);
  for (int64_t x : s)
    if (x < 0) throw InputError("negative size " + std::to_string(x) + " in " + shape_str(s));
  return s;
}

}  // namespace fxopt::rt::ops
