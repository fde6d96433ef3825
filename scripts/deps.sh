#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any is missing.
# Usage: scripts/deps.sh [build|test]   (test also installs the real clients)
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libmbedtls-dev libsqlite3-dev libcrypt-dev)
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev python3 python3-pytest curl swaks fetchmail openssl clang
         libclang-rt-14-dev procps strace)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
