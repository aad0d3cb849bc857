"""Access that ends on time: entries, sources and keys with `expires`, judged on the served
sandbox's clock (moved with its clock_offset, so "yesterday" is exact), and team files held to a
max_duration by `validate`."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from tests.scenario import cli, served

OFFSET_DAYS = 40  # the sandbox's clock runs this far ahead of this machine's
SERVER_TODAY = datetime.now(timezone.utc).date() + timedelta(days=OFFSET_DAYS)


def day(offset: int) -> str:
    return (SERVER_TODAY + timedelta(days=offset)).isoformat()


def desired(extra_members: str = "", keys: str = "", policy: str = "") -> str:
    return (
        "version: 1\n"
        "policy:\n"
        "  ignore_members: ['*@svc.acme.example']\n"
        "  prune_members: false\n"
        f"{policy}"
        "organizations:\n"
        "  acme:\n"
        f"    id: {DEMO_ORG_ID}\n"
        "    members:\n"
        "      - {email: dana.reyes@acme.example, role: OWNER}\n"
        "      - {email: priya.nair@acme.example}\n"
        f"{extra_members}"
        "    api_keys:\n"
        "      ci-pipeline:\n"
        "        id: 3q2-7wAAQkKpYXNzd29yZA\n"
        f"{keys}"
    )


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan_json(state, *args: str, unsafe: bool = False) -> tuple[dict, str]:
    with served(state) as (sandbox, url):
        as_json = cli(url, "plan", "--output", "json", *args)
        text = cli(url, "plan")
        assert sandbox.write_requests == []
    assert as_json.exit_code == (1 if unsafe else 0), as_json.output
    return json.loads(as_json.stdout), text.stdout


def test_an_entry_past_its_day_is_removed_and_one_ten_days_out_is_warned(here):
    """prune_members is off, so only expiry removes anyone: marco expired yesterday (removed,
    with the reason), sam expires in 10 days (warned, kept), emma in 30 (nothing said)."""
    Path("ideogram-org.yaml").write_text(
        desired(
            f"      - {{email: marco.rossi@acme.example, expires: {day(-1)}}}\n"
            f"      - {{email: sam.okafor@acme.example, expires: '{day(10)}'}}\n"
            f"      - {{email: emma.schmidt@acme.example, expires: {day(30)}}}\n"
            f"      - {{email: newcomer@acme.example, expires: {day(-3)}}}\n"
        )
    )
    state = demo_state()
    state.clock_offset = OFFSET_DAYS * 86400.0
    plan, text = plan_json(state)
    removals = [c for c in plan["changes"] if c["action"] == "member.remove"]
    assert [(c["member"]["email"], c["reason"]) for c in removals] == [
        ("marco.rossi@acme.example", f"expired {day(-1)}")
    ]
    assert not any(c["member"].get("email") == "newcomer@acme.example" for c in plan["changes"])
    expiring = {(n["subject"], n["days_left"]) for n in plan["expiring"]}
    assert expiring == {
        ("marco.rossi@acme.example", -1),
        ("newcomer@acme.example", -3),
        ("sam.okafor@acme.example", 10),
    }
    assert f"member sam.okafor@acme.example expires {day(10)} (in 10 day(s))" in text
    assert f"expired {day(-1)}" in text


def test_an_expired_key_is_deactivated_through_max_key_deactivations(here):
    Path("ideogram-org.yaml").write_text(
        desired(
            keys=(
                "      marketing-batch:\n"
                "        id: Zm9vYmFyYmF6cXV4MTIzNA\n"
                f"        expires: {day(-2)}\n"
                "      never-made:\n"
                f"        expires: {day(-2)}\n"
            ),
            policy="  max_key_deactivations: 0\n",
        )
    )
    state = demo_state()
    state.clock_offset = OFFSET_DAYS * 86400.0
    plan, _ = plan_json(state, unsafe=True)
    [change] = [c for c in plan["changes"] if c["action"].startswith("key.")]
    assert change["action"] == "key.deactivate" and change["reason"] == f"expired {day(-2)}"
    assert change["key_label"] == "marketing-batch"
    assert [v["rule"] for v in plan["violations"]] == ["max_key_deactivations"]
    with served(state) as (sandbox, url):
        refused = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert refused.exit_code != 0 and "max_key_deactivations" in refused.output


def test_an_expired_owner_is_a_removal_that_min_owners_still_guards(here):
    """dana is the demo's one OWNER: her expiry plans her removal, and min_owners refuses it."""
    Path("ideogram-org.yaml").write_text(
        desired(policy="  min_owners: 1\n").replace(
            "{email: dana.reyes@acme.example, role: OWNER}",
            f"{{email: dana.reyes@acme.example, role: OWNER, expires: {day(-1)}}}",
        )
    )
    state = demo_state()
    state.clock_offset = OFFSET_DAYS * 86400.0
    plan, _ = plan_json(state, unsafe=True)
    assert [c["member"]["email"] for c in plan["changes"] if c["action"] == "member.remove"] == [
        "dana.reyes@acme.example"
    ]
    assert [v["rule"] for v in plan["violations"]] == ["min_owners"]
    with served(state) as (sandbox, url):
        result = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert result.exit_code == 1 and "min_owners" in result.output


def test_a_source_past_its_day_gives_nobody(here):
    """Everyone a team file gives carries the source's expiry: once past, they are removed
    (prune_members off: expiry alone removes them), and the source is named, not each person."""
    Path("teams").mkdir()
    Path("teams/contractors.yaml").write_text("members:\n  - email: marco.rossi@acme.example\n")
    text = desired() + (
        "    sources:\n"
        f"      - file: {{path: teams/contractors.yaml}}\n        expires: {day(-1)}\n"
    )
    Path("ideogram-org.yaml").write_text(text)
    state = demo_state()
    state.clock_offset = OFFSET_DAYS * 86400.0
    plan, _ = plan_json(state)
    removals = [c for c in plan["changes"] if c["action"] == "member.remove"]
    assert [(c["member"]["email"], c["reason"]) for c in removals] == [
        ("marco.rossi@acme.example", f"expired {day(-1)}, from teams/contractors.yaml:2:5")
    ]
    assert [(n["kind"], n["subject"]) for n in plan["expiring"]] == [
        ("source", "file teams/contractors.yaml")
    ]


def test_validate_holds_a_team_file_to_its_max_duration(here):
    """A contractor without expires, or beyond the cap, fails validate at FILE:LINE:COL."""
    today = datetime.now(timezone.utc).date()
    Path("teams").mkdir()
    Path("teams/contractors.yaml").write_text(
        "members:\n"
        "  - email: a.contractor@acme.example\n"
        f"    expires: {(today + timedelta(days=200)).isoformat()}\n"
        "  - email: b.contractor@acme.example\n"
        f"  - email: c.contractor@acme.example\n    expires: {(today + timedelta(days=30))}\n"
    )
    Path("ideogram-org.yaml").write_text(
        desired()
        + "    sources:\n      - file: {path: teams/contractors.yaml, max_duration: 90d}\n"
    )
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1, result.output
    assert "teams/contractors.yaml:3:14: a.contractor@acme.example expires" in result.output
    assert "beyond this file's max_duration (90d" in result.output
    assert "teams/contractors.yaml:4:5: b.contractor@acme.example has no expires" in result.output
    assert "c.contractor" not in result.output


def test_a_date_that_is_no_date_is_one_located_line(here):
    Path("ideogram-org.yaml").write_text(
        desired("      - {email: marco.rossi@acme.example, expires: '2027-02-30'}\n")
    )
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "ideogram-org.yaml:11:52: organizations.acme.members[2].expires: '2027-02-30' is not a date"
        in result.output
    )
    assert date.fromisoformat(day(0))  # the helper itself gives ISO dates
