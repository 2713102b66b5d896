// The op names PyTorch builds and vLLM have, compactly (namespace -> op -> overloads), so that
// `fxopt patterns --lint` can tell a typo from a real op and suggest the nearest known name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fxopt {

enum class OpCheck : uint8_t {
  Known,            // a known op (or a namespace whose ops fxopt does not list)
  BadShape,         // not "namespace.op.overload" / "_operator.op"
  UnknownOp,        // a namespace fxopt lists completely (aten, prims, _operator) lacks the op
  UnknownOverload,  // the op exists, the overload does not
  UnlistedOp,       // a namespace fxopt lists partly (vllm, higher_order) lacks the op: may be new
  UnknownNamespace, // a namespace fxopt does not know (a custom op library?)
};

struct OpCheckResult {
  OpCheck kind = OpCheck::Known;
  std::string suggestion;  // the nearest known target ("aten.pow.Tensor_Scalar"), or empty
  std::string detail;      // the overloads that exist, the namespaces fxopt knows, ...
};

// Checks a call_function target. `extra` adds known targets (the targets' fused ops, the built-in patterns').
OpCheckResult check_op_name(std::string_view target, const std::vector<std::string>& extra = {});

// Levenshtein distance (for suggestions).
size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace fxopt
