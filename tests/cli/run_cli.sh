#!/usr/bin/env bash
# CLI tests of `fxopt run` (summaries, --dim, --inputs/--save-outputs, --compare, bad input) and of
# `fxopt rewrite --verify` (corpus graphs bit-exact, deliberately wrong patterns refused).
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
L8="$SRC/tests/data/qwen3next_gdn_L8.fxgraph.json"
DATA="$SRC/tests/data"

run run "$L1"; expect_rc 0 "run L1"; expect_out "output 0 addmm_default: bfloat16 [16, 4096]" "run L1"; expect_out "s68=16" "run L1"
run run "$L1" --dim s68=3 --seed 7; expect_rc 0 "run --dim"; expect_out "bfloat16 [3, 4096]" "run --dim"
run run "$L8" --dim s68=2; expect_rc 0 "run L8"; expect_out "[2, 4096]" "run L8"

# Bad input: precise errors, exit 1.
run run "$L1" --dim s68; expect_rc 1 "--dim without value"; expect_err "expected SYMBOL=VALUE" "--dim without value"
run run "$L1" --dim s68=abc; expect_rc 1 "--dim not int"; expect_err "'abc' is not an integer" "--dim not int"
run run "$L1" --dim s9=4; expect_rc 1 "--dim unknown"; expect_err "unknown symbol 's9' (the graph's symbols: s68)" "--dim unknown"
run run "$L1" --dim s68=1; expect_rc 1 "--dim range"; expect_err "outside its range [2, inf]" "--dim range"
# --allow-out-of-range widens the range with a warning; --timing on the CPU reports ops and wall time.
run run "$L1" --dim s68=1 --allow-out-of-range; expect_rc 0 "--allow-out-of-range"
expect_err "s68=1 is outside the graph's range [2, inf] (--allow-out-of-range)" "--allow-out-of-range"
expect_out "bfloat16 [1, 4096]" "--allow-out-of-range"
run run "$L1" --dim s68=2 --timing --repeat 2; expect_rc 0 "--timing"
expect_out "device cpu, 42 ops (no kernels: the CPU runs ops directly), wall" "--timing"
expect_out "(median of 2 runs after 1 warm-up)" "--timing"
run run "$L1" --timing --repeat 0; expect_rc 2 "--repeat 0"
run run "$L1" --device tpu; expect_rc 1 "--device tpu"; expect_err "unknown device 'tpu'" "--device tpu"
run run "$L1" --device gpu --dim s68=2
if [ "$rc" -ne 0 ]; then expect_rc 1 "--device gpu"; expect_err "this build has no GPU backend" "--device gpu"; fi
sed 's/aten.rsqrt.default/aten.frobnicate.default/' "$L1" >"$TMP/nokernel.json"
run run "$TMP/nokernel.json"; expect_rc 1 "no kernel"; expect_err "aten.frobnicate.default (node 'rsqrt')" "no kernel"
run run "$TMP/missing.json"; expect_rc 1 "missing graph"; expect_no_crash "missing graph"

# --save-outputs / --inputs: a graph that returns its input round-trips the bytes.
cat >"$TMP/ident.json" <<'JSON'
{"format": "fxgraph", "version": 1, "symbols": {"s0": {"hint": 3, "min": 2, "max": null}}, "nodes": [
 {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "bfloat16", "shape": ["s0", 5], "stride": [5, 1], "device": "cpu"}}},
 {"name": "r", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {}, "meta": {"val": {"dtype": "bfloat16", "shape": ["s0", 5], "stride": [5, 1], "device": "cpu"}}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "x"}, {"node": "r"}]], "kwargs": {}, "meta": {}}]}
JSON
run run "$TMP/ident.json" --seed 3 --save-outputs "$TMP/a.safetensors"; expect_rc 0 "save"; expect_out "output 1 r: bfloat16 [3, 5]" "save"
[ -s "$TMP/a.safetensors" ] || fail "no safetensors written"
"$FXOPT" run "$TMP/ident.json" --seed 3 --save-outputs "$TMP/b.safetensors" >/dev/null
cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" || fail "seeded runs differ"
# Only x is a placeholder: the file with x and r is refused, a file with x alone is read (and binds s0 = 3).
run run "$TMP/ident.json" --inputs "$TMP/a.safetensors"; expect_rc 1 "extra input"; expect_err "tensor 'r' is not a placeholder" "extra input"
cat >"$TMP/x_only.json" <<'JSON'
{"format": "fxgraph", "version": 1, "symbols": {"s0": {"hint": 3, "min": 2, "max": null}}, "nodes": [
 {"name": "x", "op": "placeholder", "target": "x", "args": [], "kwargs": {}, "meta": {"val": {"dtype": "bfloat16", "shape": ["s0", 5], "stride": [5, 1], "device": "cpu"}}},
 {"name": "output", "op": "output", "target": "output", "args": [[{"node": "x"}]], "kwargs": {}, "meta": {}}]}
JSON
"$FXOPT" run "$TMP/x_only.json" --seed 11 --dim s0=4 --save-outputs "$TMP/x.safetensors" >/dev/null
run run "$TMP/ident.json" --inputs "$TMP/x.safetensors" --save-outputs "$TMP/c.safetensors"; expect_rc 0 "--inputs"
expect_out "s0=4" "--inputs binds the symbol"; expect_out "output 0 x: bfloat16 [4, 5]" "--inputs"
"$FXOPT" run "$TMP/x_only.json" --inputs "$TMP/c.safetensors" 2>/dev/null && fail "--inputs with r should fail"
echo "garbage" >"$TMP/bad.safetensors"
run run "$TMP/ident.json" --inputs "$TMP/bad.safetensors"; expect_rc 1 "bad safetensors"; expect_err "bad.safetensors:" "bad safetensors"

# --compare: the hand-fused graph is bit-identical; a wrong eps is reported, within a loose tolerance it passes.
run run "$L1" --compare "$DATA/qwen3next_gdn_L1.fused.fxgraph.json"; expect_rc 0 "compare fused"
expect_out "mismatches 0/65536 OK" "compare fused"; expect_out "OK: all outputs within tolerance" "compare fused"
run run "$L1" --compare "$DATA/qwen3next_gdn_L1.fused_wrong_eps.fxgraph.json"; expect_rc 1 "compare wrong eps"
expect_out "MISMATCH" "compare wrong eps"; expect_out "first mismatch at element" "compare wrong eps"
run run "$L1" --compare "$DATA/qwen3next_gdn_L1.fused_wrong_eps.fxgraph.json" --atol 0.25; expect_rc 0 "compare atol"
run run "$L1" --compare "$DATA/qwen3next_gdn_L1.fused_group64.fxgraph.json"; expect_rc 1 "compare group64"
expect_err "the op gives tensor float32 [32, 32] but meta.val says float32 [16, 32]" "compare group64"

# rewrite --verify: the corpus graphs rewrite bit-exactly; the result runs and compares equal.
run rewrite "$L1" --verify -o "$TMP/l1.json"; expect_rc 0 "rewrite --verify L1"; expect_err "bit-identical" "rewrite --verify L1"
grep -q rocm_aiter_fused_rms_gated_fp8_group_quant "$TMP/l1.json" || fail "L1 was not rewritten"
run run "$L1" --compare "$TMP/l1.json" --dim s68=5 --seed 9; expect_rc 0 "compare rewritten L1"
run rewrite "$L8" --verify -o "$TMP/l8.json"; expect_rc 0 "rewrite --verify L8"
[ "$(grep -c rocm_aiter_fused_rms_gated_fp8_group_quant "$TMP/l8.json")" -eq 8 ] || fail "L8: expected 8 fused ops"
# Deliberately wrong replacements are refused and nothing is written (by region verification, the default,
# and by the whole-graph run).
for w in wrong_group_size:rms_gated_wrong_group wrong_eps:rms_gated_wrong_eps; do
  f=${w%%:*}; n=${w##*:}
  run rewrite "$L1" --pattern-file "$DATA/$f.patterns.json" --patterns "$n" --verify -o "$TMP/$f.json"
  expect_rc 1 "verify $f"; expect_err "a rewrite differs, output not written" "verify $f"
  [ -e "$TMP/$f.json" ] && fail "verify $f: output written"
  run rewrite "$L1" --pattern-file "$DATA/$f.patterns.json" --patterns "$n" --verify=graph -o "$TMP/$f.json"
  expect_rc 1 "verify=graph $f"; expect_err "--verify failed, output not written" "verify=graph $f"
  [ -e "$TMP/$f.json" ] && fail "verify=graph $f: output written"
done
run rewrite "$L1" --pattern-file "$DATA/wrong_eps.patterns.json" --patterns rms_gated_wrong_eps --verify=graph -o "$TMP/x.json"
expect_err "MISMATCH" "verify wrong eps reports the mismatch"
finish
