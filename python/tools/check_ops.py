"""Op-by-op check of fxopt's kernels against PyTorch (OpInfo style), and the CI fixtures made from it.

    python python/tools/check_ops.py --fxopt build/fxopt --out DIR [--ops exp,sort] [--gpu] [--fixtures tests/data/ops]

For every case of the table below (each op over several shapes: size-1, empty, odd, non-contiguous views and
broadcasts; every dtype it takes; edge values: +-0, subnormals, +-inf, NaN, the dtype's limits): the case's
function is traced with make_fx into a one-node graph (plus the permute/expand that makes a view), exported
with fxopt's exporter, run eagerly by PyTorch (on the CPU; CUDA-only ops on CUDA), and run by
`fxopt run --inputs ... --save-outputs ...` (and with --gpu also `--device gpu`). Outputs are compared:

  exact   data movement, integer, comparison and conversion ops: same values, same sign of zero, NaN = NaN.
  ulp N   elementwise float ops: within N units in the last place of the output dtype (ordered bit patterns);
          results both under 2^-125 in magnitude, and PyTorch's inf against fxopt's finite value of at least half
          the dtype's max, count as equal (PyTorch kernels flush underflow and overflow in intermediates).
  bound   reductions, matmul, convolution, attention: |got - exact| <= gamma(n) * absref + ulp_out(|exact|),
          where exact and absref are computed in float64 (absref: the same op on |inputs|, so the classic
          forward-error bound of an n-term float32 sum), n the accumulation length, gamma(n) = n u / (1 - n u),
          u = 2^-24. PyTorch's own result is checked against the same bound (column `torch`), which shows the
          bound is not too tight.

Prints one row per case and a summary; DIR/results.json holds the rows. --fixtures DIR writes the graph,
inputs and PyTorch outputs of the small passing cases marked as fixtures plus DIR/manifest.json, which
tests/test_op_fixtures.cpp checks in CI (no torch there). Needs torch (and numpy); the GPU machine has them.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch.fx.experimental.proxy_tensor import make_fx  # noqa: E402

import fxopt  # noqa: E402

try:  # registers prims.prepare_softmax_online and prims._low_memory_max_pool_with_offsets
    import torch._inductor.inductor_prims  # noqa: E402,F401
except Exception:  # pragma: no cover
    pass

aten = torch.ops.aten
prims = torch.ops.prims

FLOATS = [torch.float32, torch.bfloat16, torch.float16, torch.float64]
INTS = [torch.int64, torch.int32, torch.int8, torch.uint8]
FP8 = [torch.float8_e4m3fn, torch.float8_e5m2]
U = 2.0 ** -24  # float32 unit roundoff: every fxopt reduction accumulates in float32 (or better)

# ---- safetensors without the safetensors package ----------------------------------------------------------

_ST_CODE = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16", torch.int32: "I32",
            torch.int64: "I64", torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
            torch.float64: "F64", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
            torch.float8_e4m3fnuz: "F8_E4M3FNUZ"}
_ST_DTYPE = {v: k for k, v in _ST_CODE.items()}


def _raw_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()


def save_safetensors(path: str, tensors: dict) -> None:
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = _raw_bytes(t)
        header[name] = {"dtype": _ST_CODE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path: str) -> dict:
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        lo, hi = h["data_offsets"]
        dtype = _ST_DTYPE[h["dtype"]]
        if hi == lo:
            out[name] = torch.empty(h["shape"], dtype=dtype)
        else:
            buf = torch.frombuffer(bytearray(raw[base + lo:base + hi]), dtype=torch.uint8)
            out[name] = buf.view(dtype).reshape(h["shape"]).clone()
    return out


# ---- inputs -----------------------------------------------------------------------------------------------

def edge_values(dtype) -> list:
    if dtype == torch.bool:
        return [True, False]
    if not dtype.is_floating_point:
        i = torch.iinfo(dtype)
        return [0, 1, i.max, i.min, -1 if i.min < 0 else 2, 7]
    f = torch.finfo(dtype)
    sub = f.smallest_normal * f.eps  # the smallest subnormal (fp8 e4m3fn has subnormals too)
    vals = [0.0, -0.0, 1.0, -1.0, f.max, -f.max, f.smallest_normal, -sub, sub, 0.5, -2.5, 3.0]
    if dtype not in (torch.float8_e4m3fn, torch.float8_e4m3fnuz):  # formats without infinities
        vals += [math.inf, -math.inf]
    vals.append(math.nan)
    return vals


def make_tensor(shape, dtype, seed, edges=True, low=None, high=None, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    if dtype == torch.bool:
        t = torch.randint(0, 2, (n,), generator=g).bool()
    elif dtype.is_floating_point:
        t = torch.randn((n,), generator=g, dtype=torch.float64) * 2
        if low is not None:
            t = t.abs() * (high - low) / 4 + low
    else:
        lo = 0 if dtype == torch.uint8 else -8
        t = torch.randint(lo if low is None else low, 9 if high is None else high, (n,), generator=g)
    t = t.to(torch.float32).to(dtype) if dtype in FP8 else t.to(dtype)
    if edges and n > 0:
        ev = edge_values(dtype)
        k = min(n, len(ev))
        e = torch.tensor(ev[:k], dtype=torch.float64 if dtype.is_floating_point else torch.int64)
        t[:k] = e.to(torch.float32).to(dtype) if dtype in FP8 else e.to(dtype)
    return t.reshape(shape).to(device)


def shaped_input(shape, view, dtype, seed, **kw):
    """(stored tensor, function making the op's view of it) for `shape` seen through `view`: the stored input is
    contiguous; the graph makes the view (a permute or an expand), so fxopt's kernel sees strided data."""
    if view == "contig":
        return make_tensor(shape, dtype, seed, **kw), lambda x: x
    if view == "transposed":
        perm = list(reversed(range(len(shape))))
        return make_tensor(tuple(shape[p] for p in perm), dtype, seed, **kw), lambda x: aten.permute.default(x, perm)
    if view == "expanded":
        stored = (1,) + tuple(shape[1:])
        return make_tensor(stored, dtype, seed, **kw), lambda x: aten.expand.default(x, list(shape))
    raise ValueError(view)


ELEMENTWISE_SHAPES = [((7,), "contig"), ((1,), "contig"), ((0,), "contig"), ((3, 5), "transposed"),
                      ((4, 6), "expanded"), ((2, 1, 3), "contig")]


# ---- comparison -------------------------------------------------------------------------------------------

def ordered_bits(t: torch.Tensor) -> torch.Tensor:
    """Float bit patterns as int64 that order like the values (+0 and -0 both 0)."""
    size = t.element_size()
    it = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}[size]
    i = t.contiguous().view(it).to(torch.int64)
    mag = i & ((1 << (8 * size - 1)) - 1)
    return torch.where(i < 0, -mag, mag)


def ulp_of(v: torch.Tensor, dtype) -> torch.Tensor:
    """The spacing of `dtype` at |v| (float64), at least the smallest subnormal."""
    f = torch.finfo(dtype)
    mant = {torch.float64: 52, torch.float32: 23, torch.float16: 10, torch.bfloat16: 7,
            torch.float8_e4m3fn: 3, torch.float8_e5m2: 2}.get(dtype, 23)
    a = v.abs().clamp(min=f.smallest_normal)
    e = torch.floor(torch.log2(a))
    return torch.exp2(e - mant).to(torch.float64)


def compare(want: torch.Tensor, got: torch.Tensor, rule, exact=None, absref=None, n=1, eps=U):
    """(ok, metric text). rule: ("exact",), ("ulp", N) or ("bound",)."""
    if got.dtype != want.dtype or tuple(got.shape) != tuple(want.shape):
        return False, f"got {got.dtype} {tuple(got.shape)}, want {want.dtype} {tuple(want.shape)}"
    if got.numel() == 0:
        return True, "empty"
    kind = rule[0]
    if not want.dtype.is_floating_point:
        bad = (got != want).sum().item()
        return bad == 0, f"{bad} differ"
    wn, gn = torch.isnan(want.double()), torch.isnan(got.double())
    nan_bad = (wn != gn).sum().item()
    if kind == "exact":
        same = (ordered_bits(want) == ordered_bits(got)) & (torch.signbit(want.double()) == torch.signbit(got.double()))
        bad = ((~same) & ~(wn & gn)).sum().item()
        return bad == 0, f"{bad} differ"
    if kind == "ulp":
        d = (ordered_bits(want) - ordered_bits(got)).abs()
        d = torch.where(wn & gn, torch.zeros_like(d), d)
        # Two documented PyTorch kernel limits, not fxopt errors: results in float32's underflow range (both
        # below 2^-125 in magnitude: the vectorised kernels flush them, e.g. erf(FLT_MIN) = 0), and an
        # intermediate overflow (PyTorch inf where fxopt gives a finite value of the same sign at or above half
        # the dtype's max: gelu(x) = x * (1 + erf) * 0.5 overflows at bf16's max, fxopt's 0.5 * x * (1 + erf)
        # does not).
        wd, gd = want.double(), got.double()
        tiny = (wd.abs() < 2.0 ** -125) & (gd.abs() < 2.0 ** -125)
        big = torch.isinf(wd) & torch.isfinite(gd) & (gd.abs() >= torch.finfo(want.dtype).max / 2) & \
            (torch.signbit(wd) == torch.signbit(gd))
        d = torch.where(tiny | big, torch.zeros_like(d), d)
        worst = d[~(wn | gn)].max().item() if (~(wn | gn)).any() else 0
        return nan_bad == 0 and worst <= rule[1], f"max {worst} ulp" + (f", {nan_bad} NaN differ" if nan_bad else "")
    # bound: against the float64 exact result
    ex = exact.double()
    tol = gamma(n, eps) * absref.double().abs() + ulp_of(ex, want.dtype)
    err = (got.double() - ex).abs()
    fin = torch.isfinite(ex) & torch.isfinite(got.double())
    inf_bad = ((torch.isinf(ex) | torch.isinf(got.double())) & (got.double() != ex) & ~torch.isnan(ex)).sum().item()
    over = (err > tol) & fin
    ratio = (err[fin] / tol[fin]).max().item() if fin.any() else 0.0
    rel_l2 = ((got.double() - ex)[fin].norm() / ex[fin].norm().clamp(min=1e-300)).item() if fin.any() else 0.0
    ok = over.sum().item() == 0 and inf_bad == 0 and (torch.isnan(got.double()) == torch.isnan(ex)).all().item()
    return ok, f"err/bound {ratio:.3g}, rel L2 {rel_l2:.2e}"


def gamma(n: int, eps: float = U) -> float:
    return n * eps / (1 - n * eps)


# ---- cases ------------------------------------------------------------------------------------------------

class Case:
    """One graph to check: fn(*inputs) returns a tuple of tensors. rules: one per output. ref(*inputs) gives
    the float64 (exact, absref) pairs of bound rules; n the accumulation length."""

    def __init__(self, op, name, fn, inputs, rules, ref=None, n=1, device="cpu", fixture=False, eps=U):
        self.op, self.name, self.fn, self.inputs, self.rules = op, name, fn, inputs, rules
        self.ref, self.n, self.device, self.fixture, self.eps = ref, n, device, fixture, eps


def dname(dtype) -> str:
    return str(dtype).replace("torch.", "")


def cases_unary(op_name, target, dtypes, rule, fixture_dtype=torch.bfloat16, **kw):
    out = []
    for dt in dtypes:
        for shape, view in ELEMENTWISE_SHAPES:
            x, vx = shaped_input(shape, view, dt, seed=len(out), **kw)
            fn = (lambda vx: lambda x: (target(vx(x)),))(vx)
            out.append(Case(op_name, f"{op_name}/{dname(dt)}/{'x'.join(map(str, shape))}/{view}", fn, [x], [rule],
                            fixture=(dt == fixture_dtype and shape == (7,))))
    return out


def cases_binary(op_name, target, dtypes, rule, scalar=None, fixture_dtype=torch.bfloat16):
    out = []
    shapes = [((7,), (7,)), ((3, 5), (5,)), ((3, 1), (1, 4)), ((0, 3), (3,)), ((1,), (1,))]
    for dt in dtypes:
        for sa, sb in shapes:
            a = make_tensor(sa, dt, seed=len(out))
            b = make_tensor(sb, dt, seed=len(out) + 100, edges=False)
            if not dt.is_floating_point and dt != torch.bool:
                b = torch.where(b == 0, torch.ones_like(b), b)  # integer division by zero raises in PyTorch
            fn = lambda a, b: (target(a, b),)  # noqa: E731
            out.append(Case(op_name, f"{op_name}/{dname(dt)}/{sa}x{sb}", fn, [a, b], [rule],
                            fixture=(dt == fixture_dtype and sa == (7,))))
        if scalar is not None:
            a = make_tensor((3, 5), dt, seed=7)
            a_t = aten.permute.default
            fn = (lambda s: lambda a: (target(a_t(a, [1, 0]), s),))(scalar)
            out.append(Case(op_name, f"{op_name}/{dname(dt)}/5x3t,scalar", fn, [a], [rule]))
    return out


class BrokenGroup(Case):
    """A group of cases whose construction raised (an op missing from this torch, ...): one ERROR row."""

    def __init__(self, name, err):
        super().__init__(name, name, None, [], [])
        self.error = f"{type(err).__name__}: {err}"[:200]


def all_cases():
    cs = []
    # The heavy kernels, data movement and reductions first: when --time-limit cuts the run short, the
    # elementwise and conversion cases (the most numerous) are the ones left out.
    for group in (heavy_cases, data_movement_cases, reduction_cases, elementwise_cases):
        try:
            cs += group()
        except Exception as e:  # one broken group must not stop the others
            cs.append(BrokenGroup(group.__name__, e))
    return cs


def elementwise_cases():
    cs = []
    # Elementwise float ops: 1 ulp of the output dtype.
    for name in ["exp", "log1p", "erf", "sin", "cos", "tanh", "sigmoid", "sqrt", "rsqrt", "reciprocal", "log", "expm1",
                 "log2", "exp2", "erfc", "tan", "atan", "silu"]:
        cs += cases_unary(f"aten.{name}.default", getattr(aten, name).default, FLOATS, ("ulp", 1))
    cs += cases_unary("aten.gelu.default", aten.gelu.default, FLOATS, ("ulp", 1))
    cs += cases_unary("aten.gelu.default", lambda x: aten.gelu.default(x, approximate="tanh"), FLOATS, ("ulp", 1))
    cs += cases_unary("aten.softplus.default", lambda x: aten.softplus.default(x, 1, 20), FLOATS, ("ulp", 1))
    cs += cases_unary("aten.clamp.default", lambda x: aten.clamp.default(x, -1.5, 2.0), FLOATS + [torch.int64], ("exact",))
    for name in ["floor", "ceil", "round", "trunc", "sign"]:
        cs += cases_unary(f"aten.{name}.default", getattr(aten, name).default, FLOATS, ("exact",))
    for name in ["isnan", "isinf", "isfinite", "logical_not"]:
        cs += cases_unary(f"aten.{name}.default", getattr(aten, name).default, FLOATS[:2], ("exact",))
    for name in ["neg", "abs", "relu"]:
        cs += cases_unary(f"aten.{name}.default", getattr(aten, name).default, FLOATS + [torch.int64, torch.int32],
                          ("exact",))
    cs += cases_unary("aten.pow.Tensor_Scalar", lambda x: aten.pow.Tensor_Scalar(x, 2), FLOATS, ("ulp", 1))
    cs += cases_unary("aten.bitwise_not.default", aten.bitwise_not.default, INTS + [torch.bool], ("exact",))
    for name in ["add", "sub", "mul", "div"]:
        ov = getattr(aten, name)
        cs += cases_binary(f"aten.{name}.Tensor", ov.Tensor, FLOATS, ("ulp", 0 if name != "div" else 1), scalar=0.5)
        cs += cases_binary(f"aten.{name}.Tensor", ov.Tensor, [torch.int64, torch.int32] if name != "div" else [],
                           ("exact",))
    for mode in ["floor", "trunc"]:
        cs += cases_binary("aten.div.Tensor_mode", (lambda m: lambda a, b: aten.div.Tensor_mode(a, b, rounding_mode=m))(mode),
                           FLOATS[:2] + [torch.int64], ("ulp", 1))
    for name in ["eq", "ne", "lt", "le", "gt", "ge"]:
        cs += cases_binary(f"aten.{name}.Tensor", getattr(aten, name).Tensor, FLOATS + [torch.int64], ("exact",))
        cs += cases_unary(f"aten.{name}.Scalar", (lambda f: lambda x: f(x, 0.5))(getattr(aten, name).Scalar),
                          [torch.float32, torch.bfloat16], ("exact",))
    for name in ["maximum", "minimum"]:
        cs += cases_binary(f"aten.{name}.default", getattr(aten, name).default, FLOATS + [torch.int64], ("exact",))
    for name in ["bitwise_and", "bitwise_or"]:
        cs += cases_binary(f"aten.{name}.Tensor", getattr(aten, name).Tensor, [torch.int64, torch.bool], ("exact",))
    for name in ["logical_and", "logical_or"]:
        cs += cases_binary(f"aten.{name}.default", getattr(aten, name).default, [torch.bool, torch.float32], ("exact",))
    for dt in [torch.float32, torch.bfloat16, torch.int64]:
        c = make_tensor((3, 4), torch.bool, 1)
        a, b = make_tensor((3, 4), dt, 2), make_tensor((4,), dt, 3)
        cs.append(Case("aten.where.self", f"aten.where.self/{dname(dt)}", lambda c, a, b: (aten.where.self(c, a, b),),
                       [c, a, b], [("exact",)], fixture=dt == torch.bfloat16))
    # Conversions: exact (round to nearest even, saturation/NaN as c10).
    for src in FLOATS + INTS + [torch.bool] + FP8:
        for dst in FLOATS + INTS + [torch.bool] + FP8:
            if src == dst or (src in FP8 and dst in FP8):
                continue
            # float -> integer of NaN, inf or out-of-range values is undefined in C++ (PyTorch gives whatever the
            # CPU's conversion instruction gives; fxopt saturates): those inputs are left out.
            x = make_tensor((13,), src, 5, edges=not (src.is_floating_point and not dst.is_floating_point))
            cs.append(Case("prims.convert_element_type.default", f"convert/{dname(src)}->{dname(dst)}",
                           (lambda d: lambda x: (prims.convert_element_type.default(x, d),))(dst), [x], [("exact",)],
                           fixture=(src, dst) in [(torch.float32, torch.bfloat16), (torch.float32, torch.float8_e4m3fn),
                                                  (torch.bfloat16, torch.int32)]))
    return cs


def data_movement_cases():
    cs = []
    for dt in [torch.float32, torch.bfloat16, torch.int64, torch.bool]:
        x = make_tensor((4, 5, 3), dt, 11)
        t = dname(dt)
        cs += [
            Case("aten.slice.Tensor", f"slice/{t}", lambda x: (aten.clone.default(aten.slice.Tensor(x, 1, 1, 4, 2)),), [x], [("exact",)]),
            Case("aten.select.int", f"select/{t}", lambda x: (aten.clone.default(aten.select.int(x, 2, -1)),), [x], [("exact",)]),
            Case("aten.permute.default", f"permute/{t}", lambda x: (aten.clone.default(aten.permute.default(x, [2, 0, 1])),), [x], [("exact",)]),
            Case("aten.cat.default", f"cat/{t}", lambda x: (aten.cat.default([x, aten.permute.default(x, [0, 1, 2])], 1),), [x], [("exact",)],
                 fixture=dt == torch.bfloat16),
            Case("aten.split.Tensor", f"split/{t}", lambda x: tuple(aten.clone.default(y) for y in aten.split.Tensor(x, 2, 1)), [x],
                 [("exact",)] * 3),
            Case("aten.split_with_sizes.default", f"split_with_sizes/{t}",
                 lambda x: tuple(aten.clone.default(y) for y in aten.split_with_sizes.default(x, [1, 4], 1)), [x], [("exact",)] * 2),
            Case("aten.unbind.int", f"unbind/{t}", lambda x: tuple(aten.clone.default(y) for y in aten.unbind.int(x, 2)), [x], [("exact",)] * 3),
            Case("aten.constant_pad_nd.default", f"constant_pad_nd/{t}", lambda x: (aten.constant_pad_nd.default(x, [1, 2, 0, 1], 0),), [x],
                 [("exact",)]),
            Case("aten.slice_scatter.default", f"slice_scatter/{t}",
                 lambda x: (aten.slice_scatter.default(x, aten.slice.Tensor(x, 0, 0, 2), 0, 2, 4),), [x], [("exact",)]),
            Case("aten.select_scatter.default", f"select_scatter/{t}",
                 lambda x: (aten.select_scatter.default(x, aten.select.int(x, 1, 0), 1, 4),), [x], [("exact",)]),
            Case("aten.copy.default", f"copy/{t}", lambda x: (aten.copy.default(x, aten.permute.default(x, [0, 1, 2])),), [x], [("exact",)]),
            Case("aten.clone.default", f"clone_of_transpose/{t}", lambda x: (aten.clone.default(aten.permute.default(x, [1, 0, 2])),), [x],
                 [("exact",)]),
            Case("aten.reshape.default", f"reshape/{t}", lambda x: (aten.clone.default(aten.reshape.default(aten.permute.default(x, [1, 0, 2]), [5, 12])),),
                 [x], [("exact",)]),
            Case("aten.index_select.default", f"index_select/{t}",
                 lambda x, i: (aten.index_select.default(x, 1, i),), [x, torch.tensor([4, 0, 0])], [("exact",)]),
        ]
    for dt in [torch.float32, torch.bfloat16]:
        w = make_tensor((11, 6), dt, 12)
        ids = make_tensor((2, 5), torch.int64, 13, edges=False, low=0, high=11)
        cs.append(Case("aten.embedding.default", f"embedding/{dname(dt)}", lambda w, i: (aten.embedding.default(w, i),), [w, ids],
                       [("exact",)], fixture=dt == torch.bfloat16))
        x = make_tensor((5, 4), dt, 14)
        gi = make_tensor((5, 2), torch.int64, 15, edges=False, low=0, high=4)
        cs.append(Case("aten.gather.default", f"gather/{dname(dt)}", lambda x, i: (aten.gather.default(x, 1, i),), [x, gi], [("exact",)],
                       fixture=dt == torch.float32))
        src = make_tensor((5, 2), dt, 16, edges=False)
        cs.append(Case("aten.scatter.src", f"scatter/{dname(dt)}", lambda x, i, s: (aten.scatter.src(x, 1, i, s),), [x, gi, src],
                       [("exact",)]))
        cs.append(Case("aten.scatter_add.default", f"scatter_add/{dname(dt)}", lambda x, i, s: (aten.scatter_add.default(x, 1, i, s),),
                       [x, gi, src], [("ulp", 1)]))
        idx0 = make_tensor((3,), torch.int64, 17, edges=False, low=-4, high=5)  # |i| < 5 rows
        idx1 = make_tensor((2, 1), torch.int64, 18, edges=False, low=0, high=4)
        cs.append(Case("aten.index.Tensor", f"index/adjacent/{dname(dt)}", lambda x, i: (aten.index.Tensor(x, [i]),), [x, idx0], [("exact",)],
                       fixture=dt == torch.float32))
        cs.append(Case("aten.index.Tensor", f"index/none-first/{dname(dt)}", lambda x, j: (aten.index.Tensor(x, [None, j]),), [x, idx1],
                       [("exact",)]))
        cs.append(Case("aten.index.Tensor", f"index/broadcast/{dname(dt)}", lambda x, i, j: (aten.index.Tensor(x, [aten.unsqueeze.default(aten.abs.default(i), 1), j.reshape(2)]),),
                       [x, idx0, idx1], [("exact",)]))
        vals = make_tensor((3, 4), dt, 19, edges=False)
        for acc in (False, True):
            cs.append(Case("aten.index_put.default", f"index_put/acc={acc}/{dname(dt)}",
                           (lambda acc: lambda x, i, v: (aten.index_put.default(x, [aten.abs.default(i)], v, acc),))(acc),
                           [x, idx0, vals], [("ulp", 1) if acc else ("exact",)], fixture=acc and dt == torch.float32))
    # factories
    cs.append(Case("prims.iota.default", "iota", lambda: (prims.iota.default(7, start=3, step=2, dtype=torch.int64, device="cpu",
                                                                             requires_grad=False),), [], [("exact",)]))
    cs.append(Case("aten.full.default", "full", lambda: (aten.full.default([2, 3], 1.5, dtype=torch.bfloat16, device="cpu",
                                                                            pin_memory=False),), [], [("exact",)]))
    cs.append(Case("aten.scalar_tensor.default", "scalar_tensor", lambda: (aten.scalar_tensor.default(-0.0, dtype=torch.float32),), [],
                   [("exact",)]))
    return cs


def _sum_ref(x, dims, keepdim=False):
    xd = x.double()
    return xd.sum(dims, keepdim=keepdim), xd.abs().sum(dims, keepdim=keepdim)


def reduction_cases():
    cs = []
    shapes = [((6, 37), [1]), ((6, 37), [0]), ((5, 1, 7), [0, 2]), ((4, 0), [1]), ((3, 1000), [1])]
    for dt in [torch.float32, torch.bfloat16, torch.float16]:
        for shape, dims in shapes:
            x = make_tensor(shape, dt, 21, edges=False)
            n = math.prod(shape[d] for d in dims) or 1
            cs.append(Case("aten.sum.dim_IntList", f"sum/{dname(dt)}/{shape}/{dims}", (lambda d: lambda x: (aten.sum.dim_IntList(x, d),))(dims),
                           [x], [("bound",)], ref=(lambda d: lambda x: [_sum_ref(x, d)])(dims), n=n,
                           fixture=dt == torch.bfloat16 and shape == (6, 37) and dims == [1]))
            cs.append(Case("aten.mean.dim", f"mean/{dname(dt)}/{shape}/{dims}", (lambda d: lambda x: (aten.mean.dim(x, d, True),))(dims),
                           [x], [("bound",)], n=n + 1,  # the mean of an empty dim is NaN on both sides
                           ref=(lambda d: lambda x: [(x.double().mean(d, keepdim=True), x.double().abs().mean(d, keepdim=True))])(dims)))
            if 0 not in shape:  # amax of an empty dim raises in PyTorch
                cs.append(Case("aten.amax.default", f"amax/{dname(dt)}/{shape}/{dims}",
                               (lambda d: lambda x: (aten.amax.default(x, d),))(dims), [x], [("exact",)]))
        x = make_tensor((4, 33), dt, 22, edges=False)
        cs.append(Case("aten.var_mean.correction", f"var_mean/{dname(dt)}",
                       lambda x: tuple(aten.var_mean.correction(x, [1], correction=0, keepdim=True)), [x], [("bound",), ("bound",)],
                       ref=lambda x: [(x.double().var(1, correction=0, keepdim=True), 4 * (x.double() ** 2).mean(1, keepdim=True)),
                                      (x.double().mean(1, keepdim=True), x.double().abs().mean(1, keepdim=True))],
                       n=4 * 33))
        cs.append(Case("prims.prepare_softmax_online.default", f"prepare_softmax_online/{dname(dt)}",
                       lambda x: tuple(prims.prepare_softmax_online.default(x, 1)), [x], [("exact",), ("bound",)],
                       ref=lambda x: [None, (torch.exp(x.double() - x.double().amax(1, keepdim=True)).sum(1, keepdim=True),) * 2],
                       n=33 + 4, eps=torch.finfo(dt).eps / 2))
        z = make_tensor((4, 9), dt, 25, edges=False)
        cs.append(Case("aten._softmax.default", f"softmax/{dname(dt)}", lambda z: (aten._softmax.default(z, 1, False),), [z],
                       [("bound",)], ref=lambda z: [(torch.softmax(z.double(), 1),) * 2], n=9 + 4,
                       eps=max(U, torch.finfo(dt).eps / 2)))
        cs.append(Case("aten.max.dim", f"max.dim/{dname(dt)}", lambda z: tuple(aten.max.dim(z, 1)), [make_tensor((4, 9), dt, 26)],
                       [("exact",), ("exact",)]))
        cs.append(Case("aten.argmax.default", f"argmax/{dname(dt)}", lambda z: (aten.argmax.default(z, 0),),
                       [make_tensor((5, 3), dt, 27, edges=False)], [("exact",)]))
        # cumsum: PyTorch's CPU kernel accumulates in double (float32) or float (16-bit) in order: exact.
        y = make_tensor((3, 9), dt, 23)
        cs.append(Case("aten.cumsum.default", f"cumsum/{dname(dt)}", lambda y: (aten.cumsum.default(aten.permute.default(y, [1, 0]), 0),), [y],
                       [("exact",)], fixture=dt == torch.bfloat16))
    for dt in [torch.int64, torch.int32, torch.bool]:
        y = make_tensor((3, 9), dt, 24)
        cs.append(Case("aten.cumsum.default", f"cumsum/{dname(dt)}", lambda y: (aten.cumsum.default(y, -1),), [y], [("exact",)],
                       fixture=dt == torch.bool))
    return cs


def heavy_cases():
    cs = []
    # mm / bmm / addmm: bound with n = K.
    for dt in [torch.float32, torch.bfloat16, torch.float16]:
        for (m, k, n), view in [((5, 7, 3), "contig"), ((33, 65, 17), "transposed"), ((1, 1, 1), "contig"), ((4, 0, 3), "contig")]:
            a = make_tensor((m, k), dt, 31, edges=False)
            b, vb = shaped_input((k, n), view, dt, 32, edges=False)
            ref = (lambda vb: lambda a, b: [(a.double() @ vb(b).double(), a.double().abs() @ vb(b).double().abs())])(vb)
            cs.append(Case("aten.mm.default", f"mm/{dname(dt)}/{m}x{k}x{n}/{view}", (lambda vb: lambda a, b: (aten.mm.default(a, vb(b)),))(vb),
                           [a, b], [("bound",)], ref=ref, n=k, fixture=dt == torch.bfloat16 and m == 5))
        a, b = make_tensor((3, 5, 8), dt, 33, edges=False), make_tensor((3, 8, 4), dt, 34, edges=False)
        cs.append(Case("aten.bmm.default", f"bmm/{dname(dt)}", lambda a, b: (aten.bmm.default(a, b),), [a, b], [("bound",)],
                       ref=lambda a, b: [(a.double() @ b.double(), a.double().abs() @ b.double().abs())], n=8))
        bias = make_tensor((4,), dt, 35, edges=False)
        a2, b2 = make_tensor((6, 8), dt, 36, edges=False), make_tensor((8, 4), dt, 37, edges=False)
        cs.append(Case("aten.addmm.default", f"addmm/{dname(dt)}", lambda c, a, b: (aten.addmm.default(c, a, b),), [bias, a2, b2], [("bound",)],
                       ref=lambda c, a, b: [(c.double() + a.double() @ b.double(), c.double().abs() + a.double().abs() @ b.double().abs())],
                       n=9))
    # _grouped_mm (MoE): 2d x 3d with int32 end offsets, an empty group.
    for dt in [torch.bfloat16, torch.float32]:
        a = make_tensor((9, 16), dt, 38, edges=False)
        w = make_tensor((3, 16, 8), dt, 39, edges=False)
        offs = torch.tensor([4, 4, 9], dtype=torch.int32)

        def gref(a, w, o):
            out, absout, start = torch.zeros(9, 8, dtype=torch.float64), torch.zeros(9, 8, dtype=torch.float64), 0
            for g, end in enumerate(o.tolist()):
                out[start:end] = a[start:end].double() @ w[g].double()
                absout[start:end] = a[start:end].double().abs() @ w[g].double().abs()
                start = end
            return [(out, absout)]
        cs.append(Case("aten._grouped_mm.default", f"_grouped_mm/2dx3d/{dname(dt)}", lambda a, w, o: (aten._grouped_mm.default(a, w, o),),
                       [a, w, offs], [("bound",)], ref=gref, n=16, fixture=dt == torch.bfloat16,
                       device="cuda" if torch.cuda.is_available() else "cpu"))
    # convolution: 2-d (ResNet stem and blocks), 1-d depthwise (Qwen3-Next short conv), groups, dilation.
    conv_cases = [("stem", (2, 3, 17, 15), (8, 3, 7, 7), [2, 2], [3, 3], [1, 1], 1, True),
                  ("3x3", (1, 8, 9, 9), (8, 8, 3, 3), [1, 1], [1, 1], [1, 1], 1, False),
                  ("groups-dil", (1, 4, 10, 11), (6, 2, 3, 3), [1, 2], [2, 2], [2, 2], 2, True),
                  ("1x1-stride2", (2, 16, 8, 8), (32, 16, 1, 1), [2, 2], [0, 0], [1, 1], 1, False),
                  ("depthwise-1d", (1, 12, 10), (12, 1, 4), [1], [3], [1], 12, False)]
    for dt in [torch.float32, torch.bfloat16]:
        for tag, xs, ws, st, pad, dil, groups, has_bias in conv_cases:
            x = make_tensor(xs, dt, 40, edges=False)
            w = make_tensor(ws, dt, 41, edges=False)
            b = make_tensor((ws[0],), dt, 42, edges=False) if has_bias else None
            kn = math.prod(ws[1:])

            def conv(x, w, b=None, st=st, pad=pad, dil=dil, groups=groups):
                return (aten.convolution.default(x, w, b, st, pad, dil, False, [0] * len(st), groups),)

            def cref(x, w, b=None, st=st, pad=pad, dil=dil, groups=groups):
                f = torch.nn.functional.conv2d if x.dim() == 4 else torch.nn.functional.conv1d
                e = f(x.double(), w.double(), None if b is None else b.double(), st, pad, dil, groups)
                a = f(x.double().abs(), w.double().abs(), None if b is None else b.double().abs(), st, pad, dil, groups)
                return [(e, a)]
            cs.append(Case("aten.convolution.default", f"convolution/{tag}/{dname(dt)}", conv, [x, w] + ([b] if has_bias else []),
                           [("bound",)], ref=cref, n=kn + 1, fixture=dt == torch.bfloat16 and tag in ("3x3", "depthwise-1d")))
    # pooling
    for dt in [torch.float32, torch.bfloat16]:
        x = make_tensor((2, 3, 9, 9), dt, 43)
        cs.append(Case("prims._low_memory_max_pool_with_offsets.default", f"low_memory_max_pool/{dname(dt)}",
                       lambda x: tuple(prims._low_memory_max_pool_with_offsets.default(x, [3, 3], [2, 2], [1, 1], [1, 1], False)), [x],
                       [("exact",), ("exact",)], fixture=dt == torch.bfloat16))
        cs.append(Case("aten.max_pool2d_with_indices.default", f"max_pool2d_with_indices/ceil/{dname(dt)}",
                       lambda x: tuple(aten.max_pool2d_with_indices.default(x, [2, 2], [2, 2], [0, 0], [1, 1], True)), [x],
                       [("exact",), ("exact",)]))
        y = make_tensor((2, 3, 7, 6), dt, 44, edges=False)
        cs.append(Case("aten.avg_pool2d.default", f"avg_pool2d/{dname(dt)}",
                       lambda y: (aten.avg_pool2d.default(y, [3, 3], [2, 2], [1, 1], False, False),), [y], [("bound",)],
                       ref=lambda y: [(torch.nn.functional.avg_pool2d(y.double(), 3, 2, 1, False, False),
                                       torch.nn.functional.avg_pool2d(y.double().abs(), 3, 2, 1, False, False))], n=10))
        cs.append(Case("aten._adaptive_avg_pool2d.default", f"adaptive_avg_pool2d/{dname(dt)}",
                       lambda y: (aten._adaptive_avg_pool2d.default(y, [2, 3]),), [y], [("bound",)],
                       ref=lambda y: [(torch.nn.functional.adaptive_avg_pool2d(y.double(), [2, 3]),
                                       torch.nn.functional.adaptive_avg_pool2d(y.double().abs(), [2, 3]))], n=17))
    # sort / topk (values exact; indices exact: ties are broken stably on both sides for sort; topk's
    # inputs have no ties) / histc
    for dt in [torch.float32, torch.bfloat16, torch.int64]:
        x = make_tensor((3, 11), dt, 45)
        cs.append(Case("aten.sort.stable", f"sort/stable/{dname(dt)}", lambda x: tuple(aten.sort.stable(x, stable=True, dim=1, descending=True)),
                       [x], [("exact",), ("exact",)], fixture=dt == torch.float32))
        perm = (torch.randperm(33, generator=torch.Generator().manual_seed(1)).reshape(3, 11) - 16).to(dt)  # no ties
        cs.append(Case("aten.topk.default", f"topk/{dname(dt)}", lambda x: tuple(aten.topk.default(x, 4, 1)), [perm],
                       [("exact",), ("exact",)], fixture=dt == torch.float32))
    ids = torch.tensor([3, 0, 1, 1, 2, 3, 3, 0], dtype=torch.int64)
    cs.append(Case("aten.sort.default", "sort/default/int64-ties", lambda x: tuple(aten.sort.default(x)), [ids], [("exact",), ("exact",)]))
    for dt in [torch.float32, torch.float64]:
        x = make_tensor((50,), dt, 46)
        cs.append(Case("aten.histc.default", f"histc/{dname(dt)}", lambda x: (aten.histc.default(x, 7, -2, 3),), [x], [("exact",)],
                       fixture=dt == torch.float32))
    # attention: the CPU variants (math, flash_for_cpu) run in PyTorch on the CPU; the CUDA variants on CUDA.
    att = [("causal", (1, 2, 9, 16), (1, 2, 9, 16), True, None, False),
           ("mask-gqa", (2, 4, 5, 8), (2, 2, 7, 8), False, "bool", True),
           ("float-mask", (1, 2, 4, 8), (1, 2, 6, 8), False, "float", False)]
    for dt in [torch.float32, torch.bfloat16]:
        for tag, qs, ks, causal, mask, gqa in att:
            q, k, v = make_tensor(qs, dt, 47, edges=False), make_tensor(ks, dt, 48, edges=False), make_tensor(ks, dt, 49, edges=False)
            m = None
            if mask == "bool":
                m = torch.rand(qs[2], ks[2], generator=torch.Generator().manual_seed(2)) > 0.3
                m[:, 0] = True
            elif mask == "float":
                m = make_tensor((qs[2], ks[2]), dt, 50, edges=False)
            inputs = [q, k, v] + ([m] if m is not None else [])
            scale = 1.0 / math.sqrt(qs[3])

            def aref(q, k, v, m=None, causal=causal, gqa=gqa, scale=scale):
                kk, vv = k.double(), v.double()
                if gqa:
                    kk = kk.repeat_interleave(q.shape[1] // k.shape[1], 1)
                    vv = vv.repeat_interleave(q.shape[1] // k.shape[1], 1)
                s = q.double() @ kk.transpose(-1, -2) * scale
                if m is not None:  # added as it is: a bool mask counts 0 / 1 in the math variant, the only one
                    s = s + m.double()  # given the bool-mask case (F.scaled_dot_product_attention converts it first)
                if causal:
                    s = s.masked_fill(torch.ones(s.shape[-2:], dtype=torch.bool).triu(1), -math.inf)
                p = torch.softmax(s, -1)
                # Float32 scores carry an error of up to gamma(E) * A (A: the scores of |q|, |k|, plus |mask|),
                # which moves p by a relative 2 gamma(E) A: hence the (1 + 2 max A) factor on p @ |v|.
                a = q.double().abs() @ kk.abs().transpose(-1, -2) * scale
                if m is not None and m.dtype != torch.bool:
                    a = a + m.double().abs()
                return [(p @ vv, (p @ vv.abs()) * (1 + 2 * a.amax(-1, keepdim=True)))]
            n = max(ks[2], qs[3]) + 3
            cs.append(Case("aten._scaled_dot_product_attention_math.default", f"sdpa_math/{tag}/{dname(dt)}",
                           (lambda causal, gqa, scale: lambda q, k, v, m=None: (aten._scaled_dot_product_attention_math.default(
                               q, k, v, m, 0.0, causal, scale=scale, enable_gqa=gqa)[0],))(causal, gqa, scale),
                           inputs, [("bound",)], ref=aref, n=n, fixture=dt == torch.bfloat16 and tag == "causal"))
            if not gqa:
                cs.append(Case("aten._scaled_dot_product_flash_attention_for_cpu.default", f"sdpa_flash_cpu/{tag}/{dname(dt)}",
                               (lambda causal: lambda q, k, v, m=None: (aten._scaled_dot_product_flash_attention_for_cpu.default(
                                   q, k, v, 0.0, causal, attn_mask=m)[0],))(causal), inputs, [("bound",)], ref=aref, n=n))
                cs.append(Case("aten._scaled_dot_product_cudnn_attention.default", f"sdpa_cudnn/{tag}/{dname(dt)}",
                               (lambda causal: lambda q, k, v, m=None: (aten._scaled_dot_product_cudnn_attention.default(
                                   q, k, v, None if m is None else _bias(m, q), False, 0.0, causal)[0],))(causal),
                               inputs, [("bound",)], ref=aref, n=n, device="cuda"))
                cs.append(Case("aten._scaled_dot_product_efficient_attention.default", f"sdpa_efficient/{tag}/{dname(dt)}",
                               (lambda causal: lambda q, k, v, m=None: tuple(aten._scaled_dot_product_efficient_attention.default(
                                   q, k, v, None if m is None else _bias(m, q), True, 0.0, causal)[:1]))(causal),
                               inputs, [("bound",)], ref=aref, n=n, device="cuda"))
                if m is None and dt != torch.float32:  # flash attention takes fp16 and bf16 only
                    cs.append(Case("aten._scaled_dot_product_flash_attention.default", f"sdpa_flash/{tag}/{dname(dt)}",
                                   (lambda causal: lambda q, k, v: (aten._scaled_dot_product_flash_attention.default(
                                       q, k, v, 0.0, causal)[0],))(causal), inputs, [("bound",)], ref=aref, n=n, device="cuda"))
    return cs


def _bias(m, q):
    """An attention mask as the additive bias the fused CUDA variants take: q's dtype, (B, H, L, S), its rows 16
    elements aligned (the efficient kernel refuses "attn_bias is not correctly aligned"): a padded buffer, sliced."""
    if m.dtype == torch.bool:
        m = torch.zeros(m.shape, dtype=q.dtype, device=q.device).masked_fill(~m, -math.inf)
    b, h, l, s = q.shape[0], q.shape[1], m.shape[-2], m.shape[-1]
    full = m.to(q.dtype).expand(b, h, l, s)
    pad = (s + 15) // 16 * 16 - s
    if pad == 0:
        return full
    padded = torch.cat([full, torch.zeros(b, h, l, pad, dtype=q.dtype, device=q.device)], -1)
    return padded[..., :s]


# ---- running one case -------------------------------------------------------------------------------------

def supported_ops(binary):
    """The targets `fxopt ops --list` (or `run --list-ops`) prints, or None when the binary has no list."""
    for cmd in ([binary, "run", "--list-ops"], [binary, "ops", "--list"]):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except Exception:
            continue
        if p.returncode == 0 and p.stdout.strip():
            return {line.split()[0] for line in p.stdout.splitlines() if line.strip() and "." in line.split()[0]}
    return None


def output_names(doc):
    out = next(n for n in doc["nodes"] if n["op"] == "output")
    items = out["args"][0] if isinstance(out["args"][0], list) else [out["args"][0]]
    names = []
    for i, a in enumerate(items):
        name = a["node"] if isinstance(a, dict) and "node" in a else f"output_{i}"
        if name in names:
            name += f"_{i}"
        names.append(name)
    return names


def exact_arity(fn, n):
    """fn as a function of exactly n positional tensors: make_fx traces every parameter of the signature it sees
    (optional ones and bound defaults included: "Tracing expected 7 arguments but got 3"), so a function with
    defaults is called through *args (make_fx fakes a signature of the given arity for varargs)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn
    if len(params) == n and all(p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD for p in params):
        return fn
    return lambda *xs: fn(*xs)


def prepare_case(case, stem):
    """Traces and exports the case and runs it in PyTorch; writes stem.fxgraph.json and stem.inputs.safetensors.
    Returns (output names, PyTorch's outputs on the CPU)."""
    dev_inputs = [t.to(case.device) for t in case.inputs]
    gm = make_fx(exact_arity(case.fn, len(dev_inputs)), tracing_mode="real")(*dev_inputs)
    problems = []
    doc = fxopt.export(gm, strict=False, problems=problems,
                       producer={"source": "python/tools/check_ops.py", "torch": torch.__version__})
    with torch.no_grad():
        want = tuple(t.detach().to("cpu") for t in case.fn(*dev_inputs))
    names = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    with open(stem + ".fxgraph.json", "w") as f:
        json.dump(doc, f)
    save_safetensors(stem + ".inputs.safetensors", dict(zip(names, case.inputs)))
    return output_names(doc), want, problems


def run_fxopt(args, stem, device):
    """Runs fxopt on a prepared case; (None, error line) or (outputs by name, None)."""
    cmd = [args.fxopt, "run", stem + ".fxgraph.json", "--inputs", stem + ".inputs.safetensors", "--save-outputs",
           stem + f".{device}.safetensors", "--device", device, "--threads", "2"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "fxopt run timed out"
    if p.returncode != 0:
        lines = [l.strip() for l in (p.stderr.strip() or p.stdout.strip()).splitlines()] or ["exit %d" % p.returncode]
        return None, " | ".join(lines[:3])
    return load_safetensors(stem + f".{device}.safetensors"), None


def worst_element(case, want, got):
    """' (first differing element i: input x, torch y, fxopt z)' for a failed comparison (shapes equal)."""
    try:
        if got.shape != want.shape or want.numel() == 0:
            return ""
        w, g = want.reshape(-1), got.reshape(-1)
        if want.dtype.is_floating_point:
            wb, gb = ordered_bits(w), ordered_bits(g)
            bad = ((wb != gb) | (torch.signbit(w.double()) != torch.signbit(g.double()))) & ~(torch.isnan(w.double()) & torch.isnan(g.double()))
        else:
            bad = w != g
        idx = bad.nonzero()
        if idx.numel() == 0:
            return ""
        i = int(idx[0])
        x = ""
        if case.inputs and case.inputs[0].numel() == want.numel() and case.name.endswith("/contig"):
            x = f"input {case.inputs[0].reshape(-1)[i].item()!r}, "
        return f" (first differing element {i}: {x}torch {w[i].item()!r}, fxopt {g[i].item()!r})"
    except Exception as e:  # a diagnostic only
        return f" (no element detail: {e})"


def finish_case(case, onames, want, got_map, err):
    """The row of one device run: status PASS / FAIL / UNSUPPORTED / ERROR, detail, and the torch column."""
    if got_map is None:
        # "the executor has no kernel for ...", "... dtypes the executor does not support", "... not supported"
        unsupported = "no kernel" in err or "not support" in err or "no op" in err
        return {"status": "UNSUPPORTED" if unsupported else "ERROR", "detail": err[:200]}
    refs = case.ref(*case.inputs) if case.ref else [None] * len(want)
    oks, details, torch_oks = [], [], []
    for i, (w, rule) in enumerate(zip(want, case.rules)):
        g = got_map.get(onames[i])
        if g is None:
            oks.append(False)
            details.append(f"output {onames[i]} missing")
            continue
        ex, ab = refs[i] if refs[i] is not None else (None, None)
        ok, det = compare(w, g, rule, ex, ab, case.n, case.eps)
        if not ok:
            det += worst_element(case, w, g)
        oks.append(ok)
        details.append(det)
        if rule[0] == "bound":
            torch_oks.append(compare(w, w, rule, ex, ab, case.n, case.eps)[0])
    return {"status": "PASS" if all(oks) else "FAIL", "detail": "; ".join(details),
            "torch": ("ok" if all(torch_oks) else "over") if torch_oks else ""}


def write_fixture(case, stem, onames, want, fixdir, manifest):
    safe = case.name.replace("/", "__").replace(" ", "").replace("(", "").replace(")", "").replace(",", "_").replace("->", "_to_")
    shutil.copy(stem + ".fxgraph.json", os.path.join(fixdir, safe + ".fxgraph.json"))
    shutil.copy(stem + ".inputs.safetensors", os.path.join(fixdir, safe + ".inputs.safetensors"))
    save_safetensors(os.path.join(fixdir, safe + ".expected.safetensors"), dict(zip(onames, want)))
    rules = []
    refs = case.ref(*case.inputs) if case.ref else [None] * len(want)
    for i, rule in enumerate(case.rules):
        if rule[0] == "exact":
            rules.append({"mode": "exact"})
        elif rule[0] == "ulp":
            rules.append({"mode": "ulp", "ulp": rule[1]})
        else:  # the bound around PyTorch's result: twice the largest per-element bound of this case
            ex, ab = refs[i]
            tol = gamma(case.n, case.eps) * ab.double().abs() + ulp_of(ex.double(), want[i].dtype)
            rules.append({"mode": "close", "atol": 2 * float(tol.max()) if tol.numel() else 0.0, "rtol": 0.0})
    manifest["cases"].append({"name": case.name, "op": case.op, "graph": safe + ".fxgraph.json",
                              "inputs": safe + ".inputs.safetensors", "expected": safe + ".expected.safetensors",
                              "compare": rules})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fxopt", "--binary", dest="fxopt", default="build/fxopt", help="the fxopt binary")
    ap.add_argument("--out", default=os.environ.get("OUT", "check_ops_out"), help="directory for results.json")
    ap.add_argument("--ops", default="", help="comma-separated substrings of case names to run (default: all)")
    ap.add_argument("--gpu", action="store_true", help="also run fxopt --device gpu (bit-identity with the CPU reported)")
    ap.add_argument("--fixtures", default="", help="write the passing fixture cases here (e.g. tests/data/ops)")
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="fxopt runs in parallel")
    ap.add_argument("--time-limit", type=float, default=240, help="seconds; later cases are reported as SKIP")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    listed = supported_ops(args.fxopt)
    cases = all_cases()
    if args.ops:
        keys = args.ops.split(",")
        cases = [c for c in cases if any(k in c.name for k in keys)]
    devices = ["cpu"] + (["gpu"] if args.gpu else [])
    work = tempfile.mkdtemp(prefix="check_ops_")
    manifest = {"generated_by": "python/tools/check_ops.py", "torch": torch.__version__, "cases": []}
    if args.fixtures:
        os.makedirs(args.fixtures, exist_ok=True)
    out_rows, counts = [], {}
    t_start = time.time()
    print(f"{'case':60} {'cpu':11} {'torch':5} {'gpu':14} detail")
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    chunk = max(8, 4 * args.jobs)
    for c0 in range(0, len(cases), chunk):
        # Chunks keep partial results when the time runs out (the rest is reported as SKIP).
        over_time = time.time() - t_start > args.time_limit
        prepared, rows = {}, {}
        for i in range(c0, min(len(cases), c0 + chunk)):
            case = cases[i]
            stem = os.path.join(work, f"c{i}")
            if isinstance(case, BrokenGroup):
                rows[i] = {"status": "ERROR", "detail": "building the cases: " + case.error}
            elif over_time:
                rows[i] = {"status": "SKIP", "detail": f"time limit ({args.time_limit:.0f} s) reached"}
            elif listed is not None and case.op not in listed:
                rows[i] = {"status": "UNSUPPORTED", "detail": "not in fxopt's op list"}
            elif case.device == "cuda" and not torch.cuda.is_available():
                rows[i] = {"status": "SKIP", "detail": "needs CUDA"}
            else:
                try:  # trace, export, run PyTorch (serial: make_fx is not thread-safe)
                    prepared[i] = (stem,) + prepare_case(case, stem)
                except Exception as e:  # a case PyTorch cannot trace or run is reported, not fatal
                    msg = str(e).splitlines()[0] if str(e) else ""
                    rows[i] = {"status": "ERROR", "detail": f"torch: {type(e).__name__}: {msg}"[:200]}
        futures = {(i, d): pool.submit(run_fxopt, args, prepared[i][0], d) for i in prepared for d in devices}
        runs = {k: f.result() for k, f in futures.items()}
        for i in range(c0, min(len(cases), c0 + chunk)):
            case = cases[i]
            gtext = ""
            if i in prepared:
                stem, onames, want, problems = prepared[i]
                got, err = runs[(i, "cpu")]
                r = finish_case(case, onames, want, got, err)
                if problems:
                    r["export_problems"] = problems
                if "gpu" in devices:
                    ggot, gerr = runs[(i, "gpu")]
                    g = finish_case(case, onames, want, ggot, gerr)
                    if got is not None and ggot is not None:
                        g["bit_identical_to_cpu"] = all(n in ggot and compare(got[n], ggot[n], ("exact",))[0] for n in got)
                    r["gpu"] = g
                    gtext = g["status"] + ("" if "bit_identical_to_cpu" not in g else
                                           "=cpu" if g["bit_identical_to_cpu"] else "!=cpu")
                if args.fixtures and case.fixture and r["status"] == "PASS" and r.get("torch") != "over":
                    write_fixture(case, stem, onames, want, args.fixtures, manifest)
            else:
                r = rows[i]
            print(f"{case.name[:60]:60} {r['status']:11} {r.get('torch', ''):5} {gtext:14} {r.get('detail', '')}", flush=True)
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            out_rows.append({"case": case.name, "op": case.op, **r})
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"torch": torch.__version__, "counts": counts, "rows": out_rows}, f, indent=1, default=str)
        if args.fixtures:   # after every chunk too, so a run stopped by a time limit leaves usable fixtures
            with open(os.path.join(args.fixtures, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=1)
    pool.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    if args.fixtures:
        with open(os.path.join(args.fixtures, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
    ops = {}
    for row in out_rows:
        ops.setdefault(row["op"], set()).add(row["status"])
    print("\nops not passing everywhere (statuses over their cases):")
    for op in sorted(ops):
        if ops[op] != {"PASS"}:
            print(f"  {op:58} {' '.join(sorted(ops[op]))}")
    print("\nsummary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
          f" over {len(out_rows)} cases of {len(ops)} ops; ops with a FAIL/ERROR: " +
          (", ".join(sorted(o for o, st in ops.items() if st & {"FAIL", "ERROR"})) or "none"))
    if args.fixtures:
        print(f"fixtures: {len(manifest['cases'])} cases in {args.fixtures}")
    return 1 if counts.get("FAIL") or counts.get("ERROR") else 0


if __name__ == "__main__":
    sys.exit(main())
