"""Apply: carry out a Plan in rounds, then read the organization again to verify.

A write that fails ambiguously (timeout, dropped connection, 5xx) is never sent again blindly:
the round ends, the live state is re-read and re-planned, and only the original plan's changes
that the fresh plan still needs are tried again. Nothing outside the original plan is ever sent,
except the deactivation of a key that appeared after an ambiguous create without its secret.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..api.client import ApiClient
from ..defaults import CHUNK_SIZE, MAX_APPLY_ROUNDS
from ..errors import ReconcilerError, StalePlanError, UsageError
from ..model.changes import NewKeyChange, same_target
from ..model.live import LiveState
from ..model.plan import Plan
from ..model.report import ApplyInterrupted, ApplyReport
from ..store.audit import AuditLog
from ..store.state import StateError
from .calls import OnCall, Sinks, StopRequested
from .executor import Executor

Replan = Callable[[], tuple[Plan, LiveState]]  # read the organization again and plan afresh


def preflight(
    plan: Plan,
    config_path: Path,
    audit: AuditLog,
    sinks: Sinks,
    write_back: bool = True,
) -> None:
    """Everything a write will need, checked before the first one: one clear line if anything is
    missing. Every new key has somewhere to go, the sinks the plan showed, and each of them can
    take a copy now. `write_back`: the ids of new keys go into the file (the local store's
    bindings)."""
    audit.check_writable()
    new_keys = [c for c in plan.changes if isinstance(c, NewKeyChange)]
    if not new_keys:
        return
    checked: set[str] = set()
    for change in new_keys:
        found = sinks.get((change.organization, change.key_label), [])
        if not found:
            raise UsageError(
                f"the plan creates key {change.key_label} of {change.organization}, whose secret "
                "is shown only once, and it has nowhere to go: give it deliver_to in the file, "
                "or pass --secrets-file PATH"
            )
        names = [sink.describe() for sink in found]
        if change.deliver_to and names != change.deliver_to:
            raise StalePlanError(
                f"key {change.key_label} of {change.organization}: the plan delivers its secret "
                f"to {', '.join(change.deliver_to)}, the file now to {', '.join(names)}; plan "
                "again"
            )
        for sink, name in zip(found, names, strict=True):
            if name not in checked:
                sink.check()
                checked.add(name)
    if not write_back:
        return
    folder = config_path.parent if str(config_path.parent) else Path(".")
    if not os.access(config_path, os.W_OK) or not os.access(folder, os.W_OK):
        raise UsageError(
            f"{config_path}: cannot be written, and the ids of new keys go back into it; nothing "
            "was sent"
        )


def apply_plan(
    client: ApiClient,
    plan: Plan,
    config_path: Path,
    *,
    replan: Replan,
    audit: AuditLog,
    baseline: LiveState | None = None,
    chunk_size: int = CHUNK_SIZE,
    sinks: Sinks | None = None,
    progress: Callable[[str], None] = lambda _line: None,
    stop: threading.Event | None = None,
    on_call: OnCall | None = None,
    write_back: bool = True,
) -> ApplyReport:
    """Carry out `plan`. The caller has already judged it safe (or approved) and fresh; it binds
    the keys the report says were made, and reads the organization again to verify.

    `baseline` is the organization as read just before the first write: a key that shows up
    later, which this run did not make, came from a create whose answer was lost."""
    if chunk_size < 1:
        raise UsageError("--chunk-size must be at least 1")
    sinks = sinks or {}
    preflight(plan, config_path, audit, sinks, write_back)
    run = Executor(
        client,
        plan,
        audit,
        sinks,
        progress,
        stop or threading.Event(),
        on_call,
        bind_now=not write_back,
    )
    run.chunk_size = chunk_size
    audit.append(
        "run.start",
        plan_hash=plan.plan_hash,
        changes=len(plan.changes),
        organizations=[o.name for o in plan.organizations],
    )
    try:
        _rounds(run, plan, replan, progress, baseline)
    except (KeyboardInterrupt, StopRequested):
        run.report.results = [run.final[i] for i in sorted(run.final)]
        _interrupted(run, audit)
        run.report.audit_path, run.report.audit_head = str(audit.path), audit.head
        run.report.not_sent = len(plan.changes) - len(run.final)
        run.report.interrupted = True
        raise ApplyInterrupted(run.report) from None
    except StateError as exc:  # the shared store could not take a checkpoint: stop sending
        run.close_unsent(f"not sent: {exc}")
        _interrupted(run, audit, str(exc))
        raise
    run.report.results = [run.final[i] for i in sorted(run.final)]
    audit.append(
        "run.end",
        plan_hash=plan.plan_hash,
        counts=run.report.counts(),
        write_calls=run.report.write_calls,
    )
    run.report.audit_path, run.report.audit_head = str(audit.path), audit.head
    return run.report


def _interrupted(run: Executor, audit: AuditLog, message: str = "") -> None:
    """On record: the run stopped before its end, with what it did and what it left."""
    audit.append(
        "run.interrupted",
        plan_hash=run.plan.plan_hash,
        counts=run.report.counts(),
        write_calls=run.report.write_calls,
        unsettled=len(run.plan.changes) - len(run.final),
        **({"message": message} if message else {}),
    )


def _rounds(
    run: Executor,
    plan: Plan,
    replan: Replan,
    progress: Callable[[str], None],
    baseline: LiveState | None,
) -> None:
    todo = list(range(len(plan.changes)))
    for round_number in range(1, MAX_APPLY_ROUNDS + 1):
        run.execute(todo)
        if not run.pending or round_number == MAX_APPLY_ROUNDS:
            break
        progress(
            f"{len(run.pending)} change(s) have an unknown outcome: re-reading the organization"
        )
        try:
            fresh, live = replan()
        except ReconcilerError as exc:
            for i, (state, message) in list(run.pending.items()):
                run.settle(
                    i,
                    "failed" if state == "unknown" else "skipped",
                    f"{message}; re-reading to learn the outcome failed: {exc}",
                )
            break
        todo = _still_needed(run, plan, fresh, live, baseline)
    for i, (state, message) in list(run.pending.items()):
        run.settle(i, "failed" if state == "unknown" else "skipped", message)


def _still_needed(
    run: Executor, plan: Plan, fresh: Plan, live: LiveState, baseline: LiveState | None
) -> list[int]:
    """Settle what the re-read shows done; return what the next round must still send.

    A key that appeared after an ambiguous create has no saved secret (the answer never arrived):
    it is deactivated, and the create is sent again, so one ACTIVE key per label remains, the one
    whose secret is saved.
    """
    todo = []
    orphans = _unexplained_keys(baseline, live, run.created) if baseline is not None else {}
    for i, (state, message) in sorted(run.pending.items()):
        change = plan.changes[i]
        if isinstance(change, NewKeyChange) and state == "unknown" and baseline is None:
            run.settle(
                i,
                "failed",
                f"{message}; a key may have been created without its secret reaching us: look "
                f"for an unmanaged key in the next plan",
            )
        elif isinstance(change, NewKeyChange) and state == "unknown":
            for key_id in orphans.pop(change.organization, []):
                run.progress(
                    f"key {key_id} appeared without its secret reaching us: "
                    + run.deactivate_orphan(change.organization, key_id)
                )
            todo.append(i)
        elif any(same_target(change, c) for c in fresh.changes):
            todo.append(i)
        else:
            run.settle(
                i,
                "applied",
                "confirmed by re-reading the organization"
                if state == "unknown"
                else "already in place",
            )
    return todo


def _unexplained_keys(
    baseline: LiveState, live: LiveState, created: dict[str, str]
) -> dict[str, list[str]]:
    """Per organization: ACTIVE keys that were not there before the run and that it did not make
    (and save)."""
    answer: dict[str, list[str]] = {}
    for name, org in live.organizations.items():
        before = baseline.organizations.get(name)
        known = {k.api_key_id for k in before.keys} if before else set()
        known |= set(created)
        answer[name] = [
            k.api_key_id for k in org.keys if k.api_key_id not in known and k.status == "ACTIVE"
        ]
    return answer
