"""Compares a generated pattern file with the built-in patterns it re-authors: `fxopt match --format json` on
every corpus graph and golden case, matches (root, nodes, bindings) and near misses (root, graph node, reason)."""
import glob
import json
import os
import re
import subprocess


def corpus_graphs(root):
    """The corpus graphs and every golden case input."""
    return (sorted(glob.glob(os.path.join(root, "examples", "*.fxgraph.json"))) +
            [os.path.join(root, "tests", "data", "qwen3next_gdn_L8.fxgraph.json")] +
            sorted(glob.glob(os.path.join(root, "tests", "golden", "*.input.json"))) +
            sorted(glob.glob(os.path.join(root, "tests", "golden", "*", "*.input.json"))))


def _match(binary, graph, args):
    r = subprocess.run(list(binary) + ["match", graph, "--format", "json"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"fxopt match {graph} {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def _graph_node(where):
    """'groups (view_5)' -> 'view_5' (the pattern's own node names may differ); other 'where's as they are."""
    m = re.search(r"\(([^()]*)\)\s*$", where or "")
    return m.group(1) if m else where


def summary(report, rename=lambda n: n):
    matches = sorted((rename(m["pattern"]), m["root"], tuple(sorted(m["nodes"])), tuple(sorted(m["bindings"].items())))
                     for m in report["matches"])
    misses = sorted((rename(m["pattern"]), m["root"], _graph_node(m.get("where")), m["reason"])
                    for m in report["near_misses"])
    return matches, misses


def compare_with_builtin(binary, generated, prefix, graphs, targets=("rocm-aiter", "cuda")):
    """(differences, counts): the generated file's patterns (named PREFIX + built-in name) against the built-ins,
    on every graph for every target (a family's fused ops differ per target)."""
    with open(generated) as f:
        gen_names = [p["name"] for p in json.load(f)["patterns"]]
    ref_names = [n[len(prefix):] for n in gen_names]
    strip = lambda n: n[len(prefix):] if n.startswith(prefix) else n  # noqa: E731
    diffs, counts = [], {"graphs": 0, "matches": 0, "near_misses": 0}
    for g, target in ((g, t) for g in graphs for t in targets):
        gen = _match(binary, g, ["--pattern-file", generated, "--patterns", ",".join(gen_names), "--target", target])
        ref = _match(binary, g, ["--patterns", ",".join(ref_names), "--target", target])
        gm, gn = summary(gen, strip)
        rm, rn = summary(ref)
        counts["graphs"] += 1
        counts["matches"] += len(rm)
        counts["near_misses"] += len(rn)
        name = f"{os.path.basename(g)} (--target {target})"
        if gm != rm:
            diffs.append(f"{name}: matches differ:\n  generated {gm}\n  built-in  {rm}")
        if gn != rn:
            diffs.append(f"{name}: near misses differ:\n  generated {gn}\n  built-in  {rn}")
    return diffs, counts
