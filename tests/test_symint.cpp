// Unit tests for core/symint: one table row per parsing, printing, simplification and proof rule,
// plus randomized checks that every rewrite and proof agrees with direct evaluation.
#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <unordered_set>

#include "core/ir/symint.h"

using namespace fxopt::sym;

namespace {

constexpr std::optional<int64_t> kNone = std::nullopt;

RangeMap ranges_of(std::initializer_list<std::pair<const char*, Range>> rows) {
  RangeMap m;
  for (const auto& [name, r] : rows) m[name] = r;
  return m;
}

}  // namespace

TEST_CASE("symint: parse prints canonical text") {
  struct Row {
    const char* input;
    const char* printed;
  };
  const Row rows[] = {
      {"s68", "s68"},
      {"32*s68", "32*s68"},
      {"s68*32", "32*s68"},                                            // coefficient first
      {"((s75**2)//4096)", "((s75**2)//4096)"},                        // PyTorch FloorDiv printer
      {"s75*((s75//(((s75**2)//4096))))", "s75*((s75//(((s75**2)//4096))))"},
      {"Max(1, s0)", "Max(1, s0)"},
      {"Max(s0, 1)", "Max(1, s0)"},                                    // constants first
      {"Mod(s0, 16)", "Mod(s0, 16)"},
      {"s0 % 16", "Mod(s0, 16)"},                                      // % is Mod
      {"PythonMod(s0, 16)", "Mod(s0, 16)"},
      {"FloorDiv(s0, 4)", "(s0//4)"},
      {"-s0 + 7", "-s0 + 7"},
      {"7 - s0", "-s0 + 7"},                                           // constant last
      {"s1 + s0", "s0 + s1"},                                          // symbols sorted
      {"s0 + s0**2", "s0**2 + s0"},                                    // higher degree first
      {"(s0 + 1)**2", "s0**2 + 2*s0 + 1"},                             // products expanded
      {"s1*s0*2", "2*s0*s1"},
      {"s0*s1 + s0**2 + s1**2", "s0**2 + s0*s1 + s1**2"},              // lex order
      {"-(s0 + s1)", "-s0 - s1"},
      {"s0 - 3", "s0 - 3"},
      {"s0//2 + 1", "((s0//2)) + 1"},                                  // FloorDiv below Add precedence
      {"-(s0//2)", "-((s0//2))"},
      {"1 - s0//2", "-((s0//2)) + 1"},
      {"2*(s0//2)", "2*((s0//2))"},
      {"(s0//2)**2", "((s0//2))**2"},
      {"Mod(s0, 16)**2", "(Mod(s0, 16))**2"},
      {"-Mod(s0, 16)", "-Mod(s0, 16)"},
      {"3*Max(1, s0)", "3*Max(1, s0)"},
      {"s0//-2", "((-s0)//2)"},                                        // divisor made positive
      {"  s0   *  2 ", "2*s0"},                                        // whitespace
      {"0", "0"},
      {"-5", "-5"},
      {"s0 - s0", "0"},
      {"Min(s1, s0, 4)", "Min(4, s0, s1)"},
      // sympy details, checked against sympy 1.14 with PyTorch's FloorDiv printer
      {"s0*Mod(s1, 16)", "s0*(Mod(s1, 16))"},                           // Mod wrapped as a Mul factor...
      {"-s0*Mod(s1, 16)", "-s0*Mod(s1, 16)"},                           // ...but not under a minus sign
      {"Max(s0, s1)//2", "(Max(s0, s1)//2)"},                           // Max/Min have atom precedence
      {"Mod(s0, 4)//s1", "((Mod(s0, 4))//s1)"},
      {"Max((s0//16), s0 + s1)", "Max(s0 + s1, (s0//16))"},             // default_sort_key: Add < FloorDiv
      {"Max(s0**2, s0*s1, 2*s0)", "Max(2*s0, s0**2, s0*s1)"},           // Symbol < Mul, then exponent
      {"Min(s0*s1, s2, -s2, 1)", "Min(1, -s2, s2, s0*s1)"},
      {"(s10 + 3)//4096 + ((s2//16))**3", "((s2//16))**3 + (((s10 + 3)//4096))"},  // generator order
      {"s10 + s2", "s10 + s2"},                                         // names compare as strings
  };
  for (const Row& r : rows) {
    const std::string cap_input = r.input;
    CAPTURE(cap_input);
    CHECK(parse(r.input).str() == r.printed);
  }
}

TEST_CASE("symint: simplification rules") {
  struct Row {
    const char* rule;
    const char* input;
    const char* expected;
  };
  const Row rows[] = {
      // constant folding, Python floor semantics
      {"7//2 -> 3", "7//2", "3"},
      {"(-7)//2 -> -4 (toward -inf)", "-7//2", "-4"},
      {"7//(-2) -> -4", "7//-2", "-4"},
      {"(-7)%3 -> 2 (sign of divisor)", "-7 % 3", "2"},
      {"7%(-3) -> -2", "7 % -3", "-2"},
      {"2**10", "2**10", "1024"},
      {"x**0 -> 1", "s0**0", "1"},
      {"Max of constants", "Max(3, 5)", "5"},
      {"Min of constants", "Min(3, 5, 1)", "1"},
      {"CeilDiv of constants", "CeilDiv(7, 2)", "4"},
      // floor division
      {"(k*e)//k -> e", "(32*s68)//32", "s68"},
      {"e//1 -> e", "FloorDiv(s0 + 3, 1)", "s0 + 3"},
      {"e//-1 -> -e", "s0//-1", "-s0"},
      {"0//e -> 0", "0//s0", "0"},
      {"(k*e + c)//m, m | k, 0 <= c < m", "(32*s0 + 5)//16", "2*s0"},
      {"pull out multiples of the divisor", "(32*s0 + s1)//16", "2*s0 + ((s1//16))"},
      {"pull out the constant's quotient", "(s0 + 17)//16", "(((s0 + 1)//16)) + 1"},
      {"(s0 - 1)//16 -> (s0 + 15)//16 - 1", "(s0 - 1)//16", "(((s0 + 15)//16)) - 1"},
      {"(g*x + c)//(g*k) -> (x + c//g)//k", "(4*s0 + 2)//8", "(s0//2)"},
      {"nested (e//a)//b -> e//(a*b)", "(s0//4)//8", "(s0//32)"},
      {"nested with offset (e//a + c)//b -> (e + c*a)//(a*b)", "((s0//4) + 1)//8", "((s0 + 4)//32)"},
      {"within one period -> constant", "Mod(s0, 16)//16", "0"},
      {"e//e -> 1", "s0//s0", "1"},
      {"(t*e)//e -> t", "(3*s0 + 3*s1)//(s0 + s1)", "3"},
      {"common factor cancels", "(s0*s1)//s1", "s0"},
      {"common integer factor cancels", "(2*s0)//(2*s1)", "(s0//s1)"},
      {"symbolic divisor sign normalized", "s0//(-s1)", "((-s0)//s1)"},
      {"CeilDiv(a, k) -> (a + k - 1)//k", "CeilDiv(s0, 16)", "((s0 + 15)//16)"},
      {"CeilDiv(a, b) -> -((-a)//b)", "CeilDiv(s0, s1)", "-(((-s0)//s1))"},
      // modulo
      {"(k*e)%k -> 0", "Mod(32*s0, 32)", "0"},
      {"e%1 -> 0", "Mod(s0, 1)", "0"},
      {"coefficients reduced mod k", "Mod(17*s0 + 35, 16)", "Mod(s0 + 3, 16)"},
      {"coefficients reduced to least magnitude", "Mod(15*s0 + 16, 16)", "Mod(-s0, 16)"},
      {"Mod(g*x + c, g*k) -> g*Mod(x + c//g, k) + c%g", "Mod(4*s0 + 6, 8)", "4*(Mod(s0 + 1, 2)) + 2"},
      {"Mod(Mod(e, j*k), k) -> Mod(e, k)", "Mod(Mod(s0, 32), 16)", "Mod(s0, 16)"},
      {"Mod(Mod(e, k), j*k) -> Mod(e, k)", "Mod(Mod(s0, 16), 32)", "Mod(s0, 16)"},
      {"Mod(e, -k) -> -Mod(-e, k)", "Mod(s0, -16)", "-Mod(-s0, 16)"},
      {"Mod(e, e) -> 0", "Mod(s0 + s1, s0 + s1)", "0"},
      {"Mod(e*b, b) -> 0", "Mod(s0*s1, s1)", "0"},
      {"Mod(g*a, g*b) -> g*Mod(a, b)", "Mod(2*s0, 2*s1)", "2*(Mod(s0, s1))"},
      // Max / Min
      {"Max(e, e) -> e", "Max(s0, s0)", "s0"},
      {"Max(e + 1, e) -> e + 1", "Max(s0 + 1, s0)", "s0 + 1"},
      {"Min(e, e - 3) -> e - 3", "Min(s0, s0 - 3)", "s0 - 3"},
      {"nested Max flattens, constants fold", "Max(1, Max(s0, 2))", "Max(2, s0)"},
      {"Max bounded by Mod range", "Max(Mod(s0, 16), 16)", "16"},
      {"Max(e) -> e", "Max(s0)", "s0"},
      {"absorption Max(a, Min(a, b)) -> a", "Max(s0, Min(s0, s1))", "s0"},
      {"absorption Min(a, Max(a, b)) -> a", "Min(s1, Max(s0, s1), s2)", "Min(s1, s2)"},
      {"distributivity Min(Max(x, a), Max(x, b)) -> Max(x, Min(a, b))", "Min(Max(16, s2), Max(s1, s2))",
       "Max(s2, Min(16, s1))"},
      {"distributivity Max(Min(x, a), Min(x, b)) -> Min(x, Max(a, b))", "Max(Min(s0, s1, s2), Min(s0, s3))",
       "Min(s0, Max(s3, Min(s1, s2)))"},
  };
  for (const Row& r : rows) {
    const std::string cap_rule = r.rule;
    CAPTURE(cap_rule);
    const std::string cap_input = r.input;
    CAPTURE(cap_input);
    CHECK(parse(r.input).str() == r.expected);
  }
}

TEST_CASE("symint: range-based simplification") {
  struct Row {
    const char* rule;
    const char* input;
    RangeMap ranges;
    const char* expected;
  };
  const Row rows[] = {
      {"Max(1, s) with s >= 2", "Max(1, s0)", ranges_of({{"s0", {2, kNone}}}), "s0"},
      {"Max(1, s) with default s >= 0 stays", "Max(1, s0)", {}, "Max(1, s0)"},
      {"Max(0, s) with default s >= 0", "Max(0, s0)", {}, "s0"},
      {"Min(s, 8) with s <= 4", "Min(s0, 8)", ranges_of({{"s0", {0, 4}}}), "s0"},
      {"e//k with 0 <= e < k -> 0", "s0//16", ranges_of({{"s0", {0, 15}}}), "0"},
      {"e//k within one period -> j", "s0//16", ranges_of({{"s0", {32, 47}}}), "2"},
      {"Mod(e, k) with 0 <= e < k -> e", "Mod(s0, 16)", ranges_of({{"s0", {0, 15}}}), "s0"},
      {"Mod(e, k) within one period -> e - j*k", "Mod(s0, 16)", ranges_of({{"s0", {16, 31}}}), "s0 - 16"},
      {"a//b with 0 <= a < b -> 0", "s0//s1", ranges_of({{"s0", {0, 3}}, {"s1", {4, 8}}}), "0"},
      {"Mod(a, b) with 0 <= a < b -> a", "Mod(s0, s1)", ranges_of({{"s0", {0, 3}}, {"s1", {4, 8}}}), "s0"},
      {"(e//a)//b -> e//(a*b) with b >= 1", "(s0//s1)//s2", ranges_of({{"s1", {1, kNone}}, {"s2", {1, kNone}}}),
       "(s0//(s1*s2))"},
      {"(e//a)//b kept when b may be 0", "(s0//s1)//s2", ranges_of({{"s2", {0, kNone}}}), "(((s0//s1))//s2)"},
      {"unbounded symbol keeps Max", "Max(1, s0)", ranges_of({{"s0", {kNone, kNone}}}), "Max(1, s0)"},
  };
  for (const Row& r : rows) {
    const std::string cap_rule = r.rule;
    CAPTURE(cap_rule);
    CHECK(simplify(parse(r.input), r.ranges).str() == r.expected);
  }
}

TEST_CASE("symint: prove_equal is three-valued") {
  const RangeMap s68_ge2 = ranges_of({{"s68", {2, kNone}}});
  struct Row {
    const char* a;
    const char* b;
    RangeMap ranges;
    Truth expected;
  };
  const Row rows[] = {
      {"(32*s68)//32", "s68", {}, Truth::True},
      {"4096*s0", "32*(128*s0)", {}, Truth::True},
      {"32*s68", "16*s68", s68_ge2, Truth::False},
      {"32*s68", "16*s68", {}, Truth::Unknown},  // s68 == 0 is allowed by the default s68 >= 0
      {"(s0//2)*2", "s0", {}, Truth::Unknown},
      {"(s0//2)*2", "s0", ranges_of({{"s0", {2, kNone}}}), Truth::Unknown},
      {"s0*s1", "s1*s0", {}, Truth::True},
      {"s0**2", "s0*s0", {}, Truth::True},
      {"s0 + 1", "s0", {}, Truth::False},                                 // nonzero constant difference
      {"2*s0", "2*s1 + 1", {}, Truth::False},                            // parity: gcd 2 does not divide 1
      {"s0", "s1", {}, Truth::Unknown},
      {"s0", "s0 + s1", ranges_of({{"s1", {1, kNone}}}), Truth::False},  // bounds exclude 0
      {"CeilDiv(s0, 16)", "(s0 - 1)//16 + 1", {}, Truth::True},
      {"Mod(s0, 16) + 16*(s0//16)", "s0", {}, Truth::True},              // Mod expansion
      {"Max(1, s0)", "s0", ranges_of({{"s0", {2, kNone}}}), Truth::True},  // range simplification
      {"Max(1, s0)", "s0", ranges_of({{"s0", {kNone, kNone}}}), Truth::Unknown},
      {"s0//16", "0", ranges_of({{"s0", {0, 15}}}), Truth::True},
      {"Mod(s0, 16)", "16", {}, Truth::False},                           // Mod(., 16) <= 15
      {"s75*((s75//(((s75**2)//4096))))", "s75*(s75//((s75**2)//4096))", {}, Truth::True},
  };
  for (const Row& r : rows) {
    const std::string cap_a = r.a;
    CAPTURE(cap_a);
    const std::string cap_b = r.b;
    CAPTURE(cap_b);
    CHECK(to_string(prove_equal(parse(r.a), parse(r.b), r.ranges)) == std::string(to_string(r.expected)));
    CHECK(to_string(prove_equal(parse(r.b), parse(r.a), r.ranges)) == std::string(to_string(r.expected)));
  }
}

TEST_CASE("symint: prove_divisible and prove_nonnegative") {
  const RangeMap s0_ge2 = ranges_of({{"s0", {2, kNone}}});
  struct DivRow {
    const char* a;
    int64_t k;
    Truth expected;
  };
  const DivRow div_rows[] = {
      {"32*s0", 16, Truth::True},      {"32*s0 + 8", 16, Truth::False}, {"s0", 16, Truth::Unknown},
      {"4*s0", 8, Truth::Unknown},     {"4*s0 + 2", 4, Truth::False},   {"s0*(s0 + 1)", 1, Truth::True},
      {"16*s0", -8, Truth::True},      {"0", 0, Truth::True},           {"s0 - 1", 0, Truth::Unknown},
      {"s0 + 1", 0, Truth::False},
  };
  for (const DivRow& r : div_rows) {
    const std::string cap_a = r.a;
    CAPTURE(cap_a);
    CAPTURE(r.k);
    CHECK(prove_divisible(parse(r.a), r.k) == r.expected);
  }
  struct NonnegRow {
    const char* a;
    RangeMap ranges;
    Truth expected;
  };
  const NonnegRow nonneg_rows[] = {
      {"s0 - 1", s0_ge2, Truth::True},
      {"-s0 - 1", {}, Truth::False},
      {"s0 - 5", s0_ge2, Truth::Unknown},
      {"Mod(s0, 16) - 16", ranges_of({{"s0", {kNone, kNone}}}), Truth::False},
      {"s0*s0", ranges_of({{"s0", {kNone, kNone}}}), Truth::True},  // even power
  };
  for (const NonnegRow& r : nonneg_rows) {
    const std::string cap_a = r.a;
    CAPTURE(cap_a);
    CHECK(prove_nonnegative(parse(r.a), r.ranges) == r.expected);
  }
}

TEST_CASE("symint: bounds") {
  struct Row {
    const char* e;
    RangeMap ranges;
    std::optional<int64_t> lo, hi;
  };
  const Row rows[] = {
      {"32*s68", ranges_of({{"s68", {2, kNone}}}), 64, kNone},
      {"s0", {}, 0, kNone},  // default: sizes are >= 0
      {"-s0 + 7", {}, kNone, 7},
      {"Mod(s0, 16)", {}, 0, 15},
      {"Mod(s0, 16)", ranges_of({{"s0", {0, 9}}}), 0, 9},
      {"s0//4", ranges_of({{"s0", {0, 100}}}), 0, 25},
      {"s0//4", ranges_of({{"s0", {-9, 100}}}), -3, 25},
      {"s0//s1", ranges_of({{"s0", {0, 100}}, {"s1", {2, 10}}}), 0, 50},
      {"Max(s0, s1)", ranges_of({{"s0", {1, 5}}, {"s1", {3, 4}}}), 3, 5},
      {"Min(s0, s1)", ranges_of({{"s0", {1, 5}}, {"s1", {3, 4}}}), 1, 4},
      {"s0**2", ranges_of({{"s0", {-3, 2}}}), 0, 9},
      {"s0*s1", ranges_of({{"s0", {-3, 2}}, {"s1", {-1, 5}}}), -15, 10},
      {"s0 - s1", ranges_of({{"s0", {kNone, 4}}}), kNone, 4},
  };
  for (const Row& r : rows) {
    const std::string cap_e = r.e;
    CAPTURE(cap_e);
    Range b = bounds(parse(r.e), r.ranges);
    CHECK(b.min == r.lo);
    CHECK(b.max == r.hi);
  }
}

TEST_CASE("symint: substitute re-canonicalises") {
  struct Row {
    const char* e;
    std::vector<std::pair<const char*, const char*>> bindings;
    const char* expected;
  };
  const Row rows[] = {
      {"32*s68", {{"s68", "s0 + 1"}}, "32*s0 + 32"},
      {"(s0*s1)//32", {{"s1", "32"}}, "s0"},
      {"Max(1, s0)", {{"s0", "5"}}, "5"},
      {"s0 + s1", {{"s0", "s1"}}, "2*s1"},
      {"s0 + s1", {{"s2", "7"}}, "s0 + s1"},  // unbound symbols stay
      {"Mod(s0, s1)", {{"s1", "16"}, {"s0", "16*s2 + 3"}}, "3"},
      {"x*y", {{"x", "s0"}, {"y", "y"}}, "s0*y"},  // pattern variables
  };
  for (const Row& r : rows) {
    const std::string cap_e = r.e;
    CAPTURE(cap_e);
    std::map<std::string, Expr, std::less<>> b;
    for (const auto& [k, v] : r.bindings) b[k] = parse(v);
    CHECK(substitute(parse(r.e), b).str() == r.expected);
  }
}

TEST_CASE("symint: evaluate") {
  struct Row {
    const char* e;
    std::map<std::string, int64_t, std::less<>> values;
    int64_t expected;
  };
  const Row rows[] = {
      {"((s75**2)//4096)", {{"s75", 128}}, 4},
      {"s75*((s75//(((s75**2)//4096))))", {{"s75", 128}}, 4096},
      {"-7//2", {}, -4},
      {"Mod(s0, 3)", {{"s0", -7}}, 2},
      {"Mod(s0, -3)", {{"s0", 7}}, -2},
      {"s0//s1", {{"s0", -7}, {"s1", 2}}, -4},
      {"Max(1, s0)", {{"s0", 0}}, 1},
      {"Min(s0, s1, 3)", {{"s0", 9}, {"s1", 4}}, 3},
      {"CeilDiv(s0, 16)", {{"s0", 17}}, 2},
      {"-s0 + 7", {{"s0", 10}}, -3},
  };
  for (const Row& r : rows) {
    const std::string cap_e = r.e;
    CAPTURE(cap_e);
    CHECK(evaluate(parse(r.e), r.values) == r.expected);
  }
  struct ErrRow {
    const char* e;
    std::map<std::string, int64_t, std::less<>> values;
    const char* message;
  };
  const ErrRow errors[] = {
      {"s0 + 1", {}, "unbound symbol 's0'"},
      {"s0//s1", {{"s0", 1}, {"s1", 0}}, "division by zero"},
      {"Mod(s0, s1)", {{"s0", 1}, {"s1", 0}}, "division by zero"},
      {"s0//0", {{"s0", 1}}, "division by zero"},
      {"s0*s0", {{"s0", int64_t{1} << 40}}, "overflow"},
  };
  for (const ErrRow& r : errors) {
    const std::string cap_e = r.e;
    CAPTURE(cap_e);
    try {
      evaluate(parse(r.e), r.values);
      FAIL("expected EvalError");
    } catch (const EvalError& err) {
      CHECK(std::string(err.what()).find(r.message) != std::string::npos);
    }
  }
}

TEST_CASE("symint: parse errors carry a position") {
  struct Row {
    const char* input;
    size_t position;
    const char* message;
  };
  const Row rows[] = {
      {"", 0, "expected expression at position 0"},
      {"(s0 + 1", 7, "expected ')' at position 7"},
      {"Max(1, s0", 9, "expected ')' at position 9"},
      {"s0 +", 4, "expected expression at position 4"},
      {"Foo(s0)", 0, "unknown function 'Foo' at position 0"},
      {"s0 ** -1", 6, "expected integer exponent at position 6"},
      {"s0**2**2", 5, "unexpected '**' at position 5"},
      {"FloorDiv(s0)", 0, "FloorDiv expects 2 arguments at position 0"},
      {"Mod(s0, 1, 2)", 0, "Mod expects 2 arguments at position 0"},
      {"s0 $ 1", 3, "unexpected '$' at position 3"},
      {"s0 s1", 3, "unexpected 's' at position 3"},
      {"s0 / 2", 3, "unexpected '/' at position 3"},
      {"2.5", 1, "unexpected '.' at position 1"},
      {"99999999999999999999", 0, "integer literal out of range at position 0"},
      {"9223372036854775807 + 1", 20, "integer overflow at position 20"},
      {"(s0 + s1 + s2)**100", 14, "exponent too large to expand at position 14"},
  };
  for (const Row& r : rows) {
    const std::string cap_input = r.input;
    CAPTURE(cap_input);
    try {
      parse(r.input);
      FAIL("expected ParseError");
    } catch (const ParseError& e) {
      CHECK(std::string(e.what()) == r.message);
      CHECK(e.position == r.position);
    }
  }
  CHECK_THROWS_AS(parse(std::string(1000, '(') + "s0" + std::string(1000, ')')), ParseError);
}

TEST_CASE("symint: equal deeply nested operands compare in linear time, and long sums parse in one list") {
  // s0%s1%...: atoms nested 60 deep. Comparing two equal such atoms used to compare each level's operands twice
  // (2^60 steps); they now cancel at once.
  std::string chain = "s0";
  for (int i = 1; i < 60; ++i) chain += "%s" + std::to_string(i % 6);
  CHECK(parse("s7 - " + chain + " + " + chain).str() == "s7");
  CHECK(parse("Max(" + chain + ", " + chain + ")") == parse(chain));
  CHECK(parse(chain + " - (" + chain + ")").str() == "0");
  // A sum is merged term by term as it is read, with the checks a + b makes at each operator.
  std::string sum, want;
  for (int i = 0; i < 300; ++i) sum += (i ? " + " : "") + std::to_string(i + 1) + "*s" + std::to_string(i % 7);
  CHECK(parse(sum).str() == "6364*s0 + 6407*s1 + 6450*s2 + 6493*s3 + 6536*s4 + 6579*s5 + 6321*s6");
  const std::string half = sum.substr(0, sum.find(" + 151*"));  // 150 terms
  CHECK(parse(half + " - (" + half + ")").str() == "0");
  CHECK(parse(half + " + s9 - (" + half + ")").str() == "s9");
  CHECK_THROWS_WITH_AS(parse("9223372036854775807*s0 + s1 + s0"), "integer overflow at position 28", ParseError);
  CHECK_THROWS_WITH_AS(parse("s1 - 9223372036854775807*s0 - s0 - s0"), "integer overflow at position 33", ParseError);
}

TEST_CASE("symint: accessors, hashing and builders") {
  CHECK(Expr().as_constant() == 0);
  CHECK(Expr::constant(5).as_constant() == 5);
  CHECK(parse("s0").as_constant() == kNone);
  CHECK(parse("s0").as_symbol() == "s0");
  CHECK(parse("2*s0").as_symbol() == std::nullopt);
  CHECK(parse("s0 + 1").as_symbol() == std::nullopt);
  CHECK(parse("Max(s2, s0//s1) + Mod(s3, 4)").free_symbols() == std::set<std::string>{"s0", "s1", "s2", "s3"});
  CHECK(parse("7").free_symbols().empty());

  CHECK(parse("s0 + s1") == parse("s1+s0"));
  CHECK(parse("s0 + s1").hash() == parse("s1+s0").hash());
  CHECK(parse("s0 + s1") != parse("s0 + s2"));
  std::unordered_set<Expr, ExprHash> set{parse("32*s68"), parse("s68*32"), parse("16*s68")};
  CHECK(set.size() == 2);

  Expr s0 = Expr::symbol("s0"), s1 = Expr::symbol("s1");
  CHECK((s0 * Expr::constant(32)).str() == "32*s0");
  CHECK((s0 * Expr::constant(32)) == parse("32*s0"));
  CHECK((s0 - s1) == parse("s0 - s1"));
  CHECK((-s0) == parse("-s0"));
  CHECK(floordiv(s0 * Expr::constant(4), Expr::constant(4)) == s0);
  CHECK(mod(s0, Expr::constant(8)) == parse("Mod(s0, 8)"));
  CHECK(ceildiv(s0, Expr::constant(8)) == parse("CeilDiv(s0, 8)"));
  CHECK(max(s0, s1) == parse("Max(s1, s0)"));
  CHECK(min(s0, Expr::constant(3)) == parse("Min(3, s0)"));
  CHECK(pow(s0 + s1, 2) == parse("s0**2 + 2*s0*s1 + s1**2"));
  CHECK_THROWS_AS(pow(s0, -1), std::invalid_argument);
  CHECK(std::string(to_string(Truth::True)) == "true");
  CHECK(std::string(to_string(Truth::False)) == "false");
  CHECK(std::string(to_string(Truth::Unknown)) == "unknown");
}

// ---------------------------------------------------------------------------------------------------
// Randomized checks: expression trees evaluated directly (Python semantics) against the canonical form.
// ---------------------------------------------------------------------------------------------------

namespace {

struct Tree {
  enum Op { Const, Sym, Add, Sub, Mul, FloorDivOp, ModOp, Neg, MaxOp, MinOp, CeilDivOp, PowOp } op;
  int64_t value = 0;  // Const value, Sym index, Pow exponent
  std::vector<Tree> kids;
};

using Vals = std::map<std::string, int64_t, std::less<>>;
const char* const kSyms[] = {"s0", "s1", "s2"};

Tree random_tree(std::mt19937& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  if (depth == 0 || pick(4) == 0) {
    if (pick(2)) return Tree{Tree::Sym, pick(3), {}};
    static const int64_t consts[] = {0, 1, 2, 3, 4, 7, 8, 16, -1, -2, -3, 32};
    return Tree{Tree::Const, consts[pick(12)], {}};
  }
  auto op = static_cast<Tree::Op>(2 + pick(10));
  Tree t{op, 0, {}};
  if (op == Tree::Neg) {
    t.kids.push_back(random_tree(rng, depth - 1));
  } else if (op == Tree::PowOp) {
    t.value = pick(3);
    t.kids.push_back(random_tree(rng, depth - 1));
  } else {
    int n = (op == Tree::MaxOp || op == Tree::MinOp) ? 2 + pick(2) : 2;
    for (int i = 0; i < n; ++i) t.kids.push_back(random_tree(rng, depth - 1));
    // Divisors are mostly small constants, as in real shapes.
    if ((op == Tree::FloorDivOp || op == Tree::ModOp || op == Tree::CeilDivOp) && pick(3) != 0) {
      static const int64_t divs[] = {2, 3, 4, 8, 16, -4};
      t.kids[1] = Tree{Tree::Const, divs[pick(6)], {}};
    }
  }
  return t;
}

// Fully parenthesized text (built by appending: GCC 12 warns falsely on "(" + std::string&&).
void render_to(const Tree& t, std::string& out) {
  auto kid = [&](size_t i) {
    out += '(';
    render_to(t.kids[i], out);
    out += ')';
  };
  auto binary = [&](const char* op) {
    kid(0);
    out += op;
    kid(1);
  };
  switch (t.op) {
    case Tree::Const: out += std::to_string(t.value); break;
    case Tree::Sym: out += kSyms[t.value]; break;
    case Tree::Add: binary(" + "); break;
    case Tree::Sub: binary(" - "); break;
    case Tree::Mul: binary("*"); break;
    case Tree::FloorDivOp: binary("//"); break;
    case Tree::ModOp: binary(" % "); break;
    case Tree::Neg:
      out += '-';
      kid(0);
      break;
    case Tree::PowOp:
      kid(0);
      out += "**";
      out += std::to_string(t.value);
      break;
    case Tree::CeilDivOp:
    case Tree::MaxOp:
    case Tree::MinOp:
      out += t.op == Tree::CeilDivOp ? "CeilDiv(" : t.op == Tree::MaxOp ? "Max(" : "Min(";
      for (size_t i = 0; i < t.kids.size(); ++i) {
        if (i) out += ", ";
        render_to(t.kids[i], out);
      }
      out += ')';
      break;
  }
}

std::string render(const Tree& t) {
  std::string out;
  render_to(t, out);
  return out;
}

// Python semantics; nullopt when undefined (division by zero) or out of a comfortable range.
std::optional<int64_t> eval_tree(const Tree& t, const Vals& v) {
  std::vector<int64_t> a;
  for (const Tree& c : t.kids) {
    auto x = eval_tree(c, v);
    if (!x) return std::nullopt;
    a.push_back(*x);
  }
  auto fdiv = [](int64_t x, int64_t y) {
    int64_t q = x / y;
    if (x % y != 0 && ((x < 0) != (y < 0))) --q;
    return q;
  };
  int64_t r = 0;
  switch (t.op) {
    case Tree::Const: r = t.value; break;
    case Tree::Sym: r = v.at(kSyms[t.value]); break;
    case Tree::Add: r = a[0] + a[1]; break;
    case Tree::Sub: r = a[0] - a[1]; break;
    case Tree::Mul: r = a[0] * a[1]; break;
    case Tree::Neg: r = -a[0]; break;
    case Tree::PowOp: r = t.value == 0 ? 1 : t.value == 1 ? a[0] : a[0] * a[0]; break;
    case Tree::FloorDivOp:
      if (a[1] == 0) return std::nullopt;
      r = fdiv(a[0], a[1]);
      break;
    case Tree::ModOp:
      if (a[1] == 0) return std::nullopt;
      r = a[0] - a[1] * fdiv(a[0], a[1]);
      break;
    case Tree::CeilDivOp:
      if (a[1] == 0) return std::nullopt;
      r = -fdiv(-a[0], a[1]);
      break;
    case Tree::MaxOp: r = *std::max_element(a.begin(), a.end()); break;
    case Tree::MinOp: r = *std::min_element(a.begin(), a.end()); break;
  }
  if (r > (int64_t{1} << 30) || r < -(int64_t{1} << 30)) return std::nullopt;
  return r;
}

// Ranges used by the randomized proofs, and assignments drawn from them.
const RangeMap kFuzzRanges = ranges_of({{"s0", {2, 40}}, {"s1", {0, 9}}, {"s2", {-6, 6}}});

Vals random_values(std::mt19937& rng, bool in_ranges) {
  Vals v;
  if (in_ranges) {
    v["s0"] = 2 + static_cast<int64_t>(rng() % 39);
    v["s1"] = static_cast<int64_t>(rng() % 10);
    v["s2"] = -6 + static_cast<int64_t>(rng() % 13);
  } else {
    for (const char* s : kSyms) v[s] = -20 + static_cast<int64_t>(rng() % 61);
  }
  return v;
}

}  // namespace

TEST_CASE("symint: randomized canonical form agrees with direct evaluation and round-trips") {
  std::mt19937 rng(12345);
  int checked = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Tree t = random_tree(rng, 4);
    std::string text = render(t);
    CAPTURE(text);
    Expr e;
    try {
      e = parse(text);
    } catch (const ParseError& err) {
      // Only expansion limits may refuse a well-formed random expression.
      CHECK(std::string(err.what()).find("too large") != std::string::npos);
      continue;
    }
    CAPTURE(e.str());
    Expr back = parse(e.str());
    CHECK(back == e);
    CHECK(back.hash() == e.hash());
    CHECK(back.str() == e.str());
    Expr simplified = simplify(e, kFuzzRanges);
    Range b = bounds(e, kFuzzRanges);
    for (int s = 0; s < 12; ++s) {
      bool in_ranges = s % 2 == 0;
      Vals v = random_values(rng, in_ranges);
      auto want = eval_tree(t, v);
      if (!want) continue;
      CAPTURE(v.at("s0"));
      CAPTURE(v.at("s1"));
      CAPTURE(v.at("s2"));
      try {
        CHECK(evaluate(e, v) == *want);
        if (in_ranges) {
          CHECK(evaluate(simplified, v) == *want);
          if (b.min) CHECK(*b.min <= *want);
          if (b.max) CHECK(*want <= *b.max);
        }
        ++checked;
      } catch (const EvalError& err) {
        // Intermediate products of the expanded form can exceed int64 where the tree did not.
        CHECK(std::string(err.what()).find("overflow") != std::string::npos);
      }
    }
  }
  CHECK(checked > 10000);
}

TEST_CASE("symint: randomized proofs are never wrong") {
  std::mt19937 rng(777);
  int decided = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Tree ta = random_tree(rng, 3);
    Tree tb;
    switch (iter % 3) {
      case 0: tb = random_tree(rng, 3); break;
      case 1: tb = Tree{Tree::Add, 0, {ta, Tree{Tree::Const, static_cast<int64_t>(rng() % 3), {}}}}; break;
      default: tb = Tree{Tree::Mul, 0, {ta, Tree{Tree::Const, 1 + static_cast<int64_t>(rng() % 2), {}}}}; break;
    }
    Expr a, b;
    try {
      a = parse(render(ta));
      b = parse(render(tb));
    } catch (const ParseError&) {
      continue;
    }
    CAPTURE(a.str());
    CAPTURE(b.str());
    Truth eq = prove_equal(a, b, kFuzzRanges);
    Truth nonneg = prove_nonnegative(a, kFuzzRanges);
    Truth div4 = prove_divisible(a, 4, kFuzzRanges);
    if (eq != Truth::Unknown) ++decided;
    for (int s = 0; s < 16; ++s) {
      Vals v = random_values(rng, true);
      auto va = eval_tree(ta, v), vb = eval_tree(tb, v);
      if (va && vb && eq != Truth::Unknown) CHECK((*va == *vb) == (eq == Truth::True));
      if (va && nonneg != Truth::Unknown) CHECK((*va >= 0) == (nonneg == Truth::True));
      if (va && div4 != Truth::Unknown) CHECK((*va % 4 == 0) == (div4 == Truth::True));
    }
  }
  CHECK(decided > 500);
}
