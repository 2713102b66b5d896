// Benchmark: the CPU matmul kernel (matmul_f32, behind mm/addmm/bmm/_grouped_mm/convolution) over model-like
// shapes: GFLOP/s with 1 and all hardware threads, and whether the bits agree across thread counts.
//   bench_matmul [reps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/cpu/heavy_ops.h"
#include "runtime/executor.h"

using namespace fxopt;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 3;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  struct Shape3 { int64_t m, k, n; const char* what; };
  const Shape3 shapes[] = {
      {128, 64, 128, "tiny Llama MLP up (128 tokens)"},
      {128, 4096, 4096, "Llama-7B-like projection (128 tokens)"},
      {16, 4096, 4096, "decode-like (16 tokens)"},
      {1024, 1024, 1024, "square 1024"},
      {4096, 147, 64, "ResNet stem as patches x weights^T"},
      {2, 4608, 512, "ResNet last 3x3 conv at 1x1 output"},
  };
  std::printf("%d hardware threads, best of %d; bf16 operands, float32 accumulation\n", hw, reps);
  std::printf("%-42s %8s %10s %10s %10s %s\n", "shape (M x K x N)", "threads", "ms", "GFLOP/s", "", "same bits");
  for (const Shape3& s : shapes) {
    const rt::Tensor a = rt::random_tensor(rt::DType::BF16, {s.m, s.k}, 1, "a");
    const rt::Tensor b = rt::random_tensor(rt::DType::BF16, {s.k, s.n}, 1, "b");
    rt::Tensor first;
    for (int threads : {1, hw}) {
      double best = 1e30;
      rt::Tensor c;
      for (int r = 0; r < reps; ++r) {
        const auto t0 = Clock::now();
        c = rt::cpu::matmul_f32(a, b, threads);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      if (!first.defined()) first = c;
      const bool same = std::memcmp(first.raw(), c.raw(), static_cast<size_t>(c.numel()) * 4) == 0;
      char label[96];
      std::snprintf(label, sizeof label, "%lldx%lldx%lld %s", static_cast<long long>(s.m), static_cast<long long>(s.k),
                    static_cast<long long>(s.n), threads == 1 ? s.what : "");
      std::printf("%-42.42s %8d %10.2f %10.1f %10s %s\n", label, threads, best * 1e3,
                  2.0 * static_cast<double>(s.m * s.k * s.n) / best / 1e9, "", same ? "yes" : "NO");
    }
  }
  return 0;
}
