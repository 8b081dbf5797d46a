#!/usr/bin/env bash
# Every test, exiting non-zero on any failure:
#  1. wasm.*   the shared schema tests compiled with em++, run under Node;
#  2. native.* the same schema tests with g++, protocol, net, realtime (SQLite files), conformance,
#              interop (Node ws) and browser end-to-end (headless Chromium);
#  3. the native suite again under AddressSanitizer + UndefinedBehaviorSanitizer;
#  4. a short libFuzzer run of each fuzz target (DUPLEX_FUZZ_SECONDS, default 30).
# DUPLEX_QUICK=1 skips 3 and 4.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
export NODE_PATH=/usr/share/nodejs
jobs=${DUPLEX_JOBS:-$(nproc)}
status=0
step() { echo; echo "==== $* ===="; }

step "wasm: shared schema tests under Node"
ctest --preset wasm || status=1
step "native tests"
ctest --preset native || status=1

if [ "${DUPLEX_QUICK:-0}" != 1 ]; then
  step "native tests under ASan + UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan || status=1

  step "fuzzing (${DUPLEX_FUZZ_SECONDS:-30} s per target)"
  cmake --preset fuzz -DDUPLEX_FUZZ_SECONDS="${DUPLEX_FUZZ_SECONDS:-30}" >/dev/null
  cmake --build --preset fuzz -j "$jobs"
  ctest --preset fuzz -j 3 || status=1
fi

step "result"
if [ $status -eq 0 ]; then echo "all test suites passed"; else echo "SOME TESTS FAILED"; fi
exit $status
