// Cuts a match's region out of its graph as a standalone graph, and builds the pattern's replacement for
// it the same way (through apply_match, the code the rewrite runs), for region verification.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/ir/graph.h"
#include "core/pattern/match.h"
#include "core/pattern/pattern.h"

namespace fxopt {

struct RegionPair {
  const Pattern* pattern = nullptr;
  int match_id = 0;
  std::string root;        // the match's root node in the source graph
  std::string bindings;    // "N=s68, H=32, ..."
  // Placeholders (the captured inputs, with their meta.val) -> the region's nodes -> an output node that
  // returns the pattern's outputs, in the pattern's order.
  Graph region;
  // The same placeholders -> the replacement's nodes -> the replacing values, in the same order.
  Graph replacement;
  // Placeholder name -> the source graph's node it stands for.
  std::vector<std::pair<std::string, std::string>> inputs;
  // Regions with the same key are the same computation (same pattern, bindings, ops, arguments and
  // types, up to node names): verifying one verifies all.
  std::string key;
  // The same region as the input graph spelled it, before normalisation (same placeholders and outputs), when
  // that differs from `region` (e.g. z*sigmoid(z) where the region has silu(z)); set by RegionCollector
  // when it is given the input graph and the region can be found in it.
  std::optional<Graph> spelling;
  std::string spelling_note;  // why there is no `spelling` although the input graph was given, if so
};

// Throws InputError when the region cannot stand alone (a captured input without meta.val).
// The graph's nodes must be numbered (Node::order increasing in graph order), as in the rewrite driver.
RegionPair cut_region(const Graph& g, const Match& m, int match_id);

// Collects the regions of a rewrite (call add() from RewriteOptions::before_apply). A region identical to one
// already collected is only counted: its replacement is not built and nothing of it is kept, so 4 672 matches
// of one layer cost one pair.
class RegionCollector {
 public:
  RegionCollector() = default;
  // `input`: the graph before normalisation (its nodes keep their names through normalisation), so that each
  // distinct region is also verified as the input spelled it. Must outlive the collector.
  explicit RegionCollector(const Graph* input) : input_(input) {}
  void add(const Graph& g, const Match& m, int match_id);
  const std::vector<RegionPair>& distinct() const { return distinct_; }
  // Matches per pattern, in order of first appearance.
  const std::vector<std::pair<std::string, size_t>>& matches() const { return matches_; }
  size_t total() const { return total_; }

 private:
  std::vector<RegionPair> distinct_;
  std::set<std::string> keys_;
  std::vector<std::pair<std::string, size_t>> matches_;
  size_t total_ = 0;
  const Graph* input_ = nullptr;
};

// The region of `r` as `input` spells it: from the nodes of the same names as r's outputs back to the nodes of
// the same names as its captured inputs. nullopt (with `why`) when it cannot be found there exactly.
std::optional<Graph> cut_input_spelling(const Graph& input, const RegionPair& r, std::string& why);

}  // namespace fxopt
