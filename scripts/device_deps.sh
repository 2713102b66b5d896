#!/usr/bin/env bash
# On the GPU device machine (no apt access): unpack the carried Debian packages in .deps/ into /tmp/deps
# and print the CMake prefix to use. Usage: eval "$(bash scripts/device_deps.sh)"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /tmp/deps
for f in "$root"/.deps/*.deb; do dpkg -x "$f" /tmp/deps; done
# libfmt's CMake config points at the multiarch library directory inside the prefix.
echo "export CMAKE_PREFIX_PATH=/tmp/deps/usr:/tmp/deps/usr/lib/x86_64-linux-gnu/cmake"
echo "export CPATH=/tmp/deps/usr/include\${CPATH:+:\$CPATH}"
echo "export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
