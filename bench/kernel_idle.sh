#!/usr/bin/env bash
# bench/kernel_idle.sh: what an idle WebSocket connection costs the kernel,
# cache by cache (issue 23's "million on paper"). Starts duplex-echo (or the
# command in SERVER, which must print "... listening on HOST:PORT"), reads
# /proc/slabinfo (root only) and /proc/net/sockstat, opens CONNS idle
# connections with bench/loadgen (--mode idle), reads them again while the
# connections are held, and prints per slab cache the bytes per connection
# (active objects x object size; both ends of every loopback connection, so
# one server socket is about half), then stops everything it started.
#   bench/kernel_idle.sh                 # 15,000 connections
#   CONNS=5000 bench/kernel_idle.sh
# Needs build/bench (bench/run.sh builds it) or BUILD=dir with duplex-echo and loadgen.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/bench}
CONNS=${CONNS:-15000}
[[ -r /proc/slabinfo ]] || { echo "kernel_idle: /proc/slabinfo is not readable (root only)" >&2; exit 1; }
SERVER=${SERVER:-$BUILD/examples/duplex-echo --port 0 --quiet}
ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d)
SPID="" LPID=""
cleanup() {
  [[ -n $LPID ]] && kill "$LPID" 2>/dev/null || true
  [[ -n $SPID ]] && kill "$SPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck disable=SC2086
$SERVER >"$WORK/server.out" 2>&1 &
SPID=$!
for _ in $(seq 100); do
  PORT=$(sed -n 's/.* listening on .*:\([0-9][0-9]*\)$/\1/p' "$WORK/server.out" | head -n1)
  [[ -n $PORT ]] && break
  sleep 0.1
done
[[ -n $PORT ]] || { echo "server did not start: $(cat "$WORK/server.out")" >&2; exit 1; }
sleep 0.5
inuse() { awk '$1 == "TCP:" {for (i = 2; i < NF; i += 2) if ($i == "inuse") print $(i + 1)}' /proc/net/sockstat; }
cp /proc/slabinfo "$WORK/before"
cp /proc/net/sockstat "$WORK/sockstat.before"
base=$(inuse)
"$BUILD/bench/loadgen" --port "$PORT" --server-pid "$SPID" --mode idle --conns "$CONNS" --hold 8 >"$WORK/loadgen.out" &
LPID=$!
for _ in $(seq 600); do
  (($(inuse) >= base + 2 * CONNS)) && break
  sleep 0.1
done
sleep 1
cp /proc/slabinfo "$WORK/after"
cp /proc/net/sockstat "$WORK/sockstat.after"
wait "$LPID" || true
LPID=""
echo "loadgen: $(cat "$WORK/loadgen.out")"
echo "sockstat before: $(grep '^TCP:' "$WORK/sockstat.before")"
echo "sockstat held:   $(grep '^TCP:' "$WORK/sockstat.after")"
# name active_objs num_objs objsize ...: bytes = active_objs * objsize
printf "%-24s %8s %14s %12s\n" "slab cache" "objsize" "B per conn" "objs per conn"
(awk -v n="$CONNS" '
  FNR <= 2 { next }
  FILENAME ~ /before$/ { b[$1] = $2 * $4; next }
  { d = $2 * $4 - b[$1]; if (d > 0) { t += d; rows[$1] = d; size[$1] = $4 } }
  END {
    for (k in rows) if (rows[k] / n >= 8) printf "%-24s %8d %14.0f %12.2f\n", k, size[k], rows[k] / n, rows[k] / n / size[k]
    printf "%-24s %8s %14.0f   (both ends of each connection; caches under 8 B/conn left out of the rows, not the total)\n", "total", "", t / n
  }' "$WORK/before" "$WORK/after" | sort -k3 -n -r)
