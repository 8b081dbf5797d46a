// report.mjs: turns bench/run.sh's results.jsonl (one JSON object per
// scenario and server) into the table on stdout and results.json.
//   node bench/report.mjs results.jsonl results.json [--duration S ...]
// The ratio column is duplex's figure divided by the row's (for idle RSS,
// lower is better, so a ratio above 1 means duplex uses more memory).
import { readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import os from 'node:os';

const [input, output, ...rest] = process.argv.slice(2);
const meta = {};
for (let i = 0; i + 1 < rest.length; i += 2) meta[rest[i].replace(/^--/, '').replace(/-/g, '_')] = rest[i + 1];

const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { group: '?', label: '?', server: '?', unparsable: l.slice(0, 200) };
    }
  });

const si = (v) => {
  if (v == null || Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (a >= 100) return v.toFixed(0);
  return v.toFixed(1);
};
const us = (v) => (v == null ? '-' : v >= 1e4 ? (v / 1e3).toFixed(1) + 'ms' : v.toFixed(0) + 'us');
const pct = (v) => (v == null ? '-' : v.toFixed(0) + '%');

// What one row says: the figure compared across servers (higher is better
// unless lowerBetter), plus its text.
function figureOf(r) {
  if (r.group === 'idle') {
    const v = r.rss_per_conn_bytes;
    return { value: v, lowerBetter: true, text: v == null ? '-' : `${(v / 1024).toFixed(1)} KiB/conn (RSS ${(r.rss_after_kb / 1024).toFixed(0)} MiB)` };
  }
  if (r.group === 'broadcast') return { value: r.deliveries_per_s, text: `${si(r.deliveries_per_s)} deliv/s` };
  if (r.group === 'large')
    return { value: r.msgs_per_s, text: `${si(r.msgs_per_s)} msg/s ${si(r.bytes_per_s / 1e6)} MB/s` };
  return { value: r.msgs_per_s, text: `${si(r.msgs_per_s)} msg/s` };
}

// Idle rows: the kernel's memory per connection, system-wide (both ends of
// each loopback connection, so one socket is about half).
function kernelNote(k) {
  const b = (v) => (v == null ? '?' : `${(v / 1024).toFixed(1)} KiB`);
  return `kernel per conn (both ends): sockstat TCP mem ${b(k.sock_mem_per_conn_bytes)} ` +
    `(${k.tcp_mem_pages?.[0]}->${k.tcp_mem_pages?.[1]} pages), Slab ${b(k.slab_per_conn_bytes)}`;
}

function problems(r) {
  const p = [];
  if (r.unparsable) p.push('unparsable output');
  if (r.server_died)
    p.push((r.exit_status === -1 ? 'SERVER STOPPED LISTENING' : `SERVER DIED (exit ${r.exit_status})`) +
      (r.when === 'before' ? ' before the scenario' : '') + (r.server_stderr ? ' ' + r.server_stderr : ''));
  if (r.loadgen_failed != null) p.push(`loadgen failed (${r.loadgen_failed})`);
  if (r.timed_out) p.push('timed out');
  if (r.conns_open != null && r.mode !== 'broadcast' && r.conns_open < r.conns) p.push(`only ${r.conns_open}/${r.conns} conns`);
  if (r.mode === 'broadcast' && r.conns_open != null && r.conns_open < r.conns + 1)
    p.push(`only ${r.conns_open}/${r.conns + 1} conns`);
  for (const [k, v] of Object.entries(r.errors || {})) if (v) p.push(`${k} errors: ${v}`);
  if (r.lost_deliveries) p.push(`lost deliveries: ${r.lost_deliveries}`);
  if (r.mode && r.mode !== 'idle' && r.server !== 'raw' && r.clean_closes != null && r.clean_closes < r.conns_open)
    p.push(`clean closes ${r.clean_closes}/${r.conns_open}`);
  if (r.mode && r.mode !== 'idle' && !r.messages) p.push('no messages');
  if (r.loadgen_cpu_pct > 90) p.push('loadgen near 100% CPU: may be the bottleneck');
  return p;
}

// Scenario rows, in the order they ran.
const table = [];
const scenarios = [];
for (const r of rows) {
  if (r.group === 'codec') continue;
  if (!scenarios.includes(r.label)) scenarios.push(r.label);
}
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
// Figure per second of server CPU: what the server can do per core, even
// when something else (the load generator) limits the figure itself.
const perCpu = (r, fig) => (r.server_cpu_pct > 0 && fig.value != null && !fig.lowerBetter ? fig.value / (r.server_cpu_pct / 100) : null);

for (const label of scenarios) {
  // One row per server. With several rounds (ROUNDS in run.sh) the row is
  // the median round by figure, with the spread in the notes. A server that
  // died during a round: that round's figure is from a partial run and is
  // left out; the death is noted.
  const servers = [];
  for (const r of rows.filter((x) => x.label === label)) if (!servers.includes(r.server)) servers.push(r.server);
  const group = servers.map((server) => {
    const all = rows.filter((x) => x.label === label && x.server === server);
    const deaths = all.filter((x) => x.server_died);
    const good = all.filter((x) => !x.server_died && x.loadgen_failed == null && figureOf(x).value != null);
    if (!good.length) {
      const merged = {};
      for (const r of all) Object.assign(merged, r, merged.server_died && !r.server_died ? { server_died: true } : {});
      return { row: merged, dead: true };
    }
    const values = good.map((x) => figureOf(x).value);
    const mid = median(values);
    const row = good.reduce((a, b) => (Math.abs(figureOf(b).value - mid) < Math.abs(figureOf(a).value - mid) ? b : a));
    return { row, rounds: good.length, values, deaths, dead: false };
  });
  const duplex = group.find((g) => g.row.server === 'duplex' && !g.dead);
  const dFig = duplex ? figureOf(duplex.row) : null;
  const dCpu = duplex ? perCpu(duplex.row, dFig) : null;
  for (const g of group) {
    const r = g.row;
    const dead = g.dead || r.server_died || r.loadgen_failed != null;
    const fig = dead ? { value: null, text: '-' } : figureOf(r);
    let ratio = '';
    let ratioCpu = '';
    if (r.server !== 'duplex' && dFig?.value != null && fig.value) {
      ratio = (dFig.value / fig.value).toFixed(2);
      const c = perCpu(r, fig);
      if (dCpu != null && c) ratioCpu = (dCpu / c).toFixed(2);
    }
    const notes = problems(r);
    if (!dead && r.group === 'idle' && r.kernel) notes.push(kernelNote(r.kernel));
    if (!dead && r.group === 'idle' && r.hold_server_cpu_s != null)
      notes.push(`server CPU while held: ${r.hold_server_cpu_s.toFixed(2)} s in ${r.hold_s.toFixed(1)} s`);
    if (g.rounds > 1) notes.unshift(`median of ${g.rounds} (${si(Math.min(...g.values))}-${si(Math.max(...g.values))})`);
    if (g.deaths?.length) notes.push(`SERVER DIED in ${g.deaths.length} round(s)`);
    table.push({
      scenario: label + (fig.lowerBetter ? ' (lower=better)' : ''),
      server: r.server,
      figure: fig.text,
      p50: dead ? '-' : us(r.lat_us?.p50),
      p99: dead ? '-' : us(r.lat_us?.p99),
      p999: dead ? '-' : us(r.lat_us?.p99_9),
      srv_cpu: dead ? '-' : pct(r.server_cpu_pct),
      lg_cpu: dead ? '-' : pct(r.loadgen_cpu_pct),
      ratio,
      ratio_cpu: ratioCpu,
      notes: notes.join('; '),
    });
  }
}

// Codec: duplex native is the reference; the WASM build and Node's JSON are the peers.
const codec = rows.filter((r) => r.group === 'codec');
const native = codec.find((r) => r.impl === 'duplex-native');
const wasm = codec.find((r) => r.impl === 'duplex-wasm');
const nodeJson = codec.find((r) => r.impl?.startsWith('node-json'));
for (const op of ['decode', 'encode']) {
  for (const r of codec) {
    const v = r[op]?.msgs_per_s;
    let ratio = '';
    if (r !== native && native?.[op]?.msgs_per_s && v) ratio = (native[op].msgs_per_s / v).toFixed(2);
    table.push({
      scenario: `codec ${op} (${r.messages} chat msgs)`,
      server: r.impl.replace(/ \(.*\)/, ''),
      figure: `${si(v)} msg/s ${si(r[op]?.mb_per_s)} MB/s`,
      p50: '', p99: '', p999: '', srv_cpu: '', lg_cpu: '',
      ratio,
      ratio_cpu: '',
      notes: r === nodeJson && wasm?.[op]?.msgs_per_s
        ? `duplex-wasm/node = ${(wasm[op].msgs_per_s / v).toFixed(2)}` + (op === 'decode' ? ' (JSON.parse checks no schema)' : '')
        : '',
    });
  }
}

const cols = [
  ['scenario', 'scenario'], ['server', 'server'], ['figure', 'figure'], ['p50', 'p50'], ['p99', 'p99'],
  ['p999', 'p99.9'], ['srv_cpu', 'srv cpu'], ['lg_cpu', 'lg cpu'], ['ratio', 'duplex/x'], ['ratio_cpu', 'per cpu'], ['notes', 'notes'],
];
const width = Object.fromEntries(cols.map(([k, h]) => [k, Math.max(h.length, ...table.map((t) => String(t[k]).length))]));
const line = (t) => cols.map(([k]) => String(t[k]).padEnd(k === 'notes' ? 0 : width[k])).join('  ').trimEnd();
const out = [];
out.push(line(Object.fromEntries(cols.map(([k, h]) => [k, h]))));
out.push(cols.map(([k]) => '-'.repeat(k === 'notes' ? 5 : width[k])).join('  '));
let last = null;
for (const t of table) {
  const show = { ...t, scenario: t.scenario === last ? '' : t.scenario };
  last = t.scenario;
  out.push(line(show));
}
console.log('\n' + out.join('\n'));
console.log(
  '\nduplex/x: duplex figure / that server\'s figure, within this run only (idle: RSS per connection, >1 = duplex uses more).' +
    '\nsrv cpu / lg cpu: CPU used by the server / the load generator during the measured phase (100% = one core).' +
    '\nper cpu: duplex/x with each figure divided by its server\'s CPU use: the ratio of what each server does per' +
    '\n  core, which still means something when the load generator (lg cpu near 100%) limits the figure.' +
    '\nmedian of N (min-max): the row is the median of N interleaved rounds (ROUNDS); the spread shows the noise.'
);

let commit = '';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {}
const result = {
  meta: {
    date: new Date().toISOString(),
    commit,
    host: os.hostname(),
    cpu: os.cpus()[0]?.model,
    cpus: os.cpus().length,
    loadavg: os.loadavg(),
    node: process.version,
    ...meta,
  },
  table,
  results: rows,
};
writeFileSync(output, JSON.stringify(result, null, 2) + '\n');
console.log(`\nresults: ${output}`);
const bad = table.filter((t) => /DIED|failed|timed out/.test(t.notes));
if (bad.length) {
  console.log(`\n${bad.length} scenario(s) with a dead server or a failed load generator:`);
  for (const t of bad) console.log(`  ${t.scenario} / ${t.server}: ${t.notes}`);
}
