// The execution backend interface: runtime values, a node's resolved arguments, and a Backend (a device
// name plus memory transfers); the ops themselves are rows of runtime/op_registry.h with a CPU and an
// optional GPU compute. The CPU reference backend is always built; a GPU backend (runtime/hip) plugs in
// through gpu_backend() when FXOPT_HAVE_GPU is set.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ir/graph.h"
#include "runtime/tensor.h"

namespace fxopt::rt {

// What a node produces or receives at run time: a tensor, a Python number (SymInts are Int), a string,
// a dtype, a list/tuple of values, None, or an opaque constant (device, layout, repr) kept as text.
struct Value {
  enum class Kind : uint8_t { None, Tensor, Int, Float, Bool, Str, Dtype, List, Opaque };
  Kind kind = Kind::None;
  Tensor tensor;
  int64_t i = 0;
  double f = 0.0;
  bool b = false;
  std::string s;              // Str, Opaque; Dtype: torch's dtype name
  std::vector<Value> items;   // List (tuples too)

  static Value none() { return {}; }
  static Value of(Tensor t) { Value v; v.kind = Kind::Tensor; v.tensor = std::move(t); return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value real(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value list(std::vector<Value> xs) { Value v; v.kind = Kind::List; v.items = std::move(xs); return v; }

  bool is_tensor() const { return kind == Kind::Tensor; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  double as_double() const { return kind == Kind::Float ? f : kind == Kind::Int ? static_cast<double>(i) : b; }
};

// v with every tensor in it (lists recursively) replaced by f(tensor): moving values between devices.
template <class F>
Value map_tensors(const Value& v, F&& f) {
  if (v.is_tensor()) return Value::of(f(v.tensor));
  if (v.kind == Value::Kind::List) {
    std::vector<Value> items;
    for (const Value& x : v.items) items.push_back(map_tensors(x, f));
    return Value::list(std::move(items));
  }
  return v;
}

const char* to_string(Value::Kind k);
std::string describe(const Value& v);  // "tensor bfloat16 [16, 4096]", "int 3", ...

using SymbolValues = std::map<std::string, int64_t, std::less<>>;

// Per-run state the kernels may read.
struct ExecContext {
  const SymbolValues* symbols = nullptr;  // bound symbol values
  int threads = 1;                        // worker threads a kernel may use
};

// A node's arguments with every node reference replaced by its value and every SymInt evaluated.
struct KernelArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  // The positional argument `index`, else the keyword `name`; nullptr when absent.
  const Value* get(size_t index, std::string_view name) const;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view device_name() const = 0;
  // Whether nodes run the rows' GPU compute (and fall back to the CPU compute with copies).
  virtual bool is_gpu() const = 0;
  // Moves a host tensor to the backend's memory, and back. The CPU backend returns its argument.
  virtual Tensor upload(const Tensor& host) const = 0;
  virtual Tensor download(const Tensor& t) const = 0;
};

// The CPU reference backend (runtime/cpu/*.cpp).
const Backend& cpu_backend();
// The backend for a --device name ("cpu", "gpu", "cuda", "hip"). Throws InputError naming the device and
// why it is unavailable (e.g. a build without the GPU backend).
const Backend& backend_for_device(std::string_view device);

#if defined(FXOPT_HAVE_GPU)
// Defined in runtime/gpu_backend.cpp (kernels from runtime/hip through gpu_api.h) when the GPU backend is built.
const Backend& gpu_backend();
#endif

}  // namespace fxopt::rt
