// ws_echo: the Node `ws` (pinned in package.json) echo server: every text
// and binary message goes back unchanged, on any path.
//   node bench/ws_echo.mjs [--host ADDR] [--port N]   (port 0: any free port, printed)
import { serveWs } from './ws_server.mjs';

serveWs('ws_echo', { maxPayload: 16 * 1024 * 1024 }, (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
