#!/usr/bin/env node
// Interoperability of duplex with an independent RFC 6455 implementation,
// Node's `ws` (pinned in package.json), in both directions:
//   A. `ws` client  -> duplex server (duplex-echo server mode)
//   B. duplex client (duplex-echo --connect) -> `ws` WebSocketServer
//
//   node tests/interop/ws_interop.mjs --echo build/native/examples/duplex-echo [--only SUBSTRING]
//   (or DUPLEX_ECHO=path/to/duplex-echo node tests/interop/ws_interop.mjs)
//
// Everything listens on 127.0.0.1 on free ports. Every child process is killed
// when the script exits (also on failure, on signals and when the global
// watchdog fires). Prints one line per case and a final "N passed, M failed";
// exit status 0 only if every case passed.
import assert from 'node:assert/strict';

import WebSocket from 'ws';

import {
  HOST, assertBufEq, closeWsServer, expectExit, openClient, randomBytes as bytes, readFrames, run, setup,
  sharedEchoServer, sleep, startDuplexClient, startWsServer, test, toBuf, withTimeout,
} from './harness.mjs';

// ---- configuration ------------------------------------------------------------

const MiB = 1024 * 1024;
const ECHO_DEFAULT_MAX = 16 * MiB;  // duplex-echo's default --max-message

setup({ name: 'interop', globalTimeoutMs: 165_000 /* CTest: 180 s */, caseTimeoutMs: 40_000 });

// ---- small helpers ----------------------------------------------------------------

async function expectEcho(ws, payload, isBinary, what) {
  const m = await ws.inbox.next(20_000, `echo of ${what}`);
  assert.equal(m.isBinary, isBinary, `${what}: echoed as ${m.isBinary ? 'binary' : 'text'}`);
  assertBufEq(m.data, payload, what);
}

function pingPong(ws, payload, ms = 5000) {
  return withTimeout(new Promise((resolve) => {
    const onPong = (data) => { ws.off('pong', onPong); resolve(toBuf(data)); };
    ws.on('pong', onPong);
    ws.ping(payload);
  }), ms, `pong for ping ${JSON.stringify(payload.toString())}`);
}

async function closeAndExpect(ws, code, reason, expectCode, what) {
  const start = Date.now();
  if (code === undefined) ws.close(); else ws.close(code, reason);
  const c = await withTimeout(ws.closedP, 5000, `close event (${what})`);
  assert.equal(c.code, expectCode, `${what}: close code`);
  // ws finishes the handshake when the server closes TCP; it would otherwise wait 30 s.
  assert.ok(c.at - start < 3000, `${what}: close handshake took ${c.at - start} ms`);
  return c;
}

// ---- frames of the duplex client, read off the wire -----------------------------

function checkClientFrames(frames, what) {
  assert.ok(frames.length > 0, `${what}: no frames sniffed`);
  const unmasked = frames.filter((f) => !f.masked);
  assert.equal(unmasked.length, 0, `${what}: ${unmasked.length} of ${frames.length} client frames unmasked`);
  const rsv = frames.filter((f) => f.rsv !== 0);
  assert.equal(rsv.length, 0, `${what}: frames with RSV bits set`);
  const keys = new Set(frames.map((f) => f.key));
  if (frames.length >= 4) assert.ok(keys.size > 1, `${what}: every frame used the same masking key ${[...keys][0]}`);
}

// ---- ws server side (for the duplex client) --------------------------------------

// A ws server for the case, and a duplex-echo --connect client on it;
// `socket.frames`: every frame the client sent (checkClientFrames).
async function duplexClient(t, extraArgs = [], urlPath = '/') {
  const wss = await startWsServer({ perMessageDeflate: false }, (socket, req) => {
    socket.frames = [];
    readFrames(req.socket, (f) => socket.frames.push(f));
  });
  t.defer(() => closeWsServer(wss));
  return { wss, ...(await startDuplexClient(t, wss, extraArgs, urlPath)) };
}

// ---- cases ----------------------------------------------------------------------

// Shared duplex-echo servers for part A.
const server = () => sharedEchoServer([]);
const smallServer = () => sharedEchoServer(['--max-message', '1000']);

// ==== A. ws client -> duplex server ====

test('A1 text message', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(`${url}/echo`));
  ws.send('hello, duplex');
  await expectEcho(ws, Buffer.from('hello, duplex'), false, 'text');
  assert.equal(ws.protocol, '');
  assert.equal(ws.extensions, '');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A2 binary message (all byte values)', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(`${url}/some/other/path?x=1`));
  const all = Buffer.from([...Array(256).keys()]);
  ws.send(all);
  await expectEcho(ws, all, true, 'binary 0..255');
  const rnd = bytes(1000, 7);
  ws.send(rnd);
  await expectEcho(ws, rnd, true, 'binary 1000 random');
  await closeAndExpect(ws, 1000, 'bye', 1000, 'close 1000');
});

test('A3 empty text and empty binary messages', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  ws.send('');
  ws.send(Buffer.alloc(0));
  ws.send('after-empty');
  await expectEcho(ws, Buffer.alloc(0), false, 'empty text');
  await expectEcho(ws, Buffer.alloc(0), true, 'empty binary');
  await expectEcho(ws, Buffer.from('after-empty'), false, 'text after empties');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A4 UTF-8 multi-byte text (2/3/4-byte sequences)', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const s = 'Grüße, κόσμε, こんにちは, € 𝄞 🌍🚀, \u0000 nul, \uFFFD, \u{10FFFF}';
  ws.send(s);
  await expectEcho(ws, Buffer.from(s, 'utf8'), false, 'utf-8 text');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A5 payload length encodings (125/126/127/65535/65536 bytes)', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const sizes = [1, 125, 126, 127, 128, 65535, 65536, 65537, 200_000];
  const payloads = sizes.map((n, i) => bytes(n, 100 + i));
  payloads.forEach((p) => ws.send(p));
  for (let i = 0; i < sizes.length; ++i) await expectEcho(ws, payloads[i], true, `binary ${sizes[i]} bytes`);
  const text = 'x'.repeat(65536);
  ws.send(text);
  await expectEcho(ws, Buffer.from(text), false, 'text 65536 bytes');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A6 large messages: 1 MiB binary, 1 MiB text, 8 MiB binary', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const b1 = bytes(1 * MiB, 11);
  ws.send(b1);
  await expectEcho(ws, b1, true, '1 MiB binary');
  const t1 = Buffer.from('αβγδ€𝄞'.repeat(Math.ceil(MiB / 16)), 'utf8');
  ws.send(t1.toString('utf8'));
  await expectEcho(ws, t1, false, '~1 MiB multi-byte text');
  const b8 = bytes(8 * MiB, 12);
  ws.send(b8);
  await expectEcho(ws, b8, true, '8 MiB binary');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A7 exactly the 16 MiB limit is accepted; 16 MiB + 1 closes with 1009', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const big = bytes(ECHO_DEFAULT_MAX, 13);
  ws.send(big);
  await expectEcho(ws, big, true, '16 MiB binary (= limit)');
  const ws2 = t.own(await openClient(url + '/'));
  let sendResult = 'pending';
  ws2.send(Buffer.alloc(ECHO_DEFAULT_MAX + 1, 0x61), (e) => { sendResult = e ? e.code || e.message : 'ok'; });
  const c = await withTimeout(ws2.closedP, 20_000, 'close after 16 MiB + 1');
  assert.equal(c.code, 1009, `close code seen by ws for a 16 MiB + 1 message (ws send result: ${sendResult})`);
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A8 fragmented binary message (4 fragments incl. an empty one) echoed as one', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const parts = [bytes(1000, 21), Buffer.alloc(0), bytes(70_000, 22), bytes(3, 23)];
  parts.forEach((p, i) => ws.send(p, { binary: true, fin: i === parts.length - 1 }));
  await expectEcho(ws, Buffer.concat(parts), true, 'reassembled binary');
  // A whole message right after it must not be merged with it.
  ws.send('next');
  await expectEcho(ws, Buffer.from('next'), false, 'message after fragmented one');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A9 fragmented text with UTF-8 sequences split across fragments', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  // "a€b𝄞c": € = e2 82 ac, 𝄞 = f0 9d 84 9e; split inside both sequences, one byte per fragment.
  const whole = Buffer.from('a€b𝄞c', 'utf8');
  const parts = [whole.subarray(0, 2), whole.subarray(2, 3), whole.subarray(3, 6), whole.subarray(6, 7),
    whole.subarray(7, 8), whole.subarray(8, whole.length)];
  parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
  await expectEcho(ws, whole, false, 'reassembled split UTF-8 text');
  // Same with every byte in its own fragment.
  const s2 = Buffer.from('ü€𝄞🌍', 'utf8');
  for (let i = 0; i < s2.length; ++i) ws.send(s2.subarray(i, i + 1), { binary: false, fin: i === s2.length - 1 });
  await expectEcho(ws, s2, false, 'one byte per fragment');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A10 ping -> pong with the same payload (empty, text, 125 bytes, between fragments)', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  assertBufEq(await pingPong(ws, Buffer.alloc(0)), Buffer.alloc(0), 'empty ping');
  assertBufEq(await pingPong(ws, Buffer.from('ping-1')), Buffer.from('ping-1'), 'text ping');
  const p125 = bytes(125, 31);
  assertBufEq(await pingPong(ws, p125), p125, '125-byte ping');
  // Ping in the middle of a fragmented message: answered, message intact.
  const pong = new Promise((r) => ws.once('pong', (d) => r(toBuf(d))));
  ws.send(Buffer.from('frag-1|'), { binary: false, fin: false });
  ws.ping(Buffer.from('mid'));
  ws.send(Buffer.from('frag-2'), { binary: false, fin: true });
  assertBufEq(await withTimeout(pong, 5000, 'pong between fragments'), Buffer.from('mid'), 'ping between fragments');
  await expectEcho(ws, Buffer.from('frag-1|frag-2'), false, 'message around the ping');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A11 close codes: 1000, 4000 with reason, no status (1005) are echoed', async (t) => {
  const { url } = await server();
  const a = t.own(await openClient(url + '/'));
  await closeAndExpect(a, 1000, 'normal', 1000, 'close 1000');
  const b = t.own(await openClient(url + '/'));
  b.send('x');
  await expectEcho(b, Buffer.from('x'), false, 'before 4000');
  await closeAndExpect(b, 4000, 'app reason ✓', 4000, 'close 4000');
  const c = t.own(await openClient(url + '/'));
  await closeAndExpect(c, 1001, 'going away', 1001, 'close 1001');
  const d = t.own(await openClient(url + '/'));
  await closeAndExpect(d, undefined, undefined, 1005, 'close without status code');
});

test('A12 message over --max-message 1000: exactly 1000 echoed, 1001 -> 1009', async (t) => {
  const { url } = await smallServer();
  const ws = t.own(await openClient(url + '/'));
  const ok = bytes(1000, 41);
  ws.send(ok);
  await expectEcho(ws, ok, true, '1000 bytes (= limit)');
  ws.send(bytes(1001, 42));
  const c = await withTimeout(ws.closedP, 5000, 'close after 1001 bytes');
  assert.equal(c.code, 1009, 'close code for 1001-byte message');
  // A text message over the limit as well.
  const ws2 = t.own(await openClient(url + '/'));
  ws2.send('y'.repeat(5000));
  assert.equal((await withTimeout(ws2.closedP, 5000, 'close after 5000-byte text')).code, 1009, 'close code for 5000-byte text');
});

test('A12b message far over --max-message 1000 (16 MiB, more than the socket buffers) -> 1009', async (t) => {
  // The peer is still sending when duplex fails the connection: the Close
  // (1009) must still reach it (RFC 6455 7.1.7/7.4.1), i.e. duplex must not
  // reset the TCP connection by closing it with unread data.
  const { url } = await smallServer();
  const ws = t.own(await openClient(url + '/'));
  let sendResult = 'pending';
  ws.send(Buffer.alloc(16 * MiB, 0x45), (e) => { sendResult = e ? e.code || e.message : 'ok'; });
  const c = await withTimeout(ws.closedP, 10_000, 'close after 16 MiB');
  assert.equal(c.code, 1009, `close code seen by ws for a 16 MiB message (ws send result: ${sendResult})`);
});

test('A13 fragmented message whose total exceeds --max-message 1000 -> 1009', async (t) => {
  const { url } = await smallServer();
  const ws = t.own(await openClient(url + '/'));
  ws.send(bytes(600, 43), { binary: true, fin: false });
  ws.send(bytes(600, 44), { binary: true, fin: true });
  const c = await withTimeout(ws.closedP, 5000, 'close after 600+600 fragments');
  assert.equal(c.code, 1009, 'close code for 1200 bytes in two fragments');
  const m = ws.inbox.items.length;
  assert.equal(m, 0, 'no message may be echoed');
});

test('A14 10,000 pipelined small messages echoed in order', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/'));
  const N = 10_000;
  for (let i = 0; i < N; ++i) {
    if (i % 2) ws.send(Buffer.from(`bin-${i}`)); else ws.send(`text-${i}`);
  }
  for (let i = 0; i < N; ++i) {
    const m = await ws.inbox.next(20_000, `echo #${i}`);
    const want = i % 2 ? `bin-${i}` : `text-${i}`;
    if (m.isBinary !== Boolean(i % 2) || m.data.toString() !== want) {
      assert.fail(`echo #${i}: expected ${want} (${i % 2 ? 'binary' : 'text'}), got ${m.data.toString().slice(0, 40)} (${m.isBinary ? 'binary' : 'text'})`);
    }
  }
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A15 20 concurrent clients x 200 messages, no cross-talk', async (t) => {
  const { url } = await server();
  const clients = await Promise.all(Array.from({ length: 20 }, (_, k) => openClient(`${url}/c${k}`).then((w) => t.own(w))));
  clients.forEach((ws, k) => { for (let i = 0; i < 200; ++i) ws.send(`c${k}-m${i}`); });
  await Promise.all(clients.map(async (ws, k) => {
    for (let i = 0; i < 200; ++i) {
      const m = await ws.inbox.next(20_000, `client ${k} echo ${i}`);
      assert.equal(m.data.toString(), `c${k}-m${i}`, `client ${k} echo ${i}`);
    }
  }));
  await Promise.all(clients.map((ws) => closeAndExpect(ws, 1000, undefined, 1000, 'close 1000')));
});

test('A16 permessage-deflate offered by ws is declined; plain frames work', async (t) => {
  const { url } = await server();
  const ws = t.own(await openClient(url + '/', undefined, { perMessageDeflate: true }));
  assert.equal(ws.extensions, '', 'negotiated extensions');
  const p = Buffer.from('z'.repeat(10_000));
  ws.send(p);
  await expectEcho(ws, p, true, 'binary with deflate offered');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

test('A17 subprotocols: none selected by duplex-echo', async (t) => {
  const { url } = await server();
  // Without an offer: no protocol.
  const plain = t.own(await openClient(url + '/'));
  assert.equal(plain.protocol, '', 'protocol without offer');
  await closeAndExpect(plain, 1000, undefined, 1000, 'close 1000');
  // With an offer: duplex-echo speaks none, so its 101 must carry no
  // Sec-WebSocket-Protocol (RFC 6455 4.2.2). ws 8 then fails the connection
  // itself ("Server sent no subprotocol"), so ws.protocol cannot be observed
  // as '' on an open socket; check the 101 response instead.
  const ws = new WebSocket(url + '/', ['chat', 'superchat'], { perMessageDeflate: false });
  t.own(ws);
  const upgrade = new Promise((r) => ws.once('upgrade', (res) => r(res)));
  const err = new Promise((r) => ws.once('error', (e) => r(e)));
  const res = await withTimeout(upgrade, 5000, '101 response');
  assert.equal(res.statusCode, 101, 'status');
  assert.equal(res.headers['sec-websocket-protocol'], undefined, 'Sec-WebSocket-Protocol in 101');
  const e = await withTimeout(err, 5000, 'ws client error');
  assert.match(e.message, /Server sent no subprotocol/, 'ws error');
  assert.equal(ws.protocol, '', 'ws.protocol');
});

test('A18 invalid UTF-8 text (whole and split across fragments) -> 1007', async (t) => {
  // ws validates UTF-8 of received text, not of text it sends as a Buffer.
  const { url } = await server();
  const a = t.own(await openClient(url + '/'));
  a.send(Buffer.from([0x61, 0xc3, 0x28]), { binary: false });
  assert.equal((await withTimeout(a.closedP, 5000, 'close after invalid UTF-8')).code, 1007, 'close code, invalid UTF-8');
  const b = t.own(await openClient(url + '/'));
  b.send(Buffer.from([0x61, 0xe2, 0x82]), { binary: false, fin: false });
  b.send(Buffer.from([0x62]), { binary: false, fin: true });
  assert.equal((await withTimeout(b.closedP, 5000, 'close after split invalid UTF-8')).code, 1007, 'close code, invalid split UTF-8');
  const c = t.own(await openClient(url + '/'));
  c.send(Buffer.from([0x61, 0xf0, 0x9f]), { binary: false, fin: true });
  assert.equal((await withTimeout(c.closedP, 5000, 'close after truncated UTF-8')).code, 1007, 'close code, truncated UTF-8 at end');
});

test('A19 abrupt client disconnects do not hurt the server', async (t) => {
  const srv = await server();
  for (let i = 0; i < 5; ++i) {
    const ws = await openClient(srv.url + '/');
    ws.send(bytes(100_000, 50 + i), { binary: true, fin: false });  // half a message
    ws.terminate();
  }
  await sleep(200);
  assert.equal(srv.child.exitCode, null, `duplex-echo server died; stderr: ${srv.child.stderrText}`);
  const ws = t.own(await openClient(srv.url + '/'));
  ws.send('still alive');
  await expectEcho(ws, Buffer.from('still alive'), false, 'after abrupt disconnects');
  await closeAndExpect(ws, 1000, undefined, 1000, 'close 1000');
});

// ==== B. duplex client -> ws server ====

test('B1 duplex client echoes text, binary, empty, 5 MiB, fragmented, split UTF-8; pongs; clean 1000 -> exit 0', async (t) => {
  const { wss, child, socket } = await duplexClient(t, [], '/interop?case=b1');

  // Handshake request as seen by ws.
  const h = socket.req.headers;
  assert.equal(socket.req.url, '/interop?case=b1', 'request target');
  assert.equal(h['sec-websocket-version'], '13', 'Sec-WebSocket-Version');
  assert.equal(Buffer.from(h['sec-websocket-key'], 'base64').length, 16, 'Sec-WebSocket-Key is 16 bytes');
  assert.equal(h.host, `${HOST}:${wss.port}`, 'Host');
  assert.equal(h['sec-websocket-protocol'], undefined, 'no subprotocols offered');
  assert.equal(socket.protocol, '', 'protocol');

  const sent = [];
  const send = (data, isBinary) => { sent.push({ data: Buffer.from(data), isBinary }); socket.send(data, { binary: isBinary }); };
  send('hello from ws', false);
  send(bytes(300, 61), true);
  send(Buffer.alloc(0), false);
  send(Buffer.alloc(0), true);
  send(Buffer.from('Grüße 🌍 €𝄞 こんにちは', 'utf8'), false);
  send(bytes(65535, 62), true);
  send(bytes(65536, 63), true);
  send(bytes(5 * MiB, 64), true);

  // Fragmented binary (with an empty fragment).
  const fparts = [bytes(1000, 65), Buffer.alloc(0), bytes(20_000, 66), bytes(7, 67)];
  fparts.forEach((p, i) => socket.send(p, { binary: true, fin: i === fparts.length - 1 }));
  sent.push({ data: Buffer.concat(fparts), isBinary: true });

  // Fragmented text, UTF-8 split inside sequences, with a ping between fragments.
  const whole = Buffer.from('x€y𝄞z', 'utf8');
  const tparts = [whole.subarray(0, 2), whole.subarray(2, 5), whole.subarray(5, 7), whole.subarray(7)];
  const midPong = new Promise((r) => socket.once('pong', (d) => r(toBuf(d))));
  socket.send(tparts[0], { binary: false, fin: false });
  socket.ping(Buffer.from('between-fragments'));
  socket.send(tparts[1], { binary: false, fin: false });
  socket.send(tparts[2], { binary: false, fin: false });
  socket.send(tparts[3], { binary: false, fin: true });
  sent.push({ data: whole, isBinary: false });
  assertBufEq(await withTimeout(midPong, 10_000, 'pong between fragments'), Buffer.from('between-fragments'), 'ping between fragments');

  // Pings: the duplex client answers each with the same payload.
  assertBufEq(await pingPong(socket, Buffer.from('ping-payload')), Buffer.from('ping-payload'), 'ping');
  assertBufEq(await pingPong(socket, Buffer.alloc(0)), Buffer.alloc(0), 'empty ping');
  const p125 = bytes(125, 68);
  assertBufEq(await pingPong(socket, p125), p125, '125-byte ping');

  for (let i = 0; i < sent.length; ++i) {
    const m = await socket.inbox.next(20_000, `echo #${i}`);
    assert.equal(m.isBinary, sent[i].isBinary, `echo #${i} type`);
    assertBufEq(m.data, sent[i].data, `echo #${i} (${sent[i].data.length} bytes)`);
  }
  assert.equal(socket.inbox.items.length, 0, 'unexpected extra messages');

  const start = Date.now();
  socket.close(1000, 'done');
  const c = await withTimeout(socket.closedP, 5000, 'ws server close event');
  assert.equal(c.code, 1000, 'close code echoed by duplex client');
  await expectExit(child, 0, 3000, 'clean close 1000');
  assert.ok(Date.now() - start < 3000, `exit took ${Date.now() - start} ms`);
  assert.equal(socket.errors.length, 0, `ws server errors: ${socket.errors.map((e) => e.message)}`);
  checkClientFrames(socket.frames, 'B1');
  const dataFrames = socket.frames.filter((f) => f.opcode <= 2).length;
  assert.ok(dataFrames >= sent.length, `only ${dataFrames} data frames sniffed for ${sent.length} messages`);
  assert.ok(socket.frames.some((f) => f.opcode === 0xA), 'no pong frames sniffed');
  assert.equal(socket.frames.at(-1).opcode, 0x8, 'last client frame is a Close');
});

test('B2 ws server closes with 4001: duplex client echoes 4001 and exits 1', async (t) => {
  const { child, socket } = await duplexClient(t);
  socket.send('before-close');
  await expectEcho(socket, Buffer.from('before-close'), false, 'text before close');
  socket.close(4001, 'app-specific');
  const c = await withTimeout(socket.closedP, 5000, 'ws server close event');
  assert.equal(c.code, 4001, 'close code echoed by duplex client');
  await expectExit(child, 1, 3000, 'close 4001');
  assert.equal(socket.errors.length, 0, `ws server errors: ${socket.errors.map((e) => e.message)}`);
  checkClientFrames(socket.frames, 'B2');
});

test('B3 10,000 pipelined messages from the ws server echoed in order', async (t) => {
  const { child, socket } = await duplexClient(t);
  const N = 10_000;
  for (let i = 0; i < N; ++i) {
    if (i % 3 === 0) socket.send(Buffer.from(`b${i}`)); else socket.send(`t${i}`);
  }
  for (let i = 0; i < N; ++i) {
    const m = await socket.inbox.next(20_000, `echo #${i}`);
    const want = i % 3 === 0 ? `b${i}` : `t${i}`;
    if (m.isBinary !== (i % 3 === 0) || m.data.toString() !== want) {
      assert.fail(`echo #${i}: expected ${want}, got ${m.data.toString().slice(0, 40)} (${m.isBinary ? 'binary' : 'text'})`);
    }
  }
  socket.close(1000);
  assert.equal((await withTimeout(socket.closedP, 5000, 'close event')).code, 1000, 'close code');
  await expectExit(child, 0, 3000, 'clean close after 10,000 messages');
  checkClientFrames(socket.frames, 'B3');
  assert.ok(socket.frames.length >= N + 1, `${socket.frames.length} client frames sniffed`);
});

test('B4 duplex client --max-message 1000: 1000 echoed, 1001 -> client closes 1009, exit 1', async (t) => {
  const { child, socket } = await duplexClient(t, ['--max-message', '1000']);
  const ok = bytes(1000, 71);
  socket.send(ok);
  await expectEcho(socket, ok, true, '1000 bytes (= limit)');
  socket.send(bytes(1001, 72));
  const c = await withTimeout(socket.closedP, 5000, 'close after 1001 bytes');
  assert.equal(c.code, 1009, 'close code sent by the duplex client');
  await expectExit(child, 1, 5000, 'message too big');
  checkClientFrames(socket.frames, 'B4');
});

test('B4b duplex client --max-message 1000 gets 8 MiB while the ws server still sends -> 1009, exit 1', async (t) => {
  const { child, socket } = await duplexClient(t, ['--max-message', '1000']);
  let sendResult = 'pending';
  socket.send(bytes(8 * MiB, 73), (e) => { sendResult = e ? e.code || e.message : 'ok'; });
  const c = await withTimeout(socket.closedP, 10_000, 'close after 8 MiB');
  assert.equal(c.code, 1009, `close code seen by the ws server (ws send result: ${sendResult})`);
  await expectExit(child, 1, 5000, 'message too big (large)');
  checkClientFrames(socket.frames, 'B4b');
});

test('B5 invalid UTF-8 text from the ws server -> duplex client closes 1007, exit 1', async (t) => {
  const { child, socket } = await duplexClient(t);
  socket.send(Buffer.from([0x6f, 0x6b, 0xed, 0xa0, 0x80]), { binary: false });  // UTF-16 surrogate D800
  const c = await withTimeout(socket.closedP, 5000, 'close after invalid UTF-8');
  assert.equal(c.code, 1007, 'close code sent by the duplex client');
  await expectExit(child, 1, 5000, 'invalid UTF-8');
  checkClientFrames(socket.frames, 'B5');
});

test('B6 ws server drops TCP without a Close: duplex client exits 1', async (t) => {
  const { child, socket } = await duplexClient(t);
  socket.send('x');
  await expectEcho(socket, Buffer.from('x'), false, 'text before drop');
  socket.terminate();
  await expectExit(child, 1, 5000, 'abrupt TCP close');
  checkClientFrames(socket.frames, 'B6');
});

run();
