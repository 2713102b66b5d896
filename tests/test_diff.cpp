// Tests of the structural graph diff: name and order independence, one reported change per changed field,
// the exact region of a fusion rewrite, and the meta options.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "core/diff/diff.h"
#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

using namespace fxopt;

namespace {

const std::string kL1 = std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json";
const std::string kL8 = std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json";
const std::string kRewritten = std::string(FXOPT_TEST_DATA) + "/diff/qwen3next_gdn_L1.rewritten.fxgraph.json";

Graph load(const std::string& path) { return read_graph_file(path); }

// The canonical text of `path` with `from` replaced by `to` (once), re-read.
Graph edited(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = read_text_file(path);
  auto p = text.find(from);
  REQUIRE_MESSAGE(p != std::string::npos, from);
  text.replace(p, from.size(), to);
  return read_graph_text(text, "edited");
}

// Every node renamed (placeholder targets, the argument names, kept), written and read back.
Graph renamed(const std::string& path) {
  Graph g = load(path);
  size_t k = 0;
  for (auto& n : g.nodes()) n.name = "n" + std::to_string(k++) + "_" + n.name + "_renamed";
  return read_graph_text(write_graph_text(g), "renamed");
}

// A small document with the given node lines (symbol s0).
Graph doc(const std::string& nodes) {
  return read_graph_text(R"({"format": "fxgraph", "version": 1, "symbols": {"s0": {"hint": 8, "min": 2, "max": null}},
 "nodes": [)" + nodes + "]}",
                         "doc");
}

std::set<std::string> names(const std::vector<const Node*>& nodes) {
  std::set<std::string> s;
  for (const Node* n : nodes) s.insert(n->name);
  return s;
}

}  // namespace

TEST_CASE("a graph equals itself and its renamed copy") {
  for (const auto& path : {kL1, kL8}) {
    CAPTURE(path);
    Graph a = load(path), b = load(path), r = renamed(path);
    auto same = diff_graphs(a, b);
    CHECK(same.equal());
    CHECK(same.paired == a.size());
    auto d = diff_graphs(a, r);
    CHECK(d.equal());
    CHECK(d.paired == a.size());
    CHECK(format_diff_text(d, a, r, "a", "b").empty());
    CHECK(d.partner_of(a.find("mul_35"))->name.find("_mul_35_renamed") != std::string::npos);
  }
}

TEST_CASE("reordering independent nodes changes nothing") {
  Graph a = load(kL1);
  Graph b = load(kL1);
  // Two adjacent independent nodes swapped, and the whole z branch moved to right after the placeholders.
  b.move_before(b.find("convert_element_type_1"), b.find("mul_35"));
  for (const char* n : {"relu_1", "view_2", "view_3"}) b.move_before(b.find(n), b.find("relu"));
  REQUIRE(b.topological_error().empty());
  Graph b2 = read_graph_text(write_graph_text(b), "reordered");
  auto d = diff_graphs(a, b2);
  CHECK(d.equal());
  CHECK(d.paired == a.size());
}

TEST_CASE("one changed int is exactly one change") {
  Graph a = load(kL1);
  Graph b = edited(kL1, R"("args": [{"node": "abs_1"}, -1, true])", R"("args": [{"node": "abs_1"}, 2, true])");
  auto d = diff_graphs(a, b);
  CHECK(d.removed.empty());
  CHECK(d.added.empty());
  REQUIRE(d.changed.size() == 1);
  const auto& c = d.changed[0];
  CHECK(c.a->name == "max_1");
  CHECK(c.b->name == "max_1");
  REQUIRE(c.changes.size() == 1);
  CHECK(c.changes[0].path == "args[1]");
  CHECK(c.changes[0].kind == "int");
  CHECK(c.changes[0].a == "-1");
  CHECK(c.changes[0].b == "2");
  CHECK(d.paired == a.size());
  std::string text = format_diff_text(d, a, b, "a", "b");
  CHECK(text.find("~ %max_1 = aten.max.dim(%abs_1, 2, True)") != std::string::npos);
  CHECK(text.find("args[1] (int): -1 -> 2") != std::string::npos);
}

TEST_CASE("one changed int in a renamed, reordered copy of the 8-layer graph is still one change") {
  Graph a = load(kL8);
  Graph b = renamed(kL8);
  std::string text = write_graph_text(b);
  auto p = text.find(", 448.0]");  // the first layer's amax / 448
  REQUIRE(p != std::string::npos);
  text.replace(p, 8, ", 224.0]");
  Graph b2 = read_graph_text(text, "b");
  auto d = diff_graphs(a, b2);
  CHECK(d.removed.empty());
  CHECK(d.added.empty());
  REQUIRE(d.changed.size() == 1);
  CHECK(d.changed[0].a->target == "aten.div.Tensor");
  REQUIRE(d.changed[0].changes.size() == 1);
  CHECK(d.changed[0].changes[0].kind == "float");
}

TEST_CASE("SymInt expressions compare as canonical expressions") {
  auto g = [](const std::string& size, const std::string& shape) {
    return doc(R"({"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": ["s0", 4096], "stride": [4096, 1], "device": "cpu"}}},
 {"name": "r", "op": "call_function", "target": "aten.reshape.default", "args": [{"node": "x"}, [{"sym": ")" + size + R"("}, 128]], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [")" + shape + R"(", 128], "stride": [128, 1], "device": "cpu"}}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "r"}]], "kwargs": {}, "meta": {}})");
  };
  Graph a = g("32*s0", "32*s0");
  CHECK(diff_graphs(a, g("s0*32", "s0*32")).equal());
  CHECK(diff_graphs(a, g("16*s0 + 16*s0", "32*s0")).equal());
  auto d = diff_graphs(a, g("16*s0", "32*s0"));
  REQUIRE(d.changed.size() == 1);
  REQUIRE(d.changed[0].changes.size() == 1);
  CHECK(d.changed[0].changes[0].path == "args[1][0]");
  CHECK(d.changed[0].changes[0].kind == "SymInt");
  d = diff_graphs(a, g("32*s0", "16*s0"));
  REQUIRE(d.changed.size() == 1);
  REQUIRE(d.changed[0].changes.size() == 1);
  CHECK(d.changed[0].changes[0].path == "meta.val.shape[0]");
  CHECK(d.changed[0].changes[0].kind == "shape");
  // --ignore-meta val: shapes in meta are not compared.
  DiffOptions no_val;
  no_val.ignore_meta = {"val"};
  CHECK(diff_graphs(a, g("32*s0", "16*s0"), no_val).equal());
}

TEST_CASE("a changed dtype is one changed node, with the argument and meta.val") {
  Graph a = load(kL1);
  std::string text = read_text_file(kL1);
  // convert_element_type_5: its dtype argument and meta.val.
  auto line = text.find("{\"name\": \"convert_element_type_5\"");
  auto end = text.find('\n', line);
  std::string l = text.substr(line, end - line);
  for (size_t p; (p = l.find("float8_e4m3fn\"")) != std::string::npos;) l.replace(p, 14, "float8_e5m2\"");
  text.replace(line, end - line, l);
  // Its user view_6 also carries the dtype in meta.val: change it too, so exactly one node differs per side.
  line = text.find("{\"name\": \"view_6\"");
  end = text.find('\n', line);
  l = text.substr(line, end - line);
  for (size_t p; (p = l.find("float8_e4m3fn\"")) != std::string::npos;) l.replace(p, 14, "float8_e5m2\"");
  text.replace(line, end - line, l);
  Graph b = read_graph_text(text, "b");
  auto d = diff_graphs(a, b);
  REQUIRE(d.changed.size() == 2);
  CHECK(d.changed[0].a->name == "convert_element_type_5");
  REQUIRE(d.changed[0].changes.size() == 2);
  CHECK(d.changed[0].changes[0].path == "args[1]");
  CHECK(d.changed[0].changes[0].kind == "dtype");
  CHECK(d.changed[0].changes[0].b == "float8_e5m2");
  CHECK(d.changed[0].changes[1].path == "meta.val.dtype");
  CHECK(d.changed[1].a->name == "view_6");
  REQUIRE(d.changed[1].changes.size() == 1);
  CHECK(d.changed[1].changes[0].path == "meta.val.dtype");
}

TEST_CASE("original vs rewritten corpus graph: exactly the fused region") {
  Graph a = load(kL1);
  Graph b = load(kRewritten);
  auto d = diff_graphs(a, b);
  // The region of spec "The replacement": view_6 keeps its place (a reshape to [-1, 4096] of an fp8 tensor
  // feeding convert_element_type_6), so it pairs with the new reshape of the fused op's first output.
  std::set<std::string> region = {
      "convert_element_type", "pow_1", "mean", "add_32", "rsqrt", "mul_35", "convert_element_type_1", "mul_38",
      "convert_element_type_2", "neg", "exp", "add_45", "div", "mul_43", "convert_element_type_3", "view_4",
      "view_5", "abs_1", "max_1", "getitem", "convert_element_type_4", "div_1", "clamp_min", "div_2",
      "clamp_min_1", "clamp_max", "convert_element_type_5", "squeeze"};
  CHECK(names(d.removed) == region);
  CHECK(names(d.added) ==
        std::set<std::string>{"rocm_aiter_fused_rms_gated_fp8_group_quant", "getitem_1", "getitem_2", "reshape_1"});
  CHECK(d.changed.empty());
  CHECK(d.partner_of(a.find("view_6")) == b.find("reshape"));
  CHECK(d.paired == a.size() - region.size());
  std::string text = format_diff_text(d, a, b, "a", "b");
  CHECK(text.find("# from rms_gated_fp8_group_quant") != std::string::npos);
  CHECK(text.find("28 removed, 4 added, 0 changed") != std::string::npos);
  auto stat = diff_stat(d);
  auto row = std::find_if(stat.begin(), stat.end(), [](const auto& r) { return r.target == "prims.convert_element_type.default"; });
  REQUIRE(row != stat.end());
  CHECK(row->removed == 6);
  std::string json = format_diff_json(d, a, b, "a", "b", true);
  CHECK(json.find("\"summary\": {\"paired\": 21, \"removed\": 28, \"added\": 4, \"changed\": 0}") != std::string::npos);
  CHECK(json.find("\"from\": {\"pattern\": \"rms_gated_fp8_group_quant\"}") != std::string::npos);
  // The other direction reports the same region, mirrored.
  auto back = diff_graphs(b, a);
  CHECK(names(back.added) == region);
  CHECK(back.removed.size() == 4);
}

TEST_CASE("a renamed placeholder target is one change; its users still pair") {
  Graph a = load(kL1);
  Graph b = edited(kL1, R"("name": "arg4_1", "op": "placeholder", "target": "arg4_1")",
                   R"("name": "arg4_1", "op": "placeholder", "target": "weight")");
  auto d = diff_graphs(a, b);
  CHECK(d.removed.empty());
  CHECK(d.added.empty());
  REQUIRE(d.changed.size() == 1);
  CHECK(d.changed[0].changes[0].path == "target");
  CHECK(d.changed[0].changes[0].b == "weight");
}

TEST_CASE("added and removed nodes") {
  Graph a = load(kL1);
  // An extra (dead) node in B.
  Graph b = edited(kL1, R"(  {"name": "output")",
                   R"(  {"name": "extra", "op": "call_function", "target": "aten.neg.default", "args": [{"node": "relu"}], "kwargs": {}, "meta": {}},
  {"name": "output")");
  auto d = diff_graphs(a, b);
  CHECK(d.removed.empty());
  REQUIRE(d.added.size() == 1);
  CHECK(d.added[0]->name == "extra");
  CHECK(d.changed.empty());
  auto back = diff_graphs(b, a);
  REQUIRE(back.removed.size() == 1);
  CHECK(back.added.empty());
}

TEST_CASE("meta other than val is ignored unless included") {
  Graph a = load(kL1);
  Graph b = edited(kL1, R"("meta": {"val": {"dtype": "float32", "shape": ["32*s68", 1])",
                   R"("meta": {"stack_trace": "x.py:1", "val": {"dtype": "float32", "shape": ["32*s68", 1])");
  CHECK(diff_graphs(a, b).equal());
  DiffOptions opts;
  opts.include_meta = {"stack_trace"};
  auto d = diff_graphs(a, b, opts);
  REQUIRE(d.changed.size() == 1);
  CHECK(d.changed[0].changes[0].path == "meta.stack_trace");
  opts.ignore_meta = {"stack_trace"};
  CHECK(diff_graphs(a, b, opts).equal());
}

TEST_CASE("duplicate identical nodes pair without spurious changes") {
  auto g = [](const std::string& order) {
    std::string x = R"({"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {}},)";
    std::string r1 = R"({"name": "r1", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {}},)";
    std::string r2 = R"({"name": "r2", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {}},)";
    std::string tail = R"({"name": "s", "op": "call_function", "target": "aten.sub.Tensor", "args": [{"node": "r1"}, {"node": "r2"}], "kwargs": {}, "meta": {}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "s"}]], "kwargs": {}, "meta": {}})";
    return doc(x + (order == "12" ? r1 + r2 : r2 + r1) + tail);
  };
  CHECK(diff_graphs(g("12"), g("21")).equal());
}

TEST_CASE("a repeated computation pairs by where it is used, not by position among its copies") {
  // Three identical exp(x) nodes, each feeding its own mul; in B the middle one became sigmoid(x). Pairing the
  // exps in graph order would shift them by one and report the last one removed and a rewired mul.
  auto g = [](const char* middle) {
    std::string s = R"({"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {}},
 {"name": "y", "op": "placeholder", "target": "y", "args": [], "kwargs": {}, "meta": {}},)";
    for (int k = 0; k < 3; ++k) {
      std::string i = std::to_string(k);
      s += R"({"name": "e)" + i + R"(", "op": "call_function", "target": ")" +
           (k == 1 ? std::string(middle) : "aten.exp.default") +
           R"(", "args": [{"node": "x"}], "kwargs": {}, "meta": {}},
 {"name": "c)" + i + R"(", "op": "call_function", "target": "aten.add.Tensor", "args": [{"node": "y"}, )" + i +
           R"(], "kwargs": {}, "meta": {}},
 {"name": "m)" + i + R"(", "op": "call_function", "target": "aten.mul.Tensor", "args": [{"node": "e)" + i +
           R"("}, {"node": "c)" + i + R"("}], "kwargs": {}, "meta": {}},)";
    }
    return doc(s + R"({"name": "output", "op": "output", "target": "output", "args": [[{"node": "m0"}, {"node": "m1"}, {"node": "m2"}]], "kwargs": {}, "meta": {}})");
  };
  Graph a = g("aten.exp.default");
  Graph b = g("aten.sigmoid.default");
  auto d = diff_graphs(a, b);
  REQUIRE(d.removed.size() == 1);
  CHECK(d.removed[0]->name == "e1");
  REQUIRE(d.added.size() == 1);
  CHECK(d.added[0]->name == "e1");
  CHECK(d.changed.empty());
  CHECK(d.partner_of(a.find("e2")) == b.find("e2"));
}
