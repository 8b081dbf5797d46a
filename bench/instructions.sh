#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per echoed message, counted
# by callgrind, for duplex-echo, the uWebSockets echo and the raw TCP echo. Unlike messages per
# second, an instruction count barely moves with the machine's speed, so it
# shows what a change to the hot path bought even on a noisy VM.
#
#   bench/instructions.sh               # 32 B text, 100 connections, window 16
#   SIZE=1024 WINDOW=1 bench/instructions.sh
#   SERVERS=duplex,uws bench/instructions.sh   # some of: duplex duplex-cb uws raw
#                                              # (duplex-cb: duplex-echo --callbacks)
#   MODE=broadcast bench/instructions.sh   # per delivery: the broadcast servers,
#                                          # 64 B, CONNS=1000 receivers, window 8
#
# Each server runs under callgrind twice, loaded for SHORT and then LONG
# seconds; the difference of the two totals divided by the difference of the
# messages echoed leaves out start-up and the handshakes. Needs valgrind and
# the binaries bench/run.sh builds (build/bench).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-echo}
if [[ $MODE == broadcast ]]; then
  SIZE=${SIZE:-64} WINDOW=${WINDOW:-8} CONNS=${CONNS:-1000}
else
  SIZE=${SIZE:-32} WINDOW=${WINDOW:-16} CONNS=${CONNS:-100}
fi
SHORT=${SHORT:-2}
LONG=${LONG:-5}
SERVERS=${SERVERS:-duplex,uws,raw}
BUILD=${BENCH_BUILD_DIR:-build/bench}
LOADGEN=$BUILD/bench/loadgen
OUT=$BUILD/callgrind
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
[[ -x $LOADGEN && -x $BUILD/examples/duplex-echo ]] || { echo "instructions.sh: run bench/run.sh first (builds $BUILD)" >&2; exit 1; }
mkdir -p "$OUT"
pin_server=() pin_loadgen=()
if (($(nproc) >= 2)); then pin_server=(taskset -c 0); pin_loadgen=(taskset -c 1); fi

declare -A CMD=(
  [duplex]="$BUILD/examples/duplex-echo --quiet --port 0"
  [duplex-cb]="$BUILD/examples/duplex-echo --quiet --port 0 --callbacks"
  [uws]="build/peers/uws_echo --port 0"
  [raw]="$BUILD/bench/raw_echo --port 0"
)
mode_args=()
if [[ $MODE == broadcast ]]; then
  CMD=([duplex]="$BUILD/bench/duplex_broadcast --port 0" [uws]="build/peers/uws_broadcast --port 0")
  mode_args=(--mode broadcast)
  ulimit -n "$(ulimit -Hn)"
fi
for name in ${SERVERS//,/ }; do
  [[ -n ${CMD[$name]:-} ]] || { echo "instructions.sh: no $MODE server '$name': skipped" >&2; continue; }
  if [[ $name == uws && ! -x ${CMD[uws]%% *} ]]; then
    echo "instructions.sh: no ${CMD[uws]%% *} (bench/run.sh builds it): skipped" >&2
    continue
  fi
  totals=()
  for secs in "$SHORT" "$LONG"; do
    log=$OUT/$MODE-$name-$secs.log
    # shellcheck disable=SC2086  # CMD holds a command line
    "${pin_server[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT/$MODE-$name-$secs.out" ${CMD[$name]} >"$log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 100); do
      port=$(sed -n 's/.* listening on .*:\([0-9][0-9]*\)$/\1/p' "$log" | head -n1)
      [[ -n $port ]] && break
      sleep 0.1
    done
    [[ -n $port ]] || { echo "instructions.sh: $name did not start (see $log)" >&2; kill "$pid"; exit 1; }
    raw=()
    [[ $name == raw ]] && raw=(--raw)
    result=$("${pin_loadgen[@]}" "$LOADGEN" --port "$port" "${raw[@]}" "${mode_args[@]}" --conns "$CONNS" --window "$WINDOW" \
               --size "$SIZE" --duration "$secs" --warmup 0 2>/dev/null)
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    messages=$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' <<<"$result")
    ir=$(callgrind_annotate "$OUT/$MODE-$name-$secs.out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    totals+=("$messages" "$ir")
  done
  awk -v n="$name" -v m1="${totals[0]}" -v i1="${totals[1]}" -v m2="${totals[2]}" -v i2="${totals[3]}" \
    -v s="$SIZE" -v w="$WINDOW" 'BEGIN {
      printf "%-7s %s B, window %s: %.0f instructions per message out (%d more messages, %.0f more instructions)\n",
             n, s, w, (i2 - i1) / (m2 - m1), m2 - m1, i2 - i1 }'
done
echo "callgrind profiles: $OUT (callgrind_annotate $OUT/$MODE-duplex-$LONG.out)"
