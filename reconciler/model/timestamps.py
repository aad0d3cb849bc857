"""Reading date-times, as servers, audit records and users write them: one rule for all.

Every RFC 3339 form is read, on every Python the project supports (3.10's `fromisoformat` alone
reads only 3 or 6 fractional digits and no `Z`): `T`, `t` or a space between date and time, `Z`
or `z` for UTC, any number of fractional digits (the spec's own examples have seven), offsets
with or without a colon, and bare dates (midnight UTC). A time without a zone is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_LONGEST = 64  # characters: nothing longer is a date-time


def _zone(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_timestamp(text: str) -> datetime | None:
    """`text` as an aware date-time, or None when it is not an RFC 3339 date or date-time."""
    text = text.strip()
    found = _RFC3339.fullmatch(text) if len(text) <= _LONGEST else None
    if found is None:
        return None
    try:
        day = datetime.strptime(found["date"], "%Y-%m-%d")
        if found["hour"] is None:
            return day.replace(tzinfo=timezone.utc)
        micro = int((found["fraction"] or "0")[:6].ljust(6, "0"))
        return day.replace(
            hour=int(found["hour"]),
            minute=int(found["minute"]),
            second=int(found["second"] or 0),
            microsecond=micro,
            tzinfo=_zone(found["zone"]),
        )
    except (ValueError, OverflowError):  # 2026-02-30, 25:00, an offset past a day
        return None
