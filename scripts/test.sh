#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, builds, runs ctest
# (unit tests and end-to-end tests with real clients), then does it again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh [--plain|--sanitize] [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
modes=(plain sanitize)
case "${1:-}" in
  --plain) modes=(plain); shift ;;
  --sanitize) modes=(sanitize); shift ;;
esac
scripts/deps.sh test
jobs=$(nproc)
for mode in "${modes[@]}"; do
  dir=build/$mode
  flags=(-DMAIL_WERROR=ON)
  [ "$mode" = sanitize ] && flags+=(-DMAIL_SANITIZE=ON)
  echo "== $mode build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $mode tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@"
done
echo "== all tests passed (${modes[*]})"
