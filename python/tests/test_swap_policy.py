"""The hook's swap decision on real graphs (post-grad graphs exported on the device, rewritten by fxopt):
it counts fused calls op by op, so a fused op replacing an opaque quant op is a gain and a rewrite that
only normalised is not. Also: the Python writer reproduces the C++ writer's files byte for byte."""
import glob
import os
import subprocess
import tempfile
import unittest

import common
from fxopt import fxgraph_json

DATA = os.path.join(common.HERE, "data")


def read(name):
    return fxgraph_json.read(os.path.join(DATA, name))


class SwapPolicy(unittest.TestCase):
    def test_fused_op_replacing_an_opaque_quant_op_is_a_gain(self):
        before, after = read("opaque_quant_g128.postgrad.fxgraph.json"), read("opaque_quant_g128.rewritten.fxgraph.json")
        self.assertEqual(sum(fxgraph_json.target_counts(before, "vllm.").values()),
                         sum(fxgraph_json.target_counts(after, "vllm.").values()))
        self.assertEqual(fxgraph_json.fused_gain(before, after), 2)

    def test_a_rewrite_that_only_normalised_is_no_gain(self):
        before, after = read("neg_group64.postgrad.fxgraph.json"), read("neg_group64.rewritten.fxgraph.json")
        self.assertNotEqual(before["nodes"], after["nodes"])     # fxopt canonicalised silu: aten.silu
        self.assertIn("aten.silu.default", fxgraph_json.target_counts(after))
        self.assertEqual(fxgraph_json.fused_gain(before, after), 0)

    def test_corpus_rewritten_by_the_test_double(self):
        path = next(f for f in common.corpus_files() if f.endswith("_L1.fxgraph.json"))
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            subprocess.run(common.FAKE_FXOPT + ["rewrite", path, "-o", out], check=True, capture_output=True)
            self.assertEqual(fxgraph_json.fused_gain(fxgraph_json.read(path), fxgraph_json.read(out)), 1)


class WriterAgreement(unittest.TestCase):
    def test_files_written_by_torch_export_and_by_fxopt_round_trip_byte_for_byte(self):
        files = sorted(glob.glob(os.path.join(DATA, "*.fxgraph.json")))
        self.assertEqual(len(files), 4)
        for path in files:
            with self.subTest(path=os.path.basename(path)):
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                self.assertEqual(fxgraph_json.dumps(fxgraph_json.loads(text)), text)


if __name__ == "__main__":
    unittest.main()
