"""The fxgraph v1 document as text: the canonical writer and a checking reader (no torch needed)."""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from typing import Any

FORMAT = "fxgraph"
VERSION = 1
# Top-level keys in the order the writer emits them; any other key is kept, after `symbols`.
_KNOWN_TOP = ("format", "version", "producer", "symbols", "nodes")


class FxgraphFormatError(ValueError):
    """The document is not fxgraph v1 (wrong format, newer version, missing keys)."""


def _check_finite(value: Any, path: str) -> None:
    # JSON has no inf/nan: fxgraph spells them {"float": "inf"}; a raw one is a writer bug.
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FxgraphFormatError(f"{path}: non-finite float {value!r} must be written as "
                                     '{"float": "inf" | "-inf" | "nan"}')
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]")


def dumps(doc: dict) -> str:
    """The canonical text: fixed key order, one node per line (json.dumps defaults per value).

    Byte-identical to the corpus files and to `fxopt fmt`, so graphs compare with a text diff.
    """
    check(doc)
    _check_finite(doc, "$")
    lines = ["{"]
    lines.append(f' "format": {json.dumps(doc["format"])},')
    lines.append(f' "version": {json.dumps(doc["version"])},')
    lines.append(f' "producer": {json.dumps(doc.get("producer", {}))},')
    lines.append(f' "symbols": {json.dumps(doc.get("symbols", {}))},')
    for key, value in doc.items():
        if key not in _KNOWN_TOP:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    nodes = doc["nodes"]
    if nodes:
        lines.append(' "nodes": [')
        lines.append(",\n".join("  " + json.dumps(n) for n in nodes))
        lines.append(" ]")
    else:
        lines.append(' "nodes": []')
    lines.append("}")
    return "\n".join(lines) + "\n"


def check(doc: Any, source: str = "<document>") -> dict:
    """Refuses anything but fxgraph v1 with a message naming the problem; returns the document."""
    if not isinstance(doc, dict):
        raise FxgraphFormatError(f"{source}: top level is {type(doc).__name__}, not an object")
    if doc.get("format") != FORMAT:
        raise FxgraphFormatError(f"{source}: format is {doc.get('format')!r}, not {FORMAT!r}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FxgraphFormatError(f"{source}: version {version!r} is not an integer")
    if version > VERSION:
        raise FxgraphFormatError(f"{source}: version {version} is newer than this reader ({VERSION})")
    if version < 1:
        raise FxgraphFormatError(f"{source}: version {version} is not a valid fxgraph version")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise FxgraphFormatError(f"{source}: 'nodes' is missing or not an array")
    for i, n in enumerate(nodes):
        for key in ("name", "op", "target", "args", "kwargs"):
            if not isinstance(n, dict) or key not in n:
                raise FxgraphFormatError(f"{source}: nodes[{i}]: missing '{key}'")
    return doc


def loads(text: str, source: str = "<text>") -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FxgraphFormatError(f"{source}:{e.lineno}:{e.colno}: malformed JSON: {e.msg}") from None
    except RecursionError:  # Python's parser recurses per nesting level (fxopt's reader refuses past 256 levels)
        raise FxgraphFormatError(f"{source}: malformed JSON: nested too deeply for Python's JSON parser") from None
    return check(doc, source)


def read(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as f:
        return loads(f.read(), os.fspath(path))


def write(doc: dict, path: str | os.PathLike) -> None:
    """Writes atomically: the file appears only complete."""
    text = dumps(doc)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def encode_float(value: float) -> Any:
    """A float as fxgraph writes it: a JSON number (Python repr), or {"float": ...} when not finite."""
    value = float(value)
    if math.isnan(value):
        return {"float": "nan"}
    if math.isinf(value):
        return {"float": "inf" if value > 0 else "-inf"}
    return value


def decode_float(obj: dict) -> float:
    text = obj["float"]
    if text not in ("inf", "-inf", "nan"):
        raise FxgraphFormatError(f'{{"float": {text!r}}}: expected "inf", "-inf" or "nan"')
    return float(text)


def _called_ops(n: dict):
    """The targets a call_function node calls: its own, plus the operator an auto_functionalized(_v2) node runs
    (its first argument, {"op": "_C.x.default"})."""
    yield str(n.get("target", ""))
    if str(n.get("target", "")).startswith("higher_order.auto_functionalized"):
        args = n.get("args") or []
        if args and isinstance(args[0], dict) and isinstance(args[0].get("op"), str):
            yield args[0]["op"]


def target_counts(doc: dict, prefix="") -> Counter:
    """How many call_function nodes call each target starting with `prefix` (a string or a tuple of them); the
    operator inside an auto_functionalized node counts as called too."""
    return Counter(t for n in doc["nodes"] if n.get("op") == "call_function"
                   for t in _called_ops(n) if t.startswith(prefix))


def fused_gain(before: dict, after: dict, prefix="vllm.") -> int:
    """How many more calls `after` has than `before` of the ops under `prefix`, counted op by op (a fused
    op replacing an opaque quant op of the same namespace is a gain, although the total stays the same)."""
    b, a = target_counts(before, prefix), target_counts(after, prefix)
    return sum(max(0, a[t] - b[t]) for t in a)
