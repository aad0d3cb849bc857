"""Rotation, pure: which keys are due for a successor (phase one), which predecessors are due to
go (phase two), and where every rotating key stands.

A key whose `rotate.every` has passed since its creation (the server's creation time, on the
server's clock), or that `--replace-key` names, gets a `key.rotate`: the successor is created and
delivered, the predecessor bound as retiring. A later plan deactivates the predecessor once the
overlap has passed, or earlier when usage shows it idle for a day while the successor is used;
that deactivation is an ordinary one: shown, irreversible, counted against
max_key_deactivations.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..config.models import ApiKeySpec, Organization
from ..model.changes import Change, KeyDeactivate, KeyRotate, UnmanagedKey, is_scheduled_rotation
from ..model.live import LiveKey, LiveOrganization
from ..model.plan import Plan, hash_changes
from ..model.rotation import IDLE_HOURS, REPLACE_REASON, KeyFacts, Phase, Retiring, RotationNote
from ..model.safety import check_safety
from ..model.timestamps import parse_timestamp


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def sink_names(spec: ApiKeySpec) -> list[str]:
    return [entry.describe() for entry in spec.deliver_to]


class _Rotations:
    def __init__(self, name: str, live: LiveOrganization, facts: KeyFacts) -> None:
        self.name, self.live, self.facts = name, live, facts
        self.org_id = live.organization_id
        self.notes: list[RotationNote] = []

    def note(self, label: str, key_id: str, phase: Phase, when: datetime, message: str) -> None:
        self.notes.append(
            RotationNote(
                organization=self.name,
                key_label=label,
                key_id=key_id,
                phase=phase,
                when=_stamp(when),
                message=message,
            )
        )

    def successor_due(self, label: str, spec: ApiKeySpec, key: LiveKey) -> KeyRotate | None:
        """Phase one for a listed ACTIVE key, or a note of when it comes."""
        if key.status != "ACTIVE":
            return None
        if any(r.label == label and r.successor == key.api_key_id for r in self._retiring()):
            return None  # its predecessor is still retiring: one rotation at a time
        overlap = spec.rotate.overlap_seconds if spec.rotate else 0
        if label in self.facts.replace:
            reason = REPLACE_REASON
        elif spec.rotate is None:
            return None
        else:
            created = parse_timestamp(key.creation_time)
            if created is None:
                self.note(
                    label,
                    key.api_key_id,
                    "scheduled",
                    self.facts.now,
                    "the server gives no creation time for this key: its rotation cannot be "
                    "scheduled (use --replace-key)",
                )
                return None
            due = created + timedelta(seconds=spec.rotate.every_seconds)
            if due > self.facts.now:
                self.note(
                    label,
                    key.api_key_id,
                    "scheduled",
                    due,
                    f"next rotation due {_stamp(due)} (every {spec.rotate.every})",
                )
                return None
            reason = f"created {_stamp(created)}, due every {spec.rotate.every}"
        retire = self.facts.now + timedelta(seconds=overlap)
        self.note(
            label,
            key.api_key_id,
            "due",
            retire,
            f"a successor is created and delivered now; the predecessor retires about "
            f"{_stamp(retire)}",
        )
        return KeyRotate(
            key_label=label,
            key_id=key.api_key_id,
            overlap_seconds=overlap,
            deliver_to=sink_names(spec),
            reason=reason,
            organization=self.name,
            organization_id=self.org_id,
        )

    def _retiring(self) -> list[Retiring]:
        return list(self.facts.retiring.values())

    def predecessor_due(self, retiring: Retiring) -> KeyDeactivate | None:
        """Phase two: the predecessor's deactivation once its time has come, else a note."""
        if retiring.until <= self.facts.now:
            why = f"rotated: its successor {retiring.successor} took over; the overlap ended " + (
                _stamp(retiring.until)
            )
        elif retiring.idle_while_successor_used:
            why = (
                f"rotated: unused for {IDLE_HOURS} hours while its successor "
                f"{retiring.successor} was used (the overlap would end {_stamp(retiring.until)})"
            )
        else:
            self.note(
                retiring.label,
                retiring.key_id,
                "retiring",
                retiring.until,
                f"the predecessor stays ACTIVE beside {retiring.successor} until "
                f"{_stamp(retiring.until)}; an apply after that deactivates it",
            )
            return None
        self.note(retiring.label, retiring.key_id, "retire", self.facts.now, why)
        return KeyDeactivate(
            key_id=retiring.key_id,
            key_label=retiring.label,
            reason=why,
            retires=True,
            organization=self.name,
            organization_id=self.org_id,
        )


def plan_rotations(
    name: str,
    desired: Organization,
    live: LiveOrganization,
    facts: KeyFacts,
    changes: list[Change],
    unmanaged: list[UnmanagedKey],
) -> tuple[list[Change], list[UnmanagedKey], list[RotationNote]]:
    """The changes and unmanaged keys with rotation applied, and the notes of where each
    rotating key stands. A retiring predecessor is not an unmanaged key (nor pruned): it is
    deactivated by phase two, with its reason."""
    rotations = _Rotations(name, live, facts)
    live_keys = {k.api_key_id: k for k in live.keys}
    planned = {c.key_label for c in changes if isinstance(c, KeyDeactivate) and c.key_label}
    for label, spec in desired.api_keys.items():
        key = live_keys.get(spec.id) if spec.id is not None else None
        if key is None or spec.status != "ACTIVE" or label in planned:
            continue
        rotate = rotations.successor_due(label, spec, key)
        if rotate is not None:
            changes.append(rotate)
    retiring = {
        key_id: found
        for key_id, found in facts.retiring.items()
        if key_id in live_keys and live_keys[key_id].status == "ACTIVE"
    }
    kept_unmanaged = [k for k in unmanaged if k.key_id not in retiring]
    changes = [
        c
        for c in changes
        if not (isinstance(c, KeyDeactivate) and c.key_label is None and c.key_id in retiring)
    ]
    for found in retiring.values():
        retire = rotations.predecessor_due(found)
        if retire is not None:
            changes.append(retire)
    return changes, kept_unmanaged, rotations.notes


def rotation_phases(plan: Plan) -> Plan:
    """The plan cut down to what the file's rotation schedule asks for (successors due by age,
    predecessors whose overlap ended), with its own hash and its safety judged afresh on what it
    keeps: what the scheduled run carries out."""
    return cut_plan(plan, [c for c in plan.changes if is_scheduled_rotation(c)])


def cut_plan(plan: Plan, kept: list[Change]) -> Plan:
    """`plan` cut down to `kept` (key changes only): its own hash, and its safety judged afresh
    on what it holds (no removal; max_key_deactivations counts every deactivation kept)."""
    summaries = [
        summary.model_copy(
            update={
                "removals": 0,
                "owners_after": summary.owners_before,
                "key_deactivations": sum(
                    1
                    for c in kept
                    if isinstance(c, KeyDeactivate) and c.organization == summary.name
                ),
            }
        )
        for summary in plan.organizations
    ]
    return plan.model_copy(
        update={
            "changes": kept,
            "blocked": [],
            "organizations": summaries,
            "plan_hash": hash_changes(kept, plan.sources),
            "violations": check_safety(summaries),
        }
    )
