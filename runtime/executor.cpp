// The graph executor: symbol binding, inputs, scheduling in graph order, buffer lifetimes, dispatch.
#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_map>

#include "core/ir/error.h"
#include "runtime/cpu/kernels.h"
#include "runtime/hip/gpu_api.h"
#include "runtime/op_registry.h"

namespace fxopt::rt {

namespace {

int64_t eval_dim(const sym::Expr& e, const SymbolValues& symbols, const std::string& where) {
  try {
    return sym::evaluate(e, symbols);
  } catch (const sym::EvalError& err) {
    throw InputError(where + ": cannot evaluate '" + e.str() + "': " + err.what());
  }
}

const ValMeta* tensor_meta(const Node& n) {
  if (!n.val || !n.val->is_tensor()) return nullptr;
  return &*n.val;
}

}  // namespace

SymbolValues bind_symbols(const Graph& g, const SymbolValues& given, const TensorMap& inputs) {
  SymbolValues out;
  std::string known;
  for (const auto& [name, info] : g.symbols) known += (known.empty() ? "" : ", ") + name;
  for (const auto& [name, v] : given) {
    const SymbolInfo* info = g.symbol(name);
    if (!info)
      throw InputError("unknown symbol '" + name + "' (the graph's symbols: " + (known.empty() ? "none" : known) + ")");
    if ((info->min && v < *info->min) || (info->max && v > *info->max))
      throw InputError("symbol " + name + "=" + std::to_string(v) + " is outside its range [" +
                       (info->min ? std::to_string(*info->min) : "-inf") + ", " +
                       (info->max ? std::to_string(*info->max) : "inf") + "]");
    out[name] = v;
  }
  // Sizes of given inputs bind the bare symbols of their placeholders' shapes.
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Placeholder) continue;
    const ValMeta* m = tensor_meta(n);
    auto it = inputs.find(n.target);
    if (!m || it == inputs.end()) continue;
    const Shape& have = it->second.shape();
    if (have.size() != m->tensor.shape.size()) continue;  // make_inputs reports it
    for (size_t d = 0; d < have.size(); ++d) {
      auto s = m->tensor.shape[d].expr.as_symbol();
      if (s && !out.count(*s) && g.symbol(*s)) out[*s] = have[d];
    }
  }
  for (const auto& [name, info] : g.symbols) {
    if (out.count(name)) continue;
    if (!info.hint) throw InputError("symbol '" + name + "' has no hint; give its value with --dim " + name + "=V");
    if ((info.min && *info.hint < *info.min) || (info.max && *info.hint > *info.max))
      throw InputError("symbol " + name + ": hint " + std::to_string(*info.hint) + " is outside its range; give a value with --dim " + name + "=V");
    out[name] = *info.hint;
  }
  return out;
}

void check_runnable(const Graph& g, const Backend& backend) {
  // Targets without a row, each with its nodes, in order of first use.
  std::vector<std::pair<std::string, std::vector<std::string>>> missing;
  for (const Node& n : g.nodes()) {
    switch (n.op) {
      case OpKind::Placeholder:
        if (!n.val || (n.val->kind != ValMeta::Kind::Tensor && n.val->kind != ValMeta::Kind::Sym &&
                       n.val->kind != ValMeta::Kind::Const))
          throw InputError("placeholder '" + n.name + "' has no tensor, SymInt or constant meta.val to make an input from");
        if (n.val->is_tensor() && !dtype_from_name(n.val->tensor.dtype))
          throw InputError("placeholder '" + n.name + "': dtype '" + n.val->tensor.dtype + "' is not supported by the executor");
        break;
      case OpKind::CallFunction:
        if (!find_op(n.target)) {
          auto it = std::find_if(missing.begin(), missing.end(), [&](const auto& m) { return m.first == n.target; });
          if (it == missing.end()) missing.push_back({n.target, {n.name}});
          else it->second.push_back(n.name);
        }
        break;
      case OpKind::Output: break;
      default:
        throw InputError("node '" + n.name + "': op '" + to_string(n.op) + "' (target " + n.target +
                         ") is not supported by the executor");
    }
  }
  if (missing.empty()) return;
  std::string msg = "the executor has no kernel for " + std::to_string(missing.size()) + " op" +
                    (missing.size() == 1 ? "" : "s") + " of this graph (nothing was run; device " +
                    std::string(backend.device_name()) + "):";
  for (const auto& [target, nodes] : missing) {
    msg += "\n  " + target + " (node" + (nodes.size() == 1 ? "" : "s");
    for (size_t i = 0; i < nodes.size() && i < 3; ++i) msg += (i ? ", '" : " '") + nodes[i] + "'";
    if (nodes.size() > 3) msg += ", +" + std::to_string(nodes.size() - 3) + " more";
    msg += ")";
  }
  throw InputError(msg);
}

namespace {
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}
}  // namespace

Tensor random_tensor(DType dtype, const Shape& shape, uint64_t seed, std::string_view name) {
  Tensor t = Tensor::empty(dtype, shape);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull ^ fnv1a(name);
  const int64_t n = t.numel();
  const size_t es = dtype_size(dtype);
  std::byte* p = t.raw();
  if (is_floating(dtype)) {
    constexpr int64_t kChunk = 1024;
    double buf[kChunk];
    for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
      const int64_t m = std::min(kChunk, n - i0);
      for (int64_t j = 0; j < m; ++j) {
        const uint64_t r = splitmix64(state);
        double u = 0.0;
        for (int q = 0; q < 4; ++q) u += (static_cast<double>((r >> (16 * q)) & 0xFFFF) + 0.5) / 65536.0;
        buf[j] = u - 2.0;
      }
      scatter<double>(t, i0, m, buf);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t r = splitmix64(state);
      // Integers in [0, 8]: integer inputs of real graphs are mostly token ids and positions (indices).
      const int64_t v = dtype == DType::Bool ? static_cast<int64_t>(r & 1) : static_cast<int64_t>(r % 9);
      store_elem<int64_t>(dtype, p + i * static_cast<int64_t>(es), v);
    }
  }
  return t;
}

Shape concrete_shape(const Node& n, const SymbolValues& symbols) {
  Shape s;
  for (size_t d = 0; d < n.val->tensor.shape.size(); ++d)
    s.push_back(eval_dim(n.val->tensor.shape[d].expr, symbols, "node '" + n.name + "' meta.val.shape[" + std::to_string(d) + "]"));
  return s;
}

TensorMap make_inputs(const Graph& g, const SymbolValues& symbols, uint64_t seed, const TensorMap& given) {
  TensorMap out;
  for (const Node& n : g.nodes()) {
    if (n.op != OpKind::Placeholder || !tensor_meta(n)) continue;
    auto d = dtype_from_name(n.val->tensor.dtype);
    if (!d) throw InputError("placeholder '" + n.name + "': dtype '" + n.val->tensor.dtype + "' is not supported by the executor");
    const Shape shape = concrete_shape(n, symbols);
    for (int64_t s : shape)
      if (s < 0) throw InputError("placeholder '" + n.name + "': negative size in " + shape_str(shape));
    auto it = given.find(n.target);
    if (it == given.end()) {
      out[n.target] = random_tensor(*d, shape, seed, n.target);
      continue;
    }
    const Tensor& t = it->second;
    if (t.dtype() != *d)
      throw InputError("input '" + n.target + "' is " + dtype_name(t.dtype()) + " but the graph expects " + dtype_name(*d));
    if (t.shape() != shape)
      throw InputError("input '" + n.target + "' has shape " + shape_str(t.shape()) + " but the graph expects " +
                       shape_str(shape));
    out[n.target] = t;
  }
  return out;
}

namespace {

// Resolves a node's arguments against the values computed so far; `known` is false when one of them is
// unknown (a data-dependent value in the up-front pass).
struct Resolver {
  const SymbolValues& symbols;
  const std::unordered_map<const Node*, size_t>& index;
  const std::vector<std::optional<Value>>& vals;

  Value resolve(const Arg& a, const Node& user, bool& known) const {
    switch (a.kind) {
      case Arg::Kind::None: return Value::none();
      case Arg::Kind::Bool: return Value::boolean(a.b);
      case Arg::Kind::Int: return Value::integer(a.i);
      case Arg::Kind::Float: return Value::real(a.f);
      case Arg::Kind::Str: { Value v; v.kind = Value::Kind::Str; v.s = a.s; return v; }
      case Arg::Kind::Dtype: { Value v; v.kind = Value::Kind::Dtype; v.s = a.s; return v; }
      case Arg::Kind::Node: {
        const auto& v = vals[index.at(a.node)];
        if (!v) { known = false; return Value::none(); }
        return *v;
      }
      case Arg::Kind::Sym: return Value::integer(eval_dim(a.sym.expr, symbols, "node '" + user.name + "'"));
      case Arg::Kind::List: {
        std::vector<Value> items;
        for (const Arg& x : a.items) items.push_back(resolve(x, user, known));
        return Value::list(std::move(items));
      }
      default: { Value v; v.kind = Value::Kind::Opaque; v.s = a.s; return v; }
    }
  }

  KernelArgs args_of(const Node& n, bool& known) const {
    KernelArgs ka;
    for (const Arg& a : n.args) ka.args.push_back(resolve(a, n, known));
    for (const auto& [k, a] : n.kwargs) ka.kwargs.emplace_back(k, resolve(a, n, known));
    return ka;
  }
};

// Compares a value with meta.val (dtype and concrete shape, or the SymInt's value). `verb` says whether
// the value was produced or predicted by the meta rule.
void check_meta_val(const Node& n, const ValMeta& m, const Value& v, const SymbolValues& symbols,
                    const std::string& where, const char* verb) {
  if (m.kind == ValMeta::Kind::Tuple) {
    if (v.kind != Value::Kind::List) return;
    for (size_t i = 0; i < m.items.size() && i < v.items.size(); ++i)
      check_meta_val(n, m.items[i], v.items[i], symbols, where + "[" + std::to_string(i) + "]", verb);
    return;
  }
  if (m.kind == ValMeta::Kind::Tensor) {
    if (!v.is_tensor())
      throw InputError("node '" + n.name + "' (" + n.target + "): " + verb + " " + describe(v) + " but " + where + " is a tensor");
    Shape want;
    try {
      for (const auto& d : m.tensor.shape) want.push_back(sym::evaluate(d.expr, symbols));
    } catch (const sym::EvalError&) {
      return;  // unbacked or undeclared symbols: nothing to compare
    }
    if (dtype_name(v.tensor.dtype()) != m.tensor.dtype || v.tensor.shape() != want)
      throw InputError("node '" + n.name + "' (" + n.target + "): " + verb + " " + describe(v) + " but " + where + " says " +
                       m.tensor.dtype + " " + shape_str(want));
  } else if (m.kind == ValMeta::Kind::Sym && v.kind == Value::Kind::Int) {
    int64_t want = 0;
    try {
      want = sym::evaluate(m.sym.expr, symbols);
    } catch (const sym::EvalError&) {
      return;
    }
    if (want != v.i)
      throw InputError("node '" + n.name + "' (" + n.target + "): " + verb + " " + std::to_string(v.i) + " but " + where +
                       " says " + m.sym.str() + " = " + std::to_string(want));
  }
}

// The meta counterpart of a value: tensors lose their storage.
Value to_meta(const Value& v) {
  if (v.is_tensor()) return Value::of(Tensor::meta(v.tensor.dtype(), v.tensor.shape(), v.tensor.strides(), v.tensor.offset()));
  if (v.kind == Value::Kind::List) {
    std::vector<Value> items;
    for (const Value& x : v.items) items.push_back(to_meta(x));
    return Value::list(std::move(items));
  }
  return v;
}

std::string where_of(const Node& n) { return "node '" + n.name + "' (" + n.target + ")"; }

// Where a computing node runs on `backend`; nullopt (with `why`) when no backend takes its dtypes.
std::optional<Placement> choose_placement(const OpRow& row, const Backend& backend, const OpArgs& a, const Value* out,
                                          std::string* why) {
  if (row.shape_only) return Placement::Host;
  if (backend.is_gpu() && row.gpu && dtypes_supported(row.gpu_dtypes, a, out, why) && (!row.gpu_when || row.gpu_when(a)))
    return Placement::Gpu;
  if (dtypes_supported(row.cpu_dtypes, a, out, why)) return Placement::Cpu;
  *why += " (the CPU kernel takes " + row.cpu_dtypes.str() + ")";
  return std::nullopt;
}

}  // namespace

std::vector<NodePlan> plan_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs,
                                 const Backend& backend, bool allow_fallback, bool check_meta) {
  check_runnable(g, backend);
  std::unordered_map<const Node*, size_t> index;
  std::vector<const Node*> order;
  for (const Node& n : g.nodes()) {
    index[&n] = order.size();
    order.push_back(&n);
  }
  std::vector<std::optional<Value>> vals(order.size());
  std::vector<NodePlan> plan(order.size());
  const Resolver r{symbols, index, vals};
  std::vector<std::string> unsupported, no_gpu;
  for (size_t j = 0; j < order.size(); ++j) {
    const Node& n = *order[j];
    if (n.op == OpKind::Placeholder) {
      if (n.val->kind == ValMeta::Kind::Sym) {
        vals[j] = Value::integer(eval_dim(n.val->sym.expr, symbols, "placeholder '" + n.name + "'"));
      } else if (n.val->kind == ValMeta::Kind::Const) {
        bool known = true;
        vals[j] = r.resolve(n.val->constant, n, known);
      } else {
        auto it = inputs.find(n.target);
        if (it == inputs.end()) throw InputError("no input for placeholder '" + n.name + "'");
        vals[j] = to_meta(Value::of(it->second));
      }
      continue;
    }
    if (n.op != OpKind::CallFunction) continue;
    NodePlan& p = plan[j];
    p.op = find_op(n.target);
    const OpRow& row = *p.op->row;
    bool known = true;
    KernelArgs ka = r.args_of(n, known);
    if (!known) {  // downstream of a data-dependent value: checked and placed when it runs
      p.deferred = true;
      p.placement = row.shape_only ? Placement::Host : Placement::Cpu;
      continue;
    }
    std::optional<OpArgs> a;
    try {
      a.emplace(decode_args(p.op->schema, n, ka));
      p.meta = p.op->run_meta(*a);
    } catch (const InputError& e) {
      throw InputError(where_of(n) + ": " + e.what());
    }
    vals[j] = p.meta;
    if (p.meta && check_meta && n.val) check_meta_val(n, *n.val, *p.meta, symbols, "meta.val", "the op gives");
    const Value* out = p.meta ? &*p.meta : nullptr;
    std::string why;
    const std::optional<Placement> pl = choose_placement(row, backend, *a, out, &why);
    if (!pl) {
      unsupported.push_back(where_of(n) + ": " + why);
      continue;
    }
    p.placement = *pl;
    if (p.placement == Placement::Cpu && backend.is_gpu()) no_gpu.push_back(n.name + " (" + n.target + ")");
  }
  auto listing = [](const std::vector<std::string>& xs) {
    std::string s;
    for (size_t i = 0; i < xs.size() && i < 20; ++i) s += "\n  " + xs[i];
    if (xs.size() > 20) s += "\n  +" + std::to_string(xs.size() - 20) + " more";
    return s;
  };
  if (!unsupported.empty())
    throw InputError(std::to_string(unsupported.size()) + " node" + (unsupported.size() == 1 ? " has" : "s have") +
                     " dtypes the executor does not support (nothing was run):" + listing(unsupported));
  if (!allow_fallback && !no_gpu.empty())
    throw InputError(std::to_string(no_gpu.size()) +
                     (no_gpu.size() == 1 ? " node has no GPU kernel for its arguments" : " nodes have no GPU kernel for their arguments") +
                     " (--no-fallback; nothing was run):" + listing(no_gpu));
  return plan;
}

ExecResult run_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs, const ExecOptions& opts) {
  using Clock = std::chrono::steady_clock;
  const Backend& backend = opts.backend ? *opts.backend : cpu_backend();
  const std::vector<NodePlan> plan = plan_graph(g, symbols, inputs, backend, opts.allow_fallback, opts.check_meta);
  ExecContext ctx;
  ctx.symbols = &symbols;
  ctx.threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  std::unordered_map<const Node*, size_t> index;
  std::vector<const Node*> order;
  for (const Node& n : g.nodes()) {
    index[&n] = order.size();
    order.push_back(&n);
  }
  // last_use[i]: the position of the last node reading node i's value (its own position when unused).
  std::vector<size_t> last_use(order.size());
  std::vector<std::vector<size_t>> frees(order.size());
  for (size_t i = 0; i < order.size(); ++i) last_use[i] = i;
  for (size_t j = 0; j < order.size(); ++j)
    for (Node* in : order[j]->inputs()) {
      auto it = index.find(in);
      if (it == index.end() || it->second >= j)
        throw InputError("node '" + order[j]->name + "' uses '" + in->name + "', which does not come before it");
      last_use[it->second] = j;
    }
  for (size_t i = 0; i < order.size(); ++i) frees[last_use[i]].push_back(i);

  std::vector<std::optional<Value>> vals(order.size());
  const Resolver r{symbols, index, vals};
  ExecResult res;
  const auto t0 = Clock::now();
  for (size_t j = 0; j < order.size(); ++j) {
    const Node& n = *order[j];
    const auto tn = Clock::now();
    bool known = true;
    if (n.op == OpKind::Placeholder) {
      if (n.val->kind == ValMeta::Kind::Sym) {
        vals[j] = Value::integer(eval_dim(n.val->sym.expr, symbols, "placeholder '" + n.name + "'"));
      } else if (n.val->kind == ValMeta::Kind::Const) {
        vals[j] = r.resolve(n.val->constant, n, known);
      } else {
        vals[j] = Value::of(backend.upload(inputs.find(n.target)->second));
      }
    } else if (n.op == OpKind::Output) {
      if (n.args.empty()) throw InputError("the output node has no arguments");
      const Arg& outs = n.args[0];
      std::vector<const Arg*> items;
      if (outs.is_list()) for (const Arg& a : outs.items) items.push_back(&a);
      else items.push_back(&outs);
      for (size_t i = 0; i < items.size(); ++i) {
        Value v = r.resolve(*items[i], n, known);
        if (v.is_tensor()) v = Value::of(backend.download(v.tensor));
        std::string name = items[i]->is_node() ? items[i]->node->name : "output_" + std::to_string(i);
        for (const auto& prev : res.output_names)
          if (prev == name) name += "_" + std::to_string(i);
        res.output_names.push_back(name);
        res.outputs.push_back(std::move(v));
      }
    } else {
      const NodePlan& p = plan[j];
      const OpRow& row = *p.op->row;
      KernelArgs ka = r.args_of(n, known);
      Placement place = p.placement;
      if (p.deferred && !row.shape_only && backend.is_gpu()) {  // placed now that its arguments are known
        try {
          const OpArgs a0 = decode_args(p.op->schema, n, ka);
          const std::optional<Value> m0 = p.op->run_meta(a0);
          std::string why;
          const std::optional<Placement> pl = choose_placement(row, backend, a0, m0 ? &*m0 : nullptr, &why);
          if (!pl) throw InputError(why);
          if (*pl == Placement::Cpu && !opts.allow_fallback)
            throw InputError("no GPU kernel for its arguments (--no-fallback)");
          place = *pl;
        } catch (const InputError& e) {
          throw InputError(where_of(n) + ": " + e.what());
        }
      }
      const bool fallback = place == Placement::Cpu && backend.is_gpu();
      FallbackNode fb{n.name, n.target, 0, 0.0};
      auto down = [&](const Tensor& t) {
        fb.bytes += static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
        return backend.download(t);
      };
      auto up = [&](const Tensor& t) {
        fb.bytes += static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
        return backend.upload(t);
      };
      if (fallback) {
        const auto tc = Clock::now();
        for (Value& v : ka.args) v = map_tensors(v, down);
        for (auto& kv : ka.kwargs) kv.second = map_tensors(kv.second, down);
        fb.copy_seconds += std::chrono::duration<double>(Clock::now() - tc).count();
      }
      Value out;
      try {
        OpArgs a = decode_args(p.op->schema, n, ka);
        std::optional<Value> m;
        if (!row.shape_only) {
          m = p.op->run_meta(a);
          if (m) a.set_meta(&*m);
        }
        // GPU runs under --timing: the node's kernel launches form one interval (views launch none).
        const uint64_t l0 = gpu::kernel_launches();
        const int ticket = backend.is_gpu() ? gpu::timing_begin() : -1;
        out = (place == Placement::Gpu ? row.gpu : row.cpu)(a, ctx);
        if (ticket >= 0) {
          const uint64_t launched = gpu::kernel_launches() - l0;
          gpu::timing_end(ticket, n.name, launched, launched > 0);
        }
        if (m) check_against_meta(out, *m, "result");
      } catch (const InputError& e) {
        throw InputError(where_of(n) + ": " + e.what());
      }
      if (fallback) {
        const auto tc = Clock::now();
        out = map_tensors(out, up);
        fb.copy_seconds += std::chrono::duration<double>(Clock::now() - tc).count();
        res.fallbacks.push_back(std::move(fb));
      }
      if (opts.check_meta && n.val) check_meta_val(n, *n.val, out, symbols, "meta.val", "produced");
      vals[j] = std::move(out);
      ++res.nodes_run;
    }
    for (size_t i : frees[j]) vals[i].reset();
    if (opts.profile) res.profile.emplace_back(n.name, std::chrono::duration<double>(Clock::now() - tn).count());
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace fxopt::rt
