#!/usr/bin/env python3
"""Writes the hand-made seeds of transport_fuzz into fuzz/corpus/transport/ (the input format is
described at the top of transport_fuzz.cpp). Inputs the fuzzer found are kept there under their own
names (crash-*, found_*); this script only (re)writes the seed_* files.
usage: fuzz/transport_seeds.py [FRAMES]   FRAMES: a busy-loop.frames replay file (one hex-encoded
write per line; default ../shared/repro/busy-loop.frames, skipped when missing)"""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "transport")
RAW, FRAME, NOMASK, LONG, WRITE, RUN, DRAIN, SHUT, RST, CLOSE, RECONNECT = 0, 10, 24, 26, 28, 40, 52, 56, 58, 60, 62


def cfg(batch=False, deflate=0, endpoint=0, reply=0, small_rcvbuf=False, action=0, k=1, fin=False,
        handshake_now=False):
    c0 = int(batch) | deflate << 1 | endpoint << 3 | reply << 5 | int(small_rcvbuf) << 7
    c1 = action | (k - 1) << 2 | int(fin) << 6 | int(handshake_now) << 7
    return bytes([c0, c1])


class Program:
    def __init__(self, *conns):
        self.b = bytearray([len(conns) - 1])
        for c in conns:
            self.b += c

    def op(self, kind, conn=0, *operands):
        self.b += bytes([kind << 2 | conn]) + bytes(operands)
        return self

    def raw(self, data, conn=0):
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            self.op(RAW, conn, len(chunk))
            self.b += chunk
        return self

    def frame(self, first, payload=b"", conn=0, masked=True):
        assert len(payload) < 256
        self.op(FRAME if masked else NOMASK, conn, first, len(payload))
        self.b += payload
        return self

    def long_frame(self, first, length, pattern=b"x", conn=0):
        assert length % 4 == 0 and length // 4 < 65536 and len(pattern) < 32
        self.op(LONG, conn, first, (length // 4) & 255, (length // 4) >> 8, len(pattern))
        self.b += pattern
        return self

    def write(self, n=0, conn=0): return self.op(WRITE, conn, n)
    def run(self, k=255): return self.op(RUN, 0, k - 1)
    def drain(self, conn=0): return self.op(DRAIN, conn)
    def shut(self, conn=0): return self.op(SHUT, conn)
    def rst(self, conn=0): return self.op(RST, conn)
    def close(self, conn=0): return self.op(CLOSE, conn)
    def reconnect(self, conn=0): return self.op(RECONNECT, conn)


def seeds(frames_path):
    out = {}
    # A plain echo, then the other read API with permessage-deflate (RFC 7692's "Hello").
    out["seed_echo"] = Program(cfg()).write().run().frame(0x81, b"hello").write().run().drain().b
    out["seed_batch_deflate"] = (Program(cfg(batch=True, deflate=1)).write().run()
                                 .frame(0xC1, bytes.fromhex("f248cdc9c90700")).frame(0x82, b"\x00\x01\x02")
                                 .write().run().drain().b)
    # The busy loop's shape: messages and a violation arrive in one read, and the client resets
    # before the server answers them (the replies' write fails).
    for batch in (False, True):
        name = "seed_violation_after_messages_then_reset" + ("_batch" if batch else "")
        out[name] = (Program(cfg(batch=batch)).write().run()
                     .frame(0x81, b"one").frame(0x81, b"two").frame(0x83, b"reserved opcode")
                     .write().rst().run().b)
    # Three connections, interleaved, sharing the io_context's buffers; one batch reader yields.
    p = Program(cfg(), cfg(batch=True, reply=3), cfg(batch=True, deflate=2, endpoint=1, action=3, k=2))
    for c in range(3):
        p.write(0, c)
    p.run()
    for i in range(4):
        for c in range(3):
            p.frame(0x81, b"msg %d from %d" % (i, c), c).write(0, c)
        p.run(3)
    p.frame(0x88, b"\x03\xe8", 1).write(0, 1).run().drain(0).drain(1).drain(2)
    out["seed_three_interleaved"] = p.b
    # Fragments split across writes, a ping in between; the echo of a big message to a small buffer.
    out["seed_fragments"] = (Program(cfg(batch=True, reply=2)).write().run().frame(0x01, b"frag")
                             .write().run(2).frame(0x89, b"ping").frame(0x80, b"ment").write(3).run(2)
                             .write().run().drain().b)
    out["seed_big_small_rcvbuf"] = (Program(cfg(reply=1, small_rcvbuf=True, endpoint=3)).write().run()
                                    .long_frame(0x82, 70000, b"0123456789").write().run().run().drain()
                                    .run().b)

    if frames_path and os.path.exists(frames_path):
        writes = [bytes.fromhex(l) for l in open(frames_path).read().split() if l]

        def replay(c, runs_between, end):
            p = Program(c).write().run()  # the script waits for the 101 before it writes
            for w in writes:
                if len(w) > 60000 and w[:2] == b"\x81\xff":  # 70000 'x' in one text frame
                    p.long_frame(0x81, int.from_bytes(w[2:10], "big"), b"x")
                else:
                    p.raw(w)
                p.write()
                if runs_between:
                    p.run(runs_between)
            p.drain()
            if end == "close":
                p.close()  # unread echoes make it a reset
            elif end == "rst":
                p.rst()
            return p.run().b

        out["seed_busy_loop_replay"] = replay(cfg(batch=True), 0, "close")
        out["seed_busy_loop_replay_paced"] = replay(cfg(batch=True), 1, "close")
        out["seed_busy_loop_replay_message"] = replay(cfg(), 2, "rst")
        out["seed_busy_loop_replay_deflate"] = replay(cfg(batch=True, deflate=1), 3, "close")
        out["seed_busy_loop_replay_small_rcvbuf"] = replay(cfg(batch=True, small_rcvbuf=True), 1, "rst")
    return out


if __name__ == "__main__":
    frames = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared", "repro",
                                                                 "busy-loop.frames")
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds(frames).items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
