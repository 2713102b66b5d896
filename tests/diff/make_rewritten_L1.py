#!/usr/bin/env python3
"""Builds tests/diff/qwen3next_gdn_L1.rewritten.fxgraph.json: the corpus L1 graph with its gated RMSNorm + FP8
group-quant region replaced by hand, exactly as spec "The replacement" describes (fused op, 2 getitems, 2 reshapes,
each new node with meta.fxopt_from). It stands in for `fxopt rewrite` output in the diff tests.

Usage: python3 tests/diff/make_rewritten_L1.py [SRC_DIR]   (rewrites the fixture next to this script)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..")

# The region from the first upcasts to the quantised output (view_6) and the scales (squeeze).
REGION = [
    "convert_element_type", "pow_1", "mean", "add_32", "rsqrt", "mul_35", "convert_element_type_1", "mul_38",
    "convert_element_type_2", "neg", "exp", "add_45", "div", "mul_43", "convert_element_type_3", "view_4", "view_5",
    "abs_1", "max_1", "getitem", "convert_element_type_4", "div_1", "clamp_min", "div_2", "clamp_min_1", "clamp_max",
    "convert_element_type_5", "view_6", "squeeze",
]
FROM = {"pattern": "rms_gated_fp8_group_quant"}


def tensor(dtype, shape):
    stride, acc = [], 1
    for d in reversed(shape):
        stride.insert(0, acc)
        acc = acc * d if isinstance(d, int) and isinstance(acc, int) else None
    # All non-leading sizes here are integers, so every stride is one.
    return {"dtype": dtype, "shape": shape, "stride": stride, "device": "cuda:0"}


def node(name, target, args, val):
    return {"name": name, "op": "call_function", "target": target, "args": args, "kwargs": {},
            "meta": {"val": val, "fxopt_from": FROM}}


def main():
    with open(os.path.join(SRC, "examples", "qwen3next_gdn_L1.fxgraph.json")) as f:
        g = json.load(f)
    fused = [
        node("rocm_aiter_fused_rms_gated_fp8_group_quant", "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default",
             [{"node": "view_1"}, {"node": "arg4_1"}, None, {"node": "view_3"}, 1e-06, True, "silu", 128],
             [tensor("float8_e4m3fn", ["32*s68", 128]), tensor("float32", ["32*s68", 1])]),
        node("getitem_1", "_operator.getitem", [{"node": "rocm_aiter_fused_rms_gated_fp8_group_quant"}, 0],
             tensor("float8_e4m3fn", ["32*s68", 128])),
        node("getitem_2", "_operator.getitem", [{"node": "rocm_aiter_fused_rms_gated_fp8_group_quant"}, 1],
             tensor("float32", ["32*s68", 1])),
        node("reshape", "aten.reshape.default", [{"node": "getitem_1"}, [-1, 4096]],
             tensor("float8_e4m3fn", ["s68", 4096])),
        node("reshape_1", "aten.reshape.default", [{"node": "getitem_2"}, [-1, 32]], tensor("float32", ["s68", 32])),
    ]
    replaced = {"view_6": "reshape", "squeeze": "reshape_1"}  # region outputs -> their replacements
    nodes = []
    for n in g["nodes"]:
        if n["name"] == "view_6":
            nodes.extend(fused)  # where the quantised output stood: after every input of the fused op
        if n["name"] in REGION:
            continue
        n["args"] = [{"node": replaced[a["node"]]} if isinstance(a, dict) and a.get("node") in replaced else a
                     for a in n["args"]]
        nodes.append(n)
    g["nodes"] = nodes
    lines = [f' "{k}": {json.dumps(v)},' for k, v in g.items() if k != "nodes"]
    text = "{\n" + "\n".join(lines) + '\n "nodes": [\n' + ",\n".join("  " + json.dumps(n) for n in nodes) + "\n ]\n}\n"
    with open(os.path.join(HERE, "qwen3next_gdn_L1.rewritten.fxgraph.json"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
