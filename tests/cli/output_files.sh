# CLI tests of the output-file rule (README "Output files"): a regular file is replaced atomically, a
# symlink is followed (its target replaced, the link kept), a device or FIFO is written into, a socket refused.
. "$(dirname "$0")/../cli_lib.sh"
G="$SRC/tests/data/reliability/ident.json"
"$FXOPT" fmt "$G" >"$TMP/expected.json" || fail "fmt to stdout"

# A symlink (relative, in a chain) is followed: the file it leads to gets the output, the links stay links.
mkdir "$TMP/d" && echo old >"$TMP/d/real.json" && chmod 640 "$TMP/d/real.json"
ln -s d/real.json "$TMP/link1.json" && ln -s link1.json "$TMP/link2.json"
run fmt "$G" -o "$TMP/link2.json"; expect_rc 0 "-o symlink"
[ -L "$TMP/link2.json" ] && [ -L "$TMP/link1.json" ] || fail "-o symlink: the link was replaced"
cmp -s "$TMP/d/real.json" "$TMP/expected.json" || fail "-o symlink: the target does not hold the output"
[ "$(stat -c %a "$TMP/d/real.json")" = 640 ] || fail "-o symlink: the target's permissions changed"
[ -z "$(ls "$TMP/d" | grep tmp)" ] || fail "-o symlink: a temporary file was left"
# An existing regular file is replaced (swapped with the new one, then unlinked): another hard link to it keeps
# the old text, the permission bits carry over, nothing temporary is left.
echo old >"$TMP/d/plain.json" && chmod 604 "$TMP/d/plain.json" && ln "$TMP/d/plain.json" "$TMP/d/hard.json"
run fmt "$G" -o "$TMP/d/plain.json"; expect_rc 0 "-o existing file"
cmp -s "$TMP/d/plain.json" "$TMP/expected.json" || fail "-o existing file: it does not hold the output"
[ "$(cat "$TMP/d/hard.json")" = old ] || fail "-o existing file: its other hard link changed"
[ "$(stat -c %a "$TMP/d/plain.json")" = 604 ] || fail "-o existing file: the permissions changed"
[ -z "$(ls "$TMP/d" | grep tmp)" ] || fail "-o existing file: a temporary file was left"
# A dangling symlink creates its target.
ln -s d/new.json "$TMP/dangling.json"
run fmt "$G" -o "$TMP/dangling.json"; expect_rc 0 "-o dangling symlink"
[ -L "$TMP/dangling.json" ] && cmp -s "$TMP/d/new.json" "$TMP/expected.json" || fail "-o dangling symlink"
ln -s loop_b "$TMP/loop_a"; ln -s loop_a "$TMP/loop_b"
run fmt "$G" -o "$TMP/loop_a"; expect_rc 1 "-o symlink loop"; expect_err "too many levels of symbolic links" "-o symlink loop"

# A FIFO is written into (the reader gets the whole text) and stays a FIFO.
mkfifo "$TMP/fifo"
cat "$TMP/fifo" >"$TMP/from_fifo" & reader=$!
run fmt "$G" -o "$TMP/fifo"; expect_rc 0 "-o FIFO"
wait "$reader"
[ -p "$TMP/fifo" ] || fail "-o FIFO: replaced by a regular file"
cmp -s "$TMP/from_fifo" "$TMP/expected.json" || fail "-o FIFO: the reader did not get the output"
# run --save-outputs goes through the same writer.
cat "$TMP/fifo" >"$TMP/from_fifo.st" & reader=$!
run run "$G" --save-outputs "$TMP/fifo"; expect_rc 0 "--save-outputs FIFO"
wait "$reader"
[ -p "$TMP/fifo" ] && [ "$(head -c 8 "$TMP/from_fifo.st" | od -An -tu8 | tr -d ' ')" -gt 0 ] || fail "--save-outputs FIFO"

# A character device stays one (as root the old writer replaced /dev/null by a regular file).
run fmt "$G" -o /dev/null; expect_rc 0 "-o /dev/null"
[ -c /dev/null ] || fail "-o /dev/null: no longer a character device"
run rewrite "$G" -o /dev/null; expect_rc 0 "rewrite -o /dev/null"; [ -c /dev/null ] || fail "rewrite -o /dev/null"

# A socket or a directory is refused, and left as it was.
if python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$TMP/sock" 2>/dev/null; then
  run fmt "$G" -o "$TMP/sock"; expect_rc 1 "-o socket"; expect_err "sock: cannot write: it is a socket" "-o socket"
  [ -S "$TMP/sock" ] || fail "-o socket: replaced"
fi
run fmt "$G" -o "$TMP/d"; expect_rc 1 "-o directory"; expect_err "cannot write: it is a directory" "-o directory"
# Bad input writes nothing, through a symlink too.
echo '{' >"$TMP/bad.json"; cp "$TMP/expected.json" "$TMP/d/real.json"
run fmt "$TMP/bad.json" -o "$TMP/link2.json"; expect_rc 1 "bad input"
cmp -s "$TMP/d/real.json" "$TMP/expected.json" || fail "bad input: the target was changed"
finish
