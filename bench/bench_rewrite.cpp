// Benchmark: rewrite throughput on the corpus L8 graph replicated to ~2k (48 layers), ~20k and ~200k nodes:
// matching alone (dry run on the normalised graph), match + rewrite to the fixed point (no I/O), normalisation,
// and end to end (read file, normalise, rewrite, write file; its phases are those of the best end-to-end run).
// Times are the best of several runs.
#include <fcntl.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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

// Wall times of `fxopt rewrite <path> -o <path>.proc` run as its own process `reps` times: the best and the
// median (the machine is shared: the best shows the code, the median what a user sees); zeros if it fails.
struct ProcessTimes {
  double best = 0, median = 0;
};
static ProcessTimes process_seconds(const std::string& path, int reps) {
  const std::string out = path + ".proc";
  std::vector<std::string> argv_s = {FXOPT_BINARY, "rewrite", path, "-o", out};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);  // its "skipped" notes
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    pid_t pid = 0;
    auto t0 = Clock::now();
    int status = 0;
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0 || waitpid(pid, &status, 0) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      times.clear();  // the process failed: no figure
      break;
    }
    times.push_back(since(t0));
  }
  posix_spawn_file_actions_destroy(&fa);
  std::remove(out.c_str());
  if (times.empty()) return {};
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2]};
}

int main(int argc, char** argv) {
#if !FXOPT_HAVE_MIMALLOC
  mallopt(M_MXFAST, 0);  // as the fxopt command does without mimalloc (app/main.cpp)
#endif
  std::string corpus = argc > 1 ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json";
  Graph tmpl = read_graph_file(corpus);
  size_t fixed = 0, compute = 0;
  for (const auto& n : tmpl.nodes()) {
    if (n.op == OpKind::Placeholder) ++fixed;
    else if (n.op != OpKind::Output) ++compute;
  }
  // 6 copies of the 8-layer graph = 48 layers (the Inductor comparison point), then ~20k and ~200k nodes.
  const size_t targets[] = {fixed + 1 + 6 * compute, 20000, 200000};
  std::vector<ProcessTimes> process_times;
  const Target& aiter = find_target("rocm-aiter");  // `fxopt rewrite`'s default
  std::printf("| nodes | layers (matches) | normalise | matching (dry run) | match + rewrite | per match | end to end (file in, file out) |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (size_t target : targets) {
    std::string text = write_graph_text(bench::replicate_graph(tmpl, target));
    // The pid keeps two runs at once (several people share a machine) from deleting each other's files.
    std::string path = "/tmp/fxopt_bench_rewrite_" + std::to_string(getpid()) + "_" + std::to_string(target) + ".json";
    write_text_atomic(path, text);
    int reps = target < 10000 ? 20 : target < 100000 ? 5 : 3;
    double t_norm = 1e9, t_match = 1e9, t_rw = 1e9, t_e2e = 1e9;
    double e2e_read = 0, e2e_norm = 0, e2e_rw = 0, e2e_write = 0;
    size_t nodes = 0, matches = 0;
    for (int r = 0; r < reps; ++r) {
      // Matching alone: a dry run on the normalised graph, with the patterns `fxopt rewrite` builds for it.
      Graph g = read_graph_text(text, path);
      nodes = g.size();
      auto t0 = Clock::now();
      normalize(g, all_normalize_passes());
      t_norm = std::min(t_norm, since(t0));
      const PatternSet ps = load_patterns({}, {}, &aiter, &g);
      RewriteOptions dry;
      dry.dry_run = true;
      dry.near_misses = false;
      t0 = Clock::now();
      RewriteReport d = rewrite_graph(g, ps, dry);
      t_match = std::min(t_match, since(t0));
      matches = d.matches.size();
      // Match + rewrite to the fixed point.
      RewriteOptions full;
      t0 = Clock::now();
      RewriteReport f = rewrite_graph(g, ps, full);
      t_rw = std::min(t_rw, since(t0));
      if (f.matches.size() != matches) std::fprintf(stderr, "warning: %zu rewrites vs %zu matches\n", f.matches.size(), matches);
      // End to end, with its phases (the run with the best total is kept).
      t0 = Clock::now();
      Graph e = read_graph_file(path);
      double p_read = since(t0);
      PatternSet loaded;
      PipelineOptions po;
      po.describe_changes = false;  // as `fxopt rewrite` without --stats
      PipelineReport pr = run_pipeline(e, PatternRequest{{}, {}, &aiter}, loaded, po);
      double p_pipe = since(t0) - p_read;
      write_graph_file(e, path + ".out");
      double total = since(t0);
      if (total < t_e2e) {
        t_e2e = total;
        e2e_read = p_read;
        e2e_norm = pr.normalize_seconds;
        e2e_rw = p_pipe - pr.normalize_seconds;
        e2e_write = total - p_read - p_pipe;
      }
    }
    std::printf("| %zu | %zu | %.2f ms | %.3f ms | %.3f ms | %.2f us | %.1f ms (read %.1f + normalise %.1f + rewrite %.1f + write %.1f) |\n",
                nodes, matches, t_norm * 1e3, t_match * 1e3, t_rw * 1e3, matches ? t_rw / matches * 1e6 : 0.0, t_e2e * 1e3,
                e2e_read * 1e3, e2e_norm * 1e3, e2e_rw * 1e3, e2e_write * 1e3);
    if (target == 200000) {
      std::printf("target: 200k-node end to end <= 0.5 s: %s (%.2f s in this process)\n", t_e2e <= 0.5 ? "met" : "NOT met", t_e2e);
      // The same work as its own `fxopt rewrite` process (what a user runs: a fresh heap, its page faults, exec and
      // exit), best of 3.
      const double p = process_seconds(path, 3).best;
      if (p > 0)
        std::printf("whole `fxopt rewrite` process, 200k nodes (best of 3): %.2f s wall (target <= 0.5 s: %s)\n", p,
                    p <= 0.5 ? "met" : "NOT met");
    }
    if (target == targets[0]) process_times.push_back(process_seconds(path, 30));
    std::fflush(stdout);
    std::remove(path.c_str());
    std::remove((path + ".out").c_str());
  }
  if (!process_times.empty() && process_times[0].best > 0)
    std::printf("whole `fxopt rewrite` process, 48 layers (file in, file out; 30 runs): best %.1f ms, median %.1f ms "
                "wall (target <= 5 ms: %s)\n",
                process_times[0].best * 1e3, process_times[0].median * 1e3,
                process_times[0].best <= 0.005 ? "met" : "NOT met");
  return 0;
}
