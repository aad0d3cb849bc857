"""The local state store: the audit log is a file, the locks are flock'd files, and the key
bindings are the `id:` lines apply writes back into the desired file. What a terminal user had.

The lock is a file per organization id under the user's cache (or IDEOGRAM_ORG_LOCK_DIR), held
with flock for the whole apply: the kernel drops it when the process dies, so a kill -9 never
leaves a stale lock. It is named by the organization id alone, so two spellings of one endpoint
(127.0.0.1 and localhost) take the same lock. It holds only on this machine: where applies run on
several machines, use the git backend.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from ..defaults import AUDIT_LOG, LOCK_DIR_ENV
from ..errors import ReconcilerError
from ..safe_files import write_atomic
from .audit import AuditLog, pending_work
from .state import (
    LockedError,
    RunInfo,
    Snapshot,
    StateError,
    StateStore,
    merged_notices,
    parse_notices,
)


def lock_dir() -> Path:
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ideogram-org" / "locks"


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    try:
        info = json.loads(handle.read() or "{}")
    except ValueError:
        return "an unknown process"
    return (
        f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')} in "
        f"{info.get('cwd')}"
    )


@contextlib.contextmanager
def organization_locks(organization_ids: list[str], timeout: float = 0.0) -> Iterator[None]:
    """Hold the locks of these organizations (in a fixed order, so two applies never deadlock)."""
    folder = lock_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise LockedError(
            f"{folder}: the lock folder cannot be made ({exc.strerror}); set "
            f"{LOCK_DIR_ENV} to a folder you may write; nothing was sent"
        ) from None
    with contextlib.ExitStack() as stack:
        for org_id in sorted(set(organization_ids)):
            name = hashlib.sha256(org_id.encode()).hexdigest()[:32]
            try:
                handle = stack.enter_context(open(folder / f"{name}.lock", "a+", encoding="utf-8"))  # noqa: SIM115
            except OSError as exc:
                raise LockedError(
                    f"{folder}: the lock of organization {org_id} cannot be opened "
                    f"({exc.strerror}); set {LOCK_DIR_ENV} to a folder you may write; nothing "
                    "was sent"
                ) from None
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockedError(
                            f"another apply holds the lock of organization {org_id} "
                            f"({_holder(handle)});"
                            f" nothing was sent. Wait for it, or pass --lock-timeout SECONDS"
                        ) from None
                    time.sleep(0.1)
            handle.seek(0)
            handle.truncate()
            handle.write(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "cwd": os.getcwd(),
                        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                )
            )
            handle.flush()
        yield


class LocalStore(StateStore):
    """The audit log at `audit_log`; locks under lock_dir(); bindings in the desired file."""

    def __init__(self, audit_log: str | Path = AUDIT_LOG) -> None:
        self.audit_log = Path(audit_log)

    def describe(self) -> str:
        return str(self.audit_log)

    def snapshot(self) -> Snapshot:
        return Snapshot(pending=pending_work(self.audit_log), where=str(self.audit_log))

    @contextlib.contextmanager
    def locked(
        self, organization_ids: list[str], run: RunInfo, timeout: float
    ) -> Iterator[AuditLog]:
        with organization_locks(organization_ids, timeout):
            yield AuditLog(self.audit_log, run_id=run.run_id, actor=run.user)

    @property
    def _notices_path(self) -> Path:
        return self.audit_log.with_name(self.audit_log.name + ".notices.json")

    def notices(self) -> dict[str, str]:
        try:
            return parse_notices(self._notices_path.read_bytes())
        except OSError:
            return {}

    def record_notices(self, sent: dict[str, str]) -> None:
        with contextlib.suppress(OSError, ReconcilerError):
            write_atomic(
                self._notices_path, merged_notices(self.notices(), sent), what="notices file"
            )

    def unlock(self, run_id: str, actor: str) -> list[str]:
        raise StateError(
            "the local state store's locks are held by running processes and end with them: "
            "there is no lock to break (with the git backend, `state unlock` breaks a lock a "
            "killed runner left)"
        )
