// The rewrite driver (worklist in graph order, non-overlapping matches, fixed point, cap) and the rewriter.
#include "core/rewrite/rewrite.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <tuple>
#include <unordered_set>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt {

namespace {
using Clock = std::chrono::steady_clock;
// Numbering passes of the driver (see rewrite_graph); Graph::renumber() numbers stay below 2^32.
static_assert(sizeof(size_t) >= 8, "node numbering passes need a 64-bit size_t");
std::atomic<size_t> order_epoch{0};
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Rewriter
// ---------------------------------------------------------------------------------------------------------

Node* Rewriter::create(std::string_view hint, std::string target, std::vector<Arg> args,
                       std::vector<std::pair<std::string, Arg>> kwargs, Node* before) {
  std::string base(hint.empty() ? "node" : hint);
  auto us = base.rfind('_');
  if (us != std::string::npos && us + 1 < base.size() &&
      std::all_of(base.begin() + us + 1, base.end(), [](char c) { return c >= '0' && c <= '9'; }))
    base.resize(us);
  size_t& k = next_suffix_[base];
  std::string name;
  for (;; ++k) {
    name = k == 0 ? base : base + "_" + std::to_string(k);
    if (!g_.find(name)) break;
  }
  ++k;
  // `name` is free, so Graph::fresh_name keeps it as it is. One insertion that registers the uses once (adding
  // args and then kwargs separately removed and re-added the node from every input's users list, a scan of
  // each list: long for a weight shared by every layer).
  return g_.create_node(OpKind::CallFunction, std::move(target), std::move(args), std::move(kwargs), before, name);
}

void Rewriter::replace_all_uses(Node* old_node, Node* replacement) {
  g_.replace_all_uses(old_node, replacement);
  replaced_[old_node] = replacement;
}

void Rewriter::erase(Node* n) {
  FXOPT_CHECK(n->users.empty(), "rewriter: erasing '" + n->name + "' that still has users");
  g_.erase_into(n, erased_);
}

Node* Rewriter::resolve(Node* n) const {
  for (auto it = replaced_.find(n); it != replaced_.end(); it = replaced_.find(n)) n = it->second;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Applying a match
// ---------------------------------------------------------------------------------------------------------

namespace {

Value must_eval(const Pattern& p, int expr, const std::vector<std::optional<Value>>& b) {
  auto v = eval_scalar(p, p.exprs[expr], b);
  FXOPT_CHECK(v.has_value(), "pattern '" + p.name + "': replacement expression '" + p.expr_str(expr) + "' has unbound variables");
  return *v;
}

ValMeta make_tensor_val(const Pattern& p, const TypeSpec& t, const std::vector<std::optional<Value>>& b,
                        const std::string& device) {
  ValMeta v;
  v.kind = ValMeta::Kind::Tensor;
  v.tensor.dtype = must_eval(p, t.dtype_expr, b).d;
  v.tensor.device = device;
  std::vector<sym::Expr> dims;
  for (int d : t.dims) dims.push_back(must_eval(p, d, b).i);
  std::vector<sym::Expr> strides(dims.size());
  sym::Expr s = sym::Expr::constant(1);
  for (size_t i = dims.size(); i-- > 0;) {  // contiguous unless the type gives its strides (a view)
    strides[i] = t.strides.empty() ? s : must_eval(p, t.strides[i], b).i;
    s = s * dims[i];
  }
  auto dim = [](const sym::Expr& e) {
    auto c = e.as_constant();
    return c ? SymDim(*c) : SymDim(e);
  };
  for (const auto& d : dims) v.tensor.shape.push_back(dim(d));
  for (const auto& d : strides) v.tensor.stride.push_back(dim(d));
  return v;
}

bool same_binding(const std::optional<Value>& a, const std::optional<Value>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->type == b->type && a->i == b->i && std::memcmp(&a->f, &b->f, sizeof(double)) == 0 && a->d == b->d;
}

Arg expr_arg(const Pattern& p, int expr, const std::vector<std::optional<Value>>& bindings) {
  Value v = must_eval(p, expr, bindings);
  const ScalarExpr& e = p.exprs[expr];
  if (e.op == ScalarExpr::Op::Var && p.vars[e.var].boolean) return Arg::boolean(v.i.as_constant().value_or(0) != 0);
  if (v.type == VarType::Float) return Arg::real(v.f);
  if (v.type == VarType::Dtype) return Arg::dtype(v.d);
  if (auto c = v.i.as_constant()) return Arg::integer(*c);
  return Arg::symint(SymDim(v.i));
}

}  // namespace

// The argument values of a replacement node, from the pattern's argument templates and the match.
struct Rewriter::ArgBuilder {
  Rewriter& rw;
  const Match& m;
  const std::string& device;
  const std::vector<Node*>& created;

  Arg operator()(const PatternArg& a) const {
    switch (a.kind) {
      case PatternArg::Kind::Literal:
        if (a.literal.kind == Arg::Kind::Device && a.literal.s == "$") return Arg::tagged(Arg::Kind::Device, device);
        return a.literal;
      case PatternArg::Kind::Ref: return Arg::ref(a.ref >= 0 ? rw.resolve(m.nodes[a.ref]) : created[-a.ref - 1]);
      case PatternArg::Kind::List: {
        std::vector<Arg> items;
        items.reserve(a.items.size());
        for (const auto& i : a.items) items.push_back((*this)(i));
        return Arg::list(std::move(items));
      }
      case PatternArg::Kind::Expr: return rw.expr_arg(m, a.expr);
    }
    return Arg::none();
  }
};

const std::string& Rewriter::provenance_prefix(const Pattern& p) {
  std::string& s = provenance_[&p];
  if (s.empty()) s = "{\"pattern\": " + json_quote(p.name) + ", \"match\": ";
  return s;
}

// Valid after replacement_vals(m, ...) for the same match: the cache then holds m's bindings.
const Arg& Rewriter::expr_arg(const Match& m, int expr) {
  ValCache& c = val_cache_.at(m.pattern);
  if (c.expr_args.size() != m.pattern->exprs.size()) c.expr_args.assign(m.pattern->exprs.size(), std::nullopt);
  auto& slot = c.expr_args[expr];
  if (!slot) slot = fxopt::expr_arg(*m.pattern, expr, m.bindings);
  return *slot;
}

const std::vector<ValMeta>& Rewriter::replacement_vals(const Match& m, const std::string& device) {
  const Pattern& p = *m.pattern;
  auto [it, fresh] = val_cache_.try_emplace(&p);
  ValCache& c = it->second;
  if (!fresh && c.device == device && c.bindings.size() == m.bindings.size() &&
      std::equal(c.bindings.begin(), c.bindings.end(), m.bindings.begin(), same_binding))
    return c.vals;
  std::vector<ValMeta> vals;
  for (const auto& r : p.replacement) {
    if (r.tuple) {
      ValMeta t;
      t.kind = ValMeta::Kind::Tuple;
      for (const auto& v : r.vals) t.items.push_back(v.dtype_expr < 0 ? ValMeta{} : make_tensor_val(p, v, m.bindings, device));
      vals.push_back(std::move(t));
    } else {
      vals.push_back(make_tensor_val(p, r.vals[0], m.bindings, device));
    }
  }
  c.vals = std::move(vals);
  c.expr_args.clear();
  c.bindings = m.bindings;
  c.device = device;
  return c.vals;
}

std::vector<Node*> apply_match(Rewriter& rw, const Match& m, int id) {
  const Pattern& p = *m.pattern;
  // The replacement goes before the first output, after every input (a residual output may come before a later
  // input: then right after the last input, which must still precede every use of the outputs).
  Node* before = nullptr;
  for (int o : p.outputs)
    if (!before || m.nodes[o]->order < before->order) before = m.nodes[o];
  Node* last_input = nullptr;
  for (size_t k = 0; k < p.nodes.size() && p.outputs.size() > 1; ++k) {  // one output: it follows every input
    if (!p.nodes[k].is_input) continue;
    Node* in = rw.resolve(m.nodes[k]);  // an earlier match of this iteration may have replaced it (order 0: early)
    if (in->order > before->order && (!last_input || in->order > last_input->order)) last_input = in;
  }
  if (last_input) {
    auto& list = rw.graph().nodes();
    auto it = std::find_if(list.begin(), list.end(), [&](const Node& n) { return &n == last_input; });
    ++it;
    before = it == list.end() ? nullptr : &*it;
    for (int o : p.outputs)
      for (const Node* u : m.nodes[o]->users)
        FXOPT_CHECK(u->order > last_input->order || std::find(m.region.begin(), m.region.end(), u) != m.region.end(),
                    "pattern '" + p.name + "': output " + m.nodes[o]->name + " is used before input " + last_input->name);
  }
  std::string device;
  if (p.device_input >= 0) {
    const Node* d = m.nodes[p.device_input];
    if (d->val && d->val->is_tensor()) device = d->val->tensor.device;
  }
  std::string provenance = rw.provenance_prefix(p) + std::to_string(id) + "}";
  std::vector<Node*> created;
  const std::vector<ValMeta>& vals = rw.replacement_vals(m, device);
  Rewriter::ArgBuilder build{rw, m, device, created};
  for (size_t ri = 0; ri < p.replacement.size(); ++ri) {
    const ReplacementNode& r = p.replacement[ri];
    std::vector<Arg> args;
    args.reserve(r.args.size());
    for (const auto& a : r.args) args.push_back(build(a));
    std::vector<std::pair<std::string, Arg>> kwargs;
    for (const auto& [k, a] : r.kwargs) kwargs.emplace_back(k, build(a));
    Node* n = rw.create(r.name, r.target, std::move(args), std::move(kwargs), before);
    n->val = vals[ri];
    n->set_meta("fxopt_from", provenance);
    created.push_back(n);
  }
  for (const auto& [out, r] : p.replace) rw.replace_all_uses(m.nodes[p.outputs[out]], created[r]);
  std::vector<Node*> region = m.region;
  std::sort(region.begin(), region.end(), [](const Node* a, const Node* b) { return a->order > b->order; });
  for (Node* n : region) rw.erase(n);
  // Output buffers the region wrote (aten.empty* captured as inputs of an auto_functionalized spelling) are dead
  // now: they go too, with a view of them (a column-major scale buffer is empty(...).permute(...)).
  for (size_t k = 0; k < p.nodes.size(); ++k) {
    if (!p.nodes[k].is_input) continue;
    Node* n = rw.resolve(m.nodes[k]);
    while (n && n->users.empty() && n->op == OpKind::CallFunction &&
           (n->target == "aten.empty.memory_format" || n->target == "aten.empty_like.default" ||
            n->target == "aten.empty_strided.default" || n->target == "aten.permute.default")) {
      Node* src = n->target == "aten.permute.default" && !n->args.empty() && n->args[0].is_node() ? n->args[0].node : nullptr;
      rw.erase(n);
      n = src;
    }
  }
  return created;
}

// ---------------------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------------------

namespace {

// The binding texts of the last match of each pattern: layers of a model bind the same values, and printing a
// float the way Python does costs more than the rest of a record.
struct BindingTexts {
  std::vector<std::optional<Value>> bindings;
  std::vector<std::pair<std::string, std::string>> texts;
};

MatchRecord make_record(const Match& m, int id, BindingTexts& cache) {
  const Pattern& p = *m.pattern;
  MatchRecord r;
  r.id = id;
  r.pattern = p.name;
  r.root = m.root->name;
  r.fused_op = p.fused_op;
  std::vector<const Node*> all(m.region.begin(), m.region.end());
  std::sort(all.begin(), all.end(), [](const Node* a, const Node* b) { return a->order < b->order; });
  r.nodes.reserve(all.size());
  for (const Node* n : all) r.nodes.push_back(n->name);
  for (size_t k = 0; k < p.nodes.size(); ++k)
    if (p.nodes[k].is_input) r.inputs.emplace_back(p.nodes[k].name, m.nodes[k]->name);
  if (cache.bindings.size() != m.bindings.size() ||
      !std::equal(cache.bindings.begin(), cache.bindings.end(), m.bindings.begin(), same_binding)) {
    cache.texts.clear();
    for (size_t v = 0; v < p.vars.size(); ++v)
      if (m.bindings[v]) cache.texts.emplace_back(p.vars[v].name, m.bindings[v]->str());
    cache.bindings = m.bindings;
  }
  r.bindings = cache.texts;
  return r;
}

}  // namespace

RewriteReport rewrite_graph(Graph& g, const PatternSet& patterns, const RewriteOptions& opt) {
  RewriteReport report;
  const Target& target = opt.target ? *opt.target : find_target("rocm-aiter");
  report.nodes_before = g.size();
  const auto& ps = patterns.patterns();
  std::vector<char> active(ps.size(), 0);
  // Variants never built (their fused op is not on the target the built-ins were loaded for), then the others;
  // the lines are sorted below, so a load for the target and a full load report them alike.
  for (const auto& pr : patterns.pruned()) {
    std::string reason = "target " + target.name + " has no op " + pr.fused_op;
    bool seen = false;
    for (const auto& s : report.skipped) seen = seen || (s.pattern == pr.family && s.reason == reason);
    if (!seen) report.skipped.push_back({pr.family, reason});
  }
  for (size_t i = 0; i < ps.size(); ++i) {
    report.stats[ps[i].name];
    if (target.has_op(ps[i].fused_op)) active[i] = 1;
    else {
      // One line per family and missing op (a family expands to one pattern per spelling).
      std::string reason = "target " + target.name + " has no op " + ps[i].fused_op;
      bool seen = false;
      for (const auto& s : report.skipped) seen = seen || (s.pattern == ps[i].family && s.reason == reason);
      if (!seen) report.skipped.push_back({ps[i].family.empty() ? ps[i].name : ps[i].family, reason});
    }
  }
  // A family with a variant for this target is not "skipped" (its other targets' variants are), even when that
  // variant was left unbuilt because the graph lacks its ops.
  {
    std::vector<SkippedPattern> kept;
    for (auto& sk : report.skipped) {
      bool family_active = false;
      for (size_t i = 0; i < ps.size(); ++i) family_active = family_active || (active[i] && ps[i].family == sk.pattern);
      for (const auto& a : patterns.absent())
        family_active = family_active || (a.family == sk.pattern && target.has_op(a.fused_op));
      if (!family_active) kept.push_back(std::move(sk));
    }
    std::sort(kept.begin(), kept.end(), [](const SkippedPattern& a, const SkippedPattern& b) {
      return std::tie(a.pattern, a.reason) < std::tie(b.pattern, b.reason);
    });
    report.skipped = std::move(kept);
  }
  std::vector<uint8_t> consumed;
  std::vector<const Node*> ahead;
  MatchContext ctx;
  ctx.ranges = g.ranges();
  ctx.target = &target;
  ctx.consumed = &consumed;
  ctx.consumed_ahead = &ahead;
  std::vector<std::unique_ptr<Matcher>> matchers;
  std::vector<PatternStats*> stats;
  for (const auto& p : ps) {
    matchers.push_back(std::make_unique<Matcher>(p, ctx));
    matchers.back()->set_record_reasons(false);
    stats.push_back(&report.stats[p.name]);
  }
  // A spelling variant (of a family with fragments) whose ops do not all occur in the graph can neither match
  // nor be a near miss (a structural failure of one spelling is never reported): it is not tried. The graph's
  // ops only grow by the replacements' nodes, added as they are created.
  std::unordered_set<const std::string*> graph_ops;
  for (const Node& n : g.nodes())
    if (n.op == OpKind::CallFunction) graph_ops.insert(&n.target.str());
  std::vector<std::vector<std::vector<const std::string*>>> needs(ps.size());  // per op node: its accepted targets
  for (size_t i = 0; i < ps.size(); ++i) {
    if (ps[i].spelling.empty()) continue;
    for (const auto& pn : ps[i].nodes) {
      if (pn.is_input || pn.reshape_like || pn.target.empty()) continue;
      std::vector<const std::string*> any{intern_text(pn.target)};
      for (const auto& a : op_aliases(pn.target)) any.push_back(intern_text(a));
      needs[i].push_back(std::move(any));
    }
  }
  auto ops_present = [&](size_t i) {
    for (const auto& any : needs[i])
      if (std::none_of(any.begin(), any.end(), [&](const std::string* t) { return graph_ops.count(t) != 0; }))
        return false;
    return true;
  };
  std::vector<char> tried(ps.size(), 0);
  std::vector<BindingTexts> binding_texts(ps.size());
  int next_id = 1;
  for (size_t iter = 0;; ++iter) {
    if (iter == opt.max_iterations) {
      report.hit_cap = true;
      break;
    }
    ++report.iterations;
    for (size_t i = 0; i < ps.size(); ++i) tried[i] = active[i] && ops_present(i);
    auto t_match = Clock::now();
    // Nodes are numbered as the scan reaches them, in the one walk over the list (a separate renumber() walk
    // costs as much as the scan on a large graph: every node is a cache miss). This pass's numbers start above
    // every number handed out before, so a node the scan has not reached yet has order < base; nodes a match
    // takes ahead of the scan wait in `ahead` (a few at a time) until the scan numbers them.
    const size_t base = (++order_epoch) << 32;
    ctx.order_base = base;
    consumed.assign(g.size(), 0);
    ahead.clear();
    report.near_misses.clear();
    std::vector<Match> found;
    std::vector<const Node*> miss_roots;
    Match m;
    size_t pos = 0;
    for (Node& n : g.nodes()) {
      n.order = base + pos++;
      if (!ahead.empty()) {
        auto it = std::find(ahead.begin(), ahead.end(), &n);
        if (it != ahead.end()) {
          consumed[n.order - base] = 1;
          ahead.erase(it);
        }
      }
      if (n.op != OpKind::CallFunction) continue;
      const std::vector<int>* list = patterns.rooted_at(n.target);
      if (!list || consumed[n.order - base]) continue;
      // One near miss per family at a node: the variant (spelling) that came closest.
      struct NodeMiss { int pattern; size_t rank; NearMiss miss; };
      std::vector<NodeMiss> node_misses;
      auto add_miss = [&](int pi, size_t rank, NearMiss nm) {
        for (auto& q : node_misses)
          if (ps[q.pattern].family == ps[pi].family) {
            if (rank > q.rank) q = NodeMiss{pi, rank, std::move(nm)};
            return;
          }
        node_misses.push_back(NodeMiss{pi, rank, std::move(nm)});
      };
      // One clock read per attempt: each attempt's time runs from the previous read (a node tries dozens of
      // spelling variants; two reads each were a tenth of a 200k-node rewrite).
      auto t_prev = opt.time_patterns ? Clock::now() : Clock::time_point();
      for (int pi : *list) {
        if (!tried[pi]) continue;
        ++stats[pi]->candidates;
        bool ok = matchers[pi]->match(&n, m, nullptr);
        if (opt.time_patterns) {
          const auto t_now = Clock::now();
          stats[pi]->seconds += std::chrono::duration<double>(t_now - t_prev).count();
          t_prev = t_now;
        }
        if (ok && !ps[pi].reject.empty()) {
          // A look-alike: never rewritten; a full match is the closest a near miss gets.
          if (opt.near_misses) add_miss(pi, SIZE_MAX, {ps[pi].name, n.name, "spelling", ps[pi].reject, m.region.size()});
          m = Match();
          continue;
        }
        if (ok) {
          ++stats[pi]->matches;
          for (Node* r : m.region) {
            if (r->order >= base) consumed[r->order - base] = 1;
            else if (std::find(ahead.begin(), ahead.end(), r) == ahead.end()) ahead.push_back(r);
          }
          found.push_back(std::move(m));
          m = Match();
          break;
        }
        // A spelling variant is near when its whole structure matched (a value, a guard or the closure failed) or
        // its ops matched up to a node whose literal argument differs (silu of the wrong half): another op on the
        // way is just another spelling of the graph.
        if (opt.near_misses && matchers[pi]->is_near_miss(matchers[pi]->last_failure()) &&
            (ps[pi].spelling.empty() || !matchers[pi]->last_failure().structural ||
             matchers[pi]->last_failure().literal)) {
          // Rare: run again with the failure text recorded.
          matchers[pi]->set_record_reasons(true);
          matchers[pi]->match(&n, m, nullptr);
          matchers[pi]->set_record_reasons(false);
          const MatchFailure& f = matchers[pi]->last_failure();
          add_miss(pi, f.structural ? f.progress : f.progress + (size_t{1} << 32),
                   {ps[pi].name, n.name, f.where, f.reason, f.progress});
          t_prev = Clock::now();  // the re-run is not the next attempt's time
        }
      }
      for (auto& q : node_misses) {
        report.near_misses.push_back(std::move(q.miss));
        miss_roots.push_back(&n);
      }
    }
    // A near miss whose root ended up inside a match is not interesting.
    if (!found.empty() && !report.near_misses.empty()) {
      std::vector<NearMiss> kept;
      for (size_t i = 0; i < report.near_misses.size(); ++i)
        if (!consumed[miss_roots[i]->order - base]) kept.push_back(std::move(report.near_misses[i]));
      report.near_misses = std::move(kept);
    }
    std::vector<int> ids;
    for (const auto& f : found) {
      ids.push_back(next_id);
      report.matches.push_back(make_record(f, next_id++, binding_texts[f.pattern - ps.data()]));
    }
    report.match_seconds += seconds_since(t_match);
    if (opt.dry_run || found.empty()) break;
    auto t_rw = Clock::now();
    Rewriter rw(g);
    if (opt.before_apply)
      for (size_t i = 0; i < found.size(); ++i) opt.before_apply(g, found[i], ids[i]);
    for (size_t i = 0; i < found.size(); ++i) {
      auto created = apply_match(rw, found[i], ids[i]);
      auto& rec = report.matches[report.matches.size() - found.size() + i];
      for (const Node* c : created) {
        rec.created.push_back(c->name);
        graph_ops.insert(&c->target.str());
      }
    }
    if (!report.erased_nodes) report.erased_nodes = std::make_shared<std::list<Node>>();
    report.erased_nodes->splice(report.erased_nodes->end(), rw.take_erased());
    report.rewrite_seconds += seconds_since(t_rw);
    if (opt.after_change) opt.after_change("rewrite iteration " + std::to_string(iter + 1) + " (" +
                                               std::to_string(found.size()) + " matches)", g);
  }
  report.nodes_after = g.size();
  return report;
}

std::vector<std::string> explain_node(const Graph& g, const PatternSet& patterns, const Target& target,
                                      const std::string& node_name) {
  Node* n = g.find(node_name);
  if (!n) throw InputError("--explain: no node named '" + node_name + "'");
  std::vector<std::string> out;
  const_cast<Graph&>(g).renumber();
  MatchContext ctx;
  ctx.ranges = g.ranges();
  ctx.target = &target;
  const std::vector<int>* list = n->op == OpKind::CallFunction ? patterns.rooted_at(n->target) : nullptr;
  if (!list || list->empty()) {
    std::string roots;
    for (const auto& p : patterns.patterns()) roots += (roots.empty() ? "" : ", ") + p.name + " at " + p.root_target();
    out.push_back(node_name + " (" + n->target + "): no pattern is rooted at this op (roots: " + roots + ")");
    return out;
  }
  for (int pi : *list) {
    const Pattern& p = patterns.patterns()[pi];
    if (!target.has_op(p.fused_op)) {
      out.push_back(p.name + " at " + node_name + ": skipped: target " + target.name + " has no op " + p.fused_op);
      continue;
    }
    Matcher mt(p, ctx);
    Match m;
    MatchFailure f;
    if (mt.match(n, m, &f) && !p.reject.empty())
      out.push_back(p.name + " at " + node_name + ": a look-alike, not fused: " + p.reject);
    else if (m.pattern == &p)
      out.push_back(p.name + " at " + node_name + ": matches (" + m.bindings_str() + ")");
    else
      out.push_back(p.name + " at " + node_name + ": no match: " + f.str() + " [" + std::to_string(f.progress) + "/" +
                    std::to_string(p.nodes.size()) + " pattern nodes matched]");
  }
  return out;
}

}  // namespace fxopt
