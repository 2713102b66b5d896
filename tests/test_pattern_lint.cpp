// Unit tests of `patterns --lint`'s library: the op-name table and the lint checks on patterns parsed from text.
#include <doctest/doctest.h>

#include <string>

#include "core/pattern/known_ops.h"
#include "core/rewrite/pattern_lint.h"

using namespace fxopt;

TEST_CASE("known ops: a typo, a missing overload and a new vLLM op are told apart") {
  CHECK(check_op_name("aten.rsqrt.default").kind == OpCheck::Known);
  CHECK(check_op_name("_operator.getitem").kind == OpCheck::Known);
  CHECK(check_op_name("torch.sym_max").kind == OpCheck::Known);  // Python callables are not listed
  auto typo = check_op_name("aten.rsqrtt.default");
  CHECK(typo.kind == OpCheck::UnknownOp);
  CHECK(typo.suggestion == "aten.rsqrt.default");
  auto ov = check_op_name("aten.mean.default_dim");
  CHECK(ov.kind == OpCheck::UnknownOverload);
  CHECK(ov.suggestion == "aten.mean.default");
  CHECK(check_op_name("aten.add").kind == OpCheck::BadShape);
  CHECK(check_op_name("aten..default").kind == OpCheck::BadShape);
  CHECK(check_op_name("vllm.brand_new_kernel.default").kind == OpCheck::UnlistedOp);
  CHECK(check_op_name("mylib.op.default").kind == OpCheck::UnknownNamespace);
  CHECK(check_op_name("mylib.op.default", {"mylib.op.default"}).kind == OpCheck::Known);
  CHECK(edit_distance("rsqrt", "rsqrtt") == 1);
  CHECK(edit_distance("", "abc") == 3);
}

namespace {

// One pattern: y = relu(x) * $s, replaced by the fused op; `extra` goes into the pattern object.
std::string file(const std::string& conditions, const std::string& vars, const std::string& repl_val) {
  return R"({"format": "fxopt-patterns", "version": 1, "patterns": [{"name": "p", "fused_op": "test.fused.default",
    "vars": {"M": "sym", "K": "int", "s": "float", )" + vars + R"(},
    "inputs": {"x": "float32 [M, K]"},
    "nodes": [{"name": "r", "op": "aten.relu.default", "args": ["%x"]},
              {"name": "y", "op": "aten.mul.Tensor", "args": ["%r", "$s"], "val": "float32 [M, K]"}],
    "outputs": {"y": "y"}, "conditions": [)" + conditions + R"(],
    "replacement": {"nodes": [{"name": "f", "op": "test.fused.default", "args": ["%x", "$s"], "val": ")" + repl_val +
         R"("}], "outputs": {"y": "f"}}}]})";
}

LintReport lint_text_file(const std::string& text) {
  PatternSet ps;
  for (auto& p : parse_pattern_file(text, "t.json")) ps.add(std::move(p));
  std::vector<std::pair<std::string, Graph>> graphs;
  return lint_pattern_set(ps, graphs, find_target("rocm-aiter"));
}

bool has(const LintReport& r, const std::string& check, const std::string& text) {
  for (const auto& f : r.findings)
    if (f.check == check && f.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("lint: a clean pattern has no findings but the unknown namespace warning") {
  LintReport r = lint_text_file(file("\"K % 8 == 0\"", "\"G\": {\"type\": \"int\", \"value\": 8}", "float32 [M, K]"));
  CHECK(r.errors() == 0);
  CHECK(has(r, "op", "unknown namespace"));
}

TEST_CASE("lint: conditions over the variables' domains") {
  LintReport r = lint_text_file(file("\"G > 8\", \"K >= 1\", \"K % 2 == 0\", \"K % 2 == 1\"",
                                     "\"G\": {\"type\": \"int\", \"value\": 8}", "float32 [M, K]"));
  CHECK(has(r, "condition", "`G > 8` never holds (G=8)"));
  CHECK(has(r, "condition", "`K >= 1` always holds"));
  CHECK(has(r, "condition", "never hold together"));
  CHECK(r.errors() == 2);
}

TEST_CASE("lint: replacement type against the output's") {
  LintReport r = lint_text_file(file("", "\"G\": {\"type\": \"int\", \"value\": 8}", "float32 [M, K//G]"));
  CHECK(has(r, "replacement-type", "has type float32 [M, K//G] but output 'y' (y) is float32 [M, K]: dim 1:"));
}
