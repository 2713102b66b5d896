// The graph executor: binds symbols, makes or reads inputs, checks every node against its op row before
// running anything (plan_graph: arguments decoded, meta rule, meta.val, dtypes, placement), evaluates
// nodes in order (a node without a GPU kernel runs on the CPU with copies), frees each buffer after its
// last use, and returns the graph's outputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "runtime/backend.h"
#include "runtime/op_registry.h"

namespace fxopt::rt {

using TensorMap = std::map<std::string, Tensor, std::less<>>;

// Symbol values: `given` first (checked against the symbol's min/max), then sizes read off `inputs` where a
// placeholder's meta shape has a bare symbol, then each symbol's hint. Throws InputError for an unknown
// symbol name, a value out of range, or a symbol with no value.
SymbolValues bind_symbols(const Graph& g, const SymbolValues& given, const TensorMap& inputs = {});

// Throws InputError listing every op of the graph the executor has no row for (with its nodes), and
// every node of an unsupported kind, before anything runs.
void check_runnable(const Graph& g, const Backend& backend);

// Where a node runs.
enum class Placement : uint8_t {
  Host,  // shape-only (views, SymInt ops): no copies, on whichever device its inputs live
  Cpu,   // the CPU compute (on a GPU run: inputs copied to the host, results back)
  Gpu,   // the GPU compute
};

struct NodePlan {
  const OpEntry* op = nullptr;     // call_function nodes
  Placement placement = Placement::Host;
  std::optional<Value> meta;       // the meta rule's result (meta tensors); nullopt when data-dependent
  bool deferred = false;           // downstream of a data-dependent value: checked and placed when it runs
};

// The up-front pass over the graph on the inputs' shapes: decodes every node's arguments against its
// schema, runs its meta rule, compares the result with meta.val (when check_meta), checks the dtypes the
// chosen backend takes and places the node. Throws InputError naming the node for the first argument or
// shape error, or listing every node whose dtypes no backend takes (or, without allow_fallback on a GPU
// run, every node without a GPU kernel).
std::vector<NodePlan> plan_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs,
                                 const Backend& backend, bool allow_fallback = true, bool check_meta = true);

// Deterministic pseudo-random tensor (splitmix64 seeded by `seed` and `name`): floats in (-2, 2), roughly
// normal (sum of four uniforms); integers in [0, 8] (real graphs' integer inputs are mostly indices); bool 0/1.
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
  bool allow_fallback = true;        // GPU run: a node without a GPU kernel runs on the CPU (else an error)
};

// A node of a GPU run that ran on the CPU, and what its copies cost.
struct FallbackNode {
  std::string name, target;
  size_t bytes = 0;       // copied to the host and back
  double copy_seconds = 0.0;
};

struct ExecResult {
  std::vector<std::string> output_names;  // the producing node's name (or output_<i>)
  std::vector<Value> outputs;             // host values
  double seconds = 0.0;
  size_t nodes_run = 0;
  std::vector<std::pair<std::string, double>> profile;  // node name, seconds (when profiling)
  std::vector<FallbackNode> fallbacks;                  // GPU runs: nodes that ran on the CPU
};

// Runs the graph on `inputs` (every tensor placeholder must be present). Kernel errors are thrown as
// InputError prefixed with the node and its target.
ExecResult run_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs, const ExecOptions& opts = {});

}  // namespace fxopt::rt
