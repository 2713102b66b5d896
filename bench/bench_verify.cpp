// Benchmark: region verification (`rewrite --verify`) of the 48 matches of the 48-layer graph (the corpus
// L8 graph replicated 6 times): rewrite with the regions cut out (and found again in the input graph, as
// `rewrite --verify` does), then verify them (identical regions once).
// Prints the best of several runs of each phase (wall clock, and the process CPU time of the best verify run:
// the shared machine is often loaded, so the wall time overstates). Target: verification under 1 s on the
// 2-core machine. Arguments: [corpus graph] [runs].
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "bench/replicate.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/region_graph.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "runtime/region_verify.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int main(int argc, char** argv) {
  std::string corpus = argc > 1 && argv[1][0] ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json";
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  Graph tmpl = read_graph_file(corpus);
  size_t fixed = 0, compute = 0;
  for (const auto& n : tmpl.nodes()) {
    if (n.op == OpKind::Placeholder) ++fixed;
    else if (n.op != OpKind::Output) ++compute;
  }
  const std::string text = write_graph_text(bench::replicate_graph(tmpl, fixed + 1 + 6 * compute));
  PatternSet ps = load_patterns({}, {});
  const Graph input = read_graph_text(text, "replicated");  // regions are also run as the input spells them
  double t_rewrite = 1e9, t_verify = 1e9, cpu_verify = 0.0;
  rt::RegionVerifyReport best;
  size_t nodes = 0, matches = 0;
  for (int r = 0; r < reps; ++r) {
    Graph g = read_graph_text(text, "replicated");
    nodes = g.size();
    RegionCollector regions(&input);
    PipelineOptions po;
    po.before_apply = [&](const Graph& gr, const Match& m, int id) { regions.add(gr, m, id); };
    auto t0 = Clock::now();
    run_pipeline(g, ps, po);
    t_rewrite = std::min(t_rewrite, since(t0));
    matches = regions.total();
    t0 = Clock::now();
    const std::clock_t c0 = std::clock();
    rt::RegionVerifyReport v = rt::verify_regions(regions, rt::RegionVerifyOptions{});
    const double t = since(t0);
    const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    if (!v.ok) {
      std::fprintf(stderr, "verification failed:\n%s", rt::region_report_text(v).c_str());
      return 1;
    }
    if (t < t_verify) {
      t_verify = t;
      cpu_verify = cpu;
      best = std::move(v);
    }
  }
  std::printf("| nodes | matches | rewrite with regions cut | verify regions (best of %d) | its CPU time |\n"
              "| ---: | ---: | ---: | ---: | ---: |\n", reps);
  std::printf("| %zu | %zu | %.1f ms | %.1f ms | %.1f ms |\n", nodes, matches, t_rewrite * 1e3, t_verify * 1e3,
              cpu_verify * 1e3);
  std::printf("%s", rt::region_report_text(best).c_str());
  return 0;
}
