"""What the planner is told about keys' lives, and what it says back about rotations: plain
values, no I/O. Times are on the server's clock, which gave the keys' creation times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPLACE_REASON = "asked for by --replace-key"  # a rotation on demand, not by schedule
IDLE_HOURS = 24  # a predecessor unused this long, with its successor in use, retires early


@dataclass(frozen=True)
class Retiring:
    """A rotated label's predecessor, ACTIVE beside its successor until `until`."""

    key_id: str
    label: str
    successor: str
    until: datetime
    # usage showed no use of it in the last IDLE_HOURS while the successor was used
    idle_while_successor_used: bool = False


@dataclass(frozen=True)
class KeyFacts:
    """One organization's key lifecycle facts."""

    now: datetime
    retiring: Mapping[str, Retiring] = field(default_factory=dict)  # predecessor id -> facts
    replace: frozenset[str] = frozenset()  # labels --replace-key asks to rotate now


Phase = Literal["scheduled", "due", "retiring", "retire"]


class RotationNote(BaseModel):
    """Where a rotating key stands: shown by plan, the PR comment and show; not in the plan hash
    (the changes are)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    key_label: str
    key_id: str
    phase: Phase = Field(
        description="scheduled: next rotation on `when`; due: phase 1 planned now; retiring: "
        "phase 2, the predecessor stays ACTIVE until `when`; retire: phase 2, its deactivation "
        "is planned now."
    )
    when: str = Field(description="RFC 3339, the server's clock.")
    message: str
