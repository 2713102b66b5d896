"""Export a torch.fx.Graph (make_fx, a torch.compile backend, torch.export, Inductor's post-grad pass) to fxgraph v1.

Every value is encoded as spec/fxgraph.md says; what cannot be encoded faithfully is reported (an
ExportError in strict mode, else a warning plus the `problems` list), never dropped silently.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any, Iterable, Optional

import torch
import torch.fx

from . import fxgraph_json, symexpr

DEFAULT_META_KEYS = ("val",)


class ExportError(ValueError):
    """The graph holds something fxgraph cannot encode faithfully (strict mode)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"fxgraph export: {len(self.problems)} problem(s):\n  {shown}{more}")


def graph_of(obj) -> torch.fx.Graph:
    """The FX graph inside a Graph, GraphModule or ExportedProgram."""
    if isinstance(obj, torch.fx.Graph):
        return obj
    if isinstance(obj, torch.fx.GraphModule):
        return obj.graph
    ep_cls = getattr(getattr(torch, "export", None), "ExportedProgram", None)
    if ep_cls is not None and isinstance(obj, ep_cls):
        return obj.graph_module.graph
    raise TypeError(f"fxgraph export: expected a torch.fx.Graph, GraphModule or ExportedProgram, "
                    f"not {type(obj).__name__}")


# ---- names of things -----------------------------------------------------------------------------------

def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "", 1)


def _resolve_dotted(path: str):
    """Imports the longest importable module prefix of `path` and walks the rest as attributes."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            return obj
        except AttributeError:
            continue
    raise LookupError(path)


def resolve_target(text: str):
    """The callable a call_function target string names: an operator overload through torch.ops
    (`aten.reshape.default`, `vllm.x.default`, `higher_order.cond`), else a Python callable by module path
    (`_operator.getitem`, `torch.sym_max`, `builtins.getattr`)."""
    parts = text.split(".")
    if parts[0] == "prims" and not hasattr(torch.ops.prims, parts[1] if len(parts) > 1 else ""):
        try:   # Inductor's own prims (prepare_softmax_online, _low_memory_max_pool_with_offsets, ...)
            importlib.import_module("torch._inductor.inductor_prims")
        except Exception:
            pass
    if len(parts) in (2, 3):
        try:
            obj = getattr(getattr(torch.ops, parts[0]), parts[1])
            if len(parts) == 3:
                obj = getattr(obj, parts[2])
            if isinstance(obj, (torch._ops.OpOverload, torch._ops.OpOverloadPacket,
                                torch._ops.HigherOrderOperator)):
                return obj
        except Exception:
            pass
    try:
        return _resolve_dotted(text)
    except LookupError:
        raise LookupError(f"unknown target {text!r}: not an operator in torch.ops nor an importable "
                          "Python callable") from None


_TARGET_NAMES: dict = {}  # target -> its fxgraph name (resolving a name imports modules: once per target)


def target_name(target) -> str:
    """How fxgraph spells a call_function target; raises LookupError when the name does not resolve back."""
    try:
        return _TARGET_NAMES[target]
    except (KeyError, TypeError):
        pass
    name = _target_name(target)
    try:
        _TARGET_NAMES[target] = name
    except TypeError:  # unhashable target
        pass
    return name


def _target_name(target) -> str:
    if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return str(target)
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.name()}"
    candidates = []
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if module and qualname:
        candidates.append(f"{module}.{qualname}")
    try:
        from torch.fx.node import _get_qualified_name
        name = _get_qualified_name(target)
        candidates.append(name if "." in name else f"builtins.{name}")
    except Exception:
        pass
    for name in candidates:
        try:
            if resolve_target(name) is target:
                return name
        except LookupError:
            continue
    raise LookupError(f"target {target!r} has no importable name (tried {candidates})")


# ---- symbolic values ------------------------------------------------------------------------------------

def _is_symbolic(x) -> bool:
    return isinstance(x, (torch.SymInt, torch.SymFloat, torch.SymBool))


class _Encoder:
    def __init__(self, strict: bool):
        self.strict = strict
        self.problems: list[str] = []
        self.symbols: dict[str, tuple[Any, Any]] = {}   # name -> (sympy symbol, shape_env)
        # (SymInt?, sympy expression) -> (text, problem or None): printing and checking an expression costs
        # far more than a lookup, and a graph spells the same few sizes thousands of times.
        self._sym_texts: dict = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    # A SymInt as text (or its int when it is a constant).
    def sym_text(self, s, path: str):
        node = s.node
        expr = getattr(node, "expr", None)
        if expr is None:
            self.problem(path, f"symbolic value {s!r} has no expression")
            return str(s)
        key = (isinstance(s, torch.SymInt), expr)
        try:
            text, problem = self._sym_texts[key]
        except KeyError:
            text, problem = self._sym_text(s, expr, node)
            self._sym_texts[key] = (text, problem)
        except TypeError:  # an unhashable expression
            text, problem = self._sym_text(s, expr, node)
        if problem is not None:
            self.problem(path, problem)
        return text

    def _sym_text(self, s, expr, node):
        try:
            import sympy
            if isinstance(expr, sympy.Integer):
                return int(expr), None
        except ImportError:  # pragma: no cover - sympy ships with torch
            pass
        text = str(expr)
        shape_env = getattr(node, "shape_env", None)
        for sym in sorted(expr.free_symbols, key=lambda v: text.find(str(v))):
            self.symbols.setdefault(str(sym), (sym, shape_env))
        if isinstance(s, torch.SymInt):
            try:
                symexpr.parse(text)
            except symexpr.SymExprError as e:
                return text, f"SymInt expression outside the fxgraph grammar: {e}"
            return text, None
        return text, f"{type(s).__name__} {text!r} is not a SymInt (fxgraph encodes SymInts only)"

    # Argument values (node args/kwargs).
    def arg(self, v, path: str):
        if isinstance(v, torch.fx.Node):
            return {"node": v.name}
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return fxgraph_json.encode_float(v)
        if isinstance(v, (list, tuple)):
            if isinstance(v, tuple) and hasattr(v, "_fields"):
                self.problem(path, f"named tuple {type(v).__name__} is encoded as a plain array")
            return [self.arg(e, f"{path}[{i}]") for i, e in enumerate(v)]
        if isinstance(v, dict):
            out = {}
            for k, e in v.items():
                if not isinstance(k, str):
                    self.problem(path, f"dict key {k!r} is not a string")
                out[str(k)] = self.arg(e, f"{path}.{k}")
            return {"dict": out}
        if isinstance(v, torch.dtype):
            return {"dtype": dtype_name(v)}
        if isinstance(v, (torch._ops.OpOverload, torch._ops.OpOverloadPacket, torch._ops.HigherOrderOperator)):
            # An operator passed as a value (auto_functionalized's first argument): spelled like a target.
            try:
                return {"op": target_name(v)}
            except LookupError as e:
                self.problem(path, f"operator value {v!r}: {e}; kept as opaque repr")
                return {"repr": repr(v)}
        if isinstance(v, torch.device):
            return {"device": str(v)}
        if isinstance(v, torch.layout):
            return {"layout": str(v).replace("torch.", "", 1)}
        if isinstance(v, torch.memory_format):
            return {"memory_format": str(v).replace("torch.", "", 1)}
        if _is_symbolic(v):
            t = self.sym_text(v, path)
            return t if isinstance(t, int) else {"sym": t}
        self.problem(path, f"{type(v).__name__} value {v!r} has no fxgraph encoding; kept as opaque repr")
        return {"repr": repr(v)}

    # meta.val
    def val(self, v, path: str):
        if isinstance(v, torch.Tensor):
            return self.tensor(v, path)
        if _is_symbolic(v):
            t = self.sym_text(v, path)
            return {"const": t} if isinstance(t, int) else {"sym": t}
        if v is None:
            return None
        if isinstance(v, (bool, int, str)):
            return {"const": v}
        if isinstance(v, float):
            return {"const": fxgraph_json.encode_float(v)}
        if isinstance(v, (list, tuple)):
            return [self.val(e, f"{path}[{i}]") for i, e in enumerate(v)]
        self.problem(path, f"meta value of type {type(v).__name__} has no fxgraph encoding; omitted")
        return _OMIT

    def tensor(self, t: torch.Tensor, path: str):
        if t.layout != torch.strided:
            self.problem(path, f"tensor layout {t.layout} is not strided; only dtype/shape/device encoded")
            stride = []
        else:
            stride = [self.size(s, f"{path}.stride[{i}]") for i, s in enumerate(t.stride())]
        return {"dtype": dtype_name(t.dtype),
                "shape": [self.size(s, f"{path}.shape[{i}]") for i, s in enumerate(t.shape)],
                "stride": stride,
                "device": str(t.device)}

    def size(self, s, path: str):
        if isinstance(s, torch.SymInt):
            return self.sym_text(s, path)
        return int(s)

    # Other meta keys: JSON-like values kept verbatim, anything else as an opaque repr (reported).
    def meta_value(self, v, path: str):
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return fxgraph_json.encode_float(v)
        if isinstance(v, (list, tuple)):
            return [self.meta_value(e, f"{path}[{i}]") for i, e in enumerate(v)]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {k: self.meta_value(e, f"{path}.{k}") for k, e in v.items()}
        self.problem(path, f"meta value of type {type(v).__name__} kept as an opaque repr")
        return {"repr": repr(v)}


_OMIT = object()


def _bound(x) -> Optional[int]:
    if x is None:
        return None
    text = str(x)
    if text in ("oo", "-oo", "int_oo", "-int_oo", "zoo", "nan"):
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _symbol_info(sym, shape_env) -> dict:
    hint = None
    lo = hi = None
    if shape_env is not None:
        tables = ("backed_var_to_val", "unbacked_var_to_val") if hasattr(shape_env, "backed_var_to_val") \
            else ("var_to_val", "unbacked_var_to_val")
        for table in tables:
            vals = getattr(shape_env, table, None)
            if vals and sym in vals:
                hint = _bound(vals[sym])
                break
        rng = getattr(shape_env, "var_to_range", {}).get(sym)
        if rng is not None:
            lo, hi = _bound(rng.lower), _bound(rng.upper)
    return {"hint": hint, "min": lo, "max": hi}


def node_value(node: torch.fx.Node):
    """The value a node produces as FX recorded it: meta['val'], or Dynamo's meta['example_value']."""
    if "val" in node.meta:
        return True, node.meta["val"]
    if "example_value" in node.meta:
        return True, node.meta["example_value"]
    return False, None


def encode_node(node: torch.fx.Node, enc: _Encoder, meta_keys: Iterable[str]) -> dict:
    path = f"node {node.name}"
    if node.op == "call_function":
        try:
            target = target_name(node.target)
        except LookupError as e:
            enc.problem(path, str(e))
            target = getattr(node.target, "__name__", repr(node.target))
    elif node.op == "output":
        target = "output"
    else:
        target = str(node.target)
    meta: dict[str, Any] = {}
    if node.op != "output":
        has, v = node_value(node)
        if has:
            encoded = enc.val(v, f"{path}: meta.val")
            if encoded is not _OMIT:
                meta["val"] = encoded
    for key in meta_keys:
        if key == "val" or key not in node.meta:
            continue
        meta[key] = enc.meta_value(node.meta[key], f"{path}: meta.{key}")
    if node.type is not None:
        # Not FX meta, but part of the printed code (placeholder annotations in Dynamo graphs).
        try:
            from torch.fx.node import _type_repr
            meta["type"] = _type_repr(node.type) if not isinstance(node.type, type) else (
                f"{node.type.__module__}.{node.type.__qualname__}")
        except Exception:
            enc.problem(path, f"node type {node.type!r} not encoded")
    return {"name": node.name, "op": node.op, "target": target,
            "args": [enc.arg(a, f"{path}: args[{i}]") for i, a in enumerate(node.args)],
            "kwargs": {k: enc.arg(v, f"{path}: kwargs.{k}") for k, v in node.kwargs.items()},
            "meta": meta}


def export(obj, *, producer: Optional[dict] = None, meta_keys: Iterable[str] = DEFAULT_META_KEYS,
           strict: bool = True, problems: Optional[list] = None) -> dict:
    """The fxgraph v1 document of a Graph / GraphModule / ExportedProgram.

    meta_keys: node.meta keys to write besides `val` (e.g. "stack_trace"); the corpus has `val` only.
    strict: raise ExportError listing every value fxgraph cannot encode faithfully; otherwise they are
    encoded as opaque `{"repr": ...}` / left out, warned about and appended to `problems`.
    """
    graph = graph_of(obj)
    enc = _Encoder(strict)
    meta_keys = tuple(meta_keys)
    nodes = [encode_node(n, enc, meta_keys) for n in graph.nodes]
    symbols = {name: _symbol_info(sym, env) for name, (sym, env) in enc.symbols.items()}
    if producer is None:
        producer = {"source": "fxopt.export", "torch": torch.__version__}
    doc = {"format": fxgraph_json.FORMAT, "version": fxgraph_json.VERSION, "producer": producer,
           "symbols": symbols, "nodes": nodes}
    if enc.problems:
        if problems is not None:
            problems.extend(enc.problems)
        if strict:
            raise ExportError(enc.problems)
        warnings.warn(str(ExportError(enc.problems)), stacklevel=2)
    return doc


def dumps(obj, **kwargs) -> str:
    """export() as canonical fxgraph text."""
    return fxgraph_json.dumps(export(obj, **kwargs))


def dump(obj, path: str | os.PathLike, **kwargs) -> dict:
    """export() written to `path` (atomically); returns the document."""
    doc = export(obj, **kwargs)
    fxgraph_json.write(doc, path)
    return doc
