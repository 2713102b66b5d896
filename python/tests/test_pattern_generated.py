"""The committed pattern files generated from python/patterns/*.py (python/patterns/generated/, written on the
device machine by test_pattern_trace.py) checked with the binary, no torch needed: the same matches and near
misses as the hand-written built-in patterns on every corpus graph and golden case, and a clean lint."""
import glob
import json
import os
import subprocess
import unittest

from fxopt.binary import optional_binary
from pattern_compare import compare_with_builtin, corpus_graphs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
GENERATED = sorted(glob.glob(os.path.join(ROOT, "python", "patterns", "generated", "*.json")))


@unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
@unittest.skipUnless(GENERATED, "no generated pattern files committed yet (python/patterns/generated/)")
class GeneratedPatternFilesTest(unittest.TestCase):
    def test_same_matches_as_builtin(self):
        for path in GENERATED:
            diffs, counts = compare_with_builtin(optional_binary(), path, "py_", corpus_graphs(ROOT))
            self.assertEqual(diffs, [], path)
            self.assertGreater(counts["matches"], 0, path)

    def test_lint_clean(self):
        for path in GENERATED:
            r = subprocess.run(optional_binary() + ["patterns", "--lint", "--pattern-file", path, "--format", "json"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(json.loads(r.stdout)["errors"], 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
