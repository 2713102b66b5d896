// Benchmark: `fxopt diff` on two replicated corpus graphs (2k, 20k, 200k nodes) that differ in one region,
// with every node renamed on one side. Next to it, the time of one plain pass over both graphs (every argument
// and meta.val size touched once): the diff/scan ratio staying flat shows the diff grows linearly, while ns/node
// also rises with the memory hierarchy (2k nodes fit in cache, 200k do not). Times are thread CPU time, best of 3.
#include <algorithm>
#include <ctime>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/replicate.h"
#include "core/diff/diff.h"
#include "core/fxgraph/fxgraph_io.h"

using namespace fxopt;
namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

template <class F>
double best_of_3(F&& f) {
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = cpu_seconds();
    f();
    best = std::min(best, cpu_seconds() - t0);
  }
  return best;
}

// The floor for any algorithm that reads both graphs: one pass touching every argument and meta.val size.
size_t scan(const Graph& g) {
  size_t acc = 0;
  std::function<void(const Arg&)> arg = [&](const Arg& a) {
    acc += static_cast<size_t>(a.kind) + (a.kind == Arg::Kind::Node ? a.node->name.size() : 0);
    for (const auto& x : a.items) arg(x);
  };
  for (const auto& n : g.nodes()) {
    acc += n.target.size();
    for (const auto& a : n.args) arg(a);
    if (n.val && n.val->is_tensor())
      for (const auto& d : n.val->tensor.shape) acc += d.expr.hash();
  }
  return acc;
}

Node* only_user(Node* n) { return n->users.size() == 1 ? n->users[0] : nullptr; }

// In the copy `_r<copy>`: silu spelled z/(1+exp(-z)) becomes aten.silu (4 nodes out, 1 in), and that layer's
// eps changes from 1e-06 to 1e-05 (one changed node). Then every node of the graph is renamed.
void change_one_region(Graph& g, size_t copy) {
  std::string suffix = "_r" + std::to_string(copy);
  Node* neg = nullptr;
  Node* eps = nullptr;
  for (auto& n : g.nodes()) {
    if (!n.name.ends_with(suffix)) continue;
    if (!neg && n.target == "aten.neg.default") neg = &n;
    if (!eps && n.target == "aten.add.Tensor" && n.args.size() == 2 && n.args[1].is_float()) eps = &n;
  }
  Node* exp = neg ? only_user(neg) : nullptr;
  Node* add = exp ? only_user(exp) : nullptr;
  Node* div = add ? only_user(add) : nullptr;
  if (!div || !eps) {
    std::fprintf(stderr, "bench_diff: the template has no silu region to change\n");
    std::exit(1);
  }
  Node* z = neg->args[0].node;
  Node* silu = g.create_node(OpKind::CallFunction, "aten.silu.default", {Arg::ref(z)}, {}, div, "silu");
  silu->val = div->val;
  g.replace_all_uses(div, silu);
  for (Node* n : {div, add, exp, neg}) g.erase(n);
  g.set_args(eps, {eps->args[0], Arg::real(1e-05)});
  size_t k = 0;
  for (auto& n : g.nodes()) n.name = "b" + std::to_string(k++);  // writer-visible names only; no lookups follow
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus =
      argc > 1 ? argv[1] : std::string(FXOPT_SOURCE_DIR) + "/tests/data/qwen3next_gdn_L8.fxgraph.json";
  Graph tmpl = read_graph_file(corpus);
  std::printf("%-9s %-9s %9s %9s %9s %11s %10s %8s   %s\n", "nodes A", "nodes B", "diff ms", "ns/node", "scan ms",
              "diff/scan", "report ms", "result", "removed/added/changed");
  for (size_t target : {2000, 20000, 200000}) {
    Graph a = bench::replicate_graph(tmpl, target);
    Graph b = bench::replicate_graph(tmpl, target);
    size_t copies = 0;  // replicate_graph names copy k's nodes `<name>_r<k>`
    for (const auto& n : b.nodes())
      if (auto p = n.name.rfind("_r"); p != std::string::npos) copies = std::max(copies, std::stoul(n.name.substr(p + 2)) + 1);
    change_one_region(b, copies / 2);
    GraphDiff d;
    double diff = best_of_3([&] { d = diff_graphs(a, b); });
    volatile size_t sink = 0;
    double base = best_of_3([&] { sink = sink + scan(a) + scan(b); });
    std::string text;
    double report = best_of_3([&] { text = format_diff_text(d, a, b, "a", "b"); });
    bool expected = d.removed.size() == 4 && d.added.size() == 1 && d.changed.size() == 1;
    std::printf("%-9zu %-9zu %9.2f %9.1f %9.2f %11.1f %10.2f %8s   %zu/%zu/%zu\n", a.size(), b.size(), diff * 1e3,
                diff * 1e9 / a.size(), base * 1e3, diff / base, report * 1e3, expected ? "ok" : "WRONG",
                d.removed.size(), d.added.size(), d.changed.size());
    if (!expected) {
      std::fputs(text.c_str(), stderr);
      return 1;
    }
  }
  return 0;
}
