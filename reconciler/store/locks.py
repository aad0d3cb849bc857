"""One apply at a time per organization on this machine, whatever the working directory.

The lock is a file per organization under the user's cache (or IDEOGRAM_ORG_LOCK_DIR), held with
flock for the whole apply: the kernel drops it when the process dies, so a kill -9 never leaves a
stale lock. The file names the holder (pid, start time, folder) for the message a second apply gets.
Another machine can still race; apply re-reads the owner count before every owner removal for that.
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

from ..defaults import LOCK_DIR_ENV
from ..errors import ReconcilerError


class LockedError(ReconcilerError):
    """Another apply holds an organization's lock."""


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
def organization_locks(
    endpoint: str, organization_ids: list[str], timeout: float = 0.0
) -> Iterator[None]:
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
            name = hashlib.sha256(f"{endpoint}\0{org_id}".encode()).hexdigest()[:32]
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
