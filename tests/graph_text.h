// For the op families' unit tests: fxgraph documents written node by node (a native chain beside the fused op) and a
// bit-for-bit comparison of their results.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/fxgraph/fxgraph_io.h"
#include "core/ir/error.h"
#include "runtime/backend.h"
#include "runtime/executor.h"
#include "runtime/tensor.h"

namespace fxopt::testing {

inline std::string shape_json(const rt::Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}
// A meta.val of a tensor (strides left to the reader).
inline std::string tval(const std::string& dtype, const rt::Shape& s) {
  return R"({"dtype": ")" + dtype + R"(", "shape": )" + shape_json(s) + R"(, "stride": [], "device": "cpu"})";
}
// {"node": n}, {"dtype": d} and a JSON list of already written values.
inline std::string nd(const std::string& n) { return R"({"node": ")" + n + R"("})"; }
inline std::string dt(const std::string& d) { return R"({"dtype": ")" + d + R"("})"; }
inline std::string args(std::initializer_list<std::string> a) {
  std::string out = "[";
  for (const auto& s : a) out += (out.size() > 1 ? ", " : "") + s;
  return out + "]";
}

// A graph written node by node: meta.val on the placeholders, and on a call only where `val` is given.
struct GraphText {
  std::string nodes;
  void placeholder(const std::string& name, const std::string& dtype, const rt::Shape& s) {
    nodes += R"(  {"name": ")" + name + R"(", "op": "placeholder", "target": ")" + name +
             R"(", "args": [], "kwargs": {}, "meta": {"val": )" + tval(dtype, s) + "}},\n";
  }
  void call(const std::string& name, const std::string& target, const std::string& args,
            const std::string& kwargs = "{}", const std::string& val = "") {
    nodes += R"(  {"name": ")" + name + R"(", "op": "call_function", "target": ")" + target + R"(", "args": )" + args +
             R"(, "kwargs": )" + kwargs + R"(, "meta": )" + (val.empty() ? "{}" : R"({"val": )" + val + "}") + "},\n";
  }
  std::string text(const std::vector<std::string>& outputs) const {
    std::string outs;
    for (const auto& o : outputs) outs += (outs.empty() ? "" : ", ") + nd(o);
    return "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n \"symbols\": {},\n \"nodes\": [\n" + nodes +
           R"(  {"name": "output", "op": "output", "target": "output", "args": [[)" + outs +
           R"(]], "kwargs": {}, "meta": {}})" + "\n ]\n}\n";
  }
};

// The InputError text of running the graph `t` with output `out` on seeded inputs (placeholders in `given` take
// those values); "" when it runs.
inline std::string run_error(const GraphText& t, const std::string& out, const rt::TensorMap& given = {}) {
  try {
    const Graph g = read_graph_text(t.text({out}), "err.json");
    const rt::SymbolValues s;
    rt::run_graph(g, s, rt::make_inputs(g, s, 1, given));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Equal bits, element by element (float32 NaNs of any payload count as equal: NaN payloads are not part of the
// numerics contract; bf16 and fp8 NaNs are canonical). Reports the first difference.
inline void check_same_bits(const std::string& what, const rt::Value& want, const rt::Value& got) {
  CAPTURE(what);
  REQUIRE(want.is_tensor());
  REQUIRE(got.is_tensor());
  REQUIRE(want.tensor.dtype() == got.tensor.dtype());
  REQUIRE(want.tensor.shape() == got.tensor.shape());
  const rt::Tensor a = want.tensor.contiguous(), b = got.tensor.contiguous();
  const size_t es = rt::dtype_size(a.dtype());
  for (int64_t i = 0; i < a.numel(); ++i) {
    const std::byte* pa = a.raw() + i * static_cast<int64_t>(es);
    const std::byte* pb = b.raw() + i * static_cast<int64_t>(es);
    if (std::memcmp(pa, pb, es) == 0) continue;
    if (a.dtype() == rt::DType::F32 && std::isnan(a.value_at(i)) && std::isnan(b.value_at(i))) continue;
    FAIL("element " << i << ": native " << a.value_at(i) << ", fused " << b.value_at(i));
  }
}

}  // namespace fxopt::testing
