// `fxopt match GRAPH`: dry run: each match with its bindings and each near miss with its first failing condition.
#include <cstdio>

#include "app/commands.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/rewrite_pipeline.h"

namespace fxopt::app {

void setup_match(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("match", "Dry run: report matches and near misses (writes no graph)");
  struct Opts {
    std::string input, format = "text", target = "rocm-aiter", patterns = "all", passes;
    std::vector<std::string> pattern_files, explain;
    bool no_normalize = false;
    int expect = -1;
  };
  auto o = std::make_shared<Opts>();
  add_graph_input(cmd, o->input);
  add_format_option(cmd, o->format);
  cmd->add_option("--explain", o->explain, "Try every pattern rooted at this node's op and say why it fails (repeatable)");
  cmd->add_option("--expect-matches", o->expect, "Exit 1 unless exactly this many matches are found (for CI)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--target", o->target, "Which fused ops exist: rocm-aiter (default), gfx942, gfx950, cuda, none");
  cmd->add_option("--patterns", o->patterns, "Comma-separated pattern names, or 'all' (default)");
  cmd->add_option("--pattern-file", o->pattern_files, "Load more patterns from a JSON file (repeatable)");
  cmd->add_option("--passes", o->passes, "Comma-separated normalisation passes (default: all, in order)");
  cmd->add_flag("--no-normalize", o->no_normalize, "Skip the normalisation passes");
  cmd->callback([o, &exit_code] {
    // --explain lists every variant rooted at a node, the other targets' too; otherwise build this target's only,
    // once the graph is normalised, and for it (run_pipeline).
    const PatternRequest request = request_patterns(o->pattern_files, split_list(o->patterns),
                                                    o->explain.empty() ? &find_target(o->target) : nullptr);
    CallCounts calls;  // counted by the reader, for the pattern load (PipelineOptions::call_counts)
    Graph g = read_graph_file(o->input, &calls);
    PipelineOptions po;
    po.target = o->target;
    po.normalize = !o->no_normalize;
    po.passes = split_list(o->passes);
    po.dry_run = true;
    po.call_counts = &calls;
    PatternSet ps;
    PipelineReport r = run_pipeline(g, request, ps, po);
    std::vector<std::string> explain;
    for (const auto& n : o->explain) {
      for (auto& l : explain_node(g, ps, find_target(o->target), n)) explain.push_back(std::move(l));
      for (const auto& m : r.rewrite.matches)
        if (std::find(m.nodes.begin(), m.nodes.end(), n) != m.nodes.end())
          explain.push_back(n + " is part of match #" + std::to_string(m.id) + " (" + m.pattern + " at " + m.root + ")");
    }
    if (o->format == "json") {
      std::printf("%s", report_json(r, explain).c_str());
    } else {
      std::printf("%s", report_text(r, true).c_str());
      for (const auto& l : explain) std::printf("explain: %s\n", l.c_str());
    }
    exit_code = kExitOk;
    if (o->expect >= 0 && static_cast<size_t>(o->expect) != r.rewrite.matches.size()) {
      std::fprintf(stderr, "fxopt match: expected %d matches, found %zu\n", o->expect, r.rewrite.matches.size());
      exit_code = kExitFailure;
    }
  });
}

}  // namespace fxopt::app
