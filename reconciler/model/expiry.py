"""Access that ends on a date: what a plan says of entries, sources and keys near or past it."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def is_expired(expires: date | None, today: date) -> bool:
    """`expires` is the last day of access: from the next day on, it has expired."""
    return expires is not None and today > expires


def expired_reason(expires: date) -> str:
    return f"expired {expires.isoformat()}"


class ExpiryNote(BaseModel):
    """An entry, a source or a key that expires within `warn_days`, or has expired."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    kind: Literal["member", "source", "key"]
    subject: str = Field(description="The member, the source as plans name it, or the key label.")
    expires: str = Field(description="The last day of access, YYYY-MM-DD.")
    days_left: int = Field(description="Days from today to that day; negative once past.")
    origin: str = Field(default="", description="The source a member came from; '' the file.")

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    @property
    def line(self) -> str:
        what = f"{self.kind} {self.subject}" + (f" (from {self.origin})" if self.origin else "")
        if self.expired:
            return f"{self.organization}: {what} expired {self.expires}"
        when = "today" if self.days_left == 0 else f"in {self.days_left} day(s)"
        return f"{self.organization}: {what} expires {self.expires} ({when})"
