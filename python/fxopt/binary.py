"""Finding the fxopt binary (torch-free): an explicit path, $FXOPT_BIN, a source checkout's build/fxopt, PATH."""
from __future__ import annotations

import os
import shutil
import sys
from typing import Optional, Sequence, Union

_HERE = os.path.dirname(os.path.abspath(__file__))


class BinaryNotFound(RuntimeError):
    """No fxopt binary was given and none was found."""


def find_binary(binary: Union[str, Sequence[str], None] = None) -> list[str]:
    """The command prefix that runs fxopt.

    In order: `binary` (a path or a command prefix), $FXOPT_BIN, build/fxopt of the source checkout this
    package lives in (only when it is one: an installed package never picks up a stray build/), `fxopt` on
    PATH (`cmake --install build --prefix P` puts it in P/bin), then the bin/ of the running Python's prefix
    (a virtual environment that is not activated).
    """
    if binary is not None:
        return [os.fspath(binary)] if isinstance(binary, (str, os.PathLike)) else list(binary)
    env = os.environ.get("FXOPT_BIN")
    if env:
        return [env]
    repo = os.path.normpath(os.path.join(_HERE, "..", ".."))
    repo_build = os.path.join(repo, "build", "fxopt")
    if os.path.exists(os.path.join(repo, "CMakeLists.txt")) and os.access(repo_build, os.X_OK):
        return [repo_build]
    found = shutil.which("fxopt")
    if found:
        return [found]
    prefix_bin = os.path.join(sys.prefix, "bin", "fxopt")
    if os.access(prefix_bin, os.X_OK):
        return [prefix_bin]
    raise BinaryNotFound("fxopt binary not found: pass binary=..., set FXOPT_BIN, build build/fxopt, "
                         "or install it on PATH (cmake --install build --prefix P; P/bin on PATH)")


def optional_binary() -> Optional[list[str]]:
    """find_binary(), or None when there is none."""
    try:
        return find_binary()
    except BinaryNotFound:
        return None
