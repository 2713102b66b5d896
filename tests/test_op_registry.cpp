// Unit tests of the op registry: schema parsing, argument decoding (defaults, keywords, errors), the
// consistency of every row, and the up-front plan of a graph (meta rules, placement).
#include <doctest/doctest.h>

#include "core/ir/error.h"
#include "runtime/op_registry.h"
#include "tests/tensor_util.h"

using namespace fxopt;
using namespace fxopt::rt;
using namespace fxopt::rt::test;

TEST_CASE("op registry: schemas parse into typed arguments with defaults") {
  const Schema s = parse_schema(
      "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor");
  CHECK(s.name == "sum");
  CHECK(s.overload == "dim_IntList");
  REQUIRE(s.args.size() == 4);
  CHECK(s.args[1].type == ArgType::Int);
  CHECK(s.args[1].list);
  CHECK(s.args[1].list_size == 1);
  CHECK(s.args[1].optional);
  CHECK(s.args[2].default_value->kind == Value::Kind::Bool);
  CHECK_FALSE(s.args[2].kwarg_only);
  CHECK(s.args[3].kwarg_only);
  CHECK(s.returns.size() == 1);

  const Schema idx = parse_schema("index.Tensor(Tensor self, Tensor?[] indices) -> Tensor");
  CHECK(idx.args[1].list);
  CHECK(idx.args[1].item_optional);
  CHECK_FALSE(idx.args[1].optional);
  const Schema split = parse_schema("split.Tensor(Tensor(a -> *) self, SymInt split_size, int dim=0) -> Tensor(a)[]");
  CHECK(split.returns_list);
  const Schema two = parse_schema("max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)");
  CHECK(two.returns.size() == 2);
  const Schema none = parse_schema("_assert_scalar(Scalar self, str assert_msg) -> ()");
  CHECK(none.returns.empty());
  const Schema gelu = parse_schema("gelu(Tensor self, *, str approximate='none') -> Tensor");
  CHECK(gelu.args[1].default_value->s == "none");
  const Schema ct = parse_schema("contiguous(Tensor(a) self, *, MemoryFormat memory_format=contiguous_format) -> Tensor(a)");
  CHECK(ct.args[1].default_value->kind == Value::Kind::Opaque);

  CHECK_THROWS_WITH_AS(parse_schema("f(Tensr x) -> Tensor"), doctest::Contains("unknown type 'Tensr'"), InputError);
  CHECK_THROWS_WITH_AS(parse_schema("f(Tensor x -> Tensor"), doctest::Contains("expected ')'"), InputError);
  CHECK_THROWS_WITH_AS(parse_schema("f(Tensor x) -> Tensor junk"), doctest::Contains("unexpected text"), InputError);
}

TEST_CASE("op registry: arguments decode by position and keyword; errors name the argument") {
  const Schema s = parse_schema("slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor(a)");
  const Node node;
  const Tensor x = Tensor::meta(DType::F32, {4, 6});
  const OpArgs a = decode_args(s, node, KernelArgs{{T(x), I(1)}, {{"end", I(3)}}});
  CHECK(a.i64(1) == 1);
  CHECK_FALSE(a.opt_i64(2).has_value());
  CHECK(a.opt_i64(3) == 3);
  CHECK(a.i64(4) == 1);
  CHECK_THROWS_WITH_AS(decode_args(s, node, KernelArgs{{T(x), S("x")}, {}}),
                       "argument 'dim' (int) must be an int, got str \"x\"", InputError);
  CHECK_THROWS_WITH_AS(decode_args(s, node, KernelArgs{{T(x)}, {{"stop", I(3)}}}), "unexpected keyword argument 'stop'",
                       InputError);
  CHECK_THROWS_WITH_AS(decode_args(s, node, KernelArgs{{T(x), I(0)}, {{"dim", I(1)}}}), "argument 'dim' given twice",
                       InputError);
  CHECK_THROWS_WITH_AS(decode_args(s, node, KernelArgs{{}, {}}), "missing argument 'self' (Tensor)", InputError);
  CHECK_THROWS_WITH_AS(decode_args(s, node, KernelArgs{{T(x), I(0), I(0), I(0), I(1), I(9)}, {}}),
                       "takes 5 arguments, got 6 positional", InputError);
  // int[1] accepts a bare int; keyword-only arguments cannot come by position.
  const Schema sum = parse_schema("sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor");
  CHECK(decode_args(sum, node, KernelArgs{{T(x), I(-1)}, {}}).ints(1) == std::vector<int64_t>{-1});
  Value dt;
  dt.kind = Value::Kind::Dtype;
  dt.s = "float64";
  CHECK_THROWS_WITH_AS(decode_args(sum, node, KernelArgs{{T(x), L({I(0)}), Value::boolean(true), dt}, {}}),
                       "argument 'dtype' is keyword-only but was given by position", InputError);
  dt.s = "complex64";
  CHECK_THROWS_WITH_AS(decode_args(sum, node, KernelArgs{{T(x)}, {{"dtype", dt}}}),
                       doctest::Contains("dtype 'complex64' is not supported"), InputError);
}

TEST_CASE("op registry: every row parses, is named after its schema, and has a meta rule or is shape-only") {
  const auto& ops = all_ops();
  CHECK(ops.size() > 150);
  for (const OpEntry* e : ops) {
    const std::string target = e->row->target;
    CAPTURE(target);
    const size_t dot = target.find('.');
    REQUIRE(dot != std::string::npos);
    const std::string ns = target.substr(0, dot);
    if (ns == "aten" || ns == "prims") {
      const std::string want = ns + "." + e->schema.name + "." + (e->schema.overload.empty() ? "default" : e->schema.overload);
      CHECK(target == want);
    }
    CHECK((e->row->meta != nullptr || e->row->shape_only));
    CHECK(find_op(target) == e);
  }
  CHECK(find_op("aten.frobnicate.default") == nullptr);
}
