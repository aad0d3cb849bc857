"""Usage and spend, as data: what was read (records, commits, credits) and what is made of it.

Pure, like the planner: the service reads (api/usage.py), this sums and judges. The same facts
feed the `usage` report and the usage-aware policies (idle keys, dormant members), so a key the
report calls idle is the key the plan calls idle.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from ..config.models import DesiredState
from ..errors import UsageError
from ..model.identity import Compared, normalise
from ..model.invoices import InvoiceCheck
from ..model.money import one_currency, to_minor
from ..model.usage import (
    API_USE,
    NOT_PER_PERSON,
    SPEND_DAYS,
    UNASSIGNED,
    WEB_APP,
    BurnPoint,
    BurnUp,
    CommitInfo,
    CommitStatus,
    DaySpend,
    Group,
    GroupBy,
    KeyBudget,
    LastUse,
    OrganizationReport,
    OrganizationUsage,
    UsageFacts,
    UsageRecord,
)


@dataclass
class _Tally:
    """Last use and spend per key and per member: what the report and the policies both read.
    The rows with no key (web-app use) and with no member (use through keys) are summed too,
    with their count: with the amounts per key and per member they are the report's groups by
    key and by member, so the report makes no second pass."""

    last_key: dict[str, date]
    last_member: dict[str, date]
    key_amount: dict[str, float]
    member_amount: dict[str, float]
    without_key: float = 0.0
    rows_without_key: int = 0
    without_member: float = 0.0
    rows_without_member: int = 0

    def groups(self, by: GroupBy) -> dict[str, float]:
        """The amounts by key or by member: each row in one group (rows with no key count as the
        web app, rows with no member as API keys), so the groups add up to the total."""
        if by == "key":
            return _with_rest(self.key_amount, WEB_APP, self.without_key, self.rows_without_key)
        return _with_rest(
            self.member_amount, API_USE, self.without_member, self.rows_without_member
        )


def _with_rest(amounts: dict[str, float], name: str, rest: float, rows: int) -> dict[str, float]:
    """`amounts` and, when `rows` rows belonged to none of them, their sum `rest` as `name`."""
    found = dict(amounts)
    if rows:
        found[name] = found.get(name, 0.0) + rest
    return found


def _tally(records: tuple[UsageRecord, ...], since: date | None = None) -> _Tally:
    """Amounts count from `since` on (all when None); last use counts every record. One pass,
    each address normalised once (it repeats on every day of use)."""
    found = _Tally({}, {}, defaultdict(float), defaultdict(float))
    last_key, last_member = found.last_key, found.last_member
    key_amount, member_amount = found.key_amount, found.member_amount
    without_key = without_member = 0.0
    rows_without_key = rows_without_member = 0
    folded = Compared("email")
    for record in records:
        day = record.day
        amount = record.amount if since is None or day >= since else 0.0
        key = record.api_key_id
        if key:
            if key not in last_key or day > last_key[key]:
                last_key[key] = day
            key_amount[key] += amount
        else:
            without_key += amount
            rows_without_key += 1
        if record.email:
            email = folded[record.email]
            if email not in last_member or day > last_member[email]:
                last_member[email] = day
            member_amount[email] += amount
        else:
            without_member += amount
            rows_without_member += 1
    found.without_key, found.rows_without_key = without_key, rows_without_key
    found.without_member, found.rows_without_member = without_member, rows_without_member
    return found


def by_currency(usage: OrganizationUsage) -> list[OrganizationUsage]:
    """One organization's usage as one part per currency, the currency with the most rows first:
    amounts of two currencies are never added, so each part is summed on its own. Each part keeps
    the commits of its currency; the first keeps the credits."""
    rows: dict[str, list[UsageRecord]] = defaultdict(list)
    for record in usage.records:
        rows[record.currency].append(record)
    if len(rows) <= 1:
        return [usage]
    order = sorted(rows, key=lambda c: (-len(rows[c]), c))
    return [
        replace(
            usage,
            records=tuple(rows[currency]),
            commits=tuple(c for c in usage.commits if c.currency == currency),
            available_credits=usage.available_credits if n == 0 else None,
        )
        for n, currency in enumerate(order)
    ]


def facts_of(usage: OrganizationUsage, today: date) -> UsageFacts:
    """Last use from every row; 30-day spend per key in the currency with the most rows (the
    others are named in `not_summed`, never added)."""
    tally = _tally(usage.records, since=today - timedelta(days=SPEND_DAYS - 1))
    main, *others = by_currency(usage)
    spend = _tally(main.records, since=today - timedelta(days=SPEND_DAYS - 1)) if others else tally
    return UsageFacts(
        since=usage.start.date(),
        today=today,
        key_last_used=tally.last_key,
        key_spend={k: v for k, v in spend.key_amount.items() if v},
        member_last_active=tally.last_member if usage.per_person else None,
        currency=one_currency((r.currency for r in main.records), usage.name),
        not_summed=tuple((o.records[0].currency, len(o.records)) for o in others),
    )


def idle_since(last_used: date | None, since: date, today: date, after_days: int) -> date | None:
    """The day a key or member has had no use since, when that is `after_days` or more days ago;
    None when it was used more recently. Unknown use before `since` counts as none."""
    last = last_used or since
    return last if (today - last).days >= after_days else None


# --- the report -----------------------------------------------------------------------------------


def alert_share(text: str) -> float:
    """'90%' as 0.9: the share of a commit that --alert-at names."""
    found = re.fullmatch(r"(\d{1,3}(?:\.\d+)?)%", text.strip())
    if not found:
        raise UsageError(f"alert-at {text!r}: give a percentage such as 90%")
    return float(found[1]) / 100


def _grouper(
    by: GroupBy, cost_centers: dict[str, str] | None = None
) -> Callable[[UsageRecord], str]:
    """The group a record counts in, by cost center, tool, model or day (by key and by member,
    the tally's groups are the report's: `_Tally.groups`): every record has one, so the groups
    add up to the total. Addresses are normalised once each (they repeat on every day of use)."""
    folded = Compared("email")
    if by == "cost-center":  # the key's, else the member's, else unassigned
        centers = cost_centers or {}
        return lambda record: (
            centers.get(record.api_key_id or "")
            or centers.get(folded[record.email] if record.email else "")
            or UNASSIGNED
        )
    if by == "tool":
        return lambda record: record.tool_type
    if by == "model":
        return lambda record: record.model_version or "(none)"
    return lambda record: record.day.isoformat()


def commit_status(commits: tuple[CommitInfo, ...], now: datetime) -> CommitStatus | None:
    """The commit whose period holds `now`, with the pace so far projected to its end."""
    for commit in commits:
        if commit.start <= now <= commit.end:
            length = (commit.end - commit.start).total_seconds()
            elapsed = (
                max(1e-9, min(1.0, (now - commit.start).total_seconds() / length))
                if length > 0
                else 1.0
            )
            projected = commit.spent / elapsed
            return CommitStatus(
                amount=commit.amount,
                spent=commit.spent,
                start=commit.start.isoformat(),
                end=commit.end.isoformat(),
                postpaid=commit.postpaid,
                elapsed_share=elapsed,
                projected=projected,
                projected_share=projected / commit.amount if commit.amount > 0 else 0.0,
            )
    return None


def _labelled(amounts: dict[str | None, float], key_labels: dict[str, str]) -> dict[str, float]:
    """A day's amounts by key id as amounts by the key's label (its id when it has none)."""
    out: dict[str, float] = {}
    for key_id, amount in amounts.items():
        label = key_labels.get(key_id, key_id) if key_id else WEB_APP
        out[label] = out[label] + amount if label in out else amount
    return out


def report(
    usage: OrganizationUsage,
    by: GroupBy,
    now: datetime,
    key_labels: dict[str, str],
    key_ids: list[str],
    member_emails: list[str],
    cost_centers: dict[str, str] | None = None,
    budgets: dict[str, KeyBudget] | None = None,
) -> OrganizationReport:
    """One organization's spend per group, last use per key and member, daily spend by key,
    commit and its burn-up, and the file's budgets of keys in this report's currency."""
    sums: dict[str, float] = defaultdict(float)
    by_id: dict[date, defaultdict[str | None, float]] = {}  # by day, by key id (None: web app)
    total = 0.0
    tally = _tally(usage.records)
    # by key and by member, the tally has the groups; 2025-10 reports no use per person
    group_of = _grouper(by, cost_centers) if by not in ("key", "member") else None
    if by == "key" or (by == "member" and usage.per_person):
        sums = tally.groups(by)
    current_day: date | None = None
    bucket: defaultdict[str | None, float] = defaultdict(float)
    for record in usage.records:
        amount = record.amount
        total += amount
        if group_of is not None:
            sums[group_of(record)] += amount
        if record.day != current_day:  # rows come a day at a time: one lookup per day
            current_day = record.day
            bucket = by_id.setdefault(current_day, defaultdict(float))
        bucket[record.api_key_id] += amount
    daily = {day: _labelled(amounts, key_labels) for day, amounts in by_id.items()}
    last_key, last_member = tally.last_key, tally.last_member
    key_amount, member_amount = tally.key_amount, tally.member_amount
    last = last_key if by == "key" else last_member if by == "member" else {}
    groups = [
        Group(
            key=k,
            label=key_labels.get(k, k) if by == "key" else k,
            amount=v,
            share=v / total if total else 0.0,
            last_used=last[k].isoformat() if k in last else None,
        )
        for k, v in sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    ]
    keys = [
        LastUse(
            id=k,
            label=key_labels.get(k, k),
            last_used=last_key[k].isoformat() if k in last_key else None,
            amount=key_amount.get(k, 0.0),
        )
        for k in dict.fromkeys([*key_ids, *last_key])
    ]
    members = [
        LastUse(
            id=e,
            label=e,
            last_used=last_member[e].isoformat() if e in last_member else None,
            amount=member_amount.get(e, 0.0),
        )
        for e in dict.fromkeys([*(normalise("email", m) for m in member_emails if m), *last_member])
    ]
    days = [
        usage.start.date() + timedelta(days=n)
        for n in range((usage.end.date() - usage.start.date()).days + 1)
    ]
    currency = one_currency((r.currency for r in usage.records), usage.name)
    daily_spend = [DaySpend(day=day.isoformat(), by_key=dict(daily.get(day, {}))) for day in days]
    commit = commit_status(usage.commits, now)
    return OrganizationReport(
        name=usage.name,
        organization_id=usage.organization_id,
        since=usage.start.isoformat(),
        until=usage.end.isoformat(),
        by=by,
        currency=currency,
        total=total,
        groups=groups,
        keys=keys,
        members=members if usage.per_person else None,
        members_note="" if usage.per_person else NOT_PER_PERSON,
        daily=daily_spend,
        commit=commit,
        available_credits=usage.available_credits,
        notes=list(usage.notes),
        budgets=[b for b in (budgets or {}).values() if b.currency == currency],
        burn_up=burn_up(commit, daily_spend, now) if commit else None,
    )


def burn_up(commit: CommitStatus, daily: list[DaySpend], now: datetime) -> BurnUp:
    """Spend so far on each day of the window within the commit, counted back from what the
    commit says is spent now; the run-out day at the pace so far (the pace `projected` uses)."""
    start, end = datetime.fromisoformat(commit.start), datetime.fromisoformat(commit.end)
    today = now.date().isoformat()
    within = [d for d in daily if start.date().isoformat() <= d.day <= today]
    later = 0.0  # spend of the days after the one being drawn, up to today
    points: list[BurnPoint] = []
    for day in reversed(within):
        points.append(BurnPoint(day=day.day, spent=max(0.0, commit.spent - later)))
        later += sum(day.by_key.values())
    points.reverse()
    days_gone = max((now - start).total_seconds(), 1.0) / 86_400
    per_day = commit.spent / days_gone
    # days from the start; a negative commit (spec-valid: any number) is used up at its start
    lasts = max(commit.amount / per_day, 0.0) if per_day > 0 else math.inf
    # beyond any calendar (a hostile amount, or a pace near nothing): no run-out date is drawn
    run_out = start + timedelta(days=lasts) if math.isfinite(lasts) and lasts < 2_000_000 else None
    return BurnUp(
        commit=commit.amount,
        start=commit.start,
        end=commit.end,
        points=points,
        per_day=per_day,
        run_out=run_out.astimezone(timezone.utc).date().isoformat() if run_out else None,
        runs_out_early=run_out is not None and run_out < end,
    )


def key_budgets(desired: DesiredState) -> dict[str, dict[str, KeyBudget]]:
    """Per organization, the budgets of its keys with a known id, in the minor unit."""
    return {
        name: {
            spec.id: KeyBudget(
                key=spec.id,
                label=label,
                daily=to_minor(spec.budget.daily, spec.budget.currency)
                if spec.budget.daily is not None
                else None,
                monthly=to_minor(spec.budget.monthly, spec.budget.currency)
                if spec.budget.monthly is not None
                else None,
                currency=spec.budget.currency,
            )
            for label, spec in org.api_keys.items()
            if spec.id and spec.budget is not None
        }
        for name, org in desired.organizations.items()
    }


def with_invoices(
    parts: list[OrganizationReport], checks: list[InvoiceCheck] | None, notes: list[str]
) -> list[OrganizationReport]:
    """Each invoice goes to the report of its currency (the first report when none has it); the
    notes to the first."""
    if not parts:
        return parts
    placed: dict[int, list[InvoiceCheck]] = defaultdict(list)
    for found in checks or []:
        index = next((n for n, p in enumerate(parts) if p.currency == found.currency), 0)
        placed[index].append(found)
    return [
        part.model_copy(
            update={
                "invoices": None if checks is None else placed.get(n, []),
                "notes": [*part.notes, *(notes if n == 0 else [])],
            }
        )
        for n, part in enumerate(parts)
    ]
