"""Answers a server may give that must not make the tool claim more than happened, nor wedge it.

Each test drives the real client and service against the in-process sandbox through a transport
that changes one answer, as a hostile or broken server would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reconciler import service
from reconciler.api.client import ApiClient
from reconciler.config.loader import load_config
from reconciler.model.plan import NoApproval
from reconciler.model.report import ApplyReport, Report
from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.store.audit import AuditLog, repair_log, verify_log
from tests.scenario import scenario, write_file

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


class _Rewriting(httpx.BaseTransport):
    """The sandbox, with the answers to one path rewritten after the sandbox acted."""

    def __init__(self, sandbox: Sandbox, path_end: str, rewrite: Rewrite, times: int = 1) -> None:
        self.inner, self.path_end, self.rewrite, self.left = (
            SandboxTransport(sandbox),
            path_end,
            rewrite,
            times,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith(self.path_end) and self.left > 0:
            self.left -= 1
            response.read()
            return self.rewrite(request, response)
        return response


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _apply(sandbox: Sandbox, transport: httpx.BaseTransport, path: Path) -> Report:
    with ApiClient(SANDBOX_BASE_URL, sandbox.state.token, transport=transport) as client:
        planned = service.plan(client, load_config(path))
        options = service.ApplyOptions(audit_log="audit.jsonl", secrets_file="keys.jsonl")
        return service.apply(client, planned, options, NoApproval())


@pytest.mark.parametrize("body", [b"{}", b'{"api_key": "half', b"<html>oops</html>"])
def test_a_create_answered_in_the_wrong_shape_leaves_no_live_key_without_its_secret(here, body):
    """The server made the key, then answered 200 with something unreadable: the outcome is
    unknown, the re-read finds the key, deactivates it (nobody has its secret) and creates the
    label again; three applies leave exactly one ACTIVE key for the label, its secret saved."""
    path = here / "ideogram-org.yaml"
    path.write_text(ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n"))
    sandbox = Sandbox(demo_state("2026-06"))
    before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)

    def garble(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        return httpx.Response(200, content=body, request=request)

    first = _apply(sandbox, _Rewriting(sandbox, "/api_keys_v2", garble), path)
    assert isinstance(first, ApplyReport) and first.converged, first
    for _ in range(2):
        _apply(sandbox, _Rewriting(sandbox, "/api_keys_v2", garble), path)
    keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys.values()
    new = {k.api_key_id: k.status for k in keys if k.api_key_id not in before}
    active = [key_id for key_id, status in new.items() if status == "ACTIVE"]
    saved = [json.loads(line)["api_key_id"] for line in Path("keys.jsonl").read_text().splitlines()]
    assert len(active) == 1 and active == saved, new


@pytest.mark.parametrize("results", [[], [{"success": True}] * 9])
def test_member_results_of_the_wrong_length_are_unknown_and_settled_from_a_read(here, results):
    """A 2026-06 answer with more or fewer results than members: what the server did is read
    back, never recorded as failed."""
    s = scenario("2026-06")
    path = write_file(here, s.text)
    sandbox = Sandbox(s.state)

    def miscount(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        return httpx.Response(200, json={"results": results}, request=request)

    report = _apply(sandbox, _Rewriting(sandbox, "/add_members", miscount), path)
    assert isinstance(report, ApplyReport)
    adds = [r for r in report.results if r.change.action == "member.add"]
    assert adds and all(r.outcome == "applied" for r in adds), [r.message for r in adds]
    assert report.converged
    records = [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]
    outcomes = [
        r["outcome"] for r in records if r["event"] == "write" and r["action"] == "member.add"
    ]
    assert outcomes[0] == "unknown"


def test_records_of_any_length_never_wedge_the_log(here):
    """A record past 64 KiB (a 2,000-member call, a long server message) is followed by others;
    verify, repair and the next append all read it."""
    log = AuditLog(here / "audit.jsonl")
    log.append("run.start", plan_hash="p")
    big = [f"member{n:05d}@acme.example" for n in range(4000)]  # ~100 KB
    log.append("write.intent", organization="acme", action="member.add", targets=big)
    log.append("run.end", plan_hash="p")
    assert verify_log(here / "audit.jsonl").problems == []
    with (here / "audit.jsonl").open("a") as handle:
        handle.write('{"torn": "' + "x" * 100_000)
    assert "sealed a torn record" in repair_log(here / "audit.jsonl")
    log.append("run.start", plan_hash="q")
    found = verify_log(here / "audit.jsonl")
    assert found.problems == [] and found.torn_tail is None and found.records == 5


def test_a_long_server_message_is_kept_short(here):
    """70 KB of message per member is cut to a stated size before it is reported or recorded."""
    s = scenario("2026-06")
    path = write_file(here, s.text)
    sandbox = Sandbox(s.state)

    def chatty(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        count = len(json.loads(request.content)["members"])
        message = "no! " * 17_500
        return httpx.Response(
            200, json={"results": [{"success": False, "message": message}] * count}, request=request
        )

    report = _apply(sandbox, _Rewriting(sandbox, "/promote_members", chatty), path)
    assert isinstance(report, ApplyReport)
    failed = [r for r in report.results if r.change.action == "member.promote"]
    assert failed and all(len(r.message) < 600 for r in failed)
    assert all("more characters" in r.message for r in failed)
    assert max(len(line) for line in Path("audit.jsonl").read_text().splitlines()) < 20_000


@pytest.mark.parametrize("api_version", ["2025-10", "2026-06"])
def test_a_person_without_an_account_is_not_told_to_apply_again(here, api_version):
    """Adding someone Ideogram does not know fails for that person; a rerun cannot help, so the
    report says what can."""
    from tests.scenario import cli, served

    path = here / "ideogram-org.yaml"
    path.write_text(
        ACME.replace("    members:\n", "    members:\n      - email: ghost@acme.example\n", 1)
    )
    with served(demo_state(api_version)) as (_, url):
        result = cli(url, "apply", "--auto-approve")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no Ideogram user matches" in result.stdout or "refused" in result.stdout
    assert "a person without an Ideogram account must sign up first" in result.stdout
    assert "run apply again to finish" not in result.stdout


@pytest.mark.parametrize(
    "key_id", ["a: b # c", "x\ny", "'quoted'", "- [1]", "ééé", "z" * 300, "", " padded "]
)
def test_a_hostile_key_id_never_breaks_the_file_nor_gives_a_traceback(here, key_id):
    """Whatever id the server gives a new key, the desired file stays valid YAML, and the id is
    either written back exactly or refused in one line (its secret is saved either way)."""
    from click.testing import CliRunner

    from reconciler.cli import main
    from reconciler.errors import ReconcilerError

    path = here / "ideogram-org.yaml"
    path.write_text(ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n"))
    sandbox = Sandbox(demo_state("2026-06"))

    def rename(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        created = json.loads(response.content)
        return httpx.Response(200, json={**created, "api_key_id": key_id}, request=request)

    try:
        _apply(sandbox, _Rewriting(sandbox, "/api_keys_v2", rename), path)
    except ReconcilerError as exc:
        assert "\n" not in str(exc).strip() or "by hand" in str(exc)
    assert load_config(path)  # still a valid desired-state file
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 0, result.output
    secrets = Path("keys.jsonl")
    lines = secrets.read_text().splitlines() if secrets.exists() else []
    saved = [json.loads(line)["api_key_id"] for line in lines]
    if key_id.isprintable() and key_id.strip() == key_id and 0 < len(key_id) <= 256:
        assert saved == [key_id]
    else:  # an id nothing can name: deactivated at once (or named for a person), never saved
        assert saved == []


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("https://" + "a" * 5000 + ".example", "longer than DNS allows"),
        ("https://" + "a." * 2000 + "example", "longer than DNS allows"),
        ("https://api.example/?token=s3cret", "no query"),
        ("https://api.example/#s3cret", "no query"),
        ("https://user:s3cret@api.example", "user name or password"),
    ],
)
def test_a_hostile_endpoint_is_one_line_that_repeats_no_secret(here, endpoint, says):
    from click.testing import CliRunner

    from reconciler.cli import main

    (here / "ideogram-org.yaml").write_text(ACME)
    result = CliRunner().invoke(
        main, ["plan", "--endpoint", endpoint], env={"IDEOGRAM_TOKEN": "tok-123456"}
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert says in result.stderr and "s3cret" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_next_hint_after_a_plan_that_creates_a_key_runs_as_printed(here):
    from click.testing import CliRunner

    from reconciler.cli import main

    (here / "ideogram-org.yaml").write_text(
        ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n")
    )
    planned = CliRunner().invoke(main, ["plan", "--sandbox"])
    hint = next(line for line in planned.stderr.splitlines() if line.startswith("Next: "))
    command = hint.removeprefix("Next: ").split("   ")[0].split()[1:]
    assert "--secrets-file" in command
    applied = CliRunner().invoke(main, [*command, "--auto-approve"])
    assert applied.exit_code == 0, applied.output


def test_a_comment_only_edit_leaves_a_saved_plan_fresh(here):
    from click.testing import CliRunner

    from reconciler.cli import main

    path = here / "ideogram-org.yaml"
    path.write_text(ACME)
    assert CliRunner().invoke(main, ["plan", "--sandbox", "--out", "plan.json"]).exit_code == 0
    path.write_text("# reviewed by dana\n" + ACME.replace("\n", "  # noted\n", 3))
    applied = CliRunner().invoke(main, ["apply", "--sandbox", "plan.json"])
    assert applied.exit_code == 0, applied.output
    path.write_text(ACME.replace("role: OWNER", "role: MEMBER", 1))
    assert CliRunner().invoke(main, ["plan", "--sandbox", "--out", "p2.json"]).exit_code in (0, 1)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("command", ["validate", "show"])
def test_a_fifo_or_dev_zero_is_refused_at_once(here, special, command):
    import os

    from click.testing import CliRunner

    from reconciler.cli import main

    target = "/dev/zero"
    if special == "fifo":
        target = str(here / "pipe")
        os.mkfifo(target)
    args = ["validate", target] if command == "validate" else ["show", target]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a regular file" in result.stderr


# --- files and the machine -----------------------------------------------------------------------


def _new_key_file(here: Path) -> Path:
    path = here / "ideogram-org.yaml"
    path.write_text(ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n"))
    return path


def test_after_a_torn_line_in_the_secrets_file_the_next_secret_is_a_whole_line(here):
    path = _new_key_file(here)
    (here / "keys.jsonl").write_text('{"organization": "acme", "label": "old", "api_k')
    (here / "keys.jsonl").chmod(0o600)
    sandbox = Sandbox(demo_state("2026-06"))
    report = _apply(sandbox, SandboxTransport(sandbox), path)
    assert isinstance(report, ApplyReport) and not report.failed
    last = (here / "keys.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["label"] == "fresh"


@pytest.mark.parametrize(
    ("secrets", "says"),
    [
        ("/sys/ideogram-keys.jsonl", "cannot open the secrets file"),  # a read-only file system
        ("theirs.jsonl", "belongs to another user"),
    ],
)
def test_a_secrets_file_that_cannot_be_ours_stops_apply_before_any_key_exists(here, secrets, says):
    import os

    path = _new_key_file(here)
    if secrets == "theirs.jsonl":
        (here / secrets).write_text("")
        os.chmod(here / secrets, 0o600)
        os.chown(here / secrets, 4321, 4321)
    sandbox = Sandbox(demo_state("2026-06"))
    from reconciler.errors import ReconcilerError

    client = ApiClient(SANDBOX_BASE_URL, sandbox.state.token, transport=SandboxTransport(sandbox))
    with pytest.raises(ReconcilerError, match=says), client:
        planned = service.plan(client, load_config(path))
        options = service.ApplyOptions(audit_log="audit.jsonl", secrets_file=secrets)
        service.apply(client, planned, options, NoApproval())
    assert sandbox.write_requests == []


def test_a_lock_folder_that_cannot_be_made_is_one_line(here, monkeypatch):
    from click.testing import CliRunner

    from reconciler.cli import main

    (here / "ideogram-org.yaml").write_text(ACME)
    monkeypatch.setenv("IDEOGRAM_ORG_LOCK_DIR", "/proc/ideogram-org/locks")
    result = CliRunner().invoke(main, ["apply", "--sandbox", "--auto-approve"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the lock folder cannot be made" in result.stderr


def test_an_interrupted_run_never_claims_to_have_converged() -> None:
    """Ctrl-C with changes unsent: no verification read was made, so no convergence is claimed
    in text or JSON."""
    from reconciler.model.report import ApplyReport
    from reconciler.render.apply import render_apply_json, render_apply_text

    report = ApplyReport(run_id="r", plan_hash="h", not_sent=2, interrupted=True)
    assert "the organization matches the file" not in render_apply_text(report)
    shown = json.loads(render_apply_json(report))
    assert shown["interrupted"] and shown["verification"]["converged"] is False
    assert shown["verification"]["made"] is False


@pytest.mark.parametrize("api_version", ["2025-10", "2026-06"])
def test_a_handle_ideogram_does_not_know_is_named_at_plan_time_on_2026(here, api_version):
    from tests.scenario import cli, served

    ghost = "    members:\n      - handle: nobody_by_that_name\n      - handle: oscar_d\n"
    (here / "ideogram-org.yaml").write_text(ACME.replace("    members:\n", ghost, 1))
    with served(demo_state(api_version)) as (sandbox, url):
        result = cli(url, "plan")
        lookups = [path for _, path in sandbox.requests if path.endswith("/user_suggestions")]
    said = "Ideogram knows no user with the handle 'nobody_by_that_name'"
    if api_version == "2026-06":
        assert said in result.stderr and "oscar_d" not in result.stderr.split(said)[0][-200:]
        assert len(lookups) == 2  # one per handle the plan adds
    else:
        assert said not in result.stderr and lookups == []
