"""vLLM's native forms of RMSNorm (+ residual), SiluAndMul, FP8 quant and the rotary embedding, transcribed line by
line (spec vllm-fusions.md sections 5.1, 5.2, 5.3, 5.6 and 9.1: RMSNorm.forward_static, SiluAndMul.forward_native,
QuantFP8.forward_native, _quantize_group_native, RotaryEmbedding.forward_static + ApplyRotaryEmb.forward_static), and
several-layer models built from them (the residual chain of a Llama-style decoder; its MLPs; Qwen3's attention front:
QK-norm + RoPE), for the torch.compile end-to-end checks of the RMSNorm + FP8, SiLU-and-mul + FP8 and QK-norm + RoPE
families (python/tools/e2e_rms_norm_quant.py, e2e_silu_mul_quant.py, e2e_qk_norm_rope.py) and the reference-op
tests."""
from __future__ import annotations

import dataclasses

import torch

FMAX = {torch.float8_e4m3fn: 448.0, torch.float8_e4m3fnuz: 224.0}


def rms_norm(x, weight, eps):
    """RMSNorm.forward_static without residual (= the vllm_ir.rms_norm native form)."""
    orig_dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(dim=-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    x = x.to(orig_dtype)
    if weight is not None:
        x = x * weight
    return x


def fused_add_rms_norm(x, residual, weight, eps):
    """RMSNorm.forward_static with residual: the residual is promoted by the add, not cast."""
    orig_dtype = x.dtype
    x = x.to(torch.float32)
    x = x + residual
    residual = x.to(orig_dtype)
    variance = x.pow(2).mean(dim=-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    x = x.to(orig_dtype)
    if weight is not None:
        x = x * weight
    return x, residual


def static_quant(x, scale, fp8):
    """QuantFP8 static per-tensor: multiply by the reciprocal of the (1, 1) float32 scale."""
    fmax = FMAX[fp8]
    out = x.to(torch.float32) * scale.to(torch.float32).reciprocal()
    return out.clamp(-fmax, fmax).to(fp8)


def per_token_quant(x, fp8, scale_ub=None):
    """QuantFP8 dynamic per-token: amax in the model dtype, scale (M, 1), multiply by its reciprocal."""
    fmax = FMAX[fp8]
    x_max, _ = x.abs().max(dim=-1)
    x_max = x_max.unsqueeze(-1).to(torch.float32)
    if scale_ub is not None:
        x_max = x_max.clamp(max=scale_ub)
    scale = (x_max / fmax).clamp(min=1.0 / (fmax * 512.0))
    out = x.to(torch.float32) * scale.reciprocal()
    return out.clamp(-fmax, fmax).to(fp8), scale


def group_quant(x, group_size, fp8):
    """QuantFP8._quantize_group_native: pads to a multiple of the group, divides by the group scale."""
    fmax = FMAX[fp8]
    orig_shape = x.shape
    hidden_dim = x.shape[-1]
    num_groups = (hidden_dim + group_size - 1) // group_size
    padded_dim = num_groups * group_size
    if padded_dim != hidden_dim:
        x = torch.nn.functional.pad(x, (0, padded_dim - hidden_dim), mode="constant", value=0.0)
    x_grouped = x.view(-1, num_groups, group_size)
    absmax = x_grouped.abs().max(dim=-1, keepdim=True)[0].float()
    scales = (absmax / fmax).clamp(min=1.0 / (fmax * 512.0))
    x_scaled = x_grouped / scales
    x_quant = x_scaled.clamp(-fmax, fmax).to(fp8)
    x_quant = x_quant.view(-1, padded_dim)
    if padded_dim != hidden_dim:
        x_quant = x_quant[..., :hidden_dim]
    x_quant = x_quant.view(orig_shape)
    scales = scales.squeeze(-1)
    scales = scales.reshape(orig_shape[:-1] + (num_groups,))
    return x_quant, scales


def silu_and_mul(x):
    """SiluAndMul.forward_native: silu of the first half of the last dim times the second half."""
    d = x.shape[-1] // 2
    return torch.nn.functional.silu(x[..., :d]) * x[..., d:]


def apply_rotary_emb(x, cos, sin, is_neox_style):
    """ApplyRotaryEmb.forward_static (enable_fp32_compute=False): cos/sin (T, rot/2) unsqueezed over the heads and
    cast to x's dtype; neox halves or gptj even/odd pairs; every product, difference and sum in x's dtype."""
    cos = cos.unsqueeze(-2).to(x.dtype)
    sin = sin.unsqueeze(-2).to(x.dtype)
    if is_neox_style:
        x1, x2 = torch.chunk(x, 2, dim=-1)
    else:
        x1 = x[..., ::2]
        x2 = x[..., 1::2]
    o1 = x1 * cos - x2 * sin
    o2 = x2 * cos + x1 * sin
    if is_neox_style:
        return torch.cat((o1, o2), dim=-1)
    return torch.stack((o1, o2), dim=-1).flatten(-2)


def rotary_embedding(positions, query, key, head_size, rotary_dim, cos_sin_cache, is_neox_style):
    """RotaryEmbedding.forward_static: the cache row of each position, cos | sin halves, the first rotary_dim values
    of each head rotated, the rest passed; query (T, Hq*head_size), key (T, Hk*head_size)."""
    positions = positions.flatten()
    num_tokens = positions.shape[0]
    cos_sin = cos_sin_cache.index_select(0, positions)
    cos, sin = cos_sin.chunk(2, dim=-1)

    query_shape = query.shape
    query = query.view(num_tokens, -1, head_size)
    query_rot = query[..., :rotary_dim]
    query_pass = query[..., rotary_dim:]
    query_rot = apply_rotary_emb(query_rot, cos, sin, is_neox_style)
    query = torch.cat((query_rot, query_pass), dim=-1).reshape(query_shape)

    key_shape = key.shape
    key = key.view(num_tokens, -1, head_size)
    key_rot = key[..., :rotary_dim]
    key_pass = key[..., rotary_dim:]
    key_rot = apply_rotary_emb(key_rot, cos, sin, is_neox_style)
    key = torch.cat((key_rot, key_pass), dim=-1).reshape(key_shape)
    return query, key


def cos_sin_cache(rotary_dim, max_position, base=1000000.0, dtype=torch.bfloat16, device="cuda"):
    """RotaryEmbedding._compute_cos_sin_cache (float32), stored in `dtype` as vLLM stores it in the model dtype."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float) / rotary_dim))
    t = torch.arange(max_position, dtype=torch.float)
    freqs = torch.einsum("i,j -> ij", t, inv_freq)
    return torch.cat((freqs.cos(), freqs.sin()), dim=-1).to(dtype).to(device)


# The opaque spellings (vLLM with custom ops on, or vLLM IR): fxopt.ops registers these ops where vLLM is absent.

def silu_and_mul_custom(x):
    """SiluAndMul.forward_cuda (custom op on): _C.silu_and_mul into an empty buffer (auto_functionalized once traced)."""
    d = x.shape[-1] // 2
    out = torch.empty(x.shape[:-1] + (d,), dtype=x.dtype, device=x.device)
    torch.ops._C.silu_and_mul(out, x)
    return out


def rms_norm_custom(x, weight, eps):
    """RMSNorm.forward_cuda (custom op on): _C.rms_norm into an empty buffer (auto_functionalized once traced)."""
    out = torch.empty_like(x)
    torch.ops._C.rms_norm(out, x, weight, eps)
    return out


def fused_add_rms_norm_custom(x, residual, weight, eps):
    """_C.fused_add_rms_norm: x becomes the normed value and residual x + residual, in place."""
    torch.ops._C.fused_add_rms_norm(x, residual, weight, eps)
    return x, residual


def static_quant_custom(x, scale, fp8):
    q = torch.empty(x.shape, dtype=fp8, device=x.device)
    torch.ops._C.static_scaled_fp8_quant(q, x.contiguous(), scale)
    return q


def per_token_quant_custom(x, fp8):
    """_C.dynamic_per_token_scaled_fp8_quant: the kernel divides by the scale."""
    q = torch.empty(x.shape, dtype=fp8, device=x.device)
    s = torch.empty((x.shape[0], 1), dtype=torch.float32, device=x.device)
    torch.ops._C.dynamic_per_token_scaled_fp8_quant(q, x.contiguous(), s, None)
    return q, s


@dataclasses.dataclass(frozen=True)
class Variant:
    """One model: `layers` decoder layers, layer 0 plain RMSNorm, the others fused-add RMSNorm on the residual
    chain, each followed by `quant` ("static" | "token" | "group" | "token+group": two quants of one normed
    tensor, a fan-out) of the normed value, dequantised into a bf16 projection that feeds the next layer.
    spelling: "native" (forward_native), "custom" (the _C norm and quant ops: auto_functionalized once traced) or
    "vllm_ir" (vllm_ir norms, _C quant ops); the group quant is native in every spelling."""
    name: str
    quant: str
    fp8: torch.dtype = torch.float8_e4m3fn
    target: str = "cuda"
    group: int = 128
    hidden: int = 1024          # Inductor reduces rows up to 1024 in one persistent block (one summation order)
    layers: int = 4
    eps: float = 1e-6
    weight_dtype: torch.dtype = torch.bfloat16
    spelling: str = "native"
    expected: tuple = ()          # ((fused op target, count), ...); empty: nothing may fuse
    exact: bool = True            # outputs bit-identical with the hook (else: at most one fp8 code, see tolerance)
    block: str = "norm"           # "norm": Decoder (the norms' quants); "act": Mlp (SiluAndMul's quant);
                                  # "qk": QkNormRope (Qwen3's attention front)
    inter: int = 1024             # Mlp: the intermediate size (the activation's width; gate_up is twice that)
    heads_q: int = 8              # QkNormRope: query heads (hidden = heads_q * head_dim), kv heads, head size,
    heads_k: int = 2              # rotated dims (0: the whole head), neox halves or gptj pairs, the cos/sin cache's
    head_dim: int = 128           # dtype and rows (max_position_embeddings)
    rotary_dim: int = 0
    neox: bool = True
    cache_dtype: torch.dtype = torch.bfloat16
    max_position: int = 4096
    attn_heads: bool = False      # QkNormRope: the stand-in attention reads q, k, v per head (T, H, D) as vLLM's
                                  # Attention.forward views them (else the flat (T, H*D) tensors)


def dequant(q, s, group):
    k = q.shape[-1]
    g = group if s.shape[-1] != 1 else k
    pad = (-k) % g
    deq = q.to(torch.bfloat16)
    if pad:
        deq = torch.nn.functional.pad(deq, (0, pad))
    deq = deq.view(-1, (k + pad) // g, g) * s.to(torch.bfloat16).unsqueeze(-1)
    return deq.view(-1, k + pad)[..., :k]


class Decoder(torch.nn.Module):
    """The residual chain of a Llama-style decoder reduced to its norms, quants and one projection per layer."""

    def __init__(self, v: Variant, device="cuda", seed: int = 0):
        super().__init__()
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.v = v
        h = v.hidden
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter((1.0 + 0.2 * torch.randn(h, generator=g)).to(v.weight_dtype).to(device), requires_grad=False)
            for _ in range(v.layers))
        self.projs = torch.nn.ParameterList(
            torch.nn.Parameter((torch.randn(h, h, generator=g) / h ** 0.5).to(torch.bfloat16).to(device), requires_grad=False)
            for _ in range(v.layers))
        self.register_buffer("scales", (0.01 + 0.02 * torch.rand(v.layers, 1, 1, generator=g)).to(device))

    def forward(self, x):
        v = self.v
        outs = []
        residual = None
        custom = v.spelling != "native"
        for i in range(v.layers):
            if residual is None:
                if v.spelling == "vllm_ir":
                    y = torch.ops.vllm_ir.rms_norm(x, self.weights[i], v.eps)
                else:
                    y = (rms_norm_custom if custom else rms_norm)(x, self.weights[i], v.eps)
                residual = x.clone() if custom else x    # _C.fused_add_rms_norm must not write the input
            elif v.spelling == "vllm_ir":
                y, residual = torch.ops.vllm_ir.fused_add_rms_norm(x, residual, self.weights[i], v.eps)
            else:
                add_norm = fused_add_rms_norm_custom if custom else fused_add_rms_norm
                y, residual = add_norm(x, residual, self.weights[i], v.eps)
            if v.quant == "static":
                q = (static_quant_custom if custom else static_quant)(y, self.scales[i], v.fp8)
                s = self.scales[i].reshape(1, 1)
                deq = dequant(q, s.expand(q.shape[0], 1), v.hidden)
                outs += [q]
            elif v.quant == "token":
                q, s = per_token_quant_custom(y, v.fp8) if custom else per_token_quant(y, v.fp8)
                deq = dequant(q, s, v.hidden)
                outs += [q, s]
            elif v.quant == "group":
                q, s = group_quant(y, v.group, v.fp8)
                deq = dequant(q, s, v.group)
                outs += [q, s]
            elif v.quant == "token+group":
                q, s = per_token_quant(y, v.fp8)
                q2, s2 = group_quant(y, v.group, v.fp8)
                deq = dequant(q, s, v.hidden) + dequant(q2, s2, v.group)
                outs += [q, s, q2, s2]
            else:
                raise ValueError(v.quant)
            x = deq @ self.projs[i]
        return (x, residual, *outs)


def inputs(v: Variant, tokens: int, device="cuda", seed: int = 1):
    g = torch.Generator(device="cpu").manual_seed(seed + tokens)
    return torch.randn(tokens, v.hidden, generator=g).to(torch.bfloat16).to(device)


class Mlp(torch.nn.Module):
    """Llama-style MLPs on a residual stream, reduced to what the SiLU-and-mul + FP8 family sees: per layer the gate_up
    projection, SiluAndMul, FP8 quant of the activation (`quant` "static" | "group"), dequantised into the down
    projection, added to the stream. spelling "native" (forward_native) or "custom" (_C.silu_and_mul and
    _C.static_scaled_fp8_quant; the group quant is native in both)."""

    def __init__(self, v: Variant, device="cuda", seed: int = 0):
        super().__init__()
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.v = v
        h, i = v.hidden, v.inter
        self.ups = torch.nn.ParameterList(
            torch.nn.Parameter((torch.randn(h, 2 * i, generator=g) / h ** 0.5).to(torch.bfloat16).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.downs = torch.nn.ParameterList(
            torch.nn.Parameter((torch.randn(i, h, generator=g) / i ** 0.5).to(torch.bfloat16).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.register_buffer("scales", (0.01 + 0.02 * torch.rand(v.layers, 1, 1, generator=g)).to(device))

    def forward(self, x):
        v = self.v
        outs = []
        custom = v.spelling != "native"
        for i in range(v.layers):
            y = (silu_and_mul_custom if custom else silu_and_mul)(x @ self.ups[i])
            if v.quant == "static":
                q = (static_quant_custom if custom else static_quant)(y, self.scales[i], v.fp8)
                s = self.scales[i].reshape(1, 1)
                deq = dequant(q, s.expand(q.shape[0], 1), v.inter)
                outs += [q]
            elif v.quant == "group":
                q, s = group_quant(y, v.group, v.fp8)
                deq = dequant(q, s, v.group)
                outs += [q, s]
            else:
                raise ValueError(v.quant)
            x = x + deq @ self.downs[i]
        return (x, *outs)


class QkNormRope(torch.nn.Module):
    """Qwen3's attention front on a residual stream, reduced to what the QK-norm + RoPE family sees: per layer the
    fused QKV projection, its split, q and k normalised per head (RMSNorm.forward_static on the (T, H, D) views,
    viewed back), the rotary embedding of q and k (spelling "native": RotaryEmbedding.forward_static; "custom":
    _C.rotary_embedding in place on the normalised q and k, fresh tensors, so no clone), then a cheap stand-in for
    the attention: x + q @ W_o + sum(k * v) per token (attn_heads: on the per-head views, x + sum over heads of q
    @ W_o[:D] + sum(k * v)). The positions are made from the token count inside forward
    ((7 t + 3) mod max_position), so the model keeps one input. hidden = heads_q * head_dim."""

    def __init__(self, v: Variant, device="cuda", seed: int = 0):
        super().__init__()
        if v.hidden != v.heads_q * v.head_dim:
            raise ValueError(f"{v.name}: hidden {v.hidden} must be heads_q * head_dim = {v.heads_q * v.head_dim}")
        g = torch.Generator(device="cpu").manual_seed(seed)
        self.v = v
        h, d = v.hidden, v.head_dim
        row = (v.heads_q + 2 * v.heads_k) * d
        self.qkvs = torch.nn.ParameterList(
            torch.nn.Parameter((torch.randn(h, row, generator=g) / h ** 0.5).to(torch.bfloat16).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.outs = torch.nn.ParameterList(
            torch.nn.Parameter((torch.randn(h, h, generator=g) / h ** 0.5).to(torch.bfloat16).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.q_weights = torch.nn.ParameterList(
            torch.nn.Parameter((1.0 + 0.2 * torch.randn(d, generator=g)).to(v.weight_dtype).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.k_weights = torch.nn.ParameterList(
            torch.nn.Parameter((1.0 + 0.2 * torch.randn(d, generator=g)).to(v.weight_dtype).to(device),
                               requires_grad=False) for _ in range(v.layers))
        self.register_buffer("cos_sin_cache", cos_sin_cache(v.rotary_dim or d, v.max_position, dtype=v.cache_dtype,
                                                            device=device))

    def forward(self, x):
        v = self.v
        d, rot = v.head_dim, v.rotary_dim or v.head_dim
        q_size, kv_size = v.heads_q * d, v.heads_k * d
        positions = (torch.arange(x.shape[0], device=x.device) * 7 + 3) % v.max_position
        outs = []
        for i in range(v.layers):
            qkv = x @ self.qkvs[i]
            q, k, val = qkv.split([q_size, kv_size, kv_size], dim=-1)
            q_by_head = q.view(*q.shape[:-1], q.shape[-1] // d, d)
            q = rms_norm(q_by_head, self.q_weights[i], v.eps).view(q.shape)
            k_by_head = k.view(*k.shape[:-1], k.shape[-1] // d, d)
            k = rms_norm(k_by_head, self.k_weights[i], v.eps).view(k.shape)
            if v.spelling == "custom":
                torch.ops._C.rotary_embedding(positions, q, k, d, self.cos_sin_cache, v.neox)
            else:
                q, k = rotary_embedding(positions, q, k, d, rot, self.cos_sin_cache, v.neox)
            if v.attn_heads:
                qh, kh, vh = q.view(-1, v.heads_q, d), k.view(-1, v.heads_k, d), val.view(-1, v.heads_k, d)
                outs += [qh, kh]
                x = x + qh.sum(dim=1) @ self.outs[i][:d] + (kh * vh).sum(dim=(1, 2)).unsqueeze(-1)
            else:
                outs += [q, k]
                x = x + q @ self.outs[i] + (k * val).sum(dim=-1, keepdim=True)
        return (x, *outs)


def model(v: Variant, device="cuda", seed: int = 0) -> torch.nn.Module:
    """The variant's model: Decoder (block "norm"), Mlp (block "act") or QkNormRope (block "qk")."""
    return {"act": Mlp, "qk": QkNormRope}.get(v.block, Decoder)(v, device=device, seed=seed)
