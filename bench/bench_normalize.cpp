// Benchmark: normalize() and denormalize() alone on the corpus L8 graph replicated to ~2k (48 layers), ~20k and
// ~200k nodes (or on the fxgraph files given as arguments): normalise, rewrite with the default patterns (not
// timed), then denormalise, as `fxopt rewrite` does. Times are the best of several runs: wall, and this thread's
// CPU time (steadier than wall on a shared machine).
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/replicate.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/rewrite_pipeline.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

static double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int main(int argc, char** argv) {
#if !FXOPT_HAVE_MIMALLOC
  mallopt(M_MXFAST, 0);  // as the fxopt command does without mimalloc (app/main.cpp)
#endif
  std::vector<std::string> texts;
  if (argc > 1) {
    for (int i = 1; i < argc; ++i) texts.push_back(write_graph_text(read_graph_file(argv[i])));
  } else {
    Graph tmpl = read_graph_file(std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json");
    size_t fixed = 0, compute = 0;
    for (const auto& n : tmpl.nodes()) {
      if (n.op == OpKind::Placeholder) ++fixed;
      else if (n.op != OpKind::Output) ++compute;
    }
    for (size_t target : {fixed + 1 + 6 * compute, size_t{20000}, size_t{200000}})
      texts.push_back(write_graph_text(bench::replicate_graph(tmpl, target)));
  }
  PatternSet ps = load_patterns({}, {}, &find_target("rocm-aiter"));  // what `fxopt rewrite` loads (default target)
  std::printf("| nodes | changes | normalise (CPU) | per change | restored / fused | denormalise (CPU) |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const std::string& text : texts) {
    double t_norm = 1e9, t_denorm = 1e9, c_norm = 1e9, c_denorm = 1e9;
    size_t nodes = 0, changes = 0, restored = 0, fused = 0;
    Graph probe = read_graph_text(text, "bench");
    const int reps = probe.size() < 10000 ? 30 : probe.size() < 100000 ? 7 : 5;
    for (int r = 0; r < reps; ++r) {
      Graph g = read_graph_text(text, "bench");
      nodes = g.size();
      auto t0 = Clock::now();
      double c0 = cpu_now();
      NormalizeReport nr = normalize(g, all_normalize_passes());
      t_norm = std::min(t_norm, since(t0));
      c_norm = std::min(c_norm, cpu_now() - c0);
      changes = nr.changes.size();
      RewriteOptions full;
      rewrite_graph(g, ps, full);
      t0 = Clock::now();
      c0 = cpu_now();
      DenormalizeReport dr = denormalize(g, nr);
      t_denorm = std::min(t_denorm, since(t0));
      c_denorm = std::min(c_denorm, cpu_now() - c0);
      restored = dr.restored;
      fused = dr.fused;
    }
    std::printf("| %zu | %zu | %.2f ms (%.2f) | %.2f us | %zu / %zu | %.2f ms (%.2f) |\n", nodes, changes, t_norm * 1e3,
                c_norm * 1e3, changes ? t_norm / changes * 1e6 : 0.0, restored, fused, t_denorm * 1e3, c_denorm * 1e3);
    std::fflush(stdout);
  }
  return 0;
}
