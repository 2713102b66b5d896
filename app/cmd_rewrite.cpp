// `fxopt rewrite`: rewrite a graph with the fusion patterns (not implemented yet: placeholder until its issue lands).
#include "app/commands.h"

#include <cstdio>

namespace fxopt::app {

void setup_rewrite(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("rewrite", "Rewrite a graph with the fusion patterns (not implemented yet)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fprintf(stderr, "fxopt: error: 'rewrite' is not implemented yet\n");
    exit_code = kExitFailure;
  });
}

}  // namespace fxopt::app
