#!/usr/bin/env bash
# Installs fxopt like a user would and uses the installed copies: `cmake --install BUILD --prefix P` (binary,
# pattern files, docs) and `pip install ./python` into a fresh virtual environment, offline.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR. Exit 77 (skipped) when no virtual environment can be made.
set -u
BUILD=${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}
SRC=$(cd "${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)
BUILD=$(cd "$BUILD" && pwd)
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. cmake --install into a fresh prefix.
P="$TMP/prefix"
if ! cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1; then
  cat "$TMP/install.log"; echo "FAIL: cmake --install"; exit 1
fi
[ -x "$P/bin/fxopt" ] || fail "no $P/bin/fxopt"
"$P/bin/fxopt" --help >"$TMP/help" 2>&1 || fail "installed fxopt --help exits $?"
grep -q "rewrite" "$TMP/help" || fail "installed fxopt --help does not list rewrite"
for f in "$SRC"/patterns/*.json; do
  cmp -s "$f" "$P/share/fxopt/patterns/$(basename "$f")" || fail "pattern file $(basename "$f") not installed"
done
[ -f "$P/share/doc/fxopt/patterns.md" ] || fail "docs/patterns.md not installed"
[ -f "$P/share/doc/fxopt/README.md" ] || fail "README.md not installed"
# The installed binary works away from the source tree (its built-in patterns are embedded).
(cd "$TMP" && "$P/bin/fxopt" match "$SRC/examples/qwen3next_gdn_L1.fxgraph.json" --expect-matches 1 >/dev/null) ||
  fail "installed fxopt match on the L1 example"

# 2. pip install ./python into a fresh venv, with no package index (CI is offline).
if ! "$PY" -m venv "$TMP/venv" >"$TMP/venv.log" 2>&1 || [ ! -x "$TMP/venv/bin/pip" ]; then
  cat "$TMP/venv.log"; echo "SKIP: cannot make a virtual environment with pip ($PY -m venv; Debian: python3-venv)"
  [ "$failures" -eq 0 ] || exit 1
  exit 77
fi
if ! (cd "$TMP" && PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$TMP/venv/bin/pip" install "$SRC/python") \
    >"$TMP/pip.log" 2>&1; then
  cat "$TMP/pip.log"; echo "FAIL: pip install ./python"; exit 1
fi
# The installed package (not the source tree) is imported; it finds the installed binary on PATH.
(cd "$TMP" && env -u FXOPT_BIN -u PYTHONPATH PATH="$P/bin:$PATH" EXPECT_BIN="$P/bin/fxopt" "$TMP/venv/bin/python" - <<'PYEOF'
import os, subprocess, sys
import fxopt, fxopt.fxgraph_json, fxopt.symexpr, fxopt.binary, fxopt.pattern_doc
here = os.path.realpath(fxopt.__file__)
assert here.startswith(os.path.realpath(sys.prefix)), f"imported {here}, not the installed package"
cmd = fxopt.binary.find_binary()
assert cmd == [os.environ["EXPECT_BIN"]], cmd
out = subprocess.run(cmd + ["--help"], capture_output=True, text=True, check=True).stdout
assert "rewrite" in out
# The torch-free half of pattern authoring works from the installed package.
doc = fxopt.pattern_doc.document([], "empty")
assert doc["format"] == "fxopt-patterns"
print("installed fxopt", fxopt.__version__, "at", here, "binary", cmd[0])
PYEOF
) || fail "import fxopt from the venv / find the installed binary"
[ -x "$TMP/venv/bin/fxopt-pattern" ] || fail "the fxopt-pattern command was not installed"
"$TMP/venv/bin/fxopt-pattern" --help >/dev/null 2>&1 || fail "fxopt-pattern --help"

if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
