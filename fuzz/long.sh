#!/usr/bin/env bash
# Long fuzzing, beyond CI's 30 s per target: each target runs until it has
# done RUNS executions (default 10 million) or SECONDS_MAX passed (default
# 4 hours), starting from its seed corpus in fuzz/corpus/<target>; new inputs
# that add coverage are merged back into fuzz/corpus/<target> (commit them),
# and one line per target reports executions, exec/s and coverage (libFuzzer's
# cov: edges and ft: features at the end).
#   fuzz/long.sh                      # all four targets
#   RUNS=1000000 fuzz/long.sh transport
# Runs one target at a time, one worker (the machine has 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10000000}
max_time=${SECONDS_MAX:-14400}
targets=("${@:-frame http schema transport}")
read -r -a targets <<<"${targets[*]}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${DUPLEX_JOBS:-2}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-10s %12s %9s %8s %8s %s\n' target executions exec/s cov ft seconds
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz/${t}_fuzz
  mkdir -p "$work/$t"
  start=$(date +%s)
  # -max_len as in CI (fuzz/CMakeLists.txt); crashes land in $work/$t-crash-*.
  "$bin" "$work/$t" "fuzz/corpus/$t" -runs="$runs" -max_total_time="$max_time" -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1 || {
    echo "$t: FAILED (see below)"; tail -40 "$work/$t.log"; exit 1; }
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "$work/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  printf '%-10s %12s %9s %8s %8s %s\n' "$t" "$execs" "$(( execs / (secs > 0 ? secs : 1) ))" "$cov" "$ft" "$secs"
  # Keep only what adds coverage to the committed corpus.
  "$bin" -merge=1 "fuzz/corpus/$t" "$work/$t" -max_len=4096 >/dev/null 2>&1
done
