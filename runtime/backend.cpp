// Runtime values, the CPU reference backend (host memory; the ops are in runtime/op_registry.h) and
// backend lookup by device.
#include "runtime/backend.h"

#include "core/ir/error.h"

namespace fxopt::rt {

const char* to_string(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Str: return "str";
    case Value::Kind::Dtype: return "dtype";
    case Value::Kind::List: return "list";
    case Value::Kind::Opaque: return "opaque";
  }
  return "?";
}

std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Tensor: return std::string("tensor ") + dtype_name(v.tensor.dtype()) + " " + shape_str(v.tensor.shape());
    case Value::Kind::Int: return "int " + std::to_string(v.i);
    case Value::Kind::Float: return "float " + std::to_string(v.f);
    case Value::Kind::Bool: return v.b ? "bool True" : "bool False";
    case Value::Kind::Str: return "str \"" + v.s + "\"";
    case Value::Kind::Dtype: return "dtype " + v.s;
    case Value::Kind::List: return "list of " + std::to_string(v.items.size());
    case Value::Kind::Opaque: return "'" + v.s + "'";
    default: return "None";
  }
}

const Value* KernelArgs::get(size_t index, std::string_view name) const {
  if (index < args.size()) return &args[index];
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

namespace {
class CpuBackend final : public Backend {
 public:
  std::string_view device_name() const override { return "cpu"; }
  bool is_gpu() const override { return false; }
  Tensor upload(const Tensor& host) const override { return host; }
  Tensor download(const Tensor& t) const override { return t; }
};
}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend b;
  return b;
}

const Backend& backend_for_device(std::string_view device) {
  if (device == "cpu") return cpu_backend();
  if (device == "gpu" || device == "cuda" || device == "hip") {
#if defined(FXOPT_HAVE_GPU)
    return gpu_backend();
#else
    throw InputError("--device " + std::string(device) +
                     ": this build has no GPU backend (configure with -DFXOPT_GPU=nvidia or -DFXOPT_GPU=amd)");
#endif
  }
  throw InputError("unknown device '" + std::string(device) + "' (expected cpu or gpu)");
}

}  // namespace fxopt::rt
