// Op rows of the reduction family: sum, mean, prod, amax/amin, max/min, argmax/argmin, any/all,
// var/std/var_mean, softmax/log_softmax, logsumexp, prims.prepare_softmax_online. Compute: runtime/cpu/
// reduce.cpp.
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

using cpu::reduce_plan;
using cpu::ReducePlan;

// sum/mean/prod: dtype= else the input's (integers and bool sum to int64; mean needs a float).
DType sum_dtype(const Tensor& x, std::optional<DType> dt, bool mean) {
  if (dt) return *dt;
  if (is_integral(x.dtype())) {
    if (mean) throw InputError(std::string("mean of a ") + dtype_name(x.dtype()) + " tensor needs a floating dtype");
    return DType::I64;
  }
  return x.dtype();
}
std::optional<Value> meta_sum_dim(const OpArgs& a, bool mean) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(sum_dtype(x, a.opt_dtype(3), mean), reduce_plan(x, a.opt_ints(1), a.flag(2)).out_shape);
}
std::optional<Value> meta_sum(const OpArgs& a) { return meta_sum_dim(a, false); }
std::optional<Value> meta_mean(const OpArgs& a) { return meta_sum_dim(a, true); }
std::optional<Value> meta_sum_all(const OpArgs& a) { return meta_tensor(sum_dtype(a.tensor(0), a.opt_dtype(1), false), {}); }
std::optional<Value> meta_mean_all(const OpArgs& a) { return meta_tensor(sum_dtype(a.tensor(0), a.opt_dtype(1), true), {}); }
std::optional<Value> meta_prod_dim(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(sum_dtype(x, a.opt_dtype(3), false), reduce_plan(x, std::vector<int64_t>{a.i64(1)}, a.flag(2)).out_shape);
}
std::optional<Value> meta_amax(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const ReducePlan p = reduce_plan(x, a.ints(1), a.flag(2));
  if (p.inner == 0 && p.outer > 0) throw InputError("amax/amin of an empty dimension");
  return meta_tensor(x.dtype(), p.out_shape);
}
std::optional<Value> meta_max_all(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (x.numel() == 0) throw InputError("max/min of an empty tensor");
  return meta_tensor(x.dtype(), {});
}
std::optional<Value> meta_max_dim(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  const ReducePlan p = reduce_plan(x, std::vector<int64_t>{a.i64(1)}, a.flag(2));
  if (p.inner == 0 && p.outer > 0) throw InputError("max/min of an empty dimension");
  return Value::list({meta_tensor(x.dtype(), p.out_shape), meta_tensor(DType::I64, p.out_shape)});
}
std::optional<Value> meta_argmax(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  auto d = a.opt_i64(1);
  const ReducePlan p = reduce_plan(x, d ? std::optional<std::vector<int64_t>>(std::vector<int64_t>{*d}) : std::nullopt,
                                   d ? a.flag(2) : false);
  if (p.inner == 0 && p.outer > 0) throw InputError("argmax/argmin of an empty dimension");
  return meta_tensor(DType::I64, p.out_shape);
}
std::optional<Value> meta_any(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  std::optional<std::vector<int64_t>> dims;
  bool keepdim = false;
  if (a.size() > 1) {
    if (a[1].kind == Value::Kind::Int) dims = std::vector<int64_t>{a[1].i};
    else if (a[1].kind == Value::Kind::List) dims = a.ints(1);
    keepdim = a.flag(2);
  }
  return meta_tensor(x.dtype() == DType::U8 ? DType::U8 : DType::Bool, reduce_plan(x, dims, keepdim).out_shape);
}
std::optional<Value> meta_var(const OpArgs& a, bool with_mean) {
  const Tensor& x = a.tensor(0);
  if (!is_floating(x.dtype()) || is_fp8(x.dtype()))
    throw InputError(std::string("var/std need a floating tensor, got ") + dtype_name(x.dtype()));
  const Shape s = reduce_plan(x, a.opt_ints(1), a.flag(3)).out_shape;
  if (!with_mean) return meta_tensor(x.dtype(), s);
  return Value::list({meta_tensor(x.dtype(), s), meta_tensor(x.dtype(), s)});
}
std::optional<Value> meta_var1(const OpArgs& a) { return meta_var(a, false); }
std::optional<Value> meta_var2(const OpArgs& a) { return meta_var(a, true); }
std::optional<Value> meta_softmax(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  wrap_dim(a.i64(1), x.dim());
  if (!is_floating(x.dtype()) || is_fp8(x.dtype()))
    throw InputError(std::string("softmax needs a floating tensor, got ") + dtype_name(x.dtype()));
  const bool to_float = a.flag(2) && (x.dtype() == DType::F16 || x.dtype() == DType::BF16);
  return meta_tensor(to_float ? DType::F32 : x.dtype(), x.shape());
}
std::optional<Value> meta_safe_softmax(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  wrap_dim(a.i64(1), x.dim());
  const DType d = a.opt_dtype(2).value_or(x.dtype());
  if (!is_floating(d) || is_fp8(d) || !is_floating(x.dtype()))
    throw InputError(std::string("_safe_softmax needs a floating tensor and dtype, got ") + dtype_name(x.dtype()) + " -> " +
                     dtype_name(d));
  return meta_tensor(d, x.shape());
}
std::optional<Value> meta_online(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  if (!is_floating(x.dtype()) || is_fp8(x.dtype()))
    throw InputError(std::string("prepare_softmax_online needs a floating tensor, got ") + dtype_name(x.dtype()));
  const Shape s = reduce_plan(x, std::vector<int64_t>{a.i64(1)}, true).out_shape;
  return Value::list({meta_tensor(x.dtype(), s), meta_tensor(x.dtype(), s)});
}
std::optional<Value> meta_logsumexp(const OpArgs& a) {
  const Tensor& x = a.tensor(0);
  return meta_tensor(is_integral(x.dtype()) ? DType::F32 : x.dtype(), reduce_plan(x, a.ints(1), a.flag(2)).out_shape);
}

const OpRow kRows[] = {
    {.target = "aten.sum.dim_IntList",
     .schema = "sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_sum, .cpu = cpu::sum_dim, .gpu = FXOPT_GPU(sum_dim), .gpu_dtypes = kGpuFloat},
    {.target = "aten.sum.default", .schema = "sum(Tensor self, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_sum_all, .cpu = cpu::sum_all},
    {.target = "aten.mean.dim",
     .schema = "mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_mean, .cpu = cpu::mean_dim, .gpu = FXOPT_GPU(mean_dim), .gpu_dtypes = kGpuFloat},
    {.target = "aten.mean.default", .schema = "mean(Tensor self, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_mean_all, .cpu = cpu::mean_all},
    {.target = "aten.prod.default", .schema = "prod(Tensor self, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_sum_all, .cpu = cpu::prod_all},
    {.target = "aten.prod.dim_int",
     .schema = "prod.dim_int(Tensor self, int dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
     .meta = meta_prod_dim, .cpu = cpu::prod_dim},
    {.target = "aten.amax.default", .schema = "amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor",
     .meta = meta_amax, .cpu = cpu::amax<true>, .gpu = FXOPT_GPU(amax), .gpu_dtypes = kGpuFloat},
    {.target = "aten.amin.default", .schema = "amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor",
     .meta = meta_amax, .cpu = cpu::amax<false>, .gpu = FXOPT_GPU(amin), .gpu_dtypes = kGpuFloat},
    {.target = "aten.max.default", .schema = "max(Tensor self) -> Tensor", .meta = meta_max_all, .cpu = cpu::max_all<true>},
    {.target = "aten.min.default", .schema = "min(Tensor self) -> Tensor", .meta = meta_max_all, .cpu = cpu::max_all<false>},
    {.target = "aten.max.dim",
     .schema = "max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
     .meta = meta_max_dim, .cpu = cpu::max_dim<true>, .gpu = FXOPT_GPU(max_dim),
     .gpu_dtypes = kGpuFloat | DTypeSet{DType::I64}},
    {.target = "aten.min.dim",
     .schema = "min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
     .meta = meta_max_dim, .cpu = cpu::max_dim<false>, .gpu = FXOPT_GPU(min_dim),
     .gpu_dtypes = kGpuFloat | DTypeSet{DType::I64}},
    {.target = "aten.argmax.default", .schema = "argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor",
     .meta = meta_argmax, .cpu = cpu::argmax<true>},
    {.target = "aten.argmin.default", .schema = "argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor",
     .meta = meta_argmax, .cpu = cpu::argmax<false>},
    {.target = "aten.any.default", .schema = "any(Tensor self) -> Tensor", .meta = meta_any, .cpu = cpu::any_all<true>},
    {.target = "aten.any.dim", .schema = "any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor", .meta = meta_any,
     .cpu = cpu::any_all<true>},
    {.target = "aten.any.dims", .schema = "any.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
     .meta = meta_any, .cpu = cpu::any_all<true>},
    {.target = "aten.all.default", .schema = "all(Tensor self) -> Tensor", .meta = meta_any, .cpu = cpu::any_all<false>},
    {.target = "aten.all.dim", .schema = "all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor", .meta = meta_any,
     .cpu = cpu::any_all<false>},
    {.target = "aten.all.dims", .schema = "all.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor",
     .meta = meta_any, .cpu = cpu::any_all<false>},
    {.target = "aten.var.correction",
     .schema = "var.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
     .meta = meta_var1, .cpu = cpu::var_like<0>},
    {.target = "aten.std.correction",
     .schema = "std.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
     .meta = meta_var1, .cpu = cpu::var_like<1>},
    {.target = "aten.var_mean.correction",
     .schema = "var_mean.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> (Tensor, Tensor)",
     .meta = meta_var2, .cpu = cpu::var_like<2>},
    {.target = "aten._softmax.default", .schema = "_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
     .meta = meta_softmax, .cpu = cpu::softmax<false>},
    {.target = "aten._safe_softmax.default",
     .schema = "_safe_softmax(Tensor self, int dim, ScalarType? dtype=None) -> Tensor", .meta = meta_safe_softmax,
     .cpu = cpu::safe_softmax},
    {.target = "aten._log_softmax.default", .schema = "_log_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
     .meta = meta_softmax, .cpu = cpu::softmax<true>},
    {.target = "prims.prepare_softmax_online.default",
     .schema = "prepare_softmax_online(Tensor a, int dim) -> (Tensor, Tensor)", .meta = meta_online,
     .cpu = cpu::prepare_softmax_online},
    {.target = "aten.logsumexp.default", .schema = "logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor",
     .meta = meta_logsumexp, .cpu = cpu::logsumexp},
};

}  // namespace

std::span<const OpRow> op_rows_reduce() { return kRows; }

}  // namespace fxopt::rt::ops
