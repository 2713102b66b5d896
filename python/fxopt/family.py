"""Pattern families in Python (torch-free): fragments with alternative spellings, composed into family patterns
with fused ops per target — the Python side of docs/patterns.md "Fragments".

A spelling is either a Python function written like vLLM's forward_native (traced by fxopt.pattern into the
post-grad ops, the way a search function is) or a few nodes given as data (an opaque op call, an
auto_functionalized wrapper: nothing to trace). A family is a composition function over fragment calls:

    rms_norm = Fragment("rms_norm", {"x": "MD [N, H]", "w": "MD [H]"}, {"out": "MD [N, H]"})
    rms_norm.spelling("native")(rms_norm_native)                # traced
    rms_norm.spelling("vllm_ir", nodes=[node("out", "vllm_ir.rms_norm.default", ["%x", "%w", "$eps"])])

    def rms_norm_per_token_fp8_quant(x, w):
        norm = rms_norm(x, w)
        quant = per_token_quant(norm)
        return {"q": quant.q, "scale": quant.scale}
    Family(rms_norm_per_token_fp8_quant, inputs=..., vars=..., root="quant", targets=[...])

`document(fragments, families, trace_spelling)` writes the pattern file (fragments first); `trace_spelling`
(fxopt.pattern.trace_spelling) turns a traced spelling into nodes, and is only needed when one is traced.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, Callable, Mapping, Optional, Sequence

from .pattern_doc import PatternError

_ASSIGN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]")


# ---------------------------------------------------------------------------------------------------------
# Nodes as data (the JSON format's node objects)

def node(name: str, op: str, args: Sequence[Any], kwargs: Optional[Mapping[str, Any]] = None, val: Any = None) -> dict:
    d = {"name": name, "op": op, "args": list(args)}
    if kwargs:
        d["kwargs"] = dict(kwargs)
    if val:
        d["val"] = val
    return d


def getitem(name: str, src: str, i: int, val: Any = None) -> dict:
    return node(name, "_operator.getitem", ["%" + src, i], val=val)


def auto_functionalized(name: str, op: str, kwargs: Mapping[str, Any], val: Any = None, v2: bool = False) -> dict:
    """higher_order.auto_functionalized(_v2)({"op": op}, **kwargs): how a mutating custom op appears post-grad."""
    hop = "higher_order.auto_functionalized_v2" if v2 else "higher_order.auto_functionalized"
    return node(name, hop, [{"op": op}], kwargs, val=val)


def empty(name: str, shape: Sequence[Any], dtype: str) -> dict:
    """aten.empty of `shape` ("$N", 1) and `dtype` ("$FP8" or a name) on the pattern's device: a result buffer."""
    dims = ", ".join(str(d)[1:] if isinstance(d, str) and d.startswith("$") else str(d) for d in shape)
    return node(name, "aten.empty.memory_format", [list(shape)],
                {"dtype": {"dtype": dtype}, "layout": {"layout": "strided"}, "device": {"device": "$"},
                 "pin_memory": False}, val=f"{dtype.lstrip('$')} [{dims}]")


# ---------------------------------------------------------------------------------------------------------
# Fragments

@dataclasses.dataclass
class Spelling:
    """One spelling of a fragment: `fn` (traced) or `nodes` (data); the rest is written as in the JSON format."""
    name: str
    fn: Optional[Callable] = None
    nodes: Optional[list] = None
    outputs: Optional[Mapping[str, str]] = None  # fragment output -> node (data spellings)
    doc: str = ""
    captures: Optional[Mapping[str, str]] = None
    vars: Optional[Mapping[str, Any]] = None
    conditions: Sequence[str] = ()
    tolerance: Optional[Mapping[str, Any]] = None
    reject: Optional[str] = None
    root: Optional[str] = None


class Fragment:
    """A named sub-pattern: typed inputs, typed outputs (the first is the fragment call's value), spellings."""

    def __init__(self, name: str, inputs: Mapping[str, str], outputs: Mapping[str, str], doc: str = ""):
        self.name = name
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self.doc = doc
        self.spellings: list[Spelling] = []

    def spelling(self, name: str, fn: Optional[Callable] = None, **kw):
        """Adds a spelling: `nodes=[...]` (+ `outputs=`, default the fragment's outputs named as nodes) as data;
        else a function, given or decorated (`@frag.spelling("native", vars={"FMAX": "float"})`)."""
        if any(s.name == name for s in self.spellings):
            raise PatternError(f"fragment {self.name!r}: two spellings named {name!r}")
        if kw.get("nodes") is not None:
            if fn is not None:
                raise PatternError(f"fragment {self.name!r} spelling {name!r}: a function or nodes, not both")
            kw.setdefault("outputs", {o: o for o in self.outputs})
            self.spellings.append(Spelling(name, **kw))
            return None

        def add(f):
            self.spellings.append(Spelling(name, fn=f, **kw))
            return f
        return add(fn) if fn is not None else add

    def __call__(self, *args) -> "_Call":
        """A call of the fragment inside a family's composition function (named after the variable it is
        assigned to: `norm = rms_norm(x, w)`)."""
        if _Composer.current is None:
            raise PatternError(f"fragment {self.name!r} called outside a Family composition")
        if len(args) != len(self.inputs):
            raise PatternError(f"fragment {self.name!r} takes {len(self.inputs)} inputs "
                               f"({', '.join(self.inputs)}), got {len(args)}")
        frame = inspect.stack()[1]
        m = _ASSIGN.match((frame.code_context or [""])[0])
        return _Composer.current.call(self, list(args), m.group(1) if m else self.name,
                                      f"{frame.filename}:{frame.lineno}")

    def to_json(self, prefix: str, trace_spelling: Optional[Callable]) -> dict:
        out = {"doc": self.doc} if self.doc else {}
        out.update({"inputs": list(self.inputs), "outputs": list(self.outputs), "spellings": []})
        for s in self.spellings:
            if s.fn is not None:
                if trace_spelling is None:
                    raise PatternError(f"fragment {self.name!r} spelling {s.name!r} is a function: tracing it needs "
                                       "PyTorch (fxopt.pattern)")
                nodes, outputs = trace_spelling(self, s)
            else:
                nodes = [dict(n) for n in s.nodes]
                outputs = dict(s.outputs)
                for o, n in outputs.items():  # the outputs' types, as the fragment declares them
                    for nd in nodes:
                        if nd["name"] == n and "val" not in nd:
                            nd["val"] = self.outputs[o]
            sp = {"name": s.name}
            for key in ("doc", "captures", "vars", "conditions", "tolerance", "reject"):
                v = getattr(s, key)
                if v:
                    sp[key] = list(v) if key == "conditions" else v
            sp["nodes"] = _prefixed(nodes, prefix)
            if s.root:
                sp["root"] = s.root
            sp["outputs"] = outputs
            out["spellings"].append(sp)
        return out


def _prefixed(nodes: list, prefix: str) -> list:
    """Fragment references ("@rms_norm") carry the file's name prefix."""
    if not prefix:
        return nodes
    return [dict(n, op="@" + prefix + n["op"][1:]) if n["op"].startswith("@") else n for n in nodes]


# ---------------------------------------------------------------------------------------------------------
# Families

class _Ref:
    def __init__(self, text: str, output: Optional[str] = None):
        self.text = text  # as an argument: "x", "norm" (a call's first output), "norm.residual"
        self.output = output  # as a pattern output: "norm.out", "norm.residual"; None for an input


class _Call:
    def __init__(self, name: str, fragment: Fragment):
        self._name = name
        self._fragment = fragment

    def __getattr__(self, out: str) -> _Ref:
        if out.startswith("_"):
            raise AttributeError(out)
        outs = list(self._fragment.outputs)
        if out not in outs:
            raise PatternError(f"fragment {self._fragment.name!r} has no output {out!r} ({', '.join(outs)})")
        return _Ref(self._name if out == outs[0] else f"{self._name}.{out}", f"{self._name}.{out}")


class _Composer:
    current: Optional["_Composer"] = None

    def __init__(self):
        self.nodes: list[dict] = []
        self.names: set = set()
        self.fragments: list[Fragment] = []  # the fragments called, in order of first call

    def call(self, fragment: Fragment, args: list, name: str, where: str) -> _Call:
        refs = []
        for k, a in enumerate(args):
            if isinstance(a, _Call):
                a = getattr(a, next(iter(a._fragment.outputs)))
            if not isinstance(a, _Ref):
                raise PatternError(f"{where}: argument {k} of {fragment.name} is not an input or a fragment output")
            refs.append("%" + a.text)
        if name in self.names:
            raise PatternError(f"{where}: {name!r} is assigned twice")
        self.names.add(name)
        self.nodes.append({"name": name, "op": "@" + fragment.name, "args": refs})
        if all(f is not fragment for f in self.fragments):
            self.fragments.append(fragment)
        return _Call(name, fragment)


@dataclasses.dataclass
class Family:
    """A pattern over fragments: `compose(*inputs)` calls fragments and returns {output: fragment output};
    `targets` are the JSON format's targets (fused op and replacement per target)."""
    compose: Callable
    inputs: Mapping[str, str]
    vars: Mapping[str, Any]
    targets: Sequence[Mapping[str, Any]]
    root: Optional[str] = None
    conditions: Sequence[str] = ()
    benefit: int = 1
    description: str = ""
    diagram: Sequence[str] = ()
    name: Optional[str] = None

    def _compose(self):
        """(composer, result) of running the composition function over the inputs."""
        params = list(inspect.signature(self.compose).parameters)
        if params != list(self.inputs):
            raise PatternError(f"family {self.compose.__name__}: parameters {params} differ from inputs "
                               f"{list(self.inputs)}")
        comp = _Composer()
        _Composer.current = comp
        try:
            return comp, self.compose(*[_Ref(p) for p in params])
        finally:
            _Composer.current = None

    def fragments_called(self) -> list:
        return self._compose()[0].fragments

    def to_json(self, prefix: str) -> dict:
        comp, result = self._compose()
        if not isinstance(result, dict) or not result:
            raise PatternError(f"family {self.compose.__name__}: return a dict output name -> fragment output")
        outputs = {}
        for k, v in result.items():
            if isinstance(v, _Call):
                v = getattr(v, next(iter(v._fragment.outputs)))
            if not isinstance(v, _Ref) or v.output is None:
                raise PatternError(f"family {self.compose.__name__}: output {k!r} is not a fragment output")
            outputs[k] = v.output
        doc = {"name": prefix + (self.name or self.compose.__name__)}
        if self.description:
            doc["description"] = self.description
        if self.diagram:
            doc["diagram"] = list(self.diagram)
        doc.update({"benefit": self.benefit, "vars": dict(self.vars), "inputs": dict(self.inputs),
                    "nodes": _prefixed(comp.nodes, prefix), "outputs": outputs})
        if self.root:
            doc["root"] = self.root
        if self.conditions:
            doc["conditions"] = list(self.conditions)
        doc["targets"] = [dict(t) for t in self.targets]
        return doc


def document(fragments: Sequence[Fragment], families: Sequence[Family], description: str = "", prefix: str = "",
             trace_spelling: Optional[Callable] = None) -> dict:
    """The pattern file: {"format", "version", "description", "fragments", "patterns"}. With a `prefix` the file is
    self-contained: the fragments the families call from elsewhere (another module's, defined in another built-in
    file under their own names) are written too, renamed like the rest."""
    fragments = list(fragments)
    if prefix:
        for fam in families:
            fragments += [f for f in fam.fragments_called() if all(f is not g for g in fragments)]
    names = [f.name for f in fragments]
    if len(set(names)) != len(names):
        raise PatternError(f"fragments defined twice: {sorted({n for n in names if names.count(n) > 1})}")
    doc: dict[str, Any] = {"format": "fxopt-patterns", "version": 1}
    if description:
        doc["description"] = description
    doc["fragments"] = {prefix + f.name: f.to_json(prefix, trace_spelling) for f in fragments}
    doc["patterns"] = [fam.to_json(prefix) for fam in families]
    return doc
