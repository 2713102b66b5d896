// The heavy CPU compute kernels of real model graphs (convolution, pooling, attention, sort/topk/histc,
// cumsum, indexing, grouped matmul) as plain functions over rt::Tensor; the op registry's rows call them.
// Every function is deterministic: the same bits for any thread count. Bad arguments throw InputError
// (the executor prefixes the node); an out-of-range index names the index and where it was found.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace fxopt::rt::cpu {

// ---- matmul.cpp ----
// a @ b for 2-d float tensors of one dtype (any strides), as a float32 (M, N) tensor: each element summed
// over k in increasing order with separate multiply and add.
Tensor matmul_f32(const Tensor& a, const Tensor& b, int threads);
// aten._grouped_mm(self, mat2, offs, bias, out_dtype): 2d x 3d (offs splits self's rows), 3d x 2d (offs
// splits mat2's columns), 2d x 2d (offs splits k; one output matrix per group) or 3d x 3d (bmm, no offs).
// offs is int32, non-decreasing, each at most the split size. Rows/columns past offs[-1] are zero
// (PyTorch leaves them uninitialised).
Tensor grouped_mm(const Tensor& a, const Tensor& b, const Tensor* offs, const Tensor* bias, std::optional<DType> out_dtype,
                  int threads);
// _grouped_mm's argument checks (shapes, dtypes, offs on the host): the groups' end offsets (empty without offs).
std::vector<int64_t> grouped_mm_ends(const Tensor& a, const Tensor& b, const Tensor* offs, const Tensor* bias,
                                     std::optional<DType> out_dtype);

// ---- conv.cpp ----
struct ConvParams {
  std::vector<int64_t> stride, padding, dilation;  // one value each, or one per spatial dim
  bool transposed = false;                          // transposed convolution is not supported
  std::vector<int64_t> output_padding;
  int64_t groups = 1;
};
// A convolution's geometry as (N, C, H, W) x (O, C / groups, KH, KW) (1-d: H = KH = 1), checked.
struct ConvGeometry {
  int64_t n, c, h, w;      // input (N, C, H, W); 1-d inputs have H = 1
  int64_t o, kh, kw;       // weight (O, C / groups, KH, KW)
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t oh, ow, groups;
  int64_t sd = 2;          // spatial dims of the call (1 or 2)
  bool batched = true;     // the input has a batch dim
  int64_t cg() const { return c / groups; }
  int64_t og() const { return o / groups; }
  int64_t k() const { return cg() * kh * kw; }
};
// Checks a convolution's arguments (dims, dtypes, groups, bias, sizes) as aten.convolution does: InputError.
ConvGeometry conv_geometry(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p);
// aten.convolution for 1-d and 2-d inputs ((N, C, L) / (N, C, H, W), or unbatched): float32 accumulation,
// each output the sum over (input channel, kernel row, kernel column) in that order, plus the bias.
Tensor convolution(const Tensor& input, const Tensor& weight, const Tensor* bias, const ConvParams& p, int threads);

// ---- pool.cpp ----
struct PoolParams {
  std::vector<int64_t> kernel, stride, padding, dilation;  // 1 or 2 values (stride empty = kernel)
  bool ceil_mode = false;
};
struct MaxPoolResult {
  Tensor values;
  Tensor indices;  // int64 h*W+w (max_pool2d_with_indices) or int8 kh*KW+kw (the low-memory offsets)
};
// max_pool2d_with_indices; `offsets` gives prims._low_memory_max_pool_with_offsets's int8 window offsets.
// NaN wins (the last NaN of a window), as PyTorch's CPU kernel.
MaxPoolResult max_pool2d(const Tensor& x, const PoolParams& p, bool offsets);
// prims._low_memory_max_pool_offsets_to_indices: int8 offsets back to max_pool2d's int64 indices.
Tensor max_pool_offsets_to_indices(const Tensor& offsets, const std::vector<int64_t>& kernel, const std::vector<int64_t>& input_size,
                                   const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                   const std::vector<int64_t>& dilation);
Tensor avg_pool2d(const Tensor& x, const PoolParams& p, bool count_include_pad, std::optional<int64_t> divisor_override);
Tensor adaptive_avg_pool2d(const Tensor& x, const std::vector<int64_t>& output_size);

// ---- attention.cpp ----
struct AttentionParams {
  const Tensor* mask = nullptr;  // bool (true = attend) or float (added), broadcast to (B, Hq, L, S)
  bool bool_mask_adds = false;   // a bool mask is added as 0 / 1 (what _scaled_dot_product_attention_math does)
  bool causal = false;           // query i attends to keys j <= i (top-left aligned, as PyTorch)
  std::optional<double> scale;   // default 1/sqrt(E)
  bool enable_gqa = false;       // Hq a multiple of Hk: query head h uses key/value head h / (Hq / Hk)
  double dropout_p = 0.0;        // must be 0 (inference)
  bool want_weights = false;     // also return the (B, Hq, L, S) softmax (the math variant's second output)
};
struct AttentionResult {
  Tensor out;      // (B, Hq, L, Ev) in q's dtype
  Tensor lse;      // (B, Hq, L) float32: max + log(sum(exp(scores - max)))
  Tensor weights;  // when want_weights
};
// softmax(q k^T * scale + mask) v over 4-d (B, H, L, E) inputs (3-d inputs are read as B = 1), float32
// throughout: scores summed over e in order, exponentials by num::fx_expf, the row sum and the output in
// increasing key order. A fully masked row gives zeros and lse +inf (as flash attention; PyTorch's math path gives NaN).
AttentionResult attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, int threads);

// ---- sort.cpp ----
struct SortResult {
  Tensor values;
  Tensor indices;  // int64
};
// Stable sort along dim; NaN sorts above +inf; -0 and +0 are equal.
SortResult sort(const Tensor& x, int64_t dim, bool descending);
// The k largest (or smallest) along dim, ties broken by the lower index, always sorted.
SortResult topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted);
// torch.histc: `bins` equal bins over [min, max] (min == max: the data's range, widened by 1 if flat),
// elements outside and NaN ignored, the last bin closed; counts in x's dtype. Integer inputs (which
// PyTorch's CUDA kernel takes) use exact integer bins: (v - min) * bins / (max - min).
Tensor histc(const Tensor& x, int64_t bins, double min, double max);

// ---- scan.cpp ----
// cumsum / cumprod along dim: the input converted to `dtype` (default: x's dtype, int64 for integers and
// bool), accumulated in order in PyTorch's CPU accumulate type (double for float32 and float64, float for
// float16/bfloat16, int64 for integers), each prefix rounded to the result dtype.
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype);
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<DType> dtype);

// ---- index.cpp ----
// The error text of an out-of-range index (the GPU kernels report the same): "<what> value V at position
// [i, j] is out of range for dimension D of size S"; `linear` is the row-major position in index_shape.
std::string index_out_of_range(const char* what, int64_t value, const Shape& index_shape, int64_t linear, int64_t dim,
                               int64_t size);
// weight[indices]: (V, D) rows picked by an integer tensor of any shape.
Tensor embedding(const Tensor& weight, const Tensor& indices);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// scatter / scatter_add / scatter_reduce: a copy of x with src (or the scalar `value` when src is null)
// written at index along dim. reduce: "" (overwrite; the last write wins), "sum"/"add", "prod"/"multiply",
// "mean", "amax", "amin". Updates apply in index order, so the result is deterministic.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor* src, double value, const std::string& reduce,
               bool include_self);
// x[indices] (aten.index.Tensor): None entries keep their dim; int64/int32 tensors broadcast together; a
// bool/uint8 mask stands for its nonzero() coordinates.
Tensor index(const Tensor& x, const std::vector<std::optional<Tensor>>& indices);
// A copy of x with x[indices] = values (accumulate: +=, in index order).
Tensor index_put(const Tensor& x, const std::vector<std::optional<Tensor>>& indices, const Tensor& values, bool accumulate);

}  // namespace fxopt::rt::cpu
