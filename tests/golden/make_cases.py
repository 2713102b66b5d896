#!/usr/bin/env python3
"""Generates the golden inputs tests/golden/<case>.input.json by editing the corpus graph
examples/qwen3next_gdn_L1.fxgraph.json (one GatedDeltaNet output block: gated RMSNorm + group-128 FP8 quant).

Each case changes one thing: a spelling the matcher must accept, or a property that must prevent the match.
Run from anywhere: python3 tests/golden/make_cases.py. The expected outputs (<case>.expected.json, .expected.txt)
are produced by the golden driver in update mode (FXOPT_UPDATE_GOLDEN=1) and reviewed by a person.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "..", "examples", "qwen3next_gdn_L1.fxgraph.json")


class G:
    def __init__(self, doc):
        self.doc = copy.deepcopy(doc)

    @property
    def nodes(self):
        return self.doc["nodes"]

    def idx(self, name):
        for i, n in enumerate(self.nodes):
            if n["name"] == name:
                return i
        raise KeyError(name)

    def node(self, name):
        return self.nodes[self.idx(name)]

    def remove(self, *names):
        for n in names:
            del self.nodes[self.idx(n)]

    def insert_before(self, before, node):
        self.nodes.insert(self.idx(before), node)

    def set_val(self, name, dtype, shape):
        self.node(name)["meta"]["val"] = tval(dtype, shape)

    def set_args(self, name, args):
        self.node(name)["args"] = args

    def write(self, case, doc_comment):
        self.doc["producer"] = dict(self.doc.get("producer", {}), fxopt_golden_case=doc_comment)
        path = os.path.join(HERE, case + ".input.json")
        head = {k: v for k, v in self.doc.items() if k != "nodes"}
        lines = ["{"]
        for k, v in head.items():
            lines.append(" %s: %s," % (json.dumps(k), json.dumps(v)))
        lines.append(' "nodes": [')
        lines.append(",\n".join("  " + json.dumps(n) for n in self.nodes))
        lines.append(" ]")
        lines.append("}")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


def strides(shape):
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        if isinstance(d, int):
            s = s * d if isinstance(s, int) else "%d*%s" % (d, s)
        else:
            s = d if s == 1 else "%s*%s" % (s, d)
    return list(reversed(out))


def tval(dtype, shape):
    return {"dtype": dtype, "shape": shape, "stride": strides(shape), "device": "cuda:0"}


def call(name, target, args, val, kwargs=None):
    return {"name": name, "op": "call_function", "target": target, "args": args, "kwargs": kwargs or {},
            "meta": {"val": val}}


def ref(n):
    return {"node": n}


F32, BF16, FP8 = {"dtype": "float32"}, {"dtype": "bfloat16"}, {"dtype": "float8_e4m3fn"}


def set_fp8(g, dtype, fmax):
    """Switches the quantisation to another fp8 format (its FMAX and scale floor)."""
    g.set_args("div_1", [ref("convert_element_type_4"), fmax])
    g.set_args("clamp_min", [ref("div_1"), 1.0 / (fmax * 512)])
    g.set_args("clamp_min_1", [ref("div_2"), -fmax])
    g.set_args("clamp_max", [ref("clamp_min_1"), fmax])
    g.set_args("convert_element_type_5", [ref("clamp_max"), {"dtype": dtype}])
    g.node("convert_element_type_5")["meta"]["val"]["dtype"] = dtype
    g.node("view_6")["meta"]["val"]["dtype"] = dtype


def head_split(g, H, D):
    """Per-head view (N, 4096) -> (N*H, D) with other H, D (H*D stays 4096)."""
    rows = "%d*s68" % H
    for v, src in (("view", "relu"), ("view_2", "relu_1")):
        g.set_args(v, [ref(src), [-1, H, D]])
        g.set_val(v, "bfloat16", ["s68", H, D])
    for v, src in (("view_1", "view"), ("view_3", "view_2")):
        g.set_args(v, [ref(src), [-1, D]])
        g.set_val(v, "bfloat16", [rows, D])
    g.set_val("arg4_1", "bfloat16", [D])
    g.set_val("convert_element_type_1", "float32", [D])
    for n in ("convert_element_type", "pow_1", "mul_35", "mul_38", "convert_element_type_2", "neg", "exp",
              "add_45", "div", "mul_43"):
        g.set_val(n, "float32", [rows, D])
    for n in ("mean", "add_32", "rsqrt"):
        g.set_val(n, "float32", [rows, 1])
    g.set_val("convert_element_type_3", "bfloat16", [rows, D])


def group_size(g, G):
    """Quantisation groups of G columns (the (N, 4096) rows viewed as (N, 4096/G, G)); dequant adapted."""
    K = 4096 // G
    g.set_args("view_5", [ref("view_4"), [-1, K, G]])
    for n in ("view_5", "abs_1"):
        g.set_val(n, "bfloat16", ["s68", K, G])
    g.node("max_1")["meta"]["val"] = [tval("bfloat16", ["s68", K, 1]), tval("int64", ["s68", K, 1])]
    g.set_val("getitem", "bfloat16", ["s68", K, 1])
    for n in ("convert_element_type_4", "div_1", "clamp_min"):
        g.set_val(n, "float32", ["s68", K, 1])
    for n in ("div_2", "clamp_min_1", "clamp_max"):
        g.set_val(n, "float32", ["s68", K, G])
    g.set_val("convert_element_type_5", "float8_e4m3fn", ["s68", K, G])
    g.set_args("view_9", [ref("convert_element_type_6"), [-1, K, G]])
    g.set_val("view_9", "bfloat16", ["s68", K, G])
    g.set_val("squeeze", "float32", ["s68", K])
    g.set_val("convert_element_type_7", "bfloat16", ["s68", K])
    g.set_val("unsqueeze", "bfloat16", ["s68", K, 1])
    g.set_val("mul_89", "bfloat16", ["s68", K, G])


def opaque_quant(g, G):
    """The decomposed quant replaced by vLLM's opaque vllm.rocm_aiter_group_fp8_quant(y, G)."""
    K = 4096 // G
    g.remove("view_5", "abs_1", "max_1", "getitem", "convert_element_type_4", "div_1", "clamp_min", "div_2",
             "clamp_min_1", "clamp_max", "convert_element_type_5", "view_6", "squeeze")
    q = "convert_element_type_6"
    g.insert_before(q, call("rocm_aiter_group_fp8_quant", "vllm.rocm_aiter_group_fp8_quant.default", [ref("view_4"), G],
                            [tval("float8_e4m3fn", ["s68", 4096]), tval("float32", ["s68", K])]))
    g.insert_before(q, call("getitem_q", "_operator.getitem", [ref("rocm_aiter_group_fp8_quant"), 0],
                            tval("float8_e4m3fn", ["s68", 4096])))
    g.insert_before(q, call("getitem_s", "_operator.getitem", [ref("rocm_aiter_group_fp8_quant"), 1],
                            tval("float32", ["s68", K])))
    g.set_args(q, [ref("getitem_q"), BF16])
    g.set_args("convert_element_type_7", [ref("getitem_s"), BF16])
    if G != 128:
        g.set_args("view_9", [ref("convert_element_type_6"), [-1, K, G]])
        g.set_val("view_9", "bfloat16", ["s68", K, G])
        g.set_val("convert_element_type_7", "bfloat16", ["s68", K])
        g.set_val("unsqueeze", "bfloat16", ["s68", K, 1])
        g.set_val("mul_89", "bfloat16", ["s68", K, G])


def heads_layout(g, H=32, D=128):
    """vLLM's (N, H, D) layout: the gated norm applied to the (tokens, heads, head_dim) tensors (mean over D), then
    y.reshape(-1, H*D) into the quant; the (N*H, D) row views view_1/view_3 are gone."""
    g.remove("view_1", "view_3")
    g.set_args("convert_element_type", [ref("view"), F32])
    g.set_args("convert_element_type_2", [ref("view_2"), F32])
    for v, src in (("view", "relu"), ("view_2", "relu_1")):
        g.set_args(v, [ref(src), [-1, H, D]])
        g.set_val(v, "bfloat16", ["s68", H, D])
    g.set_val("arg4_1", "bfloat16", [D])
    g.set_val("convert_element_type_1", "float32", [D])
    for n in ("convert_element_type", "pow_1", "mul_35", "mul_38", "convert_element_type_2", "neg", "exp",
              "add_45", "div", "mul_43"):
        g.set_val(n, "float32", ["s68", H, D])
    for n in ("mean", "add_32", "rsqrt"):
        g.set_val(n, "float32", ["s68", H, 1])
    g.set_val("convert_element_type_3", "bfloat16", ["s68", H, D])


def ungated(g):
    """Plain RMSNorm (no gate) + per-token dynamic quant on the (N*H, D) rows, for the second pattern."""
    rows = "32*s68"
    g.remove("relu_1", "view_2", "view_3", "convert_element_type_2", "neg", "exp", "add_45", "div", "mul_43",
             "view_4", "view_5", "max_1", "getitem")
    g.set_args("convert_element_type_3", [ref("mul_38"), BF16])
    g.set_args("abs_1", [ref("convert_element_type_3")])
    g.set_val("abs_1", "bfloat16", [rows, 128])
    g.insert_before("convert_element_type_4", call("amax", "aten.amax.default", [ref("abs_1"), [-1], True],
                                                   tval("bfloat16", [rows, 1])))
    g.set_args("convert_element_type_4", [ref("amax"), F32])
    for n in ("convert_element_type_4", "div_1", "clamp_min"):
        g.set_val(n, "float32", [rows, 1])
    g.set_args("div_2", [ref("convert_element_type_3"), ref("clamp_min")])
    for n in ("div_2", "clamp_min_1", "clamp_max"):
        g.set_val(n, "float32", [rows, 128])
    g.set_val("convert_element_type_5", "float8_e4m3fn", [rows, 128])
    # (32N, 128) per-token scales back to the (N, 32) layout the dequant uses.
    g.node("squeeze")["target"] = "aten.reshape.default"
    g.set_args("squeeze", [ref("clamp_min"), [-1, 32]])


def main():
    with open(CORPUS) as f:
        base = json.load(f)
    cases = {}

    def case(name, why):
        g = G(base)
        cases[name] = (g, why)
        return g

    # ---- rms_gated_fp8_group_quant: must match ----
    case("gated_l1", "the corpus graph as dumped: 1 match")
    g = case("gated_e4m3fnuz", "MI300 fp8 format: FMAX 224, floor 1/(224*512), float8_e4m3fnuz")
    set_fp8(g, "float8_e4m3fnuz", 224.0)
    g = case("gated_eps_1e-5", "eps 1e-05 is carried into the fused op")
    g.set_args("add_32", [ref("mean"), 1e-05])
    g = case("gated_d256", "H=16 heads of D=256, G=128: D % G == 0, two groups per head")
    head_split(g, 16, 256)
    g = case("gated_symint_sizes", "reshape sizes spelled with SymInt placeholders and a SymInt arithmetic node")
    g.insert_before("relu", {"name": "mul_9", "op": "call_function", "target": "_operator.mul",
                             "args": [ref("arg0_1"), 32], "kwargs": {}, "meta": {"val": {"sym": "32*s68"}}})
    g.set_args("view_1", [ref("view"), [ref("mul_9"), 128]])
    g.set_args("view_5", [ref("view_4"), [ref("arg2_1"), 32, 128]])
    g.set_args("view_6", [ref("convert_element_type_5"), [{"sym": "s68"}, 4096]])
    g = case("gated_silu_sigmoid", "silu spelled z*sigmoid(z)")
    g.remove("neg", "exp", "add_45")
    g.insert_before("div", call("sigmoid", "aten.sigmoid.default", [ref("convert_element_type_2")],
                                tval("float32", ["32*s68", 128])))
    d = g.node("div")
    d["target"] = "aten.mul.Tensor"
    d["args"] = [ref("convert_element_type_2"), ref("sigmoid")]
    g = case("gated_aten_spellings", "aten.silu, amax, clamp(lo, hi), view instead of reshape, _to_copy(dtype=)")
    g.remove("neg", "exp", "add_45")
    d = g.node("div")
    d["target"], d["args"] = "aten.silu.default", [ref("convert_element_type_2")]
    g.remove("getitem")
    m = g.node("max_1")
    m["target"], m["args"] = "aten.amax.default", [ref("abs_1"), [-1], True]
    m["meta"]["val"] = tval("bfloat16", ["s68", 32, 1])
    g.set_args("convert_element_type_4", [ref("max_1"), F32])
    g.remove("clamp_min_1")
    c = g.node("clamp_max")
    c["target"], c["args"] = "aten.clamp.default", [ref("div_2"), -448.0, 448.0]
    for v in ("view_4", "view_5", "view_6"):
        g.node(v)["target"] = "aten.view.default"
    for cv in ("convert_element_type", "convert_element_type_1"):
        n = g.node(cv)
        n["target"], n["kwargs"], n["args"] = "aten._to_copy.default", {"dtype": F32}, n["args"][:1]
    g = case("gated_opaque_quant", "the quantisation as vLLM's opaque vllm.rocm_aiter_group_fp8_quant(y, 128)")
    opaque_quant(g, 128)

    # ---- rms_gated_fp8_group_quant: must not match ----
    g = case("neg_group64", "group size 64: a G=128 kernel would compute something else")
    group_size(g, 64)
    g = case("neg_per_token", "per-token quant of the (N, 4096) rows instead of groups of 128")
    g.remove("view_5")
    g.set_args("abs_1", [ref("view_4")])
    g.set_val("abs_1", "bfloat16", ["s68", 4096])
    g.node("max_1")["meta"]["val"] = [tval("bfloat16", ["s68", 1]), tval("int64", ["s68", 1])]
    g.set_val("getitem", "bfloat16", ["s68", 1])
    for n in ("convert_element_type_4", "div_1", "clamp_min"):
        g.set_val(n, "float32", ["s68", 1])
    g.set_args("div_2", [ref("view_4"), ref("clamp_min")])
    for n in ("div_2", "clamp_min_1", "clamp_max"):
        g.set_val(n, "float32", ["s68", 4096])
    g.set_val("convert_element_type_5", "float8_e4m3fn", ["s68", 4096])
    sq = g.node("squeeze")
    sq["target"], sq["args"] = "aten.expand.default", [ref("clamp_min"), [-1, 32]]  # one scale for all 32 groups
    g = case("neg_gate_before_norm", "the gate applied before the norm: rmsnorm(x*silu(z))*w")
    order = ["relu_1", "view_2", "view_3", "convert_element_type_2", "neg", "exp", "add_45", "div"]
    nodes = [g.node(n) for n in order]
    g.remove(*order)
    for n in nodes:
        g.nodes.insert(g.idx("pow_1"), n)
    g.insert_before("pow_1", call("mul_gate", "aten.mul.Tensor", [ref("convert_element_type"), ref("div")],
                                  tval("float32", ["32*s68", 128])))
    g.set_args("pow_1", [ref("mul_gate"), 2])
    g.set_args("mul_35", [ref("mul_gate"), ref("rsqrt")])
    g.remove("mul_43")
    g.set_args("convert_element_type_3", [ref("mul_38"), BF16])
    g = case("neg_d64_g128", "H=64 heads of D=64 with G=128: a quant group would straddle two heads")
    head_split(g, 64, 64)
    g = case("neg_second_user", "the bf16 normed tensor y is also a graph output")
    g.node("output")["args"] = [[ref("addmm_default"), ref("convert_element_type_3")]]
    g = case("neg_opaque_group64", "the opaque quant op called with group size 64")
    opaque_quant(g, 64)

    # ---- rms_gated_fp8_group_quant_3d, rms_gated_fp8_group_quant_opaque_3d: the (N, H, D) layout ----
    g = case("gated_3d", "the (N, H, D) layout: the norm on (tokens, heads, head_dim), y.reshape(-1, H*D) into the quant")
    heads_layout(g)
    g = case("gated_3d_opaque_quant", "the (N, H, D) layout with vLLM's opaque vllm.rocm_aiter_group_fp8_quant(y, 128)")
    heads_layout(g)
    opaque_quant(g, 128)
    g = case("gated_3d_d256", "the (N, H, D) layout with H=16 heads of D=256, G=128: two groups per head")
    heads_layout(g, 16, 256)
    g = case("gated_3d_symint_sizes", "the (N, H, D) layout, reshape sizes as SymInt nodes; y goes through the "
                                      "(N*H, D) rows on its way to (N, H*D) (a chain of reshapes)")
    heads_layout(g)
    g.insert_before("relu", {"name": "mul_9", "op": "call_function", "target": "_operator.mul",
                             "args": [ref("arg0_1"), 32], "kwargs": {}, "meta": {"val": {"sym": "32*s68"}}})
    g.set_args("view", [ref("relu"), [ref("arg0_1"), 32, 128]])
    g.set_args("view_2", [ref("relu_1"), [ref("arg2_1"), 32, 128]])
    g.insert_before("view_4", call("view_rows", "aten.reshape.default", [ref("convert_element_type_3"), [ref("mul_9"), 128]],
                                   tval("bfloat16", ["32*s68", 128])))
    g.set_args("view_4", [ref("view_rows"), [ref("arg2_1"), 4096]])
    g.set_args("view_5", [ref("view_4"), [ref("arg0_1"), 32, 128]])
    g.set_args("view_6", [ref("convert_element_type_5"), [{"sym": "s68"}, 4096]])
    g = case("gated_3d_e4m3fnuz", "the (N, H, D) layout, MI300 fp8 format: FMAX 224, floor 1/(224*512), float8_e4m3fnuz")
    heads_layout(g)
    set_fp8(g, "float8_e4m3fnuz", 224.0)
    g = case("neg_3d_group64", "the (N, H, D) layout quantised in groups of 64: a G=128 kernel would compute something else")
    heads_layout(g)
    group_size(g, 64)
    g = case("neg_3d_opaque_group64", "the (N, H, D) layout, the opaque quant op called with group size 64")
    heads_layout(g)
    opaque_quant(g, 64)
    g = case("neg_3d_d64_g128", "the (N, H, D) layout with H=64 heads of D=64, G=128: a group would straddle two heads")
    heads_layout(g, 64, 64)
    g = case("neg_3d_mean_heads", "the (N, H, D) layout with the mean over dim 1 (the heads), not over D")
    heads_layout(g)
    g.set_args("mean", [ref("pow_1"), [1], True])
    for n in ("mean", "add_32", "rsqrt"):
        g.set_val(n, "float32", ["s68", 1, 128])
    g = case("neg_3d_permute", "the (N, H, D) layout, but y is permuted to (N, D, H) before the reshape to (N, H*D): "
                               "each quant group mixes the heads")
    heads_layout(g)
    p = call("permute", "aten.permute.default", [ref("convert_element_type_3"), [0, 2, 1]],
             tval("bfloat16", ["s68", 128, 32]))
    p["meta"]["val"]["stride"] = [4096, 1, 128]
    g.insert_before("view_4", p)
    g.set_args("view_4", [ref("permute"), [-1, 4096]])
    g = case("neg_3d_rows_not_tokens", "the (N, H, D) layout, but the groups are viewed as (H, N, G): the quant's rows "
                                       "are not the N tokens (scales (H, N) instead of (N, H))")
    heads_layout(g)
    g.set_args("view_5", [ref("view_4"), [32, -1, 128]])
    for n in ("view_5", "abs_1"):
        g.set_val(n, "bfloat16", [32, "s68", 128])
    g.node("max_1")["meta"]["val"] = [tval("bfloat16", [32, "s68", 1]), tval("int64", [32, "s68", 1])]
    g.set_val("getitem", "bfloat16", [32, "s68", 1])
    for n in ("convert_element_type_4", "div_1", "clamp_min"):
        g.set_val(n, "float32", [32, "s68", 1])
    for n in ("div_2", "clamp_min_1", "clamp_max"):
        g.set_val(n, "float32", [32, "s68", 128])
    g.set_val("convert_element_type_5", "float8_e4m3fn", [32, "s68", 128])
    g.set_val("squeeze", "float32", [32, "s68"])
    g.set_val("convert_element_type_7", "bfloat16", [32, "s68"])
    g.set_val("unsqueeze", "bfloat16", [32, "s68", 1])
    g.set_args("view_9", [ref("convert_element_type_6"), [32, -1, 128]])
    g.set_val("view_9", "bfloat16", [32, "s68", 128])
    g.set_val("mul_89", "bfloat16", [32, "s68", 128])
    g = case("neg_3d_second_user", "the (N, H, D) layout, but the bf16 normed tensor y is also a graph output")
    heads_layout(g)
    g.node("output")["args"] = [[ref("addmm_default"), ref("convert_element_type_3")]]

    # ---- rmsnorm_fp8_dynamic_quant ----
    g = case("neg_rmsnorm_quant_fp32_weight_order", "F.rms_norm order (weight multiplied in float32) + dividing per-token quant: a declared look-alike of vLLM's order")
    ungated(g)
    g = case("neg_rmsnorm_quant_fp32_weight_order_e4m3fnuz", "the same look-alike, MI300 format (FMAX 224)")
    ungated(g)
    set_fp8(g, "float8_e4m3fnuz", 224.0)
    g.set_val("convert_element_type_5", "float8_e4m3fnuz", ["32*s68", 128])
    g = case("neg_rmsnorm_quant_fmax", "float8_e4m3fnuz with FMAX 448: FMAX inconsistent with the dtype")
    ungated(g)
    set_fp8(g, "float8_e4m3fnuz", 448.0)
    g.set_val("convert_element_type_5", "float8_e4m3fnuz", ["32*s68", 128])
    g = case("neg_rmsnorm_quant_second_user", "RMSNorm + per-token quant, but y is also a graph output")
    ungated(g)
    g.node("output")["args"] = [[ref("addmm_default"), ref("convert_element_type_3")]]
    g = case("neg_rmsnorm_quant_floor", "scale floor 1e-6 instead of 1/(FMAX*512)")
    ungated(g)
    g.set_args("clamp_min", [ref("div_1"), 1e-06])

    for name, (g, why) in sorted(cases.items()):
        g.write(name, why)
    print("wrote %d cases" % len(cases))


if __name__ == "__main__":
    main()
