"""Merging what sources returned into the desired state, pure: one person, one role.

People are merged by the identity rule (`model/identity.py`). An entry of the file's own
`members:` wins over every source; among sources the highest role wins (OWNER over MEMBER), and
the first source to give that role is the one named. Each merged entry keeps its provenance, so
the plan says why a person is added or promoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pydantic
from pydantic import TypeAdapter

from ..config.models import DesiredState, Member
from ..config.source_models import FileSource, Source
from ..model.identity import Identity, identity
from ..model.sources import SourcedEntry, SourceSnapshot


@dataclass(frozen=True)
class SourceRead:
    """What one source of one organization returned."""

    organization: str
    source: Source
    entries: list[SourcedEntry]


@dataclass(frozen=True)
class Sourced:
    """The desired state with the sources' people in it, their provenance, the snapshots the
    plan carries, and entries that could not be used (reported, never guessed)."""

    desired: DesiredState
    origins: dict[str, list[str]] = field(default_factory=dict)
    snapshots: list[SourceSnapshot] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)


def origin_of(source: Source, entry: SourcedEntry) -> str:
    """Where a person came from, as the plan says it: `teams/design.yaml:14:9`, `ldap cn=...`."""
    if isinstance(source, FileSource):
        return f"{source.file.path}:{entry.where}" if entry.where else source.file.path
    return source.describe() + (f" {entry.where}" if entry.where else "")


_MEMBERS = TypeAdapter(list[Member])


def _row(entry: SourcedEntry, source: Source) -> dict[str, Any]:
    row: dict[str, Any] = {entry.kind: entry.value, "role": entry.role}
    expires = min((d for d in (entry.expires, source.expires) if d is not None), default=None)
    if expires is not None:
        row["expires"] = expires
    cost_center = entry.cost_center or source.cost_center
    if cost_center is not None:
        row["cost_center"] = cost_center
    return row


def _outranks(entry: SourcedEntry, source: Source, known: tuple[SourcedEntry, str, Source]) -> bool:
    """One person, one role: the highest wins; for the same role, the longest access (no expiry
    is the longest)."""
    if entry.role != known[0].role:
        return entry.role == "OWNER"

    def until(e: SourcedEntry, s: Source) -> date:
        found = [d for d in (e.expires, s.expires) if d is not None]
        return min(found) if found else date.max

    return until(entry, source) > until(known[0], known[2])


def _members(
    entries: list[tuple[SourcedEntry, Source]], organization: str, unusable: list[str]
) -> list[Member]:
    """The entries as member entries of the file, validated as the file's are, in one pass (a
    group of 100,000); an entry that fails is named in `unusable` and left out. A source's
    `expires` and `cost_center` go to each of its people (a team file's entry may give its own;
    the earlier expiry holds)."""
    rows = [_row(entry, source) for entry, source in entries]
    try:
        return _MEMBERS.validate_python(rows)
    except pydantic.ValidationError as exc:
        bad = {error["loc"][0] for error in exc.errors(include_url=False) if error["loc"]}
    for index in sorted(bad):
        entry = entries[int(index)][0]
        unusable.append(
            f"{organization}: {entry.kind} {entry.value[:80]!r} is not usable; left out"
        )
    return _MEMBERS.validate_python([row for i, row in enumerate(rows) if i not in bad])


def merge_sources(desired: DesiredState, reads: list[SourceRead]) -> Sourced:
    if not reads:
        return Sourced(desired)
    organizations = dict(desired.organizations)
    origins: dict[str, list[str]] = {}
    unusable: list[str] = []
    by_organization: dict[str, list[SourceRead]] = {}
    for read in reads:
        by_organization.setdefault(read.organization, []).append(read)
    for name, org_reads in by_organization.items():
        org = organizations[name]
        explicit: set[Identity] = {member.identity for member in org.members}
        merged: dict[Identity, tuple[SourcedEntry, str, Source]] = {}
        for read in org_reads:
            source = read.source
            plain = source.expires is None  # the usual case, 100,000 times: no expiry to weigh
            for entry in read.entries:
                key = identity(entry.kind, entry.value)
                if key in explicit:
                    continue  # the file's own entry wins
                known = merged.get(key)
                if known is None or (
                    entry.role == "OWNER" and known[0].role != "OWNER"
                    if plain
                    and entry.expires is None
                    and known[0].expires is None
                    and known[2].expires is None
                    else _outranks(entry, source, known)
                ):
                    merged[key] = (entry, origin_of(source, entry), source)
        kept = list(merged.values())
        members = _members([(entry, source) for entry, _, source in kept], name, unusable)
        if len(members) != len(kept):  # some were left out: keep each origin with its entry
            valid = {identity(m.identity_field[0], m.identity_field[1]) for m in members}
            kept = [k for k in kept if identity(k[0].kind, k[0].value) in valid]
        organizations[name] = org.model_copy(update={"members": [*org.members, *members]})
        origins[name] = [""] * len(org.members) + [origin for _, origin, _ in kept]
    snapshots = [
        SourceSnapshot.of(read.organization, read.source.describe(), read.entries) for read in reads
    ]
    return Sourced(
        desired.model_copy(update={"organizations": organizations}),
        origins,
        snapshots,
        unusable,
    )


def explain_source_changes(saved: list[SourceSnapshot], fresh: list[SourceSnapshot]) -> list[str]:
    """What each source says now that it did not when the plan was made, one line per person:
    `acme: ldap cn=owners: now lists email:x@acme.example (OWNER)`. DeepDiff compares them."""
    from deepdiff import DeepDiff

    def people(snapshots: list[SourceSnapshot]) -> dict[str, dict[str, str]]:
        return {f"{s.organization}: {s.source}": s.people() for s in snapshots}

    diff = DeepDiff(people(saved), people(fresh), view="tree")
    lines: list[str] = []
    for change in diff.get("dictionary_item_added", []):
        where = change.path(output_format="list")
        lines.append(
            f"{where[0]}: a source now read"
            if len(where) == 1
            else f"{where[0]}: now lists {where[1]} ({change.t2})"
        )
    for change in diff.get("dictionary_item_removed", []):
        where = change.path(output_format="list")
        lines.append(
            f"{where[0]}: a source no longer read"
            if len(where) == 1
            else f"{where[0]}: no longer lists {where[1]}"
        )
    for change in diff.get("values_changed", []):
        where = change.path(output_format="list")
        lines.append(f"{where[0]}: {where[1]} is now {change.t2}, was {change.t1}")
    return sorted(lines)
