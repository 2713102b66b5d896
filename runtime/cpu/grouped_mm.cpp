// aten._grouped_mm on the CPU (MoE expert matmuls): each group one matmul_f32 on slices chosen by the int32
// end offsets `offs`, as PyTorch's fallback does, rounded once to the output dtype.
#include "runtime/cpu/heavy_ops.h"
#include "runtime/cpu/kernels.h"

namespace fxopt::rt::cpu {
namespace {

// Slice [lo, hi) of dim d of a 2-d or 3-d tensor (a view).
Tensor slice(const Tensor& t, int64_t d, int64_t lo, int64_t hi) {
  Shape shape = t.shape();
  shape[d] = hi - lo;
  return t.as_strided(shape, t.strides(), t.offset() + lo * t.strides()[d]);
}

// Matrix i of a 3-d tensor (a view).
Tensor pick(const Tensor& t, int64_t i) {
  return t.as_strided({t.shape()[1], t.shape()[2]}, {t.strides()[1], t.strides()[2]}, t.offset() + i * t.strides()[0]);
}

// out[rows, cols] (a float32 contiguous (R, C) block at `base`) = c.
void put(float* base, int64_t ld, int64_t r0, int64_t c0, const Tensor& c) {
  const int64_t m = c.shape()[0], n = c.shape()[1];
  const float* src = c.data<float>();
  for (int64_t i = 0; i < m; ++i) std::copy(src + i * n, src + (i + 1) * n, base + (r0 + i) * ld + c0);
}

}  // namespace

std::vector<int64_t> grouped_mm_ends(const Tensor& a, const Tensor& b, const Tensor* offs, const Tensor* bias,
                                     std::optional<DType> out_dtype) {
  for (const Tensor* t : {&a, &b})
    if (t->dtype() != DType::BF16 && t->dtype() != DType::F16 && t->dtype() != DType::F32)
      throw InputError(std::string("_grouped_mm takes float32, bfloat16 or float16 matrices, got ") + dtype_name(t->dtype()));
  if (a.dtype() != b.dtype())
    throw InputError(std::string("_grouped_mm operand dtypes differ: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
  if ((a.dim() != 2 && a.dim() != 3) || (b.dim() != 2 && b.dim() != 3))
    throw InputError("_grouped_mm operands must be 2-d or 3-d, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  if (bias) throw InputError("_grouped_mm: bias is not supported (nor by PyTorch)");
  const DType od = out_dtype ? *out_dtype : a.dtype();
  if (od != a.dtype()) throw InputError("_grouped_mm output dtype must match the operands' dtype");
  const bool a2 = a.dim() == 2, b2 = b.dim() == 2;
  if ((!a2 || !b2) && a.shape()[a.dim() - 1] != b.shape()[b.dim() - 2])
    throw InputError("_grouped_mm contraction dims differ: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
  if ((offs != nullptr) != (a2 || b2))
    throw InputError(a2 || b2 ? "_grouped_mm needs offs when an operand is 2-d" : "_grouped_mm takes no offs for two 3-d operands");
  std::vector<int64_t> ends;
  if (offs) {
    if (offs->dim() != 1 || offs->dtype() != DType::I32)
      throw InputError("_grouped_mm offs must be a 1-d int32 tensor, got " + std::string(dtype_name(offs->dtype())) + " " +
                       shape_str(offs->shape()));
    const int64_t split = a2 && !b2 ? a.shape()[0] : !a2 && b2 ? b.shape()[1] : a.shape()[1];
    if (a2 && b2 && b.shape()[0] != split)
      throw InputError("_grouped_mm contraction dims differ: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
    int64_t prev = 0;
    for (int64_t i = 0; i < offs->numel(); ++i) {
      const int64_t e = static_cast<int64_t>(offs->value_at(i));
      if (e < prev || e > split)
        throw InputError("_grouped_mm offs[" + std::to_string(i) + "] = " + std::to_string(e) + " is out of range (offsets " +
                         "must be non-decreasing and at most " + std::to_string(split) + ")");
      ends.push_back(e);
      prev = e;
    }
    const int64_t groups = static_cast<int64_t>(ends.size());
    if ((a2 && !b2 && b.shape()[0] != groups) || (!a2 && b2 && a.shape()[0] != groups))
      throw InputError("_grouped_mm: " + std::to_string(groups) + " offsets for " +
                       std::to_string(a2 ? b.shape()[0] : a.shape()[0]) + " matrices");
  }
  if (!a2 && !b2 && a.shape()[0] != b.shape()[0])
    throw InputError("_grouped_mm batch sizes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  return ends;
}

Tensor grouped_mm(const Tensor& a, const Tensor& b, const Tensor* offs, const Tensor* bias, std::optional<DType> out_dtype,
                  int threads) {
  const std::vector<int64_t> ends = grouped_mm_ends(a, b, offs, bias, out_dtype);
  const DType od = out_dtype ? *out_dtype : a.dtype();
  const bool a2 = a.dim() == 2, b2 = b.dim() == 2;
  Tensor res;
  if (a2 && !b2) {  // (M, K) x (G, K, N): row groups of a
    const int64_t M = a.shape()[0], N = b.shape()[2];
    res = Tensor::empty(DType::F32, {M, N});
    std::fill(res.data<float>(), res.data<float>() + res.numel(), 0.0f);
    int64_t start = 0;
    for (size_t gi = 0; gi < ends.size(); ++gi) {
      if (ends[gi] > start) put(res.data<float>(), N, start, 0, matmul_f32(slice(a, 0, start, ends[gi]), pick(b, gi), threads));
      start = ends[gi];
    }
  } else if (!a2 && b2) {  // (G, M, K) x (K, N): column groups of b
    const int64_t M = a.shape()[1], N = b.shape()[1];
    res = Tensor::empty(DType::F32, {M, N});
    std::fill(res.data<float>(), res.data<float>() + res.numel(), 0.0f);
    int64_t start = 0;
    for (size_t gi = 0; gi < ends.size(); ++gi) {
      if (ends[gi] > start) put(res.data<float>(), N, 0, start, matmul_f32(pick(a, gi), slice(b, 1, start, ends[gi]), threads));
      start = ends[gi];
    }
  } else if (a2 && b2) {  // (M, K) x (K, N): k groups, one (M, N) result each
    const int64_t G = static_cast<int64_t>(ends.size()), M = a.shape()[0], N = b.shape()[1];
    res = Tensor::empty(DType::F32, {G, M, N});
    int64_t start = 0;
    for (int64_t gi = 0; gi < G; ++gi) {
      const Tensor c = matmul_f32(slice(a, 1, start, ends[gi]), slice(b, 0, start, ends[gi]), threads);
      std::copy(c.data<float>(), c.data<float>() + M * N, res.data<float>() + gi * M * N);
      start = ends[gi];
    }
  } else {  // (G, M, K) x (G, K, N): batched
    const int64_t G = a.shape()[0], M = a.shape()[1], N = b.shape()[2];
    res = Tensor::empty(DType::F32, {G, M, N});
    for (int64_t gi = 0; gi < G; ++gi) {
      const Tensor c = matmul_f32(pick(a, gi), pick(b, gi), threads);
      std::copy(c.data<float>(), c.data<float>() + M * N, res.data<float>() + gi * M * N);
    }
  }
  return od == DType::F32 ? res : res.to(od);
}

}  // namespace fxopt::rt::cpu
