// fxopt_fuzz: structure-aware mutation fuzzer of fxopt's input readers (graphs, SymInt expressions, pattern
// files, safetensors), driving the library entry points directly; also replays saved inputs (CI).
//
//   fxopt_fuzz [--entry graph|symint|pattern|safetensors|all] [--cases N | --seconds S] [--seed K]
//              [--save DIR] [--current DIR] [--quiet]
//   fxopt_fuzz --replay FILE...      (.fxg graph, .sym SymInt, .pat pattern file, .st safetensors)
//
// A case is accepted (the input is fine), refused (InputError, sym::ParseError/EvalError: a clear message),
// or a finding (any other exception; the input is saved to --save). A crash, a sanitizer report or a hang
// (each case is limited to 20 s by alarm()) ends the process: with --current DIR the input being run is in
// DIR/current.<ext>, and scripts/fuzz.sh saves it as a crasher.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/ir/error.h"
#include "core/fxgraph/fxgraph_io.h"
#include "core/pattern/pattern.h"
#include "core/rewrite/rewrite_pipeline.h"
#include "core/ir/symint.h"
#include "core/fxgraph/verify.h"
#include "patterns/builtin.h"
#include "runtime/executor.h"
#include "runtime/memory_plan.h"
#include "runtime/safetensors.h"

namespace fs = std::filesystem;
using namespace fxopt;
using Json = nlohmann::ordered_json;
using Rng = std::mt19937_64;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t pick(Rng& r, size_t n) { return n ? std::uniform_int_distribution<size_t>(0, n - 1)(r) : 0; }
bool chance(Rng& r, int percent) { return static_cast<int>(pick(r, 100)) < percent; }

const int64_t kInts[] = {0, -1, 1, 2, 3, 7, 8, 16, 128, 255, 256, 4096, 65536, int64_t{1} << 31, int64_t{1} << 32,
                         int64_t{1} << 40, int64_t{1} << 61, int64_t{1} << 62, INT64_MAX, INT64_MIN,
                         3689348814741910324, -4096};

// A random SymInt expression over s0..s3 (and sometimes an undeclared symbol), depth-limited.
std::string gen_sym(Rng& r, int depth) {
  static const char* kSyms[] = {"s0", "s1", "s2", "s3", "s68", "u0"};
  if (depth <= 0 || chance(r, 30)) {
    if (chance(r, 50)) return kSyms[pick(r, std::size(kSyms))];
    return std::to_string(chance(r, 70) ? static_cast<int64_t>(pick(r, 130)) : kInts[pick(r, std::size(kInts))] & INT64_MAX);
  }
  const std::string a = gen_sym(r, depth - 1), b = gen_sym(r, depth - 1);
  switch (pick(r, 12)) {
    case 0: return a + " + " + b;
    case 1: return a + " - " + b;
    case 2: return a + "*" + b;
    case 3: return "(" + a + ")//(" + b + ")";
    case 4: return "(" + a + ") % (" + b + ")";
    case 5: return "FloorDiv(" + a + ", " + b + ")";
    case 6: return "CeilDiv(" + a + ", " + b + ")";
    case 7: return "Mod(" + a + ", " + b + ")";
    case 8: return "Max(" + a + ", " + b + ")";
    case 9: return "Min(" + a + ", " + b + ", " + gen_sym(r, depth - 1) + ")";
    case 10: return "(" + a + ")**" + std::to_string(pick(r, 5));
    default: return "-(" + a + ")";
  }
}

// One deeply nested operand used twice in one expression (X - X, Max(X, X + 1), ...): comparing two equal deep
// trees was once exponential in their depth (a 40-deep pair took minutes), and a sum must cancel them.
std::string gen_deep_pair(Rng& r) {
  std::string x = gen_sym(r, 1);
  const int depth = 8 + static_cast<int>(pick(r, 120));
  for (int i = 0; i < depth; ++i) {
    switch (pick(r, 4)) {
      case 0: x = "Mod(" + x + ", " + gen_sym(r, 0) + ")"; break;
      case 1: x = "Max(" + x + ", " + gen_sym(r, 0) + ")"; break;
      case 2: x = "(" + x + ")//" + std::to_string(2 + pick(r, 7)); break;
      default: x += "%" + gen_sym(r, 0); break;
    }
  }
  switch (pick(r, 4)) {
    case 0: return x + " - (" + x + ")";
    case 1: return "Max(" + x + ", " + x + " + 1)";
    case 2: return "s0 + " + x + " - (" + x + ")";
    default: return "(" + x + ")*(" + x + ")";
  }
}

// Byte-level damage: flips, insertions, deletions, truncation, bracket runs, invalid UTF-8.
void mutate_bytes(std::string& s, Rng& r) {
  const int n = 1 + static_cast<int>(pick(r, 3));
  for (int k = 0; k < n; ++k) {
    const size_t at = pick(r, s.size() + 1);
    switch (pick(r, 8)) {
      case 0: if (!s.empty()) s[pick(r, s.size())] ^= static_cast<char>(1 << pick(r, 8)); break;
      case 1: s.insert(at, 1, static_cast<char>(pick(r, 256))); break;
      case 2: if (at < s.size()) s.erase(at, 1 + pick(r, 16)); break;
      case 3: s.resize(at); break;
      case 4: {
        static const size_t kRuns[] = {255, 256, 257, 3000, 100000};
        const size_t run = kRuns[pick(r, std::size(kRuns))];
        s.insert(at, run, "[{("[pick(r, 3)]);
        break;
      }
      case 5: s.insert(at, chance(r, 50) ? "\xff" : "\xc3\x28"); break;
      case 6: s.insert(at, std::to_string(kInts[pick(r, std::size(kInts))])); break;
      default: if (!s.empty()) s.insert(at, s.substr(pick(r, s.size()), 1 + pick(r, 32))); break;
    }
  }
}

// Structure-aware damage of a JSON document: a random value replaced by an interesting one, a key or item
// dropped, a subtree duplicated or nested.
void mutate_json(Json& doc, Rng& r) {
  std::vector<Json*> all;
  std::function<void(Json&)> walk = [&](Json& j) {
    all.push_back(&j);
    if (all.size() > 20000) return;
    if (j.is_structured())
      for (auto& k : j) walk(k);
  };
  const int n = 1 + static_cast<int>(pick(r, 3));
  for (int k = 0; k < n; ++k) {
    all.clear();  // a mutation may free values: collect them again each time
    walk(doc);
    Json& j = *all[pick(r, all.size())];
    switch (pick(r, 11)) {
      case 0: j = kInts[pick(r, std::size(kInts))]; break;
      case 1: {
        static const char* kStr[] = {"", "s0", "s0*s1", "s0//0", "(s0", "Max(s0, s1)", "s9", "float8_e4m3fn", "bfloat16",
                                     "aten.mm.default", "aten.view.default", "%x", "$N", "$N*H", "\xff", "placeholder",
                                     "call_function", "output", "9223372036854775807*s0", "D % G == 0", "int"};
        j = kStr[pick(r, std::size(kStr))];
        break;
      }
      case 2: j = gen_sym(r, 4); break;
      case 3: j = std::vector<double>{1e308, -0.0, 1e-310, 0.5}[pick(r, 4)]; break;
      case 4: j = nullptr; break;
      case 5: j = Json::array(); break;
      case 6: j = Json::object(); break;
      case 7:
        if (j.is_object() && !j.empty()) j.erase(std::next(j.begin(), static_cast<long>(pick(r, j.size()))).key());
        else if (j.is_array() && !j.empty()) j.erase(pick(r, j.size()));
        break;
      case 8:
        if (j.is_array() && !j.empty()) j.push_back(j[pick(r, j.size())]);
        break;
      case 9: { Json copy = j; j = Json::array({copy}); break; }
      default:
        if (j.is_array())
          for (auto& x : j)
            if (x.is_number_integer() && chance(r, 50)) x = kInts[pick(r, std::size(kInts))];
        break;
    }
  }
}

// Mutates a seed: most often through the DOM, sometimes bytes, sometimes both.
std::string mutate_text(const std::string& seed, Rng& r) {
  std::string out = seed;
  if (!chance(r, 25)) {
    try {
      Json doc = Json::parse(seed);
      mutate_json(doc, r);
      out = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
    } catch (const Json::exception&) {
    }
  }
  if (chance(r, 35)) mutate_bytes(out, r);
  return out;
}

// ---- entry points: each returns normally (accepted) or throws ------------------------------------------

struct Context {
  std::string l1_text;  // a small real graph to match pattern files against
};

void run_graph_case(const std::string& text, const Context&) {
  Graph g = read_graph_text(text, "fuzz.json");
  (void)check_graph(g);
  const std::string canon = write_graph_text(g);
  Graph back = read_graph_text(canon, "fuzz.canonical.json");  // fmt's output must read back
  if (write_graph_text(back) != canon) throw std::logic_error("canonical text does not round-trip");
  {
    Graph h = read_graph_text(canon, "fuzz.json");
    PipelineOptions po;
    po.max_iterations = 3;
    (void)run_pipeline(h, load_patterns({}, {}), po);
    (void)write_graph_text(h);
  }
  const rt::SymbolValues syms = rt::bind_symbols(g, {});
  rt::check_runnable(g, rt::cpu_backend());
  const rt::MemoryEstimate est = rt::estimate_memory(g, syms);
  if (est.peak_bytes > (4 << 20)) return;  // big runs are slow under the sanitizers; sizes are checked above
  rt::ExecOptions eo;
  eo.threads = 1;
  (void)rt::run_graph(g, syms, rt::make_inputs(g, syms, 1), eo);
}

void run_symint_case(const std::string& text, const Context&) {
  const sym::Expr e = sym::parse(text);
  const std::string printed = e.str();
  const sym::Expr back = sym::parse(printed);
  if (!(back == e)) throw std::logic_error("parse(str(e)) != e for '" + printed + "'");
  sym::RangeMap ranges{{"s0", {2, std::nullopt}}, {"s1", {1, 64}}, {"s2", {0, 0}}, {"s3", {-5, 5}}};
  (void)sym::simplify(e, ranges);
  (void)sym::bounds(e, ranges);
  (void)sym::prove_equal(e, back * sym::Expr::constant(1), ranges);
  (void)sym::prove_nonnegative(e, ranges);
  (void)sym::prove_divisible(e, 16, ranges);
  try {
    (void)sym::evaluate(e, {{"s0", 5}, {"s1", 3}, {"s2", 0}, {"s3", -2}, {"s68", 7}, {"u0", 1}});
  } catch (const sym::EvalError&) {
  }
}

void run_pattern_case(const std::string& text, const Context& ctx) {
  std::vector<Pattern> ps = parse_pattern_file(text, "fuzz.patterns.json");
  PatternSet set = PatternSet::builtin();
  for (auto& p : ps) set.add(std::move(p));
  (void)patterns_text(set, find_target("rocm-aiter"));
  Graph g = read_graph_text(ctx.l1_text, "L1");
  PipelineOptions po;
  po.max_iterations = 3;
  const PipelineReport rep = run_pipeline(g, set, po);
  (void)report_text(rep, true);
  (void)write_graph_text(g);
}

void run_safetensors_case(const std::string& bytes, const Context&) {
  auto ts = rt::decode_safetensors(bytes, "fuzz.safetensors");
  const std::string again = rt::encode_safetensors(ts);
  auto back = rt::decode_safetensors(again, "fuzz.reencoded.safetensors");
  if (back.size() != ts.size()) throw std::logic_error("safetensors re-encoding lost tensors");
}

struct Entry {
  const char* name;
  const char* ext;
  void (*run)(const std::string&, const Context&);
  std::vector<std::string> seeds;
  size_t cases = 0, accepted = 0, refused = 0, findings = 0;
};

std::string encode_seed_tensors() {
  using namespace rt;
  std::vector<std::pair<std::string, Tensor>> ts;
  ts.emplace_back("x", random_tensor(DType::F32, {3, 8}, 1, "x"));
  ts.emplace_back("w", random_tensor(DType::BF16, {8, 4}, 1, "w"));
  ts.emplace_back("i", random_tensor(DType::I64, {2}, 1, "i"));
  ts.emplace_back("e", Tensor::empty(DType::F8E4M3FN, {0, 4}));
  return encode_safetensors(ts);
}

std::vector<Entry> make_entries(const fs::path& src) {
  std::vector<Entry> es = {{"graph", "fxg", run_graph_case, {}},
                           {"symint", "sym", run_symint_case, {}},
                           {"pattern", "pat", run_pattern_case, {}},
                           {"safetensors", "st", run_safetensors_case, {}}};
  for (const char* f : {"tests/data/reliability/ident.json", "tests/data/reliability/mm.json",
                        "examples/qwen3next_gdn_L1.fxgraph.json", "tests/data/qwen3next_gdn_L1.fused.fxgraph.json",
                        "tests/data/bad_symbol.fxgraph.json",
                        // auto_functionalized v1/v2 with {"op": ...} values, empty buffers and getitems
                        "tests/golden/rms_norm_quant/add_static_vllm_ir_af_v2.input.json",
                        "tests/golden/rms_norm_quant/per_token_af_v2_cuda.input.json",
                        "tests/golden/rms_norm_quant/add_group64_af_cuda.input.json"})
    if (fs::exists(src / f)) es[0].seeds.push_back(read_file(src / f));
  for (const char* s : {"s0", "32*s68", "((s75**2)//4096)", "Max(1, s0)", "s0*(Mod(s1, 16))", "-s0 + 7", "CeilDiv(s0, 128)",
                        "FloorDiv(s0*s1, 64) + Min(s2, 3)", "(s0 + 1)**3 - s1"})
    es[1].seeds.push_back(s);
  for (const auto& f : builtin_pattern_files()) es[2].seeds.emplace_back(f.text);
  for (const char* f : {"tests/data/wrong_eps.patterns.json", "tests/data/wrong_group_size.patterns.json"})
    if (fs::exists(src / f)) es[2].seeds.push_back(read_file(src / f));
  es[3].seeds.push_back(encode_seed_tensors());
  return es;
}

// Runs one case; returns the finding's description ("" = accepted or refused).
std::string run_case(Entry& e, const std::string& input, const Context& ctx) {
  ++e.cases;
  alarm(20);
  std::string finding;
  try {
    e.run(input, ctx);
    ++e.accepted;
  } catch (const InputError&) {
    ++e.refused;
  } catch (const sym::ParseError&) {
    ++e.refused;
  } catch (const sym::EvalError&) {
    ++e.refused;
  } catch (const std::bad_alloc&) {
    finding = "std::bad_alloc";
  } catch (const std::exception& ex) {
    finding = std::string("unexpected exception: ") + ex.what();
  }
  alarm(0);
  if (!finding.empty()) ++e.findings;
  return finding;
}

void write_file(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string entry = "all", save, current;
  uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  double seconds = 0;
  size_t cases = 100;
  bool quiet = false;
  std::vector<std::string> replay;
  const fs::path src = FXOPT_SOURCE_DIR;
  for (size_t i = 0; i < args.size(); ++i) {
    auto val = [&]() -> std::string {
      if (i + 1 >= args.size()) { std::fprintf(stderr, "fxopt_fuzz: %s needs a value\n", args[i].c_str()); std::exit(2); }
      return args[++i];
    };
    if (args[i] == "--entry") entry = val();
    else if (args[i] == "--cases") cases = std::stoull(val());
    else if (args[i] == "--seconds") seconds = std::stod(val());
    else if (args[i] == "--seed") seed = std::stoull(val());
    else if (args[i] == "--save") save = val();
    else if (args[i] == "--current") current = val();
    else if (args[i] == "--quiet") quiet = true;
    else if (args[i] == "--replay") { replay.assign(args.begin() + static_cast<long>(i) + 1, args.end()); break; }
    else { std::fprintf(stderr, "fxopt_fuzz: unknown argument '%s' (see the comment at the top of tests/fuzz/fuzz_main.cpp)\n", args[i].c_str()); return 2; }
  }
  Context ctx{read_file(src / "examples/qwen3next_gdn_L1.fxgraph.json")};
  std::vector<Entry> entries = make_entries(src);
  size_t findings = 0;

  if (!replay.empty()) {
    for (const std::string& f : replay) {
      const std::string ext = fs::path(f).extension().string();
      Entry* e = nullptr;
      for (auto& x : entries)
        if (ext == std::string(".") + x.ext) e = &x;
      if (!e) { std::fprintf(stderr, "fxopt_fuzz: %s: unknown extension (.fxg .sym .pat .st)\n", f.c_str()); return 2; }
      const std::string finding = run_case(*e, read_file(f), ctx);
      if (!finding.empty()) { std::printf("FINDING %s: %s\n", f.c_str(), finding.c_str()); ++findings; }
    }
    std::printf("replayed %zu inputs: %zu findings\n", replay.size(), findings);
    return findings ? 1 : 0;
  }

  Rng rng(seed);
  std::vector<Entry*> chosen;
  for (auto& e : entries)
    if (entry == "all" || entry == e.name) chosen.push_back(&e);
  if (chosen.empty()) { std::fprintf(stderr, "fxopt_fuzz: unknown entry '%s'\n", entry.c_str()); return 2; }
  if (!save.empty()) fs::create_directories(save);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  for (size_t k = 0; seconds > 0 ? elapsed() < seconds : k < cases; ++k) {
    Entry& e = *chosen[k % chosen.size()];
    std::string input;
    if (std::string(e.name) == "symint" && chance(rng, 10)) input = gen_deep_pair(rng);
    else if (std::string(e.name) == "symint" && chance(rng, 50)) input = gen_sym(rng, 1 + static_cast<int>(pick(rng, 6)));
    else input = e.seeds[pick(rng, e.seeds.size())];
    if (std::string(e.name) == "symint") { if (chance(rng, 40)) mutate_bytes(input, rng); }
    else if (std::string(e.name) == "safetensors" && chance(rng, 60)) {
      // The header through the DOM, then the length prefix rewritten (or left wrong).
      uint64_t n = 0;
      for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(static_cast<unsigned char>(input[b])) << (8 * b);
      std::string header = mutate_text(input.substr(8, n), rng);
      std::string len(8, '\0');
      for (int b = 0; b < 8; ++b) len[b] = static_cast<char>((header.size() >> (8 * b)) & 0xFF);
      input = (chance(rng, 90) ? len : input.substr(0, 8)) + header + input.substr(8 + n);
    } else {
      input = mutate_text(input, rng);
    }
    if (!current.empty()) {
      for (auto& x : entries)
        if (&x != &e) fs::remove(fs::path(current) / (std::string("current.") + x.ext));
      write_file(fs::path(current) / (std::string("current.") + e.ext), input);
    }
    const std::string finding = run_case(e, input, ctx);
    if (!finding.empty()) {
      ++findings;
      const std::string name = std::string(e.name) + "-" + std::to_string(std::hash<std::string>{}(input) % 1000000007) + "." + e.ext;
      std::printf("FINDING (%s) %s%s\n", e.name, finding.substr(0, 300).c_str(), save.empty() ? "" : (" -> " + save + "/" + name).c_str());
      if (!save.empty()) write_file(fs::path(save) / name, input);
    }
  }
  if (!current.empty())
    for (auto& e : entries) fs::remove(fs::path(current) / (std::string("current.") + e.ext));
  for (const Entry* e : chosen)
    if (!quiet || e->cases)
      std::printf("%-12s %7zu cases: %7zu accepted, %7zu refused with a message, %zu findings\n", e->name, e->cases,
                  e->accepted, e->refused, e->findings);
  std::printf("seed %llu, %.1f s, %zu findings\n", static_cast<unsigned long long>(seed), elapsed(), findings);
  return findings ? 1 : 0;
}
