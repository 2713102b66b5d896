// Declarative fusion patterns (docs/patterns.md): the pattern IR, its JSON reader with precise errors,
// the scalar expression language of holes and conditions, the fusion targets, and the pattern registry.
//
// A pattern is data: captured inputs with type constraints, FX-like nodes whose arguments are literals,
// references or typed holes (int / SymInt / float / dtype variables and expressions over them), declared
// conditions, and a replacement graph that calls one fused op. The matcher (core/pattern/match.h) interprets it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ir/graph.h"
#include "core/ir/symint.h"

namespace fxopt {

enum class VarType : uint8_t { Int, Sym, Float, Dtype };
const char* to_string(VarType t);

// A bound value of a pattern variable or the value of an expression over bound variables.
struct Value {
  VarType type = VarType::Int;  // Int and Sym both hold `i`
  sym::Expr i;
  double f = 0.0;
  std::string d;

  static Value integer(sym::Expr e) { Value v; v.type = VarType::Sym; v.i = std::move(e); return v; }
  static Value real(double x) { Value v; v.type = VarType::Float; v.f = x; return v; }
  static Value dtype(std::string s) { Value v; v.type = VarType::Dtype; v.d = std::move(s); return v; }
  bool is_int() const { return type == VarType::Int || type == VarType::Sym; }
  std::string str() const;  // "s68", "128", "1e-06", "float8_e4m3fn"
};

// A scalar expression over pattern variables ("H*D//G", "-FMAX", "1/(FMAX*512)", "fp8_max(FP8)").
// Ints use Python semantics (// floors, % has the divisor's sign); "/" is float division.
struct ScalarExpr {
  enum class Op : uint8_t { Int, Float, Dtype, Var, Neg, Add, Sub, Mul, Div, FloorDiv, Mod, Call };
  Op op = Op::Int;
  int64_t ival = 0;
  double fval = 0.0;
  std::string text;            // Dtype literal or Call function name
  int var = -1;                // Var: index into Pattern::vars
  std::vector<ScalarExpr> kids;
  VarType type = VarType::Int;  // inferred result type (Int covers Sym)
};

struct VarDecl {
  std::string name;
  VarType type = VarType::Int;
  std::optional<Value> value;   // fixed by the pattern ("G": {"type": "int", "value": 128})
  std::vector<Value> one_of;    // allowed values (empty = any)
  bool boolean = false;         // "bool": an Int variable holding 0/1, matched against and emitted as a bool
};

// A pattern argument: a literal, a reference to a pattern/replacement node, a typed hole, or a list.
struct PatternArg {
  enum class Kind : uint8_t { Literal, Ref, Expr, List };
  Kind kind = Kind::Literal;
  Arg literal;
  int ref = -1;                 // node index (match nodes, or replacement nodes in a replacement)
  int expr = -1;                // index into Pattern::exprs
  std::vector<PatternArg> items;
};

// "bfloat16 [N*H, D]" / "FP8 [N, H*D]": a dtype (literal or dtype expression) and shape expressions; a replacement
// node's type may add its strides, "bfloat16 [N, H*D] stride [3*H*D, 1]" (a view; default: contiguous).
struct TypeSpec {
  int dtype_expr = -1;          // index into Pattern::exprs (Dtype)
  std::vector<int> dims;        // indices into Pattern::exprs (Int)
  std::vector<int> strides;     // empty, or one per dim (indices into Pattern::exprs (Int))
};

struct PatternNode {
  std::string name;
  bool is_input = false;        // a captured input: matches any node, constrained by `type`
  std::string target;           // call_function target (match nodes)
  std::vector<PatternArg> args;
  std::vector<std::pair<std::string, PatternArg>> kwargs;
  std::optional<TypeSpec> type; // constraint on meta.val (tensor)
  bool reshape_like = false;    // sizes compared by the resulting shape; chains of reshapes absorbed
};

struct ReplacementNode {
  std::string name;             // also the name hint of the created node
  std::string target;
  std::vector<PatternArg> args; // Ref: >= 0 a pattern input, < 0 replacement node -(k+1)
  std::vector<std::pair<std::string, PatternArg>> kwargs;
  std::vector<TypeSpec> vals;   // meta.val: one tensor, or a tuple when more than one
  bool tuple = false;
};

struct Condition {
  std::string text;             // as written: "D % G == 0"
  std::string cmp;              // == != < <= > >=
  int lhs = -1, rhs = -1;       // indices into Pattern::exprs
};

// "tolerance": how far the replacement's outputs may differ from the region's when they are run
// (region verification, `patterns --check`). Absent: bit-identical. Documented in docs/patterns.md.
struct Tolerance {
  double atol = 0.0, rtol = 0.0;   // float outputs (and fp8 outputs by value): |got - want| <= atol + rtol*|want|
  int64_t fp8_codes = 0;           // fp8 outputs: at most this many representable steps apart
  std::string reason;              // why the replacement may differ (required when any bound is nonzero)
  bool any() const { return atol > 0 || rtol > 0 || fp8_codes > 0; }
};

struct Pattern {
  std::string name;
  std::string family;           // the pattern as written (name before fragment/target expansion)
  std::string spelling;         // the spellings of its fragments: "norm=native, quant=af_v1" (empty = none)
  std::string reject;           // non-empty: a look-alike that must not fuse; a match is a near miss with this reason
  std::string source;           // file it came from ("builtin:rms_gated_fp8.json", a path)
  std::string description;
  std::vector<std::string> diagram;
  std::string fused_op;         // the op the replacement needs from the target
  int benefit = 1;
  Tolerance tolerance;                         // "tolerance" (default: bit-identical)
  bool inf_nan = false;                        // "inf_nan": true = verification also feeds inf/NaN inputs

  std::vector<VarDecl> vars;
  std::vector<ScalarExpr> exprs;
  std::vector<PatternNode> nodes;              // inputs first, then the region's nodes
  std::vector<int> outputs;                    // node indices
  int root = -1;                               // the node the matcher starts at ("root"; default outputs[0])
  std::vector<std::string> output_names;
  std::vector<Condition> conditions;
  std::vector<ReplacementNode> replacement;
  std::vector<std::pair<int, int>> replace;    // (pattern output position, replacement node index)
  int device_input = -1;                       // the input whose device new tensors get

  int var_index(std::string_view n) const;
  int node_index(std::string_view n) const;
  const std::string& root_target() const { return nodes[root].target; }
  std::string expr_str(int e) const;           // an expression as written (variables by name)
  size_t op_node_count() const;
};

// Why a pattern expression has no value for the values bound (fp8_max of a non-fp8 dtype, a division by
// zero, a symbolic value used as a number): for the matcher a reason not to match, not an error.
struct EvalUndefined : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Evaluates a pattern expression under bindings (per variable; nullopt = unbound), optionally with one
// variable overridden. Returns nullopt when a needed variable is unbound; throws EvalUndefined when the
// expression is undefined (fp8_max of a non-fp8 dtype, division by zero, a symbolic value used as a float).
std::optional<Value> eval_scalar(const Pattern& p, const ScalarExpr& e, const std::vector<std::optional<Value>>& b,
                                 int over_var = -1, const Value* over = nullptr);

// Ops with the same meaning for matching (a reshape is a reshape however it is spelled).
const std::vector<std::string>& op_aliases(std::string_view target);
bool is_reshape_like(std::string_view target);
bool is_commutative(std::string_view target);
// When a pattern expects `expected` and the graph has `actual`, the normalisation pass that would turn the
// graph's spelling into the pattern's (e.g. clamp_max -> clamp: canonicalize_clamp), or nullptr.
const char* normalizing_pass_for(std::string_view expected, std::string_view actual);
// fp8_max(dtype): FMAX of the quantisation ops (vLLM: 448 e4m3fn, 224 e4m3fnuz, 57344 e5m2).
std::optional<double> fp8_max(std::string_view dtype);

// A fusion target: the fused ops it has and the fp8 formats those ops support.
struct Target {
  std::string name;
  std::string description;
  std::vector<std::string> ops;
  std::vector<std::string> fp8_dtypes;
  bool has_op(std::string_view op) const;
  bool has_fp8(std::string_view dtype) const;
};
const std::vector<Target>& all_targets();
// Throws InputError naming the valid targets.
const Target& find_target(std::string_view name);

// Parses a pattern file (JSON text). `source` names it in errors: "F: patterns[0] (name): nodes[3]: ...".
std::vector<Pattern> parse_pattern_file(std::string_view text, const std::string& source);

// A family's variants for a target whose fused op the target lacks, left unbuilt (PatternSet::builtin(target)).
struct PrunedPattern {
  std::string family;
  std::string fused_op;
};

// A spelling variant left unbuilt because its region has an op that cannot occur in the graph being rewritten
// (PatternSet::builtin(target, available)): it could neither match nor be a near miss.
struct AbsentPattern {
  std::string family;
  std::string name;
  std::string fused_op;
  std::string source;  // "builtin:rms_norm_quant.json"
};

// Which ops can occur in a graph: `available(op)`. fxopt rewrite/match accept the graph's own call targets
// (after normalisation), their aliases, the reshape-like ops and every op a replacement can create.
using OpFilter = std::function<bool(const std::string&)>;

class PatternSet {
 public:
  // The built-in patterns (embedded in the binary).
  static PatternSet builtin();
  // The same, building only the variants whose fused op `only` has (the rest are listed in pruned(), for the
  // report's "skipped" lines): a rewrite for one target does not parse the others' hundreds of variants.
  // `available`, when given, also leaves unbuilt each spelling variant whose region needs an op it rejects (listed
  // in absent()): a rewrite of a graph without, say, the aiter ops does not build the aiter spellings.
  static PatternSet builtin(const Target& only, const OpFilter& available = {});
  // The op of every built-in replacement node whose fused op `only` has: the ops a rewrite can add to a graph.
  static std::vector<std::string> builtin_replacement_ops(const Target& only);
  void load_file(const std::string& path);         // throws InputError
  void add(Pattern p);                              // throws InputError on a duplicate name
  void add(std::vector<Pattern> ps);                // the same for several, indexed once
  // Keeps only the named patterns ("all" keeps everything). Throws InputError for an unknown name.
  void select(const std::vector<std::string>& names);
  const std::vector<Pattern>& patterns() const { return patterns_; }
  const std::vector<PrunedPattern>& pruned() const { return pruned_; }
  const std::vector<AbsentPattern>& absent() const { return absent_; }
  // Pattern indices rooted at `target` (aliases included), highest benefit first, then by name.
  const std::vector<int>* rooted_at(std::string_view target) const;

 private:
  // The built-in patterns from their prebuilt form (core/pattern/pattern_blob.h), as the JSON files would give them.
  static PatternSet builtin_prebuilt(std::string_view blob, const Target* only, const OpFilter* available);
  void reindex();
  struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<Pattern> patterns_;
  std::vector<PrunedPattern> pruned_;
  std::vector<AbsentPattern> absent_;
  std::unordered_map<std::string, std::vector<int>, StrHash, std::equal_to<>> by_root_;
  std::vector<std::pair<std::string, std::vector<int>>> few_roots_;  // linear scan when there are few
};

}  // namespace fxopt
