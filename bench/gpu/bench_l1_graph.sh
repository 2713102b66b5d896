#!/usr/bin/env bash
# Benchmark 2: the corpus L1 graph (qwen3next_gdn_L1, one GatedDeltaNet output path + its FP8 output
# projection) run by `fxopt run --timing` before and after `fxopt rewrite`, at s68 in {1, 128, 8192}:
# ops run, kernels launched, device time (an event pair around each kernel launch, summed, synchronised;
# the medians of --repeat runs after a warm-up), wall time of a whole run (inputs uploaded, outputs
# downloaded), the same excluding the addmm (the output projection, common to both graphs), and the
# device allocations (hipMalloc) of the last timed run (0: the caching allocator served them all).
# Each pair is also checked bit-identical with --compare.
#
# s68 = 1: the corpus graph declares s68 >= 2 (Dynamo marks every dynamic dim with min 2), so
# `fxopt run --dim s68=1` is refused; this script passes --allow-out-of-range, which widens the
# range for the run and prints a warning. The ops are the same; a single token is what decode runs.
#
# Usage: bench/gpu/bench_l1_graph.sh FXOPT_BINARY [DEVICE=gpu] [S68 list, default "1 128 8192"]
#   env: REPEAT (default 5), GRAPH (default shared/corpus/qwen3next_gdn_L1.fxgraph.json or
#   ../shared/corpus/...), OUT_DIR (the rewritten graph and logs; default a temp dir).
set -euo pipefail
fxopt=${1:?usage: bench_l1_graph.sh FXOPT_BINARY [DEVICE] [S68 LIST]}
device=${2:-gpu}
sizes=${3:-"1 128 8192"}
root=$(cd "$(dirname "$0")/../.." && pwd)
repeat=${REPEAT:-5}
graph=${GRAPH:-}
if [[ -z "$graph" ]]; then
  for g in "$root/shared/corpus/qwen3next_gdn_L1.fxgraph.json" "$root/../shared/corpus/qwen3next_gdn_L1.fxgraph.json" \
           "$root/examples/qwen3next_gdn_L1.fxgraph.json"; do
    [[ -f "$g" ]] && { graph=$g; break; }
  done
fi
[[ -f "$graph" ]] || { echo "no L1 graph found (set GRAPH)" >&2; exit 2; }
out=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$out"
rewritten="$out/l1_rewritten.fxgraph.json"
"$fxopt" rewrite "$graph" -o "$rewritten" >"$out/rewrite.log" 2>&1 || { cat "$out/rewrite.log"; exit 1; }
echo "graph: $graph; rewritten: $(grep -c '"op"' "$rewritten") nodes vs $(grep -c '"op"' "$graph")"

# field LOG KEY: the number after KEY on the timing line
field() { sed -n "s/.*$2 \([0-9.]*\).*/\1/p" "$1" | head -1; }
addmm_us() { awk '$1 == "addmm_default" { print $2 }' "$1" | head -1; }

rows=()
for s in $sizes; do
  for which in original rewritten; do
    g=$graph; [[ $which == rewritten ]] && g=$rewritten
    log="$out/run_${which}_s68_${s}.log"
    if ! "$fxopt" run "$g" --device "$device" --dim "s68=$s" --allow-out-of-range --timing --profile \
         --repeat "$repeat" >"$log" 2>&1; then
      echo "run failed: $which s68=$s"; tail -5 "$log"; rows+=("| $s | $which | failed | | | | | | |"); continue
    fi
    ops=$(sed -n 's/.*, \([0-9]*\) ops.*/\1/p' "$log" | head -1)
    if [[ $device == gpu ]]; then
      kern=$(sed -n 's/.* \([0-9]*\) kernels launched.*/\1/p' "$log" | head -1)
      gpu=$(field "$log" "gpu time")
      mm=$(addmm_us "$log"); mm=${mm:-0}
      rest=$(awk -v a="$gpu" -v b="$mm" 'BEGIN { printf "%.1f", a - b }')
    else
      kern="-"; gpu="-"; mm="-"; rest="-"
    fi
    mallocs=$(sed -n 's/.*: \([0-9]*\) device allocations.*/\1/p' "$log" | head -1); mallocs=${mallocs:--}
    wall=$(field "$log" "wall")
    rows+=("| $s | $which | $ops | $kern | $gpu | $mm | $rest | $wall | $mallocs |")
  done
  cmp_log="$out/compare_s68_${s}.log"
  if "$fxopt" run "$graph" --compare "$rewritten" --device "$device" --dim "s68=$s" --allow-out-of-range >"$cmp_log" 2>&1; then
    rows+=("| $s | bit-identical | yes | | | | | | |")
  else
    rows+=("| $s | bit-identical | **NO** (see $(basename "$cmp_log")) | | | | | | |")
  fi
done

echo
echo "device: $device; medians of $repeat runs after a warm-up; times in us (gpu) and ms (wall)"
echo "| s68 | graph | ops | kernels | GPU time (us) | of which addmm (us) | GPU time without addmm (us) | wall (ms) | hipMalloc per run |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
