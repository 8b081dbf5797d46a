#!/usr/bin/env bash
# bench/run.sh: builds the benchmarks and runs every scenario against every
# server, then prints one table and writes build/bench/results.json.
#
#   bench/run.sh                      # the whole run (a few minutes)
#   DURATION=10 bench/run.sh          # longer measured phase per scenario
#   ONLY=echo,idle bench/run.sh       # some groups: echo large broadcast idle codec
#   SERVERS=duplex,raw bench/run.sh   # some servers: duplex duplex-cb uws beast ws raw
#                                     # (duplex-cb: duplex-echo --callbacks)
#   ROUNDS=5 bench/run.sh             # rounds of each echo scenario (median reported)
#
# Servers run pinned to core $SERVER_CPU (0), the load generator to core
# $LOADGEN_CPU (1). Everything listens on 127.0.0.1, on ports the kernel
# picks; every server started here is stopped on exit. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-2}          # measured seconds per load scenario
ROUNDS=${ROUNDS:-3}              # echo/large: rounds per scenario, servers interleaved
WARMUP=${WARMUP:-0.5}            # unmeasured seconds before it
CODEC_SECONDS=${CODEC_SECONDS:-1}
IDLE_CONNS=${IDLE_CONNS:-15000}     # under the 20,000 open files per process here
IDLE_HOLD=${IDLE_HOLD:-2}
BROADCAST_CLIENTS=${BROADCAST_CLIENTS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
ONLY=${ONLY:-echo,large,broadcast,idle,codec}
SERVERS=${SERVERS:-duplex,duplex-cb,uws,beast,ws,raw}
# uWebSockets + uSockets sources (bench only, never linked into duplex); built
# in a copy under build/peers. Default: ../shared/peers beside the main checkout.
PEERS_DIR=${PEERS_DIR:-$(cd "$(git rev-parse --git-common-dir 2>/dev/null || echo .git)/../.." 2>/dev/null && pwd)/shared/peers}
BENCH_WASM=${BENCH_WASM:-auto}   # auto: build the WASM codec bench when em++ is there; 0: never
JOBS=${BENCH_JOBS:-2}
BUILD=${BENCH_BUILD_DIR:-build/bench}
WASM_BUILD=${BENCH_WASM_BUILD_DIR:-build/bench-wasm}

log() { printf '[bench] %s\n' "$*" >&2; }
# tag GROUP JSON: prints the JSON object with "group" as its first field.
tag() { printf '{"group":"%s",%s\n' "$1" "${2#\{}"; }
want() { [[ ",$1," == *",$2,"* ]]; }

# ---- build ------------------------------------------------------------------
log "building in $BUILD (Release, -j$JOBS)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF \
  >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; exit 1; }
targets=(duplex-echo bench_loadgen bench_raw_echo bench_duplex_broadcast bench_codec)
have_beast=0
if grep -q 'bench_beast_echo' "$BUILD/build.ninja"; then
  targets+=(bench_beast_echo bench_beast_broadcast)
  have_beast=1
else
  log "no Boost headers: Beast peers skipped (apt-get install libboost-dev)"
fi
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"

# uWebSockets peers: plain TCP on uSockets' epoll loop (no TLS, zlib or
# io_uring), -O3 with LTO as uSockets' Makefile builds its objects.
have_uws=0
UWS=$ROOT/build/peers
build_uws() {
  [[ -f $PEERS_DIR/uWebSockets/src/App.h && -f $PEERS_DIR/uSockets/Makefile ]] || return 1
  mkdir -p "$UWS"
  cp -ru "$PEERS_DIR/uWebSockets" "$PEERS_DIR/uSockets" "$UWS/"
  make -C "$UWS/uSockets" -j "$JOBS" >"$UWS/uSockets.log" 2>&1 || return 1
  local prog def
  for prog in echo broadcast; do
    def=0; [[ $prog == broadcast ]] && def=1
    if [[ ! -x $UWS/uws_$prog || $ROOT/bench/uws_peer.cpp -nt $UWS/uws_$prog || $UWS/uSockets/uSockets.a -nt $UWS/uws_$prog ]]; then
      g++ -O3 -flto -std=c++20 -DUWS_NO_ZLIB -DUWS_PEER_BROADCAST=$def -I"$UWS/uWebSockets/src" -I"$UWS/uSockets/src" \
        "$ROOT/bench/uws_peer.cpp" "$UWS"/uSockets/*.o -o "$UWS/uws_$prog" >"$UWS/uws_$prog.log" 2>&1 || return 1
    fi
  done
}
if want "$SERVERS" uws; then
  if build_uws; then have_uws=1; else log "uWebSockets peers not built (sources: PEERS_DIR=$PEERS_DIR; logs in $UWS)"; fi
fi

BIN=$ROOT/$BUILD/bench
ECHO_BIN=$ROOT/$BUILD/examples/duplex-echo
LOADGEN=$BIN/loadgen
"$LOADGEN" --self-test  # histogram and frame parser on known data

have_wasm=0
if want "$ONLY" codec && [[ $BENCH_WASM != 0 ]] && command -v emcmake >/dev/null &&
   [[ -f node_modules/@nozbe/simdjson/src/simdjson.h ]]; then
  log "building the WASM codec bench in $WASM_BUILD"
  if (export NODE_PATH=/usr/share/nodejs
      emcmake cmake -S bench/wasm -B "$WASM_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$WASM_BUILD" -j "$JOBS") >"$WASM_BUILD.log" 2>&1; then
    have_wasm=1
  else
    log "WASM codec bench did not build (see $WASM_BUILD.log); continuing without it"
  fi
fi
command -v node >/dev/null || { log "node is needed (ws peers, codec baseline, report)"; exit 1; }
if want "$SERVERS" ws && [[ ! -d node_modules/ws ]]; then
  log "node_modules/ws missing: run scripts/setup.sh (npm ci), or leave ws out of SERVERS"; exit 1
fi

# ---- environment --------------------------------------------------------------
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < IDLE_CONNS + 200)); then
  log "ulimit -Hn is $hard: idle scenario lowered to $((hard - 200)) connections"
  IDLE_CONNS=$((hard - 200))
fi
want_fd=$((IDLE_CONNS + BROADCAST_CLIENTS + 1000))
if [[ $hard == unlimited ]] || ((hard >= want_fd)); then ulimit -n "$want_fd"; else ulimit -n "$hard"; fi
ncpu=$(nproc)
if ((SERVER_CPU >= ncpu || LOADGEN_CPU >= ncpu)); then
  log "cores $SERVER_CPU/$LOADGEN_CPU not available ($ncpu cpus): no pinning"
  pin_server=(); pin_loadgen=()
else
  pin_server=(taskset -c "$SERVER_CPU"); pin_loadgen=(taskset -c "$LOADGEN_CPU")
fi

LOGS=$ROOT/$BUILD/logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
RESULTS=$ROOT/$BUILD/results.jsonl
: >"$RESULTS"

# ---- servers ------------------------------------------------------------------
declare -a STARTED=()  # every pid started here, killed on exit
SPID="" PORT="" SNAME="" SLOG="" SCMD=()
nstart=0

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${STARTED[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_cmd() {  # echo servers by name (kind=echo) and broadcast servers (kind=broadcast)
  local name=$1 kind=$2
  case "$kind/$name" in
    echo/duplex) SCMD=("$ECHO_BIN" --port 0 --quiet) ;;
    echo/duplex-cb) SCMD=("$ECHO_BIN" --port 0 --quiet --callbacks) ;;  # websocket_callbacks: no coroutine per connection
    echo/uws) SCMD=("$UWS/uws_echo" --port 0) ;;
    echo/beast) SCMD=("$BIN/beast_echo" --port 0) ;;
    echo/ws) SCMD=(node "$ROOT/bench/ws_echo.mjs" --port 0) ;;
    echo/raw) SCMD=("$BIN/raw_echo" --port 0) ;;
    broadcast/duplex) SCMD=("$BIN/duplex_broadcast" --port 0) ;;
    broadcast/uws) SCMD=("$UWS/uws_broadcast" --port 0) ;;
    broadcast/beast) SCMD=("$BIN/beast_broadcast" --port 0) ;;
    broadcast/ws) SCMD=(node "$ROOT/bench/ws_broadcast.mjs" --port 0) ;;
    *) return 1 ;;
  esac
}

# alive PID: running (a zombie, i.e. exited but not yet reaped, is not alive).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z ]]
}
# reachable: the server's port accepts a TCP connection.
reachable() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }

# start_server NAME KIND: sets SPID, PORT, SNAME, SLOG.
start_server() {
  local name=$1 kind=$2
  server_cmd "$name" "$kind" || return 1
  nstart=$((nstart + 1))
  SLOG=$LOGS/$nstart-$kind-$name
  SNAME=$name
  "${pin_server[@]}" "${SCMD[@]}" >"$SLOG.out" 2>"$SLOG.err" &
  SPID=$!
  STARTED+=("$SPID")
  PORT=""
  local i
  for ((i = 0; i < 100; i++)); do
    PORT=$(sed -n 's/.* listening on .*:\([0-9][0-9]*\)$/\1/p' "$SLOG.out" | head -n1)
    [[ -n $PORT ]] && break
    alive "$SPID" || break
    sleep 0.1
  done
  if [[ -z $PORT ]] || ! reachable; then
    log "$name ($kind) did not start (port '${PORT}'); stderr:"; tail -n 5 "$SLOG.err" >&2
    stop_server
    return 1
  fi
}

stop_server() {
  [[ -n $SPID ]] || return 0
  kill -TERM "$SPID" 2>/dev/null || true
  local i
  for ((i = 0; i < 30; i++)); do alive "$SPID" || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=""
}

# A server that died (or stopped listening) is reported, and restarted for
# what follows. WHEN is "during" (checked after a scenario) or "before".
check_server() {
  local group=$1 label=$2 kind=$3 when=$4
  [[ -n $SPID ]] || return 0
  local status=0 what=""
  if ! alive "$SPID"; then
    wait "$SPID" 2>/dev/null || status=$?
    what="died $when '$label' (exit status $status)"
  elif ! reachable; then
    what="is running but its port $PORT refuses connections $when '$label'"
    status=-1
  else
    return 0
  fi
  log "!! $SNAME $what; stderr tail:"
  tail -n 5 "$SLOG.err" >&2 || true
  local err
  err=$(tail -n 3 "$SLOG.err" 2>/dev/null | tr '\n"\\' '   ' | cut -c1-300)
  printf '{"group":"%s","label":"%s","server":"%s","server_died":true,"when":"%s","exit_status":%d,"server_stderr":"%s"}\n' \
    "$group" "$label" "$SNAME" "$when" "$status" "$err" >>"$RESULTS"
  stop_server
  start_server "$SNAME" "$kind" || true
}

# run_load GROUP LABEL KIND loadgen-args...: one scenario against the running server.
run_load() {
  local group=$1 label=$2 kind=$3; shift 3
  check_server "$group" "$label" "$kind" before
  [[ -n $SPID ]] || return 0
  local raw=()
  [[ $SNAME == raw ]] && raw=(--raw)
  log "$label / $SNAME"
  local out rc=0
  out=$("${pin_loadgen[@]}" "$LOADGEN" --port "$PORT" --server-pid "$SPID" --server "$SNAME" --label "$label" \
          --duration "$DURATION" --warmup "$WARMUP" "${raw[@]}" "$@" 2>>"$LOGS/loadgen.err") || rc=$?
  if [[ -n $out ]]; then
    # loadgen prints one JSON object; tag it with its group
    tag "$group" "$out" >>"$RESULTS"
  else
    printf '{"group":"%s","label":"%s","server":"%s","loadgen_failed":%d}\n' "$group" "$label" "$SNAME" "$rc" >>"$RESULTS"
  fi
  check_server "$group" "$label" "$kind" during
}

# ---- scenarios ----------------------------------------------------------------
echo_servers=()
for s in duplex duplex-cb uws beast ws raw; do
  want "$SERVERS" "$s" || continue
  [[ $s == beast && $have_beast == 0 ]] && continue
  [[ $s == uws && $have_uws == 0 ]] && continue
  echo_servers+=("$s")
done

# Echo and large: all echo servers run at once (idle ones use no CPU), and
# each scenario runs on every server back to back, ROUNDS times, the order
# reversed every other round. The VM's speed drifts over seconds to minutes;
# interleaving makes every server see the same drift, and the report takes
# the median round per server.
declare -A S_PID=() S_PORT=() S_LOG=()
select_server() { SNAME=$1; SPID=${S_PID[$1]:-}; PORT=${S_PORT[$1]:-}; SLOG=${S_LOG[$1]:-}; }
remember_server() { S_PID[$SNAME]=$SPID; S_PORT[$SNAME]=$PORT; S_LOG[$SNAME]=$SLOG; }

echo_scenarios=()
want "$ONLY" echo && echo_scenarios+=(
  "echo|echo 32B text w1|--conns 100 --window 1 --size 32"
  "echo|echo 32B text w16|--conns 100 --window 16 --size 32"
  "echo|echo 1KiB text w1|--conns 100 --window 1 --size 1024"
  "echo|echo 1KiB text w16|--conns 100 --window 16 --size 1024")
want "$ONLY" large && echo_scenarios+=(
  "large|echo 16KiB bin w4 c20|--conns 20 --window 4 --size 16384 --binary"
  "large|echo 1MiB bin w2 c4|--conns 4 --window 2 --size 1048576 --binary")
if ((${#echo_scenarios[@]})); then
  for s in "${echo_servers[@]}"; do
    if start_server "$s" echo; then remember_server; fi
  done
  for sc in "${echo_scenarios[@]}"; do
    IFS='|' read -r group label args <<<"$sc"
    read -r -a argv <<<"$args"
    order=("${echo_servers[@]}")
    for ((round = 1; round <= ROUNDS; round++)); do
      for s in "${order[@]}"; do
        select_server "$s"
        [[ -n $SPID ]] || continue
        run_load "$group" "$label" echo "${argv[@]}"
        remember_server
      done
      mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
    done
  done
  for s in "${echo_servers[@]}"; do select_server "$s"; stop_server; done
fi

if want "$ONLY" broadcast; then
  for s in "${echo_servers[@]}"; do
    [[ $s == raw ]] && continue
    start_server "$s" broadcast || continue
    run_load broadcast "broadcast 64B c$BROADCAST_CLIENTS w8" broadcast --mode broadcast \
      --conns "$BROADCAST_CLIENTS" --window 8 --size 64
    stop_server
  done
fi

if want "$ONLY" idle; then
  for s in "${echo_servers[@]}"; do
    start_server "$s" echo || continue  # a fresh process: RSS before = the server alone
    DURATION=0 run_load idle "idle c$IDLE_CONNS" echo --mode idle --conns "$IDLE_CONNS" --hold "$IDLE_HOLD"
    stop_server
  done
fi

if want "$ONLY" codec; then
  log "codec: native"
  out=$("${pin_loadgen[@]}" "$BIN/codec_bench" --seconds "$CODEC_SECONDS") &&
    tag codec "$out" >>"$RESULTS" || log "codec_bench failed"
  if ((have_wasm)); then
    log "codec: wasm"
    out=$("${pin_loadgen[@]}" node --no-experimental-fetch "$ROOT/$WASM_BUILD/codec_bench.js" --seconds "$CODEC_SECONDS") &&
      tag codec "$out" >>"$RESULTS" || log "WASM codec_bench failed"
  fi
  log "codec: node JSON"
  out=$("${pin_loadgen[@]}" node "$ROOT/bench/codec_bench.mjs" --seconds "$CODEC_SECONDS") &&
    tag codec "$out" >>"$RESULTS" || log "codec_bench.mjs failed"
fi

# ---- report -------------------------------------------------------------------
node "$ROOT/bench/report.mjs" "$RESULTS" "$ROOT/$BUILD/results.json" \
  --duration "$DURATION" --warmup "$WARMUP" --server-cpu "$SERVER_CPU" --loadgen-cpu "$LOADGEN_CPU"
