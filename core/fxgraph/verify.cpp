// Semantic checks of a loaded graph: metadata completeness, declared symbols, topological order.
#include "core/fxgraph/verify.h"

#include <algorithm>
#include <array>
#include <set>

namespace fxopt {

bool is_known_dtype(std::string_view name) {
  static constexpr std::array<std::string_view, 22> kDtypes = {
      "float32", "float16", "bfloat16", "float64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
      "float8_e5m2fnuz", "int8", "uint8", "int16", "int32", "int64", "bool", "complex64", "complex128",
      "uint16", "uint32", "uint64", "float8_e8m0fnu", "float4_e2m1fn_x2", "complex32"};
  return std::find(kDtypes.begin(), kDtypes.end(), name) != kDtypes.end();
}

namespace {

struct Checker {
  const Graph& g;
  std::set<std::string, std::less<>> declared;
  std::vector<GraphProblem> problems;

  void problem(const Node& n, std::string msg) { problems.push_back({n.name, std::move(msg)}); }

  void check_dim(const Node& n, const SymDim& d, const std::string& where) {
    for (const auto& s : d.expr.free_symbols())
      if (!declared.count(s))
        problem(n, where + ": symbol '" + s + "' in '" + d.str() + "' is not declared in \"symbols\"");
  }

  void check_val(const Node& n, const ValMeta& v, const std::string& where) {
    switch (v.kind) {
      case ValMeta::Kind::Tensor: {
        const auto& t = v.tensor;
        if (!is_known_dtype(t.dtype)) problem(n, where + ".dtype: unknown dtype '" + t.dtype + "'");
        if (!t.stride.empty() && t.stride.size() != t.shape.size())
          problem(n, where + ": shape has rank " + std::to_string(t.shape.size()) + " but stride has " +
                         std::to_string(t.stride.size()) + " entries");
        for (size_t i = 0; i < t.shape.size(); ++i) {
          check_dim(n, t.shape[i], where + ".shape[" + std::to_string(i) + "]");
          if (auto c = t.shape[i].expr.as_constant(); c && *c < 0)
            problem(n, where + ".shape[" + std::to_string(i) + "]: negative size " + std::to_string(*c));
        }
        for (size_t i = 0; i < t.stride.size(); ++i) check_dim(n, t.stride[i], where + ".stride[" + std::to_string(i) + "]");
        break;
      }
      case ValMeta::Kind::Sym: check_dim(n, v.sym, where + ".sym"); break;
      case ValMeta::Kind::Tuple:
        for (size_t i = 0; i < v.items.size(); ++i) check_val(n, v.items[i], where + "[" + std::to_string(i) + "]");
        break;
      default: break;
    }
  }

  void check_arg(const Node& n, const Arg& a, const std::string& where) {
    if (a.kind == Arg::Kind::Sym) check_dim(n, a.sym, where);
    if (a.kind == Arg::Kind::Dtype && !is_known_dtype(a.s)) problem(n, where + ": unknown dtype '" + a.s + "'");
    for (size_t i = 0; i < a.items.size(); ++i) check_arg(n, a.items[i], where + "[" + std::to_string(i) + "]");
    for (const auto& [k, x] : a.dict) check_arg(n, x, where + "." + k);
  }

  void run() {
    for (const auto& [name, info] : g.symbols) {
      declared.insert(name);
      if (info.hint && ((info.min && *info.hint < *info.min) || (info.max && *info.hint > *info.max)))
        problems.push_back({"", "symbols." + name + ": hint " + std::to_string(*info.hint) + " is outside its range [" +
                                    (info.min ? std::to_string(*info.min) : "-inf") + ", " +
                                    (info.max ? std::to_string(*info.max) : "inf") + "]"});
    }
    if (auto err = g.topological_error(); !err.empty()) problems.push_back({"", err});
    for (const auto& n : g.nodes()) {
      for (size_t i = 0; i < n.args.size(); ++i) check_arg(n, n.args[i], "args[" + std::to_string(i) + "]");
      for (const auto& [k, a] : n.kwargs) check_arg(n, a, "kwargs." + k);
      if (n.op == OpKind::Output) continue;
      if (!n.val) {
        if (n.op == OpKind::Placeholder || n.op == OpKind::CallFunction)
          problem(n, "meta.val is missing (the tensor's dtype and shape are needed)");
        continue;
      }
      check_val(n, *n.val, "meta.val");
      if (n.target == "_operator.getitem" && n.args.size() == 2 && n.args[0].is_node() && n.args[1].is_int()) {
        const Node* src = n.args[0].node;
        if (src->val && src->val->kind == ValMeta::Kind::Tuple &&
            (n.args[1].i < 0 || n.args[1].i >= static_cast<int64_t>(src->val->items.size())))
          problem(n, "getitem index " + std::to_string(n.args[1].i) + " is out of range for '" + src->name +
                         "' with " + std::to_string(src->val->items.size()) + " outputs");
      }
    }
  }
};

}  // namespace

std::vector<GraphProblem> check_graph(const Graph& g) {
  Checker c{g, {}, {}};
  c.run();
  return c.problems;
}

}  // namespace fxopt
