#!/usr/bin/env bash
# CLI tests of rewrite, match and patterns: corpus counts, stdin, -o atomicity, targets, JSON reports, errors.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
L8="$SRC/tests/data/qwen3next_gdn_L8.fxgraph.json"
GOLD="$SRC/tests/golden"

# rewrite: L1 -> 1 fused op, L8 -> 8, from a file or stdin, to stdout or -o.
run rewrite "$L1"; expect_rc 0 "rewrite L1"
[ "$(grep -c 'vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default' <<<"$out")" -eq 1 ] || fail "rewrite L1: expected 1 fused op"
expect_out '"fxopt_from": {"pattern": "rms_gated_fp8_group_quant", "match": 1}' "rewrite L1 provenance"
"$FXOPT" rewrite - <"$L8" >"$TMP/l8.json"; rc=$?; expect_rc 0 "rewrite L8 stdin"
[ "$(grep -c 'rocm_aiter_fused_rms_gated_fp8_group_quant.default' "$TMP/l8.json")" -eq 8 ] || fail "rewrite L8: expected 8 fused ops"
run verify "$TMP/l8.json"; expect_rc 0 "rewritten L8 verifies"
run rewrite "$L1" -o "$TMP/o.json" --stats; expect_rc 0 "rewrite -o --stats"
expect_err "rms_gated_fp8_group_quant" "--stats"; expect_err "candidates" "--stats"; expect_err "normalize:" "--stats"
[ -s "$TMP/o.json" ] || fail "rewrite -o wrote nothing"
run rewrite "$L1" --print-after-change; expect_rc 0 "--print-after-change"
expect_err "// ----- after normalize canonicalize_silu" "--print-after-change"; expect_err "// ----- after rewrite iteration 1" "--print-after-change"

# Targets: none is a graceful no-op with the reason; gfx942 lacks e4m3fn; bad target is an input error.
run rewrite "$L1" --target none; expect_rc 0 "target none"
expect_err "skipped pattern rms_gated_fp8_group_quant: target none has no op" "target none"
grep -q rocm_aiter_fused <<<"$out" && fail "target none fused something"
run match "$L1" --target gfx942; expect_rc 0 "gfx942"; expect_out "target gfx942 has no float8_e4m3fn kernels" "gfx942"
run match "$GOLD/gated_e4m3fnuz.input.json" --target gfx942 --expect-matches 1; expect_rc 0 "gfx942 fnuz"
run rewrite "$L1" --target xpu; expect_rc 1 "bad target"; expect_err "fxopt: error: unknown target 'xpu'" "bad target"

# match: bindings, near misses with both values, JSON arrays, --expect-matches for CI, --explain.
run match "$L1"; expect_rc 0 "match L1"
expect_out "match #1: rms_gated_fp8_group_quant at convert_element_type_5: N=s68, H=32, D=128, G=128, eps=1e-06" "match L1"
run match "$L8" --expect-matches 8; expect_rc 0 "match L8 8"
run match "$L8" --expect-matches 7; expect_rc 1 "match L8 7"; expect_err "expected 7 matches, found 8" "expect-matches"
run match "$GOLD/neg_group64.input.json"; expect_rc 0 "match group64"
expect_out "groups (view_5): shape[2]: 64 ≠ G=128" "group64 reason"
run match "$GOLD/neg_group64.input.json" --format json; expect_rc 0 "match json"
python3 - "$TMP/out" <<'PY' || fail "match --format json: bad structure"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["matches"] == [] and len(d["near_misses"]) == 1, d
n = d["near_misses"][0]
assert n["pattern"] == "rms_gated_fp8_group_quant" and n["root"] == "convert_element_type_5", n
assert "64 ≠ G=128" in n["reason"], n
PY
run match "$L1" --format json; python3 -c "import json,sys; d=json.load(open('$TMP/out')); m=d['matches'][0]; assert m['bindings']['N']=='s68' and m['root'] and m['pattern']" || fail "match json L1"
run match "$L1" --explain convert_element_type_5 --explain relu; expect_rc 0 "explain"
expect_out "explain: rms_gated_fp8_group_quant at convert_element_type_5: matches" "explain match"
expect_out "explain: relu (aten.relu.default): no pattern is rooted at this op" "explain relu"
run match "$L1" --explain nosuchnode; expect_rc 1 "explain unknown"; expect_err "no node named 'nosuchnode'" "explain unknown"
run match - <"$L1"; expect_rc 0 "match stdin"
"$FXOPT" match - <"$L1" >"$TMP/m.txt"; grep -q "1 match," "$TMP/m.txt" || fail "match stdin output"

# Normalisation options are forwarded.
run match "$L1" --no-normalize; expect_rc 0 "no-normalize"; expect_out "canonicalize_clamp" "no-normalize hint"
run match "$L1" --passes fold_reshape_chains,canonicalize_silu,canonicalize_amax,canonicalize_clamp --expect-matches 1; expect_rc 0 "--passes"
run match "$L1" --passes bogus; expect_rc 1 "bad pass"; expect_err "unknown normalisation pass 'bogus'" "bad pass"

# Pattern selection and pattern files.
run match "$L1" --patterns rmsnorm_fp8_dynamic_quant --expect-matches 0; expect_rc 0 "--patterns"
run match "$L1" --patterns nope; expect_rc 1 "unknown pattern"; expect_err "unknown pattern 'nope'" "unknown pattern"
# The built-in variants are built for the normalised graph: an unbuilt one (L1 has no AITER quant op) is still
# a known name, and a bad pattern file is reported before the graph is read.
run match "$L1" --patterns "rms_norm_group_fp8_quant@aiter/rocm_aiter+rocm_aiter"; expect_rc 0 "unbuilt variant selected"
expect_out "0 matches, 0 near misses" "unbuilt variant selected"
echo '{"format": "fxopt-patterns", "version": 1, "patterns": 3}' >"$TMP/badpat.json"
run rewrite "$TMP/no_such_graph.json" --pattern-file "$TMP/badpat.json"; expect_rc 1 "bad pattern file first"
expect_err "badpat.json" "bad pattern file first"
cat >"$TMP/relu.json" <<'PJ'
{"format": "fxopt-patterns", "version": 1, "patterns": [{
  "name": "relu_view", "fused_op": "mylib.relu_heads.default",
  "vars": {"N": "sym", "H": "int", "D": "int"},
  "inputs": {"x": "bfloat16 [N, H*D]"},
  "nodes": [{"name": "r", "op": "aten.relu.default", "args": ["%x"]},
            {"name": "v", "op": "aten.reshape.default", "args": ["%r", ["$N*H", "$D"]]}],
  "outputs": {"out": "v"},
  "replacement": {"nodes": [{"name": "relu_heads", "op": "mylib.relu_heads.default", "args": ["%x", "$D"], "val": "bfloat16 [N*H, D]"}],
                  "outputs": {"out": "relu_heads"}}}]}
PJ
run match "$L1" --pattern-file "$TMP/relu.json" --patterns relu_view --expect-matches 1; expect_rc 0 "pattern file"
expect_out "r (relu): has a user outside the region: addmm_default" "pattern file near miss"
expect_out "N=s68, H=32, D=128" "pattern file bindings"
echo '{"format": "fxopt-patterns", "version": 1, "patterns": [{"name": "x"' >"$TMP/badp.json"
echo keep >"$TMP/keep.json"
run rewrite "$L1" --pattern-file "$TMP/badp.json" -o "$TMP/keep.json"; expect_rc 1 "bad pattern file"
expect_err "fxopt: error: $TMP/badp.json: malformed JSON at line 2" "bad pattern file"
[ "$(cat "$TMP/keep.json")" = keep ] || fail "output touched after a bad pattern file"
run rewrite "$TMP/missing.json" -o "$TMP/keep.json"; expect_rc 1 "missing graph"
[ "$(cat "$TMP/keep.json")" = keep ] || fail "output touched after a bad graph"

# patterns: conditions, fused ops, availability per target.
run patterns; expect_rc 0 "patterns"
expect_out "rms_gated_fp8_group_quant" "patterns"; expect_out "D % G == 0" "patterns"; expect_out "FMAX == fp8_max(FP8)" "patterns"
expect_out "fused op: vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default -- available on target rocm-aiter" "patterns"
run patterns --target none; expect_out "MISSING on target none" "patterns none"
run patterns --target gfx942; expect_out "FP8 on this target: float8_e4m3fnuz" "patterns gfx942"
run patterns --format json; expect_rc 0 "patterns json"
python3 -c "import json; d=json.load(open('$TMP/out')); assert len(d['patterns'])>=3 and all('conditions' in p and 'fused_op' in p for p in d['patterns'])" || fail "patterns json"
run patterns --pattern-file "$TMP/relu.json"; expect_out "relu_view" "patterns --pattern-file"
finish
