// Unit tests of the vLLM QK-norm + RoPE family's CPU kernels (runtime/cpu/qk_norm_rope.cpp): _C.rotary_embedding
// against vLLM's native RoPE chain and _C.fused_qk_norm_rope against the unfused chain (native per-head RMSNorm, then
// _C.rotary_embedding or the native RoPE), run node by node by the executor, bit for bit; argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

#include "core/fxgraph/fxgraph_io.h"
#include "core/ir/error.h"
#include "runtime/executor.h"
#include "runtime/numerics.h"
#include "runtime/op_registry.h"
#include "tests/graph_text.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::testing;

namespace {

std::string str(int64_t v) { return std::to_string(v); }
const std::string kEnd = "9223372036854775807";

// RotaryEmbedding.forward_static + ApplyRotaryEmb.forward_static (spec 5.6) on node `x` (T, H*D) bf16, node names
// prefixed by `p`; the cos/sin halves come from the node `cs` (index_select(cache, 0, positions)). Returns the
// output node, (T, H*D). The ops (post-grad spellings): view, slice (step 2 for gptj), split.Tensor + getitem (the
// chunks), unsqueeze, convert_element_type (a float32 cache), mul/sub/add, cat (neox), stack + view (gptj's flatten).
std::string native_rope(GraphText& t, const std::string& p, const std::string& x, const std::string& cs, int64_t T,
                        int64_t H, int64_t D, int64_t rot, bool neox, bool f32_cache) {
  const int64_t half = rot / 2;
  t.call(p + "v", "aten.view.default", args({nd(x), shape_json({T, H, D})}));
  t.call(p + "rot", "aten.slice.Tensor", args({nd(p + "v"), "2", "0", str(rot)}));
  t.call(p + "pass", "aten.slice.Tensor", args({nd(p + "v"), "2", str(rot), kEnd}));
  t.call(p + "csp", "aten.split.Tensor", args({nd(cs), str(half), "-1"}));
  t.call(p + "cos0", "_operator.getitem", args({nd(p + "csp"), "0"}));
  t.call(p + "sin0", "_operator.getitem", args({nd(p + "csp"), "1"}));
  t.call(p + "cos1", "aten.unsqueeze.default", args({nd(p + "cos0"), "-2"}));
  t.call(p + "sin1", "aten.unsqueeze.default", args({nd(p + "sin0"), "-2"}));
  std::string cos = p + "cos1", sin = p + "sin1";
  if (f32_cache) {
    t.call(p + "cos", "prims.convert_element_type.default", args({nd(cos), dt("bfloat16")}));
    t.call(p + "sin", "prims.convert_element_type.default", args({nd(sin), dt("bfloat16")}));
    cos = p + "cos", sin = p + "sin";
  }
  if (neox) {
    t.call(p + "xs", "aten.split.Tensor", args({nd(p + "rot"), str(half), "-1"}));
    t.call(p + "x1", "_operator.getitem", args({nd(p + "xs"), "0"}));
    t.call(p + "x2", "_operator.getitem", args({nd(p + "xs"), "1"}));
  } else {
    t.call(p + "x1", "aten.slice.Tensor", args({nd(p + "rot"), "2", "0", kEnd, "2"}));
    t.call(p + "x2", "aten.slice.Tensor", args({nd(p + "rot"), "2", "1", kEnd, "2"}));
  }
  t.call(p + "m1", "aten.mul.Tensor", args({nd(p + "x1"), nd(cos)}));
  t.call(p + "m2", "aten.mul.Tensor", args({nd(p + "x2"), nd(sin)}));
  t.call(p + "o1", "aten.sub.Tensor", args({nd(p + "m1"), nd(p + "m2")}));
  t.call(p + "m3", "aten.mul.Tensor", args({nd(p + "x2"), nd(cos)}));
  t.call(p + "m4", "aten.mul.Tensor", args({nd(p + "x1"), nd(sin)}));
  t.call(p + "o2", "aten.add.Tensor", args({nd(p + "m3"), nd(p + "m4")}));
  if (neox) {
    t.call(p + "r", "aten.cat.default", args({args({nd(p + "o1"), nd(p + "o2")}), "-1"}));
  } else {
    t.call(p + "st", "aten.stack.default", args({args({nd(p + "o1"), nd(p + "o2")}), "-1"}));
    t.call(p + "r", "aten.view.default", args({nd(p + "st"), shape_json({T, H, rot})}));
  }
  t.call(p + "cat", "aten.cat.default", args({args({nd(p + "r"), nd(p + "pass")}), "-1"}));
  t.call(p + "out", "aten.view.default", args({nd(p + "cat"), shape_json({T, H * D})}));
  return p + "out";
}

// RMSNorm.forward_static (no residual) over the heads of node `x` (T, H*D) bf16 with weight node `w`; returns the
// output node (T, H*D).
std::string native_head_norm(GraphText& t, const std::string& p, const std::string& x, const std::string& w, int64_t T,
                             int64_t H, int64_t D, const std::string& eps) {
  t.call(p + "h", "aten.view.default", args({nd(x), shape_json({T, H, D})}));
  t.call(p + "f", "prims.convert_element_type.default", args({nd(p + "h"), dt("float32")}));
  t.call(p + "sq", "aten.pow.Tensor_Scalar", args({nd(p + "f"), "2"}));
  t.call(p + "mean", "aten.mean.dim", args({nd(p + "sq"), "[-1]", "true"}));
  t.call(p + "add", "aten.add.Tensor", args({nd(p + "mean"), eps}));
  t.call(p + "rs", "aten.rsqrt.default", args({nd(p + "add")}));
  t.call(p + "mul", "aten.mul.Tensor", args({nd(p + "f"), nd(p + "rs")}));
  t.call(p + "b", "prims.convert_element_type.default", args({nd(p + "mul"), dt("bfloat16")}));
  t.call(p + "y", "aten.mul.Tensor", args({nd(p + "b"), nd(w)}));
  t.call(p + "out", "aten.view.default", args({nd(p + "y"), shape_json({T, H * D})}));
  return p + "out";
}

struct RopeCase {
  int64_t t = 7, hq = 4, hk = 2, d = 64, rot = 64, rows = 16;
  bool neox = true, f32_cache = false;
};

// positions (T,) int64, q (T, Hq*D), k (T, Hk*D) bf16, cache (P, rot); outputs in pairs (native, fused): q and k of
// the native chain against AF v1, AF v2, and q of AF v1 with key=None.
std::string rope_graph(const RopeCase& c) {
  GraphText t;
  const std::string cd = c.f32_cache ? "float32" : "bfloat16";
  t.placeholder("positions", "int64", {c.t});
  t.placeholder("q", "bfloat16", {c.t, c.hq * c.d});
  t.placeholder("k", "bfloat16", {c.t, c.hk * c.d});
  t.placeholder("cache", cd, {c.rows, c.rot});
  t.call("cs", "aten.index_select.default", args({nd("cache"), "0", nd("positions")}));
  const std::string nq = native_rope(t, "q_", "q", "cs", c.t, c.hq, c.d, c.rot, c.neox, c.f32_cache);
  const std::string nk = native_rope(t, "k_", "k", "cs", c.t, c.hk, c.d, c.rot, c.neox, c.f32_cache);
  const std::string common = R"("positions": )" + nd("positions") + R"(, "head_size": )" + str(c.d) +
                             R"(, "cos_sin_cache": )" + nd("cache") + R"(, "is_neox": )" + (c.neox ? "true" : "false");
  t.call("af1", "higher_order.auto_functionalized", R"([{"op": "_C.rotary_embedding.default"}])",
         "{" + common + R"(, "query": )" + nd("q") + R"(, "key": )" + nd("k") + "}");
  t.call("q_v1", "_operator.getitem", args({nd("af1"), "1"}));
  t.call("k_v1", "_operator.getitem", args({nd("af1"), "2"}));
  t.call("af2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.rotary_embedding.default"}])",
         "{" + common + R"(, "rope_dim_offset": 0, "inverse": false, "_query_base_index": 0, "_key_base_index": 1, )" +
             R"("_all_bases": [)" + nd("q") + ", " + nd("k") + "]}");
  t.call("q_v2", "_operator.getitem", args({nd("af2"), "1"}));
  t.call("k_v2", "_operator.getitem", args({nd("af2"), "2"}));
  t.call("af3", "higher_order.auto_functionalized", R"([{"op": "_C.rotary_embedding.default"}])",
         "{" + common + R"(, "query": )" + nd("q") + R"(, "key": null})");
  t.call("q_nokey", "_operator.getitem", args({nd("af3"), "1"}));
  return t.text({nq, "q_v1", nk, "k_v1", nq, "q_v2", nk, "k_v2", nq, "q_nokey"});
}

// Positions 0, P-1 and values in between.
Tensor positions(int64_t t, int64_t rows) {
  Tensor p = Tensor::empty(DType::I64, {t});
  for (int64_t i = 0; i < t; ++i) p.data<int64_t>()[i] = i == 0 ? rows - 1 : i == 1 ? 0 : (i * 5 + 3) % rows;
  return p;
}

void set_bf16(Tensor& x, int64_t i, double v) { store_elem<double>(DType::BF16, x.raw() + i * 2, v); }

// Special heads in a (T, W) bf16 tensor: a zero head, an inf/NaN head, a huge and a tiny head (T >= 2).
void add_special_heads(Tensor& x, int64_t d) {
  const int64_t w = x.shape()[1];
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const double specials[] = {inf, -inf, nan, 1.0, -0.0, 3.0e38, -3.0e38, 1e-40};
  for (int64_t j = 0; j < d; ++j) set_bf16(x, j, 0.0);                           // token 0, head 0
  for (int64_t j = 0; j < d; ++j) set_bf16(x, d + j, specials[j % 8]);           // token 0, head 1
  for (int64_t j = 0; j < d; ++j) set_bf16(x, w + j, 1.0e30 * (1 + j % 5));      // token 1, head 0
  for (int64_t j = 0; j < d; ++j) set_bf16(x, w + d + j, 1.0e-39 * (1 + j % 7));  // token 1, head 1
  set_bf16(x, w - 1, nan);                                                       // the last value of token 0
}

}  // namespace

TEST_CASE("qk_norm_rope: rope_pair_bf16 rounds each product and the difference to bf16") {
  using namespace fxopt::num;
  const uint16_t x1 = f32_to_bf16(1.5f), x2 = f32_to_bf16(0.75f), c = f32_to_bf16(0.5f), s = f32_to_bf16(0.25f);
  uint16_t o1 = 0, o2 = 0;
  rope_pair_bf16(x1, x2, c, s, &o1, &o2);
  CHECK(bf16_to_f32(o1) == 0.5625f);  // 1.5*0.5 - 0.75*0.25, exact
  CHECK(bf16_to_f32(o2) == 0.75f);    // 0.75*0.5 + 1.5*0.25
  // Values where one rounding of the float32 expression differs from the eager chain: the reference keeps the chain.
  int differ = 0;
  for (int i = 1; i < 3000; ++i) {
    const uint16_t a = f32_to_bf16(1.0f + static_cast<float>(i) / 1013.0f), b = f32_to_bf16(static_cast<float>(i) / 997.0f);
    const uint16_t cc = f32_to_bf16(0.7f), ss = f32_to_bf16(0.3f);
    const float fa = bf16_to_f32(a), fb = bf16_to_f32(b), fc = bf16_to_f32(cc), fs = bf16_to_f32(ss);
    rope_pair_bf16(a, b, cc, ss, &o1, &o2);
    if (o1 != f32_to_bf16(fa * fc - fb * fs)) ++differ;
    CHECK(o1 == f32_to_bf16(bf16_to_f32(f32_to_bf16(fa * fc)) - bf16_to_f32(f32_to_bf16(fb * fs))));
    CHECK(o2 == f32_to_bf16(bf16_to_f32(f32_to_bf16(fb * fc)) + bf16_to_f32(f32_to_bf16(fa * fs))));
  }
  CHECK(differ > 0);
}

TEST_CASE("qk_norm_rope: _C.rotary_embedding equals vLLM's native RoPE chain bit for bit") {
  std::vector<RopeCase> cases;
  for (const bool neox : {true, false})
    for (const bool f32 : {false, true})
      for (const int64_t t : {1, 7})
        for (const int64_t rot : {64, 32}) {  // full and partial rotary
          RopeCase c;
          c.t = t, c.rot = rot, c.neox = neox, c.f32_cache = f32;
          cases.push_back(c);
        }
  RopeCase small;  // head_size 16, rot 8, one head each
  small.hq = 1, small.hk = 1, small.d = 16, small.rot = 8, small.neox = false;
  cases.push_back(small);
  for (const RopeCase& c : cases) {
    CAPTURE(c.neox);
    CAPTURE(c.f32_cache);
    CAPTURE(c.t);
    CAPTURE(c.rot);
    CAPTURE(c.d);
    const Graph g = read_graph_text(rope_graph(c), "rope.json");
    const SymbolValues s;
    for (const bool special : {false, true}) {
      if (special && c.t < 2) continue;
      CAPTURE(special);
      TensorMap given{{"positions", positions(c.t, c.rows)}};
      if (special) {
        Tensor q = random_tensor(DType::BF16, {c.t, c.hq * c.d}, 3, "q");
        add_special_heads(q, c.d);
        given.emplace("q", q);
      }
      const ExecResult r = run_graph(g, s, make_inputs(g, s, 7, given));
      REQUIRE(r.outputs.size() == 10);
      for (size_t i = 0; i < r.outputs.size(); i += 2)
        check_same_bits(r.output_names[i] + " vs " + r.output_names[i + 1], r.outputs[i], r.outputs[i + 1]);
      // Something is rotated: many values change, and with partial rotary the tail of each head does not.
      const Tensor q0 = given.count("q") ? given.at("q") : make_inputs(g, s, 7, given).at("q");
      const Tensor& q1 = r.outputs[1].tensor;
      int64_t changed = 0, tail_changed = 0;
      for (int64_t i = 0; i < q1.numel(); ++i) {
        const bool same = q0.data<uint16_t>()[i] == q1.data<uint16_t>()[i];
        if (i % c.d >= c.rot) tail_changed += same ? 0 : 1;
        else changed += same ? 0 : 1;
      }
      CHECK(tail_changed == 0);
      CHECK(changed > q1.numel() / 4);
    }
  }
}

namespace {

struct FusedCase {
  int64_t t = 7, hq = 4, hk = 2, d = 64, rot = 64, rows = 16;
  bool neox = true, f32_cache = false, weight_1d = true;
  double eps = 1e-6;
};

// qkv (T, (Hq+2Hk)*D) bf16, positions (T,) int64, weights, cache; outputs in triples (q, k, v) for: the unfused chain
// with AF(_C.rotary_embedding), the fully native chain, the fused op in AF v1 form and in AF v2 form.
std::string fused_graph(const FusedCase& c) {
  GraphText t;
  const int64_t qd = c.hq * c.d, kd = c.hk * c.d, w = qd + 2 * kd;
  const Shape ws = c.weight_1d ? Shape{c.d} : Shape{1, c.d};
  char eps[64];
  std::snprintf(eps, sizeof eps, "%.17g", c.eps);
  t.placeholder("qkv", "bfloat16", {c.t, w});
  t.placeholder("positions", "int64", {c.t});
  t.placeholder("q_weight", "bfloat16", ws);
  t.placeholder("k_weight", "bfloat16", ws);
  t.placeholder("cache", c.f32_cache ? "float32" : "bfloat16", {c.rows, c.rot});
  const std::string sizes = shape_json({qd, kd, kd});
  t.call("sp", "aten.split_with_sizes.default", args({nd("qkv"), sizes, "-1"}));
  t.call("q", "_operator.getitem", args({nd("sp"), "0"}));
  t.call("k", "_operator.getitem", args({nd("sp"), "1"}));
  t.call("v", "_operator.getitem", args({nd("sp"), "2"}));
  const std::string qn = native_head_norm(t, "qn_", "q", "q_weight", c.t, c.hq, c.d, eps);
  const std::string kn = native_head_norm(t, "kn_", "k", "k_weight", c.t, c.hk, c.d, eps);
  const std::string neox = c.neox ? "true" : "false";
  t.call("rope", "higher_order.auto_functionalized", R"([{"op": "_C.rotary_embedding.default"}])",
         R"({"positions": )" + nd("positions") + R"(, "query": )" + nd(qn) + R"(, "key": )" + nd(kn) +
             R"(, "head_size": )" + str(c.d) + R"(, "cos_sin_cache": )" + nd("cache") + R"(, "is_neox": )" + neox + "}");
  t.call("q_unfused", "_operator.getitem", args({nd("rope"), "1"}));
  t.call("k_unfused", "_operator.getitem", args({nd("rope"), "2"}));
  t.call("cs", "aten.index_select.default", args({nd("cache"), "0", nd("positions")}));
  const std::string q_native = native_rope(t, "qr_", qn, "cs", c.t, c.hq, c.d, c.rot, c.neox, c.f32_cache);
  const std::string k_native = native_rope(t, "kr_", kn, "cs", c.t, c.hk, c.d, c.rot, c.neox, c.f32_cache);
  const std::string fused_kw = R"("num_heads_q": )" + str(c.hq) + R"(, "num_heads_k": )" + str(c.hk) +
                               R"(, "num_heads_v": )" + str(c.hk) + R"(, "head_dim": )" + str(c.d) + R"(, "eps": )" + eps +
                               R"(, "q_weight": )" + nd("q_weight") + R"(, "k_weight": )" + nd("k_weight") +
                               R"(, "cos_sin_cache": )" + nd("cache") + R"(, "is_neox": )" + neox +
                               R"(, "position_ids": )" + nd("positions");
  t.call("f1", "higher_order.auto_functionalized", R"([{"op": "_C.fused_qk_norm_rope.default"}])",
         R"({"qkv": )" + nd("qkv") + ", " + fused_kw + "}");
  t.call("f1_qkv", "_operator.getitem", args({nd("f1"), "1"}));
  t.call("f1_sp", "aten.split_with_sizes.default", args({nd("f1_qkv"), sizes, "-1"}));
  t.call("f2", "higher_order.auto_functionalized_v2", R"([{"op": "_C.fused_qk_norm_rope.default"}])",
         "{" + fused_kw + R"(, "_qkv_base_index": 0, "_all_bases": [)" + nd("qkv") + "]}");
  t.call("f2_qkv", "_operator.getitem", args({nd("f2"), "1"}));
  t.call("f2_sp", "aten.split_with_sizes.default", args({nd("f2_qkv"), sizes, "-1"}));
  for (const std::string f : {"f1", "f2"})
    for (int i = 0; i < 3; ++i) t.call(f + "_" + "qkv"[i], "_operator.getitem", args({nd(f + "_sp"), str(i)}));
  return t.text({"q_unfused", "k_unfused", "v", q_native, k_native, "v", "f1_q", "f1_k", "f1_v", "f2_q", "f2_k", "f2_v"});
}

}  // namespace

TEST_CASE("qk_norm_rope: _C.fused_qk_norm_rope equals the unfused chain (native RMSNorm per head, then RoPE)") {
  std::vector<FusedCase> cases;
  for (const bool neox : {true, false})
    for (const int64_t t : {1, 7}) {
      FusedCase c;
      c.neox = neox, c.t = t;
      cases.push_back(c);
    }
  FusedCase big;  // head_dim 128 (16 row-sum chunks), GQA 8:1, float32 cache, (1, D) weights, eps 1e-5
  big.hq = 8, big.hk = 1, big.d = 128, big.rot = 128, big.f32_cache = true, big.weight_1d = false, big.eps = 1e-5;
  cases.push_back(big);
  FusedCase partial;  // partial rotary: the normed tail passes through
  partial.rot = 32, partial.neox = false;
  cases.push_back(partial);
  for (const FusedCase& c : cases) {
    CAPTURE(c.neox);
    CAPTURE(c.t);
    CAPTURE(c.d);
    CAPTURE(c.rot);
    const Graph g = read_graph_text(fused_graph(c), "fused.json");
    const SymbolValues s;
    for (const bool special : {false, true}) {
      if (special && c.t < 2) continue;
      CAPTURE(special);
      TensorMap given{{"positions", positions(c.t, c.rows)}};
      Tensor qkv = random_tensor(DType::BF16, {c.t, (c.hq + 2 * c.hk) * c.d}, 5, "qkv");
      if (special) {
        add_special_heads(qkv, c.d);
        for (int64_t j = 0; j < c.d; ++j) set_bf16(qkv, c.hq * c.d + j, j % 3 == 0 ? -0.0 : 0.0);  // a zero k head
      }
      given.emplace("qkv", qkv);
      const ExecResult r = run_graph(g, s, make_inputs(g, s, 9, given));
      REQUIRE(r.outputs.size() == 12);
      for (size_t base : {3, 6, 9})
        for (size_t i = 0; i < 3; ++i)
          check_same_bits(r.output_names[i] + " vs " + r.output_names[base + i], r.outputs[i], r.outputs[base + i]);
      // The comparison has something to compare: many distinct q values, v untouched.
      std::set<uint16_t> qv;
      const Tensor fq = r.outputs[6].tensor.contiguous();
      for (int64_t i = 0; i < fq.numel(); ++i) qv.insert(fq.data<uint16_t>()[i]);
      CHECK(qv.size() > static_cast<size_t>(std::min<int64_t>(fq.numel() / 4, 200)));
      const Tensor fv = r.outputs[8].tensor.contiguous();
      for (int64_t i = 0; i < fv.numel(); ++i) {
        const int64_t row = i / (c.hk * c.d), col = i % (c.hk * c.d);
        REQUIRE(fv.data<uint16_t>()[i] == qkv.data<uint16_t>()[row * qkv.shape()[1] + (c.hq + c.hk) * c.d + col]);
      }
    }
  }
}

TEST_CASE("qk_norm_rope: query (T, H, D), positions (B, S) and int32 positions give the (T, H*D) results") {
  const int64_t t = 6, h = 2, d = 32, rows = 8;
  auto graph = [&](const Shape& qs, const Shape& ps, const std::string& pd) {
    GraphText g;
    g.placeholder("positions", pd, ps);
    g.placeholder("q", "bfloat16", qs);
    g.placeholder("cache", "bfloat16", {rows, d});
    g.call("af", "higher_order.auto_functionalized", R"([{"op": "_C.rotary_embedding.default"}])",
           R"({"positions": )" + nd("positions") + R"(, "query": )" + nd("q") + R"(, "key": null, "head_size": )" + str(d) +
               R"(, "cos_sin_cache": )" + nd("cache") + R"(, "is_neox": true})");
    g.call("o", "_operator.getitem", args({nd("af"), "1"}));
    g.call("k", "_operator.getitem", args({nd("af"), "2"}));
    return read_graph_text(g.text({"o", "k"}), "shapes.json");
  };
  const Tensor q = random_tensor(DType::BF16, {t, h * d}, 4, "q");
  const Tensor cache = random_tensor(DType::BF16, {rows, d}, 4, "cache");
  Tensor p64 = Tensor::empty(DType::I64, {t}), p32 = Tensor::empty(DType::I32, {2, 3});
  for (int64_t i = 0; i < t; ++i) p64.data<int64_t>()[i] = p32.data<int32_t>()[i] = static_cast<int32_t>((i * 3) % rows);
  const SymbolValues s;
  const Graph g1 = graph({t, h * d}, {t}, "int64");
  const Graph g2 = graph({t, h, d}, {2, 3}, "int32");
  const ExecResult r1 = run_graph(g1, s, {{"positions", p64}, {"q", q}, {"cache", cache}});
  const ExecResult r2 = run_graph(g2, s,
                                  {{"positions", p32}, {"q", Tensor::from_storage(q.storage(), DType::BF16, {t, h, d})},
                                   {"cache", cache}});
  REQUIRE(r2.outputs[0].tensor.shape() == Shape{t, h, d});
  CHECK(r1.outputs[1].kind == Value::Kind::None);  // key None -> its new value is None
  check_same_bits("(T, H, D) vs (T, H*D)", r1.outputs[0],
                  Value::of(Tensor::from_storage(r2.outputs[0].tensor.contiguous().storage(), DType::BF16, {t, h * d})));
}

namespace {

// Runs one auto_functionalized (v1) node of `op` with `kwargs` over placeholders (name, dtype, shape); returns the
// error text ("" when it runs). Positions placeholders get `pos` values.
std::string af_error(const std::string& op, const std::vector<std::tuple<std::string, std::string, Shape>>& inputs,
                     const std::string& kwargs, int64_t bad_pos = 0) {
  GraphText t;
  TensorMap given;
  for (const auto& [name, dtype, shape] : inputs) {
    t.placeholder(name, dtype, shape);
    if (dtype == "int64") {
      Tensor p = Tensor::empty(DType::I64, shape);
      for (int64_t i = 0; i < p.numel(); ++i) p.data<int64_t>()[i] = i == 1 ? bad_pos : 0;
      given.emplace(name, p);
    }
  }
  t.call("af", "higher_order.auto_functionalized", R"([{"op": ")" + op + R"("}])", "{" + kwargs + "}");
  t.call("o", "_operator.getitem", args({nd("af"), "1"}));
  return run_error(t, "o", given);
}

using In = std::tuple<std::string, std::string, Shape>;

std::string rope_error(const Shape& cache, const std::string& extra = "", int64_t bad_pos = 0,
                       const std::string& q_dtype = "bfloat16", int64_t head_size = 64) {
  return af_error("_C.rotary_embedding.default",
                  {In{"positions", "int64", {4}}, In{"q", q_dtype, {4, 128}}, In{"k", "bfloat16", {4, 64}},
                   In{"cache", "bfloat16", cache}},
                  R"("positions": )" + nd("positions") + R"(, "query": )" + nd("q") + R"(, "key": )" + nd("k") +
                      R"(, "head_size": )" + str(head_size) + R"(, "cos_sin_cache": )" + nd("cache") +
                      R"(, "is_neox": true)" + extra,
                  bad_pos);
}

std::string fused_error(int64_t qkv_last, const Shape& qw, const std::string& qw_dtype, const Shape& cache,
                        const std::string& heads = R"("num_heads_q": 4, "num_heads_k": 2, "num_heads_v": 2)",
                        int64_t bad_pos = 0) {
  return af_error("_C.fused_qk_norm_rope.default",
                  {In{"qkv", "bfloat16", {4, qkv_last}}, In{"positions", "int64", {4}}, In{"qw", qw_dtype, qw},
                   In{"kw", "bfloat16", {64}}, In{"cache", "bfloat16", cache}},
                  R"("qkv": )" + nd("qkv") + ", " + heads + R"(, "head_dim": 64, "eps": 1e-06, "q_weight": )" + nd("qw") +
                      R"(, "k_weight": )" + nd("kw") + R"(, "cos_sin_cache": )" + nd("cache") +
                      R"(, "is_neox": false, "position_ids": )" + nd("positions"),
                  bad_pos);
}

}  // namespace

TEST_CASE("qk_norm_rope: bad arguments are input errors naming the node") {
  const std::string af = "node 'af' (higher_order.auto_functionalized): ";
  // the good calls run (so the errors below come from the one thing changed)
  CHECK(rope_error({16, 64}) == "");
  CHECK(rope_error({16, 32}, R"(, "rope_dim_offset": 0, "inverse": false)", 15) == "");
  CHECK(fused_error(512, {64}, "bfloat16", {16, 64}) == "");
  CHECK(fused_error(512, {1, 64}, "bfloat16", {16, 64}, R"("num_heads_q": 4, "num_heads_k": 2, "num_heads_v": 2)", 15) == "");
  struct Bad {
    std::string got, want;
  };
  const std::string huge = R"("num_heads_q": 4611686018427387904, "num_heads_k": 4611686018427387904, "num_heads_v": 2)";
  const Bad bad[] = {
      {rope_error({16, 33}), af + "the rotary dimension 33 (cos_sin_cache.size(-1)) must be even and positive"},
      {rope_error({16, 66}), af + "the rotary dimension 66 (cos_sin_cache.size(-1)) exceeds head_size 64"},
      {rope_error({16, 64}, "", 16), af + "position 16 (element 1 of 'positions') is outside the cos_sin_cache's 16 rows"},
      {rope_error({16, 64}, "", -1), af + "position -1 (element 1 of 'positions') is outside the cos_sin_cache's 16 rows"},
      {rope_error({16, 64}, R"(, "rope_dim_offset": 2)"), af + "rope_dim_offset (int 2) is not supported: only the default 0"},
      {rope_error({16, 64}, R"(, "inverse": true)"), af + "inverse (bool True) is not supported: only the default False"},
      {rope_error({16, 64}, "", 0, "float32"), af + "argument 'query' must be bfloat16, got float32"},
      {rope_error({16, 48}, "", 0, "bfloat16", 48), af + "argument 'query' [4, 128] is not 4 tokens (the positions) of heads of head_size 48"},
      {rope_error({16, 64}, "", 0, "bfloat16", 0), af + "argument 'head_size' must be positive, got 0"},
      {rope_error({64}), af + "argument 'cos_sin_cache' must be 2-d (max_position, rotary_dim), got [64]"},
      {fused_error(448, {64}, "bfloat16", {16, 64}),
       af + "the last dimension of 'qkv' [4, 448] must be (num_heads_q + num_heads_k + num_heads_v) * head_dim = 512"},
      {fused_error(512, {32}, "bfloat16", {16, 64}), af + "argument 'q_weight' [32] must be (64,) or (1, 64) (head_dim values)"},
      {fused_error(512, {2, 64}, "bfloat16", {16, 64}), af + "argument 'q_weight' [2, 64] must be (64,) or (1, 64)"},
      {fused_error(512, {64}, "float32", {16, 64}), af + "argument 'q_weight' must be bfloat16 (the model dtype), got float32"},
      {fused_error(512, {64}, "bfloat16", {16, 63}), af + "the rotary dimension 63 (cos_sin_cache.size(-1)) must be even"},
      {fused_error(512, {64}, "bfloat16", {16, 128}), af + "the rotary dimension 128 (cos_sin_cache.size(-1)) exceeds head_dim 64"},
      {fused_error(512, {64}, "bfloat16", {16, 64}, R"("num_heads_q": 4, "num_heads_k": 2, "num_heads_v": 2)", 99),
       af + "position 99 (element 1 of 'position_ids') is outside the cos_sin_cache's 16 rows"},
      {fused_error(512, {64}, "bfloat16", {16, 64}, R"("num_heads_q": 4, "num_heads_k": 2, "num_heads_v": 2)", -5),
       af + "position -5 (element 1 of 'position_ids') is outside"},
      {fused_error(512, {64}, "bfloat16", {16, 64}, huge),
       af + "(num_heads_q + num_heads_k + num_heads_v) * head_dim overflows int64"},
      {fused_error(512, {64}, "bfloat16", {16, 64}, R"("num_heads_q": 0, "num_heads_k": 2, "num_heads_v": 2)"),
       af + "argument 'num_heads_q' must be positive, got 0"},
      {fused_error(512, {64}, "bfloat16", {16, 64}, R"("num_heads_q": 4, "num_heads_k": 2)"),
       af + "missing argument 'num_heads_v'"},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.got);
    CHECK(b.got.find(b.want) != std::string::npos);
  }
}
