"""What a Terraform user expects: one test per finding of the experience issue (the README tour is
in
test_readme.py, the Action's in test_action.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import ApiKey, b64id
from tests.scenario import TOKEN, cli, served
from tests.test_sandbox_serve import _start, _stop

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("ideogram-org.yaml"))


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={"NO_COLOR": "1", **(env or {})})


# --- 2. every example plans safely against the demo sandbox ---------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_plans_without_unsafe_against_the_demo_sandbox(here, example):
    result = _run("plan", "--sandbox", "-c", str(example))
    assert result.exit_code == 0, result.output
    assert "UNSAFE" not in result.output


# --- 1. hints name commands that work where they are printed --------------------------------------


def test_plan_ends_with_the_next_step_for_the_context_it_ran_in(here):
    Path("org.yaml").write_text(ACME)
    first = _run("plan", "--sandbox", "-c", "org.yaml")
    assert "Next: ideogram-org apply --sandbox -c org.yaml" in first.stderr
    assert "export IDEOGRAM_TOKEN" in first.stderr  # how to point at the real API
    saved = _run("plan", "--sandbox", "-c", "org.yaml", "--out", "plan.json")
    assert "Next: ideogram-org apply --sandbox plan.json" in saved.stderr
    applied = _run("apply", "--sandbox", "plan.json")  # the hint, as printed, works
    assert applied.exit_code == 0, applied.output
    strict = Path("strict.yaml")
    strict.write_text(ACME.replace("max_removals: 25%", "max_removals: 0"))
    Path(".ideogram-sandbox.json").unlink()
    unsafe = _run("plan", "--sandbox", "-c", "strict.yaml")
    assert unsafe.exit_code == 1
    assert "apply it with" not in unsafe.stderr
    hint = unsafe.stderr.split("approve exactly this plan: ", 1)[1].strip()
    assert hint.startswith("ideogram-org apply --sandbox -c strict.yaml --allow-unsafe ")
    approved = _run(*hint.split()[1:], "--auto-approve")
    assert approved.exit_code == 0, approved.output


# --- 4. apply says what stays blocked; a dry run claims nothing -----------------------------------


def test_apply_never_claims_a_match_while_a_blocked_item_remains(here, api_version):
    state = demo_state(api_version)
    state.organizations[DEMO_ORG_ID].members[b64id("user_grace_ho")] = (
        "OWNER"  # a demotion: blocked
    )
    Path("ideogram-org.yaml").write_text(ACME)
    with served(state) as (sandbox, url):
        dry = cli(url, "apply", "--dry-run", "--output", "json")
        applied = cli(url, "apply", "--auto-approve")
        drift = cli(url, "drift")
    assert json.loads(dry.stdout)["verification"]["converged"] is False
    assert applied.exit_code == 0, applied.output
    last = applied.stdout.strip().splitlines()[-1]
    assert "matches the file" not in applied.stdout
    assert "1 blocked item(s) remain" in last and "drift will keep reporting" in last
    assert drift.exit_code == 2


# --- 5. key deactivation has a limit --------------------------------------------------------------


def test_deactivating_every_key_needs_an_approval_naming_the_plan(here, api_version):
    state = demo_state(api_version)
    org = state.organizations[DEMO_ORG_ID]
    for index in range(30):
        key = ApiKey(f"a2V5{index:04d}", "ikXX•••", "2025-01-01T00:00:00+00:00")
        org.api_keys[key.api_key_id] = key
    text = ACME.replace("prune_api_keys: false", "prune_api_keys: true")
    text = text[: text.index("    api_keys:")] + "    api_keys: {}\n"
    Path("ideogram-org.yaml").write_text(text)
    with served(state) as (sandbox, url):
        refused = cli(url, "apply", "--auto-approve")
        assert refused.exit_code == 1 and sandbox.write_requests == []
        plan = json.loads(cli(url, "plan", "--output", "json").stdout)
        approved = cli(url, "apply", "--auto-approve", "--allow-unsafe", plan["plan_hash"][:12])
        deactivated = [
            w for w in sandbox.write_requests if w.operation == "deactivate_organization_api_key"
        ]
    assert "34 key deactivations exceed max_key_deactivations (8)" in refused.stderr
    assert [v["rule"] for v in plan["violations"]] == ["max_key_deactivations"]
    assert all(c["irreversible"] for c in plan["changes"] if c["action"] == "key.deactivate")
    assert approved.exit_code == 0 and len(deactivated) == 34


def test_promotions_and_deactivations_are_marked_irreversible_in_text_and_markdown(here):
    Path("ideogram-org.yaml").write_text(ACME)
    text = _run("plan", "--sandbox").stdout
    markdown = _run("plan", "--sandbox", "--output", "markdown").stdout
    for output in (text, markdown):
        assert "promote to OWNER after adding (irreversible" in output
        assert "deactivate (irreversible)" in output


# --- 6. drift sees hand-made keys, and its JSON has a schema --------------------------------------


def test_drift_reports_an_unlisted_active_key_with_its_id(here, api_version):
    Path("ideogram-org.yaml").write_text(ACME)
    state = demo_state(api_version)
    org = state.organizations[DEMO_ORG_ID]
    for user_id in (b64id("user_ravi_p"),):
        del org.members[user_id]
    org.members[b64id("user_liwei")] = "OWNER"
    org.api_keys["a2V5X29sZF9wcm90b3R5cGU"].status = "DISABLED"
    with served(state) as (sandbox, url):
        text = cli(url, "drift")
        result = cli(url, "drift", "--output", "json")
    assert text.exit_code == 2 and result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["format_version"] == 1
    assert [(d["kind"], d["subject"]) for d in report["differences"]] == [
        ("key.unmanaged", "key c3RyYXlfa2V5X2J5X2hhbmQ (ikc3•••••••••••••)")
    ]
    assert "c3RyYXlfa2V5X2J5X2hhbmQ" in text.stdout
    Path("drift.json").write_text(result.stdout)
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--schemafile",
            str(ROOT / "schemas" / "drift.schema.json"),
            "drift.json",
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_committed_drift_schema_is_up_to_date():
    from reconciler.model.drift import drift_json_schema

    assert json.loads((ROOT / "schemas" / "drift.schema.json").read_text()) == drift_json_schema()


# --- 8. a slow server is not silence --------------------------------------------------------------


def test_verbose_logs_every_call_and_never_the_token(here):
    Path("ideogram-org.yaml").write_text(ACME)
    with served(demo_state()) as (sandbox, url):
        result = cli(url, "plan", "-v")
    assert "ideogram-org: GET /manage/api/profiles -> 200 in" in result.stderr
    assert result.stderr.count("ideogram-org: GET") == len(sandbox.requests)
    assert TOKEN not in result.output


@pytest.mark.slow
def test_a_timeout_names_the_option(here):
    """(The notice of a long wait is tested on a fake clock: test_large_output.py.)"""
    from reconciler.sandbox import Faults

    Path("ideogram-org.yaml").write_text(ACME)
    with served(demo_state(), Faults(latency=0.5)) as (sandbox, url):
        timed_out = cli(url, "plan", "--timeout", "0.3")
    assert timed_out.exit_code == 1 and "--timeout" in timed_out.stderr


# --- 9. Terraform parity --------------------------------------------------------------------------


def test_show_prints_a_saved_plan_as_plan_did(here):
    Path("ideogram-org.yaml").write_text(ACME)
    planned = _run("plan", "--sandbox", "--out", "plan.json")
    shown = _run("show", "plan.json")
    assert shown.exit_code == 0 and shown.stdout == planned.stdout
    as_json = json.loads(_run("show", "plan.json", "--output", "json").stdout)
    assert as_json["plan_hash"] == json.loads(Path("plan.json").read_text())["plan_hash"]
    assert _run("show", "plan.json", "--output", "markdown").stdout.startswith(
        "<!-- ideogram-org plan:"
    )


def test_no_color_wins_over_a_terminal(here, monkeypatch):
    from reconciler.render import plan as render_plan

    monkeypatch.setattr(render_plan, "colour_wanted", lambda stream=None: True)
    Path("ideogram-org.yaml").write_text(ACME)
    coloured = CliRunner().invoke(main, ["plan", "--sandbox"])
    plain = CliRunner().invoke(main, ["plan", "--sandbox", "--no-color"])
    assert "\x1b[" in coloured.stdout and "\x1b[" not in plain.stdout


def test_sandbox_and_endpoint_together_are_a_usage_error(here):
    result = _run("plan", "--sandbox", "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "--sandbox and --endpoint exclude each other" in result.stderr


def test_sandbox_serve_can_make_the_caller_a_member_or_ask_for_payment(here):
    Path("ideogram-org.yaml").write_text(
        ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n")
    )
    process, url, token = _start(here, "--caller-role", "MEMBER")
    try:
        member = CliRunner().invoke(
            main, ["plan", "--endpoint", url, "--output", "json"], env={"IDEOGRAM_TOKEN": token}
        )
    finally:
        _stop(process)
    blocked = json.loads(member.stdout)["blocked"]
    assert blocked and all(b["kind"] == "caller.not_owner" for b in blocked if "change" in b)
    (here / "second").mkdir()
    process, url, token = _start(here / "second", "--payment-required")
    try:
        paid = CliRunner().invoke(
            main,
            ["apply", "--endpoint", url, "--auto-approve", "--secrets-file", "k.jsonl"],
            env={"IDEOGRAM_TOKEN": token},
        )
    finally:
        _stop(process)
    assert paid.exit_code == 1 and "payment is required (402)" in paid.stdout


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_during_apply_records_what_was_sent_and_exits_130(here, stop_signal):
    """The first signal: no new call, the one in flight finishes and is recorded, exit 130."""
    process, url, token = _start(here, "--latency", "0.3")
    Path("ideogram-org.yaml").write_text(ACME)
    env = {**os.environ, "IDEOGRAM_TOKEN": token, "IDEOGRAM_ENDPOINT": url}
    try:
        apply = subprocess.Popen(
            [sys.executable, "-m", "reconciler.cli", "apply", "--auto-approve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        audit = Path("ideogram-org.audit.jsonl")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            audit.exists() and '"event":"write"' in audit.read_text()
        ):
            time.sleep(0.05)
        apply.send_signal(stop_signal)
        stdout, stderr = apply.communicate(timeout=30)
    finally:
        _stop(process)
    assert apply.returncode == 130, stdout + stderr
    assert "Interrupted" in stderr and "Traceback" not in stderr
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert records[-1]["event"] == "run.interrupted"
    assert any(r["event"] == "write" for r in records)
    intents = {r["hash"] for r in records if r["event"] == "write.intent"}
    assert intents == {
        r["intent"] for r in records if r["event"] == "write"
    }  # every call sent has its outcome
    assert "applied" in stdout  # what was done is printed
    assert "change(s) were not sent" in stderr
    # no verification read was made: the report never claims the organization matches
    assert "the organization matches the file" not in stdout
    assert "No verification read was made" in stdout
