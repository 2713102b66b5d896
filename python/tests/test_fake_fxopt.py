"""The test double for the fxopt binary fuses the corpus graphs (so the hook tests test the hook, not it)."""
import json
import os
import subprocess
import tempfile
import unittest

import common


class FakeBinaryOnCorpus(unittest.TestCase):
    def test_rewrite_fuses_once_per_layer(self):
        for path in common.corpus_files():
            with self.subTest(path=os.path.basename(path)):
                with open(path, encoding="utf-8") as f:
                    layers = json.load(f)["producer"].get("layers", 1)
                with tempfile.TemporaryDirectory() as d:
                    out = os.path.join(d, "out.json")
                    subprocess.run(common.FAKE_FXOPT + ["rewrite", path, "-o", out], check=True,
                                   capture_output=True)
                    with open(out, encoding="utf-8") as f:
                        nodes = json.load(f)["nodes"]
                fused = [n for n in nodes if n["target"].startswith("vllm.")]
                self.assertEqual(len(fused), layers)
                self.assertFalse([n for n in nodes if n["target"] == "aten.max.dim"])

    def test_failure_exits_non_zero_with_a_message(self):
        p = subprocess.run(common.FAKE_FXOPT + ["rewrite", "x.json", "--fail"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 3)
        self.assertIn("asked to fail", p.stderr)


if __name__ == "__main__":
    unittest.main()
