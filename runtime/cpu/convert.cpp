// Dtype conversion CPU kernels (prims.convert_element_type, aten._to_copy, aten.to.dtype, view.dtype):
// round to nearest even into bf16/fp16/fp8 with c10's algorithms (runtime/numerics.h), truncation into
// integers.
#include "runtime/cpu/ops.h"

namespace fxopt::rt::cpu {

// convert_element_type(a, dtype) and _to_copy(x, *, dtype=None, ...): always a copy.
Value convert_element_type(const OpArgs& a, ExecContext&) { return Value::of(a.tensor(0).to(a.out_meta().dtype())); }

// aten.to.dtype(x, dtype, non_blocking=False, copy=False): returns x itself when nothing changes.
Value to_dtype(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const DType d = a.dtype(1);
  if (d == x.dtype() && !a.flag(3)) return Value::of(x);
  return Value::of(x.to(d));
}

// view.dtype(x, dtype): the same bytes read as another dtype of the same size (a view).
Value view_dtype(const OpArgs& a, ExecContext&) {
  const Tensor& x = a.tensor(0);
  const DType d = a.dtype(1);
  if (dtype_size(d) != dtype_size(x.dtype()))
    throw InputError(std::string("view.dtype from ") + dtype_name(x.dtype()) + " to " + dtype_name(d) +
                     " changes the element size (not supported)");
  if (x.is_meta()) return Value::of(Tensor::meta(d, x.shape(), x.strides(), x.offset()));
  return Value::of(Tensor::from_storage(x.storage(), d, {}).as_strided(x.shape(), x.strides(), x.offset()));
}

}  // namespace fxopt::rt::cpu
