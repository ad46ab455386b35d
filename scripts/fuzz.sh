#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS each (default 60), one after the
# other, on the stable toolchain, and fails if any of them finds a crash. Prints the executions
# per second and the total executions of each target.
#
#   scripts/fuzz.sh                         # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh config # one target, 10 minutes
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_SANITIZER  none (default: builds on stable) or address (AddressSanitizer: needs
#                   nightly flags, allowed on stable with RUSTC_BOOTSTRAP=1, which this sets;
#                   about 10x slower)
#   FUZZ_JOBS       libFuzzer worker processes per target (default 1; see fuzz/README.md)
#
# Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) if it is missing. The working
# corpus of each target is fuzz/corpus/TARGET: the committed seed-* files plus what libFuzzer
# adds (ignored by git). A crash leaves its input in fuzz/artifacts/TARGET/ and the log tail
# on stderr; fuzz/README.md says how to reproduce and minimise it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"
all_targets=(parse_advert router_inputs checksum config)
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> cargo install cargo-fuzz --locked"
  cargo install cargo-fuzz --locked
fi

build_env=()
if [ "$sanitizer" != none ]; then
  build_env=(env RUSTC_BOOTSTRAP=1)
fi

echo "==> cargo fuzz build -s $sanitizer ${targets[*]}"
for t in "${targets[@]}"; do
  "${build_env[@]}" cargo fuzz build -s "$sanitizer" "$t"
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A runs speed status
failed=0
for t in "${targets[@]}"; do
  echo "==> $t: ${seconds} s"
  mkdir -p "corpus/$t"
  log="$logs/$t.log"
  args=(-max_total_time="$seconds" -print_final_stats=1 -max_len=4200 -timeout=30)
  fork=()
  if [ "$jobs" -gt 1 ]; then
    fork=(--jobs "$jobs")
  fi
  if "${build_env[@]}" cargo fuzz run -s "$sanitizer" "${fork[@]}" "$t" "corpus/$t" -- \
    "${args[@]}" >"$log" 2>&1; then
    status[$t]=ok
  else
    status[$t]="FAILED (exit $?)"
    failed=1
    echo "--- $t: last lines of the log" >&2
    tail -n 60 "$log" >&2
    ls -1 "artifacts/$t" 2>/dev/null | sed "s|^|    artifacts/$t/|" >&2 || true
  fi
  # Single process: libFuzzer's final stats. Fork mode (--jobs): the last status line.
  runs[$t]=$(awk '/stat::number_of_executed_units/ {n=$2} END {print n}' "$log")
  speed[$t]=$(awk '/stat::average_exec_per_sec/ {n=$2} END {print n}' "$log")
  if [ -z "${runs[$t]}" ]; then
    runs[$t]=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
    if [ -n "${runs[$t]}" ]; then
      speed[$t]=$((runs[$t] / seconds))
    fi
  fi
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}' || true)
  corpus=$(find "corpus/$t" -type f | wc -l)
  echo "    ${status[$t]}: ${runs[$t]:-?} runs, ${speed[$t]:-?} execs/s, coverage ${cov:-?}, corpus $corpus files"
done

echo
printf '%-14s %8s %14s %12s  %s\n' target seconds "total execs" "execs/s" result
for t in "${targets[@]}"; do
  printf '%-14s %8s %14s %12s  %s\n' "$t" "$seconds" "${runs[$t]:-?}" "${speed[$t]:-?}" "${status[$t]}"
done
exit "$failed"
