// Benchmark input generator: replicates a template graph's compute nodes into a large chained graph.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>

#include "core/fxgraph/fxgraph_io.h"
#include "core/ir/graph.h"

namespace fxopt::bench {

// Builds a graph of about `target_nodes` nodes from `tmpl`: placeholders are shared, the compute nodes are
// copied (renamed `<name>_r<k>`), and copy k reads copy k-1's first output where the template reads its
// first tensor placeholder, so the copies form one chain. The output node returns the last copy's outputs.
inline Graph replicate_graph(const Graph& tmpl, size_t target_nodes) {
  Graph g;
  g.producer = tmpl.producer;
  g.symbols = tmpl.symbols;
  size_t fixed = 0, compute = 0;
  const Node* first_tensor = nullptr;
  const Node* out = tmpl.output_node();
  std::unordered_map<const Node*, Node*> map;
  for (const auto& n : tmpl.nodes()) {
    if (n.op == OpKind::Placeholder) {
      Node copy = n;
      copy.users.clear();
      map[&n] = g.append_named(std::move(copy));
      if (!first_tensor && n.val && n.val->is_tensor()) first_tensor = &n;
      ++fixed;
    } else if (n.op != OpKind::Output) {
      ++compute;
    }
  }
  size_t copies = compute ? std::max<size_t>(1, (target_nodes - fixed - 1 + compute - 1) / compute) : 1;
  std::function<Arg(const Arg&)> remap = [&](const Arg& a) {
    Arg r = a;
    if (a.kind == Arg::Kind::Node) r.node = map.at(a.node);
    for (auto& x : r.items) x = remap(x);
    for (auto& [k, x] : r.dict) x = remap(x);
    return r;
  };
  for (size_t k = 0; k < copies; ++k) {
    for (const auto& n : tmpl.nodes()) {
      if (n.op == OpKind::Placeholder || n.op == OpKind::Output) continue;
      Node copy;
      copy.name = n.name + "_r" + std::to_string(k);
      copy.op = n.op;
      copy.target = n.target;
      copy.val = n.val;
      copy.meta_extra = n.meta_extra;
      for (const auto& a : n.args) copy.args.push_back(remap(a));
      for (const auto& [key, a] : n.kwargs) copy.kwargs.emplace_back(key, remap(a));
      map[&n] = g.append_named(std::move(copy));
    }
    // Chain: the next copy reads this copy's first output instead of the first tensor placeholder.
    if (first_tensor && out && !out->args.empty() && out->args[0].is_list() && !out->args[0].items.empty() &&
        out->args[0].items[0].is_node())
      map[first_tensor] = map.at(out->args[0].items[0].node);
  }
  Node o;
  o.name = "output";
  o.op = OpKind::Output;
  o.target = "output";
  for (const auto& a : out->args) o.args.push_back(remap(a));
  g.append_named(std::move(o));
  g.rebuild_users();
  return g;
}

inline Graph replicate_corpus(const std::string& path, size_t target_nodes) {
  return replicate_graph(read_graph_file(path), target_nodes);
}

}  // namespace fxopt::bench
