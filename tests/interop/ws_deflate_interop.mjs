#!/usr/bin/env node
// permessage-deflate (RFC 7692) interoperability of duplex with Node's `ws`
// (pinned in package.json), compression ON, in both directions and for each
// context-takeover setting either side can express:
//   A. `ws` client (perMessageDeflate on)  -> duplex-echo --deflate [--deflate-takeover]
//   B. duplex-echo --connect URL --deflate [--deflate-takeover] -> `ws` WebSocketServer
//
//   node tests/interop/ws_deflate_interop.mjs --echo build/native/examples/duplex-echo [--only SUBSTRING]
//   (or DUPLEX_ECHO=path/to/duplex-echo node tests/interop/ws_deflate_interop.mjs)
//
// Besides the echoed bytes, every frame duplex sends is parsed off the wire
// (RSV1 only on the first frame of a data message, never RSV2/RSV3, masking
// by role) and the compressed sizes are checked, so a duplex that silently
// stopped compressing would fail. Figures (bytes on the wire for 1000 chat
// messages with and without context takeover) are printed under each case.
//
// Everything listens on 127.0.0.1 on free ports. Every child process is killed
// when the script exits (also on failure, on signals and when the global
// watchdog fires). Prints one line per case and a final "N passed, M failed";
// exit status 0 only if every case passed.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import WebSocket from 'ws';

import {
  HOST, assertBufEq, closeWsServer, expectExit, openClient as openTrackedClient, randomBytes as makeRandomBytes,
  readFrames, run, setup, sharedEchoServer, sleep, spawnEcho, startDuplexClient, startEchoServer,
  startWsServer as startTrackedWsServer, stopChild, test, toBuf, withTimeout, xorshift,
} from './harness.mjs';

// ---- configuration ------------------------------------------------------------

const KiB = 1024;
const MiB = 1024 * 1024;
const DUPLEX_THRESHOLD = 64;  // deflate_options::threshold default: shorter messages go uncompressed

setup({ name: 'deflate-interop', globalTimeoutMs: 280_000 /* CTest: 300 s */, caseTimeoutMs: 60_000, echoServerArgs: ['--quiet'] });

// ---- small helpers ----------------------------------------------------------------

// Peak resident set of a process in KiB (Linux), or null.
function vmHWM(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

// Memoised payloads (the same big buffers are used by many cases).
const memo = new Map();
const memoize = (key, make) => { if (!memo.has(key)) memo.set(key, make()); return memo.get(key); };

// Incompressible, reproducible bytes.
const randomBytes = (n, seed = 1) => memoize(`r${n}/${seed}`, () => makeRandomBytes(n, seed));

// Compressible binary: 2 random bits per byte plus a slow ramp (~0.3 with zlib).
const lowEntropyBytes = (n, seed = 1) => memoize(`l${n}/${seed}`, () => {
  const b = Buffer.allocUnsafe(n);
  const r = xorshift(seed);
  for (let i = 0; i < n; ++i) b[i] = (r() & 0x03) | ((i >> 12) & 0xf0);
  return b;
});

// Text of exactly n UTF-8 bytes: words (some multi-byte) in pseudo-random order.
const WORDS = ('the quick brown fox jumps over lazy dog message chat server client window context ' +
  'takeover deflate inflate frame socket duplex browser hello world Grüße κόσμε こんにちは € 𝄞 ' +
  'alpha beta gamma delta 0 1 2 3 42 1024 {"type":"message"} [x] ok; yes, no.').split(' ');
const text = (n, seed = 1) => memoize(`t${n}/${seed}`, () => {
  const r = xorshift(seed);
  const parts = [];
  let len = 0;
  for (;;) {
    const w = WORDS[r() % WORDS.length];
    const wl = Buffer.byteLength(w) + (parts.length ? 1 : 0);
    if (len + wl > n) break;
    parts.push(w);
    len += wl;
  }
  const s = parts.join(' ') + 'x'.repeat(n - len);
  const b = Buffer.from(s, 'utf8');
  assert.equal(b.length, n);
  return b;
});

// The chat server's broadcast shape, ~100 bytes each.
function chatJson(i) {
  const names = ['ada', 'bob', 'carol', 'dave'];
  const lines = ['hi all', 'anyone up for lunch?', 'the build is green again', 'see you tomorrow',
    'did you read the RFC 7692 section about window bits?', 'ok', 'lol', 'pushing the fix now'];
  return JSON.stringify({ type: 'message', from: names[i % 4], text: `${lines[(i * 7) % lines.length]} #${i}`,
    time: 1_700_000_000_000 + i * 1337 });
}

// ---- wire sniffer: the frames duplex sends, grouped into messages ------------------
//
// For each data message: opcode, rsv1 of its first frame, frame count and
// wire bytes (headers + payloads). Problems: RSV1 on a continuation
// or control frame, RSV2/RSV3 anywhere, masking contrary to `expectMasked`.
function sniff(socket, expectMasked) {
  const s = { messages: [], controls: [], problems: [], frames: 0 };
  let cur = null;
  const frameDone = (f) => {
    ++s.frames;
    if (f.masked !== expectMasked) s.problems.push(`frame #${s.frames} ${f.masked ? 'masked' : 'unmasked'}`);
    if (f.rsv & 3) s.problems.push(`frame #${s.frames} (opcode ${f.opcode}) has RSV2/RSV3 set`);
    const wire = f.head + f.len;
    if (f.opcode >= 8) {
      if (f.rsv) s.problems.push(`control frame #${s.frames} (opcode ${f.opcode}) has RSV bits ${f.rsv}`);
      s.controls.push(f);
      return;
    }
    if (f.opcode === 0) {
      if (f.rsv) s.problems.push(`continuation frame #${s.frames} has RSV bits ${f.rsv}`);
      if (!cur) { s.problems.push(`continuation frame #${s.frames} without a message`); return; }
      cur.frames += 1;
      cur.wire += wire;
    } else {
      if (cur) s.problems.push(`data frame #${s.frames} inside an unfinished message`);
      cur = { opcode: f.opcode, rsv1: (f.rsv & 4) !== 0, frames: 1, wire };
    }
    if (f.fin) { s.messages.push(cur); cur = null; }
  };
  readFrames(socket, frameDone);
  return s;
}

// ---- ws client side (part A) ------------------------------------------------------

// ws client with the 101's Sec-WebSocket-Extensions value and a sniffer of
// the server's frames.
async function openClient(url, perMessageDeflate) {
  const ws = await openTrackedClient(url, undefined, { perMessageDeflate });
  ws.responseExtensions = ws.upgradeHeaders['sec-websocket-extensions'];
  ws.wire = sniff(ws._socket, false);  // the server sends nothing before we do
  return ws;
}

// The parameters ws agreed to (its PerMessageDeflate instance), or null.
const wsParams = (ws) => ws._extensions['permessage-deflate']?.params ?? null;

async function closeAndExpect(ws, code, expectCode, what) {
  ws.close(code);
  const c = await withTimeout(ws.closedP, 5000, `close event (${what})`);
  assert.equal(c.code, expectCode, `${what}: close code`);
  return c;
}

// ---- ws server side (part B) ------------------------------------------------------

async function startWsServer(perMessageDeflate) {
  const wss = await startTrackedWsServer({ perMessageDeflate, maxPayload: 64 * MiB }, (socket, req) => {
    socket.wire = sniff(req.socket, true);
    socket.offer = req.headers['sec-websocket-extensions'];
    socket.responseExtensions = req.responseExtensions;
  });
  // The response headers ws is about to send (the only place that shows the
  // exact Sec-WebSocket-Extensions value it answered).
  wss.on('headers', (headers, req) => {
    req.responseExtensions = headers.find((h) => /^sec-websocket-extensions:/i.test(h))?.replace(/^[^:]*:\s*/, '');
  });
  return wss;
}

// ---- the message battery (both directions) -----------------------------------------
//
// `peer` is the ws end (client in A, server socket in B) whose messages duplex
// echoes; `peer.wire` sniffs what duplex sends back. `duplexTakeover`: duplex's
// compressor keeps its context (the agreed params allow it), `wsTakeover`
// likewise for ws's compressor; `duplexWindow`, `wsWindow`: the window bits
// each compresses with. Returns figures for the report.

const SIZES = [0, 10, 100, 1000, 64 * KiB, MiB, 5 * MiB];

async function battery(peer, { duplexTakeover, wsTakeover, duplexWindow, wsWindow }, label) {
  const figures = {};
  const echoed = (i) => peer.wire.messages[i];
  let base = peer.wire.messages.length;

  // 1. Text and binary at each size, pipelined, compressed by ws (threshold 0).
  const sent = [];
  for (const n of SIZES) {
    sent.push({ data: text(n, 10 + n % 97), isBinary: false, n });
    sent.push({ data: lowEntropyBytes(n, 20 + n % 89), isBinary: true, n });
  }
  for (const m of sent) peer.send(m.data, { binary: m.isBinary, compress: true });
  for (let i = 0; i < sent.length; ++i) {
    const m = await peer.inbox.next(30_000, `echo of ${sent[i].isBinary ? 'binary' : 'text'} ${sent[i].n}`);
    const what = `${label}: ${sent[i].isBinary ? 'binary' : 'text'} ${sent[i].n} bytes`;
    assert.equal(m.isBinary, sent[i].isBinary, `${what}: echoed as ${m.isBinary ? 'binary' : 'text'}`);
    assertBufEq(m.data, sent[i].data, what);
  }
  for (let i = 0; i < sent.length; ++i) {
    const w = echoed(base + i);
    const what = `${label}: duplex's echo of ${sent[i].isBinary ? 'binary' : 'text'} ${sent[i].n} bytes`;
    assert.ok(w, `${what}: not sniffed`);
    assert.equal(w.opcode, sent[i].isBinary ? 2 : 1, `${what}: opcode`);
    if (sent[i].n < DUPLEX_THRESHOLD) assert.equal(w.rsv1, false, `${what}: compressed below duplex's threshold of ${DUPLEX_THRESHOLD}`);
    if (sent[i].n >= 1000) {
      assert.equal(w.rsv1, true, `${what}: sent uncompressed (RSV1 clear)`);
      // Measured at window 15: ~0.2 (text) / 0.3 (binary) for large messages,
      // ~0.4 at 1000 bytes; windows 8-10 compress less (0.42-0.45 for 64 KiB
      // text at 8/9, 0.27 for 5 MiB text at 10).
      const limit = sent[i].n >= 64 * KiB && duplexWindow >= 12 ? 0.4 : 0.6;
      assert.ok(w.wire < sent[i].n * limit, `${what}: ${w.wire} bytes on the wire (ratio ${(w.wire / sent[i].n).toFixed(3)}, expected < ${limit})`);
    }
  }
  figures.text5MiB = echoed(base + SIZES.indexOf(5 * MiB) * 2).wire;
  figures.bin5MiB = echoed(base + SIZES.indexOf(5 * MiB) * 2 + 1).wire;
  base = peer.wire.messages.length;

  // 2. Incompressible 1 MiB: duplex may send it either way, but never much
  //    larger. With takeover it must compress: +0.5% at window 15 (stored
  //    blocks), +1.8% at window 10 and +5.1% at 9 (zlib cannot emit a stored
  //    block whose start has left its small window, so it Huffman-codes the
  //    random bytes).
  const rnd = randomBytes(MiB, 31);
  const rw0 = peer._socket.bytesWritten;
  peer.send(rnd, { binary: true, compress: true });
  assertBufEq((await peer.inbox.next(30_000, 'echo of random 1 MiB')).data, rnd, `${label}: random 1 MiB`);
  {
    const w = echoed(base);
    const growth = duplexWindow >= 10 ? 1.03 : 1.08;
    assert.ok(w.wire <= MiB * growth + 64, `${label}: random 1 MiB took ${w.wire} bytes on the wire (rsv1 ${w.rsv1})`);
    if (duplexTakeover) assert.equal(w.rsv1, true, `${label}: with context takeover duplex must send compressed output`);
    figures.random1MiB = `${w.wire}${w.rsv1 ? ' (compressed)' : ' (sent plain)'} (ws sent ${peer._socket.bytesWritten - rw0})`;
  }
  base = peer.wire.messages.length;

  // 3. 1000 chat messages pipelined; bytes on the wire both ways.
  const N = 1000;
  const chats = Array.from({ length: N }, (_, i) => chatJson(i));
  const raw = chats.reduce((s, c) => s + Buffer.byteLength(c), 0);
  const w0 = peer._socket.bytesWritten;
  for (const c of chats) peer.send(c, { compress: true });
  for (let i = 0; i < N; ++i) {
    const m = await peer.inbox.next(20_000, `chat echo #${i}`);
    if (m.isBinary || m.data.toString() !== chats[i]) {
      assert.fail(`${label}: chat echo #${i}: expected ${chats[i]}, got ${m.data.toString().slice(0, 120)} (${m.isBinary ? 'binary' : 'text'})`);
    }
  }
  const wsWire = peer._socket.bytesWritten - w0;
  const duplexWire = peer.wire.messages.slice(base, base + N).reduce((s, w) => s + w.wire, 0);
  figures.chat = { raw, wsWire, duplexWire };
  // With takeover: ~0.2 at windows 10-15; a 256-byte window (8) holds only
  // two or three messages: ~0.5 (ws and duplex alike).
  const chatLimit = (bits) => (bits >= 10 ? 0.4 : 0.6);
  if (duplexTakeover) assert.ok(duplexWire < raw * chatLimit(duplexWindow), `${label}: duplex sent ${duplexWire} bytes for ${raw} bytes of chat with context takeover`);
  else assert.ok(duplexWire < raw * 1.1, `${label}: duplex sent ${duplexWire} bytes for ${raw} bytes of chat`);
  if (wsTakeover) assert.ok(wsWire < raw * chatLimit(wsWindow), `${label}: ws sent ${wsWire} bytes for ${raw} bytes of chat with context takeover`);
  base = peer.wire.messages.length;

  // 4. Fragmented compressed messages: text with UTF-8 split across fragments,
  //    an empty fragment and a ping in between; binary with a random fragment.
  const whole = Buffer.concat([text(3000, 41), Buffer.from('€𝄞ü', 'utf8'), text(70_000, 42)]);
  const cut = [0, 1000, 3001, 3003, 3003, 3006, 40_000, whole.length];  // 3001/3003/3006: inside € and 𝄞
  const pong = new Promise((r) => peer.once('pong', (d) => r(toBuf(d))));
  for (let i = 0; i + 1 < cut.length; ++i) {
    peer.send(whole.subarray(cut[i], cut[i + 1]), { binary: false, fin: i + 2 === cut.length, compress: true });
    if (i === 2) peer.ping(Buffer.from('between compressed fragments'));
  }
  const bparts = [lowEntropyBytes(64 * KiB, 43), randomBytes(10_000, 44), Buffer.alloc(0), lowEntropyBytes(300_000, 45)];
  bparts.forEach((p, i) => peer.send(p, { binary: true, fin: i === bparts.length - 1, compress: true }));
  assertBufEq(await withTimeout(pong, 10_000, 'pong between compressed fragments'), Buffer.from('between compressed fragments'), `${label}: ping between fragments`);
  {
    const m = await peer.inbox.next(20_000, 'echo of fragmented text');
    assert.equal(m.isBinary, false, `${label}: fragmented text echoed as binary`);
    assertBufEq(m.data, whole, `${label}: fragmented compressed text (${whole.length} bytes, ${cut.length - 1} fragments)`);
    const b = await peer.inbox.next(20_000, 'echo of fragmented binary');
    assert.equal(b.isBinary, true, `${label}: fragmented binary echoed as text`);
    assertBufEq(b.data, Buffer.concat(bparts), `${label}: fragmented compressed binary`);
  }

  // 5. Uncompressed messages (RSV1 clear) between compressed ones, the same
  //    text each time: with takeover duplex's inflater must not see the plain ones.
  const same = text(2000, 51);
  for (let i = 0; i < 6; ++i) peer.send(same, { compress: i % 2 === 0 });
  for (let i = 0; i < 6; ++i) assertBufEq((await peer.inbox.next(10_000, `mixed #${i}`)).data, same, `${label}: mixed compressed/plain #${i}`);
  const repeats = peer.wire.messages.slice(peer.wire.messages.length - 6);
  figures.repeat2000 = repeats.map((w) => w.wire).join('/');
  if (duplexTakeover && duplexWindow >= 12) {
    // The 2nd and later copies reference the first (2000 bytes back: needs a
    // window of 4 KiB, i.e. zlib's 4096 - 262 reach): a few bytes each.
    assert.ok(repeats.slice(1).every((w) => w.wire < 100), `${label}: with takeover repeats of a 2000-byte text took ${figures.repeat2000} bytes`);
  }

  assert.deepEqual(peer.wire.problems, [], `${label}: frames sent by duplex`);
  return figures;
}

const fmtFigures = (f) => `chat x1000: ${f.chat.raw} B raw, ws->duplex ${f.chat.wsWire} B (${(f.chat.wsWire / f.chat.raw).toFixed(2)}), ` +
  `duplex->ws ${f.chat.duplexWire} B (${(f.chat.duplexWire / f.chat.raw).toFixed(2)}); ` +
  `duplex's 5 MiB text ${f.text5MiB} B, 5 MiB binary ${f.bin5MiB} B, random 1 MiB ${f.random1MiB}; 2000-byte text x6 ${f.repeat2000}`;

// ---- cases ----------------------------------------------------------------------

const NT = ['--deflate'];
const TO = ['--deflate', '--deflate-takeover'];

const pmdLabel = (o) => `{${Object.entries(o).map(([k, v]) => `${k}:${v}`).join(', ')}}`;

// ==== A. ws client -> duplex-echo server ====
//
// duplex-echo --deflate (no takeover) answers server_no_context_takeover and
// client_no_context_takeover whatever the offer (RFC 7692 7.1.1: a server may
// always add them). duplex-echo --deflate-takeover answers exactly what the
// client offered. `responseExt` is the expected Sec-WebSocket-Extensions.

const A_MATRIX = [
  // [server, ws perMessageDeflate, expected response]
  [NT, { clientNoContextTakeover: true, serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [NT, { clientNoContextTakeover: true, serverNoContextTakeover: false }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  // clientNoContextTakeover left to ws's default (undefined): see A1x for an explicit false.
  [NT, { serverNoContextTakeover: false }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [TO, { clientNoContextTakeover: true, serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [TO, { clientNoContextTakeover: true, serverNoContextTakeover: false }, 'permessage-deflate; client_no_context_takeover'],
  [TO, { clientNoContextTakeover: false, serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
  [TO, { clientNoContextTakeover: false, serverNoContextTakeover: false }, 'permessage-deflate'],
  // Window limits asked by the ws client: duplex must compress within the
  // server window it answers (ws inflates with exactly that window and fails
  // on a farther distance). 8 is answered as 8 and compressed with zlib's 9.
  [NT, { serverMaxWindowBits: 10, clientMaxWindowBits: 10 }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10'],
  [TO, { serverMaxWindowBits: 10, clientMaxWindowBits: 10, clientNoContextTakeover: false, serverNoContextTakeover: false }, 'permessage-deflate; server_max_window_bits=10'],
  [TO, { serverMaxWindowBits: 8, clientMaxWindowBits: 8, clientNoContextTakeover: false, serverNoContextTakeover: false }, 'permessage-deflate; server_max_window_bits=8'],
];

A_MATRIX.forEach(([srvArgs, pmd, responseExt], k) => {
  test(`A1.${k + 1} ws ${pmdLabel(pmd)} -> duplex-echo ${srvArgs.join(' ')}: negotiated, all sizes, random, chat, fragments`, async (t) => {
    const { url } = await sharedEchoServer(srvArgs);
    const ws = t.own(await openClient(`${url}/a1`, { ...pmd, threshold: 0 }));
    assert.equal(ws.extensions, 'permessage-deflate', 'ws.extensions');
    assert.equal(ws.responseExtensions, responseExt, 'Sec-WebSocket-Extensions answered by duplex');
    const p = wsParams(ws);
    assert.ok(p, 'ws has no permessage-deflate params');
    const duplexTakeover = !p.server_no_context_takeover;
    const wsTakeover = !p.client_no_context_takeover;
    const duplexWindow = p.server_max_window_bits ?? 15;
    const wsWindow = p.client_max_window_bits ?? 15;
    const f = await battery(ws, { duplexTakeover, wsTakeover, duplexWindow, wsWindow }, `A1.${k + 1}`);
    await closeAndExpect(ws, 1000, 1000, 'close 1000');
    assert.deepEqual(ws.errors.map((e) => e.message), [], 'ws client errors');
    t.note(`params ${JSON.stringify(p)}; ${fmtFigures(f)}`);
  });
});

test('A1x ws with clientNoContextTakeover:false explicitly refuses duplex-echo --deflate (it answers client_no_context_takeover)', async () => {
  // RFC 7692 7.1.1.2 lets a server add client_no_context_takeover to any
  // answer; ws reads an explicit `false` as "do not accept it" and fails the
  // connection (no fallback to uncompressed). Recorded here so a change on
  // either side is noticed; duplex-echo --deflate-takeover is fine (A1.6/7).
  const { url } = await sharedEchoServer(NT);
  for (const snt of [true, false]) {
    const ws = new WebSocket(`${url}/a1x`, { perMessageDeflate: { clientNoContextTakeover: false, serverNoContextTakeover: snt, threshold: 0 } });
    let answered;
    ws.once('upgrade', (res) => { answered = res.headers['sec-websocket-extensions']; });
    const r = await withTimeout(new Promise((resolve) => {
      ws.once('open', () => resolve({ opened: true }));
      ws.once('error', (e) => resolve({ error: e.message }));
    }), 5000, 'ws outcome');
    ws.terminate();
    assert.equal(answered, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', `answer (serverNoContextTakeover:${snt})`);
    assert.deepEqual(r, { error: 'Invalid Sec-WebSocket-Extensions header' }, `ws outcome (serverNoContextTakeover:${snt})`);
  }
  // duplex-echo is unaffected.
  const ws = await openClient(`${url}/a1x`, { threshold: 0 });
  ws.send('still fine');
  assertBufEq((await ws.inbox.next()).data, Buffer.from('still fine'), 'echo after refused handshakes');
  await closeAndExpect(ws, 1000, 1000, 'close 1000');
});

test('A2 ws offering permessage-deflate to duplex-echo without --deflate: no extension, plain frames, works', async (t) => {
  const { url } = await sharedEchoServer([]);
  const ws = t.own(await openClient(`${url}/a2`, { threshold: 0, clientNoContextTakeover: false, serverNoContextTakeover: false }));
  assert.equal(ws.extensions, '', 'ws.extensions');
  assert.equal(ws.responseExtensions, undefined, 'Sec-WebSocket-Extensions in the 101');
  for (const n of [0, 100, 64 * KiB, MiB]) {
    const p = text(n, 60);
    ws.send(p, { compress: true });
    assertBufEq((await ws.inbox.next()).data, p, `text ${n}`);
  }
  assert.ok(ws.wire.messages.every((w) => !w.rsv1), 'duplex set RSV1 without the extension');
  assert.deepEqual(ws.wire.problems, [], 'frames sent by duplex');
  await closeAndExpect(ws, 1000, 1000, 'close 1000');
});

// Decompression bombs: 64 MiB of zeros compress to ~64 KiB. duplex must stop
// inflating at --max-message (1 MiB) and close 1009, without growing. The bomb
// is far bigger than the allowed growth because under ASan the legitimate
// 1 MiB messages alone raise the peak by ~12 MiB (freed blocks stay in
// ASan's quarantine; natively it is ~3 MiB).
for (const [k, srvArgs] of [[1, NT], [2, TO]]) {
  test(`A3.${k} decompression bomb against duplex-echo ${srvArgs.join(' ')} --max-message 1048576: limit exact, 64 MiB -> 1009, server lives`, async (t) => {
    const s = await startEchoServer([...srvArgs, '--max-message', String(MiB)]);
    t.defer(() => stopChild(s.child));
    const pmd = { threshold: 0, clientNoContextTakeover: false, serverNoContextTakeover: false };
    const pmdArg = srvArgs === NT ? { threshold: 0 } : pmd;

    // Exactly the limit, decompressed, is accepted (also as 16 compressed fragments).
    const a = t.own(await openClient(`${s.url}/limit`, pmdArg));
    const hwm0 = vmHWM(s.child.pid);
    const exact = Buffer.alloc(MiB);
    a.send(exact, { compress: true });
    assertBufEq((await a.inbox.next()).data, exact, '1 MiB of zeros (= limit)');
    for (let i = 0; i < 16; ++i) a.send(exact.subarray(i * 64 * KiB, (i + 1) * 64 * KiB), { binary: true, fin: i === 15, compress: true });
    assertBufEq((await a.inbox.next()).data, exact, '1 MiB of zeros in 16 compressed fragments');
    const wsSent = a._socket.bytesWritten;
    // One byte more: 1009.
    a.send(Buffer.alloc(MiB + 1), { compress: true });
    assert.equal((await withTimeout(a.closedP, 5000, 'close after limit + 1')).code, 1009, 'close code for 1 MiB + 1 decompressed');

    // The bomb, whole.
    const b = t.own(await openClient(`${s.url}/bomb`, pmdArg));
    const w0 = b._socket.bytesWritten;
    let sendResult = 'pending';
    b.send(Buffer.alloc(64 * MiB), { binary: true, compress: true }, (e) => { sendResult = e ? e.message : 'ok'; });
    const c = await withTimeout(b.closedP, 10_000, 'close after the 64 MiB bomb');
    assert.equal(c.code, 1009, `close code for the bomb (ws send result: ${sendResult})`);
    const bombWire = b._socket.bytesWritten - w0;

    // The bomb as 128 compressed fragments of 512 KiB (text: zeros are valid UTF-8).
    const f = t.own(await openClient(`${s.url}/fragbomb`, pmdArg));
    const half = Buffer.alloc(512 * KiB);
    for (let i = 0; i < 128; ++i) f.send(half, { binary: false, fin: i === 127, compress: true });
    assert.equal((await withTimeout(f.closedP, 10_000, 'close after the fragmented bomb')).code, 1009, 'close code for the fragmented bomb');

    await sleep(100);
    assert.equal(s.child.exitCode, null, `duplex-echo died; stderr: ${s.child.stderrText}`);
    const hwm1 = vmHWM(s.child.pid);
    if (hwm0 !== null && hwm1 !== null) {
      // 1 MiB message + its echo + buffers; inflating the bomb would add 64 MiB.
      assert.ok(hwm1 - hwm0 < 24 * KiB, `duplex-echo peak RSS grew by ${hwm1 - hwm0} KiB (from ${hwm0} KiB)`);
    }
    // Next client is served normally, compressed.
    const n = t.own(await openClient(`${s.url}/after`, pmdArg));
    const p = text(100_000, 61);
    n.send(p);
    assertBufEq((await n.inbox.next()).data, p, 'echo after the bombs');
    assert.equal(n.wire.messages[0].rsv1, true, 'echo after the bombs compressed');
    await closeAndExpect(n, 1000, 1000, 'close 1000');
    t.note(`bomb: ${bombWire} B on the wire for 64 MiB; 2 x 1 MiB limit messages ${wsSent} B incl. handshake; ` +
           `duplex-echo VmHWM ${hwm0} -> ${hwm1} KiB`);
  });
}

// ws's own bytes for 1000 chat messages to duplex-echo, three settings, on
// fresh connections (the battery figures include other traffic's context).
test('A4 bytes on the wire for 1000 chat messages: plain, no takeover, takeover', async (t) => {
  const N = 1000;
  const chats = Array.from({ length: N }, (_, i) => chatJson(i));
  const raw = chats.reduce((s, c) => s + Buffer.byteLength(c), 0);
  const rows = [];
  for (const [name, srvArgs, pmd] of [
    ['plain', [], false],
    ['no takeover', NT, { threshold: 0 }],
    ['takeover', TO, { threshold: 0, clientNoContextTakeover: false, serverNoContextTakeover: false }],
  ]) {
    const { url } = await sharedEchoServer(srvArgs);
    const ws = t.own(await openClient(`${url}/a4`, pmd));
    const w0 = ws._socket.bytesWritten;
    const r0 = ws._socket.bytesRead;
    for (const c of chats) ws.send(c);
    for (let i = 0; i < N; ++i) {
      const m = await ws.inbox.next(20_000, `chat echo #${i}`);
      if (m.data.toString() !== chats[i]) assert.fail(`${name}: chat echo #${i} differs: ${m.data.toString().slice(0, 120)}`);
    }
    rows.push({ name, sent: ws._socket.bytesWritten - w0, received: ws._socket.bytesRead - r0 });
    await closeAndExpect(ws, 1000, 1000, 'close 1000');
  }
  const [plain, nt, to] = rows;
  assert.ok(nt.received < plain.received, `duplex no-takeover (${nt.received} B) not smaller than plain (${plain.received} B)`);
  assert.ok(to.received < nt.received * 0.5, `duplex takeover (${to.received} B) not < half of no-takeover (${nt.received} B)`);
  assert.ok(to.sent < nt.sent * 0.5, `ws takeover (${to.sent} B) not < half of no-takeover (${nt.sent} B)`);
  t.note(`${N} chat messages, ${raw} B of JSON: ` + rows.map((r) =>
    `${r.name}: ws sent ${r.sent} B (${(r.sent / raw).toFixed(2)}), duplex sent ${r.received} B (${(r.received / raw).toFixed(2)})`).join('; '));
});

// ==== B. duplex client (duplex-echo --connect) -> ws WebSocketServer ====
//
// duplex-echo --deflate offers
//   permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits
// and requires the server to agree to server_no_context_takeover;
// --deflate-takeover offers "permessage-deflate; client_max_window_bits".

const OFFER_NT = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits';
const OFFER_TO = 'permessage-deflate; client_max_window_bits';

const B_MATRIX = [
  // [duplex args, ws server perMessageDeflate, expected answer]
  [NT, { serverNoContextTakeover: true, clientNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [NT, { serverNoContextTakeover: true, clientNoContextTakeover: false }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [NT, {}, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [NT, { clientMaxWindowBits: 8, serverMaxWindowBits: 8 }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=8; server_max_window_bits=8'],
  [TO, { serverNoContextTakeover: false, clientNoContextTakeover: false }, 'permessage-deflate'],
  [TO, { serverNoContextTakeover: true, clientNoContextTakeover: false }, 'permessage-deflate; server_no_context_takeover'],
  [TO, { serverNoContextTakeover: false, clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
  [TO, { serverNoContextTakeover: true, clientNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  // Window limits imposed by the ws server (client_max_window_bits=N in the
  // answer: duplex must compress within it; server_max_window_bits=N
  // unrequested: duplex must accept it).
  [TO, { clientMaxWindowBits: 10, serverMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10; server_max_window_bits=10'],
  [TO, { clientMaxWindowBits: 8, serverMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=8; server_max_window_bits=9'],
];

B_MATRIX.forEach(([args, pmd, answer], k) => {
  test(`B1.${k + 1} duplex-echo --connect ${args.join(' ')} -> ws server ${pmdLabel(pmd)}: negotiated, all sizes, random, chat, fragments, close 1000`, async (t) => {
    const wss = await startWsServer({ ...pmd, threshold: 0 });
    t.defer(() => closeWsServer(wss));
    const { child, socket } = await startDuplexClient(t, wss, args, '/deflate');
    assert.equal(socket.offer, args === NT ? OFFER_NT : OFFER_TO, 'Sec-WebSocket-Extensions offered by duplex');
    assert.equal(socket.responseExtensions, answer, 'Sec-WebSocket-Extensions answered by ws');
    assert.equal(socket.extensions, 'permessage-deflate', 'socket.extensions on the ws server');
    const p = wsParams(socket);
    const duplexTakeover = !p.client_no_context_takeover;
    const wsTakeover = !p.server_no_context_takeover;
    const duplexWindow = p.client_max_window_bits ?? 15;
    const wsWindow = p.server_max_window_bits ?? 15;
    const f = await battery(socket, { duplexTakeover, wsTakeover, duplexWindow, wsWindow }, `B1.${k + 1}`);
    socket.close(1000, 'done');
    const c = await withTimeout(socket.closedP, 5000, 'ws server close event');
    assert.equal(c.code, 1000, 'close code echoed by the duplex client');
    await expectExit(child, 0, 5000, 'clean close 1000');
    assert.deepEqual(socket.errors.map((e) => e.message), [], 'ws server socket errors');
    assert.equal(socket.wire.controls.at(-1)?.opcode, 0x8, 'last client frame is a Close');
    t.note(`params ${JSON.stringify(p)}; ${fmtFigures(f).replaceAll('ws->duplex', 'ws server->duplex').replaceAll('duplex->ws', 'duplex->ws server')}`);
  });
});

test('B2 ws server with serverNoContextTakeover:false answers duplex --deflate\'s offer with 400: client exits 1 at once', async (t) => {
  // duplex --deflate requires server_no_context_takeover; ws refuses to drop
  // its context and fails the handshake (400) instead of declining the offer.
  const wss = await startWsServer({ serverNoContextTakeover: false, threshold: 0 });
  t.defer(() => closeWsServer(wss));
  let connected = false;
  wss.on('connection', () => { connected = true; });
  const start = Date.now();
  const child = spawnEcho(['--connect', `ws://${HOST}:${wss.port}/b2`, ...NT]);
  t.defer(() => stopChild(child));
  await expectExit(child, 1, 5000, 'refused offer');
  assert.ok(Date.now() - start < 3000, `exit took ${Date.now() - start} ms`);
  assert.match(child.stderrText, /400/, 'duplex-echo reports the 400');
  assert.equal(connected, false, 'ws server accepted a connection');
});

test('B3 duplex --deflate client and a ws server without permessage-deflate: no extension, plain frames, works', async (t) => {
  const wss = await startWsServer(false);
  t.defer(() => closeWsServer(wss));
  const { child, socket } = await startDuplexClient(t, wss, TO, '/deflate');
  assert.equal(socket.offer, OFFER_TO, 'offer');
  assert.equal(socket.responseExtensions, undefined, 'answer');
  assert.equal(socket.extensions, '', 'socket.extensions');
  for (const n of [0, 1000, MiB]) {
    const p = text(n, 70);
    socket.send(p);
    assertBufEq((await socket.inbox.next()).data, p, `text ${n}`);
  }
  assert.ok(socket.wire.messages.every((w) => !w.rsv1), 'duplex set RSV1 without the extension');
  assert.deepEqual(socket.wire.problems, [], 'frames sent by duplex');
  socket.close(1000);
  await withTimeout(socket.closedP, 5000, 'close');
  await expectExit(child, 0, 5000, 'clean close 1000');
});

for (const [k, args] of [[1, NT], [2, TO]]) {
  test(`B4.${k} decompression bomb against duplex-echo --connect ${args.join(' ')} --max-message 1048576: 20 MiB of zeros -> 1009, exit 1`, async (t) => {
    const wss = await startWsServer({ threshold: 0 });
    t.defer(() => closeWsServer(wss));
    const { child, socket } = await startDuplexClient(t, wss, [...args, '--max-message', String(MiB)], '/deflate');
    const exact = Buffer.alloc(MiB);
    socket.send(exact);
    assertBufEq((await socket.inbox.next()).data, exact, '1 MiB of zeros (= limit)');
    const w0 = socket._socket.bytesWritten;
    socket.send(Buffer.alloc(20 * MiB), { binary: true, compress: true });
    const c = await withTimeout(socket.closedP, 10_000, 'close after the bomb');
    assert.equal(c.code, 1009, 'close code sent by the duplex client');
    await expectExit(child, 1, 5000, 'bomb');
    assert.deepEqual(socket.wire.problems, [], 'frames sent by duplex');
    t.note(`bomb: ${socket._socket.bytesWritten - w0} B on the wire for 20 MiB`);
  });
}

run();
