"""Usage and spend, as data: what was read (sums per currency, commits, credits) and what is
made of it.

Pure, like the planner: the service reads (api/usage.py), this sums and judges. The same facts
feed the `usage` report and the usage-aware policies (idle keys, dormant members), so a key the
report calls idle is the key the plan calls idle.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter

from ..config.models import DesiredState
from ..errors import UsageError
from ..model.identity import Compared, normalise_all
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
    CurrencyUse,
    DaySpend,
    Group,
    GroupBy,
    KeyBudget,
    LastUse,
    OrganizationReport,
    OrganizationUsage,
    UsageFacts,
)


@dataclass
class _Tally:
    """Last use and spend per key and per member: what the report and the policies both read.
    The use without a key (web-app use) and without a member (use through keys) is summed too:
    with the amounts per key and per member they are the report's groups by key and by member,
    so the report makes no second pass."""

    last_key: dict[str, date]
    last_member: dict[str, date]
    key_amount: dict[str, float]
    member_amount: dict[str, float]
    without_key: float = 0.0
    any_without_key: bool = False
    without_member: float = 0.0
    any_without_member: bool = False

    def groups(self, by: GroupBy) -> dict[str, float]:
        """The amounts by key or by member: all use in one group each (use with no key counts as
        the web app, use with no member as API keys), so the groups add up to the total."""
        if by == "key":
            return _with_rest(self.key_amount, WEB_APP, self.without_key, self.any_without_key)
        return _with_rest(self.member_amount, API_USE, self.without_member, self.any_without_member)


def _with_rest(
    amounts: dict[str, float], name: str, rest: float, any_rest: bool
) -> dict[str, float]:
    """`amounts` and, when some use belonged to none of them, its sum `rest` as `name`."""
    found = dict(amounts)
    if any_rest:
        found[name] = found.get(name, 0.0) + rest
    return found


def _tally(uses: tuple[CurrencyUse, ...], since: date | None = None) -> _Tally:
    """Key amounts count from `since` on (all when None); member amounts cover the window; last
    use counts every row. Each address is normalised once (it repeats on every day of use)."""
    found = _Tally({}, {}, defaultdict(float), defaultdict(float))
    last_key: dict[str | None, date] = {}
    key_amount: defaultdict[str | None, float] = defaultdict(float)
    segments = sorted(
        ((slot, spent) for use in uses for slot, spent in use.by_slot.items()),
        key=lambda item: item[0],
    )
    for (day, _), spent in segments:  # in time order: the last day a key is seen stays
        last_key.update(dict.fromkeys(spent, day))
        if since is None or day >= since:
            for key, amount in spent.items():
                key_amount[key] += amount
    found.any_without_key = None in last_key
    found.without_key = key_amount.get(None, 0.0)
    found.last_key = {key: day for key, day in last_key.items() if key is not None}
    found.key_amount = {key: amount for key, amount in key_amount.items() if key is not None}
    folded = Compared("email")
    member_amount, last_member = found.member_amount, found.last_member
    for use in uses:
        for email, amount in use.by_member.items():
            member_amount[folded[email]] += amount
        found.without_member += use.without_member
        found.any_without_member |= use.rows_without_member > 0
        for email, day in use.member_last.items():
            member = folded[email]
            if member not in last_member or day > last_member[member]:
                last_member[member] = day
    return found


def by_currency(usage: OrganizationUsage) -> list[OrganizationUsage]:
    """One organization's usage as one part per currency, the currency with the most rows first:
    amounts of two currencies are never added, so each part is summed on its own. Each part keeps
    the commits of its currency; the first keeps the credits."""
    if len(usage.uses) <= 1:
        return [usage]
    order = sorted(usage.uses, key=lambda use: (-use.rows, use.currency))
    return [
        replace(
            usage,
            uses=(use,),
            commits=tuple(c for c in usage.commits if c.currency == use.currency),
            available_credits=usage.available_credits if n == 0 else None,
        )
        for n, use in enumerate(order)
    ]


def facts_of(usage: OrganizationUsage, today: date) -> UsageFacts:
    """Last use from every row; 30-day spend per key in the currency with the most rows (the
    others are named in `not_summed`, never added)."""
    since = today - timedelta(days=SPEND_DAYS - 1)
    tally = _tally(usage.uses, since=since)
    main, *others = by_currency(usage)
    spend = _tally(main.uses, since=since) if others else tally
    return UsageFacts(
        since=usage.start.date(),
        today=today,
        key_last_used=tally.last_key,
        key_spend={k: v for k, v in spend.key_amount.items() if v},
        member_last_active=tally.last_member if usage.per_person else None,
        currency=one_currency((use.currency for use in main.uses), usage.name),
        not_summed=tuple((o.uses[0].currency, o.uses[0].rows) for o in others),
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


def _group_sums(
    uses: tuple[CurrencyUse, ...], by: GroupBy, cost_centers: dict[str, str] | None = None
) -> dict[str, float]:
    """The amounts by cost center, tool, model or day (by key and by member, the tally's groups
    are the report's: `_Tally.groups`): all use falls in one group, so the groups add up to the
    total. Addresses are normalised once each."""
    sums: dict[str, float] = defaultdict(float)
    if by == "day":
        for use in uses:
            for (day, _), spent in use.by_slot.items():
                sums[day.isoformat()] += sum(spent.values())
        return sums
    folded = Compared("email")
    centers = cost_centers or {}
    for use in uses:
        if use.kinds is None:  # a caller's mistake, not the server's
            raise ValueError(f"grouping by {by} needs usage read with detail=True")
        for (key, email, tool, model), amount in use.kinds.items():
            if by == "tool":
                group = tool
            elif by == "model":
                group = model or "(none)"
            else:  # by cost center: the key's, else the member's, else unassigned
                group = (
                    centers.get(key or "")
                    or centers.get(folded[email] if email else "")
                    or UNASSIGNED
                )
            sums[group] += amount
    return sums


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


def _labelled(amounts: dict[str | None, float], labels: dict[str | None, str]) -> dict[str, float]:
    """A day's amounts by key id (None: the web app) as amounts by the key's label (its id when
    it has none); `labels` maps None to the web app. Made at C speed when no two keys share a
    name (nearly always); when they do, their amounts are added."""
    out = dict(zip(map(labels.get, amounts, amounts), amounts.values(), strict=True))
    if len(out) == len(amounts):
        return out  # type: ignore[return-value]  # None is in labels: every name is a str
    out = {}
    for key_id, amount in amounts.items():  # the same names as above, their amounts added
        label = labels.get(key_id, key_id)
        out[label] = out[label] + amount if label in out else amount
    return out  # type: ignore[return-value]


@cache
def _list_of_last_uses() -> TypeAdapter[list[LastUse]]:
    return TypeAdapter(list[LastUse])


def _last_uses(fields: Iterable[dict[str, Any]]) -> list[LastUse]:
    """LastUse of each set of fields, validated in one call: at 100,000 members, half the time of
    one call each."""
    return _list_of_last_uses().validate_python(list(fields))


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
    currency = one_currency((use.currency for use in usage.uses), usage.name)
    tally = _tally(usage.uses)
    # by key and by member, the tally has the groups; 2025-10 reports no use per person
    if by == "key" or (by == "member" and usage.per_person):
        sums = tally.groups(by)
    elif by == "member":
        sums = {}
    else:
        sums = _group_sums(usage.uses, by, cost_centers)
    total = sum(sum(spent.values()) for use in usage.uses for spent in use.by_slot.values())
    # by day, by key id (None: web app); one use at most, as one currency is checked above
    by_id = usage.uses[0].days() if usage.uses else {}
    labels = cast(dict[str | None, str], {**key_labels, None: WEB_APP})
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
    keys = _last_uses(
        {
            "id": k,
            "label": key_labels.get(k, k),
            "last_used": last_key[k].isoformat() if k in last_key else None,
            "amount": key_amount.get(k, 0.0),
        }
        for k in dict.fromkeys([*key_ids, *last_key])
    )
    members = _last_uses(
        {
            "id": e,
            "label": e,
            "last_used": last_member[e].isoformat() if e in last_member else None,
            "amount": member_amount.get(e, 0.0),
        }
        for e in dict.fromkeys(
            [*normalise_all("email", [m for m in member_emails if m]), *last_member]
        )
    )
    days = [
        usage.start.date() + timedelta(days=n)
        for n in range((usage.end.date() - usage.start.date()).days + 1)
    ]
    daily_spend = [  # built, not validated: the tables are this function's own, of str and float
        DaySpend.model_construct(day=day.isoformat(), by_key=_labelled(by_id.get(day, {}), labels))
        for day in days
    ]
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
