"""Sending write calls: each one recorded ahead (an intent, flushed before the call goes out) and
after (its outcome), and each settling the plan's changes it carried.

A 2025-10 member call is all or nothing; when it is refused (400) it is split in halves and each
half sent again, so one apply carries out every change but those that fail on their own. A key
whose secret cannot be saved is deactivated at once: no key stays live that nobody holds the
secret of.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from ..api.client import ApiClient
from ..api.endpoints import ADD_MEMBERS, PROMOTE_MEMBERS, REMOVE_MEMBERS, Endpoint
from ..api.wire import LiteMember
from ..config.writeback import write_key_ids
from ..errors import ApiError, NetworkError, ReconcilerError, ServerError
from ..planning.changes import (
    Change,
    KeyCreate,
    KeyDeactivate,
    MemberPromote,
    MemberRef,
    MemberRemove,
    target_of,
)
from ..planning.plan import Plan
from .audit import AuditLog
from .report import ApplyReport, ItemResult, Outcome
from .secrets import SecretsFile

Pending = Literal["unknown", "deferred"]  # unknown: the call may have acted; deferred: not sent yet
MemberAction = Literal["member.add", "member.promote", "member.remove"]
MEMBER_ENDPOINTS: dict[MemberAction, Endpoint] = {
    "member.add": ADD_MEMBERS,
    "member.promote": PROMOTE_MEMBERS,
    "member.remove": REMOVE_MEMBERS,
}
T = TypeVar("T")
OnCall = Callable[[int, int, str], None]  # (calls begun, calls planned, what): e.g. a progress bar


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived: no new call is sent."""


def lite_member(member: MemberRef) -> LiteMember:
    """Name a member in a call body: by user_id when known (exact), else as the file does."""
    if member.user_id:
        return LiteMember(user_id=member.user_id)
    if member.email:
        return LiteMember(email_address=member.email)
    return LiteMember(display_handle=member.handle)


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def member_of(change: Change) -> MemberRef:
    if isinstance(change, KeyCreate | KeyDeactivate):
        raise TypeError(f"{change.action} is not a member change")
    return change.member


class CallSender:
    """The bookkeeping of one apply run and the calls that change it."""

    def __init__(
        self,
        client: ApiClient,
        plan: Plan,
        config_path: Path,
        audit: AuditLog,
        secrets: SecretsFile | None,
        progress: Callable[[str], None],
        stop: threading.Event,
        on_call: OnCall | None = None,
    ) -> None:
        self.client, self.plan, self.changes = client, plan, plan.changes
        self.config_path, self.audit, self.secrets = config_path, audit, secrets
        self.progress, self.stop, self.on_call = progress, stop, on_call
        self.report = ApplyReport(run_id=audit.run_id, plan_hash=plan.plan_hash)
        self.final: dict[int, ItemResult] = {}  # index in plan.changes -> settled result
        self.pending: dict[int, tuple[Pending, str]] = {}
        self.owner_delta: dict[
            str, int
        ] = {}  # organization -> confirmed promotions minus owner removals
        self.calls_planned = 0
        self.calls_done = 0
        self.created: dict[str, str] = {}  # api_key_id -> organization, keys this run made
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

    def begin(self, action: str, organization: str, targets: list[str], description: str) -> str:
        """Before a call: refuse it after a stop request, then record the intent. Returns its id."""
        if self.stop.is_set():
            raise StopRequested
        with self._lock:
            self.calls_done += 1
            self.report.write_calls += 1
            if self.on_call is not None:
                self.on_call(self.calls_done, self.calls_planned, description)
            elif self.calls_planned >= 10 or self.calls_done % 50 == 0:
                self.progress(
                    f"[{self.calls_done}/{self.calls_planned}] {description}"
                )  # one line per batch
        record = self.audit.append(
            "write.intent",
            organization=organization,
            action=action,
            targets=targets,
            plan_hash=self.plan.plan_hash,
        )
        return str(record["hash"])

    def finish(
        self,
        intent: str,
        action: str,
        organization: str,
        targets: list[str],
        outcome: str,
        message: str = "",
        results: list[dict[str, object]] | None = None,
    ) -> None:
        """After a call: its outcome, chained to the intent."""
        fields: dict[str, object] = {
            "intent": intent,
            "organization": organization,
            "action": action,
            "targets": targets,
            "outcome": outcome,
            "message": message,
            "plan_hash": self.plan.plan_hash,
        }
        if results is not None:
            fields["results"] = results
        self.audit.append("write", **fields)

    def call_failed(
        self, exc: ApiError, intent: str, action: str, organization: str, indexes: list[int]
    ) -> None:
        """Settle or hold the items of a failed call. Ambiguous when the request may have been
        acted on:
        a timeout or dropped connection after sending, or a 5xx. Those wait for a re-read."""
        ambiguous = isinstance(exc, ServerError) or (isinstance(exc, NetworkError) and exc.sent)
        for i in indexes:
            if ambiguous:
                self.hold(i, "unknown", str(exc))
            else:
                self.settle(i, "failed", str(exc))
        self.finish(
            intent,
            action,
            organization,
            [target_of(self.changes[i]) for i in indexes],
            "unknown" if ambiguous else "failed",
            str(exc),
        )

    # --- member calls ---------------------------------------------------------------------------

    def member_call(
        self, action: MemberAction, org_id: str, organization: str, indexes: list[int]
    ) -> None:
        endpoint = MEMBER_ENDPOINTS[action]
        refs = [member_of(self.changes[i]) for i in indexes]
        labels = [ref.label for ref in refs]
        intent = self.begin(
            action, organization, labels, f"{action} {organization}: {len(indexes)} member(s)"
        )
        try:
            outcome = self.client.member_call(endpoint, org_id, [lite_member(ref) for ref in refs])
        except ApiError as exc:
            self.call_failed(exc, intent, action, organization, indexes)
            return
        if outcome.rejected_whole and len(indexes) > 1:
            # 2025-10 refused the whole call for someone in it: nothing happened; send each half
            # again
            self.finish(
                intent,
                action,
                organization,
                labels,
                "failed",
                "refused as a whole; split in halves",
            )
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
        verdict = "ok" if successes == len(rows) else ("failed" if successes == 0 else "partial")
        self.finish(intent, action, organization, labels, verdict, results=rows)

    def member_calls(
        self,
        action: MemberAction,
        org_id: str,
        organization: str,
        indexes: list[int],
        chunk_size: int,
    ) -> None:
        """The chunks of one kind go out concurrently, within the inflight limit: adds, promotions
        and
        removals of non-owners cannot take owners below the minimum in any order (owner removals go
        one at a time, each after a read, through `member_call`)."""
        self.concurrently(
            lambda chunk: self.member_call(action, org_id, organization, chunk),
            chunks(indexes, chunk_size),
        )

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

    def create_keys(self, org_id: str, organization: str, indexes: list[int]) -> None:
        new_ids: dict[tuple[str, str], str] = {}
        for i in indexes:
            change = self.changes[i]
            assert isinstance(change, KeyCreate) and self.secrets is not None
            label = change.key_label
            intent = self.begin(
                "key.create", organization, [label], f"key.create {organization}: {label}"
            )
            try:
                created = self.client.create_key(org_id)
            except ApiError as exc:
                # An ambiguous failure is not sent again unless a re-read shows that no key
                # appeared: a
                # second call could make a second key, whose secret nobody would ever see.
                self.call_failed(exc, intent, "key.create", organization, [i])
                continue
            self.created[created.api_key_id] = organization
            try:
                self.secrets.write(
                    organization,
                    label,
                    created.api_key_id,
                    created.api_key.get_secret_value(),
                    created.creation_time,
                )
            except (OSError, ReconcilerError) as exc:
                self.finish(
                    intent,
                    "key.create",
                    organization,
                    [label],
                    "ok",
                    "the secret could not be saved",
                    results=[{"target": label, "success": True, "api_key_id": created.api_key_id}],
                )
                self.settle(
                    i,
                    "failed",
                    f"new key {created.api_key_id} was created but its secret could not be "
                    f"saved ({exc}); " + self.deactivate_orphan(organization, created.api_key_id),
                )
                continue
            new_ids[(organization, label)] = created.api_key_id
            self.settle(
                i, "applied", f"new key {created.api_key_id}; secret written to {self.secrets.path}"
            )
            self.finish(
                intent,
                "key.create",
                organization,
                [label],
                "ok",
                results=[{"target": label, "success": True, "api_key_id": created.api_key_id}],
            )
        if new_ids:
            self.report.new_key_ids.update(new_ids)
            try:
                write_key_ids(self.config_path, new_ids)
            except ReconcilerError as exc:
                self.progress(
                    f"error: {exc}. The new ids are in "
                    f"{self.secrets.path if self.secrets else 'the log'};"
                    f" write them into the file by hand before the next apply"
                )
                raise
            self.audit.append(
                "key.bound",
                keys=[
                    {"organization": o, "label": label, "api_key_id": key_id}
                    for (o, label), key_id in new_ids.items()
                ],
            )

    def deactivate_orphan(self, organization: str, key_id: str) -> str:
        """Deactivate a live key whose secret nobody holds; say what came of it."""
        intent = self.begin(
            "key.deactivate", organization, [key_id], f"key.deactivate {organization}: {key_id}"
        )
        try:
            self.client.deactivate_key(key_id)
        except ApiError as exc:
            self.finish(intent, "key.deactivate", organization, [key_id], "failed", str(exc))
            return (
                f"deactivating it failed ({exc}): key {key_id} is ACTIVE with no saved "
                "secret, deactivate it by hand"
            )
        self.finish(
            intent,
            "key.deactivate",
            organization,
            [key_id],
            "ok",
            "no saved secret: deactivated at once",
        )
        return f"key {key_id} was deactivated at once, so no live key lacks its secret"

    def deactivate_keys(self, organization: str, indexes: list[int]) -> None:
        def one(i: int) -> None:
            change = self.changes[i]
            assert isinstance(change, KeyDeactivate)
            intent = self.begin(
                "key.deactivate",
                organization,
                [change.key_id],
                f"key.deactivate {organization}: {change.key_id}",
            )
            try:
                self.client.deactivate_key(change.key_id)
            except ApiError as exc:
                self.call_failed(exc, intent, "key.deactivate", organization, [i])
                return
            self.settle(i, "applied")
            self.finish(intent, "key.deactivate", organization, [change.key_id], "ok")

        self.concurrently(one, indexes)
