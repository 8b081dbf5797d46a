#!/usr/bin/env node
// Browser end-to-end test of the duplex chat: the real duplex-chat server
// (bound to 127.0.0.1 on a free port, serving the assembled site) and the
// WebAssembly client in headless Chromium, driven by playwright-core.
//
//   node tests/e2e/chat.e2e.mjs --server build/native/server/duplex-chat \
//        --site build/site [--screenshot /tmp/chat.png] [--headed]
//
// Exit status 0 = every step passed. The server and the browser are always
// stopped, also on failure or when the global timeout fires.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';
import WebSocket from 'ws';

// ---- configuration ------------------------------------------------------------

const GLOBAL_TIMEOUT_MS = Number(process.env.DUPLEX_E2E_TIMEOUT_MS) || 110_000;   // CTest kills us at 120 s
const STEP_TIMEOUT_MS = 10_000;      // default wait for a page condition
const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const opts = { server: null, site: null, screenshot: null, headed: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--server') opts.server = value();
    else if (a === '--site') opts.site = value();
    else if (a === '--screenshot') opts.screenshot = value();
    else if (a === '--headed') opts.headed = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  opts.server ??= process.env.DUPLEX_CHAT_SERVER || 'build/native/server/duplex-chat';
  opts.site ??= process.env.DUPLEX_SITE_DIR || 'build/site';
  opts.server = path.resolve(opts.server);
  opts.site = path.resolve(opts.site);
  return opts;
}

// ---- logging --------------------------------------------------------------------

const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(2)}s`;
const log = (msg) => console.log(`[e2e ${stamp()}] ${msg}`);
let stepNo = 0;
let currentStep = '(setup)';
let aborted = false;  // the global timeout fired: stay quiet, we are exiting

async function step(title, fn) {
  currentStep = `step ${++stepNo}: ${title}`;
  log(`${currentStep} ...`);
  const start = Date.now();
  await fn();
  if (aborted) throw new TestFailure('aborted');
  log(`${currentStep} ok (${Date.now() - start} ms)`);
}

// An expected kind of failure: reported by its message alone, no stack.
class TestFailure extends Error {}

function check(cond, msg) {
  if (!cond) throw new TestFailure(`check failed: ${msg}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server -------------------------------------------------------------------

let server = null;        // ChildProcess
let serverExit = null;    // {code, signal} once it exited
let expectServerExit = false;
const serverOutput = [];  // last lines, for failure reports

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function pipeLines(stream, prefix) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      serverOutput.push(line);
      if (serverOutput.length > 200) serverOutput.shift();
      console.log(`  [${prefix}] ${line}`);
    }
  });
}

function startServer(exe, port, root) {
  log(`starting ${exe} --host 127.0.0.1 --port ${port} --root ${root}`);
  server = spawn(exe, ['--host', '127.0.0.1', '--port', String(port), '--root', root, '--memory'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pipeLines(server.stdout, 'server');
  pipeLines(server.stderr, 'server!');
  server.on('error', (err) => {
    serverExit = { code: null, signal: null, error: err.message };
    log(`server could not be started: ${err.message}`);
  });
  server.on('exit', (code, signal) => {
    serverExit = { code, signal };
    if (!expectServerExit) log(`SERVER EXITED UNEXPECTEDLY (code ${code}, signal ${signal})`);
  });
}

function serverGone() {
  if (!serverExit) return null;
  return `duplex-chat exited (code ${serverExit.code}, signal ${serverExit.signal}` +
    `${serverExit.error ? `, ${serverExit.error}` : ''})`;
}

async function waitForAccept(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = serverGone();
    if (gone) throw new Error(`${gone} before accepting connections`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`server did not accept on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function stopServer() {
  if (!server || serverExit) return;
  expectServerExit = true;
  server.kill('SIGTERM');
  for (let i = 0; i < 50 && !serverExit; ++i) await sleep(100);
  if (!serverExit) {
    log('server ignored SIGTERM for 5 s; sending SIGKILL');
    server.kill('SIGKILL');
    for (let i = 0; i < 20 && !serverExit; ++i) await sleep(100);
  }
}

// Last resort: never leave the server behind, whatever happens.
process.on('exit', () => {
  if (server && !serverExit) {
    try { server.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

// ---- HTTP and WebSocket probes from Node --------------------------------------

function httpGet(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

// Attempts a WebSocket handshake; resolves {opened} or {status} or {error}.
function tryHandshake(url, headers) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => { if (!done) { done = true; clearTimeout(timer); resolve(r); } };
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
    const timer = setTimeout(() => { ws.terminate(); finish({ error: 'no handshake answer within 6 s' }); }, 6000);
    ws.on('open', () => { finish({ opened: true }); ws.close(1000); });
    ws.on('unexpected-response', (req, res) => {
      finish({ opened: false, status: res.statusCode });
      res.resume();
      req.destroy();
    });
    ws.on('error', (err) => finish({ opened: false, error: err.message }));
  });
}

// ---- page helpers ------------------------------------------------------------------

const tid = (id) => `[data-testid="${id}"]`;

// What the page shows, for failure messages.
function snapshot(page) {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const kids = (id) => [...(q(id)?.children ?? [])].map((e) => e.textContent);
    return {
      status: q('status')?.textContent,
      alert: q('alert')?.hidden ? '' : q('alert')?.textContent,
      users: kids('users'),
      messages: kids('messages').slice(-12),
    };
  }).catch((e) => `(no snapshot: ${e.message})`);
}

async function waitFor(page, what, fn, arg, timeout = STEP_TIMEOUT_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    const gone = serverGone();
    throw new TestFailure(`${page.__name}: timed out after ${timeout} ms waiting for ${what}` +
      `${gone ? ` (${gone})` : ''}\n    page shows: ${JSON.stringify(await snapshot(page))}`);
  }
}

function waitStatus(page, prefix) {
  return waitFor(page, `status starting with "${prefix}"`,
    ({ sel, prefix }) => (document.querySelector(sel)?.textContent ?? '').startsWith(prefix),
    { sel: tid('status'), prefix });
}

function waitUsers(page, names) {
  return waitFor(page, `online users to be exactly [${names.join(', ')}]`,
    ({ sel, names }) => {
      const got = [...(document.querySelector(sel)?.children ?? [])].map((e) => e.textContent);
      return got.length === names.length && names.every((n) => got.includes(n));
    },
    { sel: tid('users'), names });
}

// Some child of the message list whose text contains every one of `parts`.
function waitMessage(page, parts, what) {
  return waitFor(page, what ?? `a message containing ${JSON.stringify(parts)}`,
    ({ sel, parts }) => [...(document.querySelector(sel)?.children ?? [])]
      .some((e) => parts.every((p) => e.textContent.includes(p))),
    { sel: tid('messages'), parts });
}

async function openChat(context, name, baseUrl, problems) {
  const page = await context.newPage();
  page.__name = `page ${name}`;
  page.on('pageerror', (err) => problems.push(`${page.__name}: uncaught exception: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${page.__name}: console error: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`${page.__name}: HTTP ${res.status()} for ${res.url()}`);
  });
  page.on('requestfailed', (req) => {
    // A closing page aborts its socket; only report real page resources.
    if (req.resourceType() !== 'websocket') problems.push(`${page.__name}: request failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  await page.goto(baseUrl, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
  return page;
}

async function joinAs(page, name, { useEnter = false } = {}) {
  await page.fill(tid('name'), name);
  if (useEnter) await page.press(tid('name'), 'Enter');
  else await page.click(tid('join'));
}

async function say(page, text, { useEnter = false } = {}) {
  await page.fill(tid('message'), text);
  if (useEnter) await page.press(tid('message'), 'Enter');
  else await page.click(tid('send'));
}

// ---- the test ------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let browser = null;
  const problems = [];  // page-level problems collected by listeners

  const globalTimer = setTimeout(async () => {
    aborted = true;
    log(`FAIL: global timeout of ${GLOBAL_TIMEOUT_MS / 1000} s hit during ${currentStep}`);
    try {
      await Promise.race([Promise.all([browser?.close(), stopServer()]), sleep(5000)]);
    } finally {
      process.exit(1);
    }
  }, GLOBAL_TIMEOUT_MS);

  const stopAll = async (signal) => {
    log(`${signal}: stopping`);
    await Promise.race([Promise.all([browser?.close(), stopServer()]), sleep(5000)]);
    process.exit(1);
  };
  process.once('SIGINT', () => stopAll('SIGINT'));
  process.once('SIGTERM', () => stopAll('SIGTERM'));

  try {
    let port;
    let baseUrl;

    await step('check the build outputs exist', async () => {
      try {
        fs.accessSync(opts.server, fs.constants.X_OK);
      } catch {
        throw new TestFailure(`server executable not found or not executable: ${opts.server}\n` +
          '    build it: cmake --preset native && cmake --build --preset native');
      }
      const need = ['index.html', 'app.js', 'style.css', 'duplex_client.js', 'duplex_client.wasm'];
      const missing = need.filter((f) => !fs.existsSync(path.join(opts.site, f)));
      if (missing.length) {
        throw new TestFailure(`site directory ${opts.site} lacks ${missing.join(', ')}\n` +
          '    the WebAssembly client and page are built by the wasm preset:\n' +
          '    NODE_PATH=/usr/share/nodejs cmake --preset wasm && cmake --build --preset wasm   (or scripts/build.sh)');
      }
      if (!fs.existsSync(CHROMIUM)) throw new TestFailure(`Chromium not found at ${CHROMIUM}`);
    });

    await step('start duplex-chat on a free port of 127.0.0.1', async () => {
      port = await freePort();
      baseUrl = `http://127.0.0.1:${port}/`;
      startServer(opts.server, port, opts.site);
      await waitForAccept(port, 15_000);
      log(`server accepts on ${baseUrl}`);
    });

    await step('static files are served with the right Content-Type', async () => {
      const expectations = [
        ['/', /^text\/html/, 'index.html'],
        ['/app.js', /^(text|application)\/javascript/, 'app.js'],
        ['/style.css', /^text\/css/, 'style.css'],
        ['/duplex_client.js', /^(text|application)\/javascript/, 'duplex_client.js'],
        ['/duplex_client.wasm', /^application\/wasm/, 'duplex_client.wasm'],
      ];
      for (const [urlPath, type, file] of expectations) {
        const res = await httpGet(port, urlPath);
        check(res.status === 200, `GET ${urlPath}: expected 200, got ${res.status}`);
        const ct = res.headers['content-type'] ?? '(none)';
        check(type.test(ct), `GET ${urlPath}: Content-Type ${ct} does not match ${type}`);
        const size = fs.statSync(path.join(opts.site, file)).size;
        check(res.body.length === size, `GET ${urlPath}: ${res.body.length} bytes, file has ${size}`);
      }
      const missing = await httpGet(port, '/no-such-file.txt');
      check(missing.status === 404, `GET /no-such-file.txt: expected 404, got ${missing.status}`);
    });

    await step('launch headless Chromium', async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: !opts.headed,
        args: opts.headed ? CHROMIUM_ARGS.filter((a) => a !== '--headless') : CHROMIUM_ARGS,
        timeout: 30_000,
      });
      log(`Chromium ${browser.version()}`);
    });
    const context = await browser.newContext({ viewport: { width: 1000, height: 680 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);

    let A;
    let B;
    let C;

    await step('page A loads, the WASM client connects', async () => {
      A = await openChat(context, 'A', baseUrl, problems);
      await waitStatus(A, 'connected');
    });

    await step('page A joins as alice (Join button)', async () => {
      await joinAs(A, 'alice');
      await waitStatus(A, 'joined as alice');
      await waitUsers(A, ['alice']);
    });

    await step('page B loads and joins as bob (Enter key)', async () => {
      B = await openChat(context, 'B', baseUrl, problems);
      await waitStatus(B, 'connected');
      await joinAs(B, 'bob', { useEnter: true });
      await waitStatus(B, 'joined as bob');
    });

    await step('both online lists show exactly alice and bob; A sees bob join', async () => {
      await waitUsers(A, ['alice', 'bob']);
      await waitUsers(B, ['alice', 'bob']);
      await waitMessage(A, ['bob', 'joined'], 'the "bob joined" announcement');
    });

    await step('A says hello (Send button), B shows it with the sender', async () => {
      const text = 'hello from alice ✓ — ünïcødé';
      let t = Date.now();
      await say(A, text);
      log(`  typed+clicked in ${Date.now() - t} ms`); t = Date.now();
      await waitMessage(B, ['alice', text]);
      log(`  B shows in ${Date.now() - t} ms`); t = Date.now();
      await waitMessage(A, ['alice', text]);
      log(`  A shows in ${Date.now() - t} ms`);
      const cleared = await A.inputValue(tid('message'));
      check(cleared === '', `message input not cleared after send: ${JSON.stringify(cleared)}`);
    });

    await step('HTML in a message is shown as text (B sends <b>x</b> with Enter)', async () => {
      const html = '<b>x</b> & <img src=x onerror="window.__pwned=1">';
      await say(B, html, { useEnter: true });
      await waitMessage(A, ['bob', '<b>x</b>']);
      await waitMessage(B, ['bob', '<b>x</b>']);
      for (const page of [A, B]) {
        const r = await page.evaluate((sel) => ({
          b: document.querySelectorAll(`${sel} b`).length,
          img: document.querySelectorAll(`${sel} img`).length,
          pwned: window.__pwned === 1,
          hasLiteral: [...document.querySelector(sel).children]
            .some((e) => e.textContent.includes('<b>x</b> & <img src=x onerror="window.__pwned=1">')),
        }), tid('messages'));
        check(r.b === 0 && r.img === 0, `${page.__name}: message list contains HTML elements (b: ${r.b}, img: ${r.img})`);
        check(!r.pwned, `${page.__name}: injected onerror handler ran`);
        check(r.hasLiteral, `${page.__name}: literal HTML text not shown verbatim`);
      }
    });

    if (opts.screenshot) {
      await step(`screenshot of page A to ${opts.screenshot}`, async () => {
        await say(B, 'hi alice! the page is WebAssembly all the way down');
        await waitMessage(A, ['hi alice!']);
        await say(A, 'nice, and each tab has its own socket');
        await waitMessage(B, ['each tab has its own socket']);
        await A.screenshot({ path: opts.screenshot });
      });
    }

    await step('page C trying the taken name alice sees a name_taken error', async () => {
      C = await openChat(context, 'C', baseUrl, problems);
      await waitStatus(C, 'connected');
      await joinAs(C, 'alice');
      await waitFor(C, 'a visible name_taken error', (sel) => {
        const el = document.querySelector(sel);
        return el && !el.hidden && el.offsetParent !== null && el.textContent.includes('name_taken');
      }, tid('alert'));
      const status = await C.textContent(tid('status'));
      check(!status.startsWith('joined'), `page C claims to have joined: ${status}`);
      const joinEnabled = await C.isEnabled(tid('join'));
      check(joinEnabled, 'page C cannot retry with another name (join button disabled)');
      await waitUsers(A, ['alice', 'bob']);   // nothing changed for the others
    });

    await step('raw browser WebSocket: "not json" -> bad_message, socket stays open, then join works', async () => {
      const r = await C.evaluate(async () => {
        const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;
        const ws = new WebSocket(url, ['duplex.chat.v1']);   // version 1 (still served; the page speaks v2)
        window.__raw = ws;
        const inbox = [];
        let wake = null;
        ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
        let closed = null;
        ws.onclose = (e) => { closed = { code: e.code, reason: e.reason }; if (wake) wake(); };
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = () => reject(new Error('raw WebSocket failed to open'));
        });
        const next = async (ms = 5000) => {
          const deadline = Date.now() + ms;
          while (!inbox.length) {
            if (closed) throw new Error(`socket closed (${closed.code} ${closed.reason}) while waiting for a message`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error('no message from the server within 5 s');
            await new Promise((res) => { wake = res; setTimeout(res, left); });
            wake = null;
          }
          return JSON.parse(inbox.shift());
        };
        const out = {};
        ws.send('not json');
        out.badMessage = await next();
        await new Promise((res) => setTimeout(res, 300));
        out.openAfterBad = ws.readyState === WebSocket.OPEN;
        ws.send(JSON.stringify({ type: 'chat', text: 'too early' }));
        out.notJoined = await next();
        ws.send(JSON.stringify({ type: 'join', name: 'rawcarol' }));
        out.afterJoin = [];
        for (let i = 0; i < 5; ++i) {
          const m = await next();
          out.afterJoin.push(m);
          const types = out.afterJoin.map((x) => x.type);
          if (types.includes('presence') && types.includes('joined')) break;
        }
        out.closed = closed;
        return out;
      });
      log(`  bad_message reply: ${JSON.stringify(r.badMessage)}`);
      check(r.badMessage.type === 'error' && r.badMessage.code === 'bad_message',
        `"not json" answered with ${JSON.stringify(r.badMessage)}, expected {type:"error",code:"bad_message"}`);
      check(typeof r.badMessage.message === 'string' && r.badMessage.message.length > 0,
        'bad_message error has no message (decode error detail)');
      check(r.openAfterBad, 'socket was closed after the bad_message error');
      check(r.notJoined.type === 'error' && r.notJoined.code === 'not_joined',
        `chat before join answered with ${JSON.stringify(r.notJoined)}, expected error not_joined`);
      const presence = r.afterJoin.find((m) => m.type === 'presence');
      check(presence, `no presence after join; got ${JSON.stringify(r.afterJoin)}`);
      check(['alice', 'bob', 'rawcarol'].every((n) => presence.users.includes(n)),
        `presence after join lacks someone: ${JSON.stringify(presence.users)}`);
      check(r.afterJoin.some((m) => m.type === 'joined' && m.name === 'rawcarol'),
        `joiner did not get its own joined message; got ${JSON.stringify(r.afterJoin)}`);
      await waitUsers(A, ['alice', 'bob', 'rawcarol']);
      await C.evaluate(() => window.__raw.close(1000, 'done'));
      await waitUsers(A, ['alice', 'bob']);
      await waitMessage(A, ['rawcarol', 'left']);
    });

    await step('raw browser WebSocket offering only duplex.chat.v0: accepted, then closed 4406 with a reason', async () => {
      const r = await C.evaluate(async () => {
        const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;
        const ws = new WebSocket(url, ['duplex.chat.v0']);
        return await new Promise((resolve) => {
          const timer = setTimeout(() => resolve({ timeout: true }), 5000);
          ws.onclose = (e) => { clearTimeout(timer); resolve({ code: e.code, reason: e.reason, protocol: ws.protocol }); };
        });
      });
      log(`  old client closed with ${JSON.stringify(r)}`);
      check(r.code === 4406, `an unsupported version closed with ${JSON.stringify(r)}, expected 4406`);
      check(/out of date: reload/.test(r.reason || ''), `close reason ${JSON.stringify(r.reason)} does not tell the page to reload`);
    });

    await step('raw browser WebSocket negotiates permessage-deflate; a 3000-char chat comes back intact', async () => {
      // duplex-chat negotiates permessage-deflate by default and broadcasts
      // compressed: the browser must inflate what duplex deflated (and the
      // other way round for what it sends).
      const text = Array.from({ length: 400 }, (_, i) => `word${i % 23} chat`).join(' ').padEnd(3000, '.').slice(0, 3000);
      const r = await C.evaluate(async (text) => {
        const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/chat`;
        const ws = new WebSocket(url, ['duplex.chat.v1']);   // version 1 (still served; the page speaks v2)
        window.__deflate = ws;
        const inbox = [];
        let wake = null;
        ws.onmessage = (e) => { inbox.push(e.data); if (wake) wake(); };
        let closed = null;
        ws.onclose = (e) => { closed = { code: e.code, reason: e.reason }; if (wake) wake(); };
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = () => reject(new Error('raw WebSocket failed to open'));
        });
        const out = { extensions: ws.extensions, seen: [] };
        // The next message satisfying `pred` (others are kept in out.seen).
        const until = async (pred, what, ms = 5000) => {
          const deadline = Date.now() + ms;
          for (;;) {
            while (inbox.length) {
              const m = JSON.parse(inbox.shift());
              if (pred(m)) return m;
              out.seen.push(m.type);
            }
            if (closed) throw new Error(`socket closed (${closed.code} ${closed.reason}) while waiting for ${what}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
            await new Promise((res) => { wake = res; setTimeout(res, left); });
            wake = null;
          }
        };
        ws.send(JSON.stringify({ type: 'join', name: 'deflater' }));
        await until((m) => m.type === 'joined' && m.name === 'deflater', 'own joined message');
        ws.send(JSON.stringify({ type: 'chat', text }));
        out.echo = await until((m) => m.type === 'message' && m.from === 'deflater', 'broadcast of the long chat');
        out.closed = closed;
        return out;
      }, text);
      log(`  ws.extensions: ${JSON.stringify(r.extensions)}`);
      check(typeof r.extensions === 'string' && r.extensions.includes('permessage-deflate'),
        `browser WebSocket did not negotiate permessage-deflate: extensions ${JSON.stringify(r.extensions)}`);
      check(r.echo.type === 'message' && r.echo.from === 'deflater', `unexpected broadcast ${JSON.stringify(r.echo).slice(0, 200)}`);
      check(r.echo.text === text, `long chat came back altered: ${r.echo.text.length} chars, expected ${text.length}` +
        ` (first difference at ${[...text].findIndex((ch, i) => r.echo.text[i] !== ch)})`);
      check(!r.closed, `socket closed: ${JSON.stringify(r.closed)}`);
      // The WASM pages get the same compressed broadcast.
      await waitMessage(A, ['deflater', text.slice(0, 60), text.slice(-60)], 'the long chat on page A');
      await waitMessage(B, ['deflater', text.slice(0, 60), text.slice(-60)], 'the long chat on page B');
      await C.evaluate(() => window.__deflate.close(1000, 'done'));
      await waitUsers(A, ['alice', 'bob']);
    });

    await step('Origin policy: Origin http://evil.example is refused with 403 (node ws)', async () => {
      const url = `ws://127.0.0.1:${port}/ws/chat`;
      const evil = await tryHandshake(url, { Origin: 'http://evil.example' });
      log(`  Origin http://evil.example -> ${JSON.stringify(evil)}`);
      check(evil.status === 403, `expected HTTP 403, got ${JSON.stringify(evil)}`);
      const same = await tryHandshake(url, { Origin: `http://127.0.0.1:${port}` });
      log(`  Origin http://127.0.0.1:${port} -> ${JSON.stringify(same)}`);
      check(same.opened === true, `same-origin handshake should succeed, got ${JSON.stringify(same)}`);
      const none = await tryHandshake(url, {});
      log(`  no Origin header -> ${JSON.stringify(none)}`);
      check(none.opened === true, `handshake without Origin should succeed, got ${JSON.stringify(none)}`);
    });

    await step('page B closes; A sees bob leave', async () => {
      await B.close();
      await waitMessage(A, ['bob', 'left'], 'the "bob left" announcement');
      await waitUsers(A, ['alice']);
    });

    await step('no page errors, failed requests or HTTP errors', async () => {
      check(problems.length === 0, `page problems:\n    ${problems.join('\n    ')}`);
      const gone = serverGone();
      check(!gone, `server died during the test: ${gone}`);
    });

    log('PASS: all steps passed');
    return 0;
  } catch (err) {
    if (aborted) return 1;
    log(`FAIL in ${currentStep}`);
    console.error(err instanceof TestFailure ? err.message : (err && err.stack) || err);
    if (problems.length) console.error(`page problems seen:\n  ${problems.join('\n  ')}`);
    return 1;
  } finally {
    clearTimeout(globalTimer);
    if (browser) {
      await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
    }
    await stopServer();
    if (serverExit && serverExit.signal !== 'SIGTERM' && serverExit.code !== 0) {
      log(`note: server exit status on shutdown: code ${serverExit.code}, signal ${serverExit.signal}`);
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err) => { console.error(err); process.exit(1); },
);
