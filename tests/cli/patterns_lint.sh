#!/usr/bin/env bash
# `fxopt patterns --lint`: the built-in set lints clean; each deliberately bad file in tests/data/lint/ gives
# its finding (the file's "description" says which), with exit 1 on errors and 0 with warnings only.
. "$(dirname "$0")/../cli_lib.sh" "$@"
L="$SRC/tests/data/lint"
G="$SRC/tests/golden/gated_l1.input.json"

run patterns --lint
expect_rc 0 "built-in patterns lint"
expect_out "0 errors, 0 warnings" "built-in patterns lint clean"
# ... also over every corpus graph and golden case (no overlap, no loop).
graphs=()
for g in "$SRC"/examples/*.fxgraph.json "$SRC"/tests/data/qwen3next_gdn_L8.fxgraph.json "$SRC"/tests/golden/*.input.json; do
  graphs+=(--graph "$g")
done
run patterns --lint "${graphs[@]}"
expect_rc 0 "built-in patterns over the corpus"
expect_out "0 errors, 0 warnings" "built-in patterns over the corpus lint clean"

run patterns --lint --pattern-file "$L/bad_ops.json"
expect_rc 1 "bad ops"
expect_out "error: lint_bad_ops: nodes.rstd: no PyTorch build has op 'aten.rsqrtt.default' (did you mean aten.rsqrt.default?)" "typo"
expect_out "op 'aten.add.default' has no such overload: aten.add has overloads Tensor, Scalar, out, Scalar_out (did you mean aten.add.Tensor?)" "overload"
expect_out "op 'aten.pow' is not a target name" "no overload"

run patterns --lint --pattern-file "$L/unbound_var.json"
expect_rc 1 "unbound"
expect_out "error: lint_unbound_var: vars.A: no node binds variable 'A'" "unbound A"
expect_out "vars.B: no node binds variable 'B'" "unbound B"

run patterns --lint --pattern-file "$L/conditions.json"
expect_rc 1 "conditions"
expect_out "conditions[2]: condition \`FMAX > 1000\` never holds (FMAX in {448.0, 224.0})" "never"
expect_out "warning: lint_conditions: conditions[3]: condition \`FMAX > 0\` always holds" "always"
expect_out "the conditions never hold together" "jointly never"

run patterns --lint --pattern-file "$L/replacement_type.json"
expect_rc 1 "replacement types"
expect_out "replacement 'scale_fused' has type float32 [M, D] but output 'scale' (scale) is float32 [M, 1]: dim 1:" "shape"
expect_out "replacement 'q_fused' has type bfloat16 [M, D] but output 'q' (q) is FP8 [M, D]: dtype: bfloat16 vs float8_e4m3fn" "dtype"
expect_out "'scale_fused' has type float32 [M, D] but item 1 of 'rmsnorm_fused_dynamic_quant' is float32 [M, 1]" "getitem"

run patterns --lint --pattern-file "$L/self_loop.json"
expect_rc 1 "self loop"
expect_out "error: lint_self_loop: replacement.r2: lint_self_loop matches its own replacement" "loop"
# ... confirmed on a graph with a relu: a later match takes the node the first one created, and no fixed point.
run patterns --lint --pattern-file "$L/self_loop.json" --graph "$G"
expect_rc 1 "self loop on a graph"
expect_out "lint_self_loop matches node r2, which lint_self_loop's replacement created" "loop confirmed"
expect_out "the rewrite did not reach a fixed point in 4 iterations" "no fixed point"

# Overlap: a warning only (exit 0), naming the benefits and the winner; without a graph nothing to report.
run patterns --lint --pattern-file "$L/overlap.json"
expect_rc 0 "overlap without graph"
expect_out "0 errors, 0 warnings" "overlap needs a graph"
run patterns --lint --pattern-file "$L/overlap.json" --graph "$G" --format json
expect_rc 0 "overlap"
python3 - "$TMP/out" <<'PY' || fail "overlap JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["errors"] == 0 and r["warnings"] == 1, r
f = r["findings"][0]
assert f["check"] == "overlap" and f["severity"] == "warning", f
assert "rms_gated_fp8_group_quant (benefit 20" in f["message"] and "lint_overlap (benefit 5" in f["message"], f
assert "the driver takes rms_gated_fp8_group_quant (higher benefit)" in f["message"], f
PY

# A file that does not parse is an error finding; an unreadable graph is bad input.
printf '{"format": "fxopt-patterns", "version": 1, "patterns": [' >"$TMP/broken.json"
run patterns --lint --pattern-file "$TMP/broken.json"
expect_rc 1 "broken file"
expect_out "[parse]" "parse finding"
run patterns --lint --graph "$TMP/missing.json"
expect_rc 1 "missing graph"
expect_err "missing.json" "missing graph named"
finish
