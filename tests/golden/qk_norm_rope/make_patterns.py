# Generates patterns/qk_norm_rope.json: python3 tests/golden/qk_norm_rope/make_patterns.py (writes the JSON; the JSON is what fxopt reads;
# importing it writes nothing: document() gives the file's content). Every spelling is data in
# python/patterns/qk_norm_rope.py (nothing to trace); the writer is the RMSNorm family's.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "..", "python"), os.path.join(HERE, "..", "..", "..", "python", "patterns"),
                os.path.join(HERE, "..", "rms_norm_quant")]
import qk_norm_rope as family_py  # noqa: E402
from make_patterns import file_document, write  # noqa: E402  (the RMSNorm family's writer)

HAND = {}  # no traced spellings


def document():
    return file_document(family_py, HAND, (
        "vLLM's QK-norm + RoPE fusion (QKNormRoPEFusionPass) for the cuda target: per-head RMSNorm of q and k (vLLM "
        "order) then the rotary embedding (_C.rotary_embedding, auto_functionalized v1/v2, or the native "
        "RotaryEmbedding.forward_static chain) => _C.fused_qk_norm_rope. CPU reference: runtime/cpu/qk_norm_rope.cpp."))


def main():
    write(document(), "qk_norm_rope.json")


if __name__ == "__main__":
    main()
