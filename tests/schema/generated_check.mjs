// The files the build generates from a protocol's description, checked:
//   node generated_check.mjs <dir> <name> [<page.js>...]
// - <name>.fingerprint, <name>.d.ts and <name>.schema.json agree on the
//   fingerprint, and the JSON Schema parses;
// - every page type-checks against <name>.d.ts (tsc --checkJs --strict);
// - a page that sends a misspelt field does NOT type-check (so the check can fail).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [dir, name, ...pages] = process.argv.slice(2);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };

const [subprotocol, fp] = fs.readFileSync(path.join(dir, `${name}.fingerprint`), 'utf8').trim().split(' ');
if (!/^duplex\.[a-z0-9_.-]+\.v\d+$/.test(subprotocol) || !/^[0-9a-f]{16}$/.test(fp)) fail(`bad ${name}.fingerprint`);
const dts = path.join(dir, `${name}.d.ts`);
if (!fs.readFileSync(dts, 'utf8').includes(`fingerprint ${fp}`)) fail(`${name}.d.ts lacks fingerprint ${fp}`);
const schema = JSON.parse(fs.readFileSync(path.join(dir, `${name}.schema.json`), 'utf8'));
if (schema['x-fingerprint'] !== fp || schema.$id !== subprotocol) fail(`${name}.schema.json: ${schema['x-fingerprint']} ${schema.$id}`);
console.log(`${subprotocol} ${fp}: .d.ts and JSON Schema agree`);

// A page runs in a browser: no @types from node_modules (puppeteer-core
// brings @types/node, whose declarations would join the check and fail to
// resolve under the default module resolution).
const noTypes = fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-no-types-'));
const check = (files) => {
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '--checkJs', '--allowJs', '--strict', '--target', 'es2020',
      '--lib', 'es2020,dom,dom.iterable', '--typeRoots', noTypes, ...files, dts], { stdio: 'pipe' });
    return '';
  } catch (e) {
    return `${e.stdout}${e.stderr}` || String(e);
  }
};
for (const page of pages) {
  const out = check([page]);
  if (out) fail(`${page} does not type-check against ${name}.d.ts:\n${out}`);
  console.log(`${path.basename(page)} type-checks against ${name}.d.ts`);
}
const ns = `Duplex${name[0].toUpperCase()}${name.slice(1)}`;
const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'duplex-tsc-')), 'bad.js');
fs.writeFileSync(bad, `// @ts-check\n/** @param {${ns}.Client} c */\nfunction f(c) { c.send({ type: 'no-such-message', nope: 1 }); }\n`);
const out = check([bad]);
fs.rmSync(path.dirname(bad), { recursive: true });
if (!out.includes('error TS')) fail('a page sending an undeclared message type-checked: the declarations constrain nothing');
console.log('a page sending an undeclared message is refused by tsc');
