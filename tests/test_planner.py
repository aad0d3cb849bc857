"""The planner, table-driven and without HTTP: desired YAML x live organization -> changes."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import pytest

from reconciler.api.reader import _unique_members
from reconciler.api.wire import OrganizationMember
from reconciler.config.loader import load_text
from reconciler.errors import UnsafePlanError
from reconciler.model.changes import Change, MemberBlocked, target_of
from reconciler.model.live import LiveKey, LiveMember, LiveOrganization, LiveState
from reconciler.model.plan import AllowUnsafe, NoApproval, ReviewedPlan
from reconciler.model.safety import OrganizationSummary, check_safety
from reconciler.planning.planner import NOT_FINGERPRINTED, compute_plan

ORG_ID = "b3JnX3Rlc3Q"


def member(handle: str, role: str = "MEMBER") -> LiveMember:
    return LiveMember(
        user_id=f"id_{handle}", email=f"{handle}@acme.example", handle=handle, role=role
    )


def key(key_id: str, status: str = "ACTIVE") -> LiveKey:
    return LiveKey(api_key_id=key_id, redacted="abcd•••", status=status)


def live_state(
    members: list[LiveMember], keys: list[LiveKey] = (), caller_role: str = "OWNER"
) -> LiveState:
    org = LiveOrganization(
        name="acme",
        organization_id=ORG_ID,
        profile_name="acme",
        caller_role=caller_role,
        inflight_limit=10,
        members=tuple(members),
        keys=tuple(keys),
    )
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
    return (change.action, target_of(change))


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
    Case(
        "converged organization gives an empty plan",
        OWNER + "- {email: ann@acme.example}\n",
        [member("owner", "OWNER"), member("ann")],
        [],
    ),
    Case(
        "add a member (joins as MEMBER)",
        OWNER + "- {email: new@acme.example}\n",
        [member("owner", "OWNER")],
        [("member.add", "new@acme.example")],
    ),
    Case(
        "add then promote a new owner",
        OWNER + "- {handle: boss, role: OWNER}\n",
        [member("owner", "OWNER")],
        [("member.add", "boss"), ("member.promote", "boss")],
    ),
    Case(
        "promote an existing member, matched by email case-insensitively",
        OWNER + "- {email: ANN@Acme.Example, role: OWNER}\n",
        [member("owner", "OWNER"), member("ann")],
        [("member.promote", "ann@acme.example")],
    ),
    Case(
        "match by handle and by user_id",
        OWNER + "- {handle: ANN}\n- {user_id: id_bob}\n",
        [member("owner", "OWNER"), member("ann"), member("bob")],
        [],
    ),
    Case(
        "remove an unlisted member when pruning",
        OWNER,
        [member("owner", "OWNER"), member("stray")],
        [("member.remove", "stray@acme.example")],
    ),
    Case(
        "no removal when prune_members is false",
        OWNER,
        [member("owner", "OWNER"), member("stray")],
        [],
        policy="prune_members: false\n",
    ),
    Case(
        "ignored members are never touched or reported",
        OWNER,
        [member("owner", "OWNER"), LiveMember("id_bot", "ci@svc.acme.example", "ci_bot", "MEMBER")],
        [],
        policy="ignore_members: ['*@SVC.acme.example']\n",
    ),
    Case(
        "protected unlisted member is blocked, not removed",
        OWNER,
        [member("owner", "OWNER"), member("ceo")],
        [],
        blocked=[("member.remove_protected", "ceo@acme.example")],
        policy="protected_members: [ceo]\n",
    ),
    Case(
        "demotion is blocked: the API has none",
        OWNER + "- {email: ann@acme.example, role: MEMBER}\n",
        [member("owner", "OWNER"), member("ann", "OWNER")],
        [],
        blocked=[("member.demote", "ann@acme.example")],
    ),
    Case(
        "listed DISABLED, live ACTIVE: deactivate",
        OWNER,
        [member("owner", "OWNER")],
        [("key.deactivate", "old")],
        keys="old: {id: K1, status: DISABLED}\n",
        live_keys=[key("K1")],
    ),
    Case(
        "listed ACTIVE, live DISABLED: reactivation is blocked",
        OWNER,
        [member("owner", "OWNER")],
        [],
        blocked=[("key.reactivate", "K1")],
        keys="ci: {id: K1}\n",
        live_keys=[key("K1", "DISABLED")],
    ),
    Case(
        "a listed key id that does not exist is blocked",
        OWNER,
        [member("owner", "OWNER")],
        [],
        blocked=[("key.missing", "K9")],
        keys="ci: {id: K9}\n",
        live_keys=[key("K1")],
        unmanaged=["K1"],
    ),
    Case(
        "a listed key without id is created",
        OWNER,
        [member("owner", "OWNER")],
        [("key.create", "fresh")],
        keys="fresh:\n  status: ACTIVE\n",
    ),
    Case(
        "unlisted active key is reported as unmanaged when not pruning",
        OWNER,
        [member("owner", "OWNER")],
        [],
        live_keys=[key("K1"), key("K2", "DISABLED")],
        unmanaged=["K1"],
    ),
    Case(
        "unlisted active key is deactivated with prune_api_keys",
        OWNER,
        [member("owner", "OWNER")],
        [("key.deactivate", "K1")],
        live_keys=[key("K1"), key("K2", "DISABLED")],
        policy="prune_api_keys: true\n",
    ),
    Case(
        "changes come in apply order: add, promote, create, remove, deactivate",
        OWNER + "- {email: zed@acme.example, role: OWNER}\n- {email: amy@acme.example}\n",
        [member("owner", "OWNER"), member("stray")],
        [
            ("member.add", "amy@acme.example"),
            ("member.add", "zed@acme.example"),
            ("member.promote", "zed@acme.example"),
            ("key.create", "fresh"),
            ("member.remove", "stray@acme.example"),
            ("key.deactivate", "old"),
        ],
        keys="fresh:\n  status: ACTIVE\nold: {id: K1, status: DISABLED}\n",
        live_keys=[key("K1")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_planner(case: Case) -> None:
    plan = plan_for(
        desired(case.members, case.keys, case.policy), live_state(case.live_members, case.live_keys)
    )
    assert [row(c) for c in plan.changes] == case.changes
    assert [
        (b.kind, b.member.label if isinstance(b, MemberBlocked) else b.key_id) for b in plan.blocked
    ] == case.blocked
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
    SafetyCase(
        "removing an owner below min_owners (a listed owner is ignored, so never added)",
        "- {email: a@acme.example, role: OWNER}\n- {email: bot@svc.acme.example, role: OWNER}\n",
        [member("a", "OWNER"), member("c", "OWNER")],
        "min_owners: 2\nignore_members: ['*@svc.acme.example']\n",
        ["min_owners"],
    ),
    SafetyCase(
        "live organization already below min_owners and the plan does not fix it",
        "- {email: a@acme.example, role: OWNER}\n- {email: b@acme.example, role: OWNER}\n",
        [member("a", "OWNER"), member("b", "OWNER")],
        "min_owners: 3\n",
        [],
    ),
    SafetyCase(
        "too many removals by percentage (at least 10 members)",
        "- {email: m0@acme.example, role: OWNER}\n",
        [member("m0", "OWNER")] + [member(f"m{i}") for i in range(1, 12)],
        "",
        ["max_removals"],
    ),
    SafetyCase(
        "percentage limit does not apply below 10 members",
        "- {email: m0@acme.example, role: OWNER}\n",
        [member("m0", "OWNER")] + [member(f"m{i}") for i in range(1, 9)],
        "",
        [],
    ),
    SafetyCase(
        "an explicit count always applies",
        "- {email: m0@acme.example, role: OWNER}\n",
        [member("m0", "OWNER"), member("m1"), member("m2")],
        "max_removals: 1\n",
        ["max_removals"],
    ),
    SafetyCase(
        "within the limits is safe",
        "- {email: m0@acme.example, role: OWNER}\n",
        [member("m0", "OWNER"), member("m1")],
        "max_removals: 1\n",
        [],
    ),
]


@pytest.mark.parametrize("case", SAFETY, ids=lambda c: c.name)
def test_safety(case: SafetyCase) -> None:
    if case.name.startswith("live organization already below"):
        return  # below: the loader refuses such a file, so the rule is tested on summaries
    plan = plan_for(desired(case.members, policy_yaml=case.policy), live_state(case.live_members))
    assert [v.rule for v in plan.violations] == case.rules
    assert plan.safe is (not case.rules)


def _summary(owners_before: int, owners_after: int, min_owners: int) -> OrganizationSummary:
    return OrganizationSummary(
        name="acme",
        organization_id=ORG_ID,
        profile_name="acme",
        caller_role="OWNER",
        members_before=5,
        owners_before=owners_before,
        owners_after=owners_after,
        min_owners=min_owners,
        removals=0,
        removal_limit=None,
    )


@pytest.mark.parametrize(
    ("before", "after", "minimum", "broken"),
    [
        (2, 2, 3, False),  # already below, and the plan does not lower it: not the plan's doing
        (2, 3, 3, False),  # the plan fixes it
        (3, 2, 3, True),  # the plan takes it below
        (2, 1, 3, True),  # already below, and the plan lowers it further
        (3, 3, 3, False),  # at the minimum
        (5, 4, 3, False),  # fewer owners, still above the minimum
    ],
)
def test_min_owners_is_broken_only_by_a_plan_that_lowers_owners_below_it(
    before: int, after: int, minimum: int, broken: bool
) -> None:
    found = [v.rule for v in check_safety([_summary(before, after, minimum)])]
    assert found == (["min_owners"] if broken else [])


def test_owner_count_after_plan() -> None:
    plan = plan_for(
        desired(OWNER + "- {email: b@acme.example, role: OWNER}\n"),
        live_state([member("owner", "OWNER"), member("x", "OWNER")]),
    )
    org = plan.organizations[0]
    assert (org.owners_before, org.owners_after) == (
        2,
        2,
    )  # one promoted (after add), one owner removed


def test_same_inputs_same_hash_and_order() -> None:
    d = desired(OWNER + "- {email: b@acme.example}\n- {email: a@acme.example}\n")
    live = live_state([member("owner", "OWNER"), member("z"), member("y")])
    first, second = plan_for(d, live), plan_for(d, live)
    assert first.plan_hash == second.plan_hash
    assert [row(c) for c in first.changes] == [row(c) for c in second.changes]
    other = plan_for(d, live_state([member("owner", "OWNER"), member("z")]))
    assert other.plan_hash != first.plan_hash


def test_unsafe_plan_needs_an_approval_naming_it() -> None:

    plan = plan_for(
        desired(
            "- {email: a@acme.example, role: OWNER}\n- {email: bot@svc.acme.example, role: "
            "OWNER}\n",
            policy_yaml="min_owners: 2\nignore_members: ['*@svc.acme.example']\n",
        ),
        live_state([member("a", "OWNER"), member("c", "OWNER")]),
    )
    assert not plan.safe
    with pytest.raises(UnsafePlanError) as refused:
        plan.ensure_approved(NoApproval())
    assert str(refused.value) == (
        f"the plan is unsafe: {plan.violations[0].message}. to approve this exact plan, "
        f"pass --allow-unsafe {plan.plan_hash[:12]}"
    )
    with pytest.raises(UnsafePlanError, match="at least 8"):
        plan.ensure_approved(AllowUnsafe(plan.plan_hash[:6]))
    with pytest.raises(UnsafePlanError) as refused:
        plan.ensure_approved(AllowUnsafe("0123456789ab"))
    assert str(refused.value).endswith(
        f"--allow-unsafe '0123456789ab' does not match this plan ({plan.plan_hash[:12]})"
    )
    plan.ensure_approved(AllowUnsafe(plan.plan_hash[:8]))
    plan.ensure_approved(AllowUnsafe(plan.plan_hash))
    with pytest.raises(UnsafePlanError, match="approve this exact plan"):
        plan.ensure_approved(ReviewedPlan(plan.plan_hash))  # a review approves no unsafety


def test_a_reviewed_plan_must_be_the_plan_applied() -> None:
    plan = plan_for(desired(OWNER), live_state([member("owner", "OWNER")]))
    plan.ensure_approved(ReviewedPlan(plan.plan_hash))
    with pytest.raises(UnsafePlanError, match="is not this plan"):
        plan.ensure_approved(ReviewedPlan("f" * 64))


# --- cases that pin the planner's arithmetic (each kills a mutant that survived before) -----------

MORE_CASES = [
    Case(
        "members after a protected one are still removed",
        OWNER,
        [member("owner", "OWNER"), member("ceo"), member("stray1"), member("stray2")],
        [("member.remove", "stray1@acme.example"), ("member.remove", "stray2@acme.example")],
        blocked=[("member.remove_protected", "ceo@acme.example")],
        policy="protected_members: [ceo]\n",
    ),
    Case(
        "ignore_members matches a handle whose email does not match",
        OWNER,
        [member("owner", "OWNER"), LiveMember("id_bot", "robot@acme.example", "ci_bot", "MEMBER")],
        [],
        policy="ignore_members: ['*_BOT']\n",
    ),
    Case(
        "protected_members names a member by user_id",
        OWNER,
        [member("owner", "OWNER"), member("ceo")],
        [],
        blocked=[("member.remove_protected", "ceo@acme.example")],
        policy="protected_members: [id_ceo]\n",
    ),
    Case(
        "protected_members names a member by email, in any case",
        OWNER,
        [member("owner", "OWNER"), member("ceo")],
        [],
        blocked=[("member.remove_protected", "ceo@acme.example")],
        policy="protected_members: [CEO@Acme.example]\n",
    ),
    Case(
        "a user_id is compared exactly: another case is another id",
        OWNER,
        [member("owner", "OWNER"), member("ceo")],
        [("member.remove", "ceo@acme.example")],
        policy="protected_members: [ID_CEO]\n",
    ),
    Case(
        "a listed user_id in another case is not the live member",
        OWNER + "- {user_id: ID_ANN}\n",
        [member("owner", "OWNER"), member("ann")],
        [("member.add", "ID_ANN"), ("member.remove", "ann@acme.example")],
    ),
    Case(
        "emails match under Unicode case folding (straße is STRASSE)",
        OWNER + "- {email: straße@acme.example, role: OWNER}\n",
        [member("owner", "OWNER"), LiveMember("id_s", "STRASSE@acme.example", "strasse", "MEMBER")],
        [("member.promote", "STRASSE@acme.example")],
    ),
    Case(
        "blocked items are ordered by kind then subject; unmanaged keys by id",
        OWNER + "- {email: zed@acme.example}\n- {email: amy@acme.example}\n",
        [member("owner", "OWNER"), member("zed", "OWNER"), member("amy", "OWNER")],
        [],
        blocked=[
            ("key.missing", "K8"),
            ("key.missing", "K9"),
            ("key.reactivate", "K1"),
            ("member.demote", "amy@acme.example"),
            ("member.demote", "zed@acme.example"),
        ],
        keys="b: {id: K9}\na: {id: K8}\nc: {id: K1}\n",
        live_keys=[key("K1", "DISABLED"), key("K5"), key("K3")],
        unmanaged=["K3", "K5"],
    ),
]


@pytest.mark.parametrize("case", MORE_CASES, ids=lambda c: c.name)
def test_planner_more(case: Case) -> None:
    test_planner(case)


def test_two_owner_removals_are_both_counted_against_min_owners() -> None:
    plan = plan_for(
        desired("- {email: a@acme.example, role: OWNER}\n", policy_yaml="max_removals: 5\n"),
        live_state([member("a", "OWNER"), member("b", "OWNER"), member("c", "OWNER")]),
    )
    org = plan.organizations[0]
    assert (org.owners_before, org.owners_after, org.removals) == (3, 1, 2)
    plan = plan_for(
        desired(
            "- {email: a@acme.example, role: OWNER}\n- {email: bot@svc.acme.example, role: "
            "OWNER}\n",
            policy_yaml="min_owners: 2\nmax_removals: 5\nignore_members: ['*@svc.acme.example']\n",
        ),
        live_state([member("a", "OWNER"), member("b", "OWNER"), member("c", "OWNER")]),
    )
    assert plan.organizations[0].owners_after == 1
    assert [v.rule for v in plan.violations] == ["min_owners"]


MULTI = f"""\
version: 1
policy: {{max_removals: 10}}
organizations:
  acme:
    id: {ORG_ID}
    members:
      - {{email: owner@acme.example, role: OWNER}}
      - {{email: new@acme.example}}
    api_keys:
      gone: {{id: K0}}
  labs:
    id: b3JnX2xhYnM
    members:
      - {{email: owner@labs.example, role: OWNER}}
      - {{email: new@labs.example, role: OWNER}}
    api_keys:
      old: {{id: L1, status: DISABLED}}
      lost: {{id: L9}}
"""


def test_a_plan_covers_every_organization_in_file_order() -> None:
    acme = LiveOrganization(
        name="acme",
        organization_id=ORG_ID,
        profile_name="acme",
        caller_role="OWNER",
        inflight_limit=10,
        members=(member("owner", "OWNER"), member("stray")),
        keys=(key("K1"),),
    )
    labs = LiveOrganization(
        name="labs",
        organization_id="b3JnX2xhYnM",
        profile_name="labs",
        caller_role="OWNER",
        inflight_limit=10,
        members=(
            LiveMember("id_lo", "owner@labs.example", "lo", "OWNER"),
            LiveMember("id_ls", "stray@labs.example", "ls", "MEMBER"),
        ),
        keys=(key("L1"), key("L2")),
    )
    plan = plan_for(
        load_text(MULTI, "multi.yaml"),
        LiveState(organizations={"labs": labs, "acme": acme}, api_version="2026-06"),
    )
    assert [(c.organization, *row(c)) for c in plan.changes] == [
        ("acme", "member.add", "new@acme.example"),
        ("acme", "member.remove", "stray@acme.example"),
        ("labs", "member.add", "new@labs.example"),
        ("labs", "member.promote", "new@labs.example"),
        ("labs", "member.remove", "stray@labs.example"),
        ("labs", "key.deactivate", "old"),
    ]
    assert [(b.organization, b.kind) for b in plan.blocked] == [
        ("acme", "key.missing"),
        ("labs", "key.missing"),
    ]
    assert [(k.organization, k.key_id) for k in plan.unmanaged_keys] == [
        ("acme", "K1"),
        ("labs", "L2"),
    ]
    assert [o.name for o in plan.organizations] == ["acme", "labs"]
    assert [o.owners_after for o in plan.organizations] == [1, 2]


def test_an_organization_not_read_is_not_planned() -> None:
    acme = LiveOrganization(
        name="acme",
        organization_id=ORG_ID,
        profile_name="acme",
        caller_role="OWNER",
        inflight_limit=10,
        members=(member("owner", "OWNER"),),
        keys=(key("K0"),),
    )
    plan = plan_for(
        load_text(MULTI, "multi.yaml"),
        LiveState(organizations={"acme": acme}, api_version="2026-06"),
    )
    assert {c.organization for c in plan.changes} == {"acme"}
    assert [o.name for o in plan.organizations] == ["acme"]


GOLDEN_HASH = "0bff52857caebc58aecc37a6211ba7b28dd6b3ffa7c382a8ab5425661bb2412e"  # format 4


def test_the_plan_hash_has_a_pinned_canonical_form() -> None:
    """The Action compares hashes across runs and versions: the same plan must hash the same
    forever.

    If this fails, the hash's canonical form changed: bump the plan format_version and say so."""
    d = desired(
        OWNER + "- {email: new@acme.example, role: OWNER}\n",
        "old: {id: K1, status: DISABLED}\nfresh: {status: ACTIVE}\n",
    )
    plan = plan_for(
        d,
        live_state([member("owner", "OWNER"), member("stray", "OWNER"), member("x")], [key("K1")]),
    )
    assert [c.action for c in plan.changes] == [
        "member.add",
        "member.promote",
        "key.create",
        "member.remove",
        "member.remove",
        "key.deactivate",
    ]
    assert plan.plan_hash == GOLDEN_HASH


# --- answers a spec allows (or a newer server may give) -------------------------------------------


def _reason_of(plan, kind: str) -> list[str]:
    return [b.reason for b in plan.blocked if b.kind == kind]


def test_a_removal_is_never_decided_from_a_missing_identifier() -> None:
    live = [member("owner", "OWNER"), LiveMember("id_priya", "", "priya", "MEMBER")]
    plan = plan_for(desired(OWNER + "- {email: priya@acme.example}\n"), live_state(live))
    assert [row(c) for c in plan.changes] == [("member.add", "priya@acme.example")]
    assert _reason_of(plan, "member.remove_unproven") == [
        "not matched to the file, but the server's record has no email: cannot tell whether it is "
        "priya@acme.example (listed in the file); it is never removed on a guess"
    ]


def test_a_record_with_the_identifier_the_file_uses_is_still_removed() -> None:
    live = [member("owner", "OWNER"), LiveMember("id_x", "x@acme.example", "", "MEMBER")]
    plan = plan_for(desired(OWNER + "- {email: priya@acme.example}\n"), live_state(live))
    assert [row(c) for c in plan.changes] == [
        ("member.add", "priya@acme.example"),
        ("member.remove", "x@acme.example"),
    ]
    assert plan.blocked == []


def test_unproven_removals_name_at_most_three_entries_and_every_missing_field() -> None:
    live = [member("owner", "OWNER"), LiveMember("id_ghost", "", "", "MEMBER")]
    entries = "".join(f"- {{email: p{i}@acme.example}}\n" for i in range(5)) + "- {handle: hh}\n"
    plan = plan_for(desired(OWNER + entries), live_state(live))
    assert _reason_of(plan, "member.remove_unproven") == [
        "not matched to the file, but the server's record has no email or handle: cannot tell "
        "whether it is "
        "p0@acme.example, p1@acme.example, p2@acme.example or 3 more (listed in the file); it is "
        "never removed on "
        "a guess"
    ]


def test_a_record_with_no_identifier_at_all_is_never_removed() -> None:
    plan = plan_for(
        desired(OWNER), live_state([member("owner", "OWNER"), LiveMember("", "", "", "MEMBER")])
    )
    assert plan.changes == []
    assert _reason_of(plan, "member.remove_unproven") == [
        "the server's record has no user id, email or handle: it cannot be named in a call"
    ]


def test_a_role_this_version_does_not_know_is_never_changed() -> None:
    live = [member("owner", "OWNER"), member("ann", "ADMIN"), member("bob", "SUPER")]
    plan = plan_for(desired(OWNER + "- {email: ann@acme.example, role: OWNER}\n"), live_state(live))
    assert plan.changes == []
    assert [(b.kind, b.subject) for b in plan.blocked] == [
        ("member.unknown_role", "ann@acme.example"),
        ("member.unknown_role", "bob@acme.example"),
    ]
    assert plan.organizations[0].owners_before == 1
    assert "role 'ADMIN'" in plan.blocked[0].reason


def test_a_key_status_this_version_does_not_know_is_never_changed() -> None:
    plan = plan_for(
        desired(OWNER, "ci: {id: K1, status: DISABLED}\n", "prune_api_keys: true\n"),
        live_state([member("owner", "OWNER")], [key("K1", "REVOKED"), key("K2", ""), key("K3")]),
    )
    assert [row(c) for c in plan.changes] == [("key.deactivate", "K3")]
    assert [(b.kind, b.key_id) for b in plan.blocked] == [("key.unknown_status", "K1")]
    assert "status 'REVOKED'" in plan.blocked[0].reason
    assert [(k.key_id, k.status) for k in plan.unmanaged_keys] == [("K2", "")]


def test_two_entries_that_are_one_live_person_are_refused_with_both_places() -> None:
    from reconciler.errors import ConfigError

    d = desired(OWNER + "- {email: ann@acme.example}\n- {handle: ann, role: OWNER}\n")
    with pytest.raises(ConfigError) as refused:
        compute_plan(
            d,
            live_state([member("owner", "OWNER"), member("ann")]),
            desired_file="f.yaml",
            desired_hash="0",
            locate=lambda org, index: (10 + index, 9),
        )
    assert [str(p) for p in refused.value.problems] == [
        "f.yaml:12:9: ann and ann@acme.example (at f.yaml:11:9) are the same person in "
        "organization 'acme' "
        "(user id id_ann): list each person once"
    ]


def test_a_record_without_a_handle_is_not_removed_while_a_listed_handle_matches_nobody() -> None:
    live = [member("owner", "OWNER"), LiveMember("id_x", "x@acme.example", "", "MEMBER")]
    plan = plan_for(desired(OWNER + "- {handle: priya}\n"), live_state(live))
    assert [row(c) for c in plan.changes] == [("member.add", "priya")]
    assert "has no handle" in _reason_of(plan, "member.remove_unproven")[0]


@pytest.mark.parametrize(
    ("entries", "tail"), [(3, "p2@acme.example (listed"), (4, "p2@acme.example or 1 more (listed")]
)
def test_unproven_removals_count_the_entries_past_three(entries: int, tail: str) -> None:
    live = [member("owner", "OWNER"), LiveMember("id_ghost", "", "ghost", "MEMBER")]
    listed = "".join(f"- {{email: p{i}@acme.example}}\n" for i in range(entries))
    plan = plan_for(desired(OWNER + listed), live_state(live))
    assert tail in _reason_of(plan, "member.remove_unproven")[0]


def test_a_record_the_server_repeats_exactly_is_listed_with_its_twin_never_removed() -> None:
    """A spec-valid server may list one person twice, with no user id to tell the records apart:
    the entry that names them names both, and removing the twin would remove the listed person."""
    twin = LiveMember(user_id="", email="dana@acme.example", handle="dana", role="MEMBER")
    owner = member("owner", "OWNER")
    plan = plan_for(
        desired(OWNER + "- email: dana@acme.example\n"),
        live_state([owner, twin, LiveMember(twin.user_id, twin.email, twin.handle, twin.role)]),
    )
    assert [row(change) for change in plan.changes] == []


def _record(user_id: str, role: str, email: str = "") -> OrganizationMember:
    return OrganizationMember(
        user_id=user_id, role=role, email_address=email or f"{user_id}@x.example"
    )


def test_a_person_listed_twice_with_two_roles_is_read_once_at_the_lower_known_role() -> None:
    """Counting an owner too few never lets a removal break min_owners; a role this version does
    not know outranks both (it is never touched)."""
    members, repeated = _unique_members(
        [
            _record("a", "OWNER"),
            _record("b", "MEMBER"),
            _record("a", "MEMBER"),
            _record("c", "ADMIN"),
            _record("c", "OWNER"),
            _record("", "MEMBER", "n@x.example"),
        ]
    )
    assert [(m.user_id, m.role) for m in members] == [
        ("a", "MEMBER"),
        ("b", "MEMBER"),
        ("c", "ADMIN"),
        ("", "MEMBER"),
    ]
    assert repeated == ["a", "c"]


def test_people_each_listed_once_are_read_in_the_server_s_order_with_one_string_per_role() -> None:
    records = [_record(f"u{n}", "OWNER" if n % 3 == 0 else "MEMBER") for n in range(7)]
    members, repeated = _unique_members(records)
    assert [m.user_id for m in members] == [r.user_id for r in records] and repeated == []
    assert len({id(m.role) for m in members}) == 2


def test_a_plan_made_only_to_compare_is_the_same_plan_without_a_fingerprint() -> None:
    """apply's re-reads plan without fingerprinting the organization (a million members' sort and
    hash, then thrown away): the same changes and hash, and a fingerprint no live state has, so
    such a plan is never fresh."""
    state = desired(OWNER + "- email: dana@acme.example\n")
    live = live_state([LiveMember("u1", "owner@acme.example", "owner", "OWNER")])
    full = compute_plan(state, live, desired_file="t.yaml", desired_hash="0" * 64)
    compared = compute_plan(
        state, live, desired_file="t.yaml", desired_hash="0" * 64, fingerprint=False
    )
    assert [row(c) for c in compared.changes] == [row(c) for c in full.changes] != []
    assert compared.plan_hash == full.plan_hash
    assert compared.live_fingerprint == NOT_FINGERPRINTED != full.live_fingerprint
    assert len(full.live_fingerprint) == 64
