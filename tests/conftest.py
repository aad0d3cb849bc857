from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT.parent / "shared" / "spec"


@pytest.fixture
def root() -> Path:
    return ROOT


import httpx  # noqa: E402

from reconciler.sandbox import (  # noqa: E402
    API_VERSIONS,
    DEFAULT_TOKEN,
    SANDBOX_BASE_URL,
    Faults,
    Sandbox,
    SandboxState,
    SandboxTransport,
)
from reconciler.sandbox.demo import demo_state  # noqa: E402
from tests.spec_check import SpecChecker  # noqa: E402


@pytest.fixture(params=API_VERSIONS)
def api_version(request) -> str:
    return request.param


@pytest.fixture
def spec_checker(api_version: str) -> SpecChecker:
    return SpecChecker(api_version)


def sandbox_http_client(sandbox: Sandbox, checker: SpecChecker | None = None,
                        token: str | None = DEFAULT_TOKEN, timeout: float = 5.0) -> httpx.Client:
    """A raw httpx client on the in-process sandbox, every response checked against the spec."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    observers = [checker] if checker else []
    return httpx.Client(transport=SandboxTransport(sandbox, observers), base_url=SANDBOX_BASE_URL,
                        headers=headers, timeout=timeout)


@pytest.fixture
def demo(api_version: str) -> Sandbox:
    return Sandbox(demo_state(api_version))


def make_sandbox(state: SandboxState, faults: Faults | None = None) -> Sandbox:
    return Sandbox(state, faults)
