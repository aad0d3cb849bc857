"""Drift: where the live organization differs from the file, and whether apply could fix it.

Computed from the same pure plan, read through an `ApiReader`, which has no write calls at all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .plan import Blocked, Change, Plan
from .render import MARKDOWN_LIMIT

DRIFT_MARKER = "<!-- ideogram-org drift -->"
LIVE_VS_FILE = {
    "member.add": ("not a member", "listed"),
    "member.promote": ("MEMBER", "OWNER"),
    "member.remove": ("member", "not listed"),
    "key.deactivate": ("ACTIVE", "DISABLED or not listed"),
    "key.create": ("no key", "a new key"),
    "member.demote": ("OWNER", "MEMBER"),
    "key.reactivate": ("DISABLED", "ACTIVE"),
    "key.missing": ("no such key", "listed"),
    "member.remove_protected": ("member", "not listed (protected)"),
}


@dataclass(frozen=True)
class Difference:
    organization: str
    kind: str
    subject: str
    live: str
    desired: str
    fixable: bool
    fix: str  # what apply would do, or why it cannot


def _subject(item: Change | Blocked) -> str:
    if item.member is not None:
        return item.member.label
    return f"key {item.key_label or item.key_id}"


@dataclass(frozen=True)
class DriftReport:
    differences: tuple[Difference, ...]
    unmanaged_keys: int
    plan_hash: str
    organizations: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    @classmethod
    def from_plan(cls, plan: Plan) -> DriftReport:
        differences = []
        new_owners = [c.member for c in plan.changes if c.action == "member.promote" and c.after_add]
        for change in plan.changes:
            if change.action == "member.promote" and change.after_add:
                continue  # part of the add it follows
            live, desired = LIVE_VS_FILE[change.action]
            if change.action == "member.add":
                desired = f"listed as {'OWNER' if change.member in new_owners else 'MEMBER'}"
            if change.action == "member.remove" and change.current_role:
                live = change.current_role
            differences.append(Difference(change.organization, change.action, _subject(change), live, desired,
                                          True, f"apply would {change.action.split('.')[1]}: {change.reason}"))
        for item in plan.blocked:
            live, desired = LIVE_VS_FILE[item.kind]
            differences.append(Difference(item.organization, item.kind, _subject(item), live, desired, False,
                                          item.reason))
        return cls(tuple(differences), len(plan.unmanaged_keys), plan.plan_hash,
                   tuple(o.name for o in plan.organizations))

    def as_dict(self) -> dict:
        return {"in_sync": not self.drifted, "plan_hash": self.plan_hash, "organizations": list(self.organizations),
                "differences": [asdict(d) for d in self.differences], "unmanaged_keys": self.unmanaged_keys}


def render_drift_text(report: DriftReport) -> str:
    if not report.drifted:
        return f"In sync: {', '.join(report.organizations)} match(es) the file."
    lines = [f"Drift: {len(report.differences)} difference(s) between the live organization and the file."]
    for d in report.differences:
        verdict = "fixable" if d.fixable else "NOT fixable"
        lines.append(f"  {d.organization}: {d.subject}: live {d.live}, file {d.desired} [{verdict}] {d.fix}")
    if report.unmanaged_keys:
        lines.append(f"{report.unmanaged_keys} unmanaged key(s) are reported by plan, not counted as drift.")
    return "\n".join(lines)


def render_drift_json(report: DriftReport) -> str:
    return json.dumps(report.as_dict(), indent=2)


def render_drift_markdown(report: DriftReport, limit: int = MARKDOWN_LIMIT) -> str:
    head = [DRIFT_MARKER, "### ideogram-org drift", ""]
    if not report.drifted:
        return "\n".join(head + ["**In sync.** The live organization matches the file."])
    fixable = sum(d.fixable for d in report.differences)
    head += [f"**{len(report.differences)} difference(s)** between the live organization and the file: "
             f"{fixable} that apply can fix, {len(report.differences) - fixable} that need a person.", "",
             "| organization | subject | live | file | fixable | detail |", "| --- | --- | --- | --- | --- | --- |"]
    rows = [f"| {d.organization} | {d.subject} | {d.live} | {d.desired} | {'yes' if d.fixable else 'no'} | "
            f"{d.fix.replace('|', '/')} |" for d in report.differences]
    text = "\n".join(head + rows)
    if len(text) <= limit:
        return text
    kept, used = [], len("\n".join(head)) + 200
    for row in rows:
        if used + len(row) + 1 > limit:
            break
        kept.append(row)
        used += len(row) + 1
    return "\n".join(head + kept + ["", f"... {len(rows) - len(kept)} more difference(s) not shown"])


DRIFT_RENDERERS = {"text": render_drift_text, "json": render_drift_json, "markdown": render_drift_markdown}
