"""Loading the desired-state file: YAML text -> validated `DesiredState`, or every problem at once.

ruamel.yaml gives a line and column for every node; pydantic validates the plain data; each pydantic
error's location is walked back through the YAML tree, so every problem reads `FILE:LINE:COL:
message`.
A valid file in the plain block style is read by `fast_yaml` instead, forty times faster; a file it
cannot read, or one with any problem, goes through ruamel, so problems read exactly the same.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import os
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pydantic
import pydantic.dataclasses
import pydantic.fields
from pydantic import BaseModel

from ..defaults import MAX_FILE_BYTES
from ..errors import BindingConflictError, ConfigError, Problem, ReconcilerError, UsageError
from ..model.identity import IDENTIFIER_FIELDS, Identity, identity, matches_glob, normalise_all
from ..safe_files import read_bytes
from .fast_yaml import ItemPositions, read_simple_yaml
from .models import EMAILS_CHECKED, DesiredState, Member, members_of_plain_emails, plain_emails
from .yaml_source import Path_, Positions, parse_yaml


@dataclass(frozen=True)
class LoadedConfig:
    """A valid desired-state file, with what later steps need to know about its source."""

    path: Path
    desired: DesiredState
    sha256: str  # of the file's bytes: the file is read again once this changes
    member_positions: dict[str, Sequence[tuple[int, int]]] = field(
        default_factory=dict
    )  # by organization
    warnings: tuple[Problem, ...] = ()  # located, like errors, but the file is still valid
    max_bytes: int = MAX_FILE_BYTES  # the size limit it was loaded under
    # key ids the state store binds to labels the file lists without one: (org, label) -> id
    bindings: tuple[tuple[str, str, str], ...] = ()

    @functools.cached_property
    def desired_hash(self) -> str:
        """Of what the file says (not its comments): a saved plan is stale once it changes.
        Made when a plan first needs it, not at load: `validate` never does, and at 100,000
        members the hash is a tenth of the load."""
        return desired_state_hash(self.desired)

    def locate_member(self, organization: str, index: int) -> tuple[int, int]:
        """Line and column of an organization's member entry (1-based), for errors found after
        loading."""
        positions = self.member_positions.get(organization, [])
        return positions[index] if 0 <= index < len(positions) else (1, 1)


# --- pydantic errors -> located problems ---------------------------------------------------------


# an unknown field, as a model and as a dataclass (Member) say it
_UNKNOWN_FIELD = ("extra_forbidden", "unexpected_keyword_argument")


def _fields(model: type[Any]) -> dict[str, pydantic.fields.FieldInfo]:
    """The fields of a model or of a pydantic dataclass."""
    fields: dict[str, pydantic.fields.FieldInfo] = getattr(model, "__pydantic_fields__", {})
    return fields


def _model_in(annotation: Any) -> type[Any] | None:
    if isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or pydantic.dataclasses.is_pydantic_dataclass(annotation)
    ):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(loc: Path_) -> type[Any] | None:
    """The model whose fields are valid at a data path: used to suggest a misspelt field."""
    model: type[Any] | None = DesiredState
    index = 0
    while index < len(loc) and model is not None:
        field = _fields(model).get(loc[index])
        if field is None:
            return None
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        index += 1
        if origin in (list, dict) and index < len(loc):
            index += 1  # skip the list index or the mapping key
        model = _model_in(annotation)
    return model


def _data_path(loc: Path_, data: Any) -> Path_:
    """Keep the part of a pydantic location that exists in the data (drops union tags)."""
    path: list[Any] = []
    node = data
    for element in loc:
        if isinstance(node, dict) and element in node:
            node = node[element]
        elif isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
            node = node[element]
        else:
            break
        path.append(element)
    return tuple(path)


_FRIENDLY = {
    "max_removals": "max_removals must be a whole number or a percentage such as '25%'",
    "version": "unsupported version; this tool reads version 1",
}


def _describe(path: Path_) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "the file"


def _validation_problems(
    exc: pydantic.ValidationError, data: Any, positions: Positions, filename: str
) -> list[Problem]:
    problems: dict[Path_, Problem] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        path = _data_path(loc, data)
        if kind in _UNKNOWN_FIELD:
            name = loc[-1]
            line, col = positions.of_key(path)
            message = f"unknown field {name!r}"
            model = _model_at(loc[:-1])
            if model is not None:
                names = list(_fields(model))
                close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
                if close:
                    message += f"; did you mean {close[0]!r}?"
                else:
                    message += f" (expected one of: {', '.join(names)})"
        elif kind == "missing":
            line, col = positions.of_value(path)
            where = _describe(path)
            message = f"missing required field {loc[-1]!r}" + (f" in {where}" if path else "")
        else:
            line, col = positions.of_value(path)
            message = _value_message(error, loc, path)
        problems.setdefault(
            loc if kind in _UNKNOWN_FIELD else path, Problem(filename, line, col, message)
        )
    return list(problems.values())


def _value_message(error: Any, loc: tuple[Any, ...], path: Path_) -> str:
    """What a value that failed validation is told, in the words of the file, not of pydantic."""
    kind = error["type"]
    field = path[-1] if path else None
    text = error["msg"].removeprefix("Value error, ")
    if field in _FRIENDLY and len(loc) > len(path):  # a union's alternatives all failed
        return _FRIENDLY[field]
    if field == "version":
        return f"unsupported version {error.get('input')!r}; this tool reads version 1"
    if loc and loc[-1] == "[key]":
        return f"the name {loc[-2]!r} in {_describe(path[:-1])}: {text}"
    if kind.startswith(("value_error", "assertion_error")) or not path:
        located = path and isinstance(path[-1], str) and "valid email" not in text
        return f"{_describe(path)}: {text}" if located else text
    got = error.get("input")
    message = f"{_describe(path)}: {text}"
    if not isinstance(got, (dict, list)):
        message += f", got {got!r}"
    return message


# --- checks that span entries ---------------------------------------------------------------------


def _member_identity(entry: Any) -> Identity | None:
    if not isinstance(entry, dict):
        return None
    found = None
    for name in IDENTIFIER_FIELDS:
        value = entry.get(name)
        if isinstance(value, str):
            if found is not None:
                return None
            found = identity(name, value)
    return found


def _iter_organizations(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    orgs = data.get("organizations") if isinstance(data, dict) else None
    if isinstance(orgs, dict):
        for name, org in orgs.items():
            if isinstance(org, dict):
                yield name, org


def _cross_entry_problems(
    data: Any,
    positions: Positions,
    filename: str,
    broken: frozenset[str] = frozenset(),
    same_person: bool = True,
) -> list[Problem]:
    """Problems only the whole file shows. The owner count is not judged in an organization
    whose member entries already failed (`broken`): a typo such as `rol: OWNER` is the problem
    to show, not the min_owners it would cause. `same_person=False` leaves out one person listed
    twice, for a caller that checks the validated entries instead (`_names_someone_twice`)."""
    problems: list[Problem] = []
    top_policy = data.get("policy") if isinstance(data, dict) else None
    key_owners: dict[str, tuple[str, str]] = {}
    sink_owners: dict[tuple[str, ...], tuple[str, str]] = {}
    for org_name, org in _iter_organizations(data):
        members = org.get("members")
        if isinstance(members, list) and same_person:
            problems += _same_person_twice(org_name, members, positions, filename)
        if isinstance(members, list) and org_name not in broken:
            problems += _unreachable_min_owners(org_name, org, top_policy, positions, filename)
        keys = org.get("api_keys")
        if isinstance(keys, dict):
            problems += _key_ids_bound_twice(org_name, keys, key_owners, positions, filename)
            problems += _sinks_shared(org_name, keys, sink_owners, positions, filename)
    return problems


def _sink_identity(entry: Any) -> tuple[str, ...] | None:
    """Where a deliver_to entry writes, as two entries naming one place compare equal: GitHub
    secret names are case-insensitive. A `file` sink is shared on purpose (a line per key)."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    ((kind, target),) = entry.items()
    if not isinstance(target, dict):
        return None
    if kind == "github_secret":
        scope = target.get("repository") or target.get("organization")
        return (
            "github_secret",
            str(scope).lower(),
            str(target.get("environment") or ""),
            str(target.get("name")).upper(),
        )
    if kind == "age_file" and isinstance(target.get("path"), str):
        return ("age_file", os.path.normpath(target["path"]))
    return None


def _sinks_shared(
    org_name: str,
    keys: dict[str, Any],
    sink_owners: dict[tuple[str, ...], tuple[str, str]],
    positions: Positions,
    filename: str,
) -> list[Problem]:
    """Two keys delivered to one GitHub secret or one age file: each would overwrite the other,
    and a consumer would hold whichever came last."""
    problems: list[Problem] = []
    for label, spec in keys.items():
        sinks = spec.get("deliver_to") if isinstance(spec, dict) else None
        for index, entry in enumerate(sinks if isinstance(sinks, list) else []):
            where = _sink_identity(entry)
            if where is None:
                continue
            if where not in sink_owners:
                sink_owners[where] = (org_name, label)
                continue
            first_org, first_label = sink_owners[where]
            path = ("organizations", org_name, "api_keys", label, "deliver_to", index)
            line, col = positions.of_value(path)
            problems.append(
                Problem(
                    filename,
                    line,
                    col,
                    f"key {label!r} is delivered where key {first_label!r} (organization "
                    f"{first_org!r}) already is: one {where[0]} holds one key's secret",
                )
            )
    return problems


def _same_person_twice(
    org_name: str, members: list[Any], positions: Positions, filename: str
) -> list[Problem]:
    problems: list[Problem] = []
    org_path = ("organizations", org_name)
    seen: dict[Identity, int] = {}
    for index, entry in enumerate(members):
        key = _member_identity(entry)
        if key is None:
            continue
        if key not in seen:
            seen[key] = index
            continue
        first = members[seen[key]]
        first_line, first_col = positions.of_value((*org_path, "members", seen[key]))
        line, col = positions.of_value((*org_path, "members", index))
        message = (
            f"member {key[0]} {entry[key[0]]!r} is the same person as {key[0]} "
            f"{first[key[0]]!r} at {filename}:{first_line}:{first_col} in organization "
            f"{org_name!r}: list each person once"
        )
        problems.append(Problem(filename, line, col, message))
    return problems


def _names_someone_twice(members: list[Member]) -> bool:
    """Whether two validated entries are one person (what `_same_person_twice` finds, without
    where): all entries named by email, as nearly always, are compared in one pass."""
    emails = [member.email for member in members]
    keys: list[str] | list[Identity] = (
        [member.identity for member in members]
        if None in emails
        else normalise_all("email", cast(list[str], emails))
    )
    return len(set(keys)) != len(keys)


def _key_ids_bound_twice(
    org_name: str,
    keys: dict[str, Any],
    key_owners: dict[str, tuple[str, str]],
    positions: Positions,
    filename: str,
) -> list[Problem]:
    problems: list[Problem] = []
    for label, spec in keys.items():
        key_id = spec.get("id") if isinstance(spec, dict) else None
        if not isinstance(key_id, str):
            continue
        if key_id not in key_owners:
            key_owners[key_id] = (org_name, label)
            continue
        first_org, first_label = key_owners[key_id]
        line, col = positions.of_value(("organizations", org_name, "api_keys", label, "id"))
        message = (
            f"key id {key_id!r} is bound to two labels: {first_label!r} "
            f"(organization {first_org!r}) and {label!r}"
        )
        problems.append(Problem(filename, line, col, message))
    return problems


def _role_of(entry: Any) -> Any:
    """An entry's role, as a mapping or as a validated entry (the fast reader's) gives it."""
    if isinstance(entry, Member):
        return entry.role
    return entry.get("role") if isinstance(entry, dict) else None


def _unreachable_min_owners(
    org_name: str, org: dict[str, Any], top_policy: Any, positions: Positions, filename: str
) -> list[Problem]:
    """min_owners must be reachable by the owners the file lists."""
    org_path = ("organizations", org_name)
    owners = sum(1 for entry in org["members"] if _role_of(entry) == "OWNER")
    min_owners, min_path = 1, None
    for policy, path in ((top_policy, ("policy",)), (org.get("policy"), (*org_path, "policy"))):
        value = policy.get("min_owners") if isinstance(policy, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            min_owners, min_path = value, (*path, "min_owners")
    if owners >= min_owners:
        return []
    line, col = positions.of_value(min_path) if min_path else positions.of_key(org_path)
    message = (
        f"organization {org_name!r} lists {owners} OWNER(s) but min_owners is {min_owners}: "
        f"the plan could never be safe"
    )
    return [Problem(filename, line, col, message)]


def _source_at(text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    source = lines[line - 1][col - 1 :] if 0 < line <= len(lines) else ""
    return source.split("#", 1)[0].strip()


def _is_version_one(version: Any, text: str, at: tuple[int, int]) -> bool:
    """The integer 1 written as `1`: not 1.0, 0x1, +1, !!float 1 or "1"."""
    return type(version) is int and version == 1 and _source_at(text, *at) == "1"


def load_text(text: str, filename: str) -> DesiredState:
    return _load(text, filename)[0]


MemberPositions = dict[
    str, Sequence[tuple[int, int]]
]  # organization -> (line, column) of each member entry


def _load(source: str | bytes, filename: str) -> tuple[DesiredState, MemberPositions]:
    """The fast reader when it can take the file and the file is valid; otherwise ruamel, whose
    located problems are the only ones a user ever sees. Given the file's bytes, its text is held
    only while a reader reads it: as a str it is up to four times the file (120 MB for 1,000,000
    members), and it is not needed while the entries are validated."""
    fast = _load_fast(source, filename)
    if fast is not None:
        return fast
    desired, positions = _load_located(_text(source, filename), filename)
    return desired, {
        name: [
            positions.of_value(("organizations", name, "members", index))
            for index in range(len(org.members))
        ]
        for name, org in desired.organizations.items()
    }


def _text(source: str | bytes, filename: str) -> str:
    """The file's text; bytes that are not UTF-8 are a problem of the file."""
    if isinstance(source, str):
        return source
    try:
        return source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(filename, 1, 1, f"the file is not UTF-8 text ({exc.reason})")]
        ) from None


_MEMBER_LIST = pydantic.TypeAdapter(list[Member])
MEMBER_CHUNK = 10_000  # entries validated at once


class _MembersValidated:
    """Handed to the fast reader: each organization's member mappings replaced by validated
    entries as they are read, a chunk at a time, so the mappings of a whole file are never held
    at once (1,000,000 of them are 230 MB, and reading them all before validating any left that
    much memory to the process). A chunk's emails are checked at once when they are all plain
    addresses, as nearly always. Raises pydantic.ValidationError."""

    def __init__(self) -> None:
        self.done: dict[tuple[Any, ...], int] = {}  # entries validated so far, by list

    def __call__(self, path: tuple[Any, ...], items: list[Any]) -> None:
        if len(path) != 3 or path[0] != "organizations" or path[2] != "members":
            return
        for start in range(self.done.get(path, 0), len(items), MEMBER_CHUNK):
            chunk = slice(start, min(start + MEMBER_CHUNK, len(items)))
            entries = items[chunk]
            emails = [e["email"] for e in entries if isinstance(e, dict) and "email" in e]
            if not plain_emails(emails):
                items[chunk] = _MEMBER_LIST.validate_python(entries)
            elif len(emails) == len(entries) and max(map(len, entries), default=1) == 1:
                items[chunk] = members_of_plain_emails(emails)  # each entry {email: ...} alone
            else:
                items[chunk] = _MEMBER_LIST.validate_python(entries, context=EMAILS_CHECKED)
        self.done[path] = len(items)


def _load_fast(source: str | bytes, filename: str) -> tuple[DesiredState, MemberPositions] | None:
    try:
        read = read_simple_yaml(_text(source, filename), _MembersValidated())
    except pydantic.ValidationError:
        return None  # the located reader says where
    if read is None:
        return None
    data, items = read
    version = data.get("version", 1)
    if (
        type(version) is not int or version != 1
    ):  # the fast reader reads an int only from plain decimal
        return None
    if _cross_entry_problems(data, Positions(), "", same_person=False):
        return None  # the located reader says where
    try:
        desired = DesiredState.model_validate(data)  # takes the validated entries as they are
    except pydantic.ValidationError:
        return None
    if any(_names_someone_twice(org.members) for org in desired.organizations.values()):
        return None
    return desired, {
        name: items.get(("organizations", name, "members"), ItemPositions())
        for name in desired.organizations
    }


def _load_located(text: str, filename: str) -> tuple[DesiredState, Positions]:
    data, positions = parse_yaml(text, filename)
    if not isinstance(data, dict):
        line, col = positions.of_value(())
        raise ConfigError(
            [
                Problem(
                    filename,
                    line,
                    col,
                    "the file must be a mapping with 'version' and 'organizations'",
                )
            ]
        )
    version = data.get("version", None)
    if "version" in data and not _is_version_one(version, text, positions.of_value(("version",))):
        line, col = positions.of_value(("version",))
        raise ConfigError(
            [
                Problem(
                    filename,
                    line,
                    col,
                    f"unsupported version {_source_at(text, line, col)}; "
                    f"this tool reads version 1 (written as 1)",
                )
            ]
        )
    problems: list[Problem] = []
    desired: DesiredState | None = None
    broken: frozenset[str] = frozenset()  # organizations with a member entry that failed
    try:
        desired = DesiredState.model_validate(data)
    except pydantic.ValidationError as exc:
        problems.extend(_validation_problems(exc, data, positions, filename))
        broken = frozenset(
            str(error["loc"][1])
            for error in exc.errors(include_url=False)
            if len(error["loc"]) > 2
            and error["loc"][:1] == ("organizations",)
            and error["loc"][2] == "members"
        )
    problems.extend(_cross_entry_problems(data, positions, filename, broken))
    if problems or desired is None:
        raise ConfigError(problems)
    return desired, positions


def _listed_but_ignored(
    desired: DesiredState, members: MemberPositions, filename: str
) -> list[Problem]:
    """Entries that ignore_members also matches: the entry is then never acted on, which
    surprises."""
    warnings = []
    for name, org in desired.organizations.items():
        patterns = desired.effective_policy(name).ignore_members
        for index, member in enumerate(org.members):
            if patterns and matches_glob(patterns, member.email, member.handle):
                line, col = members[name][index]
                warnings.append(
                    Problem(
                        filename,
                        line,
                        col,
                        f"warning: {member.label} is listed, but "
                        f"ignore_members matches it too: it is never added, changed or removed",
                    )
                )
    return warnings


def desired_state_hash(desired: DesiredState) -> str:
    """sha256 of the desired state as parsed: a comment, a reordered key or another quoting
    leaves it alone, so such an edit does not make a saved plan stale. The bytes of
    `model_dump_json()`, written once (not as text, then encoded again)."""
    return hashlib.sha256(desired.__pydantic_serializer__.to_json(desired)).hexdigest()


def reload_if_changed(config: LoadedConfig) -> LoadedConfig:
    """The same file again, validated anew only if its bytes changed (say, a key id written
    back), with the same bindings of the state store."""
    try:
        unchanged = hashlib.sha256(config.path.read_bytes()).hexdigest() == config.sha256
    except OSError:
        unchanged = False
    if unchanged:
        return config
    fresh = load_config(config.path, max_bytes=config.max_bytes)
    return bind_keys(fresh, {(o, label): key for o, label, key in config.bindings}, "")


def bind_keys(
    config: LoadedConfig, bindings: Mapping[tuple[str, str], str], where: str
) -> LoadedConfig:
    """The file with the state store's key bindings filled in: a label listed without an id
    takes the id the store binds it to (no second key is made for it). A label the file binds to
    another id than the store is refused, naming both. Labels the file no longer lists are left
    alone."""
    desired = config.desired
    applied: list[tuple[str, str, str]] = []
    organizations = dict(desired.organizations)
    for (name, label), key_id in sorted(bindings.items()):
        org = organizations.get(name)
        spec = org.api_keys.get(label) if org else None
        if org is None or spec is None:
            continue
        if spec.id is not None and spec.id != key_id:
            raise BindingConflictError(
                f"{config.path}: key {label!r} of {name} is bound to {spec.id} in the file and "
                f"to {key_id} in the state store{f' ({where})' if where else ''}: remove the id "
                "from the file to use the store's, or fix it; nothing was sent"
            )
        if spec.id is None:
            keys = {**org.api_keys, label: dataclasses.replace(spec, id=key_id)}
            organizations[name] = org.model_copy(update={"api_keys": keys})
        applied.append((name, label, key_id))
    if not applied:
        return config
    bound = desired.model_copy(update={"organizations": organizations})
    return dataclasses.replace(
        config,
        desired=bound,
        bindings=tuple(applied),
    )


def load_config(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> LoadedConfig:
    """Read and validate a desired-state file. Raises ConfigError with every problem found."""
    path = Path(path)
    if not path.exists():
        raise UsageError(
            f"{path}: no such file (give one with -c/--config or IDEOGRAM_ORG_CONFIG)"
        ) from None
    try:
        raw = read_bytes(path, what="desired-state file", max_bytes=max_bytes, follow_links=True)
    except ReconcilerError as exc:
        if "larger than" not in str(exc):
            raise UsageError(str(exc)) from None
        raise ConfigError(
            [
                Problem(
                    str(path),
                    1,
                    1,
                    f"the file is {path.stat().st_size:,} bytes, over the limit of "
                    f"{max_bytes:,}; raise it with --max-file-size",
                )
            ]
        ) from None
    desired, members = _load(raw, str(path))
    return LoadedConfig(
        path=path,
        desired=desired,
        sha256=hashlib.sha256(raw).hexdigest(),
        member_positions=members,
        warnings=tuple(_listed_but_ignored(desired, members, str(path))),
        max_bytes=max_bytes,
    )


__all__ = ["LoadedConfig", "bind_keys", "load_config", "load_text", "reload_if_changed"]
