// Numerical comparison of two runs (per output max abs/rel error and mismatch count, fp8 by value) and
// rewrite verification: run the original and the rewritten graph on the same seeded inputs and compare.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "runtime/executor.h"

namespace fxopt::rt {

// An element mismatches when |got - want| > atol + rtol * |want| (torch.allclose), or exactly one is NaN.
// Both zero: exact equality by value (+0 == -0; NaN == NaN).
struct CompareOptions {
  double rtol = 0.0;
  double atol = 0.0;
};

struct OutputComparison {
  std::string name;
  std::string problem;     // non-empty when the outputs cannot be compared (kind, dtype or shape differs)
  int64_t count = 0;       // elements compared
  int64_t mismatches = 0;
  double max_abs = 0.0;    // max |got - want| (inf when one side is NaN or inf and the other not)
  double max_rel = 0.0;    // max |got - want| / |want| over want != 0 (inf when want == 0 and got != 0)
  int64_t first_mismatch = -1;  // linear index of the first mismatch
  double first_want = 0.0, first_got = 0.0;
  bool ok() const { return problem.empty() && mismatches == 0; }
};

struct Comparison {
  std::vector<OutputComparison> outputs;
  std::string problem;  // e.g. different output counts
  bool ok() const;
};

// Compares `got` against the reference `want`, output by output.
OutputComparison compare_values(const std::string& name, const Value& want, const Value& got, const CompareOptions& opt);
Comparison compare_results(const ExecResult& want, const ExecResult& got, const CompareOptions& opt);

struct VerifyOptions {
  CompareOptions tolerance;                   // zero: bit-exact by value
  uint64_t seed = 0;
  std::vector<int64_t> symbol_values{2, 3};   // one trial per value: every symbol = max(min, v) (and <= max)
  int threads = 0;
};

struct VerifyTrial {
  SymbolValues symbols;
  Comparison comparison;
};

struct VerifyResult {
  bool ok = false;
  std::string reason;               // why not ok (a run failed, outputs differ), empty when ok
  std::vector<VerifyTrial> trials;
};

// Runs `original` and `rewritten` on the CPU with the same seeded inputs (placeholders matched by name)
// for each trial's small symbol values and compares the outputs. Never throws for graph problems: a graph
// that cannot run makes the result not ok with the reason.
VerifyResult verify_rewrite(const Graph& original, const Graph& rewritten, const VerifyOptions& opt = {});

// One line per output, e.g. "  output 0 addmm_default: max abs 0 max rel 0 mismatches 0/65536 OK".
std::string format_comparison(const Comparison& c);

}  // namespace fxopt::rt
