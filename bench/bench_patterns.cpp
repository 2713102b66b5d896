// Benchmark: building the built-in patterns, from their prebuilt form (core/pattern/pattern_blob.h) and from the JSON
// files, for the corpus graph as `fxopt rewrite` does (rocm-aiter, only the variants whose ops can occur in the
// normalised graph) and all of them as `fxopt patterns` does. Times are the best of several runs; the JSON files'
// parse into a DOM happens once per process and is timed on its own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/normalize.h"
#include "core/pattern/pattern_blob.h"
#include "core/rewrite/rewrite_pipeline.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Best time of `reps` calls of f, and the time of the first.
template <class F>
static std::pair<double, double> best_and_first(int reps, F f) {
  double best = 1e9, first = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    f();
    const double t = since(t0);
    if (r == 0) first = t;
    best = std::min(best, t);
  }
  return {best, first};
}

int main(int argc, char** argv) {
  const std::string corpus =
      argc > 1 ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json";
  Graph g = read_graph_file(corpus);
  normalize(g, all_normalize_passes(), false);
  const Target& aiter = find_target("rocm-aiter");
  const std::string_view blob = builtin_variant_blob();
  if (blob.empty()) {
    std::fprintf(stderr, "bench_patterns: built without the prebuilt variants (link fxopt_variants)\n");
    return 1;
  }
  size_t built = 0, absent = 0, all = 0;
  auto for_graph = [&] {
    const PatternSet ps = load_patterns({}, {}, &aiter, &g);
    built = ps.patterns().size();
    absent = ps.absent().size();
  };
  auto every = [&] { all = PatternSet::builtin().patterns().size(); };
  const auto graph_fast = best_and_first(200, for_graph);
  const auto all_fast = best_and_first(20, every);
  set_builtin_variant_blob({});  // the JSON files from here on (their DOM is parsed by the first call)
  const auto graph_json = best_and_first(50, for_graph);
  const auto all_json = best_and_first(5, every);
  set_builtin_variant_blob(blob);
  std::printf("prebuilt blob: %zu bytes for %zu variants\n", blob.size(), all);
  std::printf("| built-in patterns | prebuilt | JSON files |\n| --- | ---: | ---: |\n");
  std::printf("| for the corpus graph (rocm-aiter: %zu built, %zu unbuilt) | %.3f ms | %.3f ms (+ %.3f ms parsing the files, once) |\n",
              built, absent, graph_fast.first * 1e3, graph_json.first * 1e3, (graph_json.second - graph_json.first) * 1e3);
  std::printf("| all of them (`fxopt patterns`) | %.3f ms | %.3f ms |\n", all_fast.first * 1e3, all_json.first * 1e3);
  return 0;
}
