#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, build/fuzz) and runs each
# one for SECONDS (default 20), starting from its seeds and past crashes
# (tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/) copied
# to a scratch directory, so the repository is never written to.
# Fails (exit 1) on any crash, leak, timeout or sanitizer report, and prints
# the reproducer's path; prints executions per target either way.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=20
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
if [ "$seconds" -lt 1 ]; then
  echo "fuzz: SECONDS must be at least 1" >&2
  exit 2
fi

# Longest input per target (-max_len): a little above the longest input the
# code behind it accepts, so the over-limit paths are reached too.
max_len() {
  case $1 in
    fuzz_smtp_address) echo 1024 ;;  # a path is at most 256 octets (RFC 5321 4.5.3.1.3)
    fuzz_smtp_command|fuzz_pop3_command|fuzz_linereader) echo 2048 ;;  # command lines
    fuzz_base64) echo 2048 ;;
    fuzz_sasl) echo 2048 ;;          # PLAIN responses are refused above 1024 characters
    fuzz_config) echo 10000 ;;       # config lines are at most 4095 bytes
    fuzz_proxy_protocol) echo 1024 ;; # a header is decided within 528 bytes
    *) echo 4096 ;;
  esac
}

scripts/deps.sh test
build=build/fuzz
echo "== fuzz build ($build)"
mkdir -p "$build"
if ! { cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DMAIL_FUZZ=ON -DBUILD_TESTING=OFF &&
       cmake --build "$build" --target fuzz -j "$(nproc)"; } >"$build/fuzz-build.log" 2>&1; then
  tail -40 "$build/fuzz-build.log" >&2
  echo "fuzz: the fuzz build failed (full log: $build/fuzz-build.log)" >&2
  exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
  done
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mail-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
out=$root/$build/fuzz-out   # logs and reproducers; kept after the run
mkdir -p "$out"

# The libraries are built without -fno-sanitize-recover, so UBSan must be told
# to stop at its first report for libFuzzer to count it as a crash.
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

failed=0
rows=()
echo "== fuzzing ${#targets[@]} targets, ${seconds}s each (logs in $out)"
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  if [ ! -x "$bin" ]; then
    echo "fuzz: no such target: $t" >&2
    exit 2
  fi
  corpus=$scratch/$t
  mkdir -p "$corpus"
  for dir in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
    if [ -d "$dir" ]; then
      find "$dir" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$corpus/" \;
    fi
  done
  rm -f "$out/$t"-*
  log=$out/$t.log
  status=ok
  "$bin" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$t-" >"$log" 2>&1 || status=FAILED
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rows+=("$(printf '%-22s %12s %10s  %s' "$t" "${execs:-?}" "${rate:-?}" "$status")")
  if [ "$status" != ok ]; then
    failed=1
    echo "fuzz: $t FAILED; from $log:" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*deadly signal|.*Test unit written)' "$log" >&2 || tail -20 "$log" >&2
    for repro in "$out/$t"-*; do
      [ -e "$repro" ] || continue
      echo "fuzz: reproducer: $repro" >&2
      echo "fuzz:   rerun: $bin $repro" >&2
      echo "fuzz:   keep:  mkdir -p tests/fuzz/regressions/$t && cp $repro tests/fuzz/regressions/$t/" >&2
    done
  fi
done

printf '%-22s %12s %10s  %s\n' target execs execs/s result
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
  echo "== fuzzing found problems (see above)" >&2
  exit 1
fi
echo "== fuzzing found nothing in ${seconds}s per target"
