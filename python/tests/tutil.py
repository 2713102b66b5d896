"""Helpers for the tests that need torch: printed code, graph capture, compiling with and without the hook."""
from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile

import torch
import torch.fx

import common  # noqa: F401  (puts python/ on sys.path)
import fxopt
from fxopt import exporter, fxgraph_json, ops

try:
    from torch._inductor.custom_graph_pass import CustomGraphPass
except ImportError:  # pragma: no cover
    CustomGraphPass = object


def configure_inductor(emulate_precision_casts: bool = True) -> None:
    """Every compile really runs (and so runs the post-grad pass): no cached graphs.

    emulate_precision_casts: Inductor normally skips the bf16 rounding between ops it fuses (the
    residual add feeding the next layer's norm is kept in fp32), so the unfused compiled graph does not
    compute what the graph says; the fused op's inputs are real bf16 tensors. With the flag Inductor
    rounds where the graph rounds, and the two compiles are comparable bit for bit.
    """
    import torch._functorch.config
    import torch._inductor.config
    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False
    torch._dynamo.config.cache_size_limit = 64
    torch._inductor.config.emulate_precision_casts = emulate_precision_casts


_FNUZ_PATCHED = False


def allow_fnuz_on_nvidia() -> None:
    """Triton cannot convert to/from float8_e4m3fnuz on NVIDIA GPUs ("fp8e4b8 not supported in this
    architecture"): lower those conversions (only those) to ATen's kernel, in every compile alike."""
    global _FNUZ_PATCHED
    if _FNUZ_PATCHED:
        return
    from torch._inductor import lowering as L
    fnuz = {torch.float8_e4m3fnuz, torch.float8_e5m2fnuz}
    op = torch.ops.prims.convert_element_type.default
    original = L.lowerings[op]
    fallback = L.fallback_handler(op, add_to_fallback_set=False)

    def convert(x, dtype):
        if dtype in fnuz or x.get_dtype() in fnuz:
            return fallback(x, dtype)
        return original(x, dtype)

    L.lowerings[op] = convert
    _FNUZ_PATCHED = True


def printed_code(graph: torch.fx.Graph) -> str:
    """The Python code FX prints for the graph, with the plain code generator (no pytree/boxed prologue)."""
    saved = graph._codegen
    graph._codegen = torch.fx.graph.CodeGen()
    try:
        return graph.python_code(root_module="self").src
    finally:
        graph._codegen = saved


class CapturePass(CustomGraphPass):
    """A post_grad_custom_post_pass that records each post-grad graph's export and printed code."""

    def __init__(self, meta_keys=("val",)):
        self.docs, self.codes, self.graphs = [], [], []
        self.meta_keys = meta_keys

    def __call__(self, graph):
        self.docs.append(fxopt.export(graph, meta_keys=self.meta_keys, producer={
            "source": "torch.compile post_grad_custom_post_pass", "torch": torch.__version__}))
        self.codes.append(printed_code(graph))
        self.graphs.append(graph)

    def uuid(self):
        return None


@contextlib.contextmanager
def post_grad_pass(p):
    import torch._inductor.config as cfg
    with cfg.patch(post_grad_custom_post_pass=p):
        yield p


class Outputs(list):
    """The outputs of compile_and_run, with the compiled module as `.compiled`."""
    compiled = None


def compile_and_run(model, token_counts, variant_inputs):
    """Compiles `model` with the token dim dynamic and runs it at each token count; returns the outputs."""
    torch._dynamo.reset()
    compiled = torch.compile(model)
    outs = Outputs()
    outs.compiled = compiled
    with torch.no_grad():
        for i, n in enumerate(token_counts):
            x, z = variant_inputs(n)
            if i == 0:
                torch._dynamo.mark_dynamic(x, 0)
                torch._dynamo.mark_dynamic(z, 0)
            outs.append(compiled(x, z))
    return outs


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return bool(torch.equal(a.contiguous().view(width), b.contiguous().view(width)))


def differing_fraction(a: torch.Tensor, b: torch.Tensor) -> float:
    width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return float((a.contiguous().view(width) != b.contiguous().view(width)).float().mean())


def fmt_round_trip(doc: dict, binary: str) -> tuple[dict, str, str]:
    """Runs `fxopt fmt` on the document; returns (its document, our text, its text)."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.json"), os.path.join(d, "out.json")
        fxgraph_json.write(doc, src)
        p = subprocess.run([binary, "fmt", src, "-o", dst], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"fxopt fmt exited {p.returncode}: {p.stderr}")
        with open(src, encoding="utf-8") as f:
            ours = f.read()
        with open(dst, encoding="utf-8") as f:
            theirs = f.read()
    return fxgraph_json.loads(theirs), ours, theirs


def round_trip(graph: torch.fx.Graph, *, root=None, meta_keys=("val",), binary=None):
    """export -> (fxopt fmt) -> load; returns a dict of what matched."""
    doc = exporter.export(graph, meta_keys=meta_keys)
    return round_trip_doc(doc, printed_code(graph), root=root, meta_keys=meta_keys, binary=binary)


def round_trip_doc(doc: dict, code: str, *, root=None, meta_keys=("val",), binary=None):
    """(fxopt fmt) -> load of an exported document, compared with the code the graph printed."""
    text = fxgraph_json.dumps(doc)
    fmt_same = None
    if binary is not None:
        doc2, ours, theirs = fmt_round_trip(doc, binary)
        fmt_same = ours == theirs
    else:
        doc2 = doc
    gm = fxopt.load(doc2, root=root, check=True)  # recomputed values must agree with the document
    text2 = fxgraph_json.dumps(exporter.export(gm, meta_keys=meta_keys, producer=doc["producer"]))
    code2 = printed_code(gm.graph)
    return {"code_same": code == code2, "json_same": text == text2,
            "fmt_same": fmt_same, "problems": gm.meta.get("fxopt_load_problems", []),
            "code": (code, code2), "json": (text, text2), "gm": gm}


def fused_count(graph) -> int:
    name = ops.qualified(ops.FUSED_RMS_GATED)
    return sum(1 for n in graph.nodes if n.op == "call_function" and str(n.target) == name)
