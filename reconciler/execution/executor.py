"""One pass of apply: the plan's pending changes sent as batched, ordered calls.

Order per organization: add, promote, create keys, remove, deactivate, so owners only grow before
anyone is removed, and an owner removal is allowed only while the owners already confirmed stay
at or above min_owners. Member calls take up to `chunk_size` members each; key deactivations go
concurrently within the inflight limit. Every call is recorded in the audit log as it settles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from ..api.client import ApiClient
from ..api.endpoints import ADD_MEMBERS, CREATE_KEY, DEACTIVATE_KEY, PROMOTE_MEMBERS, REMOVE_MEMBERS, Endpoint
from ..api.wire import LiteMember
from ..config.writeback import write_key_ids
from ..errors import ApiError, NetworkError, ServerError
from ..planning.changes import (
    Change,
    KeyCreate,
    KeyDeactivate,
    MemberAdd,
    MemberChange,
    MemberPromote,
    MemberRef,
    MemberRemove,
    target_of,
)
from ..planning.plan import Plan
from ..planning.safety import OrganizationSummary
from .audit import AuditLog
from .report import ApplyReport, ItemResult, Outcome
from .secrets import SecretsFile

Pending = Literal["unknown", "deferred"]  # unknown: the call may have acted; deferred: not sent yet
MemberAction = Literal["member.add", "member.promote", "member.remove"]
MEMBER_ENDPOINTS: dict[MemberAction, Endpoint] = {
    "member.add": ADD_MEMBERS, "member.promote": PROMOTE_MEMBERS, "member.remove": REMOVE_MEMBERS}
T = TypeVar("T")


def lite_member(member: MemberRef) -> LiteMember:
    """Name a member in a call body: by user_id when known (exact), else as the file does."""
    if member.user_id:
        return LiteMember(user_id=member.user_id)
    if member.email:
        return LiteMember(email_address=member.email)
    return LiteMember(display_handle=member.handle)


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _member(change: Change) -> MemberRef:
    if isinstance(change, KeyCreate | KeyDeactivate):
        raise TypeError(f"{change.action} is not a member change")
    return change.member


def _of_type(changes: list[Change], indexes: list[int], kind: type | tuple[type, ...]) -> list[int]:
    return [i for i in indexes if isinstance(changes[i], kind)]


def dry_run_calls(plan: Plan, chunk_size: int) -> list[str]:
    """The exact calls a run would send if every call succeeded, in the order it would send them."""
    calls: list[str] = []
    for org in plan.organizations:
        mine = [c for c in plan.changes if c.organization == org.name]
        removals = [c for c in mine if isinstance(c, MemberRemove)]
        batches: list[tuple[Endpoint, list[MemberChange]]] = [
            (ADD_MEMBERS, [c for c in mine if isinstance(c, MemberAdd)]),
            (PROMOTE_MEMBERS, [c for c in mine if isinstance(c, MemberPromote)])]
        for endpoint, batch in batches:
            calls += _member_calls(endpoint, org.organization_id, batch, chunk_size)
        calls += [f"{CREATE_KEY.method} {CREATE_KEY.path}?organization_id={org.organization_id}"
                  for c in mine if isinstance(c, KeyCreate)]
        calls += _member_calls(REMOVE_MEMBERS, org.organization_id,
                               [c for c in removals if c.current_role != "OWNER"], chunk_size)
        calls += _member_calls(REMOVE_MEMBERS, org.organization_id,
                               [c for c in removals if c.current_role == "OWNER"], chunk_size)
        calls += [f"{DEACTIVATE_KEY.method} {DEACTIVATE_KEY.path}?api_key_id={c.key_id}"
                  for c in mine if isinstance(c, KeyDeactivate)]
    return calls


def _member_calls(endpoint: Endpoint, org_id: str, batch: list[MemberChange], chunk_size: int) -> list[str]:
    return [f"{endpoint.method} {endpoint.path}?organization_id={org_id} "
            + json.dumps({"members": [lite_member(c.member).body() for c in chunk]})
            for chunk in chunks(batch, chunk_size)]


class Executor:
    """The state of one apply run that changes as calls come back."""

    def __init__(self, client: ApiClient, plan: Plan, config_path: Path, audit: AuditLog, chunk_size: int,
                 secrets: SecretsFile | None, progress: Callable[[str], None]) -> None:
        self.client = client
        self.plan = plan
        self.changes = plan.changes
        self.config_path = config_path
        self.audit = audit
        self.chunk_size = chunk_size
        self.secrets = secrets
        self.progress = progress
        self.report = ApplyReport(run_id=audit.run_id, plan_hash=plan.plan_hash)
        self.final: dict[int, ItemResult] = {}      # index in plan.changes -> settled result
        self.pending: dict[int, tuple[Pending, str]] = {}
        self.owner_delta: dict[str, int] = {}  # organization -> confirmed promotions minus owner removals
        self.calls_planned = 0
        self.calls_done = 0

    # --- bookkeeping ----------------------------------------------------------------------------

    def settle(self, index: int, outcome: Outcome, message: str = "") -> None:
        self.pending.pop(index, None)
        change = self.changes[index]
        self.final[index] = ItemResult(change, outcome, message)
        if outcome != "applied":
            return
        if isinstance(change, MemberPromote):
            self.owner_delta[change.organization] = self.owner_delta.get(change.organization, 0) + 1
        elif isinstance(change, MemberRemove) and change.current_role == "OWNER":
            self.owner_delta[change.organization] = self.owner_delta.get(change.organization, 0) - 1

    def hold(self, index: int, state: Pending, message: str) -> None:
        self.pending[index] = (state, message)

    def note_call(self, description: str) -> None:
        self.calls_done += 1
        self.report.write_calls += 1
        if self.calls_planned >= 10 or self.calls_done % 50 == 0:
            self.progress(f"[{self.calls_done}/{self.calls_planned}] {description}")

    def call_failed(self, exc: ApiError, action: str, organization: str, indexes: list[int]) -> None:
        """Settle or hold the items of a failed call. Ambiguous when the request may have been acted on:
        a timeout or dropped connection after sending, or a 5xx. Those wait for a re-read."""
        ambiguous = isinstance(exc, ServerError) or (isinstance(exc, NetworkError) and exc.sent)
        for i in indexes:
            if ambiguous:
                self.hold(i, "unknown", str(exc))
            else:
                self.settle(i, "failed", str(exc))
        self.audit_write(action, organization, [target_of(self.changes[i]) for i in indexes],
                         "unknown" if ambiguous else "failed", str(exc))

    def audit_write(self, action: str, organization: str, targets: list[str], outcome: str, message: str = "",
                    results: list[dict[str, object]] | None = None) -> None:
        fields: dict[str, object] = {"organization": organization, "action": action, "targets": targets,
                                     "outcome": outcome, "message": message, "plan_hash": self.plan.plan_hash}
        if results is not None:
            fields["results"] = results
        self.audit.append("write", **fields)

    # --- calls ----------------------------------------------------------------------------------

    def member_call(self, action: MemberAction, org_id: str, organization: str, indexes: list[int]) -> None:
        endpoint = MEMBER_ENDPOINTS[action]
        for chunk in chunks(indexes, self.chunk_size):
            refs = [_member(self.changes[i]) for i in chunk]
            labels = [ref.label for ref in refs]
            self.note_call(f"{action} {organization}: {len(chunk)} member(s)")
            try:
                outcome = self.client.member_call(endpoint, org_id, [lite_member(ref) for ref in refs])
            except ApiError as exc:
                self.call_failed(exc, action, organization, chunk)
                continue
            rows: list[dict[str, object]] = []
            for i, label, result in zip(chunk, labels, outcome.results, strict=True):
                self.settle(i, "applied" if result.success else "failed", result.message or "")
                rows.append({"target": label, "success": result.success, "message": result.message or ""})
            successes = sum(1 for r in outcome.results if r.success)
            verdict = "ok" if successes == len(rows) else ("failed" if successes == 0 else "partial")
            self.audit_write(action, organization, labels, verdict, results=rows)

    def create_keys(self, org_id: str, organization: str, indexes: list[int]) -> None:
        new_ids: dict[tuple[str, str], str] = {}
        for i in indexes:
            change = self.changes[i]
            assert isinstance(change, KeyCreate) and self.secrets is not None
            label = change.key_label
            self.note_call(f"key.create {organization}: {label}")
            try:
                created = self.client.create_key(org_id)
            except ApiError as exc:
                # An ambiguous failure is not sent again unless a re-read shows that no key appeared: a
                # second call could make a second key, whose secret nobody would ever see.
                self.call_failed(exc, "key.create", organization, [i])
                continue
            self.secrets.write(organization, label, created.api_key_id, created.api_key.get_secret_value(),
                               created.creation_time)
            new_ids[(organization, label)] = created.api_key_id
            self.settle(i, "applied", f"new key {created.api_key_id}; secret written to {self.secrets.path}")
            self.audit_write("key.create", organization, [label], "ok", results=[
                {"target": label, "success": True, "api_key_id": created.api_key_id}])
        if new_ids:
            write_key_ids(self.config_path, new_ids)
            self.report.new_key_ids.update(new_ids)

    def deactivate_keys(self, organization: str, indexes: list[int]) -> None:
        def one(i: int) -> None:
            change = self.changes[i]
            assert isinstance(change, KeyDeactivate)
            self.note_call(f"key.deactivate {organization}: {change.key_id}")
            try:
                self.client.deactivate_key(change.key_id)
            except ApiError as exc:
                self.call_failed(exc, "key.deactivate", organization, [i])
                return
            self.settle(i, "applied")
            self.audit_write("key.deactivate", organization, [change.key_id], "ok")

        pool = ThreadPoolExecutor(max_workers=max(1, self.client.inflight_limit), thread_name_prefix="key")
        try:
            list(pool.map(one, indexes))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: let calls in flight finish, send no new one
            raise
        pool.shutdown(wait=True)

    # --- one pass over what is pending ------------------------------------------------------------

    def execute(self, todo: list[int]) -> None:
        by_org: dict[str, list[int]] = {}
        for i in todo:
            by_org.setdefault(self.changes[i].organization, []).append(i)
        summaries = {s.name: s for s in self.plan.organizations}
        self.calls_planned = self.calls_done + sum(self._count_calls(indexes) for indexes in by_org.values())
        for organization, indexes in by_org.items():
            self.execute_organization(summaries[organization], indexes)

    def execute_organization(self, summary: OrganizationSummary, indexes: list[int]) -> None:
        organization, org_id = summary.name, summary.organization_id
        if summary.caller_role != "OWNER":
            for i in indexes:
                self.settle(i, "failed", f"you are {summary.caller_role} of {organization}, not OWNER: "
                                         f"the API refuses every change")
            return
        self.member_call("member.add", org_id, organization, _of_type(self.changes, indexes, MemberAdd))
        self.member_call("member.promote", org_id, organization, self._promotions_ready(indexes))
        self.create_keys(org_id, organization, _of_type(self.changes, indexes, KeyCreate))
        removals = _of_type(self.changes, indexes, MemberRemove)
        owners = [i for i in removals if self._current_role(i) == "OWNER"]
        self.member_call("member.remove", org_id, organization, [i for i in removals if i not in owners])
        if owners:
            confirmed = summary.owners_before + self.owner_delta.get(organization, 0)
            allowed = max(0, confirmed - summary.min_owners)
            for i in owners[allowed:]:
                self.hold(i, "deferred", f"not removed: it would leave fewer than min_owners "
                                         f"({summary.min_owners}) owners while earlier promotions are unconfirmed")
            self.member_call("member.remove", org_id, organization, owners[:allowed])
        self.deactivate_keys(organization, _of_type(self.changes, indexes, KeyDeactivate))

    def _current_role(self, index: int) -> str:
        change = self.changes[index]
        return change.current_role if isinstance(change, MemberRemove) else ""

    def _promotions_ready(self, indexes: list[int]) -> list[int]:
        """Promotions whose member is known to be in the organization; the rest wait or are skipped."""
        ready = []
        for i in _of_type(self.changes, indexes, MemberPromote):
            change = self.changes[i]
            assert isinstance(change, MemberPromote)
            add = self._add_for(change) if change.after_add else None
            if add is not None and add in self.pending:
                self.hold(i, "deferred", "waiting to learn whether the add went through")
            elif add is not None and add in self.final and self.final[add].outcome != "applied":
                self.settle(i, "skipped", "not promoted: adding the member failed")
            else:
                ready.append(i)
        return ready

    def _add_for(self, promotion: MemberPromote) -> int | None:
        return next((j for j, other in enumerate(self.changes)
                     if isinstance(other, MemberAdd) and other.member == promotion.member
                     and other.organization_id == promotion.organization_id), None)

    def _count_calls(self, indexes: list[int]) -> int:
        per_member_kind = [len(_of_type(self.changes, indexes, kind)) for kind in (MemberAdd, MemberPromote,
                                                                                   MemberRemove)]
        keys = len(_of_type(self.changes, indexes, (KeyCreate, KeyDeactivate)))
        return sum(-(-count // self.chunk_size) for count in per_member_kind) + keys
