// The matcher: structure, region closure, equation solving over SymInt/float/dtype variables, conditions.
#include "core/pattern/match.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

// Failure reasons are only formatted when the matcher records them (the driver's first attempt does not).
#define FAIL(p, n, ...) fail_lazy((p), (n), [&]() -> std::string { return __VA_ARGS__; })

namespace fxopt {

std::string Match::bindings_str() const {
  std::string s;
  for (size_t v = 0; v < bindings.size(); ++v) {
    if (!bindings[v]) continue;
    s += (s.empty() ? "" : ", ") + pattern->vars[v].name + "=" + bindings[v]->str();
  }
  return s;
}

namespace {

// Literal equality: the same kind and value; ints and floats compare by numeric value (2 == 2.0).
bool literal_equal(const Arg& p, const Arg& a) {
  if (p.kind == Arg::Kind::Int && a.kind == Arg::Kind::Float) return static_cast<double>(p.i) == a.f;
  if (p.kind == Arg::Kind::Float && a.kind == Arg::Kind::Int) return p.f == static_cast<double>(a.i);
  if (p.kind != a.kind) return false;
  switch (p.kind) {
    case Arg::Kind::None: return true;
    case Arg::Kind::Bool: return p.b == a.b;
    case Arg::Kind::Int: return p.i == a.i;
    case Arg::Kind::Float: return p.f == a.f || (std::isnan(p.f) && std::isnan(a.f));
    case Arg::Kind::Sym: return p.sym.expr == a.sym.expr;
    default: return p.s == a.s;
  }
}

// Float comparison in conditions: the kernels compute in float32, so a float holds as float32.
bool float32_equal(double a, double b) {
  float fa = static_cast<float>(a), fb = static_cast<float>(b);
  return fa == fb || (std::isnan(fa) && std::isnan(fb));
}

void collect_vars(const ScalarExpr& e, std::vector<int>& out) {
  if (e.op == ScalarExpr::Op::Var && std::find(out.begin(), out.end(), e.var) == out.end()) out.push_back(e.var);
  for (const auto& k : e.kids) collect_vars(k, out);
}

using EvalFailure = EvalUndefined;

double as_double(const Value& v) {
  if (v.type == VarType::Float) return v.f;
  auto c = v.i.as_constant();
  if (!c) throw EvalFailure("the symbolic value " + v.i.str() + " is used as a number");
  return static_cast<double>(*c);
}

// The first reference (depth first) to an already matched pattern node: its graph node and pattern index.
bool find_matched_ref(const PatternArg& a, const std::vector<Node*>& map, Node*& anchor, int& anchor_p) {
  if (a.kind == PatternArg::Kind::Ref && map[a.ref]) {
    anchor = map[a.ref];
    anchor_p = a.ref;
    return true;
  }
  for (const auto& i : a.items)
    if (find_matched_ref(i, map, anchor, anchor_p)) return true;
  return false;
}

// The interned spelling of a target (InternedStr holds the interned copy: equal texts, equal pointers).
const std::string* interned(const InternedStr& s) { return s.empty() ? nullptr : &s.str(); }

// is_reshape_like for a graph node's target: a pointer comparison with the interned spellings.
bool reshape_target(const InternedStr& t) {
  static const std::vector<const std::string*> kReshape = [] {
    std::vector<const std::string*> v;
    for (const auto& a : op_aliases("aten.reshape.default")) v.push_back(intern_text(a));
    return v;
  }();
  const std::string* p = interned(t);
  return p && std::find(kReshape.begin(), kReshape.end(), p) != kReshape.end();
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

}  // namespace

Matcher::Matcher(const Pattern& p, const MatchContext& ctx) : p_(p), ctx_(ctx) {
  map_.assign(p_.nodes.size(), nullptr);
  bind_.resize(p_.vars.size());
  op_nodes_ = p_.op_node_count();
  info_.resize(p_.nodes.size());
  for (size_t k = 0; k < p_.nodes.size(); ++k) {
    const PatternNode& pn = p_.nodes[k];
    if (pn.is_input || pn.target.empty()) continue;
    info_[k].target = intern_text(pn.target);
    for (const auto& a : op_aliases(pn.target)) info_[k].aliases.push_back(intern_text(a));
    info_[k].commutative = is_commutative(pn.target);
  }
  one_of_dtypes_.resize(p_.vars.size());
  for (size_t v = 0; v < p_.vars.size(); ++v)
    for (const auto& o : p_.vars[v].one_of)
      one_of_dtypes_[v].push_back(o.d.empty() ? nullptr : intern_text(o.d));  // as match_arg compares v.d
  // The root's values, each with the check match_arg makes first (see value_fails).
  const PatternNode& R = p_.nodes[p_.root];
  if (!R.is_input && !R.reshape_like) {  // (match_node checks a reshape's values its own way)
    for (size_t i = 0; i < R.args.size(); ++i) {
      const PatternArg& pa = R.args[i];
      RootValue rv{static_cast<int>(i), RootValue::Check::Literal, &pa, nullptr, false};
      if (pa.kind == PatternArg::Kind::Expr) {
        const ScalarExpr& e = p_.exprs[pa.expr];
        bool var = e.op == ScalarExpr::Op::Var;
        if (e.type == VarType::Dtype) {
          rv.check = var && !p_.vars[e.var].one_of.empty() ? RootValue::Check::DtypeOneOf : RootValue::Check::Dtype;
          if (rv.check == RootValue::Check::DtypeOneOf) rv.allowed = &one_of_dtypes_[e.var];
        } else if (e.type == VarType::Float) {
          rv.check = RootValue::Check::Float;
        } else {
          rv.check = RootValue::Check::Int;
          rv.boolean = var && p_.vars[e.var].boolean;
        }
      } else if (pa.kind != PatternArg::Kind::Literal) {
        continue;  // an operand
      }
      root_values_.push_back(rv);
    }
    root_args_ = R.args.size();
    root_kwargs_ = R.kwargs.size();
    root_swappable_ = R.args.size() == 2 && info_[p_.root].commutative && R.args[0].kind == PatternArg::Kind::Ref &&
                      R.args[1].kind == PatternArg::Kind::Ref;
  }
}

// The checks match_arg makes on a value (not an operand) before it records anything, without recording.
bool Matcher::RootValue::fails(const Arg& a) const {
  switch (check) {
    case Check::Literal: return !literal_equal(pa->literal, a);
    case Check::Dtype: return a.kind != Arg::Kind::Dtype;
    case Check::DtypeOneOf: {
      if (a.kind != Arg::Kind::Dtype) return true;
      const std::string* d = interned(a.s);
      for (const std::string* ok : *allowed)  // (a plain loop: std::find unrolls for long ranges)
        if (ok == d) return false;
      return true;
    }
    case Check::Float: return a.kind != Arg::Kind::Float && a.kind != Arg::Kind::Int;
    case Check::Int:
      if (a.kind == Arg::Kind::Int || a.kind == Arg::Kind::Sym) return false;
      if (a.kind == Arg::Kind::Bool && boolean) return false;
      return !(a.kind == Arg::Kind::Node && a.node->val && a.node->val->kind == ValMeta::Kind::Sym);
  }
  return false;
}

// True only when every check match_node makes at the root (map_ empty) before its values pass holds and a value
// fails, so that the failure is exactly the one match_node records there (the root assigned, progress 1,
// structural, no flags). The values are looked at first: most attempts fail there, and a conjunction has no order.
bool Matcher::root_value_fails(const Node* n) const {
  if (root_values_.empty() || n->args.size() != root_args_) return false;
  bool fails = false;
  for (const RootValue& rv : root_values_)
    if (rv.fails(n->args[rv.arg])) {
      fails = true;
      break;
    }
  if (!fails || n->op != OpKind::CallFunction || n->kwargs.size() != root_kwargs_) return false;
  const NodeInfo& info = info_[p_.root];
  const std::string* nt = interned(n->target);
  if (nt != info.target) {
    bool alias = false;
    for (const std::string* a : info.aliases) alias = alias || a == nt;
    if (!alias) return false;
  }
  if (root_swappable_ && n->args[0].is_node() && n->args[1].is_node()) return false;
  return !consumed(n);
}

bool Matcher::consumed_ahead(const Node* n) const {
  return ctx_.consumed_ahead &&
         std::find(ctx_.consumed_ahead->begin(), ctx_.consumed_ahead->end(), n) != ctx_.consumed_ahead->end();
}

std::string Matcher::where(int p, const Node* n) const {
  return n ? p_.nodes[p].name + " (" + n->name + ")" : p_.nodes[p].name;
}

// Whether a pattern argument refers to a node (a list of sizes or dims without references is a value).
static bool has_ref(const PatternArg& a) {
  if (a.kind == PatternArg::Kind::Ref) return true;
  if (a.kind == PatternArg::Kind::List)
    for (const auto& it : a.items)
      if (has_ref(it)) return true;
  return false;
}

bool Matcher::fail_at(std::string where, std::string reason, bool structural) {
  recorded_ = false;
  size_t progress = trail_.size();
  if (!have_fail_ || progress >= fail_.progress || !structural) {
    fail_.where = std::move(where);
    fail_.reason = std::move(reason);
    fail_.progress = progress;
    fail_.structural = structural;
    fail_.spelling = fail_.wrong_op = fail_.literal = fail_.layout = false;
    have_fail_ = true;
    recorded_ = true;
  }
  return false;
}

bool Matcher::fail(int p, const Node* n, std::string reason) { return fail_at(where(p, n), std::move(reason), true); }

template <class F>
bool Matcher::fail_lazy(int p, const Node* n, F&& reason) {
  recorded_ = false;
  if (record_reasons_) return fail_at(where(p, n), reason(), true);
  size_t progress = trail_.size();
  if (!have_fail_ || progress >= fail_.progress) {
    fail_.progress = progress;
    fail_.structural = true;
    fail_.spelling = fail_.wrong_op = fail_.literal = fail_.layout = false;
    have_fail_ = true;
    recorded_ = true;
  }
  return false;
}

void Matcher::assign(int p, Node* n) {
  map_[p] = n;
  trail_.push_back(p);
}

void Matcher::undo_to(size_t trail_size, size_t eq_size, size_t absorbed_size) {
  while (trail_.size() > trail_size) {
    map_[trail_.back()] = nullptr;
    trail_.pop_back();
  }
  eqs_.resize(eq_size);
  absorbed_.resize(absorbed_size);
}

std::string Matcher::label(const Equation& e) const {
  std::string s = e.what;
  if (e.key) s += "." + *e.key;
  if (e.idx >= 0) s += "[" + std::to_string(e.idx) + "]";
  if (e.idx2 >= 0) s += "[" + std::to_string(e.idx2) + "]";
  return s;
}

void Matcher::add_int(int p, const Node* n, const char* what, int idx, int idx2, const std::string* key, int expr,
                      sym::Expr v) {
  Equation e{p, n, what, idx, idx2, key, expr, VarType::Int, std::move(v), 0.0, {}};
  eqs_.push_back(std::move(e));
}

bool Matcher::match_type(int p, const Node* n, const TypeSpec& t, const ValMeta* val) {
  const char* dt_what = p_.nodes[p].is_input ? "dtype" : "val.dtype";
  const char* sh_what = p_.nodes[p].is_input ? "shape" : "val.shape";
  if (!val || !val->is_tensor()) return FAIL(p, n, "meta.val is not a tensor (needed for " + std::string(sh_what) + ")");
  const TensorMeta& tm = val->tensor;
  const ScalarExpr& de = p_.exprs[t.dtype_expr];
  if (de.op == ScalarExpr::Op::Dtype) {
    if (de.text != tm.dtype) return FAIL(p, n, std::string(dt_what) + ": " + tm.dtype + " ≠ " + de.text);
  } else {
    eqs_.push_back(Equation{p, n, dt_what, -1, -1, nullptr, t.dtype_expr, VarType::Dtype, {}, 0.0, tm.dtype});
  }
  if (tm.shape.size() != t.dims.size()) {
    std::string want;
    for (int d : t.dims) want += (want.empty() ? "" : ", ") + p_.expr_str(d);
    FAIL(p, n, std::string(sh_what) + ": rank " + std::to_string(tm.shape.size()) + " ≠ rank " +
                   std::to_string(t.dims.size()) + " of [" + want + "]");
    if (recorded_ && p_.nodes[p].is_input) fail_.layout = true;
    return false;
  }
  for (size_t i = 0; i < t.dims.size(); ++i)
    add_int(p, n, sh_what, static_cast<int>(i), -1, nullptr, t.dims[i], tm.shape[i].expr);
  return true;
}

bool Matcher::match_arg(int p, const Node* n, const PatternArg& pa, const Arg& a, const char* what, int idx,
                        int idx2, const std::string* key) {
  auto lab = [&] {
    Equation e{p, n, what, idx, idx2, key, -1, VarType::Int, {}, 0.0, {}};
    return label(e);
  };
  switch (pa.kind) {
    case PatternArg::Kind::Ref:
      if (!a.is_node()) return FAIL(p, n, lab() + ": expected a node, got " + arg_to_json(a));
      return match_node(pa.ref, a.node);
    case PatternArg::Kind::Literal:
      if (!literal_equal(pa.literal, a)) return FAIL(p, n, lab() + ": " + arg_to_json(a) + " ≠ " + arg_to_json(pa.literal));
      return true;
    case PatternArg::Kind::List: {
      if (!a.is_list()) return FAIL(p, n, lab() + ": expected a list, got " + arg_to_json(a));
      if (a.items.size() != pa.items.size())
        return FAIL(p, n, lab() + ": " + arg_to_json(a) + " has " + std::to_string(a.items.size()) + " items, expected " +
                              std::to_string(pa.items.size()));
      for (size_t k = 0; k < pa.items.size(); ++k)
        if (!match_arg(p, n, pa.items[k], a.items[k], what, idx, static_cast<int>(k), key)) return false;
      return true;
    }
    case PatternArg::Kind::Expr: {
      const ScalarExpr& e = p_.exprs[pa.expr];
      if (e.type == VarType::Dtype) {
        if (a.kind != Arg::Kind::Dtype) return FAIL(p, n, lab() + ": expected a dtype, got " + arg_to_json(a));
        if (e.op == ScalarExpr::Op::Var && !p_.vars[e.var].one_of.empty()) {  // cheap early reject
          const auto& allowed = p_.vars[e.var].one_of;
          if (std::none_of(allowed.begin(), allowed.end(), [&](const Value& v) { return v.d == a.s; }))
            return FAIL(p, n, lab() + ": " + a.s + " is not an allowed " + p_.vars[e.var].name);
        }
        eqs_.push_back(Equation{p, n, what, idx, idx2, key, pa.expr, VarType::Dtype, {}, 0.0, a.s});
        return true;
      }
      if (e.type == VarType::Float) {
        if (a.kind == Arg::Kind::Float || a.kind == Arg::Kind::Int) {
          double v = a.kind == Arg::Kind::Float ? a.f : static_cast<double>(a.i);
          eqs_.push_back(Equation{p, n, what, idx, idx2, key, pa.expr, VarType::Float, {}, v, {}});
          return true;
        }
        return FAIL(p, n, lab() + ": expected a number, got " + arg_to_json(a));
      }
      if (a.kind == Arg::Kind::Int) {
        add_int(p, n, what, idx, idx2, key, pa.expr, sym::Expr::constant(a.i));
        return true;
      }
      if (a.kind == Arg::Kind::Bool && e.op == ScalarExpr::Op::Var && p_.vars[e.var].boolean) {
        add_int(p, n, what, idx, idx2, key, pa.expr, sym::Expr::constant(a.b ? 1 : 0));
        return true;
      }
      if (a.kind == Arg::Kind::Sym) {
        add_int(p, n, what, idx, idx2, key, pa.expr, a.sym.expr);
        return true;
      }
      if (a.kind == Arg::Kind::Node && a.node->val && a.node->val->kind == ValMeta::Kind::Sym) {
        add_int(p, n, what, idx, idx2, key, pa.expr, a.node->val->sym.expr);
        return true;
      }
      return FAIL(p, n, lab() + ": expected an int or SymInt, got " + arg_to_json(a));
    }
  }
  return false;
}

bool Matcher::match_node(int p, Node* n) {
  const PatternNode& P = p_.nodes[p];
  if (map_[p]) {
    if (map_[p] == n) return true;
    return FAIL(p, n, "expected the same node as before (" + map_[p]->name + "), got " + n->name);
  }
  if (P.is_input) {
    assign(p, n);
    return P.type ? match_type(p, n, *P.type, n->val ? &*n->val : nullptr) : true;
  }
  if (n->op != OpKind::CallFunction) {
    FAIL(p, n, "expected " + P.target + ", got " + std::string(to_string(n->op)) + " " + n->target);
    if (recorded_) fail_.wrong_op = true;
    return false;
  }
  const NodeInfo& info = info_[p];
  const std::string* nt = interned(n->target);
  if (nt != info.target) {
    if (std::find(info.aliases.begin(), info.aliases.end(), nt) == info.aliases.end()) {
      const char* pass = normalizing_pass_for(P.target, n->target);
      if (!pass) {
        FAIL(p, n, "expected " + P.target + ", got " + n->target);
        if (recorded_) fail_.wrong_op = true;
        return false;
      }
      FAIL(p, n, "expected " + P.target + ", got " + n->target + " (not in normal form: normalisation pass " + pass +
                     " rewrites this spelling; is --no-normalize or --passes in effect?)");
      if (recorded_) fail_.spelling = fail_.wrong_op = true;
      return false;
    }
  }
  if (consumed(n)) return FAIL(p, n, "already part of another match");
  assign(p, n);
  if (P.reshape_like) return match_reshape(p, n);
  if (n->args.size() != P.args.size())
    return FAIL(p, n, std::to_string(n->args.size()) + " args, expected " + std::to_string(P.args.size()));
  if (n->kwargs.size() != P.kwargs.size()) {
    std::string ks;
    for (const auto& [k, v] : n->kwargs) ks += (ks.empty() ? "" : ", ") + k;
    return FAIL(p, n, "kwargs {" + ks + "}, expected " + std::to_string(P.kwargs.size()));
  }
  // Commutative binary op with two node operands: try the written order, then swapped (a*b == b*a).
  if (P.args.size() == 2 && info.commutative && P.args[0].kind == PatternArg::Kind::Ref &&
      P.args[1].kind == PatternArg::Kind::Ref && n->args[0].is_node() && n->args[1].is_node()) {
    size_t t = trail_.size(), e = eqs_.size(), ab = absorbed_.size();
    bool had = have_fail_;
    if (match_arg(p, n, P.args[0], n->args[0], "args", 0, -1, nullptr) &&
        match_arg(p, n, P.args[1], n->args[1], "args", 1, -1, nullptr)) {
    } else {
      undo_to(t, e, ab);
      if (!(match_arg(p, n, P.args[0], n->args[1], "args", 1, -1, nullptr) &&
            match_arg(p, n, P.args[1], n->args[0], "args", 0, -1, nullptr)))
        return false;
      have_fail_ = had && have_fail_;  // the swapped order matched: forget the first order's failure
      if (!had) have_fail_ = false;
    }
  } else {
    // Values first (cheap, and a wrong literal is reported before the operands are explored), then operands.
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < P.args.size(); ++i) {
        bool operand = P.args[i].kind == PatternArg::Kind::Ref || P.args[i].kind == PatternArg::Kind::List;
        if (operand != (pass == 1)) continue;
        if (!match_arg(p, n, P.args[i], n->args[i], "args", static_cast<int>(i), -1, nullptr)) {
          // A literal that differs ([-1] vs [1] too); a getitem's index picks another output of its node: another
          // operand, not a value (the pattern tried at its other output's consumer).
          if ((!operand || !has_ref(P.args[i])) && recorded_ && P.target != "_operator.getitem") fail_.literal = true;
          return false;
        }
      }
  }
  for (const auto& [key, pa] : P.kwargs) {
    const Arg* a = n->kwarg(key);
    if (!a) return FAIL(p, n, "missing kwarg '" + key + "'");
    if (!match_arg(p, n, pa, *a, "kwargs", -1, -1, &key)) return false;
  }
  if (P.type) return match_type(p, n, *P.type, n->val ? &*n->val : nullptr);
  return true;
}

// A reshape matches by the shape it produces: the graph's sizes (-1, ints, SymInt values or nodes) are turned
// into the resulting shape and compared dimension by dimension with the pattern's shape expressions. A chain
// of single-user reshapes in front of it is absorbed (reshape(reshape(x, a), b) == reshape(x, b)).
bool Matcher::match_reshape(int p, Node* n) {
  const PatternNode& P = p_.nodes[p];
  const Arg* sizes = n->args.size() >= 2 ? &n->args[1] : n->kwarg("shape");
  if (n->args.empty() || !n->args[0].is_node() || !sizes || !sizes->is_list())
    return FAIL(p, n, "expected reshape(input, [sizes])");
  Node* in = n->args[0].node;
  int pin = P.args[0].ref;
  if (!p_.nodes[pin].reshape_like) {
    while (in->op == OpKind::CallFunction && reshape_target(in->target) && in->users.size() == 1 && !consumed(in) &&
           !in->args.empty() && in->args[0].is_node()) {
      absorbed_.push_back(in);
      in = in->args[0].node;
    }
  }
  if (!match_node(pin, in)) return false;

  const Node* direct = n->args[0].node;
  if (!direct->val || !direct->val->is_tensor()) return FAIL(p, n, "the reshape's input " + direct->name + " has no tensor meta.val");
  const auto& pitems = P.args[1].items;
  if (sizes->items.size() != pitems.size()) {
    std::string want;
    for (const auto& it : pitems) want += (want.empty() ? "" : ", ") + (it.kind == PatternArg::Kind::Expr ? p_.expr_str(it.expr) : arg_to_json(it.literal));
    return FAIL(p, n, "reshape to rank " + std::to_string(sizes->items.size()) + " ≠ rank " + std::to_string(pitems.size()) +
                          " of [" + want + "] (sizes " + arg_to_json(*sizes) + ")");
  }
  sym::Expr numel = sym::Expr::constant(1);
  for (const auto& d : direct->val->tensor.shape) numel = numel * d.expr;
  std::vector<sym::Expr> dims(sizes->items.size());
  int infer = -1;
  sym::Expr known = sym::Expr::constant(1);
  for (size_t i = 0; i < sizes->items.size(); ++i) {
    const Arg& s = sizes->items[i];
    if (s.kind == Arg::Kind::Int && s.i == -1) {
      if (infer >= 0) return FAIL(p, n, "sizes " + arg_to_json(*sizes) + " have two -1");
      infer = static_cast<int>(i);
      continue;
    }
    if (s.kind == Arg::Kind::Int) dims[i] = sym::Expr::constant(s.i);
    else if (s.kind == Arg::Kind::Sym) dims[i] = s.sym.expr;
    else if (s.kind == Arg::Kind::Node && s.node->val && s.node->val->kind == ValMeta::Kind::Sym) dims[i] = s.node->val->sym.expr;
    else return FAIL(p, n, "size[" + std::to_string(i) + "]: expected an int or SymInt, got " + arg_to_json(s));
    known = known * dims[i];
  }
  if (infer >= 0) {
    bool ok = false;
    // Use the traced shape as the candidate and prove it; otherwise divide when divisibility is provable.
    if (n->val && n->val->is_tensor() && n->val->tensor.shape.size() == dims.size()) {
      const sym::Expr& cand = n->val->tensor.shape[infer].expr;
      if (sym::prove_equal(cand * known, numel, ctx_.ranges) == sym::Truth::True) {
        dims[infer] = cand;
        ok = true;
      }
    }
    if (!ok) {
      auto k = known.as_constant();
      if (k && *k > 0 && sym::prove_divisible(numel, *k, ctx_.ranges) == sym::Truth::True) {
        dims[infer] = sym::floordiv(numel, known);
        ok = true;
      }
    }
    if (!ok)
      return FAIL(p, n, "size[" + std::to_string(infer) + "]: cannot infer -1: " + numel.str() + " elements into " +
                            arg_to_json(*sizes));
  }
  for (size_t i = 0; i < pitems.size(); ++i) {
    const PatternArg& pi = pitems[i];
    if (pi.kind == PatternArg::Kind::Literal) {
      if (sym::prove_equal(dims[i], sym::Expr::constant(pi.literal.i), ctx_.ranges) != sym::Truth::True)
        return FAIL(p, n, "shape[" + std::to_string(i) + "]: " + dims[i].str() + " ≠ " + std::to_string(pi.literal.i));
    } else {
      add_int(p, n, "shape", static_cast<int>(i), -1, nullptr, pi.expr, dims[i]);
    }
  }
  if (P.type) return match_type(p, n, *P.type, n->val ? &*n->val : nullptr);
  return true;
}

// Nodes not reachable from the root through operands (other outputs such as a second getitem) are found among
// the users of nodes already matched.
bool Matcher::match_remaining() {
  for (;;) {
    int next = -1;
    Node* anchor = nullptr;
    int anchor_p = -1;
    for (size_t k = 0; k < p_.nodes.size() && next < 0; ++k) {
      if (p_.nodes[k].is_input || map_[k]) continue;
      for (const auto& a : p_.nodes[k].args)
        if (find_matched_ref(a, map_, anchor, anchor_p)) break;
      if (anchor) next = static_cast<int>(k);
    }
    if (next < 0) {
      for (size_t k = 0; k < p_.nodes.size(); ++k)
        if (!map_[k]) return fail_at("region", "pattern node '" + p_.nodes[k].name + "' is not connected to the root", true);
      return true;
    }
    size_t t = trail_.size(), e = eqs_.size(), ab = absorbed_.size();
    bool had = have_fail_;
    bool ok = false;
    bool tried = false;
    for (Node* u : anchor->users) {
      if (std::find(map_.begin(), map_.end(), u) != map_.end()) continue;
      if (interned(u->target) != info_[next].target && !reshape_target(u->target)) continue;
      tried = true;
      if (match_node(next, u)) { ok = true; break; }
      undo_to(t, e, ab);
    }
    if (!ok) {
      if (!tried)
        return fail(anchor_p, anchor, "no user is " + p_.nodes[next].target + " (pattern node '" + p_.nodes[next].name + "')");
      return false;
    }
    if (!had) have_fail_ = false;
  }
}

bool Matcher::check_region(Match& out) {
  out.region.clear();
  for (size_t k = 0; k < p_.nodes.size(); ++k)
    if (!p_.nodes[k].is_input) out.region.push_back(map_[k]);
  out.region.insert(out.region.end(), absorbed_.begin(), absorbed_.end());
  // A sorted copy answers membership in O(log R) and finds duplicates without the quadratic scan.
  std::vector<Node*>& sorted = region_sorted_;
  sorted.assign(out.region.begin(), out.region.end());
  std::sort(sorted.begin(), sorted.end());
  auto in_region = [&](const Node* n) { return std::binary_search(sorted.begin(), sorted.end(), n); };
  // One graph node per pattern node (the message names the first duplicate in region order).
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    for (size_t a = 0; a < out.region.size(); ++a)
      for (size_t b = a + 1; b < out.region.size(); ++b)
        if (out.region[a] == out.region[b])
          return fail_at("region", "graph node " + out.region[a]->name + " would be matched twice", false);
  for (size_t k = 0; k < p_.nodes.size(); ++k)
    if (p_.nodes[k].is_input && in_region(map_[k]))
      return fail_at("region", "input '" + p_.nodes[k].name + "' is the region's own node " + map_[k]->name, false);
  // No intermediate may be used outside the region (the outputs may).
  auto is_output = [&](const Node* n) {
    for (int o : p_.outputs) if (map_[o] == n) return true;
    return false;
  };
  for (size_t k = 0; k < p_.nodes.size(); ++k) {
    if (p_.nodes[k].is_input || is_output(map_[k])) continue;
    for (const Node* u : map_[k]->users)
      if (!in_region(u))
        return fail_at(where(static_cast<int>(k), map_[k]),
                       "has a user outside the region: " + u->name + " (" + u->target + ")", false);
  }
  for (const Node* a : absorbed_)
    for (const Node* u : a->users)
      if (!in_region(u)) return fail_at("region", "reshape " + a->name + " has a user outside the region: " + u->name, false);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Solving
// ---------------------------------------------------------------------------------------------------------

std::optional<Value> Matcher::eval(const ScalarExpr& e, int over_var, const Value* over) const {
  return eval_scalar(p_, e, bind_, over_var, over);
}

bool Matcher::equal_values(const Value& a, const Value& b, bool exact_float, sym::Truth* truth) const {
  *truth = sym::Truth::False;
  if (a.is_int() && b.is_int()) {
    *truth = sym::prove_equal(a.i, b.i, ctx_.ranges);
    return *truth == sym::Truth::True;
  }
  if (a.type == VarType::Dtype || b.type == VarType::Dtype) {
    bool eq = a.type == b.type && a.d == b.d;
    *truth = eq ? sym::Truth::True : sym::Truth::False;
    return eq;
  }
  double x = as_double(a), y = as_double(b);
  bool eq = exact_float ? (x == y || (std::isnan(x) && std::isnan(y))) : float32_equal(x, y);
  *truth = eq ? sym::Truth::True : sym::Truth::False;
  return eq;
}

bool Matcher::bind(int var, const Value& v, const Equation& e) {
  const VarDecl& d = p_.vars[var];
  std::string at = label(e);
  Value b = v;
  switch (d.type) {
    case VarType::Int:
      if (!v.is_int() || !v.i.as_constant())
        return fail(e.pnode, e.node, at + ": " + d.name + " must be an integer, got " + v.str());
      b.type = VarType::Int;
      break;
    case VarType::Sym:
      if (!v.is_int()) return fail(e.pnode, e.node, at + ": " + d.name + " must be a SymInt, got " + v.str());
      b.type = VarType::Sym;
      break;
    case VarType::Float:
      if (v.type != VarType::Float) return fail(e.pnode, e.node, at + ": " + d.name + " must be a float, got " + v.str());
      break;
    case VarType::Dtype:
      if (v.type != VarType::Dtype) return fail(e.pnode, e.node, at + ": " + d.name + " must be a dtype, got " + v.str());
      break;
  }
  if (!d.one_of.empty()) {
    bool ok = false;
    std::string allowed;
    for (const auto& o : d.one_of) {
      sym::Truth t;
      ok = ok || equal_values(b, o, true, &t);
      allowed += (allowed.empty() ? "" : ", ") + o.str();
    }
    if (!ok) return fail(e.pnode, e.node, at + ": " + b.str() + " is not an allowed " + d.name + " (" + allowed + ")");
  }
  bind_[var] = std::move(b);
  return true;
}

bool Matcher::check_conditions(std::vector<char>& done, bool final) {
  for (size_t c = 0; c < p_.conditions.size(); ++c) {
    if (done[c]) continue;
    const Condition& cond = p_.conditions[c];
    auto l = eval(p_.exprs[cond.lhs]);
    auto r = eval(p_.exprs[cond.rhs]);
    if (!l || !r) {
      if (final) return fail_at("condition", "`" + cond.text + "` has unbound variables", false);
      continue;
    }
    done[c] = 1;
    bool ok = false;
    bool unknown = false;
    if (l->is_int() && r->is_int()) {
      if (cond.cmp == "==" || cond.cmp == "!=") {
        sym::Truth t = sym::prove_equal(l->i, r->i, ctx_.ranges);
        unknown = t == sym::Truth::Unknown;
        ok = cond.cmp == "==" ? t == sym::Truth::True : t == sym::Truth::False;
      } else {
        // a < b  <=>  b - a - 1 >= 0 ;  a <= b  <=>  b - a >= 0
        sym::Expr diff = (cond.cmp == "<" || cond.cmp == "<=") ? r->i - l->i : l->i - r->i;
        if (cond.cmp == "<" || cond.cmp == ">") diff = diff - sym::Expr::constant(1);
        sym::Truth t = sym::prove_nonnegative(diff, ctx_.ranges);
        unknown = t == sym::Truth::Unknown;
        ok = t == sym::Truth::True;
      }
    } else if (l->type == VarType::Dtype) {
      ok = (l->d == r->d) == (cond.cmp == "==");
    } else {
      double x = as_double(*l), y = as_double(*r);
      float fx = static_cast<float>(x), fy = static_cast<float>(y);
      if (cond.cmp == "==") ok = float32_equal(x, y);
      else if (cond.cmp == "!=") ok = !float32_equal(x, y);
      else if (cond.cmp == "<") ok = fx < fy;
      else if (cond.cmp == "<=") ok = fx <= fy;
      else if (cond.cmp == ">") ok = fx > fy;
      else ok = fx >= fy;
    }
    if (!ok) {
      std::vector<int> vars;
      collect_vars(p_.exprs[cond.lhs], vars);
      collect_vars(p_.exprs[cond.rhs], vars);
      std::string vs;
      for (int v : vars) vs += (vs.empty() ? "" : ", ") + p_.vars[v].name + "=" + bind_[v]->str();
      std::string neg = cond.cmp == "==" ? "≠" : cond.cmp == "!=" ? "=" : cond.cmp == "<" ? "≥" : cond.cmp == "<=" ? ">"
                        : cond.cmp == ">" ? "≤" : "<";
      return fail_at("condition", "`" + cond.text + "` " + (unknown ? "cannot be proven: " + l->str() + " " + cond.cmp + " " + r->str()
                                                                   : "is false: " + l->str() + " " + neg + " " + r->str()) +
                                      (vs.empty() ? "" : " (" + vs + ")"), false);
    }
  }
  return true;
}

bool Matcher::solve() {
  std::vector<char>& done = eq_done_;
  done.assign(eqs_.size(), 0);
  std::vector<char>& cond_done = cond_done_;
  cond_done.assign(p_.conditions.size(), 0);
  auto mismatch = [&](const Equation& q, const Value& actual, const Value& expected, sym::Truth t) {
    const ScalarExpr& e = p_.exprs[q.expr];
    std::string rhs = e.op == ScalarExpr::Op::Var ? p_.vars[e.var].name + "=" + expected.str()
                      : (e.op == ScalarExpr::Op::Int || e.op == ScalarExpr::Op::Float || e.op == ScalarExpr::Op::Dtype)
                          ? expected.str()
                          : p_.expr_str(q.expr) + " = " + expected.str();
    if (t == sym::Truth::Unknown) return fail(q.pnode, q.node, label(q) + ": cannot prove " + actual.str() + " == " + rhs);
    return fail(q.pnode, q.node, label(q) + ": " + actual.str() + " ≠ " + rhs);
  };
  auto actual_of = [](const Equation& q) {
    if (q.kind == VarType::Float) return Value::real(q.fv);
    if (q.kind == VarType::Dtype) return Value::dtype(q.dv);
    return Value::integer(q.iv);
  };
  auto mark_structural = [&] { if (have_fail_) fail_.structural = false; };
  for (;;) {
    bool progress = false;
    // Pass A: bind bare variables and check every fully bound equation, in the order they were found.
    for (size_t i = 0; i < eqs_.size(); ++i) {
      if (done[i]) continue;
      const Equation& q = eqs_[i];
      const ScalarExpr& e = p_.exprs[q.expr];
      Value actual = actual_of(q);
      if (e.op == ScalarExpr::Op::Var && !bind_[e.var]) {
        if (!bind(e.var, actual, q)) return mark_structural(), false;
        done[i] = 1;
        progress = true;
        continue;
      }
      auto v = eval(e);
      if (!v) continue;
      sym::Truth t;
      bool exact = e.op == ScalarExpr::Op::Var;  // a variable binds consistently: exactly the same value
      if (!equal_values(actual, *v, exact, &t)) return mismatch(q, actual, *v, t), mark_structural(), false;
      done[i] = 1;
      progress = true;
    }
    if (!check_conditions(cond_done, false)) return false;
    if (progress) continue;
    // Pass B: an equation with one unbound variable V, linear in V: P(V) = c*V + P(0) = actual.
    for (size_t i = 0; i < eqs_.size() && !progress; ++i) {
      if (done[i] || eqs_[i].kind != VarType::Int) continue;
      const Equation& q = eqs_[i];
      std::vector<int>& vars = vars_scratch_;
      vars.clear();
      collect_vars(p_.exprs[q.expr], vars);
      int unbound = -1, count = 0;
      for (int v : vars) if (!bind_[v]) { unbound = v; ++count; }
      if (count != 1 || p_.vars[unbound].type == VarType::Float || p_.vars[unbound].type == VarType::Dtype) continue;
      Value zero = Value::integer(sym::Expr::constant(0)), one = Value::integer(sym::Expr::constant(1));
      auto p0 = eval(p_.exprs[q.expr], unbound, &zero);
      auto p1 = eval(p_.exprs[q.expr], unbound, &one);
      if (!p0 || !p1 || !p0->is_int() || !p1->is_int()) continue;
      auto c = (p1->i - p0->i).as_constant();
      if (!c || *c == 0) continue;
      sym::Expr rest = q.iv - p0->i;
      sym::Expr cand = *c == 1 ? rest : *c == -1 ? -rest : sym::floordiv(rest, sym::Expr::constant(*c));
      if (!bind(unbound, Value::integer(cand), q)) return mark_structural(), false;
      auto v = eval(p_.exprs[q.expr]);
      sym::Truth t;
      if (!v) return fail(q.pnode, q.node, label(q) + ": cannot evaluate " + p_.expr_str(q.expr)), mark_structural(), false;
      if (!equal_values(actual_of(q), *v, false, &t)) return mismatch(q, actual_of(q), *v, t), mark_structural(), false;
      done[i] = 1;
      progress = true;
    }
    if (!progress) break;
  }
  for (size_t i = 0; i < eqs_.size(); ++i) {
    if (done[i]) continue;
    const Equation& q = eqs_[i];
    std::vector<int> vars;
    collect_vars(p_.exprs[q.expr], vars);
    std::string names;
    for (int v : vars) if (!bind_[v]) names += (names.empty() ? "" : ", ") + p_.vars[v].name;
    fail(q.pnode, q.node, label(q) + ": cannot determine " + names + " from " + p_.expr_str(q.expr) + " = " + actual_of(q).str());
    return mark_structural(), false;
  }
  return check_conditions(cond_done, true);
}

bool Matcher::check_target() {
  if (!ctx_.target) return true;
  for (size_t v = 0; v < p_.vars.size(); ++v) {
    if (p_.vars[v].type != VarType::Dtype || !bind_[v] || !fp8_max(bind_[v]->d)) continue;
    if (!ctx_.target->has_fp8(bind_[v]->d)) {
      std::string has;
      for (const auto& d : ctx_.target->fp8_dtypes) has += (has.empty() ? "" : ", ") + d;
      return fail_at("target", "target " + ctx_.target->name + " has no " + bind_[v]->d + " kernels (" +
                                   p_.vars[v].name + "=" + bind_[v]->d + "; it supports " + (has.empty() ? "none" : has) + ")",
                     false);
    }
  }
  return true;
}

bool Matcher::match(Node* root, Match& out, MatchFailure* failure) {
  if (!record_reasons_ && root_value_fails(root)) {
    // What fail_lazy records for a value of the root (trail: the root alone); no text is recorded in this mode.
    fail_.progress = 1;
    fail_.structural = true;
    fail_.spelling = fail_.wrong_op = fail_.literal = fail_.layout = false;
    have_fail_ = recorded_ = true;
    if (failure) *failure = fail_;
    return false;
  }
  std::fill(map_.begin(), map_.end(), nullptr);
  trail_.clear();
  eqs_.clear();
  absorbed_.clear();
  have_fail_ = false;
  root_ = root;
  bool ok = false;
  try {
    // The bindings are read only once the structure has matched (most attempts fail before).
    if (match_node(p_.root, root) && match_remaining() && check_region(out)) {
      if (have_solved_ && same_equations()) {
        bind_ = solved_bind_;
        ok = true;
      } else {
        for (size_t v = 0; v < p_.vars.size(); ++v) bind_[v] = p_.vars[v].value;
        ok = solve() && check_target();
        if (ok) remember_solution();
      }
    }
  } catch (const EvalUndefined& e) {  // an expression without a value here: no match, with the reason
    fail_at("solver", e.what(), false);
    ok = false;
  } catch (const std::overflow_error& e) {  // SymInt arithmetic past int64: nothing can be proven
    fail_at("solver", std::string("arithmetic past int64 (") + e.what() + ")", false);
    ok = false;
  } catch (const InputError& e) {
    throw InputError("matching pattern '" + p_.name + "' at node '" + root->name + "': " + e.what());
  }  // anything else is a bug: it propagates and fails the command (never a silent "no match")
  if (!ok) {
    if (!have_fail_) fail_at("", "no match", true);
    if (failure) *failure = fail_;
    return false;
  }
  out.pattern = &p_;
  out.root = root;
  out.nodes = map_;
  out.bindings = bind_;
  return true;
}

// solve() and check_target() read only the equations' expressions, kinds and actual values (the rest names the
// place in messages), the pattern's fixed bindings, the ranges and the target: equal inputs, equal outcome.
bool Matcher::same_equations() const {
  if (solved_eqs_.size() != eqs_.size()) return false;
  for (size_t i = 0; i < eqs_.size(); ++i) {
    const Equation& q = eqs_[i];
    const SolvedKey& k = solved_eqs_[i];
    if (q.expr != k.expr || q.kind != k.kind) return false;
    switch (q.kind) {
      case VarType::Float:
        if (!same_double(q.fv, k.fv)) return false;
        break;
      case VarType::Dtype:
        if (q.dv != k.dv) return false;
        break;
      default:
        if (q.iv != k.iv) return false;
    }
  }
  return true;
}

void Matcher::remember_solution() {
  solved_eqs_.clear();
  for (const Equation& q : eqs_) solved_eqs_.push_back(SolvedKey{q.expr, q.kind, q.iv, q.fv, q.dv});
  solved_bind_ = bind_;
  have_solved_ = true;
}


}  // namespace fxopt
