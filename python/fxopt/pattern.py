"""Author fxopt patterns in Python: trace a search and a replacement function (like Inductor's register_replacement)
into a pattern document in fxopt's JSON format (docs/patterns.md).

    import torch, fxopt.pattern as fp

    def rms_quant(x, w, eps, FMAX, FLOOR, FP8):          # written like vLLM's forward_native
        ...
    fp.trace("rmsnorm_fp8_dynamic_quant", rms_quant,
             fp.FusedOp("vllm.rocm_aiter_rmsnorm_fused_dynamic_quant.default", ["%x", "%w", "$eps", {"dtype": "$FP8"}]),
             {"x": "bfloat16 [M, D]", "w": "bfloat16 [D]"},
             sym_dims={"M": 64, "D": fp.int_var(256)},
             scalars={"eps": 1e-6, "FMAX": 448.0, "FLOOR": 1 / (448.0 * 512),
                      "FP8": fp.dtype_var("float8_e4m3fn", "float8_e4m3fnuz")},
             conditions=["FMAX == fp8_max(FP8)", "FLOOR == 1/(FMAX*512)"], outputs=["q", "scale"], benefit=10)

How: the named dims and int scalars become SymInts of one ShapeEnv (so shapes come out as "N*H" and "H*D//G"),
the inputs fake tensors of those sizes; make_fx with Inductor's decompositions gives the post-grad spelling.
Float and dtype scalars (and ints the pattern fixes, like G = 128) are traced twice, at two example values:
what changes between the traces becomes a variable, and a changed value that is no named scalar is an error.
The trace is normalised by the fxopt binary (the matcher sees normalised graphs), then
fxopt.pattern_doc.build_pattern writes the document. Data-dependent control flow, an opaque call (something
make_fx cannot trace, a module attribute) and an unnamed float literal are errors naming the source line.

A pattern library is a Python module: `python -m fxopt.pattern MODULE[:NAME] -o FILE.json` writes the
patterns it declares (a list `PATTERNS`, the functions decorated with @fxopt.pattern.declare, or NAME: a list
or a function returning one).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import traceback
import warnings
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from . import binary as _binary
from .pattern_doc import (FusedOp, PatternError, Trace, Var, as_var, build_pattern, build_spelling, check_var_name,
                          document, dtype_var, dumps, float_var, int_var, source_lines, sym_dim)

__all__ = ["trace", "trace_spelling", "dump", "declare", "Pattern", "FusedOp", "PatternError", "Var", "sym_dim", "int_var",
           "float_var", "dtype_var", "document", "main"]

_FP8_ALTERNATIVES = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")
_FLOAT_ALTERNATIVES = ("bfloat16", "float16", "float32")


# ---------------------------------------------------------------------------------------------------------
# Specs

@dataclasses.dataclass
class Pattern:
    """A pattern declared in a module (traced when the module is written out)."""
    name: str
    search: Callable
    replacement: Union[Callable, FusedOp, str]
    example_inputs: Mapping[str, Any]
    options: dict = dataclasses.field(default_factory=dict)

    def trace(self, **overrides) -> dict:
        return trace(self.name, self.search, self.replacement, self.example_inputs, **{**self.options, **overrides})


_DECLARED: dict[str, list[Pattern]] = {}


def declare(name: Optional[str] = None, *, replacement, example_inputs, **options):
    """Decorator for a search function: declares a pattern of the function's module."""
    def wrap(fn):
        _DECLARED.setdefault(fn.__module__, []).append(
            Pattern(name or fn.__name__, fn, replacement, example_inputs, dict(options)))
        return fn
    return wrap


def _plain(spec):
    """torch.dtype -> its name (pattern_doc knows no torch)."""
    import torch
    if isinstance(spec, torch.dtype):
        return str(spec).replace("torch.", "")
    if isinstance(spec, Var):
        return dataclasses.replace(spec, example=_plain(spec.example), value=_plain(spec.value),
                                   one_of=tuple(_plain(x) for x in spec.one_of))
    return spec


def _dtype(name: str):
    import torch
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise PatternError(f"unknown dtype {name!r}")
    return dt


def _where(fn) -> str:
    try:
        return f"{inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]}"
    except (OSError, TypeError):
        return getattr(fn, "__qualname__", repr(fn))


def _second_value(var: str, v: Var, first, sizes: Sequence[int] = ()):
    """The value of a float/dtype scalar (or a fixed int) in the second trace: different from the first.
    `sizes`: the example sizes of the symbolic dims and of the inputs' dims (see _second_int)."""
    if v.type == "float":
        return first * 1.375 + 0.0078125 if first else 0.01171875
    if v.type == "dtype":
        if len(v.one_of) > 1:
            return next(d for d in v.one_of if d != first)
        pool = _FP8_ALTERNATIVES if first in _FP8_ALTERNATIVES else _FLOAT_ALTERNATIVES
        return next(d for d in pool if d != first)
    if v.type == "int":  # fixed: traced as a plain int at its value and at another one
        return _second_int(first, sizes)
    raise AssertionError(var)


def _second_int(first: int, sizes: Sequence[int]) -> int:
    """The second-trace value of a fixed int (G = 128): one that every size compares with as `first` does.

    The symbolic dims keep their example sizes in both traces, so a second value equal to one of them (G = 256
    with D = 256) makes PyTorch's reshape code see `D == G` and specialise D (and trace another graph); one that
    no longer divides a size `first` divides (G = 384 with D = 256) makes a reshape into groups of G fail. So:
    the first of first//2, 2*first, first//4, 4*first, 3*first, ... that equals no size, divides every size
    `first` divides and is smaller than exactly the sizes `first` is smaller than; failing that, one that
    equals no size and keeps the divisibility; else 2*first."""
    sizes = sorted({int(s) for s in sizes if isinstance(s, int) and not isinstance(s, bool)})
    cands = []
    for c in (first // 2 if first % 2 == 0 else None, first * 2, first // 4 if first % 4 == 0 else None,
              first * 4, first * 3, first * 5, first * 6, first * 8):
        if c is not None and c >= 2 and c != first and c not in cands:
            cands.append(c)

    def distinct(c):
        return c not in sizes

    def divides(c):
        return all(s % c == 0 for s in sizes if first and s % first == 0)

    def same_order(c):
        return all((c < s) == (first < s) and (c > s) == (first > s) for s in sizes if s != first)

    for ok in (lambda c: distinct(c) and divides(c) and same_order(c), lambda c: distinct(c) and divides(c)):
        for c in cands:
            if ok(c):
                return c
    return first * 2


# ---------------------------------------------------------------------------------------------------------
# Tracing

@contextlib.contextmanager
def _all_user_frames():
    """make_fx(record_stack_traces=True) keeps only the frames named `forward` of a node's stack trace
    (PythonKeyTracer._record_forward_stack_traces_only): our wrapper's `return fn(*a)`, not the lines of the
    search function that names and error messages need. For the duration of a trace, the tracer filters its
    frames as torch.fx's Tracer does by default (every frame from the first `forward` on, less PyTorch's own)."""
    try:
        from torch.fx.experimental.proxy_tensor import PythonKeyTracer
    except ImportError:
        yield
        return
    original = PythonKeyTracer.__dict__.get("_filter_traceback_frames")
    inherited = getattr(PythonKeyTracer, "_filter_traceback_frames", None)
    if inherited is None:
        yield
        return

    def filter_frames(self, summary):
        saved = self.__dict__.get("_record_forward_stack_traces_only", None)
        self._record_forward_stack_traces_only = False
        try:
            return inherited(self, summary)
        finally:
            if saved is None:
                del self._record_forward_stack_traces_only
            else:
                self._record_forward_stack_traces_only = saved

    PythonKeyTracer._filter_traceback_frames = filter_frames
    try:
        yield
    finally:
        if original is not None:
            PythonKeyTracer._filter_traceback_frames = original
        else:
            del PythonKeyTracer._filter_traceback_frames


def _example_sizes(variables: Mapping[str, Var], inputs: Mapping[str, Any]) -> list[int]:
    """The example sizes of the symbolic dims and of the example inputs' dims ("[N*H, D]" at the hints)."""
    from . import symexpr
    env = {var: v.example for var, v in variables.items()
           if v.type in ("sym", "int") and v.value is None and isinstance(v.example, int)}
    sizes = list(env.values())
    for spec in inputs.values():
        if isinstance(spec, str) and "[" in spec and spec.rstrip().endswith("]"):
            for d in spec.split("[", 1)[1].rstrip()[:-1].split(","):
                try:
                    value = symexpr.evaluate(symexpr.parse(d.strip()), env)
                except (KeyError, symexpr.SymExprError, TypeError, ZeroDivisionError):
                    continue
                if isinstance(value, int):
                    sizes.append(value)
        else:
            sizes.extend(int(x) for x in getattr(spec, "shape", ()))
    return sizes



def _functional_fresh_inplace(torch, gm):
    """In-place ATen calls on a value nothing else reads become their functional overloads, as functionalisation
    writes them in a post-grad graph (PyTorch 2.11's F.rms_norm traces `mean.add_(eps)`). A call on a placeholder
    or on a view (whose base would change too) is left as it is."""
    for n in list(gm.graph.nodes):
        t = n.target
        if n.op != "call_function" or not isinstance(t, torch._ops.OpOverload) or not n.args:
            continue
        ns, _, base = t._schema.name.partition("::")
        src = n.args[0]
        if ns != "aten" or not base.endswith("_") or base.endswith("__") or not isinstance(src, torch.fx.Node) or \
                src.op == "placeholder" or len(src.users) != 1 or getattr(src.target, "is_view", False):
            continue
        packet = getattr(torch.ops.aten, base[:-1], None)
        func = getattr(packet, t._overloadname, None) if packet is not None else None
        if func is not None:
            n.target = func
    gm.graph.lint()
    gm.recompile()
    return gm

class _Tracer:
    def __init__(self, name: str, variables: Mapping[str, Var], dims: Sequence[str], device: str,
                 inputs: Optional[Mapping[str, Any]] = None):
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.symbolic_shapes import ShapeEnv

        self.torch = torch
        self.name = name
        self.vars = variables
        self.device = device
        self.shape_env = ShapeEnv()
        self.fake_mode = FakeTensorMode(shape_env=self.shape_env, allow_non_fake_inputs=True)
        self.symints: dict[str, Any] = {}
        self.sym_names: dict[str, str] = {}
        self.warned: set = set()
        self.guards_seen = 0
        # Symbols in declaration order, so that sympy prints products in that order ("H*D", not "D*H").
        for var, v in variables.items():
            if v.type in ("sym", "int") and v.value is None:
                if not isinstance(v.example, int) or v.example < 2:
                    raise PatternError(f"pattern {name!r}: {var} needs an example size >= 2 (got {v.example!r}); "
                                       "sizes 0 and 1 are specialised by PyTorch")
                self.symints[var] = self._symint(var, v.example)
        # Float/dtype scalars and fixed ints: two example values, one per trace.
        self.sentinels: list[dict[str, Any]] = [{}, {}]
        sizes = _example_sizes(variables, inputs or {})
        for var, v in variables.items():
            if v.type in ("float", "dtype") or (v.type == "int" and v.value is not None):
                first = v.example if v.example is not None else (v.one_of[0] if v.one_of else None)
                if first is None:
                    first = 0.0078125 if v.type == "float" else None
                if first is None:
                    raise PatternError(f"pattern {name!r}: scalar {var} needs an example value")
                self.sentinels[0][var] = first
                self.sentinels[1][var] = _second_value(var, v, first, sizes)

    def _symint(self, var: str, hint: int):
        from torch._dynamo.source import ConstantSource
        from torch.fx.experimental.symbolic_shapes import DimDynamic
        source = ConstantSource(f"fxopt_{var}")
        try:
            sym = self.shape_env.create_symbol(hint, source, dynamic_dim=DimDynamic.DYNAMIC, positive=True)
        except TypeError:  # older signatures
            sym = self.shape_env.create_symbol(hint, source, dynamic_dim=DimDynamic.DYNAMIC)
        self.sym_names[str(sym)] = var
        try:
            return self.shape_env.create_symintnode(sym, hint=hint, source=source)
        except TypeError:  # older signatures
            from torch.fx.experimental.sym_node import SymNode
            return self.torch.SymInt(SymNode(sym, self.shape_env, int, hint=hint))

    def scalar(self, var: str, k: int):
        """The value of variable `var` in trace k (0 or 1)."""
        if var in self.symints:
            return self.symints[var]
        v = self.vars[var]
        val = self.sentinels[k][var]
        return _dtype(val) if v.type == "dtype" else val

    def env(self, k: int) -> dict:
        return {var: self.scalar(var, k) for var in self.vars
                if var in self.symints or var in self.sentinels[k]}

    def tensor(self, name: str, spec, k: int):
        """A fake tensor for example input `name`: a type string "bfloat16 [N*H, D]" or a tensor (static shape)."""
        torch = self.torch
        from . import symexpr
        if isinstance(spec, torch.Tensor):
            with self.fake_mode:
                return torch.empty(tuple(spec.shape), dtype=spec.dtype, device=self.device)
        if not isinstance(spec, str) or "[" not in spec or not spec.rstrip().endswith("]"):
            raise PatternError(f"pattern {self.name!r}: example input {name!r}: expected a tensor or a type like "
                               f"\"bfloat16 [N*H, D]\", got {spec!r}")
        dt, dims = spec.split("[", 1)
        dt = dt.strip()
        if dt in self.vars:
            if self.vars[dt].type != "dtype":
                raise PatternError(f"pattern {self.name!r}: input {name!r}: {dt} is not a dtype variable")
            dtype = self.scalar(dt, k)
        else:
            dtype = _dtype(dt)
        env = self.env(k)
        sizes = []
        for d in [x for x in dims.rstrip()[:-1].split(",") if x.strip()]:
            try:
                sizes.append(symexpr.evaluate(symexpr.parse(d.strip()), env))
            except KeyError as e:
                raise PatternError(f"pattern {self.name!r}: input {name!r}: {e.args[0]} in {spec!r} is not a named "
                                   "dim (sym_dims=) or int scalar") from None
            except symexpr.SymExprError as e:
                raise PatternError(f"pattern {self.name!r}: input {name!r}: {e}") from None
        with self.fake_mode:
            return torch.empty(sizes, dtype=dtype, device=self.device)

    def args_for(self, fn, inputs: Mapping[str, Any], k: int, role: str):
        """The arguments of `fn` by parameter name: example inputs and named scalars."""
        params, args = [], []
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise PatternError(f"pattern {self.name!r}: {role} function {fn.__name__} ({_where(fn)}) has "
                                   f"*{p.name}: name every parameter")
            if p.name in inputs:
                args.append(self.tensor(p.name, inputs[p.name], k))
            elif p.name in self.vars:
                args.append(self.scalar(p.name, k))
            elif p.default is not p.empty:
                raise PatternError(f"pattern {self.name!r}: parameter {p.name!r} of {fn.__name__} ({_where(fn)}) has "
                                   "a default but is not named: a default would be baked into the pattern; name it "
                                   "in scalars= or drop the parameter")
            else:
                raise PatternError(f"pattern {self.name!r}: parameter {p.name!r} of {fn.__name__} ({_where(fn)}) is "
                                   "neither an example input nor a named scalar (scalars= / sym_dims=)")
            params.append(p.name)
        return params, args

    def make_fx(self, fn, args, role: str):
        torch = self.torch
        from torch._dispatch.python import enable_python_dispatcher
        from torch._inductor.decomposition import select_decomp_table
        from torch.fx.experimental.proxy_tensor import make_fx

        source = inspect.getsourcefile(fn)

        # FX keeps a node's stack trace only from a frame named `forward` on (TracerBase._filter_traceback_frames):
        # call the function from one, so that nodes carry the lines of `fn` (names and error messages use them).
        def forward(*a):
            return fn(*a)

        try:
            with self.fake_mode, enable_python_dispatcher(), _all_user_frames():
                try:
                    tracer = make_fx(forward, decomposition_table=select_decomp_table(), record_stack_traces=True)
                except TypeError:
                    tracer = make_fx(forward, decomposition_table=select_decomp_table())
                return _functional_fresh_inplace(torch, tracer(*args))
        except PatternError:
            raise
        except Exception as e:  # noqa: BLE001 - every tracing failure becomes a PatternError naming the line
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == source]
            at = f"{frames[-1].filename}:{frames[-1].lineno} (`{(frames[-1].line or '').strip()}`)" if frames \
                else _where(fn)
            kind = type(e).__name__
            text = str(e).strip().splitlines()[0] if str(e).strip() else kind
            if "DataDependent" in kind or "data-dependent" in str(e) or "data dependent" in str(e):
                why = "data-dependent control flow or value (Python branching on a tensor, .item(), .tolist())"
            else:
                why = "an operation make_fx cannot trace (an opaque Python call, a NumPy conversion, an op without " \
                      "a fake implementation)"
            raise PatternError(f"pattern {self.name!r}: {at}: cannot trace the {role} function: {why}: "
                               f"{kind}: {text}") from None

    def check_specialisation(self, k: int = 0, role: str = "search"):
        """A named dim compared with a constant in Python is specialised: the pattern would be wrong.
        Called after each trace (k = 0, 1): a specialisation in the second one names the values it used."""
        repl = getattr(self.shape_env, "replacements", {}) or {}
        for sym, expr in repl.items():
            var = self.sym_names.get(str(sym))
            if var is None or var in self.warned:
                continue
            if not getattr(expr, "is_number", False):
                self.warned.add(var)
                warnings.warn(f"pattern {self.name!r}: tracing rewrote dim {var} as {expr}; shapes are written with "
                              "that expression", stacklevel=3)
                continue
            second = ""
            if k == 1:
                fixed = {v: self.sentinels[1][v] for v, spec in self.vars.items()
                         if spec.type == "int" and v in self.sentinels[1]}
                second = (" in the second trace of the {role} function (fixed ints at {values}: make the example "
                          "sizes differ from them)").format(
                    role=role, values=", ".join(f"{v} = {x}" for v, x in fixed.items()) or "their values")
            raise PatternError(f"pattern {self.name!r}: dim {var} was specialised to {expr} while tracing{second} "
                               "(Python compared it with a constant, or passed it where an int is needed): fix it "
                               f"with int_var(value={expr}) or remove the comparison")

    def warn_guards(self):
        """The conditions tracing assumed about the dims (e.g. Eq(Mod(D, 128), 0)): a warning, once."""
        guards = [g for g in getattr(self.shape_env, "guards", []) or []]
        guards, self.guards_seen = guards[self.guards_seen:], len(guards)
        if guards:
            text = []
            for g in guards:
                s = str(getattr(g, "expr", g))
                for sym, var in sorted(self.sym_names.items(), key=lambda kv: -len(kv[0])):
                    s = s.replace(sym, var)
                text.append(s)
            warnings.warn(f"pattern {self.name!r}: tracing assumed {'; '.join(text)} (make sure the conditions "
                          "imply it)", stacklevel=3)

    def export(self, gm) -> dict:
        from . import exporter
        try:
            return exporter.export(gm, meta_keys=("stack_trace",))
        except exporter.ExportError as e:
            raise PatternError(f"pattern {self.name!r}: the trace has values fxgraph cannot write: {e}") from None


def _normalize(docs: Sequence[dict], binary, name: str) -> list[dict]:
    """The documents as the matcher sees graphs: through `fxopt rewrite --target none --keep-normalized`."""
    from . import fxgraph_json
    cmd = _binary.find_binary(binary)
    out = []
    with tempfile.TemporaryDirectory(prefix="fxopt_pattern_") as d:
        for k, doc in enumerate(docs):
            src, dst = os.path.join(d, f"in{k}.json"), os.path.join(d, f"out{k}.json")
            fxgraph_json.write(doc, src)
            r = subprocess.run(cmd + ["rewrite", src, "--target", "none", "--keep-normalized", "-o", dst],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise PatternError(f"pattern {name!r}: fxopt could not normalise the trace: {r.stderr.strip()}")
            out.append(fxgraph_json.read(dst))
    return out


def trace(name: str, search: Callable, replacement: Union[Callable, FusedOp, str], example_inputs: Mapping[str, Any],
          *, scalars: Optional[Mapping[str, Any]] = None, sym_dims: Optional[Mapping[str, Any]] = None,
          conditions: Sequence[str] = (), outputs: Optional[Sequence[str]] = None, benefit: int = 1,
          root: Optional[str] = None, fused_op: Optional[str] = None, replacement_args: Optional[Sequence] = None,
          replacement_kwargs: Optional[Mapping] = None, description: str = "", diagram: Sequence[str] = (),
          binary=None, device: str = "cpu", normalize: bool = True, reject: str = "") -> dict:
    """One pattern (a dict in fxopt's JSON format) from a search function and its replacement.

    example_inputs: the search function's tensor parameters, name -> a type "bfloat16 [N*H, D]" over the
    named dims (or a tensor, for a static shape). sym_dims: the dims, name -> example size (a `sym`
    variable) or a Var (int_var(...) for a size that must match exactly). scalars: the other parameters,
    name -> example value (float, int, torch.dtype) or a Var. replacement: a function of the same
    parameters (traced like the search; it calls the fused op), a FusedOp, or an op name with
    replacement_args / replacement_kwargs. outputs: names of the search function's results. root: the
    region node the matcher starts at (a variable name of the search function). conditions: as in the
    JSON format. binary: the fxopt binary used to normalise the trace (default: find_binary()). reject: the
    reason the region is a declared look-alike (matched and reported as a near miss, never rewritten).
    """
    import torch  # noqa: F401 - fails early with a clear ImportError when torch is absent
    variables: dict[str, Var] = {}
    for var, spec in (sym_dims or {}).items():
        check_var_name(var)
        variables[var] = as_var(var, _plain(spec), "sym")
        if variables[var].type not in ("sym", "int"):
            raise PatternError(f"pattern {name!r}: sym_dims[{var!r}] must be a size (sym or int)")
    for var, spec in (scalars or {}).items():
        check_var_name(var)
        if var in variables:
            raise PatternError(f"pattern {name!r}: {var} is both a dim and a scalar")
        variables[var] = as_var(var, _plain(spec), "int")
    if isinstance(replacement, str):
        replacement = FusedOp(replacement, list(replacement_args or []), dict(replacement_kwargs or {}))
    inputs = list(example_inputs)

    tr = _Tracer(name, variables, list(sym_dims or {}), device, example_inputs)
    docs = {}
    for role, fn in (("search", search), ("replacement", replacement)):
        if role == "replacement" and isinstance(fn, FusedOp):
            continue
        if not callable(fn):
            raise PatternError(f"pattern {name!r}: the {role} must be a function (or, for the replacement, a FusedOp "
                               "or an op name)")
        pair = []
        for k in (0, 1):
            params, args = tr.args_for(fn, example_inputs, k, role)
            pair.append(tr.export(tr.make_fx(fn, args, role)))
            tr.check_specialisation(k, role)
        tr.warn_guards()
        if role == "search" and normalize:
            pair = _normalize(pair, binary, name)
        docs[role] = Trace(pair[0], params, pair[1], inspect.getsourcefile(fn), fn.__name__, source_lines(fn))
    rep = replacement if isinstance(replacement, FusedOp) else docs["replacement"]
    pattern = build_pattern(name, docs["search"], rep, inputs=inputs, variables=variables, sym_names=tr.sym_names,
                            sentinels=tr.sentinels, outputs=outputs, root=root, conditions=conditions,
                            benefit=benefit, fused_op=fused_op, description=description, diagram=diagram)
    if reject:
        pattern["reject"] = reject
    return pattern


def trace_spelling(fragment, spelling, examples: Mapping[str, Any], *, binary=None, device: str = "cpu",
                   normalize: bool = True) -> tuple[list, dict]:
    """A fragment's traced spelling (fxopt.family) as pattern nodes and its outputs {fragment output: node}.

    The function takes the fragment's inputs by name and scalars named in `examples` (the family's dims and
    scalars with their example values, as sym_dims= / scalars= of trace()); its results are the fragment's
    outputs in order. Traced twice like a search function: a float/dtype scalar becomes its $variable."""
    fn = spelling.fn
    name = f"{fragment.name}/{spelling.name}"
    params = list(inspect.signature(fn).parameters)
    variables: dict[str, Var] = {}
    for var, spec in examples.items():
        check_var_name(var)
        variables[var] = as_var(var, _plain(spec), "int")
    inputs = {k: t for k, t in fragment.inputs.items() if k in params}
    missing = [k for k in fragment.inputs if k not in params]
    if missing:
        raise PatternError(f"pattern {name!r}: {fn.__name__} ({_where(fn)}) must take the fragment's inputs "
                           f"{', '.join(fragment.inputs)} (missing {', '.join(missing)})")
    tr = _Tracer(name, variables, [v for v, x in variables.items() if x.type == "sym"], device, inputs)
    pair = []
    for k in (0, 1):
        ps, args = tr.args_for(fn, inputs, k, "spelling")
        pair.append(tr.export(tr.make_fx(fn, args, "spelling")))
        tr.check_specialisation(k, "spelling")
    tr.warn_guards()
    if normalize:
        pair = _normalize(pair, binary, name)
    doc = Trace(pair[0], ps, pair[1], inspect.getsourcefile(fn), fn.__name__, source_lines(fn))
    return build_spelling(name, doc, inputs=list(inputs), variables=variables, sym_names=tr.sym_names,
                          sentinels=tr.sentinels, outputs=list(fragment.outputs), root=spelling.root)


def dump(patterns: Union[dict, Sequence[dict]], path: Union[str, os.PathLike], description: str = "") -> dict:
    """Writes one pattern or several (or a whole document, fragments included) as a pattern file; returns the
    file's document."""
    if isinstance(patterns, dict) and patterns.get("format") == "fxopt-patterns":
        doc = patterns
    else:
        doc = document([patterns] if isinstance(patterns, dict) else list(patterns), description)
    text = dumps(doc)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return doc


# ---------------------------------------------------------------------------------------------------------
# Command line

def _collect(spec: str) -> tuple[list, str, Any]:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    if attr:
        obj = getattr(module, attr, None)
        if obj is None:
            raise PatternError(f"{module_name} has no {attr!r}")
        items = obj() if callable(obj) and not isinstance(obj, Pattern) else obj
    elif module.__name__ in _DECLARED:
        items = _DECLARED[module.__name__]
    elif hasattr(module, "PATTERNS"):
        items = module.PATTERNS
    elif hasattr(module, "FAMILIES"):
        items = []
    else:
        raise PatternError(f"{module_name} declares no patterns (a list PATTERNS, FRAGMENTS and FAMILIES, "
                           "@fxopt.pattern.declare, or MODULE:NAME)")
    if isinstance(items, (Pattern, dict)):
        items = [items]
    doc = (module.__doc__ or "").strip().splitlines()
    return list(items), doc[0] if doc else "", module


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fxopt.pattern",
                                 description="Write the patterns a Python module declares as an fxopt pattern file.")
    ap.add_argument("module", help="MODULE or MODULE:NAME (a list of patterns, or a function returning one)")
    ap.add_argument("-o", "--output", required=True, help="the pattern file to write (JSON)")
    ap.add_argument("--name-prefix", default="", help="prefix every pattern name (to load next to the built-ins)")
    ap.add_argument("--binary", default=None, help="the fxopt binary that normalises traces (default: find it)")
    ap.add_argument("--path", action="append", default=[], help="add a directory to sys.path (repeatable)")
    a = ap.parse_args(argv)
    sys.path[:0] = a.path
    try:
        items, description, module = _collect(a.module)
        if hasattr(module, "FAMILIES") and not a.module.partition(":")[2]:
            from . import family
            examples = getattr(module, "EXAMPLES", {})
            doc = family.document(getattr(module, "FRAGMENTS", []), module.FAMILIES,
                                  getattr(module, "DESCRIPTION", description), a.name_prefix,
                                  lambda frag, sp: trace_spelling(frag, sp, examples, binary=a.binary))
            dump(doc, a.output)
            print(f"wrote {len(doc['fragments'])} fragments and {len(doc['patterns'])} patterns to {a.output}")
            return 0
        patterns = []
        for it in items:
            if isinstance(it, Pattern):
                p = it.trace(binary=a.binary)
            elif isinstance(it, dict):
                p = dict(it)
            else:
                raise PatternError(f"{a.module}: {it!r} is not a Pattern or a pattern dict")
            p["name"] = a.name_prefix + p["name"]
            patterns.append(p)
        dump(patterns, a.output, description)
    except (PatternError, ImportError, _binary.BinaryNotFound) as e:
        print(f"fxopt.pattern: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(patterns)} patterns to {a.output}: {', '.join(p['name'] for p in patterns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
