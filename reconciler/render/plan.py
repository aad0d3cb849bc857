"""The plan as text for terminals and as JSON for machines."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

import click

from ..defaults import PLAN_GROUP_SHOWN, PLAN_GROUP_THRESHOLD
from ..model.plan import Plan
from .escape import visible
from .rows import (
    SECTION_TITLES,
    Row,
    UsageNotes,
    _unmanaged_row,
    describe_blocked,
    describe_change,
    expiry_rows,
    rotation_rows,
    sections,
    summary_line,
    usage_lines,
)

COLOURS = {"+": "green", "~": "yellow", "-": "red", "!": "magenta", "?": "cyan"}


def colour_wanted(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


def _row_lines(rows: list[Row], show: Callable[[str, str], None]) -> None:
    width = min(48, max((len(visible(subject)) for _, subject, _ in rows), default=0))
    for symbol, subject, what in rows:
        show(symbol, f"  {symbol} {visible(subject).ljust(width)}  {what}")


def _organization_rows(
    plan: Plan,
    name: str,
    notes: UsageNotes,
    full: bool,
    show: Callable[[str, str], None],
    lines: list[str],
) -> None:
    rows = [describe_change(c, notes) for c in plan.changes if c.organization == name]
    rows += [describe_blocked(b) for b in plan.blocked if b.organization == name]
    rows += [_unmanaged_row(k, notes) for k in plan.unmanaged_keys if k.organization == name]
    if not rows:
        lines.append("  (no changes)")
    if full or len(rows) <= PLAN_GROUP_THRESHOLD:
        _row_lines(rows, show)
    else:
        for kind, group in sections(plan, name, notes):
            lines.append(f"  {SECTION_TITLES[kind]}: {len(group)}")
            _row_lines(group[:PLAN_GROUP_SHOWN], show)
            if len(group) > PLAN_GROUP_SHOWN:
                lines.append(
                    f"    ... and {len(group) - PLAN_GROUP_SHOWN} more {SECTION_TITLES[kind]} "
                    f"(--full shows every line)"
                )


def _plan_lines(plan: Plan, paint: Callable[[str, str], str], full: bool = True) -> list[str]:
    """The plan as lines of text, every string from the file or the server made visible first.
    Unless `full`, an organization with more than PLAN_GROUP_THRESHOLD rows shows the first
    PLAN_GROUP_SHOWN of each kind and the count of the rest."""
    lines: list[str] = []

    def show(symbol: str, text: str) -> None:
        lines.append(paint(symbol, visible(text)))

    if not plan.safe:
        show("!", "UNSAFE PLAN: apply will refuse it")
        for violation in plan.violations:
            show("!", f"  x {violation.message}")
        lines += [f"  To approve this exact plan: --allow-unsafe {plan.plan_hash[:12]}", ""]
    lines += [summary_line(plan), ""]
    notes = UsageNotes(plan)
    for org in plan.organizations:
        lines.append(
            visible(
                f"Organization {org.name} ({org.organization_id}): {org.members_before} members, "
                f"{org.owners_before} owner(s) -> {org.owners_after}; you are {org.caller_role}"
            )
        )
        _organization_rows(plan, org.name, notes, full, show, lines)
        lines.append("")
    for title, rows in (
        ("Key rotations:", rotation_rows(plan)),
        ("Expiring access:", expiry_rows(plan)),
    ):
        if rows:
            lines.append(title)
            _row_lines(rows, show)
            lines.append("")
    if plan.usage is not None:
        lines += [*(visible(line) for line in usage_lines(plan)), ""]
    if plan.unmanaged_keys:
        lines.append(f"{len(plan.unmanaged_keys)} unmanaged key(s) reported, not changed.")
    lines.append(f"Plan hash: {plan.plan_hash}")
    return lines


def render_text(plan: Plan, colour: bool = False, full: bool = False) -> str:
    def paint(symbol: str, text: str) -> str:
        return click.style(text, fg=COLOURS.get(symbol)) if colour and symbol in COLOURS else text

    return "\n".join(_plan_lines(plan, paint, full))


def render_json(plan: Plan) -> str:
    return plan.to_json()
