// Fragment expansion of the pattern format: one concrete pattern per combination of spellings and target.
#include "core/pattern/pattern_fragments.h"

#include <algorithm>
#include <map>

namespace fxopt {

namespace {

using Json = PatternJson;
using Err = std::function<void(const std::string&, const std::string&)>;

bool is_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Rewrites every "%name" string in an argument (recursively through arrays) with `map`; objects are values
// ({"dtype": ...}) and stay as they are.
template <class F>
Json map_refs(const Json& a, F&& map) {
  if (a.is_string()) {
    const std::string s = a.get<std::string>();
    if (s.size() > 1 && s[0] == '%') return map(s.substr(1));
    return a;
  }
  if (a.is_array()) {
    Json out = Json::array();
    for (const auto& x : a) out.push_back(map_refs(x, map));
    return out;
  }
  return a;
}

struct Call {
  std::string name;       // the family node's name ("norm")
  const Json* fragment;   // the fragment object
  std::string fragment_name;
  size_t node_index;      // position in the pattern's nodes
};

void check_fragment(const Json& f, const std::string& w, const Err& err) {
  if (!f.is_object()) err(w, "expected a fragment object");
  for (auto it = f.begin(); it != f.end(); ++it)
    if (it.key() != "doc" && it.key() != "inputs" && it.key() != "outputs" && it.key() != "spellings")
      err(w, "unknown key '" + it.key() + "' (expected: doc, inputs, outputs, spellings)");
  for (const char* k : {"inputs", "outputs"}) {
    if (!f.contains(k) || !f[k].is_array() || (std::string(k) == "outputs" && f[k].empty()))
      err(w, std::string("\"") + k + "\" must be an array of names");
    for (const auto& n : f[k])
      if (!n.is_string() || !is_name(n.get<std::string>())) err(w + "." + k, "expected names");
  }
  if (!f.contains("spellings") || !f["spellings"].is_array() || f["spellings"].empty())
    err(w, "\"spellings\" must be a non-empty array");
  for (size_t i = 0; i < f["spellings"].size(); ++i) {
    const Json& s = f["spellings"][i];
    std::string ws = w + ".spellings[" + std::to_string(i) + "]";
    if (!s.is_object()) err(ws, "expected an object");
    for (auto it = s.begin(); it != s.end(); ++it) {
      static const char* kKeys[] = {"name", "doc", "diagram", "vars", "captures", "nodes", "outputs", "root",
                                    "conditions", "reject", "tolerance"};
      if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return it.key() == k; }))
        err(ws, "unknown key '" + it.key() +
                    "' (expected: name, doc, diagram, vars, captures, nodes, outputs, root, conditions, reject, tolerance)");
    }
    if (!s.contains("name") || !s["name"].is_string() || !is_name(s["name"].get<std::string>()))
      err(ws, "\"name\" must be a name (letters, digits, '_', '-')");
    if (!s.contains("nodes") || !s["nodes"].is_array() || s["nodes"].empty()) err(ws, "\"nodes\" must be a non-empty array");
    if (!s.contains("outputs") || !s["outputs"].is_object()) err(ws, "\"outputs\" must map each fragment output to a node");
    for (const auto& o : f["outputs"])
      if (!s["outputs"].contains(o.get<std::string>()) || !s["outputs"][o.get<std::string>()].is_string())
        err(ws + ".outputs", "fragment output '" + o.get<std::string>() + "' is not given");
    if (s.contains("reject") && !s["reject"].is_string()) err(ws + ".reject", "expected the reason as a string");
    if (s.contains("tolerance") && (!s["tolerance"].is_object() || !s["tolerance"].contains("fused_ops") ||
                                    !s["tolerance"]["fused_ops"].is_array()))
      err(ws + ".tolerance", "expected an object with \"fused_ops\" (the fused ops it applies to) and the tolerance");
  }
}

}  // namespace

size_t count_variants(const PatternJson& pattern, const PatternJson& fragments) {
  if (!pattern.is_object() || !pattern.contains("nodes") || !pattern["nodes"].is_array()) return 1;
  size_t variants = pattern.contains("targets") && pattern["targets"].is_array() && !pattern["targets"].empty()
                        ? pattern["targets"].size() : 1;
  for (const auto& n : pattern["nodes"]) {
    if (!n.is_object() || !n.contains("op") || !n["op"].is_string()) continue;
    const std::string& op = n["op"].get_ref<const std::string&>();
    if (op.empty() || op[0] != '@' || !fragments.contains(op.substr(1))) continue;
    const Json& f = fragments[op.substr(1)];
    const size_t k = f.is_object() && f.contains("spellings") && f["spellings"].is_array() ? f["spellings"].size() : 1;
    // Without overflow: past the limit, the count stops at limit + 1.
    variants = k == 0 || variants <= kMaxVariantsPerPattern / k ? variants * k : kMaxVariantsPerPattern + 1;
  }
  return std::min(variants, kMaxVariantsPerPattern + 1);
}

std::vector<ExpandedPattern> expand_fragments(const PatternJson& pattern, const PatternJson& fragments,
                                              const std::string& where, const Err& err,
                                              const std::function<bool(const std::string&)>& keep_op,
                                              const std::function<bool(const std::string&)>& op_available) {
  std::vector<ExpandedPattern> out;
  if (!pattern.is_object() || !pattern.contains("nodes") || !pattern["nodes"].is_array()) {
    out.push_back({pattern, pattern.is_object() && pattern.contains("name") && pattern["name"].is_string()
                                ? pattern["name"].get<std::string>() : std::string(), "", ""});
    return out;  // the reader reports what is wrong
  }
  const std::string family = pattern.contains("name") && pattern["name"].is_string() ? pattern["name"].get<std::string>() : "";
  // Fragment calls.
  std::vector<Call> calls;
  for (size_t i = 0; i < pattern["nodes"].size(); ++i) {
    const Json& n = pattern["nodes"][i];
    if (!n.is_object() || !n.contains("op") || !n["op"].is_string()) continue;
    std::string op = n["op"].get<std::string>();
    if (op.empty() || op[0] != '@') continue;
    std::string w = where + ".nodes[" + std::to_string(i) + "]";
    std::string fname = op.substr(1);
    if (!fragments.contains(fname)) {
      std::string known;
      for (auto it = fragments.begin(); it != fragments.end(); ++it) known += (known.empty() ? "" : ", ") + it.key();
      err(w, "unknown fragment '@" + fname + "' (known: " + (known.empty() ? "none" : known) + ")");
    }
    const Json& f = fragments[fname];
    check_fragment(f, "fragments." + fname, err);
    if (!n.contains("name") || !n["name"].is_string() || !is_name(n["name"].get<std::string>()))
      err(w, "a fragment call needs a \"name\" (letters, digits, '_', '-')");
    if (n.contains("kwargs") || n.contains("val")) err(w, "a fragment call takes only \"name\", \"op\" and \"args\"");
    if (!n.contains("args") || !n["args"].is_array() || n["args"].size() != f["inputs"].size())
      err(w, "fragment @" + fname + " takes " + std::to_string(f["inputs"].size()) + " args (" + f["inputs"].dump() + ")");
    for (const auto& a : n["args"])
      if (!a.is_string() || a.get<std::string>().size() < 2 || a.get<std::string>()[0] != '%')
        err(w + ".args", "a fragment argument is a reference \"%node\"");
    calls.push_back({n["name"].get<std::string>(), &f, fname, i});
  }
  // Expansion adds to the pattern's inputs (captures), vars and conditions: they must have their types first.
  if (!calls.empty()) {
    if (pattern.contains("inputs") && !pattern["inputs"].is_object()) err(where + ".inputs", "expected an object: name -> type");
    if (pattern.contains("vars") && !pattern["vars"].is_object()) err(where + ".vars", "expected an object: name -> type");
    if (pattern.contains("conditions") && !pattern["conditions"].is_array())
      err(where + ".conditions", "expected an array of conditions");
  }
  // Targets: one variant per entry.
  std::vector<const Json*> targets;
  if (pattern.contains("targets")) {
    if (pattern.contains("fused_op") || pattern.contains("replacement"))
      err(where, "\"targets\" replaces \"fused_op\" and \"replacement\"; give one or the other");
    if (!pattern["targets"].is_array() || pattern["targets"].empty()) err(where + ".targets", "expected a non-empty array");
    for (size_t t = 0; t < pattern["targets"].size(); ++t) {
      const Json& tj = pattern["targets"][t];
      std::string w = where + ".targets[" + std::to_string(t) + "]";
      if (!tj.is_object() || !tj.contains("name") || !tj["name"].is_string() || !is_name(tj["name"].get<std::string>()))
        err(w, "expected an object with a \"name\"");
      for (auto it = tj.begin(); it != tj.end(); ++it)
        if (it.key() != "name" && it.key() != "fused_op" && it.key() != "replacement" && it.key() != "tolerance" &&
            it.key() != "benefit" && it.key() != "conditions")
          err(w, "unknown key '" + it.key() + "' (expected: name, fused_op, replacement, tolerance, benefit, conditions)");
      targets.push_back(&tj);
    }
  } else {
    targets.push_back(nullptr);
  }
  // Refused before anything is built.
  if (count_variants(pattern, fragments) > kMaxVariantsPerPattern) {
    std::string counted;
    for (const Call& c : calls)
      counted += (counted.empty() ? "" : " x ") + std::to_string((*c.fragment)["spellings"].size()) + " @" +
                 c.fragment_name + " spellings";
    if (pattern.contains("targets"))
      counted += " x " + std::to_string(targets.size()) + (targets.size() == 1 ? " target" : " targets");
    err(where, "expands into more than " + std::to_string(kMaxVariantsPerPattern) + " variants (" + counted +
                   "), the most fxopt builds for one pattern: use fewer fragment calls or spellings");
  }
  if (calls.empty() && !pattern.contains("targets")) {
    out.push_back({pattern, family, "", ""});
    return out;
  }

  // The ops each variant's region needs (`op_available`): the family's own nodes' and each chosen spelling's.
  std::vector<std::string> family_ops;
  std::vector<std::vector<std::vector<std::string>>> spelling_ops(calls.size());
  if (op_available && !calls.empty()) {
    auto ops_of = [](const Json& nodes, std::vector<std::string>& out) {
      if (!nodes.is_array()) return;
      for (const auto& n : nodes)
        if (n.is_object() && n.contains("op") && n["op"].is_string() && n["op"].get<std::string>().rfind('@', 0) != 0)
          out.push_back(n["op"].get<std::string>());
    };
    ops_of(pattern["nodes"], family_ops);
    for (size_t k = 0; k < calls.size(); ++k)
      for (const auto& sp : (*calls[k].fragment)["spellings"]) {
        spelling_ops[k].emplace_back();
        if (sp.contains("nodes")) ops_of(sp["nodes"], spelling_ops[k].back());
      }
  }
  auto all_available = [&](const std::vector<std::string>& ops) {
    return std::all_of(ops.begin(), ops.end(), [&](const std::string& op) { return op_available(op); });
  };

  std::vector<size_t> choice(calls.size(), 0);
  // Next combination (the last call varies fastest); false after the last one.
  auto advance = [&] {
    size_t k = calls.size();
    while (k > 0) {
      --k;
      if (++choice[k] < (*calls[k].fragment)["spellings"].size()) return true;
      choice[k] = 0;
    }
    return false;
  };
  for (const Json* target : targets) {
    std::fill(choice.begin(), choice.end(), 0);
    const size_t first_out = out.size();
    for (;;) {
      std::string fused_op = target ? (target->contains("fused_op") && (*target)["fused_op"].is_string()
                                           ? (*target)["fused_op"].get<std::string>() : "")
                                    : (pattern.contains("fused_op") && pattern["fused_op"].is_string()
                                           ? pattern["fused_op"].get<std::string>() : "");
      if (keep_op && !fused_op.empty() && !keep_op(fused_op)) {
        ExpandedPattern stub{Json::object(), family, "", ""};
        stub.json["fused_op"] = fused_op;
        stub.pruned = true;
        out.push_back(std::move(stub));
        break;
      }
      std::vector<std::string> variant_ops;
      if (op_available && !calls.empty()) {
        bool present = all_available(family_ops);
        for (size_t k = 0; k < calls.size() && present; ++k) present = all_available(spelling_ops[k][choice[k]]);
        if (present) {
          variant_ops = family_ops;
          for (size_t k = 0; k < calls.size(); ++k)
            variant_ops.insert(variant_ops.end(), spelling_ops[k][choice[k]].begin(), spelling_ops[k][choice[k]].end());
        }
        if (!present) {
          // Never built: listed under its name only.
          std::string name = family;
          if (target) name += "@" + (*target)["name"].get<std::string>();
          for (size_t k = 0; k < calls.size(); ++k)
            name += (k == 0 ? "/" : "+") + (*calls[k].fragment)["spellings"][choice[k]]["name"].get<std::string>();
          ExpandedPattern stub{Json::object(), family, "", ""};
          stub.json["name"] = name;
          stub.json["fused_op"] = fused_op;
          stub.absent = true;
          stub.expanded = true;
          stub.first = out.size() == first_out;
          stub.fused_op = fused_op;
          out.push_back(std::move(stub));
          if (!advance()) break;
          continue;
        }
      }
      // The pattern without its "targets" (one is merged in below) and with its "nodes" still to come, in their
      // place: the same object as a copy with those changes, without copying what they drop (a third of the
      // JSON copied when the built-in patterns are loaded).
      Json p = Json::object();
      for (auto it = pattern.begin(); it != pattern.end(); ++it)
        if (it.key() == "nodes") p[it.key()] = nullptr;
        else if (it.key() != "targets") p[it.key()] = it.value();
      std::string spelling, names, reject;
      const Json* tolerance = nullptr;
      // Family-level reference map: "call" / "call.out" -> the chosen spelling's node.
      std::map<std::string, std::string> outs;
      std::map<std::string, std::string> call_root;
      auto family_ref = [&](const std::string& name) -> Json {
        auto it = outs.find(name);
        return Json("%" + (it == outs.end() ? name : it->second));
      };
      Json nodes = Json::array();
      size_t next_call = 0;
      for (size_t i = 0; i < pattern["nodes"].size(); ++i) {
        const Json& n = pattern["nodes"][i];
        if (next_call < calls.size() && calls[next_call].node_index == i) {
          const Call& c = calls[next_call];
          const Json& s = (*c.fragment)["spellings"][choice[next_call]];
          ++next_call;
          std::string sname = s["name"].get<std::string>();
          spelling += (spelling.empty() ? "" : ", ") + c.name + "=" + sname;
          names += (names.empty() ? "" : "+") + sname;
          if (s.contains("reject") && reject.empty()) reject = c.name + " is spelled " + sname + ": " + s["reject"].get<std::string>();
          if (s.contains("tolerance")) {
            for (const auto& op : s["tolerance"]["fused_ops"])
              if (op.is_string() && op.get<std::string>() == fused_op) tolerance = &s["tolerance"];
          }
          // Local names: parameters, captures, the spelling's own nodes.
          std::map<std::string, Json> local;
          const Json& params = (*c.fragment)["inputs"];
          for (size_t k = 0; k < params.size(); ++k)
            local[params[k].get<std::string>()] = map_refs(n["args"][k], family_ref);
          if (s.contains("captures")) {
            if (!s["captures"].is_object()) err("fragments." + c.fragment_name + "." + sname + ".captures", "expected an object: name -> type");
            for (auto it = s["captures"].begin(); it != s["captures"].end(); ++it) {
              local[it.key()] = Json("%" + c.name + "." + it.key());
              p["inputs"][c.name + "." + it.key()] = it.value();
            }
          }
          for (const auto& sn : s["nodes"]) {
            if (!sn.is_object() || !sn.contains("name") || !sn["name"].is_string())
              err("fragments." + c.fragment_name + "." + sname, "every node needs a \"name\"");
            local[sn["name"].get<std::string>()] = Json("%" + c.name + "." + sn["name"].get<std::string>());
          }
          auto spelling_ref = [&](const std::string& name) -> Json {
            auto it = local.find(name);
            if (it == local.end())
              err("fragments." + c.fragment_name + "." + sname, "unknown reference '%" + name + "'");
            return it->second;
          };
          for (const auto& sn : s["nodes"]) {
            Json m = sn;
            m["name"] = c.name + "." + sn["name"].get<std::string>();
            if (m.contains("args")) m["args"] = map_refs(sn["args"], spelling_ref);
            if (m.contains("kwargs") && m["kwargs"].is_object())
              for (auto it = m["kwargs"].begin(); it != m["kwargs"].end(); ++it) it.value() = map_refs(it.value(), spelling_ref);
            nodes.push_back(std::move(m));
          }
          const Json& fo = (*c.fragment)["outputs"];
          for (size_t k = 0; k < fo.size(); ++k) {
            std::string node = c.name + "." + s["outputs"][fo[k].get<std::string>()].get<std::string>();
            outs[c.name + "." + fo[k].get<std::string>()] = node;
            if (k == 0) outs[c.name] = node;
          }
          call_root[c.name] = s.contains("root") && s["root"].is_string()
                                  ? c.name + "." + s["root"].get<std::string>() : outs[c.name];
          if (s.contains("vars") && s["vars"].is_object())
            for (auto it = s["vars"].begin(); it != s["vars"].end(); ++it)
              if (!p.contains("vars") || !p["vars"].contains(it.key())) p["vars"][it.key()] = it.value();
          if (s.contains("conditions") && s["conditions"].is_array())
            for (const auto& cond : s["conditions"]) p["conditions"].push_back(cond);
          continue;
        }
        Json m = n;
        if (m.is_object() && m.contains("args")) m["args"] = map_refs(n["args"], family_ref);
        if (m.is_object() && m.contains("kwargs") && m["kwargs"].is_object())
          for (auto it = m["kwargs"].begin(); it != m["kwargs"].end(); ++it) it.value() = map_refs(it.value(), family_ref);
        nodes.push_back(std::move(m));
      }
      p["nodes"] = std::move(nodes);
      if (p.contains("outputs") && p["outputs"].is_object())
        for (auto it = p["outputs"].begin(); it != p["outputs"].end(); ++it)
          if (it.value().is_string() && outs.count(it.value().get<std::string>()))
            it.value() = outs[it.value().get<std::string>()];
      if (p.contains("root") && p["root"].is_string()) {
        std::string r = p["root"].get<std::string>();
        if (call_root.count(r)) p["root"] = call_root[r];
        else if (outs.count(r)) p["root"] = outs[r];
      }
      std::string name = family;
      if (target) {
        name += "@" + (*target)["name"].get<std::string>();
        if (target->contains("fused_op")) p["fused_op"] = (*target)["fused_op"];
        if (target->contains("replacement")) p["replacement"] = (*target)["replacement"];
        if (target->contains("benefit")) p["benefit"] = (*target)["benefit"];
        if (target->contains("tolerance") && !tolerance) tolerance = &(*target)["tolerance"];
        if (target->contains("conditions") && (*target)["conditions"].is_array())
          for (const auto& cond : (*target)["conditions"]) p["conditions"].push_back(cond);
      }
      if (!names.empty()) name += "/" + names;
      p["name"] = name;
      if (tolerance) {
        Json t = *tolerance;
        t.erase("fused_ops");
        p["tolerance"] = std::move(t);
      }
      out.push_back({std::move(p), family, spelling, reject});
      out.back().expanded = true;
      out.back().first = out.size() == first_out + 1;
      out.back().fused_op = std::move(fused_op);
      out.back().ops = std::move(variant_ops);
      if (calls.empty() || !advance()) break;
    }
  }
  return out;
}

}  // namespace fxopt
