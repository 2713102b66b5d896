"""Benchmark: fxopt.export, fxopt.load and fxopt.rebuild time per node on ~300, 4k and 40k-node graphs.

The graphs are a replicated transformer block (RMSNorm, gated MLP, residual) traced with make_fx in symbolic
mode, so meta['val'] holds SymInt shapes as in a torch.compile graph. Prints microseconds per node for each
step and size; a linear bridge shows the same figure at every size (target: each <= 50 us per node). load
builds a lazy GraphModule: "codegen" is what its first use (here `gm.code`) then costs, timed once.

    python3 bench/python/bench_bridge.py [--sizes 300,4000,40000] [--repeat 3] [--check] [--profile 4000]
                                         [--budget 420]

Writes the table to $OUT/bench_bridge.txt as well when OUT is set, and with --profile N the cProfile of each
step at the size nearest N (top functions by own time and by cumulative time) to $OUT/bench_bridge_profile.txt
(else stdout). Sizes of 10k nodes and more are timed once (not --repeat times); a size is skipped when the
run has already taken --budget seconds, so the whole command stays within a 10-minute limit. Needs torch (CPU
is enough); without it, it says so and exits 0.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch.fx.experimental.proxy_tensor import make_fx
except ImportError:
    print("bench_bridge: torch is not installed; nothing to measure")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fxopt  # noqa: E402
from fxopt import fxgraph_json, importer  # noqa: E402

D, H = 64, 128


def block(x, g, w1, w2, w3):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)
    h = (h * g).to(x.dtype)
    y = (F.silu(h @ w1) * (h @ w2)) @ w3
    return x + y.view(x.shape)


def traced(layers: int):
    def model(x, *ws):
        for i in range(layers):
            x = block(x, *ws[4 * i: 4 * i + 4])
        return x

    x = torch.randn(8, D, dtype=torch.bfloat16)
    ws = []
    for _ in range(layers):
        ws += [torch.randn(D, dtype=torch.float32), torch.randn(D, H, dtype=torch.bfloat16),
               torch.randn(D, H, dtype=torch.bfloat16), torch.randn(H, D, dtype=torch.bfloat16)]
    return make_fx(model, tracing_mode="symbolic")(x, *ws)


def best(fn, repeat):
    out, t = None, float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return out, t


def profiled(name, fn, out):
    """Runs fn once under cProfile and appends its top functions (own time, then cumulative) to `out`."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(25)
        out.append(f"===== {name}: top 25 by {key} =====\n{buf.getvalue()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="300,4000,40000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="also time load(check=True) (fake op per node)")
    ap.add_argument("--profile", type=int, default=0, help="profile each step at the size nearest this")
    ap.add_argument("--budget", type=float, default=420.0, help="skip further sizes after this many seconds")
    a = ap.parse_args()
    start = time.perf_counter()
    sizes = [int(s) for s in a.sizes.split(",")]
    profile_at = min(sizes, key=lambda s: abs(s - a.profile)) if a.profile else None
    profile_out: list[str] = []
    out = os.environ.get("OUT")

    def save():  # after every row, so a run cut short by a time limit keeps what it measured
        if out:
            with open(os.path.join(out, "bench_bridge.txt"), "w") as f:
                f.write(f"torch {torch.__version__}\n{header}\n" + "\n".join(rows) + "\n")
            if profile_out:
                with open(os.path.join(out, "bench_bridge_profile.txt"), "w") as f:
                    f.write("\n".join(profile_out))
    per_layer = len(traced(1).graph.nodes) - len(traced(0).graph.nodes)  # block + its 4 weight placeholders
    rows = []
    header = (f"{'nodes':>7} {'trace s':>8} {'export us/node':>15} {'dumps us/node':>14} {'load us/node':>13} "
              f"{'rebuild us/node':>16} {'codegen us/node':>16}" + (f" {'load check us/node':>19}" if a.check else ""))
    print(header, flush=True)
    for target in sizes:
        if time.perf_counter() - start > a.budget:
            row = f"{target:>7} skipped: the run has taken {time.perf_counter() - start:.0f} s (--budget {a.budget:.0f})"
            print(row, flush=True)
            rows.append(row)
            save()
            continue
        layers = max(1, round(target / per_layer))
        t0 = time.perf_counter()
        gm = traced(layers)
        t_trace = time.perf_counter() - t0
        n = len(gm.graph.nodes)
        repeat = a.repeat if n < 10000 else 1
        doc, t_export = best(lambda: fxopt.export(gm), repeat)
        _, t_dumps = best(lambda: fxgraph_json.dumps(doc), repeat)
        _, t_load = best(lambda: fxopt.load(doc, strict=True), repeat)
        # load generates the forward's code on first use (lazy): what that first use costs, once
        gm2 = fxopt.load(doc, strict=True)
        t0 = time.perf_counter()
        code = gm2.code
        t_codegen = time.perf_counter() - t0
        assert "def forward" in code
        del gm2
        # rebuild with the graph's own document: every node is compared and kept (what the torch.compile
        # hook does for the untouched part of a graph); the graph stays the same, so repeats are alike.
        stats, t_rebuild = best(lambda: importer.rebuild(gm, doc, strict=True), repeat)
        if target == profile_at:
            profiled(f"export, {n} nodes", lambda: fxopt.export(gm), profile_out)
            profiled(f"load, {n} nodes", lambda: fxopt.load(doc, strict=True), profile_out)
            profiled(f"rebuild, {n} nodes", lambda: importer.rebuild(gm, doc, strict=True), profile_out)
        row = (f"{n:>7} {t_trace:>8.1f} {t_export / n * 1e6:>15.1f} {t_dumps / n * 1e6:>14.1f} "
               f"{t_load / n * 1e6:>13.1f} {t_rebuild / n * 1e6:>16.1f} {t_codegen / n * 1e6:>16.1f}")
        if a.check:
            _, t_check = best(lambda: fxopt.load(doc, strict=True, check=True), 1)
            row += f" {t_check / n * 1e6:>19.1f}"
        print(row, flush=True)
        rows.append(row)
        save()
        assert stats["kept"] > 0 and not stats["problems"], stats
    print("target: export, load and rebuild each <= 50 us per node at every size (linear)", flush=True)
    save()
    if profile_out and not out:
        print("\n".join(profile_out))


if __name__ == "__main__":
    main()
