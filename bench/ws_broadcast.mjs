// ws_broadcast: the Node `ws` broadcast server: every message from any client
// goes to all the other open clients (the fan-out from ws's README).
//   node bench/ws_broadcast.mjs [--host ADDR] [--port N]   (port 0: any free port, printed)
import { WebSocketServer, WebSocket } from 'ws';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '0'));

const wss = new WebSocketServer({ host, port, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients)
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws_broadcast listening on ${host}:${wss.address().port}`));
wss.on('error', (e) => {
  console.error(`${process.argv[1]}: ${e.message}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
process.on('exit', (code) => console.error(`exit ${code}`));
