#!/usr/bin/env bash
# On the device machine (PyTorch 2.x), one command: build fxopt, trace the Python pattern library
# (python/patterns/*.py) with fxopt.pattern, and check the generated files against the hand-written built-in
# patterns (python/tests/test_pattern_trace.py: same matches and near misses on every corpus graph and golden
# case, lint clean, the error cases). The generated files land in $OUT/generated/ (commit them as
# python/patterns/generated/*.json); the test log in $OUT/pattern_trace.log.
# Usage (run tool, carry [".deps"]): bash scripts/device_patterns.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/device-out}
mkdir -p "$out/generated"
cd "$root"
( eval "$(bash scripts/device_deps.sh)" \
  && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null \
  && cmake --build build -j16 --target fxopt ) > "$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; exit 1; }
python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__)'
FXOPT_BIN="$root/build/fxopt" FXOPT_PATTERN_OUT="$out/generated" \
  bash python/run_tests.sh -k pattern_trace -k pattern_doc -k pattern_generated > "$out/pattern_trace.log" 2>&1
rc=$?
grep -E "^\[pattern-trace\]|^(Ran|OK|FAILED)|(ERROR|FAIL):|skipped '" "$out/pattern_trace.log" | head -40
if [ $rc -ne 0 ]; then tail -n 80 "$out/pattern_trace.log"; fi
ls -l "$out/generated"
exit $rc
