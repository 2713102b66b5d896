// `fxopt patterns --lint`: static checks of a pattern set (op names, unbindable variables, conditions that
// never or always hold, replacement types against the outputs' declared types, rewrite loops) and, over
// given graphs, overlapping matches of different patterns (which one the driver takes) and confirmed loops.
#pragma once

#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/pattern/pattern.h"

namespace fxopt {

struct LintFinding {
  std::string severity;  // "error" | "warning"
  std::string check;     // "parse" "op" "unbound-variable" "condition" "replacement-type" "overlap" "rewrite-loop"
  std::string pattern;   // the pattern (or "a, b" for a pair); empty for a whole file
  std::string where;     // "nodes.xsq", "conditions[1]", "replacement.q_fused", a graph file
  std::string message;
};

struct LintReport {
  std::vector<std::string> patterns;  // the patterns linted, "name (source)"
  std::vector<std::string> graphs;
  std::vector<LintFinding> findings;
  size_t errors() const;
  size_t warnings() const;
};

struct LintOptions {
  std::vector<std::string> pattern_files;  // linted with the built-in patterns (the set `rewrite` would use)
  std::vector<std::string> graphs;         // graphs to look for overlaps and loops on
  std::string target = "rocm-aiter";
};

// Loads the built-in patterns and the files (a file that does not parse, or repeats a name, is an error
// finding, not an exception) and lints the set. Throws InputError for an unreadable graph or unknown target.
LintReport lint_patterns(const LintOptions& options);

// Lints one loaded set against already loaded graphs (normalised here; they are changed).
LintReport lint_pattern_set(const PatternSet& ps, std::vector<std::pair<std::string, Graph>>& graphs,
                            const Target& target);

std::string lint_text(const LintReport& r);
std::string lint_json(const LintReport& r);

}  // namespace fxopt
