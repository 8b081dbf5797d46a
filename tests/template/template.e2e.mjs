#!/usr/bin/env node
// native.template (+ .firefox, .webkit): examples/template built the way the
// README tells a newcomer, outside duplex's tree, from both installed
// packages, and its page driven in each browser engine.
//   1. cmake --install the native and the Emscripten builds into scratch
//      prefixes; copy examples/template to a scratch directory;
//   2. the README's first command there (configure + build: poll-server,
//      and through Emscripten the generated client and the page's C++);
//   3. tsc checks the page against the generated declarations, and must
//      refuse a page that sends a wrong field;
//   4. for each engine (--engines, default chromium; through
//      tests/e2e/browsers.mjs: Chromium by playwright-core, Firefox by
//      puppeteer-core over WebDriver BiDi, WebKit by WebKitWebDriver under
//      xvfb-run), a fresh poll-server (the README's second command, on a
//      free port) and two pages: typed votes from JS and from the page's
//      C++ reach both pages, rule violations are refused in the page before
//      anything is sent, the server refuses a second vote with a typed
//      refusal, a client of another version is closed with 4406, no page
//      errors, and poll-server exits 0 on SIGTERM.
// --prebuilt skips 1-3 and uses the build already in --work (CTest:
// native.template builds it, FIXTURES_SETUP; native.template.firefox and
// .webkit reuse it, FIXTURES_REQUIRED), so the template is built once.
// Where an engine differs, the step says so (look for "ENGINE:").
//
//   node tests/template/template.e2e.mjs --native-build build/native --wasm-build build/wasm \
//        --source examples/template --work <scratch dir> [--engines chromium,firefox,webkit]
//        [--cxx c++] [--cxx-flags ...] [--link-flags ...] [--headed]
//   node tests/template/template.e2e.mjs --prebuilt --work <the same scratch dir> --engines webkit
//
// Exit status 0 = every engine passed (each engine runs even when an earlier
// one failed). A missing browser is a failure, never a skip. The servers, the
// browsers and (webkit) the X server are always stopped.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { BrowserMissing, ENGINES, WaitTimeout, launch, reexecUnderXvfb, requireEngine } from '../e2e/browsers.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = path.join(repo, 'node_modules/.bin/tsc');
const STEP_TIMEOUT_MS = 10_000;

// ---- arguments ----------------------------------------------------------------

const opts = { cxx: 'c++', cxxFlags: '', linkFlags: '', engines: 'chromium', prebuilt: false, headed: false };
const valued = {
  '--native-build': 'native', '--wasm-build': 'wasm', '--source': 'source', '--work': 'work',
  '--cxx': 'cxx', '--cxx-flags': 'cxxFlags', '--link-flags': 'linkFlags', '--engines': 'engines',
};
const flags = { '--prebuilt': 'prebuilt', '--headed': 'headed' };
for (let i = 2; i < process.argv.length; ++i) {
  const a = process.argv[i];
  if (flags[a]) opts[flags[a]] = true;
  else if (valued[a]) opts[valued[a]] = process.argv[++i] ?? '';
  else throw new Error(`unknown argument: ${a}`);
}
if (!opts.work) throw new Error('--work is required');
if (!opts.prebuilt)
  for (const k of ['native', 'wasm', 'source'])
    if (!opts[k]) throw new Error('--native-build, --wasm-build and --source are required (or --prebuilt)');
const engines = opts.engines.split(',').map((e) => e.trim()).filter(Boolean);
for (const e of engines) if (!ENGINES.includes(e)) throw new Error(`--engines: ${e} is not one of ${ENGINES.join(', ')}`);
if (!engines.length) throw new Error('--engines names no engine');

// Building takes ~30 s; each engine ~10-20 s. CTest: 300 s with the build, 120 s without.
const TIMEOUT_MS = Number(process.env.DUPLEX_E2E_TIMEOUT_MS) || (opts.prebuilt ? 100_000 : 280_000);

// ---- logging, processes ---------------------------------------------------------

const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;
let tag = 'template';
const log = (m) => console.log(`[${tag} ${stamp()}] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
class Failure extends Error {}
const check = (cond, msg) => { if (!cond) throw new Failure(msg); };

let server = null;     // the running poll-server
let browser = null;    // the running browser
async function stopBrowser() {
  const b = browser;
  browser = null;
  if (b) await Promise.race([b.close().catch((e) => log(`closing the browser: ${e.message}`)), sleep(10_000)]);
}
function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  server = null;
}
process.on('exit', killServer);

function run(what, cmd, args, options = {}) {
  const start = Date.now();
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
    log(`${what}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return out;
  } catch (e) {
    throw new Failure(`${what} failed (${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
}

const work = path.resolve(opts.work);
const src = path.join(work, 'poll');
const web = path.join(src, 'build/web');
const WEB_FILES = ['index.html', 'app.js', 'poll_client.mjs', 'poll_client.wasm', 'poll_client.d.ts',
  'poll_client.d.mts', 'poll_app.mjs', 'poll_app.wasm', 'poll_app.d.mts'];

// ---- 1-3. install both packages; the template's build, as the README says; tsc ----

function build() {
  fs.rmSync(work, { recursive: true, force: true });
  const nativePrefix = path.join(work, 'duplex');
  const wasmPrefix = path.join(work, 'duplex-wasm');
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
  checkBuilt();

  const tscArgs = ['--noEmit', '--checkJs', '--allowJs', '--strict', '--module', 'esnext',
    '--moduleResolution', 'bundler', '--target', 'es2022', '--lib', 'es2022,dom'];
  run('tsc app.js', tsc, [...tscArgs, 'app.js'], { cwd: web });
  const bad = fs.readFileSync(path.join(web, 'app.js'), 'utf8')
    .replace("client.send({ type: 'vote', voter: b.voter,", "client.send({ type: 'vote', voter: 7,");
  fs.writeFileSync(path.join(web, 'bad.js'), bad);
  try {
    let accepted = false;
    try {
      execFileSync(tsc, [...tscArgs, 'bad.js'], { cwd: web, encoding: 'utf8', stdio: 'pipe' });
      accepted = true;
    } catch (e) {
      check(/bad\.js.*TS2322.*number.*string/s.test(e.stdout), `tsc failed for another reason:\n${e.stdout}`);
      log('tsc refuses voter: 7 (number is not assignable to string)');
    }
    check(!accepted, 'tsc accepted a page that sends voter: 7');
  } finally {
    fs.rmSync(path.join(web, 'bad.js'), { force: true });
  }
}

function checkBuilt() {
  const missing = ['poll-server', 'poll.fingerprint'].map((f) => path.join('build', f))
    .concat(WEB_FILES.map((f) => path.join('build/web', f)))
    .filter((f) => !fs.existsSync(path.join(src, f)));
  check(!missing.length, `${src} lacks ${missing.join(', ')}` +
    (opts.prebuilt ? ' (--prebuilt: the template is built by a run without it, CTest native.template)' : ''));
  log(`poll.fingerprint: ${fs.readFileSync(path.join(src, 'build/poll.fingerprint'), 'utf8').trim()}`);
}

// ---- 4. poll-server and two pages in one engine ------------------------------------

let serverOut = '';  // what poll-server printed
function startServer() {
  const child = spawn(path.join(src, 'build/poll-server'), ['--host', '127.0.0.1', '--port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  serverOut = '';
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      serverOut += d;
      const m = out.match(/poll-server on http:\/\/[^:]+:(\d+)\//);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) => reject(new Failure(`poll-server exited (${code ?? signal}): ${out}`)));
  });
}

async function stopServer() {
  const child = server;
  if (!child) return;
  child.kill('SIGTERM');
  const code = await Promise.race([
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode);
      else child.on('exit', (c, s) => resolve(c ?? s));
    }),
    sleep(10_000).then(() => 'no exit within 10 s'),
  ]);
  killServer();
  check(code === 0, `poll-server exited with ${code} on SIGTERM`);
}

// What a page shows, for failure messages.
const describe = (page) => async () => JSON.stringify(await page.evaluate(() => {
  const t = (id) => document.getElementById(id)?.textContent;
  return {
    state: t('state'), cpp: t('cpp'), problem: t('problem'),
    counts: [...document.querySelectorAll('#counts li')].map((li) => li.textContent),
  };
}));

async function runEngine(engine) {
  tag = engine;
  const start = Date.now();
  const phases = [];
  let mark = Date.now();
  const phase = (what) => { phases.push(`${what} ${Date.now() - mark} ms`); mark = Date.now(); };
  requireEngine(engine);

  const port = await startServer();
  const base = `http://127.0.0.1:${port}`;
  log(`poll-server on ${base}`);
  browser = await launch(engine, { headed: opts.headed, timeout: STEP_TIMEOUT_MS });
  log(browser.version);
  phase('launch');

  const waitText = (page, id, want, what, timeout = STEP_TIMEOUT_MS) => page.waitFor(
    `${what}: #${id} to be ${JSON.stringify(want)}`,
    ({ id, want }) => document.getElementById(id)?.textContent === want, { id, want },
    { timeout, describe: describe(page) });
  const text = (page, id) => page.evaluate((i) => document.getElementById(i)?.textContent ?? '', id);
  const counts = (page) => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('#counts li')].map((li) => [li.dataset.choice, li.textContent])));
  const ballot = async (page, voter, choice, weight) => {
    await page.fill('#voter', voter);
    await page.select('#choice', choice);
    await page.select('#weight', String(weight));
  };
  const pages = [];
  const open = async (name) => {
    const page = await browser.newPage(name);
    pages.push(page);
    await page.goto(`${base}/`);
    // The first load compiles both WebAssembly modules.
    await waitText(page, 'state', 'open', 'the generated client connects', 30_000);
    await waitText(page, 'cpp', '0 votes', "the page's C++ connects");
    return page;
  };
  const a = await open('A');
  const b = await open('B');
  check((await text(a, 'question')) === 'Lunch at the new place?', `the question is '${await text(a, 'question')}'`);
  phase('two pages open');

  // A typed vote from the generated JS client reaches both pages and both C++ halves.
  // ENGINE: WebKitWebDriver's Send Keys drops the emoji (outside the BMP);
  // browsers.mjs types it through Perform Actions and checks the field.
  // ENGINE: the <select>s' input/change events are trusted in WebKit only
  // (the page reads the values at submit and does not care).
  // ENGINE: Chromium and Firefox slow input into a tab not in front (2 s a
  // click in Chromium, here); browsers.mjs brings the tab to the front first.
  await ballot(a, 'zoë 😀', 'maybe', 2);
  await a.click('#send');
  await waitText(b, 'cpp', '2 votes, maybe leads', "JS vote seen by the other page's C++");
  await waitText(a, 'cpp', '2 votes, maybe leads', "JS vote seen by its own page's C++");
  const afterFirst = await counts(b);
  check(afterFirst.maybe === 'maybe: 2' && afterFirst.yes === 'yes: 0', `counts ${JSON.stringify(afterFirst)}`);
  log('a JS vote reached both pages and both C++ halves');

  // Rule violations are refused in the page, before sending: nothing changes anywhere.
  const weight9 = 'weight: 9 is out of range (expected an integer in [1, 5])';
  await ballot(a, 'ada', 'yes', 9);
  await a.click('#send');
  await waitText(a, 'problem', weight9, 'weight 9 from JS');
  await ballot(a, '', 'yes', 1);
  await a.click('#send');
  const emptyName = await a.waitFor('a refusal of the empty voter',
    () => { const t = document.getElementById('problem')?.textContent ?? ''; return t.startsWith('voter: ') && t; },
    undefined, { describe: describe(a) });
  await ballot(a, 'ada', 'yes', 9);
  await a.click('#send-cpp');
  await waitText(a, 'problem', weight9, 'weight 9 from C++');
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
  await waitText(b, 'cpp', '5 votes, yes leads', 'C++ vote seen by its own page');
  const afterCpp = await counts(a);
  check(afterCpp.yes === 'yes: 3' && afterCpp.maybe === 'maybe: 2', `counts after the C++ vote ${JSON.stringify(afterCpp)}`);
  check((await text(b, 'problem')) === '', `C++ vote: problem '${await text(b, 'problem')}'`);
  log('a C++ vote reached both pages; nothing refused earlier was counted');
  phase('votes and refusals');

  // The same page in the binary encoding (?binary): one server, both kinds of pages.
  const c = await browser.newPage('C');
  pages.push(c);
  await c.goto(`${base}/?binary`);
  await waitText(c, 'state', 'open', 'the binary page connects', 30_000);
  check((await c.evaluate(() => document.body.dataset.encoding)) === 'binary', 'the page chose binary');
  await waitText(c, 'cpp', '5 votes, yes leads', "the binary page's C++");
  const first = await counts(c);
  check(first.yes === 'yes: 3' && first.maybe === 'maybe: 2', `the binary page's first tally ${JSON.stringify(first)}`);
  await ballot(c, 'cy', 'no', 9);
  await c.click('#send');
  await waitText(c, 'problem', weight9, 'weight 9 from the binary page');
  await ballot(c, 'cy', 'no', 4);
  await c.click('#send');
  await waitText(a, 'cpp', '9 votes, no leads', 'a binary vote seen by a JSON page');
  await c.waitFor('the binary page gets the broadcast', () => document.querySelector('#counts li[data-choice="no"]')
    ?.textContent === 'no: 4', undefined, { describe: describe(c) });
  check(/page connected \(binary\)/.test(serverOut) && /page connected \(JSON\)/.test(serverOut),
    `poll-server saw both encodings:\n${serverOut}`);
  log('a binary page voted and got the tally; the JSON pages saw it');
  phase('binary page');

  // A page of another version: accepted and closed with 4406 and a reason.
  // The three engines report it alike: open first, protocol duplex.poll.v0,
  // then code 4406, the server's reason, wasClean.
  const mismatch = await a.evaluate(() => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws/poll`, ['duplex.poll.v0']);
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onclose = (e) => resolve({ opened, code: e.code, reason: e.reason, wasClean: e.wasClean, protocol: ws.protocol });
  }));
  log(`version 0 page: ${JSON.stringify(mismatch)}`);
  check(mismatch.code === 4406 && /reload/i.test(mismatch.reason), `version mismatch: ${JSON.stringify(mismatch)}`);
  check(mismatch.opened && mismatch.protocol === 'duplex.poll.v0' && mismatch.wasClean,
    `version mismatch: not accepted, then closed cleanly: ${JSON.stringify(mismatch)}`);
  phase('4406');

  const problems = [];
  for (const p of pages) {
    await p.collectProblems();
    problems.push(...p.problems);
  }
  check(!problems.length, `page problems:\n    ${problems.join('\n    ')}`);

  await stopBrowser();
  await stopServer();
  phase('close');
  const seconds = (Date.now() - start) / 1000;
  log(`PASS in ${seconds.toFixed(1)} s (${phases.join(', ')})`);
  return seconds;
}

// ---- entry ---------------------------------------------------------------------------

async function main() {
  const timer = setTimeout(async () => {
    console.error(`[${tag} ${stamp()}] FAIL: timed out after ${TIMEOUT_MS} ms`);
    await stopBrowser();
    killServer();
    process.exit(1);
  }, TIMEOUT_MS);
  timer.unref();
  const stopAll = async (signal) => {
    log(`${signal}: stopping`);
    await stopBrowser();
    killServer();
    process.exit(1);
  };
  process.once('SIGINT', () => stopAll('SIGINT'));
  process.once('SIGTERM', () => stopAll('SIGTERM'));

  try {
    if (opts.prebuilt) checkBuilt();
    else build();
  } catch (e) {
    console.error(`[${tag} ${stamp()}] FAIL: ${e instanceof Failure ? e.message : e.stack}`);
    return 1;
  }

  const results = [];
  for (const engine of engines) {
    try {
      results.push([engine, `${(await runEngine(engine)).toFixed(1)} s`]);
    } catch (e) {
      console.error(`[${tag} ${stamp()}] FAIL: ${e instanceof Failure || e instanceof WaitTimeout || e instanceof BrowserMissing ? e.message : e.stack}`);
      results.push([engine, 'FAILED']);
      await stopBrowser();
      killServer();
    }
  }
  tag = 'template';
  const failed = results.filter(([, r]) => r === 'FAILED').length;
  log(`${failed ? 'FAIL' : 'PASS'}: ${results.map(([e, r]) => `${e} ${r}`).join(', ')} (${stamp().slice(1)} in all)`);
  return failed ? 1 : 0;
}

// WebKitWebDriver needs a display: with webkit among the engines the whole
// script runs again under xvfb-run (the build too; it does not mind).
if (!reexecUnderXvfb(engines.includes('webkit') ? 'webkit' : engines[0], { headed: opts.headed })) {
  main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
}
