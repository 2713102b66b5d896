// Pattern checking: grid points -> search graph with inferred meta.val -> self-match -> region verification.
#include "runtime/pattern_check.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "core/ir/error.h"
#include "core/pattern/match.h"
#include "core/rewrite/region_graph.h"

namespace fxopt::rt {

namespace {

ValMeta meta_of(const Value& v) {
  ValMeta m;
  if (v.is_tensor()) {
    m.kind = ValMeta::Kind::Tensor;
    m.tensor.dtype = dtype_name(v.tensor.dtype());
    m.tensor.device = "cpu";
    const Shape strides = Tensor::contiguous_strides(v.tensor.shape());
    for (size_t i = 0; i < v.tensor.shape().size(); ++i) {
      m.tensor.shape.emplace_back(v.tensor.shape()[i]);
      m.tensor.stride.emplace_back(strides[i]);
    }
  } else if (v.kind == Value::Kind::List) {
    m.kind = ValMeta::Kind::Tuple;
    for (const auto& i : v.items) m.items.push_back(meta_of(i));
  } else if (v.kind == Value::Kind::Int) {
    m.kind = ValMeta::Kind::Sym;
    m.sym = SymDim(v.i);
  }
  return m;
}

// Gives every region node of the instantiated search graph a meta.val (the matcher reads shapes and
// dtypes from it): declared types stay (and are checked by the run), tuple-producing nodes get the types
// their getitem users declare (a kernel may read its output dtype from meta.val), the rest come from
// running the graph once. Throws InputError when the graph cannot run (the point is not a valid region).
void infer_meta(Graph& g, const Pattern& p) {
  for (const auto& pn : p.nodes) {
    if (pn.is_input || pn.target != "_operator.getitem" || !pn.type || pn.args.size() != 2) continue;
    const PatternArg& src = pn.args[0];
    const PatternArg& idx = pn.args[1];
    if (src.kind != PatternArg::Kind::Ref || idx.kind != PatternArg::Kind::Literal || !idx.literal.is_int()) continue;
    Node* tuple = g.find(p.nodes[src.ref].name);
    Node* item = g.find(pn.name);
    if (!tuple || !item || !item->val || p.nodes[src.ref].type || idx.literal.i < 0 || idx.literal.i > 16) continue;
    if (!tuple->val) {
      tuple->val = ValMeta();
      tuple->val->kind = ValMeta::Kind::Tuple;
    }
    auto& items = tuple->val->items;
    if (items.size() <= static_cast<size_t>(idx.literal.i)) items.resize(idx.literal.i + 1);
    items[idx.literal.i] = *item->val;
  }
  // Probe: the output returns every region node.
  Node* out = g.output_node();
  std::vector<std::string> outs_names;
  for (const Arg& a : out->args[0].items) outs_names.push_back(a.node->name);
  g.erase(out);
  std::vector<Arg> all;
  std::vector<Node*> ops;
  for (Node& n : g.nodes())
    if (n.op == OpKind::CallFunction) {
      all.push_back(Arg::ref(&n));
      ops.push_back(&n);
    }
  Node probe;
  probe.name = "output";
  probe.op = OpKind::Output;
  probe.target = "output";
  probe.args.push_back(Arg::list(std::move(all)));
  g.append_named(std::move(probe));
  g.rebuild_users();
  const SymbolValues none;
  ExecResult r = run_graph(g, none, make_inputs(g, none, 0));
  for (size_t i = 0; i < ops.size(); ++i)
    if (!ops[i]->val || ops[i]->val->kind == ValMeta::Kind::Tuple) ops[i]->val = meta_of(r.outputs[i]);
  // The real output again.
  g.erase(g.output_node());
  std::vector<Arg> outs;
  for (const auto& n : outs_names) outs.push_back(Arg::ref(g.find(n)));
  Node o;
  o.name = "output";
  o.op = OpKind::Output;
  o.target = "output";
  o.args.push_back(Arg::list(std::move(outs)));
  g.append_named(std::move(o));
  g.rebuild_users();
  g.renumber();
}

std::string num_text(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

}  // namespace

PatternCheckResult check_pattern(const Pattern& p, const PatternCheckOptions& opt) {
  PatternCheckResult res;
  res.pattern = p.name;
  res.source = p.source;
  res.stats.pattern = p.name;
  res.stats.tolerance = effective_tolerance(p, opt.verify);
  const PatternGrid grid = pattern_grid(p, opt.grid);
  res.truncated = grid.truncated;
  if (grid.points.empty()) {
    res.problem = "cannot instantiate the pattern: ";
    for (size_t i = 0; i < grid.problems.size(); ++i) res.problem += (i ? "; " : "") + grid.problems[i];
    return res;
  }
  for (const GridPoint& pt : grid.points) {
    if (res.points == opt.max_points) {
      res.truncated = true;
      break;
    }
    Graph g;
    try {
      g = instantiate_pattern(p, pt);
    } catch (const InputError& e) {
      res.problem = std::string("cannot instantiate the pattern: ") + e.what();
      return res;
    }
    try {
      infer_meta(g, p);
    } catch (const std::exception& e) {
      if (res.invalid++ == 0) res.first_invalid = pt.text + ": " + e.what();
      continue;
    }
    MatchContext ctx;
    ctx.ranges = g.ranges();
    Matcher mt(p, ctx);
    Match m;
    MatchFailure f;
    Node* root = g.find(p.nodes[p.root].name);
    if (!mt.match(root, m, &f)) {
      RegionFailure rf;
      rf.pattern = p.name;
      rf.root = root->name;
      rf.reason = "the pattern does not match its own search graph: " + f.str();
      res.failure = rf;
      res.point = pt.text;
      return res;
    }
    RegionPair pair;
    try {
      pair = cut_region(g, m, 1);
    } catch (const std::exception& e) {
      res.problem = std::string("cannot cut the region: ") + e.what();
      return res;
    }
    ++res.points;
    ++res.stats.matches;
    ++res.stats.distinct;
    if (auto fail = verify_region(pair, opt.verify, res.stats)) {
      res.failure = std::move(fail);
      res.point = pt.text;
      return res;
    }
  }
  if (res.points == 0) {
    res.problem = "cannot instantiate the pattern: its search graph is invalid at every grid point (" +
                  std::to_string(res.invalid) + "; first: " + res.first_invalid + ")";
    return res;
  }
  res.ok = true;
  return res;
}

std::vector<PatternCheckResult> check_patterns(const PatternSet& ps, const PatternCheckOptions& opt) {
  std::vector<PatternCheckResult> out;
  for (const Pattern& p : ps.patterns())
    if (p.reject.empty()) out.push_back(check_pattern(p, opt));  // a look-alike never rewrites: nothing to check
  return out;
}

bool all_ok(const std::vector<PatternCheckResult>& results) {
  for (const auto& r : results)
    if (!r.ok) return false;
  return true;
}

std::string check_report_text(const std::vector<PatternCheckResult>& results) {
  std::string s;
  size_t failed = 0;
  for (const auto& r : results) {
    if (!r.ok) ++failed;
    s += (r.ok ? "ok      " : "FAILED  ") + r.pattern + " (" + r.source + ")";
    if (!r.problem.empty()) {
      s += ": " + r.problem + "\n";
      continue;
    }
    s += ": " + std::to_string(r.points) + (r.points == 1 ? " grid point, " : " grid points, ") +
         std::to_string(r.stats.trials) + (r.stats.trials == 1 ? " trial" : " trials") + ", max difference " +
         num_text(r.stats.max_abs);
    if (r.stats.max_fp8_codes) s += " (" + std::to_string(r.stats.max_fp8_codes) + " fp8 codes)";
    if (r.stats.tolerance.any()) s += " [tolerance: " + r.stats.tolerance.reason + "]";
    if (r.invalid) s += "; " + std::to_string(r.invalid) + " points skipped (no valid search graph)";
    if (r.truncated) s += "; more grid points not run";
    s += "\n";
    if (r.failure) {
      const auto& f = *r.failure;
      s += "  counterexample: " + r.point + "\n";
      s += "    inputs " + f.inputs_str() + ", seed " + std::to_string(f.seed) + "\n";
      s += "    " + f.reason + "\n";
      s += "    reproduce: fxopt patterns --check " + r.pattern +
           (r.source.rfind("builtin:", 0) == 0 ? "" : " --pattern-file " + r.source) +
           " --verify-seed " + std::to_string(f.seed) + "\n";
    }
  }
  s += std::to_string(results.size() - failed) + " of " + std::to_string(results.size()) + " patterns pass\n";
  return s;
}

std::string check_report_json(const std::vector<PatternCheckResult>& results) {
  using Json = nlohmann::ordered_json;
  Json j;
  bool ok = true;
  j["patterns"] = Json::array();
  for (const auto& r : results) {
    ok = ok && r.ok;
    Json x{{"pattern", r.pattern}, {"source", r.source}, {"ok", r.ok}, {"points", r.points}, {"invalid_points", r.invalid},
           {"truncated", r.truncated}, {"trials", r.stats.trials}, {"max_abs_diff", r.stats.max_abs},
           {"max_fp8_code_diff", r.stats.max_fp8_codes}};
    x["problem"] = r.problem.empty() ? Json(nullptr) : Json(r.problem);
    x["tolerance"] = r.stats.tolerance.any()
                         ? Json{{"atol", r.stats.tolerance.atol}, {"rtol", r.stats.tolerance.rtol},
                                {"fp8_codes", r.stats.tolerance.fp8_codes}, {"reason", r.stats.tolerance.reason}}
                         : Json(nullptr);
    if (r.failure)
      x["counterexample"] = Json{{"values", r.point}, {"inputs", r.failure->inputs_str()}, {"seed", r.failure->seed},
                                 {"reason", r.failure->reason}};
    else
      x["counterexample"] = nullptr;
    j["patterns"].push_back(std::move(x));
  }
  j["ok"] = ok;
  return j.dump(2) + "\n";
}

}  // namespace fxopt::rt
