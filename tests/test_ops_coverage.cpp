// Unit tests of the executor's broad op coverage against hand-computed values: comparisons, logical and
// bitwise ops, where, division modes, data movement (views keep storage and strides), cat/split/pad/
// scatter, factories, reductions and softmax statistics, SymInt arithmetic, every dtype, and the
// up-front checks of whole graphs (errors name the node).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"
#include "runtime/op_registry.h"
#include "tests/tensor_util.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::rt::test;

namespace {


Value call(const char* target, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kwargs = {}) {
  KernelArgs in{std::move(args), std::move(kwargs)};
  ExecContext ctx;
  ctx.threads = 2;
  return call_op(target, in, ctx);
}
Tensor callt(const char* target, std::vector<Value> args, std::vector<std::pair<std::string, Value>> kwargs = {}) {
  Value v = call(target, std::move(args), std::move(kwargs));
  REQUIRE(v.is_tensor());
  return v.tensor;
}

const double kNan = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("ops: comparisons, logical and bitwise ops give bool or the promoted integer dtype") {
  const Tensor a = make(DType::BF16, {4}, {1, 2, kNan, -0.0});
  const Tensor eq = callt("aten.eq.Scalar", {T(a), F(2.0)});
  CHECK(eq.dtype() == DType::Bool);
  CHECK(vals(eq) == std::vector<double>{0, 1, 0, 0});
  CHECK(vals(callt("aten.ne.Scalar", {T(a), F(0.0)})) == std::vector<double>{1, 1, 1, 0});  // NaN != 0; -0 == 0
  const Tensor col = make(DType::I64, {2, 1}, {1, 3});
  const Tensor row = make(DType::I32, {3}, {0, 2, 4});
  const Tensor lt = callt("aten.lt.Tensor", {T(col), T(row)});
  CHECK(lt.shape() == Shape{2, 3});
  CHECK(vals(lt) == std::vector<double>{0, 1, 1, 0, 0, 1});
  const Tensor p = make(DType::Bool, {4}, {1, 1, 0, 0}), q = make(DType::Bool, {4}, {1, 0, 1, 0});
  CHECK(vals(callt("aten.logical_and.default", {T(p), T(q)})) == std::vector<double>{1, 0, 0, 0});
  CHECK(vals(callt("aten.logical_xor.default", {T(p), T(q)})) == std::vector<double>{0, 1, 1, 0});
  CHECK(vals(callt("aten.logical_not.default", {T(a)})) == std::vector<double>{0, 0, 0, 1});
  const Tensor band = callt("aten.bitwise_and.Tensor", {T(p), T(q)});
  CHECK(band.dtype() == DType::Bool);
  CHECK(vals(band) == std::vector<double>{1, 0, 0, 0});
  CHECK(vals(callt("aten.bitwise_and.Scalar", {T(row), I(6)})) == std::vector<double>{0, 2, 4});
  CHECK(vals(callt("aten.bitwise_not.default", {T(p)})) == std::vector<double>{0, 0, 1, 1});
  CHECK(vals(callt("aten.bitwise_not.default", {T(row)})) == std::vector<double>{-1, -3, -5});
  CHECK_THROWS_WITH_AS(call("aten.bitwise_and.Tensor", {T(a), T(a)}), doctest::Contains("bitwise ops need integer"), InputError);
}

TEST_CASE("ops: where and masked_fill promote self and other; numbers are wrapped scalars") {
  const Tensor c = make(DType::Bool, {3}, {1, 0, 1});
  const Tensor x = make(DType::BF16, {3}, {1.5, 2.5, 3.5});
  const Tensor w = callt("aten.where.self", {T(c), T(x), F(0.0)});
  CHECK(w.dtype() == DType::BF16);
  CHECK(vals(w) == std::vector<double>{1.5, 0, 3.5});
  const Tensor wi = callt("aten.where.self", {T(c), I(1), I(-1)});
  CHECK(wi.dtype() == DType::I64);
  CHECK(vals(wi) == std::vector<double>{1, -1, 1});
  CHECK(vals(callt("aten.masked_fill.Scalar", {T(x), T(c), F(-kInf)})) == std::vector<double>{-kInf, 2.5, -kInf});
  CHECK_THROWS_WITH_AS(call("aten.where.self", {T(x), T(x), T(x)}), doctest::Contains("the condition must be bool"), InputError);
}

TEST_CASE("ops: division modes, remainder and pow follow Python's rounding") {
  const Tensor a = make(DType::I64, {4}, {7, -7, 7, -7});
  const Tensor b = make(DType::I64, {4}, {2, 2, -2, -2});
  CHECK(vals(callt("aten.div.Tensor_mode", {T(a), T(b)}, {{"rounding_mode", S("floor")}})) == std::vector<double>{3, -4, -4, 3});
  CHECK(vals(callt("aten.div.Tensor_mode", {T(a), T(b)}, {{"rounding_mode", S("trunc")}})) == std::vector<double>{3, -3, -3, 3});
  const Tensor t = callt("aten.div.Tensor", {T(a), T(b)});
  CHECK(t.dtype() == DType::F32);
  CHECK(vals(t) == std::vector<double>{3.5, -3.5, -3.5, 3.5});
  CHECK(vals(callt("aten.remainder.Scalar", {T(a), I(3)})) == std::vector<double>{1, 2, 1, 2});
  const Tensor f = make(DType::F32, {3}, {-7.5, 7.5, 1.0});
  CHECK(vals(callt("aten.div.Tensor_mode", {T(f), F(2.0)}, {{"rounding_mode", S("floor")}})) == std::vector<double>{-4, 3, 0});
  CHECK_THROWS_WITH_AS(call("aten.div.Tensor_mode", {T(a), I(0)}, {{"rounding_mode", S("floor")}}),
                       doctest::Contains("integer division by zero"), InputError);
  CHECK(vals(callt("aten.pow.Tensor_Scalar", {T(a), I(2)})) == std::vector<double>{49, 49, 49, 49});
  CHECK(vals(callt("aten.pow.Scalar", {F(2.0), T(make(DType::F32, {2}, {3, -1}))})) == std::vector<double>{8, 0.5});
}

TEST_CASE("ops: unary math in float32 for integer inputs; gelu, erf, log1p, tanh") {
  const Tensor i = make(DType::I32, {2}, {0, 1});
  const Tensor e = callt("aten.erf.default", {T(i)});
  CHECK(e.dtype() == DType::F32);
  CHECK(vals(e)[1] == static_cast<float>(std::erf(1.0f)));
  const Tensor x = make(DType::F64, {3}, {-1, 0, 2});
  const Tensor l1 = callt("aten.log1p.default", {T(x)});
  CHECK(l1.dtype() == DType::F64);
  volatile double two = 2.0;  // libm at run time (a constant would fold to the correctly rounded value)
  CHECK(vals(l1)[2] == std::log1p(two));
  CHECK(vals(callt("aten.tanh.default", {T(x)}))[0] == std::tanh(-1.0));
  const Tensor g = callt("aten.gelu.default", {T(x)});
  CHECK(vals(g)[2] == doctest::Approx(2.0 * 0.5 * (1 + std::erf(2 / std::sqrt(2.0)))));
  CHECK(vals(callt("aten.sign.default", {T(x)})) == std::vector<double>{-1, 0, 1});
  const Tensor nf = make(DType::F16, {3}, {kNan, kInf, 1});
  CHECK(vals(callt("aten.isnan.default", {T(nf)})) == std::vector<double>{1, 0, 0});
  CHECK(vals(callt("aten.isinf.default", {T(nf)})) == std::vector<double>{0, 1, 0});
}

TEST_CASE("ops: views share storage and keep strides and offsets") {
  const Tensor x = make(DType::F32, {3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const Tensor s = callt("aten.slice.Tensor", {T(x), I(1), I(1), I(-1), I(2)});
  CHECK(s.shape() == Shape{3, 1});
  CHECK(s.strides() == Shape{4, 2});
  CHECK(s.offset() == 1);
  CHECK(s.storage() == x.storage());
  CHECK(vals(s) == std::vector<double>{1, 5, 9});
  const Tensor sel = callt("aten.select.int", {T(x), I(0), I(-1)});
  CHECK(sel.offset() == 8);
  CHECK(vals(sel) == std::vector<double>{8, 9, 10, 11});
  CHECK_THROWS_WITH_AS(call("aten.select.int", {T(x), I(0), I(3)}),
                       "select: index 3 is out of range for dimension 0 of size 3", InputError);
  const Value parts = call("aten.split.Tensor", {T(x), I(3), I(1)});
  REQUIRE(parts.items.size() == 2);
  CHECK(parts.items[1].tensor.shape() == Shape{3, 1});
  CHECK(parts.items[1].tensor.offset() == 3);
  CHECK_THROWS_WITH_AS(call("aten.split_with_sizes.default", {T(x), L({I(1), I(2)}), I(1)}),
                       doctest::Contains("sizes sum to 3 but dimension 1 has size 4"), InputError);
  const Value ub = call("aten.unbind.int", {T(x), I(1)});
  REQUIRE(ub.items.size() == 4);
  CHECK(vals(ub.items[2].tensor) == std::vector<double>{2, 6, 10});
  const Tensor n = callt("aten.narrow.default", {T(x), I(0), I(1), I(2)});
  CHECK(vals(n) == std::vector<double>{4, 5, 6, 7, 8, 9, 10, 11});
  const Tensor as = callt("aten.as_strided.default", {T(x), L({I(2), I(2)}), L({I(1), I(4)}), I(1)});
  CHECK(vals(as) == std::vector<double>{1, 5, 2, 6});
  CHECK_THROWS_WITH_AS(call("aten.as_strided.default", {T(x), L({I(4)}), L({I(4)})}),
                       doctest::Contains("beyond the storage of 12 elements"), InputError);
  const Tensor v = callt("aten.view.dtype", {T(make(DType::F32, {1}, {1.0})), DT("int32")});
  CHECK(v.dtype() == DType::I32);
  CHECK(vals(v)[0] == 0x3F800000);
}

TEST_CASE("ops: cat, stack, constant_pad_nd, *_scatter, copy, repeat, flip, tril") {
  const Tensor a = make(DType::BF16, {2, 1}, {1, 2});
  const Tensor b = make(DType::F32, {2, 2}, {3, 4, 5, 6});
  const Tensor empty = make(DType::F32, {0}, {});
  const Tensor c = callt("aten.cat.default", {L({T(a), T(empty), T(b)}), I(1)});
  CHECK(c.dtype() == DType::F32);
  CHECK(c.shape() == Shape{2, 3});
  CHECK(vals(c) == std::vector<double>{1, 3, 4, 2, 5, 6});
  CHECK_THROWS_WITH_AS(call("aten.cat.default", {L({T(a), T(b)}), I(0)}), doctest::Contains("sizes must match except in dimension 0"),
                       InputError);
  CHECK(vals(callt("aten.stack.default", {L({T(b), T(b)}), I(2)})) == std::vector<double>{3, 3, 4, 4, 5, 5, 6, 6});
  const Tensor p = callt("aten.constant_pad_nd.default", {T(b), L({I(1), I(-1), I(0), I(1)}), F(9)});
  CHECK(p.shape() == Shape{3, 2});
  CHECK(vals(p) == std::vector<double>{9, 3, 9, 5, 9, 9});
  const Tensor z = make(DType::F32, {3, 4}, std::vector<double>(12, 0));
  const Tensor src = make(DType::F32, {3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor ss = callt("aten.slice_scatter.default", {T(z), T(src), I(1), I(1), I(4), I(2)});
  CHECK(vals(ss) == std::vector<double>{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6});
  CHECK_THROWS_WITH_AS(call("aten.slice_scatter.default", {T(z), T(b), I(1), I(1), I(4), I(2)}),
                       "slice_scatter: src has shape [2, 2] but the slice is [3, 2]", InputError);
  CHECK(vals(z) == std::vector<double>(12, 0));  // the input is not modified
  const Tensor sel = callt("aten.select_scatter.default", {T(z), T(make(DType::F32, {4}, {1, 2, 3, 4})), I(0), I(-1)});
  CHECK(vals(sel) == std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4});
  const Tensor cp = callt("aten.copy.default", {T(make(DType::I32, {2, 2}, {0, 0, 0, 0})), T(make(DType::F32, {2}, {1.7, -2.7}))});
  CHECK(cp.dtype() == DType::I32);
  CHECK(vals(cp) == std::vector<double>{1, -2, 1, -2});
  CHECK(vals(callt("aten.repeat.default", {T(a), L({I(1), I(2)})})) == std::vector<double>{1, 1, 2, 2});
  CHECK(vals(callt("aten.flip.default", {T(b), L({I(0), I(1)})})) == std::vector<double>{6, 5, 4, 3});
  CHECK(vals(callt("aten.tril.default", {T(b)})) == std::vector<double>{3, 0, 5, 6});
  CHECK(vals(callt("aten.triu.default", {T(b), I(1)})) == std::vector<double>{0, 4, 0, 0});
}

TEST_CASE("ops: factories take their dtype from dtype= or the fill value") {
  const Tensor f = callt("aten.full.default", {L({I(2), I(2)}), I(3)});
  CHECK(f.dtype() == DType::I64);
  CHECK(vals(f) == std::vector<double>{3, 3, 3, 3});
  CHECK(callt("aten.full.default", {L({I(1)}), F(0.5)}).dtype() == DType::F32);
  CHECK(callt("aten.full.default", {L({I(1)}), B(true)}).dtype() == DType::Bool);
  const Tensor fb = callt("aten.full.default", {L({I(2)}), F(-kInf)}, {{"dtype", DT("bfloat16")}});
  CHECK(fb.dtype() == DType::BF16);
  CHECK(vals(fb)[0] == -kInf);
  const Tensor io = callt("prims.iota.default", {I(4)}, {{"start", I(2)}, {"step", I(3)}, {"dtype", DT("int32")},
                                                          {"device", N()}, {"requires_grad", B(false)}});
  CHECK(io.dtype() == DType::I32);
  CHECK(vals(io) == std::vector<double>{2, 5, 8, 11});
  CHECK(vals(callt("aten.arange.start_step", {I(1), I(8), I(3)})) == std::vector<double>{1, 4, 7});
  CHECK(callt("aten.arange.default", {F(2.5)}).dtype() == DType::F32);
  CHECK(vals(callt("aten.zeros_like.default", {T(make(DType::U8, {2}, {5, 6}))})) == std::vector<double>{0, 0});
  CHECK(vals(callt("aten.empty.memory_format", {L({I(3)})})) == std::vector<double>{0, 0, 0});
  CHECK(callt("aten.scalar_tensor.default", {F(1.5)}, {{"dtype", DT("float64")}}).dtype() == DType::F64);
  CHECK_THROWS_WITH_AS(call("aten.full.default", {L({I(-1)}), I(0)}), doctest::Contains("negative size -1"), InputError);
}

TEST_CASE("ops: reductions, var_mean and the online-softmax statistics") {
  const Tensor x = make(DType::F32, {2, 3}, {1, 2, 3, 4, 5, 9});
  const Value vm = call("aten.var_mean.correction", {T(x), L({I(1)})}, {{"correction", I(0)}, {"keepdim", B(true)}});
  REQUIRE(vm.items.size() == 2);
  CHECK(vm.items[0].tensor.shape() == Shape{2, 1});
  CHECK(vals(vm.items[0].tensor)[0] == doctest::Approx(2.0 / 3));
  CHECK(vals(vm.items[1].tensor) == std::vector<double>{2, 6});
  CHECK(vals(callt("aten.var.correction", {T(x)}, {})) == std::vector<double>{8});
  const Value so = call("prims.prepare_softmax_online.default", {T(x), I(1)});
  CHECK(vals(so.items[0].tensor) == std::vector<double>{3, 9});
  CHECK(vals(so.items[1].tensor)[0] == doctest::Approx(1 + std::exp(-1.0) + std::exp(-2.0)).epsilon(1e-6));
  const Tensor sm = callt("aten._softmax.default", {T(x), I(0), B(false)});
  CHECK(vals(sm)[0] == doctest::Approx(1 / (1 + std::exp(3.0))).epsilon(1e-6));
  CHECK(vals(callt("aten.argmax.default", {T(x)}, {})) == std::vector<double>{5});
  CHECK(vals(callt("aten.any.dim", {T(make(DType::I32, {2, 2}, {0, 0, 0, 3})), I(1)})) == std::vector<double>{0, 1});
  CHECK(vals(callt("aten.prod.dim_int", {T(x), I(1)})) == std::vector<double>{6, 180});
  const Tensor bsum = callt("aten.sum.dim_IntList", {T(make(DType::Bool, {3}, {1, 1, 0})), L({I(0)})});
  CHECK(bsum.dtype() == DType::I64);
  CHECK(vals(bsum) == std::vector<double>{2});
  CHECK_THROWS_WITH_AS(call("aten.amax.default", {T(make(DType::F32, {0, 2}, {})), L({I(0)})}),
                       doctest::Contains("empty dimension"), InputError);
}

TEST_CASE("ops: every dtype converts and copies bit-exactly where PyTorch does") {
  const std::vector<double> v{0, 1, -2, 100};
  for (const char* name : {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
                           "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz"}) {
    CAPTURE(name);
    const DType d = *dtype_from_name(name);
    const Tensor src = make(DType::F64, {4}, v);
    const Tensor c = callt("prims.convert_element_type.default", {T(src), DT(name)});
    CHECK(c.dtype() == d);
    const Tensor back = callt("prims.convert_element_type.default", {T(c), DT("float64")});
    const std::vector<double> want =
        d == DType::Bool ? std::vector<double>{0, 1, 1, 1}
        : d == DType::U8 ? std::vector<double>{0, 1, 254, 100}
        : d == DType::F8E4M3FN || d == DType::F8E4M3FNUZ ? std::vector<double>{0, 1, -2, 96}
        : d == DType::F8E5M2 ? std::vector<double>{0, 1, -2, 96} : v;
    CHECK(vals(back) == want);
    // clone and a transposed copy keep the bits.
    const Tensor m = callt("aten.reshape.default", {T(c), L({I(2), I(2)})});
    const Tensor t = callt("aten.clone.default", {T(callt("aten.permute.default", {T(m), L({I(1), I(0)})}))});
    CHECK(t.is_contiguous());
    CHECK(vals(t) == std::vector<double>{vals(m)[0], vals(m)[2], vals(m)[1], vals(m)[3]});
  }
}

TEST_CASE("ops: SymInt arithmetic with Python semantics") {
  CHECK(call("_operator.floordiv", {I(-7), I(2)}).i == -4);
  CHECK(call("_operator.mod", {I(-7), I(2)}).i == 1);
  CHECK(call("_operator.truediv", {I(7), I(2)}).f == 3.5);
  CHECK(call("_operator.lt", {I(1), F(1.5)}).b);
  CHECK(call("torch.sym_max", {I(3), I(9)}).i == 9);
  CHECK(call("math.ceil", {F(2.1)}).i == 3);
  CHECK(call("aten.sym_size.int", {T(Tensor::meta(DType::F32, {5, 7})), I(-1)}).i == 7);
  CHECK_THROWS_WITH_AS(call("_operator.mul", {I(INT64_MAX), I(2)}), "integer overflow in SymInt arithmetic", InputError);
  CHECK_THROWS_WITH_AS(call("aten._assert_scalar.default", {B(false), S("u0 >= 0")}), "assertion failed: u0 >= 0", InputError);
}

namespace {
// A two-input graph: placeholders x (int64 [4]) and w (bfloat16 [8, 2]); node `emb` = embedding(w, x).
Graph embedding_graph(const char* target = "aten.embedding.default", const char* xdtype = "int64") {
  const std::string text = std::string(R"({"format": "fxgraph", "version": 1, "symbols": {}, "nodes": [
 {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": ")") + xdtype +
                           R"(", "shape": [4], "stride": [1], "device": "cpu"}}},
 {"name": "w", "op": "placeholder", "target": "w", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "bfloat16", "shape": [8, 2], "stride": [2, 1], "device": "cpu"}}},
 {"name": "emb", "op": "call_function", "target": ")" + target + R"(", "args": [{"node": "w"}, {"node": "x"}], "kwargs": {}, "meta": {"val": {"dtype": "bfloat16", "shape": [4, 2], "stride": [2, 1], "device": "cpu"}}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "emb"}]], "kwargs": {}, "meta": {}}]})";
  return read_graph_text(text, "emb.json");
}
}  // namespace

TEST_CASE("executor: an index out of range is an error naming the node and the index") {
  const Graph g = embedding_graph();
  TensorMap in{{"x", make(DType::I64, {4}, {0, 7, 8, 1})}, {"w", make(DType::BF16, {8, 2}, std::vector<double>(16, 1))}};
  CHECK_THROWS_WITH_AS(run_graph(g, {}, in), doctest::Contains("node 'emb' (aten.embedding.default): "), InputError);
  CHECK_THROWS_WITH_AS(run_graph(g, {}, in), doctest::Contains(" 8 "), InputError);
  in["x"] = make(DType::I64, {4}, {0, 7, 3, 1});
  const ExecResult r = run_graph(g, {}, in);
  CHECK(r.outputs[0].tensor.shape() == Shape{4, 2});
}

TEST_CASE("executor: argument and dtype errors are found before anything runs, naming the node") {
  const Graph g = embedding_graph("aten.embedding.default", "float32");
  const TensorMap in{{"x", make(DType::F32, {4}, {0, 1, 2, 3})}, {"w", make(DType::BF16, {8, 2}, std::vector<double>(16, 1))}};
  CHECK_THROWS_WITH_AS(plan_graph(g, {}, in, cpu_backend()),
                       "node 'emb' (aten.embedding.default): embedding indices must be int64 or int32, got float32",
                       InputError);
  // mm on int64 operands: the CPU row does not take them; listed up front.
  const Graph mm = embedding_graph("aten.mm.default", "int64");
  const TensorMap ints{{"x", make(DType::I64, {4}, {0, 1, 2, 3})}, {"w", make(DType::I64, {8, 2}, std::vector<double>(16, 1))}};
  CHECK_THROWS_AS(plan_graph(mm, {}, ints, cpu_backend()), InputError);
}

namespace {
// A stand-in for a GPU backend in a CPU build: "device" tensors are host copies marked "fake-gpu", and
// no row has a GPU compute, so every node that computes falls back to the CPU with copies.
class FakeGpu final : public Backend {
 public:
  std::string_view device_name() const override { return "fake-gpu"; }
  bool is_gpu() const override { return true; }
  Tensor upload(const Tensor& host) const override {
    Tensor t = host.to(host.dtype());
    t.storage()->device = "fake-gpu";
    return t;
  }
  Tensor download(const Tensor& t) const override {
    REQUIRE(t.storage()->device == "fake-gpu");  // the CPU compute never sees a device tensor
    return t.to(t.dtype());
  }
};
}  // namespace

TEST_CASE("executor: on a GPU run, nodes without a GPU kernel run on the CPU with copies; --no-fallback refuses") {
  const Graph g = embedding_graph();
  const TensorMap in{{"x", make(DType::I64, {4}, {0, 7, 3, 1})}, {"w", make(DType::BF16, {8, 2}, std::vector<double>(16, 2))}};
  const FakeGpu gpu;
  ExecOptions o;
  o.backend = &gpu;
  const ExecResult r = run_graph(g, {}, in, o);
  REQUIRE(r.fallbacks.size() == 1);
  CHECK(r.fallbacks[0].name == "emb");
  CHECK(r.fallbacks[0].bytes == 8 * 2 * 2 + 4 * 8 + 4 * 2 * 2);  // w and x down, the result up
  CHECK(vals(r.outputs[0].tensor) == std::vector<double>(8, 2));
  o.allow_fallback = false;
  CHECK_THROWS_WITH_AS(run_graph(g, {}, in, o),
                       "1 node has no GPU kernel for its arguments (--no-fallback; nothing was run):\n"
                       "  emb (aten.embedding.default)",
                       InputError);
  // Views and SymInt ops need no kernel: they run where their inputs live.
  const std::vector<NodePlan> plan = plan_graph(g, {}, in, gpu);
  CHECK(plan[2].placement == Placement::Cpu);
}

TEST_CASE("executor: nodes after a data-dependent shape are checked and placed when they run") {
  const char* text = R"({"format": "fxgraph", "version": 1, "symbols": {}, "nodes": [
 {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [4], "stride": [1], "device": "cpu"}}},
 {"name": "m", "op": "placeholder", "target": "m", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "bool", "shape": [4], "stride": [1], "device": "cpu"}}},
 {"name": "sel", "op": "call_function", "target": "aten.index.Tensor", "args": [{"node": "x"}, [{"node": "m"}]], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": ["u0"], "stride": [1], "device": "cpu"}}},
 {"name": "neg", "op": "call_function", "target": "aten.neg.default", "args": [{"node": "sel"}], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": ["u0"], "stride": [1], "device": "cpu"}}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "neg"}]], "kwargs": {}, "meta": {}}]})";
  const Graph g = read_graph_text(text, "dd.json");
  const TensorMap in{{"x", make(DType::F32, {4}, {1, 2, 3, 4})}, {"m", make(DType::Bool, {4}, {1, 0, 1, 0})}};
  const std::vector<NodePlan> plan = plan_graph(g, {}, in, cpu_backend());
  CHECK_FALSE(plan[2].meta.has_value());  // the mask's count is data
  CHECK(plan[3].deferred);
  const ExecResult r = run_graph(g, {}, in);
  CHECK(vals(r.outputs[0].tensor) == std::vector<double>{-1, -3});
  const FakeGpu gpu;
  ExecOptions o;
  o.backend = &gpu;
  const ExecResult rg = run_graph(g, {}, in, o);
  CHECK(rg.fallbacks.size() == 2);
  CHECK(vals(rg.outputs[0].tensor) == std::vector<double>{-1, -3});
}
