// The CPU computes of the op rows (runtime/ops/*.cpp), one section per runtime/cpu/<family>.cpp, and
// the helpers they share with the meta rules.
#pragma once

#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {

// The compute domain of a result dtype: double for float64, float for the other floats, int64 otherwise.
enum class Domain { F32, F64, I64 };
Domain domain_of(DType d);

// x viewed as (outer, inner) rows: the kept dims first (in order), the reduced dims last.
struct ReducePlan {
  Shape out_shape;  // with or without the kept size-1 dims
  int64_t outer = 1, inner = 1;
  Tensor rows;      // the permuted view
};
// dims: nullopt or empty reduce every dim. Throws InputError for a repeated or out-of-range dim.
ReducePlan reduce_plan(const Tensor& x, const std::optional<std::vector<int64_t>>& dims, bool keepdim);

// arange's start, end, step (by the overload's argument names), length and dtype (dtype=, else int64
// when every bound is an int, else float32).
struct ArangeParams {
  double start = 0, end = 0, step = 1;
  int64_t length = 0;
  DType dtype = DType::I64;
};
ArangeParams arange_params(const OpArgs& a);

// expand's view of x at `sizes` (-1 keeps a dim).
Tensor expand_to(const Tensor& x, const std::vector<int64_t>& sizes);

// ---- elementwise.cpp ----
template <int kSign> Value add_sub(const OpArgs& a, ExecContext& ctx);  // 1 add, -1 sub
Value rsub(const OpArgs& a, ExecContext& ctx);
Value mul(const OpArgs& a, ExecContext& ctx);
Value div(const OpArgs& a, ExecContext& ctx);
Value remainder(const OpArgs& a, ExecContext& ctx);
Value fmod(const OpArgs& a, ExecContext& ctx);
Value maximum(const OpArgs& a, ExecContext& ctx);
Value minimum(const OpArgs& a, ExecContext& ctx);
Value pow_op(const OpArgs& a, ExecContext& ctx);
template <int kOp> Value compare(const OpArgs& a, ExecContext& ctx);  // eq ne lt le gt ge
template <int kOp> Value logical(const OpArgs& a, ExecContext& ctx);  // and or xor
Value logical_not(const OpArgs& a, ExecContext& ctx);
template <int kOp> Value bitwise(const OpArgs& a, ExecContext& ctx);  // and or xor
Value bitwise_not(const OpArgs& a, ExecContext& ctx);
Value where(const OpArgs& a, ExecContext& ctx);
Value masked_fill(const OpArgs& a, ExecContext& ctx);
Value neg(const OpArgs& a, ExecContext& ctx);
Value abs_op(const OpArgs& a, ExecContext& ctx);
Value relu(const OpArgs& a, ExecContext& ctx);
Value sign(const OpArgs& a, ExecContext& ctx);
template <int kOp> Value rounding(const OpArgs& a, ExecContext& ctx);  // floor ceil round trunc
template <int kOp> Value classify(const OpArgs& a, ExecContext& ctx);  // isnan isinf isfinite
Value exp_op(const OpArgs& a, ExecContext& ctx);
Value rsqrt(const OpArgs& a, ExecContext& ctx);
Value sigmoid(const OpArgs& a, ExecContext& ctx);
Value silu(const OpArgs& a, ExecContext& ctx);
Value gelu(const OpArgs& a, ExecContext& ctx);
Value softplus(const OpArgs& a, ExecContext& ctx);
Value log_op(const OpArgs& a, ExecContext& ctx);
Value log1p_op(const OpArgs& a, ExecContext& ctx);
Value log2_op(const OpArgs& a, ExecContext& ctx);
Value expm1_op(const OpArgs& a, ExecContext& ctx);
Value exp2_op(const OpArgs& a, ExecContext& ctx);
Value erf_op(const OpArgs& a, ExecContext& ctx);
Value erfc_op(const OpArgs& a, ExecContext& ctx);
Value sin_op(const OpArgs& a, ExecContext& ctx);
Value cos_op(const OpArgs& a, ExecContext& ctx);
Value tan_op(const OpArgs& a, ExecContext& ctx);
Value tanh_op(const OpArgs& a, ExecContext& ctx);
Value atan_op(const OpArgs& a, ExecContext& ctx);
Value sqrt_op(const OpArgs& a, ExecContext& ctx);
Value reciprocal(const OpArgs& a, ExecContext& ctx);
Value clamp(const OpArgs& a, ExecContext& ctx);
Value clamp_min(const OpArgs& a, ExecContext& ctx);
Value clamp_max(const OpArgs& a, ExecContext& ctx);

// ---- reduce.cpp ----
Value sum_dim(const OpArgs& a, ExecContext& ctx);
Value sum_all(const OpArgs& a, ExecContext& ctx);
Value mean_dim(const OpArgs& a, ExecContext& ctx);
Value mean_all(const OpArgs& a, ExecContext& ctx);
Value prod_all(const OpArgs& a, ExecContext& ctx);
Value prod_dim(const OpArgs& a, ExecContext& ctx);
template <bool kMax> Value amax(const OpArgs& a, ExecContext& ctx);
template <bool kMax> Value max_all(const OpArgs& a, ExecContext& ctx);
template <bool kMax> Value max_dim(const OpArgs& a, ExecContext& ctx);
template <bool kMax> Value argmax(const OpArgs& a, ExecContext& ctx);
template <bool kAny> Value any_all(const OpArgs& a, ExecContext& ctx);
template <int kOp> Value var_like(const OpArgs& a, ExecContext& ctx);  // var std var_mean
template <bool kLog> Value softmax(const OpArgs& a, ExecContext& ctx);
Value safe_softmax(const OpArgs& a, ExecContext& ctx);
Value prepare_softmax_online(const OpArgs& a, ExecContext& ctx);
Value logsumexp(const OpArgs& a, ExecContext& ctx);

// ---- convert.cpp ----
Value convert_element_type(const OpArgs& a, ExecContext& ctx);
Value to_dtype(const OpArgs& a, ExecContext& ctx);
Value view_dtype(const OpArgs& a, ExecContext& ctx);

// ---- shape.cpp (views first: shape-only) ----
Value reshape(const OpArgs& a, ExecContext& ctx);
Value squeeze_all(const OpArgs& a, ExecContext& ctx);
Value squeeze_dims(const OpArgs& a, ExecContext& ctx);
Value unsqueeze(const OpArgs& a, ExecContext& ctx);
Value permute(const OpArgs& a, ExecContext& ctx);
Value transpose(const OpArgs& a, ExecContext& ctx);
Value t_op(const OpArgs& a, ExecContext& ctx);
Value expand(const OpArgs& a, ExecContext& ctx);
Value alias(const OpArgs& a, ExecContext& ctx);
Value slice(const OpArgs& a, ExecContext& ctx);
Value select(const OpArgs& a, ExecContext& ctx);
Value narrow(const OpArgs& a, ExecContext& ctx);
Value split(const OpArgs& a, ExecContext& ctx);
Value split_with_sizes(const OpArgs& a, ExecContext& ctx);
Value unbind(const OpArgs& a, ExecContext& ctx);
Value as_strided(const OpArgs& a, ExecContext& ctx);
Value diagonal(const OpArgs& a, ExecContext& ctx);
Value getitem(const OpArgs& a, ExecContext& ctx);
Value clone(const OpArgs& a, ExecContext& ctx);
Value cat(const OpArgs& a, ExecContext& ctx);
Value stack(const OpArgs& a, ExecContext& ctx);
Value constant_pad_nd(const OpArgs& a, ExecContext& ctx);
Value slice_scatter(const OpArgs& a, ExecContext& ctx);
Value select_scatter(const OpArgs& a, ExecContext& ctx);
Value copy(const OpArgs& a, ExecContext& ctx);
Value copy_inplace(const OpArgs& a, ExecContext& ctx);
Value repeat(const OpArgs& a, ExecContext& ctx);
Value flip(const OpArgs& a, ExecContext& ctx);
template <bool kUpper> Value tri(const OpArgs& a, ExecContext& ctx);
Value full(const OpArgs& a, ExecContext& ctx);
Value zeros(const OpArgs& a, ExecContext& ctx);
Value ones(const OpArgs& a, ExecContext& ctx);
Value empty(const OpArgs& a, ExecContext& ctx);
Value scalar_tensor(const OpArgs& a, ExecContext& ctx);
Value arange(const OpArgs& a, ExecContext& ctx);
Value iota(const OpArgs& a, ExecContext& ctx);

// ---- matmul.cpp ----
Value mm(const OpArgs& a, ExecContext& ctx);
Value addmm(const OpArgs& a, ExecContext& ctx);
Value bmm(const OpArgs& a, ExecContext& ctx);

// ---- fused.cpp (meta rules too: they hold the argument checks) ----
std::optional<Value> meta_fused_rms_gated(const OpArgs& a);
std::optional<Value> meta_group_quant(const OpArgs& a);
std::optional<Value> meta_rmsnorm_dynamic_quant(const OpArgs& a);
Value fused_rms_gated(const OpArgs& a, ExecContext& ctx);
Value group_quant(const OpArgs& a, ExecContext& ctx);
Value rmsnorm_dynamic_quant(const OpArgs& a, ExecContext& ctx);

// ---- symint_ops.cpp ----
Value sym_size(const OpArgs& a, ExecContext& ctx);
Value sym_stride(const OpArgs& a, ExecContext& ctx);
Value sym_numel(const OpArgs& a, ExecContext& ctx);
Value sym_storage_offset(const OpArgs& a, ExecContext& ctx);
template <char kOp> Value sym_arith(const OpArgs& a, ExecContext& ctx);  // + - * / f(loordiv) % ^ M(ax) m(in)
template <int kOp> Value sym_compare(const OpArgs& a, ExecContext& ctx);  // eq ne lt le gt ge
template <int kOp> Value sym_logic(const OpArgs& a, ExecContext& ctx);  // and or
Value sym_not(const OpArgs& a, ExecContext& ctx);
Value sym_neg(const OpArgs& a, ExecContext& ctx);
Value sym_float(const OpArgs& a, ExecContext& ctx);
template <int kOp> Value sym_to_int(const OpArgs& a, ExecContext& ctx);  // trunc floor ceil
Value sym_sqrt(const OpArgs& a, ExecContext& ctx);
Value sym_ite(const OpArgs& a, ExecContext& ctx);
Value assert_scalar(const OpArgs& a, ExecContext& ctx);
Value no_op(const OpArgs& a, ExecContext& ctx);

}  // namespace fxopt::rt::cpu
