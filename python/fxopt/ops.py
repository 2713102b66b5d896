"""Reference implementations of the fused vLLM ops fxopt emits, so a rewritten graph runs in plain PyTorch.

Registered as `torch.library` ops in the `vllm` namespace (the AITER ops, functional) and the `_C` namespace
(vLLM's CUDA ops of the RMSNorm + FP8, SiLU-and-mul + FP8 and QK-norm + RoPE families, mutating: `--target cuda`
emits them in auto_functionalized form),
with fake functions for tracing and Inductor, only where vLLM has not registered them already; import vLLM first
if it is to provide the real kernels. The math is fxopt's bit-exact definition (spec/fusion-rms-gated-fp8.md,
runtime/numerics.h): the normalised, gated value is rounded to the input dtype (bf16) before it is quantised,
exactly like the decomposed graph; the RMSNorm + FP8 family follows vLLM's order (the normed value rounded to
bf16 before the weight multiply; per-tensor and AITER per-token quant multiply by the reciprocal of the scale,
the _C per-token kernel and group quant divide); SiLU-and-mul rounds silu(gate) to bf16 before the multiply by
the up half, as SiluAndMul.forward_native's post-grad graph does; RoPE (_C.rotary_embedding, _C.fused_qk_norm_rope)
is RotaryEmbedding.forward_static's eager chain in the model dtype (each product, difference and sum rounded to bf16),
after vLLM's per-head RMSNorm for the fused op.

The fp8 dtype is not in the signatures (vLLM takes it from the platform): it is
`torch.float8_e4m3fnuz` on ROCm builds, else `torch.float8_e4m3fn`, and `set_fp8_dtype()` overrides it
(`fxopt.load()` does so from the fused node's meta.val, so the fnuz variant also runs on NVIDIA).

Two implementations of the same math: "eager" (plain ATen ops, any device) and "inductor" (the same
function compiled by Inductor). Inductor's kernels use approximate exp, a tree reduction for the
mean, etc., so only the "inductor" one is bit-identical to what `torch.compile` makes of the unfused graph;
see `set_impl()`.
"""
from __future__ import annotations

import contextlib
import threading
import types
from typing import Optional

import torch

NAMESPACE = "vllm"
FUSED_RMS_GATED = "rocm_aiter_fused_rms_gated_fp8_group_quant"
GROUP_QUANT = "rocm_aiter_group_fp8_quant"
RMSNORM_DYNAMIC_QUANT = "rocm_aiter_rmsnorm_fused_dynamic_quant"
# The RMSNorm (+ residual) -> FP8 family (patterns/rms_norm_quant.json): AITER ops (functional, `vllm`) ...
ADD_RMSNORM_DYNAMIC_QUANT = "rocm_aiter_rmsnorm_fused_add_dynamic_quant"
RMSNORM_GROUP_QUANT = "rocm_aiter_rmsnorm_fp8_group_quant"
ADD_RMSNORM_GROUP_QUANT = "rocm_aiter_rmsnorm_with_add_fp8_group_quant"
# ... and vLLM's _C ops (mutating; `Tensor!` arguments are written in place).
C_NAMESPACE = "_C"
C_RMS_STATIC = "rms_norm_static_fp8_quant"
C_ADD_RMS_STATIC = "fused_add_rms_norm_static_fp8_quant"
C_RMS_PER_TOKEN = "rms_norm_dynamic_per_token_quant"
C_RMS_PER_BLOCK = "rms_norm_per_block_quant"
# The unfused ops of the family's opaque spellings (custom ops on, vLLM IR), so a model written with them traces:
# vLLM's _C norms and quants (mutating) and the vllm_ir norms (functional).
C_RMS = "rms_norm"
C_ADD_RMS = "fused_add_rms_norm"
C_STATIC_QUANT = "static_scaled_fp8_quant"
C_PER_TOKEN_QUANT = "dynamic_per_token_scaled_fp8_quant"
# The SiLU-and-mul -> FP8 family (patterns/silu_mul_quant.json): the AITER op (functional, `vllm`), vLLM's fused _C
# ops and the unfused _C.silu_and_mul (mutating).
ACT_MUL_GROUP_QUANT = "rocm_aiter_act_mul_and_fp8_group_quant"
C_SILU_MUL = "silu_and_mul"
C_SILU_MUL_QUANT = "silu_and_mul_quant"
C_SILU_MUL_PER_BLOCK = "silu_and_mul_per_block_quant"
# The QK-norm + RoPE family (Qwen3 attention): the unfused _C.rotary_embedding and the fused _C.fused_qk_norm_rope
# (mutating).
C_ROTARY = "rotary_embedding"
C_QK_NORM_ROPE = "fused_qk_norm_rope"
IR_NAMESPACE = "vllm_ir"
IR_RMS = "rms_norm"
IR_ADD_RMS = "fused_add_rms_norm"

SCHEMAS = {
    FUSED_RMS_GATED: (f"{FUSED_RMS_GATED}(Tensor x, Tensor weight, Tensor? bias, Tensor z, float eps, "
                      "bool norm_before_gate, str activation, int group_size) -> (Tensor, Tensor)"),
    GROUP_QUANT: f"{GROUP_QUANT}(Tensor x, int group_size) -> (Tensor, Tensor)",
    RMSNORM_DYNAMIC_QUANT: (f"{RMSNORM_DYNAMIC_QUANT}(Tensor x, Tensor weight, float epsilon, "
                            "ScalarType quant_dtype) -> (Tensor, Tensor)"),
    ADD_RMSNORM_DYNAMIC_QUANT: (f"{ADD_RMSNORM_DYNAMIC_QUANT}(Tensor x, Tensor residual, Tensor weight, float epsilon, "
                                "ScalarType quant_dtype) -> (Tensor, Tensor, Tensor)"),
    RMSNORM_GROUP_QUANT: (f"{RMSNORM_GROUP_QUANT}(Tensor x, Tensor weight, float variance_epsilon, int group_size) "
                          "-> (Tensor, Tensor)"),
    ADD_RMSNORM_GROUP_QUANT: (f"{ADD_RMSNORM_GROUP_QUANT}(Tensor x, Tensor residual, Tensor weight, "
                              "float variance_epsilon, int group_size) -> (Tensor, Tensor, Tensor)"),
    ACT_MUL_GROUP_QUANT: f"{ACT_MUL_GROUP_QUANT}(Tensor x, int group_size) -> (Tensor, Tensor)",
}
# vLLM's _C schemas (csrc/torch_bindings.cpp), as runtime/cpu/rms_norm_quant.cpp, silu_mul_quant.cpp and
# qk_norm_rope.cpp run them (rotary_embedding: the newer schema, whose two added arguments default to the old behaviour).
C_SCHEMAS = {
    C_RMS_STATIC: f"{C_RMS_STATIC}(Tensor! result, Tensor input, Tensor weight, Tensor scale, float epsilon) -> ()",
    C_ADD_RMS_STATIC: (f"{C_ADD_RMS_STATIC}(Tensor! result, Tensor input, Tensor! residual, Tensor weight, "
                       "Tensor scale, float epsilon) -> ()"),
    C_RMS_PER_TOKEN: (f"{C_RMS_PER_TOKEN}(Tensor! result, Tensor input, Tensor weight, Tensor! scale, float epsilon, "
                      "Tensor? scale_ub, Tensor!? residual) -> ()"),
    C_RMS_PER_BLOCK: (f"{C_RMS_PER_BLOCK}(Tensor! result, Tensor input, Tensor weight, Tensor! scale, float epsilon, "
                      "Tensor? scale_ub, Tensor!? residual, int group_size, bool is_scale_transposed) -> ()"),
    C_RMS: f"{C_RMS}(Tensor! result, Tensor input, Tensor weight, float epsilon) -> ()",
    C_ADD_RMS: f"{C_ADD_RMS}(Tensor! input, Tensor! residual, Tensor weight, float epsilon) -> ()",
    C_STATIC_QUANT: f"{C_STATIC_QUANT}(Tensor! result, Tensor input, Tensor scale, int[]? group_shape=None) -> ()",
    C_PER_TOKEN_QUANT: f"{C_PER_TOKEN_QUANT}(Tensor! result, Tensor input, Tensor! scale, Tensor? scale_ub) -> ()",
    C_SILU_MUL: f"{C_SILU_MUL}(Tensor! result, Tensor input) -> ()",
    C_SILU_MUL_QUANT: f"{C_SILU_MUL_QUANT}(Tensor! result, Tensor input, Tensor scale) -> ()",
    C_SILU_MUL_PER_BLOCK: (f"{C_SILU_MUL_PER_BLOCK}(Tensor! out, Tensor input, Tensor! scales, int group_size, "
                           "Tensor? scale_ub=None, bool is_scale_transposed=False) -> ()"),
    C_ROTARY: (f"{C_ROTARY}(Tensor positions, Tensor! query, Tensor!? key, int head_size, Tensor cos_sin_cache, "
               "bool is_neox, int rope_dim_offset=0, bool inverse=False) -> ()"),
    C_QK_NORM_ROPE: (f"{C_QK_NORM_ROPE}(Tensor! qkv, int num_heads_q, int num_heads_k, int num_heads_v, int head_dim, "
                     "float eps, Tensor q_weight, Tensor k_weight, Tensor cos_sin_cache, bool is_neox, "
                     "Tensor position_ids) -> ()"),
}
# vLLM IR's norms (vllm/ir/ops/layernorm.py), functional.
IR_SCHEMAS = {
    IR_RMS: f"{IR_RMS}(Tensor x, Tensor? weight, float epsilon, int? variance_size=None) -> Tensor",
    IR_ADD_RMS: (f"{IR_ADD_RMS}(Tensor x, Tensor x_residual, Tensor? weight, float epsilon, int? variance_size=None) "
                 "-> (Tensor, Tensor)"),
}
# Ops whose fp8 output dtype comes from the platform setting rather than from an argument.
PLATFORM_DTYPE_OPS = (FUSED_RMS_GATED, GROUP_QUANT, RMSNORM_GROUP_QUANT, ADD_RMSNORM_GROUP_QUANT, ACT_MUL_GROUP_QUANT)
# Target prefixes of the fused ops (a `_C` op appears as the operator argument of auto_functionalized).
FUSED_PREFIXES = (NAMESPACE + ".", C_NAMESPACE + ".")

# FMAX per fp8 format; vLLM uses 224 (not the format's 240) for e4m3fnuz.
_FMAX = {"float8_e4m3fn": 448.0, "float8_e4m3fnuz": 224.0}

_lock = threading.Lock()
_lib: Optional[torch.library.Library] = None
_c_lib: Optional[torch.library.Library] = None
_ir_lib: Optional[torch.library.Library] = None
_owner: dict[str, str] = {}          # op name -> "fxopt" | "vllm"
_fp8_override: Optional[torch.dtype] = None
_impl = "eager"


def platform_fp8_dtype() -> torch.dtype:
    return torch.float8_e4m3fnuz if getattr(torch.version, "hip", None) else torch.float8_e4m3fn


def fp8_dtype() -> torch.dtype:
    """The fp8 dtype the platform-dtype ops produce now."""
    return _fp8_override if _fp8_override is not None else platform_fp8_dtype()


def set_fp8_dtype(dtype: Optional[torch.dtype]) -> None:
    """Overrides the platform fp8 dtype (None restores the platform default)."""
    global _fp8_override
    if dtype is not None:
        fp8_max(dtype)  # refuses formats the ops do not implement
    _fp8_override = dtype


def fp8_max(dtype: torch.dtype) -> float:
    name = str(dtype).replace("torch.", "")
    if name not in _FMAX:
        raise ValueError(f"fxopt reference ops: unsupported fp8 dtype {dtype} (have {sorted(_FMAX)})")
    return _FMAX[name]


def set_impl(impl: str) -> None:
    """'eager' (default): plain ATen ops. 'inductor': the same math compiled by Inductor (its kernels for
    the device), bit-identical to what torch.compile makes of the unfused graph on the same device."""
    global _impl
    if impl not in ("eager", "inductor"):
        raise ValueError(f"impl must be 'eager' or 'inductor', not {impl!r}")
    _impl = impl


def get_impl() -> str:
    return _impl


# ---- the math (one definition, used by both implementations) ----------------------------------------

def _quantize_groups(y: torch.Tensor, group_size: int, dtype: torch.dtype, fmax: float):
    """Dynamic fp8 quant of y (..., K) in groups of `group_size` consecutive columns -> (q, scale)."""
    k = y.shape[-1]
    yg = y.reshape(-1, k // group_size, group_size)
    amax = yg.abs().amax(-1, keepdim=True).float()                # exact, on the 16-bit values
    scale = (amax / fmax).clamp_min(1.0 / (fmax * 512.0))
    q = (yg / scale).clamp(-fmax, fmax).to(dtype)                  # y promotes to float32 here
    return q.reshape(y.shape), scale.reshape(*y.shape[:-1], k // group_size)


def _gated_rms_norm(x, weight, bias, z, eps: float, norm_before_gate: bool, activation: str):
    """y = bf16(rmsnorm(x) * w (+ b)) gated by silu(z) — the rounding to x.dtype is part of the definition."""
    if activation not in ("silu", "swish"):
        raise ValueError(f"{FUSED_RMS_GATED}: activation {activation!r} is not implemented (silu only)")
    xf = x.float()
    zf = z.float()
    gate = zf / (torch.exp(-zf) + 1)                               # silu, as Inductor decomposes it
    if not norm_before_gate:
        xf = xf * gate
    var = xf.pow(2).mean(-1, keepdim=True)
    n = (xf * torch.rsqrt(var + eps)) * weight.float()
    if bias is not None:
        n = n + bias.float()
    if norm_before_gate:
        n = n * gate
    return n.to(x.dtype)


def _fused_math(x, weight, bias, z, eps, norm_before_gate, activation, group_size, dtype, fmax):
    y = _gated_rms_norm(x, weight, bias, z, eps, norm_before_gate, activation)
    return _quantize_groups(y, group_size, dtype, fmax)


def _group_quant_math(x, group_size, dtype, fmax):
    return _quantize_groups(x, group_size, dtype, fmax)


# ---- the RMSNorm (+ residual) -> FP8 family (num::rms_norm_quant_ref) ----

def _vllm_rms_norm(x, residual, weight, eps: float):
    """vLLM's RMSNorm.forward_static: s = float(x) [+ residual], residual_out = s.to(x.dtype),
    y = (s * rsqrt(mean(s^2) + eps)).to(x.dtype) * weight: rounded to bf16 BEFORE the weight multiply."""
    s = x.float()
    if residual is not None:
        s = s + residual.float()
    res_out = s.to(x.dtype) if residual is not None else None
    y = (s * torch.rsqrt(s.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    if weight is not None:
        y = y * weight
    return y, res_out


def _quant_rows(y, scheme: str, dtype, fmax: float, *, scale=None, scale_ub=None, group: int = 0,
                divide: bool = False):
    """FP8 quant of y (M, D) in vLLM's native forms -> (q, scale or None). scheme "none": (y, None); "static":
    scale (1,1) given, q = y * (1/scale); "token": per-row scale (M, 1), multiply by its reciprocal, or divide
    (`divide`, the _C kernel); "group": scales (M, D/group), divide."""
    if scheme == "none":
        return y, None
    if scheme == "static":
        q = y.float() * scale.float().reciprocal()
        return q.clamp(-fmax, fmax).to(dtype), None
    floor = 1.0 / (fmax * 512.0)
    if scheme == "token":
        amax = y.abs().amax(-1, keepdim=True).float()                # exact, on the 16-bit values
        if scale_ub is not None:
            amax = torch.minimum(amax, scale_ub.float().reshape(()))
        s = (amax / fmax).clamp_min(floor)
        q = y.float() / s if divide else y.float() * s.reciprocal()
        return q.clamp(-fmax, fmax).to(dtype), s
    q, s = _quantize_groups(y, group, dtype, fmax)
    return q, s


def _rms_quant_math(x, residual, weight, eps, scheme, dtype, fmax, scale, scale_ub, group, divide, norm=True):
    """The family's reference: (q (y for scheme "none"), scale or None, residual_out or None); norm=False quantises x."""
    y, res_out = _vllm_rms_norm(x, residual, weight, eps) if norm else (x, None)
    q, s = _quant_rows(y, scheme, dtype, fmax, scale=scale, scale_ub=scale_ub, group=group, divide=divide)
    return q, s, res_out


def _rms_dynamic_math(x, weight, epsilon, dtype, fmax):
    q, s, _ = _rms_quant_math(x, None, weight, epsilon, "token", dtype, fmax, None, None, 0, False)
    return q, s


# ---- the SiLU-and-mul -> FP8 family (num::silu_mul_quant_ref) ----

def _silu_and_mul(x):
    """vLLM's SiluAndMul.forward_native as the post-grad graph computes it: silu of the gate half in float32
    (x / (1 + exp(-x))), rounded to x.dtype, then multiplied by the up half in x.dtype (rounded again)."""
    d = x.shape[-1] // 2
    g = x[..., :d].float()
    return (g / (torch.exp(-g) + 1)).to(x.dtype) * x[..., d:]


def _silu_mul_quant_math(x, scheme, dtype, fmax, scale, group):
    """The family's reference on rows x (M, 2D): (y (scheme "none") or q, scale or None), _quant_rows' schemes."""
    return _quant_rows(_silu_and_mul(x), scheme, dtype, fmax, scale=scale, group=group)


# ---- the QK-norm + RoPE family (num::rope_ref, num::qk_norm_rope_ref) ----

def _rope(x, positions, head_size: int, cos_sin_cache, is_neox: bool):
    """RotaryEmbedding.forward_static + ApplyRotaryEmb.forward_static on x (T tokens of heads of head_size) in
    x.dtype: cos/sin = the cache rows' halves converted to x.dtype; o1 = x1*cos - x2*sin, o2 = x2*cos + x1*sin,
    each op rounded (eager); neox halves or gptj even/odd pairs; the values past the cache's rotary_dim pass."""
    positions = positions.flatten()
    t = positions.shape[0]
    rot = cos_sin_cache.shape[-1]
    cos, sin = cos_sin_cache.index_select(0, positions).chunk(2, dim=-1)
    shape = x.shape
    x = x.reshape(t, -1, head_size)
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    cos = cos.unsqueeze(-2).to(x.dtype)
    sin = sin.unsqueeze(-2).to(x.dtype)
    if is_neox:
        x1, x2 = torch.chunk(x_rot, 2, dim=-1)
    else:
        x1, x2 = x_rot[..., ::2], x_rot[..., 1::2]
    o1 = x1 * cos - x2 * sin
    o2 = x2 * cos + x1 * sin
    out = torch.cat((o1, o2), dim=-1) if is_neox else torch.stack((o1, o2), dim=-1).flatten(-2)
    return torch.cat((out, x_pass), dim=-1).reshape(shape)


def _rotary_math(positions, query, key, head_size, cos_sin_cache, is_neox):
    q = _rope(query, positions, head_size, cos_sin_cache, is_neox)
    k = _rope(key, positions, head_size, cos_sin_cache, is_neox) if key is not None else None
    return q, k


def _qk_norm_rope_math(qkv, num_heads_q, num_heads_k, num_heads_v, head_dim, eps, q_weight, k_weight,
                       cos_sin_cache, is_neox, position_ids):
    """vLLM's QK norm (RMSNorm.forward_static per head of head_dim, weights (head_dim,)) then RoPE of q and k; v
    unchanged -> the new qkv."""
    q, k, v = qkv.split([num_heads_q * head_dim, num_heads_k * head_dim, num_heads_v * head_dim], dim=-1)

    def norm(x, w, heads):
        xh = x.reshape(*x.shape[:-1], heads, head_dim)
        return _vllm_rms_norm(xh, None, w.reshape(head_dim), eps)[0].reshape(x.shape)

    q = _rope(norm(q, q_weight, num_heads_q), position_ids, head_dim, cos_sin_cache, is_neox)
    k = _rope(norm(k, k_weight, num_heads_k), position_ids, head_dim, cos_sin_cache, is_neox)
    return torch.cat((q, k, v), dim=-1)


# ---- the "inductor" implementation: one compiled copy per math function ------------------------------

_compiled: dict[str, object] = {}


def _compiled_copy(fn):
    # A fresh code object per function gives each its own Dynamo cache, so the other
    # functions' specialisations (eps, group size, dtype) do not count against its limit.
    if fn.__name__ not in _compiled:
        clone = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                                   fn.__closure__)
        _compiled[fn.__name__] = torch.compile(clone, fullgraph=True)
    return _compiled[fn.__name__]


def _run(fn, rows, *args):
    """Runs `fn(*args)`; `rows` are the tensors whose first dim is the (dynamic) row count."""
    if _impl == "inductor":
        compiled = _compiled_copy(fn)
        for t in rows:
            torch._dynamo.maybe_mark_dynamic(t, 0)
        from torch._inductor import config as inductor_config
        with contextlib.ExitStack() as stack:
            # The hook must not rewrite the reference's own graph (it would call itself).
            stack.enter_context(inductor_config.patch(post_grad_custom_pre_pass=None,
                                                      post_grad_custom_post_pass=None))
            # eps and FMAX must be constants in the kernel, as in the unfused graph (x / 448.0 is
            # compiled as a multiplication by the reciprocal; a runtime divisor is not).
            if hasattr(torch._dynamo.config, "specialize_float"):
                stack.enter_context(torch._dynamo.config.patch(specialize_float=True))
            return compiled(*args)
    return fn(*args)


# ---- op bodies -----------------------------------------------------------------------------------------

def _fused_impl(x, weight, bias, z, eps, norm_before_gate, activation, group_size):
    _check_group(FUSED_RMS_GATED, x.shape[-1], group_size)
    dtype = fp8_dtype()
    x, z = x.contiguous(), z.contiguous()
    return _run(_fused_math, (x, z), x, weight, bias, z, eps, norm_before_gate, activation, group_size,
                dtype, fp8_max(dtype))


def _fused_fake(x, weight, bias, z, eps, norm_before_gate, activation, group_size):
    _check_group(FUSED_RMS_GATED, x.shape[-1], group_size)
    q = x.new_empty(x.shape, dtype=fp8_dtype())
    s = x.new_empty((*x.shape[:-1], x.shape[-1] // group_size), dtype=torch.float32)
    return q, s


def _group_quant_impl(x, group_size):
    _check_group(GROUP_QUANT, x.shape[-1], group_size)
    dtype = fp8_dtype()
    x = x.contiguous()
    return _run(_group_quant_math, (x,), x, group_size, dtype, fp8_max(dtype))


def _group_quant_fake(x, group_size):
    _check_group(GROUP_QUANT, x.shape[-1], group_size)
    q = x.new_empty(x.shape, dtype=fp8_dtype())
    s = x.new_empty((*x.shape[:-1], x.shape[-1] // group_size), dtype=torch.float32)
    return q, s


def _rms_dynamic_impl(x, weight, epsilon, quant_dtype):
    x = x.contiguous()
    return _run(_rms_dynamic_math, (x,), x, weight, epsilon, quant_dtype, fp8_max(quant_dtype))


def _rms_dynamic_fake(x, weight, epsilon, quant_dtype):
    fp8_max(quant_dtype)
    return x.new_empty(x.shape, dtype=quant_dtype), x.new_empty((*x.shape[:-1], 1), dtype=torch.float32)


def _flat_rows(t):
    return t.contiguous().reshape(-1, t.shape[-1])


def _family(x, residual, weight, eps, scheme, dtype, *, scale=None, scale_ub=None, group=0, divide=False, norm=True):
    """Runs the family's math on x viewed as (M, D) rows (the "inductor" impl compiles it; rows dynamic)."""
    if weight is not None and weight.dtype != x.dtype:
        raise ValueError(f"weight dtype {weight.dtype} differs from the input's {x.dtype} "
                         "(the fused kernels need one model dtype)")
    if residual is not None and residual.shape != x.shape:
        raise ValueError(f"residual {tuple(residual.shape)} differs from the input {tuple(x.shape)}")
    xs = _flat_rows(x)
    rs = _flat_rows(residual) if residual is not None else None
    rows = (xs,) if rs is None else (xs, rs)
    fmax = fp8_max(dtype) if scheme != "none" else 0.0
    q, s, res_out = _run(_rms_quant_math, rows, xs, rs, weight.contiguous() if weight is not None else None, eps, scheme,
                         dtype, fmax, scale, scale_ub, group, divide, norm)
    q = q.reshape(x.shape)
    if res_out is not None:
        res_out = res_out.reshape(x.shape)
    if s is not None:
        s = s.reshape(*x.shape[:-1], s.shape[-1])
    return q, s, res_out


def _add_rms_dynamic_impl(x, residual, weight, epsilon, quant_dtype):
    q, s, r = _family(x, residual, weight, epsilon, "token", quant_dtype)
    return q, r, s


def _add_rms_dynamic_fake(x, residual, weight, epsilon, quant_dtype):
    fp8_max(quant_dtype)
    return (x.new_empty(x.shape, dtype=quant_dtype), x.new_empty(x.shape),
            x.new_empty((*x.shape[:-1], 1), dtype=torch.float32))


def _rms_group_impl(x, weight, variance_epsilon, group_size):
    _check_group(RMSNORM_GROUP_QUANT, x.shape[-1], group_size)
    q, s, _ = _family(x, None, weight, variance_epsilon, "group", fp8_dtype(), group=group_size)
    return q, s


def _rms_group_fake(x, weight, variance_epsilon, group_size):
    return _group_quant_fake(x, group_size)


def _add_rms_group_impl(x, residual, weight, variance_epsilon, group_size):
    _check_group(ADD_RMSNORM_GROUP_QUANT, x.shape[-1], group_size)
    q, s, r = _family(x, residual, weight, variance_epsilon, "group", fp8_dtype(), group=group_size)
    return q, r, s


def _add_rms_group_fake(x, residual, weight, variance_epsilon, group_size):
    q, s = _group_quant_fake(x, group_size)
    return q, x.new_empty(x.shape), s


# The _C ops write their results into the `Tensor!` arguments; fp8 format from the result buffer.

def _c_rms_static_impl(result, input, weight, scale, epsilon):
    q, _, _ = _family(input, None, weight, epsilon, "static", result.dtype, scale=scale)
    result.copy_(q)


def _c_add_rms_static_impl(result, input, residual, weight, scale, epsilon):
    q, _, r = _family(input, residual, weight, epsilon, "static", result.dtype, scale=scale)
    result.copy_(q)
    residual.copy_(r)


def _c_rms_per_token_impl(result, input, weight, scale, epsilon, scale_ub, residual):
    # The _C kernel divides by the scale (the native chain multiplies by its reciprocal: one fp8 code apart on ties).
    q, s, r = _family(input, residual, weight, epsilon, "token", result.dtype, scale_ub=scale_ub, divide=True)
    result.copy_(q)
    scale.copy_(s.reshape(scale.shape))
    if residual is not None:
        residual.copy_(r)


def _c_rms_per_block_impl(result, input, weight, scale, epsilon, scale_ub, residual, group_size, is_scale_transposed):
    if scale_ub is not None:
        raise ValueError(f"{C_RMS_PER_BLOCK}: scale_ub is not supported with group quantisation")
    _check_group(C_RMS_PER_BLOCK, input.shape[-1], group_size)
    q, s, r = _family(input, residual, weight, epsilon, "group", result.dtype, group=group_size)
    result.copy_(q)
    scale.copy_(s.reshape(scale.shape))     # either layout: the buffer's strides say which
    if residual is not None:
        residual.copy_(r)


def _silu_family(op, x, scheme, dtype, *, scale=None, group=0):
    """Runs the SiLU-and-mul family's math on x viewed as (M, 2D) rows -> (y or q (..., D), scale or None)."""
    if x.dtype != torch.bfloat16:
        raise ValueError(f"{op}: the input must be bfloat16, got {x.dtype}")
    k = x.shape[-1]
    _check_even(op, k)
    if scheme == "group":
        _check_group(op, k // 2, group)
    xs = _flat_rows(x)
    fmax = fp8_max(dtype) if scheme != "none" else 0.0
    q, s = _run(_silu_mul_quant_math, (xs,), xs, scheme, dtype, fmax, scale, group)
    q = q.reshape(*x.shape[:-1], k // 2)
    if s is not None:
        s = s.reshape(*x.shape[:-1], s.shape[-1])
    return q, s


def _c_silu_mul_impl(result, input):
    if result.dtype != input.dtype:
        raise ValueError(f"{C_SILU_MUL}: result dtype {result.dtype} differs from the input's {input.dtype}")
    y, _ = _silu_family(C_SILU_MUL, input, "none", input.dtype)
    result.copy_(y.reshape(result.shape))


def _c_silu_mul_quant_impl(result, input, scale):
    q, _ = _silu_family(C_SILU_MUL_QUANT, input, "static", result.dtype, scale=scale)
    result.copy_(q.reshape(result.shape))


def _c_silu_mul_per_block_impl(out, input, scales, group_size, scale_ub=None, is_scale_transposed=False):
    if scale_ub is not None:
        raise ValueError(f"{C_SILU_MUL_PER_BLOCK}: scale_ub is not supported with group quantisation")
    q, s = _silu_family(C_SILU_MUL_PER_BLOCK, input, "group", out.dtype, group=group_size)
    out.copy_(q.reshape(out.shape))
    scales.copy_(s.reshape(scales.shape))   # either layout: the buffer's strides say which


def _act_mul_group_impl(x, group_size):
    return _silu_family(ACT_MUL_GROUP_QUANT, x, "group", fp8_dtype(), group=group_size)


def _act_mul_group_fake(x, group_size):
    k = x.shape[-1]
    _check_even(ACT_MUL_GROUP_QUANT, k)
    _check_group(ACT_MUL_GROUP_QUANT, k // 2, group_size)
    q = x.new_empty((*x.shape[:-1], k // 2), dtype=fp8_dtype())
    s = x.new_empty((*x.shape[:-1], k // 2 // group_size), dtype=torch.float32)
    return q, s


def _check_rope_args(op: str, head_size: int, cos_sin_cache, positions, dtypes) -> None:
    rot = cos_sin_cache.shape[-1]
    if cos_sin_cache.dim() != 2:
        raise ValueError(f"{op}: cos_sin_cache must be 2-d (max_position, rotary_dim), got {tuple(cos_sin_cache.shape)}")
    if isinstance(rot, int) and (rot <= 0 or rot % 2):
        raise ValueError(f"{op}: the rotary dimension {rot} (cos_sin_cache.size(-1)) must be even and positive")
    if isinstance(rot, int) and rot > head_size:
        raise ValueError(f"{op}: the rotary dimension {rot} (cos_sin_cache.size(-1)) exceeds the head size {head_size}")
    for d in dtypes:
        if d != torch.bfloat16:
            raise ValueError(f"{op}: query/key/qkv and the norm weights must be bfloat16, got {d}")
    if positions.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{op}: positions must be int64 or int32, got {positions.dtype}")


def _c_rotary_impl(positions, query, key, head_size, cos_sin_cache, is_neox, rope_dim_offset=0, inverse=False):
    if rope_dim_offset != 0 or inverse:
        raise ValueError(f"{C_ROTARY}: rope_dim_offset={rope_dim_offset}, inverse={inverse} are not supported "
                         "(only the defaults 0, False)")
    _check_rope_args(C_ROTARY, head_size, cos_sin_cache, positions,
                     [query.dtype] + ([key.dtype] if key is not None else []))
    q, k = _run(_rotary_math, (positions, query) + ((key,) if key is not None else ()), positions, query, key,
                head_size, cos_sin_cache, is_neox)
    query.copy_(q)
    if key is not None:
        key.copy_(k)


def _c_qk_norm_rope_impl(qkv, num_heads_q, num_heads_k, num_heads_v, head_dim, eps, q_weight, k_weight,
                         cos_sin_cache, is_neox, position_ids):
    _check_rope_args(C_QK_NORM_ROPE, head_dim, cos_sin_cache, position_ids, [qkv.dtype, q_weight.dtype, k_weight.dtype])
    width = (num_heads_q + num_heads_k + num_heads_v) * head_dim
    if qkv.shape[-1] != width:
        raise ValueError(f"{C_QK_NORM_ROPE}: the last dim of qkv {tuple(qkv.shape)} must be "
                         f"(num_heads_q + num_heads_k + num_heads_v) * head_dim = {width}")
    for name, w in (("q_weight", q_weight), ("k_weight", k_weight)):
        if w.numel() != head_dim or w.shape[-1] != head_dim:
            raise ValueError(f"{C_QK_NORM_ROPE}: {name} {tuple(w.shape)} must hold head_dim = {head_dim} values")
    out = _run(_qk_norm_rope_math, (qkv, position_ids), qkv, num_heads_q, num_heads_k, num_heads_v, head_dim, eps,
               q_weight, k_weight, cos_sin_cache, is_neox, position_ids)
    qkv.copy_(out)


def _c_rms_impl(result, input, weight, epsilon):
    y, _, _ = _family(input, None, weight, epsilon, "none", input.dtype)
    result.copy_(y)


def _c_add_rms_impl(input, residual, weight, epsilon):
    y, _, r = _family(input, residual, weight, epsilon, "none", input.dtype)
    input.copy_(y)                          # the normed value, in place
    residual.copy_(r)                       # x + residual, in place


def _c_static_quant_impl(result, input, scale, group_shape=None):
    if group_shape is not None:
        raise ValueError(f"{C_STATIC_QUANT}: group_shape is not supported, got {group_shape}")
    q, _, _ = _family(input, None, None, 0.0, "static", result.dtype, scale=scale, norm=False)
    result.copy_(q)


def _c_per_token_quant_impl(result, input, scale, scale_ub):
    # vLLM's kernel divides by the scale (the native chain multiplies by its reciprocal).
    q, s, _ = _family(input, None, None, 0.0, "token", result.dtype, scale_ub=scale_ub, divide=True, norm=False)
    result.copy_(q)
    scale.copy_(s.reshape(scale.shape))


def _no_variance_size(variance_size):
    if variance_size is not None:
        raise ValueError(f"vllm_ir norms: variance_size is not supported, got {variance_size}")


def _ir_rms_impl(x, weight, epsilon, variance_size=None):
    _no_variance_size(variance_size)
    return _family(x, None, weight, epsilon, "none", x.dtype)[0]


def _ir_rms_fake(x, weight, epsilon, variance_size=None):
    return x.new_empty(x.shape)


def _ir_add_rms_impl(x, x_residual, weight, epsilon, variance_size=None):
    _no_variance_size(variance_size)
    y, _, r = _family(x, x_residual, weight, epsilon, "none", x.dtype)
    return y, r


def _ir_add_rms_fake(x, x_residual, weight, epsilon, variance_size=None):
    return x.new_empty(x.shape), x.new_empty(x.shape)


def _c_fake(*args, **kwargs):
    return None


def _check_group(op: str, k, group_size: int) -> None:
    if group_size <= 0:
        raise ValueError(f"{op}: group_size {group_size} must be positive")
    if isinstance(k, int) and k % group_size:
        raise ValueError(f"{op}: last dim {k} is not a multiple of group_size {group_size}")


def _check_even(op: str, k) -> None:
    if isinstance(k, int) and (k <= 0 or k % 2):
        raise ValueError(f"{op}: last dim {k} must be even and positive (the gate half, then the up half)")


_BODIES = {
    FUSED_RMS_GATED: (_fused_impl, _fused_fake),
    GROUP_QUANT: (_group_quant_impl, _group_quant_fake),
    RMSNORM_DYNAMIC_QUANT: (_rms_dynamic_impl, _rms_dynamic_fake),
    ADD_RMSNORM_DYNAMIC_QUANT: (_add_rms_dynamic_impl, _add_rms_dynamic_fake),
    RMSNORM_GROUP_QUANT: (_rms_group_impl, _rms_group_fake),
    ADD_RMSNORM_GROUP_QUANT: (_add_rms_group_impl, _add_rms_group_fake),
    ACT_MUL_GROUP_QUANT: (_act_mul_group_impl, _act_mul_group_fake),
}
_C_BODIES = {
    C_RMS_STATIC: _c_rms_static_impl,
    C_ADD_RMS_STATIC: _c_add_rms_static_impl,
    C_RMS_PER_TOKEN: _c_rms_per_token_impl,
    C_RMS_PER_BLOCK: _c_rms_per_block_impl,
    C_RMS: _c_rms_impl,
    C_ADD_RMS: _c_add_rms_impl,
    C_STATIC_QUANT: _c_static_quant_impl,
    C_PER_TOKEN_QUANT: _c_per_token_quant_impl,
    C_SILU_MUL: _c_silu_mul_impl,
    C_SILU_MUL_QUANT: _c_silu_mul_quant_impl,
    C_SILU_MUL_PER_BLOCK: _c_silu_mul_per_block_impl,
    C_ROTARY: _c_rotary_impl,
    C_QK_NORM_ROPE: _c_qk_norm_rope_impl,
}
_IR_BODIES = {
    IR_RMS: (_ir_rms_impl, _ir_rms_fake),
    IR_ADD_RMS: (_ir_add_rms_impl, _ir_add_rms_fake),
}


def _exists(name: str, namespace: str = NAMESPACE) -> bool:
    try:
        getattr(getattr(torch.ops, namespace), name)
        return True
    except (AttributeError, RuntimeError):
        return False


def register() -> dict[str, str]:
    """Registers each op vLLM has not registered; returns {op name: "fxopt" | "vllm"} (the `_C` and `vllm_ir` ops
    under "_C.<name>" and "vllm_ir.<name>"). Idempotent."""
    global _lib, _c_lib, _ir_lib
    with _lock:
        for name, schema in SCHEMAS.items():
            if name in _owner:
                continue
            if _exists(name):
                _owner[name] = "vllm"
                continue
            if _lib is None:
                _lib = torch.library.Library(NAMESPACE, "FRAGMENT")
            impl, fake = _BODIES[name]
            _lib.define(schema)
            _lib.impl(name, impl, "CompositeExplicitAutograd")
            torch.library.register_fake(f"{NAMESPACE}::{name}", fake, lib=_lib)
            _owner[name] = "fxopt"
        for name, schema in C_SCHEMAS.items():
            key = f"{C_NAMESPACE}.{name}"
            if key in _owner:
                continue
            if _exists(name, C_NAMESPACE):
                _owner[key] = "vllm"
                continue
            if _c_lib is None:
                _c_lib = torch.library.Library(C_NAMESPACE, "FRAGMENT")
            _c_lib.define(schema)
            _c_lib.impl(name, _C_BODIES[name], "CompositeExplicitAutograd")
            torch.library.register_fake(f"{C_NAMESPACE}::{name}", _c_fake, lib=_c_lib)
            _owner[key] = "fxopt"
        for name, schema in IR_SCHEMAS.items():
            key = f"{IR_NAMESPACE}.{name}"
            if key in _owner:
                continue
            if _exists(name, IR_NAMESPACE):
                _owner[key] = "vllm"
                continue
            if _ir_lib is None:
                _ir_lib = torch.library.Library(IR_NAMESPACE, "FRAGMENT")
            impl, fake = _IR_BODIES[name]
            _ir_lib.define(schema)
            _ir_lib.impl(name, impl, "CompositeExplicitAutograd")
            torch.library.register_fake(f"{IR_NAMESPACE}::{name}", fake, lib=_ir_lib)
            _owner[key] = "fxopt"
        return dict(_owner)


def owner(name: str) -> Optional[str]:
    """"fxopt" when the reference implementation serves `name`, "vllm" when vLLM does, None if unregistered."""
    return _owner.get(name)


def qualified(name: str) -> str:
    """The target string fxgraph uses for the op's default overload ("_C.<name>" keys: the `_C` op's)."""
    if name.startswith((C_NAMESPACE + ".", IR_NAMESPACE + ".")):
        return f"{name}.default"
    return f"{NAMESPACE}.{name}.default"
