"""The sandbox as an httpx transport: the whole API in-process, no sockets, for tests and
--sandbox."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from .app import Sandbox
from .usage import Query

SANDBOX_BASE_URL = "https://sandbox.ideogram.invalid"


class SandboxTransport(httpx.BaseTransport):
    """Hands each request to a `Sandbox`; turns its drops and stalls into httpx's own errors."""

    def __init__(
        self,
        sandbox: Sandbox,
        observers: list[Callable[[httpx.Request, httpx.Response], None]] | None = None,
    ):
        self.sandbox = sandbox
        self.observers = list(observers or [])

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        result = self.sandbox.handle(
            request.method,
            request.url.path,
            Query(list(request.url.params.multi_items())),
            dict(request.headers),
            request.read(),
            client_timeout=timeout,
        )
        if result.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if result.timed_out:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        response = httpx.Response(
            result.status, headers=result.headers, content=result.body, request=request
        )
        for observe in self.observers:
            observe(request, response)
        return response
