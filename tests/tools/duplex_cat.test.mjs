#!/usr/bin/env node
// duplex-cat against real servers: Node's `ws` (an independent RFC 6455
// implementation) and duplex-chat, and as a server (--listen) for a `ws`
// client. Every case checks what duplex-cat printed and its exit status
// (the table in docs/duplex-cat.md).
//
//   node tests/tools/duplex_cat.test.mjs --cat build/native/tools/duplex-cat/duplex-cat \
//        --chat build/native/server/duplex-chat [--only NAME]
//
// Prints one line per case and "N passed, M failed"; exit status 0 = all passed.
// Everything listens on 127.0.0.1 on free ports; children are killed on exit.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import WebSocket, { WebSocketServer } from 'ws';

import { startChat as runChat } from '../e2e/start_chat.mjs';

const HOST = '127.0.0.1';
const CASE_TIMEOUT_MS = 30_000;

const opts = { cat: null, chat: null, only: null };
for (let i = 2; i < process.argv.length; ++i) {
  const a = process.argv[i];
  const v = process.argv[++i];
  if (a === '--cat') opts.cat = path.resolve(v);
  else if (a === '--chat') opts.chat = path.resolve(v);
  else if (a === '--only') opts.only = v;
  else throw new Error(`unknown argument: ${a}`);
}
if (!opts.cat || !opts.chat) throw new Error('--cat and --chat are required');

const children = new Set();
const killAll = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(1); });

// A running duplex-cat: stdout/stderr collected, lines written to its stdin,
// waitFor(regex) until its stdout shows something, exited -> {code, stdout, stderr}.
function cat(args) {
  const child = spawn(opts.cat, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const run = { child, stdout: '', stderr: '' };
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = run.stdout.match(w.re);
      if (m) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
    }
  };
  child.stdout.on('data', (d) => { run.stdout += d; check(); });
  child.stderr.on('data', (d) => { run.stderr += d; });
  child.stdin.on('error', () => {});  // it may exit before reading everything
  run.exited = new Promise((resolve) => child.on('close', (code, signal) => {
    children.delete(child);
    for (const w of waiters) w.reject(new Error(`duplex-cat exited (${code}) before printing ${w.re}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`));
    resolve({ code, signal, stdout: run.stdout, stderr: run.stderr });
  }));
  run.waitFor = (re) => new Promise((resolve, reject) => { waiters.push({ re, resolve, reject }); check(); });
  run.send = (line) => child.stdin.write(line + '\n');
  run.end = () => child.stdin.end();
  return run;
}

const events = (stdout) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

// A `ws` server on a free port; onConnection(ws, req) per client.
async function wsServer(onConnection, serverOpts = {}) {
  const wss = new WebSocketServer({ host: HOST, port: 0, ...serverOpts });
  wss.on('connection', onConnection);
  await new Promise((resolve) => wss.on('listening', resolve));
  wss.url = `ws://${HOST}:${wss.address().port}`;
  return wss;
}
const closeServer = (wss) => {
  for (const c of wss.clients) c.terminate();
  return new Promise((resolve) => wss.close(resolve));
};

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, HOST, resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

// ---- against Node ws ----------------------------------------------------------

test('ws: headers, origin, subprotocol, echo, clean close on EOF -> 0', async () => {
  let request = null;
  const wss = await wsServer((ws, req) => {
    request = req;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }, { handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) });
  try {
    const run = cat(['--json', '-s', 'chat.v1', '-s', 'chat.v2', '-H', 'X-Token: abc 123',
      '--header', 'Authorization: Bearer t', '--origin', 'http://origin.example', `${wss.url}/room?x=1`]);
    run.send('hello');
    run.send('{"quoted":"\\u00e9"}');
    run.end();
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(request.headers['x-token'], 'abc 123');
    assert.equal(request.headers.authorization, 'Bearer t');
    assert.equal(request.headers.origin, 'http://origin.example');
    assert.equal(request.url, '/room?x=1');
    const ev = events(r.stdout);
    assert.deepEqual(ev.map((e) => e.event), ['open', 'message', 'message', 'close']);
    assert.equal(ev[0].subprotocol, 'chat.v2');
    assert.equal(ev[1].data, 'hello');
    assert.equal(ev[2].data, '{"quoted":"\\u00e9"}');
    assert.deepEqual([ev[3].code, ev[3].status], [1000, 0]);
  } finally { await closeServer(wss); }
});

test('ws: binary as hex, peer closes with 4001 -> 1, code and reason shown', async () => {
  const wss = await wsServer((ws) => {
    ws.send(Buffer.from([0x00, 0x01, 0xfe, 0xff]));
    ws.send('text after binary');
    setTimeout(() => ws.close(4001, 'bye now'), 100);
  });
  try {
    const run = cat([`${wss.url}/`]);  // stdin stays open: the peer ends it
    const r = await run.exited;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '0001feff\ntext after binary\n');
    assert.match(r.stderr, /closed 4001 bye now/);
  } finally { await closeServer(wss); }
});

test('ws: --binary sends binary; --binary-out writes received bytes to a file', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-cat-')), 'out.bin');
  const got = [];
  const wss = await wsServer((ws) => {
    ws.on('message', (data, isBinary) => {
      got.push([data.toString(), isBinary]);
      ws.send(Buffer.concat([Buffer.from([0xde, 0xad]), data]));  // binary back
    });
  });
  try {
    const run = cat(['--binary', '--binary-out', file, '--json', `${wss.url}/`]);
    run.send('abc');
    await run.waitFor(/"type":"binary"/);
    run.end();
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(got, [['abc', true]]);
    assert.deepEqual(fs.readFileSync(file), Buffer.from([0xde, 0xad, 0x61, 0x62, 0x63]));
    const msg = events(r.stdout).find((e) => e.event === 'message');
    assert.deepEqual([msg.size, msg.file], [5, file]);
  } finally { await closeServer(wss); fs.rmSync(path.dirname(file), { recursive: true }); }
});

test('ws: --keep-open waits for the peer after EOF', async () => {
  const wss = await wsServer((ws) => {
    ws.on('message', () => setTimeout(() => { ws.send('late'); ws.close(1000); }, 300));
  });
  try {
    const run = cat(['--keep-open', `${wss.url}/`]);
    run.send('x');
    run.end();
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'late\n');
  } finally { await closeServer(wss); }
});

test('terminal: lines typed on a tty go out, Ctrl-D closes -> 0', async () => {
  // util-linux `script` runs duplex-cat on a pseudo-terminal and forwards our
  // pipe to it as keystrokes: the terminal's line discipline delivers lines
  // and turns Ctrl-D (0x04) into end of input, as for a person typing.
  const got = [];
  const wss = await wsServer((ws) => ws.on('message', (d) => { got.push(d.toString()); ws.send(`echo ${d}`); }));
  try {
    const child = spawn('script', ['-qfec', `${opts.cat} ${wss.url}/tty`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const until = async (re) => { while (!re.test(out)) await new Promise((resolve) => setTimeout(resolve, 20)); };
    await until(/connected to/);
    child.stdin.write('typed line\r');
    await until(/echo typed line/);
    child.stdin.write('\x04');
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    assert.deepEqual(got, ['typed line']);
    assert.match(out, /closed 1000/);
  } finally { await closeServer(wss); }
});

test('ws: TCP dropped without a Close -> 4 (1006)', async () => {
  const wss = await wsServer((ws) => ws.on('message', () => ws.terminate()));
  try {
    const run = cat(['--json', `${wss.url}/`]);
    run.send('die');
    const r = await run.exited;
    assert.equal(r.code, 4, r.stderr);
    const close = events(r.stdout).at(-1);
    assert.deepEqual([close.event, close.code, close.status], ['close', 1006, 4]);
  } finally { await closeServer(wss); }
});

test('ws: --ping-interval drops a peer that stops answering -> 4', async () => {
  // The server stops reading its socket: no pongs come back.
  const wss = await wsServer((ws) => ws._socket.pause());
  try {
    const started = Date.now();
    const run = cat(['--json', '--ping-interval', '1', `${wss.url}/`]);
    const r = await run.exited;
    const took = Date.now() - started;
    assert.equal(r.code, 4, r.stderr);
    assert.match(events(r.stdout).at(-1).error, /idle|timeout/i);
    assert.ok(took >= 1500 && took < 15000, `dropped after ${took} ms`);
  } finally { await closeServer(wss); }
});

test('ws: SIGINT closes with 1000 -> 0', async () => {
  let closed = null;
  const wss = await wsServer((ws) => ws.on('close', (code) => { closed = code; }));
  try {
    const run = cat(['--json', `${wss.url}/`]);
    await run.waitFor(/"event":"open"/);
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closed, 1000);
  } finally { await closeServer(wss); }
});

test('ws: handshake refused (401) -> 3', async () => {
  const wss = await wsServer(() => {}, { verifyClient: (info, cb) => cb(false, 401, 'no') });
  try {
    const r = await cat(['--json', `${wss.url}/`]).exited;
    assert.equal(r.code, 3, r.stderr);
    assert.match(events(r.stdout)[0].message, /401/);
  } finally { await closeServer(wss); }
});

test('nothing listening -> 3; usage errors -> 2', async () => {
  const port = await freePort();
  const r = await cat([`ws://${HOST}:${port}/`]).exited;
  assert.equal(r.code, 3, r.stderr);
  assert.equal((await cat([]).exited).code, 2);
  assert.equal((await cat(['http://example.com/']).exited).code, 2);
  assert.equal((await cat(['--bogus', 'ws://x/']).exited).code, 2);
  assert.equal((await cat(['-H', 'no colon', 'ws://x/']).exited).code, 2);
  const bad = await cat(['-H', 'Bad Name: v', `ws://${HOST}:${port}/`]).exited;  // not an HTTP token
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /invalid request header/);
});

test('wss: unknown CA -> 3; --ca FILE and --insecure connect', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-cat-tls-'));
  const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d.toString())));
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const url = `wss://${HOST}:${server.address().port}/`;
  try {
    const untrusted = await cat([url]).exited;
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /certificate/i);
    for (const args of [['--ca', cert], ['--insecure']]) {
      const run = cat([...args, url]);
      run.send('over tls');
      run.end();
      const r = await run.exited;
      assert.equal(r.code, 0, `${args}: ${r.stderr}`);
      assert.equal(r.stdout, 'over tls\n');
    }
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true });
  }
});

// ---- duplex-cat --listen, a ws client -------------------------------------------

test('--listen: a ws client sends and receives, --once exits with its status', async () => {
  const run = cat(['--listen', '0', '--once', '--json', '-s', 'p1']);
  const [, port] = await run.waitFor(/"port":(\d+)/);
  const client = new WebSocket(`ws://${HOST}:${port}/any/path`, ['p0', 'p1']);
  const inbox = [];
  client.on('message', (d) => inbox.push(d.toString()));
  await new Promise((resolve, reject) => { client.on('open', resolve); client.on('error', reject); });
  assert.equal(client.protocol, 'p1');
  client.send('from ws');
  await run.waitFor(/"data":"from ws"/);
  run.send('to ws');
  while (!inbox.includes('to ws')) await new Promise((resolve) => setTimeout(resolve, 20));
  client.close(1000);
  const r = await run.exited;
  assert.equal(r.code, 0, r.stderr);
  const ev = events(r.stdout);
  assert.deepEqual(ev.map((e) => e.event), ['listening', 'open', 'message', 'close']);
  assert.deepEqual([ev[1].path, ev[1].subprotocol, ev[1].peer], ['/any/path', 'p1', 1]);
  assert.deepEqual([ev[3].code, ev[3].status], [1000, 0]);
});

// ---- against duplex-chat ------------------------------------------------------------

async function startChat() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-cat-site-'));
  const { child, port } = await runChat(opts.chat, root);
  children.add(child);
  return { child, port, root };
}
const stopChat = async (chat) => {
  chat.child.kill('SIGTERM');
  if (chat.child.exitCode === null) await new Promise((resolve) => chat.child.on('exit', resolve));
  fs.rmSync(chat.root, { recursive: true });
};

test('duplex-chat: join and chat round trip, clean close -> 0', async () => {
  const chat = await startChat();
  try {
    const url = `ws://${HOST}:${chat.port}/ws/chat`;
    const run = cat(['--json', '-s', 'duplex.chat.v1', url]);
    run.send('{"type":"join","name":"cat"}');
    await run.waitFor(/"data":"\{\\"type\\":\\"presence\\"/);
    run.send('{"type":"chat","text":"meow"}');
    await run.waitFor(/\\"text\\":\\"meow\\"/);
    run.end();
    const r = await run.exited;
    assert.equal(r.code, 0, r.stderr);
    const messages = events(r.stdout).filter((e) => e.event === 'message').map((e) => JSON.parse(e.data));
    assert.ok(messages.some((m) => m.type === 'message' && m.from === 'cat' && m.text === 'meow'), r.stdout);
    assert.equal(events(r.stdout).at(-1).code, 1000);
  } finally { await stopChat(chat); }
});

test('duplex-chat: a foreign --origin is refused (403) -> 3; its own origin passes', async () => {
  const chat = await startChat();
  try {
    const url = `ws://${HOST}:${chat.port}/ws/chat`;
    const refused = await cat(['--origin', 'http://evil.example', url]).exited;
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /403/);
    const own = cat(['--json', '-s', 'duplex.chat.v1', '--origin', `http://${HOST}:${chat.port}`, url]);
    own.end();
    assert.equal((await own.exited).code, 0);
  } finally { await stopChat(chat); }
});

// ---- runner ---------------------------------------------------------------------------

let passed = 0;
let failed = 0;
for (const c of cases) {
  if (opts.only && !c.name.includes(opts.only)) continue;
  const t0 = Date.now();
  try {
    let timer;
    await Promise.race([c.fn(), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    })]);
    clearTimeout(timer);
    ++passed;
    console.log(`ok   ${c.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    ++failed;
    console.log(`FAIL ${c.name}: ${e.stack || e}`);
  }
  killAll();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
