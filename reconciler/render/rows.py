"""The rows every plan renderer shows: a symbol, a subject, what happens; grouped by kind in order
of risk. Text, markdown and the Action's summary are built from these, so they never disagree."""

from __future__ import annotations

from ..model.changes import (
    Blocked,
    Change,
    KeyCreate,
    KeyDeactivate,
    KeyRotate,
    MemberAdd,
    MemberPromote,
    MemberRemove,
    UnmanagedKey,
    key_subject,
)
from ..model.money import format_money
from ..model.plan import Plan

MARKER_PREFIX = "<!-- ideogram-org plan:"


SYMBOLS = {
    "member.add": "+",
    "key.create": "+",
    "key.rotate": "~",
    "member.promote": "~",
    "member.remove": "-",
    "key.deactivate": "-",
}


def _what_happens(change: Change) -> str:
    if isinstance(change, MemberAdd):
        return "add (joins as MEMBER)" + (f" from {change.origin}" if change.origin else "")
    if isinstance(change, MemberPromote):
        return (
            ("promote to OWNER after adding" if change.after_add else "promote MEMBER -> OWNER")
            + " (irreversible: the API cannot demote)"
            + (f" from {change.origin}" if change.origin else "")
        )
    if isinstance(change, MemberRemove):
        return f"remove {change.current_role}: {change.reason}"
    if isinstance(change, KeyCreate):
        return "create a new key" + _secret_goes_to(change.deliver_to)
    if isinstance(change, KeyRotate):
        stays = (
            f"stays ACTIVE for {_span(change.overlap_seconds)}, then a later apply deactivates it"
            if change.overlap_seconds
            else "stays ACTIVE until a later apply deactivates it (no overlap is set)"
        )
        return (
            f"rotate (phase 1 of 2: a successor is created and delivered; {change.reason}; the "
            f"predecessor {stays})" + _secret_goes_to(change.deliver_to)
        )
    assert isinstance(change, KeyDeactivate)
    return f"deactivate (irreversible): {change.reason}"


def _secret_goes_to(sinks: list[str]) -> str:
    return f"; secret to {', '.join(sinks)}" if sinks else "; secret to --secrets-file"


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} second(s)"


def describe_change(change: Change, notes: UsageNotes | None = None) -> tuple[str, str, str]:
    """(symbol, subject, what happens) for one change; with `notes`, what usage showed of it."""
    return (
        SYMBOLS[change.action],
        change.subject,
        _what_happens(change) + (notes.of_change(change) if notes else ""),
    )


class UsageNotes:
    """Last use and 30-day spend of keys, last activity of members, from a plan's usage read."""

    def __init__(self, plan: Plan) -> None:
        usage = plan.usage
        self.keys = {(k.organization, k.key_id): k for k in usage.keys} if usage else {}
        self.members = (
            {(m.organization, m.member.user_id): m for m in usage.members} if usage else {}
        )

    def of_key(self, organization: str, key_id: str) -> str:
        use = self.keys.get((organization, key_id))
        if use is None:
            return ""
        last = use.last_used or "not in the usage read"
        return f" [last used {last}, 30-day spend {format_money(use.spend_30d, use.currency)}]"

    def of_change(self, change: Change) -> str:
        if isinstance(change, KeyDeactivate):
            return self.of_key(change.organization, change.key_id)
        if isinstance(change, MemberRemove):
            activity = self.members.get((change.organization, change.member.user_id))
            if activity is not None:
                return f" [last active {activity.last_active or 'not in the usage read'}]"
        return ""


def usage_lines(plan: Plan) -> list[str]:
    """What the usage policies found that the changes do not show: idle keys and dormant members
    reported, and rules the server's data could not evaluate."""
    usage = plan.usage
    if usage is None:
        return []
    lines = [f"Usage read from {usage.since} to {usage.today}:"]
    lines += [
        f"  idle {key_subject(k.key_id, k.key_label)} in {k.organization}: no usage since "
        f"{k.no_usage_since}"
        f" ({k.outcome})"
        for k in usage.idle_keys
    ]
    lines += [
        f"  dormant member {d.member.label} in {d.organization}: no activity since "
        f"{d.no_activity_since}" + (" (listed in the file: reported)" if d.listed else "")
        for d in usage.dormant_members
    ]
    lines += [f"  {note}" for note in (*usage.not_evaluated, *usage.not_summed)]
    return lines if len(lines) > 1 else lines + ["  no idle key, no dormant member"]


def describe_blocked(item: Blocked) -> tuple[str, str, str]:
    return "!", item.subject, f"blocked: {item.reason}"


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    parts = [
        f"{c['member.add']} to add",
        f"{c['member.promote']} to promote",
        f"{c['member.remove']} to remove",
        f"{c['key.deactivate']} key{'s' if c['key.deactivate'] != 1 else ''} to deactivate",
        f"{c['key.create']} key{'s' if c['key.create'] != 1 else ''} to create",
        f"{c['blocked']} blocked",
    ]
    if c["key.rotate"]:  # only when there is one: the line stays as it was for everyone else
        parts.insert(-1, f"{c['key.rotate']} key{'s' if c['key.rotate'] != 1 else ''} to rotate")
    return "Plan: " + ", ".join(parts) + "."


PHASES = {
    "scheduled": "scheduled",
    "due": "phase 1 of 2",
    "retiring": "phase 2 of 2, waiting",
    "retire": "phase 2 of 2, now",
}


def rotation_rows(plan: Plan) -> list[Row]:
    """Where each rotating key stands, and when its next step comes."""
    return [
        (
            "~",
            f"key {note.organization}/{note.key_label} ({note.key_id})",
            f"{PHASES[note.phase]}: {note.message}",
        )
        for note in plan.rotations
    ]


def expiry_rows(plan: Plan) -> list[Row]:
    """What expires soon ("!" a warning) or has expired (its removal is among the changes)."""
    return [("!" if not note.expired else "-", note.line, "") for note in plan.expiring]


def _unmanaged_row(key: UnmanagedKey, notes: UsageNotes | None = None) -> tuple[str, str, str]:
    if key.status == "ACTIVE":
        what = (
            "unmanaged: ACTIVE and not in the file; list it, or set prune_api_keys to deactivate it"
        )
    else:
        what = (
            f"unmanaged: status {key.status or 'null'} is unknown to this version; reported, "
            "never changed"
        )
    return (
        "?",
        f"key {key.key_id} ({key.redacted})",
        what + (notes.of_key(key.organization, key.key_id) if notes else ""),
    )


Row = tuple[str, str, str]  # symbol, subject, what happens


# Kinds from the most to the least dangerous: what a reviewer must see first when not all fits.
RISK_ORDER = (
    "blocked",
    "member.remove",
    "key.deactivate",
    "member.promote",
    "member.add",
    "key.rotate",
    "key.create",
    "unmanaged",
)


SECTION_TITLES = {
    "blocked": "blocked",
    "member.remove": "removals",
    "key.deactivate": "key deactivations",
    "member.promote": "promotions",
    "member.add": "additions",
    "key.create": "key creations",
    "key.rotate": "key rotations",
    "unmanaged": "unmanaged keys",
    "usage": "usage findings",
    "rotations": "key rotations in progress",
    "expiring": "expiring access",
}


def sections(
    plan: Plan, organization: str | None = None, notes: UsageNotes | None = None
) -> list[tuple[str, list[Row]]]:
    """The plan's rows by kind, in RISK_ORDER, for one organization or all; empty kinds left out."""
    notes = notes or UsageNotes(plan)
    rows: dict[str, list[Row]] = {kind: [] for kind in RISK_ORDER}
    for change in plan.changes:
        if organization is None or change.organization == organization:
            rows[change.action].append(describe_change(change, notes))
    rows["blocked"] = [
        describe_blocked(b) for b in plan.blocked if organization in (None, b.organization)
    ]
    rows["unmanaged"] = [
        _unmanaged_row(k, notes)
        for k in plan.unmanaged_keys
        if organization in (None, k.organization)
    ]
    return [(kind, found) for kind, found in rows.items() if found]
