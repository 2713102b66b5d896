// Structural graph diff: anchors, Merkle pairing, top-down/outward propagation, field comparison and reports.
#include "core/diff/diff.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt {

namespace {

constexpr int32_t kNone = -1;

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

struct Hasher {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  void add(uint64_t v) { h = mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2))); }
  void add_str(std::string_view s) {
    add(std::hash<std::string_view>{}(s));
    add(s.size());
  }
};

// An integer argument, whether written as a JSON integer or as a constant SymInt.
std::optional<int64_t> int_value(const Arg& a) {
  if (a.kind == Arg::Kind::Int) return a.i;
  if (a.kind == Arg::Kind::Sym) return a.sym.expr.as_constant();
  return std::nullopt;
}

uint64_t float_bits(double f) {
  if (f != f) return 0x7ff8000000000000ULL;  // every nan is the same value
  uint64_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

void hash_arg(Hasher& h, const Arg& a) {
  if (auto v = int_value(a)) {
    h.add(static_cast<uint64_t>(Arg::Kind::Int));
    h.add(static_cast<uint64_t>(*v));
    return;
  }
  h.add(static_cast<uint64_t>(a.kind));
  switch (a.kind) {
    case Arg::Kind::None: case Arg::Kind::Node: case Arg::Kind::Int: break;  // a node is hashed by its slot
    case Arg::Kind::Bool: h.add(a.b); break;
    case Arg::Kind::Float: h.add(float_bits(a.f)); break;
    case Arg::Kind::Str: case Arg::Kind::Dtype: case Arg::Kind::Device: case Arg::Kind::Layout:
    case Arg::Kind::MemoryFormat: case Arg::Kind::Repr: case Arg::Kind::Op: h.add_str(a.s); break;
    case Arg::Kind::List:
      h.add(a.items.size());
      for (const auto& x : a.items) hash_arg(h, x);
      break;
    case Arg::Kind::Dict:
      h.add(a.dict.size());
      for (const auto& [k, x] : a.dict) { h.add_str(k); hash_arg(h, x); }
      break;
    case Arg::Kind::Sym: h.add(a.sym.expr.hash()); break;
  }
}

void hash_dims(Hasher& h, const std::vector<SymDim>& dims) {
  h.add(dims.size());
  for (const auto& d : dims) h.add(d.expr.hash());
}

void hash_val(Hasher& h, const ValMeta& v) {
  h.add(static_cast<uint64_t>(v.kind));
  switch (v.kind) {
    case ValMeta::Kind::Null: break;
    case ValMeta::Kind::Tensor:
      h.add_str(v.tensor.dtype);
      hash_dims(h, v.tensor.shape);
      hash_dims(h, v.tensor.stride);
      h.add_str(v.tensor.device);
      for (const auto& [k, raw] : v.tensor.extra) { h.add_str(k); h.add_str(raw); }
      break;
    case ValMeta::Kind::Sym: h.add(v.sym.expr.hash()); break;
    case ValMeta::Kind::Const: hash_arg(h, v.constant); break;
    case ValMeta::Kind::Tuple:
      h.add(v.items.size());
      for (const auto& x : v.items) hash_val(h, x);
      break;
  }
}

bool meta_key_compared(const DiffOptions& o, std::string_view key) {
  if (o.ignore_meta.count(key)) return false;
  return key == "val" || o.include_meta.count(key);
}

// Appends every node referenced by `a`, in order, duplicates kept (one entry per argument slot).
void collect_slots(const Arg& a, std::vector<const Node*>& out) {
  if (a.kind == Arg::Kind::Node) out.push_back(a.node);
  for (const auto& x : a.items) collect_slots(x, out);
  for (const auto& [k, x] : a.dict) collect_slots(x, out);
}

// Node -> position, open addressing: the index is read once per argument slot and user, so it stays flat.
class NodeIndex {
 public:
  explicit NodeIndex(const std::vector<const Node*>& nodes) {
    size_t cap = 16;
    while (cap < 2 * nodes.size()) cap *= 2;
    keys_.assign(cap, nullptr);
    vals_.resize(cap);
    for (uint32_t i = 0; i < nodes.size(); ++i) {
      size_t h = slot(nodes[i]);
      keys_[h] = nodes[i];
      vals_[h] = i;
    }
  }
  uint32_t at(const Node* n) const {
    size_t h = slot(n);
    FXOPT_CHECK(keys_[h] == n, "node is not in the graph being diffed");
    return vals_[h];
  }

 private:
  size_t slot(const Node* n) const {  // the slot holding n, or the empty one where it would go
    size_t mask = keys_.size() - 1;
    size_t h = mix64(reinterpret_cast<uintptr_t>(n)) & mask;
    while (keys_[h] && keys_[h] != n) h = (h + 1) & mask;
    return h;
  }
  std::vector<const Node*> keys_;
  std::vector<uint32_t> vals_;
};

// One graph, indexed for pairing: node i in graph order, its input slots, hashes and partner.
struct Side {
  std::vector<const Node*> nodes;
  NodeIndex index;
  std::vector<uint32_t> slot_begin;  // CSR: slots of node i are slots[slot_begin[i] .. slot_begin[i+1])
  std::vector<uint32_t> slots;
  std::vector<uint64_t> local;    // op, target, constant arguments, compared meta
  std::vector<uint64_t> shallow;  // op and target
  std::vector<uint64_t> merkle;   // local + the merkle hashes of the inputs, slot by slot
  std::vector<int32_t> partner;

  Side(const Graph& g, const DiffOptions& opts) : nodes(all_nodes(g)), index(nodes) {
    slot_begin.reserve(nodes.size() + 1);
    local.resize(nodes.size());
    shallow.resize(nodes.size());
    merkle.resize(nodes.size());
    partner.assign(nodes.size(), kNone);
    std::vector<const Node*> refs;
    for (uint32_t i = 0; i < nodes.size(); ++i) {
      const Node& n = *nodes[i];
      slot_begin.push_back(static_cast<uint32_t>(slots.size()));
      refs.clear();
      for (const auto& a : n.args) collect_slots(a, refs);
      for (const auto& [k, a] : n.kwargs) collect_slots(a, refs);
      for (const Node* r : refs) slots.push_back(index.at(r));
      Hasher s;
      s.add(static_cast<uint64_t>(n.op));
      s.add_str(n.target);
      shallow[i] = s.h;
      Hasher h = s;
      h.add(n.args.size());
      for (const auto& a : n.args) hash_arg(h, a);
      h.add(n.kwargs.size());
      for (const auto& [k, a] : n.kwargs) { h.add_str(k); hash_arg(h, a); }
      if (meta_key_compared(opts, "val")) {
        h.add(n.val.has_value());
        if (n.val) hash_val(h, *n.val);
      }
      for (const auto& [k, raw] : n.meta_extra)
        if (meta_key_compared(opts, k)) { h.add_str(k); h.add_str(raw); }
      local[i] = h.h;
    }
    slot_begin.push_back(static_cast<uint32_t>(slots.size()));
  }

  static std::vector<const Node*> all_nodes(const Graph& g) {
    std::vector<const Node*> v;
    v.reserve(g.size());
    for (const auto& n : g.nodes()) v.push_back(&n);
    return v;
  }
  size_t size() const { return nodes.size(); }
  std::pair<const uint32_t*, const uint32_t*> inputs(uint32_t i) const {
    return {slots.data() + slot_begin[i], slots.data() + slot_begin[i + 1]};
  }
  // The first slot of `user` that reads node `i` (users are maintained by the Graph, so one exists).
  uint32_t slot_of(uint32_t user, uint32_t i) const {
    auto [b, e] = inputs(user);
    return static_cast<uint32_t>(std::find(b, e, i) - b);
  }
};

class Pairing {
 public:
  Pairing(Side& a, Side& b) : A(a), B(b) {}

  void run() {
    anchor();
    compute_merkle(A);
    compute_merkle(B);
    std::vector<uint32_t> made = merkle(/*unique_only=*/true);
    // Top down: a reverse sweep visits every user before its inputs, so pairs made here are swept too.
    for (size_t i = A.size(); i-- > 0;)
      if (A.partner[i] != kNone) down(static_cast<uint32_t>(i));
    made.clear();
    for (uint32_t i = 0; i < A.size(); ++i)
      if (A.partner[i] != kNone) made.push_back(i);
    propagate(made);
    // Identical computations that occur several times and found no context pair up in graph order.
    propagate(merkle(/*unique_only=*/false));
  }

 private:
  void pair(uint32_t a, uint32_t b) {
    A.partner[a] = static_cast<int32_t>(b);
    B.partner[b] = static_cast<int32_t>(a);
  }
  bool free_a(uint32_t a) const { return A.partner[a] == kNone; }
  bool free_b(uint32_t b) const { return B.partner[b] == kNone; }
  bool compatible(uint32_t a, uint32_t b) const {
    const Node& x = *A.nodes[a];
    const Node& y = *B.nodes[b];
    return A.shallow[a] == B.shallow[b] && x.op == y.op && x.target == y.target && x.op != OpKind::Placeholder &&
           x.op != OpKind::Output;
  }

  // Placeholders by position and target, then by target, then by position; the output nodes.
  void anchor() {
    std::vector<uint32_t> pa, pb;
    for (uint32_t i = 0; i < A.size(); ++i)
      if (A.nodes[i]->op == OpKind::Placeholder) pa.push_back(i);
    for (uint32_t i = 0; i < B.size(); ++i)
      if (B.nodes[i]->op == OpKind::Placeholder) pb.push_back(i);
    size_t common = std::min(pa.size(), pb.size());
    for (size_t k = 0; k < common; ++k)
      if (A.nodes[pa[k]]->target == B.nodes[pb[k]]->target) pair(pa[k], pb[k]);
    std::unordered_map<std::string_view, uint32_t> free_targets;
    for (uint32_t b : pb)
      if (free_b(b)) free_targets.emplace(B.nodes[b]->target, b);
    for (uint32_t a : pa) {
      if (!free_a(a)) continue;
      auto it = free_targets.find(A.nodes[a]->target);
      if (it != free_targets.end() && free_b(it->second)) pair(a, it->second);
    }
    for (size_t k = 0; k < common; ++k)
      if (free_a(pa[k]) && free_b(pb[k])) pair(pa[k], pb[k]);  // a renamed argument
    // Paired placeholders hash alike whatever their targets, so a rename does not disturb the pairing below.
    for (uint32_t a : pa) {
      Hasher h;
      h.add(A.partner[a] == kNone ? 0x1000000000ULL + a : a);
      A.merkle[a] = h.h;
      if (A.partner[a] != kNone) B.merkle[A.partner[a]] = h.h;
    }
    for (uint32_t b : pb)
      if (free_b(b)) { Hasher h; h.add(0x2000000000ULL + b); B.merkle[b] = h.h; }
    if (A.size() && B.size() && A.nodes.back()->op == OpKind::Output && B.nodes.back()->op == OpKind::Output)
      pair(static_cast<uint32_t>(A.size() - 1), static_cast<uint32_t>(B.size() - 1));
  }

  // Bottom up, in graph order; placeholders were hashed by anchor().
  static void compute_merkle(Side& s) {
    for (uint32_t i = 0; i < s.size(); ++i) {
      if (s.nodes[i]->op == OpKind::Placeholder) continue;
      Hasher h;
      h.h = s.local[i];
      auto [b, e] = s.inputs(i);
      for (auto p = b; p != e; ++p) h.add(s.merkle[*p]);
      s.merkle[i] = h.h;
    }
  }

  // Nodes whose whole upstream computation is identical pair up. With `unique_only`, only hashes that occur
  // once on each side; the repeated ones (the same computation in several places) wait for context from the
  // propagation, and what is left of them pairs in graph order.
  std::vector<uint32_t> merkle(bool unique_only) {
    struct Bucket { std::vector<uint32_t> nodes; size_t next = 0; size_t count_a = 0; };
    std::unordered_map<uint64_t, Bucket> buckets;
    buckets.reserve(B.size());
    for (uint32_t b = 0; b < B.size(); ++b)
      if (free_b(b) && B.nodes[b]->op != OpKind::Placeholder) buckets[B.merkle[b]].nodes.push_back(b);
    if (unique_only)
      for (uint32_t a = 0; a < A.size(); ++a)
        if (auto it = buckets.find(A.merkle[a]); it != buckets.end()) ++it->second.count_a;
    std::vector<uint32_t> made;
    for (uint32_t a = 0; a < A.size(); ++a) {
      if (!free_a(a) || A.nodes[a]->op == OpKind::Placeholder) continue;
      auto it = buckets.find(A.merkle[a]);
      if (it == buckets.end()) continue;
      Bucket& bk = it->second;
      if (unique_only && (bk.count_a != 1 || bk.nodes.size() != 1)) continue;
      while (bk.next < bk.nodes.size() && !free_b(bk.nodes[bk.next])) ++bk.next;
      if (bk.next < bk.nodes.size() && compatible(a, bk.nodes[bk.next])) {
        pair(a, bk.nodes[bk.next++]);
        made.push_back(a);
      }
    }
    return made;
  }

  // Outward in both directions from each given pair and each pair this makes; each is visited once.
  void propagate(const std::vector<uint32_t>& pairs) {
    std::deque<uint32_t> work(pairs.begin(), pairs.end());
    while (!work.empty()) {
      uint32_t i = work.front();
      work.pop_front();
      for (uint32_t x : down(i)) work.push_back(x);
      for (uint32_t x : up(i)) work.push_back(x);
    }
  }

  // Inputs in the same slot of a pair, with the same op and target, pair up.
  std::vector<uint32_t> down(uint32_t a) {
    std::vector<uint32_t> made;
    uint32_t b = static_cast<uint32_t>(A.partner[a]);
    auto [ab, ae] = A.inputs(a);
    auto [bb, be] = B.inputs(b);
    for (; ab != ae && bb != be; ++ab, ++bb)
      if (free_a(*ab) && free_b(*bb) && compatible(*ab, *bb)) {
        pair(*ab, *bb);
        made.push_back(*ab);
      }
    return made;
  }

  // Unpaired users of a pair that read it in the same slot pair up: identical local content first, then the
  // same op and target, in graph order among equals.
  std::vector<uint32_t> up(uint32_t a) {
    std::vector<uint32_t> made;
    uint32_t b = static_cast<uint32_t>(A.partner[a]);
    std::vector<uint32_t> ua, ub;
    for (const Node* u : A.nodes[a]->users)
      if (uint32_t i = A.index.at(u); free_a(i)) ua.push_back(i);
    if (ua.empty()) return made;
    for (const Node* u : B.nodes[b]->users)
      if (uint32_t i = B.index.at(u); free_b(i)) ub.push_back(i);
    if (ub.empty()) return made;
    std::sort(ua.begin(), ua.end());
    std::sort(ub.begin(), ub.end());
    for (int tier = 0; tier < 2; ++tier) {  // 0: identical local content, 1: same op and target
      const auto& ha = tier == 0 ? A.local : A.shallow;
      const auto& hb = tier == 0 ? B.local : B.shallow;
      std::unordered_map<uint64_t, std::deque<uint32_t>> candidates;
      for (uint32_t u : ub) {
        if (!free_b(u)) continue;
        Hasher h;
        h.h = hb[u];
        h.add(B.slot_of(u, b));
        candidates[h.h].push_back(u);
      }
      for (uint32_t u : ua) {
        if (!free_a(u)) continue;
        Hasher h;
        h.h = ha[u];
        h.add(A.slot_of(u, a));
        auto it = candidates.find(h.h);
        if (it == candidates.end()) continue;
        auto& q = it->second;
        while (!q.empty() && !(free_b(q.front()) && compatible(u, q.front()))) q.pop_front();
        if (q.empty()) continue;
        pair(u, q.front());
        q.pop_front();
        made.push_back(u);
      }
    }
    return made;
  }

  Side& A;
  Side& B;
};

// ---------------------------------------------------------------------------------------------------------
// Readable rendering (text report and the values in FieldChange)
// ---------------------------------------------------------------------------------------------------------

void render_arg(const Arg& a, std::string& out) {
  switch (a.kind) {
    case Arg::Kind::None: out += "None"; break;
    case Arg::Kind::Bool: out += a.b ? "True" : "False"; break;
    case Arg::Kind::Int: out += std::to_string(a.i); break;
    case Arg::Kind::Float: out += format_python_float(a.f); break;
    case Arg::Kind::Str: out += json_quote(a.s); break;
    case Arg::Kind::Node: out += "%" + a.node->name; break;
    case Arg::Kind::List:
      out += '[';
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (i) out += ", ";
        render_arg(a.items[i], out);
      }
      out += ']';
      break;
    case Arg::Kind::Dict:
      out += '{';
      for (size_t i = 0; i < a.dict.size(); ++i) {
        if (i) out += ", ";
        out += json_quote(a.dict[i].first) + ": ";
        render_arg(a.dict[i].second, out);
      }
      out += '}';
      break;
    case Arg::Kind::Dtype: case Arg::Kind::Layout: case Arg::Kind::MemoryFormat: out += a.s; break;
    case Arg::Kind::Device: out += "device(" + json_quote(a.s) + ")"; break;
    case Arg::Kind::Sym: out += a.sym.str(); break;
    case Arg::Kind::Repr: out += a.s; break;
    case Arg::Kind::Op: out += "op(" + a.s + ")"; break;
  }
}

std::string render_arg(const Arg& a) {
  std::string s;
  render_arg(a, s);
  return s;
}

std::string render_dims(const std::vector<SymDim>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += dims[i].str();
  }
  return s + "]";
}

std::string render_val(const ValMeta& v) {
  switch (v.kind) {
    case ValMeta::Kind::Null: return "None";
    case ValMeta::Kind::Tensor: return v.tensor.dtype + render_dims(v.tensor.shape);
    case ValMeta::Kind::Sym: return "SymInt(" + v.sym.str() + ")";
    case ValMeta::Kind::Const: return render_arg(v.constant);
    case ValMeta::Kind::Tuple: {
      std::string s = "(";
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) s += ", ";
        s += render_val(v.items[i]);
      }
      return s + (v.items.size() == 1 ? ",)" : ")");
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------------------
// Field-by-field comparison of a pair
// ---------------------------------------------------------------------------------------------------------

const char* const kAbsent = "(absent)";

class Comparer {
 public:
  Comparer(const Side& a, const Side& b, const DiffOptions& opts) : A(a), B(b), opts_(opts) {}

  std::vector<FieldChange> compare(const Node& a, const Node& b) {
    out_.clear();
    if (a.op != b.op) add("op", "op", to_string(a.op), to_string(b.op));
    if (a.target != b.target) add("target", "target", a.target, b.target);
    for (size_t i = 0; i < std::max(a.args.size(), b.args.size()); ++i) {
      std::string path = "args[" + std::to_string(i) + "]";
      if (i >= a.args.size()) add(path, "arg", kAbsent, render_arg(b.args[i]));
      else if (i >= b.args.size()) add(path, "arg", render_arg(a.args[i]), kAbsent);
      else arg(path, a.args[i], b.args[i]);
    }
    for (const auto& [k, x] : a.kwargs) {
      const Arg* y = b.kwarg(k);
      if (y) arg("kwargs." + k, x, *y);
      else add("kwargs." + k, "kwarg", render_arg(x), kAbsent);
    }
    for (const auto& [k, y] : b.kwargs)
      if (!a.kwarg(k)) add("kwargs." + k, "kwarg", kAbsent, render_arg(y));
    if (meta_key_compared(opts_, "val")) {
      if (a.val && b.val) val("meta.val", *a.val, *b.val);
      else if (a.val || b.val)
        add("meta.val", "val", a.val ? render_val(*a.val) : kAbsent, b.val ? render_val(*b.val) : kAbsent);
    }
    for (const auto& key : opts_.include_meta) {
      if (key == "val" || !meta_key_compared(opts_, key)) continue;
      const std::string* x = a.meta(key);
      const std::string* y = b.meta(key);
      if ((x == nullptr) != (y == nullptr) || (x && *x != *y))
        add("meta." + key, "meta", x ? *x : kAbsent, y ? *y : kAbsent);
    }
    return std::move(out_);
  }

 private:
  void add(std::string path, std::string kind, std::string a, std::string b) {
    out_.push_back({std::move(path), std::move(kind), std::move(a), std::move(b)});
  }

  // Same value: paired with each other, identical upstream computations, or both replaced.
  bool same_input(const Node* x, const Node* y) const {
    uint32_t i = A.index.at(x), j = B.index.at(y);
    if (A.partner[i] == static_cast<int32_t>(j) || A.merkle[i] == B.merkle[j]) return true;
    return A.partner[i] == kNone && B.partner[j] == kNone;
  }

  void arg(const std::string& path, const Arg& a, const Arg& b) {
    auto ia = int_value(a), ib = int_value(b);
    if (ia && ib) {
      if (*ia != *ib) add(path, a.kind == Arg::Kind::Sym || b.kind == Arg::Kind::Sym ? "SymInt" : "int",
                          render_arg(a), render_arg(b));
      return;
    }
    if (a.kind != b.kind) {
      add(path, std::string(to_string(a.kind)) + "/" + to_string(b.kind), render_arg(a), render_arg(b));
      return;
    }
    bool same = true;
    switch (a.kind) {
      case Arg::Kind::None: case Arg::Kind::Int: break;
      case Arg::Kind::Bool: same = a.b == b.b; break;
      case Arg::Kind::Float: same = float_bits(a.f) == float_bits(b.f); break;
      case Arg::Kind::Str: case Arg::Kind::Dtype: case Arg::Kind::Device: case Arg::Kind::Layout:
      case Arg::Kind::MemoryFormat: case Arg::Kind::Repr: case Arg::Kind::Op: same = a.s == b.s; break;
      case Arg::Kind::Sym: same = a.sym.expr == b.sym.expr; break;
      case Arg::Kind::Node:
        if (!same_input(a.node, b.node)) add(path, "input", render_arg(a), render_arg(b));
        return;
      case Arg::Kind::List:
        if (a.items.size() != b.items.size()) {
          add(path, "list length", render_arg(a), render_arg(b));
          return;
        }
        for (size_t i = 0; i < a.items.size(); ++i) arg(path + "[" + std::to_string(i) + "]", a.items[i], b.items[i]);
        return;
      case Arg::Kind::Dict: {
        bool same_keys = a.dict.size() == b.dict.size();
        for (size_t i = 0; same_keys && i < a.dict.size(); ++i) same_keys = a.dict[i].first == b.dict[i].first;
        if (!same_keys) {
          add(path, "dict keys", render_arg(a), render_arg(b));
          return;
        }
        for (size_t i = 0; i < a.dict.size(); ++i) arg(path + "." + a.dict[i].first, a.dict[i].second, b.dict[i].second);
        return;
      }
    }
    if (!same) add(path, to_string(a.kind), render_arg(a), render_arg(b));
  }

  void dims(const std::string& path, const char* kind, const std::vector<SymDim>& a, const std::vector<SymDim>& b) {
    if (a.size() != b.size()) {
      add(path, std::string(kind) + " rank", render_dims(a), render_dims(b));
      return;
    }
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].expr != b[i].expr) add(path + "[" + std::to_string(i) + "]", kind, a[i].str(), b[i].str());
  }

  void val(const std::string& path, const ValMeta& a, const ValMeta& b) {
    if (a.kind != b.kind) {
      add(path, "val", render_val(a), render_val(b));
      return;
    }
    switch (a.kind) {
      case ValMeta::Kind::Null: break;
      case ValMeta::Kind::Tensor: {
        const auto& x = a.tensor;
        const auto& y = b.tensor;
        if (x.dtype != y.dtype) add(path + ".dtype", "dtype", x.dtype, y.dtype);
        dims(path + ".shape", "shape", x.shape, y.shape);
        dims(path + ".stride", "stride", x.stride, y.stride);
        if (x.device != y.device) add(path + ".device", "device", x.device, y.device);
        if (x.extra != y.extra) add(path, "tensor meta", val_to_json(a), val_to_json(b));
        break;
      }
      case ValMeta::Kind::Sym:
        if (a.sym.expr != b.sym.expr) add(path + ".sym", "SymInt", a.sym.str(), b.sym.str());
        break;
      case ValMeta::Kind::Const: arg(path + ".const", a.constant, b.constant); break;
      case ValMeta::Kind::Tuple:
        if (a.items.size() != b.items.size()) {
          add(path, "val", render_val(a), render_val(b));
          break;
        }
        for (size_t i = 0; i < a.items.size(); ++i) val(path + "[" + std::to_string(i) + "]", a.items[i], b.items[i]);
        break;
    }
  }

  const Side& A;
  const Side& B;
  const DiffOptions& opts_;
  std::vector<FieldChange> out_;
};

}  // namespace

GraphDiff diff_graphs(const Graph& a, const Graph& b, const DiffOptions& opts) {
  Side sa(a, opts), sb(b, opts);
  Pairing(sa, sb).run();
  GraphDiff d;
  d.partner.reserve(2 * std::min(sa.size(), sb.size()));
  for (uint32_t i = 0; i < sa.size(); ++i) {
    if (sa.partner[i] == kNone) {
      d.removed.push_back(sa.nodes[i]);
      continue;
    }
    d.partner.emplace(sa.nodes[i], sb.nodes[sa.partner[i]]);
    d.partner.emplace(sb.nodes[sa.partner[i]], sa.nodes[i]);
    ++d.paired;
  }
  Comparer cmp(sa, sb, opts);
  for (uint32_t j = 0; j < sb.size(); ++j) {
    if (sb.partner[j] == kNone) {
      d.added.push_back(sb.nodes[j]);
      continue;
    }
    uint32_t i = static_cast<uint32_t>(sb.partner[j]);
    const Node* x = sa.nodes[i];
    // Equal Merkle hashes mean equal content and equal inputs (placeholders hash by pairing: compare them).
    if (sa.merkle[i] == sb.merkle[j] && x->op != OpKind::Placeholder) continue;
    auto changes = cmp.compare(*x, *sb.nodes[j]);
    if (!changes.empty()) d.changed.push_back({x, sb.nodes[j], std::move(changes)});
  }
  return d;
}

std::vector<DiffStatRow> diff_stat(const GraphDiff& d) {
  std::map<std::string, DiffStatRow> rows;
  auto row = [&rows](const Node* n) -> DiffStatRow& {
    auto& r = rows[n->target];
    r.target = n->target;
    return r;
  };
  for (const Node* n : d.removed) ++row(n).removed;
  for (const Node* n : d.added) ++row(n).added;
  for (const auto& c : d.changed) ++row(c.b).changed;
  std::vector<DiffStatRow> out;
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  return out;
}

std::string node_summary(const Node& n) {
  std::string s;
  if (n.op != OpKind::Output) s = "%" + n.name + " = ";
  switch (n.op) {
    case OpKind::Placeholder: s += "placeholder[" + n.target + "]"; break;
    case OpKind::GetAttr: s += "get_attr[" + n.target + "]"; break;
    case OpKind::CallMethod: s += "." + n.target; break;
    case OpKind::CallModule: s += "module:" + n.target; break;
    case OpKind::CallFunction: case OpKind::Output: s += n.target; break;
  }
  if (n.op != OpKind::Placeholder && n.op != OpKind::GetAttr) {
    s += '(';
    bool first = true;
    for (const auto& a : n.args) {
      if (!first) s += ", ";
      first = false;
      render_arg(a, s);
    }
    for (const auto& [k, a] : n.kwargs) {
      if (!first) s += ", ";
      first = false;
      s += k + "=";
      render_arg(a, s);
    }
    s += ')';
  }
  if (n.val) s += " :: " + render_val(*n.val);
  return s;
}

namespace {

// The pattern that created a node, from meta.fxopt_from: a string, or an object's "pattern" (else its text).
std::optional<std::string> created_by(const Node& n) {
  const std::string* raw = n.meta("fxopt_from");
  if (!raw) return std::nullopt;
  const std::string& r = *raw;
  auto unquote = [](std::string_view q) -> std::optional<std::string> {
    if (q.size() < 2 || q.front() != '"' || q.back() != '"' || q.substr(1, q.size() - 2).find_first_of("\"\\") !=
                                                                     std::string_view::npos)
      return std::nullopt;
    return std::string(q.substr(1, q.size() - 2));
  };
  if (auto s = unquote(r)) return s;
  const std::string key = "\"pattern\": ";
  if (auto p = r.find(key); r.starts_with("{") && p != std::string::npos) {
    auto rest = std::string_view(r).substr(p + key.size());
    auto end = rest.find('"', 1);
    if (end != std::string_view::npos)
      if (auto s = unquote(rest.substr(0, end + 1))) return s;
  }
  return r;
}

std::string names_json(const std::vector<Node*>& nodes) {
  std::string s = "[";
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i) s += ", ";
    s += json_quote(nodes[i]->name);
  }
  return s + "]";
}

std::string plural(size_t n, const char* what) { return std::to_string(n) + " " + what; }

std::string totals(const GraphDiff& d) {
  return plural(d.removed.size(), "removed") + ", " + plural(d.added.size(), "added") + ", " +
         plural(d.changed.size(), "changed") + " (" + plural(d.paired, "nodes paired") + ")";
}

}  // namespace

std::string format_diff_text(const GraphDiff& d, const Graph& a, const Graph& b, const std::string& name_a,
                             const std::string& name_b) {
  if (d.equal()) return {};
  // Merge both graphs into one sequence in B's order, removed nodes placed where they stood in A.
  enum class Mark : char { Context = ' ', Removed = '-', Added = '+', Changed = '~' };
  struct Line { Mark mark; const Node* a; const Node* b; size_t ia, ib; };
  std::unordered_map<const Node*, size_t> pos_a, pos_b;
  std::vector<const Node*> na, nb;
  for (const auto& n : a.nodes()) { pos_a.emplace(&n, na.size()); na.push_back(&n); }
  for (const auto& n : b.nodes()) { pos_b.emplace(&n, nb.size()); nb.push_back(&n); }
  std::unordered_map<const Node*, const NodeChange*> changed;
  for (const auto& c : d.changed) changed.emplace(c.b, &c);

  // Context: paired, unchanged nodes that feed or consume a removed or added node.
  std::unordered_set<const Node*> context;  // B side
  auto note = [&](const Node* n) {
    if (const Node* p = d.partner_of(n)) {
      const Node* bn = pos_b.count(n) ? n : p;
      if (!changed.count(bn)) context.insert(bn);
    }
  };
  for (const Node* n : d.removed) { for (Node* x : n->inputs()) note(x); for (Node* u : n->users) note(u); }
  for (const Node* n : d.added) { for (Node* x : n->inputs()) note(x); for (Node* u : n->users) note(u); }

  std::vector<Line> lines;
  size_t next_a = 0;
  auto flush_removed = [&](size_t upto, size_t at_b) {
    for (; next_a < upto; ++next_a)
      if (!d.partner_of(na[next_a])) lines.push_back({Mark::Removed, na[next_a], nullptr, next_a, at_b});
  };
  for (size_t j = 0; j < nb.size(); ++j) {
    const Node* y = nb[j];
    const Node* x = d.partner_of(y);
    if (!x) { lines.push_back({Mark::Added, nullptr, y, next_a, j}); continue; }
    size_t i = pos_a.at(x);
    if (i >= next_a) {
      flush_removed(i, j);
      next_a = i + 1;
    }
    Mark m = changed.count(y) ? Mark::Changed : Mark::Context;
    lines.push_back({m, x, y, i, j});
  }
  flush_removed(na.size(), nb.size());

  std::string out = "--- " + name_a + "\n+++ " + name_b + "\n";
  bool gap = true;
  for (const auto& l : lines) {
    bool shown = l.mark != Mark::Context || context.count(l.b);
    if (!shown) { gap = true; continue; }
    if (gap) out += "@@ -nodes[" + std::to_string(l.ia) + "] +nodes[" + std::to_string(l.ib) + "] @@\n";
    gap = false;
    const Node& n = l.b ? *l.b : *l.a;
    out += static_cast<char>(l.mark);
    out += ' ';
    out += node_summary(n);
    if (l.a && l.b && l.a->name != l.b->name) out += "    (a: %" + l.a->name + ")";
    if (l.mark == Mark::Added)
      if (auto from = created_by(n)) out += "    # from " + *from;
    out += '\n';
    if (l.mark == Mark::Changed)
      for (const auto& c : changed.at(l.b)->changes)
        out += "~     " + c.path + " (" + c.kind + "): " + c.a + " -> " + c.b + "\n";
  }
  out += totals(d) + "\n";
  return out;
}

std::string format_diff_stat(const GraphDiff& d) {
  auto rows = diff_stat(d);
  size_t width = 6;
  for (const auto& r : rows) width = std::max(width, r.target.size());
  std::string out;
  char buf[64];
  for (const auto& r : rows) {
    out += " " + r.target + std::string(width - r.target.size(), ' ');
    std::snprintf(buf, sizeof buf, " | %6zu removed %6zu added %6zu changed\n", r.removed, r.added, r.changed);
    out += buf;
  }
  out += totals(d) + "\n";
  return out;
}

std::string format_diff_json(const GraphDiff& d, const Graph& a, const Graph& b, const std::string& name_a,
                             const std::string& name_b, bool with_stat) {
  std::unordered_map<const Node*, size_t> pos;
  { size_t i = 0; for (const auto& n : a.nodes()) pos.emplace(&n, i++); }
  { size_t i = 0; for (const auto& n : b.nodes()) pos.emplace(&n, i++); }
  auto side = [&](const Node* n) {
    return "\"name\": " + json_quote(n->name) + ", \"index\": " + std::to_string(pos.at(n)) +
           ", \"inputs\": " + names_json(n->inputs());
  };
  std::string out = "{\n \"format\": \"fxopt-diff\",\n \"version\": 1,\n";
  out += " \"a\": " + json_quote(name_a) + ",\n \"b\": " + json_quote(name_b) + ",\n";
  out += std::string(" \"equal\": ") + (d.equal() ? "true" : "false") + ",\n";
  out += " \"summary\": {\"paired\": " + std::to_string(d.paired) + ", \"removed\": " + std::to_string(d.removed.size()) +
         ", \"added\": " + std::to_string(d.added.size()) + ", \"changed\": " + std::to_string(d.changed.size()) + "},\n";
  auto list = [&out](const char* key, size_t count, const auto& item) {
    out += std::string(" \"") + key + "\": [";
    for (size_t i = 0; i < count; ++i) out += (i ? ",\n  " : "\n  ") + item(i);
    out += count ? "\n ]" : "]";
  };
  auto node_entry = [&](const Node* n) {
    return "{" + side(n) + ", \"op\": " + json_quote(to_string(n->op)) + ", \"target\": " + json_quote(n->target) +
           ", \"summary\": " + json_quote(node_summary(*n));
  };
  list("removed", d.removed.size(), [&](size_t i) { return node_entry(d.removed[i]) + "}"; });
  out += ",\n";
  list("added", d.added.size(), [&](size_t i) {
    auto from = d.added[i]->meta("fxopt_from");
    return node_entry(d.added[i]) + ", \"from\": " + (from ? *from : "null") + "}";
  });
  out += ",\n";
  list("changed", d.changed.size(), [&](size_t i) {
    const auto& c = d.changed[i];
    std::string s = "{\"op\": " + json_quote(to_string(c.b->op)) + ", \"target\": " + json_quote(c.b->target) +
                    ", \"a\": {" + side(c.a) + "}, \"b\": {" + side(c.b) + "}, \"changes\": [";
    for (size_t k = 0; k < c.changes.size(); ++k) {
      const auto& f = c.changes[k];
      if (k) s += ", ";
      s += "{\"path\": " + json_quote(f.path) + ", \"kind\": " + json_quote(f.kind) + ", \"a\": " + json_quote(f.a) +
           ", \"b\": " + json_quote(f.b) + "}";
    }
    return s + "]}";
  });
  if (with_stat) {
    auto rows = diff_stat(d);
    out += ",\n";
    list("stat", rows.size(), [&](size_t i) {
      const auto& r = rows[i];
      return "{\"target\": " + json_quote(r.target) + ", \"removed\": " + std::to_string(r.removed) +
             ", \"added\": " + std::to_string(r.added) + ", \"changed\": " + std::to_string(r.changed) + "}";
    });
  }
  out += "\n}\n";
  return out;
}

}  // namespace fxopt
