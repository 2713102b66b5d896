// `fxopt patterns --lint`: per-pattern and set-wide checks of declarative patterns (see core/rewrite/pattern_lint.h).
#include "core/rewrite/pattern_lint.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/pattern/known_ops.h"
#include "core/pattern/match.h"
#include "core/rewrite/normalize.h"
#include "core/rewrite/rewrite.h"

namespace fxopt {

size_t LintReport::errors() const {
  return static_cast<size_t>(std::count_if(findings.begin(), findings.end(), [](const LintFinding& f) { return f.severity == "error"; }));
}
size_t LintReport::warnings() const { return findings.size() - errors(); }

namespace {

// Values an int or SymInt variable is tried with when the pattern does not fix it.
const int64_t kIntSamples[] = {1, 2, 3, 4, 7, 8, 16, 32, 64, 100, 128, 256, 512, 1024, 4096};
// Fewer for the type checks, where several dims are enumerated together.
const int64_t kTypeSamples[] = {2, 3, 128, 256};
constexpr size_t kMaxAssignments = 200000;

using Bindings = std::vector<std::optional<Value>>;

void collect_vars(const ScalarExpr& e, std::set<int>& out) {
  if (e.op == ScalarExpr::Op::Var) out.insert(e.var);
  for (const auto& k : e.kids) collect_vars(k, out);
}

Value int_value(int64_t v, VarType t) {
  Value x = Value::integer(sym::Expr::constant(v));
  x.type = t;
  return x;
}

// Compares two evaluated values; nullopt when they cannot be compared (a symbolic value).
std::optional<bool> compare(const Value& a, const Value& b, const std::string& cmp) {
  if (a.type == VarType::Dtype || b.type == VarType::Dtype) {
    if (a.type != b.type) return std::nullopt;
    if (cmp == "==") return a.d == b.d;
    if (cmp == "!=") return a.d != b.d;
    return std::nullopt;
  }
  double x, y;
  if (a.is_int() && b.is_int()) {
    auto ca = a.i.as_constant(), cb = b.i.as_constant();
    if (!ca || !cb) return std::nullopt;
    x = static_cast<double>(*ca);
    y = static_cast<double>(*cb);
    if (cmp == "==") return *ca == *cb;
    if (cmp == "!=") return *ca != *cb;
  } else {
    auto num = [](const Value& v) -> std::optional<double> {
      if (v.is_int()) {
        auto c = v.i.as_constant();
        return c ? std::optional<double>(static_cast<double>(*c)) : std::nullopt;
      }
      return v.f;
    };
    auto nx = num(a), ny = num(b);
    if (!nx || !ny) return std::nullopt;
    x = *nx;
    y = *ny;
    // Floats compare as float32, as the matcher does.
    if (cmp == "==") return static_cast<float>(x) == static_cast<float>(y);
    if (cmp == "!=") return static_cast<float>(x) != static_cast<float>(y);
  }
  if (cmp == "<") return x < y;
  if (cmp == "<=") return x <= y;
  if (cmp == ">") return x > y;
  if (cmp == ">=") return x >= y;
  return std::nullopt;
}

// Calls f(bindings) for every assignment of `vars` from `dom` (others left as in `base`); stops when f
// returns false or after kMaxAssignments. Returns false when the product was too large to enumerate.
bool enumerate(const std::vector<int>& vars, const std::vector<std::vector<Value>>& dom, Bindings base,
               const std::function<bool(const Bindings&)>& f) {
  double total = 1;
  for (int v : vars) total *= static_cast<double>(dom[v].size());
  if (total > kMaxAssignments) return false;
  std::vector<size_t> idx(vars.size(), 0);
  for (;;) {
    for (size_t k = 0; k < vars.size(); ++k) base[vars[k]] = dom[vars[k]][idx[k]];
    if (!f(base)) return true;
    size_t k = 0;
    for (; k < vars.size(); ++k) {
      if (++idx[k] < dom[vars[k]].size()) break;
      idx[k] = 0;
    }
    if (k == vars.size()) return true;
  }
}

std::optional<bool> eval_condition(const Pattern& p, const Condition& c, const Bindings& b) {
  try {
    auto l = eval_scalar(p, p.exprs[c.lhs], b), r = eval_scalar(p, p.exprs[c.rhs], b);
    if (!l || !r) return std::nullopt;
    return compare(*l, *r, c.cmp);
  } catch (const std::exception&) {
    return false;  // undefined (fp8_max of a non-fp8 dtype, division by zero): the condition fails
  }
}

std::string domain_str(const Pattern& p, int v, const std::vector<Value>& d, bool sampled) {
  std::string s = p.vars[v].name + (d.size() == 1 ? "=" : sampled ? " sampled in {" : " in {");
  for (size_t k = 0; k < d.size(); ++k) s += (k ? ", " : "") + d[k].str();
  return s + (d.size() == 1 ? "" : "}");
}

class PatternLinter {
 public:
  PatternLinter(const Pattern& p, std::vector<LintFinding>& out, const std::vector<std::string>& known_ops)
      : p_(p), out_(out), known_ops_(known_ops) {}

  void run() {
    check_ops();
    check_unbound();
    build_domains();
    check_conditions();
    check_replacement_types();
  }

 private:
  void add(const char* sev, const char* check, std::string where, std::string msg) {
    out_.push_back({sev, check, p_.name, std::move(where), std::move(msg)});
  }

  void check_op(const std::string& target, const std::string& where) {
    OpCheckResult r = check_op_name(target, known_ops_);
    std::string hint = r.suggestion.empty() ? "" : " (did you mean " + r.suggestion + "?)";
    switch (r.kind) {
      case OpCheck::Known: break;
      case OpCheck::BadShape: add("error", "op", where, "op '" + target + "' is not a target name: " + r.detail + hint); break;
      case OpCheck::UnknownOp: add("error", "op", where, "no PyTorch build has op '" + target + "'" + hint); break;
      case OpCheck::UnknownOverload:
        add("error", "op", where, "op '" + target + "' has no such overload: " + r.detail + hint);
        break;
      case OpCheck::UnlistedOp:
        add("warning", "op", where, "op '" + target + "' is not in fxopt's list of known ops" + hint);
        break;
      case OpCheck::UnknownNamespace:
        add("warning", "op", where, "op '" + target + "': unknown namespace (" + r.detail + ")");
        break;
    }
  }

  void check_ops() {
    for (const auto& n : p_.nodes)
      if (!n.is_input) check_op(n.target, "nodes." + n.name);
    for (const auto& r : p_.replacement) check_op(r.target, "replacement." + r.name);
    if (std::none_of(p_.replacement.begin(), p_.replacement.end(), [&](const ReplacementNode& r) { return r.target == p_.fused_op; }))
      check_op(p_.fused_op, "fused_op");
  }

  // A variable is bound by a match when it occurs bare somewhere in the region (an argument, a size, a
  // dtype, a type dim), or in an expression whose other variables are bound (the solver solves linear
  // equations for one unknown), or is fixed by the pattern.
  void check_unbound() {
    std::vector<std::set<int>> exprs;  // the variables of each region expression
    std::set<int> bound;
    std::function<void(const PatternArg&)> arg = [&](const PatternArg& a) {
      if (a.kind == PatternArg::Kind::Expr) {
        std::set<int> vs;
        collect_vars(p_.exprs[a.expr], vs);
        if (p_.exprs[a.expr].op == ScalarExpr::Op::Var) bound.insert(p_.exprs[a.expr].var);
        exprs.push_back(vs);
      }
      for (const auto& i : a.items) arg(i);
    };
    auto type = [&](const TypeSpec& t) {
      if (t.dtype_expr < 0) return;  // a None item of a tuple
      std::vector<int> es = t.dims;
      es.push_back(t.dtype_expr);
      for (int e : es) {
        std::set<int> vs;
        collect_vars(p_.exprs[e], vs);
        if (p_.exprs[e].op == ScalarExpr::Op::Var) bound.insert(p_.exprs[e].var);
        exprs.push_back(vs);
      }
    };
    for (const auto& n : p_.nodes) {
      for (const auto& a : n.args) arg(a);
      for (const auto& [k, a] : n.kwargs) arg(a);
      if (n.type) type(*n.type);
    }
    for (size_t v = 0; v < p_.vars.size(); ++v)
      if (p_.vars[v].value) bound.insert(static_cast<int>(v));
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& vs : exprs) {
        int unbound = -1, count = 0;
        for (int v : vs)
          if (!bound.count(v)) { unbound = v; ++count; }
        if (count == 1) { bound.insert(unbound); changed = true; }
      }
    }
    for (size_t v = 0; v < p_.vars.size(); ++v) {
      if (bound.count(static_cast<int>(v))) continue;
      add("error", "unbound-variable", "vars." + p_.vars[v].name,
          "no node binds variable '" + p_.vars[v].name +
              "': it only occurs in region expressions together with other unbound variables, so a match "
              "cannot determine it");
    }
  }

  // Domains: fixed values, one_of lists, samples for unconstrained ints; a float or dtype variable defined
  // by a condition `V == expr` takes the values of expr.
  void build_domains() {
    dom_.assign(p_.vars.size(), {});
    known_.assign(p_.vars.size(), false);
    sampled_.assign(p_.vars.size(), false);
    definitional_.assign(p_.conditions.size(), false);
    for (size_t v = 0; v < p_.vars.size(); ++v) {
      const VarDecl& d = p_.vars[v];
      if (d.value) dom_[v] = {*d.value};
      else if (!d.one_of.empty()) dom_[v] = d.one_of;
      else if (d.type == VarType::Int || d.type == VarType::Sym) {
        for (int64_t s : kIntSamples) dom_[v].push_back(int_value(s, d.type));
        sampled_[v] = true;
      }
      known_[v] = !dom_[v].empty();
    }
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t c = 0; c < p_.conditions.size(); ++c) {
        const Condition& cond = p_.conditions[c];
        if (definitional_[c] || cond.cmp != "==") continue;
        for (int side = 0; side < 2 && !definitional_[c]; ++side) {
          const ScalarExpr& lhs = p_.exprs[side ? cond.rhs : cond.lhs];
          const ScalarExpr& rhs = p_.exprs[side ? cond.lhs : cond.rhs];
          if (lhs.op != ScalarExpr::Op::Var || known_[lhs.var]) continue;
          std::set<int> vs;
          collect_vars(rhs, vs);
          if (vs.count(lhs.var) || std::any_of(vs.begin(), vs.end(), [&](int v) { return !known_[v]; })) continue;
          std::vector<Value> vals;
          std::vector<int> vars(vs.begin(), vs.end());
          enumerate(vars, dom_, Bindings(p_.vars.size()), [&](const Bindings& b) {
            try {
              auto r = eval_scalar(p_, rhs, b);
              if (r && std::none_of(vals.begin(), vals.end(), [&](const Value& x) { return x.str() == r->str(); }))
                vals.push_back(*r);
            } catch (const std::exception&) {
            }
            return true;
          });
          if (vals.empty()) continue;
          dom_[lhs.var] = vals;
          known_[lhs.var] = true;
          definitional_[c] = true;
          changed = true;
        }
      }
    }
  }

  std::vector<int> vars_of(const Condition& c) const {
    std::set<int> vs;
    collect_vars(p_.exprs[c.lhs], vs);
    collect_vars(p_.exprs[c.rhs], vs);
    return {vs.begin(), vs.end()};
  }

  bool decidable(const std::vector<int>& vars) const {
    return std::all_of(vars.begin(), vars.end(), [&](int v) { return known_[v]; });
  }

  std::string domains_text(const std::vector<int>& vars) const {
    std::string s;
    for (int v : vars) s += (s.empty() ? "" : ", ") + domain_str(p_, v, dom_[v], sampled_[v]);
    return s;
  }

  void check_conditions() {
    std::vector<size_t> decidable_conds;  // those that can hold, for the joint check
    for (size_t c = 0; c < p_.conditions.size(); ++c) {
      const Condition& cond = p_.conditions[c];
      std::vector<int> vars = vars_of(cond);
      if (!decidable(vars)) continue;
      size_t yes = 0, no = 0;
      bool complete = enumerate(vars, dom_, Bindings(p_.vars.size()), [&](const Bindings& b) {
        auto r = eval_condition(p_, cond, b);
        if (r) (*r ? yes : no)++;
        return true;
      });
      if (!complete || yes + no == 0) continue;
      if (yes) decidable_conds.push_back(c);
      std::string where = "conditions[" + std::to_string(c) + "]";
      std::string over = vars.empty() ? "" : " (" + domains_text(vars) + ")";
      if (yes == 0) {
        add("error", "condition", where, "condition `" + cond.text + "` never holds" + over + ": the pattern can never match");
      } else if (no == 0 && !definitional_[c]) {
        bool exhaustive = std::none_of(vars.begin(), vars.end(), [&](int v) { return sampled_[v]; });
        add("warning", "condition", where,
            "condition `" + cond.text + "` always holds" + over +
                (exhaustive ? ": it excludes nothing" : " for every value tried: is it needed?"));
      }
    }
    // The conditions together.
    if (decidable_conds.size() > 1) {
      std::set<int> all;
      for (size_t c : decidable_conds)
        for (int v : vars_of(p_.conditions[c])) all.insert(v);
      std::vector<int> vars(all.begin(), all.end());
      bool any = false;
      bool complete = enumerate(vars, dom_, Bindings(p_.vars.size()), [&](const Bindings& b) {
        any = std::all_of(decidable_conds.begin(), decidable_conds.end(),
                          [&](size_t c) { return eval_condition(p_, p_.conditions[c], b).value_or(false); });
        return !any;
      });
      if (complete && !any)
        add("error", "condition", "conditions", "the conditions never hold together (" + domains_text(vars) + ")");
    }
  }

  // Whether two types agree for every tried assignment of their variables that satisfies the conditions.
  std::optional<std::string> type_mismatch(const TypeSpec& a, const TypeSpec& b) {
    if (a.dtype_expr < 0 || b.dtype_expr < 0)  // None items of tuples
      return a.dtype_expr < 0 && b.dtype_expr < 0 ? std::nullopt : std::optional<std::string>("None vs a tensor");
    if (a.dims.size() != b.dims.size())
      return "rank " + std::to_string(b.dims.size()) + " vs " + std::to_string(a.dims.size());
    std::set<int> vs;
    collect_vars(p_.exprs[a.dtype_expr], vs);
    collect_vars(p_.exprs[b.dtype_expr], vs);
    for (int d : a.dims) collect_vars(p_.exprs[d], vs);
    for (int d : b.dims) collect_vars(p_.exprs[d], vs);
    const std::set<int> type_vars = vs;
    std::vector<size_t> conds;
    for (size_t c = 0; c < p_.conditions.size(); ++c) {
      auto cv = vars_of(p_.conditions[c]);
      if (!decidable(cv)) continue;
      conds.push_back(c);
      vs.insert(cv.begin(), cv.end());
    }
    std::vector<std::vector<Value>> dom = dom_;
    std::vector<int> vars;
    for (int v : vs) {
      if (!known_[v]) continue;  // an undecidable float: compared symbolically below (as unbound)
      if (sampled_[v]) {
        dom[v].clear();
        for (int64_t s : kTypeSamples) dom[v].push_back(int_value(s, p_.vars[v].type));
      }
      vars.push_back(v);
    }
    std::optional<std::string> diff;
    enumerate(vars, dom, Bindings(p_.vars.size()), [&](const Bindings& bind) {
      for (size_t c : conds)
        if (!eval_condition(p_, p_.conditions[c], bind).value_or(false)) return true;
      auto value = [&](int e) -> std::optional<std::string> {
        try {
          auto v = eval_scalar(p_, p_.exprs[e], bind);
          return v ? std::optional<std::string>(v->str()) : std::nullopt;
        } catch (const std::exception&) {
          return std::nullopt;
        }
      };
      auto check = [&](int ea, int eb, const std::string& what) {
        auto x = value(ea), y = value(eb);
        if (x && y && *x != *y) {
          std::string at;
          for (int v : type_vars)
            if (bind[v]) at += (at.empty() ? "" : ", ") + p_.vars[v].name + "=" + bind[v]->str();
          diff = what + ": " + *y + " vs " + *x + " at " + at;
        }
      };
      check(a.dtype_expr, b.dtype_expr, "dtype");
      for (size_t k = 0; k < a.dims.size() && !diff; ++k) check(a.dims[k], b.dims[k], "dim " + std::to_string(k));
      return !diff;
    });
    return diff;
  }

  std::string type_str(const TypeSpec& t) const {
    if (t.dtype_expr < 0) return "None";
    std::string s = p_.expr_str(t.dtype_expr) + " [";
    for (size_t k = 0; k < t.dims.size(); ++k) s += (k ? ", " : "") + p_.expr_str(t.dims[k]);
    return s + "]";
  }

  void check_replacement_types() {
    for (const auto& [po, r] : p_.replace) {
      const PatternNode& out = p_.nodes[p_.outputs[po]];
      const ReplacementNode& rn = p_.replacement[r];
      std::string where = "replacement.outputs." + p_.output_names[po];
      if (rn.tuple) {
        add("error", "replacement-type", where,
            "output '" + p_.output_names[po] + "' is replaced by '" + rn.name + "', which is a tuple");
        continue;
      }
      if (!out.type) {
        add("warning", "replacement-type", where,
            "output '" + p_.output_names[po] + "' (" + out.name + ") declares no type (\"val\"), so its replacement '" +
                rn.name + "' cannot be checked against it");
        continue;
      }
      if (auto d = type_mismatch(*out.type, rn.vals[0]))
        add("error", "replacement-type", where,
            "replacement '" + rn.name + "' has type " + type_str(rn.vals[0]) + " but output '" + p_.output_names[po] +
                "' (" + out.name + ") is " + type_str(*out.type) + ": " + *d);
    }
    // getitem of a tuple-valued replacement node: its type is the tuple's element.
    for (const auto& rn : p_.replacement) {
      if (rn.target != "_operator.getitem" || rn.args.size() != 2 || rn.args[0].kind != PatternArg::Kind::Ref ||
          rn.args[0].ref >= 0 || rn.args[1].kind != PatternArg::Kind::Literal || !rn.args[1].literal.is_int())
        continue;
      const ReplacementNode& src = p_.replacement[-rn.args[0].ref - 1];
      int64_t k = rn.args[1].literal.i;
      if (!src.tuple || k < 0 || static_cast<size_t>(k) >= src.vals.size()) {
        add("error", "replacement-type", "replacement." + rn.name,
            "'" + rn.name + "' takes item " + std::to_string(k) + " of '" + src.name + "', which has " +
                (src.tuple ? std::to_string(src.vals.size()) + " items" : std::string("no items (not a tuple)")));
        continue;
      }
      if (rn.vals.size() == 1 && !rn.tuple)
        if (auto d = type_mismatch(src.vals[k], rn.vals[0]))
          add("error", "replacement-type", "replacement." + rn.name,
              "'" + rn.name + "' has type " + type_str(rn.vals[0]) + " but item " + std::to_string(k) + " of '" +
                  src.name + "' is " + type_str(src.vals[k]) + ": " + *d);
    }
  }

  const Pattern& p_;
  std::vector<LintFinding>& out_;
  const std::vector<std::string>& known_ops_;
  std::vector<std::vector<Value>> dom_;
  std::vector<bool> known_, sampled_, definitional_;
};

// Literal equality as the matcher sees it (2 == 2.0).
bool same_literal(const Arg& x, const Arg& y) {
  auto number = [](const Arg& a) -> std::optional<double> {
    if (a.kind == Arg::Kind::Int) return static_cast<double>(a.i);
    if (a.kind == Arg::Kind::Float) return a.f;
    return std::nullopt;
  };
  if (number(x) && number(y)) return *number(x) == *number(y);
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case Arg::Kind::None: return true;
    case Arg::Kind::Bool: return x.b == y.b;
    case Arg::Kind::List:
      if (x.items.size() != y.items.size()) return false;
      for (size_t k = 0; k < x.items.size(); ++k)
        if (!same_literal(x.items[k], y.items[k])) return false;
      return true;
    default: return x.s == y.s;
  }
}

// ---- Rewrite loops without a graph: does B's region (from its root, through operands) fit A's replacement?

struct Embedder {
  const Pattern& b;
  const Pattern& a;
  std::map<int, int> map;  // b node -> a ref encoding (>= 0 a's input, < 0 replacement node -(k+1))

  static bool same_op(const std::string& pattern_op, const std::string& op) {
    for (const auto& alias : op_aliases(pattern_op))
      if (alias == op) return true;
    return pattern_op == op;
  }

  bool node(int bn, int enc) {
    auto it = map.find(bn);
    if (it != map.end()) return it->second == enc;
    const PatternNode& pn = b.nodes[bn];
    if (pn.is_input) { map[bn] = enc; return true; }
    if (enc >= 0) return false;  // b needs an op where a has an input of its own
    const ReplacementNode& rn = a.replacement[-enc - 1];
    if (!same_op(pn.target, rn.target) || pn.args.size() != rn.args.size()) return false;
    map[bn] = enc;
    auto saved = map;
    if (args(pn, rn, false)) return true;
    map = saved;
    if (is_commutative(pn.target) && pn.args.size() == 2 && args(pn, rn, true)) return true;
    map.erase(bn);
    return false;
  }

  bool args(const PatternNode& pn, const ReplacementNode& rn, bool swap) {
    for (size_t k = 0; k < pn.args.size(); ++k)
      if (!arg(pn.args[swap ? 1 - k : k], rn.args[k], pn.reshape_like && k == 1)) return false;
    return true;
  }

  bool arg(const PatternArg& pb, const PatternArg& pa, bool sizes) {
    using K = PatternArg::Kind;
    switch (pb.kind) {
      case K::Ref: return pa.kind == K::Ref && node(pb.ref, pa.ref);
      case K::Expr: return pa.kind == K::Expr || pa.kind == K::Literal;  // may be equal
      case K::Literal:
        if (pa.kind == K::Expr) return true;
        if (pa.kind != K::Literal) return false;
        if (sizes && pa.literal.is_int() && pa.literal.i == -1) return true;  // -1 is inferred
        return same_literal(pb.literal, pa.literal);
      case K::List:
        if (pa.kind != K::List || pa.items.size() != pb.items.size()) return false;
        for (size_t k = 0; k < pb.items.size(); ++k)
          if (!arg(pb.items[k], pa.items[k], sizes)) return false;
        return true;
    }
    return false;
  }
};

std::optional<std::string> fits_replacement(const Pattern& b, const Pattern& a) {
  for (size_t k = 0; k < a.replacement.size(); ++k) {
    Embedder e{b, a, {}};
    if (e.node(b.root, -static_cast<int>(k) - 1)) return a.replacement[k].name;
  }
  return std::nullopt;
}

// ---- Over graphs: overlapping matches of different patterns, and matches of created nodes.

struct FoundMatch {
  int pattern;
  std::string root;
  std::set<const Node*> region;
};

void lint_graph(const PatternSet& ps, const std::string& name, Graph& g, const Target& target,
                std::vector<LintFinding>& out) {
  const auto& pats = ps.patterns();
  normalize(g, all_normalize_passes());
  g.renumber();
  MatchContext ctx;
  ctx.ranges = g.ranges();
  ctx.target = &target;
  std::vector<std::unique_ptr<Matcher>> matchers;
  for (const auto& p : pats) {
    matchers.push_back(std::make_unique<Matcher>(p, ctx));
    matchers.back()->set_record_reasons(false);
  }
  std::vector<FoundMatch> found;
  for (Node& n : g.nodes()) {
    if (n.op != OpKind::CallFunction) continue;
    const std::vector<int>* list = ps.rooted_at(n.target);
    if (!list) continue;
    for (int pi : *list) {
      if (!target.has_op(pats[pi].fused_op) || !pats[pi].reject.empty()) continue;  // a look-alike never rewrites
      Match m;
      if (matchers[pi]->match(&n, m, nullptr))
        found.push_back({pi, n.name, std::set<const Node*>(m.region.begin(), m.region.end())});
    }
  }
  RewriteOptions ro;
  ro.target = &target;
  ro.dry_run = true;
  ro.near_misses = false;
  RewriteReport dry = rewrite_graph(g, ps, ro);
  auto taken = [&](const FoundMatch& f) {
    return std::any_of(dry.matches.begin(), dry.matches.end(),
                       [&](const MatchRecord& r) { return r.pattern == pats[f.pattern].name && r.root == f.root; });
  };
  std::map<std::pair<int, int>, std::pair<size_t, std::string>> pairs;  // (a, b) -> (count, first message)
  for (size_t i = 0; i < found.size(); ++i) {
    for (size_t j = i + 1; j < found.size(); ++j) {
      const FoundMatch& x = found[i];
      const FoundMatch& y = found[j];
      if (x.pattern == y.pattern) continue;
      size_t shared = 0;
      for (const Node* n : x.region) shared += y.region.count(n);
      if (!shared) continue;
      auto key = std::minmax(x.pattern, y.pattern);
      auto& slot = pairs[{key.first, key.second}];
      if (slot.first++ == 0) {
        const Pattern& px = pats[x.pattern];
        const Pattern& py = pats[y.pattern];
        std::string winner;
        bool tx = taken(x), ty = taken(y);
        const FoundMatch* w = tx ? &x : ty ? &y : nullptr;
        if (!w) {
          winner = "the driver takes neither (a third match overlaps both)";
        } else {
          const Pattern& pw = pats[w->pattern];
          const FoundMatch& l = w == &x ? y : x;
          const Pattern& pl = pats[l.pattern];
          std::string why = w->root != l.root ? "its root comes first in graph order"
                            : pw.benefit != pl.benefit ? "higher benefit"
                                                       : "same benefit and root: by name";
          winner = "the driver takes " + pw.name + " (" + why + ")";
        }
        slot.second = px.name + " (benefit " + std::to_string(px.benefit) + ", at " + x.root + ") and " + py.name +
                      " (benefit " + std::to_string(py.benefit) + ", at " + y.root + ") match overlapping regions (" +
                      std::to_string(shared) + " shared nodes): " + winner;
      }
    }
  }
  for (const auto& [k, v] : pairs)
    out.push_back({"warning", "overlap", pats[k.first].name + ", " + pats[k.second].name, name,
                   v.second + (v.first > 1 ? " (" + std::to_string(v.first) + " overlapping pairs in the graph)" : "")});

  // Rewrite for real and see whether a later match consumes nodes an earlier one created.
  RewriteOptions rw;
  rw.target = &target;
  rw.max_iterations = 4;
  rw.near_misses = false;
  RewriteReport rep = rewrite_graph(g, ps, rw);
  std::map<std::string, std::string> creator;  // created node -> pattern
  std::set<std::pair<std::string, std::string>> reported;
  for (const auto& m : rep.matches) {
    std::set<std::string> inputs;
    for (const auto& [pin, gn] : m.inputs) inputs.insert(gn);
    for (const auto& n : m.nodes) {
      auto it = creator.find(n);
      if (it == creator.end() || inputs.count(n)) continue;
      if (reported.insert({it->second, m.pattern}).second)
        out.push_back({"error", "rewrite-loop", m.pattern, name,
                       m.pattern + " matches node " + n + ", which " + it->second +
                           "'s replacement created: the rewrite undoes or repeats itself"});
      break;
    }
    for (const auto& c : m.created) creator[c] = m.pattern;
  }
  if (rep.hit_cap)
    out.push_back({"error", "rewrite-loop", "", name,
                   "the rewrite did not reach a fixed point in " + std::to_string(rw.max_iterations) + " iterations"});
}

std::vector<std::string> known_extra_ops(const PatternSet& builtin) {
  std::vector<std::string> ops;
  for (const auto& t : all_targets()) ops.insert(ops.end(), t.ops.begin(), t.ops.end());
  for (const auto& p : builtin.patterns()) {
    for (const auto& n : p.nodes)
      if (!n.is_input) ops.push_back(n.target);
    for (const auto& r : p.replacement) ops.push_back(r.target);
  }
  std::sort(ops.begin(), ops.end());
  ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
  return ops;
}

}  // namespace

LintReport lint_pattern_set(const PatternSet& ps, std::vector<std::pair<std::string, Graph>>& graphs,
                            const Target& target) {
  LintReport r;
  std::vector<std::string> known = known_extra_ops(PatternSet::builtin());
  for (const auto& p : ps.patterns()) {
    r.patterns.push_back(p.name + " (" + p.source + ")");
    PatternLinter(p, r.findings, known).run();
  }
  const auto& pats = ps.patterns();
  for (const auto& a : pats) {
    for (const auto& b : pats) {
      if (auto node = fits_replacement(b, a)) {
        bool self = &a == &b;
        r.findings.push_back({self ? "error" : "warning", "rewrite-loop", self ? a.name : a.name + ", " + b.name,
                              "replacement." + *node,
                              self ? a.name + " matches its own replacement (from '" + *node + "'): a rewrite loop"
                                   : b.name + "'s region fits " + a.name + "'s replacement (from '" + *node +
                                         "'): " + b.name + " may rewrite what " + a.name + " produced"});
      }
    }
  }
  for (auto& [name, g] : graphs) {
    r.graphs.push_back(name);
    lint_graph(ps, name, g, target, r.findings);
  }
  return r;
}

LintReport lint_patterns(const LintOptions& o) {
  const Target& target = find_target(o.target);
  PatternSet ps = PatternSet::builtin();
  std::vector<LintFinding> load_findings;
  for (const auto& f : o.pattern_files) {
    try {
      PatternSet one;  // parse the whole file first: a bad file adds nothing
      one.load_file(f);
      for (const auto& p : one.patterns()) {
        try {
          ps.add(p);
        } catch (const InputError& e) {
          load_findings.push_back({"error", "parse", p.name, f, e.what()});
        }
      }
    } catch (const InputError& e) {
      load_findings.push_back({"error", "parse", "", f, e.what()});
    }
  }
  std::vector<std::pair<std::string, Graph>> graphs;
  for (const auto& g : o.graphs) graphs.emplace_back(g, read_graph_file(g));
  LintReport r = lint_pattern_set(ps, graphs, target);
  r.findings.insert(r.findings.begin(), load_findings.begin(), load_findings.end());
  return r;
}

std::string lint_text(const LintReport& r) {
  std::string s;
  for (const auto& f : r.findings) {
    s += f.severity + ": ";
    if (!f.pattern.empty()) s += f.pattern + ": ";
    if (!f.where.empty()) s += f.where + ": ";
    s += f.message + " [" + f.check + "]\n";
  }
  size_t e = r.errors(), w = r.warnings();
  s += std::to_string(r.patterns.size()) + " patterns, " + std::to_string(r.graphs.size()) + " graphs: " +
       std::to_string(e) + (e == 1 ? " error, " : " errors, ") + std::to_string(w) + (w == 1 ? " warning\n" : " warnings\n");
  return s;
}

std::string lint_json(const LintReport& r) {
  nlohmann::ordered_json j;
  j["patterns"] = r.patterns;
  j["graphs"] = r.graphs;
  j["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : r.findings)
    j["findings"].push_back({{"severity", f.severity}, {"check", f.check}, {"pattern", f.pattern},
                             {"where", f.where}, {"message", f.message}});
  j["errors"] = r.errors();
  j["warnings"] = r.warnings();
  return j.dump(2) + "\n";
}

}  // namespace fxopt
