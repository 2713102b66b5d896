// The built-in pattern variants prebuilt at build time: a compact binary form of the patterns that
// PatternSet::builtin reads instead of parsing and expanding the JSON files in every process.
//
// scripts/gen_builtin_variants.cpp writes it (build_builtin_variant_blob) into a generated source that registers
// it before main (set_builtin_variant_blob); a binary built without that source reads the JSON files. The blob is
// made by the same reader from the same files, so both give the same patterns (tests/test_pattern.cpp compares).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/pattern/pattern.h"

namespace fxopt {

// The blob this binary registered; empty when none (then the built-in JSON files are read).
std::string_view builtin_variant_blob();
void set_builtin_variant_blob(std::string_view blob);

// Every built-in variant, for every target, with what PatternSet::builtin(target, available) decides on. Throws
// InputError for a broken built-in file (the generator fails the build with its message).
std::string build_builtin_variant_blob();

// A C++ source that embeds `blob` and registers it before main.
std::string builtin_variant_blob_source(std::string_view blob);

namespace blob {

// The strings of a blob, each stored once: an index refers to one.
class StringTable {
 public:
  uint64_t intern(std::string_view s);
  // n, then n + 1 four-byte little-endian offsets into the text, then the text.
  void write(std::string& out) const;

 private:
  std::vector<std::string> strings_;
  std::unordered_map<std::string, uint64_t> index_;
};

// Appends values: unsigned and zigzag LEB128 integers, doubles (0 as one byte), strings as table indices.
class Writer {
 public:
  Writer(std::string& out, StringTable& strings) : s_(out), t_(strings) {}
  void u(uint64_t v) {
    while (v >= 0x80) {
      s_ += static_cast<char>(v | 0x80);
      v >>= 7;
    }
    s_ += static_cast<char>(v);
  }
  void i(int64_t v) { u((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void f(double d);
  void str(std::string_view v) { u(t_.intern(v)); }
  void b(bool v) { s_ += static_cast<char>(v); }

 private:
  std::string& s_;
  StringTable& t_;
};

// Reads what Writer wrote; a read past the end or a bad value is a broken build (std::logic_error).
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  // Reads the string table (StringTable::write) at the current position; str() then resolves indices with it.
  // `other` shares another reader's table instead.
  void read_strings();
  void share_strings(const Reader& other) {
    n_ = other.n_;
    offsets_ = other.offsets_;
    text_ = other.text_;
    text_size_ = other.text_size_;
  }
  uint64_t strings() const { return n_; }
  std::string_view string_at(uint64_t k) const;
  uint64_t u() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) corrupt();
      const auto c = static_cast<unsigned char>(*p_++);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    corrupt();
  }
  int64_t i() {
    const uint64_t v = u();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  int to_int() { return static_cast<int>(i()); }
  double f();
  std::string_view str();
  bool b() {
    if (p_ >= end_) corrupt();
    return *p_++ != 0;
  }
  // The next n bytes, as they are.
  std::string_view bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) corrupt();
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }
  std::string_view rest() { return bytes(static_cast<uint64_t>(end_ - p_)); }
  uint64_t left() const { return static_cast<uint64_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }
  [[noreturn]] static void corrupt();

 private:
  const char* p_;
  const char* end_;
  uint64_t n_ = 0;                 // the string table
  const char* offsets_ = nullptr;
  const char* text_ = nullptr;
  uint64_t text_size_ = 0;
};

// One pattern, every field.
void write_pattern(Writer& w, const Pattern& p);
Pattern read_pattern(Reader& r);

}  // namespace blob
}  // namespace fxopt
