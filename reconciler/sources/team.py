"""A `file` source: a team's own members list, within the scope the desired file grants it."""

from __future__ import annotations

from pathlib import Path

from ..config.source_models import FileSource
from ..config.team_file import load_team_file
from ..model.sources import SourcedEntry
from .base import MemberSource, SourceAnswer


class TeamFileSource(MemberSource):
    def __init__(self, source: FileSource, config_path: Path) -> None:
        self.source, self.config_path = source, config_path

    def describe(self) -> str:
        return self.source.describe()

    def read(self) -> SourceAnswer:
        entries = []
        for entry in load_team_file(self.source, self.config_path):  # ConfigError, located
            member = entry.member
            kind, value = member.identity_field
            entries.append(
                SourcedEntry(
                    kind,
                    value,
                    member.role,
                    f"{entry.line}:{entry.column}",
                    member.expires,
                    member.cost_center,
                )
            )
        return SourceAnswer(entries)
