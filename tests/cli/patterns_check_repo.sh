#!/usr/bin/env bash
# CI: `fxopt patterns --check` over every built-in pattern and every pattern file in the repository
# (the deliberately wrong tests/data/wrong_*.patterns.json must fail instead: tests/cli/verify_regions.sh).
source "$(dirname "$0")/../cli_lib.sh"
run patterns --check; expect_rc 0 "built-in patterns"
echo "$out"
files=$(cd "$SRC" && git ls-files -co --exclude-standard '*.json' 2>/dev/null || find . -name '*.json' -not -path './build*')
for f in $files; do
  case "$f" in */wrong_*.patterns.json|build*/*) continue ;; esac
  grep -q '"format": *"fxopt-patterns"' "$SRC/$f" 2>/dev/null || continue
  case "$f" in patterns/*) continue ;; esac  # built in, checked above
  run patterns --check --pattern-file "$SRC/$f"; expect_rc 0 "pattern file $f"
  echo "$f:"; echo "$out"
done
finish
