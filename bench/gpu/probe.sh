#!/usr/bin/env bash
# Kernel investigation on the device machine: build the GPU library and tests, run the tests, dump
# the SASS of the fused kernel's main variants, read Nsight Compute counters for fxopt's kernel and
# torch.compile's at small and large N, then time the variants (bench_fused.py). Logs go to $OUT.
# Usage (device tool, carry [".deps"]): bash bench/gpu/probe.sh [--no-ncu] [--no-tests] [--variants a,b] [--tokens ...]
#   [--ncu-tokens ...] [--ncu-variants ...] [--stall-tokens ...] [--stall-variants ...]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu_out}
mkdir -p "$out"
ncu_on=1 tests_on=1 variants="" tokens="1,4,32,128,1024,8192" ncu_tokens="1,8192" ncu_variants="table16,table8_s2"
stall_tokens=1 stall_variants="direct16"
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-ncu) ncu_on=0 ;;
    --no-tests) tests_on=0 ;;
    --variants) variants=$2; shift ;;
    --tokens) tokens=$2; shift ;;
    --ncu-tokens) ncu_tokens=$2; shift ;;
    --ncu-variants) ncu_variants=$2; shift ;;
    --stall-tokens) stall_tokens=$2; shift ;;
    --stall-variants) stall_variants=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export PYTHONUNBUFFERED=1
eval "$(bash "$root/scripts/device_deps.sh")"
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
build=/tmp/fxopt-build-gpu
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader
echo "== build"
if ! { cmake -S "$root" -B "$build" -G Ninja -DFXOPT_GPU=nvidia -DCMAKE_BUILD_TYPE=Release &&
       ninja -C "$build" -j"$(nproc)" fxopt_gpu_tests fxopt_gpu_capi; } >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log"; echo "BUILD FAILED"; exit 1
fi
grep -iE "warning|spill" "$out/build.log" | head -10
if [[ $tests_on == 1 ]]; then
  echo "== GPU kernel tests"
  timeout 150 "$build/fxopt_gpu_tests" >"$out/gpu_tests.log" 2>&1; echo "tests rc=$?"
  grep -E "ERROR|FAILED|test cases|assertions" "$out/gpu_tests.log" | head -20
fi
cuobjdump -sass "$build/libfxopt_gpu.a" 2>/dev/null | awk '
  /Function :/ { keep = ($3 ~ /rows_kernel.*RowModeE0ELi(8ELi2|16ELi1)ELNS_3num9Fp8FormatE0E/) }
  keep' >"$out/sass.txt"
grep -c "" "$out/sass.txt"
if [[ $ncu_on == 1 ]]; then
  echo "== ncu"
  timeout 240 ncu --target-processes all --kernel-name regex:"rows_kernel|triton" \
    --section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats \
    --metrics smsp__inst_executed.sum,smsp__sass_thread_inst_executed_op_integer_pred_on.sum,smsp__sass_thread_inst_executed_op_fp32_pred_on.sum \
    python3 "$root/bench/gpu/bench_fused.py" --lib "$build/libfxopt_gpu_capi.so" --ncu --tokens "$ncu_tokens" \
    --variants "$ncu_variants" >"$out/ncu.txt" 2>&1; echo "ncu rc=$?"
  grep -E "rows_kernel|triton_|Duration|Executed Instructions|inst_executed.sum|Memory Throughput|DRAM Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|No Eligible" "$out/ncu.txt" | cut -c1-150 | head -120
  echo "== ncu stall reasons (N=$stall_tokens: $stall_variants)"
  timeout 120 ncu --target-processes all --kernel-name regex:"rows_kernel|triton" \
    --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active.ratio,smsp__inst_executed.sum,gpu__time_duration.sum" \
    python3 "$root/bench/gpu/bench_fused.py" --lib "$build/libfxopt_gpu_capi.so" --ncu --tokens "$stall_tokens" \
    --variants "$stall_variants" >"$out/ncu_stalls.txt" 2>&1; echo "ncu stalls rc=$?"
  awk '/rows_kernel|triton_/ { print substr($0, 1, 90) } /stalled|inst_executed|duration/ && $NF + 0 > 0.05 { print "   " $1, $NF }' \
    "$out/ncu_stalls.txt" | head -90
fi
echo "== bench"
timeout 300 python3 "$root/bench/gpu/bench_fused.py" --lib "$build/libfxopt_gpu_capi.so" --iters 60 --tokens "$tokens" \
  ${variants:+--variants "$variants"} --json "$out/bench.json" >"$out/bench.log" 2>&1; echo "bench rc=$?"
grep -vE "^\s*$" "$out/bench.log" | tail -20
