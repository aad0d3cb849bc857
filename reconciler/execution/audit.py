"""The audit log: append-only JSON Lines, each record holding the hash of the one before it.

Editing, removing or reordering a record breaks the chain at that line, and `audit verify` says
where. Appends take an exclusive lock on the file, so two processes never interleave records and
each chains onto the true last record. Records hold identifiers and outcomes, never a token or
a key secret.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ..defaults import AUDIT_LOG
from ..errors import ReconcilerError
from ..safe_files import open_for_append, read_bytes

GENESIS = "0" * 64


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of everything in the record but its own hash."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def current_actor() -> str:
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"github:{actor}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _last_hash(handle: BinaryIO) -> str:
    """The hash of the file's last record, read backwards from the end."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return GENESIS
    block = 4096
    data = b""
    position = size
    while position > 0:
        step = min(block, position)
        position -= step
        handle.seek(position)
        data = handle.read(step) + data
        lines = data.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or position == 0:
            try:
                return str(json.loads(lines[-1])["hash"])
            except (ValueError, KeyError, TypeError):
                raise ReconcilerError("the audit log's last record is damaged; run `ideogram-org audit verify`"
                                      ) from None
    return GENESIS


class AuditLog:
    """Appends records for one run. Every record carries the run id, the actor and the plan hash."""

    def __init__(self, path: str | Path = AUDIT_LOG, run_id: str | None = None,
                 actor: str | None = None) -> None:
        self.path = Path(path)
        self.run_id = run_id or uuid.uuid4().hex
        self.actor = actor or current_actor()

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "run_id": self.run_id,
                  "actor": self.actor, "event": event, **fields}
        fd = open_for_append(self.path, what="audit log", mode=0o640, readable=True)
        with os.fdopen(fd, "rb+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                record["prev_hash"] = _last_hash(handle)
                record["hash"] = record_hash(record)
                handle.seek(0, os.SEEK_END)
                handle.write(canonical(record) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return record


@dataclass(frozen=True)
class AuditProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def verify_log(path: str | Path) -> tuple[int, list[AuditProblem]]:
    """(records read, problems). Each problem names the first line where the chain breaks."""
    problems: list[AuditProblem] = []
    previous: str | None = GENESIS
    count = 0
    try:
        lines = read_bytes(path, what="audit log").split(b"\n")
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot read the audit log ({exc.strerror})") from None
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "hash" not in record or "prev_hash" not in record:
                raise ValueError
        except ValueError:
            problems.append(AuditProblem(number, "not a valid audit record"))
            previous = None
            continue
        count += 1
        if record_hash(record) != record["hash"]:
            problems.append(AuditProblem(number, "the record was edited (its hash does not match its content)"))
        elif previous is not None and record["prev_hash"] != previous:
            problems.append(AuditProblem(
                number, "the chain is broken: a record before this one was removed, added or reordered"))
        previous = record["hash"]
    return count, problems
