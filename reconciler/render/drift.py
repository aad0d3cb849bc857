"""Drift reports for terminals, machines and the drift issue."""

from __future__ import annotations

import json

from ..defaults import MARKDOWN_LIMIT
from ..model.drift import DriftReport
from .escape import md_code, visible
from .fit import fit_to_limit

DRIFT_MARKER = "<!-- ideogram-org drift -->"


def _notes(report: DriftReport) -> list[str]:
    return [visible(f"note: {note}") for note in report.notes]


def render_drift_text(report: DriftReport) -> str:
    if not report.drifted:
        return "\n".join(
            [
                visible(f"In sync: {', '.join(report.organizations)} match(es) the file."),
                *_notes(report),
            ]
        )
    lines = [
        f"Drift: {len(report.differences)} difference(s) between the live organization and the "
        "file."
    ]
    for d in report.differences:
        verdict = "fixable" if d.fixable else "NOT fixable"
        lines.append(
            visible(
                f"  {d.organization}: {d.subject}: live {d.live}, file {d.desired} [{verdict}] "
                f"{d.fix}"
            )
        )
    reported = [k for k in report.unmanaged_keys if not k.drift]
    if reported:
        lines.append(
            f"{len(reported)} unmanaged key(s) in organizations whose file lists no keys are "
            "reported by "
            f"plan, not counted as drift."
        )
    return "\n".join(lines + _notes(report))


def render_drift_json(report: DriftReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def render_drift_markdown(report: DriftReport, limit: int = MARKDOWN_LIMIT) -> str:
    head = [DRIFT_MARKER, "### ideogram-org drift", ""]
    notes = [f"> {md_code(note)}" for note in report.notes]
    if not report.drifted:
        return "\n".join(
            head + ["**In sync.** The live organization matches the file.", "", *notes]
        )
    fixable = sum(d.fixable for d in report.differences)
    head += [
        f"**{len(report.differences)} difference(s)** between the live organization and the file: "
        f"{fixable} that apply can fix, {len(report.differences) - fixable} that need a person.",
        "",
        "| organization | subject | live | file | fixable | detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [
        f"| {md_code(d.organization)} | {md_code(d.subject)} | {d.live} | {d.desired} | "
        f"{'yes' if d.fixable else 'no'} | {md_code(d.fix)} |"
        for d in report.differences
    ]

    def shown(cap: int) -> str:
        more = (
            [] if cap >= len(rows) else ["", f"... {len(rows) - cap} more difference(s) not shown"]
        )
        return "\n".join(head + rows[:cap] + more + ([""] + notes if notes else []))

    return fit_to_limit(shown, len(rows), limit)
