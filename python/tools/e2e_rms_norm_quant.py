"""End-to-end check of the vLLM RMSNorm (+ residual) -> FP8 family with real torch.compile: decoders built from vLLM's
native forms (python/tests/vllm_native.py: several layers, layer 0 plain RMSNorm, then fused-add RMSNorm on the
residual chain, bf16, token dim dynamic), compiled without and with fxopt's post-grad hook (`--target cuda`: the _C
ops in auto_functionalized form, served by fxopt.ops's reference registrations where vLLM is absent;
`--target rocm-aiter`: the AITER ops). Per variant: the fused ops in the post-grad graph against the expected
counts, outputs bit-identical (Inductor's emulate_precision_casts on in both compiles; the _C per-token kernel
divides where the native chain multiplies by the reciprocal: there at most one fp8 code apart in layer 0, scales
and residuals exact), negatives (fp32 weight with bf16 activations, G not dividing the hidden size, one normed
tensor feeding two quants, e4m3fnuz on the cuda target) left untouched. Prints a table, writes
rms_norm_quant_e2e.json; exit 1 on a failure.

    python3 python/tools/e2e_rms_norm_quant.py --binary build/fxopt --out $OUT/e2e_rms_norm_quant [--part 1|2]
    python3 python/tools/e2e_rms_norm_quant.py --table $OUT/e2e_rms_norm_quant/rms_norm_quant_e2e.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import common  # noqa: E402  (puts python/ on sys.path)

C = "_C.{}.default"
PART1 = 9  # variants in --part 1
A = "vllm.{}.default"


def variants():
    import torch

    from vllm_native import Variant
    fnuz = torch.float8_e4m3fnuz
    L = 4
    out = [
        # part 1: the main positives and negatives of each target
        Variant("static_e4m3fn_cuda", "static", expected=((C.format("rms_norm_static_fp8_quant"), 1),
                                                          (C.format("fused_add_rms_norm_static_fp8_quant"), L - 1))),
        Variant("group128_e4m3fn_cuda", "group", group=128, expected=((C.format("rms_norm_per_block_quant"), L),)),
        Variant("token_e4m3fn_cuda", "token", expected=((C.format("rms_norm_dynamic_per_token_quant"), L),), exact=False),
        Variant("token_e4m3fnuz_aiter", "token", fp8=fnuz, target="rocm-aiter",
                expected=((A.format("rocm_aiter_rmsnorm_fused_dynamic_quant"), 1),
                          (A.format("rocm_aiter_rmsnorm_fused_add_dynamic_quant"), L - 1))),
        Variant("group128_e4m3fnuz_aiter", "group", fp8=fnuz, target="rocm-aiter",
                expected=((A.format("rocm_aiter_rmsnorm_fp8_group_quant"), 1),
                          (A.format("rocm_aiter_rmsnorm_with_add_fp8_group_quant"), L - 1))),
        Variant("static_custom_ops_cuda", "static", spelling="custom",
                expected=((C.format("rms_norm_static_fp8_quant"), 1),
                          (C.format("fused_add_rms_norm_static_fp8_quant"), L - 1))),
        Variant("token_vllm_ir_cuda", "token", spelling="vllm_ir",
                expected=((C.format("rms_norm_dynamic_per_token_quant"), L),)),
        Variant("neg_fp32_weight", "static", weight_dtype=torch.float32),
        Variant("neg_fanout_token_group", "token+group"),
        # part 2: other sizes, eps, G = 64, the other opaque spellings, more negatives
        Variant("static_h4096_eps1e-5", "static", hidden=4096, eps=1e-5,
                expected=((C.format("rms_norm_static_fp8_quant"), 1),
                          (C.format("fused_add_rms_norm_static_fp8_quant"), L - 1))),
        Variant("group64_e4m3fn_cuda", "group", group=64, expected=((C.format("rms_norm_per_block_quant"), L),)),
        Variant("group128_h4096_cuda", "group", group=128, hidden=4096,
                expected=((C.format("rms_norm_per_block_quant"), L),)),
        Variant("token_custom_ops_cuda", "token", spelling="custom",
                expected=((C.format("rms_norm_dynamic_per_token_quant"), L),)),
        Variant("group128_vllm_ir_cuda", "group", spelling="vllm_ir",
                expected=((C.format("rms_norm_per_block_quant"), L),)),
        Variant("token_e4m3fn_aiter", "token", target="rocm-aiter",
                expected=((A.format("rocm_aiter_rmsnorm_fused_dynamic_quant"), 1),
                          (A.format("rocm_aiter_rmsnorm_fused_add_dynamic_quant"), L - 1))),
        Variant("neg_group128_h1088", "group", group=128, hidden=1088),   # 128 does not divide 1088 (vLLM pads)
        Variant("neg_e4m3fnuz_on_cuda", "static", fp8=fnuz),
        Variant("neg_static_on_aiter", "static", target="rocm-aiter"),     # AITER has no static fused op yet
    ]
    return out


def flat(o):
    return list(o) if isinstance(o, (tuple, list)) else [o]


def code_distance(a, b) -> int:
    """Largest distance between fp8 codes of equal sign (|int(a) - int(b)| on the raw bytes; 0 if identical)."""
    import torch
    d = (a.contiguous().view(torch.uint8).int() - b.contiguous().view(torch.uint8).int()).abs()
    return int(d.max()) if d.numel() else 0


def run_variant(v, binary, tokens, device, verify):
    import torch

    import fxopt
    import tutil
    import vllm_native
    from fxopt import ops
    row = {"variant": v.name, "quant": v.quant, "spelling": v.spelling, "target": v.target,
           "fp8": str(v.fp8).replace("torch.", ""),
           "group": v.group if "group" in v.quant else None, "hidden": v.hidden, "layers": v.layers,
           "weight": str(v.weight_dtype).replace("torch.", ""), "expected": {k: n for k, n in v.expected},
           "exact": v.exact, "device": device}
    t0 = time.perf_counter()
    model = vllm_native.model(v, device=device)
    inputs = lambda n: vllm_native.inputs(v, n, device=device)  # noqa: E731
    ops.set_fp8_dtype(v.fp8)          # the AITER group ops take the platform fp8 dtype
    ops.set_impl("inductor")

    def compile_and_run():
        torch._dynamo.reset()
        compiled = torch.compile(model)
        outs = []
        with torch.no_grad():
            for i, n in enumerate(tokens):
                x = inputs(n)
                if i == 0:
                    torch._dynamo.mark_dynamic(x, 0)
                outs.append(flat(compiled(x)))
        return outs, compiled

    cap = tutil.CapturePass()
    with tutil.post_grad_pass(cap):
        base, _ = compile_and_run()
    row["compiles_without_hook"] = len(cap.docs)
    hook = fxopt.post_grad_pass(binary, target=v.target, verify=verify, on_error="raise")
    with tutil.post_grad_pass(hook):
        hooked, compiled = compile_and_run()
        ops.set_impl("eager")        # the same compiled artifact, the reference ops' eager implementation
        with torch.no_grad():
            hooked_eager = flat(compiled(inputs(tokens[0])))
        ops.set_impl("inductor")
    row["compiles_with_hook"] = len(hook.history)
    rec = hook.history[0] if hook.history else {}
    row["swapped"] = rec.get("swapped")
    fused = {k: n for k, n in rec.get("fused", {}).items()}
    row["fused"] = fused
    row["fused_as_expected"] = all(fused.get(k, 0) == n for k, n in v.expected) and \
        sum(fused.get(k, 0) for k in fused if k.startswith(ops.FUSED_PREFIXES)) == sum(n for _, n in v.expected)
    row["nodes_before_after"] = [rec.get("nodes_before"), rec.get("nodes_after")]
    row["rewrite_s"] = round(rec.get("rewrite_s", 0.0), 4)
    if rec.get("rebuild_problems"):
        row["rebuild_problems"] = rec["rebuild_problems"][:5]
    pairs = [(a, b) for xs, ys in zip(base, hooked) for a, b in zip(xs, ys)]
    row["bit_identical"] = all(tutil.same_bits(a, b) for a, b in pairs)
    row["differing_fraction"] = max(tutil.differing_fraction(a, b) for a, b in pairs)
    # Outputs: x, residual, then each layer's q (and scale): where the two compiles first part.
    row["differing_by_output"] = [round(tutil.differing_fraction(a, b), 6) for a, b in zip(base[0], hooked[0])]
    row["eager_impl_differing_fraction"] = max(tutil.differing_fraction(a, b) for a, b in zip(base[0], hooked_eager))
    if not v.exact:
        # Layer 0 (its inputs are the same in both): q within one fp8 code, scale and residual exact. Later layers
        # consume the dequantised q, so one code apart there propagates.
        q0 = [(xs[2], ys[2]) for xs, ys in zip(base, hooked)]
        s0 = [(xs[3], ys[3]) for xs, ys in zip(base, hooked)]
        row["layer0_max_code_distance"] = max(code_distance(a, b) for a, b in q0)
        row["layer0_q_differing_fraction"] = max(tutil.differing_fraction(a, b) for a, b in q0)
        row["layer0_scale_exact"] = all(tutil.same_bits(a, b) for a, b in s0)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    if v.exact:
        numerics_ok = row["bit_identical"]
    else:
        numerics_ok = row["layer0_max_code_distance"] <= 1 and row["layer0_scale_exact"]
    row["ok"] = bool(row["fused_as_expected"] and numerics_ok and row["compiles_with_hook"] == 1)
    return row, cap.docs[0] if cap.docs else None


def print_table(rows) -> None:
    print("\nvariant                    target      fp8        fused (got/expected)                     "
          "bit-identical          eager-impl diff  s      ok")
    for r in rows:
        if "fused" not in r:
            print(f"{r['variant']:<26} {'SKIPPED' if r.get('skipped') else 'ERROR'}: {r.get('error', r.get('skipped'))}")
            continue
        got = sum(r["fused"].values())
        exp = sum(r["expected"].values())
        names = ",".join(f"{k.split('.')[1]}x{n}" for k, n in sorted(r["fused"].items())) or "-"
        bit = str(r["bit_identical"])
        if not r["bit_identical"]:
            bit += f" {r['differing_fraction']:.2e}"
        if "layer0_max_code_distance" in r:
            bit += f" (L0 codes<={r['layer0_max_code_distance']}, scale exact {r['layer0_scale_exact']})"
        print(f"{r['variant']:<26} {r['target']:<11} {r['fp8']:<10} {got}/{exp} {names[:34]:<36} {bit:<22} "
              f"{r['eager_impl_differing_fraction']:<16.2e} {r['seconds']:<6} {r['ok']}")
    failed = [r["variant"] for r in rows if r.get("ok") is False]
    print(f"\n{sum(1 for r in rows if r.get('ok'))}/{len(rows)} variants OK" + (f"; FAILED: {failed}" if failed else ""))


def main(argv=None, *, variants=variants, part1=PART1, summary_name="rms_norm_quant_e2e.json", doc=__doc__) -> int:
    """The command line (e2e_silu_mul_quant.py runs it with its own variants and summary file)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--binary", default=None, help="fxopt (default: $FXOPT_BIN or build/fxopt)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--variants", default=".*", help="regex over variant names")
    ap.add_argument("--part", type=int, choices=(1, 2), help=f"only the first {part1} variants (1) or the others (2)")
    ap.add_argument("--tokens", default="16,5,33", help="token counts (the first compile marks the dim dynamic)")
    ap.add_argument("--verify", action="store_true", help="also `fxopt rewrite --verify=regions` in the hook")
    ap.add_argument("--budget-s", type=float, default=540.0, help="skip the remaining variants after this")
    ap.add_argument("--table", help=f"print the table of a {summary_name} and exit")
    args = ap.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            rows = json.load(f)
        print_table(rows)
        return 1 if any(r.get("ok") is False for r in rows) else 0

    import torch

    import tutil
    from fxopt import fxgraph_json, ops

    tutil.configure_inductor(emulate_precision_casts=True)
    if torch.cuda.is_available():
        tutil.allow_fnuz_on_nvidia()
    owners = ops.register()
    binary = args.binary or common.fxopt_binary()
    if binary is None:
        print("no fxopt binary: pass --binary or build build/fxopt", file=sys.stderr)
        return 2
    tokens = [int(t) for t in args.tokens.split(",")]
    os.makedirs(args.out, exist_ok=True)
    summary = os.path.join(args.out, summary_name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}, "
          f"binary {binary}, tokens {tokens}, reference ops served by "
          f"{sorted(set(owners.values()))}", flush=True)
    rows, t_start = [], time.perf_counter()
    todo = variants()
    if args.part:
        todo = todo[:part1] if args.part == 1 else todo[part1:]
    for v in [v for v in todo if re.search(args.variants, v.name)]:
        if time.perf_counter() - t_start > args.budget_s:
            rows.append({"variant": v.name, "ok": None, "skipped": "time budget"})
            continue
        try:
            row, doc = run_variant(v, binary, tokens, device, args.verify)
            if doc is not None:
                fxgraph_json.write(doc, os.path.join(args.out, f"postgrad_{v.name}.fxgraph.json"))
        except Exception as e:  # noqa: BLE001 - reported in the summary
            traceback.print_exc()
            row = {"variant": v.name, "ok": False, "error": f"{type(e).__name__}: {str(e)[:800]}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(summary, "w") as f:
            json.dump(rows, f, indent=1)
    ops.set_impl("eager")
    ops.set_fp8_dtype(None)
    print_table(rows)
    return 1 if any(r.get("ok") is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
