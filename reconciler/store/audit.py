"""The audit log: append-only JSON Lines, each record holding the hash of the one before it.

What each check proves (compare CloudTrail's log file validation):
- The hash chain: editing, removing or reordering a record breaks the chain at that line.
- A recorded head (`apply` prints the log's head hash; `audit verify --head HASH`): cutting records
  off the end, or emptying or replacing the file, loses that record, which the chain alone cannot
  see.
- The keyed chain (`IDEOGRAM_AUDIT_KEY`): every record also carries an HMAC of its hash, so whoever
  lacks the key cannot rewrite the log and recompute a consistent chain.

Writes are recorded ahead: an intent record is flushed to disk before the call goes out, its
outcome after. A crash leaves an intent without an outcome, which `audit verify` names and the
next apply settles by reading the organization. A crash mid-record leaves a torn last line: it is
told apart from tampering, and `audit repair` seals it without rewriting anything.
Records hold identifiers and outcomes, never a token or a key secret.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ..defaults import AUDIT_KEY_ENV, AUDIT_LOG
from ..errors import ReconcilerError
from ..model.audit import EventType, WriteOutcome
from ..model.state import FinishedRun, KeyBinding
from ..safe_files import FileWriteError, open_for_append, read_bytes
from . import crash_points

GENESIS = "0" * 64
TAIL_BLOCK = 65536  # bytes read at a time when looking for the last record


class TornLogError(ReconcilerError):
    """The log ends in half a record (a crash or a full disk): it must be sealed before anything is
    added."""


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of everything in the record but its own hash and HMAC."""
    return hashlib.sha256(
        canonical({k: v for k, v in record.items() if k not in ("hash", "hmac")})
    ).hexdigest()


def record_hmac(key: str, digest: str) -> str:
    return hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def current_actor() -> str:
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"github:{actor}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _last_line_start(handle: BinaryIO, end: int) -> int:
    """Where the line ending at `end` starts: read backwards a block at a time, so a record of
    any length (a 2,000-member call, a long server message) is found whole."""
    position = end
    while position > 0:
        step = min(TAIL_BLOCK, position)
        handle.seek(position - step)
        block = handle.read(step)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return position - step + newline + 1
        position -= step
    return 0


def _tail(handle: BinaryIO) -> tuple[str, bytes]:
    """(hash of the last whole record, torn bytes after it or b"")."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return GENESIS, b""
    handle.seek(size - 1)
    whole = handle.read(1) == b"\n"
    end = size - 1 if whole else size
    start = _last_line_start(handle, end)
    handle.seek(start)
    last = handle.read(end - start)
    if whole:
        torn, record = b"", last
    else:
        torn = last
        if start == 0:
            return GENESIS, torn
        record_start = _last_line_start(handle, start - 1)
        handle.seek(record_start)
        record = handle.read(start - 1 - record_start)
    try:
        return str(json.loads(record)["hash"]), torn
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ReconcilerError(
            "the audit log's last record is damaged; run `ideogram-org audit verify`"
        ) from None


class AuditLog:
    """Appends records for one run. Every record carries the run id and the actor."""

    def __init__(
        self,
        path: str | Path = AUDIT_LOG,
        run_id: str | None = None,
        actor: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.run_id = run_id or uuid.uuid4().hex
        self.actor = actor or current_actor()
        self.key = key if key is not None else os.environ.get(AUDIT_KEY_ENV) or None
        self.head = ""
        # a shared store may chain records again onto another machine's before they are
        # published: old hash -> new, so an outcome still names its intent
        self.renamed: dict[str, str] = {}
        self.checkpoint: Callable[[], None] = lambda: None  # publish what is on record so far

    def current(self, digest: str) -> str:
        """The hash a record has now (a shared store may have chained it again)."""
        while digest in self.renamed:
            digest = self.renamed[digest]
        return digest

    def append(self, event: EventType, **fields: Any) -> dict[str, Any]:
        record = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "actor": self.actor,
            "event": event,
            **fields,
        }
        fd = open_for_append(self.path, what="audit log", mode=0o640, readable=True)
        with os.fdopen(fd, "rb+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                previous, torn = _tail(handle)
                if torn:
                    raise TornLogError(
                        f"{self.path}: the last record is torn (a crash or a full disk); nothing "
                        "was "
                        f"added. Seal it with `ideogram-org audit repair {self.path}`"
                    )
                record["prev_hash"] = previous
                record["hash"] = record_hash(record)
                if self.key:
                    record["hmac"] = record_hmac(self.key, record["hash"])
                handle.seek(0, os.SEEK_END)
                try:
                    handle.write(canonical(record) + b"\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                    crash_points.reached(event)
                except OSError as exc:
                    raise FileWriteError(
                        f"{self.path}: cannot append to the audit log ({exc.strerror})"
                    ) from None
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        self.head = record["hash"]
        return record

    def check_writable(self) -> None:
        """Fail before any write call if the log cannot take records (torn, unwritable, a link)."""
        fd = open_for_append(self.path, what="audit log", mode=0o640, readable=True)
        with os.fdopen(fd, "rb") as handle:
            if _tail(handle)[1]:
                raise TornLogError(
                    f"{self.path}: the last record is torn (a crash or a full disk); seal it with "
                    f"`ideogram-org audit repair {self.path}` before applying"
                )


@dataclass(frozen=True)
class RecordedCall:
    """A write call on record: its intent is flushed before the call goes out; `finish` chains
    the outcome to it. The one protocol for every write, by the executor and by settlement."""

    audit: AuditLog
    intent: str  # the intent record's hash
    organization: str
    action: str
    targets: tuple[str, ...]
    plan_hash: str

    def finish(
        self,
        outcome: WriteOutcome,
        message: str = "",
        results: list[dict[str, object]] | None = None,
    ) -> None:
        fields: dict[str, object] = {
            "intent": self.audit.current(self.intent),
            "organization": self.organization,
            "action": self.action,
            "targets": list(self.targets),
            "outcome": outcome,
            "message": message,
            "plan_hash": self.plan_hash,
        }
        if results is not None:
            fields["results"] = results
        self.audit.append("write", **fields)


def record_call(
    audit: AuditLog,
    organization: str,
    action: str,
    targets: list[str],
    plan_hash: str,
    timeout: float | None = None,
) -> RecordedCall:
    """Record the intent of a write call, before it is sent. `timeout` bounds how long after the
    intent the call could have acted: what settling a lost answer may attribute to it."""
    fields: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
    record = audit.append(
        "write.intent",
        organization=organization,
        action=action,
        targets=targets,
        plan_hash=plan_hash,
        **fields,
    )
    return RecordedCall(audit, str(record["hash"]), organization, action, tuple(targets), plan_hash)


def repair_log(path: str | Path) -> str:
    """Seal a torn last line: end it, then append a repair record that keeps its bytes as evidence
    and
    chains onto the last whole record. Nothing written before is changed. Returns what was done."""
    fd = open_for_append(path, what="audit log", mode=0o640, readable=True)
    with os.fdopen(fd, "rb+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            whole, _, torn = handle.read().rpartition(b"\n")
            if not torn:
                return "nothing to repair: the log ends with a whole record"
            torn_line = whole.count(b"\n") + 2 if whole else 1
            # the repair chains onto the last record that is one (verify names any damage
            # before it; sealing the torn tail does not depend on it)
            records = (_parse(line) for line in reversed(whole.split(b"\n")) if line)
            previous = next((r["hash"] for r in records if r is not None), GENESIS)
            record: dict[str, Any] = {
                "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "run_id": uuid.uuid4().hex,
                "actor": current_actor(),
                "event": "audit.repair",
                "torn_line": torn_line,
                "torn_bytes": base64.b64encode(torn).decode(),
                "prev_hash": previous,
            }
            record["hash"] = record_hash(record)
            key = os.environ.get(AUDIT_KEY_ENV)
            if key:
                record["hmac"] = record_hmac(key, record["hash"])
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n" + canonical(record) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return (
        f"sealed a torn record at line {torn_line} ({len(torn)} bytes kept as evidence in the "
        "repair record)"
    )


@dataclass(frozen=True)
class AuditProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Verification:
    """What `audit verify` found. Tampering is in `problems`; the rest is what a crash leaves."""

    records: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    torn_tail: int | None = None  # line of a torn last record: a crash, not tampering
    unfinished_runs: list[str] = field(default_factory=list)  # started, never ended
    unknown_outcomes: list[dict[str, Any]] = field(
        default_factory=list
    )  # intents without outcome or settlement
    # keys a run created (secret saved) but was killed before writing back: api_key_id ->
    # (organization, label)
    unbound_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    # what their create's outcome recorded for the binding (predecessor, deliveries...)
    unbound_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    # keys a settled crash left ACTIVE with no saved secret, not yet deactivated: organization ->
    # api_key_id -> why (the plan deactivates them, counted like any deactivation)
    lost_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    # the last binding of each (organization, label), as key.bound records made them
    bindings: dict[tuple[str, str], KeyBinding] = field(default_factory=dict)
    runs: list[FinishedRun] = field(default_factory=list)  # in the order they ended
    settled: list[dict[str, Any]] = field(default_factory=list)  # write.settled records
    head: str = GENESIS

    def lost_keys_to_plan(self) -> dict[str, dict[str, str]]:
        """The lost keys still to deactivate, by organization: what the planner is given."""
        return {org: dict(keys) for org, keys in self.lost_keys.items() if keys}

    hashes: set[str] = field(default_factory=set)


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A line as a record, or None when it is not one: not JSON (or nested past reason), not an
    object, without string hashes, or not encodable again (a lone surrogate), so nothing later
    trips over its shape."""
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    if not isinstance(record.get("hash"), str) or not isinstance(record.get("prev_hash"), str):
        return None
    try:
        canonical(record)
    except (UnicodeEncodeError, ValueError, RecursionError):
        return None
    return record


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field; anything else in a hostile record counts as none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _decoded(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def verify_log(path: str | Path, key: str | None = None) -> Verification:
    """Check the chain (and, with a key, every HMAC); name torn tails, unfinished runs, unknown
    outcomes."""
    key = key if key is not None else os.environ.get(AUDIT_KEY_ENV) or None
    lines = read_bytes(path, what="audit log").split(b"\n")
    ends_whole = lines[-1] == b""
    if ends_whole:
        lines.pop()
    result = Verification()
    previous: str | None = GENESIS
    runs: dict[str, bool] = {}
    intents: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        record = _parse(raw)
        if record is None:
            following = _parse(lines[number]) if number < len(lines) else None
            if (
                following
                and following.get("event") == "audit.repair"
                and following.get("torn_line") == number
                and _decoded(following.get("torn_bytes")) == raw
            ):
                continue  # sealed by a repair record, which chains onto the record before
            if number == len(lines) and not ends_whole:
                result.torn_tail = number
                continue
            result.problems.append(AuditProblem(number, "not a valid audit record"))
            previous = None
            continue
        result.records += 1
        if record_hash(record) != record["hash"]:
            result.problems.append(
                AuditProblem(number, "the record was edited (its hash does not match its content)")
            )
        elif previous is not None and record["prev_hash"] != previous:
            result.problems.append(
                AuditProblem(
                    number,
                    "the chain is broken: a record before this one was removed, added or reordered",
                )
            )
        if key and not hmac.compare_digest(
            str(record.get("hmac", "")), record_hmac(key, record["hash"])
        ):
            result.problems.append(
                AuditProblem(
                    number,
                    "the record's HMAC does not match IDEOGRAM_AUDIT_KEY: it was "
                    "written without the key, or rewritten",
                )
            )
        previous = record["hash"]
        result.head = record["hash"]
        result.hashes.add(record["hash"])
        _track(record, result, runs, intents)
    result.unfinished_runs = [run for run, ended in runs.items() if not ended]
    result.unknown_outcomes = list(intents.values())
    return result


def _track(
    record: dict[str, Any],
    found: Verification,
    runs: dict[str, bool],
    intents: dict[str, dict[str, Any]],
) -> None:
    event = record.get("event")
    if event == "run.start":
        runs[str(record.get("run_id"))] = False
    elif event in ("run.end", "run.interrupted"):
        runs[str(record.get("run_id"))] = True
        found.runs.append(
            FinishedRun(
                run_id=str(record.get("run_id")),
                event=str(event),
                plan_hash=str(record.get("plan_hash", "")),
                ts=str(record.get("ts", "")),
                actor=str(record.get("actor", "")),
                head=str(record["hash"]),
            )
        )
    elif event == "write.intent":
        intents[record["hash"]] = record
    elif event in ("write", "write.settled"):
        intents.pop(str(record.get("intent")), None)
        if event == "write.settled":
            found.settled.append(record)
    _track_keys(record, found)


# what a key.create outcome's result carries into the key's binding
BINDING_DETAILS = ("created", "predecessor", "retiring_until", "fingerprint", "deliveries")


def _track_keys(record: dict[str, Any], found: Verification) -> None:
    """Keys made and not yet bound to a label; keys a lost create made and not yet
    deactivated."""
    event, action, outcome = record.get("event"), record.get("action"), record.get("outcome")
    if (
        event == "write"
        and action == "key.create"
        and outcome == "ok"
        and not record.get("message")
    ):
        for result in _dicts(record.get("results")):
            found.unbound_keys[str(result.get("api_key_id"))] = (
                str(record.get("organization")),
                str(result.get("target")),
            )
            found.unbound_details[str(result.get("api_key_id"))] = {
                name: value
                for name, value in result.items()
                if name in BINDING_DETAILS and isinstance(value, str | list)
            }
    elif event == "key.bound":
        for key in _dicts(record.get("keys")):
            found.unbound_keys.pop(str(key.get("api_key_id")), None)
            found.unbound_details.pop(str(key.get("api_key_id")), None)
            binding = KeyBinding(
                organization=str(key.get("organization")),
                label=str(key.get("label")),
                api_key_id=str(key.get("api_key_id")),
                created=str(key.get("created") or ""),
                predecessor=str(key.get("predecessor") or ""),
                retiring_until=str(key.get("retiring_until") or ""),
                fingerprint=str(key.get("fingerprint") or ""),
                deliveries=tuple(
                    tuple((str(k), str(v)) for k, v in receipt.items())
                    for receipt in _dicts(key.get("deliveries"))
                ),
            )
            found.bindings[(binding.organization, binding.label)] = binding
    elif event == "write.settled":
        lost = found.lost_keys.setdefault(str(record.get("organization")), {})
        for key in _dicts(record.get("lost_keys")):
            reason = str(key.get("reason") or "a lost create made it: nobody holds its secret")
            lost[str(key.get("api_key_id"))] = reason
    elif event == "write" and action == "key.deactivate" and outcome == "ok":
        targets = record.get("targets")
        for kept in found.lost_keys.values():
            for target in targets if isinstance(targets, list) else []:
                kept.pop(str(target), None)


def pending_work(path: str | Path) -> Verification:
    """What a crash may have left for the next apply (unknown outcomes, keys never written back,
    keys a lost create made), with the log's verification (HMACs too, with IDEOGRAM_AUDIT_KEY):
    the caller acts on none of it unless `problems` is empty. An empty answer when there is no
    log. One read of the log serves both."""
    if not Path(path).exists():
        return Verification()
    return verify_log(path)


def rechain(lines: list[bytes], onto: str, key: str | None) -> tuple[list[bytes], dict[str, str]]:
    """The records of `lines` chained again, in order, after the record `onto`: each keeps its
    content and gets a new prev_hash, hash (and HMAC). Returns the new lines and old hash -> new.
    Only for records no other machine has seen yet (a shared store publishing this run's records
    after another run's)."""
    renamed: dict[str, str] = {}
    out: list[bytes] = []
    previous = onto
    for raw in lines:
        record = json.loads(raw)
        old = str(record.get("hash"))
        record.pop("hmac", None)
        record["prev_hash"] = previous
        if isinstance(record.get("intent"), str):  # an outcome names its intent by hash
            record["intent"] = renamed.get(record["intent"], record["intent"])
        record["hash"] = record_hash(record)
        if key:
            record["hmac"] = record_hmac(key, record["hash"])
        renamed[old] = previous = record["hash"]
        out.append(canonical(record))
    return out, renamed
