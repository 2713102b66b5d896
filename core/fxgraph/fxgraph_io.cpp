// fxgraph v1 reader and writer: decode JSON into a Graph with precise errors, and emit the canonical text.
#include "core/fxgraph/fxgraph_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <list>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/ir/error.h"
#include "core/fxgraph/json_pull.h"

namespace fxopt {

using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------------------
// Canonical text encodings
// ---------------------------------------------------------------------------------------------------------

namespace {
// format_python_float's text written to `out` (room for 32 characters); returns its length.
size_t python_float_chars(double v, char* out) {
  auto put = [out](const char* s) {
    const size_t n = std::strlen(s);
    std::memcpy(out, s, n);
    return n;
  };
  if (std::isnan(v)) return put("nan");
  if (std::isinf(v)) return put(v > 0 ? "inf" : "-inf");
  if (v == 0) return put(std::signbit(v) ? "-0.0" : "0.0");
  // Shortest round-trip digits, then laid out the way Python's repr() does.
  char sci[64];
  const char* end = std::to_chars(sci, sci + sizeof sci, std::fabs(v), std::chars_format::scientific).ptr;  // d.ddde+XX
  const char* e = std::find(static_cast<const char*>(sci), end, 'e');
  char digits[32];
  size_t nd = 0;
  for (const char* c = sci; c < e; ++c)
    if (*c != '.') digits[nd++] = *c;
  int exp = 0;
  for (const char* c = e + 2; c < end; ++c) exp = exp * 10 + (*c - '0');
  if (e[1] == '-') exp = -exp;
  char* o = out;
  if (v < 0) *o++ = '-';
  if (exp >= -4 && exp < 16) {  // Python's repr: fixed notation for 1e-4 <= |v| < 1e16
    if (exp >= 0) {
      const size_t whole = static_cast<size_t>(exp) + 1;
      if (nd <= whole) {
        std::memcpy(o, digits, nd);
        o += nd;
        for (size_t k = nd; k < whole; ++k) *o++ = '0';
        *o++ = '.';
        *o++ = '0';
      } else {
        std::memcpy(o, digits, whole);
        o += whole;
        *o++ = '.';
        std::memcpy(o, digits + whole, nd - whole);
        o += nd - whole;
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      for (int k = 0; k < -exp - 1; ++k) *o++ = '0';
      std::memcpy(o, digits, nd);
      o += nd;
    }
    return static_cast<size_t>(o - out);
  }
  *o++ = digits[0];
  if (nd > 1) {
    *o++ = '.';
    std::memcpy(o, digits + 1, nd - 1);
    o += nd - 1;
  }
  *o++ = 'e';
  *o++ = exp < 0 ? '-' : '+';
  const int a = std::abs(exp);
  if (a < 10) *o++ = '0';
  o = std::to_chars(o, o + 8, a).ptr;
  return static_cast<size_t>(o - out);
}
}  // namespace

std::string format_python_float(double v) {
  char buf[40];
  return std::string(buf, python_float_chars(v, buf));
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  auto hex4 = [&out](unsigned cp) {  // a UTF-16 unit (<= 0xFFFF), as "\\u%04x" prints it
    static constexpr char kHex[] = "0123456789abcdef";
    const char b[6] = {'\\', 'u', kHex[(cp >> 12) & 15], kHex[(cp >> 8) & 15], kHex[(cp >> 4) & 15], kHex[cp & 15]};
    out.append(b, sizeof b);
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

// The writer's output buffer: appends are inline and check the capacity once per piece (std::string's go
// through out-of-line calls, and the writer makes tens of millions).
class TextOut {
 public:
  explicit TextOut(size_t capacity = 256) { grow(capacity); }
  // Room for `k` more characters at the end; write them and advance(k).
  [[gnu::always_inline]] char* room(size_t k) {
    if (k > cap_ - n_) grow(k);
    return buf_.data() + n_;
  }
  void advance(size_t k) { n_ += k; }
  [[gnu::always_inline]] TextOut& operator+=(std::string_view s) {
    if (s.empty()) return *this;  // (an empty view's data may be null)
    std::memcpy(room(s.size()), s.data(), s.size());
    n_ += s.size();
    return *this;
  }
  template <size_t N>  // a literal: its length is a constant, the copy a few moves
  [[gnu::always_inline]] TextOut& operator+=(const char (&lit)[N]) {
    std::memcpy(room(N - 1), lit, N - 1);
    n_ += N - 1;
    return *this;
  }
  TextOut& operator+=(const std::string& s) { return *this += std::string_view(s); }
  TextOut& operator+=(char c) {
    *room(1) = c;
    ++n_;
    return *this;
  }
  size_t size() const { return n_; }
  std::string_view view() const { return {buf_.data(), n_}; }
  void clear() { n_ = 0; }
  std::string take() {
    buf_.resize(n_);
    return std::move(buf_);
  }

 private:
  [[gnu::noinline]] void grow(size_t k) {
    buf_.resize(std::max(2 * buf_.size(), n_ + k + 64));
    cap_ = buf_.size();
  }
  std::string buf_;  // its size is the capacity; n_ characters used
  size_t n_ = 0, cap_ = 0;
};

// Appends json_quote(s); plain printable ASCII (names, targets, dtypes: nearly every string) is copied as is.
void append_quoted(TextOut& out, std::string_view s) {
  if (plain_ascii_end(s.data(), s.data() + s.size()) != s.data() + s.size()) {
    out += json_quote(s);
    return;
  }
  char* p = out.room(s.size() + 2);
  p[0] = '"';
  std::memcpy(p + 1, s.data(), s.size());
  p[s.size() + 1] = '"';
  out.advance(s.size() + 2);
}

void append_int(TextOut& out, int64_t v) {
  char* p = out.room(24);
  out.advance(static_cast<size_t>(std::to_chars(p, p + 24, v).ptr - p));
}

void append_float(TextOut& out, double v) {
  char* p = out.room(40);
  out.advance(python_float_chars(v, p));
}

// A SymInt's spelling as a JSON string: the text read, else the expression printed.
void append_sym_text(const SymDim& d, TextOut& out) {
  if (d.has_text()) append_quoted(out, d.text());
  else append_quoted(out, d.expr.str());
}

void append_dim(const SymDim& d, TextOut& out) {
  if (!d.has_text()) {
    if (auto c = d.expr.as_constant()) { append_int(out, *c); return; }
  }
  append_sym_text(d, out);
}

template <size_t N>
void append_tagged(TextOut& out, const char (&open)[N], std::string_view s) {  // {"tag": "s"}
  out += open;
  append_quoted(out, s);
  out += '}';
}

void append_arg(const Arg& a, TextOut& out) {
  switch (a.kind) {
    case Arg::Kind::None: out += "null"; break;
    case Arg::Kind::Bool:
      if (a.b) out += "true";
      else out += "false";
      break;
    case Arg::Kind::Int: append_int(out, a.i); break;
    case Arg::Kind::Float:
      if (std::isfinite(a.f)) {
        append_float(out, a.f);
      } else {
        out += "{\"float\": \"";
        append_float(out, a.f);
        out += "\"}";
      }
      break;
    case Arg::Kind::Str: append_quoted(out, a.s); break;
    case Arg::Kind::Node: append_tagged(out, "{\"node\": ", a.node->name); break;
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
        append_quoted(out, a.dict[i].first);
        out += ": ";
        append_arg(a.dict[i].second, out);
      }
      out += "}}";
      break;
    }
    case Arg::Kind::Dtype: append_tagged(out, "{\"dtype\": ", a.s); break;
    case Arg::Kind::Device: append_tagged(out, "{\"device\": ", a.s); break;
    case Arg::Kind::Layout: append_tagged(out, "{\"layout\": ", a.s); break;
    case Arg::Kind::MemoryFormat: append_tagged(out, "{\"memory_format\": ", a.s); break;
    case Arg::Kind::Sym:
      out += "{\"sym\": ";
      append_sym_text(a.sym, out);
      out += '}';
      break;
    case Arg::Kind::Repr: append_tagged(out, "{\"repr\": ", a.s); break;
    case Arg::Kind::Op: append_tagged(out, "{\"op\": ", a.s); break;
  }
}

void append_dims(const std::vector<SymDim>& dims, TextOut& out) {
  out += '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    append_dim(dims[i], out);
  }
  out += ']';
}

void append_val(const ValMeta& v, TextOut& out) {
  switch (v.kind) {
    case ValMeta::Kind::Null: out += "null"; break;
    case ValMeta::Kind::Tensor: {
      const auto& t = v.tensor;
      out += "{\"dtype\": ";
      append_quoted(out, t.dtype);
      out += ", \"shape\": ";
      append_dims(t.shape, out);
      out += ", \"stride\": ";
      append_dims(t.stride, out);
      out += ", \"device\": ";
      append_quoted(out, t.device);
      for (const auto& [k, raw] : t.extra) {
        out += ", ";
        append_quoted(out, k);
        out += ": ";
        out += raw;
      }
      out += '}';
      break;
    }
    case ValMeta::Kind::Sym:
      out += "{\"sym\": ";
      append_sym_text(v.sym, out);
      out += '}';
      break;
    case ValMeta::Kind::Const:
      out += "{\"const\": ";
      append_arg(v.constant.get(), out);
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

void append_node(const Node& n, TextOut& out) {
  out += "{\"name\": ";
  append_quoted(out, n.name);
  out += ", \"op\": \"";
  out += std::string_view(to_string(n.op));
  out += "\", \"target\": ";
  append_quoted(out, n.target);
  out += ", \"args\": [";
  for (size_t i = 0; i < n.args.size(); ++i) {
    if (i) out += ", ";
    append_arg(n.args[i], out);
  }
  out += "], \"kwargs\": {";
  for (size_t i = 0; i < n.kwargs.size(); ++i) {
    if (i) out += ", ";
    append_quoted(out, n.kwargs[i].first);
    out += ": ";
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
    append_quoted(out, k);
    out += ": ";
    out += raw;
  }
  out += "}}";
}

std::string opt_int(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : "null"; }

}  // namespace

std::string arg_to_json(const Arg& a) {
  TextOut out;
  append_arg(a, out);
  return out.take();
}

std::string val_to_json(const ValMeta& v) {
  TextOut out;
  append_val(v, out);
  return out.take();
}

namespace {

// Emits the canonical text in pieces of about 1 MB through `sink`, so a large graph is never held twice.
// A large graph's nodes are formatted on two threads, in chunks taken in turn: this one formats the even chunks and
// passes every chunk to `sink` in order; a helper formats the odd ones into a few buffers, at most kAhead chunks
// ahead (the text is the same as one thread's: a node's text depends on that node alone).
constexpr size_t kParallelWriteNodes = 16384;

void write_nodes_on_two_threads(const Graph& g, TextOut& out, size_t piece,
                                const std::function<void(std::string_view)>& sink) {
  constexpr size_t kChunk = 1024, kAhead = 4;
  const size_t chunks = (g.size() + kChunk - 1) / kChunk;
  std::vector<TextOut> bufs(kAhead);
  std::atomic<size_t> done{0}, consumed{0};  // odd chunks the helper finished / this thread passed on
  std::atomic<bool> stop{false};
  std::exception_ptr helper_error;  // set before `done` is, read after
  // Each chunk's text: every node but the graph's first is preceded by ",\n".
  auto format_chunk = [&g](std::list<Node>::const_iterator& it, size_t c, TextOut& to) {
    for (size_t k = 0; k < kChunk && it != g.nodes().end(); ++k, ++it) {
      if (c || k) to += ",\n";
      to += "  ";
      append_node(*it, to);
    }
  };
  auto skip_chunk = [&g](std::list<Node>::const_iterator& it) {
    for (size_t k = 0; k < kChunk && it != g.nodes().end(); ++k) ++it;
  };
  std::jthread helper([&] {
    try {
      auto it = g.nodes().begin();
      for (size_t c = 0; c < chunks; ++c) {
        if (c % 2 == 0) {
          skip_chunk(it);
          continue;
        }
        const size_t j = c / 2;  // the j-th odd chunk
        for (size_t seen = consumed.load(std::memory_order_acquire); j - seen >= kAhead && !stop.load();
             seen = consumed.load(std::memory_order_acquire))
          consumed.wait(seen);
        if (stop.load()) return;
        TextOut& to = bufs[j % kAhead];
        to.clear();
        format_chunk(it, c, to);
        done.store(j + 1, std::memory_order_release);
        done.notify_one();
      }
    } catch (...) {
      helper_error = std::current_exception();
      done.store(SIZE_MAX, std::memory_order_release);
      done.notify_one();
    }
  });
  try {
    auto it = g.nodes().begin();
    for (size_t c = 0; c < chunks; ++c) {
      if (c % 2 == 0) {
        format_chunk(it, c, out);
        if (out.size() > piece) {
          sink(out.view());
          out.clear();
        }
        continue;
      }
      skip_chunk(it);
      const size_t j = c / 2;
      for (size_t d = done.load(std::memory_order_acquire); d <= j; d = done.load(std::memory_order_acquire)) done.wait(d);
      if (helper_error) std::rethrow_exception(helper_error);
      if (out.size()) {
        sink(out.view());
        out.clear();
      }
      sink(bufs[j % kAhead].view());
      consumed.store(j + 1, std::memory_order_release);
      consumed.notify_one();
    }
  } catch (...) {
    stop = true;
    consumed.fetch_add(kAhead);  // wakes the helper, which then stops
    consumed.notify_one();
    throw;  // the helper is joined first
  }
}

void write_graph_to(const Graph& g, const std::function<void(std::string_view)>& sink) {
  // 64 KiB pieces: a small graph's output touches 16 fresh pages instead of 256 (page faults were a tenth of the
  // 48-layer rewrite process); a 200k-node file writes as fast as with 1 MiB pieces.
  constexpr size_t kPiece = 1 << 16;
  TextOut out(kPiece + 4096);
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
  if (g.size() >= kParallelWriteNodes) {
    write_nodes_on_two_threads(g, out, kPiece, sink);
  } else {
    bool first = true;
    for (const auto& n : g.nodes()) {
      if (!first) out += ",\n";
      first = false;
      out += "  ";
      append_node(n, out);
      if (out.size() > kPiece) {
        sink(out.view());
        out.clear();
      }
    }
  }
  out += "\n ]\n}\n";
  sink(out.view());
}

// Where an output path really leads: symlinks followed (relative ones from their own directory), up to 40.
std::string resolve_output_path(const std::string& path) {
  std::string target = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(target.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return target;
    if (hops == 40) throw InputError(path + ": cannot write: too many levels of symbolic links");
    std::string link(PATH_MAX, '\0');
    const ssize_t n = ::readlink(target.c_str(), link.data(), link.size());
    if (n < 0) throw InputError(path + ": cannot write: " + std::strerror(errno));
    link.resize(static_cast<size_t>(n));
    const size_t slash = target.rfind('/');
    target = link.front() == '/' || slash == std::string::npos ? link : target.substr(0, slash + 1) + link;
  }
}

// An output file, written only on success. The rule (README "Output files"): a symlink is followed and
// the file it leads to is replaced atomically (a temporary file beside it, renamed over it by commit(); an
// existing file keeps its permission bits); an existing device or FIFO is written into, never replaced (the
// text is held until commit()); a socket or directory is refused.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), target_(resolve_output_path(path_)) {
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0) {
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        direct_ = true;
        return;
      }
      if (S_ISSOCK(st.st_mode)) throw InputError(path_ + ": cannot write: it is a socket");
      if (S_ISDIR(st.st_mode)) throw InputError(path_ + ": cannot write: it is a directory");
      mode_ = st.st_mode & 07777;
      exists_ = true;
    }
    tmp_ = target_ + ".tmp.XXXXXX";
    fd_ = mkstemp(tmp_.data());
    if (fd_ < 0) throw InputError(path_ + ": cannot create output file: " + std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  void write(std::string_view text) {
    if (direct_) {
      held_ += text;
      return;
    }
    write_all(fd_, text);
  }
  void commit() {
    if (direct_) {
      const int fd = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);  // a FIFO waits for its reader here
      if (fd < 0) throw InputError(path_ + ": cannot open for writing: " + std::strerror(errno));
      try {
        write_all(fd, held_);
      } catch (...) {
        ::close(fd);
        throw;
      }
      if (::close(fd) != 0) throw InputError(path_ + ": cannot write: " + std::strerror(errno));
      return;
    }
    mode_t mode = mode_;
    if (mode == 0) {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      mode = 0666 & ~mask;
    }
    ::fchmod(fd_, mode);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      int err = errno;
      ::unlink(tmp_.c_str());
      throw InputError(path_ + ": cannot write: " + std::strerror(err));
    }
    // An existing file is swapped with the new one (atomically, as a rename does) and then unlinked. Renaming over
    // it made ext4 start writing the new file to disk at once (its auto_da_alloc): 13-23 ms of a 200k-node
    // rewrite's 30 MB output. A path with no file yet, or a file system without the exchange, takes the rename.
    if (exists_ && ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) == 0) {
      if (::unlink(tmp_.c_str()) == 0) return;  // the old file
      // What was swapped out is no longer a file (a directory made there since): swap back and refuse.
      int err = errno;
      ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE);
      ::unlink(tmp_.c_str());
      throw InputError(path_ + ": cannot write: " + std::strerror(err));
    }
    if (std::rename(tmp_.c_str(), target_.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp_.c_str());
      throw InputError(path_ + ": cannot write: " + std::strerror(err));
    }
  }

 private:
  void write_all(int fd, std::string_view text) {
    size_t done = 0;
    while (done < text.size()) {
      ssize_t w = ::write(fd, text.data() + done, text.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw InputError(path_ + ": cannot write: " + std::strerror(errno));
      done += static_cast<size_t>(w);
    }
  }

  std::string path_, target_, tmp_;
  int fd_ = -1;
  bool direct_ = false;  // a device or FIFO: written into at commit()
  mode_t mode_ = 0;      // an existing file's permission bits (0: new file, from the umask)
  bool exists_ = false;  // the target was a file when opened
  std::string held_;     // direct_: the text until commit()
};

void write_stdout(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size())
    throw InputError("cannot write to standard output");
}

}  // namespace

std::string write_graph_text(const Graph& g) {
  std::string out;
  write_graph_to(g, [&out](std::string_view piece) { out += piece; });
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
    write_stdout(text);
    if (std::fflush(stdout) != 0) throw InputError("cannot write to standard output");
    return;
  }
  AtomicFile f(path);
  f.write(text);
  f.commit();
}

void write_graph_file(const Graph& g, const std::string& path) {
  if (path.empty() || path == "-") {
    write_graph_to(g, write_stdout);
    if (std::fflush(stdout) != 0) throw InputError("cannot write to standard output");
    return;
  }
  AtomicFile f(path);
  write_graph_to(g, [&f](std::string_view piece) { f.write(piece); });
  f.commit();
}

// ---------------------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------------------

namespace {

// The JSON path of the value being read ("nodes[12] (mul_35).args[1]"), extended and cut back at every level:
// a growable buffer whose appends and truncations are inline (the reader does a few million per 100k nodes).
class PathBuf {
 public:
  size_t size() const { return n_; }
  void resize(size_t n) { n_ = n; }  // only ever shrinks
  void clear() {
    n_ = 0;
    node_ = kNoNode;
  }
  template <size_t N>
  PathBuf& operator=(const char (&lit)[N]) {
    clear();
    return *this += lit;
  }
  // The path is "nodes[index]" followed by what is appended next (the prefix is written out only by str()).
  void set_node(size_t index) {
    n_ = 0;
    node_ = index;
  }
  [[gnu::always_inline]] PathBuf& operator+=(std::string_view s) {
    if (s.size() > cap_ - n_) grow(s.size());
    if (!s.empty()) std::memcpy(buf_.get() + n_, s.data(), s.size());
    n_ += s.size();
    return *this;
  }
  template <size_t N>  // a literal: its length is a constant, the copy a few moves
  [[gnu::always_inline]] PathBuf& operator+=(const char (&lit)[N]) {
    if (N - 1 > cap_ - n_) grow(N - 1);
    std::memcpy(buf_.get() + n_, lit, N - 1);
    n_ += N - 1;
    return *this;
  }
  PathBuf& operator+=(char c) { return *this += std::string_view(&c, 1); }
  [[gnu::always_inline]] void append_index(size_t i) {  // "[i]"
    if (i < 10) {
      const char b[3] = {'[', static_cast<char>('0' + i), ']'};
      *this += std::string_view(b, 3);
      return;
    }
    char b[24];
    b[0] = '[';
    char* e = std::to_chars(b + 1, b + sizeof b - 1, i).ptr;
    *e++ = ']';
    *this += std::string_view(b, static_cast<size_t>(e - b));
  }
  std::string str() const {
    std::string prefix = node_ == kNoNode ? std::string() : "nodes[" + std::to_string(node_) + "]";
    if (n_) prefix.append(buf_.get(), n_);
    return prefix;
  }
  friend std::string operator+(const PathBuf& p, std::string_view s) { return p.str().append(s); }

 private:
  [[gnu::noinline]] void grow(size_t more) {
    const size_t cap = std::max<size_t>(2 * cap_, std::max<size_t>(n_ + more, 128));
    auto b = std::make_unique<char[]>(cap);
    if (n_) std::memcpy(b.get(), buf_.get(), n_);
    buf_ = std::move(b);
    cap_ = cap;
  }
  static constexpr size_t kNoNode = SIZE_MAX;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0, n_ = 0;
  size_t node_ = kNoNode;  // set_node's index
};

// A hash for texts of a hundred bytes or so (meta.val cache keys), 8 bytes a step: cheaper than std::hash.
struct FastTextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return text_hash(s); }
};

// Decodes an fxgraph document straight from the JSON text into a Graph (no DOM). `path_` holds the JSON path
// of the value being read, extended and truncated as the reader descends, so errors can name it.
class Reader {
 public:
  // `consumed(offset)` is told, after each node, how much of the text has been read (to release it).
  // `calls`, when given, receives the graph's call counts.
  Reader(std::string_view text, std::string source, std::function<void(size_t)> consumed = {},
         CallCounts* calls = nullptr)
      : in_(text, source), source_(std::move(source)), consumed_(std::move(consumed)), calls_(calls) {
    g_.reserve(text.size() / 256 + 16);  // canonical files hold 250-270 bytes per node (fewer: the index grows once)
  }

  Graph read() {
    if (in_.peek() != JsonPull::Type::Object) fail_here("expected a JSON object at the top level, got " + type_name());
    in_.begin_object();
    bool have_format = false, have_version = false, have_nodes = false;
    std::string key;
    while (in_.next_key(key)) {
      if (key == "format") {
        std::string v = peek_is(JsonPull::Type::String) ? read_string() : "";
        if (v != "fxgraph") fail("format", "expected \"fxgraph\", got " + (v.empty() ? describe_value() : "\"" + v + "\""));
        have_format = true;
      } else if (key == "version") {
        int64_t i = 0;
        double d = 0;
        if (!peek_is(JsonPull::Type::Number) || !in_.number(i, d)) fail("version", "expected an integer");
        if (i != 1) fail("version", "version " + std::to_string(i) + " is not supported (this fxopt reads version 1)");
        have_version = true;
      } else if (key == "producer") {
        g_.producer.clear();
        in_.canonical_value(g_.producer);
      } else if (key == "symbols") {
        read_symbols();
      } else if (key == "nodes") {
        if (!have_format) fail("", "missing required key \"format\" before \"nodes\"");
        if (!have_version) fail("", "missing required key \"version\" before \"nodes\"");
        read_nodes();
        have_nodes = true;
      } else {
        std::string raw;
        in_.canonical_value(raw);
        g_.extra_top.emplace_back(key, std::move(raw));
      }
    }
    in_.finish();
    if (!have_format) fail("", "missing required key \"format\"");
    if (!have_version) fail("", "missing required key \"version\"");
    if (!have_nodes) fail("", "missing required key \"nodes\"");
    return std::move(g_);
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw InputError(source_ + ": " + (path.empty() ? "" : path + ": ") + msg);
  }
  [[noreturn]] void fail_here(const std::string& msg) const { fail(path_.str(), msg); }

  bool peek_is(JsonPull::Type t) { return in_.peek() == t; }

  std::string type_name() {
    switch (in_.peek()) {
      case JsonPull::Type::Null: return "null";
      case JsonPull::Type::Bool: return "a boolean";
      case JsonPull::Type::Number: return "a number";
      case JsonPull::Type::String: return "a string";
      case JsonPull::Type::Array: return "an array";
      case JsonPull::Type::Object: return "an object";
      case JsonPull::Type::End: return "the end of input";
    }
    return "a value";
  }
  // Consumes the next value and describes it for an error message: its type and (short) text.
  std::string describe_value() {
    std::string t = type_name();
    std::string raw;
    in_.canonical_value(raw);
    if (raw.size() > 60) raw = raw.substr(0, 57) + "...";
    return t + " " + raw;
  }

  std::string read_string() {
    std::string s;
    in_.string(s);
    return s;
  }

  // Path helpers: push a segment, return the mark to truncate back to.
  template <size_t N>
  size_t push(const char (&seg)[N]) { size_t m = path_.size(); path_ += seg; return m; }
  size_t push_key(std::string_view key) {  // ".key"
    size_t m = path_.size();
    path_ += '.';
    path_ += key;
    return m;
  }
  size_t push_index(size_t i) {
    size_t m = path_.size();
    path_.append_index(i);
    return m;
  }
  void pop(size_t mark) { path_.resize(mark); }

  std::optional<int64_t> read_opt_int() {
    if (peek_is(JsonPull::Type::Null)) { in_.null(); return std::nullopt; }
    int64_t i = 0;
    double d = 0;
    if (!peek_is(JsonPull::Type::Number)) fail_here("expected an integer or null, got " + describe_value());
    if (!in_.number(i, d)) fail_here("expected an integer or null, got the float " + format_python_float(d));
    return i;
  }

  void read_symbols() {
    path_ = "symbols";
    if (!peek_is(JsonPull::Type::Object)) fail_here("expected an object, got " + describe_value());
    in_.begin_object();
    std::string name, key;
    while (in_.next_key(name)) {
      size_t m = push_key(name);
      bool ok = false;
      try {
        ok = sym::parse(name).as_symbol().has_value();
      } catch (const sym::ParseError&) {
      }
      if (!ok) fail_here("'" + name + "' is not a symbol name");
      if (!peek_is(JsonPull::Type::Object)) fail_here("expected an object {\"hint\", \"min\", \"max\"}, got " + describe_value());
      in_.begin_object();
      SymbolInfo si;
      while (in_.next_key(key)) {
        size_t m2 = push_key(key);
        if (key == "hint") si.hint = read_opt_int();
        else if (key == "min") si.min = read_opt_int();
        else if (key == "max") si.max = read_opt_int();
        else in_.skip();
        pop(m2);
      }
      if (si.min && si.max && *si.min > *si.max) fail_here("min is greater than max");
      g_.symbols.emplace_back(name, si);
      pop(m);
    }
    path_.clear();
  }

  // A SymInt spelling, parsed once per distinct text: its expression, the interned text, and whether it is
  // a plain integer (then written back as a JSON integer, like a constant size).
  struct ParsedText {
    sym::Expr expr;
    const std::string* text;
    bool plain_constant;
  };
  const ParsedText& parse_text(const std::string& text) {
    auto it = expr_cache_.find(text);
    if (it != expr_cache_.end()) return it->second;
    sym::Expr e = parse_expr(text);
    auto c = e.as_constant();
    const bool plain = c && std::to_string(*c) == text;
    return expr_cache_.emplace(text, ParsedText{std::move(e), intern_text(text), plain}).first->second;
  }

  sym::Expr parse_expr(const std::string& text) {
    try {
      return sym::parse(text);
    } catch (const sym::ParseError& e) {
      // A long expression is shown as the 70 characters around the error, with the caret under it.
      constexpr size_t kShow = 70;
      const size_t from = text.size() <= kShow || e.position < kShow / 2 ? 0
                          : std::min(e.position - kShow / 2, text.size() - kShow);
      const std::string pre = from ? "..." : "";
      const std::string shown = pre + text.substr(from, kShow) + (from + kShow < text.size() ? "..." : "");
      fail_here("SymInt expression '" + (text.size() <= kShow ? text : shown) + "' does not parse: " + e.what() +
                "\n  " + shown + "\n  " +  // (what() names the position)
                std::string(pre.size() + std::min(e.position - from, shown.size()), ' ') + "^");
    }
  }

  // Integer sizes share one expression per value: most sizes are a handful of constants.
  SymDim constant_dim(int64_t v) {
    auto it = const_cache_.find(v);
    if (it == const_cache_.end()) it = const_cache_.emplace(v, sym::Expr::constant(v)).first;
    SymDim d;
    d.expr = it->second;
    return d;
  }

  SymDim read_dim() {
    if (peek_is(JsonPull::Type::Number)) {
      int64_t i = 0;
      double d = 0;
      if (in_.number(i, d)) return constant_dim(i);
      fail_here("expected a size: an integer or a SymInt expression string, got the float " + format_python_float(d));
    }
    if (peek_is(JsonPull::Type::String)) {
      in_.string(scratch_);
      const ParsedText& p = parse_text(scratch_);
      if (p.plain_constant) return constant_dim(*p.expr.as_constant());
      return SymDim(p.expr, p.text);
    }
    fail_here("expected a size: an integer or a SymInt expression string, got " + describe_value());
  }

  std::vector<SymDim> read_dims() {
    if (!peek_is(JsonPull::Type::Array)) fail_here("expected an array of sizes, got " + describe_value());
    dims_buffer_.clear();
    in_.begin_array();
    for (size_t i = 0; in_.next_item(); ++i) {
      size_t m = push_index(i);
      dims_buffer_.push_back(read_dim());
      pop(m);
    }
    return std::vector<SymDim>(dims_buffer_.begin(), dims_buffer_.end());  // exact size
  }

  // Argument lists are gathered in a scratch vector per nesting level and moved out once at their exact
  // size (no growth reallocations, no spare capacity kept in the graph).
  std::vector<Arg>& arg_buffer() {
    if (arg_level_ == arg_buffers_.size()) arg_buffers_.emplace_back();
    auto& b = arg_buffers_[arg_level_++];
    b.clear();
    return b;
  }
  std::vector<Arg> take_args(std::vector<Arg>& b) {
    --arg_level_;
    return std::vector<Arg>(std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  }

  Node* resolve(const std::string& name) {
    if (Node* n = find_node(name)) return n;
    // A forward reference reads better than "unknown": look for the name later in the document.
    std::string quoted = json_quote(name);
    std::string_view rest = in_.rest();
    for (size_t pos = rest.find(quoted); pos != std::string_view::npos; pos = rest.find(quoted, pos + 1)) {
      size_t q = pos;
      while (q > 0 && (rest[q - 1] == ' ' || rest[q - 1] == '\n' || rest[q - 1] == '\t' || rest[q - 1] == '\r')) --q;
      if (q > 0 && rest[q - 1] == ':') {
        size_t k = q - 1;
        while (k > 0 && (rest[k - 1] == ' ' || rest[k - 1] == '\n')) --k;
        if (k >= 6 && rest.substr(k - 6, 6) == "\"name\"") fail_here("node '" + name + "' is used before it is defined");
      }
    }
    fail_here("unknown node '" + name + "'");
  }

  Arg read_arg() {
    switch (in_.peek()) {
      case JsonPull::Type::Null: in_.null(); return Arg::none();
      case JsonPull::Type::Bool: return Arg::boolean(in_.boolean());
      case JsonPull::Type::Number: {
        int64_t i = 0;
        double d = 0;
        return in_.number(i, d) ? Arg::integer(i) : Arg::real(d);
      }
      case JsonPull::Type::String: return Arg::str(read_string());
      case JsonPull::Type::Array: {
        std::vector<Arg>& items = arg_buffer();
        in_.begin_array();
        for (size_t i = 0; in_.next_item(); ++i) read_arg_into(items, i);
        return Arg::list(take_args(items));
      }
      case JsonPull::Type::Object: {
        // Fast path for the commonest argument, {"node": "name"} written canonically; anything else (or a
        // name with escapes) is read again by read_tagged.
        const size_t start = in_.offset();
        std::string_view name;
        if (in_.try_literal("{\"node\": \"") && in_.try_plain_string_rest(name) && !name.empty() &&
            in_.try_literal("}")) {
          if (Node* n = find_node(name)) return Arg::ref(n);
        }
        in_.rewind(start);
        return read_tagged();
      }
      case JsonPull::Type::End: in_.syntax_error("unexpected end of input");
    }
    fail_here("unsupported value");
  }

  // read_arg() of item `index` appended to `out`. Numbers, lists and the canonical spellings of a node reference
  // and of a tagged name ({"dtype": "float32"}, device, layout, memory format) are built in place; anything else
  // (other spacing, escapes) is read again by read_arg. "[index]" joins the JSON path only where an error could
  // name it (a list's items, read_arg): the fast paths' only errors are syntax errors, which give a position.
  void read_arg_into(std::vector<Arg>& out, size_t index) {
    switch (in_.peek()) {
      case JsonPull::Type::Number: {
        int64_t i = 0;
        double d = 0;
        const bool is_int = in_.number(i, d);
        Arg& a = out.emplace_back();
        if (is_int) {
          a.kind = Arg::Kind::Int;
          a.i = i;
        } else {
          a.kind = Arg::Kind::Float;
          a.f = d;
        }
        return;
      }
      case JsonPull::Type::Array: {
        Arg& a = out.emplace_back();  // `out` does not grow while the items are read (they go to the next level)
        a.kind = Arg::Kind::List;
        const size_t m = push_index(index);
        std::vector<Arg>& items = arg_buffer();
        in_.begin_array();
        for (size_t i = 0; in_.next_item(); ++i) read_arg_into(items, i);
        a.items = take_args(items);
        pop(m);
        return;
      }
      case JsonPull::Type::Object: {
        const size_t start = in_.offset();
        std::string_view text;
        if (in_.try_literal("{\"node\": \"")) {
          if (in_.try_plain_string_rest(text) && !text.empty() && in_.try_literal("}")) {
            if (Node* n = find_node(text)) {
              Arg& a = out.emplace_back();
              a.kind = Arg::Kind::Node;
              a.node = n;
              return;
            }
          }
        } else if (in_.try_literal("{\"")) {
          Arg::Kind kind = Arg::Kind::None;
          if (in_.try_literal("dtype\": \"")) kind = Arg::Kind::Dtype;
          else if (in_.try_literal("device\": \"")) kind = Arg::Kind::Device;
          else if (in_.try_literal("layout\": \"")) kind = Arg::Kind::Layout;
          else if (in_.try_literal("memory_format\": \"")) kind = Arg::Kind::MemoryFormat;
          if (kind != Arg::Kind::None && in_.try_plain_string_rest(text) && in_.try_literal("}")) {
            Arg& a = out.emplace_back();
            a.kind = kind;
            a.s = intern_cached(text);
            return;
          }
        }
        in_.rewind(start);
        break;
      }
      default: break;
    }
    const size_t m = push_index(index);
    out.push_back(read_arg());
    pop(m);
  }

  Arg read_tagged() {
    static const char* kExpected =
        "expected an encoded value: one of {\"node\"}, {\"float\"}, {\"dict\"}, {\"dtype\"}, {\"device\"}, "
        "{\"layout\"}, {\"memory_format\"}, {\"sym\"}, {\"repr\"}";
    in_.begin_object();
    std::string tag;
    if (!in_.next_key(tag)) fail_here(std::string("malformed argument {}: ") + kExpected);
    Arg a;
    auto need_string = [&](const char* what) -> const std::string& {  // valid until the next string read
      if (!peek_is(JsonPull::Type::String))
        fail(path_ + "." + tag, std::string("expected ") + what + " string, got " + describe_value());
      in_.string(scratch_);
      return scratch_;
    };
    if (tag == "node"sv) {
      a = Arg::ref(resolve(need_string("a node name")));
    } else if (tag == "float"sv) {
      std::string s = need_string("\"inf\", \"-inf\" or \"nan\"");
      if (s == "inf") a = Arg::real(INFINITY);
      else if (s == "-inf") a = Arg::real(-INFINITY);
      else if (s == "nan") a = Arg::real(NAN);
      else fail(path_ + ".float", "expected \"inf\", \"-inf\" or \"nan\", got \"" + s + "\"");
    } else if (tag == "dict"sv) {
      size_t m = push(".dict");
      if (!peek_is(JsonPull::Type::Object)) fail_here("expected an object, got " + describe_value());
      a.kind = Arg::Kind::Dict;
      in_.begin_object();
      std::string k;
      while (in_.next_key(k)) {
        size_t m2 = push_key(k);
        Arg v = read_arg();
        a.dict.emplace_back(k, std::move(v));
        pop(m2);
      }
      pop(m);
    } else if (tag == "dtype"sv) {
      a = Arg::tagged(Arg::Kind::Dtype, need_string("a dtype name"));
    } else if (tag == "device"sv) {
      a = Arg::tagged(Arg::Kind::Device, need_string("a device"));
    } else if (tag == "layout"sv) {
      a = Arg::tagged(Arg::Kind::Layout, need_string("a layout"));
    } else if (tag == "memory_format"sv) {
      a = Arg::tagged(Arg::Kind::MemoryFormat, need_string("a memory format"));
    } else if (tag == "repr"sv) {
      a = Arg::tagged(Arg::Kind::Repr, need_string("a repr"));
    } else if (tag == "op"sv) {
      std::string t = need_string("an operator name (namespace.name.overload)");
      if (t.empty() || t.find('.') == std::string::npos)
        fail(path_ + ".op", "expected an operator name such as \"_C.rms_norm.default\", got \"" + t + "\"");
      a = Arg::op(std::move(t));
    } else if (tag == "sym"sv) {
      size_t m = push(".sym");
      if (!peek_is(JsonPull::Type::String)) fail_here("expected a SymInt expression string, got " + describe_value());
      in_.string(scratch_);
      const ParsedText& p = parse_text(scratch_);
      a = Arg::symint(SymDim(p.expr, p.text));
      pop(m);
    } else {
      fail_here("malformed argument: unknown tag \"" + tag + "\"; " + kExpected);
    }
    std::string extra;
    if (in_.next_key(extra)) fail_here("malformed argument: {\"" + tag + "\"} has a second key \"" + extra + "\"; " + kExpected);
    return a;
  }

  ValMeta read_val() {
    ValMeta v;
    switch (in_.peek()) {
      case JsonPull::Type::Null: in_.null(); return v;
      case JsonPull::Type::Array: {
        v.kind = ValMeta::Kind::Tuple;
        in_.begin_array();
        for (size_t i = 0; in_.next_item(); ++i) {
          size_t m = push_index(i);
          v.items.push_back(read_val());
          pop(m);
        }
        return v;
      }
      case JsonPull::Type::Object: break;
      default: fail_here("expected a tensor, {\"sym\"}, {\"const\"}, an array or null, got " + describe_value());
    }
    in_.begin_object();
    std::string key;
    bool tensor = false, have_shape = false, have_sym = false, have_const = false, other = false;
    auto& t = v.tensor;
    while (in_.next_key(key)) {
      size_t m = push_key(key);
      if (key == "dtype"sv) {
        if (!peek_is(JsonPull::Type::String)) fail_here("expected a dtype name string, got " + describe_value());
        t.dtype = read_string();
        tensor = true;
      } else if (key == "shape"sv) {
        t.shape = read_dims();
        tensor = have_shape = true;
      } else if (key == "stride"sv) {
        t.stride = read_dims();
        tensor = true;
      } else if (key == "device"sv) {
        if (!peek_is(JsonPull::Type::String)) fail_here("expected a device string, got " + describe_value());
        t.device = read_string();
        tensor = true;
      } else if (key == "sym"sv) {
        have_sym = true;
        v.sym = read_dim();
      } else if (key == "const"sv) {
        have_const = true;
        v.constant = read_arg();
      } else {
        other = true;
        std::string raw;
        in_.canonical_value(raw);
        t.extra.emplace_back(key, std::move(raw));
      }
      pop(m);
    }
    if (tensor) {
      if (t.dtype.empty()) fail_here("tensor value without \"dtype\"");
      if (!have_shape) fail_here("tensor value without \"shape\"");
      v.kind = ValMeta::Kind::Tensor;
      return v;
    }
    if (have_sym && !have_const && !other) { v.kind = ValMeta::Kind::Sym; return v; }
    if (have_const && !have_sym && !other) { v.kind = ValMeta::Kind::Const; return v; }
    fail_here("expected a tensor {\"dtype\", \"shape\", ...}, {\"sym\": ...} or {\"const\": ...}");
  }

  // meta.val through a cache keyed by its exact text: the nodes of replicated layers repeat a few hundred
  // distinct values, so most are copied instead of parsed. Only texts parsed successfully before are cached,
  // so a hit needs no checking; values that could refer to nodes ({"const": ...}) are never cached.
  static bool cacheable(const ValMeta& v) {
    switch (v.kind) {
      case ValMeta::Kind::Null: case ValMeta::Kind::Tensor: case ValMeta::Kind::Sym: return true;
      case ValMeta::Kind::Const: return false;
      case ValMeta::Kind::Tuple:
        return std::all_of(v.items.begin(), v.items.end(), [](const ValMeta& i) { return cacheable(i); });
    }
    return false;
  }
  // Sets `out` (a hit is copied straight into it).
  void read_val_cached(std::optional<ValMeta>& out) {
    constexpr size_t kMaxEntries = 1 << 14, kMaxText = 1024;
    // The canonical layout puts a node on one line that ends in "}}" ("}}," before the next node), so a val
    // that is its node's last meta key runs up to there: found with one memchr instead of a bracket scan.
    // The candidate is used only when it is a cached text exactly (a complete JSON array or object is never a
    // proper prefix of another value, so the value there is that text). Given up after 64 misses.
    line_hit_ = line_misses_ < 64;
    if (line_hit_) {
      const std::string_view rest = in_.rest();
      const void* nl = rest.empty() || (rest[0] != '{' && rest[0] != '[')
                           ? nullptr
                           : std::memchr(rest.data(), '\n', std::min(rest.size(), kMaxText + 4));
      size_t e = nl ? static_cast<size_t>(static_cast<const char*>(nl) - rest.data()) : 0;
      if (e && rest[e - 1] == ',') --e;
      if (e >= 2 && rest[e - 1] == '}' && rest[e - 2] == '}') {
        if (auto it = val_cache_.find(rest.substr(0, e - 2)); it != val_cache_.end()) {
          in_.rewind(in_.offset() + (e - 2));
          out.emplace(it->second);
          return;
        }
      }
    }
    const size_t start = in_.offset();
    const std::string_view text = in_.scan_container();
    if (text.empty() || text.size() > kMaxText) {
      in_.rewind(start);
      out = read_val();
      return;
    }
    if (auto it = val_cache_.find(text); it != val_cache_.end()) {
      if (line_hit_) ++line_misses_;  // the line's end would have found it: the layout is not the canonical one
      out.emplace(it->second);
      return;
    }
    in_.rewind(start);
    out = read_val();
    if (val_cache_.size() < kMaxEntries && cacheable(*out)) val_cache_.emplace(std::string(text), *out);
  }

  void read_nodes() {
    path_ = "nodes";
    if (!peek_is(JsonPull::Type::Array)) fail_here("expected an array, got " + describe_value());
    in_.begin_array();
    Node* output = nullptr;
    std::string key;
    for (size_t index = 0; in_.next_item(); ++index) {
      path_.set_node(index);  // "nodes[index]", written out only for an error message
      if (!peek_is(JsonPull::Type::Object)) fail_here("expected a node object, got " + describe_value());
      // The node is built in place in a one-node list and spliced into the graph: never moved or copied.
      staged_.clear();
      Node& node = staged_.emplace_back();
      bool have_name = false, have_op = false, have_target = false, have_args = false;
      size_t base = path_.size();
      bool closed = false;  // the node's '}' has been read
      if (read_node_head(node)) {  // then "args" is the next key, its ':' read
        have_name = have_op = have_target = true;
        path_ += " (";
        path_ += node.name;
        path_ += ')';
        base = path_.size();
        closed = read_node_args(node);
        have_args = true;
      } else {
        in_.begin_object();
      }
      while (!closed && in_.next_key(key)) {
        if (key == "name"sv) {
          if (!peek_is(JsonPull::Type::String)) fail(path_ + ".name", "expected a non-empty string, got " + describe_value());
          node.name = read_string();
          if (node.name.empty()) fail(path_ + ".name", "expected a non-empty string");
          name_hash_ = text_hash(node.name);
          g_.prefetch_name(name_hash_);  // its index slot, needed when the node is added
          have_name = true;
          path_ += " (";
          path_ += node.name;
          path_ += ')';
          base = path_.size();
        } else if (key == "op"sv) {
          size_t m = push(".op");
          std::string op = peek_is(JsonPull::Type::String) ? read_string() : describe_value();
          auto kind = op_kind_from_string(op);
          if (!kind)
            fail_here("expected one of placeholder, get_attr, call_function, call_method, call_module, output; got " + op);
          node.op = *kind;
          have_op = true;
          pop(m);
        } else if (key == "target"sv) {
          if (!peek_is(JsonPull::Type::String)) fail(path_ + ".target", "expected a string, got " + describe_value());
          node.target = read_string();
          have_target = true;
        } else if (key == "args"sv) {
          closed = read_node_args(node);
          have_args = true;
          if (closed) break;
        } else if (key == "kwargs"sv) {
          size_t m = push(".kwargs");
          if (!peek_is(JsonPull::Type::Object)) fail_here("expected an object, got " + describe_value());
          in_.begin_object();
          std::string k;
          while (in_.next_key(k)) {
            size_t m2 = push_key(k);
            Arg a = read_arg();
            node.kwargs.emplace_back(k, std::move(a));
            pop(m2);
          }
          pop(m);
        } else if (key == "meta"sv) {
          size_t m = push(".meta");
          if (!peek_is(JsonPull::Type::Object)) fail_here("expected an object, got " + describe_value());
          in_.begin_object();
          read_meta_entries(node);
          pop(m);
        } else {
          fail_here("unknown node key \"" + key + "\"");
        }
        path_.resize(base);
      }
      if (!have_name) fail_here("missing required key \"name\"");
      if (!have_op) fail_here("missing required key \"op\"");
      if (!have_target) fail_here("missing required key \"target\"");
      if (!have_args) fail_here("missing required key \"args\"");
      if (output) {
        if (node.op == OpKind::Output)
          fail_here("a second output node (the graph must have exactly one, '" + output->name + "')");
        fail_here("node after the output node '" + output->name + "' (output must be last)");
      }
      Node* n = nullptr;
      try {
        n = g_.append_named(staged_, name_hash_);
      } catch (const InputError&) {
        fail_here("duplicate node name '" + node.name + "'");  // append_named keeps the node when it throws
      }
      remember(n);
      if (calls_ && n->op == OpKind::CallFunction) {
        if (&n->target.str() != last_target_) {  // one lookup per run of equal targets
          last_target_ = &n->target.str();
          last_count_ = &(*calls_)[last_target_];
        }
        ++*last_count_;
      }
      // Users in the order rebuild_users() gives: node by node, each node's inputs once, in argument order.
      add_uses(n);
      if (n->op == OpKind::Output) output = n;
      if (consumed_) consumed_(in_.offset());
    }
    path_ = "nodes";
    if (!output) fail_here("the graph has no output node");
    path_.clear();
  }

  // A node's "args" value (its key and ':' read), and when the canonical tail follows (no kwargs, then meta with
  // val first) that too; true when that tail closed the node's object. Anything else is left to the caller's
  // loop (and after the val, to read_meta_entries).
  bool read_node_args(Node& node) {
    size_t m = push(".args");
    if (!peek_is(JsonPull::Type::Array)) fail_here("expected an array, got " + describe_value());
    in_.begin_array();
    std::vector<Arg>& args = arg_buffer();
    for (size_t i = 0; in_.next_item(); ++i) read_arg_into(args, i);
    node.args = take_args(args);
    pop(m);
    if (!in_.try_literal(", \"kwargs\": {}, \"meta\": {\"val\": ")) return false;
    size_t m2 = push(".meta.val");
    read_val_cached(node.val);
    pop(m2);
    if (in_.try_literal("}}")) {
      in_.end_object_consumed();
      return true;
    }
    if (!in_.resume_object()) in_.syntax_error("nesting deeper than the limit");  // not reached: meta is shallow
    m2 = push(".meta");
    read_meta_entries(node);
    pop(m2);
    return false;
  }

  // Fast path for a node's canonical head, {"name": "n", "op": "o", "target": "t", "args": with plain ASCII
  // strings: read straight from the text. Anything else (other key order or spacing, escapes, an unknown op, an
  // empty name) is read again, with its errors, by the general loop.
  bool read_node_head(Node& node) {
    const size_t start = in_.offset();
    std::string_view name, op, target;
    if (in_.try_literal("{\"name\": \"") && in_.try_plain_string_rest(name) && in_.try_literal(", \"op\": \"") &&
        in_.try_plain_string_rest(op) && in_.try_literal(", \"target\": \"") && in_.try_plain_string_rest(target) &&
        in_.try_literal(", \"args\": ") && !name.empty()) {
      const auto kind = op_kind_from_string(op);
      if (kind && in_.resume_object()) {
        node.name.assign(name);
        name_hash_ = text_hash(name);
        g_.prefetch_name(name_hash_);  // its index slot, needed when the node is added
        node.op = *kind;
        node.target = intern_cached(target);
        return true;
      }
    }
    in_.rewind(start);
    return false;
  }

  // The entries of a node's meta object up to its '}' (begun by the caller).
  void read_meta_entries(Node& node) {
    std::string k;
    while (in_.next_key(k)) {
      if (k == "val"sv) {
        size_t m = push(".val");
        read_val_cached(node.val);
        pop(m);
      } else {
        std::string raw;
        in_.canonical_value(raw);
        node.meta_extra.emplace_back(k, std::move(raw));
      }
    }
  }

  // Targets, dtypes and devices through a small table of recent texts: a graph uses a few dozen, so nearly all
  // are found here, without hashing into the process-wide pool behind its lock.
  InternedStr intern_cached(std::string_view t) {
    const size_t h = FastTextHash()(t);
    RecentText& e = texts_[h & (kRecentTexts - 1)];
    if (e.hash == h && !e.text.empty() && e.text.size() == t.size() && std::memcmp(e.text.data(), t.data(), t.size()) == 0)
      return e.text;
    e = RecentText{h, InternedStr(t)};
    return e.text;
  }

  // Node lookup by name through a small table of recently read nodes (most arguments name a node a few lines
  // up): a hit stays in the cache instead of probing the graph's index, megabytes large at 200k nodes.
  Node* find_node(std::string_view name) {
    const size_t h = FastTextHash()(name);
    Recent& r = recent_[h & (kRecent - 1)];
    if (r.node && r.hash == h && r.node->name.size() == name.size() &&
        std::memcmp(r.node->name.data(), name.data(), name.size()) == 0)
      return r.node;
    Node* n = g_.find(name, h);
    if (n) r = Recent{h, n};
    return n;
  }
  void remember(Node* n) {
    const size_t h = name_hash_;
    recent_[h & (kRecent - 1)] = Recent{h, n};
  }

  // Registers `n` as a user of each of its inputs once (a node has a handful: a linear scan finds repeats).
  void add_uses(Node* n) {
    inputs_.clear();
    auto add = [this, n](Node* in) {
      if (std::find(inputs_.begin(), inputs_.end(), in) != inputs_.end()) return;
      inputs_.push_back(in);
      in->users.push_back(n);
    };
    for (const auto& a : n->args) a.visit_nodes(add);
    for (const auto& kv : n->kwargs) kv.second.visit_nodes(add);
  }

  JsonPull in_;
  std::string source_;
  std::function<void(size_t)> consumed_;
  CallCounts* calls_ = nullptr;
  const std::string* last_target_ = nullptr;
  std::ptrdiff_t* last_count_ = nullptr;
  PathBuf path_;
  Graph g_;
  std::list<Node> staged_;  // the node being read
  struct RecentText {
    size_t hash = 0;
    InternedStr text;
  };
  static constexpr size_t kRecentTexts = 256;
  std::vector<RecentText> texts_ = std::vector<RecentText>(kRecentTexts);  // intern_cached's table
  std::unordered_map<std::string, ParsedText> expr_cache_;
  std::string scratch_;  // a string value read only to be looked up
  std::vector<SymDim> dims_buffer_;
  std::deque<std::vector<Arg>> arg_buffers_;  // per nesting level (a deque: references stay valid as it grows)
  size_t arg_level_ = 0;
  std::unordered_map<int64_t, sym::Expr> const_cache_;
  std::unordered_map<std::string, ValMeta, FastTextHash, std::equal_to<>> val_cache_;
  size_t name_hash_ = 0;  // text_hash() of the name of the node being read
  bool line_hit_ = false;   // read_val_cached: the line's end was tried first
  size_t line_misses_ = 0;  // values the line's end missed but the bracket scan found in the cache
  std::vector<Node*> inputs_;  // add_uses scratch
  struct Recent {
    size_t hash = 0;
    Node* node = nullptr;
  };
  static constexpr size_t kRecent = 1024;
  std::vector<Recent> recent_ = std::vector<Recent>(kRecent);  // find_node's table (nodes never move)
};

}  // namespace

Graph read_graph_text(std::string_view text, const std::string& source) { return Reader(text, source).read(); }

Graph read_graph_file(const std::string& path) { return read_graph_file(path, nullptr); }

Graph read_graph_file(const std::string& path, CallCounts* calls) {
  if (calls) calls->clear();
  if (path == "-") return Reader(read_text_file(path), "<stdin>", {}, calls).read();
  // Map the file and hand the pages already parsed back to the kernel as the reader goes, so a large
  // graph's text and its in-memory form are not resident at the same time.
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw InputError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    ::close(fd);
    return Reader(read_text_file(path), path, {}, calls).read();
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) return Reader(read_text_file(path), path, {}, calls).read();
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{base, size};
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t released = 0;
  auto release = [&](size_t offset) {  // every 2 MB: the text resident at a time stays small beside the graph
    if (offset < released + (2u << 20)) return;
    size_t upto = (offset / page) * page;
    ::madvise(static_cast<char*>(base) + released, upto - released, MADV_DONTNEED);
    released = upto;
  };
  return Reader(std::string_view(static_cast<const char*>(base), size), path, release, calls).read();
}

std::string arg_text(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::None: return "None";
    case Arg::Kind::Bool: return a.b ? "True" : "False";
    case Arg::Kind::Int: return std::to_string(a.i);
    case Arg::Kind::Float: return format_python_float(a.f);
    case Arg::Kind::Node: return a.node->name;
    case Arg::Kind::Sym: return a.sym.str();
    case Arg::Kind::List: {
      std::string s = "[";
      for (size_t i = 0; i < a.items.size(); ++i) s += (i ? ", " : "") + arg_text(a.items[i]);
      return s + "]";
    }
    case Arg::Kind::Dtype: case Arg::Kind::Device: case Arg::Kind::Layout: case Arg::Kind::MemoryFormat:
    case Arg::Kind::Repr: case Arg::Kind::Op: return a.s;
    default: return arg_to_json(a);
  }
}

}  // namespace fxopt
