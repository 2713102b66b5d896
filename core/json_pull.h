// A small, fast pull parser for JSON text: the fxgraph reader walks documents with it without building a DOM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fxopt {

class JsonPull {
 public:
  // `source` names the text in error messages ("g.json").
  JsonPull(std::string_view text, std::string source);

  enum class Type { Null, Bool, Number, String, Array, Object, End };
  Type peek();  // the type of the next value (skips whitespace)

  // Objects and arrays: begin_*, then next_key / next_item until they return false.
  void begin_object();
  bool next_key(std::string& key);  // false at '}'
  void begin_array();
  bool next_item();                 // false at ']'

  void null();
  bool boolean();
  // A number: returns true for an integer (fits int64; set `i`), false for a float (set `d`).
  bool number(int64_t& i, double& d);
  // A string (escapes decoded, UTF-8).
  void string(std::string& out);
  // Any value, appended as canonical JSON text (Python json.dumps style; floats as Python's repr).
  void canonical_value(std::string& out);
  // Skips any value.
  void skip() { std::string tmp; canonical_value(tmp); }
  // Expects the end of the text (only whitespace left).
  void finish();

  // Line and column (1-based) of a byte offset, and the current offset.
  std::string position_of(size_t offset) const;
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  std::string_view rest() const { return {p_, static_cast<size_t>(end_ - p_)}; }
  [[noreturn]] void syntax_error(const std::string& what) const;

 private:
  void ws();
  void expect(char c, const char* what);

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string source_;
  bool first_ = false;  // the next item/key is the first of its container
};

}  // namespace fxopt
