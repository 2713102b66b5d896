# CI: replays every saved fuzz input (tests/fuzz/crashers/: inputs that once crashed or misled fxopt) and
# runs 400 seeded mutations over all entry points; fails on a crash or on an unexpected exception.
set -u
FUZZ=${1:?usage: replay.sh FXOPT_FUZZ SRCDIR}
SRC=${2:?usage: replay.sh FXOPT_FUZZ SRCDIR}
shopt -s nullglob
saved=("$SRC"/tests/fuzz/crashers/*)
if [ ${#saved[@]} -gt 0 ]; then "$FUZZ" --replay "${saved[@]}" || exit 1; fi
"$FUZZ" --entry all --cases 400 --seed 14 || exit 1
