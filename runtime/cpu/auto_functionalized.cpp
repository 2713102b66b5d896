// higher_order.auto_functionalized and auto_functionalized_v2: a mutating custom op in functional form, run by the
// op's functional meaning (cpu::find_mutating_op). v1 gives the op's arguments as keywords and returns
// (op result, new value of each mutated argument in schema order); v2 replaces each mutated argument by an index
// into `_all_bases` (`_<arg>_base_index`) and returns (op result, new value of each base).
#include "runtime/cpu/rms_norm_quant.h"

#include "core/ir/error.h"

namespace fxopt::rt::cpu {
namespace {

const MutatingOp& op_of(const KernelArgs& in) {
  if (in.args.empty() || in.args[0].kind != Value::Kind::Opaque)
    throw InputError("the first argument must be the operator ({\"op\": \"ns.name.overload\"})");
  const MutatingOp* op = find_mutating_op(in.args[0].s);
  if (!op) throw InputError("no functional meaning is known for the operator " + in.args[0].s);
  if (in.args.size() != 1) throw InputError("the operator's arguments must be keywords");
  return *op;
}

void check_keys(const MutatingOp& op, const KernelArgs& in, bool v2) {
  for (const auto& [k, v] : in.kwargs) {
    bool known = false;
    for (const char* a : op.args) known = known || k == a;
    if (v2 && !known) {
      known = k == "_all_bases";
      for (const char* m : op.mutated) known = known || k == std::string("_") + m + "_base_index";
      for (const char* m : op.mutated)
        for (const char* suffix : {"_size", "_stride", "_storage_offset", "_slice_dim", "_slice_start", "_slice_end"})
          if (k == std::string("_") + m + suffix)
            throw InputError("the mutated argument '" + std::string(m) + "' is a view of its base (" + k +
                             "), which is not supported");
    }
    if (!known) throw InputError("'" + k + "' is not an argument of " + op.target);
  }
}

Value af_v1(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  const MutatingOp& op = op_of(in);
  check_keys(op, in, false);
  KernelArgs call;
  call.kwargs = in.kwargs;
  std::vector<Value> out{Value::none()};
  for (Value& v : op.run(node, call, rb)) out.push_back(std::move(v));
  return Value::list(std::move(out));
}

Value af_v2(const Node& node, const KernelArgs& in, const RowsBackend& rb) {
  const MutatingOp& op = op_of(in);
  check_keys(op, in, true);
  const Value* bases = in.get(SIZE_MAX, "_all_bases");
  if (!bases || bases->kind != Value::Kind::List) throw InputError("'_all_bases' must be a list of tensors");
  KernelArgs call;
  for (const auto& [k, v] : in.kwargs)
    if (k[0] != '_') call.kwargs.emplace_back(k, v);
  std::vector<int64_t> base_of(op.mutated.size(), -1);
  for (size_t m = 0; m < op.mutated.size(); ++m) {
    const Value* idx = in.get(SIZE_MAX, std::string("_") + op.mutated[m] + "_base_index");
    if (!idx || idx->kind == Value::Kind::None) {
      call.kwargs.emplace_back(op.mutated[m], Value::none());
      continue;
    }
    if (idx->kind != Value::Kind::Int || idx->i < 0 || idx->i >= static_cast<int64_t>(bases->items.size()))
      throw InputError(std::string("_") + op.mutated[m] + "_base_index must index _all_bases (" +
                       std::to_string(bases->items.size()) + " bases), got " + describe(*idx));
    base_of[m] = idx->i;
    call.kwargs.emplace_back(op.mutated[m], bases->items[static_cast<size_t>(idx->i)]);
  }
  std::vector<Value> updated = op.run(node, call, rb);
  std::vector<Value> out{Value::none()};
  for (const Value& b : bases->items) out.push_back(b);
  for (size_t m = 0; m < op.mutated.size(); ++m)
    if (base_of[m] >= 0) out[static_cast<size_t>(base_of[m]) + 1] = updated[m];
  return Value::list(std::move(out));
}

}  // namespace

Value auto_functionalized(const Node& node, const KernelArgs& in, bool v2, const RowsBackend& rb) {
  return v2 ? af_v2(node, in, rb) : af_v1(node, in, rb);
}

}  // namespace fxopt::rt::cpu
