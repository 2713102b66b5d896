// Unit tests of the vLLM SiLU-and-mul (-> FP8 quant) family's CPU kernels (runtime/cpu/silu_mul_quant.cpp): each
// fused op against vLLM's native chain run node by node by the executor, bit for bit (random rows and inf/NaN/huge/
// tiny/zero rows, both fp8 formats, G = 64 and 128), auto_functionalized v1/v2 forms, and argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"
#include "runtime/numerics.h"
#include "runtime/op_registry.h"
#include "tests/graph_text.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::testing;

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

struct Case {
  int64_t n = 7, h = 256, g = 128;
  const char* fp8 = "float8_e4m3fn";
  float fmax = 448.0f;
};

// x (N, 2H) bf16 and scale (1, 1) float32; vLLM's native chains (spec 9.1, 5.3) beside every fused spelling.
// Outputs in pairs (native, fused): see kPairs.
std::string family_graph(const Case& c) {
  const int64_t n = c.n, h = c.h, g = c.g, k = h / g;
  const std::string fp8 = c.fp8, fmax = num(c.fmax), nfmax = num(-c.fmax);
  const std::string floor = num(1.0 / (static_cast<double>(c.fmax) * 512.0));
  GraphText t;
  t.placeholder("x", "bfloat16", {n, 2 * h});
  t.placeholder("scale", "float32", {1, 1});
  // SiluAndMul.forward_native, post-grad (x/(1+exp(-x)) normalised to aten.silu)
  t.call("s1", "aten.slice.Tensor", "[" + nd("x") + ", 1, 0, " + std::to_string(h) + "]", "{}", tval("bfloat16", {n, h}));
  t.call("c", "prims.convert_element_type.default", "[" + nd("s1") + ", " + dt("float32") + "]", "{}", tval("float32", {n, h}));
  t.call("sl", "aten.silu.default", "[" + nd("c") + "]", "{}", tval("float32", {n, h}));
  t.call("sb", "prims.convert_element_type.default", "[" + nd("sl") + ", " + dt("bfloat16") + "]", "{}", tval("bfloat16", {n, h}));
  t.call("s2", "aten.slice.Tensor", "[" + nd("x") + ", 1, " + std::to_string(h) + ", 9223372036854775807]", "{}",
         tval("bfloat16", {n, h}));
  t.call("y", "aten.mul.Tensor", "[" + nd("sb") + ", " + nd("s2") + "]", "{}", tval("bfloat16", {n, h}));
  // static per-tensor quant (QuantFP8 static: multiply by the reciprocal)
  t.call("cx", "prims.convert_element_type.default", "[" + nd("y") + ", " + dt("float32") + "]", "{}", tval("float32", {n, h}));
  t.call("cs", "prims.convert_element_type.default", "[" + nd("scale") + ", " + dt("float32") + "]", "{}", tval("float32", {1, 1}));
  t.call("ri", "aten.reciprocal.default", "[" + nd("cs") + "]", "{}", tval("float32", {1, 1}));
  t.call("q0", "aten.mul.Tensor", "[" + nd("cx") + ", " + nd("ri") + "]", "{}", tval("float32", {n, h}));
  t.call("q1", "aten.clamp_min.default", "[" + nd("q0") + ", " + nfmax + "]", "{}", tval("float32", {n, h}));
  t.call("q2", "aten.clamp_max.default", "[" + nd("q1") + ", " + fmax + "]", "{}", tval("float32", {n, h}));
  t.call("qs", "prims.convert_element_type.default", "[" + nd("q2") + ", " + dt(fp8) + "]", "{}", tval(fp8, {n, h}));
  // dynamic per-group quant (_quantize_group_native: divide by the scale)
  const std::string rs = "[" + std::to_string(n) + ", " + std::to_string(k) + ", " + std::to_string(g) + "]";
  t.call("r", "aten.reshape.default", "[" + nd("y") + ", " + rs + "]", "{}", tval("bfloat16", {n, k, g}));
  t.call("ab", "aten.abs.default", "[" + nd("r") + "]", "{}", tval("bfloat16", {n, k, g}));
  t.call("am", "aten.amax.default", "[" + nd("ab") + ", [-1], true]", "{}", tval("bfloat16", {n, k, 1}));
  t.call("af", "prims.convert_element_type.default", "[" + nd("am") + ", " + dt("float32") + "]", "{}", tval("float32", {n, k, 1}));
  t.call("d", "aten.div.Tensor", "[" + nd("af") + ", " + fmax + "]", "{}", tval("float32", {n, k, 1}));
  t.call("sc", "aten.clamp_min.default", "[" + nd("d") + ", " + floor + "]", "{}", tval("float32", {n, k, 1}));
  t.call("qd", "aten.div.Tensor", "[" + nd("r") + ", " + nd("sc") + "]", "{}", tval("float32", {n, k, g}));
  t.call("qc", "aten.clamp.default", "[" + nd("qd") + ", " + nfmax + ", " + fmax + "]", "{}", tval("float32", {n, k, g}));
  t.call("q8", "prims.convert_element_type.default", "[" + nd("qc") + ", " + dt(fp8) + "]", "{}", tval(fp8, {n, k, g}));
  t.call("qg", "aten.reshape.default", "[" + nd("q8") + ", [" + std::to_string(n) + ", " + std::to_string(h) + "]]", "{}",
         tval(fp8, {n, h}));
  t.call("sg", "aten.squeeze.dim", "[" + nd("sc") + ", -1]", "{}", tval("float32", {n, k}));
  // the fused spellings: _C ops in auto_functionalized v1 / v2 form, and the AITER op
  const std::string nh = "[" + std::to_string(n) + ", " + std::to_string(h) + "]";
  const std::string nk = "[" + std::to_string(n) + ", " + std::to_string(k) + "]";
  const std::string kn = "[" + std::to_string(k) + ", " + std::to_string(n) + "]";
  auto empty = [&](const std::string& name, const std::string& shape, const std::string& dtype, const Shape& s) {
    t.call(name, "aten.empty.memory_format", "[" + shape + "]", R"({"dtype": )" + dt(dtype) + "}", tval(dtype, s));
  };
  empty("by", nh, "bfloat16", {n, h});
  t.call("af_y", "higher_order.auto_functionalized", R"([{"op": "_C.silu_and_mul.default"}])",
         R"({"result": )" + nd("by") + R"(, "input": )" + nd("x") + "}", "");
  t.call("y_v1", "_operator.getitem", "[" + nd("af_y") + ", 1]", "{}", tval("bfloat16", {n, h}));
  empty("by2", nh, "bfloat16", {n, h});
  t.call("af_y2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.silu_and_mul.default"}])",
         R"({"input": )" + nd("x") + R"(, "_result_base_index": 0, "_all_bases": [)" + nd("by2") + "]}", "");
  t.call("y_v2", "_operator.getitem", "[" + nd("af_y2") + ", 1]", "{}", tval("bfloat16", {n, h}));
  empty("bq", nh, fp8, {n, h});
  t.call("af_s", "higher_order.auto_functionalized", R"([{"op": "_C.silu_and_mul_quant.default"}])",
         R"({"result": )" + nd("bq") + R"(, "input": )" + nd("x") + R"(, "scale": )" + nd("scale") + "}", "");
  t.call("qs_v1", "_operator.getitem", "[" + nd("af_s") + ", 1]", "{}", tval(fp8, {n, h}));
  empty("bq2", nh, fp8, {n, h});
  t.call("af_s2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.silu_and_mul_quant.default"}])",
         R"({"input": )" + nd("x") + R"(, "scale": )" + nd("scale") + R"(, "_result_base_index": 0, "_all_bases": [)" +
             nd("bq2") + "]}",
         "");
  t.call("qs_v2", "_operator.getitem", "[" + nd("af_s2") + ", 1]", "{}", tval(fp8, {n, h}));
  const std::string gs = std::to_string(g);
  empty("bo", nh, fp8, {n, h});
  empty("bs", nk, "float32", {n, k});
  t.call("af_g", "higher_order.auto_functionalized", R"([{"op": "_C.silu_and_mul_per_block_quant.default"}])",
         R"({"out": )" + nd("bo") + R"(, "input": )" + nd("x") + R"(, "scales": )" + nd("bs") + R"(, "group_size": )" + gs +
             R"(, "scale_ub": null, "is_scale_transposed": false})",
         "");
  t.call("qg_v1", "_operator.getitem", "[" + nd("af_g") + ", 1]", "{}", tval(fp8, {n, h}));
  t.call("sg_v1", "_operator.getitem", "[" + nd("af_g") + ", 2]", "{}", tval("float32", {n, k}));
  // the transposed scale layout: empty((d/gs, M)).permute(-1, -2)
  empty("bo3", nh, fp8, {n, h});
  empty("bst", kn, "float32", {k, n});
  t.call("bsp", "aten.permute.default", "[" + nd("bst") + ", [1, 0]]", "{}", tval("float32", {n, k}));
  t.call("af_gt", "higher_order.auto_functionalized", R"([{"op": "_C.silu_and_mul_per_block_quant.default"}])",
         R"({"out": )" + nd("bo3") + R"(, "input": )" + nd("x") + R"(, "scales": )" + nd("bsp") + R"(, "group_size": )" + gs +
             R"(, "is_scale_transposed": true})",
         "");
  t.call("qg_t", "_operator.getitem", "[" + nd("af_gt") + ", 1]", "{}", tval(fp8, {n, h}));
  t.call("sg_t", "_operator.getitem", "[" + nd("af_gt") + ", 2]", "{}", tval("float32", {n, k}));
  empty("bo2", nh, fp8, {n, h});
  empty("bs2", nk, "float32", {n, k});
  t.call("af_g2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.silu_and_mul_per_block_quant.default"}])",
         R"({"input": )" + nd("x") + R"(, "group_size": )" + gs +
             R"(, "scale_ub": null, "is_scale_transposed": false, "_out_base_index": 0, "_scales_base_index": 1, "_all_bases": [)" +
             nd("bo2") + ", " + nd("bs2") + "]}",
         "");
  t.call("qg_v2", "_operator.getitem", "[" + nd("af_g2") + ", 1]", "{}", tval(fp8, {n, h}));
  t.call("sg_v2", "_operator.getitem", "[" + nd("af_g2") + ", 2]", "{}", tval("float32", {n, k}));
  t.call("ai", "vllm.rocm_aiter_act_mul_and_fp8_group_quant.default", "[" + nd("x") + ", " + gs + "]", "{}",
         "[" + tval(fp8, {n, h}) + ", " + tval("float32", {n, k}) + "]");
  t.call("qg_ai", "_operator.getitem", "[" + nd("ai") + ", 0]", "{}", tval(fp8, {n, h}));
  t.call("sg_ai", "_operator.getitem", "[" + nd("ai") + ", 1]", "{}", tval("float32", {n, k}));
  return t.text({"y", "y_v1", "y", "y_v2", "qs", "qs_v1", "qs", "qs_v2", "qg", "qg_v1", "sg", "sg_v1", "qg", "qg_t", "sg",
                 "sg_t", "qg", "qg_v2", "sg", "sg_v2", "qg", "qg_ai", "sg", "sg_ai"});
}

void set_bf16(Tensor& x, int64_t row, int64_t col, double v) {
  store_elem<double>(DType::BF16, x.raw() + (row * x.shape()[1] + col) * 2, v);
}

// Random rows (in (-2, 2)) with special rows: zeros, inf/NaN mixes, huge, tiny (bf16 subnormals), saturating, and
// one where dividing by the scale and multiplying by its reciprocal differ. Needs N >= 7.
Tensor special_input(const Case& c, uint64_t seed) {
  Tensor x = random_tensor(DType::BF16, {c.n, 2 * c.h}, seed, "x");
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t w = 2 * c.h;
  for (int64_t j = 0; j < w; ++j) set_bf16(x, 0, j, 0.0);
  const double specials[] = {inf, -inf, nan, 1.0, -0.0, 3.0e38, -3.0e38, 1e-40};
  for (int64_t j = 0; j < w; ++j) set_bf16(x, 1, j, specials[j % 8]);
  for (int64_t j = 0; j < w; ++j) set_bf16(x, 2, j, (j % 3 == 0 ? -1.0 : 1.0) * 1.0e30 * (1 + j % 5));
  for (int64_t j = 0; j < w; ++j) set_bf16(x, 3, j, (j % 2 ? -1.0 : 1.0) * 1.0e-39 * (1 + j % 7));
  for (int64_t j = 0; j < w; ++j) set_bf16(x, 4, j, 20.0 + j % 11);  // one large group: clamps at FMAX
  set_bf16(x, 5, c.h + 3, nan);                                      // one NaN in the up half
  // y = silu(16) * u = 16 * u exactly; per group amax 1.078125 and values where q = y / s (group quant) and
  // q = y * (1 / s) (static) give different e4m3fn codes: the group kernels must divide.
  const double ys[] = {0x1.9ep-7, 0x1.9ep-6, 0x1.9ep-5, 0x1.9ep-4, 0x1.9ep-3};
  for (int64_t j = 0; j < c.h; ++j) {
    set_bf16(x, 6, j, 16.0);
    set_bf16(x, 6, c.h + j, (j % c.g == 0 ? 1.078125 : ys[j % 5]) / 16.0);
  }
  return x;
}

}  // namespace

TEST_CASE("silu_mul_quant: silu_mul_bf16 rounds silu to bf16 before the bf16 x bf16 multiply") {
  using namespace fxopt::num;
  // silu(1) = 0.7310586 -> bf16 0.73046875; * 3 = 2.19140625 -> bf16 2.1875 (one rounding of the float product;
  // without the first rounding: 2.1931758 -> bf16 2.1875 too, so check a value where the orders differ as well).
  CHECK(bf16_to_f32(silu_mul_bf16(f32_to_bf16(1.0f), f32_to_bf16(3.0f))) == 2.1875f);
  float differ = 0.0f;
  for (int i = 1; i < 4000 && differ == 0.0f; ++i) {
    const uint16_t g = f32_to_bf16(static_cast<float>(i) / 1000.0f), u = f32_to_bf16(1.0f + static_cast<float>(i) / 997.0f);
    const uint16_t once = f32_to_bf16(fx_silu(bf16_to_f32(g)) * bf16_to_f32(u));
    if (once != silu_mul_bf16(g, u)) differ = bf16_to_f32(g);
  }
  CHECK(differ != 0.0f);  // the double rounding is observable: the reference must keep it
  CHECK(silu_mul_bf16(f32_to_bf16(0.0f), f32_to_bf16(5.0f)) == 0);
}

TEST_CASE("silu_mul_quant: every fused spelling equals vLLM's native chain bit for bit") {
  const std::vector<Case> cases = {
      {7, 256, 128, "float8_e4m3fn", 448.0f},
      {7, 256, 64, "float8_e4m3fn", 448.0f},
      {7, 256, 128, "float8_e4m3fnuz", 224.0f},
      {7, 256, 64, "float8_e4m3fnuz", 224.0f},
      {7, 64, 64, "float8_e4m3fn", 448.0f},  // one group per row
  };
  for (const Case& c : cases) {
    CAPTURE(c.fp8);
    CAPTURE(c.g);
    CAPTURE(c.h);
    const Graph g = read_graph_text(family_graph(c), "silu_mul.json");
    const SymbolValues s = bind_symbols(g, {});
    for (const float scale : {0.01f, 0.002f, 3.0f}) {
      for (const bool special : {false, true}) {
        CAPTURE(scale);
        CAPTURE(special);
        TensorMap given{{"scale", Tensor::empty(DType::F32, {1, 1})}};
        given.at("scale").data<float>()[0] = scale;
        if (special) given.emplace("x", special_input(c, 11));
        const ExecResult r = run_graph(g, s, make_inputs(g, s, 5, given));
        REQUIRE(r.outputs.size() == 24);
        for (size_t i = 0; i < r.outputs.size(); i += 2)
          check_same_bits(r.output_names[i] + " vs " + r.output_names[i + 1], r.outputs[i], r.outputs[i + 1]);
        // The comparison has something to compare: many distinct fp8 codes, finite positive scales.
        std::set<double> codes;
        for (const Value& q : {r.outputs[4], r.outputs[8]})
          for (int64_t k = 0; k < q.tensor.numel(); ++k) codes.insert(q.tensor.value_at(k));
        CHECK(codes.size() > 30);
        CHECK(r.outputs[10].tensor.value_at(special ? 6 * (c.h / c.g) : 0) > 0.0);
      }
    }
  }
}

TEST_CASE("silu_mul_quant: N-d inputs are rows of the last dimension") {
  Case c;
  c.n = 6;
  c.h = 128;
  c.g = 64;
  const Tensor x = random_tensor(DType::BF16, {c.n, 2 * c.h}, 9, "x");
  GraphText t;
  t.placeholder("x", "bfloat16", {2, 3, 2 * c.h});
  t.call("ai", "vllm.rocm_aiter_act_mul_and_fp8_group_quant.default", "[" + nd("x") + ", 64]", "{}",
         "[" + tval("float8_e4m3fn", {2, 3, 128}) + ", " + tval("float32", {2, 3, 2}) + "]");
  t.call("q", "_operator.getitem", "[" + nd("ai") + ", 0]", "{}", tval("float8_e4m3fn", {2, 3, 128}));
  t.call("s", "_operator.getitem", "[" + nd("ai") + ", 1]", "{}", tval("float32", {2, 3, 2}));
  t.call("by", "aten.empty.memory_format", "[[6, 128]]", R"({"dtype": )" + dt("bfloat16") + "}", tval("bfloat16", {6, 128}));
  t.call("af", "higher_order.auto_functionalized", R"([{"op": "_C.silu_and_mul.default"}])",
         R"({"result": )" + nd("by") + R"(, "input": )" + nd("x") + "}", "");
  t.call("y", "_operator.getitem", "[" + nd("af") + ", 1]", "{}", tval("bfloat16", {6, 128}));
  const Graph g3 = read_graph_text(t.text({"q", "s", "y"}), "nd.json");
  const Graph g2 = read_graph_text(family_graph(c), "2d.json");
  const SymbolValues s;
  const Tensor x3 = Tensor::from_storage(x.storage(), DType::BF16, {2, 3, 2 * c.h});
  const ExecResult r3 = run_graph(g3, s, make_inputs(g3, s, 0, {{"x", x3}}));
  const ExecResult r2 = run_graph(g2, s, make_inputs(g2, s, 0, {{"x", x}}));
  REQUIRE(r3.outputs.size() == 3);
  auto as2d = [](const Value& v, Shape shape) { return Value::of(Tensor::from_storage(v.tensor.contiguous().storage(), v.tensor.dtype(), shape)); };
  CHECK(r3.outputs[0].tensor.shape() == Shape{2, 3, 128});
  CHECK(r3.outputs[1].tensor.shape() == Shape{2, 3, 2});
  check_same_bits("q", r2.outputs[16], as2d(r3.outputs[0], {6, 128}));   // native group q
  check_same_bits("s", r2.outputs[18], as2d(r3.outputs[1], {6, 2}));     // native group scales
  check_same_bits("y", r2.outputs[0], r3.outputs[2]);                    // a (6, 128) result buffer for a 3-d input
}

namespace {
// One auto_functionalized (v1) node of `op` on x (`x_dtype`, `x_shape`) with `kwargs` (x as "input" added), its
// buffers declared as placeholders; returns the error text of running it ("" when it runs).
std::string af_error(const std::string& op, const std::string& x_dtype, const Shape& x_shape,
                     const std::vector<std::tuple<std::string, std::string, Shape>>& buffers, const std::string& kwargs) {
  GraphText t;
  t.placeholder("x", x_dtype, x_shape);
  std::string kw = R"({"input": )" + nd("x");
  for (const auto& [name, dtype, shape] : buffers) {
    t.placeholder(name, dtype, shape);
    kw += R"(, ")" + name + R"(": )" + nd(name);
  }
  kw += kwargs + "}";
  t.call("af", "higher_order.auto_functionalized", R"([{"op": ")" + op + R"("}])", kw, "");
  t.call("o", "_operator.getitem", "[" + nd("af") + ", 1]", "{}", "");
  return run_error(t, "o");
}
std::string aiter_error(const std::string& x_dtype, const Shape& x_shape, int64_t group, const std::string& q_dtype) {
  GraphText t;
  t.placeholder("x", x_dtype, x_shape);
  Shape qs = x_shape;
  qs.back() /= 2;
  Shape ss = qs;
  ss.back() = group > 0 && qs.back() % group == 0 ? qs.back() / group : 1;
  t.call("ai", "vllm.rocm_aiter_act_mul_and_fp8_group_quant.default", "[" + nd("x") + ", " + std::to_string(group) + "]",
         "{}", "[" + tval(q_dtype, qs) + ", " + tval("float32", ss) + "]");
  t.call("o", "_operator.getitem", "[" + nd("ai") + ", 0]", "{}", "");
  return run_error(t, "o");
}
}  // namespace

TEST_CASE("silu_mul_quant: bad arguments are input errors naming the node") {
  const std::string af = "node 'af' (higher_order.auto_functionalized): ";
  const std::string ai = "node 'ai' (vllm.rocm_aiter_act_mul_and_fp8_group_quant.default): ";
  using B = std::tuple<std::string, std::string, Shape>;
  // the good calls run (so the errors below come from the one thing changed)
  CHECK(af_error("_C.silu_and_mul.default", "bfloat16", {4, 256}, {B{"result", "bfloat16", {4, 128}}}, "") == "");
  CHECK(af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256},
                 {B{"result", "float8_e4m3fn", {4, 128}}, B{"scale", "float32", {1, 1}}}, "") == "");
  CHECK(af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                 {B{"out", "float8_e4m3fnuz", {4, 128}}, B{"scales", "float32", {4, 2}}}, R"(, "group_size": 64)") == "");
  CHECK(aiter_error("bfloat16", {4, 256}, 128, "float8_e4m3fn") == "");
  struct Bad {
    std::string got, want;
  };
  const Bad bad[] = {
      // odd / empty last dimension
      {af_error("_C.silu_and_mul.default", "bfloat16", {4, 257}, {B{"result", "bfloat16", {4, 128}}}, ""),
       af + "the last dimension of 'input' [4, 257] must be even and positive (the gate half, then the up half)"},
      {af_error("_C.silu_and_mul.default", "bfloat16", {4, 0}, {B{"result", "bfloat16", {4, 0}}}, ""),
       af + "the last dimension of 'input' [4, 0] must be even and positive"},
      {aiter_error("bfloat16", {4, 129}, 64, "float8_e4m3fn"), ai + "the last dimension of 'x' [4, 129] must be even"},
      // group size
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 192},
                {B{"out", "float8_e4m3fn", {4, 96}}, B{"scales", "float32", {4, 1}}}, R"(, "group_size": 64)"),
       af + "group_size 64 does not divide the output's last dimension 96 (half the input's)"},
      {aiter_error("bfloat16", {4, 256}, 0, "float8_e4m3fn"), ai + "group_size 0 does not divide the output's last dimension 128"},
      // dtypes
      {af_error("_C.silu_and_mul.default", "float32", {4, 256}, {B{"result", "float32", {4, 128}}}, ""),
       af + "argument 'input' must be bfloat16, got float32"},
      {af_error("_C.silu_and_mul.default", "bfloat16", {4, 256}, {B{"result", "float32", {4, 128}}}, ""),
       af + "the buffer 'result' must have the input's dtype bfloat16, got float32"},
      {af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256},
                {B{"result", "bfloat16", {4, 128}}, B{"scale", "float32", {1, 1}}}, ""),
       af + "the buffer 'result' must be float8_e4m3fn or float8_e4m3fnuz, got bfloat16"},
      {af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256},
                {B{"result", "float8_e4m3fn", {4, 128}}, B{"scale", "bfloat16", {1}}}, ""),
       af + "argument 'scale' must be a float32 tensor with one value"},
      {af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256},
                {B{"result", "float8_e4m3fn", {4, 128}}, B{"scale", "float32", {2}}}, ""),
       af + "argument 'scale' must be a float32 tensor with one value"},
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                {B{"out", "float8_e5m2", {4, 128}}, B{"scales", "float32", {4, 2}}}, R"(, "group_size": 64)"),
       af + "the buffer 'out' must be float8_e4m3fn or float8_e4m3fnuz, got float8_e5m2"},
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                {B{"out", "float8_e4m3fn", {4, 128}}, B{"scales", "bfloat16", {4, 2}}}, R"(, "group_size": 64)"),
       af + "the buffer 'scales' must be float32, got bfloat16"},
      {aiter_error("float16", {4, 256}, 64, "float8_e4m3fn"), ai + "argument 'x' must be bfloat16, got float16"},
      {aiter_error("bfloat16", {4, 256}, 64, "bfloat16"), ai + "the quantised output must be float8_e4m3fn or float8_e4m3fnuz"},
      // scale_ub
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                {B{"out", "float8_e4m3fn", {4, 128}}, B{"scales", "float32", {4, 2}}, B{"scale_ub", "float32", {1}}},
                R"(, "group_size": 64)"),
       af + "scale_ub is not supported with group quantisation"},
      // buffer sizes
      {af_error("_C.silu_and_mul.default", "bfloat16", {4, 256}, {B{"result", "bfloat16", {4, 256}}}, ""),
       af + "the buffer 'result' [4, 256] holds 1024 values, the op writes 512"},
      {af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256},
                {B{"result", "float8_e4m3fn", {2, 128}}, B{"scale", "float32", {1, 1}}}, ""),
       af + "the buffer 'result' [2, 128] holds 256 values, the op writes 512"},
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                {B{"out", "float8_e4m3fn", {4, 128}}, B{"scales", "float32", {4, 1}}}, R"(, "group_size": 64)"),
       af + "the buffer 'scales' [4, 1] holds 4 values, the op writes 8"},
      // missing arguments, unknown keywords
      {af_error("_C.silu_and_mul_per_block_quant.default", "bfloat16", {4, 256},
                {B{"out", "float8_e4m3fn", {4, 128}}, B{"scales", "float32", {4, 2}}}, ""),
       af + "missing argument 'group_size'"},
      {af_error("_C.silu_and_mul_quant.default", "bfloat16", {4, 256}, {B{"result", "float8_e4m3fn", {4, 128}}}, ""),
       af + "missing argument 'scale'"},
      {af_error("_C.silu_and_mul.default", "bfloat16", {4, 256}, {B{"result", "bfloat16", {4, 128}}}, R"(, "weight": 1.0)"),
       af + "'weight' is not an argument of _C.silu_and_mul.default"},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.got);
    CHECK(b.got.find(b.want) != std::string::npos);
  }
}

TEST_CASE("auto_functionalized: nodes of the CPU-only mutating ops (SiLU-and-mul, QK-norm + RoPE) stay on the CPU on a GPU run") {
  // The auto_functionalized rows' gpu_when: true only for mutating ops with a GPU form (MutatingOp::gpu).
  for (const char* target : {"higher_order.auto_functionalized", "higher_order.auto_functionalized_v2"}) {
    CAPTURE(target);
    const OpEntry* e = find_op(target);
    REQUIRE(e != nullptr);
    REQUIRE(static_cast<bool>(e->row->gpu_when));
    const Node node;
    auto on_gpu = [&](const char* op) {
      Value v;
      v.kind = Value::Kind::Opaque;
      v.s = op;
      return e->row->gpu_when(decode_args(e->schema, node, KernelArgs{{v}, {}}));
    };
    CHECK(on_gpu("_C.rms_norm.default"));
    CHECK(on_gpu("_C.rms_norm_per_block_quant.default"));
    CHECK_FALSE(on_gpu("_C.silu_and_mul.default"));
    CHECK_FALSE(on_gpu("_C.silu_and_mul_quant.default"));
    CHECK_FALSE(on_gpu("_C.silu_and_mul_per_block_quant.default"));
    CHECK_FALSE(on_gpu("_C.rotary_embedding.default"));
    CHECK_FALSE(on_gpu("_C.fused_qk_norm_rope.default"));
    CHECK_FALSE(on_gpu("_C.nope.default"));  // unknown: the CPU reports it
  }
  // The functional AITER op has no GPU compute.
  const OpEntry* ai = find_op("vllm.rocm_aiter_act_mul_and_fp8_group_quant.default");
  REQUIRE(ai != nullptr);
  CHECK_FALSE(static_cast<bool>(ai->row->gpu));
}
