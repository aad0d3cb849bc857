"""What a notification says: one event per cause, never a secret, a token or a key's full id."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal["apply", "drift", "budget", "expiry", "dormant"]
Detail = str | int | float | bool


class Event(BaseModel):
    """The generic JSON event a `notify: webhook` receives (schemas/event.schema.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ideogram-org event")

    format_version: Literal[1] = 1
    kind: EventKind
    cause: str = Field(description="What the event is about, as a digest: sent once per cause.")
    organization: str = Field(description="The organization's local name ('' for several).")
    at: str = Field(description="When it was found, UTC ISO 8601.")
    summary: str = Field(description="One line for people.")
    lines: list[str] = Field(default_factory=list, description="The findings, one per line.")
    details: dict[str, Detail] = Field(default_factory=dict)


def cause_of(*parts: str) -> str:
    """A cause key: what makes two events the same news (a digest, so it carries nothing)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


EVENT_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/event.schema.json"


def event_json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": EVENT_SCHEMA_ID,
        **Event.model_json_schema(),
    }
