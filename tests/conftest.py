from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the steering folder, when it sits beside the checkout
SHARED_SPEC_DIR = ROOT.parent / "shared" / "spec"


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
from tests.spec_check import SpecChecker, check_sandbox_exchange  # noqa: E402


@pytest.fixture(autouse=True)
def own_lock_and_cache_folders(monkeypatch, tmp_path_factory):
    """Each test its own lock folder and state cache: locks are per organization id, and tests
    running at once apply to the same demo organization in separate sandboxes."""
    folder = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv("IDEOGRAM_ORG_LOCK_DIR", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("IDEOGRAM_ORG_STATE", raising=False)


@pytest.fixture(autouse=True)
def every_sandbox_response_follows_the_spec(monkeypatch, request):
    """Whatever a test does, every answer any sandbox gives is checked against the official spec.

    The check runs inside Sandbox.handle, so it covers the in-process transport and the HTTP server
    alike. Deviations are collected (a server thread cannot fail a test) and fail the test at the
    end.
    A test marked `off_spec` sends an off-spec answer on purpose (say, a role no spec has): it must
    then have sent at least one, so the mark cannot hide a sandbox that drifted from the spec.
    """
    deviations: list[str] = []
    original = Sandbox.handle

    def checked(self, method, path, query, headers, body, client_timeout=None):
        response = original(self, method, path, query, headers, body, client_timeout)
        if not response.drop and not response.timed_out:
            try:
                check_sandbox_exchange(
                    self.api_version,
                    method,
                    path,
                    query,
                    headers,
                    body,
                    response.status,
                    response.headers,
                    response.body,
                )
            except Exception as exc:  # noqa: BLE001 - any deviation is reported below
                deviations.append(
                    f"{method} {path} -> {response.status}: {type(exc).__name__}: {exc}"
                )
        return response

    monkeypatch.setattr(Sandbox, "handle", checked)
    yield
    if request.node.get_closest_marker("off_spec"):
        assert deviations, "a test marked off_spec sent no off-spec answer"
        return
    assert not deviations, "sandbox answers that break the official spec:\n" + "\n".join(
        deviations[:5]
    )


@pytest.fixture(params=API_VERSIONS)
def api_version(request) -> str:
    return request.param


@pytest.fixture
def spec_checker(api_version: str) -> SpecChecker:
    return SpecChecker(api_version)


def sandbox_http_client(
    sandbox: Sandbox,
    checker: SpecChecker | None = None,
    token: str | None = DEFAULT_TOKEN,
    timeout: float = 5.0,
) -> httpx.Client:
    """A raw httpx client on the in-process sandbox, every response checked against the spec."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    observers = [checker] if checker else []
    return httpx.Client(
        transport=SandboxTransport(sandbox, observers),
        base_url=SANDBOX_BASE_URL,
        headers=headers,
        timeout=timeout,
    )


@pytest.fixture
def demo(api_version: str) -> Sandbox:
    return Sandbox(demo_state(api_version))


def make_sandbox(state: SandboxState, faults: Faults | None = None) -> Sandbox:
    return Sandbox(state, faults)


def pytest_collection_modifyitems(config, items):
    """Tests that run the composite action (the `world` fixture) build its venv with pip once per
    module, about 12 s: they are slow, and the quick local run leaves them to CI."""
    for item in items:
        if "world" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
