"""Plan renderers: text for terminals, JSON for machines, markdown for pull request comments."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

import click

from ..defaults import MARKDOWN_LIMIT
from ..planning.changes import (
    Blocked,
    Change,
    KeyCreate,
    KeyDeactivate,
    MemberAdd,
    MemberPromote,
    MemberRemove,
    UnmanagedKey,
)
from ..planning.plan import Plan
from .escape import md_code, visible

MARKER_PREFIX = "<!-- ideogram-org plan:"

SYMBOLS = {"member.add": "+", "key.create": "+", "member.promote": "~", "member.remove": "-",
           "key.deactivate": "-"}
COLOURS = {"+": "green", "~": "yellow", "-": "red", "!": "magenta", "?": "cyan"}


def colour_wanted(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def _what_happens(change: Change) -> str:
    if isinstance(change, MemberAdd):
        return "add (joins as MEMBER)"
    if isinstance(change, MemberPromote):
        return ("promote to OWNER after adding" if change.after_add else "promote MEMBER -> OWNER") + \
            " (irreversible: the API cannot demote)"
    if isinstance(change, MemberRemove):
        return f"remove {change.current_role}: {change.reason}"
    if isinstance(change, KeyCreate):
        return "create a new key"
    assert isinstance(change, KeyDeactivate)
    return f"deactivate (irreversible): {change.reason}"


def describe_change(change: Change) -> tuple[str, str, str]:
    """(symbol, subject, what happens) for one change."""
    return SYMBOLS[change.action], change.subject, _what_happens(change)


def describe_blocked(item: Blocked) -> tuple[str, str, str]:
    return "!", item.subject, f"blocked: {item.reason}"


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    parts = [f"{c['member.add']} to add", f"{c['member.promote']} to promote", f"{c['member.remove']} to remove",
             f"{c['key.deactivate']} key{'s' if c['key.deactivate'] != 1 else ''} to deactivate",
             f"{c['key.create']} key{'s' if c['key.create'] != 1 else ''} to create", f"{c['blocked']} blocked"]
    return "Plan: " + ", ".join(parts) + "."


def _unmanaged_row(key: UnmanagedKey) -> tuple[str, str, str]:
    if key.status == "ACTIVE":
        what = "unmanaged: ACTIVE and not in the file; list it, or set prune_api_keys to deactivate it"
    else:
        what = f"unmanaged: status {key.status or 'null'} is unknown to this version; reported, never changed"
    return "?", f"key {key.key_id} ({key.redacted})", what


def _plan_lines(plan: Plan, paint: Callable[[str, str], str]) -> list[str]:
    """The plan as lines of text, every string from the file or the server made visible first."""
    lines: list[str] = []

    def show(symbol: str, text: str) -> None:
        lines.append(paint(symbol, visible(text)))

    if not plan.safe:
        show("!", "UNSAFE PLAN: apply will refuse it")
        for violation in plan.violations:
            show("!", f"  x {violation.message}")
        lines += [f"  To approve this exact plan: --allow-unsafe {plan.plan_hash[:12]}", ""]
    for org in plan.organizations:
        lines.append(visible(f"Organization {org.name} ({org.organization_id}): {org.members_before} members, "
                             f"{org.owners_before} owner(s) -> {org.owners_after}; you are {org.caller_role}"))
        rows = [describe_change(c) for c in plan.changes if c.organization == org.name]
        rows += [describe_blocked(b) for b in plan.blocked if b.organization == org.name]
        rows += [_unmanaged_row(k) for k in plan.unmanaged_keys if k.organization == org.name]
        if not rows:
            lines.append("  (no changes)")
        width = min(48, max((len(visible(subject)) for _, subject, _ in rows), default=0))
        for symbol, subject, what in rows:
            show(symbol, f"  {symbol} {visible(subject).ljust(width)}  {what}")
        lines.append("")
    lines.append(summary_line(plan))
    if plan.unmanaged_keys:
        lines.append(f"{len(plan.unmanaged_keys)} unmanaged key(s) reported, not changed.")
    lines.append(f"Plan hash: {plan.plan_hash}")
    return lines


def render_text(plan: Plan, colour: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        return click.style(text, fg=COLOURS.get(symbol)) if colour and symbol in COLOURS else text

    return "\n".join(_plan_lines(plan, paint))


def render_json(plan: Plan) -> str:
    return plan.to_json()


def marker(plan_hash: str) -> str:
    return f"{MARKER_PREFIX} {plan_hash} -->"


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """Summary first, details folded; never over `limit` characters, with a count of what was cut."""
    head = [marker(plan.plan_hash), "### ideogram-org plan", ""]
    if not plan.safe:
        head.append("> [!CAUTION]")
        head.append("> **Unsafe plan: apply will refuse it.**")
        for violation in plan.violations:
            head.append(f"> - {md_code(violation.message)}")
        head.append("")
    head.append(f"**{summary_line(plan)}**" if plan.has_differences else "**No changes.** The organization "
                "matches the file.")
    if plan.unmanaged_keys:
        head.append(f"\n{len(plan.unmanaged_keys)} unmanaged key(s) reported, not changed.")
    head += ["", f"Plan hash: `{plan.plan_hash}`", ""]
    body = [line.strip() if line.strip()[:1] in "+-~!?" else line  # diff colouring wants column 0
            for line in _plan_lines(plan, lambda _s, text: text) if not line.startswith("Plan hash")]
    opening = ["<details><summary>Details</summary>", "", "```diff"]
    closing = ["```", "", "</details>"]
    text = "\n".join(head + opening + body + closing)
    if len(text) <= limit:
        return text
    budget = limit - len("\n".join(head + opening + closing)) - 200
    kept: list[str] = []
    used = 0
    for line in body:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    cut = len(body) - len(kept)
    kept.append(f"... {cut} more line(s) not shown; run `ideogram-org plan` for the full plan")
    return "\n".join(head + opening + kept + closing)


PLAN_RENDERERS: dict[str, Callable[[Plan], str]] = {"text": render_text, "json": render_json,
                                                   "markdown": render_markdown}
