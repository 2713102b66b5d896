// `fxopt match`: dry run: report matches and near misses (not implemented yet: placeholder until its issue lands).
#include "app/commands.h"

#include <cstdio>

namespace fxopt::app {

void setup_match(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("match", "Dry run: report matches and near misses (not implemented yet)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::fprintf(stderr, "fxopt: error: 'match' is not implemented yet\n");
    exit_code = kExitFailure;
  });
}

}  // namespace fxopt::app
