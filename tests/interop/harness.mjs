// What the interop suites (ws_interop.mjs, ws_deflate_interop.mjs) share:
// their command line, the duplex-echo children and the guarantee that none
// outlives the script, the `ws` ends with an awaitable inbox, a raw frame
// reader, and the case runner that prints one line per case and a final
// "N passed, M failed" (CTest fails the test on "[1-9][0-9]* failed").
//
// A suite calls setup() first, registers its cases with test(), then run().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

// ws's ESM entry (wrapper.mjs) exports WebSocketServer as a named export; its
// default export is the bare WebSocket class (no .WebSocketServer property).
import WebSocket, { WebSocketServer } from 'ws';

export const HOST = '127.0.0.1';

let suite = null;  // set by setup()
let currentCase = '(setup)';
const children = new Set();
const cases = [];
// Shared duplex-echo servers, by their arguments: started lazily, stopped at the end.
const servers = new Map();

function parseArgs(argv) {
  const opts = { echo: process.env.DUPLEX_ECHO || null, only: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--echo') opts.echo = value();
    else if (a === '--only') opts.only = value();
    else throw new Error(`unknown argument: ${a}`);
  }
  opts.echo ??= 'build/native/examples/duplex-echo';
  opts.echo = path.resolve(opts.echo);
  return opts;
}

function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
}

// name: the prefix of the suite's own log lines. globalTimeoutMs: the whole
// run, below the CTest TIMEOUT so that children are still killed by us
// (DUPLEX_INTEROP_TIMEOUT_MS overrides it). echoServerArgs: added to every
// duplex-echo started in server mode.
export function setup({ name, globalTimeoutMs, caseTimeoutMs, echoServerArgs = [] }) {
  const opts = parseArgs(process.argv.slice(2));
  globalTimeoutMs = Number(process.env.DUPLEX_INTEROP_TIMEOUT_MS) || globalTimeoutMs;

  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`${name}: ${sig}, killing children`);
      killAll();
      process.exit(1);
    });
  }
  process.on('uncaughtException', (e) => {
    console.error(`${name}: uncaught exception:`, e);
    killAll();
    process.exit(1);
  });
  process.on('unhandledRejection', (e) => {
    console.error(`${name}: unhandled rejection:`, e);
    killAll();
    process.exit(1);
  });

  const watchdog = setTimeout(() => {
    console.error(`${name}: global watchdog fired after ${globalTimeoutMs} ms (case: ${currentCase})`);
    killAll();
    process.exit(1);
  }, globalTimeoutMs);

  suite = { name, opts, caseTimeoutMs, echoServerArgs, watchdog };
}

// ---- duplex-echo children -------------------------------------------------------

// Spawns duplex-echo; tracks it for killAll. `stderrText` collects its log.
export function spawnEcho(args) {
  const child = spawn(suite.opts.echo, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stdoutText = '';
  child.stderrText = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { child.stdoutText += d; });
  child.stderr.on('data', (d) => { if (child.stderrText.length < 64 * 1024) child.stderrText += d; });
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  child.spawnError = new Promise((resolve) => child.on('error', resolve));
  return child;
}

// duplex-echo server on a free port: resolves { child, port, url, args }.
export async function startEchoServer(extraArgs = []) {
  const child = spawnEcho(['--host', HOST, '--port', '0', ...suite.echoServerArgs, ...extraArgs]);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`duplex-echo did not report its port; stderr: ${child.stderrText}`)), 10_000);
    const check = () => {
      const m = /duplex-echo listening on ([^\s:]+):(\d+)/.exec(child.stdoutText);
      if (m) { clearTimeout(timer); resolve(Number(m[2])); }
    };
    child.stdout.on('data', check);
    child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`duplex-echo exited early (code ${code}, signal ${signal}); stderr: ${child.stderrText}`));
    });
    child.spawnError.then((e) => { clearTimeout(timer); reject(e); });
    check();
  });
  return { child, port, url: `ws://${HOST}:${port}`, args: extraArgs };
}

// A duplex-echo server shared by the cases that start it with these
// arguments; one that died is replaced (and reported by run()).
export async function sharedEchoServer(args) {
  const key = args.join(' ');
  const s = servers.get(key);
  if (s && s.child.exitCode === null) return s;
  const n = await startEchoServer(args);
  servers.set(key, n);
  return n;
}

export async function stopChild(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const r = await Promise.race([child.exited, sleep(3000).then(() => null)]);
  if (!r) { child.kill('SIGKILL'); await child.exited; }
  children.delete(child);
}

export async function expectExit(child, expectCode, ms, what) {
  const r = await withTimeout(child.exited, ms, `${what}: duplex-echo client exit`);
  assert.equal(r.signal, null, `${what}: duplex-echo killed by ${r.signal}; stderr: ${child.stderrText}`);
  assert.equal(r.code, expectCode, `${what}: duplex-echo exit status; stderr: ${child.stderrText}`);
}

// ---- small helpers ----------------------------------------------------------------

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timeout (${ms} ms): ${what}`)), ms); }),
  ]);
}

export const toBuf = (data) => {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data);
};

// Exact byte equality, with a useful message on mismatch.
export function assertBufEq(got, expected, what) {
  got = toBuf(got);
  expected = toBuf(expected);
  if (got.equals(expected)) return;
  let i = 0;
  const n = Math.min(got.length, expected.length);
  while (i < n && got[i] === expected[i]) ++i;
  const show = (b) => b.subarray(Math.max(0, i - 4), i + 12).toString('hex');
  assert.fail(`${what}: payload differs: expected ${expected.length} bytes, got ${got.length}; ` +
              `first difference at byte ${i} (expected …${show(expected)}…, got …${show(got)}…)`);
}

export function xorshift(seed) {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

// Incompressible but reproducible bytes.
export function randomBytes(n, seed = 1) {
  const b = Buffer.allocUnsafe(n);
  const r = xorshift(seed);
  for (let i = 0; i < n; ++i) b[i] = r() & 0xff;
  return b;
}

// ---- ws ends ----------------------------------------------------------------------

// Queue of received messages with an awaitable next().
class Inbox {
  constructor(ws) {
    this.items = [];
    this.waiters = [];
    this.closed = null;
    ws.on('message', (data, isBinary) => this.push({ data: toBuf(data), isBinary }));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${code} ${reason}) while waiting for a message`));
    });
  }
  push(m) {
    const w = this.waiters.shift();
    if (w) w.resolve(m); else this.items.push(m);
  }
  next(ms = 20_000, what = 'message') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.reject(new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
    return withTimeout(new Promise((resolve, reject) => this.waiters.push({ resolve, reject })), ms, what);
  }
}

// Either end of a ws connection: `errors` instead of unhandled 'error'
// events, an inbox of its messages and `closedP`, its close event.
function track(ws) {
  ws.errors = [];
  ws.on('error', (e) => ws.errors.push(e));
  ws.inbox = new Inbox(ws);
  ws.closedP = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));
  return ws;
}

// ws client, tracked, once open. `upgradeHeaders`: the 101's headers.
export async function openClient(url, protocols, options = { perMessageDeflate: false }) {
  const ws = track(new WebSocket(url, protocols, options));
  ws.once('upgrade', (res) => { ws.upgradeHeaders = res.headers; });
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed (${code}) before open`)));
  }), 10_000, `open ${url}`);
  return ws;
}

// ws server on a free port (`wss.port`) for duplex-echo --connect.
// wss.nextConnection() resolves the next server-side socket, tracked, with
// its `req`, after onConnection(socket, req) has added what the suite needs.
export async function startWsServer(options, onConnection = () => {}) {
  const wss = new WebSocketServer({ host: HOST, port: 0, ...options });
  await withTimeout(new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); }), 5000, 'ws server listening');
  wss.port = wss.address().port;
  wss.nextConnection = () => withTimeout(new Promise((resolve) => wss.once('connection', (socket, req) => {
    socket.req = req;
    onConnection(socket, req);
    resolve(track(socket));
  })), 10_000, 'duplex client connection');
  return wss;
}

export function closeWsServer(wss) {
  for (const c of wss.clients) c.terminate();
  return new Promise((r) => wss.close(() => r()));
}

// duplex-echo --connect to `wss`: resolves { child, socket } once ws has the
// connection; the child is stopped when the case ends.
export async function startDuplexClient(t, wss, extraArgs = [], urlPath = '/') {
  const conn = wss.nextConnection();
  const child = spawnEcho(['--connect', `ws://${HOST}:${wss.port}${urlPath}`, ...extraArgs]);
  t.defer(() => stopChild(child));
  const socket = await Promise.race([
    conn,
    child.exited.then(({ code }) => { throw new Error(`duplex-echo client exited (${code}) before connecting; stderr: ${child.stderrText}`); }),
  ]);
  return { child, socket };
}

// ---- raw frame reader -------------------------------------------------------------
//
// Reads the frames on a TCP socket as they pass, beside ws's own parser:
// what the suites check (masking, RSV bits, wire bytes) ws does not expose.
// Only headers are kept, payloads are skipped without copies, so multi-MiB
// messages cost nothing. onFrame gets { fin, rsv, opcode, masked, key (hex,
// or null), len (payload), head (header bytes) } per frame.
export function readFrames(socket, onFrame) {
  let hdr = [];
  let need = 2;
  let skip = 0;
  socket.on('data', (chunk) => {
    let off = 0;
    while (off < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - off);
        skip -= n;
        off += n;
        continue;
      }
      hdr.push(chunk[off++]);
      if (hdr.length === 2) {
        const l = hdr[1] & 0x7f;
        need = 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + (hdr[1] & 0x80 ? 4 : 0);
      }
      if (hdr.length >= 2 && hdr.length === need) {
        const b = Buffer.from(hdr);
        let len = b[1] & 0x7f;
        if (len === 126) len = b.readUInt16BE(2);
        else if (len === 127) len = Number(b.readBigUInt64BE(2));
        const masked = (b[1] & 0x80) !== 0;
        const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f,
          masked, key: masked ? b.subarray(need - 4).toString('hex') : null, len, head: need };
        hdr = [];
        need = 2;
        skip = len;
        onFrame(f);
      }
    }
  });
}

// ---- cases, runner ----------------------------------------------------------------

// fn(t): t.defer(fn) runs fn when the case ends (last deferred first),
// t.own(ws) terminates ws then, t.note(s) prints s under the case's line.
export const test = (name, fn) => cases.push({ name, fn });

async function runCase(c) {
  const cleanups = [];
  const notes = [];
  const t = {
    defer: (fn) => cleanups.push(fn),
    own: (ws) => { cleanups.push(() => { if (ws.readyState !== WebSocket.CLOSED) ws.terminate(); }); return ws; },
    note: (s) => notes.push(s),
  };
  try {
    await withTimeout(c.fn(t), suite.caseTimeoutMs, `case ${c.name}`);
  } finally {
    for (const fn of cleanups.reverse()) {
      try { await withTimeout(Promise.resolve().then(fn), 5000, 'cleanup'); } catch (e) { console.error(`  cleanup: ${e.message}`); }
    }
  }
  return notes;
}

// Runs the cases (those matching --only), then exits: status 0 only if
// every case passed.
export async function run() {
  const { name, opts, watchdog } = suite;
  if (!fs.existsSync(opts.echo)) {
    console.error(`${name}: duplex-echo not found at ${opts.echo} (pass --echo PATH or set DUPLEX_ECHO)`);
    process.exit(1);
  }
  console.log(`${name}: ws ${JSON.parse(fs.readFileSync(new URL('../../node_modules/ws/package.json', import.meta.url))).version}, ` +
              `node ${process.version}, duplex-echo ${opts.echo}`);
  let passed = 0;
  let failed = 0;
  for (const c of cases) {
    if (opts.only && !c.name.includes(opts.only)) continue;
    currentCase = c.name;
    const start = Date.now();
    try {
      const notes = await runCase(c);
      ++passed;
      console.log(`ok   ${c.name} (${Date.now() - start} ms)`);
      for (const n of notes) console.log(`     ${n}`);
    } catch (e) {
      ++failed;
      console.log(`FAIL ${c.name} (${Date.now() - start} ms)\n     ${String(e && e.message || e).split('\n').join('\n     ')}`);
    }
    for (const [key, s] of servers) {
      if (s.child.exitCode !== null) {
        console.log(`     duplex-echo server (${key || 'no options'}) exited (${s.child.exitCode}); stderr: ${s.child.stderrText.slice(-2000)}`);
        servers.delete(key);
      }
    }
  }
  for (const s of servers.values()) await stopChild(s.child);
  clearTimeout(watchdog);
  console.log(`${passed} passed, ${failed} failed`);
  killAll();
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
