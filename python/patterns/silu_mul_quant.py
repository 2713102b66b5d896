"""The vLLM SiLU-and-mul -> FP8 quant family (ActivationQuantFusionPass, the AITER act-mul pass) in Python: the
built-in patterns/silu_mul_quant.json.

One new fragment, `silu_and_mul` (SiluAndMul.forward_native: silu of the first half of the last dim times the second
half, as post-grad graphs spell it, and the custom op `_C.silu_and_mul` in auto_functionalized v1/v2 form); the
quant halves are the `static_quant` and `group_quant` fragments of the RMSNorm family (python/patterns/
rms_norm_quant.py, patterns/rms_norm_quant.json), called by name. tests/golden/silu_mul_quant/make_patterns.py
writes the built-in file from these definitions and hand-written native spellings.
"""
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the data parts are torch-free (make_patterns.py); tracing needs torch
    torch = F = None

from fxopt.family import Family, Fragment, auto_functionalized as af, empty, getitem as gi, node as n
from fxopt.pattern_doc import dtype_var, int_var, sym_dim

from rms_norm_quant import GVARS, Q, SG, aiter_target, cuda_target, group_quant, static_quant

# The example values the native spellings are traced with.
EXAMPLES = {"N": sym_dim(8), "H": int_var(256), "G": int_var(128), "FMAX": 448.0, "FLOOR": 1 / (448.0 * 512),
            "FP8": dtype_var("float8_e4m3fn", "float8_e4m3fnuz"), "MD": dtype_var("bfloat16")}
HALF = "MD [N, H]"
# The slice spellings: dim 1 or -1 of the 2-d input (the same dim), and the second half's end written as INT64_MAX
# (what make_fx records for `x[..., d:]`) or as any value at least 2*H (slicing clamps the end to the size).
SLICE_VARS = {"SD": {"type": "int", "one_of": [1, -1], "doc": "the slices' dim: the last of the 2-d input"},
              "END": {"type": "int", "doc": "the second slice's end: INT64_MAX or any value >= 2*H"}}
SLICE_COND = ["END >= 2*H"]

# ---------------------------------------------------------------------------------------------------------
# Fragment

silu_and_mul = Fragment(
    "silu_and_mul", {"x": "MD [N, 2*H]"}, {"out": HALF},
    "vLLM's SiluAndMul: silu of the first half of the last dim (float32, x / (1 + exp(-x)), rounded to the model "
    "dtype) times the second half (a model-dtype multiply): out = bf16(bf16(silu(float(x[:, :H]))) * x[:, H:])")


@silu_and_mul.spelling("native", doc="SiluAndMul.forward_native as torch.compile decomposes it (float32 silu, "
                                     "normalised from x / (1 + exp(-x)))", vars=SLICE_VARS, conditions=SLICE_COND)
def silu_and_mul_native(x):
    d = x.shape[-1] // 2
    return F.silu(x[..., :d]) * x[..., d:]


silu_and_mul.spelling(
    "silu_bf16", doc="aten.silu on the model dtype (computed in float32, rounded once: the same values)",
    vars=SLICE_VARS, conditions=SLICE_COND,
    nodes=[n("g", "aten.slice.Tensor", ["%x", "$SD", 0, "$H"]), n("sl", "aten.silu.default", ["%g"]),
           n("u", "aten.slice.Tensor", ["%x", "$SD", "$H", "$END"]), n("out", "aten.mul.Tensor", ["%sl", "%u"])])
silu_and_mul.spelling("af_v1", doc="auto_functionalized(_C.silu_and_mul) writing an empty result buffer",
                      captures={"buf": HALF},
                      nodes=[af("af", "_C.silu_and_mul.default", {"result": "%buf", "input": "%x"}), gi("out", "af", 1)])
silu_and_mul.spelling("af_v2", captures={"buf": HALF},
                      nodes=[af("af", "_C.silu_and_mul.default",
                                {"input": "%x", "_result_base_index": 0, "_all_bases": ["%buf"]}, v2=True),
                             gi("out", "af", 1)])

FRAGMENTS = [silu_and_mul]

# ---------------------------------------------------------------------------------------------------------
# Families: the quant halves are the RMSNorm family's fragments

VARS = {"N": "sym", "H": "int", "FP8": {"type": "dtype", "one_of": ["float8_e4m3fn", "float8_e4m3fnuz"]},
        "MD": {"type": "dtype", "one_of": ["bfloat16"], "doc": "the model dtype of the activation"}}
SVARS = dict(VARS, G=GVARS["G"])
X = {"x": "MD [N, 2*H]"}


def silu_mul_static_fp8_quant(x, scale):
    act = silu_and_mul(x)
    quant = static_quant(act, scale)
    return {"q": quant.q}


def silu_mul_group_fp8_quant(x):
    act = silu_and_mul(x)
    quant = group_quant(act)
    return {"q": quant.q, "scale": quant.scale}


FAMILIES = [
    Family(silu_mul_static_fp8_quant, dict(X, scale="float32 [1, 1]"), VARS, root="quant", benefit=11,
           description="SiLU-and-mul then static per-tensor FP8 quant (scale given): the MLP's down_proj input in "
                       "FP8 static checkpoints (Llama-3.x FP8)",
           diagram=["  x (N, 2H) bf16      scale (1, 1) f32",
                    "  y = @silu_and_mul(x)    (N, H) bf16       native | silu_bf16 | AF(_C.silu_and_mul) v1/v2",
                    "  q = @static_quant(y, scale)  (N, H) FP8   native | AF(_C.static_scaled_fp8_quant) v1/v2",
                    "  => cuda: AF(_C.silu_and_mul_quant, result=empty(N, H), input=x, scale)[1]",
                    "  => rocm-aiter: no fused op (the pattern is reported as skipped)"],
           targets=[cuda_target("_C.silu_and_mul_quant.default",
                                {"result": "%result", "input": "%x", "scale": "%scale"}, [None, Q], {"q": (1, Q)})]),
    Family(silu_mul_group_fp8_quant, X, SVARS, root="quant", benefit=11, conditions=["H % G == 0"],
           description="SiLU-and-mul then dynamic per-group FP8 quant, G in {64, 128} (block-FP8 models: Qwen3, "
                       "DeepSeek-V3)",
           diagram=["  x (N, 2H) bf16",
                    "  y = @silu_and_mul(x)",
                    "  q (N, H) FP8, scale (N, H/G) f32 = @group_quant(y)   native | AF(_C.per_token_group_fp8_quant) "
                    "| rocm_aiter",
                    "  => cuda: AF(_C.silu_and_mul_per_block_quant, out=empty(N, H), input=x, scales=empty(N, H/G), G, "
                    "scale_ub=None, is_scale_transposed=False) -> [1], [2]",
                    "  => rocm-aiter: vllm.rocm_aiter_act_mul_and_fp8_group_quant(x, G) -> (q, scale)"],
           targets=[cuda_target("_C.silu_and_mul_per_block_quant.default",
                                {"out": "%result", "input": "%x", "scales": "%scale_buf", "group_size": "$G",
                                 "scale_ub": None, "is_scale_transposed": "$COLMAJOR"},
                                [None, Q, SG], {"q": (1, Q), "scale": (2, SG)},
                                [empty("scale_buf", ["$N", "$H//G"], "float32")]),
                    aiter_target("vllm.rocm_aiter_act_mul_and_fp8_group_quant.default", ["%x", "$G"],
                                 {"q": Q, "scale": SG})]),
]
DESCRIPTION = ("The vLLM SiLU-and-mul -> FP8 quant family (static per-tensor, per-group 64/128) for the cuda (_C ops, "
               "auto_functionalized) and rocm-aiter targets, re-authored in Python (python/patterns/silu_mul_quant.py)")
