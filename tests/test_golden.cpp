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

#include <nlohmann/json.hpp>

#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/region_graph.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "runtime/region_verify.h"

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
  // One folder per family (tests/golden/<family>/), plus the older cases at the top.
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.size() > 11 && n.substr(n.size() - 11) == ".input.json") inputs.push_back(e.path());
  }
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() >= 19);
  bool update = std::getenv("FXOPT_UPDATE_GOLDEN") && std::string(std::getenv("FXOPT_UPDATE_GOLDEN")) == "1";
  PatternSet ps = load_patterns({}, {});
  size_t unbuilt = 0;  // variants the graph-aware loading left unbuilt, over all cases
  for (const auto& in : inputs) {
    std::string name = in.filename().string();
    name = name.substr(0, name.size() - 11);
    const fs::path case_dir = in.parent_path();
    CAPTURE(in.string());
    Graph g = read_graph_file(in.string());
    // A case may name its target and its number of fused regions (producer.fxopt_golden_target / _matches).
    const nlohmann::json producer = nlohmann::json::parse(g.producer.empty() ? "{}" : g.producer);
    PipelineOptions o;
    if (producer.contains("fxopt_golden_target")) o.target = producer["fxopt_golden_target"].get<std::string>();
    const Graph original = read_graph_file(in.string());
    std::vector<RegionPair> regions;
    o.before_apply = [&](const Graph& cur, const Match& m, int id) { regions.push_back(cut_region(cur, m, id)); };
    PipelineReport r = run_pipeline(g, ps, o);
    std::string graph = write_graph_text(g);
    std::string report = report_text(r, true);
    fs::path exp_graph = case_dir / (name + ".expected.json"), exp_report = case_dir / (name + ".expected.txt");
    if (update) {
      spit(exp_graph, graph);
      spit(exp_report, report);
      continue;
    }
    CHECK(graph == slurp(exp_graph));
    CHECK(report == slurp(exp_report));
    // The case's intent is in its name: positives fuse, negatives ("neg_") do not and say why.
    bool negative = name.rfind("neg_", 0) == 0;
    const size_t want = producer.contains("fxopt_golden_matches") ? producer["fxopt_golden_matches"].get<size_t>()
                                                                   : (negative ? 0u : 1u);
    CHECK(negative == (want == 0));
    CHECK(r.rewrite.matches.size() == want);
    // Every fused region computes what it replaced (bit for bit unless its pattern declares a tolerance).
    if (!regions.empty()) {
      rt::RegionVerifyReport vr = rt::verify_regions(regions, {});
      CHECK_MESSAGE(vr.ok, rt::region_report_text(vr));
    }
    if (negative) {
      CHECK(r.rewrite.near_misses.size() + r.rewrite.skipped.size() >= 1);
      // Nothing fused: normalisation is undone, so the output is the input, byte for byte.
      CHECK(graph == write_graph_text(read_graph_file(in.string())));
    }
    // The output is a valid graph again.
    CHECK_NOTHROW(read_graph_text(graph, name));
    // `fxopt rewrite` builds only the target's variants whose ops can occur in the normalised graph: the same
    // graph and report as with every pattern built.
    Graph lazy = read_graph_file(in.string());
    PatternSet loaded;
    PipelineOptions lo;
    lo.target = o.target;
    const PipelineReport lr = run_pipeline(lazy, PatternRequest{{}, {}, &find_target(o.target)}, loaded, lo);
    CHECK(write_graph_text(lazy) == graph);
    CHECK(report_text(lr, true) == report);
    CHECK(loaded.patterns().size() + loaded.absent().size() <= ps.patterns().size());
    unbuilt += loaded.absent().size();
    // As `fxopt rewrite` loads them: the normalised graph's ops from the reader's call counts and normalisation's
    // records, not from a walk over the graph. The same graph and report.
    CallCounts calls;
    Graph counted = read_graph_file(in.string(), &calls);
    PatternSet counted_loaded;
    lo.call_counts = &calls;
    const PipelineReport cr = run_pipeline(counted, PatternRequest{{}, {}, &find_target(o.target)}, counted_loaded, lo);
    CHECK(write_graph_text(counted) == graph);
    CHECK(report_text(cr, true) == report);
    CHECK(counted_loaded.patterns().size() == loaded.patterns().size());
    CHECK(counted_loaded.absent().size() == loaded.absent().size());
  }
  if (!update) CHECK(unbuilt > 0);
}
