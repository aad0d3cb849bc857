"""The key lifecycle's inputs, read for the planner: the server's clock, the store's retiring
predecessors (and whether usage shows one idle while its successor works), the keys
`--replace-key` names; and, for apply, the sinks each new key is delivered to."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..api.client import ApiReader
from ..api.usage import read_usage
from ..config.loader import LoadedConfig
from ..config.models import RUNNER_REACHABLE_SINKS, AgeFileSink
from ..delivery.sink import SecretSink
from ..delivery.sinks import Deliveries
from ..errors import ApiError, UsageError
from ..execution.calls import Sinks
from ..model.changes import NewKeyChange
from ..model.live import LiveState
from ..model.plan import Plan
from ..model.rotation import IDLE_HOURS, REPLACE_REASON, KeyFacts, Retiring
from ..model.timestamps import parse_timestamp
from ..store.audit import Verification

Replace = frozenset[tuple[str, str]]  # (organization, label) pairs --replace-key names


def parse_replace(values: Iterable[str], config: LoadedConfig) -> Replace:
    """`ORG/LABEL` for each --replace-key, each naming a key of the file that has an id."""
    found = set()
    for value in values:
        organization, slash, label = value.partition("/")
        spec = config.desired.key_spec(organization, label) if slash else None
        if spec is None:
            raise UsageError(
                f"--replace-key {value!r}: give ORG/LABEL, a key the file lists "
                f"(organizations: {', '.join(config.desired.organizations)})"
            )
        if spec.id is None:
            raise UsageError(
                f"--replace-key {value}: the key has no id yet; it is created, not replaced"
            )
        found.add((organization, label))
    return frozenset(found)


def server_now(reader: ApiReader) -> datetime:
    """Now, on the server's clock (its Date header): the clock key creation times are on."""
    offset = reader.server_clock_offset or 0.0
    return datetime.fromtimestamp(time.time() + offset, timezone.utc)


def retiring_of(pending: Verification) -> dict[str, dict[str, Retiring]]:
    """Per organization: the predecessors the store's bindings say are retiring."""
    found: dict[str, dict[str, Retiring]] = {}
    for binding in pending.bindings.values():
        until = parse_timestamp(binding.retiring_until) if binding.retiring_until else None
        if not binding.predecessor or until is None:
            continue
        found.setdefault(binding.organization, {})[binding.predecessor] = Retiring(
            key_id=binding.predecessor,
            label=binding.label,
            successor=binding.api_key_id,
            until=until,
        )
    return found


def _with_idle(
    reader: ApiReader, live: LiveState, name: str, retiring: dict[str, Retiring], now: datetime
) -> dict[str, Retiring]:
    """The retiring predecessors, each marked when the last IDLE_HOURS of usage show it unused
    and its successor used (one hourly usage read; none when every overlap has ended, and
    none marked when usage cannot be read: the overlap then decides)."""
    waiting = [r for r in retiring.values() if r.until > now]
    org = live.organizations.get(name)
    if not waiting or org is None:
        return retiring
    try:
        usage = read_usage(
            reader, org, live.api_version, now - timedelta(hours=IDLE_HOURS), now, segment_by="HOUR"
        )
    except ApiError:
        return retiring
    used = {
        key
        for use in usage.uses
        for spent in use.by_slot.values()
        for key, amount in spent.items()
        if key and amount > 0
    }
    return {
        key_id: Retiring(
            found.key_id,
            found.label,
            found.successor,
            found.until,
            idle_while_successor_used=key_id not in used and found.successor in used,
        )
        for key_id, found in retiring.items()
    }


def key_facts(
    reader: ApiReader, live: LiveState, pending: Verification | None, replace: Replace
) -> dict[str, KeyFacts]:
    """Per organization read: the facts rotation is judged by."""
    now = server_now(reader)
    retiring = retiring_of(pending) if pending is not None else {}
    return {
        name: KeyFacts(
            now=now,
            retiring=_with_idle(reader, live, name, retiring.get(name, {}), now),
            replace=frozenset(label for o, label in replace if o == name),
        )
        for name in live.organizations
    }


def replaced_in(saved: Plan) -> Replace:
    """The rotations a saved plan carries: asked for then, so planned again when it is checked."""
    return frozenset(
        (c.organization, c.key_label)
        for c in saved.changes
        if c.action == "key.rotate" and c.reason == REPLACE_REASON
    )


def sinks_for(
    config: LoadedConfig, plan: Plan, secrets_file: str | Path | None
) -> tuple[Deliveries, Sinks]:
    """Where each new key of the plan goes: its deliver_to (paths relative to the file's folder),
    or the --secrets-file."""
    deliveries = Deliveries(config.path.resolve().parent, secrets_file)
    sinks: dict[tuple[str, str], list[SecretSink]] = {}
    for change in plan.changes:
        if isinstance(change, NewKeyChange):
            spec = config.desired.key_spec(change.organization, change.key_label)
            sinks[(change.organization, change.key_label)] = deliveries.sinks(spec)
    return deliveries, sinks


def not_deliverable_from_runner(plan: Plan, config: LoadedConfig) -> list[str]:
    """The new keys of the plan a CI runner could not deliver: a sink that does not outlive the
    job (a plain file), or none at all. Said on the pull request, before merge."""
    problems = []
    for change in plan.changes:
        if not isinstance(change, NewKeyChange):
            continue
        spec = config.desired.key_spec(change.organization, change.key_label)
        entries = spec.deliver_to if spec is not None else []
        stuck = [e.describe() for e in entries if e.kind not in RUNNER_REACHABLE_SINKS]
        if not entries or stuck:
            where = ", ".join(stuck) if stuck else "nowhere (no deliver_to)"
            problems.append(
                f"key {change.key_label} of {change.organization}: its secret would go to "
                f"{where}, which a runner throws away with its workspace; give it a "
                "github_secret (or an age_file the workflow keeps) in deliver_to"
            )
    return problems


def delivered_files(config: LoadedConfig, new_keys: Iterable[tuple[str, str]]) -> list[str]:
    """The age files the new keys were delivered to, as the file names them: a workflow step
    after apply keeps them (commits or publishes them)."""
    files = []
    for organization, label in new_keys:
        spec = config.desired.key_spec(organization, label)
        for entry in spec.deliver_to if spec is not None else []:
            if isinstance(entry, AgeFileSink):
                files.append(entry.age_file.path)
    return files
