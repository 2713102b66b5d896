// `fxopt fmt GRAPH [-o OUT]`: rewrites a graph in canonical form (stable key order, one node per line).
#include "app/commands.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt::app {

void setup_fmt(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("fmt", "Print a graph in canonical fxgraph v1 form");
  struct Opts { std::string input, output; };
  auto opts = std::make_shared<Opts>();
  add_graph_input(cmd, opts->input);
  cmd->add_option("-o,--output", opts->output, "Output file (default: stdout); written only on success");
  cmd->callback([opts, &exit_code] {
    Graph g = read_graph_file(opts->input);
    write_graph_file(g, opts->output);
    keep_until_exit(std::move(g));
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
