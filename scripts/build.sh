#!/usr/bin/env bash
# Builds both halves: the WebAssembly client + page (build/wasm -> build/site)
# and everything native (build/native). Assumes scripts/setup.sh ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs   # Emscripten 3.1.6's JS optimizer needs acorn from here
jobs=${DUPLEX_JOBS:-$(nproc)}
cmake --preset wasm >/dev/null
cmake --build --preset wasm -j "$jobs"
cmake --preset native >/dev/null
cmake --build --preset native -j "$jobs"
