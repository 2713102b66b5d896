// The rewrite driver and the rewriter: traversal, non-overlapping matches, fixed point with an iteration cap,
// and every graph mutation a pattern makes (MLIR's GreedyPatternRewriteDriver + PatternRewriter split).
//
// Each iteration visits the nodes in graph order (numbering them as it goes), tries the patterns indexed by the
// node's target (highest benefit first, then by name), takes every match whose nodes are not already taken,
// and only then applies them through the Rewriter. It repeats until an iteration finds nothing or the cap is
// hit (reported). New nodes get fresh names, a meta.val with SymInt shapes, and meta "fxopt_from"
// ({"pattern", "match"}); nodes outside the matched regions keep their names.
#pragma once

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ir/graph.h"
#include "core/pattern/match.h"
#include "core/pattern/pattern.h"

namespace fxopt {

struct MatchRecord {
  int id = 0;                                  // 1-based, in the order matches were found
  std::string pattern;
  std::string root;
  std::vector<std::string> nodes;              // matched graph nodes (region + inputs), in graph order
  std::vector<std::pair<std::string, std::string>> bindings;  // variable -> value text ("N", "s68")
  std::vector<std::pair<std::string, std::string>> inputs;    // pattern input -> graph node
  std::vector<std::string> created;            // new node names (rewrite only)
  std::string fused_op;
};

struct NearMiss {
  std::string pattern;
  std::string root;
  std::string where;    // "groups (view_5)"
  std::string reason;   // "shape[2]: 64 ≠ G=128"
  size_t progress = 0;
};

struct SkippedPattern {
  std::string pattern;
  std::string reason;   // "target none has no op vllm...."
};

struct PatternStats {
  size_t candidates = 0;   // root nodes tried
  size_t matches = 0;
  double seconds = 0.0;    // matching time
};

struct RewriteReport {
  std::vector<MatchRecord> matches;
  std::vector<NearMiss> near_misses;           // from the last iteration (the final graph)
  std::vector<SkippedPattern> skipped;
  std::map<std::string, PatternStats> stats;   // per pattern
  size_t iterations = 0;
  bool hit_cap = false;
  double match_seconds = 0.0;
  double rewrite_seconds = 0.0;
  size_t nodes_before = 0, nodes_after = 0;
  // The nodes the rewrite erased, freed with the report rather than one by one inside rewrite_graph: a caller
  // about to exit keeps the report (the kernel takes the pages back at once; freeing the nodes of a 200k-node
  // rewrite was 3 % of it).
  std::shared_ptr<std::list<Node>> erased_nodes;
};

struct RewriteOptions {
  const Target* target = nullptr;              // nullptr = the default target (rocm-aiter)
  size_t max_iterations = 10;
  bool dry_run = false;                        // match only: one iteration, the graph is not changed
  bool near_misses = true;
  bool time_patterns = false;                  // per-pattern match times (`--stats`): a clock read per attempt
  // Called after an iteration that changed the graph ("--print-after-change").
  std::function<void(const std::string& what, const Graph&)> after_change;
  // Called for each match right before it is applied (the graph still holds its region; node orders are
  // valid): region verification cuts the region out here (core/rewrite/region_graph.h).
  std::function<void(const Graph&, const Match&, int id)> before_apply;
};

// All graph mutation a rewrite does goes through here.
class Rewriter {
 public:
  explicit Rewriter(Graph& g) : g_(g) {}
  // A new call_function node right before `before`, named from `hint` (FX style: hint, hint_1, ...).
  Node* create(std::string_view hint, std::string target, std::vector<Arg> args,
               std::vector<std::pair<std::string, Arg>> kwargs, Node* before);
  // Every use of `old_node` now uses `replacement`; remembered so that later matches of the same iteration
  // that captured `old_node` use the replacement.
  void replace_all_uses(Node* old_node, Node* replacement);
  void erase(Node* n);
  Node* resolve(Node* n) const;
  // The erased nodes, moved out (the rewriter must not be used to resolve nodes afterwards).
  std::list<Node> take_erased() { return std::move(erased_); }
  Graph& graph() { return g_; }
  // meta.val of each replacement node of `m`'s pattern (on `device`). Evaluating the shapes is symbolic
  // algebra; matches of one pattern usually bind the same values (identical layers), so the last result per
  // pattern is reused while the bindings and device are the same.
  const std::vector<ValMeta>& replacement_vals(const Match& m, const std::string& device);

 private:
  struct ValCache {
    std::vector<std::optional<Value>> bindings;
    std::string device;
    std::vector<ValMeta> vals;
    std::vector<std::optional<Arg>> expr_args;  // per pattern expression: its value as an argument, once needed
  };
  struct ArgBuilder;
  friend std::vector<Node*> apply_match(Rewriter& rw, const Match& m, int id);
  // A replacement argument `$expr` under the bindings of `m` (evaluated once per distinct bindings).
  const Arg& expr_arg(const Match& m, int expr);
  Graph& g_;
  std::unordered_map<std::string, size_t> next_suffix_;
  std::unordered_map<Node*, Node*> replaced_;
  std::list<Node> erased_;  // erased nodes stay allocated while replaced_ may name them (no address reuse)
  std::unordered_map<const Pattern*, ValCache> val_cache_;
  std::unordered_map<const Pattern*, std::string> provenance_;  // meta fxopt_from up to the match id
  const std::string& provenance_prefix(const Pattern& p);
};

// Applies one match (the caller guarantees it is still valid). Returns the new nodes.
std::vector<Node*> apply_match(Rewriter& rw, const Match& m, int id);

// Runs the patterns on the graph to a fixed point (or, with dry_run, reports the matches of one pass).
RewriteReport rewrite_graph(Graph& g, const PatternSet& patterns, const RewriteOptions& options);

// For `match --explain NODE`: every pattern rooted at the node's op, tried at that node, with the outcome.
std::vector<std::string> explain_node(const Graph& g, const PatternSet& patterns, const Target& target,
                                      const std::string& node_name);

}  // namespace fxopt
