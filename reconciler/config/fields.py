"""Field types several parts of the file share: an expiry date and a cost center."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _iso_date(value: Any) -> Any:
    """`2027-01-31`, quoted or not: both readers give its ISO text, which becomes a date here."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if len(value) == 10 else value
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return value


ExpiryDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    Field(
        description="The last day of access (YYYY-MM-DD, UTC): the day after it, the plan "
        "removes or deactivates it."
    ),
]
CostCenter = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/&-]{0,63}$",
        description="Who pays for it: usage --by cost-center sums by this.",
    ),
]
