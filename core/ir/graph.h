// The in-memory FX graph: nodes with op/target/args/kwargs/meta, users, lookup by name, and all mutation.
//
// Mirrors torch.fx.Graph one-to-one (spec/fxgraph.md). Nodes live in a std::list owned by the Graph, so a
// Node* stays valid until the node is erased. Users are maintained by the Graph: change a node's inputs
// only through Graph::set_args / set_kwargs / replace_all_uses / replace_input.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ir/symint.h"

namespace fxopt {

struct Node;

// A fast hash of a short text (node names, spellings): 8 bytes at a time, no tail loop over long texts. The name
// index and the reader's caches use it, so a name read once is hashed once.
inline size_t text_hash(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  if (s.size() >= 8) {
    std::memcpy(&w, s.data() + s.size() - 8, 8);  // the last 8 bytes (some hashed already)
  } else {
    for (size_t k = 0; k < n; ++k) w |= static_cast<uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k);
  }
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
  h = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL;  // mixed down to the low bits: the name index masks them
  return static_cast<size_t>(h ^ (h >> 32));
}

// Interned, immutable text (8 bytes to hold): equal texts share one copy that lives as long as the process.
// Thread-safe. For spellings that repeat across a graph (SymInt expressions such as "s68" or "32*s68").
const std::string* intern_text(std::string_view s);

// A string value held as 8 bytes: interned (intern_text), so equal strings share one copy and compare by
// pointer. Reads like the const std::string it holds; assigning a string interns it. For argument texts
// (dtype, device, layout names, string arguments) that a graph repeats on every node.
class InternedStr {
 public:
  InternedStr() = default;
  InternedStr(std::string_view s) : p_(s.empty() ? nullptr : intern_text(s)) {}  // NOLINT: like a string
  InternedStr(const std::string& s) : InternedStr(std::string_view(s)) {}        // NOLINT
  InternedStr(const char* s) : InternedStr(std::string_view(s)) {}               // NOLINT
  const std::string& str() const { return p_ ? *p_ : empty_string(); }
  operator const std::string&() const { return str(); }                         // NOLINT
  operator std::string_view() const { return str(); }                           // NOLINT
  bool empty() const { return !p_; }
  size_t size() const { return str().size(); }
  const char* c_str() const { return str().c_str(); }
  const char* data() const { return str().data(); }

  friend bool operator==(const InternedStr& a, const InternedStr& b) { return a.p_ == b.p_; }
  friend bool operator==(const InternedStr& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const InternedStr& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const InternedStr& a, const char* b) { return a.str() == b; }
  friend std::string operator+(const std::string& a, const InternedStr& b) { return a + b.str(); }
  friend std::string operator+(const InternedStr& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const char* a, const InternedStr& b) { return a + b.str(); }
  friend std::string operator+(const InternedStr& a, const char* b) { return a.str() + b; }
  friend bool operator<(const InternedStr& a, const InternedStr& b) { return a.str() < b.str(); }

 private:
  static const std::string& empty_string() {
    static const std::string kEmpty;
    return kEmpty;
  }
  const std::string* p_ = nullptr;
};

// A size, stride or SymInt value: an integer or a symbolic expression. The spelling that was read is kept
// (interned) so canonical input round-trips byte for byte; nodes fxopt creates get expr.str().
struct SymDim {
  sym::Expr expr;

  SymDim() = default;
  explicit SymDim(int64_t v) : expr(sym::Expr::constant(v)) {}
  explicit SymDim(sym::Expr e) : expr(std::move(e)) { if (!expr.as_constant()) text_ = intern_text(expr.str()); }
  SymDim(sym::Expr e, std::string_view t) : expr(std::move(e)), text_(t.empty() ? nullptr : intern_text(t)) {}
  SymDim(sym::Expr e, const std::string* interned) : expr(std::move(e)), text_(interned) {}
  std::string str() const { return text_ ? *text_ : expr.str(); }
  // The spelling read; empty when the value is a constant written as a JSON integer.
  bool has_text() const { return text_ != nullptr; }
  const std::string& text() const {
    static const std::string kEmpty;
    return text_ ? *text_ : kEmpty;
  }

 private:
  const std::string* text_ = nullptr;
};

// A vector held behind one pointer (8 bytes; nothing allocated while empty), with the std::vector calls the
// code uses. For members that are usually empty, such as the entries of a rare Dict argument.
template <class T>
class OutOfLineVector {
 public:
  using value_type = T;
  using iterator = typename std::vector<T>::iterator;
  using const_iterator = typename std::vector<T>::const_iterator;

  OutOfLineVector() = default;
  OutOfLineVector(std::vector<T> v) { if (!v.empty()) p_ = std::make_unique<std::vector<T>>(std::move(v)); }  // NOLINT
  OutOfLineVector(std::initializer_list<T> il) : OutOfLineVector(std::vector<T>(il)) {}
  OutOfLineVector(const OutOfLineVector& o) : p_(o.p_ ? std::make_unique<std::vector<T>>(*o.p_) : nullptr) {}
  OutOfLineVector& operator=(const OutOfLineVector& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<std::vector<T>>(*o.p_) : nullptr;
    return *this;
  }
  OutOfLineVector(OutOfLineVector&&) noexcept = default;
  OutOfLineVector& operator=(OutOfLineVector&&) noexcept = default;

  size_t size() const { return p_ ? p_->size() : 0; }
  bool empty() const { return !p_ || p_->empty(); }
  const T& operator[](size_t i) const { return (*p_)[i]; }
  T& operator[](size_t i) { return (*p_)[i]; }
  const T& back() const { return p_->back(); }
  T& back() { return p_->back(); }
  const_iterator begin() const { return p_ ? p_->cbegin() : empty_vector().cbegin(); }
  const_iterator end() const { return p_ ? p_->cend() : empty_vector().cend(); }
  iterator begin() { return vec().begin(); }
  iterator end() { return vec().end(); }
  void push_back(T v) { vec().push_back(std::move(v)); }
  template <class... A>
  T& emplace_back(A&&... a) { return vec().emplace_back(std::forward<A>(a)...); }
  void clear() { p_.reset(); }
  void reserve(size_t n) { vec().reserve(n); }
  void resize(size_t n) {
    if (n == 0) clear();
    else vec().resize(n);
  }
  operator std::vector<T>() const { return p_ ? *p_ : std::vector<T>(); }  // NOLINT: a copy, as a plain vector
  friend bool operator==(const OutOfLineVector& a, const OutOfLineVector& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  std::vector<T>& vec() {
    if (!p_) p_ = std::make_unique<std::vector<T>>();
    return *p_;
  }
  static const std::vector<T>& empty_vector() {
    static const std::vector<T> kEmpty;
    return kEmpty;
  }
  std::unique_ptr<std::vector<T>> p_;
};

// A vector whose copies share one buffer until one of them is changed (copy on write); 16 bytes, nothing allocated
// while empty. Reading is const only (a loop over a non-const one does not copy it); a change goes through the
// calls below or mut(), which first makes the buffer this object's own. For tensor shapes and strides: the reader
// gives thousands of nodes equal meta.vals and the passes copy metas, which copied two vectors each time.
template <class T>
class SharedVector {
 public:
  using value_type = T;
  using const_iterator = typename std::vector<T>::const_iterator;

  SharedVector() = default;
  SharedVector(std::vector<T> v) { if (!v.empty()) p_ = std::make_shared<std::vector<T>>(std::move(v)); }  // NOLINT
  SharedVector(std::initializer_list<T> il) : SharedVector(std::vector<T>(il)) {}
  template <class It>
  SharedVector(It first, It last) : SharedVector(std::vector<T>(first, last)) {}

  size_t size() const { return p_ ? p_->size() : 0; }
  bool empty() const { return !p_ || p_->empty(); }
  const T& operator[](size_t i) const { return (*p_)[i]; }
  const T& at(size_t i) const { return vec().at(i); }
  const T& front() const { return p_->front(); }
  const T& back() const { return p_->back(); }
  const T* data() const { return p_ ? p_->data() : nullptr; }
  const_iterator begin() const { return vec().cbegin(); }
  const_iterator end() const { return vec().cend(); }
  const_iterator cbegin() const { return vec().cbegin(); }
  const_iterator cend() const { return vec().cend(); }
  const std::vector<T>& vec() const { return p_ ? *p_ : empty_vector(); }
  operator const std::vector<T>&() const { return vec(); }  // NOLINT: reads as the vector it holds

  // Changes (each makes the buffer this object's own first).
  std::vector<T>& mut() {
    if (!p_) p_ = std::make_shared<std::vector<T>>();
    else if (p_.use_count() > 1) p_ = std::make_shared<std::vector<T>>(*p_);
    return *p_;
  }
  void push_back(T v) { mut().push_back(std::move(v)); }
  template <class... A>
  T& emplace_back(A&&... a) { return mut().emplace_back(std::forward<A>(a)...); }
  void pop_back() { mut().pop_back(); }
  void clear() { p_.reset(); }
  void reserve(size_t n) { mut().reserve(n); }
  void resize(size_t n) {
    if (n == 0) clear();
    else mut().resize(n);
  }
  void set(size_t i, T v) { mut()[i] = std::move(v); }

  friend bool operator==(const SharedVector& a, const SharedVector& b) { return a.p_ == b.p_ || a.vec() == b.vec(); }
  friend bool operator==(const SharedVector& a, const std::vector<T>& b) { return a.vec() == b; }

 private:
  static const std::vector<T>& empty_vector() {
    static const std::vector<T> kEmpty;
    return kEmpty;
  }
  std::shared_ptr<std::vector<T>> p_;
};

// One FX argument value (spec/fxgraph.md, "Values"). A small tagged union (72 bytes): bool, int and float
// inline (i and f share storage: read the one `kind` names), strings interned, list items and dict entries
// out of line; lists and dicts nest.
struct Arg {
  enum class Kind : uint8_t {
    None, Bool, Int, Float, Str, Node, List, Dict, Dtype, Device, Layout, MemoryFormat, Sym, Repr,
    Op  // an operator passed as a value: {"op": "_C.rms_norm.default"} (the first argument of auto_functionalized)
  };
  Kind kind = Kind::None;
  bool b = false;
  union {
    int64_t i = 0;                                // Int
    double f;                                     // Float
  };
  InternedStr s;                                   // Str, Dtype, Device, Layout, MemoryFormat, Repr, Op
  fxopt::Node* node = nullptr;                    // Node
  OutOfLineVector<Arg> items;                     // List
  OutOfLineVector<std::pair<std::string, Arg>> dict;  // Dict
  SymDim sym;                                     // Sym

  static Arg none() { return {}; }
  static Arg boolean(bool v) { Arg a; a.kind = Kind::Bool; a.b = v; return a; }
  static Arg integer(int64_t v) { Arg a; a.kind = Kind::Int; a.i = v; return a; }
  static Arg real(double v) { Arg a; a.kind = Kind::Float; a.f = v; return a; }
  static Arg str(std::string v) { Arg a; a.kind = Kind::Str; a.s = std::move(v); return a; }
  static Arg ref(fxopt::Node* n) { Arg a; a.kind = Kind::Node; a.node = n; return a; }
  static Arg list(std::vector<Arg> v) { Arg a; a.kind = Kind::List; a.items = std::move(v); return a; }
  static Arg dtype(std::string v) { Arg a; a.kind = Kind::Dtype; a.s = std::move(v); return a; }
  static Arg symint(SymDim d) { Arg a; a.kind = Kind::Sym; a.sym = std::move(d); return a; }
  static Arg op(std::string target) { Arg a; a.kind = Kind::Op; a.s = std::move(target); return a; }
  static Arg tagged(Kind k, std::string v) { Arg a; a.kind = k; a.s = std::move(v); return a; }

  bool is_node() const { return kind == Kind::Node; }
  bool is_int() const { return kind == Kind::Int; }
  bool is_float() const { return kind == Kind::Float; }
  bool is_list() const { return kind == Kind::List; }
  // Calls f(Node*) for every node referenced, recursively.
  template <class F>
  void visit_nodes(F&& f) const {
    if (kind == Kind::Node) f(node);
    else if (kind == Kind::List) for (const auto& a : items) a.visit_nodes(f);
    else if (kind == Kind::Dict) for (const auto& kv : dict) kv.second.visit_nodes(f);
  }
};

const char* to_string(Arg::Kind k);

// A heap-held Arg: meta.val constants are rare, and keeping them out of line keeps every node smaller.
class ArgBox {
 public:
  ArgBox() = default;
  ArgBox(const ArgBox& o) : p_(o.p_ ? std::make_unique<Arg>(*o.p_) : nullptr) {}
  ArgBox& operator=(const ArgBox& o) {
    p_ = o.p_ ? std::make_unique<Arg>(*o.p_) : nullptr;
    return *this;
  }
  ArgBox(ArgBox&&) noexcept = default;
  ArgBox& operator=(ArgBox&&) noexcept = default;
  ArgBox& operator=(Arg a) {
    p_ = std::make_unique<Arg>(std::move(a));
    return *this;
  }
  const Arg& get() const {
    static const Arg kNone;
    return p_ ? *p_ : kNone;
  }
  operator const Arg&() const { return get(); }  // NOLINT: reads like the Arg it holds

 private:
  std::unique_ptr<Arg> p_;
};

// A node's users: unique, in the order they were added; read like a std::vector<Node*>. Removing one costs
// the distance to the nearer end, not the whole list, so a hub (a weight every layer reads) losing its users
// one after the other, front first as passes sweep in graph order, stays linear.
class UserList {
 public:
  using value_type = Node*;
  using const_iterator = Node* const*;

  size_t size() const { return v_.size() - head_; }
  bool empty() const { return v_.size() == head_; }
  Node* operator[](size_t i) const { return v_[head_ + i]; }
  Node* front() const { return v_[head_]; }
  Node* back() const { return v_.back(); }
  const_iterator begin() const { return v_.data() + head_; }
  const_iterator end() const { return v_.data() + v_.size(); }
  operator std::vector<Node*>() const { return {begin(), end()}; }  // NOLINT: a copy, as a plain vector

  void push_back(Node* n) { v_.push_back(n); }
  void clear() { v_.clear(); head_ = 0; }
  // Removes `n` if present (searching from both ends); returns whether it was there.
  bool erase(Node* n);

 private:
  std::vector<Node*> v_;  // entries before head_ are dead
  size_t head_ = 0;
};

// meta.val for a tensor.
struct TensorMeta {
  InternedStr dtype;
  SharedVector<SymDim> shape;
  SharedVector<SymDim> stride;
  InternedStr device;
  OutOfLineVector<std::pair<std::string, std::string>> extra;  // unknown keys: raw canonical JSON text
};

// meta.val: what a node produces.
struct ValMeta {
  enum class Kind : uint8_t { Null, Tensor, Sym, Const, Tuple };
  Kind kind = Kind::Null;
  TensorMeta tensor;            // Tensor
  SymDim sym;                   // Sym
  ArgBox constant;              // Const
  OutOfLineVector<ValMeta> items;  // Tuple (a JSON array; Null entries for None)

  bool is_tensor() const { return kind == Kind::Tensor; }
};

// How many call_function nodes call each target (keyed by the interned text, InternedStr::str()).
using CallCounts = std::unordered_map<const std::string*, std::ptrdiff_t>;

enum class OpKind : uint8_t { Placeholder, GetAttr, CallFunction, CallMethod, CallModule, Output };
const char* to_string(OpKind k);
std::optional<OpKind> op_kind_from_string(std::string_view s);

struct Node {
  std::string name;
  OpKind op = OpKind::CallFunction;
  InternedStr target;  // graphs call a few dozen targets thousands of times
  std::vector<Arg> args;
  std::vector<std::pair<std::string, Arg>> kwargs;
  std::optional<ValMeta> val;                                   // meta.val; nullopt when absent
  OutOfLineVector<std::pair<std::string, std::string>> meta_extra;  // other meta keys: raw canonical JSON

  // Maintained by Graph.
  UserList users;  // unique, in the order they were added
  size_t order = 0;          // position in the graph; valid after Graph::renumber()

  const Arg* kwarg(std::string_view key) const;
  // Argument by position, falling back to a keyword; nullptr when absent.
  const Arg* arg_or_kwarg(size_t index, std::string_view key) const;
  // Every node referenced by args and kwargs, in order, duplicates removed.
  std::vector<Node*> inputs() const;
  // The value of a meta key other than val (raw JSON text), or nullptr.
  const std::string* meta(std::string_view key) const;
  void set_meta(std::string key, std::string raw_json);

 private:
  friend class Graph;
  std::list<Node>::iterator self_;
};

struct SymbolInfo {
  std::optional<int64_t> hint, min, max;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  // Document-level data (kept verbatim on round trip).
  std::string producer;  // raw canonical JSON text of "producer"; empty when absent
  std::vector<std::pair<std::string, SymbolInfo>> symbols;
  std::vector<std::pair<std::string, std::string>> extra_top;  // unknown top-level keys: raw JSON text

  // Nodes in graph (topological) order.
  std::list<Node>& nodes() { return nodes_; }
  const std::list<Node>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }

  Node* find(std::string_view name) const;
  // The same with the name's text_hash() already computed.
  Node* find(std::string_view name, size_t hash) const { return by_name_.find(name, hash); }
  // Starts loading the index slot of a name about to be added or looked up (its text_hash()): the reader calls
  // it when a node's name is read, so the slot is in the cache when the node is added.
  void prefetch_name(size_t hash) const { by_name_.prefetch(hash); }
  void reserve(size_t nodes) { by_name_.reserve(nodes); }
  Node* output_node() const;  // the single output node (nullptr if none)
  // The node right after / before `n` in graph order (nullptr at the end / the start). O(1).
  Node* next(const Node* n) const;
  Node* prev(const Node* n) const;

  // Creates a node before `before` (nullptr = at the end) with a fresh unique name derived from `name_hint`
  // (FX style: "mul", "mul_1", ...); registers it as a user of its inputs.
  Node* create_node(OpKind op, std::string target, std::vector<Arg> args,
                    std::vector<std::pair<std::string, Arg>> kwargs, Node* before, std::string_view name_hint);
  // Appends a node with an exact name (used by the reader). Throws InputError on a duplicate name.
  Node* append_named(Node&& node);
  // The same for the one node of `staged`, spliced in without being moved (`staged` is left empty; on a
  // duplicate name it throws and keeps the node).
  Node* append_named(std::list<Node>& staged);
  Node* append_named(std::list<Node>& staged, size_t name_hash);  // the name's text_hash() already computed
  std::string fresh_name(std::string_view hint) const;

  void set_args(Node* n, std::vector<Arg> args);
  void set_kwargs(Node* n, std::vector<std::pair<std::string, Arg>> kwargs);
  // Every use of `old_node` (in any node's args/kwargs) now refers to `replacement`. Returns the count.
  size_t replace_all_uses(Node* old_node, Node* replacement);
  // Within `user` only, references to `old_node` become `replacement`.
  void replace_input(Node* user, Node* old_node, Node* replacement);
  // Removes a node; it must have no users.
  void erase(Node* n);
  // Like erase, but the node's memory moves to `graveyard` instead of being freed: a caller that keys maps by
  // Node* (the rewriter's replaced-by map) must not see a new node reuse an erased node's address.
  void erase_into(Node* n, std::list<Node>& graveyard);
  // Moves `n` right before `before`.
  void move_before(Node* n, Node* before);

  // Sets Node::order to the position of each node.
  void renumber();
  // Empty when every input of every node comes earlier; otherwise a description of the first violation.
  // Renumbers the nodes (Node::order) to check.
  std::string topological_error() const;
  // Symbol ranges for proofs: each symbol's min/max (backed sizes default to min 0 when unspecified).
  sym::RangeMap ranges() const;
  const SymbolInfo* symbol(std::string_view name) const;

  // Recomputes all users lists from args/kwargs (after bulk edits such as reading).
  void rebuild_users();

 private:
  void add_uses(Node* n);
  void remove_uses(Node* n);

  std::list<Node> nodes_;
  // Name -> node: open addressing with linear probing over (hash, node) slots; no allocation per node.
  class NameIndex {
   public:
    Node* find(std::string_view name) const { return find(name, text_hash(name)); }
    Node* find(std::string_view name, size_t hash) const;
    void prefetch(size_t hash) const {
      if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
    }
    void insert(Node* n);  // the name must not be present
    bool insert_unique(Node* n, size_t hash);  // false (nothing inserted) when the name is present
    void erase(const Node* n);
    void reserve(size_t n);

   private:
    struct Slot {
      size_t hash = 0;
      Node* node = nullptr;
    };
    std::vector<Slot> slots_;  // size a power of two (or empty)
    size_t count_ = 0;
  };
  NameIndex by_name_;
  mutable std::unordered_map<std::string, size_t> next_suffix_;  // fresh_name: next suffix to try per base
};

}  // namespace fxopt
