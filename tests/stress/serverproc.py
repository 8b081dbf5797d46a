"""Shared by the stress tests (tests/stress): a real server process on 127.0.0.1 (duplex-echo or duplex-chat),
its CPU and memory from /proc, SIGTERM with a deadline, and a small blocking WebSocket client for the checks
that a normal client is still served. Python 3 standard library only."""
import base64
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print(*args, flush=True)


class Server:
    """Starts argv (which must include --port 0), reads the port from its "listening on ...:PORT" line, and
    collects its output. kill() in any case at the end (the test's finally): a server never outlives a test."""

    def __init__(self, argv, name, env=None, cwd=None, start_timeout=30.0):
        self.name = name
        self.argv = argv
        self.lines = []
        self._lock = threading.Lock()
        self._port_seen = threading.Event()
        self.port = None
        log(f"{name}: starting {' '.join(argv)}")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._port_seen.wait(start_timeout) or self.port is None:
            self.kill()
            raise RuntimeError(f"{name} did not start within {start_timeout} s; output:\n{self.output()}")
        log(f"{name}: pid {self.pid}, port {self.port}")

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append(line)
                if len(self.lines) > 400:  # the first lines (start-up) and the last ones are what matter
                    del self.lines[100:200]
            if self.port is None:
                m = re.search(r"listening on \S*?:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    self._port_seen.set()
        self._port_seen.set()

    def output(self, last=60):
        with self._lock:
            return "\n".join(self.lines[-last:])

    def alive(self):
        return self.proc.poll() is None

    def ticks(self):
        """utime + stime of every thread, in clock ticks."""
        with open(f"/proc/{self.pid}/stat") as f:
            # the command name (field 2) may hold spaces: count from after its ')'
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def cpu_percent(self, seconds):
        """Share of one core the process used over the next `seconds` (100 = a whole core)."""
        t0, c0 = time.monotonic(), self.ticks()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), self.ticks()
        return 100.0 * (c1 - c0) / CLK_TCK / (t1 - t0), c1 - c0

    def status_kb(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kb(self):
        return self.status_kb("VmRSS")

    def peak_rss_kb(self):
        return self.status_kb("VmHWM")

    def open_fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def fd_links(self):
        out = []
        try:
            for fd in sorted(os.listdir(f"/proc/{self.pid}/fd"), key=int):
                try:
                    out.append(f"{fd} -> {os.readlink(f'/proc/{self.pid}/fd/{fd}')}")
                except OSError:
                    pass
        except OSError:
            pass
        return out

    def tcp_sockets(self):
        """The process's TCP sockets as "local -> remote STATE" (for a report of what was left open)."""
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                link = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
        states = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
                  "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}

        def addr(a):
            ip, port = a.split(":")
            return ".".join(str(int(ip[i:i + 2], 16)) for i in (6, 4, 2, 0)) + ":" + str(int(port, 16))
        out = []
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[9] in inodes:
                    out.append(f"{addr(p[1])} -> {addr(p[2])} {states.get(p[3], p[3])} (send queue {int(p[4].split(':')[0], 16)}, receive queue {int(p[4].split(':')[1], 16)})")
        return out

    def sanitized(self):
        """True for an AddressSanitizer build (freed memory sits in its quarantine: RSS stays up)."""
        try:
            with open(f"/proc/{self.pid}/maps") as f:
                maps = f.read()
        except OSError:
            return False
        return "libasan" in maps or "clang_rt.asan" in maps

    def terminate(self, timeout):
        """SIGTERM; returns (exited in time, exit status, seconds taken). A server that is still running after
        `timeout` is killed (its status is then None)."""
        t0 = time.monotonic()
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            rc = self.proc.wait(timeout)
            return True, rc, time.monotonic() - t0
        except subprocess.TimeoutExpired:
            took = time.monotonic() - t0
            self.kill()
            return False, None, took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._reader.join(2)


# ---- a small blocking WebSocket client (RFC 6455 client side) ---------------------------------------------

def mask_frame(opcode, payload, fin=True, rsv1=False, mask=None):
    """One masked client frame."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    mask = mask if mask is not None else os.urandom(4)
    return head + mask + apply_mask(payload, mask)


def apply_mask(data, mask):
    if not data:
        return b""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def handshake_request(host, port, path="/", extensions=None, protocols=None, key=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response_head(head):
    """(status, {lower-case header: value}) of an HTTP response head (bytes, without the blank line)."""
    text = head.decode("latin-1")
    first, *rest = text.split("\r\n")
    parts = first.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in rest:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def deflate_params(ext_header):
    """The negotiated permessage-deflate parameters from a response's Sec-WebSocket-Extensions, or None."""
    if not ext_header or "permessage-deflate" not in ext_header:
        return None
    p = {"client_max_window_bits": 15, "server_max_window_bits": 15,
         "client_no_context_takeover": False, "server_no_context_takeover": False}
    for part in ext_header.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k in ("client_max_window_bits", "server_max_window_bits"):
            p[k] = int(v.strip('"')) if v else 15
        elif k in p:
            p[k] = True
    return p


def compress_message(data, wbits):
    """A permessage-deflate payload: raw deflate, sync flush, the trailing 00 00 ff ff removed. A fresh
    compressor each time (valid with or without context takeover)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class FrameParser:
    """Server frames from a byte stream: feed() bytes, then frames() gives complete (fin, rsv1, opcode,
    payload); messages() reassembles and inflates data messages."""

    def __init__(self, deflate=None):
        self.buf = bytearray()
        self.deflate = deflate
        self.inflater = zlib.decompressobj(-15) if deflate else None
        self.partial = None  # (opcode, compressed, [payloads])

    def feed(self, data):
        self.buf += data

    def frames(self):
        out = []
        while True:
            b = self.buf
            if len(b) < 2:
                break
            fin, rsv1, opcode = b[0] & 0x80, b[0] & 0x40, b[0] & 0x0F
            masked, n, at = b[1] & 0x80, b[1] & 0x7F, 2
            if n == 126:
                if len(b) < 4:
                    break
                n, at = struct.unpack_from("!H", b, 2)[0], 4
            elif n == 127:
                if len(b) < 10:
                    break
                n, at = struct.unpack_from("!Q", b, 2)[0], 10
            if masked:
                raise ValueError("masked frame from the server")
            if len(b) < at + n:
                break
            out.append((bool(fin), bool(rsv1), opcode, bytes(b[at:at + n])))
            del b[:at + n]
        return out

    def messages(self):
        """[(kind, payload)] with kind 'text', 'binary', 'close', 'ping', 'pong'."""
        out = []
        for fin, rsv1, opcode, payload in self.frames():
            if opcode >= 8:
                out.append(({8: "close", 9: "ping", 10: "pong"}.get(opcode, "control?"), payload))
                continue
            if opcode in (1, 2):
                if self.partial is not None:
                    raise ValueError("new message inside a fragmented one")
                self.partial = (opcode, rsv1, [payload])
            elif opcode == 0:
                if self.partial is None:
                    raise ValueError("continuation without a message")
                self.partial[2].append(payload)
            else:
                raise ValueError(f"reserved opcode {opcode}")
            if fin:
                op, compressed, parts = self.partial
                self.partial = None
                data = b"".join(parts)
                if compressed:
                    if not self.inflater:
                        raise ValueError("RSV1 without permessage-deflate")
                    if self.deflate["server_no_context_takeover"]:
                        self.inflater = zlib.decompressobj(-15)
                    data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                out.append(("text" if op == 1 else "binary", data))
        return out


class Client:
    """A blocking client for the checks: connect, send messages, read replies, close."""

    def __init__(self, port, path="/", extensions=None, protocols=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(handshake_request("127.0.0.1", port, path, extensions, protocols))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {buf!r}")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.status, self.headers = parse_response_head(head)
        if self.status != 101:
            raise ConnectionError(f"handshake refused: {head.decode('latin-1')}")
        self.deflate = deflate_params(self.headers.get("sec-websocket-extensions"))
        self.parser = FrameParser(self.deflate)
        self.parser.feed(rest)
        self.pending = []

    def send(self, payload, binary=False, compress=False):
        if isinstance(payload, str):
            payload = payload.encode()
        if compress and self.deflate:
            self.sock.sendall(mask_frame(2 if binary else 1, compress_message(payload, self.deflate["client_max_window_bits"]), rsv1=True))
        else:
            self.sock.sendall(mask_frame(2 if binary else 1, payload))

    def recv(self):
        """The next text or binary message (kind, payload); ('close', payload) when the server closes."""
        while True:
            if not self.pending:
                self.pending = self.parser.messages()
            while self.pending:
                kind, data = self.pending.pop(0)
                if kind in ("text", "binary", "close"):
                    return kind, data
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the TCP connection")
            self.parser.feed(chunk)

    def close(self, code=1000):
        try:
            self.sock.sendall(mask_frame(8, struct.pack("!H", code)))
            while True:
                kind, data = self.recv()
                if kind == "close":
                    return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
        finally:
            self.sock.close()


def http_get(port, path, timeout=5.0):
    """(status, body) of a plain HTTP/1.1 GET."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                _, headers = parse_response_head(head)
                if "content-length" in headers and len(body) >= int(headers["content-length"]):
                    break
    head, _, body = buf.partition(b"\r\n\r\n")
    status, _ = parse_response_head(head)
    return status, body


def echo_roundtrip(port, extensions=None):
    """A normal client: a text, a binary and a 100 KiB message come back unchanged, then a clean close."""
    c = Client(port, "/echo", extensions=extensions)
    msgs = [("text", "hello after the storm \u00e9\u20ac".encode()), ("binary", bytes(range(256)) * 4),
            ("text", b"x" * 100_000)]
    for kind, data in msgs:
        c.send(data, binary=kind == "binary", compress=True)
    for kind, data in msgs:
        got = c.recv()
        if got != (kind, data):
            raise AssertionError(f"echo: sent {kind} of {len(data)} bytes, got {got[0]} of {len(got[1])} bytes")
    code = c.close()
    if code != 1000:
        raise AssertionError(f"echo: close answered with {code}, expected 1000")
    return True


class Checks:
    """Collects pass/fail lines; exit status 1 if any failed."""

    def __init__(self):
        self.failed = []

    def check(self, ok, what):
        log(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            self.failed.append(what)
        return ok

    def exit(self):
        if self.failed:
            log(f"{len(self.failed)} check(s) failed:")
            for f in self.failed:
                log("  - " + f)
            sys.exit(1)
        log("all checks passed")
        sys.exit(0)
