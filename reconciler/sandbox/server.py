"""The sandbox over real HTTP on loopback: `ideogram-org sandbox serve`."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .app import Sandbox
from .usage import Query


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ideogram-sandbox"
        disable_nagle_algorithm = (
            True  # TCP_NODELAY: a small answer goes out at once, not 40 ms later
        )

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The Date header, on the sandbox's clock (which a test may set behind ours)."""
            moment = time.time() if timestamp is None else timestamp
            return formatdate(moment + sandbox.state.clock_offset, usegmt=True)

        def log_message(
            self, format: str, *args: Any
        ) -> None:  # quiet: requests carry bearer tokens
            return

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            query = Query(parse_qsl(url.query, keep_blank_values=True))
            result = sandbox.handle(self.command, url.path, query, dict(self.headers), body)
            if result.drop:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(result.status)
            for name, value in result.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(result.body)))
            self.end_headers()
            if result.body and self.command != "HEAD":
                self.wfile.write(result.body)

        def __getattr__(self, name: str) -> Callable[[], None]:
            # every method reaches the sandbox, which answers 405 for the ones a path does not take
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

    return Handler


SHUTDOWN_POLL = 0.02  # seconds between the serving loop's checks for a shutdown


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0):
        self.sandbox = sandbox
        super().__init__((host, port), _handler_for(sandbox))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out, hung up) is normal here: no traceback on stderr."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        address, port = self.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        """Serve on a thread; `shutdown()` returns within SHUTDOWN_POLL seconds (the standard
        library's half-second poll made every test that starts a server half a second longer)."""
        thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL},
            name="sandbox-server",
            daemon=True,
        )
        thread.start()
        return thread
