// Unit tests of the executor: symbol binding, inputs, dispatch errors, the corpus graphs, safetensors,
// comparison, and verify_rewrite on the hand-fused L1 graph (bit-exact) and on wrong replacements.
#include <doctest/doctest.h>

#include <cstring>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "runtime/compare.h"
#include "runtime/executor.h"
#include "runtime/safetensors.h"

using namespace fxopt;
using namespace fxopt::rt;

namespace {
const std::string kL1 = std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json";
const std::string kL8 = std::string(FXOPT_TEST_DATA) + "/data/qwen3next_gdn_L8.fxgraph.json";
std::string data(const char* name) { return std::string(FXOPT_TEST_DATA) + "/data/" + name; }

// Makes the graph output the named nodes instead (to compare intermediates).
void output_nodes(Graph& g, const std::vector<std::string>& names) {
  std::vector<Arg> items;
  for (const auto& n : names) {
    Node* p = g.find(n);
    REQUIRE_MESSAGE(p != nullptr, n);
    items.push_back(Arg::ref(p));
  }
  g.set_args(g.output_node(), {Arg::list(items)});
}
}  // namespace

TEST_CASE("executor: the corpus L1 graph runs with the symbol's hint") {
  const Graph g = read_graph_file(kL1);
  const SymbolValues s = bind_symbols(g, {});
  CHECK(s.at("s68") == 16);
  const ExecResult r = run_graph(g, s, make_inputs(g, s, 0));
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.output_names[0] == "addmm_default");
  CHECK(r.outputs[0].tensor.dtype() == DType::BF16);
  CHECK(r.outputs[0].tensor.shape() == Shape{16, 4096});
  CHECK(r.nodes_run == 42);
  // Deterministic: a second run gives the same bits.
  const ExecResult r2 = run_graph(g, s, make_inputs(g, s, 0), ExecOptions{nullptr, 1, true, false});
  CHECK(compare_values("o", r.outputs[0], r2.outputs[0], {}).ok());
}

TEST_CASE("executor: the corpus L8 graph runs at a small size") {
  const Graph g = read_graph_file(kL8);
  const SymbolValues s = bind_symbols(g, {{"s68", 3}});
  const ExecResult r = run_graph(g, s, make_inputs(g, s, 7));
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.outputs[0].tensor.shape() == Shape{3, 4096});
}

TEST_CASE("executor: symbol binding checks names and ranges, and reads sizes off given inputs") {
  const Graph g = read_graph_file(kL1);
  CHECK_THROWS_WITH_AS(bind_symbols(g, {{"s1", 3}}), doctest::Contains("unknown symbol 's1'"), InputError);
  CHECK_THROWS_WITH_AS(bind_symbols(g, {{"s68", 1}}), doctest::Contains("outside its range [2, inf]"), InputError);
  TensorMap given{{"arg1_1", random_tensor(DType::BF16, {5, 4096}, 1, "x")}};
  CHECK(bind_symbols(g, {}, given).at("s68") == 5);
  const SymbolValues s = bind_symbols(g, {}, given);
  const TensorMap in = make_inputs(g, s, 0, given);
  CHECK(in.at("arg1_1").storage() == given.at("arg1_1").storage());
  CHECK(in.at("arg3_1").shape() == Shape{5, 4096});
  TensorMap wrong{{"arg1_1", random_tensor(DType::F32, {5, 4096}, 1, "x")}};
  CHECK_THROWS_WITH_AS(make_inputs(g, s, 0, wrong), doctest::Contains("input 'arg1_1' is float32 but the graph expects bfloat16"),
                       InputError);
  TensorMap bad_shape{{"arg4_1", random_tensor(DType::BF16, {64}, 1, "w")}};
  CHECK_THROWS_WITH_AS(make_inputs(g, s, 0, bad_shape), doctest::Contains("has shape [64] but the graph expects [128]"),
                       InputError);
}

TEST_CASE("executor: random inputs are deterministic and in (-2, 2)") {
  const Tensor a = random_tensor(DType::F32, {1000}, 42, "arg1_1");
  const Tensor b = random_tensor(DType::F32, {1000}, 42, "arg1_1");
  const Tensor c = random_tensor(DType::F32, {1000}, 43, "arg1_1");
  CHECK(std::memcmp(a.raw(), b.raw(), 4000) == 0);
  CHECK(std::memcmp(a.raw(), c.raw(), 4000) != 0);
  double mn = 9, mx = -9;
  for (int i = 0; i < 1000; ++i) {
    mn = std::min(mn, a.value_at(i));
    mx = std::max(mx, a.value_at(i));
  }
  CHECK(mn > -2.0);
  CHECK(mx < 2.0);
  CHECK(mn < -1.0);
  CHECK(mx > 1.0);
  // Golden values: splitmix64 + sums of four 16-bit uniforms, the same on every platform.
  CHECK(random_tensor(DType::F32, {1}, 0, "x").data<float>()[0] == doctest::Approx(random_tensor(DType::F64, {1}, 0, "x").value_at(0)).epsilon(1e-7));
  const Tensor ints = random_tensor(DType::I64, {100}, 0, "i");
  for (int i = 0; i < 100; ++i) CHECK((ints.value_at(i) >= 0 && ints.value_at(i) <= 8));
}

TEST_CASE("executor: every op without a kernel is listed with its nodes before anything runs") {
  std::string text = read_text_file(kL1);
  const std::string from = "\"target\": \"aten.rsqrt.default\"";
  text.replace(text.find(from), from.size(), "\"target\": \"aten.frobnicate.default\"");
  const std::string from2 = "\"target\": \"aten.mean.dim\"";
  text.replace(text.find(from2), from2.size(), "\"target\": \"aten.unknown_mean.dim\"");
  const Graph g = read_graph_text(text, "g.json");
  CHECK_THROWS_WITH_AS(check_runnable(g, cpu_backend()),
                       "the executor has no kernel for 2 ops of this graph (nothing was run; device cpu):\n"
                       "  aten.unknown_mean.dim (node 'mean')\n"
                       "  aten.frobnicate.default (node 'rsqrt')",
                       InputError);
  CHECK_THROWS_AS(backend_for_device("tpu"), InputError);
#if !defined(FXOPT_HAVE_GPU)
  CHECK_THROWS_WITH_AS(backend_for_device("gpu"), doctest::Contains("this build has no GPU backend"), InputError);
#endif
}

TEST_CASE("executor: a result that contradicts meta.val is an error naming the node") {
  std::string text = read_text_file(kL1);
  const std::string from = "[{\"node\": \"pow_1\"}, [-1], true]";
  text.replace(text.find(from), from.size(), "[{\"node\": \"pow_1\"}, [-1], false]");
  const Graph g = read_graph_text(text, "g.json");
  const SymbolValues s = bind_symbols(g, {{"s68", 2}});
  CHECK_THROWS_WITH_AS(run_graph(g, s, make_inputs(g, s, 0)),
                       doctest::Contains("node 'mean' (aten.mean.dim): the op gives tensor float32 [64] but meta.val says float32 [64, 1]"),
                       InputError);
}

TEST_CASE("safetensors: round trip and precise errors") {
  std::vector<std::pair<std::string, Tensor>> ts{{"a", random_tensor(DType::BF16, {3, 5}, 1, "a")},
                                                 {"b", random_tensor(DType::F8E4M3FN, {7}, 1, "b")},
                                                 {"c", random_tensor(DType::I64, {2, 2}, 1, "c")}};
  const std::string bytes = encode_safetensors(ts);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK((8 + n) % 8 == 0);
  auto back = decode_safetensors(bytes, "t.safetensors");
  REQUIRE(back.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back[i].first == ts[i].first);
    CHECK(back[i].second.dtype() == ts[i].second.dtype());
    CHECK(back[i].second.shape() == ts[i].second.shape());
    CHECK(compare_values("x", Value::of(ts[i].second), Value::of(back[i].second), {}).ok());
  }
  CHECK_THROWS_WITH_AS(decode_safetensors("abc", "t.st"), doctest::Contains("t.st: not a safetensors file"), InputError);
  std::string truncated = bytes.substr(0, bytes.size() - 1);
  CHECK_THROWS_WITH_AS(decode_safetensors(truncated, "t.st"), doctest::Contains("tensor 'c': data_offsets"), InputError);
  std::string bad = bytes;
  bad.replace(bad.find("BF16"), 4, "BF17");
  CHECK_THROWS_WITH_AS(decode_safetensors(bad, "t.st"), doctest::Contains("tensor 'a': unsupported dtype 'BF17'"), InputError);
}

TEST_CASE("compare: tolerance, NaN, fp8 by value") {
  auto t = [](std::vector<float> v) {
    Tensor x = Tensor::empty(DType::F32, {static_cast<int64_t>(v.size())});
    std::memcpy(x.raw(), v.data(), v.size() * 4);
    return Value::of(x);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto c = compare_values("o", t({1, 2, nan, 0}), t({1, 2.5, nan, -0.0f}), {});
  CHECK(c.mismatches == 1);
  CHECK(c.first_mismatch == 1);
  CHECK(c.max_abs == 0.5);
  CHECK(c.max_rel == 0.25);
  CHECK(compare_values("o", t({1, 2}), t({1, 2.5}), {0.0, 0.5}).ok());
  CHECK(compare_values("o", t({1, 2}), t({1, 2.5}), {0.25, 0.0}).ok());
  CHECK_FALSE(compare_values("o", t({1, 2}), t({1, 2.5}), {0.2, 0.0}).ok());
  CHECK_FALSE(compare_values("o", t({nan}), t({1}), {1, 1}).ok());
  CHECK_FALSE(compare_values("o", t({1}), t({1, 2}), {}).ok());
  Tensor a = Tensor::empty(DType::F8E4M3FN, {2}), b = Tensor::empty(DType::F8E4M3FN, {2});
  a.data<uint8_t>()[0] = 0x38;  // 1.0
  b.data<uint8_t>()[0] = 0x39;  // 1.125: one step
  a.data<uint8_t>()[1] = b.data<uint8_t>()[1] = 0x00;
  auto f = compare_values("q", Value::of(a), Value::of(b), {});
  CHECK(f.mismatches == 1);
  CHECK(f.max_abs == 0.125);
}

TEST_CASE("verify_rewrite: the hand-fused L1 graph is bit-identical, intermediates included") {
  const Graph orig = read_graph_file(kL1);
  const Graph fused = read_graph_file(data("qwen3next_gdn_L1.fused.fxgraph.json"));
  VerifyResult r = verify_rewrite(orig, fused);
  CHECK_MESSAGE(r.ok, r.reason);
  CHECK(r.trials.size() == 2);
  // The quantised values and scales themselves, on several seeds and sizes.
  Graph o2 = read_graph_file(kL1), f2 = read_graph_file(data("qwen3next_gdn_L1.fused.fxgraph.json"));
  output_nodes(o2, {"view_6", "squeeze"});
  output_nodes(f2, {"view_6", "squeeze"});
  for (uint64_t seed : {1, 2, 3}) {
    VerifyOptions opt;
    opt.seed = seed;
    opt.symbol_values = {2, 5, 17};
    VerifyResult v = verify_rewrite(o2, f2, opt);
    CHECK_MESSAGE(v.ok, v.reason);
    REQUIRE(v.trials.size() == 3);
    CHECK(v.trials[2].comparison.outputs[0].count == 17 * 4096);
    CHECK(v.trials[2].comparison.outputs[1].count == 17 * 32);
  }
}

TEST_CASE("verify_rewrite: wrong replacements are caught") {
  const Graph orig = read_graph_file(kL1);
  VerifyResult eps = verify_rewrite(orig, read_graph_file(data("qwen3next_gdn_L1.fused_wrong_eps.fxgraph.json")));
  CHECK_FALSE(eps.ok);
  CHECK(eps.reason.find("outputs differ") != std::string::npos);
  CHECK(eps.reason.find("MISMATCH") != std::string::npos);
  VerifyResult g64 = verify_rewrite(orig, read_graph_file(data("qwen3next_gdn_L1.fused_group64.fxgraph.json")));
  CHECK_FALSE(g64.ok);
  CHECK(g64.reason.find("running the rewritten graph failed") != std::string::npos);
  // A rewritten graph with an op the executor lacks cannot be verified.
  std::string text = read_text_file(data("qwen3next_gdn_L1.fused.fxgraph.json"));
  const std::string from = "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default";
  text.replace(text.find(from), from.size(), "vllm.unknown_op.default");
  VerifyResult unk = verify_rewrite(orig, read_graph_text(text, "x.json"));
  CHECK_FALSE(unk.ok);
  CHECK(unk.reason.find("cannot run on the CPU executor") != std::string::npos);
  // The same graph twice verifies (L8 too).
  const Graph l8 = read_graph_file(kL8);
  CHECK(verify_rewrite(l8, read_graph_file(kL8)).ok);
}

namespace {
std::string tensor_val(const char* dtype, const std::string& shape) {
  return std::string(R"({"val": {"dtype": ")") + dtype + R"(", "shape": )" + shape + R"(, "stride": [], "device": "cpu"}})";
}
std::string node_line(const std::string& name, const std::string& target, const std::string& args, const std::string& kwargs,
                      const std::string& meta) {
  return R"(  {"name": ")" + name + R"(", "op": "call_function", "target": ")" + target + R"(", "args": )" + args +
         R"(, "kwargs": )" + kwargs + R"(, "meta": )" + meta + "},\n";
}
}  // namespace

TEST_CASE("executor: auto_functionalized v1/v2 nodes run by the op's meaning, getitems through the schema") {
  const std::string x = tensor_val("bfloat16", R"(["s0", 64])"), f32 = tensor_val("float32", R"(["s0", 64])");
  std::string nodes =
      R"(  {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": )" + x + "},\n" +
      R"(  {"name": "w", "op": "placeholder", "target": "w", "args": [], "kwargs": {}, "meta": )" +
      tensor_val("bfloat16", "[64]") + "},\n" +
      // the native chain (vLLM order: round to bf16, then multiply by the weight)
      node_line("c0", "prims.convert_element_type.default", R"([{"node": "x"}, {"dtype": "float32"}])", "{}", f32) +
      node_line("p", "aten.pow.Tensor_Scalar", R"([{"node": "c0"}, 2])", "{}", f32) +
      node_line("m", "aten.mean.dim", R"([{"node": "p"}, [-1], true])", "{}", tensor_val("float32", R"(["s0", 1])")) +
      node_line("a", "aten.add.Tensor", R"([{"node": "m"}, 1e-06])", "{}", tensor_val("float32", R"(["s0", 1])")) +
      node_line("r", "aten.rsqrt.default", R"([{"node": "a"}])", "{}", tensor_val("float32", R"(["s0", 1])")) +
      node_line("y", "aten.mul.Tensor", R"([{"node": "c0"}, {"node": "r"}])", "{}", f32) +
      node_line("yb", "prims.convert_element_type.default", R"([{"node": "y"}, {"dtype": "bfloat16"}])", "{}", x) +
      node_line("native", "aten.mul.Tensor", R"([{"node": "yb"}, {"node": "w"}])", "{}", x) +
      // the opaque spellings
      node_line("ir", "vllm_ir.rms_norm.default", R"([{"node": "x"}, {"node": "w"}, 1e-06])", "{}", x) +
      node_line("buf", "aten.empty.memory_format", R"([[{"sym": "s0"}, 64]])", R"({"dtype": {"dtype": "bfloat16"}})", x) +
      node_line("af", "higher_order.auto_functionalized", R"([{"op": "_C.rms_norm.default"}])",
                R"({"result": {"node": "buf"}, "input": {"node": "x"}, "weight": {"node": "w"}, "epsilon": 1e-06})", "{}") +
      node_line("v1", "_operator.getitem", R"([{"node": "af"}, 1])", "{}", x) +
      node_line("buf2", "aten.empty_like.default", R"([{"node": "x"}])", "{}", x) +
      node_line("af2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.rms_norm.default"}])",
                R"({"input": {"node": "x"}, "weight": {"node": "w"}, "epsilon": 1e-06, "_result_base_index": 0, "_all_bases": [{"node": "buf2"}]})", "{}") +
      node_line("v2", "_operator.getitem", R"([{"node": "af2"}, 1])", "{}", x) +
      R"(  {"name": "output", "op": "output", "target": "output", "args": [[{"node": "native"}, {"node": "ir"}, {"node": "v1"}, {"node": "v2"}]], "kwargs": {}, "meta": {}})";
  std::string text = "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"symbols\": {\"s0\": {\"hint\": 5, \"min\": 2, \"max\": null}},\n"
                     " \"nodes\": [\n" + nodes + "\n ]\n}\n";
  Graph g = read_graph_text(text, "af.json");
  const SymbolValues s = bind_symbols(g, {});
  const ExecResult r = run_graph(g, s, make_inputs(g, s, 3));
  REQUIRE(r.outputs.size() == 4);
  for (size_t i = 1; i < 4; ++i) {
    CAPTURE(i);
    CHECK(compare_values("o", r.outputs[0], r.outputs[i], {}).ok());
  }
  // An unknown mutating op and a view base are reported with the node.
  std::string bad = text;
  bad.replace(bad.find("_C.rms_norm.default"), 19, "_C.nope.default");
  Graph gb = read_graph_text(bad, "af.json");
  CHECK_THROWS_WITH_AS(run_graph(gb, s, make_inputs(gb, s, 3)),
                       doctest::Contains("node 'af' (higher_order.auto_functionalized): no functional meaning is known for the operator _C.nope.default"),
                       InputError);
  std::string view = text;
  view.replace(view.find("\"_result_base_index\": 0"), 23, "\"_result_base_index\": 0, \"_result_size\": [5, 64]");
  Graph gv = read_graph_text(view, "af.json");
  CHECK_THROWS_WITH_AS(run_graph(gv, s, make_inputs(gv, s, 3)), doctest::Contains("unexpected keyword argument '_result_size'"), InputError);
}

TEST_CASE("executor: flash attention's outputs follow meta.val, uint64 rng_state included") {
  const std::string q = tensor_val("bfloat16", "[1, 2, 4, 8]");
  std::string nodes;
  for (const char* n : {"q", "k", "v"})
    nodes += std::string(R"(  {"name": ")") + n + R"(", "op": "placeholder", "target": ")" + n +
             R"(", "args": [], "kwargs": {}, "meta": )" + q + "},\n";
  const std::string val = R"({"val": [{"dtype": "bfloat16", "shape": [1, 2, 4, 8], "stride": [64, 32, 8, 1], "device": "cuda:0"},
    {"dtype": "float32", "shape": [1, 2, 4], "stride": [8, 4, 1], "device": "cuda:0"}, null, null, null, null,
    {"dtype": "uint64", "shape": [2], "stride": [1], "device": "cuda:0"},
    {"dtype": "uint64", "shape": [], "stride": [], "device": "cuda:0"}, null]})";
  nodes += node_line("fa", "aten._scaled_dot_product_flash_attention.default",
                     R"([{"node": "q"}, {"node": "k"}, {"node": "v"}, 0.0, true])", "{}", val) +
           node_line("o", "_operator.getitem", R"([{"node": "fa"}, 0])", "{}", q) +
           node_line("rng", "_operator.getitem", R"([{"node": "fa"}, 6])", "{}", tensor_val("uint64", "[2]")) +
           R"(  {"name": "output", "op": "output", "target": "output", "args": [[{"node": "o"}, {"node": "rng"}]], "kwargs": {}, "meta": {}})";
  const std::string text = "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"symbols\": {},\n \"nodes\": [\n" + nodes + "\n ]\n}\n";
  Graph g = read_graph_text(text, "flash.json");
  const SymbolValues s = bind_symbols(g, {});
  const ExecResult r = run_graph(g, s, make_inputs(g, s, 1));
  REQUIRE(r.outputs.size() == 2);
  CHECK(r.outputs[0].tensor.dtype() == DType::BF16);
  const Tensor rng = r.outputs[1].tensor;
  CHECK(rng.dtype() == DType::U64);
  CHECK(rng.shape() == Shape{2});
  CHECK(rng.value_at(0) == 0);
  CHECK(rng.value_at(1) == 0);
}
