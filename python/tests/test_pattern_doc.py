"""fxopt.pattern_doc (torch-free): pattern documents from traced graphs, on traces written out by hand in
the shape make_fx + `fxopt rewrite --target none --keep-normalized` give (the device test traces for real)."""
import inspect
import json
import os
import struct
import subprocess
import tempfile
import unittest

from fxopt import pattern_doc as pd
from fxopt.binary import optional_binary

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SRC = "/lib/patterns/rms.py"


def frame(line, code, fn="search"):
    return f'  File "/torch/fx/proxy.py", line 9, in create\n    x\n  File "{SRC}", line {line}, in {fn}\n    {code}\n'


def tensor(dtype, shape):
    return {"dtype": dtype, "shape": shape, "stride": [1] * len(shape), "device": "cpu"}


class Doc:
    """A small fxgraph document builder: node(name, target, args, val, line, code)."""
    def __init__(self):
        self.nodes = []

    def ph(self, name, val):
        self.nodes.append({"name": name, "op": "placeholder", "target": name, "args": [], "kwargs": {},
                           "meta": {"val": val}})
        return {"node": name}

    def op(self, name, target, args, val, line=None, code=None, kwargs=None):
        meta = {"val": val}
        if line:
            meta["stack_trace"] = frame(line, code)
        self.nodes.append({"name": name, "op": "call_function", "target": target, "args": args,
                           "kwargs": kwargs or {}, "meta": meta})
        return {"node": name}

    def out(self, *refs):
        self.nodes.append({"name": "output", "op": "output", "target": "output", "args": [list(refs)], "kwargs": {},
                           "meta": {}})
        return {"format": "fxgraph", "version": 1, "symbols": {}, "nodes": self.nodes}


CONV = "prims.convert_element_type.default"


def rms_trace(eps, fmax, floor, fp8, literal_line=None, decomposed=False):
    """RMSNorm + per-token quant as traced (s0 = M, s1 = D): normalised (clamp), or as make_fx spells it
    with Inductor's decompositions (decomposed: clamp_min + clamp_max, to be normalised by the binary)."""
    d = Doc()
    M, D = "s0", "s1"
    x = d.ph("arg0_1", tensor("bfloat16", [M, D]))
    w = d.ph("arg1_1", tensor("bfloat16", [D]))
    f32 = lambda *s: tensor("float32", list(s))  # noqa: E731
    xf = d.op("convert_element_type", CONV, [x, {"dtype": "float32"}], f32(M, D), 3, "xf = x.to(torch.float32)")
    p = d.op("pow_1", "aten.pow.Tensor_Scalar", [xf, 2], f32(M, D), 4, "variance = xf.pow(2).mean(-1, keepdim=True)")
    ms = d.op("mean", "aten.mean.dim", [p, [-1], True], f32(M, 1), 4, "variance = xf.pow(2).mean(-1, keepdim=True)")
    code = literal_line or "xf = xf * torch.rsqrt(variance + eps)"
    a = d.op("add", "aten.add.Tensor", [ms, eps], f32(M, 1), 5, code)
    r = d.op("rsqrt", "aten.rsqrt.default", [a], f32(M, 1), 5, code)
    xn = d.op("mul", "aten.mul.Tensor", [xf, r], f32(M, D), 5, code)
    wf = d.op("convert_element_type_1", CONV, [w, {"dtype": "float32"}], f32(D), 6, "y = (xf * w.to(torch.float32)).to(torch.bfloat16)")
    xw = d.op("mul_1", "aten.mul.Tensor", [xn, wf], f32(M, D), 6, "y = (xf * w.to(torch.float32)).to(torch.bfloat16)")
    y = d.op("convert_element_type_2", CONV, [xw, {"dtype": "bfloat16"}], tensor("bfloat16", [M, D]), 6,
             "y = (xf * w.to(torch.float32)).to(torch.bfloat16)")
    c7 = "scale = y.abs().amax(-1, keepdim=True).to(torch.float32) / FMAX"
    ab = d.op("abs_1", "aten.abs.default", [y], tensor("bfloat16", [M, D]), 7, c7)
    am = d.op("amax", "aten.amax.default", [ab, [-1], True], tensor("bfloat16", [M, 1]), 7, c7)
    af = d.op("convert_element_type_3", CONV, [am, {"dtype": "float32"}], f32(M, 1), 7, c7)
    sr = d.op("div", "aten.div.Tensor", [af, fmax], f32(M, 1), 7, c7)
    sc = d.op("clamp_min", "aten.clamp_min.default", [sr, floor], f32(M, 1), 8, "scale = scale.clamp(min=FLOOR)")
    c9 = "q = (y / scale).clamp(-FMAX, FMAX).to(FP8)"
    yq = d.op("div_1", "aten.div.Tensor", [y, sc], f32(M, D), 9, c9)
    if decomposed:
        lo = d.op("clamp_min_1", "aten.clamp_min.default", [yq, -fmax], f32(M, D), 9, c9)
        yc = d.op("clamp_max", "aten.clamp_max.default", [lo, fmax], f32(M, D), 9, c9)
    else:
        yc = d.op("clamp", "aten.clamp.default", [yq, -fmax, fmax], f32(M, D), 9, c9)
    q = d.op("convert_element_type_4", CONV, [yc, {"dtype": fp8}], tensor(fp8, [M, D]), 9, c9)
    return d.out(q, sc)


def gated_trace(g, eps, fmax, floor, fp8, opaque=False):
    """The gated RMSNorm + group quant as make_fx + normalisation spell it: s0 = N, s1 = H, s2 = D symbols, the
    fixed group size G a plain int (traced at 128 and at 256), sizes as SymInt nodes."""
    d = Doc()
    NH, D = "s0*s1", "s2"
    groups_shape = ["s0", f"((s1*s2)//{g})", g]
    gs_shape = ["s0", f"((s1*s2)//{g})", 1]
    f32 = lambda *s: tensor("float32", list(s))  # noqa: E731
    bf = lambda *s: tensor("bfloat16", list(s))  # noqa: E731
    x = d.ph("arg0_1", bf(NH, D))
    w = d.ph("arg1_1", bf(D))
    z = d.ph("arg2_1", bf(NH, D))
    d.ph("arg3_1", None)  # eps
    n = d.ph("arg4_1", {"sym": "s0"})
    h = d.ph("arg5_1", {"sym": "s1"})
    dd = d.ph("arg6_1", {"sym": "s2"})
    d.ph("arg7_1", None)  # G
    if not opaque:
        d.ph("arg8_1", None)
        d.ph("arg9_1", None)
    d.ph("arg10_1", None)  # FP8
    d.nodes[3]["meta"] = {}
    for node in d.nodes:
        if node["meta"].get("val") is None:
            node["meta"] = {}
    c = "xf = x.to(torch.float32)"
    xf = d.op("convert_element_type", CONV, [x, {"dtype": "float32"}], f32(NH, D), 3, c)
    c = "variance = xf.pow(2).mean(-1, keepdim=True)"
    p = d.op("pow_1", "aten.pow.Tensor_Scalar", [xf, 2], f32(NH, D), 4, c)
    ms = d.op("mean", "aten.mean.dim", [p, [-1], True], f32(NH, 1), 4, c)
    c = "xf = xf * torch.rsqrt(variance + eps)"
    a = d.op("add", "aten.add.Tensor", [ms, eps], f32(NH, 1), 5, c)
    r = d.op("rsqrt", "aten.rsqrt.default", [a], f32(NH, 1), 5, c)
    xn = d.op("mul", "aten.mul.Tensor", [xf, r], f32(NH, D), 5, c)
    c = "y = xf * w.to(torch.float32)"
    wf = d.op("convert_element_type_1", CONV, [w, {"dtype": "float32"}], f32(D), 6, c)
    xw = d.op("mul_1", "aten.mul.Tensor", [xn, wf], f32(NH, D), 6, c)
    c = "y = y * F.silu(z.to(torch.float32))"
    zf = d.op("convert_element_type_2", CONV, [z, {"dtype": "float32"}], f32(NH, D), 7, c)
    gate = d.op("silu", "aten.silu.default", [zf], f32(NH, D))
    gated = d.op("mul_2", "aten.mul.Tensor", [xw, gate], f32(NH, D), 7, c)
    y = d.op("convert_element_type_3", CONV, [gated, {"dtype": "bfloat16"}], bf(NH, D), 8, "return y.to(torch.bfloat16)")
    hd = d.op("mul_3", "_operator.mul", [h, dd], {"sym": "s1*s2"}, 11, "groups = y.reshape(N, H * D // G, G)")
    if opaque:
        rows = d.op("view", "aten.reshape.default", [y, [n, hd]], bf("s0", "s1*s2"), 11, "rows = y.reshape(N, H * D)")
        with_quant = "quant = torch.ops.vllm.rocm_aiter_group_fp8_quant(rows, G)"
        quant = d.op("rocm_aiter_group_fp8_quant", "vllm.rocm_aiter_group_fp8_quant.default", [rows, g],
                     [tensor(fp8, ["s0", "s1*s2"]), f32("s0", f"((s1*s2)//{g})")], 13, with_quant)
        q = d.op("getitem", "_operator.getitem", [quant, 0], tensor(fp8, ["s0", "s1*s2"]), 14, "q = quant[0]")
        sc = d.op("getitem_1", "_operator.getitem", [quant, 1], f32("s0", f"((s1*s2)//{g})"), 15, "scale = quant[1]")
        return d.out(q, sc)
    c = "groups = y.reshape(N, H * D // G, G)"
    hdg = d.op("floordiv", "_operator.floordiv", [hd, g], {"sym": f"((s1*s2)//{g})"}, 11, c)
    groups = d.op("view", "aten.reshape.default", [y, [n, hdg, g]], bf(*groups_shape), 11, c)
    c = "gscale = groups.abs().amax(-1, keepdim=True).to(torch.float32) / FMAX"
    ab = d.op("abs_1", "aten.abs.default", [groups], bf(*groups_shape), 12, c)
    am = d.op("amax", "aten.amax.default", [ab, [-1], True], bf(*gs_shape), 12, c)
    af = d.op("convert_element_type_4", CONV, [am, {"dtype": "float32"}], f32(*gs_shape), 12, c)
    sr = d.op("div", "aten.div.Tensor", [af, fmax], f32(*gs_shape), 12, c)
    gsc = d.op("clamp_min", "aten.clamp_min.default", [sr, floor], f32(*gs_shape), 13, "gscale = gscale.clamp(min=FLOOR)")
    c = "q8 = (groups / gscale).clamp(-FMAX, FMAX).to(FP8)"
    yq = d.op("div_1", "aten.div.Tensor", [groups, gsc], f32(*groups_shape), 14, c)
    yc = d.op("clamp", "aten.clamp.default", [yq, -fmax, fmax], f32(*groups_shape), 14, c)
    q8 = d.op("convert_element_type_5", CONV, [yc, {"dtype": fp8}], tensor(fp8, groups_shape), 14, c)
    q = d.op("view_1", "aten.reshape.default", [q8, [n, hd]], tensor(fp8, ["s0", "s1*s2"]), 15, "q = q8.reshape(N, H * D)")
    sc = d.op("squeeze", "aten.squeeze.dim", [gsc, -1], f32("s0", f"((s1*s2)//{g})"), 16, "scale = gscale.squeeze(-1)")
    return d.out(q, sc)


def gated_replacement(g, eps, fp8):
    d = Doc()
    NH = "s0*s1"
    x = d.ph("arg0_1", tensor("bfloat16", [NH, "s2"]))
    w = d.ph("arg1_1", tensor("bfloat16", ["s2"]))
    z = d.ph("arg2_1", tensor("bfloat16", [NH, "s2"]))
    d.ph("arg3_1", None)
    n = d.ph("arg4_1", {"sym": "s0"})
    h = d.ph("arg5_1", {"sym": "s1"})
    dd = d.ph("arg6_1", {"sym": "s2"})
    d.ph("arg7_1", None)
    d.ph("arg8_1", None)
    for node in d.nodes:
        if node["meta"].get("val") is None:
            node["meta"] = {}
    qv, sv = tensor(fp8, [NH, "s2"]), tensor("float32", [NH, f"((s2)//{g})"])
    f = d.op("rocm_aiter_fused_rms_gated_fp8_group_quant", "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default",
             [x, w, None, z, eps, True, "silu", g], [qv, sv], 5, "q_rows, scale_rows = op(...)")
    q0 = d.op("getitem", "_operator.getitem", [f, 0], qv, 5, "q_rows, scale_rows = op(...)")
    s1 = d.op("getitem_1", "_operator.getitem", [f, 1], sv, 5, "q_rows, scale_rows = op(...)")
    hd = d.op("mul", "_operator.mul", [h, dd], {"sym": "s1*s2"}, 6, "return ...")
    hdg = d.op("floordiv", "_operator.floordiv", [hd, g], {"sym": f"((s1*s2)//{g})"}, 6, "return ...")
    a = d.op("view", "aten.view.default", [q0, [n, hd]], tensor(fp8, ["s0", "s1*s2"]), 6, "return ...")
    b = d.op("view_1", "aten.view.default", [s1, [n, hdg]], tensor("float32", ["s0", f"((s1*s2)//{g})"]), 6, "return ...")
    return d.out(a, b)


GATED_VARS = {"N": pd.sym_dim(6), "H": pd.int_var(4), "D": pd.int_var(256),
              "G": pd.int_var(value=128, doc="the quant group size of the kernel"), "eps": pd.float_var(1e-6),
              "FMAX": pd.float_var(448.0), "FLOOR": pd.float_var(1 / (448.0 * 512)),
              "FP8": pd.dtype_var("float8_e4m3fn", "float8_e4m3fnuz")}
RMS_VARS = {"M": pd.sym_dim(24), "D": pd.int_var(256), "eps": pd.float_var(1e-6), "FMAX": pd.float_var(448.0),
            "FLOOR": pd.float_var(1 / (448.0 * 512)),
            "FP8": pd.dtype_var("float8_e4m3fn", "float8_e4m3fnuz")}
SENT = ({"eps": 1e-6, "FMAX": 448.0, "FLOOR": 1 / (448.0 * 512), "FP8": "float8_e4m3fn"},
        {"eps": 0.25, "FMAX": 600.5, "FLOOR": 0.125, "FP8": "float8_e4m3fnuz"})
GSENT = ({**SENT[0], "G": 128}, {**SENT[1], "G": 256})
GATED_PARAMS = ["x", "w", "z", "eps", "N", "H", "D", "G", "FMAX", "FLOOR", "FP8"]
OPAQUE_PARAMS = ["x", "w", "z", "eps", "N", "H", "D", "G", "FP8"]
REPL_PARAMS = ["x", "w", "z", "eps", "N", "H", "D", "G", "FP8"]


def build_gated(name="rms_gated_fp8_group_quant", opaque=False):
    traces_ = [gated_trace(GSENT[k]["G"], GSENT[k]["eps"], GSENT[k]["FMAX"], GSENT[k]["FLOOR"], GSENT[k]["FP8"],
                           opaque=opaque) for k in (0, 1)]
    reps = [gated_replacement(GSENT[k]["G"], GSENT[k]["eps"], GSENT[k]["FP8"]) for k in (0, 1)]
    variables = dict(GATED_VARS)
    if opaque:
        variables = {k: v for k, v in variables.items() if k not in ("FMAX", "FLOOR")}
    return pd.build_pattern(name, pd.Trace(traces_[0], OPAQUE_PARAMS if opaque else GATED_PARAMS, traces_[1], SRC),
                            pd.Trace(reps[0], REPL_PARAMS, reps[1], SRC), inputs=["x", "w", "z"], variables=variables,
                            sym_names={"s0": "N", "s1": "H", "s2": "D"}, sentinels=GSENT, outputs=["q", "scale"],
                            root="quant" if opaque else "q8", benefit=20,
                            conditions=["D % G == 0"] if opaque else
                            ["D % G == 0", "FMAX == fp8_max(FP8)", "FLOOR == 1/(FMAX*512)"])


RMS_OP = pd.FusedOp("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", ["%x", "%w", "$eps", {"dtype": "$FP8"}],
                    name="rmsnorm_fused_dynamic_quant")


def traces(**kw):
    a = rms_trace(SENT[0]["eps"], SENT[0]["FMAX"], SENT[0]["FLOOR"], SENT[0]["FP8"], **kw)
    b = rms_trace(SENT[1]["eps"], SENT[1]["FMAX"], SENT[1]["FLOOR"], SENT[1]["FP8"], **kw)
    return pd.Trace(a, ["x", "w"], b, SRC, "search")


def build_rms(name="rmsnorm_fp8_dynamic_quant", search=None, **kw):
    return pd.build_pattern(name, search or traces(), RMS_OP, inputs=["x", "w"], variables=RMS_VARS,
                            sym_names={"s0": "M", "s1": "D"}, sentinels=SENT, outputs=["q", "scale"],
                            conditions=["FMAX == fp8_max(FP8)", "FLOOR == 1/(FMAX*512)"], benefit=10, **kw)


def _helper_with_literal(variance):
    return variance + 1e-06  # an unnamed literal in a helper (and 2.5e-3 in a comment)


def _search_with_literal(x, w):  # read by pd.source_lines, never called
    xf = x.float()
    variance = _helper_with_literal(xf.pow(2).mean(-1, keepdim=True))
    return xf * variance * w


def builtin(name):
    with open(os.path.join(ROOT, "patterns", "rmsnorm_fp8_quant.json")) as f:
        return next(p for p in json.load(f)["patterns"] if p["name"] == name)


def rename_refs(v, names):
    if isinstance(v, str) and v.startswith("%"):
        return "%" + names.get(v[1:], v[1:])
    if isinstance(v, list):
        return [rename_refs(x, names) for x in v]
    if isinstance(v, dict):
        return {k: rename_refs(x, names) for k, x in v.items()}
    return v


class BuildPatternTest(unittest.TestCase):
    def test_rmsnorm_equals_the_hand_written_pattern(self):
        gen, ref = build_rms(), builtin("rmsnorm_fp8_dynamic_quant")
        self.assertEqual(gen["inputs"], ref["inputs"])
        self.assertEqual(gen["vars"], ref["vars"])
        self.assertEqual(gen["fused_op"], ref["fused_op"])
        self.assertEqual([n["op"] for n in gen["nodes"]], [n["op"] for n in ref["nodes"]])
        names = {g["name"]: r["name"] for g, r in zip(gen["nodes"], ref["nodes"])}
        for g, r in zip(gen["nodes"], ref["nodes"]):
            self.assertEqual(rename_refs(g["args"], names), r["args"], g["name"])
            self.assertEqual(g.get("val"), r.get("val"), g["name"])
        self.assertEqual({k: names[v] for k, v in gen["outputs"].items()}, ref["outputs"])
        self.assertEqual(gen["replacement"], ref["replacement"])
        # Names follow the Python variables: the line's last node gets the variable, the others var_op.
        self.assertEqual([n["name"] for n in gen["nodes"]][:6],
                         ["xf", "variance_pow", "variance", "xf_add", "xf_rsqrt", "xf_1"])

    def test_gated_and_opaque_equal_the_hand_written_patterns(self):
        for opaque in (False, True):
            name = "rms_gated_fp8_group_quant" + ("_opaque" if opaque else "")
            gen, ref = build_gated(name, opaque), builtin(name)
            self.assertEqual(gen["inputs"], ref["inputs"])
            self.assertEqual(gen["vars"], ref["vars"])
            self.assertEqual(gen["fused_op"], ref["fused_op"])
            self.assertEqual([n["op"] for n in gen["nodes"]], [n["op"] for n in ref["nodes"]])
            names = {g["name"]: r["name"] for g, r in zip(gen["nodes"], ref["nodes"])}
            for g, r in zip(gen["nodes"], ref["nodes"]):
                self.assertEqual(rename_refs(g["args"], names), r["args"], g["name"])
                self.assertEqual(g.get("val"), r.get("val"), g["name"])
            self.assertEqual({k: names[v] for k, v in gen["outputs"].items()}, ref["outputs"])
            self.assertEqual(names[gen["root"]], ref["root"])
            self.assertEqual(gen["conditions"], ref["conditions"])
            # The replacement: the fused op with G and eps as holes, types over the named dims.
            fused = gen["replacement"]["nodes"][0]
            self.assertEqual(fused["args"], ["%x", "%w", None, "%z", "$eps", True, "silu", "$G"])
            self.assertEqual(fused["val"], ["FP8 [N*H, D]", "float32 [N*H, D//G]"])
            self.assertEqual(gen["replacement"]["nodes"][-1]["args"][1], ["$N", "$H*D//G"])

    def test_reshape_sizes_as_the_call_spelled_them(self):
        # PyTorch's Python reshape algorithm (split_dim) may give the groups' last size as
        # FloorDiv(H*D, FloorDiv(H*D, 128)) where the call said G = 128: the pattern keeps the call's sizes.
        def gated(k):
            g = GSENT[k]["G"]
            doc = gated_trace(g, GSENT[k]["eps"], GSENT[k]["FMAX"], GSENT[k]["FLOOR"], GSENT[k]["FP8"])
            view = next(n for n in doc["nodes"] if n["name"] == "view")
            self.assertEqual(view["meta"]["val"]["shape"][2], g)
            view["meta"]["val"]["shape"][2] = f"((s1*s2)//(((s1*s2)//{g})))"
            return doc
        reps = [gated_replacement(GSENT[k]["G"], GSENT[k]["eps"], GSENT[k]["FP8"]) for k in (0, 1)]
        p = pd.build_pattern("g", pd.Trace(gated(0), GATED_PARAMS, gated(1), SRC),
                             pd.Trace(reps[0], REPL_PARAMS, reps[1], SRC), inputs=["x", "w", "z"],
                             variables=dict(GATED_VARS), sym_names={"s0": "N", "s1": "H", "s2": "D"},
                             sentinels=GSENT, outputs=["q", "scale"], root="q8")
        groups = next(n for n in p["nodes"] if n["name"] == "groups")
        self.assertEqual(groups["args"][1], ["$N", "$H*D//G", "$G"])
        self.assertEqual(p["nodes"], build_gated()["nodes"])

    def test_unnamed_float_literal_names_the_line(self):
        lit = "xf = xf * torch.rsqrt(variance + 1e-06)"
        a = rms_trace(1e-6, 448.0, SENT[0]["FLOOR"], "float8_e4m3fn", literal_line=lit)
        b = rms_trace(1e-6, 600.5, 0.125, "float8_e4m3fnuz", literal_line=lit)
        with self.assertRaises(pd.PatternError) as e:
            build_rms(search=pd.Trace(a, ["x", "w"], b, SRC))
        self.assertIn(f"{SRC}:5: the float 1e-06 in `{lit}` is not named", str(e.exception))

    def test_unnamed_literal_found_in_the_source_when_stack_traces_stop_short(self):
        # make_fx(record_stack_traces=True) may keep only the frames named `forward` (fxopt.pattern's wrapper):
        # the literal is then found in the lines of the search function and of the helpers of its file it calls.
        lines = pd.source_lines(_search_with_literal)
        src = inspect.getsourcefile(_search_with_literal)
        helper_line = next(l for l, code, _ in lines if "variance + 1e-06" in code)
        self.assertEqual([lits for l, _, lits in lines if lits], [["1e-06"]])  # not the comment's 2.5e-3
        docs = []
        for fmax, floor, fp8 in ((448.0, SENT[0]["FLOOR"], "float8_e4m3fn"), (600.5, 0.125, "float8_e4m3fnuz")):
            doc = rms_trace(1e-6, fmax, floor, fp8)
            for n in doc["nodes"]:
                if "stack_trace" in n["meta"]:
                    n["meta"]["stack_trace"] = '  File "/fxopt/pattern.py", line 9, in forward\n    return fn(*a)\n'
            docs.append(doc)
        with self.assertRaises(pd.PatternError) as e:
            build_rms(search=pd.Trace(docs[0], ["x", "w"], docs[1], src, "search", lines))
        self.assertIn(f"{src}:{helper_line}: the float 1e-06 in `return variance + 1e-06", str(e.exception))
        # Without the literal in the source lines, the constant is no literal error (the unchanged eps is then
        # simply not a variable of the region).
        with self.assertRaisesRegex(pd.PatternError, "variable 'eps' does not occur"):
            build_rms(search=pd.Trace(docs[0], ["x", "w"], docs[1], src, "search", pd.source_lines(build_rms)))

    def test_scalar_carried_as_float32_is_the_named_one(self):
        # A decomposition may carry eps as float32 (PyTorch 2.11's F.rms_norm): the traced value is float32(eps) in
        # both traces, and the node's argument is still the variable.
        f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]  # noqa: E731
        a = rms_trace(f32(SENT[0]["eps"]), SENT[0]["FMAX"], SENT[0]["FLOOR"], SENT[0]["FP8"])
        b = rms_trace(f32(SENT[1]["eps"]), SENT[1]["FMAX"], SENT[1]["FLOOR"], SENT[1]["FP8"])
        self.assertNotEqual(f32(SENT[0]["eps"]), SENT[0]["eps"])
        p = build_rms(search=pd.Trace(a, ["x", "w"], b, SRC, "search"))
        self.assertEqual(p, build_rms())

    def test_scalar_computed_from_a_named_one(self):
        a = rms_trace(1e-6, 448.0, 1 / (448.0 * 512), "float8_e4m3fn")
        b = rms_trace(0.25, 600.5, 1 / (600.5 * 512), "float8_e4m3fnuz")  # FLOOR computed in Python from FMAX
        with self.assertRaises(pd.PatternError) as e:
            build_rms(search=pd.Trace(a, ["x", "w"], b, SRC))
        self.assertIn(f"{SRC}:8 (`scale = scale.clamp(min=FLOOR)`)", str(e.exception))
        self.assertIn("depends on a named scalar but is not one", str(e.exception))

    def test_control_flow_on_a_scalar(self):
        t = traces()
        t.alt["nodes"][5]["target"] = "aten.sqrt.default"
        with self.assertRaises(pd.PatternError) as e:
            build_rms(search=t)
        self.assertIn("control flow depends on a scalar", str(e.exception))
        self.assertIn(f"{SRC}:5", str(e.exception))

    def test_unnamed_symbol(self):
        t = traces()
        for doc in (t.doc, t.alt):
            doc["nodes"][0]["meta"]["val"]["shape"][0] = "s7"
        with self.assertRaisesRegex(pd.PatternError, "symbol s7 is not a named dim"):
            build_rms(search=t)

    def test_opaque_node(self):
        t = traces()
        for doc in (t.doc, t.alt):
            doc["nodes"].insert(2, {"name": "_tensor_constant0", "op": "get_attr", "target": "_tensor_constant0",
                                    "args": [], "kwargs": {}, "meta": {"stack_trace": frame(4, "c = self.table")}})
        with self.assertRaises(pd.PatternError) as e:
            build_rms(search=t)
        self.assertIn(f"{SRC}:4 (`c = self.table`): a get_attr node", str(e.exception))

    def test_root_and_unknown_root(self):
        self.assertEqual(build_rms(root="variance")["root"], "variance")
        with self.assertRaisesRegex(pd.PatternError, "root 'nope' is not a node of the region"):
            build_rms(root="nope")

    def test_fixed_int_traced_at_two_values_becomes_its_variable(self):
        # A reshape into groups of G: G fixed at 128, traced at 128 and 256; H and D symbolic (s1, s2).
        def trace(g):
            d = Doc()
            x = d.ph("arg0_1", tensor("bfloat16", ["s0*s1", "s2"]))
            v = d.op("view", "aten.reshape.default", [x, [-1, f"{g}"]],
                     tensor("bfloat16", ["s0", f"((s1*s2)//{g})", g]), 3, "groups = x.reshape(N, H * D // G, G)")
            q = d.op("quant", "vllm.rocm_aiter_group_fp8_quant.default", [v, g], [tensor("float8_e4m3fn", ["s0", f"((s1*s2)//{g})", g]), tensor("float32", ["s0", 1])], 4, "quant = op(groups, G)")
            q0 = d.op("getitem", "_operator.getitem", [q, 0], tensor("float8_e4m3fn", ["s0", f"((s1*s2)//{g})", g]), 5, "q = quant[0]")
            return d.out(q0)
        variables = {"N": pd.sym_dim(6), "H": pd.int_var(4), "D": pd.int_var(256), "G": pd.int_var(value=128)}
        p = pd.build_pattern("groups", pd.Trace(trace(128), ["x"], trace(256), SRC),
                             pd.FusedOp("vllm.some_fused.default", ["%x", "$G"]), inputs=["x"], variables=variables,
                             sym_names={"s0": "N", "s1": "H", "s2": "D"},
                             sentinels=({"G": 128}, {"G": 256}), outputs=["q"])
        self.assertEqual(p["inputs"], {"x": "bfloat16 [N*H, D]"})
        self.assertEqual(p["nodes"][0]["args"], ["%x", ["$N", "$H*D//G", "$G"]])
        self.assertEqual(p["nodes"][1]["args"], ["%groups", "$G"])
        self.assertEqual(p["nodes"][2]["val"], "float8_e4m3fn [N, H*D//G, G]")
        self.assertEqual(p["vars"]["G"], {"type": "int", "value": 128})

    def test_file_text_round_trips(self):
        doc = pd.document([build_rms()], "x")
        self.assertEqual(json.loads(pd.dumps(doc)), doc)
        with self.assertRaisesRegex(pd.PatternError, "duplicate pattern names"):
            pd.document([build_rms(), build_rms()])

    def test_expressions(self):
        names = {"s0": "N", "s1": "H", "s2": "D"}
        self.assertEqual(pd.sym_expr("((s1*s2)//128)", names, "t"), "H*D//128")
        self.assertEqual(pd.sym_expr("32*s0", names, "t"), "32*N")
        self.assertEqual(pd.sym_expr("Mod(s2, 128)", names, "t"), "D%128")
        self.assertEqual(pd.sym_expr("s0 - (s1 - s2)", names, "t"), "N-(H-D)")
        self.assertEqual(pd.sym_expr("64", names, "t"), 64)
        with self.assertRaisesRegex(pd.PatternError, "Max"):
            pd.sym_expr("Max(1, s0)", names, "t")


class SecondTraceValuesTest(unittest.TestCase):
    """The second-trace value of a fixed int must not make PyTorch specialise a dim (torch-free half)."""

    def test_fixed_int_avoids_the_sizes_and_keeps_divisibility_and_order(self):
        from fxopt.pattern import _example_sizes, _second_int, _second_value
        dims = {"N": pd.sym_dim(6), "H": pd.int_var(4), "D": pd.int_var(256), "G": pd.int_var(value=128)}
        sizes = _example_sizes(dims, {"x": "bfloat16 [N*H, D]", "w": "bfloat16 [D]", "g": "float32 [N, H*D//G]"})
        self.assertEqual(sorted(set(sizes)), [4, 6, 24, 256])  # H*D//G: G is fixed, not an example size
        # 2*128 = 256 = D would make `D == G` true in the second trace only (the device failure): 64 instead.
        self.assertEqual(_second_int(128, sizes), 64)
        self.assertEqual(_second_value("G", dims["G"], 128, sizes), 64)
        self.assertEqual(_second_int(128, [6, 4, 512]), 64)
        self.assertEqual(_second_int(64, [6, 4, 32, 4096]), 128)  # 32 = 64//2 is a size: 2*64 keeps the order
        self.assertEqual(_second_int(3, [8]), 6)  # odd: no half
        for first, szs in ((128, sizes), (64, [6, 4, 32, 4096]), (16, [16, 32, 8, 48])):
            second = _second_int(first, szs)
            self.assertNotIn(second, szs)
            self.assertNotEqual(second, first)
            self.assertTrue(all(s % second == 0 for s in szs if s % first == 0), (first, szs, second))


class CommandLineTest(unittest.TestCase):
    """`python -m fxopt.pattern MODULE -o F`: here with a module whose PATTERNS are already documents (no torch)."""
    def test_module_of_documents(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "my_patterns.py"), "w") as f:
                f.write('"""My patterns."""\nimport json\nPATTERNS = [json.loads(%r)]\n' % json.dumps(build_rms()))
            out = os.path.join(d, "out.json")
            from fxopt import pattern
            self.assertEqual(pattern.main(["my_patterns", "--path", d, "-o", out, "--name-prefix", "py_"]), 0)
            with open(out) as f:
                doc = json.load(f)
            self.assertEqual(doc["description"], "My patterns.")
            self.assertEqual([p["name"] for p in doc["patterns"]], ["py_rmsnorm_fp8_dynamic_quant"])
            binary = optional_binary()
            if binary:
                r = subprocess.run(binary + ["patterns", "--pattern-file", out], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("py_rmsnorm_fp8_dynamic_quant", r.stdout)
            # A module that declares nothing is an error, not an empty file.
            with open(os.path.join(d, "empty_mod.py"), "w") as f:
                f.write("x = 1\n")
            self.assertEqual(pattern.main(["empty_mod", "--path", d, "-o", os.path.join(d, "e.json")]), 1)
            self.assertFalse(os.path.exists(os.path.join(d, "e.json")))


@unittest.skipIf(optional_binary() is None, "no fxopt binary")
class GeneratedPatternMatchesTest(unittest.TestCase):
    """The pattern built from the hand-written trace matches exactly what the built-in one matches."""
    def test_trace_normalised_by_the_binary(self):
        # The decomposed spelling (clamp_min + clamp_max) becomes the pattern's normal form, stack traces kept.
        from fxopt.pattern import _normalize
        docs = [rms_trace(SENT[k]["eps"], SENT[k]["FMAX"], SENT[k]["FLOOR"], SENT[k]["FP8"], decomposed=True)
                for k in (0, 1)]
        for doc in docs:
            doc["producer"] = {"source": "test"}
        a, b = _normalize(docs, None, "t")
        self.assertIn("aten.clamp_max.default", json.dumps(docs[0]))
        p = build_rms(search=pd.Trace(a, ["x", "w"], b, SRC))
        ref = build_rms()
        self.assertEqual([n["op"] for n in p["nodes"]], [n["op"] for n in ref["nodes"]])
        self.assertEqual(p["nodes"][-2]["args"][1:], ["$-FMAX", "$FMAX"])
        self.assertEqual(p["nodes"][-1]["name"], "q")

    def test_same_matches_as_builtin_on_golden_cases(self):
        from pattern_compare import compare_with_builtin, corpus_graphs
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "gen.json")
            with open(path, "w") as f:
                # The built-in is now a declared look-alike ("reject": F.rms_norm order, not vLLM's): so is the copy.
                gen = build_rms("py_rmsnorm_fp8_dynamic_quant")
                gen["reject"] = builtin("rmsnorm_fp8_dynamic_quant")["reject"]
                f.write(pd.dumps(pd.document([gen])))
            graphs = corpus_graphs(ROOT)
            diffs, counts = compare_with_builtin(optional_binary(), path, "py_", graphs)
            self.assertEqual(diffs, [])
            self.assertGreater(counts["near_misses"], 0)

    def test_all_three_match_the_same_regions_as_builtin(self):
        # Every built-in pattern rebuilt from traces: same matches and near-miss reasons on all corpus graphs and
        # golden cases, and a lint without errors.
        from pattern_compare import compare_with_builtin, corpus_graphs
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "gen.json")
            rms = build_rms("py_rmsnorm_fp8_dynamic_quant")
            rms["reject"] = builtin("rmsnorm_fp8_dynamic_quant")["reject"]  # the built-in is a declared look-alike now
            pats = [build_gated("py_rms_gated_fp8_group_quant"), build_gated("py_rms_gated_fp8_group_quant_opaque", True),
                    rms]
            with open(path, "w") as f:
                f.write(pd.dumps(pd.document(pats)))
            diffs, counts = compare_with_builtin(optional_binary(), path, "py_", corpus_graphs(ROOT))
            self.assertEqual(diffs, [])
            self.assertGreaterEqual(counts["matches"], 8)
            self.assertGreaterEqual(counts["near_misses"], 8)
            r = subprocess.run(optional_binary() + ["patterns", "--lint", "--pattern-file", path, "--format", "json"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
