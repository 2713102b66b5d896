#!/usr/bin/env bash
# CLI tests of normalisation through `fxopt rewrite`: default passes, --passes selection and errors, --no-normalize.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
nodes() { grep -c '"op": ' "$1"; }

# --keep-normalized: every pass, and the normalised spelling stays in the output. With no fused op available
# (--target none) only normalisation changes the graph.
run rewrite "$L1" --target none --keep-normalized -o "$TMP/all.json"; expect_rc 0 "rewrite (all passes)"
[ "$(nodes "$TMP/all.json")" -eq 41 ] || fail "all passes: expected 41 nodes, got $(nodes "$TMP/all.json")"
for t in aten.silu.default aten.amax.default aten.clamp.default; do
  grep -qF "\"target\": \"$t\"" "$TMP/all.json" || fail "all passes: no $t"
done
grep -qF '"name": "view_4"' "$TMP/all.json" && fail "all passes: reshape chain view_4 -> view_5 not folded"
grep -qF '"target": "aten.max.dim"' "$TMP/all.json" && fail "all passes: max.dim left"

# --stats reports each pass with its count.
run rewrite "$L1" --target none --stats -o "$TMP/s.json"; expect_rc 0 "--stats"
expect_err "fold_reshape_chains" "--stats"; expect_err "normalize: 6 changes" "--stats"

# --passes selects: silu only, so the reshape chains stay.
run rewrite "$L1" --target none --keep-normalized --passes canonicalize_silu -o "$TMP/silu.json"; expect_rc 0 "--passes canonicalize_silu"
[ "$(nodes "$TMP/silu.json")" -eq 46 ] || fail "--passes canonicalize_silu: expected 46 nodes, got $(nodes "$TMP/silu.json")"
grep -qF '"name": "view_4"' "$TMP/silu.json" || fail "--passes canonicalize_silu: view_4 folded anyway"

# An unknown pass is bad input: exit 1, the valid names listed, nothing written.
echo keep >"$TMP/keep.json"
run rewrite "$L1" --passes fold_reshape_chains,fold_reshapes -o "$TMP/keep.json"; expect_rc 1 "unknown pass"
expect_err "unknown normalisation pass 'fold_reshapes'" "unknown pass"; expect_err "canonicalize_to_copy, dce" "unknown pass"
[ "$(cat "$TMP/keep.json")" = "keep" ] || fail "unknown pass: output file was touched"

# Default (no --keep-normalized): normalisation is undone outside fused regions, so with nothing fused the
# output is the input, byte for byte (the input is in canonical form), and --stats says what was restored.
run rewrite "$L1" --target none --stats -o "$TMP/restored.json"; expect_rc 0 "rewrite (restored)"
cmp -s "$TMP/restored.json" "$L1" || fail "rewrite without a match changed the graph"
expect_err "denormalize: restored 6 changes" "--stats (denormalize)"
run rewrite "$L1" --target none --passes canonicalize_silu -o "$TMP/restored2.json"; expect_rc 0 "rewrite --passes (restored)"
cmp -s "$TMP/restored2.json" "$L1" || fail "rewrite --passes canonicalize_silu without a match changed the graph"

# --no-normalize: the graph comes back unchanged.
run rewrite "$L1" --target none --no-normalize -o "$TMP/none.json"; expect_rc 0 "--no-normalize"
cmp -s "$TMP/none.json" "$L1" || fail "--no-normalize changed the graph"

# The normalised graph computes the same outputs, bit for bit, on the CPU.
run rewrite "$L1" --target none --keep-normalized --verify -o "$TMP/v.json"; expect_rc 0 "--verify"

finish
