// Symbolic integers: canonical polynomial form over symbols and FloorDiv/Mod/Max/Min atoms, parsing,
// sympy-style printing, interval bounds and three-valued proofs.
//
// Every rewrite applied while building an Expr is an identity over all integers (where the original
// expression is defined, i.e. divisors are nonzero); rewrites that need symbol ranges live only in
// simplify() and the prove_* functions, which take the ranges explicitly.
#include "core/ir/symint.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <limits>
#include <numeric>
#include <utility>

namespace fxopt::sym {

// ---------------------------------------------------------------------------------------------------
// Representation
// ---------------------------------------------------------------------------------------------------

enum class Kind : uint8_t { Symbol, FloorDiv, Mod, Max, Min };

struct AtomNode {
  Kind kind;
  std::string name;        // Symbol only
  std::vector<Expr> args;  // FloorDiv/Mod: {a, b}; Max/Min: >= 2 operands, sorted, distinct
  size_t hash;
  size_t nodes;                // sympy's node count of this atom's tree
  size_t depth = 1;            // nesting of atoms in this atom's tree (the parser bounds it)
  std::vector<Expr> key_args;  // Max/Min: args as sympy's .args orders them (node count, then sort key)
};
using Atom = std::shared_ptr<const AtomNode>;

struct Factor {
  Atom atom;
  int64_t exp;  // >= 1
};
using Monomial = std::vector<Factor>;  // sorted by cmp_atom, atoms distinct, never empty inside a Term

struct Term {
  Monomial mono;
  int64_t coef;  // != 0
};

// A canonical polynomial: sum of terms (sorted in print order, distinct monomials) plus a constant.
struct Node {
  std::vector<Term> terms;
  int64_t constant = 0;
  size_t hash = 0;
};

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxTerms = 20000;      // cap on expansion of products/powers
constexpr int64_t kMaxExpandPow = 64;    // cap on the exponent of a sum being expanded

// ----- checked integer arithmetic (Python semantics for // and %) -----------------------------------

[[noreturn]] void overflow() { throw std::overflow_error("integer overflow"); }

int64_t add_ck(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
int64_t mul_ck(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}
int64_t neg_ck(int64_t a) {
  if (a == kMin) overflow();
  return -a;
}
// floor(a / b), b != 0.
int64_t floordiv_ck(int64_t a, int64_t b) {
  if (a == kMin && b == -1) overflow();
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}
// a - b*floor(a/b): result has the sign of b. b != 0.
int64_t mod_py(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
int64_t pow_ck(int64_t b, int64_t e) {
  if (e == 0) return 1;
  if (b == 0 || b == 1) return b;
  if (b == -1) return (e % 2) ? -1 : 1;
  int64_t r = 1;
  for (;;) {
    if (e & 1) r = mul_ck(r, b);
    e >>= 1;
    if (!e) return r;
    b = mul_ck(b, b);
  }
}
int64_t gcd_ck(int64_t a, int64_t b) {
  uint64_t ua = a < 0 ? 0 - static_cast<uint64_t>(a) : static_cast<uint64_t>(a);
  uint64_t ub = b < 0 ? 0 - static_cast<uint64_t>(b) : static_cast<uint64_t>(b);
  uint64_t g = std::gcd(ua, ub);
  if (g > static_cast<uint64_t>(kMax)) overflow();
  return static_cast<int64_t>(g);
}

size_t mix(size_t h, size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

const Node& N(const Expr& e) { return *e.impl(); }

// ----- total orders ---------------------------------------------------------------------------------

int cmp_expr(const Expr& a, const Expr& b);
int cmp_sympy(const Expr& a, const Expr& b);

// Structural equality, in time linear in the trees: the orders below compare equal operands twice at every
// level (by sort key, then structurally), which made comparing two equal atoms nested n deep cost 2^n (40 nested
// Mods in a 200-character expression took minutes). They ask this first: equal trees compare equal at once.
bool same_node(const Node& x, const Node& y);
bool same_atom(const AtomNode& a, const AtomNode& b) {
  if (&a == &b) return true;
  if (a.hash != b.hash || a.kind != b.kind || a.name != b.name || a.args.size() != b.args.size()) return false;
  for (size_t i = 0; i < a.args.size(); ++i)
    if (!same_node(*a.args[i].impl(), *b.args[i].impl())) return false;
  return true;
}
bool same_node(const Node& x, const Node& y) {
  if (&x == &y) return true;
  if (x.hash != y.hash || x.constant != y.constant || x.terms.size() != y.terms.size()) return false;
  for (size_t i = 0; i < x.terms.size(); ++i) {
    const Term& s = x.terms[i];
    const Term& t = y.terms[i];
    if (s.coef != t.coef || s.mono.size() != t.mono.size()) return false;
    for (size_t k = 0; k < s.mono.size(); ++k)
      if (s.mono[k].exp != t.mono[k].exp || !same_atom(*s.mono[k].atom, *t.mono[k].atom)) return false;
  }
  return true;
}

// Atoms in sympy's default_sort_key order (the order sympy uses for generators, factors and Max/Min
// operands): Symbol (by name) < FloorDiv < Mod < Max < Min, then operands by sort key.
int cmp_atom(const AtomNode& a, const AtomNode& b) {
  if (&a == &b || same_atom(a, b)) return 0;
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.kind == Kind::Symbol) {
    int c = a.name.compare(b.name);
    return (c > 0) - (c < 0);
  }
  if (a.args.size() != b.args.size()) return a.args.size() < b.args.size() ? -1 : 1;
  const std::vector<Expr>& ka = a.key_args.empty() ? a.args : a.key_args;
  const std::vector<Expr>& kb = b.key_args.empty() ? b.args : b.key_args;
  for (size_t i = 0; i < ka.size(); ++i)
    if (int c = cmp_sympy(ka[i], kb[i])) return c;
  for (size_t i = 0; i < a.args.size(); ++i)  // sort keys tie only for equal operands; stay total anyway
    if (int c = cmp_expr(a.args[i], b.args[i])) return c;
  return 0;
}

// Print order of monomials (sympy's lex order): over generators in atom order, the higher exponent
// comes first; the empty monomial (the constant) is last.
int cmp_mono(const Monomial& a, const Monomial& b) {
  size_t i = 0;
  for (; i < a.size() && i < b.size(); ++i) {
    int c = cmp_atom(*a[i].atom, *b[i].atom);
    if (c != 0) return c;
    if (a[i].exp != b[i].exp) return a[i].exp > b[i].exp ? -1 : 1;
  }
  if (i < a.size()) return -1;
  if (i < b.size()) return 1;
  return 0;
}

// ----- sympy's default_sort_key ---------------------------------------------------------------------
// key(e) = (class_key, (len(args), keys of args), key(exponent), coefficient) where a numeric coefficient
// and an integer power are stripped first. Class ranks follow sympy's class_key tuples:
// Number (1,0) < Symbol (2,0) < Mul (3,0) < Add (3,1) < FloorDiv, Mod (4,10000,name) < Max, Min (5,0,name).

enum SympyClass { kSNumber, kSSymbol, kSMul, kSAdd, kSFloorDiv, kSMod, kSMax, kSMin };

int atom_class(const AtomNode& a) {
  switch (a.kind) {
    case Kind::Symbol: return kSSymbol;
    case Kind::FloorDiv: return kSFloorDiv;
    case Kind::Mod: return kSMod;
    case Kind::Max: return kSMax;
    case Kind::Min: return kSMin;
  }
  return kSSymbol;
}

// One summand viewed as sympy sees it: coef*mono, or a number when mono is null.
struct TermView {
  int64_t coef;
  const Monomial* mono;
};

int term_class(const TermView& t) {
  if (!t.mono) return kSNumber;
  if (t.mono->size() > 1) return kSMul;
  return atom_class(*(*t.mono)[0].atom);
}

template <class T>
int cmp3(const T& a, const T& b) { return (a > b) - (a < b); }

int cmp_term_key(const TermView& a, const TermView& b) {
  int ca = term_class(a), cb = term_class(b);
  if (ca != cb) return cmp3(ca, cb);
  if (ca == kSNumber) return cmp3(a.coef, b.coef);
  if (ca == kSMul) {
    // args: the factors, already in key order; each factor's key is (atom key, exponent)
    if (a.mono->size() != b.mono->size()) return cmp3(a.mono->size(), b.mono->size());
    for (size_t i = 0; i < a.mono->size(); ++i) {
      if (int c = cmp_atom(*(*a.mono)[i].atom, *(*b.mono)[i].atom)) return c;
      if (int c = cmp3((*a.mono)[i].exp, (*b.mono)[i].exp)) return c;
    }
    return cmp3(a.coef, b.coef);
  }
  const Factor& fa = (*a.mono)[0];
  const Factor& fb = (*b.mono)[0];
  if (int c = cmp_atom(*fa.atom, *fb.atom)) return c;
  if (int c = cmp3(fa.exp, fb.exp)) return c;
  return cmp3(a.coef, b.coef);
}

std::vector<TermView> summands(const Node& n) {
  std::vector<TermView> v;
  v.reserve(n.terms.size() + 1);
  for (const Term& t : n.terms) v.push_back(TermView{t.coef, &t.mono});
  if (n.constant != 0 || n.terms.empty()) v.push_back(TermView{n.constant, nullptr});
  return v;
}

int cmp_sympy(const Expr& a, const Expr& b) {
  std::vector<TermView> x = summands(N(a)), y = summands(N(b));
  bool add_x = x.size() > 1, add_y = y.size() > 1;
  if (add_x != add_y) {
    int cx = add_x ? kSAdd : term_class(x[0]);
    int cy = add_y ? kSAdd : term_class(y[0]);
    return cmp3(cx, cy);
  }
  if (!add_x) return cmp_term_key(x[0], y[0]);
  if (x.size() != y.size()) return cmp3(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i)
    if (int c = cmp_term_key(x[i], y[i])) return c;
  return 0;
}

struct MonoLess {
  bool operator()(const Monomial& a, const Monomial& b) const { return cmp_mono(a, b) < 0; }
};

// Any total order consistent with structural equality; constants sort first (Max(1, s0)).
int cmp_expr(const Expr& a, const Expr& b) {
  const Node& x = N(a);
  const Node& y = N(b);
  if (same_node(x, y)) return 0;
  if (x.terms.size() != y.terms.size()) return x.terms.size() < y.terms.size() ? -1 : 1;
  for (size_t i = 0; i < x.terms.size(); ++i) {
    if (int c = cmp_mono(x.terms[i].mono, y.terms[i].mono)) return c;
    if (x.terms[i].coef != y.terms[i].coef) return x.terms[i].coef < y.terms[i].coef ? -1 : 1;
  }
  if (x.constant != y.constant) return x.constant < y.constant ? -1 : 1;
  return 0;
}

// sympy's _node_count: 1 + the node counts of the args (numbers and symbols are 1).
size_t term_nodes(const TermView& t) {
  if (!t.mono) return 1;
  size_t n = 0;
  for (const Factor& f : *t.mono) n += f.atom->nodes + (f.exp != 1 ? 2 : 0);  // Pow(base, exp)
  if (t.coef == 1 && t.mono->size() == 1) return n;
  return 1 + (t.coef != 1 ? 1 : 0) + n;  // Mul(coef, factors...)
}

size_t expr_nodes(const Expr& e) {
  std::vector<TermView> v = summands(N(e));
  if (v.size() == 1) return term_nodes(v[0]);
  size_t n = 1;  // Add
  for (const TermView& t : v) n += term_nodes(t);
  return n;
}

// ----- construction ---------------------------------------------------------------------------------

Expr make(std::vector<Term> terms, int64_t constant) {
  auto n = std::make_shared<Node>();
  n->terms = std::move(terms);
  n->constant = constant;
  size_t h = mix(0x51ed270b27c0ffeeULL, std::hash<int64_t>{}(constant));
  for (const Term& t : n->terms) {
    h = mix(h, std::hash<int64_t>{}(t.coef));
    for (const Factor& f : t.mono) h = mix(mix(h, f.atom->hash), std::hash<int64_t>{}(f.exp));
    h = mix(h, 0x7e77);
  }
  n->hash = h;
  return Expr(std::shared_ptr<const Node>(std::move(n)));
}

Atom make_atom(Kind kind, std::string name, std::vector<Expr> args) {
  auto a = std::make_shared<AtomNode>();
  a->kind = kind;
  size_t h = mix(0xa70a70, static_cast<size_t>(kind));
  if (kind == Kind::Symbol) h = mix(h, std::hash<std::string>{}(name));
  for (const Expr& e : args) h = mix(h, e.hash());
  a->nodes = 1;
  for (const Expr& e : args) a->nodes += expr_nodes(e);
  for (const Expr& e : args)
    for (const Term& t : e.impl()->terms)
      for (const Factor& f : t.mono) a->depth = std::max(a->depth, f.atom->depth + 1);
  if (kind == Kind::Max || kind == Kind::Min) {
    std::vector<std::pair<size_t, Expr>> keyed;
    for (const Expr& e : args) keyed.emplace_back(expr_nodes(e), e);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& x, const auto& y) {
      if (x.first != y.first) return x.first < y.first;
      return cmp_sympy(x.second, y.second) < 0;
    });
    for (auto& [n, e] : keyed) a->key_args.push_back(std::move(e));
  }
  a->name = std::move(name);
  a->args = std::move(args);
  a->hash = h;
  return a;
}

Expr from_atom(Atom a) { return make({Term{Monomial{Factor{std::move(a), 1}}, 1}}, 0); }
Expr opaque(Kind kind, std::vector<Expr> args) { return from_atom(make_atom(kind, "", std::move(args))); }

const std::shared_ptr<const Node>& zero_node() {
  static const std::shared_ptr<const Node> zero = make({}, 0).impl();
  return zero;
}

// The atom if `e` is exactly one atom (coefficient 1, exponent 1, no constant).
const AtomNode* single_atom(const Expr& e) {
  const Node& n = N(e);
  if (n.constant != 0 || n.terms.size() != 1) return nullptr;
  const Term& t = n.terms[0];
  if (t.coef != 1 || t.mono.size() != 1 || t.mono[0].exp != 1) return nullptr;
  return t.mono[0].atom.get();
}

// ----- polynomial arithmetic ------------------------------------------------------------------------

Expr add_impl(const Expr& a, const Expr& b) {
  const Node& x = N(a);
  const Node& y = N(b);
  if (y.terms.empty() && y.constant == 0) return a;
  if (x.terms.empty() && x.constant == 0) return b;
  std::vector<Term> out;
  out.reserve(x.terms.size() + y.terms.size());
  size_t i = 0, j = 0;
  while (i < x.terms.size() && j < y.terms.size()) {
    int c = cmp_mono(x.terms[i].mono, y.terms[j].mono);
    if (c < 0) {
      out.push_back(x.terms[i++]);
    } else if (c > 0) {
      out.push_back(y.terms[j++]);
    } else {
      int64_t s = add_ck(x.terms[i].coef, y.terms[j].coef);
      if (s != 0) out.push_back(Term{x.terms[i].mono, s});
      ++i;
      ++j;
    }
  }
  for (; i < x.terms.size(); ++i) out.push_back(x.terms[i]);
  for (; j < y.terms.size(); ++j) out.push_back(y.terms[j]);
  return make(std::move(out), add_ck(x.constant, y.constant));
}

Expr scale(const Expr& a, int64_t k) {
  if (k == 0) return Expr();
  if (k == 1) return a;
  const Node& x = N(a);
  std::vector<Term> out = x.terms;
  for (Term& t : out) t.coef = mul_ck(t.coef, k);
  return make(std::move(out), mul_ck(x.constant, k));
}

Monomial mono_mul(const Monomial& a, const Monomial& b) {
  Monomial out;
  out.reserve(a.size() + b.size());
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    int c = cmp_atom(*a[i].atom, *b[j].atom);
    if (c < 0) {
      out.push_back(a[i++]);
    } else if (c > 0) {
      out.push_back(b[j++]);
    } else {
      out.push_back(Factor{a[i].atom, add_ck(a[i].exp, b[j].exp)});
      ++i;
      ++j;
    }
  }
  for (; i < a.size(); ++i) out.push_back(a[i]);
  for (; j < b.size(); ++j) out.push_back(b[j]);
  return out;
}

Expr mul_impl(const Expr& a, const Expr& b) {
  const Node& x = N(a);
  const Node& y = N(b);
  if (y.terms.empty()) return scale(a, y.constant);
  if (x.terms.empty()) return scale(b, x.constant);
  static const Monomial kEmpty;
  auto items = [](const Node& n) {
    std::vector<std::pair<const Monomial*, int64_t>> v;
    v.reserve(n.terms.size() + 1);
    for (const Term& t : n.terms) v.emplace_back(&t.mono, t.coef);
    if (n.constant != 0) v.emplace_back(&kEmpty, n.constant);
    return v;
  };
  auto xs = items(x), ys = items(y);
  if (xs.size() * ys.size() > kMaxTerms) throw std::overflow_error("expression too large to expand");
  std::map<Monomial, int64_t, MonoLess> acc;
  for (const auto& [ma, ca] : xs)
    for (const auto& [mb, cb] : ys) {
      int64_t c = mul_ck(ca, cb);
      auto [it, inserted] = acc.try_emplace(mono_mul(*ma, *mb), c);
      if (!inserted) it->second = add_ck(it->second, c);
    }
  std::vector<Term> out;
  int64_t constant = 0;
  for (auto& [m, c] : acc) {
    if (c == 0) continue;
    if (m.empty())
      constant = c;
    else
      out.push_back(Term{m, c});
  }
  return make(std::move(out), constant);
}

Expr pow_impl(const Expr& a, int64_t n) {
  if (n < 0) throw std::invalid_argument("negative exponent in symbolic power");
  if (n == 0) return Expr::constant(1);
  if (n == 1) return a;
  const Node& x = N(a);
  if (x.terms.empty()) return Expr::constant(pow_ck(x.constant, n));
  if (x.terms.size() == 1 && x.constant == 0) {
    Term t = x.terms[0];
    for (Factor& f : t.mono) f.exp = mul_ck(f.exp, n);
    t.coef = pow_ck(t.coef, n);
    return make({std::move(t)}, 0);
  }
  if (n > kMaxExpandPow) throw std::overflow_error("exponent too large to expand");
  Expr result = Expr::constant(1), base = a;
  for (;;) {
    if (n & 1) result = mul_impl(result, base);
    n >>= 1;
    if (!n) return result;
    base = mul_impl(base, base);
  }
}

// gcd of all coefficients and the constant (0 for the zero polynomial).
int64_t content_all(const Node& n) {
  int64_t g = n.constant;
  for (const Term& t : n.terms) g = gcd_ck(g, t.coef);
  return gcd_ck(g, 0);
}

Monomial mono_gcd(const Monomial& a, const Monomial& b) {
  Monomial out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    int c = cmp_atom(*a[i].atom, *b[j].atom);
    if (c < 0) {
      ++i;
    } else if (c > 0) {
      ++j;
    } else {
      out.push_back(Factor{a[i].atom, std::min(a[i].exp, b[j].exp)});
      ++i;
      ++j;
    }
  }
  return out;
}

// a / m where m divides a (exponent-wise).
Monomial mono_div(const Monomial& a, const Monomial& m) {
  Monomial out;
  size_t j = 0;
  for (const Factor& f : a) {
    if (j < m.size() && cmp_atom(*f.atom, *m[j].atom) == 0) {
      if (f.exp > m[j].exp) out.push_back(Factor{f.atom, f.exp - m[j].exp});
      ++j;
    } else {
      out.push_back(f);
    }
  }
  return out;
}

// e / (g*m), where g*m divides every term of e (order of the remaining monomials is preserved).
Expr divide_exact(const Expr& e, int64_t g, const Monomial& m) {
  const Node& x = N(e);
  std::vector<Term> out;
  int64_t constant = x.constant / g;
  for (const Term& t : x.terms) {
    Monomial q = m.empty() ? t.mono : mono_div(t.mono, m);
    if (q.empty())
      constant = t.coef / g;
    else
      out.push_back(Term{std::move(q), t.coef / g});
  }
  return make(std::move(out), constant);
}

// Largest common factor g*m of every term of a and b (g > 0 integer, m monomial).
std::pair<int64_t, Monomial> common_factor(const Node& x, const Node& y) {
  int64_t g = gcd_ck(content_all(x), content_all(y));
  Monomial m;
  if (x.constant == 0 && y.constant == 0 && !x.terms.empty() && !y.terms.empty()) {
    m = x.terms[0].mono;
    for (const Term& t : x.terms) m = mono_gcd(m, t.mono);
    for (const Term& t : y.terms) m = mono_gcd(m, t.mono);
  }
  return {g == 0 ? 1 : g, std::move(m)};
}

// t such that a == t*b (b not constant), if any.
std::optional<int64_t> exact_multiple(const Expr& a, const Expr& b) {
  const Node& x = N(a);
  const Node& y = N(b);
  if (x.terms.size() != y.terms.size() || x.terms.empty()) return std::nullopt;
  if (cmp_mono(x.terms[0].mono, y.terms[0].mono) != 0) return std::nullopt;
  if (x.terms[0].coef % y.terms[0].coef != 0) return std::nullopt;
  int64_t t = x.terms[0].coef / y.terms[0].coef;
  try {
    if (scale(b, t) == a) return t;
  } catch (const std::overflow_error&) {
  }
  return std::nullopt;
}

// ----- interval arithmetic --------------------------------------------------------------------------

// Bounds live in __int128 so that products of two int64 values are exact; finite bounds are kept in
// int64 range by widening outward (a lower bound above kMax becomes kMax, one below kMin becomes -inf).
__extension__ typedef __int128 I;
__extension__ typedef unsigned __int128 U;
constexpr I kPosInf = static_cast<I>((~static_cast<U>(0)) >> 1);
constexpr I kNegInf = -kPosInf;

struct Iv {
  I lo, hi;
};

bool is_inf(I x) { return x == kPosInf || x == kNegInf; }
Iv norm(I lo, I hi) {
  if (lo != kNegInf) {
    if (lo < kMin) lo = kNegInf;
    else if (lo > kMax) lo = kMax;
  }
  if (hi != kPosInf) {
    if (hi > kMax) hi = kPosInf;
    else if (hi < kMin) hi = kMin;
  }
  return {lo, hi};
}
const Iv kAll{kNegInf, kPosInf};

I emul(I a, I b) {
  if (a == 0 || b == 0) return 0;
  if (is_inf(a) || is_inf(b)) return ((a < 0) != (b < 0)) ? kNegInf : kPosInf;
  return a * b;
}
I eadd(I a, I b) {
  if (is_inf(a)) return a;
  if (is_inf(b)) return b;
  return a + b;
}
I efloordiv(I x, I y) {  // y finite, nonzero
  if (is_inf(x)) return ((x > 0) == (y > 0)) ? kPosInf : kNegInf;
  I q = x / y;
  if (x % y != 0 && ((x < 0) != (y < 0))) --q;
  return q;
}
I epow(I x, int64_t n) {  // n >= 1
  if (x == 0 || x == 1) return x;
  if (x == -1) return (n % 2) ? -1 : 1;
  I sign = (x < 0 && (n % 2)) ? -1 : 1;
  if (is_inf(x)) return sign > 0 ? kPosInf : kNegInf;
  I r = 1;
  for (int64_t i = 0; i < n; ++i) {
    r *= x;
    if (r > kMax || r < kMin) return sign > 0 ? kPosInf : kNegInf;
  }
  return r;
}

Iv iv_add(Iv a, Iv b) { return norm(eadd(a.lo, b.lo), eadd(a.hi, b.hi)); }
Iv iv_neg(Iv a) { return {-a.hi, -a.lo}; }
Iv iv_mul(Iv a, Iv b) {
  I c[4] = {emul(a.lo, b.lo), emul(a.lo, b.hi), emul(a.hi, b.lo), emul(a.hi, b.hi)};
  return norm(*std::min_element(c, c + 4), *std::max_element(c, c + 4));
}
Iv iv_pow(Iv a, int64_t n) {
  if (n == 0) return {1, 1};
  I pl = epow(a.lo, n), ph = epow(a.hi, n);
  if (n % 2) return norm(pl, ph);
  if (a.lo >= 0) return norm(pl, ph);
  if (a.hi <= 0) return norm(ph, pl);
  return norm(0, std::max(pl, ph));
}
Iv iv_floordiv(Iv a, Iv b) {
  if (b.lo >= 1) {
    I lo = a.lo >= 0 ? (b.hi == kPosInf ? 0 : efloordiv(a.lo, b.hi)) : efloordiv(a.lo, b.lo);
    I hi = a.hi >= 0 ? efloordiv(a.hi, b.lo) : (b.hi == kPosInf ? -1 : efloordiv(a.hi, b.hi));
    return norm(lo, hi);
  }
  if (b.hi <= -1) return iv_floordiv(iv_neg(a), iv_neg(b));
  return kAll;
}
Iv iv_mod(Iv a, Iv b) {
  if (b.lo >= 1) {
    if (a.lo >= 0 && a.hi < b.lo) return a;
    I hi = b.hi == kPosInf ? kPosInf : b.hi - 1;
    if (a.lo >= 0 && a.hi < hi) hi = a.hi;
    return {0, hi};
  }
  if (b.hi <= -1) {
    if (a.hi <= 0 && a.lo > b.hi) return a;
    I lo = b.lo == kNegInf ? kNegInf : b.lo + 1;
    if (a.hi <= 0 && a.lo > lo) lo = a.lo;
    return {lo, 0};
  }
  if (is_inf(b.lo) || is_inf(b.hi)) return kAll;
  I m = std::max(-b.lo, b.hi);
  return {1 - m, m - 1};
}

// ----- context --------------------------------------------------------------------------------------

// ranges == nullptr: canonical construction; symbols range over all integers, so every rule that
// consults bounds is an identity. expand_mod: rewrite Mod(a, b) as a - b*(a//b) (used by proofs).
struct Ctx {
  const RangeMap* ranges = nullptr;
  bool expand_mod = false;
};

Iv bounds_expr(const Expr& e, const Ctx& ctx);

Iv bounds_atom(const AtomNode& a, const Ctx& ctx) {
  switch (a.kind) {
    case Kind::Symbol: {
      if (!ctx.ranges) return kAll;
      auto it = ctx.ranges->find(a.name);
      if (it == ctx.ranges->end()) return {0, kPosInf};
      return {it->second.min ? I(*it->second.min) : kNegInf, it->second.max ? I(*it->second.max) : kPosInf};
    }
    case Kind::FloorDiv: return iv_floordiv(bounds_expr(a.args[0], ctx), bounds_expr(a.args[1], ctx));
    case Kind::Mod: return iv_mod(bounds_expr(a.args[0], ctx), bounds_expr(a.args[1], ctx));
    case Kind::Max:
    case Kind::Min: {
      Iv r = bounds_expr(a.args[0], ctx);
      for (size_t i = 1; i < a.args.size(); ++i) {
        Iv o = bounds_expr(a.args[i], ctx);
        if (a.kind == Kind::Max)
          r = {std::max(r.lo, o.lo), std::max(r.hi, o.hi)};
        else
          r = {std::min(r.lo, o.lo), std::min(r.hi, o.hi)};
      }
      return r;
    }
  }
  return kAll;
}

Iv bounds_expr(const Expr& e, const Ctx& ctx) {
  const Node& n = N(e);
  Iv acc{n.constant, n.constant};
  for (const Term& t : n.terms) {
    Iv v{t.coef, t.coef};
    for (const Factor& f : t.mono) v = iv_mul(v, iv_pow(bounds_atom(*f.atom, ctx), f.exp));
    acc = iv_add(acc, v);
  }
  return acc;
}

bool provably_nonneg(const Expr& e, const Ctx& ctx) { return bounds_expr(e, ctx).lo >= 0; }

// a <= b for every assignment allowed by ctx.
bool provably_le(const Expr& a, const Expr& b, const Ctx& ctx) {
  try {
    return provably_nonneg(add_impl(b, scale(a, -1)), ctx);
  } catch (const std::overflow_error&) {
    return false;
  }
}

// ----- function builders ----------------------------------------------------------------------------

Expr make_floordiv(const Expr& a, const Expr& b, const Ctx& ctx);
Expr make_mod(const Expr& a, const Expr& b, const Ctx& ctx);

// floor(a / k), k >= 1.
Expr floordiv_by_const(const Expr& a, int64_t k, const Ctx& ctx) {
  if (k == 1) return a;
  const Node& x = N(a);
  // a = k*q + rest: pull out every term whose coefficient is a multiple of k, and floor(c/k).
  std::vector<Term> qterms, rest;
  for (const Term& t : x.terms) {
    if (t.coef % k == 0)
      qterms.push_back(Term{t.mono, t.coef / k});
    else
      rest.push_back(t);
  }
  Expr q = make(std::move(qterms), floordiv_ck(x.constant, k));
  int64_t rc = mod_py(x.constant, k);  // in [0, k)
  if (rest.empty()) return q;  // floor(rc / k) == 0
  // (g*X + rc) // (g*kk) == (X + rc//g) // kk
  int64_t g = k;
  for (const Term& t : rest) g = gcd_ck(g, t.coef);
  int64_t kk = k;
  if (g > 1) {
    for (Term& t : rest) t.coef /= g;
    rc /= g;
    kk = k / g;
  }
  Expr r = make(std::move(rest), rc);
  // (e//m + c) // kk == (e + c*m) // (m*kk)     (kk > 0)
  if (const AtomNode* at = single_atom(make(N(r).terms, 0));
      at && at->kind == Kind::FloorDiv && at->args[1].as_constant() != std::optional<int64_t>(0)) {
    try {
      Expr e = add_impl(at->args[0], scale(at->args[1], rc));
      return add_impl(q, make_floordiv(e, scale(at->args[1], kk), ctx));
    } catch (const std::overflow_error&) {
    }
  }
  // r within one period [j*kk, j*kk + kk - 1] -> j
  Iv iv = bounds_expr(r, ctx);
  if (!is_inf(iv.lo) && !is_inf(iv.hi) && efloordiv(iv.lo, kk) == efloordiv(iv.hi, kk))
    return add_impl(q, Expr::constant(static_cast<int64_t>(efloordiv(iv.lo, kk))));
  return add_impl(q, opaque(Kind::FloorDiv, {r, Expr::constant(kk)}));
}

Expr make_floordiv(const Expr& a, const Expr& b, const Ctx& ctx) {
  if (auto k = b.as_constant()) {
    if (*k == 0) return opaque(Kind::FloorDiv, {a, b});  // undefined; evaluate() reports it
    if (auto c = a.as_constant()) return Expr::constant(floordiv_ck(*c, *k));
    if (*k < 0) return make_floordiv(scale(a, -1), Expr::constant(neg_ck(*k)), ctx);  // a//-k == (-a)//k
    return floordiv_by_const(a, *k, ctx);
  }
  if (auto c = a.as_constant(); c && *c == 0) return Expr();
  if (N(b).terms[0].coef < 0) return make_floordiv(scale(a, -1), scale(b, -1), ctx);  // a//b == (-a)//(-b)
  if (auto t = exact_multiple(a, b)) return Expr::constant(*t);                    // (t*b)//b == t
  // (g*m*a') // (g*m*b') == a' // b'   (g*m != 0 wherever the division is defined)
  auto [g, m] = common_factor(N(a), N(b));
  if (g > 1 || !m.empty()) return make_floordiv(divide_exact(a, g, m), divide_exact(b, g, m), ctx);
  // 0 <= a < b -> 0
  if (provably_nonneg(a, ctx) && provably_le(a, add_impl(b, Expr::constant(-1)), ctx)) return Expr();
  // (e//m) // b == e // (m*b)   (b >= 1)
  if (const AtomNode* at = single_atom(a); at && at->kind == Kind::FloorDiv && provably_le(Expr::constant(1), b, ctx)) {
    try {
      return make_floordiv(at->args[0], mul_impl(at->args[1], b), ctx);
    } catch (const std::overflow_error&) {
    }
  }
  return opaque(Kind::FloorDiv, {a, b});
}

// a mod k, k >= 1.
Expr mod_by_const(const Expr& a, int64_t k, const Ctx& ctx) {
  if (k == 1) return Expr();
  const Node& x = N(a);
  // Mod(c*m + r, k) == Mod(c'*m + r, k) for c' == c (mod k); c' is the residue of least magnitude
  // (ties positive), so Mod(-s0, 16) stays as written.
  std::vector<Term> rest;
  for (const Term& t : x.terms) {
    int64_t c = mod_py(t.coef, k);
    if (c > k / 2) c -= k;
    if (c != 0) rest.push_back(Term{t.mono, c});
  }
  int64_t rc = mod_py(x.constant, k);
  if (rest.empty()) return Expr::constant(rc);
  // Mod(g*X + g*q + s, g*kk) == g*Mod(X + q, kk) + s   (0 <= s < g)
  int64_t g = k;
  for (const Term& t : rest) g = gcd_ck(g, t.coef);
  int64_t kk = k, outer = 1, shift = 0;
  if (g > 1) {
    for (Term& t : rest) t.coef /= g;
    shift = rc % g;
    rc /= g;
    kk = k / g;
    outer = g;
  }
  Expr r = make(std::move(rest), rc);
  Expr inner;
  const AtomNode* at = single_atom(r);
  std::optional<int64_t> m = at && at->kind == Kind::Mod ? at->args[1].as_constant() : std::nullopt;
  Iv iv = bounds_expr(r, ctx);
  if (m && *m > 0 && *m % kk == 0) {
    inner = make_mod(at->args[0], Expr::constant(kk), ctx);  // Mod(Mod(e, j*kk), kk) == Mod(e, kk)
  } else if (!is_inf(iv.lo) && !is_inf(iv.hi) && efloordiv(iv.lo, kk) == efloordiv(iv.hi, kk)) {
    // r within one period [j*kk, j*kk + kk - 1] -> r - j*kk
    inner = add_impl(r, Expr::constant(static_cast<int64_t>(-efloordiv(iv.lo, kk) * kk)));
  } else {
    inner = opaque(Kind::Mod, {r, Expr::constant(kk)});
  }
  return add_impl(scale(inner, outer), Expr::constant(shift));
}

Expr make_mod(const Expr& a, const Expr& b, const Ctx& ctx) {
  if (ctx.expand_mod) return add_impl(a, scale(mul_impl(b, make_floordiv(a, b, ctx)), -1));
  if (auto k = b.as_constant()) {
    if (*k == 0) return opaque(Kind::Mod, {a, b});  // undefined; evaluate() reports it
    if (auto c = a.as_constant()) return Expr::constant(mod_py(*c, *k));
    if (*k < 0) return scale(make_mod(scale(a, -1), Expr::constant(neg_ck(*k)), ctx), -1);
    return mod_by_const(a, *k, ctx);
  }
  if (auto c = a.as_constant(); c && *c == 0) return Expr();
  if (N(b).terms[0].coef < 0) return scale(make_mod(scale(a, -1), scale(b, -1), ctx), -1);  // Mod(a,b) == -Mod(-a,-b)
  if (exact_multiple(a, b)) return Expr();                                                  // Mod(t*b, b) == 0
  // Mod(g*m*a', g*m*b') == g*m*Mod(a', b')
  auto [g, m] = common_factor(N(a), N(b));
  if (g > 1 || !m.empty()) {
    Expr factor = make({Term{m, g}}, 0);
    if (m.empty()) factor = Expr::constant(g);
    return mul_impl(factor, make_mod(divide_exact(a, g, m), divide_exact(b, g, m), ctx));
  }
  // 0 <= a < b -> a
  if (provably_nonneg(a, ctx) && provably_le(a, add_impl(b, Expr::constant(-1)), ctx)) return a;
  return opaque(Kind::Mod, {a, b});
}

Expr make_minmax(Kind kind, const std::vector<Expr>& args, const Ctx& ctx) {
  bool is_max = kind == Kind::Max;
  std::vector<Expr> flat;
  std::optional<int64_t> cst;
  auto add = [&](const Expr& e) {
    if (auto c = e.as_constant())
      cst = !cst ? *c : (is_max ? std::max(*cst, *c) : std::min(*cst, *c));
    else
      flat.push_back(e);
  };
  for (const Expr& e : args) {
    if (const AtomNode* at = single_atom(e); at && at->kind == kind)
      for (const Expr& s : at->args) add(s);  // Max(a, Max(b, c)) == Max(a, b, c)
    else
      add(e);
  }
  if (cst) flat.push_back(Expr::constant(*cst));
  std::sort(flat.begin(), flat.end(), [](const Expr& a, const Expr& b) {
    int c = cmp_sympy(a, b);
    return c != 0 ? c < 0 : cmp_expr(a, b) < 0;
  });
  flat.erase(std::unique(flat.begin(), flat.end()), flat.end());
  // x is dominated by y when Max(x, y) == y (Min: Min(x, y) == y): x <= y provably, or absorption
  // (Max(y, Min(y, z)) == y; Min(y, Max(y, z)) == y).
  Kind dual = is_max ? Kind::Min : Kind::Max;
  auto dominated = [&](const Expr& x, const Expr& y) {
    if (const AtomNode* at = single_atom(x); at && at->kind == dual)
      if (std::find(at->args.begin(), at->args.end(), y) != at->args.end()) return true;
    return is_max ? provably_le(x, y, ctx) : provably_le(y, x, ctx);
  };
  // Drop operands dominated by another surviving operand.
  std::vector<bool> drop(flat.size(), false);
  for (size_t i = 0; i < flat.size(); ++i)
    for (size_t j = 0; j < flat.size(); ++j) {
      if (i == j || drop[j]) continue;
      if (dominated(flat[i], flat[j])) {
        drop[i] = true;
        break;
      }
    }
  std::vector<Expr> kept;
  for (size_t i = 0; i < flat.size(); ++i)
    if (!drop[i]) kept.push_back(flat[i]);
  if (kept.size() == 1) return kept[0];
  // Distributivity: Min(Max(x, a...), Max(x, b...)) == Max(x, Min(Max(a...), Max(b...))) (and dually),
  // when every operand is a dual atom and they share operands x.
  std::vector<const AtomNode*> duals;
  for (const Expr& e : kept)
    if (const AtomNode* at = single_atom(e); at && at->kind == dual) duals.push_back(at);
  if (duals.size() == kept.size()) {
    std::vector<Expr> common;
    for (const Expr& x : duals[0]->args) {
      bool everywhere = std::all_of(duals.begin() + 1, duals.end(), [&](const AtomNode* d) {
        return std::find(d->args.begin(), d->args.end(), x) != d->args.end();
      });
      if (everywhere) common.push_back(x);
    }
    if (!common.empty()) {
      std::vector<Expr> inner;
      for (const AtomNode* d : duals) {
        std::vector<Expr> rest;
        for (const Expr& x : d->args)
          if (std::find(common.begin(), common.end(), x) == common.end()) rest.push_back(x);
        if (rest.empty()) return make_minmax(dual, common, ctx);  // this operand is the dual of x alone
        inner.push_back(make_minmax(dual, rest, ctx));
      }
      common.push_back(make_minmax(kind, inner, ctx));
      return make_minmax(dual, common, ctx);
    }
  }
  return opaque(kind, std::move(kept));
}

Expr make_ceildiv(const Expr& a, const Expr& b, const Ctx& ctx) {
  // As PyTorch's CeilDiv: ceil(a/k) == (a + k - 1)//k for k > 0; in general ceil(a/b) == -((-a)//b).
  if (auto k = b.as_constant(); k && *k > 0) return make_floordiv(add_impl(a, Expr::constant(*k - 1)), b, ctx);
  return scale(make_floordiv(scale(a, -1), b, ctx), -1);
}

// ----- rebuilding (substitution, range simplification, Mod expansion) -------------------------------

using Bindings = std::map<std::string, Expr, std::less<>>;

Expr rebuild(const Expr& e, const Ctx& ctx, const Bindings* bind);

Expr rebuild_atom(const Atom& atom, const Ctx& ctx, const Bindings* bind) {
  const AtomNode& a = *atom;
  if (a.kind == Kind::Symbol) {
    if (bind) {
      auto it = bind->find(a.name);
      if (it != bind->end()) return it->second;
    }
    return from_atom(atom);
  }
  std::vector<Expr> args;
  args.reserve(a.args.size());
  for (const Expr& x : a.args) args.push_back(rebuild(x, ctx, bind));
  switch (a.kind) {
    case Kind::FloorDiv: return make_floordiv(args[0], args[1], ctx);
    case Kind::Mod: return make_mod(args[0], args[1], ctx);
    default: return make_minmax(a.kind, args, ctx);
  }
}

Expr rebuild(const Expr& e, const Ctx& ctx, const Bindings* bind) {
  const Node& n = N(e);
  Expr acc = Expr::constant(n.constant);
  for (const Term& t : n.terms) {
    Expr v = Expr::constant(t.coef);
    for (const Factor& f : t.mono) v = mul_impl(v, pow_impl(rebuild_atom(f.atom, ctx, bind), f.exp));
    acc = add_impl(acc, v);
  }
  return acc;
}

// ----- printing (sympy StrPrinter with PyTorch's FloorDiv printer) ----------------------------------

// sympy precedences: Add 40, Mul 50, Pow 60, Atom 1000; PyTorch's FloorDiv declares 35. sympy wraps
// a Mul factor or a Pow base at or below the operator's precedence (parenthesize(strict=False)).
constexpr int kPrecFloorDiv = 35, kPrecAdd = 40, kPrecMul = 50, kPrecPow = 60, kPrecAtom = 1000;

std::string print_expr(const Expr& e);

int atom_prec(const AtomNode& a) {
  switch (a.kind) {
    case Kind::FloorDiv: return kPrecFloorDiv;
    case Kind::Mod: return kPrecMul;  // sympy: Mod binds like Mul
    default: return kPrecAtom;        // symbols; sympy's Max/Min have no precedence entry, i.e. Atom
  }
}

std::string paren_if(std::string s, bool p) { return p ? "(" + s + ")" : s; }

// An operand of //: PyTorch parenthesizes everything below atom precedence.
std::string print_floordiv_operand(const Expr& e) {
  auto c = e.as_constant();
  const AtomNode* a = single_atom(e);
  bool atomic = (c && *c >= 0) || (a && atom_prec(*a) == kPrecAtom);
  return paren_if(print_expr(e), !atomic);
}

std::string print_atom(const AtomNode& a) {
  switch (a.kind) {
    case Kind::Symbol: return a.name;
    case Kind::FloorDiv:
      return "(" + print_floordiv_operand(a.args[0]) + "//" + print_floordiv_operand(a.args[1]) + ")";
    default: {
      std::string s = a.kind == Kind::Mod ? "Mod(" : a.kind == Kind::Max ? "Max(" : "Min(";
      for (size_t i = 0; i < a.args.size(); ++i) s += (i ? ", " : "") + print_expr(a.args[i]);
      return s + ")";
    }
  }
}

// Term with coefficient |coef| (the caller prints the sign); factors are wrapped at or below the
// precedence sympy gives the whole Mul.
std::string print_term_abs(const Term& t, uint64_t abs_coef, bool negative) {
  if (!negative && abs_coef == 1 && t.mono.size() == 1 && t.mono[0].exp == 1) return print_atom(*t.mono[0].atom);
  // sympy's precedence_Mul: Mul if a factor is a FloorDiv (a Function below Mul), else Add when negative.
  bool has_floordiv = std::any_of(t.mono.begin(), t.mono.end(),
                                  [](const Factor& f) { return f.exp == 1 && f.atom->kind == Kind::FloorDiv; });
  int level = negative && !has_floordiv ? kPrecAdd : kPrecMul;
  std::string s;
  if (abs_coef != 1) s = std::to_string(abs_coef);
  for (const Factor& f : t.mono) {
    if (!s.empty()) s += "*";
    int p = atom_prec(*f.atom);
    if (f.exp == 1)
      s += paren_if(print_atom(*f.atom), p <= level);
    else
      s += paren_if(print_atom(*f.atom), p <= kPrecPow) + "**" + std::to_string(f.exp);
  }
  return s;
}

uint64_t uabs(int64_t v) { return v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); }

std::string print_expr(const Expr& e) {
  const Node& n = N(e);
  if (n.terms.empty()) return std::to_string(n.constant);
  std::string out;
  for (size_t i = 0; i < n.terms.size(); ++i) {
    const Term& t = n.terms[i];
    uint64_t ac = uabs(t.coef);
    std::string body = print_term_abs(t, ac, t.coef < 0);
    // An Add wraps a lone summand below its precedence (a bare FloorDiv).
    bool in_add = n.terms.size() + (n.constant != 0) > 1;
    if (in_add && t.coef == 1 && t.mono.size() == 1 && t.mono[0].exp == 1 && atom_prec(*t.mono[0].atom) < kPrecAdd)
      body = "(" + body + ")";
    if (i == 0)
      out = (t.coef < 0 ? "-" : "") + body;
    else
      out += (t.coef < 0 ? " - " : " + ") + body;
  }
  if (n.constant != 0) out += (n.constant < 0 ? " - " : " + ") + std::to_string(uabs(n.constant));
  return out;
}

// ----- evaluation -----------------------------------------------------------------------------------

using Values = std::map<std::string, int64_t, std::less<>>;

int64_t eval_expr(const Expr& e, const Values& v);

int64_t eval_atom(const AtomNode& a, const Values& v) {
  switch (a.kind) {
    case Kind::Symbol: {
      auto it = v.find(a.name);
      if (it == v.end()) throw EvalError("unbound symbol '" + a.name + "'");
      return it->second;
    }
    case Kind::FloorDiv:
    case Kind::Mod: {
      int64_t x = eval_expr(a.args[0], v), y = eval_expr(a.args[1], v);
      if (y == 0) throw EvalError("division by zero in " + print_atom(a));
      return a.kind == Kind::FloorDiv ? floordiv_ck(x, y) : mod_py(x, y);
    }
    default: {
      int64_t r = eval_expr(a.args[0], v);
      for (size_t i = 1; i < a.args.size(); ++i) {
        int64_t o = eval_expr(a.args[i], v);
        r = a.kind == Kind::Max ? std::max(r, o) : std::min(r, o);
      }
      return r;
    }
  }
}

int64_t eval_expr(const Expr& e, const Values& v) {
  const Node& n = N(e);
  int64_t acc = n.constant;
  for (const Term& t : n.terms) {
    int64_t p = t.coef;
    for (const Factor& f : t.mono) p = mul_ck(p, pow_ck(eval_atom(*f.atom, v), f.exp));
    acc = add_ck(acc, p);
  }
  return acc;
}

void collect_symbols(const Expr& e, std::set<std::string>& out) {
  for (const Term& t : N(e).terms)
    for (const Factor& f : t.mono) {
      if (f.atom->kind == Kind::Symbol)
        out.insert(f.atom->name);
      else
        for (const Expr& a : f.atom->args) collect_symbols(a, out);
    }
}

// ----- parsing --------------------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Expr run() {
    // Canonicalising costs grow with the square of an expression's size: real ones are < 200 characters.
    if (s_.size() > kMaxChars)
      fail("expression longer than " + std::to_string(kMaxChars) + " characters (fxopt's limit)", kMaxChars);
    Expr e = expr();
    skip();
    if (i_ < s_.size()) fail(std::string("unexpected '") + s_[i_] + "'", i_);
    return e;
  }

 private:
  static constexpr int kMaxDepth = 256;       // nesting of parentheses and atoms; also Max/Min arguments
  static constexpr size_t kMaxChars = 4096;   // text length
  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;

  [[noreturn]] void fail(const std::string& what, size_t pos) {
    throw ParseError(what + " at position " + std::to_string(pos), pos);
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool peek(std::string_view t) {
    skip();
    return s_.substr(i_, t.size()) == t;
  }
  bool eat(std::string_view t) {
    if (!peek(t)) return false;
    i_ += t.size();
    return true;
  }
  // Runs a builder; arithmetic overflow becomes a ParseError at the operator, and so does a result whose
  // atoms nest deeper than kMaxDepth (a chain like s0%s1%s2%... nests without parentheses).
  template <class F>
  Expr guard(size_t pos, F&& f) {
    Expr r;
    try {
      r = f();
    } catch (const std::overflow_error& e) {
      fail(e.what(), pos);
    }
    for (const Term& t : r.impl()->terms)
      for (const Factor& fa : t.mono)
        if (fa.atom->depth > static_cast<size_t>(kMaxDepth)) fail("expression nested too deeply", pos);
    return r;
  }
  void enter(size_t pos) {
    if (++depth_ > kMaxDepth) fail("expression nested too deeply", pos);
  }

  // a + b - c ...: the terms are merged into one sorted list as the operators are read, as a + b merges them (the
  // same sums in the same order: an overflow is reported at the same operator, a term whose coefficients cancel
  // is dropped), instead of a new list per operator, which made a sum of n terms quadratic (a 4096-character
  // expression has hundreds).
  Expr expr() {
    Expr first = term();
    std::vector<Term> terms;
    int64_t constant = 0;
    bool summing = false;
    for (;;) {
      skip();
      size_t p = i_;
      const bool plus = eat("+");
      if (!plus && !eat("-")) return summing ? make(std::move(terms), constant) : first;
      Expr r = term();
      if (!summing) {
        terms = N(first).terms;
        constant = N(first).constant;
      }
      auto too_deep = [](const Term& t) {  // the depth check guard() makes on a result's atoms
        return std::any_of(t.mono.begin(), t.mono.end(),
                           [](const Factor& f) { return f.atom->depth > static_cast<size_t>(kMaxDepth); });
      };
      bool deep = false;  // a term r brought into the sum is too deep (checked after the sums, as guard() does)
      try {
        const Node& y = N(r);
        const int64_t sign = plus ? 1 : -1;
        std::vector<Term> ys = y.terms;  // (as scale(r, -1): every coefficient negated before any sum)
        for (Term& t : ys) t.coef = mul_ck(t.coef, sign);
        const int64_t yc = mul_ck(y.constant, sign);
        for (Term& t : ys) {
          auto it = std::lower_bound(terms.begin(), terms.end(), t,
                                     [](const Term& a, const Term& b) { return cmp_mono(a.mono, b.mono) < 0; });
          if (it != terms.end() && cmp_mono(it->mono, t.mono) == 0) {
            const int64_t c = add_ck(it->coef, t.coef);
            if (c != 0) it->coef = c;
            else terms.erase(it);
          } else {
            deep = deep || too_deep(t);
            terms.insert(it, std::move(t));
          }
        }
        constant = add_ck(constant, yc);
      } catch (const std::overflow_error& e) {
        fail(e.what(), p);
      }
      // The first sum's result is checked whole (the first term's atoms too), later ones for what r brought in.
      if (!summing) deep = std::any_of(terms.begin(), terms.end(), too_deep);
      if (deep) fail("expression nested too deeply", p);
      summing = true;
    }
  }

  Expr term() {
    Expr acc = unary();
    for (;;) {
      skip();
      size_t p = i_;
      if (peek("**")) fail("unexpected '**'", p);
      if (eat("//")) {
        Expr r = unary();
        acc = guard(p, [&] { return floordiv(acc, r); });
      } else if (eat("*")) {
        Expr r = unary();
        acc = guard(p, [&] { return acc * r; });
      } else if (eat("%")) {
        Expr r = unary();
        acc = guard(p, [&] { return mod(acc, r); });
      } else {
        return acc;
      }
    }
  }

  Expr unary() {
    skip();
    size_t p = i_;
    if (eat("-")) {
      enter(p);
      Expr e = unary();
      --depth_;
      return guard(p, [&] { return -e; });
    }
    return power();
  }

  Expr power() {
    Expr base = atom();
    skip();
    size_t p = i_;
    if (!eat("**")) return base;
    skip();
    if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) fail("expected integer exponent", i_);
    int64_t n = integer();
    return guard(p, [&] { return pow(base, n); });
  }

  int64_t integer() {
    size_t start = i_;
    int64_t v = 0;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[i_] - '0', &v))
        fail("integer literal out of range", start);
      ++i_;
    }
    return v;
  }

  Expr atom() {
    skip();
    size_t p = i_;
    if (i_ >= s_.size()) fail("expected expression", p);
    unsigned char c = static_cast<unsigned char>(s_[i_]);
    if (std::isdigit(c)) return Expr::constant(integer());
    if (c == '(') {
      ++i_;
      enter(p);
      Expr e = expr();
      skip();
      if (!eat(")")) fail("expected ')'", i_);
      --depth_;
      return e;
    }
    if (std::isalpha(c)) {
      size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
      std::string name(s_.substr(start, i_ - start));
      if (peek("(")) return call(name, start);
      return Expr::symbol(std::move(name));
    }
    fail(std::string("unexpected '") + s_[i_] + "'", p);
  }

  Expr call(const std::string& name, size_t pos) {
    enum { kFloorDiv, kCeilDiv, kMod, kMax, kMin } fn;
    if (name == "FloorDiv") fn = kFloorDiv;
    else if (name == "CeilDiv") fn = kCeilDiv;
    else if (name == "Mod" || name == "PythonMod") fn = kMod;
    else if (name == "Max") fn = kMax;
    else if (name == "Min") fn = kMin;
    else fail("unknown function '" + name + "'", pos);
    enter(pos);
    eat("(");
    std::vector<Expr> args{expr()};
    while (eat(",")) {
      if (args.size() >= static_cast<size_t>(kMaxDepth)) fail("more than " + std::to_string(kMaxDepth) + " arguments", i_);
      args.push_back(expr());
    }
    skip();
    if (!eat(")")) fail("expected ')'", i_);
    --depth_;
    bool binary = fn == kFloorDiv || fn == kCeilDiv || fn == kMod;
    if (binary && args.size() != 2) fail(name + " expects 2 arguments", pos);
    return guard(pos, [&]() -> Expr {
      switch (fn) {
        case kFloorDiv: return floordiv(args[0], args[1]);
        case kCeilDiv: return ceildiv(args[0], args[1]);
        case kMod: return mod(args[0], args[1]);
        default: return make_minmax(fn == kMax ? Kind::Max : Kind::Min, args, Ctx{});
      }
    });
  }
};

// Content test: sum c_i*m_i + c0 with integer-valued m_i cannot be 0 when gcd(c_i) does not divide c0.
bool content_excludes_zero(const Expr& d) {
  const Node& n = N(d);
  int64_t g = 0;
  for (const Term& t : n.terms) g = gcd_ck(g, t.coef);
  if (g == 0) return n.constant != 0;
  return n.constant % g != 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------------------------------

Expr::Expr() : node_(zero_node()) {}
Expr Expr::constant(int64_t value) { return value == 0 ? Expr() : make({}, value); }
Expr Expr::symbol(std::string name) { return from_atom(make_atom(Kind::Symbol, std::move(name), {})); }

std::string Expr::str() const { return print_expr(*this); }

std::optional<int64_t> Expr::as_constant() const {
  if (!node_->terms.empty()) return std::nullopt;
  return node_->constant;
}

std::optional<std::string> Expr::as_symbol() const {
  const AtomNode* a = single_atom(*this);
  if (!a || a->kind != Kind::Symbol) return std::nullopt;
  return a->name;
}

std::set<std::string> Expr::free_symbols() const {
  std::set<std::string> out;
  collect_symbols(*this, out);
  return out;
}

size_t Expr::hash() const { return node_->hash; }

bool Expr::operator==(const Expr& o) const {
  if (node_ == o.node_) return true;
  if (node_->hash != o.node_->hash) return false;
  return cmp_expr(*this, o) == 0;
}

Expr operator+(const Expr& a, const Expr& b) { return add_impl(a, b); }
Expr operator-(const Expr& a, const Expr& b) { return add_impl(a, scale(b, -1)); }
Expr operator*(const Expr& a, const Expr& b) { return mul_impl(a, b); }
Expr operator-(const Expr& a) { return scale(a, -1); }

Expr floordiv(const Expr& a, const Expr& b) { return make_floordiv(a, b, Ctx{}); }
Expr mod(const Expr& a, const Expr& b) { return make_mod(a, b, Ctx{}); }
Expr ceildiv(const Expr& a, const Expr& b) { return make_ceildiv(a, b, Ctx{}); }
Expr max(const Expr& a, const Expr& b) { return make_minmax(Kind::Max, {a, b}, Ctx{}); }
Expr min(const Expr& a, const Expr& b) { return make_minmax(Kind::Min, {a, b}, Ctx{}); }
Expr pow(const Expr& a, int64_t exponent) { return pow_impl(a, exponent); }

Expr parse(std::string_view text) { return Parser(text).run(); }

const char* to_string(Truth t) {
  switch (t) {
    case Truth::True: return "true";
    case Truth::False: return "false";
    default: return "unknown";
  }
}

Expr simplify(const Expr& e, const RangeMap& ranges) {
  Ctx ctx{&ranges, false};
  Expr cur = e;
  try {
    for (int i = 0; i < 4; ++i) {
      Expr next = rebuild(cur, ctx, nullptr);
      if (next == cur) break;
      cur = next;
    }
  } catch (const std::overflow_error&) {
  }
  return cur;
}

Range bounds(const Expr& a, const RangeMap& ranges) {
  Iv iv = bounds_expr(a, Ctx{&ranges, false});
  Range r;
  if (iv.lo != kNegInf) r.min = static_cast<int64_t>(iv.lo);
  if (iv.hi != kPosInf) r.max = static_cast<int64_t>(iv.hi);
  return r;
}

Truth prove_equal(const Expr& a, const Expr& b, const RangeMap& ranges) {
  if (a == b) return Truth::True;
  try {
    Expr d = a - b;
    // Settled by the canonical difference alone, then after range simplification, then with every
    // Mod(x, y) expanded to x - y*(x//y).
    Ctx expand{&ranges, true};
    for (const Expr& cand : {d, simplify(d, ranges)}) {
      for (const Expr& v : {cand, rebuild(cand, expand, nullptr)}) {
        if (auto c = v.as_constant()) return *c == 0 ? Truth::True : Truth::False;
        Iv iv = bounds_expr(v, Ctx{&ranges, false});
        if (iv.lo > 0 || iv.hi < 0) return Truth::False;
        if (content_excludes_zero(v)) return Truth::False;
      }
    }
  } catch (const std::overflow_error&) {
  }
  return Truth::Unknown;
}

Truth prove_divisible(const Expr& a, int64_t k, const RangeMap& ranges) {
  if (k == 0) return prove_equal(a, Expr(), ranges);
  if (k == kMin) return Truth::Unknown;
  try {
    Expr m = simplify(mod(a, Expr::constant(k < 0 ? -k : k)), ranges);
    if (auto c = m.as_constant()) return *c == 0 ? Truth::True : Truth::False;
    Iv iv = bounds_expr(m, Ctx{&ranges, false});
    if (iv.lo > 0 || iv.hi < 0) return Truth::False;
  } catch (const std::overflow_error&) {
  }
  return Truth::Unknown;
}

Truth prove_nonnegative(const Expr& a, const RangeMap& ranges) {
  Ctx ctx{&ranges, false};
  for (const Expr& v : {a, simplify(a, ranges)}) {
    Iv iv = bounds_expr(v, ctx);
    if (iv.lo >= 0) return Truth::True;
    if (iv.hi < 0) return Truth::False;
  }
  return Truth::Unknown;
}

Expr substitute(const Expr& e, const std::map<std::string, Expr, std::less<>>& bindings) {
  if (bindings.empty()) return e;
  return rebuild(e, Ctx{}, &bindings);
}

int64_t evaluate(const Expr& e, const std::map<std::string, int64_t, std::less<>>& values) {
  try {
    return eval_expr(e, values);
  } catch (const std::overflow_error&) {
    throw EvalError("integer overflow while evaluating " + e.str());
  }
}

}  // namespace fxopt::sym
