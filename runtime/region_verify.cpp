// Region verification on the CPU executor: the trial scheme, input distributions, tolerant comparison, reports.
#include "runtime/region_verify.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt::rt {

const char* to_string(InputDist d) {
  switch (d) {
    case InputDist::Normal: return "normal";
    case InputDist::Large: return "large";
    case InputDist::Zeros: return "zeros";
    case InputDist::Tiny: return "tiny";
    case InputDist::Small: return "small";
    case InputDist::InfNan: return "inf_nan";
  }
  return "?";
}

std::string RegionFailure::inputs_str() const {
  return focus.empty() ? std::string(to_string(dist)) : focus + " " + to_string(dist) + ", others normal";
}

std::string symbols_str(const SymbolValues& s) {
  std::string out;
  for (const auto& [k, v] : s) out += (out.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  return out.empty() ? "no symbols" : out;
}

Tolerance effective_tolerance(const Pattern& p, const RegionVerifyOptions& opt) {
  Tolerance t = p.tolerance;
  if (opt.atol) t.atol = std::min(t.atol, *opt.atol);
  if (opt.rtol) t.rtol = std::min(t.rtol, *opt.rtol);
  return t;
}

namespace {

uint64_t mix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// The largest finite value and the smallest positive subnormal of a floating dtype.
void float_limits(DType d, double& max, double& denorm) {
  switch (d) {
    case DType::F16: max = 65504.0; denorm = std::ldexp(1.0, -24); return;
    case DType::BF16: max = 3.3895313892515355e38; denorm = std::ldexp(1.0, -133); return;
    case DType::F64: max = std::numeric_limits<double>::max(); denorm = std::numeric_limits<double>::denorm_min(); return;
    case DType::F8E4M3FN: max = 448.0; denorm = std::ldexp(1.0, -9); return;
    case DType::F8E4M3FNUZ: max = 240.0; denorm = std::ldexp(1.0, -10); return;
    case DType::F8E5M2: max = 57344.0; denorm = std::ldexp(1.0, -16); return;
    default: max = std::numeric_limits<float>::max(); denorm = std::numeric_limits<float>::denorm_min(); return;
  }
}

Tensor make_input(DType dtype, const Shape& shape, uint64_t seed, const std::string& name, InputDist dist) {
  if (dist == InputDist::Normal || (!is_floating(dtype) && dist != InputDist::Zeros))
    return random_tensor(dtype, shape, seed, name);
  Tensor t = Tensor::empty(dtype, shape);
  const int64_t n = t.numel();
  double max = 0, denorm = 0;
  float_limits(dtype, max, denorm);
  uint64_t state = (seed + 1) * 0xD1B54A32D192ED03ull ^ hash_name(name) ^ (static_cast<uint64_t>(dist) << 56);
  Tensor normal = dist == InputDist::InfNan || dist == InputDist::Small ? random_tensor(dtype, shape, seed, name) : Tensor();
  constexpr int64_t kChunk = 1024;
  double buf[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    for (int64_t j = 0; j < m; ++j) {
      const uint64_t r = mix(state);
      const double sign = (r & 1) ? -1.0 : 1.0;
      const double u = static_cast<double>((r >> 11) & 0xFFFFF) / static_cast<double>(0x100000);  // [0, 1)
      switch (dist) {
        case InputDist::Zeros: buf[j] = 0.0; break;
        case InputDist::Large: buf[j] = sign * max * (0.5 + 0.5 * u); break;  // within [max/2, max]
        case InputDist::Tiny: buf[j] = sign * denorm * static_cast<double>(1 + ((r >> 8) & 63)); break;
        case InputDist::Small: buf[j] = std::ldexp(normal.value_at(i0 + j), -10); break;
        case InputDist::InfNan: {
          const uint64_t k = (r >> 40) & 7;  // 3 of 8 elements special
          buf[j] = k == 0   ? std::numeric_limits<double>::infinity()
                   : k == 1 ? -std::numeric_limits<double>::infinity()
                   : k == 2 ? std::numeric_limits<double>::quiet_NaN()
                            : normal.value_at(i0 + j);
          break;
        }
        default: buf[j] = 0.0; break;
      }
    }
    scatter<double>(t, i0, m, buf);
  }
  return t;
}

// Ordered position of an fp8 code (sign-magnitude to a line), for distances in representable steps.
int64_t fp8_ordinal(uint8_t b) {
  const int64_t mag = b & 0x7F;
  return (b & 0x80) ? -mag : mag;
}

std::string index_str(int64_t linear, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t s = std::max<int64_t>(shape[d], 1);
    idx[d] = linear % s;
    linear /= s;
  }
  std::string out = "[";
  for (size_t d = 0; d < idx.size(); ++d) out += (d ? ", " : "") + std::to_string(idx[d]);
  return out + "]";
}

std::string num_str(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

struct CompareOutcome {
  bool ok = true;
  double max_abs = 0.0;
  int64_t max_codes = 0;
  std::string reason;
};

// Compares one output of the region (want) with the replacement's (got) under the tolerance.
void compare_output(const std::string& name, const Value& want, const Value& got, const Tolerance& tol, CompareOutcome& c) {
  auto fail = [&](std::string why) {
    if (c.ok) c.reason = "output " + name + ": " + why;
    c.ok = false;
  };
  if (want.is_tensor() != got.is_tensor()) return fail("the region gives " + describe(want) + ", the replacement " + describe(got));
  if (!want.is_tensor()) {
    if (describe(want) != describe(got) || (want.is_number() && want.as_double() != got.as_double()))
      fail("the region gives " + describe(want) + ", the replacement " + describe(got));
    return;
  }
  const Tensor a = want.tensor.contiguous(), b = got.tensor.contiguous();
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return fail("the region gives " + describe(want) + ", the replacement " + describe(got));
  const bool fp8 = is_fp8(a.dtype());
  const int64_t n = a.numel();
  constexpr int64_t kChunk = 1024;
  double wa[kChunk], ga[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    gather<double>(a, i0, 1, m, wa);
    gather<double>(b, i0, 1, m, ga);
    for (int64_t j = 0; j < m; ++j) {
      const double w = wa[j], g = ga[j];
      if (w == g || (std::isnan(w) && std::isnan(g))) continue;
      bool bad = std::isnan(w) || std::isnan(g) || std::isinf(w) || std::isinf(g);
      const double d = std::fabs(g - w);
      if (!bad) c.max_abs = std::max(c.max_abs, d);
      int64_t codes = 0;
      if (fp8) {
        codes = std::llabs(fp8_ordinal(a.data<uint8_t>()[i0 + j]) - fp8_ordinal(b.data<uint8_t>()[i0 + j]));
        c.max_codes = std::max(c.max_codes, codes);
      }
      if (!bad) {
        const bool within_value = d <= tol.atol + tol.rtol * std::fabs(w);
        const bool within_codes = fp8 && codes <= tol.fp8_codes;
        bad = !(within_value || within_codes);
      }
      if (bad && c.ok) {
        std::string why = "first difference at " + index_str(i0 + j, a.shape()) + " (element " + std::to_string(i0 + j) +
                          " of " + std::to_string(n) + "): region " + num_str(w) + ", replacement " + num_str(g);
        if (fp8) why += " (" + std::to_string(codes) + " fp8 codes apart)";
        fail(why);
      }
    }
  }
}

// Total bytes of the region's tensor inputs under a binding (nullopt when a shape cannot be evaluated).
std::optional<size_t> input_bytes(const Graph& g, const SymbolValues& s) {
  size_t total = 0;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Placeholder || !n.val || !n.val->is_tensor()) continue;
    auto d = dtype_from_name(n.val->tensor.dtype);
    if (!d) return std::nullopt;
    size_t numel = 1;
    for (const auto& dim : n.val->tensor.shape) {
      int64_t v = 0;
      try {
        v = sym::evaluate(dim.expr, s);
      } catch (const std::exception&) {
        return std::nullopt;
      }
      if (v < 0) return std::nullopt;
      numel *= static_cast<size_t>(v);
    }
    total += numel * dtype_size(*d);
  }
  return total;
}

// The symbol bindings of the trials: every symbol at 1, at a small odd value, at its hint, at a larger value
// (halved toward the hint while the inputs exceed the memory budget), each clamped to the symbol's range;
// --dim values fixed; duplicates dropped.
std::vector<SymbolValues> symbol_levels(const Graph& g, const RegionVerifyOptions& opt) {
  std::vector<SymbolValues> out;
  for (int level = 0; level < 4; ++level) {
    SymbolValues s;
    for (const auto& [name, info] : g.symbols) {
      auto fixed = opt.dims.find(name);
      if (fixed != opt.dims.end()) {
        s[name] = fixed->second;
        continue;
      }
      const int64_t hint = info.hint.value_or(8);
      int64_t v = level == 0 ? 1 : level == 1 ? 3 : level == 2 ? hint : std::max<int64_t>(4 * hint, 16);
      if (info.min && v < *info.min) v = *info.min;
      if (info.max && v > *info.max) v = *info.max;
      s[name] = v;
    }
    if (level == 3) {
      for (int guard = 0; guard < 64; ++guard) {
        auto bytes = input_bytes(g, s);
        if (!bytes || *bytes <= opt.memory_budget) break;
        bool shrunk = false;
        for (auto& [name, v] : s) {
          const SymbolInfo* info = g.symbol(name);
          const int64_t floor = std::max<int64_t>({info && info->hint ? *info->hint : 1, info && info->min ? *info->min : 1, 1});
          if (!opt.dims.count(name) && v / 2 >= floor) { v /= 2; shrunk = true; }
        }
        if (!shrunk) break;
      }
    }
    auto bytes = input_bytes(g, s);
    if (bytes && *bytes > opt.memory_budget && level != 0 && !out.empty()) continue;  // too large: skipped
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::optional<RegionFailure> verify_region(const RegionPair& r, const RegionVerifyOptions& opt, PatternVerifyStats& stats) {
  const Pattern& p = *r.pattern;
  const Tolerance tol = effective_tolerance(p, opt);
  ExecOptions eo;
  eo.threads = opt.threads;
  struct Scheme {
    InputDist dist;
    std::string focus;  // empty: every input
  };
  std::vector<Scheme> schemes = {{InputDist::Normal, ""}, {InputDist::Large, ""}, {InputDist::Zeros, ""},
                                 {InputDist::Tiny, ""}, {InputDist::Small, ""}};
  if (p.inf_nan) schemes.push_back({InputDist::InfNan, ""});
  std::vector<std::string> tensor_inputs;
  for (const Node& n : r.region.nodes())
    if (n.op == OpKind::Placeholder && n.val && n.val->is_tensor()) tensor_inputs.push_back(n.target);
  if (tensor_inputs.size() > 1)
    for (const auto& name : tensor_inputs) {
      schemes.push_back({InputDist::Small, name});
      schemes.push_back({InputDist::Large, name});
    }
  if (r.spelling) ++stats.spelled;
  RegionFailure f;
  f.match_id = r.match_id;
  f.pattern = p.name;
  f.root = r.root;
  f.bindings = r.bindings;
  const std::vector<SymbolValues> levels = symbol_levels(r.region, opt);
  for (size_t li = 0; li < levels.size(); ++li) {
    const SymbolValues& given = levels[li];
    f.symbols = given;
    for (const Scheme& sc : schemes) {
      // The largest binding tests sizes: all inputs from one distribution; one input at a time is for the others.
      if (li > 0 && li + 1 == levels.size() && !sc.focus.empty()) continue;
      const InputDist dist = sc.dist;
      const int seeds = dist == InputDist::Zeros ? 1 : std::max(1, opt.trials);
      for (int t = 0; t < seeds; ++t) {
        f.seed = opt.seed + static_cast<uint64_t>(t);
        f.dist = dist;
        f.focus = sc.focus;
        std::string stage = "binding symbols";
        try {
          const SymbolValues syms = bind_symbols(r.region, given);
          f.symbols = syms;
          stage = "making inputs";
          TensorMap inputs;
          for (const Node& n : r.region.nodes()) {
            if (n.op != OpKind::Placeholder || !n.val || !n.val->is_tensor()) continue;
            auto d = dtype_from_name(n.val->tensor.dtype);
            if (!d) throw InputError("placeholder '" + n.name + "': dtype '" + n.val->tensor.dtype + "' is not supported by the executor");
            const bool drawn = sc.focus.empty() || sc.focus == n.target;
            inputs[n.target] = make_input(*d, concrete_shape(n, syms), f.seed, n.target, drawn ? dist : InputDist::Normal);
          }
          stage = "running the region";
          const ExecResult a = run_graph(r.region, syms, inputs, eo);
          stage = "running the replacement";
          const ExecResult b = run_graph(r.replacement, syms, inputs, eo);
          ++stats.trials;
          CompareOutcome c;
          if (a.outputs.size() != b.outputs.size()) {
            c.ok = false;
            c.reason = "the region has " + std::to_string(a.outputs.size()) + " outputs, the replacement " +
                       std::to_string(b.outputs.size());
          }
          for (size_t i = 0; c.ok && i < a.outputs.size(); ++i) {
            std::string name = i < p.output_names.size() ? p.output_names[i] : a.output_names[i];
            compare_output(name, a.outputs[i], b.outputs[i], tol, c);
          }
          if (c.ok && r.spelling) {
            // The input's own spelling of the region (before normalisation) against the replacement.
            stage = "running the input's spelling of the region";
            SymbolValues given2 = syms;
            for (auto it = given2.begin(); it != given2.end();)
              it = r.spelling->symbol(it->first) ? std::next(it) : given2.erase(it);
            const ExecResult a2 = run_graph(*r.spelling, bind_symbols(*r.spelling, given2), inputs, eo);
            for (size_t i = 0; c.ok && i < a2.outputs.size() && i < b.outputs.size(); ++i) {
              std::string name = i < p.output_names.size() ? p.output_names[i] : a2.output_names[i];
              compare_output(name, a2.outputs[i], b.outputs[i], tol, c);
            }
            if (!c.ok)
              c.reason = "the region as the input spells it (before normalisation) differs from the replacement: " +
                         c.reason;
          }
          stats.max_abs = std::max(stats.max_abs, c.max_abs);
          stats.max_fp8_codes = std::max(stats.max_fp8_codes, c.max_codes);
          if (!c.ok) {
            f.reason = c.reason;
            return f;
          }
        } catch (const std::exception& e) {
          f.reason = stage + " failed: " + e.what();
          return f;
        }
      }
    }
  }
  return std::nullopt;
}

namespace {

// Verifies the distinct regions in order; `matches` gives each pattern's match count.
RegionVerifyReport verify_distinct(const std::vector<const RegionPair*>& distinct,
                                   const std::vector<std::pair<std::string, size_t>>& matches,
                                   const std::map<std::string, const Pattern*>& patterns, const RegionVerifyOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  RegionVerifyReport rep;
  std::map<std::string, size_t> index;
  for (const auto& [name, count] : matches) {
    index[name] = rep.patterns.size();
    PatternVerifyStats s;
    s.pattern = name;
    s.matches = count;
    s.tolerance = effective_tolerance(*patterns.at(name), opt);
    rep.patterns.push_back(std::move(s));
  }
  for (const RegionPair* r : distinct) {
    PatternVerifyStats& s = rep.patterns[index.at(r->pattern->name)];
    ++s.distinct;
    if (auto f = verify_region(*r, opt, s)) {
      rep.ok = false;
      rep.failure = std::move(f);
      break;
    }
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace

RegionVerifyReport verify_regions(const std::vector<RegionPair>& regions, const RegionVerifyOptions& opt) {
  std::vector<const RegionPair*> distinct;
  std::vector<std::pair<std::string, size_t>> matches;
  std::map<std::string, const Pattern*> patterns;
  std::set<std::string> keys;
  for (const RegionPair& r : regions) {
    auto it = std::find_if(matches.begin(), matches.end(), [&](const auto& x) { return x.first == r.pattern->name; });
    if (it == matches.end()) matches.emplace_back(r.pattern->name, 1);
    else ++it->second;
    patterns[r.pattern->name] = r.pattern;
    if (keys.insert(r.key).second) distinct.push_back(&r);
  }
  return verify_distinct(distinct, matches, patterns, opt);
}

RegionVerifyReport verify_regions(const RegionCollector& regions, const RegionVerifyOptions& opt) {
  std::vector<const RegionPair*> distinct;
  std::map<std::string, const Pattern*> patterns;
  for (const RegionPair& r : regions.distinct()) {
    distinct.push_back(&r);
    patterns[r.pattern->name] = r.pattern;
  }
  return verify_distinct(distinct, regions.matches(), patterns, opt);
}

namespace {
std::string tolerance_str(const Tolerance& t) {
  if (!t.any()) return "bit-identical";
  std::string s = "tolerance";
  if (t.atol > 0) s += " atol " + num_str(t.atol);
  if (t.rtol > 0) s += " rtol " + num_str(t.rtol);
  if (t.fp8_codes > 0) s += " fp8_codes " + std::to_string(t.fp8_codes);
  return s + ": " + t.reason;
}
}  // namespace

std::string pattern_stats_line(const PatternVerifyStats& s) {
  std::string line = s.pattern + ": " + std::to_string(s.matches) + (s.matches == 1 ? " match, " : " matches, ") +
                     std::to_string(s.distinct) + (s.distinct == 1 ? " distinct region, " : " distinct regions, ") +
                     std::to_string(s.trials) + (s.trials == 1 ? " trial" : " trials") + ", max difference " +
                     num_str(s.max_abs);
  if (s.max_fp8_codes > 0) line += " (" + std::to_string(s.max_fp8_codes) + " fp8 codes)";
  if (s.spelled > 0) line += ", " + std::to_string(s.spelled) + " also as spelled before normalisation";
  return line + " [" + tolerance_str(s.tolerance) + "]";
}

SymbolValues parse_dims(const std::vector<std::string>& dims) {
  SymbolValues out;
  for (const std::string& d : dims) {
    const size_t eq = d.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == d.size())
      throw InputError("--dim '" + d + "': expected SYMBOL=VALUE, e.g. s68=1024");
    const std::string name = d.substr(0, eq), value = d.substr(eq + 1);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size()) throw InputError("--dim '" + d + "': '" + value + "' is not an integer");
    if (out.count(name)) throw InputError("--dim: symbol '" + name + "' given twice");
    out[name] = v;
  }
  return out;
}

std::string region_report_text(const RegionVerifyReport& r) {
  std::string s;
  for (const auto& p : r.patterns) s += "  " + pattern_stats_line(p) + "\n";
  if (r.failure) {
    const auto& f = *r.failure;
    s += "FAILED: match #" + std::to_string(f.match_id) + " (" + f.pattern + " at " + f.root + ", " + f.bindings + ")\n";
    s += "  trial: " + symbols_str(f.symbols) + ", inputs " + f.inputs_str() + ", seed " + std::to_string(f.seed) + "\n";
    s += "  " + f.reason + "\n";
  }
  return s;
}

std::string region_report_json(const RegionVerifyReport& r, const std::string& reproduce) {
  using Json = nlohmann::ordered_json;
  Json j;
  j["mode"] = "regions";
  j["ok"] = r.ok;
  j["seconds"] = r.seconds;
  j["patterns"] = Json::array();
  for (const auto& p : r.patterns) {
    Json t = nullptr;
    if (p.tolerance.any())
      t = Json{{"atol", p.tolerance.atol}, {"rtol", p.tolerance.rtol}, {"fp8_codes", p.tolerance.fp8_codes},
               {"reason", p.tolerance.reason}};
    j["patterns"].push_back(Json{{"pattern", p.pattern}, {"matches", p.matches}, {"distinct_regions", p.distinct},
                                 {"trials", p.trials}, {"spelled_regions", p.spelled}, {"max_abs_diff", p.max_abs}, {"max_fp8_code_diff", p.max_fp8_codes},
                                 {"tolerance", t}});
  }
  if (r.failure) {
    const auto& f = *r.failure;
    Json syms = Json::object();
    for (const auto& [k, v] : f.symbols) syms[k] = v;
    j["failure"] = Json{{"match", f.match_id}, {"pattern", f.pattern}, {"root", f.root}, {"bindings", f.bindings},
                        {"symbols", syms}, {"inputs", f.inputs_str()}, {"seed", f.seed}, {"reason", f.reason},
                        {"reproduce", reproduce}};
  } else {
    j["failure"] = nullptr;
  }
  return j.dump(2) + "\n";
}

}  // namespace fxopt::rt
