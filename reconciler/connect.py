"""Choosing what the tool talks to: the real API (token from the environment) or the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

from .client import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    ApiClient,
    ApiReader,
    check_endpoint,
    token_from_environment,
)
from .sandbox import SANDBOX_BASE_URL, Faults, Sandbox, SandboxTransport
from .sandbox.store import DEFAULT_SANDBOX_STATE, load_or_create_sandbox_state


def open_api(*, sandbox: bool = False, endpoint: str | None = None, writable: bool = False,
             sandbox_state: str | Path = DEFAULT_SANDBOX_STATE, faults: Faults | None = None,
             timeout: float = 30.0) -> ApiReader:
    """A reader (or, with writable=True, a client) for the real API or the embedded sandbox.

    The sandbox keeps its state in `sandbox_state`, created from the demo organization on first
    use, and saves it after every accepted write.
    """
    cls = ApiClient if writable else ApiReader
    if sandbox:
        state = load_or_create_sandbox_state(sandbox_state)
        app = Sandbox(state, faults, on_change=lambda s: s.save(sandbox_state))
        return cls(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(app), timeout=timeout)
    url = check_endpoint(endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT)
    return cls(url, token_from_environment(), timeout=timeout)
