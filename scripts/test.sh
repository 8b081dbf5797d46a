#!/usr/bin/env bash
# Every test: native unit/integration tests, the shared schema tests compiled
# with em++ and run under Node, and the browser end-to-end test (headless
# Chromium against the real server). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
export NODE_PATH=/usr/share/nodejs
status=0
ctest --preset wasm -j 2 || status=1
ctest --preset native -j 2 || status=1
exit $status
