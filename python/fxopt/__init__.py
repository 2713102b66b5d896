"""fxopt's PyTorch interop: FX graphs to and from fxgraph v1, reference vLLM fused ops, a torch.compile hook.

    fxopt.export(graph) -> dict          fxopt.dump(graph, path)       fxopt.load(doc_or_path) -> GraphModule
    fxopt.rebuild(graph, doc)            fxopt.register_ops()          fxopt.post_grad_pass(binary)
    fxopt.pattern.trace(name, search, replacement, example_inputs, ...)   (patterns written in Python)

`fxgraph_json`, `symexpr`, `pattern_doc` and `binary` work without torch; the rest is imported on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "export": ("exporter", "export"),
    "dump": ("exporter", "dump"),
    "dumps": ("exporter", "dumps"),
    "ExportError": ("exporter", "ExportError"),
    "load": ("importer", "load"),
    "rebuild": ("importer", "rebuild"),
    "LoadError": ("importer", "LoadError"),
    "register_ops": ("ops", "register"),
    "set_fp8_dtype": ("ops", "set_fp8_dtype"),
    "post_grad_pass": ("hook", "post_grad_pass"),
    "install": ("hook", "install"),
    "PostGradPass": ("hook", "PostGradPass"),
    "FxoptPassError": ("hook", "FxoptPassError"),
}

__all__ = sorted(_LAZY)


_SUBMODULES = ("pattern", "pattern_doc", "binary", "fxgraph_json", "symexpr")


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
