# CLI tests of hostile input (issue 14): impossible sizes, deep nesting, memory budget, bad UTF-8, raw
# library messages; each input (tests/data/reliability/ or generated here) beside the refusal it must get.
. "$(dirname "$0")/../cli_lib.sh"
R="$SRC/tests/data/reliability"
L1="$EXAMPLES/qwen3next_gdn_L1.fxgraph.json"
repeat() { head -c "$2" /dev/zero | tr '\0' "$1"; }  # repeat CHAR N

# 1. Sizes: a safetensors header, --dim or a hint implying a size past int64 is refused, naming the tensor.
run run "$R/mm.json" --inputs "$R/st_wrap.safetensors"; expect_rc 1 "st_wrap"; expect_no_crash "st_wrap"
expect_err "st_wrap.safetensors: tensor 'x': impossible size F32 [2305843009213693952, 8]: the element count overflows int64" "st_wrap"
run run "$R/ident.json" --dim s0=3689348814741910324; expect_rc 1 "ident --dim"
expect_err "node 'x' meta.val is bfloat16 [3689348814741910324, 5] at s0=3689348814741910324: impossible size" "ident --dim"
run run "$R/mm.json" --dim s0=2305843009213693952; expect_rc 1 "mm --dim"; expect_err "node 'x' meta.val is float32" "mm --dim"
sed 's/"hint": 3/"hint": 3689348814741910324/' "$R/ident.json" >"$TMP/big_hint.json"
run run "$TMP/big_hint.json"; expect_rc 1 "big hint"; expect_err "element count overflows int64" "big hint"
sed 's/"hint": 3, "min": 2, "max": null/"hint": 1, "min": 2, "max": 9/' "$R/ident.json" >"$TMP/hint_range.json"
run verify "$TMP/hint_range.json"; expect_rc 1 "hint outside range (verify)"; expect_out "hint 1 is outside its range [2, 9]" "verify hint"
run run "$TMP/hint_range.json"; expect_rc 1 "hint outside range (run)"; expect_err "hint 1 is outside its range" "run hint"
run run "$TMP/hint_range.json" --dim s0=3; expect_rc 0 "--dim overrides a bad hint"
# A zero-size tensor runs (no memcpy from a null pointer: the sanitizer build checks it).
run run "$R/ident.json" --dim s0=0 --allow-out-of-range; expect_rc 0 "zero size"; expect_out "bfloat16 [0, 5]" "zero size"

# 3. Memory: the estimate at the bound sizes is checked against --memory-limit (default 3/4 of RAM).
run run "$L1" --dim s68=100000000000; expect_rc 1 "huge s68"; expect_err "above the memory limit" "huge s68"
expect_err "largest tensors:" "huge s68"; expect_err "float32 [3200000000000, 128]" "huge s68"
run run "$L1" --dim s68=1000 --memory-limit 10MiB; expect_rc 1 "--memory-limit 10MiB"
expect_err "the run needs an estimated 117.94 MiB" "--memory-limit 10MiB"; expect_err "(--memory-limit)" "--memory-limit 10MiB"
run run "$L1" --dim s68=16 --memory-limit 1GiB; expect_rc 0 "--memory-limit 1GiB"
run run "$L1" --memory-limit none; expect_rc 0 "--memory-limit none"
run run "$L1" --memory-limit 12XB; expect_rc 1 "bad --memory-limit"; expect_err "--memory-limit '12XB': expected a size" "bad --memory-limit"

# 2. Nesting: 100000 levels (a stack overflow before) are refused at the 257th, with the position.
for cmd in verify fmt stats match; do
  { printf '{"format":"fxgraph","version":1,"nodes":[{"name":"a","op":"placeholder","target":"a","args":'; repeat '[' 100000; } >"$TMP/deep_args.json"
  run $cmd "$TMP/deep_args.json"; expect_rc 1 "deep args ($cmd)"; expect_no_crash "deep args ($cmd)"
  expect_err "nesting deeper than 256 levels" "deep args ($cmd)"
done
{ printf '{"format":"fxgraph","version":1,"producer":'; repeat '[' 100000; } >"$TMP/deep_producer.json"
run fmt "$TMP/deep_producer.json"; expect_rc 1 "deep producer"; expect_err "deep_producer.json: malformed JSON at line 1, column 299: nesting deeper than 256 levels" "deep producer"
{ printf '{"format":"fxgraph","version":1,"nodes":[{"name":"a","op":"placeholder","target":"a","args":[],"kwargs":{},"meta":{"val":'; repeat '[' 100000; } >"$TMP/deep_val.json"
run verify - <"$TMP/deep_val.json"; expect_rc 1 "deep val (stdin)"; expect_err "nesting deeper than 256 levels" "deep val"
# 256 levels are within the limit (the error is about the content, not the nesting).
sed 's/"version": 1,/"version": 1, "producer": '"$(repeat '[' 255)$(repeat ']' 255)"',/' "$R/ident.json" >"$TMP/ok_depth.json"
run fmt "$TMP/ok_depth.json"; expect_rc 0 "256 levels"
{ printf '{"format":"fxopt-patterns","version":1,"patterns":[{"name":"p","nodes":[{"name":"y","op":"aten.relu.default","args":['; repeat '[' 100000; } >"$TMP/deep_pat.json"
run patterns --pattern-file "$TMP/deep_pat.json"; expect_rc 1 "deep pattern"; expect_err "nesting deeper than 256 levels" "deep pattern"
{ printf '{"format":"fxopt-patterns","version":1,"patterns":[{"name":"p","fused_op":"f.default","vars":{"N":"sym"},"inputs":{"x":null},'
  printf '"nodes":[{"name":"y","op":"aten.relu.default","args":["%%x"]}],"outputs":{"y":"y"},"conditions":["'
  repeat '(' 1500; printf N; repeat ')' 1500; printf ' == 1"],"replacement":{"nodes":[{"name":"r","op":"f.default","args":["%%x"]}],"outputs":{"y":"r"}}}]}'; } >"$TMP/deep_cond.json"
run patterns --pattern-file "$TMP/deep_cond.json"; expect_rc 1 "deep condition"; expect_no_crash "deep condition"
expect_err "nested deeper than 256 levels" "deep condition"; [ ${#err} -lt 1000 ] || fail "deep condition: message not shortened"
{ printf '{"format":"fxopt-patterns","version":1,"patterns":[{"name":"p","fused_op":"f.default","vars":{"N":"sym"},"inputs":{"x":null},'
  printf '"nodes":[{"name":"y","op":"aten.relu.default","args":["%%x"]}],"outputs":{"y":"y"},"conditions":["'
  repeat '-' 3000; printf 'N == 1"]}]}'; } >"$TMP/deep_neg.json"
run patterns --pattern-file "$TMP/deep_neg.json"; expect_rc 1 "deep unary minus"; expect_err "nested deeper than 256 levels" "deep unary minus"
h='{"a":'$(repeat '[' 1000000)$(repeat ']' 1000000)',"b":1}'
{ printf "$(printf '\\x%02x' $(( ${#h} & 255 )) $(( (${#h} >> 8) & 255 )) $(( (${#h} >> 16) & 255 )) 0 0 0 0 0)"; printf '%s' "$h"; } >"$TMP/deep_header.safetensors"
run run "$R/mm.json" --inputs "$TMP/deep_header.safetensors"; expect_rc 1 "deep safetensors header"
expect_err "deep_header.safetensors: header: malformed JSON at line 1, column 261: nesting deeper than 256 levels" "deep header"
# SymInt expressions: parentheses are bounded by the same limit; a long expression is shown around the error.
sed 's/"shape": \["s0", 5\], "stride"/"shape": ["'"$(repeat '(' 2000)"'s0'"$(repeat ')' 2000)"'", 5], "stride"/' "$R/ident.json" >"$TMP/deep_sym.json"
run verify "$TMP/deep_sym.json"; expect_rc 1 "deep SymInt"; expect_err "nested too deeply" "deep SymInt"
[ ${#err} -lt 1000 ] || fail "deep SymInt: message not shortened"

# 5. Raw library text: numbers out of range and invalid UTF-8 are reported with the file and position.
printf '{"format":"fxopt-patterns","version":1,"patterns":[{"name":"p","x":1e999}]}' >"$TMP/pat_num.json"  # ../shared/reliability
run patterns --pattern-file "$TMP/pat_num.json"; expect_rc 1 "pat_num"
expect_err "pat_num.json: malformed JSON at line 1, column 68: number overflow parsing '1e999'" "pat_num"
grep -q "json.exception" <<<"$err" && fail "pat_num: raw nlohmann text"
run fmt "$R/bad_utf8.json"; expect_rc 1 "bad UTF-8"; expect_err "bad_utf8.json: malformed JSON at line 1, column 331: invalid UTF-8 in string" "bad UTF-8"
printf '{"format":"fxopt-patterns","version":1,"patterns":[{"name":"p\xc3\x28"}]}' >"$TMP/bad_utf8_pat.json"
run patterns --pattern-file "$TMP/bad_utf8_pat.json"; expect_rc 1 "bad UTF-8 pattern"; expect_err "bad_utf8_pat.json: malformed JSON at line 1" "bad UTF-8 pattern"

# Matching: an expression without a value (a modulo by zero) is a near miss with its reason, not an error.
sed 's|"D % G == 0",|"D % (G - G) == 0",|' "$SRC/tests/data/wrong_eps.patterns.json" >"$TMP/modzero.pat.json"
run match "$L1" --pattern-file "$TMP/modzero.pat.json" --patterns rms_gated_wrong_eps; expect_rc 0 "modulo by zero"
expect_out "near miss: rms_gated_wrong_eps at convert_element_type_5: solver: modulo by zero" "modulo by zero"
# SymInt expressions: an operator chain nests without parentheses; length and Max arguments are bounded.
chain="s0$(for i in $(seq 300); do printf '%%s%d' $((i % 3 + 1)); done)"
sed 's/"shape": \["s0", 5\]/"shape": ["'"$chain"'", 5]/' "$R/ident.json" >"$TMP/chain.json"
run verify "$TMP/chain.json"; expect_rc 1 "SymInt chain"; expect_err "expression nested too deeply" "SymInt chain"
sed 's/"shape": \["s0", 5\]/"shape": ["'"$(repeat ' ' 5000)"'s0", 5]/' "$R/ident.json" >"$TMP/long.json"
run verify "$TMP/long.json"; expect_rc 1 "long SymInt"; expect_err "expression longer than 4096 characters" "long SymInt"
finish
