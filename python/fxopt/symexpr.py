"""SymInt expressions as PyTorch prints them (spec/fxgraph.md grammar): parse to a small tree, no torch needed.

The exporter uses it to report expressions fxopt cannot read; the importer turns the tree into sympy.
Tree nodes are tuples: ("int", n) ("sym", name) ("neg", e) ("add"|"sub"|"mul"|"floordiv"|"mod", a, b)
("pow", e, n) ("call", FUNC, [args]).
"""
from __future__ import annotations

import functools
import re
from typing import Iterator

FUNCS = ("Max", "Min", "Mod", "FloorDiv", "CeilDiv", "PythonMod")

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|//|[-+*%(),]))")


class SymExprError(ValueError):
    """Text outside the fxgraph SymInt grammar."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SymExprError(f"{text!r}: unexpected character at {pos}: {text[pos:pos + 8]!r}")
        out.append(m.group(m.lastindex))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            want = f"'{expected}'" if expected else "more input"
            raise SymExprError(f"{self.text!r}: expected {want}, found {tok!r}")
        self.i += 1
        return tok

    # expr := term (("+" | "-") term)*
    def expr(self):
        node = self.term()
        while self.peek() in ("+", "-"):
            op = "add" if self.take() == "+" else "sub"
            node = (op, node, self.term())
        return node

    # term := unary (("*" | "//" | "%") unary)*
    def term(self):
        node = self.unary()
        while self.peek() in ("*", "//", "%"):
            op = {"*": "mul", "//": "floordiv", "%": "mod"}[self.take()]
            node = (op, node, self.unary())
        return node

    # unary := "-" unary | power
    def unary(self):
        if self.peek() == "-":
            self.take()
            return ("neg", self.unary())
        return self.power()

    # power := atom ("**" INT)?
    def power(self):
        node = self.atom()
        if self.peek() == "**":
            self.take()
            tok = self.take()
            if not tok.isdigit():
                raise SymExprError(f"{self.text!r}: exponent must be an integer, found {tok!r}")
            node = ("pow", node, int(tok))
        return node

    # atom := INT | SYMBOL | "(" expr ")" | FUNC "(" expr ("," expr)* ")"
    def atom(self):
        tok = self.take()
        if tok.isdigit():
            return ("int", int(tok))
        if tok == "(":
            node = self.expr()
            self.take(")")
            return node
        if tok[0].isalpha() or tok[0] == "_":
            if self.peek() == "(":
                if tok not in FUNCS:
                    raise SymExprError(f"{self.text!r}: function {tok} is not in the fxgraph grammar")
                self.take("(")
                args = [self.expr()]
                while self.peek() == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                return ("call", tok, args)
            if tok in FUNCS:
                raise SymExprError(f"{self.text!r}: {tok} used without arguments")
            return ("sym", tok)
        raise SymExprError(f"{self.text!r}: unexpected {tok!r}")


@functools.lru_cache(maxsize=4096)  # graphs repeat a few spellings thousands of times; trees are not mutated
def parse(text: str):
    """The expression tree of `text`; SymExprError when it is outside the grammar."""
    if not isinstance(text, str) or not text.strip():
        raise SymExprError(f"{text!r}: empty expression")
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        raise SymExprError(f"{text!r}: trailing input at {p.peek()!r}")
    return node


def symbols(tree) -> Iterator[str]:
    """The free symbols of a tree, in order of first appearance (repeats included)."""
    kind = tree[0]
    if kind == "sym":
        yield tree[1]
    elif kind == "int":
        return
    elif kind == "call":
        for a in tree[2]:
            yield from symbols(a)
    elif kind in ("neg",):
        yield from symbols(tree[1])
    elif kind == "pow":
        yield from symbols(tree[1])
    else:
        yield from symbols(tree[1])
        yield from symbols(tree[2])


def evaluate(tree, env: dict[str, int]) -> int:
    """Python-integer value under `env` (floor division and modulo as Python's)."""
    kind = tree[0]
    if kind == "int":
        return tree[1]
    if kind == "sym":
        return env[tree[1]]
    if kind == "neg":
        return -evaluate(tree[1], env)
    if kind == "pow":
        return evaluate(tree[1], env) ** tree[2]
    if kind == "call":
        vals = [evaluate(a, env) for a in tree[2]]
        name = tree[1]
        if name == "Max":
            return max(vals)
        if name == "Min":
            return min(vals)
        if name in ("Mod", "PythonMod"):
            return vals[0] % vals[1]
        if name == "FloorDiv":
            return vals[0] // vals[1]
        if name == "CeilDiv":
            return -((-vals[0]) // vals[1])
        raise SymExprError(f"unknown function {name}")
    a, b = evaluate(tree[1], env), evaluate(tree[2], env)
    if kind == "add":
        return a + b
    if kind == "sub":
        return a - b
    if kind == "mul":
        return a * b
    if kind == "floordiv":
        return a // b
    if kind == "mod":
        return a % b
    raise SymExprError(f"unknown node {kind}")
