"""The live organizations as plain, immutable data: what the reader produces and the planner diffs.

No I/O here, so the planner can depend on these types without importing the HTTP client.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import attrgetter
from typing import Any, Literal

import msgspec

from .identity import IdentifierField, Identity, identities, normalise_all

FINGERPRINT_CHUNK = 10_000
Role = Literal["OWNER", "MEMBER"]
KeyStatus = Literal["ACTIVE", "DISABLED"]
# What this version knows; the server may send others, which the tool reports and never acts on.
KNOWN_ROLES: tuple[Role, ...] = ("OWNER", "MEMBER")
KNOWN_KEY_STATUSES: tuple[KeyStatus, ...] = ("ACTIVE", "DISABLED")


class LiveMember(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One member as the server lists them (a msgspec struct: 100,000 are made per read, at a
    fraction of a frozen dataclass's cost). Encoded as an array of its fields in this order, as
    the fingerprint's rows are."""

    user_id: str
    email: str  # "" when the server's record has none
    handle: str  # likewise
    role: str  # OWNER or MEMBER; a newer server may send a role this tool does not know

    @property
    def identities(self) -> list[Identity]:
        return identities(self.email, self.handle, self.user_id)


@dataclass(frozen=True, slots=True)
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
    repeated: tuple[
        str, ...
    ] = ()  # user ids the server listed more than once (each is one member here)

    @cached_property
    def _compared_emails(self) -> list[str]:
        return normalise_all("email", [m.email for m in self.members])

    @cached_property
    def _compared_handles(self) -> list[str]:
        return normalise_all("handle", [m.handle for m in self.members])

    def compared(self, field: IdentifierField) -> list[str]:
        """Each member's identifier of `field` in compared form ("" for none), in member order:
        an email or handle normalised once per read, when first asked for."""
        if field == "email":
            return self._compared_emails
        if field == "handle":
            return self._compared_handles
        return [m.user_id for m in self.members]

    def _written_as_compared(self) -> bool:
        """Whether every email and handle is already in compared form as the server wrote it,
        as nearly always (the compared lists are made once per read, for the index too)."""
        return self.compared("email") == [m.email for m in self.members] and self.compared(
            "handle"
        ) == [m.handle for m in self.members]

    def feed(self, digest: Any) -> None:
        """What the fingerprint covers, fed to `digest` member by member (no copy of the whole
        organization): ids, roles, identifiers as compared, key statuses, in a fixed order. JSON
        keeps every value's bounds unambiguous; msgspec writes it at twice json.dumps' speed."""
        encode = msgspec.json.encode
        digest.update(encode([self.organization_id, self.caller_role]))
        members = sorted(self.members, key=attrgetter("user_id"))
        as_compared = self._written_as_compared()
        for start in range(0, len(members), FINGERPRINT_CHUNK):  # bounded memory per chunk
            chunk = members[start : start + FINGERPRINT_CHUNK]
            if as_compared:  # each record encodes as its row: [user_id, email, handle, role]
                digest.update(encode(chunk))
                continue
            emails = normalise_all("email", [m.email for m in chunk])
            handles = normalise_all("handle", [m.handle for m in chunk])
            digest.update(
                encode(
                    [
                        (m.user_id, email, handle, m.role)
                        for m, email, handle in zip(chunk, emails, handles, strict=True)
                    ]
                )
            )
        digest.update(b"keys")
        keys = sorted(self.keys, key=attrgetter("api_key_id"))
        digest.update(encode([(k.api_key_id, k.status) for k in keys]))


@dataclass(frozen=True)
class LiveState:
    organizations: dict[str, LiveOrganization]
    api_version: str  # what the server was found (or told) to speak
    warnings: tuple[str, ...] = field(default=())
    api_version_evidence: str = ""  # what decided api_version, in words

    def keys_only(self) -> LiveState:
        """The same state without its members: what an apply keeps of the read before its first
        write (which keys were there), so that read's members go before the verification read."""
        return replace(
            self,
            organizations={
                name: replace(org, members=(), repeated=())
                for name, org in self.organizations.items()
            },
        )

    def fingerprint(self) -> str:
        """Changes whenever anything a plan depends on changes: a saved plan is stale then."""
        digest = hashlib.sha256()
        for name, org in sorted(self.organizations.items()):
            digest.update(msgspec.json.encode(name))
            org.feed(digest)
        return digest.hexdigest()
