// One small page API over three browser engines, for the e2e scripts:
//
//   chromium  Debian's chromium, driven by playwright-core (CDP);
//   firefox   Debian's firefox-esr, driven by puppeteer-core over WebDriver BiDi
//             (24.x: puppeteer-core 25 needs Node >= 22.12);
//   webkit    Debian's WebKitGTK MiniBrowser through WebKitWebDriver (classic
//             W3C WebDriver, one session per driver), spoken to with fetch:
//             a dozen HTTP endpoints, no client library (selenium-webdriver
//             4.49 needs Node >= 22, this machine has Node 20, and would add
//             a dependency tree with Selenium Manager binaries for what is
//             ~150 lines here). WebKitWebDriver needs an X display: the
//             calling script runs under xvfb-run (see reexecUnderXvfb below).
//
// Nothing here downloads a browser: each engine is the Debian package's binary
// (scripts/setup.sh installs them); a missing one is an error, never a skip.
//
//   const browser = await launch('firefox', { log });
//   const page = await browser.newPage('A');
//   await page.goto(url); await page.fill(sel, text); await page.click(sel);
//   await page.press(sel, 'Enter'); await page.select(sel, value); await page.text(sel); await page.value(sel);
//   await page.enabled(sel); await page.evaluate((arg) => ..., arg);
//   await page.waitFor('what', (arg) => ..., arg); page.problems; await page.close();
//   await browser.close();
//
// select(sel, value) picks the <option> whose value is `value` in a <select>
// (an option without a value attribute has its text as value), the page
// seeing 'input' and 'change' as from a user; an option that is not there
// is an error, never an empty selection. ENGINE: those two events are
// isTrusted in WebKit (WebDriver's Element Click on the option), not in
// Chromium and Firefox (playwright and puppeteer set the selection with a
// script and dispatch them); a page that checks isTrusted would tell.
//
// evaluate(fn, arg) sends fn's source text and arg as JSON, so fn must not
// close over Node variables; it may be async; it returns JSON-able values.
// waitFor polls from Node (each poll is one evaluate), not with timers in
// the page: a background tab's timers are throttled to 1 s or more in some
// engines, and a poll survives a reload.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

export const ENGINES = ['chromium', 'firefox', 'webkit'];

const CHROMIUM = process.env.DUPLEX_CHROMIUM || '/usr/bin/chromium';
const FIREFOX = process.env.DUPLEX_FIREFOX || '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = process.env.DUPLEX_WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
const MINIBROWSER_CANDIDATES = [
  process.env.DUPLEX_MINIBROWSER,
  '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
  '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser',
  '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.0/MiniBrowser',
].filter(Boolean);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class BrowserMissing extends Error {}

// The executable each engine needs; throws BrowserMissing (with the package
// that provides it) when it is not installed.
export function requireEngine(engine) {
  const need = (file, pkg) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      throw new BrowserMissing(`${engine}: ${file} not found: install the Debian package ${pkg} ` +
        '(scripts/setup.sh installs it)');
    }
    return file;
  };
  if (engine === 'chromium') return { exe: need(CHROMIUM, 'chromium') };
  if (engine === 'firefox') return { exe: need(FIREFOX, 'firefox-esr') };
  if (engine === 'webkit') {
    const driver = need(WEBKIT_DRIVER, 'webkit2gtk-driver');
    const mini = MINIBROWSER_CANDIDATES.find((f) => fs.existsSync(f));
    if (!mini) throw new BrowserMissing(`webkit: MiniBrowser not found in ${MINIBROWSER_CANDIDATES.join(', ')} (Debian package libwebkit2gtk-4.1-0)`);
    return { exe: driver, minibrowser: mini };
  }
  throw new Error(`unknown engine ${engine} (one of ${ENGINES.join(', ')})`);
}

// WebKitWebDriver needs a display. Without one, run this same script again
// under `xvfb-run -a` (a private X server, stopped when the script ends) and
// exit with its status; returns false when the script should go on itself.
export function reexecUnderXvfb(engine, { headed = false } = {}) {
  if (engine !== 'webkit' || process.env.DUPLEX_E2E_XVFB === '1') return false;
  if (headed && process.env.DISPLAY) return false;
  const probe = spawnSync('xvfb-run', ['--help'], { stdio: 'ignore' });
  if (probe.error) {
    console.error('FAIL: webkit needs an X display and xvfb-run is not installed: install the Debian packages ' +
      'xvfb and xauth (scripts/setup.sh installs them)');
    process.exit(1);
  }
  // -a: the first free display number; -s: a screen big enough for the windows.
  const child = spawn('xvfb-run', ['-a', '-s', '-screen 0 1280x1024x24 -nolisten tcp',
    process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, DUPLEX_E2E_XVFB: '1' },
  });
  const forward = (sig) => { try { child.kill(sig); } catch { /* gone */ } };
  process.on('SIGTERM', () => forward('SIGTERM'));
  process.on('SIGINT', () => forward('SIGINT'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  return true;
}

// ---- common page behaviour -----------------------------------------------------

// The expression that calls fn(arg) in the page: the same text in every engine.
const callExpr = (fn, arg) => `(${fn.toString()})(${arg === undefined ? '' : JSON.stringify(arg)})`;

class PageBase {
  constructor(engine, name) {
    this.engine = engine;
    this.name = `${engine} page ${name}`;
    this.problems = [];   // uncaught exceptions, console errors, failed loads
  }

  // Engines without an event stream fetch what the page recorded (webkit).
  async collectProblems() {}

  // Takes the problems matching `re` out of the list (expected ones); returns them.
  async dropProblems(re) {
    await this.collectProblems();
    const dropped = this.problems.filter((p) => re.test(p));
    this.problems = this.problems.filter((p) => !re.test(p));
    return dropped;
  }

  // Polls fn(arg) in the page until it returns something truthy; returns it.
  // On timeout throws with `what` and, if given, describe()'s report.
  async waitFor(what, fn, arg, { timeout = 10_000, interval = 50, describe } = {}) {
    const deadline = Date.now() + timeout;
    let lastError = null;
    for (;;) {
      try {
        const v = await this.evaluate(fn, arg);
        if (v) return v;
        lastError = null;
      } catch (e) {
        lastError = e;   // e.g. the page is navigating: try again
      }
      if (Date.now() >= deadline) {
        let detail = '';
        if (describe) detail = `\n    page shows: ${await describe().catch((e) => `(nothing: ${e.message})`)}`;
        if (lastError) detail += `\n    last error: ${lastError.message}`;
        throw new WaitTimeout(`${this.name}: timed out after ${timeout} ms waiting for ${what}${detail}`);
      }
      await sleep(interval);
    }
  }
}

export class WaitTimeout extends Error {}

// ---- chromium: playwright-core ---------------------------------------------------

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

class PlaywrightPage extends PageBase {
  constructor(page, name, front) {
    super('chromium', name);
    this.page = page;
    this.front = front;   // { page }: the tab in front, shared by the context's pages
    page.on('pageerror', (err) => this.problems.push(`${this.name}: uncaught exception: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`${this.name}: console error: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) this.problems.push(`${this.name}: HTTP ${res.status()} for ${res.url()}`);
    });
  }

  async goto(url) { await this.page.goto(url, { waitUntil: 'load' }); }
  async reload() { await this.page.reload({ waitUntil: 'load' }); }

  // ENGINE: headless Chromium, too, can give a tab that is not in front an
  // animation frame about once a second (the template's page, once its form
  // had been submitted: two frames took 2 s, document.visibilityState still
  // 'visible'; the front tab was not slowed). playwright's click waits for
  // the element to be "stable" over two frames: 2 s per click. So, as in
  // Firefox, the tab comes to the front before any input; pages that only
  // receive stay behind.
  async toFront() {
    if (this.front.page === this) return;
    await this.page.bringToFront();
    this.front.page = this;
  }

  async fill(sel, text) { await this.toFront(); await this.page.fill(sel, text); }
  async click(sel) { await this.toFront(); await this.page.click(sel); }
  async press(sel, key) { await this.toFront(); await this.page.press(sel, key); }
  async select(sel, value) { await this.toFront(); await this.page.selectOption(sel, { value }); }
  async text(sel) { return this.page.textContent(sel); }
  async value(sel) { return this.page.inputValue(sel); }
  async enabled(sel) { return this.page.isEnabled(sel); }
  async evaluate(fn, arg) { return this.page.evaluate(callExpr(fn, arg)); }
  async close() { await this.page.close(); }
}

async function launchChromium({ headed, timeout }) {
  const { exe } = requireEngine('chromium');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: exe,
    headless: !headed,
    args: headed ? CHROMIUM_ARGS.filter((a) => a !== '--headless') : CHROMIUM_ARGS,
    timeout: 30_000,
  });
  // One context for every page, like tabs of one window (cookies and storage shared).
  const context = await browser.newContext({ viewport: { width: 1000, height: 680 } });
  context.setDefaultTimeout(timeout);
  const front = { page: null };
  return {
    engine: 'chromium',
    version: `Chromium ${browser.version()} (playwright-core, CDP)`,
    async newPage(name) {
      const p = new PlaywrightPage(await context.newPage(), name, front);
      front.page = p;   // a new tab opens in front
      return p;
    },
    async close() { await browser.close(); },
  };
}

// ---- firefox: puppeteer-core over WebDriver BiDi -----------------------------------

class PuppeteerPage extends PageBase {
  constructor(page, name, front) {
    super('firefox', name);
    this.page = page;
    this.front = front;   // { page }: the tab in front, shared by the browser's pages
    page.on('pageerror', (err) => this.problems.push(`${this.name}: uncaught exception: ${err.message ?? err}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`${this.name}: console error: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) this.problems.push(`${this.name}: HTTP ${res.status()} for ${res.url()}`);
    });
  }

  async goto(url) { await this.page.goto(url, { waitUntil: 'load' }); }
  async reload() { await this.page.reload({ waitUntil: 'load' }); }

  // ENGINE: in Firefox a click in a hidden (background) tab is slow: 1, 2,
  // then 4 s for the same Send button here (pointer actions wait for
  // animation frames, which a hidden tab gets rarely; typing was not slowed).
  // The tab comes to the front before any input. Pages that only receive
  // stay hidden: WebSocket messages reach them without delay.
  async toFront() {
    if (this.front.page === this) return;
    await this.page.bringToFront();
    this.front.page = this;
  }

  // Clears the field, then types key by key (BiDi input.performActions, one
  // key per code point: emoji arrive whole in Firefox).
  async fill(sel, text) {
    await this.toFront();
    await this.page.$eval(sel, (el) => { el.value = ''; });
    await this.page.type(sel, text);
  }

  async click(sel) {
    await this.toFront();
    await this.page.click(sel);
  }

  async press(sel, key) {
    await this.toFront();
    await this.page.focus(sel);
    await this.page.keyboard.press(key);
  }

  // puppeteer's select sets the options' selected and fires input and
  // change (a script, not pointer input: no need to come to the front). A
  // value no option has would deselect all (a single <select> then shows
  // its first option) and fire both events: so the option is looked for first.
  async select(sel, value) {
    const has = await this.page.$eval(sel, (el, v) => [...el.options].some((o) => o.value === v), value);
    if (!has) throw new Error(`${this.name}: ${sel} has no option with value ${JSON.stringify(value)}`);
    await this.page.select(sel, value);
  }

  async text(sel) { return this.page.$eval(sel, (el) => el.textContent); }
  async value(sel) { return this.page.$eval(sel, (el) => el.value); }
  async enabled(sel) { return this.page.$eval(sel, (el) => !el.disabled); }
  async evaluate(fn, arg) { return this.page.evaluate(callExpr(fn, arg)); }
  async close() { await this.page.close(); }
}

async function launchFirefox({ headed, timeout }) {
  const { exe } = requireEngine('firefox');
  const { default: puppeteer } = await import('puppeteer-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-e2e-firefox-'));
  let browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: exe,
      headless: !headed,
      userDataDir: profile,     // a fresh profile, removed on close
      timeout: 60_000,
      extraPrefsFirefox: {
        // No update checks, telemetry or remote settings from a test browser.
        'app.update.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'toolkit.telemetry.enabled': false,
        'services.settings.server': 'http://127.0.0.1:9/',
      },
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const first = (await browser.pages())[0];
  let firstUsed = false;
  const front = { page: null };
  return {
    engine: 'firefox',
    version: `Firefox ${(await browser.version()).replace(/^firefox\//, '')} (puppeteer-core, WebDriver BiDi)`,
    async newPage(name) {
      let page;
      if (first && !firstUsed) { firstUsed = true; page = first; } else page = await browser.newPage();
      page.setDefaultTimeout(timeout);
      await page.setViewport({ width: 1000, height: 680 });
      const p = new PuppeteerPage(page, name, front);
      front.page = p;   // a new tab opens in front
      return p;
    },
    async close() {
      try {
        await browser.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

// ---- webkit: WebKitWebDriver, classic W3C WebDriver over HTTP ---------------------

const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';
const KEY_ENTER = '\uE007';

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

// The driver's session: one browser, several top-level windows. WebDriver has
// one "current window" per session, so every page operation takes the lock,
// switches to its window and runs its commands alone.
class WebDriverSession {
  constructor(base, id) {
    this.base = base;
    this.id = id;
    this.current = null;
    this.queue = Promise.resolve();
  }

  async cmd(method, suffix, body) {
    const res = await fetch(`${this.base}/session/${this.id}${suffix}`, {
      method,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const json = await res.json().catch(() => ({ value: { error: `HTTP ${res.status}, not JSON` } }));
    if (!res.ok) {
      const v = json.value ?? {};
      throw new Error(`WebDriver ${method} ${suffix}: ${v.error ?? res.status}: ${v.message ?? ''}`.trim());
    }
    return json.value;
  }

  // Runs fn() with the session to itself, in `handle`'s window.
  exclusive(handle, fn) {
    const run = this.queue.then(async () => {
      if (handle && this.current !== handle) {
        await this.cmd('POST', '/window', { handle });
        this.current = handle;
      }
      return fn();
    });
    this.queue = run.catch(() => {});
    return run;
  }
}

class WebDriverPage extends PageBase {
  constructor(session, handle, name) {
    super('webkit', name);
    this.s = session;
    this.handle = handle;
  }

  op(fn) { return this.s.exclusive(this.handle, fn); }

  async element(sel) {
    const el = await this.s.cmd('POST', '/element', { using: 'css selector', value: sel });
    return el[ELEMENT_KEY];
  }

  // Classic WebDriver has no event stream: the page's errors are caught by a
  // hook installed right after each load, read back by problemsFromPage().
  async installHooks() {
    await this.s.cmd('POST', '/execute/sync', {
      script: `if (!window.__e2eProblems) {
        window.__e2eProblems = [];
        window.addEventListener('error', (e) => window.__e2eProblems.push('uncaught exception: ' + e.message));
        window.addEventListener('unhandledrejection', (e) => window.__e2eProblems.push('unhandled rejection: ' + e.reason));
        const orig = console.error.bind(console);
        console.error = (...a) => { window.__e2eProblems.push('console error: ' + a.join(' ')); orig(...a); };
      }`,
      args: [],
    });
  }

  async collectProblems() {
    const got = await this.op(() => this.s.cmd('POST', '/execute/sync', { script: 'return window.__e2eProblems || [];', args: [] }))
      .catch(() => []);
    for (const p of got) this.problems.push(`${this.name}: ${p}`);
    await this.op(() => this.s.cmd('POST', '/execute/sync', { script: 'if (window.__e2eProblems) window.__e2eProblems.length = 0;', args: [] }))
      .catch(() => {});
  }

  goto(url) {
    return this.op(async () => {
      await this.s.cmd('POST', '/url', { url });
      await this.installHooks();
    });
  }

  reload() {
    return this.op(async () => {
      await this.s.cmd('POST', '/refresh', {});
      await this.installHooks();
    });
  }

  // Element Send Keys in WebKitWebDriver drops every character outside the
  // BMP (emoji and the like): those go through Perform Actions as single
  // keyDown/keyUp of the whole code point, which WebKit inserts as text.
  fill(sel, text) {
    return this.op(async () => {
      const id = await this.element(sel);
      await this.s.cmd('POST', `/element/${id}/clear`, {});
      let bmp = '';
      const flush = async () => {
        if (bmp) await this.s.cmd('POST', `/element/${id}/value`, { text: bmp });
        bmp = '';
      };
      for (const ch of text) {   // by code point
        if (ch.codePointAt(0) <= 0xffff) { bmp += ch; continue; }
        await flush();
        // Key actions go to the focused element (Send Keys focused it, or not yet).
        await this.s.cmd('POST', '/execute/sync', {
          script: 'if (document.activeElement !== arguments[0]) arguments[0].focus();', args: [{ [ELEMENT_KEY]: id }],
        });
        await this.s.cmd('POST', '/actions', {
          actions: [{ type: 'key', id: 'kbd', actions: [{ type: 'keyDown', value: ch }, { type: 'keyUp', value: ch }] }],
        });
        await this.s.cmd('DELETE', '/actions');
      }
      await flush();
      const got = await this.s.cmd('POST', '/execute/sync', { script: 'return arguments[0].value;', args: [{ [ELEMENT_KEY]: id }] });
      if (got !== text) throw new Error(`${this.name}: typed ${JSON.stringify(text)} into ${sel} but it holds ${JSON.stringify(got)}`);
    });
  }

  click(sel) {
    return this.op(async () => {
      const id = await this.element(sel);
      await this.s.cmd('POST', `/element/${id}/click`, {});
    });
  }

  press(sel, key) {
    const keys = { Enter: KEY_ENTER };
    if (!(key in keys)) throw new Error(`webkit press: no mapping for key ${key}`);
    return this.op(async () => {
      const id = await this.element(sel);
      await this.s.cmd('POST', `/element/${id}/value`, { text: keys[key] });
    });
  }

  // WebDriver selects an option by Element Click on the <option> itself
  // (the spec's select algorithm: selectedness, then input and change; no
  // pointer events on a popup). The option's reference comes back from a
  // script, which matches by value (no CSS selector does for text-only options).
  select(sel, value) {
    return this.op(async () => {
      const id = await this.element(sel);
      const option = await this.s.cmd('POST', '/execute/sync', {
        script: 'return [...arguments[0].options].find((o) => o.value === arguments[1]) || null;',
        args: [{ [ELEMENT_KEY]: id }, value],
      });
      if (!option) throw new Error(`${this.name}: ${sel} has no option with value ${JSON.stringify(value)}`);
      await this.s.cmd('POST', `/element/${option[ELEMENT_KEY]}/click`, {});
      const got = await this.s.cmd('POST', '/execute/sync', { script: 'return arguments[0].value;', args: [{ [ELEMENT_KEY]: id }] });
      if (got !== value) throw new Error(`${this.name}: selected ${JSON.stringify(value)} in ${sel} but it holds ${JSON.stringify(got)}`);
    });
  }

  text(sel) { return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, sel); }
  value(sel) { return this.evaluate((s) => document.querySelector(s)?.value ?? null, sel); }
  enabled(sel) { return this.evaluate((s) => !document.querySelector(s)?.disabled, sel); }

  // Execute Async Script with the same expression the other engines evaluate;
  // a rejection comes back as an error, undefined as null.
  evaluate(fn, arg) {
    return this.op(async () => {
      const r = await this.s.cmd('POST', '/execute/async', {
        script: `const done = arguments[arguments.length - 1];
          Promise.resolve().then(() => ${callExpr(fn, arg)}).then(
            (v) => done({ ok: true, v: v === undefined ? null : v }),
            (e) => done({ ok: false, e: e instanceof Error ? \`\${e.name}: \${e.message}\` : String(e) }));`,
        args: [],
      });
      if (!r.ok) throw new Error(`${this.name}: evaluate failed: ${r.e}`);
      return r.v;
    });
  }

  // Closes this window and makes another one current (WebDriver needs one).
  close() {
    return this.op(async () => {
      const left = await this.s.cmd('DELETE', '/window');
      this.s.current = null;
      if (left.length) {
        await this.s.cmd('POST', '/window', { handle: left[0] });
        this.s.current = left[0];
      }
    });
  }
}

async function launchWebKit({ headed }) {
  const { exe, minibrowser } = requireEngine('webkit');
  if (!process.env.DISPLAY) throw new BrowserMissing('webkit: no X display (run under xvfb-run -a)');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const driver = spawn(exe, [`--port=${port}`, '--host=127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let driverLog = '';
  const keep = (d) => { driverLog = (driverLog + d).slice(-4000); };
  driver.stdout.on('data', keep);
  driver.stderr.on('data', keep);
  let driverExit = null;
  driver.on('exit', (code, signal) => { driverExit = { code, signal }; });
  driver.on('error', (e) => { driverExit = { error: e.message }; });
  const killDriver = () => { if (!driverExit) { try { driver.kill('SIGKILL'); } catch { /* gone */ } } };
  process.on('exit', killDriver);

  try {
    // The driver is up when /status answers.
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (driverExit) throw new Error(`WebKitWebDriver exited: ${JSON.stringify(driverExit)} ${driverLog}`);
      const ok = await fetch(`${base}/status`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not answer on ${base} within 15 s: ${driverLog}`);
      await sleep(100);
    }
    const res = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        capabilities: {
          alwaysMatch: {
            'webkitgtk:browserOptions': { binary: minibrowser, args: ['--automation'] },
            timeouts: { script: 30_000, pageLoad: 30_000, implicit: 0 },
          },
        },
      }),
      signal: AbortSignal.timeout(60_000),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`WebKitWebDriver refused the session: ${JSON.stringify(json.value)}`);
    const session = new WebDriverSession(base, json.value.sessionId);
    const caps = json.value.capabilities;
    session.current = await session.cmd('GET', '/window');
    let firstUsed = false;
    return {
      engine: 'webkit',
      version: `WebKitGTK ${caps.browserVersion} ${caps.browserName} (WebKitWebDriver, classic WebDriver over HTTP)${headed ? '' : ' on Xvfb'}`,
      async newPage(name) {
        let handle;
        if (!firstUsed) {
          firstUsed = true;
          handle = session.current;
        } else {
          // A window, not a tab: each page stays visible (not throttled as a background tab).
          handle = (await session.exclusive(null, () => session.cmd('POST', '/window/new', { type: 'window' }))).handle;
        }
        const page = new WebDriverPage(session, handle, name);
        await page.op(() => session.cmd('POST', '/window/rect', { width: 1000, height: 680 })).catch(() => {});
        return page;
      },
      async close() {
        try {
          await session.exclusive(null, () => fetch(`${base}/session/${session.id}`,
            { method: 'DELETE', signal: AbortSignal.timeout(10_000) })).catch(() => {});
        } finally {
          if (!driverExit) {
            driver.kill('SIGTERM');
            for (let i = 0; i < 30 && !driverExit; ++i) await sleep(100);
            killDriver();
          }
        }
      },
    };
  } catch (e) {
    killDriver();
    throw e;
  }
}

// ---- entry ---------------------------------------------------------------------------

export async function launch(engine, { headed = false, timeout = 10_000 } = {}) {
  if (engine === 'chromium') return launchChromium({ headed, timeout });
  if (engine === 'firefox') return launchFirefox({ headed, timeout });
  if (engine === 'webkit') return launchWebKit({ headed, timeout });
  throw new Error(`unknown engine ${engine} (one of ${ENGINES.join(', ')})`);
}
