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

    def test_verify_is_reported_and_a_failed_verification_writes_nothing(self):
        path = common.corpus_files()[0]
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            p = subprocess.run(common.FAKE_FXOPT + ["rewrite", path, "-o", out, "--verify=regions"],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("--verify=regions: every rewrite agrees", p.stderr)
            self.assertTrue(os.path.exists(out))
            out2 = os.path.join(d, "out2.json")
            p = subprocess.run(common.FAKE_FXOPT + ["rewrite", path, "-o", out2, "--verify", "--verify-fails"],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("a rewrite differs, output not written", p.stderr)
            self.assertFalse(os.path.exists(out2))


if __name__ == "__main__":
    unittest.main()
