#!/usr/bin/env python3
"""Generates the golden inputs of vLLM's QK-norm + RoPE fusion (patterns/qk_norm_rope.json): small post-grad-style
graphs of a Qwen3 attention layer's front (spec vllm-fusions.md sections 3.7, 5.6, 5.7): the fused QKV split, q and
k normalised per head (vLLM's RMSNorm order, native or vllm_ir) on their (N, H, D) views, and the rotary embedding
as `_C.rotary_embedding` in auto_functionalized v1 or v2 form.

Each case states its intent in producer.fxopt_golden_case, the target in producer.fxopt_golden_target and the
expected number of fused regions in producer.fxopt_golden_matches (negatives: 0, with the reason in the
.expected.txt). Run: python3 tests/golden/qk_norm_rope/make_cases.py; expectations come from the golden driver in
update mode (FXOPT_UPDATE_GOLDEN=1 build/fxopt_tests -tc='golden*') and are reviewed by a person.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "rms_norm_quant"))
import make_cases as rq  # noqa: E402  (the RMSNorm family's generator: the graph builder)
from make_cases import BF, CONV, F32, Graph, ref, strides, tv  # noqa: E402

rq.HERE = HERE
rq.SOURCE = "tests/golden/qk_norm_rope/make_cases.py"


def view_val(dtype, shape, stride):
    return {"dtype": dtype, "shape": shape, "stride": stride, "device": "cuda:0"}


def head_norm(g, x, w, heads, d, eps, spelling, row_stride):
    """Per-head RMSNorm of x (s0, heads*d) -> (s0, heads*d), on the (s0, heads, d) view."""
    shape3 = ["s0", heads, d]
    xh = g.call("view", "aten.view.default", [ref(x), [{"sym": "s0"}, heads, d]],
                view_val(BF, shape3, [row_stride, d, 1]))
    if spelling == "native":
        c0 = g.call("convert_element_type", CONV, [ref(xh), {"dtype": F32}], tv(F32, shape3))
        p = g.call("pow_1", "aten.pow.Tensor_Scalar", [ref(c0), 2], tv(F32, shape3))
        m = g.call("mean", "aten.mean.dim", [ref(p), [-1], True], tv(F32, ["s0", heads, 1]))
        a = g.call("add", "aten.add.Tensor", [ref(m), eps], tv(F32, ["s0", heads, 1]))
        r = g.call("rsqrt", "aten.rsqrt.default", [ref(a)], tv(F32, ["s0", heads, 1]))
        y = g.call("mul", "aten.mul.Tensor", [ref(c0), ref(r)], tv(F32, shape3))
        yb = g.call("convert_element_type", CONV, [ref(y), {"dtype": BF}], tv(BF, shape3))
        wdt = "float32" if w.endswith("_f32") else BF
        out = g.call("mul", "aten.mul.Tensor", [ref(yb), ref(w)], tv(BF if wdt == BF else F32, shape3))
    else:
        args = [ref(xh), ref(w), eps] + ([None] if spelling == "vllm_ir_4arg" else [])
        out = g.call("rms_norm", "vllm_ir.rms_norm.default", args, tv(BF, shape3))
    return g.call("view", "aten.view.default", [ref(out), [{"sym": "s0"}, heads * d]], tv(BF, ["s0", heads * d]))


def case(name, why, target="cuda", matches=1, *, hq=4, hk=2, d=64, rot=None, eps=(1e-6, 1e-6), norms=("native",) * 2,
         rope="af_v1", neox=True, cache_dt=BF, split_dim=1, kw_dt=BF, v_size=None, second_user=False, layers=1,
         q_view_heads=None):
    rot = rot or d
    v_size = v_size or hk * d
    row = hq * d + hk * d + v_size
    g = Graph()
    qkvs = [g.placeholder("qkv" if i == 0 else f"qkv_{i}", tv(BF, ["s0", row])) for i in range(layers)]
    qw = g.placeholder("q_weight", tv(BF, [d]))
    kw = g.placeholder("k_weight" + ("_f32" if kw_dt == F32 else ""), tv(kw_dt, [d]))
    pos = g.placeholder("positions", tv("int64", ["s0"]))
    cache = g.placeholder("cos_sin_cache", tv(cache_dt, [128, rot]))
    for qkv in qkvs:
        sizes = [hq * d, hk * d, v_size]
        parts = g.call("split_with_sizes", "aten.split_with_sizes.default", [ref(qkv), sizes, split_dim],
                       [view_val(BF, ["s0", s], [row, 1]) for s in sizes])
        q, k, v = (g.call("getitem", "_operator.getitem", [ref(parts), i], view_val(BF, ["s0", s], [row, 1]))
                   for i, s in enumerate(sizes))
        qh = q_view_heads or hq
        qn = head_norm(g, q, qw, qh, hq * d // qh, eps[0], norms[0], row)
        kn = head_norm(g, k, kw, hk, d, eps[1], norms[1], row)
        common = {"positions": ref(pos), "head_size": d, "cos_sin_cache": ref(cache), "is_neox": neox}
        vals = [None, tv(BF, ["s0", hq * d]), tv(BF, ["s0", hk * d])]
        if rope == "af_v2":
            af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2",
                        [{"op": "_C.rotary_embedding.default"}], vals,
                        dict(common, _query_base_index=0, _key_base_index=1, _all_bases=[ref(qn), ref(kn)]))
        else:
            newer = {"rope_dim_offset": 0, "inverse": False} if rope == "af_v1_newer" else {}
            af = g.call("auto_functionalized", "higher_order.auto_functionalized", [{"op": "_C.rotary_embedding.default"}],
                        vals, dict(common, query=ref(qn), key=ref(kn), **newer))
        qr = g.call("getitem", "_operator.getitem", [ref(af), 1], tv(BF, ["s0", hq * d]))
        kr = g.call("getitem", "_operator.getitem", [ref(af), 2], tv(BF, ["s0", hk * d]))
        g.outputs += [qr, kr, v]
        if second_user:
            g.outputs.append(qn)
    g.write(name, why, target, matches)


def main():
    for f in os.listdir(HERE):
        if f.endswith(".input.json"):
            os.remove(os.path.join(HERE, f))
    case("native_af_v1", "native per-head norms of q and k, AF(_C.rotary_embedding) v1, neox, bf16 cache")
    case("vllm_ir_af_v2", "vllm_ir.rms_norm on the per-head views, the rotary embedding as auto_functionalized_v2",
         norms=("vllm_ir", "vllm_ir"), rope="af_v2")
    case("mixed_4arg_newer_f32_cache", "native q norm, vllm_ir k norm with variance_size=None, the newer rotary "
         "schema's defaults recorded, a float32 cos/sin cache", norms=("native", "vllm_ir_4arg"), rope="af_v1_newer",
         cache_dt=F32)
    case("gptj_native", "gptj (interleaved pairs) rotary embedding", neox=False)
    case("split_dim_minus1_eps_1e-5", "the split over dim -1, eps 1e-5", split_dim=-1, eps=(1e-5, 1e-5))
    case("gqa_hq8_hk1", "grouped-query attention: 8 query heads, one kv head", hq=8, hk=1)
    case("two_layers", "two attention layers sharing weights, positions and cache: two fused regions", matches=2,
         layers=2)
    case("neg_on_aiter", "rocm-aiter has no fused QK-norm + RoPE op: reported as skipped", "rocm-aiter", 0)
    case("neg_eps_differs", "q and k normalised with different eps: one fused op takes one eps", matches=0,
         eps=(1e-6, 1e-5))
    case("neg_partial_rotary", "the cache rotates 32 of 64 dims (partial rotary): the fused op rotates whole heads",
         matches=0, rot=32)
    case("neg_fp32_k_weight", "a float32 k_norm weight with bf16 activations", matches=0, kw_dt=F32)
    case("neg_normed_q_second_user", "the normalised q is also a graph output", matches=0, second_user=True)
    case("neg_q_heads_of_32", "q normalised over heads of 32 while the rotary embedding takes heads of 64", matches=0,
         q_view_heads=8)
    case("neg_v_size", "v is not as wide as k (the fused op takes num_heads_v = num_heads_k)", matches=0, v_size=64)


if __name__ == "__main__":
    main()
