// The grid of variable values that satisfy a pattern's conditions, and the search graph at one point.
#include "core/pattern/pattern_grid.h"

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

#include "core/ir/error.h"

namespace fxopt {

namespace {

std::optional<int64_t> as_int(const Value& v) {
  if (!v.is_int()) return std::nullopt;
  return v.i.as_constant();
}

bool mentions(const ScalarExpr& e, int var) {
  if (e.op == ScalarExpr::Op::Var && e.var == var) return true;
  for (const auto& k : e.kids)
    if (mentions(k, var)) return true;
  return false;
}

Value int_value(int64_t v, VarType t) {
  Value x = Value::integer(sym::Expr::constant(v));
  x.type = t;
  return x;
}

// A "bool" variable (an int holding 0/1, written and matched as a bool) where VarDecl knows the flag.
template <class D>
bool is_bool_var(const D& d) {
  if constexpr (requires { d.boolean; }) return d.boolean;
  else return false;
}

std::string point_text(const Pattern& p, const std::vector<std::optional<Value>>& values) {
  std::string s;
  for (size_t v = 0; v < p.vars.size(); ++v)
    s += (s.empty() ? "" : ", ") + p.vars[v].name + "=" + (values[v] ? values[v]->str() : "?");
  return s;
}

}  // namespace

std::optional<bool> condition_holds(const Pattern& p, const Condition& c, const std::vector<std::optional<Value>>& values) {
  auto l = eval_scalar(p, p.exprs[c.lhs], values);
  auto r = eval_scalar(p, p.exprs[c.rhs], values);
  if (!l || !r) return std::nullopt;
  if (l->type == VarType::Dtype || r->type == VarType::Dtype) {
    const bool eq = l->d == r->d;
    return c.cmp == "==" ? eq : !eq;
  }
  if (l->is_int() && r->is_int()) {
    auto x = l->i.as_constant(), y = r->i.as_constant();
    if (!x || !y) return std::nullopt;
    if (c.cmp == "==") return *x == *y;
    if (c.cmp == "!=") return *x != *y;
    if (c.cmp == "<") return *x < *y;
    if (c.cmp == "<=") return *x <= *y;
    if (c.cmp == ">") return *x > *y;
    return *x >= *y;
  }
  auto num = [](const Value& v) {
    if (v.type == VarType::Float) return v.f;
    auto k = v.i.as_constant();
    if (!k) throw std::runtime_error("a symbolic value used as a number");
    return static_cast<double>(*k);
  };
  const float x = static_cast<float>(num(*l)), y = static_cast<float>(num(*r));
  if (c.cmp == "==") return x == y;
  if (c.cmp == "!=") return x != y;
  if (c.cmp == "<") return x < y;
  if (c.cmp == "<=") return x <= y;
  if (c.cmp == ">") return x > y;
  return x >= y;
}

PatternGrid pattern_grid(const Pattern& p, const GridOptions& opt) {
  PatternGrid grid;
  const size_t nv = p.vars.size();
  // Variables a condition `V == expr` determines (V neither fixed nor enumerated, expr not mentioning V); then
  // variables only bounded, `V >= expr` / `expr <= V`, take their bound (a slice's end: any value >= 2*H).
  std::vector<int> determined_by(nv, -1);
  for (size_t k = 0; k < 2 * p.conditions.size(); ++k) {
    const size_t ci = k % p.conditions.size();
    const Condition& c = p.conditions[ci];
    const bool bound = k >= p.conditions.size();
    if (bound ? c.cmp != ">=" && c.cmp != "<=" : c.cmp != "==") continue;
    for (int side = 0; side < 2; ++side) {
      if (bound && (side == 0) != (c.cmp == ">=")) continue;  // V on the greater side
      const ScalarExpr& v = p.exprs[side ? c.rhs : c.lhs];
      const ScalarExpr& e = p.exprs[side ? c.lhs : c.rhs];
      if (v.op != ScalarExpr::Op::Var || determined_by[v.var] >= 0) continue;
      const VarDecl& d = p.vars[v.var];
      if (d.value || !d.one_of.empty() || mentions(e, v.var)) continue;
      determined_by[v.var] = static_cast<int>(ci) * 2 + side;
      break;
    }
  }
  // The fixed int values of the pattern (group sizes and the like) seed the int candidates.
  std::set<int64_t> consts;
  for (const auto& d : p.vars)
    if (d.value && d.value->is_int())
      if (auto c = as_int(*d.value); c && *c >= 4) consts.insert(*c);
  for (const auto& d : p.vars)  // and the allowed values of a variable such as G in {64, 128}
    for (const auto& o : d.one_of)
      if (o.is_int())
        if (auto c = as_int(o); c && *c >= 4) consts.insert(*c);
  std::vector<std::vector<Value>> cands(nv);
  for (size_t v = 0; v < nv; ++v) {
    const VarDecl& d = p.vars[v];
    if (d.value) { cands[v] = {*d.value}; continue; }
    if (!d.one_of.empty()) { cands[v] = d.one_of; continue; }
    if (determined_by[v] >= 0) continue;
    if (is_bool_var(d)) {
      for (int64_t x : {0, 1}) cands[v].push_back(int_value(x, VarType::Int));
      continue;
    }
    switch (d.type) {
      case VarType::Int: {
        std::set<int64_t> vals = {1, 2, 3};
        for (int64_t c : consts) vals.insert({c / 2, c, 2 * c});
        for (int64_t x : vals) cands[v].push_back(int_value(x, VarType::Int));
        break;
      }
      case VarType::Sym:
        for (int64_t x : {1, 3, 8}) cands[v].push_back(int_value(x, VarType::Sym));
        break;
      case VarType::Float:
        for (double x : {1e-06, 1e-05}) cands[v].push_back(Value::real(x));
        break;
      case VarType::Dtype:
        for (const char* x : {"float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2"})
          cands[v].push_back(Value::dtype(x));
        break;
    }
  }
  std::vector<size_t> pos(nv, 0);
  std::vector<std::optional<Value>> values(nv);
  std::set<std::string> reasons;
  for (;;) {
    ++grid.combinations;
    for (size_t v = 0; v < nv; ++v) values[v] = cands[v].empty() ? std::nullopt : std::optional<Value>(cands[v][pos[v]]);
    bool ok = true;
    try {
      // Determined variables, in as many passes as their dependencies need.
      for (size_t pass = 0; pass < nv; ++pass) {
        bool changed = false;
        for (size_t v = 0; v < nv; ++v) {
          if (determined_by[v] < 0 || values[v]) continue;
          const Condition& c = p.conditions[determined_by[v] / 2];
          const int e = determined_by[v] % 2 ? c.lhs : c.rhs;
          auto x = eval_scalar(p, p.exprs[e], values);
          if (!x) continue;
          if (p.vars[v].type == VarType::Float && x->is_int()) {
            auto k = as_int(*x);
            if (!k) throw std::runtime_error("a symbolic value for the float " + p.vars[v].name);
            *x = Value::real(static_cast<double>(*k));
          } else if (x->is_int()) {
            x->type = p.vars[v].type;
          }
          values[v] = *x;
          changed = true;
        }
        if (!changed) break;
      }
      for (size_t v = 0; v < nv; ++v)
        if (!values[v]) {
          reasons.insert("variable '" + p.vars[v].name + "' cannot be chosen (its determining condition depends on an unchosen variable)");
          ok = false;
        }
      for (size_t ci = 0; ok && ci < p.conditions.size(); ++ci) {
        auto h = condition_holds(p, p.conditions[ci], values);
        if (!h || !*h) ok = false;
      }
    } catch (const std::exception& e) {
      ok = false;
    }
    if (ok) {
      // Input sizes: over budget, or not computable (negative, undefined) = not a point.
      size_t total = 0;
      try {
        for (const auto& n : p.nodes) {
          if (!n.is_input || !n.type) continue;
          size_t numel = 1;
          for (int d : n.type->dims) {
            auto x = eval_scalar(p, p.exprs[d], values);
            auto k = x ? as_int(*x) : std::nullopt;
            if (!k || *k < 0) throw std::runtime_error("size");
            numel *= static_cast<size_t>(*k);
          }
          if (numel > opt.max_input_elements) {
            ++grid.too_large;
            ok = false;
            break;
          }
          total += numel;
        }
      } catch (const std::exception&) {
        ++grid.rejected;
        ok = false;
      }
      if (ok) {
        GridPoint pt;
        pt.values = values;
        pt.elements = total;
        pt.text = point_text(p, values);
        grid.points.push_back(std::move(pt));
      }
    } else {
      ++grid.rejected;
    }
    size_t v = 0;
    for (; v < nv; ++v) {
      if (cands[v].empty()) continue;
      if (++pos[v] < cands[v].size()) break;
      pos[v] = 0;
    }
    if (v == nv) break;
  }
  std::stable_sort(grid.points.begin(), grid.points.end(),
                   [](const GridPoint& a, const GridPoint& b) { return a.elements < b.elements; });
  if (grid.points.size() > opt.max_points) {
    grid.points.resize(opt.max_points);
    grid.truncated = true;
  }
  if (grid.points.empty()) {
    grid.problems.assign(reasons.begin(), reasons.end());
    if (grid.problems.empty())
      grid.problems.push_back("no combination of candidate values satisfies every condition within the size budget (" +
                              std::to_string(grid.combinations) + " tried)");
  }
  return grid;
}

Graph instantiate_pattern(const Pattern& p, const GridPoint& pt) {
  Graph g;
  std::vector<Node*> made(p.nodes.size(), nullptr);
  auto value_of = [&](int expr, const std::string& where) -> Value {
    std::optional<Value> v;
    try {
      v = eval_scalar(p, p.exprs[expr], pt.values);
    } catch (const std::exception& e) {
      throw InputError(where + ": " + p.expr_str(expr) + ": " + e.what());
    }
    if (!v) throw InputError(where + ": " + p.expr_str(expr) + " has an unchosen variable");
    return *v;
  };
  auto tensor_val = [&](const TypeSpec& t, const std::string& where) {
    ValMeta v;
    v.kind = ValMeta::Kind::Tensor;
    v.tensor.dtype = value_of(t.dtype_expr, where).d;
    v.tensor.device = "cpu";
    std::vector<int64_t> dims;
    for (int d : t.dims) {
      auto k = as_int(value_of(d, where));
      if (!k) throw InputError(where + ": size " + p.expr_str(d) + " is not a constant");
      dims.push_back(*k);
    }
    int64_t stride = 1;
    std::vector<int64_t> strides(dims.size());
    for (size_t i = dims.size(); i-- > 0;) {
      strides[i] = stride;
      stride *= dims[i];
    }
    for (size_t i = 0; i < dims.size(); ++i) {
      v.tensor.shape.emplace_back(dims[i]);
      v.tensor.stride.emplace_back(strides[i]);
    }
    return v;
  };
  std::function<Arg(const PatternArg&, const std::string&)> build = [&](const PatternArg& a, const std::string& where) -> Arg {
    switch (a.kind) {
      case PatternArg::Kind::Literal: return a.literal;
      case PatternArg::Kind::Ref: return Arg::ref(made[a.ref]);
      case PatternArg::Kind::List: {
        std::vector<Arg> items;
        for (const auto& i : a.items) items.push_back(build(i, where));
        return Arg::list(std::move(items));
      }
      case PatternArg::Kind::Expr: {
        Value v = value_of(a.expr, where);
        const ScalarExpr& e = p.exprs[a.expr];
        if (e.op == ScalarExpr::Op::Var && is_bool_var(p.vars[e.var])) return Arg::boolean(as_int(v).value_or(0) != 0);
        if (v.type == VarType::Float) return Arg::real(v.f);
        if (v.type == VarType::Dtype) return Arg::dtype(v.d);
        auto k = as_int(v);
        if (!k) throw InputError(where + ": " + p.expr_str(a.expr) + " is not a constant");
        return Arg::integer(*k);
      }
    }
    return Arg::none();
  };
  for (size_t k = 0; k < p.nodes.size(); ++k) {
    const PatternNode& pn = p.nodes[k];
    const std::string where = "pattern " + p.name + ": " + (pn.is_input ? "input " : "node ") + pn.name;
    Node n;
    n.name = pn.name;
    if (pn.is_input) {
      if (!pn.type) throw InputError(where + " has no type, so the check cannot choose its dtype and shape");
      n.op = OpKind::Placeholder;
      n.target = pn.name;
    } else {
      n.op = OpKind::CallFunction;
      n.target = pn.target;
      for (const auto& a : pn.args) n.args.push_back(build(a, where));
      for (const auto& [key, a] : pn.kwargs) n.kwargs.emplace_back(key, build(a, where));
    }
    if (pn.type && pn.type->dtype_expr >= 0) n.val = tensor_val(*pn.type, where);
    made[k] = g.append_named(std::move(n));
  }
  Node out;
  out.name = "output";
  while (g.find(out.name)) out.name += "_";
  out.op = OpKind::Output;
  out.target = "output";
  std::vector<Arg> outs;
  for (int o : p.outputs) outs.push_back(Arg::ref(made[o]));
  out.args.push_back(Arg::list(std::move(outs)));
  g.append_named(std::move(out));
  g.rebuild_users();
  g.renumber();
  return g;
}

}  // namespace fxopt
