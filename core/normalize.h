// Normalisation passes run before pattern matching: one spelling per computation, each change reported.
//
// The passes (default order, all_normalize_passes()):
//   view_to_reshape           aten.view.default / aten._unsafe_view.default -> aten.reshape.default (same args;
//                             the node keeps its name and meta)
//   fold_reshape_chains       reshape(reshape(x, a), b) -> reshape(x, b), skipping a whole chain of inner
//                             reshapes/views at once; each skipped one is erased unless it has other users
//   remove_identity_reshapes  reshape(x, s) -> x when meta.val proves the output shape equal to x's shape
//   canonicalize_silu         mul(z, sigmoid(z)), mul(sigmoid(z), z), div(z, add(exp(neg(z)), 1)) -> silu(z)
//   canonicalize_amax         getitem(max.dim(x, d, k), 0) -> amax(x, [d], k) when max.dim has no other user
//   canonicalize_clamp        clamp_max(clamp_min(x, lo), hi), clamp_min(clamp_max(x, hi), lo) -> clamp(x, lo, hi)
//                             when lo <= hi (numbers only; a one-sided aten.clamp counts as clamp_min/clamp_max,
//                             a lone one stays as it is)
//   canonicalize_to_copy      _to_copy(x, dtype=d) -> prims.convert_element_type(x, d) when nothing but the
//                             dtype changes
//   dce                       erase call_function nodes without users whose targets are side-effect free:
//                             aten/prims ops and pure Python operators, except in-place (name_) and out= forms,
//                             asserts/constraints, record_stream and random ops (dropping one would shift the RNG
//                             state every later random op sees). Custom ops (vllm.*, ...), torch.* functions,
//                             higher-order ops and builtins (print) are always kept, as are placeholders, get_attr,
//                             call_method/call_module nodes and the output.
//
// Semantics never change: every rewrite checks its conditions (single users of erased intermediates, the same
// operand in every place, dtypes from meta.val) and otherwise leaves the graph alone. The output uses only real
// aten/prims ops, so PyTorch can load it. Replacement nodes are created right before the node they replace and
// take its meta (val and all other keys); surviving nodes keep their names (view_to_reshape and
// fold_reshape_chains change a node in place). Rewrites compute the same values; the one exception is the
// float rounding of z*sigmoid(z) vs silu(z) (equal as functions; z/(1+exp(-z)) is how fxopt's kernels compute silu,
// so that spelling is bit-identical on fxopt's executor).
//
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"

namespace fxopt {

// One change, naming the nodes involved, e.g. "view_5 now reads convert_element_type_3 (skipped view_4); erased
// view_4" or "silu = aten.silu.default(z) replaces div = z / (1 + exp(-z)); erased div, add_45, exp, neg".
struct PassChange {
  std::string pass;
  std::string description;
};

struct NormalizeReport {
  std::vector<PassChange> changes;         // in the order they were made
  std::map<std::string, size_t> counts;    // changes per pass (every selected pass present, 0 included)
  std::map<std::string, double> seconds;   // per pass, all rounds: time in its rules (dce: its sweeps)
};

// The pass names in their default order.
std::vector<std::string> all_normalize_passes();

// Runs the selected passes to a fixed point, in rounds (capped; every rewrite shrinks the graph or removes a
// non-canonical spelling, so the cap is only a safety net). A round is one forward sweep in graph order that tries
// at each node the rules of every selected pass, in the order given, then one backward dce sweep (when selected).
// Linear in graph size per round; deterministic. Throws InputError for an unknown pass name (the message lists
// the valid names) before changing anything. Duplicates in `passes` run once; an empty list does nothing.
NormalizeReport normalize(Graph& g, const std::vector<std::string>& passes);

}  // namespace fxopt
