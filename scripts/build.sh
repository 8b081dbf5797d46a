#!/usr/bin/env bash
# Builds both halves: the WebAssembly client + page (build/wasm -> build/site)
# and everything native (build/native). Assumes scripts/setup.sh ran.
#   scripts/build.sh        everything, tests included (scripts/test.sh)
#   scripts/build.sh --app  only what the chat needs: the site and duplex-chat
#                           (scripts/start.sh); same build directories, so a
#                           later full build reuses all of it
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs   # Emscripten 3.1.6's JS optimizer needs acorn from here
jobs=${DUPLEX_JOBS:-$(nproc)}
wasm_targets=() native_targets=()
if [ "${1:-}" = --app ]; then
  wasm_targets=(--target duplex_site)
  native_targets=(--target duplex-chat)
fi
cmake --preset wasm >/dev/null
cmake --build --preset wasm -j "$jobs" "${wasm_targets[@]}"
cmake --preset native >/dev/null
cmake --build --preset native -j "$jobs" "${native_targets[@]}"
