"""A stand-in for the fxopt binary in the hook's tests: `rewrite`, `match --format json` and `fmt`, in Python.

It knows one spelling of the gated RMSNorm + group-128 fp8 quant region — the one torch.compile gives the
corpus model (spec/fusion-rms-gated-fp8.md) — and nothing else, so the hook's export / run / rebuild
machinery can be tested without the C++ binary. It is not a matcher to learn from. `--fail` makes it
exit 3 with a message (to test error surfacing). `--verify[=MODE]` is accepted and reported on stderr;
`--verify-fails` makes a verifying rewrite exit 1 as the real binary does when a rewrite differs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fxopt import fxgraph_json  # noqa: E402

FUSED = "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"
CVT = "prims.convert_element_type.default"
FMAX = {"float8_e4m3fn": 448.0, "float8_e4m3fnuz": 224.0}


class _NoMatch(Exception):
    pass


def _find(doc):
    nodes = doc["nodes"]
    by = {n["name"]: n for n in nodes}
    users: dict[str, list] = {n["name"]: [] for n in nodes}

    def refs(v):
        if isinstance(v, dict) and set(v) == {"node"}:
            yield v["node"]
        elif isinstance(v, dict):
            for e in v.values():
                yield from refs(e)
        elif isinstance(v, list):
            for e in v:
                yield from refs(e)

    for n in nodes:
        for r in refs([n["args"], n["kwargs"]]):
            users[r].append(n["name"])

    def arg(n, i, target=None):
        a = n["args"][i] if i < len(n["args"]) else None
        if not (isinstance(a, dict) and "node" in a):
            raise _NoMatch(f"{n['name']}: args[{i}] is not a node")
        m = by[a["node"]]
        if target is not None and m["target"] != target:
            raise _NoMatch(f"{m['name']}: {m['target']} is not {target}")
        return m

    def expect(cond, why):
        if not cond:
            raise _NoMatch(why)

    matches, misses = [], []
    for q in nodes:
        if q["target"] != CVT or not isinstance(q["args"][1], dict) or q["args"][1].get("dtype") not in FMAX:
            continue
        try:
            fmax = FMAX[q["args"][1]["dtype"]]
            cmax = arg(q, 0, "aten.clamp_max.default")
            expect(cmax["args"][1] == fmax, "clamp_max bound")
            cmin = arg(cmax, 0, "aten.clamp_min.default")
            expect(cmin["args"][1] == -fmax, "clamp_min bound")
            div2 = arg(cmin, 0, "aten.div.Tensor")
            yg, scale = arg(div2, 0, "aten.reshape.default"), arg(div2, 1, "aten.clamp_min.default")
            expect(scale["args"][1] == 1.0 / (fmax * 512.0), "scale floor")
            div1 = arg(scale, 0, "aten.div.Tensor")
            expect(div1["args"][1] == fmax, "amax / FMAX")
            cvt4 = arg(div1, 0, CVT)
            gi = arg(cvt4, 0, "_operator.getitem")
            mx = arg(gi, 0, "aten.max.dim")
            expect(mx["args"][1:] == [-1, True], "max over the last dim")
            ab = arg(mx, 0, "aten.abs.default")
            expect(arg(ab, 0) is yg, "abs of the grouped y")
            group = yg["args"][1]
            expect(isinstance(group, list) and len(group) == 3 and group[2] == 128, "group size 128")
            y2 = arg(yg, 0, "aten.reshape.default")
            ybf = arg(y2, 0, CVT)
            expect(ybf["args"][1] == {"dtype": "bfloat16"}, "y rounded to bf16")
            mul = arg(ybf, 0, "aten.mul.Tensor")
            norm_w, silu = arg(mul, 0, "aten.mul.Tensor"), arg(mul, 1, "aten.div.Tensor")
            norm, wf = arg(norm_w, 0, "aten.mul.Tensor"), arg(norm_w, 1, CVT)
            xf, rsqrt = arg(norm, 0, CVT), arg(norm, 1, "aten.rsqrt.default")
            add = arg(rsqrt, 0, "aten.add.Tensor")
            eps = add["args"][1]
            mean = arg(add, 0, "aten.mean.dim")
            expect(mean["args"][1:] == [[-1], True], "mean over the last dim")
            pw = arg(mean, 0, "aten.pow.Tensor_Scalar")
            expect(arg(pw, 0) is xf and pw["args"][1] == 2, "x squared")
            zf = arg(silu, 0, CVT)
            add1 = arg(silu, 1, "aten.add.Tensor")
            expect(add1["args"][1] == 1, "exp(-z) + 1")
            ex = arg(add1, 0, "aten.exp.default")
            neg = arg(ex, 0, "aten.neg.default")
            expect(arg(neg, 0) is zf, "silu of z")
            x, z, w = arg(xf, 0), arg(zf, 0), arg(wf, 0)
            d = x["meta"]["val"]["shape"][-1]
            expect(isinstance(d, int) and d % 128 == 0, "head dim a multiple of 128")
            region = [q, cmax, cmin, div2, yg, scale, div1, cvt4, gi, mx, ab, y2, ybf, mul, norm_w, silu,
                      norm, wf, xf, rsqrt, add, mean, pw, zf, add1, ex, neg]
            names = {n["name"] for n in region}
            qv = [by[u] for u in users[q["name"]]]
            expect(len(qv) == 1 and qv[0]["target"] == "aten.reshape.default", "q reshaped once")
            sq = [by[u] for u in users[scale["name"]] if u != div2["name"]]
            expect(len(sq) == 1 and sq[0]["target"] == "aten.squeeze.dim", "scales squeezed once")
            for n in region:
                if n is q or n is scale or n is wf:
                    continue
                outside = [u for u in users[n["name"]] if u not in names]
                expect(not outside, f"{n['name']} has users outside the region: {outside}")
            expect(users[wf["name"]] == [norm_w["name"]], "weight conversion used once")
            matches.append({"q": q, "qv": qv[0], "sq": sq[0], "x": x, "z": z, "w": w, "eps": eps, "ybf": ybf,
                            "region": region, "k": y2["args"][1][-1]})
        except _NoMatch as e:
            misses.append({"at": q["name"], "reason": str(e)})
    return matches, misses, users


def rewrite(doc):
    matches, misses, users = _find(doc)
    nodes = doc["nodes"]
    taken = {n["name"] for n in nodes}

    def fresh(base):
        i = 0
        while f"{base}_{i}" in taken:
            i += 1
        taken.add(f"{base}_{i}")
        return f"{base}_{i}"

    replace: dict[str, str] = {}
    insert_before: dict[str, list] = {}
    dead: set = set()
    for m in matches:
        xv = m["x"]["meta"]["val"]
        rows, d, k = xv["shape"][0], xv["shape"][-1], m["k"]
        dev = xv["device"]
        dt = m["q"]["args"][1]["dtype"]
        f, g0, g1, qr, sr = (fresh("fxopt_fused"), fresh("fxopt_getitem"), fresh("fxopt_getitem"),
                             fresh("fxopt_reshape"), fresh("fxopt_reshape"))
        new = [
            {"name": f, "op": "call_function", "target": FUSED,
             "args": [{"node": m["x"]["name"]}, {"node": m["w"]["name"]}, None, {"node": m["z"]["name"]},
                      m["eps"], True, "silu", 128], "kwargs": {},
             "meta": {"val": [{"dtype": dt, "shape": [rows, d], "stride": [d, 1], "device": dev},
                              {"dtype": "float32", "shape": [rows, d // 128], "stride": [d // 128, 1],
                               "device": dev}]}},
            {"name": g0, "op": "call_function", "target": "_operator.getitem", "args": [{"node": f}, 0],
             "kwargs": {}, "meta": {"val": {"dtype": dt, "shape": [rows, d], "stride": [d, 1], "device": dev}}},
            {"name": g1, "op": "call_function", "target": "_operator.getitem", "args": [{"node": f}, 1],
             "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [rows, d // 128],
                                            "stride": [d // 128, 1], "device": dev}}},
            {"name": qr, "op": "call_function", "target": "aten.reshape.default",
             "args": [{"node": g0}, [-1, k]], "kwargs": {}, "meta": dict(m["qv"]["meta"])},
            {"name": sr, "op": "call_function", "target": "aten.reshape.default",
             "args": [{"node": g1}, [-1, k // 128]], "kwargs": {}, "meta": dict(m["sq"]["meta"])},
        ]
        insert_before.setdefault(m["ybf"]["name"], []).extend(new)
        replace[m["qv"]["name"]] = qr
        replace[m["sq"]["name"]] = sr
        dead.update(n["name"] for n in m["region"])
        dead.update((m["qv"]["name"], m["sq"]["name"]))

    def sub(v):
        if isinstance(v, dict) and set(v) == {"node"}:
            return {"node": replace.get(v["node"], v["node"])}
        if isinstance(v, dict):
            return {k: sub(e) for k, e in v.items()}
        if isinstance(v, list):
            return [sub(e) for e in v]
        return v

    out = []
    for n in nodes:
        out.extend(insert_before.get(n["name"], []))
        if n["name"] in dead:
            continue
        out.append(dict(n, args=sub(n["args"]), kwargs=sub(n["kwargs"])))
    # The weight conversions feed nothing once fused (they were only used by the region).
    alive = set()
    for n in out:
        for v in json.dumps([n["args"], n["kwargs"]]).split('"node": "')[1:]:
            alive.add(v.split('"', 1)[0])
    out = [n for n in out if n["op"] in ("placeholder", "output") or n["name"] in alive
           or n["target"] == FUSED]
    return dict(doc, nodes=out), matches, misses


def leak_silu(doc):
    """Mimics a normalisation left in the output: z / (exp(-z) + 1) -> aten.silu.default(z), nothing fused."""
    nodes = doc["nodes"]
    by = {n["name"]: n for n in nodes}
    dead = set()
    for n in nodes:
        try:
            if n["target"] != "aten.div.Tensor":
                continue
            add = by[n["args"][1]["node"]]
            ex = by[add["args"][0]["node"]]
            neg = by[ex["args"][0]["node"]]
            if (add["target"], ex["target"], neg["target"]) != ("aten.add.Tensor", "aten.exp.default",
                                                               "aten.neg.default"):
                continue
            if neg["args"][0] != n["args"][0]:
                continue
        except (KeyError, TypeError, IndexError):
            continue
        n["target"], n["args"] = "aten.silu.default", [n["args"][0]]
        dead.update((add["name"], ex["name"], neg["name"]))
    return dict(doc, nodes=[n for n in nodes if n["name"] not in dead])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fake_fxopt")
    ap.add_argument("command", choices=["rewrite", "match", "fmt"])
    ap.add_argument("graph")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--target")
    ap.add_argument("--format", default="text")
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--verify", nargs="?", const="regions", choices=["regions", "graph"])
    ap.add_argument("--verify-fails", action="store_true", help="with --verify: report a differing rewrite, exit 1")
    ap.add_argument("--leak-silu", action="store_true", help="fuse nothing, leave aten.silu in the output")
    a = ap.parse_args(argv)
    if a.fail:
        print("fake_fxopt: error: asked to fail", file=sys.stderr)
        return 3
    if a.verify and a.command == "rewrite":
        if a.verify_fails:
            print(f"fxopt rewrite: --verify={a.verify}: a rewrite differs, output not written", file=sys.stderr)
            return 1
        print(f"fake_fxopt: --verify={a.verify}: every rewrite agrees", file=sys.stderr)
    try:
        doc = fxgraph_json.read(a.graph)
    except (OSError, ValueError) as e:
        print(f"fake_fxopt: error: {e}", file=sys.stderr)
        return 2
    if a.command == "fmt":
        text = fxgraph_json.dumps(doc)
    elif a.command == "match":
        matches, misses, _ = _find(doc)
        print(json.dumps({"matches": [{"root": m["q"]["name"], "pattern": "rms_gated_fp8_group_quant"}
                                      for m in matches], "near_misses": misses}))
        return 0
    elif a.leak_silu:
        new = leak_silu(doc)
        text = fxgraph_json.dumps(new)
    else:
        new, matches, misses = rewrite(doc)
        text = fxgraph_json.dumps(new)
        print(f"fake_fxopt: {len(matches)} match(es)", file=sys.stderr)
    if a.output == "-":
        sys.stdout.write(text)
    else:
        fxgraph_json.write(json.loads(text), a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
