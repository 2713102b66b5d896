#!/usr/bin/env bash
# Runs the Python package's tests with plain unittest; tests needing PyTorch 2.x (or CUDA, or an fxopt
# binary with `rewrite`) skip when it is absent. Extra arguments go to unittest (e.g. -k pattern).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" -m unittest discover -s "$here/tests" -t "$here/tests" -p "test_*.py" -v "$@"
