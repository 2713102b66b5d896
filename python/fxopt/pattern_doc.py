"""Pattern documents (docs/patterns.md) from traced graphs, without torch: the half of fxopt.pattern that tests run in CI.

fxopt.pattern traces a search function twice (the float and dtype scalars at two different example values,
the named dims and int scalars as SymInts), exports both traces as fxgraph v1 documents, normalises them with
the fxopt binary, and hands them to `build_pattern`, which

* turns placeholders into the pattern's inputs ("x": "bfloat16 [N*H, D]": shapes over the named dims),
* turns every value that differs between the two traces into a variable hole ("$eps", "$-FMAX",
  {"dtype": "$FP8"}) and refuses one that is not a named scalar or its negation (a scalar computed in
  Python from a named one), naming the source line,
* writes SymInt arguments as expressions over the named dims ("$H*D//G"), a reshape's sizes as the shape it
  produces, and refuses a shape over a symbol that is not a named dim,
* names the region's nodes after the Python variables they were assigned to (from the stack traces), and
* builds the replacement from a traced replacement function or from a fused op call (`FusedOp`).
"""
from __future__ import annotations

import dataclasses
import keyword
import math
import struct
import re
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import symexpr

RESHAPE_TARGETS = ("aten.reshape.default", "aten.view.default", "aten._unsafe_view.default")
# Namespaces of the ops a replacement is made of besides its fused op.
_PLAIN_NAMESPACES = ("aten.", "prims.", "_operator.", "torch.", "math.")
_FP8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")


class PatternError(ValueError):
    """A pattern that cannot be expressed (the message names the pattern, the source line and why)."""


@dataclasses.dataclass
class Var:
    """A pattern variable: `type` is "sym", "int", "float" or "dtype" (docs/patterns.md, `vars`).

    example: the value the search function is traced with (a size hint for sym/int; a dtype name);
    value: fixed by the pattern; one_of: the values allowed; doc: a comment written into the pattern.
    """
    type: str
    example: Any = None
    value: Any = None
    one_of: tuple = ()
    doc: str = ""

    def __post_init__(self):
        if self.type not in ("sym", "int", "float", "dtype"):
            raise PatternError(f"variable type {self.type!r}: expected sym, int, float or dtype")
        self.one_of = tuple(self.one_of)

    def declaration(self):
        extra = {}
        if self.value is not None:
            extra["value"] = self.value
        if self.one_of:
            extra["one_of"] = list(self.one_of)
        if self.doc:
            extra["doc"] = self.doc
        return {"type": self.type, **extra} if extra else self.type


def sym_dim(example: int, doc: str = "") -> Var:
    """A dynamic size (binds to a SymInt expression, N := s68), traced with size hint `example`."""
    return Var("sym", example=example, doc=doc)


def int_var(example: Optional[int] = None, *, value: Optional[int] = None, one_of: Sequence[int] = (),
            doc: str = "") -> Var:
    """An int that must match exactly (a head count, a group size); `value` fixes it."""
    return Var("int", example=example if example is not None else value, value=value, one_of=one_of, doc=doc)


def float_var(example: Optional[float] = None, *, value: Optional[float] = None, one_of: Sequence[float] = (),
              doc: str = "") -> Var:
    """A float scalar (eps, an fp8 max): a hole in the pattern, bound by the match."""
    return Var("float", example=example if example is not None else value, value=value, one_of=one_of, doc=doc)


def dtype_var(*one_of: str, example: Optional[str] = None, value: Optional[str] = None, doc: str = "") -> Var:
    """A dtype scalar (the fp8 format), allowed to be any of `one_of` (dtype names)."""
    return Var("dtype", example=example or value or (one_of[0] if one_of else None), value=value, one_of=one_of,
               doc=doc)


def as_var(name: str, spec: Any, default_type: str) -> Var:
    """A plain value in scalars= / sym_dims= as a Var: int -> int (sym in sym_dims), float, dtype name."""
    if isinstance(spec, Var):
        return spec
    if isinstance(spec, bool):
        raise PatternError(f"scalar {name!r}: a bool cannot be a pattern variable")
    if isinstance(spec, int):
        return Var(default_type if default_type in ("sym", "int") else "int", example=spec)
    if isinstance(spec, float):
        return Var("float", example=spec)
    if isinstance(spec, str):
        return Var("dtype", example=spec)
    raise PatternError(f"scalar {name!r}: {spec!r} is not an int, a float, a dtype or a Var")


def check_var_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or keyword.iskeyword(name) or name == "fp8_max":
        raise PatternError(f"{name!r} cannot be a variable name (an identifier, not fp8_max)")


@dataclasses.dataclass
class FusedOp:
    """A replacement that is one call of an existing op: `args`/`kwargs` map the pattern's inputs and
    variables onto its arguments ("%x" an input, "$eps" a variable or expression, or a literal). Its
    result is the tuple of the pattern's outputs (one getitem per output), or the only output; the types
    are the outputs' types."""
    op: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    name: Optional[str] = None


@dataclasses.dataclass
class Trace:
    """A traced function as fxgraph v1 documents: `doc` with the scalars at their first example values,
    `alt` (optional) at the second; `params` names each placeholder in order ("x", or a scalar name for a
    SymInt placeholder); `source` is the function's file (frames of other files are library code)."""
    doc: dict
    params: Sequence[str]
    alt: Optional[dict] = None
    source: Optional[str] = None
    function: str = "<function>"
    # (line, code, float literals) of the function and of the functions of its file it calls (source_lines()):
    # where a node's stack trace does not reach the function's lines, an unnamed literal is found here.
    lines: Sequence[tuple] = ()


def source_lines(fn) -> list[tuple[int, str, list[str]]]:
    """(line number, code, non-integer float literals) of every line of `fn` and of the functions defined in
    the same file that it calls (by global name, transitively); [] when the source cannot be read."""
    import inspect
    import io
    import textwrap
    import tokenize
    import types

    def code_names(code) -> set:
        names = set(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                names |= code_names(c)
        return names

    try:
        file = inspect.getsourcefile(fn)
    except TypeError:
        return []
    out, seen, todo = [], set(), [fn]
    while todo:
        f = todo.pop()
        f = getattr(f, "__wrapped__", f)
        if id(f) in seen or not isinstance(f, types.FunctionType):
            continue
        seen.add(id(f))
        try:
            if inspect.getsourcefile(f) != file:
                continue
            lines, start = inspect.getsourcelines(f)
        except (OSError, TypeError):
            continue
        literals: dict[int, list[str]] = {}
        try:
            text = "".join(lines)
            for tok in tokenize.generate_tokens(io.StringIO(textwrap.dedent(text)).readline):
                if tok.type == tokenize.NUMBER and _FLOAT_LITERAL.fullmatch(tok.string):
                    try:
                        if not float(tok.string).is_integer():
                            literals.setdefault(start + tok.start[0] - 1, []).append(tok.string)
                    except ValueError:
                        pass
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        for k, line in enumerate(lines):
            out.append((start + k, line.strip(), literals.get(start + k, [])))
        for name in sorted(code_names(f.__code__)):
            g = f.__globals__.get(name)
            if isinstance(g, types.FunctionType):
                todo.append(g)
    return sorted(out)


# ---------------------------------------------------------------------------------------------------------
# Expressions

_PREC = {"add": 1, "sub": 1, "mul": 2, "floordiv": 2, "mod": 2, "neg": 3}
_OPS = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%"}


def _print_tree(t, names: Mapping[str, str], where: str) -> tuple[str, int]:
    kind = t[0]
    if kind == "int":
        return str(t[1]), 4
    if kind == "sym":
        if t[1] not in names:
            known = ", ".join(f"{s}={n}" for s, n in names.items()) or "none"
            raise PatternError(f"{where}: symbol {t[1]} is not a named dim or int scalar (named: {known}); "
                               "give every dynamic size a name in sym_dims=")
        return names[t[1]], 4
    if kind == "neg":
        s, p = _print_tree(t[1], names, where)
        return "-" + (s if p >= 3 else f"({s})"), 3
    if kind == "pow":
        if t[2] < 1:
            raise PatternError(f"{where}: power {t[2]} is not expressible")
        return _print_tree(("mul", t[1], ("pow", t[1], t[2] - 1)) if t[2] > 1 else t[1], names, where)
    if kind == "call":
        fn, args = t[1], t[2]
        if fn in ("Mod", "PythonMod"):
            return _print_tree(("mod", args[0], args[1]), names, where)
        if fn == "FloorDiv":
            return _print_tree(("floordiv", args[0], args[1]), names, where)
        if fn == "CeilDiv":
            return _print_tree(("floordiv", ("sub", ("add", args[0], args[1]), ("int", 1)), args[1]), names, where)
        raise PatternError(f"{where}: {fn}(...) has no spelling in the pattern language")
    if kind == "mul":
        # Factors in a fixed order (constants, then the variables in declaration order), whatever order
        # the symbols' names gave them in sympy's printing: "H*D", as a person writes it.
        factors = []

        def flatten(x):
            if x[0] == "mul":
                flatten(x[1])
                flatten(x[2])
            else:
                factors.append(x)
        flatten(t)
        order = list(names.values())

        def key(x):
            if x[0] == "int":
                return (0, 0)
            if x[0] == "sym" and names.get(x[1]) in order:
                return (1, order.index(names[x[1]]))
            return (2, 0)
        factors.sort(key=key)
        text = []
        for f in factors:
            s, p = _print_tree(f, names, where)
            text.append(s if p >= 2 else f"({s})")
        return "*".join(text), 2
    op = _PREC[kind]
    a, pa = _print_tree(t[1], names, where)
    b, pb = _print_tree(t[2], names, where)
    if pa < op:
        a = f"({a})"
    if pb < op or (pb == op and kind not in ("add", "mul")):
        b = f"({b})"
    return f"{a}{_OPS[kind]}{b}" if kind != "add" and kind != "sub" else f"{a} {_OPS[kind]} {b}", op


def sym_expr(text: Union[str, int], names: Mapping[str, str], where: str) -> Union[str, int]:
    """A SymInt expression as PyTorch prints it ("((s0*s1)//128)") over the named dims ("N*H//128"), or an int."""
    if isinstance(text, int):
        return text
    try:
        tree = symexpr.parse(text)
    except symexpr.SymExprError as e:
        raise PatternError(f"{where}: {e}") from None
    if tree[0] == "int":
        return tree[1]
    return _print_tree(tree, names, where)[0].replace(" ", "")


# ---------------------------------------------------------------------------------------------------------
# Source lines (for names and errors)

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in ([^\n]+)\n[ \t]*([^\n]*)')
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=(?!=)")
_FLOAT_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+(?:[eE][-+]?\d+)?)")


def _frame(node: dict, source: Optional[str]) -> Optional[tuple[str, int, str, str]]:
    """(file, line, function, code) of the innermost frame of the user's file in the node's stack trace."""
    st = (node.get("meta") or {}).get("stack_trace")
    if not isinstance(st, str):
        return None
    frames = [(f, int(l), fn.strip(), code.strip()) for f, l, fn, code in _FRAME.findall(st)]
    if source:
        mine = [fr for fr in frames if fr[0] == source]
        frames = mine or frames
    return frames[-1] if frames else None


def _at(node: dict, source: Optional[str]) -> str:
    fr = _frame(node, source)
    if fr:
        return f"{fr[0]}:{fr[1]} (`{fr[3]}`)"
    return f"node {node.get('name')} ({node.get('target')})"


# ---------------------------------------------------------------------------------------------------------
# The builder

class _Builder:
    def __init__(self, name: str, variables: Mapping[str, Var], sym_names: Mapping[str, str],
                 sentinels: Sequence[Mapping[str, Any]]):
        self.name = name
        self.vars = variables
        self.sym_names = dict(sym_names)
        self.sentinels = sentinels  # [trace a values, trace b values] of the float/dtype variables
        self.lines: dict[Optional[str], Sequence[tuple]] = {}  # source file -> Trace.lines

    def err(self, msg: str) -> PatternError:
        return PatternError(f"pattern {self.name!r}: {msg}")

    # Values ------------------------------------------------------------------------------------------
    def expr(self, text, where: str, alt=None):
        """A SymInt expression over the named dims. `alt` is the same value in the second trace: where a fixed
        int (G = 128) was traced at two values, its literal becomes the variable."""
        names = {**self.sym_names, **{v: v for v in self.vars}}
        if alt is not None and str(alt) != str(text):
            for var, v in self.vars.items():
                if v.type != "int" or var not in self.sentinels[0]:
                    continue
                ta = _subst_int(text, self.sentinels[0][var], var)
                tb = _subst_int(alt, self.sentinels[1][var], var)
                if ta == tb and ta != str(text):
                    text = ta
                    break
            else:
                raise self.err(f"{where}: {text} (and {alt} in the second trace) depends on a float/dtype scalar or "
                               "on a fixed int in a way the pattern cannot spell")
        try:
            return sym_expr(text, names, where)
        except PatternError as e:
            raise self.err(str(e)) from None

    def hole(self, text, where: str, alt=None):
        e = self.expr(text, where, alt)
        return e if isinstance(e, int) else f"${e}"

    def scalar(self, a, b, where: str, node: dict, source: Optional[str]):
        """A float argument: a literal when both traces agree, else the named scalar (or its negation)."""
        if b is None or a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            fr = _frame(node, source)
            if isinstance(a, float) and not float(a).is_integer():
                # The node's line when its stack trace reaches the function's file, else every line of it.
                if fr and (fr[0] == source or not self.lines.get(source)):
                    found = [(fr[0], fr[1], fr[3], lit) for lit in _FLOAT_LITERAL.findall(fr[3])]
                else:
                    found = [(source, line, code, lit) for line, code, lits in self.lines.get(source, ())
                             for lit in lits]
                for file, line, code, lit in found:
                    if float(lit) == a:
                        raise self.err(f"{file}:{line}: the float {lit} in `{code}` is not named: make it a "
                                       "parameter of the function and name it in scalars= (a literal would "
                                       "match only this exact value)")
            return a
        for var, v in self.vars.items():
            if v.type != "float" or var not in self.sentinels[0]:
                continue
            sa, sb = self.sentinels[0][var], self.sentinels[1][var]
            # A decomposition may carry the scalar as float32 (F.rms_norm's eps in PyTorch 2.11 is traced as
            # float32(eps)): the graph then holds the rounded value, which the bound variable takes as it is.
            if (_close(a, sa) and _close(b, sb)) or (_close(a, _f32(sa)) and _close(b, _f32(sb))):
                return f"${var}"
            if _close(a, -sa) and _close(b, -sb):
                return f"$-{var}"
        raise self.err(f"{_at(node, source)}: {where}: the value {a!r} depends on a named scalar but is not one "
                       "(computed from it in Python?): pass it as its own scalar and relate the two with a "
                       "condition (e.g. \"FLOOR == 1/(FMAX*512)\")")

    def dtype(self, a: str, b: Optional[str], where: str, node: Optional[dict], source: Optional[str]) -> str:
        if b is None or a == b:
            return a
        for var, v in self.vars.items():
            if v.type == "dtype" and var in self.sentinels[0] and self.sentinels[0][var] == a and \
                    self.sentinels[1][var] == b:
                return f"${var}"
        at = _at(node, source) + ": " if node else ""
        raise self.err(f"{at}{where}: dtype {a} depends on a named scalar but is not one")

    def type_of(self, va: Any, vb: Any, where: str, node: Optional[dict], source: Optional[str]) -> str:
        if not isinstance(va, dict) or "dtype" not in va or "shape" not in va:
            raise self.err(f"{where}: expected a tensor value, got {va!r}")
        dt = self.dtype(va["dtype"], vb.get("dtype") if isinstance(vb, dict) else None, where + " dtype", node,
                        source)
        if dt.startswith("$"):
            dt = dt[1:]
        sb = vb.get("shape") if isinstance(vb, dict) and len(vb.get("shape", [])) == len(va["shape"]) else None
        dims = [str(self.expr(d, f"{where} shape[{k}]", sb[k] if sb else None)) for k, d in enumerate(va["shape"])]
        return f"{dt} [{', '.join(dims)}]"

    def value(self, a, b, where: str, node: dict, source: Optional[str], refs: Mapping[str, Any]):
        """One argument of a node (trace a's and trace b's), in the pattern's encoding."""
        if isinstance(a, dict) and "node" in a:
            target = refs.get(a["node"])
            if target is None:
                raise self.err(f"{_at(node, source)}: {where}: uses {a['node']}, which is not part of the pattern")
            return target
        if isinstance(a, dict) and "sym" in a:
            return self.hole(a["sym"], where, b.get("sym") if isinstance(b, dict) else None)
        if isinstance(a, dict) and "dtype" in a:
            return {"dtype": self.dtype(a["dtype"], b.get("dtype") if isinstance(b, dict) else None, where, node,
                                        source)}
        if isinstance(a, dict) and "float" in a:
            return a
        if isinstance(a, dict):
            raise self.err(f"{_at(node, source)}: {where}: {a!r} cannot be written in a pattern")
        if isinstance(a, list):
            bl = b if isinstance(b, list) and len(b) == len(a) else [None] * len(a)
            return [self.value(x, y, f"{where}[{k}]", node, source, refs) for k, (x, y) in enumerate(zip(a, bl))]
        if isinstance(a, bool) or a is None:
            return a
        if isinstance(a, int) and not isinstance(b, float):
            if b is not None and b != a:
                for var, v in self.vars.items():
                    if v.type == "int" and var in self.sentinels[0]:
                        if (a, b) == (self.sentinels[0][var], self.sentinels[1][var]):
                            return f"${var}"
                        if (a, b) == (-self.sentinels[0][var], -self.sentinels[1][var]):
                            return f"$-{var}"
                raise self.err(f"{_at(node, source)}: {where}: the int {a} changes with the scalars ({b} in the "
                               "second trace) but is not a named one: name it in scalars=")
            return a
        if isinstance(a, (int, float)):
            return self.scalar(a, b, where, node, source)
        if isinstance(a, str):
            return {"str": a} if a[:1] in ("%", "$") else a
        raise self.err(f"{_at(node, source)}: {where}: {a!r} cannot be written in a pattern")


def _subst_int(text, value, var: str) -> str:
    return re.sub(rf"(?<![A-Za-z0-9_.]){re.escape(str(value))}(?![A-Za-z0-9_.])", var, str(text))


def _f32(x):
    """x rounded to float32 (a float), or x unchanged when it is not a float."""
    return struct.unpack("f", struct.pack("f", x))[0] if isinstance(x, float) and math.isfinite(x) else x


def _close(x, y) -> bool:
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or isinstance(x, bool):
        return False
    return x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def _sizes_arg(n: dict, rank: int) -> list:
    """A reshape's requested sizes (args[1]) when it lists `rank` of them, else Nones."""
    args = n.get("args") or []
    sizes = args[1] if len(args) > 1 else None
    return list(sizes) if isinstance(sizes, list) and len(sizes) == rank else [None] * rank


def _is_symint_node(n: dict) -> bool:
    val = (n.get("meta") or {}).get("val")
    return isinstance(val, dict) and "sym" in val or (isinstance(val, int) and not isinstance(val, bool))


def _symint_value(n: dict, nb: Optional[dict], b: _Builder, where: str):
    val = n["meta"]["val"]
    vb = ((nb or {}).get("meta") or {}).get("val")
    text = val["sym"] if isinstance(val, dict) else val
    alt = (vb["sym"] if isinstance(vb, dict) else vb) if vb is not None else None
    return b.hole(text, where, alt)


def _check_same_structure(b: _Builder, a: dict, alt: dict, what: str, source: Optional[str]) -> None:
    na, nb = a["nodes"], alt["nodes"]
    for k in range(min(len(na), len(nb))):
        if na[k].get("op") != nb[k].get("op") or na[k].get("target") != nb[k].get("target"):
            raise b.err(f"{_at(na[k], source)}: the {what} traced differently with other values of the float/dtype "
                        f"scalars ({na[k].get('target')} vs {nb[k].get('target')}): Python control flow depends on "
                        "a scalar's value")
    if len(na) != len(nb):
        raise b.err(f"the {what} traced to {len(na)} nodes, and to {len(nb)} with other values of the scalars: "
                    "Python control flow depends on a scalar's value")


def _unique(name: str, taken: set) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name) or "node"
    if name[0].isdigit():
        name = "n" + name
    out, k = name, 1
    while out in taken:
        out = f"{name}_{k}"
        k += 1
    taken.add(out)
    return out


def _source_names(nodes: Sequence[dict], source: Optional[str], taken: set) -> dict[str, str]:
    """FX node name -> pattern node name: the variable a line assigns to for the line's last node, the
    variable plus the op for the line's other nodes, the FX name where there is no stack trace."""
    by_line: dict[tuple, list[dict]] = {}
    for n in nodes:
        fr = _frame(n, source)
        if fr:
            by_line.setdefault((fr[0], fr[1]), []).append(n)
    wanted: dict[str, str] = {}
    for (_, _), group in by_line.items():
        fr = _frame(group[-1], source)
        m = _ASSIGN.match(fr[3]) if fr else None
        if not m:
            continue
        var = m.group(1)
        # A call returning a tuple is traced as the call and one getitem per element on the same line: the
        # variable names the call (`quant = op(...)`: root="quant"), its getitems are var_0, var_1, ...
        in_group = {n["name"] for n in group}

        def unpacks(n):
            a = n.get("args") or []
            return n.get("target") == "_operator.getitem" and len(a) == 2 and isinstance(a[0], dict) and \
                a[0].get("node") in in_group and isinstance(a[1], int)
        main = next((n for n in reversed(group) if not unpacks(n)), group[-1])
        for n in group:
            if n is main:
                wanted[n["name"]] = var
            elif unpacks(n) and n["args"][0]["node"] == main["name"]:
                wanted[n["name"]] = f"{var}_{n['args'][1]}"
            else:
                wanted[n["name"]] = f"{var}_{n['target'].split('.')[1] if '.' in n['target'] else n['target']}"
    return {n["name"]: _unique(wanted.get(n["name"], n["name"]), taken) for n in nodes}


def _region(b: _Builder, tr: Trace, inputs: Sequence[str], outputs: Optional[Sequence[str]]):
    """The search trace as pattern inputs, nodes and outputs."""
    doc, alt = tr.doc, tr.alt
    b.lines[tr.source] = tr.lines
    if alt is not None:
        _check_same_structure(b, doc, alt, "search function", tr.source)
    pair = {}  # a-name -> b node (same position)
    if alt is not None:
        for na, nb in zip(doc["nodes"], alt["nodes"]):
            pair[na["name"]] = nb
    placeholders = [n for n in doc["nodes"] if n["op"] == "placeholder"]
    if len(placeholders) != len(tr.params):
        raise b.err(f"the search trace has {len(placeholders)} placeholders for {len(tr.params)} parameters")
    refs: dict[str, Any] = {}
    input_types: dict[str, Optional[str]] = {}
    for ph, param in zip(placeholders, tr.params):
        if _is_symint_node(ph):
            refs[ph["name"]] = _symint_value(ph, pair.get(ph["name"]), b, f"parameter {param}")
        elif param in inputs:
            refs[ph["name"]] = f"%{param}"
            val = (ph.get("meta") or {}).get("val")
            vb = (pair.get(ph["name"], {}).get("meta") or {}).get("val")
            input_types[param] = b.type_of(val, vb, f"input {param}", None, tr.source) if val else None
        elif param in b.vars:
            refs[ph["name"]] = None  # a float/dtype scalar or a fixed int: the trace has its value as constants
        else:
            raise b.err(f"parameter {param!r} of the search function is neither an example input nor an int scalar")
    calls = [n for n in doc["nodes"] if n["op"] == "call_function" and not _is_symint_node(n)]
    for n in doc["nodes"]:
        if n["op"] == "call_function" and _is_symint_node(n):
            refs[n["name"]] = _symint_value(n, pair.get(n["name"]), b, f"node {n['name']}")
        elif n["op"] not in ("placeholder", "call_function", "output"):
            raise b.err(f"{_at(n, tr.source)}: a {n['op']} node ({n.get('target')}) cannot be part of a pattern "
                        "(an opaque Python call or a module attribute?)")
    names = _source_names(calls, tr.source, set(inputs))
    out_nodes = []
    for n in calls:
        nb = pair.get(n["name"], {})
        pn = {"name": names[n["name"]], "op": n["target"]}
        where = f"node {pn['name']}"
        if n["target"] in RESHAPE_TARGETS:
            # A reshape in a pattern gives the shape it produces (the graph's sizes may be spelled any way).
            shape = n["meta"]["val"]["shape"]
            vb = (nb.get("meta") or {}).get("val") if nb else None
            sb = vb["shape"] if isinstance(vb, dict) and len(vb.get("shape", [])) == len(shape) else [None] * len(shape)
            src = b.value(n["args"][0], None, where + ".args[0]", n, tr.source, refs)
            # A size the call spelled itself (a named dim, H*D//G, G) is written as spelled: PyTorch's reshape
            # may give the output shape as FloorDiv(H*D, FloorDiv(H*D, 128)) where the call said 128; -1 and
            # anything else comes from the shape produced.
            req = _sizes_arg(n, len(shape))
            reqb = _sizes_arg(nb, len(shape)) if nb else [None] * len(shape)
            dims = []
            for k, d in enumerate(shape):
                r = req[k]
                if isinstance(r, dict) and "node" in r and isinstance(refs.get(r["node"]), (str, int)) and \
                        (isinstance(refs[r["node"]], int) or refs[r["node"]].startswith("$")):
                    dims.append(refs[r["node"]])
                elif isinstance(r, int) and not isinstance(r, bool) and r >= 0:
                    dims.append(b.value(r, reqb[k], f"{where} shape[{k}]", n, tr.source, refs))
                else:
                    dims.append(b.hole(d, f"{where} shape[{k}]", sb[k]))
            pn["args"] = [src, dims]
        else:
            bargs = nb.get("args") if nb else None
            pn["args"] = [b.value(x, bargs[k] if bargs and k < len(bargs) else None, f"{where}.args[{k}]", n,
                                  tr.source, refs) for k, x in enumerate(n.get("args", []))]
            if n.get("kwargs"):
                bk = nb.get("kwargs", {}) if nb else {}
                pn["kwargs"] = {k: b.value(v, bk.get(k), f"{where}.kwargs.{k}", n, tr.source, refs)
                                for k, v in n["kwargs"].items()}
        refs[n["name"]] = f"%{pn['name']}"
        pn["_fx"] = n
        out_nodes.append(pn)
    out = [n for n in doc["nodes"] if n["op"] == "output"]
    results = out[0]["args"][0] if out else []
    if not isinstance(results, list):
        results = [results]
    if outputs is None:
        outputs = ["out"] if len(results) == 1 else [f"out{k}" for k in range(len(results))]
    if len(outputs) != len(results):
        raise b.err(f"outputs= names {len(outputs)} outputs, the search function returns {len(results)}")
    out_map = {}
    for oname, r in zip(outputs, results):
        if not (isinstance(r, dict) and "node" in r) or not str(refs.get(r["node"], "")).startswith("%") or \
                r["node"] in [p["name"] for p in placeholders]:
            raise b.err(f"output {oname!r} is not computed by the search function (an input or a constant)")
        pname = refs[r["node"]][1:]
        node = next(n for n in out_nodes if n["name"] == pname)
        fx = node["_fx"]
        fb = pair.get(fx["name"], {})
        node["val"] = b.type_of(fx["meta"]["val"], (fb.get("meta") or {}).get("val"), f"output {oname}", fx,
                                tr.source)
        out_map[oname] = pname
    for n in out_nodes:
        n.pop("_fx")
    return input_types, out_nodes, out_map


def _replacement_from_trace(b: _Builder, tr: Trace, inputs: Sequence[str], outputs: Sequence[str],
                            taken: set) -> tuple[list, dict]:
    doc, alt = tr.doc, tr.alt
    b.lines[tr.source] = tr.lines
    if alt is not None:
        _check_same_structure(b, doc, alt, "replacement function", tr.source)
    pair = {na["name"]: nb for na, nb in zip(doc["nodes"], alt["nodes"])} if alt is not None else {}
    placeholders = [n for n in doc["nodes"] if n["op"] == "placeholder"]
    if len(placeholders) != len(tr.params):
        raise b.err(f"the replacement trace has {len(placeholders)} placeholders for {len(tr.params)} parameters")
    refs: dict[str, Any] = {}
    for ph, param in zip(placeholders, tr.params):
        if _is_symint_node(ph):
            refs[ph["name"]] = _symint_value(ph, pair.get(ph["name"]), b, f"replacement parameter {param}")
        elif param in inputs:
            refs[ph["name"]] = f"%{param}"
        elif param in b.vars:
            refs[ph["name"]] = None
        else:
            raise b.err(f"parameter {param!r} of the replacement is not an input of the search function")
    calls = []
    for n in doc["nodes"]:
        if n["op"] == "call_function" and _is_symint_node(n):
            refs[n["name"]] = _symint_value(n, pair.get(n["name"]), b, f"replacement node {n['name']}")
        elif n["op"] == "call_function":
            calls.append(n)
        elif n["op"] not in ("placeholder", "output"):
            raise b.err(f"{_at(n, tr.source)}: a {n['op']} node cannot be part of a replacement")
    names = _source_names(calls, tr.source, taken)
    nodes = []
    for n in calls:
        nb = pair.get(n["name"], {})
        name = names[n["name"]]
        where = f"replacement node {name}"
        rn = {"name": name, "op": n["target"]}
        bargs = nb.get("args") if nb else None
        rn["args"] = [b.value(x, bargs[k] if bargs and k < len(bargs) else None, f"{where}.args[{k}]", n, tr.source,
                              refs) for k, x in enumerate(n.get("args", []))]
        if n.get("kwargs"):
            bk = nb.get("kwargs", {}) if nb else {}
            rn["kwargs"] = {k: b.value(v, bk.get(k), f"{where}.kwargs.{k}", n, tr.source, refs)
                            for k, v in n["kwargs"].items()}
        val = (n.get("meta") or {}).get("val")
        vb = (nb.get("meta") or {}).get("val") if nb else None
        if isinstance(val, list):
            vbl = vb if isinstance(vb, list) and len(vb) == len(val) else [None] * len(val)
            rn["val"] = [b.type_of(x, y, f"{where} val[{k}]", n, tr.source) for k, (x, y) in enumerate(zip(val, vbl))]
        else:
            rn["val"] = b.type_of(val, vb, f"{where} val", n, tr.source)
        refs[n["name"]] = f"%{name}"
        nodes.append(rn)
    out = [n for n in doc["nodes"] if n["op"] == "output"]
    results = out[0]["args"][0] if out else []
    if not isinstance(results, list):
        results = [results]
    if len(results) != len(outputs):
        raise b.err(f"the replacement returns {len(results)} values, the search function {len(outputs)}")
    out_map = {}
    for oname, r in zip(outputs, results):
        ref = refs.get(r["node"]) if isinstance(r, dict) and "node" in r else None
        if not isinstance(ref, str) or not ref.startswith("%") or ref[1:] in inputs:
            raise b.err(f"replacement output {oname!r} is not computed by the replacement")
        out_map[oname] = ref[1:]
    return nodes, out_map


def _replacement_from_op(b: _Builder, f: FusedOp, inputs: Sequence[str], out_types: Mapping[str, str],
                         outputs: Sequence[str], taken: set) -> tuple[list, dict]:
    def check(v, where):
        if isinstance(v, str) and v.startswith("%") and v[1:] not in inputs:
            raise b.err(f"FusedOp {where}: {v!r} is not an input of the pattern ({', '.join(inputs)})")
        if isinstance(v, list):
            for k, x in enumerate(v):
                check(x, f"{where}[{k}]")
    for k, a in enumerate(f.args):
        check(a, f"args[{k}]")
    for k, a in f.kwargs.items():
        check(a, f"kwargs.{k}")
    main = _unique(f.name or (f.op.split(".")[1] if "." in f.op else f.op), taken)
    node = {"name": main, "op": f.op, "args": list(f.args)}
    if f.kwargs:
        node["kwargs"] = dict(f.kwargs)
    if len(outputs) == 1:
        node["val"] = out_types[outputs[0]]
        return [node], {outputs[0]: main}
    node["val"] = [out_types[o] for o in outputs]
    nodes, out_map = [node], {}
    for k, o in enumerate(outputs):
        g = _unique(f"{o}_fused", taken)
        nodes.append({"name": g, "op": "_operator.getitem", "args": [f"%{main}", k], "val": out_types[o]})
        out_map[o] = g
    return nodes, out_map


def build_pattern(name: str, search: Trace, replacement: Union[Trace, FusedOp], *, inputs: Sequence[str],
                  variables: Mapping[str, Var], sym_names: Mapping[str, str],
                  sentinels: Sequence[Mapping[str, Any]] = ({}, {}), outputs: Optional[Sequence[str]] = None,
                  root: Optional[str] = None, conditions: Iterable[str] = (), benefit: int = 1,
                  fused_op: Optional[str] = None, description: str = "",
                  diagram: Sequence[str] = ()) -> dict:
    """One pattern (a dict in the documented JSON format) from a traced search and replacement.

    inputs: the search function's tensor parameters (the pattern's inputs), in order; variables: every
    variable (dims first); sym_names: ShapeEnv symbol -> variable ("s0": "N"); sentinels: the example
    values of the float/dtype variables in the two traces; outputs: names of the search function's
    results; root: the region node (a Python variable name, or an FX node name) the matcher starts at.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise PatternError(f"pattern name {name!r}: letters, digits, '_' and '-' only")
    for v in variables:
        check_var_name(v)
    b = _Builder(name, variables, sym_names, sentinels)
    input_types, nodes, out_map = _region(b, search, inputs, outputs)
    outputs = list(out_map)
    taken = set(inputs) | {n["name"] for n in nodes}
    out_types = {o: next(n["val"] for n in nodes if n["name"] == out_map[o]) for o in outputs}
    if isinstance(replacement, FusedOp):
        rnodes, rout = _replacement_from_op(b, replacement, inputs, out_types, outputs, taken)
    else:
        rnodes, rout = _replacement_from_trace(b, replacement, inputs, outputs, taken)
    if fused_op is None:
        fused = [n["op"] for n in rnodes if not n["op"].startswith(_PLAIN_NAMESPACES)]
        if not fused:
            raise b.err("the replacement calls no fused op (only aten/prims ops): pass fused_op=")
        fused_op = fused[0]
    used = _used_vars(nodes, input_types, variables)
    for v, spec in variables.items():
        if v not in used and spec.value is None:
            raise b.err(f"variable {v!r} does not occur in the traced region (not a size of an input, not used "
                        "by an op): drop it, or use it in the search function")
    doc: dict[str, Any] = {"name": name}
    if description:
        doc["description"] = description
    if diagram:
        doc["diagram"] = list(diagram)
    doc["benefit"] = int(benefit)
    doc["fused_op"] = fused_op
    doc["vars"] = {v: spec.declaration() for v, spec in variables.items()}
    doc["inputs"] = {k: input_types.get(k) for k in inputs}
    doc["nodes"] = nodes
    doc["outputs"] = out_map
    if root is not None:
        node_names = {n["name"] for n in nodes}
        if root not in node_names:
            raise b.err(f"root {root!r} is not a node of the region ({', '.join(sorted(node_names))})")
        doc["root"] = root
    conds = list(conditions)
    if conds:
        doc["conditions"] = conds
    doc["replacement"] = {"nodes": rnodes, "outputs": rout}
    return doc


def build_spelling(name: str, search: Trace, *, inputs: Sequence[str], variables: Mapping[str, Var],
                   sym_names: Mapping[str, str], sentinels: Sequence[Mapping[str, Any]] = ({}, {}),
                   outputs: Sequence[str], root: Optional[str] = None) -> tuple[list, dict]:
    """A fragment spelling's nodes and outputs {fragment output: node} from its trace (see build_pattern; the
    variables are the family's: a spelling need not use them all)."""
    b = _Builder(name, variables, sym_names, sentinels)
    _, nodes, out_map = _region(b, search, inputs, outputs)
    if root is not None and root not in {n["name"] for n in nodes}:
        raise b.err(f"root {root!r} is not a node of the spelling ({', '.join(n['name'] for n in nodes)})")
    return nodes, out_map


def _used_vars(nodes, input_types, variables) -> set:
    """The variables the region mentions: in holes ("$H*D//G", {"dtype": "$FP8"}) and in types."""
    texts = [t for t in input_types.values() if t]

    def walk(v):
        if isinstance(v, str) and v.startswith("$"):
            texts.append(v[1:])
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    for n in nodes:
        walk(n.get("args"))
        walk(n.get("kwargs"))
        if n.get("val"):
            texts.append(n["val"])
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(texts)))
    return {v for v in variables if v in words}


def document(patterns: Sequence[dict], description: str = "") -> dict:
    """A pattern file (format fxopt-patterns, version 1) holding `patterns`."""
    names = [p["name"] for p in patterns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PatternError(f"duplicate pattern names: {', '.join(dup)}")
    doc: dict[str, Any] = {"format": "fxopt-patterns", "version": 1}
    if description:
        doc["description"] = description
    doc["patterns"] = list(patterns)
    return doc


def dumps(doc: dict) -> str:
    """A pattern file's text: one node per line, like the hand-written files."""
    import json

    def node_lines(nodes, indent):
        return ",\n".join(indent + json.dumps(n, ensure_ascii=False) for n in nodes)

    if doc.get("format") != "fxopt-patterns":
        doc = document([doc])
    out = ["{", f'  "format": "fxopt-patterns",', f'  "version": {doc["version"]},']
    if doc.get("description"):
        out.append(f'  "description": {json.dumps(doc["description"], ensure_ascii=False)},')
    if doc.get("fragments"):
        frags = []
        for fname, f in doc["fragments"].items():
            head = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in f.items()
                              if k != "spellings")
            sps = []
            for sp in f["spellings"]:
                items = [f"          {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in sp.items()
                         if k != "nodes"]
                items.append(f'          "nodes": [\n{node_lines(sp["nodes"], "            ")}\n          ]')
                sps.append("        {\n" + ",\n".join(items) + "\n        }")
            frags.append(f"    {json.dumps(fname)}: {{\n{head},\n      \"spellings\": [\n" + ",\n".join(sps) +
                         "\n      ]\n    }")
        out.append('  "fragments": {\n' + ",\n".join(frags) + "\n  },")
    out.append('  "patterns": [')
    pats = []
    for p in doc["patterns"]:
        lines = ["    {"]
        items = []
        for k, v in p.items():
            if k == "nodes":
                items.append(f'      "nodes": [\n{node_lines(v, "        ")}\n      ]')
            elif k == "replacement":
                items.append('      "replacement": {\n        "nodes": [\n' + node_lines(v["nodes"], "          ") +
                             '\n        ],\n        "outputs": ' + json.dumps(v["outputs"]) + "\n      }")
            else:
                items.append(f"      {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}")
        lines.append(",\n".join(items))
        lines.append("    }")
        pats.append("\n".join(lines))
    out.append(",\n".join(pats))
    out.append("  ]")
    out.append("}")
    return "\n".join(out) + "\n"
