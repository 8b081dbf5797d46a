// codec_bench.mjs: the JavaScript baseline for codec_bench.cpp: JSON.parse
// and JSON.stringify on the same chat messages (bench/codec_messages.jsonl).
// JSON.parse builds generic objects and checks no schema, so it does less
// than duplex's decoders (which validate types, limits and UTF-8); the
// comparison says what a browser client would pay with plain JSON.
// Prints one JSON line with the same fields as codec_bench.cpp.
//   node bench/codec_bench.mjs [--messages FILE] [--seconds S]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const file = arg('--messages', join(dirname(fileURLToPath(import.meta.url)), 'codec_messages.jsonl'));
const seconds = Number(arg('--seconds', '1'));

const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
const clientTypes = new Set(['join', 'chat']);
const clientJson = lines.filter((l) => clientTypes.has(JSON.parse(l).type));
const serverJson = lines.filter((l) => !clientTypes.has(JSON.parse(l).type));
const objects = [...clientJson, ...serverJson].map((l) => JSON.parse(l));
const bytes = (s) => Buffer.byteLength(s, 'utf8');
const clientBytes = clientJson.reduce((a, l) => a + bytes(l), 0);
const serverBytes = serverJson.reduce((a, l) => a + bytes(l), 0);

let sink = 0;
function measure(msgsPerPass, pass) {
  sink += pass();
  let passes = 0, total = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  do {
    total += pass();
    ++passes;
    now = process.hrtime.bigint();
  } while (now < until);
  const s = Number(now - start) / 1e9;
  return { msgs_per_s: +((passes * msgsPerPass) / s).toFixed(1), mb_per_s: +(total / s / 1e6).toFixed(1) };
}

const parseClient = () => {
  for (const l of clientJson) sink += JSON.parse(l).type.length;
  return clientBytes;
};
const parseServer = () => {
  for (const l of serverJson) sink += JSON.parse(l).type.length;
  return serverBytes;
};
const stringify = () => {
  let b = 0;
  // Byte length would cost as much as stringify itself; UTF-16 length is close
  // enough for ASCII-heavy JSON and is reported as such.
  for (const o of objects) b += JSON.stringify(o).length;
  return b;
};

const dc = measure(clientJson.length, parseClient);
const ds = measure(serverJson.length, parseServer);
const dall = measure(lines.length, () => parseClient() + parseServer());
const enc = measure(lines.length, stringify);
console.log(JSON.stringify({
  impl: `node-json (${process.version})`,
  messages: lines.length,
  client_messages: clientJson.length,
  server_messages: serverJson.length,
  decode: dall,
  decode_client: dc,
  decode_server: ds,
  encode: enc,
  sink: sink % 7,
}));
