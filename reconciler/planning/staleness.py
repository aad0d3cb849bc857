"""Whether a saved plan still holds: the file and the live organization must be what it saw.

A plan file holds its changes and the fingerprint of the live state, not the state itself (at
100,000 members that was 20 MB), so a refused plan is explained by planning again: what the saved
plan would do that is no longer needed, what is needed now that it lacks, and how the
organization's counts moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from ..errors import StalePlanError
from ..model.changes import Change
from ..model.live import LiveState
from ..model.plan import Plan
from ..model.rotation import KeyFacts
from ..model.usage import UsageFacts
from .planner import compute_plan
from .sources import Sourced, explain_source_changes

if TYPE_CHECKING:  # the type alone: planning reads no file
    from ..config.loader import LoadedConfig


def _key(change: Change) -> str:
    return json.dumps(change.model_dump(mode="json"), sort_keys=True)


def _summary_changes(saved: Plan, fresh: Plan) -> list[str]:
    """What moved in each organization's numbers (members, owners, role, limits), in words:
    `acme: owners_before 3 -> 2`. DeepDiff compares the two sets of summaries."""
    from deepdiff import DeepDiff

    def summaries(plan: Plan) -> dict[str, dict[str, object]]:
        return {
            o.name: o.model_dump(exclude={"name", "organization_id"}) for o in plan.organizations
        }

    diff = DeepDiff(summaries(saved), summaries(fresh), ignore_order=True, view="tree")
    lines: list[str] = []
    for change in [*diff.get("values_changed", []), *diff.get("type_changes", [])]:
        where = change.path(output_format="list")
        lines.append(f"{where[0]}: {'.'.join(map(str, where[1:]))} {change.t1!r} -> {change.t2!r}")
    for change in diff.get("dictionary_item_added", []):
        where = change.path(output_format="list")
        lines.append(
            f"{where[0]}: organization now read as well"
            if len(where) == 1
            else f"{where[0]}: {'.'.join(map(str, where[1:]))} now {change.t2!r}"
        )
    for change in diff.get("dictionary_item_removed", []):
        where = change.path(output_format="list")
        lines.append(
            f"{where[0]}: organization no longer read"
            if len(where) == 1
            else f"{where[0]}: {'.'.join(map(str, where[1:]))} gone"
        )
    for kind in ("iterable_item_added", "iterable_item_removed"):
        for change in diff.get(kind, []):
            where = change.path(output_format="list")
            verb = "now" if kind.endswith("added") else "no longer"
            value = change.t2 if kind.endswith("added") else change.t1
            lines.append(f"{where[0]}: {where[1]} {verb} lists {value!r}")
    return sorted(lines)


def explain_differences(saved: Plan, fresh: Plan, limit: int = 20) -> list[str]:
    """How a fresh plan differs from a saved one, one line per difference, for people to read."""
    lines = _summary_changes(saved, fresh)
    fresh_keys = {_key(c) for c in fresh.changes}
    saved_keys = {_key(c) for c in saved.changes}
    lines += [
        f"{c.organization}: no longer needed: {c.action} {c.subject}"
        for c in saved.changes
        if _key(c) not in fresh_keys
    ]
    lines += [
        f"{c.organization}: needed now, not in the saved plan: {c.action} {c.subject}"
        for c in fresh.changes
        if _key(c) not in saved_keys
    ]
    if not lines:
        lines.append("the changes are the same, but members' records or keys moved on")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more difference(s)"]
    return lines


def ensure_fresh(saved: Plan, config: LoadedConfig, fresh: Plan) -> None:
    """Refuse a saved plan whose desired file or live organization moved on since it was made;
    `fresh` is the plan made now, from the file and the organization as they are."""
    problems = []
    if config.desired_hash != saved.desired_hash:
        problems.append(f"the desired file {config.path} changed since the plan was made")
    if saved.sources != fresh.sources:
        problems.append(
            "a source of members says otherwise now"
            + "".join(
                f"\n  {line}" for line in explain_source_changes(saved.sources, fresh.sources)[:20]
            )
        )
    if fresh.live_fingerprint != saved.live_fingerprint:
        problems.append(
            "the live organization changed since the plan was made"
            + "".join(f"\n  {line}" for line in explain_differences(saved, fresh))
        )
    if problems:
        raise StalePlanError(
            "stale plan, nothing was sent: "
            + "; ".join(problems)
            + "\nRun `ideogram-org plan` again and review the new plan."
        )


def plan_from(
    config: LoadedConfig,
    sourced: Sourced,
    live: LiveState,
    usage: dict[str, UsageFacts] | None = None,
    keys: Mapping[str, KeyFacts] | None = None,
    lost_keys: Mapping[str, Mapping[str, str]] | None = None,
    today: date | None = None,
    fingerprint: bool = True,
) -> Plan:
    """The plan of the file, with what its sources returned, against the live state: what a
    fresh plan and a saved plan's recheck are both computed from (see compute_plan for
    `fingerprint`)."""
    return compute_plan(
        sourced.desired,
        live,
        desired_file=str(config.path),
        desired_hash=config.desired_hash,
        locate=config.locate_member,
        usage=usage,
        lost_keys=lost_keys,
        keys=keys,
        origins=sourced.origins,
        sources=sourced.snapshots,
        today=today,
        fingerprint=fingerprint,
    )


def recheck_saved_plan(
    saved: Plan,
    config: LoadedConfig,
    live: LiveState,
    usage: dict[str, UsageFacts] | None = None,
    keys: Mapping[str, KeyFacts] | None = None,
    sourced: Sourced | None = None,
    today: date | None = None,
) -> Plan:
    """The saved plan, recomputed from its inputs: fresh, and judged on its own changes.

    A plan file is only a claim. After the freshness check its inputs are the same as when it was
    made, so the planner must give the same hash; the recomputed plan's safety verdict is the one
    that counts, whatever the file says about itself.
    """
    fresh = plan_from(config, sourced or Sourced(config.desired), live, usage, keys, today=today)
    ensure_fresh(saved, config, fresh)
    expired_then = {n.line for n in saved.expiring if n.expired}
    expired_now = {n.line for n in fresh.expiring if n.expired}
    if fresh.plan_hash != saved.plan_hash and expired_now != expired_then:
        raise StalePlanError(
            "stale plan, nothing was sent: access expired since the plan was made"
            + "".join(f"\n  {line}" for line in sorted(expired_now - expired_then))
            + "\nRun `ideogram-org plan` again and review the new plan."
        )
    if fresh.plan_hash != saved.plan_hash and (saved.usage or fresh.usage):
        raise StalePlanError(
            "stale plan, nothing was sent: usage moved since the plan was made (a key or member "
            "judged idle then is not now, or the reverse)"
            + "".join(f"\n  {line}" for line in explain_differences(saved, fresh))
            + "\nRun `ideogram-org plan` again and review the new plan."
        )
    if fresh.plan_hash != saved.plan_hash:
        raise StalePlanError(
            "the plan file does not match what its own inputs give today (was it edited, or "
            "made by another version of ideogram-org?); nothing was sent. Run plan again."
        )
    return fresh


__all__ = ["ensure_fresh", "explain_differences", "plan_from", "recheck_saved_plan"]
