// `fxopt run`: execute a graph on the cpu (or gpu) (not implemented yet: placeholder until its issue lands).
#include "app/commands.h"

#include <cstdio>

namespace fxopt::app {

void setup_run(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("run", "Execute a graph on the CPU (or GPU) (not implemented yet)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fprintf(stderr, "fxopt: error: 'run' is not implemented yet\n");
    exit_code = kExitFailure;
  });
}

}  // namespace fxopt::app
