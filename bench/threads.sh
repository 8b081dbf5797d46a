#!/usr/bin/env bash
# bench/threads.sh: one server on 1 thread against 2 threads, for a broadcast
# to $CLIENTS clients (64 B messages, 8 broadcasts in flight), as deliveries
# per second and per server CPU-second. The server is duplex_broadcast
# --threads N (duplex::server on N threads, fan-out through duplex::hub);
# rounds interleave the two.
#
#   bench/threads.sh                 # DURATION=3 ROUNDS=2 CLIENTS=1000
#
# Pinning: --threads 1 runs on core $SERVER_CPU (0) and the load generator on
# core $LOADGEN_CPU (1). --threads 2 needs both of a two-core machine's cores,
# so it shares core 1 with the load generator: its deliveries per second are
# capped by that, and per CPU-second is the fairer figure (it still pays for
# the context switches). Everything listens on 127.0.0.1; servers started here
# are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
BUILD=${BENCH_BUILD_DIR:-build/bench}
LOGS=$BUILD/threads-logs
mkdir -p "$LOGS"

log() { printf '[threads] %s\n' "$*" >&2; }
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF \
  >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; exit 1; }
cmake --build "$BUILD" -j "${BENCH_JOBS:-2}" --target bench_loadgen bench_duplex_broadcast >&2
BIN=$ROOT/$BUILD/bench
ulimit -n $((CLIENTS + 1000)) 2>/dev/null || true

SPID=""
cleanup() { [[ -z $SPID ]] || { kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; } || true; }
trap cleanup EXIT

RESULTS=$LOGS/results.jsonl
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
  for threads in 1 2; do
    if ((threads == 1)); then cpus=$SERVER_CPU; else cpus=$SERVER_CPU,$LOADGEN_CPU; fi
    out=$LOGS/server-$threads-$round.out
    taskset -c "$cpus" "$BIN/duplex_broadcast" --port 0 --threads "$threads" >"$out" 2>&1 &
    SPID=$!
    port=""
    for ((i = 0; i < 100; i++)); do
      port=$(sed -n 's/.* listening on .*:\([0-9][0-9]*\)$/\1/p' "$out" | head -n1)
      [[ -n $port ]] && break
      sleep 0.1
    done
    [[ -n $port ]] || { log "server did not start"; cat "$out" >&2; exit 1; }
    log "round $round: --threads $threads on cpus $cpus"
    line=$(taskset -c "$LOADGEN_CPU" "$BIN/loadgen" --port "$port" --mode broadcast --conns "$CLIENTS" --window 8 \
      --size 64 --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SPID")
    printf '{"threads":%d,"round":%d,"result":%s}\n' "$threads" "$round" "$line" >>"$RESULTS"
    kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
    SPID=""
  done
done

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
console.log("| threads | round | deliveries/s | server CPU % | deliveries per server CPU-s | p99 ms | lost |");
console.log("|---|---|---|---|---|---|---|");
for (const { threads, round, result: r } of rows) {
  const perCpu = r.deliveries_per_s / (r.server_cpu_pct / 100);
  console.log(`| ${threads} | ${round} | ${Math.round(r.deliveries_per_s)} | ${r.server_cpu_pct} | ${Math.round(perCpu)} | ${(r.lat_us.p99 / 1000).toFixed(1)} | ${r.lost_deliveries} |`);
}' "$RESULTS"
