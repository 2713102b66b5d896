// Op rows of SymInt arithmetic: tensor sizes (aten.sym_*), Python's `_operator`/`math` functions and
// torch.sym_* on ints, floats and bools (pseudo-schemas: Python has none), runtime asserts, and
// _local_scalar_dense (data-dependent). Shape-only: they run on the host during the up-front meta pass
// too. Compute: runtime/cpu/symint_ops.cpp.
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

// item(): the value of a one-element tensor, as a Python number (data-dependent: no meta).
std::optional<Value> meta_item(const OpArgs& a) {
  if (a.tensor(0).numel() != 1)
    throw InputError("item of a tensor with " + std::to_string(a.tensor(0).numel()) + " elements (expected 1)");
  return std::nullopt;
}
Value item(const OpArgs& a, ExecContext&) {
  const Tensor& t = a.tensor(0);
  if (t.numel() != 1) throw InputError("item of a tensor with " + std::to_string(t.numel()) + " elements (expected 1)");
  if (t.dtype() == DType::Bool) return Value::boolean(t.value_at(0) != 0);
  if (is_integral(t.dtype())) {
    int64_t v = 0;
    gather<int64_t>(t.contiguous(), 0, 1, 1, &v);
    return Value::integer(v);
  }
  return Value::real(t.value_at(0));
}

#define BIN(tgt, name, fn) {.target = tgt, .schema = name "(Scalar a, Scalar b) -> Scalar", .cpu = fn, .shape_only = true}
#define UN(tgt, name, fn) {.target = tgt, .schema = name "(Scalar a) -> Scalar", .cpu = fn, .shape_only = true}

const OpRow kRows[] = {
    {.target = "aten.sym_size.int", .schema = "sym_size.int(Tensor self, int dim) -> SymInt", .cpu = cpu::sym_size,
     .shape_only = true},
    {.target = "aten.sym_stride.int", .schema = "sym_stride.int(Tensor self, int dim) -> SymInt",
     .cpu = cpu::sym_stride, .shape_only = true},
    {.target = "aten.sym_numel.default", .schema = "sym_numel(Tensor self) -> SymInt", .cpu = cpu::sym_numel,
     .shape_only = true},
    {.target = "aten.sym_storage_offset.default", .schema = "sym_storage_offset(Tensor self) -> SymInt",
     .cpu = cpu::sym_storage_offset, .shape_only = true},
    BIN("_operator.add", "add", cpu::sym_arith<'+'>),
    BIN("_operator.sub", "sub", cpu::sym_arith<'-'>),
    BIN("_operator.mul", "mul", cpu::sym_arith<'*'>),
    BIN("_operator.truediv", "truediv", cpu::sym_arith<'/'>),
    BIN("_operator.floordiv", "floordiv", cpu::sym_arith<'f'>),
    BIN("_operator.mod", "mod", cpu::sym_arith<'%'>),
    BIN("_operator.pow", "pow", cpu::sym_arith<'^'>),
    BIN("torch.sym_max", "sym_max", cpu::sym_arith<'M'>),
    BIN("torch.sym_min", "sym_min", cpu::sym_arith<'m'>),
    BIN("_operator.eq", "eq", cpu::sym_compare<0>),
    BIN("_operator.ne", "ne", cpu::sym_compare<1>),
    BIN("_operator.lt", "lt", cpu::sym_compare<2>),
    BIN("_operator.le", "le", cpu::sym_compare<3>),
    BIN("_operator.gt", "gt", cpu::sym_compare<4>),
    BIN("_operator.ge", "ge", cpu::sym_compare<5>),
    BIN("_operator.and_", "and_", cpu::sym_logic<0>),
    BIN("_operator.or_", "or_", cpu::sym_logic<1>),
    UN("_operator.not_", "not_", cpu::sym_not),
    UN("torch.sym_not", "sym_not", cpu::sym_not),
    UN("_operator.neg", "neg", cpu::sym_neg),
    UN("torch.sym_float", "sym_float", cpu::sym_float),
    UN("torch.sym_int", "sym_int", cpu::sym_to_int<0>),
    UN("math.trunc", "trunc", cpu::sym_to_int<0>),
    UN("math.floor", "floor", cpu::sym_to_int<1>),
    UN("math.ceil", "ceil", cpu::sym_to_int<2>),
    UN("torch._sym_sqrt", "_sym_sqrt", cpu::sym_sqrt),
    UN("math.sqrt", "sqrt", cpu::sym_sqrt),
    {.target = "torch.sym_ite", .schema = "sym_ite(Scalar b, Scalar t, Scalar f) -> Scalar", .cpu = cpu::sym_ite,
     .shape_only = true},
    {.target = "aten._assert_scalar.default", .schema = "_assert_scalar(Scalar self, str assert_msg) -> ()",
     .cpu = cpu::assert_scalar, .shape_only = true},
    {.target = "aten.sym_constrain_range_for_size.default",
     .schema = "sym_constrain_range_for_size(Scalar size, *, int? min=None, int? max=None) -> ()", .cpu = cpu::no_op,
     .shape_only = true},
    {.target = "aten.sym_constrain_range.default",
     .schema = "sym_constrain_range(Scalar size, *, int? min=None, int? max=None) -> ()", .cpu = cpu::no_op,
     .shape_only = true},
    {.target = "aten._assert_tensor_metadata.default",
     .schema = "_assert_tensor_metadata(Tensor a, SymInt[]? size=None, SymInt[]? stride=None, ScalarType? dtype=None, *, Device? device=None, Layout? layout=None) -> ()",
     .cpu = cpu::no_op, .shape_only = true},
    {.target = "aten._local_scalar_dense.default", .schema = "_local_scalar_dense(Tensor self) -> Scalar",
     .meta = meta_item, .cpu = item},
    {.target = "aten.item.default", .schema = "item(Tensor self) -> Scalar", .meta = meta_item, .cpu = item},
};
#undef BIN
#undef UN

}  // namespace

std::span<const OpRow> op_rows_symint() { return kRows; }

}  // namespace fxopt::rt::ops
