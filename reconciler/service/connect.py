"""Choosing what the tool talks to: the real API (token from the environment) or the sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, overload

from .. import defaults
from ..api.client import ApiClient, ApiReader
from ..api.credentials import check_endpoint, token_from_environment


@overload
def open_api(
    *,
    sandbox: bool = ...,
    endpoint: str | None = ...,
    writable: Literal[True],
    sandbox_state: str | Path = ...,
    timeout: float = ...,
    max_response_bytes: int = ...,
) -> ApiClient: ...


@overload
def open_api(
    *,
    sandbox: bool = ...,
    endpoint: str | None = ...,
    writable: Literal[False] = ...,
    sandbox_state: str | Path = ...,
    timeout: float = ...,
    max_response_bytes: int = ...,
) -> ApiReader: ...


def open_api(
    *,
    sandbox: bool = False,
    endpoint: str | None = None,
    writable: bool = False,
    sandbox_state: str | Path = defaults.SANDBOX_STATE,
    timeout: float = defaults.TIMEOUT_SECONDS,
    max_response_bytes: int = defaults.MAX_RESPONSE_BYTES,
) -> ApiReader:
    """A reader (or, with writable=True, a client) for the real API or the embedded sandbox.

    The sandbox keeps its state in `sandbox_state`, created from the demo organization on first
    use, and saves it after every accepted write. It is imported only when asked for.
    """
    cls = ApiClient if writable else ApiReader
    if sandbox:
        from ..sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport
        from ..sandbox.store import load_or_create_sandbox_state

        state = load_or_create_sandbox_state(sandbox_state)
        app = Sandbox(state, on_change=lambda s: s.save(sandbox_state))
        return cls(
            SANDBOX_BASE_URL,
            state.token,
            transport=SandboxTransport(app),
            timeout=timeout,
            max_response_bytes=max_response_bytes,
        )
    url = check_endpoint(endpoint or os.environ.get(defaults.ENDPOINT_ENV) or defaults.ENDPOINT)
    return cls(
        url, token_from_environment(), timeout=timeout, max_response_bytes=max_response_bytes
    )
