// Memory estimate of a run (peak of live meta.val tensors in graph order) and the budget check of `run`.
#include "runtime/memory_plan.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "core/ir/error.h"

namespace fxopt::rt {

namespace {

// Ops whose CPU result is a view of an operand (no new storage).
const std::set<std::string, std::less<>> kViewOps = {
    "aten.view.default",    "aten._unsafe_view.default", "aten.reshape.default", "aten.squeeze.default",
    "aten.squeeze.dim",     "aten.squeeze.dims",         "aten.unsqueeze.default", "aten.permute.default",
    "aten.transpose.int",   "aten.t.default",            "aten.expand.default",  "aten.alias.default",
    "aten.slice.Tensor",    "aten.select.int",           "aten.as_strided.default", "aten.detach.default",
    "operator.getitem",     "_operator.getitem",
};

std::string symbols_str(const SymbolValues& s) {
  std::string out;
  for (const auto& [k, v] : s) out += (out.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  return out.empty() ? "no symbols" : out;
}

struct Walker {
  const SymbolValues& symbols;
  std::vector<TensorEstimate> tensors;  // of the current node

  // Adds the tensors of `m` (tuples flattened) to `tensors`; false when a size is not determined.
  bool collect(const Node& n, const ValMeta& m, const std::string& where) {
    if (m.kind == ValMeta::Kind::Tuple) {
      bool ok = true;
      for (size_t i = 0; i < m.items.size(); ++i)
        ok = collect(n, m.items[i], where + "[" + std::to_string(i) + "]") && ok;
      return ok;
    }
    if (m.kind != ValMeta::Kind::Tensor) return true;
    const auto dt = dtype_from_name(m.tensor.dtype);
    if (!dt) return false;
    Shape shape;
    for (size_t d = 0; d < m.tensor.shape.size(); ++d) {
      const sym::Expr& e = m.tensor.shape[d].expr;
      for (const std::string& s : e.free_symbols())
        if (!symbols.count(s)) return false;  // unbacked: decided at run time
      try {
        shape.push_back(sym::evaluate(e, symbols));
      } catch (const sym::EvalError& err) {
        throw InputError("node '" + n.name + "' " + where + ".shape[" + std::to_string(d) + "] = " + e.str() + " at " +
                         symbols_str(symbols) + ": " + err.what());
      }
    }
    const std::optional<int64_t> bytes = checked_nbytes(dtype_size(*dt), shape);
    if (!bytes)
      throw InputError("node '" + n.name + "' " + where + " is " + m.tensor.dtype + " " + shape_str(shape) + " at " +
                       symbols_str(symbols) + ": impossible size: " + size_problem(dtype_size(*dt), shape));
    tensors.push_back({n.name, m.tensor.dtype, std::move(shape), *bytes});
    return true;
  }
};

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

}  // namespace

MemoryEstimate estimate_memory(const Graph& g, const SymbolValues& symbols) {
  MemoryEstimate est;
  Walker w{symbols, {}};
  std::unordered_map<const Node*, size_t> index;
  std::vector<const Node*> order;
  for (const Node& n : g.nodes()) {
    index[&n] = order.size();
    order.push_back(&n);
  }
  // A result lives until its last user has run; placeholders and the graph's outputs until the end.
  const size_t end = order.size();
  std::vector<size_t> last_use(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    last_use[i] = i;
    for (const Node* u : order[i]->users) {
      auto it = index.find(u);
      if (it == index.end()) continue;
      last_use[i] = std::max(last_use[i], u->op == OpKind::Output ? end : it->second);
    }
    if (order[i]->op == OpKind::Placeholder) last_use[i] = end;
  }
  std::vector<std::vector<size_t>> frees(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    if (last_use[i] < end) frees[last_use[i]].push_back(i);

  std::vector<int64_t> bytes(order.size(), 0);
  std::vector<TensorEstimate> all;
  int64_t live = 0;
  for (size_t j = 0; j < order.size(); ++j) {
    const Node& n = *order[j];
    if (n.op != OpKind::Output) {
      w.tensors.clear();
      if (!n.val || !w.collect(n, *n.val, "meta.val")) ++est.unknown;
      const bool view = kViewOps.count(n.target) != 0;
      for (TensorEstimate& t : w.tensors) {
        if (!view) bytes[j] = sat_add(bytes[j], t.bytes);
        all.push_back(std::move(t));
      }
      if (n.op == OpKind::Placeholder) est.input_bytes = sat_add(est.input_bytes, bytes[j]);
      live = sat_add(live, bytes[j]);
      est.peak_bytes = std::max(est.peak_bytes, live);
    }
    for (size_t i : frees[j]) live -= bytes[i];
  }
  std::sort(all.begin(), all.end(), [](const TensorEstimate& a, const TensorEstimate& b) { return a.bytes > b.bytes; });
  if (all.size() > 3) all.resize(3);
  est.largest = std::move(all);
  return est;
}

std::optional<int64_t> default_memory_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::nullopt;
  const double total = static_cast<double>(pages) * static_cast<double>(page);
  return static_cast<int64_t>(std::min(total * 0.75, 9.0e18));
}

std::optional<int64_t> parse_memory_size(std::string_view text) {
  auto bad = [&] {
    return InputError("--memory-limit '" + std::string(text) +
                      "': expected a size in bytes (e.g. 1000000000), with a unit (512MiB, 1.5GiB, 2GB) or none");
  };
  if (text == "none") return std::nullopt;
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string num(text.substr(0, i));
  std::string unit(text.substr(i));
  if (num.empty() || std::count(num.begin(), num.end(), '.') > 1 || num == ".") throw bad();
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1.0},      {"B", 1.0},     {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0},       {"kB", 1e3},     {"KB", 1e3},         {"MB", 1e6},
      {"GB", 1e9},    {"TB", 1e12},   {"K", 1024.0},   {"M", 1048576.0},    {"G", 1073741824.0},
      {"T", 1099511627776.0},
  };
  for (const auto& [u, scale] : kUnits) {
    if (unit != u) continue;
    const double v = std::strtod(num.c_str(), nullptr) * scale;
    if (!(v >= 1.0) || v > 9.0e18) throw bad();
    return static_cast<int64_t>(v);
  }
  throw bad();
}

std::string format_bytes(int64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[u]);
  return buf;
}

MemoryEstimate check_memory(const Graph& g, const SymbolValues& symbols, int64_t limit, const std::string& limit_source,
                            const std::string& graph) {
  MemoryEstimate est = estimate_memory(g, symbols);
  if (est.peak_bytes <= limit) return est;
  std::string msg = graph + ": at " + symbols_str(symbols) + " the run needs an estimated " + format_bytes(est.peak_bytes) +
                    " (peak of live tensors; inputs " + format_bytes(est.input_bytes) + "), above the memory limit " +
                    format_bytes(limit) + " (" + limit_source + "); largest tensors:";
  for (const TensorEstimate& t : est.largest)
    msg += "\n  " + t.node + ": " + t.dtype + " " + shape_str(t.shape) + " " + format_bytes(t.bytes);
  throw InputError(msg);
}

}  // namespace fxopt::rt
