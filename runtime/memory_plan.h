// The memory `run` needs, estimated from the graph's meta.val at the bound symbol values before anything
// is allocated, so an impossible or too large run is refused naming the tensors instead of dying later.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ir/graph.h"
#include "runtime/backend.h"

namespace fxopt::rt {

struct TensorEstimate {
  std::string node;   // the producing node
  std::string dtype;  // torch's dtype name
  Shape shape;        // concrete, at the bound symbol values
  int64_t bytes = 0;
};

struct MemoryEstimate {
  // The most bytes live at once when nodes run in graph order: the inputs (alive for the whole run), each
  // node's result until its last user has run (the graph's outputs until the end). Views (reshape, view,
  // expand, permute, ...) share their operand's storage and count 0. Kernels' scratch is not counted, nor
  // results whose meta.val is missing or has sizes the bound symbols do not determine (`unknown`).
  int64_t peak_bytes = 0;
  int64_t input_bytes = 0;
  size_t unknown = 0;
  std::vector<TensorEstimate> largest;  // the largest tensors, biggest first (at most 3)
};

// Throws InputError naming the node, its dtype, shape and the reason when a meta.val tensor has an
// impossible size at `symbols` (a negative size, an element or byte count past int64, a size expression
// that overflows).
MemoryEstimate estimate_memory(const Graph& g, const SymbolValues& symbols);

// The default budget: 3/4 of the machine's physical memory (nullopt when the OS does not say).
std::optional<int64_t> default_memory_limit();

// "1000000", "512MiB", "1.5GiB", "2GB" (KiB MiB GiB TiB are powers of 1024; kB MB GB TB of 1000; a bare
// number is bytes) or "none" (nullopt: no limit). Throws InputError("--memory-limit ...") otherwise.
std::optional<int64_t> parse_memory_size(std::string_view text);

// "1.50 GiB", "312 bytes".
std::string format_bytes(int64_t bytes);

// estimate_memory, then InputError when the peak exceeds `limit` (naming the estimate, the limit, where
// the limit came from, the symbol values and the largest tensors). `graph` names the graph in messages.
MemoryEstimate check_memory(const Graph& g, const SymbolValues& symbols, int64_t limit, const std::string& limit_source,
                            const std::string& graph);

}  // namespace fxopt::rt
