"""Export: the live organizations as a desired-state file that plans to no changes.

Like peribolos's --dump: the way to start managing an organization that already exists. Whatever
the server answers within its spec, the file either loads and plans to no changes, or export
refuses with the reason (say, a member record with no identifier at all).
"""

from __future__ import annotations

import glob
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pydantic

from .. import __version__
from ..errors import ReconcilerError
from ..model.identity import IDENTIFIER_FIELDS, IdentifierField, normalise_all
from ..model.live import KNOWN_KEY_STATUSES, KNOWN_ROLES, LiveMember, LiveOrganization, LiveState
from .fast_yaml import plain_as_written, yaml_scalar
from .models import ApiKeySpec, EmailName, Name, Organization, plain_emails

SCHEMA_MODELINE = (
    "# yaml-language-server: $schema=https://github.com/ideogram-org/ideogram-org/raw/main/"
    "schemas/ideogram-org.schema.json"
)


class ExportError(ReconcilerError):
    """The live state holds something no desired-state file can say."""


def printable(text: str) -> str:
    """Text safe inside a YAML comment: one line, control characters shown as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


# The loader's own field types (strict, as in the model) decide which identifiers a file can hold.
_FIELD_TYPES: dict[IdentifierField, pydantic.TypeAdapter[str]] = {
    "email": pydantic.TypeAdapter(EmailName, config=pydantic.ConfigDict(strict=True)),
    "handle": pydantic.TypeAdapter(Name, config=pydantic.ConfigDict(strict=True)),
    "user_id": pydantic.TypeAdapter(Name, config=pydantic.ConfigDict(strict=True)),
}


def _usable(field: IdentifierField, value: str) -> bool:
    """Whether the loader would accept this identifier: the field's own type decides (a model per
    member cost a third of an export), so the file validates."""
    if not value:
        return False
    try:
        _FIELD_TYPES[field].validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


class _Identifiers:
    """Each member's identifiers as written and as compared, and how many members carry each
    compared one: what choosing an identifier per member needs, normalised once."""

    def __init__(self, members: list[LiveMember]) -> None:
        emails = [m.email for m in members]
        handles = [m.handle for m in members]
        self.written: dict[IdentifierField, list[str]] = {
            "email": emails,
            "handle": handles,
            "user_id": [m.user_id for m in members],
        }
        self.compared: dict[IdentifierField, list[str]] = {
            "email": normalise_all("email", emails),
            "handle": normalise_all("handle", handles),
            "user_id": self.written["user_id"],
        }
        self.taken = {field: Counter(values) for field, values in self.compared.items()}
        # every address plain (as nearly always): each is usable without a check of its own
        self.emails_usable = plain_emails([email for email in emails if email])

    def choose(self, at: int) -> tuple[IdentifierField, str, str] | None:
        """The identifier to list member `at` by (field, as written, as compared): email, else
        handle, else user id; never one another member of the organization shares (the planner
        would match the wrong one)."""
        for field in IDENTIFIER_FIELDS:
            value, key = self.written[field][at], self.compared[field][at]
            if not value or self.taken[field][key] != 1:
                continue
            if (field == "email" and self.emails_usable) or _usable(field, value):
                return field, value, key
        return None


Entry = tuple[
    IdentifierField, str, bool
]  # the identifier to list a member by, and whether an OWNER


def _member_entries(org: LiveOrganization, policy: dict[str, Any], notes: list[str]) -> list[Entry]:
    members = list(dict.fromkeys(org.members))  # two identical records are one
    notes += [
        f"the server listed user {printable(user_id)} more than once; written once"
        for user_id in org.repeated
    ]
    identifiers = _Identifiers(members)
    entries: list[tuple[bool, str, Entry]] = []  # (not an owner, sort key, entry)
    ignore: list[str] = []
    for at, member in enumerate(members):
        if member.role not in KNOWN_ROLES:
            name = member.email or member.handle
            notes.append(
                f"{printable(name or member.user_id)} has role {printable(member.role)!r}, which "
                "this "
                f"version does not know: " + ("ignored" if name else "members are not pruned")
            )
            if name:
                ignore.append(glob.escape(name))
            else:
                policy["prune_members"] = False
            continue
        chosen = identifiers.choose(at)
        if chosen is None:
            raise ExportError(
                f"organization {org.name!r}: a member record (user id {member.user_id!r}) has no "
                f"identifier a desired-state file can hold on its own; nothing was written"
            )
        field, value, key = chosen
        entries.append((member.role != "OWNER", key, (field, value, member.role == "OWNER")))
    if ignore:
        policy["ignore_members"] = ignore
    sequence = [entry for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1]))]
    if all(not_owner for not_owner, _, _ in entries):
        policy["min_owners"] = 0
        notes.append(
            "the organization has no OWNER: min_owners is 0 so that this file is valid; raise it "
            "once "
            "an owner is listed"
        )
    return sequence


def _key_entries(
    org: LiveOrganization, bound: set[str], notes: list[str]
) -> list[tuple[str, str, str]]:
    """(id, status, comment) of each key the file can list."""
    keys: list[tuple[str, str, str]] = []
    for key in sorted(org.keys, key=lambda k: (k.status != "ACTIVE", k.api_key_id)):
        if key.status not in KNOWN_KEY_STATUSES:
            notes.append(
                f"key {printable(key.api_key_id)} has status {printable(key.status or 'null')!r}, "
                "which "
                f"this version does not know: left out (plan reports it)"
            )
            continue
        if key.api_key_id in bound:
            notes.append(
                f"key {printable(key.api_key_id)} is listed by another organization too: left out "
                "here"
            )
            continue
        try:
            ApiKeySpec.model_validate({"id": key.api_key_id, "status": key.status})
        except pydantic.ValidationError:
            notes.append(
                f"key id {printable(key.api_key_id)!r} cannot be written as a key id: left out"
            )
            continue
        bound.add(key.api_key_id)
        comment = (
            f"{key.redacted}, created {key.creation_time or 'unknown'}"
            if key.redacted or key.creation_time
            else ""
        )
        keys.append((key.api_key_id, key.status, printable(comment)))
    return keys


def _organization_lines(name: str, org: LiveOrganization, bound: set[str]) -> list[str]:
    if not org.organization_id:
        raise ExportError(f"organization {org.name!r} has no id: it cannot be exported")
    try:
        Organization.model_validate({"id": org.organization_id})
    except pydantic.ValidationError:
        raise ExportError(
            f"organization {org.name!r} has an id no desired-state file can hold "
            f"({printable(org.organization_id)!r}): it cannot be exported"
        ) from None
    policy: dict[str, Any] = {}
    notes: list[str] = []
    members = _member_entries(org, policy, notes)
    keys = _key_entries(org, bound, notes)
    lines = [
        f"  {yaml_scalar(name)}:",
        *(f"    # {line}" for note in notes for line in note.splitlines()),
        f"    id: {yaml_scalar(org.organization_id)}",
    ]
    if policy:
        lines.append("    policy:")
        for field, value in policy.items():
            if isinstance(value, list):
                lines += [f"      {field}:", *(f"        - {yaml_scalar(item)}" for item in value)]
            else:
                lines.append(
                    f"      {field}: {str(value).lower() if isinstance(value, bool) else value}"
                )
    lines.append("    members:" if members else "    members: []")
    emails_as_is = plain_as_written([value for field, value, _ in members if field == "email"])
    for field, value, owner in members:
        written = value if field == "email" and emails_as_is else yaml_scalar(value)
        lines.append(f"      - {field}: {written}")
        if owner:
            lines.append("        role: OWNER")
    if keys:
        lines.append("    api_keys:")
        for key_id, status, comment in keys:
            label = yaml_scalar(key_id)
            lines += [
                f"      {label}:" + (f"  # {comment}" if comment else ""),
                f"        id: {label}",
                f"        status: {status}",
            ]
    return lines


def render_export(live: LiveState, now: datetime | None = None) -> str:
    """Written line by line rather than through ruamel's emitter, which took 20 s for 100,000
    members; every scalar goes through `yaml_scalar`, which quotes whatever is not a plain
    string."""
    if not live.organizations:
        raise ExportError("this token sees no enterprise organization: there is nothing to export")
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    lines = [
        SCHEMA_MODELINE,
        f"# Exported by ideogram-org {__version__} on {stamp} from the live organization(s).",
        "# Planning this file gives no changes. Key labels are their ids: rename them to something",
        "# meaningful; keys have no names in Ideogram.",
        "version: 1",
        "organizations:",
    ]
    bound: set[str] = set()
    for name, org in sorted(live.organizations.items()):
        lines += _organization_lines(name, org, bound)
    return "\n".join(lines) + "\n"
