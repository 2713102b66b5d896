// Dtype conversion CPU kernels (prims.convert_element_type, aten._to_copy, aten.to.dtype): round to
// nearest even into bf16/fp16/fp8 with c10's algorithms (runtime/numerics.h), truncation into integers.
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

Value convert_element_type(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "a");
  auto d = dtype_arg(in, 1, "dtype");
  if (!d) throw InputError("convert_element_type needs a dtype");
  return Value::of(x.to(*d));
}

// _to_copy(x, *, dtype=None, layout, device, pin_memory, non_blocking, memory_format): always a copy.
Value to_copy(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto d = dtype_arg(in, 99, "dtype");
  return Value::of(x.to(d ? *d : x.dtype()));
}

// aten.to.dtype(x, dtype, non_blocking=False, copy=False): returns x itself when nothing changes.
Value to_dtype(const Node&, const KernelArgs& in, ExecContext&) {
  const Tensor& x = tensor_arg(in, 0, "self");
  auto d = dtype_arg(in, 1, "dtype");
  if (!d) throw InputError("to.dtype needs a dtype");
  if (*d == x.dtype() && !bool_arg(in, 3, "copy", false)) return Value::of(x);
  return Value::of(x.to(*d));
}

}  // namespace

void register_convert(KernelTable& t) {
  t["prims.convert_element_type.default"] = convert_element_type;
  t["aten._to_copy.default"] = to_copy;
  t["aten.to.dtype"] = to_dtype;
}

}  // namespace fxopt::rt::cpu
