// Benchmark: the CPU reference executor on the corpus L1 graph at s68 = 1024 (and other sizes): input
// generation, end-to-end run time, the matmul's share and throughput, with 1 and all hardware threads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/examples/qwen3next_gdn_L1.fxgraph.json";
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  const Graph g = read_graph_file(path);
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("graph %s, %zu nodes, %d hardware threads, best of %d runs\n", path.c_str(), g.size(), hw, reps);
  std::printf("%6s %7s %10s %10s %10s %12s %10s\n", "s68", "threads", "inputs ms", "run ms", "matmul ms", "matmul GF/s",
              "other ms");
  for (int64_t n : {16, 256, 1024}) {
    const rt::SymbolValues s = rt::bind_symbols(g, {{"s68", n}});
    auto t0 = Clock::now();
    const rt::TensorMap in = rt::make_inputs(g, s, 0);
    const double gen = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int threads : {1, hw}) {
      if (threads == 1 && hw == 1 && n != 1024) continue;
      double best = 1e30, best_mm = 0;
      for (int r = 0; r < reps; ++r) {
        rt::ExecOptions o;
        o.threads = threads;
        o.profile = true;
        const rt::ExecResult res = rt::run_graph(g, s, in, o);
        double mm = 0;
        for (size_t i = 0; i < res.profile.size(); ++i)
          if (res.profile[i].first.find("addmm") != std::string::npos || res.profile[i].first.find("mm") == 0)
            mm += res.profile[i].second;
        if (res.seconds < best) {
          best = res.seconds;
          best_mm = mm;
        }
      }
      const double flops = 2.0 * static_cast<double>(n) * 4096 * 4096;
      std::printf("%6lld %7d %10.1f %10.1f %10.1f %12.1f %10.1f\n", static_cast<long long>(n), threads, gen * 1e3,
                  best * 1e3, best_mm * 1e3, flops / best_mm / 1e9, (best - best_mm) * 1e3);
    }
  }
  return 0;
}
