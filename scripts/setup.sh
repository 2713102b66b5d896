#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main job on the bundled example.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install_deps.sh"
"$root/scripts/build.sh"
cd "$root"
echo "== fxopt rewrite examples/qwen3next_gdn_L1.fxgraph.json -o build/qwen3next_gdn_L1.rewritten.json --stats --verify"
build/fxopt rewrite examples/qwen3next_gdn_L1.fxgraph.json -o build/qwen3next_gdn_L1.rewritten.json --stats --verify
echo "== fxopt diff (original vs rewritten)"
build/fxopt diff examples/qwen3next_gdn_L1.fxgraph.json build/qwen3next_gdn_L1.rewritten.json --stat || true
