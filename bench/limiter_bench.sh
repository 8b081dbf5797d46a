#!/usr/bin/env bash
# bench/limiter_bench.sh: what the per-connection receive rate limit costs
# (issue 20: under 3 % per message), and handshakes per second with and
# without JWT verification.
#
#   bench/limiter_bench.sh                      # echo + handshake (about 4 minutes)
#   ONLY=echo bench/limiter_bench.sh            # one part: echo, instructions, handshake
#   ROUNDS=9 DURATION=3 bench/limiter_bench.sh
#   BASE_ECHO=/path/to/old/duplex-echo bench/limiter_bench.sh   # also a build without the limiter
#
# echo: three servers at once, all pinned to core $SERVER_CPU:
#   on       bench/limiter_echo --limit on: the library's message bucket plus
#            a byte bucket that never refuses (every message pays both checks)
#   default  examples/duplex-echo as shipped: the library's defaults (the
#            message bucket on, bytes unlimited)
#   off      bench/limiter_echo --limit off: both rates 0
# plus BASE_ECHO when given (examples/duplex-echo built from a commit
# before the limiter: the same handler and options). bench/loadgen
# (core $LOADGEN_CPU) runs each scenario on every server back to back,
# ROUNDS times, in reversed order every other round, so all see the same
# drift of this machine. The table gives each server's median round:
# messages/s, and messages per server CPU-second, the figure to read (the
# load generator sets the pace in most rows); then the per-round ratios.
# The limiter servers print how many messages they refused (must be 0).
#
# instructions (needs valgrind; not in the default ONLY): the same servers
# under callgrind, two runs each (INSTR_SHORT and INSTR_LONG seconds of the
# scenario); instructions per echoed message = the difference in
# instructions over the difference in messages (calls of websocket::post),
# so start-up and connection set-up cancel out. Deterministic to about
# 0.5 %, unlike the wall clock on a shared machine.
#
# handshake: bench/handshake_bench (see its top comment).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-2}
WARMUP=${WARMUP:-0.5}
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-echo,handshake}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
HANDSHAKE_CONNS=${HANDSHAKE_CONNS:-16}
HANDSHAKE_SECONDS=${HANDSHAKE_SECONDS:-0.5}  # per row and round: short rows, many rounds
HANDSHAKE_ROUNDS=${HANDSHAKE_ROUNDS:-20}
# size:window:conns per echo scenario
SCENARIOS=${SCENARIOS:-"32:16:100 32:1:100 1024:16:100"}
INSTR_SCENARIOS=${INSTR_SCENARIOS:-"32:16:100 32:1:10"}
INSTR_SHORT=${INSTR_SHORT:-2}
INSTR_LONG=${INSTR_LONG:-6}
BASE_ECHO=${BASE_ECHO:-}
BUILD=${BENCH_BUILD_DIR:-build/bench-limiter}
JOBS=${BENCH_JOBS:-2}

log() { printf '[limiter] %s\n' "$*" >&2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

log "building in $BUILD (Release, -j$JOBS)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF \
  >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; exit 1; }
cmake --build "$BUILD" -j "$JOBS" --target bench_limiter_echo bench_loadgen bench_handshake duplex-echo >&2
BIN=$ROOT/$BUILD/bench
pin_server=(taskset -c "$SERVER_CPU")
pin_loadgen=(taskset -c "$LOADGEN_CPU")
if ((SERVER_CPU >= $(nproc) || LOADGEN_CPU >= $(nproc))); then pin_server=(); pin_loadgen=(); fi
OUT=$ROOT/$BUILD/limiter
mkdir -p "$OUT"

# The servers: name -> command (all take --port 0 and print "listening on HOST:PORT").
NAMES=(on default off)
declare -A CMD
CMD[on]="$BIN/limiter_echo --limit on"
CMD[default]="$ROOT/$BUILD/examples/duplex-echo --quiet"  # as shipped: the library's defaults
CMD[off]="$BIN/limiter_echo --limit off"
if [[ -n $BASE_ECHO ]]; then
  [[ -x $BASE_ECHO ]] || { log "BASE_ECHO=$BASE_ECHO is not an executable"; exit 1; }
  NAMES+=(base)
  CMD[base]="$BASE_ECHO --quiet"
fi

declare -a STARTED=()
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.3
  for pid in "${STARTED[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME [PREFIX...]: starts the server in the background; sets SPID, SPORT.
start() {
  local name=$1
  shift
  # shellcheck disable=SC2086
  "$@" ${CMD[$name]} --port 0 >"$OUT/$name.out" 2>"$OUT/$name.err" &
  SPID=$!
  STARTED+=("$SPID")
  SPORT=
  for _ in $(seq 200); do
    SPORT=$(sed -n 's/.* listening on .*:\([0-9][0-9]*\)$/\1/p' "$OUT/$name.out" | head -n1)
    [[ -n $SPORT ]] && return 0
    sleep 0.05
  done
  log "$name did not start"
  cat "$OUT/$name.err" >&2
  exit 1
}

if want echo; then
  declare -A PORT PID
  for name in "${NAMES[@]}"; do
    start "$name" "${pin_server[@]}"
    PID[$name]=$SPID
    PORT[$name]=$SPORT
  done
  RESULTS=$OUT/results.jsonl
  : >"$RESULTS"
  for ((round = 1; round <= ROUNDS; round++)); do
    order=("${NAMES[@]}")
    if ((round % 2 == 0)); then
      order=()
      for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do order+=("${NAMES[i]}"); done
    fi
    for sc in $SCENARIOS; do
      IFS=: read -r size window conns <<<"$sc"
      for name in "${order[@]}"; do
        line=$("${pin_loadgen[@]}" "$BIN/loadgen" --port "${PORT[$name]}" --conns "$conns" --window "$window" \
          --size "$size" --duration "$DURATION" --warmup "$WARMUP" --server-pid "${PID[$name]}" \
          --server "$name" --label "echo ${size}B w$window c$conns" 2>>"$OUT/loadgen.err")
        printf '{"round":%d,%s\n' "$round" "${line#\{}" >>"$RESULTS"
        log "round $round ${size}B w$window $name: $(sed -n 's/.*"msgs_per_s":\([0-9.]*\).*"server_cpu_pct":\([0-9.]*\).*/\1 msg\/s, server cpu \2 %/p' <<<"$line")"
      done
    done
  done
  for name in "${NAMES[@]}"; do kill -TERM "${PID[$name]}"; wait "${PID[$name]}" 2>/dev/null || true; done
  echo
  echo "Echo, the receive rate limiter on and off$([[ -n $BASE_ECHO ]] && echo ", and base: $BASE_ECHO") ($ROUNDS rounds of ${DURATION} s, medians; $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)):"
  echo
  python3 - "$RESULTS" "${NAMES[@]}" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = sys.argv[2:]
labels = []
for r in rows:
    if r["label"] not in labels: labels.append(r["label"])
per_cpu = lambda r: r["msgs_per_s"] / (r["server_cpu_pct"] / 100) if r.get("server_cpu_pct") else None
others = [n for n in names if n != "off"]
head = ("| scenario | " + " | ".join(f"{n} msg/s | {n} msg per server CPU-s" for n in names) + " | " +
        " | ".join(f"{n}/off per CPU-s" for n in others) + " |")
if "base" in names: head += " on/base | default/base | off/base |"
print(head)
print("|---" * (head.count("|") - 1) + "|")
for label in labels:
    fig, errors = {}, 0
    for n in names:
        rs = [r for r in rows if r["label"] == label and r["server"] == n]
        errors += sum(sum(r["errors"].values()) for r in rs) + sum(1 for r in rs if r["timed_out"])
        fig[n] = (statistics.median(r["msgs_per_s"] for r in rs), statistics.median(x for x in map(per_cpu, rs) if x))
    line = f"| {label} | " + " | ".join(f"{fig[n][0]:,.0f} | {fig[n][1]:,.0f}" for n in names)
    line += " | " + " | ".join(f"{fig[n][1] / fig['off'][1]:.3f}" for n in others) + " |"
    if "base" in names: line += "".join(f" {fig[n][1] / fig['base'][1]:.3f} |" for n in ("on", "default", "off"))
    print(line + (f" errors: {errors}" if errors else ""))
print()
# Paired within each round (the servers ran back to back): the median of the ratios.
pairs = [("on", "off"), ("default", "off")] + ([("on", "base"), ("default", "base"), ("off", "base")] if "base" in names else [])
for label in labels:
    for a, b in pairs:
        ratios = []
        for rnd in sorted({r["round"] for r in rows}):
            pair = {r["server"]: r for r in rows if r["label"] == label and r["round"] == rnd}
            if per_cpu(pair.get(a, {})) and per_cpu(pair.get(b, {})):
                ratios.append(per_cpu(pair[a]) / per_cpu(pair[b]))
        if ratios:
            print(f"{label}: {a}/{b} messages per server CPU-s, by round: " + ", ".join(f"{x:.3f}" for x in ratios) +
                  f" (median {statistics.median(ratios):.3f})")
EOF
  echo
  echo "refused by the limiter servers (must be 0): on: $(cat "$OUT/on.err"); off: $(cat "$OUT/off.err")"
fi

if want instructions; then
  command -v valgrind >/dev/null || { log "valgrind is needed for ONLY=instructions"; exit 1; }
  # Instructions (summary) and echoed messages (calls of websocket::post) of one callgrind output.
  count() {
    python3 - "$1" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
ids = {m.group(1) for l in lines if (m := re.match(r"c?fn=\((\d+)\) duplex::websocket::post\(std::basic_string_view", l))}
calls = sum(int(lines[i + 1].split("=")[1].split()[0]) for i, l in enumerate(lines)
            if (m := re.match(r"cfn=\((\d+)\)", l)) and m.group(1) in ids)
total = next(int(l.split()[1]) for l in lines if l.startswith(("summary:", "totals:")))
print(total, calls)
EOF
  }
  # The instructions (self) in the functions the limiter touches: the read
  # loop (where the per-message check is inlined), refill() and admit_slow().
  # Unlike the total they hardly depend on how the messages were batched.
  read_path() {
    callgrind_annotate --threshold=100 "$1" 2>/dev/null | python3 -c '
import re, sys
n = 0
for l in sys.stdin:
    m = re.match(r"\s*([\d,]+) ", l)
    if m and re.search(r"session::(read_messages|refill|admit_slow)", l):
        n += int(m.group(1).replace(",", ""))
print(n)'
  }
  RPLINES=()
  echo
  echo "Instructions per echoed message under callgrind ($((INSTR_LONG - INSTR_SHORT)) s of difference between a ${INSTR_SHORT} s and a ${INSTR_LONG} s run; $(git rev-parse --short HEAD)):"
  echo
  echo "| scenario | $(printf '%s | ' "${NAMES[@]}")on/off | default/off | $([[ -n $BASE_ECHO ]] && echo 'on/base | default/base | off/base |')"
  echo "|---|$(printf -- '---|%.0s' "${NAMES[@]}")---|---|$([[ -n $BASE_ECHO ]] && echo '---|---|---|')"
  for sc in $INSTR_SCENARIOS; do
    IFS=: read -r size window conns <<<"$sc"
    declare -A IR=() RP=()
    RPLINE=""
    for name in "${NAMES[@]}"; do
      res=()
      for secs in "$INSTR_SHORT" "$INSTR_LONG"; do
        start "$name" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$name.$secs"
        "$BIN/loadgen" --port "$SPORT" --conns "$conns" --window "$window" --size "$size" --duration "$secs" \
          --warmup 0.5 >/dev/null 2>>"$OUT/loadgen.err"
        kill -TERM "$SPID"
        wait "$SPID" 2>/dev/null || true
        read -r ir msgs < <(count "$OUT/callgrind.$name.$secs")
        res+=("$ir" "$msgs" "$(read_path "$OUT/callgrind.$name.$secs")")
      done
      IR[$name]=$(python3 -c "print('%.1f' % ((${res[3]} - ${res[0]}) / (${res[4]} - ${res[1]})))")
      RP[$name]=$(python3 -c "print('%.1f' % ((${res[5]} - ${res[2]}) / (${res[4]} - ${res[1]})))")
      log "${size}B w$window c$conns $name: ${IR[$name]} instructions per message, ${RP[$name]} in the read loop"
      RPLINE+="$name ${RP[$name]}, "
    done
    line="| echo ${size}B w$window c$conns | "
    for name in "${NAMES[@]}"; do line+="${IR[$name]} | "; done
    line+="$(python3 -c "print('%.3f | %.3f' % (${IR[on]} / ${IR[off]}, ${IR[default]} / ${IR[off]}))") |"
    if [[ -n $BASE_ECHO ]]; then
      line+=" $(python3 -c "print('%.3f | %.3f | %.3f' % (${IR[on]} / ${IR[base]}, ${IR[default]} / ${IR[base]}, ${IR[off]} / ${IR[base]}))") |"
    fi
    echo "$line"
    RPLINES+=("echo ${size}B w$window c$conns, instructions per message in the read loop (read_messages, refill, admit_slow): ${RPLINE%, }")
  done
  echo
  printf '%s\n' "${RPLINES[@]}"
fi

if want handshake; then
  echo
  "$BIN/handshake_bench" --seconds "$HANDSHAKE_SECONDS" --warmup 0.1 --rounds "$HANDSHAKE_ROUNDS" --conns "$HANDSHAKE_CONNS" \
    --server-cpu "$SERVER_CPU" --client-cpu "$LOADGEN_CPU" 2>"$OUT/handshake.err"
fi
