#!/usr/bin/env bash
# Issue 22's decode figures in one table: bench/decode_bench.cpp (a tick taken
# in as a duplex::sync patch applied to a replica, against binary and JSON
# decode of the same tick) natively, compiled with em++ under Node, and the
# same WASM in headless Chromium, where it also times the engine's JSON.parse
# of the same JSON text. Builds what it needs:
#   native  build/bench (Release, -DDUPLEX_BUILD_BENCH=ON), target bench_decode
#   wasm    build/bench-wasm (emcmake, bench/wasm), target decode_bench
# Chromium is Debian's /usr/bin/chromium through playwright-core (npm ci);
# nothing is downloaded. Each run is alone on the machine, one after the other.
#   bench/sync_decode.sh                 # SECONDS_PER_ROW=0.5 by default
#   SECONDS_PER_ROW=1 BENCH_BUILD_DIR=build/bench bench/sync_decode.sh
# Prints a Markdown table (ns per message, MB/s of that message's bytes) and
# the ratios within each runtime. Compare ratios, not times, across machines.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${SECONDS_PER_ROW:-0.5}
JOBS=${BENCH_JOBS:-2}
BUILD=${BENCH_BUILD_DIR:-build/bench}
WASM_BUILD=${BENCH_WASM_BUILD_DIR:-build/bench-wasm}
log() { printf '[sync_decode] %s\n' "$*" >&2; }

log "native: building bench_decode in $BUILD"
if [[ ! -f $BUILD/build.ninja ]] || ! grep -q bench_decode "$BUILD/build.ninja"; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUPLEX_BUILD_BENCH=ON -DDUPLEX_BUILD_TESTS=OFF \
    >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log" >&2; exit 1; }
fi
cmake --build "$BUILD" -j "$JOBS" --target bench_decode >"$BUILD.decode.log" 2>&1 ||
  { tail -30 "$BUILD.decode.log" >&2; exit 1; }

log "wasm: building decode_bench in $WASM_BUILD"
(export NODE_PATH=/usr/share/nodejs
 if [[ ! -f $WASM_BUILD/build.ninja ]] || ! grep -q decode_bench "$WASM_BUILD/build.ninja"; then
   emcmake cmake -S bench/wasm -B "$WASM_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
 fi
 cmake --build "$WASM_BUILD" -j "$JOBS" --target decode_bench) >"$WASM_BUILD.decode.log" 2>&1 ||
  { tail -30 "$WASM_BUILD.decode.log" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
log "native run"
"$BUILD/bench/decode_bench" --tsv --seconds "$SECS" >"$OUT/native.tsv"
log "WASM under Node ($(node --version))"
node --no-experimental-fetch "$WASM_BUILD/decode_bench.js" --tsv --seconds "$SECS" >"$OUT/node.tsv"
log "WASM in headless Chromium ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
node bench/wasm/decode_page.mjs "$WASM_BUILD" "$SECS" >"$OUT/chromium.tsv"

node - "$OUT" <<'EOF'
const fs = require('fs');
const dir = process.argv[2];
const runs = ['native', 'node', 'chromium'];
const data = {};  // label -> {bytes, native, node, chromium}
const order = [];
for (const run of ['node', 'native', 'chromium']) {  // node's rows first: the WASM order, JSON.parse rows included
  for (const line of fs.readFileSync(`${dir}/${run}.tsv`, 'utf8').split('\n')) {
    if (!line) continue;
    const [label, bytes, ns] = line.split('\t');
    if (!data[label]) { data[label] = { bytes: +bytes }; order.push(label); }
    data[label][run] = +ns;
  }
}
const cell = (r, run) => {
  const ns = r[run];
  if (ns === undefined) return '—';
  const us = ns / 1000;
  return `${us < 10 ? us.toFixed(2) : us.toFixed(1)} µs (${Math.round((r.bytes / ns) * 1000)} MB/s)`;
};
console.log('| decode of one tick | bytes | native | WASM, Node | WASM, Chromium |');
console.log('|---|---|---|---|---|');
for (const label of order) {
  const r = data[label];
  console.log(`| ${label} | ${r.bytes.toLocaleString('en')} | ${runs.map((run) => cell(r, run)).join(' | ')} |`);
}
// Ratios within one runtime: how many times longer than applying the patch.
console.log('\nWithin each runtime, time ÷ the same scenario\'s replica::apply of a tick patch:\n');
console.log('| scenario: decode of | native | WASM, Node | WASM, Chromium |');
console.log('|---|---|---|---|');
for (const scenario of ['100', '300x300']) {
  const base = data[`${scenario}: tick patch, replica::apply`];
  for (const what of ['moves, binary decode', 'moves, JSON decode (duplex)', 'moves, JSON.parse',
    'whole state, binary decode', 'whole state, JSON decode (duplex)', 'whole state, JSON.parse']) {
    const r = data[`${scenario}: ${what}`];
    if (!r) continue;
    const ratio = (run) => (r[run] === undefined ? '—' : `${(r[run] / base[run]).toFixed(2)}×`);
    console.log(`| ${scenario}: ${what} | ${runs.map(ratio).join(' | ')} |`);
  }
}
EOF
