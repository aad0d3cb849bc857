"""Apply reports: text for terminals, JSON for machines, markdown for the Action's job summary."""

from __future__ import annotations

from ..defaults import PLAN_GROUP_SHOWN, PLAN_GROUP_THRESHOLD
from ..model.changes import same_target
from ..model.report import ApplyReport, DryRunReport, ItemResult, NothingToApply, Report
from .escape import md_code, visible
from .rows import describe_change

OUTCOME_ORDER = ["failed", "skipped", "applied"]  # what needs attention first


def blocked_line(count: int) -> str:
    return (
        f"{count} blocked item(s) remain, which apply cannot do (see the plan); drift will keep "
        "reporting "
        f"them until the file or the organization changes."
    )


def _nothing_line(report: NothingToApply) -> str:
    if report.blocked:
        return f"Nothing to apply. {blocked_line(report.blocked)}"
    return "Nothing to apply. The organization matches the file."


def _refused_now(report: ApplyReport) -> int:
    """How many remaining changes the server refused outright in this run (no unknown outcome)."""
    failed = [r.change for r in report.results if r.outcome == "failed"]
    return sum(1 for change in report.remaining if any(same_target(change, f) for f in failed))


def _verification_line(report: ApplyReport) -> str:
    if report.verification_error:
        return visible(report.verification_error)
    if not report.verified:
        return "No verification read was made: plan again to see what is left."
    parts = []
    refused = _refused_now(report)
    retryable = len(report.remaining) - refused
    if retryable > 0:
        parts.append(f"{retryable} change(s) remain; run apply again to finish.")
    if refused:
        parts.append(
            f"{refused} change(s) the server refused remain (see above): applying again will "
            "not help until their cause is fixed (a person without an Ideogram account must "
            "sign up first)."
        )
    if report.remaining_blocked:
        parts.append(blocked_line(len(report.remaining_blocked)))
    return "Verification read: " + (
        " ".join(parts) if parts else "the organization matches the file."
    )


def _totals_line(report: ApplyReport) -> str:
    counts = report.counts()
    return (
        f"Apply: {counts['applied']} applied, {counts['failed']} failed, {counts['skipped']} "
        "skipped, "
        f"in {report.write_calls} write call(s)."
    )


def _result_line(result: ItemResult) -> str:
    symbol, subject, _ = describe_change(result.change)
    line = f"{result.outcome:<8} {symbol} {subject}  {result.change.action}"
    return visible(line + (f": {result.message}" if result.message else ""))


def render_apply_text(report: Report, full: bool = False) -> str:
    """One line per change; past PLAN_GROUP_THRESHOLD of them (unless `full`), failures first and
    PLAN_GROUP_SHOWN of each outcome and action, with the count of the rest."""
    if isinstance(report, DryRunReport):
        lines = [f"Dry run: {len(report.calls)} call(s) would be sent; none was."]
        return "\n".join(lines + [f"  {visible(call)}" for call in report.calls])
    if isinstance(report, NothingToApply):
        return _nothing_line(report)
    if full or len(report.results) <= PLAN_GROUP_THRESHOLD:
        lines = [_result_line(result) for result in report.results]
    else:
        groups: dict[tuple[str, str], list[ItemResult]] = {}
        for result in sorted(report.results, key=lambda r: OUTCOME_ORDER.index(r.outcome)):
            groups.setdefault((result.outcome, result.change.action), []).append(result)
        lines = []
        for (outcome, action), results in groups.items():
            lines.append(f"{outcome} {action}: {len(results)}")
            lines += [f"  {_result_line(result)}" for result in results[:PLAN_GROUP_SHOWN]]
            if len(results) > PLAN_GROUP_SHOWN:
                lines.append(
                    f"  ... and {len(results) - PLAN_GROUP_SHOWN} more (--full shows every line; "
                    "the "
                    f"audit log has each)"
                )
    lines += [_totals_line(report), _audit_line(report), _verification_line(report)]
    return "\n".join(lines)


def _audit_line(report: ApplyReport) -> str:
    return (
        f"Audit log: {report.audit_path}, head {report.audit_head} (keep it: `audit verify "
        "--head` detects "
        f"records cut off after it)"
    )


def render_apply_json(report: Report) -> str:
    return report.as_output().model_dump_json(indent=2)


def render_apply_markdown(report: Report) -> str:
    if isinstance(report, DryRunReport):
        return "### ideogram-org apply (dry run)\n\n" + "\n".join(
            f"- {md_code(call)}" for call in report.calls
        )
    if isinstance(report, NothingToApply):
        return f"### ideogram-org apply\n\n{_nothing_line(report)}"
    lines = [
        "### ideogram-org apply",
        "",
        f"Plan `{report.plan_hash}`",
        "",
        "| outcome | action | target | message |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['outcome']} | {r['action']} | {md_code(r['target'])} | {md_code(r['message'])} |"
        for r in (item.as_output().model_dump() for item in report.results)
    ]
    lines += [
        "",
        _totals_line(report),
        "",
        f"Audit log head: `{report.audit_head}`",
        "",
        _verification_line(report),
    ]
    return "\n".join(lines)
