"""Apply: carry out a Plan in rounds, then read the organization again to verify.

A write that fails ambiguously (timeout, dropped connection, 5xx) is never sent again blindly:
the round ends, the live state is re-read and re-planned, and only the original plan's changes
that the fresh plan still needs are tried again. Nothing outside the original plan is ever sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..api.client import ApiClient
from ..defaults import CHUNK_SIZE, MAX_APPLY_ROUNDS
from ..errors import ReconcilerError, UsageError
from ..live_state import LiveState
from ..planning.changes import KeyCreate, same_target
from ..planning.plan import Plan
from .audit import AuditLog
from .executor import Executor
from .report import ApplyInterrupted, ApplyReport
from .secrets import SecretsFile

Replan = Callable[[], tuple[Plan, LiveState]]  # read the organization again and plan afresh


def apply_plan(client: ApiClient, plan: Plan, config_path: Path, *, replan: Replan, audit: AuditLog,
               chunk_size: int = CHUNK_SIZE, secrets: SecretsFile | None = None,
               progress: Callable[[str], None] = lambda _line: None, verify: bool = True) -> ApplyReport:
    """Carry out `plan`. The caller has already judged it safe (or approved) and fresh."""
    if chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    if any(isinstance(c, KeyCreate) for c in plan.changes):
        if secrets is None:
            raise UsageError("the plan creates API keys, whose secrets are shown only once: pass --secrets-file PATH")
        secrets.check()
    run = Executor(client, plan, config_path, audit, chunk_size, secrets, progress)
    audit.append("run.start", plan_hash=plan.plan_hash, changes=len(plan.changes),
                 organizations=[o.name for o in plan.organizations])
    try:
        _rounds(run, plan, replan, progress)
    except KeyboardInterrupt:
        run.report.results = [run.final[i] for i in sorted(run.final)]
        audit.append("run.interrupted", plan_hash=plan.plan_hash, counts=run.report.counts(),
                     write_calls=run.report.write_calls, unsettled=len(plan.changes) - len(run.final))
        raise ApplyInterrupted(run.report) from None
    run.report.results = [run.final[i] for i in sorted(run.final)]
    audit.append("run.end", plan_hash=plan.plan_hash, counts=run.report.counts(), write_calls=run.report.write_calls)
    if verify:
        try:
            after = replan()[0]
            run.report.remaining, run.report.remaining_blocked = after.changes, after.blocked
        except ReconcilerError as exc:
            run.report.verification_error = f"the verification read failed: {exc}"
    return run.report


def _rounds(run: Executor, plan: Plan, replan: Replan, progress: Callable[[str], None]) -> None:
    todo = list(range(len(plan.changes)))
    for round_number in range(1, MAX_APPLY_ROUNDS + 1):
        run.execute(todo)
        if not run.pending or round_number == MAX_APPLY_ROUNDS:
            break
        progress(f"{len(run.pending)} change(s) have an unknown outcome: re-reading the organization")
        try:
            fresh, live = replan()
        except ReconcilerError as exc:
            for i, (state, message) in list(run.pending.items()):
                run.settle(i, "failed" if state == "unknown" else "skipped",
                           f"{message}; re-reading to learn the outcome failed: {exc}")
            break
        todo = _still_needed(run, plan, fresh, live)
    for i, (state, message) in list(run.pending.items()):
        run.settle(i, "failed" if state == "unknown" else "skipped", message)


def _still_needed(run: Executor, plan: Plan, fresh: Plan, live: LiveState) -> list[int]:
    """Settle what the re-read shows done; return what the next round must still send."""
    todo = []
    unexplained = _unexplained_keys(plan, live, run.report.new_key_ids)
    for i, (state, message) in sorted(run.pending.items()):
        change = plan.changes[i]
        if isinstance(change, KeyCreate) and state == "unknown":
            if unexplained.get(change.organization, True):
                run.settle(i, "failed", f"{message}; a key may have been created without its secret "
                                        f"reaching us: look for an unmanaged key in the next plan")
            else:
                todo.append(i)  # the re-read shows no new key: the call did nothing
        elif any(same_target(change, c) for c in fresh.changes):
            todo.append(i)
        else:
            run.settle(i, "applied", "confirmed by re-reading the organization" if state == "unknown"
                       else "already in place")
    return todo


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
