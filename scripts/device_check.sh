#!/usr/bin/env bash
# On the GPU machine, one command for everything that needs PyTorch or a GPU: build (CUDA through the HIP shim),
# GPU kernel tests, real model graphs run on CPU and GPU against PyTorch, op-by-op checks, Python tests.
# Usage (device tool, carry [".deps"]): bash scripts/device_check.sh [STAGE...]   (default: all stages)
# Stages: build gpu_tests models ops python e2e bench (python also traces python/patterns into $OUT/generated). Logs and a summary go to $OUT (./device-out).
# FXOPT_GPU_BUILD: the GPU build to use (default /tmp/fxopt-build-gpu, made by the build stage); a build made on
# this machine with nvcc (scripts/gpu_prebuild.sh, carried as .gpubin) saves the device the build.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/device-out}
mkdir -p "$out"
logs=$(mktemp -d /tmp/fxopt-check-XXXX)
stages=${*:-build gpu_tests models ops python e2e bench}
export PYTHONUNBUFFERED=1 PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
eval "$(bash "$root/scripts/device_deps.sh")"
export CUDACXX=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
build=${FXOPT_GPU_BUILD:-/tmp/fxopt-build-gpu}
bin=$build/fxopt
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
has() { [[ " $stages " == *" $1 "* ]]; }
t0=$(date +%s)
stamp() { echo "$(( $(date +%s) - t0 ))s"; }

if has build; then
  note "== build ($(stamp))"
  if ! { cmake -S "$root" -B "$build" -G Ninja -DFXOPT_GPU=nvidia -DCMAKE_BUILD_TYPE=Release &&
         ninja -C "$build" -j"$(nproc)"; } >"$logs/build.log" 2>&1; then
    tail -40 "$logs/build.log" | tee -a "$summary"
    note "BUILD FAILED"
  fi
fi

if has gpu_tests; then
  note "== GPU tests ($(stamp))"
  for t in "$build"/fxopt_gpu_tests "$build"/fxopt_backend_ops; do
    [ -x "$t" ] || continue
    timeout 240 "$t" >"$logs/$(basename "$t").log" 2>&1; rc=$?
    note "$(basename "$t"): rc=$rc $(grep -E "test cases|assertions" "$logs/$(basename "$t").log" | tr '\n' ' ')"
    grep -E "ERROR|FAILED" "$logs/$(basename "$t").log" | head -20 | tee -a "$summary"
  done
fi

if has models; then
  note "== real model graphs: fxopt run (cpu, gpu) vs PyTorch eager ($(stamp))"
  md=$logs/models
  mkdir -p "$md"
  timeout 300 python3 "$root/python/tools/capture_models.py" --out "$md" --from-graphs "$root/tests/data/models" \
    >"$logs/models_io.log" 2>&1 || note "capture --from-graphs rc=$?"
  for g in "$root"/tests/data/models/*.fxgraph.json; do
    s=$(basename "$g" .fxgraph.json)
    [ -f "$md/$s.expected.safetensors" ] || { note "$s: no expected outputs (see models_io.log)"; continue; }
    for dev in cpu gpu; do
      t1=$(date +%s%N)
      if timeout 120 "$bin" run "$g" --inputs "$md/$s.inputs.safetensors" --device $dev \
           --save-outputs "$md/$s.$dev.safetensors" >"$md/$s.$dev.log" 2>&1; then
        ms=$(( ($(date +%s%N) - t1) / 1000000 ))
        res=$(python3 "$root/python/tools/compare_outputs.py" "$md/$s.expected.safetensors" "$md/$s.$dev.safetensors" \
                --max-rel-l2 0.05 | tr '\n' ' ')
        note "$s [$dev, ${ms} ms]: $res"
      else
        note "$s [$dev]: fxopt run failed: $(tail -3 "$md/$s.$dev.log" | tr '\n' ' ' | cut -c1-400)"
      fi
    done
    if [ -f "$md/$s.cpu.safetensors" ] && [ -f "$md/$s.gpu.safetensors" ]; then
      note "  $s gpu vs cpu: $(python3 "$root/python/tools/compare_outputs.py" "$md/$s.cpu.safetensors" "$md/$s.gpu.safetensors" --max-rel-l2 0 | tr '\n' ' ')"
    fi
  done
  tar czf "$out/models_logs.tgz" -C "$md" --exclude="*.safetensors" . 2>/dev/null
fi

if has ops && [ -f "$root/python/tools/check_ops.py" ]; then
  note "== op-by-op vs PyTorch ($(stamp))"
  timeout ${OPS_TIMEOUT_S:-300} python3 "$root/python/tools/check_ops.py" --binary "$bin" ${OPS_GPU---gpu} --time-limit "${OPS_LIMIT_S:-240}" --out "$logs/ops" \
    --fixtures "$logs/ops/fixtures" >"$logs/check_ops.log" 2>&1
  note "check_ops rc=$?"; tail -60 "$logs/check_ops.log" >>"$summary"
  [ -d "$logs/ops" ] && tar czf "$out/ops.tgz" -C "$logs/ops" .
fi

if has python; then
  note "== python tests ($(stamp))"
  mkdir -p "$out/generated"
  FXOPT_BIN="$bin" FXOPT_PATTERN_OUT="$out/generated" timeout 300 bash "$root/python/run_tests.sh" >"$logs/python.log" 2>&1
  note "python tests rc=$?: $(grep -E "^(Ran|OK|FAILED)" "$logs/python.log" | tr '\n' ' ')"
  grep -E "^(ERROR|FAIL):" "$logs/python.log" | head -20 | tee -a "$summary"
fi

if has e2e; then
  for s in "$root"/python/tests/e2e_*.py; do
    note "== $(basename "$s") ($(stamp))"
    timeout 300 python3 "$s" --binary "$bin" --out "$logs" >"$logs/$(basename "$s").log" 2>&1
    note "rc=$?"; tail -30 "$logs/$(basename "$s").log" >>"$summary"
  done
  note "== e2e_rms_norm_quant.py ($(stamp))"  # 18 variants in about 200 s on an H200
  timeout 330 python3 "$root/python/tools/e2e_rms_norm_quant.py" --binary "$bin" --out "$logs/e2e_rms_norm_quant" \
    --budget-s 300 >"$logs/e2e_rms_norm_quant.log" 2>&1
  note "rc=$?"; tail -22 "$logs/e2e_rms_norm_quant.log" >>"$summary"
  note "== e2e_silu_mul_quant.py ($(stamp))"  # 10 MLP variants of the SiLU-and-mul family (not yet run)
  timeout 300 python3 "$root/python/tools/e2e_silu_mul_quant.py" --binary "$bin" --out "$logs/e2e_silu_mul_quant" \
    --budget-s 270 >"$logs/e2e_silu_mul_quant.log" 2>&1
  note "rc=$?"; tail -14 "$logs/e2e_silu_mul_quant.log" >>"$summary"
  note "== e2e_qk_norm_rope.py ($(stamp))"  # 14 Qwen3 attention fronts of the QK-norm + RoPE family (not yet run)
  timeout 300 python3 "$root/python/tools/e2e_qk_norm_rope.py" --binary "$bin" --out "$logs/e2e_qk_norm_rope" \
    --budget-s 270 >"$logs/e2e_qk_norm_rope.log" 2>&1
  note "rc=$?"; tail -15 "$logs/e2e_qk_norm_rope.log" >>"$summary"
fi

if has bench; then
  note "== bench_bridge.py ($(stamp))"  # export/load/rebuild us per node; the profile at 4k nodes in $OUT
  OUT="$out" timeout 240 python3 "$root/bench/python/bench_bridge.py" --profile 4000 --budget 150 \
    >"$logs/bench_bridge.log" 2>&1
  note "rc=$?"; tail -8 "$logs/bench_bridge.log" >>"$summary"
  if [ -f "$build/libfxopt_gpu_capi.so" ]; then
    note "== bench_rms_norm_quant.py ($(stamp))"
    timeout 120 python3 "$root/bench/gpu/bench_rms_norm_quant.py" --lib "$build/libfxopt_gpu_capi.so" \
      --json "$out/bench_rms_norm_quant.json" >"$logs/bench_rms_norm_quant.log" 2>&1
    note "rc=$?"; tail -20 "$logs/bench_rms_norm_quant.log" >>"$summary"
  fi
fi

note "== done ($(stamp))"
tar czf "$out/logs.tgz" -C "$logs" --exclude=models --exclude=ops . 2>/dev/null
