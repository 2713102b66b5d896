"""fxopt.family (torch-free): fragments and family patterns composed in Python give exactly the built-in
patterns/rms_norm_quant.json (with the hand-written native spellings standing in for the traced ones), match the
same regions under a name prefix, and bad compositions are errors naming the line."""
import importlib.util
import json
import os
import sys
import tempfile
import unittest

from fxopt import family, pattern_doc
from fxopt.binary import optional_binary
from fxopt.pattern_doc import PatternError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILTIN = os.path.join(ROOT, "patterns", "rms_norm_quant.json")


def load_make_patterns(family_dir="rms_norm_quant"):
    """tests/golden/<family_dir>/make_patterns.py as a module (importing it writes nothing; running it writes the
    built-in file)."""
    path = os.path.join(ROOT, "tests", "golden", family_dir, "make_patterns.py")
    sys.path.insert(0, os.path.join(ROOT, "python", "patterns"))
    spec = importlib.util.spec_from_file_location(f"make_patterns_{family_dir}_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compare_prefixed(doc, family_dir):
    """The "py_"-prefixed document's matches and near misses against the built-in patterns on the family's golden
    cases: (differences, counts)."""
    from pattern_compare import compare_with_builtin
    folder = os.path.join(ROOT, "tests", "golden", family_dir)
    graphs = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".input.json"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "family.json")
        with open(path, "w") as f:
            f.write(pattern_doc.dumps(doc))
        return compare_with_builtin(optional_binary(), path, "py_", graphs)


class FamilyDocumentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mp = load_make_patterns()

    def test_builtin_file_is_the_python_family_with_hand_written_natives(self):
        with open(BUILTIN) as f:
            builtin = json.load(f)
        self.assertEqual(self.mp.document(), builtin, "regenerate: python3 tests/golden/rms_norm_quant/make_patterns.py")

    def test_every_traced_spelling_has_a_hand_written_twin(self):
        fp = self.mp.family_py
        traced = {(f.name, s.name) for f in fp.FRAGMENTS for s in f.spellings if s.fn is not None}
        self.assertEqual(traced, set(self.mp.HAND))
        self.assertEqual(len(traced), 9)

    def test_prefix_renames_fragments_and_their_uses(self):
        doc = family.document(self.mp.family_py.FRAGMENTS, self.mp.family_py.FAMILIES, prefix="py_",
                              trace_spelling=self.mp.hand_written)
        self.assertEqual(sorted(doc["fragments"]), ["py_add_rms_norm", "py_group_quant", "py_per_token_quant",
                                                    "py_rms_norm", "py_static_quant"])
        p = doc["patterns"][0]
        self.assertEqual(p["name"], "py_rms_norm_static_fp8_quant")
        self.assertEqual([n["op"] for n in p["nodes"]], ["@py_rms_norm", "@py_static_quant"])
        self.assertEqual(p["outputs"], {"q": "quant.q"})
        self.assertEqual(doc["patterns"][1]["outputs"], {"q": "quant.q", "residual": "norm.residual"})
        # The text writer keeps it one node per line and loads back equal; dump() writes a whole document as is.
        self.assertEqual(json.loads(pattern_doc.dumps(doc)), doc)
        from fxopt import pattern
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "family.json")
            self.assertIs(pattern.dump(doc, path), doc)
            with open(path) as f:
                self.assertEqual(json.load(f), doc)

    @unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
    def test_prefixed_file_matches_like_the_builtin(self):
        doc = family.document(self.mp.family_py.FRAGMENTS, self.mp.family_py.FAMILIES, prefix="py_",
                              trace_spelling=self.mp.hand_written)
        diffs, counts = compare_prefixed(doc, "rms_norm_quant")
        self.assertEqual(diffs, [])
        self.assertGreater(counts["matches"], 20)
        self.assertGreater(counts["near_misses"], 5)


class SiluMulFamilyTest(unittest.TestCase):
    """The SiLU-and-mul -> FP8 family (patterns/silu_mul_quant.json) calls the RMSNorm family's quant fragments."""

    @classmethod
    def setUpClass(cls):
        cls.mp = load_make_patterns("silu_mul_quant")

    def test_builtin_file_is_the_python_family_with_hand_written_natives(self):
        with open(os.path.join(ROOT, "patterns", "silu_mul_quant.json")) as f:
            builtin = json.load(f)
        self.assertEqual(self.mp.document(), builtin, "regenerate: python3 tests/golden/silu_mul_quant/make_patterns.py")
        self.assertEqual(sorted(builtin["fragments"]), ["silu_and_mul"])
        self.assertEqual([[n["op"] for n in p["nodes"]] for p in builtin["patterns"]],
                         [["@silu_and_mul", "@static_quant"], ["@silu_and_mul", "@group_quant"]])

    def test_every_traced_spelling_has_a_hand_written_twin(self):
        fp = self.mp.family_py
        traced = {(f.name, s.name) for f in fp.FRAGMENTS for s in f.spellings if s.fn is not None}
        self.assertEqual(traced, set(self.mp.HAND))
        self.assertEqual(traced, {("silu_and_mul", "native")})

    @unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
    def test_prefixed_file_matches_like_the_builtin(self):
        rq = load_make_patterns()
        def hand_written(frag, sp):
            return (self.mp if (frag.name, sp.name) in self.mp.HAND else rq).hand_written(frag, sp)
        # Prefixed, the file is self-contained: the RMSNorm file's quant fragments come along, renamed.
        doc = family.document(self.mp.family_py.FRAGMENTS, self.mp.family_py.FAMILIES, prefix="py_",
                              trace_spelling=hand_written)
        self.assertEqual(list(doc["fragments"]), ["py_silu_and_mul", "py_static_quant", "py_group_quant"])
        diffs, counts = compare_prefixed(doc, "silu_mul_quant")
        self.assertEqual(diffs, [])
        self.assertGreaterEqual(counts["matches"], 12)
        self.assertGreaterEqual(counts["near_misses"], 5)


class QkNormRopeFamilyTest(unittest.TestCase):
    """vLLM's QK-norm + RoPE (patterns/qk_norm_rope.json): every spelling is data; one fragment function gives the
    q and the k per-head norms."""

    @classmethod
    def setUpClass(cls):
        cls.mp = load_make_patterns("qk_norm_rope")

    def test_builtin_file_is_the_python_family(self):
        with open(os.path.join(ROOT, "patterns", "qk_norm_rope.json")) as f:
            builtin = json.load(f)
        self.assertEqual(self.mp.document(), builtin, "regenerate: python3 tests/golden/qk_norm_rope/make_patterns.py")
        self.assertEqual(list(builtin["fragments"]), ["qkv_split", "q_head_norm", "k_head_norm", "rope",
                                                      "q_head_norm_heads", "k_head_norm_heads", "rope_heads",
                                                      "rope_to_heads"])
        self.assertEqual([p["name"] for p in builtin["patterns"]],
                         ["qk_norm_rope", "qk_norm_rope_native", "qk_norm_rope_native_heads"])
        # The two norms differ only in their head count's variable (both forms: viewed back, or the heads).
        for q_name, k_name in (("q_head_norm", "k_head_norm"), ("q_head_norm_heads", "k_head_norm_heads")):
            q, k = builtin["fragments"][q_name], builtin["fragments"][k_name]
            self.assertEqual(json.dumps(q).replace("HQ", "HK"), json.dumps(k))
        # The native RoPE: neox | gptj, with or without slices, bf16 or float32 cache; cos/sin nodes once for q and k.
        rope = builtin["fragments"]["rope_heads"]["spellings"]
        self.assertEqual(len(rope), 16)
        for sp, heads in zip(rope, builtin["fragments"]["rope_to_heads"]["spellings"]):
            self.assertEqual(sp["name"], heads["name"])
            # Left per head: the same nodes but the last view back of q and of k (gptj keeps its flatten).
            ops, kept = [n["op"] for n in sp["nodes"]], [n["op"] for n in heads["nodes"]]
            self.assertEqual(ops.count("aten.reshape.default") - kept.count("aten.reshape.default"),
                             2 if "neox" in sp["name"] or "sliced" in sp["name"] else 0, sp["name"])
            self.assertEqual(ops.count("aten.index_select.default"), 1, sp["name"])
            per_rotation = 2 if "unshared" in sp["name"] else 1
            self.assertEqual(ops.count("aten.unsqueeze.default"), 2 * per_rotation + (0 if "neox" in sp["name"] else 4),
                             sp["name"])
            self.assertEqual(ops.count("aten.sub.Tensor"), 2, sp["name"])

    @unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
    def test_prefixed_file_matches_like_the_builtin(self):
        doc = family.document(self.mp.family_py.FRAGMENTS, self.mp.family_py.FAMILIES, prefix="py_")
        diffs, counts = compare_prefixed(doc, "qk_norm_rope")
        self.assertEqual(diffs, [])
        self.assertGreaterEqual(counts["matches"], 8)
        self.assertGreaterEqual(counts["near_misses"], 6)


def _static_quant_trace(fmax, fp8):
    """QuantFP8 static (scale already float32) as make_fx + normalisation spell it: s0 = N, s1 = H."""
    from test_pattern_doc import CONV, Doc, tensor
    d = Doc()
    y = d.ph("arg0_1", tensor("bfloat16", ["s0", "s1"]))
    scale = d.ph("arg1_1", tensor("float32", [1, 1]))
    d.ph("arg2_1", None)  # FMAX
    d.ph("arg3_1", None)  # FP8
    for node in d.nodes[2:]:
        node["meta"] = {}
    code = "q = (y.to(torch.float32) * scale.reciprocal()).clamp(min=-FMAX, max=FMAX).to(FP8)"
    f32 = tensor("float32", ["s0", "s1"])
    cy = d.op("convert_element_type", CONV, [y, {"dtype": "float32"}], f32, 3, code)
    inv = d.op("reciprocal", "aten.reciprocal.default", [scale], tensor("float32", [1, 1]), 3, code)
    q0 = d.op("mul", "aten.mul.Tensor", [cy, inv], f32, 3, code)
    qc = d.op("clamp", "aten.clamp.default", [q0, -fmax, fmax], f32, 3, code)
    q = d.op("convert_element_type_1", CONV, [qc, {"dtype": fp8}], tensor(fp8, ["s0", "s1"]), 3, code)
    return d.out(q)


class BuildSpellingTest(unittest.TestCase):
    def test_a_traced_spelling_becomes_nodes_over_the_family_variables(self):
        from test_pattern_doc import SRC
        variables = {"N": pattern_doc.sym_dim(8), "H": pattern_doc.int_var(256), "FMAX": pattern_doc.float_var(448.0),
                     "FP8": pattern_doc.dtype_var("float8_e4m3fn", "float8_e4m3fnuz"),
                     "eps": pattern_doc.float_var(1e-6)}  # a family variable the spelling does not use
        sentinels = [{"FMAX": 448.0, "FP8": "float8_e4m3fn", "eps": 1e-6},
                     {"FMAX": 616.0078125, "FP8": "float8_e4m3fnuz", "eps": 1.3828125e-06}]
        trace = pattern_doc.Trace(_static_quant_trace(448.0, "float8_e4m3fn"), ["y", "scale", "FMAX", "FP8"],
                                  _static_quant_trace(616.0078125, "float8_e4m3fnuz"), SRC, "static_quant_native")
        nodes, outputs = pattern_doc.build_spelling("static_quant/native", trace, inputs=["y", "scale"],
                                                    variables=variables, sym_names={"s0": "N", "s1": "H"},
                                                    sentinels=sentinels, outputs=["q"])
        self.assertEqual(outputs, {"q": "q"})
        by_op = {n["op"]: n for n in nodes}
        self.assertEqual(by_op["aten.clamp.default"]["args"][1:], ["$-FMAX", "$FMAX"])
        self.assertEqual(nodes[-1]["args"][1], {"dtype": "$FP8"})
        self.assertEqual(nodes[-1]["val"], "FP8 [N, H]")
        self.assertEqual(by_op["aten.reciprocal.default"]["args"], ["%scale"])
        with self.assertRaisesRegex(PatternError, "root 'nope' is not a node"):
            pattern_doc.build_spelling("static_quant/native", trace, inputs=["y", "scale"], variables=variables,
                                       sym_names={"s0": "N", "s1": "H"}, sentinels=sentinels, outputs=["q"],
                                       root="nope")


def _frag():
    f = family.Fragment("norm", {"x": "bfloat16 [N, H]"}, {"out": "bfloat16 [N, H]", "extra": "bfloat16 [N, H]"})
    f.spelling("op", nodes=[family.node("out", "vllm_ir.rms_norm.default", ["%x", None, "$eps"]),
                            family.node("extra", "aten.neg.default", ["%out"])])
    return f


class CompositionErrorsTest(unittest.TestCase):
    def family(self, compose, inputs=None):
        return family.Family(compose, inputs or {"x": "bfloat16 [N, H]"}, {"N": "sym", "H": "int", "eps": "float"},
                             targets=[])

    def test_call_outside_a_family(self):
        with self.assertRaisesRegex(PatternError, "outside a Family"):
            _frag()(family._Ref("x"))

    def test_arity(self):
        f = _frag()

        def compose(x):
            a = f(x, x)
            return {"out": a.out}
        with self.assertRaisesRegex(PatternError, "takes 1 inputs"):
            self.family(compose).to_json("")

    def test_unknown_output(self):
        f = _frag()

        def compose(x):
            a = f(x)
            return {"out": a.nope}
        with self.assertRaisesRegex(PatternError, "no output 'nope'"):
            self.family(compose).to_json("")

    def test_output_must_come_from_a_fragment(self):
        def compose(x):
            return {"out": x}
        with self.assertRaisesRegex(PatternError, "not a fragment output"):
            self.family(compose).to_json("")

    def test_parameters_are_the_inputs(self):
        def compose(y):
            return {}
        with self.assertRaisesRegex(PatternError, "differ from inputs"):
            self.family(compose).to_json("")

    def test_names_come_from_the_assignment_and_second_outputs_are_dotted(self):
        f = _frag()

        def compose(x):
            first = f(x)
            second = f(first.extra)
            return {"out": second.out, "extra": first.extra}
        p = self.family(compose).to_json("")
        self.assertEqual(p["nodes"], [{"name": "first", "op": "@norm", "args": ["%x"]},
                                      {"name": "second", "op": "@norm", "args": ["%first.extra"]}])
        self.assertEqual(p["outputs"], {"out": "second.out", "extra": "first.extra"})

    def test_traced_spelling_needs_a_tracer(self):
        f = family.Fragment("t", {"x": "bfloat16 [N]"}, {"out": "bfloat16 [N]"})
        f.spelling("native")(lambda x: x)
        with self.assertRaisesRegex(PatternError, "needs PyTorch"):
            f.to_json("", None)


if __name__ == "__main__":
    unittest.main()
