#!/usr/bin/env bash
# One command for the GPU device machine: unpack the carried Debian deps (.deps/), configure with
# -DFXOPT_GPU=nvidia, build the GPU targets with all cores, run the GPU kernel tests and the fused
# kernel benchmark, then benchmark 2 (the L1 graph before/after rewrite through `fxopt run --timing`);
# logs go to $OUT (or ./gpu_out).
# Usage (device tool, carry [".deps"]): bash scripts/gpu_all.sh [--no-bench] [--no-tests] [--no-graph]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/gpu_out}
mkdir -p "$out"
run_tests=1 run_bench=1 run_graph=1
for a in "$@"; do
  case $a in
    --no-bench) run_bench=0 ;;
    --no-tests) run_tests=0 ;;
    --no-graph) run_graph=0 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
export PYTHONUNBUFFERED=1
eval "$(bash "$root/scripts/device_deps.sh")"
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
build=${FXOPT_GPU_BUILD:-/tmp/fxopt-build-gpu}

{
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv
  "$CUDACXX" --version | tail -2
  cmake --version | head -1
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

status=0
echo "== configure + build"
if ! { cmake -S "$root" -B "$build" -G Ninja -DFXOPT_GPU=nvidia -DCMAKE_BUILD_TYPE=Release &&
       ninja -C "$build" -j"$(nproc)" fxopt_gpu_tests fxopt_gpu_capi fxopt; } >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "BUILD FAILED"
  exit 1
fi
grep -iE "warning|spill" "$out/build.log" | head -20

# Instruction mix of the fused kernel's main variants (SASS), for the kernel notes.
if command -v cuobjdump >/dev/null; then
  cuobjdump -sass "$build/libfxopt_gpu.a" 2>/dev/null | awk '
    /Function :/ { f = $3; keep = (f ~ /rows_kernel.*RowModeE0ELi(8ELi2|16ELi1)ELNS_3num9Fp8FormatE0E/) }
    keep && /\/\*[0-9a-f]+\*\// { n[f]++; op = $2; if (op ~ /^@/) op = $3; sub(/\..*/, "", op); h[f, op]++ }
    END { for (f in n) { print f, n[f], "instructions"; for (k in h) { split(k, p, SUBSEP); if (p[1] == f) print "  ", p[2], h[k] } } }
  ' >"$out/sass_summary.txt" 2>&1 || true
fi

if [[ $run_tests == 1 ]]; then
  echo "== GPU kernel tests"
  timeout 120 "$build/fxopt_gpu_tests" -d >"$out/gpu_tests.log" 2>&1 || status=1
  grep -E "MESSAGE|device:|fast divide|hardware|ERROR|FAILED|failed|test cases|assertions|Status|seconds" \
    "$out/gpu_tests.log" | grep -v "^$" | head -60
fi

if [[ $run_graph == 1 ]]; then
  echo "== benchmark 2: L1 graph before/after rewrite (fxopt run --timing)"
  mkdir -p "$out/l1"
  OUT_DIR="$out/l1" timeout ${GRAPH_TIMEOUT:-150} bash "$root/bench/gpu/bench_l1_graph.sh" "$build/fxopt" gpu >"$out/l1_graph.log" 2>&1 || status=1
  tail -16 "$out/l1_graph.log"
  # fewer files back: fold the per-run logs into one
  (cd "$out/l1" && for f in *.log; do echo "=== $f"; cat "$f"; done) >"$out/l1_runs.txt" 2>&1
  rm -rf "$out/l1"
fi
if [[ $run_bench == 1 ]]; then
  echo "== benchmark: fused kernel vs torch.compile"
  timeout ${BENCH_TIMEOUT:-270} python3 "$root/bench/gpu/bench_fused.py" --lib "$build/libfxopt_gpu_capi.so" --iters ${BENCH_ITERS:-100} \
    --json "$out/bench.json" >"$out/bench.log" 2>&1 || status=1
  tail -25 "$out/bench.log"
fi
exit $status
