"""Notifications to a loopback receiver (a real HTTP server): the generic JSON event, valid
against its committed schema, and Slack's incoming-webhook format; each cause once (the state
store remembers); an unreachable receiver changes no exit code."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import jsonschema
import pytest

from reconciler.delivery.notify import Target, send
from reconciler.model.events import Event
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from tests.receiver import Receiver
from tests.scenario import TOKEN, cli, served

ROOT = Path(__file__).resolve().parent.parent


DESIRED = (
    "version: 1\n"
    "notify:\n"
    "  - webhook: {url_env: IDEOGRAM_ORG_WEBHOOK}\n"
    "  - slack: {url_env: SLACK_WEBHOOK_URL, events: [drift]}\n"
    "policy:\n"
    "  ignore_members: ['*@svc.acme.example']\n"
    "  prune_members: false\n"
    "organizations:\n"
    "  acme:\n"
    f"    id: {DEMO_ORG_ID}\n"
    "    members:\n"
    "      - {email: dana.reyes@acme.example, role: OWNER}\n"
    "      - {email: li.wei@acme.example}\n"  # not in the organization: drift, then an add
)


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = Receiver()
    monkeypatch.setenv("IDEOGRAM_ORG_WEBHOOK", found.url + "/hook")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", found.url + "/slack")
    Path("ideogram-org.yaml").write_text(DESIRED)
    yield found
    found.close()


def test_drift_and_apply_are_told_once_per_cause_in_both_formats(receiver):
    schema = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    with served(demo_state()) as (_sandbox, url):
        first = cli(url, "drift")
        second = cli(url, "drift")  # the same drift: no news
        applied = cli(url, "apply", "--auto-approve")
        cleared = cli(url, "drift")
        quiet = cli(url, "drift")  # still in step: nothing
    assert (first.exit_code, second.exit_code, applied.exit_code) == (2, 2, 0), applied.output
    assert (cleared.exit_code, quiet.exit_code) == (0, 0)
    events = receiver.bodies["/hook"]
    for event in events:
        jsonschema.validate(event, schema)
    kinds = [(e["kind"], e["summary"].split(":")[1].strip()[:20]) for e in events]
    assert [k for k, _ in kinds] == ["drift", "apply", "drift"], kinds
    assert "drift cleared" in events[2]["summary"]
    assert len({e["cause"] for e in events}) == 3
    assert events[1]["details"]["plan_hash"] and events[1]["details"]["audit_head"]
    slack = receiver.bodies["/slack"]
    assert [set(body) for body in slack] == [{"text"}, {"text"}]  # drift found, drift cleared
    assert slack[0]["text"].startswith("*ideogram-org drift*: acme:")
    everything = json.dumps(receiver.bodies)
    assert TOKEN not in everything and receiver.url not in everything


def test_an_unreachable_receiver_changes_no_exit_code(receiver, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nobody listens there now
    monkeypatch.setenv("IDEOGRAM_ORG_WEBHOOK", f"http://127.0.0.1:{port}/hook")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.invalid.example/x")
    with served(demo_state()) as (sandbox, url):
        applied = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests  # the apply itself went out
    assert applied.exit_code == 0, applied.output
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("warning: notify")]
    assert warnings and all("the command's outcome is not changed" in w for w in warnings)
    assert str(port) not in applied.stderr  # the URL is a secret: only its variable is named


def _event(kind: str = "drift") -> Event:
    return Event(
        kind=kind,  # type: ignore[arg-type]
        cause=f"{kind}:acme:x",
        organization="acme",
        at="2026-12-01T00:00:00+00:00",
        summary="acme: something",
        lines=[],
        details={},
    )


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_busy_receiver_is_tried_again_with_backoff():
    answers = iter([503, 429, 200])
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(next(answers))

    time = FakeTime()
    target = Target("webhook", "IDEOGRAM_ORG_WEBHOOK", "https://hooks.example/x")
    sent, problems = send(
        [(target, [_event()])],
        clock=time.clock,
        sleep=time.sleep,
        transport=httpx.MockTransport(answer),
    )
    assert (len(sent), problems, time.sleeps, len(seen)) == (1, [], [0.5, 1.0], 3)


def test_a_refusing_receiver_is_not_tried_again():
    time = FakeTime()
    target = Target("slack", "SLACK_WEBHOOK_URL", "https://hooks.example/x")
    sent, problems = send(
        [(target, [_event(), _event("apply")])],
        clock=time.clock,
        sleep=time.sleep,
        transport=httpx.MockTransport(lambda _request: httpx.Response(404)),
    )
    assert sent == [] and time.sleeps == []
    assert problems == [
        "notify slack ($SLACK_WEBHOOK_URL): drift: the receiver answered 404",
        "notify slack ($SLACK_WEBHOOK_URL): apply: the receiver answered 404",
    ]


class Trickler:
    """A receiver that answers one byte of its status line a second (a slow or hostile one):
    every read is quick, so only a bound on the whole send stops it. It finishes with a 200
    after about 40 s, so a send without that bound would succeed, late."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 20:
                if self.stop.wait(1.0):
                    return
                connection.sendall(bytes([byte]))
            connection.sendall(b"\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_a_trickling_receiver_is_left_behind_at_the_bound():
    trickler = Trickler()
    try:
        target = Target("webhook", "IDEOGRAM_ORG_WEBHOOK", trickler.url)
        sent, problems = send([(target, [_event()])], bound=1.5)
    finally:
        trickler.close()
    assert sent == []
    assert [p for p in problems if "the time for notifications ran out" in p], problems


@pytest.mark.slow
def test_a_receiver_that_never_answers_leaves_apply_and_its_exit_code_alone(receiver, monkeypatch):
    """A listener that accepts and never answers: apply finishes, within the notifications'
    bound (BOUND_SECONDS) of its own time, with its own exit code and a warning."""
    silent = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setenv("IDEOGRAM_ORG_WEBHOOK", f"http://127.0.0.1:{silent.getsockname()[1]}/h")
    try:
        with served(demo_state()) as (sandbox, url):
            applied = cli(url, "apply", "--auto-approve")
            assert sandbox.write_requests
    finally:
        silent.close()
    assert applied.exit_code == 0, applied.output
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("warning: notify")]
    assert warnings and all("the command's outcome is not changed" in w for w in warnings)
    assert receiver.bodies["/hook"] == []
