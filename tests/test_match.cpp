// Tests of the matcher: relaxed SymInt reshape matching, bindings, literals, region closure, failure paths.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fxgraph/fxgraph_io.h"
#include "core/pattern/match.h"
#include "core/rewrite/normalize.h"
#include "core/pattern/pattern.h"

using namespace fxopt;

namespace {

std::string doc(const std::string& nodes) {
  return "{\"format\": \"fxgraph\", \"version\": 1, \"symbols\": {\"s0\": {\"hint\": 8, \"min\": 2, \"max\": null}},\n"
         "\"nodes\": [\n" + nodes + "\n]}\n";
}

std::string tensor(const std::string& shape, const std::string& stride, const std::string& dtype = "bfloat16") {
  return R"({"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "stride": )" + stride + R"(, "device": "cpu"})";
}

// x (32*s0, 128) -> reshape(sizes) -> relu; plus the SymInt placeholder n (s0) and m = 32*n... as size spellings.
std::string graph_with_sizes(const std::string& sizes, const std::string& out_shape = R"(["s0", 4096])") {
  return doc(
      R"({"name": "n", "op": "placeholder", "target": "n", "args": [], "kwargs": {}, "meta": {"val": {"sym": "s0"}}},
{"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": )" + tensor(R"(["32*s0", 128])", "[128, 1]") + R"(}},
{"name": "m", "op": "call_function", "target": "_operator.mul", "args": [{"node": "n"}, 2], "kwargs": {}, "meta": {"val": {"sym": "2*s0"}}},
{"name": "v", "op": "call_function", "target": "aten.view.default", "args": [{"node": "x"}, )" + sizes + R"(], "kwargs": {}, "meta": {"val": )" + tensor(out_shape, "[4096, 1]") + R"(}},
{"name": "r", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "v"}], "kwargs": {}, "meta": {"val": )" + tensor(out_shape, "[4096, 1]") + R"(}},
{"name": "output", "op": "output", "target": "output", "args": [[{"node": "r"}]], "kwargs": {}, "meta": {}})");
}

const char* kHeadsPattern = R"({"format": "fxopt-patterns", "version": 1, "patterns": [{
  "name": "heads", "fused_op": "mylib.heads.default",
  "vars": {"N": "sym", "H": "int", "D": {"type": "int", "value": 128}},
  "inputs": {"x": "bfloat16 [N*H, D]"},
  "nodes": [{"name": "rows", "op": "aten.reshape.default", "args": ["%x", ["$N", "$H*D"]]},
            {"name": "act", "op": "aten.relu.default", "args": ["%rows"]}],
  "outputs": {"out": "act"},
  "replacement": {"nodes": [{"name": "heads", "op": "mylib.heads.default", "args": ["%x", "$H"], "val": "bfloat16 [N, H*D]"}],
                  "outputs": {"out": "heads"}}}]})";

struct Result {
  bool ok;
  std::string bindings, failure;
};

Result try_match(const std::string& graph_text, const char* pattern_text = kHeadsPattern) {
  Graph g = read_graph_text(graph_text, "g.json");
  g.renumber();
  auto ps = parse_pattern_file(pattern_text, "p.json");
  MatchContext ctx;
  ctx.ranges = g.ranges();
  Matcher m(ps[0], ctx);
  Match out;
  MatchFailure f;
  Node* root = g.find(ps[0].nodes[ps[0].root].name == "act" ? "r" : "r");
  bool ok = m.match(root, out, &f);
  return {ok, ok ? out.bindings_str() : "", ok ? "" : f.str()};
}

}  // namespace

TEST_CASE("reshape sizes match by the resulting shape, however they are spelled") {
  for (const char* sizes : {"[-1, 4096]", R"([{"node": "n"}, 4096])", R"([{"sym": "s0"}, 4096])", R"([{"node": "n"}, -1])"}) {
    CAPTURE(sizes);
    Result r = try_match(graph_with_sizes(sizes));
    CHECK(r.ok);
    CHECK(r.bindings == "N=s0, H=32, D=128");
    CHECK(r.failure == "");
  }
  // (32*s0, 128) -> (2*s0, 2048): N := 2*s0 binds to an expression, and H = 16 keeps N*H == 32*s0.
  Result r = try_match(graph_with_sizes(R"([{"node": "m"}, 2048])", R"(["2*s0", 2048])"));
  CHECK(r.ok);
  CHECK(r.bindings == "N=2*s0, H=16, D=128");
}

TEST_CASE("reshape sizes that do not fit fail with the reason") {
  // A size that is not the traced shape: 3*s0 rows of 4096 do not hold 4096*s0 elements.
  Result r = try_match(graph_with_sizes(R"([{"sym": "3*s0"}, -1])"));
  CHECK_FALSE(r.ok);
  CHECK(r.failure.find("rows (v): size[1]: cannot infer -1") == 0);
  // Wrong rank.
  r = try_match(graph_with_sizes("[-1, 32, 128]", R"(["s0", 32, 128])"));
  CHECK_FALSE(r.ok);
  CHECK(r.failure == "rows (v): reshape to rank 3 ≠ rank 2 of [N, H*D] (sizes [-1, 32, 128])");
}

TEST_CASE("captured input type constraints and fixed variables") {
  // x has 64 columns: D is fixed to 128 by the pattern.
  std::string g = graph_with_sizes("[-1, 4096]");
  std::string bad = g;
  bad.replace(bad.find(R"(["32*s0", 128])"), 14, R"(["64*s0", 64])");
  Result r = try_match(bad);
  CHECK_FALSE(r.ok);
  CHECK(r.failure == "x (x): shape[1]: 64 ≠ D=128");
  std::string f32 = g;
  f32.replace(f32.find("bfloat16"), 8, "float32");
  r = try_match(f32);
  CHECK_FALSE(r.ok);
  CHECK(r.failure == "x (x): dtype: float32 ≠ bfloat16");
}

TEST_CASE("an intermediate with a user outside the region prevents the match") {
  std::string g = graph_with_sizes("[-1, 4096]");
  g.replace(g.find(R"([[{"node": "r"}]])"), 17, R"([[{"node": "r"}, {"node": "v"}]])");
  Result r = try_match(g);
  CHECK_FALSE(r.ok);
  CHECK(r.failure == "rows (v): has a user outside the region: output (output)");
}

TEST_CASE("the matcher never mutates the graph") {
  Graph g = read_graph_text(graph_with_sizes("[-1, 4096]"), "g.json");
  std::string before = write_graph_text(g);
  g.renumber();
  auto ps = parse_pattern_file(kHeadsPattern, "p.json");
  MatchContext ctx;
  ctx.ranges = g.ranges();
  Matcher m(ps[0], ctx);
  Match out;
  CHECK(m.match(g.find("r"), out, nullptr));
  CHECK(out.region.size() == 2);
  CHECK(write_graph_text(g) == before);
  // Non-root nodes are rejected in O(1) by op.
  MatchFailure f;
  CHECK_FALSE(m.match(g.find("v"), out, &f));
  CHECK(f.str() == "act (v): expected aten.relu.default, got aten.view.default");
  CHECK(f.wrong_op);
}

TEST_CASE("the matcher's quick rejection records the same failure as the full attempt") {
  // Without reason texts the matcher rejects most roots on their own values before any setup; with them it runs
  // the full attempt. Both must agree on the outcome and on what the driver reads (near-miss progress and flags).
  std::vector<std::string> files = {std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json"};
  for (const char* g : {"gated_e4m3fnuz", "gated_eps_1e-5", "gated_aten_spellings", "gated_d256"})
    files.push_back(std::string(FXOPT_SOURCE_DIR) + "/tests/golden/" + g + ".input.json");
  const PatternSet ps = PatternSet::builtin();
  size_t attempts = 0, quick = 0;
  for (const auto& file : files) {
    for (bool norm : {false, true}) {
      Graph g = read_graph_file(file);
      if (norm) normalize(g, all_normalize_passes());
      g.renumber();
      MatchContext ctx;
      ctx.ranges = g.ranges();
      std::vector<std::unique_ptr<Matcher>> fast, full;
      for (const auto& p : ps.patterns()) {
        fast.push_back(std::make_unique<Matcher>(p, ctx));
        fast.back()->set_record_reasons(false);
        full.push_back(std::make_unique<Matcher>(p, ctx));
      }
      for (Node& n : g.nodes()) {
        const std::vector<int>* list = n.op == OpKind::CallFunction ? ps.rooted_at(n.target) : nullptr;
        if (!list) continue;
        for (int pi : *list) {
          CAPTURE(file);
          CAPTURE(n.name);
          CAPTURE(ps.patterns()[pi].name);
          Match a, b;
          MatchFailure fa, fb;
          bool oa = fast[pi]->match(&n, a, &fa), ob = full[pi]->match(&n, b, &fb);
          ++attempts;
          REQUIRE(oa == ob);
          if (oa) {
            CHECK(a.bindings_str() == b.bindings_str());
            CHECK(a.region == b.region);
            continue;
          }
          quick += fa.progress == 1 && fb.reason.find("allowed") != std::string::npos;
          CHECK(fa.progress == fb.progress);
          CHECK(fa.structural == fb.structural);
          CHECK(fa.wrong_op == fb.wrong_op);
          CHECK(fa.spelling == fb.spelling);
          CHECK(fast[pi]->is_near_miss(fa) == full[pi]->is_near_miss(fb));
        }
      }
    }
  }
  CHECK(attempts > 1000);
  CHECK(quick > 100);  // the quick path was exercised (a dtype outside the pattern's one_of at the root)
}
