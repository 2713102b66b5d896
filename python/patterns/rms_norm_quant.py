"""The vLLM RMSNorm (+ residual) -> FP8 quant family re-authored in Python (the built-in patterns/rms_norm_quant.json).

The native spellings are functions written like vLLM's forward_native (RMSNorm.forward_static with and without
residual, QuantFP8.forward_native static / per-token, _quantize_group_native) and PyTorch's F.rms_norm order, traced
to the post-grad ops; the opaque spellings (vllm_ir, auto_functionalized(_C...) v1/v2, the AITER ops) and the
fused ops of each target are data. `python -m fxopt.pattern rms_norm_quant -o F.json --path python/patterns`
writes the file (python/tests/test_pattern_trace.py checks it matches what the hand-written file does). The
data parts are shared with tests/golden/rms_norm_quant/make_patterns.py, which writes the built-in file.
"""
try:
    import torch
except ImportError:  # the data parts are torch-free (make_patterns.py); tracing needs torch
    torch = None

from fxopt.family import Family, Fragment, auto_functionalized as af, empty, getitem as gi, node as n
from fxopt.pattern_doc import dtype_var, int_var, sym_dim

BF = "bfloat16"
F32 = {"dtype": "float32"}
# The example values the native spellings are traced with (float and dtype scalars become variables).
EXAMPLES = {"N": sym_dim(8), "H": int_var(256), "G": int_var(128), "eps": 1e-6, "FMAX": 448.0,
            "FLOOR": 1 / (448.0 * 512), "FP8": dtype_var("float8_e4m3fn", "float8_e4m3fnuz"),
            "MD": dtype_var("bfloat16")}
PT_REASON = ("PyTorch's F.rms_norm order: the weight is multiplied in float32 and rounded once, while vLLM's RMSNorm "
             "and its fused kernels round the normed value to the model dtype before the weight multiply (up to 0.0625 "
             "apart on bf16 [64, 4096]); a different function, not fused")
FP8V = {"FMAX": "float"}
QCOND = ["FMAX == fp8_max(FP8)"]
TOL_DIV = {"fp8_codes": 1, "reason": "vLLM's _C per-token kernels divide by the scale where the native chain (and the "
           "AITER reference) multiplies by its reciprocal: one fp8 code apart on ties; scales are identical"}
TOL_CUDA = dict(TOL_DIV, fused_ops=["_C.rms_norm_dynamic_per_token_quant.default"])
TOL_AITER = dict(TOL_DIV, fused_ops=["vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default",
                                     "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default"])
GROUP_REJECT = ("its scale floor is inconsistent with the fused kernels': it floors amax at eps (1e-10) where "
                "_C.rms_norm_per_block_quant / the AITER ops floor the scale at 1/(FMAX*512), so every group whose amax "
                "is below 1/512 gets other scales and codes (vLLM fuses it anyway; fxopt does not change results)")
Q, S1, SG, RES = "FP8 [N, H]", "float32 [N, 1]", "float32 [N, H//G]", "bfloat16 [N, H]"

# ---------------------------------------------------------------------------------------------------------
# Fragments: each spelling once

rms_norm = Fragment(
    "rms_norm", {"x": "MD [N, H]", "w": "MD [H]"}, {"out": "MD [N, H]"},
    "RMSNorm over the last dim as vLLM computes it (RMSNorm.forward_static, vllm_ir.rms_norm): fp32 variance, "
    "rsqrt(mean + eps), rounded to the model dtype, then multiplied by the weight in the model dtype")


@rms_norm.spelling("native", doc="the decomposed chain with the leading upcast (vLLM order)")
def rms_norm_native(x, w, eps):
    # RMSNorm.forward_static without residual: normalise in float32, round, then the weight in the model dtype.
    xf = x.to(torch.float32)
    variance = xf.pow(2).mean(dim=-1, keepdim=True)
    xn = xf * torch.rsqrt(variance + eps)
    out = xn.to(x.dtype) * w
    return out


rms_norm.spelling("vllm_ir", nodes=[n("out", "vllm_ir.rms_norm.default", ["%x", "%w", "$eps"])])
rms_norm.spelling("vllm_ir_4arg", doc="the same op with the default variance_size=None spelled out (vLLM PR #41767)",
                  nodes=[n("out", "vllm_ir.rms_norm.default", ["%x", "%w", "$eps", None])])
rms_norm.spelling("af_v1", doc="auto_functionalized(_C.rms_norm) writing an empty result buffer",
                  captures={"buf": "bfloat16 [N, H]"},
                  nodes=[af("af", "_C.rms_norm.default", {"result": "%buf", "input": "%x", "weight": "%w", "epsilon": "$eps"}),
                         gi("out", "af", 1)])
rms_norm.spelling("af_v2", captures={"buf": "bfloat16 [N, H]"},
                  nodes=[af("af", "_C.rms_norm.default", {"input": "%x", "weight": "%w", "epsilon": "$eps",
                                                          "_result_base_index": 0, "_all_bases": ["%buf"]}, v2=True),
                         gi("out", "af", 1)])
rms_norm.spelling("rocm_aiter", nodes=[n("out", "vllm.rocm_aiter_rms_norm.default", ["%x", "%w", "$eps"])])


@rms_norm.spelling("pytorch_order", reject=PT_REASON)
def rms_norm_pytorch(x, w, eps):
    # F.rms_norm's order: the weight multiplied in float32, one rounding at the end. Written out rather than traced
    # through F.rms_norm, whose decomposition changes between PyTorch versions (2.11's adds eps in place with
    # add_.Scalar, reduces over dim 1 for a 2-d input and lets type promotion convert the weight).
    xf = x.to(torch.float32)
    xn = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    out = (xn * w.to(torch.float32)).to(x.dtype)
    return out


@rms_norm.spelling("pytorch_order_promoted", reject=PT_REASON)
def rms_norm_promoted(x, w, eps):
    # The same order written by hand: the float32 normed value times the bf16 weight (type promotion, no cast).
    xf = x.to(torch.float32)
    xn = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    out = (xn * w).to(x.dtype)
    return out


rms_norm.spelling("aten_rms_norm", reject="aten.rms_norm is " + PT_REASON,
                  nodes=[n("out", "aten.rms_norm.default", ["%x", ["$H"], "%w", "$eps"])])
rms_norm.spelling("aten_fused_rms_norm", reject="aten._fused_rms_norm is " + PT_REASON,
                  nodes=[n("f", "aten._fused_rms_norm.default", ["%x", ["$H"], "%w", "$eps"]), gi("out", "f", 0)])

add_rms_norm = Fragment(
    "add_rms_norm", {"x": "MD [N, H]", "res": "MD [N, H]", "w": "MD [H]"}, {"out": "MD [N, H]", "residual": "MD [N, H]"},
    "fused-add RMSNorm as vLLM computes it: s = float(x) + residual (float32), residual_out = s in the model "
    "dtype, then RMSNorm of s (vLLM order)")


@add_rms_norm.spelling("native")
def add_rms_norm_native(x, res, w, eps):
    # RMSNorm.forward_static with residual: the residual is promoted to float32 by the add, not cast.
    xf = x.to(torch.float32)
    s = xf + res
    res_out = s.to(x.dtype)
    variance = s.pow(2).mean(dim=-1, keepdim=True)
    xn = s * torch.rsqrt(variance + eps)
    out = xn.to(x.dtype) * w
    return out, res_out


RN_OUTS = {"out": "out", "residual": "res_out"}
add_rms_norm.spelling("vllm_ir", root="f", outputs=RN_OUTS,
                      nodes=[n("f", "vllm_ir.fused_add_rms_norm.default", ["%x", "%res", "%w", "$eps"]),
                             gi("out", "f", 0), gi("res_out", "f", 1)])
add_rms_norm.spelling("af_v1", doc="auto_functionalized(_C.fused_add_rms_norm): input becomes the normed value, "
                                   "residual the sum", outputs=RN_OUTS,
                      nodes=[af("af", "_C.fused_add_rms_norm.default",
                                {"input": "%x", "residual": "%res", "weight": "%w", "epsilon": "$eps"}),
                             gi("out", "af", 1), gi("res_out", "af", 2)])
add_rms_norm.spelling("af_v2", outputs=RN_OUTS,
                      nodes=[af("af", "_C.fused_add_rms_norm.default",
                                {"weight": "%w", "epsilon": "$eps", "_input_base_index": 0, "_residual_base_index": 1,
                                 "_all_bases": ["%x", "%res"]}, v2=True),
                             gi("out", "af", 1), gi("res_out", "af", 2)])
add_rms_norm.spelling("rocm_aiter", outputs=RN_OUTS,
                      nodes=[n("f", "vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default", ["%x", "%res", "%w", "$eps"]),
                             gi("out", "f", 0), gi("res_out", "f", 1)])

static_quant = Fragment(
    "static_quant", {"y": "MD [N, H]", "scale": "float32 [1, 1]"}, {"q": Q},
    "static per-tensor FP8 quant (QuantFP8 static, _C.static_scaled_fp8_quant): q = fp8(clamp(float(y) * (1/scale), "
    "-FMAX, FMAX))")


@static_quant.spelling("native", vars=FP8V, conditions=QCOND)
def static_quant_native(y, scale, FMAX, FP8):
    # QuantFP8.forward_native, static: the scale as float32 (vLLM's group broadcast keeps the conversion).
    cs = torch.ops.prims.convert_element_type.default(scale, torch.float32)
    q = (y.to(torch.float32) * cs.reciprocal()).clamp(min=-FMAX, max=FMAX).to(FP8)
    return q


@static_quant.spelling("native_f32_scale", doc="the scale's no-op float32 conversion removed", vars=FP8V,
                       conditions=QCOND)
def static_quant_f32_scale(y, scale, FMAX, FP8):
    q = (y.to(torch.float32) * scale.reciprocal()).clamp(min=-FMAX, max=FMAX).to(FP8)
    return q


static_quant.spelling("af_v1", captures={"buf": Q}, root="af",
                      nodes=[af("af", "_C.static_scaled_fp8_quant.default", {"result": "%buf", "input": "%y", "scale": "%scale"}),
                             gi("q", "af", 1)])
static_quant.spelling("af_v2", captures={"buf": Q}, root="af",
                      nodes=[af("af", "_C.static_scaled_fp8_quant.default",
                                {"input": "%y", "scale": "%scale", "_result_base_index": 0, "_all_bases": ["%buf"]}, v2=True),
                             gi("q", "af", 1)])
# vLLM's newer schema adds `int[]? group_shape=None`: auto_functionalized then records group_shape=None.
static_quant.spelling("af_v1_group_shape", doc="the newer schema's group_shape=None recorded", captures={"buf": Q},
                      root="af",
                      nodes=[af("af", "_C.static_scaled_fp8_quant.default",
                                {"result": "%buf", "input": "%y", "scale": "%scale", "group_shape": None}),
                             gi("q", "af", 1)])
static_quant.spelling("af_v2_group_shape", doc="the newer schema's group_shape=None recorded", captures={"buf": Q},
                      root="af",
                      nodes=[af("af", "_C.static_scaled_fp8_quant.default",
                                {"input": "%y", "scale": "%scale", "group_shape": None, "_result_base_index": 0,
                                 "_all_bases": ["%buf"]}, v2=True),
                             gi("q", "af", 1)])

per_token_quant = Fragment(
    "per_token_quant", {"y": "MD [N, H]"}, {"q": Q, "scale": S1},
    "dynamic per-token FP8 quant: scale = max(amax(|y|, -1) / FMAX, 1/(FMAX*512)) per row (N, 1)")
TOKEN_VARS = dict(FP8V, FLOOR="float")
TOKEN_COND = QCOND + ["FLOOR == 1/(FMAX*512)"]


@per_token_quant.spelling("native", doc="QuantFP8.forward_native: multiplies by the reciprocal of the scale",
                          vars=TOKEN_VARS, conditions=TOKEN_COND, tolerance=TOL_CUDA)
def per_token_quant_native(y, FMAX, FLOOR, FP8):
    # The max in the model dtype (exact), then float32; one scale per row, floored at 1/(FMAX*512).
    amax = y.abs().max(dim=-1).values.unsqueeze(-1).to(torch.float32)
    scale = (amax / FMAX).clamp(min=FLOOR)
    q = (y.to(torch.float32) * scale.reciprocal()).clamp(min=-FMAX, max=FMAX).to(FP8)
    return q, scale


@per_token_quant.spelling("native_div", doc="amax kept as (N, 1) and a division (what the _C kernel computes)",
                          vars=TOKEN_VARS, conditions=TOKEN_COND, tolerance=TOL_AITER)
def per_token_quant_div(y, FMAX, FLOOR, FP8):
    amax = y.abs().amax(dim=-1, keepdim=True).to(torch.float32)
    scale = (amax / FMAX).clamp(min=FLOOR)
    q = (y / scale).clamp(min=-FMAX, max=FMAX).to(FP8)
    return q, scale


per_token_quant.spelling("af_v1", captures={"buf": Q, "sbuf": S1}, tolerance=TOL_AITER, root="af",
                         nodes=[af("af", "_C.dynamic_per_token_scaled_fp8_quant.default",
                                   {"result": "%buf", "input": "%y", "scale": "%sbuf", "scale_ub": None}),
                                gi("q", "af", 1), gi("scale", "af", 2)])
per_token_quant.spelling("af_v2", captures={"buf": Q, "sbuf": S1}, tolerance=TOL_AITER, root="af",
                         nodes=[af("af", "_C.dynamic_per_token_scaled_fp8_quant.default",
                                   {"input": "%y", "scale_ub": None, "_result_base_index": 0, "_scale_base_index": 1,
                                    "_all_bases": ["%buf", "%sbuf"]}, v2=True),
                                gi("q", "af", 1), gi("scale", "af", 2)])
per_token_quant.spelling("rocm_aiter", tolerance=TOL_CUDA, root="f",
                         nodes=[n("f", "vllm.rocm_aiter_per_token_quant.default", ["%y", {"dtype": "$FP8"}]),
                                gi("q", "f", 0), gi("scale", "f", 1)])

group_quant = Fragment(
    "group_quant", {"y": "MD [N, H]"}, {"q": Q, "scale": SG},
    "dynamic per-group FP8 quant, G columns a group: scale = max(amax / FMAX, 1/(FMAX*512)) per (row, group), "
    "q = fp8(clamp(y / scale)) (_quantize_group_native divides)")


@group_quant.spelling("native", vars=dict(TOKEN_VARS, COLMAJOR={"type": "bool", "value": False}),
                      conditions=TOKEN_COND, root="q8")
def group_quant_native(y, G, FMAX, FLOOR, FP8):
    # _quantize_group_native: rows viewed as groups of G, the max of each group, a division by its scale.
    N, H = y.shape
    groups = y.reshape(N, H // G, G)
    amax = groups.abs().amax(dim=-1, keepdim=True).to(torch.float32)
    gscale = (amax / FMAX).clamp(min=FLOOR)
    q8 = (groups / gscale).clamp(min=-FMAX, max=FMAX).to(FP8)
    q = q8.reshape(N, H)
    scale = gscale.squeeze(-1)
    return q, scale


group_quant.spelling("af_v1", doc="auto_functionalized(_C.per_token_group_fp8_quant), scales row- or column-major "
                                  "(the dummy flag)",
                     captures={"qbuf": Q, "sbuf": SG}, vars=dict(FP8V, GEPS="float", COLMAJOR="bool", TMA="bool", UE8M0="bool"),
                     conditions=QCOND, reject=GROUP_REJECT, root="af",
                     nodes=[af("af", "_C.per_token_group_fp8_quant.default",
                               {"input": "%y", "output_q": "%qbuf", "output_s": "%sbuf", "group_size": "$G", "eps": "$GEPS",
                                "fp8_min": "$-FMAX", "fp8_max": "$FMAX", "scale_ue8m0": "$UE8M0",
                                "dummy_is_scale_transposed": "$COLMAJOR", "dummy_is_tma_aligned": "$TMA"}),
                            gi("q", "af", 1), gi("scale", "af", 2)])
group_quant.spelling("rocm_aiter", vars={"COLMAJOR": {"type": "bool", "value": False}}, root="f",
                     nodes=[n("f", "vllm.rocm_aiter_group_fp8_quant.default", ["%y", "$G"]), gi("q", "f", 0, val=Q),
                            gi("scale", "f", 1)])

FRAGMENTS = [rms_norm, add_rms_norm, static_quant, per_token_quant, group_quant]

# ---------------------------------------------------------------------------------------------------------
# Families: the fused ops of each target are data

VARS = {"N": "sym", "H": "int", "eps": "float", "FP8": {"type": "dtype", "one_of": ["float8_e4m3fn", "float8_e4m3fnuz"]},
        "MD": {"type": "dtype", "one_of": ["bfloat16"], "doc": "the model dtype: input, weight and residual share it "
                                                                "(vLLM #44694, #48330)"}}
GVARS = dict(VARS, G={"type": "int", "one_of": [64, 128], "doc": "the quant group size (vLLM's kernels: 64 or 128)"})
X = {"x": "MD [N, H]", "w": "MD [H]"}
XR = {"x": "MD [N, H]", "res": "MD [N, H]", "w": "MD [H]"}


def cuda_target(op, kwargs, vals, gets, buffers=(), name="cuda", conditions=None):
    """vLLM's _C fused op in auto_functionalized form: its empty result buffers, the call, the getitems
    (output -> (index, type))."""
    t = {"name": name, "fused_op": op}
    if conditions:
        t["conditions"] = conditions
    nodes = [empty("result", ["$N", "$H"], "$FP8")] + list(buffers) + [af("fused", op, kwargs, val=vals)]
    nodes += [gi(f"{o}_fused", "fused", k, val=v) for o, (k, v) in gets.items()]
    t["replacement"] = {"nodes": nodes, "outputs": {o: f"{o}_fused" for o in gets}}
    return t


def aiter_target(op, args, gets):
    """An AITER fused op: functional, its outputs a tuple (output -> type, in order)."""
    nodes = [n("fused", op, args, val=list(gets.values()))]
    nodes += [gi(f"{o}_fused", "fused", k, val=v) for k, (o, v) in enumerate(gets.items())]
    return {"name": "aiter", "fused_op": op,
            "replacement": {"nodes": nodes, "outputs": {o: f"{o}_fused" for o in gets}}}


def rms_norm_static_fp8_quant(x, w, scale):
    norm = rms_norm(x, w)
    quant = static_quant(norm, scale)
    return {"q": quant.q}


def fused_add_rms_norm_static_fp8_quant(x, res, w, scale):
    norm = add_rms_norm(x, res, w)
    quant = static_quant(norm, scale)
    return {"q": quant.q, "residual": norm.residual}


def rms_norm_per_token_fp8_quant(x, w):
    norm = rms_norm(x, w)
    quant = per_token_quant(norm)
    return {"q": quant.q, "scale": quant.scale}


def fused_add_rms_norm_per_token_fp8_quant(x, res, w):
    norm = add_rms_norm(x, res, w)
    quant = per_token_quant(norm)
    return {"q": quant.q, "residual": norm.residual, "scale": quant.scale}


def rms_norm_group_fp8_quant(x, w):
    norm = rms_norm(x, w)
    quant = group_quant(norm)
    return {"q": quant.q, "scale": quant.scale}


def fused_add_rms_norm_group_fp8_quant(x, res, w):
    norm = add_rms_norm(x, res, w)
    quant = group_quant(norm)
    return {"q": quant.q, "residual": norm.residual, "scale": quant.scale}


def group_targets(residual):
    kwargs = {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf", "epsilon": "$eps",
              "scale_ub": None, "residual": "%res" if residual else None, "group_size": "$G",
              "is_scale_transposed": "$COLMAJOR"}
    gets = {"q": (1, Q), "scale": (2, SG)}
    if residual:
        gets["residual"] = (3, RES)
    # Column-major scales would need the opaque group quant's dummy flag, and that spelling is a look-alike
    # (its scale floor differs), so only row-major scales are emitted.
    row = cuda_target("_C.rms_norm_per_block_quant.default", kwargs, [None, Q, SG, RES if residual else None], gets,
                      [empty("scale_buf", ["$N", "$H//G"], "float32")])
    if residual:
        aiter = aiter_target("vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default", ["%x", "%res", "%w", "$eps", "$G"],
                             {"q": Q, "residual": RES, "scale": SG})
    else:
        aiter = aiter_target("vllm.rocm_aiter_rmsnorm_fp8_group_quant.default", ["%x", "%w", "$eps", "$G"],
                             {"q": Q, "scale": SG})
    return [row, aiter]


PER_TOKEN_BUF = [empty("scale_buf", ["$N", 1], "float32")]
FAMILIES = [
    Family(rms_norm_static_fp8_quant, dict(X, scale="float32 [1, 1]"), VARS, root="quant", benefit=11,
           description="RMSNorm (vLLM order) then static per-tensor FP8 quant (scale given)",
           diagram=["  x (N, H) bf16    w (H) bf16      scale (1, 1) f32",
                    "  y = @rms_norm(x, w)                    native | vllm_ir | AF(_C.rms_norm) v1/v2 | rocm_aiter",
                    "  q = @static_quant(y, scale)  (N, H) FP8    native | AF(_C.static_scaled_fp8_quant) v1/v2",
                    "  => cuda: AF(_C.rms_norm_static_fp8_quant, result=empty, input=x, weight=w, scale, epsilon)[1]",
                    "  => rocm-aiter: no fused op yet (the pattern is reported as skipped)"],
           targets=[cuda_target("_C.rms_norm_static_fp8_quant.default",
                                {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale", "epsilon": "$eps"},
                                [None, Q], {"q": (1, Q)})]),
    Family(fused_add_rms_norm_static_fp8_quant, dict(XR, scale="float32 [1, 1]"), VARS, root="quant", benefit=13,
           description="fused-add RMSNorm (residual sum is a second output) then static per-tensor FP8 quant",
           diagram=["  x, res (N, H) bf16   w (H) bf16   scale (1, 1) f32",
                    "  y, residual = @add_rms_norm(x, res, w)   native | vllm_ir | AF(_C.fused_add_rms_norm) v1/v2 | "
                    "rocm_aiter",
                    "  q = @static_quant(y, scale)",
                    "  => cuda: AF(_C.fused_add_rms_norm_static_fp8_quant, result=empty, input=x, residual=res, "
                    "weight=w, scale, epsilon) -> [1], [2]"],
           targets=[cuda_target("_C.fused_add_rms_norm_static_fp8_quant.default",
                                {"result": "%result", "input": "%x", "residual": "%res", "weight": "%w",
                                 "scale": "%scale", "epsilon": "$eps"},
                                [None, Q, RES], {"q": (1, Q), "residual": (2, RES)})]),
    Family(rms_norm_per_token_fp8_quant, X, VARS, root="quant", benefit=11,
           description="RMSNorm (vLLM order) then dynamic per-token FP8 quant",
           diagram=["  x (N, H) bf16    w (H) bf16",
                    "  y = @rms_norm(x, w)",
                    "  q (N, H) FP8, scale (N, 1) f32 = @per_token_quant(y)   native | native_div | "
                    "AF(_C.dynamic_per_token_scaled_fp8_quant) v1/v2 | rocm_aiter",
                    "  => cuda: AF(_C.rms_norm_dynamic_per_token_quant, result=empty, input=x, weight=w, "
                    "scale=empty(N,1), epsilon, scale_ub=None, residual=None) -> [1], [2]",
                    "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(x, w, eps, FP8) -> [0], [1]"],
           targets=[cuda_target("_C.rms_norm_dynamic_per_token_quant.default",
                                {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf",
                                 "epsilon": "$eps", "scale_ub": None, "residual": None},
                                [None, Q, S1, None], {"q": (1, Q), "scale": (2, S1)}, PER_TOKEN_BUF),
                    aiter_target("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default",
                                 ["%x", "%w", "$eps", {"dtype": "$FP8"}], {"q": Q, "scale": S1})]),
    Family(fused_add_rms_norm_per_token_fp8_quant, XR, VARS, root="quant", benefit=13,
           description="fused-add RMSNorm then dynamic per-token FP8 quant",
           diagram=["  y, residual = @add_rms_norm(x, res, w)",
                    "  q, scale = @per_token_quant(y)",
                    "  => cuda: AF(_C.rms_norm_dynamic_per_token_quant, ..., residual=res) -> q [1], residual [3], "
                    "scale [2]",
                    "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant(x, res, w, eps, FP8) -> "
                    "(q, residual, scale)"],
           targets=[cuda_target("_C.rms_norm_dynamic_per_token_quant.default",
                                {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf",
                                 "epsilon": "$eps", "scale_ub": None, "residual": "%res"},
                                [None, Q, S1, RES], {"q": (1, Q), "scale": (2, S1), "residual": (3, RES)},
                                PER_TOKEN_BUF),
                    aiter_target("vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default",
                                 ["%x", "%res", "%w", "$eps", {"dtype": "$FP8"}], {"q": Q, "residual": RES, "scale": S1})]),
    Family(rms_norm_group_fp8_quant, X, GVARS, root="quant", benefit=11, conditions=["H % G == 0"],
           description="RMSNorm (vLLM order) then dynamic per-group FP8 quant, G in {64, 128}, row- or column-major "
                       "scales",
           diagram=["  y = @rms_norm(x, w)",
                    "  q (N, H) FP8, scale (N, H/G) f32 = @group_quant(y)   native | AF(_C.per_token_group_fp8_quant) "
                    "| rocm_aiter",
                    "  => cuda: AF(_C.rms_norm_per_block_quant, result, input=x, weight=w, scale=empty(N, H/G), "
                    "epsilon, None, None, G, is_scale_transposed=False)",
                    "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fp8_group_quant(x, w, eps, G) (row-major scales)"],
           targets=group_targets(False)),
    Family(fused_add_rms_norm_group_fp8_quant, XR, GVARS, root="quant", benefit=13, conditions=["H % G == 0"],
           description="fused-add RMSNorm then dynamic per-group FP8 quant (the most frequent site of block-FP8 "
                       "models)",
           diagram=["  y, residual = @add_rms_norm(x, res, w)",
                    "  q, scale = @group_quant(y)",
                    "  => cuda: AF(_C.rms_norm_per_block_quant, ..., residual=res, G, is_scale_transposed) -> q [1], "
                    "residual [3], scale [2]",
                    "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant(x, res, w, eps, G) -> "
                    "(q, residual, scale)"],
           targets=group_targets(True)),
]
DESCRIPTION = ("The vLLM RMSNorm (+ residual) -> FP8 quant family (static, per-token, per-group 64/128) for the cuda "
               "(_C ops, auto_functionalized) and rocm-aiter targets, re-authored in Python "
               "(python/patterns/rms_norm_quant.py)")
