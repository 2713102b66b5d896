"""End-to-end check of the vLLM SiLU-and-mul -> FP8 family with real torch.compile: MLPs built from vLLM's native
forms (python/tests/vllm_native.py Mlp: gate_up projection, SiluAndMul, FP8 quant of the activation, down projection,
bf16, token dim dynamic), compiled without and with fxopt's post-grad hook (`--target cuda`: _C.silu_and_mul_quant /
_C.silu_and_mul_per_block_quant in auto_functionalized form, served by fxopt.ops's reference registrations where vLLM
is absent; `--target rocm-aiter`: vllm.rocm_aiter_act_mul_and_fp8_group_quant). Per variant: the fused ops in the
post-grad graph against the expected counts, outputs bit-identical (Inductor's emulate_precision_casts on in both
compiles), negatives left untouched. The driver is e2e_rms_norm_quant.py's. Prints a table, writes
silu_mul_quant_e2e.json; exit 1 on a failure.

    python3 python/tools/e2e_silu_mul_quant.py --binary build/fxopt --out $OUT/e2e_silu_mul_quant
    python3 python/tools/e2e_silu_mul_quant.py --table $OUT/e2e_silu_mul_quant/silu_mul_quant_e2e.json
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_rms_norm_quant as e2e  # noqa: E402  (puts python/ and python/tests on sys.path)

C = "_C.{}.default"
A = "vllm.{}.default"
PART1 = 6  # variants in --part 1


def variants():
    import torch

    from vllm_native import Variant
    fnuz = torch.float8_e4m3fnuz
    L = 3
    act = dict(block="act", layers=L)
    return [
        # part 1: each target's positives
        Variant("static_e4m3fn_cuda", "static", expected=((C.format("silu_and_mul_quant"), L),), **act),
        Variant("group128_e4m3fn_cuda", "group", expected=((C.format("silu_and_mul_per_block_quant"), L),), **act),
        Variant("static_custom_ops_cuda", "static", spelling="custom",
                expected=((C.format("silu_and_mul_quant"), L),), **act),
        Variant("group128_custom_ops_cuda", "group", spelling="custom",
                expected=((C.format("silu_and_mul_per_block_quant"), L),), **act),
        Variant("group128_e4m3fnuz_aiter", "group", fp8=fnuz, target="rocm-aiter",
                expected=((A.format("rocm_aiter_act_mul_and_fp8_group_quant"), L),), **act),
        Variant("group128_e4m3fn_aiter", "group", target="rocm-aiter",
                expected=((A.format("rocm_aiter_act_mul_and_fp8_group_quant"), L),), **act),
        # part 2: other sizes, G = 64, negatives
        Variant("group64_i2048_cuda", "group", group=64, inter=2048,
                expected=((C.format("silu_and_mul_per_block_quant"), L),), **act),
        Variant("neg_group128_i1088", "group", inter=1088, **act),     # 128 does not divide 1088 (vLLM pads)
        Variant("neg_e4m3fnuz_on_cuda", "static", fp8=fnuz, **act),
        Variant("neg_static_on_aiter", "static", target="rocm-aiter", **act),  # AITER has no static act-mul op
    ]


if __name__ == "__main__":
    sys.exit(e2e.main(variants=variants, part1=PART1, summary_name="silu_mul_quant_e2e.json", doc=__doc__))
