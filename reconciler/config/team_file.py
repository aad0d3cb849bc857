"""A team's own file, named by a `file` source: a `members:` list in the same form as an
organization's, held to the scope the organization's file gives it (the roles it may grant,
the email domains it may name, how many entries it may hold). Every problem is located in the
team file, FILE:LINE:COL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pydantic

from ..defaults import MAX_FILE_BYTES
from ..errors import ConfigError, Problem, ReconcilerError
from ..safe_files import read_bytes
from .loader import _validation_problems
from .models import DesiredState, Member, TeamFile
from .source_models import FileSource
from .yaml_source import parse_yaml


@dataclass(frozen=True)
class TeamEntry:
    member: Member
    line: int
    column: int


def team_file_path(source: FileSource, config_path: Path) -> Path:
    path = Path(source.file.path)
    return path if path.is_absolute() else config_path.resolve().parent / path


def _days(duration: str | None) -> int | None:
    return int(duration[:-1]) if duration else None


def _duration_problems(
    entries: list[TeamEntry],
    filename: str,
    cap: int,
    today: date,
    expires_at: list[tuple[int, int]],
) -> list[Problem]:
    """Entries of a file with a max_duration: each needs an `expires` at most `cap` days ahead."""
    latest = today + timedelta(days=cap)
    problems = []
    for entry, (line, column) in zip(entries, expires_at, strict=True):
        member = entry.member
        if member.expires is None:
            problems.append(
                Problem(
                    filename,
                    entry.line,
                    entry.column,
                    f"{member.label} has no expires: this file's max_duration ({cap}d) needs "
                    f"one, at most {latest.isoformat()}",
                )
            )
        elif member.expires > latest:
            problems.append(
                Problem(
                    filename,
                    line,
                    column,
                    f"{member.label} expires {member.expires.isoformat()}, beyond this file's "
                    f"max_duration ({cap}d from {today.isoformat()}: at most "
                    f"{latest.isoformat()})",
                )
            )
    return problems


def _scope_problems(
    source: FileSource,
    entries: list[TeamEntry],
    filename: str,
    role_at: list[tuple[int, int]],
    cap: int | None = None,
    today: date | None = None,
    expires_at: list[tuple[int, int]] | None = None,
) -> list[Problem]:
    spec = source.file
    problems: list[Problem] = []
    for entry, (line, column) in zip(entries, role_at, strict=True):
        member = entry.member
        if member.role not in spec.may_grant:
            problems.append(
                Problem(
                    filename,
                    line,
                    column,
                    f"{member.label} is listed as {member.role}, which this file may not grant "
                    f"(may_grant: {', '.join(spec.may_grant)})",
                )
            )
        if spec.domains:
            domain = (member.email or "").rpartition("@")[2].lower()
            if member.email is None or domain not in {d.lower() for d in spec.domains}:
                problems.append(
                    Problem(
                        filename,
                        entry.line,
                        entry.column,
                        f"{member.label} is not an email in {', '.join(spec.domains)}, the "
                        "domains this file may name",
                    )
                )
    if cap is not None and today is not None and expires_at is not None:
        problems += _duration_problems(entries, filename, cap, today, expires_at)
    if spec.max_members is not None and len(entries) > spec.max_members:
        first = entries[spec.max_members]
        problems.append(
            Problem(
                filename,
                first.line,
                first.column,
                f"the file lists {len(entries)} members, more than its max_members "
                f"({spec.max_members}): this entry is the first past the limit",
            )
        )
    return problems


def load_team_file(
    source: FileSource, config_path: Path, today: date | None = None
) -> list[TeamEntry]:
    """The entries of a team file, or ConfigError with every problem, located in it. An expiry
    cap is judged against `today` (UTC, by default this machine's)."""
    path = team_file_path(source, config_path)
    given = Path(source.file.path)
    filename = str(given if given.is_absolute() else config_path.parent / given)
    try:
        raw = read_bytes(path, what="team file", max_bytes=MAX_FILE_BYTES, follow_links=True)
        text = raw.decode("utf-8")
    except (ReconcilerError, UnicodeDecodeError) as exc:
        reason = str(exc) if isinstance(exc, ReconcilerError) else "it is not UTF-8 text"
        raise ConfigError(
            [Problem(filename, 1, 1, f"cannot read the team file: {reason}")]
        ) from None
    data, positions = parse_yaml(text, filename)
    try:
        team = TeamFile.model_validate(data if data is not None else {})
    except pydantic.ValidationError as exc:
        raise ConfigError(_validation_problems(exc, data, positions, filename)) from None
    entries = [
        TeamEntry(member, *positions.of_value(("members", index)))
        for index, member in enumerate(team.members)
    ]
    role_at = [
        positions.of_value(("members", index, "role"))
        if isinstance(data, dict) and "role" in data["members"][index]
        else (entries[index].line, entries[index].column)
        for index in range(len(entries))
    ]
    caps = [c for c in (_days(source.file.max_duration), _days(team.max_duration)) if c]
    expires_at = [
        positions.of_value(("members", index, "expires"))
        if entries[index].member.expires is not None
        else (entries[index].line, entries[index].column)
        for index in range(len(entries))
    ]
    problems = _scope_problems(
        source,
        entries,
        filename,
        role_at,
        min(caps) if caps else None,
        today or datetime.now(timezone.utc).date(),
        expires_at,
    )
    if problems:
        raise ConfigError(problems)
    return entries


def team_file_problems(desired: DesiredState, config_path: Path) -> list[Problem]:
    """What `validate` says of every team file the desired file names."""
    problems: list[Problem] = []
    for org in desired.organizations.values():
        for source in org.sources:
            if isinstance(source, FileSource):
                try:
                    load_team_file(source, config_path)
                except ConfigError as exc:
                    problems += exc.problems
    return problems
