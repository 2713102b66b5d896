// Spelling fragments of the pattern format (docs/patterns.md, "Fragments"): a named sub-pattern with alternative
// spellings (a native ATen chain | an opaque op | an auto_functionalized wrapper ...), written once and used by
// every family pattern through a node {"op": "@name", "args": [...]}.
//
// A pattern that uses fragments stands for one concrete pattern per combination of spellings (and per entry of
// its "targets"); expand_fragments() produces them, in order, as the JSON the reader already parses. Each variant
// is tried by the matcher at its own root; the driver reports the closest variant of a family as the near miss,
// naming its spellings. A spelling may be a "reject" (a different computation that looks alike, such as PyTorch's
// F.rms_norm order): a variant with it never rewrites, and a full match is a near miss giving the reason.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace fxopt {

using PatternJson = nlohmann::ordered_json;

// The DOM nlohmann's parser builds for `text` (same values, types and key order), built with the pull parser: a
// fifth of the instructions (parsing the built-in pattern files was a fifth of a small rewrite's). False, `out`
// unspecified, for any text the pull parser refuses or reads otherwise (an integer beyond int64): the caller then
// parses with nlohmann, for its result or its error. As nlohmann's, a duplicate key keeps its first place and its
// last value, and a non-negative integer is unsigned, a negative one (and -0) signed.
bool parse_pattern_json_fast(std::string_view text, PatternJson& out);

// One concrete pattern and what it came from.
struct ExpandedPattern {
  PatternJson json;        // the pattern as the reader parses it (no "@" nodes, one fused_op/replacement)
  std::string family;      // the pattern's own name
  std::string spelling;    // "norm=native, quant=af_v1" (empty without fragments)
  std::string reject;      // non-empty: matches are reported with this reason instead of rewritten
  bool pruned = false;     // a target entry the caller does not want: json is {"fused_op": ...} only
  bool absent = false;     // a variant with an op that `op_available` rejects: json is {"name", "fused_op"} only
  // What the filters decide on (a variant built ahead of time records them, core/pattern/pattern_blob.h):
  bool expanded = false;   // one of the combinations of a pattern with fragment calls or "targets"
  bool first = false;      // ... the first of its "targets" entry (keep_op prunes the entry from there)
  std::string fused_op{};  // ... its fused op, as keep_op sees it
  std::vector<std::string> ops{};  // ... given op_available, the ops it asks about for this variant, in order
};

// At most this many variants (spelling combinations times "targets" entries) per pattern, and in all per pattern
// file: a few fragment calls multiply (9 calls of a 10-spelling fragment are 10^9 variants; the built-in families
// have at most 100 each, 333 in all). More is refused with the count, before anything is built.
constexpr size_t kMaxVariantsPerPattern = 4096;
constexpr size_t kMaxVariantsPerFile = 16384;

// How many variants expand_fragments() makes of `pattern` (1 without fragment calls or "targets"), at most
// kMaxVariantsPerPattern + 1; a call of an unknown fragment counts once (expand_fragments reports it).
size_t count_variants(const PatternJson& pattern, const PatternJson& fragments);

// Expands `pattern` (a "patterns" entry) with the fragment library `fragments` (name -> fragment object).
// `err(where, message)` reports malformed input (and more than kMaxVariantsPerPattern variants) and does not
// return.
// `keep_op(fused_op)`, when given, prunes a target entry whose fused op it rejects: one stub (pruned = true) stands
// for all of its spelling variants, which are never built.
// `op_available(op)`, when given, leaves unbuilt each spelling variant (of a pattern with fragment calls) whose
// region has a node op it rejects; a stub (absent = true) with the variant's name stands for it.
std::vector<ExpandedPattern> expand_fragments(const PatternJson& pattern, const PatternJson& fragments,
                                              const std::string& where,
                                              const std::function<void(const std::string&, const std::string&)>& err,
                                              const std::function<bool(const std::string&)>& keep_op = {},
                                              const std::function<bool(const std::string&)>& op_available = {});

}  // namespace fxopt
