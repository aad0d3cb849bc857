"""The state store: where the audit chain, the locks, the key bindings and the runs' heads live.

Two backends: `local` (files on this machine, what a terminal user always had) and `git` (a
branch every runner and laptop can reach). Apply sees only this interface, so another backend
(object storage with conditional writes, a database) is one more module.

- `snapshot()` reads everything once (for git: one fetch) and verifies the chain; nothing in it is
  acted on unless `pending.problems` is empty.
- `locked(...)` takes the locks of organizations (by id: the endpoint's spelling plays no part)
  and gives the AuditLog this run appends to. `audit.checkpoint()` publishes what is on record
  where every machine sees it: apply calls it before each phase of writes.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta

from ..errors import ReconcilerError
from ..model.state import LockHolder
from .audit import AuditLog, Verification

DEFAULT_LEASE = timedelta(minutes=15)  # defaults.STATE_LEASE, for a store made in code


class StateError(ReconcilerError):
    """The state store cannot be read or written, or what it holds cannot be trusted."""


class LockedError(ReconcilerError):
    """Another apply holds an organization's lock."""


class LockLostError(StateError):
    """This run's lock was broken (`state unlock`) or taken over after its lease: it sends no
    further call."""


@dataclass(frozen=True)
class RunInfo:
    """Who takes a lock: named in the lock record and in the message another run gets."""

    run_id: str
    user: str
    machine: str
    plan_hash: str = ""


@dataclass
class Snapshot:
    """The store as one read found it."""

    pending: Verification
    where: str  # the log's name in messages: a path, or git URL#branch
    locks: list[LockHolder] = field(default_factory=list)
    binds_keys: bool = False  # keys are bound here, not (only) in the file's write-back


class StateStore(ABC):
    """One backend of the state store."""

    binds_keys = False  # local: the file's `id:` lines are the bindings

    @abstractmethod
    def describe(self) -> str:
        """Where the state is, for messages: a path, or URL#branch."""

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """Read and verify everything the store holds."""

    @abstractmethod
    def locked(
        self, organization_ids: list[str], run: RunInfo, timeout: float
    ) -> contextlib.AbstractContextManager[AuditLog]:
        """Hold these organizations' locks; the AuditLog of the run, whose chain continues the
        store's. Raises LockedError naming the holder when `timeout` seconds pass."""

    @abstractmethod
    def unlock(self, run_id: str, actor: str) -> list[str]:
        """Break the locks run `run_id` holds, on record; the organization ids freed."""

    @abstractmethod
    def notices(self) -> dict[str, str]:
        """The notifications already sent: cause -> when (and `drift-last:ORG` -> its cause), so
        every machine sends each cause once."""

    @abstractmethod
    def record_notices(self, sent: dict[str, str]) -> None:
        """Add to what `notices` returns (a failure here costs a repeated notice, nothing more)."""


def parse_notices(raw: bytes) -> dict[str, str]:
    """The notices file: a JSON object of strings; anything else reads as empty."""
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


MAX_NOTICES = 5000  # the newest kept: a cause older than these is long past


def merged_notices(known: dict[str, str], sent: dict[str, str]) -> bytes:
    both = {**known, **sent}
    newest = sorted(both.items(), key=lambda item: item[1], reverse=True)[:MAX_NOTICES]
    return json.dumps(dict(sorted(newest)), indent=1).encode() + b"\n"
