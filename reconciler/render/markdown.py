"""The plan as a pull request comment: summary first, then every kind of change in order of risk.

A comment holds at most MARKDOWN_LIMIT characters. When a plan does not fit, the longest
sections are cut first (each keeps its count and says how many lines it lost), so a reviewer
sees every destructive change that fits, and the count of those that do not.
"""

from __future__ import annotations

from ..defaults import MARKDOWN_LIMIT
from ..model.plan import Plan
from .escape import md_code, visible
from .fit import fit_to_limit
from .rows import (
    MARKER_PREFIX,
    SECTION_TITLES,
    Row,
    expiry_rows,
    rotation_rows,
    sections,
    summary_line,
    usage_lines,
)


def marker(plan_hash: str) -> str:
    return f"{MARKER_PREFIX} {plan_hash} -->"


def _head(plan: Plan) -> list[str]:
    head = [marker(plan.plan_hash), "### ideogram-org plan", ""]
    if not plan.safe:
        head += ["> [!CAUTION]", "> **Unsafe plan: apply will refuse it.**"]
        head += [f"> - {md_code(violation.message)}" for violation in plan.violations]
        head.append("")
    head.append(
        f"**{summary_line(plan)}**"
        if plan.has_differences
        else "**No changes.** The organization matches the file."
    )
    if plan.unmanaged_keys:
        head.append(f"\n{len(plan.unmanaged_keys)} unmanaged key(s) reported, not changed.")
    head += ["", f"Plan hash: `{plan.plan_hash}`", ""]
    for org in plan.organizations:
        head.append(
            f"- {md_code(org.name)}: {org.members_before} members, {org.owners_before} owner(s) -> "
            f"{org.owners_after}; you are {org.caller_role}"
        )
    return head


def _section(kind: str, rows: list[Row], shown: int) -> list[str]:
    lines = [f"<details open><summary>{SECTION_TITLES[kind]}: {len(rows)}</summary>", "", "```diff"]
    lines += [
        visible(f"{symbol} {subject}  {what}".rstrip()) for symbol, subject, what in rows[:shown]
    ]
    if shown < len(rows):
        lines.append(
            f"... {len(rows) - shown} more {SECTION_TITLES[kind]} not shown; run `ideogram-org "
            "plan "
            f"--full` for every line"
        )
    return lines + ["```", "", "</details>"]


def _render(head: list[str], parts: list[tuple[str, list[Row]]], cap: int) -> str:
    body = [line for kind, rows in parts for line in _section(kind, rows, min(cap, len(rows)))]
    return "\n".join(head + [""] + body)


def render_markdown(plan: Plan, limit: int = MARKDOWN_LIMIT) -> str:
    """Never over `limit` characters: the most rows per section that fit, the same cap for all."""
    head = _head(plan)
    parts = sections(plan)
    if plan.rotations:
        parts.append(("rotations", rotation_rows(plan)))
    if plan.expiring:
        parts.append(("expiring", expiry_rows(plan)))
    if plan.usage is not None:
        head += ["", md_code(usage_lines(plan)[0])]
        parts.append(("usage", [("?", line.strip(), "") for line in usage_lines(plan)[1:]]))
    longest = max((len(rows) for _, rows in parts), default=0)
    return fit_to_limit(lambda cap: _render(head, parts, cap), longest, limit)
