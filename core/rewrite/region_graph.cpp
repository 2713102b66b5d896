// A match's region as a standalone graph, its replacement built by apply_match, and a key for identical regions.
#include "core/rewrite/region_graph.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/rewrite.h"

namespace fxopt {

namespace {

void val_symbols(const ValMeta& v, std::set<std::string>& out) {
  auto add = [&](const SymDim& d) {
    for (auto& s : d.expr.free_symbols()) out.insert(s);
  };
  switch (v.kind) {
    case ValMeta::Kind::Tensor:
      for (const auto& d : v.tensor.shape) add(d);
      for (const auto& d : v.tensor.stride) add(d);
      break;
    case ValMeta::Kind::Sym: add(v.sym); break;
    case ValMeta::Kind::Tuple:
      for (const auto& i : v.items) val_symbols(i, out);
      break;
    default: break;
  }
}

void arg_symbols(const Arg& a, std::set<std::string>& out) {
  if (a.kind == Arg::Kind::Sym)
    for (auto& s : a.sym.expr.free_symbols()) out.insert(s);
  for (const auto& i : a.items) arg_symbols(i, out);
  for (const auto& [k, i] : a.dict) arg_symbols(i, out);
}

Arg remap(const Arg& a, const std::unordered_map<const Node*, Node*>& map) {
  Arg r = a;
  if (a.kind == Arg::Kind::Node) r.node = map.at(a.node);
  for (auto& x : r.items) x = remap(x, map);
  for (auto& [k, x] : r.dict) x = remap(x, map);
  return r;
}

// The standalone graph of the region: returns the source node -> new node map.
std::unordered_map<const Node*, Node*> build_region(const Graph& g, const Match& m, const std::vector<Node*>& region,
                                                    Graph& out, std::vector<std::pair<std::string, std::string>>* inputs) {
  const Pattern& p = *m.pattern;
  std::set<const Node*> in_region(region.begin(), region.end());
  // Captured inputs, in first-use order; named after the pattern input they bind where there is one.
  std::vector<const Node*> captured;
  for (const Node* n : region)
    for (Node* in : n->inputs())
      if (!in_region.count(in) && std::find(captured.begin(), captured.end(), in) == captured.end())
        captured.push_back(in);
  std::set<std::string> taken;
  for (const Node* n : region) taken.insert(n->name);
  std::unordered_map<const Node*, Node*> map;
  std::set<std::string> symbols;
  size_t extra = 0;
  for (const Node* c : captured) {
    std::string name;
    for (size_t k = 0; k < p.nodes.size(); ++k)
      if (p.nodes[k].is_input && m.nodes[k] == c) { name = p.nodes[k].name; break; }
    if (name.empty()) name = "captured_" + std::to_string(extra++);
    while (taken.count(name)) name += "_in";
    taken.insert(name);
    if (!c->val || (c->val->kind != ValMeta::Kind::Tensor && c->val->kind != ValMeta::Kind::Sym &&
                    c->val->kind != ValMeta::Kind::Const))
      throw InputError("pattern " + p.name + " at " + m.root->name + ": the region's input '" + c->name +
                       "' has no tensor, SymInt or constant meta.val, so the region cannot be run on its own");
    Node ph;
    ph.name = name;
    ph.op = OpKind::Placeholder;
    ph.target = name;
    ph.val = c->val;
    val_symbols(*c->val, symbols);
    map[c] = out.append_named(std::move(ph));
    if (inputs) inputs->emplace_back(name, c->name);
  }
  for (const Node* n : region) {
    Node copy;
    copy.name = n->name;
    copy.op = n->op;
    copy.target = n->target;
    for (const Arg& a : n->args) {
      copy.args.push_back(remap(a, map));
      arg_symbols(a, symbols);
    }
    for (const auto& [k, a] : n->kwargs) {
      copy.kwargs.emplace_back(k, remap(a, map));
      arg_symbols(a, symbols);
    }
    copy.val = n->val;
    if (n->val) val_symbols(*n->val, symbols);
    map[n] = out.append_named(std::move(copy));
  }
  std::vector<Arg> outs;
  for (int o : p.outputs) outs.push_back(Arg::ref(map.at(m.nodes[o])));
  Node output;
  output.name = "output";
  while (taken.count(output.name)) output.name += "_";
  output.op = OpKind::Output;
  output.target = "output";
  output.args.push_back(Arg::list(std::move(outs)));
  out.append_named(std::move(output));
  for (const auto& [name, info] : g.symbols)
    if (symbols.count(name)) out.symbols.emplace_back(name, info);
  out.rebuild_users();
  out.renumber();
  return map;
}

void key_arg(const Arg& a, const std::unordered_map<const Node*, size_t>& index, std::string& k) {
  if (a.kind == Arg::Kind::Node) {
    k += "#" + std::to_string(index.at(a.node));
  } else if (a.kind == Arg::Kind::List) {
    k += "[";
    for (const auto& i : a.items) { key_arg(i, index, k); k += ","; }
    k += "]";
  } else if (a.kind == Arg::Kind::Dict) {
    k += "{";
    for (const auto& [key, i] : a.dict) { k += json_quote(key) + ":"; key_arg(i, index, k); k += ","; }
    k += "}";
  } else {
    k += arg_to_json(a);
  }
}

}  // namespace

namespace {

// The region graph and its key (everything but the replacement).
std::vector<Node*> cut_without_replacement(const Graph& g, const Match& m, int match_id, RegionPair& r) {
  r.pattern = m.pattern;
  r.match_id = match_id;
  r.root = m.root ? m.root->name : "";
  r.bindings = m.bindings_str();
  std::vector<Node*> region = m.region;
  std::sort(region.begin(), region.end(), [](const Node* a, const Node* b) { return a->order < b->order; });
  build_region(g, m, region, r.region, &r.inputs);
  // Key: pattern, bindings, then every node of the region by position (ops, arguments, meta.val).
  std::unordered_map<const Node*, size_t> index;
  r.key = m.pattern->name + "|" + r.bindings + "|";
  for (const Node& n : r.region.nodes()) {
    index[&n] = index.size();
    r.key += std::string(to_string(n.op)) + " " + n.target + "(";
    for (const Arg& a : n.args) { key_arg(a, index, r.key); r.key += ","; }
    for (const auto& [k, a] : n.kwargs) { r.key += k + "="; key_arg(a, index, r.key); r.key += ","; }
    r.key += ")";
    if (n.val) r.key += val_to_json(*n.val);
    if (n.op == OpKind::Placeholder) r.key += n.target;
    r.key += ";";
  }
  return region;
}

void build_replacement(const Graph& g, const Match& m, int match_id, const std::vector<Node*>& region, RegionPair& r) {
  // The replacement: the same region built again, then rewritten by apply_match with the match's bindings.
  auto map = build_region(g, m, region, r.replacement, nullptr);
  Match m2;
  m2.pattern = m.pattern;
  m2.bindings = m.bindings;
  m2.root = m.root ? map.at(m.root) : nullptr;
  for (Node* n : m.nodes) m2.nodes.push_back(n ? map.at(n) : nullptr);
  for (Node* n : m.region) m2.region.push_back(map.at(n));
  Rewriter rw(r.replacement);
  apply_match(rw, m2, match_id);
  r.replacement.renumber();
}

}  // namespace

RegionPair cut_region(const Graph& g, const Match& m, int match_id) {
  RegionPair r;
  const std::vector<Node*> region = cut_without_replacement(g, m, match_id, r);
  build_replacement(g, m, match_id, region, r);
  return r;
}

void RegionCollector::add(const Graph& g, const Match& m, int match_id) {
  ++total_;
  auto it = std::find_if(matches_.begin(), matches_.end(), [&](const auto& x) { return x.first == m.pattern->name; });
  if (it == matches_.end()) matches_.emplace_back(m.pattern->name, 1);
  else ++it->second;
  RegionPair r;
  const std::vector<Node*> region = cut_without_replacement(g, m, match_id, r);
  if (!keys_.insert(r.key).second) return;
  build_replacement(g, m, match_id, region, r);
  if (input_) r.spelling = cut_input_spelling(*input_, r, r.spelling_note);
  distinct_.push_back(std::move(r));
}

std::optional<Graph> cut_input_spelling(const Graph& input, const RegionPair& r, std::string& why) {
  // Captured inputs and outputs by name.
  std::unordered_map<const Node*, std::string> placeholder;  // input node -> placeholder name
  for (const auto& [ph, src] : r.inputs) {
    const Node* n = input.find(src);
    if (!n) { why = "the input graph has no node '" + src + "'"; return std::nullopt; }
    placeholder[n] = ph;
  }
  std::vector<const Node*> outputs;
  const Node* out = r.region.output_node();
  for (const Arg& a : out->args[0].items) {
    const Node* n = input.find(a.node->name);
    if (!n) { why = "the input graph has no node '" + a.node->name + "'"; return std::nullopt; }
    if (!n->val || !a.node->val || val_to_json(*n->val) != val_to_json(*a.node->val)) {
      why = "node '" + n->name + "' has another meta.val in the input graph";
      return std::nullopt;
    }
    outputs.push_back(n);
  }
  // Backward from the outputs to the captured inputs; any other leaf (a tensor placeholder, a node of the rest of
  // the graph reached through it) means the input's region is not delimited by these inputs.
  size_t region_ops = 0;
  for (const Node& n : r.region.nodes()) region_ops += n.op == OpKind::CallFunction;
  std::set<const Node*> inside;
  std::set<const Node*> extra_leaves;
  std::vector<const Node*> stack(outputs.begin(), outputs.end());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (placeholder.count(n) || inside.count(n) || extra_leaves.count(n)) continue;
    if (n->op == OpKind::Placeholder) {
      if (!n->val || n->val->kind == ValMeta::Kind::Tensor) {
        why = "the input's region also reads '" + n->name + "'";
        return std::nullopt;
      }
      extra_leaves.insert(n);  // a SymInt or constant placeholder: its value comes from the symbols
      continue;
    }
    if (n->op != OpKind::CallFunction) { why = "the input's region reaches '" + n->name + "'"; return std::nullopt; }
    inside.insert(n);
    if (inside.size() > 4 * region_ops + 16) { why = "the input's region is not delimited by the captured inputs"; return std::nullopt; }
    for (Node* in : n->inputs()) stack.push_back(in);
  }
  Graph gs;
  std::unordered_map<const Node*, Node*> map;
  for (const Node& n : r.region.nodes())  // the same placeholders, in the same order
    if (n.op == OpKind::Placeholder) {
      Node ph = n;
      ph.users.clear();
      const Node* src = nullptr;
      for (const auto& [p, name] : placeholder)
        if (name == n.name) src = p;
      Node* made = gs.append_named(std::move(ph));
      if (src) map[src] = made;
    }
  std::set<std::string> symbols;
  for (const Node& n : input.nodes()) {  // graph order
    if (!inside.count(&n) && !extra_leaves.count(&n)) continue;
    Node copy;
    copy.name = n.name;
    while (gs.find(copy.name)) copy.name += "_in";
    copy.op = n.op;
    copy.target = n.target;
    for (const Arg& a : n.args) { copy.args.push_back(remap(a, map)); arg_symbols(a, symbols); }
    for (const auto& [k, a] : n.kwargs) { copy.kwargs.emplace_back(k, remap(a, map)); arg_symbols(a, symbols); }
    copy.val = n.val;
    if (n.val) val_symbols(*n.val, symbols);
    map[&n] = gs.append_named(std::move(copy));
  }
  for (const Node& n : r.region.nodes())
    if (n.val) val_symbols(*n.val, symbols);
  Node o;
  o.name = out->name;
  o.op = OpKind::Output;
  o.target = "output";
  std::vector<Arg> outs;
  for (const Node* n : outputs) outs.push_back(Arg::ref(map.at(n)));
  o.args.push_back(Arg::list(std::move(outs)));
  gs.append_named(std::move(o));
  for (const auto& [name, info] : input.symbols)
    if (symbols.count(name)) gs.symbols.emplace_back(name, info);
  gs.rebuild_users();
  gs.renumber();
  // Nothing to add when normalisation left the region as it was.
  if (write_graph_text(gs) == write_graph_text(r.region)) return std::nullopt;
  return gs;
}

}  // namespace fxopt
