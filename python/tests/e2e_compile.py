"""End-to-end check with real torch.compile (token dim dynamic): for each model variant, compiled without vs
with the fxopt hook — fused op count as expected, outputs bit-identical — and export -> fxopt fmt -> load
of the post-grad graph round-trips unchanged. Prints a table, writes e2e_summary.json; exit 1 on a failure.

    python python/tests/e2e_compile.py --binary build/fxopt --out $OUT
    python python/tests/e2e_compile.py --table e2e_summary.json      # print the table of a summary

Both compiles use Inductor's emulate_precision_casts (see tutil.configure_inductor); --probe also runs the
8-layer model with per-layer q/scale outputs, with and without that flag, to show where results diverge.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FUSED = "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"


def run_variant(v, binary, tokens, device, fmt_binary):
    import torch

    import fxopt
    import models
    import tutil
    from fxopt import ops
    row = {"variant": v.name, "layers": v.layers, "heads": v.heads, "head_dim": v.head_dim, "group": v.group,
           "fp8": str(v.fp8).replace("torch.", ""), "expected_fused": v.expected_fused, "exact": v.exact,
           "device": device}
    t0 = time.perf_counter()
    model = models.GatedBlock(v, device=device)
    inputs = lambda n: models.inputs(v, n, device=device)  # noqa: E731
    ops.set_fp8_dtype(v.fp8)          # the opaque-quant variants call the platform-dtype op directly
    ops.set_impl("inductor")
    with torch.no_grad():
        eager = [model(*inputs(n)) for n in tokens]
    cap = tutil.CapturePass()
    with tutil.post_grad_pass(cap):
        base = tutil.compile_and_run(model, tokens, inputs)
    row["compiles_without_hook"] = len(cap.docs)
    hook = fxopt.post_grad_pass(binary)
    with tutil.post_grad_pass(hook):
        hooked = tutil.compile_and_run(model, tokens, inputs)
        # Same compiled artifact, reference op switched to its eager implementation.
        ops.set_impl("eager")
        with torch.no_grad():
            hooked_eager_impl = [hooked.compiled(*inputs(n)) for n in tokens[:1]]
    row["compiles_with_hook"] = len(hook.history)
    rec = hook.history[0] if hook.history else {}
    if rec.get("error"):
        row["hook_error"] = rec["error"]
    row["fused"] = rec.get("fused", {}).get(FUSED, 0)
    row["swapped"] = rec.get("swapped")
    row["vllm_ops"] = rec.get("fused", {})
    row["nodes_before_after"] = [rec.get("nodes_before"), rec.get("nodes_after")]
    row["rewrite_s"] = round(rec.get("rewrite_s", 0.0), 4)
    row["hook_total_s"] = round(rec.get("total_s", 0.0), 4)
    if rec.get("rebuild_problems"):
        row["rebuild_problems"] = rec["rebuild_problems"][:5]
    flat = lambda o: list(o) if isinstance(o, (tuple, list)) else [o]  # noqa: E731
    pairs = [(a, b) for x, y in zip(base, hooked) for a, b in zip(flat(x), flat(y))]
    row["bit_identical"] = all(tutil.same_bits(a, b) for a, b in pairs)
    row["differing_fraction"] = max(tutil.differing_fraction(a, b) for a, b in pairs)
    row["eager_impl_differing_fraction"] = tutil.differing_fraction(flat(base[0])[0], flat(hooked_eager_impl[0])[0])
    row["compiled_vs_eager_model_differing_fraction"] = max(
        tutil.differing_fraction(flat(a)[0], flat(b)[0]) for a, b in zip(base, eager))
    if v.probe:
        row["q_differing_by_layer"] = [round(tutil.differing_fraction(a, b), 6) for a, b in
                                       zip(flat(base[0])[1::2], flat(hooked[0])[1::2])]
        row["scale_differing_by_layer"] = [round(tutil.differing_fraction(a, b), 6) for a, b in
                                           zip(flat(base[0])[2::2], flat(hooked[0])[2::2])]
    # Round trip of the unfused post-grad graph through fxopt fmt.
    rt = tutil.round_trip_doc(cap.docs[0], cap.codes[0], binary=fmt_binary)
    row["roundtrip_code_same"] = rt["code_same"]
    row["roundtrip_json_same"] = rt["json_same"]
    row["fmt_byte_identical"] = rt["fmt_same"]
    row["roundtrip_problems"] = rt["problems"][:5]
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["ok"] = (row["fused"] == v.expected_fused and (row["bit_identical"] or not v.exact)
                 and row["roundtrip_code_same"] and row["roundtrip_json_same"]
                 and row["compiles_with_hook"] == 1 and rt["fmt_same"] in (None, True))
    return row, cap.docs[0]


def print_table(rows) -> None:
    print("\nvariant                        dev   fused/exp  bit-identical    roundtrip code/json/fmt  "
          "eager-impl diff  s     ok")
    for r in rows:
        if "fused" not in r:
            print(f"{r['variant']:<30} {'SKIPPED' if r.get('skipped') else 'ERROR'}: "
                  f"{r.get('error', r.get('skipped'))}")
            continue
        bit = str(r["bit_identical"]) + ("" if r.get("exact", True) else " (n/a)")
        if not r["bit_identical"]:
            bit += f" {r['differing_fraction']:.2e}"
        rt = "/".join(str(r[k]) for k in ("roundtrip_code_same", "roundtrip_json_same", "fmt_byte_identical"))
        print(f"{r['variant']:<30} {r['device']:<5} {r['fused']}/{r['expected_fused']:<8} {bit:<16} {rt:<24} "
              f"{r['eager_impl_differing_fraction']:<16.2e} {r['seconds']:<5} {r['ok']}")
        if "q_differing_by_layer" in r:
            print(f"    q differing by layer: {r['q_differing_by_layer']}")
    failed = [r["variant"] for r in rows if r.get("ok") is False]
    print(f"\n{sum(1 for r in rows if r.get('ok'))}/{len(rows)} variants OK"
          + (f"; FAILED: {failed}" if failed else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=None, help="fxopt (default: build/fxopt); 'fake' = the test double")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--variants", default=".*", help="regex over variant names")
    ap.add_argument("--tokens", default="16,5,33")
    ap.add_argument("--budget-s", type=float, default=1e9, help="skip the remaining variants after this")
    ap.add_argument("--probe", action="store_true", help="also the per-layer diagnostics (8 layers)")
    ap.add_argument("--table", help="print the table of an e2e_summary.json and exit")
    args = ap.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            rows = json.load(f)
        print_table(rows)
        return 1 if any(r.get("ok") is False for r in rows) else 0

    import torch

    import fxopt  # noqa: F401
    import models
    import tutil
    from fxopt import fxgraph_json, ops

    tutil.configure_inductor(emulate_precision_casts=True)
    if torch.cuda.is_available():
        tutil.allow_fnuz_on_nvidia()
    ops.register()
    binary = common.FAKE_FXOPT if args.binary == "fake" else (args.binary or common.fxopt_binary())
    fmt_binary = common.fxopt_binary() if common.fxopt_has("fmt") else None
    tokens = [int(t) for t in args.tokens.split(",")]
    os.makedirs(args.out, exist_ok=True)
    summary = os.path.join(args.out, "e2e_summary.json")
    rows, t_start = [], time.perf_counter()
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}"
          f", binary {binary}, fxopt fmt {'yes' if fmt_binary else 'no'}, tokens {tokens}", flush=True)
    todo = [v for v in models.variants() if re.search(args.variants, v.name)]
    if args.probe:
        base8 = next(v for v in models.variants() if v.layers == 8)
        todo += [dataclasses.replace(base8, name="probe_L8_emulate_casts", probe=True),
                 dataclasses.replace(base8, name="probe_L8_default_inductor", probe=True)]
    for v in todo:
        if time.perf_counter() - t_start > args.budget_s:
            rows.append({"variant": v.name, "ok": None, "skipped": "time budget"})
            continue
        tutil.configure_inductor(emulate_precision_casts=v.name != "probe_L8_default_inductor")
        devices = ["cuda"] if torch.cuda.is_available() else ["cpu"]
        errors = []
        for device in devices:
            try:
                row, doc = run_variant(v, binary, tokens, device, fmt_binary)
                if v.name == "probe_L8_default_inductor":
                    row["ok"] = None      # diagnostics: expected to differ from layer 2 on
                if errors:
                    row["fallback_from"] = errors
                rows.append(row)
                fxgraph_json.write(doc, os.path.join(args.out, f"postgrad_{v.name}.fxgraph.json"))
                break
            except Exception as e:  # noqa: BLE001 - reported in the summary
                errors.append(f"{device}: {type(e).__name__}: {str(e)[:800]}")
                traceback.print_exc()
        else:
            rows.append({"variant": v.name, "ok": False, "error": errors})
        print(json.dumps(rows[-1]), flush=True)
        with open(summary, "w") as f:
            json.dump(rows, f, indent=1)
    ops.set_impl("eager")
    ops.set_fp8_dtype(None)
    print_table(rows)
    return 1 if any(r.get("ok") is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
