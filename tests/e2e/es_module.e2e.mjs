#!/usr/bin/env node
// The browser package as a page or bundler uses it: a page in headless
// Chromium does `import createDuplexClient from './duplex_client.mjs'`, and
// the client it makes joins a real duplex-chat and gets its own line back.
// Also: the module sets no global, its Content-Types are right, and every
// method of `interface Client` in duplex_client.d.ts (generated from the
// chat's description) exists on the object.
//
//   node tests/e2e/es_module.e2e.mjs --server build/native/server/duplex-chat \
//        --package build/wasm-package
//
// Exit status 0 = passed. The server and the browser are always stopped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';

import { startChat } from './start_chat.mjs';

const TIMEOUT_MS = 90_000;  // CTest kills us at 120 s
const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const opts = { server: null, pkg: null };
for (let i = 2; i < process.argv.length; ++i) {
  const a = process.argv[i];
  const v = process.argv[++i];
  if (a === '--server') opts.server = path.resolve(v);
  else if (a === '--package') opts.pkg = path.resolve(v);
  else throw new Error(`unknown argument: ${a}`);
}
if (!opts.server || !opts.pkg) throw new Error('--server and --package are required');

const log = (m) => console.log(`[es-module] ${m}`);
let server = null;
let browser = null;
let profile = null;
let root = null;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGKILL');
  for (const d of [profile, root]) if (d) fs.rmSync(d, { recursive: true, force: true });
}
const fail = async (why) => {
  console.error(`[es-module] FAIL: ${why}`);
  await cleanup();
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

// The package as shipped, plus a page that imports it by relative path.
const files = ['duplex_client.mjs', 'duplex_client.wasm', 'duplex_client.d.ts', 'package.json'];
for (const f of files)
  if (!fs.existsSync(path.join(opts.pkg, f))) await fail(`${f} missing in ${opts.pkg} (build the wasm preset)`);
root = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-esm-'));
for (const f of files) fs.copyFileSync(path.join(opts.pkg, f), path.join(root, f));

// Methods of `interface Client` in the .d.ts, so the declarations cannot
// drift from the bindings unnoticed; and the module's default export.
const dts = fs.readFileSync(path.join(root, 'duplex_client.d.ts'), 'utf8');
const classBody = dts.match(/interface Client \{([\s\S]*?)\n  \}/);
if (!classBody) await fail('no `interface Client` in duplex_client.d.ts');
if (!/^export default createDuplexClient;$/m.test(dts)) await fail('duplex_client.d.ts has no default export');
const declared = [...new Set([...classBody[1].matchAll(/^\s+(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]))]
  .filter((n) => n !== 'constructor');
log(`.d.ts declares: ${declared.join(', ')}`);

fs.writeFileSync(path.join(root, 'index.html'), `<!doctype html>
<meta charset="utf-8"><title>duplex ES module</title><link rel="icon" href="data:,">
<script type="module">
import createDuplexClient from './duplex_client.mjs';
const declared = ${JSON.stringify(declared)};
const result = { globalLeaked: 'createDuplexClient' in window, missing: [], got: null, states: [] };
try {
  const Module = await createDuplexClient();
  result.subprotocol = Module.protocol.subprotocol;
  const client = new Module.DuplexClient();
  result.missing = declared.filter((m) => typeof client[m] !== 'function');
  client.on('state', (s) => {
    result.states.push(s);
    if (s === 'open') { client.send({ type: 'join', name: 'esm', room: 'lobby' }); client.send({ type: 'chat', text: 'hello from a module' }); }
  });
  client.on('message', (m) => {
    if (m.type === 'message' && m.from === 'esm') { result.got = m.text; client.close(); }
  });
  client.on('close', (c) => { result.close = c.code; window.__result = result; });
  if (!client.connect('ws://' + location.host + '/ws/chat')) throw new Error('connect() refused the URL');
} catch (e) {
  result.error = String(e && e.stack || e);
  window.__result = result;
}
</script>`);

try {
  let port;
  ({ child: server, port } = await startChat(opts.server, root));
  const base = `http://127.0.0.1:${port}`;
  log(`duplex-chat on ${base}`);

  for (const [file, type] of [['duplex_client.mjs', /^text\/javascript/], ['duplex_client.wasm', /^application\/wasm/]]) {
    const res = await fetch(`${base}/${file}`);
    const ct = res.headers.get('content-type') ?? '';
    if (res.status !== 200 || !type.test(ct)) await fail(`GET /${file}: ${res.status} ${ct}`);
  }

  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-esm-profile-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000,
  });
  const page = browser.pages()[0] ?? await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.__result, null, { timeout: 30_000 });
  const r = await page.evaluate(() => window.__result);
  log(`result: ${JSON.stringify(r)}`);
  if (r.error) await fail(`the page threw: ${r.error}`);
  if (r.globalLeaked) await fail('createDuplexClient is a global: the module build leaked it');
  if (r.missing.length) await fail(`declared in the .d.ts but missing: ${r.missing.join(', ')}`);
  if (declared.length < 5) await fail(`only ${declared.length} methods parsed from the .d.ts`);
  if (r.got !== 'hello from a module') await fail(`no echo of our line (got ${JSON.stringify(r.got)})`);
  if (r.close !== 1000) await fail(`closed with ${r.close}, expected 1000`);
  if (r.subprotocol !== 'duplex.chat.v5') await fail(`protocol.subprotocol ${r.subprotocol}`);
  if (problems.length) await fail(problems.join('\n'));
  log('PASS');
  await cleanup();
  process.exit(0);
} catch (e) {
  await fail(e.stack || String(e));
}
