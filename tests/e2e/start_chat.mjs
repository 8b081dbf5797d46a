// Starts duplex-chat on 127.0.0.1 and a free port, serving `root`; resolves
// with { child, port } once it says where it listens. Shared by the Node
// tests that need a real chat server (history in memory: nothing left in the
// working directory); the caller kills the child.
import { spawn } from 'node:child_process';

export function startChat(serverPath, root) {
  const child = spawn(serverPath, ['--host', '127.0.0.1', '--port', '0', '--root', root, '--memory'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      log += d;
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`duplex-chat exited (${code}): ${log}`)));
  });
}
