// ws_echo: the Node `ws` (pinned in package.json) echo server: every text
// and binary message goes back unchanged, on any path.
//   node bench/ws_echo.mjs [--host ADDR] [--port N]   (port 0: any free port, printed)
import { WebSocketServer } from 'ws';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws_echo listening on ${host}:${wss.address().port}`));
wss.on('error', (e) => {
  console.error(`${process.argv[1]}: ${e.message}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
process.on('exit', (code) => console.error(`exit ${code}`));
