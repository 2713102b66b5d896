// `fxopt rewrite GRAPH`: normalise, then apply the fusion patterns to a fixed point; writes the rewritten graph.
#include <cstdio>
#include <optional>

#include "app/commands.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "core/ir/error.h"
#include "core/rewrite/region_graph.h"
#include "runtime/compare.h"
#include "runtime/region_verify.h"

namespace fxopt::app {

void setup_rewrite(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("rewrite", "Rewrite a graph with the fusion patterns (normalisation first)");
  struct Opts {
    std::string input, output, target = "rocm-aiter", patterns = "all", passes;
    std::vector<std::string> pattern_files;
    bool stats = false, print_after_change = false, no_normalize = false, keep_normalized = false;
    size_t max_iterations = 10;
    std::string verify, format = "text";  // verify: "" (off), "regions", "graph"
    int verify_trials = 1;
    uint64_t verify_seed = 0;
    std::vector<std::string> dims;
    std::optional<double> rtol, atol;
  };
  auto o = std::make_shared<Opts>();
  add_graph_input(cmd, o->input);
  cmd->add_option("-o,--output", o->output, "Output file (default: stdout); written only on success");
  cmd->add_option("--target", o->target, "Which fused ops exist: rocm-aiter (default), gfx942, gfx950, cuda, none");
  cmd->add_option("--patterns", o->patterns, "Comma-separated pattern names, or 'all' (default)");
  cmd->add_option("--pattern-file", o->pattern_files, "Load more patterns from a JSON file (repeatable)");
  cmd->add_option("--passes", o->passes, "Comma-separated normalisation passes (default: all, in order)");
  cmd->add_flag("--no-normalize", o->no_normalize, "Skip the normalisation passes");
  cmd->add_flag("--keep-normalized", o->keep_normalized,
                "Keep the normalised spellings outside fused regions (default: restore the input's spelling)");
  cmd->add_option("--max-iterations", o->max_iterations, "Fixed-point iteration cap (default 10)")->check(CLI::PositiveNumber);
  cmd->add_flag("--stats", o->stats, "Per pass/pattern counts and times on stderr");
  cmd->add_flag("--verify{regions}", o->verify,
                "Check every rewrite on the CPU before writing: --verify / --verify=regions runs each matched region "
                "and its replacement over a trial scheme (docs/patterns.md); --verify=graph runs the whole original "
                "and rewritten graphs; nothing is written unless they agree (bit for bit, or within the pattern's "
                "declared tolerance)")
      ->check(CLI::IsMember({"regions", "graph"}));
  cmd->add_option("--verify-trials", o->verify_trials, "Seeds per input distribution and symbol binding (default 1)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--verify-seed", o->verify_seed, "First input seed of the verification trials (default 0)");
  cmd->add_option("--dim", o->dims, "Verify with symbol SYMBOL=VALUE only (repeatable; default: the trial levels)");
  cmd->add_option("--rtol", o->rtol, "Relative tolerance for patterns that declare one (never above the declared)");
  cmd->add_option("--atol", o->atol, "Absolute tolerance for patterns that declare one (never above the declared)");
  add_format_option(cmd, o->format)->description("Verification report format on stderr: text or json");
  cmd->add_flag("--print-after-change", o->print_after_change, "Print the graph to stderr after each change");
  cmd->callback([o, &exit_code] {
    // The pattern files are parsed now; the built-in patterns once the graph is normalised, for it (run_pipeline).
    const PatternRequest request = request_patterns(o->pattern_files, split_list(o->patterns), &find_target(o->target));
    CallCounts calls;  // counted by the reader, for the pattern load (PipelineOptions::call_counts)
    Graph g = read_graph_file(o->input, &calls);
    rt::RegionVerifyOptions vo;
    vo.trials = o->verify_trials;
    vo.seed = o->verify_seed;
    vo.dims = rt::parse_dims(o->dims);
    vo.rtol = o->rtol;
    vo.atol = o->atol;
    for (const auto& [name, v] : vo.dims)
      if (!g.symbol(name)) throw InputError("--dim: the graph has no symbol '" + name + "'");
    std::optional<Graph> original;
    if (o->verify == "graph") original = read_graph_text(write_graph_text(g), o->input);
    std::optional<Graph> input_copy;  // regions: each region is also verified as the input spells it
    if (o->verify == "regions") input_copy = read_graph_text(write_graph_text(g), o->input);
    RegionCollector regions(input_copy ? &*input_copy : nullptr);
    PipelineOptions po;
    po.target = o->target;
    po.time_patterns = o->stats;
    po.normalize = !o->no_normalize;
    po.passes = split_list(o->passes);
    po.max_iterations = o->max_iterations;
    po.call_counts = &calls;
    if (o->print_after_change)
      po.after_change = [](const std::string& what, const Graph& gr) {
        std::fprintf(stderr, "// ----- after %s -----\n%s", what.c_str(), write_graph_text(gr).c_str());
      };
    po.restore_spelling = !o->keep_normalized;
    po.describe_changes = o->stats;  // only --stats shows descriptions (denormalize's "kept" lines)
    if (o->verify == "regions")
      po.before_apply = [&regions](const Graph& gr, const Match& m, int id) { regions.add(gr, m, id); };
    PatternSet ps;
    PipelineReport r = run_pipeline(g, request, ps, po);
    const std::optional<DenormalizeReport>& dr = r.denormalize;
    if (o->verify == "regions") {
      const rt::RegionVerifyReport v = rt::verify_regions(regions, vo);
      std::string again;
      if (v.failure) {
        again = "fxopt rewrite " + o->input + " --target " + o->target + " --patterns " + v.failure->pattern;
        for (const auto& f : o->pattern_files) again += " --pattern-file " + f;
        if (o->no_normalize) again += " --no-normalize";
        if (!o->passes.empty()) again += " --passes " + o->passes;
        again += " --verify --verify-seed " + std::to_string(v.failure->seed);
        for (const auto& [k, x] : v.failure->symbols) again += " --dim " + k + "=" + std::to_string(x);
        again += " >/dev/null";
      }
      if (o->format == "json") {
        std::fprintf(stderr, "%s", rt::region_report_json(v, again).c_str());
      } else {
        std::fprintf(stderr, "fxopt rewrite: --verify=regions: %s (%zu matches, %.3f s)\n%s",
                     v.ok ? "every rewrite agrees" : "a rewrite differs, output not written", regions.total(), v.seconds,
                     rt::region_report_text(v).c_str());
        if (v.failure) std::fprintf(stderr, "  reproduce: %s\n", again.c_str());
      }
      if (!v.ok) {
        exit_code = kExitFailure;
        return;
      }
    }
    if (original && r.rewrite.matches.empty()) {
      std::fprintf(stderr, "fxopt rewrite: --verify=graph: nothing was rewritten, nothing to verify\n");
    } else if (original) {
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
      if (o->format != "json")  // stderr is then one JSON document (the verification report)
        std::fprintf(stderr, "fxopt rewrite: skipped pattern %s: %s\n", k.pattern.c_str(), k.reason.c_str());
    if (r.rewrite.hit_cap)
      std::fprintf(stderr, "fxopt rewrite: stopped at the iteration cap (%zu); more matches may remain\n",
                   r.rewrite.iterations);
    if (o->stats)
      std::fprintf(stderr, "%s%s%s", report_text(r, false).c_str(), stats_text(r).c_str(),
                   dr ? denormalize_stats_text(*dr).c_str() : "");
    keep_until_exit(std::move(g));
    keep_until_exit(std::move(r));
    keep_until_exit(std::move(ps));
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
