// Tests of the normalisation passes: per pass, a small input graph next to its expected node list, the cases a
// pass must leave alone, the corpus graphs, and speed on a large graph.
#include <doctest/doctest.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <initializer_list>
#include <string>

#include "bench/replicate.h"
#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/rewrite/normalize.h"
#include "core/fxgraph/verify.h"
#include "runtime/compare.h"

using namespace fxopt;

namespace {

// ---- building input documents ----------------------------------------------------------------------------------

std::string tensor(const std::string& dtype, const std::string& shape, const std::string& stride,
                   const std::string& device = "cpu") {
  return R"({"dtype": ")" + dtype + R"(", "shape": )" + shape + R"(, "stride": )" + stride + R"(, "device": ")" +
         device + R"("})";
}

// The values used below: f32/bf16/int32 tensors of shape (s0, 4), and (s0, 1).
const std::string kF32 = tensor("float32", R"(["s0", 4])", "[4, 1]");
const std::string kBF16 = tensor("bfloat16", R"(["s0", 4])", "[4, 1]");
const std::string kI32 = tensor("int32", R"(["s0", 4])", "[4, 1]");
const std::string kF32Col = tensor("float32", R"(["s0", 1])", "[1, 1]");
const std::string kI64Col = tensor("int64", R"(["s0", 1])", "[1, 1]");

std::string ref(const std::string& name) { return R"({"node": ")" + name + R"("})"; }

std::string placeholder(const std::string& name, const std::string& val = kF32) {
  return R"(  {"name": ")" + name + R"(", "op": "placeholder", "target": ")" + name +
         R"(", "args": [], "kwargs": {}, "meta": {"val": )" + val + "}}";
}

// A call_function node; `args` and `kwargs` are JSON text without the outer brackets/braces.
std::string call(const std::string& name, const std::string& target, const std::string& args,
                 const std::string& val = kF32, const std::string& kwargs = "") {
  return R"(  {"name": ")" + name + R"(", "op": "call_function", "target": ")" + target + R"(", "args": [)" + args +
         R"(], "kwargs": {)" + kwargs + R"(}, "meta": {"val": )" + val + "}}";
}

std::string output(std::initializer_list<std::string> names) {
  std::string items;
  for (const auto& n : names) items += (items.empty() ? "" : ", ") + ref(n);
  return R"(  {"name": "output", "op": "output", "target": "output", "args": [[)" + items +
         R"(]], "kwargs": {}, "meta": {}})";
}

std::string doc(std::initializer_list<std::string> nodes,
                const std::string& symbols = R"({"s0": {"hint": 8, "min": 2, "max": null}})") {
  std::string body;
  for (const auto& n : nodes) body += (body.empty() ? "" : ",\n") + n;
  return "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"symbols\": " + symbols + ",\n \"nodes\": [\n" + body +
         "\n ]\n}\n";
}

// ---- reading results ---------------------------------------------------------------------------------------------

// The graph as "name = target(args, key=value)" lines, placeholders left out: what a pass changed at a glance.
std::string listing(const Graph& g) {
  std::string s;
  for (const auto& n : g.nodes()) {
    if (n.op == OpKind::Placeholder) continue;
    std::string line = n.op == OpKind::Output ? "output(" : n.name + " = " + n.target + "(";
    bool first = true;
    for (const auto& a : n.args) line += (first ? "" : ", ") + arg_text(a), first = false;
    for (const auto& [k, a] : n.kwargs) line += (first ? "" : ", ") + k + "=" + arg_text(a), first = false;
    s += line + ")\n";
  }
  return s;
}

struct Result {
  Graph graph;
  NormalizeReport report;
  std::string listing;
};

Result run(const std::string& text, const std::vector<std::string>& passes) {
  Graph g = read_graph_text(text, "test.json");
  NormalizeReport r = normalize(g, passes);
  CHECK(g.topological_error() == "");
  std::string l = listing(g);
  return {std::move(g), std::move(r), std::move(l)};
}

Result run_all(const std::string& text) { return run(text, all_normalize_passes()); }

std::string listing_of(const std::string& text) { return listing(read_graph_text(text, "test.json")); }

size_t count_target(const Graph& g, std::string_view target) {
  size_t k = 0;
  for (const auto& n : g.nodes()) k += n.target == target;
  return k;
}

size_t total_changes(const NormalizeReport& r) {
  size_t k = 0;
  for (const auto& [pass, c] : r.counts) k += c;
  return k;
}

}  // namespace

// ---- view_to_reshape -----------------------------------------------------------------------------------------------

TEST_CASE("normalize: view_to_reshape: view and _unsafe_view become reshape with the same args, names and meta") {
  auto r = run(doc({placeholder("x"),
                    call("v", "aten.view.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    call("u", "aten._unsafe_view.default", ref("v") + ", [-1, 4]"),
                    call("vd", "aten.view.dtype", ref("x") + R"(, {"dtype": "int32"})", kI32),
                    output({"u", "vd"})}),
               {"view_to_reshape"});
  CHECK(r.listing ==
        "v = aten.reshape.default(x, [-1, 2, 2])\n"
        "u = aten.reshape.default(v, [-1, 4])\n"
        "vd = aten.view.dtype(x, int32)\n"
        "output([u, vd])\n");
  CHECK(r.report.counts.at("view_to_reshape") == 2);
  REQUIRE(r.report.changes.size() == 2);
  CHECK(r.report.changes[0].pass == "view_to_reshape");
  CHECK(r.report.changes[0].description == "v: aten.view.default -> aten.reshape.default");
  CHECK(r.graph.find("v")->val->tensor.shape.size() == 3);
}

// ---- fold_reshape_chains -------------------------------------------------------------------------------------------

TEST_CASE("normalize: fold_reshape_chains: a chain of three reshapes becomes one and the skipped ones are erased") {
  auto r = run(doc({placeholder("x"),
                    call("r1", "aten.reshape.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    call("r2", "aten.reshape.default", ref("r1") + ", [-1, 1, 4]", tensor("float32", R"(["s0", 1, 4])", "[4, 4, 1]")),
                    call("r3", "aten.reshape.default", ref("r2") + ", [-1, 2]", tensor("float32", R"(["2*s0", 2])", "[2, 1]")),
                    output({"r3"})}),
               {"fold_reshape_chains"});
  CHECK(r.listing ==
        "r3 = aten.reshape.default(x, [-1, 2])\n"
        "output([r3])\n");
  REQUIRE(r.report.changes.size() == 2);
  CHECK(r.report.changes[0].description == "r2 now reads x (skipped r1); erased r1");
  CHECK(r.report.changes[1].description == "r3 now reads x (skipped r2); erased r2");
}

TEST_CASE("normalize: fold_reshape_chains: an outer reshape folds through an inner view") {
  auto r = run(doc({placeholder("x"),
                    call("r1", "aten.reshape.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    call("r2", "aten.view.default", ref("r1") + ", [-1, 1, 4]", tensor("float32", R"(["s0", 1, 4])", "[4, 4, 1]")),
                    call("r3", "aten.reshape.default", ref("r2") + ", [-1, 2]", tensor("float32", R"(["2*s0", 2])", "[2, 1]")),
                    output({"r3"})}),
               {"fold_reshape_chains"});
  CHECK(r.listing ==
        "r3 = aten.reshape.default(x, [-1, 2])\n"
        "output([r3])\n");
  REQUIRE(r.report.changes.size() == 1);  // r2 is a view, not a root for this pass: r3 skips both at once
  CHECK(r.report.changes[0].description == "r3 now reads x (skipped r2, r1); erased r2, r1");
}

TEST_CASE("normalize: fold_reshape_chains: reshapes fold through views once views are reshapes") {
  auto r = run(doc({placeholder("x"),
                    call("r1", "aten.view.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    call("r2", "aten.view.default", ref("r1") + ", [-1, 1, 4]", tensor("float32", R"(["s0", 1, 4])", "[4, 4, 1]")),
                    call("r3", "aten.view.default", ref("r2") + ", [-1, 2]", tensor("float32", R"(["2*s0", 2])", "[2, 1]")),
                    output({"r3"})}),
               {"view_to_reshape", "fold_reshape_chains"});
  CHECK(r.listing ==
        "r3 = aten.reshape.default(x, [-1, 2])\n"
        "output([r3])\n");
  CHECK(r.report.counts.at("view_to_reshape") == 3);
  CHECK(r.report.counts.at("fold_reshape_chains") == 2);
  // One sweep: each node gets every pass in turn, so r2 is folded right after it became a reshape.
  REQUIRE(r.report.changes.size() == 5);
  CHECK(r.report.changes[1].description == "r2: aten.view.default -> aten.reshape.default");
  CHECK(r.report.changes[2].description == "r2 now reads x (skipped r1); erased r1");
  CHECK(r.report.changes[4].description == "r3 now reads x (skipped r2); erased r2");
}

TEST_CASE("normalize: fold_reshape_chains: an inner reshape with another user is skipped but stays") {
  auto r = run(doc({placeholder("x"),
                    call("r1", "aten.reshape.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    call("r2", "aten.reshape.default", ref("r1") + ", [-1, 2]", tensor("float32", R"(["2*s0", 2])", "[2, 1]")),
                    call("a", "aten.relu.default", ref("r1"), tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                    output({"r2", "a"})}),
               {"fold_reshape_chains"});
  CHECK(r.listing ==
        "r1 = aten.reshape.default(x, [-1, 2, 2])\n"
        "r2 = aten.reshape.default(x, [-1, 2])\n"
        "a = aten.relu.default(r1)\n"
        "output([r2, a])\n");
  REQUIRE(r.report.changes.size() == 1);
  CHECK(r.report.changes[0].description == "r2 now reads x (skipped r1)");
}

// ---- remove_identity_reshapes --------------------------------------------------------------------------------------

TEST_CASE("normalize: remove_identity_reshapes: a reshape to a provably equal shape is removed") {
  const std::string x2 = tensor("float32", R"(["2*s0", 4])", "[4, 1]");
  auto r = run(doc({placeholder("x", x2),
                    call("r", "aten.reshape.default", ref("x") + ", [-1, 4]", tensor("float32", R"(["s0*2", 4])", "[4, 1]")),
                    call("a", "aten.relu.default", ref("r"), x2),
                    output({"a", "r"})}),
               {"remove_identity_reshapes"});
  CHECK(r.listing ==
        "a = aten.relu.default(x)\n"
        "output([a, x])\n");
  REQUIRE(r.report.changes.size() == 1);
  CHECK(r.report.changes[0].description == "r reshapes x to its own shape [s0*2, 4]; its users now read x; erased r");
}

TEST_CASE("normalize: remove_identity_reshapes: not when the shapes are not provably equal") {
  const std::string text = doc({placeholder("x"),
                                call("r", "aten.reshape.default", ref("x") + R"(, [{"sym": "s1"}, 4])",
                                     tensor("float32", R"(["s1", 4])", "[4, 1]")),
                                call("t", "aten.reshape.default", ref("x") + ", [4, -1]",
                                     tensor("float32", R"([4, "s0"])", "[1, 4]")),
                                output({"r", "t"})},
                               R"({"s0": {"hint": 8, "min": 2, "max": null}, "s1": {"hint": 8, "min": 2, "max": null}})");
  auto r = run(text, {"remove_identity_reshapes"});
  CHECK(r.listing == listing_of(text));
  CHECK(r.report.counts.at("remove_identity_reshapes") == 0);
}

TEST_CASE("normalize: remove_identity_reshapes: a folded chain that comes back to the input shape disappears") {
  auto r = run_all(doc({placeholder("x"),
                        call("r1", "aten.view.default", ref("x") + ", [-1, 2, 2]", tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]")),
                        call("r2", "aten.view.default", ref("r1") + ", [-1, 4]"),
                        call("a", "aten.relu.default", ref("r2")),
                        output({"a"})}));
  CHECK(r.listing ==
        "a = aten.relu.default(x)\n"
        "output([a])\n");
}

// ---- canonicalize_silu ---------------------------------------------------------------------------------------------

TEST_CASE("normalize: canonicalize_silu: z*sigmoid(z), sigmoid(z)*z and z/(1+exp(-z)) all become silu(z)") {
  auto r = run(doc({placeholder("x"),
                    call("s", "aten.sigmoid.default", ref("x")),
                    call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s")),
                    call("s_1", "aten.sigmoid.default", ref("x")),
                    call("m_1", "aten.mul.Tensor", ref("s_1") + ", " + ref("x")),
                    call("n", "aten.neg.default", ref("x")),
                    call("e", "aten.exp.default", ref("n")),
                    call("a", "aten.add.Tensor", ref("e") + ", 1"),
                    call("d", "aten.div.Tensor", ref("x") + ", " + ref("a")),
                    call("n_1", "aten.neg.default", ref("x")),
                    call("e_1", "aten.exp.default", ref("n_1")),
                    call("a_1", "aten.add.Tensor", "1.0, " + ref("e_1")),
                    call("d_1", "aten.div.Tensor", ref("x") + ", " + ref("a_1")),
                    output({"m", "m_1", "d", "d_1"})}),
               {"canonicalize_silu"});
  CHECK(r.listing ==
        "silu = aten.silu.default(x)\n"
        "silu_1 = aten.silu.default(x)\n"
        "silu_2 = aten.silu.default(x)\n"
        "silu_3 = aten.silu.default(x)\n"
        "output([silu, silu_1, silu_2, silu_3])\n");
  REQUIRE(r.report.changes.size() == 4);
  CHECK(r.report.changes[0].description == "silu = aten.silu.default(x) replaces m = x * sigmoid(x); erased m, s");
  CHECK(r.report.changes[2].description ==
        "silu_2 = aten.silu.default(x) replaces d = x / (1 + exp(-x)); erased d, a, e, n");
}

TEST_CASE("normalize: canonicalize_silu: the replacement keeps the replaced node's meta and sits where it was") {
  const std::string stack = R"(, "stack_trace": "File \"m.py\", line 3", "custom": {"k": [1, 2]})";
  std::string with_meta = call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s"), kBF16);
  with_meta.replace(with_meta.rfind("}}"), 2, stack + "}}");
  auto r = run(doc({placeholder("x", kBF16), call("s", "aten.sigmoid.default", ref("x"), kBF16), with_meta,
                    call("b", "aten.relu.default", ref("m"), kBF16), output({"b"})}),
               {"canonicalize_silu"});
  std::string silu = call("silu", "aten.silu.default", ref("x"), kBF16);
  silu.replace(silu.rfind("}}"), 2, stack + "}}");
  CHECK(write_graph_text(r.graph) ==
        doc({placeholder("x", kBF16), silu, call("b", "aten.relu.default", ref("silu"), kBF16), output({"b"})}));
}

TEST_CASE("normalize: canonicalize_silu: not when an intermediate has another user, the operands differ or it is not silu") {
  const std::string text =
      doc({placeholder("x"), placeholder("y"), placeholder("i", kI32),
           // sigmoid also returned
           call("s", "aten.sigmoid.default", ref("x")), call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s")),
           // sigmoid of another tensor
           call("s_1", "aten.sigmoid.default", ref("y")), call("m_1", "aten.mul.Tensor", ref("x") + ", " + ref("s_1")),
           // 2 + exp(-x)
           call("n", "aten.neg.default", ref("x")), call("e", "aten.exp.default", ref("n")),
           call("a", "aten.add.Tensor", ref("e") + ", 2"), call("d", "aten.div.Tensor", ref("x") + ", " + ref("a")),
           // exp(-x) also used by another node
           call("n_1", "aten.neg.default", ref("x")), call("e_1", "aten.exp.default", ref("n_1")),
           call("a_1", "aten.add.Tensor", ref("e_1") + ", 1"), call("d_1", "aten.div.Tensor", ref("x") + ", " + ref("a_1")),
           call("u", "aten.relu.default", ref("e_1")),
           // y / (1 + exp(-x))
           call("n_2", "aten.neg.default", ref("x")), call("e_2", "aten.exp.default", ref("n_2")),
           call("a_2", "aten.add.Tensor", ref("e_2") + ", 1"), call("d_2", "aten.div.Tensor", ref("y") + ", " + ref("a_2")),
           // alpha=2: exp(-x) + 2*1
           call("n_3", "aten.neg.default", ref("x")), call("e_3", "aten.exp.default", ref("n_3")),
           call("a_3", "aten.add.Tensor", ref("e_3") + ", 1", kF32, R"("alpha": 2)"),
           call("d_3", "aten.div.Tensor", ref("x") + ", " + ref("a_3")),
           // an integer z: sigmoid promotes to float, silu would not accept it
           call("s_2", "aten.sigmoid.default", ref("i")), call("m_2", "aten.mul.Tensor", ref("i") + ", " + ref("s_2")),
           output({"m", "s", "m_1", "d", "d_1", "u", "d_2", "d_3", "m_2"})});
  auto r = run(text, {"canonicalize_silu"});
  CHECK(r.listing == listing_of(text));
  CHECK(r.report.changes.empty());
}

// ---- canonicalize_amax ---------------------------------------------------------------------------------------------

TEST_CASE("normalize: canonicalize_amax: max.dim + getitem 0 becomes amax with the same dim and keepdim") {
  const std::string pair = "[" + kF32Col + ", " + kI64Col + "]";
  const std::string row = tensor("float32", R"(["s0"])", "[1]");
  auto r = run(doc({placeholder("x"),
                    call("m", "aten.max.dim", ref("x") + ", -1, true", pair),
                    call("g", "_operator.getitem", ref("m") + ", 0", kF32Col),
                    call("m_1", "aten.max.dim", ref("x") + ", 1", "[" + row + ", " + tensor("int64", R"(["s0"])", "[1]") + "]"),
                    call("g_1", "_operator.getitem", ref("m_1") + ", 0", row),
                    output({"g", "g_1"})}),
               {"canonicalize_amax"});
  CHECK(r.listing ==
        "amax = aten.amax.default(x, [-1], True)\n"
        "amax_1 = aten.amax.default(x, [1], False)\n"
        "output([amax, amax_1])\n");
  CHECK(r.graph.find("amax")->val->tensor.dtype == "float32");
  CHECK(r.report.changes[0].description ==
        "amax = aten.amax.default(x, [-1], True) replaces g = m[0], m = max.dim(x, -1, True); erased g, m");
}

TEST_CASE("normalize: canonicalize_amax: not when the indices are used") {
  const std::string text = doc({placeholder("x"),
                                call("m", "aten.max.dim", ref("x") + ", -1, true", "[" + kF32Col + ", " + kI64Col + "]"),
                                call("g", "_operator.getitem", ref("m") + ", 0", kF32Col),
                                call("i", "_operator.getitem", ref("m") + ", 1", kI64Col),
                                output({"g", "i"})});
  auto r = run(text, {"canonicalize_amax"});
  CHECK(r.listing == listing_of(text));
  CHECK(r.report.changes.empty());
}

// ---- canonicalize_clamp --------------------------------------------------------------------------------------------

TEST_CASE("normalize: canonicalize_clamp: clamp_min then clamp_max, clamp_max then clamp_min, one-sided clamp, all to clamp") {
  auto r = run(doc({placeholder("x"),
                    call("a", "aten.clamp_min.default", ref("x") + ", -448.0"),
                    call("b", "aten.clamp_max.default", ref("a") + ", 448.0"),
                    call("c", "aten.clamp_max.default", ref("x") + ", 1"),
                    call("d", "aten.clamp_min.default", ref("c") + ", -1"),
                    call("e", "aten.clamp.default", ref("x") + ", 0.0"),
                    call("f", "aten.clamp_max.default", ref("e") + ", 6.0"),
                    call("h", "aten.clamp.default", ref("x") + ", null, 2.0"),
                    output({"b", "d", "f", "h"})}),
               {"canonicalize_clamp"});
  CHECK(r.listing ==
        "clamp = aten.clamp.default(x, -448.0, 448.0)\n"
        "clamp_1 = aten.clamp.default(x, -1, 1)\n"
        "clamp_2 = aten.clamp.default(x, 0.0, 6.0)\n"
        "h = aten.clamp.default(x, None, 2.0)\n"
        "output([clamp, clamp_1, clamp_2, h])\n");
  CHECK(r.report.changes[0].description ==
        "clamp = aten.clamp.default(x, -448.0, 448.0) replaces b = aten.clamp_max.default(a, 448.0), "
        "a = aten.clamp_min.default(x, -448.0); erased b, a");
}

TEST_CASE("normalize: canonicalize_clamp: not when lo > hi, the inner clamp has another user, or a bound is a tensor") {
  const std::string text = doc({placeholder("x"), placeholder("t"),
                                call("a", "aten.clamp_max.default", ref("x") + ", -1.0"),
                                call("b", "aten.clamp_min.default", ref("a") + ", 1.0"),
                                call("c", "aten.clamp_min.default", ref("x") + ", 0.0"),
                                call("d", "aten.clamp_max.default", ref("c") + ", 1.0"),
                                call("e", "aten.clamp_min.default", ref("x") + ", " + ref("t")),
                                call("f", "aten.clamp_max.default", ref("e") + ", 1.0"),
                                call("g", "aten.clamp_min.default", ref("x") + ", 0.0"),
                                call("h", "aten.clamp_min.default", ref("g") + ", 1.0"),
                                output({"b", "c", "d", "f", "h"})});
  auto r = run(text, {"canonicalize_clamp"});
  CHECK(r.listing == listing_of(text));
  CHECK(r.report.changes.empty());
}

// ---- canonicalize_to_copy ------------------------------------------------------------------------------------------

TEST_CASE("normalize: canonicalize_to_copy: a dtype-only _to_copy becomes convert_element_type; other copies stay") {
  auto r = run(doc({placeholder("x"),
                    call("a", "aten._to_copy.default", ref("x"), kBF16, R"("dtype": {"dtype": "bfloat16"})"),
                    call("b", "aten._to_copy.default", ref("x"), kBF16,
                         R"("dtype": {"dtype": "bfloat16"}, "layout": {"layout": "strided"}, "device": {"device": "cpu"})"),
                    call("c", "aten._to_copy.default", ref("x"), tensor("bfloat16", R"(["s0", 4])", "[4, 1]", "cuda:0"),
                         R"("dtype": {"dtype": "bfloat16"}, "device": {"device": "cuda:0"})"),
                    call("d", "aten._to_copy.default", ref("x"), kBF16,
                         R"("dtype": {"dtype": "bfloat16"}, "memory_format": {"memory_format": "channels_last"})"),
                    call("e", "aten._to_copy.default", ref("x"), kF32, R"("device": {"device": "cpu"})"),
                    output({"a", "b", "c", "d", "e"})}),
               {"canonicalize_to_copy"});
  CHECK(r.listing ==
        "convert_element_type = prims.convert_element_type.default(x, bfloat16)\n"
        "convert_element_type_1 = prims.convert_element_type.default(x, bfloat16)\n"
        "c = aten._to_copy.default(x, dtype=bfloat16, device=cuda:0)\n"
        "d = aten._to_copy.default(x, dtype=bfloat16, memory_format=channels_last)\n"
        "e = aten._to_copy.default(x, device=cpu)\n"
        "output([convert_element_type, convert_element_type_1, c, d, e])\n");
  CHECK(r.report.changes[0].description ==
        "convert_element_type = prims.convert_element_type.default(x, bfloat16) replaces a = _to_copy(x, "
        "dtype=bfloat16); erased a");
}

// ---- dce ---------------------------------------------------------------------------------------------------------

TEST_CASE("normalize: dce: unused pure nodes go, whole chains at once; effects, custom ops, placeholders and output stay") {
  auto r = run(doc({placeholder("x"), placeholder("unused"),
                    call("a", "aten.relu.default", ref("x")),
                    call("b", "aten.neg.default", ref("a")),
                    call("m", "aten.max.dim", ref("b") + ", 1", "[" + kF32Col + ", " + kI64Col + "]"),
                    call("g", "_operator.getitem", ref("m") + ", 1", kI64Col),
                    call("c", "aten.add_.Tensor", ref("x") + ", 1"),
                    call("q", "vllm.rocm_aiter_group_fp8_quant.default", ref("x") + ", 128", "[" + kF32 + ", " + kF32Col + "]"),
                    call("r", "aten.rand_like.default", ref("x")),
                    call("p", "builtins.print", ref("x"), R"({"const": null})"),
                    call("k", "aten.copy_.default", ref("x") + ", " + ref("x")),
                    call("s", "aten.sum.IntList_out", ref("x") + ", [0]", kF32, R"("out": )" + ref("x")),
                    call("o", "aten.relu.default", ref("x")),
                    output({"o"})}),
               {"dce"});
  CHECK(r.listing ==
        "c = aten.add_.Tensor(x, 1)\n"
        "q = vllm.rocm_aiter_group_fp8_quant.default(x, 128)\n"
        "r = aten.rand_like.default(x)\n"
        "p = builtins.print(x)\n"
        "k = aten.copy_.default(x, x)\n"
        "s = aten.sum.IntList_out(x, [0], out=x)\n"
        "o = aten.relu.default(x)\n"
        "output([o])\n");
  CHECK(r.graph.find("unused") != nullptr);
  CHECK(r.report.counts.at("dce") == 4);
  CHECK(r.report.changes[0].description == "erased g = _operator.getitem (no users)");
}

TEST_CASE("normalize: dce after a rule sweep erases what a backward sweep erases, in the same order") {
  // With rule passes selected, dce works from the nodes the rule sweep saw without users or changed; without,
  // it sweeps the graph backwards. Both must give the same changes in the same order: here two dead chains,
  // a reshape that a fold leaves with a dead user only, and a dead node after the fold's root.
  const std::string text =
      doc({placeholder("x"),
           call("a1", "aten.relu.default", ref("x")), call("a2", "aten.neg.default", ref("a1")),
           call("r1", "aten.reshape.default", ref("x") + ", [-1, 4]"),
           call("d", "aten.exp.default", ref("r1")),
           call("r2", "aten.reshape.default", ref("r1") + ", [-1, 4]"),
           call("b1", "aten.relu.default", ref("r2")), call("b2", "aten.neg.default", ref("b1")),
           call("b3", "aten.exp.default", ref("b1")),
           output({"r2"})});
  auto dce_of = [](const NormalizeReport& r) {
    std::vector<std::string> out;
    for (const auto& c : r.changes)
      if (c.pass == "dce") out.push_back(c.description);
    return out;
  };
  auto with_rules = run(text, {"fold_reshape_chains", "dce"});
  CHECK(with_rules.listing ==
        "r2 = aten.reshape.default(x, [-1, 4])\n"
        "output([r2])\n");
  CHECK(dce_of(with_rules.report) == std::vector<std::string>{
                                         "erased b3 = aten.exp.default (no users)",
                                         "erased b2 = aten.neg.default (no users)",
                                         "erased b1 = aten.relu.default (no users)",
                                         "erased d = aten.exp.default (no users)",
                                         "erased r1 = aten.reshape.default (no users)",
                                         "erased a2 = aten.neg.default (no users)",
                                         "erased a1 = aten.relu.default (no users)"});
  // The same graph after the fold, by dce alone (a backward sweep): the same changes.
  auto folded = run(text, {"fold_reshape_chains"});
  auto swept = run(write_graph_text(folded.graph), {"dce"});
  CHECK(swept.listing == with_rules.listing);
  CHECK(dce_of(swept.report) == dce_of(with_rules.report));
  // And the undo puts every dead node back where it was.
  Graph g = read_graph_text(text, "t.json");
  NormalizeReport r = normalize(g, {"fold_reshape_chains", "dce"});
  denormalize(g, r);
  CHECK(write_graph_text(g) == write_graph_text(read_graph_text(text, "t.json")));
}

TEST_CASE("normalize: keyword and Scalar spellings of the same ops are accepted") {
  auto r = run(doc({placeholder("x"),
                    call("n", "aten.neg.default", ref("x")), call("e", "aten.exp.default", ref("n")),
                    call("a", "aten.add.Scalar", ref("e") + ", 1.0"), call("d", "aten.div.Tensor", ref("x") + ", " + ref("a")),
                    call("m", "aten.max.dim", ref("x"), "[" + kF32Col + ", " + kI64Col + "]", R"("dim": 1, "keepdim": true)"),
                    call("g", "_operator.getitem", ref("m") + ", 0", kF32Col),
                    call("c", "aten.clamp.default", ref("x"), kF32, R"("min": -2)"),
                    call("c_1", "aten.clamp_max.default", ref("c"), kF32, R"("max": 2)"),
                    output({"d", "g", "c_1"})}),
               all_normalize_passes());
  CHECK(r.listing ==
        "silu = aten.silu.default(x)\n"
        "amax = aten.amax.default(x, [1], True)\n"
        "clamp = aten.clamp.default(x, -2, 2)\n"
        "output([silu, amax, clamp])\n");
}

TEST_CASE("normalize: rounds run to a fixed point: dce frees an intermediate, then silu applies") {
  auto r = run_all(doc({placeholder("x"),
                        call("s", "aten.sigmoid.default", ref("x")),
                        call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s")),
                        call("unused", "aten.relu.default", ref("s")),
                        output({"m"})}));
  CHECK(r.listing ==
        "silu = aten.silu.default(x)\n"
        "output([silu])\n");
  REQUIRE(r.report.changes.size() == 2);
  CHECK(r.report.changes[0].pass == "dce");
  CHECK(r.report.changes[1].pass == "canonicalize_silu");
}

// Later rounds look only at the nodes near a change: here dce's erasures leave exp(-x) (two levels below the div)
// and -x (three levels below) with a single user, which is what lets silu apply; a second round that did not look
// at the divs again would leave them.
TEST_CASE("normalize: a node whose input two or three levels down comes to have a single user is tried again") {
  auto r = run_all(doc({placeholder("x"),
                        call("n", "aten.neg.default", ref("x")),
                        call("e", "aten.exp.default", ref("n")),
                        call("a", "aten.add.Tensor", ref("e") + ", 1"),
                        call("d", "aten.div.Tensor", ref("x") + ", " + ref("a")),
                        call("n_1", "aten.neg.default", ref("x")),
                        call("e_1", "aten.exp.default", ref("n_1")),
                        call("a_1", "aten.add.Tensor", ref("e_1") + ", 1"),
                        call("d_1", "aten.div.Tensor", ref("x") + ", " + ref("a_1")),
                        call("unused", "aten.relu.default", ref("e")),
                        call("unused_1", "aten.relu.default", ref("n_1")),
                        output({"d", "d_1"})}));
  CHECK(r.listing ==
        "silu = aten.silu.default(x)\n"
        "silu_1 = aten.silu.default(x)\n"
        "output([silu, silu_1])\n");
  REQUIRE(r.report.changes.size() == 4);
  CHECK(r.report.changes[0].description == "erased unused_1 = aten.relu.default (no users)");
  CHECK(r.report.changes[1].description == "erased unused = aten.relu.default (no users)");
  CHECK(r.report.changes[2].description ==
        "silu = aten.silu.default(x) replaces d = x / (1 + exp(-x)); erased d, a, e, n");
  CHECK(r.report.changes[3].description ==
        "silu_1 = aten.silu.default(x) replaces d_1 = x / (1 + exp(-x)); erased d_1, a_1, e_1, n_1");
}

// ---- the driver --------------------------------------------------------------------------------------------------

TEST_CASE("normalize: pass names, selection and errors") {
  CHECK(all_normalize_passes() ==
        std::vector<std::string>{"view_to_reshape", "fold_reshape_chains", "remove_identity_reshapes",
                                 "canonicalize_silu", "canonicalize_amax", "canonicalize_clamp",
                                 "canonicalize_to_copy", "dce"});
  Graph g = read_graph_text(doc({placeholder("x"), call("a", "aten.relu.default", ref("x")), output({"x"})}), "t");
  NormalizeReport none = normalize(g, {});
  CHECK(none.changes.empty());
  CHECK(none.counts.empty());
  CHECK(g.size() == 3);

  try {
    normalize(g, {"dce", "fold_reshapes"});
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) ==
          "unknown normalisation pass 'fold_reshapes' (valid passes: view_to_reshape, fold_reshape_chains, "
          "remove_identity_reshapes, canonicalize_silu, canonicalize_amax, canonicalize_clamp, "
          "canonicalize_to_copy, dce)");
  }
  CHECK(g.size() == 3);  // nothing ran

  NormalizeReport r = normalize(g, {"dce", "dce"});
  CHECK(r.counts.size() == 1);
  CHECK(r.counts.at("dce") == 1);
  CHECK(r.seconds.count("dce") == 1);
}

TEST_CASE("normalize: the L1 corpus graph gets one silu, one amax, one clamp and its reshape chains folded") {
  Graph g = read_graph_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json");
  REQUIRE(g.size() == 49);
  NormalizeReport r = normalize(g, all_normalize_passes());
  CHECK(g.size() == 41);  // 3 folded reshapes, silu 4 -> 1, max.dim+getitem -> amax, 2 clamps -> 1
  CHECK(check_graph(g).empty());
  CHECK(count_target(g, "aten.silu.default") == 1);
  CHECK(count_target(g, "aten.amax.default") == 1);
  CHECK(count_target(g, "aten.clamp.default") == 1);
  CHECK(count_target(g, "aten.max.dim") == 0);
  CHECK(count_target(g, "aten.clamp_max.default") == 0);
  CHECK(count_target(g, "aten.clamp_min.default") == 1);  // the scale floor, a lone clamp_min
  CHECK(count_target(g, "aten.exp.default") == 0);
  CHECK(r.counts.at("fold_reshape_chains") == 3);
  CHECK(r.counts.at("canonicalize_silu") == 1);
  CHECK(r.counts.at("canonicalize_amax") == 1);
  CHECK(r.counts.at("canonicalize_clamp") == 1);
  CHECK(r.counts.at("dce") == 0);
  CHECK(total_changes(r) == 6);
  CHECK(g.find("view_5")->args[0].node->name == "convert_element_type_3");
  CHECK(g.find("view_4") == nullptr);
  const Node* silu = g.find("silu");
  REQUIRE(silu != nullptr);
  CHECK(silu->args[0].node->name == "convert_element_type_2");
  CHECK(g.find("mul_43")->args[1].node == silu);

  // Normal form: a second run changes nothing; the text reads back identically.
  NormalizeReport again = normalize(g, all_normalize_passes());
  CHECK(total_changes(again) == 0);
  std::string text = write_graph_text(g);
  CHECK(write_graph_text(read_graph_text(text, "normalized")) == text);
}

TEST_CASE("normalize: the L8 corpus graph gets eight of each") {
  Graph g = read_graph_file(std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json");
  NormalizeReport r = normalize(g, all_normalize_passes());
  CHECK(check_graph(g).empty());
  CHECK(count_target(g, "aten.silu.default") == 8);
  CHECK(count_target(g, "aten.amax.default") == 8);
  CHECK(count_target(g, "aten.clamp.default") == 8);
  CHECK(r.counts.at("fold_reshape_chains") == 24);
}

// ---- semantics: the CPU executor gives the same outputs before and after ------------------------------------------

TEST_CASE("normalize: the normalised L1 and L8 graphs compute bit-identical outputs") {
  for (std::string path : {std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json",
                           std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json"}) {
    CAPTURE(path);
    Graph original = read_graph_file(path);
    Graph normalized = read_graph_file(path);
    normalize(normalized, all_normalize_passes());
    rt::VerifyResult v = rt::verify_rewrite(original, normalized);  // zero tolerance: equal by value
    CHECK_MESSAGE(v.ok, v.reason);
  }
}

TEST_CASE("normalize: every spelling computes what it computed before") {
  const std::string cube = tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]");
  const std::string text =
      doc({placeholder("x"),
           call("v", "aten.view.default", ref("x") + ", [-1, 2, 2]", cube),
           call("w", "aten._unsafe_view.default", ref("v") + ", [-1, 4]"),
           call("n", "aten.neg.default", ref("w")), call("e", "aten.exp.default", ref("n")),
           call("a", "aten.add.Tensor", "1, " + ref("e")), call("d", "aten.div.Tensor", ref("w") + ", " + ref("a")),
           call("m", "aten.max.dim", ref("d") + ", 1, true", "[" + kF32Col + ", " + kI64Col + "]"),
           call("g", "_operator.getitem", ref("m") + ", 0", kF32Col),
           call("c", "aten.clamp_max.default", ref("x") + ", 0.5"), call("c_1", "aten.clamp_min.default", ref("c") + ", -0.5"),
           call("t", "aten._to_copy.default", ref("c_1"), kBF16, R"("dtype": {"dtype": "bfloat16"})"),
           call("r", "aten.reshape.default", ref("t") + ", [-1, 2, 2]", tensor("bfloat16", R"(["s0", 2, 2])", "[4, 2, 1]")),
           call("r_1", "aten.reshape.default", ref("r") + ", [-1, 4]", kBF16),
           call("dead", "aten.relu.default", ref("x")),
           output({"d", "g", "r_1"})});
  Graph original = read_graph_text(text, "t");
  auto r = run_all(text);
  CHECK(r.listing ==
        "silu = aten.silu.default(x)\n"
        "amax = aten.amax.default(silu, [1], True)\n"
        "clamp = aten.clamp.default(x, -0.5, 0.5)\n"
        "convert_element_type = prims.convert_element_type.default(clamp, bfloat16)\n"
        "output([silu, amax, convert_element_type])\n");
  rt::VerifyResult v = rt::verify_rewrite(original, r.graph);
  CHECK_MESSAGE(v.ok, v.reason);
}

TEST_CASE("normalize: z*sigmoid(z) and silu(z) agree to float32 rounding") {
  const std::string text = doc({placeholder("x"), call("s", "aten.sigmoid.default", ref("x")),
                                call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s")), output({"m"})});
  Graph original = read_graph_text(text, "t");
  auto r = run_all(text);
  CHECK(r.listing == "silu = aten.silu.default(x)\noutput([silu])\n");
  rt::VerifyOptions opt;
  opt.tolerance.rtol = 1e-6;
  opt.tolerance.atol = 1e-7;
  rt::VerifyResult v = rt::verify_rewrite(original, r.graph, opt);
  CHECK_MESSAGE(v.ok, v.reason);
}

// Timed in thread CPU time, so that other work on a shared machine does not make it flaky.
TEST_CASE("normalize: a 200k-node graph") {
  Graph tmpl = read_graph_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json");
  Graph g = bench::replicate_graph(tmpl, 200000);
  const size_t before = g.size();
  CHECK(before >= 200000);
  auto cpu_seconds = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  const double start = cpu_seconds();
  NormalizeReport r = normalize(g, all_normalize_passes());
  const double seconds = cpu_seconds() - start;
  const size_t copies = r.counts.at("canonicalize_silu");
  CHECK(copies == (before - 7) / 42);  // 6 placeholders, an output, 42 compute nodes per copy
  CHECK(r.counts.at("canonicalize_amax") == copies);
  CHECK(g.size() == before - 8 * copies);
  CHECK(check_graph(g).empty());
  MESSAGE("normalize of " << before << " nodes: " << seconds << " s (CPU; timing targets live in bench/)");
}

// ---- denormalize -----------------------------------------------------------------------------------------------

namespace {

// Normalises with every pass and undoes it at once (nothing fused): the text must be the input's.
void check_round_trip(const std::string& text, size_t min_changes) {
  Graph g = read_graph_text(text, "t");
  const std::string before = write_graph_text(g);
  NormalizeReport r = normalize(g, all_normalize_passes());
  CHECK(total_changes(r) >= min_changes);
  DenormalizeReport d = denormalize(g, r);
  std::string changes;
  for (const auto& c : r.changes) changes += c.pass + ": " + c.description + "\n";
  CAPTURE(changes);
  CAPTURE(denormalize_stats_text(d));
  CHECK(d.restored == r.changes.size());
  CHECK(d.fused == 0);
  CHECK(d.kept.empty());
  CHECK(check_graph(g).empty());
  CHECK(write_graph_text(g) == before);
}

}  // namespace

TEST_CASE("denormalize: every spelling, dead node and identity reshape comes back exactly as it was read") {
  const std::string cube = tensor("float32", R"(["s0", 2, 2])", "[4, 2, 1]");
  const std::string x2 = tensor("float32", R"(["2*s0", 4])", "[4, 1]");
  check_round_trip(
      doc({placeholder("x"), placeholder("y", x2),
           call("v", "aten.view.default", ref("x") + ", [-1, 2, 2]", cube),
           call("w", "aten._unsafe_view.default", ref("v") + ", [-1, 4]"),
           call("n", "aten.neg.default", ref("w")), call("e", "aten.exp.default", ref("n")),
           call("a", "aten.add.Tensor", "1, " + ref("e")), call("d", "aten.div.Tensor", ref("w") + ", " + ref("a")),
           call("n_1", "aten.neg.default", ref("x")), call("e_1", "aten.exp.default", ref("n_1")),
           call("a_1", "aten.add.Tensor", ref("e_1") + ", 1.0"), call("d_1", "aten.div.Tensor", ref("x") + ", " + ref("a_1")),
           call("sg", "aten.sigmoid.default", ref("x")), call("mu", "aten.mul.Tensor", ref("sg") + ", " + ref("x")),
           call("m", "aten.max.dim", ref("d") + ", 1, true", "[" + kF32Col + ", " + kI64Col + "]"),
           call("g", "_operator.getitem", ref("m") + ", 0", kF32Col),
           call("c", "aten.clamp_max.default", ref("x") + ", 0.5"), call("c_1", "aten.clamp_min.default", ref("c") + ", -0.5"),
           call("c_2", "aten.clamp.default", ref("x") + ", -1"), call("c_3", "aten.clamp.default", ref("c_2") + ", null, 1"),
           call("t", "aten._to_copy.default", ref("c_1"), kBF16, R"("dtype": {"dtype": "bfloat16"})"),
           call("r", "aten.reshape.default", ref("t") + ", [-1, 2, 2]", tensor("bfloat16", R"(["s0", 2, 2])", "[4, 2, 1]")),
           call("r_1", "aten.reshape.default", ref("r") + ", [-1, 4]", kBF16),
           call("dead", "aten.relu.default", ref("x")), call("dead_1", "aten.neg.default", ref("dead")),
           call("id", "aten.reshape.default", ref("y") + ", [-1, 4]", tensor("float32", R"(["s0*2", 4])", "[4, 1]")),
           call("ia", "aten.add.Tensor", ref("id") + ", " + ref("y"), x2),
           output({"d", "d_1", "mu", "g", "c_3", "r_1", "ia", "id"})}),
      12);
}

TEST_CASE("denormalize: the corpus graphs come back byte for byte when nothing fuses") {
  for (std::string f : {std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json",
                        std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json"}) {
    CAPTURE(f);
    check_round_trip(write_graph_text(read_graph_file(f)), 6);
  }
}

TEST_CASE("denormalize: a replaced node whose replacement is gone stays gone; the rest is restored") {
  // Two silu spellings; the first silu is erased (as a fusion would) with its user: only the second comes back.
  const std::string text = doc({placeholder("x"), placeholder("z"),
                                call("s", "aten.sigmoid.default", ref("x")), call("m", "aten.mul.Tensor", ref("x") + ", " + ref("s")),
                                call("u", "aten.relu.default", ref("m")),
                                call("s_1", "aten.sigmoid.default", ref("z")), call("m_1", "aten.mul.Tensor", ref("z") + ", " + ref("s_1")),
                                output({"u", "m_1"})});
  Graph g = read_graph_text(text, "t");
  NormalizeReport r = normalize(g, all_normalize_passes());
  REQUIRE(count_target(g, "aten.silu.default") == 2);
  Node* first = nullptr;
  for (auto& n : g.nodes())
    if (n.target == "aten.silu.default" && n.args[0].node->name == "x") first = &n;
  REQUIRE(first);
  // "Fused": a region {silu, u} replaced by one new node.
  Node* u = g.find("u");
  Node* f = g.create_node(OpKind::CallFunction, "aten.abs.default", {Arg::ref(g.find("x"))}, {}, u, "fused");
  g.replace_all_uses(u, f);
  g.erase(u);
  g.erase(first);
  DenormalizeReport d = denormalize(g, r);
  CHECK(d.restored == 1);
  CHECK(d.fused == 1);
  CHECK(d.kept.empty());
  CHECK(listing(g) == "fused = aten.abs.default(x)\ns_1 = aten.sigmoid.default(z)\nm_1 = aten.mul.Tensor(z, s_1)\n"
                      "output([fused, m_1])\n");
}

TEST_CASE("denormalize: inputs redirected by a fusion are followed") {
  // silu(z) survives but z was replaced (as a fusion's output would be) by another node: the restored
  // spelling reads that node.
  const std::string text = doc({placeholder("x"), call("z", "aten.relu.default", ref("x")),
                                call("s", "aten.sigmoid.default", ref("z")), call("m", "aten.mul.Tensor", ref("z") + ", " + ref("s")),
                                output({"m"})});
  Graph g = read_graph_text(text, "t");
  NormalizeReport r = normalize(g, all_normalize_passes());
  REQUIRE(count_target(g, "aten.silu.default") == 1);
  Node* z = g.find("z");
  Node* f = g.create_node(OpKind::CallFunction, "aten.abs.default", {Arg::ref(g.find("x"))}, {}, z, "fused");
  f->val = z->val;
  g.replace_all_uses(z, f);
  g.erase(z);
  DenormalizeReport d = denormalize(g, r);
  CHECK(d.restored == 1);
  CHECK(listing(g) == "fused = aten.abs.default(x)\ns = aten.sigmoid.default(fused)\nm = aten.mul.Tensor(fused, s)\noutput([m])\n");
}

TEST_CASE("denormalize: a 200k-node graph") {
  Graph tmpl = read_graph_file(std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json");
  Graph g = bench::replicate_graph(tmpl, 200000);
  const std::string before = write_graph_text(g);
  NormalizeReport r = normalize(g, all_normalize_passes());
  DenormalizeReport d = denormalize(g, r);
  CHECK(d.restored == r.changes.size());
  MESSAGE("denormalize of " << r.changes.size() << " changes: " << d.seconds << " s (timing targets live in bench/)");
  CHECK(write_graph_text(g) == before);
}

TEST_CASE("normalize: the call counts after normalisation, from the undo records, are those of a walk") {
  namespace fs = std::filesystem;
  // Every test graph: the corpus, the golden inputs, the model graphs; each pass alone and all of them.
  std::vector<std::string> files;
  for (const char* dir : {"/tests/data", "/tests/golden"})
    for (const auto& e : fs::recursive_directory_iterator(std::string(FXOPT_SOURCE_DIR) + dir)) {
      const std::string p = e.path().string();
      if (e.is_regular_file() && (p.ends_with(".fxgraph.json") || p.ends_with(".input.json"))) files.push_back(p);
    }
  REQUIRE(files.size() > 50);
  auto positive = [](const CallCounts& c) {
    std::map<std::string, std::ptrdiff_t> m;
    for (const auto& [t, n] : c)
      if (n != 0) m[*t] = n;  // a negative count would show here as a difference
    return m;
  };
  size_t changed = 0;
  for (const auto& f : files) {
    std::vector<std::vector<std::string>> runs = {all_normalize_passes()};
    for (const auto& p : all_normalize_passes()) runs.push_back({p});
    for (const auto& passes : runs) {
      Graph g;
      try {
        g = read_graph_file(f);
      } catch (const InputError&) {
        break;  // a graph that tests an error
      }
      CallCounts counts = count_calls(g);
      const NormalizeReport r = normalize(g, passes, false);
      changed += r.changes.size();
      CAPTURE(f);
      CAPTURE(passes.size() == 1 ? passes[0] : "all");
      REQUIRE(count_calls_after(counts, r));
      CHECK(positive(counts) == positive(count_calls(g)));
    }
  }
  CHECK(changed > 300);  // the passes did change the graphs (617 changes)
}
