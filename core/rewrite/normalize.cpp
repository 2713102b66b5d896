// Normalisation passes: a table of one-line local rules indexed by root op, the driver that applies them in graph
// order to a fixed point, and dead code elimination.
#include "core/rewrite/normalize.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <atomic>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt {
namespace {

using Kwargs = std::vector<std::pair<std::string, Arg>>;

// ---------------------------------------------------------------------------------------------------------------
// Plans: what a rule wants done. Rules only look at the graph; apply_plan() is the one place that mutates it.

struct Plan {
  enum class Kind { InPlace, UseExisting, NewNode };
  Kind kind = Kind::NewNode;
  std::optional<std::string> target;    // InPlace: new target (optional); NewNode: the new node's target
  std::optional<std::vector<Arg>> args; // InPlace: new args (optional); NewNode: the new node's args
  Kwargs kwargs;                        // NewNode
  Node* existing = nullptr;             // UseExisting: the node that takes over the root's users
  std::string name_hint;                // NewNode
  // Erased in this order once they have no users left. Besides the root, only (transitive) inputs of the root,
  // which come before it in graph order: the driver's sweep relies on that.
  std::vector<Node*> dead;
  std::string description;              // NewNode: the text after the new node's name
};

Plan in_place(std::optional<std::string> target, std::optional<std::vector<Arg>> args, std::vector<Node*> dead,
              std::string description) {
  Plan p;
  p.kind = Plan::Kind::InPlace;
  p.target = std::move(target);
  p.args = std::move(args);
  p.dead = std::move(dead);
  p.description = std::move(description);
  return p;
}

Plan use_existing(Node* existing, std::vector<Node*> dead, std::string description) {
  Plan p;
  p.kind = Plan::Kind::UseExisting;
  p.existing = existing;
  p.dead = std::move(dead);
  p.description = std::move(description);
  return p;
}

Plan new_node(std::string target, std::vector<Arg> args, std::string name_hint, std::vector<Node*> dead,
              std::string description) {
  Plan p;
  p.kind = Plan::Kind::NewNode;
  p.target = std::move(target);
  p.args = std::move(args);
  p.name_hint = std::move(name_hint);
  p.dead = std::move(dead);
  p.description = std::move(description);
  return p;
}

// What rules may read besides the nodes: symbol ranges for shape proofs (computed on first use).
class RuleContext {
 public:
  RuleContext(const Graph& g, bool describe) : describe(describe), g_(g) {}
  // Whether the rules write their changes' descriptions (PassChange::description); nothing reads them in a plain
  // `fxopt rewrite`, and the text was a quarter of normalising.
  const bool describe;
  const sym::RangeMap& ranges() const {
    if (!ranges_) ranges_ = g_.ranges();
    return *ranges_;
  }
  // sym::prove_equal under the graph's ranges, remembered per pair of expressions: the reader shares one
  // expression among equal spellings, so replicated layers ask the same few questions over and over. The
  // cache holds the expressions, so their addresses (the key) cannot be reused by others meanwhile.
  sym::Truth prove_equal(const sym::Expr& a, const sym::Expr& b) const {
    const std::pair<const void*, const void*> key{a.impl().get(), b.impl().get()};
    auto it = proofs_.find(key);
    if (it != proofs_.end()) return it->second.truth;
    const sym::Truth t = sym::prove_equal(a, b, ranges());
    proofs_.emplace(key, Proof{a, b, t});
    return t;
  }

 private:
  struct PairHash {
    size_t operator()(const std::pair<const void*, const void*>& p) const {
      return std::hash<const void*>()(p.first) * 31 + std::hash<const void*>()(p.second);
    }
  };
  struct Proof {
    sym::Expr a, b;
    sym::Truth truth;
  };
  const Graph& g_;
  mutable std::optional<sym::RangeMap> ranges_;
  mutable std::unordered_map<std::pair<const void*, const void*>, Proof, PairHash> proofs_;
};

// ---------------------------------------------------------------------------------------------------------------
// Small queries used by the rules.

bool is_call(const Node* n, std::string_view target) {
  return n && n->op == OpKind::CallFunction && n->target == target;
}

// A call of `target` with exactly `nargs` positional args and no kwargs.
bool is_simple_call(const Node* n, std::string_view target, size_t nargs) {
  return is_call(n, target) && n->args.size() == nargs && n->kwargs.empty();
}

Node* node_arg(const Node* n, size_t i) {
  return n && i < n->args.size() && n->args[i].is_node() ? n->args[i].node : nullptr;
}

// `n` feeds `user` and nothing else (not even the output), so it dies with `user`.
bool only_user(const Node* n, const Node* user) { return n->users.size() == 1 && n->users[0] == user; }

const TensorMeta* tensor_meta(const Node* n) {
  return n && n->val && n->val->is_tensor() ? &n->val->tensor : nullptr;
}

bool is_floating_dtype(std::string_view d) {
  return d == "float32" || d == "float16" || d == "bfloat16" || d == "float64";
}

// Both nodes are tensors of the same dtype according to meta.val (unknown = no).
bool same_dtype(const Node* a, const Node* b) {
  const TensorMeta* ta = tensor_meta(a);
  const TensorMeta* tb = tensor_meta(b);
  return ta && tb && ta->dtype == tb->dtype;
}

bool is_number(const Arg& a) { return a.kind == Arg::Kind::Int || a.kind == Arg::Kind::Float; }

bool is_one(const Arg& a) { return (a.is_int() && a.i == 1) || (a.is_float() && a.f == 1.0); }

// a <= b for two numbers (false for NaN); ints compare exactly.
bool number_le(const Arg& a, const Arg& b) {
  if (a.is_int() && b.is_int()) return a.i <= b.i;
  double x = a.is_int() ? static_cast<double>(a.i) : a.f;
  double y = b.is_int() ? static_cast<double>(b.i) : b.f;
  return x <= y;
}

std::string shape_text(const TensorMeta& t) {
  std::string s = "[";
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? ", " : "") + t.shape[i].str();
  return s + "]";
}

// The parts joined into one string, allocated once (descriptions are made for every change).
template <class... T>
std::string cat(const T&... parts) {
  std::string s;
  s.reserve((std::string_view(parts).size() + ...));
  (s.append(std::string_view(parts)), ...);
  return s;
}

// Appends arg_text(a) without its temporaries; float texts are remembered (a replicated graph repeats its
// constants, and shortest round-trip formatting is the costly part).
void append_arg(std::string& s, const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::None: s += "None"; return;
    case Arg::Kind::Bool: s += a.b ? "True" : "False"; return;
    case Arg::Kind::Int: {
      char buf[24];
      s.append(buf, std::to_chars(buf, buf + sizeof buf, a.i).ptr);
      return;
    }
    case Arg::Kind::Float: {
      struct Entry {
        uint64_t bits = 0;
        std::string text;
      };
      thread_local Entry cache[16];
      uint64_t bits;
      std::memcpy(&bits, &a.f, sizeof bits);
      Entry& e = cache[(bits * 0x9E3779B97F4A7C15ull) >> 60];
      if (e.text.empty() || e.bits != bits) e = {bits, format_python_float(a.f)};
      s += e.text;
      return;
    }
    case Arg::Kind::Node: s += a.node->name; return;
    case Arg::Kind::List:
      s += '[';
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (i) s += ", ";
        append_arg(s, a.items[i]);
      }
      s += ']';
      return;
    case Arg::Kind::Dtype: case Arg::Kind::Device: case Arg::Kind::Layout: case Arg::Kind::MemoryFormat:
    case Arg::Kind::Repr: case Arg::Kind::Op: s += a.s.str(); return;
    default: s += arg_text(a); return;
  }
}

// "target(a, b, c)" with the short op name, for descriptions.
std::string call_text(std::string_view target, const std::vector<Arg>& args) {
  std::string s;
  s.reserve(target.size() + 16 * args.size() + 2);
  s += target;
  s += '(';
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) s += ", ";
    append_arg(s, args[i]);
  }
  s += ')';
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// The rules. Each looks at one root node and returns a plan, or nothing when any condition fails.

bool is_reshape_like(const Node* n) {
  return is_call(n, "aten.reshape.default") || is_call(n, "aten.view.default") ||
         is_call(n, "aten._unsafe_view.default");
}

// view(x, s) -> reshape(x, s). A view that traced fine returns the same alias as reshape would.
std::optional<Plan> retarget_to_reshape(const RuleContext& ctx, Node* v) {
  return in_place("aten.reshape.default", std::nullopt, {},
                  ctx.describe ? cat(v->name, ": ", v->target, " -> aten.reshape.default") : std::string());
}

// reshape(reshape(x, a), b) -> reshape(x, b). Reshape keeps row-major element order, and b resolves any -1 against
// the same element count, so skipping the inner reshape (or view) gives the same values. The whole chain of inner
// reshapes is skipped at once; each skipped one is erased unless something else still uses it.
std::optional<Plan> fold_reshape_chain(const RuleContext& ctx, Node* outer) {
  std::vector<Node*> skipped;
  Node* x = node_arg(outer, 0);
  while (is_reshape_like(x) && node_arg(x, 0)) {
    skipped.push_back(x);
    x = node_arg(x, 0);
  }
  if (skipped.empty()) return std::nullopt;
  std::vector<Arg> args = outer->args;
  args[0] = Arg::ref(x);
  std::string text;
  if (ctx.describe) {
    text = cat(outer->name, " now reads ", x->name, " (skipped ");
    for (size_t i = 0; i < skipped.size(); ++i) {
      if (i) text += ", ";
      text += skipped[i]->name;
    }
    text += ')';
  }
  return in_place(std::nullopt, std::move(args), std::move(skipped), std::move(text));
}

// reshape(x, s) -> x when the output shape equals x's shape as SymInt expressions (meta.val, proved, not assumed).
std::optional<Plan> remove_identity_reshape(const RuleContext& ctx, Node* r) {
  Node* x = node_arg(r, 0);
  const TensorMeta* in = tensor_meta(x);
  const TensorMeta* out = tensor_meta(r);
  if (!in || !out || in->dtype != out->dtype || in->shape.size() != out->shape.size()) return std::nullopt;
  for (size_t i = 0; i < in->shape.size(); ++i) {
    const sym::Expr& a = in->shape[i].expr;
    const sym::Expr& b = out->shape[i].expr;
    if (a != b && ctx.prove_equal(a, b) != sym::Truth::True) return std::nullopt;
  }
  return use_existing(x, {r}, ctx.describe ? cat(r->name, " reshapes ", x->name, " to its own shape ", shape_text(*out),
                                                  "; its users now read ", x->name)
                                            : std::string());
}

// silu(z) is defined for floating tensors only; the root must produce z's dtype (no promotion hidden in the ops).
bool silu_types_ok(const Node* z, const Node* root) {
  const TensorMeta* t = tensor_meta(z);
  return t && is_floating_dtype(t->dtype) && same_dtype(z, root);
}

// z * sigmoid(z) -> silu(z);  sigmoid(z) * z -> silu(z)
std::optional<Plan> silu_from_sigmoid(const RuleContext& ctx, Node* mul) {
  if (mul->args.size() != 2 || !mul->kwargs.empty()) return std::nullopt;
  for (size_t i : {0, 1}) {
    Node* s = node_arg(mul, i);
    Node* z = node_arg(mul, 1 - i);
    if (!z || !is_simple_call(s, "aten.sigmoid.default", 1) || node_arg(s, 0) != z) continue;
    if (!only_user(s, mul) || !silu_types_ok(z, mul)) continue;
    return new_node("aten.silu.default", {Arg::ref(z)}, "silu", {mul, s},
                    ctx.describe ? cat(" = aten.silu.default(", z->name, ") replaces ", mul->name, " = ", z->name,
                                       " * sigmoid(", z->name, ")")
                                 : std::string());
  }
  return std::nullopt;
}

// z / (exp(-z) + 1) -> silu(z);  z / (1 + exp(-z)) -> silu(z)        (1 as int or float)
std::optional<Plan> silu_from_exp(const RuleContext& ctx, Node* div) {
  if (div->args.size() != 2 || !div->kwargs.empty()) return std::nullopt;
  Node* z = node_arg(div, 0);
  Node* add = node_arg(div, 1);
  if (!z || !add || !only_user(add, div)) return std::nullopt;
  Node* e = nullptr;
  if (is_simple_call(add, "aten.add.Tensor", 2)) {
    if (node_arg(add, 0) && is_one(add->args[1])) e = node_arg(add, 0);
    else if (node_arg(add, 1) && is_one(add->args[0])) e = node_arg(add, 1);
  } else if (is_simple_call(add, "aten.add.Scalar", 2) && is_one(add->args[1])) {
    e = node_arg(add, 0);
  }
  if (!is_simple_call(e, "aten.exp.default", 1) || !only_user(e, add)) return std::nullopt;
  Node* n = node_arg(e, 0);
  if (!is_simple_call(n, "aten.neg.default", 1) || !only_user(n, e) || node_arg(n, 0) != z) return std::nullopt;
  if (!silu_types_ok(z, div)) return std::nullopt;
  return new_node("aten.silu.default", {Arg::ref(z)}, "silu", {div, add, e, n},
                  ctx.describe ? cat(" = aten.silu.default(", z->name, ") replaces ", div->name, " = ", z->name,
                                     " / (1 + exp(-", z->name, "))")
                               : std::string());
}

// getitem(max.dim(x, d, k), 0) -> amax(x, [d], k)   when the values are max.dim's only use (indices unused)
std::optional<Plan> amax_from_max_dim(const RuleContext& ctx, Node* get) {
  if (get->args.size() != 2 || !get->kwargs.empty() || !get->args[1].is_int() || get->args[1].i != 0)
    return std::nullopt;
  Node* m = node_arg(get, 0);
  if (!is_call(m, "aten.max.dim") || !only_user(m, get) || m->args.size() > 3) return std::nullopt;
  for (const auto& [k, a] : m->kwargs)
    if (k != "dim" && k != "keepdim") return std::nullopt;
  Node* x = node_arg(m, 0);
  const Arg* dim = m->arg_or_kwarg(1, "dim");
  const Arg* keepdim = m->arg_or_kwarg(2, "keepdim");
  if (!x || !dim || !dim->is_int() || (keepdim && keepdim->kind != Arg::Kind::Bool)) return std::nullopt;
  std::vector<Arg> args = {Arg::ref(x), Arg::list({*dim}), Arg::boolean(keepdim && keepdim->b)};
  std::string text = ctx.describe ? cat(" = ", call_text("aten.amax.default", args), " replaces ", get->name, " = ",
                                        m->name, "[0], ", m->name, " = ", call_text("max.dim", m->args))
                                    : std::string();
  return new_node("aten.amax.default", std::move(args), "amax", {get, m}, std::move(text));
}

// The bounds one clamp op applies: clamp_min(x, lo), clamp_max(x, hi), clamp(x, lo?, hi?); numbers only.
struct ClampBounds {
  Node* x = nullptr;
  const Arg* lo = nullptr;  // nullptr: no lower bound
  const Arg* hi = nullptr;  // nullptr: no upper bound
};

std::optional<ClampBounds> clamp_bounds(const Node* n) {
  if (!n || n->op != OpKind::CallFunction) return std::nullopt;
  auto present = [](const Arg* a) { return a && a->kind != Arg::Kind::None ? a : nullptr; };
  ClampBounds b;
  b.x = node_arg(n, 0);
  if (n->target == "aten.clamp_min.default" && n->args.size() <= 2) {
    b.lo = n->arg_or_kwarg(1, "min");
  } else if (n->target == "aten.clamp_max.default" && n->args.size() <= 2) {
    b.hi = n->arg_or_kwarg(1, "max");
  } else if (n->target == "aten.clamp.default" && n->args.size() <= 3) {
    b.lo = present(n->arg_or_kwarg(1, "min"));
    b.hi = present(n->arg_or_kwarg(2, "max"));
  } else {
    return std::nullopt;
  }
  for (const auto& [k, a] : n->kwargs)
    if (k != "min" && k != "max") return std::nullopt;
  if (!b.x || (b.lo && !is_number(*b.lo)) || (b.hi && !is_number(*b.hi))) return std::nullopt;
  return b;
}

// clamp_max(clamp_min(x, lo), hi) -> clamp(x, lo, hi)   when lo <= hi   (clamp(x, lo, hi) = min(max(x, lo), hi))
// clamp_min(clamp_max(x, hi), lo) -> clamp(x, lo, hi)   when lo <= hi   (then max(min(x, hi), lo) is the same)
// A one-sided aten.clamp counts as clamp_min / clamp_max; a lone one-sided clamp stays as it is.
std::optional<Plan> merge_clamps(const RuleContext& ctx, Node* outer) {
  auto o = clamp_bounds(outer);
  if (!o) return std::nullopt;
  Node* inner = o->x;
  auto i = clamp_bounds(inner);
  if (!i || !only_user(inner, outer)) return std::nullopt;
  const Arg* lo = nullptr;
  const Arg* hi = nullptr;
  if (i->lo && !i->hi && o->hi && !o->lo) {
    lo = i->lo;
    hi = o->hi;
  } else if (i->hi && !i->lo && o->lo && !o->hi) {
    lo = o->lo;
    hi = i->hi;
  } else {
    return std::nullopt;
  }
  if (!number_le(*lo, *hi) || !same_dtype(i->x, inner) || !same_dtype(inner, outer)) return std::nullopt;
  std::vector<Arg> args = {Arg::ref(i->x), *lo, *hi};
  std::string text = ctx.describe ? cat(" = ", call_text("aten.clamp.default", args), " replaces ", outer->name, " = ",
                                        call_text(outer->target, outer->args), ", ", inner->name, " = ",
                                        call_text(inner->target, inner->args))
                                    : std::string();
  return new_node("aten.clamp.default", std::move(args), "clamp", {outer, inner}, std::move(text));
}

// _to_copy(x, dtype=d) -> convert_element_type(x, d)   when only the dtype changes: device and layout absent or
// equal to x's (from meta.val), memory_format absent or preserve_format, pin_memory absent or False.
std::optional<Plan> to_copy_to_convert(const RuleContext& ctx, Node* c) {
  Node* x = node_arg(c, 0);
  if (!x || c->args.size() != 1) return std::nullopt;
  const TensorMeta* xm = tensor_meta(x);
  const Arg* dtype = nullptr;
  for (const auto& [k, a] : c->kwargs) {
    const bool none = a.kind == Arg::Kind::None;
    bool ok = false;
    if (k == "dtype") {
      ok = a.kind == Arg::Kind::Dtype;
      dtype = &a;
    } else if (k == "non_blocking") {
      ok = a.kind == Arg::Kind::Bool;  // no effect on a conversion that stays on the same device
    } else if (k == "pin_memory") {
      ok = none || (a.kind == Arg::Kind::Bool && !a.b);
    } else if (k == "device") {
      ok = none || (a.kind == Arg::Kind::Device && xm && a.s == xm->device);
    } else if (k == "layout") {
      ok = none || (a.kind == Arg::Kind::Layout && a.s == "strided" && xm);  // a meta.val tensor is strided
    } else if (k == "memory_format") {
      ok = none || (a.kind == Arg::Kind::MemoryFormat && a.s == "preserve_format");
    }
    if (!ok) return std::nullopt;
  }
  if (!dtype) return std::nullopt;
  if (const TensorMeta* cm = tensor_meta(c); cm && cm->dtype != dtype->s) return std::nullopt;
  std::vector<Arg> args = {Arg::ref(x), *dtype};
  std::string text = ctx.describe ? cat(" = ", call_text("prims.convert_element_type.default", args), " replaces ",
                                        c->name, " = _to_copy(", x->name, ", dtype=", dtype->s, ")")
                                    : std::string();
  return new_node("prims.convert_element_type.default", std::move(args), "convert_element_type", {c},
                  std::move(text));
}

using RuleFn = std::optional<Plan> (*)(const RuleContext&, Node*);

struct Rule {
  std::string_view pass;
  std::string_view root;  // the root node's target: rules are indexed by it
  RuleFn fn;
};

// The local rules, one line each, grouped by pass; the algebra is next to each function above.
const Rule kRules[] = {
    {"view_to_reshape", "aten.view.default", retarget_to_reshape},              // view(x, s) -> reshape(x, s)
    {"view_to_reshape", "aten._unsafe_view.default", retarget_to_reshape},      // _unsafe_view(x, s) -> reshape(x, s)
    {"fold_reshape_chains", "aten.reshape.default", fold_reshape_chain},        // reshape(reshape(x, a), b) -> reshape(x, b)
    {"remove_identity_reshapes", "aten.reshape.default", remove_identity_reshape},  // reshape(x, shape(x)) -> x
    {"canonicalize_silu", "aten.mul.Tensor", silu_from_sigmoid},                // z*sigmoid(z) -> silu(z)
    {"canonicalize_silu", "aten.div.Tensor", silu_from_exp},                    // z/(1+exp(-z)) -> silu(z)
    {"canonicalize_amax", "_operator.getitem", amax_from_max_dim},              // max.dim(x, d, k)[0] -> amax(x, [d], k)
    {"canonicalize_clamp", "aten.clamp_max.default", merge_clamps},             // clamp_max(clamp_min(x, lo), hi) -> clamp(x, lo, hi)
    {"canonicalize_clamp", "aten.clamp_min.default", merge_clamps},             // clamp_min(clamp_max(x, hi), lo) -> clamp(x, lo, hi)
    {"canonicalize_clamp", "aten.clamp.default", merge_clamps},                 // one-sided clamp(...) as either of the above
    {"canonicalize_to_copy", "aten._to_copy.default", to_copy_to_convert},      // _to_copy(x, dtype=d) -> convert_element_type(x, d)
};

// ---------------------------------------------------------------------------------------------------------------
// Dead code elimination: which call_function targets may be dropped when nothing uses their result.

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

template <size_t N>
bool contains(const std::string_view (&set)[N], std::string_view s) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

// Pure Python operators (no in-place forms such as iadd, no setitem).
constexpr std::string_view kPureOperators[] = {
    "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs", "eq", "ne", "lt",
    "le", "gt", "ge", "and_", "or_", "xor", "not_", "invert", "lshift", "rshift", "matmul", "truth", "index",
    "contains"};

// aten/prims ops that have an effect besides their result: checks, stream bookkeeping, RNG state (dropping a dead
// random op would shift the numbers every later random op draws), writes into an argument.
constexpr std::string_view kEffectfulOps[] = {
    "_assert_async", "_assert_scalar", "_assert_tensor_metadata", "_functional_assert_async",
    "_functional_assert_scalar", "_functional_sym_constrain_range", "_functional_sym_constrain_range_for_size",
    "sym_constrain_range", "sym_constrain_range_for_size", "_print", "record_stream", "copy_to", "resize",
    "inductor_seeds", "rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
    "bernoulli", "normal", "uniform", "exponential", "geometric", "cauchy", "log_normal", "multinomial", "poisson",
    "binomial", "dropout", "native_dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout",
    "_fused_dropout", "rrelu", "rrelu_with_noise", "_standard_gamma", "_sample_dirichlet",
    "_fused_moving_avg_obs_fq_helper", "_cudnn_rnn"};

// Overload names of the out= forms that do not end in "out" (they write into values/indices arguments).
constexpr std::string_view kOutOverloads[] = {
    "values", "values_stable", "dim_max", "dim_min", "names_dim_max", "names_dim_min", "grad_input", "output"};

// A call_function whose removal cannot change anything observable once its result is unused. Conservative: only
// aten/prims ops and Python operators qualify; custom ops (vllm.*, ...), torch.* functions, higher-order ops and
// builtins such as print are always kept, as are in-place (name_) and out= forms and the ops listed above.
bool is_side_effect_free(const Node& n) {
  std::string_view t = n.target;
  if (starts_with(t, "_operator.")) return contains(kPureOperators, t.substr(10));
  if (!starts_with(t, "aten.") && !starts_with(t, "prims.")) return false;
  std::string_view rest = t.substr(t.find('.') + 1);
  auto dot = rest.find('.');
  std::string_view name = rest.substr(0, dot);
  std::string_view overload = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  const bool dunder = starts_with(name, "__") && ends_with(name, "__");
  if (name.empty() || (ends_with(name, "_") && !dunder)) return false;  // add_, copy_, index_put_, ...
  if (overload == "out" || ends_with(overload, "_out") || contains(kOutOverloads, overload)) return false;
  for (const auto& [k, a] : n.kwargs)
    if (k == "out") return false;
  return !contains(kEffectfulOps, name);
}

// ---------------------------------------------------------------------------------------------------------------
// The driver.

enum class PassKind { Rules, Dce };

struct PassInfo {
  std::string_view name;
  PassKind kind;
};

constexpr PassInfo kPasses[] = {
    {"view_to_reshape", PassKind::Rules},          {"fold_reshape_chains", PassKind::Rules},
    {"remove_identity_reshapes", PassKind::Rules}, {"canonicalize_silu", PassKind::Rules},
    {"canonicalize_amax", PassKind::Rules},        {"canonicalize_clamp", PassKind::Rules},
    {"canonicalize_to_copy", PassKind::Rules},     {"dce", PassKind::Dce},
};

// Every rewrite removes a node or a non-canonical spelling, so a fixed point comes fast; this only guards loops.
constexpr int kMaxRounds = 16;
// Rules that rewrite a node in place may apply to it one after another (view -> reshape, then fold); this caps that.
constexpr int kMaxInPlacePerNode = 8;

using Clock = std::chrono::steady_clock;

// A cheap tick counter for the per-pass times (a clock read around every rule attempt would cost more than most
// attempts): the TSC on x86, steady_clock elsewhere. normalize() converts ticks to seconds against steady_clock
// over the whole run.
uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return static_cast<uint64_t>(Clock::now().time_since_epoch().count());
#endif
}

// Runs the selected passes in rounds. A round tries, at each node in graph order, the rules of every selected rule
// pass (in the order the passes were given), then runs dce. The first round sweeps the whole graph; later rounds
// visit only a worklist: the nodes where a rule may now apply because something a rule reads there changed since
// the node was last tried (see mark_changed / mark_users_changed). Every other node would fail again, so the
// changes, and their order, are those of a sweep over the whole graph each round.
class Normalizer {
 public:
  Normalizer(Graph& g, NormalizeReport& report, const std::vector<const PassInfo*>& selected, bool describe)
      : g_(g), report_(report), ctx_(g, describe), ticks_(selected.size(), 0), base_(next_base(g.size())) {
    for (size_t i = 0; i < selected.size(); ++i) {
      const PassInfo& pass = *selected[i];
      counts_.push_back(report_.counts.try_emplace(std::string(pass.name), 0).first);
      if (pass.kind == PassKind::Dce) dce_ = i;
      for (const Rule& r : kRules) {
        if (r.pass != pass.name) continue;
        const std::string* root = intern_text(r.root);
        auto it = std::find_if(by_root_.begin(), by_root_.end(), [root](const auto& e) { return e.first == root; });
        if (it == by_root_.end()) it = by_root_.insert(by_root_.end(), {root, {}});
        root_bits_ |= uint64_t{1} << root_bit(root);
        it->second.push_back({&r, i});
      }
    }
  }

  // One round; returns the number of changes.
  size_t run_round() {
    size_t changes = 0;
    if (!by_root_.empty()) changes += first_round_ ? sweep_rules() : sweep_worklist();
    to_next_ = true;  // what dce changes is looked at in the next round
    if (dce_) {
      const uint64_t start = ticks();
      changes += run_dce(*dce_);
      ticks_[*dce_] += ticks() - start;
    }
    first_round_ = false;
    seeded_ = false;
    seeds_.clear();
    // The next round's worklist must not name the nodes erased this round: their memory goes now.
    next_.erase(std::remove_if(next_.begin(), next_.end(), [](const Node* n) { return n->order == kBuried; }),
                next_.end());
    graveyard_.clear();
    return changes;
  }

  // Ticks per pass: in its rules (matching and rewriting) for rule passes, its sweep for dce.
  uint64_t pass_ticks(size_t pass_index) const { return ticks_[pass_index]; }

 private:
  struct SelectedRule {
    const Rule* rule;
    size_t pass_index;
  };

  // The first round: every node, in graph order. The sweep also numbers the nodes (Node::order, kept valid
  // after: new nodes take the place of the root they replace) and gathers dce's seeds (see run_dce).
  size_t sweep_rules() {
    size_t changes = 0;
    auto& nodes = g_.nodes();
    seeds_.clear();
    seeded_ = true;
    to_next_ = false;
    size_t seq = base_;
    for (auto it = nodes.begin(); it != nodes.end();) {
      Node* n = &*it;
      // A plan erases only the root and its inputs, all at or before `it`; new nodes go right before the root.
      ++it;
      n->order = pos_ = seq++;
      if (dce_ && n->users.empty()) seeds_.push_back(n);
      if (n->op == OpKind::CallFunction) changes += try_rules(n);
    }
    return changes;
  }

  // A later round: the worklist, in graph order. A node marked meanwhile joins this round when it comes after
  // the node being looked at (a sweep would still reach it), the next round otherwise.
  size_t sweep_worklist() {
    size_t changes = 0;
    seeds_.clear();
    seeded_ = true;
    to_next_ = false;
    work_.clear();
    for (Node* n : next_) work_.emplace_back(n->order, n);
    next_.clear();
    std::make_heap(work_.begin(), work_.end(), std::greater<>());
    Node* last = nullptr;
    while (!work_.empty()) {
      std::pop_heap(work_.begin(), work_.end(), std::greater<>());
      Node* n = work_.back().second;
      work_.pop_back();
      if (n == last || n->order == kBuried) continue;
      last = n;
      pos_ = n->order;
      if (n->op == OpKind::CallFunction) changes += try_rules(n);
    }
    return changes;
  }

  // The rules at `n`, as long as one applies in place (capped); returns the number of changes.
  size_t try_rules(Node* n) {
    const std::vector<SelectedRule>* found = rules_for(*n);
    if (!found) return 0;
    size_t changes = 0;
    for (int applied = 0; found && applied < kMaxInPlacePerNode; ++applied) {
      std::optional<Plan> plan;
      const SelectedRule* chosen = nullptr;
      for (const SelectedRule& sr : *found) {
        const uint64_t start = ticks();
        plan = sr.rule->fn(ctx_, n);
        ticks_[sr.pass_index] += ticks() - start;
        if (plan) {
          chosen = &sr;
          break;
        }
      }
      if (!plan) break;
      const bool stays = plan->kind == Plan::Kind::InPlace;
      // A root changed in place is tried again right away (below): the worklist need not take it.
      retrying_ = stays && applied + 1 < kMaxInPlacePerNode ? n : nullptr;
      const uint64_t start = ticks();
      apply_plan(chosen->pass_index, n, std::move(*plan));
      ticks_[chosen->pass_index] += ticks() - start;
      retrying_ = nullptr;
      ++changes;
      if (!stays) break;  // the root is gone; its replacement is looked at in the next round
      found = rules_for(*n);
    }
    return changes;
  }

  // The rules rooted at n's target: targets are interned, so this compares a pointer with each of the few
  // rule roots (no hashing of the target text at every node of every sweep).
  const std::vector<SelectedRule>* rules_for(const Node& n) const {
    const std::string* t = &n.target.str();
    if (!(root_bits_ >> root_bit(t) & 1)) return nullptr;  // most nodes: no rule rooted at their target
    for (const auto& [root, rules] : by_root_)
      if (root == t) return &rules;
    return nullptr;
  }

  // ---- the worklist. What the rules read besides a root's own call: its inputs' calls (target, args, kwargs)
  // and meta.val, and for silu's exp form up to three levels down, always through nodes a rule requires to have
  // a single user (only_user), and whether those nodes have a single user. meta.val never changes here. So a
  // rule that failed at a node can only succeed later if the node's call changed, an input's call changed, a
  // node reached through single-user links up to three levels down changed its call, or such a node came to
  // have a single user. The two functions below mark exactly those nodes after each change (every node they
  // reach, a superset: a marked node that still fails costs one more try, nothing else).

  void mark(Node* n) {
    if (n->order == kBuried || n == retrying_) return;
    if (to_next_ || n->order <= pos_) {
      // Below base_: a node the first round's sweep has not reached yet (it still has an older number).
      if (n->order >= base_ && (next_.empty() || next_.back() != n)) next_.push_back(n);
    } else if (!first_round_) {  // the first round's sweep reaches it anyway
      work_.emplace_back(n->order, n);
      std::push_heap(work_.begin(), work_.end(), std::greater<>());
    }
  }

  // The nodes that read `n` through up to three single-user links.
  void mark_single_user_chain(Node* n) {
    for (int depth = 0; depth < 3 && n->users.size() == 1; ++depth) {
      n = n->users.front();
      mark(n);
    }
  }

  // `n` is new or its call (target, args, kwargs) changed.
  void mark_changed(Node* n) {
    if (n->order == kBuried) return;
    mark(n);
    for (Node* u : n->users) mark(u);
    if (n->users.size() == 1) mark_single_user_chain(n->users.front());
  }

  // `n` gained or lost users: only a single user matters (only_user).
  void mark_users_changed(Node* n) {
    if (n->order != kBuried && n->users.size() == 1) mark_single_user_chain(n);
  }

  bool dce_candidate(const Node& n) const {
    return n.op == OpKind::CallFunction && n.users.empty() && is_side_effect_free(n);
  }

  // Erases `n` (a dce candidate), recording the change.
  void dce_erase(size_t pass, Node* n) {
    auto undo = std::make_shared<NormalizeUndo>();
    undo->kind = NormalizeUndo::Kind::Dce;
    std::string description = ctx_.describe ? cat("erased ", n->name, " = ", n->target, " (no users)") : std::string();
    bury_recorded(*undo, n);
    name_noted(*undo);
    for (const Arg& a : undo->erased.back().args) a.visit_nodes([this](Node* in) { mark_users_changed(in); });
    for (const auto& [k, a] : undo->erased.back().kwargs)
      a.visit_nodes([this](Node* in) { mark_users_changed(in); });
    record(pass, std::move(description), std::move(undo));
  }

  // Erases `n` (no users left) from the graph, its memory kept until the round ends (graveyard_) and marked by its
  // order: dce's seeds and the worklist may name it, and no node created meanwhile can take its address. Its
  // contents move into the undo record's snapshot (nothing is copied: the node is dead); only its address
  // (identity) and order are read afterwards.
  void bury_recorded(NormalizeUndo& u, Node* n) {
    Node* next = g_.next(n);
    note(u, next);
    for (const Arg& a : n->args) note(u, a);
    for (const auto& [k, a] : n->kwargs) note(u, a);
    g_.erase_into(n, graveyard_);
    n->order = kBuried;
    u.erased.push_back(NodeSnapshot{n, std::move(n->name), n->op, n->target, std::move(n->args),
                                    std::move(n->kwargs), std::move(n->val), std::move(n->meta_extra), next});
  }

  // dce. After a rule sweep it works from the sweep's seeds: every node that had no users when the sweep
  // reached it (first round only: later, such a node was dce's already), or may have lost users after (the
  // inputs of what a plan changed or erased, the plan's roots and dead nodes, the nodes it created). Nothing else
  // can have become dead, and the candidates are taken highest position first, an erased node's inputs joining
  // them, which is the order of a backward sweep: the same changes in the same order, without walking the whole
  // graph again. Without a rule sweep: a backward sweep.
  size_t run_dce(size_t pass) {
    size_t changes = 0;
    if (seeded_) {
      seeded_ = false;
      std::vector<std::pair<size_t, Node*>> heap;  // (position, node), largest position first
      for (Node* n : seeds_)  // only the seeds that are candidates now: nearly always none or a few
        if (n->order != kBuried && dce_candidate(*n)) heap.emplace_back(n->order, n);
      seeds_.clear();
      std::make_heap(heap.begin(), heap.end());
      Node* last = nullptr;
      while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        Node* n = heap.back().second;
        heap.pop_back();
        if (n == last || n->order == kBuried || !dce_candidate(*n)) continue;
        last = n;
        auto push = [&heap](Node* in) {
          heap.emplace_back(in->order, in);
          std::push_heap(heap.begin(), heap.end());
        };
        for (const auto& a : n->args) a.visit_nodes(push);
        for (const auto& kv : n->kwargs) kv.second.visit_nodes(push);
        dce_erase(pass, n);
        ++changes;
      }
      return changes;
    }
    auto& nodes = g_.nodes();
    // Backwards, so a node's users are gone before it is looked at: whole dead chains go in one sweep.
    for (auto it = nodes.end(); it != nodes.begin();) {
      auto cur = std::prev(it);
      Node* n = &*cur;
      if (dce_candidate(*n)) {
        dce_erase(pass, n);  // `it` still points past it
        ++changes;
      } else {
        it = cur;
      }
    }
    return changes;
  }

  // The only code that mutates the graph (with run_dce). Each change records how to undo it.
  void apply_plan(size_t pass, Node* root, Plan plan) {
    auto undo = std::make_shared<NormalizeUndo>();
    // dce's seeds: nodes this change may leave without users (the root's inputs, the root, the dead nodes).
    // The root's inputs also lose (or keep) a user: the worklist looks at them once the change is made.
    const size_t first_input = touched_.size();
    auto touch = [this](Node* in) { touched_.push_back(in); };
    for (const Arg& a : root->args) a.visit_nodes(touch);
    for (const auto& [k, a] : root->kwargs) a.visit_nodes(touch);
    if (dce_) {
      seeds_.insert(seeds_.end(), touched_.begin() + static_cast<std::ptrdiff_t>(first_input), touched_.end());
      seeds_.push_back(root);
    }
    std::string description;
    switch (plan.kind) {
      case Plan::Kind::InPlace:
        description = std::move(plan.description);
        undo->kind = NormalizeUndo::Kind::InPlace;
        undo->node = root;
        note(*undo, root);
        undo->set_pre(*root);
        for (const Arg& a : root->args) note(*undo, a);
        for (const auto& [k, a] : root->kwargs) note(*undo, a);
        // The target is not an input, so changing it needs no users bookkeeping.
        if (plan.target) root->target = std::move(*plan.target);
        if (plan.args) g_.set_args(root, std::move(*plan.args));
        undo->set_post(*root);
        for (const Arg& a : root->args) a.visit_nodes(touch);
        changed_.push_back(root);
        break;
      case Plan::Kind::UseExisting:
        description = std::move(plan.description);
        undo->kind = NormalizeUndo::Kind::Remove;
        undo->node = plan.existing;
        note(*undo, plan.existing);
        for (Node* u : root->users) {
          note(*undo, u);
          undo->users.push_back({u, u->args, {}, u->kwargs, {}});
        }
        g_.replace_all_uses(root, plan.existing);
        for (auto& e : undo->users) {
          e.post_args = e.user->args;
          e.post_kwargs = e.user->kwargs;
          changed_.push_back(e.user);
        }
        touched_.push_back(plan.existing);
        break;
      case Plan::Kind::NewNode: {
        // Hinting with the last name made from this hint ("silu_41") lets the graph go straight to "silu_42"
        // instead of probing "silu", "silu_1", ... again: naming stays linear in the number of new nodes.
        std::string& last = last_name_[plan.name_hint];
        Node* n = g_.create_node(OpKind::CallFunction, std::move(*plan.target), std::move(*plan.args),
                                 std::move(plan.kwargs), root, last.empty() ? plan.name_hint : last);
        last = n->name;
        n->order = root->order;  // root's place: root itself is erased below (its users are n's now)
        if (dce_) seeds_.push_back(n);
        n->val = root->val;
        n->meta_extra = root->meta_extra;
        g_.replace_all_uses(root, n);
        undo->kind = NormalizeUndo::Kind::Replace;
        undo->node = n;
        note(*undo, n);
        undo->set_post(*n);
        if (ctx_.describe) description = cat(n->name, plan.description);
        for (const Arg& a : n->args) a.visit_nodes(touch);
        changed_.push_back(n);
        for (Node* u : n->users) changed_.push_back(u);
        break;
      }
    }
    bool first = true;
    undo->erased.reserve(plan.dead.size());
    for (Node* d : plan.dead) {
      if (dce_) seeds_.push_back(d);
      if (!d->users.empty()) continue;
      if (ctx_.describe) {
        description += first ? "; erased " : ", ";
        description += d->name;
      }
      first = false;
      const size_t from = touched_.size();
      bury_recorded(*undo, d);
      for (const Arg& a : undo->erased.back().args) a.visit_nodes(touch);
      for (const auto& [k, a] : undo->erased.back().kwargs) a.visit_nodes(touch);
      if (dce_)
        seeds_.insert(seeds_.end(), touched_.begin() + static_cast<std::ptrdiff_t>(from), touched_.end());
    }
    name_noted(*undo);
    record(pass, std::move(description), std::move(undo));
    // The worklist, from the graph as the change left it.
    for (Node* n : changed_) mark_changed(n);
    for (Node* n : touched_) mark_users_changed(n);
    changed_.clear();
    touched_.clear();
  }

  void record(size_t pass, std::string description, std::shared_ptr<const NormalizeUndo> undo) {
    report_.changes.push_back({counts_[pass]->first, std::move(description), std::move(undo)});
    ++counts_[pass]->second;
  }

  // Undo records name every node they reference (identities may be gone when the undo runs), each once; the
  // nodes a record erases are named by their snapshots. note() gathers the nodes, name_noted() copies the names
  // of those still in the graph once the change is made.
  void note(NormalizeUndo&, Node* n) {
    if (n && std::find(noted_.begin(), noted_.end(), n) == noted_.end()) noted_.push_back(n);
  }
  void name_noted(NormalizeUndo& u) {
    u.names.reserve(noted_.size());
    for (Node* n : noted_)
      if (n->order != kBuried) u.names.emplace_back(n, n->name);
    noted_.clear();
  }
  void note(NormalizeUndo& u, const Arg& a) {
    if (a.is_node()) note(u, a.node);
    else if (a.kind == Arg::Kind::List) for (const Arg& i : a.items) note(u, i);
    else if (a.kind == Arg::Kind::Dict) for (const auto& [k, v] : a.dict) note(u, v);
  }

  Graph& g_;
  NormalizeReport& report_;
  RuleContext ctx_;
  std::vector<uint64_t> ticks_;                                                // per selected pass
  std::vector<std::map<std::string, size_t>::iterator> counts_;                // per selected pass: its report_.counts entry
  std::optional<size_t> dce_;                                                  // index of dce when selected
  std::vector<std::pair<const std::string*, std::vector<SelectedRule>>> by_root_;  // interned root -> rules, pass order
  // One bit per rule root (root_bit of its interned text): a target whose bit is clear roots no rule.
  uint64_t root_bits_ = 0;
  static unsigned root_bit(const std::string* t) {
    return static_cast<unsigned>((reinterpret_cast<uintptr_t>(t) * 0x9E3779B97F4A7C15ull) >> 58);
  }
  // dce's worklist from the last rule sweep (run_dce), and the nodes erased this round (freed when it ends).
  static constexpr size_t kBuried = SIZE_MAX;
  bool seeded_ = false;
  std::vector<Node*> seeds_;
  std::list<Node> graveyard_;
  // The rules' worklist: this round's (position, node) min-heap, the next round's nodes, and the position of the
  // node being looked at. to_next_: every mark goes to the next round (dce). In the first round, marks of nodes
  // its sweep has yet to reach are dropped.
  bool first_round_ = true;
  bool to_next_ = true;
  size_t pos_ = 0;
  // The first round numbers the nodes from base_ up, so that a node it has not reached yet (numbered by an
  // earlier walk: Graph::renumber() or the reader below 2^26, an earlier run in another range) is told apart from
  // one it has. Runs take turns over 63 ranges of 2^26 numbers, all below 2^32 (the rewriter's numbering passes
  // start at 2^32, rewrite.cpp). A stale number that looks reached only costs a node one more try; one that
  // looks not reached is above pos_, and the sweep does reach such a node.
  const size_t base_;
  static size_t next_base(size_t nodes) {
    static std::atomic<size_t> runs{0};
    constexpr size_t kRange = size_t{1} << 26;
    if (nodes >= kRange) return 1;  // too big to take turns: stale numbers may look reached (one more try each)
    return (1 + runs.fetch_add(1, std::memory_order_relaxed) % 63) * kRange;
  }
  std::vector<std::pair<size_t, Node*>> work_;
  std::vector<Node*> next_;
  std::vector<Node*> changed_, touched_;                                       // apply_plan's, for the marks
  std::vector<Node*> noted_;                                                   // note()'s, for the undo record
  Node* retrying_ = nullptr;  // the root of an in-place change that try_rules tries again next (not marked)
  std::unordered_map<std::string, std::string> last_name_;                     // name hint -> last name made from it
};

}  // namespace

const std::vector<CreatedOp>& normalize_created_ops() {
  static const std::vector<CreatedOp> kCreated = {
      {"aten.silu.default", {"aten.sigmoid.default", "aten.exp.default"}},           // canonicalize_silu
      {"aten.amax.default", {"aten.max.dim"}},                                       // canonicalize_amax
      {"aten.clamp.default", {"aten.clamp_min.default", "aten.clamp_max.default"}},  // canonicalize_clamp
      {"prims.convert_element_type.default", {"aten._to_copy.default"}},             // canonicalize_to_copy
  };
  return kCreated;
}

std::vector<std::string> all_normalize_passes() {
  std::vector<std::string> names;
  for (const PassInfo& p : kPasses) names.emplace_back(p.name);
  return names;
}

NormalizeReport normalize(Graph& g, const std::vector<std::string>& passes, bool describe) {
  std::vector<const PassInfo*> selected;
  for (const std::string& name : passes) {
    auto it = std::find_if(std::begin(kPasses), std::end(kPasses), [&](const PassInfo& p) { return p.name == name; });
    if (it == std::end(kPasses)) {
      std::string valid;
      for (const PassInfo& p : kPasses) valid += (valid.empty() ? "" : ", ") + std::string(p.name);
      throw InputError("unknown normalisation pass '" + name + "' (valid passes: " + valid + ")");
    }
    if (std::find(selected.begin(), selected.end(), &*it) == selected.end()) selected.push_back(&*it);
  }

  NormalizeReport report;
  for (const PassInfo* p : selected) report.counts[std::string(p->name)] = 0;
  const auto start = Clock::now();
  const uint64_t start_ticks = ticks();
  Normalizer normalizer(g, report, selected, describe);
  for (int round = 0; round < kMaxRounds; ++round)
    if (normalizer.run_round() == 0) break;
  const uint64_t total_ticks = ticks() - start_ticks;
  const double per_tick =
      total_ticks ? std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(total_ticks) : 0;
  for (size_t i = 0; i < selected.size(); ++i)
    report.seconds[std::string(selected[i]->name)] = static_cast<double>(normalizer.pass_ticks(i)) * per_tick;
  return report;
}

}  // namespace fxopt
