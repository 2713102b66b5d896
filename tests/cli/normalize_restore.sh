#!/usr/bin/env bash
# CLI tests of `fxopt rewrite` restoring the input's spelling outside fused regions (core/rewrite/normalize.h,
# denormalize): a graph with a fused layer and an unfused (group 64) layer, both written with every alternative
# spelling the normalisation passes rewrite; a graph with no match; --keep-normalized; --verify.
source "$(dirname "$0")/../cli_lib.sh"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
GOLD="$SRC/tests/golden"

# Two layers in one graph: layer A = the corpus block (fuses), layer B = the group-64 block (must not fuse), node
# names of B prefixed with "b_". Both spell silu z*sigmoid(z), the quant reshapes aten.view / aten._unsafe_view,
# the fp32 upcasts _to_copy(dtype=); the corpus already spells amax as max.dim + getitem, the clamp as
# clamp_min + clamp_max, and the head split as a reshape chain.
python3 - "$GOLD/gated_silu_sigmoid.input.json" "$GOLD/neg_group64.input.json" "$TMP/mixed.json" "$TMP/b_only.json" <<'PY' \
  || { rc=1; out=""; err=""; fail "making the two-layer graph"; finish; }
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])

def respell(doc):
    nodes = {n["name"]: n for n in doc["nodes"]}
    if "sigmoid" not in nodes:  # z/(1+exp(-z)) -> z*sigmoid(z)
        z = {"node": "convert_element_type_2"}
        i = [n["name"] for n in doc["nodes"]].index("neg")
        sig = dict(nodes["neg"], name="sigmoid", target="aten.sigmoid.default", args=[z])
        doc["nodes"] = [n for n in doc["nodes"] if n["name"] not in ("neg", "exp", "add_45")]
        doc["nodes"].insert(i, sig)
        nodes["div"]["target"], nodes["div"]["args"] = "aten.mul.Tensor", [{"node": "sigmoid"}, z]
    nodes["view_4"]["target"] = "aten.view.default"
    nodes["view_5"]["target"] = "aten._unsafe_view.default"
    for cv in ("convert_element_type", "convert_element_type_1"):
        n = nodes[cv]
        n["target"], n["kwargs"], n["args"] = "aten._to_copy.default", {"dtype": n["args"][1]}, n["args"][:1]

def rename(x, p):
    if isinstance(x, dict):
        return {k: (p + v if k == "node" else rename(v, p)) for k, v in x.items()}
    if isinstance(x, list):
        return [rename(v, p) for v in x]
    return x

respell(a); respell(b)
def write(doc, path):
    head = {k: v for k, v in doc.items() if k != "nodes"}
    lines = ["{"] + [" %s: %s," % (json.dumps(k), json.dumps(v)) for k, v in head.items()] + [' "nodes": [']
    lines.append(",\n".join("  " + json.dumps(n) for n in doc["nodes"]))
    open(path, "w").write("\n".join(lines + [" ]", "}"]) + "\n")
write(b, sys.argv[4])
bn = []
for n in b["nodes"]:
    n = rename(n, "b_")
    n["name"] = "b_" + n["name"]
    if n["op"] == "placeholder":
        n["target"] = n["name"]
    bn.append(n)
ph = lambda ns: [n for n in ns if n["op"] == "placeholder"]
body = lambda ns: [n for n in ns if n["op"] not in ("placeholder", "output")]
out_a, out_b = a["nodes"][-1], bn[-1]
out_a["args"] = [out_a["args"][0] + out_b["args"][0]]
a["nodes"] = ph(a["nodes"]) + ph(bn) + body(a["nodes"]) + body(bn) + [out_a]
a["producer"] = {"fxopt_test": "layer A fuses, layer B (b_*, group 64) does not; alternative spellings in both"}
write(a, sys.argv[3])
PY
"$FXOPT" fmt "$TMP/mixed.json" >"$TMP/mixed.fmt.json" || fail "fmt of the two-layer graph"
"$FXOPT" fmt "$TMP/b_only.json" >"$TMP/b_only.fmt.json" || fail "fmt of the group-64 graph"

# Layer A fuses (after normalisation), layer B does not.
run match "$TMP/mixed.json" --expect-matches 1; expect_rc 0 "match: one fused layer"
run rewrite "$TMP/mixed.json" --stats -o "$TMP/rw.json"; expect_rc 0 "rewrite two layers"
expect_err "1 match," "rewrite two layers"
expect_err "denormalize: restored " "rewrite --stats"
grep -qF '"target": "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"' "$TMP/rw.json" || fail "layer A not fused"
# Every node of layer B is exactly as read: same lines (name, op, target, args, kwargs, meta), same order.
grep -F '"name": "b_' "$TMP/mixed.fmt.json" >"$TMP/b.in"
grep -F '"name": "b_' "$TMP/rw.json" >"$TMP/b.out"
[ "$(wc -l <"$TMP/b.in")" -gt 40 ] || fail "layer B: too few nodes found"
cmp -s "$TMP/b.in" "$TMP/b.out" || { out=$(diff "$TMP/b.in" "$TMP/b.out" | head -20); fail "layer B changed"; }
for t in aten.silu.default aten.amax.default aten.clamp.default; do
  grep -qF "\"target\": \"$t\"" "$TMP/rw.json" && fail "normalised $t left"  # layer A's went into the fusion
done
# The structural diff names layer A's region only.
run diff "$TMP/mixed.json" "$TMP/rw.json"; expect_rc 1 "diff two layers"
grep -E '^[-+~] %b_' <<<"$out" && fail "diff: a change in layer B"
# Bit-identical on the CPU.
run rewrite "$TMP/mixed.json" --verify -o "$TMP/v.json"; expect_rc 0 "rewrite --verify two layers"
cmp -s "$TMP/v.json" "$TMP/rw.json" || fail "--verify wrote another graph"

# No match at all: the output is the input, byte for byte (as `fxopt fmt` writes it).
run rewrite "$TMP/b_only.json" -o "$TMP/b_rw.json"; expect_rc 0 "rewrite group-64 graph"
cmp -s "$TMP/b_rw.json" "$TMP/b_only.fmt.json" || fail "rewrite without a match changed the graph"
run rewrite "$TMP/b_only.json" --verify -o "$TMP/b_v.json"; expect_rc 0 "rewrite --verify group-64 graph"
for f in "$GOLD"/neg_*.input.json "$L1"; do
  "$FXOPT" fmt "$f" >"$TMP/f.json"
  args=(); [ "$f" = "$L1" ] && args=(--target none)
  run rewrite "$f" "${args[@]}" -o "$TMP/f_rw.json"; expect_rc 0 "rewrite $(basename "$f")"
  cmp -s "$TMP/f_rw.json" "$TMP/f.json" || fail "rewrite $(basename "$f") without a match changed the graph"
done

# --keep-normalized: the old output, normalised spellings left in layer B.
run rewrite "$TMP/mixed.json" --keep-normalized -o "$TMP/keep.json"; expect_rc 0 "--keep-normalized"
for t in aten.silu.default aten.amax.default aten.clamp.default; do  # layer A's went into the fusion
  grep -qF "\"target\": \"$t\"" "$TMP/keep.json" || fail "--keep-normalized: layer B has no $t"
done
for t in aten.view.default aten._unsafe_view.default aten._to_copy.default aten.sigmoid.default; do
  grep -qF "\"target\": \"$t\"" "$TMP/keep.json" && fail "--keep-normalized: $t left"
done
grep -qF '"target": "vllm.rocm_aiter_fused_rms_gated_fp8_group_quant.default"' "$TMP/keep.json" || fail "--keep-normalized: not fused"
# The fused region is the same either way: only layer B and the reshapes feeding the fused op differ.
run diff "$TMP/keep.json" "$TMP/rw.json"; expect_rc 1 "diff keep vs restored"
grep -qE '^[-+~] %.*fused_rms_gated' <<<"$out" && fail "the fused op differs between --keep-normalized and the default"
run rewrite "$TMP/mixed.json" --keep-normalized --verify -o "$TMP/keep_v.json"; expect_rc 0 "--keep-normalized --verify"

finish
