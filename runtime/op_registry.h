// The op registry of the executor: one row per op overload (its PyTorch schema decoded once into typed
// arguments, a meta rule giving the output dtype/shape/strides, the dtypes each backend takes, the CPU
// and GPU compute, placement), looked up by FX target.
//
// Quick start: adding an op
//   1. Compute: a function `Value my_op(const OpArgs& a, ExecContext& ctx)` in runtime/cpu/<family>.cpp,
//      declared in runtime/cpu/ops.h. Read arguments by schema position: a.tensor(0), a.i64(1),
//      a.ints(2), a.opt_dtype(3), a.f64(4), a.flag(5), a.scalar(6) (a number Value), a.str(7).
//      Allocate the result from the meta rule: `Tensor out = a.empty_out();` (dtype and shape of the
//      meta result; a.out_meta(i) for item i of a tuple). Throw InputError for bad values (an index out
//      of range, ...): the executor prefixes the node name and target.
//   2. Meta: a function `std::optional<Value> meta_my_op(const OpArgs& a)` giving the result with meta
//      tensors (Tensor::meta(dtype, shape): no storage; never read tensor data here). Return nullopt
//      when the shape depends on data. Shape-only ops (views, SymInt arithmetic) need no meta: their
//      compute runs on meta tensors.
//   3. Row: in runtime/ops/<family>.cpp, e.g.
//        {.target = "aten.cumsum.default",
//         .schema = "cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
//         .meta = meta_cumsum, .cpu = cpu::cumsum},
//      optional: .cpu_dtypes / .gpu_dtypes (default: every dtype on the CPU), .gpu = FXOPT_GPU(name)
//      (declared in runtime/gpu_ops.h, defined in the GPU backend; nullptr runs the node on the CPU),
//      .gpu_when = a predicate on the arguments (e.g. alpha == 1) for what the GPU kernel covers,
//      .shape_only = true (compute touches only shapes/strides: runs where its input lives, no copies).
//   4. A new family file: add one line FXOPT_OP_FAMILY(<family>) to runtime/ops/families.def and define
//      `std::span<const OpRow> op_rows_<family>()` in runtime/ops/<family>.cpp.
//   5. Tests: a case in tests/test_cpu_ops.cpp (call_op(target, args)); for a GPU row, its shapes in
//      tests/gpu/test_backend_ops.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/backend.h"

namespace fxopt::rt {

// ---- schemas ----

// The types of PyTorch's schema language the executor decodes.
enum class ArgType : uint8_t {
  Tensor, Int, SymInt, Float, Bool, Str, ScalarType, Scalar, Layout, Device, MemoryFormat, Generator, Any
};

struct ArgSpec {
  std::string name;
  ArgType type = ArgType::Any;
  bool list = false;           // T[] (int[2], Tensor[], Tensor?[])
  int64_t list_size = 0;       // N of T[N] (an int in place of int[N] is repeated N times); 0: any
  bool optional = false;       // T? or T[]?
  bool item_optional = false;  // T?[]
  bool kwarg_only = false;     // after `*`
  std::optional<Value> default_value;
};

struct Schema {
  std::string name;      // "add" (namespace dropped)
  std::string overload;  // "Tensor"; empty for the default overload
  std::vector<ArgSpec> args;
  std::vector<ArgType> returns;
  bool returns_list = false;  // -> Tensor[]
};

// Parses "add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor" (an optional "aten::"
// prefix is accepted). Throws InputError naming the schema and the position of a syntax error.
Schema parse_schema(std::string_view text);
const char* to_string(ArgType t);

// ---- decoded arguments ----

// A node's arguments matched to its schema: one Value per schema argument, in schema order, defaults
// filled in, kinds checked (a tensor where Tensor is declared, ...). The accessors index by schema
// position and do not throw for well-typed rows (a wrong accessor for the declared type is a bug).
class OpArgs {
 public:
  OpArgs(const Schema& schema, const Node& node, std::vector<Value> values)
      : schema_(&schema), node_(&node), v_(std::move(values)) {}

  const Node& node() const { return *node_; }
  const Schema& schema() const { return *schema_; }
  size_t size() const { return v_.size(); }
  const Value& operator[](size_t i) const { return v_.at(i); }
  bool is_none(size_t i) const { return v_.at(i).kind == Value::Kind::None; }

  // A Tensor argument may hold a Python number (FX passes wrapped scalars, e.g. mul.Tensor(x, 0.5)):
  // elementwise ops read a[i] as a Value; tensor(i) throws InputError for a number.
  const Tensor& tensor(size_t i) const;
  const Tensor* opt_tensor(size_t i) const;                 // nullptr for None
  std::vector<const Tensor*> tensors(size_t i) const;       // Tensor[] / Tensor?[] (nullptr items for None)
  int64_t i64(size_t i) const;
  std::optional<int64_t> opt_i64(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;                // int[] (empty for None)
  std::optional<std::vector<int64_t>> opt_ints(size_t i) const;
  double f64(size_t i) const;                               // float / Scalar as a double
  std::optional<double> opt_f64(size_t i) const;
  bool flag(size_t i) const;
  const Value& scalar(size_t i) const;                      // Scalar: an Int, Float or Bool Value
  DType dtype(size_t i) const;                              // ScalarType
  std::optional<DType> opt_dtype(size_t i) const;
  const std::string& str(size_t i) const;

  // The meta rule's result for this call (set by the executor before compute; nullptr in meta rules and
  // for data-dependent results).
  const Value* meta() const { return meta_; }
  void set_meta(const Value* m) { meta_ = m; }
  // The meta result's tensor (item `item` of a tuple result).
  const Tensor& out_meta(size_t item = 0) const;
  // A contiguous host tensor shaped like out_meta(item).
  Tensor empty_out(size_t item = 0) const;

 private:
  const Schema* schema_;
  const Node* node_;
  std::vector<Value> v_;
  const Value* meta_ = nullptr;
};

// Matches positional and keyword values to the schema. Throws InputError naming the argument.
OpArgs decode_args(const Schema& schema, const Node& node, const KernelArgs& in);

// ---- rows ----

// A set of dtypes (bit i = DType i).
struct DTypeSet {
  uint32_t bits = 0;
  constexpr DTypeSet() = default;
  constexpr DTypeSet(std::initializer_list<DType> ds) {
    for (DType d : ds) bits |= 1u << static_cast<unsigned>(d);
  }
  constexpr bool has(DType d) const { return (bits >> static_cast<unsigned>(d)) & 1u; }
  constexpr bool empty() const { return bits == 0; }
  constexpr DTypeSet operator|(DTypeSet o) const { DTypeSet s; s.bits = bits | o.bits; return s; }
  std::string str() const;  // "float32, bfloat16"
};

inline constexpr DTypeSet kIntDTypes{DType::Bool, DType::U8, DType::I8, DType::I16, DType::I32, DType::I64};
inline constexpr DTypeSet kFloatDTypes{DType::F16, DType::BF16, DType::F32, DType::F64};  // no fp8
inline constexpr DTypeSet kFp8DTypes{DType::F8E4M3FN, DType::F8E4M3FNUZ, DType::F8E5M2};
inline constexpr DTypeSet kAllDTypes = kIntDTypes | kFloatDTypes | kFp8DTypes;

using ComputeFn = Value (*)(const OpArgs& a, ExecContext& ctx);
using MetaFn = std::optional<Value> (*)(const OpArgs& a);

struct OpRow {
  const char* target = nullptr;  // the FX target: "aten.add.Tensor"
  const char* schema = nullptr;  // PyTorch's schema text, as in native_functions.yaml
  MetaFn meta = nullptr;         // nullptr: shape_only ops run their compute on meta tensors
  ComputeFn cpu = nullptr;
  ComputeFn gpu = nullptr;       // FXOPT_GPU(name); nullptr: the node runs on the CPU on a GPU run
  DTypeSet cpu_dtypes = kAllDTypes;  // every tensor argument and result must be in the set
  DTypeSet gpu_dtypes = {};
  bool (*gpu_when)(const OpArgs& a) = nullptr;  // an extra condition for the GPU compute (nullptr: always)
  bool shape_only = false;       // compute reads only shapes/strides (views, SymInt ops): no copies
};

// A registered row with its parsed schema.
struct OpEntry {
  const OpRow* row = nullptr;
  Schema schema;
  // The meta result of a call: row.meta, or the CPU compute on meta tensors for shape-only rows.
  std::optional<Value> run_meta(const OpArgs& a) const;
};

// The row of a target; nullptr when the executor lacks it.
const OpEntry* find_op(std::string_view target);
// Every registered row, in registration order.
const std::vector<const OpEntry*>& all_ops();

// Whether a backend's dtype set takes every tensor in `args` and in the result `out` (when known);
// `why` gets "float64 argument 'self'" for the first one it does not.
bool dtypes_supported(DTypeSet set, const OpArgs& args, const Value* out, std::string* why);

// Runs one op on the CPU as the executor would (decode, meta, compute, result checked against the meta
// rule): for tests and tools. `node` names the op in errors (a dummy when null).
Value call_op(std::string_view target, const KernelArgs& in, ExecContext& ctx, const Node* node = nullptr);

// Compares a result with the meta rule's (dtype and shape, recursively); an error names both.
void check_against_meta(const Value& got, const Value& meta, const std::string& where);

// ---- helpers for meta rules and kernels ----
Value meta_tensor(DType d, Shape shape);  // Value::of(Tensor::meta(d, shape)) (contiguous strides)

}  // namespace fxopt::rt
