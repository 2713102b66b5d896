// Benchmark: the CPU executor on real model graphs (tests/data/models) at a given token/batch count: run
// time with 1 and all hardware threads, the targets that take the time, and whether the outputs are the
// same bits for every thread count.
//   bench_models [--tokens N] [--reps R] [graph.fxgraph.json ...]   (default: the Llama graph, N = 128)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"

using namespace fxopt;

namespace {

bool same_bits(const rt::ExecResult& a, const rt::ExecResult& b) {
  if (a.outputs.size() != b.outputs.size()) return false;
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    if (!a.outputs[i].is_tensor() || !b.outputs[i].is_tensor()) continue;
    const rt::Tensor x = a.outputs[i].tensor.contiguous(), y = b.outputs[i].tensor.contiguous();
    if (x.dtype() != y.dtype() || x.shape() != y.shape() ||
        std::memcmp(x.raw(), y.raw(), static_cast<size_t>(x.numel()) * rt::dtype_size(x.dtype())) != 0)
      return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t tokens = 128;
  int reps = 3;
  std::vector<std::string> graphs;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else graphs.emplace_back(argv[i]);
  }
  if (graphs.empty()) graphs.push_back(std::string(FXOPT_SOURCE_DIR) + "/tests/data/models/llama.fxgraph.json");
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("%d hardware threads, every symbol = %lld (or its max), best of %d runs\n", hw, static_cast<long long>(tokens), reps);
  int status = 0;
  for (const std::string& path : graphs) {
    try {
      const Graph g = read_graph_file(path);
      rt::SymbolValues given;
      std::string bound;
      for (const auto& [name, info] : g.symbols) {  // within the symbol's range (MoE graphs cap the tokens)
        given[name] = std::max(info.min.value_or(tokens), std::min(tokens, info.max.value_or(tokens)));
        bound += (bound.empty() ? "" : ", ") + name + "=" + std::to_string(given[name]);
      }
      const rt::SymbolValues s = rt::bind_symbols(g, given);
      rt::TensorMap in = rt::make_inputs(g, s, 0);
      for (auto& [name, t] : in)  // integer inputs are token ids: keep them in [0, 16)
        if (rt::is_integral(t.dtype()) && t.dtype() != rt::DType::Bool)
          for (int64_t i = 0; i < t.numel(); ++i)
            rt::store_elem<int64_t>(t.dtype(), t.raw() + i * static_cast<int64_t>(rt::dtype_size(t.dtype())), i % 16);
      std::printf("\n%s: %zu nodes, %s\n", path.c_str(), g.size(), bound.c_str());
      rt::ExecResult first;
      bool deterministic = true;
      for (int threads : {1, hw}) {
        double best = 1e30;
        std::map<std::string, double> by_target;
        for (int r = 0; r < reps; ++r) {
          rt::ExecOptions o;
          o.threads = threads;
          o.profile = true;
          rt::ExecResult res = rt::run_graph(g, s, in, o);
          if (res.seconds < best) {
            best = res.seconds;
            by_target.clear();
            for (const auto& [node, sec] : res.profile)
              if (const Node* n = g.find(node); n && n->op == OpKind::CallFunction) by_target[n->target] += sec;
          }
          if (first.outputs.empty()) first = std::move(res);
          else deterministic = deterministic && same_bits(first, res);
        }
        std::vector<std::pair<double, std::string>> top;
        for (const auto& [t, sec] : by_target) top.emplace_back(sec, t);
        std::sort(top.rbegin(), top.rend());
        std::printf("  threads %d: %8.1f ms   top:", threads, best * 1e3);
        for (size_t i = 0; i < top.size() && i < 4; ++i) std::printf(" %s %.1f ms", top[i].second.c_str(), top[i].first * 1e3);
        std::printf("\n");
      }
      std::printf("  outputs bit-identical across thread counts and runs: %s\n", deterministic ? "yes" : "NO");
      if (!deterministic) status = 1;
    } catch (const std::exception& e) {
      std::printf("\n%s: cannot run: %s\n", path.c_str(), e.what());
      status = 1;
    }
  }
  return status;
}
