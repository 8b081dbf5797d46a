// ws_broadcast: the Node `ws` broadcast server: every message from any client
// goes to all the other open clients (the fan-out from ws's README).
//   node bench/ws_broadcast.mjs [--host ADDR] [--port N]   (port 0: any free port, printed)
import { WebSocket } from 'ws';

import { serveWs } from './ws_server.mjs';

serveWs('ws_broadcast', { clientTracking: true }, (ws, wss) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients)
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  });
});
