// The golden-case driver: every tests/golden/<case>.input.json is rewritten with the default pipeline and
// compared with <case>.expected.json (the graph) and <case>.expected.txt (the match report), exactly as
// `fxopt rewrite` does it (normalise, rewrite, restore the input's spelling outside fused regions).
// FXOPT_UPDATE_GOLDEN=1 rewrites the expectations instead; a person reviews the diff before committing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/fxgraph_io.h"
#include "core/rewrite_pipeline.h"

using namespace fxopt;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return "(missing " + p.filename().string() + ")";
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

}  // namespace

TEST_CASE("golden cases: rewrite output and match report") {
  fs::path dir = fs::path(FXOPT_TEST_DATA) / "golden";
  std::vector<fs::path> inputs;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.size() > 11 && n.substr(n.size() - 11) == ".input.json") inputs.push_back(e.path());
  }
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() >= 19);
  bool update = std::getenv("FXOPT_UPDATE_GOLDEN") && std::string(std::getenv("FXOPT_UPDATE_GOLDEN")) == "1";
  PatternSet ps = load_patterns({}, {});
  for (const auto& in : inputs) {
    std::string name = in.filename().string();
    name = name.substr(0, name.size() - 11);
    CAPTURE(name);
    Graph g = read_graph_file(in.string());
    PipelineOptions o;
    PipelineReport r = run_pipeline(g, ps, o);
    std::string graph = write_graph_text(g);
    std::string report = report_text(r, true);
    fs::path exp_graph = dir / (name + ".expected.json"), exp_report = dir / (name + ".expected.txt");
    if (update) {
      spit(exp_graph, graph);
      spit(exp_report, report);
      continue;
    }
    CHECK(graph == slurp(exp_graph));
    CHECK(report == slurp(exp_report));
    // The case's intent is in its name: positives fuse, negatives ("neg_") do not and say why.
    bool negative = name.rfind("neg_", 0) == 0;
    CHECK(r.rewrite.matches.size() == (negative ? 0u : 1u));
    if (negative) {
      CHECK(r.rewrite.near_misses.size() >= 1);
      // Nothing fused: normalisation is undone, so the output is the input, byte for byte.
      CHECK(graph == write_graph_text(read_graph_file(in.string())));
    }
    // The output is a valid graph again.
    CHECK_NOTHROW(read_graph_text(graph, name));
  }
}
