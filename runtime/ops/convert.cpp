// Op rows of the conversion family: prims.convert_element_type, aten._to_copy, aten.to.dtype, view.dtype.
// Compute: runtime/cpu/convert.cpp.
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

std::optional<Value> meta_convert(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(a.dtype(1), x.shape());
}
std::optional<Value> meta_to_copy(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(a.opt_dtype(1).value_or(x.dtype()), x.shape());
}
std::optional<Value> meta_to_dtype(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (a.dtype(1) == x.dtype() && !a.flag(3)) return Value::of(x);
  return meta_tensor(a.dtype(1), x.shape());
}

const OpRow kRows[] = {
    {.target = "prims.convert_element_type.default", .schema = "convert_element_type(Tensor a, ScalarType dtype) -> Tensor",
     .meta = meta_convert, .cpu = cpu::convert_element_type, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten._to_copy.default",
     .schema = "_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, bool non_blocking=False, MemoryFormat? memory_format=None) -> Tensor",
     .meta = meta_to_copy, .cpu = cpu::convert_element_type, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.to.dtype",
     .schema = "to.dtype(Tensor(a) self, ScalarType dtype, bool non_blocking=False, bool copy=False, MemoryFormat? memory_format=None) -> Tensor(a)",
     .meta = meta_to_dtype, .cpu = cpu::to_dtype, .gpu = FXOPT_GPU(convert), .gpu_dtypes = kGpuAllDTypes},
    {.target = "aten.view.dtype", .schema = "view.dtype(Tensor(a) self, ScalarType dtype) -> Tensor(a)",
     .cpu = cpu::view_dtype, .shape_only = true},
};

}  // namespace

std::span<const OpRow> op_rows_convert() { return kRows; }

}  // namespace fxopt::rt::ops
