"""`watch`: read the last hours of spend, judge it against the file's budgets and each key's own
baseline, and carry out the containment those budgets ask for only when told (`--contain`),
through the same lock, limits and audit as apply."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from ..api.client import ApiClient
from ..api.usage import read_usage
from ..config.loader import LoadedConfig
from ..model.changes import Change
from ..model.money import format_money
from ..model.plan import Containment as ContainmentApproval
from ..model.report import ApplyReport, Report
from ..model.watch import Containment, Finding, WatchReport
from ..planning.usage import commit_status
from ..planning.watch import containment_changes, containment_plan, watch_findings, window_start
from .keys import server_now


@dataclass(frozen=True)
class Watched:
    report: WatchReport
    run: Report | None  # the containment's apply, when one was sent


def _containment(changes: list[Change], outcome: str, detail: str = "") -> list[Containment]:
    from ..model.changes import KeyDeactivate

    found = []
    for change in changes:
        if isinstance(change, KeyDeactivate):
            found.append(
                Containment(
                    organization=change.organization,
                    key_label=change.key_label or change.key_id,
                    action="rotate" if change.retires else "deactivate",
                    outcome=outcome,  # type: ignore[arg-type]
                    detail=detail,
                )
            )
    return found


def watch(
    client: ApiClient,
    config: LoadedConfig,
    only: Iterable[str],
    hours: int,
    contain: bool,
    options: object,
) -> Watched:
    """Findings for every selected organization; with `contain`, the containment sent."""
    from . import ApplyOptions, apply, plan_with_state

    assert isinstance(options, ApplyOptions)
    planned = plan_with_state(
        client, config, only, options.api_version, options.progress, options.state
    )
    now = server_now(client)
    findings: list[Finding] = []
    notes: list[str] = []
    commits: list[str] = []
    changes: list[Change] = []
    for name, live in planned.live.organizations.items():
        policy = planned.config.desired.effective_policy(name)
        desired = planned.config.desired.organizations[name]
        usage = read_usage(
            client,
            live,
            planned.live.api_version,
            window_start(now, hours, policy),
            now,
            spend=True,
            segment_by="HOUR",
        )
        found, org_notes = watch_findings(name, desired, policy, live, usage, now, hours)
        findings += found
        notes += [*org_notes, *(f"{name}: {n}" for n in usage.notes)]
        status = commit_status(usage.commits, now)
        if status is not None:
            currency = usage.commits[0].currency
            commits.append(
                f"{name}: commit {format_money(status.amount, currency)}, spent "
                f"{format_money(status.spent, currency)}, projected "
                f"{format_money(status.projected, currency)} ({status.projected_share:.0%})"
            )
        changes += containment_changes(found, desired, live, name)
    report = WatchReport(
        generated_at=now.isoformat(timespec="seconds"),
        hours=hours,
        organizations=list(planned.live.organizations),
        findings=findings,
        commits=commits,
        notes=notes,
    )
    if not changes:
        return Watched(report, None)
    cut = containment_plan(planned.plan, changes)
    if not contain:
        return Watched(
            report.model_copy(update={"containment": _containment(changes, "planned")}), None
        )
    if not cut.safe:
        detail = "; ".join(v.message for v in cut.violations)
        refused = report.model_copy(
            update={"containment": _containment(changes, "refused", detail)}
        )
        return Watched(refused, None)
    run = apply(
        client, dataclasses.replace(planned, plan=cut), options, ContainmentApproval(cut.plan_hash)
    )
    failed = isinstance(run, ApplyReport) and run.failed
    outcome = "failed" if failed else "done"
    return Watched(
        report.model_copy(
            update={
                "containment": _containment(changes, outcome),
                "audit_head": getattr(run, "audit_head", "") or "",
            }
        ),
        run,
    )
