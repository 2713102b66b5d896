// `fxopt stats GRAPH`: node count, op histogram and symbols of a graph.
#include <map>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt::app {

void setup_stats(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("stats", "Node count, op histogram and symbols of a graph");
  struct Opts { std::string input; std::string format = "text"; };
  auto opts = std::make_shared<Opts>();
  add_graph_input(cmd, opts->input);
  add_format_option(cmd, opts->format);
  cmd->callback([opts, &exit_code] {
    Graph g = read_graph_file(opts->input);
    std::map<std::string, size_t> ops, kinds;
    for (const auto& n : g.nodes()) {
      kinds[to_string(n.op)]++;
      if (n.op == OpKind::CallFunction || n.op == OpKind::CallMethod || n.op == OpKind::CallModule) ops[n.target]++;
    }
    std::vector<std::pair<std::string, size_t>> hist(ops.begin(), ops.end());
    std::stable_sort(hist.begin(), hist.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["nodes"] = g.size();
      j["node_kinds"] = kinds;
      j["ops"] = nlohmann::ordered_json::object();
      for (const auto& [t, c] : hist) j["ops"][t] = c;
      j["symbols"] = nlohmann::ordered_json::object();
      for (const auto& [name, s] : g.symbols) {
        auto opt = [](const std::optional<int64_t>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(); };
        j["symbols"][name] = {{"hint", opt(s.hint)}, {"min", opt(s.min)}, {"max", opt(s.max)}};
      }
      std::printf("%s\n", j.dump(1).c_str());
    } else {
      std::printf("%s: %zu nodes", opts->input.c_str(), g.size());
      for (const auto& [k, c] : kinds) std::printf(", %zu %s", c, k.c_str());
      std::printf("\nsymbols:");
      for (const auto& [name, s] : g.symbols)
        std::printf(" %s (hint %s, range [%s, %s])", name.c_str(), s.hint ? std::to_string(*s.hint).c_str() : "none",
                    s.min ? std::to_string(*s.min).c_str() : "-inf", s.max ? std::to_string(*s.max).c_str() : "inf");
      std::printf("%s\nops:\n", g.symbols.empty() ? " none" : "");
      for (const auto& [t, c] : hist) std::printf("  %6zu  %s\n", c, t.c_str());
    }
    exit_code = kExitOk;
  });
}

}  // namespace fxopt::app
