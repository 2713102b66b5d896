#!/usr/bin/env bash
# Compiles every runtime/hip/*.hip for AMD GPUs with hipcc (device and host code, compile only), so
# the AMD build stays healthy on machines without an AMD GPU. Exit 77 (skip) when hipcc is absent.
# Usage: scripts/check_hip_amd.sh [source-root]
#   FXOPT_AMD_ARCHS: offload targets (default "gfx90a gfx940": MI200, MI300; Debian's HIP 5.2 clang
#   knows gfx940 but not gfx941/gfx942). HIPCC: the compiler. FXOPT_AMD_JOBS: parallel compiles.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
hipcc=${HIPCC:-$(command -v hipcc || true)}
if [[ -z "$hipcc" ]]; then
  echo "hipcc not found: skipping the AMD compile check"
  exit 77
fi
archs=${FXOPT_AMD_ARCHS:-"gfx90a gfx940"}
jobs=${FXOPT_AMD_JOBS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
arch_flags=()
for a in $archs; do arch_flags+=("--offload-arch=$a"); done

compile_one() {  # src -> prints ok/FAIL, log under $out
  local src=$1 name
  name=$(basename "$src" .hip)
  if "$hipcc" -std=c++20 -O2 -ffp-contract=off "${arch_flags[@]}" -DFXOPT_GPU_AMD=1 -DFXOPT_HAVE_GPU=1 \
      -I"$root" -c "$src" -o "$out/$name.o" >"$out/$name.log" 2>&1; then
    echo "ok    runtime/hip/$name.hip ($archs)"
  else
    echo "FAIL  runtime/hip/$name.hip ($archs)"
    sed 's/^/      /' "$out/$name.log" | head -40
    return 1
  fi
}
export -f compile_one
export hipcc out root archs
export arch_flags_str="${arch_flags[*]}"

status=0
# shellcheck disable=SC2016
printf '%s\n' "$root"/runtime/hip/*.hip |
  xargs -P "$jobs" -I{} bash -c 'arch_flags=($arch_flags_str); compile_one "$1"' _ {} || status=1
exit $status
