"""A hostile HTTP server on loopback for the client's bounds: every request gets one bad answer.

Behaviours: `bomb` (a gzip body that inflates without end), `huge` (Content-Length of 2 GB),
`endless` (chunked, never ending), `drip` (a valid answer, one byte a second), `deep` (JSON
nested 100,000 levels, on a 500). It stops by itself when the test ends, and never sends more
than MAX_SECONDS of traffic.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

MAX_SECONDS = 30.0
_ZEROS = bytes(1 << 20)


def _gzip_bomb() -> Iterator[bytes]:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    while True:
        yield packer.compress(_ZEROS)


def _bomb() -> Iterator[bytes]:
    yield (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for piece in _gzip_bomb():
        if piece:
            yield b"%x\r\n%s\r\n" % (len(piece), piece)


def _huge() -> Iterator[bytes]:
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n"
    while True:
        yield _ZEROS


def _endless() -> Iterator[bytes]:
    yield (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    while True:
        yield b"%x\r\n%s\r\n" % (len(_ZEROS), _ZEROS)


def _drip() -> Iterator[bytes]:
    body = b'{"profiles": []}'
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )
    for byte in body:
        time.sleep(1.0)
        yield bytes([byte])


def _deep() -> Iterator[bytes]:
    body = b"[" * 100_000 + b"]" * 100_000
    yield (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


ANSWERS = {"bomb": _bomb, "huge": _huge, "endless": _endless, "drip": _drip, "deep": _deep}


def _answer(kind: str, connection: socket.socket) -> None:
    started = time.monotonic()
    for data in ANSWERS[kind]():
        if time.monotonic() - started > MAX_SECONDS:
            return
        connection.sendall(data)


@contextmanager
def hostile_server(kind: str) -> Iterator[str]:
    """The base URL of a server that answers every request with `kind`."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    def handle(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)  # the request; its content does not matter here
                _answer(kind, connection)
            except (OSError, TimeoutError):
                pass  # the client gave up, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)
