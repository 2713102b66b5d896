"""Shared helpers for the Python tests: where the corpus and the fxopt binary are, whether torch is there."""
from __future__ import annotations

import glob
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

HAVE_TORCH = importlib.util.find_spec("torch") is not None
FAKE_FXOPT = [sys.executable, os.path.join(HERE, "fake_fxopt.py")]


def torch_ok() -> bool:
    """torch 2.x with torch.library custom ops (CI has no PyTorch 2.x: everything needing it skips)."""
    if not HAVE_TORCH:
        return False
    import torch
    return int(torch.__version__.split(".")[0]) >= 2 and hasattr(torch.library, "register_fake")


def cuda_ok() -> bool:
    if not torch_ok():
        return False
    import torch
    return torch.cuda.is_available()


def corpus_files() -> list[str]:
    """The real graphs: $FXOPT_CORPUS_DIR, the repo's examples/, and ../shared/corpus beside the checkout."""
    dirs = [os.environ.get("FXOPT_CORPUS_DIR"), os.path.join(REPO, "examples"),
            os.path.join(os.path.dirname(REPO), "shared", "corpus"), os.path.join(REPO, "shared", "corpus")]
    seen, out = set(), []
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        for f in sorted(glob.glob(os.path.join(d, "*.fxgraph.json"))):
            base = os.path.basename(f)
            if base not in seen:
                seen.add(base)
                out.append(f)
    return out


def fxopt_binary():
    """The real fxopt binary ($FXOPT_BIN or build/fxopt), or None."""
    path = os.environ.get("FXOPT_BIN") or os.path.join(REPO, "build", "fxopt")
    return path if os.access(path, os.X_OK) else None


def fxopt_has(command: str) -> bool:
    """Whether the real binary implements `command` (the placeholders exit 1 with 'not implemented')."""
    import subprocess
    b = fxopt_binary()
    if b is None:
        return False
    p = subprocess.run([b, command, "--help"], capture_output=True, text=True)
    return p.returncode == 0 and "not implemented" not in (p.stdout + p.stderr)
