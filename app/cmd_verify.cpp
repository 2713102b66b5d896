// `fxopt verify GRAPH`: validates a graph and its metadata; prints OK or the list of problems.
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/fxgraph/verify.h"

namespace fxopt::app {

void setup_verify(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("verify", "Validate a graph: structure, metadata, SymInt expressions, symbols");
  struct Opts { std::string input; std::string format = "text"; };
  auto opts = std::make_shared<Opts>();
  add_graph_input(cmd, opts->input);
  add_format_option(cmd, opts->format);
  cmd->callback([opts, &exit_code] {
    Graph g = read_graph_file(opts->input);
    auto problems = check_graph(g);
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["file"] = opts->input;
      j["ok"] = problems.empty();
      j["nodes"] = g.size();
      j["problems"] = nlohmann::ordered_json::array();
      for (const auto& p : problems) j["problems"].push_back({{"node", p.node}, {"message", p.message}});
      std::printf("%s\n", j.dump(1).c_str());
    } else if (problems.empty()) {
      std::printf("OK: %s: %zu nodes, %zu symbols\n", opts->input.c_str(), g.size(), g.symbols.size());
    } else {
      std::printf("%s: %zu problem(s):\n", opts->input.c_str(), problems.size());
      for (const auto& p : problems)
        std::printf("  %s%s\n", p.node.empty() ? "" : (p.node + ": ").c_str(), p.message.c_str());
    }
    exit_code = problems.empty() ? kExitOk : kExitFailure;
  });
}

}  // namespace fxopt::app
