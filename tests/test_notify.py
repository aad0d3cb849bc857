"""Notifications to a loopback receiver (a real HTTP server): the generic JSON event, valid
against its committed schema, and Slack's incoming-webhook format; each cause once (the state
store remembers); an unreachable receiver changes no exit code."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from tests.scenario import TOKEN, cli, served

ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    def __init__(self) -> None:
        self.bodies: dict[str, list[dict]] = {"/hook": [], "/slack": []}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.setdefault(self.path, []).append(
                    json.loads(self.rfile.read(length))
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


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
