// What the Node `ws` bench servers (ws_echo.mjs, ws_broadcast.mjs) share:
// --host ADDR and --port N, the "NAME listening on HOST:PORT" line that
// bench/run.sh reads the port from, and the exit on SIGINT/SIGTERM.
import { WebSocketServer } from 'ws';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};

// A WebSocketServer (permessage-deflate off, like every server in the
// comparison) with `options` added; onConnection(ws, wss) per connection.
export function serveWs(name, options, onConnection) {
  const host = arg('--host', '127.0.0.1');
  const port = Number(arg('--port', '0'));
  const wss = new WebSocketServer({ host, port, perMessageDeflate: false, ...options });
  wss.on('connection', (ws) => {
    onConnection(ws, wss);
    // A client's error (a reset, a protocol error) must not end the server,
    // as an 'error' event without a listener would.
    ws.on('error', () => {});
  });
  wss.on('listening', () => console.log(`${name} listening on ${host}:${wss.address().port}`));
  wss.on('error', (e) => {
    console.error(`${process.argv[1]}: ${e.message}`);
    process.exit(1);
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
  process.on('exit', (code) => console.error(`exit ${code}`));
  return wss;
}
