#!/usr/bin/env bash
# Fuzzes fxopt's input readers under ASan/UBSan for a time budget: scripts/fuzz.sh [SECONDS] (default 600,
# shared by the four entry points graph, symint, pattern, safetensors). Builds build-fuzz/ (BUILD_DIR to
# change), runs tests/fuzz/fuzz_main.cpp's structure-aware mutator, and saves every input that crashed,
# hung, raised a sanitizer report or an unexpected exception to tests/fuzz/crashers/ (replayed by CI:
# tests/fuzz/replay.sh). Prints the cases run per entry point and the outcomes.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-600}
BUILD=${BUILD_DIR:-build-fuzz}
CRASHERS=tests/fuzz/crashers
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.ccache}
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
san="-O1 -g1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=None "${launcher[@]}" \
  -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fxopt_fuzz
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$CRASHERS" "$BUILD/fuzz-logs"
per_entry=$(( SECONDS_TOTAL / 4 ))
printf '%-12s %9s %9s %9s %9s %8s\n' entry cases accepted refused findings crashes
for entry in graph symint pattern safetensors; do
  cases=0 accepted=0 refused=0 findings=0 crashes=0
  end=$(( $(date +%s) + per_entry ))
  while [ "$(date +%s)" -lt "$end" ]; do
    left=$(( end - $(date +%s) )); seed=$RANDOM$RANDOM
    log="$BUILD/fuzz-logs/$entry-$seed.log"
    set +e
    "$BUILD/fxopt_fuzz" --entry "$entry" --seconds "$left" --seed "$seed" --save "$CRASHERS" --current "$work" >"$log" 2>&1
    rc=$?
    set -e
    if line=$(grep -E "^$entry +[0-9]+ cases" "$log"); then
      read -r c a r f < <(sed -E 's/[^0-9]+/ /g' <<<"$line")
      cases=$((cases + c)); accepted=$((accepted + a)); refused=$((refused + r)); findings=$((findings + f))
    fi
    if [ "$rc" -gt 1 ] || ! grep -q "^seed " "$log"; then  # crashed, hung (SIGALRM) or a sanitizer report
      crashes=$((crashes + 1)); cases=$((cases + 1))
      for f in "$work"/current.*; do
        [ -e "$f" ] || continue
        name="$entry-crash-$(sha1sum "$f" | cut -c1-12).${f##*.}"
        cp "$f" "$CRASHERS/$name"; cp "$log" "$BUILD/fuzz-logs/$name.log"
        echo "CRASH ($entry, rc $rc): $CRASHERS/$name; log $BUILD/fuzz-logs/$name.log" >&2
      done
    fi
  done
  printf '%-12s %9d %9d %9d %9d %8d\n' "$entry" "$cases" "$accepted" "$refused" "$findings" "$crashes"
done
