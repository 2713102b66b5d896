#!/usr/bin/env bash
# CLI tests of `rewrite --verify` (regions by default, graph on request) and `patterns --check`.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
L8="$SRC/tests/data/qwen3next_gdn_L8.fxgraph.json"

# Region verification: every match verified, identical regions once, the output written.
run rewrite "$L8" --verify -o "$TMP/l8.json"; expect_rc 0 "verify L8"
expect_err "fxopt rewrite: --verify=regions: every rewrite agrees (8 matches" "verify L8"
expect_err "rms_gated_fp8_group_quant: 8 matches, 1 distinct region," "verify L8 per pattern"
expect_err "max difference 0, 1 also as spelled before normalisation [bit-identical]" "verify L8 bit-identical"
[ "$(grep -c rocm_aiter_fused_rms_gated_fp8_group_quant.default "$TMP/l8.json")" -eq 8 ] || fail "verify L8: output"
run rewrite "$L8" --verify=regions --format json -o "$TMP/l8j.json"; expect_rc 0 "verify json"
python3 - "$TMP/err" <<'PY' || fail "verify --format json: bad structure"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == "regions" and d["ok"] is True and d["failure"] is None, d
p, = d["patterns"]
assert p["pattern"] == "rms_gated_fp8_group_quant" and p["matches"] == 8 and p["distinct_regions"] == 1, p
assert p["trials"] > 0 and p["max_abs_diff"] == 0 and p["tolerance"] is None and p["spelled_regions"] == 1, p
PY
run rewrite "$L1" --verify=graph -o "$TMP/g.json"; expect_rc 0 "verify=graph"
expect_err "outputs bit-identical on the CPU" "verify=graph"
run rewrite "$L1" --verify=bogus; expect_rc 2 "verify=bogus"

# A wrong replacement: exit 1, nothing written, the failing match, binding, seed and a command that reproduces it.
echo keep >"$TMP/keep.json"
run rewrite "$L8" --pattern-file "$SRC/tests/data/wrong_eps.patterns.json" --patterns rms_gated_wrong_eps --verify \
  --verify-seed 3 -o "$TMP/keep.json"
expect_rc 1 "wrong eps"
[ "$(cat "$TMP/keep.json")" = keep ] || fail "wrong eps: output touched"
expect_err "a rewrite differs, output not written" "wrong eps"
expect_err "FAILED: match #1 (rms_gated_wrong_eps at convert_element_type_5, N=s68" "wrong eps match"
expect_err ", seed 3" "wrong eps seed"
expect_err "first difference at [" "wrong eps element"
repro=$(sed -n 's/^  reproduce: //p' "$TMP/err")
[ -n "$repro" ] || fail "wrong eps: no reproduce command"
(cd "$SRC" && eval "${repro/fxopt/\"$FXOPT\"}") 2>"$TMP/repro_err"; rc=$?
[ "$rc" -eq 1 ] || fail "the reproduce command does not fail (rc=$rc)"
grep -q "FAILED: match #1 (rms_gated_wrong_eps" "$TMP/repro_err" || fail "the reproduce command shows another failure"

# --dim pins a symbol; one unknown to the graph is an error.
run rewrite "$L1" --verify --dim s68=7 -o "$TMP/d.json"; expect_rc 0 "--dim"
run rewrite "$L1" --verify --dim s99=7 -o "$TMP/d.json"; expect_rc 1 "--dim unknown"; expect_err "no symbol 's99'" "--dim unknown"

# A graph the executor cannot run, with nothing to rewrite, verifies trivially (both modes).
cat >"$TMP/opaque.json" <<'G'
{"format": "fxgraph", "version": 1, "nodes": [
{"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "float32", "shape": [4], "stride": [1], "device": "cpu"}}},
{"name": "y", "op": "call_function", "target": "mylib.opaque.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {}},
{"name": "output", "op": "output", "target": "output", "args": [[{"node": "y"}]], "kwargs": {}, "meta": {}}
]}
G
run rewrite "$TMP/opaque.json" --verify; expect_rc 0 "nothing matched, regions"
expect_err "every rewrite agrees (0 matches" "nothing matched"
LLAMA="$SRC/tests/data/models/llama.fxgraph.json"  # a real model with nothing to fuse
if [ -f "$LLAMA" ]; then
  run rewrite "$LLAMA" --verify -o "$TMP/llama.json"; expect_rc 0 "llama --verify"
  expect_err "every rewrite agrees (0 matches" "llama --verify"
fi
run rewrite "$TMP/opaque.json" --verify=graph; expect_rc 0 "nothing matched, graph"
expect_err "nothing was rewritten" "nothing matched, graph"

# patterns --check: a built-in passes; JSON; names select; wrong files fail with a counterexample.
run patterns --check rms_gated_fp8_group_quant; expect_rc 0 "check a built-in"  # all of them: patterns_check_repo.sh
expect_out "ok      rms_gated_fp8_group_quant (builtin:" "check a built-in"; expect_out "1 of 1 patterns pass" "check a built-in"
run patterns --check rms_gated_fp8_group_quant_opaque --format json; expect_rc 0 "check json"
python3 -c "import json; d=json.load(open('$TMP/out')); assert d['ok'] and [p['pattern'] for p in d['patterns']] == ['rms_gated_fp8_group_quant_opaque'] and d['patterns'][0]['points'] > 0, d" || fail "check json"
run patterns --check nope; expect_rc 1 "check unknown"; expect_err "unknown pattern 'nope'" "check unknown"
run patterns nope; expect_rc 1 "names without --check"
for f in wrong_operand_swap wrong_eps wrong_eps_variable wrong_group_size wrong_fp8_format wrong_missing_condition; do
  name=$(python3 -c "import json; print(json.load(open('$SRC/tests/data/$f.patterns.json'))['patterns'][0]['name'])")
  run patterns --check "$name" --pattern-file "$SRC/tests/data/$f.patterns.json"; expect_rc 1 "check $f"
  expect_out "FAILED  $name" "check $f"; expect_out "  counterexample: " "check $f"; expect_out "0 of 1 patterns pass" "check $f"
done
finish
