// fxgraph v1 reader and writer: decode JSON into a Graph with precise errors, and emit the canonical text.
#include "core/fxgraph_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace fxopt {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------------------
// Canonical text encodings
// ---------------------------------------------------------------------------------------------------------

std::string format_python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out the way Python's repr() does.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "d.ddde+XX"
  auto epos = sci.find('e');
  std::string digits = sci.substr(0, epos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp = std::stoi(sci.substr(epos + 1));
  std::string out = v < 0 ? "-" : "";
  if (exp >= -4 && exp < 16) {  // Python's repr: fixed notation for 1e-4 <= |v| < 1e16
    if (exp >= 0) {
      if (static_cast<int>(digits.size()) <= exp + 1)
        out += digits + std::string(exp + 1 - digits.size(), '0') + ".0";
      else
        out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  return out + eb;
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  auto hex4 = [&out](unsigned cp) {
    char b[8];
    std::snprintf(b, sizeof b, "\\u%04x", cp);
    out += b;
  };
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20) hex4(c); else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // Decode UTF-8 (input was validated by the JSON parser) and escape like json.dumps(ensure_ascii=True).
    unsigned cp = 0;
    int len = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : 2;
    cp = c & (0xFF >> (len + 1));
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      hex4(0xD800 + (cp >> 10));
      hex4(0xDC00 + (cp & 0x3FF));
    } else {
      hex4(cp);
    }
  }
  out += '"';
  return out;
}

namespace {

void dump_canonical(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; break;
    case Json::value_t::number_integer: out += std::to_string(j.get<int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); break;
    case Json::value_t::number_float: out += format_python_float(j.get<double>()); break;
    case Json::value_t::string: out += json_quote(j.get_ref<const std::string&>()); break;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& x : j) {
        if (!first) out += ", ";
        first = false;
        dump_canonical(x, out);
      }
      out += ']';
      break;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : j.items()) {
        if (!first) out += ", ";
        first = false;
        out += json_quote(k);
        out += ": ";
        dump_canonical(x, out);
      }
      out += '}';
      break;
    }
    default: out += "null"; break;
  }
}

std::string canonical(const Json& j) {
  std::string s;
  dump_canonical(j, s);
  return s;
}

void append_dim(const SymDim& d, std::string& out) {
  if (d.text.empty()) {
    if (auto c = d.expr.as_constant()) { out += std::to_string(*c); return; }
    out += json_quote(d.expr.str());
    return;
  }
  out += json_quote(d.text);
}

void append_arg(const Arg& a, std::string& out) {
  switch (a.kind) {
    case Arg::Kind::None: out += "null"; break;
    case Arg::Kind::Bool: out += a.b ? "true" : "false"; break;
    case Arg::Kind::Int: out += std::to_string(a.i); break;
    case Arg::Kind::Float:
      if (std::isfinite(a.f)) out += format_python_float(a.f);
      else out += "{\"float\": \"" + format_python_float(a.f) + "\"}";
      break;
    case Arg::Kind::Str: out += json_quote(a.s); break;
    case Arg::Kind::Node: out += "{\"node\": " + json_quote(a.node->name) + "}"; break;
    case Arg::Kind::List: {
      out += '[';
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (i) out += ", ";
        append_arg(a.items[i], out);
      }
      out += ']';
      break;
    }
    case Arg::Kind::Dict: {
      out += "{\"dict\": {";
      for (size_t i = 0; i < a.dict.size(); ++i) {
        if (i) out += ", ";
        out += json_quote(a.dict[i].first) + ": ";
        append_arg(a.dict[i].second, out);
      }
      out += "}}";
      break;
    }
    case Arg::Kind::Dtype: out += "{\"dtype\": " + json_quote(a.s) + "}"; break;
    case Arg::Kind::Device: out += "{\"device\": " + json_quote(a.s) + "}"; break;
    case Arg::Kind::Layout: out += "{\"layout\": " + json_quote(a.s) + "}"; break;
    case Arg::Kind::MemoryFormat: out += "{\"memory_format\": " + json_quote(a.s) + "}"; break;
    case Arg::Kind::Sym: out += "{\"sym\": " + json_quote(a.sym.str()) + "}"; break;
    case Arg::Kind::Repr: out += "{\"repr\": " + json_quote(a.s) + "}"; break;
  }
}

void append_dims(const std::vector<SymDim>& dims, std::string& out) {
  out += '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    append_dim(dims[i], out);
  }
  out += ']';
}

void append_val(const ValMeta& v, std::string& out) {
  switch (v.kind) {
    case ValMeta::Kind::Null: out += "null"; break;
    case ValMeta::Kind::Tensor: {
      const auto& t = v.tensor;
      out += "{\"dtype\": " + json_quote(t.dtype) + ", \"shape\": ";
      append_dims(t.shape, out);
      out += ", \"stride\": ";
      append_dims(t.stride, out);
      out += ", \"device\": " + json_quote(t.device);
      for (const auto& [k, raw] : t.extra) out += ", " + json_quote(k) + ": " + raw;
      out += '}';
      break;
    }
    case ValMeta::Kind::Sym: out += "{\"sym\": " + json_quote(v.sym.str()) + "}"; break;
    case ValMeta::Kind::Const:
      out += "{\"const\": ";
      append_arg(v.constant, out);
      out += '}';
      break;
    case ValMeta::Kind::Tuple:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ", ";
        append_val(v.items[i], out);
      }
      out += ']';
      break;
  }
}

void append_node(const Node& n, std::string& out) {
  out += "{\"name\": " + json_quote(n.name) + ", \"op\": \"" + to_string(n.op) + "\", \"target\": " +
         json_quote(n.target) + ", \"args\": [";
  for (size_t i = 0; i < n.args.size(); ++i) {
    if (i) out += ", ";
    append_arg(n.args[i], out);
  }
  out += "], \"kwargs\": {";
  for (size_t i = 0; i < n.kwargs.size(); ++i) {
    if (i) out += ", ";
    out += json_quote(n.kwargs[i].first) + ": ";
    append_arg(n.kwargs[i].second, out);
  }
  out += "}, \"meta\": {";
  bool first = true;
  if (n.val) {
    out += "\"val\": ";
    append_val(*n.val, out);
    first = false;
  }
  for (const auto& [k, raw] : n.meta_extra) {
    if (!first) out += ", ";
    first = false;
    out += json_quote(k) + ": " + raw;
  }
  out += "}}";
}

std::string opt_int(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "null"; }

}  // namespace

std::string arg_to_json(const Arg& a) {
  std::string s;
  append_arg(a, s);
  return s;
}

std::string val_to_json(const ValMeta& v) {
  std::string s;
  append_val(v, s);
  return s;
}

std::string node_to_json(const Node& n) {
  std::string s;
  append_node(n, s);
  return s;
}

std::string canonical_json(std::string_view text) {
  try {
    return canonical(Json::parse(text));
  } catch (const Json::exception& e) {
    throw InputError(std::string("malformed JSON: ") + e.what());
  }
}

std::string write_graph_text(const Graph& g) {
  std::string out;
  out.reserve(g.size() * 256 + 256);
  out += "{\n \"format\": \"fxgraph\",\n \"version\": 1,\n";
  if (!g.producer.empty()) out += " \"producer\": " + g.producer + ",\n";
  out += " \"symbols\": {";
  for (size_t i = 0; i < g.symbols.size(); ++i) {
    const auto& [name, info] = g.symbols[i];
    if (i) out += ", ";
    out += json_quote(name) + ": {\"hint\": " + opt_int(info.hint) + ", \"min\": " + opt_int(info.min) +
           ", \"max\": " + opt_int(info.max) + "}";
  }
  out += "},\n";
  for (const auto& [k, raw] : g.extra_top) out += " " + json_quote(k) + ": " + raw + ",\n";
  out += " \"nodes\": [\n";
  bool first = true;
  for (const auto& n : g.nodes()) {
    if (!first) out += ",\n";
    first = false;
    out += "  ";
    append_node(n, out);
  }
  out += "\n ]\n}\n";
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------------

std::string read_text_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size > 0) {
    text.resize(static_cast<size_t>(size));
    in.seekg(0);
    in.read(text.data(), size);
  }
  if (!in) throw InputError(path + ": cannot read: " + std::strerror(errno));
  return text;
}

void write_text_atomic(const std::string& path, std::string_view text) {
  if (path.empty() || path == "-") {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
      throw InputError("cannot write to standard output");
    return;
  }
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0) throw InputError(path + ": cannot create output file: " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      throw InputError(path + ": cannot write: " + std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  if (::close(fd) != 0 || std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    throw InputError(path + ": cannot write: " + std::strerror(err));
  }
}

void write_graph_file(const Graph& g, const std::string& path) { write_text_atomic(path, write_graph_text(g)); }

// ---------------------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------------------

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Graph read(std::string_view text) {
    Json doc;
    try {
      doc = Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
      std::string msg = e.what();
      auto p = msg.find("] ");
      if (p != std::string::npos) msg = msg.substr(p + 2);
      throw InputError(source_ + ": malformed JSON: " + msg);
    }
    if (!doc.is_object()) fail("", "expected a JSON object at the top level, got " + type_of(doc));
    Graph g;
    bool have_format = false, have_version = false, have_nodes = false;
    for (const auto& [key, value] : doc.items()) {
      if (key == "format") {
        if (!value.is_string() || value.get<std::string>() != "fxgraph")
          fail("format", "expected \"fxgraph\", got " + value.dump());
        have_format = true;
      } else if (key == "version") {
        if (!value.is_number_integer()) fail("version", "expected an integer, got " + value.dump());
        if (value.get<int64_t>() != 1)
          fail("version", "version " + value.dump() + " is not supported (this fxopt reads version 1)");
        have_version = true;
      } else if (key == "producer") {
        g.producer = canonical(value);
      } else if (key == "symbols") {
        read_symbols(value, g);
      } else if (key == "nodes") {
        have_nodes = true;
      } else {
        g.extra_top.emplace_back(key, canonical(value));
      }
    }
    if (!have_format) fail("", "missing required key \"format\"");
    if (!have_version) fail("", "missing required key \"version\"");
    if (!have_nodes) fail("", "missing required key \"nodes\"");
    read_nodes(doc["nodes"], g);
    return g;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw InputError(source_ + ": " + (path.empty() ? "" : path + ": ") + msg);
  }

  static std::string type_of(const Json& j) {
    switch (j.type()) {
      case Json::value_t::null: return "null";
      case Json::value_t::boolean: return "a boolean";
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned: return "an integer";
      case Json::value_t::number_float: return "a float";
      case Json::value_t::string: return "a string";
      case Json::value_t::array: return "an array";
      case Json::value_t::object: return "an object";
      default: return "a value";
    }
  }

  static std::optional<int64_t> opt_int(const Json& j, const std::string& path, const Reader& r) {
    if (j.is_null()) return std::nullopt;
    if (!j.is_number_integer()) r.fail(path, "expected an integer or null, got " + type_of(j));
    return j.get<int64_t>();
  }

  void read_symbols(const Json& j, Graph& g) {
    if (!j.is_object()) fail("symbols", "expected an object, got " + type_of(j));
    for (const auto& [name, info] : j.items()) {
      std::string path = "symbols." + name;
      try {
        auto e = sym::parse(name);
        if (!e.as_symbol()) fail(path, "'" + name + "' is not a symbol name");
      } catch (const sym::ParseError&) {
        fail(path, "'" + name + "' is not a symbol name");
      }
      if (!info.is_object()) fail(path, "expected an object {\"hint\", \"min\", \"max\"}, got " + type_of(info));
      SymbolInfo si;
      for (const auto& [k, v] : info.items()) {
        if (k == "hint") si.hint = opt_int(v, path + ".hint", *this);
        else if (k == "min") si.min = opt_int(v, path + ".min", *this);
        else if (k == "max") si.max = opt_int(v, path + ".max", *this);
      }
      if (si.min && si.max && *si.min > *si.max) fail(path, "min is greater than max");
      g.symbols.emplace_back(name, si);
    }
  }

  sym::Expr parse_expr(const std::string& text, const std::string& path) {
    auto it = expr_cache_.find(text);
    if (it != expr_cache_.end()) return it->second;
    try {
      auto e = sym::parse(text);
      expr_cache_.emplace(text, e);
      return e;
    } catch (const sym::ParseError& e) {
      fail(path, "SymInt expression '" + text + "' does not parse: " + e.what() + " (at position " +
                     std::to_string(e.position) + ")\n  " + text + "\n  " + std::string(e.position, ' ') + "^");
    }
  }

  SymDim read_dim(const Json& j, const std::string& path) {
    if (j.is_number_integer()) return SymDim(j.get<int64_t>());
    if (j.is_string()) {
      const auto& t = j.get_ref<const std::string&>();
      auto e = parse_expr(t, path);
      if (auto c = e.as_constant(); c && std::to_string(*c) == t) return SymDim(*c);
      return SymDim(e, t);
    }
    fail(path, "expected a size: an integer or a SymInt expression string, got " + type_of(j) + " " + j.dump());
  }

  std::vector<SymDim> read_dims(const Json& j, const std::string& path) {
    if (!j.is_array()) fail(path, "expected an array of sizes, got " + type_of(j));
    std::vector<SymDim> out;
    out.reserve(j.size());
    for (size_t i = 0; i < j.size(); ++i) out.push_back(read_dim(j[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  Arg read_arg(const Json& j, const std::string& path, const Graph& g) {
    switch (j.type()) {
      case Json::value_t::null: return Arg::none();
      case Json::value_t::boolean: return Arg::boolean(j.get<bool>());
      case Json::value_t::number_integer: return Arg::integer(j.get<int64_t>());
      case Json::value_t::number_unsigned: {
        auto u = j.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) fail(path, "integer " + j.dump() + " does not fit in int64");
        return Arg::integer(static_cast<int64_t>(u));
      }
      case Json::value_t::number_float: return Arg::real(j.get<double>());
      case Json::value_t::string: return Arg::str(j.get<std::string>());
      case Json::value_t::array: {
        std::vector<Arg> items;
        items.reserve(j.size());
        for (size_t i = 0; i < j.size(); ++i) items.push_back(read_arg(j[i], path + "[" + std::to_string(i) + "]", g));
        return Arg::list(std::move(items));
      }
      case Json::value_t::object: return read_tagged(j, path, g);
      default: fail(path, "unsupported JSON value");
    }
  }

  Arg read_tagged(const Json& j, const std::string& path, const Graph& g) {
    static const char* kExpected =
        "an encoded value: one of {\"node\"}, {\"float\"}, {\"dict\"}, {\"dtype\"}, {\"device\"}, {\"layout\"}, "
        "{\"memory_format\"}, {\"sym\"}, {\"repr\"}";
    if (j.size() != 1) fail(path, std::string("malformed argument ") + j.dump() + ": expected " + kExpected);
    const auto& [tag, v] = *j.items().begin();
    auto need_string = [&](const char* what) -> const std::string& {
      if (!v.is_string()) fail(path + "." + tag, std::string("expected ") + what + " string, got " + type_of(v));
      return v.get_ref<const std::string&>();
    };
    if (tag == "node") {
      const auto& name = need_string("a node name");
      Node* n = g.find(name);
      if (!n) {
        if (all_names_.count(name)) fail(path, "node '" + name + "' is used before it is defined");
        fail(path, "unknown node '" + name + "'");
      }
      return Arg::ref(n);
    }
    if (tag == "float") {
      const auto& s = need_string("\"inf\", \"-inf\" or \"nan\"");
      if (s == "inf") return Arg::real(INFINITY);
      if (s == "-inf") return Arg::real(-INFINITY);
      if (s == "nan") return Arg::real(NAN);
      fail(path + ".float", "expected \"inf\", \"-inf\" or \"nan\", got \"" + s + "\"");
    }
    if (tag == "dict") {
      if (!v.is_object()) fail(path + ".dict", "expected an object, got " + type_of(v));
      Arg a;
      a.kind = Arg::Kind::Dict;
      for (const auto& [k, x] : v.items()) a.dict.emplace_back(k, read_arg(x, path + ".dict." + k, g));
      return a;
    }
    if (tag == "dtype") return Arg::tagged(Arg::Kind::Dtype, need_string("a dtype name"));
    if (tag == "device") return Arg::tagged(Arg::Kind::Device, need_string("a device"));
    if (tag == "layout") return Arg::tagged(Arg::Kind::Layout, need_string("a layout"));
    if (tag == "memory_format") return Arg::tagged(Arg::Kind::MemoryFormat, need_string("a memory format"));
    if (tag == "repr") return Arg::tagged(Arg::Kind::Repr, need_string("a repr"));
    if (tag == "sym") {
      const auto& t = need_string("a SymInt expression");
      return Arg::symint(SymDim(parse_expr(t, path + ".sym"), t));
    }
    fail(path, "malformed argument: unknown tag \"" + tag + "\"; expected " + kExpected);
  }

  ValMeta read_val(const Json& j, const std::string& path, const Graph& g) {
    ValMeta v;
    if (j.is_null()) return v;
    if (j.is_array()) {
      v.kind = ValMeta::Kind::Tuple;
      for (size_t i = 0; i < j.size(); ++i) v.items.push_back(read_val(j[i], path + "[" + std::to_string(i) + "]", g));
      return v;
    }
    if (!j.is_object()) fail(path, "expected a tensor, {\"sym\"}, {\"const\"}, an array or null, got " + type_of(j));
    if (j.contains("dtype")) {
      v.kind = ValMeta::Kind::Tensor;
      auto& t = v.tensor;
      bool have_shape = false;
      for (const auto& [k, x] : j.items()) {
        if (k == "dtype") {
          if (!x.is_string()) fail(path + ".dtype", "expected a dtype name string, got " + type_of(x));
          t.dtype = x.get<std::string>();
        } else if (k == "shape") {
          t.shape = read_dims(x, path + ".shape");
          have_shape = true;
        } else if (k == "stride") {
          t.stride = read_dims(x, path + ".stride");
        } else if (k == "device") {
          if (!x.is_string()) fail(path + ".device", "expected a device string, got " + type_of(x));
          t.device = x.get<std::string>();
        } else {
          t.extra.emplace_back(k, canonical(x));
        }
      }
      if (!have_shape) fail(path, "tensor value without \"shape\"");
      return v;
    }
    if (j.size() == 1 && j.contains("sym")) {
      const auto& x = j["sym"];
      v.kind = ValMeta::Kind::Sym;
      if (x.is_number_integer()) { v.sym = SymDim(x.get<int64_t>()); return v; }
      if (!x.is_string()) fail(path + ".sym", "expected a SymInt expression string, got " + type_of(x));
      v.sym = SymDim(parse_expr(x.get<std::string>(), path + ".sym"), x.get<std::string>());
      return v;
    }
    if (j.size() == 1 && j.contains("const")) {
      v.kind = ValMeta::Kind::Const;
      v.constant = read_arg(j["const"], path + ".const", g);
      return v;
    }
    fail(path, "expected a tensor {\"dtype\", \"shape\", ...}, {\"sym\": ...} or {\"const\": ...}, got " + j.dump());
  }

  void read_nodes(const Json& j, Graph& g) {
    if (!j.is_array()) fail("nodes", "expected an array, got " + type_of(j));
    // All names first, so a forward reference is told apart from an unknown node.
    for (const auto& n : j)
      if (n.is_object() && n.contains("name") && n["name"].is_string()) all_names_.insert(n["name"].get<std::string>());
    size_t index = 0;
    Node* output = nullptr;
    for (const auto& jn : j) {
      std::string path = "nodes[" + std::to_string(index++) + "]";
      if (!jn.is_object()) fail(path, "expected a node object, got " + type_of(jn));
      auto get = [&](const char* key) -> const Json* {
        auto it = jn.find(key);
        return it == jn.end() ? nullptr : &*it;
      };
      const Json* name = get("name");
      if (!name) fail(path, "missing required key \"name\"");
      if (!name->is_string() || name->get_ref<const std::string&>().empty())
        fail(path + ".name", "expected a non-empty string, got " + name->dump());
      Node node;
      node.name = name->get<std::string>();
      path += " (" + node.name + ")";
      if (output) {
        if (jn.contains("op") && jn["op"] == "output")
          fail(path, "a second output node (the graph must have exactly one, '" + output->name + "')");
        fail(path, "node after the output node '" + output->name + "' (output must be last)");
      }
      const Json* op = get("op");
      if (!op) fail(path, "missing required key \"op\"");
      auto kind = op->is_string() ? op_kind_from_string(op->get<std::string>()) : std::nullopt;
      if (!kind)
        fail(path + ".op", "expected one of placeholder, get_attr, call_function, call_method, call_module, output; got " +
                               op->dump());
      node.op = *kind;
      const Json* target = get("target");
      if (!target) fail(path, "missing required key \"target\"");
      if (!target->is_string()) fail(path + ".target", "expected a string, got " + type_of(*target));
      node.target = target->get<std::string>();
      const Json* args = get("args");
      if (!args) fail(path, "missing required key \"args\"");
      if (!args->is_array()) fail(path + ".args", "expected an array, got " + type_of(*args));
      for (size_t i = 0; i < args->size(); ++i)
        node.args.push_back(read_arg((*args)[i], path + ".args[" + std::to_string(i) + "]", g));
      if (const Json* kwargs = get("kwargs")) {
        if (!kwargs->is_object()) fail(path + ".kwargs", "expected an object, got " + type_of(*kwargs));
        for (const auto& [k, x] : kwargs->items()) node.kwargs.emplace_back(k, read_arg(x, path + ".kwargs." + k, g));
      }
      if (const Json* meta = get("meta")) {
        if (!meta->is_object()) fail(path + ".meta", "expected an object, got " + type_of(*meta));
        for (const auto& [k, x] : meta->items()) {
          if (k == "val") node.val = read_val(x, path + ".meta.val", g);
          else node.meta_extra.emplace_back(k, canonical(x));
        }
      }
      for (const auto& [k, x] : jn.items())
        if (k != "name" && k != "op" && k != "target" && k != "args" && k != "kwargs" && k != "meta")
          fail(path, "unknown node key \"" + k + "\"");
      try {
        Node* n = g.append_named(std::move(node));
        if (n->op == OpKind::Output) output = n;
      } catch (const InputError& e) {
        fail(path, e.what());
      }
    }
    if (!output) fail("nodes", "the graph has no output node");
    g.rebuild_users();
  }

  std::string source_;
  std::unordered_map<std::string, sym::Expr> expr_cache_;
  std::unordered_set<std::string> all_names_;
};

}  // namespace

Graph read_graph_text(std::string_view text, const std::string& source) { return Reader(source).read(text); }

Graph read_graph_file(const std::string& path) {
  std::string text = read_text_file(path);
  return read_graph_text(text, path == "-" ? "<stdin>" : path);
}

}  // namespace fxopt
