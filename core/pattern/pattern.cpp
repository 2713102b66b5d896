// The declarative pattern format: JSON reader (precise errors), scalar expressions, targets and the registry.
#include "core/pattern/pattern.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/fxgraph/json_pull.h"
#include "core/pattern/pattern_blob.h"
#include "core/pattern/pattern_fragments.h"
#include "patterns/builtin.h"

namespace fxopt {

using Json = nlohmann::ordered_json;

const char* to_string(VarType t) {
  switch (t) {
    case VarType::Int: return "int";
    case VarType::Sym: return "sym";
    case VarType::Float: return "float";
    case VarType::Dtype: return "dtype";
  }
  return "?";
}

std::string Value::str() const {
  switch (type) {
    case VarType::Int:
    case VarType::Sym: return i.str();
    case VarType::Float: return format_python_float(f);
    case VarType::Dtype: return d;
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------------------
// Algebraic facts used by the matcher, as tables
// ---------------------------------------------------------------------------------------------------------

namespace {
// Each row: spellings that mean the same op for matching (the pattern may use any of them).
const std::vector<std::vector<std::string>> kAliasRows = {
    {"aten.reshape.default", "aten.view.default", "aten._unsafe_view.default"},  // same values, any layout
};
// Binary ops whose two tensor operands may be swapped: a*b == b*a, a+b == b+a.
const std::set<std::string, std::less<>> kCommutative = {"aten.mul.Tensor", "aten.add.Tensor",
                                                         "_operator.mul", "_operator.add"};
}  // namespace

const std::vector<std::string>& op_aliases(std::string_view target) {
  static const std::vector<std::string> none;
  for (const auto& row : kAliasRows)
    if (std::find(row.begin(), row.end(), target) != row.end()) return row;
  return none;
}

bool is_reshape_like(std::string_view target) {
  const auto& row = kAliasRows[0];
  return std::find(row.begin(), row.end(), target) != row.end();
}

bool is_commutative(std::string_view target) { return kCommutative.count(target) != 0; }

namespace {
// Spellings that normalisation (core/rewrite/normalize.h) rewrites into the normal form the patterns are written in.
struct SpellingRow { const char* expected; const char* actual; const char* pass; };
const SpellingRow kSpellings[] = {
    {"aten.clamp.default", "aten.clamp_min.default", "canonicalize_clamp"},   // clamp_max(clamp_min(x)) -> clamp
    {"aten.clamp.default", "aten.clamp_max.default", "canonicalize_clamp"},
    {"aten.amax.default", "_operator.getitem", "canonicalize_amax"},          // max.dim(x)[0] -> amax
    {"aten.amax.default", "aten.max.dim", "canonicalize_amax"},
    {"aten.silu.default", "aten.mul.Tensor", "canonicalize_silu"},            // z*sigmoid(z) -> silu(z)
    {"aten.silu.default", "aten.div.Tensor", "canonicalize_silu"},            // z/(1+exp(-z)) -> silu(z)
    {"prims.convert_element_type.default", "aten._to_copy.default", "canonicalize_to_copy"},
};
}  // namespace

const char* normalizing_pass_for(std::string_view expected, std::string_view actual) {
  for (const auto& r : kSpellings)
    if (r.expected == expected && r.actual == actual) return r.pass;
  return nullptr;
}

std::optional<double> fp8_max(std::string_view dtype) {
  if (dtype == "float8_e4m3fn") return 448.0;
  if (dtype == "float8_e4m3fnuz") return 224.0;  // vLLM's choice on MI300, not the format's 240
  if (dtype == "float8_e5m2" || dtype == "float8_e5m2fnuz") return 57344.0;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------------------

// An op no target table knows (a pattern file's own op) is assumed to exist everywhere but on "none".
bool Target::has_op(std::string_view op) const {
  if (std::find(ops.begin(), ops.end(), op) != ops.end()) return true;
  if (name == "none") return false;
  for (const auto& t : all_targets())
    if (std::find(t.ops.begin(), t.ops.end(), op) != t.ops.end()) return false;
  return true;
}
bool Target::has_fp8(std::string_view dtype) const {
  return std::find(fp8_dtypes.begin(), fp8_dtypes.end(), dtype) != fp8_dtypes.end();
}

const std::vector<Target>& all_targets() {
  static const std::vector<std::string> kAiterOps = {
      "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default",
      "vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default",
      "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default",
      "vllm.rocm_aiter_rmsnorm_fp8_group_quant.default",
      "vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default",
      "vllm.rocm_aiter_act_mul_and_fp8_group_quant.default",
  };
  // vLLM's CUDA fused ops (csrc/), emitted in auto_functionalized form as vLLM's own passes do.
  static const std::vector<std::string> kCudaOps = {
      "_C.rms_norm_static_fp8_quant.default",
      "_C.fused_add_rms_norm_static_fp8_quant.default",
      "_C.rms_norm_dynamic_per_token_quant.default",
      "_C.rms_norm_per_block_quant.default",
      "_C.silu_and_mul_quant.default",
      "_C.silu_and_mul_per_block_quant.default",
      "_C.fused_qk_norm_rope.default",
  };
  static const std::vector<Target> targets = {
      {"rocm-aiter", "vLLM's ROCm/AITER ops, any AMD GPU generation (both fp8 formats)", kAiterOps,
       {"float8_e4m3fn", "float8_e4m3fnuz"}},
      {"gfx942", "MI300X/MI325X: AITER ops, fp8 only as float8_e4m3fnuz", kAiterOps, {"float8_e4m3fnuz"}},
      {"gfx950", "MI350X/MI355X: AITER ops, fp8 only as float8_e4m3fn (OCP)", kAiterOps, {"float8_e4m3fn"}},
      {"cuda", "vLLM's CUDA _C ops (auto_functionalized form), fp8 as float8_e4m3fn", kCudaOps, {"float8_e4m3fn"}},
      {"none", "no fused ops: every pattern is skipped (normalisation only)", {}, {}},
  };
  return targets;
}

const Target& find_target(std::string_view name) {
  std::string names;
  for (const auto& t : all_targets()) {
    if (t.name == name) return t;
    names += (names.empty() ? "" : ", ") + t.name;
  }
  throw InputError("unknown target '" + std::string(name) + "' (valid: " + names + ")");
}

// ---------------------------------------------------------------------------------------------------------
// Pattern helpers
// ---------------------------------------------------------------------------------------------------------

int Pattern::var_index(std::string_view n) const {
  for (size_t i = 0; i < vars.size(); ++i)
    if (vars[i].name == n) return static_cast<int>(i);
  return -1;
}

int Pattern::node_index(std::string_view n) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == n) return static_cast<int>(i);
  return -1;
}

size_t Pattern::op_node_count() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const PatternNode& n) { return !n.is_input; }));
}

namespace {

int precedence(ScalarExpr::Op op) {
  switch (op) {
    case ScalarExpr::Op::Add:
    case ScalarExpr::Op::Sub: return 1;
    case ScalarExpr::Op::Mul:
    case ScalarExpr::Op::Div:
    case ScalarExpr::Op::FloorDiv:
    case ScalarExpr::Op::Mod: return 2;
    case ScalarExpr::Op::Neg: return 3;
    default: return 4;
  }
}

std::string expr_text(const Pattern& p, const ScalarExpr& e) {
  auto sub = [&](const ScalarExpr& k, bool right) {
    std::string s = expr_text(p, k);
    int pk = precedence(k.op), pe = precedence(e.op);
    if (pk < pe || (right && pk == pe && pk < 3)) return "(" + s + ")";
    return s;
  };
  switch (e.op) {
    case ScalarExpr::Op::Int: return std::to_string(e.ival);
    case ScalarExpr::Op::Float: return format_python_float(e.fval);
    case ScalarExpr::Op::Dtype: return e.text;
    case ScalarExpr::Op::Var: return p.vars[e.var].name;
    case ScalarExpr::Op::Neg: return "-" + sub(e.kids[0], false);
    case ScalarExpr::Op::Add: return sub(e.kids[0], false) + " + " + sub(e.kids[1], true);
    case ScalarExpr::Op::Sub: return sub(e.kids[0], false) + " - " + sub(e.kids[1], true);
    case ScalarExpr::Op::Mul: return sub(e.kids[0], false) + "*" + sub(e.kids[1], true);
    case ScalarExpr::Op::Div: return sub(e.kids[0], false) + "/" + sub(e.kids[1], true);
    case ScalarExpr::Op::FloorDiv: return sub(e.kids[0], false) + "//" + sub(e.kids[1], true);
    case ScalarExpr::Op::Mod: return sub(e.kids[0], false) + " % " + sub(e.kids[1], true);
    case ScalarExpr::Op::Call: {
      std::string s = e.text + "(";
      for (size_t i = 0; i < e.kids.size(); ++i) s += (i ? ", " : "") + expr_text(p, e.kids[i]);
      return s + ")";
    }
  }
  return "?";
}

}  // namespace

std::string Pattern::expr_str(int e) const { return expr_text(*this, exprs[e]); }

namespace {
double as_number(const Value& v) {
  if (v.type == VarType::Float) return v.f;
  auto c = v.i.as_constant();
  if (!c) throw EvalUndefined("the symbolic value " + v.i.str() + " is used as a number");
  return static_cast<double>(*c);
}
}  // namespace

std::optional<Value> eval_scalar(const Pattern& p, const ScalarExpr& e, const std::vector<std::optional<Value>>& b,
                                 int over_var, const Value* over) {
  using Op = ScalarExpr::Op;
  switch (e.op) {
    case Op::Int: { Value v = Value::integer(sym::Expr::constant(e.ival)); v.type = VarType::Int; return v; }
    case Op::Float: return Value::real(e.fval);
    case Op::Dtype: return Value::dtype(e.text);
    case Op::Var:
      if (e.var == over_var) return *over;
      return b[e.var];
    case Op::Neg: {
      auto k = eval_scalar(p, e.kids[0], b, over_var, over);
      if (!k) return std::nullopt;
      if (k->is_int()) return Value::integer(-k->i);
      return Value::real(-k->f);
    }
    case Op::Call: {
      auto k = eval_scalar(p, e.kids[0], b, over_var, over);
      if (!k) return std::nullopt;
      auto m = fp8_max(k->d);
      if (!m) throw EvalUndefined("fp8_max(" + k->d + ") is undefined (not an fp8 dtype)");
      return Value::real(*m);
    }
    default: break;
  }
  auto x1 = eval_scalar(p, e.kids[0], b, over_var, over);
  if (!x1) return std::nullopt;
  auto y1 = eval_scalar(p, e.kids[1], b, over_var, over);
  if (!y1) return std::nullopt;
  if (x1->is_int() && y1->is_int() && e.op != Op::Div) {
    switch (e.op) {
      case Op::Add: return Value::integer(x1->i + y1->i);
      case Op::Sub: return Value::integer(x1->i - y1->i);
      case Op::Mul: return Value::integer(x1->i * y1->i);
      case Op::FloorDiv:
        if (y1->i.as_constant() == std::optional<int64_t>(0)) throw EvalUndefined("division by zero in " + expr_text(p, e));
        return Value::integer(sym::floordiv(x1->i, y1->i));
      case Op::Mod:
        if (y1->i.as_constant() == std::optional<int64_t>(0)) throw EvalUndefined("modulo by zero");
        return Value::integer(sym::mod(x1->i, y1->i));
      default: break;
    }
  }
  double x = as_number(*x1), y = as_number(*y1);
  switch (e.op) {
    case Op::Add: return Value::real(x + y);
    case Op::Sub: return Value::real(x - y);
    case Op::Mul: return Value::real(x * y);
    case Op::Div: return Value::real(x / y);
    default: throw EvalUndefined("integer operation on a float");
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------------------

namespace {

bool is_dtype_name(std::string_view s) {
  static const std::set<std::string, std::less<>> names = {
      "float32", "float16", "bfloat16", "float64", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
      "float8_e5m2fnuz", "int8", "uint8", "int16", "int32", "int64", "bool", "complex64", "complex128"};
  return names.count(s) != 0;
}

// Parses the scalar expression language against a pattern's variables; errors name the offset.
class ExprParser {
 public:
  ExprParser(const Pattern& p, std::string_view text, const std::string& where)
      : p_(p), s_(text), where_(where) {}

  static constexpr size_t kMaxChars = 4096;  // an operator chain nests as deep as it is long
  void check_length() {
    if (s_.size() > kMaxChars) fail("longer than " + std::to_string(kMaxChars) + " characters (fxopt's limit)");
  }

  ScalarExpr parse_all() {
    check_length();
    ScalarExpr e = parse_sum();
    skip();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return e;
  }
  // "lhs CMP rhs" for conditions.
  void parse_condition(ScalarExpr& lhs, std::string& cmp, ScalarExpr& rhs) {
    check_length();
    lhs = parse_sum();
    skip();
    static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (const char* o : ops) {
      if (s_.substr(pos_, std::strlen(o)) == o) {
        cmp = o;
        pos_ += std::strlen(o);
        rhs = parse_sum();
        skip();
        if (pos_ != s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "'");
        check_types(lhs, rhs, cmp);
        return;
      }
    }
    fail("expected a comparison (==, !=, <, <=, >, >=)");
  }

 private:
  [[noreturn]] void fail(const std::string& msg) {
    // A long expression is shown as the 60 characters around the offset.
    constexpr size_t kShow = 60;
    std::string shown(s_);
    if (s_.size() > kShow) {
      const size_t from = pos_ > kShow / 2 ? std::min(pos_ - kShow / 2, s_.size() - kShow) : 0;
      shown = (from ? "..." : "") + std::string(s_.substr(from, kShow)) + (from + kShow < s_.size() ? "..." : "");
    }
    throw InputError(where_ + ": expression '" + shown + "' at offset " + std::to_string(pos_) + ": " + msg);
  }
  void skip() { while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_; }
  bool eat(std::string_view t) {
    skip();
    if (s_.substr(pos_, t.size()) == t) { pos_ += t.size(); return true; }
    return false;
  }
  void check_types(const ScalarExpr& a, const ScalarExpr& b, const std::string& op) {
    bool an = a.type != VarType::Dtype, bn = b.type != VarType::Dtype;
    if (an != bn) fail("cannot combine a dtype with a number in '" + op + "'");
    if (!an && op != "==" && op != "!=") fail("dtypes can only be compared with == or !=");
  }
  ScalarExpr bin(ScalarExpr::Op op, ScalarExpr a, ScalarExpr b, const char* name) {
    check_types(a, b, name);
    if (a.type == VarType::Dtype) fail(std::string("'") + name + "' on a dtype");
    ScalarExpr e;
    e.op = op;
    bool is_float = a.type == VarType::Float || b.type == VarType::Float || op == ScalarExpr::Op::Div;
    if (is_float && (op == ScalarExpr::Op::FloorDiv || op == ScalarExpr::Op::Mod)) fail(std::string("'") + name + "' needs integers");
    e.type = is_float ? VarType::Float : VarType::Int;
    e.kids.push_back(std::move(a));
    e.kids.push_back(std::move(b));
    return e;
  }
  // Every recursion goes through parse_sum or parse_unary; both count the nesting (kMaxNesting).
  struct Nest {
    ExprParser& p;
    explicit Nest(ExprParser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail("nested deeper than " + std::to_string(kMaxNesting) + " levels (fxopt's limit)");
    }
    ~Nest() { --p.depth_; }
  };
  ScalarExpr parse_sum() {
    Nest nest(*this);
    ScalarExpr e = parse_term();
    for (;;) {
      if (eat("+")) e = bin(ScalarExpr::Op::Add, std::move(e), parse_term(), "+");
      else if (eat("-")) e = bin(ScalarExpr::Op::Sub, std::move(e), parse_term(), "-");
      else return e;
    }
  }
  ScalarExpr parse_term() {
    ScalarExpr e = parse_unary();
    for (;;) {
      if (eat("//")) e = bin(ScalarExpr::Op::FloorDiv, std::move(e), parse_unary(), "//");
      else if (eat("*")) e = bin(ScalarExpr::Op::Mul, std::move(e), parse_unary(), "*");
      else if (eat("/")) e = bin(ScalarExpr::Op::Div, std::move(e), parse_unary(), "/");
      else if (eat("%")) e = bin(ScalarExpr::Op::Mod, std::move(e), parse_unary(), "%");
      else return e;
    }
  }
  ScalarExpr parse_unary() {
    if (eat("-")) {
      Nest nest(*this);
      ScalarExpr k = parse_unary();
      if (k.type == VarType::Dtype) fail("'-' on a dtype");
      ScalarExpr e;
      e.op = ScalarExpr::Op::Neg;
      e.type = k.type;
      e.kids.push_back(std::move(k));
      return e;
    }
    return parse_atom();
  }
  ScalarExpr parse_atom() {
    skip();
    if (pos_ >= s_.size()) fail("unexpected end");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      ScalarExpr e = parse_sum();
      if (!eat(")")) fail("expected ')'");
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      size_t start = pos_;
      bool is_float = false;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                  s_[pos_] == 'e' || s_[pos_] == 'E' ||
                                  ((s_[pos_] == '-' || s_[pos_] == '+') && pos_ > start &&
                                   (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E')))) {
        if (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E') is_float = true;
        ++pos_;
      }
      std::string num(s_.substr(start, pos_ - start));
      ScalarExpr e;
      try {
        if (is_float) { e.op = ScalarExpr::Op::Float; e.type = VarType::Float; e.fval = std::stod(num); }
        else { e.op = ScalarExpr::Op::Int; e.type = VarType::Int; e.ival = std::stoll(num); }
      } catch (const std::exception&) {
        pos_ = start;
        fail("bad number '" + num + "'");
      }
      return e;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      std::string id(s_.substr(start, pos_ - start));
      if (eat("(")) {
        ScalarExpr e;
        e.op = ScalarExpr::Op::Call;
        e.text = id;
        if (!eat(")")) {
          do e.kids.push_back(parse_sum()); while (eat(","));
          if (!eat(")")) fail("expected ')'");
        }
        if (id == "fp8_max") {
          if (e.kids.size() != 1 || e.kids[0].type != VarType::Dtype) fail("fp8_max takes one dtype");
          e.type = VarType::Float;
        } else {
          pos_ = start;
          fail("unknown function '" + id + "' (known: fp8_max)");
        }
        return e;
      }
      int v = p_.var_index(id);
      ScalarExpr e;
      if (v >= 0) {
        e.op = ScalarExpr::Op::Var;
        e.var = v;
        e.type = p_.vars[v].type == VarType::Sym ? VarType::Int : p_.vars[v].type;
        return e;
      }
      if (is_dtype_name(id)) {
        e.op = ScalarExpr::Op::Dtype;
        e.type = VarType::Dtype;
        e.text = id;
        return e;
      }
      pos_ = start;
      fail("unknown variable '" + id + "' (declare it in \"vars\")");
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  const Pattern& p_;
  std::string_view s_;
  std::string where_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

bool parse_pattern_json_fast(std::string_view text, PatternJson& out) {
  struct Builder {
    JsonPull in;
    std::string key;
    void value(Json& out) {
      switch (in.peek()) {
        case JsonPull::Type::Null: in.null(); out = nullptr; return;
        case JsonPull::Type::Bool: out = in.boolean(); return;
        case JsonPull::Type::Number: {
          const bool negative = in.rest().front() == '-';
          int64_t i = 0;
          double d = 0;
          if (!in.number(i, d)) out = d;
          else if (negative) out = i;
          else out = static_cast<uint64_t>(i);
          return;
        }
        case JsonPull::Type::String: {
          std::string s;
          in.string(s);
          out = std::move(s);
          return;
        }
        case JsonPull::Type::Array: {
          out = Json::array();
          auto& items = out.get_ref<Json::array_t&>();
          in.begin_array();
          while (in.next_item()) value(items.emplace_back());
          return;
        }
        case JsonPull::Type::Object: {
          out = Json::object();
          auto& members = out.get_ref<Json::object_t&>();
          in.begin_object();
          while (in.next_key(key)) {
            Json* slot = nullptr;
            for (auto& m : members)
              if (m.first == key) slot = &m.second;
            if (!slot) slot = &members.emplace_back(key, Json()).second;
            value(*slot);
          }
          return;
        }
        case JsonPull::Type::End: in.syntax_error("a value expected");
      }
    }
  };
  try {
    Builder b{JsonPull(text, std::string()), {}};
    b.value(out);
    b.in.finish();
    return true;
  } catch (const InputError&) {
    return false;
  }
}

namespace {

std::string line_col(std::string_view text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') { ++line; col = 1; } else { ++col; }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

const char* json_kind(const Json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_integer()) return "an integer";
  if (j.is_number()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

class PatternReader {
 public:
  explicit PatternReader(std::string source, const Target* only = nullptr, std::vector<PrunedPattern>* pruned = nullptr,
                         const OpFilter* available = nullptr, std::vector<AbsentPattern>* absent = nullptr)
      : only_(only), pruned_(pruned), available_(available), absent_(absent), source_(std::move(source)) {}

  std::vector<Pattern> read(std::string_view text) { return read_doc(parse(text)); }

  // The built-in files, each parsed once per process (and never freed: tearing the documents down at exit was
  // a twentieth of a small rewrite's instructions).
  // Their "fragments" are moved into builtin_fragments() (read_doc takes a built-in file's fragments from there).
  static const std::vector<Json>& builtin_docs() { return builtin_library().docs; }

  std::vector<Pattern> read_doc(const Json& doc) {
    if (!doc.is_object()) err("", std::string("expected a JSON object, got ") + json_kind(doc));
    check_keys(doc, "", {"format", "version", "description", "fragments", "patterns"});
    if (!doc.contains("format") || doc["format"] != "fxopt-patterns")
      err("format", "expected \"fxopt-patterns\"");
    if (!doc.contains("version") || !doc["version"].is_number_integer()) err("version", "expected an integer");
    if (doc["version"].get<int64_t>() != 1)
      err("version", "unsupported version " + doc["version"].dump() + " (this fxopt reads version 1)");
    if (!doc.contains("patterns") || !doc["patterns"].is_array()) err("patterns", "expected an array");
    // Fragments: the built-in library plus this file's own (a file may not redefine a built-in one).
    // The library is copied only when the file brings fragments of its own (a built-in file's are in it already),
    // and parsed only for a file that defines or calls fragments (a --pattern-file without them does not need it).
    static const Json kNoFragments = Json::object();
    const Json* base = uses_fragments(doc) ? &builtin_fragments() : &kNoFragments;
    const Json* library = base;
    Json extended;
    if (doc.contains("fragments")) {
      if (!doc["fragments"].is_object()) err("fragments", "expected an object: name -> fragment");
      for (auto it = doc["fragments"].begin(); it != doc["fragments"].end(); ++it) {
        const bool known = library->contains(it.key());
        if (known && (*library)[it.key()] != it.value())
          err("fragments." + it.key(), "fragment '" + it.key() + "' is already defined differently");
        if (known) continue;
        if (library == base) {
          extended = *base;
          library = &extended;
        }
        extended[it.key()] = it.value();
      }
    }
    const Json& fragments = *library;
    std::vector<Pattern> out;
    auto fail = [&](const std::string& w, const std::string& m) { err(w, m); };
    size_t variants = 0;  // the file's, refused before any is built (kMaxVariantsPerFile)
    for (const auto& pj : doc["patterns"]) variants += count_variants(pj, fragments);
    if (variants > kMaxVariantsPerFile)
      err("patterns", "the patterns expand into " + std::to_string(variants) + " variants or more, more than the " +
                          std::to_string(kMaxVariantsPerFile) + " fxopt builds for one file: split the file or use "
                          "fewer fragment calls or spellings");
    for (size_t i = 0; i < doc["patterns"].size(); ++i) {
      std::string where = "patterns[" + std::to_string(i) + "]";
      const Json& pj = doc["patterns"][i];
      if (pj.is_object() && pj.contains("name") && pj["name"].is_string())
        where += " (" + pj["name"].get<std::string>() + ")";
      std::function<bool(const std::string&)> keep;
      if (only_) keep = [this](const std::string& op) { return only_->has_op(op); };
      OpFilter available = available_ ? *available_ : OpFilter();
      if (record_) available = [](const std::string&) { return true; };  // every variant, with the ops it needs
      for (auto& e : expand_fragments(pj, fragments, where, fail, keep, available)) {
        if (e.pruned) {
          if (pruned_) pruned_->push_back({e.family, e.json["fused_op"].get<std::string>()});
          continue;
        }
        if (e.absent) {
          if (absent_) absent_->push_back({e.family, e.json["name"].get<std::string>(), e.json["fused_op"].get<std::string>(), source_});
          continue;
        }
        std::string w = where;
        const std::string vname = e.json.is_object() && e.json.contains("name") && e.json["name"].is_string()
                                      ? e.json["name"].get<std::string>() : e.family;
        if (!e.spelling.empty() || vname != e.family) w += " [" + vname + "]";
        Pattern p = read_pattern(e.json, w);
        p.family = e.family.empty() ? p.name : e.family;
        p.spelling = e.spelling;
        p.reject = e.reject;
        if (p.reject.empty() && e.json.contains("reject")) {
          if (!e.json["reject"].is_string() || e.json["reject"].get<std::string>().empty())
            err(w + ".reject", "expected the reason (a string) why this look-alike must not fuse");
          p.reject = e.json["reject"].get<std::string>();
        }
        if (record_) record_->add(e, p);
        out.push_back(std::move(p));
      }
    }
    return out;
  }

  // Records every variant of the files a reader reads, with what PatternSet::builtin(target, available) decides on
  // (core/pattern/pattern_blob.h). In the index, the variants of each "targets" entry (or a pattern of its own) as a group:
  //   flags (1: keep_op prunes the group by its fused op), family, fused op, the number of variants and their bytes;
  //   then each variant: its name, the ops op_available is asked about, and where its pattern is in the bodies.
  struct Recorder {
    blob::StringTable strings;
    std::string index, bodies;
    size_t groups = 0;  // of the current file
    std::string group;  // the current group's variants
    size_t group_size = 0;
    uint64_t group_flags = 0;
    std::string family, fused_op;
    void add(const ExpandedPattern& e, const Pattern& p) {
      if (!e.expanded || e.first) {
        flush();
        group_flags = e.expanded && !e.fused_op.empty() ? 1 : 0;
        family = e.family;
        fused_op = e.fused_op;
      }
      blob::Writer w(group, strings);
      w.str(p.name);
      w.u(e.ops.size());
      for (const auto& op : e.ops) w.str(op);
      const size_t at = bodies.size();
      blob::Writer body(bodies, strings);
      blob::write_pattern(body, p);
      w.u(at);
      w.u(bodies.size() - at);
      ++group_size;
    }
    void flush() {
      if (group_size == 0) return;
      blob::Writer w(index, strings);
      w.u(group_flags);
      w.str(family);
      w.str(fused_op);
      w.u(group_size);
      w.u(group.size());
      index += group;
      group.clear();
      group_size = 0;
      ++groups;
    }
  };
  Recorder* record_ = nullptr;

  Json parse(std::string_view text) {
    Json doc;
    if (parse_pattern_json_fast(text, doc)) return doc;
    check_json_nesting(text, source_);
    try {
      doc = Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
      std::string msg = e.what();
      auto p = msg.find(": ");  // strip nlohmann's "[json.exception.parse_error.101] parse error at ...: "
      throw InputError(source_ + ": malformed JSON at " + line_col(text, e.byte ? e.byte - 1 : 0) + ": " +
                       (p == std::string::npos ? msg : msg.substr(p + 2)));
    } catch (const Json::exception& e) {  // e.g. out_of_range.406: a number too large for a double
      std::string msg = e.what();
      auto p = msg.find("] ");  // strip nlohmann's "[json.exception.out_of_range.406] "
      msg = p == std::string::npos ? msg : msg.substr(p + 2);
      // "number overflow parsing '1e999'" has no position: point at the first occurrence of the number.
      const size_t q = msg.find('\''), q2 = msg.rfind('\'');
      const size_t at = q < q2 ? text.find(msg.substr(q + 1, q2 - q - 1)) : std::string_view::npos;
      throw InputError(source_ + ": malformed JSON" + (at == std::string_view::npos ? "" : " at " + line_col(text, at)) + ": " + msg);
    }
    return doc;
  }

  // The "fragments" of every built-in pattern file (each file may use the others').
  // Parsed once per process (every reader starts from it; parsing the built-in files again for each reader was
  // an eighth of a small rewrite's instructions).
  static const Json& builtin_fragments() { return builtin_library().fragments; }
  struct BuiltinLibrary {
    std::vector<Json> docs;
    Json fragments = Json::object();
  };
  static const BuiltinLibrary& builtin_library() {
    static const BuiltinLibrary* lib = [] {
      auto* l = new BuiltinLibrary();
      for (const auto& f : builtin_pattern_files()) {
        Json doc;
        if (!parse_pattern_json_fast(f.text, doc)) doc = Json::parse(f.text.begin(), f.text.end(), nullptr, false);
        // Moved, not copied: the library is most of the built-in files.
        if (doc.is_object() && doc.contains("fragments") && doc["fragments"].is_object()) {
          for (auto it = doc["fragments"].begin(); it != doc["fragments"].end(); ++it)
            l->fragments[it.key()] = std::move(it.value());
          doc.erase("fragments");
        }
        l->docs.push_back(std::move(doc));
      }
      return l;
    }();
    return *lib;
  }
  // Whether a file defines fragments or has a node calling one ("op": "@name").
  static bool uses_fragments(const Json& doc) {
    if (doc.contains("fragments")) return true;
    for (const auto& p : doc["patterns"]) {
      if (!p.is_object() || !p.contains("nodes") || !p["nodes"].is_array()) continue;
      for (const auto& n : p["nodes"])
        if (n.is_object() && n.contains("op") && n["op"].is_string() && n["op"].get_ref<const std::string&>().starts_with('@'))
          return true;
    }
    return false;
  }

 private:
  [[noreturn]] void err(const std::string& where, const std::string& msg) {
    throw InputError(source_ + ": " + (where.empty() ? "" : where + ": ") + msg);
  }
  void check_keys(const Json& j, const std::string& where, std::initializer_list<const char*> allowed) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool ok = false;
      for (const char* a : allowed) ok = ok || it.key() == a;
      if (!ok) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        err(where, "unknown key '" + it.key() + "' (expected: " + list + ")");
      }
    }
  }
  const Json& need(const Json& j, const char* key, const std::string& where) {
    if (!j.contains(key)) err(where, std::string("missing \"") + key + "\"");
    return j[key];
  }
  std::string need_string(const Json& j, const char* key, const std::string& where) {
    const Json& v = need(j, key, where);
    if (!v.is_string()) err(where + "." + key, std::string("expected a string, got ") + json_kind(v));
    return v.get<std::string>();
  }

  int add_expr(Pattern& p, std::string_view text, const std::string& where, std::optional<VarType> want) {
    ScalarExpr e = ExprParser(p, text, source_ + ": " + where).parse_all();
    if (want) {
      bool ok = (*want == VarType::Dtype) == (e.type == VarType::Dtype) &&
                !(*want != VarType::Float && e.type == VarType::Float);
      if (!ok)
        err(where, "expression '" + std::string(text) + "' has type " + to_string(e.type) + ", expected " +
                       to_string(*want == VarType::Sym ? VarType::Int : *want));
    }
    p.exprs.push_back(std::move(e));
    return static_cast<int>(p.exprs.size()) - 1;
  }

  Value parse_value(const Json& j, VarType t, const std::string& where) {
    switch (t) {
      case VarType::Int:
      case VarType::Sym:
        if (j.is_boolean()) return Value::integer(sym::Expr::constant(j.get<bool>() ? 1 : 0));
        if (!j.is_number_integer()) err(where, std::string("expected an integer, got ") + json_kind(j));
        return Value::integer(sym::Expr::constant(j.get<int64_t>()));
      case VarType::Float:
        if (!j.is_number()) err(where, std::string("expected a number, got ") + json_kind(j));
        return Value::real(j.get<double>());
      case VarType::Dtype:
        if (!j.is_string() || !is_dtype_name(j.get<std::string>())) err(where, "expected a dtype name");
        return Value::dtype(j.get<std::string>());
    }
    return {};
  }

  void read_vars(Pattern& p, const Json& vj, const std::string& where) {
    if (!vj.is_object()) err(where, "expected an object of variable declarations");
    for (auto it = vj.begin(); it != vj.end(); ++it) {
      std::string w = where + "." + it.key();
      const std::string& name = it.key();
      if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') ||
          !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
        err(w, "a variable name must be an identifier");
      if (is_dtype_name(name) || name == "fp8_max") err(w, "'" + name + "' is reserved");
      VarDecl d;
      d.name = name;
      const Json* tj = &it.value();
      if (it.value().is_object()) {
        check_keys(it.value(), w, {"type", "value", "one_of", "doc"});
        tj = &need(it.value(), "type", w);
      }
      if (!tj->is_string()) err(w, "expected a type: \"int\", \"bool\", \"sym\", \"float\" or \"dtype\"");
      std::string ts = tj->get<std::string>();
      if (ts == "int") d.type = VarType::Int;
      else if (ts == "bool") { d.type = VarType::Int; d.boolean = true; }
      else if (ts == "sym") d.type = VarType::Sym;
      else if (ts == "float") d.type = VarType::Float;
      else if (ts == "dtype") d.type = VarType::Dtype;
      else err(w, "unknown variable type '" + ts + "' (expected int, bool, sym, float or dtype)");
      if (it.value().is_object()) {
        if (it.value().contains("value")) d.value = parse_value(it.value()["value"], d.type, w + ".value");
        if (it.value().contains("one_of")) {
          const Json& o = it.value()["one_of"];
          if (!o.is_array() || o.empty()) err(w + ".one_of", "expected a non-empty array");
          for (size_t k = 0; k < o.size(); ++k)
            d.one_of.push_back(parse_value(o[k], d.type, w + ".one_of[" + std::to_string(k) + "]"));
        }
      }
      if (d.value && d.type != VarType::Float && d.type != VarType::Dtype) d.value->type = d.type;
      for (auto& v : d.one_of) if (v.is_int()) v.type = d.type;
      p.vars.push_back(std::move(d));
    }
  }

  // "DTYPE [dim, ...]", and on a replacement node (`strides`) optionally "DTYPE [dim, ...] stride [s, ...]".
  TypeSpec parse_type(Pattern& p, const Json& j, const std::string& where, bool strides = false) {
    if (!j.is_string()) err(where, "expected a type like \"bfloat16 [N*H, D]\"");
    const std::string s = j.get<std::string>();
    std::string shape = s, stride;
    if (const auto k = s.find("] stride ["); k != std::string::npos) {
      if (!strides) err(where, "type '" + s + "': strides are given on replacement nodes only (a region's are not matched)");
      shape = s.substr(0, k + 1);
      stride = s.substr(k + 10);
    }
    auto lb = shape.find('[');
    auto rb = shape.rfind(']');
    if (lb == std::string::npos || rb == std::string::npos || rb < lb ||
        shape.find_first_not_of(" \t", rb + 1) != std::string::npos)
      err(where, "type '" + s + "' must be \"DTYPE [dim, ...]\"" + (strides ? " (+ \" stride [s, ...]\")" : ""));
    TypeSpec t;
    std::string dt = shape.substr(0, lb);
    while (!dt.empty() && std::isspace(static_cast<unsigned char>(dt.back()))) dt.pop_back();
    while (!dt.empty() && std::isspace(static_cast<unsigned char>(dt.front()))) dt.erase(dt.begin());
    if (dt.empty()) err(where, "type '" + s + "' lacks a dtype");
    t.dtype_expr = add_expr(p, dt, where + " dtype", VarType::Dtype);
    t.dims = parse_dims(p, shape.substr(lb + 1, rb - lb - 1), s, where, "dim");
    if (!stride.empty()) {
      if (stride.back() != ']') err(where, "type '" + s + "': the strides must be \"stride [s, ...]\"");
      t.strides = parse_dims(p, stride.substr(0, stride.size() - 1), s, where, "stride");
      if (t.strides.size() != t.dims.size())
        err(where, "type '" + s + "' has " + std::to_string(t.dims.size()) + " dims but " + std::to_string(t.strides.size()) +
                       " strides");
    }
    return t;
  }

  // Comma-separated Int expressions (top-level commas only) of a type's dims or strides.
  std::vector<int> parse_dims(Pattern& p, const std::string& inner, const std::string& s, const std::string& where,
                              const char* what) {
    std::vector<int> out;
    int depth = 0;
    std::string cur;
    auto flush = [&] {
      if (cur.find_first_not_of(" \t") == std::string::npos) err(where, "type '" + s + "' has an empty " + what);
      out.push_back(add_expr(p, cur, where + " " + what + " " + std::to_string(out.size()), VarType::Int));
      cur.clear();
    };
    if (inner.find_first_not_of(" \t") != std::string::npos) {
      for (char c : inner) {
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if (c == ',' && depth == 0) flush(); else cur += c;
      }
      flush();
    }
    return out;
  }

  // refs: name -> index; replacement nodes are encoded as -(k+1).
  PatternArg parse_arg(Pattern& p, const Json& j, const std::string& where,
                       const std::function<std::optional<int>(const std::string&)>& resolve) {
    PatternArg a;
    if (j.is_string()) {
      std::string s = j.get<std::string>();
      if (!s.empty() && s[0] == '%') {
        auto r = resolve(s.substr(1));
        if (!r) err(where, "unknown node '" + s.substr(1) + "' (a reference must name an input or an earlier node)");
        a.kind = PatternArg::Kind::Ref;
        a.ref = *r;
        return a;
      }
      if (!s.empty() && s[0] == '$') {
        a.kind = PatternArg::Kind::Expr;
        a.expr = add_expr(p, s.substr(1), where, std::nullopt);
        return a;
      }
      a.literal = Arg::str(s);
      return a;
    }
    if (j.is_array()) {
      a.kind = PatternArg::Kind::List;
      for (size_t i = 0; i < j.size(); ++i)
        a.items.push_back(parse_arg(p, j[i], where + "[" + std::to_string(i) + "]", resolve));
      return a;
    }
    if (j.is_null()) return a;
    if (j.is_boolean()) { a.literal = Arg::boolean(j.get<bool>()); return a; }
    if (j.is_number_integer()) { a.literal = Arg::integer(j.get<int64_t>()); return a; }
    if (j.is_number()) { a.literal = Arg::real(j.get<double>()); return a; }
    // Objects: {"dtype": "bfloat16" | "$FP8"}, {"str": "..."}, {"float": "inf"}, {"op": "_C.rms_norm.default"},
    // {"device": "$"} (in a replacement: the device of the pattern's first tensor input).
    if (j.size() != 1) err(where, "expected {\"dtype\": ...}, {\"str\": ...}, {\"float\": ...}, {\"op\": ...} or {\"device\": \"$\"}");
    auto it = j.begin();
    if (!it.value().is_string()) err(where + "." + it.key(), "expected a string");
    std::string v = it.value().get<std::string>();
    if (it.key() == "dtype") {
      if (!v.empty() && v[0] == '$') {
        a.kind = PatternArg::Kind::Expr;
        a.expr = add_expr(p, v.substr(1), where, VarType::Dtype);
      } else {
        if (!is_dtype_name(v)) err(where, "unknown dtype '" + v + "'");
        a.literal = Arg::dtype(v);
      }
      return a;
    }
    if (it.key() == "str") { a.literal = Arg::str(v); return a; }
    if (it.key() == "op") {
      if (v.find('.') == std::string::npos) err(where, "expected an operator name such as \"_C.rms_norm.default\"");
      a.literal = Arg::op(v);
      return a;
    }
    if (it.key() == "layout") { a.literal = Arg::tagged(Arg::Kind::Layout, v); return a; }
    if (it.key() == "device") {
      if (v != "$") err(where, "only {\"device\": \"$\"} (the input's device) is supported");
      a.literal = Arg::tagged(Arg::Kind::Device, v);
      return a;
    }
    if (it.key() == "float") {
      if (v == "inf") a.literal = Arg::real(INFINITY);
      else if (v == "-inf") a.literal = Arg::real(-INFINITY);
      else if (v == "nan") a.literal = Arg::real(NAN);
      else err(where, "expected inf, -inf or nan");
      return a;
    }
    err(where, "unknown value object '" + it.key() + "' (expected dtype, str, float, op or device)");
  }

  void read_args(Pattern& p, const Json& nj, const std::string& w, std::vector<PatternArg>& args,
                 std::vector<std::pair<std::string, PatternArg>>& kwargs,
                 const std::function<std::optional<int>(const std::string&)>& resolve) {
    const Json& aj = need(nj, "args", w);
    if (!aj.is_array()) err(w + ".args", "expected an array");
    for (size_t i = 0; i < aj.size(); ++i)
      args.push_back(parse_arg(p, aj[i], w + ".args[" + std::to_string(i) + "]", resolve));
    if (nj.contains("kwargs")) {
      const Json& kj = nj["kwargs"];
      if (!kj.is_object()) err(w + ".kwargs", "expected an object");
      for (auto it = kj.begin(); it != kj.end(); ++it)
        kwargs.emplace_back(it.key(), parse_arg(p, it.value(), w + ".kwargs." + it.key(), resolve));
    }
  }

  // Every expression in a match must be computable by the solver: checked by walking the args.
  void check_match_arg(const Pattern& p, const PatternArg& a, const std::string& where) {
    if (a.kind == PatternArg::Kind::List)
      for (size_t i = 0; i < a.items.size(); ++i) check_match_arg(p, a.items[i], where + "[" + std::to_string(i) + "]");
  }

  // {"atol": A, "rtol": R, "fp8_codes": K, "reason": "..."}: non-negative bounds and a reason.
  void read_tolerance(Tolerance& t, const Json& j, const std::string& where) {
    if (!j.is_object()) err(where, "expected an object {\"atol\", \"rtol\", \"fp8_codes\", \"reason\"}");
    check_keys(j, where, {"atol", "rtol", "fp8_codes", "reason"});
    auto bound = [&](const char* key, double& out) {
      if (!j.contains(key)) return;
      const Json& v = j[key];
      if (!v.is_number() || !(v.get<double>() >= 0.0) || !std::isfinite(v.get<double>()))
        err(where + "." + key, "expected a finite number >= 0");
      out = v.get<double>();
    };
    bound("atol", t.atol);
    bound("rtol", t.rtol);
    if (j.contains("fp8_codes")) {
      const Json& v = j["fp8_codes"];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 255)
        err(where + ".fp8_codes", "expected an integer from 0 to 255");
      t.fp8_codes = v.get<int64_t>();
    }
    if (j.contains("reason")) t.reason = need_string(j, "reason", where);
    if (t.any() && t.reason.empty()) err(where + ".reason", "a tolerance needs a reason (why the fused op may differ)");
  }

  Pattern read_pattern(const Json& pj, const std::string& where) {
    if (!pj.is_object()) err(where, "expected an object");
    check_keys(pj, where, {"name", "description", "diagram", "benefit", "fused_op", "vars", "inputs", "nodes",
                           "outputs", "root", "conditions", "replacement", "tolerance", "inf_nan", "reject"});
    Pattern p;
    p.source = source_;
    p.name = need_string(pj, "name", where);
    if (p.name.empty() || !std::all_of(p.name.begin(), p.name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '@' || c == '/' || c == '+';
        }))
      err(where + ".name", "a pattern name uses letters, digits, '_' and '-' (expanded names add '@target' and '/spellings')");
    if (pj.contains("description")) p.description = need_string(pj, "description", where);
    if (pj.contains("diagram")) {
      const Json& d = pj["diagram"];
      if (!d.is_array()) err(where + ".diagram", "expected an array of strings");
      for (const auto& l : d) {
        if (!l.is_string()) err(where + ".diagram", "expected an array of strings");
        p.diagram.push_back(l.get<std::string>());
      }
    }
    if (pj.contains("benefit")) {
      if (!pj["benefit"].is_number_integer()) err(where + ".benefit", "expected an integer");
      p.benefit = pj["benefit"].get<int>();
    }
    p.fused_op = need_string(pj, "fused_op", where);
    if (pj.contains("tolerance")) read_tolerance(p.tolerance, pj["tolerance"], where + ".tolerance");
    if (pj.contains("inf_nan")) {
      if (!pj["inf_nan"].is_boolean()) err(where + ".inf_nan", "expected true or false");
      p.inf_nan = pj["inf_nan"].get<bool>();
    }
    if (pj.contains("vars")) read_vars(p, pj["vars"], where + ".vars");

    // Inputs.
    const Json& ij = need(pj, "inputs", where);
    if (!ij.is_object() || ij.empty()) err(where + ".inputs", "expected a non-empty object: name -> type");
    for (auto it = ij.begin(); it != ij.end(); ++it) {
      PatternNode n;
      n.name = it.key();
      n.is_input = true;
      if (p.node_index(n.name) >= 0) err(where + ".inputs." + n.name, "duplicate name");
      if (!it.value().is_null()) n.type = parse_type(p, it.value(), where + ".inputs." + n.name);
      p.nodes.push_back(std::move(n));
    }
    size_t num_inputs = p.nodes.size();

    // Region nodes.
    each_node_object(pj, where, [&](const Json& n, std::string& w) {
      PatternNode pn;
      pn.name = need_string(n, "name", w);
      w += " (" + pn.name + ")";
      if (p.node_index(pn.name) >= 0) err(w, "duplicate node name '" + pn.name + "'");
      pn.target = need_string(n, "op", w);
      pn.reshape_like = is_reshape_like(pn.target);
      auto resolve = [&](const std::string& name) -> std::optional<int> {
        int k = p.node_index(name);
        return k >= 0 ? std::optional<int>(k) : std::nullopt;
      };
      read_args(p, n, w, pn.args, pn.kwargs, resolve);
      if (n.contains("val")) pn.type = parse_type(p, n["val"], w + ".val");
      if (pn.reshape_like) {
        if (pn.args.size() != 2 || pn.args[0].kind != PatternArg::Kind::Ref || pn.args[1].kind != PatternArg::Kind::List)
          err(w, "a reshape takes [\"%input\", [sizes...]]");
        for (size_t k = 0; k < pn.args[1].items.size(); ++k) {
          const auto& it = pn.args[1].items[k];
          if (it.kind == PatternArg::Kind::Literal && it.literal.is_int() && it.literal.i == -1)
            err(w + ".args[1][" + std::to_string(k) + "]",
                "a reshape in a match gives the resulting shape, not -1 (the graph's -1 is inferred)");
          if (!(it.kind == PatternArg::Kind::Expr || (it.kind == PatternArg::Kind::Literal && it.literal.is_int())))
            err(w + ".args[1][" + std::to_string(k) + "]", "a reshape size is an int or an int expression");
        }
      }
      p.nodes.push_back(std::move(pn));
    });
    // Every argument expression of a region node must be a number/dtype expression of a sensible type.
    for (size_t k = num_inputs; k < p.nodes.size(); ++k) {
      for (const auto& a : p.nodes[k].args) check_match_arg(p, a, where + ".nodes." + p.nodes[k].name);
    }

    // Outputs.
    const Json& oj = need(pj, "outputs", where);
    if (!oj.is_object() || oj.empty()) err(where + ".outputs", "expected a non-empty object: output name -> node");
    for (auto it = oj.begin(); it != oj.end(); ++it) {
      if (!it.value().is_string()) err(where + ".outputs." + it.key(), "expected a node name");
      int k = p.node_index(it.value().get<std::string>());
      if (k < 0 || p.nodes[k].is_input)
        err(where + ".outputs." + it.key(), "'" + it.value().get<std::string>() + "' is not a node of the region");
      p.outputs.push_back(k);
      p.output_names.push_back(it.key());
    }

    p.root = p.outputs[0];
    if (pj.contains("root")) {
      if (!pj["root"].is_string()) err(where + ".root", "expected a node name");
      int k = p.node_index(pj["root"].get<std::string>());
      if (k < 0 || p.nodes[k].is_input) err(where + ".root", "'" + pj["root"].get<std::string>() + "' is not a node of the region");
      p.root = k;
    }

    // Conditions.
    if (pj.contains("conditions")) {
      const Json& cj = pj["conditions"];
      if (!cj.is_array()) err(where + ".conditions", "expected an array of strings");
      for (size_t i = 0; i < cj.size(); ++i) {
        std::string w = where + ".conditions[" + std::to_string(i) + "]";
        if (!cj[i].is_string()) err(w, "expected a string like \"D % G == 0\"");
        Condition c;
        c.text = cj[i].get<std::string>();
        ScalarExpr l, r;
        ExprParser(p, c.text, source_ + ": " + w).parse_condition(l, c.cmp, r);
        p.exprs.push_back(std::move(l));
        c.lhs = static_cast<int>(p.exprs.size()) - 1;
        p.exprs.push_back(std::move(r));
        c.rhs = static_cast<int>(p.exprs.size()) - 1;
        p.conditions.push_back(std::move(c));
      }
    }

    read_replacement(p, need(pj, "replacement", where), where + ".replacement", num_inputs);
    validate(p, where, num_inputs);
    return p;
  }

  // The "nodes" array of a region or a replacement: f(node, where) for each entry, an object with known keys.
  template <class F>
  void each_node_object(const Json& parent, const std::string& where, F f) {
    const Json& nj = need(parent, "nodes", where);
    if (!nj.is_array() || nj.empty()) err(where + ".nodes", "expected a non-empty array");
    for (size_t i = 0; i < nj.size(); ++i) {
      std::string w = where + ".nodes[" + std::to_string(i) + "]";
      const Json& n = nj[i];
      if (!n.is_object()) err(w, "expected an object");
      check_keys(n, w, {"name", "op", "args", "kwargs", "val"});
      f(n, w);
    }
  }

  void read_replacement(Pattern& p, const Json& rj, const std::string& where, size_t num_inputs) {
    if (!rj.is_object()) err(where, "expected an object with \"nodes\" and \"outputs\"");
    check_keys(rj, where, {"nodes", "outputs"});
    each_node_object(rj, where, [&](const Json& n, std::string& w) {
      ReplacementNode rn;
      rn.name = need_string(n, "name", w);
      w += " (" + rn.name + ")";
      for (const auto& other : p.replacement)
        if (other.name == rn.name) err(w, "duplicate replacement node name");
      rn.target = need_string(n, "op", w);
      auto resolve = [&](const std::string& name) -> std::optional<int> {
        for (size_t k = 0; k < p.replacement.size(); ++k)
          if (p.replacement[k].name == name) return -static_cast<int>(k) - 1;
        int k = p.node_index(name);
        if (k >= 0 && static_cast<size_t>(k) < num_inputs) return k;
        if (k >= 0) err(w, "the replacement may only use the pattern's inputs, not the region node '" + name + "'");
        return std::nullopt;
      };
      read_args(p, n, w, rn.args, rn.kwargs, resolve);
      const Json& vj = need(n, "val", w);
      if (vj.is_array()) {
        rn.tuple = true;
        for (size_t k = 0; k < vj.size(); ++k)  // null: a None item (auto_functionalized's own result)
          rn.vals.push_back(vj[k].is_null() ? TypeSpec{}
                                            : parse_type(p, vj[k], w + ".val[" + std::to_string(k) + "]", true));
      } else {
        rn.vals.push_back(parse_type(p, vj, w + ".val", true));
      }
      p.replacement.push_back(std::move(rn));
    });
    const Json& oj = need(rj, "outputs", where);
    if (!oj.is_object()) err(where + ".outputs", "expected an object: output name -> replacement node");
    for (auto it = oj.begin(); it != oj.end(); ++it) {
      auto pos = std::find(p.output_names.begin(), p.output_names.end(), it.key());
      if (pos == p.output_names.end()) err(where + ".outputs." + it.key(), "not an output of the pattern");
      if (!it.value().is_string()) err(where + ".outputs." + it.key(), "expected a replacement node name");
      int k = -1;
      for (size_t r = 0; r < p.replacement.size(); ++r)
        if (p.replacement[r].name == it.value().get<std::string>()) k = static_cast<int>(r);
      if (k < 0) err(where + ".outputs." + it.key(), "unknown replacement node '" + it.value().get<std::string>() + "'");
      p.replace.emplace_back(static_cast<int>(pos - p.output_names.begin()), k);
    }
    for (size_t o = 0; o < p.output_names.size(); ++o) {
      bool found = false;
      for (auto& [po, r] : p.replace) found = found || po == static_cast<int>(o);
      if (!found) err(where + ".outputs", "output '" + p.output_names[o] + "' has no replacement");
    }
    // The fused op must be called by the replacement.
    bool calls = false;
    for (const auto& r : p.replacement) {
      calls = calls || r.target == p.fused_op;
      // or in functional form: auto_functionalized(_v2)({"op": fused_op}, ...), as vLLM emits its mutating _C ops
      if ((r.target == "higher_order.auto_functionalized" || r.target == "higher_order.auto_functionalized_v2") &&
          !r.args.empty() && r.args[0].kind == PatternArg::Kind::Literal && r.args[0].literal.kind == Arg::Kind::Op)
        calls = calls || r.args[0].literal.s == p.fused_op;
    }
    if (!calls) err(where, "no replacement node calls the fused_op '" + p.fused_op + "'");
  }

  void collect_vars(const ScalarExpr& e, std::vector<bool>& used) {
    if (e.op == ScalarExpr::Op::Var) used[e.var] = true;
    for (const auto& k : e.kids) collect_vars(k, used);
  }

  void validate(Pattern& p, const std::string& where, size_t num_inputs) {
    // Every input is used by a region node; every region node is reachable from the outputs.
    std::vector<bool> used(p.nodes.size(), false);
    std::function<void(const PatternArg&)> mark = [&](const PatternArg& a) {
      if (a.kind == PatternArg::Kind::Ref) used[a.ref] = true;
      for (const auto& i : a.items) mark(i);
    };
    for (size_t k = num_inputs; k < p.nodes.size(); ++k) {
      for (const auto& a : p.nodes[k].args) mark(a);
      for (const auto& [key, a] : p.nodes[k].kwargs) mark(a);
    }
    for (size_t k = 0; k < p.nodes.size(); ++k) {
      bool is_out = std::find(p.outputs.begin(), p.outputs.end(), static_cast<int>(k)) != p.outputs.end();
      if (!used[k] && !is_out)
        err(where, std::string(p.nodes[k].is_input ? "input" : "node") + " '" + p.nodes[k].name +
                       "' is not used by the region (and is not an output)");
    }
    // Every input reaches an output (a residual output need not depend on the weight; the rewriter places the
    // replacement after every input and before every output's first use).
    std::vector<bool> reach(p.nodes.size(), false);
    for (size_t o = 0; o < p.outputs.size(); ++o) {
      std::function<void(int)> walk = [&](int k) {
        if (reach[k]) return;
        reach[k] = true;
        std::function<void(const PatternArg&)> f = [&](const PatternArg& a) {
          if (a.kind == PatternArg::Kind::Ref) walk(a.ref);
          for (const auto& i : a.items) f(i);
        };
        for (const auto& a : p.nodes[k].args) f(a);
        for (const auto& [key, a] : p.nodes[k].kwargs) f(a);
      };
      walk(p.outputs[o]);
    }
    for (size_t k = 0; k < num_inputs; ++k)
      if (!reach[k]) err(where + ".outputs", "no output depends on input '" + p.nodes[k].name + "'");
    // Every variable must be determined by the region (bound by a match) or fixed.
    std::vector<bool> bound(p.vars.size(), false);
    std::function<void(const PatternArg&)> bind = [&](const PatternArg& a) {
      if (a.kind == PatternArg::Kind::Expr) collect_vars(p.exprs[a.expr], bound);
      for (const auto& i : a.items) bind(i);
    };
    for (const auto& n : p.nodes) {
      for (const auto& a : n.args) bind(a);
      for (const auto& [key, a] : n.kwargs) bind(a);
      if (n.type) {
        collect_vars(p.exprs[n.type->dtype_expr], bound);
        for (int d : n.type->dims) collect_vars(p.exprs[d], bound);
      }
    }
    for (size_t v = 0; v < p.vars.size(); ++v)
      if (!bound[v] && !p.vars[v].value)
        err(where + ".vars." + p.vars[v].name, "variable '" + p.vars[v].name + "' does not occur in the region, so no match can bind it");
    // The device of new tensors: the first input with a tensor type.
    for (size_t k = 0; k < num_inputs; ++k)
      if (p.nodes[k].type) { p.device_input = static_cast<int>(k); break; }
  }

  const Target* only_ = nullptr;             // build only the variants whose fused op this target has
  std::vector<PrunedPattern>* pruned_ = nullptr;  // ... and list the others here
  const OpFilter* available_ = nullptr;      // build only the spelling variants whose ops this accepts
  std::vector<AbsentPattern>* absent_ = nullptr;  // ... and list the others here
  std::string source_;
};

}  // namespace

std::vector<Pattern> parse_pattern_file(std::string_view text, const std::string& source) {
  return PatternReader(source).read(text);
}

namespace {

// Each built-in pattern entry (a pattern, or one of its "targets") with a fused op and a replacement: f(fused op,
// the ops of its replacement's nodes).
template <class F>
void for_each_builtin_replacement(F f) {
  auto entry = [&](const Json& e) {
    if (!e.is_object() || !e.contains("fused_op") || !e["fused_op"].is_string() || !e.contains("replacement")) return;
    std::vector<std::string> ops;
    const Json& r = e["replacement"];
    if (r.is_object() && r.contains("nodes") && r["nodes"].is_array())
      for (const auto& n : r["nodes"])
        if (n.is_object() && n.contains("op") && n["op"].is_string()) ops.push_back(n["op"].get<std::string>());
    f(e["fused_op"].get<std::string>(), ops);
  };
  for (const Json& doc : PatternReader::builtin_docs()) {
    if (!doc.is_object() || !doc.contains("patterns") || !doc["patterns"].is_array()) continue;
    for (const auto& p : doc["patterns"]) {
      entry(p);
      if (p.is_object() && p.contains("targets") && p["targets"].is_array())
        for (const auto& t : p["targets"]) entry(t);
    }
  }
}

}  // namespace

// The prebuilt form: the string table, the index (the replacement table, then each file's groups: Recorder), then
// the patterns' bodies.
std::string build_builtin_variant_blob() {
  PatternReader::Recorder rec;
  blob::Writer w(rec.index, rec.strings);
  size_t entries = 0;
  std::string table;
  blob::Writer t(table, rec.strings);
  for_each_builtin_replacement([&](const std::string& fused_op, const std::vector<std::string>& ops) {
    t.str(fused_op);
    t.u(ops.size());
    for (const auto& op : ops) t.str(op);
    ++entries;
  });
  w.u(entries);
  rec.index += table;
  const auto& files = builtin_pattern_files();
  w.u(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    PatternReader reader("builtin:" + std::string(files[i].name));
    reader.record_ = &rec;
    // The file's groups follow its name and their count.
    std::string items;
    std::swap(items, rec.index);
    rec.groups = 0;
    (void)reader.read_doc(PatternReader::builtin_docs()[i]);
    rec.flush();
    std::swap(items, rec.index);
    w.str(files[i].name);
    w.u(rec.groups);
    rec.index += items;
  }
  std::string out;
  rec.strings.write(out);
  blob::Writer(out, rec.strings).u(rec.index.size());
  return out + rec.index + rec.bodies;
}

namespace {
// The index and the bodies of a blob; `strings` reads its string table.
struct BlobParts {
  blob::Reader strings;
  blob::Reader index;
  std::string_view bodies;
  explicit BlobParts(std::string_view data) : strings(data), index(std::string_view()) {
    strings.read_strings();
    index = blob::Reader(strings.bytes(strings.u()));
    index.share_strings(strings);
    bodies = strings.rest();
  }
  void skip_replacements() {
    for (uint64_t n = index.u(); n > 0; --n) {
      (void)index.u();
      for (uint64_t k = index.u(); k > 0; --k) (void)index.u();
    }
  }
};
}  // namespace

PatternSet PatternSet::builtin_prebuilt(std::string_view data, const Target* only, const OpFilter* available) {
  PatternSet s;
  BlobParts parts(data);
  blob::Reader& r = parts.index;
  parts.skip_replacements();
  std::vector<signed char> op_ok(available ? r.strings() : 0, -1);  // available(op) by string index, asked once
  for (uint64_t files = r.u(); files > 0; --files) {
    const std::string source = "builtin:" + std::string(r.str());
    std::vector<Pattern> ps;
    for (uint64_t groups = r.u(); groups > 0; --groups) {
      const uint64_t flags = r.u();
      const std::string_view family = r.str(), fused_op = r.str();
      uint64_t items = r.u();
      const uint64_t size = r.u();
      if (only && (flags & 1) && !only->has_op(fused_op)) {  // the target lacks the fused op: none is built
        s.pruned_.push_back({std::string(family), std::string(fused_op)});
        (void)r.bytes(size);
        continue;
      }
      for (; items > 0; --items) {
        const std::string_view name = r.str();
        bool present = true;
        for (uint64_t k = r.u(); k > 0; --k) {
          const uint64_t op = r.u();
          if (op >= r.strings()) blob::Reader::corrupt();
          if (!available || !present) continue;
          if (op_ok[op] < 0) op_ok[op] = (*available)(std::string(r.string_at(op))) ? 1 : 0;
          present = op_ok[op] == 1;
        }
        const uint64_t at = r.u(), bytes = r.u();
        if (!present) {
          s.absent_.push_back({std::string(family), std::string(name), std::string(fused_op), source});
          continue;
        }
        if (at > parts.bodies.size() || bytes > parts.bodies.size() - at) blob::Reader::corrupt();
        blob::Reader body(parts.bodies.substr(at, bytes));
        body.share_strings(r);
        ps.push_back(blob::read_pattern(body));
        if (!body.at_end()) blob::Reader::corrupt();
      }
    }
    s.add(std::move(ps));
  }
  if (!r.at_end()) blob::Reader::corrupt();
  return s;
}

PatternSet PatternSet::builtin(const Target& only, const OpFilter& available) {
  if (!builtin_variant_blob().empty())
    return builtin_prebuilt(builtin_variant_blob(), &only, available ? &available : nullptr);
  PatternSet s;
  const auto& files = builtin_pattern_files();
  for (size_t i = 0; i < files.size(); ++i)
    s.add(PatternReader("builtin:" + std::string(files[i].name), &only, &s.pruned_, available ? &available : nullptr,
                        &s.absent_).read_doc(PatternReader::builtin_docs()[i]));
  return s;
}

std::vector<std::string> PatternSet::builtin_replacement_ops(const Target& only) {
  std::vector<std::string> out;
  // The entries (a pattern, or one of its "targets") whose fused op `only` has: their replacements' node ops.
  if (!builtin_variant_blob().empty()) {
    BlobParts parts(builtin_variant_blob());
    blob::Reader& r = parts.index;
    for (uint64_t n = r.u(); n > 0; --n) {
      const bool has = only.has_op(r.str());
      for (uint64_t k = r.u(); k > 0; --k) {
        const std::string_view op = r.str();
        if (has) out.emplace_back(op);
      }
    }
  } else {
    for_each_builtin_replacement([&](const std::string& fused_op, const std::vector<std::string>& ops) {
      if (only.has_op(fused_op)) out.insert(out.end(), ops.begin(), ops.end());
    });
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------

PatternSet PatternSet::builtin() {
  if (!builtin_variant_blob().empty()) return builtin_prebuilt(builtin_variant_blob(), nullptr, nullptr);
  PatternSet s;
  for (const auto& f : builtin_pattern_files()) s.add(parse_pattern_file(f.text, "builtin:" + std::string(f.name)));
  return s;
}

void PatternSet::load_file(const std::string& path) {
  std::string text = read_text_file(path);
  add(parse_pattern_file(text, path));
}

void PatternSet::add(Pattern p) {
  std::vector<Pattern> one;
  one.push_back(std::move(p));
  add(std::move(one));
}

// A file's patterns at once: one pass for duplicate names and one reindex (a family expands to hundreds).
void PatternSet::add(std::vector<Pattern> ps) {
  std::unordered_map<std::string_view, const Pattern*> seen;
  seen.reserve(patterns_.size() + ps.size());
  for (const auto& q : patterns_) seen.emplace(q.name, &q);
  for (const auto& p : ps) {
    auto [it, fresh] = seen.emplace(p.name, &p);
    if (!fresh)
      throw InputError(p.source + ": pattern '" + p.name + "' is already defined (in " + it->second->source + ")");
  }
  for (const auto& a : absent_)  // a built-in variant left unbuilt still owns its name
    if (seen.count(a.name))
      throw InputError(seen[a.name]->source + ": pattern '" + a.name + "' is already defined (in " + a.source + ")");
  patterns_.reserve(patterns_.size() + ps.size());
  for (auto& p : ps) patterns_.push_back(std::move(p));
  reindex();
}

void PatternSet::select(const std::vector<std::string>& names) {
  if (names.empty() || (names.size() == 1 && names[0] == "all")) return;
  std::vector<Pattern> kept;
  std::vector<PrunedPattern> kept_pruned;
  for (const auto& n : names) {
    // A name selects one pattern, or every variant of a family (the name as written in the file).
    bool any = false;
    for (const auto& p : pruned_)
      if (p.family == n) {
        any = true;
        kept_pruned.push_back(p);
      }
    for (const auto& a : absent_)
      if (a.family == n || a.name == n) any = true;  // known, but not built for this graph
    for (const auto& p : patterns_) {
      if (p.name != n && p.family != n) continue;
      any = true;
      if (std::none_of(kept.begin(), kept.end(), [&](const Pattern& q) { return q.name == p.name; })) kept.push_back(p);
    }
    if (!any) {
      std::string all;
      for (const auto& p : patterns_)
        if (all.find(p.family) == std::string::npos) all += (all.empty() ? "" : ", ") + p.family;
      for (const auto& p : pruned_)
        if (all.find(p.family) == std::string::npos) all += (all.empty() ? "" : ", ") + p.family;
      for (const auto& a : absent_)
        if (all.find(a.family) == std::string::npos) all += (all.empty() ? "" : ", ") + a.family;
      throw InputError("unknown pattern '" + n + "' (known: " + all + ")");
    }
  }
  patterns_ = std::move(kept);
  pruned_ = std::move(kept_pruned);
  reindex();
}

void PatternSet::reindex() {
  by_root_.clear();
  std::vector<int> order(patterns_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (patterns_[a].benefit != patterns_[b].benefit) return patterns_[a].benefit > patterns_[b].benefit;
    return patterns_[a].name < patterns_[b].name;
  });
  for (int i : order) {
    const std::string& t = patterns_[i].root_target();
    const auto& aliases = op_aliases(t);
    if (aliases.empty()) by_root_[t].push_back(i);
    else for (const auto& a : aliases) by_root_[a].push_back(i);
  }
  few_roots_.clear();
  if (by_root_.size() <= 8)
    for (const auto& [t, list] : by_root_) few_roots_.emplace_back(t, list);
}

const std::vector<int>* PatternSet::rooted_at(std::string_view target) const {
  // Most nodes are rejected by the size of their target string alone, without touching its characters.
  if (!few_roots_.empty() || by_root_.empty()) {
    for (const auto& [t, list] : few_roots_)
      if (t.size() == target.size() && t == target) return &list;
    return nullptr;
  }
  auto it = by_root_.find(target);
  return it == by_root_.end() ? nullptr : &it->second;
}

}  // namespace fxopt
