# Generates patterns/rms_norm_quant.json: python3 tests/golden/rms_norm_quant/make_patterns.py (writes the JSON; the JSON is what fxopt reads;
# importing it writes nothing: document() gives the file's content, fmt() its layout).
# The native spellings are written here by hand, node by node; everything else (the opaque spellings, the families,
# the fused ops of each target) comes from python/patterns/rms_norm_quant.py, whose native spellings are traced
# from forward_native-style functions instead (python/tests/test_pattern_trace.py compares the two files).
import json
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "..", "..", "python"), os.path.join(HERE, "..", "..", "..", "python", "patterns")]
import rms_norm_quant as family_py  # noqa: E402
from fxopt import family  # noqa: E402
BF = "bfloat16"
def n(name, op, args, kwargs=None, val=None):
    d = {"name": name, "op": op, "args": args}
    if kwargs: d["kwargs"] = kwargs
    if val: d["val"] = val
    return d
F32 = {"dtype": "float32"}
CONV = "prims.convert_element_type.default"
rms_native = [n("c0", CONV, ["%x", F32]), n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]),
              n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
              n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%c0", "%rstd"]),
              n("xb", CONV, ["%xn", {"dtype": BF}]), n("out", "aten.mul.Tensor", ["%xb", "%w"])]
rms_pt = [n("c0", CONV, ["%x", F32]), n("sq", "aten.pow.Tensor_Scalar", ["%c0", 2]),
          n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
          n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%c0", "%rstd"])]
OUT = {"out": "out"}
QS = {"q": "q", "scale": "scale"}
HAND = {
 ("rms_norm", "native"): (rms_native, OUT),
 ("rms_norm", "pytorch_order"): (rms_pt + [n("wf", CONV, ["%w", F32]), n("xw", "aten.mul.Tensor", ["%xn", "%wf"]),
                                           n("out", CONV, ["%xw", {"dtype": BF}])], OUT),
 ("rms_norm", "pytorch_order_promoted"): (rms_pt + [n("xw", "aten.mul.Tensor", ["%xn", "%w"]),
                                                    n("out", CONV, ["%xw", {"dtype": BF}])], OUT),
 ("add_rms_norm", "native"): ([n("c0", CONV, ["%x", F32]), n("s", "aten.add.Tensor", ["%c0", "%res"]),
                               n("res_out", CONV, ["%s", {"dtype": BF}]), n("sq", "aten.pow.Tensor_Scalar", ["%s", 2]),
                               n("ms", "aten.mean.dim", ["%sq", [-1], True]), n("ms_eps", "aten.add.Tensor", ["%ms", "$eps"]),
                               n("rstd", "aten.rsqrt.default", ["%ms_eps"]), n("xn", "aten.mul.Tensor", ["%s", "%rstd"]),
                               n("xb", CONV, ["%xn", {"dtype": BF}]), n("out", "aten.mul.Tensor", ["%xb", "%w"])],
                              {"out": "out", "residual": "res_out"}),
 ("static_quant", "native"): ([n("cy", CONV, ["%y", F32]), n("cs", CONV, ["%scale", F32]),
                               n("inv", "aten.reciprocal.default", ["%cs"]), n("q0", "aten.mul.Tensor", ["%cy", "%inv"]),
                               n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]), n("q", CONV, ["%qc", {"dtype": "$FP8"}])],
                              {"q": "q"}),
 ("static_quant", "native_f32_scale"): ([n("cy", CONV, ["%y", F32]), n("inv", "aten.reciprocal.default", ["%scale"]),
                                         n("q0", "aten.mul.Tensor", ["%cy", "%inv"]),
                                         n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]),
                                         n("q", CONV, ["%qc", {"dtype": "$FP8"}])], {"q": "q"}),
 ("per_token_quant", "native"): ([n("ay", "aten.abs.default", ["%y"]), n("am", "aten.amax.default", ["%ay", [-1], False]),
                                  n("amu", "aten.unsqueeze.default", ["%am", -1]), n("amf", CONV, ["%amu", F32]),
                                  n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]), n("scale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]),
                                  n("cy", CONV, ["%y", F32]), n("inv", "aten.reciprocal.default", ["%scale"]),
                                  n("q0", "aten.mul.Tensor", ["%cy", "%inv"]), n("qc", "aten.clamp.default", ["%q0", "$-FMAX", "$FMAX"]),
                                  n("q", CONV, ["%qc", {"dtype": "$FP8"}])], QS),
 ("per_token_quant", "native_div"): ([n("ay", "aten.abs.default", ["%y"]), n("am", "aten.amax.default", ["%ay", [-1], True]),
                                      n("amf", CONV, ["%am", F32]), n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]),
                                      n("scale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]), n("yq", "aten.div.Tensor", ["%y", "%scale"]),
                                      n("qc", "aten.clamp.default", ["%yq", "$-FMAX", "$FMAX"]), n("q", CONV, ["%qc", {"dtype": "$FP8"}])], QS),
 ("group_quant", "native"): ([n("groups", "aten.reshape.default", ["%y", ["$N", "$H//G", "$G"]]), n("ay", "aten.abs.default", ["%groups"]),
                              n("am", "aten.amax.default", ["%ay", [-1], True]), n("amf", CONV, ["%am", F32]),
                              n("sraw", "aten.div.Tensor", ["%amf", "$FMAX"]), n("gscale", "aten.clamp_min.default", ["%sraw", "$FLOOR"]),
                              n("yq", "aten.div.Tensor", ["%groups", "%gscale"]), n("qc", "aten.clamp.default", ["%yq", "$-FMAX", "$FMAX"]),
                              n("q8", CONV, ["%qc", {"dtype": "$FP8"}]), n("q", "aten.reshape.default", ["%q8", ["$N", "$H"]]),
                              n("scale", "aten.squeeze.dim", ["%gscale", -1])], QS),
}
def hand_written_from(hand):
    """trace_spelling for fxopt.family.document(): a spelling's nodes from `hand` instead of tracing it."""
    def hand_written(frag, sp):
        nodes, outputs = hand[(frag.name, sp.name)]
        nodes = [dict(x) for x in nodes]
        for o, name in outputs.items():
            for x in nodes:
                if x["name"] == name and "val" not in x:
                    x["val"] = frag.outputs[o]
        return nodes, outputs
    return hand_written


hand_written = hand_written_from(HAND)


def fmt(v, ind=0):
    sp=' '*ind
    if isinstance(v, dict):
        if 'op' in v or all(not isinstance(x,(dict,list)) for x in v.values()) or len(json.dumps(v))<100:
            return json.dumps(v)
        items=[sp+' '+json.dumps(k)+': '+fmt(x, ind+1) for k,x in v.items()]
        return '{\n'+',\n'.join(items)+'\n'+sp+'}'
    if isinstance(v, list):
        if all(isinstance(x,str) for x in v) and any(len(x)>40 for x in v):
            return '[\n'+',\n'.join(sp+'  '+json.dumps(x) for x in v)+'\n'+sp+']'
        if len(json.dumps(v))<100 and not any(isinstance(x,dict) and 'op' in x for x in v):
            return json.dumps(v)
        return '[\n'+',\n'.join(sp+'  '+fmt(x, ind+2) for x in v)+'\n'+sp+']'
    return json.dumps(v)


def file_document(family_module, hand, description):
    """A built-in file's document: a Python family module with hand-written native spellings."""
    doc = family.document(family_module.FRAGMENTS, family_module.FAMILIES, trace_spelling=hand_written_from(hand))
    return {"format": doc["format"], "version": doc["version"], "description": description,
            "fragments": doc["fragments"], "patterns": doc["patterns"]}


def write(doc, name):
    with open(os.path.join(HERE, "..", "..", "..", "patterns", name), "w") as f:
        f.write(fmt(doc) + "\n")


def document():
    return file_document(family_py, HAND, (
        "The vLLM RMSNorm (+ residual) -> FP8 quant family (static, per-token, per-group 64/128) for the cuda (_C ops, "
        "auto_functionalized) and rocm-aiter targets. Spellings are fragments written once (docs/patterns.md, "
        "Fragments); rounding order as vLLM (normed value rounded to the model dtype before the weight multiply). CPU "
        "reference: runtime/cpu/rms_norm_quant.cpp."))


def main():
    write(document(), "rms_norm_quant.json")


if __name__ == "__main__":
    main()
