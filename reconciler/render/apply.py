"""Apply reports: text for terminals, JSON for machines, markdown for the Action's job summary."""

from __future__ import annotations

import json

from ..execution.report import ApplyReport, DryRunReport, Report
from .escape import md_code, visible
from .plan import describe_change


def blocked_line(count: int) -> str:
    return (f"{count} blocked item(s) remain, which apply cannot do (see the plan); drift will keep reporting "
            f"them until the file or the organization changes.")


def _verification_line(report: ApplyReport) -> str:
    if report.verification_error:
        return visible(report.verification_error)
    parts = []
    if report.remaining:
        parts.append(f"{len(report.remaining)} change(s) remain; run apply again to finish.")
    if report.remaining_blocked:
        parts.append(blocked_line(len(report.remaining_blocked)))
    return "Verification read: " + (" ".join(parts) if parts else "the organization matches the file.")


def _totals_line(report: ApplyReport) -> str:
    counts = report.counts()
    return (f"Apply: {counts['applied']} applied, {counts['failed']} failed, {counts['skipped']} skipped, "
            f"in {report.write_calls} write call(s).")


def render_apply_text(report: Report) -> str:
    if isinstance(report, DryRunReport):
        lines = [f"Dry run: {len(report.calls)} call(s) would be sent; none was."]
        return "\n".join(lines + [f"  {visible(call)}" for call in report.calls])
    lines = []
    for result in report.results:
        symbol, subject, _ = describe_change(result.change)
        line = f"{result.outcome:<8} {symbol} {subject}  {result.change.action}"
        if result.message:
            line += f": {result.message}"
        lines.append(visible(line))
    lines += [_totals_line(report), _audit_line(report), _verification_line(report)]
    return "\n".join(lines)


def _audit_line(report: ApplyReport) -> str:
    return (f"Audit log: {report.audit_path}, head {report.audit_head} (keep it: `audit verify --head` detects "
            f"records cut off after it)")


def render_apply_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)


def render_apply_markdown(report: Report) -> str:
    if isinstance(report, DryRunReport):
        return "### ideogram-org apply (dry run)\n\n" + "\n".join(f"- {md_code(call)}" for call in report.calls)
    lines = ["### ideogram-org apply", "", f"Plan `{report.plan_hash}`", "",
             "| outcome | action | target | message |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['outcome']} | {r['action']} | {md_code(r['target'])} | {md_code(r['message'])} |"
              for r in (item.as_dict() for item in report.results)]
    lines += ["", _totals_line(report), "", f"Audit log head: `{report.audit_head}`", "", _verification_line(report)]
    return "\n".join(lines)
