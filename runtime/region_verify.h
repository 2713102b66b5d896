// Region verification: runs each matched region and its replacement (core/rewrite/region_graph.h) on the CPU
// executor over a trial scheme (symbol values x input distributions x seeds) and compares the outputs,
// bit for bit unless the pattern declares a tolerance. Used by `rewrite --verify` and `patterns --check`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/pattern/pattern.h"
#include "core/rewrite/region_graph.h"
#include "runtime/executor.h"

namespace fxopt::rt {

// How the inputs of a trial are drawn: all inputs from one distribution, then (with several inputs) each
// input in turn small or large while the others are normal (an eps only shows when one input is small).
// InfNan only for patterns that declare "inf_nan": true.
// normal: roughly normal in (-2, 2); large: magnitudes in [max/2, max] of the dtype; zeros; tiny: a few
// multiples of the smallest subnormal; small: normal * 2^-10 (where an eps of 1e-6 matters).
enum class InputDist : uint8_t { Normal, Large, Zeros, Tiny, Small, InfNan };
const char* to_string(InputDist d);  // "normal", "large", "zeros", "tiny", "small", "inf_nan"

struct RegionVerifyOptions {
  int trials = 1;                    // seeds (seed, seed+1, ...) of each random distribution per binding
  uint64_t seed = 0;
  SymbolValues dims;                 // fixed symbol values (--dim); other symbols take the trial levels
  std::optional<double> rtol, atol;  // override a pattern's declared bounds, capped at them
  size_t memory_budget = size_t{16} << 20;  // bytes of region inputs per trial (bounds the larger value)
  int threads = 0;                   // executor threads (0 = all)
};

// The first failing trial: enough to reproduce it.
struct RegionFailure {
  int match_id = 0;
  std::string pattern, root, bindings;
  SymbolValues symbols;
  uint64_t seed = 0;
  InputDist dist = InputDist::Normal;
  std::string focus;   // when set, only this input was drawn from `dist`, the others normally
  std::string inputs_str() const;  // "large", "x tiny, others normal"
  std::string reason;  // what failed or differed; a difference names the output and its first differing element
};

struct PatternVerifyStats {
  std::string pattern;
  size_t matches = 0;        // regions given
  size_t distinct = 0;       // distinct regions verified (identical ones share a key)
  size_t trials = 0;         // region/replacement run pairs compared
  size_t spelled = 0;        // distinct regions also compared as the input spelled them (before normalisation)
  double max_abs = 0.0;      // largest |difference| seen over all elements (0: bit-identical)
  int64_t max_fp8_codes = 0; // largest distance in fp8 codes seen
  Tolerance tolerance;       // the one applied
};

struct RegionVerifyReport {
  bool ok = true;
  std::vector<PatternVerifyStats> patterns;  // in order of first appearance
  std::optional<RegionFailure> failure;
  double seconds = 0.0;
};

// The tolerance applied to a pattern: its declared one, with `rtol`/`atol` overriding a bound only downward.
Tolerance effective_tolerance(const Pattern& p, const RegionVerifyOptions& opt);

// Verifies every region (identical ones once) and stops at the first failure. Never throws for a region
// that cannot run: that is a failure with its reason.
RegionVerifyReport verify_regions(const std::vector<RegionPair>& regions, const RegionVerifyOptions& opt);
// The same over a rewrite's collected regions (the identical ones were dropped while collecting).
RegionVerifyReport verify_regions(const RegionCollector& regions, const RegionVerifyOptions& opt);

// Verifies one region pair, adding to `stats`; nullopt when every trial agreed.
std::optional<RegionFailure> verify_region(const RegionPair& r, const RegionVerifyOptions& opt, PatternVerifyStats& stats);

// "rms_gated_fp8_group_quant: 48 matches, 1 distinct region, 16 trials, max difference 0 (bit-identical)".
std::string pattern_stats_line(const PatternVerifyStats& s);
std::string symbols_str(const SymbolValues& s);  // "s68=3, s0=2" or "no symbols"

// "--dim SYM=V" values (repeatable): InputError for a malformed item or a symbol given twice.
SymbolValues parse_dims(const std::vector<std::string>& dims);

std::string region_report_text(const RegionVerifyReport& r);
std::string region_report_json(const RegionVerifyReport& r, const std::string& reproduce);

}  // namespace fxopt::rt
