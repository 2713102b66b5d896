// Tests of the rewrite driver: corpus counts, fixed point and cap, non-overlap, names, provenance, targets.
#include <doctest/doctest.h>

#include <algorithm>

#include <string>

#include "core/fxgraph/fxgraph_io.h"
#include "core/ir/error.h"
#include "core/rewrite/rewrite_pipeline.h"

using namespace fxopt;

namespace {

// relu(relu(x)) -> relu(x): each rewrite can expose another, so a chain needs several iterations.
const char* kReluReluPattern = R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
  "name": "relu_relu", "fused_op": "aten.relu.default",
  "inputs": {"x": null},
  "nodes": [{"name": "inner", "op": "aten.relu.default", "args": ["%x"]},
            {"name": "outer", "op": "aten.relu.default", "args": ["%inner"]}],
  "outputs": {"out": "outer"},
  "replacement": {"nodes": [{"name": "relu", "op": "aten.relu.default", "args": ["%x"], "val": "float32 [4]"}],
                  "outputs": {"out": "relu"}}}]})";

Graph relu_chain(int n) {
  std::string nodes =
      R"({"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [4], "stride": [1], "device": "cpu"}}})";
  std::string prev = "x";
  for (int i = 1; i <= n; ++i) {
    std::string name = "r" + std::to_string(i);
    nodes += ",\n" + std::string(R"({"name": ")") + name + R"(", "op": "call_function", "target": "aten.relu.default", "args": [{"node": ")" +
             prev + R"("}], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [4], "stride": [1], "device": "cpu"}}})";
    prev = name;
  }
  nodes += ",\n" + std::string(R"({"name": "output", "op": "output", "target": "output", "args": [[{"node": ")") + prev +
           R"("}]], "kwargs": {}, "meta": {}})";
  return read_graph_text("{\"format\": \"fxgraph\", \"version\": 1, \"nodes\": [\n" + nodes + "\n]}", "chain.json");
}

PatternSet relu_patterns() {
  PatternSet ps;
  for (auto& p : parse_pattern_file(kReluReluPattern, "p.json")) ps.add(std::move(p));
  return ps;
}

}  // namespace

TEST_CASE("corpus: L1 fuses once, L8 eight times; the output is valid and keeps surviving names") {
  for (auto [file, n] : {std::pair<const char*, size_t>{"/qwen3next_gdn_L1.fxgraph.json", 1}}) {
    Graph g = read_graph_file(std::string(FXOPT_CORPUS_DIR) + file);
    PipelineReport r = run_pipeline(g, load_patterns({}, {}), {});
    CHECK(r.rewrite.matches.size() == n);
    CHECK(r.rewrite.iterations == 2);
    CHECK_FALSE(r.rewrite.hit_cap);
    const auto& m = r.rewrite.matches[0];
    CHECK(m.pattern == "rms_gated_fp8_group_quant");
    CHECK(m.bindings[0] == std::pair<std::string, std::string>{"N", "s68"});
    Node* fused = g.find("fused_rms_gated_fp8_group_quant");
    REQUIRE(fused);
    CHECK(*fused->meta("fxopt_from") == R"({"pattern": "rms_gated_fp8_group_quant", "match": 1})");
    CHECK(arg_to_json(fused->args[4]) == "1e-06");
    CHECK(val_to_json(*g.find("q_fused")->val) ==
          R"({"dtype": "float8_e4m3fn", "shape": ["s68", 4096], "stride": [4096, 1], "device": "cuda:0"})");
    CHECK(g.find("addmm_default"));  // outside the region: kept, same name
    CHECK(g.find("view_6") == nullptr);
    CHECK(g.topological_error().empty());
    CHECK_NOTHROW(read_graph_text(write_graph_text(g), "out"));
  }
  Graph g8 = read_graph_file(std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json");
  PipelineReport r8 = run_pipeline(g8, load_patterns({}, {}), {});
  CHECK(r8.rewrite.matches.size() == 8);
  CHECK(g8.topological_error().empty());
}

TEST_CASE("driver: fixed point, non-overlapping matches, iteration cap") {
  Graph g = relu_chain(4);
  RewriteOptions o;
  RewriteReport r = rewrite_graph(g, relu_patterns(), o);
  // r1..r4: iteration 1 takes (r1,r2) and (r3,r4), iteration 2 fuses the two results, iteration 3 finds nothing.
  CHECK(r.iterations == 3);
  CHECK(r.matches.size() == 3);
  CHECK_FALSE(r.hit_cap);
  CHECK(g.size() == 3);  // x, one relu, output
  CHECK(g.topological_error().empty());

  Graph g2 = relu_chain(8);
  o.max_iterations = 2;
  RewriteReport capped = rewrite_graph(g2, relu_patterns(), o);
  CHECK(capped.hit_cap);
  CHECK(capped.iterations == 2);
  CHECK(capped.matches.size() == 6);
  CHECK(report_text(PipelineReport{"rocm-aiter", {}, 0.0, capped, std::nullopt}, false).find("iteration cap") != std::string::npos);
}

TEST_CASE("driver: dry run reports and leaves the graph alone") {
  Graph g = relu_chain(4);
  std::string before = write_graph_text(g);
  RewriteOptions o;
  o.dry_run = true;
  RewriteReport r = rewrite_graph(g, relu_patterns(), o);
  CHECK(r.matches.size() == 2);
  CHECK(r.matches[0].root == "r2");
  CHECK(r.matches[1].root == "r4");
  CHECK(write_graph_text(g) == before);
}

TEST_CASE("driver: a node taken ahead of the scan is skipped; a second run over the same graph agrees") {
  // Rooted at the inner relu, a match takes the outer one, which the scan has not reached yet.
  std::string text = kReluReluPattern;
  text.replace(text.find(R"("outputs": {"out": "outer"},)"), 28, R"("outputs": {"out": "outer"}, "root": "inner",)");
  PatternSet ps;
  for (auto& p : parse_pattern_file(text, "p.json")) ps.add(std::move(p));
  Graph g = relu_chain(5);
  RewriteOptions dry;
  dry.dry_run = true;
  RewriteReport d = rewrite_graph(g, ps, dry);
  REQUIRE(d.matches.size() == 2);
  CHECK(d.matches[0].root == "r1");
  CHECK(d.matches[1].root == "r3");
  CHECK(d.stats["relu_relu"].candidates == 3);  // r1, r3, r5 (r5 has no outer relu); r2 and r4 are taken
  // The dry run left its numbering on the nodes; the full run must not mistake it for its own.
  RewriteReport f = rewrite_graph(g, ps, RewriteOptions{});
  REQUIRE(f.matches.size() >= 2);
  CHECK(f.matches[0].root == "r1");
  CHECK(f.matches[1].root == "r3");
  CHECK(f.stats["relu_relu"].candidates >= 3);
  CHECK(g.topological_error().empty());
}

TEST_CASE("targets: a missing fused op is a graceful no-op with the reason; fp8 formats per target") {
  std::string l1 = std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json";
  Graph g = read_graph_file(l1);
  PipelineOptions o;
  o.target = "none";
  PipelineReport r = run_pipeline(g, load_patterns({}, {}), o);
  CHECK(r.rewrite.matches.empty());
  // 4 families of rmsnorm_fp8_quant.json (the (N, H, D) layout is one), 10 (family, fused op) pairs of
  // rms_norm_quant.json, 3 of silu_mul_quant.json, 3 of qk_norm_rope.json (the custom-op RoPE, the native one
  // viewed back or left per head)
  REQUIRE(r.rewrite.skipped.size() == 20);
  CHECK(std::any_of(r.rewrite.skipped.begin(), r.rewrite.skipped.end(), [](const SkippedPattern& s) {
    return s.reason == "target none has no op vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default";
  }));
  {  // Loaded for the target (nothing built for it), the report says the same.
    Graph gp = read_graph_file(l1);
    PipelineReport rp = run_pipeline(gp, load_patterns({}, {}, &find_target("none")), o);
    REQUIRE(rp.rewrite.skipped.size() == r.rewrite.skipped.size());
    for (size_t i = 0; i < rp.rewrite.skipped.size(); ++i) {
      CHECK(rp.rewrite.skipped[i].pattern == r.rewrite.skipped[i].pattern);
      CHECK(rp.rewrite.skipped[i].reason == r.rewrite.skipped[i].reason);
    }
  }
  Graph g2 = read_graph_file(l1);
  o.target = "gfx942";  // MI300: e4m3fnuz only; the corpus is e4m3fn
  r = run_pipeline(g2, load_patterns({}, {}), o);
  CHECK(r.rewrite.matches.empty());
  REQUIRE(r.rewrite.near_misses.size() == 1);
  CHECK(r.rewrite.near_misses[0].reason.find("target gfx942 has no float8_e4m3fn kernels") == 0);
  Graph g3 = read_graph_file(l1);
  o.target = "gfx950";
  CHECK(run_pipeline(g3, load_patterns({}, {}), o).rewrite.matches.size() == 1);
}

TEST_CASE("near misses: a pattern for the other layout ((N*H, D) rows vs (N, H, D) heads) says nothing") {
  // Each layout's pattern is tried at the other layout's fp8 convert and matches every op up to the captured x, whose
  // rank differs: another layout of the computation, not a near miss; the layout's own pattern gives the reason.
  auto run = [](const std::string& name) {
    Graph g = read_graph_file(std::string(FXOPT_SOURCE_DIR) + "/tests/golden/" + name + ".input.json");
    PipelineOptions o;
    o.dry_run = true;
    return run_pipeline(g, load_patterns({}, {}), o);
  };
  const PipelineReport rows = run("neg_group64");
  REQUIRE(rows.rewrite.near_misses.size() == 1);
  CHECK(rows.rewrite.near_misses[0].pattern == "rms_gated_fp8_group_quant");
  CHECK(rows.rewrite.stats.at("rms_gated_fp8_group_quant_3d/native").candidates > 0);
  const PipelineReport heads = run("neg_3d_d64_g128");
  REQUIRE(heads.rewrite.near_misses.size() == 1);
  CHECK(heads.rewrite.near_misses[0].pattern == "rms_gated_fp8_group_quant_3d/native");
  CHECK(heads.rewrite.near_misses[0].reason.find("D % G == 0") != std::string::npos);
  CHECK(heads.rewrite.stats.at("rms_gated_fp8_group_quant").candidates > 0);
  // A literal list that differs (mean over the heads, dim 1, not over D) is a value of a matching op: near.
  const PipelineReport mean = run("neg_3d_mean_heads");
  REQUIRE(mean.rewrite.near_misses.size() == 1);
  CHECK(mean.rewrite.near_misses[0].where == "ms (mean)");
  CHECK(mean.rewrite.near_misses[0].reason == "args[1][0]: 1 ≠ -1");
}

TEST_CASE("without normalisation the near miss says which pass would fix the spelling") {
  Graph g = read_graph_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json");
  PipelineOptions o;
  o.normalize = false;
  o.dry_run = true;
  PipelineReport r = run_pipeline(g, load_patterns({}, {}), o);
  CHECK(r.rewrite.matches.empty());
  REQUIRE(r.rewrite.near_misses.size() >= 1);
  CHECK(r.rewrite.near_misses[0].reason.find("canonicalize_clamp") != std::string::npos);
}

TEST_CASE("driver: a spelling variant whose ops are not in the graph is not tried (it could not match or be near)") {
  Graph g = read_graph_file(std::string(FXOPT_SOURCE_DIR) + "/tests/golden/rms_norm_quant/per_token_native_aiter.input.json");
  PipelineOptions o;
  o.target = "rocm-aiter";
  PipelineReport r = run_pipeline(g, load_patterns({}, {}, &find_target("rocm-aiter")), o);
  REQUIRE(r.rewrite.matches.size() == 1);
  CHECK(r.rewrite.matches[0].pattern == "rms_norm_per_token_fp8_quant@aiter/native+native");
  size_t tried = 0, untried = 0;
  for (const auto& [name, st] : r.rewrite.stats) {
    if (name.find('@') == std::string::npos) continue;
    // The graph has no auto_functionalized, vllm_ir or AITER op: only all-native variants are tried.
    const bool native_only = name.find("af_v") == std::string::npos && name.find("vllm_ir") == std::string::npos &&
                             name.find("rocm_aiter") == std::string::npos && name.find("aten_") == std::string::npos;
    if (st.candidates > 0) {
      ++tried;
      CHECK_MESSAGE(native_only, name);
    } else {
      ++untried;
    }
  }
  CHECK(tried > 0);
  CHECK(untried > tried);
}

TEST_CASE("loading for a graph: variants with ops the graph cannot have are not built, yet their names are known") {
  Graph g = read_graph_file(std::string(FXOPT_SOURCE_DIR) + "/tests/golden/rms_norm_quant/per_token_native_aiter.input.json");
  normalize(g, all_normalize_passes());
  const Target& aiter = find_target("rocm-aiter");
  const PatternSet all = load_patterns({}, {}, &aiter);
  const PatternSet lazy = load_patterns({}, {}, &aiter, &g);
  CHECK(lazy.patterns().size() < all.patterns().size());
  CHECK(lazy.patterns().size() + lazy.absent().size() == all.patterns().size());
  // Built: the all-native spelling this graph has. Unbuilt: the AITER-op spelling (the graph has no AITER op).
  auto built = [](const PatternSet& ps, const std::string& n) {
    return std::any_of(ps.patterns().begin(), ps.patterns().end(), [&](const Pattern& p) { return p.name == n; });
  };
  CHECK(built(lazy, "rms_norm_per_token_fp8_quant@aiter/native+native_div"));
  CHECK_FALSE(built(lazy, "rms_norm_per_token_fp8_quant@aiter/rocm_aiter+rocm_aiter"));
  CHECK(built(all, "rms_norm_per_token_fp8_quant@aiter/rocm_aiter+rocm_aiter"));
  CHECK(std::any_of(lazy.absent().begin(), lazy.absent().end(), [](const AbsentPattern& a) {
    return a.name == "rms_norm_per_token_fp8_quant@aiter/rocm_aiter+rocm_aiter";
  }));
  // Selecting an unbuilt variant (or its family) by name is not an error; an unknown name still is.
  CHECK_NOTHROW(load_patterns({}, {"rms_norm_per_token_fp8_quant@aiter/rocm_aiter+rocm_aiter"}, &aiter, &g));
  CHECK_NOTHROW(load_patterns({}, {"rms_norm_per_token_fp8_quant"}, &aiter, &g));
  CHECK_THROWS_WITH_AS(load_patterns({}, {"no_such_pattern"}, &aiter, &g), doctest::Contains("unknown pattern"), InputError);
}
