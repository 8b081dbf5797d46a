#!/usr/bin/env bash
# bench/cluster_bench.sh: issue 12's benchmarks of duplex-chat, one run each,
# printed as Markdown tables.
#
#   cluster  broadcast to $CLIENTS (1000) members of one room: all on one
#            instance with --memory, all on one instance with --redis, and
#            split evenly over two instances sharing a redis-server.
#            Deliveries per second and the latency of a line from its send
#            to each member's receipt (p50, p99), in the same run.
#   threads  one instance (--memory) at --threads 1 and --threads 2:
#            deliveries per second and per server CPU-second.
#
#   bench/cluster_bench.sh [cluster] [threads]     # both by default
#   env: CLIENTS (1000), FANOUT (5 s of fan-out per setup), WINDOW (8 lines in
#        flight), SERVER_CPU (0), LOADGEN_CPU (1), BUILD (build/bench)
#
# Load: bench/chat_storm (one thread) joins the members (client i to the
# (i mod n)-th instance), then one member keeps WINDOW lines in flight for
# FANOUT seconds (a line is done when it is back at its sender).
# Pinning (taskset), for a two-core machine: every duplex-chat instance
# (--threads 1) runs on core SERVER_CPU, the load generator and redis-server
# on core LOADGEN_CPU. So two instances share one core: the split figure is
# the cost of going through Redis for the same server CPU, not added
# capacity. --threads 2 needs both cores, so it shares LOADGEN_CPU with the
# load generator: per server CPU-second is the fairer figure. Everything
# listens on 127.0.0.1; what this starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/bench}
CLIENTS=${CLIENTS:-1000}
FANOUT=${FANOUT:-5}
WINDOW=${WINDOW:-8}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
WANT=" ${*:-cluster threads} "

if [[ -f $BUILD/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD" -DDUPLEX_BUILD_BENCH=ON >/dev/null
else
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j "${BENCH_JOBS:-2}" --target duplex-chat bench_chat_storm >&2
CHAT=$BUILD/server/duplex-chat
STORM=$BUILD/bench/chat_storm
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n $((CLIENTS * 2 + 1000)) 2>/dev/null || true

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

source bench/start_chat.sh
# chat LOG CPUS ARGS...: a duplex-chat pinned to CPUS on a free port; sets PORT, PID.
chat() {
  local log=$1 cpus=$2; shift 2
  # Flood control (--line-rate, issue 20) off: the load is far faster than a person.
  start_chat "$log" taskset -c "$cpus" "$CHAT" --line-rate 0 "$@"
  PIDS+=("$PID")
}
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# storm ROOM URLS... -- PIDS...: the fan-out, one JSON line.
storm() {
  local room=$1; shift
  local args=()
  while [[ $1 != -- ]]; do args+=(--url "$1"); shift; done
  shift
  for p in "$@"; do args+=(--cpu-pid "$p"); done
  taskset -c "$LOADGEN_CPU" "$STORM" "${args[@]}" --clients "$CLIENTS" --subprotocol duplex.chat.v2 \
    --join '{"type":"join","name":"u%d","room":"'"$room"'"}' --fanout "$FANOUT" --window "$WINDOW"
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
row() { printf '{"part":"%s","setup":"%s","result":%s}\n' "$1" "$2" "$3" >>"$RESULTS"; }

if [[ $WANT == *" cluster "* ]]; then
  RPORT=$(free_port)
  taskset -c "$LOADGEN_CPU" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no \
    --loglevel warning >"$WORK/redis.log" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS=redis://127.0.0.1:$RPORT

  echo "[cluster] one instance, --memory" >&2
  chat "$WORK/memory.log" "$SERVER_CPU" --memory --threads 1
  row cluster "1 instance, --memory" "$(storm memory "ws://127.0.0.1:$PORT/ws/chat" -- "$PID")"
  stop_all

  echo "[cluster] one instance, --redis" >&2
  chat "$WORK/one.log" "$SERVER_CPU" --redis "$REDIS" --instance one --threads 1
  row cluster "1 instance, --redis" "$(storm one "ws://127.0.0.1:$PORT/ws/chat" -- "$PID" "$RPID")"
  stop_all

  echo "[cluster] two instances, --redis" >&2
  chat "$WORK/a.log" "$SERVER_CPU" --redis "$REDIS" --instance a --threads 1
  APORT=$PORT APID=$PID
  chat "$WORK/b.log" "$SERVER_CPU" --redis "$REDIS" --instance b --threads 1
  row cluster "2 instances, --redis" "$(storm two "ws://127.0.0.1:$APORT/ws/chat" "ws://127.0.0.1:$PORT/ws/chat" \
    -- "$APID" "$PID" "$RPID")"
  stop_all
  kill "$RPID"; wait "$RPID" 2>/dev/null || true
fi

if [[ $WANT == *" threads "* ]]; then
  for threads in 1 2; do
    if ((threads == 1)); then cpus=$SERVER_CPU; else cpus=$SERVER_CPU,$LOADGEN_CPU; fi
    echo "[threads] --threads $threads on cpus $cpus" >&2
    chat "$WORK/threads-$threads.log" "$cpus" --memory --threads "$threads"
    row threads "--threads $threads (cpus $cpus)" "$(storm "t$threads" "ws://127.0.0.1:$PORT/ws/chat" -- "$PID")"
    stop_all
  done
fi

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
const part = (name, head, cells) => {
  const mine = rows.filter((r) => r.part === name);
  if (!mine.length) return;
  console.log("\n| " + head.join(" | ") + " |\n|" + head.map(() => "---").join("|") + "|");
  for (const r of mine) console.log("| " + cells(r.setup, r.result).join(" | ") + " |");
};
const chatCpu = (r, n) => r.cpu_s.slice(0, n).reduce((a, b) => a + b, 0);
part("cluster", ["setup", "members", "deliveries/s", "p50 ms", "p99 ms", "duplex-chat CPU-s", "deliveries per duplex-chat CPU-s", "redis-server CPU-s", "closed"],
  (setup, r) => {
    const n = setup.startsWith("2") ? 2 : 1;
    return [setup, r.joined, Math.round(r.fanout_deliveries_per_s), r.fanout_p50_ms.toFixed(1), r.fanout_p99_ms.toFixed(1),
      chatCpu(r, n).toFixed(2), Math.round(r.fanout_deliveries / chatCpu(r, n)),
      r.cpu_s.length > n ? r.cpu_s[n].toFixed(2) : "-", r.closed];
  });
part("threads", ["setup", "members", "deliveries/s", "server CPU-s", "deliveries per server CPU-s", "p99 ms", "closed"],
  (setup, r) => [setup, r.joined, Math.round(r.fanout_deliveries_per_s), r.cpu_s[0].toFixed(2),
    Math.round(r.fanout_deliveries / r.cpu_s[0]), r.fanout_p99_ms.toFixed(1), r.closed]);
' "$RESULTS"
