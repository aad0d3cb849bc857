"""Reading ISO 8601 date-times, as servers, audit records and users write them: one rule for all.

`Z` for UTC, seven fractional digits (the spec's own examples) and bare dates are all read, on
every Python the project supports; a time without a zone is taken as UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(text: str) -> datetime | None:
    """`text` as an aware date-time, or None when it is not an ISO 8601 date or date-time."""
    try:
        moment = datetime.fromisoformat(
            _LONG_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00")
        )
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
