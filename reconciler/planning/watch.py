"""Budgets and anomalies (pure): each key's hours of spend against its budget and against its own
usual hour, and the containment the file's budgets ask for."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from ..config.models import ApiKeySpec, Budget, EffectivePolicy, Organization
from ..model.changes import Change, KeyDeactivate, KeyRotate
from ..model.live import LiveOrganization
from ..model.money import to_minor
from ..model.plan import Plan
from ..model.usage import CurrencyUse, OrganizationUsage, Slot
from ..model.watch import CONTAINED, Finding
from .rotation import cut_plan, sink_names


def window_start(now: datetime, hours: int, policy: EffectivePolicy) -> datetime:
    """The first hour `watch` must read: the baseline before the watched hours, and the month so
    far (for monthly budgets)."""
    hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    baseline = hour - timedelta(hours=hours - 1 + policy.anomaly.baseline_days * 24)
    return min(baseline, hour.replace(day=1, hour=0))


def _slots(now: datetime, first: int, count: int) -> list[Slot]:
    """`count` hour slots, the newest `first` hours before now's hour."""
    hour = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    moments = (hour - timedelta(hours=first + i) for i in range(count))
    return [(m.date(), m.hour) for m in moments]


class _Spend:
    """One organization's use, summed per key and hour (in one currency each)."""

    def __init__(self, uses: tuple[CurrencyUse, ...]) -> None:
        self.by_key: dict[str, dict[Slot, float]] = defaultdict(lambda: defaultdict(float))
        self.currency: dict[str, str] = {}
        self.mixed: set[str] = set()
        self.all: dict[str, dict[Slot, float]] = defaultdict(lambda: defaultdict(float))
        for use in uses:
            for slot, spent in use.by_slot.items():
                self.all[use.currency][slot] += sum(spent.values())
                for key, amount in spent.items():
                    if key is None:
                        continue
                    if self.currency.setdefault(key, use.currency) != use.currency:
                        self.mixed.add(key)
                    self.by_key[key][slot] += amount


def _period_sums(hours: dict[Slot, float], today: date) -> tuple[float, float]:
    day = sum(v for (d, _), v in hours.items() if d == today)
    month = sum(v for (d, _), v in hours.items() if (d.year, d.month) == (today.year, today.month))
    return day, month


def _budget_findings(
    budget: Budget, hours: dict[Slot, float], today: date, base: dict[str, object]
) -> list[Finding]:
    day, month = _period_sums(hours, today)
    found = []
    for kind, spent, limit in (
        ("budget.daily", day, budget.daily),
        ("budget.monthly", month, budget.monthly),
    ):
        if limit is not None and spent > to_minor(limit, budget.currency):
            found.append(
                Finding(
                    kind=kind,  # type: ignore[arg-type]
                    amount=spent,
                    limit=to_minor(limit, budget.currency),
                    currency=budget.currency,
                    action=budget.action,
                    **base,  # type: ignore[arg-type]
                )
            )
    return found


def _anomalies(
    hours: dict[Slot, float],
    now: datetime,
    watched: int,
    policy: EffectivePolicy,
    currency: str,
    base: dict[str, object],
    action: str,
) -> list[Finding]:
    """Each watched hour spending `factor` times the median of the baseline's hours of use (hours
    without use do not pull it to nothing), and at least `min_amount`."""
    rule = policy.anomaly
    baseline = [
        hours[slot]
        for slot in _slots(now, watched, rule.baseline_days * 24)
        if hours.get(slot, 0) > 0
    ]
    usual = statistics.median(baseline) if baseline else 0.0
    threshold = max(float(to_minor(rule.min_amount, currency)), rule.factor * usual)
    found = []
    for day, hour in _slots(now, 0, watched):
        spent = hours.get((day, hour), 0.0)
        if spent > 0 and spent >= threshold:
            found.append(
                Finding(
                    kind="anomaly",
                    amount=spent,
                    limit=threshold,
                    baseline=usual,
                    hour=datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    currency=currency,
                    action=action,  # type: ignore[arg-type]
                    **base,  # type: ignore[arg-type]
                )
            )
    return found


def watch_findings(
    name: str,
    org: Organization,
    policy: EffectivePolicy,
    live: LiveOrganization,
    usage: OrganizationUsage,
    now: datetime,
    watched: int,
) -> tuple[list[Finding], list[str]]:
    """Findings for every ACTIVE key and for the organization, and what could not be judged."""
    spend = _Spend(usage.uses)
    today = now.astimezone(timezone.utc).date()
    labels = {spec.id: (label, spec) for label, spec in org.api_keys.items() if spec.id}
    findings: list[Finding] = []
    notes: list[str] = []
    for key in live.keys:
        if key.status != "ACTIVE" or key.api_key_id not in spend.by_key:
            continue
        label, spec = labels.get(key.api_key_id, ("", ApiKeySpec()))
        if key.api_key_id in spend.mixed:
            notes.append(f"{name}: key {label or key.redacted} spent in two currencies: not judged")
            continue
        hours = spend.by_key[key.api_key_id]
        currency = spend.currency[key.api_key_id]
        base: dict[str, object] = {
            "organization": name,
            "scope": "key",
            "key_label": label,
            "key_fingerprint": key.redacted,
        }
        action = spec.budget.action if spec.budget else "notify"
        if spec.budget is not None and spec.budget.currency != currency:
            notes.append(
                f"{name}: key {label}'s budget is in {spec.budget.currency}, its spend in "
                f"{currency}: amounts of two currencies are never compared"
            )
        elif spec.budget is not None:
            findings += _budget_findings(spec.budget, hours, today, base)
        findings += _anomalies(hours, now, watched, policy, currency, base, action)
    if org.budget is not None:
        base = {"organization": name, "scope": "organization"}
        hours = spend.all.get(org.budget.currency, {})
        findings += _budget_findings(org.budget, hours, today, base)
    return findings, notes


def containment_changes(
    findings: list[Finding], org: Organization, live: LiveOrganization, name: str
) -> list[Change]:
    """What the budgets' `action` asks for, once per key: deactivate it, or rotate it (a
    successor created and delivered, then this key deactivated, in one run)."""
    active = {k.api_key_id for k in live.keys if k.status == "ACTIVE"}
    changes: list[Change] = []
    seen: set[str] = set()
    for finding in findings:
        spec = org.api_keys.get(finding.key_label) if finding.key_label else None
        if finding.action == "notify" or spec is None or spec.id not in active:
            continue
        if spec.id in seen or spec.id is None:
            continue
        seen.add(spec.id)
        reason = f"{CONTAINED}: {finding.line}"
        if finding.action == "rotate":
            changes.append(
                KeyRotate(
                    key_label=finding.key_label,
                    key_id=spec.id,
                    overlap_seconds=0,
                    deliver_to=sink_names(spec),
                    reason=reason,
                    organization=name,
                    organization_id=live.organization_id,
                )
            )
        changes.append(
            KeyDeactivate(
                key_id=spec.id,
                key_label=finding.key_label,
                retires=finding.action == "rotate",
                reason=reason,
                organization=name,
                organization_id=live.organization_id,
            )
        )
    return changes


def containment_plan(plan: Plan, changes: list[Change]) -> Plan:
    """The plan cut down to the containment (max_key_deactivations counts every deactivation)."""
    return cut_plan(plan, changes).model_copy(update={"expiring": []})
