#!/usr/bin/env node
// Browser end-to-end test of rooms, history and resume (issue 11): the real
// duplex-chat with SQLite history in a scratch --data directory, the
// WebAssembly page in headless Chromium (playwright-core).
//   - a page shows the room from the URL, the history and who is online
//     before joining; a reloaded page shows the history again;
//   - a page whose socket is cut (page.routeWebSocket) says "reconnecting",
//     comes back by itself and shows the lines it missed, each once;
//   - after a server restart the history is still there;
//   - a big room (over --presence-full-limit, protocol v5): the page shows
//     the count, the first names, itself and who spoke, "N of M shown", and
//     "Show all" lists every member.
//
//   node tests/e2e/rooms.e2e.mjs --server build/native/server/duplex-chat --site build/site
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';

const GLOBAL_TIMEOUT_MS = Number(process.env.DUPLEX_E2E_TIMEOUT_MS) || 110_000;
const WAIT_MS = 10_000;
const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const serverExe = path.resolve(arg('--server', 'build/native/server/duplex-chat'));
const site = path.resolve(arg('--site', 'build/site'));

const t0 = Date.now();
const log = (m) => console.log(`[rooms ${((Date.now() - t0) / 1000).toFixed(2)}s] ${m}`);
class TestFailure extends Error {}
const check = (cond, msg) => { if (!cond) throw new TestFailure(`check failed: ${msg}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

let server = null;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-rooms-e2e-'));

function startServer(port) {
  return new Promise((resolve, reject) => {
    const child = spawn(serverExe, ['--host', '127.0.0.1', '--port', String(port), '--root', site, '--data', dataDir,
      '--presence-full-limit', '3'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      for (const line of String(d).split('\n')) if (line.trim()) console.log(`  [server] ${line}`);
      if (/listening on/.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`duplex-chat exited (${code}): ${out}`)));
    server = child;
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

async function waitFor(page, what, fn, arg, ms = WAIT_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
  } catch {
    const state = await page.evaluate(() => ({
      status: document.querySelector('[data-testid="status"]')?.textContent,
      lines: [...document.querySelectorAll('[data-testid="messages"] li')].map((li) => li.textContent),
    })).catch(() => ({}));
    throw new TestFailure(`timed out waiting for ${what}; page: ${JSON.stringify(state)}`);
  }
}

// The chat lines' texts shown on the page, in order.
const lines = (page) => page.$$eval('[data-testid="messages"] li.msg .text', (els) => els.map((e) => e.textContent));
const waitStatus = (page, re) => waitFor(page, `status ~ ${re}`,
  (src) => new RegExp(src).test(document.querySelector('[data-testid="status"]').textContent), re.source);
const waitLines = (page, want) => waitFor(page, `lines ${JSON.stringify(want)}`, (w) => {
  const got = [...document.querySelectorAll('[data-testid="messages"] li.msg .text')].map((e) => e.textContent);
  return JSON.stringify(got) === JSON.stringify(w);
}, want);

async function join(page, name) {
  await waitStatus(page, /^connected$/);
  await page.fill('[data-testid="name"]', name);
  await page.click('[data-testid="join"]');
  await waitStatus(page, new RegExp(`^joined as ${name}$`));
}

async function say(page, text) {
  await page.fill('[data-testid="message"]', text);
  await page.click('[data-testid="send"]');
}

let browser = null;
async function main() {
  const port = await freePort();
  await startServer(port);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const url = `http://127.0.0.1:${port}/#garden`;

  log('A joins #garden and says three lines');
  const A = await (await browser.newContext()).newPage();
  await A.goto(url);
  check((await A.textContent('[data-testid="room"]')) === '#garden', 'the page shows the room from the URL');
  await join(A, 'alice');
  for (const t of ['one', 'two', 'three']) await say(A, t);
  await waitLines(A, ['one', 'two', 'three']);

  log('B, a visitor, sees the history and alice online before joining; again after a reload');
  const B = await (await browser.newContext()).newPage();
  await B.goto(url);
  await waitLines(B, ['one', 'two', 'three']);
  await waitFor(B, 'alice online', () =>
    [...document.querySelectorAll('[data-testid="users"] li')].some((li) => li.textContent === 'alice'));
  await B.reload();
  await waitLines(B, ['one', 'two', 'three']);

  log('C joins through a socket the test can cut');
  const C = await (await browser.newContext()).newPage();
  let blocked = false;
  let current = null;
  await C.routeWebSocket(/\/ws\/chat$/, (ws) => {
    if (blocked) { ws.close({ code: 4000, reason: 'cut by the test' }); return; }
    ws.connectToServer();   // forwards both ways
    current = ws;
  });
  await C.goto(url);
  await join(C, 'carol');
  await waitLines(C, ['one', 'two', 'three']);

  log('cut C, say two lines while it is away');
  blocked = true;
  await current.close({ code: 4000, reason: 'cut by the test' });
  await waitStatus(C, /^reconnecting/);
  await say(A, 'four');
  await say(A, 'five');
  await waitLines(A, ['one', 'two', 'three', 'four', 'five']);
  await sleep(300);
  blocked = false;

  log('C reconnects by itself and shows the missed lines once');
  await waitStatus(C, /^joined as carol$/);
  await waitLines(C, ['one', 'two', 'three', 'four', 'five']);
  await say(C, 'six');
  await waitLines(A, ['one', 'two', 'three', 'four', 'five', 'six']);
  await waitLines(C, ['one', 'two', 'three', 'four', 'five', 'six']);
  const names = await A.$$eval('[data-testid="users"] li', (els) => els.map((e) => e.textContent));
  check(names.includes('carol') && names.includes('alice'), `A's online list after C's reconnect: ${names}`);

  log('restart the server: the history is still there');
  await stopServer();
  await startServer(port);
  await B.reload();
  await waitLines(B, ['one', 'two', 'three', 'four', 'five', 'six']);
  // A reconnects and resumes (same epoch after a clean stop): nothing twice.
  await waitStatus(A, /^joined as alice$/);
  await say(A, 'seven');
  await waitLines(A, ['one', 'two', 'three', 'four', 'five', 'six', 'seven']);
  await waitLines(B, ['one', 'two', 'three', 'four', 'five', 'six', 'seven']);

  log('a big room: 60 members join #hall (the server\'s limit is 3, its first page 50 names)');
  const hallUrl = `http://127.0.0.1:${port}/#hall`;
  const E = await (await browser.newContext()).newPage();
  await E.goto(hallUrl);
  await waitStatus(E, /^connected$/);
  await E.evaluate(async (wsUrl) => {
    const socks = [];
    for (let i = 0; i < 60; ++i) {
      const ws = new WebSocket(wsUrl, 'duplex.chat.v2');
      await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
      const joined = new Promise((res) => { ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'joined') res(); }; });
      ws.send(JSON.stringify({ type: 'join', name: `m${100 + i}`, room: 'hall' }));
      await joined;
      socks.push(ws);
    }
    /** @type {any} */ (window).hallSockets = socks;
  }, `ws://127.0.0.1:${port}/ws/chat`);
  const D = await (await browser.newContext()).newPage();
  await D.goto(hallUrl);
  await join(D, 'dora');
  const shown = () => D.$$eval('[data-testid="users"] li', (els) => els.map((e) => e.textContent));
  await waitFor(D, 'the count 61 and "51 of 61 shown"', () =>
    document.getElementById('user-count').textContent === '61' &&
    !document.querySelector('[data-testid="users-partial"]').hidden &&
    document.querySelector('[data-testid="users-shown"]').textContent === '51 of 61 shown');
  let hallNames = await shown();
  check(hallNames.length === 51 && hallNames.includes('dora') && hallNames.includes('m100') && !hallNames.includes('m159'),
    `D lists the first 50 names and itself: ${hallNames.length} names`);
  log('m159 speaks: D lists it');
  await E.evaluate(() => /** @type {any} */ (window).hallSockets[59].send(JSON.stringify({ type: 'chat', text: 'hi from m159' })));
  await waitLines(D, ['hi from m159']);
  hallNames = await shown();
  check(hallNames.includes('m159') && hallNames.length === 52, `D lists the speaker: ${hallNames.length} names`);
  log('"Show all": every member');
  await D.click('[data-testid="show-all"]');
  await waitFor(D, 'all 61 members listed', () =>
    document.querySelectorAll('[data-testid="users"] li').length === 61 &&
    document.querySelector('[data-testid="users-partial"]').hidden);
  log('m159 leaves: gone from D\'s list, the count follows');
  await E.evaluate(() => /** @type {any} */ (window).hallSockets[59].send(JSON.stringify({ type: 'leave' })));
  await waitFor(D, 'count 60 without m159', () =>
    document.getElementById('user-count').textContent === '60' &&
    ![...document.querySelectorAll('[data-testid="users"] li')].some((li) => li.textContent === 'm159'));
  log('all steps passed');
}

const timer = setTimeout(() => { console.error('FAIL: global timeout'); cleanup().then(() => process.exit(1)); }, GLOBAL_TIMEOUT_MS);
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  await stopServer().catch(() => {});
  fs.rmSync(dataDir, { recursive: true, force: true });
}
main().then(async () => { clearTimeout(timer); await cleanup(); process.exit(0); },
  async (e) => {
    clearTimeout(timer);
    console.error(`FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
    await cleanup();
    process.exit(1);
  });
