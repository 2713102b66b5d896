"""fxopt.pattern with real PyTorch (device machine; skips without torch or the fxopt binary): the built-in patterns
re-authored in python/patterns/*.py trace to files that match exactly the same regions, with the same near-miss
reasons, as the hand-written ones on every corpus graph and golden case; what cannot be expressed is an error
naming the line. The generated files are copied to $FXOPT_PATTERN_OUT (or $OUT) when set, to be committed
as python/patterns/generated/*.json."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from fxopt.binary import optional_binary
from pattern_compare import compare_with_builtin, corpus_graphs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
LIBRARY = os.path.join(ROOT, "python", "patterns")
PREFIX = "py_"

try:
    import torch
    HAVE_TORCH = int(torch.__version__.split(".")[0]) >= 2
except ImportError:  # CI
    HAVE_TORCH = False


@unittest.skipUnless(HAVE_TORCH, "needs PyTorch 2.x")
@unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
class TraceBuiltinPatternsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from fxopt import pattern
        cls.binary = optional_binary()
        cls.dir = tempfile.mkdtemp(prefix="fxopt_pattern_trace_")
        cls.files = {}
        for module in sorted(glob.glob(os.path.join(LIBRARY, "*.py"))):
            name = os.path.splitext(os.path.basename(module))[0]
            out = os.path.join(cls.dir, f"{name}.json")
            rc = pattern.main([name, "--path", LIBRARY, "-o", out, "--name-prefix", PREFIX,
                               "--binary", cls.binary[0]])
            assert rc == 0, f"python -m fxopt.pattern {name} failed"
            cls.files[name] = out
        dest = os.environ.get("FXOPT_PATTERN_OUT") or os.environ.get("OUT")
        if dest:
            os.makedirs(dest, exist_ok=True)
            for f in cls.files.values():
                shutil.copy(f, dest)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_same_regions_and_near_misses_as_builtin(self):
        for name, path in self.files.items():
            diffs, counts = compare_with_builtin(self.binary, path, PREFIX, corpus_graphs(ROOT))
            print(f"[pattern-trace] {name}: {counts}")
            self.assertEqual(diffs, [], name)
            self.assertGreater(counts["matches"], 0)
            self.assertGreater(counts["near_misses"], 0)

    def test_generated_files_lint_clean_and_check(self):
        for name, path in self.files.items():
            r = subprocess.run(self.binary + ["patterns", "--lint", "--pattern-file", path, "--format", "json"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(json.loads(r.stdout)["errors"], 0)
            help_text = subprocess.run(self.binary + ["patterns", "--help"], capture_output=True, text=True).stdout
            if "--check" in help_text:
                with open(path) as f:
                    names = [p["name"] for p in json.load(f)["patterns"]]
                r = subprocess.run(self.binary + ["patterns", "--check", "--pattern-file", path] + names,
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_committed_files_are_current(self):
        for name, path in self.files.items():
            committed = os.path.join(LIBRARY, "generated", f"{name}.json")
            if not os.path.exists(committed):
                self.skipTest(f"{committed} not committed yet")
            with open(path) as a, open(committed) as b:
                self.assertEqual(json.load(a), json.load(b), f"regenerate {committed}")


def _search_ok(x, w, eps):
    return (x.to(torch.float32) * torch.rsqrt(x.to(torch.float32).pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def _search_data_dependent(x, w, eps):
    y = x.to(torch.float32)
    if y.sum() > 0:  # data-dependent control flow
        y = y * 2
    return (y + eps).to(x.dtype) * w


def _search_opaque(x, w, eps):
    y = torch.from_numpy(x.float().numpy())  # an opaque call
    return (y + eps).to(x.dtype) * w


def _search_literal(x, w, eps):
    y = x.to(torch.float32) + 1e-05  # a scalar that is not named
    return (y * eps).to(x.dtype) * w


@unittest.skipUnless(HAVE_TORCH, "needs PyTorch 2.x")
@unittest.skipIf(optional_binary() is None, "needs the fxopt binary")
class TraceErrorsTest(unittest.TestCase):
    def trace(self, fn, **kw):
        from fxopt import pattern as fp
        return fp.trace("t", fn, fp.FusedOp("vllm.rocm_aiter_rms_norm.default", ["%x", "%w", "$eps"]),
                        {"x": "bfloat16 [M, D]", "w": "bfloat16 [D]"}, sym_dims={"M": 8, "D": fp.int_var(64)},
                        scalars={"eps": 1e-6}, **kw)

    def line_of(self, fn, text):
        import inspect
        lines, start = inspect.getsourcelines(fn)
        return start + next(k for k, l in enumerate(lines) if text in l)

    def test_ok(self):
        p = self.trace(_search_ok)
        self.assertEqual(p["inputs"], {"x": "bfloat16 [M, D]", "w": "bfloat16 [D]"})
        self.assertIn("$eps", json.dumps(p["nodes"]))

    def test_data_dependent_control_flow(self):
        from fxopt.pattern import PatternError
        with self.assertRaises(PatternError) as e:
            self.trace(_search_data_dependent)
        self.assertIn(f"{__file__}:{self.line_of(_search_data_dependent, 'if y.sum()')}", str(e.exception))
        self.assertIn("data-dependent", str(e.exception))

    def test_opaque_call(self):
        from fxopt.pattern import PatternError
        with self.assertRaises(PatternError) as e:
            self.trace(_search_opaque)
        self.assertIn(f"{__file__}:{self.line_of(_search_opaque, 'numpy')}", str(e.exception))

    def test_unnamed_scalar(self):
        from fxopt.pattern import PatternError
        with self.assertRaises(PatternError) as e:
            self.trace(_search_literal)
        self.assertIn(f"{__file__}:{self.line_of(_search_literal, '1e-05')}", str(e.exception))
        self.assertIn("is not named", str(e.exception))

    def test_parameter_neither_input_nor_scalar(self):
        from fxopt.pattern import PatternError
        with self.assertRaisesRegex(PatternError, "parameter 'eps' .* neither an example input nor a named scalar"):
            from fxopt import pattern as fp
            fp.trace("t", _search_ok, fp.FusedOp("vllm.rocm_aiter_rms_norm.default", ["%x", "%w"]),
                     {"x": "bfloat16 [M, D]", "w": "bfloat16 [D]"}, sym_dims={"M": 8, "D": 64})


if __name__ == "__main__":
    unittest.main()
