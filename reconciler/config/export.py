"""Export: the live organizations as a desired-state file that plans to no changes.

Like peribolos's --dump: the way to start managing an organization that already exists. Whatever
the server answers within its spec, the file either loads and plans to no changes, or export
refuses with the reason (say, a member record with no identifier at all).
"""

from __future__ import annotations

import glob
import io
from collections import Counter
from datetime import datetime, timezone

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .. import __version__
from ..errors import ReconcilerError
from ..identity import IDENTIFIER_FIELDS, IdentifierField, normalise
from ..live_state import LiveMember, LiveOrganization, LiveState
from .models import KNOWN_KEY_STATUSES, KNOWN_ROLES, ApiKeySpec, Member, Organization

SCHEMA_MODELINE = ("# yaml-language-server: $schema=https://github.com/ideogram-org/ideogram-org/raw/main/"
                   "schemas/ideogram-org.schema.json")


class ExportError(ReconcilerError):
    """The live state holds something no desired-state file can say."""


def printable(text: str) -> str:
    """Text safe inside a YAML comment: one line, control characters shown as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _values(member: LiveMember) -> dict[IdentifierField, str]:
    return {"email": member.email, "handle": member.handle, "user_id": member.user_id}


def _usable(field: IdentifierField, value: str) -> bool:
    """Whether the loader would accept this identifier: the same model decides, so the file validates."""
    if not value:
        return False
    try:
        Member.model_validate({field: value})
    except pydantic.ValidationError:
        return False
    return True


def _identifier(member: LiveMember, taken: Counter[tuple[str, str]]) -> tuple[IdentifierField, str] | None:
    """The identifier to list a member by: email, else handle, else user id; never one another
    member of the organization shares (the planner would match the wrong one)."""
    for field in IDENTIFIER_FIELDS:
        value = _values(member)[field]
        if _usable(field, value) and taken[(field, normalise(field, value))] == 1:
            return field, value
    return None


def _member_entries(org: LiveOrganization, policy: CommentedMap, notes: list[str]) -> CommentedSeq:
    members = list(dict.fromkeys(org.members))  # two identical records are one
    notes += [f"the server listed user {printable(user_id)} more than once; written once" for user_id in org.repeated]
    taken: Counter[tuple[str, str]] = Counter((field, normalise(field, value)) for member in members
                                              for field, value in _values(member).items() if value)
    entries: list[tuple[bool, str, CommentedMap]] = []  # (not an owner, sort key, entry)
    ignore: list[str] = []
    for member in members:
        if member.role not in KNOWN_ROLES:
            name = member.email or member.handle
            notes.append(f"{printable(name or member.user_id)} has role {printable(member.role)!r}, which this "
                         f"version does not know: " + ("ignored" if name else "members are not pruned"))
            if name:
                ignore.append(glob.escape(name))
            else:
                policy["prune_members"] = False
            continue
        chosen = _identifier(member, taken)
        if chosen is None:
            raise ExportError(f"organization {org.name!r}: a member record (user id {member.user_id!r}) has no "
                              f"identifier a desired-state file can hold on its own; nothing was written")
        entry = CommentedMap()
        entry[chosen[0]] = chosen[1]
        if member.role == "OWNER":
            entry["role"] = "OWNER"
        entries.append((member.role != "OWNER", normalise(chosen[0], chosen[1]), entry))
    if ignore:
        policy["ignore_members"] = ignore
    sequence = CommentedSeq()
    for _, _, entry in sorted(entries, key=lambda item: (item[0], item[1])):
        sequence.append(entry)
    if all(not_owner for not_owner, _, _ in entries):
        policy["min_owners"] = 0
        notes.append("the organization has no OWNER: min_owners is 0 so that this file is valid; raise it once "
                     "an owner is listed")
    return sequence


def _key_entries(org: LiveOrganization, bound: set[str], notes: list[str]) -> CommentedMap:
    keys = CommentedMap()
    for key in sorted(org.keys, key=lambda k: (k.status != "ACTIVE", k.api_key_id)):
        if key.status not in KNOWN_KEY_STATUSES:
            notes.append(f"key {printable(key.api_key_id)} has status {printable(key.status or 'null')!r}, which "
                         f"this version does not know: left out (plan reports it)")
            continue
        if key.api_key_id in bound or key.api_key_id in keys:
            notes.append(f"key {printable(key.api_key_id)} is listed by another organization too: left out here")
            continue
        try:
            ApiKeySpec.model_validate({"id": key.api_key_id, "status": key.status})
        except pydantic.ValidationError:
            notes.append(f"key id {printable(key.api_key_id)!r} cannot be written as a key id: left out")
            continue
        bound.add(key.api_key_id)
        spec = CommentedMap()
        spec["id"] = key.api_key_id
        spec["status"] = key.status
        keys[key.api_key_id] = spec
        if key.redacted or key.creation_time:
            keys.yaml_add_eol_comment(printable(f"{key.redacted}, created {key.creation_time or 'unknown'}"),
                                      key.api_key_id)
    return keys


def _organization_node(org: LiveOrganization, bound: set[str]) -> CommentedMap:
    if not org.organization_id:
        raise ExportError(f"organization {org.name!r} has no id: it cannot be exported")
    try:
        Organization.model_validate({"id": org.organization_id})
    except pydantic.ValidationError:
        raise ExportError(f"organization {org.name!r} has an id no desired-state file can hold "
                          f"({printable(org.organization_id)!r}): it cannot be exported") from None
    node = CommentedMap()
    node["id"] = org.organization_id
    policy = CommentedMap()
    notes: list[str] = []
    members = _member_entries(org, policy, notes)
    if policy:
        node["policy"] = policy
    node["members"] = members
    keys = _key_entries(org, bound, notes)
    if keys:
        node["api_keys"] = keys
    if notes:
        node.yaml_set_comment_before_after_key("id", before="\n".join(notes), indent=4)
    return node


def render_export(live: LiveState, now: datetime | None = None) -> str:
    if not live.organizations:
        raise ExportError("this token sees no enterprise organization: there is nothing to export")
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    document = CommentedMap()
    document["version"] = 1
    organizations = CommentedMap()
    bound: set[str] = set()
    for name, org in sorted(live.organizations.items()):
        organizations[name] = _organization_node(org, bound)
    document["organizations"] = organizations
    stream = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.dump(document, stream)
    header = [
        SCHEMA_MODELINE,
        f"# Exported by ideogram-org {__version__} on {stamp} from the live organization(s).",
        "# Planning this file gives no changes. Key labels are their ids: rename them to something",
        "# meaningful; keys have no names in Ideogram.",
    ]
    return "\n".join(header) + "\n" + stream.getvalue()
