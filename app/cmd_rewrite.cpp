// `fxopt rewrite GRAPH`: normalise, then apply the fusion patterns to a fixed point; writes the rewritten graph.
#include <cstdio>
#include <optional>

#include "app/commands.h"
#include "core/fxgraph_io.h"
#include "core/rewrite_pipeline.h"
#include "runtime/compare.h"

namespace fxopt::app {

void setup_rewrite(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("rewrite", "Rewrite a graph with the fusion patterns (normalisation first)");
  struct Opts {
    std::string input, output, target = "rocm-aiter", patterns = "all", passes;
    std::vector<std::string> pattern_files;
    bool stats = false, print_after_change = false, no_normalize = false, verify = false, keep_normalized = false;
    size_t max_iterations = 10;
  };
  auto o = std::make_shared<Opts>();
  add_graph_input(cmd, o->input);
  cmd->add_option("-o,--output", o->output, "Output file (default: stdout); written only on success");
  cmd->add_option("--target", o->target, "Which fused ops exist: rocm-aiter (default), gfx942, gfx950, none");
  cmd->add_option("--patterns", o->patterns, "Comma-separated pattern names, or 'all' (default)");
  cmd->add_option("--pattern-file", o->pattern_files, "Load more patterns from a JSON file (repeatable)");
  cmd->add_option("--passes", o->passes, "Comma-separated normalisation passes (default: all, in order)");
  cmd->add_flag("--no-normalize", o->no_normalize, "Skip the normalisation passes");
  cmd->add_flag("--keep-normalized", o->keep_normalized,
                "Keep the normalised spellings outside fused regions (default: restore the input's spelling)");
  cmd->add_option("--max-iterations", o->max_iterations, "Fixed-point iteration cap (default 10)")->check(CLI::PositiveNumber);
  cmd->add_flag("--stats", o->stats, "Per pass/pattern counts and times on stderr");
  cmd->add_flag("--verify", o->verify,
                "Run original and rewritten graphs on the CPU (seeded inputs, small symbol values); write nothing "
                "unless their outputs are bit-identical");
  cmd->add_flag("--print-after-change", o->print_after_change, "Print the graph to stderr after each change");
  cmd->callback([o, &exit_code] {
    PatternSet ps = load_patterns(o->pattern_files, split_list(o->patterns));
    Graph g = read_graph_file(o->input);
    std::optional<Graph> original;
    if (o->verify) original = read_graph_text(write_graph_text(g), o->input);
    PipelineOptions po;
    po.target = o->target;
    po.normalize = !o->no_normalize;
    po.passes = split_list(o->passes);
    po.max_iterations = o->max_iterations;
    if (o->print_after_change)
      po.after_change = [](const std::string& what, const Graph& gr) {
        std::fprintf(stderr, "// ----- after %s -----\n%s", what.c_str(), write_graph_text(gr).c_str());
      };
    po.restore_spelling = !o->keep_normalized;
    PipelineReport r = run_pipeline(g, ps, po);
    const std::optional<DenormalizeReport>& dr = r.denormalize;
    if (original) {
      const rt::VerifyResult v = rt::verify_rewrite(*original, g);
      if (!v.ok) {
        std::fprintf(stderr, "fxopt rewrite: --verify failed, output not written: %s\n", v.reason.c_str());
        exit_code = kExitFailure;
        return;
      }
      std::fprintf(stderr, "fxopt rewrite: --verify: outputs bit-identical on the CPU (%zu trials)\n", v.trials.size());
    }
    write_graph_file(g, o->output);
    for (const auto& k : r.rewrite.skipped)
      std::fprintf(stderr, "fxopt rewrite: skipped pattern %s: %s\n", k.pattern.c_str(), k.reason.c_str());
    if (r.rewrite.hit_cap)
      std::fprintf(stderr, "fxopt rewrite: stopped at the iteration cap (%zu); more matches may remain\n",
                   r.rewrite.iterations);
    if (o->stats)
      std::fprintf(stderr, "%s%s%s", report_text(r, false).c_str(), stats_text(r).c_str(),
                   dr ? denormalize_stats_text(*dr).c_str() : "");
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
