"""The sandbox's usage, spend commits and credits: a deterministic history, answered per both specs.

A state holds a few patterns per key and member (busy, occasional, idle for months, never used);
the rows of any day are computed from them and the seed, so a history of 120 days for 10,000
members costs nothing to store and is the same on every run. Days are counted from the state's
`usage_anchor` (the day `sandbox init` ran): 0 is that day, -1 the day before.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from ..model.identity import normalise

HISTORY_DAYS = 120
TOOLS: dict[
    str, tuple[str, str | None]
] = {  # tool type -> (full tool name, model version; None: not sent)
    "GENERATE": ("Image Generation V3", "V_3_1"),
    "REMIX": ("Remix V3", "V_3_0"),
    "EDIT": ("Edit V3", "V_3_1"),
    "UPSCALE": ("Upscale", None),
    "DESCRIBE": ("Describe", "V_2_1"),
}


@dataclass
class UsagePattern:
    kind: Literal["key", "member"]
    target: str  # an api_key_id, or a member's email address
    first_day: int  # day offsets from the anchor, both inclusive
    last_day: int
    every: int  # used on about one day in `every`
    daily_cents: int  # a day's spend is 50% to 150% of this
    tool_type: str = "GENERATE"
    # a spike (`sandbox spike`): on each of its days, exactly daily_cents in each of these hours
    at_hours: list[int] = field(default_factory=list)


@dataclass
class Commit:
    amount_cents: int
    start_day: int
    end_day: int
    postpaid: bool = False


def _hash(*parts: object) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode())


@dataclass(frozen=True)
class UsageRow:
    day: int
    hour: int
    pattern: UsagePattern
    cents: int

    def moment(self, anchor: date) -> datetime:
        """When the row was spent: its day (from the anchor) at its hour, UTC."""
        return datetime.combine(anchor + timedelta(days=self.day), time(self.hour), timezone.utc)


def rows(
    patterns: list[UsagePattern], seed: int, first_day: int, last_day: int
) -> Iterator[UsageRow]:
    """Every row of the history between two day offsets, both inclusive."""
    for day in range(first_day, last_day + 1):
        for pattern in patterns:
            if pattern.at_hours and pattern.first_day <= day <= pattern.last_day:
                yield from (
                    UsageRow(day, h, pattern, pattern.daily_cents) for h in pattern.at_hours
                )
            elif pattern.first_day <= day <= pattern.last_day:
                mix = _hash(seed, pattern.target, day)
                if mix % pattern.every == 0:
                    yield UsageRow(
                        day, mix % 24, pattern, pattern.daily_cents * (50 + mix % 101) // 100
                    )


def window(query: dict[str, str], anchor_text: str) -> tuple[date, datetime, datetime]:
    """The anchor day and a request's start_time and end_time (now when absent), or ValueError."""
    try:
        start = datetime.fromisoformat(query["start_time"].replace("Z", "+00:00"))
        end = (
            datetime.fromisoformat(query["end_time"].replace("Z", "+00:00"))
            if "end_time" in query
            else datetime.now(timezone.utc)
        )
    except (KeyError, ValueError):
        raise ValueError(
            "start_time (and end_time, if given) must be ISO 8601 date-times"
        ) from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start_time and end_time need a time zone")
    return anchor_day(anchor_text, end), start, end


def anchor_day(anchor_text: str, fallback: datetime) -> date:
    """Day 0 of the history: the state's anchor, else the day of `fallback`."""
    return date.fromisoformat(anchor_text) if anchor_text else fallback.date()


def day_of(anchor: date, moment: datetime) -> int:
    return (moment.astimezone(timezone.utc).date() - anchor).days


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def segments(
    anchor: date,
    seed: int,
    patterns: list[UsagePattern],
    version: str,
    query: dict[str, list[str]],
    start: datetime,
    end: datetime,
    hourly: bool,
) -> list[dict[str, Any]]:
    """`usage_segments` for the window, every DAY (or HOUR) in it, empty ones too."""
    source = (query.get("source") or ["API"])[0] if version == "2026-06" else "API"
    keys, tools = set(query.get("api_key_ids", [])), set(query.get("tools", []))
    models, emails = (
        set(query.get("model_versions", [])),
        {normalise("email", e) for e in query.get("user_emails", [])},
    )
    wanted = [
        p
        for p in patterns
        if (p.kind == "key") == (source == "API")
        and (not keys or p.kind == "key" and p.target in keys)
        and (not tools or p.tool_type in tools)
        and (not models or TOOLS[p.tool_type][1] in models)
        and (not emails or p.kind == "member" and normalise("email", p.target) in emails)
    ]
    by_slot: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows(wanted, seed, day_of(anchor, start), day_of(anchor, end)):
        moment = row.moment(anchor)
        if start <= moment <= end:
            by_slot.setdefault((row.day, row.hour if hourly else 0), []).append(
                _tool_usage(row, version)
            )
    out = []
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    slot = datetime.combine(start.astimezone(timezone.utc).date(), time(0), timezone.utc)
    while slot <= end:
        key = (day_of(anchor, slot), slot.hour if hourly else 0)
        out.append(
            {
                "segment_start": _iso(slot),
                "segment_end": _iso(slot + step - timedelta(seconds=1)),
                "tool_usage": by_slot.get(key, []),
            }
        )
        slot += step
    return out


def _tool_usage(row: UsageRow, version: str) -> dict[str, Any]:
    name, model = TOOLS[row.pattern.tool_type]
    item: dict[str, Any] = {
        "full_tool_name": name,
        "amount": {"amount": row.cents, "currency_code": "USD"},
        "tool_type": row.pattern.tool_type,
    }
    if model is not None:
        item["model_version"] = model
    if row.pattern.kind == "key":
        item["api_key_id"] = row.pattern.target
    else:
        item["user_email_address"] = row.pattern.target
    return item


def spend_between(
    anchor: date, seed: int, patterns: list[UsagePattern], start: datetime, end: datetime
) -> int:
    """Cents spent in the window, API and web app together (what credits and commits count)."""
    total = 0
    for row in rows(patterns, seed, day_of(anchor, start), day_of(anchor, end)):
        moment = row.moment(anchor)
        if start <= moment <= end:
            total += row.cents
    return total


def commits_answer(
    anchor: date, seed: int, patterns: list[UsagePattern], commit: Commit | None, now: datetime
) -> dict[str, Any]:
    if commit is None:
        return {"commits": []}
    start = datetime.combine(anchor + timedelta(days=commit.start_day), time(0), timezone.utc)
    end = datetime.combine(anchor + timedelta(days=commit.end_day), time(23, 59, 59), timezone.utc)
    spent = spend_between(anchor, seed, patterns, start, min(now, end))
    return {
        "commits": [
            {
                "commit_amount": {"amount": commit.amount_cents, "currency_code": "USD"},
                "commit_amount_spent": {"amount": spent, "currency_code": "USD"},
                "commit_start_time": _iso(start),
                "commit_end_time": _iso(end),
                "is_postpaid_commit": commit.postpaid,
            }
        ]
    }


def credits_answer(
    anchor: date, seed: int, patterns: list[UsagePattern], start: datetime, end: datetime
) -> dict[str, Any]:
    total = spend_between(anchor, seed, patterns, start, end)
    days = max(1, (end.date() - start.date()).days + 1)
    return {
        "total_spend": {"amount": total, "currency_code": "USD"},
        "average_daily_spend": {"amount": round(total / days, 2), "currency_code": "USD"},
        "available_credits": {"amount": 250_000, "currency_code": "USD"},
    }


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _month_starts(first: date, last: date) -> Iterator[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = _next_month(month)


def invoices_answer(
    anchor: date,
    seed: int,
    patterns: list[UsagePattern],
    adjustments: dict[str, int],
    now: datetime,
) -> dict[str, Any]:
    """One invoice per calendar month of the history up to now's (API 2026-06): line items per key
    and tool (web-app use without a key), the month's adjustment as a line of its own; this
    month's a DRAFT, last month's pending payment, older ones paid."""
    today = now.astimezone(timezone.utc).date()
    invoices = []
    for month in _month_starts(anchor - timedelta(days=HISTORY_DAYS), today):
        following = _next_month(month)
        start = datetime.combine(month, time(0), timezone.utc)
        end = datetime.combine(following - timedelta(days=1), time(23, 59, 59), timezone.utc)
        lines: dict[tuple[str | None, str], list[int]] = {}
        first_day, last_day = day_of(anchor, start), day_of(anchor, min(end, now))
        for row in rows(patterns, seed, first_day, last_day):
            if row.moment(anchor) > now:  # billed as it happens: nothing of the hours still to come
                continue
            key = row.pattern.target if row.pattern.kind == "key" else None
            lines.setdefault((key, TOOLS[row.pattern.tool_type][0]), []).append(row.cents)
        items = [_line(name, len(cents), sum(cents), key) for (key, name), cents in lines.items()]
        extra = adjustments.get(month.strftime("%Y-%m"), 0)
        if extra:
            items.append(_line("Adjustment", 1, extra, None))
        total = sum(item["total"]["amount"] for item in items)
        this_month = today.replace(day=1)
        status = (
            "DRAFT"
            if month == this_month
            else "PENDING_PAYMENT"
            if following == this_month
            else "PAID"
        )
        invoice: dict[str, Any] = {
            "invoice_id": f"in_{month:%Y%m}_{_hash(seed, month) % 10_000:04d}",
            "start_time": _iso(start),
            "end_time": _iso(end),
            "total_spend": {"amount": total, "currency_code": "USD"},
            "invoice_status": status,
            "line_items": items,
        }
        if status != "DRAFT":
            invoice["issued_time"] = _iso(datetime.combine(following, time(0), timezone.utc))
        if status == "PAID":
            invoice["paid_date"] = _iso(datetime.combine(following, time(10), timezone.utc))
        invoices.append(invoice)
    return {"invoices": invoices}


def _line(name: str, quantity: int, cents: int, api_key_id: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "charge_name": name,
        "quantity": quantity,
        "unit_price": {"amount": round(cents / quantity, 2), "currency_code": "USD"},
        "total": {"amount": cents, "currency_code": "USD"},
    }
    if api_key_id is not None:
        item["api_key_id"] = api_key_id
    return item


# --- generated histories --------------------------------------------------------------------------


def key_pattern(rng: random.Random, key_id: str) -> UsagePattern | None:
    """Half the keys busy, a fifth now and then, some idle for months, the rest never used."""
    draw = rng.random()
    tool = rng.choice(list(TOOLS))
    if draw < 0.5:
        return UsagePattern("key", key_id, -HISTORY_DAYS, 0, 1, rng.randint(200, 5000), tool)
    if draw < 0.7:
        return UsagePattern("key", key_id, -HISTORY_DAYS, 0, 4, rng.randint(100, 2000), tool)
    if draw < 0.85:
        return UsagePattern(
            "key", key_id, -HISTORY_DAYS, -rng.randint(95, 115), 2, rng.randint(100, 1000), tool
        )
    return None


def member_pattern(rng: random.Random, email: str) -> UsagePattern | None:
    """Members on the web app every few days, now and then, lapsed for months, or never."""
    draw = rng.random()
    if draw < 0.4:
        return UsagePattern("member", email, -HISTORY_DAYS, 0, 2, rng.randint(50, 800))
    if draw < 0.6:
        return UsagePattern("member", email, -HISTORY_DAYS, 0, 9, rng.randint(50, 400))
    if draw < 0.8:
        return UsagePattern(
            "member", email, -HISTORY_DAYS, -rng.randint(92, 110), 5, rng.randint(50, 400)
        )
    return None


def spike(
    patterns: list[UsagePattern],
    anchor: date,
    key_id: str,
    factor: float,
    hours: int,
    now: datetime,
) -> UsagePattern:
    """A spike of one key: `factor` times its usual spend in each of the last `hours` hours up
    to `now` (its usual: what its pattern spends on a day of use; 10 USD if it has none)."""
    usual = max(
        (p.daily_cents for p in patterns if p.kind == "key" and p.target == key_id), default=0
    )
    moment = now.astimezone(timezone.utc)
    today = (moment.date() - anchor).days
    first = max(0, moment.hour - hours + 1)
    return UsagePattern(
        "key",
        key_id,
        today,
        today,
        1,
        round((usual or 1000) * factor),
        "GENERATE",
        list(range(first, moment.hour + 1)),
    )


def part_used_commit(anchor: date, seed: int, patterns: list[UsagePattern]) -> Commit:
    """A yearly commit started 200 days ago, sized so that the pace so far would spend about 80% of
    it."""
    start = datetime.combine(anchor - timedelta(days=200), time(0), timezone.utc)
    so_far = spend_between(
        anchor, seed, patterns, start, datetime.combine(anchor, time(23, 59, 59), timezone.utc)
    )
    return Commit(
        amount_cents=max(100_000, round(so_far * 365 / 200 / 0.8 / 100) * 100),
        start_day=-200,
        end_day=164,
    )


MEMBER_HISTORY_LIMIT = (
    20_000  # members with a web-app history; beyond it the state file would balloon
)


class Query(dict[str, str]):
    """A request's query: the first value of each parameter, and `lists` with all of them (the
    usage filters are arrays, sent as repeated parameters)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lists: dict[str, list[str]] = {}
        for name, value in pairs:
            self.setdefault(name, value)
            self.lists.setdefault(name, []).append(value)


def lists_of(query: dict[str, str]) -> dict[str, list[str]]:
    found = getattr(query, "lists", None)
    return found if isinstance(found, dict) else {name: [value] for name, value in query.items()}


__all__ = [
    "Commit",
    "Query",
    "UsagePattern",
    "commits_answer",
    "credits_answer",
    "lists_of",
    "segments",
]
