#!/usr/bin/env bash
# CLI tests of the foundation commands: --help/--version, verify, fmt (stdin/stdout, -o, atomic output), stats.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"

run --help;            expect_rc 0 "--help"; expect_out "verify" "--help"; expect_out "rewrite" "--help"
run --version;         expect_rc 0 "--version"; expect_out "fxopt " "--version"
for c in verify fmt stats rewrite match patterns diff run; do
  run "$c" --help; expect_rc 0 "$c --help"; expect_out "Usage" "$c --help"
done
run;                   expect_rc 2 "no subcommand"
run frobnicate;        expect_rc 2 "unknown subcommand"

run verify "$L1";      expect_rc 0 "verify L1"; expect_out "OK: " "verify L1"; expect_out "49 nodes" "verify L1"
run verify "$L1" --format json; expect_rc 0 "verify json"; expect_out '"ok": true' "verify json"

# fmt: canonical input comes back byte for byte, from a file or stdin.
run fmt "$L1";         expect_rc 0 "fmt"; cmp -s "$TMP/out" "$L1" || fail "fmt output differs from canonical input"
"$FXOPT" fmt - <"$L1" >"$TMP/stdin.json"; cmp -s "$TMP/stdin.json" "$L1" || fail "fmt - (stdin) differs"
run fmt "$L1" -o "$TMP/o.json"; expect_rc 0 "fmt -o"; cmp -s "$TMP/o.json" "$L1" || fail "fmt -o differs"

# Bad input: precise error, exit 1, and an existing output file is left untouched.
echo '{"format": "fxgraph", "version": 1, "nodes": [' >"$TMP/bad.json"
echo "keep" >"$TMP/keep.json"
run fmt "$TMP/bad.json" -o "$TMP/keep.json"; expect_rc 1 "fmt bad"; expect_err "bad.json: malformed JSON at line" "fmt bad"
[ "$(cat "$TMP/keep.json")" = "keep" ] || fail "output file was touched on error"
ls "$TMP" | grep -q '\.tmp\.' && fail "temporary file left behind"
run verify "$TMP/missing.json"; expect_rc 1 "missing file"; expect_err "cannot open" "missing file"
run verify "$SRC/tests/data/bad_symbol.fxgraph.json" 2>/dev/null; expect_rc 1 "verify undeclared"; expect_out "is not declared" "verify undeclared"
run fmt "$L1" -o /nonexistent-dir/x.json; expect_rc 1 "unwritable output"; expect_err "cannot create output file" "unwritable"

run stats "$L1";       expect_rc 0 "stats"; expect_out "49 nodes" "stats"; expect_out "aten.reshape.default" "stats"
run stats "$L1" --format json; expect_rc 0 "stats json"; expect_out '"nodes": 49' "stats json"
run stats "$L1" --format yaml; expect_rc 2 "stats bad format"
finish
