#!/usr/bin/env node
// Browser end-to-end test of the chat's sign-in (duplex-chat --auth-jwt):
// the real server with an HS256 secret, the WebAssembly page in headless
// Chromium (playwright-core), tokens minted here with node:crypto.
//   - /#garden&token=... : the page stores the token in the duplex_token
//     cookie (Path=/ws, SameSite=Strict), drops it from the URL (the room
//     stays), fills the name from the token, connects and joins;
//   - a page without a token is refused (never "connected");
//   - a token that expires while joined: the server's notice first (protocol
//     v4 token_expiring: the page says how long is left), then 4001 and the
//     page says "session expired: get a new token" instead of reconnecting;
//   - a token refreshed in band: from a new #token= link, and on the
//     server's notice from the app's window.duplexChat.onTokenExpiring.
//
//   node tests/e2e/auth.e2e.mjs --server build/native/server/duplex-chat --site build/site
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
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
const log = (m) => console.log(`[auth ${((Date.now() - t0) / 1000).toFixed(2)}s] ${m}`);
class TestFailure extends Error {}
const check = (cond, msg) => { if (!cond) throw new TestFailure(`check failed: ${msg}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-auth-e2e-'));
const secret = crypto.randomBytes(32).toString('hex');
fs.writeFileSync(path.join(scratch, 'chat.secret'), secret);

const b64url = (s) => Buffer.from(s).toString('base64url');
function mint(name, expIn, extra = {}) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({
    sub: `user-${name}`, name, aud: 'chat', exp: Math.floor(Date.now() / 1000) + expIn, ...extra,
  }))}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

let server = null;
function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(serverExe, ['--host', '127.0.0.1', '--port', '0', '--root', site, '--memory',
      '--auth-jwt', path.join(scratch, 'chat.secret'), '--auth-audience', 'chat'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      for (const line of String(d).split('\n')) if (line.trim()) console.log(`  [server] ${line}`);
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`duplex-chat exited (${code}): ${out}`)));
    server = child;
  });
}

async function waitFor(page, what, fn, a, ms = WAIT_MS) {
  try {
    await page.waitForFunction(fn, a, { timeout: ms, polling: 50 });
  } catch {
    const state = await page.evaluate(() => ({
      status: document.querySelector('[data-testid="status"]')?.textContent,
      alert: document.querySelector('[data-testid="alert"]')?.textContent,
    })).catch(() => ({}));
    throw new TestFailure(`timed out waiting for ${what}; page: ${JSON.stringify(state)}`);
  }
}
const status = (page) => page.textContent('[data-testid="status"]');
const waitStatus = (page, re, ms) => waitFor(page, `status ~ ${re}`,
  (src) => new RegExp(src).test(document.querySelector('[data-testid="status"]').textContent), re.source, ms);

let browser = null;
async function main() {
  const port = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const base = `http://127.0.0.1:${port}/`;

  log('a token in the fragment: stored as a cookie, gone from the URL, the name filled in');
  const token = mint('ada', 600, { rooms: ['private-team-*'] });
  const ctxA = await browser.newContext();
  const A = await ctxA.newPage();
  await A.goto(`${base}#private-team-blue&token=${token}`);
  await waitStatus(A, /^connected$/);
  check(await A.evaluate(() => location.hash) === '#private-team-blue', 'the token left the URL, the room stayed');
  check(!(await A.evaluate(() => location.href)).includes(token), 'no token in the address');
  check((await A.textContent('[data-testid="room"]')) === '#private-team-blue', 'the room from the fragment');
  const cookies = await ctxA.cookies(`${base}ws/chat`);
  const c = cookies.find((x) => x.name === 'duplex_token');
  check(c && c.value === token && c.path === '/ws' && c.sameSite === 'Strict', `cookie ${JSON.stringify(c)}`);
  check((await ctxA.cookies(base)).every((x) => x.name !== 'duplex_token'), 'the cookie goes to /ws only');
  check(await A.inputValue('[data-testid="name"]') === 'ada', 'the name comes from the token');
  await A.click('[data-testid="join"]');
  await waitStatus(A, /^joined as ada$/);
  log('a reload (the token only in the cookie now) connects again');
  await A.reload();
  await waitStatus(A, /^connected$/);
  check(await A.inputValue('[data-testid="name"]') === 'ada', 'the name is remembered');

  log('no token: refused, never connected');
  const B = await (await browser.newContext()).newPage();
  await B.goto(`${base}#lobby`);
  await sleep(1500);
  check(!/^connected$/.test(await status(B)), `without a token the page does not connect (${await status(B)})`);

  log('a token expiring in 5 s, no app to ask: the notice says how long is left, then 4001 and the page asks for a new token');
  const C = await (await browser.newContext()).newPage();
  await C.goto(`${base}#token=${mint('cy', 5)}`);
  await waitStatus(C, /^connected$/);
  check(await C.evaluate(() => location.hash) === '', 'a token-only fragment is removed entirely');
  await C.click('[data-testid="join"]');
  await waitStatus(C, /^joined as cy$/);
  await waitFor(C, 'the notice before exp', () => /^Your session ends in \d+ s/
    .test(document.querySelector('[data-testid="alert"]')?.textContent ?? ''), undefined, 6000);
  check(await status(C) === 'joined as cy', `still joined at the notice (${await status(C)})`);
  await waitStatus(C, /^session expired: get a new token$/, 8000);
  await sleep(2000);
  check(await status(C) === 'session expired: get a new token', 'it stays expired (no reconnect loop)');

  log('after 4001 a new link signs in again');
  await C.evaluate((t) => { location.hash = `#token=${t}`; }, mint('cy', 600));
  await waitStatus(C, /^joined as cy$/, 8000);

  log('a token refreshed in band before its exp: the same connection lives on, nobody sees a reconnect');
  const D = await (await browser.newContext()).newPage();
  await D.goto(`${base}#token=${mint('dee', 4)}`);
  await waitStatus(D, /^connected$/);
  await D.click('[data-testid="join"]');
  await waitStatus(D, /^joined as dee$/);
  const opened = Date.now();
  const sockets = [];
  D.on('websocket', (ws) => sockets.push(ws.url()));
  await D.evaluate((t) => { location.hash = `#token=${t}`; }, mint('dee', 600));
  await waitFor(D, 'the refreshed note', () => [...document.querySelectorAll('[data-testid="messages"] *')]
    .some((e) => /^Signed in until /.test(e.textContent ?? '')));
  check(await D.evaluate(() => location.hash) === '', 'the new token left the URL too');
  await sleep(Math.max(0, opened + 5500 - Date.now()));   // past the first token's exp
  check(await status(D) === 'joined as dee', `still joined after the old exp (${await status(D)})`);
  check(sockets.length === 0, `no new connection was opened (${sockets.join(', ')})`);
  await D.fill('[data-testid="message"]', 'after the refresh');
  await D.press('[data-testid="message"]', 'Enter');
  await waitFor(D, 'the line after the refresh', () => (document.querySelector('[data-testid="messages"]')?.textContent ?? '')
    .includes('after the refresh'));

  log('the server\'s notice before exp (v4 token_expiring): the page asks the app for a token and refreshes in band');
  const E = await (await browser.newContext()).newPage();
  const asked = [];   // [when, {exp, seconds}] per call of the app's hook
  await E.exposeFunction('mintForTheApp', (notice) => { asked.push([Date.now(), notice]); return mint('eve', 600); });
  // The app around the page sets its hook before the page's script runs.
  await E.addInitScript(() => {
    window.duplexChat = { onTokenExpiring: (notice) => window.mintForTheApp(notice) };
  });
  const firstExp = Math.floor(Date.now() / 1000) + 6;
  await E.goto(`${base}#token=${mint('eve', 6)}`);
  await waitStatus(E, /^connected$/);
  await E.click('[data-testid="join"]');
  await waitStatus(E, /^joined as eve$/);
  const eSockets = [];
  E.on('websocket', (ws) => eSockets.push(ws.url()));
  check(await E.evaluate(() => typeof window.duplexChat.refresh) === 'function', 'the page keeps the app\'s object and adds refresh');
  await waitFor(E, 'the refresh after the notice', () => [...document.querySelectorAll('[data-testid="messages"] *')]
    .some((e) => /^Signed in until /.test(e.textContent ?? '')), undefined, 8000);
  check(asked.length === 1, `the app was asked once (${asked.length})`);
  const [askedAt, notice] = asked[0];
  check(notice && Math.abs(notice.exp - firstExp) <= 1 && notice.seconds >= 1 && notice.seconds <= 3,
    `the notice names the exp and the seconds left (${JSON.stringify(notice)}, exp ${firstExp})`);
  check(askedAt < notice.exp * 1000, `asked before the exp (${askedAt} vs ${notice.exp * 1000})`);
  check((await E.textContent('[data-testid="alert"]')) === '' || await E.isHidden('[data-testid="alert"]'),
    'no "session ends" alert when the app gave a token');
  await sleep(Math.max(0, (firstExp + 1.5) * 1000 - Date.now()));   // past the first token's exp
  check(await status(E) === 'joined as eve', `still joined after the old exp (${await status(E)})`);
  check(eSockets.length === 0, `no new connection was opened (${eSockets.join(', ')})`);
  await E.fill('[data-testid="message"]', 'after the notice');
  await E.press('[data-testid="message"]', 'Enter');
  await waitFor(E, 'the line after the notice', () => (document.querySelector('[data-testid="messages"]')?.textContent ?? '')
    .includes('after the notice'));
  const metrics = await (await fetch(`${base}metrics`)).text();
  check(/\nduplex_chat_auth_refreshed_total 2\n/.test(metrics), 'two refreshes counted (the link, the notice)');
}

const timer = setTimeout(() => { console.error('FAIL: global timeout'); cleanup().then(() => process.exit(1)); }, GLOBAL_TIMEOUT_MS);
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGKILL');
  fs.rmSync(scratch, { recursive: true, force: true });
}
main().then(async () => { clearTimeout(timer); await cleanup(); log('PASS'); process.exit(0); },
  async (e) => {
    clearTimeout(timer);
    console.error(`FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
    await cleanup();
    process.exit(1);
  });
