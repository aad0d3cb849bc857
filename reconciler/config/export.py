"""Export: the live organizations as a desired-state file that plans to no changes.

Like peribolos's --dump: the way to start managing an organization that already exists. Whatever
the server answers within its spec, the file either loads and plans to no changes, or export
refuses with the reason (say, a member record with no identifier at all).
"""

from __future__ import annotations

import glob
from collections import Counter
from datetime import datetime, timezone
from operator import itemgetter
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
        self.members = members
        self.written: dict[IdentifierField, list[str]] = {}
        self.compared: dict[IdentifierField, list[str]] = {}
        self.taken: dict[IdentifierField, Counter[str]] = {}
        # every address plain (as nearly always): each is usable without a check of its own
        self.emails_usable = plain_emails([e for e in self._field("email")[0] if e])

    def _field(self, field: IdentifierField) -> tuple[list[str], list[str], Counter[str]]:
        """A field's values as written, as compared, and how often each compared one occurs;
        made when first asked for: handles and user ids only when some email will not do (at
        1,000,000 members each field's tables are 100 MB)."""
        if field not in self.written:
            written = [getattr(member, field) for member in self.members]  # LiveMember's names
            compared = written if field == "user_id" else normalise_all(field, written)
            self.written[field], self.compared[field] = written, compared
            self.taken[field] = Counter(compared)
        return self.written[field], self.compared[field], self.taken[field]

    def choose(self, at: int) -> tuple[IdentifierField, str, str] | None:
        """The identifier to list member `at` by (field, as written, as compared): email, else
        handle, else user id; never one another member of the organization shares (the planner
        would match the wrong one)."""
        for field in IDENTIFIER_FIELDS:
            written, compared, taken = self._field(field)
            value, key = written[at], compared[at]
            if not value or taken[key] != 1:
                continue
            if (field == "email" and self.emails_usable) or _usable(field, value):
                return field, value, key
        return None


Entry = tuple[str, IdentifierField, str]  # sort key (as compared), the identifier to list by


def _member_entries(
    org: LiveOrganization, policy: dict[str, Any], notes: list[str]
) -> tuple[list[Entry], list[Entry]]:
    """The OWNERs' entries and the others', each in the order of its sort key (one 3-tuple per
    member, sorted in place: at 1,000,000 members every extra tuple per member is 64 MB)."""
    members = list(dict.fromkeys(org.members))  # two identical records are one
    notes += [
        f"the server listed user {printable(user_id)} more than once; written once"
        for user_id in org.repeated
    ]
    identifiers = _Identifiers(members)
    owners: list[Entry] = []
    others: list[Entry] = []
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
        (owners if member.role == "OWNER" else others).append((key, field, value))
    if ignore:
        policy["ignore_members"] = ignore
    owners.sort(key=itemgetter(0))  # stable: as the key function, a tie keeps the server's order
    others.sort(key=itemgetter(0))
    if not owners:
        policy["min_owners"] = 0
        notes.append(
            "the organization has no OWNER: min_owners is 0 so that this file is valid; raise it "
            "once "
            "an owner is listed"
        )
    return owners, others


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
            ApiKeySpec(id=key.api_key_id, status=key.status)
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
    owners, others = _member_entries(org, policy, notes)
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
    lines.append("    members:" if owners or others else "    members: []")
    emails_as_is = plain_as_written(
        [value for group in (owners, others) for _, field, value in group if field == "email"]
    )
    for owner, group in ((True, owners), (False, others)):
        for _, field, value in group:
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
