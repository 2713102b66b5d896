// `fxopt patterns --check`: each pattern's search graph instantiated over a grid of its variables
// (core/pattern/pattern_grid.h), matched by the pattern itself, and verified against its replacement on the CPU with
// the trial scheme of region verification; the first (smallest) disagreement is the counterexample.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/pattern/pattern.h"
#include "core/pattern/pattern_grid.h"
#include "runtime/region_verify.h"

namespace fxopt::rt {

struct PatternCheckOptions {
  RegionVerifyOptions verify;  // trials and seed (symbols: the grid's values are concrete)
  GridOptions grid;
  size_t max_points = 96;      // valid grid points verified (smallest first); the rest are not run
};

struct PatternCheckResult {
  std::string pattern, source;
  bool ok = false;
  std::string problem;             // the pattern cannot be instantiated: why (then ok is false)
  size_t points = 0;               // grid points verified
  size_t invalid = 0;              // points whose search graph cannot exist (e.g. a reshape of the wrong size)
  std::string first_invalid;       // why the first invalid point is
  bool truncated = false;          // the grid had more points than were checked
  PatternVerifyStats stats;        // trials, max difference, tolerance
  std::optional<RegionFailure> failure;  // the counterexample
  std::string point;               // its variable values
};

PatternCheckResult check_pattern(const Pattern& p, const PatternCheckOptions& opt);
std::vector<PatternCheckResult> check_patterns(const PatternSet& ps, const PatternCheckOptions& opt);
bool all_ok(const std::vector<PatternCheckResult>& results);

std::string check_report_text(const std::vector<PatternCheckResult>& results);
std::string check_report_json(const std::vector<PatternCheckResult>& results);

}  // namespace fxopt::rt
