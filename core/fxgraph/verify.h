// Semantic checks of a loaded graph beyond what the reader enforces (metadata completeness, symbols).
#pragma once

#include <string>
#include <vector>

#include "core/ir/graph.h"

namespace fxopt {

struct GraphProblem {
  std::string node;     // node name, or empty for graph-level problems
  std::string message;  // what is wrong and what was expected
};

// Tensor values carry a known dtype and consistent shape/stride ranks, every symbol used in an expression
// is declared in `symbols`, nodes come in topological order, getitem indexes an existing output.
std::vector<GraphProblem> check_graph(const Graph& g);

// The dtype names of spec/fxgraph.md.
bool is_known_dtype(std::string_view name);

}  // namespace fxopt
