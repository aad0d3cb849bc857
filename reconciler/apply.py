"""Apply: carry out a Plan through the API, batched and ordered, with every write in the audit log.

Order per organization: add, promote, create keys, remove, deactivate, so owners only grow before
anyone is removed, and an owner removal is allowed only while the owners already confirmed stay
at or above min_owners. Member calls take up to `chunk_size` members each; key deactivations go
concurrently within the inflight limit.

A write that fails ambiguously (timeout, dropped connection, 5xx) is never sent again blindly:
the round ends, the live state is re-read and re-planned, and only the original plan's changes
that the fresh plan still needs are tried again. Nothing outside the original plan is ever sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from .audit import AuditLog
from .client import ApiClient
from .errors import ApiError, NetworkError, ReconcilerError, ServerError, UsageError
from .keystore import SecretsFile, write_key_ids
from .live import LiveState, read_live_state
from .loader import LoadedConfig, load_config
from .plan import Change, Plan
from .planner import compute_plan
from .wire import LiteMember

Outcome = Literal["applied", "failed", "skipped"]
_Pending = Literal["unknown", "deferred"]
DEFAULT_CHUNK_SIZE = 100
MAX_ROUNDS = 3

MEMBER_CALLS = {
    "member.add": ("add_members", "/manage/api/organization/add_members"),
    "member.promote": ("promote_members", "/manage/api/organization/promote_members"),
    "member.remove": ("remove_members", "/manage/api/organization/remove_members"),
}


@dataclass
class ItemResult:
    change: Change
    outcome: Outcome
    message: str = ""

    def as_dict(self) -> dict:
        change = self.change
        target = change.member.label if change.member else (change.key_label or change.key_id)
        return {"action": change.action, "organization": change.organization, "target": target,
                "key_id": change.key_id, "outcome": self.outcome, "message": self.message}


@dataclass
class ApplyReport:
    run_id: str
    plan_hash: str
    results: list[ItemResult] = field(default_factory=list)
    dry_run_calls: list[str] = field(default_factory=list)
    remaining: list[Change] = field(default_factory=list)
    verification_error: str = ""
    new_key_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    write_calls: int = 0
    rounds: int = 0

    @property
    def failed(self) -> bool:
        return any(r.outcome != "applied" for r in self.results) or bool(self.verification_error)

    def counts(self) -> dict[str, int]:
        counts = {"applied": 0, "failed": 0, "skipped": 0}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "plan_hash": self.plan_hash, "dry_run": bool(self.dry_run_calls),
                "calls": self.dry_run_calls, "results": [r.as_dict() for r in self.results],
                "counts": self.counts(), "write_calls": self.write_calls,
                "verification": {"remaining_changes": len(self.remaining), "error": self.verification_error or None,
                                 "converged": not self.remaining and not self.verification_error}}


def _lite(change: Change) -> LiteMember:
    """Name a member in a call body: by user_id when known (exact), else as the file does."""
    member = change.member
    if member.user_id:
        return LiteMember(user_id=member.user_id)
    if member.email:
        return LiteMember(email_address=member.email)
    return LiteMember(display_handle=member.handle)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class _Run:
    """One apply run: the state that changes as calls come back."""

    def __init__(self, client: ApiClient, plan: Plan, config: LoadedConfig, audit: AuditLog | None,
                 chunk_size: int, secrets: SecretsFile | None, progress: Callable[[str], None], dry_run: bool):
        self.client = client
        self.plan = plan
        self.config = config
        self.audit = audit
        self.chunk_size = chunk_size
        self.secrets = secrets
        self.progress = progress
        self.dry_run = dry_run
        self.report = ApplyReport(run_id=audit.run_id if audit else "dry-run", plan_hash=plan.plan_hash)
        self.final: dict[int, ItemResult] = {}      # index in plan.changes -> settled result
        self.pending: dict[int, tuple[_Pending, str]] = {}
        self.owner_delta: dict[str, int] = {}  # organization -> confirmed promotions minus owner removals
        self.calls_planned = 0
        self.calls_done = 0

    # --- bookkeeping ----------------------------------------------------------------------------

    def settle(self, index: int, outcome: Outcome, message: str = "") -> None:
        self.pending.pop(index, None)
        self.final[index] = ItemResult(self.plan.changes[index], outcome, message)
        change = self.plan.changes[index]
        if outcome == "applied" and (change.action == "member.promote" or
                                     (change.action == "member.remove" and change.current_role == "OWNER")):
            step = 1 if change.action == "member.promote" else -1
            self.owner_delta[change.organization] = self.owner_delta.get(change.organization, 0) + step

    def hold(self, index: int, state: _Pending, message: str) -> None:
        self.pending[index] = (state, message)

    def note_call(self, description: str) -> None:
        self.calls_done += 1
        self.report.write_calls += 1
        if self.calls_planned >= 10 or self.calls_done % 50 == 0:
            self.progress(f"[{self.calls_done}/{self.calls_planned}] {description}")

    def call_failed(self, exc: ApiError, action: str, organization: str, indexes: list[int],
                    targets: list[str]) -> None:
        """Settle or hold the items of a failed call. Ambiguous when the request may have been acted on:
        a timeout or dropped connection after sending, or a 5xx. Those wait for a re-read."""
        ambiguous = isinstance(exc, ServerError) or (isinstance(exc, NetworkError) and exc.sent)
        for i in indexes:
            if ambiguous:
                self.hold(i, "unknown", str(exc))
            else:
                self.settle(i, "failed", str(exc))
        self.audit_write(action, organization, targets, "unknown" if ambiguous else "failed", str(exc))

    def audit_write(self, action: str, organization: str, targets: list[str], outcome: str, message: str = "",
                    results: list[dict] | None = None) -> None:
        if self.audit is None:
            return
        fields = {"organization": organization, "action": action, "targets": targets, "outcome": outcome,
                  "message": message, "plan_hash": self.plan.plan_hash}
        if results is not None:
            fields["results"] = results
        self.audit.append("write", **fields)

    # --- member calls ---------------------------------------------------------------------------

    def member_call(self, action: str, org_id: str, organization: str, indexes: list[int]) -> None:
        method_name, path = MEMBER_CALLS[action]
        for chunk in _chunks(indexes, self.chunk_size):
            members = [_lite(self.plan.changes[i]) for i in chunk]
            labels = [self.plan.changes[i].member.label for i in chunk]
            if self.dry_run:
                body = json.dumps({"members": [m.body() for m in members]})
                self.report.dry_run_calls.append(f"POST {path}?organization_id={org_id} {body}")
                continue
            self.note_call(f"{action} {organization}: {len(chunk)} member(s)")
            try:
                outcome = getattr(self.client, method_name)(org_id, members)
            except ApiError as exc:
                self.call_failed(exc, action, organization, chunk, labels)
                continue
            rows = []
            for i, label, result in zip(chunk, labels, outcome.results, strict=True):
                self.settle(i, "applied" if result.success else "failed", result.message or "")
                rows.append({"target": label, "success": result.success, "message": result.message or ""})
            successes = sum(r["success"] for r in rows)
            verdict = "ok" if successes == len(rows) else ("failed" if successes == 0 else "partial")
            self.audit_write(action, organization, labels, verdict, results=rows)

    # --- key calls ------------------------------------------------------------------------------

    def create_keys(self, org_id: str, organization: str, indexes: list[int]) -> None:
        new_ids: dict[tuple[str, str], str] = {}
        for i in indexes:
            label = self.plan.changes[i].key_label or ""
            if self.dry_run:
                self.report.dry_run_calls.append(f"POST /manage/api/api_keys_v2?organization_id={org_id}")
                continue
            self.note_call(f"key.create {organization}: {label}")
            try:
                created = self.client.create_key(org_id)
            except ApiError as exc:
                # An ambiguous failure is not sent again unless a re-read shows that no key appeared: a
                # second call could make a second key, whose secret nobody would ever see.
                self.call_failed(exc, "key.create", organization, [i], [label])
                continue
            self.secrets.write(organization, label, created.api_key_id, created.api_key.get_secret_value(),
                               created.creation_time)
            new_ids[(organization, label)] = created.api_key_id
            self.settle(i, "applied", f"new key {created.api_key_id}; secret written to {self.secrets.path}")
            self.audit_write("key.create", organization, [label], "ok", results=[
                {"target": label, "success": True, "api_key_id": created.api_key_id}])
        if new_ids:
            write_key_ids(self.config.path, new_ids)
            self.report.new_key_ids.update(new_ids)

    def deactivate_keys(self, organization: str, indexes: list[int]) -> None:
        path = "/manage/api/organization/deactivate_api_key"

        def one(i: int) -> None:
            key_id = self.plan.changes[i].key_id or ""
            self.note_call(f"key.deactivate {organization}: {key_id}")
            try:
                self.client.deactivate_key(key_id)
            except ApiError as exc:
                self.call_failed(exc, "key.deactivate", organization, [i], [key_id])
                return
            self.settle(i, "applied")
            self.audit_write("key.deactivate", organization, [key_id], "ok")

        if self.dry_run:
            for i in indexes:
                self.report.dry_run_calls.append(f"POST {path}?api_key_id={self.plan.changes[i].key_id}")
            return
        with ThreadPoolExecutor(max_workers=max(1, self.client.inflight_limit), thread_name_prefix="key") as pool:
            list(pool.map(one, indexes))

    # --- one pass over what is pending ------------------------------------------------------------

    def execute(self, todo: list[int]) -> None:
        by_org: dict[str, list[int]] = {}
        for i in todo:
            by_org.setdefault(self.plan.changes[i].organization, []).append(i)
        summaries = {s.name: s for s in self.plan.organizations}
        self.calls_planned = self.calls_done + self._count_calls(by_org)
        for organization, indexes in by_org.items():
            summary = summaries[organization]
            org_id = summary.organization_id
            if summary.caller_role != "OWNER" and not self.dry_run:
                for i in indexes:
                    self.settle(i, "failed", f"you are {summary.caller_role} of {organization}, not OWNER: "
                                             f"the API refuses every change")
                continue
            by_action: dict[str, list[int]] = {}
            for i in indexes:
                by_action.setdefault(self.plan.changes[i].action, []).append(i)
            of = by_action.get
            self.member_call("member.add", org_id, organization, of("member.add", []))
            promotes = []
            for i in of("member.promote", []):
                change = self.plan.changes[i]
                add = next((j for j, other in enumerate(self.plan.changes)
                            if other.action == "member.add" and other.member == change.member
                            and other.organization_id == change.organization_id), None) if change.after_add else None
                if add is not None and add in self.pending:
                    self.hold(i, "deferred", "waiting to learn whether the add went through")
                elif add is not None and self.final.get(add) and self.final[add].outcome != "applied":
                    self.settle(i, "skipped", "not promoted: adding the member failed")
                else:
                    promotes.append(i)
            self.member_call("member.promote", org_id, organization, promotes)
            self.create_keys(org_id, organization, of("key.create", []))
            removals = of("member.remove", [])
            plain = [i for i in removals if self.plan.changes[i].current_role != "OWNER"]
            owners = [i for i in removals if self.plan.changes[i].current_role == "OWNER"]
            self.member_call("member.remove", org_id, organization, plain)
            if owners:
                confirmed = summary.owners_before + self.owner_delta.get(organization, 0)
                allowed = max(0, confirmed - summary.min_owners) if not self.dry_run else len(owners)
                allowed_now = owners[:allowed]
                for i in owners[allowed:]:
                    self.hold(i, "deferred", f"not removed: it would leave fewer than min_owners "
                                             f"({summary.min_owners}) owners while earlier promotions are unconfirmed")
                self.member_call("member.remove", org_id, organization, allowed_now)
            self.deactivate_keys(organization, of("key.deactivate", []))

    def _count_calls(self, by_org: dict[str, list[int]]) -> int:
        total = 0
        for indexes in by_org.values():
            actions = [self.plan.changes[i].action for i in indexes]
            for action in MEMBER_CALLS:
                count = actions.count(action)
                total += -(-count // self.chunk_size) if count else 0
            total += actions.count("key.create") + actions.count("key.deactivate")
        return total


def apply_plan(client: ApiClient, plan: Plan, config: LoadedConfig, *, audit: AuditLog | None,
               chunk_size: int = DEFAULT_CHUNK_SIZE, secrets: SecretsFile | None = None,
               progress: Callable[[str], None] = lambda _line: None, dry_run: bool = False,
               api_version: str = "auto", verify: bool = True) -> ApplyReport:
    """Carry out `plan`. The caller has already judged it safe (or approved) and fresh."""
    if chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    creates = any(c.action == "key.create" for c in plan.changes)
    if creates and secrets is None and not dry_run:
        raise UsageError("the plan creates API keys, whose secrets are shown only once: pass --secrets-file PATH")
    if creates and secrets is not None and not dry_run:
        secrets.check()
    run = _Run(client, plan, config, None if dry_run else audit, chunk_size, secrets, progress, dry_run)
    if run.audit:
        run.audit.append("run.start", plan_hash=plan.plan_hash, changes=len(plan.changes),
                         organizations=[o.name for o in plan.organizations])
    todo = list(range(len(plan.changes)))
    try:
        for round_number in range(1, MAX_ROUNDS + 1):
            run.report.rounds = round_number
            run.execute(todo)
            if dry_run or not run.pending:
                break
            if round_number == MAX_ROUNDS:
                break
            progress(f"{len(run.pending)} change(s) have an unknown outcome: re-reading the organization")
            try:
                fresh, live = _replan(client, config, plan, api_version)
            except ReconcilerError as exc:
                for i, (state, message) in list(run.pending.items()):
                    run.settle(i, "failed" if state == "unknown" else "skipped",
                               f"{message}; re-reading to learn the outcome failed: {exc}")
                break
            todo = []
            unexplained = _unexplained_keys(plan, live, run.report.new_key_ids)
            for i, (state, message) in sorted(run.pending.items()):
                change = plan.changes[i]
                if change.action == "key.create" and state == "unknown":
                    if unexplained.get(change.organization, True):
                        run.settle(i, "failed", f"{message}; a key may have been created without its secret "
                                                f"reaching us: look for an unmanaged key in the next plan")
                    else:
                        todo.append(i)  # the re-read shows no new key: the call did nothing
                elif any(change.same_target(c) for c in fresh.changes):
                    todo.append(i)
                else:
                    run.settle(i, "applied", "confirmed by re-reading the organization" if state == "unknown"
                               else "already in place")
        for i, (state, message) in list(run.pending.items()):
            run.settle(i, "failed" if state == "unknown" else "skipped", message)
    finally:
        run.report.results = [run.final[i] for i in sorted(run.final)]
        if run.audit:
            run.audit.append("run.end", plan_hash=plan.plan_hash, counts=run.report.counts(),
                             write_calls=run.report.write_calls)
    if not dry_run and verify:
        try:
            run.report.remaining = _replan(client, config, plan, api_version)[0].changes
        except ReconcilerError as exc:
            run.report.verification_error = f"the verification read failed: {exc}"
    return run.report


def _replan(client: ApiClient, config: LoadedConfig, plan: Plan, api_version: str) -> tuple[Plan, LiveState]:
    fresh_config = load_config(config.path)  # key ids may have been written back
    live = read_live_state(client, fresh_config.desired, [o.name for o in plan.organizations], api_version)
    fresh = compute_plan(fresh_config.desired, live, desired_file=str(config.path), desired_hash=fresh_config.sha256)
    return fresh, live


def _unexplained_keys(plan: Plan, live: LiveState, created: dict[tuple[str, str], str]) -> dict[str, bool]:
    """Per organization: does the live state hold a key that neither the plan saw nor this run made?

    Without the plan's snapshot nothing can be ruled out, so the answer is then yes.
    """
    answer: dict[str, bool] = {}
    for name, org in live.organizations.items():
        if plan.live_snapshot is None or name not in plan.live_snapshot:
            answer[name] = True
            continue
        known = set(plan.live_snapshot[name]["keys"]) | {key_id for (o, _), key_id in created.items() if o == name}
        answer[name] = any(k.api_key_id not in known for k in org.keys)
    return answer


def ensure_fresh(saved: Plan, config: LoadedConfig, live_fingerprint: str, live_snapshot: dict) -> None:
    """Refuse a saved plan whose desired file or live organization moved on since it was made."""
    from .errors import StalePlanError
    from .live import explain_differences

    problems = []
    if config.sha256 != saved.desired_hash:
        problems.append(f"the desired file {config.path} changed since the plan was made")
    if live_fingerprint != saved.live_fingerprint:
        detail = explain_differences(saved.live_snapshot, live_snapshot) if saved.live_snapshot else []
        problems.append("the live organization changed since the plan was made"
                        + "".join(f"\n  {line}" for line in detail))
    if problems:
        raise StalePlanError("stale plan, nothing was sent: " + "; ".join(problems)
                             + "\nRun `ideogram-org plan` again and review the new plan.")


def recheck_saved_plan(saved: Plan, config: LoadedConfig, live: LiveState) -> Plan:
    """The saved plan, recomputed from its inputs: fresh, and judged on its own changes.

    A plan file is only a claim. After the freshness check its inputs are the same as when it was
    made, so the planner must give the same hash; the recomputed plan's safety verdict is the one
    that counts, whatever the file says about itself.
    """
    from .errors import StalePlanError

    ensure_fresh(saved, config, live.fingerprint(), live.snapshot())
    fresh = compute_plan(config.desired, live, desired_file=str(config.path), desired_hash=config.sha256)
    if fresh.plan_hash != saved.plan_hash:
        raise StalePlanError("the plan file does not match what its own inputs give today (was it edited, or "
                             "made by another version of ideogram-org?); nothing was sent. Run plan again.")
    return fresh.model_copy(update={"live_snapshot": live.snapshot()})
