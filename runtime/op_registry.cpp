// The op registry: PyTorch schema parsing, argument decoding against a schema, the row table gathered
// from runtime/ops/*.cpp (families.def), and the single-op call used by tests.
#include "runtime/op_registry.h"

#include <cctype>
#include <cstdlib>
#include <unordered_map>

#include "core/ir/error.h"

namespace fxopt::rt {

// ---- schema parsing ----

const char* to_string(ArgType t) {
  switch (t) {
    case ArgType::Tensor: return "Tensor";
    case ArgType::Int: return "int";
    case ArgType::SymInt: return "SymInt";
    case ArgType::Float: return "float";
    case ArgType::Bool: return "bool";
    case ArgType::Str: return "str";
    case ArgType::ScalarType: return "ScalarType";
    case ArgType::Scalar: return "Scalar";
    case ArgType::Layout: return "Layout";
    case ArgType::Device: return "Device";
    case ArgType::MemoryFormat: return "MemoryFormat";
    case ArgType::Generator: return "Generator";
    case ArgType::Any: return "Any";
  }
  return "?";
}

namespace {

struct SchemaParser {
  std::string_view s;
  size_t p = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError("schema '" + std::string(s) + "': " + what + " at position " + std::to_string(p));
  }
  void ws() {
    while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  }
  bool eat(std::string_view tok) {
    ws();
    if (s.substr(p, tok.size()) != tok) return false;
    p += tok.size();
    return true;
  }
  void expect(std::string_view tok) {
    if (!eat(tok)) fail("expected '" + std::string(tok) + "'");
  }
  std::string ident() {
    ws();
    const size_t b = p;
    while (p < s.size() && (std::isalnum(static_cast<unsigned char>(s[p])) || s[p] == '_')) ++p;
    if (b == p) fail("expected a name");
    return std::string(s.substr(b, p - b));
  }

  ArgType base_type(const std::string& t) {
    static const std::pair<const char*, ArgType> kTypes[] = {
        {"Tensor", ArgType::Tensor},         {"int", ArgType::Int},          {"SymInt", ArgType::SymInt},
        {"float", ArgType::Float},           {"bool", ArgType::Bool},        {"str", ArgType::Str},
        {"ScalarType", ArgType::ScalarType}, {"Scalar", ArgType::Scalar},    {"Layout", ArgType::Layout},
        {"Device", ArgType::Device},         {"MemoryFormat", ArgType::MemoryFormat},
        {"Generator", ArgType::Generator},   {"Any", ArgType::Any},          {"number", ArgType::Scalar},
    };
    for (const auto& [n, a] : kTypes)
      if (t == n) return a;
    fail("unknown type '" + t + "'");
  }

  // T, T(a!), T?, T[], T[N], T[]?, T?[], T(a -> *)[]
  ArgSpec type() {
    ArgSpec a;
    a.type = base_type(ident());
    ws();
    if (p < s.size() && s[p] == '(') {  // alias annotation
      const size_t close = s.find(')', p);
      if (close == std::string_view::npos) fail("unclosed alias annotation");
      p = close + 1;
    }
    if (eat("?")) a.item_optional = true;
    if (eat("[")) {
      a.list = true;
      ws();
      const size_t b = p;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p;
      if (p > b) a.list_size = std::atoll(std::string(s.substr(b, p - b)).c_str());
      expect("]");
      if (eat("?")) a.optional = true;
    } else if (a.item_optional) {
      a.item_optional = false;
      a.optional = true;
    }
    return a;
  }

  Value default_value() {
    ws();
    if (eat("[")) {
      std::vector<Value> items;
      if (!eat("]")) {
        do items.push_back(default_value());
        while (eat(","));
        expect("]");
      }
      return Value::list(std::move(items));
    }
    if (p < s.size() && (s[p] == '"' || s[p] == '\'')) {
      const char q = s[p++];
      const size_t close = s.find(q, p);
      if (close == std::string_view::npos) fail("unclosed string");
      Value v;
      v.kind = Value::Kind::Str;
      v.s = std::string(s.substr(p, close - p));
      p = close + 1;
      return v;
    }
    const size_t b = p;
    while (p < s.size() && s[p] != ',' && s[p] != ')' && s[p] != ']' && !std::isspace(static_cast<unsigned char>(s[p]))) ++p;
    const std::string tok(s.substr(b, p - b));
    if (tok.empty()) fail("expected a default value");
    if (tok == "None") return Value::none();
    if (tok == "True" || tok == "False") return Value::boolean(tok == "True");
    if (tok == "inf" || tok == "-inf") return Value::real(tok == "inf" ? HUGE_VAL : -HUGE_VAL);
    char* end = nullptr;
    const long long iv = std::strtoll(tok.c_str(), &end, 10);
    if (*end == '\0') return Value::integer(iv);
    const double dv = std::strtod(tok.c_str(), &end);
    if (*end == '\0') return Value::real(dv);
    Value v;  // an enum spelling: contiguous_format, long, Mean, ...
    v.kind = Value::Kind::Opaque;
    v.s = tok;
    return v;
  }

  Schema parse() {
    Schema sc;
    sc.name = ident();
    if (eat("::")) sc.name = ident();
    if (eat(".")) sc.overload = ident();
    expect("(");
    bool kw = false;
    if (!eat(")")) {
      do {
        if (eat("*")) {
          kw = true;
          continue;
        }
        ArgSpec a = type();
        a.name = ident();
        a.kwarg_only = kw;
        if (eat("=")) {
          a.default_value = default_value();
          if (a.default_value->kind == Value::Kind::Opaque && a.type == ArgType::ScalarType) {
            a.default_value->kind = Value::Kind::Dtype;
            if (a.default_value->s == "long") a.default_value->s = "int64";
          }
        }
        sc.args.push_back(std::move(a));
      } while (eat(","));
      expect(")");
    }
    expect("->");
    if (eat("(")) {
      if (!eat(")")) {
        do {
          sc.returns.push_back(type().type);
          ws();
          if (p < s.size() && std::isalpha(static_cast<unsigned char>(s[p]))) ident();  // a return name
        } while (eat(","));
        expect(")");
      }
    } else {
      ArgSpec r = type();
      sc.returns.push_back(r.type);
      sc.returns_list = r.list;
    }
    ws();
    if (p != s.size()) fail("unexpected text after the returns");
    return sc;
  }
};

}  // namespace

Schema parse_schema(std::string_view text) { return SchemaParser{text}.parse(); }

// ---- decoding ----

namespace {

std::string type_str(const ArgSpec& a) {
  std::string t = to_string(a.type);
  if (a.item_optional) t += "?";
  if (a.list) t += a.list_size ? "[" + std::to_string(a.list_size) + "]" : "[]";
  if (a.optional) t += "?";
  return t;
}

// One item of type t (not a list); `where` names the argument.
Value decode_item(ArgType t, bool allow_none, const Value& v, const std::string& where) {
  auto bad = [&](const char* want) -> InputError {
    return InputError(where + " must be " + want + ", got " + describe(v));
  };
  if (v.kind == Value::Kind::None) {
    if (allow_none || t == ArgType::Any || t == ArgType::Layout || t == ArgType::Device ||
        t == ArgType::MemoryFormat || t == ArgType::Generator)
      return v;
    throw bad("given (not None)");
  }
  switch (t) {
    case ArgType::Tensor:  // a Python number stays one (a wrapped scalar: it promotes as a number)
      if (!v.is_tensor() && !v.is_number()) throw bad("a tensor");
      return v;
    case ArgType::Int:
    case ArgType::SymInt:
      if (v.kind == Value::Kind::Int) return v;
      if (v.kind == Value::Kind::Bool) return Value::integer(v.b);
      throw bad("an int");
    case ArgType::Float:
      if (!v.is_number()) throw bad("a float");
      return Value::real(v.as_double());
    case ArgType::Bool:
      if (v.kind == Value::Kind::Bool) return v;
      if (v.kind == Value::Kind::Int && (v.i == 0 || v.i == 1)) return Value::boolean(v.i != 0);
      throw bad("a bool");
    case ArgType::Str:
      if (v.kind != Value::Kind::Str) throw bad("a string");
      return v;
    case ArgType::ScalarType:
      if (v.kind != Value::Kind::Dtype) throw bad("a dtype");
      if (!dtype_from_name(v.s)) throw InputError(where + ": dtype '" + v.s + "' is not supported by the executor");
      return v;
    case ArgType::Scalar:
      if (!v.is_number()) throw bad("a number");
      return v;
    default: return v;  // Layout, Device, MemoryFormat, Generator, Any: passed through
  }
}

Value decode_value(const ArgSpec& a, const Value& v, const std::string& where) {
  if (!a.list) return decode_item(a.type, a.optional, v, where);
  if (v.kind == Value::Kind::None) {
    if (a.optional) return v;
    throw InputError(where + " must be a list, got None");
  }
  if (v.kind != Value::Kind::List) {
    // int[N] (and int[]) accept one int, repeated (PyTorch's IntArrayRef from an int).
    if ((a.type == ArgType::Int || a.type == ArgType::SymInt) && (v.kind == Value::Kind::Int || v.kind == Value::Kind::Bool)) {
      const Value one = decode_item(a.type, false, v, where);
      return Value::list(std::vector<Value>(static_cast<size_t>(std::max<int64_t>(a.list_size, 1)), one));
    }
    throw InputError(where + " must be a list, got " + describe(v));
  }
  std::vector<Value> items;
  items.reserve(v.items.size());
  for (size_t i = 0; i < v.items.size(); ++i)
    items.push_back(decode_item(a.type, a.item_optional, v.items[i], where + "[" + std::to_string(i) + "]"));
  return Value::list(std::move(items));
}

}  // namespace

OpArgs decode_args(const Schema& sc, const Node& node, const KernelArgs& in) {
  const size_t n = sc.args.size();
  if (in.args.size() > n)
    throw InputError("takes " + std::to_string(n) + " arguments, got " + std::to_string(in.args.size()) + " positional");
  std::vector<const Value*> given(n, nullptr);
  for (size_t i = 0; i < in.args.size(); ++i) {
    if (sc.args[i].kwarg_only)
      throw InputError("argument '" + sc.args[i].name + "' is keyword-only but was given by position");
    given[i] = &in.args[i];
  }
  for (const auto& [k, v] : in.kwargs) {
    size_t i = 0;
    while (i < n && sc.args[i].name != k) ++i;
    if (i == n) throw InputError("unexpected keyword argument '" + k + "'");
    if (given[i]) throw InputError("argument '" + k + "' given twice");
    given[i] = &v;
  }
  std::vector<Value> vals;
  vals.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& a = sc.args[i];
    const std::string where = "argument '" + a.name + "' (" + type_str(a) + ")";
    if (!given[i]) {
      if (a.default_value) vals.push_back(*a.default_value);
      else if (a.optional) vals.push_back(Value::none());
      else throw InputError("missing " + where);
      continue;
    }
    vals.push_back(decode_value(a, *given[i], where));
  }
  return OpArgs(sc, node, std::move(vals));
}

// ---- accessors ----

namespace {
[[noreturn]] void wrong_accessor(const OpArgs& a, size_t i, const char* want) {
  invariant_failed("accessor", __FILE__, __LINE__,
                   std::string("op ") + a.schema().name + ": argument " + std::to_string(i) + " read as " + want +
                       " but holds " + describe(a[i]));
}
}  // namespace

const Tensor& OpArgs::tensor(size_t i) const {
  const Value& v = (*this)[i];
  if (!v.is_tensor())
    throw InputError("argument '" + schema_->args.at(i).name + "' must be a tensor here, got " + describe(v));
  return v.tensor;
}
const Tensor* OpArgs::opt_tensor(size_t i) const { return is_none(i) ? nullptr : &tensor(i); }
std::vector<const Tensor*> OpArgs::tensors(size_t i) const {
  std::vector<const Tensor*> out;
  for (const Value& x : (*this)[i].items) out.push_back(x.is_tensor() ? &x.tensor : nullptr);
  return out;
}
int64_t OpArgs::i64(size_t i) const {
  const Value& v = (*this)[i];
  if (v.kind != Value::Kind::Int) wrong_accessor(*this, i, "an int");
  return v.i;
}
std::optional<int64_t> OpArgs::opt_i64(size_t i) const {
  if (is_none(i)) return std::nullopt;
  return i64(i);
}
std::vector<int64_t> OpArgs::ints(size_t i) const {
  std::vector<int64_t> out;
  const Value& v = (*this)[i];
  if (v.kind == Value::Kind::None) return out;
  if (v.kind != Value::Kind::List) wrong_accessor(*this, i, "a list of ints");
  for (const Value& x : v.items) out.push_back(x.i);
  return out;
}
std::optional<std::vector<int64_t>> OpArgs::opt_ints(size_t i) const {
  if (is_none(i)) return std::nullopt;
  return ints(i);
}
double OpArgs::f64(size_t i) const {
  const Value& v = (*this)[i];
  if (!v.is_number()) wrong_accessor(*this, i, "a number");
  return v.as_double();
}
std::optional<double> OpArgs::opt_f64(size_t i) const {
  if (is_none(i)) return std::nullopt;
  return f64(i);
}
bool OpArgs::flag(size_t i) const {
  const Value& v = (*this)[i];
  if (v.kind == Value::Kind::None) return false;
  if (v.kind != Value::Kind::Bool) wrong_accessor(*this, i, "a bool");
  return v.b;
}
const Value& OpArgs::scalar(size_t i) const {
  const Value& v = (*this)[i];
  if (!v.is_number()) wrong_accessor(*this, i, "a number");
  return v;
}
DType OpArgs::dtype(size_t i) const {
  const Value& v = (*this)[i];
  auto d = v.kind == Value::Kind::Dtype ? dtype_from_name(v.s) : std::nullopt;
  if (!d) wrong_accessor(*this, i, "a dtype");
  return *d;
}
std::optional<DType> OpArgs::opt_dtype(size_t i) const {
  if (is_none(i)) return std::nullopt;
  return dtype(i);
}
const std::string& OpArgs::str(size_t i) const {
  const Value& v = (*this)[i];
  if (v.kind != Value::Kind::Str) wrong_accessor(*this, i, "a string");
  return v.s;
}

const Tensor& OpArgs::out_meta(size_t item) const {
  FXOPT_CHECK(meta_ != nullptr, std::string("op ") + schema_->name + ": no meta result to allocate from");
  const Value* v = meta_;
  if (v->kind == Value::Kind::List) {
    FXOPT_CHECK(item < v->items.size(), "out_meta: no such item");
    v = &v->items[item];
  }
  FXOPT_CHECK(v->is_tensor(), "out_meta: the meta result is not a tensor");
  return v->tensor;
}

Tensor OpArgs::empty_out(size_t item) const {
  const Tensor& m = out_meta(item);
  return Tensor::empty(m.dtype(), m.shape());
}

Value meta_tensor(DType d, Shape shape) { return Value::of(Tensor::meta(d, std::move(shape))); }

// ---- rows ----

std::string DTypeSet::str() const {
  std::string out;
  for (unsigned i = 0; i < 32; ++i)
    if ((bits >> i) & 1u) out += (out.empty() ? "" : ", ") + std::string(dtype_name(static_cast<DType>(i)));
  return out;
}

namespace ops {
#define FXOPT_OP_FAMILY(f) std::span<const OpRow> op_rows_##f();
#include "runtime/ops/families.def"
#undef FXOPT_OP_FAMILY
}  // namespace ops

namespace {

struct Registry {
  std::vector<OpEntry> entries;
  std::vector<const OpEntry*> order;
  std::unordered_map<std::string_view, const OpEntry*> by_target;

  Registry() {
    std::vector<std::span<const OpRow>> families;
#define FXOPT_OP_FAMILY(f) families.push_back(ops::op_rows_##f());
#include "runtime/ops/families.def"
#undef FXOPT_OP_FAMILY
    size_t n = 0;
    for (auto f : families) n += f.size();
    entries.reserve(n);  // stable addresses
    for (auto f : families)
      for (const OpRow& r : f) {
        FXOPT_CHECK(r.target && r.schema && r.cpu, std::string("op row without target, schema or cpu compute: ") +
                                                       (r.target ? r.target : "?"));
        FXOPT_CHECK(r.meta || r.shape_only, std::string("op row without a meta rule: ") + r.target);
        Schema sc;
        try {
          sc = parse_schema(r.schema);
        } catch (const InputError& e) {
          invariant_failed("parse_schema", __FILE__, __LINE__, std::string(r.target) + ": " + e.what());
        }
        entries.push_back(OpEntry{&r, std::move(sc)});
        const OpEntry* e = &entries.back();
        FXOPT_CHECK(by_target.emplace(r.target, e).second, std::string("op registered twice: ") + r.target);
        order.push_back(e);
      }
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

}  // namespace

std::optional<Value> OpEntry::run_meta(const OpArgs& a) const {
  if (row->meta) return row->meta(a);
  ExecContext ctx;  // shape-only compute on meta tensors
  return row->cpu(a, ctx);
}

const OpEntry* find_op(std::string_view target) {
  const auto& r = registry();
  auto it = r.by_target.find(target);
  return it == r.by_target.end() ? nullptr : it->second;
}

const std::vector<const OpEntry*>& all_ops() { return registry().order; }

namespace {
bool value_dtypes_in(DTypeSet set, const Value& v, const std::string& where, std::string* why) {
  if (v.is_tensor()) {
    if (set.has(v.tensor.dtype())) return true;
    if (why) *why = std::string(dtype_name(v.tensor.dtype())) + " " + where;
    return false;
  }
  if (v.kind == Value::Kind::List)
    for (const Value& x : v.items)
      if (!value_dtypes_in(set, x, where, why)) return false;
  return true;
}
}  // namespace

bool dtypes_supported(DTypeSet set, const OpArgs& args, const Value* out, std::string* why) {
  for (size_t i = 0; i < args.size(); ++i)
    if (!value_dtypes_in(set, args[i], "argument '" + args.schema().args[i].name + "'", why)) return false;
  return !out || value_dtypes_in(set, *out, "result", why);
}

void check_against_meta(const Value& got, const Value& meta, const std::string& where) {
  if (meta.is_tensor()) {
    if (!got.is_tensor() || got.tensor.dtype() != meta.tensor.dtype() || got.tensor.shape() != meta.tensor.shape())
      throw InputError(where + ": produced " + describe(got) + " but the op's meta rule says " + describe(meta));
  } else if (meta.kind == Value::Kind::List) {
    if (got.kind != Value::Kind::List || got.items.size() != meta.items.size())
      throw InputError(where + ": produced " + describe(got) + " but the op's meta rule says " + describe(meta));
    for (size_t i = 0; i < meta.items.size(); ++i)
      check_against_meta(got.items[i], meta.items[i], where + "[" + std::to_string(i) + "]");
  } else if (meta.kind == Value::Kind::Int && got.kind == Value::Kind::Int && got.i != meta.i) {
    throw InputError(where + ": produced " + describe(got) + " but the op's meta rule says " + describe(meta));
  }
}

Value call_op(std::string_view target, const KernelArgs& in, ExecContext& ctx, const Node* node) {
  const OpEntry* e = find_op(target);
  if (!e) throw InputError("no op '" + std::string(target) + "' in the registry");
  Node called;  // without a graph node: one that names the op (rows that dispatch on their node's target)
  called.target = target;
  OpArgs a = decode_args(e->schema, node ? *node : called, in);
  const std::optional<Value> m = e->run_meta(a);
  if (m) a.set_meta(&*m);
  Value out = e->row->cpu(a, ctx);
  if (m) check_against_meta(out, *m, std::string(target));
  return out;
}

}  // namespace fxopt::rt
