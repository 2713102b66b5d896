// `fxopt patterns`: the patterns (built-in and loaded), their conditions, fused ops and target availability.
#include <cstdio>

#include "app/commands.h"
#include "core/rewrite/pattern_lint.h"
#include "core/ir/error.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "runtime/pattern_check.h"

namespace fxopt::app {

void setup_patterns(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("patterns", "List the fusion patterns, their conditions and fused ops");
  struct Opts {
    std::string format = "text", target = "rocm-aiter";
    std::vector<std::string> pattern_files;
    bool lint = false;
    std::vector<std::string> graphs;
    bool check = false;                 // --check
    std::vector<std::string> names;     // --check: which patterns (default all)
    int verify_trials = 1;
    uint64_t verify_seed = 0;
  };
  auto o = std::make_shared<Opts>();
  add_format_option(cmd, o->format);
  cmd->add_option("--target", o->target, "Target whose fused ops are checked: rocm-aiter (default), gfx942, gfx950, cuda, none");
  cmd->add_flag("--lint", o->lint, "Check the pattern set (op names, variables, conditions, replacement types, "
                "overlaps, rewrite loops); exit 1 on errors");
  cmd->add_option("--graph", o->graphs, "With --lint: a graph to look for overlapping matches and loops on (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--pattern-file", o->pattern_files, "Load more patterns from a JSON file (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--check", o->check,
                "Check each pattern: instantiate its search graph over a grid of its variables and compare it with "
                "the replacement on the CPU; exit 1 with a counterexample when one differs or cannot be instantiated");
  cmd->add_option("NAMES", o->names, "--check: the patterns to check (default: all, built-in and --pattern-file)");
  cmd->add_option("--verify-trials", o->verify_trials, "--check: seeds per input distribution (default 1)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--verify-seed", o->verify_seed, "--check: first input seed (default 0)");
  cmd->callback([o, &exit_code] {
    if (o->lint) {
      LintReport r = lint_patterns({o->pattern_files, o->graphs, o->target});
      std::printf("%s", (o->format == "json" ? lint_json(r) : lint_text(r)).c_str());
      exit_code = r.errors() ? kExitFailure : kExitOk;
      return;
    }
    const Target& t = find_target(o->target);
    if (o->check) {
      PatternSet ps = load_patterns(o->pattern_files, o->names);
      rt::PatternCheckOptions co;
      co.verify.trials = o->verify_trials;
      co.verify.seed = o->verify_seed;
      const std::vector<rt::PatternCheckResult> results = rt::check_patterns(ps, co);
      std::printf("%s", (o->format == "json" ? rt::check_report_json(results) : rt::check_report_text(results)).c_str());
      exit_code = rt::all_ok(results) ? kExitOk : kExitFailure;
      return;
    }
    if (!o->names.empty()) throw InputError("pattern names are only taken with --check");
    PatternSet ps = load_patterns(o->pattern_files, {});
    std::printf("%s", (o->format == "json" ? patterns_json(ps, t) : patterns_text(ps, t)).c_str());
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
