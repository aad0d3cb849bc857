"""Whether a saved plan still holds: the file and the live organization must be what it saw.

deepdiff explains what moved between the live state a plan saw and the live state now, so a
refused plan says who joined, left or changed role, not just "stale".
"""

from __future__ import annotations

from ..config.loader import LoadedConfig
from ..errors import StalePlanError
from ..live_state import LiveState, Snapshot
from .plan import Plan
from .planner import compute_plan


def explain_differences(old: Snapshot, new: Snapshot, limit: int = 20) -> list[str]:
    """What changed between two live snapshots, one line per difference, for people to read."""
    from deepdiff import DeepDiff

    diff = DeepDiff(old, new, view="tree")
    lines: list[str] = []

    def member_label(org: str, user_id: str, *snapshots: Snapshot) -> str:
        for snapshot in snapshots:
            member = snapshot.get(org, {}).get("members", {}).get(user_id)
            if member:
                return member.get("email") or member.get("handle") or user_id
        return user_id

    for kind, levels in diff.items():
        for level in levels:
            path = level.path(output_format="list")
            org = path[0] if path else "?"
            area = path[1] if len(path) > 1 else ""
            item = path[2] if len(path) > 2 else ""
            if area == "members" and kind == "dictionary_item_added" and len(path) == 3:
                lines.append(f"{org}: {member_label(org, item, new)} joined as {level.t2.get('role')}")
            elif area == "members" and kind == "dictionary_item_removed" and len(path) == 3:
                lines.append(f"{org}: {member_label(org, item, old)} left (was {level.t1.get('role')})")
            elif area == "members" and len(path) == 4:
                lines.append(f"{org}: {member_label(org, item, new, old)}: {path[3]} {level.t1} -> {level.t2}")
            elif area == "keys" and kind == "dictionary_item_added":
                lines.append(f"{org}: key {item} appeared ({level.t2})")
            elif area == "keys" and kind == "dictionary_item_removed":
                lines.append(f"{org}: key {item} is gone")
            elif area == "keys":
                lines.append(f"{org}: key {item}: {level.t1} -> {level.t2}")
            elif kind == "dictionary_item_added" and len(path) == 1:
                lines.append(f"{org}: organization now read as well")
            elif kind == "dictionary_item_removed" and len(path) == 1:
                lines.append(f"{org}: organization no longer read")
            else:
                lines.append(f"{'.'.join(map(str, path))}: {level.t1!r} -> {level.t2!r}")
    lines.sort()
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more difference(s)"]
    return lines


def ensure_fresh(saved: Plan, config: LoadedConfig, live_fingerprint: str, live_snapshot: Snapshot) -> None:
    """Refuse a saved plan whose desired file or live organization moved on since it was made."""
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
    ensure_fresh(saved, config, live.fingerprint(), live.snapshot())
    fresh = compute_plan(config.desired, live, desired_file=str(config.path), desired_hash=config.sha256,
                         locate=config.locate_member)
    if fresh.plan_hash != saved.plan_hash:
        raise StalePlanError("the plan file does not match what its own inputs give today (was it edited, or "
                             "made by another version of ideogram-org?); nothing was sent. Run plan again.")
    return fresh.model_copy(update={"live_snapshot": live.snapshot()})


__all__ = ["ensure_fresh", "explain_differences", "recheck_saved_plan"]
