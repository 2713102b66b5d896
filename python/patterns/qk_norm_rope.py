"""vLLM's QK-norm + RoPE fusion (QKNormRoPEFusionPass, every Qwen3 attention layer) in Python: the built-in
patterns/qk_norm_rope.json.

`q, k, v = split_with_sizes(qkv, [HQ*D, HK*D, HK*D], -1)`; q and k viewed per head `(N, H, D)`, RMSNorm over D with
their weights (vLLM's order: float32 variance, rounded to the model dtype, then the weight multiply), viewed back;
rotary embedding of q and k (`_C.rotary_embedding`, in auto_functionalized v1/v2 form) ⇒ `_C.fused_qk_norm_rope`
on qkv, split again. The per-head norms are one fragment written once and instantiated for q (HQ heads) and k
(HK heads). tests/golden/qk_norm_rope/make_patterns.py writes the built-in file from these definitions and the
hand-written native spellings.
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


def head_norm(name: str, heads: str) -> Fragment:
    """RMSNorm of each head of x (N, H*D) over D, as vLLM's q_norm / k_norm compute it (RMSNorm.forward_static on
    the (N, H, D) view: float32 variance, rsqrt(mean + eps), rounded to the model dtype, times the weight)."""
    f = Fragment(name, {"x": f"MD [N, {heads}*D]", "w": "MD [D]"}, {"out": f"MD [N, {heads}*D]"},
                 f"per-head RMSNorm of {heads} heads of D (vLLM order), on the (N, {heads}, D) view")
    view = n("xh", "aten.reshape.default", ["%x", ["$N", f"${heads}", "$D"]])
    back = lambda src: n("out", "aten.reshape.default", [f"%{src}", ["$N", f"${heads}*D"]])  # noqa: E731
    f.spelling("native", doc="RMSNorm.forward_static's chain on the per-head view",
               nodes=[view, n("c0", "prims.convert_element_type.default", ["%xh", {"dtype": "float32"}]),
                      n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]), n("ms", "aten.mean.dim", ["%sq", [-1], True]),
                      n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]), n("rstd", "aten.rsqrt.default", ["%ms_eps"]),
                      n("xn", "aten.mul.Tensor", ["%c0", "%rstd"]),
                      n("xb", "prims.convert_element_type.default", ["%xn", {"dtype": "$MD"}]),
                      n("xw", "aten.mul.Tensor", ["%xb", "%w"]), back("xw")])
    f.spelling("vllm_ir", nodes=[view, n("nrm", "vllm_ir.rms_norm.default", ["%xh", "%w", "$eps"]), back("nrm")])
    f.spelling("vllm_ir_4arg", doc="the default variance_size=None spelled out (vLLM PR #41767)",
               nodes=[view, n("nrm", "vllm_ir.rms_norm.default", ["%xh", "%w", "$eps", None]), back("nrm")])
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

FRAGMENTS = [qkv_split, q_norm, k_norm, rope]

# ---------------------------------------------------------------------------------------------------------
# Family


def qk_norm_rope(qkv, q_weight, k_weight, positions, cos_sin_cache):
    parts = qkv_split(qkv)
    qn = q_norm(parts.q, q_weight)
    kn = k_norm(parts.k, k_weight)
    rot = rope(positions, qn, kn, cos_sin_cache)
    return {"q": rot.q_rot, "k": rot.k_rot, "v": parts.v}


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

FAMILIES = [
    Family(qk_norm_rope, {"qkv": QKV, "q_weight": "MD [D]", "k_weight": "MD [D]", "positions": "int64 [N]",
                          "cos_sin_cache": "CD [P, D]"}, VARS, root="rot", benefit=11, conditions=["P >= 9"],
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
]
DESCRIPTION = ("vLLM's QK-norm + RoPE fusion for the cuda target, re-authored in Python "
               "(python/patterns/qk_norm_rope.py)")
