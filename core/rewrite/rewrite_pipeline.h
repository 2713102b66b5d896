// The rewrite pipeline shared by `fxopt rewrite`, `fxopt match`, the golden tests and the benchmark:
// load patterns (built-in + files, selected by name), normalise, match/rewrite, and render the report.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/rewrite/normalize.h"
#include "core/pattern/pattern.h"
#include "core/rewrite/rewrite.h"

namespace fxopt {

struct PipelineOptions {
  std::string target = "rocm-aiter";
  std::vector<std::string> patterns;        // names; empty or {"all"} = every pattern
  std::vector<std::string> pattern_files;   // loaded after the built-in ones
  bool normalize = true;
  std::vector<std::string> passes;          // empty = all_normalize_passes()
  size_t max_iterations = 10;
  bool dry_run = false;                     // `match`: report only, one pass, no rewrite
  bool time_patterns = false;               // per-pattern match times in the report (`--stats`)
  // Normalisation only serves matching: after rewriting, the input's spelling is restored outside the fused
  // regions (denormalize). false = keep the normalised spelling (`rewrite --keep-normalized`).
  bool restore_spelling = true;
  // Each normalisation change's description (the report's "normalize" changes, --stats' "kept" lines); false leaves
  // them empty, for a caller that shows none of them (`rewrite` without --stats).
  bool describe_changes = true;
  // "--print-after-change": called after each normalisation pass or rewrite iteration that changed the graph.
  std::function<void(const std::string& what, const Graph&)> after_change;
  // Forwarded to RewriteOptions::before_apply (region verification).
  std::function<void(const Graph&, const Match&, int id)> before_apply;
  // The graph's count_calls(), when its reader counted them (read_graph_file): saves a walk over the graph.
  const CallCounts* call_counts = nullptr;
};

struct PipelineReport {
  std::string target;
  NormalizeReport normalize;
  double normalize_seconds = 0.0;
  RewriteReport rewrite;
  std::optional<DenormalizeReport> denormalize;  // set when the spelling was restored
};

// Built-in patterns plus `files`, then `select` (empty/"all" = all). Throws InputError.
// `only`: build the built-in families' variants for this target alone (the others are listed as pruned).
// `graph`: build only the built-in spelling variants whose ops can occur in it (its own ops, their aliases and
// what any replacement can create; the others are listed as absent): they are the only ones the driver tries.
PatternSet load_patterns(const std::vector<std::string>& files, const std::vector<std::string>& select,
                         const Target* only = nullptr, const Graph* graph = nullptr);

// What `fxopt rewrite` and `fxopt match` ask for: the built-in patterns are loaded by run_pipeline once the graph
// is normalised, for that graph (as load_patterns with `graph`). The files are parsed by request_patterns(), before
// any graph is read, so that a bad pattern file is reported first.
struct PatternRequest {
  std::vector<std::vector<Pattern>> files;  // each file's patterns, in order
  std::vector<std::string> select;
  const Target* only = nullptr;
};
PatternRequest request_patterns(const std::vector<std::string>& files, const std::vector<std::string>& select,
                                const Target* only);

// Splits "a,b,c" (empty items dropped).
std::vector<std::string> split_list(const std::string& s);

PipelineReport run_pipeline(Graph& g, const PatternSet& patterns, const PipelineOptions& options);
// The same, loading the patterns after normalisation for this graph; `loaded` receives them (match reports and
// region verification refer to them).
PipelineReport run_pipeline(Graph& g, const PatternRequest& request, PatternSet& loaded, const PipelineOptions& options);

// Reports. Text is for people; JSON (documented in docs/patterns.md) has top-level "matches" and
// "near_misses" arrays, each item with at least "pattern" and "root".
std::string report_text(const PipelineReport& r, bool with_nodes);
std::string report_json(const PipelineReport& r, const std::vector<std::string>& explain);
std::string stats_text(const PipelineReport& r);

// `fxopt patterns`: each pattern, its conditions, its fused op and whether the target has it.
std::string patterns_text(const PatternSet& ps, const Target& target);
std::string patterns_json(const PatternSet& ps, const Target& target);

}  // namespace fxopt
