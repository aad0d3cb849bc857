"""The live organizations as plain, immutable data: what the reader produces and the planner diffs.

No I/O here, so the planner can depend on these types without importing the HTTP client.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .identity import Identity, identities, normalise

Snapshot = dict[str, Any]


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

    def snapshot(self) -> Snapshot:
        return {
            "organization_id": self.organization_id,
            "caller_role": self.caller_role,
            "members": {m.user_id: {"email": normalise("email", m.email), "handle": normalise("handle", m.handle),
                                       "role": m.role}
                        for m in sorted(self.members, key=lambda m: m.user_id)},
            "keys": {k.api_key_id: k.status for k in sorted(self.keys, key=lambda k: k.api_key_id)},
        }


@dataclass(frozen=True)
class LiveState:
    organizations: dict[str, LiveOrganization]
    api_version: str  # what the server was found (or told) to speak
    warnings: tuple[str, ...] = field(default=())

    def snapshot(self) -> Snapshot:
        """Plain data for fingerprints and for explaining differences (deepdiff)."""
        return {name: org.snapshot() for name, org in sorted(self.organizations.items())}

    def fingerprint(self) -> str:
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
