"""What the state store holds besides the audit chain's records: who holds a lock, which key a
label is bound to, and how each finished run ended. Plain values; the store reads and writes
them, the planner and `state show` use them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .timestamps import parse_timestamp


@dataclass(frozen=True)
class LockHolder:
    """The run holding an organization's lock, as its lock record names it."""

    organization_id: str
    run_id: str
    machine: str
    user: str
    plan_hash: str
    started: str  # RFC 3339, the holder's clock
    lease_until: str  # RFC 3339: after this the lock may be taken over

    def expired(self, now: datetime) -> bool:
        until = parse_timestamp(self.lease_until)
        return until is None or now >= until

    def describe(self) -> str:
        return (
            f"run {self.run_id} of {self.user} on {self.machine}, started {self.started}, "
            f"lease until {self.lease_until}"
        )

    def as_json(self) -> dict[str, str]:
        return {
            "organization_id": self.organization_id,
            "run_id": self.run_id,
            "machine": self.machine,
            "user": self.user,
            "plan_hash": self.plan_hash,
            "started": self.started,
            "lease_until": self.lease_until,
        }

    @classmethod
    def from_json(cls, data: Any, organization_id: str) -> LockHolder:
        """A lock record as found on the branch; a damaged one still holds the lock (it names an
        unknown holder whose lease has passed, so it can be taken over, never ignored)."""
        fields = data if isinstance(data, dict) else {}

        def text(name: str) -> str:
            value = fields.get(name)
            return value if isinstance(value, str) else "?"

        return cls(
            organization_id=organization_id,
            run_id=text("run_id"),
            machine=text("machine"),
            user=text("user"),
            plan_hash=text("plan_hash"),
            started=text("started"),
            lease_until=text("lease_until"),
        )

    def renewed(self, now: datetime, lease: timedelta) -> LockHolder:
        return LockHolder(
            organization_id=self.organization_id,
            run_id=self.run_id,
            machine=self.machine,
            user=self.user,
            plan_hash=self.plan_hash,
            started=self.started,
            lease_until=(now + lease).isoformat(timespec="seconds"),
        )


@dataclass(frozen=True)
class KeyBinding:
    """A label of the file bound to the key the tool created for it."""

    organization: str
    label: str
    api_key_id: str
    created: str = ""  # the key's creation time, as the server gave it
    predecessor: str = ""  # the key this one replaces while it is retired (rotation)
    retiring_until: str = ""  # RFC 3339, server's clock: the predecessor's deactivation is due
    fingerprint: str = ""  # of the secret delivered (sha256 prefix), never the secret
    deliveries: tuple[tuple[tuple[str, str], ...], ...] = ()  # each sink's receipt, as recorded


@dataclass(frozen=True)
class FinishedRun:
    """A run that ended, with the head hash of the chain when it did."""

    run_id: str
    event: str  # run.end or run.interrupted
    plan_hash: str
    ts: str
    actor: str
    head: str
