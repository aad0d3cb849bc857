"""The git state store: one branch (default `ideogram-org-state`) that every runner and laptop
reaches, holding the audit chain (`audit.jsonl`) and a lock file per organization id
(`locks/ID.json`). Key bindings and the runs' heads are records of the chain.

Every change is a commit pushed with a compare-and-swap on the branch (`--force-with-lease` with
the tip last read): a rejected push means another machine moved it, so the store reads again.
- A lock is taken by a commit adding its file (naming the run, machine, user, plan hash, start and
  lease); a lock whose lease passed may be taken over, on record. The holder renews the lease
  while it runs; `state unlock RUN_ID` breaks one, on record.
- The run's records are appended to a local copy of the chain and published at each checkpoint
  (apply calls one before each phase of writes, so intents are on the branch before their calls
  go out) and when the lock is released. Should another run (of another organization) have
  published first, this run's unpublished records are chained again after its.
- A branch rewritten behind this machine's back (a force-push dropping a commit it saw, or a
  chain no longer holding the head it saw) is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..defaults import STATE_BRANCH
from ..errors import ReconcilerError
from ..model.state import LockHolder
from . import crash_points
from .audit import GENESIS, AuditLog, AuditProblem, Verification, rechain, verify_log
from .git import Git, display_url
from .state import (
    DEFAULT_LEASE,
    LockedError,
    LockLostError,
    RunInfo,
    Snapshot,
    StateError,
    StateStore,
    merged_notices,
    parse_notices,
)

AUDIT_FILE = "audit.jsonl"
LOCKS_FOLDER = "locks"
NOTICES_FILE = "notices.json"  # the notifications sent, so each cause is sent once
README = (
    b"# ideogram-org state\n\nWritten by ideogram-org: the audit chain of every apply "
    b"(audit.jsonl) and the lock of each organization being applied (locks/). Do not edit: "
    b"`ideogram-org state show` and `ideogram-org audit verify` read it.\n"
)
PUSH_ATTEMPTS = 20  # re-reads after rejected pushes before giving up
TIP_REF = "refs/ideogram-org/tip-"
SEEN_REF = "refs/ideogram-org/seen"
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def cache_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ideogram-org" / "state"


def resolve_url(url: str, folder: Path) -> str:
    """A remote name (`origin`) of the repository holding the file, as a URL; a URL or path as
    it is."""
    if not _REMOTE_NAME.fullmatch(url) or (folder / url).exists():
        return url
    probe = Git(Path(os.devnull), url, "")
    probe.env.pop("GIT_DIR")
    try:
        done = probe.run("-C", str(folder), "remote", "get-url", url, ok_codes=(0, 2, 128))
    except StateError as exc:
        raise StateError(f"state url {url!r}: {exc}") from None
    if done.returncode != 0:
        raise StateError(
            f"state url {url!r} is not a remote of the git repository holding {folder}: set "
            "state.url to a remote's name or a URL"
        )
    return done.stdout.decode().strip()


@dataclass
class _Read:
    tip: str  # "" when the branch does not exist yet
    audit: bytes
    locks: dict[str, LockHolder]


@dataclass
class _Session:
    """What a run holding locks knows of the branch."""

    run: RunInfo
    audit: AuditLog
    tip: str
    published: int  # bytes of the local chain that are on the branch
    mine: dict[str, LockHolder]
    others: dict[str, LockHolder]
    lost: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


class GitStore(StateStore):
    binds_keys = True

    def __init__(
        self,
        url: str,
        branch: str = STATE_BRANCH,
        lease: timedelta = DEFAULT_LEASE,
        *,
        actor: str = "",
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        wait: Callable[[threading.Event, float], bool] = threading.Event.wait,
        poll: float = 0.5,
        cache: Path | None = None,
    ) -> None:
        self.url, self.branch, self.lease = url, branch, lease
        self.clock, self.sleep, self.wait, self.poll = clock, sleep, wait, poll
        key = hashlib.sha256(f"{url}#{branch}".encode()).hexdigest()[:16]
        self.git = Git((cache or cache_root()) / f"{key}.git", url, actor)
        self._work = tempfile.TemporaryDirectory(prefix="ideogram-org-state-")
        self._mutex = threading.RLock()
        self._notices = b""

    def describe(self) -> str:
        return f"{display_url(self.url)}#{self.branch}"

    # --- reading ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _cache_lock(self) -> Iterator[None]:
        """One git sequence at a time in this machine's cache repository."""
        self.git.init()
        with open(self.git.repository / "ideogram-org.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _fetch(self) -> _Read:
        ref = f"{TIP_REF}{uuid.uuid4().hex}"
        with self._cache_lock():
            tip = self.git.fetch(self.branch, ref)
            files = self.git.files(tip) if tip else {}
            if tip:
                self.git.run("update-ref", "-d", ref)
            self._check_history(tip)
        locks = {}
        for path, content in files.items():
            folder, _, name = path.partition("/")
            if folder == LOCKS_FOLDER and name.endswith(".json"):
                org_id = name[: -len(".json")]
                try:
                    data = json.loads(content)
                except ValueError:
                    data = None
                locks[org_id] = LockHolder.from_json(data, org_id)
        self._notices = files.get(NOTICES_FILE, self._notices)  # every push carries it on
        return _Read(tip=tip, audit=files.get(AUDIT_FILE, b""), locks=locks)

    def _check_history(self, tip: str) -> None:
        """Refuse a branch that no longer holds the commit this machine last saw of it."""
        seen = self.git.rev(SEEN_REF)
        if seen and (not tip or not self.git.is_ancestor(seen, tip)):
            raise StateError(
                f"{self.describe()}: the state branch was rewritten (commit {seen[:12]}, which "
                "this machine read before, is no longer in its history): someone force-pushed or "
                "deleted it, and its audit chain cannot be trusted. Nothing was sent. Restore the "
                "branch, or look into it before you delete "
                f"{self.git.repository} to start trusting it again"
            )

    def _saw(self, tip: str) -> None:
        if tip:
            with self._cache_lock():
                self.git.run("update-ref", SEEN_REF, tip)

    def _materialise(self, content: bytes, name: str = "") -> Path:
        path = Path(self._work.name) / (name or f"{uuid.uuid4().hex}.jsonl")
        path.write_bytes(content)
        return path

    def _verified(self, read: _Read) -> tuple[Path, Verification]:
        path = self._materialise(read.audit)
        found = verify_log(path)
        if found.torn_tail is not None:
            found.problems.insert(
                0, AuditProblem(found.torn_tail, "a torn record (never published so): damage")
            )
        self._saw(read.tip)
        return path, found

    def _refuse_damaged(self, found: Verification, then: str) -> None:
        if found.problems:
            raise StateError(
                f"{self.describe()}: the audit chain fails verification ({found.problems[0]}): "
                + then
            )

    def snapshot(self) -> Snapshot:
        read = self._fetch()
        _, found = self._verified(read)
        return Snapshot(
            pending=found,
            where=self.describe(),
            locks=sorted(read.locks.values(), key=lambda lock: lock.organization_id),
            binds_keys=True,
        )

    # --- writing ------------------------------------------------------------------------------

    def _files(self, audit: bytes, locks: dict[str, LockHolder]) -> dict[str, bytes]:
        files = {"README.md": README, AUDIT_FILE: audit}
        if self._notices:
            files[NOTICES_FILE] = self._notices
        for org_id, lock in locks.items():
            files[f"{LOCKS_FOLDER}/{org_id}.json"] = (
                json.dumps(lock.as_json(), indent=2, sort_keys=True).encode() + b"\n"
            )
        return files

    def _push(self, parent: str, files: dict[str, bytes], message: str) -> str:
        """The new tip, or "" when another machine moved the branch first."""
        with self._cache_lock():
            commit = self.git.commit(parent, files, message)
            result = self.git.push(commit, self.branch, parent)
            if result.accepted:
                self.git.run("update-ref", SEEN_REF, commit)
                return commit
        return ""

    @contextlib.contextmanager
    def locked(
        self, organization_ids: list[str], run: RunInfo, timeout: float
    ) -> Iterator[AuditLog]:
        session = self._acquire(sorted(set(organization_ids)), run, timeout)
        renewal = threading.Thread(target=self._renew, args=(session,), name="lease", daemon=True)
        renewal.start()
        failed = False
        try:
            yield session.audit
        except BaseException:
            failed = True
            raise
        finally:
            session.stop.set()
            renewal.join()
            self._release(session, quiet=failed)

    def _acquire(self, ids: list[str], run: RunInfo, timeout: float) -> _Session:
        deadline = self.clock() + timedelta(seconds=timeout)
        while True:
            read = self._fetch()
            path, found = self._verified(read)
            self._refuse_damaged(
                found,
                "what it records cannot be trusted to settle anything, so nothing was sent. Run "
                "`ideogram-org audit verify`",
            )
            now = self.clock()
            held = [
                lock
                for org_id in ids
                if (lock := read.locks.get(org_id)) is not None and not lock.expired(now)
            ]
            if held:
                if now >= deadline:
                    raise LockedError(
                        f"another apply holds the lock of organization {held[0].organization_id} "
                        f"({held[0].describe()}); nothing was sent. Wait for it, pass "
                        "--lock-timeout SECONDS, or, if that run is dead, `ideogram-org state "
                        f"unlock {held[0].run_id}`"
                    )
                self.sleep(self.poll)
                continue
            session = self._take(read, path, ids, run, now)
            if session is not None:
                return session

    def _take(
        self, read: _Read, path: Path, ids: list[str], run: RunInfo, now: datetime
    ) -> _Session | None:
        audit = AuditLog(path, run_id=run.run_id, actor=run.user)
        expired = [read.locks[i] for i in ids if i in read.locks]
        for lock in expired:
            audit.append(
                "lock.taken_over",
                organization_ids=[lock.organization_id],
                holder=lock.run_id,
                machine=lock.machine,
                lease_until=lock.lease_until,
                message=f"its lease ended at {lock.lease_until}: that run is taken to be dead",
            )
        mine = {
            org_id: LockHolder(
                organization_id=org_id,
                run_id=run.run_id,
                machine=run.machine,
                user=run.user,
                plan_hash=run.plan_hash,
                started=now.isoformat(timespec="seconds"),
                lease_until=(now + self.lease).isoformat(timespec="seconds"),
            )
            for org_id in ids
        }
        audit.append(
            "lock.acquired",
            organization_ids=ids,
            holder=run.run_id,
            plan_hash=run.plan_hash,
            machine=run.machine,
            lease_until=mine[ids[0]].lease_until,
        )
        others = {k: v for k, v in read.locks.items() if k not in mine}
        content = path.read_bytes()
        tip = self._push(
            read.tip,
            self._files(content, {**others, **mine}),
            f"lock {', '.join(ids)} for run {run.run_id}",
        )
        if not tip:
            return None
        session = _Session(
            run=run, audit=audit, tip=tip, published=len(content), mine=mine, others=others
        )
        audit.checkpoint = lambda: self._publish(session, "records")
        return session

    def _publish(self, session: _Session, what: str, release: bool = False) -> None:
        """Put the run's records (and its locks, renewed, or gone on release) on the branch."""
        with self._mutex:
            for _ in range(PUSH_ATTEMPTS):
                content = _locked_read(session.audit.path)
                locks = dict(session.others)
                if not release and not session.lost:
                    locks.update(session.mine)
                tip = self._push(
                    session.tip,
                    self._files(content, locks),
                    f"{what} of run {session.run.run_id}",
                )
                if tip:
                    session.tip, session.published = tip, len(content)
                    crash_points.reached("published")
                    if session.lost and not release:
                        raise LockLostError(self._lost_message(session))
                    return
                self._rebase(session)
            raise StateError(
                f"{self.describe()}: {PUSH_ATTEMPTS} pushes in a row were overtaken by other "
                "machines; the run's records are kept in this run only"
            )

    def _rebase(self, session: _Session) -> None:
        """Another machine moved the branch: chain this run's unpublished records after its."""
        read = self._fetch()
        path, found = self._verified(read)
        self._refuse_damaged(found, "another machine published it; this run stops")
        for org_id in session.mine:
            theirs = read.locks.get(org_id)
            if theirs is None or theirs.run_id != session.run.run_id:
                session.lost = True
        session.others = {k: v for k, v in read.locks.items() if k not in session.mine}
        with open(session.audit.path, "rb+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                ours = handle.read()
                if not read.audit.startswith(ours[: session.published]):
                    raise StateError(
                        f"{self.describe()}: the branch no longer holds the records this run "
                        "published: its chain was rewritten; this run stops"
                    )
                mine = [line for line in ours[session.published :].split(b"\n") if line]
                lines, renamed = rechain(
                    mine, found.head if read.audit else GENESIS, session.audit.key
                )
                content = read.audit + b"".join(line + b"\n" for line in lines)
                handle.seek(0)
                handle.truncate()
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
                session.audit.renamed.update(renamed)
                if lines:
                    session.audit.head = json.loads(lines[-1])["hash"]
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        path.unlink()
        session.tip, session.published = read.tip, len(read.audit)

    def _lost_message(self, session: _Session) -> str:
        return (
            f"the lock of run {session.run.run_id} was broken (`state unlock`) or taken over "
            "after its lease ended: no further call is sent; what was sent is on record"
        )

    def _renew(self, session: _Session) -> None:
        """Renew the lease a third of the way through it, while the run lives."""
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not self.wait(session.stop, interval):
            now = self.clock()
            session.mine = {k: v.renewed(now, self.lease) for k, v in session.mine.items()}
            with contextlib.suppress(StateError):  # the next checkpoint reports it
                self._publish(session, "lease renewal")

    def _release(self, session: _Session, quiet: bool) -> None:
        if not session.lost:
            session.audit.append(
                "lock.released",
                organization_ids=sorted(session.mine),
                holder=session.run.run_id,
            )
        try:
            self._publish(session, "release", release=True)
        except StateError:
            if not quiet:
                raise

    # --- on purpose -------------------------------------------------------------------------

    def notices(self) -> dict[str, str]:
        self._fetch()
        return parse_notices(self._notices)

    def record_notices(self, sent: dict[str, str]) -> None:
        """Pushed like a lock: on a branch another machine moved first, read again and retry."""
        with contextlib.suppress(ReconcilerError, OSError):
            for _ in range(5):
                read = self._fetch()
                self._notices = merged_notices(parse_notices(self._notices), sent)
                if self._push(read.tip, self._files(read.audit, read.locks), "notices sent"):
                    return

    def unlock(self, run_id: str, actor: str) -> list[str]:
        for _ in range(PUSH_ATTEMPTS):
            read = self._fetch()
            path, found = self._verified(read)
            self._refuse_damaged(found, "nothing was changed")
            freed = sorted(k for k, lock in read.locks.items() if lock.run_id == run_id)
            if not freed:
                holders = ", ".join(sorted({lock.run_id for lock in read.locks.values()}))
                raise StateError(
                    f"{self.describe()}: run {run_id} holds no lock"
                    + (f" (locks are held by run(s) {holders})" if holders else " (none is held)")
                )
            audit = AuditLog(path, actor=actor)
            audit.append(
                "lock.broken",
                organization_ids=freed,
                holder=run_id,
                lease_until=read.locks[freed[0]].lease_until,
                message=f"broken on purpose by {actor} with `state unlock`",
            )
            locks = {k: v for k, v in read.locks.items() if k not in freed}
            content = path.read_bytes()
            if self._push(read.tip, self._files(content, locks), f"unlock run {run_id}"):
                return freed
        raise StateError(f"{self.describe()}: the branch kept moving; try again")

    def migrate(self, log: bytes, source: str, bindings: list[dict[str, str]], actor: str) -> str:
        """Start the branch with a local log (verified by the caller) and the file's bindings,
        chained after it: the chain stays verifiable across the move. Returns the new head."""
        read = self._fetch()
        if read.tip:
            raise StateError(
                f"{self.describe()}: the branch exists already ({len(read.audit):,} bytes of "
                "audit chain); migrate only starts a new one"
            )
        path = self._materialise(log)
        audit = AuditLog(path, actor=actor)
        previous = verify_log(path).head
        audit.append("state.migrated", source=source, head=previous)
        if bindings:
            audit.append("key.bound", keys=bindings, message="moved from the desired file's ids")
        if not self._push("", self._files(path.read_bytes(), {}), f"migrate from {source}"):
            raise StateError(f"{self.describe()}: another machine created the branch meanwhile")
        return audit.head


def _locked_read(path: Path) -> bytes:
    with open(path, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            return handle.read()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
