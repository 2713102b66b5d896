// `fxopt patterns`: the patterns (built-in and loaded), their conditions, fused ops and target availability.
#include <cstdio>

#include "app/commands.h"
#include "core/pattern_lint.h"
#include "core/rewrite_pipeline.h"

namespace fxopt::app {

void setup_patterns(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("patterns", "List the fusion patterns, their conditions and fused ops");
  struct Opts {
    std::string format = "text", target = "rocm-aiter";
    std::vector<std::string> pattern_files;
    bool lint = false;
    std::vector<std::string> graphs;
  };
  auto o = std::make_shared<Opts>();
  add_format_option(cmd, o->format);
  cmd->add_option("--target", o->target, "Target whose fused ops are checked: rocm-aiter (default), gfx942, gfx950, none");
  cmd->add_option("--pattern-file", o->pattern_files, "Load more patterns from a JSON file (repeatable)");
  cmd->add_flag("--lint", o->lint, "Check the pattern set (op names, variables, conditions, replacement types, "
                "overlaps, rewrite loops); exit 1 on errors");
  cmd->add_option("--graph", o->graphs, "With --lint: a graph to look for overlapping matches and loops on (repeatable)");
  cmd->callback([o, &exit_code] {
    if (o->lint) {
      LintReport r = lint_patterns({o->pattern_files, o->graphs, o->target});
      std::printf("%s", (o->format == "json" ? lint_json(r) : lint_text(r)).c_str());
      exit_code = r.errors() ? kExitFailure : kExitOk;
      return;
    }
    const Target& t = find_target(o->target);
    PatternSet ps = load_patterns(o->pattern_files, {});
    std::printf("%s", (o->format == "json" ? patterns_json(ps, t) : patterns_text(ps, t)).c_str());
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
