# Shared helpers for the CLI tests in tests/cli/*.sh (sourced; each test gets: $1 fxopt binary, $2 source dir).
set -u
FXOPT=${1:?usage: test.sh FXOPT SRCDIR}
SRC=${2:?usage: test.sh FXOPT SRCDIR}
EXAMPLES="$SRC/examples"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

# run CMD...: runs fxopt with the arguments; sets $rc, $out (stdout), $err (stderr).
run() {
  "$FXOPT" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  out=$(cat "$TMP/out")
  err=$(cat "$TMP/err")
}
fail() { echo "FAIL: $*"; echo "  rc=$rc"; echo "  stdout: ${out:0:2000}"; echo "  stderr: ${err:0:2000}"; failures=$((failures + 1)); }
expect_rc() { [ "$rc" -eq "$1" ] || fail "${2:-command}: expected exit code $1"; }
expect_out() { grep -qF -- "$1" <<<"$out" || fail "${2:-command}: stdout lacks '$1'"; }
expect_err() { grep -qF -- "$1" <<<"$err" || fail "${2:-command}: stderr lacks '$1'"; }
expect_no_crash() { [ "$rc" -lt 128 ] || fail "${1:-command}: crashed (signal $((rc - 128)))"; }
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
  echo "all checks passed"
  exit 0
}
