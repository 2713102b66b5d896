// The graph executor: binds symbols, makes or reads inputs, evaluates nodes in order through a backend's
// kernel table, frees each buffer after its last use, and returns the graph's outputs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "runtime/backend.h"

namespace fxopt::rt {

using TensorMap = std::map<std::string, Tensor, std::less<>>;

// Symbol values: `given` first (checked against the symbol's min/max), then sizes read off `inputs` where a
// placeholder's meta shape has a bare symbol, then each symbol's hint. Throws InputError for an unknown
// symbol name, a value out of range, or a symbol with no value.
SymbolValues bind_symbols(const Graph& g, const SymbolValues& given, const TensorMap& inputs = {});

// Throws InputError naming the first node (and its target) the backend cannot run, before anything runs.
void check_runnable(const Graph& g, const Backend& backend);

// Deterministic pseudo-random tensor (splitmix64 seeded by `seed` and `name`): floats in (-2, 2), roughly
// normal (sum of four uniforms); integers in [-8, 8]; unsigned in [0, 8]; bool 0/1.
Tensor random_tensor(DType dtype, const Shape& shape, uint64_t seed, std::string_view name);

// The concrete shape of a placeholder's meta.val under the symbol values.
Shape concrete_shape(const Node& n, const SymbolValues& symbols);

// Inputs of every tensor placeholder: `given` (checked for dtype and shape) or random_tensor(seed, name).
TensorMap make_inputs(const Graph& g, const SymbolValues& symbols, uint64_t seed, const TensorMap& given = {});

struct ExecOptions {
  const Backend* backend = nullptr;  // nullptr = CPU
  int threads = 0;                   // 0 = all hardware threads
  bool check_meta = true;            // compare each result's dtype and shape with meta.val
  bool profile = false;              // time each node
};

struct ExecResult {
  std::vector<std::string> output_names;  // the producing node's name (or output_<i>)
  std::vector<Value> outputs;             // host values
  double seconds = 0.0;
  size_t nodes_run = 0;
  std::vector<std::pair<std::string, double>> profile;  // node name, seconds (when profiling)
};

// Runs the graph on `inputs` (every tensor placeholder must be present). Kernel errors are thrown as
// InputError prefixed with the node and its target.
ExecResult run_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs, const ExecOptions& opts = {});

}  // namespace fxopt::rt
