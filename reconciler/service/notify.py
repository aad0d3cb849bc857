"""Who hears of what: events made from a command's outcome, each sent once per cause (the state
store keeps what was sent, for every machine), to the file's `notify:` targets. Nothing here can
fail or hold up the command: problems are one warning line each, within a bound of seconds."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone

from ..config.loader import LoadedConfig
from ..delivery.notify import Target, send
from ..model.drift import DriftReport
from ..model.events import Event, EventKind, cause_of
from ..model.plan import Plan
from ..model.report import ApplyReport, Report
from ..model.watch import WatchReport
from ..store.state import StateStore

Say = Callable[[str], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _targets(config: LoadedConfig, say: Say) -> list[tuple[Target, frozenset[str]]]:
    found: list[tuple[Target, frozenset[str]]] = []
    for notifier in config.desired.notify:
        target = notifier.target
        kind = "slack" if "slack" in type(notifier).model_fields else "webhook"
        url = os.environ.get(target.url_env, "")
        if not url:
            say(f"warning: notify {kind}: set {target.url_env} (its URL); nothing sent there")
            continue
        found.append((Target(kind, target.url_env, url), frozenset(target.events)))
    return found


def notify(
    config: LoadedConfig | None,
    store: StateStore,
    events: list[Event],
    say: Say,
    drift_states: dict[str, str] | None = None,
    **send_options: object,
) -> list[tuple[Target, Event]]:
    """Send `events` that are news to each target that wants their kind; what was sent.
    `drift_states` (organization -> the drift's cause, or "cleared") is remembered too."""
    if config is None or not config.desired.notify or not (events or drift_states):
        return []
    try:
        targets = _targets(config, say)
        known = store.notices()
        batches = [
            (target, fresh)
            for target, kinds in targets
            if (
                fresh := [
                    e
                    for e in events
                    if e.kind in kinds and f"{target.variable}:{e.cause}" not in known
                ]
            )
        ]
        delivered: list[tuple[Target, Event]] = []
        if batches:  # one bound for every target together
            delivered, problems = send(batches, **send_options)  # type: ignore[arg-type]
            for line in problems:
                say(f"warning: {line} (the command's outcome is not changed)")
        record = {f"{t.variable}:{e.cause}": e.at for t, e in delivered}
        record.update({f"drift-last:{org}": state for org, state in (drift_states or {}).items()})
        if record:
            store.record_notices(record)
        return delivered
    except Exception as exc:  # noqa: BLE001 - a notification never fails the command
        say(f"warning: notifications not sent: {type(exc).__name__}")
        return []


def _event(
    kind: EventKind,
    organization: str,
    summary: str,
    lines: list[str],
    *cause: str,
    **details: object,
) -> Event:
    return Event(
        kind=kind,
        cause=cause_of(kind, organization, *cause),
        organization=organization,
        at=_now(),
        summary=summary,
        lines=lines,
        details=details,  # type: ignore[arg-type]
    )


def apply_events(report: ApplyReport, organizations: list[str]) -> list[Event]:
    counts = report.counts()
    done = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
    return [
        _event(
            "apply",
            ", ".join(organizations),
            f"apply of plan {report.plan_hash[:12]} finished: {done or 'nothing sent'}",
            [],
            report.run_id,
            plan_hash=report.plan_hash,
            audit_head=report.audit_head,
            **{f"count_{k}": v for k, v in counts.items()},
        )
    ]


def drift_events(report: DriftReport, known: dict[str, str]) -> tuple[list[Event], dict[str, str]]:
    """Drift found (per organization, once per set of differences) or cleared (once, after a
    drift was told)."""
    events, states = [], {}
    for org in report.organizations:
        lines = sorted(
            f"{d.kind} {d.subject}: live {d.live}, wanted {d.desired}"
            for d in report.differences
            if d.organization == org
        )
        last = known.get(f"drift-last:{org}", "")
        if lines:
            cause = cause_of("drift", org, *lines)
            if last != cause:
                events.append(
                    _event(
                        "drift",
                        org,
                        f"{org}: {len(lines)} difference(s) from the file",
                        lines,
                        *lines,
                    )
                )
            states[org] = cause
        elif last and last != "cleared":
            events.append(
                _event(
                    "drift",
                    org,
                    f"{org}: drift cleared, in step with the file",
                    [],
                    "cleared",
                    last,
                )
            )
            states[org] = "cleared"
    return events, states


def plan_events(plan: Plan) -> list[Event]:
    """Expiry warnings and dormant-member candidates a plan shows: once per date and person."""
    events = []
    for org in {n.organization for n in plan.expiring}:
        lines = [n.line for n in plan.expiring if n.organization == org]
        events.append(
            _event("expiry", org, f"{org}: {len(lines)} expiring or expired", lines, *lines)
        )
    if plan.usage is not None:
        for org in {d.organization for d in plan.usage.dormant_members}:
            lines = sorted(
                f"{d.member.label}: no activity since {d.no_activity_since}"
                for d in plan.usage.dormant_members
                if d.organization == org
            )
            events.append(
                _event("dormant", org, f"{org}: {len(lines)} dormant member(s)", lines, *lines)
            )
    return events


def watch_events(report: WatchReport) -> list[Event]:
    events = [
        _event("budget", f.organization, f.line, [f.line], f.cause, action=f.action, finding=f.kind)
        for f in report.findings
    ]
    events += [
        _event(
            "budget",
            c.organization,
            f"{c.organization}: key {c.key_label} {c.action}: {c.outcome}",
            [c.detail] if c.detail else [],
            "containment",
            c.key_label,
            c.action,
            c.outcome,
            report.generated_at[:13],
        )
        for c in report.containment
        if c.outcome != "planned"
    ]
    return events


def notify_watch(config: LoadedConfig, store: StateStore, report: WatchReport, say: Say) -> None:
    notify(config, store, watch_events(report), say)


def notify_applied(config: LoadedConfig, store: StateStore, report: Report, say: Say) -> None:
    """A finished apply (an ApplyReport; a dry run or nothing to apply tells no one), from the CLI
    and from the Action alike."""
    if not config.desired.notify or not isinstance(report, ApplyReport):
        return
    names = sorted({r.change.organization for r in report.results})
    notify(config, store, apply_events(report, names), say)


def notify_drift(config: LoadedConfig, store: StateStore, report: DriftReport, say: Say) -> None:
    if not config.desired.notify:
        return
    try:
        known = store.notices()
    except Exception:  # noqa: BLE001 - a notification never fails the command
        known = {}
    events, states = drift_events(report, known)
    notify(config, store, events, say, drift_states=states)
