#!/usr/bin/env bash
# On the GPU device machine, one command: build fxopt, run every Python test against real PyTorch, then
# the end-to-end torch.compile checks (python/tests/e2e_compile.py). Prints a summary; logs go to
# $OUT (the device tool's output folder; ./device-out elsewhere) as summary.txt, e2e_summary.json and
# logs.tar.gz. Usage (run tool, carry [".deps"]): bash scripts/device_python.sh
# Env: E2E_BUDGET_S (default 240) stops starting e2e variants after that long; E2E_VARIANTS (regex)
#      picks variants; E2E_BINARY=fake uses the Python test double instead of build/fxopt;
#      E2E_PROBE=1 adds the per-layer diagnostics; TESTS_TIMEOUT_S / E2E_TIMEOUT_S (default 900) kill a
#      stage that runs longer (rc 124).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/device-out}
logs=$(mktemp -d /tmp/fxopt-device-XXXX)
mkdir -p "$out"
export PYTHONUNBUFFERED=1
cd "$root"
t0=$(date +%s)

{
  echo "== machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
  python3 -c 'import sys, torch, triton; print("python", sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__, "cuda", torch.version.cuda)'
} > "$logs/machine.txt" 2>&1

( eval "$(bash scripts/device_deps.sh)" \
  && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null \
  && cmake --build build -j16 --target fxopt ) > "$logs/build.log" 2>&1
build_rc=$?
have() { [ -x build/fxopt ] && help=$(build/fxopt "$1" --help 2>&1) && ! grep -q "not implemented" <<<"$help"; }
cmds=""
for c in fmt rewrite match; do have "$c" && cmds="$cmds $c"; done
t_build=$(( $(date +%s) - t0 ))

FXOPT_TEST_OUT="$logs" timeout "${TESTS_TIMEOUT_S:-900}" bash python/run_tests.sh > "$logs/unittest.log" 2>&1
test_rc=$?
t_tests=$(( $(date +%s) - t0 - t_build ))

binary=${E2E_BINARY:-}
if [ -z "$binary" ]; then
  if [[ " $cmds " == *" rewrite "* ]]; then binary=build/fxopt; else binary=fake; fi
fi
timeout "${E2E_TIMEOUT_S:-900}" python3 python/tests/e2e_compile.py --binary "$binary" --out "$logs" \
  --budget-s "${E2E_BUDGET_S:-240}" --variants "${E2E_VARIANTS:-.*}" ${E2E_PROBE:+--probe} > "$logs/e2e.log" 2>&1
e2e_rc=$?
t_e2e=$(( $(date +%s) - t0 - t_build - t_tests ))

{
  cat "$logs/machine.txt"
  echo "== build: rc=$build_rc (${t_build}s); implemented fxopt commands:${cmds:- none}"
  [ $build_rc -ne 0 ] && tail -n 20 "$logs/build.log"
  echo "== unittest: rc=$test_rc (${t_tests}s)"
  grep -E "^(Ran|OK|FAILED)" "$logs/unittest.log"
  grep -E "(ERROR|FAIL):|skipped '" "$logs/unittest.log" | sed 's/^/  /' | head -40
  grep -E "^\[(ops|corpus)\]" "$logs/unittest.log" | head -8
  echo "== e2e (binary: $binary): rc=$e2e_rc (${t_e2e}s)"
  if [ -f "$logs/e2e_summary.json" ]; then python3 python/tests/e2e_compile.py --table "$logs/e2e_summary.json"
  else tail -n 30 "$logs/e2e.log"; fi
} > "$out/summary.txt"
cat "$out/summary.txt"
[ -f "$logs/e2e_summary.json" ] && cp "$logs/e2e_summary.json" "$out/"
tar czf "$out/logs.tar.gz" -C "$logs" .
[ $build_rc -eq 0 ] && [ $test_rc -eq 0 ] && [ $e2e_rc -eq 0 ]
