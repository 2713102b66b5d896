// A small, fast pull parser for JSON text: the fxgraph reader walks documents with it without building a DOM.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fxopt {

// The deepest nesting any fxopt reader accepts: arrays/objects in graph, pattern and safetensors JSON, and
// parentheses (or unary minus chains) in SymInt and pattern expressions. Real inputs nest < 10 levels; the
// limit keeps the recursive readers far from the stack's end (8 MB main thread, 256 KB is enough).
inline constexpr int kMaxNesting = 256;

// Throws InputError("<source>: malformed JSON at line L, column C: nesting deeper than 256 levels") when
// `text` nests arrays/objects deeper than kMaxNesting; for texts parsed with nlohmann/json. A scan that
// skips strings, nothing else; syntax errors are left to the parser.
void check_json_nesting(std::string_view text, const std::string& source);

// The byte offset of the first invalid UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated) in `s`,
// or std::string_view::npos when `s` is valid UTF-8.
size_t invalid_utf8_offset(std::string_view s);

// The first byte in [p, end) that is not plain printable ASCII inside a JSON string: '"', '\\', a control
// character or a byte >= 0x80 (end when there is none). Sixteen bytes a step with SSE2, else eight (SWAR: the
// bit tricks find a zero byte in w ^ c and a byte below 0x20 without a branch per byte; the lowest flagged byte
// is always exact).
[[gnu::always_inline]] inline const char* plain_ascii_end(const char* p, const char* end) {
#if defined(__SSE2__)
  // 16 bytes a step: a signed compare below 0x20 also catches the bytes >= 0x80 (negative as signed chars).
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
    if (const int mask = _mm_movemask_epi8(special)) return p + std::countr_zero(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  while (std::endian::native == std::endian::little && end - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    const uint64_t q = w ^ (k01 * '"'), b = w ^ (k01 * '\\');
    const uint64_t special = (((q - k01) & ~q) | ((b - k01) & ~b) | (w - k01 * 0x20) | w) & k80;
    if (special) return p + (std::countr_zero(special) >> 3);
    p += 8;
  }
  while (p < end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20 &&
         static_cast<unsigned char>(*p) < 0x80)
    ++p;
  return p;
}

class JsonPull {
 public:
  // `source` names the text in error messages ("g.json").
  JsonPull(std::string_view text, std::string source);

  enum class Type { Null, Bool, Number, String, Array, Object, End };
  // The type of the next value (skips whitespace).
  [[gnu::always_inline]] Type peek() {
    ws();
    if (p_ >= end_) return Type::End;
    switch (*p_) {
      case 'n': return Type::Null;
      case 't': case 'f': return Type::Bool;
      case '"': return Type::String;
      case '[': return Type::Array;
      case '{': return Type::Object;
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return Type::Number;
        unexpected_character();
    }
  }

  // Objects and arrays: begin_*, then next_key / next_item until they return false. Nesting deeper than
  // kMaxNesting is a syntax error (every recursive reader enters a container through begin_*).
  void begin_object() {
    if (p_ < end_ && *p_ == '{' && depth_ < kMaxNesting) {  // the usual case: no whitespace, not too deep
      ++p_;
      first_ = true;
      ++depth_;
      return;
    }
    begin_container_slow('{');
  }
  bool next_key(std::string& key);  // false at '}'
  void begin_array() {
    if (p_ < end_ && *p_ == '[' && depth_ < kMaxNesting) {
      ++p_;
      first_ = true;
      ++depth_;
      return;
    }
    begin_container_slow('[');
  }
  bool next_item() {               // false at ']'
    ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      first_ = false;
      --depth_;
      return false;
    }
    if (!first_) {
      if (p_ < end_ && *p_ == ',') ++p_;
      else expect(',', "',' or ']'");
    }
    first_ = false;
    return true;
  }

  void null();
  bool boolean();
  // A number: returns true for an integer (fits int64; set `i`), false for a float (set `d`).
  bool number(int64_t& i, double& d);
  // A string (escapes decoded, UTF-8; invalid UTF-8 in the text is a syntax error at its byte).
  void string(std::string& out);
  // Any value, appended as canonical JSON text (Python json.dumps style; floats as Python's repr).
  void canonical_value(std::string& out);
  // Skips any value.
  void skip() { std::string tmp; canonical_value(tmp); }
  // Expects the end of the text (only whitespace left).
  void finish();

  // Fast paths for the graph reader. scan_container() skips the next array or object by bracket matching
  // alone (strings skipped whole, nothing else checked) and returns its text; empty (and nothing consumed)
  // when the next value is not a container or the text ends first. Only for text known to be valid (the
  // caller compares it with text it parsed before) or that it will rewind and parse properly.
  std::string_view scan_container();
  // Consumes the string literal `lit` when the text continues with exactly it (no whitespace skipped); false
  // otherwise. A template so the length is a constant and the comparison compiles to a few loads.
  template <size_t N>
  bool try_literal(const char (&lit)[N]) {
    constexpr size_t n = N - 1;
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) return false;
    p_ += n;
    return true;
  }
  // Goes back to an earlier offset() within the same value (after a fast path gave up).
  void rewind(size_t offset) { p_ = begin_ + offset; }
  // A fast path consumed an object's '{' and its first keys and values itself, up to a key's ':': carry on as
  // if begin_object() and next_key() had read them. False (nothing changed) at the nesting limit.
  bool resume_object() {
    if (depth_ >= kMaxNesting) return false;
    ++depth_;
    first_ = false;
    return true;
  }
  // A fast path consumed the '}' that closes the innermost open object itself: carry on as next_key() would.
  void end_object_consumed() {
    --depth_;
    first_ = false;
  }
  // Consumes plain printable ASCII up to a '"' (no escapes) and the quote; the text before it goes to `out`.
  // False (nothing consumed) when anything else comes first.
  [[gnu::always_inline]] bool try_plain_string_rest(std::string_view& out) {
    const char* q = plain_ascii_end(p_, end_);
    if (q >= end_ || *q != '"') return false;
    out = std::string_view(p_, static_cast<size_t>(q - p_));
    p_ = q + 1;
    return true;
  }

  // Line and column (1-based) of a byte offset, and the current offset.
  std::string position_of(size_t offset) const;
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  std::string_view rest() const { return {p_, static_cast<size_t>(end_ - p_)}; }
  [[noreturn]] void syntax_error(const std::string& what) const;

 private:
  void ws() {
    if (p_ < end_ && static_cast<unsigned char>(*p_) > ' ') return;  // the usual case: no whitespace
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  [[noreturn]] void unexpected_character() const;
  void begin_container_slow(char open);
  void expect(char c, const char* what);
  std::string_view scan_container_slow();

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string source_;
  bool first_ = false;  // the next item/key is the first of its container
  int depth_ = 0;       // open arrays/objects
};

}  // namespace fxopt
