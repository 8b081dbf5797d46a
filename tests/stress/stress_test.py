#!/usr/bin/env python3
"""native.stress: a live stress stage against real duplex-echo and duplex-chat processes on 127.0.0.1.

For each server in turn, a client opens many connections at once (DUPLEX_STRESS_CONCURRENCY, default 64;
hundreds to thousands in all) for DUPLEX_STRESS_SECONDS (default 15) and sends masked client frames - text,
binary, fragmented with pings in between, ping, pong, close, compressed or not, with and without a
permessage-deflate offer in the handshake - valid, or mutated: bytes flipped, lengths bent, header bits
changed, pieces cut, repeated or inserted, writes split at random byte positions; broken handshakes, slow
handshakes; and ends them every way: Close handshake, RST (SO_LINGER 0), close with echoes unread, half-close
(FIN, then waiting for the server's), half-open (silent), clients that never read. Valid connections are
checked as they go: every echo equal to what was sent, in order; the chat's joined and each chat line back
from the sender's name; the Close answered with the client's code.
Then, with every client gone, the server must be
  - alive, with its connections (open descriptors; the chat's duplex_connections gauge) back to the baseline;
  - idle: under 20% of a core over 2 s;
  - within a memory bound of its pre-stress RSS (DUPLEX_STRESS_RSS_SLACK_MB; the default is larger for an
    AddressSanitizer build, whose quarantine keeps freed memory);
  - serving a normal client (an echo round trip; the chat's GET /healthz 200 and a join answered);
  - stopped by SIGTERM within 5 s, exit status 0.
Everything random comes from one seed, printed first: DUPLEX_STRESS_SEED=N replays the same connections
(each connection's plan depends only on the seed and its number; the timing is the machine's).
DUPLEX_STRESS_SCENARIOS=abrupt,noread (a debugging aid) runs only those kinds of connection (see SCENARIOS).
usage: stress_test.py --echo DUPLEX_ECHO --chat DUPLEX_CHAT [--only echo|chat]"""
import argparse
import base64
import errno
import heapq
import json
import os
import random
import re
import selectors
import shutil
import socket
import struct
import sys
import tempfile
import time
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import (Checks, Client, FrameParser, Server, compress_message, deflate_params,  # noqa: E402
                        echo_roundtrip, handshake_request, http_get, log, mask_frame, parse_response_head)

IDLE_PERCENT = 20.0
CLOSE_WAIT = 10.0  # seconds the server may take to notice that every client has gone
# How far above its pre-stress baseline the server's RSS may be once every client has gone (MiB).
# Measured on this 2-core machine with the defaults (15 s, 64 at once), six seeds: RelWithDebInfo echo
# +7.0-10.1 MiB (peak +14; permessage-deflate with context takeover), chat +2.5-3.5 MiB: what the allocator
# keeps for reuse; the bounds are 32 and 16 MiB. Under AddressSanitizer freed memory waits in a quarantine
# first (256 MiB by default: echo +288 MiB, chat +346 MiB), so the servers get quarantine_size_mb=32 here
# (unless ASAN_OPTIONS sets it); measured then: echo +52-55 MiB, chat +64-68 MiB; the bound is 1.25 x the
# quarantine (and its shadow memory) + 96 MiB: 136 MiB. LeakSanitizer reports real leaks at exit.
# DUPLEX_STRESS_RSS_SLACK_MB overrides both.
RSS_SLACK_PLAIN_MB = {"echo": 32, "chat": 16}
ASAN_QUARANTINE_MB = 32


def server_env():
    """The servers' environment: the caller's, with a smaller AddressSanitizer quarantine (see above)."""
    env = dict(os.environ)
    opts = env.get("ASAN_OPTIONS", "")
    if "quarantine_size_mb" not in opts:
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + f"quarantine_size_mb={ASAN_QUARANTINE_MB}"
    m = re.search(r"quarantine_size_mb=(\d+)", env["ASAN_OPTIONS"])
    return env, int(m.group(1)) if m else 256


def rss_slack_mb(kind, asan, quarantine_mb):
    if os.environ.get("DUPLEX_STRESS_RSS_SLACK_MB"):
        return float(os.environ["DUPLEX_STRESS_RSS_SLACK_MB"])
    return 1.25 * quarantine_mb + 96 if asan else RSS_SLACK_PLAIN_MB[kind]

# ---- what the clients send ----------------------------------------------------------------------------------

OFFERS = [
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
    "permessage-deflate; client_max_window_bits, permessage-deflate",
]
CLOSE_CODES = [1000, 1001, 1003, 1007, 1008, 1011, 3000, 4000, 4999]
TEXT_CHARS = "abcdefghijklmnopqrstuvwxyz ABC0123456789{}\":,\u00e9\u00fc\u20ac\u2603\U0001d11e\u4e2d"


def random_text(rng, size):
    out, n = [], 0
    while n < size:
        c = rng.choice(TEXT_CHARS)
        out.append(c)
        n += len(c.encode())
    return "".join(out).encode()


def random_size(rng):
    r = rng.random()
    if r < 0.05:
        return 0
    if r < 0.60:
        return rng.randint(1, 125)
    if r < 0.85:
        return rng.randint(126, 4000)
    if r < 0.97:
        return rng.randint(4001, 65535)
    return rng.randint(65536, 400_000)  # 64-bit length form


def control(rng, opcode, payload=None):
    return mask_frame(opcode, payload if payload is not None else rng.randbytes(rng.randint(0, 125)),
                      mask=rng.randbytes(4))


def close_frame(rng, plan=None):
    """A valid Close (code and reason, or empty); the code is noted in plan.close_code (the server echoes it)."""
    r = rng.random()
    if r < 0.1:
        if plan:
            plan.close_code = None
        return mask_frame(8, b"", mask=rng.randbytes(4))
    reason = random_text(rng, rng.randint(0, 40))[:123] if r < 0.5 else b""
    while reason:  # keep it valid UTF-8 after the cut
        try:
            reason.decode()
            break
        except UnicodeDecodeError:
            reason = reason[:-1]
    code = rng.choice(CLOSE_CODES)
    if plan:
        plan.close_code = code
    return mask_frame(8, struct.pack("!H", code) + reason, mask=rng.randbytes(4))


def message_frames(rng, opcode, data, deflate):
    """One data message as frames: maybe compressed (when negotiated), maybe fragmented with pings and pongs
    in between."""
    compressed = False
    if deflate and deflate["client_max_window_bits"] >= 9 and rng.random() < 0.6:
        data = compress_message(data, deflate["client_max_window_bits"])
        compressed = True
    pieces = [data]
    if len(data) > 1 and rng.random() < 0.3:
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        if rng.random() < 0.2:
            pieces.insert(rng.randint(1, len(pieces)), b"")  # an empty continuation
    frames = []
    for i, p in enumerate(pieces):
        if i and rng.random() < 0.25:
            frames.append(control(rng, rng.choice((9, 10))))
        frames.append(mask_frame(opcode if i == 0 else 0, p, fin=i == len(pieces) - 1, rsv1=compressed and i == 0,
                                 mask=rng.randbytes(4)))
    return frames


def echo_messages(rng, count):
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            out.append((1, random_text(rng, random_size(rng))))
        else:
            out.append((2, rng.randbytes(random_size(rng))))
    return out


def chat_messages(rng, idx, v2):
    """A chat session's messages: valid protocol, with some requests the server refuses (it answers error).
    Returns (messages, name, the chat lines sent while joined: each comes back as a message from name)."""
    name = f"u{idx}"
    room = f"room{rng.randint(0, 15)}"
    msgs, lines = [], []
    if v2 and rng.random() < 0.2:
        msgs.append({"type": "watch", "room": f"room{rng.randint(0, 15)}"})
    if v2 and rng.random() < 0.2:  # a stale position: refused, then the recent history
        msgs.append({"type": "resume", "room": room, "epoch": rng.randbytes(8).hex(), "seq": rng.randint(0, 99)})
    msgs.append({"type": "join", "name": name, "room": room} if v2 else {"type": "join", "name": name})
    for _ in range(rng.randint(0, 5)):
        r = rng.random()
        if r < 0.8:
            text = random_text(rng, rng.randint(1, 300)).decode()
            msgs.append({"type": "chat", "text": text})
            lines.append(text)
        elif r < 0.9 and v2:
            msgs.append({"type": "leave"})
            msgs.append({"type": "join", "name": name, "room": room})
        else:
            msgs.append("not json {")
    out = [(1, (m if isinstance(m, str) else json.dumps(m, ensure_ascii=False)).encode()) for m in msgs]
    if rng.random() < 0.1:
        out.append((2, rng.randbytes(rng.randint(0, 100))))  # binary: bad_message, the connection stays
    return out, name, lines


def frames_for(rng, messages, deflate):
    frames = []
    for opcode, data in messages:
        if rng.random() < 0.15:
            frames.append(control(rng, rng.choice((9, 10))))
        frames.extend(message_frames(rng, opcode, data, deflate))
    return frames


# ---- mutations ------------------------------------------------------------------------------------------------

def header_size(frame):
    n = frame[1] & 0x7F if len(frame) > 1 else 0
    return 2 + {126: 2, 127: 8}.get(n, 0) + (4 if len(frame) > 1 and frame[1] & 0x80 else 0)


def bend_length(rng, frame):
    if len(frame) < header_size(frame):
        return frame  # already cut inside its header (an earlier mutation): nothing to bend
    b0, b1 = frame[0], frame[1]
    body = frame[header_size(frame) - 4:] if b1 & 0x80 else frame[header_size(frame):]  # mask + payload
    n = b1 & 0x7F
    real = {126: lambda: struct.unpack_from("!H", frame, 2)[0], 127: lambda: struct.unpack_from("!Q", frame, 2)[0]}.get(n, lambda: n)()
    r = rng.random()
    if r < 0.3:
        new = max(0, real + rng.randint(-8, 8))
    elif r < 0.45:
        new = rng.choice((126, 127, 125, 65535, 65536))
    elif r < 0.6:
        new = rng.choice((2**63 - 1, 2**63 + 5, 2**64 - 1, 2**32, 16 * 1024 * 1024 + 1, 64 * 1024 + 1))
    else:
        new = rng.randint(0, 2**rng.choice((7, 16, 20, 31)))
    form = rng.random()
    if new < 126 and form < 0.6:
        head = bytes((b0, (b1 & 0x80) | new))
    elif new < 65536 and form < 0.85:
        head = bytes((b0, (b1 & 0x80) | 126)) + struct.pack("!H", new)  # maybe not minimal
    else:
        head = bytes((b0, (b1 & 0x80) | 127)) + struct.pack("!Q", new % 2**64)
    return head + body


def tweak_header(rng, frame):
    f = bytearray(frame)
    r = rng.random()
    if r < 0.25:
        f[0] ^= rng.choice((0x10, 0x20, 0x40, 0x70))  # RSV bits
    elif r < 0.45:
        f[0] = (f[0] & 0xF0) | rng.choice((3, 4, 5, 6, 7, 11, 12, 13, 14, 15))  # reserved opcode
    elif r < 0.6:
        f[0] ^= 0x80  # FIN
    elif r < 0.75:
        f[1] &= 0x7F  # unmasked client frame
    else:
        f[0] = (f[0] & 0xF0) | rng.choice((0, 1, 2, 8, 9, 10))  # wrong place for this opcode
    return bytes(f)


def mutate(rng, frames, stats):
    frames = list(frames)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        if not frames:
            frames.append(rng.randbytes(rng.randint(1, 20)))
        i = rng.randrange(len(frames))
        f = frames[i]
        r = rng.random()
        if r < 0.25 and f:
            kind = "flip"
            b = bytearray(f)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(min(len(b), 14)) if rng.random() < 0.5 else rng.randrange(len(b))
                b[at] ^= rng.randint(1, 255)
            frames[i] = bytes(b)
        elif r < 0.45 and len(f) >= 2:
            kind = "bend"
            frames[i] = bend_length(rng, f)
        elif r < 0.6 and len(f) >= 2:
            kind = "header"
            frames[i] = tweak_header(rng, f)
        elif r < 0.72 and f:
            kind = "cut"
            if rng.random() < 0.5:
                frames[i] = f[:rng.randrange(len(f))]
            else:
                a = rng.randrange(len(f))
                frames[i] = f[:a] + f[a + rng.randint(1, 64):]
        elif r < 0.84:
            kind = "repeat"
            if rng.random() < 0.5 or not f:
                frames.insert(i, f)
            else:
                a = rng.randrange(len(f))
                b = rng.randint(a + 1, min(len(f), a + 64))
                frames[i] = f[:b] + f[a:b] + f[b:]
        elif r < 0.92:
            kind = "garbage"
            frames.insert(i, rng.randbytes(rng.randint(1, 40)))
        else:
            kind = "drop"
            del frames[i]
        stats[kind] = stats.get(kind, 0) + 1
    return frames


def split_writes(rng, data):
    """Writes cut at random byte positions: whole, a few pieces, or (small streams) one byte at a time."""
    if len(data) <= 1:
        return [data]
    r = rng.random()
    if r < 0.3:
        return [data]
    if r < 0.4 and len(data) <= 300:
        return [data[i:i + 1] for i in range(len(data))]
    cuts = sorted(set(rng.randrange(1, len(data)) for _ in range(rng.randint(1, 10))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def send_stream(rng, data):
    """Commands sending data in randomly split writes, with short pauses now and then."""
    for piece in split_writes(rng, data):
        yield ("send", piece)
        if rng.random() < 0.15:
            yield ("sleep", rng.uniform(0.001, 0.03))


def bad_handshake(rng, req):
    r = rng.random()
    if r < 0.3:
        b = bytearray(req)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randint(0, 255)
        return bytes(b)
    if r < 0.45:
        return req.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: " + rng.choice((b"8", b"", b"13, 8", b"999999999999")))
    if r < 0.55:
        return re.sub(rb"Sec-WebSocket-Key: [^\r]*\r\n", b"", req)
    if r < 0.65:
        return req.replace(b"\r\n\r\n", b"\r\nX-Long: " + b"a" * rng.randint(4000, 70000) + b"\r\n\r\n")
    if r < 0.75:
        return req.replace(b"Upgrade: websocket", b"Upgrade: h2c")
    if r < 0.85:
        return req.replace(b"GET ", rng.choice((b"POST ", b"GET  ", b"")), 1)
    return req.replace(b"\r\n", b"\n")


# ---- one connection's plan --------------------------------------------------------------------------------------
# A plan is a generator of commands; the event loop runs them and sends back their results:
#   ("send", bytes)          queue bytes (written as the socket accepts them)
#   ("sleep", s)             wait (reading all the while)
#   ("head", timeout)        -> the response head (bytes) or None (EOF/timeout)
#   ("close_frame", timeout) -> the server's Close frame payload, or None (EOF/timeout)
#   ("eof", timeout)         -> True once the server closed TCP
#   ("fin",)                 shutdown(SHUT_WR)
#   ("rst",)                 SO_LINGER 0 and close: the end
# The plan ending closes the socket (an RST if echoes are unread).

SCENARIOS = [("valid", 30), ("mutated", 34), ("pipelined", 8), ("bad_handshake", 7), ("slow_handshake", 4),
             ("abrupt", 10), ("noread", 4), ("half_open", 3)]
ENDINGS = [("close_frame", 25), ("rst", 20), ("close_unread", 20), ("half_close", 15), ("hold", 10),
           ("read_then_close", 10)]


if os.environ.get("DUPLEX_STRESS_SCENARIOS"):  # a debugging aid: only these (comma-separated)
    SCENARIOS = [(k, w) for k, w in SCENARIOS if k in os.environ["DUPLEX_STRESS_SCENARIOS"].split(",")]


def pick(rng, table):
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


class Plan:
    def __init__(self, kind, idx, seed, port):
        self.kind = kind  # "echo" or "chat"
        self.idx = idx
        self.port = port
        self.rng = random.Random(f"{seed}/{kind}/{idx}")
        self.scenario = pick(self.rng, SCENARIOS)
        self.ending = None
        self.verify = False
        self.failure = None  # set by the checks of a verified connection
        self.sent = []  # verified: the data messages sent
        self.offer = None
        self.deflate = None
        self.mutations = {}
        self.close_code = None
        self.v2 = kind == "chat" and self.rng.random() < 0.7  # duplex.chat.v2 offered (so spoken), or v1
        self.name, self.lines = None, []

    def request(self, offer):
        rng = self.rng
        protocols = None
        if self.kind == "chat":
            protocols = "duplex.chat.v2" if self.v2 else (None if rng.random() < 0.5 else "duplex.chat.v1")
            path = "/ws/chat"
        else:
            path = rng.choice(("/", "/echo", "/a/b?c=d"))
        return handshake_request("127.0.0.1", self.port, path, offer, protocols,
                                 key=base64.b64encode(rng.randbytes(16)).decode())

    def messages(self, count=None):
        if self.kind == "chat":
            msgs, self.name, self.lines = chat_messages(self.rng, self.idx, self.v2)
            return msgs
        return echo_messages(self.rng, count if count is not None else self.rng.randint(1, 8))

    def run(self):
        rng = self.rng
        s = self.scenario
        self.offer = rng.choice(OFFERS) if rng.random() < 0.5 else None
        if s == "abrupt":
            when = rng.random()
            if when < 0.25:
                yield ("rst",)  # right after connect
                return
            yield from send_stream(rng, self.request(self.offer)[:rng.randint(1, 60)] if when < 0.5 else self.request(self.offer))
            if when >= 0.5:
                head = yield ("head", 5)
                if head and when >= 0.75:
                    data = b"".join(frames_for(rng, self.messages(), self.deflate_of(head)))
                    yield ("send", data[:rng.randint(1, max(1, len(data) - 1))])
            yield ("rst",)
            return
        if s == "bad_handshake":
            yield from send_stream(rng, bad_handshake(rng, self.request(self.offer)))
            yield ("head", 3)
            yield from self.end(rng.choice(("rst", "close_unread", "half_close")))
            return
        if s == "slow_handshake":
            req = self.request(self.offer)
            cut = rng.randint(1, len(req) - 1)
            yield ("send", req[:cut])
            yield ("sleep", rng.uniform(0.2, 3.0))
            if rng.random() < 0.5:
                yield ("send", req[cut:])
                yield ("head", 3)
            yield from self.end(rng.choice(("rst", "close_unread", "half_close")))
            return
        if s == "pipelined":
            # handshake and frames in one stream: no offer, so the frames' form is known before the answer
            self.offer = None
            msgs = self.messages()
            frames = frames_for(rng, msgs, None)
            mutated = rng.random() < 0.6
            if mutated:
                frames = mutate(rng, frames + [close_frame(rng)], self.mutations)
            else:
                self.verify, self.sent = True, msgs
            yield from send_stream(rng, self.request(None) + b"".join(frames))
            head = yield ("head", 10)
            if mutated:
                yield from self.end(rng.choice(("rst", "close_unread", "half_close", "close_frame")))
                return
            if self.check_head(head):
                yield from self.finish_valid()
            return

        yield from send_stream(rng, self.request(self.offer))
        head = yield ("head", 10)
        if head is None or not head.startswith(b"HTTP/1.1 101"):
            self.verify = s == "valid"
            self.check_head(head)
            return
        self.deflate = self.deflate_of(head)
        if s == "half_open":
            # a connection that says nothing and never closes: cut when the stage ends (or after a while)
            yield ("sleep", rng.uniform(2.0, 20.0))
            yield ("rst",) if rng.random() < 0.5 else ("sleep", 0)
            return
        if s == "noread":
            # a client that does not read its echoes (the server's queue and TCP push back)
            msgs = self.messages(rng.randint(5, 40))
            yield from send_stream(rng, b"".join(frames_for(rng, msgs, self.deflate)))
            yield ("sleep", rng.uniform(0.1, 2.0))
            yield from self.end(rng.choice(("rst", "close_unread")))
            return
        msgs = self.messages()
        frames = frames_for(rng, msgs, self.deflate)
        if s == "valid":
            self.verify, self.sent = True, msgs
            for part in self.batches(frames):
                yield from send_stream(rng, part)
                if rng.random() < 0.3:
                    yield ("sleep", rng.uniform(0.001, 0.05))
            yield from self.finish_valid()
            return
        # mutated
        if rng.random() < 0.5:
            frames.append(close_frame(rng))
        frames = mutate(rng, frames, self.mutations)
        yield from send_stream(rng, b"".join(frames))
        yield from self.end(pick(rng, ENDINGS))

    def finish_valid(self):
        """A valid connection's end: every answer (echoes; the chat's joined and our lines back), then the Close
        handshake (the server echoes our code). The Close waits for the answers: what arrives in the same read
        as a Close is handed to the server's handler after the Close was answered, when replies are refused."""
        rng = self.rng
        answered = yield ("until", self.answered, 15)
        if not answered:
            self.failure = "the answers did not come (the server closed, or 15 s passed)"
            return
        yield from send_stream(rng, close_frame(rng, self))
        code = yield ("close_frame", 15)
        self.check_close(code)
        yield from self.end(rng.choice(("close_unread", "rst", "half_close")))

    def our_lines(self, got):
        out = []
        for kind, data in got:
            if kind == "text":
                m = json.loads(data)
                if m.get("type") == "message" and m.get("from") == self.name:
                    out.append(m.get("text"))
        return out

    def answered(self, conn):
        if self.kind == "echo":
            return len(conn.got) >= len(self.sent)
        try:
            return len(self.our_lines(conn.got)) >= len(self.lines) and any(b'"joined"' in d for k, d in conn.got if k == "text")
        except ValueError:
            return True  # not JSON: check_messages says so

    @staticmethod
    def batches(frames):
        out, cur = [], b""
        for f in frames:
            cur += f
            if len(cur) > 2000:
                out.append(cur)
                cur = b""
        return out + [cur] if cur else out

    def deflate_of(self, head):
        _, headers = parse_response_head(head.split(b"\r\n\r\n")[0])
        return deflate_params(headers.get("sec-websocket-extensions"))

    def end(self, how):
        rng = self.rng
        self.ending = how
        if how == "close_frame":
            yield ("send", close_frame(rng))
            yield ("close_frame", 3)
        elif how == "rst":
            yield ("rst",)
        elif how == "half_close":
            yield ("fin",)
            yield ("eof", 4)
        elif how == "hold":
            yield ("sleep", rng.uniform(0.5, 4.0))
        elif how == "read_then_close":
            yield ("sleep", 0.2)
        # close_unread: just close

    def check_head(self, head):
        if head is None:
            self.failure = "no handshake answer"
            return False
        if not head.startswith(b"HTTP/1.1 101"):
            self.failure = f"handshake refused: {head[:60]!r}"
            return False
        return True

    def check_close(self, payload):
        if payload is None:
            if not self.failure:
                self.failure = "no Close from the server"
            return
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        if code != self.close_code and not self.failure:
            self.failure = f"closed with {code} {payload[2:]!r} (sent {self.close_code})"

    def check_messages(self, got):
        """Verified connections: what came back (data messages, in order) against what was sent."""
        if self.failure:
            return
        if self.kind == "echo":
            want = [("text" if op == 1 else "binary", d) for op, d in self.sent]
            if got != want:
                diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                self.failure = f"echo differs at message {diff} (got {len(got)} messages, sent {len(want)})"
        else:
            texts = [d for k, d in got if k == "text"]
            try:
                types = [json.loads(t)["type"] for t in texts]
                lines = self.our_lines(got)
            except (ValueError, KeyError, TypeError) as e:
                self.failure = f"chat: a reply that is not a typed JSON object ({e})"
                return
            if "joined" not in types:
                self.failure = f"chat: the join was not answered with joined (got {types[:8]})"
            elif lines != self.lines:
                self.failure = f"chat: {len(self.lines)} lines sent, {len(lines)} came back from {self.name}, or not the same"


# ---- the event loop -----------------------------------------------------------------------------------------

class Conn:
    def __init__(self, loop, plan):
        self.loop, self.plan = loop, plan
        self.gen = plan.run()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.rx_head = bytearray()
        self.head = None
        self.parser = None
        self.got = []  # verified: data messages received
        self.close_payload = None
        self.eof = False
        self.done = False
        self.connected = False
        self.wait = None  # (command, ...) the plan waits for
        self.token = 0
        self.after_flush = False
        self.registered = 0
        self.started = time.monotonic()
        err = self.sock.connect_ex(("127.0.0.1", loop.port))
        if err not in (0, errno.EINPROGRESS):
            loop.stats["connect_error"] += 1
            self.finish()
            return
        self.set_interest(selectors.EVENT_WRITE)

    def set_interest(self, ev):
        if self.done or ev == self.registered:
            return
        if self.registered and ev:
            self.loop.sel.modify(self.sock, ev, self)
        elif ev:
            self.loop.sel.register(self.sock, ev, self)
        else:
            self.loop.sel.unregister(self.sock)
        self.registered = ev

    def interest(self):
        ev = 0
        if not self.eof and (self.plan.scenario != "noread" or self.head is None):
            ev |= selectors.EVENT_READ
        if self.out or not self.connected:
            ev |= selectors.EVENT_WRITE
        return ev

    def on_event(self, mask):
        if self.done:
            return
        if not self.connected and mask & selectors.EVENT_WRITE:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.loop.stats["connect_error"] += 1
                self.loop.errors.append(f"connect: {os.strerror(err)}")
                self.finish()
                return
            self.connected = True
            self.step(None)
            return
        if mask & selectors.EVENT_READ:
            self.on_readable()
        if not self.done and mask & selectors.EVENT_WRITE:
            self.flush()
            if not self.done and not self.out and self.after_flush:
                self.after_flush = False
                self.step(None)
        if not self.done:
            self.set_interest(self.interest())

    def on_readable(self):
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
            self.set_interest(self.interest())
            self.wake()
            return
        self.loop.stats["bytes_in"] += len(data)
        if self.head is None:
            self.rx_head += data
            at = self.rx_head.find(b"\r\n\r\n")
            if at < 0:
                if len(self.rx_head) > 65536:
                    self.head = bytes(self.rx_head)
                    self.wake()
                return
            self.head = bytes(self.rx_head[:at + 4])
            data = bytes(self.rx_head[at + 4:])
            self.rx_head = bytearray()
            if self.head.startswith(b"HTTP/1.1 101"):
                self.parser = FrameParser(self.plan.deflate_of(self.head))
            self.wake()
        if self.parser is not None and data:
            self.parser.feed(data)
            try:
                if self.plan.verify:
                    for kind, payload in self.parser.messages():
                        if kind in ("text", "binary"):
                            self.got.append((kind, payload))
                        elif kind == "close" and self.close_payload is None:
                            self.close_payload = payload
                else:
                    for _, _, opcode, payload in self.parser.frames():
                        if opcode == 8 and self.close_payload is None:
                            self.close_payload = payload
            except (ValueError, zlib.error) as e:  # a malformed reply is a finding
                if self.plan.verify and not self.plan.failure:
                    self.plan.failure = f"bad frames from the server: {e}"
                self.parser = None
            self.wake()

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                self.loop.stats["send_error"] += 1
                if self.plan.verify and not self.plan.failure:
                    self.plan.failure = "the server reset a valid connection"
                self.finish()
                return False
            self.loop.stats["bytes_out"] += n
            del self.out[:n]
        return True

    def wake(self):
        """Something arrived that the plan may be waiting for."""
        w = self.wait
        if not w:
            return
        if w[0] == "head" and (self.head is not None or self.eof):
            self.resume(self.head)
        elif w[0] == "close_frame" and (self.close_payload is not None or self.eof):
            self.resume(self.close_payload)
        elif w[0] == "eof" and self.eof:
            self.resume(True)
        elif w[0] == "until":
            if w[1](self):
                self.resume(True)
            elif self.eof or self.close_payload is not None:
                self.resume(False)

    def resume(self, value):
        self.wait = None
        self.token += 1
        self.step(value)

    def on_timer(self, token):
        if self.done or token != self.token:
            return
        self.wait = None  # a sleep is over, or a wait timed out (its result: None)
        self.token += 1
        self.step(None)

    def step(self, value):
        while not self.done:
            try:
                cmd = self.gen.send(value)
            except StopIteration:
                self.finish()
                return
            value = None
            op = cmd[0]
            if op == "send":
                self.out += cmd[1]
                if not self.flush():
                    if not self.done:
                        self.after_flush = True
                        self.set_interest(self.interest())
                    return
            elif op == "sleep":
                self.wait = cmd
                self.loop.timer(cmd[1], self)
                self.set_interest(self.interest())
                return
            elif op in ("head", "close_frame", "eof", "until"):
                self.wait = cmd
                self.wake()
                if self.wait is cmd:
                    self.loop.timer(cmd[-1], self)
                    self.set_interest(self.interest())
                return
            elif op == "fin":
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            elif op == "rst":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.loop.stats["rst"] += 1
                self.finish()
                return

    def finish(self, cut=False):
        if self.done:
            return
        self.done = True
        if self.registered:
            self.loop.sel.unregister(self.sock)
            self.registered = 0
        self.sock.close()
        self.loop.finished(self, cut)


class Loop:
    def __init__(self, kind, port, seed, concurrency, seconds):
        self.kind, self.port, self.seed = kind, port, seed
        self.concurrency, self.seconds = concurrency, seconds
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self.tseq = 0
        self.active = set()
        self.started = 0
        self.errors = []
        self.failures = []
        self.stats = {k: 0 for k in ("connect_error", "send_error", "rst", "bytes_in", "bytes_out", "verified_ok",
                                     "verified_failed", "cut_at_end", "max_open")}
        self.scenarios = {}
        self.endings = {}
        self.mutations = {}

    def timer(self, delay, conn):
        self.tseq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay, self.tseq, conn, conn.token))

    def finished(self, conn, cut):
        self.active.discard(conn)
        p = conn.plan
        self.scenarios[p.scenario] = self.scenarios.get(p.scenario, 0) + 1
        if p.ending:
            self.endings[p.ending] = self.endings.get(p.ending, 0) + 1
        for k, v in p.mutations.items():
            self.mutations[k] = self.mutations.get(k, 0) + v
        if cut:
            self.stats["cut_at_end"] += 1
            return
        if p.verify:
            p.check_messages(conn.got)
            if p.failure:
                self.stats["verified_failed"] += 1
                self.failures.append(f"connection {p.idx} ({p.scenario}, offer {p.offer!r}): {p.failure}")
            else:
                self.stats["verified_ok"] += 1

    def run(self, server):
        t0 = time.monotonic()
        end = t0 + self.seconds
        last_report = t0
        while True:
            now = time.monotonic()
            if now < end:
                while len(self.active) < self.concurrency:
                    c = Conn(self, Plan(self.kind, self.started, self.seed, self.port))
                    self.started += 1
                    if not c.done:
                        self.active.add(c)
                self.stats["max_open"] = max(self.stats["max_open"], len(self.active))
            elif not self.active or now > end + 2.0:
                break
            if now - last_report >= 5.0:
                last_report = now
                log(f"  {now - t0:4.1f} s: {self.started} connections, {len(self.active)} open, "
                    f"server CPU {server.ticks()} ticks so far, RSS {server.rss_kb() // 1024} MiB")
                if not server.alive():
                    break
            timeout = 0.05
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - now))
            for key, mask in self.sel.select(timeout):
                key.data.on_event(mask)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, conn, token = heapq.heappop(self.timers)
                if not conn.done:
                    conn.on_timer(token)
                    if not conn.done:
                        conn.set_interest(conn.interest())
        # what is still open at the end (half-open ones, slow ones) is closed now: plainly, or with an RST
        for c in list(self.active):
            if c.plan.rng.random() < 0.5:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.finish(cut=True)
        self.sel.close()
        return time.monotonic() - t0


# ---- one server's stage -------------------------------------------------------------------------------------------

def chat_gauge(port, name):
    status, body = http_get(port, "/metrics")
    if status != 200:
        return None
    m = re.search(rb"^" + name.encode() + rb" ([0-9.e+]+)$", body, re.M)
    return float(m.group(1)) if m else None


def chat_client_works(port, name):
    """A normal chat client (duplex.chat.v2, deflate offered like a browser): join gets joined; a line comes back."""
    c = Client(port, "/ws/chat", extensions="permessage-deflate; client_max_window_bits", protocols="duplex.chat.v2")
    c.send(json.dumps({"type": "join", "name": name, "room": "check"}))
    types = []
    while "joined" not in types:
        kind, data = c.recv()
        if kind == "close":
            raise AssertionError(f"chat: closed before joined: {data!r}")
        types.append(json.loads(data)["type"])
    c.send(json.dumps({"type": "chat", "text": "still here"}), compress=True)
    while True:
        kind, data = c.recv()
        if kind == "close":
            raise AssertionError(f"chat: closed before the line came back: {data!r}")
        m = json.loads(data)
        if m["type"] == "message" and m.get("text") == "still here" and m.get("from") == name:
            break
    code = c.close()
    if code != 1000:
        raise AssertionError(f"chat: close answered with {code}")
    return True


def normal_client(kind, srv, when):
    try:
        if kind == "echo":
            return echo_roundtrip(srv.port, extensions="permessage-deflate; client_max_window_bits") and echo_roundtrip(srv.port), ""
        status, body = http_get(srv.port, "/healthz")
        if status != 200:
            return False, f"GET /healthz: {status} {body[:80]!r}"
        return chat_client_works(srv.port, when), ""
    except Exception as e:  # noqa: BLE001 - reported as the check's failure
        return False, f"{type(e).__name__}: {e}"


def wait_until(pred, timeout, step=0.1):
    until = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= until:
            return v
        time.sleep(step)


def stage(kind, binary, args, seed, checks, scratch):
    log(f"\n==== {kind}: {binary} ====")
    t_stage = time.monotonic()
    if kind == "echo":
        argv = [binary, "--quiet", "--host", "127.0.0.1", "--port", "0", "--deflate", "--deflate-takeover"]
    else:
        data = os.path.join(scratch, "chat-data")
        root = os.path.join(scratch, "root")
        os.makedirs(root, exist_ok=True)
        argv = [binary, "--host", "127.0.0.1", "--port", "0", "--root", root, "--data", data, "--threads", "2"]
    env, quarantine_mb = server_env()
    srv = Server(argv, f"duplex-{kind}", env=env)
    result = {}
    try:
        ok, why = normal_client(kind, srv, "before")  # warm up: what a first client allocates is part of the baseline
        checks.check(ok, f"{kind}: a normal client is served before the stress {why}")
        time.sleep(0.3)
        fds0 = srv.open_fds()
        rss0 = srv.rss_kb()
        asan = srv.sanitized()
        mode = f"AddressSanitizer, quarantine {quarantine_mb} MiB" if asan else "no sanitizer"
        slack_mb = rss_slack_mb(kind, asan, quarantine_mb)
        log(f"{kind}: baseline RSS {rss0 / 1024:.1f} MiB, {fds0} open descriptors ({mode})")
        log(f"{kind}: {args.seconds:g} s, {args.concurrency} connections at once, seed {seed}")

        loop = Loop(kind, srv.port, seed, args.concurrency, args.seconds)
        took = loop.run(srv)
        st = loop.stats
        log(f"{kind}: {loop.started} connections in {took:.1f} s (at most {st['max_open']} open); "
            f"{st['bytes_out'] / 1e6:.1f} MB sent, {st['bytes_in'] / 1e6:.1f} MB received; "
            f"{st['rst']} RSTs, {st['send_error']} writes refused by a closed connection, {st['cut_at_end']} cut at the end")
        log(f"{kind}: scenarios {dict(sorted(loop.scenarios.items()))}")
        log(f"{kind}: endings {dict(sorted(loop.endings.items()))}")
        log(f"{kind}: mutations {dict(sorted(loop.mutations.items()))}")
        peak = srv.peak_rss_kb() if srv.alive() else 0
        log(f"{kind}: peak RSS during the stress {peak / 1024:.1f} MiB")

        checks.check(srv.alive(), f"{kind}: the server survived the stress")
        if not srv.alive():
            log("server output:\n" + srv.output())
            return result
        checks.check(loop.started >= 200, f"{kind}: hundreds of connections ({loop.started})")
        checks.check(st["connect_error"] == 0, f"{kind}: every connect accepted ({st['connect_error']} failed: {loop.errors[:3]})")
        checks.check(st["verified_ok"] >= 20 and st["verified_failed"] == 0,
                     f"{kind}: valid connections answered right ({st['verified_ok']} checked, {st['verified_failed']} wrong)")
        for f in loop.failures[:10]:
            log("        " + f)

        # The clients are gone (every socket closed, half of the last ones with an RST): the server's
        # connections must go too, at once (not at a keepalive ping, 30 s later).
        t_closed = time.monotonic()
        fds = wait_until(lambda: srv.open_fds() <= fds0 and srv.open_fds(), CLOSE_WAIT) or srv.open_fds()
        if not checks.check(fds <= fds0, f"{kind}: the server closed its connections: open descriptors back to "
                                         f"the baseline within {CLOSE_WAIT:g} s ({fds}, baseline {fds0})"):
            for line in (srv.tcp_sockets() + [l for l in srv.fd_links() if "socket:" in l])[:20]:
                log("        " + line)
        if kind == "chat":
            left = max(0.5, CLOSE_WAIT - (time.monotonic() - t_closed))
            conns = wait_until(lambda: chat_gauge(srv.port, "duplex_connections") == 0, left)
            checks.check(conns, f"{kind}: duplex_connections back to 0 (now {chat_gauge(srv.port, 'duplex_connections'):.0f}); "
                                f"{chat_gauge(srv.port, 'duplex_connections_opened_total'):.0f} opened in all")
        time.sleep(0.5)
        pct, ticks = srv.cpu_percent(2.0)
        checks.check(pct < IDLE_PERCENT, f"{kind}: idle once the clients are gone: {pct:.1f}% of a core over 2 s "
                                         f"({ticks} ticks; limit {IDLE_PERCENT:.0f}%)")
        rss1 = srv.rss_kb()
        checks.check(rss1 <= rss0 + slack_mb * 1024,
                     f"{kind}: RSS {rss1 / 1024:.1f} MiB after, baseline {rss0 / 1024:.1f} MiB: "
                     f"+{(rss1 - rss0) / 1024:.1f} MiB (bound +{slack_mb:g} MiB, {mode})")
        ok, why = normal_client(kind, srv, "after")
        checks.check(ok, f"{kind}: a normal client is served after the stress "
                         f"({'echo round trips with and without deflate' if kind == 'echo' else 'GET /healthz 200, join, a line back'}) {why}")
        exited, rc, took_stop = srv.terminate(5.0)
        checks.check(exited, f"{kind}: SIGTERM stops the server within 5 s (took {took_stop:.2f} s)")
        if exited:
            checks.check(rc == 0, f"{kind}: exit status 0 (got {rc})")
        result = {"rss0": rss0, "rss1": rss1, "peak": peak, "cpu": pct, "ticks": ticks, "connections": loop.started}
    finally:
        srv.kill()
        if checks.failed:
            log(f"{kind} server output (last lines):\n" + srv.output(30))
    log(f"{kind}: stage took {time.monotonic() - t_stage:.1f} s")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--echo", required=True)
    ap.add_argument("--chat", required=True)
    ap.add_argument("--only", choices=("echo", "chat"))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("DUPLEX_STRESS_SECONDS", "15")))
    ap.add_argument("--concurrency", type=int, default=int(os.environ.get("DUPLEX_STRESS_CONCURRENCY", "64")))
    args = ap.parse_args()
    seed_env = os.environ.get("DUPLEX_STRESS_SEED")
    seed = int(seed_env) if seed_env else random.SystemRandom().randrange(1, 2**31)
    log(f"seed {seed} (replay with DUPLEX_STRESS_SEED={seed})")
    t0 = time.monotonic()
    checks = Checks()
    scratch = tempfile.mkdtemp(prefix="duplex-stress-")
    results = {}
    try:
        for kind in ("echo", "chat"):
            if args.only in (None, kind):
                results[kind] = stage(kind, getattr(args, kind), args, seed, checks, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"\nseed {seed}; took {time.monotonic() - t0:.1f} s")
    checks.exit()


if __name__ == "__main__":
    main()
