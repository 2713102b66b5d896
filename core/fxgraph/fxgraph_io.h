// Reading and writing fxgraph v1 documents (spec/fxgraph.md): precise errors in, stable canonical text out.
#pragma once

#include <string>
#include <string_view>

#include "core/ir/graph.h"

namespace fxopt {

// Reads a graph from a file ("-" = standard input). Throws InputError naming the file and the JSON path
// or node (e.g. "g.json: nodes[12] (mul_35): args[1]: unknown node 'foo'") or, for malformed JSON, the
// line and column.
Graph read_graph_file(const std::string& path);
// The same; `calls` receives the graph's call counts (count_calls() in core/rewrite/normalize.h), counted as the nodes
// are read: a walk over a large graph's nodes after reading it misses the cache at every node.
Graph read_graph_file(const std::string& path, CallCounts* calls);
// Reads a graph from text; `source` names it in error messages.
Graph read_graph_text(std::string_view text, const std::string& source);

// The canonical text: fixed key order, one node per line, floats as Python's repr.
std::string write_graph_text(const Graph& g);
// Writes to `path` atomically (temporary file + rename, only on success); "-" or "" = standard output.
// A symlink is followed (its target replaced); an existing device or FIFO is written into, not replaced.
void write_graph_file(const Graph& g, const std::string& path);

// Writes any text atomically to `path` ("-" or "" = standard output). Throws InputError on failure.
void write_text_atomic(const std::string& path, std::string_view text);
// Reads a whole file ("-" = standard input). Throws InputError when it cannot be read.
std::string read_text_file(const std::string& path);

// Canonical encodings shared with other writers (diff, reports).
std::string format_python_float(double v);      // 448.0, 1e-06, 4.359654017857143e-06, inf, nan
std::string json_quote(std::string_view s);     // JSON string, ASCII-only like Python's json.dumps
std::string arg_to_json(const Arg& a);          // one argument value, canonical JSON text
std::string arg_text(const Arg& a);             // Python-like text of an argument (nodes by name), for messages
std::string val_to_json(const ValMeta& v);      // meta.val, canonical JSON text

}  // namespace fxopt
