"""Import fxgraph v1 into PyTorch: a new GraphModule (`load`) or the graph a pass was handed (`rebuild`).

Targets resolve through torch.ops and Python imports; `{"sym": ...}` arguments are re-linked to the
graph's SymInt nodes (building sym_size / arithmetic nodes when none computes the expression yet);
meta['val'] is recomputed with the graph's fake mode — restored from the document where an op cannot be
run on fake values — so Inductor can keep compiling. Disagreements are reported, never ignored.
"""
from __future__ import annotations

import contextlib
import gc
import json
import operator
import os
import warnings
from typing import Optional

import torch
import torch.fx
from torch.fx.node import map_arg

from . import exporter, fxgraph_json, ops, symexpr


class LoadError(ValueError):
    """The document cannot be turned into this graph (unknown target, bad reference, opaque value...)."""


_FP8_OPS = {ops.qualified(n) for n in ops.PLATFORM_DTYPE_OPS}
_NO_VAL = object()


def _read(doc_or_path) -> dict:
    if isinstance(doc_or_path, dict):
        return fxgraph_json.check(doc_or_path)
    if isinstance(doc_or_path, (str, os.PathLike)):
        return fxgraph_json.read(doc_or_path)
    raise TypeError(f"expected an fxgraph document (dict) or a path, not {type(doc_or_path).__name__}")


# ---- fp8 dtype of the fused ops ------------------------------------------------------------------------

def apply_fp8_dtype(doc: dict, fp8_dtype="auto", problems: Optional[list] = None) -> Optional[torch.dtype]:
    """Registers the reference ops the document needs and sets their fp8 dtype.

    "auto": from the fused nodes' meta.val (q's dtype); a torch.dtype: that; None: leave the setting alone.
    """
    if any(t.startswith(ops.FUSED_PREFIXES + (ops.IR_NAMESPACE + ".",)) for t in fxgraph_json.target_counts(doc)):
        ops.register()
    if fp8_dtype is None:
        return None
    if fp8_dtype != "auto":
        ops.set_fp8_dtype(fp8_dtype)
        return fp8_dtype
    seen = {}
    for n in doc["nodes"]:
        val = n.get("meta", {}).get("val")
        if n.get("target") in _FP8_OPS and isinstance(val, list) and val and isinstance(val[0], dict):
            seen.setdefault(val[0].get("dtype"), n["name"])
    if not seen:
        return None
    if len(seen) > 1:
        raise LoadError(f"fused fp8 ops disagree on the fp8 dtype: {seen} (one setting serves them all)")
    name = next(iter(seen))
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise LoadError(f"node {seen[name]}: unknown dtype {name!r}")
    if all(ops.owner(o) == "fxopt" for o in ops.PLATFORM_DTYPE_OPS):
        ops.set_fp8_dtype(dtype)
    elif dtype != ops.platform_fp8_dtype() and problems is not None:
        problems.append(f"node {seen[name]}: graph expects {name} but vLLM's op produces "
                        f"{ops.platform_fp8_dtype()} on this platform")
    return dtype


# ---- the builder shared by load() and rebuild() ---------------------------------------------------------

class _Builder:
    def __init__(self, graph: torch.fx.Graph, doc: dict, fake_mode, shape_env, symtab: dict, root):
        self.graph = graph
        self.doc = doc
        self.fake_mode = fake_mode
        self.shape_env = shape_env
        self.symtab = dict(symtab)           # symbol name -> sympy.Symbol
        self.root = root
        self.env: dict[str, torch.fx.Node] = {}
        self.sym_nodes: dict[str, torch.fx.Node] = {}     # expression text -> node computing it
        self.dim_source: dict[str, tuple] = {}            # symbol -> (tensor node, dim)
        self.problems: list[str] = []
        self.cursor: Optional[torch.fx.Node] = None       # rebuild: last placed node
        self.moved = 0                                    # rebuild: kept nodes moved to a new place
        self.created: list[torch.fx.Node] = []
        self.always_val = False                           # rebuild: every new node gets a val
        self.reserved = {d.get("name") for d in doc["nodes"]}
        self.helpers = 0
        self.check = True                                 # recompute every meta.val (else: the document's)
        self.encoder = exporter._Encoder(strict=False)    # one for all comparisons: it caches SymInt texts
        self.targets: dict = {}                           # target text -> callable
        self.symints: dict = {}                           # SymInt text -> SymInt (one per spelling)
        self.share_storage = False                        # load(): fake values of equal metadata share storage
        self.meta_templates: dict = {}                    # (dtype, shape, stride, device) -> meta tensor
        self.devices: dict = {}                           # device text -> torch.device
        self.hints = {name: (info or {}).get("hint") for name, info in doc.get("symbols", {}).items()}

    # -- placement: in rebuild mode nodes are moved right after the cursor, in doc order --
    def place(self, node: torch.fx.Node) -> None:
        if self.cursor is not None:
            if self.cursor.next is not node:
                self.cursor.append(node)
                self.moved += 1
            self.cursor = node

    def helper_name(self) -> str:
        """A name for a node the document does not have (SymInt arithmetic built while re-linking)."""
        while True:
            name = f"fxopt_sym_{self.helpers}"
            self.helpers += 1
            if name not in self.reserved:
                return name

    def create(self, op, target, args, kwargs, name=None) -> torch.fx.Node:
        node = self.graph.create_node(op, target, args, kwargs, name=name or self.helper_name())
        self.created.append(node)
        self.place(node)
        return node

    def index(self, name: str, node: torch.fx.Node, doc_val) -> None:
        self.env[name] = node
        if isinstance(doc_val, dict) and "sym" in doc_val:
            self.sym_nodes.setdefault(doc_val["sym"], node)
        if isinstance(doc_val, dict) and "shape" in doc_val:
            for i, s in enumerate(doc_val["shape"]):
                if isinstance(s, str) and s.isidentifier():
                    self.dim_source.setdefault(s, (node, i))

    # -- values --
    def decode(self, v, path: str, as_tuple: bool = False):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            items = [self.decode(e, f"{path}[{i}]") for i, e in enumerate(v)]
            return tuple(items) if as_tuple else items
        if not isinstance(v, dict) or len(v) != 1:
            raise LoadError(f"{path}: malformed value {v!r}")
        (kind, x), = v.items()
        if kind == "node":
            if x not in self.env:
                raise LoadError(f"{path}: reference to unknown or later node {x!r}")
            return self.env[x]
        if kind == "float":
            return fxgraph_json.decode_float(v)
        if kind == "dict":
            return {k: self.decode(e, f"{path}.{k}") for k, e in x.items()}
        if kind == "dtype":
            dt = getattr(torch, x, None)
            if not isinstance(dt, torch.dtype):
                raise LoadError(f"{path}: unknown dtype {x!r}")
            return dt
        if kind == "device":
            return torch.device(x)
        if kind in ("layout", "memory_format"):
            obj = getattr(torch, x, None)
            want = torch.layout if kind == "layout" else torch.memory_format
            if not isinstance(obj, want):
                raise LoadError(f"{path}: unknown {kind} {x!r}")
            return obj
        if kind == "sym":
            return self.relink(x, path)
        if kind == "op":
            if not isinstance(x, str):
                raise LoadError(f"{path}: an operator value must be a string, got {x!r}")
            try:
                return exporter.resolve_target(x)
            except LookupError as e:
                raise LoadError(f"{path}: {e}") from None
        if kind == "repr":
            raise LoadError(f"{path}: opaque value {x!r} cannot be reconstructed")
        raise LoadError(f"{path}: unknown value kind {kind!r}")

    # -- SymInt arguments: re-link to the node computing the expression, or build one --
    def relink(self, text: str, path: str):
        if text in self.sym_nodes:
            return self.sym_nodes[text]
        try:
            tree = symexpr.parse(text)
        except symexpr.SymExprError as e:
            raise LoadError(f"{path}: {e}") from None
        node = self._build(tree, path)
        if isinstance(node, torch.fx.Node):
            self.sym_nodes[text] = node
        return node

    def _build(self, tree, path):
        kind = tree[0]
        if kind == "int":
            return tree[1]
        if kind == "sym":
            name = tree[1]
            if name in self.sym_nodes:
                return self.sym_nodes[name]
            if name not in self.dim_source:
                raise LoadError(f"{path}: no SymInt node or tensor dimension provides symbol {name!r}")
            src, dim = self.dim_source[name]
            node = self.create("call_function", torch.ops.aten.sym_size.int, (src, dim), {})
            self.set_val(node, {"val": {"sym": name}}, path, force=True)
            self.sym_nodes[name] = node
            return node
        if kind == "neg":
            return self._op(operator.neg, [self._build(tree[1], path)], path)
        if kind == "pow":
            base = self._build(tree[1], path)
            out = base
            for _ in range(tree[2] - 1):
                out = self._op(operator.mul, [out, base], path)
            return out if tree[2] >= 1 else 1
        if kind == "call":
            args = [self._build(a, path) for a in tree[2]]
            fn = {"Max": torch.sym_max, "Min": torch.sym_min, "Mod": operator.mod,
                  "PythonMod": operator.mod, "FloorDiv": operator.floordiv}.get(tree[1])
            if tree[1] == "CeilDiv":
                neg = self._op(operator.neg, [args[0]], path)
                return self._op(operator.neg, [self._op(operator.floordiv, [neg, args[1]], path)], path)
            return self._op(fn, args, path)
        fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
              "floordiv": operator.floordiv, "mod": operator.mod}[kind]
        return self._op(fn, [self._build(tree[1], path), self._build(tree[2], path)], path)

    def _op(self, fn, args, path):
        if not any(isinstance(a, torch.fx.Node) for a in args):
            return fn(*args)
        node = self.create("call_function", fn, tuple(args), {})
        self.set_val(node, {}, path, force=True)
        return node

    # -- sympy / fake values from the document --
    def sympy_expr(self, text: str, path: str):
        import sympy
        from torch.utils._sympy import functions as F

        def conv(t):
            k = t[0]
            if k == "int":
                return sympy.Integer(t[1])
            if k == "sym":
                if t[1] not in self.symtab:
                    raise LoadError(f"{path}: symbol {t[1]!r} is not in the graph's shape environment")
                return self.symtab[t[1]]
            if k == "neg":
                return -conv(t[1])
            if k == "pow":
                return conv(t[1]) ** t[2]
            if k == "call":
                a = [conv(x) for x in t[2]]
                name = t[1]
                if name in ("Max", "Min"):
                    return getattr(F, name, getattr(sympy, name))(*a)
                if name == "CeilDiv" and not hasattr(F, "CeilDiv"):
                    return -F.FloorDiv(-a[0], a[1])
                return getattr(F, name)(*a)
            a, b = conv(t[1]), conv(t[2])
            if k == "add":
                return a + b
            if k == "sub":
                return a - b
            if k == "mul":
                return a * b
            if k == "floordiv":
                return F.FloorDiv(a, b)
            return F.PythonMod(a, b)

        try:
            return conv(symexpr.parse(text))
        except symexpr.SymExprError as e:
            raise LoadError(f"{path}: {e}") from None

    def symint(self, x, path: str):
        if isinstance(x, int):
            return x
        cached = self.symints.get(x)
        if cached is not None:
            return cached
        expr = self.sympy_expr(x, path)
        hint = None
        try:
            hints = {}
            tree = symexpr.parse(x)
            for name in set(symexpr.symbols(tree)):
                h = self.hints.get(name)
                if h is None:
                    raise KeyError(name)
                hints[name] = h
            hint = symexpr.evaluate(tree, hints)
        except (KeyError, ZeroDivisionError):
            hint = None
        node = self.shape_env.create_symintnode(expr, hint=hint)
        self.symints[x] = node
        return node

    def _shared_fake(self, v, dt, path: str):
        """A new FakeTensor over the one meta tensor of its (dtype, shape, stride, device): the C++ constructor's
        SymInt arithmetic (storage size, numel, contiguity: ~0.5 ms a tensor in PyTorch 2.11, a sympy call per
        step) runs once per distinct metadata instead of once per node. The nodes' fake values then share a
        storage; None (the caller makes its own) when this PyTorch refuses."""
        stride = v.get("stride") or None
        if stride is None or len(stride) != len(v["shape"]):
            return None
        device = v.get("device", "cpu")
        key = (v["dtype"], tuple(v["shape"]), tuple(stride), device)
        try:
            from torch._subclasses.fake_tensor import FakeTensor, in_kernel_invocation_manager
            elem = self.meta_templates.get(key)
            if elem is None:
                shape = [self.symint(s, path) for s in v["shape"]]
                strides = [self.symint(s, path) for s in stride]
                with in_kernel_invocation_manager(self.fake_mode), self.shape_env.suppress_guards():
                    elem = torch.empty_strided(shape, strides, dtype=dt, device="meta")
                self.meta_templates[key] = elem
            dev = self.devices.get(device)
            if dev is None:
                dev = self.devices[device] = torch.device(device)
            return FakeTensor(self.fake_mode, elem, dev)
        except Exception:  # noqa: BLE001 - another PyTorch's internals: the regular path below
            self.share_storage = False
            return None

    def val_from_doc(self, v, path: str):
        if v is None:
            return None
        if isinstance(v, list):
            return tuple(self.val_from_doc(e, f"{path}[{i}]") for i, e in enumerate(v))
        if "const" in v:
            c = v["const"]
            return fxgraph_json.decode_float(c) if isinstance(c, dict) else c
        if "sym" in v:
            return self.symint(v["sym"], path)
        if "shape" in v:
            dt = getattr(torch, v["dtype"], None)
            if not isinstance(dt, torch.dtype):
                raise LoadError(f"{path}: unknown dtype {v['dtype']!r}")
            if self.share_storage:
                fast = self._shared_fake(v, dt, path)
                if fast is not None:
                    return fast
            shape = [self.symint(s, path) for s in v["shape"]]
            stride = [self.symint(s, path) for s in v["stride"]] if v.get("stride") else None
            with self.fake_mode:
                if stride is not None and len(stride) == len(shape):
                    return torch.empty_strided(shape, stride, dtype=dt, device=v.get("device", "cpu"))
                return torch.empty(shape, dtype=dt, device=v.get("device", "cpu"))
        raise LoadError(f"{path}: malformed meta.val {v!r}")

    def set_val(self, node: torch.fx.Node, doc_meta: Optional[dict], path: str, force: bool = False) -> None:
        """meta['val']: recomputed on fake values and checked against the document's.

        Where the op cannot run on fake values the document's is restored. Where the two disagree, load()
        keeps the document's (what the producer saw) and rebuild() the recomputed one (what the op will
        produce, which Inductor relies on); either way the disagreement is reported.
        """
        if self.fake_mode is None:
            return
        has_doc = doc_meta is not None and "val" in doc_meta
        doc_val = doc_meta.get("val") if has_doc else None
        val, err = _NO_VAL, None
        if has_doc and not (self.check or force or self.always_val):
            # Trusted document (load's default): its value, without running the op on fake tensors. Running
            # every op costs far more per node, and more the larger the graph (the shape environment grows).
            try:
                node.meta["val"] = self.val_from_doc(doc_val, f"{path}: meta.val")
            except LoadError as e:
                self.problems.append(str(e))
            return
        if node.op == "call_function":
            try:
                args = map_arg(node.args, lambda n: n.meta["val"])
                kwargs = map_arg(node.kwargs, lambda n: n.meta["val"])
                with self.fake_mode:
                    val = node.target(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - any failure falls back to the document
                err = e
        if val is not _NO_VAL and has_doc:
            mine = self.encoder.val(val, "")
            if mine != doc_val:
                keep = "recomputed" if self.always_val else "document's"
                self.problems.append(f"{path}: recomputed meta.val {json.dumps(mine, default=repr)} differs "
                                     f"from the document's {json.dumps(doc_val)}; keeping the {keep} one")
                if not self.always_val:
                    val = _NO_VAL
        if val is _NO_VAL:
            if not has_doc:
                if err is not None:
                    self.problems.append(f"{path}: meta.val could not be computed ({err}) and the "
                                         "document has none")
                return
            try:
                val = self.val_from_doc(doc_val, f"{path}: meta.val")
            except LoadError as e:
                self.problems.append(str(e))
                return
        elif not has_doc and not (self.always_val or force):
            return
        node.meta["val"] = val

    # -- node bodies --
    def target(self, d: dict, path: str):
        if d["op"] == "call_function":
            text = d["target"]
            fn = self.targets.get(text)
            if fn is None:
                try:
                    fn = self.targets[text] = exporter.resolve_target(text)
                except LookupError as e:
                    raise LoadError(f"{path}: {e}") from None
            return fn
        if d["op"] == "output":
            return "output"
        return d["target"]

    def args_kwargs(self, d: dict, path: str):
        if d["op"] == "output":
            args = tuple(self.decode(a, f"{path}: args[{i}]", as_tuple=True) for i, a in enumerate(d["args"]))
        else:
            args = tuple(self.decode(a, f"{path}: args[{i}]") for i, a in enumerate(d["args"]))
        kwargs = {k: self.decode(v, f"{path}: kwargs.{k}") for k, v in d["kwargs"].items()}
        return args, kwargs

    def apply_meta(self, node: torch.fx.Node, d: dict, path: str) -> None:
        for key, value in d.get("meta", {}).items():
            if key == "val":
                continue
            if key == "type":
                try:
                    node.type = exporter._resolve_dotted(value) if "." in value else getattr(
                        __import__("builtins"), value)
                except Exception:
                    self.problems.append(f"{path}: node type {value!r} not restored")
                continue
            node.meta[key] = _decode_meta(value)


def _decode_meta(v):
    if isinstance(v, dict) and set(v) == {"float"}:
        return fxgraph_json.decode_float(v)
    if isinstance(v, list):
        return [_decode_meta(e) for e in v]
    if isinstance(v, dict):
        return {k: _decode_meta(e) for k, e in v.items()}
    return v


# ---- a fresh shape environment from the document's `symbols` ---------------------------------------------

def _fresh_fake_mode(doc: dict):
    import sympy
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv
    from torch.utils._sympy.value_ranges import ValueRanges
    try:
        from torch.utils._sympy.numbers import int_oo
    except ImportError:  # older torch
        int_oo = sympy.oo

    shape_env = ShapeEnv()
    values = getattr(shape_env, "backed_var_to_val", None)
    if values is None:
        values = shape_env.var_to_val
    symtab = {}
    for name, info in doc.get("symbols", {}).items():
        lo, hi, hint = info.get("min"), info.get("max"), info.get("hint")
        if lo is not None and lo >= 1:
            sym = sympy.Symbol(name, integer=True, positive=True)
        elif lo is not None and lo >= 0:
            sym = sympy.Symbol(name, integer=True, nonnegative=True)
        else:
            sym = sympy.Symbol(name, integer=True)
        if hint is not None:
            values[sym] = sympy.Integer(hint)
        vr = ValueRanges(sympy.Integer(lo) if lo is not None else -int_oo,
                         sympy.Integer(hi) if hi is not None else int_oo)
        try:  # keeps the shape env's bookkeeping (source locations of ranges) consistent
            shape_env._update_var_to_range(sym, vr)
        except Exception:  # noqa: BLE001 - older/newer ShapeEnv: set the table directly
            shape_env.var_to_range[sym] = vr
        symtab[name] = sym
    return FakeTensorMode(shape_env=shape_env, allow_non_fake_inputs=True), shape_env, symtab


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic collector off while a graph is built: its full collections walk every object alive, so
    with the tens of thousands of nodes, args and fake tensors a load creates they made it superlinear (and the
    build makes no cyclic garbage worth collecting meanwhile)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _graph_module(root: torch.nn.Module, graph: torch.fx.Graph, lazy: bool) -> torch.fx.GraphModule:
    """A GraphModule over `graph`; with `lazy`, PyTorch's _LazyGraphModule (the one Inductor uses), which
    generates and compiles the forward's Python code on first use (a call, `.code`, printing) instead of now."""
    if lazy:
        try:
            from torch.fx._lazy_graph_module import _LazyGraphModule
        except ImportError:  # older torch: code generated now
            pass
        else:
            return _LazyGraphModule(root, graph)
    return torch.fx.GraphModule(root, graph)


def load(doc_or_path, *, root: Optional[torch.nn.Module] = None, fake: bool = True, fp8_dtype="auto",
         strict: bool = False, check: bool = False, lazy: bool = True) -> torch.fx.GraphModule:
    """A new GraphModule from an fxgraph document (or a path to one).

    root: the module providing get_attr / call_module targets (default: an empty module).
    fake: give every node a meta['val'] of fake tensors in a shape environment built from `symbols`: the
    document's value (one SymInt per spelling), recomputed by running the op only where the document has none.
    Nodes whose values have the same dtype, shape, strides and device share one fake storage (a loaded graph's
    storages carry no aliasing information either way: a view's value is not tied to its base's).
    check: also recompute every node's value on fake tensors and report where it differs from the
    document's (the document's is kept). Costs a fake-tensor op per node, far more than the load itself.
    fp8_dtype: see apply_fp8_dtype(). strict: raise on any disagreement (default: warn; the list is
    kept in gm.meta['fxopt_load_problems']).
    lazy: the forward's Python code is generated on first use (a call, `gm.code`, printing), not by load: it
    costs about as much as the rest of a load. lazy=False: a plain GraphModule with its code generated now.
    """
    with _gc_paused():
        return _load(doc_or_path, root, fake, fp8_dtype, strict, check, lazy)


def _load(doc_or_path, root, fake, fp8_dtype, strict, check, lazy) -> torch.fx.GraphModule:
    doc = _read(doc_or_path)
    problems: list[str] = []
    apply_fp8_dtype(doc, fp8_dtype, problems)
    graph = torch.fx.Graph()
    fake_mode = shape_env = None
    symtab = {}
    if fake:
        fake_mode, shape_env, symtab = _fresh_fake_mode(doc)
    b = _Builder(graph, doc, fake_mode, shape_env, symtab, root)
    b.check = check
    b.share_storage = shape_env is not None
    for i, d in enumerate(doc["nodes"]):
        path = f"nodes[{i}] ({d.get('name')})"
        op = d["op"]
        if op not in ("placeholder", "get_attr", "call_function", "call_method", "call_module", "output"):
            raise LoadError(f"{path}: unknown op {op!r}")
        target = b.target(d, path)
        args, kwargs = b.args_kwargs(d, path)
        node = b.create(op, target, args, kwargs, name=d["name"])
        if node.name != d["name"]:
            raise LoadError(f"{path}: name {d['name']!r} is not usable in FX (became {node.name!r})")
        b.apply_meta(node, d, path)
        doc_val = d.get("meta", {}).get("val")
        if op != "output":
            b.set_val(node, d.get("meta", {}), path)
        b.index(d["name"], node, doc_val)
    try:
        gm = _graph_module(root if root is not None else torch.nn.Module(), graph, lazy)
    except Exception as e:
        raise LoadError(f"cannot build the GraphModule: {e}") from e
    problems.extend(b.problems)
    gm.meta["fxopt_load_problems"] = problems
    if problems:
        if strict:
            raise LoadError("fxgraph load:\n  " + "\n  ".join(problems))
        warnings.warn("fxgraph load: " + "; ".join(problems[:10]), stacklevel=2)
    return gm


# ---- rebuild in place ------------------------------------------------------------------------------------

def _graph_fake_mode(graph: torch.fx.Graph):
    from torch._subclasses.fake_tensor import FakeTensor
    for n in graph.nodes:
        has, v = exporter.node_value(n)
        if isinstance(v, FakeTensor):
            return v.fake_mode
    for n in graph.nodes:
        has, v = exporter.node_value(n)
        if isinstance(v, torch.SymInt):
            env = v.node.shape_env
            from torch._subclasses.fake_tensor import FakeTensorMode
            return FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    return None


def _symtab_of(shape_env) -> dict:
    if shape_env is None:
        return {}
    table = {}
    attrs = ("var_to_range", "backed_var_to_val") if hasattr(shape_env, "backed_var_to_val") else (
        "var_to_range", "var_to_val")
    for attr in attrs:
        for sym in getattr(shape_env, attr, {}) or {}:
            table.setdefault(str(sym), sym)
    return table


def _same_body(old: torch.fx.Node, d: dict, env: dict, enc) -> bool:
    """True when `old` already is document node `d`: same target and arguments, referring to the same nodes."""
    if old.op == "call_function":
        try:
            if exporter.target_name(old.target) != d["target"]:
                return False
        except LookupError:
            return False
    elif old.op != "output" and str(old.target) != d["target"]:
        return False
    if [enc.arg(a, "") for a in old.args] != d["args"]:
        return False
    if {k: enc.arg(v, "") for k, v in old.kwargs.items()} != d["kwargs"]:
        return False
    return all(env.get(n.name) is n for n in old.all_input_nodes)


def rebuild(graph_or_gm, doc_or_path, *, fp8_dtype="auto", strict: bool = False) -> dict:
    """Makes `graph_or_gm` equal to the document, in place (for passes that must mutate the graph they get).

    Placeholders must be the graph's own. Nodes whose name, target and arguments are unchanged stay as they
    are (meta included); same-target nodes get new arguments; the rest are created; nodes the document
    no longer has are erased. Returns counts and the list of problems.
    """
    with _gc_paused():
        return _rebuild(graph_or_gm, doc_or_path, fp8_dtype, strict)


def _rebuild(graph_or_gm, doc_or_path, fp8_dtype, strict) -> dict:
    doc = _read(doc_or_path)
    gm = graph_or_gm if isinstance(graph_or_gm, torch.fx.GraphModule) else None
    graph = gm.graph if gm is not None else graph_or_gm
    problems: list[str] = []
    apply_fp8_dtype(doc, fp8_dtype, problems)

    old_nodes = list(graph.nodes)
    old_by_name = {n.name: n for n in old_nodes}
    old_ph = [n.name for n in old_nodes if n.op == "placeholder"]
    doc_ph = [d["name"] for d in doc["nodes"] if d["op"] == "placeholder"]
    if old_ph != doc_ph:
        raise LoadError(f"rebuild: the document's placeholders {doc_ph} are not the graph's {old_ph}")
    if sum(d["op"] == "output" for d in doc["nodes"]) != 1 or doc["nodes"][-1]["op"] != "output":
        raise LoadError("rebuild: the document must end with its one output node")

    fake_mode = _graph_fake_mode(graph)
    shape_env = fake_mode.shape_env if fake_mode is not None else None
    b = _Builder(graph, doc, fake_mode, shape_env, _symtab_of(shape_env), getattr(graph, "owning_module", None))
    b.always_val = True
    stats = {"kept": 0, "updated": 0, "created": 0, "erased": 0}
    keep: set = set()
    placeholders = [n for n in old_nodes if n.op == "placeholder"]
    b.cursor = placeholders[-1] if placeholders else None
    if b.cursor is None:
        raise LoadError("rebuild: a graph without placeholders is not supported")

    for i, d in enumerate(doc["nodes"]):
        path = f"nodes[{i}] ({d['name']})"
        doc_val = d.get("meta", {}).get("val")
        old = old_by_name.get(d["name"])
        if d["op"] == "placeholder":
            node = old
            keep.add(node)
        elif old is not None and old.op == d["op"] and _same_body(old, d, b.env, b.encoder):
            node = old
            b.place(node)
            keep.add(node)
            stats["kept"] += 1
        else:
            target = b.target(d, path)
            args, kwargs = b.args_kwargs(d, path)
            if old is not None and old.op == d["op"] and (old.op == "output" or old.target == target):
                node = old
                b.place(node)
                node.args, node.kwargs = args, kwargs
                keep.add(node)
                stats["updated"] += 1
            else:
                node = b.create(d["op"], target, args, kwargs, name=d["name"])
                keep.add(node)
                b.apply_meta(node, d, path)
                stats["created"] += 1
            if d["op"] != "output":
                b.set_val(node, d.get("meta", {}), path)
        b.index(d["name"], node, doc_val)

    for n in b.created:
        keep.add(n)
    for n in reversed(old_nodes):
        if n in keep:
            continue
        if n.users:
            raise LoadError(f"rebuild: node {n.name} is gone from the document but still used by "
                            f"{[u.name for u in n.users]}")
        graph.erase_node(n)
        stats["erased"] += 1
    stats["created"] = len(b.created)
    graph.lint()
    # A GraphModule's code is regenerated only when the graph changed: Python's compile of the forward is
    # most of the cost of an unchanged rebuild, and grows faster than the graph.
    changed = stats["updated"] or stats["created"] or stats["erased"] or b.moved
    if gm is not None and changed:
        gm.recompile()
    problems.extend(b.problems)
    stats["problems"] = problems
    if problems and strict:
        raise LoadError("fxgraph rebuild:\n  " + "\n  ".join(problems))
    return stats
