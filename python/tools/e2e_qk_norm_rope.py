"""End-to-end check of vLLM's QK-norm + RoPE family with real torch.compile: Qwen3-style attention fronts built from
vLLM's native forms (python/tests/vllm_native.py QkNormRope: fused QKV projection, split, per-head RMSNorm of q and
k, rotary embedding, a cheap stand-in for the attention on the flat q, k, v or on their per-head views as vLLM's
Attention.forward makes them; bf16, token dim dynamic, positions made inside forward), compiled without and with
fxopt's post-grad hook (`--target cuda`: _C.fused_qk_norm_rope in auto_functionalized form, served by fxopt.ops's
reference registration where vLLM is absent). The rotary embedding is the native RotaryEmbedding.forward_static
chain (families qk_norm_rope_native and, per head, qk_norm_rope_native_heads, whose post-grad spelling was written
from PyTorch's source: this script is its first check against a real graph; the post-grad graphs are written to
--out) or `_C.rotary_embedding` (spelling "custom", family qk_norm_rope). Per variant: the fused ops in the
post-grad graph against the expected counts (a negative with the custom op expects its L unfused
`_C.rotary_embedding` ops, which the count of `_C` ops includes), outputs bit-identical (Inductor's
emulate_precision_casts on in both compiles), negatives left untouched. The driver is e2e_rms_norm_quant.py's.
Prints a table, writes qk_norm_rope_e2e.json; exit 1 on a failure.

    python3 python/tools/e2e_qk_norm_rope.py --binary build/fxopt --out $OUT/e2e_qk_norm_rope
    python3 python/tools/e2e_qk_norm_rope.py --table $OUT/e2e_qk_norm_rope/qk_norm_rope_e2e.json
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_rms_norm_quant as e2e  # noqa: E402  (puts python/ and python/tests on sys.path)

FUSED = "_C.fused_qk_norm_rope.default"
ROTARY = "_C.rotary_embedding.default"
PART1 = 7  # variants in --part 1


def variants():
    import torch

    from vllm_native import Variant
    L = 3
    qk = dict(block="qk", layers=L)
    fused = ((FUSED, L),)
    unfused = ((ROTARY, L),)  # the custom op left in place
    return [
        # part 1: native and custom-op RoPE, neox and gptj, grouped-query heads, a negative target
        Variant("native_neox_cuda", "none", expected=fused, **qk),
        Variant("custom_neox_cuda", "none", spelling="custom", expected=fused, **qk),
        Variant("native_gptj_cuda", "none", neox=False, expected=fused, **qk),
        Variant("custom_gptj_cuda", "none", spelling="custom", neox=False, expected=fused, **qk),
        Variant("native_gqa_8_1_cuda", "none", heads_k=1, expected=fused, **qk),
        Variant("native_neox_attn_heads_cuda", "none", attn_heads=True, expected=fused, **qk),
        Variant("neg_native_on_aiter", "none", target="rocm-aiter", **qk),   # AITER: no fused QK-norm + RoPE op
        # part 2: q, k, v viewed per head by the attention, a float32 cache, partial rotary, more negatives
        Variant("custom_neox_attn_heads_cuda", "none", spelling="custom", attn_heads=True, expected=fused, **qk),
        Variant("native_gptj_attn_heads_cuda", "none", neox=False, attn_heads=True, expected=fused, **qk),
        Variant("native_neox_f32_cache_cuda", "none", cache_dtype=torch.float32, expected=fused, **qk),
        Variant("custom_neox_f32_cache_cuda", "none", spelling="custom", cache_dtype=torch.float32, expected=fused,
                **qk),
        Variant("neg_native_partial_rotary", "none", rotary_dim=64, **qk),   # the fused op rotates whole heads
        Variant("neg_custom_partial_rotary", "none", spelling="custom", rotary_dim=64, expected=unfused, **qk),
        Variant("neg_custom_on_aiter", "none", spelling="custom", target="rocm-aiter", expected=unfused, **qk),
    ]


if __name__ == "__main__":
    sys.exit(e2e.main(variants=variants, part1=PART1, summary_name="qk_norm_rope_e2e.json", doc=__doc__))
