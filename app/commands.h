// One setup_<command>() per subcommand; each lives in its own app/cmd_<command>.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <type_traits>
#include <utility>
#include <vector>

namespace fxopt::app {

// Exit codes shared by all commands (documented in README.md). `diff` follows diff(1) instead:
// 0 equal, 1 different, 2 trouble.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // bad input, failed check, mismatch
inline constexpr int kExitUsage = 2;    // bad command line

// The options shared by commands: the input graph ('-' = stdin) and `--format text|json`.
inline CLI::Option* add_graph_input(CLI::App* cmd, std::string& path) {
  return cmd->add_option("GRAPH", path, "fxgraph v1 JSON file ('-' for stdin)")->required();
}
inline CLI::Option* add_format_option(CLI::App* cmd, std::string& format) {
  return cmd->add_option("--format", format, "Output format: text or json")->check(CLI::IsMember({"text", "json"}));
}

// Takes `v` over and never destroys it: the command is about to return and the process to exit, and the
// kernel takes the memory back at once, while freeing a large graph piece by piece costs a tenth of a
// rewrite. The objects stay reachable (from a never-freed list), so leak checkers do not report them.
template <class T>
void keep_until_exit(T&& v) {
  static auto* kept = new std::vector<void*>();
  kept->push_back(new std::decay_t<T>(std::forward<T>(v)));
}

// Each setup function adds a subcommand to `app` and registers its callback. The callback sets the
// process exit code through `exit_code`.
void setup_verify(CLI::App& app, int& exit_code);
void setup_fmt(CLI::App& app, int& exit_code);
void setup_stats(CLI::App& app, int& exit_code);
void setup_rewrite(CLI::App& app, int& exit_code);
void setup_match(CLI::App& app, int& exit_code);
void setup_patterns(CLI::App& app, int& exit_code);
void setup_diff(CLI::App& app, int& exit_code);
void setup_run(CLI::App& app, int& exit_code);

}  // namespace fxopt::app
