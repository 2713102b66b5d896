"""A PEP 517/660 build backend for the fxopt Python package that needs nothing but the standard library.

`pip install ./python` must work offline (CI has no PyPI): with `requires = []` pip's isolated build
environment installs nothing, and this module writes the wheel itself (the package's .py files, the
metadata below, an entry point). Editable installs get a .pth file pointing at this directory.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "fxopt"
SUMMARY = "PyTorch interop for fxopt (FX graph optimizer): export/load fxgraph v1, pattern authoring, torch.compile hook"
REQUIRES_PYTHON = ">=3.9"
# torch is the only dependency, and only for the parts that touch FX graphs: the pure-JSON parts
# (fxgraph_json, symexpr, the pattern document builder) work without it.
EXTRAS = {"torch": ["torch>=2.1"]}
SCRIPTS = {"fxopt-pattern": "fxopt.pattern:main"}

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
_PKG = os.path.join(_ROOT, NAME)


def _version() -> str:
    with open(os.path.join(_PKG, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError(f"{_PKG}/__init__.py: no __version__ = \"...\" line")
    return m.group(1)


def _metadata() -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {_version()}", f"Summary: {SUMMARY}",
             f"Requires-Python: {REQUIRES_PYTHON}"]
    for extra, reqs in EXTRAS.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    readme = os.path.join(_ROOT, "README.md")
    body = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _sources():
    """(archive name, path) of every file of the package, sorted (reproducible wheels)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(_PKG):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith((".py", ".json", ".typed")):
                path = os.path.join(dirpath, fn)
                out.append((os.path.relpath(path, _ROOT).replace(os.sep, "/"), path))
    return out


def _dist_info_files(tag: str) -> list[tuple[str, bytes]]:
    di = f"{NAME}-{_version()}.dist-info"
    wheel = f"Wheel-Version: 1.0\nGenerator: fxopt_build\nRoot-Is-Purelib: true\nTag: {tag}\n"
    eps = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in SCRIPTS.items())
    return [(f"{di}/METADATA", _metadata().encode()), (f"{di}/WHEEL", wheel.encode()),
            (f"{di}/entry_points.txt", eps.encode())]


def _write_wheel(wheel_directory: str, files: list[tuple[str, bytes]]) -> str:
    name = f"{NAME}-{_version()}-py3-none-any.whl"
    di = f"{NAME}-{_version()}.dist-info"
    files = files + _dist_info_files("py3-none-any")
    record = io.StringIO()
    for arc, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{arc},sha256={digest},{len(data)}\n")
    record.write(f"{di}/RECORD,,\n")
    files.append((f"{di}/RECORD", record.getvalue().encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return name


# PEP 517 hooks.
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    for arc, path in _sources():
        with open(path, "rb") as f:
            files.append((arc, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel holding only a .pth file that puts this directory on sys.path."""
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}.pth", (_ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        extra = ["pyproject.toml", "README.md", "buildsys/fxopt_build.py"]
        for rel in extra + [arc for arc, _ in _sources()]:
            t.add(os.path.join(_ROOT, rel), arcname=f"{base}/{rel}")
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        t.addfile(info, io.BytesIO(pkg_info))
    return name
