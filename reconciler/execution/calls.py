"""Sending write calls: each one recorded ahead (an intent, flushed before the call goes out) and
after (its outcome), and each settling the plan's changes it carried.

A 2025-10 member call is all or nothing; when it is refused (400) it is split in halves and each
half sent again, so one apply carries out every change but those that fail on their own. A new
key goes: intent, create, delivery to every sink (`deliver.py`), its create's outcome with what
each sink read back and the secret's fingerprint, then its binding. A key whose secret cannot be
delivered is deactivated at once: no key stays live that nobody holds the secret of.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Literal, TypeVar

from ..api.client import ApiClient
from ..api.reader import usable_id
from ..api.wire import LiteMember
from ..delivery.sink import NewKey, SecretSink, fingerprint
from ..errors import AmbiguousWriteError, ApiError, NetworkError, ServerError
from ..model.audit import WriteOutcome
from ..model.changes import (
    KeyCreate,
    KeyDeactivate,
    KeyRotate,
    MemberPromote,
    MemberRef,
    MemberRemove,
    member_of,
)
from ..model.plan import Plan
from ..model.report import ApplyReport, ItemResult, Outcome
from ..model.timestamps import parse_timestamp
from ..store import crash_points
from ..store.audit import AuditLog, RecordedCall, record_call
from .deliver import deliver_everywhere
from .program import MEMBER_ENDPOINTS, Call, progress_line

Pending = Literal["unknown", "deferred"]  # unknown: the call may have acted; deferred: not sent yet
MemberAction = Literal["member.add", "member.promote", "member.remove"]
T = TypeVar("T")
OnCall = Callable[[int, int, str], None]  # (calls begun, calls planned, what): e.g. a progress bar
Sinks = Mapping[tuple[str, str], list[SecretSink]]  # (organization, label) -> where its secret goes


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived: no new call is sent."""


def lite_member(member: MemberRef) -> LiteMember:
    """Name a member in a call body, as the member reference says to."""
    return LiteMember.model_validate(member.request_body())


class CallSender:
    """The bookkeeping of one apply run and the calls that change it."""

    def __init__(
        self,
        client: ApiClient,
        plan: Plan,
        audit: AuditLog,
        sinks: Sinks,
        progress: Callable[[str], None],
        stop: threading.Event,
        on_call: OnCall | None = None,
        bind_now: bool = False,
    ) -> None:
        self.client, self.plan, self.changes = client, plan, plan.changes
        # bind_now: each new key is bound in the store as soon as it is delivered (a shared
        # store); else the caller binds them after the run, with the file's write-back
        self.audit, self.sinks, self.bind_now = audit, sinks, bind_now
        self.progress, self.stop, self.on_call = progress, stop, on_call
        self.report = ApplyReport(run_id=audit.run_id, plan_hash=plan.plan_hash)
        self.final: dict[int, ItemResult] = {}  # index in plan.changes -> settled result
        self.pending: dict[int, tuple[Pending, str]] = {}
        # organization -> confirmed promotions minus owner removals
        self.owner_delta: dict[str, int] = {}
        self.calls_planned = 0
        self.calls_done = 0
        self.created: dict[str, str] = {}  # api_key_id -> organization, keys this run made
        # intents recorded with their phase, not yet sent: (action, organization, indexes)
        self.intents: dict[tuple[str, str, tuple[int, ...]], RecordedCall] = {}
        self._lock = threading.Lock()

    # --- bookkeeping ----------------------------------------------------------------------------

    def settle(self, index: int, outcome: Outcome, message: str = "") -> None:
        with self._lock:
            self.pending.pop(index, None)
            change = self.changes[index]
            self.final[index] = ItemResult(change, outcome, message)
            if outcome != "applied":
                return
            if isinstance(change, MemberPromote):
                self.owner_delta[change.organization] = (
                    self.owner_delta.get(change.organization, 0) + 1
                )
            elif isinstance(change, MemberRemove) and change.current_role == "OWNER":
                self.owner_delta[change.organization] = (
                    self.owner_delta.get(change.organization, 0) - 1
                )

    def hold(self, index: int, state: Pending, message: str) -> None:
        with self._lock:
            self.pending[index] = (state, message)

    def prepare(self, calls: list[Call]) -> None:
        """Record the intents of a phase's calls, before any is sent. A call may start only after
        those before it in the phase: its intent says how late it could act (what settling a
        lost create may attribute to it)."""
        for position, call in enumerate(calls):
            targets = [self.target_of(i) for i in call.indexes]
            self.intents[(call.action, call.organization, call.indexes)] = record_call(
                self.audit,
                call.organization,
                call.action,
                targets,
                self.plan.plan_hash,
                self.client.timeout * (position + 1),
            )

    def target_of(self, index: int) -> str:
        change = self.changes[index]
        if isinstance(change, KeyCreate | KeyRotate):
            return change.key_label
        if isinstance(change, KeyDeactivate):
            return change.key_id
        return member_of(change).label

    def close_intent(
        self, action: str, organization: str, indexes: tuple[int, ...], message: str
    ) -> None:
        """A prepared call that will not be sent: its intent gets the outcome not_sent."""
        with self._lock:
            call = self.intents.pop((action, organization, indexes), None)
        if call is not None:
            call.finish("not_sent", message)

    def close_unsent(self, message: str) -> None:
        with self._lock:
            left, self.intents = list(self.intents.values()), {}
        for call in left:
            call.finish("not_sent", message)

    def begin(
        self,
        action: str,
        organization: str,
        targets: list[str],
        description: str,
        indexes: tuple[int, ...] = (),
        publish: bool = False,
    ) -> RecordedCall:
        """Before a call: refuse it after a stop request, count it, then take the intent its
        phase recorded, or record one now (a call no phase planned: a half of a refused call, or
        a key to deactivate at once; `publish` puts it where every machine sees it first)."""
        if self.stop.is_set():
            raise StopRequested
        with self._lock:
            self.calls_done += 1
            self.report.write_calls += 1
            self.calls_planned = max(self.calls_planned, self.calls_done)
            if self.on_call is not None:
                self.on_call(self.calls_done, self.calls_planned, description)
            elif (
                line := progress_line(self.calls_done, self.calls_planned, description)
            ) is not None:
                self.progress(line)
        with self._lock:
            prepared = self.intents.pop((action, organization, indexes), None)
        if prepared is not None:
            return prepared
        call = record_call(
            self.audit, organization, action, targets, self.plan.plan_hash, self.client.timeout
        )
        if publish:
            self.audit.checkpoint()
        return call

    def call_failed(self, exc: ApiError, call: RecordedCall, indexes: list[int]) -> None:
        """Settle or hold the items of a failed call. Ambiguous when the request may have been
        acted on:
        a timeout or dropped connection after sending, or a 5xx. Those wait for a re-read."""
        ambiguous = isinstance(exc, ServerError | AmbiguousWriteError) or (
            isinstance(exc, NetworkError) and exc.sent
        )
        for i in indexes:
            if ambiguous:
                self.hold(i, "unknown", str(exc))
            else:
                self.settle(i, "failed", str(exc))
        call.finish("unknown" if ambiguous else "failed", str(exc))

    # --- member calls ---------------------------------------------------------------------------

    def member_call(
        self, action: MemberAction, org_id: str, organization: str, indexes: list[int]
    ) -> None:
        endpoint = MEMBER_ENDPOINTS[action]
        refs = [member_of(self.changes[i]) for i in indexes]
        labels = [ref.label for ref in refs]
        call = self.begin(
            action,
            organization,
            labels,
            f"{action} {organization}: {len(indexes)} member(s)",
            tuple(indexes),
        )
        try:
            outcome = self.client.member_call(endpoint, org_id, [lite_member(ref) for ref in refs])
        except ApiError as exc:
            self.call_failed(exc, call, indexes)
            return
        crash_points.reached("sent")
        if outcome.rejected_whole and len(indexes) > 1:
            # 2025-10 refused the whole call for someone in it: nothing happened; each half is
            # sent again (one call planned became two)
            call.finish("failed", "refused as a whole; split in halves")
            with self._lock:
                self.calls_planned += 2
            middle = len(indexes) // 2
            self.member_call(action, org_id, organization, indexes[:middle])
            self.member_call(action, org_id, organization, indexes[middle:])
            return
        rows: list[dict[str, object]] = []
        for i, label, result in zip(indexes, labels, outcome.results, strict=True):
            self.settle(i, "applied" if result.success else "failed", result.message or "")
            rows.append(
                {"target": label, "success": result.success, "message": result.message or ""}
            )
        successes = sum(1 for r in outcome.results if r.success)
        verdict: WriteOutcome = (
            "ok" if successes == len(rows) else ("failed" if successes == 0 else "partial")
        )
        call.finish(verdict, results=rows)

    def concurrently(self, work: Callable[[T], None], items: list[T]) -> None:
        """`work` on every item, at most the inflight limit at once. On a stop, the calls in flight
        finish and are recorded; no new one starts."""
        if len(items) <= 1:
            for item in items:
                work(item)
            return
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(len(items), self.client.inflight_limit)),
            thread_name_prefix="call",
        )
        try:
            list(pool.map(work, items))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    # --- key calls ------------------------------------------------------------------------------

    def create_key(self, org_id: str, organization: str, index: int) -> None:
        """One new key (or a rotation's successor): created, delivered to every sink, then
        bound; deactivated at once if it cannot be delivered."""
        change = self.changes[index]
        assert isinstance(change, KeyCreate | KeyRotate)
        label = change.key_label
        call = self.begin(
            "key.create", organization, [label], f"key.create {organization}: {label}", (index,)
        )
        try:
            created = self.client.create_key(org_id)
        except ApiError as exc:
            # An ambiguous failure is not sent again unless a re-read shows that no key appeared:
            # a second call could make a second key, whose secret nobody would ever see.
            self.call_failed(exc, call, [index])
            return
        crash_points.reached("sent")
        self.created[created.api_key_id] = organization
        made: dict[str, object] = {
            "target": label,
            "success": True,
            "api_key_id": created.api_key_id,
        }
        if not usable_id(created.api_key_id):
            # no file, call or report could name it: such a key is deactivated at once
            call.finish("ok", "the new key's id is not usable text", results=[made])
            self.settle(
                index,
                "failed",
                f"the server gave the new key an id this tool cannot use "
                f"({created.api_key_id[:40]!r}); "
                + self.deactivate_orphan(organization, created.api_key_id),
            )
            return
        key = NewKey(
            organization, label, created.api_key_id, created.creation_time, created.api_key
        )
        delivered = deliver_everywhere(self.sinks.get((organization, label), []), key)
        if isinstance(delivered, str):
            call.finish("ok", f"not delivered: {delivered}", results=[made])
            self.settle(
                index,
                "failed",
                f"new key {created.api_key_id} was created but its secret could not be delivered "
                f"({delivered}); " + self.deactivate_orphan(organization, created.api_key_id),
            )
            return
        binding = self._binding(change, key, [r.as_json() for r in delivered])
        call.finish("ok", results=[{**made, **binding}])
        if self.bind_now:
            self.audit.append("key.bound", keys=[{"organization": organization, **binding}])
            crash_points.reached("key.bound")
        with self._lock:
            self.report.new_key_ids[(organization, label)] = created.api_key_id
            self.report.new_key_bindings[(organization, label)] = binding
        where = ", ".join(r.sink for r in delivered)
        self.settle(index, "applied", f"new key {created.api_key_id}; secret delivered to {where}")

    @staticmethod
    def _binding(
        change: KeyCreate | KeyRotate, key: NewKey, deliveries: list[dict[str, str]]
    ) -> dict[str, object]:
        """What the store keeps of a new key: never its secret, only a fingerprint of it."""
        binding: dict[str, object] = {
            "label": key.label,
            "api_key_id": key.api_key_id,
            "created": key.creation_time,
            "fingerprint": fingerprint(key.secret),
            "deliveries": deliveries,
        }
        if isinstance(change, KeyRotate):
            created = parse_timestamp(key.creation_time)
            start = created if created is not None else datetime.now(timezone.utc)
            until = start + timedelta(seconds=change.overlap_seconds)
            binding["predecessor"] = change.key_id
            binding["retiring_until"] = until.isoformat(timespec="seconds")
        return binding

    def deactivate_orphan(self, organization: str, key_id: str) -> str:
        """Deactivate a live key whose secret nobody holds (or holds undelivered); say what came
        of it."""
        with self._lock:
            self.calls_planned += 1  # not in the program: the key appeared during the run
        call = self.begin(
            "key.deactivate",
            organization,
            [key_id],
            f"key.deactivate {organization}: {key_id}",
            publish=True,
        )
        try:
            self.client.deactivate_key(key_id)
        except ApiError as exc:
            call.finish("failed", str(exc))
            return (
                f"deactivating it failed ({exc}): key {key_id} is ACTIVE with no saved secret, "
                "deactivate it by hand"
            )
        call.finish("ok", "no saved secret: deactivated at once")
        return f"key {key_id} was deactivated at once, so no live key lacks its secret"

    def deactivate_key(self, organization: str, index: int) -> None:
        change = self.changes[index]
        assert isinstance(change, KeyDeactivate)
        call = self.begin(
            "key.deactivate",
            organization,
            [change.key_id],
            f"key.deactivate {organization}: {change.key_id}",
            (index,),
        )
        try:
            self.client.deactivate_key(change.key_id)
        except ApiError as exc:
            self.call_failed(exc, call, [index])
            return
        crash_points.reached("sent")
        self.settle(index, "applied")
        call.finish("ok")
