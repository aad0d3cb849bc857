"""idle_keys and dormant_members: the planner, table-driven, on the days around the limit.

Pure: live state and usage facts are built here, no HTTP. The end-to-end run through the sandbox
and the CLI is at the bottom.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from reconciler.config.models import DesiredState
from reconciler.model.changes import KeyDeactivate, MemberRemove
from reconciler.model.live import LiveKey, LiveMember, LiveOrganization, LiveState
from reconciler.model.usage import UsageFacts
from reconciler.planning.planner import compute_plan
from tests.scenario import cli, served

TODAY = date(2026, 11, 26)
ORG_ID = "b3JnX3VzYWdl"
OWNER = LiveMember("u-owner", "owner@corp.example", "owner", "OWNER")


def _live(keys: list[LiveKey], members: list[LiveMember]) -> LiveState:
    org = LiveOrganization(
        name="acme",
        organization_id=ORG_ID,
        profile_name="acme",
        caller_role="OWNER",
        inflight_limit=10,
        members=(OWNER, *members),
        keys=tuple(keys),
    )
    return LiveState(organizations={"acme": org}, api_version="2026-06")


def _desired(
    policy: dict, members: list[dict] | None = None, keys: dict | None = None
) -> DesiredState:
    org: dict = {
        "id": ORG_ID,
        "members": [{"email": "owner@corp.example", "role": "OWNER"}, *(members or [])],
    }
    if keys is not None:
        org["api_keys"] = keys
    return DesiredState.model_validate(
        {"version": 1, "policy": policy, "organizations": {"acme": org}}
    )


def _facts(
    key_last_used: dict[str, date], member_last_active: dict[str, date] | None, days: int = 120
) -> UsageFacts:
    return UsageFacts(
        since=TODAY - timedelta(days=days),
        today=TODAY,
        key_last_used=key_last_used,
        key_spend={k: 1234.0 for k in key_last_used},
        member_last_active=member_last_active,
    )


def _plan(desired: DesiredState, live: LiveState, facts: UsageFacts):
    return compute_plan(
        desired, live, desired_file="f.yaml", desired_hash="0" * 64, usage={"acme": facts}
    )


OLD = "2025-01-01T00:00:00+00:00"


@pytest.mark.parametrize("days_ago,idle", [(89, False), (90, True), (91, True)])
def test_idle_key_boundary(days_ago, idle):
    key = LiveKey("k-1", "ab••", "ACTIVE", OLD)
    plan = _plan(
        _desired({"idle_keys": {"after_days": 90, "action": "deactivate"}}),
        _live([key], []),
        _facts({"k-1": TODAY - timedelta(days=days_ago)}, {}),
    )
    deactivations = [c for c in plan.changes if isinstance(c, KeyDeactivate)]
    assert bool(deactivations) is idle
    if idle:
        since = (TODAY - timedelta(days=days_ago)).isoformat()
        assert deactivations[0].reason == f"no usage since {since} (idle_keys)"
        assert plan.organizations[0].key_deactivations == 1
        assert (
            plan.usage
            and plan.usage.keys[0].last_used == since
            and plan.usage.keys[0].spend_30d == 1234.0
        )
    else:
        assert [k.key_id for k in plan.unmanaged_keys] == ["k-1"]


@pytest.mark.parametrize(
    "created_days_ago,outcome",
    [(30, None), (200, "deactivate"), (None, "creation time unknown: reported")],
)
def test_a_never_used_key_is_idle_only_once_known_to_be_older(created_days_ago, outcome):
    made = (
        (TODAY - timedelta(days=created_days_ago)).isoformat() + "T00:00:00+00:00"
        if created_days_ago
        else ""
    )
    plan = _plan(
        _desired({"idle_keys": {"after_days": 90, "action": "deactivate"}}),
        _live([LiveKey("k-new", "ab••", "ACTIVE", made)], []),
        _facts({}, {}),
    )
    assert plan.usage is not None
    assert [k.outcome for k in plan.usage.idle_keys] == ([outcome] if outcome else [])
    assert any(isinstance(c, KeyDeactivate) for c in plan.changes) is (outcome == "deactivate")


def test_a_key_listed_active_is_reported_never_deactivated():
    key = LiveKey("k-listed", "ab••", "ACTIVE", OLD)
    desired = _desired(
        {"idle_keys": {"after_days": 30, "action": "deactivate"}, "prune_api_keys": False},
        keys={"render": {"id": "k-listed", "status": "ACTIVE"}},
    )
    plan = _plan(
        desired, _live([key], []), _facts({"k-listed": TODAY - timedelta(days=300)}, {}, days=400)
    )
    assert plan.changes == []
    assert (
        plan.usage
        and plan.usage.idle_keys[0].outcome == "listed ACTIVE: reported, never deactivated"
    )
    assert plan.usage.idle_keys[0].key_label == "render"


def test_idle_deactivations_count_against_the_key_deactivation_limit():
    keys = [LiveKey(f"k-{i}", "ab••", "ACTIVE", OLD) for i in range(10)]
    plan = _plan(
        _desired(
            {"idle_keys": {"after_days": 30, "action": "deactivate"}, "max_key_deactivations": 3}
        ),
        _live(keys, []),
        _facts({}, {}),
    )
    assert sum(isinstance(c, KeyDeactivate) for c in plan.changes) == 10
    assert not plan.safe and plan.violations[0].rule == "max_key_deactivations"


def test_report_action_changes_nothing():
    plan = _plan(
        _desired({"idle_keys": {"after_days": 30}}),
        _live([LiveKey("k-1", "ab••", "ACTIVE", OLD)], []),
        _facts({}, {}),
    )
    assert plan.changes == [] and plan.usage and plan.usage.idle_keys[0].outcome == "reported"


DORMANT = LiveMember("u-d", "dormant@corp.example", "dormant", "MEMBER")


@pytest.mark.parametrize("days_ago,dormant", [(89, False), (90, True), (91, True)])
def test_dormant_member_boundary_marks_the_removal_the_file_asks_for(days_ago, dormant):
    plan = _plan(
        _desired({"dormant_members": {"after_days": 90, "action": "remove"}}),
        _live([], [DORMANT]),
        _facts({}, {"dormant@corp.example": TODAY - timedelta(days=days_ago)}),
    )
    removal = next(c for c in plan.changes if isinstance(c, MemberRemove))
    assert ("dormant: no activity since" in removal.reason) is dormant
    assert (
        plan.usage
        and plan.usage.members[0].last_active == (TODAY - timedelta(days=days_ago)).isoformat()
    )


def test_dormancy_alone_removes_nobody_and_protected_members_stay():
    listed = _desired(
        {"dormant_members": {"after_days": 30, "action": "remove"}},
        members=[{"email": "dormant@corp.example"}],
    )
    plan = _plan(listed, _live([], [DORMANT]), _facts({}, {}))
    assert plan.changes == [] and plan.usage and plan.usage.dormant_members[0].listed
    protected = _desired(
        {
            "dormant_members": {"after_days": 30, "action": "remove"},
            "protected_members": ["dormant@corp.example"],
        }
    )
    plan = _plan(protected, _live([], [DORMANT]), _facts({}, {}))
    assert plan.changes == [] and plan.blocked[0].kind == "member.remove_protected"
    kept = _desired(
        {"dormant_members": {"after_days": 30, "action": "remove"}, "prune_members": False}
    )
    assert _plan(kept, _live([], [DORMANT]), _facts({}, {})).changes == []


def test_owners_needed_for_min_owners_are_not_removed_by_dormancy():
    other_owner = LiveMember("u-o2", "o2@corp.example", "o2", "OWNER")
    desired = _desired(
        {
            "dormant_members": {"after_days": 30, "action": "remove"},
            "min_owners": 2,
            "max_removals": 5,
        },
        members=[{"email": "o3@corp.example", "role": "OWNER"}],
    )
    live = _live([], [other_owner, LiveMember("u-o3", "o3@corp.example", "o3", "OWNER")])
    plan = _plan(desired, live, _facts({}, {}))
    # o2 is unlisted and dormant: its removal (asked by the file) is marked, and the safety rule
    # still counts it
    removal = next(c for c in plan.changes if isinstance(c, MemberRemove))
    assert "dormant" in removal.reason and plan.organizations[0].owners_after == 2 and plan.safe


def test_a_server_without_per_person_usage_leaves_the_rule_not_evaluated():
    plan = _plan(
        _desired({"dormant_members": {"after_days": 30, "action": "remove"}}),
        _live([], [DORMANT]),
        _facts({}, None),
    )
    removal = next(c for c in plan.changes if isinstance(c, MemberRemove))
    assert removal.reason == "not in the file"
    assert plan.usage and "does not report usage per person" in plan.usage.not_evaluated[0]
    assert plan.usage.members == []


def test_usage_notes_stay_out_of_the_plan_hash():
    key = LiveKey("k-1", "ab••", "ACTIVE", OLD)
    desired = _desired({"idle_keys": {"after_days": 90}})
    one = _plan(desired, _live([key], []), _facts({"k-1": TODAY - timedelta(days=3)}, {}))
    two = _plan(desired, _live([key], []), _facts({"k-1": TODAY - timedelta(days=5)}, {}))
    assert one.usage != two.usage and one.plan_hash == two.plan_hash


# --- through the sandbox and the CLI ------------------------------------------------------------

POLICY_FILE = """version: 1
policy:
  idle_keys: {after_days: 60, action: deactivate}
  dormant_members: {after_days: 60, action: remove}
organizations:
  acme:
    id: b3JnX2FjbWVfY29ycA
    members:
      - {email: dana.reyes@acme.example, role: OWNER}
      - email: priya.nair@acme.example
      - email: marco.rossi@acme.example
      - email: sam.okafor@acme.example
      - email: emma.schmidt@acme.example
      - email: tomas.novak@acme.example
      - email: aisha.khan@acme.example
      - email: felix.wagner@acme.example
      - email: jules.martin@acme.example
      - email: grace.ho@acme.example
      - email: build-bot@svc.acme.example
    api_keys:
      ci-pipeline: {id: 3q2-7wAAQkKpYXNzd29yZA, status: ACTIVE}
      marketing-batch: {id: Zm9vYmFyYmF6cXV4MTIzNA, status: ACTIVE}
      old-prototype: {id: a2V5X29sZF9wcm90b3R5cGU, status: ACTIVE}
"""


def test_plans_show_what_usage_showed_in_text_json_and_markdown(tmp_path, monkeypatch, api_version):
    from reconciler.sandbox.demo import demo_state

    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.yaml").write_text(POLICY_FILE)
    with served(demo_state(api_version)) as (sandbox, url):
        text = cli(url, "plan", "-c", "f.yaml")
        calls = [path for _, path in sandbox.requests if path.endswith("/usage")]  # of one plan
        document = json.loads(cli(url, "plan", "-c", "f.yaml", "--output", "json").stdout)
        markdown = cli(url, "plan", "-c", "f.yaml", "--output", "markdown").stdout
    assert text.exit_code == 0, text.output
    stray = "c3RyYXlfa2V5X2J5X2hhbmQ"
    deactivation = next(c for c in document["changes"] if c["action"] == "key.deactivate")
    assert deactivation["key_id"] == stray and deactivation["reason"].startswith("no usage since")
    assert f"key {stray}" in text.stdout and "30-day spend 0.00 USD" in text.stdout
    assert "idle key old-prototype (a2V5X29sZF9wcm90b3R5cGU) in acme" in text.stdout
    assert "listed ACTIVE: reported, never deactivated" in markdown
    removals = [c for c in document["changes"] if c["action"] == "member.remove"]
    if api_version == "2026-06":
        assert calls and len(calls) == 2  # API use, web-app use
        assert all("dormant: no activity since" in c["reason"] for c in removals)
        assert "last active not in the usage read" in text.stdout
    else:
        assert len(calls) == 1
        assert all(c["reason"] == "not in the file" for c in removals)
        assert (
            "dormant_members not evaluated" in text.stdout
            and "dormant_members not evaluated" in markdown
        )


def test_a_plain_plan_reads_no_usage(tmp_path, monkeypatch):
    from reconciler.sandbox.demo import demo_state

    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.yaml").write_text(
        POLICY_FILE.replace("  idle_keys: {after_days: 60, action: deactivate}\n", "")
        .replace("  dormant_members: {after_days: 60, action: remove}\n", "")
        .replace("policy:\n", "")
    )
    with served(demo_state("2026-06")) as (sandbox, url):
        result = cli(url, "plan", "-c", "f.yaml", "--output", "json")
        assert result.exit_code == 0
        assert not [path for _, path in sandbox.requests if "usage" in path]
    assert json.loads(result.stdout)["usage"] is None


def test_a_saved_plan_with_usage_rules_applies_after_the_same_check(tmp_path, monkeypatch):
    from reconciler.sandbox.demo import demo_state

    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.yaml").write_text(POLICY_FILE)
    with served(demo_state("2026-06")) as (sandbox, url):
        saved = cli(url, "plan", "-c", "f.yaml", "--out", "plan.json")
        assert saved.exit_code == 0, saved.output
        applied = cli(url, "apply", "plan.json")
        assert applied.exit_code == 0, applied.output
        org = sandbox.state.organizations["b3JnX2FjbWVfY29ycA"]
        assert (
            org.api_keys["c3RyYXlfa2V5X2J5X2hhbmQ"].status == "DISABLED"
        )  # the idle, unlisted key
        assert (
            org.api_keys["a2V5X29sZF9wcm90b3R5cGU"].status == "ACTIVE"
        )  # idle, but listed ACTIVE: kept
        assert "Verification read: the organization matches the file." in applied.stdout


def test_usage_by_member_on_2025_10_says_it_is_not_reported(tmp_path, monkeypatch):
    from reconciler.sandbox.demo import demo_state

    monkeypatch.chdir(tmp_path)
    with served(demo_state("2025-10")) as (_, url):
        result = cli(url, "usage", "--by", "member")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.count("does not report usage per person") >= 2
    )  # the grouping and the members
