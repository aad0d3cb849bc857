"""`watch`'s report as text, JSON and markdown."""

from __future__ import annotations

from ..model.watch import WatchReport
from .escape import md_code, visible

OUTCOMES = {
    "planned": "planned, not sent (run with --contain to carry it out)",
    "done": "done",
    "failed": "sent, and failed: see the apply report",
    "refused": "refused by the safety limits, nothing sent",
}


def _lines(report: WatchReport) -> list[str]:
    lines = [f"Watched the last {report.hours} hour(s) of {', '.join(report.organizations)}."]
    if not report.findings:
        lines.append("No findings: every key within its budget and its usual spend.")
    lines += [f"! {visible(f.line)} [{f.action}]" for f in report.findings]
    lines += [
        f"~ {c.organization}: {c.action} key {visible(c.key_label)}: {OUTCOMES[c.outcome]}"
        + (f" ({visible(c.detail)})" if c.detail else "")
        for c in report.containment
    ]
    lines += [f"  {visible(line)}" for line in report.commits]
    lines += [f"note: {visible(n)}" for n in report.notes]
    if report.audit_head:
        lines.append(f"Audit record: {report.audit_head}")
    return lines


def render_watch_text(report: WatchReport) -> str:
    return "\n".join(_lines(report))


def render_watch_json(report: WatchReport) -> str:
    return report.model_dump_json(indent=2)


def render_watch_markdown(report: WatchReport) -> str:
    head = f"### ideogram-org watch: {len(report.findings)} finding(s)"
    return "\n".join([head, "", *(f"- {md_code(line)}" for line in _lines(report))])
