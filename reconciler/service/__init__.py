"""The service layer: what `plan`, `apply`, `drift` and `export` do, for every front end.

The CLI and the GitHub Action parse their inputs, open the API and call these functions; they
render the results these return. Nothing here prints or asks questions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .. import defaults
from ..api.client import ApiClient, ApiReader
from ..api.endpoints import GET_USAGE, capabilities
from ..api.reader import match_organizations, read_live_state, read_organizations, select_profiles
from ..api.usage import read_usage
from ..config.export import render_export
from ..config.loader import LoadedConfig, reload_if_changed
from ..config.writeback import write_key_ids
from ..errors import ApiError, ForbiddenError, ReconcilerError, StalePlanError
from ..execution.apply import apply_plan
from ..execution.calls import OnCall
from ..execution.program import calls_of, program
from ..model.changes import MemberAdd
from ..model.drift import DriftReport
from ..model.identity import names_person, normalise
from ..model.live import LiveOrganization, LiveState
from ..model.plan import Approval, Plan, ScheduledRotation
from ..model.report import ApplyInterrupted, ApplyReport, DryRunReport, NothingToApply, Report
from ..model.timestamps import parse_timestamp
from ..model.usage import (
    BY_KIND,
    SPEND_DAYS,
    GroupBy,
    OrganizationReport,
    UsageFacts,
    UsageReport,
)
from ..model.window import days_back
from ..planning.planner import listed_but_ignored
from ..planning.rotation import rotation_phases
from ..planning.staleness import ensure_fresh, plan_from, recheck_saved_plan
from ..planning.usage import by_currency, facts_of, key_budgets, with_invoices
from ..planning.usage import report as usage_report
from ..store.audit import AuditLog, Verification, current_actor, pending_work
from ..store.local import LocalStore
from ..store.state import RunInfo, Snapshot, StateStore
from .delivery_drift import delivery_drift
from .invoices import invoice_checks
from .keys import Replace, key_facts, replaced_in, server_now, sinks_for
from .sources import read_sources, start_reading_sources
from .state import bound


@dataclass(frozen=True)
class Planned:
    """A plan with what it was made from: the file and the live state it saw."""

    config: LoadedConfig
    live: LiveState
    plan: Plan
    notes: tuple[str, ...] = ()  # about the audit trail the plan read, when it could not be used
    # what the state store's verified chain held when the plan was made (bindings, runs...)
    pending: Verification = field(default_factory=Verification)

    @property
    def warnings(self) -> list[str]:
        """What the user should know but that stops nothing: from the file, and from the live
        state."""
        config = self.config
        located = listed_but_ignored(
            config.desired, self.live, str(config.path), config.locate_member
        )
        return [str(w) for w in (*config.warnings, *located)] + [
            f"warning: {w}" for w in (*self.live.warnings, *self.notes)
        ]

    def without_live(self) -> Planned:
        """The same plan without the live state it was made from: apply reads the organization again
        under its lock, so a front end can let the first read go (at 1,000,000 members it is 700
        MB)."""
        return Planned(
            config=self.config,
            live=LiveState(organizations={}, api_version=self.live.api_version),
            plan=self.plan,
            notes=self.notes,
        )


@dataclass(frozen=True)
class Exported:
    text: str
    warnings: list[str]


@dataclass(frozen=True)
class Drift:
    planned: Planned
    report: DriftReport


@dataclass(frozen=True)
class ApplyOptions:
    audit_log: str | Path = defaults.AUDIT_LOG  # the local store's log, when `store` is not given
    store: StateStore | None = None  # where the chain, locks and bindings live
    chunk_size: int = defaults.CHUNK_SIZE
    secrets_file: str | Path | None = None
    replace: Replace = frozenset()  # --replace-key: (organization, label) to rotate now
    dry_run: bool = False
    api_version: str = "auto"
    progress: Callable[[str], None] = lambda _line: None
    on_call: OnCall | None = (
        None  # each write call as it starts (a progress bar); else progress lines
    )
    verify: bool = True  # read the organization again at the end and report what remains
    lock_timeout: float = 0.0  # seconds to wait for another apply of the same organization
    stop: threading.Event = field(
        default_factory=threading.Event
    )  # set by Ctrl-C or SIGTERM: send no new call

    @property
    def state(self) -> StateStore:
        return self.store if self.store is not None else LocalStore(self.audit_log)


def plan(
    reader: ApiReader,
    config: LoadedConfig,
    only: Iterable[str] = (),
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
    lost_keys: Mapping[str, Mapping[str, str]] | None = None,
    pending: Verification | None = None,
    replace: Replace = frozenset(),
    fingerprint: bool = True,
) -> Planned:
    """Read the organizations the file manages and diff them against it (`progress` hears about a
    read that takes long). Usage is read only for organizations whose policy judges by it.
    `lost_keys` come from a verified audit trail: keys a crashed create made, to deactivate;
    `pending` (the same trail) says which predecessors are retiring; `replace` names keys to
    rotate now; without `fingerprint`, a plan only to compare (see compute_plan)."""
    _hash_before_reading(config)
    # the sources are read while the organization is (a directory and the API both answer
    # from other processes); a broken source still fails the plan before anything is sent
    sourced_when_read = start_reading_sources(config, only)
    live = read_live_state(reader, config.desired, only, api_version, progress)
    sourced = sourced_when_read()
    facts = usage_facts(reader, config, live, now or datetime.now(timezone.utc))
    keys = key_facts(reader, live, pending, replace)
    today = server_now(reader).date()  # expiry is judged on the server's clock, as rotation
    fresh = plan_from(config, sourced, live, facts, keys, lost_keys, today, fingerprint)
    return Planned(config=config, live=live, plan=fresh, notes=tuple(sourced.unusable))


def _hash_before_reading(config: LoadedConfig) -> None:
    """The file's desired hash made now, before the organization is read: it is made from the
    file's JSON (90 MB at 1,000,000 members), which should not be held beside the read."""
    config.desired_hash  # noqa: B018  (a cached property: this makes it)


MAX_HANDLE_LOOKUPS = 20  # user_suggestions calls one plan may make


def with_handle_notes(reader: ApiReader, planned: Planned) -> Planned:
    """The plan a person reviews, with a word on each handle Ideogram does not know. Only there:
    the re-reads and the verification read inside apply make no such lookups."""
    notes = _unknown_handles(reader, planned.live, planned.plan)
    return dataclasses.replace(planned, notes=(*planned.notes, *notes)) if notes else planned


def _unknown_handles(reader: ApiReader, live: LiveState, fresh: Plan) -> tuple[str, ...]:
    """On 2026-06, a person the file adds by handle whom Ideogram does not know (user_suggestions
    finds no such handle) is named now: the add would fail at apply until they sign up. At most
    MAX_HANDLE_LOOKUPS calls; a server that will not say is not asked again."""
    if not capabilities(live.api_version).user_suggestions:
        return ()
    notes: list[str] = []
    adds = [c for c in fresh.changes if isinstance(c, MemberAdd) and c.member.handle]
    for change in adds[:MAX_HANDLE_LOOKUPS]:
        handle = change.member.handle or ""
        try:
            found = reader.user_suggestions(change.organization_id, handle, 10)
        except ApiError:
            break
        if not any(
            normalise("handle", s.display_handle) == normalise("handle", handle) for s in found
        ):
            notes.append(
                f"{change.organization}: Ideogram knows no user with the handle {handle!r} "
                "(user_suggestions): adding them fails until they sign up, or the handle is "
                "corrected"
            )
    return tuple(notes)


def usage_facts(
    reader: ApiReader, config: LoadedConfig, live: LiveState, now: datetime
) -> dict[str, UsageFacts]:
    """Per organization whose policy has idle_keys or dormant_members: the usage of the days it
    looks at
    (and of the last 30, for the spend plans show)."""
    facts = {}
    for name, org in live.organizations.items():
        policy = config.desired.effective_policy(name)
        if policy.reads_usage:
            days = max(policy.usage_days, SPEND_DAYS)
            start = days_back(now, days)
            facts[name] = facts_of(
                read_usage(reader, org, live.api_version, start, now), now.date()
            )
    return facts


def drift(
    reader: ApiReader,
    config: LoadedConfig,
    only: Iterable[str] = (),
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
    store: StateStore | None = None,
) -> Drift:
    # the drift report is never applied: no fingerprint of the organization (100,000 members)
    planned = plan_with_state(reader, config, only, api_version, progress, store, fingerprint=False)
    delivered, notes = delivery_drift(planned.config, planned.pending)
    return Drift(planned=planned, report=DriftReport.from_plan(planned.plan, delivered, notes))


def plan_with_state(
    reader: ApiReader,
    config: LoadedConfig,
    only: Iterable[str] = (),
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
    store: StateStore | None = None,
    replace: Replace = frozenset(),
    fingerprint: bool = True,
) -> Planned:
    """`plan` as apply will see it: with the keys the state store binds and the keys lost creates
    made, as its audit chain records them (one read, never a write; a chain that fails
    verification is not used, and the plan says so). Without `fingerprint`, a plan that is
    reported, never saved (see compute_plan)."""
    snapshot = store.snapshot() if store is not None else Snapshot(Verification(), "")
    pending = snapshot.pending
    if pending.problems:
        note = (
            f"{snapshot.where}: the audit log fails verification ({pending.problems[0]}); what it "
            "records is not used, and apply will refuse until it is repaired"
        )
        planned = plan(
            reader, config, only, api_version, progress, replace=replace, fingerprint=fingerprint
        )
        return with_handle_notes(reader, dataclasses.replace(planned, notes=(note,)))
    lost = pending.lost_keys_to_plan()
    planned = plan(
        reader,
        bound(config, snapshot),
        only,
        api_version,
        progress,
        lost_keys=lost,
        pending=pending,
        replace=replace,
        fingerprint=fingerprint,
    )
    return with_handle_notes(reader, dataclasses.replace(planned, pending=pending))


def export(
    reader: ApiReader,
    only: Iterable[str] = (),
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> Exported:
    """The live organizations as a desired-state file that plans to no changes. Without `only`,
    an organization whose members the token may not read is left out, with a warning."""
    profiles = select_profiles(reader.get_profiles(), only)
    live = read_organizations(reader, profiles, api_version, progress, skip_unreadable=not only)
    if not live.organizations and live.warnings:
        raise ReconcilerError("nothing to export: " + "; ".join(live.warnings))
    return Exported(text=render_export(live), warnings=list(live.warnings))


def recheck_saved(
    client: ApiReader,
    saved: Plan,
    config: LoadedConfig,
    api_version: str = "auto",
    store: StateStore | None = None,
) -> Planned:
    """A saved plan, refused if stale, recomputed from its inputs (the file, with the store's
    key bindings) so its safety is judged afresh."""
    snapshot = store.snapshot() if store is not None else None
    if snapshot is not None:
        config = bound(config, snapshot)
    _hash_before_reading(config)
    live = read_live_state(
        client, config.desired, [o.name for o in saved.organizations], api_version
    )
    facts = usage_facts(client, config, live, datetime.now(timezone.utc))
    keys = key_facts(
        client, live, snapshot.pending if snapshot is not None else None, replaced_in(saved)
    )
    sourced = read_sources(config, [o.name for o in saved.organizations])
    return Planned(
        config=config,
        live=live,
        plan=recheck_saved_plan(
            saved, config, live, facts, keys, sourced, server_now(client).date()
        ),
        notes=tuple(sourced.unusable),
    )


def apply(client: ApiClient, planned: Planned, options: ApplyOptions, approval: Approval) -> Report:
    """Carry out a plan the caller has shown and confirmed (a saved plan, or the Action's
    reviewed one). Safety is judged here, for every front end: an unsafe plan goes through only
    with an approval naming its hash, and a reviewed plan only if it is this plan. Under the lock
    the organization must still be what the plan saw. Keys the run made are bound to their labels
    before the verification read, even when the run is interrupted."""
    the_plan = planned.plan
    the_plan.ensure_approved(approval)
    if options.dry_run:
        return _dry_run(the_plan, options)
    organizations = [o.name for o in the_plan.organizations]
    store = options.state
    ids = [o.organization_id for o in the_plan.organizations]
    with _holding(store, ids, the_plan.plan_hash, options.lock_timeout) as audit:
        pending = pending_work(audit.path)
        if not the_plan.changes:
            return _nothing_to_send(client, planned, options, audit, pending)
        current = _settle(client, planned.config, options, audit, pending, organizations)
        ensure_fresh(the_plan, current.config, current.plan)
        config, baseline = current.config, current.live.keys_only()
        del current  # its members go before the verification read
        report = _carry_out(client, config, the_plan, baseline, options, audit)
    report.audit_head = audit.head  # the store's last record: after the lock's release, if any
    return report


def apply_saved(
    client: ApiClient,
    saved: Plan,
    config: LoadedConfig,
    options: ApplyOptions,
    approval: Approval,
    rechecked: Callable[[Planned], None] = lambda _planned: None,
) -> tuple[Planned, Report]:
    """`apply PLANFILE`: the saved plan rechecked under the lock, so the read that judges it
    afresh is the read the lock guards. With nothing an earlier run left to settle, that one read
    is all apply needs before it writes (one read and one plan fewer than recheck, lock, read
    again); loose ends of a killed run are settled first, as `apply` does. `rechecked` is shown
    the rechecked plan (its warnings) before anything is sent; returned with the run, as by
    `apply_config`."""
    if options.dry_run:
        planned = recheck_saved(client, saved, config, options.api_version, options.state)
        rechecked(planned)
        return planned, apply(client, planned, options, approval)
    ids = [o.organization_id for o in saved.organizations]
    with _holding(options.state, ids, saved.plan_hash, options.lock_timeout) as audit:
        pending = pending_work(audit.path)
        planned = recheck_saved(client, saved, config, options.api_version, options.state)
        rechecked(planned)
        the_plan = planned.plan
        the_plan.ensure_approved(approval)
        organizations = [o.name for o in the_plan.organizations]
        loose_ends = bool(
            pending.problems
            or pending.unknown_outcomes
            or pending.unbound_keys
            or pending.lost_keys_to_plan()
        )
        if not the_plan.changes:
            return planned, _nothing_to_send(client, planned, options, audit, pending)
        if loose_ends or reload_if_changed(planned.config) is not planned.config:
            current = _settle(client, planned.config, options, audit, pending, organizations)
            ensure_fresh(the_plan, current.config, current.plan)
            planned = current
        baseline = planned.live.keys_only()
        planned = planned.without_live()  # the verification read is not held beside this one
        report = _carry_out(client, planned.config, the_plan, baseline, options, audit)
    report.audit_head = audit.head  # the store's last record: after the lock's release, if any
    return planned, report


def _nothing_to_send(
    client: ApiClient,
    planned: Planned,
    options: ApplyOptions,
    audit: AuditLog,
    pending: Verification,
) -> NothingToApply:
    """Under the lock, a plan with no changes: writes an earlier run left without an outcome,
    and keys it made but never bound, are still settled (the same for `apply` and `apply
    PLANFILE`)."""
    the_plan = planned.plan
    if pending.unknown_outcomes or pending.unbound_keys:
        organizations = [o.name for o in the_plan.organizations]
        _settle(client, planned.config, options, audit, pending, organizations)
    return NothingToApply(plan_hash=the_plan.plan_hash, blocked=len(the_plan.blocked))


@contextlib.contextmanager
def _holding(
    store: StateStore, ids: list[str], plan_hash: str, timeout: float
) -> Iterator[AuditLog]:
    """The organizations' locks in the store, for one run; an interrupted run's report names the
    chain's head once the store has released them."""
    audit: AuditLog | None = None
    try:
        with store.locked(ids, _run_info(plan_hash), timeout) as audit:
            yield audit
    except ApplyInterrupted as interrupted:
        if audit is not None:
            interrupted.report.audit_head = audit.head
        raise


def _run_info(plan_hash: str = "") -> RunInfo:
    return RunInfo(
        run_id=uuid.uuid4().hex,
        user=current_actor(),
        machine=socket.gethostname(),
        plan_hash=plan_hash,
    )


Review = Callable[[Planned], Approval]  # show a plan, ask; returns the approval, or raises


def apply_config(
    client: ApiClient,
    config: LoadedConfig,
    only: Iterable[str],
    options: ApplyOptions,
    review: Review,
) -> tuple[Planned, Report]:
    """`apply -c`: read and plan under the lock, as Terraform plans under its state lock, so
    nothing another run does between the plan the user confirms and the first write can make it
    refuse its own plan. `review` shows the plan and returns the approval the user gave (or
    raises); the safety gate is still judged here."""
    if options.dry_run:  # a dry run reads, takes no lock and records nothing
        planned = plan_with_state(
            client,
            config,
            only,
            options.api_version,
            options.progress,
            options.state,
            options.replace,
        )
        planned.plan.ensure_approved(review(planned))
        return planned, _dry_run(planned.plan, options)
    matched = match_organizations(config.desired, client.get_profiles(), only)
    ids = [p.organization_id for p in matched.values()]
    with _holding(options.state, ids, "", options.lock_timeout) as audit:
        pending = pending_work(audit.path)
        current = _settle(client, config, options, audit, pending, list(matched))
        approval = review(with_handle_notes(client, current))
        the_plan = current.plan
        the_plan.ensure_approved(approval)
        if not the_plan.changes:
            nothing = NothingToApply(plan_hash=the_plan.plan_hash, blocked=len(the_plan.blocked))
            return current, nothing
        baseline = current.live.keys_only()
        current = current.without_live()  # at 1,000,000 members the read is 700 MB
        report = _carry_out(client, current.config, the_plan, baseline, options, audit)
    report.audit_head = audit.head  # the store's last record: after the lock's release, if any
    return current, report


def rotate(client: ApiClient, config: LoadedConfig, options: ApplyOptions) -> tuple[Plan, Report]:
    """The scheduled run: carry out only what the file's rotation schedule asks for now
    (successors due by age, predecessors whose overlap ended), approved by that schedule, through
    the same lock, limits and audit as apply. Any other difference waits for a reviewed plan."""
    planned = plan_with_state(
        client, config, (), options.api_version, options.progress, options.state
    )
    phases = rotation_phases(planned.plan)
    if not phases.changes:
        return phases, NothingToApply(plan_hash=phases.plan_hash, blocked=0)
    scheduled = dataclasses.replace(planned, plan=phases)
    return phases, apply(client, scheduled, options, ScheduledRotation(phases.plan_hash))


def _dry_run(the_plan: Plan, options: ApplyOptions) -> DryRunReport:
    steps = program(the_plan, options.chunk_size)
    return DryRunReport(
        plan_hash=the_plan.plan_hash,
        calls=[c.describe(the_plan.changes) for c in calls_of(steps)],
        pending=len(the_plan.changes),
    )


def _carry_out(
    client: ApiClient,
    config: LoadedConfig,
    the_plan: Plan,
    baseline: LiveState,
    options: ApplyOptions,
    audit: AuditLog,
) -> ApplyReport:
    """The writes, under the caller's lock: then the new keys bound, then the verification."""
    organizations = [o.name for o in the_plan.organizations]

    def replan() -> tuple[Plan, LiveState]:  # what remains to send: no fingerprint needed
        again = plan(
            client, reload_if_changed(config), organizations, options.api_version, fingerprint=False
        )
        return again.plan, again.live

    deliveries, sinks = sinks_for(config, the_plan, options.secrets_file)
    write_back = not options.state.binds_keys
    try:
        report = apply_plan(
            client,
            the_plan,
            config.path,
            replan=replan,
            audit=audit,
            baseline=baseline,
            chunk_size=options.chunk_size,
            sinks=sinks,
            progress=options.progress,
            stop=options.stop,
            on_call=options.on_call,
            write_back=write_back,
        )
    except ApplyInterrupted as interrupted:
        bind_new_keys(config, audit, interrupted.report, options.progress, write_back)
        raise
    finally:
        deliveries.close()
    bind_new_keys(config, audit, report, options.progress, write_back)
    if options.verify:
        verify(report, replan)
    return report


def _settle(
    client: ApiClient,
    config: LoadedConfig,
    options: ApplyOptions,
    audit: AuditLog,
    pending: Verification,
    organizations: list[str],
) -> Planned:
    """Under the lock: bind keys a killed run made, read the organization as it is now (another
    apply may just have finished), and record what became of writes a crash left without an
    outcome. Returns the plan made from that read; a plan made before key ids were written back
    is refused as stale, after the settling (the file now lists those keys, so settling never
    mistakes them for keys a lost create made)."""
    if pending.problems:
        raise ReconcilerError(
            f"{audit.path}: the audit log fails verification ({pending.problems[0]}): what it "
            "records cannot be trusted to settle anything, so nothing was sent. Run "
            f"`ideogram-org audit verify {audit.path}`"
        )
    if options.state.binds_keys:
        # the store's bindings, and keys a killed run made and never bound, bound now: the plan
        # below is made with them (a saved plan made without them is refused as stale)
        _bind_in_store(audit, pending)
        config = bound(config, Snapshot(pending, options.state.describe(), binds_keys=True))
        recovered: dict[tuple[str, str], str] = {}
    else:
        recovered = recover_unbound_keys(audit, pending, config)
    lost = pending.lost_keys_to_plan()
    current = plan(
        client,
        reload_if_changed(config),
        organizations,
        options.api_version,
        lost_keys=lost,
        pending=pending,
        replace=options.replace,
    )
    found = settle_unknown_outcomes(audit, pending, current.live, client, current.config)
    if found:  # planned now, with the rest: shown, counted, approved
        for organization, keys in found.items():
            lost.setdefault(organization, {}).update(keys)
        current = plan(
            client,
            current.config,
            organizations,
            options.api_version,
            lost_keys=lost,
            pending=pending,
            replace=options.replace,
        )
    if recovered:
        _refuse_after_recovery(current.config, recovered)
    return current


def bind_new_keys(
    config: LoadedConfig,
    audit: AuditLog,
    report: ApplyReport,
    progress: Callable[[str], None],
    write_back: bool = True,
) -> None:
    """With the local store, write the ids of the keys this run made into the file beside their
    labels, then bind them on record. (A shared store bound each one as it was delivered.) Should
    the write-back fail, the audit log holds them and the next apply writes them back."""
    if not report.new_key_ids:
        return
    if not write_back:
        report.audit_head = audit.head
        return
    if write_back:
        try:
            replaces = {
                where: str(binding["predecessor"])
                for where, binding in report.new_key_bindings.items()
                if binding.get("predecessor")
            }
            write_key_ids(config.path, report.new_key_ids, replaces)
        except ReconcilerError as exc:
            progress(
                f"error: {exc}. The new ids are on record in the audit log; the next apply "
                "writes them back (or write them into the file by hand)"
            )
            raise
        report.wrote_back = True
    audit.append(
        "key.bound",
        keys=[
            {
                "organization": o,
                **report.new_key_bindings.get((o, label), {}),
                "label": label,
                "api_key_id": key_id,
            }
            for (o, label), key_id in report.new_key_ids.items()
        ],
    )
    report.audit_head = audit.head


def _bind_in_store(audit: AuditLog, pending: Verification) -> None:
    """Keys a killed run made (their secrets saved) but never bound: bound now, on record."""
    if not pending.unbound_keys:
        return
    audit.append(
        "key.bound",
        keys=[
            {
                "organization": o,
                **pending.unbound_details.get(key_id, {}),
                "label": label,
                "api_key_id": key_id,
            }
            for key_id, (o, label) in pending.unbound_keys.items()
        ],
        message="recovered from a run that stopped before binding them",
    )


def verify(report: ApplyReport, replan: Callable[[], tuple[Plan, LiveState]]) -> None:
    """Read the organization again and say what remains: the report converges only on this."""
    try:
        after = replan()[0]
    except ReconcilerError as exc:
        report.verification_error = f"the verification read failed: {exc}"
        return
    report.remaining, report.remaining_blocked = after.changes, after.blocked
    report.verified = True


def recover_unbound_keys(
    audit: AuditLog, pending: Verification, config: LoadedConfig
) -> dict[tuple[str, str], str]:
    """A run killed between saving a new key's secret and writing its id back left the label
    without an id: a plan made from that file would create a second key. The ids are written back
    now and returned; the plan, made without them, is refused as stale by the caller."""
    recovered: dict[tuple[str, str], str] = {}
    replaces: dict[tuple[str, str], str] = {}  # a rotation's successor replaces its predecessor
    for key_id, (organization, label) in pending.unbound_keys.items():
        spec = config.desired.key_spec(organization, label)
        predecessor = str(pending.unbound_details.get(key_id, {}).get("predecessor") or "")
        if spec is not None and (spec.id is None or (predecessor and spec.id == predecessor)):
            recovered[(organization, label)] = key_id
            if spec.id is not None:
                replaces[(organization, label)] = predecessor
    if not recovered:
        return recovered
    write_key_ids(config.path, recovered, replaces)
    audit.append(
        "key.bound",
        keys=[
            {
                "organization": o,
                **pending.unbound_details.get(key_id, {}),
                "label": label,
                "api_key_id": key_id,
            }
            for (o, label), key_id in recovered.items()
        ],
        message="recovered from a run that stopped before writing the id back",
    )
    return recovered


def _refuse_after_recovery(config: LoadedConfig, recovered: dict[tuple[str, str], str]) -> None:
    names = ", ".join(f"{label} = {key_id}" for (_, label), key_id in recovered.items())
    raise StalePlanError(
        f"an earlier apply created key(s) it never wrote back into {config.path}: {names}; the ids "
        f"are written back now. Nothing was sent: plan again (the keys exist, no new one is needed)"
    )


def settle_unknown_outcomes(
    audit: AuditLog, pending: Verification, live: LiveState, client: ApiClient, config: LoadedConfig
) -> dict[str, dict[str, str]]:
    """Record, for each write a crash left without an outcome, what the organization shows now;
    return the keys lost creates made (organization -> key id -> reason).

    A create whose answer was lost may have made a key whose secret nobody holds. Such a key is
    told by its creation time on the server's clock (the Date header says how far it is from
    ours): ACTIVE, not in the file, made between the intent and the end of that call's time
    limit. It is only recorded here; its deactivation goes into the plan, where it is shown,
    counted against max_key_deactivations and approved like any other. A key made after that
    window closed (by a colleague, by hand) is never taken for one.
    """
    names = {org.name: org for org in live.organizations.values()}
    found: dict[str, dict[str, str]] = {}
    for intent in pending.unknown_outcomes:
        org = names.get(str(intent.get("organization")))
        if org is None:
            continue
        keys = {k.api_key_id: k.status for k in org.keys}
        listed = intent.get("targets")
        targets: list[Any] = listed if isinstance(listed, list) else []
        seen = {str(t): _role_of(org, str(t)) or keys.get(str(t), "absent") for t in targets}
        fields: dict[str, Any] = {}
        message = "outcome unknown after a crash; this is what a fresh read shows"
        if intent.get("action") == "key.create":
            lost, note = _lost_keys(org, config, intent, client)
            fields["lost_keys"] = lost
            message += note
            for key in lost:
                found.setdefault(org.name, {})[key["api_key_id"]] = key["reason"]
        audit.append(
            "write.settled",
            intent=intent["hash"],
            organization=org.name,
            action=intent.get("action"),
            live=seen,
            message=message,
            **fields,
        )
    return found


def _role_of(org: LiveOrganization, name: str) -> str | None:
    """The role of the member a target label names (an email, handle or user id), by the identity
    rule."""
    return next(
        (m.role for m in org.members if names_person(name, m.email, m.handle, m.user_id)), None
    )


SETTLE_SKEW = 2.0  # seconds: the Date header's resolution, and a little more


def _lost_keys(
    org: LiveOrganization, config: LoadedConfig, intent: dict[str, Any], client: ApiClient
) -> tuple[list[dict[str, str]], str]:
    """The keys a lost create may have made, by creation time within the call's window on the
    server's clock; and a note when that window cannot be known."""
    sent = parse_timestamp(str(intent.get("ts", "")))
    offset = client.server_clock_offset
    if sent is None or offset is None:
        return [], (
            "; the server's clock is unknown (no Date header), so no key is attributed to the "
            "lost create: look for an unmanaged key in the plan"
        )
    limit = intent.get("timeout")
    seconds = float(limit) if isinstance(limit, int | float) else client.timeout
    start = sent + timedelta(seconds=offset - SETTLE_SKEW)
    end = sent + timedelta(seconds=offset + seconds + SETTLE_SKEW)
    desired = config.desired.organizations.get(org.name)
    listed = {spec.id for spec in desired.api_keys.values() if spec.id} if desired else set()
    lost = []
    for key in org.keys:
        made = parse_timestamp(key.creation_time)
        if key.status != "ACTIVE" or key.api_key_id in listed or made is None:
            continue
        if start <= made <= end:
            lost.append(
                {
                    "api_key_id": key.api_key_id,
                    "created": made.isoformat(),
                    "reason": f"made by a create whose answer was lost (intent of "
                    f"{sent.isoformat(timespec='seconds')}): nobody holds its secret",
                }
            )
    return lost, ""


def cost_centers(config: LoadedConfig) -> dict[str, dict[str, str]]:
    """Per organization: key id and member email (normalised) -> cost center, from the file's
    keys and members and from its sources (read for this: a source's cost_center goes to each
    person it gives)."""
    desired = read_sources(config).desired
    found: dict[str, dict[str, str]] = {}
    for name, org in desired.organizations.items():
        centers = found.setdefault(name, {})
        for member in org.members:
            if member.cost_center and member.email:
                centers.setdefault(normalise("email", member.email), member.cost_center)
        for spec in org.api_keys.values():
            if spec.cost_center and spec.id:
                centers[spec.id] = spec.cost_center
    return found


def usage(
    reader: ApiReader,
    config: LoadedConfig | None,
    only: Iterable[str],
    since: datetime,
    until: datetime,
    by: GroupBy,
    now: datetime | None = None,
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
    invoices: bool = False,
) -> UsageReport:
    """Spend per group, last use per key and member, and the active commit of each organization:
    those the file manages (keys shown by their labels), or every one the token sees; with
    `invoices`, each invoice of the window against the usage of its period."""
    profiles = reader.get_profiles()
    matched = (
        match_organizations(config.desired, profiles, only)
        if config
        else select_profiles(profiles, only)
    )
    live = read_organizations(reader, matched, api_version, progress, skip_unreadable=not only)
    labels = {
        spec.id: label
        for org in (config.desired.organizations.values() if config else [])
        for label, spec in org.api_keys.items()
        if spec.id
    }
    centers = cost_centers(config) if config is not None and by == "cost-center" else {}
    budgets = key_budgets(config.desired) if config is not None else {}
    before = reader.calls.get(GET_USAGE.operation_id, 0)
    reports: list[OrganizationReport] = []
    notes = list(live.warnings)  # organizations left out, and why
    for org in live.organizations.values():
        try:
            read = read_usage(
                reader, org, live.api_version, since, until, spend=True, detail=by in BY_KIND
            )
        except ForbiddenError as exc:  # one organization the token may not read stops no other
            notes.append(f"{org.name}: usage not readable ({exc}); you are {org.caller_role} there")
            continue
        # one report per currency: amounts of two currencies are never added
        parts = [
            usage_report(
                part,
                by,
                now or datetime.now(timezone.utc),
                labels,
                [k.api_key_id for k in org.keys],
                [m.email for m in org.members],
                centers.get(org.name, {}),
                budgets.get(org.name, {}),
            )
            for part in by_currency(read)
        ]
        if invoices:
            try:
                checks, invoice_notes = invoice_checks(
                    reader, org, live.api_version, since, until, labels
                )
            except ForbiddenError as exc:  # as for usage: the rest of the report still stands
                checks, invoice_notes = None, [f"invoices not readable ({exc})"]
            parts = with_invoices(parts, checks, invoice_notes)
        reports += parts
    return UsageReport(
        generated_at=(now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        organizations=reports,
        usage_calls=reader.calls.get(GET_USAGE.operation_id, 0) - before,
        notes=notes,
        api_version=live.api_version,
        api_version_evidence=live.api_version_evidence,
    )
