// Op rows of the elementwise family: arithmetic, comparisons, logical/bitwise ops, where, unary math and
// clamps, with their meta rules (PyTorch's type promotion and broadcasting). Compute: runtime/cpu/
// elementwise.cpp; GPU: runtime/gpu_backend.cpp.
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

using cpu::Domain;

std::optional<Value> meta_arith(const OpArgs& a) {
  return meta_tensor(promote_of({&a[0], &a[1]}), broadcast_of({&a[0], &a[1]}));
}
// True division: integer results become float32.
std::optional<Value> meta_true_div(const OpArgs& a) {
  DType d = promote_of({&a[0], &a[1]});
  if (is_integral(d) && (a.size() < 3 || a.is_none(2))) d = DType::F32;
  return meta_tensor(d, broadcast_of({&a[0], &a[1]}));
}
std::optional<Value> meta_bool2(const OpArgs& a) {
  promote_of({&a[0], &a[1]});  // the operands must promote (fp8 with another dtype does not)
  return meta_tensor(DType::Bool, broadcast_of({&a[0], &a[1]}));
}
std::optional<Value> meta_bitwise(const OpArgs& a) {
  const DType d = promote_of({&a[0], &a[1]});
  if (!is_integral(d)) throw InputError(std::string("bitwise ops need integer or bool operands, got ") + dtype_name(d));
  return meta_tensor(d, broadcast_of({&a[0], &a[1]}));
}
std::optional<Value> meta_same(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(x.dtype(), x.shape());
}
std::optional<Value> meta_same_int(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (!is_integral(x.dtype())) throw InputError(std::string("bitwise_not needs an integer or bool tensor, got ") + dtype_name(x.dtype()));
  return meta_tensor(x.dtype(), x.shape());
}
std::optional<Value> meta_same_float(const OpArgs& a) {  // int -> float32
  const Tensor& x = a.tensor(0);
  return meta_tensor(is_integral(x.dtype()) ? DType::F32 : x.dtype(), x.shape());
}
std::optional<Value> meta_bool1(const OpArgs& a) { return meta_tensor(DType::Bool, a.tensor(0).shape()); }
std::optional<Value> meta_where(const OpArgs& a) {
  if (a[0].is_tensor() && a[0].tensor.dtype() != DType::Bool && a[0].tensor.dtype() != DType::U8)
    throw InputError(std::string("where: the condition must be bool, got ") + dtype_name(a[0].tensor.dtype()));
  return meta_tensor(promote_of({&a[1], &a[2]}), broadcast_of({&a[0], &a[1], &a[2]}));
}
std::optional<Value> meta_masked_fill(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const Shape s = broadcast_of({&a[0], &a[1]});
  if (s != x.shape()) throw InputError("masked_fill: the mask " + shape_str(a.tensor(1).shape()) + " does not broadcast to " + shape_str(x.shape()));
  return meta_tensor(x.dtype(), x.shape());
}
std::optional<Value> meta_clamp(const OpArgs& a) {
  const Value* lo = a.size() > 1 ? &a[1] : nullptr;
  const Value* hi = a.size() > 2 ? &a[2] : nullptr;
  if (lo && hi && lo->kind == Value::Kind::None && hi->kind == Value::Kind::None)
    throw InputError("clamp needs at least one of min and max");
  return meta_tensor(promote_of({&a[0], lo, hi}), broadcast_of({&a[0], lo, hi}));
}

bool alpha_is_one(const OpArgs& a) { return a.f64(2) == 1.0; }
bool exponent_is_two(const OpArgs& a) { return a[1].is_number() && a[1].as_double() == 2.0; }
bool no_rounding_mode(const OpArgs& a) { return a.size() < 3 || a.is_none(2); }

constexpr DTypeSet kGpuCmp = kGpuFloat | DTypeSet{DType::Bool};

// One row per overload; U: a unary float op, S: a unary op keeping the dtype.
#define U(name, cpu_fn, gpu_fn) \
  {.target = "aten." name ".default", .schema = name "(Tensor self) -> Tensor", .meta = meta_same_float, .cpu = cpu_fn, .gpu = gpu_fn, .gpu_dtypes = kGpuFloat}
#define S(name, cpu_fn, gpu_fn) \
  {.target = "aten." name ".default", .schema = name "(Tensor self) -> Tensor", .meta = meta_same, .cpu = cpu_fn, .gpu = gpu_fn, .gpu_dtypes = kGpuFloat}
#define CMP(name, k, gpu_fn)                                                                                      \
  {.target = "aten." name ".Tensor", .schema = name ".Tensor(Tensor self, Tensor other) -> Tensor", .meta = meta_bool2, \
   .cpu = cpu::compare<k>, .gpu = gpu_fn, .gpu_dtypes = kGpuCmp},                                                  \
  {.target = "aten." name ".Scalar", .schema = name ".Scalar(Tensor self, Scalar other) -> Tensor", .meta = meta_bool2, \
   .cpu = cpu::compare<k>, .gpu = gpu_fn, .gpu_dtypes = kGpuCmp}
#define BIT(name, k)                                                                                                  \
  {.target = "aten." name ".Tensor", .schema = name ".Tensor(Tensor self, Tensor other) -> Tensor", .meta = meta_bitwise, \
   .cpu = cpu::bitwise<k>},                                                                                           \
  {.target = "aten." name ".Scalar", .schema = name ".Scalar(Tensor self, Scalar other) -> Tensor", .meta = meta_bitwise, \
   .cpu = cpu::bitwise<k>}

const OpRow kRows[] = {
    {.target = "aten.add.Tensor", .schema = "add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::add_sub<1>, .gpu = FXOPT_GPU(add), .gpu_dtypes = kGpuFloat, .gpu_when = alpha_is_one},
    {.target = "aten.add.Scalar", .schema = "add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::add_sub<1>, .gpu = FXOPT_GPU(add), .gpu_dtypes = kGpuFloat, .gpu_when = alpha_is_one},
    {.target = "aten.sub.Tensor", .schema = "sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::add_sub<-1>, .gpu = FXOPT_GPU(sub), .gpu_dtypes = kGpuFloat, .gpu_when = alpha_is_one},
    {.target = "aten.sub.Scalar", .schema = "sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::add_sub<-1>, .gpu = FXOPT_GPU(sub), .gpu_dtypes = kGpuFloat, .gpu_when = alpha_is_one},
    {.target = "aten.rsub.Tensor", .schema = "rsub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::rsub},
    {.target = "aten.rsub.Scalar", .schema = "rsub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
     .meta = meta_arith, .cpu = cpu::rsub},
    {.target = "aten.mul.Tensor", .schema = "mul.Tensor(Tensor self, Tensor other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::mul, .gpu = FXOPT_GPU(mul), .gpu_dtypes = kGpuFloat},
    {.target = "aten.mul.Scalar", .schema = "mul.Scalar(Tensor self, Scalar other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::mul, .gpu = FXOPT_GPU(mul), .gpu_dtypes = kGpuFloat},
    {.target = "aten.div.Tensor", .schema = "div.Tensor(Tensor self, Tensor other) -> Tensor", .meta = meta_true_div,
     .cpu = cpu::div, .gpu = FXOPT_GPU(div), .gpu_dtypes = kGpuFloat},
    {.target = "aten.div.Scalar", .schema = "div.Scalar(Tensor self, Scalar other) -> Tensor", .meta = meta_true_div,
     .cpu = cpu::div, .gpu = FXOPT_GPU(div), .gpu_dtypes = kGpuFloat},
    {.target = "aten.div.Tensor_mode",
     .schema = "div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) -> Tensor", .meta = meta_true_div,
     .cpu = cpu::div, .gpu = FXOPT_GPU(div), .gpu_dtypes = kGpuFloat, .gpu_when = no_rounding_mode},
    {.target = "aten.div.Scalar_mode",
     .schema = "div.Scalar_mode(Tensor self, Scalar other, *, str? rounding_mode) -> Tensor", .meta = meta_true_div,
     .cpu = cpu::div, .gpu = FXOPT_GPU(div), .gpu_dtypes = kGpuFloat, .gpu_when = no_rounding_mode},
    {.target = "aten.remainder.Tensor", .schema = "remainder.Tensor(Tensor self, Tensor other) -> Tensor",
     .meta = meta_arith, .cpu = cpu::remainder},
    {.target = "aten.remainder.Scalar", .schema = "remainder.Scalar(Tensor self, Scalar other) -> Tensor",
     .meta = meta_arith, .cpu = cpu::remainder},
    {.target = "aten.fmod.Tensor", .schema = "fmod.Tensor(Tensor self, Tensor other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::fmod},
    {.target = "aten.fmod.Scalar", .schema = "fmod.Scalar(Tensor self, Scalar other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::fmod},
    {.target = "aten.maximum.default", .schema = "maximum(Tensor self, Tensor other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::maximum, .gpu = FXOPT_GPU(maximum), .gpu_dtypes = kGpuFloat},
    {.target = "aten.minimum.default", .schema = "minimum(Tensor self, Tensor other) -> Tensor", .meta = meta_arith,
     .cpu = cpu::minimum, .gpu = FXOPT_GPU(minimum), .gpu_dtypes = kGpuFloat},
    {.target = "aten.pow.Tensor_Scalar", .schema = "pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor",
     .meta = meta_arith, .cpu = cpu::pow_op, .gpu = FXOPT_GPU(pow_square), .gpu_dtypes = kGpuFloat,
     .gpu_when = exponent_is_two},
    {.target = "aten.pow.Tensor_Tensor", .schema = "pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor",
     .meta = meta_arith, .cpu = cpu::pow_op},
    {.target = "aten.pow.Scalar", .schema = "pow.Scalar(Scalar self, Tensor exponent) -> Tensor", .meta = meta_arith,
     .cpu = cpu::pow_op},
    CMP("eq", 0, FXOPT_GPU(eq)),
    CMP("ne", 1, FXOPT_GPU(ne)),
    CMP("lt", 2, FXOPT_GPU(lt)),
    CMP("le", 3, FXOPT_GPU(le)),
    CMP("gt", 4, FXOPT_GPU(gt)),
    CMP("ge", 5, FXOPT_GPU(ge)),
    {.target = "aten.logical_and.default", .schema = "logical_and(Tensor self, Tensor other) -> Tensor",
     .meta = meta_bool2, .cpu = cpu::logical<0>},
    {.target = "aten.logical_or.default", .schema = "logical_or(Tensor self, Tensor other) -> Tensor",
     .meta = meta_bool2, .cpu = cpu::logical<1>},
    {.target = "aten.logical_xor.default", .schema = "logical_xor(Tensor self, Tensor other) -> Tensor",
     .meta = meta_bool2, .cpu = cpu::logical<2>},
    {.target = "aten.logical_not.default", .schema = "logical_not(Tensor self) -> Tensor", .meta = meta_bool1,
     .cpu = cpu::logical_not},
    BIT("bitwise_and", 0),
    BIT("bitwise_or", 1),
    BIT("bitwise_xor", 2),
    {.target = "aten.bitwise_not.default", .schema = "bitwise_not(Tensor self) -> Tensor", .meta = meta_same_int,
     .cpu = cpu::bitwise_not},
    {.target = "aten.where.self", .schema = "where.self(Tensor condition, Tensor self, Tensor other) -> Tensor",
     .meta = meta_where, .cpu = cpu::where, .gpu = FXOPT_GPU(where), .gpu_dtypes = kGpuCmp},
    {.target = "aten.where.ScalarOther",
     .schema = "where.ScalarOther(Tensor condition, Tensor self, Scalar other) -> Tensor", .meta = meta_where,
     .cpu = cpu::where, .gpu = FXOPT_GPU(where), .gpu_dtypes = kGpuCmp},
    {.target = "aten.where.ScalarSelf",
     .schema = "where.ScalarSelf(Tensor condition, Scalar self, Tensor other) -> Tensor", .meta = meta_where,
     .cpu = cpu::where, .gpu = FXOPT_GPU(where), .gpu_dtypes = kGpuCmp},
    {.target = "aten.where.Scalar", .schema = "where.Scalar(Tensor condition, Scalar self, Scalar other) -> Tensor",
     .meta = meta_where, .cpu = cpu::where},
    {.target = "aten.masked_fill.Scalar",
     .schema = "masked_fill.Scalar(Tensor self, Tensor mask, Scalar value) -> Tensor", .meta = meta_masked_fill,
     .cpu = cpu::masked_fill},
    {.target = "aten.masked_fill.Tensor",
     .schema = "masked_fill.Tensor(Tensor self, Tensor mask, Tensor value) -> Tensor", .meta = meta_masked_fill,
     .cpu = cpu::masked_fill},
    S("neg", cpu::neg, FXOPT_GPU(neg)),
    S("abs", cpu::abs_op, FXOPT_GPU(abs)),
    S("relu", cpu::relu, FXOPT_GPU(relu)),
    S("sign", cpu::sign, nullptr),
    S("floor", cpu::rounding<0>, nullptr),
    S("ceil", cpu::rounding<1>, nullptr),
    S("round", cpu::rounding<2>, nullptr),
    S("trunc", cpu::rounding<3>, nullptr),
    {.target = "aten.isnan.default", .schema = "isnan(Tensor self) -> Tensor", .meta = meta_bool1, .cpu = cpu::classify<0>},
    {.target = "aten.isinf.default", .schema = "isinf(Tensor self) -> Tensor", .meta = meta_bool1, .cpu = cpu::classify<1>},
    {.target = "aten.isfinite.default", .schema = "isfinite(Tensor self) -> Tensor", .meta = meta_bool1,
     .cpu = cpu::classify<2>},
    U("exp", cpu::exp_op, FXOPT_GPU(exp)),
    U("rsqrt", cpu::rsqrt, FXOPT_GPU(rsqrt)),
    U("sqrt", cpu::sqrt_op, FXOPT_GPU(sqrt)),
    U("reciprocal", cpu::reciprocal, FXOPT_GPU(reciprocal)),
    U("sigmoid", cpu::sigmoid, FXOPT_GPU(sigmoid)),
    U("silu", cpu::silu, FXOPT_GPU(silu)),
    U("log", cpu::log_op, nullptr),
    U("log1p", cpu::log1p_op, nullptr),
    U("log2", cpu::log2_op, nullptr),
    U("expm1", cpu::expm1_op, nullptr),
    U("exp2", cpu::exp2_op, nullptr),
    U("erf", cpu::erf_op, nullptr),
    U("erfc", cpu::erfc_op, nullptr),
    U("sin", cpu::sin_op, nullptr),
    U("cos", cpu::cos_op, nullptr),
    U("tan", cpu::tan_op, nullptr),
    U("tanh", cpu::tanh_op, nullptr),
    U("atan", cpu::atan_op, nullptr),
    {.target = "aten.gelu.default", .schema = "gelu(Tensor self, *, str approximate='none') -> Tensor",
     .meta = meta_same_float, .cpu = cpu::gelu},
    {.target = "aten.softplus.default", .schema = "softplus(Tensor self, Scalar beta=1, Scalar threshold=20) -> Tensor",
     .meta = meta_same_float, .cpu = cpu::softplus},
    {.target = "aten.clamp.default", .schema = "clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor",
     .meta = meta_clamp, .cpu = cpu::clamp, .gpu = FXOPT_GPU(clamp), .gpu_dtypes = kGpuFloat},
    {.target = "aten.clamp.Tensor", .schema = "clamp.Tensor(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor",
     .meta = meta_clamp, .cpu = cpu::clamp},
    {.target = "aten.clamp_min.default", .schema = "clamp_min(Tensor self, Scalar min) -> Tensor", .meta = meta_arith,
     .cpu = cpu::clamp_min, .gpu = FXOPT_GPU(clamp_min), .gpu_dtypes = kGpuFloat},
    {.target = "aten.clamp_min.Tensor", .schema = "clamp_min.Tensor(Tensor self, Tensor min) -> Tensor",
     .meta = meta_arith, .cpu = cpu::clamp_min},
    {.target = "aten.clamp_max.default", .schema = "clamp_max(Tensor self, Scalar max) -> Tensor", .meta = meta_arith,
     .cpu = cpu::clamp_max, .gpu = FXOPT_GPU(clamp_max), .gpu_dtypes = kGpuFloat},
    {.target = "aten.clamp_max.Tensor", .schema = "clamp_max.Tensor(Tensor self, Tensor max) -> Tensor",
     .meta = meta_arith, .cpu = cpu::clamp_max},
};
#undef U
#undef S
#undef CMP
#undef BIT

}  // namespace

std::span<const OpRow> op_rows_elementwise() { return kRows; }

}  // namespace fxopt::rt::ops
