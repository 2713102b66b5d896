// Unit tests of the hardening (issue 14): checked sizes, the memory estimate, nesting limits and UTF-8
// validation of the readers, each with the hostile input beside the refusal it gets.
#include <doctest/doctest.h>

#include <string>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/fxgraph/json_pull.h"
#include "core/ir/symint.h"
#include "runtime/executor.h"
#include "runtime/memory_plan.h"
#include "runtime/safetensors.h"

using namespace fxopt;
using namespace fxopt::rt;

namespace {
const std::string kL1 = std::string(FXOPT_CORPUS_DIR) + "/qwen3next_gdn_L1.fxgraph.json";
std::string rel(const char* name) { return std::string(FXOPT_TEST_DATA) + "/data/reliability/" + name; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("sizes: element and byte counts are checked") {
  CHECK(checked_numel({2, 3, 4}) == 24);
  CHECK(checked_numel({}) == 1);
  CHECK(checked_numel({0, 5}) == 0);
  CHECK(checked_numel({int64_t{1} << 61, 8}) == std::nullopt);           // wraps to 0 unchecked
  CHECK(checked_numel({3689348814741910324, 5}) == std::nullopt);        // wraps to 4 unchecked
  CHECK(checked_numel({0, int64_t{1} << 62, 4}) == std::nullopt);        // 0 elements, strides overflow
  CHECK(checked_numel({-1, 4}) == std::nullopt);
  CHECK(checked_nbytes(4, {int64_t{1} << 61}) == std::nullopt);          // elements fit, bytes do not
  CHECK(checked_nbytes(2, {int64_t{1} << 61}) == int64_t{1} << 62);
  CHECK(size_problem(4, {-3}) == "size -3 is negative");
  CHECK(size_problem(8, {int64_t{1} << 61}) == "2305843009213693952 elements of 8 bytes overflow int64");
  CHECK(size_problem(4, {int64_t{1} << 61, 8}) == "the element count overflows int64");
}

TEST_CASE("sizes: Tensor::empty refuses impossible sizes and reports failed allocations") {
  CHECK(error_of([] { Tensor::empty(DType::F32, {int64_t{1} << 61, 8}); }) ==
        "impossible tensor size float32 [2305843009213693952, 8]: the element count overflows int64");
  CHECK(error_of([] { Tensor::empty(DType::BF16, {2, -1}); }) == "impossible tensor size bfloat16 [2, -1]: size -1 is negative");
  const std::string oom = error_of([] { Tensor::empty(DType::F64, {int64_t{1} << 59}); });  // 4 EiB
  CHECK(oom.find("out of memory allocating 4611686018427387904 bytes for a float64 [576460752303423488] tensor") == 0);
  const Tensor z = Tensor::empty(DType::F32, {0, 3});
  CHECK(z.numel() == 0);
  CHECK(z.to(DType::BF16).numel() == 0);  // no memcpy from a null pointer on the way
  const Tensor t = Tensor::empty(DType::F32, {4});
  CHECK(error_of([&] { t.as_strided({int64_t{1} << 62, 4}, {0, 0}, 0); }).find("overflows int64") != std::string::npos);
}

TEST_CASE("sizes: a safetensors header with a wrapping shape is refused before allocating") {
  CHECK(error_of([] { read_safetensors(rel("st_wrap.safetensors")); }) ==
        rel("st_wrap.safetensors") + ": tensor 'x': impossible size F32 [2305843009213693952, 8]: the element count overflows int64");
  // A shape entry past int64 (read as unsigned) is refused, not cast to a negative size.
  const std::string h = R"({"x":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(h.size());
  CHECK(error_of([&] { decode_safetensors(bytes + h, "m.st"); }) ==
        "m.st: tensor 'x': shape entry 18446744073709551615 does not fit in int64");
}

TEST_CASE("memory: the estimate follows live tensors and names the impossible ones") {
  const Graph g = read_graph_file(kL1);
  const MemoryEstimate e16 = estimate_memory(g, {{"s68", 16}});
  const MemoryEstimate e1000 = estimate_memory(g, {{"s68", 1000}});
  CHECK(e16.unknown == 0);
  CHECK(e16.peak_bytes > e16.input_bytes);
  CHECK(e1000.peak_bytes > e16.peak_bytes);
  // The weights (bf16 [4096, 4096] = 32 MiB + two [4096] vectors) are the largest tensors at s68=16.
  CHECK(e16.largest.at(0).bytes == 32 * 1024 * 1024);
  CHECK(e16.largest.at(0).dtype == "bfloat16");
  const std::string msg = error_of([&] { check_memory(g, {{"s68", 1000}}, 1 << 20, "test", "L1"); });
  CHECK(msg.find("L1: at s68=1000 the run needs an estimated ") == 0);
  CHECK(msg.find("above the memory limit 1.00 MiB (test); largest tensors:\n  arg5_1: bfloat16 [4096, 4096] 32.00 MiB") != std::string::npos);
  CHECK(error_of([&] { check_memory(g, {{"s68", 1000}}, int64_t{1} << 40, "test", "L1"); }) == "(no error)");
  const Graph ident = read_graph_file(rel("ident.json"));
  CHECK(error_of([&] { estimate_memory(ident, {{"s0", 3689348814741910324}}); }) ==
        "node 'x' meta.val is bfloat16 [3689348814741910324, 5] at s0=3689348814741910324: impossible size: the element "
        "count overflows int64");
}

TEST_CASE("memory: --memory-limit sizes") {
  CHECK(parse_memory_size("1000") == 1000);
  CHECK(parse_memory_size("512MiB") == 512 * 1048576LL);
  CHECK(parse_memory_size("1.5GiB") == 1610612736LL);
  CHECK(parse_memory_size("2GB") == 2000000000LL);
  CHECK(parse_memory_size("none") == std::nullopt);
  for (const char* bad : {"", "GiB", "-1", "0", "1.2.3", "12XB", "1e99", "99999999999TiB"})
    CHECK_MESSAGE(error_of([&] { parse_memory_size(bad); }).find("--memory-limit") == 0, bad);
  CHECK(default_memory_limit().value_or(1) > 0);
  CHECK(format_bytes(312) == "312 bytes");
  CHECK(format_bytes(3 << 20) == "3.00 MiB");
}

TEST_CASE("symbols: a hint outside its range is refused by run's binding") {
  Graph g = read_graph_file(rel("ident.json"));
  g.symbols[0].second.hint = 1;  // min is 2
  CHECK(error_of([&] { bind_symbols(g, {}); }).find("symbol s0: hint 1 is outside its range") == 0);
  CHECK(bind_symbols(g, {{"s0", 3}}).at("s0") == 3);
}

TEST_CASE("nesting: JSON deeper than kMaxNesting is refused with its position") {
  const std::string ok = std::string(kMaxNesting, '[') + std::string(kMaxNesting, ']');
  CHECK_NOTHROW(check_json_nesting(ok, "t"));
  CHECK(error_of([] { check_json_nesting("{\"a\":\n" + std::string(100000, '['), "t"); }) ==
        "t: malformed JSON at line 2, column 256: nesting deeper than 256 levels (fxopt's limit)");
  CHECK_NOTHROW(check_json_nesting("\"" + std::string(1000, '[') + "\"", "t"));  // inside a string
  const std::string head = R"({"format":"fxgraph","version":1,"producer":)";
  CHECK(error_of([&] { read_graph_text(head + std::string(1000000, '['), "g.json"); }) ==
        "g.json: malformed JSON at line 1, column 299: nesting deeper than 256 levels (fxopt's limit)");
}

TEST_CASE("nesting: SymInt expressions") {
  CHECK_NOTHROW(sym::parse(std::string(200, '(') + "s0" + std::string(200, ')')));
  CHECK_THROWS_AS(sym::parse(std::string(100000, '(') + "s0" + std::string(100000, ')')), sym::ParseError);
  CHECK_THROWS_AS(sym::parse(std::string(100000, '-') + "s0"), sym::ParseError);
  std::string calls;
  for (int i = 0; i < 50000; ++i) calls += "Max(s0, ";
  CHECK_THROWS_AS(sym::parse(calls + "s1" + std::string(50000, ')')), sym::ParseError);
  // Chains nest atoms without parentheses: Mod(Mod(Mod(s0, s1), s2), s3)...
  std::string chain = "s0";
  for (int i = 0; i < 255; ++i) chain += "%s" + std::to_string(i % 3 + 1);
  CHECK_NOTHROW(sym::parse(chain));
  CHECK_THROWS_WITH_AS(sym::parse(chain + "%s1%s2"), doctest::Contains("nested too deeply"), sym::ParseError);
  CHECK_THROWS_WITH_AS(sym::parse(std::string(4096, ' ') + "s0"), doctest::Contains("longer than 4096"), sym::ParseError);
  std::string max = "Max(s0";
  for (int i = 0; i < 300; ++i) max += ", s" + std::to_string(i);
  CHECK_THROWS_WITH_AS(sym::parse(max + ")"), doctest::Contains("more than 256 arguments"), sym::ParseError);
}

TEST_CASE("utf-8: invalid sequences are found at their byte") {
  CHECK(invalid_utf8_offset("plain ascii") == std::string_view::npos);
  CHECK(invalid_utf8_offset("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == std::string_view::npos);
  CHECK(invalid_utf8_offset("ab\xff") == 2);          // never a lead byte
  CHECK(invalid_utf8_offset("ab\x80") == 2);          // a lone continuation
  CHECK(invalid_utf8_offset("\xc0\xaf") == 0);        // overlong '/'
  CHECK(invalid_utf8_offset("\xe0\x80\xaf") == 0);    // overlong, 3 bytes
  CHECK(invalid_utf8_offset("\xed\xa0\x80") == 0);    // a UTF-16 surrogate
  CHECK(invalid_utf8_offset("\xf4\x90\x80\x80") == 0);  // past U+10FFFF
  CHECK(invalid_utf8_offset("x\xe2\x82") == 1);       // truncated
  CHECK(error_of([] { read_graph_file(rel("bad_utf8.json")); }) ==
        rel("bad_utf8.json") + ": malformed JSON at line 1, column 331: invalid UTF-8 in string");
}
