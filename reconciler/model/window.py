"""Usage windows: from when to when usage is read, decided in one place.

`30d` starts at the beginning of the UTC day 30 days ago; a date starts at its beginning and, as
an end, includes the whole day (the API's `end_time` is inclusive); a date-time is taken as
given. A window is at most MAX_WINDOW_DAYS long: a far-past start would ask the server for years
of rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from ..errors import UsageError
from .timestamps import parse_timestamp

MAX_WINDOW_DAYS = 400
_DAYS = re.compile(r"^(\d{1,4})d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LONGEST = 40  # characters of the longest date-time worth reading


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def days_back(now: datetime, days: int) -> datetime:
    """The start of the UTC day `days` days before `now`."""
    return start_of_day(now.date() - timedelta(days=days))


@dataclass(frozen=True)
class UsageWindow:
    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, now: datetime, days: int) -> UsageWindow:
        return cls(days_back(now, days), now)

    @classmethod
    def parse(cls, since: str, until: str | None, now: datetime) -> UsageWindow:
        """The window `--since` and `--until` ask for; every mistake is one clear line."""
        start = _moment(since, now, "--since", end=False)
        end = _moment(until, now, "--until", end=True) if until else now
        if start >= end:
            raise UsageError(f"--since {since} is not before --until {until or 'now'}")
        if end - start > timedelta(days=MAX_WINDOW_DAYS):
            raise UsageError(
                f"--since {since}: the window is {(end - start).days} days; at most "
                f"{MAX_WINDOW_DAYS} days are read at once (give a later --since or an --until)"
            )
        return cls(start, end)


def _moment(text: str, now: datetime, option: str, end: bool) -> datetime:
    found = _DAYS.match(text)
    if found:
        return days_back(now, int(found[1]))
    moment = parse_timestamp(text) if len(text) <= _LONGEST else None
    if moment is None or not 2000 <= moment.year <= 9000:  # also keeps day arithmetic in range
        raise UsageError(
            f"{option} {text[:_LONGEST]!r}: give a number of days (30d), a date (2026-10-01) or "
            "an ISO date-time"
        )
    if end and _DATE.match(text.strip()):
        return start_of_day(moment.date() + timedelta(days=1)) - timedelta(microseconds=1)
    return moment
