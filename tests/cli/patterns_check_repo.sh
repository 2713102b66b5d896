#!/usr/bin/env bash
# CI: `fxopt patterns --check` over every built-in pattern and every pattern file in the repository, except
# the deliberately wrong test inputs (tests/data/wrong_*.patterns.json must fail: tests/cli/verify_regions.sh;
# tests/data/lint/, tests/data/reliability/ and tests/fuzz/ hold deliberately bad inputs of other tests).
source "$(dirname "$0")/../cli_lib.sh"
run patterns --check; expect_rc 0 "built-in patterns"
echo "$out"
files=$(cd "$SRC" && git ls-files -co --exclude-standard '*.json' 2>/dev/null || find . -name '*.json' -not -path './build*')
for f in $files; do
  case "$f" in */wrong_*.patterns.json|tests/data/lint/*|tests/data/reliability/*|tests/fuzz/*|build*/*) continue ;; esac
  grep -q '"format": *"fxopt-patterns"' "$SRC/$f" 2>/dev/null || continue
  case "$f" in patterns/*) continue ;; esac  # built in, checked above
  names=$(python3 -c "import json, sys; print(' '.join(p['name'] for p in json.load(open(sys.argv[1]))['patterns']))" "$SRC/$f")
  # shellcheck disable=SC2086 # one argument per pattern name
  run patterns --check --pattern-file "$SRC/$f" $names; expect_rc 0 "pattern file $f"
  echo "$f:"; echo "$out"
done
finish
