// Runs bench/decode_bench.cpp's WASM build in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core; nothing is downloaded) and
// prints its rows (TSV) on stdout. The page and the build's files are served
// by a static server on 127.0.0.1 (an ephemeral port), cross-origin isolated
// (COOP/COEP) so performance.now() has its finer resolution.
//   node bench/wasm/decode_page.mjs <dir with decode_bench.js/.wasm> [seconds per row]
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = path.resolve(process.argv[2] || 'build/bench-wasm');
const seconds = process.argv[3] || '0.3';
const files = {
  '/decode_page.html': [path.join(here, 'decode_page.html'), 'text/html; charset=utf-8'],
  '/decode_bench.js': [path.join(buildDir, 'decode_bench.js'), 'text/javascript'],
  '/decode_bench.wasm': [path.join(buildDir, 'decode_bench.wasm'), 'application/wasm'],
};
const server = http.createServer((req, res) => {
  const f = files[new URL(req.url, 'http://x').pathname];
  if (!f) return res.writeHead(404).end();
  res.writeHead(200, {
    'Content-Type': f[1],
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  fs.createReadStream(f[0]).pipe(res);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/decode_page.html?seconds=${seconds}`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-decode-chromium-'));
let context;
let code = 1;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__exit !== null, null, { timeout: 300_000, polling: 500 });
  const { lines, exit, isolated } = await page.evaluate(() => ({
    lines: window.__lines, exit: window.__exit, isolated: window.crossOriginIsolated,
  }));
  for (const l of lines) console.log(l);
  if (!isolated) console.error('decode_page: the page is not cross-origin isolated (coarser timer)');
  if (exit !== 0) console.error('decode_page: exit', exit);
  else code = 0;
} finally {
  if (context) await context.close();
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
