"""Spec-valid (and, where marked, deliberately off-spec) answers that once made the tool wrong.

Each test names the finding of the issue it pins. The sandbox serves over loopback HTTP and the
CLI runs as a user would run it; both API versions unless the finding is about one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.api.client import ApiReader
from reconciler.api.reader import read_live_state
from reconciler.cli import main
from reconciler.config.loader import load_config, load_text
from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import ApiKey, SandboxState, User, b64id
from tests.scenario import cli, served

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
PRIYA = b64id("user_priya")
MARCO = b64id("user_marco_r")
OTHERS_KEY = "b3RoZXJfb3duZXJfa2V5"


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _acme(state: SandboxState):
    return state.organizations[DEMO_ORG_ID]


def _plan_json(url: str, *args: str) -> dict:
    result = cli(url, "plan", "--output", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _with_others_key(state: SandboxState) -> None:
    """A key of another owner: the organization's key list (2026-06) shows it, the caller's profile
    does not."""
    _acme(state).api_keys[OTHERS_KEY] = ApiKey(
        OTHERS_KEY, "ikb3•••••••••••••", "2025-01-01T00:00:00+00:00"
    )
    _acme(state).others_keys.append(OTHERS_KEY)


# --- 1. version detection -------------------------------------------------------------------------


def test_a_2026_server_without_full_name_is_still_read_as_2026(here):
    state = demo_state("2026-06")
    state.omit_full_name = True
    _with_others_key(state)
    Path("ideogram-org.yaml").write_text(
        ACME.replace("    api_keys:\n", f"    api_keys:\n      other: {{id: {OTHERS_KEY}}}\n")
    )
    with served(state) as (sandbox, url):
        plan = _plan_json(url)
        drift = cli(url, "drift", "--output", "json")
        exported = cli(url, "export", "--org", "acme")
        calls_before = len(sandbox.requests)
        cli(url, "plan", "--org", "acme")
        calls = [path for _, path in sandbox.requests[calls_before:]]
    assert plan["api_version"] == "2026-06"
    assert not any(b["kind"] == "key.missing" for b in plan["blocked"])
    assert "key.missing" not in drift.stdout
    assert OTHERS_KEY in exported.stdout
    # profiles, members, and the key list (the probe is that read): no call wasted
    assert calls == [
        "/manage/api/profiles",
        "/manage/api/organization/members",
        "/manage/api/organization/api_keys",
    ]


@pytest.mark.parametrize("server_version", ["2025-10", "2026-06"])
def test_version_detection_costs_at_most_one_call_per_run(server_version):
    state = demo_state(server_version)
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state)))
    desired = load_text(
        ACME.replace(
            "organizations:\n",
            "organizations:\n  labs:\n    name: Acme Labs\n"
            "    policy: {min_owners: 0}\n    members: []\n",
            1,
        ),
        "two.yaml",
    )
    live = read_live_state(reader, desired)
    assert live.api_version == server_version
    organizations = 2
    expected = 1 + organizations + (organizations if server_version == "2026-06" else 1)
    assert reader.total_calls() == expected


def test_forcing_2026_settles_the_version_and_says_what_the_server_hid(here):
    """A 2026-06 server without full_name whose key list answers 404 looks like 2025-10; the
    evidence says so, and --api-version 2026-06 settles it (with a word on the hidden list)."""
    Path("ideogram-org.yaml").write_text(ACME)
    with served(demo_state("2025-10")) as (sandbox, url):
        auto = cli(url, "plan", "--output", "json")
        forced = cli(url, "plan", "--api-version", "2026-06", "--output", "json")
    evidence = json.loads(auto.stdout)["api_version_evidence"]
    assert "answered 404" in evidence and "--api-version 2026-06" in evidence
    assert forced.exit_code == 0 and "Traceback" not in forced.output
    assert json.loads(forced.stdout)["api_version"] == "2026-06"
    assert "answered 404 although --api-version 2026-06 was given" in forced.stderr


def test_forcing_2025_against_a_server_that_shows_full_name_is_a_clear_error(here):
    Path("ideogram-org.yaml").write_text(ACME)
    with served(demo_state("2026-06")) as (sandbox, url):
        result = cli(url, "plan", "--api-version", "2025-10")
    assert result.exit_code == 1
    assert "only 2026-06 has" in result.stderr


# --- 2. a record without the identifier the file uses ---------------------------------------------


def test_a_member_whose_record_lacks_the_files_identifier_is_never_removed(here, api_version):
    state = demo_state(api_version)
    state.users[PRIYA].email_address = ""  # the file names priya by email
    state.users[b64id("user_grace_ho")].email_address = ""  # listed by user id: still matched
    state.reindex()
    Path("ideogram-org.yaml").write_text(ACME)
    with served(state) as (sandbox, url):
        plan = _plan_json(url)
        dry = cli(url, "apply", "--dry-run")
        cli(url, "apply", "--auto-approve")
        removed = [
            m["user_id"]
            for w in sandbox.write_requests
            if w.operation == "remove_organization_members"
            for m in w.body["members"]
        ]
        still_there = PRIYA in _acme(sandbox.state).members
    removals = [c["member"] for c in plan["changes"] if c["action"] == "member.remove"]
    assert [m["handle"] for m in removals] == [
        "ravi_p"
    ]  # the one member the file provably leaves out
    unproven = [b for b in plan["blocked"] if b["kind"] == "member.remove_unproven"]
    assert [b["member"]["user_id"] for b in unproven] == [PRIYA]
    assert (
        "has no email" in unproven[0]["reason"]
        and "priya.nair@acme.example" in unproven[0]["reason"]
    )
    assert PRIYA not in dry.stdout
    assert PRIYA not in removed and still_there
    assert not any(
        b["member"]["user_id"] == b64id("user_grace_ho") for b in plan["blocked"] if "member" in b
    )


# --- 3. values no spec has (off-spec on purpose) --------------------------------------------------


@pytest.mark.off_spec
def test_an_unknown_member_role_is_reported_and_never_touched(here, api_version):
    state = demo_state(api_version)
    _acme(state).members[MARCO] = "ADMIN"
    Path("ideogram-org.yaml").write_text(ACME)
    with served(state) as (sandbox, url):
        plan = _plan_json(url)
        applied = cli(url, "apply", "--auto-approve")
        drift = cli(url, "drift")
        exported = cli(url, "export", "--org", "acme", "-o", "exported.yaml")
        validated = CliRunner().invoke(main, ["validate", "-c", "exported.yaml"])
        sent = json.dumps([w.body for w in sandbox.write_requests])
        role = _acme(sandbox.state).members[MARCO]
    assert [(b["kind"], b["member"]["user_id"]) for b in plan["blocked"]] == [
        ("member.unknown_role", MARCO)
    ]
    assert any(
        c["action"] == "member.remove" for c in plan["changes"]
    )  # everything else goes ahead
    assert applied.exit_code == 0, applied.output
    assert MARCO not in sent and role == "ADMIN"
    assert drift.exit_code == 2 and "NOT fixable" in drift.stdout
    assert exported.exit_code == 0 and validated.exit_code == 0, validated.output


@pytest.mark.off_spec
@pytest.mark.parametrize("status", ["REVOKED", None])
def test_an_unknown_or_null_key_status_is_never_changed(here, api_version, status):
    state = demo_state(api_version)
    _acme(state).api_keys["Zm9vYmFyYmF6cXV4MTIzNA"].status = status  # marketing-batch, listed
    _acme(state).api_keys["c3RyYXlfa2V5X2J5X2hhbmQ"].status = status  # the stray key, unlisted
    Path("ideogram-org.yaml").write_text(
        ACME.replace("prune_api_keys: false", "prune_api_keys: true")
    )
    with served(state) as (sandbox, url):
        plan = _plan_json(url)
        applied = cli(url, "apply", "--auto-approve")
        deactivated = [
            w.query["api_key_id"]
            for w in sandbox.write_requests
            if w.operation == "deactivate_organization_api_key"
        ]
    assert [(b["kind"], b["key_label"]) for b in plan["blocked"]] == [
        ("key.unknown_status", "marketing-batch")
    ]
    assert [(k["key_id"], k["status"]) for k in plan["unmanaged_keys"]] == [
        ("c3RyYXlfa2V5X2J5X2hhbmQ", status or "")
    ]
    assert applied.exit_code == 0, applied.output
    assert deactivated == ["a2V5X29sZF9wcm90b3R5cGU"]  # old-prototype only


@pytest.mark.off_spec
def test_an_unknown_profile_type_is_ignored_unless_the_file_manages_it(here, api_version):
    state = demo_state(api_version)
    labs = next(o for o in state.organizations.values() if o.name == "Acme Labs")
    labs.profile_type = "TEAM"
    Path("ideogram-org.yaml").write_text(ACME)
    Path("labs.yaml").write_text(
        f"version: 1\norganizations:\n  labs:\n    id: {labs.organization_id}\n"
        f"    policy: {{min_owners: 0}}\n    members: []\n"
    )
    with served(state) as (sandbox, url):
        acme = cli(url, "plan")
        managed = cli(url, "plan", "-c", "labs.yaml")
        exported = cli(url, "export")
    assert acme.exit_code == 0, acme.output
    assert managed.exit_code == 1 and "type 'TEAM'" in managed.stderr
    assert exported.exit_code == 0 and labs.organization_id not in exported.stdout


# --- 4. one person, two entries -------------------------------------------------------------------


def test_two_entries_that_are_one_person_are_an_error_naming_both(here, api_version):
    text = ACME.replace(
        "      - email: marco.rossi@acme.example\n",
        "      - email: marco.rossi@acme.example\n      - handle: marco_r\n        role: OWNER\n",
    )
    Path("ideogram-org.yaml").write_text(text)
    lines = text.splitlines()
    first = lines.index("      - email: marco.rossi@acme.example") + 1
    assert CliRunner().invoke(main, ["validate"]).exit_code == 0  # the file alone cannot know
    with served(demo_state(api_version)) as (sandbox, url):
        planned = cli(url, "plan")
        applied = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    for result in (planned, applied):
        assert result.exit_code == 1
        assert (
            f"ideogram-org.yaml:{first + 1}:9: marco_r and marco.rossi@acme.example (at "
            f"ideogram-org.yaml:{first}:9) are the same person" in result.stderr
        )


# --- 5. export always validates and plans to no changes -------------------------------------------


def _export_round_trip(url: str) -> tuple[str, int]:
    exported = cli(url, "export", "-o", "exported.yaml")
    assert exported.exit_code == 0, exported.output
    assert CliRunner().invoke(main, ["validate", "-c", "exported.yaml"]).exit_code == 0
    return Path("exported.yaml").read_text(), cli(
        url, "plan", "-c", "exported.yaml", "--detailed-exitcode"
    ).exit_code


def test_export_writes_a_repeated_record_once(here, api_version):
    state = demo_state(api_version)
    _acme(state).repeated_members.append(PRIYA)
    with served(state) as (sandbox, url):
        text, plan_exit = _export_round_trip(url)
    assert plan_exit == 0
    assert text.count("priya.nair@acme.example") == 1 and "more than once; written once" in text


def test_export_of_an_organization_without_owners_sets_min_owners_and_says_so(here, api_version):
    state = demo_state(api_version)
    org = _acme(state)
    for user_id in org.members:
        org.members[user_id] = "MEMBER"
    with served(state) as (sandbox, url):
        text, plan_exit = _export_round_trip(url)
    assert plan_exit == 0
    assert "min_owners: 0" in text and "has no OWNER" in text


def test_export_with_members_sharing_an_email_lists_them_apart(here, api_version):
    state = demo_state(api_version)
    twin = state.add_user(User(b64id("user_twin"), "priya_twin", "PRIYA.NAIR@acme.example"))
    _acme(state).members[twin.user_id] = "MEMBER"
    with served(state) as (sandbox, url):
        text, plan_exit = _export_round_trip(url)
    assert plan_exit == 0
    assert "priya.nair@acme.example" not in text.lower()  # neither can be named by the shared email


def test_export_with_no_organization_exits_1_naming_why(here, api_version):
    state = demo_state(api_version)
    state.organizations = {}
    with served(state) as (sandbox, url):
        result = cli(url, "export")
    assert result.exit_code == 1 and "sees no enterprise organization" in result.stderr
    assert "Traceback" not in result.output


# --- 7. listed and ignored ------------------------------------------------------------------------


def test_an_entry_that_ignore_members_also_matches_is_a_warning_naming_its_line(here, api_version):
    by_email = ACME.replace(
        "      - handle: jules_design\n",
        "      - handle: jules_design\n      - email: build-bot@svc.acme.example\n",
    )
    by_id = ACME.replace(
        "      - handle: jules_design\n",
        f"      - handle: jules_design\n      - user_id: {b64id('user_build_bot')}\n",
    )
    line = by_email.splitlines().index("      - email: build-bot@svc.acme.example") + 1
    Path("email.yaml").write_text(by_email)
    Path("id.yaml").write_text(by_id)
    validated = CliRunner().invoke(main, ["validate", "-c", "email.yaml"])
    with served(demo_state(api_version)) as (sandbox, url):
        planned = cli(url, "plan", "-c", "email.yaml")
        planned_by_id = cli(url, "plan", "-c", "id.yaml")
    assert validated.exit_code == 0
    warning = (
        f"email.yaml:{line}:9: warning: build-bot@svc.acme.example is listed, but "
        "ignore_members matches it"
    )
    assert warning in validated.stderr
    assert warning in planned.stderr and planned.exit_code == 0
    assert (
        f"id.yaml:{line}:9: warning: {b64id('user_build_bot')} is listed, but ignore_members "
        "matches its "
        f"live record" in planned_by_id.stderr
    )


def test_load_config_keeps_entry_positions_for_later_errors(here):
    Path("f.yaml").write_text(ACME)
    config = load_config("f.yaml")
    assert config.locate_member("acme", 0) == (25, 9)
