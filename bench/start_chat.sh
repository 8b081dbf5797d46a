# Sourced by the chat benchmarks (chat_bench.sh, cluster_bench.sh).
# start_chat LOG COMMAND...: runs COMMAND --port 0 --root web in the
# background (COMMAND is duplex-chat with its flags, possibly behind taskset)
# and waits for its "listening on" line; sets PID and PORT.
start_chat() {
  local log=$1; shift
  "$@" --port 0 --root web >"$log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    PORT=$(grep -o 'localhost:[0-9]*' "$log" | head -1 | cut -d: -f2 || true)
    [[ -n $PORT ]] && return
    sleep 0.1
  done
  echo "server did not start: $(cat "$log")" >&2
  exit 1
}
