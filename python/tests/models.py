"""Models like the corpus one (a GatedDeltaNet-style output block per layer) and their negative variants.

Each layer: relu on x and z, per-head view (N, H*D) -> (N*H, D) (or (N, H, D): layout "heads", vLLM's other
layout), gated RMSNorm, reshape back, dynamic fp8 quant in groups of G, dequantise, projection with residual
add — corpus/README.md. The variants change one thing each; `expected_fused` says how many fused ops fxopt
should insert.
"""
from __future__ import annotations

import dataclasses

import torch

FMAX = {torch.float8_e4m3fn: 448.0, torch.float8_e4m3fnuz: 224.0}


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    layers: int = 2
    heads: int = 32
    head_dim: int = 128
    group: int = 128
    fp8: torch.dtype = torch.float8_e4m3fn
    quant: str = "native"          # native | per_token | opaque (vllm.rocm_aiter_group_fp8_quant)
    gate_first: bool = False       # gate applied before the norm (norm_before_gate=False)
    extra_user: bool = False       # the bf16 normed tensor also feeds the output
    spelling: str = "corpus"       # corpus | alt (amax, clamp, reshape instead of max.dim, clamp_min/max, view)
    silu: str = "div"              # div: z / (exp(-z) + 1) as Inductor decomposes it | aten: F.silu
    layout: str = "rows"           # rows: the norm on (N*H, D) | heads: on (N, H, D) (vLLM's other layout)
    expected_fused: int = 0
    # Bit-identity with the unfused compile is expected unless the graph spells silu differently from
    # the fused op's definition (z*sigmoid(z) rounds differently from z/(1+exp(-z))).
    probe: bool = False            # also return each layer's q and scale (diagnostics)

    @property
    def exact(self) -> bool:
        return self.silu == "div"

    @property
    def hidden(self) -> int:
        return self.heads * self.head_dim


def variants() -> list[Variant]:
    """The end-to-end matrix: positives (fused once per layer) first, then negatives (never fused)."""
    fnuz = torch.float8_e4m3fnuz
    pos = [
        Variant("L8_H32_e4m3fn", layers=8, expected_fused=8),
        Variant("L4_H16_e4m3fn", layers=4, heads=16, expected_fused=4),
        Variant("L4_H32_e4m3fnuz", layers=4, fp8=fnuz, expected_fused=4),
        Variant("L2_H16_e4m3fnuz", layers=2, heads=16, fp8=fnuz, expected_fused=2),
        Variant("L2_H32_opaque_quant_g128", quant="opaque", expected_fused=2),
        Variant("L2_H32_alt_spelling", spelling="alt", expected_fused=2),
        Variant("L2_H32_silu_as_aten_silu", silu="aten", expected_fused=2),
        Variant("L2_H32_heads_layout", layout="heads", expected_fused=2),
        Variant("L2_H16_D256_heads_layout", layout="heads", heads=16, head_dim=256, expected_fused=2),
        Variant("L2_H32_heads_layout_e4m3fnuz", layout="heads", fp8=fnuz, expected_fused=2),
        Variant("L2_H32_heads_layout_opaque_quant", layout="heads", quant="opaque", expected_fused=2),
    ]
    neg = [
        Variant("neg_group64", group=64),
        Variant("neg_per_token_quant", quant="per_token"),
        Variant("neg_gate_before_norm", gate_first=True),
        Variant("neg_D64_G128", heads=64, head_dim=64),
        Variant("neg_second_user", extra_user=True),
        Variant("neg_opaque_quant_g64", quant="opaque", group=64),
        Variant("neg_heads_layout_group64", layout="heads", group=64),
        Variant("neg_heads_layout_D64_G128", layout="heads", heads=64, head_dim=64),
        Variant("neg_heads_layout_second_user", layout="heads", extra_user=True),
    ]
    return pos + neg


class GatedBlock(torch.nn.Module):
    def __init__(self, v: Variant, device="cuda", seed: int = 0):
        super().__init__()
        self.v = v
        g = torch.Generator().manual_seed(seed)
        h = v.hidden
        self.proj = torch.nn.Parameter(
            (torch.randn(h, h, generator=g) * h ** -0.5).to(torch.bfloat16).to(device), requires_grad=False)
        self.norm_w = torch.nn.ParameterList([
            torch.nn.Parameter((1 + 0.1 * torch.randn(v.head_dim, generator=g)).to(torch.bfloat16).to(device),
                               requires_grad=False) for _ in range(v.layers)])

    def forward(self, x, z):
        h = x
        extra = None
        probes = []
        for i in range(self.v.layers):
            h, y, q, s = self.layer(h, z, self.norm_w[i])
            probes += [q, s]
            if self.v.extra_user:
                extra = y if extra is None else extra + y
        out = h if extra is None else h + extra
        return (out, *probes) if self.v.probe else out

    def layer(self, h, z, w):
        v = self.v
        hr = torch.relu(h)
        zr = torch.relu(z)
        if v.layout == "heads":    # (N, H, D): the norm's mean over D of each (token, head)
            x2 = hr.view(-1, v.heads, v.head_dim)
            z2 = zr.view(-1, v.heads, v.head_dim)
        elif v.spelling == "alt":
            x2 = hr.reshape(-1, v.head_dim)
            z2 = zr.reshape(-1, v.head_dim)
        else:
            x2 = hr.view(-1, v.heads, v.head_dim).view(-1, v.head_dim)
            z2 = zr.view(-1, v.heads, v.head_dim).view(-1, v.head_dim)
        y = gated_rms_norm(x2, z2, w, eps=1e-6, gate_first=v.gate_first, aten_silu=v.silu == "aten")
        y = y.view(-1, v.hidden)
        if v.quant == "opaque":
            q, s = torch.ops.vllm.rocm_aiter_group_fp8_quant(y, v.group)
        elif v.quant == "per_token":
            q, s = per_token_quant(y, v.fp8)
        else:
            q, s = group_quant(y, v.group, v.fp8, alt=v.spelling == "alt")
        deq = dequant(q, s, v.group if v.quant != "per_token" else v.hidden)
        return hr + deq @ self.proj, y, q, s


def gated_rms_norm(x, z, w, eps, gate_first=False, aten_silu=False):
    xf = x.float()
    if gate_first:
        zf = z.float()
        xf = xf * (torch.nn.functional.silu(zf) if aten_silu else zf / (torch.exp(-zf) + 1))
    n = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.float()
    if not gate_first:
        zf = z.float()
        n = n * (torch.nn.functional.silu(zf) if aten_silu else zf / (torch.exp(-zf) + 1))
    return n.to(torch.bfloat16)


def group_quant(y, group, dtype, alt=False):
    fmax = FMAX[dtype]
    k = y.shape[-1]
    yg = y.view(-1, k // group, group)
    amax = (yg.abs().amax(-1, keepdim=True) if alt else yg.abs().max(-1, keepdim=True)[0]).float()
    scale = (amax / fmax).clamp_min(1.0 / (fmax * 512))
    q = (yg / scale)
    q = q.clamp(-fmax, fmax) if alt else q.clamp_min(-fmax).clamp_max(fmax)
    return q.to(dtype).view(-1, k), scale.squeeze(-1)


def per_token_quant(y, dtype):
    fmax = FMAX[dtype]
    amax = y.abs().max(-1, keepdim=True)[0].float()
    scale = (amax / fmax).clamp_min(1.0 / (fmax * 512))
    return (y / scale).clamp_min(-fmax).clamp_max(fmax).to(dtype), scale


def dequant(q, s, group):
    k = q.shape[-1]
    return (q.to(torch.bfloat16).view(-1, k // group, group) * s.to(torch.bfloat16).unsqueeze(-1)).view(-1, k)


def inputs(v: Variant, tokens: int, device="cuda", seed: int = 1):
    g = torch.Generator(device="cpu").manual_seed(seed + tokens)
    x = torch.randn(tokens, v.hidden, generator=g).to(torch.bfloat16).to(device)
    z = torch.randn(tokens, v.hidden, generator=g).to(torch.bfloat16).to(device)
    return x, z
