#!/usr/bin/env node
// native.template: examples/template built the way the README tells a
// newcomer, outside duplex's tree, from both installed packages, and its
// page driven in headless Chromium.
//   1. cmake --install the native and the Emscripten builds into scratch
//      prefixes; copy examples/template to a scratch directory;
//   2. the README's first command there (configure + build: poll-server,
//      and through Emscripten the generated client and the page's C++);
//   3. tsc checks the page against the generated declarations, and must
//      refuse a page that sends a wrong field;
//   4. poll-server runs (the README's second command, on a free port) and
//      two Chromium pages use it: typed votes from JS and from the page's
//      C++ reach both pages, rule violations are refused in the page before
//      anything is sent, the server refuses a second vote with a typed
//      refusal, and a client of another version is closed with 4406.
//
//   node tests/template/template.e2e.mjs --native-build build/native --wasm-build build/wasm \
//        --source examples/template --work <scratch dir> [--cxx c++] [--cxx-flags ...] [--link-flags ...]
//
// Exit status 0 = passed. The server and the browser are always stopped.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const TIMEOUT_MS = 280_000;  // CTest kills us at 300 s
const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = path.join(repo, 'node_modules/.bin/tsc');

const opts = { cxx: 'c++', cxxFlags: '', linkFlags: '' };
const names = {
  '--native-build': 'native', '--wasm-build': 'wasm', '--source': 'source', '--work': 'work',
  '--cxx': 'cxx', '--cxx-flags': 'cxxFlags', '--link-flags': 'linkFlags',
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = names[process.argv[i]];
  if (!key) throw new Error(`unknown argument: ${process.argv[i]}`);
  opts[key] = process.argv[i + 1] ?? '';
}
for (const k of ['native', 'wasm', 'source', 'work'])
  if (!opts[k]) throw new Error('--native-build, --wasm-build, --source and --work are required');

const log = (m) => console.log(`[template] ${m}`);
let server = null;
let browser = null;
let profile = null;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGKILL');
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
}
const fail = async (why) => {
  console.error(`[template] FAIL: ${why}`);
  await cleanup();
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

function run(what, cmd, args, options = {}) {
  const t0 = Date.now();
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
    log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return out;
  } catch (e) {
    throw new Error(`${what} failed (${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
}

try {
  // ---- 1-2. install both packages; the template's build, as the README says ----
  const work = path.resolve(opts.work);
  fs.rmSync(work, { recursive: true, force: true });
  const nativePrefix = path.join(work, 'duplex');
  const wasmPrefix = path.join(work, 'duplex-wasm');
  const src = path.join(work, 'poll');
  run('install native', 'cmake', ['--install', opts.native, '--prefix', nativePrefix]);
  run('install wasm', 'cmake', ['--install', opts.wasm, '--prefix', wasmPrefix]);
  fs.cpSync(opts.source, src, { recursive: true });
  // No NODE_PATH from our environment: the package's generators must cope on their own.
  const env = { ...process.env };
  delete env.NODE_PATH;
  run('configure (README command 1)', 'cmake', ['-S', '.', '-B', 'build', '-G', 'Ninja',
    `-DCMAKE_PREFIX_PATH=${nativePrefix}`, `-DDUPLEX_WASM_PREFIX=${wasmPrefix}`,
    `-DCMAKE_CXX_COMPILER=${opts.cxx}`, `-DCMAKE_CXX_FLAGS=${opts.cxxFlags}`,
    `-DCMAKE_EXE_LINKER_FLAGS=${opts.linkFlags}`,
    '-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF'], { cwd: src, env });
  run('build (README command 1)', 'cmake', ['--build', 'build'], { cwd: src, env });
  const web = path.join(src, 'build/web');
  for (const f of ['index.html', 'app.js', 'poll_client.mjs', 'poll_client.wasm', 'poll_client.d.ts',
    'poll_client.d.mts', 'poll_app.mjs', 'poll_app.wasm', 'poll_app.d.mts'])
    if (!fs.existsSync(path.join(web, f))) await fail(`build/web has no ${f}`);
  const fingerprint = fs.readFileSync(path.join(src, 'build/poll.fingerprint'), 'utf8').trim();
  log(`poll.fingerprint: ${fingerprint}`);

  // ---- 3. the page against the generated declarations ----
  const tscArgs = ['--noEmit', '--checkJs', '--allowJs', '--strict', '--module', 'esnext',
    '--moduleResolution', 'bundler', '--target', 'es2022', '--lib', 'es2022,dom'];
  run('tsc app.js', tsc, [...tscArgs, 'app.js'], { cwd: web });
  const bad = fs.readFileSync(path.join(web, 'app.js'), 'utf8')
    .replace("client.send({ type: 'vote', voter: b.voter,", "client.send({ type: 'vote', voter: 7,");
  fs.writeFileSync(path.join(web, 'bad.js'), bad);
  try {
    execFileSync(tsc, [...tscArgs, 'bad.js'], { cwd: web, encoding: 'utf8', stdio: 'pipe' });
    await fail('tsc accepted a page that sends voter: 7');
  } catch (e) {
    if (!/bad\.js.*TS2322.*number.*string/s.test(e.stdout)) await fail(`tsc failed for another reason:\n${e.stdout}`);
    log('tsc refuses voter: 7 (number is not assignable to string)');
  }
  fs.rmSync(path.join(web, 'bad.js'));

  // ---- 4. the server and two pages ----
  server = spawn(path.join(src, 'build/poll-server'), ['--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const m = out.match(/poll-server on http:\/\/[^:]+:(\d+)\//);
      if (m) resolve(Number(m[1]));
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`poll-server exited (${code}): ${out}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  log(`poll-server on ${base}`);

  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-template-profile-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000,
  });
  const problems = [];
  const open = async () => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'open', null,
      { timeout: 30_000 });
    await page.waitForFunction(() => document.getElementById('cpp')?.textContent === '0 votes', null,
      { timeout: 10_000 });
    return page;
  };
  const a = await open();
  const b = await open();
  const counts = (page) => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#counts li')].map((li) => [li.dataset.choice, li.textContent])));
  const text = (page, id) => page.evaluate((i) => document.getElementById(i)?.textContent ?? '', id);
  const waitText = (page, id, want, what) => page.waitForFunction(
    ([i, w]) => document.getElementById(i)?.textContent === w, [id, want], { timeout: 10_000 })
    .catch(async () => { throw new Error(`${what}: #${id} is '${await text(page, id)}', expected '${want}'`); });
  const ballot = async (page, voter, choice, weight) => {
    await page.fill('#voter', voter);
    await page.selectOption('#choice', choice);
    await page.selectOption('#weight', String(weight));
  };
  if ((await text(a, 'question')) !== 'Lunch at the new place?') await fail('no question on the page');

  // A typed vote from the generated JS client reaches both pages and both C++ halves.
  await ballot(a, 'zoë 😀', 'maybe', 2);
  await a.click('#send');
  await waitText(b, 'cpp', '2 votes, maybe leads', 'JS vote seen by the other page\'s C++');
  await waitText(a, 'cpp', '2 votes, maybe leads', 'JS vote seen by its own page\'s C++');
  const afterFirst = await counts(b);
  if (afterFirst.maybe !== 'maybe: 2' || afterFirst.yes !== 'yes: 0') await fail(`counts ${JSON.stringify(afterFirst)}`);
  log('a JS vote reached both pages and both C++ halves');

  // Rule violations are refused in the page, before sending: nothing changes anywhere.
  await ballot(a, 'ada', 'yes', 9);
  await a.click('#send');
  await waitText(a, 'problem', 'weight: 9 is out of range (expected an integer in [1, 5])', 'weight 9 from JS');
  await ballot(a, '', 'yes', 1);
  await a.click('#send');
  const emptyName = await text(a, 'problem');
  if (!emptyName.startsWith('voter: ')) await fail(`empty voter from JS: '${emptyName}'`);
  await ballot(a, 'ada', 'yes', 9);
  await a.click('#send-cpp');
  await waitText(a, 'problem', 'weight: 9 is out of range (expected an integer in [1, 5])', 'weight 9 from C++');
  log(`refused before sending: weight 9 (JS and C++), empty voter ('${emptyName}')`);

  // A server-side typed refusal: the same voter again.
  await ballot(a, 'zoë 😀', 'yes', 1);
  await a.click('#send');
  await waitText(a, 'problem', 'already_voted: zoë 😀 has voted already', 'second vote');
  await waitText(a, 'cpp', '2 votes, maybe leads', 'C++ after the refused votes');
  log('the server refused a second vote with a typed refusal');

  // A typed vote built in the page's C++.
  await ballot(b, 'bob', 'yes', 3);
  await b.click('#send-cpp');
  await waitText(a, 'cpp', '5 votes, yes leads', 'C++ vote seen by the other page');
  const afterCpp = await counts(a);
  if (afterCpp.yes !== 'yes: 3' || afterCpp.maybe !== 'maybe: 2') await fail(`counts after C++ vote ${JSON.stringify(afterCpp)}`);
  if ((await text(b, 'problem')) !== '') await fail(`C++ vote: problem '${await text(b, 'problem')}'`);
  log('a C++ vote reached both pages; nothing refused earlier was counted');

  // A page of another version: accepted and closed with 4406 and a reason.
  const mismatch = await a.evaluate(() => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws/poll`, ['duplex.poll.v0']);
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, protocol: ws.protocol });
  }));
  log(`version 0 page: ${JSON.stringify(mismatch)}`);
  if (mismatch.code !== 4406 || !/reload/i.test(mismatch.reason)) await fail(`version mismatch: ${JSON.stringify(mismatch)}`);
  if (problems.length) await fail(problems.join('\n'));

  server.kill('SIGTERM');
  const code = await new Promise((resolve) => server.on('exit', (c, s) => resolve(c ?? s)));
  if (code !== 0) await fail(`poll-server exited with ${code} on SIGTERM`);
  log('PASS');
  await cleanup();
  process.exit(0);
} catch (e) {
  await fail(e.stack || String(e));
}
