// denormalize(): undoes the normalisation changes that survived the rewrite, newest first, so that outside the
// fused regions the graph keeps the spelling it was read with (see core/rewrite/normalize.h).
//
// Identities. An undo record names nodes by the address they had then, plus their name. A recorded node is
// looked up, in this order: (1) in the entry's local map, which pairs each reference of the changed node's
// recorded "after" state with what that node reads now (a fusion may have redirected an input to its
// replacement); (2) in `binding_`: nodes this run recreated, and nodes erased by normalisation whose undo did not
// happen (bound to nullptr, so a reused address cannot pose as them); (3) in the graph: the node of that name, if
// it sits at that address. Going newest first means every record sees the graph as it was right after its change,
// except where a fusion changed it, and those places are detected by the lookups failing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <list>
#include <unordered_map>
#include <unordered_set>

#include "core/ir/error.h"
#include "core/rewrite/normalize.h"

namespace fxopt {
namespace {

using Kwargs = std::vector<std::pair<std::string, Arg>>;
// Recorded identity -> the node it stands for now, for one undo entry. An entry names a handful of nodes, so
// the pairs sit in a vector searched linearly (no hash table built and freed per entry); past 16 pairs a hash
// index takes over, so a record naming many nodes stays linear.
class LocalMap {
 public:
  using value_type = std::pair<const Node*, Node*>;
  using const_iterator = std::vector<value_type>::const_iterator;

  std::pair<const_iterator, bool> emplace(const Node* key, Node* value) {
    if (auto it = find(key); it != end()) return {it, false};
    v_.emplace_back(key, value);
    if (v_.size() > kLinear) index_.emplace(key, v_.size() - 1);
    if (v_.size() == kLinear + 1)
      for (size_t i = 0; i < kLinear; ++i) index_.emplace(v_[i].first, i);
    return {v_.end() - 1, true};
  }
  const_iterator find(const Node* key) const {
    if (v_.size() > kLinear) {
      auto it = index_.find(key);
      return it == index_.end() ? end() : v_.begin() + static_cast<std::ptrdiff_t>(it->second);
    }
    return std::find_if(v_.begin(), v_.end(), [key](const value_type& e) { return e.first == key; });
  }
  const_iterator begin() const { return v_.begin(); }
  const_iterator end() const { return v_.end(); }

 private:
  static constexpr size_t kLinear = 16;
  std::vector<value_type> v_;
  std::unordered_map<const Node*, size_t> index_;  // once there are more than kLinear pairs
};

// Same value, node references aside (those are paired into `local`). False when the shapes differ.
bool pair_args(const Arg& recorded, const Arg& now, LocalMap& local) {
  if (recorded.kind != now.kind) return false;
  switch (recorded.kind) {
    case Arg::Kind::None: return true;
    case Arg::Kind::Bool: return recorded.b == now.b;
    case Arg::Kind::Int: return recorded.i == now.i;
    case Arg::Kind::Float:
      return recorded.f == now.f || (std::isnan(recorded.f) && std::isnan(now.f));
    case Arg::Kind::Str: case Arg::Kind::Dtype: case Arg::Kind::Device: case Arg::Kind::Layout:
    case Arg::Kind::MemoryFormat: case Arg::Kind::Repr: case Arg::Kind::Op:
      return recorded.s == now.s;
    case Arg::Kind::Sym: return recorded.sym.str() == now.sym.str();
    case Arg::Kind::Node: {
      auto [it, fresh] = local.emplace(recorded.node, now.node);
      return fresh || it->second == now.node;
    }
    case Arg::Kind::List:
      if (recorded.items.size() != now.items.size()) return false;
      for (size_t i = 0; i < recorded.items.size(); ++i)
        if (!pair_args(recorded.items[i], now.items[i], local)) return false;
      return true;
    case Arg::Kind::Dict:
      if (recorded.dict.size() != now.dict.size()) return false;
      for (size_t i = 0; i < recorded.dict.size(); ++i)
        if (recorded.dict[i].first != now.dict[i].first || !pair_args(recorded.dict[i].second, now.dict[i].second, local))
          return false;
      return true;
  }
  return false;
}

bool pair_all(const std::vector<Arg>& ra, const Kwargs& rk, const std::vector<Arg>& na, const Kwargs& nk,
              LocalMap& local) {
  if (ra.size() != na.size() || rk.size() != nk.size()) return false;
  for (size_t i = 0; i < ra.size(); ++i)
    if (!pair_args(ra[i], na[i], local)) return false;
  for (size_t i = 0; i < rk.size(); ++i)
    if (rk[i].first != nk[i].first || !pair_args(rk[i].second, nk[i].second, local)) return false;
  return true;
}

class Denormalizer {
 public:
  Denormalizer(Graph& g, DenormalizeReport& r, size_t changes) : g_(g), r_(r) {
    binding_.reserve(2 * changes);  // about one entry per erased or recreated node: no rehashing on the way
  }

  // Every input of every node this run created or gave other inputs is among the kWindow nodes right before
  // it. Nothing else can be out of order: the graph was in order, nodes only come in, and nodes whose inputs did not
  // change keep them where they were. False (the caller then checks the whole graph) when an input lies further back.
  bool touched_in_order() const {
    constexpr int kWindow = 64;
    std::vector<const Node*> pending;
    for (const Node* n : touched_) {
      if (gone_.count(n)) continue;
      pending.clear();
      auto add = [&pending](const Node* in) { pending.push_back(in); };
      for (const Arg& a : n->args) a.visit_nodes(add);
      for (const auto& [k, a] : n->kwargs) a.visit_nodes(add);
      const Node* p = n;
      for (int k = 0; k < kWindow && !pending.empty(); ++k) {
        p = g_.prev(p);
        if (!p) break;
        pending.erase(std::remove(pending.begin(), pending.end(), p), pending.end());
      }
      if (!pending.empty()) return false;
    }
    return true;
  }

  void undo(const PassChange& c) {
    if (!c.undo) {
      keep(c, "no undo record");
      return;
    }
    const NormalizeUndo& u = *c.undo;
    names_.clear();
    if (u.names.size() + u.erased.size() > 8) {
      for (const auto& [n, name] : u.names) names_.emplace(n, &name);
      for (const NodeSnapshot& s : u.erased) names_.emplace(s.id, &s.name);
    }
    LocalMap local;
    Outcome o = Outcome::Restored;
    switch (u.kind) {
      case NormalizeUndo::Kind::InPlace: o = undo_in_place(u, local); break;
      case NormalizeUndo::Kind::Replace: o = undo_replace(u, local); break;
      case NormalizeUndo::Kind::Remove: o = undo_remove(u, local); break;
      case NormalizeUndo::Kind::Dce: o = undo_dce(u, local); break;
    }
    if (o != Outcome::Restored)
      for (const NodeSnapshot& s : u.erased) binding_[s.id] = nullptr;  // gone for good
    switch (o) {
      case Outcome::Restored:
        ++r_.restored;
        ++r_.restored_by_pass[c.pass];
        break;
      case Outcome::Fused: ++r_.fused; break;
      case Outcome::Kept: keep(c, why_); break;
    }
  }

 private:
  enum class Outcome { Restored, Fused, Kept };

  void keep(const PassChange& c, const std::string& why) {
    r_.kept.push_back({c.pass, c.description + " [kept: " + why + "]", c.undo});
  }

  Outcome kept(std::string why) {
    why_ = std::move(why);
    return Outcome::Kept;
  }

  const std::string* name_of(const NormalizeUndo& u, const Node* id) const {
    if (!names_.empty()) {
      auto it = names_.find(id);
      return it == names_.end() ? nullptr : it->second;
    }
    for (const auto& [n, name] : u.names)
      if (n == id) return &name;
    for (const NodeSnapshot& s : u.erased)
      if (s.id == id) return &s.name;
    return nullptr;
  }

  // The node a recorded identity stands for now, or nullptr.
  Node* resolve(const NormalizeUndo& u, const Node* id, const LocalMap& local) const {
    if (!id) return nullptr;
    if (auto it = local.find(id); it != local.end()) return it->second;
    if (auto it = binding_.find(id); it != binding_.end()) return it->second;
    const std::string* name = name_of(u, id);
    if (!name) return nullptr;
    Node* n = g_.find(*name);
    return n == id ? n : nullptr;
  }

  // One of the nodes the entry erased (recreated by the entry first): a handful, searched in place.
  static bool pending(const NormalizeUndo& u, const Node* id) {
    return std::any_of(u.erased.begin(), u.erased.end(), [id](const NodeSnapshot& s) { return s.id == id; });
  }

  // Every node reference of `a` can be resolved, or is one the entry erased (pending).
  bool resolvable(const NormalizeUndo& u, const Arg& a, const LocalMap& local) const {
    if (a.is_node()) return pending(u, a.node) || resolve(u, a.node, local);
    if (a.kind == Arg::Kind::List)
      return std::all_of(a.items.begin(), a.items.end(), [&](const Arg& i) { return resolvable(u, i, local); });
    if (a.kind == Arg::Kind::Dict)
      return std::all_of(a.dict.begin(), a.dict.end(),
                         [&](const auto& kv) { return resolvable(u, kv.second, local); });
    return true;
  }

  Arg rebuild(const NormalizeUndo& u, const Arg& a, const LocalMap& local) const {
    if (a.is_node()) {
      Node* n = resolve(u, a.node, local);
      FXOPT_CHECK(n, "denormalize: unresolved reference to '" + std::string(name_of(u, a.node) ? *name_of(u, a.node) : "?") + "'");
      return Arg::ref(n);
    }
    if (a.kind == Arg::Kind::List) {  // built item by item: copying the list first would copy every item twice
      Arg out;
      out.kind = Arg::Kind::List;
      out.items.reserve(a.items.size());
      for (const Arg& i : a.items) out.items.push_back(rebuild(u, i, local));
      return out;
    }
    if (a.kind == Arg::Kind::Dict) {
      Arg out;
      out.kind = Arg::Kind::Dict;
      out.dict.reserve(a.dict.size());
      for (const auto& [k, v] : a.dict) out.dict.emplace_back(k, rebuild(u, v, local));
      return out;
    }
    return a;
  }
  std::vector<Arg> rebuild(const NormalizeUndo& u, const std::vector<Arg>& args, const LocalMap& local) const {
    std::vector<Arg> out;
    out.reserve(args.size());
    for (const Arg& a : args) out.push_back(rebuild(u, a, local));
    return out;
  }
  Kwargs rebuild(const NormalizeUndo& u, const Kwargs& kwargs, const LocalMap& local) const {
    Kwargs out;
    out.reserve(kwargs.size());
    for (const auto& [k, a] : kwargs) out.emplace_back(k, rebuild(u, a, local));
    return out;
  }

  // The erased nodes can all come back: each reference resolves or is another erased node of this entry.
  bool erased_resolvable(const NormalizeUndo& u, const LocalMap& local) const {
    for (const NodeSnapshot& s : u.erased) {
      for (const Arg& a : s.args)
        if (!resolvable(u, a, local)) return false;
      for (const auto& [k, a] : s.kwargs)
        if (!resolvable(u, a, local)) return false;
    }
    return true;
  }

  // Recreates the erased nodes, last erased first, each right before the node that followed it (or before
  // `fallback` when that one is gone), with its name (when free), target, arguments and meta.
  void recreate_erased(const NormalizeUndo& u, const LocalMap& local, Node* fallback) {
    for (auto it = u.erased.rbegin(); it != u.erased.rend(); ++it) {
      const NodeSnapshot& s = *it;
      Node* before = s.next ? resolve(u, s.next, local) : nullptr;
      if (s.next && !before) before = fallback;
      // The target goes in afterwards, already interned (create_node would intern the text again).
      Node* n = g_.create_node(s.op, std::string(), rebuild(u, s.args, local), rebuild(u, s.kwargs, local), before, s.name);
      n->target = s.target;
      touched_.push_back(n);
      n->val = s.val;
      n->meta_extra = s.meta_extra;
      binding_[s.id] = n;
    }
  }

  // view_to_reshape, fold_reshape_chains: the node is still there with the recorded target: put back the
  // inner reshapes that were erased and the old target and arguments.
  Outcome undo_in_place(const NormalizeUndo& u, LocalMap& local) {
    Node* n = resolve(u, u.node, local);
    if (!n) return Outcome::Fused;
    if (n->target != u.post_target || !pair_all(u.post_args, u.post_kwargs, n->args, n->kwargs, local))
      return kept(n->name + " changed since");
    if (!erased_resolvable(u, local)) return kept("an input of a skipped reshape is gone");
    for (const Arg& a : u.pre_args)
      if (!resolvable(u, a, local)) return kept("an input is gone");
    for (const auto& [k, a] : u.pre_kwargs)
      if (!resolvable(u, a, local)) return kept("an input is gone");
    recreate_erased(u, local, n);
    n->target = u.pre_target;
    g_.set_args(n, rebuild(u, u.pre_args, local));
    if (u.pre_kwargs.size() != u.post_kwargs.size() || !u.pre_kwargs.empty()) g_.set_kwargs(n, rebuild(u, u.pre_kwargs, local));
    touched_.push_back(n);
    return Outcome::Restored;
  }

  // silu, amax, clamp, to_copy: the created node is still there: recreate what it replaced, hand its users to
  // the recreated root, erase it.
  Outcome undo_replace(const NormalizeUndo& u, LocalMap& local) {
    Node* c = resolve(u, u.node, local);
    if (!c) return Outcome::Fused;
    if (c->target != u.post_target || !pair_all(u.post_args, u.post_kwargs, c->args, c->kwargs, local))
      return kept(c->name + " changed since");
    if (u.erased.empty()) return kept("nothing recorded");
    if (!erased_resolvable(u, local)) return kept("an input is gone");
    recreate_erased(u, local, c);
    Node* root = binding_.at(u.erased.front().id);
    g_.replace_all_uses(c, root);
    touched_.insert(touched_.end(), root->users.begin(), root->users.end());
    g_.erase_into(c, graveyard_);  // kept until the end: touched_ may name it, and no new node takes its address
    gone_.insert(c);
    return Outcome::Restored;
  }

  // remove_identity_reshapes: recreate the reshape for the users that still read its input where they read it.
  Outcome undo_remove(const NormalizeUndo& u, LocalMap& local) {
    if (u.erased.empty()) return kept("nothing recorded");
    struct Live {
      Node* user;
      LocalMap local;
      const NormalizeUndo::UserEdit* edit;
    };
    std::vector<Live> live;
    for (const auto& e : u.users) {
      Node* n = resolve(u, e.user, local);
      if (!n) continue;
      LocalMap m;
      if (!pair_all(e.post_args, e.post_kwargs, n->args, n->kwargs, m)) continue;
      live.push_back({n, std::move(m), &e});
    }
    if (live.empty()) return Outcome::Fused;
    // The reshape reads what its input is now: through a user's pairing if a fusion redirected it.
    const NodeSnapshot& r = u.erased.front();
    for (const auto& [from, to] : live.front().local)
      if (from == u.node) local.emplace(from, to);
    if (!erased_resolvable(u, local)) return kept("an input is gone");
    Node* fallback = nullptr;
    if (r.next && !resolve(u, r.next, local)) {
      std::unordered_set<const Node*> users;
      for (const Live& l : live) users.insert(l.user);
      for (Node& n : g_.nodes())
        if (users.count(&n)) {
          fallback = &n;
          break;
        }
    }
    recreate_erased(u, local, fallback);
    for (Live& l : live) {
      std::vector<Arg> args = rebuild_user(u, l.edit->pre_args, l.edit->post_args, l.local);
      Kwargs kwargs;
      for (size_t i = 0; i < l.edit->pre_kwargs.size(); ++i)
        kwargs.emplace_back(l.edit->pre_kwargs[i].first,
                            rebuild_user(u, l.edit->pre_kwargs[i].second, l.edit->post_kwargs[i].second, l.local));
      g_.set_args(l.user, std::move(args));
      g_.set_kwargs(l.user, std::move(kwargs));
      touched_.push_back(l.user);
    }
    return Outcome::Restored;
  }

  // A user's old argument, with every reference that did not change (recorded after == before) taken from the
  // user's current argument, and the removed reshape from its recreation.
  Arg rebuild_user(const NormalizeUndo& u, const Arg& pre, const Arg& post, const LocalMap& local) const {
    if (pre.is_node()) {
      if (auto it = binding_.find(pre.node); it != binding_.end() && it->second) return Arg::ref(it->second);
      if (auto it = local.find(pre.node); it != local.end()) return Arg::ref(it->second);
      Node* n = resolve(u, post.is_node() ? post.node : pre.node, local);
      FXOPT_CHECK(n, "denormalize: unresolved user argument");
      return Arg::ref(n);
    }
    Arg out = pre;
    if (pre.kind == Arg::Kind::List)
      for (size_t i = 0; i < out.items.size(); ++i) out.items[i] = rebuild_user(u, pre.items[i], post.items[i], local);
    if (pre.kind == Arg::Kind::Dict)
      for (size_t i = 0; i < out.dict.size(); ++i)
        out.dict[i].second = rebuild_user(u, pre.dict[i].second, post.dict[i].second, local);
    return out;
  }
  std::vector<Arg> rebuild_user(const NormalizeUndo& u, const std::vector<Arg>& pre, const std::vector<Arg>& post,
                                const LocalMap& local) const {
    std::vector<Arg> out;
    out.reserve(pre.size());
    for (size_t i = 0; i < pre.size(); ++i) out.push_back(rebuild_user(u, pre[i], post[i], local));
    return out;
  }

  // dce: the dead node comes back where it was, unless it read something a fusion consumed.
  Outcome undo_dce(const NormalizeUndo& u, LocalMap& local) {
    if (u.erased.empty()) return kept("nothing recorded");
    if (!erased_resolvable(u, local)) return Outcome::Fused;
    recreate_erased(u, local, g_.output_node());
    return Outcome::Restored;
  }

  Graph& g_;
  DenormalizeReport& r_;
  // Nodes created or given other inputs (the only ones whose inputs may now come after them), and the nodes
  // erased meanwhile (their memory in graveyard_ until the run ends).
  std::vector<Node*> touched_;
  std::unordered_set<const Node*> gone_;
  std::list<Node> graveyard_;
  std::unordered_map<const Node*, Node*> binding_;
  std::unordered_map<const Node*, const std::string*> names_;  // for large records
  std::string why_;
};

}  // namespace

DenormalizeReport denormalize(Graph& g, const NormalizeReport& report) {
  auto start = std::chrono::steady_clock::now();
  DenormalizeReport r;
  Denormalizer d(g, r, report.changes.size());
  for (auto it = report.changes.rbegin(); it != report.changes.rend(); ++it) d.undo(*it);
  std::reverse(r.kept.begin(), r.kept.end());
  if (r.restored > 0 && !d.touched_in_order()) {
    const std::string err = g.topological_error();
    FXOPT_CHECK(err.empty(), "denormalize left the graph out of order: " + err);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string denormalize_stats_text(const DenormalizeReport& r) {
  std::string by;
  for (const auto& [pass, n] : r.restored_by_pass) by += (by.empty() ? "" : ", ") + pass + " " + std::to_string(n);
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f ms", r.seconds * 1e3);
  std::string s = "denormalize: restored " + std::to_string(r.restored) + " change" + (r.restored == 1 ? "" : "s") +
                  (by.empty() ? "" : " (" + by + ")") + ", " + std::to_string(r.fused) + " inside fused regions, " +
                  std::to_string(r.kept.size()) + " kept, " + ms + "\n";
  for (const auto& k : r.kept) s += "  kept " + k.pass + ": " + k.description + "\n";
  return s;
}

CallCounts count_calls(const Graph& g) {
  CallCounts counts;
  const std::string* last = nullptr;
  std::ptrdiff_t* count = nullptr;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::CallFunction) continue;
    if (&n.target.str() != last) {  // runs of one target are common: one lookup per run
      last = &n.target.str();
      count = &counts[last];
    }
    ++*count;
  }
  return counts;
}

bool count_calls_after(CallCounts& counts, const NormalizeReport& report) {
  for (const PassChange& c : report.changes) {
    if (!c.undo) return false;
    const NormalizeUndo& u = *c.undo;
    switch (u.kind) {
      case NormalizeUndo::Kind::InPlace:  // the node's target changed (or stayed)
        --counts[&u.pre_target.str()];
        ++counts[&u.post_target.str()];
        break;
      case NormalizeUndo::Kind::Replace:  // a new call
        ++counts[&u.post_target.str()];
        break;
      case NormalizeUndo::Kind::Remove:  // users redirected: no call changed its target
      case NormalizeUndo::Kind::Dce:
        break;
    }
    for (const NodeSnapshot& e : u.erased)
      if (e.op == OpKind::CallFunction) --counts[&e.target.str()];
  }
  return true;
}

}  // namespace fxopt
