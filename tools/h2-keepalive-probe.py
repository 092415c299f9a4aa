#!/usr/bin/env python3
"""A raw HTTP/2 client for the gRPC keepalive rules of a server (tools/server-flags-check.sh).

    h2-keepalive-probe.py PORT pings   -- send a PING every 100 ms (no streams); print after which
                                          ping the server answered GOAWAY, its error code and debug
                                          data, and whether it then closed the connection
    h2-keepalive-probe.py PORT idle    -- send nothing after the preface and never acknowledge a
                                          PING; print after how long (rounded to 0.5 s) the server
                                          pinged and closed the connection

Bounded: every wait has a deadline (8 s in all).
"""
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.buf = b""
        self.closed = False
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))

    def frames(self, until):
        """Frames read before `until` (a time.monotonic() value) or the connection's end."""
        out = []
        while not self.closed and time.monotonic() < until:
            r, _, _ = select.select([self.s], [], [], max(0.0, until - time.monotonic()))
            if not r:
                break
            try:
                data = self.s.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                out.append((ftype, flags, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
            if out:
                break
        return out

    def ack_settings(self, frames):
        for ftype, flags, _ in frames:
            if ftype == SETTINGS and not flags & 1:
                self.s.sendall(frame(SETTINGS, 1, 0, b""))


def pings(port):
    c = Conn(port)
    for i in range(1, 9):
        c.s.sendall(frame(PING, 0, 0, struct.pack(">Q", i)))
        end = time.monotonic() + 0.1
        while time.monotonic() < end and not c.closed:
            fs = c.frames(end)
            c.ack_settings(fs)
            for ftype, _, payload in fs:
                if ftype == GOAWAY:
                    code = struct.unpack(">I", payload[4:8])[0]
                    debug = payload[8:].decode(errors="replace")
                    deadline = time.monotonic() + 2
                    while not c.closed and time.monotonic() < deadline:
                        c.frames(deadline)
                    print("GOAWAY after ping %d: code %d, debug %r, %s" % (i, code, debug, "closed" if c.closed else "left open"))
                    return
    print("no GOAWAY after 8 pings")


def idle(port):
    c = Conn(port)
    start = time.monotonic()
    pinged = None
    deadline = start + 8
    while not c.closed and time.monotonic() < deadline:
        fs = c.frames(deadline)
        c.ack_settings(fs)
        for ftype, flags, _ in fs:
            if ftype == PING and not flags & 1 and pinged is None:
                pinged = time.monotonic() - start
    closed = time.monotonic() - start if c.closed else None
    fmt = lambda t: "never" if t is None else "%.1f s" % (round(t * 2) / 2)
    print("server ping after %s, closed after %s" % (fmt(pinged), fmt(closed)))


if __name__ == "__main__":
    {"pings": pings, "idle": idle}[sys.argv[2]](int(sys.argv[1]))
