"""vLLM's QK-norm + RoPE fusion (QKNormRoPEFusionPass, every Qwen3 attention layer) in Python: the built-in
patterns/qk_norm_rope.json.

`q, k, v = split_with_sizes(qkv, [HQ*D, HK*D, HK*D], -1)`; q and k viewed per head `(N, H, D)`, RMSNorm over D with
their weights (vLLM's order: float32 variance, rounded to the model dtype, then the weight multiply), viewed back;
rotary embedding of q and k (`_C.rotary_embedding`, in auto_functionalized v1/v2 form: family `qk_norm_rope`) ⇒
`_C.fused_qk_norm_rope` on qkv, split again. Family `qk_norm_rope_native`: the same with vLLM's rotary custom op
off, RotaryEmbedding.forward_static decomposed on the normalised heads (fragment `rope_heads`; its post-grad spelling
is written from PyTorch's source and NOT yet checked against a real torch.compile graph: see the comment above it);
`qk_norm_rope_native_heads`: the same with the rotated q and k left per head (`rope_to_heads`: the attention's view
per head folded with the view back), the replacement's q and k viewed per head.
The per-head norms are one fragment function instantiated for q (HQ heads) and k (HK heads), viewed back to
(N, H*D) or not. tests/golden/qk_norm_rope/make_patterns.py writes the built-in file from these definitions.
"""
try:
    import torch
except ImportError:  # the data parts are torch-free (make_patterns.py); tracing needs torch
    torch = None

from fxopt.family import Family, Fragment, auto_functionalized as af, getitem as gi, node as n
from fxopt.pattern_doc import dtype_var, int_var, sym_dim

EXAMPLES = {"N": sym_dim(8), "HQ": int_var(4), "HK": int_var(2), "D": int_var(64), "P": int_var(128), "eps": 1e-6,
            "MD": dtype_var("bfloat16"), "CD": dtype_var("bfloat16", "float32")}
QKV = "MD [N, (HQ+2*HK)*D]"

# ---------------------------------------------------------------------------------------------------------
# Fragments

qkv_split = Fragment(
    "qkv_split", {"qkv": QKV}, {"q": "MD [N, HQ*D]", "k": "MD [N, HK*D]", "v": "MD [N, HK*D]"},
    "the fused QKV projection split into q, k and v along its last dim")
qkv_split.spelling("split_with_sizes", vars={"SD": {"type": "int", "one_of": [1, -1],
                                                    "doc": "the split's dim: the last of the 2-d qkv"}}, root="s",
                   nodes=[n("s", "aten.split_with_sizes.default", ["%qkv", ["$HQ*D", "$HK*D", "$HK*D"], "$SD"]),
                          gi("q", "s", 0), gi("k", "s", 1), gi("v", "s", 2)])


def head_norm(name: str, heads: str, view_back: bool = True) -> Fragment:
    """RMSNorm of each head of x (N, H*D) over D, as vLLM's q_norm / k_norm compute it (RMSNorm.forward_static on
    the (N, H, D) view: float32 variance, rsqrt(mean + eps), rounded to the model dtype, times the weight).
    `view_back=False`: the output is the normalised heads (N, H, D) themselves (the native RoPE chain views them
    per head again, and normalisation folds the two views into none)."""
    shape = f"[N, {heads}*D]" if view_back else f"[N, {heads}, D]"
    f = Fragment(name, {"x": f"MD [N, {heads}*D]", "w": "MD [D]"}, {"out": f"MD {shape}"},
                 f"per-head RMSNorm of {heads} heads of D (vLLM order), on the (N, {heads}, D) view"
                 + ("" if view_back else ", not viewed back"))
    view = n("xh", "aten.reshape.default", ["%x", ["$N", f"${heads}", "$D"]])

    def out_of(last):
        return {"out": "out" if view_back else last}

    def back(src):  # the nodes after the norm: the view back to (N, H*D), or none
        return [n("out", "aten.reshape.default", [f"%{src}", ["$N", f"${heads}*D"]])] if view_back else []
    f.spelling("native", doc="RMSNorm.forward_static's chain on the per-head view",
               nodes=[view, n("c0", "prims.convert_element_type.default", ["%xh", {"dtype": "float32"}]),
                      n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]), n("ms", "aten.mean.dim", ["%sq", [-1], True]),
                      n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]), n("rstd", "aten.rsqrt.default", ["%ms_eps"]),
                      n("xn", "aten.mul.Tensor", ["%c0", "%rstd"]),
                      n("xb", "prims.convert_element_type.default", ["%xn", {"dtype": "$MD"}]),
                      n("xw", "aten.mul.Tensor", ["%xb", "%w"])] + back("xw"), outputs=out_of("xw"))
    f.spelling("vllm_ir", nodes=[view, n("nrm", "vllm_ir.rms_norm.default", ["%xh", "%w", "$eps"])] + back("nrm"),
               outputs=out_of("nrm"))
    f.spelling("vllm_ir_4arg", doc="the default variance_size=None spelled out (vLLM PR #41767)",
               nodes=[view, n("nrm", "vllm_ir.rms_norm.default", ["%xh", "%w", "$eps", None])] + back("nrm"),
               outputs=out_of("nrm"))
    return f


q_norm = head_norm("q_head_norm", "HQ")
k_norm = head_norm("k_head_norm", "HK")

rope = Fragment(
    "rope", {"pos": "int64 [N]", "q": "MD [N, HQ*D]", "k": "MD [N, HK*D]", "cache": "CD [P, D]"},
    {"q_rot": "MD [N, HQ*D]", "k_rot": "MD [N, HK*D]"},
    "rotary embedding of q and k over whole heads of D (RotaryEmbedding.forward_static: the cache row of each "
    "position, cos | sin halves, rotated in the model dtype; neox halves or gptj pairs)")
ROPE_ARGS = {"positions": "%pos", "head_size": "$D", "cos_sin_cache": "%cache", "is_neox": "$NEOX"}
ROPE_VARS = {"NEOX": {"type": "bool", "doc": "neox halves (true) or gptj interleaved pairs (false)"}}
rope.spelling("af_v1", doc="auto_functionalized(_C.rotary_embedding): query and key rotated in place", vars=ROPE_VARS,
              root="af",
              nodes=[af("af", "_C.rotary_embedding.default", dict(ROPE_ARGS, query="%q", key="%k")),
                     gi("q_rot", "af", 1), gi("k_rot", "af", 2)])
rope.spelling("af_v1_newer", doc="the newer schema's rope_dim_offset=0, inverse=False recorded", vars=ROPE_VARS,
              root="af",
              nodes=[af("af", "_C.rotary_embedding.default",
                        dict(ROPE_ARGS, query="%q", key="%k", rope_dim_offset=0, inverse=False)),
                     gi("q_rot", "af", 1), gi("k_rot", "af", 2)])
rope.spelling("af_v2", vars=ROPE_VARS, root="af",
              nodes=[af("af", "_C.rotary_embedding.default",
                        dict(ROPE_ARGS, _query_base_index=0, _key_base_index=1, _all_bases=["%q", "%k"]), v2=True),
                     gi("q_rot", "af", 1), gi("k_rot", "af", 2)])


# The native chain: RotaryEmbedding.forward_static + ApplyRotaryEmb.forward_static (spec 5.6) as a post-grad graph
# spells it once vLLM's rotary custom op is off. NOT verified against a real torch.compile graph (no PyTorch in the
# session that wrote it): the spellings follow PyTorch's source. `positions.flatten()` of a 1-d tensor is no node;
# `cache.index_select(0, positions)`; `chunk(2, -1)` of an even dim is `split.Tensor(x, D/2, -1)` + getitems;
# `cos.unsqueeze(-2).to(x.dtype)` (a convert only for a float32 cache) once per ApplyRotaryEmb call: spellings
# `_unshared`; after a CSE pass (AOTAutograd's partitioner runs one; an inference graph may not have had it) q's and
# k's are one node, shared by the two rotations: the other spellings); `x.view(T, -1, D)` is folded with the
# norm's view back into nothing by fxopt's normalisation, so the rotation reads the normalised (N, H, D) heads;
# neox halves are `split.Tensor(x, D/2, -1)`, gptj pairs `slice(x, 2, 0|1, END, 2)` and `stack((o1, o2), -1)` is
# decomposed (torch._refs.stack: `cat([unsqueeze(o1, 3), unsqueeze(o2, 3)], -1)`), its `flatten(-2)` view folded
# into the view back to (N, H*D). Whole heads (rot == D): `x[..., :D]` returns x itself (PyTorch's indexing skips a
# full slice) and Inductor's cat decomposition drops the empty pass part `x[..., D:]` (the clone it leaves is a
# no-op removed before vLLM's passes): spellings without slices. The `_sliced` spellings keep both slices and the
# cat with the (empty) pass part, as a make_fx trace without Inductor's decompositions records them.
rope_heads = Fragment(
    "rope_heads", {"pos": "int64 [N]", "q": "MD [N, HQ, D]", "k": "MD [N, HK, D]", "cache": "CD [P, D]"},
    {"q_rot": "MD [N, HQ*D]", "k_rot": "MD [N, HK*D]"},
    "rotary embedding of q and k given per head (N, H, D), decomposed (RotaryEmbedding.forward_static + "
    "ApplyRotaryEmb.forward_static: bf16 products, difference and sum; neox halves or gptj pairs), viewed back to "
    "(N, H*D)")


def rope_native_nodes(neox: bool, sliced: bool, f32_cache: bool, view_back: bool = True,
                      shared: bool = True) -> tuple:
    """The nodes of one native spelling (the cos/sin rows, then the rotation of q and of k) and its outputs: the
    rotated q and k viewed back to (N, H*D), or (view_back=False) left as heads (N, H, D), as they are when the
    attention's own per-head view folds with the view back. `shared`: one unsqueeze (and convert) of cos and of sin
    for both rotations (a graph after CSE, as AOTAutograd's partitioner runs it); else each ApplyRotaryEmb call's own,
    as an inference graph without CSE keeps them."""
    nodes = [n("cs", "aten.index_select.default", ["%cache", 0, "%pos"],
               val="float32 [N, D]" if f32_cache else "MD [N, D]"),
             n("csp", "aten.split.Tensor", ["%cs", "$D//2", -1]), gi("cos0", "csp", 0), gi("sin0", "csp", 1)]

    def cos_sin(p):  # cos.unsqueeze(-2).to(x.dtype), sin alike: their nodes (names prefixed by p) and names
        out = [n(f"{p}cos1", "aten.unsqueeze.default", ["%cos0", -2]),
               n(f"{p}sin1", "aten.unsqueeze.default", ["%sin0", -2])]
        if not f32_cache:
            return out, f"{p}cos1", f"{p}sin1"
        return out + [n(f"{p}cos", "prims.convert_element_type.default", [f"%{p}cos1", {"dtype": "$MD"}]),
                      n(f"{p}sin", "prims.convert_element_type.default", [f"%{p}sin1", {"dtype": "$MD"}])], \
            f"{p}cos", f"{p}sin"
    if shared:
        more, cos, sin = cos_sin("")
        nodes += more
    outputs = {}
    for t, heads in (("q", "HQ"), ("k", "HK")):
        if not shared:
            more, cos, sin = cos_sin(f"{t}_")
            nodes += more
        src = f"%{t}"
        if sliced:
            nodes += [n(f"{t}_r", "aten.slice.Tensor", [src, 2, 0, "$D"]),
                      n(f"{t}_pass", "aten.slice.Tensor", [src, 2, "$D", "$END"])]
            src = f"%{t}_r"
        if neox:
            nodes += [n(f"{t}_xs", "aten.split.Tensor", [src, "$D//2", -1]), gi(f"{t}_x1", f"{t}_xs", 0),
                      gi(f"{t}_x2", f"{t}_xs", 1)]
        else:
            nodes += [n(f"{t}_x1", "aten.slice.Tensor", [src, 2, 0, "$END", 2]),
                      n(f"{t}_x2", "aten.slice.Tensor", [src, 2, 1, "$END", 2])]
        nodes += [n(f"{t}_m1", "aten.mul.Tensor", [f"%{t}_x1", f"%{cos}"]),
                  n(f"{t}_m2", "aten.mul.Tensor", [f"%{t}_x2", f"%{sin}"]),
                  n(f"{t}_o1", "aten.sub.Tensor", [f"%{t}_m1", f"%{t}_m2"]),
                  n(f"{t}_m3", "aten.mul.Tensor", [f"%{t}_x2", f"%{cos}"]),
                  n(f"{t}_m4", "aten.mul.Tensor", [f"%{t}_x1", f"%{sin}"]),
                  n(f"{t}_o2", "aten.add.Tensor", [f"%{t}_m3", f"%{t}_m4"])]
        if neox:
            nodes.append(n(f"{t}_cat", "aten.cat.default", [[f"%{t}_o1", f"%{t}_o2"], -1]))
        else:
            nodes += [n(f"{t}_u1", "aten.unsqueeze.default", [f"%{t}_o1", 3]),
                      n(f"{t}_u2", "aten.unsqueeze.default", [f"%{t}_o2", 3]),
                      n(f"{t}_cat", "aten.cat.default", [[f"%{t}_u1", f"%{t}_u2"], -1])]
        last = f"{t}_cat"
        if not neox and (sliced or not view_back):  # flatten(-2) of the stacked pairs
            nodes.append(n(f"{t}_flat", "aten.reshape.default", [f"%{last}", ["$N", f"${heads}", "$D"]]))
            last = f"{t}_flat"
        if sliced:
            nodes.append(n(f"{t}_full", "aten.cat.default", [[f"%{last}", f"%{t}_pass"], -1]))
            last = f"{t}_full"
        if view_back:
            nodes.append(n(f"{t}_rot", "aten.reshape.default", [f"%{last}", ["$N", f"${heads}*D"]]))
            last = f"{t}_rot"
        outputs[f"{t}_rot"] = last
    return nodes, outputs


rope_to_heads = Fragment(
    "rope_to_heads", {"pos": "int64 [N]", "q": "MD [N, HQ, D]", "k": "MD [N, HK, D]", "cache": "CD [P, D]"},
    {"q_rot": "MD [N, HQ, D]", "k_rot": "MD [N, HK, D]"},
    "the native rotary embedding of rope_heads, its results left per head (N, H, D): the view back to (N, H*D) and "
    "the attention's view per head (vLLM's Attention.forward) fold into nothing")

for _frag, _view_back in ((rope_heads, True), (rope_to_heads, False)):
    for _shared in (True, False):
        for _neox in (True, False):
            for _sliced in (False, True):
                for _f32 in (False, True):
                    _vars = {"NEOX": {"type": "bool", "value": _neox}}
                    if _sliced or not _neox:
                        _vars["END"] = {"type": "int", "doc": "a slice's end: INT64_MAX (to the end) or any value >= D"}
                    _nodes, _outs = rope_native_nodes(_neox, _sliced, _f32, _view_back, _shared)
                    _frag.spelling(
                        ("neox" if _neox else "gptj") + ("_sliced" if _sliced else "") + ("_f32_cache" if _f32 else "")
                        + ("" if _shared else "_unshared"),
                        doc=("neox halves" if _neox else "gptj pairs") + (
                            ", the rotated part and the empty pass part sliced, then concatenated" if _sliced else "")
                        + (", a float32 cache (cos/sin converted to the model dtype)" if _f32 else ", a bf16 cache")
                        + ("" if _shared else ", cos/sin unsqueezed (and converted) once per rotation (no CSE)"),
                        vars=_vars, conditions=["D % 2 == 0"] + (["END >= D"] if "END" in _vars else []),
                        root="q_cat", nodes=_nodes, outputs=_outs)

q_norm_heads = head_norm("q_head_norm_heads", "HQ", view_back=False)
k_norm_heads = head_norm("k_head_norm_heads", "HK", view_back=False)

FRAGMENTS = [qkv_split, q_norm, k_norm, rope, q_norm_heads, k_norm_heads, rope_heads, rope_to_heads]

# ---------------------------------------------------------------------------------------------------------
# Family


def composed(q_norm_frag, k_norm_frag, rope_frag):
    """A family's composition: the split, the two per-head norms and a rotation (the families differ only there)."""
    def compose(qkv, q_weight, k_weight, positions, cos_sin_cache):
        parts = qkv_split(qkv)
        qn = q_norm_frag(parts.q, q_weight)
        kn = k_norm_frag(parts.k, k_weight)
        rot = rope_frag(positions, qn, kn, cos_sin_cache)
        return {"q": rot.q_rot, "k": rot.k_rot, "v": parts.v}
    return compose


VARS = {"N": "sym", "HQ": "int", "HK": "int", "D": "int", "eps": "float",
        "P": {"type": "int", "doc": "the cache's positions (max_position_embeddings); at least 9, so that `patterns "
                                   "--check`'s random positions (0..8) index it"},
        "MD": {"type": "dtype", "one_of": ["bfloat16"], "doc": "the model dtype of qkv and the norm weights"},
        "CD": {"type": "dtype", "one_of": ["bfloat16", "float32"], "doc": "the cos/sin cache's dtype"}}
ROW = "(HQ+2*HK)*D"
FUSED = "_C.fused_qk_norm_rope.default"
CUDA = {"name": "cuda", "fused_op": FUSED, "replacement": {
    "nodes": [af("fused", FUSED, {"qkv": "%qkv", "num_heads_q": "$HQ", "num_heads_k": "$HK", "num_heads_v": "$HK",
                                  "head_dim": "$D", "eps": "$eps", "q_weight": "%q_weight", "k_weight": "%k_weight",
                                  "cos_sin_cache": "%cos_sin_cache", "is_neox": "$NEOX", "position_ids": "%positions"},
                 val=[None, f"MD [N, {ROW}]"]),
              gi("qkv_fused", "fused", 1, val=f"MD [N, {ROW}]"),
              n("split_fused", "aten.split_with_sizes.default", ["%qkv_fused", ["$HQ*D", "$HK*D", "$HK*D"], -1],
                val=[f"MD [N, HQ*D] stride [{ROW}, 1]", f"MD [N, HK*D] stride [{ROW}, 1]",
                     f"MD [N, HK*D] stride [{ROW}, 1]"]),
              gi("q_fused", "split_fused", 0, val=f"MD [N, HQ*D] stride [{ROW}, 1]"),
              gi("k_fused", "split_fused", 1, val=f"MD [N, HK*D] stride [{ROW}, 1]"),
              gi("v_fused", "split_fused", 2, val=f"MD [N, HK*D] stride [{ROW}, 1]")],
    "outputs": {"q": "q_fused", "k": "k_fused", "v": "v_fused"}}}


# The rotated q and k per head: the split of the fused result viewed per head (views of qkv's rows).
CUDA_HEADS = {"name": "cuda", "fused_op": FUSED, "replacement": {
    "nodes": CUDA["replacement"]["nodes"] + [
        n("q_heads", "aten.reshape.default", ["%q_fused", [-1, "$HQ", "$D"]],
          val=f"MD [N, HQ, D] stride [{ROW}, D, 1]"),
        n("k_heads", "aten.reshape.default", ["%k_fused", [-1, "$HK", "$D"]],
          val=f"MD [N, HK, D] stride [{ROW}, D, 1]")],
    "outputs": {"q": "q_heads", "k": "k_heads", "v": "v_fused"}}}
INPUTS = {"qkv": QKV, "q_weight": "MD [D]", "k_weight": "MD [D]", "positions": "int64 [N]",
          "cos_sin_cache": "CD [P, D]"}
FAMILIES = [
    Family(composed(q_norm, k_norm, rope), INPUTS, VARS, name="qk_norm_rope", root="rot", benefit=11,
           conditions=["P >= 9"],
           description="QK-norm + RoPE of a fused QKV projection (Qwen3 attention): per-head RMSNorm of q and k, "
                       "then the rotary embedding of whole heads",
           diagram=["  qkv (N, (HQ+2HK)*D) bf16   q_weight, k_weight (D) bf16   positions (N) int64   cache (P, D)",
                    "  q, k, v = @qkv_split(qkv)               split_with_sizes([HQ*D, HK*D, HK*D], -1)",
                    "  qn = @q_head_norm(q, q_weight)         native | vllm_ir (on the (N, HQ, D) view)",
                    "  kn = @k_head_norm(k, k_weight)         native | vllm_ir (on the (N, HK, D) view)",
                    "  q', k' = @rope(positions, qn, kn, cache)   AF(_C.rotary_embedding) v1/v2",
                    "  => cuda: AF(_C.fused_qk_norm_rope, qkv, HQ, HK, HK, D, eps, q_weight, k_weight, cache, is_neox, "
                    "positions)[1].split([HQ*D, HK*D, HK*D], -1)",
                    "  => rocm-aiter: no fused op (the pattern is reported as skipped)"],
           targets=[CUDA]),
    Family(composed(q_norm_heads, k_norm_heads, rope_heads), INPUTS, VARS, name="qk_norm_rope_native", root="rot",
           benefit=11, conditions=["P >= 9"],
           description="QK-norm + RoPE of a fused QKV projection with vLLM's rotary custom op off: the native "
                       "RotaryEmbedding.forward_static chain on the normalised heads (spelling not yet checked against "
                       "a torch.compile graph)",
           diagram=["  qkv (N, (HQ+2HK)*D) bf16   q_weight, k_weight (D) bf16   positions (N) int64   cache (P, D)",
                    "  q, k, v = @qkv_split(qkv)",
                    "  qh = @q_head_norm_heads(q, q_weight)   the normalised (N, HQ, D) heads (the views folded away)",
                    "  kh = @k_head_norm_heads(k, k_weight)",
                    "  cos, sin = split(index_select(cache, 0, positions), D/2, -1), unsqueezed (shared by q and k)",
                    "  q' = view(cat(q1*cos - q2*sin, q2*cos + q1*sin), (N, HQ*D)), k' alike   @rope_heads: neox | "
                    "gptj, with or without slices, bf16 or f32 cache",
                    "  => cuda: the same fused op as qk_norm_rope"],
           targets=[CUDA]),
    Family(composed(q_norm_heads, k_norm_heads, rope_to_heads), INPUTS, VARS, name="qk_norm_rope_native_heads",
           root="rot", benefit=11, conditions=["P >= 9"],
           description="qk_norm_rope_native whose rotated q and k stay per head (N, H, D): the attention's per-head "
                       "view (vLLM's Attention.forward) folded with the rotation's view back",
           diagram=["  q, k, v = @qkv_split(qkv); qh, kh = @q_head_norm_heads, @k_head_norm_heads",
                    "  q', k' = @rope_to_heads(positions, qh, kh, cache)   (N, HQ, D), (N, HK, D)",
                    "  => cuda: the fused op, q and k of its split viewed per head [-1, H, D]"],
           targets=[CUDA_HEADS]),
]
DESCRIPTION = ("vLLM's QK-norm + RoPE fusion for the cuda target, re-authored in Python "
               "(python/patterns/qk_norm_rope.py)")
