// The in-memory FX graph: node bookkeeping (users, names, order) and the only place nodes are mutated.
#include "core/ir/graph.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <unordered_set>

#include "core/ir/error.h"

namespace fxopt {

const std::string* intern_text(std::string_view s) {
  // Node-based set: element addresses never move. Deliberately never destroyed (texts outlive every graph).
  // Looked up by string_view (transparent hash): a text already interned costs no allocation.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>()(v); }
  };
  static std::mutex mu;
  static auto* pool = new std::unordered_set<std::string, Hash, std::equal_to<>>();
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = pool->find(s); it != pool->end()) return &*it;
  return &*pool->emplace(s).first;
}

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
    case Arg::Kind::Op: return "op";
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

bool UserList::erase(Node* n) {
  const size_t size = this->size();
  if (size == 0) return false;  // (the scan below would read before the list: a node read twice loses its user twice)
  for (size_t k = 0; 2 * k < size + 1; ++k) {
    const size_t front = head_ + k, back = v_.size() - 1 - k;
    if (v_[front] == n) {  // shift the k entries before it one step towards the back
      std::move_backward(v_.begin() + head_, v_.begin() + front, v_.begin() + front + 1);
      ++head_;
      if (head_ == v_.size()) clear();
      else if (head_ >= 32 && 2 * head_ >= v_.size()) {  // reclaim the dead prefix now and then
        v_.erase(v_.begin(), v_.begin() + head_);
        head_ = 0;
      }
      return true;
    }
    if (v_[back] == n) {
      v_.erase(v_.begin() + back);
      if (head_ == v_.size()) clear();
      return true;
    }
  }
  return false;
}

namespace {
size_t name_hash(std::string_view s) { return text_hash(s); }
}  // namespace

Node* Graph::NameIndex::find(std::string_view name, size_t h) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.node) return nullptr;
    if (s.hash == h && s.node->name == name) return s.node;
  }
}

void Graph::NameIndex::reserve(size_t n) {
  size_t want = 16;
  while (4 * want < 5 * n) want *= 2;  // load factor at most 4/5 (linear probing stays short; 16 bytes a slot)
  if (want <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(want, Slot{});
  count_ = 0;
  for (const Slot& s : old)
    if (s.node) insert(s.node);
}

void Graph::NameIndex::insert(Node* n) {
  if (5 * (count_ + 1) > 4 * slots_.size()) reserve(std::max<size_t>(count_ + 1, slots_.size()));
  const size_t h = name_hash(n->name), mask = slots_.size() - 1;
  size_t i = h & mask;
  while (slots_[i].node) i = (i + 1) & mask;
  slots_[i] = Slot{h, n};
  ++count_;
}

bool Graph::NameIndex::insert_unique(Node* n, size_t h) {
  if (5 * (count_ + 1) > 4 * slots_.size()) reserve(std::max<size_t>(count_ + 1, slots_.size()));
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (; slots_[i].node; i = (i + 1) & mask)
    if (slots_[i].hash == h && slots_[i].node->name == n->name) return false;
  slots_[i] = Slot{h, n};
  ++count_;
  return true;
}

void Graph::NameIndex::erase(const Node* n) {
  if (slots_.empty()) return;
  const size_t mask = slots_.size() - 1;
  size_t i = name_hash(n->name) & mask;
  while (slots_[i].node != n) {
    if (!slots_[i].node) return;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion: move later entries of the probe run into the hole, so no tombstones are needed.
  for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
    if (!slots_[j].node) break;
    const size_t home = slots_[j].hash & mask;
    // Move j into the hole i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
  --count_;
}

Node* Graph::find(std::string_view name) const { return by_name_.find(name); }

Node* Graph::output_node() const {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it)
    if (it->op == OpKind::Output) return const_cast<Node*>(&*it);
  return nullptr;
}

Node* Graph::next(const Node* n) const {
  auto it = std::next(n->self_);
  return it == nodes_.end() ? nullptr : const_cast<Node*>(&*it);
}

Node* Graph::prev(const Node* n) const {
  return n->self_ == nodes_.begin() ? nullptr : const_cast<Node*>(&*std::prev(n->self_));
}

std::string Graph::fresh_name(std::string_view hint) const {
  std::string base(hint.empty() ? "node" : hint);
  if (!find(base)) return base;
  // FX style: "mul_35" taken -> "mul_36", "rsqrt" taken -> "rsqrt_1".
  size_t next = 1;
  auto us = base.rfind('_');
  if (us != std::string::npos && us + 1 < base.size() && base.size() - us <= 10 &&
      std::all_of(base.begin() + us + 1, base.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    unsigned long long v = 0;
    std::from_chars(base.data() + us + 1, base.data() + base.size(), v);  // at most 9 digits: no overflow
    next = static_cast<size_t>(v) + 1;
    base.resize(us);
  }
  // Remember where the last probe for this base ended, so creating many nodes stays linear.
  size_t& resume = next_suffix_[base];
  next = std::max(next, resume);
  std::string cand = base + "_";
  for (;; ++next) {
    char digits[24];
    cand.resize(base.size() + 1);
    cand.append(digits, std::to_chars(digits, digits + sizeof digits, next).ptr);
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
  by_name_.insert(n);
  return n;
}

Node* Graph::append_named(std::list<Node>& staged) { return append_named(staged, text_hash(staged.front().name)); }

Node* Graph::append_named(std::list<Node>& staged, size_t name_hash) {
  Node* n = &staged.front();
  if (!by_name_.insert_unique(n, name_hash)) throw InputError("duplicate node name '" + n->name + "'");
  nodes_.splice(nodes_.end(), staged, staged.begin());
  n->self_ = std::prev(nodes_.end());
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
  by_name_.insert(n);
  add_uses(n);
  return n;
}

// `n` is never in its inputs' users lists here (callers remove it first), so an input that `n` reads twice has `n`
// as its last user on the second visit: the same lists as pushing inputs() in order, without building it.
void Graph::add_uses(Node* n) {
  auto add = [n](Node* in) {
    if (in->users.empty() || in->users.back() != n) in->users.push_back(n);
  };
  for (const auto& a : n->args) a.visit_nodes(add);
  for (const auto& [k, a] : n->kwargs) a.visit_nodes(add);
}

// Users are unique, so the scan stops at `n` (std::erase went through the whole list, which for a weight
// shared by every layer made each removal O(layers)); no inputs() vector either.
void Graph::remove_uses(Node* n) {
  auto drop = [n](Node* in) { in->users.erase(n); };
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
  by_name_.erase(n);
  nodes_.erase(n->self_);
}

void Graph::erase_into(Node* n, std::list<Node>& graveyard) {
  FXOPT_CHECK(n->users.empty(), "erasing node '" + n->name + "' that still has users");
  remove_uses(n);
  by_name_.erase(n);
  graveyard.splice(graveyard.end(), nodes_, n->self_);
}

void Graph::move_before(Node* n, Node* before) {
  nodes_.splice(before->self_, nodes_, n->self_);
}

void Graph::renumber() {
  size_t i = 0;
  for (auto& n : nodes_) n.order = i++;
}

// Numbers the nodes, then compares each input's number with its user's: no set of seen nodes, no allocation.
std::string Graph::topological_error() const {
  const_cast<Graph*>(this)->renumber();
  for (const auto& n : nodes_) {
    const Node* bad = nullptr;
    auto check = [&](const Node* in) {
      if (!bad && in->order >= n.order) bad = in;
    };
    for (const auto& a : n.args) a.visit_nodes(check);
    for (const auto& [k, a] : n.kwargs) a.visit_nodes(check);
    if (bad) return "node '" + n.name + "' uses '" + bad->name + "' before it is defined";
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
