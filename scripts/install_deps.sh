#!/usr/bin/env bash
# Installs fxopt's Debian build dependencies (skips what is present). Usage: scripts/install_deps.sh [extra-packages...]
set -euo pipefail
pkgs=(cmake g++ ninja-build libcli11-dev nlohmann-json3-dev libfmt-dev doctest-dev libmimalloc-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "fxopt: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
