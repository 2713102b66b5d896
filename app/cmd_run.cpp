// `fxopt run GRAPH`: executes a graph on seeded or given inputs and summarises its outputs; with
// --compare OTHER, runs both graphs on the same inputs and reports their differences; with --timing,
// reports ops run, kernels launched, device time and wall time (median of --repeat runs after a
// warm-up run).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "app/commands.h"
#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "runtime/compare.h"
#include "runtime/executor.h"
#include "runtime/region_verify.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/memory_plan.h"
#include "runtime/safetensors.h"

namespace fxopt::app {

namespace {

struct RunOpts {
  std::string graph;
  std::vector<std::string> dims;
  std::string inputs;
  uint64_t seed = 0;
  std::string save_outputs;
  std::string device = "cpu";
  std::string compare;
  double rtol = 0.0, atol = 0.0;
  int threads = 0;
  bool profile = false;
  bool timing = false;
  int repeat = 5;
  bool allow_out_of_range = false;
  std::string memory_limit;  // "" = default (3/4 of physical memory on the CPU)
  bool no_fallback = false;
};

// Refuses a run whose estimated memory (runtime/memory_plan.h) exceeds --memory-limit, or by default on
// the CPU 3/4 of physical memory; impossible sizes are refused whatever the limit.
void check_run_memory(const Graph& g, const rt::SymbolValues& symbols, const RunOpts& o, const std::string& graph) {
  std::optional<int64_t> limit = o.memory_limit.empty() ? std::nullopt : rt::parse_memory_size(o.memory_limit);
  std::string source = "--memory-limit";
  if (o.memory_limit.empty() && o.device == "cpu") {
    limit = rt::default_memory_limit();
    source = "default: 3/4 of physical memory; change it with --memory-limit BYTES|NGiB|none";
  }
  if (limit) rt::check_memory(g, symbols, *limit, source, graph);
  else rt::estimate_memory(g, symbols);
}

// --allow-out-of-range: a --dim value outside the symbol's [min, max] widens the graph's range to it
// (with a warning), e.g. the corpus graphs' s68 (min 2, as Dynamo marks every dynamic dim) at 1.
void widen_symbol_ranges(Graph& g, const rt::SymbolValues& dims, const char* which) {
  for (auto& [name, info] : g.symbols) {
    auto it = dims.find(name);
    if (it == dims.end()) continue;
    const int64_t v = it->second;
    if ((info.min && v < *info.min) || (info.max && v > *info.max)) {
      std::fprintf(stderr,
                   "warning: %s: %s=%lld is outside the graph's range [%s, %s] (--allow-out-of-range): the tracer "
                   "did not guarantee this size; running the same ops on it\n",
                   which, name.c_str(), static_cast<long long>(v), info.min ? std::to_string(*info.min).c_str() : "-inf",
                   info.max ? std::to_string(*info.max).c_str() : "inf");
      if (info.min && v < *info.min) info.min = v;
      if (info.max && v > *info.max) info.max = v;
    }
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Timed {
  rt::ExecResult result;               // the last run's
  double wall_ms = 0.0, gpu_ms = 0.0;  // medians over the timed runs
  uint64_t kernels = 0;                // per run (the last run's)
  uint64_t device_allocs = 0;          // hipMalloc calls in the last timed run (0 once the cache is warm)
  uint64_t alloc_cache_hits = 0;       // allocations served from the cache in the last timed run
  std::vector<gpu::TimedInterval> intervals;  // the last run's, per node (GPU)
};

// Runs the graph once; with --timing, one warm-up run (module load, allocator cache, tables) and then
// `repeat` runs, each with kernel launches counted and device time summed over its kernels' own
// event pairs (grouped per node for --profile).
Timed run_timed(const Graph& g, const rt::SymbolValues& symbols, const rt::TensorMap& inputs, const rt::ExecOptions& eo,
                const RunOpts& o) {
  Timed t;
  if (!o.timing) {
    t.result = rt::run_graph(g, symbols, inputs, eo);
    return t;
  }
  const bool gpu_dev = o.device == "gpu";
  std::vector<double> walls, gpus;
  for (int i = 0; i <= o.repeat; ++i) {
    gpu::timing_enable(gpu_dev);
    const uint64_t l0 = gpu::kernel_launches();
    const gpu::AllocStats a0 = gpu::alloc_stats();
    rt::ExecResult r = rt::run_graph(g, symbols, inputs, eo);
    const uint64_t launched = gpu::kernel_launches() - l0;
    const gpu::AllocStats a1 = gpu::alloc_stats();
    std::vector<gpu::TimedInterval> iv = gpu::timing_collect();
    gpu::timing_enable(false);
    if (i == 0) continue;  // warm-up
    double sum = 0.0;
    for (const auto& x : iv) sum += x.ms;
    walls.push_back(r.seconds * 1e3);
    gpus.push_back(sum);
    t.kernels = launched;
    t.device_allocs = a1.device_allocs - a0.device_allocs;
    t.alloc_cache_hits = a1.cache_hits - a0.cache_hits;
    t.intervals = std::move(iv);
    t.result = std::move(r);
  }
  t.wall_ms = median(walls);
  t.gpu_ms = median(gpus);
  return t;
}

void print_timing(const Timed& t, const RunOpts& o, const std::string& graph) {
  if (!o.timing) return;
  if (o.device == "gpu") {
    std::printf("timing %s: device gpu, %zu ops, %llu kernels launched, gpu time %.1f us, wall %.3f ms "
                "(medians of %d runs after 1 warm-up)\n",
                graph.c_str(), t.result.nodes_run, static_cast<unsigned long long>(t.kernels), t.gpu_ms * 1e3,
                t.wall_ms, o.repeat);
    std::printf("gpu memory %s: %llu device allocations (hipMalloc), %llu served by the cache, in the last run\n",
                graph.c_str(), static_cast<unsigned long long>(t.device_allocs),
                static_cast<unsigned long long>(t.alloc_cache_hits));
    const auto& fb = t.result.fallbacks;
    if (fb.empty()) {
      std::printf("cpu fallback %s: none (every node ran on the GPU or needs no kernel)\n", graph.c_str());
    } else {
      size_t bytes = 0;
      double secs = 0.0;
      for (const auto& f : fb) {
        bytes += f.bytes;
        secs += f.copy_seconds;
      }
      std::printf("cpu fallback %s: %zu nodes ran on the CPU (no GPU kernel for their arguments); their copies moved "
                  "%.3f MB in %.3f ms (last run)\n",
                  graph.c_str(), fb.size(), static_cast<double>(bytes) / 1e6, secs * 1e3);
      for (const auto& f : fb)
        std::printf("  %-28s %-40s %10.3f MB %9.3f ms\n", f.name.c_str(), f.target.c_str(),
                    static_cast<double>(f.bytes) / 1e6, f.copy_seconds * 1e3);
    }
    if (o.profile) {
      std::printf("gpu time per node (us: summed kernel time, kernels), last run:\n");
      for (const auto& x : t.intervals)
        std::printf("  %-28s %10.1f  %llu\n", x.label.c_str(), x.ms * 1e3, static_cast<unsigned long long>(x.launches));
    }
  } else {
    std::printf("timing %s: device %s, %zu ops (no kernels: the CPU runs ops directly), wall %.3f ms "
                "(median of %d runs after 1 warm-up)\n",
                graph.c_str(), o.device.c_str(), t.result.nodes_run, t.wall_ms, o.repeat);
  }
}

rt::SymbolValues parse_dims(const std::vector<std::string>& dims) { return rt::parse_dims(dims); }

std::string symbols_str(const rt::SymbolValues& s) {
  std::string out;
  for (const auto& [k, v] : s) out += (out.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  return out.empty() ? "no symbols" : out;
}

// "bfloat16 [16, 4096]  min -3.5 max 3.25 mean 0.0012 abs-mean 0.81" (+ nan/inf counts when present).
std::string summary(const rt::Value& v) {
  if (!v.is_tensor()) return rt::describe(v);
  const rt::Tensor t = v.tensor.contiguous();
  double mn = std::numeric_limits<double>::infinity(), mx = -mn, sum = 0.0, asum = 0.0;
  int64_t nan = 0, inf = 0, finite = 0;
  const int64_t n = t.numel();
  constexpr int64_t kChunk = 1024;
  double buf[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    rt::gather<double>(t, i0, 1, m, buf);
    for (int64_t j = 0; j < m; ++j) {
      const double x = buf[j];
      if (std::isnan(x)) { ++nan; continue; }
      if (std::isinf(x)) { ++inf; continue; }
      ++finite;
      mn = std::min(mn, x);
      mx = std::max(mx, x);
      sum += x;
      asum += std::fabs(x);
    }
  }
  char buf2[256];
  std::string s = std::string(rt::dtype_name(t.dtype())) + " " + rt::shape_str(t.shape());
  if (finite) {
    std::snprintf(buf2, sizeof buf2, "  min %.6g max %.6g mean %.6g abs-mean %.6g", mn, mx, sum / finite, asum / finite);
    s += buf2;
  }
  if (nan || inf) s += "  nan " + std::to_string(nan) + " inf " + std::to_string(inf);
  return s;
}

rt::TensorMap read_inputs(const std::string& path, const Graph& g) {
  rt::TensorMap out;
  if (path.empty()) return out;
  for (auto& [name, t] : rt::read_safetensors(path)) {
    bool found = false;
    for (const Node& n : g.nodes()) found = found || (n.op == OpKind::Placeholder && n.target == name);
    if (!found) throw InputError(path + ": tensor '" + name + "' is not a placeholder of the graph");
    out[name] = std::move(t);
  }
  return out;
}

int run(const RunOpts& o) {
  if (!o.memory_limit.empty()) rt::parse_memory_size(o.memory_limit);  // a bad value fails before any work
  Graph g = read_graph_file(o.graph);
  const rt::Backend& backend = rt::backend_for_device(o.device);
  rt::check_runnable(g, backend);
  const rt::TensorMap given = read_inputs(o.inputs, g);
  const rt::SymbolValues dims = parse_dims(o.dims);
  if (o.allow_out_of_range) widen_symbol_ranges(g, dims, o.graph.c_str());
  const rt::SymbolValues symbols = rt::bind_symbols(g, dims, given);
  check_run_memory(g, symbols, o, o.graph);
  const rt::TensorMap inputs = rt::make_inputs(g, symbols, o.seed, given);
  rt::ExecOptions eo;
  eo.backend = &backend;
  eo.threads = o.threads;
  eo.profile = o.profile;
  eo.allow_fallback = !o.no_fallback;

  if (!o.compare.empty()) {
    Graph other = read_graph_file(o.compare);
    rt::check_runnable(other, backend);
    if (o.allow_out_of_range) widen_symbol_ranges(other, dims, o.compare.c_str());
    rt::SymbolValues given2;
    for (const auto& [name, info] : other.symbols)
      if (auto it = symbols.find(name); it != symbols.end()) given2[name] = it->second;
    const rt::SymbolValues symbols2 = rt::bind_symbols(other, given2);
    check_run_memory(other, symbols2, o, o.compare);
    const rt::TensorMap inputs2 = rt::make_inputs(other, symbols2, o.seed, inputs);
    const Timed ta = run_timed(g, symbols, inputs, eo, o);
    const Timed tb = run_timed(other, symbols2, inputs2, eo, o);
    const rt::ExecResult& a = ta.result;
    const rt::ExecResult& b = tb.result;
    rt::CompareOptions co{o.rtol, o.atol};
    const rt::Comparison c = rt::compare_results(a, b, co);
    std::printf("compare %s (reference) with %s on %s: %s, seed %llu, rtol %g atol %g\n", o.graph.c_str(),
                o.compare.c_str(), std::string(backend.device_name()).c_str(), symbols_str(symbols).c_str(),
                static_cast<unsigned long long>(o.seed), o.rtol, o.atol);
    std::printf("%s", rt::format_comparison(c).c_str());
    print_timing(ta, o, o.graph);
    print_timing(tb, o, o.compare);
    std::printf("%s\n", c.ok() ? "OK: all outputs within tolerance" : "MISMATCH: outputs differ beyond tolerance");
    return c.ok() ? kExitOk : kExitFailure;
  }

  const Timed t = run_timed(g, symbols, inputs, eo, o);
  const rt::ExecResult& r = t.result;
  std::printf("ran %s on %s (%s, seed %llu): %zu nodes in %.1f ms\n", o.graph.c_str(),
              std::string(backend.device_name()).c_str(), symbols_str(symbols).c_str(),
              static_cast<unsigned long long>(o.seed), r.nodes_run, r.seconds * 1e3);
  for (size_t i = 0; i < r.outputs.size(); ++i)
    std::printf("output %zu %s: %s\n", i, r.output_names[i].c_str(), summary(r.outputs[i]).c_str());
  print_timing(t, o, o.graph);
  if (o.profile && !(o.timing && o.device == "gpu")) {
    std::printf("profile (ms per node, wall%s):\n", o.device == "gpu" ? ", asynchronous launches" : "");
    for (const auto& [name, s] : r.profile)
      if (s >= 1e-4) std::printf("  %-28s %9.3f\n", name.c_str(), s * 1e3);
  }
  if (!o.save_outputs.empty()) {
    std::vector<std::pair<std::string, rt::Tensor>> outs;
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      if (!r.outputs[i].is_tensor())
        throw InputError("--save-outputs: output " + std::to_string(i) + " is " + rt::describe(r.outputs[i]) + ", not a tensor");
      outs.emplace_back(r.output_names[i], r.outputs[i].tensor);
    }
    rt::write_safetensors(o.save_outputs, outs);
  }
  return kExitOk;
}

}  // namespace

void setup_run(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("run", "Execute a graph on the CPU reference executor (or a GPU backend)");
  auto o = std::make_shared<RunOpts>();
  add_graph_input(cmd, o->graph);
  cmd->add_option("--dim", o->dims, "Symbol value SYMBOL=VALUE (default: the symbol's hint); repeatable");
  cmd->add_option("--inputs", o->inputs, "safetensors file with inputs by placeholder name (others: seeded random)");
  cmd->add_option("--seed", o->seed, "Seed of the random inputs (default 0)");
  cmd->add_option("--save-outputs", o->save_outputs, "Write the outputs to this safetensors file");
  cmd->add_option("--device", o->device, "Execution device: cpu (default) or gpu");
  cmd->add_option("--compare", o->compare, "Run this second graph on the same inputs and compare the outputs");
  cmd->add_option("--rtol", o->rtol, "Relative tolerance of --compare (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--atol", o->atol, "Absolute tolerance of --compare (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->threads, "CPU threads (default: all)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--profile", o->profile, "Print the time of each node (with --timing on the GPU: device time)");
  cmd->add_flag("--timing", o->timing,
                "Report ops run, kernels launched (GPU), device time (GPU: an event pair around each kernel launch, summed; synced) "
                "and wall time: medians of --repeat runs after one warm-up run");
  cmd->add_option("--repeat", o->repeat, "Timed runs of --timing (default 5)")->check(CLI::PositiveNumber);
  cmd->add_flag("--no-fallback", o->no_fallback,
                "GPU runs: a node without a GPU kernel for its arguments is an error (default: it runs on the CPU, with "
                "copies; --timing lists those nodes)");
  cmd->add_flag("--allow-out-of-range", o->allow_out_of_range,
                "Accept a --dim value outside the symbol's [min, max] (warns), e.g. s68=1 for the corpus graphs (min 2)");
  cmd->add_option("--memory-limit", o->memory_limit,
                  "Refuse a run estimated to need more memory: BYTES, 512MiB, 1.5GiB, 2GB or none "
                  "(default on the CPU: 3/4 of physical memory)");
  cmd->callback([o, &exit_code] { exit_code = run(*o); });
}

}  // namespace fxopt::app
