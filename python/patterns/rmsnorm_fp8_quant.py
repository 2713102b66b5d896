"""The RMSNorm -> FP8 quantisation family re-authored in Python (the built-in patterns/rmsnorm_fp8_quant.json): gated RMSNorm + group quant (decomposed and opaque quant), RMSNorm + per-token dynamic quant.

The search functions are written like vLLM's forward_native (RMSNormGated, RMSNorm, QuantFP8 per group /
per token); `python -m fxopt.pattern rmsnorm_fp8_quant -o F.json --path python/patterns` traces them
(python/tests/test_pattern_trace.py checks that the result matches exactly what the hand-written file does).
"""
import contextlib

import torch
import torch.nn.functional as F

import fxopt
import fxopt.ops
from fxopt.pattern import FusedOp, Pattern, dtype_var, int_var

fxopt.register_ops()  # the vLLM ops (reference implementations with fake kernels) the patterns call

FP8S = ("float8_e4m3fn", "float8_e4m3fnuz")
# Example values the functions are traced with: any valid ones (the float scalars become variables).
DIMS = {"N": 6, "H": int_var(4), "D": int_var(256)}
SCALARS = {"G": int_var(value=128, doc="the quant group size of the kernel"), "eps": 1e-6, "FMAX": 448.0,
           "FLOOR": 1 / (448.0 * 512), "FP8": dtype_var(*FP8S)}
GATED_INPUTS = {"x": "bfloat16 [N*H, D]", "w": "bfloat16 [D]", "z": "bfloat16 [N*H, D]"}


@contextlib.contextmanager
def fp8_format(dtype):
    """The fp8 format the vLLM ops (reference implementations) produce, for one call (restored after)."""
    saved = fxopt.ops._fp8_override
    fxopt.ops.set_fp8_dtype(dtype)
    try:
        yield
    finally:
        fxopt.ops.set_fp8_dtype(saved)


def _gated_rms_norm(x, w, z, eps):
    # RMSNormGated.forward_native (norm_before_gate=True, activation silu), per head: x is (tokens*heads, D).
    xf = x.to(torch.float32)
    variance = xf.pow(2).mean(-1, keepdim=True)
    xf = xf * torch.rsqrt(variance + eps)
    y = xf * w.to(torch.float32)
    y = y * F.silu(z.to(torch.float32))
    return y.to(torch.bfloat16)


def rms_gated_fp8_group_quant(x, w, z, eps, N, H, D, G, FMAX, FLOOR, FP8):
    y = _gated_rms_norm(x, w, z, eps)
    # Heads back to rows (N tokens of H*D), then QuantFP8 per group of G columns (dynamic scales).
    groups = y.reshape(N, H * D // G, G)
    gscale = groups.abs().amax(-1, keepdim=True).to(torch.float32) / FMAX
    gscale = gscale.clamp(min=FLOOR)
    q8 = (groups / gscale).clamp(-FMAX, FMAX).to(FP8)
    q = q8.reshape(N, H * D)
    scale = gscale.squeeze(-1)
    return q, scale


def rms_gated_fp8_group_quant_opaque(x, w, z, eps, N, H, D, G, FP8):
    y = _gated_rms_norm(x, w, z, eps)
    rows = y.reshape(N, H * D)
    with fp8_format(FP8):  # the format the opaque op produces
        quant = torch.ops.vllm.rocm_aiter_group_fp8_quant(rows, G)
    q = quant[0]
    scale = quant[1]
    return q, scale


def fused_rms_gated_fp8_group_quant(x, w, z, eps, N, H, D, G, FP8):
    with fp8_format(FP8):
        q_rows, scale_rows = torch.ops.vllm.rocm_aiter_fused_rms_gated_fp8_group_quant(x, w, None, z, eps, True,
                                                                                        "silu", G)
    return q_rows.reshape(N, H * D), scale_rows.reshape(N, H * D // G)


def rmsnorm_fp8_dynamic_quant(x, w, eps, FMAX, FLOOR, FP8):
    # RMSNorm.forward_native, then QuantFP8 per token (one dynamic scale per row).
    xf = x.to(torch.float32)
    variance = xf.pow(2).mean(-1, keepdim=True)
    xf = xf * torch.rsqrt(variance + eps)
    y = (xf * w.to(torch.float32)).to(torch.bfloat16)
    scale = y.abs().amax(-1, keepdim=True).to(torch.float32) / FMAX
    scale = scale.clamp(min=FLOOR)
    q = (y / scale).clamp(-FMAX, FMAX).to(FP8)
    return q, scale


# As the built-in pattern says (patterns/rmsnorm_fp8_quant.json): a look-alike, reported, never rewritten.
REJECT_PT_ORDER = ("PyTorch's F.rms_norm order (weight multiplied in float32, rounded once) with a dividing quant: "
                   "vLLM's fused per-token ops round the normed value to the model dtype before the weight multiply "
                   "(patterns/rms_norm_quant.json fuses that order); kept as a declared look-alike")

GATED_CONDITIONS = ["D % G == 0", "FMAX == fp8_max(FP8)", "FLOOR == 1/(FMAX*512)"]

PATTERNS = [
    Pattern("rms_gated_fp8_group_quant", rms_gated_fp8_group_quant, fused_rms_gated_fp8_group_quant, GATED_INPUTS,
            dict(sym_dims=DIMS, scalars=SCALARS, conditions=GATED_CONDITIONS, outputs=["q", "scale"], root="q8",
                 benefit=20, description="gated RMSNorm per head, heads back to rows, decomposed dynamic FP8 quant "
                                         "in groups of G (traced from python/patterns/rmsnorm_fp8_quant.py)")),
    Pattern("rms_gated_fp8_group_quant_opaque", rms_gated_fp8_group_quant_opaque, fused_rms_gated_fp8_group_quant,
            GATED_INPUTS,
            dict(sym_dims=DIMS, scalars={k: SCALARS[k] for k in ("G", "eps", "FP8")}, conditions=["D % G == 0"],
                 outputs=["q", "scale"], root="quant", benefit=20,
                 description="the same region with the quantisation as vLLM's opaque vllm.rocm_aiter_group_fp8_quant "
                             "op (traced from python/patterns/rmsnorm_fp8_quant.py)")),
    Pattern("rmsnorm_fp8_dynamic_quant", rmsnorm_fp8_dynamic_quant,
            FusedOp("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", ["%x", "%w", "$eps", {"dtype": "$FP8"}],
                    name="rmsnorm_fused_dynamic_quant"),
            {"x": "bfloat16 [M, D]", "w": "bfloat16 [D]"},
            dict(sym_dims={"M": 24, "D": int_var(256)},
                 scalars={k: SCALARS[k] for k in ("eps", "FMAX", "FLOOR", "FP8")},
                 conditions=["FMAX == fp8_max(FP8)", "FLOOR == 1/(FMAX*512)"], outputs=["q", "scale"], benefit=10,
                 reject=REJECT_PT_ORDER,
                 description="RMSNorm over the last dim, then dynamic FP8 quant with one scale per row (token) "
                             "(traced from python/patterns/rmsnorm_fp8_quant.py)")),
]
