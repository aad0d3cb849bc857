"""Reading an organization's sources before it is planned, with the guards that keep a broken
directory from emptying it: a source that fails stops the plan (nothing is sent); a source that
returns nobody is refused unless its organization's `source_policy` allows it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..config.loader import LoadedConfig
from ..config.source_models import Source, SourcePolicy
from ..planning.sources import Sourced, SourceRead, merge_sources
from ..sources.base import SourceError
from ..sources.registry import source_for

MAX_SKIPPED_SHOWN = 5  # of one source's unusable entries, named one by one


Target = tuple[str, SourcePolicy, list[Source]]  # an organization, its source policy, sources


def _read(targets: list[Target], config_path: Path) -> tuple[list[SourceRead], list[str]]:
    """What each source returned, and the entries left out (said, never guessed)."""
    reads: list[SourceRead] = []
    notes: list[str] = []
    for name, policy, sources in targets:
        for source in sources:
            reader = source_for(source, config_path)
            answer = reader.read()  # SourceError or ConfigError: the plan fails, one line
            if not answer.entries and not policy.allow_empty:
                raise SourceError(
                    reader.describe(),
                    f"returned nobody for {name}: refused, so a broken directory never empties "
                    "the organization (set source_policy: {allow_empty: true} if that is meant)",
                )
            reads.append(SourceRead(name, source, answer.entries))
            shown = answer.skipped[:MAX_SKIPPED_SHOWN]
            more = len(answer.skipped) - len(shown)
            notes += [f"{name}: {reader.describe()}: {line}; left out" for line in shown]
            if more:
                notes.append(f"{name}: {reader.describe()}: and {more} more entries left out")
    return reads, notes


def read_sources(config: LoadedConfig, only: Iterable[str] = ()) -> Sourced:
    """The desired state with what every source of the selected organizations returned."""
    wanted = set(only)
    targets: list[Target] = [
        (name, org.source_policy or SourcePolicy(), list(org.sources))
        for name, org in config.desired.organizations.items()
        if org.sources and (not wanted or name in wanted)
    ]
    if not targets:
        return Sourced(config.desired)
    reads, notes = _read(targets, config.path)
    merged = merge_sources(config.desired, reads)
    return Sourced(merged.desired, merged.origins, merged.snapshots, [*notes, *merged.unusable])
