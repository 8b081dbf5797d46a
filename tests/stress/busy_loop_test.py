#!/usr/bin/env python3
"""native.net.busy_loop: regression test for the busy loop in session::read_messages (lib/src/net/websocket.cpp).

busy-loop.frames holds one connection's writes (one hex-encoded write per line: partly mutated frames, found
by a stress client). Sent to duplex-echo and followed by the client's close with the echoes unread (an RST),
they made the server's write of its replies fail while a protocol failure was pending; the read loop then went
round without ever waiting, and the server's only thread burnt a whole core for good (within 1-4 replays).

This test starts a real duplex-echo on 127.0.0.1 (a free port), replays those writes through real sockets
N times (DUPLEX_BUSY_LOOP_REPLAYS, default 10), and then asserts that
  - the server is idle: under 20 of 100 CPU ticks over 1 s (a spinning server takes ~100);
  - a normal client still gets its echo (a spinning server never gets to accept it);
  - SIGTERM stops it within 5 s (the signal is handled on the same loop, so this fails too while it spins).
usage: busy_loop_test.py DUPLEX_ECHO [FRAMES]"""
import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import CLK_TCK, Checks, Server, echo_roundtrip, handshake_request, log  # noqa: E402

IDLE_TICKS = 20  # of CLK_TCK (100) per second


def replay(port, writes, timeout=2.0):
    """One replay as the repro does it: handshake, every write, a short read, close (unread echoes: RST).
    False if the server did not answer the handshake (it is stuck)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(handshake_request("127.0.0.1", port, "/"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        if not buf.startswith(b"HTTP/1.1 101"):
            log(f"  handshake answer: {buf[:80]!r}")
            return False
        s.settimeout(0.2)
        try:
            for w in writes:
                s.sendall(w)
        except OSError:
            pass
        try:
            s.recv(65536)
        except OSError:
            pass
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def main():
    echo_bin = sys.argv[1]
    frames = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "busy-loop.frames")
    replays = int(os.environ.get("DUPLEX_BUSY_LOOP_REPLAYS", "10"))
    with open(frames) as f:
        writes = [bytes.fromhex(line) for line in f.read().split() if line]
    log(f"{len(writes)} writes, {sum(map(len, writes))} bytes per replay, {replays} replays")
    t_start = time.monotonic()
    checks = Checks()
    srv = Server([echo_bin, "--quiet", "--host", "127.0.0.1", "--port", "0"], "duplex-echo")
    try:
        answered = 0
        for i in range(1, replays + 1):
            if not replay(srv.port, writes):
                log(f"replay {i}: the server did not answer the handshake within 2 s")
                break
            answered += 1
            time.sleep(0.05)
        checks.check(answered == replays, f"the server answered every replay's handshake ({answered} of {replays})")
        checks.check(srv.alive(), "the server is still running")
        time.sleep(0.3)  # the last connection's close
        if srv.alive():
            pct, ticks = srv.cpu_percent(1.0)
            checks.check(ticks < IDLE_TICKS * CLK_TCK // 100,
                         f"idle with no client: {ticks} CPU ticks over 1 s ({pct:.0f}% of a core; limit {IDLE_TICKS} of {CLK_TCK})")
        try:
            ok = echo_roundtrip(srv.port)
        except Exception as e:  # noqa: BLE001 - reported as the check's failure
            log(f"  echo: {type(e).__name__}: {e}")
            ok = False
        checks.check(ok, "a normal client gets its echo (text, binary, 100 KB) and a clean close")
        exited, rc, took = srv.terminate(5.0)
        checks.check(exited, f"SIGTERM stops the server within 5 s (took {took:.2f} s)")
        if exited:
            checks.check(rc == 0, f"exit status 0 (got {rc})")
    finally:
        srv.kill()
        if checks.failed:
            log("server output (last lines):\n" + srv.output())
    log(f"took {time.monotonic() - t_start:.1f} s")
    checks.exit()


if __name__ == "__main__":
    main()
