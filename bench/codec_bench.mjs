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
// The same rules duplex's decoder applies (lib/include/duplex/schema/codec.hpp,
// chat.hpp), written by hand in JS after JSON.parse: what a page would run
// to trust a message without the WASM decoder. (JSON.parse cannot see
// duplicate keys or lone-surrogate escapes; those checks are not included.)
const enc8 = new TextEncoder();
const utf8Bytes = (s) => {
  // Fast path: ASCII strings are as many bytes as UTF-16 units.
  for (let i = 0; i < s.length; ++i) if (s.charCodeAt(i) > 0x7f) return enc8.encode(s).length;
  return s.length;
};
const nameControl = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]/;
const blankOnly = /^[\u0020\u00a0\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff\u180e\u115f\u1160\u3164\uffa0]*$/;
const isName = (v) => typeof v === 'string' && utf8Bytes(v) <= 32 && !nameControl.test(v) && !blankOnly.test(v);
const isText = (v) => typeof v === 'string' && v.length > 0 && utf8Bytes(v) <= 4000;
const isInt64 = (v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 9223372036854775807;
function validServer(m) {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return false;
  switch (m.type) {
    case 'message': return isName(m.from) && isText(m.text) && isInt64(m.time);
    case 'presence': return Array.isArray(m.users) && m.users.length <= 10000 && m.users.every(isName);
    case 'joined': case 'left': return isName(m.name);
    case 'error': return typeof m.code === 'string' && m.code.length > 0 && typeof m.message === 'string';
    default: return false;
  }
}
function validClient(m) {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return false;
  if (m.type === 'join') return isName(m.name);
  if (m.type === 'chat') return isText(m.text);
  return false;
}
for (const l of clientJson) if (!validClient(JSON.parse(l))) throw new Error(`validation rejects ${l}`);
for (const l of serverJson) if (!validServer(JSON.parse(l))) throw new Error(`validation rejects ${l.slice(0, 80)}`);
const parseValidate = () => {
  for (const l of clientJson) sink += validClient(JSON.parse(l)) ? 1 : 0;
  for (const l of serverJson) sink += validServer(JSON.parse(l)) ? 1 : 0;
  return clientBytes + serverBytes;
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
const dval = measure(lines.length, parseValidate);
const enc = measure(lines.length, stringify);
console.log(JSON.stringify({
  impl: `node-json (${process.version})`,
  messages: lines.length,
  client_messages: clientJson.length,
  server_messages: serverJson.length,
  decode: dall,
  decode_client: dc,
  decode_server: ds,
  decode_validate: dval,
  encode: enc,
  sink: sink % 7,
}));
