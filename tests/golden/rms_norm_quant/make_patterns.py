# Generates patterns/rms_norm_quant.json: python3 tests/golden/rms_norm_quant/make_patterns.py (writes the JSON; the JSON is what fxopt reads).
import json
BF = "bfloat16"
def n(name, op, args, kwargs=None, val=None):
    d = {"name": name, "op": op, "args": args}
    if kwargs: d["kwargs"] = kwargs
    if val: d["val"] = val
    return d
def af(name, op, kwargs):
    return n(name, "higher_order.auto_functionalized", [{"op": op}], kwargs)
def af2(name, op, kwargs):
    return n(name, "higher_order.auto_functionalized_v2", [{"op": op}], kwargs)
def gi(name, src, i):
    return n(name, "_operator.getitem", ["%" + src, i])
F32 = {"dtype": "float32"}
CONV = "prims.convert_element_type.default"
PT_REASON = ("PyTorch's F.rms_norm order: the weight is multiplied in float32 and rounded once, while vLLM's RMSNorm "
             "and its fused kernels round the normed value to the model dtype before the weight multiply (up to 0.0625 "
             "apart on bf16 [64, 4096]); a different function, not fused")
rms_native = [n("c0", CONV, ["%x", F32]), n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]),
              n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
              n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%c0", "%rstd"]),
              n("xb", CONV, ["%xn", {"dtype": BF}]), n("out", "aten.mul.Tensor", ["%xb", "%w"])]
rms_pt = [n("c0", CONV, ["%x", F32]), n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]),
          n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
          n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%c0", "%rstd"])]
fragments = {
 "rms_norm": {
  "doc": "RMSNorm over the last dim as vLLM computes it (RMSNorm.forward_static, vllm_ir.rms_norm): fp32 variance, "
         "rsqrt(mean + eps), rounded to the model dtype, then multiplied by the weight in the model dtype",
  "inputs": ["x", "w"], "outputs": ["out"],
  "spellings": [
   {"name": "native", "doc": "the decomposed chain with the leading upcast (vLLM order)", "nodes": rms_native,
    "outputs": {"out": "out"}},
   {"name": "vllm_ir", "nodes": [n("out", "vllm_ir.rms_norm.default", ["%x", "%w", "$eps"])], "outputs": {"out": "out"}},
   {"name": "vllm_ir_4arg", "doc": "the same op with the default variance_size=None spelled out (vLLM PR #41767)",
    "nodes": [n("out", "vllm_ir.rms_norm.default", ["%x", "%w", "$eps", None])], "outputs": {"out": "out"}},
   {"name": "af_v1", "doc": "auto_functionalized(_C.rms_norm) writing an empty result buffer", "captures": {"buf": "bfloat16 [N, H]"},
    "nodes": [af("af", "_C.rms_norm.default", {"result": "%buf", "input": "%x", "weight": "%w", "epsilon": "$eps"}),
              gi("out", "af", 1)], "outputs": {"out": "out"}},
   {"name": "af_v2", "captures": {"buf": "bfloat16 [N, H]"},
    "nodes": [af2("af", "_C.rms_norm.default", {"input": "%x", "weight": "%w", "epsilon": "$eps",
                                                  "_result_base_index": 0, "_all_bases": ["%buf"]}),
              gi("out", "af", 1)], "outputs": {"out": "out"}},
   {"name": "rocm_aiter", "nodes": [n("out", "vllm.rocm_aiter_rms_norm.default", ["%x", "%w", "$eps"])],
    "outputs": {"out": "out"}},
   {"name": "pytorch_order", "reject": PT_REASON,
    "nodes": rms_pt + [n("wf", CONV, ["%w", F32]), n("xw", "aten.mul.Tensor", ["%xn", "%wf"]),
                       n("out", CONV, ["%xw", {"dtype": BF}])], "outputs": {"out": "out"}},
   {"name": "pytorch_order_promoted", "reject": PT_REASON,
    "nodes": rms_pt + [n("xw", "aten.mul.Tensor", ["%xn", "%w"]), n("out", CONV, ["%xw", {"dtype": BF}])],
    "outputs": {"out": "out"}},
   {"name": "aten_rms_norm", "reject": "aten.rms_norm is " + PT_REASON,
    "nodes": [n("out", "aten.rms_norm.default", ["%x", ["$H"], "%w", "$eps"])], "outputs": {"out": "out"}},
   {"name": "aten_fused_rms_norm", "reject": "aten._fused_rms_norm is " + PT_REASON,
    "nodes": [n("f", "aten._fused_rms_norm.default", ["%x", ["$H"], "%w", "$eps"]), gi("out", "f", 0)],
    "outputs": {"out": "out"}}]},
 "add_rms_norm": {
  "doc": "fused-add RMSNorm as vLLM computes it: s = float(x) + residual (float32), residual_out = s in the model "
         "dtype, then RMSNorm of s (vLLM order)",
  "inputs": ["x", "res", "w"], "outputs": ["out", "residual"],
  "spellings": [
   {"name": "native", "nodes": [n("c0", CONV, ["%x", F32]), n("s", "aten.add.Tensor", ["%c0", "%res"]),
                                 n("res_out", CONV, ["%s", {"dtype": BF}]), n("sq", "aten.pow.Tensor_Scalar", ["%s", 2]),
                                 n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
                                 n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%s", "%rstd"]),
                                 n("xb", CONV, ["%xn", {"dtype": BF}]), n("out", "aten.mul.Tensor", ["%xb", "%w"])],
    "outputs": {"out": "out", "residual": "res_out"}},
   {"name": "vllm_ir", "nodes": [n("f", "vllm_ir.fused_add_rms_norm.default", ["%x", "%res", "%w", "$eps"]),
                                  gi("out", "f", 0), gi("res_out", "f", 1)], "root": "f",
    "outputs": {"out": "out", "residual": "res_out"}},
   {"name": "af_v1", "doc": "auto_functionalized(_C.fused_add_rms_norm): input becomes the normed value, residual the sum",
    "nodes": [af("af", "_C.fused_add_rms_norm.default", {"input": "%x", "residual": "%res", "weight": "%w", "epsilon": "$eps"}),
              gi("out", "af", 1), gi("res_out", "af", 2)], "outputs": {"out": "out", "residual": "res_out"}},
   {"name": "af_v2",
    "nodes": [af2("af", "_C.fused_add_rms_norm.default", {"weight": "%w", "epsilon": "$eps", "_input_base_index": 0,
                                                           "_residual_base_index": 1, "_all_bases": ["%x", "%res"]}),
              gi("out", "af", 1), gi("res_out", "af", 2)], "outputs": {"out": "out", "residual": "res_out"}},
   {"name": "rocm_aiter", "nodes": [n("f", "vllm.rocm_aiter_rmsnorm2d_fwd_with_add.default", ["%x", "%res", "%w", "$eps"]),
                                     gi("out", "f", 0), gi("res_out", "f", 1)], "outputs": {"out": "out", "residual": "res_out"}}]},
}
FP8V = {"FMAX": "float"}
QCOND = ["FMAX == fp8_max(FP8)"]
TOL_DIV = {"fp8_codes": 1, "reason": "vLLM's _C per-token kernels divide by the scale where the native chain (and the "
           "AITER reference) multiplies by its reciprocal: one fp8 code apart on ties; scales are identical"}
tol_cuda = dict(TOL_DIV, fused_ops=["_C.rms_norm_dynamic_per_token_quant.default"])
tol_aiter = dict(TOL_DIV, fused_ops=["vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default",
                                     "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default"])
fragments["static_quant"] = {
  "doc": "static per-tensor FP8 quant (QuantFP8 static, _C.static_scaled_fp8_quant): q = fp8(clamp(float(y) * (1/scale), -FMAX, FMAX))",
  "inputs": ["y", "scale"], "outputs": ["q"],
  "spellings": [
   {"name": "native", "vars": FP8V, "conditions": QCOND,
    "nodes": [n("cy", CONV, ["%y", F32]), n("cs", CONV, ["%scale", F32]), n("inv", "aten.reciprocal.default", ["%cs"]),
              n("q0", "aten.mul.Tensor", ["%cy", "%inv"]), n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]),
              n("q", CONV, ["%qc", {"dtype": "$FP8"}])], "outputs": {"q": "q"}},
   {"name": "native_f32_scale", "doc": "the scale's no-op float32 conversion removed", "vars": FP8V, "conditions": QCOND,
    "nodes": [n("cy", CONV, ["%y", F32]), n("inv", "aten.reciprocal.default", ["%scale"]),
              n("q0", "aten.mul.Tensor", ["%cy", "%inv"]), n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]),
              n("q", CONV, ["%qc", {"dtype": "$FP8"}])], "outputs": {"q": "q"}},
   {"name": "af_v1", "captures": {"buf": "FP8 [N, H]"},
    "nodes": [af("af", "_C.static_scaled_fp8_quant.default", {"result": "%buf", "input": "%y", "scale": "%scale"}),
              gi("q", "af", 1)], "root": "af", "outputs": {"q": "q"}},
   {"name": "af_v2", "captures": {"buf": "FP8 [N, H]"},
    "nodes": [af2("af", "_C.static_scaled_fp8_quant.default", {"input": "%y", "scale": "%scale", "_result_base_index": 0,
                                                                "_all_bases": ["%buf"]}),
              gi("q", "af", 1)], "root": "af", "outputs": {"q": "q"}}]}
fragments["per_token_quant"] = {
  "doc": "dynamic per-token FP8 quant: scale = max(amax(|y|, -1) / FMAX, 1/(FMAX*512)) per row (N, 1)",
  "inputs": ["y"], "outputs": ["q", "scale"],
  "spellings": [
   {"name": "native", "doc": "QuantFP8.forward_native: multiplies by the reciprocal of the scale", "vars": dict(FP8V, FLOOR="float"),
    "conditions": QCOND + ["FLOOR == 1/(FMAX*512)"], "tolerance": tol_cuda,
    "nodes": [n("ay", "aten.abs.default", ["%y"]), n("am", "aten.amax.default", ["%ay", [-1], False]),
              n("amu", "aten.unsqueeze.default", ["%am", -1]), n("amf", CONV, ["%amu", F32]),
              n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]), n("scale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]),
              n("cy", CONV, ["%y", F32]), n("inv", "aten.reciprocal.default", ["%scale"]),
              n("q0", "aten.mul.Tensor", ["%cy", "%inv"]), n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]),
              n("q", CONV, ["%qc", {"dtype": "$FP8"}])], "outputs": {"q": "q", "scale": "scale"}},
   {"name": "native_div", "doc": "amax kept as (N, 1) and a division (what the _C kernel computes)",
    "vars": dict(FP8V, FLOOR="float"), "conditions": QCOND + ["FLOOR == 1/(FMAX*512)"], "tolerance": tol_aiter,
    "nodes": [n("ay", "aten.abs.default", ["%y"]), n("am", "aten.amax.default", ["%ay", [-1], True]),
              n("amf", CONV, ["%am", F32]), n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]),
              n("scale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]), n("yq", "aten.div.Tensor", ["%y", "%scale"]),
              n("qc", "aten.clamp.default", ["%yq", "$-FMAX", "$FMAX"]), n("q", CONV, ["%qc", {"dtype": "$FP8"}])],
    "outputs": {"q": "q", "scale": "scale"}},
   {"name": "af_v1", "captures": {"buf": "FP8 [N, H]", "sbuf": "float32 [N, 1]"}, "tolerance": tol_aiter,
    "nodes": [af("af", "_C.dynamic_per_token_scaled_fp8_quant.default",
                 {"result": "%buf", "input": "%y", "scale": "%sbuf", "scale_ub": None}),
              gi("q", "af", 1), gi("scale", "af", 2)], "root": "af", "outputs": {"q": "q", "scale": "scale"}},
   {"name": "af_v2", "captures": {"buf": "FP8 [N, H]", "sbuf": "float32 [N, 1]"}, "tolerance": tol_aiter,
    "nodes": [af2("af", "_C.dynamic_per_token_scaled_fp8_quant.default",
                  {"input": "%y", "scale_ub": None, "_result_base_index": 0, "_scale_base_index": 1,
                   "_all_bases": ["%buf", "%sbuf"]}),
              gi("q", "af", 1), gi("scale", "af", 2)], "root": "af", "outputs": {"q": "q", "scale": "scale"}},
   {"name": "rocm_aiter", "tolerance": tol_cuda,
    "nodes": [n("f", "vllm.rocm_aiter_per_token_quant.default", ["%y", {"dtype": "$FP8"}]), gi("q", "f", 0),
              gi("scale", "f", 1)], "root": "f", "outputs": {"q": "q", "scale": "scale"}}]}
fragments["group_quant"] = {
  "doc": "dynamic per-group FP8 quant, G columns a group: scale = max(amax / FMAX, 1/(FMAX*512)) per (row, group), "
         "q = fp8(clamp(y / scale)) (_quantize_group_native divides)",
  "inputs": ["y"], "outputs": ["q", "scale"],
  "spellings": [
   {"name": "native", "vars": dict(FP8V, FLOOR="float", COLMAJOR={"type": "bool", "value": False}),
    "conditions": QCOND + ["FLOOR == 1/(FMAX*512)"],
    "nodes": [n("groups", "aten.reshape.default", ["%y", ["$N", "$H//G", "$G"]]), n("ay", "aten.abs.default", ["%groups"]),
              n("am", "aten.amax.default", ["%ay", [-1], True]), n("amf", CONV, ["%am", F32]),
              n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]), n("gscale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]),
              n("yq", "aten.div.Tensor", ["%groups", "%gscale"]), n("qc", "aten.clamp.default", ["%yq", "$-FMAX", "$FMAX"]),
              n("q8", CONV, ["%qc", {"dtype": "$FP8"}]), n("q", "aten.reshape.default", ["%q8", ["$N", "$H"]]),
              n("scale", "aten.squeeze.dim", ["%gscale", -1])], "root": "q8", "outputs": {"q": "q", "scale": "scale"}},
   {"name": "af_v1", "doc": "auto_functionalized(_C.per_token_group_fp8_quant), scales row- or column-major (the dummy flag)",
    "captures": {"qbuf": "FP8 [N, H]", "sbuf": "float32 [N, H//G]"},
    "vars": dict(FP8V, GEPS="float", COLMAJOR="bool", TMA="bool", UE8M0="bool"), "conditions": QCOND,
    "reject": "its scale floor is inconsistent with the fused kernels': it floors amax at eps (1e-10) where "
              "_C.rms_norm_per_block_quant / the AITER ops floor the scale at 1/(FMAX*512), so every group whose amax "
              "is below 1/512 gets other scales and codes (vLLM fuses it anyway; fxopt does not change results)",
    "nodes": [af("af", "_C.per_token_group_fp8_quant.default",
                 {"input": "%y", "output_q": "%qbuf", "output_s": "%sbuf", "group_size": "$G", "eps": "$GEPS",
                  "fp8_min": "$-FMAX", "fp8_max": "$FMAX", "scale_ue8m0": "$UE8M0", "dummy_is_scale_transposed": "$COLMAJOR",
                  "dummy_is_tma_aligned": "$TMA"}),
              gi("q", "af", 1), gi("scale", "af", 2)], "root": "af", "outputs": {"q": "q", "scale": "scale"}},
   {"name": "rocm_aiter", "vars": {"COLMAJOR": {"type": "bool", "value": False}},
    "nodes": [n("f", "vllm.rocm_aiter_group_fp8_quant.default", ["%y", "$G"]), dict(gi("q", "f", 0), val="FP8 [N, H]"), gi("scale", "f", 1)],
    "root": "f", "outputs": {"q": "q", "scale": "scale"}}]}

OUT_TYPES = {"rms_norm": {"out": "MD [N, H]"}, "add_rms_norm": {"out": "MD [N, H]", "residual": "MD [N, H]"},
             "static_quant": {"q": "FP8 [N, H]"}, "per_token_quant": {"q": "FP8 [N, H]", "scale": "float32 [N, 1]"},
             "group_quant": {"q": "FP8 [N, H]", "scale": "float32 [N, H//G]"}}
for fname, types in OUT_TYPES.items():
    for sp in fragments[fname]["spellings"]:
        for out, node in sp["outputs"].items():
            for nd in sp["nodes"]:
                if nd["name"] == node and "val" not in nd:
                    nd["val"] = types[out]
def empty(name, shape, dtype):
    return n(name, "aten.empty.memory_format", [shape],
             {"dtype": {"dtype": dtype}, "layout": {"layout": "strided"}, "device": {"device": "$"}, "pin_memory": False},
             val=(dtype if not dtype.startswith("$") else dtype[1:]) + " [" + ", ".join(s if isinstance(s, str) else str(s) for s in [x[1:] if isinstance(x, str) else x for x in shape]) + "]")
def af_rep(name, op, kwargs, vals):
    return n(name, "higher_order.auto_functionalized", [{"op": op}], kwargs, val=vals)
def gi_rep(name, src, i, val):
    return n(name, "_operator.getitem", ["%" + src, i], val=val)
Q = "FP8 [N, H]"
VARS = {"N": "sym", "H": "int", "eps": "float", "FP8": {"type": "dtype", "one_of": ["float8_e4m3fn", "float8_e4m3fnuz"]},
        "MD": {"type": "dtype", "one_of": ["bfloat16"], "doc": "the model dtype: input, weight and residual share it (vLLM #44694, #48330)"}}
GVARS = dict(VARS, G={"type": "int", "one_of": [64, 128], "doc": "the quant group size (vLLM's kernels: 64 or 128)"})
X = {"x": "MD [N, H]", "w": "MD [H]"}
XR = {"x": "MD [N, H]", "res": "MD [N, H]", "w": "MD [H]"}
def diag(*lines): return list(lines)
patterns = []
# 1. RMSNorm -> static FP8
patterns.append({
 "name": "rms_norm_static_fp8_quant",
 "description": "RMSNorm (vLLM order) then static per-tensor FP8 quant (scale given)",
 "diagram": diag("  x (N, H) bf16    w (H) bf16      scale (1, 1) f32",
                 "  y = @rms_norm(x, w)                    native | vllm_ir | AF(_C.rms_norm) v1/v2 | rocm_aiter",
                 "  q = @static_quant(y, scale)  (N, H) FP8    native | AF(_C.static_scaled_fp8_quant) v1/v2",
                 "  => cuda: AF(_C.rms_norm_static_fp8_quant, result=empty, input=x, weight=w, scale, epsilon)[1]",
                 "  => rocm-aiter: no fused op yet (the pattern is reported as skipped)"),
 "benefit": 11, "vars": VARS, "inputs": dict(X, scale="float32 [1, 1]"),
 "nodes": [{"name": "norm", "op": "@rms_norm", "args": ["%x", "%w"]},
           {"name": "quant", "op": "@static_quant", "args": ["%norm", "%scale"]}],
 "outputs": {"q": "quant.q"}, "root": "quant",
 "targets": [{"name": "cuda", "fused_op": "_C.rms_norm_static_fp8_quant.default", "replacement": {
   "nodes": [empty("result", ["$N", "$H"], "$FP8"),
             af_rep("fused", "_C.rms_norm_static_fp8_quant.default",
                    {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale", "epsilon": "$eps"}, [None, Q]),
             gi_rep("q_fused", "fused", 1, Q)], "outputs": {"q": "q_fused"}}}]})
patterns.append({
 "name": "fused_add_rms_norm_static_fp8_quant",
 "description": "fused-add RMSNorm (residual sum is a second output) then static per-tensor FP8 quant",
 "diagram": diag("  x, res (N, H) bf16   w (H) bf16   scale (1, 1) f32",
                 "  y, residual = @add_rms_norm(x, res, w)   native | vllm_ir | AF(_C.fused_add_rms_norm) v1/v2 | rocm_aiter",
                 "  q = @static_quant(y, scale)",
                 "  => cuda: AF(_C.fused_add_rms_norm_static_fp8_quant, result=empty, input=x, residual=res, weight=w, scale, epsilon) -> [1], [2]"),
 "benefit": 13, "vars": VARS, "inputs": dict(XR, scale="float32 [1, 1]"),
 "nodes": [{"name": "norm", "op": "@add_rms_norm", "args": ["%x", "%res", "%w"]},
           {"name": "quant", "op": "@static_quant", "args": ["%norm", "%scale"]}],
 "outputs": {"q": "quant.q", "residual": "norm.residual"}, "root": "quant",
 "targets": [{"name": "cuda", "fused_op": "_C.fused_add_rms_norm_static_fp8_quant.default", "replacement": {
   "nodes": [empty("result", ["$N", "$H"], "$FP8"),
             af_rep("fused", "_C.fused_add_rms_norm_static_fp8_quant.default",
                    {"result": "%result", "input": "%x", "residual": "%res", "weight": "%w", "scale": "%scale",
                     "epsilon": "$eps"}, [None, Q, "bfloat16 [N, H]"]),
             gi_rep("q_fused", "fused", 1, Q), gi_rep("residual_fused", "fused", 2, "bfloat16 [N, H]")],
   "outputs": {"q": "q_fused", "residual": "residual_fused"}}}]})
S1 = "float32 [N, 1]"
patterns.append({
 "name": "rms_norm_per_token_fp8_quant",
 "description": "RMSNorm (vLLM order) then dynamic per-token FP8 quant",
 "diagram": diag("  x (N, H) bf16    w (H) bf16",
                 "  y = @rms_norm(x, w)",
                 "  q (N, H) FP8, scale (N, 1) f32 = @per_token_quant(y)   native | native_div | AF(_C.dynamic_per_token_scaled_fp8_quant) v1/v2 | rocm_aiter",
                 "  => cuda: AF(_C.rms_norm_dynamic_per_token_quant, result=empty, input=x, weight=w, scale=empty(N,1), epsilon, scale_ub=None, residual=None) -> [1], [2]",
                 "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fused_dynamic_quant(x, w, eps, FP8) -> [0], [1]"),
 "benefit": 11, "vars": VARS, "inputs": X,
 "nodes": [{"name": "norm", "op": "@rms_norm", "args": ["%x", "%w"]},
           {"name": "quant", "op": "@per_token_quant", "args": ["%norm"]}],
 "outputs": {"q": "quant.q", "scale": "quant.scale"}, "root": "quant",
 "targets": [
  {"name": "cuda", "fused_op": "_C.rms_norm_dynamic_per_token_quant.default", "replacement": {
   "nodes": [empty("result", ["$N", "$H"], "$FP8"), empty("scale_buf", ["$N", 1], "float32"),
             af_rep("fused", "_C.rms_norm_dynamic_per_token_quant.default",
                    {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf", "epsilon": "$eps",
                     "scale_ub": None, "residual": None}, [None, Q, S1, None]),
             gi_rep("q_fused", "fused", 1, Q), gi_rep("scale_fused", "fused", 2, S1)],
   "outputs": {"q": "q_fused", "scale": "scale_fused"}}},
  {"name": "aiter", "fused_op": "vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", "replacement": {
   "nodes": [n("fused", "vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", ["%x", "%w", "$eps", {"dtype": "$FP8"}],
               val=[Q, S1]),
             gi_rep("q_fused", "fused", 0, Q), gi_rep("scale_fused", "fused", 1, S1)],
   "outputs": {"q": "q_fused", "scale": "scale_fused"}}}]})
patterns.append({
 "name": "fused_add_rms_norm_per_token_fp8_quant",
 "description": "fused-add RMSNorm then dynamic per-token FP8 quant",
 "diagram": diag("  y, residual = @add_rms_norm(x, res, w)",
                 "  q, scale = @per_token_quant(y)",
                 "  => cuda: AF(_C.rms_norm_dynamic_per_token_quant, ..., residual=res) -> q [1], residual [3], scale [2]",
                 "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant(x, res, w, eps, FP8) -> (q, residual, scale)"),
 "benefit": 13, "vars": VARS, "inputs": XR,
 "nodes": [{"name": "norm", "op": "@add_rms_norm", "args": ["%x", "%res", "%w"]},
           {"name": "quant", "op": "@per_token_quant", "args": ["%norm"]}],
 "outputs": {"q": "quant.q", "residual": "norm.residual", "scale": "quant.scale"}, "root": "quant",
 "targets": [
  {"name": "cuda", "fused_op": "_C.rms_norm_dynamic_per_token_quant.default", "replacement": {
   "nodes": [empty("result", ["$N", "$H"], "$FP8"), empty("scale_buf", ["$N", 1], "float32"),
             af_rep("fused", "_C.rms_norm_dynamic_per_token_quant.default",
                    {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf", "epsilon": "$eps",
                     "scale_ub": None, "residual": "%res"}, [None, Q, S1, "bfloat16 [N, H]"]),
             gi_rep("q_fused", "fused", 1, Q), gi_rep("scale_fused", "fused", 2, S1),
             gi_rep("residual_fused", "fused", 3, "bfloat16 [N, H]")],
   "outputs": {"q": "q_fused", "residual": "residual_fused", "scale": "scale_fused"}}},
  {"name": "aiter", "fused_op": "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default", "replacement": {
   "nodes": [n("fused", "vllm.rocm_aiter_rmsnorm_fused_add_dynamic_quant.default",
               ["%x", "%res", "%w", "$eps", {"dtype": "$FP8"}], val=[Q, "bfloat16 [N, H]", S1]),
             gi_rep("q_fused", "fused", 0, Q), gi_rep("residual_fused", "fused", 1, "bfloat16 [N, H]"),
             gi_rep("scale_fused", "fused", 2, S1)],
   "outputs": {"q": "q_fused", "residual": "residual_fused", "scale": "scale_fused"}}}]})
SG = "float32 [N, H//G]"
def group_targets(residual):
    ins = {"result": "%result", "input": "%x", "weight": "%w", "scale": "%scale_buf", "epsilon": "$eps",
           "scale_ub": None, "residual": "%res" if residual else None, "group_size": "$G",
           "is_scale_transposed": "$COLMAJOR"}
    vals = [None, Q, SG, "bfloat16 [N, H]" if residual else None]
    outs_c = {"q": "q_fused", "scale": "scale_fused"}
    gets = [gi_rep("q_fused", "fused", 1, Q), gi_rep("scale_fused", "fused", 2, SG)]
    if residual:
        gets.append(gi_rep("residual_fused", "fused", 3, "bfloat16 [N, H]"))
        outs_c["residual"] = "residual_fused"
    row = {"name": "cuda", "fused_op": "_C.rms_norm_per_block_quant.default", 
           "replacement": {"nodes": [empty("result", ["$N", "$H"], "$FP8"), empty("scale_buf", ["$N", "$H//G"], "float32"),
                                     af_rep("fused", "_C.rms_norm_per_block_quant.default", ins, vals)] + gets,
                           "outputs": outs_c}}
    col = {"name": "cuda_colmajor", "fused_op": "_C.rms_norm_per_block_quant.default", "conditions": ["COLMAJOR == 1"],
           "replacement": {"nodes": [empty("result", ["$N", "$H"], "$FP8"), empty("scale_t", ["$H//G", "$N"], "float32"),
                                     n("scale_buf", "aten.permute.default", ["%scale_t", [1, 0]], val=SG),
                                     af_rep("fused", "_C.rms_norm_per_block_quant.default", ins, vals)] + gets,
                           "outputs": outs_c}}
    if residual:
        aiter = {"name": "aiter", "fused_op": "vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default",
                 "replacement": {"nodes": [n("fused", "vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant.default",
                                             ["%x", "%res", "%w", "$eps", "$G"], val=[Q, "bfloat16 [N, H]", SG]),
                                           gi_rep("q_fused", "fused", 0, Q), gi_rep("residual_fused", "fused", 1, "bfloat16 [N, H]"),
                                           gi_rep("scale_fused", "fused", 2, SG)],
                                 "outputs": {"q": "q_fused", "residual": "residual_fused", "scale": "scale_fused"}}}
    else:
        aiter = {"name": "aiter", "fused_op": "vllm.rocm_aiter_rmsnorm_fp8_group_quant.default",
                 "replacement": {"nodes": [n("fused", "vllm.rocm_aiter_rmsnorm_fp8_group_quant.default",
                                             ["%x", "%w", "$eps", "$G"], val=[Q, SG]),
                                           gi_rep("q_fused", "fused", 0, Q), gi_rep("scale_fused", "fused", 1, SG)],
                                 "outputs": {"q": "q_fused", "scale": "scale_fused"}}}
    # Column-major scales (`col`) need the opaque group quant's dummy flag, and that spelling is a look-alike
    # (its scale floor differs), so only row-major scales are emitted.
    return [row, aiter]
patterns.append({
 "name": "rms_norm_group_fp8_quant",
 "description": "RMSNorm (vLLM order) then dynamic per-group FP8 quant, G in {64, 128}, row- or column-major scales",
 "diagram": diag("  y = @rms_norm(x, w)",
                 "  q (N, H) FP8, scale (N, H/G) f32 = @group_quant(y)   native | AF(_C.per_token_group_fp8_quant) | rocm_aiter",
                 "  => cuda: AF(_C.rms_norm_per_block_quant, result, input=x, weight=w, scale=empty(N, H/G), epsilon, None, None, G, is_scale_transposed=False)",
                 "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_fp8_group_quant(x, w, eps, G) (row-major scales)"),
 "benefit": 11, "vars": GVARS, "inputs": X,
 "nodes": [{"name": "norm", "op": "@rms_norm", "args": ["%x", "%w"]},
           {"name": "quant", "op": "@group_quant", "args": ["%norm"]}],
 "outputs": {"q": "quant.q", "scale": "quant.scale"}, "root": "quant", "conditions": ["H % G == 0"],
 "targets": group_targets(False)})
patterns.append({
 "name": "fused_add_rms_norm_group_fp8_quant",
 "description": "fused-add RMSNorm then dynamic per-group FP8 quant (the most frequent site of block-FP8 models)",
 "diagram": diag("  y, residual = @add_rms_norm(x, res, w)",
                 "  q, scale = @group_quant(y)",
                 "  => cuda: AF(_C.rms_norm_per_block_quant, ..., residual=res, G, is_scale_transposed) -> q [1], residual [3], scale [2]",
                 "  => rocm-aiter: vllm.rocm_aiter_rmsnorm_with_add_fp8_group_quant(x, res, w, eps, G) -> (q, residual, scale)"),
 "benefit": 13, "vars": GVARS, "inputs": XR,
 "nodes": [{"name": "norm", "op": "@add_rms_norm", "args": ["%x", "%res", "%w"]},
           {"name": "quant", "op": "@group_quant", "args": ["%norm"]}],
 "outputs": {"q": "quant.q", "residual": "norm.residual", "scale": "quant.scale"}, "root": "quant",
 "conditions": ["H % G == 0"], "targets": group_targets(True)})
doc = {"format": "fxopt-patterns", "version": 1,
       "description": "The vLLM RMSNorm (+ residual) -> FP8 quant family (static, per-token, per-group 64/128) for the "
                      "cuda (_C ops, auto_functionalized) and rocm-aiter targets. Spellings are fragments written once "
                      "(docs/patterns.md, Fragments); rounding order as vLLM (normed value rounded to the model dtype "
                      "before the weight multiply). CPU reference: runtime/cpu/rms_norm_quant.cpp.",
       "fragments": fragments, "patterns": patterns}
import os
def fmt(v, ind=0):
    sp=' '*ind
    if isinstance(v, dict):
        if 'op' in v or all(not isinstance(x,(dict,list)) for x in v.values()) or len(json.dumps(v))<100:
            return json.dumps(v)
        items=[sp+' '+json.dumps(k)+': '+fmt(x, ind+1) for k,x in v.items()]
        return '{\n'+',\n'.join(items)+'\n'+sp+'}'
    if isinstance(v, list):
        if all(isinstance(x,str) for x in v) and any(len(x)>40 for x in v):
            return '[\n'+',\n'.join(sp+'  '+json.dumps(x) for x in v)+'\n'+sp+']'
        if len(json.dumps(v))<100 and not any(isinstance(x,dict) and 'op' in x for x in v):
            return json.dumps(v)
        return '[\n'+',\n'.join(sp+'  '+fmt(x, ind+2) for x in v)+'\n'+sp+']'
    return json.dumps(v)
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'patterns', 'rms_norm_quant.json'), 'w').write(fmt(doc)+'\n')

