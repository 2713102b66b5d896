# Generates patterns/silu_mul_quant.json: python3 tests/golden/silu_mul_quant/make_patterns.py (writes the JSON; the JSON is what fxopt reads;
# importing it writes nothing: document() gives the file's content).
# The native spelling is written here by hand, node by node; everything else (the opaque spellings, the families, the
# fused ops of each target) comes from python/patterns/silu_mul_quant.py. The quant halves are the RMSNorm family's
# fragments (patterns/rms_norm_quant.json), called by name.
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "..", "python"), os.path.join(HERE, "..", "..", "..", "python", "patterns"),
                os.path.join(HERE, "..", "rms_norm_quant")]
import silu_mul_quant as family_py  # noqa: E402
from make_patterns import file_document, hand_written_from, n, write  # noqa: E402  (the RMSNorm family's writer)

CONV = "prims.convert_element_type.default"
HAND = {
    # SiluAndMul.forward_native after normalisation: x[..., :d] and x[..., d:] as slices of dim 1 (or -1), silu in
    # float32 (x / (1 + exp(-x)) becomes aten.silu), rounded to the model dtype, times the second half.
    ("silu_and_mul", "native"): ([n("g", "aten.slice.Tensor", ["%x", "$SD", 0, "$H"]),
                                  n("gf", CONV, ["%g", {"dtype": "float32"}]), n("sl", "aten.silu.default", ["%gf"]),
                                  n("sb", CONV, ["%sl", {"dtype": "$MD"}]),
                                  n("u", "aten.slice.Tensor", ["%x", "$SD", "$H", "$END"]),
                                  n("out", "aten.mul.Tensor", ["%sb", "%u"])], {"out": "out"}),
}


hand_written = hand_written_from(HAND)


def document():
    return file_document(family_py, HAND, (
        "The vLLM SiLU-and-mul -> FP8 quant family (ActivationQuantFusionPass: static per-tensor and per-group 64/128) "
        "for the cuda (_C ops, auto_functionalized) and rocm-aiter targets. The quant halves are the fragments of "
        "patterns/rms_norm_quant.json. CPU reference: runtime/cpu/silu_mul_quant.cpp."))


def main():
    write(document(), "silu_mul_quant.json")


if __name__ == "__main__":
    main()
