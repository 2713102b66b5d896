// `fxopt diff`: structural, name-independent graph diff (not implemented yet: placeholder until its issue lands).
#include "app/commands.h"

#include <cstdio>

namespace fxopt::app {

void setup_diff(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("diff", "Structural, name-independent graph diff (not implemented yet)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fprintf(stderr, "fxopt: error: 'diff' is not implemented yet\n");
    exit_code = kExitFailure;
  });
}

}  // namespace fxopt::app
