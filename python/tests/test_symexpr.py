"""The SymInt expression grammar accepts what PyTorch prints (corpus and spec examples) and nothing else."""
import json
import unittest

import common
from fxopt import symexpr


def corpus_expressions():
    out = set()

    def walk(v):
        if isinstance(v, dict):
            if "sym" in v and isinstance(v["sym"], str):
                out.add(v["sym"])
            for k, e in v.items():
                if k in ("shape", "stride"):
                    out.update(s for s in e if isinstance(s, str))
                else:
                    walk(e)
        elif isinstance(v, list):
            for e in v:
                walk(e)

    for path in common.corpus_files():
        with open(path, encoding="utf-8") as f:
            walk(json.load(f)["nodes"])
    return out


class Grammar(unittest.TestCase):
    def test_corpus_and_spec_expressions_parse(self):
        exprs = corpus_expressions() | {
            "s68", "32*s68", "((s75**2)//4096)", "s75*((s75//(((s75**2)//4096))))", "Max(1, s0)",
            "Mod(s0, 16)", "-s0 + 7", "PythonMod(s0, 8)", "s0 % 8", "CeilDiv(s0, 4)", "u3", "FloorDiv(s1, 2)"}
        self.assertIn("32*s68", exprs)
        for e in sorted(exprs):
            with self.subTest(expr=e):
                symexpr.parse(e)

    def test_values(self):
        env = {"s0": 10, "s75": 128}
        cases = {"32*s0": 320, "-s0 + 7": -3, "((s75**2)//4096)": 4, "Max(1, s0)": 10, "Mod(s0, 3)": 1,
                 "CeilDiv(s0, 4)": 3, "s75*((s75//(((s75**2)//4096))))": 128 * 32, "s0 - 2*s0": -10}
        for text, want in cases.items():
            with self.subTest(expr=text):
                self.assertEqual(symexpr.evaluate(symexpr.parse(text), env), want)

    def test_symbols_in_order(self):
        self.assertEqual(list(dict.fromkeys(symexpr.symbols(symexpr.parse("s2*s10 + Max(s2, u0)")))),
                         ["s2", "s10", "u0"])

    def test_rejects_what_the_grammar_lacks(self):
        for bad in ("", "s0 +", "s0 >= 2", "sqrt(s0)", "IntTrueDiv(s0, 2)", "s0**s1", "1.5*s0", "(s0",
                    "Max", "s0 s1"):
            with self.subTest(expr=bad):
                with self.assertRaises(symexpr.SymExprError):
                    symexpr.parse(bad)


if __name__ == "__main__":
    unittest.main()
