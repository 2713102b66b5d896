// The in-memory FX graph: node bookkeeping (users, names, order) and the only place nodes are mutated.
#include "core/graph.h"

#include <algorithm>
#include <unordered_set>

#include "core/error.h"

namespace fxopt {

const char* to_string(Arg::Kind k) {
  switch (k) {
    case Arg::Kind::None: return "None";
    case Arg::Kind::Bool: return "bool";
    case Arg::Kind::Int: return "int";
    case Arg::Kind::Float: return "float";
    case Arg::Kind::Str: return "str";
    case Arg::Kind::Node: return "node";
    case Arg::Kind::List: return "list";
    case Arg::Kind::Dict: return "dict";
    case Arg::Kind::Dtype: return "dtype";
    case Arg::Kind::Device: return "device";
    case Arg::Kind::Layout: return "layout";
    case Arg::Kind::MemoryFormat: return "memory_format";
    case Arg::Kind::Sym: return "SymInt";
    case Arg::Kind::Repr: return "repr";
  }
  return "?";
}

namespace {
constexpr std::pair<OpKind, std::string_view> kOpNames[] = {
    {OpKind::Placeholder, "placeholder"},     {OpKind::GetAttr, "get_attr"},
    {OpKind::CallFunction, "call_function"},  {OpKind::CallMethod, "call_method"},
    {OpKind::CallModule, "call_module"},      {OpKind::Output, "output"},
};
}  // namespace

const char* to_string(OpKind k) {
  for (const auto& [op, name] : kOpNames)
    if (op == k) return name.data();
  return "?";
}

std::optional<OpKind> op_kind_from_string(std::string_view s) {
  for (const auto& [op, name] : kOpNames)
    if (name == s) return op;
  return std::nullopt;
}

const Arg* Node::kwarg(std::string_view key) const {
  for (const auto& [k, a] : kwargs)
    if (k == key) return &a;
  return nullptr;
}

const Arg* Node::arg_or_kwarg(size_t index, std::string_view key) const {
  if (index < args.size()) return &args[index];
  return kwarg(key);
}

std::vector<Node*> Node::inputs() const {
  std::vector<Node*> out;
  auto add = [&out](Node* n) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  for (const auto& a : args) a.visit_nodes(add);
  for (const auto& [k, a] : kwargs) a.visit_nodes(add);
  return out;
}

const std::string* Node::meta(std::string_view key) const {
  for (const auto& [k, v] : meta_extra)
    if (k == key) return &v;
  return nullptr;
}

void Node::set_meta(std::string key, std::string raw_json) {
  for (auto& [k, v] : meta_extra)
    if (k == key) { v = std::move(raw_json); return; }
  meta_extra.emplace_back(std::move(key), std::move(raw_json));
}

Node* Graph::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::output_node() const {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if (it->op == OpKind::Output) return const_cast<Node*>(&*it);
  return nullptr;
}

std::string Graph::fresh_name(std::string_view hint) const {
  std::string base(hint.empty() ? "node" : hint);
  if (!find(base)) return base;
  // FX style: "mul_35" taken -> "mul_36", "rsqrt" taken -> "rsqrt_1".
  size_t next = 1;
  auto us = base.rfind('_');
  if (us != std::string::npos && us + 1 < base.size() && base.size() - us <= 10 &&
      std::all_of(base.begin() + us + 1, base.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    next = std::stoull(base.substr(us + 1)) + 1;
    base.resize(us);
  }
  // Remember where the last probe for this base ended, so creating many nodes stays linear.
  size_t& resume = next_suffix_[base];
  next = std::max(next, resume);
  for (;; ++next) {
    std::string cand = base + "_" + std::to_string(next);
    if (!find(cand)) {
      resume = next + 1;
      return cand;
    }
  }
}

Node* Graph::append_named(Node&& node) {
  if (find(node.name)) throw InputError("duplicate node name '" + node.name + "'");
  nodes_.push_back(std::move(node));
  Node* n = &nodes_.back();
  n->self_ = std::prev(nodes_.end());
  by_name_.emplace(n->name, n);
  return n;
}

Node* Graph::create_node(OpKind op, std::string target, std::vector<Arg> args,
                         std::vector<std::pair<std::string, Arg>> kwargs, Node* before,
                         std::string_view name_hint) {
  Node node;
  node.name = fresh_name(name_hint);
  node.op = op;
  node.target = std::move(target);
  node.args = std::move(args);
  node.kwargs = std::move(kwargs);
  auto pos = before ? before->self_ : nodes_.end();
  auto it = nodes_.insert(pos, std::move(node));
  Node* n = &*it;
  n->self_ = it;
  by_name_.emplace(n->name, n);
  add_uses(n);
  return n;
}

// `n` is never in its inputs' users lists here (callers remove it first), and inputs() is unique.
void Graph::add_uses(Node* n) {
  for (Node* in : n->inputs()) in->users.push_back(n);
}

// Users are unique, so the scan stops at `n` (std::erase went through the whole list, which for a weight
// shared by every layer made each removal O(layers)); no inputs() vector either.
void Graph::remove_uses(Node* n) {
  auto drop = [n](Node* in) {
    auto it = std::find(in->users.begin(), in->users.end(), n);
    if (it != in->users.end()) in->users.erase(it);
  };
  for (const auto& a : n->args) a.visit_nodes(drop);
  for (const auto& [k, a] : n->kwargs) a.visit_nodes(drop);
}

void Graph::set_args(Node* n, std::vector<Arg> args) {
  remove_uses(n);
  n->args = std::move(args);
  add_uses(n);
}

void Graph::set_kwargs(Node* n, std::vector<std::pair<std::string, Arg>> kwargs) {
  remove_uses(n);
  n->kwargs = std::move(kwargs);
  add_uses(n);
}

namespace {
void replace_in(Arg& a, Node* from, Node* to) {
  switch (a.kind) {
    case Arg::Kind::Node: if (a.node == from) a.node = to; break;
    case Arg::Kind::List: for (auto& x : a.items) replace_in(x, from, to); break;
    case Arg::Kind::Dict: for (auto& [k, x] : a.dict) replace_in(x, from, to); break;
    default: break;
  }
}
}  // namespace

void Graph::replace_input(Node* user, Node* old_node, Node* replacement) {
  remove_uses(user);
  for (auto& a : user->args) replace_in(a, old_node, replacement);
  for (auto& [k, a] : user->kwargs) replace_in(a, old_node, replacement);
  add_uses(user);
}

size_t Graph::replace_all_uses(Node* old_node, Node* replacement) {
  FXOPT_CHECK(old_node != replacement, "replace_all_uses with itself");
  std::vector<Node*> users = old_node->users;
  for (Node* u : users) replace_input(u, old_node, replacement);
  return users.size();
}

void Graph::erase(Node* n) {
  FXOPT_CHECK(n->users.empty(), "erasing node '" + n->name + "' that still has users");
  remove_uses(n);
  by_name_.erase(n->name);
  nodes_.erase(n->self_);
}

void Graph::move_before(Node* n, Node* before) {
  nodes_.splice(before->self_, nodes_, n->self_);
}

void Graph::renumber() {
  size_t i = 0;
  for (auto& n : nodes_) n.order = i++;
}

std::string Graph::topological_error() const {
  std::unordered_set<const Node*> seen;
  seen.reserve(nodes_.size());
  for (const auto& n : nodes_) {
    for (Node* in : n.inputs())
      if (!seen.count(in))
        return "node '" + n.name + "' uses '" + in->name + "' before it is defined";
    seen.insert(&n);
  }
  return {};
}

sym::RangeMap Graph::ranges() const {
  sym::RangeMap r;
  for (const auto& [name, info] : symbols) r[name] = sym::Range{info.min ? info.min : std::optional<int64_t>(0), info.max};
  return r;
}

const SymbolInfo* Graph::symbol(std::string_view name) const {
  for (const auto& [n, info] : symbols)
    if (n == name) return &info;
  return nullptr;
}

void Graph::rebuild_users() {
  for (auto& n : nodes_) n.users.clear();
  for (auto& n : nodes_) add_uses(&n);
}

}  // namespace fxopt
