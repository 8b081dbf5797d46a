#!/bin/sh
# duplex-chat refuses to start on a data directory it cannot use (exit 1) or
# a bad flag value (exit 2), with a message naming the problem, before listening. Usage: bad_data.sh DUPLEX_CHAT
set -u
chat=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect_refusal() {  # expect_refusal WHAT EXIT PATTERN ARGS...
  what=$1 code=$2 pattern=$3; shift 3
  out=$("$chat" --port 0 --root "$work" "$@" 2>&1 </dev/null & pid=$!; sleep 3; kill $pid 2>/dev/null && echo STILL-RUNNING; wait $pid; echo "exit=$?")
  case $out in *STILL-RUNNING*) fail "$what: server started: $out" ;; esac
  case $out in *"exit=$code"*) ;; *) fail "$what: expected exit $code: $out" ;; esac
  echo "$out" | grep -q "$pattern" || fail "$what: no '$pattern' in: $out"
  echo "ok: $what: $(echo "$out" | head -1)"
}

# A file where the directory should be.
touch "$work/file"
expect_refusal "data dir under a file" 1 "cannot use --data" --data "$work/file/sub"
# A database that is not SQLite.
mkdir "$work/corrupt"
head -c 8192 /dev/urandom > "$work/corrupt/history.sqlite3"
expect_refusal "corrupt database" 1 "corrupt" --data "$work/corrupt"
# Bad flag values.
expect_refusal "--history out of range" 2 "bad --history" --memory --history -5
expect_refusal "--presence-full-limit not a number" 2 "bad --presence-full-limit" --memory --presence-full-limit many
# The admin route needs sign-in, and a token worth the name.
printf "%s" 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef > "$work/jwt.secret"
printf 'short' > "$work/admin.short"
expect_refusal "--admin-token-file without --auth-jwt" 2 "needs --auth-jwt" --memory --admin-token-file "$work/admin.short"
expect_refusal "--admin-token-file too short" 2 "under 16 bytes" --memory --auth-jwt "$work/jwt.secret" --admin-token-file "$work/admin.short"
exit 0
