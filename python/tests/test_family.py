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


def load_make_patterns():
    """tests/golden/rms_norm_quant/make_patterns.py as a module (it writes the built-in file when run)."""
    path = os.path.join(ROOT, "tests", "golden", "rms_norm_quant", "make_patterns.py")
    sys.path.insert(0, os.path.join(ROOT, "python", "patterns"))
    spec = importlib.util.spec_from_file_location("make_patterns_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    with open(path) as f:
        code = f.read()
    # Everything but the final write.
    exec(compile(code[:code.index("def fmt(")], path, "exec"), mod.__dict__)
    return mod


class FamilyDocumentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mp = load_make_patterns()

    def test_builtin_file_is_the_python_family_with_hand_written_natives(self):
        with open(BUILTIN) as f:
            builtin = json.load(f)
        self.assertEqual(self.mp.doc, builtin, "regenerate: python3 tests/golden/rms_norm_quant/make_patterns.py")

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
        # The text writer keeps it one node per line and loads back equal.
        self.assertEqual(json.loads(pattern_doc.dumps(doc)), doc)

    @unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
    def test_prefixed_file_matches_like_the_builtin(self):
        from pattern_compare import compare_with_builtin
        doc = family.document(self.mp.family_py.FRAGMENTS, self.mp.family_py.FAMILIES, prefix="py_",
                              trace_spelling=self.mp.hand_written)
        graphs = sorted(os.path.join(ROOT, "tests", "golden", "rms_norm_quant", f)
                        for f in os.listdir(os.path.join(ROOT, "tests", "golden", "rms_norm_quant"))
                        if f.endswith(".input.json"))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "family.json")
            with open(path, "w") as f:
                f.write(pattern_doc.dumps(doc))
            diffs, counts = compare_with_builtin(optional_binary(), path, "py_", graphs)
        self.assertEqual(diffs, [])
        self.assertGreater(counts["matches"], 20)
        self.assertGreater(counts["near_misses"], 5)


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
