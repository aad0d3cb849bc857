"""What sources returned, as plain values: the people each one gave, and the snapshot of them a
plan carries (and its hash covers), so a saved plan applies exactly what its sources said."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .live import Role

IdentifierKind = Literal["email", "handle", "user_id"]


@dataclass(frozen=True)
class SourcedEntry:
    """One person a source gave: one identifier, the role it gives, and where in the source
    (a team file's LINE:COL; "" for a directory, whose group is the place)."""

    kind: IdentifierKind
    value: str
    role: Role
    where: str = ""
    expires: date | None = None  # a team file's own entry may give one
    cost_center: str | None = None


class SourceSnapshot(BaseModel):
    """One source's answer, as the plan saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    source: str = Field(description="The source, as plans name it: `ldap cn=...`.")
    members: list[tuple[str, str, str]] = Field(
        description="(identifier as kind:value, role, where) for each person it gave, sorted."
    )

    @classmethod
    def of(cls, organization: str, source: str, entries: list[SourcedEntry]) -> SourceSnapshot:
        rows: list[tuple[str, str, str]] = sorted(
            (f"{e.kind}:{e.value}", str(e.role), e.where) for e in entries
        )
        return cls(organization=organization, source=source, members=rows)

    def people(self) -> dict[str, str]:
        """identifier -> role: what a stale check compares."""
        return {identifier: role for identifier, role, _ in self.members}


def snapshots_digest(snapshots: list[SourceSnapshot]) -> str:
    """sha256 over the snapshots, in the plan's order: what the plan hash covers of them."""
    canonical = json.dumps(
        [[s.organization, s.source, s.members] for s in snapshots], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
