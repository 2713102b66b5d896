// Structural, name-independent graph diff: pairs the nodes of two graphs by structure and reports what changed.
//
// Pairing (linear in the size of the graphs, see docs/diff.md):
//   1. anchors: placeholders by position and target (same position and target, then same target, then same
//      position: a renamed argument), and the output nodes;
//   2. bottom up: a Merkle hash of op + target + constant arguments + compared meta + the hashes of the
//      inputs pairs nodes whose whole upstream computation is identical (names never enter a hash);
//   3. top down, then outward: from every pair, inputs in the same argument slot and unpaired users that use
//      the pair in the same slot are paired when they have the same op and target (identical local content
//      first). What is left is removed (only in A) or added (only in B).
// Paired nodes are then compared field by field (SymInt expressions as canonical sym::Expr). An input edge is
// equal when the two inputs are paired with each other, compute identical subgraphs, or were both replaced
// (a removed node on one side, an added one on the other: that change is reported on those nodes).
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir/graph.h"

namespace fxopt {

struct DiffOptions {
  // meta keys to ignore; "val" ignores meta.val (by default only meta.val is compared).
  std::set<std::string, std::less<>> ignore_meta;
  // meta keys other than val to compare too (e.g. "fxopt_from", "stack_trace"); ignore_meta wins.
  std::set<std::string, std::less<>> include_meta;
};

// One difference between two paired nodes.
struct FieldChange {
  std::string path;  // "target", "args[1]", "args[1][0]", "kwargs.dim", "meta.val.shape[0]", "meta.stack_trace"
  std::string kind;  // what differs: int, float, bool, str, SymInt, dtype, input, shape, stride, device, ...
  std::string a, b;  // the value on each side, as fxgraph JSON text ("(absent)" when missing)
};

struct NodeChange {
  const Node* a = nullptr;
  const Node* b = nullptr;
  std::vector<FieldChange> changes;
};

struct GraphDiff {
  std::vector<const Node*> removed;  // only in A, in A's order
  std::vector<const Node*> added;    // only in B, in B's order
  std::vector<NodeChange> changed;   // paired but different, in B's order
  size_t paired = 0;                 // pairs, changed ones included
  // Both directions: A node -> its B partner and B node -> its A partner.
  std::unordered_map<const Node*, const Node*> partner;

  bool equal() const { return removed.empty() && added.empty() && changed.empty(); }
  const Node* partner_of(const Node* n) const {
    auto it = partner.find(n);
    return it == partner.end() ? nullptr : it->second;
  }
};

GraphDiff diff_graphs(const Graph& a, const Graph& b, const DiffOptions& opts = {});

// Per-target counts of removed, added and changed nodes.
struct DiffStatRow {
  std::string target;
  size_t removed = 0, added = 0, changed = 0;
};
std::vector<DiffStatRow> diff_stat(const GraphDiff& d);  // sorted by target

// Reports. `name_a`/`name_b` label the two sides (file names). The JSON schema is documented in docs/diff.md.
std::string format_diff_text(const GraphDiff& d, const Graph& a, const Graph& b, const std::string& name_a,
                             const std::string& name_b);
std::string format_diff_stat(const GraphDiff& d);
std::string format_diff_json(const GraphDiff& d, const Graph& a, const Graph& b, const std::string& name_a,
                             const std::string& name_b, bool with_stat);

// One node as a readable line: `%name = target(args, k=v) :: dtype[shape]` (used by the text report).
std::string node_summary(const Node& n);

}  // namespace fxopt
