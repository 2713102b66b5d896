"""Compares two safetensors files output by output (fxopt's saved outputs against PyTorch's expected ones):
relative L2 error and max abs error per tensor, computed in float64. Needs numpy only (bf16/fp8 decoded by hand).

    python python/tools/compare_outputs.py EXPECTED.safetensors ACTUAL.safetensors [--max-rel-l2 0.02] [--json]

Exit 0 when every tensor of EXPECTED is in ACTUAL with the same shape and a relative L2 error within the bound
(NaN/inf must sit at the same places), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys

import numpy as np

_PLAIN = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def _fp8_table(exp_bits, man_bits, bias, fnuz):
    out = np.zeros(256, np.float64)
    for code in range(256):
        s, e, m = code >> 7, (code >> man_bits) & ((1 << exp_bits) - 1), code & ((1 << man_bits) - 1)
        if fnuz and code == 0x80:
            out[code] = np.nan
            continue
        if not fnuz and exp_bits == 4 and e == 15 and m == 7:
            out[code] = np.nan
            continue
        if not fnuz and exp_bits == 5 and e == 31:
            out[code] = np.inf if m == 0 else np.nan
            out[code] *= -1 if s and m == 0 else 1
            continue
        v = (m / (1 << man_bits)) * 2.0 ** (1 - bias) if e == 0 else (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
        out[code] = -v if s else v
    return out


_FP8 = {"F8_E4M3": (4, 3, 7, False), "F8_E4M3FNUZ": (4, 3, 8, True), "F8_E5M2": (5, 2, 15, False),
        "F8_E5M2FNUZ": (5, 2, 16, True)}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        dt, shape = info["dtype"], info["shape"]
        if dt in _PLAIN:
            arr = np.frombuffer(raw, _PLAIN[dt]).astype(np.float64)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dt in _FP8:
            arr = _fp8_table(*_FP8[dt])[np.frombuffer(raw, np.uint8)]
        else:
            raise ValueError(f"{path}: {name}: dtype {dt} not supported")
        out[name] = arr.reshape(shape)
    return out


def compare(expected, actual, max_rel_l2):
    rows, ok = [], True
    for name, e in expected.items():
        row = {"output": name}
        a = actual.get(name)
        if a is None:
            row["error"] = "missing"
        elif a.shape != e.shape:
            row["error"] = f"shape {list(a.shape)} != {list(e.shape)}"
        elif not np.array_equal(np.isnan(a), np.isnan(e)) or not np.array_equal(np.isinf(a), np.isinf(e)):
            row["error"] = "NaN/inf at different places"
        else:
            fin = np.isfinite(e)
            d = (a - e)[fin]
            row["max_abs"] = float(np.abs(d).max()) if d.size else 0.0
            den = float(np.linalg.norm(e[fin]))
            row["rel_l2"] = float(np.linalg.norm(d)) / den if den > 0 else float(np.linalg.norm(d))
            row["numel"] = int(e.size)
            if row["rel_l2"] > max_rel_l2:
                row["error"] = f"relative L2 {row['rel_l2']:.3g} > {max_rel_l2}"
        ok &= "error" not in row
        rows.append(row)
    return ok, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--max-rel-l2", type=float, default=0.02)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ok, rows = compare(read(a.expected), read(a.actual), a.max_rel_l2)
    if a.json:
        print(json.dumps({"ok": ok, "outputs": rows}))
    else:
        for r in rows:
            print(f"  {r['output']}: " + (r["error"] + " " if "error" in r else "") +
                  (f"rel L2 {r['rel_l2']:.3g}, max abs {r['max_abs']:.3g} ({r['numel']} elements)" if "rel_l2" in r else ""))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
