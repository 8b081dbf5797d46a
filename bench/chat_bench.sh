#!/usr/bin/env bash
# Issue 11's chat benchmarks against duplex-chat (one run each; JSON lines):
#   storm    5,000 clients join one room; bytes per member, closes, marker latency
#   fanout   1,000 members, 5 s of chat: deliveries/s with SQLite history vs --memory
#   resume   a client that missed 1,000 lines resumes (client time; server time from its log)
# Usage: bench/chat_bench.sh [--old PATH_TO_OLD_DUPLEX_CHAT] [storm|fanout|resume ...]
#   --old: also run the storm against that binary (speaks protocol v1: no rooms),
#   e.g. one built from commit 3fbca4a:
#     mkdir -p /tmp/old && git archive 3fbca4a | tar -x -C /tmp/old &&
#     cmake -S /tmp/old -B /tmp/old/build -G Ninja -DCMAKE_BUILD_TYPE=Release &&
#     cmake --build /tmp/old/build --target duplex-chat
# Env: CLIENTS (5000), FANOUT_CLIENTS (1000), BUILD (build/bench, Release; an existing
# build dir is reused with DUPLEX_BUILD_BENCH=ON added), SUBPROTOCOL (duplex.chat.v2;
# duplex.chat.v5: the storm room's bounded presence over --presence-full-limit),
# SERVER_ARGS (more duplex-chat flags, e.g. "--presence-full-limit 0").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/bench}
CLIENTS=${CLIENTS:-5000}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-1000}
SUBPROTOCOL=${SUBPROTOCOL:-duplex.chat.v2}
read -r -a SERVER_ARGS <<<"${SERVER_ARGS:-}"
OLD=""
if [[ ${1:-} == --old ]]; then OLD=$2; shift 2; fi
WANT=("${@:-storm fanout resume}")
want() { [[ " ${WANT[*]} " == *" $1 "* ]]; }

if [[ -f $BUILD/CMakeCache.txt ]]; then  # an existing build dir (e.g. BUILD=build/native): just add the benches
  cmake -S . -B "$BUILD" -DDUPLEX_BUILD_BENCH=ON >/dev/null
else
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" --target duplex-chat bench_chat_storm bench_chat_resume >/dev/null
CHAT=$BUILD/server/duplex-chat
STORM=$BUILD/bench/chat_storm
RESUME=$BUILD/bench/chat_resume
WORK=$(mktemp -d)
PID=""
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

source bench/start_chat.sh  # start_chat LOG BINARY ARGS...: sets PID and PORT
stop_chat() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# Load tests send far faster than a person: flood control (--line-rate,
# issue 20) is off for them, or it refuses the lines being measured.
LOAD=(--line-rate 0)
V2=(--subprotocol "$SUBPROTOCOL" --join '{"type":"join","name":"u%d","room":"storm"}')

if want storm; then
  start_chat "$WORK/storm.log" "$CHAT" --memory "${SERVER_ARGS[@]}"
  echo "storm new: $("$STORM" --url "ws://127.0.0.1:$PORT/ws/chat" --clients "$CLIENTS" "${V2[@]}" --timeout 10)"
  stop_chat
  if [[ -n $OLD ]]; then
    start_chat "$WORK/old.log" "$OLD"
    echo "storm old: $("$STORM" --url "ws://127.0.0.1:$PORT/ws/chat" --clients "$CLIENTS" --subprotocol "" --timeout 10)"
    stop_chat
  fi
fi

if want fanout; then
  start_chat "$WORK/fan-sqlite.log" "$CHAT" --data "$WORK/data" "${LOAD[@]}"
  echo "fanout sqlite: $("$STORM" --url "ws://127.0.0.1:$PORT/ws/chat" --clients "$FANOUT_CLIENTS" "${V2[@]}" --fanout 5)"
  stop_chat
  start_chat "$WORK/fan-memory.log" "$CHAT" --memory "${LOAD[@]}"
  echo "fanout memory: $("$STORM" --url "ws://127.0.0.1:$PORT/ws/chat" --clients "$FANOUT_CLIENTS" "${V2[@]}" --fanout 5)"
  stop_chat
fi

if want resume; then
  start_chat "$WORK/resume.log" "$CHAT" --data "$WORK/data-resume" "${LOAD[@]}"
  echo "resume: $("$RESUME" --url "ws://127.0.0.1:$PORT/ws/chat" --missed 1000 --rounds 5)"
  stop_chat
  echo "resume server times (ms): $(grep -o 'replayed in [0-9.]* ms' "$WORK/resume.log" | awk '{printf "%s ", $3}')"
fi
