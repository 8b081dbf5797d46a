#!/usr/bin/env node
// Browser end-to-end test of the arena (issue 22, examples/arena): the real
// duplex-arena (a few bots) serving its page, three pages in headless
// Chromium (playwright-core), read through window.arena (no pixels):
//   - two pages join and see each other;
//   - one holds a key and the other sees it move that way (right, then down);
//   - a third page joins mid-game: its first patch (a snapshot) holds both;
//   - a page's socket is cut (page.routeWebSocket): it reconnects by itself,
//     gets a fresh snapshot, is the same player, and sees the same world;
//   - no page errors; duplex-arena exits 0 on SIGTERM.
// Fails (never skips) when the arena's page was not built (the wasm preset).
//
//   node tests/e2e/arena.e2e.mjs --server build/native/examples/arena/duplex-arena --site build/arena-site
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';

const GLOBAL_TIMEOUT_MS = Number(process.env.DUPLEX_E2E_TIMEOUT_MS) || 100_000;
const WAIT_MS = 10_000;
const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Three pages at once: none of them throttled as a background tab.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'];

const args = process.argv.slice(2);
const arg = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const serverExe = path.resolve(arg('--server', 'build/native/examples/arena/duplex-arena'));
const site = path.resolve(arg('--site', 'build/arena-site'));

const t0 = Date.now();
const log = (m) => console.log(`[arena ${((Date.now() - t0) / 1000).toFixed(2)}s] ${m}`);
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
function startServer(port) {
  return new Promise((resolve, reject) => {
    const child = spawn(serverExe, ['--host', '127.0.0.1', '--port', String(port), '--web', site, '--bots', '3'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      for (const line of String(d).split('\n')) if (line.trim()) console.log(`  [server] ${line}`);
      if (/duplex-arena on http:\/\/127\.0\.0\.1:\d+\//.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`duplex-arena exited (${code}): ${out}`)));
    server = child;
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return server?.exitCode;
  const exited = new Promise((r) => server.once('exit', (code, signal) => r(signal ? signal : code)));
  server.kill('SIGTERM');
  return exited;
}

const problems = [];
async function openPage(browser, name, url, route) {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`); });
  if (route) await route(page);
  await page.goto(url);
  return page;
}

async function waitFor(page, what, fn, arg, ms = WAIT_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
  } catch {
    const state = await page.evaluate(() => window.arena && { stats: window.arena.stats(), positions: window.arena.positions() })
      .catch((e) => String(e));
    throw new TestFailure(`timed out waiting for ${what}; page: ${JSON.stringify(state)}`);
  }
}
const playing = (page, name) => waitFor(page, `${name} playing`,
  () => window.arena && window.arena.stats().status === 'playing' && window.arena.me > 0);
const stats = (page) => page.evaluate(() => window.arena.stats());
const positions = (page) => page.evaluate(() => window.arena.positions());
const sees = (page, who, id) => waitFor(page, `${who} sees entity ${id}`, (i) => String(i) in window.arena.positions(), id);

// Holds a key on `page` until `watcher` sees `id` moved by at least `min`
// along the key's axis (and not along the other); returns the two positions.
async function holdAndWatch(page, key, watcher, id, axis, min) {
  const before = (await positions(watcher))[id];
  await page.bringToFront();
  await page.keyboard.down(key);
  try {
    await waitFor(watcher, `entity ${id} to move ${axis} by ${min} after ${key}`,
      ([i, a, b, m]) => { const p = window.arena.positions()[i]; return p && p[a] - b >= m; },
      [id, axis, before[axis], min]);
  } finally {
    await page.keyboard.up(key);
  }
  await sleep(200);  // the key-up has reached the server; the dot stops
  const after = (await positions(watcher))[id];
  const other = axis === 'x' ? 'y' : 'x';
  check(Math.abs(after[other] - before[other]) < 1, `${key} moved only along ${axis}: ${JSON.stringify({ before, after })}`);
  return { before, after };
}

let browser = null;
async function main() {
  for (const f of ['index.html', 'app.js', 'arena_app.mjs', 'arena_app.wasm'])
    check(fs.existsSync(path.join(site, f)),
      `the arena's page is not built: ${path.join(site, f)} is missing (build the wasm preset: target arena_site)`);
  check(fs.existsSync(serverExe), `${serverExe} is missing (build the native preset: target duplex-arena)`);

  const port = await freePort();
  await startServer(port);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const base = `http://127.0.0.1:${port}/`;

  log('A and B join and see each other');
  const A = await openPage(browser, 'A', `${base}?name=alice`);
  // B's socket goes through the test, which can cut it.
  let blocked = false;
  let current = null;
  const B = await openPage(browser, 'B', `${base}?name=bob`, (page) => page.routeWebSocket(/\/ws\/arena$/, (ws) => {
    if (blocked) { ws.close({ code: 4000, reason: 'cut by the test' }); return; }
    ws.connectToServer();  // forwards both ways
    current = ws;
  }));
  await playing(A, 'A');
  await playing(B, 'B');
  const a = (await stats(A)).me, b = (await stats(B)).me;
  check(a !== b, `two players: ${a} ${b}`);
  await sees(A, 'A', b);
  await sees(B, 'B', a);
  const bots = Object.values(await positions(A)).filter((e) => e.kind === 'bot').length;
  log(`A is ${a}, B is ${b}; A sees ${bots} of the 3 bots`);

  log('A holds the right arrow: B sees A move right; then S: B sees A move down');
  const right = await holdAndWatch(A, 'ArrowRight', B, a, 'x', 40);
  const down = await holdAndWatch(A, 'KeyS', B, a, 'y', 40);
  log(`A moved ${JSON.stringify(right.before)} -> ${JSON.stringify(right.after)} -> ${JSON.stringify(down.after)}`);
  const selfA = (await positions(A))[a];
  check(Math.abs(selfA.x - down.after.x) < 0.01 && Math.abs(selfA.y - down.after.y) < 0.01,
    `A sees itself where B sees it: ${JSON.stringify(selfA)} vs ${JSON.stringify(down.after)}`);

  log('C joins mid-game: its snapshot holds A and B at once');
  const C = await openPage(browser, 'C', `${base}?name=carol`);
  await playing(C, 'C');
  const sc = await stats(C);
  check(sc.snapshots === 1, `C got one snapshot: ${JSON.stringify(sc)}`);
  check(sc.snapshot.includes(a) && sc.snapshot.includes(b), `C's snapshot holds A (${a}) and B (${b}): ${sc.snapshot}`);
  const pc = await positions(C);
  check(Math.abs(pc[a].x - selfA.x) < 0.01 && Math.abs(pc[a].y - selfA.y) < 0.01, `C sees A where A is: ${JSON.stringify(pc[a])}`);
  await sees(A, 'A', sc.me);
  await sees(B, 'B', sc.me);

  log("cut B's socket: it reconnects, gets a fresh snapshot, same player, same world");
  const sb0 = await stats(B);
  check(current !== null, 'B connected through the route');
  blocked = true;
  await current.close({ code: 4000, reason: 'cut by the test' });
  await waitFor(B, 'B reconnecting', () => window.arena.stats().status === 'reconnecting');
  await sleep(700);  // one refused attempt at least
  blocked = false;
  await waitFor(B, 'B back with a fresh snapshot',
    (n) => { const s = window.arena.stats(); return s.status === 'playing' && s.snapshots > n; }, sb0.snapshots);
  const sb1 = await stats(B);
  check(sb1.me === b, `B is the same player after the reconnect: ${sb1.me} vs ${b}`);
  check(sb1.snapshot.includes(a) && sb1.snapshot.includes(sc.me), `B's new snapshot holds A and C: ${sb1.snapshot}`);
  // The players stand still: once the tick that brought B back has reached
  // every page, each page sees each player at the same place, none away.
  const players = [a, b, sc.me];
  const settled = (ids) => {
    const p = window.arena.positions();
    return ids.every((i) => p[i] && !p[i].away);
  };
  for (const [who, page] of [['A', A], ['B', B], ['C', C]]) await waitFor(page, `${who} sees the three players back`, settled, players);
  const [pa, pb, pc2] = [await positions(A), await positions(B), await positions(C)];
  for (const id of players)
    for (const [who, p] of [['B', pb], ['C', pc2]])
      check(Math.abs(p[id].x - pa[id].x) < 0.01 && Math.abs(p[id].y - pa[id].y) < 0.01,
        `${who} sees player ${id} where A does: ${JSON.stringify(p[id])} vs ${JSON.stringify(pa[id])}`);
  log('B moves left after the reconnect: A sees it');
  const beforeLeft = (await positions(A))[b];
  await B.bringToFront();
  await B.keyboard.down('KeyA');
  await waitFor(A, 'A sees B move left', ([i, x0]) => window.arena.positions()[i].x <= x0 - 40, [b, beforeLeft.x])
    .finally(() => B.keyboard.up('KeyA'));

  for (const [who, page] of [['A', A], ['B', B], ['C', C]]) {
    const st = await stats(page);
    check(st.refused === 0, `${who} applied every patch (none refused as out of step): ${JSON.stringify(st)}`);
  }
  check(problems.length === 0, `no page errors:\n  ${problems.join('\n  ')}`);
  await browser.close();
  browser = null;
  const code = await stopServer();
  check(code === 0, `duplex-arena exits 0 on SIGTERM (got ${code})`);
  log('all steps passed');
}

const timer = setTimeout(() => { console.error('FAIL: global timeout'); cleanup().then(() => process.exit(1)); }, GLOBAL_TIMEOUT_MS);
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  await stopServer().catch(() => {});
}
main().then(async () => { clearTimeout(timer); await cleanup(); process.exit(0); },
  async (e) => {
    clearTimeout(timer);
    console.error(`FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
    await cleanup();
    process.exit(1);
  });
