// Symbolic integers (PyTorch SymInt expressions): parsing, canonical form, printing, and sound proofs.
//
// An Expr is immutable and canonical: a sum of monomials with integer coefficients over atoms, where an
// atom is a symbol or an opaque application (FloorDiv, Mod, Max, Min, CeilDiv) of canonical operands.
// Structural equality of canonical forms implies mathematical equality; the converse does not hold, so
// proofs answer True / False / Unknown and never guess.
//
// Canonicalisation only applies identities that hold for every integer assignment (where divisors are
// nonzero): products are expanded, FloorDiv/Mod by a constant pull out multiples of the divisor and
// cancel common factors, nested floor divisions merge, Max/Min flatten and drop dominated operands.
// CeilDiv is lowered as PyTorch does: CeilDiv(a, k) == (a + k - 1)//k for a constant k > 0, and
// -((-a)//b) otherwise. Mod, PythonMod and % all mean Python's modulo (sign of the divisor).
// Arithmetic that leaves int64 throws std::overflow_error (parse() reports it as a ParseError).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fxopt::sym {

// Thrown by parse(): `position` is the 0-based character offset in the parsed text.
struct ParseError : std::runtime_error {
  size_t position;
  ParseError(const std::string& msg, size_t pos) : std::runtime_error(msg), position(pos) {}
};

// Thrown by evaluate() (unbound symbol, division by zero, overflow).
struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Node;  // implementation detail

class Expr {
 public:
  Expr();                                       // the constant 0
  static Expr constant(int64_t value);
  static Expr symbol(std::string name);

  // Canonical text as sympy's StrPrinter with PyTorch's FloorDiv printer writes it ("32*s68",
  // "((s75**2)//4096)", "Max(1, s0)", "s0*(Mod(s1, 16))"), except that a constant always comes last:
  // "-s0 + 7" where sympy writes "7 - s0". parse(e.str()) == e.
  std::string str() const;
  std::optional<int64_t> as_constant() const;   // value if the expression is a constant
  std::optional<std::string> as_symbol() const; // name if the expression is a single symbol
  std::set<std::string> free_symbols() const;
  size_t hash() const;

  bool operator==(const Expr& o) const;         // same canonical form (=> provably equal)
  bool operator!=(const Expr& o) const { return !(*this == o); }

  friend Expr operator+(const Expr& a, const Expr& b);
  friend Expr operator-(const Expr& a, const Expr& b);
  friend Expr operator*(const Expr& a, const Expr& b);
  friend Expr operator-(const Expr& a);

  const std::shared_ptr<const Node>& impl() const { return node_; }
  explicit Expr(std::shared_ptr<const Node> n) : node_(std::move(n)) {}

 private:
  std::shared_ptr<const Node> node_;
};

// Python semantics: floor division and modulo with the sign of the divisor.
Expr floordiv(const Expr& a, const Expr& b);
Expr mod(const Expr& a, const Expr& b);
Expr ceildiv(const Expr& a, const Expr& b);
Expr max(const Expr& a, const Expr& b);
Expr min(const Expr& a, const Expr& b);
Expr pow(const Expr& a, int64_t exponent);  // exponent >= 0

// Parses the grammar of spec/fxgraph.md. Throws ParseError with the offending position.
Expr parse(std::string_view text);

// Known range of a symbol; nullopt = unbounded on that side. Sizes default to >= 0 when unknown:
// a symbol absent from a RangeMap is taken to lie in [0, inf); a present one uses exactly its range.
struct Range {
  std::optional<int64_t> min;
  std::optional<int64_t> max;
};
using RangeMap = std::map<std::string, Range, std::less<>>;

enum class Truth { True, False, Unknown };
const char* to_string(Truth t);

// Sound three-valued proofs, using symbol ranges. Unknown whenever a proof is not found.
Truth prove_equal(const Expr& a, const Expr& b, const RangeMap& ranges = {});
Truth prove_divisible(const Expr& a, int64_t k, const RangeMap& ranges = {});   // a % k == 0
Truth prove_nonnegative(const Expr& a, const RangeMap& ranges = {});             // a >= 0
// Interval bounds of a under the ranges (nullopt = unbounded).
Range bounds(const Expr& a, const RangeMap& ranges = {});

// Re-canonicalises `e` using the ranges: Max/Min of provably ordered operands, FloorDiv/Mod of operands
// provably within one period, nested floor divisions by provably positive divisors. The result is equal
// to `e` for every assignment within the ranges (not necessarily outside them).
Expr simplify(const Expr& e, const RangeMap& ranges);

// Replace symbols by expressions (pattern variable bindings), re-canonicalising.
Expr substitute(const Expr& e, const std::map<std::string, Expr, std::less<>>& bindings);

// Concrete evaluation; throws EvalError for unbound symbols or division by zero.
int64_t evaluate(const Expr& e, const std::map<std::string, int64_t, std::less<>>& values);

struct ExprHash {
  size_t operator()(const Expr& e) const { return e.hash(); }
};

}  // namespace fxopt::sym
