// The matcher: interprets a declarative Pattern at one root node, read-only, and either returns the match
// (every pattern node's graph node and every variable's binding) or the first failing condition as a path.
//
// Structure first (ops, literal arguments, references; commutative operands tried both ways), then the
// region's closure (no intermediate used outside it), then the equations collected on the way are solved
// (SymInt variables bind to expressions, N := s68; a shape expression must be provably equal to the graph's
// shape), then the declared conditions, then the target's fp8 formats. Bindings are committed to the
// result only when everything succeeded (XLA's pattern_matcher discipline).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/pattern/pattern.h"

namespace fxopt {

struct MatchContext {
  sym::RangeMap ranges;                   // symbol ranges of the graph (for proofs)
  const Target* target = nullptr;         // checks the fp8 formats of the fused op; nullptr = no check
  // Nodes already taken by another match. A node whose Node::order is at least order_base has been numbered
  // in the current pass and is looked up in `consumed` at order - order_base; any other node is in
  // `consumed_ahead` if taken (the driver numbers nodes as its scan reaches them).
  const std::vector<uint8_t>* consumed = nullptr;
  size_t order_base = 0;
  const std::vector<const Node*>* consumed_ahead = nullptr;
};

struct Match {
  const Pattern* pattern = nullptr;
  Node* root = nullptr;
  std::vector<Node*> nodes;               // per pattern node (inputs included)
  std::vector<Node*> region;              // the nodes the rewrite removes: matched ops + absorbed reshapes
  std::vector<std::optional<Value>> bindings;  // per pattern variable
  // "N=s68, H=32, D=128, ..." in declaration order.
  std::string bindings_str() const;
};

struct MatchFailure {
  std::string where;    // "groups (view_5)", "condition", "target", "region"
  std::string reason;   // "shape[2]: 64 ≠ G=128"
  size_t progress = 0;  // pattern nodes matched when it failed (how near the miss was)
  bool structural = true;  // false once the whole structure matched (bindings, conditions, target)
  bool wrong_op = false;   // failed because a node had another op (not a value of a matching op)
  bool spelling = false;   // the graph spells an op differently than the normal form (normalisation fixes it)
  bool literal = false;    // a literal or hole argument of a node whose op matched differed (not an operand)
  bool layout = false;     // a captured input has another rank: the graph is another layout (a pattern of its own)
  std::string str() const { return where.empty() ? reason : where + ": " + reason; }
};

class Matcher {
 public:
  // `ctx` must outlive the Matcher and not change while it is used (solved bindings are reused across roots).
  Matcher(const Pattern& p, const MatchContext& ctx);
  Matcher(const Matcher&) = delete;             // holds pointers into itself
  Matcher& operator=(const Matcher&) = delete;
  // Tries the pattern with its root (outputs[0]) at `root`. Never mutates the graph.
  bool match(Node* root, Match& out, MatchFailure* failure);
  // Whether a failure is worth reporting as a near miss (the structure was mostly there).
  bool is_near_miss(const MatchFailure& f) const {
    if (f.layout) return false;  // (N*H, D) rows met by the (N, H, D) pattern: the other layout's pattern speaks
    if (!f.structural) return true;
    if (f.spelling && f.progress >= 1) return true;  // the root matched; normalisation would fix the rest
    if (!f.wrong_op && f.progress >= 3) return true;  // the ops were right up to here; a value differed
    return f.progress >= std::max<size_t>(3, op_nodes_ / 3);
  }
  // Whether failures carry their text (where/reason); progress and flags are always recorded.
  void set_record_reasons(bool on) { record_reasons_ = on; }
  // The failure of the last match() that failed.
  const MatchFailure& last_failure() const { return fail_; }

 private:
  struct Equation {
    int pnode;            // where it came from (for messages)
    const Node* node;
    const char* what;     // "args", "shape", "val.shape", "val.dtype", "kwargs", "rank"
    int idx, idx2;
    const std::string* key;
    int expr;
    VarType kind;         // Int (incl. Sym), Float, Dtype: the actual value's kind
    sym::Expr iv;
    double fv;
    std::string dv;
  };

  bool match_node(int p, Node* n);
  // Whether match_node(root) is certain to fail on one of the root's own values (a literal, a dtype outside its
  // one_of, a number where a dtype belongs), after everything before them held: most attempts end there.
  bool root_value_fails(const Node* n) const;
  bool match_arg(int p, const Node* n, const PatternArg& pa, const Arg& a, const char* what, int idx, int idx2,
                 const std::string* key);
  bool match_reshape(int p, Node* n);
  bool match_type(int p, const Node* n, const TypeSpec& t, const ValMeta* val);
  bool match_remaining();
  bool check_region(Match& out);
  bool solve();
  bool check_conditions(std::vector<char>& done, bool final);
  bool check_target();

  void assign(int p, Node* n);
  void undo_to(size_t trail_size, size_t eq_size, size_t absorbed_size);
  bool fail(int p, const Node* n, std::string reason);
  bool fail_at(std::string where, std::string reason, bool structural);
  template <class F>
  bool fail_lazy(int p, const Node* n, F&& reason);
  std::string label(const Equation& e) const;
  std::string where(int p, const Node* n) const;
  bool consumed(const Node* n) const {
    if (n->order >= ctx_.order_base) {
      size_t i = n->order - ctx_.order_base;
      return ctx_.consumed && i < ctx_.consumed->size() && (*ctx_.consumed)[i];
    }
    return consumed_ahead(n);
  }
  bool consumed_ahead(const Node* n) const;
  void add_int(int p, const Node* n, const char* what, int idx, int idx2, const std::string* key, int expr, sym::Expr v);

  // Evaluation of pattern expressions under the current bindings; nullopt when a variable is unbound.
  std::optional<Value> eval(const ScalarExpr& e, int over_var = -1, const Value* over = nullptr) const;
  bool bind(int var, const Value& v, const Equation& e);
  bool equal_values(const Value& a, const Value& b, bool exact_float, sym::Truth* truth) const;

  // Per pattern node, looked up once: its target and accepted spellings as interned texts (a graph node's target
  // compares by pointer), and whether its operands may be swapped.
  struct NodeInfo {
    const std::string* target = nullptr;
    std::vector<const std::string*> aliases;  // op_aliases(target), interned (empty when none)
    bool commutative = false;
  };
  // The equations of the last successful solve() and what it bound: a structure that yields the same equations
  // (same expressions, same actual values) solves to the same bindings (identical layers of a model).
  struct SolvedKey {
    int expr;
    VarType kind;
    sym::Expr iv;
    double fv;
    std::string dv;
  };
  bool same_equations() const;
  void remember_solution();

  const Pattern& p_;
  const MatchContext& ctx_;
  std::vector<NodeInfo> info_;
  std::vector<std::vector<const std::string*>> one_of_dtypes_;  // per variable: its allowed dtypes, interned
  // A value argument of the root and the first check match_arg makes on it.
  struct RootValue {
    int arg;
    enum class Check : uint8_t { Literal, Dtype, DtypeOneOf, Float, Int } check;
    const PatternArg* pa;                             // Literal
    const std::vector<const std::string*>* allowed;   // DtypeOneOf: one_of_dtypes_ of its variable
    bool boolean;                                     // Int: a bool is accepted (a `bool` variable)
    bool fails(const Arg& a) const;
  };
  std::vector<RootValue> root_values_;  // empty: no quick rejection
  size_t root_args_ = 0, root_kwargs_ = 0;
  bool root_swappable_ = false;         // match_node tries the root's two operands both ways
  std::vector<SolvedKey> solved_eqs_;
  std::vector<std::optional<Value>> solved_bind_;
  bool have_solved_ = false;
  std::vector<Node*> map_;
  std::vector<int> trail_;
  std::vector<Equation> eqs_;
  std::vector<Node*> absorbed_;
  std::vector<std::optional<Value>> bind_;
  std::vector<char> eq_done_, cond_done_;  // solve()'s scratch, kept to avoid allocating per candidate
  std::vector<int> vars_scratch_;
  std::vector<Node*> region_sorted_;      // check_region's scratch
  size_t op_nodes_ = 0;                    // p_.op_node_count()
  MatchFailure fail_;
  bool have_fail_ = false;
  bool recorded_ = false;       // the last fail call replaced fail_
  bool record_reasons_ = true;
  Node* root_ = nullptr;
};

}  // namespace fxopt
