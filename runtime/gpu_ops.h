// The GPU computes the op rows name (runtime/ops/*.cpp): FXOPT_GPU(fn) is &gpu_ops::fn in a GPU build
// and nullptr otherwise (the node then runs on the CPU). Defined in runtime/gpu_backend.cpp.
#pragma once

#include "runtime/op_registry.h"

namespace fxopt::rt::cpu {
struct RowsBackend;
}

namespace fxopt::rt::gpu_ops {

Value add(const OpArgs& a, ExecContext& ctx);
Value sub(const OpArgs& a, ExecContext& ctx);
Value mul(const OpArgs& a, ExecContext& ctx);
Value div(const OpArgs& a, ExecContext& ctx);
Value maximum(const OpArgs& a, ExecContext& ctx);
Value minimum(const OpArgs& a, ExecContext& ctx);
Value neg(const OpArgs& a, ExecContext& ctx);
Value abs(const OpArgs& a, ExecContext& ctx);
Value exp(const OpArgs& a, ExecContext& ctx);
Value rsqrt(const OpArgs& a, ExecContext& ctx);
Value sqrt(const OpArgs& a, ExecContext& ctx);
Value reciprocal(const OpArgs& a, ExecContext& ctx);
Value relu(const OpArgs& a, ExecContext& ctx);
Value sigmoid(const OpArgs& a, ExecContext& ctx);
Value silu(const OpArgs& a, ExecContext& ctx);
Value pow_square(const OpArgs& a, ExecContext& ctx);
Value clamp(const OpArgs& a, ExecContext& ctx);
Value clamp_min(const OpArgs& a, ExecContext& ctx);
Value clamp_max(const OpArgs& a, ExecContext& ctx);
Value eq(const OpArgs& a, ExecContext& ctx);
Value ne(const OpArgs& a, ExecContext& ctx);
Value lt(const OpArgs& a, ExecContext& ctx);
Value le(const OpArgs& a, ExecContext& ctx);
Value gt(const OpArgs& a, ExecContext& ctx);
Value ge(const OpArgs& a, ExecContext& ctx);
Value where(const OpArgs& a, ExecContext& ctx);
Value convert(const OpArgs& a, ExecContext& ctx);  // convert_element_type, _to_copy, clone: a copy
Value reshape(const OpArgs& a, ExecContext& ctx);
Value sum_dim(const OpArgs& a, ExecContext& ctx);
Value mean_dim(const OpArgs& a, ExecContext& ctx);
Value amax(const OpArgs& a, ExecContext& ctx);
Value amin(const OpArgs& a, ExecContext& ctx);
Value max_dim(const OpArgs& a, ExecContext& ctx);
Value min_dim(const OpArgs& a, ExecContext& ctx);
Value mm(const OpArgs& a, ExecContext& ctx);
Value addmm(const OpArgs& a, ExecContext& ctx);
Value bmm(const OpArgs& a, ExecContext& ctx);
Value embedding(const OpArgs& a, ExecContext& ctx);
Value index_select(const OpArgs& a, ExecContext& ctx);
Value gather(const OpArgs& a, ExecContext& ctx);
Value index(const OpArgs& a, ExecContext& ctx);  // index.Tensor / _unsafe_index.Tensor with integer indices
Value index_put(const OpArgs& a, ExecContext& ctx);  // index_put / _unsafe_index_put, accumulate=False
Value sdpa(const OpArgs& a, ExecContext& ctx);            // scaled_dot_product_attention
Value sdpa_math(const OpArgs& a, ExecContext& ctx);       // _scaled_dot_product_attention_math (out, weights)
Value sdpa_flash(const OpArgs& a, ExecContext& ctx);      // _scaled_dot_product_flash_attention
Value sdpa_flash_cpu(const OpArgs& a, ExecContext& ctx);  // _scaled_dot_product_flash_attention_for_cpu
Value sdpa_efficient(const OpArgs& a, ExecContext& ctx);  // _scaled_dot_product_efficient_attention
Value sdpa_cudnn(const OpArgs& a, ExecContext& ctx);      // _scaled_dot_product_cudnn_attention
Value grouped_mm(const OpArgs& a, ExecContext& ctx);      // _grouped_mm
Value convolution(const OpArgs& a, ExecContext& ctx);     // convolution (1-d, 2-d)
Value cumsum(const OpArgs& a, ExecContext& ctx);
Value cumprod(const OpArgs& a, ExecContext& ctx);
Value sort(const OpArgs& a, ExecContext& ctx);     // sort.default / sort.stable
Value argsort(const OpArgs& a, ExecContext& ctx);  // argsort.default / argsort.stable
Value topk(const OpArgs& a, ExecContext& ctx);
Value cat(const OpArgs& a, ExecContext& ctx);
Value copy(const OpArgs& a, ExecContext& ctx);  // aten.copy (functional): src into a new tensor shaped like self
Value slice_scatter(const OpArgs& a, ExecContext& ctx);
Value select_scatter(const OpArgs& a, ExecContext& ctx);
Value fused_rms_gated(const OpArgs& a, ExecContext& ctx);
Value group_quant(const OpArgs& a, ExecContext& ctx);
Value rmsnorm_quant(const OpArgs& a, ExecContext& ctx);
// Device allocation and contiguity for computes outside runtime/gpu_backend.cpp.
Tensor device_tensor(DType d, const Shape& shape);
Tensor device_contiguous(const Tensor& x);
// The vLLM RMSNorm + FP8 family on the GPU (runtime/gpu_rms_norm_quant.cpp; rows: runtime/ops/rms_norm_quant.cpp).
const cpu::RowsBackend& rms_norm_quant_rows();

}  // namespace fxopt::rt::gpu_ops

#if defined(FXOPT_HAVE_GPU) && FXOPT_HAVE_GPU
#define FXOPT_GPU(fn) (&::fxopt::rt::gpu_ops::fn)
#else
#define FXOPT_GPU(fn) nullptr
#endif
