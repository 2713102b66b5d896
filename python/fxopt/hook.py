"""The torch.compile hook: Inductor's post_grad_custom_post_pass running `fxopt rewrite` on the post-grad graph.

    import torch, fxopt
    torch._inductor.config.post_grad_custom_post_pass = fxopt.post_grad_pass("build/fxopt")

Each call exports the graph, runs the binary, and swaps the rewritten graph in place when it gained fused
ops (swap="when-fused", the default; swap="always" also takes rewrites that only normalised). A failure
(the binary missing or exiting non-zero, an unreadable result, an op Inductor cannot lower at this stage)
raises FxoptPassError — compilation stops with the message — unless on_error="warn" asks to keep the
graph as it was. dry_run=True only runs `fxopt match --format json` and logs the match report.
verify=True runs region verification (`fxopt rewrite --verify=regions`: every matched region and its
replacement run on the CPU over a trial scheme) before the graph is swapped in; a disagreement is an
error like any other (the binary exits 1 and writes nothing).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections import Counter
from typing import Optional, Sequence, Union

import torch

from . import binary as _binary, exporter, fxgraph_json, importer, ops

log = logging.getLogger("fxopt")

try:  # Inductor caches compiled graphs keyed by the pass's uuid() when it is a CustomGraphPass.
    from torch._inductor.custom_graph_pass import CustomGraphPass as _PassBase
except ImportError:  # pragma: no cover - older torch
    _PassBase = object

_HERE = os.path.dirname(os.path.abspath(__file__))


class FxoptPassError(RuntimeError):
    """fxopt could not rewrite the graph (and the pass was not asked to fall back)."""


def find_binary(binary: Union[str, Sequence[str], None] = None) -> list[str]:
    """The command prefix that runs fxopt: the argument, $FXOPT_BIN, the checkout's build/fxopt, or PATH
    (an installed fxopt); see fxopt.binary.find_binary."""
    try:
        return _binary.find_binary(binary)
    except _binary.BinaryNotFound as e:
        raise FxoptPassError(str(e)) from None


def count_targets(graph: torch.fx.Graph, prefix=ops.FUSED_PREFIXES) -> dict[str, int]:
    """How many call_function nodes call each op whose fxgraph target starts with `prefix` (a string or a tuple);
    the operator an auto_functionalized node runs (`_C.rms_norm_per_block_quant.default`) counts too."""
    counts: Counter = Counter()
    for n in graph.nodes:
        if n.op != "call_function":
            continue
        called = [n.target]
        if isinstance(n.target, torch._ops.HigherOrderOperator) and n.args:
            called.append(n.args[0])
        for t in called:
            if isinstance(t, torch._ops.OpOverload) and str(t).startswith(prefix):
                counts[str(t)] += 1
    return dict(counts)


def _check_lowerable(before: dict, after: dict) -> None:
    """Refuses ops the rewrite introduced that Inductor cannot lower after its decompositions ran (such an
    op, e.g. aten.silu.default, is decomposed before post-grad passes, so it has no lowering of its own)."""
    try:
        from torch._inductor.decomposition import decompositions
        from torch._inductor.lowering import lowerings
    except ImportError:  # pragma: no cover
        return
    known = {n["target"] for n in before["nodes"]}
    bad = []
    for n in after["nodes"]:
        if n["op"] != "call_function" or n["target"] in known:
            continue
        try:
            op = exporter.resolve_target(n["target"])
        except LookupError:
            continue  # rebuild() reports unknown targets
        if isinstance(op, torch._ops.OpOverload) and op in decompositions and op not in lowerings:
            bad.append(f"{n['name']} = {n['target']}")
    if bad:
        raise FxoptPassError("fxopt rewrite introduced op(s) Inductor cannot lower after decomposition: "
                             + ", ".join(bad[:10]) + " (a normalisation left in the output?)")


class PostGradPass(_PassBase):
    """A post_grad_custom_post_pass running `fxopt rewrite` (or `fxopt match` in dry-run mode).

    binary: path or command prefix (e.g. [python, script]); default: find_binary().
    target: passed as `--target` to `fxopt rewrite` when set.
    dry_run: only run `fxopt match GRAPH --format json` and log the report; the graph is left alone.
    verify: pass `--verify=regions` to `fxopt rewrite`: each rewrite is checked on the CPU before the graph is
      swapped in (a failed check raises FxoptPassError, or warns and keeps the graph with on_error="warn").
    swap: "when-fused" (default): take the rewritten graph only if it calls some vllm op more often than
      before (a rewrite that matched nothing leaves Inductor's graph as it was); "always": take it regardless.
    on_error: "raise" (default) or "warn" (keep the graph unchanged and warn).
    keep_dir: keep each call's input/output documents there (default $FXOPT_KEEP_DIR, else temporary).
    extra_args: appended to the rewrite/match command line.
    Each call appends a record to `self.history` (counts, timings, the report in dry-run mode).
    """

    def __init__(self, binary=None, *, target: Optional[str] = None, dry_run: bool = False, verify: bool = False,
                 swap: str = "when-fused", on_error: str = "raise", keep_dir: Optional[str] = None,
                 extra_args: Sequence[str] = (), timeout: float = 300.0, meta_keys=exporter.DEFAULT_META_KEYS):
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', not {on_error!r}")
        if swap not in ("when-fused", "always"):
            raise ValueError(f"swap must be 'when-fused' or 'always', not {swap!r}")
        self.swap = swap
        self.command = find_binary(binary)
        self.target = target
        self.dry_run = dry_run
        self.verify = verify
        self.on_error = on_error
        self.keep_dir = keep_dir if keep_dir is not None else os.environ.get("FXOPT_KEEP_DIR")
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.meta_keys = tuple(meta_keys)
        self.history: list[dict] = []
        self._calls = 0
        self._uuid: Optional[str] = None
        ops.register()

    # Inductor's FX graph cache key: our sources, the binary's bytes and the settings.
    def uuid(self):
        if self._uuid is None:
            h = hashlib.sha256()
            for name in sorted(os.listdir(_HERE)):
                if name.endswith(".py"):
                    with open(os.path.join(_HERE, name), "rb") as f:
                        h.update(name.encode() + f.read())
            for part in self.command:
                h.update(str(part).encode())
                if os.path.isfile(part):
                    with open(part, "rb") as f:
                        h.update(hashlib.sha256(f.read()).digest())
            h.update(repr((self.target, self.dry_run, self.verify, self.swap, self.on_error, self.extra_args, ops.get_impl(),
                           str(ops.fp8_dtype()))).encode())
            self._uuid = h.hexdigest()
        return self._uuid

    def __call__(self, graph: torch.fx.Graph) -> None:
        self._calls += 1
        record = {"call": self._calls, "dry_run": self.dry_run, "nodes_before": len(graph.nodes)}
        self.history.append(record)
        t0 = time.perf_counter()
        workdir = self._workdir()
        try:
            problems: list[str] = []
            producer = {"source": "torch.compile post_grad_custom_post_pass", "torch": torch.__version__}
            doc = exporter.export(graph, producer=producer, meta_keys=self.meta_keys, strict=False,
                                  problems=problems)
            if problems:
                record["export_problems"] = problems
                log.warning("fxopt: export reported %d problem(s): %s", len(problems), "; ".join(problems[:5]))
            src = os.path.join(workdir, f"graph{self._calls}.fxgraph.json")
            fxgraph_json.write(doc, src)
            record["export_s"] = time.perf_counter() - t0
            if self.dry_run:
                self._match(src, record)
                return
            dst = os.path.join(workdir, f"graph{self._calls}.rewritten.fxgraph.json")
            cmd = [*self.command, "rewrite", src, "-o", dst]
            if self.target:
                cmd += ["--target", self.target]
            if self.verify:
                cmd += ["--verify=regions"]
            record["verify"] = self.verify
            cmd += self.extra_args
            t1 = time.perf_counter()
            proc = self._run(cmd)
            record["rewrite_s"] = time.perf_counter() - t1
            record["stderr"] = proc.stderr
            if proc.returncode != 0:
                raise FxoptPassError(f"`{' '.join(map(str, cmd))}` exited {proc.returncode}: "
                                     f"{proc.stderr.strip() or proc.stdout.strip()}")
            if not os.path.exists(dst):
                raise FxoptPassError(f"`{' '.join(map(str, cmd))}` exited 0 but wrote no {dst}")
            out = fxgraph_json.read(dst)
            gained = fxgraph_json.fused_gain(doc, out, ops.FUSED_PREFIXES)
            record["fused_gained"] = gained
            if gained <= 0 and self.swap == "when-fused":
                record["swapped"] = False
                record["fused"] = count_targets(graph)
                record["total_s"] = time.perf_counter() - t0
                log.info("fxopt: graph %d: nothing fused; Inductor's graph kept as it was", self._calls)
                return
            _check_lowerable(doc, out)
            record["swapped"] = True
            t2 = time.perf_counter()
            stats = importer.rebuild(graph, out)
            record["rebuild_s"] = time.perf_counter() - t2
            record.update({k: v for k, v in stats.items() if k != "problems"})
            if stats["problems"]:
                record["rebuild_problems"] = stats["problems"]
                log.warning("fxopt: rebuild reported: %s", "; ".join(stats["problems"][:5]))
            record["nodes_after"] = len(graph.nodes)
            record["fused"] = count_targets(graph)
            record["total_s"] = time.perf_counter() - t0
            log.info("fxopt: rewrote graph %d: %d -> %d nodes, fused ops %s (%.3f s)", self._calls,
                     record["nodes_before"], record["nodes_after"], record["fused"], record["total_s"])
        except Exception as e:  # noqa: BLE001 - surfaced below, or deliberately downgraded
            record["error"] = f"{type(e).__name__}: {e}"
            if self.on_error == "raise":
                if isinstance(e, FxoptPassError):
                    raise
                raise FxoptPassError(f"fxopt post-grad pass failed: {type(e).__name__}: {e}") from e
            log.warning("fxopt: graph %d left unchanged: %s", self._calls, record["error"])
            warnings.warn(f"fxopt: graph left unchanged: {record['error']}", stacklevel=2)
        finally:
            if self.keep_dir is None:
                shutil.rmtree(workdir, ignore_errors=True)

    def _match(self, src: str, record: dict) -> None:
        cmd = [*self.command, "match", src, "--format", "json", *self.extra_args]
        proc = self._run(cmd)
        record["stderr"] = proc.stderr
        if proc.returncode != 0:
            raise FxoptPassError(f"`{' '.join(map(str, cmd))}` exited {proc.returncode}: "
                                 f"{proc.stderr.strip() or proc.stdout.strip()}")
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise FxoptPassError(f"`fxopt match` printed no JSON report: {e}") from None
        record["report"] = report
        record["matches"] = len(report.get("matches", []))
        record["near_misses"] = len(report.get("near_misses", []))
        log.info("fxopt (dry run): graph %d: %d match(es), %d near miss(es)", self._calls,
                 record["matches"], record["near_misses"])
        for m in report.get("near_misses", []):
            log.info("fxopt (dry run): near miss: %s", json.dumps(m))

    def _run(self, cmd):
        try:
            return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError as e:
            raise FxoptPassError(f"cannot run fxopt ({cmd[0]}): {e}") from None
        except subprocess.TimeoutExpired:
            raise FxoptPassError(f"`{' '.join(map(str, cmd))}` took longer than {self.timeout} s") from None

    def _workdir(self) -> str:
        if self.keep_dir is not None:
            os.makedirs(self.keep_dir, exist_ok=True)
            return self.keep_dir
        return tempfile.mkdtemp(prefix="fxopt-")


def post_grad_pass(binary=None, **kwargs) -> PostGradPass:
    """A PostGradPass for `torch._inductor.config.post_grad_custom_post_pass`."""
    return PostGradPass(binary, **kwargs)


def install(binary=None, **kwargs) -> PostGradPass:
    """Creates a PostGradPass and sets it as Inductor's post_grad_custom_post_pass; returns it."""
    p = PostGradPass(binary, **kwargs)
    torch._inductor.config.post_grad_custom_post_pass = p
    return p
