#!/usr/bin/env bash
# Installs every Debian 12 package wanka needs to build, test, benchmark and fuzz.
# Idempotent: does nothing (and needs no network) when all packages are present.
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config
      libcli11-dev nlohmann-json3-dev libfmt-dev libyaml-cpp-dev
      libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
