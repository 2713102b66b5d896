// The graph executor: symbol binding, inputs, scheduling in graph order, buffer lifetimes, dispatch.
#include "runtime/executor.h"

#include <chrono>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "runtime/cpu/kernels.h"

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
        if (!backend.find_kernel(n.target))
          throw InputError("node '" + n.name + "' (target " + n.target + "): no " + std::string(backend.device_name()) +
                           " kernel for this op");
        break;
      case OpKind::Output: break;
      default:
        throw InputError("node '" + n.name + "': op '" + to_string(n.op) + "' (target " + n.target +
                         ") is not supported by the executor");
    }
  }
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
      int64_t v = dtype == DType::Bool ? static_cast<int64_t>(r & 1)
                  : dtype == DType::U8 ? static_cast<int64_t>(r % 9)
                                       : static_cast<int64_t>(r % 17) - 8;
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

struct Runner {
  const Graph& g;
  const SymbolValues& symbols;
  const Backend& backend;
  std::unordered_map<const Node*, size_t> index;
  std::vector<Value> vals;

  Value resolve(const Arg& a, const Node& user) const {
    switch (a.kind) {
      case Arg::Kind::None: return Value::none();
      case Arg::Kind::Bool: return Value::boolean(a.b);
      case Arg::Kind::Int: return Value::integer(a.i);
      case Arg::Kind::Float: return Value::real(a.f);
      case Arg::Kind::Str: { Value v; v.kind = Value::Kind::Str; v.s = a.s; return v; }
      case Arg::Kind::Dtype: { Value v; v.kind = Value::Kind::Dtype; v.s = a.s; return v; }
      case Arg::Kind::Node: return vals[index.at(a.node)];
      case Arg::Kind::Sym: return Value::integer(eval_dim(a.sym.expr, symbols, "node '" + user.name + "'"));
      case Arg::Kind::List: {
        std::vector<Value> items;
        for (const Arg& x : a.items) items.push_back(resolve(x, user));
        return Value::list(std::move(items));
      }
      default: { Value v; v.kind = Value::Kind::Opaque; v.s = a.s; return v; }
    }
  }

  // Compares a result with meta.val (dtype and concrete shape, or the SymInt's value).
  void check_meta(const Node& n, const ValMeta& m, const Value& v, const std::string& where) const {
    if (m.kind == ValMeta::Kind::Tuple) {
      if (v.kind != Value::Kind::List) return;
      for (size_t i = 0; i < m.items.size() && i < v.items.size(); ++i)
        check_meta(n, m.items[i], v.items[i], where + "[" + std::to_string(i) + "]");
      return;
    }
    if (m.kind == ValMeta::Kind::Tensor) {
      if (!v.is_tensor())
        throw InputError("node '" + n.name + "' (" + n.target + "): produced " + describe(v) + " but " + where + " is a tensor");
      Shape want;
      try {
        for (const auto& d : m.tensor.shape) want.push_back(sym::evaluate(d.expr, symbols));
      } catch (const sym::EvalError&) {
        return;  // unbacked or undeclared symbols: nothing to compare
      }
      if (dtype_name(v.tensor.dtype()) != m.tensor.dtype || v.tensor.shape() != want)
        throw InputError("node '" + n.name + "' (" + n.target + "): produced " + describe(v) + " but " + where + " says " +
                         m.tensor.dtype + " " + shape_str(want));
    } else if (m.kind == ValMeta::Kind::Sym && v.kind == Value::Kind::Int) {
      int64_t want = 0;
      try {
        want = sym::evaluate(m.sym.expr, symbols);
      } catch (const sym::EvalError&) {
        return;
      }
      if (want != v.i)
        throw InputError("node '" + n.name + "' (" + n.target + "): produced " + std::to_string(v.i) + " but " + where +
                         " says " + m.sym.str() + " = " + std::to_string(want));
    }
  }
};

}  // namespace

ExecResult run_graph(const Graph& g, const SymbolValues& symbols, const TensorMap& inputs, const ExecOptions& opts) {
  using Clock = std::chrono::steady_clock;
  const Backend& backend = opts.backend ? *opts.backend : cpu_backend();
  check_runnable(g, backend);
  ExecContext ctx;
  ctx.symbols = &symbols;
  ctx.threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  Runner r{g, symbols, backend, {}, {}};
  std::vector<const Node*> order;
  for (const Node& n : g.nodes()) {
    r.index[&n] = order.size();
    order.push_back(&n);
  }
  // last_use[i]: the position of the last node reading node i's value (its own position when unused).
  std::vector<size_t> last_use(order.size());
  std::vector<std::vector<size_t>> frees(order.size());
  for (size_t i = 0; i < order.size(); ++i) last_use[i] = i;
  for (size_t j = 0; j < order.size(); ++j)
    for (Node* in : order[j]->inputs()) {
      auto it = r.index.find(in);
      if (it == r.index.end() || it->second >= j)
        throw InputError("node '" + order[j]->name + "' uses '" + in->name + "', which does not come before it");
      last_use[it->second] = j;
    }
  for (size_t i = 0; i < order.size(); ++i) frees[last_use[i]].push_back(i);

  r.vals.resize(order.size());
  ExecResult res;
  const auto t0 = Clock::now();
  for (size_t j = 0; j < order.size(); ++j) {
    const Node& n = *order[j];
    const auto tn = Clock::now();
    if (n.op == OpKind::Placeholder) {
      if (n.val->kind == ValMeta::Kind::Sym) {
        r.vals[j] = Value::integer(eval_dim(n.val->sym.expr, symbols, "placeholder '" + n.name + "'"));
      } else if (n.val->kind == ValMeta::Kind::Const) {
        r.vals[j] = r.resolve(n.val->constant, n);
      } else {
        auto it = inputs.find(n.target);
        if (it == inputs.end()) throw InputError("no input for placeholder '" + n.name + "'");
        r.vals[j] = Value::of(backend.upload(it->second));
      }
    } else if (n.op == OpKind::Output) {
      if (n.args.empty()) throw InputError("the output node has no arguments");
      const Arg& outs = n.args[0];
      std::vector<const Arg*> items;
      if (outs.is_list()) for (const Arg& a : outs.items) items.push_back(&a);
      else items.push_back(&outs);
      for (size_t i = 0; i < items.size(); ++i) {
        Value v = r.resolve(*items[i], n);
        if (v.is_tensor()) v = Value::of(backend.download(v.tensor));
        std::string name = items[i]->is_node() ? items[i]->node->name : "output_" + std::to_string(i);
        for (const auto& prev : res.output_names)
          if (prev == name) name += "_" + std::to_string(i);
        res.output_names.push_back(name);
        res.outputs.push_back(std::move(v));
      }
    } else {
      KernelArgs ka;
      for (const Arg& a : n.args) ka.args.push_back(r.resolve(a, n));
      for (const auto& [k, a] : n.kwargs) ka.kwargs.emplace_back(k, r.resolve(a, n));
      const Kernel kernel = backend.find_kernel(n.target);
      try {
        r.vals[j] = kernel(n, ka, ctx);
      } catch (const InputError& e) {
        throw InputError("node '" + n.name + "' (" + n.target + "): " + e.what());
      }
      if (opts.check_meta && n.val) r.check_meta(n, *n.val, r.vals[j], "meta.val");
      ++res.nodes_run;
    }
    for (size_t i : frees[j]) r.vals[i] = Value();
    if (opts.profile) res.profile.emplace_back(n.name, std::chrono::duration<double>(Clock::now() - tn).count());
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace fxopt::rt
