#!/usr/bin/env python3
"""Generates the golden inputs of the vLLM SiLU-and-mul -> FP8 quant family (patterns/silu_mul_quant.json): small
post-grad-style graphs, written as vLLM's ActivationQuantFusionPass sees them (SiluAndMul.forward_native as
torch.compile decomposes it, spec vllm-fusions.md section 9.1; `_C.silu_and_mul` in auto_functionalized v1 and v2
form; the quant halves as in tests/golden/rms_norm_quant/, whose graph builder and quant spellings this reuses).

Each case states its intent in producer.fxopt_golden_case, the target in producer.fxopt_golden_target and the
expected number of fused regions in producer.fxopt_golden_matches (negatives: 0, with the reason in the
.expected.txt). Run: python3 tests/golden/silu_mul_quant/make_cases.py; expectations come from the golden driver in
update mode (FXOPT_UPDATE_GOLDEN=1 build/fxopt_tests -tc='golden*') and are reviewed by a person.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "rms_norm_quant"))
import make_cases as rq  # noqa: E402  (the RMSNorm family's generator: graph builder and quant spellings)
from make_cases import BF, CONV, F32, FMAX, Graph, empty, group_quant, ref, static_quant, strides, tv  # noqa: E402

rq.HERE = HERE
rq.SOURCE = "tests/golden/silu_mul_quant/make_cases.py"
INT64_MAX = 9223372036854775807


def set_hidden(h):
    """The quant half's width H (the activation's input is 2*H wide); the quant spellings read rq.H / rq.ROW."""
    rq.H, rq.ROW = h, ["s0", h]


def half_view(dtype, h):
    """meta.val of a slice of x (s0, 2h) along its last dim: (s0, h), row stride 2h."""
    return {"dtype": dtype, "shape": ["s0", h], "stride": [2 * h, 1], "device": "cuda:0"}


def silu_mul(g, x, spelling, h, dim=1, end=INT64_MAX, swapped=False, rounded=True, dt=BF):
    """SiluAndMul.forward_native(x) -> out (s0, h) in the model dtype. `swapped`: silu of the second half times the
    first (another function); `rounded=False`: the silu kept in float32 for the multiply (another rounding)."""
    row = ["s0", h]
    if spelling in ("af_v1", "af_v2"):
        buf = empty(g, row, BF)
        op = {"op": "_C.silu_and_mul.default"}
        if spelling == "af_v1":
            af = g.call("auto_functionalized", "higher_order.auto_functionalized", [op], [None, tv(BF, row)],
                        {"result": ref(buf), "input": ref(x)})
        else:
            af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2", [op], [None, tv(BF, row)],
                        {"input": ref(x), "_result_base_index": 0, "_all_bases": [ref(buf)]})
        return g.call("getitem", "_operator.getitem", [ref(af), 1], tv(BF, row))
    lo = (0, h) if not swapped else (h, end)
    hi = (h, end) if not swapped else (0, h)
    s1 = g.call("slice_1", "aten.slice.Tensor", [ref(x), dim, *lo], half_view(dt, h))
    if spelling == "silu_bf16":
        sb = g.call("silu", "aten.silu.default", [ref(s1)], tv(dt, row))
    else:
        c = g.call("convert_element_type", CONV, [ref(s1), {"dtype": F32}], tv(F32, row))
        if spelling == "native":  # x / (1 + exp(-x)), as Inductor decomposes F.silu
            ng = g.call("neg", "aten.neg.default", [ref(c)], tv(F32, row))
            ex = g.call("exp", "aten.exp.default", [ref(ng)], tv(F32, row))
            ad = g.call("add", "aten.add.Tensor", [ref(ex), 1], tv(F32, row))
            sl = g.call("div", "aten.div.Tensor", [ref(c), ref(ad)], tv(F32, row))
        elif spelling == "silu_f32":
            sl = g.call("silu", "aten.silu.default", [ref(c)], tv(F32, row))
        else:
            raise ValueError(spelling)
        if not rounded:
            s2 = g.call("slice_2", "aten.slice.Tensor", [ref(x), dim, *hi], half_view(dt, h))
            m = g.call("mul", "aten.mul.Tensor", [ref(sl), ref(s2)], tv(F32, row))
            return g.call("convert_element_type", CONV, [ref(m), {"dtype": dt}], tv(dt, row))
        sb = g.call("convert_element_type", CONV, [ref(sl), {"dtype": dt}], tv(dt, row))
    s2 = g.call("slice_2", "aten.slice.Tensor", [ref(x), dim, *hi], half_view(dt, h))
    return g.call("mul", "aten.mul.Tensor", [ref(sb), ref(s2)], tv(dt, row))


def case(name, why, target="cuda", matches=1, *, act="native", quant="static", qs="native", fp8="float8_e4m3fn",
         G=128, hidden=256, dim=1, end=INT64_MAX, swapped=False, rounded=True, xdt=BF, second_user=False, layers=1):
    set_hidden(hidden)
    g = Graph()
    xs = [g.placeholder("x" if layer == 0 else f"x_{layer}",
                        {"dtype": xdt, "shape": ["s0", 2 * hidden], "stride": strides(["s0", 2 * hidden]),
                         "device": "cuda:0"}) for layer in range(layers)]
    scale = g.placeholder("scale", tv(F32, [1, 1])) if quant == "static" else None
    for x in xs:
        y = silu_mul(g, x, act, hidden, dim, end, swapped, rounded, xdt)
        if quant == "static":
            g.outputs.append(static_quant(g, y, scale, fp8, qs))
        else:
            g.outputs.extend(group_quant(g, y, fp8, G, qs))
        if second_user:
            g.outputs.append(y)
    g.write(name, why, target, matches)


def main():
    for f in os.listdir(HERE):
        if f.endswith(".input.json"):
            os.remove(os.path.join(HERE, f))
    # static per-tensor (cuda: _C.silu_and_mul_quant)
    case("static_native", "SiLU-and-mul -> static FP8, both native: silu as x / (1 + exp(-x)) in float32, rounded, "
         "times the second half; reciprocal-multiply quant")
    case("static_silu_f32_af_v1", "aten.silu on the float32 half + AF(_C.static_scaled_fp8_quant)", act="silu_f32",
         qs="af_v1")
    case("static_silu_bf16_native", "aten.silu directly on the bf16 half (rounded once: the same values)",
         act="silu_bf16")
    case("static_af_v1_native", "AF(_C.silu_and_mul) + native static quant", act="af_v1")
    case("static_af_v2_af_v2_group_shape", "AF v2 (_C.silu_and_mul) + AF v2 static quant with the newer schema's "
         "group_shape=None", act="af_v2", qs="af_v2_group_shape")
    case("static_dim_minus1_end_2h", "the slices over dim -1 and the second one ending at 2*H (not INT64_MAX)",
         dim=-1, end=512)
    case("static_two_layers", "two MLP activations sharing one scale: two fused regions", matches=2, layers=2)
    # per-group (cuda: _C.silu_and_mul_per_block_quant; rocm-aiter: rocm_aiter_act_mul_and_fp8_group_quant)
    case("group128_native_cuda", "SiLU-and-mul -> group-128 FP8, native", quant="group")
    case("group64_af_v1_cuda", "G is a pattern variable: 64; AF(_C.silu_and_mul)", act="af_v1", quant="group", G=64)
    case("group128_native_aiter", "rocm-aiter: act_mul_and_fp8_group_quant", "rocm-aiter", quant="group")
    case("group128_af_v2_aiter_ops", "AF v2 silu_and_mul + the AITER group quant op", "rocm-aiter", act="af_v2",
         quant="group", qs="rocm_aiter")
    case("group128_native_e4m3fnuz_aiter", "MI300 format: FMAX 224", "rocm-aiter", quant="group",
         fp8="float8_e4m3fnuz")
    # negatives
    case("neg_halves_swapped", "silu of the second half times the first: another function", matches=0, swapped=True)
    case("neg_silu_not_rounded", "silu kept in float32 for the multiply (one rounding less): another function",
         matches=0, rounded=False)
    case("neg_second_user", "the activation is also a graph output", matches=0, second_user=True)
    case("neg_fp32_input", "float32 activations: the fused kernels take the bf16 model dtype", matches=0, xdt=F32,
         act="silu_f32")
    case("neg_group128_af_floor", "AF(_C.per_token_group_fp8_quant) floors amax at eps=1e-10, the fused kernel the "
         "scale at 1/(FMAX*512)", matches=0, quant="group", qs="af_v1")
    case("neg_group128_hidden320", "G = 128 does not divide the width 320", matches=0, quant="group", hidden=320)
    case("neg_group96_aiter", "G = 96: vLLM's group kernels take 64 or 128", "rocm-aiter", 0, quant="group",
         qs="rocm_aiter", G=96, hidden=384)
    case("neg_static_on_aiter", "rocm-aiter has no SiLU-and-mul + static FP8 op: reported as skipped", "rocm-aiter", 0)
    case("neg_e4m3fnuz_on_cuda", "vLLM's CUDA kernels are float8_e4m3fn only", matches=0, quant="group",
         fp8="float8_e4m3fnuz")


if __name__ == "__main__":
    main()
