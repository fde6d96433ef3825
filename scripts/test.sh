#!/usr/bin/env bash
# The whole test suite: installs missing Debian packages, builds, runs ctest
# (unit tests, end-to-end tests with real clients, fuzz targets replayed over
# their seeds and past crashes), then does it again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then runs every libFuzzer target for a bounded
# time (scripts/fuzz.sh), then builds the Docker image and drives the compose
# stack (tests/docker/run.sh; it says SKIPPED where no Docker daemon can run).
# Usage: scripts/test.sh [--plain|--sanitize|--fuzz|--docker] [--no-fuzz]
#                        [--no-docker] [--fuzz-seconds N] [ctest args...]
#   --plain, --sanitize, --fuzz, --docker  run that stage only
#   --no-fuzz, --no-docker       skip that stage
#   --fuzz-seconds N             seconds per fuzz target (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
modes=(plain sanitize fuzz docker)
fuzz_seconds=20
while [ $# -gt 0 ]; do
  case $1 in
    --plain) modes=(plain) ;;
    --sanitize) modes=(sanitize) ;;
    --fuzz) modes=(fuzz) ;;
    --docker) modes=(docker) ;;
    --no-fuzz) modes=("${modes[@]/fuzz/}") ;;
    --no-docker) modes=("${modes[@]/docker/}") ;;
    --fuzz-seconds)
      if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
        echo "test.sh: --fuzz-seconds needs a number of seconds (at least 1)" >&2
        exit 2
      fi
      fuzz_seconds=$2
      shift ;;
    *) break ;;
  esac
  shift
done
scripts/deps.sh test
jobs=$(nproc)
ran=()
for mode in "${modes[@]}"; do
  [ -n "$mode" ] || continue
  ran+=("$mode")
  if [ "$mode" = fuzz ]; then
    echo "== fuzz (${fuzz_seconds}s per target)"
    scripts/fuzz.sh "$fuzz_seconds"
    continue
  fi
  if [ "$mode" = docker ]; then
    echo "== docker (image, compose stack, scaling)"
    tests/docker/run.sh
    continue
  fi
  dir=build/$mode
  flags=(-DMAIL_WERROR=ON -DMAIL_TEST_HOOKS=ON)
  [ "$mode" = sanitize ] && flags+=(-DMAIL_SANITIZE=ON)
  echo "== $mode build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $mode tests"
  rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" || rc=$?
  # ctest shows the output of failed tests only: list what was skipped, and
  # why, so a test that never runs on this machine does not go unnoticed
  # (pytest's -rs lines and the unit tests' "SKIPPED: reason" lines).
  skipped=$(grep -h '^SKIPPED' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
  if [ -n "$skipped" ]; then
    echo "== $mode: skipped tests"
    printf '%s\n' "$skipped"
  fi
  [ "$rc" -eq 0 ] || exit "$rc"
done
echo "== all tests passed (${ran[*]})"
