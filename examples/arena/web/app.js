// The arena page: the C++ half (arena_app.mjs, app.cpp) holds the replica
// and the connection; this draws it and forwards the keys. For tests (and
// the curious): window.arena = { me, count(), positions(), stats(), cut() }.
import createArenaApp from './arena_app.mjs';

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/arena`;
const params = new URLSearchParams(location.search);
const name = (params.get('name') || `player${Math.floor(Math.random() * 1000)}`).slice(0, 16);

const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('arena'));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
const statusEl = /** @type {HTMLElement} */ (document.getElementById('status'));
const infoEl = /** @type {HTMLElement} */ (document.getElementById('info'));
const WORLD = 1000, RADIUS = 350;

const app = await createArenaApp();

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; draw(); });
}

function draw() {
  const st = app.stats();
  const list = app.entities();
  const me = list.find((e) => e.id === st.me);
  const cx = me ? me.x : WORLD / 2, cy = me ? me.y : WORLD / 2;
  const ox = canvas.width / 2 - cx, oy = canvas.height / 2 - cy;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#2a3038';
  ctx.lineWidth = 1;
  for (let g = 0; g <= WORLD; g += 100) {
    ctx.beginPath(); ctx.moveTo(g + ox, oy); ctx.lineTo(g + ox, WORLD + oy); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(ox, g + oy); ctx.lineTo(WORLD + ox, g + oy); ctx.stroke();
  }
  ctx.strokeStyle = '#556'; ctx.lineWidth = 2; ctx.strokeRect(ox, oy, WORLD, WORLD);
  ctx.strokeStyle = '#333c48'; ctx.setLineDash([6, 6]);
  ctx.beginPath(); ctx.arc(canvas.width / 2, canvas.height / 2, RADIUS, 0, 2 * Math.PI); ctx.stroke();
  ctx.setLineDash([]);
  ctx.font = '12px system-ui, sans-serif'; ctx.textAlign = 'center';
  for (const e of list) {
    const x = e.x + ox, y = e.y + oy;
    const mine = e.id === st.me;
    ctx.globalAlpha = e.away ? 0.35 : 1;
    ctx.fillStyle = mine ? '#4ade80' : e.kind === 'bot' ? '#f59e0b' : '#60a5fa';
    ctx.beginPath(); ctx.arc(x, y, mine ? 9 : 7, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = '#ccc'; ctx.fillText(e.name, x, y - 12);
  }
  ctx.globalAlpha = 1;
  statusEl.textContent = st.status;
  infoEl.textContent = `${name} · ${list.length} in view · tick ${st.tick} · ${(st.bytes / 1024).toFixed(1)} KiB received`;
  document.body.dataset.status = st.status;
}

const held = new Set();
const KEYS = {
  ArrowUp: 'up', KeyW: 'up', ArrowDown: 'down', KeyS: 'down',
  ArrowLeft: 'left', KeyA: 'left', ArrowRight: 'right', KeyD: 'right',
};
function sendKeys() { app.setKeys(held.has('up'), held.has('down'), held.has('left'), held.has('right')); }
addEventListener('keydown', (ev) => {
  const k = KEYS[ev.code];
  if (!k) return;
  ev.preventDefault();
  held.add(k); sendKeys();
});
addEventListener('keyup', (ev) => {
  const k = KEYS[ev.code];
  if (!k) return;
  held.delete(k); sendKeys();
});
addEventListener('blur', () => { held.clear(); sendKeys(); });

window.arena = {
  get me() { return app.stats().me; },
  count: () => app.stats().count,
  positions: () => Object.fromEntries(app.entities().map((e) => [e.id, { x: e.x, y: e.y, kind: e.kind, name: e.name, away: e.away }])),
  stats: () => app.stats(),
  cut: () => app.cut(),
};

app.start(url, name, schedule);
