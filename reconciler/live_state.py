"""The live organizations as plain, immutable data: what the reader produces and the planner diffs.

No I/O here, so the planner can depend on these types without importing the HTTP client.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .identity import Identity, identities, normalise


@dataclass(frozen=True)
class LiveMember:
    user_id: str
    email: str   # "" when the server's record has none
    handle: str  # likewise
    role: str    # OWNER or MEMBER; a newer server may send a role this tool does not know

    @property
    def identities(self) -> list[Identity]:
        return identities(self.email, self.handle, self.user_id)


@dataclass(frozen=True)
class LiveKey:
    api_key_id: str
    redacted: str
    status: str
    creation_time: str = ""


@dataclass(frozen=True)
class LiveOrganization:
    name: str  # local name in the desired file (or the profile name, for export)
    organization_id: str
    profile_name: str
    caller_role: str
    inflight_limit: int
    members: tuple[LiveMember, ...]
    keys: tuple[LiveKey, ...]
    repeated: tuple[str, ...] = ()  # user ids the server listed more than once (each is one member here)

    def canonical(self) -> list[Any]:
        """What the fingerprint covers: ids, roles, identifiers as compared, key statuses; in a fixed order."""
        members = sorted(self.members, key=lambda m: m.user_id)
        keys = sorted(self.keys, key=lambda k: k.api_key_id)
        return [self.organization_id, self.caller_role,
                [[m.user_id, normalise("email", m.email), normalise("handle", m.handle), m.role] for m in members],
                [[k.api_key_id, k.status] for k in keys]]


@dataclass(frozen=True)
class LiveState:
    organizations: dict[str, LiveOrganization]
    api_version: str  # what the server was found (or told) to speak
    warnings: tuple[str, ...] = field(default=())

    def fingerprint(self) -> str:
        """Changes whenever anything a plan depends on changes: a saved plan is stale then."""
        canonical = [[name, org.canonical()] for name, org in sorted(self.organizations.items())]
        return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()
