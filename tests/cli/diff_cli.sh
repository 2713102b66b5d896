#!/usr/bin/env bash
# CLI tests of `fxopt diff`: diff(1) exit codes (0 equal, 1 different, 2 trouble), stdin, formats, --stat, meta options.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
REW="$SRC/tests/diff/qwen3next_gdn_L1.rewritten.fxgraph.json"

# Equal: exit 0 and, like diff(1), nothing on stdout. Renamed nodes are still equal.
run diff "$L1" "$L1";        expect_rc 0 "diff self"; [ -z "$out" ] || fail "diff self: output not empty"
sed 's/"mul_35"/"renamed_node"/g; s/"rsqrt"/"rs"/g' "$L1" >"$TMP/renamed.json"
run diff "$L1" "$TMP/renamed.json"; expect_rc 0 "diff renamed"
run diff "$L1" - <"$TMP/renamed.json"; expect_rc 0 "diff stdin"
"$FXOPT" fmt "$L1" | "$FXOPT" diff "$L1" - >/dev/null; rc=$?; out=""; err=""; expect_rc 0 "pipe into diff"

# One changed float: exit 1, a unified-diff style report naming the node and the argument.
sed 's/1e-06]/1e-05]/' "$L1" >"$TMP/eps.json"
run diff "$L1" "$TMP/eps.json"; expect_rc 1 "diff eps"
expect_out "--- $L1" "diff eps"; expect_out "+++ $TMP/eps.json" "diff eps"
expect_out "~ %add_32 = aten.add.Tensor(%mean, 1e-05)" "diff eps"; expect_out "args[1] (float): 1e-06 -> 1e-05" "diff eps"
expect_out "0 removed, 0 added, 1 changed" "diff eps"
run diff "$TMP/eps.json" - <"$L1"; expect_rc 1 "diff eps stdin"; expect_out "+++ <stdin>" "diff eps stdin"

# The rewritten graph: exactly the fused region, the added nodes with the pattern that created them.
run diff "$L1" "$REW";       expect_rc 1 "diff rewritten"
expect_out "28 removed, 4 added, 0 changed" "diff rewritten"
expect_out "+ %rocm_aiter_fused_rms_gated_fp8_group_quant = vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default(%view_1, %arg4_1, None, %view_3, 1e-06, True, \"silu\", 128)" "diff rewritten"
expect_out "# from rms_gated_fp8_group_quant" "diff rewritten"
expect_out "- %squeeze = aten.squeeze.dim(%clamp_min, -1)" "diff rewritten"
[ "$(grep -c '^+ ' <<<"$out")" -eq 4 ] || fail "diff rewritten: expected 4 '+' lines"
[ "$(grep -c '^- ' <<<"$out")" -eq 28 ] || fail "diff rewritten: expected 28 '-' lines"
# The real thing: `fxopt rewrite | fxopt diff` shows the fused region only (rewrite restores the spelling its
# normalisation changed outside the region, so the reshape chains view -> view_1, view_2 -> view_3 stay).
"$FXOPT" rewrite "$L1" >"$TMP/rw.json" 2>/dev/null || { rc=$?; out=""; err=""; fail "fxopt rewrite L1"; }
run diff "$L1" - <"$TMP/rw.json"; expect_rc 1 "rewrite | diff"
expect_out "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default(" "rewrite | diff"
expect_out "# from rms_gated_fp8_group_quant" "rewrite | diff"
grep -E '^[-+~] %(relu|relu_1|addmm_default|mul_89|arg[0-9]_1) ' <<<"$out" && fail "rewrite | diff: change outside the region"
run diff "$REW" - <"$TMP/rw.json"; expect_rc 0 "fixture vs rewrite: the same graph as the hand-fused fixture"

run diff "$L1" "$REW" --stat; expect_rc 1 "diff --stat"
expect_out "prims.convert_element_type.default" "diff --stat"; expect_out "28 removed, 4 added" "diff --stat"
grep -q '^- ' <<<"$out" && fail "diff --stat: lists nodes"
run diff "$L1" "$REW" --format json --stat; expect_rc 1 "diff json"
expect_out '"equal": false' "diff json"; expect_out '"removed": 28' "diff json"; expect_out '"stat": [' "diff json"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["added"]) == 4 and d["added"][0]["from"]["pattern"]' <<<"$out" \
  || fail "diff json: not valid JSON or wrong content"
run diff "$L1" "$L1" --format json; expect_rc 0 "diff json equal"; expect_out '"equal": true' "diff json equal"

# Meta: other keys are ignored unless included; --ignore-meta val ignores shapes too.
sed 's/"meta": {"val": {"dtype": "float32", "shape": \["32\*s68", 1\]/"meta": {"stack_trace": "x.py:1", "val": {"dtype": "float32", "shape": ["32*s68", 1]/' "$L1" >"$TMP/meta.json"
run diff "$L1" "$TMP/meta.json"; expect_rc 0 "diff meta ignored"
run diff "$L1" "$TMP/meta.json" --include-meta stack_trace; expect_rc 1 "diff --include-meta"; expect_out "meta.stack_trace" "diff --include-meta"
run diff "$L1" "$TMP/meta.json" --include-meta stack_trace --ignore-meta stack_trace; expect_rc 0 "diff include+ignore"
sed 's/"shape": \["s68", 32\]/"shape": ["s68", 33]/' "$L1" >"$TMP/shape.json"
run diff "$L1" "$TMP/shape.json"; expect_rc 1 "diff shape"; expect_out "meta.val.shape[1] (shape): 32 -> 33" "diff shape"
run diff "$L1" "$TMP/shape.json" --ignore-meta val; expect_rc 0 "diff --ignore-meta val"

# Trouble: exit 2 with the usual precise error, nothing on stdout.
echo '{"format": "fxgraph", "version": 1, "nodes": [' >"$TMP/bad.json"
run diff "$L1" "$TMP/bad.json"; expect_rc 2 "diff malformed"; expect_err "bad.json: malformed JSON" "diff malformed"
[ -z "$out" ] || fail "diff malformed: wrote to stdout"
run diff "$TMP/bad.json" "$L1"; expect_rc 2 "diff malformed A"
run diff "$SRC/tests/data/bad_symbol.fxgraph.json" "$L1"; expect_no_crash "diff bad_symbol"
run diff "$L1" "$TMP/missing.json"; expect_rc 2 "diff missing"; expect_err "cannot open" "diff missing"
run diff "$L1" - <"$TMP/bad.json"; expect_rc 2 "diff malformed stdin"; expect_err "<stdin>: malformed JSON" "diff malformed stdin"
run diff - - <"$L1";         expect_rc 2 "diff - -"; expect_err "only one of A and B" "diff - -"
run diff "$L1";              expect_rc 2 "diff one arg"
run diff "$L1" "$L1" --format yaml; expect_rc 2 "diff bad format"
finish
