// `fxopt patterns`: list the patterns and their conditions (not implemented yet: placeholder until its issue lands).
#include "app/commands.h"

#include <cstdio>

namespace fxopt::app {

void setup_patterns(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("patterns", "List the patterns and their conditions (not implemented yet)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fprintf(stderr, "fxopt: error: 'patterns' is not implemented yet\n");
    exit_code = kExitFailure;
  });
}

}  // namespace fxopt::app
