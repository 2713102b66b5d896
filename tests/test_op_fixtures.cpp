// The op fixtures from PyTorch (tests/data/ops, written by python/tools/check_ops.py --fixtures on a machine
// with torch): each one-node graph runs on the CPU executor on the saved inputs and its outputs are compared
// with PyTorch's as the manifest says (exact, within N ulp, or within atol + rtol*|want|). Without the
// fixtures the test reports itself skipped.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/fxgraph/fxgraph_io.h"
#include "runtime/executor.h"
#include "runtime/safetensors.h"

using namespace fxopt;
using namespace fxopt::rt;
namespace fs = std::filesystem;

namespace {

// A float's bits as an integer that orders like the value (+0 and -0 both 0), for ulp distances.
int64_t ordered(double v, DType d) {
  int64_t bits = 0;
  int64_t sign_bit = 0;
  if (d == DType::F64) {
    std::memcpy(&bits, &v, 8);
    sign_bit = INT64_MIN;
    return bits < 0 ? -(bits & ~sign_bit) : bits;
  }
  if (d == DType::F32) {
    const float f = static_cast<float>(v);
    int32_t b = 0;
    std::memcpy(&b, &f, 4);
    return b < 0 ? -static_cast<int64_t>(b & 0x7FFFFFFF) : b;
  }
  // 16-bit and 8-bit floats: their own bit patterns.
  Tensor t = Tensor::empty(d, {});
  store_elem<double>(d, t.raw(), v);
  const size_t n = dtype_size(d);
  uint32_t u = 0;
  std::memcpy(&u, t.raw(), n);
  const uint32_t sign = 1u << (8 * n - 1);
  return (u & sign) ? -static_cast<int64_t>(u & (sign - 1)) : static_cast<int64_t>(u);
}

// "" when got matches want under the rule, else a description of the first mismatch.
std::string mismatch(const Tensor& want, const Tensor& got, const nlohmann::json& rule) {
  if (want.dtype() != got.dtype() || want.shape() != got.shape())
    return std::string("got ") + dtype_name(got.dtype()) + " " + shape_str(got.shape()) + ", want " +
           dtype_name(want.dtype()) + " " + shape_str(want.shape());
  const std::string mode = rule.value("mode", "exact");
  const int64_t max_ulp = rule.value("ulp", 0);
  const double atol = rule.value("atol", 0.0), rtol = rule.value("rtol", 0.0);
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double w = want.value_at(i), g = got.value_at(i);
    bool ok;
    if (w != w || g != g) {
      ok = (w != w) && (g != g);
    } else if (mode == "exact") {
      ok = w == g && std::signbit(w) == std::signbit(g);
    } else if (mode == "ulp" && is_floating(want.dtype())) {
      ok = std::llabs(ordered(w, want.dtype()) - ordered(g, want.dtype())) <= max_ulp;
    } else if (mode == "close") {
      ok = w == g || std::abs(g - w) <= atol + rtol * std::abs(w);
    } else {
      ok = w == g;
    }
    if (!ok) {
      std::ostringstream s;
      s.precision(17);
      s << "element " << i << ": got " << g << ", want " << w << " (" << mode << ")";
      return s.str();
    }
  }
  return "";
}

}  // namespace

TEST_CASE("op fixtures from PyTorch run on the CPU executor and match") {
  const fs::path dir = fs::path(FXOPT_TEST_DATA) / "data" / "ops";
  const fs::path manifest_path = dir / "manifest.json";
  if (!fs::exists(manifest_path)) {
    MESSAGE("skipped: no " << manifest_path.string() << " (make it with python/tools/check_ops.py --fixtures)");
    return;
  }
  std::ifstream f(manifest_path);
  const nlohmann::json manifest = nlohmann::json::parse(f);
  int cases = 0;
  for (const auto& c : manifest.at("cases")) {
    const std::string name = c.at("name");
    CAPTURE(name);
    const Graph g = read_graph_file((dir / c.at("graph").get<std::string>()).string());
    TensorMap given;
    for (auto& [k, t] : read_safetensors((dir / c.at("inputs").get<std::string>()).string())) given[k] = t;
    const SymbolValues syms = bind_symbols(g, {}, given);
    const TensorMap inputs = make_inputs(g, syms, 0, given);
    ExecOptions o;
    o.threads = 2;
    const ExecResult r = run_graph(g, syms, inputs, o);
    const auto expected = read_safetensors((dir / c.at("expected").get<std::string>()).string());
    REQUIRE(expected.size() == r.outputs.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(expected[i].first);
      REQUIRE(r.outputs[i].is_tensor());
      const nlohmann::json rule = c.at("compare").at(i);
      CHECK(mismatch(expected[i].second, r.outputs[i].tensor, rule) == "");
    }
    ++cases;
  }
  MESSAGE(cases << " op fixtures checked");
  CHECK(cases > 0);
}
