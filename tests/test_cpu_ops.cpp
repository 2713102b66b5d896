// Unit tests of the CPU reference kernels against hand-computed values: type promotion, broadcasting,
// per-op rounding of bf16, reductions in the canonical order, conversions (all fp8 codes and ties),
// views, matmul, SymInt arithmetic and the fused ops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/ir/error.h"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/op_registry.h"
#include "runtime/numerics.h"
#include "tests/tensor_util.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::rt::test;

namespace {


Value call(const char* target, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kwargs = {},
           const Node* node = nullptr) {
  REQUIRE_MESSAGE(find_op(target) != nullptr, target);
  KernelArgs in{std::move(args), std::move(kwargs)};
  SymbolValues syms;
  ExecContext ctx;
  ctx.symbols = &syms;
  ctx.threads = 2;
  return call_op(target, in, ctx, node);
}

Tensor callt(const char* target, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kwargs = {}) {
  Value v = call(target, std::move(args), std::move(kwargs));
  REQUIRE(v.is_tensor());
  return v.tensor;
}

}  // namespace

TEST_CASE("cpu: type promotion follows torch.result_type") {
  const Tensor bf = make(DType::BF16, {2}, {1, 2});
  const Tensor f32 = make(DType::F32, {2}, {1, 2});
  const Tensor i64 = make(DType::I64, {2}, {1, 2});
  const Tensor i32 = make(DType::I32, {2}, {1, 2});
  const Tensor bo = make(DType::Bool, {2}, {1, 0});
  const Tensor f16 = make(DType::F16, {2}, {1, 2});
  const Tensor f64_0d = make(DType::F64, {}, {2});
  CHECK(callt("aten.mul.Tensor", {T(bf), F(2.0)}).dtype() == DType::BF16);   // Python float keeps bf16
  CHECK(callt("aten.add.Tensor", {T(bf), T(f32)}).dtype() == DType::F32);
  CHECK(callt("aten.add.Tensor", {T(bf), T(f16)}).dtype() == DType::F32);
  CHECK(callt("aten.add.Tensor", {T(i64), F(1.5)}).dtype() == DType::F32);   // int + float -> default dtype
  CHECK(callt("aten.add.Tensor", {T(bo), I(1)}).dtype() == DType::I64);
  CHECK(callt("aten.add.Tensor", {T(i32), I(1)}).dtype() == DType::I32);     // int scalar keeps int32
  CHECK(callt("aten.add.Tensor", {T(bf), T(f64_0d)}).dtype() == DType::BF16); // 0-d tensor of the same category
  CHECK(callt("aten.add.Tensor", {T(i32), T(f64_0d)}).dtype() == DType::F64); // 0-d of a higher category
  CHECK(callt("aten.add.Tensor", {T(f32), I(1)}).dtype() == DType::F32);
  const Tensor fp8 = make(DType::F8E4M3FN, {2}, {1, 2});
  CHECK_THROWS_AS(call("aten.add.Tensor", {T(fp8), T(bf)}), InputError);
}

TEST_CASE("cpu: arithmetic, broadcasting and overloads") {
  const Tensor a = make(DType::F32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor row = make(DType::F32, {3}, {10, 20, 30});
  const Tensor col = make(DType::F32, {2, 1}, {100, 200});
  CHECK(vals(callt("aten.add.Tensor", {T(a), T(row)})) == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK(vals(callt("aten.add.Tensor", {T(a), T(col)})) == std::vector<double>{101, 102, 103, 204, 205, 206});
  CHECK(vals(callt("aten.add.Tensor", {T(a), T(row)}, {{"alpha", I(2)}})) == std::vector<double>{21, 42, 63, 24, 45, 66});
  CHECK(vals(callt("aten.sub.Tensor", {T(a), I(1)})) == std::vector<double>{0, 1, 2, 3, 4, 5});
  CHECK(vals(callt("aten.mul.Tensor", {T(a), T(col)})) == std::vector<double>{100, 200, 300, 800, 1000, 1200});
  CHECK(callt("aten.add.Tensor", {T(col), T(row)}).shape() == Shape{2, 3});
  CHECK_THROWS_AS(call("aten.add.Tensor", {T(a), T(make(DType::F32, {2}, {1, 2}))}), InputError);
  // True division: integers give float32.
  const Tensor ia = make(DType::I64, {3}, {7, -7, 1});
  Tensor q = callt("aten.div.Tensor", {T(ia), I(2)});
  CHECK(q.dtype() == DType::F32);
  CHECK(vals(q) == std::vector<double>{3.5, -3.5, 0.5});
  CHECK(vals(callt("aten.div.Tensor_mode", {T(ia), I(2)}, {{"rounding_mode", [] { Value v; v.kind = Value::Kind::Str; v.s = "floor"; return v; }()}})) ==
        std::vector<double>{3, -4, 0});
  // div by a float scalar is a float32 division by float(s), not a multiplication by 1/s.
  const Tensor x = make(DType::F32, {1}, {1.0});
  CHECK(callt("aten.div.Tensor", {T(x), F(448.0)}).data<float>()[0] == 1.0f / 448.0f);
  // Integer arithmetic stays integer.
  CHECK(callt("aten.mul.Tensor", {T(ia), I(3)}).dtype() == DType::I64);
  CHECK(vals(callt("aten.mul.Tensor", {T(ia), I(3)})) == std::vector<double>{21, -21, 3});
}

TEST_CASE("cpu: bf16 ops compute in float32 and round to nearest even once per op") {
  // 1 + 2^-8 is halfway between bf16 1 and 1+2^-7: ties to even (1.0); 1 + 3*2^-8 ties up to 1+2^-6.
  const Tensor one = make(DType::BF16, {2}, {1, 1});
  const Tensor small = make(DType::F32, {2}, {0.00390625, 3 * 0.00390625});
  Tensor r = callt("aten.add.Tensor", {T(one), T(small.to(DType::BF16))});
  CHECK(r.dtype() == DType::BF16);
  CHECK(vals(r) == std::vector<double>{1.0, 1.015625});
  // A Python float scalar enters as float32, not rounded to bf16 first: 3 * 1.00390625 = 3.01171875 -> 3.015625
  // (rounding the scalar to bf16 would give 1.0 and 3.0).
  const Tensor three = make(DType::BF16, {1}, {3});
  CHECK(vals(callt("aten.mul.Tensor", {T(three), F(1.00390625)})) == std::vector<double>{3.015625});
}

TEST_CASE("cpu: unary ops") {
  const Tensor x = make(DType::F32, {5}, {-2, -0.5, 0, 0.5, 3});
  CHECK(vals(callt("aten.relu.default", {T(x)})) == std::vector<double>{0, 0, 0, 0.5, 3});
  CHECK(vals(callt("aten.neg.default", {T(x)})) == std::vector<double>{2, 0.5, 0, -0.5, -3});
  CHECK(vals(callt("aten.abs.default", {T(x)})) == std::vector<double>{2, 0.5, 0, 0.5, 3});
  CHECK(vals(callt("aten.pow.Tensor_Scalar", {T(x), I(2)})) == std::vector<double>{4, 0.25, 0, 0.25, 9});
  CHECK(vals(callt("aten.pow.Tensor_Scalar", {T(make(DType::F32, {2}, {4, 9})), F(0.5)})) == std::vector<double>{2, 3});
  CHECK(vals(callt("aten.rsqrt.default", {T(make(DType::F32, {2}, {4, 0.25}))})) == std::vector<double>{0.5, 2});
  Tensor e = callt("aten.exp.default", {T(x)});
  Tensor sg = callt("aten.sigmoid.default", {T(x)});
  Tensor si = callt("aten.silu.default", {T(x)});
  for (int i = 0; i < 5; ++i) {
    const float v = x.data<float>()[i];
    CHECK(num::f32_bits(e.data<float>()[i]) == num::f32_bits(num::fx_expf(v)));
    CHECK(sg.data<float>()[i] == 1.0f / (1.0f + num::fx_expf(-v)));
    CHECK(num::f32_bits(si.data<float>()[i]) == num::f32_bits(num::fx_silu(v)));
  }
  CHECK(vals(e)[2] == 1.0);
  // exp of an integer tensor is float32.
  CHECK(callt("aten.exp.default", {T(make(DType::I64, {1}, {0}))}).dtype() == DType::F32);
  // The integer pow stays integer.
  CHECK(vals(callt("aten.pow.Tensor_Scalar", {T(make(DType::I64, {2}, {3, -2})), I(3)})) == std::vector<double>{27, -8});
}

TEST_CASE("cpu: relu and sign at -0 and NaN follow PyTorch's CPU kernels") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType d : {DType::F32, DType::BF16, DType::F16, DType::F64}) {
    CAPTURE(dtype_name(d));
    const Tensor x = make(d, {5}, {-0.0, 0.0, nan, -3, 2});
    // relu = clamp_min(x, 0): -0 stays -0 (not below 0), NaN stays NaN.
    const std::vector<double> r = vals(callt("aten.relu.default", {T(x)}));
    CHECK((r[0] == 0 && std::signbit(r[0])));
    CHECK((r[1] == 0 && !std::signbit(r[1])));
    CHECK(std::isnan(r[2]));
    CHECK(r[3] == 0);
    CHECK(r[4] == 2);
    // sign = (0 < x) - (x < 0): sign(-0) = +0, sign(NaN) = 0.
    const std::vector<double> sg = vals(callt("aten.sign.default", {T(x)}));
    CHECK((sg[0] == 0 && !std::signbit(sg[0])));
    CHECK(sg[2] == 0);
    CHECK(sg[3] == -1);
    CHECK(sg[4] == 1);
  }
}

TEST_CASE("cpu: _safe_softmax gives zeros for a fully masked row, softmax elsewhere") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = make(DType::F32, {3, 3}, {-inf, -inf, -inf, 0, -inf, 0, 1, 2, 3});
  const std::vector<double> got = vals(callt("aten._safe_softmax.default", {T(x), I(-1)}));
  const std::vector<double> soft = vals(callt("aten._softmax.default", {T(x), I(-1), B(false)}));
  for (int i = 0; i < 3; ++i) CHECK(got[i] == 0);
  for (int i = 3; i < 9; ++i) CHECK(got[i] == soft[i]);
  CHECK(got[3] == 0.5);
  // dtype= converts first: bf16 in, float32 out.
  const Tensor y = callt("aten._safe_softmax.default", {T(x.to(DType::BF16)), I(1)}, {{"dtype", DT("float32")}});
  CHECK(y.dtype() == DType::F32);
  CHECK(vals(y)[0] == 0);
}

TEST_CASE("cpu: clamp, clamp_min, clamp_max propagate NaN") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = make(DType::F32, {4}, {-500, 1, 500, nan});
  auto c = vals(callt("aten.clamp.default", {T(x), F(-448.0), F(448.0)}));
  CHECK(c[0] == -448);
  CHECK(c[1] == 1);
  CHECK(c[2] == 448);
  CHECK(std::isnan(c[3]));
  auto lo = vals(callt("aten.clamp_min.default", {T(x), F(0.0)}));
  CHECK(lo[0] == 0);
  CHECK(lo[2] == 500);
  CHECK(std::isnan(lo[3]));
  auto hi = vals(callt("aten.clamp_max.default", {T(x), I(2)}));
  CHECK(hi[0] == -500);
  CHECK(hi[2] == 2);
  auto only_max = vals(callt("aten.clamp.default", {T(x), Value::none(), F(0.0)}));
  CHECK(only_max[1] == 0);
  CHECK(only_max[0] == -500);
}

TEST_CASE("cpu: reductions") {
  const Tensor x = make(DType::F32, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor m = callt("aten.mean.dim", {T(x), L({I(-1)}), B(true)});
  CHECK(m.shape() == Shape{2, 1});
  CHECK(vals(m) == std::vector<double>{2, 5});
  Tensor s = callt("aten.sum.dim_IntList", {T(x), L({I(0)})});
  CHECK(s.shape() == Shape{3});
  CHECK(vals(s) == std::vector<double>{5, 7, 9});
  CHECK(vals(callt("aten.sum.dim_IntList", {T(x), L({I(0), I(1)})})) == std::vector<double>{21});
  CHECK(vals(callt("aten.sum.default", {T(x)})) == std::vector<double>{21});
  CHECK(callt("aten.sum.default", {T(make(DType::I32, {2}, {1, 2}))}).dtype() == DType::I64);
  CHECK(vals(callt("aten.amax.default", {T(x), L({I(1)})})) == std::vector<double>{3, 6});
  Value mx = call("aten.max.dim", {T(make(DType::BF16, {2, 3}, {1, 7, 7, -1, -3, -2})), I(-1), B(true)});
  REQUIRE(mx.kind == Value::Kind::List);
  CHECK(mx.items[0].tensor.dtype() == DType::BF16);
  CHECK(mx.items[0].tensor.shape() == Shape{2, 1});
  CHECK(vals(mx.items[0].tensor) == std::vector<double>{7, -1});
  CHECK(mx.items[1].tensor.dtype() == DType::I64);
  CHECK(vals(mx.items[1].tensor) == std::vector<double>{1, 0});  // first occurrence
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Value mn = call("aten.max.dim", {T(make(DType::F32, {3}, {1, nan, 5})), I(0)});
  CHECK(std::isnan(vals(mn.items[0].tensor)[0]));
  CHECK(vals(mn.items[1].tensor)[0] == 1);
  // bf16 mean accumulates in float32 and rounds once.
  CHECK(callt("aten.mean.dim", {T(x.to(DType::BF16)), L({I(-1)})}).dtype() == DType::BF16);
}

TEST_CASE("cpu: float32 row sums use the canonical order of numerics.h") {
  std::vector<double> v;
  for (int i = 0; i < 300; ++i) v.push_back(std::ldexp(1.0 + (i * 37 % 101) / 101.0, (i % 17) - 8));
  const Tensor x = make(DType::F32, {1, 300}, v);
  const float want = num::row_sum_f32(x.data<float>(), 300);
  CHECK(callt("aten.sum.dim_IntList", {T(x), L({I(-1)})}).data<float>()[0] == want);
  CHECK(callt("aten.mean.dim", {T(x), L({I(-1)}), B(true)}).data<float>()[0] == want / 300.0f);
  // A reduction over a non-last dim sums the same row, permuted to the end.
  Tensor xt = callt("aten.permute.default", {T(x.as_strided({300, 1}, {1, 300}, 0)), L({I(1), I(0)})});
  CHECK(callt("aten.sum.dim_IntList", {T(x.as_strided({300, 1}, {1, 300}, 0)), L({I(0)})}).data<float>()[0] == want);
  (void)xt;
}

TEST_CASE("cpu: conversions round to nearest even; float to int truncates") {
  // bf16: 1 + 2^-8 ties to 1, 1 + 3*2^-8 ties to 1 + 2^-6.
  const Tensor f = make(DType::F32, {4}, {1.00390625, 1.01171875, -2.7, 2.7});
  Tensor b = callt("prims.convert_element_type.default", {T(f), DT("bfloat16")});
  CHECK(b.dtype() == DType::BF16);
  CHECK(vals(b)[0] == 1.0);
  CHECK(vals(b)[1] == 1.015625);
  CHECK(vals(callt("prims.convert_element_type.default", {T(f), DT("int64")})) == std::vector<double>{1, 1, -2, 2});
  CHECK(vals(callt("aten._to_copy.default", {T(f)}, {{"dtype", DT("int32")}})) == std::vector<double>{1, 1, -2, 2});
  // fp16: 1 + 2^-11 ties to 1.
  CHECK(vals(callt("prims.convert_element_type.default", {T(make(DType::F32, {1}, {1.0 + std::ldexp(1.0, -11)})), DT("float16")}))[0] == 1.0);
  CHECK(vals(callt("prims.convert_element_type.default", {T(make(DType::F32, {1}, {1.0})), DT("bool")}))[0] == 1.0);
}

TEST_CASE("cpu: fp8 conversions: every code, the ties, saturation to NaN as PyTorch") {
  for (DType d : {DType::F8E4M3FN, DType::F8E4M3FNUZ}) {
    CAPTURE(dtype_name(d));
    const int bias = d == DType::F8E4M3FN ? 7 : 8;
    Tensor codes = Tensor::empty(d, {256});
    for (int c = 0; c < 256; ++c) codes.data<uint8_t>()[c] = static_cast<uint8_t>(c);
    Tensor f = callt("prims.convert_element_type.default", {T(codes), DT("float32")});
    Tensor back = callt("prims.convert_element_type.default", {T(f), DT(dtype_name(d))});
    for (int c = 0; c < 256; ++c) {
      CAPTURE(c);
      const float v = f.data<float>()[c];
      const bool is_nan = d == DType::F8E4M3FN ? (c & 0x7F) == 0x7F : c == 0x80;
      if (is_nan) {
        CHECK(std::isnan(v));
        continue;
      }
      const int e = (c >> 3) & 0xF, m = c & 7;
      double mag = e == 0 ? std::ldexp(m / 8.0, 1 - bias) : std::ldexp(1.0 + m / 8.0, e - bias);
      CHECK(static_cast<double>(v) == ((c & 0x80) ? -mag : mag));
      CHECK(back.data<uint8_t>()[c] == c);
    }
    // Ties: the midpoint of two neighbouring positive codes rounds to the even code.
    std::vector<double> mids;
    std::vector<int> want;
    for (int c = 0; c < 0x7E; ++c) {
      if (d == DType::F8E4M3FNUZ && c >= 0x7F) break;
      mids.push_back((static_cast<double>(f.data<float>()[c]) + f.data<float>()[c + 1]) / 2);
      want.push_back((c & 1) ? c + 1 : c);
    }
    Tensor q = callt("prims.convert_element_type.default", {T(make(DType::F32, {static_cast<int64_t>(mids.size())}, mids)), DT(dtype_name(d))});
    for (size_t i = 0; i < mids.size(); ++i) {
      CAPTURE(mids[i]);
      CHECK(q.data<uint8_t>()[i] == want[i]);
    }
  }
  // Not saturating (c10): 448 is the e4m3fn max, 464 (a tie) rounds to it, beyond rounds to the NaN code;
  // e4m3fnuz: 240 is the max, above the tie 248 rounds to 0x80 (NaN).
  Tensor big = make(DType::F32, {4}, {448, 464, 470, -1000});
  Tensor q = callt("prims.convert_element_type.default", {T(big), DT("float8_e4m3fn")});
  CHECK(q.data<uint8_t>()[0] == 0x7E);
  CHECK(q.data<uint8_t>()[1] == 0x7E);
  CHECK(q.data<uint8_t>()[2] == 0x7F);
  CHECK(q.data<uint8_t>()[3] == 0xFF);
  Tensor qz = callt("prims.convert_element_type.default", {T(make(DType::F32, {3}, {240, 244, 250})), DT("float8_e4m3fnuz")});
  CHECK(qz.data<uint8_t>()[0] == 0x7F);
  CHECK(qz.data<uint8_t>()[1] == 0x7F);
  CHECK(qz.data<uint8_t>()[2] == 0x80);
}

TEST_CASE("cpu: reshape, squeeze, unsqueeze, permute and expand are views when the strides allow") {
  const Tensor x = make(DType::F32, {2, 3, 4}, std::vector<double>(24, 0.0));
  for (int i = 0; i < 24; ++i) x.data<float>()[i] = static_cast<float>(i);
  Tensor r = callt("aten.reshape.default", {T(x), L({I(-1), I(4)})});
  CHECK(r.shape() == Shape{6, 4});
  CHECK(r.storage() == x.storage());
  Tensor p = callt("aten.permute.default", {T(x), L({I(2), I(0), I(1)})});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.storage() == x.storage());
  CHECK(p.value_at(1) == 4);  // p[0,0,1] = x[0,1,0]
  CHECK(callt("aten.reshape.default", {T(p), L({I(4), I(6)})}).storage() == x.storage());  // (2,3) merge
  Tensor rp = callt("aten.reshape.default", {T(p), L({I(24)})});
  CHECK(rp.storage() != x.storage());  // not viewable: copied
  CHECK(vals(rp)[1] == 4);
  Tensor u = callt("aten.unsqueeze.default", {T(x), I(-1)});
  CHECK(u.shape() == Shape{2, 3, 4, 1});
  Tensor s = callt("aten.squeeze.dim", {T(u), I(-1)});
  CHECK(s.shape() == Shape{2, 3, 4});
  CHECK(callt("aten.squeeze.dim", {T(x), I(0)}).shape() == Shape{2, 3, 4});  // size 2: unchanged
  Tensor e = callt("aten.expand.default", {T(make(DType::F32, {3, 1}, {1, 2, 3})), L({I(2), I(-1), I(4)})});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides() == Shape{0, 1, 0});
  CHECK(vals(e)[5] == 2);
  CHECK(callt("aten.view.default", {T(x), L({I(24)})}).shape() == Shape{24});
  CHECK_THROWS_AS(call("aten.reshape.default", {T(x), L({I(5), I(-1)})}), InputError);
  Tensor c = callt("aten.clone.default", {T(p)});
  CHECK(c.is_contiguous());
  CHECK(vals(c) == vals(p));
  Value gi = call("_operator.getitem", {L({I(5), I(6)}), I(-1)});
  CHECK(gi.i == 6);
}

TEST_CASE("cpu: mm and addmm") {
  const Tensor a = make(DType::F32, {2, 2}, {1, 2, 3, 4});
  const Tensor b = make(DType::F32, {2, 2}, {5, 6, 7, 8});
  CHECK(vals(callt("aten.mm.default", {T(a), T(b)})) == std::vector<double>{19, 22, 43, 50});
  const Tensor bias = make(DType::F32, {2}, {1, -1});
  CHECK(vals(callt("aten.addmm.default", {T(bias), T(a), T(b)})) == std::vector<double>{20, 21, 44, 49});
  CHECK(vals(callt("aten.addmm.default", {T(bias), T(a), T(b)}, {{"beta", I(0)}, {"alpha", I(2)}})) ==
        std::vector<double>{38, 44, 86, 100});
  // Odd sizes (partial panels) and a transposed B: bit-identical to a sequential float32 sum over k.
  const int64_t M = 7, K = 13, N = 37;
  Tensor A = random_tensor(DType::BF16, {M, K}, 1, "A");
  Tensor Bt = random_tensor(DType::BF16, {N, K}, 1, "B");
  Tensor Bv = Bt.as_strided({K, N}, {1, K}, 0);
  Tensor C = callt("aten.mm.default", {T(A), T(Bv)});
  CHECK(C.dtype() == DType::BF16);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = acc + static_cast<float>(A.value_at(i * K + k)) * static_cast<float>(Bt.value_at(j * K + k));
      CHECK(C.value_at(i * N + j) == static_cast<double>(num::bf16_to_f32(num::f32_to_bf16(acc))));
    }
  CHECK_THROWS_AS(call("aten.mm.default", {T(a), T(make(DType::F32, {3, 2}, {1, 2, 3, 4, 5, 6}))}), InputError);
}

TEST_CASE("cpu: SymInt arithmetic has Python semantics") {
  CHECK(call("_operator.floordiv", {I(-7), I(2)}).i == -4);
  CHECK(call("_operator.mod", {I(-7), I(2)}).i == 1);
  CHECK(call("_operator.mul", {I(32), I(16)}).i == 512);
  CHECK(call("_operator.add", {I(3), I(-5)}).i == -2);
  CHECK(call("_operator.sub", {I(3), I(5)}).i == -2);
  CHECK(call("_operator.neg", {I(3)}).i == -3);
  CHECK(call("_operator.truediv", {I(7), I(2)}).f == 3.5);
  CHECK_THROWS_AS(call("_operator.floordiv", {I(1), I(0)}), InputError);
  const Tensor x = make(DType::F32, {2, 5}, std::vector<double>(10, 0.0));
  CHECK(call("aten.sym_size.int", {T(x), I(-1)}).i == 5);
  CHECK(call("aten.sym_numel.default", {T(x)}).i == 10);
}

TEST_CASE("cpu: fused ops equal the reference implementations and check their arguments") {
  const int64_t M = 6, D = 256;
  Tensor x = random_tensor(DType::BF16, {M, D}, 3, "x");
  Tensor z = random_tensor(DType::BF16, {M, D}, 3, "z");
  Tensor w = random_tensor(DType::BF16, {D}, 3, "w");
  for (DType fp8 : {DType::F8E4M3FN, DType::F8E4M3FNUZ}) {
    Node node;
    node.val = ValMeta{};
    node.val->kind = ValMeta::Kind::Tuple;
    ValMeta q;
    q.kind = ValMeta::Kind::Tensor;
    q.tensor.dtype = dtype_name(fp8);
    node.val->items = {q, ValMeta{}};
    Value r = call("vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default",
                   {T(x), T(w), Value::none(), T(z), F(1e-6), B(true), [] { Value v; v.kind = Value::Kind::Str; v.s = "silu"; return v; }(), I(128)},
                   {}, &node);
    REQUIRE(r.kind == Value::Kind::List);
    CHECK(r.items[0].tensor.dtype() == fp8);
    CHECK(r.items[0].tensor.shape() == Shape{M, D});
    CHECK(r.items[1].tensor.shape() == Shape{M, 2});
    std::vector<uint8_t> wq(M * D);
    std::vector<float> ws(M * 2);
    num::fused_rms_gated_fp8_group_quant(x.data<uint16_t>(), w.data<uint16_t>(), z.data<uint16_t>(), M, D, 1e-6, 128,
                                         fp8_format(fp8), wq.data(), ws.data());
    CHECK(std::memcmp(wq.data(), r.items[0].tensor.raw(), wq.size()) == 0);
    CHECK(std::memcmp(ws.data(), r.items[1].tensor.raw(), ws.size() * 4) == 0);
  }
  Value g = call("vllm.rocm_aiter_group_fp8_quant.default", {T(x), I(64)});
  CHECK(g.items[1].tensor.shape() == Shape{M, 4});
  Value rq = call("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", {T(x), T(w), F(1e-6), DT("float8_e4m3fn")});
  CHECK(rq.items[1].tensor.shape() == Shape{M, 1});
  CHECK_THROWS_AS(call("vllm.rocm_aiter_group_fp8_quant.default", {T(x), I(100)}), InputError);  // 256 % 100
  CHECK_THROWS_AS(call("vllm.rocm_aiter_group_fp8_quant.default", {T(x.to(DType::F32)), I(128)}), InputError);
}
