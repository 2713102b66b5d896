// Output comparison by value and rewrite verification on the CPU reference executor.
#include "runtime/compare.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/ir/error.h"

namespace fxopt::rt {

bool Comparison::ok() const {
  if (!problem.empty()) return false;
  for (const auto& o : outputs)
    if (!o.ok()) return false;
  return true;
}

namespace {

struct Acc {
  OutputComparison& out;
  const CompareOptions& opt;
  void add(int64_t i, double want, double got) {
    ++out.count;
    const bool wn = std::isnan(want), gn = std::isnan(got);
    double abs_err = 0.0, rel = 0.0;
    bool bad = false;
    if (wn || gn) {
      bad = wn != gn;
      abs_err = bad ? std::numeric_limits<double>::infinity() : 0.0;
      rel = abs_err;
    } else if (want == got) {
      abs_err = 0.0;
    } else {
      abs_err = std::fabs(got - want);  // inf when exactly one side is infinite
      rel = want != 0.0 ? abs_err / std::fabs(want) : std::numeric_limits<double>::infinity();
      bad = std::isinf(want) || std::isinf(got) || !(abs_err <= opt.atol + opt.rtol * std::fabs(want));
    }
    out.max_abs = std::max(out.max_abs, abs_err);
    out.max_rel = std::max(out.max_rel, rel);
    if (bad) {
      if (out.mismatches == 0) {
        out.first_mismatch = i;
        out.first_want = want;
        out.first_got = got;
      }
      ++out.mismatches;
    }
  }
};

}  // namespace

OutputComparison compare_values(const std::string& name, const Value& want, const Value& got, const CompareOptions& opt) {
  OutputComparison out;
  out.name = name;
  Acc acc{out, opt};
  if (want.is_tensor() != got.is_tensor()) {
    out.problem = "one side is " + describe(want) + ", the other " + describe(got);
    return out;
  }
  if (!want.is_tensor()) {
    if (want.is_number() && got.is_number()) acc.add(0, want.as_double(), got.as_double());
    else if (describe(want) != describe(got)) out.problem = describe(want) + " vs " + describe(got);
    return out;
  }
  const Tensor& a = want.tensor;
  const Tensor& b = got.tensor;
  if (a.dtype() != b.dtype()) {
    out.problem = std::string("dtype ") + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype());
    return out;
  }
  if (a.shape() != b.shape()) {
    out.problem = "shape " + shape_str(a.shape()) + " vs " + shape_str(b.shape());
    return out;
  }
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const int64_t n = ac.numel();
  constexpr int64_t kChunk = 1024;
  double wa[kChunk], ga[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    gather<double>(ac, i0, 1, m, wa);
    gather<double>(bc, i0, 1, m, ga);
    for (int64_t j = 0; j < m; ++j) acc.add(i0 + j, wa[j], ga[j]);
  }
  return out;
}

Comparison compare_results(const ExecResult& want, const ExecResult& got, const CompareOptions& opt) {
  Comparison c;
  if (want.outputs.size() != got.outputs.size()) {
    c.problem = "different number of outputs: " + std::to_string(want.outputs.size()) + " vs " +
                std::to_string(got.outputs.size());
    return c;
  }
  for (size_t i = 0; i < want.outputs.size(); ++i)
    c.outputs.push_back(compare_values(want.output_names[i], want.outputs[i], got.outputs[i], opt));
  return c;
}

std::string format_comparison(const Comparison& c) {
  std::string s;
  char buf[512];
  if (!c.problem.empty()) s += "  " + c.problem + "\n";
  for (size_t i = 0; i < c.outputs.size(); ++i) {
    const auto& o = c.outputs[i];
    if (!o.problem.empty()) {
      std::snprintf(buf, sizeof buf, "  output %zu %s: cannot compare: %s\n", i, o.name.c_str(), o.problem.c_str());
    } else {
      std::snprintf(buf, sizeof buf, "  output %zu %s: max abs %.6g max rel %.6g mismatches %lld/%lld %s\n", i,
                    o.name.c_str(), o.max_abs, o.max_rel, static_cast<long long>(o.mismatches),
                    static_cast<long long>(o.count), o.ok() ? "OK" : "MISMATCH");
      s += buf;
      if (o.mismatches) {
        std::snprintf(buf, sizeof buf, "    first mismatch at element %lld: expected %.9g, got %.9g\n",
                      static_cast<long long>(o.first_mismatch), o.first_want, o.first_got);
      } else {
        buf[0] = 0;
      }
    }
    s += buf;
  }
  return s;
}

VerifyResult verify_rewrite(const Graph& original, const Graph& rewritten, const VerifyOptions& opt) {
  VerifyResult res;
  try {
    check_runnable(original, cpu_backend());
  } catch (const InputError& e) {
    res.reason = std::string("the original graph cannot run on the CPU executor: ") + e.what();
    return res;
  }
  try {
    check_runnable(rewritten, cpu_backend());
  } catch (const InputError& e) {
    res.reason = std::string("the rewritten graph cannot run on the CPU executor: ") + e.what();
    return res;
  }
  ExecOptions eo;
  eo.threads = opt.threads;
  for (int64_t v : opt.symbol_values) {
    VerifyTrial trial;
    std::string stage = "binding symbols";
    try {
      SymbolValues given;
      for (const auto& [name, info] : original.symbols) {
        int64_t x = v;
        if (info.min && x < *info.min) x = *info.min;
        if (info.max && x > *info.max) x = *info.max;
        given[name] = x;
      }
      trial.symbols = bind_symbols(original, given);
      SymbolValues given2;
      for (const auto& [name, info] : rewritten.symbols) {
        auto it = trial.symbols.find(name);
        if (it != trial.symbols.end()) given2[name] = it->second;
      }
      const SymbolValues sym2 = bind_symbols(rewritten, given2);
      stage = "making inputs";
      const TensorMap inputs = make_inputs(original, trial.symbols, opt.seed);
      for (const Node& n : rewritten.nodes())
        if (n.op == OpKind::Placeholder && n.val && n.val->is_tensor() && !inputs.count(n.target))
          throw InputError("the rewritten graph has a placeholder '" + n.target + "' the original lacks");
      stage = "running the original graph";
      const ExecResult a = run_graph(original, trial.symbols, inputs, eo);
      stage = "running the rewritten graph";
      const ExecResult b = run_graph(rewritten, sym2, make_inputs(rewritten, sym2, opt.seed, inputs), eo);
      trial.comparison = compare_results(a, b, opt.tolerance);
    } catch (const std::exception& e) {
      res.reason = stage + " failed: " + e.what();
      res.trials.push_back(std::move(trial));
      return res;
    }
    const bool ok = trial.comparison.ok();
    res.trials.push_back(std::move(trial));
    if (!ok) {
      std::string syms;
      for (const auto& [k, x] : res.trials.back().symbols) syms += (syms.empty() ? "" : ", ") + k + "=" + std::to_string(x);
      res.reason = "the rewritten graph's outputs differ from the original's (" + (syms.empty() ? "no symbols" : syms) +
                   ", seed " + std::to_string(opt.seed) + "):\n" + format_comparison(res.trials.back().comparison);
      return res;
    }
  }
  res.ok = true;
  return res;
}

}  // namespace fxopt::rt
