// Tests of region verification (core/rewrite/region_graph.h, runtime/region_verify.h) and pattern checking
// (core/pattern/pattern_grid.h, runtime/pattern_check.h): corpus regions, deliberately wrong patterns, tolerances.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/region_graph.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "runtime/pattern_check.h"
#include "runtime/region_verify.h"

using namespace fxopt;

namespace {

const std::string kL1 = std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json";
const std::string kL8 = std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json";
std::string data(const std::string& f) { return std::string(FXOPT_TEST_DATA) + "/data/" + f; }

// Rewrites `path` with `ps`, cutting out every applied match's region.
std::vector<RegionPair> cut_regions(const std::string& path, const PatternSet& ps) {
  Graph g = read_graph_file(path);
  std::vector<RegionPair> regions;
  PipelineOptions po;
  po.before_apply = [&](const Graph& gr, const Match& m, int id) { regions.push_back(cut_region(gr, m, id)); };
  run_pipeline(g, ps, po);
  return regions;
}

size_t count_target(const Graph& g, const std::string& target) {
  size_t k = 0;
  for (const Node& n : g.nodes()) k += n.target == target;
  return k;
}

// y = x * 3.0, replaced by x * REPLACEMENT: a pattern whose replacement differs by a known amount.
std::string scale_pattern(const std::string& replacement, const std::string& extra) {
  return R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
    "name": "scale3", "fused_op": "aten.mul.Tensor",)" + extra + R"(
    "vars": {"N": "sym"},
    "inputs": {"x": "float32 [N, 4]"},
    "nodes": [{"name": "y", "op": "aten.mul.Tensor", "args": ["%x", 3.0]}],
    "outputs": {"y": "y"},
    "replacement": {"nodes": [{"name": "y2", "op": "aten.mul.Tensor", "args": ["%x", )" + replacement + R"(], "val": "float32 [N, 4]"}],
                    "outputs": {"y": "y2"}}}]})";
}

}  // namespace

TEST_CASE("cut_region: the L1 region stands alone, with the pattern's inputs and the replacement built by apply_match") {
  const PatternSet ps = load_patterns({}, {});  // the regions point at its patterns
  const auto regions = cut_regions(kL1, ps);
  REQUIRE(regions.size() == 1);
  const RegionPair& r = regions[0];
  CHECK(r.pattern->name == "rms_gated_fp8_group_quant");
  CHECK(r.root == "convert_element_type_5");
  std::vector<std::string> placeholders;
  for (const Node& n : r.region.nodes())
    if (n.op == OpKind::Placeholder) placeholders.push_back(n.name);
  CHECK(placeholders == std::vector<std::string>{"x", "w", "z"});
  CHECK(r.region.output_node()->args[0].items.size() == 2);  // q and scale
  CHECK(count_target(r.region, "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default") == 0);
  CHECK(count_target(r.replacement, "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default") == 1);
  CHECK(r.replacement.output_node()->args[0].items.size() == 2);
  REQUIRE(r.region.symbols.size() == 1);
  CHECK(r.region.symbols[0].first == "s68");
  CHECK(r.region.topological_error().empty());
  CHECK(r.replacement.topological_error().empty());
}

TEST_CASE("verify_regions: the 8 identical L8 regions are verified once, bit-identical") {
  const PatternSet ps = load_patterns({}, {});
  const auto regions = cut_regions(kL8, ps);
  REQUIRE(regions.size() == 8);
  for (const auto& r : regions) CHECK(r.key == regions[0].key);
  const rt::RegionVerifyReport v = rt::verify_regions(regions, {});
  CHECK(v.ok);
  REQUIRE(v.patterns.size() == 1);
  CHECK(v.patterns[0].matches == 8);
  CHECK(v.patterns[0].distinct == 1);
  CHECK(v.patterns[0].trials >= 16);
  CHECK(v.patterns[0].max_abs == 0.0);
  CHECK(rt::region_report_text(v).find("8 matches, 1 distinct region") != std::string::npos);
}

TEST_CASE("RegionCollector: identical regions are counted, kept once, and verified as such") {
  const PatternSet ps = load_patterns({}, {});
  Graph g = read_graph_file(kL8);
  RegionCollector c;
  PipelineOptions po;
  po.before_apply = [&](const Graph& gr, const Match& m, int id) { c.add(gr, m, id); };
  run_pipeline(g, ps, po);
  CHECK(c.total() == 8);
  REQUIRE(c.distinct().size() == 1);
  CHECK(c.distinct()[0].match_id == 1);
  CHECK(c.matches() == std::vector<std::pair<std::string, size_t>>{{"rms_gated_fp8_group_quant", 8}});
  const rt::RegionVerifyReport v = rt::verify_regions(c, {});
  CHECK(v.ok);
  REQUIRE(v.patterns.size() == 1);
  CHECK(v.patterns[0].matches == 8);
  CHECK(v.patterns[0].distinct == 1);
}

TEST_CASE("verify_regions: a wrong eps is caught with the match, binding, seed and first differing element") {
  const PatternSet ps = load_patterns({data("wrong_eps.patterns.json")}, {"rms_gated_wrong_eps"});
  const auto regions = cut_regions(kL8, ps);
  REQUIRE(regions.size() == 8);
  rt::RegionVerifyOptions o;
  o.seed = 7;
  const rt::RegionVerifyReport v = rt::verify_regions(regions, o);
  CHECK_FALSE(v.ok);
  REQUIRE(v.failure);
  CHECK(v.failure->pattern == "rms_gated_wrong_eps");
  CHECK(v.failure->match_id == 1);
  CHECK(v.failure->seed == 7);
  CHECK(v.failure->symbols.count("s68") == 1);
  CHECK(v.failure->reason.find("first difference at [") != std::string::npos);
  const std::string json = rt::region_report_json(v, "fxopt rewrite ...");
  CHECK(json.find("\"reproduce\": \"fxopt rewrite ...\"") != std::string::npos);
}

TEST_CASE("verify_regions: --dim fixes a symbol; the larger value stays within the memory budget") {
  const PatternSet ps = load_patterns({}, {});
  const auto regions = cut_regions(kL1, ps);
  rt::RegionVerifyOptions o;
  o.dims["s68"] = 5;
  rt::PatternVerifyStats s;
  CHECK_FALSE(rt::verify_region(regions[0], o, s));
  rt::RegionVerifyOptions all;
  rt::PatternVerifyStats s_all;
  CHECK_FALSE(rt::verify_region(regions[0], all, s_all));
  // One binding: 5 all-input distributions + 2 per input (3 inputs). Four levels (min 2, 3, hint 16, 64): the
  // largest runs only the 5 all-input ones.
  CHECK(s.trials == 11);
  CHECK(s_all.trials == 3 * 11 + 5);
  rt::RegionVerifyOptions tight;
  tight.memory_budget = 1;  // nothing fits: only the first binding runs
  rt::PatternVerifyStats s_tight;
  CHECK_FALSE(rt::verify_region(regions[0], tight, s_tight));
  CHECK(s_tight.trials == s.trials);
}

TEST_CASE("pattern tolerance: parsed with its reason; bad values are input errors") {
  auto ps = parse_pattern_file(scale_pattern("3.0", R"("tolerance": {"rtol": 0.001, "fp8_codes": 1, "reason": "r"}, "inf_nan": true,)"), "t.json");
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].tolerance.rtol == 0.001);
  CHECK(ps[0].tolerance.fp8_codes == 1);
  CHECK(ps[0].tolerance.reason == "r");
  CHECK(ps[0].inf_nan);
  CHECK_THROWS_WITH_AS(parse_pattern_file(scale_pattern("3.0", R"("tolerance": {"atol": 0.1},)"), "t.json"),
                       doctest::Contains("t.json: patterns[0] (scale3).tolerance.reason: a tolerance needs a reason"), InputError);
  CHECK_THROWS_WITH_AS(parse_pattern_file(scale_pattern("3.0", R"("tolerance": {"atol": -1, "reason": "r"},)"), "t.json"),
                       doctest::Contains("tolerance.atol: expected a finite number >= 0"), InputError);
  CHECK_THROWS_WITH_AS(parse_pattern_file(scale_pattern("3.0", R"("tolerance": {"ulps": 1, "reason": "r"},)"), "t.json"),
                       doctest::Contains("unknown key 'ulps'"), InputError);
  CHECK_THROWS_WITH_AS(parse_pattern_file(scale_pattern("3.0", R"("inf_nan": 1,)"), "t.json"),
                       doctest::Contains("inf_nan: expected true or false"), InputError);
  rt::RegionVerifyOptions o;
  o.rtol = 0.5;   // above the declared: capped
  o.atol = 0.25;  // the pattern declares none: stays 0
  const Tolerance t = rt::effective_tolerance(ps[0], o);
  CHECK(t.rtol == 0.001);
  CHECK(t.atol == 0.0);
}

TEST_CASE("patterns --check: a replacement off by 1e-4 relative fails bit-exact and passes under a declared tolerance") {
  const auto exact = parse_pattern_file(scale_pattern("3.0003", ""), "t.json");
  rt::PatternCheckResult r = rt::check_pattern(exact[0], {});
  CHECK_FALSE(r.ok);
  REQUIRE(r.failure);
  CHECK(r.point == "N=1");  // the smallest grid point
  CHECK(r.failure->reason.find("output y: first difference at [0, ") != std::string::npos);

  const auto tolerant = parse_pattern_file(scale_pattern("3.0003", R"("tolerance": {"rtol": 0.0002, "reason": "test"},)"), "t.json");
  r = rt::check_pattern(tolerant[0], {});
  CHECK(r.ok);
  CHECK(r.points == 3);  // N in {1, 3, 8}
  CHECK(r.stats.max_abs > 0.0);

  const auto same = parse_pattern_file(scale_pattern("3.0", R"("inf_nan": true,)"), "t.json");
  r = rt::check_pattern(same[0], {});
  CHECK(r.ok);
  CHECK(r.stats.trials == 3 * 6);  // normal, large, zeros, tiny, small and inf_nan at each point
}

TEST_CASE("pattern_grid: candidates satisfy the conditions; D takes G/2, G, 2G where D % G == 0 allows") {
  PatternSet ps = PatternSet::builtin();
  const Pattern* p = nullptr;
  for (const auto& x : ps.patterns())
    if (x.name == "rms_gated_fp8_group_quant") p = &x;
  REQUIRE(p);
  const PatternGrid grid = pattern_grid(*p);
  REQUIRE_FALSE(grid.points.empty());
  const int d = p->var_index("D"), fmax = p->var_index("FMAX"), fp8 = p->var_index("FP8");
  std::set<int64_t> ds;
  std::set<std::string> formats;
  for (const auto& pt : grid.points) {
    ds.insert(*pt.values[d]->i.as_constant());
    formats.insert(pt.values[fp8]->d);
    CHECK(pt.values[fmax]->f == (pt.values[fp8]->d == "float8_e4m3fn" ? 448.0 : 224.0));
  }
  CHECK(ds == std::set<int64_t>{128, 256});
  CHECK(formats == std::set<std::string>{"float8_e4m3fn", "float8_e4m3fnuz"});
  for (size_t i = 1; i < grid.points.size(); ++i) CHECK(grid.points[i - 1].elements <= grid.points[i].elements);
}

TEST_CASE("pattern_grid: a variable only bounded by a condition (a slice's end >= 2*H) takes its bound") {
  PatternSet ps = PatternSet::builtin();
  const Pattern* p = nullptr;
  for (const auto& x : ps.patterns())
    if (x.name == "silu_mul_static_fp8_quant@cuda/native+native") p = &x;
  REQUIRE(p);
  const PatternGrid grid = pattern_grid(*p);
  const int h = p->var_index("H"), end = p->var_index("END");
  std::set<int64_t> hs;
  for (const auto& pt : grid.points) {
    hs.insert(*pt.values[h]->i.as_constant());
    CHECK(*pt.values[end]->i.as_constant() == 2 * *pt.values[h]->i.as_constant());
  }
  CHECK(hs == std::set<int64_t>{1, 2, 3});  // before: END from {1, 2, 3} left only H = 1
}

TEST_CASE("patterns --check: every built-in pattern passes (its smallest grid points; CI runs all: patterns_check_repo.sh)") {
  const PatternSet ps = PatternSet::builtin();
  rt::PatternCheckOptions o;
  o.max_points = 12;
  for (const Pattern& p : ps.patterns()) {
    if (!p.reject.empty()) continue;  // a declared look-alike never rewrites (its region differs on purpose)
    CAPTURE(p.name);
    const rt::PatternCheckResult r = rt::check_pattern(p, o);
    CHECK(r.ok);
    CHECK(r.problem.empty());
    CHECK(r.points > 0);
    if (!p.tolerance.any()) CHECK(r.stats.max_abs == 0.0);
  }
}

TEST_CASE("patterns --check: each deliberately wrong pattern file fails with a counterexample") {
  struct Case {
    const char* file;
    const char* expect;  // in the counterexample's reason
  };
  const Case cases[] = {
      {"wrong_operand_swap.patterns.json", "output q: first difference at"},
      {"wrong_eps.patterns.json", "first difference at"},
      {"wrong_eps_variable.patterns.json", "first difference at"},
      {"wrong_group_size.patterns.json", "says float32"},
      {"wrong_fp8_format.patterns.json", "tensor float8_e4m3fnuz"},
      {"wrong_missing_condition.patterns.json", "does not divide"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.file);
    PatternSet ps;
    ps.load_file(data(c.file));
    REQUIRE(ps.patterns().size() == 1);
    const rt::PatternCheckResult r = rt::check_pattern(ps.patterns()[0], {});
    CHECK_FALSE(r.ok);
    CHECK(r.problem.empty());
    REQUIRE(r.failure);
    CHECK(r.failure->reason.find(c.expect) != std::string::npos);
    CHECK_FALSE(r.point.empty());
    CHECK(rt::check_report_text({r}).find("counterexample: " + r.point) != std::string::npos);
  }
}

TEST_CASE("patterns --check: a pattern it cannot instantiate fails with the reason") {
  // An input without a type: the check cannot choose its shape.
  const char* untyped = R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
    "name": "untyped", "fused_op": "aten.relu.default", "inputs": {"x": null},
    "nodes": [{"name": "r", "op": "aten.relu.default", "args": ["%x"]}], "outputs": {"y": "r"},
    "replacement": {"nodes": [{"name": "r2", "op": "aten.relu.default", "args": ["%x"], "val": "float32 [4]"}],
                    "outputs": {"y": "r2"}}}]})";
  rt::PatternCheckResult r = rt::check_pattern(parse_pattern_file(untyped, "u.json")[0], {});
  CHECK_FALSE(r.ok);
  CHECK(r.problem.find("input x has no type") != std::string::npos);
  // A condition no candidate satisfies.
  const char* impossible = R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
    "name": "impossible", "fused_op": "aten.relu.default", "vars": {"D": "int"}, "inputs": {"x": "float32 [D]"},
    "nodes": [{"name": "r", "op": "aten.relu.default", "args": ["%x"]}], "outputs": {"y": "r"},
    "conditions": ["D > 100"],
    "replacement": {"nodes": [{"name": "r2", "op": "aten.relu.default", "args": ["%x"], "val": "float32 [D]"}],
                    "outputs": {"y": "r2"}}}]})";
  r = rt::check_pattern(parse_pattern_file(impossible, "i.json")[0], {});
  CHECK_FALSE(r.ok);
  CHECK(r.problem.find("cannot instantiate") != std::string::npos);
  // An op the CPU executor lacks: no grid point has a search graph that runs.
  const char* no_kernel = R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
    "name": "nokernel", "fused_op": "mylib.op.default", "vars": {"N": "sym"}, "inputs": {"x": "float32 [N]"},
    "nodes": [{"name": "r", "op": "mylib.other.default", "args": ["%x"]}], "outputs": {"y": "r"},
    "replacement": {"nodes": [{"name": "r2", "op": "mylib.op.default", "args": ["%x"], "val": "float32 [N]"}],
                    "outputs": {"y": "r2"}}}]})";
  r = rt::check_pattern(parse_pattern_file(no_kernel, "k.json")[0], {});
  CHECK_FALSE(r.ok);
  CHECK(r.problem.find("has no kernel for") != std::string::npos);
}

TEST_CASE("RegionCollector with the input graph: each region is also run as the input spelled it") {
  const PatternSet ps = load_patterns({}, {});
  const std::string golden = std::string(FXOPT_TEST_DATA) + "/golden/";
  Graph g = read_graph_file(golden + "gated_l1.input.json");
  const Graph input = read_graph_file(golden + "gated_l1.input.json");
  {
    RegionCollector c(&input);
    PipelineOptions po;
    po.before_apply = [&](const Graph& gr, const Match& m, int id) { c.add(gr, m, id); };
    run_pipeline(g, ps, po);
    REQUIRE(c.distinct().size() == 1);
    const RegionPair& r = c.distinct()[0];
    REQUIRE(r.spelling);  // normalisation changed the region (silu, amax, clamp spellings)
    CHECK(count_target(*r.spelling, "aten.silu.default") == 0);
    CHECK(count_target(r.region, "aten.silu.default") == 1);
    const rt::RegionVerifyReport v = rt::verify_regions(c, {});
    CHECK(v.ok);
    CHECK(v.patterns[0].spelled == 1);
  }
  // The same rewrite checked against an input whose region computes something else (eps 1e-5, same node names):
  // the normalised region agrees with the replacement, the input's spelling does not.
  Graph g2 = read_graph_file(golden + "gated_l1.input.json");
  const Graph other = read_graph_file(golden + "gated_eps_1e-5.input.json");
  RegionCollector c(&other);
  PipelineOptions po;
  po.before_apply = [&](const Graph& gr, const Match& m, int id) { c.add(gr, m, id); };
  run_pipeline(g2, ps, po);
  REQUIRE(c.distinct().size() == 1);
  REQUIRE(c.distinct()[0].spelling);
  const rt::RegionVerifyReport v = rt::verify_regions(c, {});
  CHECK_FALSE(v.ok);
  REQUIRE(v.failure);
  CHECK(v.failure->reason.find("before normalisation) differs from the replacement") != std::string::npos);
}
