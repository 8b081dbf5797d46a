#!/usr/bin/env node
// The chat page in each browser engine (issue 19): the real duplex-chat
// (127.0.0.1, a port the test picks, history in memory, serving the assembled
// site) and the WebAssembly page, driven through tests/e2e/browsers.mjs in
// Chromium (playwright-core), Firefox (puppeteer-core, WebDriver BiDi) or
// WebKit (WebKitWebDriver under xvfb-run). The same steps in every engine:
//   - two pages load, join (Join button; Enter key), see each other online;
//   - messages both ways with characters outside the BMP (emoji, a ZWJ
//     sequence, a musical symbol) and HTML shown as text;
//   - typed refusals: name_taken from the server; a name too long for the
//     protocol's rule (32 UTF-8 bytes), refused by the page before sending;
//   - the browser's own WebSocket: subprotocol choice, permessage-deflate,
//     bad_message for text that is not JSON and for a binary frame (socket
//     stays open), an unknown version closed with 4406 and its reason;
//   - a server restart: Close 1001 on drain, the pages reconnect by
//     themselves, re-join and chat again;
//   - a closed page leaves; no page errors.
// Where the engines differ the step says so (look for "ENGINE:").
//
//   node tests/e2e/chat_engines.e2e.mjs --browser firefox \
//        --server build/native/server/duplex-chat --site build/site [--headed]
//
// Exit status 0 = every step passed. A missing browser is a failure, never a
// skip (scripts/setup.sh installs all three). The server, the browser and
// (webkit) the X server are always stopped.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';

import { BrowserMissing, ENGINES, WaitTimeout, launch, reexecUnderXvfb, requireEngine } from './browsers.mjs';

// ---- configuration ------------------------------------------------------------

const GLOBAL_TIMEOUT_MS = Number(process.env.DUPLEX_E2E_TIMEOUT_MS) || 100_000;   // CTest kills us at 120 s
const STEP_TIMEOUT_MS = 10_000;

function parseArgs(argv) {
  const opts = { browser: null, server: null, site: null, headed: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--browser') opts.browser = value();
    else if (a === '--server') opts.server = value();
    else if (a === '--site') opts.site = value();
    else if (a === '--headed') opts.headed = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!ENGINES.includes(opts.browser)) throw new Error(`--browser must be one of ${ENGINES.join(', ')}`);
  opts.server = path.resolve(opts.server ?? process.env.DUPLEX_CHAT_SERVER ?? 'build/native/server/duplex-chat');
  opts.site = path.resolve(opts.site ?? process.env.DUPLEX_SITE_DIR ?? 'build/site');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---- logging and checks ----------------------------------------------------------

const t0 = Date.now();
const log = (msg) => console.log(`[${opts.browser} +${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}`);
let stepNo = 0;
let currentStep = '(setup)';
let aborted = false;
const timings = [];

class TestFailure extends Error {}
const check = (cond, msg) => { if (!cond) throw new TestFailure(`check failed: ${msg}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function step(title, fn) {
  currentStep = `step ${++stepNo}: ${title}`;
  log(`${currentStep} ...`);
  const start = Date.now();
  await fn();
  if (aborted) throw new TestFailure('aborted');
  timings.push([stepNo, Date.now() - start]);
  log(`${currentStep} ok (${Date.now() - start} ms)`);
}

// ---- the server -------------------------------------------------------------------

let server = null;
let serverExit = null;
let expectServerExit = false;

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

// Starts duplex-chat on 127.0.0.1:port; resolves once it says it listens.
function startServer(port) {
  serverExit = null;
  expectServerExit = false;
  const child = spawn(opts.server, ['--host', '127.0.0.1', '--port', String(port), '--root', opts.site, '--memory'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      for (const line of String(d).split('\n')) if (line.trim()) console.log(`  [server] ${line}`);
      out += d;
      if (/listening on/.test(out)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => { serverExit = { error: e.message }; reject(e); });
    child.on('exit', (code, signal) => {
      if (child !== server) return;
      serverExit = { code, signal };
      if (!expectServerExit) log(`SERVER EXITED UNEXPECTEDLY (code ${code}, signal ${signal})`);
      reject(new Error(`duplex-chat exited (code ${code}, signal ${signal}) before listening`));
    });
  });
}

async function stopServer() {
  if (!server || serverExit) return;
  expectServerExit = true;
  server.kill('SIGTERM');
  for (let i = 0; i < 100 && !serverExit; ++i) await sleep(100);
  if (!serverExit) {
    log('server ignored SIGTERM for 10 s; sending SIGKILL');
    server.kill('SIGKILL');
    for (let i = 0; i < 20 && !serverExit; ++i) await sleep(100);
  }
}

process.on('exit', () => {
  if (server && !serverExit) { try { server.kill('SIGKILL'); } catch { /* gone */ } }
});

// ---- page helpers ------------------------------------------------------------------

const tid = (id) => `[data-testid="${id}"]`;

// What a page shows, for failure messages.
function describe(page) {
  return async () => JSON.stringify(await page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    return {
      status: q('status')?.textContent,
      alert: q('alert')?.hidden ? '' : q('alert')?.textContent,
      users: [...(q('users')?.children ?? [])].map((e) => e.textContent),
      messages: [...(q('messages')?.children ?? [])].map((e) => e.textContent).slice(-8),
    };
  }));
}

const waitFor = (page, what, fn, arg, timeout = STEP_TIMEOUT_MS) =>
  page.waitFor(what, fn, arg, { timeout, describe: describe(page) });

const waitStatus = (page, re) => waitFor(page, `status ~ ${re}`,
  (src) => new RegExp(src).test(document.querySelector('[data-testid="status"]')?.textContent ?? ''), re.source);

const waitUsers = (page, names) => waitFor(page, `online users exactly [${names}]`, (names) => {
  const got = [...(document.querySelector('[data-testid="users"]')?.children ?? [])].map((e) => e.textContent);
  return got.length === names.length && names.every((n) => got.includes(n));
}, names);

// A chat line from `from` whose text is exactly `text` (so a character lost or
// split on the way fails), or a note containing every one of `parts`.
const waitLine = (page, from, text) => waitFor(page, `a line from ${from}: ${JSON.stringify(text)}`,
  ({ from, text }) => [...document.querySelectorAll('[data-testid="messages"] li.msg')]
    .some((li) => li.querySelector('.from')?.textContent === from && li.querySelector('.text')?.textContent === text),
  { from, text });
const waitNote = (page, parts) => waitFor(page, `a note containing ${JSON.stringify(parts)}`,
  (parts) => [...document.querySelectorAll('[data-testid="messages"] li')]
    .some((li) => parts.every((p) => li.textContent.includes(p))), parts);

const waitAlert = (page, re) => waitFor(page, `a visible alert ~ ${re}`, (src) => {
  const el = document.querySelector('[data-testid="alert"]');
  return el && !el.hidden && el.offsetParent !== null && new RegExp(src).test(el.textContent);
}, re.source);

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

// Runs in the page: opens a raw browser WebSocket to the chat offering
// `protocols`, keeps it as window[key] with an inbox; resolves once open (or
// closed, or 5 s). Returns what the browser reports about the handshake.
const openRaw = ({ key, protocols }) => new Promise((resolve) => {
  const ws = new WebSocket(`ws://${location.host}/ws/chat`, protocols);
  const box = { ws, inbox: [], closed: null, error: false };
  window[key] = box;
  const timer = setTimeout(() => resolve({ timeout: true }), 5000);
  ws.onmessage = (e) => box.inbox.push(typeof e.data === 'string' ? e.data : `(binary ${e.data.constructor.name})`);
  ws.onerror = () => { box.error = true; };
  ws.onclose = (e) => {
    box.closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
    clearTimeout(timer);
    resolve({ closed: box.closed, protocol: ws.protocol, error: box.error });
  };
  ws.onopen = () => {
    clearTimeout(timer);
    resolve({ open: true, protocol: ws.protocol, extensions: ws.extensions, binaryType: ws.binaryType });
  };
});

// Runs in the page: the first message on window[key] (JSON-decoded) whose
// type is in `types`, taken out of the inbox, waiting up to 5 s; the others
// stay (the server may send a broadcast before the answer to a join).
const nextRaw = async ({ key, types }) => {
  const box = window[key];
  const deadline = Date.now() + 5000;
  for (;;) {
    const i = box.inbox.findIndex((d) => types.includes(JSON.parse(d).type));
    if (i >= 0) return JSON.parse(box.inbox.splice(i, 1)[0]);
    if (box.closed) return { closedWhileWaiting: box.closed };
    if (Date.now() > deadline) return { timeout: true };
    await new Promise((r) => setTimeout(r, 20));
  }
};

// ---- the test ------------------------------------------------------------------------

async function main() {
  let browser = null;
  const pages = [];

  const globalTimer = setTimeout(async () => {
    aborted = true;
    log(`FAIL: global timeout of ${GLOBAL_TIMEOUT_MS / 1000} s hit during ${currentStep}`);
    try {
      await Promise.race([Promise.all([browser?.close(), stopServer()]), sleep(8000)]);
    } finally {
      process.exit(1);
    }
  }, GLOBAL_TIMEOUT_MS);
  const stopAll = async (signal) => {
    log(`${signal}: stopping`);
    await Promise.race([Promise.all([browser?.close(), stopServer()]), sleep(8000)]);
    process.exit(1);
  };
  process.once('SIGINT', () => stopAll('SIGINT'));
  process.once('SIGTERM', () => stopAll('SIGTERM'));

  try {
    let port;
    let baseUrl;

    await step('the build outputs and the browser are there', async () => {
      try {
        fs.accessSync(opts.server, fs.constants.X_OK);
      } catch {
        throw new TestFailure(`server executable not found: ${opts.server} (cmake --build --preset native)`);
      }
      const need = ['index.html', 'app.js', 'style.css', 'duplex_client.js', 'duplex_client.wasm'];
      const missing = need.filter((f) => !fs.existsSync(path.join(opts.site, f)));
      if (missing.length) {
        throw new TestFailure(`site directory ${opts.site} lacks ${missing.join(', ')} ` +
          '(built by the wasm preset: scripts/build.sh)');
      }
      requireEngine(opts.browser);
    });

    await step('start duplex-chat on 127.0.0.1 and a port the test picked', async () => {
      port = await freePort();
      baseUrl = `http://127.0.0.1:${port}/`;
      await startServer(port);
    });

    await step(`launch ${opts.browser}`, async () => {
      browser = await launch(opts.browser, { headed: opts.headed, timeout: STEP_TIMEOUT_MS });
      log(`  ${browser.version}`);
    });

    let A;
    let B;
    let C;
    const open = async (name) => {
      const page = await browser.newPage(name);
      pages.push(page);
      await page.goto(baseUrl);
      return page;
    };

    await step('page A loads, the WASM client connects and joins as alice (Join button)', async () => {
      A = await open('A');
      await waitStatus(A, /^connected$/);
      const proto = await A.evaluate(() => window.duplexProtocol?.subprotocol);
      check(proto === 'duplex.chat.v5', `the page's client speaks ${proto}`);
      await joinAs(A, 'alice');
      await waitStatus(A, /^joined as alice$/);
      await waitUsers(A, ['alice']);
    });

    await step('page B loads and joins as bob (Enter key); both see both online', async () => {
      B = await open('B');
      await waitStatus(B, /^connected$/);
      await joinAs(B, 'bob', { useEnter: true });
      await waitStatus(B, /^joined as bob$/);
      await waitUsers(A, ['alice', 'bob']);
      await waitUsers(B, ['alice', 'bob']);
      await waitNote(A, ['bob', 'joined']);
    });

    // ENGINE: WebKitWebDriver's Element Send Keys drops characters outside
    // the BMP; browsers.mjs types those through Perform Actions (and checks
    // the field holds exactly the text before sending).
    await step('A sends emoji and other non-BMP text (Send button); B shows it exactly', async () => {
      const text = 'hello 😀 from alice — ünïcødé 𝄞 👩‍👩‍👧 ✓';
      await say(A, text);
      await waitLine(B, 'alice', text);
      await waitLine(A, 'alice', text);
      const left = await A.value(tid('message'));
      check(left === '', `message input not cleared after send: ${JSON.stringify(left)}`);
    });

    await step('B answers with Enter: emoji and HTML, shown as text on both pages', async () => {
      const text = '🎉 <b>x</b> & <img src=x onerror="window.__pwned=1"> 🚀';
      await say(B, text, { useEnter: true });
      await waitLine(A, 'bob', text);
      await waitLine(B, 'bob', text);
      for (const page of [A, B]) {
        const r = await page.evaluate(() => ({
          b: document.querySelectorAll('[data-testid="messages"] b').length,
          img: document.querySelectorAll('[data-testid="messages"] img').length,
          pwned: window.__pwned === 1,
        }));
        check(r.b === 0 && r.img === 0 && !r.pwned, `${page.name}: HTML in a message became elements: ${JSON.stringify(r)}`);
      }
    });

    await step('page C: the taken name alice is refused with name_taken; C can retry', async () => {
      C = await open('C');
      await waitStatus(C, /^connected$/);
      await joinAs(C, 'alice');
      await waitAlert(C, /name_taken/);
      const status = await C.text(tid('status'));
      check(!status.startsWith('joined'), `page C claims to have joined: ${status}`);
      check(await C.enabled(tid('join')), 'page C cannot retry (Join disabled)');
      await waitUsers(A, ['alice', 'bob']);
    });

    await step('page C: a name of 9 emoji (36 UTF-8 bytes, 18 UTF-16 units) is refused by the page before sending', async () => {
      // The field's maxlength (32) counts UTF-16 units and lets it through;
      // the protocol's rule (0..32 UTF-8 bytes, checked by the C++ client in
      // the page) refuses it, and the server never sees it.
      const name = '😀'.repeat(9);
      await joinAs(C, name);
      await waitAlert(C, /name is too long/);
      const status = await C.text(tid('status'));
      check(status === 'connected', `page C status after the refusal: ${status}`);
      await sleep(200);
      await waitUsers(A, ['alice', 'bob']);
    });

    const engineNotes = {};

    await step("the browser's own WebSocket: subprotocol choice, permessage-deflate, bad_message for non-JSON and binary", async () => {
      const hs = await C.evaluate(openRaw, { key: 'raw', protocols: ['duplex.chat.v0', 'duplex.chat.v1'] });
      log(`  handshake: ${JSON.stringify(hs)}`);
      engineNotes.handshake = hs;
      check(hs.open, `raw WebSocket did not open: ${JSON.stringify(hs)}`);
      check(hs.protocol === 'duplex.chat.v1', `offered v0 and v1, the browser reports ${JSON.stringify(hs.protocol)}`);
      // ENGINE: ws.extensions is the whole negotiated header in Chromium and
      // WebKit ("permessage-deflate; server_no_context_takeover;
      // client_no_context_takeover"), the bare name in Firefox.
      check(/^permessage-deflate\b/.test(hs.extensions), `no permessage-deflate: extensions ${JSON.stringify(hs.extensions)}`);
      check(hs.binaryType === 'blob', `binaryType ${hs.binaryType}`);

      await C.evaluate(() => window.raw.ws.send('not json'));
      const bad = await C.evaluate(nextRaw, { key: 'raw', types: ['error'] });
      check(bad.type === 'error' && bad.code === 'bad_message', `"not json" answered with ${JSON.stringify(bad)}`);

      // A binary frame: the chat is text only, so the server answers with a
      // typed error and keeps the connection.
      await C.evaluate(() => window.raw.ws.send(new Uint8Array([0x7b, 0x7d, 0xff, 0x00])));
      const bin = await C.evaluate(nextRaw, { key: 'raw', types: ['error'] });
      log(`  binary frame answered with ${JSON.stringify(bin)}`);
      check(bin.type === 'error' && bin.code === 'bad_message' && /binary/.test(bin.message),
        `a binary frame answered with ${JSON.stringify(bin)}`);
      // Blob and ArrayBuffer both go out as binary frames.
      await C.evaluate(() => window.raw.ws.send(new Blob(['{"type":"leave"}'])));
      const blob = await C.evaluate(nextRaw, { key: 'raw', types: ['error'] });
      check(blob.code === 'bad_message' && /binary/.test(blob.message), `a Blob answered with ${JSON.stringify(blob)}`);

      const text = `raw ${'word🙂 '.repeat(300)}end`;   // long enough to be compressed both ways
      await C.evaluate((t) => {
        window.raw.ws.send(JSON.stringify({ type: 'join', name: 'rawcarol' }));
        window.raw.ws.send(JSON.stringify({ type: 'chat', text: t }));
      }, text);
      const joined = await C.evaluate(nextRaw, { key: 'raw', types: ['joined', 'error'] });
      check(joined.type === 'joined' && joined.name === 'rawcarol', `raw join answered with ${JSON.stringify(joined)}`);
      const echo = await C.evaluate(nextRaw, { key: 'raw', types: ['message', 'error'] });
      check(echo.type === 'message' && echo.text === text, `the long chat came back as ${JSON.stringify(echo).slice(0, 200)}`);
      const still = await C.evaluate(() => ({ state: window.raw.ws.readyState, closed: window.raw.closed }));
      check(still.state === 1 && !still.closed, `raw socket not open after the errors: ${JSON.stringify(still)}`);
      await waitUsers(A, ['alice', 'bob', 'rawcarol']);
      await waitLine(B, 'rawcarol', text);

      const closed = await C.evaluate(() => new Promise((resolve) => {
        const box = window.raw;
        box.ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        box.ws.close(1000, 'done');
      }));
      log(`  closed by the page: ${JSON.stringify(closed)}`);
      check(closed.code === 1000 && closed.wasClean, `own close reported as ${JSON.stringify(closed)}`);
      await waitUsers(A, ['alice', 'bob']);
      await waitNote(A, ['rawcarol', 'left']);
    });

    await step('a WebSocket offering only duplex.chat.v0 is accepted, then closed with 4406 and a reason', async () => {
      const r = await C.evaluate(openRaw, { key: 'old', protocols: ['duplex.chat.v0'] });
      let closed = r.closed;
      if (r.open) closed = await C.evaluate(() => new Promise((resolve) => {
        const box = window.old;
        if (box.closed) resolve(box.closed);
        else box.ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      }));
      log(`  open: ${JSON.stringify(r)}; close: ${JSON.stringify(closed)}`);
      engineNotes.versionMismatch = { open: r, close: closed };
      check(closed && closed.code === 4406, `expected close 4406, got ${JSON.stringify(closed)}`);
      check(/out of date: reload/.test(closed.reason), `close reason ${JSON.stringify(closed.reason)}`);
      check(closed.wasClean, 'the 4406 close was not clean');
    });

    await step('server restart: Close 1001 on drain, both pages reconnect, re-join and chat again', async () => {
      // A raw socket in C watches the drain's close code.
      const hs = await C.evaluate(openRaw, { key: 'drain', protocols: ['duplex.chat.v2'] });
      check(hs.open && hs.protocol === 'duplex.chat.v2', `raw v2 socket: ${JSON.stringify(hs)}`);
      const restartAt = Date.now();
      await stopServer();
      log(`  server stopped in ${Date.now() - restartAt} ms`);
      const drained = await waitFor(C, 'the raw socket to close', () => window.drain.closed);
      log(`  drain close seen by the page: ${JSON.stringify(drained)}`);
      engineNotes.drain = drained;
      check(drained.code === 1001, `drain closed with ${JSON.stringify(drained)}, expected 1001`);
      await waitStatus(A, /^reconnecting/);
      await waitStatus(B, /^reconnecting/);
      await sleep(500);   // the pages try while it is down (refused)
      await startServer(port);
      const upAt = Date.now();
      await waitStatus(A, /^joined as alice$/, 20_000);
      await waitStatus(B, /^joined as bob$/, 20_000);
      log(`  both pages re-joined ${Date.now() - upAt} ms after the restart`);
      engineNotes.rejoinMs = Date.now() - upAt;
      // ENGINE: a refused WebSocket connection is logged by the browser
      // itself: Chromium as a console error ("WebSocket connection to ...
      // failed: ... ERR_CONNECTION_REFUSED"), Firefox as a JavaScript error
      // ("Firefox can't establish a connection to the server at ws://...",
      // puppeteer's pageerror, although nothing was thrown in the page).
      // Classic WebDriver shows nothing of WebKit's own console. Expected
      // while the server is down: not a page problem.
      const refusedLog = /WebSocket connection to .* failed|can.t establish a connection to the server at ws:/;
      for (const p of [A, B, C]) {
        const dropped = await p.dropProblems(refusedLog);
        if (dropped.length) log(`  expected while the server was down: ${dropped.length} x ${dropped[0]}`);
        engineNotes[`refusedLogs_${p.name.at(-1)}`] = dropped.length;
      }
      await waitUsers(A, ['alice', 'bob']);
      await waitUsers(B, ['alice', 'bob']);
      const text = 'back again 🔁 after the restart';
      await say(A, text);
      await waitLine(B, 'alice', text);
      const back = '👍 got it';
      await say(B, back, { useEnter: true });
      await waitLine(A, 'bob', back);
    });

    await step('page B closes; A sees bob leave', async () => {
      await B.collectProblems();
      await B.close();
      pages.splice(pages.indexOf(B), 1);
      await waitNote(A, ['bob', 'left']);
      await waitUsers(A, ['alice']);
    });

    await step('no page errors', async () => {
      const problems = [];
      for (const p of [A, B, C]) {
        if (pages.includes(p)) await p.collectProblems();
        problems.push(...p.problems);
      }
      check(problems.length === 0, `page problems:\n    ${problems.join('\n    ')}`);
      check(!serverExit, `server died during the test: ${JSON.stringify(serverExit)}`);
    });

    log(`engine notes: ${JSON.stringify(engineNotes)}`);
    log(`PASS: all ${stepNo} steps in ${opts.browser} (${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
      `per step ms: ${timings.map(([n, ms]) => `${n}:${ms}`).join(' ')})`);
    return 0;
  } catch (err) {
    if (aborted) return 1;
    log(`FAIL in ${currentStep}`);
    const expected = err instanceof TestFailure || err instanceof WaitTimeout || err instanceof BrowserMissing;
    console.error(expected ? err.message : (err && err.stack) || err);
    return 1;
  } finally {
    clearTimeout(globalTimer);
    if (browser) await Promise.race([browser.close().catch((e) => log(`closing the browser: ${e.message}`)), sleep(10_000)]);
    await stopServer();
  }
}

if (!reexecUnderXvfb(opts.browser, { headed: opts.headed })) {
  main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });
}
