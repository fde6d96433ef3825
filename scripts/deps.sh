#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any is missing
# (Debian 12 and 13). Usage: scripts/deps.sh [build|test]
#   test also installs the real clients the end-to-end tests drive and the
#   tools they call: curl, swaks with its TLS module (Net::SSLeay is only a
#   Recommends of swaks, and without it swaks cannot STARTTLS), fetchmail,
#   openssl (test certificates), procps, mount (the full-disk test mounts a
#   tmpfs when it may), strace (the spool test watches the loop thread),
#   clang with its sanitizer and libFuzzer runtime, dnsmasq-base (test_dns
#   and the outbound tests serve their records from a private dnsmasq on
#   loopback), python3-dkim (dkimpy, the independent verifier of
#   tests/e2e/test_dkim.py), prometheus (for promtool: test_metrics.py checks
#   the /metrics pages with it; no Prometheus server is started),
#   postgresql (the store's tests also run on a throwaway cluster of
#   tests/tools/pgcluster.sh on 127.0.0.1:54329; no system cluster is used),
#   python3-psycopg2 (the end-to-end tests read and set up the store's rows
#   on PostgreSQL with it, as with Python's sqlite3 on SQLite).
set -euo pipefail
want=(build-essential cmake pkg-config libuv1-dev libmbedtls-dev libsqlite3-dev libcrypt-dev
      libc-ares-dev libpq-dev)
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev python3 python3-pytest curl swaks libnet-ssleay-perl fetchmail openssl
         clang procps mount strace dnsmasq-base python3-dkim prometheus postgresql
         python3-psycopg2)
fi

# Installs the packages of "$@" that are missing.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${deps_updated:-}" ]; then
    apt-get update -qq >/dev/null || true
    deps_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_missing "${want[@]}"
# The fuzzer runtime is versioned like clang itself (14 on Debian 12, 19 on 13).
if [ "${1:-build}" = test ]; then
  clang_major=$(clang -dumpversion | cut -d. -f1)
  install_missing "libclang-rt-$clang_major-dev"
fi
