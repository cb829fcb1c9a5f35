#!/usr/bin/env bash
# Installs what building and testing shopsense needs on a fresh Debian machine that has only
# the Rust toolchain (and Python 3). Idempotent: every step checks first.
#   - libclang-dev: bindgen for the LightGBM bindings
#   - cmake >= 3.28 (from PyPI; Debian 12's 3.25 is too old for LightGBM 4.x)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

APT_PACKAGES="libclang-dev ${SHOPSENSE_EXTRA_APT:-}"
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in $APT_PACKAGES; do have_pkg "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: apt-get install ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake_ok() {
  command -v cmake >/dev/null 2>&1 || return 1
  v=$(cmake --version | head -1 | awk '{print $3}')
  [ "$(printf '%s\n' 3.28 "$v" | sort -V | head -1)" = 3.28 ]
}
if ! cmake_ok; then
  echo "setup: pip install cmake (>= 3.28) into $SHOPSENSE_TOOLS/venv" >&2
  python3 -m venv "$SHOPSENSE_TOOLS/venv"
  "$SHOPSENSE_TOOLS/venv/bin/pip" install -q --disable-pip-version-check "cmake>=3.28"
fi
cmake_ok || { echo "setup: cmake >= 3.28 not available" >&2; exit 1; }
