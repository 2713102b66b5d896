"""The fxgraph writer reproduces the real corpus files byte for byte, and the reader refuses other formats."""
import json
import os
import tempfile
import unittest

import common  # noqa: F401  (puts python/ on sys.path)
from fxopt import fxgraph_json


class WriterMatchesCorpus(unittest.TestCase):
    def test_every_corpus_file_round_trips_byte_for_byte(self):
        files = common.corpus_files()
        self.assertTrue(files, "no corpus files found (examples/ or ../shared/corpus)")
        for path in files:
            with self.subTest(path=os.path.basename(path)):
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                self.assertEqual(fxgraph_json.dumps(fxgraph_json.loads(text)), text)

    def test_unknown_top_level_keys_are_kept_after_symbols(self):
        doc = {"format": "fxgraph", "version": 1, "producer": {}, "symbols": {}, "extra": [1],
               "nodes": [{"name": "output", "op": "output", "target": "output", "args": [[]], "kwargs": {},
                          "meta": {}}]}
        text = fxgraph_json.dumps(doc)
        self.assertIn(' "symbols": {},\n "extra": [1],\n "nodes": [\n', text)
        self.assertEqual(json.loads(text), doc)

    def test_write_is_atomic_and_readable(self):
        doc = fxgraph_json.read(common.corpus_files()[0])
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "g.json")
            fxgraph_json.write(doc, p)
            self.assertEqual(os.listdir(d), ["g.json"])
            self.assertEqual(fxgraph_json.read(p), doc)


class FloatsAndErrors(unittest.TestCase):
    def test_floats_as_python_repr_and_non_finite_as_objects(self):
        self.assertEqual(json.dumps(fxgraph_json.encode_float(1e-06)), "1e-06")
        self.assertEqual(json.dumps(fxgraph_json.encode_float(448.0)), "448.0")
        self.assertEqual(json.dumps(fxgraph_json.encode_float(1 / (448 * 512))), "4.359654017857143e-06")
        self.assertEqual(fxgraph_json.encode_float(float("-inf")), {"float": "-inf"})
        self.assertEqual(fxgraph_json.encode_float(float("nan")), {"float": "nan"})
        self.assertEqual(fxgraph_json.decode_float({"float": "inf"}), float("inf"))

    def test_raw_non_finite_float_is_a_writer_error(self):
        doc = {"format": "fxgraph", "version": 1, "producer": {}, "symbols": {},
               "nodes": [{"name": "a", "op": "call_function", "target": "aten.add.Tensor",
                          "args": [float("inf")], "kwargs": {}, "meta": {}}]}
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, r"nodes\[0\]\.args\[0\]"):
            fxgraph_json.dumps(doc)

    def test_reader_refuses_other_formats_and_newer_versions(self):
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, "format"):
            fxgraph_json.loads('{"format": "onnx", "version": 1, "nodes": []}')
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, "newer"):
            fxgraph_json.loads('{"format": "fxgraph", "version": 2, "nodes": []}')
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, r"g\.json:1:"):
            fxgraph_json.loads("{oops", "g.json")
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, r"nodes\[0\]: missing 'op'"):
            fxgraph_json.loads('{"format": "fxgraph", "version": 1, "nodes": [{"name": "a"}]}')
        # Nesting deeper than Python's recursion limit: the format's error, not a RecursionError.
        deep = '{"format": "fxgraph", "version": 1, "nodes": [' + "[" * 100000 + "]" * 100000 + "]}"
        with self.assertRaisesRegex(fxgraph_json.FxgraphFormatError, r"d\.json: malformed JSON: nested too deeply"):
            fxgraph_json.loads(deep, "d.json")


if __name__ == "__main__":
    unittest.main()
