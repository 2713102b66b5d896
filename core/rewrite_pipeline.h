// The rewrite pipeline shared by `fxopt rewrite`, `fxopt match`, the golden tests and the benchmark:
// load patterns (built-in + files, selected by name), normalise, match/rewrite, and render the report.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/graph.h"
#include "core/normalize.h"
#include "core/pattern.h"
#include "core/rewrite.h"

namespace fxopt {

class PatternPreload;

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
  // The built-in patterns being loaded for this graph since it was read (PatternPreload, made with the request
  // run_pipeline is given); null = run_pipeline starts the load itself, with the whole graph's ops.
  PatternPreload* preload = nullptr;
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

// The built-in patterns for a graph, loaded on a second thread while the graph is read and normalised (`fxopt
// rewrite` of a small graph spent a fifth of its time loading them after normalisation). The thread parses the
// built-in files at once; when the reader has seen part of the graph (ops_seen), it builds the target's spelling
// variants whose ops can occur in a graph with the ops seen so far plus the canonical spelling each normalisation
// pass creates from one of them. take() uses the result only if every op the load asked about gets the same
// answer from the normalised graph's ops: then the load built exactly the variants that graph selects
// (load_patterns with the graph). Otherwise, or if the load threw, or it had not started, it loads them again.
class PatternPreload {
 public:
  // Starts the thread. `wait`: take() waits for a load that has not started instead of loading them itself (the
  // result then does not depend on when the thread runs: for tests).
  explicit PatternPreload(PatternRequest request, bool wait = false);
  PatternPreload(const PatternPreload&) = delete;
  PatternPreload& operator=(const PatternPreload&) = delete;
  ~PatternPreload();
  // The call targets read so far: the load starts with them. Only the first call counts.
  void ops_seen(const CallCounts& calls);
  // The patterns for `g`, whose call counts were `before` and which `normalized` then changed.
  PatternSet take(const Graph& g, const CallCounts& before, const NormalizeReport& normalized);
  // Whether take() returned the thread's load (for tests).
  bool reused() const { return reused_; }

 private:
  bool cancel();  // stops a load that has not started; false once it has

  PatternRequest request_;
  std::vector<std::string> seen_;                 // ops_seen()'s targets
  std::unordered_set<std::string_view> ops_;      // what the load assumes the normalised graph has
  std::vector<std::string> created_;              // the target's replacement ops
  std::unordered_set<std::string> asked_;         // every op the load asked about
  PatternSet result_;
  bool wait_ = false, ok_ = false, reused_ = false;
  static constexpr int kPending = 0, kPublished = 1, kRunning = 2, kCancelled = 3;
  std::atomic<int> state_{kPending};
  std::atomic<bool> done_{false};  // the thread's load has ended (result_, ok_ and asked_ are set)
  std::thread thread_;
};

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
