#!/usr/bin/env python3
"""Generates the golden inputs of vLLM's QK-norm + RoPE fusion (patterns/qk_norm_rope.json): small post-grad-style
graphs of a Qwen3 attention layer's front (spec vllm-fusions.md sections 3.7, 5.6, 5.7): the fused QKV split, q and
k normalised per head (vLLM's RMSNorm order, native or vllm_ir) on their (N, H, D) views, and the rotary embedding
as `_C.rotary_embedding` in auto_functionalized v1 or v2 form, or decomposed (vLLM's rotary custom op off:
RotaryEmbedding.forward_static as a post-grad graph spells it; written from PyTorch's source, not captured).

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

END = 9223372036854775807  # a slice "to the end" (INT64_MAX)

rq.HERE = HERE
rq.SOURCE = "tests/golden/qk_norm_rope/make_cases.py"


def view_val(dtype, shape, stride):
    return {"dtype": dtype, "shape": shape, "stride": stride, "device": "cuda:0"}


def head_norm(g, x, w, heads, d, eps, spelling, row_stride, view_back=True):
    """Per-head RMSNorm of x (s0, heads*d) -> (s0, heads*d), on the (s0, heads, d) view (view_back=False: the
    normalised (s0, heads, d) heads, as Inductor's pointless_view_pair leaves them before a native RoPE)."""
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
    if not view_back:
        return out
    return g.call("view", "aten.view.default", [ref(out), [{"sym": "s0"}, heads * d]], tv(BF, ["s0", heads * d]))


def native_rope(g, x, cos, sin, heads, d, rot, neox, sliced, view_in, sign_swap=False):
    """RotaryEmbedding.forward_static + ApplyRotaryEmb.forward_static of one tensor, as a post-grad graph spells it
    (see python/patterns/qk_norm_rope.py, rope_heads): x is (s0, heads*d) (view_in: viewed per head here) or the
    (s0, heads, d) heads; cos/sin the shared (s0, 1, rot/2) bf16 rows. Returns the (s0, heads*d) output."""
    half = rot // 2
    shape3 = ["s0", heads, d]
    if view_in:
        x = g.call("view", "aten.view.default", [ref(x), [{"sym": "s0"}, -1, d]], tv(BF, shape3))
    cut = ["s0", heads, half]
    if sliced:
        xr = g.call("slice_1", "aten.slice.Tensor", [ref(x), 2, 0, rot], view_val(BF, ["s0", heads, rot],
                                                                                 [heads * d, d, 1]))
        xp = g.call("slice_2", "aten.slice.Tensor", [ref(x), 2, rot, END], view_val(BF, ["s0", heads, d - rot],
                                                                                   [heads * d, d, 1]))
    else:
        xr = x
    if neox:
        sp = g.call("split", "aten.split.Tensor", [ref(xr), half, -1], [view_val(BF, cut, [heads * d, d, 1])] * 2)
        x1 = g.call("getitem", "_operator.getitem", [ref(sp), 0], view_val(BF, cut, [heads * d, d, 1]))
        x2 = g.call("getitem", "_operator.getitem", [ref(sp), 1], view_val(BF, cut, [heads * d, d, 1]))
    else:
        x1 = g.call("slice_3", "aten.slice.Tensor", [ref(xr), 2, 0, END, 2], view_val(BF, cut, [heads * d, d, 2]))
        x2 = g.call("slice_4", "aten.slice.Tensor", [ref(xr), 2, 1, END, 2], view_val(BF, cut, [heads * d, d, 2]))
    c, s_ = (sin, cos) if sign_swap else (cos, sin)
    m1 = g.call("mul", "aten.mul.Tensor", [ref(x1), ref(c)], tv(BF, cut))
    m2 = g.call("mul", "aten.mul.Tensor", [ref(x2), ref(s_)], tv(BF, cut))
    o1 = g.call("sub", "aten.sub.Tensor", [ref(m1), ref(m2)], tv(BF, cut))
    m3 = g.call("mul", "aten.mul.Tensor", [ref(x2), ref(cos)], tv(BF, cut))
    m4 = g.call("mul", "aten.mul.Tensor", [ref(x1), ref(sin)], tv(BF, cut))
    o2 = g.call("add", "aten.add.Tensor", [ref(m3), ref(m4)], tv(BF, cut))
    if neox:
        r = g.call("cat", "aten.cat.default", [[ref(o1), ref(o2)], -1], tv(BF, ["s0", heads, rot]))
    else:  # stack((o1, o2), -1) decomposed, then flatten(-2)
        u1 = g.call("unsqueeze", "aten.unsqueeze.default", [ref(o1), 3], tv(BF, cut + [1]))
        u2 = g.call("unsqueeze", "aten.unsqueeze.default", [ref(o2), 3], tv(BF, cut + [1]))
        st = g.call("cat", "aten.cat.default", [[ref(u1), ref(u2)], -1], tv(BF, cut + [2]))
        r = g.call("view", "aten.view.default", [ref(st), [{"sym": "s0"}, heads, rot]], tv(BF, ["s0", heads, rot]))
    if sliced:
        r = g.call("cat", "aten.cat.default", [[ref(r), ref(xp)], -1], tv(BF, shape3))
    return g.call("view", "aten.view.default", [ref(r), [{"sym": "s0"}, heads * d]], tv(BF, ["s0", heads * d]))


def cos_sin_rows(g, cache, pos, rot, cache_dt):
    """index_select(cache, 0, positions) and its cos | sin halves (getitems of split.Tensor)."""
    half = rot // 2
    cs = g.call("index_select", "aten.index_select.default", [ref(cache), 0, ref(pos)], tv(cache_dt, ["s0", rot]))
    sp = g.call("split", "aten.split.Tensor", [ref(cs), half, -1], [view_val(cache_dt, ["s0", half], [rot, 1])] * 2)
    return [g.call("getitem", "_operator.getitem", [ref(sp), i], view_val(cache_dt, ["s0", half], [rot, 1]))
            for i in range(2)]


def cos_sin_heads(g, rows, rot, cache_dt):
    """cos.unsqueeze(-2).to(bf16), sin alike (the convert only from a float32 cache)."""
    half = rot // 2
    out = []
    for h in rows:
        u = g.call("unsqueeze", "aten.unsqueeze.default", [ref(h), -2], view_val(cache_dt, ["s0", 1, half],
                                                                                 [rot, half, 1]))
        if cache_dt != BF:
            u = g.call("convert_element_type", CONV, [ref(u), {"dtype": BF}], tv(BF, ["s0", 1, half]))
        out.append(u)
    return out


def case(name, why, target="cuda", matches=1, *, hq=4, hk=2, d=64, rot=None, eps=(1e-6, 1e-6), norms=("native",) * 2,
         rope="af_v1", neox=True, cache_dt=BF, split_dim=1, kw_dt=BF, v_size=None, second_user=False, layers=1,
         q_view_heads=None, sliced=False, views=True, k_positions=False, sign_swap=False, attn_heads=False,
         shared_cos_sin=True):
    rot = rot or d
    v_size = v_size or hk * d
    row = hq * d + hk * d + v_size
    g = Graph()
    qkvs = [g.placeholder("qkv" if i == 0 else f"qkv_{i}", tv(BF, ["s0", row])) for i in range(layers)]
    qw = g.placeholder("q_weight", tv(BF, [d]))
    kw = g.placeholder("k_weight" + ("_f32" if kw_dt == F32 else ""), tv(kw_dt, [d]))
    pos = g.placeholder("positions", tv("int64", ["s0"]))
    pos_k = g.placeholder("positions_k", tv("int64", ["s0"])) if k_positions else pos
    cache = g.placeholder("cos_sin_cache", tv(cache_dt, [128, rot]))
    for qkv in qkvs:
        sizes = [hq * d, hk * d, v_size]
        parts = g.call("split_with_sizes", "aten.split_with_sizes.default", [ref(qkv), sizes, split_dim],
                       [view_val(BF, ["s0", s], [row, 1]) for s in sizes])
        q, k, v = (g.call("getitem", "_operator.getitem", [ref(parts), i], view_val(BF, ["s0", s], [row, 1]))
                   for i, s in enumerate(sizes))
        qh = q_view_heads or hq
        view_back = rope != "native" or views
        qn = head_norm(g, q, qw, qh, hq * d // qh, eps[0], norms[0], row, view_back)
        kn = head_norm(g, k, kw, hk, d, eps[1], norms[1], row, view_back)
        if rope == "native":
            rows = cos_sin_rows(g, cache, pos, rot, cache_dt)
            cos, sin = cos_sin_heads(g, rows, rot, cache_dt)
            qr = native_rope(g, qn, cos, sin, hq, d, rot, neox, sliced, views, sign_swap)
            if k_positions:
                rows = cos_sin_rows(g, cache, pos_k, rot, cache_dt)
            if k_positions or not shared_cos_sin:  # k's own unsqueezes (an inference graph without CSE)
                cos, sin = cos_sin_heads(g, rows, rot, cache_dt)
            kr = native_rope(g, kn, cos, sin, hk, d, rot, neox, sliced, views)
        else:
            common = {"positions": ref(pos), "head_size": d, "cos_sin_cache": ref(cache), "is_neox": neox}
            vals = [None, tv(BF, ["s0", hq * d]), tv(BF, ["s0", hk * d])]
            if rope == "af_v2":
                af = g.call("auto_functionalized_v2", "higher_order.auto_functionalized_v2",
                            [{"op": "_C.rotary_embedding.default"}], vals,
                            dict(common, _query_base_index=0, _key_base_index=1, _all_bases=[ref(qn), ref(kn)]))
            else:
                newer = {"rope_dim_offset": 0, "inverse": False} if rope == "af_v1_newer" else {}
                af = g.call("auto_functionalized", "higher_order.auto_functionalized",
                            [{"op": "_C.rotary_embedding.default"}], vals,
                            dict(common, query=ref(qn), key=ref(kn), **newer))
            qr = g.call("getitem", "_operator.getitem", [ref(af), 1], tv(BF, ["s0", hq * d]))
            kr = g.call("getitem", "_operator.getitem", [ref(af), 2], tv(BF, ["s0", hk * d]))
        if attn_heads:  # vLLM's Attention.forward: query/key/value.view(-1, heads, head_size)
            qr, kr, v = (g.call("view", "aten.view.default", [ref(t), [-1, h, d]], view_val(BF, ["s0", h, d], st))
                         for t, h, st in ((qr, hq, [hq * d, d, 1]), (kr, hk, [hk * d, d, 1]), (v, hk, [row, d, 1])))
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
    case("native_rope_neox", "vLLM's rotary custom op off: the native RotaryEmbedding.forward_static chain (neox, "
         "whole heads: no slices), native norms, the views between norm and rotation folded by normalisation",
         rope="native")
    case("native_rope_vllm_ir_f32_cache", "native neox rotation after vllm_ir norms, a float32 cache (cos/sin "
         "converted to bf16), no views between norm and rotation (Inductor's pointless_view_pair removed them)",
         rope="native", norms=("vllm_ir", "vllm_ir"), cache_dt=F32, views=False)
    case("native_rope_neox_sliced", "native neox rotation with the rotated part and the empty pass part sliced and "
         "concatenated (a trace without Inductor's cat decomposition), norms vllm_ir with 4 arguments",
         rope="native", sliced=True, norms=("vllm_ir_4arg", "native"))
    case("native_rope_gptj", "native gptj rotation: pairs sliced with step 2, stack decomposed to unsqueeze + cat",
         rope="native", neox=False)
    case("native_rope_gptj_sliced_f32_cache_gqa", "native gptj rotation, sliced, a float32 cache, 8 query heads "
         "and one kv head", rope="native", neox=False, sliced=True, cache_dt=F32, hq=8, hk=1)
    case("native_rope_attn_heads", "native neox rotation whose q, k (and v) the attention views per head: the views "
         "fold with the rotation's view back, the rotated heads are the region's outputs", rope="native",
         attn_heads=True)
    case("native_rope_gptj_attn_heads_f32_cache", "native gptj rotation, a float32 cache, q, k and v viewed per head "
         "by the attention", rope="native", neox=False, cache_dt=F32, attn_heads=True)
    case("native_rope_unshared_attn_heads", "native neox rotation, each rotation with its own cos/sin unsqueezes "
         "(an inference graph without CSE), q, k, v viewed per head", rope="native", shared_cos_sin=False,
         attn_heads=True)
    case("native_rope_gptj_unshared_f32_cache", "native gptj rotation, a float32 cache, each rotation with its own "
         "cos/sin unsqueezes and converts", rope="native", neox=False, cache_dt=F32, shared_cos_sin=False)
    case("af_v1_attn_heads", "AF(_C.rotary_embedding) v1 whose results the attention views per head", attn_heads=True)
    case("neg_native_two_positions", "q and k rotated at different positions (two index_selects): the fused op "
         "takes one position per token", matches=0, rope="native", k_positions=True)
    case("neg_native_sign_swapped", "q rotated with o1 = x1*sin - x2*cos (cos and sin swapped in the difference): "
         "another function", matches=0, rope="native", sign_swap=True)
    case("neg_native_partial_rotary", "native rotation of 32 of 64 dims (partial rotary: the pass part sliced and "
         "concatenated): the fused op rotates whole heads", matches=0, rope="native", rot=32, sliced=True)
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
