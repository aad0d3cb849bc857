"""What a user sees when the organization is large: progress while waiting, output in short."""

from __future__ import annotations

import logging
import os
import pty
import select
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from reconciler import service
from reconciler.api.client import ApiReader
from reconciler.config.loader import load_config
from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport, generate_state
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from tests.clock import FakeClock
from tests.scenario import TOKEN, cli, served


def _removing(tmp_path: Path, removed: int) -> tuple[object, Path]:
    state = generate_state(
        members=removed + 10, keys=0, seed=8, org_name="acme", api_version="2026-06"
    )
    org = next(iter(state.organizations.values()))
    uids = list(org.members)
    lines = [
        "version: 1",
        "policy: {max_removals: 100%}",
        "organizations:",
        "  acme:",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in uids[:2]]
    lines += [f"      - {{user_id: {uid}}}" for uid in uids[2:10]]
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n")
    return state, path


def test_a_large_apply_report_shows_each_kind_in_short(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state, path = _removing(tmp_path, 120)
    with served(state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--chunk-size", "10")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "applied member.remove: 120" in lines
    assert sum(1 for line in lines if line.startswith("  applied  - ")) == 10
    assert "  ... and 110 more (--full shows every line; the audit log has each)" in lines
    assert lines[-3].startswith("Apply: 120 applied, 0 failed")
    assert (
        "[12/12] member.remove acme: 10 member(s)" in result.stderr
    )  # no terminal: a line per call


def _run_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with stderr on a real pseudo-terminal; what the terminal showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=60), shown.decode(errors="replace")


def test_on_a_terminal_apply_draws_a_progress_bar_instead_of_lines(tmp_path):
    state, path = _removing(tmp_path, 60)
    with served(state) as (sandbox, url):
        env = {**os.environ, "IDEOGRAM_TOKEN": TOKEN, "IDEOGRAM_ENDPOINT": url, "NO_COLOR": "1"}
        code, shown = _run_on_a_terminal(
            ["apply", "-c", str(path), "--auto-approve", "--chunk-size", "5"], env, tmp_path
        )
    assert code == 0, shown
    assert "applying  [####################################]  12/12" in shown
    assert "[12/12]" not in shown  # no line per call on a terminal
    assert len(next(iter(state.organizations.values())).members) == 10


class _ClockMovingTransport(httpx.BaseTransport):
    """The sandbox, where reading members takes `seconds` of the fake clock: the read blocks until
    the watcher has spoken, so the test waits for an event, never for time."""

    def __init__(self, sandbox: Sandbox, clock: FakeClock, seconds: float, heard: threading.Event):
        self.inner, self.clock, self.seconds, self.heard = (
            SandboxTransport(sandbox),
            clock,
            seconds,
            heard,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/organization/members"):
            self.clock.advance(self.seconds)
            assert self.heard.wait(10), "the watcher never spoke"
        return self.inner.handle_request(request)


def test_a_slow_read_shows_progress_after_two_seconds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state, path = _removing(tmp_path, 0)
    clock, heard, lines = FakeClock(), threading.Event(), []

    def progress(line: str) -> None:
        lines.append(line)
        heard.set()

    transport = _ClockMovingTransport(Sandbox(state), clock, 2.0, heard)
    with ApiReader(SANDBOX_BASE_URL, state.token, transport=transport, clock=clock) as reader:
        service.plan(reader, load_config(path), progress=progress)
    assert lines == ["reading: 0 of 1 organization(s) read, 2 s so far"]


def test_a_slow_answer_is_announced_once():
    from reconciler.api.client import WAITING_NOTICE_SECONDS

    state = demo_state()
    clock, heard, notices = FakeClock(), threading.Event(), []

    class Heard(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "still waiting" in record.getMessage():
                notices.append(record.getMessage())
                heard.set()

    logger = logging.getLogger("ideogram_org")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler := Heard(logging.WARNING))
    try:
        transport = _ClockMovingTransport(Sandbox(state), clock, WAITING_NOTICE_SECONDS + 1, heard)
        with ApiReader(SANDBOX_BASE_URL, state.token, transport=transport, clock=clock) as reader:
            reader.get_members(DEMO_ORG_ID)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert notices == [
        f"still waiting for GET /manage/api/organization/members after {WAITING_NOTICE_SECONDS} s "
        "(the limit is 30 s: --timeout)"
    ]


def test_a_quick_read_shows_no_progress(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state, path = _removing(tmp_path, 0)
    with served(state) as (sandbox, url):
        result = cli(url, "plan", "-c", str(path))
    assert result.exit_code == 0 and "reading:" not in result.stderr
