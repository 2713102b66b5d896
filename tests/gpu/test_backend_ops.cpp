// The backend-ops harness (ggml's test-backend-ops): every op row with a GPU compute runs over each dtype
// its GPU set declares and the shapes listed here (size-1 and empty dims, odd sizes, broadcasting,
// non-contiguous views), and its result must equal the CPU row's bit for bit (NaN of any payload equal).
// A GPU row without cases here fails the harness, so adding a GPU kernel costs a row and its shapes.
#include <cstdio>
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/ir/error.h"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/op_registry.h"
#include "tests/tensor_util.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::rt::test;

namespace {

// One call: positional and keyword arguments built for a dtype (nullopt when the case does not apply to it).
using CaseFn = std::function<std::optional<KernelArgs>(DType)>;

Value t(DType d, Shape s, const char* name, uint64_t seed = 1) { return Value::of(random_tensor(d, std::move(s), seed, name)); }
// A transposed (non-contiguous) view of a random (cols, rows) tensor.
Value tt(DType d, int64_t rows, int64_t cols, const char* name) {
  const Tensor x = random_tensor(d, {cols, rows}, 2, name);
  return Value::of(x.as_strided({rows, cols}, {1, rows}, 0));
}
// An index tensor with the given values (int64, or converted to `d`).
Value ix(Shape s, std::vector<int64_t> v, DType d = DType::I64) {
  Tensor x = Tensor::empty(DType::I64, std::move(s));
  REQUIRE(static_cast<size_t>(x.numel()) == v.size());
  if (!v.empty()) std::memcpy(x.raw(), v.data(), v.size() * sizeof(int64_t));
  return Value::of(d == DType::I64 ? x : x.to(d));
}
KernelArgs args(std::vector<Value> a, std::vector<std::pair<std::string, Value>> kw = {}) { return {std::move(a), std::move(kw)}; }

const std::vector<Shape> kShapes{{}, {1}, {7}, {3, 5}, {2, 0, 3}, {2, 3, 33}, {1, 4, 1, 130}};

std::vector<CaseFn> unary_cases() {
  std::vector<CaseFn> out;
  for (const Shape& s : kShapes) out.push_back([s](DType d) { return std::optional(args({t(d, s, "x")})); });
  out.push_back([](DType d) { return std::optional(args({tt(d, 5, 9, "x")})); });
  return out;
}
std::vector<CaseFn> binary_cases(bool with_scalar) {
  std::vector<CaseFn> out;
  for (const Shape& s : kShapes) out.push_back([s](DType d) { return std::optional(args({t(d, s, "a"), t(d, s, "b")})); });
  out.push_back([](DType d) { return std::optional(args({t(d, {3, 1, 5}, "a"), t(d, {4, 1}, "b")})); });
  out.push_back([](DType d) { return std::optional(args({tt(d, 6, 4, "a"), t(d, {4}, "b")})); });
  out.push_back([](DType d) { return std::optional(args({t(d, {2, 3}, "a"), t(DType::F32, {}, "b")})); });
  if (with_scalar) {
    out.push_back([](DType d) { return std::optional(args({t(d, {5, 7}, "a"), F(0.3)})); });
    out.push_back([](DType d) { return std::optional(args({t(d, {5, 7}, "a"), I(3)})); });
  }
  return out;
}
std::vector<CaseFn> scalar_cases() {  // (Tensor self, Scalar other)
  return {[](DType d) { return std::optional(args({t(d, {5, 7}, "a"), F(-0.75)})); },
          [](DType d) { return std::optional(args({t(d, {0, 3}, "a"), I(2)})); },
          [](DType d) { return std::optional(args({tt(d, 3, 4, "a"), F(1e30)})); }};
}
std::vector<CaseFn> reduce_cases(bool dtype_kw) {
  std::vector<CaseFn> out;
  for (auto [shape, dims, keep] : std::vector<std::tuple<Shape, std::vector<int64_t>, bool>>{
           {{4, 33}, {-1}, true}, {{4, 33}, {0}, false}, {{2, 3, 5}, {0, 2}, true}, {{1, 1}, {}, false}, {{3, 0}, {-1}, false}}) {
    out.push_back([=](DType d) {
      std::vector<Value> dv;
      for (int64_t x : dims) dv.push_back(I(x));
      return std::optional(args({t(d, shape, "x"), L(dv), B(keep)}));
    });
  }
  if (dtype_kw)
    out.push_back([](DType d) { return std::optional(args({t(d, {3, 9}, "x"), L({I(1)})}, {{"dtype", DT(DType::F32)}})); });
  out.push_back([](DType d) { return std::optional(args({tt(d, 6, 5, "x"), L({I(1)}), B(false)})); });
  return out;
}

Value OP(const char* name) {
  Value v;
  v.kind = Value::Kind::Opaque;
  v.s = name;
  return v;
}

// The vLLM RMSNorm + FP8 family (runtime/ops/rms_norm_quant.cpp): bf16 activations at hidden 4096 (the re-reading
// vector kernel), 1024 and 96 (held in registers) and 100 (fallback), 1 and 7 rows; the auto_functionalized rows
// once per fp8 format (the result buffer's dtype, given by the harness's dtype), v1 and v2.
void add_rms_norm_quant_cases(std::map<std::string, std::vector<CaseFn>>& c) {
  auto fp8 = [](DType d) { return d == DType::F8E4M3FN || d == DType::F8E4M3FNUZ; };
  for (auto [m, h] : std::vector<std::pair<int64_t, int64_t>>{{7, 4096}, {1, 1024}, {7, 96}, {3, 100}}) {
    auto x = [m = m, h = h](const char* n) { return t(DType::BF16, {m, h}, n); };
    auto w = [h = h] { return t(DType::BF16, {h}, "w"); };
    const int64_t g = h % 128 == 0 ? 128 : 32;  // 32: groups of 4 chunks; 100 has no group size: skipped there
    auto when = [](DType d, bool ok) { return d == DType::BF16 && ok; };
    auto add = [&](const char* target, std::function<std::optional<KernelArgs>(DType)> f) { c[target].push_back(std::move(f)); };
    add("vllm_ir.rms_norm.default", [=](DType d) { return when(d, true) ? std::optional(args({x("x"), w(), F(1e-6)})) : std::nullopt; });
    add("vllm.rocm_aiter_rms_norm.default", [=](DType d) { return when(d, true) ? std::optional(args({x("x"), w(), F(1e-5)})) : std::nullopt; });
    add("vllm_ir.fused_add_rms_norm.default",
        [=](DType d) { return when(d, true) ? std::optional(args({x("x"), x("r"), w(), F(1e-6), Value::none()})) : std::nullopt; });
    add("vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default",
        [=](DType d) { return when(d, true) ? std::optional(args({x("x"), x("r"), w(), F(1e-6)})) : std::nullopt; });
    add("vllm.rocm_aiter_per_token_quant.default",
        [=](DType d) { return when(d, true) ? std::optional(args({x("x"), DT(DType::F8E4M3FNUZ)})) : std::nullopt; });
    add("vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default", [=](DType d) {
      return when(d, true) ? std::optional(args({x("x"), x("r"), w(), F(1e-6), DT(DType::F8E4M3FN)})) : std::nullopt;
    });
    add("vllm.rocm_aiter_rmsnorm_fp8_group_quant.default",
        [=](DType d) { return when(d, h % g == 0) ? std::optional(args({x("x"), w(), F(1e-6), I(g)})) : std::nullopt; });
    add("vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default", [=](DType d) {
      return when(d, h % g == 0) ? std::optional(args({x("x"), x("r"), w(), F(1e-6), I(g)})) : std::nullopt;
    });
    // auto_functionalized(_C op, **kwargs) with the fp8 buffers of dtype d.
    auto af = [=](bool v2, std::function<std::vector<std::pair<std::string, Value>>(DType)> kw, const char* op) {
      return [=](DType d) -> std::optional<KernelArgs> {
        if (!fp8(d)) return std::nullopt;
        std::vector<std::pair<std::string, Value>> k = kw(d);
        if (!v2) return args({OP(op)}, std::move(k));
        // v2: the mutated tensors become bases, named by index.
        std::vector<Value> bases;
        std::vector<std::pair<std::string, Value>> k2;
        for (auto& [name, v] : k) {
          const bool mutated = name == "result" || name == "residual" || (name == "scale" && std::string(op).find("static") == std::string::npos);
          if (mutated && v.is_tensor()) {
            k2.emplace_back("_" + name + "_base_index", I(static_cast<int64_t>(bases.size())));
            bases.push_back(v);
          } else {
            k2.emplace_back(name, v);
          }
        }
        k2.emplace_back("_all_bases", L(bases));
        return args({OP(op)}, std::move(k2));
      };
    };
    for (bool v2 : {false, true}) {
      const char* target = v2 ? "higher_order.auto_functionalized_v2" : "higher_order.auto_functionalized";
      add(target, af(v2, [=](DType d) {
            return std::vector<std::pair<std::string, Value>>{
                {"result", t(d, {m, h}, "q")}, {"input", x("x")}, {"weight", w()}, {"scale", t(DType::F32, {1, 1}, "s")},
                {"epsilon", F(1e-6)}};
          }, "_C.rms_norm_static_fp8_quant.default"));
      add(target, af(v2, [=](DType d) {
            return std::vector<std::pair<std::string, Value>>{
                {"result", t(d, {m, h}, "q")}, {"input", x("x")}, {"residual", x("r")}, {"weight", w()},
                {"scale", t(DType::F32, {1, 1}, "s")}, {"epsilon", F(1e-6)}};
          }, "_C.fused_add_rms_norm_static_fp8_quant.default"));
      add(target, af(v2, [=](DType d) {
            return std::vector<std::pair<std::string, Value>>{
                {"result", t(d, {m, h}, "q")}, {"input", x("x")}, {"weight", w()}, {"scale", t(DType::F32, {m, 1}, "s")},
                {"epsilon", F(1e-6)}, {"scale_ub", Value::none()}, {"residual", x("r")}};
          }, "_C.rms_norm_dynamic_per_token_quant.default"));
      if (h % g == 0)
        add(target, af(v2, [=](DType d) {
              return std::vector<std::pair<std::string, Value>>{
                  {"result", t(d, {m, h}, "q")}, {"input", x("x")}, {"weight", w()}, {"scale", t(DType::F32, {m, h / g}, "s")},
                  {"epsilon", F(1e-6)}, {"scale_ub", Value::none()}, {"residual", x("r")}, {"group_size", I(g)},
                  {"is_scale_transposed", B(false)}};
            }, "_C.rms_norm_per_block_quant.default"));
    }
    c["higher_order.auto_functionalized"].push_back([=](DType d) -> std::optional<KernelArgs> {
      if (d != DType::F8E4M3FN) return std::nullopt;  // the unfused _C ops once
      return args({OP("_C.fused_add_rms_norm.default")}, {{"input", x("x")}, {"residual", x("r")}, {"weight", w()}, {"epsilon", F(1e-6)}});
    });
  }
}

// The cases of every GPU row, by target.
std::map<std::string, std::vector<CaseFn>> all_cases() {
  std::map<std::string, std::vector<CaseFn>> c;
  for (const char* k : {"aten.add.Tensor", "aten.sub.Tensor", "aten.mul.Tensor", "aten.div.Tensor", "aten.maximum.default",
                        "aten.minimum.default", "aten.eq.Tensor", "aten.ne.Tensor", "aten.lt.Tensor", "aten.le.Tensor",
                        "aten.gt.Tensor", "aten.ge.Tensor", "aten.div.Tensor_mode"})
    c[k] = binary_cases(true);
  for (const char* k : {"aten.add.Scalar", "aten.sub.Scalar", "aten.mul.Scalar", "aten.div.Scalar", "aten.eq.Scalar",
                        "aten.ne.Scalar", "aten.lt.Scalar", "aten.le.Scalar", "aten.gt.Scalar", "aten.ge.Scalar",
                        "aten.div.Scalar_mode", "aten.clamp_min.default", "aten.clamp_max.default"})
    c[k] = scalar_cases();
  for (const char* k : {"aten.neg.default", "aten.abs.default", "aten.relu.default", "aten.exp.default", "aten.rsqrt.default",
                        "aten.sqrt.default", "aten.reciprocal.default", "aten.sigmoid.default", "aten.silu.default",
                        "aten.clone.default", "aten.contiguous.default", "aten.lift_fresh_copy.default"})
    c[k] = unary_cases();
  c["aten.pow.Tensor_Scalar"] = {[](DType d) { return std::optional(args({t(d, {9, 5}, "x"), I(2)})); },
                                 [](DType d) { return std::optional(args({tt(d, 3, 4, "x"), F(2.0)})); }};
  c["aten.clamp.default"] = {[](DType d) { return std::optional(args({t(d, {9, 5}, "x"), F(-0.5), F(0.5)})); },
                             [](DType d) { return std::optional(args({t(d, {9, 5}, "x"), Value::none(), F(0.25)})); },
                             [](DType d) { return std::optional(args({tt(d, 3, 4, "x"), I(0)})); }};
  for (const char* k : {"aten.where.self", "aten.where.ScalarOther", "aten.where.ScalarSelf"}) {
    const std::string name = k;
    c[k] = {[name](DType d) -> std::optional<KernelArgs> {
              if (d == DType::Bool) return std::nullopt;
              const Value cond = t(DType::Bool, {4, 6}, "c");
              const Value a = name == "aten.where.ScalarSelf" ? F(0.5) : t(d, {4, 6}, "a");
              const Value b = name == "aten.where.ScalarOther" ? F(-1.0) : t(d, {6}, "b");
              return args({cond, a, b});
            },
            [name](DType d) -> std::optional<KernelArgs> {
              if (d == DType::Bool) return std::nullopt;
              const Value a = name == "aten.where.ScalarSelf" ? I(2) : tt(d, 3, 5, "a");
              const Value b = name == "aten.where.ScalarOther" ? I(0) : t(d, {3, 1}, "b");
              return args({t(DType::Bool, {1, 5}, "c"), a, b});
            }};
  }
  for (const char* k : {"aten.view.default", "aten.reshape.default", "aten._unsafe_view.default"})
    c[k] = {[](DType d) { return std::optional(args({t(d, {4, 6}, "x"), L({I(2), I(-1)})})); },
            [](DType d) { return std::optional(args({tt(d, 4, 6, "x"), L({I(24)})})); },
            [](DType d) { return std::optional(args({t(d, {0, 3}, "x"), L({I(3), I(0)})})); }};
  for (const char* k : {"prims.convert_element_type.default", "aten._to_copy.default", "aten.to.dtype"}) {
    const bool kw = std::string(k) == "aten._to_copy.default";
    for (DType to : {DType::F32, DType::BF16, DType::F16, DType::F8E4M3FN, DType::I64, DType::Bool})
      c[k].push_back([kw, to](DType d) {
        return kw ? std::optional(args({tt(d, 5, 7, "x")}, {{"dtype", DT(to)}})) : std::optional(args({t(d, {5, 7}, "x"), DT(to)}));
      });
  }
  c["aten.sum.dim_IntList"] = reduce_cases(true);
  c["aten.mean.dim"] = reduce_cases(true);
  for (const char* k : {"aten.amax.default", "aten.amin.default"}) {
    c[k] = reduce_cases(false);  // (3, 0) over its empty dim: an error on the CPU, so skipped
  }
  for (const char* k : {"aten.max.dim", "aten.min.dim"})
    c[k] = {[](DType d) { return std::optional(args({t(d, {4, 33}, "x"), I(-1), B(true)})); },
            [](DType d) { return std::optional(args({tt(d, 6, 5, "x"), I(0)})); }};
  c["aten.mm.default"] = {[](DType d) { return std::optional(args({t(d, {5, 7}, "a"), t(d, {7, 3}, "b")})); },
                          [](DType d) { return std::optional(args({tt(d, 33, 17, "a"), t(d, {17, 65}, "b")})); },
                          [](DType d) { return std::optional(args({t(d, {1, 0}, "a"), t(d, {0, 4}, "b")})); }};
  c["aten.bmm.default"] = {[](DType d) { return std::optional(args({t(d, {3, 5, 7}, "a"), t(d, {3, 7, 4}, "b")})); },
                           [](DType d) { return std::optional(args({t(d, {2, 33, 17}, "a"), t(d, {2, 17, 9}, "b")})); },
                           [](DType d) { return std::optional(args({t(d, {0, 2, 3}, "a"), t(d, {0, 3, 2}, "b")})); }};
  c["aten.addmm.default"] = {[](DType d) { return std::optional(args({t(d, {3}, "c"), t(d, {5, 7}, "a"), t(d, {7, 3}, "b")})); },
                             [](DType d) {
                               return std::optional(args({t(d, {33, 1}, "c"), tt(d, 33, 17, "a"), t(d, {17, 9}, "b")},
                                                         {{"beta", F(0.5)}, {"alpha", F(2.0)}}));
                             }};
  // Indexing: index tensors of fixed values (int64 and int32), data of every dtype the row takes.
  c["aten.embedding.default"] = {
      [](DType d) { return std::optional(args({t(d, {11, 5}, "w"), ix({2, 3}, {0, 10, 3, 3, 7, 1})})); },
      [](DType d) { return std::optional(args({tt(d, 9, 4, "w"), ix({5}, {8, 0, 2, 2, 4}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {4, 130}, "w"), ix({1, 2, 1}, {3, 1})})); },
      [](DType d) { return std::optional(args({t(d, {3, 2}, "w"), ix({0}, {})})); }};
  c["aten.index_select.default"] = {
      [](DType d) { return std::optional(args({t(d, {4, 6, 5}, "x"), I(1), ix({4}, {5, 0, 2, 2})})); },
      [](DType d) { return std::optional(args({tt(d, 5, 7, "x"), I(-1), ix({3}, {6, 0, 1}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {3, 33}, "x"), I(0), ix({}, {2})})); },
      [](DType d) { return std::optional(args({t(d, {3, 4}, "x"), I(0), ix({0}, {})})); }};
  c["aten.gather.default"] = {
      [](DType d) { return std::optional(args({t(d, {4, 5}, "x"), I(1), ix({4, 3}, {0, 4, 4, 1, 2, 3, 0, 0, 1, 4, 3, 2})})); },
      [](DType d) { return std::optional(args({tt(d, 4, 6, "x"), I(0), ix({2, 5}, {3, 0, 1, 2, 3, 0, 0, 1, 2, 3})})); },
      [](DType d) { return std::optional(args({t(d, {2, 3, 4}, "x"), I(-1), ix({2, 2, 1}, {3, 0, 1, 2})})); }};
  for (const char* k : {"aten.index.Tensor", "aten._unsafe_index.Tensor"})
    c[k] = {[](DType d) { return std::optional(args({t(d, {5, 6, 4}, "x"), L({ix({3}, {4, -1, 0})})})); },
            [](DType d) {  // adjacent indexed dims 1, 2: broadcast (2, 3) in place
              return std::optional(args({t(d, {5, 6, 4}, "x"),
                                         L({Value::none(), ix({2, 1}, {5, -6}), ix({3}, {0, 3, -4}, DType::I32)})}));
            },
            [](DType d) {  // dims 0 and 2 (not adjacent): the broadcast dims go first
              return std::optional(args({t(d, {3, 4, 5}, "x"), L({ix({2}, {2, 0}), Value::none(), ix({2}, {4, -5})})}));
            },
            [](DType d) { return std::optional(args({tt(d, 7, 3, "x"), L({ix({2, 2}, {6, 0, 1, -7})})})); },
            [](DType d) { return std::optional(args({t(d, {4, 3}, "x"), L({ix({0}, {})})})); }};
  // Attention: plain, causal (L < S and L > S), bool and float masks (a fully masked row), GQA, 3-d inputs, an
  // explicit scale, a transposed query view, long key rows (more keys than threads), an empty query.
  struct Attn {
    Shape q, k;  // q (.., Hq, L, E); k = v (.., Hk, S, E)
    bool causal;
    int mask;  // 0 none, 1 bool (row 0 fully masked), 2 float
    bool gqa;
  };
  const std::vector<Attn> attn{{{1, 2, 5, 8}, {1, 2, 7, 8}, false, 0, false}, {{1, 2, 9, 16}, {1, 2, 9, 16}, true, 0, false},
                               {{2, 2, 7, 8}, {2, 2, 4, 8}, true, 0, false},  {{2, 3, 5, 8}, {2, 3, 6, 8}, false, 1, false},
                               {{1, 2, 4, 8}, {1, 2, 6, 8}, false, 2, false}, {{2, 4, 3, 16}, {2, 2, 6, 16}, false, 0, true},
                               {{2, 5, 8}, {2, 5, 8}, true, 0, false},        {{1, 1, 3, 64}, {1, 1, 300, 64}, false, 2, false},
                               {{1, 2, 0, 8}, {1, 2, 3, 8}, false, 0, false}};
  auto attn_qkv = [](DType d, const Attn& x) {
    Shape v = x.k;
    return std::vector<Value>{t(d, x.q, "q"), t(d, x.k, "k"), t(d, v, "v")};
  };
  auto attn_mask = [](DType d, const Attn& x) -> Value {
    const int64_t L = x.q[x.q.size() - 2], S = x.k[x.k.size() - 2];
    if (x.mask == 0) return Value::none();
    if (x.mask == 2) return t(d, {1, 1, L, S}, "m");
    Tensor m = random_tensor(DType::Bool, {L, S}, 5, "m");
    for (int64_t j = 0; j < S; ++j) m.data<uint8_t>()[j] = 0;  // query 0 attends to nothing
    return Value::of(m);
  };
  for (const Attn& at : attn) {
    c["aten.scaled_dot_product_attention.default"].push_back([=](DType d) {
      std::vector<Value> a = attn_qkv(d, at);
      a.push_back(attn_mask(d, at));
      a.push_back(F(0.0));
      a.push_back(B(at.causal));
      return std::optional(args(a, {{"enable_gqa", B(at.gqa)}}));
    });
    c["aten._scaled_dot_product_attention_math.default"].push_back([=](DType d) {
      std::vector<Value> a = attn_qkv(d, at);
      a.push_back(attn_mask(d, at));
      a.push_back(F(0.0));
      a.push_back(B(at.causal));
      return std::optional(args(a, {{"enable_gqa", B(at.gqa)}, {"scale", F(0.3)}}));
    });
    if (at.gqa) continue;
    c["aten._scaled_dot_product_flash_attention_for_cpu.default"].push_back([=](DType d) {
      std::vector<Value> a = attn_qkv(d, at);
      a.push_back(F(0.0));
      a.push_back(B(at.causal));
      return std::optional(args(a, {{"attn_mask", attn_mask(d, at)}}));
    });
    if (at.q.size() != 4) continue;
    if (at.mask == 0)
      c["aten._scaled_dot_product_flash_attention.default"].push_back([=](DType d) {
        std::vector<Value> a = attn_qkv(d, at);
        a.push_back(F(0.0));
        a.push_back(B(at.causal));
        return std::optional(args(a));
      });
    for (bool lse : {true, false})
      c["aten._scaled_dot_product_efficient_attention.default"].push_back([=](DType d) {
        std::vector<Value> a = attn_qkv(d, at);
        a.push_back(attn_mask(d, at));
        a.push_back(B(lse));
        a.push_back(F(0.0));
        a.push_back(B(at.causal));
        return std::optional(args(a));
      });
    c["aten._scaled_dot_product_cudnn_attention.default"].push_back([=](DType d) {
      std::vector<Value> a = attn_qkv(d, at);
      a.push_back(attn_mask(d, at));
      a.push_back(B(true));
      a.push_back(F(0.0));
      a.push_back(B(at.causal));
      return std::optional(args(a, {{"scale", F(0.125)}}));
    });
  }
  c["aten.scaled_dot_product_attention.default"].push_back([](DType d) {  // a transposed query view
    const Tensor qs = random_tensor(d, {1, 2, 8, 6}, 3, "q");
    const Value q = Value::of(qs.as_strided({1, 2, 6, 8}, {96, 48, 1, 6}, 0));
    return std::optional(args({q, t(d, {1, 2, 5, 8}, "k"), t(d, {1, 2, 5, 8}, "v")}));
  });
  // index_put without accumulation: repeated indices (the last write wins), broadcast values, negative indices,
  // a transposed self; accumulate=True is skipped (it runs on the CPU).
  for (const char* k : {"aten.index_put.default", "aten._unsafe_index_put.default"})
    c[k] = {[](DType d) { return std::optional(args({t(d, {6, 4}, "x"), L({ix({5}, {1, 3, 1, -1, 3})}), t(d, {5, 4}, "v")})); },
            [](DType d) { return std::optional(args({t(d, {6, 4}, "x"), L({ix({3}, {0, 2, 0})}), t(d, {4}, "v")})); },
            [](DType d) {
              return std::optional(args({tt(d, 5, 7, "x"), L({Value::none(), ix({2, 1}, {6, -7})}), t(d, {1, 1}, "v")}));
            },
            [](DType d) {
              return std::optional(args({t(d, {3, 4, 5}, "x"), L({ix({2}, {2, 2}), Value::none(), ix({2}, {4, -5})}), t(d, {2, 4}, "v")}));
            },
            [](DType d) { return std::optional(args({t(d, {6, 4}, "x"), L({ix({3}, {1, 1, 2})}), t(d, {3, 4}, "v"), B(true)})); }};
  // Copies into new tensors: cat (mixed dtypes promote, a legacy empty tensor, a transposed input), copy (broadcast,
  // a dtype change), slice_scatter (steps, negative bounds), select_scatter.
  c["aten.cat.default"] = {
      [](DType d) { return std::optional(args({L({t(d, {2, 3}, "a"), t(d, {4, 3}, "b")})})); },
      [](DType d) { return std::optional(args({L({t(d, {2, 3, 4}, "a"), t(d, {2, 1, 4}, "b")}), I(1)})); },
      [](DType d) { return std::optional(args({L({tt(d, 5, 3, "a"), t(d, {5, 4}, "b"), t(d, {0}, "e")}), I(-1)})); },
      [](DType d) { return std::optional(args({L({t(d, {3}, "a"), t(DType::F32, {2}, "b")})})); }};
  c["aten.copy.default"] = {[](DType d) { return std::optional(args({t(d, {4, 5}, "x"), t(d, {5}, "s")})); },
                            [](DType d) { return std::optional(args({t(d, {3, 4}, "x"), tt(DType::F32, 3, 4, "s")})); },
                            [](DType d) { return std::optional(args({t(d, {0, 2}, "x"), t(d, {2}, "s")})); }};
  c["aten.slice_scatter.default"] = {
      [](DType d) { return std::optional(args({t(d, {6, 4}, "x"), t(d, {2, 4}, "s"), I(0), I(1), I(5), I(2)})); },
      [](DType d) { return std::optional(args({tt(d, 5, 7, "x"), t(d, {5, 3}, "s"), I(1), I(-3)})); },
      [](DType d) { return std::optional(args({t(d, {4, 3}, "x"), t(d, {4, 3}, "s")})); }};
  c["aten.select_scatter.default"] = {[](DType d) { return std::optional(args({t(d, {6, 4}, "x"), t(d, {4}, "s"), I(0), I(-1)})); },
                                      [](DType d) { return std::optional(args({tt(d, 5, 7, "x"), t(d, {5}, "s"), I(1), I(3)})); }};
  // sort / argsort / topk: ties (bool and small integers repeat; -0 and +0), NaN and inf (float32 edge values via
  // a (0, 1) row of specials), descending, each dim, a transposed view, k = 0 and k = n.
  auto special = [](DType d) {
    Tensor x = random_tensor(d, {3, 17}, 9, "x");
    if (is_floating(d)) {
      const double v[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, 1.0, 1.0, NAN, -0.0};
      for (int i = 0; i < 9; ++i) store_elem<double>(d, x.raw() + (17 + i) * static_cast<int64_t>(dtype_size(d)), v[i]);
    }
    return Value::of(x);
  };
  for (const char* k : {"aten.sort.default", "aten.argsort.default"})
    c[k] = {[=](DType d) { return std::optional(args({special(d), I(1)})); },
            [=](DType d) { return std::optional(args({special(d), I(-1), B(true)})); },
            [](DType d) { return std::optional(args({t(d, {5, 3, 7}, "x"), I(0), B(true)})); },
            [](DType d) { return std::optional(args({tt(d, 6, 9, "x"), I(1)})); },
            [](DType d) { return std::optional(args({t(d, {2, 0, 3}, "x"), I(1)})); },
            [](DType d) { return std::optional(args({t(d, {}, "x"), I(0)})); }};
  for (const char* k : {"aten.sort.stable", "aten.argsort.stable"})
    c[k] = {[=](DType d) { return std::optional(args({special(d)}, {{"stable", B(true)}, {"dim", I(1)}, {"descending", B(true)}})); },
            [](DType d) { return std::optional(args({t(d, {4, 6}, "x")}, {{"stable", B(true)}, {"dim", I(0)}})); }};
  c["aten.topk.default"] = {[=](DType d) { return std::optional(args({special(d), I(5)})); },
                            [=](DType d) { return std::optional(args({special(d), I(4), I(1), B(false)})); },
                            [](DType d) { return std::optional(args({t(d, {5, 3, 7}, "x"), I(2), I(0)})); },
                            [](DType d) { return std::optional(args({tt(d, 6, 9, "x"), I(9), I(1)})); },
                            [](DType d) { return std::optional(args({t(d, {4, 6}, "x"), I(0)})); }};
  // cumsum / cumprod: each dim, dtype= (int32 to int64 by default, bf16 to float32), a transposed view, empty.
  for (const char* k : {"aten.cumsum.default", "aten.cumprod.default"})
    c[k] = {[](DType d) { return std::optional(args({t(d, {4, 33}, "x"), I(1)})); },
            [](DType d) { return std::optional(args({t(d, {5, 3, 7}, "x"), I(0)})); },
            [](DType d) { return std::optional(args({t(d, {5, 3, 7}, "x"), I(-2)})); },
            [](DType d) { return std::optional(args({tt(d, 6, 9, "x"), I(1)})); },
            [](DType d) { return std::optional(args({t(d, {3, 9}, "x"), I(1)}, {{"dtype", DT(DType::F32)}})); },
            [](DType d) { return std::optional(args({t(d, {2, 0, 3}, "x"), I(1)})); },
            [](DType d) { return std::optional(args({t(d, {}, "x"), I(0)})); }};
  // _grouped_mm in its four layouts: empty groups, rows/columns no group covers, an empty k group.
  c["aten._grouped_mm.default"] = {
      [](DType d) { return std::optional(args({t(d, {9, 16}, "a"), t(d, {3, 16, 8}, "w"), ix({3}, {4, 4, 9}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {9, 16}, "a"), t(d, {3, 16, 8}, "w"), ix({3}, {2, 5, 7}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {3, 5, 16}, "a"), t(d, {16, 12}, "w"), ix({3}, {4, 8, 11}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {5, 12}, "a"), t(d, {12, 7}, "w"), ix({3}, {4, 4, 12}, DType::I32)})); },
      [](DType d) { return std::optional(args({t(d, {2, 5, 8}, "a"), t(d, {2, 8, 3}, "w")})); },
      [](DType d) { return std::optional(args({tt(d, 33, 17, "a"), t(d, {2, 17, 65}, "w"), ix({2}, {20, 33}, DType::I32)})); }};
  // Convolution: ResNet's stem (stride 2, padding 3, bias), 3x3, groups with dilation, 1x1 stride 2 (the matmul
  // path on the CPU), depthwise 1-d (Qwen3-Next), unbatched, a transposed input view.
  struct Conv {
    Shape x, w;
    std::vector<int64_t> stride, pad, dil;
    int64_t groups;
    bool bias;
  };
  const std::vector<Conv> convs{{{2, 3, 17, 15}, {8, 3, 7, 7}, {2, 2}, {3, 3}, {1, 1}, 1, true},
                                {{1, 8, 9, 9}, {8, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 1, false},
                                {{1, 4, 10, 11}, {6, 2, 3, 3}, {1, 2}, {2, 2}, {2, 2}, 2, true},
                                {{2, 16, 8, 8}, {32, 16, 1, 1}, {2, 2}, {0, 0}, {1, 1}, 1, false},
                                {{1, 12, 10}, {12, 1, 4}, {1}, {3}, {1}, 12, true},
                                {{3, 6, 5}, {4, 3, 2, 2}, {1, 1}, {0, 1}, {1, 1}, 1, true},
                                {{2, 4, 33}, {5, 4, 3}, {2}, {1}, {1}, 1, false}};
  auto ints = [](const std::vector<int64_t>& v) {
    std::vector<Value> out;
    for (int64_t x : v) out.push_back(I(x));
    return L(out);
  };
  for (const Conv& cv : convs)
    c["aten.convolution.default"].push_back([=](DType d) {
      std::vector<int64_t> zeros(cv.stride.size(), 0);
      return std::optional(args({t(d, cv.x, "x"), t(d, cv.w, "w"), cv.bias ? t(d, {cv.w[0]}, "b") : Value::none(), ints(cv.stride),
                                 ints(cv.pad), ints(cv.dil), B(false), ints(zeros), I(cv.groups)}));
    });
  c["aten.convolution.default"].push_back([=](DType d) {  // a transposed (non-contiguous) input
    const Tensor xs = random_tensor(d, {1, 3, 9, 7}, 4, "x");
    const Value x = Value::of(xs.as_strided({1, 3, 7, 9}, {189, 63, 1, 7}, 0));
    return std::optional(args({x, t(d, {4, 3, 3, 3}, "w"), t(d, {4}, "b"), ints({1, 1}), ints({1, 1}), ints({1, 1}), B(false),
                               ints({0, 0}), I(1)}));
  });
  // The fused ops: bf16 inputs only (their other dtypes are the outputs').
  auto bf16_only = [](DType d) { return d == DType::BF16; };
  c["vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"] = {[=](DType d) -> std::optional<KernelArgs> {
    if (!bf16_only(d)) return std::nullopt;
    return args({t(d, {5, 256}, "x"), t(d, {256}, "w"), Value::none(), t(d, {5, 256}, "z"), F(1e-6), B(true), S("silu"), I(128)});
  }};
  c["vllm.rocm_aiter_group_fp8_quant.default"] = {[=](DType d) -> std::optional<KernelArgs> {
    if (!bf16_only(d)) return std::nullopt;
    return args({t(d, {3, 512}, "x"), I(128)});
  }};
  c["vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default"] = {[=](DType d) -> std::optional<KernelArgs> {
    if (!bf16_only(d)) return std::nullopt;
    return args({t(d, {7, 384}, "x"), t(d, {384}, "w"), F(1e-6), DT(DType::F8E4M3FN)});
  }};
  add_rms_norm_quant_cases(c);
  return c;
}

// Bitwise equality of two host values (floats: any NaN equals any NaN).
std::string differ(const Value& a, const Value& b) {
  if (a.is_tensor() != b.is_tensor()) return "kinds differ: " + describe(a) + " vs " + describe(b);
  if (a.kind == Value::Kind::List) {
    if (b.kind != Value::Kind::List || a.items.size() != b.items.size()) return "list sizes differ";
    for (size_t i = 0; i < a.items.size(); ++i)
      if (std::string d = differ(a.items[i], b.items[i]); !d.empty()) return "[" + std::to_string(i) + "] " + d;
    return "";
  }
  if (!a.is_tensor()) return "";
  const Tensor x = a.tensor.contiguous(), y = b.tensor.contiguous();
  if (x.dtype() != y.dtype() || x.shape() != y.shape()) return describe(a) + " vs " + describe(b);
  const size_t es = dtype_size(x.dtype());
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::memcmp(x.raw() + i * es, y.raw() + i * es, es) == 0) continue;
    const double p = x.value_at(i), q = y.value_at(i);
    if (p != p && q != q) continue;
    char buf[160];
    std::snprintf(buf, sizeof buf, "element %lld: cpu %.9g, gpu %.9g", static_cast<long long>(i), p, q);
    return buf;
  }
  return "";
}

}  // namespace

TEST_CASE("backend ops: every GPU row equals the CPU row over its dtypes and shapes") {
  if (!gpu::device_available()) {
    MESSAGE("no GPU device: skipped");
    return;
  }
  const Backend& dev = backend_for_device("gpu");
  const auto cases = all_cases();
  int rows = 0, runs = 0;
  for (const OpEntry* e : all_ops()) {
    const OpRow& row = *e->row;
    if (!row.gpu) continue;
    const std::string target_name(row.target);  // a string, so doctest prints the name, not a pointer
    CAPTURE(target_name);
    Node node;  // the call's node names the op, as in a graph (some rows dispatch on it)
    node.target = target_name;
    ++rows;
    auto it = cases.find(row.target);
    REQUIRE_MESSAGE(it != cases.end(), "a GPU row without cases in tests/gpu/test_backend_ops.cpp");
    int ran = 0;
    for (unsigned di = 0; di < 32; ++di) {
      const DType d = static_cast<DType>(di);
      if (!row.gpu_dtypes.has(d)) continue;
      const std::string dtype_str(dtype_name(d));
      CAPTURE(dtype_str);
      for (size_t ci = 0; ci < it->second.size(); ++ci) {
        CAPTURE(ci);
        const std::optional<KernelArgs> in = it->second[ci](d);
        if (!in) continue;
        ExecContext ctx;
        ctx.threads = 4;
        Value want;
        try {
          want = call_op(row.target, *in, ctx);
        } catch (const InputError&) {
          continue;  // not a valid call for this dtype (e.g. promotion with fp8): nothing to compare
        }
        // Skip (cleanly) what the row's GPU compute does not take: its dtype set (float64, ...) and gpu_when.
        {
          const OpArgs ha = decode_args(e->schema, node, *in);
          const std::optional<Value> hm = e->run_meta(ha);
          if (!dtypes_supported(row.gpu_dtypes, ha, hm ? &*hm : nullptr, nullptr) || (row.gpu_when && !row.gpu_when(ha)))
            continue;
        }
        // The same call on the device: inputs uploaded, the GPU compute when the row takes the arguments.
        KernelArgs din = *in;
        for (Value& v : din.args) v = map_tensors(v, [&](const Tensor& x) { return dev.upload(x); });
        for (auto& kv : din.kwargs) kv.second = map_tensors(kv.second, [&](const Tensor& x) { return dev.upload(x); });
        OpArgs a = decode_args(e->schema, node, din);
        const std::optional<Value> m = e->run_meta(a);  // none for rows whose compute gives the shapes
        if (m) a.set_meta(&*m);
        if (!dtypes_supported(row.gpu_dtypes, a, m ? &*m : nullptr, nullptr) || (row.gpu_when && !row.gpu_when(a))) continue;
        Value got;
        try {
          got = map_tensors(row.gpu(a, ctx), [&](const Tensor& x) { return dev.download(x); });
        } catch (const std::exception& ex) {
          FAIL_CHECK("the GPU compute threw: " << ex.what());
          continue;
        }
        const std::string why = differ(want, got);
        CHECK_MESSAGE(why.empty(), why);
        ++ran;
      }
    }
    CHECK_MESSAGE(ran > 0, "no case ran on the GPU for this row");
    runs += ran;
  }
  const std::string summary = std::to_string(rows) + " GPU rows, " + std::to_string(runs) + " cases compared with the CPU";
  MESSAGE(summary);
}

TEST_CASE("backend ops: an out-of-range index on the GPU is the CPU's error, naming the index") {
  if (!gpu::device_available()) {
    MESSAGE("no GPU device: skipped");
    return;
  }
  const Backend& dev = backend_for_device("gpu");
  struct Bad {
    const char* target;
    KernelArgs in;
  };
  const std::vector<Bad> bad{
      {"aten.embedding.default", args({t(DType::F32, {4, 3}, "w"), ix({2, 2}, {0, 1, 4, 2})})},
      {"aten.embedding.default", args({t(DType::BF16, {4, 3}, "w"), ix({3}, {0, -1, 2}, DType::I32)})},
      {"aten.index_select.default", args({t(DType::F16, {2, 5}, "x"), I(1), ix({3}, {0, 5, 9})})},
      {"aten.gather.default", args({t(DType::F32, {2, 3}, "x"), I(1), ix({2, 2}, {0, 1, 2, -1})})},
      {"aten.index.Tensor", args({t(DType::I64, {3, 4}, "x"), L({Value::none(), ix({2}, {-4, -5})})})},
  };
  const Node node;
  for (const Bad& b : bad) {
    CAPTURE(b.target);
    ExecContext ctx;
    std::string cpu_error;
    try {
      call_op(b.target, b.in, ctx);
    } catch (const InputError& e) {
      cpu_error = e.what();
    }
    REQUIRE_MESSAGE(!cpu_error.empty(), "the CPU kernel accepted the bad index");
    const OpEntry* e = find_op(b.target);
    REQUIRE(e);
    KernelArgs din = b.in;
    for (Value& v : din.args) v = map_tensors(v, [&](const Tensor& x) { return dev.upload(x); });
    OpArgs a = decode_args(e->schema, node, din);
    const std::optional<Value> m = e->run_meta(a);
    REQUIRE(m);
    a.set_meta(&*m);
    const bool has_gpu = e->row->gpu != nullptr;
    REQUIRE_MESSAGE(has_gpu, "no GPU compute");
    std::string gpu_error;
    try {
      e->row->gpu(a, ctx);
    } catch (const InputError& ex) {
      gpu_error = ex.what();
    }
    CHECK(gpu_error == cpu_error);
  }
}
