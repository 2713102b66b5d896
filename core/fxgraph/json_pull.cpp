// The JSON pull parser: strict RFC 8259 syntax, errors with line and column, canonical re-encoding.
#include "core/fxgraph/json_pull.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"

namespace fxopt {

namespace {
// The length a UTF-8 lead byte announces (1 for an invalid lead, which the validator then reports).
size_t utf8_length(char lead) {
  const auto c = static_cast<unsigned char>(lead);
  return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
}  // namespace

size_t invalid_utf8_offset(std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = u[i];
    if (c < 0x80) { ++i; continue; }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return i;  // a continuation byte, an overlong 2-byte lead (C0, C1) or F5..FF
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((u[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (u[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return i;
    i += len;
  }
  return std::string_view::npos;
}

void check_json_nesting(std::string_view text, const std::string& source) {
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {  // skip the string (an unterminated one is the parser's error)
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting)
        throw InputError(source + ": malformed JSON at " + JsonPull(text, source).position_of(i) + ": nesting deeper than " +
                         std::to_string(kMaxNesting) + " levels (fxopt's limit)");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

JsonPull::JsonPull(std::string_view text, std::string source)
    : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), source_(std::move(source)) {}

std::string JsonPull::position_of(size_t offset) const {
  size_t line = 1, col = 1;
  for (const char* q = begin_; q < begin_ + offset && q < end_; ++q) {
    if (*q == '\n') { ++line; col = 1; } else { ++col; }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

void JsonPull::syntax_error(const std::string& what) const {
  throw InputError(source_ + ": malformed JSON at " + position_of(offset()) + ": " + what);
}

void JsonPull::expect(char c, const char* what) {
  ws();
  if (p_ >= end_) syntax_error(std::string("unexpected end of input, expected ") + what);
  if (*p_ != c) syntax_error(std::string("expected ") + what + ", got '" + std::string(1, *p_) + "'");
  ++p_;
}

void JsonPull::unexpected_character() const {
  syntax_error("unexpected character '" + std::string(1, *p_) + "'");
}

namespace {
const std::string kTooDeep = "nesting deeper than " + std::to_string(kMaxNesting) + " levels (fxopt's limit)";
}  // namespace

void JsonPull::begin_container_slow(char open) {
  ws();
  if (depth_ >= kMaxNesting) syntax_error(kTooDeep);
  expect(open, open == '{' ? "'{'" : "'['");
  first_ = true;
  ++depth_;
}

bool JsonPull::next_key(std::string& key) {
  ws();
  if (p_ < end_ && *p_ == '}') { ++p_; first_ = false; --depth_; return false; }
  if (!first_) expect(',', "',' or '}'");
  first_ = false;
  ws();
  if (p_ >= end_ || *p_ != '"') syntax_error("expected a string key");
  // Keys are short plain ASCII: copy one directly; anything else (escapes, UTF-8) goes through string().
  const char* k = p_ + 1;
  const char* q = plain_ascii_end(k, end_);
  if (q < end_ && *q == '"') {
    key.assign(k, q);
    p_ = q + 1;
  } else {
    string(key);
  }
  expect(':', "':'");
  return true;
}

void JsonPull::null() {
  ws();
  if (end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) { p_ += 4; return; }
  syntax_error("invalid literal, expected null");
}

bool JsonPull::boolean() {
  ws();
  if (end_ - p_ >= 4 && std::memcmp(p_, "true", 4) == 0) { p_ += 4; return true; }
  if (end_ - p_ >= 5 && std::memcmp(p_, "false", 5) == 0) { p_ += 5; return false; }
  syntax_error("invalid literal, expected true or false");
}

bool JsonPull::number(int64_t& i, double& d) {
  ws();
  const char* s = p_;
  const char* q = p_;
  const bool negative = q < end_ && *q == '-';
  if (negative) ++q;
  if (q >= end_ || *q < '0' || *q > '9') syntax_error("invalid number");
  // The integer part's value as it is scanned: exact up to 18 digits (longer ones go to from_chars).
  const char* digits = q;
  uint64_t value = 0;
  if (*q == '0') ++q;
  else
    while (q < end_ && *q >= '0' && *q <= '9') value = value * 10 + static_cast<uint64_t>(*q++ - '0');
  bool is_float = false;
  // A float's digits (integer and fraction) as one integer `value` while they fit (19 digits), and its decimal
  // exponent: for the exact fast path below.
  ptrdiff_t significant = q - digits, fraction = 0;
  int64_t exponent = 0;
  if (q < end_ && *q == '.') {
    is_float = true;
    ++q;
    if (q >= end_ || *q < '0' || *q > '9') { p_ = q; syntax_error("invalid number: digit expected after '.'"); }
    const char* f = q;
    while (q < end_ && *q >= '0' && *q <= '9') {
      if (significant + (q - f) < 19) value = value * 10 + static_cast<uint64_t>(*q - '0');
      ++q;
    }
    fraction = q - f;
    significant += fraction;
  }
  if (q < end_ && (*q == 'e' || *q == 'E')) {
    is_float = true;
    ++q;
    const bool minus = q < end_ && *q == '-';
    if (q < end_ && (*q == '+' || *q == '-')) ++q;
    if (q >= end_ || *q < '0' || *q > '9') { p_ = q; syntax_error("invalid number: digit expected in exponent"); }
    while (q < end_ && *q >= '0' && *q <= '9') {
      if (exponent < 100000) exponent = exponent * 10 + (*q - '0');
      ++q;
    }
    if (minus) exponent = -exponent;
  }
  if (!is_float) {
    if (q - digits <= 18) {
      i = negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
      p_ = q;
      return true;
    }
    auto r = std::from_chars(s, q, i);
    if (r.ec == std::errc()) { p_ = q; return true; }
    syntax_error("integer " + std::string(s, q) + " does not fit in 64 bits");
  }
  // Clinger's fast path: an integer below 2^53 times or divided by a power of ten up to 10^22, both exact in a
  // double, is one correctly rounded operation: the double from_chars gives. Anything else goes to from_chars.
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const int64_t e10 = exponent - fraction;
  if (significant <= 19 && value <= (uint64_t{1} << 53) && e10 >= -22 && e10 <= 22) {
    d = static_cast<double>(value);
    d = e10 < 0 ? d / kPow10[-e10] : d * kPow10[e10];
    if (negative) d = -d;
    p_ = q;
    return false;
  }
  auto r = std::from_chars(s, q, d);
  if (r.ec != std::errc()) syntax_error("number " + std::string(s, q) + " is out of range");
  p_ = q;
  return false;
}

namespace {
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}
}  // namespace

void JsonPull::string(std::string& out) {
  expect('"', "a string");
  out.clear();
  while (true) {
    const char* run = p_;
    p_ = plain_ascii_end(p_, end_);
    while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) {
      if (static_cast<unsigned char>(*p_) < 0x80) { ++p_; continue; }
      const size_t bad = invalid_utf8_offset(std::string_view(p_, std::min<size_t>(4, end_ - p_)).substr(0, utf8_length(*p_)));
      if (bad != std::string_view::npos) { p_ += bad; syntax_error("invalid UTF-8 in string"); }
      p_ += utf8_length(*p_);
    }
    out.append(run, p_);
    if (p_ >= end_) syntax_error("unterminated string");
    char c = *p_;
    if (c == '"') { ++p_; return; }
    if (c != '\\') syntax_error("control character in string (must be escaped)");
    ++p_;
    if (p_ >= end_) syntax_error("unterminated string");
    char e = *p_++;
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto read4 = [this]() -> uint32_t {
          if (end_ - p_ < 4) syntax_error("truncated \\u escape");
          uint32_t v = 0;
          for (int k = 0; k < 4; ++k) {
            int h = hex_digit(p_[k]);
            if (h < 0) syntax_error("invalid \\u escape");
            v = v * 16 + static_cast<uint32_t>(h);
          }
          p_ += 4;
          return v;
        };
        uint32_t cp = read4();
        if (cp >= 0xD800 && cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
          p_ += 2;
          uint32_t lo = read4();
          if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          else { append_utf8(out, cp); cp = lo; }
        }
        append_utf8(out, cp);
        break;
      }
      default: --p_; syntax_error(std::string("invalid escape '\\") + e + "'");
    }
  }
}

void JsonPull::canonical_value(std::string& out) {
  switch (peek()) {
    case Type::Null: null(); out += "null"; return;
    case Type::Bool: out += boolean() ? "true" : "false"; return;
    case Type::Number: {
      int64_t i = 0;
      double d = 0;
      if (number(i, d)) out += std::to_string(i); else out += format_python_float(d);
      return;
    }
    case Type::String: {
      std::string s;
      string(s);
      out += json_quote(s);
      return;
    }
    case Type::Array: {
      begin_array();
      out += '[';
      bool first = true;
      while (next_item()) {
        if (!first) out += ", ";
        first = false;
        canonical_value(out);
      }
      out += ']';
      return;
    }
    case Type::Object: {
      begin_object();
      out += '{';
      bool first = true;
      std::string key;
      while (next_key(key)) {
        if (!first) out += ", ";
        first = false;
        out += json_quote(key);
        out += ": ";
        canonical_value(out);
      }
      out += '}';
      return;
    }
    case Type::End: syntax_error("unexpected end of input, expected a value");
  }
}

namespace {
// Bit i of each mask stands for byte i of a 64-byte block: quotes, backslashes, '{' or '[', '}' or ']'.
struct BlockMasks {
  uint64_t quote, backslash, open, close;
};

BlockMasks block_masks(const char* b) {
  BlockMasks m{};
#if defined(__SSE2__)
  // '{' 0x7B and '[' 0x5B differ only in bit 0x20, as do '}' 0x7D and ']' 0x5D: one compare each after | 0x20.
  const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), lower = _mm_set1_epi8(0x20),
                open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}');
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 16 * k));
    const __m128i folded = _mm_or_si128(v, lower);
    const int shift = 16 * k;
    m.quote |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)))) << shift;
    m.backslash |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs)))) << shift;
    m.open |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)))) << shift;
    m.close |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)))) << shift;
  }
#else
  for (int i = 0; i < 64; ++i) {
    const char c = static_cast<char>(b[i] | 0x20);
    const uint64_t bit = uint64_t{1} << i;
    if (b[i] == '"') m.quote |= bit;
    if (b[i] == '\\') m.backslash |= bit;
    if (c == '{') m.open |= bit;
    if (c == '}') m.close |= bit;
  }
#endif
  return m;
}

// Bit i of the result is the XOR of bits 0..i of x.
uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}
}  // namespace

// 64 bytes a step: which bytes are inside strings follows from the quotes (a prefix XOR), the brackets outside
// strings are counted, and only a block in which the depth may reach zero is walked bracket by bracket. A
// backslash anywhere hands the whole container to the byte-by-byte scan (escapes are rare in graphs).
std::string_view JsonPull::scan_container() {
  ws();
  if (p_ >= end_ || (*p_ != '{' && *p_ != '[')) return {};
  const char* q = p_;
  int64_t depth = 0;
  uint64_t in_string = 0;  // all ones when the previous block ended inside a string
  while (q < end_) {
    const size_t left = static_cast<size_t>(end_ - q);
    BlockMasks m;
    if (left >= 64) {
      m = block_masks(q);
    } else {  // the last, short block: padded with spaces (no structure)
      char tail[64];
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, q, left);
      m = block_masks(tail);
    }
    if (m.backslash) return scan_container_slow();
    const uint64_t inside = prefix_xor(m.quote) ^ in_string;
    in_string = static_cast<uint64_t>(-static_cast<int64_t>(inside >> 63));
    const uint64_t open = m.open & ~inside, close = m.close & ~inside;
    if (depth - std::popcount(close) > 0) {  // cannot reach zero in this block
      depth += std::popcount(open) - std::popcount(close);
    } else {
      for (uint64_t b = open | close; b; b &= b - 1) {
        const int i = std::countr_zero(b);
        if ((open >> i) & 1) {
          ++depth;
        } else if (--depth == 0) {
          if (static_cast<size_t>(i) >= left) return {};  // not reached: padding has no brackets
          std::string_view s(p_, static_cast<size_t>(q + i + 1 - p_));
          p_ = q + i + 1;
          return s;
        }
      }
    }
    q += std::min<size_t>(left, 64);
  }
  return {};
}

std::string_view JsonPull::scan_container_slow() {
  const char* q = p_;
  int depth = 0;
  while (q < end_) {
    const char c = *q++;
    if (c == '"') {
      while (q < end_ && *q != '"') q += *q == '\\' ? 2 : 1;
      if (q >= end_) return {};
      ++q;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        std::string_view s(p_, static_cast<size_t>(q - p_));
        p_ = q;
        return s;
      }
    }
  }
  return {};
}

void JsonPull::finish() {
  ws();
  if (p_ != end_) syntax_error("unexpected text after the JSON value");
}

}  // namespace fxopt
