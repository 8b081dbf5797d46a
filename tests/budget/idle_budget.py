#!/usr/bin/env python3
"""The heap an idle connection holds, measured in unmodified servers.

Each scenario starts a server with alloc_probe.so preloaded, warms it with a
few connections, marks the heap, opens N idle connections (raw sockets: the
client side is not measured), lets them settle, and dumps the heap. Per
connection: (live bytes after - before) / N and the live blocks recorded
since the mark, grouped by the code that allocated them (addr2line on the
probe's backtraces). Fails when a scenario's bytes per connection exceed its
budget (--budget JSON: {"plain": bytes, ...}); prints the table either way.

  idle_budget.py --echo build/native/examples/duplex-echo \
      --chat build/native/server/duplex-chat --probe build/native/tests/budget/alloc_probe.so \
      --budget tests/budget/budget.json [--conns 500] [--only plain,tls] [--table out.md]
"""
import argparse
import base64
import collections
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument('--echo', required=True)
ap.add_argument('--chat', required=True)
ap.add_argument('--probe', required=True)
ap.add_argument('--budget', required=True)
ap.add_argument('--conns', type=int, default=500)
ap.add_argument('--only', default='plain,callbacks,tls,deflate,chat')
ap.add_argument('--table', help='also write the breakdown (markdown) here')
args = ap.parse_args()
budget = json.load(open(args.budget))
work = tempfile.mkdtemp(prefix='duplex-budget-')


def log(m):
    print(f'[budget] {m}', flush=True)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_cert():
    key, crt = os.path.join(work, 'key.pem'), os.path.join(work, 'cert.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                    '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=127.0.0.1'],
                   check=True, capture_output=True)
    return key, crt


def mask_frame(text):
    data = text.encode()
    head = bytes([0x81, 0x80 | len(data)]) if len(data) < 126 else bytes([0x81, 0xFE]) + len(data).to_bytes(2, 'big')
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(data))


def open_ws(port, path, tls=None, headers=()):
    s = socket.create_connection(('127.0.0.1', port))
    if tls:
        s = tls.wrap_socket(s, server_hostname='127.0.0.1')
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f'GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n' + ''.join(h + '\r\n' for h in headers) + '\r\n')
    s.sendall(req.encode())
    got = b''
    while b'\r\n\r\n' not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError('closed during the handshake')
        got += chunk
    if not got.startswith(b'HTTP/1.1 101'):
        raise RuntimeError(got.split(b'\r\n')[0].decode())
    return s, got.split(b'\r\n\r\n', 1)[1]


def drain(socks, seconds):
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select(socks, [], [], 0.1)
        for s in r:
            try:
                s.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                pass


class server:
    def __init__(self, argv):
        self.dir = tempfile.mkdtemp(dir=work)
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(args.probe), DUPLEX_ALLOC_PROBE=self.dir)
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.dumps = 0
        self.exe = os.path.realpath(argv[0])

    def command(self, cmd):
        with open(os.path.join(self.dir, 'cmd.tmp'), 'w') as f:
            f.write(cmd)
        os.rename(os.path.join(self.dir, 'cmd.tmp'), os.path.join(self.dir, 'cmd'))

    def dump(self):
        self.dumps += 1
        self.command('dump')
        done = os.path.join(self.dir, f'dump-{self.dumps}.done')
        for _ in range(500):
            if os.path.exists(done):
                break
            time.sleep(0.02)
        else:
            raise RuntimeError('the probe wrote no dump (is alloc_probe.so preloaded?)')
        text = open(os.path.join(self.dir, f'dump-{self.dumps}')).read()
        head, rest = text.split('records\n', 1)
        recs, maps = rest.split('maps\n', 1)
        stats = dict(line.split() for line in head.splitlines())
        records = [(int(p[0]), p[1:]) for p in (line.split() for line in recs.splitlines())]
        return int(stats['live_bytes']), int(stats['live_blocks']), records, maps

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


SKIP = re.compile(r'^(malloc|calloc|realloc|aligned_alloc|posix_memalign|operator new|__libc|'
                  r'\(anonymous namespace\)::(counted|remember)|std::|__gnu_cxx::|asio::aligned_new|'
                  r'asio::detail::thread_info_base::allocate|asio::detail::recycling_allocator|'
                  r'CRYPTO_malloc|CRYPTO_zalloc|\?\?)')


def symbolize(records, maps):
    """Address -> function name, by module and offset (addr2line, batched per module)."""
    regions = []
    for line in maps.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith('/'):
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            regions.append((lo, hi, int(parts[2], 16), parts[5]))
    wanted = collections.defaultdict(set)
    where = {}
    for _, frames in records:
        for a in frames:
            x = int(a, 16)
            for lo, hi, off, path in regions:
                if lo <= x < hi:
                    # A return address points after the call: -1 lands in it.
                    rel = x - lo + off - 1
                    wanted[path].add(rel)
                    where[a] = (path, rel)
                    break
    names = {}
    for path, rels in wanted.items():
        rels = sorted(rels)
        out = subprocess.run(['addr2line', '-f', '-C', '-e', path] + [hex(r) for r in rels],
                             capture_output=True, text=True).stdout.splitlines()
        for i, r in enumerate(rels):
            fn = out[2 * i] if 2 * i < len(out) else '??'
            names[(path, r)] = fn if fn != '??' else f'{os.path.basename(path)}+{hex(r)}'
    return {a: names.get(w, '??') for a, w in where.items()}


def owner(frames, names):
    """(the first duplex function on the stack, the first two frames past the allocator)."""
    chain = []
    for a in frames:
        n = names.get(a, '??')
        if 'alloc_probe' in n or (not chain and SKIP.match(n)):
            continue
        if len(chain) < 2:
            chain.append(short(n))
        if n.startswith('duplex::') or n.startswith('main'):
            return short(n), ' ← '.join(chain)
    return '-', ' ← '.join(chain) or '??'


def short(n):
    n = re.sub(r'\(.*', '', n)  # drop argument lists
    while True:  # innermost template arguments first, until none are left
        m = re.sub(r'<[^<>]*>', '<>', n)
        if m == n:
            break
        n = m
    return n.replace('<>', '')[:70]


def scenario(name, argv, connect, conns):
    srv = server(argv)
    try:
        port = argv[argv.index('--port') + 1]
        for _ in range(100):
            try:
                socket.create_connection(('127.0.0.1', int(port)), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        warm = [connect(i) for i in range(5)]
        drain(warm, 0.3)
        for s in warm:
            s.close()
        time.sleep(0.5)
        before, blocks0, _, _ = srv.dump()
        srv.command('mark')
        time.sleep(0.1)
        socks = []
        for i in range(conns):
            socks.append(connect(100 + i))
        drain(socks, 1.5)
        after, blocks1, records, maps = srv.dump()
        names = symbolize(records, maps)
        groups = collections.defaultdict(lambda: [0, 0])
        for size, frames in records:
            g = groups[owner(frames, names) + (size,)]
            g[0] += size
            g[1] += 1
        for s in socks:
            s.close()
        per = (after - before) / conns
        return {'name': name, 'bytes': per, 'blocks': (blocks1 - blocks0) / conns,
                'groups': groups, 'conns': conns}
    finally:
        srv.stop()


def main():
    key, crt = make_cert()
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls_ctx.check_hostname = False
    tls_ctx.verify_mode = ssl.CERT_NONE
    results = []
    only = args.only.split(',')
    n = args.conns
    if 'plain' in only:
        p = free_port()
        results.append(scenario('plain', [args.echo, '--quiet', '--port', str(p)],
                                lambda i: open_ws(p, '/')[0], n))
    if 'callbacks' in only:
        p = free_port()
        results.append(scenario('callbacks', [args.echo, '--quiet', '--callbacks', '--port', str(p)],
                                lambda i: open_ws(p, '/')[0], n))
    if 'tls' in only:
        p = free_port()
        results.append(scenario('tls', [args.echo, '--quiet', '--port', str(p), '--tls-cert', crt, '--tls-key', key],
                                lambda i: open_ws(p, '/', tls=tls_ctx)[0], n))
    if 'deflate' in only:
        p = free_port()

        def deflate(i):
            s, _ = open_ws(p, '/', headers=['Sec-WebSocket-Extensions: permessage-deflate'])
            return s
        results.append(scenario('deflate', [args.echo, '--quiet', '--deflate', '--port', str(p)], deflate, n))
    if 'chat' in only:
        p = free_port()

        def member(i):
            s, rest = open_ws(p, '/ws/chat', headers=['Sec-WebSocket-Protocol: duplex.chat.v2'])
            s.sendall(mask_frame(json.dumps({'type': 'join', 'name': f'm{i}', 'room': 'lobby'})))
            got = rest
            end = time.time() + 5
            while b'"joined"' not in got and time.time() < end:
                got += s.recv(65536)
            if b'"joined"' not in got:
                raise RuntimeError(f'member {i} not joined: {got[:200]!r}')
            s.setblocking(False)
            return s
        results.append(scenario('chat', [args.chat, '--memory', '--host', '127.0.0.1', '--port', str(p),
                                         '--root', work], member, n))

    lines = ['| idle connection | heap bytes each | blocks each | budget |', '|---|---|---|---|']
    failed = []
    for r in results:
        b = budget.get(r['name'])
        lines.append(f"| {r['name']} | {r['bytes']:.0f} | {r['blocks']:.1f} | {b} |")
        if b is not None and r['bytes'] > b:
            failed.append(f"{r['name']}: {r['bytes']:.0f} bytes per idle connection, budget {b}")
    detail = []
    for r in results:
        detail += ['', f"{r['name']} ({r['conns']} connections): blocks still alive, per connection",
                   '', '| bytes each | blocks each | block size | for | allocated in |', '|---|---|---|---|---|']
        for (who, where, block), (size, count) in sorted(r['groups'].items(), key=lambda kv: -kv[1][0]):
            if size / r['conns'] < 8:
                continue
            detail.append(f"| {size / r['conns']:.0f} | {count / r['conns']:.2f} | {block} | `{who}` | `{where}` |")
    print('\n'.join(lines + detail))
    if args.table:
        open(args.table, 'w').write('\n'.join(lines + detail) + '\n')
    if failed:
        print('[budget] FAIL: over budget:\n  ' + '\n  '.join(failed))
        return 1
    log('PASS')
    return 0


sys.exit(main())
