// Op rows of the matrix-multiply family: mm, addmm, bmm. Compute: runtime/cpu/matmul.cpp (float32
// accumulation in a fixed order); GPU: runtime/hip/matmul.hip.
#include "runtime/gpu_ops.h"
#include "runtime/ops/meta.h"

namespace fxopt::rt::ops {
namespace {

void check_mat(const Tensor& a, const Tensor& b, int64_t nd) {
  if (a.dim() != nd || b.dim() != nd)
    throw InputError("expected " + std::to_string(nd) + "-d operands, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  if (a.dtype() != b.dtype())
    throw InputError(std::string("operands have different dtypes: ") + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
  if (a.shape()[nd - 1] != b.shape()[nd - 2])
    throw InputError("matrix shapes cannot be multiplied: " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
}

std::optional<Value> meta_mm(const OpArgs& a) {
  const Tensor &x = a.tensor(0), &y = a.tensor(1);
  check_mat(x, y, 2);
  return meta_tensor(x.dtype(), {x.shape()[0], y.shape()[1]});
}
std::optional<Value> meta_addmm(const OpArgs& a) {
  const Tensor &x = a.tensor(1), &y = a.tensor(2);
  check_mat(x, y, 2);
  const Shape s{x.shape()[0], y.shape()[1]};
  if (cpu::broadcast_shapes({a.tensor(0).shape(), s}) != s)
    throw InputError("addmm: the bias " + shape_str(a.tensor(0).shape()) + " does not broadcast to " + shape_str(s));
  return meta_tensor(x.dtype(), s);
}
std::optional<Value> meta_bmm(const OpArgs& a) {
  const Tensor &x = a.tensor(0), &y = a.tensor(1);
  check_mat(x, y, 3);
  if (x.shape()[0] != y.shape()[0])
    throw InputError("bmm: batch sizes differ: " + shape_str(x.shape()) + " and " + shape_str(y.shape()));
  return meta_tensor(x.dtype(), {x.shape()[0], x.shape()[1], y.shape()[2]});
}

constexpr DTypeSet kMatCpu{DType::F16, DType::BF16, DType::F32, DType::F64};

const OpRow kRows[] = {
    {.target = "aten.mm.default", .schema = "mm(Tensor self, Tensor mat2) -> Tensor", .meta = meta_mm, .cpu = cpu::mm,
     .gpu = FXOPT_GPU(mm), .cpu_dtypes = kMatCpu, .gpu_dtypes = kGpuFloat},
    {.target = "aten.addmm.default",
     .schema = "addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",
     .meta = meta_addmm, .cpu = cpu::addmm, .gpu = FXOPT_GPU(addmm), .cpu_dtypes = kMatCpu, .gpu_dtypes = kGpuFloat},
    {.target = "aten.bmm.default", .schema = "bmm(Tensor self, Tensor mat2) -> Tensor", .meta = meta_bmm,
     .cpu = cpu::bmm, .gpu = FXOPT_GPU(bmm), .cpu_dtypes = kMatCpu, .gpu_dtypes = kGpuFloat},
};

}  // namespace

std::span<const OpRow> op_rows_matmul() { return kRows; }

}  // namespace fxopt::rt::ops
