// Real model graphs (tests/data/models: post-grad graphs of HF Llama, Qwen3, Mixtral, GPT-2 captured with
// PyTorch 2.11) run on the CPU executor on the saved inputs and match PyTorch's saved outputs (relative L2
// error within the bound of bf16/fp16 rounding), with the same bits for 1 and 3 threads.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"
#include "runtime/safetensors.h"

using namespace fxopt;
using namespace fxopt::rt;
namespace fs = std::filesystem;

TEST_CASE("models: real post-grad graphs run on the CPU and match PyTorch") {
  const fs::path dir = fs::path(FXOPT_TEST_DATA) / "data" / "models";
  int checked = 0;
  for (const char* name : {"llama", "qwen3", "mixtral", "gpt2", "fp16_llama"}) {
    CAPTURE(name);
    const fs::path graph = dir / (std::string(name) + ".fxgraph.json");
    const fs::path inputs = dir / (std::string(name) + ".inputs.safetensors");
    const fs::path expected = dir / (std::string(name) + ".expected.safetensors");
    if (!fs::exists(graph) || !fs::exists(inputs) || !fs::exists(expected)) continue;
    const Graph g = read_graph_file(graph.string());
    TensorMap given;
    for (auto& [k, t] : read_safetensors(inputs.string())) given[k] = t;
    const SymbolValues syms = bind_symbols(g, {}, given);
    const TensorMap in = make_inputs(g, syms, 0, given);
    ExecOptions one, three;
    one.threads = 1;
    three.threads = 3;
    const ExecResult r = run_graph(g, syms, in, one);
    const ExecResult r3 = run_graph(g, syms, in, three);
    const auto want = read_safetensors(expected.string());
    REQUIRE(want.size() == r.outputs.size());
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(r.outputs[i].is_tensor());
      const Tensor& got = r.outputs[i].tensor;
      const Tensor& w = want[i].second;
      REQUIRE(got.shape() == w.shape());
      CHECK(got.dtype() == w.dtype());
      double num = 0, den = 0;
      bool finite = true;
      for (int64_t j = 0; j < w.numel(); ++j) {
        const double a = got.value_at(j), b = w.value_at(j);
        finite = finite && std::isfinite(a);
        num += (a - b) * (a - b);
        den += b * b;
      }
      const double rel_l2 = std::sqrt(num / den);
      MESSAGE(std::string(name) << " output " << want[i].first << ": relative L2 error " << rel_l2);
      CHECK(finite);
      // bf16 keeps 8 significant bits (relative rounding 2^-9 per op); PyTorch ran on CUDA: a wrong kernel
      // gives errors of order 1.
      CHECK(rel_l2 < 0.02);
      const Tensor a = got.contiguous(), b = r3.outputs[i].tensor.contiguous();
      CHECK(std::memcmp(a.raw(), b.raw(), static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0);
    }
    ++checked;
  }
  CHECK(checked == 5);
}
