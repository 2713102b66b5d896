// CPU kernels of the vLLM QK-norm + RoPE family: num::rope_ref and num::qk_norm_rope_ref behind the mutating
// _C.rotary_embedding and _C.fused_qk_norm_rope (run for auto_functionalized nodes), with their argument checks.
#include "runtime/cpu/qk_norm_rope.h"

#include <string>
#include <vector>

#include "runtime/cpu/kernels.h"
#include "runtime/numerics.h"

namespace fxopt::rt::cpu {
namespace {

// The cos/sin cache (P, rot) as contiguous bf16 rows (a float32 or float16 cache is converted as vLLM's
// `.to(x.dtype)` does), checked against the head size.
struct Cache {
  Tensor bf16;
  int64_t rows = 0, rot = 0;
};

Cache cache_arg(const KernelArgs& in, size_t i, int64_t head_size, const char* head_name) {
  const Tensor& c = tensor_arg(in, i, "cos_sin_cache");
  if (c.dtype() != DType::BF16 && c.dtype() != DType::F32 && c.dtype() != DType::F16)
    throw InputError(std::string("argument 'cos_sin_cache' must be bfloat16, float16 or float32, got ") + dtype_name(c.dtype()));
  if (c.dim() != 2)
    throw InputError("argument 'cos_sin_cache' must be 2-d (max_position, rotary_dim), got " + shape_str(c.shape()));
  Cache out;
  out.rows = c.shape()[0];
  out.rot = c.shape()[1];
  if (out.rot <= 0 || out.rot % 2 != 0)
    throw InputError("the rotary dimension " + std::to_string(out.rot) + " (cos_sin_cache.size(-1)) must be even and positive");
  if (out.rot > head_size)
    throw InputError("the rotary dimension " + std::to_string(out.rot) + " (cos_sin_cache.size(-1)) exceeds " + head_name +
                     " " + std::to_string(head_size));
  out.bf16 = c.dtype() == DType::BF16 ? c.contiguous() : c.to(DType::BF16);
  return out;
}

// The positions, flattened to int64, each checked to index a cache row.
std::vector<int64_t> positions_arg(const KernelArgs& in, size_t i, const char* name, int64_t rows) {
  const Tensor& p = tensor_arg(in, i, name);
  if (p.dtype() != DType::I64 && p.dtype() != DType::I32)
    throw InputError(std::string("argument '") + name + "' must be int64 or int32, got " + dtype_name(p.dtype()));
  const Tensor pc = p.contiguous();
  const int64_t n = pc.numel();
  const size_t es = dtype_size(pc.dtype());
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const int64_t v = load_elem<int64_t>(pc.dtype(), pc.raw() + k * static_cast<int64_t>(es));
    if (v < 0 || v >= rows)
      throw InputError(std::string("position ") + std::to_string(v) + " (element " + std::to_string(k) + " of '" + name +
                       "') is outside the cos_sin_cache's " + std::to_string(rows) + " rows");
    out[static_cast<size_t>(k)] = v;
  }
  return out;
}

int64_t positive_int(const KernelArgs& in, size_t i, const char* name) {
  const int64_t v = int_arg(in, i, name);
  if (v <= 0) throw InputError(std::string("argument '") + name + "' must be positive, got " + std::to_string(v));
  return v;
}

bool required_bool(const KernelArgs& in, size_t i, const char* name) {
  const Value& v = need_arg(in, i, name);
  if (v.kind != Value::Kind::Bool) throw InputError(std::string("argument '") + name + "' must be a bool, got " + describe(v));
  return v.b;
}

// One rotated tensor of _C.rotary_embedding: x viewed as (T, H, head_size) -> a new tensor of x's shape.
Value rotate(const Tensor& x, const char* name, int64_t t, int64_t head_size, const Cache& c,
             const std::vector<int64_t>& pos, bool neox) {
  if (x.dtype() != DType::BF16)
    throw InputError(std::string("argument '") + name + "' must be bfloat16, got " + dtype_name(x.dtype()));
  const int64_t n = x.numel();
  const bool fits = t == 0 ? n == 0 : n % t == 0 && (n / t) % head_size == 0;
  if (!fits)
    throw InputError(std::string("argument '") + name + "' " + shape_str(x.shape()) + " is not " + std::to_string(t) +
                     " tokens (the positions) of heads of head_size " + std::to_string(head_size));
  const int64_t heads = t == 0 ? 0 : n / t / head_size;
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(DType::BF16, x.shape());
  num::rope_ref(xc.data<uint16_t>(), t, heads, head_size, c.bf16.data<uint16_t>(), c.rot, pos.data(), neox,
                y.data<uint16_t>());
  return Value::of(std::move(y));
}

// _C.rotary_embedding(Tensor positions, Tensor! query, Tensor!? key, int head_size, Tensor cos_sin_cache,
// bool is_neox[, int rope_dim_offset=0, bool inverse=False]) -> (new query, new key or None).
std::vector<Value> c_rotary_embedding(const Node&, const KernelArgs& in, const RowsBackend&) {
  if (const Value* off = optional_arg(in, 6, "rope_dim_offset"))
    if (off->kind != Value::Kind::Int || off->i != 0)
      throw InputError("rope_dim_offset (" + describe(*off) + ") is not supported: only the default 0");
  if (const Value* inv = optional_arg(in, 7, "inverse"))
    if (inv->kind != Value::Kind::Bool || inv->b)
      throw InputError("inverse (" + describe(*inv) + ") is not supported: only the default False");
  const int64_t head_size = positive_int(in, 3, "head_size");
  const Cache c = cache_arg(in, 4, head_size, "head_size");
  const bool neox = required_bool(in, 5, "is_neox");
  const std::vector<int64_t> pos = positions_arg(in, 0, "positions", c.rows);
  const int64_t t = static_cast<int64_t>(pos.size());
  Value q = rotate(tensor_arg(in, 1, "query"), "query", t, head_size, c, pos, neox);
  Value k = Value::none();
  if (const Value* kv = optional_arg(in, 2, "key")) {
    if (!kv->is_tensor()) throw InputError("argument 'key' must be a tensor or None, got " + describe(*kv));
    k = rotate(kv->tensor, "key", t, head_size, c, pos, neox);
  }
  return {std::move(q), std::move(k)};
}

// A per-head norm weight: bf16, head_dim values, shaped (D,) or (1, D).
Tensor head_weight(const KernelArgs& in, size_t i, const char* name, int64_t d) {
  const Tensor& w = tensor_arg(in, i, name);
  if (w.dtype() != DType::BF16)
    throw InputError(std::string("argument '") + name + "' must be bfloat16 (the model dtype), got " + dtype_name(w.dtype()));
  const bool ok = (w.dim() == 1 || (w.dim() == 2 && w.shape()[0] == 1)) && w.shape().back() == d;
  if (!ok)
    throw InputError(std::string("argument '") + name + "' " + shape_str(w.shape()) + " must be (" + std::to_string(d) +
                     ",) or (1, " + std::to_string(d) + ") (head_dim values)");
  return w.contiguous();
}

int64_t checked_width(int64_t hq, int64_t hk, int64_t hv, int64_t d) {
  int64_t heads = 0, w = 0;
  if (__builtin_add_overflow(hq, hk, &heads) || __builtin_add_overflow(heads, hv, &heads) ||
      __builtin_mul_overflow(heads, d, &w))
    throw InputError("(num_heads_q + num_heads_k + num_heads_v) * head_dim overflows int64 (" + std::to_string(hq) + ", " +
                     std::to_string(hk) + ", " + std::to_string(hv) + ", " + std::to_string(d) + ")");
  return w;
}

// _C.fused_qk_norm_rope(Tensor! qkv, int num_heads_q, int num_heads_k, int num_heads_v, int head_dim, float eps,
// Tensor q_weight, Tensor k_weight, Tensor cos_sin_cache, bool is_neox, Tensor position_ids) -> (new qkv).
// Partial rotary (cos_sin_cache.size(-1) < head_dim) rotates the first rot values of each normed head.
std::vector<Value> c_fused_qk_norm_rope(const Node&, const KernelArgs& in, const RowsBackend&) {
  const Tensor& qkv = tensor_arg(in, 0, "qkv");
  if (qkv.dtype() != DType::BF16) throw InputError(std::string("argument 'qkv' must be bfloat16, got ") + dtype_name(qkv.dtype()));
  if (qkv.dim() < 1) throw InputError("argument 'qkv' must have at least one dimension");
  const int64_t hq = positive_int(in, 1, "num_heads_q"), hk = positive_int(in, 2, "num_heads_k");
  const int64_t hv = int_arg(in, 3, "num_heads_v");
  if (hv < 0) throw InputError("argument 'num_heads_v' must not be negative, got " + std::to_string(hv));
  const int64_t d = positive_int(in, 4, "head_dim");
  const int64_t w = checked_width(hq, hk, hv, d);
  if (qkv.shape().back() != w)
    throw InputError("the last dimension of 'qkv' " + shape_str(qkv.shape()) + " must be (num_heads_q + num_heads_k + "
                     "num_heads_v) * head_dim = " + std::to_string(w));
  const double eps = number_arg(in, 5, "eps");
  const Tensor qw = head_weight(in, 6, "q_weight", d), kw = head_weight(in, 7, "k_weight", d);
  const Cache c = cache_arg(in, 8, d, "head_dim");
  const bool neox = required_bool(in, 9, "is_neox");
  const std::vector<int64_t> pos = positions_arg(in, 10, "position_ids", c.rows);
  const int64_t t = static_cast<int64_t>(pos.size());
  if (qkv.numel() / w != t)  // the last dimension is w > 0, so numel is a multiple of it
    throw InputError("argument 'qkv' " + shape_str(qkv.shape()) + " does not hold " + std::to_string(t) +
                     " tokens (the position_ids) of " + std::to_string(w) + " values");
  const Tensor xc = qkv.contiguous();
  Tensor y = Tensor::empty(DType::BF16, qkv.shape());
  num::qk_norm_rope_ref(xc.data<uint16_t>(), t, hq, hk, hv, d, eps, qw.data<uint16_t>(), kw.data<uint16_t>(),
                        c.bf16.data<uint16_t>(), c.rot, pos.data(), neox, y.data<uint16_t>());
  return {Value::of(std::move(y))};
}

const MutatingOp kMutatingOps[] = {
    {"_C.rotary_embedding.default",
     {"positions", "query", "key", "head_size", "cos_sin_cache", "is_neox", "rope_dim_offset", "inverse"},
     {"query", "key"}, c_rotary_embedding, false},
    {"_C.fused_qk_norm_rope.default",
     {"qkv", "num_heads_q", "num_heads_k", "num_heads_v", "head_dim", "eps", "q_weight", "k_weight", "cos_sin_cache",
      "is_neox", "position_ids"},
     {"qkv"}, c_fused_qk_norm_rope, false},
};

}  // namespace

std::span<const MutatingOp> qk_norm_rope_mutating_ops() { return kMutatingOps; }

}  // namespace fxopt::rt::cpu
