"""`ideogram-org sandbox serve` as a real process, talked to over loopback with httpx."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx

from reconciler.sandbox.demo import DEMO_ORG_ID
from tests.spec_check import SpecChecker


def _start(tmp_path, *args: str) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "sandbox",
            "serve",
            "--state",
            str(tmp_path / "state.json"),
            "--port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a shell starts a background job (`pytest &`, nohup) with SIGINT
        # ignored, and a child inherits that, so the Ctrl-C test would wait on a server that
        # rightly ignores it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    endpoint = process.stdout.readline().strip()
    token = process.stdout.readline().strip()
    assert endpoint.startswith("IDEOGRAM_ENDPOINT=http://127.0.0.1:"), endpoint
    return process, endpoint.split("=", 1)[1], token.split("=", 1)[1]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def test_serve_answers_over_loopback_and_persists_writes(tmp_path):
    process, url, token = _start(tmp_path, "--token", "t0ken-for-test", "--api-version", "2025-10")
    try:
        assert token == "t0ken-for-test"
        checker = SpecChecker("2025-10")
        with httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
            event_hooks={"response": [checker.hook]},
        ) as client:
            profiles = client.get("/manage/api/profiles")
            assert profiles.status_code == 200
            assert DEMO_ORG_ID in {p["organization_id"] for p in profiles.json()["profiles"]}
            added = client.post(
                "/manage/api/organization/add_members",
                params={"organization_id": DEMO_ORG_ID},
                json={"members": [{"email_address": "nina.lund@acme.example"}]},
            )
            assert added.status_code == 204  # 2025-10
            assert (
                client.get(
                    "/manage/api/organization/api_keys", params={"organization_id": DEMO_ORG_ID}
                ).status_code
                == 404
            )
        assert checker.checked == 3
        assert httpx.get(f"{url}/manage/api/profiles").status_code == 401
    finally:
        _stop(process)
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["api_version"] == "2025-10"
    org = next(o for o in saved["organizations"] if o["organization_id"] == DEMO_ORG_ID)
    assert len(org["members"]) == 14  # 13 in the demo, plus the one added


def test_serve_injects_faults_from_the_command_line(tmp_path):
    process, url, token = _start(
        tmp_path, "--error-rate", "1", "--fault-operation", "get_api_profiles"
    )
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        ) as client:
            assert client.get("/manage/api/profiles").status_code in (500, 502, 503)
            assert (
                client.get(
                    "/manage/api/organization/members", params={"organization_id": DEMO_ORG_ID}
                ).status_code
                == 200
            )
    finally:
        _stop(process)


def test_serve_rejects_bad_fault_rates_cleanly(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "sandbox",
            "serve",
            "--state",
            str(tmp_path / "s.json"),
            "--error-rate",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert (
        "error_rate must be between 0 and 1" in result.stderr and "Traceback" not in result.stderr
    )


def test_dropped_connection_over_real_http(tmp_path):
    process, url, token = _start(tmp_path, "--drop-rate", "1")
    try:
        start = time.monotonic()
        try:
            httpx.get(
                f"{url}/manage/api/profiles",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the connection should have been dropped")
        assert time.monotonic() - start < 5
    finally:
        _stop(process)


def test_a_burst_of_writes_costs_one_save_and_a_stop_loses_none(tmp_path):
    """Writes mark the state changed; the saver writes the file once per interval, and at close."""
    from reconciler.sandbox.app import Sandbox
    from reconciler.sandbox.persist import DebouncedSaver
    from reconciler.sandbox.state import SandboxState, generate_state

    state = generate_state(members=20, keys=0, seed=4)
    path = tmp_path / "state.json"
    state.save(path)
    app = Sandbox(state)
    saver = DebouncedSaver(
        state, path, app.lock, quiet=60, max_delay=60
    )  # nothing saves on its own here
    app.on_change = saver.changed
    org_id = next(iter(state.organizations))
    outsiders = [
        u for uid, u in state.users.items() if uid not in state.organizations[org_id].members
    ]
    auth = {"Authorization": f"Bearer {state.token}"}
    for user in outsiders[:10]:
        body = json.dumps({"members": [{"email_address": user.email_address}]}).encode()
        response = app.handle(
            "POST", "/manage/api/organization/add_members", {"organization_id": org_id}, auth, body
        )
        assert response.status == 200
    assert saver.saves == 0 and len(SandboxState.load(path).organizations[org_id].members) == 20
    saver.close()
    assert saver.saves == 1
    assert len(SandboxState.load(path).organizations[org_id].members) == 30


def test_ctrl_c_saves_the_state_too(tmp_path):
    process, url, token = _start(tmp_path)
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        added = client.post(
            "/manage/api/organization/add_members",
            params={"organization_id": DEMO_ORG_ID},
            json={"members": [{"email_address": "nina.lund@acme.example"}]},
        )
        assert added.status_code == 200
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    saved = json.loads((tmp_path / "state.json").read_text())
    org = next(o for o in saved["organizations"] if o["organization_id"] == DEMO_ORG_ID)
    assert len(org["members"]) == 14
