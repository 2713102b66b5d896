// `fxopt diff A B`: structural, name-independent graph diff with diff(1) exit codes (0 equal, 1 different, 2 trouble).
#include <exception>
#include <memory>
#include <sstream>
#include <string>

#include "app/commands.h"
#include "core/diff/diff.h"
#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt::app {

namespace {

constexpr int kDiffEqual = 0;
constexpr int kDiffDifferent = 1;
constexpr int kDiffTrouble = 2;

std::set<std::string, std::less<>> split_keys(const std::string& csv) {
  std::set<std::string, std::less<>> keys;
  std::stringstream ss(csv);
  for (std::string k; std::getline(ss, k, ',');) {
    k.erase(0, k.find_first_not_of(" \t"));
    k.erase(k.find_last_not_of(" \t") + 1);
    if (!k.empty()) keys.insert(k);
  }
  return keys;
}

}  // namespace

void setup_diff(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "diff",
      "Structural, name-independent graph diff. Exit status as diff(1): 0 equal, 1 different, 2 trouble");
  struct Opts {
    std::string a, b, format = "text", ignore_meta, include_meta;
    bool stat = false;
  };
  auto opts = std::make_shared<Opts>();
  cmd->add_option("A", opts->a, "Old graph (fxgraph v1 JSON; '-' for stdin)")->required();
  cmd->add_option("B", opts->b, "New graph (fxgraph v1 JSON; '-' for stdin)")->required();
  cmd->add_option("--format", opts->format, "Report format: text (unified-diff style) or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_flag("--stat", opts->stat, "Print counts of removed/added/changed nodes per op instead of the nodes");
  cmd->add_option("--ignore-meta", opts->ignore_meta,
                  "Comma-separated meta keys to ignore as well ('val' ignores meta.val; other keys are ignored "
                  "unless --include-meta names them)");
  cmd->add_option("--include-meta", opts->include_meta,
                  "Comma-separated meta keys other than val to compare too (e.g. fxopt_from,stack_trace)");
  cmd->callback([opts, &exit_code] {
    exit_code = kDiffTrouble;  // any InputError escaping from here exits with 2
    if (opts->a == "-" && opts->b == "-") throw InputError("only one of A and B can be '-' (standard input)");
    DiffOptions dopts;
    dopts.ignore_meta = split_keys(opts->ignore_meta);
    dopts.include_meta = split_keys(opts->include_meta);
    auto label = [](const std::string& p) { return p == "-" ? std::string("<stdin>") : p; };
    std::string report;
    bool equal = false;
    try {
      Graph a = read_graph_file(opts->a);
      Graph b = read_graph_file(opts->b);
      GraphDiff d = diff_graphs(a, b, dopts);
      equal = d.equal();
      if (opts->format == "json") report = format_diff_json(d, a, b, label(opts->a), label(opts->b), opts->stat);
      else if (opts->stat) report = format_diff_stat(d);
      else report = format_diff_text(d, a, b, label(opts->a), label(opts->b));
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {  // anything else is still trouble, not "different"
      throw InputError(e.what());
    }
    write_text_atomic("-", report);
    exit_code = equal ? kDiffEqual : kDiffDifferent;
  });
}

}  // namespace fxopt::app
