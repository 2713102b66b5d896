// The rewrite pipeline (patterns, normalisation, driver) and its text/JSON reports.
#include "core/rewrite/rewrite_pipeline.h"

#include <chrono>
#include <cstdio>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

namespace {

using OpSet = std::unordered_set<std::string_view>;

// Which ops can occur in a graph with the ops `ops`: them, their aliases and the reshape-like ops.
bool op_available(const OpSet& ops, const std::string& op) {
  if (is_reshape_like(op) || ops.count(op)) return true;
  for (const auto& a : op_aliases(op))
    if (ops.count(a)) return true;
  return false;
}

// The ops a rewrite can add to a graph: the request's files' replacements and the target's built-in ones.
// `created` holds the texts `ops` refers to.
void add_replacement_ops(const PatternRequest& request, OpSet& ops, std::vector<std::string>& created) {
  created = PatternSet::builtin_replacement_ops(*request.only);
  for (const auto& op : created) ops.insert(op);
  for (const auto& file : request.files)
    for (const auto& p : file)
      for (const auto& r : p.replacement) ops.insert(r.target);
}

// The built-in patterns (every target's, the request's target's, or, given `available`, those of its variants
// whose ops it accepts), then the request's files, then its selection.
PatternSet load_with_filter(PatternRequest request, const OpFilter& available) {
  PatternSet ps = request.only ? PatternSet::builtin(*request.only, available) : PatternSet::builtin();
  for (auto& file : request.files) ps.add(std::move(file));
  ps.select(request.select);
  return ps;
}

// The built-in patterns (every target's, the request's target's, or, given a graph, those of its variants whose
// ops can occur in the graph), then the request's files, then its selection. The graph's ops: from `counts` (its
// call counts, as the reader counted them before `normalized` changed it) when the changes' records tell how they
// changed, else from a walk over the graph (at 200k nodes a walk took 9 ms, the nodes no longer in cache).
PatternSet load_for_graph(PatternRequest request, const Graph* graph, const CallCounts* counts = nullptr,
                          const NormalizeReport* normalized = nullptr) {
  OpSet ops;
  std::vector<std::string> created;
  OpFilter available;
  if (request.only && graph) {
    CallCounts now;
    if (!counts || !normalized || !count_calls_after(now = *counts, *normalized)) now = count_calls(*graph);
    for (const auto& [target, n] : now)  // (interned texts: they outlive any change to the graph)
      if (n > 0) ops.insert(*target);
    add_replacement_ops(request, ops, created);
    available = [&ops](const std::string& op) { return op_available(ops, op); };
  }
  return load_with_filter(std::move(request), available);
}

}  // namespace

PatternSet load_patterns(const std::vector<std::string>& files, const std::vector<std::string>& select,
                         const Target* only, const Graph* graph) {
  return load_for_graph(request_patterns(files, select, only), graph);
}

PatternRequest request_patterns(const std::vector<std::string>& files, const std::vector<std::string>& select,
                                const Target* only) {
  PatternRequest r{{}, select, only};
  for (const auto& f : files) r.files.push_back(parse_pattern_file(read_text_file(f), f));
  return r;
}

namespace {

PipelineReport normalize_stage(Graph& g, const PipelineOptions& o) {
  PipelineReport r;
  const Target& target = find_target(o.target);
  r.target = target.name;
  std::vector<std::string> passes = o.passes.empty() ? all_normalize_passes() : o.passes;
  if (o.normalize) {
    auto t0 = std::chrono::steady_clock::now();
    if (!o.after_change) {
      r.normalize = normalize(g, passes, o.describe_changes);
    } else {
      // One pass at a time so that the graph can be shown after each pass that changed it.
      for (int round = 0; round < 8; ++round) {
        size_t changed = 0;
        for (const auto& p : passes) {
          NormalizeReport one = normalize(g, {p}, o.describe_changes);
          for (auto& c : one.changes) r.normalize.changes.push_back(std::move(c));
          for (auto& [k, v] : one.counts) { r.normalize.counts[k] += v; changed += v; }
          for (auto& [k, v] : one.seconds) r.normalize.seconds[k] += v;
          if (one.counts[p] > 0) o.after_change("normalize " + p + " (" + std::to_string(one.counts[p]) + " changes)", g);
        }
        if (changed == 0) break;
      }
    }
    r.normalize_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else if (!o.passes.empty()) {
    normalize(g, {});  // nothing runs; the pass names are still validated below
    for (const auto& p : o.passes) {
      auto all = all_normalize_passes();
      if (std::find(all.begin(), all.end(), p) == all.end()) normalize(g, {p});  // throws the precise error
    }
  }
  return r;
}

void rewrite_stage(Graph& g, const PatternSet& patterns, const PipelineOptions& o, PipelineReport& r) {
  const Target& target = find_target(o.target);
  RewriteOptions ro;
  ro.target = &target;
  ro.max_iterations = o.max_iterations;
  ro.dry_run = o.dry_run;
  ro.time_patterns = o.time_patterns;
  ro.after_change = o.after_change;
  ro.before_apply = o.before_apply;
  r.rewrite = rewrite_graph(g, patterns, ro);
  if (o.normalize && o.restore_spelling && !o.dry_run) {
    r.denormalize = denormalize(g, r.normalize);
    if (o.after_change && r.denormalize->restored > 0)
      o.after_change("denormalize (" + std::to_string(r.denormalize->restored) + " changes restored)", g);
  }
}

}  // namespace

PipelineReport run_pipeline(Graph& g, const PatternSet& patterns, const PipelineOptions& o) {
  PipelineReport r = normalize_stage(g, o);
  rewrite_stage(g, patterns, o, r);
  return r;
}

PipelineReport run_pipeline(Graph& g, const PatternRequest& request, PatternSet& loaded, const PipelineOptions& o) {
  PipelineReport r = normalize_stage(g, o);
  loaded = load_for_graph(request, &g, o.call_counts, &r.normalize);
  rewrite_stage(g, loaded, o, r);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------------------

namespace {
std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}
std::string ms(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f ms", s * 1e3);
  return b;
}
}  // namespace

std::string report_text(const PipelineReport& r, bool with_nodes) {
  std::string s;
  for (const auto& m : r.rewrite.matches) {
    std::string b;
    for (const auto& [k, v] : m.bindings) b += (b.empty() ? "" : ", ") + k + "=" + v;
    s += "match #" + std::to_string(m.id) + ": " + m.pattern + " at " + m.root + ": " + b + "\n";
    if (with_nodes) {
      std::string in;
      for (const auto& [k, v] : m.inputs) in += (in.empty() ? "" : ", ") + k + "=" + v;
      s += "  inputs: " + in + "\n";
      s += "  nodes: " + join(m.nodes, " ") + "\n";
      if (!m.created.empty()) s += "  replaced by: " + join(m.created, " ") + " (" + m.fused_op + ")\n";
    }
  }
  for (const auto& n : r.rewrite.near_misses)
    s += "near miss: " + n.pattern + " at " + n.root + ": " + (n.where.empty() ? "" : n.where + ": ") + n.reason + "\n";
  for (const auto& k : r.rewrite.skipped) s += "skipped: " + k.pattern + ": " + k.reason + "\n";
  if (r.rewrite.hit_cap)
    s += "note: stopped at the iteration cap (" + std::to_string(r.rewrite.iterations) + " iterations); more matches may remain\n";
  s += std::to_string(r.rewrite.matches.size()) + " match" + (r.rewrite.matches.size() == 1 ? "" : "es") + ", " +
       std::to_string(r.rewrite.near_misses.size()) + " near miss" + (r.rewrite.near_misses.size() == 1 ? "" : "es") +
       " (target " + r.target + ")\n";
  return s;
}

std::string report_json(const PipelineReport& r, const std::vector<std::string>& explain) {
  std::string s = "{\n  \"target\": " + json_quote(r.target) + ",\n  \"matches\": [";
  bool first = true;
  for (const auto& m : r.rewrite.matches) {
    s += first ? "\n" : ",\n";
    first = false;
    s += "    {\"id\": " + std::to_string(m.id) + ", \"pattern\": " + json_quote(m.pattern) + ", \"root\": " +
         json_quote(m.root) + ", \"fused_op\": " + json_quote(m.fused_op) + ", \"bindings\": {";
    bool f2 = true;
    for (const auto& [k, v] : m.bindings) { s += (f2 ? "" : ", ") + json_quote(k) + ": " + json_quote(v); f2 = false; }
    s += "}, \"inputs\": {";
    f2 = true;
    for (const auto& [k, v] : m.inputs) { s += (f2 ? "" : ", ") + json_quote(k) + ": " + json_quote(v); f2 = false; }
    s += "}, \"nodes\": [";
    f2 = true;
    for (const auto& n : m.nodes) { s += (f2 ? "" : ", ") + json_quote(n); f2 = false; }
    s += "]}";
  }
  s += first ? "],\n" : "\n  ],\n";
  s += "  \"near_misses\": [";
  first = true;
  for (const auto& n : r.rewrite.near_misses) {
    s += first ? "\n" : ",\n";
    first = false;
    s += "    {\"pattern\": " + json_quote(n.pattern) + ", \"root\": " + json_quote(n.root) + ", \"where\": " +
         json_quote(n.where) + ", \"reason\": " + json_quote(n.reason) + ", \"progress\": " + std::to_string(n.progress) + "}";
  }
  s += first ? "],\n" : "\n  ],\n";
  s += "  \"skipped\": [";
  first = true;
  for (const auto& k : r.rewrite.skipped) {
    s += (first ? "" : ", ") + std::string("{\"pattern\": ") + json_quote(k.pattern) + ", \"reason\": " + json_quote(k.reason) + "}";
    first = false;
  }
  s += "],\n  \"normalize\": {\"changes\": [";
  first = true;
  for (const auto& c : r.normalize.changes) {
    s += (first ? "" : ", ") + std::string("{\"pass\": ") + json_quote(c.pass) + ", \"description\": " + json_quote(c.description) + "}";
    first = false;
  }
  s += "]},\n  \"explain\": [";
  first = true;
  for (const auto& e : explain) { s += (first ? "" : ", ") + json_quote(e); first = false; }
  s += "],\n  \"iterations\": " + std::to_string(r.rewrite.iterations) + ",\n  \"hit_cap\": " +
       (r.rewrite.hit_cap ? "true" : "false") + "\n}\n";
  return s;
}

std::string stats_text(const PipelineReport& r) {
  std::string s;
  char line[256];
  size_t total = 0;
  for (const auto& [k, v] : r.normalize.counts) total += v;
  std::snprintf(line, sizeof line, "normalize: %zu changes, %s\n", total, ms(r.normalize_seconds).c_str());
  s += line;
  for (const auto& [k, v] : r.normalize.counts) {
    auto it = r.normalize.seconds.find(k);
    std::snprintf(line, sizeof line, "  %-28s %6zu  %s\n", k.c_str(), v, ms(it == r.normalize.seconds.end() ? 0 : it->second).c_str());
    s += line;
  }
  std::snprintf(line, sizeof line, "patterns (target %s): %zu iterations%s\n", r.target.c_str(), r.rewrite.iterations,
                r.rewrite.hit_cap ? " (iteration cap hit)" : "");
  s += line;
  std::snprintf(line, sizeof line, "  %-36s %10s %8s  %s\n", "pattern", "candidates", "matches", "match time");
  s += line;
  for (const auto& [k, v] : r.rewrite.stats) {
    std::snprintf(line, sizeof line, "  %-36s %10zu %8zu  %s\n", k.c_str(), v.candidates, v.matches, ms(v.seconds).c_str());
    s += line;
  }
  for (const auto& k : r.rewrite.skipped) s += "  skipped " + k.pattern + ": " + k.reason + "\n";
  std::snprintf(line, sizeof line, "matching %s, rewriting %s; %zu -> %zu nodes\n", ms(r.rewrite.match_seconds).c_str(),
                ms(r.rewrite.rewrite_seconds).c_str(), r.rewrite.nodes_before, r.rewrite.nodes_after);
  s += line;
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// `fxopt patterns`
// ---------------------------------------------------------------------------------------------------------

namespace {
std::string var_text(const VarDecl& v) {
  std::string s = v.name + ": " + to_string(v.type);
  if (v.value) s += " = " + v.value->str();
  if (!v.one_of.empty()) {
    std::vector<std::string> o;
    for (const auto& x : v.one_of) o.push_back(x.str());
    s += " in {" + join(o, ", ") + "}";
  }
  return s;
}
std::string type_text(const Pattern& p, const TypeSpec& t) {
  if (t.dtype_expr < 0) return "None";
  std::vector<std::string> d;
  for (int e : t.dims) d.push_back(p.expr_str(e));
  std::vector<std::string> st;
  for (int e : t.strides) st.push_back(p.expr_str(e));
  return p.expr_str(t.dtype_expr) + " [" + join(d, ", ") + "]" + (st.empty() ? "" : " stride [" + join(st, ", ") + "]");
}
std::string fp8_note(const Pattern& p, const Target& t) {
  // Which fp8 formats of the pattern the target can run.
  for (const auto& v : p.vars) {
    if (v.type != VarType::Dtype || v.one_of.empty()) continue;
    std::vector<std::string> ok;
    for (const auto& o : v.one_of) if (t.has_fp8(o.d)) ok.push_back(o.d);
    return v.name + " on this target: " + (ok.empty() ? "none" : join(ok, ", "));
  }
  return "";
}
}  // namespace

std::string patterns_text(const PatternSet& ps, const Target& target) {
  std::string s;
  for (const auto& p : ps.patterns()) {
    bool has = target.has_op(p.fused_op);
    s += p.name + "  (" + p.source + ", benefit " + std::to_string(p.benefit) + ")\n";
    if (!p.description.empty()) s += "  " + p.description + "\n";
    for (const auto& l : p.diagram) s += "    | " + l + "\n";
    s += "  root: " + p.root_target() + "; " + std::to_string(p.op_node_count()) + " nodes; outputs: " + join(p.output_names, ", ") + "\n";
    std::vector<std::string> vars, inputs, conds;
    for (const auto& v : p.vars) vars.push_back(var_text(v));
    for (const auto& n : p.nodes) if (n.is_input) inputs.push_back(n.name + ": " + (n.type ? type_text(p, *n.type) : "any"));
    for (const auto& c : p.conditions) conds.push_back(c.text);
    s += "  vars: " + join(vars, "; ") + "\n";
    s += "  inputs: " + join(inputs, "; ") + "\n";
    s += "  conditions: " + (conds.empty() ? std::string("none") : join(conds, "; ")) + "\n";
    s += "  fused op: " + p.fused_op + " -- " + (has ? "available" : "MISSING") + " on target " + target.name;
    std::string note = has ? fp8_note(p, target) : "";
    s += (note.empty() ? "" : " (" + note + ")") + "\n\n";
  }
  s += "targets:\n";
  for (const auto& t : all_targets())
    s += "  " + t.name + (t.name == target.name ? " (selected)" : "") + ": " + t.description + "\n";
  return s;
}

std::string patterns_json(const PatternSet& ps, const Target& target) {
  std::string s = "{\n  \"target\": " + json_quote(target.name) + ",\n  \"patterns\": [";
  bool first = true;
  for (const auto& p : ps.patterns()) {
    s += first ? "\n" : ",\n";
    first = false;
    s += "    {\"name\": " + json_quote(p.name) + ", \"source\": " + json_quote(p.source) + ", \"description\": " +
         json_quote(p.description) + ", \"root\": " + json_quote(p.root_target()) + ", \"benefit\": " +
         std::to_string(p.benefit) + ", \"fused_op\": " + json_quote(p.fused_op) + ", \"available\": " +
         (target.has_op(p.fused_op) ? "true" : "false") + ", \"vars\": {";
    bool f2 = true;
    for (const auto& v : p.vars) {
      s += (f2 ? "" : ", ") + json_quote(v.name) + ": " + json_quote(var_text(v).substr(v.name.size() + 2));
      f2 = false;
    }
    s += "}, \"inputs\": {";
    f2 = true;
    for (const auto& n : p.nodes) {
      if (!n.is_input) continue;
      s += (f2 ? "" : ", ") + json_quote(n.name) + ": " + json_quote(n.type ? type_text(p, *n.type) : "any");
      f2 = false;
    }
    s += "}, \"conditions\": [";
    f2 = true;
    for (const auto& c : p.conditions) { s += (f2 ? "" : ", ") + json_quote(c.text); f2 = false; }
    s += "], \"outputs\": [";
    f2 = true;
    for (const auto& o : p.output_names) { s += (f2 ? "" : ", ") + json_quote(o); f2 = false; }
    s += "]}";
  }
  s += "\n  ],\n  \"targets\": [";
  first = true;
  for (const auto& t : all_targets()) {
    s += (first ? "" : ", ") + std::string("{\"name\": ") + json_quote(t.name) + ", \"ops\": [";
    first = false;
    bool f2 = true;
    for (const auto& o : t.ops) { s += (f2 ? "" : ", ") + json_quote(o); f2 = false; }
    s += "], \"fp8_dtypes\": [";
    f2 = true;
    for (const auto& o : t.fp8_dtypes) { s += (f2 ? "" : ", ") + json_quote(o); f2 = false; }
    s += "]}";
  }
  s += "]\n}\n";
  return s;
}

}  // namespace fxopt
