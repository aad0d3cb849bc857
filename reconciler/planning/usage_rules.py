"""The usage-aware policies, `idle_keys` and `dormant_members`, and the usage notes plans carry.

Both rules are opt-in and act only on what usage proves: a key listed ACTIVE in the file is
reported, never deactivated (the file wins); a key with no use in the window is idle only if it is
known to be older than the window; members are never removed for dormancy alone (a removal the
file already asks for is marked as dormant); a server that does not report use per person gets
the rule marked as not evaluated, never a guess.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..config.models import EffectivePolicy, Organization
from ..model.changes import Change, KeyDeactivate, MemberRef, MemberRemove, UnmanagedKey
from ..model.identity import matches_glob, normalise
from ..model.live import LiveKey, LiveOrganization
from ..model.timestamps import parse_timestamp
from ..model.usage import (
    NOT_PER_PERSON,
    DormantMember,
    IdleKey,
    IdleOutcome,
    KeyUse,
    MemberActivity,
    PlanUsage,
    UsageFacts,
)
from .usage import idle_since


def _older_than(key: LiveKey, day: date) -> bool | None:
    made = parse_timestamp(key.creation_time)
    return None if made is None else made.date() < day


def idle_keys(
    name: str,
    policy: EffectivePolicy,
    desired: Organization,
    live: LiveOrganization,
    facts: UsageFacts,
    changes: list[Change],
    unmanaged: list[UnmanagedKey],
) -> tuple[list[Change], list[UnmanagedKey], list[IdleKey]]:
    rule = policy.idle_keys
    if rule is None:
        return changes, unmanaged, []
    labels = {spec.id: label for label, spec in desired.api_keys.items() if spec.id}
    listed_active = {
        spec.id for spec in desired.api_keys.values() if spec.id and spec.status == "ACTIVE"
    }
    planned = {c.key_id for c in changes if isinstance(c, KeyDeactivate)}
    found: list[IdleKey] = []
    for key in live.keys:
        if key.status != "ACTIVE" or key.api_key_id in planned:
            continue
        since = idle_since(
            facts.key_last_used.get(key.api_key_id), facts.since, facts.today, rule.after_days
        )
        if since is None:
            continue

        def idle(outcome: IdleOutcome, key_id: str = key.api_key_id, day: date = since) -> IdleKey:
            return IdleKey(
                organization=name,
                key_id=key_id,
                key_label=labels.get(key_id),
                no_usage_since=day.isoformat(),
                outcome=outcome,
            )

        never_seen = key.api_key_id not in facts.key_last_used
        old = _older_than(key, facts.today - timedelta(days=rule.after_days))
        if key.api_key_id in listed_active:
            found.append(idle("listed ACTIVE: reported, never deactivated"))
        elif never_seen and old is None:
            found.append(idle("creation time unknown: reported"))
        elif never_seen and not old:
            continue  # newer than the window and never used: not idle yet
        elif rule.action == "deactivate" and key.api_key_id not in labels:
            found.append(idle("deactivate"))
            changes = [
                *changes,
                KeyDeactivate(
                    key_id=key.api_key_id,
                    organization=name,
                    organization_id=live.organization_id,
                    reason=f"no usage since {since.isoformat()} (idle_keys)",
                ),
            ]
            unmanaged = [u for u in unmanaged if u.key_id != key.api_key_id]
        else:
            found.append(idle("reported"))
    return changes, unmanaged, found


def dormant_members(
    name: str,
    policy: EffectivePolicy,
    desired: Organization,
    live: LiveOrganization,
    facts: UsageFacts,
    changes: list[Change],
) -> tuple[list[Change], list[DormantMember], list[str]]:
    rule = policy.dormant_members
    if rule is None:
        return changes, [], []
    if facts.member_last_active is None:
        return changes, [], [f"{name}: dormant_members not evaluated: {NOT_PER_PERSON}"]
    removing = {c.member.user_id: i for i, c in enumerate(changes) if isinstance(c, MemberRemove)}
    listed_ids = {e.user_id for e in desired.members if e.user_id}
    listed_names = {normalise("email", e.email) for e in desired.members if e.email}
    listed_names |= {normalise("handle", e.handle) for e in desired.members if e.handle}
    found: list[DormantMember] = []
    changes = list(changes)
    for member in live.members:
        if not member.email or matches_glob(policy.ignore_members, member.email, member.handle):
            continue
        since = idle_since(
            facts.member_last_active.get(normalise("email", member.email)),
            facts.since,
            facts.today,
            rule.after_days,
        )
        if since is None:
            continue
        ref = MemberRef(
            user_id=member.user_id, email=member.email or None, handle=member.handle or None
        )
        index = removing.get(member.user_id)
        listed = (
            member.user_id in listed_ids
            or normalise("email", member.email) in listed_names
            or bool(member.handle and normalise("handle", member.handle) in listed_names)
        )
        found.append(
            DormantMember(
                organization=name, member=ref, no_activity_since=since.isoformat(), listed=listed
            )
        )
        if rule.action == "remove" and index is not None and not listed:
            change = changes[index]
            assert isinstance(change, MemberRemove)
            changes[index] = change.model_copy(
                update={
                    "reason": f"{change.reason}; dormant: no activity since {since.isoformat()}"
                }
            )
    return changes, found, []


def notes(
    name: str,
    live: LiveOrganization,
    facts: UsageFacts,
    changes: list[Change],
    unmanaged: list[UnmanagedKey],
) -> tuple[list[KeyUse], list[MemberActivity]]:
    """Last use and 30-day spend of every key a change or report names; last activity of every
    member
    a removal names."""
    key_ids = [c.key_id for c in changes if isinstance(c, KeyDeactivate)] + [
        u.key_id for u in unmanaged
    ]
    keys = [
        KeyUse(
            organization=name,
            key_id=key_id,
            last_used=_day(facts.key_last_used.get(key_id)),
            spend_30d=facts.key_spend.get(key_id, 0.0),
            currency=facts.currency,
        )
        for key_id in dict.fromkeys(key_ids)
    ]
    members = []
    if facts.member_last_active is not None:
        for change in changes:
            if isinstance(change, MemberRemove):
                email = normalise("email", change.member.email) if change.member.email else ""
                members.append(
                    MemberActivity(
                        organization=name,
                        member=change.member,
                        last_active=_day(facts.member_last_active.get(email)),
                    )
                )
    return keys, members


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def merge_usage(found: list[PlanUsage]) -> PlanUsage | None:
    """One PlanUsage for the plan from each organization's."""
    if not found:
        return None
    return PlanUsage(
        since=min(f.since for f in found),
        today=max(f.today for f in found),
        keys=[k for f in found for k in f.keys],
        members=[m for f in found for m in f.members],
        idle_keys=[k for f in found for k in f.idle_keys],
        dormant_members=[d for f in found for d in f.dormant_members],
        not_summed=[note for f in found for note in f.not_summed],
        not_evaluated=[n for f in found for n in f.not_evaluated],
    )
