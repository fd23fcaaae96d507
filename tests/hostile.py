"""An image host that misbehaves on purpose: a raw TCP server on 127.0.0.1, each behaviour chosen by the path.

Shared by ``tests/test_hostile_hosts.py`` and ``benchmarks/soak.py``. It stops
writing once the client hangs up, and every loop of it is bounded in time.
"""

import socketserver
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import IMAGES, in_background

PICTURE = (IMAGES / "hat-1.jpg").read_bytes()


def trickle(out, data: bytes, pause: float = 0.1, limit: float = 30.0) -> None:
    """Send ``data`` a byte at a time, over and over, for at most ``limit`` seconds."""
    ends = time.monotonic() + limit
    while time.monotonic() < ends:
        for byte in data:
            out.sendall(bytes([byte]))
            time.sleep(pause)


class Hostile(socketserver.BaseRequestHandler):
    def handle(self):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        path = request.split(b" ")[1].decode()
        send = self.request.sendall
        try:
            if path == "/trickled-headers":
                trickle(self.request, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000)
            elif path == "/endless-continue":
                for _ in range(100_000):
                    send(b"HTTP/1.1 100 Continue\r\n\r\n")
                    time.sleep(0.01)
            elif path == "/endless-trailers":
                send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n")
                for index in range(100_000):
                    send(f"X-Trailer-{index}: x\r\n".encode())
                    time.sleep(0.01)
            elif path == "/trickled-body":
                send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                trickle(self.request, b"\xff" * 100_000)
            elif path == "/banner":
                send(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")
                time.sleep(0.5)
            elif path.startswith("/status/"):
                send(f"HTTP/1.1 {path.split('/')[2]} Whatever\r\nContent-Length: 0\r\n\r\n".encode())
            elif path == "/cut-short":
                send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(PICTURE)}\r\n\r\n".encode() + PICTURE[:1000])
            elif path == "/odd-length":
                send("HTTP/1.1 200 OK\r\nContent-Length: ²\r\nConnection: close\r\n\r\n".encode() + PICTURE)
            elif path == "/echo-encoding":
                asked = next((line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                              if line.lower().startswith(b"accept-encoding:")), b"(none)")
                send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(asked)}\r\n\r\n".encode() + asked)
            elif path == "/picture":
                send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(PICTURE)}\r\n\r\n".encode() + PICTURE)
        except OSError:  # the function hung up, as it should
            pass


@contextmanager
def hostile_host() -> Iterator[str]:
    """Base URL of a running hostile host."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    with in_background(server) as url:
        yield url
