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
// Every change is recorded with how to undo it (PassChange::undo); `fxopt rewrite` calls denormalize() after the
// driver, so the normalised spelling survives only inside fused regions (and with --keep-normalized). dce thus
// erases the input's own dead nodes only for the matcher's sake: denormalize() puts them back.
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
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ir/graph.h"

namespace fxopt {

// How to undo one change (recorded by normalize(), used by denormalize()): plain data. Node pointers here are
// identities only, never dereferenced unless the graph still has a node of that name at that address (the node
// may have been erased since, by a later pass or by a fusion).
struct NodeSnapshot {
  Node* id = nullptr;
  std::string name;
  OpKind op = OpKind::CallFunction;
  InternedStr target;
  std::vector<Arg> args;                                     // references: identities, as at erasure time
  std::vector<std::pair<std::string, Arg>> kwargs;
  std::optional<ValMeta> val;
  std::vector<std::pair<std::string, std::string>> meta_extra;
  Node* next = nullptr;                                      // the node right after it when it was erased
};

struct NormalizeUndo {
  enum class Kind {
    InPlace,  // `node` changed target/args in place (view_to_reshape, fold_reshape_chains)
    Replace,  // `node` was created and took over the users of erased[0] (silu, amax, clamp, to_copy)
    Remove,   // erased[0] was removed and its users (`users`) now read `node` (remove_identity_reshapes)
    Dce,      // erased[0] had no users and was erased (dce)
  };
  Kind kind = Kind::Dce;
  Node* node = nullptr;
  InternedStr pre_target, post_target;                       // InPlace: before/after; Replace: post only
  std::vector<Arg> pre_args, post_args;                      // InPlace: before/after; Replace: post only
  std::vector<std::pair<std::string, Arg>> pre_kwargs, post_kwargs;
  std::vector<NodeSnapshot> erased;                          // in erasure order (the root first)
  struct UserEdit {
    Node* user = nullptr;
    std::vector<Arg> pre_args, post_args;
    std::vector<std::pair<std::string, Arg>> pre_kwargs, post_kwargs;
  };
  std::vector<UserEdit> users;                               // Remove: each user before/after redirection
  std::vector<std::pair<Node*, std::string>> names;          // the name of every other node referenced above

  // The call (target, args, kwargs) of n before / after the change.
  void set_pre(const Node& n) {
    pre_target = n.target;
    pre_args = n.args;
    pre_kwargs = n.kwargs;
  }
  void set_post(const Node& n) {
    post_target = n.target;
    post_args = n.args;
    post_kwargs = n.kwargs;
  }
};

// One change, naming the nodes involved, e.g. "view_5 now reads convert_element_type_3 (skipped view_4); erased
// view_4" or "silu = aten.silu.default(z) replaces div = z / (1 + exp(-z)); erased div, add_45, exp, neg".
struct PassChange {
  std::string pass;
  std::string description;
  std::shared_ptr<const NormalizeUndo> undo;  // how to undo it (set by normalize())
};

struct NormalizeReport {
  std::vector<PassChange> changes;         // in the order they were made
  std::map<std::string, size_t> counts;    // changes per pass (every selected pass present, 0 included)
  std::map<std::string, double> seconds;   // per pass, all rounds: time in its rules (dce: its sweeps)
};

// The pass names in their default order.
std::vector<std::string> all_normalize_passes();

// The ops the passes create, each with the ops it is made from (a graph without any of those gets none of it;
// reshapes left out: the matcher takes every reshape spelling). For loading patterns before normalising.
struct CreatedOp {
  const char* op;
  std::vector<const char*> from;
};
const std::vector<CreatedOp>& normalize_created_ops();

// Runs the selected passes to a fixed point, in rounds (capped; every rewrite shrinks the graph or removes a
// non-canonical spelling, so the cap is only a safety net). A round is one forward sweep in graph order that tries
// at each node the rules of every selected pass, in the order given, then one backward dce sweep (when selected).
// Only the first round walks the whole graph: later ones visit, in graph order, just the nodes near a change
// (where a rule that failed may now apply), and dce starts from the nodes that may have lost their users; the
// changes and their order are those of whole sweeps. Linear in graph size; deterministic. Throws InputError for an unknown pass name (the message lists
// the valid names) before changing anything. Duplicates in `passes` run once; an empty list does nothing.
// `describe` = false leaves every PassChange::description empty (less work; the changes are the same).
NormalizeReport normalize(Graph& g, const std::vector<std::string>& passes, bool describe = true);

// What denormalize() did with each change of a NormalizeReport.
struct DenormalizeReport {
  size_t restored = 0;                     // changes undone: the input's spelling is back
  size_t fused = 0;                        // changes whose nodes a fusion consumed (nothing left to undo)
  std::vector<PassChange> kept;            // changes left in place; description says why
  std::map<std::string, size_t> restored_by_pass;
  double seconds = 0.0;
};

// Undoes, newest first, every change of `report` (made on `g` by normalize(), possibly followed by a rewrite)
// that is still there: a node a pass created and a fusion did not consume gets back exactly the nodes it
// replaced (ops, operand order, constants, kwargs, names where free, meta, position); an in-place change is
// reverted; a removed identity reshape comes back for the users that still read its input; a node dce erased
// comes back unless one of its inputs was consumed by a fusion. Nodes that fusions erased are skipped: their
// changes count as `fused`. So normalisation is invisible outside fused regions, and a graph in which nothing
// fused comes back as it was read. Linear in the number of changes: the nodes it creates or gives other inputs are
// checked to come after their inputs (looked for just before them; the whole graph is checked only when one
// lies further back).
// Fusion regions are untouched. Changes must be from this graph, and undone at most once.
DenormalizeReport denormalize(Graph& g, const NormalizeReport& report);

// "denormalize: restored N changes (...), M consumed by fusions, K kept" plus one line per kept change.
std::string denormalize_stats_text(const DenormalizeReport& r);

// The graph's CallCounts (core/ir/graph.h), by a walk over its nodes.
CallCounts count_calls(const Graph& g);
// `counts`, the graph's before `report`'s normalisation, made its counts after it from the changes' undo records
// alone (every change normalize() makes is recorded), without a walk over the graph; entries may drop to zero.
// False (`counts` unspecified) when a change has no undo record.
bool count_calls_after(CallCounts& counts, const NormalizeReport& report);

}  // namespace fxopt
