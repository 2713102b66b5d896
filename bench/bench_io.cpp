// Benchmark: fxgraph load and write throughput and peak memory on the corpus L8 graph replicated to
// about 20k, 200k and 1M nodes. Each measurement runs in a fresh child process so peak RSS is its own.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/replicate.h"
#include "core/fxgraph/fxgraph_io.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds (user + system) this process has used: less disturbed than wall time by other jobs on a shared
// machine, so a slow wall-clock figure can be told from a slow reader.
static double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int main(int argc, char** argv) {
#if !FXOPT_HAVE_MIMALLOC
  mallopt(M_MXFAST, 0);  // as the fxopt command does without mimalloc (app/main.cpp)
#endif
  std::string corpus = argc > 1 ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json";
  const size_t sizes[] = {20000, 200000, 1000000};
  std::printf("%-9s %9s %9s %9s %12s %9s %12s %12s %12s %8s\n", "nodes", "file MB", "load s", "write s", "load nodes/s",
              "load MB/s", "load MB/cpu-s", "write MB/s", "peak RSS MB", "RSS/file");
  for (size_t target : sizes) {
    // The pid keeps two runs at once (several people share a machine) from deleting each other's files.
    std::string path = "/tmp/fxopt_bench_io_" + std::to_string(getpid()) + "_" + std::to_string(target) + ".json";
    if (pid_t pid = fork(); pid == 0) {  // generate in a child so its memory does not count
      write_graph_file(bench::replicate_corpus(corpus, target), path);
      _exit(0);
    } else {
      int st = 0;
      waitpid(pid, &st, 0);
      if (st != 0) { std::fprintf(stderr, "generation failed\n"); return 1; }
    }
    int fds[2];
    if (pipe(fds) != 0) return 1;
    if (pid_t pid = fork(); pid == 0) {
      auto t0 = Clock::now();
      const double c0 = cpu_seconds();
      Graph g = read_graph_file(path);
      double load = seconds_since(t0);
      const double load_cpu = cpu_seconds() - c0;
      auto t1 = Clock::now();
      write_graph_file(g, path + ".out");
      double write = seconds_since(t1);
      struct stat st {};
      stat((path + ".out").c_str(), &st);
      char buf[256];
      int n = std::snprintf(buf, sizeof buf, "%zu %zu %.6f %.6f %ld %.6f", g.size(), static_cast<size_t>(st.st_size), load,
                            write, peak_rss_kib(), load_cpu);
      if (::write(fds[1], buf, n) != n) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    char buf[256] = {};
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    wait(nullptr);
    if (got <= 0) { std::fprintf(stderr, "measurement failed\n"); return 1; }
    size_t nodes = 0, bytes = 0;
    double load = 0, write = 0, load_cpu = 0;
    long rss = 0;
    std::sscanf(buf, "%zu %zu %lf %lf %ld %lf", &nodes, &bytes, &load, &write, &rss, &load_cpu);
    double mb = bytes / 1e6;
    const double ratio = (rss * 1024.0) / bytes;
    std::printf("%-9zu %9.1f %9.3f %9.3f %12.0f %9.1f %13.1f %12.1f %12.1f %8.2f  (targets: load >= 300 MB/s %s, RSS <= 3x %s)\n",
                nodes, mb, load, write, nodes / load, mb / load, mb / std::max(load_cpu, 1e-6), mb / write, rss / 1024.0, ratio,
                mb / load >= 300 ? "met" : "NOT met", target < 200000 ? "n/a below 200k nodes" : ratio <= 3.0 ? "met" : "NOT met");
    std::remove(path.c_str());
    std::remove((path + ".out").c_str());
  }
  return 0;
}
