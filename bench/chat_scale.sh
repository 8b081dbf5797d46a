#!/usr/bin/env bash
# bench/chat_scale.sh: the chat at scale on one machine (issue 23).
#
# Starts `duplex-chat --memory` on 127.0.0.1 (a port the kernel picks), then
# PROCS client processes (bench/chat_scale.cpp; each holds MEMBERS/PROCS
# connections, far under the 20,000 open files a process may have here) join
# MEMBERS members across ROOMS rooms: one room "big" of BIG members, the rest
# spread evenly over the other ROOMS-1 rooms. Every room is spread over all
# the client processes. Reports:
#   rss_per_member   server VmRSS after every join has settled minus VmRSS of
#                    the fresh server, divided by the members
#   kernel           system-wide /proc/net/sockstat TCP mem and /proc/meminfo
#                    Slab, same two moments (both ends of every connection)
#   big_join_s       the big room's BIG members join first (every process
#                    at once): from the first process starting to the last
#                    "joined" answer; round 0 of the broadcast is a line said
#                    right then, behind the presence diffs that trail the
#                    storm; big_settle_s: from the last join to the last byte
#                    before QUIET_MS of silence; big_bytes_per_member: what
#                    each member of the big room received up to then
#   rest_join_s      then the other members, into the other rooms; join_s is
#                    the sum (the pause between the two is not counted);
#                    settle_s: from the last join until the last byte
#   broadcast        round 0 (above), then ROUNDS lines said into the big
#                    room once all MEMBERS are in, one at a time, each after
#                    every client has gone quiet: delivery latency from the
#                    send (CLOCK_MONOTONIC in the sender's process) to each
#                    member's receipt (the same clock in its process):
#                    p50/p99/max over the members, per round
#   idle             IDLE_S seconds with nothing said: server CPU seconds
#                    (/proc/PID/stat utime+stime) and bytes the members
#                    received, beside the same IDLE_S on the fresh server
# The server is stopped at the end; every process started here is killed on exit.
#
#   bench/chat_scale.sh                  # 15,000 members, 100 rooms, big = 5,000
#   MEMBERS=3000 BIG=1000 bench/chat_scale.sh
# Env: MEMBERS (15000) BIG (5000) ROOMS (100) PROCS (3) CONCURRENCY (64 joins
# in flight per client process) ROUNDS (3) IDLE_S (10) QUIET_MS (1000)
# THREADS (server --threads; default: the server's default, the cores)
# REDIS=1: the server(s) run with --redis on a redis-server started here (not
#   --memory), and the idle period also reports what Redis did: commands by
#   name (INFO commandstats, the scripts' own calls included), bytes in and
#   out, its CPU; INSTANCES=N (REDIS=1 only): N duplex-chat instances, member
#   k of a client process on instance k mod N (every room on every instance).
#   Presence is refreshed every --presence-ttl/3 (10 s): use IDLE_S=30 or more.
# PERF=1: perf record (DWARF call graphs) the first server during the idle
#   period, the profile with callers in $BUILD/chat_scale_idle_perf.txt
#   (perf's own sampling adds a little CPU)
# SUBPROTOCOL (duplex.chat.v2): what the members speak; duplex.chat.v5 gets
#   the bounded presence of rooms over the server's --presence-full-limit
# SERVER_ARGS: more duplex-chat flags (e.g. "--presence-full-limit 0")
# BUILD (build/bench, Release; an existing build dir gets DUPLEX_BUILD_BENCH=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/bench}
MEMBERS=${MEMBERS:-15000}
BIG=${BIG:-5000}
ROOMS=${ROOMS:-100}
PROCS=${PROCS:-3}
CONCURRENCY=${CONCURRENCY:-64}
ROUNDS=${ROUNDS:-3}
IDLE_S=${IDLE_S:-10}
QUIET_MS=${QUIET_MS:-1000}
THREADS=${THREADS:-}
PERF=${PERF:-0}
REDIS=${REDIS:-0}
INSTANCES=${INSTANCES:-1}
((INSTANCES == 1 || REDIS == 1)) || { echo "chat_scale: INSTANCES > 1 needs REDIS=1" >&2; exit 2; }
JOIN_TIMEOUT=${JOIN_TIMEOUT:-900}
SUBPROTOCOL=${SUBPROTOCOL:-duplex.chat.v2}
read -r -a SERVER_ARGS <<<"${SERVER_ARGS:-}"

log() { printf '[chat_scale] %s\n' "$*" >&2; }

if [[ -f $BUILD/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD" -DDUPLEX_BUILD_BENCH=ON >/dev/null
else
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" --target duplex-chat bench_chat_scale >/dev/null
CHAT=$BUILD/server/duplex-chat
SCALE=$BUILD/bench/chat_scale

hard=$(ulimit -Hn)
per_proc=$(((MEMBERS + PROCS - 1) / PROCS + 100))
if [[ $hard != unlimited ]] && ((hard < MEMBERS + 200 || hard < per_proc)); then
  log "ulimit -Hn is $hard: the server needs $((MEMBERS + 200)) open files"; exit 1
fi
ulimit -n "$hard"

WORK=$(mktemp -d)
SPIDS=()   # duplex-chat instances
RPID=""    # redis-server
CLIENTS=()
FDS=()
cleanup() {
  local p
  for p in "${CLIENTS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${SPIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [[ -n $RPID ]] && kill -KILL "$RPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source bench/start_chat.sh  # start_chat LOG COMMAND...: sets PID and PORT

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# utime+stime in clock ticks (fields 14 and 15 of /proc/PID/stat; the name
# in parentheses may hold spaces, so count from after the last ')')
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)
sum_rss() { local p s=0; for p in "${SPIDS[@]}"; do s=$((s + $(rss_kb "$p"))); done; echo "$s"; }
sum_cpu() { local p s=0; for p in "${SPIDS[@]}"; do s=$((s + $(cpu_ticks "$p"))); done; echo "$s"; }
sum_wakeups() { local p s=0; for p in "${SPIDS[@]}"; do s=$((s + $(wakeups "$p"))); done; echo "$s"; }
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}
# redis_info: INFO stats, cpu and commandstats as KEY=VALUE lines
redis_info() { redis-cli -p "$RPORT" info all | tr -d '\r' | grep -E '^(total_commands_processed|total_net_input_bytes|total_net_output_bytes|used_cpu_sys|used_cpu_user|used_memory|cmdstat_[a-z]+):'; }
sockstat_mem() { awk '$1 == "TCP:" {for (i = 2; i < NF; i += 2) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat; }
sockstat_inuse() { awk '$1 == "TCP:" {for (i = 2; i < NF; i += 2) if ($i == "inuse") print $(i + 1)}' /proc/net/sockstat; }
# voluntary context switches of all the server's threads: how often it wakes up
wakeups() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches:/ {s += $2} END {print s}'; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
now_s() { date +%s.%N; }
# json FIELD FILE...: the last value of "FIELD" in each file's last line holding it
field() { local f=$1; shift; grep -ho "\"$f\":[-0-9.]*" "$@" | cut -d: -f2; }

# alive PID: running (an exited child not yet waited for is a zombie: not alive)
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1); [[ -n $st && $st != Z ]]; }
send_all() { local fd; for fd in "${FDS[@]}"; do printf '%s\n' "$1" >&"$fd"; done; }
# wait_events EVENT COUNT TIMEOUT_S: until the client outputs hold COUNT lines of EVENT
wait_events() {
  local ev=$1 want=$2 limit=$3 start n
  start=$(date +%s)
  while :; do
    n=$(cat "$WORK"/out.* | grep -c "\"event\":\"$ev\"" || true)
    ((n >= want)) && return 0
    (($(date +%s) - start > limit)) && return 1
    local c
    for c in "${CLIENTS[@]}"; do
      alive "$c" || { log "a client process ($c) exited"; tail -n 3 "$WORK"/err.* >&2; exit 1; }
    done
    sleep 0.2
  done
}
STATS_ROUND=0
# stats: asks every client for its counters; sets QUIET_MIN_MS, BYTES, MSGS, MARKS, CLOSED
stats() {
  STATS_ROUND=$((STATS_ROUND + 1))
  local before
  before=$(cat "$WORK"/out.* | grep -c '"event":"stats"' || true)
  send_all stats
  wait_events stats $((before + PROCS)) 30 || { log "clients stopped answering"; exit 1; }
  local last=()
  local p
  for ((p = 0; p < PROCS; p++)); do last+=("$(grep '"event":"stats"' "$WORK/out.$p" | tail -1)"); done
  QUIET_MIN_MS=$(printf '%s\n' "${last[@]}" | grep -o '"quiet_ns":[0-9-]*' | cut -d: -f2 | sort -n | head -1 | awk '{printf "%d", $1 / 1e6}')
  BYTES=$(printf '%s\n' "${last[@]}" | grep -o '"bytes":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
  MSGS=$(printf '%s\n' "${last[@]}" | grep -o '"messages":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
  BIG_BYTES=$(printf '%s\n' "${last[@]}" | grep -o '"big_bytes":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
  LAST_RX_NS=$(printf '%s\n' "${last[@]}" | grep -o '"last_rx_ns":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
  MARKS=$(printf '%s\n' "${last[@]}" | grep -o '"marks":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
  CLOSED=$(printf '%s\n' "${last[@]}" | grep -o '"closed":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
  CLOSE_CODES=$(printf '%s\n' "${last[@]}" | grep -o '"close_codes":{[^}]*}' | tr '\n' ' ')
}
# wait_quiet LIMIT_S: until no client received anything for QUIET_MS
wait_quiet() {
  local start
  start=$(date +%s)
  while :; do
    stats
    ((QUIET_MIN_MS >= QUIET_MS)) && return 0
    (($(date +%s) - start > $1)) && return 1
    sleep 0.25
  done
}

# ---- the server alone ----------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if ((REDIS)); then
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$WORK/redis.log" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  srv_args=(--redis "redis://127.0.0.1:$RPORT")
else
  srv_args=(--memory)
fi
[[ -n $THREADS ]] && srv_args+=(--threads "$THREADS")
srv_args+=("${SERVER_ARGS[@]}")
URLS=()
for ((i = 0; i < INSTANCES; i++)); do
  inst=()
  ((REDIS)) && inst=(--instance "scale-$i")
  start_chat "$WORK/server.$i.log" "$CHAT" "${srv_args[@]}" "${inst[@]}"
  SPIDS+=("$PID")
  URLS+=(--url "ws://127.0.0.1:$PORT/ws/chat")
  log "duplex-chat ${srv_args[*]} ${inst[*]} on port $PORT (pid $PID)"
done
sleep 1
rss0=$(sum_rss)
log "fresh server: idle ${IDLE_S} s"
c0=$(sum_cpu)
w0=$(sum_wakeups)
sleep "$IDLE_S"
c1=$(sum_cpu)
w1=$(sum_wakeups)
empty_wakeups_per_s=$(awk -v a="$w0" -v b="$w1" -v t="$IDLE_S" 'BEGIN {printf "%.0f", (b - a) / t}')
empty_idle_cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
k_mem0=$(sockstat_mem); k_inuse0=$(sockstat_inuse); k_slab0=$(slab_kb)

# ---- join ----------------------------------------------------------------------------
log "joining $MEMBERS members ($BIG in room big, the rest over $((ROOMS - 1)) rooms) from $PROCS processes"
for ((p = 0; p < PROCS; p++)); do
  mkfifo "$WORK/cmd.$p"
  exec {fd}<>"$WORK/cmd.$p"
  FDS+=("$fd")
  "$SCALE" "${URLS[@]}" --total "$MEMBERS" --big "$BIG" --rooms "$ROOMS" \
    --procs "$PROCS" --proc "$p" --concurrency "$CONCURRENCY" --subprotocol "$SUBPROTOCOL" <"$WORK/cmd.$p" >"$WORK/out.$p" 2>"$WORK/err.$p" &
  CLIENTS+=("$!")
done
if ! wait_events big_joined "$PROCS" "$JOIN_TIMEOUT"; then
  log "the big room's members did not all join in $JOIN_TIMEOUT s"; tail -n 3 "$WORK"/err.* >&2; exit 1
fi
t_start=$(grep -h '"event":"big_joined"' "$WORK"/out.* | grep -o '"start_ns":[0-9]*' | cut -d: -f2 | sort -n | head -1)
t_big=$(grep -h '"event":"big_joined"' "$WORK"/out.* | grep -o '"big_done_ns":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
big_join_s=$(awk -v a="$t_start" -v b="$t_big" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
log "room big: $BIG joined in $big_join_s s"
# A line said right after the big room's join storm, behind the presence
# diffs that trail it (round 0), then until the room is quiet.
stats
marks0=$MARKS
printf 'say big 0\n' >&"${FDS[0]}"
t0=$(date +%s)
while stats && ((MARKS < marks0 + BIG)) && (($(date +%s) - t0 < 120)); do sleep 0.1; done
((MARKS >= marks0 + BIG)) || log "round 0: $((MARKS - marks0)) of $BIG members got the line in 120 s"
wait_quiet 600 || log "room big still not quiet after 600 s"
big_settle_s=$(awk -v a="$t_big" -v b="$LAST_RX_NS" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
big_bytes_per_member=$((BIG_BYTES / BIG))
log "room big: quiet $big_settle_s s after its last join; $big_bytes_per_member B received per member (presence; the line)"

send_all rest
if ! wait_events joined "$PROCS" "$JOIN_TIMEOUT"; then
  log "not every client process finished joining in $JOIN_TIMEOUT s"; tail -n 3 "$WORK"/err.* >&2; exit 1
fi
joined=$(grep -h '"event":"joined"' "$WORK"/out.* | grep -o '"joined":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
failed=$(grep -h '"event":"joined"' "$WORK"/out.* | grep -o '"failed":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s}')
t_rest=$(grep -h '"event":"joined"' "$WORK"/out.* | grep -o '"rest_start_ns":[0-9]*' | cut -d: -f2 | sort -n | head -1)
t_all=$(grep -h '"event":"joined"' "$WORK"/out.* | grep -o '"all_done_ns":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
rest_join_s=$(awk -v a="$t_rest" -v b="$t_all" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
join_s=$(awk -v a="$big_join_s" -v b="$rest_join_s" 'BEGIN {printf "%.2f", a + b}')
first_error=$(grep -ho '"first_error":"[^"]*"' "$WORK"/out.* | grep -v '""' | head -1 || true)
log "joined $joined (failed $failed): the other $((MEMBERS - BIG)) in $rest_join_s s, $join_s s in all $first_error"
wait_quiet 600 || log "still not quiet after 600 s"
settle_s=$(awk -v a="$t_all" -v b="$LAST_RX_NS" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
join_bytes=$BYTES
join_msgs=$MSGS
rss1=$(sum_rss)
k_mem1=$(sockstat_mem); k_inuse1=$(sockstat_inuse); k_slab1=$(slab_kb)
log "settled $settle_s s after the last join; members received $join_bytes B in $join_msgs messages; closed $CLOSED $CLOSE_CODES"

# ---- broadcast into the big room --------------------------------------------------
declare -a round_lines=()
for ((r = 1; r <= ROUNDS; r++)); do
  stats
  marks0=$MARKS
  printf 'say big %d\n' "$r" >&"${FDS[0]}"
  # every member of the room (the sender too) gets the line; then quiet again
  t0=$(date +%s)
  while stats && ((MARKS < marks0 + BIG)) && (($(date +%s) - t0 < 60)); do sleep 0.1; done
  ((MARKS >= marks0 + BIG)) || log "round $r: $((MARKS - marks0)) of $BIG members got the line in 60 s"
  wait_quiet 120 || log "round $r: not quiet after 120 s"
done
for ((p = 0; p < PROCS; p++)); do printf 'dump %s\n' "$WORK/lat.$p" >&"${FDS[$p]}"; done
wait_events dumped "$PROCS" 30 || { log "clients did not dump their latencies"; exit 1; }
for ((r = 0; r <= ROUNDS; r++)); do
  round_lines+=("$(cat "$WORK"/lat.* | awk -v r="$r" '$1 == r {print $2}' | sort -n |
    awk -v r="$r" '{v[NR] = $1} END {
      if (!NR) { printf "{\"round\":%d,\"got\":0}", r; exit }
      i50 = int(0.50 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999)
      printf "{\"round\":%d,\"got\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}", r, NR, v[i50] / 1e3, v[i99] / 1e3, v[NR] / 1e3 }')")
  log "broadcast round $r: ${round_lines[-1]}"
done

# ---- idle ------------------------------------------------------------------------
wait_quiet 60 || true
bytes_a=$BYTES
cl0=0; for p in "${CLIENTS[@]}"; do cl0=$((cl0 + $(cpu_ticks "$p"))); done
c0=$(sum_cpu)
w0=$(sum_wakeups)
((REDIS)) && redis_info >"$WORK/redis.before"
if [[ $PERF == 1 ]]; then
  perf record -q -F 499 --call-graph dwarf -p "${SPIDS[0]}" -o "$WORK/perf.data" -- sleep "$IDLE_S" 2>"$WORK/perf.err" || log "perf record failed: $(tail -1 "$WORK/perf.err")"
else
  sleep "$IDLE_S"
fi
c1=$(sum_cpu)
w1=$(sum_wakeups)
((REDIS)) && redis_info >"$WORK/redis.after"
cl1=0; for p in "${CLIENTS[@]}"; do cl1=$((cl1 + $(cpu_ticks "$p"))); done
stats
idle_bytes=$((BYTES - bytes_a))
idle_cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
idle_client_cpu_s=$(awk -v a="$cl0" -v b="$cl1" -v t="$TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
rss2=$(sum_rss)
idle_wakeups_per_s=$(awk -v a="$w0" -v b="$w1" -v t="$IDLE_S" 'BEGIN {printf "%.0f", (b - a) / t}')
if [[ $PERF == 1 && -f $WORK/perf.data ]]; then
  mkdir -p "$BUILD"
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym -G 2>/dev/null | grep -v "^$" | head -n 400 >"$BUILD/chat_scale_idle_perf.txt" || true
  log "perf profile of the idle period: $BUILD/chat_scale_idle_perf.txt"
fi
log "idle $IDLE_S s: server CPU $idle_cpu_s s (fresh server: $empty_idle_cpu_s s), $idle_wakeups_per_s wakeups/s (fresh: $empty_wakeups_per_s), members received $idle_bytes B"

# ---- stop ------------------------------------------------------------------------
send_all quit
for p in "${CLIENTS[@]}"; do wait "$p" 2>/dev/null || true; done
CLIENTS=()
for p in "${SPIDS[@]}"; do kill -TERM "$p"; done
for p in "${SPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
SPIDS=()
if [[ -n $RPID ]]; then kill -TERM "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=""; fi

per_member=$(awk -v a="$rss0" -v b="$rss1" -v n="$joined" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
per_member_idle=$(awk -v a="$rss0" -v b="$rss2" -v n="$joined" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
k_sock=$(awk -v a="$k_mem0" -v b="$k_mem1" -v n="$joined" 'BEGIN {printf "%.0f", (b - a) * 4096 / n}')
k_slab=$(awk -v a="$k_slab0" -v b="$k_slab1" -v n="$joined" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')
rounds_json=$(IFS=,; echo "${round_lines[*]}")
redis_json=null
if ((REDIS)); then
  # per second of the idle period: commands by name (calls), bytes in/out, CPU; memory at the end
  redis_json=$(awk -F'[:=,]' -v t="$IDLE_S" '
    FNR == NR { if ($1 ~ /^cmdstat_/) b[$1] = $3; else b[$1] = $2; next }
    { if ($1 ~ /^cmdstat_/) a[$1] = $3; else a[$1] = $2 }
    END {
      printf "{\"commands_per_s\":%.0f,\"net_in_bytes_per_s\":%.0f,\"net_out_bytes_per_s\":%.0f,\"cpu_s_per_s\":%.3f,\"used_memory\":%d,\"calls_per_s\":{",
        (a["total_commands_processed"] - b["total_commands_processed"]) / t,
        (a["total_net_input_bytes"] - b["total_net_input_bytes"]) / t,
        (a["total_net_output_bytes"] - b["total_net_output_bytes"]) / t,
        (a["used_cpu_sys"] + a["used_cpu_user"] - b["used_cpu_sys"] - b["used_cpu_user"]) / t, a["used_memory"]
      n = 0
      for (k in a) if (k ~ /^cmdstat_/ && a[k] - b[k] > 0) { printf "%s\"%s\":%.1f", (n++ ? "," : ""), substr(k, 9), (a[k] - b[k]) / t }
      printf "}}"
    }' "$WORK/redis.before" "$WORK/redis.after")
  log "redis over the idle period: $redis_json"
fi
printf '{"members":%d,"joined":%d,"failed":%d,"big":%d,"rooms":%d,"client_procs":%d,"instances":%d,"redis":%s,"server_threads":"%s","commit":"%s","loadavg_start":"%s","loadavg_end":"%s",' \
  "$MEMBERS" "$joined" "$failed" "$BIG" "$ROOMS" "$PROCS" "$INSTANCES" "$( ((REDIS)) && echo true || echo false)" "${THREADS:-default}" "$(git rev-parse --short HEAD 2>/dev/null)" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '"rss_kb":{"fresh":%d,"joined":%d,"after_idle":%d},"rss_per_member_bytes":%d,"rss_per_member_after_idle_bytes":%d,' \
  "$rss0" "$rss1" "$rss2" "$per_member" "$per_member_idle"
printf '"kernel":{"tcp_inuse":[%d,%d],"tcp_mem_pages":[%d,%d],"slab_kb":[%d,%d],"sock_mem_per_member_bytes":%d,"slab_per_member_bytes":%d},' \
  "$k_inuse0" "$k_inuse1" "$k_mem0" "$k_mem1" "$k_slab0" "$k_slab1" "$k_sock" "$k_slab"
printf '"join_s":%s,"big_join_s":%s,"big_settle_s":%s,"big_bytes_per_member":%d,"rest_join_s":%s,"settle_s":%s,"join_bytes_received":%d,"join_messages_received":%d,' \
  "$join_s" "$big_join_s" "$big_settle_s" "$big_bytes_per_member" "$rest_join_s" "$settle_s" "$join_bytes" "$join_msgs"
printf '"broadcast":[%s],"idle_s":%s,"idle_server_cpu_s":%s,"fresh_server_idle_cpu_s":%s,"idle_client_cpu_s":%s,"idle_server_wakeups_per_s":%s,"fresh_server_wakeups_per_s":%s,"idle_bytes_received":%d,"redis_idle":%s}\n' \
  "$rounds_json" "$IDLE_S" "$idle_cpu_s" "$empty_idle_cpu_s" "$idle_client_cpu_s" "$idle_wakeups_per_s" "$empty_wakeups_per_s" "$idle_bytes" "$redis_json"
