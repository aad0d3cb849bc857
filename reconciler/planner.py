"""The planner: desired x live x policy -> Plan. A pure function: no I/O, no clock but the Plan's stamp.

Set arithmetic in the manner of peribolos: index the live members by every identifier, walk the
desired members once, and what is left over on the live side is a candidate for removal.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from .live import LiveKey, LiveMember, LiveOrganization, LiveState
from .models import DesiredState, EffectivePolicy, Member, Organization
from .plan import (
    APPLY_ORDER,
    Blocked,
    Change,
    MemberRef,
    OrganizationSummary,
    Plan,
    UnmanagedKey,
    check_safety,
    hash_changes,
)


def _ignored(patterns: tuple[str, ...], *names: str) -> bool:
    folded = [n.casefold() for n in names if n]
    return any(fnmatchcase(name, pattern.casefold()) for pattern in patterns for name in folded)


class _LiveIndex:
    """Live members by user_id, lower-cased email and lower-cased handle."""

    def __init__(self, members: tuple[LiveMember, ...]):
        self.by_id = {m.user_id: m for m in members}
        self.by_email = {m.email.casefold(): m for m in members if m.email}
        self.by_handle = {m.handle.casefold(): m for m in members if m.handle}

    def find(self, member: Member) -> LiveMember | None:
        if member.email is not None:
            return self.by_email.get(member.email.casefold())
        if member.handle is not None:
            return self.by_handle.get(member.handle.casefold())
        return self.by_id.get(member.user_id or "")


def _ref(member: Member | None = None, live: LiveMember | None = None) -> MemberRef:
    if live is not None:
        return MemberRef(user_id=live.user_id, email=live.email or None, handle=live.handle or None)
    assert member is not None
    return MemberRef(user_id=member.user_id, email=member.email, handle=member.handle)


def _is_protected(policy: EffectivePolicy, live: LiveMember) -> bool:
    ref = _ref(live=live)
    return any(ref.matches(name) for name in policy.protected_members)


def plan_organization(name: str, desired: Organization, policy: EffectivePolicy, live: LiveOrganization
                      ) -> tuple[OrganizationSummary, list[Change], list[Blocked], list[UnmanagedKey]]:
    changes: list[Change] = []
    blocked: list[Blocked] = []
    unmanaged: list[UnmanagedKey] = []
    org_id = live.organization_id
    index = _LiveIndex(live.members)
    matched: set[str] = set()

    def change(action: str, reason: str, **fields) -> None:
        changes.append(Change(action=action, organization=name, organization_id=org_id, reason=reason, **fields))

    def block(kind: str, reason: str, **fields) -> None:
        blocked.append(Blocked(kind=kind, organization=name, organization_id=org_id, reason=reason, **fields))

    # --- members the file lists -------------------------------------------------------------------
    for member in desired.members:
        found = index.find(member)
        if found is not None:
            matched.add(found.user_id)
        if _ignored(policy.ignore_members, member.email or "", member.handle or "",
                    found.email if found else "", found.handle if found else ""):
            continue
        if found is None:
            ref = _ref(member)
            change("member.add", "listed in the file, not in the organization", member=ref)
            if member.role == "OWNER":
                change("member.promote", "listed as OWNER; new members join as MEMBER", member=ref, after_add=True)
        elif member.role == "OWNER" and found.role == "MEMBER":
            change("member.promote", "listed as OWNER, is MEMBER", member=_ref(live=found))
        elif member.role == "MEMBER" and found.role == "OWNER":
            block("member.demote", "listed as MEMBER, is OWNER: the API has no call to demote an owner; "
                                   "demote by hand in Ideogram, or list them as OWNER", member=_ref(live=found))

    # --- live members the file does not list --------------------------------------------------------
    removals = owner_removals = 0
    for live_member in live.members:
        if live_member.user_id in matched or _ignored(policy.ignore_members, live_member.email, live_member.handle):
            continue
        if not policy.prune_members:
            continue
        if _is_protected(policy, live_member):
            block("member.remove_protected", "not in the file, but protected by policy: it is never removed",
                  member=_ref(live=live_member))
            continue
        change("member.remove", "not in the file", member=_ref(live=live_member), current_role=live_member.role)
        removals += 1
        owner_removals += live_member.role == "OWNER"

    # --- keys ---------------------------------------------------------------------------------------
    live_keys: dict[str, LiveKey] = {k.api_key_id: k for k in live.keys}
    listed_ids = set()
    for label, spec in desired.api_keys.items():
        if spec.id is None:
            change("key.create", "listed without an id: a new key", key_label=label)
            continue
        listed_ids.add(spec.id)
        key = live_keys.get(spec.id)
        if key is None:
            block("key.missing", "no key with this id exists in the organization; fix the id or remove "
                                 "the entry", key_id=spec.id, key_label=label)
        elif spec.status == "DISABLED" and key.status == "ACTIVE":
            change("key.deactivate", "listed as DISABLED", key_id=spec.id, key_label=label)
        elif spec.status == "ACTIVE" and key.status == "DISABLED":
            block("key.reactivate", "listed as ACTIVE, is DISABLED: a deactivated key cannot be "
                                    "reactivated; list it as DISABLED, or add a new key without an id",
                  key_id=spec.id, key_label=label)
    for key in live.keys:
        if key.api_key_id in listed_ids or key.status != "ACTIVE":
            continue
        if policy.prune_api_keys:
            change("key.deactivate", "ACTIVE and not in the file (prune_api_keys)", key_id=key.api_key_id)
        else:
            unmanaged.append(UnmanagedKey(organization=name, organization_id=org_id, key_id=key.api_key_id,
                                          redacted=key.redacted, creation_time=key.creation_time))

    # --- order and summary ----------------------------------------------------------------------------
    rank = {action: i for i, action in enumerate(APPLY_ORDER)}
    changes.sort(key=lambda c: (rank[c.action], (c.member.label.casefold() if c.member else ""),
                                c.key_label or "", c.key_id or ""))
    blocked.sort(key=lambda b: (b.kind, b.member.label.casefold() if b.member else "", b.key_id or ""))
    unmanaged.sort(key=lambda k: k.key_id)

    owners_before = sum(1 for m in live.members if m.role == "OWNER")
    promotions = sum(1 for c in changes if c.action == "member.promote")
    summary = OrganizationSummary(
        name=name, organization_id=org_id, profile_name=live.profile_name, caller_role=live.caller_role,
        members_before=len(live.members), owners_before=owners_before,
        owners_after=owners_before + promotions - owner_removals, min_owners=policy.min_owners,
        removals=removals, removal_limit=policy.removal_limit(len(live.members)),
        protected_members=list(policy.protected_members),
    )
    return summary, changes, blocked, unmanaged


def compute_plan(desired: DesiredState, live: LiveState, *, desired_file: str, desired_hash: str) -> Plan:
    """Plan every organization the live state holds, in the order of the desired file."""
    summaries, changes, blocked, unmanaged = [], [], [], []
    for name, organization in desired.organizations.items():
        if name not in live.organizations:
            continue  # not selected with --org
        s, c, b, u = plan_organization(name, organization, desired.effective_policy(name), live.organizations[name])
        summaries.append(s)
        changes += c
        blocked += b
        unmanaged += u
    return Plan(
        desired_file=desired_file, desired_hash=desired_hash, live_fingerprint=live.fingerprint(),
        api_version=live.api_version, plan_hash=hash_changes(changes), organizations=summaries,
        changes=changes, blocked=blocked, unmanaged_keys=unmanaged, violations=check_safety(summaries, changes),
    )
