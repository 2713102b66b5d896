#!/usr/bin/env python3
"""Generates the golden inputs of the vLLM RMSNorm (+ residual) -> FP8 quant family (patterns/rms_norm_quant.json):
small post-grad-style graphs, one region each, written as vLLM's passes see them (native chains as
`fwd_only`/torch.compile trace them, spec vllm-fusions.md section 9.1; opaque vllm_ir / _C / AITER ops; _C ops in
auto_functionalized v1 and v2 form with their empty buffers and getitems).

Each case states its intent in producer.fxopt_golden_case, the target in producer.fxopt_golden_target and the
expected number of fused regions in producer.fxopt_golden_matches (negatives: 0, with the near-miss reason in the
.expected.txt). Run: python3 tests/golden/rms_norm_quant/make_cases.py; expectations come from the golden driver
in update mode (FXOPT_UPDATE_GOLDEN=1 build/fxopt_tests -tc='golden*') and are reviewed by a person.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "tests/golden/rms_norm_quant/make_cases.py"  # another family's generator sets HERE and SOURCE to reuse this one
H = 256
FMAX = {"float8_e4m3fn": 448.0, "float8_e4m3fnuz": 224.0}


def strides(shape):
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s = s * d if isinstance(d, int) and isinstance(s, int) else (f"{d}*{s}" if s != 1 else d)
    return list(reversed(out))


def tv(dtype, shape):
    return {"dtype": dtype, "shape": shape, "stride": strides(shape), "device": "cuda:0"}


class Graph:
    def __init__(self):
        self.nodes = [{"name": "s0", "op": "placeholder", "target": "s0", "args": [], "kwargs": {},
                       "meta": {"val": {"sym": "s0"}}}]
        self.names = {"s0"}
        self.outputs = []

    def fresh(self, base):
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def placeholder(self, name, val):
        self.names.add(name)
        self.nodes.append({"name": name, "op": "placeholder", "target": name, "args": [], "kwargs": {},
                           "meta": {"val": val}})
        return name

    def call(self, base, target, args, val, kwargs=None):
        name = self.fresh(base)
        self.nodes.append({"name": name, "op": "call_function", "target": target, "args": args,
                           "kwargs": kwargs or {}, "meta": {"val": val}})
        return name

    def write(self, case, why, target, matches):
        nodes = self.nodes + [{"name": "output", "op": "output", "target": "output",
                               "args": [[ref(o) for o in self.outputs]], "kwargs": {}, "meta": {}}]
        doc = {"format": "fxgraph", "version": 1,
               "producer": {"source": SOURCE, "fxopt_golden_case": why,
                            "fxopt_golden_target": target, "fxopt_golden_matches": matches},
               "symbols": {"s0": {"hint": 4, "min": 2, "max": None}}}
        lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in doc.items()]
        lines += [' "nodes": [', ",\n".join("  " + json.dumps(n) for n in nodes), " ]", "}"]
        with open(os.path.join(HERE, case + ".input.json"), "w") as f:
            f.write("\n".join(lines) + "\n")


def ref(n):
    return {"node": n}


BF, F32 = "bfloat16", "float32"
ROW = ["s0", H]
CONV = "prims.convert_element_type.default"
EMPTY_KW = lambda dt: {"dtype": {"dtype": dt}, "layout": {"layout": "strided"}, "device": {"device": "cuda:0"},
                       "pin_memory": False}


def empty(g, shape, dtype):
    return g.call("empty", "aten.empty.memory_format", [[{"sym": s} if isinstance(s, str) else s for s in shape]],
                  tv(dtype, shape), EMPTY_KW(dtype))


# ---- RMSNorm spellings: return y (bf16 [s0, H]) ----

def rms(g, x, w, eps, spelling, wdt=BF):
    if spelling in ("native", "pytorch_order"):
        c0 = g.call("convert_element_type", CONV, [ref(x), {"dtype": F32}], tv(F32, ROW))
        p = g.call("pow_1", "aten.pow.Tensor_Scalar", [ref(c0), 2], tv(F32, ROW))
        m = g.call("mean", "aten.mean.dim", [ref(p), [-1], True], tv(F32, ["s0", 1]))
        a = g.call("add", "aten.add.Tensor", [ref(m), eps], tv(F32, ["s0", 1]))
        r = g.call("rsqrt", "aten.rsqrt.default", [ref(a)], tv(F32, ["s0", 1]))
        y = g.call("mul", "aten.mul.Tensor", [ref(c0), ref(r)], tv(F32, ROW))
        if spelling == "native":
            yb = g.call("convert_element_type", CONV, [ref(y), {"dtype": BF}], tv(BF, ROW))
            return g.call("mul", "aten.mul.Tensor", [ref(yb), ref(w)], tv(BF if wdt == BF else F32, ROW))
        yw = g.call("mul", "aten.mul.Tensor", [ref(y), ref(w)], tv(F32, ROW))
        return g.call("convert_element_type", CONV, [ref(yw), {"dtype": BF}], tv(BF, ROW))
    if spelling == "vllm_ir":
        return g.call("rms_norm", "vllm_ir.rms_norm.default", [ref(x), ref(w), eps], tv(BF, ROW))
    if spelling == "vllm_ir_4arg":
        return g.call("rms_norm", "vllm_ir.rms_norm.default", [ref(x), ref(w), eps, None], tv(BF, ROW))
    if spelling == "rocm_aiter":
        return g.call("rocm_aiter_rms_norm", "vllm.rocm_aiter_rms_norm.default", [ref(x), ref(w), eps], tv(BF, ROW))
    if spelling == "aten_rms_norm":
        return g.call("rms_norm", "aten.rms_norm.default", [ref(x), [H], ref(w), eps], tv(BF, ROW))
    if spelling in ("af_v1", "af_v2"):
        buf = empty(g, ROW, BF)
        if spelling == "af_v1":
            af = g.call("auto_functionalized", "higher_order.auto_functionalized", [{"op": "_C.rms_norm.default"}],
                        [None, tv(BF, ROW)], {"result": ref(buf), "input": ref(x), "weight": ref(w), "epsilon": eps})
        else:
            af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2", [{"op": "_C.rms_norm.default"}],
                        [None, tv(BF, ROW)], {"input": ref(x), "weight": ref(w), "epsilon": eps,
                                              "_result_base_index": 0, "_all_bases": [ref(buf)]})
        return g.call("getitem", "_operator.getitem", [ref(af), 1], tv(BF, ROW))
    raise ValueError(spelling)


# ---- fused-add RMSNorm spellings: return (y, residual_out) ----

def add_rms(g, x, res, w, eps, spelling):
    if spelling == "native":
        c0 = g.call("convert_element_type", CONV, [ref(x), {"dtype": F32}], tv(F32, ROW))
        s = g.call("add", "aten.add.Tensor", [ref(c0), ref(res)], tv(F32, ROW))
        ro = g.call("convert_element_type", CONV, [ref(s), {"dtype": BF}], tv(BF, ROW))
        p = g.call("pow_1", "aten.pow.Tensor_Scalar", [ref(s), 2], tv(F32, ROW))
        m = g.call("mean", "aten.mean.dim", [ref(p), [-1], True], tv(F32, ["s0", 1]))
        a = g.call("add", "aten.add.Tensor", [ref(m), eps], tv(F32, ["s0", 1]))
        r = g.call("rsqrt", "aten.rsqrt.default", [ref(a)], tv(F32, ["s0", 1]))
        y = g.call("mul", "aten.mul.Tensor", [ref(s), ref(r)], tv(F32, ROW))
        yb = g.call("convert_element_type", CONV, [ref(y), {"dtype": BF}], tv(BF, ROW))
        return g.call("mul", "aten.mul.Tensor", [ref(yb), ref(w)], tv(BF, ROW)), ro
    if spelling in ("vllm_ir", "rocm_aiter"):
        t = "vllm_ir.fused_add_rms_norm.default" if spelling == "vllm_ir" else "vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default"
        f = g.call("fused_add_rms_norm", t, [ref(x), ref(res), ref(w), eps], [tv(BF, ROW), tv(BF, ROW)])
        return (g.call("getitem", "_operator.getitem", [ref(f), 0], tv(BF, ROW)),
                g.call("getitem", "_operator.getitem", [ref(f), 1], tv(BF, ROW)))
    if spelling in ("af_v1", "af_v2"):
        op = {"op": "_C.fused_add_rms_norm.default"}
        if spelling == "af_v1":
            af = g.call("auto_functionalized", "higher_order.auto_functionalized", [op], [None, tv(BF, ROW), tv(BF, ROW)],
                        {"input": ref(x), "residual": ref(res), "weight": ref(w), "epsilon": eps})
        else:
            af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2", [op],
                        [None, tv(BF, ROW), tv(BF, ROW)],
                        {"weight": ref(w), "epsilon": eps, "_input_base_index": 0, "_residual_base_index": 1,
                         "_all_bases": [ref(x), ref(res)]})
        return (g.call("getitem", "_operator.getitem", [ref(af), 1], tv(BF, ROW)),
                g.call("getitem", "_operator.getitem", [ref(af), 2], tv(BF, ROW)))
    raise ValueError(spelling)


# ---- quant spellings ----

def static_quant(g, y, scale, fp8, spelling, fmax=None):
    M = fmax or FMAX[fp8]
    if spelling == "native":
        cy = g.call("convert_element_type", CONV, [ref(y), {"dtype": F32}], tv(F32, ROW))
        cs = g.call("convert_element_type", CONV, [ref(scale), {"dtype": F32}], tv(F32, [1, 1]))
        inv = g.call("reciprocal", "aten.reciprocal.default", [ref(cs)], tv(F32, [1, 1]))
        q0 = g.call("mul", "aten.mul.Tensor", [ref(cy), ref(inv)], tv(F32, ROW))
        q1 = g.call("clamp_min", "aten.clamp_min.default", [ref(q0), -M], tv(F32, ROW))
        q2 = g.call("clamp_max", "aten.clamp_max.default", [ref(q1), M], tv(F32, ROW))
        return g.call("convert_element_type", CONV, [ref(q2), {"dtype": fp8}], tv(fp8, ROW))
    buf = empty(g, ROW, fp8)
    op = {"op": "_C.static_scaled_fp8_quant.default"}
    newer = {"group_shape": None} if spelling.endswith("_group_shape") else {}  # vLLM's newer schema
    if spelling.startswith("af_v1"):
        af = g.call("auto_functionalized", "higher_order.auto_functionalized", [op], [None, tv(fp8, ROW)],
                    {"result": ref(buf), "input": ref(y), "scale": ref(scale), **newer})
    else:
        af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2", [op], [None, tv(fp8, ROW)],
                    {"input": ref(y), "scale": ref(scale), **newer, "_result_base_index": 0, "_all_bases": [ref(buf)]})
    return g.call("getitem", "_operator.getitem", [ref(af), 1], tv(fp8, ROW))


def per_token_quant(g, y, fp8, spelling, fmax=None, floor=None):
    M = fmax or FMAX[fp8]
    floor = floor if floor is not None else 1 / (M * 512)
    S = ["s0", 1]
    if spelling == "native":
        ab = g.call("abs_1", "aten.abs.default", [ref(y)], tv(BF, ROW))
        mx = g.call("max_1", "aten.max.dim", [ref(ab), -1], [tv(BF, ["s0"]), tv("int64", ["s0"])])
        g0 = g.call("getitem", "_operator.getitem", [ref(mx), 0], tv(BF, ["s0"]))
        u = g.call("unsqueeze", "aten.unsqueeze.default", [ref(g0), -1], tv(BF, S))
        uf = g.call("convert_element_type", CONV, [ref(u), {"dtype": F32}], tv(F32, S))
        d = g.call("div", "aten.div.Tensor", [ref(uf), M], tv(F32, S))
        sc = g.call("clamp_min", "aten.clamp_min.default", [ref(d), floor], tv(F32, S))
        cy = g.call("convert_element_type", CONV, [ref(y), {"dtype": F32}], tv(F32, ROW))
        inv = g.call("reciprocal", "aten.reciprocal.default", [ref(sc)], tv(F32, S))
        q0 = g.call("mul", "aten.mul.Tensor", [ref(cy), ref(inv)], tv(F32, ROW))
        q1 = g.call("clamp_min", "aten.clamp_min.default", [ref(q0), -M], tv(F32, ROW))
        q2 = g.call("clamp_max", "aten.clamp_max.default", [ref(q1), M], tv(F32, ROW))
        return g.call("convert_element_type", CONV, [ref(q2), {"dtype": fp8}], tv(fp8, ROW)), sc
    if spelling == "rocm_aiter":
        f = g.call("rocm_aiter_per_token_quant", "vllm.rocm_aiter_per_token_quant.default", [ref(y), {"dtype": fp8}],
                   [tv(fp8, ROW), tv(F32, S)])
        return (g.call("getitem", "_operator.getitem", [ref(f), 0], tv(fp8, ROW)),
                g.call("getitem", "_operator.getitem", [ref(f), 1], tv(F32, S)))
    buf, sbuf = empty(g, ROW, fp8), empty(g, S, F32)
    op = {"op": "_C.dynamic_per_token_scaled_fp8_quant.default"}
    if spelling == "af_v1":
        af = g.call("auto_functionalized", "higher_order.auto_functionalized", [op], [None, tv(fp8, ROW), tv(F32, S)],
                    {"result": ref(buf), "input": ref(y), "scale": ref(sbuf), "scale_ub": None})
    else:
        af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2", [op],
                    [None, tv(fp8, ROW), tv(F32, S)],
                    {"input": ref(y), "scale_ub": None, "_result_base_index": 0, "_scale_base_index": 1,
                     "_all_bases": [ref(buf), ref(sbuf)]})
    return (g.call("getitem", "_operator.getitem", [ref(af), 1], tv(fp8, ROW)),
            g.call("getitem", "_operator.getitem", [ref(af), 2], tv(F32, S)))


def group_quant(g, y, fp8, G, spelling, colmajor=False, ue8m0=False):
    M = FMAX[fp8]
    S = ["s0", H // G]
    if spelling == "native":
        yg = g.call("view", "aten.view.default", [ref(y), [{"sym": "s0"}, H // G, G]], tv(BF, ["s0", H // G, G]))
        ab = g.call("abs_1", "aten.abs.default", [ref(yg)], tv(BF, ["s0", H // G, G]))
        mx = g.call("max_1", "aten.max.dim", [ref(ab), -1, True], [tv(BF, ["s0", H // G, 1]), tv("int64", ["s0", H // G, 1])])
        g0 = g.call("getitem", "_operator.getitem", [ref(mx), 0], tv(BF, ["s0", H // G, 1]))
        gf = g.call("convert_element_type", CONV, [ref(g0), {"dtype": F32}], tv(F32, ["s0", H // G, 1]))
        d = g.call("div", "aten.div.Tensor", [ref(gf), M], tv(F32, ["s0", H // G, 1]))
        sc = g.call("clamp_min", "aten.clamp_min.default", [ref(d), 1 / (M * 512)], tv(F32, ["s0", H // G, 1]))
        q0 = g.call("div", "aten.div.Tensor", [ref(yg), ref(sc)], tv(F32, ["s0", H // G, G]))
        q1 = g.call("clamp_min", "aten.clamp_min.default", [ref(q0), -M], tv(F32, ["s0", H // G, G]))
        q2 = g.call("clamp_max", "aten.clamp_max.default", [ref(q1), M], tv(F32, ["s0", H // G, G]))
        q8 = g.call("convert_element_type", CONV, [ref(q2), {"dtype": fp8}], tv(fp8, ["s0", H // G, G]))
        q = g.call("view", "aten.view.default", [ref(q8), [{"sym": "s0"}, H]], tv(fp8, ROW))
        s = g.call("squeeze", "aten.squeeze.dim", [ref(sc), -1], tv(F32, S))
        return q, s
    if spelling == "rocm_aiter":
        f = g.call("rocm_aiter_group_fp8_quant", "vllm.rocm_aiter_group_fp8_quant.default", [ref(y), G],
                   [tv(fp8, ROW), tv(F32, S)])
        return (g.call("getitem", "_operator.getitem", [ref(f), 0], tv(fp8, ROW)),
                g.call("getitem", "_operator.getitem", [ref(f), 1], tv(F32, S)))
    qbuf = empty(g, ROW, fp8)
    if colmajor:
        st = empty(g, [H // G, "s0"], F32)
        sbuf = g.call("permute", "aten.permute.default", [ref(st), [1, 0]],
                      {"dtype": F32, "shape": S, "stride": [1, H // G], "device": "cuda:0"})
    else:
        sbuf = empty(g, S, F32)
    af = g.call("auto_functionalized", "higher_order.auto_functionalized", [{"op": "_C.per_token_group_fp8_quant.default"}],
                [None, tv(fp8, ROW), tv(F32, S)],
                {"input": ref(y), "output_q": ref(qbuf), "output_s": ref(sbuf), "group_size": G, "eps": 1e-10,
                 "fp8_min": -M, "fp8_max": M, "scale_ue8m0": ue8m0, "dummy_is_scale_transposed": colmajor,
                 "dummy_is_tma_aligned": False})
    return (g.call("getitem", "_operator.getitem", [ref(af), 1], tv(fp8, ROW)),
            g.call("getitem", "_operator.getitem", [ref(af), 2], tv(F32, S)))


def inputs(g, residual=False, static=False, wdt=BF):
    x = g.placeholder("x", tv(BF, ROW))
    w = g.placeholder("w", tv(wdt, [H]))
    res = g.placeholder("residual", tv(BF, ROW)) if residual else None
    scale = g.placeholder("scale", tv(F32, [1, 1])) if static else None
    return x, w, res, scale


def case(name, why, target="cuda", matches=1, *, norm="native", add=False, quant="static", qs="native",
         fp8="float8_e4m3fn", G=128, colmajor=False, eps=1e-06, wdt=BF, fanout=False, second_user=False,
         fmax=None, floor=None, ue8m0=False, hidden=None):
    global H, ROW
    saved = H, ROW
    if hidden is not None:
        H, ROW = hidden, ["s0", hidden]
    g = Graph()
    x, w, res, scale = inputs(g, add, quant == "static", wdt)
    if add:
        y, ro = add_rms(g, x, res, w, eps, norm)
        g.outputs.append(ro)
    else:
        y = rms(g, x, w, eps, norm, wdt)
    for _ in range(2 if fanout else 1):
        if quant == "static":
            g.outputs.append(static_quant(g, y, scale, fp8, qs, fmax))
        elif quant == "per_token":
            g.outputs.extend(per_token_quant(g, y, fp8, qs, fmax, floor))
        else:
            g.outputs.extend(group_quant(g, y, fp8, G, qs, colmajor, ue8m0))
    if second_user:
        g.outputs.append(y)
    g.write(name, why, target, matches)
    H, ROW = saved


def main():
    for f in os.listdir(HERE):
        if f.endswith(".input.json"):
            os.remove(os.path.join(HERE, f))
    # static per-tensor (cuda)
    case("static_native", "RMSNorm -> static FP8, both native (vLLM order, reciprocal multiply)")
    case("static_vllm_ir_af_v1", "vllm_ir.rms_norm + auto_functionalized(_C.static_scaled_fp8_quant)", norm="vllm_ir", qs="af_v1")
    case("static_af_v1_af_v2", "AF(_C.rms_norm) v1 + static quant as auto_functionalized_v2", norm="af_v1", qs="af_v2")
    case("static_af_v2_native", "AF v2 (_C.rms_norm) + native static quant", norm="af_v2", qs="native")
    case("static_vllm_ir_4arg", "vllm_ir.rms_norm with the default variance_size=None spelled out", norm="vllm_ir_4arg")
    case("static_eps_1e-5", "eps is a pattern variable: 1e-5 fuses like 1e-6", eps=1e-05)
    case("add_static_native", "fused-add RMSNorm (residual output) -> static FP8, native", add=True)
    case("add_static_af_v1", "AF(_C.fused_add_rms_norm) + AF(_C.static_scaled_fp8_quant)", add=True, norm="af_v1", qs="af_v1")
    case("add_static_af_v1_group_shape", "AF(_C.fused_add_rms_norm) + AF(_C.static_scaled_fp8_quant) with the newer "
         "schema's group_shape=None recorded", add=True, norm="af_v1", qs="af_v1_group_shape")
    case("static_vllm_ir_af_v2_group_shape", "vllm_ir.rms_norm + static quant AF v2 with group_shape=None",
         norm="vllm_ir", qs="af_v2_group_shape")
    case("add_static_vllm_ir_af_v2", "vllm_ir.fused_add_rms_norm + static quant AF v2", add=True, norm="vllm_ir", qs="af_v2")
    # per-token (cuda and rocm-aiter)
    case("per_token_native_cuda", "native per-token: the _C kernel divides, the native chain multiplies by the "
         "reciprocal: fused with the declared one-code tolerance", quant="per_token")
    case("per_token_vllm_ir_af_v1_cuda", "vllm_ir + AF(_C.dynamic_per_token_scaled_fp8_quant): exact", norm="vllm_ir",
         quant="per_token", qs="af_v1")
    case("per_token_af_v2_cuda", "AF v2 norm and quant", norm="af_v2", quant="per_token", qs="af_v2")
    case("add_per_token_native_cuda", "fused-add + native per-token", add=True, quant="per_token")
    case("add_per_token_vllm_ir_af_v1_cuda", "vllm_ir fused add + AF per-token quant", add=True, norm="vllm_ir",
         quant="per_token", qs="af_v1")
    case("per_token_native_aiter", "native per-token on rocm-aiter: exact", "rocm-aiter", quant="per_token")
    case("per_token_aiter_ops", "AITER rms_norm + AITER per-token quant", "rocm-aiter", norm="rocm_aiter",
         quant="per_token", qs="rocm_aiter")
    case("per_token_native_e4m3fnuz_aiter", "MI300 format: FMAX 224", "rocm-aiter", quant="per_token",
         fp8="float8_e4m3fnuz")
    case("add_per_token_aiter_ops", "AITER rmsnorm2d_fwd_with_add + AITER per-token quant", "rocm-aiter", add=True,
         norm="rocm_aiter", quant="per_token", qs="rocm_aiter")
    # group (cuda and rocm-aiter)
    case("group128_native_cuda", "RMSNorm -> group-128 FP8, native", quant="group")
    case("group64_native_cuda", "G is a pattern variable: 64", quant="group", G=64)
    case("neg_group128_af_floor", "AF(_C.per_token_group_fp8_quant) floors amax at eps=1e-10, the fused kernel the "
         "scale at 1/(FMAX*512): inconsistent scale floor", matches=0, norm="vllm_ir", quant="group", qs="af_v1")
    case("neg_group128_af_colmajor", "the same with column-major scales", matches=0, norm="vllm_ir", quant="group",
         qs="af_v1", colmajor=True)
    case("add_group128_native_cuda", "fused-add + group-128, native", add=True, quant="group")
    case("add_group64_af_cuda", "AF(_C.fused_add_rms_norm) + native group-64 quant", add=True, norm="af_v1", quant="group", G=64)
    case("group128_native_aiter", "rocm-aiter: rmsnorm_fp8_group_quant", "rocm-aiter", quant="group")
    case("add_group128_aiter_ops", "AITER fused add + AITER group quant", "rocm-aiter", add=True, norm="rocm_aiter",
         quant="group", qs="rocm_aiter")
    # negatives
    case("neg_pytorch_order", "F.rms_norm order (weight multiplied in float32): a different function", matches=0,
         norm="pytorch_order")
    case("neg_aten_rms_norm", "aten.rms_norm computes PyTorch's order", matches=0, norm="aten_rms_norm", qs="af_v1")
    case("neg_fp32_weight", "fp32 weight with bf16 activations (vLLM #44694/#48330) must not fuse", matches=0,
         norm="vllm_ir", wdt=F32, qs="af_v1")
    case("neg_fanout", "one normed tensor feeding two quants", matches=0, norm="vllm_ir", qs="af_v1", fanout=True)
    case("neg_second_user", "the normed tensor is also a graph output", matches=0, second_user=True)
    case("neg_fnuz_fmax_240", "float8_e4m3fnuz with PyTorch's 240 instead of vLLM's 224", "rocm-aiter", 0,
         quant="per_token", fp8="float8_e4m3fnuz", fmax=240.0)
    case("neg_floor", "scale floor 1e-6 instead of 1/(FMAX*512)", "rocm-aiter", 0, quant="per_token", floor=1e-06)
    case("neg_e4m3fnuz_on_cuda", "vLLM's CUDA kernels are float8_e4m3fn only", matches=0, quant="per_token",
         qs="af_v1", norm="vllm_ir", fp8="float8_e4m3fnuz")
    case("neg_ue8m0", "UE8M0 (power-of-two) group scales: no fused op", matches=0, norm="vllm_ir", quant="group",
         qs="af_v1", ue8m0=True)
    case("neg_static_on_aiter", "rocm-aiter has no RMSNorm + static FP8 op yet: reported as skipped", "rocm-aiter", 0)
    case("neg_group96_aiter_ops", "G = 96: vLLM's group kernels take 64 or 128", "rocm-aiter", 0, norm="rocm_aiter",
         quant="group", qs="rocm_aiter", G=96, hidden=384)
    case("neg_group128_hidden320", "G = 128 does not divide the hidden size 320", matches=0, norm="vllm_ir",
         quant="group", qs="rocm_aiter", hidden=320)
    case("neg_colmajor_aiter", "AITER's group op writes row-major scales only", "rocm-aiter", 0, norm="vllm_ir",
         quant="group", qs="af_v1", colmajor=True)


if __name__ == "__main__":
    main()
