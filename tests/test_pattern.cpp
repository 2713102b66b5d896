// Tests of the declarative pattern format: the reader's precise errors and the registry.
#include <doctest/doctest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "core/ir/error.h"
#include "core/fxgraph/json_pull.h"
#include "core/pattern/pattern.h"
#include "core/pattern/pattern_blob.h"
#include "core/pattern/pattern_fragments.h"
#include "patterns/builtin.h"

using namespace fxopt;

namespace {

// A minimal valid pattern file around one pattern body; `patch` replaces a piece of it.
std::string file(const std::string& body) {
  return R"({"format": "fxopt-patterns", "version": 1, "patterns": [)" + body + "]}";
}

const std::string kRelu2 = R"({
  "name": "relu_double", "fused_op": "mylib.relu2.default",
  "vars": {"N": "sym", "K": {"type": "float", "one_of": [2.0]}},
  "inputs": {"x": "bfloat16 [N, 4]"},
  "nodes": [{"name": "r", "op": "aten.relu.default", "args": ["%x"]},
            {"name": "m", "op": "aten.mul.Tensor", "args": ["%r", "$K"], "val": "bfloat16 [N, 4]"}],
  "outputs": {"out": "m"},
  "replacement": {"nodes": [{"name": "relu2", "op": "mylib.relu2.default", "args": ["%x"], "val": "bfloat16 [N, 4]"}],
                  "outputs": {"out": "relu2"}}
})";

std::string error_of(const std::string& text) {
  try {
    parse_pattern_file(text, "p.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string with(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  REQUIRE(p != std::string::npos);
  return s.replace(p, from.size(), to);
}

}  // namespace

TEST_CASE("pattern file: a valid pattern parses") {
  auto ps = parse_pattern_file(file(kRelu2), "p.json");
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "relu_double");
  CHECK(ps[0].root_target() == "aten.mul.Tensor");
  CHECK(ps[0].op_node_count() == 2);
  CHECK(ps[0].vars.size() == 2);
}

namespace {
// Same values, the same types (unsigned vs signed integers included) and the same key order.
bool same_dom(const PatternJson& a, const PatternJson& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    auto i = a.begin(), j = b.begin();
    for (; i != a.end(); ++i, ++j)
      if (i.key() != j.key() || !same_dom(i.value(), j.value())) return false;
    return true;
  }
  if (a.is_array()) {
    for (size_t k = 0; k < a.size(); ++k)
      if (!same_dom(a[k], b[k])) return false;
    return true;
  }
  return a == b && a.dump() == b.dump();
}
}  // namespace

TEST_CASE("pattern file: the pull-parser DOM is nlohmann's, or it gives up") {
  std::vector<std::string> texts = {
      R"({"a": 1, "b": -2, "c": -0, "d": 0, "e": 1.5, "f": -1e-3, "g": 2E5, "h": 9223372036854775807,
          "i": -9223372036854775808, "j": "x\u00e9\n\"q\"", "k": [true, false, null, [], {}], "a": [3]})",
      " [ 1 , {\"z\": {\"y\": [0.1, 1e308]}} ] \n", R"("text")", "42", "null"};
  for (const auto& f : builtin_pattern_files()) texts.emplace_back(f.text);
  for (const auto& t : texts) {
    CAPTURE(t.substr(0, 80));
    PatternJson fast;
    REQUIRE(parse_pattern_json_fast(t, fast));
    CHECK(same_dom(fast, PatternJson::parse(t)));
  }
  // Texts it refuses (nlohmann then reads them, or reports the error): beyond int64, a number out of range,
  // a leading zero, a byte-order mark, trailing text, nothing at all, too deep, a bad escape.
  const std::vector<std::string> refused = {"18446744073709551615", "1e999", "01", "\xEF\xBB\xBF{}", "{} x", "", "  ",
                                            std::string(300, '[') + std::string(300, ']'), R"("\q")"};
  for (const auto& t : refused) {
    CAPTURE(t.substr(0, 20));
    PatternJson fast;
    CHECK_FALSE(parse_pattern_json_fast(t, fast));
  }
}

TEST_CASE("pattern file: precise errors") {
  CHECK(error_of("{\"format\": \"fxopt-patterns\",\n \"version\": 1,\n \"patterns\": [}") ==
        std::string("p.json: malformed JSON at line 3, column 15: syntax error while parsing value - unexpected '}'; expected '[', '{', or a literal"));
  CHECK(error_of(R"({"format": "fxgraph", "version": 1, "patterns": []})") == "p.json: format: expected \"fxopt-patterns\"");
  CHECK(error_of(R"({"format": "fxopt-patterns", "version": 2, "patterns": []})") ==
        "p.json: version: unsupported version 2 (this fxopt reads version 1)");
  CHECK(error_of(file(with(kRelu2, "\"fused_op\"", "\"colour\": 1, \"fused_op\""))).find(
            "p.json: patterns[0] (relu_double): unknown key 'colour'") == 0);
  CHECK(error_of(file(with(kRelu2, "\"%r\", \"$K\"", "\"%r\", \"$K*Q\""))) ==
        "p.json: patterns[0] (relu_double).nodes[1] (m).args[1]: expression 'K*Q' at offset 2: unknown variable 'Q' "
        "(declare it in \"vars\")");
  CHECK(error_of(file(with(kRelu2, "[\"%x\"]}", "[\"%y\"]}"))) ==
        "p.json: patterns[0] (relu_double).nodes[0] (r).args[0]: unknown node 'y' (a reference must name an input or an "
        "earlier node)");
  CHECK(error_of(file(with(kRelu2, "\"bfloat16 [N, 4]\"}", "\"bfloat16 N, 4\"}"))) ==
        "p.json: patterns[0] (relu_double).inputs.x: type 'bfloat16 N, 4' must be \"DTYPE [dim, ...]\"");
  // Strides: on replacement nodes only (a region's are not matched), one per dim.
  CHECK(error_of(file(with(kRelu2, "\"bfloat16 [N, 4]\"}", "\"bfloat16 [N, 4] stride [8, 1]\"}"))) ==
        "p.json: patterns[0] (relu_double).inputs.x: type 'bfloat16 [N, 4] stride [8, 1]': strides are given on "
        "replacement nodes only (a region's are not matched)");
  CHECK(error_of(file(with(kRelu2, "\"args\": [\"%x\"], \"val\": \"bfloat16 [N, 4]\"",
                           "\"args\": [\"%x\"], \"val\": \"bfloat16 [N, 4] stride [8]\""))) ==
        "p.json: patterns[0] (relu_double).replacement.nodes[0] (relu2).val: type 'bfloat16 [N, 4] stride [8]' has 2 dims "
        "but 1 strides");
  CHECK(error_of(file(with(kRelu2, "\"N\": \"sym\"", "\"N\": \"sym\", \"U\": \"int\""))) ==
        "p.json: patterns[0] (relu_double).vars.U: variable 'U' does not occur in the region, so no match can bind it");
  CHECK(error_of(file(with(kRelu2, "\"args\": [\"%x\"], \"val\"", "\"args\": [\"%r\"], \"val\""))) ==
        "p.json: patterns[0] (relu_double).replacement.nodes[0] (relu2): the replacement may only use the pattern's "
        "inputs, not the region node 'r'");
  CHECK(error_of(file(with(kRelu2, "\"outputs\": {\"out\": \"relu2\"}", "\"outputs\": {}"))) ==
        "p.json: patterns[0] (relu_double).replacement.outputs: output 'out' has no replacement");
  CHECK(error_of(file(with(kRelu2, "\"type\": \"float\"", "\"type\": \"real\""))) ==
        "p.json: patterns[0] (relu_double).vars.K: unknown variable type 'real' (expected int, bool, sym, float or dtype)");
  CHECK(error_of(file(with(kRelu2, "\"%r\", \"$K\"", "\"%r\", \"$K//2\""))).find("'//' needs integers") != std::string::npos);
}

TEST_CASE("pattern registry: built-ins, selection, duplicates, root index") {
  PatternSet ps = PatternSet::builtin();
  REQUIRE(ps.patterns().size() >= 3);
  auto* at_convert = ps.rooted_at("prims.convert_element_type.default");
  REQUIRE(at_convert);
  // Highest benefit first: the gated fusion is tried before plain RMSNorm + quant.
  CHECK(ps.patterns()[(*at_convert)[0]].name == "rms_gated_fp8_group_quant");
  CHECK(ps.rooted_at("aten.relu.default") == nullptr);
  CHECK_THROWS_WITH_AS(ps.add(ps.patterns()[0]), doctest::Contains("is already defined"), InputError);
  PatternSet one = ps;
  one.select({"rmsnorm_fp8_dynamic_quant"});
  CHECK(one.patterns().size() == 1);
  CHECK_THROWS_WITH_AS(one.select({"nope"}), "unknown pattern 'nope' (known: rmsnorm_fp8_dynamic_quant)", InputError);
}

TEST_CASE("targets: ops and fp8 formats") {
  CHECK(find_target("gfx942").has_fp8("float8_e4m3fnuz"));
  CHECK_FALSE(find_target("gfx942").has_fp8("float8_e4m3fn"));
  CHECK(find_target("gfx950").has_fp8("float8_e4m3fn"));
  CHECK_FALSE(find_target("none").has_op("vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"));
  CHECK(find_target("rocm-aiter").has_op("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default"));
  CHECK(find_target("gfx950").has_op("mylib.relu2.default"));  // a pattern file's own op
  CHECK_FALSE(find_target("none").has_op("mylib.relu2.default"));
  CHECK_THROWS_WITH_AS(find_target("xpu"), "unknown target 'xpu' (valid: rocm-aiter, gfx942, gfx950, cuda, none)", InputError);
  CHECK(find_target("cuda").has_op("_C.rms_norm_per_block_quant.default"));
  CHECK_FALSE(find_target("cuda").has_op("vllm.rocm_aiter_rmsnorm_fp8_group_quant.default"));
  CHECK_FALSE(find_target("rocm-aiter").has_op("_C.rms_norm_static_fp8_quant.default"));
  CHECK(fp8_max("float8_e4m3fnuz") == 224.0);
}

TEST_CASE("pattern registry: loading for one target builds only its variants and lists the rest") {
  PatternSet all = PatternSet::builtin();
  for (const char* t : {"rocm-aiter", "cuda", "none"}) {
    const Target& target = find_target(t);
    PatternSet one = PatternSet::builtin(target);
    size_t expected = 0;
    for (const auto& p : all.patterns()) expected += target.has_op(p.fused_op) || p.family == p.name;
    // Every variant for the target is built (plain patterns always are); the others stand as one entry per
    // family and fused op.
    size_t kept = 0;
    for (const auto& p : one.patterns()) kept += target.has_op(p.fused_op) || p.family == p.name;
    CHECK(kept == expected);
    CHECK(kept == one.patterns().size());
    for (const auto& pr : one.pruned()) CHECK_FALSE(target.has_op(pr.fused_op));
  }
  CHECK(PatternSet::builtin(find_target("rocm-aiter")).patterns().size() < all.patterns().size() / 2);
  // A family with no variant for the target can still be selected (the report says it was skipped).
  PatternSet aiter = PatternSet::builtin(find_target("rocm-aiter"));
  aiter.select({"rms_norm_static_fp8_quant"});
  CHECK(aiter.patterns().empty());
  REQUIRE(aiter.pruned().size() == 1);
  CHECK(aiter.pruned()[0].fused_op == "_C.rms_norm_static_fp8_quant.default");
  CHECK_THROWS_AS(aiter.select({"no_such_family"}), InputError);
}

namespace {
// Loads from the JSON files while it lives, as a binary without the prebuilt variants does.
struct JsonFilesOnly {
  std::string_view saved = builtin_variant_blob();
  JsonFilesOnly() { set_builtin_variant_blob({}); }
  ~JsonFilesOnly() { set_builtin_variant_blob(saved); }
};

// Every field of a pattern, as bytes (the prebuilt form's writer, with one string table for both sides).
std::string pattern_bytes(const Pattern& p, blob::StringTable& strings) {
  std::string out;
  blob::Writer w(out, strings);
  blob::write_pattern(w, p);
  return out;
}

void check_same_sets(const PatternSet& want, const PatternSet& got) {
  blob::StringTable strings;
  REQUIRE(got.patterns().size() == want.patterns().size());
  for (size_t i = 0; i < want.patterns().size(); ++i) {
    CAPTURE(want.patterns()[i].name);
    CHECK(got.patterns()[i].name == want.patterns()[i].name);
    CHECK(pattern_bytes(got.patterns()[i], strings) == pattern_bytes(want.patterns()[i], strings));
  }
  REQUIRE(got.pruned().size() == want.pruned().size());
  for (size_t i = 0; i < want.pruned().size(); ++i) {
    CHECK(got.pruned()[i].family == want.pruned()[i].family);
    CHECK(got.pruned()[i].fused_op == want.pruned()[i].fused_op);
  }
  REQUIRE(got.absent().size() == want.absent().size());
  for (size_t i = 0; i < want.absent().size(); ++i) {
    CHECK(got.absent()[i].family == want.absent()[i].family);
    CHECK(got.absent()[i].name == want.absent()[i].name);
    CHECK(got.absent()[i].fused_op == want.absent()[i].fused_op);
    CHECK(got.absent()[i].source == want.absent()[i].source);
  }
  for (const char* root : {"prims.convert_element_type.default", "aten.mul.Tensor", "aten.view.default"}) {
    const auto* a = want.rooted_at(root);
    const auto* b = got.rooted_at(root);
    CHECK((a == nullptr) == (b == nullptr));
    if (a && b) CHECK(*a == *b);
  }
}
}  // namespace

TEST_CASE("prebuilt built-in patterns: the same patterns, skipped and unbuilt lists as the JSON files give") {
  REQUIRE_FALSE(builtin_variant_blob().empty());  // the tests link them, as fxopt does
  {
    PatternSet fast = PatternSet::builtin();
    JsonFilesOnly json;
    REQUIRE(builtin_variant_blob().empty());
    check_same_sets(PatternSet::builtin(), fast);
  }
  // Op filters: everything, nothing, only the aiter spellings' own ops missing, every other op missing. The ops
  // the filter is asked about are the same too (the preload thread compares them with the normalised graph's).
  const std::vector<std::pair<const char*, OpFilter>> filters = {
      {"all", [](const std::string&) { return true; }},
      {"none", [](const std::string&) { return false; }},
      {"no aiter", [](const std::string& op) { return op.find("aiter") == std::string::npos; }},
      {"every other", [](const std::string& op) { return op.size() % 2 == 0; }},
  };
  for (const auto& t : all_targets()) {
    for (const auto& [label, filter] : filters) {
      CAPTURE(t.name);
      CAPTURE(label);
      std::set<std::string> asked_fast, asked_json;
      auto counting = [&](std::set<std::string>& asked) {
        return OpFilter([&asked, &f = filter](const std::string& op) {
          asked.insert(op);
          return f(op);
        });
      };
      PatternSet fast = PatternSet::builtin(t, counting(asked_fast));
      std::vector<std::string> created_fast = PatternSet::builtin_replacement_ops(t);
      PatternSet unfiltered_fast = PatternSet::builtin(t);
      JsonFilesOnly json;
      check_same_sets(PatternSet::builtin(t, counting(asked_json)), fast);
      CHECK(asked_fast == asked_json);
      CHECK(PatternSet::builtin_replacement_ops(t) == created_fast);
      check_same_sets(PatternSet::builtin(t), unfiltered_fast);
    }
  }
}

TEST_CASE("prebuilt built-in patterns: every field and literal kind survives the round trip") {
  // Literals of each kind a pattern file can spell, a variable with a value and one with choices, a tolerance,
  // conditions, a tuple-valued replacement.
  const std::string body = R"({
  "name": "kinds", "fused_op": "mylib.kinds.default", "description": "d", "diagram": ["a", "b"], "benefit": 3,
  "inf_nan": true, "tolerance": {"atol": 0.5, "rtol": 1e-3, "fp8_codes": 2, "reason": "r"},
  "vars": {"N": "sym", "G": {"type": "int", "value": 128}, "F": {"type": "dtype", "one_of": ["float8_e4m3fn"]},
           "B": "bool", "K": {"type": "float", "one_of": [-2.5]}},
  "inputs": {"x": "bfloat16 [N, G]", "w": null},
  "nodes": [{"name": "c", "op": "mylib.any.default",
             "args": ["%x", "%w", null, true, 7, -1.5, {"float": "-inf"}, {"str": "s"}, {"dtype": "bfloat16"},
                      {"layout": "torch.strided"}, ["$N*G//2", "$-G"], "plain", "$B", "$K"],
             "kwargs": {"dtype": {"dtype": "$F"}, "o": {"op": "mylib.x.default"}}, "val": "F [N, G]"}],
  "outputs": {"out": "c"},
  "conditions": ["G % 2 == 0", "1/(fp8_max(F)*512) < 1"],
  "replacement": {"nodes": [{"name": "k", "op": "mylib.kinds.default", "args": ["%x", {"device": "$"}],
                             "kwargs": {"eps": 1e-6}, "val": ["F [N, G] stride [2*G, 1]", null]}],
                  "outputs": {"out": "k"}}
})";
  auto ps = parse_pattern_file(file(body), "p.json");
  REQUIRE(ps.size() == 1);
  blob::StringTable strings;
  std::string bytes;
  blob::Writer w(bytes, strings);
  blob::write_pattern(w, ps[0]);
  std::string table;
  strings.write(table);
  blob::Reader tr(table);
  tr.read_strings();
  CHECK(tr.at_end());
  blob::Reader r(bytes);
  r.share_strings(tr);
  const Pattern back = blob::read_pattern(r);
  CHECK(r.at_end());
  CHECK(pattern_bytes(back, strings) == bytes);
  // What the reader made, read back (not only the same bytes).
  CHECK(back.description == "d");
  CHECK(back.diagram == std::vector<std::string>{"a", "b"});
  CHECK(back.benefit == 3);
  CHECK(back.inf_nan);
  CHECK(back.tolerance.rtol == 1e-3);
  CHECK(back.tolerance.fp8_codes == 2);
  REQUIRE(back.vars.size() == 5);
  CHECK(back.vars[1].value->str() == "128");
  CHECK(back.vars[2].one_of[0].str() == "float8_e4m3fn");
  CHECK(back.vars[3].boolean);
  CHECK(back.vars[4].one_of[0].f == -2.5);
  const auto& args = back.nodes[2].args;
  REQUIRE(args.size() == 14);
  CHECK(args[2].literal.kind == Arg::Kind::None);
  CHECK(args[3].literal.kind == Arg::Kind::Bool);
  CHECK(args[4].literal.i == 7);
  CHECK(args[5].literal.f == -1.5);
  CHECK(std::isinf(args[6].literal.f));
  CHECK(args[7].literal.s == "s");
  CHECK(args[8].literal.kind == Arg::Kind::Dtype);
  CHECK(args[9].literal.kind == Arg::Kind::Layout);
  REQUIRE(args[10].items.size() == 2);
  CHECK(back.expr_str(args[10].items[0].expr) == "N*G//2");
  CHECK(back.expr_str(args[10].items[1].expr) == "-G");
  CHECK(back.nodes[2].kwargs[1].second.literal.kind == Arg::Kind::Op);
  CHECK(back.nodes[1].is_input);
  CHECK_FALSE(back.nodes[1].type);
  CHECK(back.conditions[1].text == "1/(fp8_max(F)*512) < 1");
  CHECK(back.expr_str(back.conditions[1].lhs) == "1/(fp8_max(F)*512)");
  CHECK(back.replacement[0].args[1].literal.kind == Arg::Kind::Device);
  CHECK(back.replacement[0].tuple);
  CHECK(back.replacement[0].vals.size() == 2);
  REQUIRE(back.replacement[0].vals[0].strides.size() == 2);
  CHECK(back.expr_str(back.replacement[0].vals[0].strides[0]) == "2*G");
  CHECK(back.replacement[0].vals[1].strides.empty());
  CHECK(back.device_input == 0);
  // A blob cut short is a broken build, never a read past its end.
  for (size_t n : {size_t(0), bytes.size() / 2, bytes.size() - 1}) {
    blob::Reader cut(std::string_view(bytes).substr(0, n));
    cut.share_strings(tr);
    CHECK_THROWS_AS(blob::read_pattern(cut), std::logic_error);
  }
}

TEST_CASE("JsonPull::number: integers exact to int64's ends, longer ones refused, floats as floats") {
  for (std::string t : {"0", "-0", "7", "-7", "10", "123456789012345678", "-999999999999999999", "1234567890123456789",
                        "9223372036854775807", "-9223372036854775808", "-1000000000000000000"}) {
    CAPTURE(t);
    JsonPull in(t, "n");
    int64_t i = -1;
    double d = 0;
    REQUIRE(in.number(i, d));
    int64_t want = 0;
    std::from_chars(t.data(), t.data() + t.size(), want);
    CHECK(i == want);
    in.finish();
  }
  for (std::string t : {"9223372036854775808", "-9223372036854775809", "12345678901234567890123"}) {
    JsonPull in(t, "n");
    int64_t i = 0;
    double d = 0;
    CHECK_THROWS_WITH_AS(in.number(i, d), doctest::Contains("does not fit in 64 bits"), InputError);
  }
  for (std::string t : {"1.5", "-0.0", "1e3", "12345678901234567890.5"}) {
    CAPTURE(t);
    JsonPull in(t, "n");
    int64_t i = 0;
    double d = 0;
    CHECK_FALSE(in.number(i, d));
    CHECK(d == std::stod(t));
  }
  // Floats: the same double as from_chars, bit for bit (the fast path and the texts it leaves to from_chars).
  std::vector<std::string> floats = {"1e-06", "0.1", "448.0", "-448.0", "1e22", "1e23", "-1e-22", "1e-23", "0e0",
                                     "9007199254740992.0", "9007199254740993.0", "123456789012345678.5", "0.30000000000000004",
                                     "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "-0.0e-5"};
  std::mt19937_64 rng(7);
  auto digits = [&](int n, bool lead) {
    std::string d;
    for (int k = 0; k < n; ++k) d += static_cast<char>('0' + (k == 0 && lead ? 1 + rng() % 9 : rng() % 10));
    return d;
  };
  for (int k = 0; k < 20000; ++k) {
    const int int_digits = static_cast<int>(rng() % 21);
    std::string t = (rng() % 2 ? "-" : "") + (int_digits == 0 ? std::string("0") : digits(int_digits, true));
    const int frac = static_cast<int>(rng() % 22);
    if (frac) t += "." + digits(frac, false);
    if (rng() % 2 || !frac) t += std::string(rng() % 2 ? "e" : "E") + (rng() % 2 ? "-" : "") + std::to_string(rng() % 40);
    floats.push_back(t);
  }
  for (const auto& t : floats) {
    CAPTURE(t);
    JsonPull in(t, "n");
    int64_t i = 0;
    double d = 0, want = 0;
    REQUIRE_FALSE(in.number(i, d));
    std::from_chars(t.data(), t.data() + t.size(), want);
    uint64_t a = 0, b = 0;
    std::memcpy(&a, &d, 8);
    std::memcpy(&b, &want, 8);
    CHECK(a == b);
  }
  JsonPull zeros("[00]", "n");  // a leading zero ends the number: the next character is then unexpected
  zeros.begin_array();
  REQUIRE(zeros.next_item());
  int64_t i = -1;
  double d = 0;
  CHECK(zeros.number(i, d));
  CHECK(i == 0);
  CHECK_THROWS_AS(zeros.next_item(), InputError);
}

TEST_CASE("pattern file: a file calling the built-in fragments gets them; one without fragments does not need them") {
  // A built-in family that calls fragments, renamed, in a file of its own: the same variants.
  const auto& files = builtin_pattern_files();
  PatternJson doc = PatternJson::parse(files[0].text);
  const PatternJson* family = nullptr;
  for (const auto& p : doc["patterns"])
    for (const auto& n : p["nodes"])
      if (n["op"].get<std::string>().starts_with('@') && !family) family = &p;
  REQUIRE(family);
  const std::string name = (*family)["name"].get<std::string>();
  PatternJson mine = *family;
  mine["name"] = "my_" + name;
  const auto variants = parse_pattern_file(file(mine.dump()), "u.json");
  size_t builtin_variants = 0;
  const PatternSet all = PatternSet::builtin();
  for (const auto& p : all.patterns()) builtin_variants += p.family == name;
  CHECK(variants.size() == builtin_variants);
  CHECK(variants.size() > 1);
  // An unknown fragment is named with the known ones; a built-in one may not be redefined differently.
  for (auto& n : mine["nodes"])
    if (n["op"].get<std::string>().starts_with('@')) {
      n["op"] = "@nope";
      break;
    }
  const std::string unknown = error_of(file(mine.dump()));
  CHECK(unknown.find("unknown fragment '@nope' (known: ") != std::string::npos);
  CHECK(unknown.find("rms_norm") != std::string::npos);
  CHECK(error_of(R"({"format": "fxopt-patterns", "version": 1, "fragments": {"rms_norm": {"inputs": [], "outputs": ["o"],
      "spellings": []}}, "patterns": []})") == "p.json: fragments.rms_norm: fragment 'rms_norm' is already defined differently");
  // Without fragments: the plain pattern parses as before.
  CHECK(parse_pattern_file(file(kRelu2), "p.json").size() == 1);
}

TEST_CASE("pattern file: fragment calls that multiply past the variant limits are refused before any is built") {
  // A built-in family's pattern whose fragment calls are chained n times: 10^n x 6 spelling combinations.
  std::string_view text;
  for (const auto& f : builtin_pattern_files())
    if (f.name == "rms_norm_quant.json") text = f.text;
  const PatternJson doc = PatternJson::parse(std::string(text));
  const PatternJson* family = nullptr;
  for (const auto& p : doc["patterns"])
    if (!family && p["nodes"].size() == 2 && p["nodes"][0]["op"] == "@rms_norm" && p["nodes"][1]["op"] == "@static_quant")
      family = &p;
  REQUIRE(family);
  auto chained = [&](const std::string& name, int norms) {
    PatternJson p = *family;
    p["name"] = name;
    p["nodes"] = PatternJson::array();
    std::string prev = "%x";
    for (int k = 0; k < norms; ++k) {
      p["nodes"].push_back({{"name", "n" + std::to_string(k)}, {"op", "@rms_norm"}, {"args", {prev, "%w"}}});
      prev = "%n" + std::to_string(k);
    }
    p["nodes"].push_back({{"name", "quant"}, {"op", "@static_quant"}, {"args", {prev, "%scale"}}});
    return p.dump();
  };
  const size_t targets = (*family)["targets"].size();
  const PatternJson& frags = doc["fragments"];
  CHECK(count_variants(PatternJson::parse(chained("two", 2)), frags) == 100 * 6 * targets);
  // Nine chained norms: 6 x 10^9 variants (it used to build them: minutes, gigabytes).
  const std::string err = error_of(file(chained("bomb", 9)));
  CHECK(err.find("p.json: patterns[0] (bomb): expands into more than 4096 variants (10 @rms_norm spellings x 10 @rms_norm") == 0);
  CHECK(err.find("x 6 @static_quant spellings") != std::string::npos);
  // Each pattern under the limit, the file over its own.
  std::string many;
  const size_t each = 100 * 6 * targets;
  const size_t n = kMaxVariantsPerFile / each + 1;
  for (size_t i = 0; i < n; ++i) many += (i ? ", " : "") + chained("f" + std::to_string(i), 2);
  CHECK(error_of(file(many)) == "p.json: patterns: the patterns expand into " + std::to_string(n * each) +
                                     " variants or more, more than the 16384 fxopt builds for one file: split the "
                                     "file or use fewer fragment calls or spellings");
  // Under both limits: built.
  CHECK(parse_pattern_file(file(chained("two", 2)), "p.json").size() == each);
}
