// Tests of the graph model and the fxgraph v1 reader/writer: exact round trips and one case per error kind.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/fxgraph/json_pull.h"
#include "core/rewrite/normalize.h"
#include "core/fxgraph/verify.h"

using namespace fxopt;

namespace {

// A minimal valid document around the given node lines (and optional extra top-level text).
std::string doc(const std::string& nodes, const std::string& symbols = R"({"s0": {"hint": 8, "min": 2, "max": null}})") {
  return "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"symbols\": " + symbols + ",\n \"nodes\": [\n" + nodes +
         "\n ]\n}\n";
}

const std::string kX =
    R"(  {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": ["s0", 4], "stride": [4, 1], "device": "cpu"}}})";
const std::string kOut = R"(  {"name": "output", "op": "output", "target": "output", "args": [[{"node": "x"}]], "kwargs": {}, "meta": {}})";

std::string error_of(const std::string& text) {
  try {
    read_graph_text(text, "g.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("corpus graphs round-trip byte for byte") {
  for (std::string path : {std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json",
                           std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json"}) {
    CAPTURE(path);
    std::string text = read_text_file(path);
    Graph g = read_graph_text(text, path);
    CHECK(write_graph_text(g) == text);
    CHECK(check_graph(g).empty());
  }
}

TEST_CASE("json_quote escapes like Python's json.dumps (ASCII only)") {
  struct Case {
    std::string in, want;  // the text, and json.dumps(text)
  };
  for (const Case& c : {Case{"a\x01\"\\\n", R"("a\u0001\"\\\n")"}, Case{"\xC3\xA9", R"("\u00e9")"},
                        Case{"\xF0\x9F\x98\x80", R"("\ud83d\ude00")"}, Case{"\xEF\xBF\xBF", R"("\uffff")"},
                        Case{"\x1f\t\r\b\f", R"("\u001f\t\r\b\f")"}, Case{"", R"("")"}}) {
    CAPTURE(c.want);
    CHECK(json_quote(c.in) == c.want);
  }
}

TEST_CASE("floats are written as Python's repr and round-trip exactly") {
  struct Case { double value; const char* text; };
  const Case cases[] = {
      {1e-06, "1e-06"},     {448.0, "448.0"},   {4.359654017857143e-06, "4.359654017857143e-06"},
      {0.1, "0.1"},         {1e16, "1e+16"},    {1.5e-07, "1.5e-07"},
      {123456789.0, "123456789.0"}, {-0.0, "-0.0"}, {1e100, "1e+100"},
      {0.0001, "0.0001"},   {0.00001, "1e-05"}, {-2.5, "-2.5"},
      {9999999999999998.0, "9999999999999998.0"}, {5e-324, "5e-324"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(format_python_float(c.value) == c.text);
    std::string node = R"(  {"name": "a", "op": "call_function", "target": "aten.add.Tensor", "args": [{"node": "x"}, )" +
                       std::string(c.text) + R"(], "kwargs": {}, "meta": {}})";
    std::string text = doc(kX + ",\n" + node + ",\n" + kOut);
    Graph g = read_graph_text(text, "g.json");
    CHECK(g.find("a")->args[1].f == c.value);
    CHECK(write_graph_text(g) == text);
  }
}

TEST_CASE("unknown meta keys, producer, special floats and unknown top-level keys survive a round trip") {
  std::string node =
      R"(  {"name": "a", "op": "call_function", "target": "aten.clamp.default", "args": [{"node": "x"}, {"float": "-inf"}, {"float": "inf"}], "kwargs": {"out_dtype": {"dtype": "bfloat16"}, "d": {"dict": {"k": [1, 2.5, null, true]}}}, "meta": {"val": {"dtype": "float32", "shape": ["s0", 4], "stride": [4, 1], "device": "cpu"}, "stack_trace": "File \"m.py\", line 3\n  \u00e9", "nn_module_stack": {"a": ["b", 1.0]}}})";
  std::string text = "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"producer\": {\"source\": \"test\", \"n\": 3},\n"
                     " \"symbols\": {\"s0\": {\"hint\": 8, \"min\": 2, \"max\": 1024}},\n \"custom\": [1, {\"x\": \"y\"}],\n"
                     " \"nodes\": [\n" + kX + ",\n" + node + ",\n" + kOut + "\n ]\n}\n";
  Graph g = read_graph_text(text, "g.json");
  CHECK(write_graph_text(g) == text);
  CHECK(g.find("a")->meta("stack_trace") != nullptr);
}

TEST_CASE("an operator passed as a value ({\"op\": ...}) round-trips and is an argument of its own kind") {
  std::string node =
      R"(  {"name": "a", "op": "call_function", "target": "higher_order.auto_functionalized", "args": [{"op": "_C.rms_norm.default"}], "kwargs": {"input": {"node": "x"}, "epsilon": 1e-06}, "meta": {}})";
  std::string text = doc(kX + ",\n" + node + ",\n" + kOut);
  Graph g = read_graph_text(text, "g.json");
  CHECK(write_graph_text(g) == text);
  const Arg& op = g.find("a")->args[0];
  CHECK(op.kind == Arg::Kind::Op);
  CHECK(op.s == "_C.rms_norm.default");
  CHECK(std::string(to_string(op.kind)) == "op");
  CHECK(arg_to_json(op) == R"({"op": "_C.rms_norm.default"})");
}

TEST_CASE("the reader's fast paths (node references, repeated meta.val texts) read what the general path reads") {
  // Node references written canonically, with other spacing, and with an escaped name; meta.val texts that
  // repeat exactly (copied from the first), repeat with other spacing, and differ in one size.
  const std::string val = R"({"dtype": "float32", "shape": ["s0", 4], "stride": [4, 1], "device": "cpu"})";
  auto node = [](const std::string& name, const std::string& ref, const std::string& v) {
    return R"(  {"name": ")" + name + R"(", "op": "call_function", "target": "aten.relu.default", "args": [)" + ref +
           R"(], "kwargs": {}, "meta": {"val": )" + v + "}}";
  };
  const std::string nodes =
      kX + ",\n" + node("a", R"({"node": "x"})", val) + ",\n" + node("b", R"({ "node" :"a" })", val) + ",\n" +
      node("c", R"({"node": "\u0062"})", R"({"dtype":"float32","shape":["s0",4],"stride":[4,1],"device":"cpu"})") +
      ",\n" + node("d", R"({"node": "c"})", R"({"dtype": "float32", "shape": ["s0", 5], "stride": [5, 1], "device": "cpu"})") +
      ",\n" + node("e", R"({"node": "d"})", val) + ",\n" +
      R"(  {"name": "output", "op": "output", "target": "output", "args": [[{"node": "e"}]], "kwargs": {}, "meta": {}})";
  Graph g = read_graph_text(doc(nodes), "g.json");
  const char* chain[][2] = {{"a", "x"}, {"b", "a"}, {"c", "b"}, {"d", "c"}, {"e", "d"}};
  for (const auto& [name, input] : chain) {
    CAPTURE(name);
    const Node* n = g.find(name);
    REQUIRE(n);
    REQUIRE(n->args.size() == 1);
    CHECK(n->args[0].node == g.find(input));
    CHECK(g.find(input)->users.size() == 1);
    CHECK(n->val->tensor.shape[1].expr.as_constant() == (std::string(name) == "d" ? 5 : 4));
    CHECK(n->val->tensor.shape[0].text() == "s0");
    CHECK(n->val->tensor.dtype == "float32");
  }
  // The canonical text comes back the same whichever way it was read.
  const std::string canonical = write_graph_text(g);
  CHECK(write_graph_text(read_graph_text(canonical, "g.json")) == canonical);
  CHECK(canonical.find(R"({"node": "b"})") != std::string::npos);
  // A node head in another key order or with an escaped name is read by the general loop, to the same graph.
  const std::string other_order =
      R"(  {"op": "call_function", "name": "\u0061", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {"val": )" +
      val + "}}";
  Graph h = read_graph_text(doc(kX + ",\n" + other_order + ",\n" + kOut), "g.json");
  REQUIRE(h.find("a"));
  CHECK(h.find("a")->op == OpKind::CallFunction);
  CHECK(h.find("a")->target == "aten.relu.default");
  CHECK(h.find("a")->args[0].node == h.find("x"));
  CHECK(error_of(doc(kX + ",\n" + R"(  {"name": "a", "op": "call_fn", "target": "t", "args": [], "kwargs": {}, "meta": {}})" + ",\n" + kOut))
            .find("nodes[1] (a).op: expected one of placeholder") != std::string::npos);
  // The canonical tail ("kwargs": {}, "meta": {"val": ...}) with more meta keys after the val, or none at all.
  const std::string more_meta =
      R"(  {"name": "m", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {"val": )" +
      val + R"(, "stack_trace": "f.py:1", "seq_nr": 7}})";
  const std::string no_val =
      R"(  {"name": "v", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "m"}], "kwargs": {}, "meta": {"val": null}})";
  const std::string tail_text = doc(kX + ",\n" + more_meta + ",\n" + no_val + ",\n" + kOut);
  Graph t = read_graph_text(tail_text, "g.json");
  REQUIRE(t.find("m"));
  CHECK(*t.find("m")->meta("stack_trace") == "\"f.py:1\"");
  CHECK(*t.find("m")->meta("seq_nr") == "7");
  CHECK(t.find("m")->val->tensor.shape.size() == 2);
  CHECK(t.find("v")->val->kind == ValMeta::Kind::Null);
  CHECK(write_graph_text(t) == tail_text);
  CHECK(error_of(doc(kX + ",\n" +
                     R"(  {"name": "a", "op": "call_function", "target": "t", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32"}}})" +
                     ",\n" + kOut)) == "g.json: nodes[1] (a).meta.val: tensor value without \"shape\"");
  // A reference to a name defined later still gets its own error through the fast path.
  CHECK(error_of(doc(kX + ",\n" + node("a", R"({"node": "z"})", val) + ",\n" + kOut)) ==
        "g.json: nodes[1] (a).args[0]: unknown node 'z'");
}

TEST_CASE("JsonPull::scan_container finds a container's end across 64-byte blocks, strings and escapes") {
  // Brackets inside strings, an escaped quote, nesting, and padding that moves every byte across the
  // 64-byte blocks the scan works in; the text after the container must not be taken.
  for (size_t pad = 0; pad < 150; ++pad) {
    for (const std::string escape : {"", R"(\"]})"}) {
      const std::string container = R"([{"k": ")" + std::string(pad, 'x') + escape + R"(]}[{", "l": [1, {"m": "}"}], "n": ")" +
                                    std::string(pad % 7, 'y') + R"("}, [[]], 2])";
      CAPTURE(container);
      const std::string text = "  " + container + ", 3]\n";
      JsonPull in(text, "t.json");
      CHECK(in.scan_container() == container);
      CHECK(in.offset() == 2 + container.size());
      // Cut short (the text ends inside the container): nothing is taken.
      const std::string cut = container.substr(0, container.size() - 1);
      JsonPull short_in(cut, "t.json");
      CHECK(short_in.scan_container().empty());
      CHECK(short_in.offset() == 0);
    }
  }
  JsonPull scalar("17, [1]", "t.json");  // not a container: nothing consumed
  CHECK(scalar.scan_container().empty());
  CHECK(scalar.offset() == 0);
}

TEST_CASE("bad input gets a precise error") {
  struct Case { std::string name, text, expected; };
  const std::string add_unknown = R"(  {"name": "a", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "nope"}], "kwargs": {}, "meta": {}})";
  const std::string add_later = R"(  {"name": "a", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "b"}], "kwargs": {}, "meta": {}})";
  const std::string b = R"(  {"name": "b", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {}})";
  const Case cases[] = {
      {"malformed JSON", "{\n \"format\": \"fxgraph\",\n \"version\": 1,,\n}", "malformed JSON at line 3, column 15: expected a string key"},
      {"not an object", "[1, 2]", "expected a JSON object at the top level"},
      {"wrong format", R"({"format": "onnx", "version": 1, "nodes": []})", "format: expected \"fxgraph\""},
      {"newer version", R"({"format": "fxgraph", "version": 2, "nodes": []})", "version 2 is not supported"},
      {"missing nodes", R"({"format": "fxgraph", "version": 1})", "missing required key \"nodes\""},
      {"missing target", doc(R"(  {"name": "x", "op": "placeholder", "args": [], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "nodes[0] (x): missing required key \"target\""},
      {"bad op", doc(R"(  {"name": "x", "op": "call", "target": "x", "args": [], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "nodes[0] (x).op: expected one of placeholder"},
      {"duplicate name", doc(kX + ",\n" + kX + ",\n" + kOut), "nodes[1] (x): duplicate node name 'x'"},
      {"unknown node", doc(kX + ",\n" + add_unknown + ",\n" + kOut), "nodes[1] (a).args[0]: unknown node 'nope'"},
      {"later node", doc(kX + ",\n" + add_later + ",\n" + b + ",\n" + kOut), "nodes[1] (a).args[0]: node 'b' is used before it is defined"},
      {"no output", doc(kX), "nodes: the graph has no output node"},
      {"two outputs", doc(kX + ",\n" + kOut + ",\n" + kOut), "a second output node"},
      {"node after output", doc(kX + ",\n" + kOut + ",\n" + b), "node after the output node"},
      {"malformed arg", doc(kX + ",\n" + R"(  {"name": "a", "op": "call_function", "target": "aten.relu.default", "args": [{"nod": "x"}], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "nodes[1] (a).args[0]: malformed argument: unknown tag \"nod\""},
      {"bad float tag", doc(kX + ",\n" + R"(  {"name": "a", "op": "call_function", "target": "aten.relu.default", "args": [{"float": "big"}], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "expected \"inf\", \"-inf\" or \"nan\""},
      {"bad SymInt", doc(R"(  {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": ["32*(s0", 4], "stride": [4, 1], "device": "cpu"}}},)" "\n" + kOut),
       "nodes[0] (x).meta.val.shape[0]: SymInt expression '32*(s0' does not parse: expected ')' at position 6\n"
       "  32*(s0\n        ^"},
      {"size neither int nor expr", doc(R"(  {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [1.5, 4], "stride": [4, 1], "device": "cpu"}}},)" "\n" + kOut),
       "nodes[0] (x).meta.val.shape[0]: expected a size: an integer or a SymInt expression string, got the float 1.5"},
      {"bad symbols", doc(kX + ",\n" + kOut, R"({"s0": {"hint": "8"}})"), "symbols.s0.hint: expected an integer or null"},
      {"op value not a name", doc(kX + ",\n" + R"(  {"name": "a", "op": "call_function", "target": "higher_order.auto_functionalized", "args": [{"op": "rms_norm"}], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "nodes[1] (a).args[0].op: expected an operator name such as \"_C.rms_norm.default\", got \"rms_norm\""},
      {"op value not a string", doc(kX + ",\n" + R"(  {"name": "a", "op": "call_function", "target": "higher_order.auto_functionalized", "args": [{"op": 3}], "kwargs": {}, "meta": {}},)" "\n" + kOut),
       "nodes[1] (a).args[0].op: expected an operator name (namespace.name.overload) string, got"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string err = error_of(c.text);
    CHECK_MESSAGE(err.find(c.expected) != std::string::npos, err);
    CHECK(err.rfind("g.json: ", 0) == 0);
  }
}

TEST_CASE("verify finds undeclared symbols and unknown dtypes") {
  std::string x = R"(  {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float33", "shape": ["s1", 4], "stride": [4, 1], "device": "cpu"}}})";
  Graph g = read_graph_text(doc(x + ",\n" + kOut), "g.json");
  auto problems = check_graph(g);
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].message.find("unknown dtype 'float33'") != std::string::npos);
  CHECK(problems[1].message.find("symbol 's1' in 's1' is not declared") != std::string::npos);
}

TEST_CASE("graph mutation keeps users, names and order consistent") {
  Graph g = read_graph_text(read_text_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json"), "L1");
  Node* rsqrt = g.find("rsqrt");
  REQUIRE(rsqrt);
  CHECK(rsqrt->users.size() == 1);
  CHECK(rsqrt->users[0]->name == "mul_35");
  Node* relu = g.find("relu");
  CHECK(relu->users.size() == 2);  // view and addmm_default

  // A fresh name never collides, FX style.
  Node* n = g.create_node(OpKind::CallFunction, "aten.neg.default", {Arg::ref(rsqrt)}, {}, g.find("mul_35"), "rsqrt");
  CHECK(n->name == "rsqrt_1");
  Node* m = g.create_node(OpKind::CallFunction, "aten.neg.default", {Arg::ref(n)}, {}, g.find("mul_35"), "mul_35");
  CHECK(m->name == "mul_36");
  CHECK(g.topological_error().empty());

  g.replace_input(g.find("mul_35"), rsqrt, m);  // mul_35 now reads m = neg(neg(rsqrt))
  CHECK(rsqrt->users.size() == 1);
  CHECK(rsqrt->users[0] == n);
  CHECK(g.find("mul_35")->args[1].node == m);
  CHECK(m->users.size() == 1);

  // Moving a user before its input is reported.
  g.move_before(m, n);
  CHECK(g.topological_error().find("uses 'rsqrt_1' before it is defined") != std::string::npos);
  g.move_before(n, m);
  CHECK(g.topological_error().empty());

  CHECK(g.replace_all_uses(m, rsqrt) == 1);
  g.erase(m);
  g.erase(n);
  CHECK(g.find("rsqrt_1") == nullptr);
  CHECK(rsqrt->users.size() == 1);
  CHECK(write_graph_text(g) == read_text_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json"));
}

TEST_CASE("a node read twice by one user keeps one user entry through replace_input") {
  // The output reads b twice: removing the output's uses erases it from b's users twice (the second time from an
  // empty list, which once broke the list: found by the fuzzer, tests/fuzz/crashers/graph-crash-eb3cfbd3e518.fxg).
  const std::string in = R"(  {"name": "a", "op": "placeholder", "target": "a", "args": [], "kwargs": {}, "meta": {}},
  {"name": "b", "op": "call_function", "target": "aten.neg.default", "args": [{"node": "a"}], "kwargs": {}, "meta": {}},
  {"name": "output", "op": "output", "target": "output", "args": [[{"node": "b"}, {"node": "b"}]], "kwargs": {}, "meta": {}})";
  Graph g = read_graph_text(doc(in), "g.json");
  Node* a = g.find("a");
  Node* b = g.find("b");
  Node* out = g.find("output");
  REQUIRE(b->users.size() == 1);
  Node* c = g.create_node(OpKind::CallFunction, "aten.neg.default", {Arg::ref(a)}, {}, out, "c");
  CHECK(g.replace_all_uses(b, c) == 1);
  CHECK(b->users.empty());
  CHECK(b->users.size() == 0);
  REQUIRE(c->users.size() == 1);
  CHECK(c->users.back() == out);
  g.replace_input(out, c, b);  // and back: b's emptied list takes its user again
  CHECK(c->users.empty());
  REQUIRE(b->users.size() == 1);
  CHECK(b->users.front() == out);
  CHECK(b->users.back() == out);
}

TEST_CASE("read_graph_file: the call counts it gives are count_calls() of the graph read") {
  namespace fs = std::filesystem;
  size_t files = 0;
  for (const char* dir : {"/tests/data", "/tests/golden"})
    for (const auto& e : fs::recursive_directory_iterator(std::string(FXOPT_SOURCE_DIR) + dir)) {
      const std::string p = e.path().string();
      if (!e.is_regular_file() || !(p.ends_with(".fxgraph.json") || p.ends_with(".input.json"))) continue;
      CallCounts calls{{nullptr, 7}};  // replaced, not added to
      Graph g;
      try {
        g = read_graph_file(p, &calls);
      } catch (const InputError&) {
        continue;  // a graph that tests an error
      }
      CAPTURE(p);
      CHECK(calls == count_calls(g));
      ++files;
    }
  CHECK(files > 50);
}
