"""The usage report as text, JSON, CSV and HTML (the HTML lives in render/usage_html.py)."""

from __future__ import annotations

import csv
import io

from ..model.money import format_money, plain_major
from ..model.usage import OrganizationReport, UsageReport
from .escape import md_code, visible


def commit_line(org: OrganizationReport) -> str:
    commit = org.commit
    if commit is None:
        return "  commit: none active"
    return (
        f"  commit: {format_money(commit.amount, org.currency)} from {commit.start[:10]} to "
        f"{commit.end[:10]}"
        f"{' (postpaid)' if commit.postpaid else ''}: "
        f"spent {format_money(commit.spent, org.currency)} "
        f"({commit.spent / commit.amount if commit.amount else 0:.0%}); "
        f"{commit.elapsed_share:.0%} of the "
        f"period gone; projected {format_money(commit.projected, org.currency)} "
        f"({commit.projected_share:.0%})"
    )


def invoice_lines(org: OrganizationReport) -> list[str]:
    """Each invoice against its month's usage; the keys that differ under it."""
    if org.invoices is None:
        return []
    if not org.invoices:
        return ["  invoices: none for this window"]
    lines = ["  invoices against usage:"]
    for found in org.invoices:
        verdict = (
            "not compared (voided)"
            if not found.compared
            else f"DIFFERS by {format_money(found.difference, found.currency)} "
            f"({found.difference_share:+.1%})"
            if found.differs
            else "matches"
        )
        lines.append(
            f"    {found.month}  {found.status:<16} invoiced "
            f"{format_money(found.invoiced, found.currency):>14}  usage "
            f"{format_money(found.used, found.currency):>14}  {verdict}"
        )
        lines += [
            visible(
                f"      {key.label}: invoiced {format_money(key.invoiced, found.currency)}, usage "
                f"{format_money(key.used, found.currency)}"
            )
            for key in found.keys
            if key.differs
        ]
        if found.lines_total_differs:
            lines.append("      its line items do not add up to its total")
    return lines


def _organization_text(org: OrganizationReport) -> list[str]:
    lines = [
        visible(
            f"Organization {org.name} ({org.organization_id}): {org.since[:10]} to "
            f"{org.until[:10]}, "
            f"total {format_money(org.total, org.currency)}"
        ),
        f"  by {org.by}:",
    ]
    labels = (
        [g.label for g in org.groups]
        + [k.label for k in org.keys]
        + [m.label for m in org.members or []]
    )
    width = min(48, max((len(visible(label)) for label in labels), default=0))
    for group in org.groups:
        last = f"  last used {group.last_used}" if group.last_used else ""
        lines.append(
            visible(
                f"    {group.label.ljust(width)}  {format_money(group.amount, org.currency):>16}  "
                f"{group.share:>4.0%}{last}"
            )
        )
    if not org.groups:
        lines.append(
            f"    {org.members_note}"
            if org.by == "member" and org.members is None
            else "    (no usage in this window)"
        )
    lines.append("  keys, last used:")
    lines += [
        visible(f"    {key.label:<{width}}  {key.last_used or 'not in this window'}")
        for key in org.keys
    ]
    if org.members is None:
        lines.append(f"  members: {org.members_note}")
    else:
        lines.append("  members, last active on the web app:")
        lines += [
            visible(f"    {m.label:<{width}}  {m.last_used or 'not in this window'}")
            for m in org.members
        ]
    lines.append(commit_line(org))
    lines += invoice_lines(org)
    lines += [visible(f"  note: {note}") for note in org.notes]
    if org.available_credits is not None:
        lines.append(f"  available credits: {format_money(org.available_credits, org.currency)}")
    return lines


def render_usage_text(report: UsageReport) -> str:
    lines: list[str] = []
    for org in report.organizations:
        lines += [*_organization_text(org), ""]
    lines += [visible(f"note: {note}") for note in report.notes]
    lines.append(f"Usage calls: {report.usage_calls}")
    return "\n".join(lines)


def render_usage_json(report: UsageReport) -> str:
    return report.model_dump_json(indent=2)


def _cell(text: str) -> str:
    """A spreadsheet must not run a label as a formula (CSV injection): such text is quoted with
    '."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_usage_csv(report: UsageReport) -> str:
    """One row per group: for spreadsheets (amounts in currency units, not cents)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["organization", "by", "key", "label", "amount", "currency", "share", "last_used"]
    )
    for org in report.organizations:
        for group in org.groups:
            writer.writerow(
                [
                    _cell(org.name),
                    _cell(org.by),
                    _cell(group.key),
                    _cell(group.label),
                    plain_major(group.amount, org.currency),
                    _cell(org.currency),
                    f"{group.share:.4f}",
                    _cell(group.last_used or ""),
                ]
            )
    return out.getvalue()


def render_usage_markdown(
    report: UsageReport, heading: str = "### ideogram-org usage", top: int = 10
) -> str:
    """For a job summary or the drift issue: totals, the biggest spenders, the commit."""
    lines = [heading, ""]
    for org in report.organizations:
        lines += [
            f"**{md_code(org.name)}**: {format_money(org.total, org.currency)} "
            f"from {org.since[:10]} to "
            f"{org.until[:10]}",
            "",
            f"| {org.by} | amount | share | last used |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {md_code(g.label)} | {format_money(g.amount, org.currency)} | {g.share:.0%} | "
            f"{g.last_used or ''} |"
            for g in org.groups[:top]
        ]
        if len(org.groups) > top:
            lines.append(f"| ... {len(org.groups) - top} more | | | |")
        lines += ["", commit_line(org).strip(), ""]
    lines += [f"Note: {md_code(note)}" for note in report.notes]
    lines.append(f"{report.usage_calls} usage call(s).")
    return "\n".join(lines)
